#!/usr/bin/env bats
# tests/cluster/65-service-compat.bats - the stock docker CLI's service and
# stack commands against shoald, compared with the golden transcripts recorded
# against a single-node Engine 20.10.24 swarm (issue 5; reference next to the
# repository, COMPAT_REF to move it). The same comparison as
# tests/compat/compat.bats (tools/recproxy.py, tools/render.py, compare.py:
# exit code, CLI output, request sequence, status codes, JSON field
# names/types), on ONE shoald host in its own network namespace:
#
#   - the host is renamed "vm" (the reference's hostname) before swarm init,
#     so NODE columns and log prefixes compare;
#   - Debian's docker-registry runs inside the host's namespace on
#     127.0.0.1:5111 holding bb as ref-pull:latest (pushed through shoald), so
#     the CLI's GET /distribution calls succeed as they did in the reference;
#   - swarm ids (25 characters) and task/service ids cut to 12 characters are
#     base-36, which compare.py does not normalise: swcompat() rewrites them to
#     <SWID> in request lines and CLI output on both sides first;
#   - polling loops (--detach=false progress) run for a different number of
#     rounds; render.py elides every occurrence of a repeated request but the
#     first two and the last, so the sequences compare, and CLI outputs of
#     polling commands are compared with --mode shape (distinct lines, digits
#     ignored) or, where the reference cut its output, line by line up to
#     where it was cut.
# The tests run in order and build the state the reference had (ref-* names).
#
# Known gaps of shoald's API, tolerated with --gap by the tests they affect
# (everything else in those replies is still compared; SVC_COMPAT_STRICT=1
# tolerates nothing):
#   VIP   services attached to a network or publishing ingress ports have no
#         Endpoint.VirtualIPs (shoald allocates no service virtual IPs)
#   NA    tasks of such services have no NetworksAttachments (the networks
#         and addresses the task's container is attached to)
#   NETV  GET /networks/ID?scope=swarm gives the cluster's view of an overlay
#         network (Containers and Labels null, no Peers), the reference the
#         node-local one (its task containers, the lb endpoint, the peers)
GAP_VIP='Endpoint\.VirtualIPs: missing'
GAP_NA='\.NetworksAttachments: missing'
GAP_NETV='^  GET /networks/<SWID>\?scope: \.(Containers|Labels|Peers)'

load lib

COMPAT_REF=${COMPAT_REF:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)/../shared/reference/docker-api}
COMPARE=$BATS_TEST_DIRNAME/../compat/compare.py
REG_BIN=${REG_BIN:-/usr/bin/docker-registry}
REF_IMG=127.0.0.1:5111/ref-pull:latest

setup_file() {
    if [[ ! -d $COMPAT_REF/transcripts ]]; then
        _cl_skip "no reference transcripts at $COMPAT_REF"
        return 0
    fi
    if [[ ! -x $REG_BIN ]]; then
        _cl_skip "no $REG_BIN (Debian's docker-registry)"
        return 0
    fi
    cluster_setup_file 1 || return 1
    [[ -n ${CL_SKIP:-} ]] && return 0
    # the reference node was called "vm"; shoald reads the hostname when it
    # describes its node, i.e. at swarm init
    nsenter --uts --target "$(host_pid 1)" hostname vm || return 1
    on 1 docker swarm init --advertise-addr "$(host_addr 1)" >/dev/null || return 1
    reg_start || return 1
    local bb
    bb=$("$REPO_ROOT/tests/lib/mkrootfs.sh" "$REPO_ROOT/build/test/bb.tar") || return 1
    on 1 docker import "$bb" bb:latest >/dev/null || return 1
    on 1 docker tag bb:latest "$REF_IMG" || return 1
    on 1 docker push "$REF_IMG" >/dev/null || return 1
    on 1 docker network create --driver overlay ref-ovl >/dev/null || return 1
    write_compose
}

teardown_file() {
    if [[ -n ${T:-} && -s $T/reg/pid ]]; then
        kill "$(<"$T/reg/pid")" 2>/dev/null || true
        _wait_gone "$(<"$T/reg/pid")" 5 || kill -KILL "$(<"$T/reg/pid")" 2>/dev/null || true
        rm -f "$T/reg/pid"
    fi
    if [[ -n ${T:-} && -z ${CL_SKIP:-} && -S $T/h1/s.sock ]]; then
        on 1 docker service rm ref-web ref-glob ref-nodigest ref-stk_web ref-stk_worker \
            >/dev/null 2>&1 || true
        retry 60 0.5 no_task_containers || true
    fi
    cluster_down
}

# reg_start - docker-registry on 127.0.0.1:5111 inside host 1's namespace
reg_start() {
    mkdir -p "$T/reg/store"
    cat >"$T/reg/config.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $T/reg/store
  delete:
    enabled: true
http:
  addr: 127.0.0.1:5111
YML
    nsenter --net="/run/netns/$(host_ns 1)" "$REG_BIN" serve "$T/reg/config.yml" \
        </dev/null >>"$T/reg/log" 2>&1 3>&- &
    echo $! >"$T/reg/pid"
    disown
    retry 50 0.1 nsenter --net="/run/netns/$(host_ns 1)" \
        curl -s -o /dev/null http://127.0.0.1:5111/v2/
}

# the compose file of the reference's stack (as its requests show it)
write_compose() {
    cat >"$T/compose.yml" <<'YML'
version: "3.8"
services:
  web:
    image: 127.0.0.1:5111/ref-pull:latest
    command: ["httpd", "-f", "-p", "80"]
    environment:
      - MODE=prod
    ports:
      - "8081:80"
    deploy:
      replicas: 2
      resources:
        limits:
          memory: 64M
      restart_policy:
        condition: on-failure
      update_config:
        parallelism: 1
        delay: 2s
    networks:
      - front
  worker:
    image: 127.0.0.1:5111/ref-pull:latest
    command: ["sh", "-c", "while true; do echo work; sleep 2; done"]
    deploy:
      mode: global
    networks:
      - front
networks:
  front:
    driver: overlay
    attachable: true
YML
}

no_task_containers() {
    [[ -z $(on 1 docker ps -aq --filter label=com.docker.swarm.task.id 2>/dev/null) ]]
}

# replicas_are SERVICE X/Y
replicas_are() {
    [[ $(on 1 docker service ls --filter "name=$1" --format '{{.Name}} {{.Replicas}}' |
        grep "^$1 ") == "$1 $2" ]]
}

# mid_rollback - `docker service ps ref-web` shows a task Ready/Ready and an
# old one Shutdown/Running (the rollback of the last slot under way)
mid_rollback() {
    local out
    out=$(on 1 docker service ps ref-web) || return 1
    grep -Eq ' Ready +Ready ' <<<"$out" && grep -Eq ' Shutdown +Running ' <<<"$out"
}

# swnorm FILE [IDFILE...] - in request lines, the ids of services whose replies show
# their names become the names (the CLI fetches a stack's services in the
# order of random ids); then base-36 swarm ids (25 characters, or 12 when the
# CLI cuts them) named by a reply's "ID" or with at least one digit, in
# request lines and CLI output, become <SWID> (IDFILEs: more replies to
# take ids from)
swnorm() {
    python3 - "$@" <<'PY'
import re, sys
p = sys.argv[1]
txt = open(p, encoding="utf-8", errors="replace").read().split("\n")
ids = list(txt)
for q in sys.argv[2:]:
    ids += open(q, encoding="utf-8", errors="replace").read().split("\n")
# services named in reply bodies ("ID": ..., then "Name": ... of the Spec)
names, last = {}, None
for ln in txt:
    m = re.match(r'\s*"ID": "([0-9a-z]{25})"', ln)
    if m:
        last = m.group(1)
    m = re.match(r'\s*"Name": "(ref-[^"]*)"', ln)
    if m and last:
        names.setdefault(last, m.group(1))
        last = None
ID = re.compile(r"(?<![0-9a-z])(?=[0-9a-z]*[0-9])(?=[0-9a-z]*[a-z])([0-9a-z]{25}|[0-9a-z]{12})(?![0-9a-z])")
# ids the replies name ("ID": ...) become <SWID> even without a digit (one
# 12-character prefix in 50 or so has none)
known = set()
for ln in ids:
    for m in re.finditer(r'"ID": "([0-9a-z]{25})"', ln):
        known.add(m.group(1))
        known.add(m.group(1)[:12])
TOK = re.compile(r"(?<![0-9a-z])([0-9a-z]{25}|[0-9a-z]{12})(?![0-9a-z])")
out = []
for ln in txt:
    if ln.startswith(">>> "):
        for k, v in names.items():
            ln = ln.replace("/services/" + k, "/services/" + v)
    if ln.startswith(">>> ") or ln.startswith("#   |") or not p.endswith(".txt"):
        ln = TOK.sub(lambda m: "<SWID>" if m.group(1) in known else m.group(1), ln)
        ln = ID.sub("<SWID>", ln)
    out.append(ln)
open(p, "w", encoding="utf-8").write("\n".join(out))
PY
}

# sort_lists FILE - JSON array replies listing services are put in name
# order, tasks with slots before those without, on both sides: compare.py merges the fields of array elements only
# at the top level, so with elements of different kinds (a replicated and a
# global service) the result would depend on the order of random ids
sort_lists() {
    python3 - "$1" <<'PY'
import json, sys
p = sys.argv[1]
lines = open(p, encoding="utf-8", errors="replace").read().split("\n")
out, i = [], 0
while i < len(lines):
    out.append(lines[i])
    if not lines[i].startswith("    [response body"):
        i += 1
        continue
    j = i + 1
    while j < len(lines) and lines[j].startswith("    "):
        j += 1
    body = lines[i + 1:j]
    try:
        v = json.loads("\n".join(body))
    except ValueError:
        v = None
    if (isinstance(v, list) and len(v) > 1 and
            all(isinstance(x, dict) and isinstance(x.get("Spec"), dict) and "Name" in x["Spec"]
                for x in v)):
        v.sort(key=lambda x: x["Spec"]["Name"])
        body = ["    " + x for x in json.dumps(v, indent=2).split("\n")]
    elif (isinstance(v, list) and len(v) > 1 and
            all(isinstance(x, dict) and "ServiceID" in x for x in v)):
        # tasks: replicated ones (with a slot) first, as the reference's ids had it
        v.sort(key=lambda x: ("Slot" not in x, x.get("Slot", 0)))
        body = ["    " + x for x in json.dumps(v, indent=2).split("\n")]
    out += body
    i = j
open(p, "w", encoding="utf-8").write("\n".join(out))
PY
}

# gap_filter REPORT RE... - compare.py's report without the problems matching
# one of RE (known gaps of shoald, named by each test that tolerates them and
# listed in the header of this file); fails when any other problem is left.
# SVC_COMPAT_STRICT=1 tolerates nothing.
gap_filter() {
    python3 - "$@" <<'PY'
import re, sys
rep, gaps = sys.argv[1], sys.argv[2:]
left, tolerated = [], []
for ln in open(rep).read().split("\n"):
    if ln.startswith("  ") and not ln.startswith("    "):
        (tolerated if any(re.search(g, ln) for g in gaps) else left).append(ln)
    elif ln.startswith("    ") and left:
        left.append(ln)
for ln in tolerated:
    print("known gap (tolerated):" + ln)
if left:
    print(open(rep).read())
    sys.exit(1)
print("MATCHES apart from the known gaps above")
PY
}

# swcompat NAME [compare.py options...] -- COMMAND
# Like compat() in tests/compat/compat.bats: COMMAND (a bash string with the
# transcript's command line) runs through the recording proxy against host 1;
# the rendering is compared with transcripts/NAME.txt after swnorm on both.
# SWCOMPAT_TTY=1 runs COMMAND under a pseudo-terminal (script(1)).
swcompat() {
    local name=$1 i ex rc proxy sock=$T/rec.sock
    shift
    local -a opts=() gaps=()
    while [[ $# -gt 0 && $1 != -- ]]; do
        if [[ $1 == --gap ]]; then
            gaps+=("$2")
            shift 2
            continue
        fi
        opts+=("$1")
        shift
    done
    shift
    rm -f "$sock"
    python3 "$COMPAT_REF/tools/recproxy.py" "$sock" "$T/h1/s.sock" "$T/$name.jsonl" 3>&- &
    proxy=$!
    for ((i = 0; i < 100; i++)); do
        [[ -S $sock ]] && break
        sleep 0.05
    done
    ex=0
    if [[ ${SWCOMPAT_TTY:-0} == 1 ]]; then
        DOCKER_HOST=unix://$sock timeout -k 5 120 script -qefc "$1" /dev/null \
            </dev/null >"$T/$name.out" 2>&1 || ex=$?
    else
        DOCKER_HOST=unix://$sock timeout -k 5 120 bash -c "$1" >"$T/$name.out" 2>&1 || ex=$?
    fi
    sleep 0.2 # late bytes of closing connections
    kill "$proxy" 2>/dev/null || true
    wait "$proxy" 2>/dev/null || true
    python3 "$COMPAT_REF/tools/render.py" "$T/$name.jsonl" >"$T/$name.txt"
    cp "$COMPAT_REF/transcripts/$name.txt" "$T/$name.ref.txt"
    cp "$T/$name.out" "$T/$name.out.n"
    swnorm "$T/$name.ref.txt"
    swnorm "$T/$name.txt"
    swnorm "$T/$name.out.n" "$T/$name.txt"
    sort_lists "$T/$name.ref.txt"
    sort_lists "$T/$name.txt"
    rc=0
    python3 "$COMPARE" --exit "$ex" --output "$T/$name.out.n" "${opts[@]}" \
        "$T/$name.ref.txt" "$T/$name.txt" >"$T/$name.cmp" || rc=$?
    if [[ $rc == 1 && ${SVC_COMPAT_STRICT:-0} != 1 ]]; then
        rc=0
        gap_filter "$T/$name.cmp" "${gaps[@]}" || rc=$?
    else
        cat "$T/$name.cmp"
    fi
    if [[ $rc != 0 ]]; then
        echo "----- our CLI output (exit $ex):"
        head -n 40 "$T/$name.out"
        echo "----- our rendering: $T/$name.txt"
    fi
    return "$rc"
}

# ref_output NAME - the reference's CLI output block (the "#   |" lines up to
# the first line that is not one: compare.py's reading of it)
ref_output() {
    awk '/^# CLI output/ {on = 1; next} on && /^#   \|/ {print substr($0, 7); next} {if (on) exit}' \
        "$COMPAT_REF/transcripts/$1.txt"
}

# out_head NAME K - the first K lines of our CLI output are the reference's
# (normalised), for references whose output block was cut
out_head() {
    local name=$1 k=$2
    diff <(ref_output "$name" | head -n "$k" | sed 's/[[:space:]]*$//') \
        <(head -n "$k" "$T/$name.out" | sed 's/[[:space:]]*$//')
}

@test "service compat: service_create (attached progress under a terminal)" {
    # The reference ran under a terminal; its output block holds the service
    # id and the first cursor movements only (the transcript format cut it at
    # the first carriage return), so the output is checked here by hand.
    SWCOMPAT_TTY=1 swcompat service_create --gap "$GAP_VIP" --gap "$GAP_NA" --mode none -- \
        "stty rows 40 cols 120; docker service create --name ref-web --replicas 2 --constraint node.role==manager --publish 8080:80 --network ref-ovl --env FOO=bar --limit-memory 64M --restart-condition on-failure --update-parallelism 1 --update-delay 2s $REF_IMG httpd -f -p 80"
    head -n 1 "$T/service_create.out" | tr -d '\r' | grep -Eqx '[0-9a-z]{25}'
    grep -q 'overall progress: 2 out of 2 tasks' "$T/service_create.out"
    grep -q 'verify: Service .*converged' "$T/service_create.out"
}

@test "service compat: service_ls" {
    swcompat service_ls --gap "$GAP_VIP" -- 'docker service ls'
}

@test "service compat: service_inspect" {
    swcompat service_inspect --gap "$GAP_VIP" --mode json -- 'docker service inspect ref-web'
}

@test "service compat: service_inspect_pretty" {
    swcompat service_inspect_pretty --gap "$GAP_VIP" --gap "$GAP_NETV" -- 'docker service inspect --pretty ref-web'
}

@test "service compat: service_ps" {
    swcompat service_ps --gap "$GAP_VIP" --gap "$GAP_NA" -- 'docker service ps ref-web'
}

@test "service compat: service_scale" {
    swcompat service_scale --gap "$GAP_VIP" --gap "$GAP_NA" --mode shape -- 'docker service scale ref-web=3'
}

@test "service compat: service_update" {
    # the reference's output block stops after 40 lines (36 progress lines of
    # the 51 s update): the first five lines are compared, the rest by shape
    swcompat service_update --gap "$GAP_VIP" --gap "$GAP_NA" --mode none -- 'docker service update --env-add BAR=baz --update-delay 1s ref-web'
    out_head service_update 5
    grep -q '^verify: Service ref-web converged' "$T/service_update.out"
    # every slot's previous task is kept as history
    on 1 docker service ps ref-web >"$T/ps_after_update"
    cat "$T/ps_after_update"
    [ "$(grep -c ' Shutdown  *Shutdown ' "$T/ps_after_update")" -eq 3 ]
}

@test "service compat: service_rollback" {
    # the reference's original tasks had been shut down "about a minute"
    # before service_ps_history (its update took 51 s; ours is quicker)
    sleep 30
    swcompat service_rollback --gap "$GAP_VIP" -- 'docker service rollback --detach ref-web'
}

@test "service compat: service_inspect_during_rollback" {
    swcompat service_inspect_during_rollback --gap "$GAP_VIP" --mode json -- 'docker service inspect ref-web'
    grep -q '"State": "rollback_started"' "$T/service_inspect_during_rollback.out"
}

@test "service compat: service_ps_history" {
    # the reference caught the rollback at its last slot (the new task Ready,
    # the old one still stopping): wait for ours to reach the same point
    retry 240 0.25 mid_rollback
    # The CURRENT STATE ages of the reference follow its own timing (its
    # update took 51 s, its rollback started a minute later); the rows are
    # checked here by shape: three slots, the rolled-back one Ready with its
    # old task still Running, history rows under every slot.
    swcompat service_ps_history --gap "$GAP_VIP" --gap "$GAP_NA" --mode none -- 'docker service ps ref-web'
    local out=$T/service_ps_history.out
    head -n 1 "$out" | grep -Eq '^ID +NAME +IMAGE +NODE +DESIRED STATE +CURRENT STATE +ERROR +PORTS$'
    [ "$(grep -Ec '^[0-9a-z]{12} +ref-web\.[123] +127\.0\.0\.1:5111/ref-pull:latest +vm +(Running|Ready) ' "$out")" -eq 3 ]
    grep -Eq '^[0-9a-z]{12} +ref-web\.[123] .* vm +Ready +Ready ' "$out"
    grep -Eq '^[0-9a-z]{12} +\\_ ref-web\.[123] .* vm +Shutdown +Running ' "$out"
    [ "$(grep -Ec '^[0-9a-z]{12} +\\_ ref-web\.[123] .* vm +Shutdown +Shutdown ' "$out")" -ge 3 ]
}

@test "service compat: service_create_global_detach" {
    swcompat service_create_global_detach -- "docker service create --detach --mode global --name ref-glob --label ref-l=1 $REF_IMG sh -c 'i=0; while true; do echo tick\$i; echo warn\$i >&2; i=\$((i+1)); sleep 1; done'"
}

@test "service compat: service_logs" {
    retry 60 0.5 replicas_are ref-glob 1/1
    sleep 5
    swcompat service_logs --mode shape -- 'docker service logs --tail 3 ref-glob'
}

@test "service compat: service_logs_follow" {
    swcompat service_logs_follow --mode shape -- 'timeout -s INT 2.5 docker service logs -f --tail 1 ref-glob'
}

@test "service compat: service_create_unresolvable_image" {
    swcompat service_create_unresolvable_image -- 'docker service create --detach --name ref-nodigest 127.0.0.1:5112/ref-x:latest sleep 1'
    on 1 docker service rm ref-nodigest >/dev/null
}

@test "service compat: service_rm" {
    swcompat service_rm -- 'docker service rm ref-web ref-glob'
    retry 120 0.5 no_task_containers
}

@test "service compat: stack_deploy" {
    # the CLI walks the compose services in Go map order (random): compare sorted
    swcompat stack_deploy --skip-route '^GET /info$' --mode sorted --no-order -- "docker stack deploy -c $T/compose.yml ref-stk"
}

@test "service compat: stack_ls" {
    swcompat stack_ls --gap "$GAP_VIP" -- 'docker stack ls'
}

@test "service compat: stack_services" {
    retry 120 0.5 replicas_are ref-stk_web 2/2
    retry 60 0.5 replicas_are ref-stk_worker 1/1
    swcompat stack_services --gap "$GAP_VIP" -- 'docker stack services ref-stk'
}

@test "service compat: stack_ps" {
    # task ages and the order of equal rows depend on timing: compare the shape
    swcompat stack_ps --mode shape --gap "$GAP_VIP" --gap "$GAP_NA" -- 'docker stack ps ref-stk'
}

@test "service compat: stack_deploy_update" {
    swcompat stack_deploy_update --skip-route '^GET /info$' --mode sorted --no-order --gap "$GAP_VIP" -- "docker stack deploy -c $T/compose.yml ref-stk"
}

@test "service compat: stack_rm" {
    swcompat stack_rm --gap "$GAP_VIP" -- 'docker stack rm ref-stk'
    retry 120 0.5 no_task_containers
}
