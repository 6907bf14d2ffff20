#!/usr/bin/env bats
# 00-daemon: the API server answers: version, info, API version paths, errors.

load helpers

setup_file() { suite_setup_file; }
teardown_file() { suite_teardown_file; }
teardown() { suite_teardown; }

@test "docker version reports server API version 1.41" {
    run docker version --format '{{.Server.APIVersion}}'
    [ "$status" -eq 0 ]
    [ "$output" = "1.41" ]
}

@test "docker version prints client and server sections" {
    run docker version
    [ "$status" -eq 0 ]
    [[ $output == *Client* ]]
    [[ $output == *Server* ]]
}

@test "docker info works and shows container and image counts" {
    run docker info
    [ "$status" -eq 0 ]
    [[ $output == *"Containers:"* ]]
    [[ $output == *"Images:"* ]]
    run docker info --format '{{.Containers}} {{.Images}}'
    [ "$status" -eq 0 ]
    [[ $output =~ ^[0-9]+\ [0-9]+$ ]]
}

@test "GET /_ping answers OK" {
    run curl_api -sS http://d/_ping
    [ "$status" -eq 0 ]
    [ "$output" = "OK" ]
}

@test "unversioned /version works" {
    run curl_api -sS -o "$T/out" -w '%{http_code}' http://d/version
    [ "$status" -eq 0 ]
    [ "$output" = "200" ]
    run json_get ApiVersion "$T/out"
    [ "$output" = "1.41" ]
}

@test "/v1.24/version and /v1.41/version work" {
    local v
    for v in 1.24 1.41; do
        run curl_api -sS -o "$T/out" -w '%{http_code}' "http://d/v$v/version"
        [ "$status" -eq 0 ]
        [ "$output" = "200" ]
        grep -q '"ApiVersion"' "$T/out"
    done
}

@test "a too-new API version is refused with 400" {
    run curl_api -sS -o "$T/out" -w '%{http_code}' http://d/v1.99/version
    [ "$status" -eq 0 ]
    [ "$output" = "400" ]
    run cat "$T/out"
    [[ $output == *"client version 1.99 is too new. Maximum supported API version is 1.41"* ]]
}

@test "an unknown route gives a 404 JSON error" {
    run curl_api -sS -D "$T/hdr" -o "$T/out" -w '%{http_code}' http://d/v1.41/no/such/route
    [ "$status" -eq 0 ]
    [ "$output" = "404" ]
    # Content-Type must be exactly application/json
    run sed -n 's/\r$//; s/^[Cc]ontent-[Tt]ype: *//p' "$T/hdr"
    [ "$output" = "application/json" ]
    run json_get message "$T/out"
    [ "$status" -eq 0 ]
    [ -n "$output" ]
}

@test "responses carry the Api-Version header" {
    run curl_api -sS -D - -o /dev/null http://d/_ping
    [ "$status" -eq 0 ]
    [[ $output == *"Api-Version: 1.41"* ]]
}
