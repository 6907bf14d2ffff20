#!/bin/bash
# tests/lint.sh - static checks (`make lint`). Runs every part, prints what it
# checks, and fails at the end if any part failed.
#
#   1. clang-format --dry-run --Werror over the tracked *.c / *.h
#   2. cppcheck (warning, portability) over lib runtime node cli and the other modules
#   3. shellcheck over the shell scripts (and, at warning level, the bats suite)
#   4. clang-tidy with .clang-tidy, from a compile_commands.json made here
#   5. include rules: the module dependency direction of docs/DESIGN
#
# Environment:
#   LINT_ONLY="format deps"   run only these parts (format cppcheck shellcheck tidy deps)
#   LINT_UNTRACKED=1          also check untracked (not ignored) files, for local use
#   LINT_JOBS=N               parallel clang-tidy jobs (default: nproc)
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
GEN=build/gen
LINT_DIR=build/lint
JOBS=${LINT_JOBS:-$(nproc)}
FAILED=()

say() {
    printf '\n== %s\n' "$*"
}

fail() {
    echo "lint: FAIL: $*" >&2
    FAILED+=("$1")
}

want() {
    [[ -z ${LINT_ONLY:-} || " $LINT_ONLY " == *" $1 "* ]]
}

# files PATTERN... - tracked files (plus untracked ones with LINT_UNTRACKED=1)
files() {
    {
        git ls-files -- "$@"
        if [[ ${LINT_UNTRACKED:-0} == 1 ]]; then
            git ls-files --others --exclude-standard -- "$@"
        fi
    } | grep -v '^build/' | sort -u
}

C_DIRS=(lib runtime node cli overlaynet raft scheduler manager worker)

# The C sources of the modules (not the tests).
module_sources() {
    local d
    for d in "${C_DIRS[@]}"; do
        files "$d/*.c" "$d/**/*.c"
    done | sort -u
}

# Generated protobuf headers are needed by cppcheck and clang-tidy.
gen_protos() {
    local p targets=()
    for p in proto/*.proto; do
        [[ -e $p ]] || continue
        p=${p#proto/}
        targets+=("$GEN/proto/${p%.proto}.pb-c.h")
    done
    ((${#targets[@]})) || return 0
    make -s "${targets[@]}" >/dev/null
}

# ---------------------------------------------------------------- 1. format
lint_format() {
    local -a srcs
    mapfile -t srcs < <(files '*.c' '*.h')
    say "clang-format: ${#srcs[@]} C files must match .clang-format"
    ((${#srcs[@]})) || return 0
    if ! command -v clang-format >/dev/null; then
        fail format "clang-format not installed"
        return
    fi
    local f
    local -a bad=()
    for f in "${srcs[@]}"; do
        clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
    done
    if ((${#bad[@]})); then
        # the first diagnostics, then the list of files
        clang-format --dry-run --Werror "${bad[@]}" 2>&1 | head -n 30
        printf 'not formatted: %s\n' "${bad[@]}" >&2
        fail format "${#bad[@]} file(s) not formatted (fix with: make format)"
    fi
}

# ---------------------------------------------------------------- 2. cppcheck
lint_cppcheck() {
    local -a srcs
    mapfile -t srcs < <(module_sources)
    say "cppcheck --enable=warning,portability: ${#srcs[@]} files in ${C_DIRS[*]}"
    ((${#srcs[@]})) || return 0
    if ! command -v cppcheck >/dev/null; then
        fail cppcheck "cppcheck not installed"
        return
    fi
    gen_protos || {
        fail cppcheck "could not generate the protobuf headers"
        return
    }
    # System headers are not parsed (cppcheck models libc itself), so the
    # library macros that shape control flow are described here.
    mkdir -p "$LINT_DIR"
    cat >"$LINT_DIR/cppcheck-libs.cfg" <<'CFG'
<?xml version="1.0"?>
<def format="2">
  <define name="json_array_foreach(array, index, value)" value="for (index = 0; index &lt; json_array_size(array) &amp;&amp; ((value = json_array_get(array, index)), 1); index++)"/>
  <define name="json_object_foreach(object, key, value)" value="for (key = json_object_iter_key(json_object_iter(object)); key &amp;&amp; (value = json_object_iter_value(json_object_key_to_iter(key))); key = json_object_iter_key(json_object_iter_next(object, json_object_key_to_iter(key))))"/>
  <define name="json_object_foreach_safe(object, n, key, value)" value="for (key = json_object_iter_key(json_object_iter(object)), n = json_object_iter_next(object, json_object_key_to_iter(key)); key &amp;&amp; (value = json_object_iter_value(json_object_key_to_iter(key))); key = json_object_iter_key(n), n = json_object_iter_next(object, json_object_key_to_iter(key)))"/>
  <define name="PROTOBUF_C__BEGIN_DECLS" value=""/>
  <define name="PROTOBUF_C__END_DECLS" value=""/>
  <define name="PROTOBUF_C_VERSION_NUMBER" value="1004001"/>
  <define name="PROTOBUF_C_MIN_COMPILER_VERSION" value="1000000"/>
</def>
CFG
    # -D_GNU_SOURCE pins the one configuration we build.
    if ! cppcheck --error-exitcode=1 --enable=warning,portability --inline-suppr -q \
        --std=c11 --library="$LINT_DIR/cppcheck-libs.cfg" -D_GNU_SOURCE -D__linux__ \
        -I . -I "$GEN" -j "$JOBS" "${srcs[@]}"; then
        fail cppcheck "cppcheck found the problems above"
    fi
}

# ---------------------------------------------------------------- 3. shellcheck
lint_shellcheck() {
    local -a scripts bats
    mapfile -t scripts < <(files 'scripts/*.sh' 'tests/lib/*.sh' 'bench/*.sh' '.ci/run' 'tests/lint.sh')
    mapfile -t bats < <(files 'tests/integration/*.bats' 'tests/integration/*.bash' \
        'tests/cluster/*.bats' 'tests/cluster/*.bash' 'tests/compat/*.bats' 'tests/compat/*.bash')
    say "shellcheck: ${#scripts[@]} scripts (all levels), ${#bats[@]} bats files (warnings and errors)"
    if ! command -v shellcheck >/dev/null; then
        fail shellcheck "shellcheck not installed"
        return
    fi
    if ((${#scripts[@]})) && ! shellcheck -x "${scripts[@]}"; then
        fail shellcheck "shell scripts have the problems above"
    fi
    if ((${#bats[@]})) && ! shellcheck -x -S warning "${bats[@]}"; then
        fail shellcheck "bats files have the problems above"
    fi
}

# ---------------------------------------------------------------- 4. clang-tidy
# compile_commands.json from the Makefile's flags (no make -n parsing): one
# entry per module source, the monitor's main.c with -DSHOAL_MONITOR=1.
write_compile_commands() {
    local pkgs
    pkgs=$(pkg-config --cflags libuv jansson libseccomp libarchive libprotobuf-c openssl libcurl raft libnl-3.0 libnl-route-3.0 libnl-genl-3.0 libnftables 2>/dev/null)
    mkdir -p "$LINT_DIR"
    python3 - "$ROOT" "$GEN" "$pkgs" "$@" >"$LINT_DIR/compile_commands.json" <<'PY'
import json, shlex, sys
root, gen, pkgs, srcs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
base = ["cc", "-std=gnu11", "-D_GNU_SOURCE", "-iquote", ".", "-iquote", gen] + shlex.split(pkgs)
out = []
for f in srcs:
    args = list(base)
    if f == "runtime/monitor/main.c":
        args.append("-DSHOAL_MONITOR=1")
    out.append({"directory": root, "file": f, "arguments": args + ["-c", f]})
json.dump(out, sys.stdout, indent=1)
PY
}

lint_tidy() {
    local -a srcs
    mapfile -t srcs < <(module_sources)
    say "clang-tidy (checks from .clang-tidy): ${#srcs[@]} files, $JOBS jobs"
    ((${#srcs[@]})) || return 0
    if ! command -v clang-tidy >/dev/null; then
        fail tidy "clang-tidy not installed"
        return
    fi
    gen_protos || {
        fail tidy "could not generate the protobuf headers"
        return
    }
    write_compile_commands "${srcs[@]}"
    # one file per process, in parallel; output is printed per file
    if ! printf '%s\0' "${srcs[@]}" |
        xargs -0 -P "$JOBS" -n 1 clang-tidy --quiet -p "$LINT_DIR" 2>/dev/null; then
        fail tidy "clang-tidy found the problems above"
    fi
}

# ---------------------------------------------------------------- 5. include rules
# allowed MODULE - the modules a module may include (besides itself)
allowed() {
    case $1 in
    lib) echo "" ;;
    runtime | overlaynet | scheduler | raft) echo "lib proto" ;;
    worker | manager) echo "lib proto runtime overlaynet scheduler raft worker manager" ;;
    cli) echo "lib" ;;
    node) echo "*" ;;
    *) echo "*" ;;
    esac
}

lint_deps() {
    say "include rules: lib <- runtime, overlaynet, scheduler, raft <- worker, manager <- node; cli -> lib only"
    local f mod inc target ok n=0 nbad=0
    while IFS= read -r f; do
        mod=${f%%/*}
        ok=$(allowed "$mod")
        [[ $ok == "*" ]] && continue
        n=$((n + 1))
        while IFS= read -r inc; do
            # "dir/file.h" names a module; "file.h" is the module's own
            if [[ $inc == ../* || $inc == */../* ]]; then
                echo "$f: #include \"$inc\": no relative paths out of the module" >&2
                nbad=$((nbad + 1))
                continue
            fi
            [[ $inc == */* ]] || continue
            target=${inc%%/*}
            [[ $target == "$mod" ]] && continue
            if [[ " $ok " != *" $target "* ]]; then
                echo "$f: #include \"$inc\": $mod/ must not depend on $target/ (allowed: ${ok:-nothing})" >&2
                nbad=$((nbad + 1))
            fi
        done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
    done < <(for d in "${C_DIRS[@]}"; do files "$d/*.c" "$d/*.h" "$d/**/*.c" "$d/**/*.h"; done | sort -u)
    echo "checked $n files"
    if ((nbad)); then
        fail deps "$nbad include(s) break the dependency direction"
    fi
}

want format && lint_format
want cppcheck && lint_cppcheck
want shellcheck && lint_shellcheck
want tidy && lint_tidy
want deps && lint_deps

echo
if ((${#FAILED[@]})); then
    echo "lint: FAILED: ${FAILED[*]}" >&2
    exit 1
fi
echo "lint: all checks passed"
