#!/usr/bin/env bats
# tests/cluster/71-stack.bats - `docker stack deploy/ls/services/ps/rm` with a
# compose v3 file on a 1 manager + 2 worker cluster (issue 5).

load lib

setup_file() {
    cluster_setup_file 3 || return 1
    [[ -n ${CL_SKIP:-} ]] && return 0
    swarm_form 1 2 || return 1
    hosts_import_bb 1 2 3 || return 1
}
teardown_file() { cluster_down; }

stack_running() {
    local n c=0 k
    for n in 1 2 3; do
        k=$(on "$n" docker ps -q --filter "label=com.docker.stack.namespace=$1" | wc -l)
        c=$((c + k))
    done
    [ "$c" -eq "$2" ]
}

@test "stack: deploy, ls, services, ps, redeploy, rm" {
    run on 1 docker stack deploy -c "$BATS_TEST_DIRNAME/data/stack.yml" s
    echo "$output" >&3
    [ "$status" -eq 0 ]
    [[ $output == *"Creating network s_front"* ]]
    [[ $output == *"Creating service s_web"* ]]
    [[ $output == *"Creating service s_worker"* ]]
    run on 1 docker stack ls
    [ "$status" -eq 0 ]
    [[ ${lines[1]} == "s "*2* ]]
    retry 120 0.5 stack_running s 5
    # the store hears of "running" a moment after the containers run
    retry 40 0.25 bash -c "DOCKER_HOST=unix://$T/h1/s.sock $DOCKER_BIN stack services --format '{{.Name}} {{.Replicas}}' s | grep -qx 's_web 3/3'"
    run on 1 docker stack services --format '{{.Name}} {{.Replicas}}' s
    [ "$status" -eq 0 ]
    [[ $output == *"s_web 3/3"* ]]
    [[ $output == *"s_worker 2/2"* ]]
    # the constraint: workers only (hosts 2 and 3)
    [ -z "$(on 1 docker ps -q --filter label=com.docker.swarm.service.name=s_worker)" ]
    run on 1 docker stack ps --format '{{.Name}} {{.DesiredState}}' s
    [ "$status" -eq 0 ]
    [ "$(printf '%s\n' "${lines[@]}" | grep -c Running)" -eq 5 ]
    # environment and limits reached the service and its containers
    [ "$(on 1 docker service inspect --format '{{.Spec.TaskTemplate.Resources.Limits.MemoryBytes}}' s_web)" = 67108864 ]
    local c h
    for h in 1 2 3; do
        c=$(on "$h" docker ps -q --filter label=com.docker.swarm.service.name=s_web | head -n1)
        [ -n "$c" ] && break
    done
    [ -n "$c" ]
    on "$h" docker inspect --format '{{.Config.Env}}' "$c" | grep -q ROLE=web
    [ "$(on "$h" docker inspect --format '{{.HostConfig.Memory}}' "$c")" = 67108864 ]
    # redeploy: an update of the existing services, not new ones
    run on 1 docker stack deploy -c "$BATS_TEST_DIRNAME/data/stack.yml" s
    [ "$status" -eq 0 ]
    [[ $output == *"Updating service s_web"* ]]
    run on 1 docker stack rm s
    echo "$output" >&3
    [ "$status" -eq 0 ]
    retry 120 0.5 stack_running s 0
    run on 1 docker stack ls
    [ "${#lines[@]}" -eq 1 ]
    run on 1 docker network ls --filter name=s_front -q
    [ -z "$output" ]
}
