#!/usr/bin/env bats
# tests/cluster/60-services-api.bats - the services API on one manager, driven
# by the stock docker CLI (and curl for raw error replies): service
# create/ls/inspect/update/scale/rollback/rm, version conflicts, spec
# validation, overlay networks, secrets/configs, /tasks filters.
#
# Tests named "(orchestrator)" need the leader's orchestrator to create tasks;
# everything else checks only what the API itself does.

load lib

setup_file() {
    cluster_setup_file 1 || return 1
    [[ -n ${CL_SKIP:-} ]] && return 0
    hosts_import_bb 1
}
teardown_file() { cluster_down; }

IMG=bb:latest

# svc_field SERVICE GO-TEMPLATE
svc_field() {
    on 1 docker service inspect --format "$2" "$1"
}

# api METHOD PATH [BODY] - raw request on h1; prints "<status> <body>"
api() {
    local args=(-s -o "$T/api.out" -w '%{http_code}' -X "$1")
    [[ $# -ge 3 ]] && args+=(-H 'Content-Type: application/json' --data-binary "$3")
    local code
    code=$(curl_host 1 "${args[@]}" "http://x/v1.41$2") || return 1
    echo "$code $(cat "$T/api.out")"
}

# env_is "[A=1 B=2]" - the service's env, in any order (the CLI's env-add
# goes through a Go map)
env_is() {
    local got
    got=$(svc_field web '{{range .Spec.TaskTemplate.ContainerSpec.Env}}{{println .}}{{end}}' |
        sed '/^$/d' | sort | paste -sd' ')
    [ "[$got]" = "$1" ]
}

create() {
    on 1 docker service create -d --no-resolve-image "$@"
}

@test "services: every route answers 503 before swarm init, then init" {
    run on 1 docker service ls
    [ "$status" -ne 0 ]
    [[ $output == *"This node is not a swarm manager"* ]]
    run api GET /tasks
    [[ $output == "503 "* ]]
    run on 1 docker swarm init --advertise-addr "$(host_addr 1)"
    [ "$status" -eq 0 ]
    record_id 1
}

@test "services: create -d prints the id; ls and inspect show the spec with defaults" {
    run create --name web --replicas 2 --env A=1 --constraint node.role==manager \
        --publish 8080:80 "$IMG" sleep 1000
    [ "$status" -eq 0 ]
    [[ ${lines[-1]} =~ ^[0-9a-z]{25}$ ]]
    local id=${lines[-1]}

    run on 1 docker service ls
    [ "$status" -eq 0 ]
    [[ $output == *"${id:0:12}"*web*replicated*"/2"*"$IMG"*"*:8080->80/tcp"* ]]

    [ "$(svc_field web '{{.ID}}')" = "$id" ]
    [ "$(svc_field web '{{.Spec.Mode.Replicated.Replicas}}')" = 2 ]
    [ "$(svc_field web '{{.Spec.TaskTemplate.ContainerSpec.Env}}')" = "[A=1]" ]
    [ "$(svc_field web '{{.Spec.TaskTemplate.Placement.Constraints}}')" = "[node.role==manager]" ]
    [ "$(svc_field web '{{.Spec.TaskTemplate.RestartPolicy.Condition}}')" = any ]
    [ "$(svc_field web '{{.Spec.TaskTemplate.RestartPolicy.Delay}}')" = 5s ]
    [ "$(svc_field web '{{.Spec.TaskTemplate.Runtime}}')" = container ]
    [ "$(svc_field web '{{.Spec.UpdateConfig.FailureAction}}')" = pause ]
    [ "$(svc_field web '{{.Spec.UpdateConfig.Order}}')" = stop-first ]
    [ "$(svc_field web '{{.Spec.RollbackConfig.Monitor}}')" = 5s ]
    [ "$(svc_field web '{{.Spec.EndpointSpec.Mode}}')" = vip ]
    [ "$(svc_field web '{{range .Endpoint.Ports}}{{.PublishedPort}}->{{.TargetPort}}{{end}}')" = "8080->80" ]
    [ "$(svc_field web '{{.PreviousSpec}}')" = "<nil>" ]
    [ "$(svc_field web '{{.UpdateStatus}}')" = "<nil>" ]
    # the pretty form works too
    run on 1 docker service inspect --pretty web
    [ "$status" -eq 0 ]
    [[ $output == *"Name:"*web* ]]
}

@test "services: ?status=true counts, list filters, lookup by id prefix" {
    run api GET '/services?status=true'
    [[ $output == "200 "* ]]
    [[ $output == *'"DesiredTasks":2'* ]]
    run on 1 docker service ls --filter name=we --format '{{.Name}}'
    [ "$output" = web ]
    run on 1 docker service ls --filter mode=global --format '{{.Name}}'
    [ -z "$output" ]
    run api GET '/services?filters=%7B%22colour%22%3A%7B%22x%22%3Atrue%7D%7D'
    [[ $output == "400 "*"invalid filter 'colour'"* ]]
    local id
    id=$(svc_field web '{{.ID}}')
    [ "$(svc_field "${id:0:6}" '{{.Spec.Name}}')" = web ]
    run on 1 docker service inspect nosuch
    [ "$status" -ne 0 ]
    run api GET /services/nosuch
    [[ $output == "404 "*"service nosuch not found"* ]]
}

@test "services: name conflict, unnamed service, bad specs" {
    run create --name web "$IMG" true
    [ "$status" -ne 0 ]
    [[ $output == *"name conflicts with an existing object"* ]]

    run create "$IMG" sleep 1000
    [ "$status" -eq 0 ]
    local id=${lines[-1]}
    run svc_field "$id" '{{.Spec.Name}}'
    [[ $output =~ ^[a-z]+_[a-z]+$ ]]
    on 1 docker service rm "$id"

    run api POST /services/create '{"Name":"bad name","TaskTemplate":{"ContainerSpec":{"Image":"b"}}}'
    [[ $output == "400 "*"rpc error: code = InvalidArgument desc = name must be valid as a DNS name component"* ]]
    run api POST /services/create '{"Name":"noimg","TaskTemplate":{"ContainerSpec":{}}}'
    [[ $output == "400 "*"image reference must be provided"* ]]
    run api POST /services/create '{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"b"},"RestartPolicy":{"Condition":"sometimes"}}}'
    [[ $output == "400 "*'invalid RestartCondition: \"sometimes\"'* ]]
    run api POST /services/create '{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"b"},"Placement":{"Constraints":["node.role=manager"]}}}'
    [[ $output == "400 "*"constraint expected one operator from ==, !="* ]]
    run api POST /services/create '{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"b"}},"UpdateConfig":{"FailureAction":"explode"}}'
    [[ $output == "400 "*"unrecognized update failure action explode"* ]]
    run api POST /services/create '{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"b"}},"Mode":{"Replicated":{"Replicas":-1}}}'
    [[ $output == "400 "* ]]
    run api POST /services/create '{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"b"}},"EndpointSpec":{"Ports":[{"TargetPort":81,"PublishedPort":8080}]}}'
    [[ $output == "400 "*"port '8080' is already in use by service 'web'"* ]]
    run api POST /services/create '{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"b"},"Networks":[{"Target":"nonet"}]}}'
    [[ $output == "404 "*"network nonet not found"* ]]
    run api POST /services/create '{"Name":'
    [[ $output == "400 "* ]]
    # nothing of that was created
    run on 1 docker service ls -q
    [ "${#lines[@]}" -eq 1 ]
}

@test "services: update --env-add keeps the old spec and marks the update" {
    local v0
    v0=$(svc_field web '{{.Version.Index}}')
    run on 1 docker service update -d --env-add B=2 web
    [ "$status" -eq 0 ]
    env_is "[A=1 B=2]"
    [ "$(svc_field web '{{.PreviousSpec.TaskTemplate.ContainerSpec.Env}}')" = "[A=1]" ]
    [ "$(svc_field web '{{.Version.Index}}')" -gt "$v0" ]
    run svc_field web '{{.UpdateStatus.State}}'
    [[ $output == updating || $output == completed ]]
    # published port kept across the update
    [ "$(svc_field web '{{range .Endpoint.Ports}}{{.PublishedPort}}{{end}}')" = 8080 ]
}

@test "services: stale version is refused with 'update out of sequence'" {
    local id v spec
    id=$(svc_field web '{{.ID}}')
    v=$(svc_field web '{{.Version.Index}}')
    spec=$(svc_field web '{{json .Spec}}')
    run api POST "/services/$id/update?version=$((v - 1))" "$spec"
    [[ $output == "500 "*"rpc error: code = Unknown desc = update out of sequence"* ]]
    run api POST "/services/$id/update" "$spec"
    [[ $output == "400 "*"invalid service version"* ]]
    run api POST "/services/$id/update?version=$v" "$spec"
    [[ $output == '200 {"Warnings":null}'* ]]
}

@test "services: scale -d changes only the replicas" {
    run on 1 docker service scale -d web=3
    [ "$status" -eq 0 ]
    [ "$(svc_field web '{{.Spec.Mode.Replicated.Replicas}}')" = 3 ]
    env_is "[A=1 B=2]"
    run api GET '/services?status=true'
    [[ $output == *'"DesiredTasks":3'* ]]
}

@test "services: rollback -d restores the previous spec; no previous spec is an error" {
    run on 1 docker service rollback -d web
    [ "$status" -eq 0 ]
    [ "$(svc_field web '{{.Spec.Mode.Replicated.Replicas}}')" = 2 ]
    [ "$(svc_field web '{{.PreviousSpec.Mode.Replicated.Replicas}}')" = 3 ]
    run svc_field web '{{.UpdateStatus.State}} {{.UpdateStatus.Message}}'
    [[ $output == "rollback_started manually requested rollback" || $output == rollback_completed* ]]

    run create --name fresh "$IMG" sleep 1000
    [ "$status" -eq 0 ]
    run on 1 docker service rollback -d fresh
    [ "$status" -ne 0 ]
    [[ $output == *"does not have a previous spec"* ]]
    on 1 docker service rm fresh
}

@test "services: overlay networks: create, list, inspect, use by a service, rm" {
    run on 1 docker network create -d overlay --attachable ovl
    [ "$status" -eq 0 ]
    [[ $output =~ ^[0-9a-z]{25}$ ]]
    local nid=$output
    run on 1 docker network create -d overlay ovl
    [ "$status" -ne 0 ]
    [[ $output == *"network with name ovl already exists"* ]]

    run on 1 docker network ls --format '{{.Name}} {{.Driver}} {{.Scope}}'
    [[ $output == *"ovl overlay swarm"* ]]
    [[ $output == *"bridge bridge local"* ]]
    run on 1 docker network ls --filter scope=swarm --format '{{.Name}}'
    [ "$output" = ovl ]

    run on 1 docker network inspect --format '{{.Id}} {{.Scope}} {{.Attachable}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}' ovl
    [ "$output" = "$nid swarm true 10.0.1.0/24 10.0.1.1" ]
    run on 1 docker network inspect --format '{{index .Options "com.docker.network.driver.overlay.vxlanid_list"}}' ovl
    [ "$output" = 4097 ]
    run api GET "/networks/ovl?scope=swarm"
    [[ $output == "200 "*'"Scope":"swarm"'* ]]
    run api GET "/networks/nonet?scope=swarm"
    [[ $output == "404 "*"network nonet not found"* ]]

    # a second network gets the next subnet; a requested subnet is honoured
    run on 1 docker network create -d overlay --subnet 10.9.0.0/24 ovl2
    [ "$status" -eq 0 ]
    [ "$(on 1 docker network inspect --format '{{range .IPAM.Config}}{{.Subnet}}{{end}}' ovl2)" = 10.9.0.0/24 ]
    run on 1 docker network create -d overlay --subnet 10.9.0.128/25 ovl3
    [ "$status" -ne 0 ]

    # a service on it stores the network id; the network cannot go while used
    run create --name netsvc --network ovl "$IMG" sleep 1000
    [ "$status" -eq 0 ]
    [ "$(svc_field netsvc '{{range .Spec.TaskTemplate.Networks}}{{.Target}}{{end}}')" = "$nid" ]
    run on 1 docker network rm ovl
    [ "$status" -ne 0 ]
    [[ $output == *"is in use by service"* ]]
    on 1 docker service rm netsvc
    run on 1 docker network rm ovl ovl2
    [ "$status" -eq 0 ]
    run on 1 docker network ls --filter scope=swarm -q
    [ -z "$output" ]
    # local bridge networks still work through the same routes
    run on 1 docker network create locnet
    [ "$status" -eq 0 ]
    run on 1 docker network inspect --format '{{.Scope}}' locnet
    [ "$output" = local ]
    on 1 docker network rm locnet
}

@test "services: secrets and configs are empty; stack rm of nothing" {
    run on 1 docker secret ls -q
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    run on 1 docker config ls -q
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    run on 1 docker secret inspect nope
    [ "$status" -ne 0 ]
    run api GET /secrets/nope
    [[ $output == "404 "*"secret nope not found"* ]]
    run api GET /configs/nope
    [[ $output == "404 "*"config nope not found"* ]]
    run on 1 docker stack rm nostack
    [ "$status" -eq 0 ]
    [[ $output == *"Nothing found in stack: nostack"* ]]
}

@test "services: /tasks filters are checked and resolved" {
    run api GET '/tasks?filters=%7B%22service%22%3A%7B%22web%22%3Atrue%7D%7D'
    [[ $output == "200 ["* ]]
    run api GET '/tasks?filters=%7B%22service%22%3A%7B%22nosuch%22%3Atrue%7D%7D'
    [[ $output == "404 "*"service nosuch not found"* ]]
    run api GET '/tasks?filters=%7B%22size%22%3A%7B%221%22%3Atrue%7D%7D'
    [[ $output == "400 "*"invalid filter 'size'"* ]]
    run api GET '/tasks?filters=%7B%22desired-state%22%3A%7B%22complete%22%3Atrue%7D%7D'
    [[ $output == "400 "* ]]
    run api GET /tasks/nosuchtask
    [[ $output == "404 "*"task nosuchtask not found"* ]]
    run on 1 docker service ps web
    [ "$status" -eq 0 ]
}

# ---- needs the orchestrator (tasks) ------------------------------------------------

running_tasks_is() {
    local n
    n=$(on 1 docker service ps --filter desired-state=running --format '{{.CurrentState}}' "$1" |
        grep -c '^Running') || true
    [ "$n" -eq "$2" ]
}

@test "services (orchestrator): service ps lists slot tasks that reach running" {
    retry 60 0.5 running_tasks_is web 2
    run on 1 docker service ps --format '{{.Name}} {{.DesiredState}}' web
    [[ $output == *"web.1 Running"* ]]
    [[ $output == *"web.2 Running"* ]]
    local tid
    tid=$(on 1 docker service ps -q --filter desired-state=running web | head -1)
    run on 1 docker inspect --type task --format '{{.ServiceID}} {{.Status.State}}' "$tid"
    [ "$output" = "$(svc_field web '{{.ID}}') running" ]
    run api GET '/services?status=true'
    [[ $output == *'"RunningTasks":2'* ]]
}

@test "services (orchestrator): attached create shows progress until converged" {
    run on 1 docker service create --no-resolve-image --name prog --replicas 2 "$IMG" sleep 1000
    [ "$status" -eq 0 ]
    [[ $output == *"verify: Service"*"converged"* ]]
    on 1 docker service rm prog
}

@test "services: stack deploy / services / ls / ps / rm with a compose file" {
    cat >"$T/stack.yml" <<YML
version: "3.8"
services:
  web:
    image: $IMG
    command: sleep 1000
    environment:
      MODE: prod
    deploy:
      replicas: 2
      update_config:
        parallelism: 1
        delay: 2s
      resources:
        limits:
          memory: 64M
    networks: [front]
  worker:
    image: $IMG
    command: sleep 1000
    deploy:
      mode: global
    networks: [front]
networks:
  front: {}
YML
    run on 1 docker stack deploy --resolve-image never -c "$T/stack.yml" stk
    [ "$status" -eq 0 ]
    [[ $output == *"Creating network stk_front"* ]]
    [[ $output == *"Creating service stk_web"* ]]
    run on 1 docker stack ls --format '{{.Name}} {{.Services}}'
    [ "$output" = "stk 2" ]
    run on 1 docker stack services --format '{{.Name}} {{.Mode}}' stk
    [[ $output == *"stk_web replicated"* ]]
    [[ $output == *"stk_worker global"* ]]
    [ "$(svc_field stk_web '{{.Spec.UpdateConfig.Order}}')" = stop-first ]
    local nid
    nid=$(on 1 docker network inspect --format '{{.Id}}' stk_front)
    [ "$(svc_field stk_web '{{range .Spec.TaskTemplate.Networks}}{{.Target}}{{end}}')" = "$nid" ]
    # deploying again updates in place
    run on 1 docker stack deploy --resolve-image never -c "$T/stack.yml" stk
    [ "$status" -eq 0 ]
    [[ $output == *"Updating service stk_web"* ]]
    run on 1 docker stack ps stk
    [ "$status" -eq 0 ]
    run on 1 docker stack rm stk
    [ "$status" -eq 0 ]
    [[ $output == *"Removing service stk_web"* ]]
    [[ $output == *"Removing network stk_front"* ]]
    run on 1 docker service ls -q --filter label=com.docker.stack.namespace=stk
    [ -z "$output" ]
}

@test "services: rm removes the service" {
    run on 1 docker service rm web
    [ "$status" -eq 0 ]
    [ "$output" = web ]
    run on 1 docker service inspect web
    [ "$status" -ne 0 ]
    run on 1 docker service ls -q
    [ -z "$output" ]
    run on 1 docker service rm web
    [ "$status" -ne 0 ]
}
