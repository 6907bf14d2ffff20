#!/bin/bash
# bench/raft-vs-etcd.sh - replicated writes and leader failover: a 3-manager
# shoal cluster (network namespaces, tests/cluster/lib.bash) against a 3-member
# etcd 3.4 (Debian etcd-server) on 127.0.0.1, in the same run.
#
# Usage: bench/raft-vs-etcd.sh [TRIALS] [WRITES] [RAW_WRITES]
#   TRIALS      leader-failover trials per system (default 10)
#   WRITES      API writes per in-flight level (default 30000)
#   RAW_WRITES  raw store commands per in-flight level (default 40000)
#
# Three write paths, each at 1, 16 and 64 in flight:
#  - shoal raw store commands (bench/rstore-bench.c, built here against
#    $SHOAL_BUILD/libcore.a): 3 processes on 127.0.0.1 running shoal's raft
#    layer (libraft 0.15, uv disk backend, mutual-TLS transport) with the real
#    store as state machine; the leader proposes NodeSetStatus commands and
#    times each from proposal to application.
#  - shoal through the Engine API: node label updates on the leader's Unix
#    socket, 3 managers in network namespaces (tests/cluster/lib.bash). The
#    swarm gets 64 extra worker node objects through the real JOIN exchange
#    (bench/fakejoin.py) so that each writer owns one node: no version races.
#    A write is GET (for Version.Index, as `docker node update` does) + POST;
#    the POST is timed, the rate counts whole writes.
#  - etcd 3.4 (Debian etcd-server), 3 members on 127.0.0.1: PUT through its
#    JSON gateway (/v3/kv/put) on the leader.
# Both API paths use the same client, bench/httpload.c (C, epoll, one
# keep-alive connection per writer, built here with cc -O2); the python
# asyncio client it replaces took much of the 2 cores itself.
# The shoalds run with --log-level info (the cluster harness default is debug).
# Failover: SIGKILL the leader, time until a write is accepted by a survivor.
# RAFT_BENCH_PARTS (default "etcd raw api failover") picks what runs; with
# RAFT_BENCH_PERF=FILE the shoal leader is recorded with perf(1) during the
# 64-in-flight API run (RAFT_BENCH_PERF_ALL=1: the whole machine, no call
# graphs; RAFT_BENCH_PERF_WHO=follower: a follower instead of the leader),
# and RAFT_BENCH_HOOK=CMD runs "CMD LEADER_PID" 0.3 s into that run (e.g. a
# perf stat of uprobes), for profiling, not for the figures.
# Needs root (namespaces). Everything it starts is stopped by pid.
set -uo pipefail

TRIALS=${1:-10}
WRITES=${2:-30000}
RAW_WRITES=${3:-40000}
PARTS=" ${RAFT_BENCH_PARTS:-etcd raw api failover} "
part() { [[ $PARTS == *" $1 "* ]]; }
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/lib.sh
source "$here/lib.sh"
bench_require_root
command -v etcd >/dev/null || bench_die "etcd not installed (apt-get install etcd-server)"

# the cluster harness, outside bats
bats_require_minimum_version() { :; }
# shellcheck source=tests/cluster/lib.bash
source "$REPO_ROOT/tests/cluster/lib.bash"
APILOAD=$REPO_ROOT/tests/cluster/apiload.py

ETCD_PIDS=()
E=
RB=
HL=
cleanup() {
    local pid
    for pid in "${ETCD_PIDS[@]}"; do
        bench_stop_pid "$pid"
    done
    [[ -n $E && -d $E ]] && rm -rf "$E"
    [[ -n $RB && -d $RB ]] && rm -rf "$RB"
    [[ -n $HL && -d $HL ]] && rm -rf "$HL"
    cluster_down 3>&2 || bench_log "cluster teardown reported a problem"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- client

HL=$(mktemp -d /tmp/sb-httpload.XXXXXX)
HTTPLOAD=$HL/httpload
# shellcheck disable=SC2046
cc -std=gnu11 -O2 -Wall -o "$HTTPLOAD" "$here/httpload.c" $(pkg-config --cflags --libs jansson) ||
    bench_die "building httpload failed"

# ---------------------------------------------------------------- etcd

E=$(mktemp -d /tmp/sb-etcd.XXXXXX)
EBASE=$((31000 + ($$ % 300) * 10))
ecli() { echo $((EBASE + $1)); }     # client port of member N (1..3)
epeer() { echo $((EBASE + 5 + $1)); } # peer port
ECLUSTER="e1=http://127.0.0.1:$(epeer 1),e2=http://127.0.0.1:$(epeer 2),e3=http://127.0.0.1:$(epeer 3)"

etcd_start() {
    local n=$1
    etcd --name "e$n" --data-dir "$E/e$n" \
        --listen-client-urls "http://127.0.0.1:$(ecli "$n")" \
        --advertise-client-urls "http://127.0.0.1:$(ecli "$n")" \
        --listen-peer-urls "http://127.0.0.1:$(epeer "$n")" \
        --initial-advertise-peer-urls "http://127.0.0.1:$(epeer "$n")" \
        --initial-cluster "$ECLUSTER" --initial-cluster-state new \
        --initial-cluster-token "sb-$$" --logger zap --log-level error \
        </dev/null >>"$E/e$n.log" 2>&1 &
    EPID[n]=$!
    ETCD_PIDS+=("$!")
    disown "$!"
}

# etcd_leader - the member number (1..3) that leads, from any live member
etcd_leader() {
    python3 - "$EBASE" <<'PY'
import json, sys, urllib.request
base = int(sys.argv[1])
ids = {}
leader = None
for n in (1, 2, 3):
    try:
        req = urllib.request.Request("http://127.0.0.1:%d/v3/maintenance/status" % (base + n),
                                     data=b"{}", method="POST")
        doc = json.load(urllib.request.urlopen(req, timeout=1))
    except Exception:
        continue
    ids[doc["header"]["member_id"]] = n
    leader = leader or doc.get("leader")
if leader in ids:
    print(ids[leader])
else:
    sys.exit(1)
PY
}

# etcd failover probe (the write load is bench/httpload.c)
cat >"$E/etcdload.py" <<'PY'
import base64, http.client, json, sys, threading, time
def b64(s):
    return base64.b64encode(s.encode()).decode()
def run(argv):
    if argv[0] == "failover":
        ports, t0, limit = [int(p) for p in argv[1].split(",")], float(argv[2]), 60.0
        i = 0
        while time.time() - t0 < limit:
            try:
                c = http.client.HTTPConnection("127.0.0.1", ports[i % len(ports)], timeout=2)
                c.request("POST", "/v3/kv/put", json.dumps({"key": b64("fo"), "value": b64("x")}))
                r = c.getresponse(); r.read(); c.close()
                if r.status == 200:
                    print(int((time.time() - t0) * 1000)); return 0
            except Exception:
                pass
            i += 1
            time.sleep(0.02)
        print("timeout"); return 1
    port, count, inflight = int(argv[0]), int(argv[1]), int(argv[2])
    lat, errs = [], [0]
    lock = threading.Lock()
    def worker(k, n):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(n):
            body = json.dumps({"key": b64("k%d" % k), "value": b64(str(i))})
            t0 = time.monotonic()
            try:
                c.request("POST", "/v3/kv/put", body); r = c.getresponse(); r.read()
                ok = r.status == 200
            except Exception:
                ok = False; c.close(); c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            t1 = time.monotonic()
            if ok: lat.append(t1 - t0)
            else:
                with lock: errs[0] += 1
    per = [count // inflight + (1 if i < count % inflight else 0) for i in range(inflight)]
    ts = [threading.Thread(target=worker, args=(i, per[i])) for i in range(inflight)]
    t0 = time.monotonic()
    for t in ts: t.start()
    for t in ts: t.join()
    secs = time.monotonic() - t0
    lat.sort()
    pct = lambda p: lat[min(len(lat) - 1, max(0, int(round(p / 100.0 * len(lat) + 0.5)) - 1))] if lat else 0
    print(json.dumps({"writes": len(lat), "conflicts": 0, "errors": errs[0], "seconds": round(secs, 3),
                      "rate": round(len(lat) / secs, 1), "p50_ms": round(pct(50) * 1000, 3),
                      "p99_ms": round(pct(99) * 1000, 3)}))
    return 0
sys.exit(run(sys.argv[1:]))
PY

jget() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) print "n/a"; else if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

declare -A R
etimes=()
stimes=()

if part etcd; then
    bench_log "etcd: starting 3 members (client ports $(ecli 1)-$(ecli 3))"
    declare -a EPID
    for n in 1 2 3; do etcd_start $n; done
    for ((i = 0; i < 100; i++)); do etcd_leader >/dev/null 2>&1 && break; sleep 0.2; done
    el=$(etcd_leader) || bench_die "etcd has no leader (see $E/e*.log)"
    for q in 1 16 64; do
        out=$("$HTTPLOAD" etcd "127.0.0.1:$(ecli "$el")" "$WRITES" "$q")
        bench_log "etcd  q=$q: $out"
        R[etcd.$q]=$out
    done
    if part failover; then
        for ((t = 1; t <= TRIALS; t++)); do
            el=$(etcd_leader) || bench_die "etcd lost its leader"
            ports=$(for n in 1 2 3; do [[ $n != "$el" ]] && echo -n "$(ecli $n),"; done)
            t0=$(date +%s.%N)
            kill -KILL "${EPID[$el]}"
            ms=$(python3 "$E/etcdload.py" failover "${ports%,}" "$t0")
            etimes+=("$ms")
            bench_log "etcd failover trial $t: leader e$el killed, write accepted after $ms ms"
            sleep 0.3
            # restart the killed member with its data (the initial-cluster flags are ignored then)
            etcd_start "$el"
            for ((i = 0; i < 100; i++)); do
                [[ $(etcd_leader 2>/dev/null) ]] && curl -fsS --max-time 1 "http://127.0.0.1:$(ecli "$el")/health" 2>/dev/null | grep -q true && break
                sleep 0.2
            done
        done
        R[etcd.failover]=$(printf '%s\n' "${etimes[@]}" | grep -v timeout | median)
    fi
    for pid in "${ETCD_PIDS[@]}"; do bench_stop_pid "$pid"; done
    ETCD_PIDS=()
fi

# ---------------------------------------------------------------- shoal raw

if part raw; then
    RB=$(mktemp -d /tmp/sb-rstore.XXXXXX)
    PKGS="libuv jansson libseccomp libprotobuf-c openssl zlib raft libnl-3.0 libnl-route-3.0 libnl-genl-3.0"
    [[ -f $SHOAL_BUILD/libcore.a ]] || bench_die "$SHOAL_BUILD/libcore.a missing (run make)"
    # shellcheck disable=SC2046,SC2086
    cc -std=gnu11 -O2 -D_GNU_SOURCE -iquote "$REPO_ROOT" -iquote "$REPO_ROOT/build/gen" \
        $(pkg-config --cflags $PKGS) "$here/rstore-bench.c" -o "$RB/rstore-bench" \
        "$SHOAL_BUILD/libcore.a" $(pkg-config --libs $PKGS libarchive) -lisal -lhttp_parser \
        -lpthread -ldl || bench_die "building rstore-bench failed"
    bench_log "shoal raw store commands: 3 processes on 127.0.0.1"
    mapfile -t raw < <("$RB/rstore-bench" "$RB" $((28000 + ($$ % 300) * 10)) "$RAW_WRITES" 2>"$RB/log")
    ((${#raw[@]} == 3)) || bench_die "rstore-bench failed: $(tail -5 "$RB/log")"
    for i in 0 1 2; do
        q=$(jget "${raw[i]}" inflight)
        bench_log "raw   q=$q: ${raw[i]}"
        R[raw.$q]=${raw[i]}
    done
    rm -rf "$RB"
fi

# ---------------------------------------------------------------- shoal API

if part api || part failover; then
    bench_log "shoal: 3 managers in network namespaces"
    CL_SHOALD_ARGS="--log-level info${CL_SHOALD_ARGS:+ $CL_SHOALD_ARGS}"
    cluster_setup_file 3 || bench_die "cluster set-up failed"
    [[ -z ${CL_SKIP:-} ]] || bench_die "$CL_SKIP"
    swarm_form 3 0 || bench_die "swarm did not form (see $T/h*/shoald.log)"
fi
if part api; then
    l=$(leader_of 1 2 3) || bench_die "no shoal leader"
    wt=$(on "$l" docker swarm join-token -q worker)
    nsenter --net="/run/netns/$(host_ns "$l")" python3 "$here/fakejoin.py" "$(host_addr "$l"):2377" \
        "$wt" 64 >"$T/bench.ids" || bench_die "fake joins failed"
    # wait until the leader has marked them Down (no status writes during the runs)
    for ((i = 0; i < 120; i++)); do
        d=$(on "$l" docker node ls --format '{{.Status}}' | grep -c '^Down$')
        ((d == 64)) && break
        sleep 0.5
    done
    ((d == 64)) || bench_die "the bench nodes were not marked Down ($d of 64)"
    ids=$(paste -sd, "$T/bench.ids")
    for q in 1 16 64; do
        l=$(leader_of 1 2 3) || bench_die "no shoal leader"
        perf=
        if [[ $q == 64 && -n ${RAFT_BENCH_PERF:-} ]]; then
            who=$l
            if [[ ${RAFT_BENCH_PERF_WHO:-leader} == follower ]]; then
                for who in 1 2 3; do [[ $who != "$l" ]] && break; done
            fi
            popts=(--call-graph "dwarf,16384" -p "$(host_pid "$who")")
            [[ ${RAFT_BENCH_PERF_ALL:-0} == 1 ]] && popts=(-a)
            perf record "${popts[@]}" -o "$RAFT_BENCH_PERF" 2>/dev/null &
            perf=$!
            sleep 0.5
        fi
        [[ $q == 64 && -n ${RAFT_BENCH_HOOK:-} ]] && { sleep 0.3; $RAFT_BENCH_HOOK "$(host_pid "$l")" >&2; } &
        out=$("$HTTPLOAD" shoal "unix:$T/h$l/s.sock" "$ids" "$WRITES" "$q")
        if [[ -n $perf ]]; then
            kill -INT "$perf"
            wait "$perf"
        fi
        bench_log "shoal q=$q: $out"
        R[shoal.$q]=$out
    done
fi
if part failover; then
    for ((t = 1; t <= TRIALS; t++)); do
        l=$(leader_of 1 2 3) || bench_die "shoal lost its leader"
        socks=$(for n in 1 2 3; do [[ $n != "$l" ]] && echo -n "$T/h$n/s.sock,"; done)
        t0=$(date +%s.%N)
        host_kill "$l"
        ms=$(python3 "$APILOAD" failover "${socks%,}" "$(cat "$T/h1/id")" "$t0")
        stimes+=("$ms")
        bench_log "shoal failover trial $t: leader h$l killed, write accepted after $ms ms"
        host_start "$l" || bench_die "h$l did not restart"
        wait_ready 3 "" 60 || bench_die "cluster did not recover"
    done
    R[shoal.failover]=$(printf '%s\n' "${stimes[@]}" | grep -v timeout | median)
fi

# ---------------------------------------------------------------- table

declare -A NAME=([raw]="shoal raw store commands" [shoal]="shoal Engine API (label update)"
    [etcd]="etcd 3.4 JSON API (put)")
row() {
    local j=${R[$1.$2]:-}
    [[ -n $j ]] || return 0
    printf '| %s | %s | %s | %s | %s |\n' "${NAME[$1]}" "$2" "$(jget "$j" p50_ms)" \
        "$(jget "$j" p99_ms)" "$(jget "$j" rate)"
}
ratio() {
    [[ -n $1 && -n $2 ]] || { echo n/a; return; }
    python3 -c 'import json,sys; print(round(json.loads(sys.argv[1])["rate"] / json.loads(sys.argv[2])["rate"], 1))' "$1" "$2"
}
echo
echo "## raft vs etcd ($(date -u +%Y-%m-%d), $(uname -r), $(nproc) cores; $RAW_WRITES raw / $WRITES API writes per level)"
echo
echo "| write path | in flight | p50 ms | p99 ms | writes/s |"
echo "|---|---|---|---|---|"
for q in 1 16 64; do row raw $q; row shoal $q; row etcd $q; done
echo
echo "at 64 in flight: raw store commands $(ratio "${R[raw.64]:-}" "${R[etcd.64]:-}")x etcd, Engine API $(ratio "${R[shoal.64]:-}" "${R[etcd.64]:-}")x etcd"
[[ -n ${R[raw.1]:-} ]] && bench_result raft.raw.p50_ms "$(jget "${R[raw.1]}" p50_ms)"
[[ -n ${R[raw.64]:-} ]] && bench_result raft.raw.rate64 "$(jget "${R[raw.64]}" rate)"
[[ -n ${R[shoal.64]:-} ]] && bench_result raft.api.rate64 "$(jget "${R[shoal.64]}" rate)"
[[ -n ${R[etcd.64]:-} ]] && bench_result raft.etcd.rate64 "$(jget "${R[etcd.64]}" rate)"
part failover || exit 0
echo
echo "| leader failover (SIGKILL -> write accepted) | median ms | trials |"
echo "|---|---|---|"
echo "| shoal | ${R[shoal.failover]} | ${stimes[*]} |"
echo "| etcd  | ${R[etcd.failover]} | ${etimes[*]} |"
bench_result raft.shoal.failover_ms "${R[shoal.failover]}"
bench_result raft.etcd.failover_ms "${R[etcd.failover]}"
