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
};

enum mon_monitor_msg {
    MON_M_STDOUT = 101,
    MON_M_STDERR = 102,
    MON_M_STARTED = 103,
    MON_M_START_ERR = 104,
    MON_M_STATUS = 105,
    MON_M_EXIT = 106,
};

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

#endif
