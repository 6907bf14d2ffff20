#!/usr/bin/env bats
# tests/cluster/11-join-race.bats - joining through a manager that
# joined a moment ago (a script running `swarm join` on several hosts in a row).
# docker accepts a join through any manager; a manager whose store has not
# caught up yet holds the request until it has (issue 4).

load lib

setup_file() { cluster_setup_file 4; }
teardown_file() { cluster_down; }

@test "join-race: join through a just-joined manager right away" {
    local mt wt
    on 1 docker swarm init --advertise-addr "$(host_addr 1)" >/dev/null
    record_id 1
    mt=$(on 1 docker swarm join-token -q manager)
    wt=$(on 1 docker swarm join-token -q worker)
    run on 2 docker swarm join --token "$mt" "$(host_addr 1):2377"
    [ "$status" -eq 0 ]
    # at once, through h2
    run on 3 docker swarm join --token "$wt" "$(host_addr 2):2377"
    [ "$status" -eq 0 ]
    [ "$output" = "This node joined a swarm as a worker." ]
    record_id 2
    record_id 3
    wait_ready 3 1 30
}

@test "join-race: join through a follower manager that already serves node ls" {
    local wt
    retry 40 0.25 on 2 docker node ls -q
    wt=$(on 1 docker swarm join-token -q worker)
    run on 4 docker swarm join --token "$wt" "$(host_addr 2):2377"
    [ "$status" -eq 0 ]
    [ "$output" = "This node joined a swarm as a worker." ]
    record_id 4
    wait_ready 4 1 30
}
