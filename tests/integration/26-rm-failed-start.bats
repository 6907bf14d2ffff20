#!/usr/bin/env bats
# 26-rm-failed-start: `docker run --rm` containers whose start fails are
# removed completely: nothing stays under <data-root>/containers or in the
# exec root, and the daemon does not complain about files it could not
# remove (the monitor writes its exit record after it reported the failure,
# racing the removal).

load helpers

setup_file() { suite_setup_file; }
teardown_file() { suite_teardown_file; }
teardown() { suite_teardown; }

no_containers_left() {
    [ -z "$(docker ps -aq)" ]
}

@test "--rm containers whose start fails leave no files behind" {
    local -a pids=()
    local i p fails=0
    # both ways a start fails: exec of the command (reported once set-up is
    # done) and a mount error during set-up
    for ((i = 0; i < 12; i++)); do
        docker run --rm bb:latest /nonexistent >/dev/null 2>&1 &
        pids+=($!)
        docker run --rm --tmpfs /etc/hostname bb:latest true >/dev/null 2>&1 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do
        wait "$p" || fails=$((fails + 1))
    done
    [ "$fails" -eq 24 ]
    retry 50 0.2 no_containers_left
    run ls -A "$T/d/containers"
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    run bash -c "ls '$T/r' | grep -E '^[0-9a-f]{64}$'"
    [ -z "$output" ]
    run grep -E 'removing files of container|Directory not empty' "$DAEMON_LOG"
    [ "$status" -ne 0 ]
}
