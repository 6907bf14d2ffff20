#!/usr/bin/env bats
# 30-networks: the default bridge, published ports, user-defined networks with
# DNS, isolation, errors, and nothing left behind after a stop.
#
# All traffic stays on this machine: containers talk to each other on the
# daemon's bridges and the host reaches published ports on 127.0.0.1 and the
# bridge address. Container tests need the runtime's network hooks (they are
# skipped while shoald logs that it has none).

load helpers

setup_file() { suite_setup_file; }
teardown_file() { suite_teardown_file; }
teardown() { suite_teardown; }

requires_net_hooks() {
    requires_shoald "shoal's bridge networking"
    if grep -q "no network hooks yet" "$DAEMON_LOG"; then
        skip "the runtime does not call the network hooks yet"
    fi
}

# ip of container $1 on network $2
ctr_ip() {
    docker inspect -f "{{(index .NetworkSettings.Networks \"$2\").IPAddress}}" "$1"
}

@test "network ls shows bridge, host and none" {
    run docker network ls --format '{{.Name}} {{.Driver}}'
    [ "$status" -eq 0 ]
    [[ $output == *"bridge bridge"* ]]
    [[ $output == *"host host"* ]]
    [[ $output == *"none null"* ]]
}

@test "network create, inspect, ls with filters, rm" {
    requires_shoald "shoal's network ids"
    run docker network create --subnet 10.247.0.0/24 --gateway 10.247.0.254 --label team=a nt1
    [ "$status" -eq 0 ]
    [ "${#output}" -eq 64 ]
    run docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{.Labels.team}} {{.Internal}}' nt1
    [ "$output" = "10.247.0.0/24 10.247.0.254 a false" ]
    docker network create --internal nti
    run docker network inspect -f '{{.Internal}}' nti
    [ "$output" = "true" ]
    run docker network ls -q --filter label=team=a
    [ "$(echo "$output" | wc -l)" -eq 1 ]
    docker network rm nt1 nti
    run docker network inspect nt1
    [ "$status" -ne 0 ]
    [[ $output == *"network nt1 not found"* ]]
}

@test "bad network input gets clear errors" {
    requires_shoald "shoal's messages"
    docker network create --subnet 10.248.0.0/24 nb1
    run docker network create nb1
    [ "$status" -ne 0 ]
    [[ $output == *"network with name nb1 already exists"* ]]
    run docker network create --subnet 10.248.0.128/25 nb2
    [ "$status" -ne 0 ]
    [[ $output == *"Pool overlaps with other one on this address space"* ]]
    run docker network create --subnet 10.248.1.300/24 nb3
    [ "$status" -ne 0 ]
    [[ $output == *"invalid CIDR address"* ]]
    run docker network create --subnet 10.249.0.0/24 --gateway 10.1.1.1 nb4
    [ "$status" -ne 0 ]
    run docker network rm bridge
    [ "$status" -ne 0 ]
    run docker network ls --format '{{.Name}}'
    [[ $output != *nb2* && $output != *nb3* && $output != *nb4* ]]
    docker network rm nb1
}

@test "networks persist across a daemon restart; prune removes unused ones" {
    requires_shoald "shoal's data root"
    docker network create --subnet 10.250.0.0/24 keep1
    daemon_stop
    daemon_start
    run docker network inspect -f '{{range .IPAM.Config}}{{.Subnet}}{{end}}' keep1
    [ "$output" = "10.250.0.0/24" ]
    run docker network prune -f
    [ "$status" -eq 0 ]
    [[ $output == *keep1* ]]
    run docker network inspect keep1
    [ "$status" -ne 0 ]
}

@test "published port reachable from 127.0.0.1 and the bridge address" {
    requires_net_hooks
    docker run -d --name web -p 18080:80 bb:latest \
        sh -c 'mkdir -p /www && echo hello-web >/www/index.html && exec httpd -f -p 80 -h /www'
    retry 50 0.1 curl -fsS --max-time 2 http://127.0.0.1:18080/
    run curl -fsS --max-time 5 http://127.0.0.1:18080/
    [ "$output" = "hello-web" ]
    gw=$(docker network inspect -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' bridge)
    run curl -fsS --max-time 5 "http://$gw:18080/"
    [ "$output" = "hello-web" ]
    ip=$(ctr_ip web bridge)
    run curl -fsS --max-time 5 "http://$ip:80/"
    [ "$output" = "hello-web" ]
    run docker port web 80
    [[ $output == *"0.0.0.0:18080"* ]]
    # the same host port again
    run docker run -d --name web2 -p 18080:80 bb:latest sleep 100
    [ "$status" -ne 0 ]
    [[ $output == *"port is already allocated"* ]]
    docker rm -f web2 >/dev/null 2>&1 || true
}

@test "a container reaches another's published port via the gateway and the host's address" {
    requires_net_hooks
    docker run -d --name pubsrv -p 18090:80 bb:latest \
        sh -c 'mkdir -p /www && echo hello-pub >/www/index.html && exec httpd -f -p 80 -h /www'
    retry 50 0.1 curl -fsS --max-time 2 http://127.0.0.1:18090/
    gw=$(docker network inspect -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' bridge)
    # (busybox nc: the static busybox's wget crashes inside these containers)
    get='printf "GET / HTTP/1.0\r\n\r\n" | timeout 5 nc'
    # the replies must come back un-DNATed (from the gateway) for nc to see them
    run docker run --rm bb:latest sh -c "$get $gw 18090"
    [ "$status" -eq 0 ]
    [[ $output == *hello-pub* ]]
    # the container reaching its own published port (hairpin)
    run docker exec pubsrv sh -c "$get $gw 18090"
    [[ $output == *hello-pub* ]]
    # an address of the host outside our bridges (local: nothing leaves the host)
    host_ip=$(ip -4 -o addr show scope global |
        awk '$2 !~ /^(shoal|br-|veth|docker)/ {sub(/\/.*/, "", $4); print $4; exit}')
    if [ -n "$host_ip" ]; then
        run docker run --rm bb:latest sh -c "$get $host_ip 18090"
        [ "$status" -eq 0 ]
        [[ $output == *hello-pub* ]]
    fi
    # and directly, container to container
    ip=$(ctr_ip pubsrv bridge)
    run docker run --rm bb:latest sh -c "$get $ip 80"
    [[ $output == *hello-pub* ]]
    docker rm -f pubsrv
}

@test "-P publishes exposed ports on free host ports" {
    requires_net_hooks
    docker run -d --name pub --expose 7000 -P bb:latest sleep 100
    run docker port pub 7000
    [ "$status" -eq 0 ]
    [[ $output =~ 0\.0\.0\.0:[0-9]+ ]]
    docker rm -f pub
}

@test "user network: names and aliases resolve, other networks are isolated" {
    requires_net_hooks
    docker network create --subnet 10.251.0.0/24 un1
    docker network create --subnet 10.252.0.0/24 un2
    docker run -d --name ua --network un1 --network-alias alias-a bb:latest sleep 300
    run docker run --rm --network un1 bb:latest nslookup ua
    [ "$status" -eq 0 ]
    [[ $output == *"10.251.0."* ]]
    run docker run --rm --network un1 bb:latest nslookup alias-a
    [[ $output == *"10.251.0."* ]]
    ip=$(ctr_ip ua un1)
    run docker run --rm --network un1 bb:latest ping -c1 -W2 "$ip"
    [ "$status" -eq 0 ]
    run docker run --rm --network un2 bb:latest ping -c1 -W1 "$ip"
    [ "$status" -ne 0 ]
    run docker network rm un1
    [ "$status" -ne 0 ]
    [[ $output == *"error while removing network: network un1 id "*" has active endpoints"* ]]
    run docker run --rm --network un1 bb:latest cat /etc/resolv.conf
    [[ $output == *"nameserver 127.0.0.11"* ]]
}

@test "containers of one network talk through the veth fast path; nothing of it is left" {
    requires_net_hooks
    docker network create --subnet 10.254.0.0/24 fp1
    docker run -d --name fpa --network fp1 bb:latest \
        sh -c 'mkdir -p /www && echo hello-fp >/www/index.html && exec httpd -f -p 80 -h /www'
    docker run -d --name fpb --network fp1 -p 18095:80 bb:latest \
        sh -c 'mkdir -p /www && echo hello-fpb >/www/index.html && exec httpd -f -p 80 -h /www'
    # one map for the network, one ingress chain per container veth
    run nft list table netdev shoal
    [ "$status" -eq 0 ]
    [[ $output == *"02:42:0a:fe:00:02"* && $output == *"02:42:0a:fe:00:03"* ]]
    [ "$(grep -c 'hook ingress' <<<"$output")" -eq 2 ]
    get='printf "GET / HTTP/1.0\r\n\r\n" | timeout 5 nc'
    run docker exec fpb sh -c "$get $(ctr_ip fpa fp1) 80"
    [[ $output == *hello-fp* ]]
    # a published port of the same network through the gateway (replies
    # must be un-DNATed, not short-cut), and the container's own one
    gw=$(docker network inspect -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' fp1)
    retry 50 0.1 curl -fsS --max-time 2 http://127.0.0.1:18095/
    run docker exec fpa sh -c "$get $gw 18095"
    [[ $output == *hello-fpb* ]]
    run docker exec fpb sh -c "$get $gw 18095"
    [[ $output == *hello-fpb* ]]
    # another network's container cannot use the shortcut (its veth has no
    # chain while alone; with a peer, its own map) and stays isolated
    docker network create --subnet 10.254.1.0/24 fp2
    docker run -d --name fpc --network fp2 bb:latest sleep 300
    run docker exec fpc sh -c "$get $(ctr_ip fpa fp1) 80"
    [[ $output != *hello-fp* ]]
    docker rm -f fpb
    # one member left: no chain for it
    run nft list table netdev shoal
    [[ $output != *"hook ingress"* ]]
    docker rm -f fpa fpc
    docker network rm fp1 fp2
}

@test "--no-bridge-fast-path: containers of one network talk through the bridge only" {
    requires_net_hooks
    daemon_stop
    SHOALD_EXTRA_ARGS=--no-bridge-fast-path daemon_start
    docker network create --subnet 10.254.2.0/24 fp3
    docker run -d --name fpd --network fp3 bb:latest \
        sh -c 'mkdir -p /www && echo hello-fpd >/www/index.html && exec httpd -f -p 80 -h /www'
    docker run -d --name fpe --network fp3 bb:latest sleep 300
    run nft list table netdev shoal
    [ "$status" -ne 0 ]
    # a network whose bridge exists but that no container uses any more
    docker network create --subnet 10.254.3.0/24 fp4
    docker run --rm --network fp4 bb:latest true
    br4=br-$(docker network inspect -f '{{.Id}}' fp4 | cut -c1-12)
    ip link show "$br4"
    get='printf "GET / HTTP/1.0\r\n\r\n" | timeout 5 nc'
    run docker exec fpe sh -c "$get $(ctr_ip fpd fp3) 80"
    [[ $output == *hello-fpd* ]]
    # back to the default: the running containers get the shortcut
    daemon_stop
    daemon_start
    run nft list table netdev shoal
    [ "$status" -eq 0 ]
    [ "$(grep -c 'hook ingress' <<<"$output")" -eq 2 ]
    run docker exec fpe sh -c "$get $(ctr_ip fpd fp3) 80"
    [[ $output == *hello-fpd* ]]
    docker rm -f fpd fpe
    docker network rm fp3
    # removed although two daemon runs ago made it (it leaked before)
    docker network rm fp4
    run ip link show "$br4"
    [ "$status" -ne 0 ]
}

@test "--network none, host and container:" {
    requires_net_hooks
    run docker run --rm --network none bb:latest ip -o link
    [[ $output != *eth0* ]]
    run docker run --rm --network container:ua bb:latest ip -o -4 addr show eth0
    [[ $output == *"10.251.0."* ]]
}

@test "an internal network has no route out" {
    requires_net_hooks
    docker network create --internal --subnet 10.253.0.0/24 uint
    run docker run --rm --network uint bb:latest ip route
    [[ $output != *default* ]]
    gw=$(docker network inspect -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' bridge)
    run docker run --rm --network uint bb:latest ping -c1 -W1 "$gw"
    [ "$status" -ne 0 ]
}

@test "a bridge deleted behind shoald's back is created again at the next start" {
    requires_net_hooks
    docker run -d --name brk bb:latest sleep 100
    br=$(docker network inspect -f '{{index .Options "com.docker.network.bridge.name"}}' bridge)
    [ -n "$br" ] || br=shoal0
    ip link show "$br"
    ip link del "$br"
    run docker run --rm bb:latest true
    [ "$status" -eq 0 ]
    ip link show "$br"
    docker rm -f brk
}

@test "nothing of ours is left after rm -f and a daemon stop" {
    requires_net_hooks
    # shellcheck disable=SC2046
    docker rm -f $(docker ps -aq) >/dev/null
    docker network prune -f >/dev/null
    daemon_stop
    run ip link show shoal0
    [ "$status" -ne 0 ]
    run nft list table ip shoal
    [ "$status" -ne 0 ]
    run nft list table netdev shoal
    [ "$status" -ne 0 ]
    run bash -c "ip -o link | grep -E ' (veth|br-)'"
    [ "$status" -ne 0 ]
    daemon_start
}
