/*
 * runtime/monitor/monitor.h - internals of shoal-monitor (private to runtime/monitor/).
 *
 * The monitor is a single-threaded, libc-only static program. Its pieces:
 *   monitor.c  start-up (spec, cgroup, stdio, clone), the failure path and the exit path
 *   setup.c    the setup child: namespaces, mounts, pivot_root, user, security, execve
 *   fs.c       fd-relative path resolution inside the rootfs (no symlink escapes)
 *   loop.c     the poll loop: signals, the socket and its clients, stdio
 *   jsonlog.c  Docker json-file log writer (line splitting, escaping, rotation)
 *   user.c     "user[:group]" resolution from the container's passwd/group files
 *   exec.c     docker exec: per-exec state, its fds in the poll loop, its frames
 *
 * Errors follow the house convention: 0 or -errno, message in struct err.
 */
#ifndef RUNTIME_MONITOR_MONITOR_H
#define RUNTIME_MONITOR_MONITOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/buf.h"
#include "lib/err.h"

#include "proto/runtime.pb-c.h"
#include "runtime/cgroup.h"
#include "runtime/monitor_proto.h"

struct pollfd;
#define MON_EXEC_ID_MAX_ (MON_EXEC_ID_MAX + 1)

/* ---- user.c ------------------------------------------------------------- */

#define MON_MAX_GROUPS 64

struct mon_user {
    uid_t uid;
    gid_t gid;
    size_t ngroups;
    gid_t groups[MON_MAX_GROUPS]; /* supplementary groups from the group file */
    char home[256];               /* from passwd, "/" if unknown */
};

/* Resolve "user[:group]" (names or numbers) against the text of a passwd and a
 * group file (either may be NULL = empty). Empty user = root. Errors use
 * Docker's texts: "unable to find user NAME: no matching entries in passwd
 * file" (-ENOENT). */
int mon_user_resolve(const char *spec, const char *passwd, const char *group, struct mon_user *ret,
                     struct err *err);
/* Same, reading <dirfd>/etc/passwd and etc/group (missing files = empty). */
int mon_user_resolve_at(int dirfd, const char *spec, struct mon_user *ret, struct err *err);

/* ---- jsonlog.c ---------------------------------------------------------- */

enum mon_stream { MON_STREAM_STDOUT = 0, MON_STREAM_STDERR = 1 };

/* dockerd flushes a line without '\n' once it reaches this size */
#define MON_LOG_PARTIAL_MAX 16384

struct mon_jsonlog {
    int fd;
    char *path;
    uint64_t size;
    uint64_t max_size; /* 0 = no rotation */
    unsigned max_files;
    struct buf pending[2]; /* per stream: bytes after the last '\n' */
    struct buf line;       /* scratch for one encoded entry */
};

/* Append the JSON-escaped form of data (as a JSON string body, no quotes) to out:
 * control chars as \u00XX (\n \r \t short), '"' and '\\' escaped, <>& as
 * \u003c.. like Go's encoder, invalid UTF-8 replaced by U+FFFD. */
int mon_json_escape(struct buf *out, const void *data, size_t len);
/* Open (create, append) the log; path NULL or "" = no log (all calls no-ops). */
int mon_jsonlog_open(struct mon_jsonlog *l, const char *path, uint64_t max_size, unsigned max_files,
                     struct err *err);
/* Feed bytes of one stream; complete lines (and 16 KiB partials) are written. */
int mon_jsonlog_feed(struct mon_jsonlog *l, enum mon_stream s, const void *data, size_t len,
                     int64_t now_ns);
/* Write what is pending for the stream (EOF). */
int mon_jsonlog_flush(struct mon_jsonlog *l, enum mon_stream s, int64_t now_ns);
void mon_jsonlog_close(struct mon_jsonlog *l);

/* ---- fs.c --------------------------------------------------------------- */

/* "/proc/self/fd/N" for mount(2) and friends */
struct mon_fdpath {
    char s[32];
};
const char *mon_fdpath(struct mon_fdpath *p, int fd);

/* openat2() with RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS relative to rootfd. */
int mon_open_in_root(int rootfd, const char *path, int flags);
/* Resolve path inside the root (symlinks followed, confined to the root);
 * missing components are created (directories, the last one a directory if
 * want_dir, else an empty file). Returns an O_PATH fd or -errno. */
int mon_resolve_create(int rootfd, const char *path, bool want_dir);
/* Docker "init layer" semantics for our fixed targets (proc, dev, etc/hosts...):
 * walk from rootfd without following any symlink; a symlink or wrong type on the
 * way or at the end is replaced by a fresh directory (or empty file at the end
 * when !want_dir). Returns an O_PATH fd or -errno. */
int mon_ensure_replace(int rootfd, const char *path, bool want_dir);

/* ---- the monitor -------------------------------------------------------- */

#define MON_CLIENT_OUT_MAX (1024 * 1024) /* per-client pending output before dropping */
#define MON_STDIN_MAX      (1024 * 1024)

/* sync channel messages (SOCK_SEQPACKET, one message each) */
enum mon_sync_msg {
    MON_SYNC_GO = 'G',    /* P->C: in the cgroup, go on (sync 1) */
    MON_SYNC_START = 'S', /* P->C: execve now */
    MON_SYNC_READY = 'R', /* C->P: set up, waiting for START (sync 4) */
    MON_SYNC_TTY = 'T',   /* C->P: pty master attached with SCM_RIGHTS */
    MON_SYNC_ERROR = 'E', /* C->P: 1 byte exit code (125/126/127), then message */
};

struct mon_client {
    int fd;
    uint8_t attach;
    bool want_started; /* sent START, waiting for STARTED/START_ERR */
    bool dropped;      /* output was dropped at least once (slow client) */
    bool closing;      /* close once out is flushed */
    bool in_blocked;   /* an exec it feeds has a full stdin buffer: stop reading */
    struct buf in;
    struct buf out;
    size_t out_pos;
};

/* One docker exec (exec.c). The process is a child of the monitor, forked
 * straight into the container's PID namespace. */
struct mon_exec {
    char id[MON_EXEC_ID_MAX_];
    size_t idlen;
    struct mon_client *owner; /* NULL once that connection is gone */
    pid_t pid;
    int sync_fd; /* until the execve (EOF) or the error message */
    int in_fd, out_fd, err_fd, tty_fd;
    bool tty, started, failed, reaped, done;
    int wait_status;
    int64_t reaped_at_ns; /* monotonic */
    struct buf stdin_buf;
    size_t stdin_pos;
    bool stdin_eof;
};

struct mon {
    Shoal__Rt__RtSpec *spec;
    char *cg_path; /* "<cgroup_parent>/<id>" */
    enum rt_cgroup_mode cg_mode;
    bool cg_created;
    unsigned cap_last_cap;

    pid_t pid; /* container init, host pid */
    pid_t self_pid;
    int status_fd;  /* fd 3 until "ok"/"err" is written */
    int sync_fd;    /* monitor end of the sync socketpair */
    int netns_fd;   /* RT_NET_PATH */
    int devnull_fd; /* setup child: host /dev/null, verified 1:3 */
    int state_dirfd;

    /* child ends (closed in the monitor after clone) */
    int c_stdin, c_stdout, c_stderr, c_sync;
    /* monitor ends */
    int in_fd, out_fd, err_fd, tty_fd;

    int listen_fd, sig_fd;

    bool ready, start_sent, started, exited, stdin_eof, killed_before_start;
    int wait_status;
    int64_t started_at_ns, finished_at_ns;
    char *error; /* setup / exec error text */
    int error_code;

    struct mon_client **clients;
    size_t nclients;
    struct buf stdin_buf;
    size_t stdin_pos;
    struct mon_jsonlog log;
    char *rdbuf; /* MON_READ_CHUNK bytes */

    struct mon_exec **execs;
    size_t nexecs;
    int pidfd;         /* of the container init, for setns (exec) */
    bool pidns_joined; /* the monitor's children are born in the container's PID ns */
};

#define MON_READ_CHUNK 16384

/* monitor.c */
int mon_main(const char *spec_path);
void mon_write_state(struct mon *m);

/* setup.c: runs in the cloned child, never returns */
void mon_child_main(struct mon *m) __attribute__((noreturn));

/* loop.c */
int mon_loop(struct mon *m);
void mon_client_send(struct mon *m, struct mon_client *c, uint8_t type, const void *data,
                     size_t len, bool is_output);
/* Send to every client; is_output frames only to attached ones. */
void mon_broadcast(struct mon *m, uint8_t type, const void *data, size_t len, bool is_output,
                   uint8_t attach_flag);
void mon_clients_flush_close(struct mon *m, int timeout_ms);
/* Read the sync socket: exec EOF (-> STARTED) or the child's error message. */
void mon_handle_sync(struct mon *m);

/* setup.c: the exec child (forked by exec.c), never returns. fds: sync, stdin
 * (-1: the container's /dev/null), stdout, stderr (both -1 with a tty). */
void mon_exec_child_main(struct mon *m, const Shoal__Rt__RtExec *x, const int fds[4])
    __attribute__((noreturn));

/* exec.c */
#define MON_MAX_EXECS 200
/* A client frame of the exec family (MON_C_EXEC..MON_C_EXEC_SIGNAL). */
void mon_exec_request(struct mon *m, struct mon_client *c, uint8_t type, const unsigned char *p,
                      uint32_t len);
/* A reaped child: true if it was an exec. */
bool mon_exec_reaped(struct mon *m, pid_t pid, int status);
/* The client is going away: its execs lose their owner. */
void mon_exec_client_gone(struct mon *m, struct mon_client *c);
/* Before polling: mark clients whose exec stdin is full (in_blocked); returns
 * the number of pollfd slots mon_exec_poll may fill. */
size_t mon_exec_prepare(struct mon *m);
/* Fill pfd with the execs' fds; returns the count; *timeout_ms lowered for drains. */
size_t mon_exec_poll(struct mon *m, struct pollfd *pfd, int *timeout_ms);
/* Handle the revents of the n slots filled by mon_exec_poll, finish and free
 * the execs that are done. */
void mon_exec_dispatch(struct mon *m, const struct pollfd *pfd, size_t n);
/* The container is gone: report every remaining exec as ended. */
void mon_exec_finish_all(struct mon *m);

/* exit classification shared by both sides: 127 not found, 126 permission, 125 other */
int mon_exec_error_code(const char *msg);

#endif
