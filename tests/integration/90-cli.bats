#!/usr/bin/env bats
# 90-cli: output formats, flags and exit codes of our CLI (build/shoal) that
# 91-shoal-cli does not cover: inspect output and --format, images -q, import
# -c/-m, ps -n/-l/-f, logs -t/--since, wait/restart/start -a, signal
# forwarding, -t with a pseudo-terminal, flag errors and --help.
# Runs against shoald, or against the reference dockerd (SHOAL_TEST_DAEMON=dockerd).

load helpers

setup_file() {
    if [[ ! -x $SHOAL_BUILD/shoal ]]; then
        suite_skip_file "$SHOAL_BUILD/shoal not built"
        return 0
    fi
    suite_setup_file
}
teardown_file() { suite_teardown_file; }
teardown() { suite_teardown; }

@test "cli: flag errors exit 125, argument count errors exit 1, --help exits 0" {
    run -125 shoal ps --bogus
    [[ ${lines[0]} == "unknown flag: --bogus" ]]
    run -125 shoal ps -n x
    [[ $output == *'invalid argument "x" for "-n, --last" flag'* ]]
    run -125 shoal run -m lots bb true
    [[ $output == *"invalid size: 'lots'"* ]]
    run -1 shoal rm
    [[ ${lines[0]} == "shoal: 'shoal rm' requires at least 1 argument" ]]
    run -1 shoal nosuchcommand
    [[ $output == *"unknown command"* ]]
    run -0 shoal run --help
    [[ $output == *"Usage:  shoal run [OPTIONS] IMAGE [COMMAND] [ARG...]"* ]]
    [[ $output == *"--pids-limit"* ]]
    run -0 shoal --help
    [[ $output == *"Commands:"* ]]
}

@test "cli: inspect prints a 4-space indented array; missing objects exit 1" {
    shoal create --name ci1 bb true
    run -0 shoal inspect ci1
    [ "${lines[0]}" = "[" ]
    [ "${lines[1]}" = "    {" ]
    [[ ${lines[2]} == '        "Id": "'* ]]
    [ "${lines[-1]}" = "]" ]
    # the same bytes as the stock docker CLI prints
    [ "$output" = "$(docker inspect ci1)" ]
    run -1 shoal inspect ci1 nosuch
    [[ $output == *'"Name": "/ci1"'* ]]
    [[ $output == *"Error: No such object: nosuch"* ]]
    run -1 --separate-stderr shoal inspect nosuch
    [ "$output" = "[]" ]
    run -0 shoal inspect -f '{{.Name}} {{.State.Status}} {{json .Config.Cmd}}' ci1
    [ "$output" = '/ci1 created ["true"]' ]
    run -0 shoal inspect --type image -f '{{json .RepoTags}}' bb:latest
    [ "$output" = '["bb:latest"]' ]
    shoal rm ci1
}

@test "cli: images -q and import with -c and -m" {
    run -0 shoal import -c 'CMD ["echo", "from-cmd"]' -m "cli test" "$BB_TAR" climp:v1
    [[ $output =~ ^sha256:[0-9a-f]{64}$ ]]
    local id=${output#sha256:}
    run -0 shoal images -q climp:v1
    [ "$output" = "${id:0:12}" ]
    run -0 shoal images --no-trunc -q climp:v1
    [ "$output" = "sha256:$id" ]
    run -0 shoal run --rm climp:v1
    [ "$output" = from-cmd ]
    run -0 bash -c "'$SHOAL_BUILD/shoal' import - climp:v2 < '$BB_TAR'"
    [[ $output =~ ^sha256: ]]
    run -0 shoal images
    [[ $output =~ climp\ +v2\  ]]
    run -1 shoal import /nonexistent.tar
    [[ $output == *"no such file or directory"* ]]
}

@test "cli: ps -n, -l, --filter, --format and the COMMAND column" {
    shoal create --name p1 bb sh -c 'echo a very long command line that is cut'
    shoal create --name p2 bb true
    run -0 shoal ps -l
    [ "${#lines[@]}" -eq 2 ]
    [[ ${lines[1]} == *p2 ]]
    run -0 shoal ps -n 2 --format '{{.Names}}'
    [ "$output" = "$(printf 'p2\np1')" ]
    run -0 shoal ps -a -f name=p1
    [[ $output == *'"sh -c '\''echo a very …"'* ]]
    run -0 shoal ps -a --no-trunc -f name=p1
    [[ $output == *'"sh -c '\''echo a very long command line that is cut'\''"'* ]]
    run -0 shoal ps -a -f status=created -q
    [ "${#lines[@]}" -eq 2 ]
    shoal rm p1 p2
}

@test "cli: logs -t, --since and --until; logs of a TTY container" {
    shoal run --name lt bb sh -c 'echo out1; echo err1 >&2'
    run -0 shoal logs -t lt
    [[ ${lines[0]} =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z\ (out1|err1)$ ]]
    run -0 --separate-stderr shoal logs lt
    [ "$output" = out1 ]
    # shellcheck disable=SC2154 # $stderr is set by bats' run --separate-stderr
    [ "$stderr" = err1 ]
    run -0 shoal logs --since 1h lt
    [ "${#lines[@]}" -eq 2 ]
    run -0 shoal logs --until 2000-01-01T00:00:00Z lt
    [ -z "$output" ]
    shoal run -t --name ltty bb sh -c 'echo tty-out; echo tty-err >&2'
    run -0 shoal logs ltty
    [ "$output" = "$(printf 'tty-out\r\ntty-err\r')" ]
    shoal rm lt ltty
}

@test "cli: wait prints every status; restart and start -a" {
    shoal create --name w1 bb sh -c 'exit 3'
    shoal create --name w2 bb sh -c 'exit 4'
    shoal start w1 w2
    run -0 shoal wait w1 w2
    [ "$output" = "$(printf '3\n4')" ]
    run -4 shoal start -a w2
    shoal run -d --name rs bb sleep 1000
    run -0 shoal restart -t 0 rs
    [ "$output" = rs ]
    run -0 shoal inspect -f '{{.State.Status}}' rs
    [ "$output" = running ]
    run -1 shoal wait nosuch
    [[ $output == *"No such container: nosuch"* ]]
    run -0 shoal rm -f rs w1 w2
    # rm -f of a missing container reports it but succeeds, like docker
    run -0 shoal rm -f nosuch
}

@test "cli: run forwards SIGTERM to the container" {
    "$SHOAL_BUILD/shoal" run --rm --name sig bb sh -c 'trap "echo got-term; exit 9" TERM; while true; do sleep 0.1; done' >"$T/sig.out" &
    local pid=$!
    retry 100 0.1 bash -c "[[ \$('$SHOAL_BUILD/shoal' inspect -f '{{.State.Status}}' sig 2>/dev/null) == running ]]"
    kill -TERM "$pid"
    local rc=0
    wait "$pid" || rc=$?
    [ "$rc" -eq 9 ]
    [ "$(cat "$T/sig.out")" = got-term ]
}

@test "cli: run -it under a pseudo-terminal" {
    command -v script >/dev/null || skip "no script(1)"
    run bash -c "(sleep 1; printf 'echo hi-tty\nexit 7\n') | script -qec \"'$SHOAL_BUILD/shoal' run -it --rm bb sh\" /dev/null"
    [ "$status" -eq 7 ]
    [[ $output == *hi-tty* ]]
    run -1 bash -c "echo | '$SHOAL_BUILD/shoal' run -it --rm bb true"
    [[ $output == *"not a TTY"* ]]
}
