#!/usr/bin/env bats
# 13-security: what a process sees inside a default container: PID 1, hostname,
# capabilities, seccomp, read-only /proc/sys, no mounts, minimal /dev, masked
# /proc files, namespaces it cannot escape, cgroup limits, fd hygiene, NoNewPrivs.

load helpers

setup_file() { suite_setup_file; }
teardown_file() { suite_teardown_file; }
teardown() { suite_teardown; }

# ctr CMD... - run CMD in a throw-away container
ctr() {
    docker run --rm bb:latest "$@"
}

@test "the command is PID 1" {
    run ctr sh -c 'echo $$'
    [ "$status" -eq 0 ]
    [ "$output" = 1 ]
}

@test "the hostname is the short container id" {
    run docker run --name hn bb:latest hostname
    [ "$status" -eq 0 ]
    local id
    id=$(docker inspect -f '{{.Id}}' hn)
    [ "$output" = "${id:0:12}" ]
    [ "$(docker inspect -f '{{.Config.Hostname}}' hn)" = "${id:0:12}" ]
    docker rm hn
}

@test "effective capabilities are docker's default set" {
    run ctr grep CapEff /proc/self/status
    [ "$status" -eq 0 ]
    [[ $output =~ ^CapEff:[[:space:]]+00000000a80425fb$ ]]
    run ctr grep CapBnd /proc/self/status
    [[ $output =~ ^CapBnd:[[:space:]]+00000000a80425fb$ ]]
    # a non-root user has no effective capabilities
    run docker run --rm -u 65534 bb:latest grep CapEff /proc/self/status
    [[ $output =~ ^CapEff:[[:space:]]+0000000000000000$ ]]
}

@test "--cap-add and --cap-drop change the set" {
    # CAP_SYS_ADMIN is bit 21
    run docker run --rm --cap-add SYS_ADMIN bb:latest grep CapEff /proc/self/status
    [[ $output =~ ^CapEff:[[:space:]]+00000000a82425fb$ ]]
    # CAP_CHOWN is bit 0
    run docker run --rm --cap-drop CHOWN bb:latest grep CapEff /proc/self/status
    [[ $output =~ ^CapEff:[[:space:]]+00000000a80425fa$ ]]
}

@test "seccomp filter mode is on" {
    run ctr grep Seccomp: /proc/self/status
    [ "$status" -eq 0 ]
    [[ $output =~ ^Seccomp:[[:space:]]+2$ ]]
}

@test "/proc/sys is read-only" {
    run ctr sh -c 'echo evil > /proc/sys/kernel/hostname'
    [ "$status" -ne 0 ]
    [ "$(hostname)" != evil ]
    run ctr sh -c 'grep " /proc/sys " /proc/self/mounts'
    [[ $output == *" ro,"* || $output == *" ro "* ]]
}

@test "/sys is read-only" {
    run ctr sh -c 'touch /sys/kernel/x 2>&1; grep " /sys " /proc/self/mounts'
    [[ $output == *"sysfs /sys sysfs ro"* ]]
}

@test "mounting is not allowed" {
    run ctr mount -t tmpfs none /mnt
    [ "$status" -ne 0 ]
    run ctr sh -c 'mkdir -p /tmp/a /tmp/b && mount --bind /tmp/a /tmp/b'
    [ "$status" -ne 0 ]
}

@test "/dev holds only docker's default entries" {
    local want="fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero "
    run ctr sh -c 'ls /dev | tr "\n" " "'
    [ "$status" -eq 0 ]
    # /dev/core is a symlink to /proc/kcore: runc makes it only when the kernel
    # has kcore, shoald always; either way it is one of docker's entries.
    [ "$output" = "$want" ] || [ "$output" = "core $want" ]
    if is_dockerd && [[ -e /proc/kcore ]]; then
        [ "$output" = "core $want" ]
    fi
    # the device nodes work
    run ctr sh -c 'head -c 4 /dev/zero | od -An -tx1'
    [[ $output == *"00 00 00 00"* ]]
    run ctr sh -c 'echo x > /dev/null && echo ok'
    [ "$output" = ok ]
    # and no host device is reachable
    run ctr sh -c 'ls /dev/sda /dev/vda /dev/mem /dev/kmsg 2>/dev/null'
    [ -z "$output" ]
}

@test "/dev/shm is a writable tmpfs" {
    run ctr sh -c 'echo hi > /dev/shm/x && cat /dev/shm/x && grep " /dev/shm " /proc/self/mounts'
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = hi ]
    [[ ${lines[1]} == *tmpfs* ]]
}

@test "/proc/kcore and /proc/keys read empty" {
    # (a kernel without CONFIG_PROC_KCORE has no /proc/kcore at all: reads as empty too)
    run ctr sh -c 'cat /proc/kcore 2>/dev/null | wc -c; cat /proc/keys | wc -c'
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = 0 ]
    [ "${lines[1]}" = 0 ]
}

@test "masked and read-only /proc paths" {
    run ctr sh -c 'ls -A /proc/acpi 2>/dev/null | wc -l; ls -A /proc/scsi 2>/dev/null | wc -l'
    [ "${lines[0]}" = 0 ]
    [ "${lines[1]}" = 0 ]
    run ctr sh -c 'echo 1 > /proc/sysrq-trigger'
    [ "$status" -ne 0 ]
}

@test "namespace escapes fail" {
    busybox --list | grep -qx unshare || skip "busybox has no unshare applet"
    run ctr unshare -U true
    [ "$status" -ne 0 ]
    run ctr unshare -m true
    [ "$status" -ne 0 ]
    run ctr unshare -n true
    [ "$status" -ne 0 ]
    run ctr nsenter -t 1 -m true
    # entering our own namespaces needs CAP_SYS_ADMIN
    [ "$status" -ne 0 ]
    run ctr chroot / true
    # chroot is allowed (CAP_SYS_CHROOT is in the default set)
    [ "$status" -eq 0 ]
}

@test "the container has its own pid, uts, ipc, mount and net namespaces" {
    local ns mine
    for ns in pid uts ipc mnt net; do
        mine=$(readlink "/proc/self/ns/$ns")
        run ctr readlink "/proc/self/ns/$ns"
        [ "$status" -eq 0 ]
        [ "$output" != "$mine" ] || {
            echo "shares $ns namespace with the host"
            false
        }
    done
}

@test "-m 32m sets the memory limit" {
    local f=/sys/fs/cgroup/memory/memory.limit_in_bytes
    cgroup_v2 && f=/sys/fs/cgroup/memory.max
    run docker run --rm -m 32m bb:latest cat "$f"
    [ "$status" -eq 0 ]
    [ "$output" = 33554432 ]
}

@test "--pids-limit 50 sets pids.max" {
    local f=/sys/fs/cgroup/pids/pids.max
    cgroup_v2 && f=/sys/fs/cgroup/pids.max
    run docker run --rm --pids-limit 50 bb:latest cat "$f"
    [ "$status" -eq 0 ]
    [ "$output" = 50 ]
}

@test "--cpus 0.5 sets the CFS quota" {
    if cgroup_v2; then
        run docker run --rm --cpus 0.5 bb:latest cat /sys/fs/cgroup/cpu.max
        [ "$output" = "50000 100000" ]
    else
        run docker run --rm --cpus 0.5 bb:latest cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us
        [ "$status" -eq 0 ]
        [ "$output" = 50000 ]
        run docker run --rm --cpus 0.5 bb:latest cat /sys/fs/cgroup/cpu/cpu.cfs_period_us
        [ "$output" = 100000 ]
    fi
}

@test "the memory limit is enforced" {
    # allocate ~64 MiB in a 16 MiB container: the OOM killer ends it (137)
    run docker run --rm -m 16m --memory-swap 16m bb:latest \
        sh -c 'x=$(head -c 67108864 /dev/zero | tr "\0" a); echo ${#x}'
    [ "$status" -eq 137 ]
}

@test "only fds 0 1 2 are open in the container" {
    # ls itself holds one more fd: the directory it is reading
    run ctr ls /proc/self/fd
    [ "$status" -eq 0 ]
    [ "${#lines[@]}" -eq 4 ]
    [ "${lines[0]}" = 0 ]
    [ "${lines[1]}" = 1 ]
    [ "${lines[2]}" = 2 ]
    # the shell running as PID 1 has exactly 0 1 2
    run ctr sh -c 'ls /proc/1/fd | tr "\n" " "'
    [ "$output" = "0 1 2 " ]
}

@test "no-new-privileges sets NoNewPrivs" {
    run ctr grep NoNewPrivs /proc/self/status
    [[ $output =~ ^NoNewPrivs:[[:space:]]+0$ ]]
    run docker run --rm --security-opt no-new-privileges bb:latest grep NoNewPrivs /proc/self/status
    [ "$status" -eq 0 ]
    [[ $output =~ ^NoNewPrivs:[[:space:]]+1$ ]]
}

@test "the root filesystem is writable and private to the container" {
    run ctr sh -c 'echo data > /etc/newfile && cat /etc/newfile'
    [ "$output" = data ]
    run ctr cat /etc/newfile
    [ "$status" -ne 0 ]
    run docker run --rm --read-only bb:latest touch /etc/x
    [ "$status" -ne 0 ]
}
