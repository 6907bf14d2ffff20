#!/usr/bin/env bats
# tests/cluster/70-services.bats - replicated and global services across five
# shoald hosts (3 managers + 2 workers) driven with the stock docker CLI
# (issue 5, "How it is checked"): convergence and spread, scale, rolling
# update and rollback, removal, global services following nodes, worker loss,
# drain, constraints, unschedulable tasks, restart history, failing updates
# and a leader lost during a scale-up.

load lib

setup_file() {
    cluster_setup_file 5 || return 1
    [[ -n ${CL_SKIP:-} ]] && return 0
    swarm_form 3 2 || return 1
    hosts_import_bb 1 2 3 4 5 || return 1
    sleep "${CL_SETTLE:-3}"
}
teardown_file() {
    services_rm_all
    cluster_down
}

# services_rm_all - remove every service (best effort) and wait for their
# containers to go, so that no agent starts containers while the hosts stop
services_rm_all() {
    [[ -n ${T:-} && -z ${CL_SKIP:-} ]] || return 0
    local l n
    l=$(leader_of 1 2 3) || return 0
    on "$l" docker service ls -q 2>/dev/null | while read -r s; do on "$l" docker service rm "$s" >/dev/null 2>&1; done
    for n in 1 2 3 4 5; do
        [[ -S $T/h$n/s.sock ]] || continue
        retry 60 0.5 bash -c "[ -z \"\$(DOCKER_HOST=unix://$T/h$n/s.sock $DOCKER_BIN ps -aq --filter label=com.docker.swarm.task.id 2>/dev/null)\" ]" || true
    done
}

# new_leader OLD - a leader other than OLD, as the other managers see it
new_leader() {
    local x others
    others=$(printf '%s\n' 1 2 3 | grep -vx "$1" | tr '\n' ' ')
    # shellcheck disable=SC2086
    x=$(leader_of $others) || return 1
    [[ $x != "$1" ]] || return 1
    echo "$x"
}

# running_per_host SERVICE - "h1:N h2:N ..." of running task containers
running_per_host() {
    local n out=""
    for n in 1 2 3 4 5; do
        [[ -S $T/h$n/s.sock ]] || continue
        out+="h$n:$(on "$n" docker ps -q --filter "label=com.docker.swarm.service.name=$1" 2>/dev/null | wc -l) "
    done
    echo "${out% }"
}

# total_running SERVICE
total_running() {
    local n c=0 k
    for n in 1 2 3 4 5; do
        [[ -S $T/h$n/s.sock ]] || continue
        k=$(on "$n" docker ps -q --filter "label=com.docker.swarm.service.name=$1" 2>/dev/null | wc -l)
        c=$((c + k))
    done
    echo "$c"
}

# replicas_are N SERVICE EXPECTED - "docker service ls" REPLICAS column on host N
replicas_are() {
    [[ $(on "$1" docker service ls --filter "name=$2" --format '{{.Replicas}}') == "$3" ]]
}

running_is() {
    [[ $(total_running "$1") == "$2" ]]
}

# live tasks (desired running) with state running, as the API shows them
api_running() {
    on "$1" docker service ps -q --filter desired-state=running --filter "name=$2" "$2" 2>/dev/null |
        while read -r id; do on "$1" docker inspect --format '{{.Status.State}}' "$id"; done |
        grep -c '^running$'
}

@test "services: 10 replicas converge, 2 per node; scale to 30; rm leaves nothing" {
    local l
    l=$(leader_of)
    run on "$l" docker service create -d --name web --replicas 10 bb:latest sleep 100000
    [ "$status" -eq 0 ]
    retry 120 0.5 replicas_are "$l" web 10/10
    retry 60 0.5 running_is web 10
    run running_per_host web
    echo "spread: $output" >&3
    [ "$output" = "h1:2 h2:2 h3:2 h4:2 h5:2" ]
    # every manager answers the same
    retry 20 0.5 replicas_are 2 web 10/10
    retry 20 0.5 replicas_are 3 web 10/10
    run on "$l" docker service scale -d web=30
    [ "$status" -eq 0 ]
    retry 240 0.5 replicas_are "$l" web 30/30
    retry 60 0.5 running_is web 30
    [ "$(running_per_host web)" = "h1:6 h2:6 h3:6 h4:6 h5:6" ]
    # slots are unique
    run on "$l" docker service ps --filter desired-state=running --format '{{.Name}}' web
    [ "$(printf '%s\n' "${lines[@]}" | sort -u | wc -l)" -eq 30 ]
    run on "$l" docker service rm web
    [ "$status" -eq 0 ]
    retry 120 0.5 running_is web 0
    # not even stopped containers stay behind
    local n
    for n in 1 2 3 4 5; do
        retry 60 0.5 bash -c "[ -z \"\$(DOCKER_HOST=unix://$T/h$n/s.sock $DOCKER_BIN ps -aq --filter label=com.docker.swarm.service.name=web)\" ]"
    done
}

@test "services: update --env-add rolls every task; rollback returns to the previous spec" {
    local l
    l=$(leader_of)
    on "$l" docker service create -d --name upd --replicas 6 --stop-grace-period 1s bb:latest sleep 100000
    retry 120 0.5 replicas_are "$l" upd 6/6
    run on "$l" docker service update -d --env-add X=1 --update-parallelism 5 upd
    [ "$status" -eq 0 ]
    # every live task is of the new spec
    retry 120 0.5 bash -c "[ \"\$(DOCKER_HOST=unix://$T/h$l/s.sock $DOCKER_BIN service inspect --format '{{.UpdateStatus.State}}' upd)\" = completed ]"
    retry 60 0.5 replicas_are "$l" upd 6/6
    local ids
    ids=$(on "$l" docker service ps -q --filter desired-state=running upd)
    [ "$(echo "$ids" | wc -l)" -eq 6 ]
    for id in $ids; do
        on "$l" docker inspect --format '{{.Spec.ContainerSpec.Env}}' "$id" | grep -q 'X=1'
    done
    # the old tasks are history rows
    [ "$(on "$l" docker service ps -q --filter desired-state=shutdown upd | wc -l)" -eq 6 ]
    run on "$l" docker service rollback -d upd
    [ "$status" -eq 0 ]
    retry 120 0.5 bash -c "[ \"\$(DOCKER_HOST=unix://$T/h$l/s.sock $DOCKER_BIN service inspect --format '{{.UpdateStatus.State}}' upd)\" = rollback_completed ]"
    retry 60 0.5 replicas_are "$l" upd 6/6
    for id in $(on "$l" docker service ps -q --filter desired-state=running upd); do
        ! on "$l" docker inspect --format '{{.Spec.ContainerSpec.Env}}' "$id" | grep -q 'X=1'
    done
    on "$l" docker service rm upd
    retry 120 0.5 running_is upd 0
}

@test "services: --mode global runs one task per node, and one on a node that joins later" {
    local l
    l=$(leader_of)
    # host 5 leaves first, so that it can join later
    on 5 docker swarm leave >/dev/null
    retry 60 0.5 bash -c "[ \"\$(DOCKER_HOST=unix://$T/h$l/s.sock $DOCKER_BIN node inspect --format '{{.Status.State}}' $(cat "$T/h5/id"))\" = down ]"
    on "$l" docker node rm "$(cat "$T/h5/id")"
    run on "$l" docker service create -d --name glob --mode global bb:latest sleep 100000
    [ "$status" -eq 0 ]
    retry 120 0.5 running_is glob 4
    [ "$(running_per_host glob)" = "h1:1 h2:1 h3:1 h4:1 h5:0" ]
    on 5 docker swarm join --token "$(on "$l" docker swarm join-token -q worker)" "$(host_addr 1):2377"
    record_id 5
    retry 120 0.5 running_is glob 5
    [ "$(running_per_host glob)" = "h1:1 h2:1 h3:1 h4:1 h5:1" ]
    on "$l" docker service rm glob
    retry 120 0.5 running_is glob 0
}

@test "services: a killed worker's tasks run elsewhere; a drained node is emptied" {
    local l
    l=$(leader_of)
    wait_ready 5 "$l" 60
    on "$l" docker service create -d --name mv --replicas 10 bb:latest sleep 100000
    retry 120 0.5 replicas_are "$l" mv 10/10
    retry 60 0.5 running_is mv 10
    host_kill 5
    # Down after the heartbeat grace, then the tasks are replaced
    retry 200 0.25 replicas_are "$l" mv 10/10
    retry 200 0.25 bash -c "[ \$(DOCKER_HOST=unix://$T/h$l/s.sock $DOCKER_BIN service ps -q --filter desired-state=running --filter node=$(cat "$T/h5/id") mv | wc -l) -eq 0 ]"
    retry 120 0.5 bash -c "[ \"\$(DOCKER_HOST=unix://$T/h$l/s.sock $DOCKER_BIN service ls --filter name=mv --format '{{.Replicas}}')\" = 10/10 ]"
    host_start 5
    wait_ready 5 "$l" 60
    # the restarted worker stops the tasks it had (they were replaced)
    retry 120 0.5 bash -c "[ -z \"\$(DOCKER_HOST=unix://$T/h5/s.sock $DOCKER_BIN ps -q --filter label=com.docker.swarm.service.name=mv)\" ]"
    on "$l" docker node update --availability drain "$(cat "$T/h4/id")"
    retry 120 0.5 bash -c "[ -z \"\$(DOCKER_HOST=unix://$T/h4/s.sock $DOCKER_BIN ps -q --filter label=com.docker.swarm.service.name=mv)\" ]"
    retry 120 0.5 running_is mv 10
    # scale up: nothing lands on the drained node
    on "$l" docker service scale -d mv=14
    retry 120 0.5 running_is mv 14
    [ -z "$(on 4 docker ps -q --filter label=com.docker.swarm.service.name=mv)" ]
    on "$l" docker node update --availability active "$(cat "$T/h4/id")"
    on "$l" docker service rm mv
    retry 120 0.5 running_is mv 0
}

@test "services: constraints place only on labelled nodes; too much memory stays pending with a reason" {
    local l
    l=$(leader_of)
    on "$l" docker node update --label-add zone=a "$(cat "$T/h2/id")"
    on "$l" docker node update --label-add zone=a "$(cat "$T/h4/id")"
    on "$l" docker service create -d --name zoned --replicas 4 --constraint node.labels.zone==a bb:latest sleep 100000
    retry 120 0.5 running_is zoned 4
    [ "$(running_per_host zoned)" = "h1:0 h2:2 h3:0 h4:2 h5:0" ]
    on "$l" docker service rm zoned
    on "$l" docker service create -d --name big --reserve-memory 100T bb:latest sleep 100000
    retry 60 0.5 bash -c "DOCKER_HOST=unix://$T/h$l/s.sock $DOCKER_BIN service ps --no-trunc big | grep -q 'insufficient resources on 5 nodes'"
    run on "$l" docker service ps --no-trunc --format '{{.CurrentState}} {{.Error}}' big
    echo "$output" >&3
    [[ $output == Pending* ]]
    on "$l" docker service rm big
    retry 120 0.5 running_is zoned 0
}

@test "services: a task exiting 1 is restarted per policy and ps shows the failed history" {
    local l
    l=$(leader_of)
    on "$l" docker service create -d --name crash --restart-condition on-failure --restart-delay 1s \
        --restart-max-attempts 2 bb:latest sh -c 'sleep 1; exit 1'
    # the first task and two restarts, all failed, then nothing
    retry 120 0.5 bash -c "[ \$(DOCKER_HOST=unix://$T/h$l/s.sock $DOCKER_BIN service ps -q crash | wc -l) -eq 3 ]"
    retry 60 0.5 bash -c "[ \$(DOCKER_HOST=unix://$T/h$l/s.sock $DOCKER_BIN service ps --format '{{.CurrentState}}' crash | grep -c '^Failed') -eq 3 ]"
    run on "$l" docker service ps --no-trunc crash
    echo "$output" >&3
    [[ $output == *"task: non-zero exit (1)"* ]]
    [[ $output == *'\_ crash.1'* ]]
    sleep 3
    [ "$(on "$l" docker service ps -q crash | wc -l)" -eq 3 ]
    on "$l" docker service rm crash
}

@test "services: an update to an image that fails pauses; with --update-failure-action rollback it rolls back" {
    local l
    l=$(leader_of)
    on "$l" docker service create -d --name fu --replicas 4 --stop-grace-period 1s bb:latest sleep 100000
    retry 120 0.5 replicas_are "$l" fu 4/4
    run on "$l" docker service update -d --image bb:missing --update-parallelism 1 fu
    [ "$status" -eq 0 ]
    retry 120 0.5 bash -c "[ \"\$(DOCKER_HOST=unix://$T/h$l/s.sock $DOCKER_BIN service inspect --format '{{.UpdateStatus.State}}' fu)\" = paused ]"
    on "$l" docker service inspect --format '{{.UpdateStatus.Message}}' fu | grep -q 'update paused due to failure'
    # the other replicas still run the old image
    [ "$(total_running fu)" -ge 3 ]
    on "$l" docker service rm fu
    on "$l" docker service create -d --name fr --replicas 3 --stop-grace-period 1s bb:latest sleep 100000
    retry 120 0.5 replicas_are "$l" fr 3/3
    on "$l" docker service update -d --image bb:missing --update-parallelism 1 --update-failure-action rollback fr
    retry 120 0.5 bash -c "[ \"\$(DOCKER_HOST=unix://$T/h$l/s.sock $DOCKER_BIN service inspect --format '{{.UpdateStatus.State}}' fr)\" = rollback_completed ]"
    [ "$(on "$l" docker service inspect --format '{{.Spec.TaskTemplate.ContainerSpec.Image}}' fr)" = bb:latest ]
    retry 60 0.5 replicas_are "$l" fr 3/3
    on "$l" docker service rm fr
    retry 120 0.5 running_is fr 0
    retry 120 0.5 running_is fu 0
}

@test "services: the leader killed during a scale-up; the new leader finishes with no duplicate slots" {
    local l n
    l=$(leader_of)
    on "$l" docker service create -d --name ls1 --replicas 2 bb:latest sleep 100000
    retry 120 0.5 replicas_are "$l" ls1 2/2
    on "$l" docker service scale -d ls1=12
    host_kill "$l"
    n=$(retry 60 0.5 new_leader "$l")
    [ -n "$n" ]
    [ "$n" != "$l" ]
    host_start "$l"
    retry 240 0.5 replicas_are "$n" ls1 12/12
    retry 120 0.5 running_is ls1 12
    run on "$n" docker service ps --filter desired-state=running --format '{{.Name}}' ls1
    [ "${#lines[@]}" -eq 12 ]
    [ "$(printf '%s\n' "${lines[@]}" | sort -u | wc -l)" -eq 12 ]
    on "$n" docker service rm ls1
    retry 120 0.5 running_is ls1 0
}

@test "services: a worker's shoald restart keeps its healthy task containers" {
    local l before after
    l=$(leader_of)
    wait_ready 5 "$l" 60
    on "$l" docker service create -d --name keep --replicas 5 bb:latest sleep 100000
    retry 120 0.5 running_is keep 5
    before=$(on 4 docker ps -q --no-trunc --filter label=com.docker.swarm.service.name=keep | sort)
    [ -n "$before" ]
    host_stop 4
    # a clean exit: the agent's callbacks ran after it was freed once (SIGSEGV)
    tail -n 5 "$(host_log 4)" | grep -q 'msg="shoald stopped"'
    host_start 4
    wait_ready 5 "$l" 60
    # the session is back and the store agrees: still 5/5, same containers on h4
    retry 60 0.5 replicas_are "$l" keep 5/5
    sleep 2
    after=$(on 4 docker ps -q --no-trunc --filter label=com.docker.swarm.service.name=keep | sort)
    [ "$before" = "$after" ]
    [ "$(on "$l" docker service ps -q keep | wc -l)" -eq 5 ]
    on "$l" docker service rm keep
    retry 120 0.5 running_is keep 0
}

@test "services: host-mode published ports: one task per node, reachable on the node's address" {
    local l n hosts=""
    l=$(leader_of)
    wait_ready 5 "$l" 60
    on "$l" docker service create -d --name hp --replicas 3 --stop-grace-period 1s \
        --publish mode=host,published=18080,target=80 bb:latest httpd -f -p 80 -h /etc
    retry 120 0.5 running_is hp 3
    # never two on one host (the port is taken)
    for n in 1 2 3 4 5; do
        [ "$(on "$n" docker ps -q --filter label=com.docker.swarm.service.name=hp | wc -l)" -le 1 ]
        if [ -n "$(on "$n" docker ps -q --filter label=com.docker.swarm.service.name=hp)" ]; then
            hosts+="$n "
        fi
    done
    # a host running a task answers on its own address, from another host
    n=${hosts%% *}
    local from=1
    [ "$n" = 1 ] && from=2
    retry 20 0.5 ip netns exec "$(host_ns "$from")" curl -fsS --max-time 2 -o /dev/null "http://$(host_addr "$n"):18080/passwd"
    # 6 replicas on 5 nodes: one stays pending
    on "$l" docker service scale -d hp=6
    retry 120 0.5 running_is hp 5
    retry 60 0.5 bash -c "DOCKER_HOST=unix://$T/h$l/s.sock $DOCKER_BIN service ps --no-trunc hp | grep -q 'no suitable node'"
    on "$l" docker service rm hp
    retry 120 0.5 running_is hp 0
}

@test "services: --mount type=bind and type=tmpfs reach the task containers" {
    local l n id found=0 mark
    l=$(leader_of)
    wait_ready 5 "$l" 60
    mark=${T#/tmp/}
    # each task leaves a file in the host's /tmp (shared by every host here)
    on "$l" docker service create -d --name mnt --replicas 2 --stop-grace-period 1s \
        --mount type=bind,src=/tmp,dst=/hosttmp --mount type=tmpfs,dst=/scratch,tmpfs-size=1m \
        bb:latest sh -c "grep -q ' /scratch tmpfs ' /proc/mounts && touch /hosttmp/$mark/mnt-\$(hostname) && sleep 100000"
    retry 120 0.5 running_is mnt 2
    retry 40 0.5 bash -c "[ \$(ls $T | grep -c '^mnt-') -eq 2 ]"
    for n in 1 2 3 4 5; do
        id=$(on "$n" docker ps -q --filter label=com.docker.swarm.service.name=mnt | head -n 1)
        [ -n "$id" ] || continue
        run on "$n" docker inspect -f '{{range .Mounts}}{{.Type}}:{{.Source}}:{{.Destination}}:{{.RW}} {{end}}' "$id"
        [[ $output == *"bind:/tmp:/hosttmp:true"* ]]
        [[ $output == *"tmpfs::/scratch:true"* ]]
        found=1
        break
    done
    [ "$found" = 1 ]
    on "$l" docker service rm mnt
    retry 120 0.5 running_is mnt 0
}
