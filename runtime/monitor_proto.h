/*
 * runtime/monitor_proto.h - the wire protocol between shoald and a container
 * monitor (shoal-monitor), over the monitor's Unix stream socket
 * <state_dir>/mon.sock. Shared by both sides; libc only.
 *
 * Every message is a frame: 1 byte type, 4 bytes big-endian payload length,
 * payload. Payloads are at most MON_MAX_PAYLOAD bytes.
 *
 * Start-up handshake (shoald spawns the monitor with a status pipe as fd 3):
 *   the monitor sets the container up to just before execve, listens on
 *   mon.sock, then writes one line on fd 3 and closes it:
 *     "ok <monitor pid> <container pid>\n"  or  "err <message>\n"
 *   The launcher process exits 0 at once (the monitor is a forked, setsid'd
 *   child); read the status pipe for the outcome, not the exit status.
 *   Before "ok" the monitor has written <state_dir>/state.pb (RtState).
 *   After "err" it has written an RtExit to exit_path (exit_code 127 for
 *   "executable file not found" / "no such file or directory", 126 for
 *   "permission denied", 125 otherwise; error = the message) and cleaned up.
 *   The PATH lookup of args[0] happens before "ok", so a missing command is an
 *   "err" line, not a START_ERR (like runc create).
 *   mon.sock is a filesystem socket, mode 0600 in the 0700 state_dir. If
 *   "<state_dir>/mon.sock" is longer than sun_path, the monitor binds it via
 *   /proc/self/fd/<dirfd>/mon.sock; a client can connect the same way.
 *
 * On the socket, client -> monitor:
 *   MON_C_ATTACH   payload: 1 byte flags (MON_ATTACH_STDOUT|STDERR|STDIN).
 *                  From then on the client receives output frames. Output
 *                  produced before any attach is only in the log.
 *   MON_C_START    no payload: release the container to execve. Reply
 *                  MON_M_STARTED, or MON_M_START_ERR (payload: message) if
 *                  execve failed (the container is then gone: MON_M_EXIT follows).
 *                  Idempotent: a START after the start answers STARTED again;
 *                  several clients may wait for the same start.
 *   MON_C_SIGNAL   payload: 4 bytes BE signal number, sent to the container init.
 *                  Note the kernel rule for a PID-namespace init: only signals
 *                  it has a handler for are delivered (SIGKILL always), so
 *                  SIGTERM to e.g. `sleep` as PID 1 does nothing (as in Docker).
 *                  SIGKILL before START kills the created container; a later
 *                  START then gets START_ERR.
 *   MON_C_STDIN    payload: bytes for the container's stdin.
 *   MON_C_STDIN_EOF  close the container's stdin.
 *   MON_C_RESIZE   payload: 2+2 bytes BE rows, cols (tty only).
 *   MON_C_STATUS   no payload: reply MON_M_STATUS.
 *   MON_C_EXEC     payload: a packed RtExec (proto/runtime.proto). Starts a
 *                  process inside the running container; this connection owns
 *                  it and gets its frames (below). Several execs may run at
 *                  once, on one connection or many.
 *   MON_C_EXEC_STDIN      payload: exec id, then bytes for the exec's stdin.
 *   MON_C_EXEC_STDIN_EOF  payload: exec id. Closes the exec's stdin (ignored
 *                         with a tty).
 *   MON_C_EXEC_RESIZE     payload: exec id, then 2+2 bytes BE rows, cols.
 *   MON_C_EXEC_SIGNAL     payload: exec id, then 4 bytes BE signal number.
 *   An "exec id" in a payload is 1 byte length N (1..MON_EXEC_ID_MAX), then N
 *   bytes (see mon_put_exec_id/mon_get_exec_id). Unknown ids are ignored.
 *   Unknown message types are ignored. A frame longer than MON_MAX_PAYLOAD
 *   closes the connection.
 * monitor -> client:
 *   MON_M_STDOUT / MON_M_STDERR   payload: output bytes.
 *   MON_M_STARTED                 no payload.
 *   MON_M_START_ERR               payload: message text.
 *   MON_M_STATUS                  payload: "created" | "running" | "exited"
 *                                 ("exited": init reaped, output still draining).
 *   MON_M_EXIT                    payload: 4 bytes BE exit code (128+sig for
 *                                 signals), then 1 byte oom flag. Sent to every
 *                                 client after the output is drained (at most
 *                                 ~1 s after the init died) and after RtExit is
 *                                 written to exit_path; the monitor then
 *                                 flushes (bounded), closes all clients,
 *                                 removes the cgroup, mon.sock and state.pb,
 *                                 and exits.
 *   MON_M_EXEC_STARTED  exec id, 4 bytes BE host pid: the execve succeeded.
 *   MON_M_EXEC_ERR      exec id, 1 byte code (125 setup, 126 permission,
 *                       127 not found), message ("exec: \"x\": executable
 *                       file not found in $PATH"). MON_M_EXEC_EXIT follows.
 *   MON_M_EXEC_STDOUT / MON_M_EXEC_STDERR  exec id, output bytes (tty: only
 *                       STDOUT). Exec output is not logged.
 *   MON_M_EXEC_EXIT     exec id, 4 bytes BE exit code (128+sig for signals).
 *                       Last frame of an exec: sent once it is reaped and its
 *                       output drained (at most ~1 s after it died), also when
 *                       the container ends (execs die with the init).
 * Exec output is never dropped: while the owning connection has more than
 * MON_EXEC_OUT_HIGH bytes queued, the monitor stops reading the exec's output
 * (the exec blocks, as with a slow `docker exec` client). When the owning
 * connection closes, the exec's stdin is closed and its output discarded; it
 * keeps running.
 * Output to a client that does not read is buffered up to 1 MiB, then dropped
 * for that client (never blocks the container; the log file has everything).
 * With a tty there is only MON_M_STDOUT (the pty), and STDIN_EOF is ignored.
 * Signals to the monitor: SIGTERM/SIGINT are passed on to the container init,
 * SIGHUP is ignored.
 */
#ifndef RUNTIME_MONITOR_PROTO_H
#define RUNTIME_MONITOR_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define MON_MAX_PAYLOAD (64 * 1024)
#define MON_HDR_LEN     5
#define MON_SOCK_NAME   "mon.sock"

enum mon_client_msg {
    MON_C_ATTACH = 1,
    MON_C_START = 2,
    MON_C_SIGNAL = 3,
    MON_C_STDIN = 4,
    MON_C_STDIN_EOF = 5,
    MON_C_RESIZE = 6,
    MON_C_STATUS = 7,
    MON_C_EXEC = 8,
    MON_C_EXEC_STDIN = 9,
    MON_C_EXEC_STDIN_EOF = 10,
    MON_C_EXEC_RESIZE = 11,
    MON_C_EXEC_SIGNAL = 12,
};

enum mon_monitor_msg {
    MON_M_STDOUT = 101,
    MON_M_STDERR = 102,
    MON_M_STARTED = 103,
    MON_M_START_ERR = 104,
    MON_M_STATUS = 105,
    MON_M_EXIT = 106,
    MON_M_EXEC_STARTED = 107,
    MON_M_EXEC_ERR = 108,
    MON_M_EXEC_STDOUT = 109,
    MON_M_EXEC_STDERR = 110,
    MON_M_EXEC_EXIT = 111,
};

#define MON_EXEC_ID_MAX   64
#define MON_EXEC_OUT_HIGH (64 * 1024)

enum mon_attach_flags {
    MON_ATTACH_STDOUT = 1 << 0,
    MON_ATTACH_STDERR = 1 << 1,
    MON_ATTACH_STDIN = 1 << 2,
};

static inline void mon_put_hdr(unsigned char hdr[MON_HDR_LEN], uint8_t type, uint32_t len)
{
    hdr[0] = type;
    hdr[1] = (unsigned char)(len >> 24);
    hdr[2] = (unsigned char)(len >> 16);
    hdr[3] = (unsigned char)(len >> 8);
    hdr[4] = (unsigned char)len;
}

static inline uint32_t mon_get_u32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Write the exec id prefix (length byte + id, truncated to MON_EXEC_ID_MAX)
 * at p, which has room for 1 + MON_EXEC_ID_MAX bytes; returns its length. */
static inline size_t mon_put_exec_id(unsigned char *p, const char *id, size_t idlen)
{
    if (idlen > MON_EXEC_ID_MAX)
        idlen = MON_EXEC_ID_MAX;
    p[0] = (unsigned char)idlen;
    for (size_t i = 0; i < idlen; i++)
        p[1 + i] = (unsigned char)id[i];
    return 1 + idlen;
}

/* Parse the exec id prefix of a payload: returns the prefix length (the rest of
 * the payload follows it) and sets *id and *idlen, or 0 if malformed. */
static inline size_t mon_get_exec_id(const unsigned char *p, size_t len, const char **id,
                                     size_t *idlen)
{
    if (len < 1 || p[0] == 0 || p[0] > MON_EXEC_ID_MAX || len < 1 + (size_t)p[0])
        return 0;
    *id = (const char *)p + 1;
    *idlen = p[0];
    return 1 + (size_t)p[0];
}

#endif
