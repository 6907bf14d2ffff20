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
 *
 * On the socket, client -> monitor:
 *   MON_C_ATTACH   payload: 1 byte flags (MON_ATTACH_STDOUT|STDERR|STDIN).
 *                  From then on the client receives output frames. Output
 *                  produced before any attach is only in the log.
 *   MON_C_START    no payload: release the container to execve. Reply
 *                  MON_M_STARTED, or MON_M_START_ERR (payload: message) if
 *                  execve failed (the container is then gone: MON_M_EXIT follows).
 *   MON_C_SIGNAL   payload: 4 bytes BE signal number, sent to the container init.
 *   MON_C_STDIN    payload: bytes for the container's stdin.
 *   MON_C_STDIN_EOF  close the container's stdin.
 *   MON_C_RESIZE   payload: 2+2 bytes BE rows, cols (tty only).
 *   MON_C_STATUS   no payload: reply MON_M_STATUS.
 * monitor -> client:
 *   MON_M_STDOUT / MON_M_STDERR   payload: output bytes.
 *   MON_M_STARTED                 no payload.
 *   MON_M_START_ERR               payload: message text.
 *   MON_M_STATUS                  payload: "created" | "running".
 *   MON_M_EXIT                    payload: 4 bytes BE exit code (128+sig for
 *                                 signals), then 1 byte oom flag. Sent to every
 *                                 client after the output is drained; the
 *                                 monitor then closes all clients and exits.
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
