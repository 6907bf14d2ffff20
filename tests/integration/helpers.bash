# tests/integration/helpers.bash - shared setup for the bats integration suite.
#
# Each .bats file starts its own daemon in a fresh temp dir ($T) in
# setup_file and tears everything down in teardown_file:
#
#   load helpers
#   setup_file()    { suite_setup_file; }      # requires root, starts the daemon, imports bb:latest
#   teardown_file() { suite_teardown_file; }
#   teardown()      { suite_teardown; }        # prints the daemon log tail when a test failed
#   (setup() is defined here: it skips the tests when setup_file called suite_skip_file)
#
# The daemon under test is chosen with SHOAL_TEST_DAEMON:
#   shoald  (default)  ${SHOAL_BUILD:-build}/shoald
#   dockerd            Debian's dockerd with its own data/exec root, socket and pidfile
#                      (reference mode: validates the tests against the real thing)
#
# Environment a test sees: T, SOCK, DOCKER_HOST, SHOAL_HOST, DAEMON_PID, DAEMON_LOG,
# BB_TAR, and the functions docker, shoal, curl_api, retry, requires_*.

bats_require_minimum_version 1.5.0

SHOAL_TEST_DAEMON=${SHOAL_TEST_DAEMON:-shoald}
REPO_ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
SHOAL_BUILD=${SHOAL_BUILD:-build}
case $SHOAL_BUILD in
/*) ;;
*) SHOAL_BUILD=$REPO_ROOT/$SHOAL_BUILD ;;
esac
DOCKER_BIN=${DOCKER_BIN:-/usr/local/bin/docker}
DOCKERD_BIN=${DOCKERD_BIN:-/usr/sbin/dockerd}
DAEMON_START_TIMEOUT=${DAEMON_START_TIMEOUT:-30}
DAEMON_STOP_TIMEOUT=${DAEMON_STOP_TIMEOUT:-20}
export SHOAL_TEST_DAEMON SHOAL_BUILD REPO_ROOT DOCKER_BIN

# ---------------------------------------------------------------- small tools

# Every CLI call is bounded: bats 1.8 has no per-test timeout, and one hung
# request must fail its test, not stall the suite (exit 124 on timeout).
SUITE_CMD_TIMEOUT=${SUITE_CMD_TIMEOUT:-120}
export SUITE_CMD_TIMEOUT
# shellcheck source=tests/lib/common.bash
source "$REPO_ROOT/tests/lib/common.bash"

# Our CLI, talking to the daemon under test ($SHOAL_HOST).
shoal() {
    timeout -k 5 "$SUITE_CMD_TIMEOUT" "$SHOAL_BUILD/shoal" "$@"
}
# ... also inside `bash -c '...'` of a test
export -f shoal

# curl_api ARGS... - curl against the daemon's Unix socket; path is the last arg,
# e.g. curl_api -sS -X POST http://d/v1.41/containers/create
curl_api() {
    command curl --unix-socket "$SOCK" --max-time 30 "$@"
}

is_root() {
    [[ $(id -u) -eq 0 ]]
}

requires_root() {
    is_root || skip "needs root"
}

# requires_shoald REASON - skip tests of shoal-specific behaviour in dockerd mode.
requires_shoald() {
    [[ $SHOAL_TEST_DAEMON == shoald ]] || skip "shoald only: ${1:-shoal-specific behaviour}"
}

requires_shoal_cli() {
    [[ -x $SHOAL_BUILD/shoal ]] || skip "no $SHOAL_BUILD/shoal"
}

is_dockerd() {
    [[ $SHOAL_TEST_DAEMON == dockerd ]]
}

cgroup_v2() {
    [[ $(stat -fc %T /sys/fs/cgroup) == cgroup2fs ]]
}

# pid_alive PID - true while PID exists and is not a zombie.
# ---------------------------------------------------------------- the daemon

# Prints the daemon command line (one word per line) for the current mode.
_daemon_argv() {
    if is_dockerd; then
        printf '%s\n' "$DOCKERD_BIN" --data-root "$T/d" --exec-root "$T/r" \
            -H "unix://$SOCK" --pidfile "$T/dockerd.pid" \
            --bridge=none --iptables=false --ip6tables=false --ip-masq=false \
            --live-restore --log-level debug \
            --containerd-namespace shoaltest --containerd-plugins-namespace shoaltest-p \
            --cgroup-parent "/$CGROUP_PARENT" --storage-driver overlay2
    else
        # --registry-allow: no test may make shoald reach past loopback (a pull
        # of docker.io/library/x would otherwise look up registry-1.docker.io);
        # --dns: names the embedded DNS does not know are relayed to a loopback
        # address where nothing answers, never to the host's real resolvers
        printf '%s\n' "$SHOAL_BUILD/shoald" --data-root "$T/d" --exec-root "$T/r" \
            -H "unix://$SOCK" --log-level debug --registry-allow 127.0.0.1 \
            --dns 127.0.0.9
        # SHOALD_EXTRA_ARGS: more flags, as words (a test's own daemon_start)
        if [[ -n ${SHOALD_EXTRA_ARGS:-} ]]; then
            # shellcheck disable=SC2086 # words on purpose
            printf '%s\n' $SHOALD_EXTRA_ARGS
        fi
    fi
}

# daemon_start - start the daemon (again) with the same flags; waits for /_ping.
daemon_start() {
    local -a argv
    local i
    mapfile -t argv < <(_daemon_argv)
    if [[ ! -x ${argv[0]} ]]; then
        echo "daemon binary ${argv[0]} missing (run make)" >&2
        return 1
    fi
    if [[ -s $T/daemon.pid ]] && pid_alive "$(<"$T/daemon.pid")"; then
        echo "daemon_start: the daemon (pid $(<"$T/daemon.pid")) is still running" >&2
        return 1
    fi
    echo "=== start $(date +%T.%N): ${argv[*]}" >>"$DAEMON_LOG"
    # fd 3 is bats' output channel: the daemon must not keep it open.
    "${argv[@]}" </dev/null >>"$DAEMON_LOG" 2>&1 3>&- &
    DAEMON_PID=$!
    # no "Killed" job report from bash when a test kills it on purpose
    disown "$DAEMON_PID"
    export DAEMON_PID
    echo "$DAEMON_PID" >"$T/daemon.pid"
    # every pid ever started, so that teardown can stop them all
    echo "$DAEMON_PID" >>"$T/daemon.pids"
    for ((i = 0; i < DAEMON_START_TIMEOUT * 10; i++)); do
        if ! pid_alive "$DAEMON_PID"; then
            echo "daemon (pid $DAEMON_PID) exited during start-up" >&2
            daemon_log_tail >&2
            return 1
        fi
        if [[ -S $SOCK ]] && curl -fsS --unix-socket "$SOCK" --max-time 2 \
            http://d/_ping >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    echo "daemon did not answer /_ping within ${DAEMON_START_TIMEOUT}s" >&2
    daemon_log_tail >&2
    return 1
}

# daemon_stop - SIGTERM, then SIGKILL after DAEMON_STOP_TIMEOUT seconds.
daemon_stop() {
    local pid=${DAEMON_PID:-} i
    # A test may have restarted the daemon (live restore): the file is authoritative.
    [[ -s $T/daemon.pid ]] && pid=$(<"$T/daemon.pid")
    [[ -n $pid ]] || return 0
    if pid_alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < DAEMON_STOP_TIMEOUT * 10; i++)); do
            pid_alive "$pid" || break
            sleep 0.1
        done
        if pid_alive "$pid"; then
            echo "daemon (pid $pid) ignored SIGTERM for ${DAEMON_STOP_TIMEOUT}s; SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.2
        fi
    fi
    rm -f "$T/daemon.pid"
    DAEMON_PID=
}

# daemon_kill9 - kill the daemon hard (live-restore tests).
daemon_kill9() {
    kill -KILL "$DAEMON_PID"
    local i
    for ((i = 0; i < 300; i++)); do # ASan builds take seconds to exit
        pid_alive "$DAEMON_PID" || break
        sleep 0.1
    done
}

daemon_log_tail() {
    local n=${1:-60}
    [[ -n ${DAEMON_LOG:-} && -f $DAEMON_LOG ]] || return 0
    echo "----- last $n lines of $DAEMON_LOG -----"
    tail -n "$n" "$DAEMON_LOG"
    echo "-----"
}

# bb_import - import the busybox rootfs as bb:latest.
bb_import() {
    docker import "$BB_TAR" bb:latest >/dev/null
}

# ---------------------------------------------------------------- bats hooks

# suite_skip_file REASON - skip every test of this file. (bats 1.8 has no skip
# in setup_file: the reason is exported and setup() skips each test.)
suite_skip_file() {
    export SUITE_SKIP=$1
}

suite_setup_file() {
    if ! is_root; then
        suite_skip_file "integration tests need root"
        return 0
    fi
    case $SHOAL_TEST_DAEMON in
    shoald | dockerd) ;;
    *)
        echo "SHOAL_TEST_DAEMON must be shoald or dockerd, not '$SHOAL_TEST_DAEMON'" >&2
        return 1
        ;;
    esac
    BB_TAR=$("$REPO_ROOT/tests/lib/mkrootfs.sh" "$REPO_ROOT/build/test/bb.tar")
    T=$(mktemp -d /tmp/shoal-it.XXXXXX)
    chmod 0711 "$T"
    SOCK=$T/s.sock
    CGROUP_PARENT=shoaltest-${T##*.}
    DAEMON_LOG=$T/$SHOAL_TEST_DAEMON.log
    DOCKER_HOST=unix://$SOCK
    SHOAL_HOST=unix://$SOCK
    # The CLI must not read or write the invoking user's ~/.docker.
    DOCKER_CONFIG=$T/docker-config
    mkdir -p "$DOCKER_CONFIG"
    export T SOCK CGROUP_PARENT DAEMON_LOG DOCKER_HOST SHOAL_HOST DOCKER_CONFIG BB_TAR
    unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH
    if [[ $SHOAL_TEST_DAEMON == shoald && ! -x $SHOAL_BUILD/shoald ]]; then
        echo "$SHOAL_BUILD/shoald not built (run make, or SHOAL_TEST_DAEMON=dockerd)" >&2
        return 1
    fi
    daemon_start
    if [[ ${SUITE_NO_IMPORT:-0} != 1 ]]; then
        bb_import
    fi
}

# Every test's setup (a file may define its own setup() that calls this).
suite_setup() {
    if [[ -n ${SUITE_SKIP:-} ]]; then
        skip "$SUITE_SKIP"
    fi
}

setup() {
    suite_setup
}

suite_teardown() {
    if [[ -z ${BATS_TEST_COMPLETED:-} && -n ${T:-} ]]; then
        # what the last `run` saw, then what the daemon said
        if [[ -n ${status:-} ]]; then
            echo "----- last run: status $status, output:"
            printf '%s\n' "${output:-}" | head -n 30
        fi
        daemon_log_tail 40
    fi
}

suite_teardown_file() {
    [[ -n ${T:-} && -d $T ]] || return 0
    local problems=0 ids line pid target

    [[ -s $T/daemon.pid ]] && DAEMON_PID=$(<"$T/daemon.pid")
    if [[ -n ${DAEMON_PID:-} ]] && pid_alive "$DAEMON_PID"; then
        ids=$(docker ps -aq 2>/dev/null || true)
        if [[ -n $ids ]]; then
            # shellcheck disable=SC2086
            docker rm -f $ids >/dev/null 2>&1 || echo "teardown: docker rm -f failed" >&2
        fi
    fi
    daemon_stop
    if [[ -s $T/daemon.pids ]]; then
        while read -r pid; do
            if pid_alive "$pid"; then
                echo "teardown: an earlier daemon (pid $pid) is still running" >&2
                problems=1
                DAEMON_PID=$pid daemon_stop
            fi
        done <"$T/daemon.pids"
    fi

    # Anything still running with our temp dir in its command line is a leak
    # (monitors, shims, containerd); report it, then kill it by pid.
    while read -r pid line; do
        [[ $pid == "$$" || $pid == "$BASHPID" ]] && continue
        [[ $line == *"$T"* ]] || continue
        echo "teardown: leftover process $pid: $line" >&2
        problems=1
        kill -KILL "$pid" 2>/dev/null || true
    done < <(ps -eo pid=,args= 2>/dev/null)
    if [[ $problems == 1 ]]; then
        sleep 0.5
    fi

    # Mounts under $T are leaks too; detach them deepest first.
    while read -r target; do
        [[ -n $target ]] || continue
        # dockerd keeps the bind mount of the host netns (used by --network host)
        # after a clean shutdown; that is dockerd's habit, not a test failure.
        # After a SIGKILL (live-restore test) dockerd also stacks a second
        # private bind mount of its data root onto itself.
        if is_dockerd && [[ $target == "$T/r/netns/"* || $target == "$T/d" ]]; then
            umount -l "$target" 2>/dev/null || true
            continue
        fi
        echo "teardown: leftover mount $target" >&2
        problems=1
        umount -l "$target" 2>/dev/null || true
    done < <(findmnt -rn -o TARGET | awk -v t="$T" 'index($0, t) == 1' | sort -r)

    # Our dockerd cgroup parent (empty once all containers are gone).
    if is_dockerd; then
        local d
        for d in /sys/fs/cgroup/*/"$CGROUP_PARENT" /sys/fs/cgroup/"$CGROUP_PARENT"; do
            [[ -d $d ]] && rmdir "$d" 2>/dev/null
        done
    fi

    if ((problems)); then
        daemon_log_tail 40 >&2
        cp "$DAEMON_LOG" "/tmp/shoal-it-failed-$(basename "$BATS_TEST_FILENAME").log" 2>/dev/null || true
    fi
    rm -rf "$T" || {
        echo "teardown: could not remove $T" >&2
        problems=1
    }
    return "$problems"
}
