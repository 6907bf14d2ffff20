# tests/lib/common.bash - small tools shared by the bats harnesses
# (tests/integration/helpers.bash, tests/cluster/lib.bash). Needs DOCKER_BIN
# and SUITE_CMD_TIMEOUT set by the harness.

# The stock docker CLI, bounded (one hung request fails its test, exit 124).
docker() {
    timeout -k 5 "$SUITE_CMD_TIMEOUT" "$DOCKER_BIN" "$@"
}
export -f docker

# retry N DELAY CMD... - run CMD up to N times, sleeping DELAY between tries.
retry() {
    local n=$1 delay=$2 i
    shift 2
    for ((i = 1; i <= n; i++)); do
        if "$@"; then
            return 0
        fi
        ((i < n)) && sleep "$delay"
    done
    echo "retry: '$*' failed $n times" >&2
    return 1
}

# json_get KEY.PATH [FILE] - print a field of a JSON document (stdin or FILE);
# exits 1 if the input is not JSON or the field is missing. Uses python3, not jq
# (jq is not among the project's dependencies).
json_get() {
    python3 -c '
import json, sys
doc = json.load(open(sys.argv[2]) if len(sys.argv) > 2 else sys.stdin)
for k in filter(None, sys.argv[1].split(".")):
    doc = doc[int(k)] if isinstance(doc, list) else doc[k]
print(doc if isinstance(doc, str) else json.dumps(doc))
' "$@"
}

# pid_alive PID - true while any thread of PID is alive. A killed process's
# leader thread shows Z while its other threads are still exiting (and its
# sockets still open), so every thread is checked.
pid_alive() {
    local st t
    [[ -r /proc/$1/stat ]] || return 1
    for t in /proc/"$1"/task/*/stat; do
        st=$(sed -E 's/^.*\) (.).*/\1/' "$t" 2>/dev/null) || continue
        [[ -n $st && $st != Z ]] && return 0
    done
    return 1
}
