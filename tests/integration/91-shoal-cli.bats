#!/usr/bin/env bats
# 91-shoal-cli: the checks of 11-14 through our own CLI (build/shoal).
#
# In dockerd mode the file runs too when build/shoal exists: shoal speaks the
# same API, so this checks the CLI against the reference daemon.
# Only the kill -9 live-restore part is shoald-specific.

load helpers

setup_file() {
    if [[ ! -x $SHOAL_BUILD/shoal ]]; then
        suite_skip_file "$SHOAL_BUILD/shoal not built"
        return 0
    fi
    SUITE_NO_IMPORT=1 # read by suite_setup_file
    export SUITE_NO_IMPORT
    suite_setup_file
}
teardown_file() { suite_teardown_file; }
teardown() { suite_teardown; }

# sinspect NAME FIELD.PATH - a field of `shoal inspect NAME`
sinspect() {
    shoal inspect "$1" | json_get "0.$2"
}

@test "shoal with no daemon says 'Is shoald running?' in one line and exits 1" {
    run -1 env SHOAL_HOST=unix://$T/nothing-here.sock "$SHOAL_BUILD/shoal" ps
    [ "${#lines[@]}" -eq 1 ]
    [[ $output == *"Is shoald running?"* ]]
    [[ $output == "shoal: "* ]]
    run -1 "$SHOAL_BUILD/shoal" -H unix://$T/nothing-here.sock version --format '{{.Server.APIVersion}}'
}

@test "shoal -H and SHOAL_HOST both select the daemon" {
    run env -u SHOAL_HOST "$SHOAL_BUILD/shoal" -H "unix://$SOCK" ps
    [ "$status" -eq 0 ]
    run shoal ps
    [ "$status" -eq 0 ]
}

@test "shoal version shows client and server" {
    run shoal version
    [ "$status" -eq 0 ]
    [[ $output == *Client* ]]
    [[ $output == *Server* ]]
    [[ $output == *1.41* ]]
}

@test "shoal info shows container and image counts" {
    run shoal info
    [ "$status" -eq 0 ]
    [[ $output == *"Containers:"* ]]
    [[ $output == *"Images:"* ]]
}

@test "shoal import prints the image id; shoal images lists it" {
    run shoal import "$BB_TAR" bb:latest
    [ "$status" -eq 0 ]
    [[ $output =~ ^sha256:[0-9a-f]{64}$ ]]
    local id=${output#sha256:}
    run shoal images
    [ "$status" -eq 0 ]
    [[ ${lines[0]} == *REPOSITORY*TAG*"IMAGE ID"*SIZE* ]]
    [[ $output =~ bb\ +latest\ +${id:0:12}\ .*[kM]B ]]
    run shoal image inspect bb
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | json_get 0.Id)" = "sha256:$id" ]
    # and the stock CLI sees the same image
    [ "$(docker images -q bb:latest)" = "${id:0:12}" ]
}

# ---- 11: run

@test "shoal run --rm echo hello" {
    run shoal run --rm bb echo hello
    [ "$status" -eq 0 ]
    [ "$output" = hello ]
}

@test "shoal run passes the exit status" {
    run shoal run --rm bb sh -c 'exit 7'
    [ "$status" -eq 7 ]
}

@test "shoal run -e, -w, -u, --hostname" {
    run shoal run --rm -e A=1 bb sh -c 'echo $A'
    [ "$output" = 1 ]
    run shoal run --rm -w /tmp bb pwd
    [ "$output" = /tmp ]
    run shoal run --rm -u 65534 bb id -u
    [ "$output" = 65534 ]
    run shoal run --rm -u nobody bb id -u
    [ "$output" = 65534 ]
    run shoal run --rm --hostname myhost bb hostname
    [ "$output" = myhost ]
}

@test "shoal run --network none and host" {
    run shoal run --rm --network none bb ls /sys/class/net
    [ "$output" = lo ]
    run shoal run --rm --network host bb sh -c 'ls /sys/class/net | sort | tr "\n" " "'
    [ "$output" = "$(ls /sys/class/net | sort | tr '\n' ' ')" ]
}

@test "shoal run keeps stdout and stderr apart" {
    run bash -c "shoal run --rm bb sh -c 'echo out; echo err >&2' 2>/dev/null"
    [ "$output" = out ]
    run bash -c "shoal run --rm bb sh -c 'echo out; echo err >&2' 2>&1 >/dev/null"
    [ "$output" = err ]
}

@test "shoal run of a missing command exits 127" {
    run -127 shoal run --rm bb nosuchcmd
    [[ $output == *"executable file not found"* ]]
    [[ $output == "shoal: "* ]]
}

@test "shoal run of an unknown image exits 125" {
    run -125 shoal run --rm nope:latest true
    [[ $output == *"nope"* ]]
}

@test "shoal run: large output arrives completely" {
    shoal run --rm bb seq 1 100000 >"$T/seq.out"
    seq 1 100000 | cmp - "$T/seq.out"
}

@test "shoal run -i passes stdin" {
    run bash -c "echo piped | SUITE_CMD_TIMEOUT=30 shoal run --rm -i bb cat"
    [ "$output" = piped ]
}

# ---- 12: lifecycle

@test "shoal run -d, ps, ps -a, ps -q, --no-trunc" {
    run shoal run -d --name s1 bb sleep 1000
    [ "$status" -eq 0 ]
    [[ $output =~ ^[0-9a-f]{64}$ ]]
    local id=$output
    run shoal ps
    [[ ${lines[0]} == *"CONTAINER ID"*NAMES* ]]
    [[ $output == *"${id:0:12}"*"bb"*'"sleep 1000"'*Up*s1* ]]
    run shoal ps -q
    [[ $output == *"${id:0:12}"* ]]
    run shoal ps -q --no-trunc
    [[ $output == *"$id"* ]]
    shoal run --name ex bb sh -c 'exit 3' || true
    run shoal ps
    [[ $output != *ex* ]]
    run shoal ps -a
    [[ $output == *"Exited (3)"*ex* ]]
    shoal rm ex
}

@test "shoal logs" {
    shoal run -d --name lg bb sh -c 'echo one; echo two; sleep 1000'
    retry 50 0.1 bash -c "[[ \$(shoal logs lg | wc -l) -ge 2 ]]"
    run shoal logs lg
    [ "$output" = "$(printf 'one\ntwo')" ]
    run shoal logs --tail 1 lg
    [ "$output" = two ]
    shoal rm -f lg
}

@test "shoal logs -f follows until exit" {
    shoal run -d --name lf bb sh -c 'for i in 1 2 3; do echo l$i; sleep 0.3; done'
    run timeout 20 "$SHOAL_BUILD/shoal" logs -f lf
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf 'l1\nl2\nl3')" ]
    shoal rm lf
}

@test "shoal inspect fields" {
    shoal run -d --name insp -m 64m bb sleep 1000
    shoal inspect insp >"$T/i.json"
    [ "$(json_get 0.Name "$T/i.json")" = /insp ]
    [[ $(json_get 0.Id "$T/i.json") =~ ^[0-9a-f]{64}$ ]]
    [ "$(json_get 0.State.Status "$T/i.json")" = running ]
    [ "$(json_get 0.State.Pid "$T/i.json")" -gt 0 ]
    [ "$(json_get 0.Config.Cmd "$T/i.json")" = '["sleep", "1000"]' ]
    [ "$(json_get 0.HostConfig.Memory "$T/i.json")" = 67108864 ]
    run shoal inspect -f '{{.State.Status}}' insp
    [ "$output" = running ]
    shoal rm -f insp
}

@test "shoal stop -t 1 gives 137; stop again succeeds" {
    run shoal stop -t 1 s1
    [ "$status" -eq 0 ]
    [ "$output" = s1 ]
    [ "$(sinspect s1 State.Status)" = exited ]
    [ "$(sinspect s1 State.ExitCode)" = 137 ]
    run shoal stop s1
    [ "$status" -eq 0 ]
}

@test "shoal rm; rm of a running container needs -f" {
    run shoal rm s1
    [ "$status" -eq 0 ]
    run -1 shoal inspect s1
    [[ $output == *"No such"* ]]
    shoal run -d --name busy bb sleep 1000
    run shoal rm busy
    [ "$status" -ne 0 ]
    [[ $output == *"You cannot remove a running container"* ]]
    [[ $output == "shoal: "* ]]
    run shoal rm -f busy
    [ "$status" -eq 0 ]
}

@test "shoal create + start + wait" {
    run shoal create --name cw bb sh -c 'exit 42'
    [ "$status" -eq 0 ]
    [ "$(sinspect cw State.Status)" = created ]
    run shoal start cw
    [ "$status" -eq 0 ]
    run shoal wait cw
    [ "$output" = 42 ]
    shoal rm cw
}

@test "shoal kill -s TERM and kill" {
    shoal run -d --name kt bb sh -c 'trap "exit 12" TERM; while true; do sleep 0.1; done'
    run shoal kill -s TERM kt
    [ "$status" -eq 0 ]
    run timeout 10 "$SHOAL_BUILD/shoal" wait kt
    [ "$output" = 12 ]
    shoal run -d --name kk bb sleep 1000
    shoal kill kk
    run timeout 10 "$SHOAL_BUILD/shoal" wait kk
    [ "$output" = 137 ]
    shoal rm kt kk
}

@test "shoal: duplicate name is a Conflict, unknown container exits 1" {
    shoal run -d --name dup bb sleep 1000
    run shoal run -d --name dup bb sleep 1000
    [ "$status" -eq 125 ]
    [[ $output == *Conflict* ]]
    local cmd
    for cmd in stop rm logs kill; do
        run -1 shoal $cmd nosuch
        [[ $output == *"No such container: nosuch"* ]]
    done
    shoal rm -f dup
}

# ---- 13: security

@test "shoal run: PID 1, short-id hostname, caps, seccomp, NoNewPrivs" {
    run shoal run --rm bb sh -c 'echo $$'
    [ "$output" = 1 ]
    run shoal run --name hn bb hostname
    [ "$output" = "$(sinspect hn Id | cut -c1-12)" ]
    shoal rm hn
    run shoal run --rm bb grep CapEff /proc/self/status
    [[ $output =~ 00000000a80425fb$ ]]
    run shoal run --rm bb grep Seccomp: /proc/self/status
    [[ $output =~ [[:space:]]2$ ]]
    run shoal run --rm --security-opt no-new-privileges bb grep NoNewPrivs /proc/self/status
    [[ $output =~ [[:space:]]1$ ]]
    run shoal run --rm bb mount -t tmpfs none /mnt
    [ "$status" -ne 0 ]
}

@test "shoal run: cgroup limits" {
    local mem=/sys/fs/cgroup/memory/memory.limit_in_bytes pids=/sys/fs/cgroup/pids/pids.max
    cgroup_v2 && mem=/sys/fs/cgroup/memory.max pids=/sys/fs/cgroup/pids.max
    run shoal run --rm -m 32m bb cat "$mem"
    [ "$output" = 33554432 ]
    run shoal run --rm --pids-limit 50 bb cat "$pids"
    [ "$output" = 50 ]
    if ! cgroup_v2; then
        run shoal run --rm --cpus 0.5 bb cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us
        [ "$output" = 50000 ]
    fi
}

# ---- 14: live restore

@test "shoal: kill -9 the daemon, restart, the container is still Up" {
    requires_shoald "kill -9 live restore through shoal"
    shoal run -d --name lr bb sh -c 'while true; do echo tick; sleep 0.2; done'
    local pid n1 n2
    pid=$(sinspect lr State.Pid)
    retry 50 0.1 bash -c "[[ \$(shoal logs lr | wc -l) -ge 2 ]]"
    daemon_kill9
    run shoal ps
    [ "$status" -eq 1 ]
    [[ $output == *"Is shoald running?"* ]]
    kill -0 "$pid"
    daemon_start
    run shoal ps
    [[ $output == *Up*lr* ]]
    [ "$(sinspect lr State.Pid)" = "$pid" ]
    n1=$(shoal logs lr | wc -l)
    sleep 1
    n2=$(shoal logs lr | wc -l)
    ((n2 > n1))
    run shoal stop -t 1 lr
    [ "$status" -eq 0 ]
    [ "$(sinspect lr State.Status)" = exited ]
    shoal rm lr
}
