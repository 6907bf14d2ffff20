/*
 * runtime/seccomp.c - parse a seccomp profile (our line format, documented
 * at the top of runtime/seccomp-default.profile), resolve it against the
 * capability mask, host architecture and kernel, and compile it to BPF with
 * libseccomp.
 *
 * Parsing is done completely (every line validated) before anything is
 * compiled, so a bad profile is rejected with the number of its first bad
 * line whatever the capability mask.
 */
#include "runtime/seccomp.h"

#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <seccomp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "lib/err.h"
#include "lib/macros.h"

/* Generated from runtime/seccomp-default.profile (see the Makefile). */
extern const char rt_seccomp__default_text[];

const char *rt_seccomp_default_profile(void)
{
    return rt_seccomp__default_text;
}

#define SC_MAX_WORDS 128
#define SC_MAX_COND  6
#define SC_MAX_ARCH  8

static const char *const cap_names[] = {
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
};

/* One parsed rule line. Names point into the parser's copy of the text. */
struct sc_rule {
    unsigned line;
    uint32_t action;
    bool enabled; /* all gates hold */
    const char **names;
    size_t n_names;
    struct scmp_arg_cmp cond[SC_MAX_COND];
    unsigned n_cond;
};

struct sc_profile {
    char *text; /* owned, split in place */
    uint32_t def_action;
    bool have_default;
    uint32_t compat[SC_MAX_ARCH]; /* compat arches for the native one */
    size_t n_compat;
    struct sc_rule *rules;
    size_t n_rules;
    size_t cap_rules;
};

/* What gates are evaluated against. */
struct sc_host {
    uint64_t caps;
    uint32_t arch; /* native libseccomp arch token */
    unsigned kmajor, kminor;
};

static void sc_profile_release(struct sc_profile *p)
{
    for (size_t i = 0; i < p->n_rules; i++)
        free(p->rules[i].names);
    free(p->rules);
    free(p->text);
    memset(p, 0, sizeof(*p));
}

static int parse_u64_any(const char *s, uint64_t *ret)
{
    char *end;

    if (!*s || *s == '-' || *s == '+' || isspace((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    *ret = strtoull(s, &end, 0);
    if (errno || *end)
        return -EINVAL;
    return 0;
}

static int parse_action(const char *w, uint32_t *ret)
{
    if (strcmp(w, "allow") == 0)
        *ret = SCMP_ACT_ALLOW;
    else if (strcmp(w, "kill") == 0)
        *ret = SCMP_ACT_KILL_PROCESS;
    else if (strcmp(w, "trap") == 0)
        *ret = SCMP_ACT_TRAP;
    else if (strcmp(w, "log") == 0)
        *ret = SCMP_ACT_LOG;
    else if (strncmp(w, "errno(", 6) == 0) {
        char num[16];
        size_t len = strlen(w + 6);
        uint64_t v;

        if (len < 2 || len > sizeof(num) || w[6 + len - 1] != ')')
            return -EINVAL;
        memcpy(num, w + 6, len - 1);
        num[len - 1] = '\0';
        if (parse_u64_any(num, &v) < 0 || v > 4095)
            return -EINVAL;
        *ret = SCMP_ACT_ERRNO((uint32_t)v);
    } else
        return -EINVAL;
    return 0;
}

static bool valid_syscall_name(const char *w)
{
    if (!*w || isdigit((unsigned char)*w))
        return false;
    for (; *w; w++) {
        if (!islower((unsigned char)*w) && !isdigit((unsigned char)*w) && *w != '_')
            return false;
    }
    return true;
}

static int cap_number(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++) {
        if (strcmp(cap_names[i], name) == 0)
            return (int)i;
    }
    return -1;
}

#define PERR(...) err_set(err, -EINVAL, "seccomp profile line " __VA_ARGS__)

/* "arg3" -> 3 */
static int parse_arg(const char *w, unsigned *ret)
{
    if (strncmp(w, "arg", 3) != 0 || w[3] < '0' || w[3] > '5' || w[4])
        return -EINVAL;
    *ret = (unsigned)(w[3] - '0');
    return 0;
}

static int parse_op(const char *w, enum scmp_compare *ret)
{
    static const struct {
        const char *s;
        enum scmp_compare op;
    } ops[] = {{"==", SCMP_CMP_EQ}, {"!=", SCMP_CMP_NE}, {"<", SCMP_CMP_LT},
               {"<=", SCMP_CMP_LE}, {">", SCMP_CMP_GT},  {">=", SCMP_CMP_GE}};

    for (size_t i = 0; i < ARRAY_SIZE(ops); i++) {
        if (strcmp(ops[i].s, w) == 0) {
            *ret = ops[i].op;
            return 0;
        }
    }
    return -EINVAL;
}

/* Conditions: w[0..n) after "if", up to "when" or the end. Returns words used. */
static int parse_conds(unsigned line, char **w, size_t n, struct sc_rule *r, struct err *err)
{
    size_t i = 0;

    for (;;) {
        struct scmp_arg_cmp *c;
        uint64_t v, mask;
        unsigned arg;
        enum scmp_compare op;

        if (r->n_cond == SC_MAX_COND)
            return PERR("%u: more than %d conditions", line, SC_MAX_COND);
        if (i >= n || parse_arg(w[i], &arg) < 0)
            return PERR("%u: expected arg0..arg5 after '%s'", line, i ? w[i - 1] : "if");
        c = &r->cond[r->n_cond];
        if (i + 1 < n && strcmp(w[i + 1], "&") == 0) {
            if (i + 4 >= n || parse_u64_any(w[i + 2], &mask) < 0 || strcmp(w[i + 3], "==") != 0 ||
                parse_u64_any(w[i + 4], &v) < 0)
                return PERR("%u: expected 'arg%u & <mask> == <value>'", line, arg);
            *c = (struct scmp_arg_cmp){
                .arg = arg, .op = SCMP_CMP_MASKED_EQ, .datum_a = mask, .datum_b = v};
            i += 5;
        } else {
            if (i + 2 >= n || parse_op(w[i + 1], &op) < 0)
                return PERR("%u: expected a comparison (== != < <= > >= or &) after 'arg%u'", line,
                            arg);
            if (parse_u64_any(w[i + 2], &v) < 0)
                return PERR("%u: bad number '%s'", line, w[i + 2]);
            *c = (struct scmp_arg_cmp){.arg = arg, .op = op, .datum_a = v, .datum_b = 0};
            i += 3;
        }
        r->n_cond++;
        if (i < n && strcmp(w[i], "and") == 0) {
            i++;
            continue;
        }
        return (int)i;
    }
}

/* Does a comma-separated arch list name the host arch? -EINVAL for unknown names. */
static int arch_list_has(char *list, uint32_t native)
{
    bool found = false;
    char *save = NULL;
    char *a;

    if (!*list)
        return -EINVAL;
    for (a = strtok_r(list, ",", &save); a; a = strtok_r(NULL, ",", &save)) {
        uint32_t tok = seccomp_arch_resolve_name(a);
        if (tok == 0)
            return -EINVAL;
        found = found || tok == native;
    }
    return found ? 1 : 0;
}

static int parse_gates(unsigned line, char **w, size_t n, const struct sc_host *h,
                       struct sc_rule *r, struct err *err)
{
    if (n == 0)
        return PERR("%u: 'when' needs at least one condition", line);
    for (size_t i = 0; i < n; i++) {
        char *g = w[i];
        bool neg = false;
        bool ok;

        if (*g == '!') {
            neg = true;
            g++;
        }
        if (strncmp(g, "cap=", 4) == 0) {
            int c = cap_number(g + 4);
            if (c < 0)
                return PERR("%u: unknown capability '%s'", line, g + 4);
            ok = (h->caps >> c) & 1;
        } else if (strncmp(g, "arch=", 5) == 0) {
            int has = arch_list_has(g + 5, h->arch);
            if (has < 0)
                return PERR("%u: unknown architecture in '%s'", line, w[i]);
            ok = has;
        } else if (!neg && strncmp(g, "minkernel=", 10) == 0) {
            unsigned maj, min;
            char end;
            if (sscanf(g + 10, "%u.%u%c", &maj, &min, &end) != 2)
                return PERR("%u: expected minkernel=<major>.<minor>, got '%s'", line, g);
            ok = h->kmajor > maj || (h->kmajor == maj && h->kminor >= min);
        } else {
            return PERR("%u: unknown condition '%s' (cap=, !cap=, arch=, !arch=, minkernel=)", line,
                        w[i]);
        }
        if (neg)
            ok = !ok;
        if (!ok)
            r->enabled = false;
    }
    return 0;
}

static int parse_rule(unsigned line, char **w, size_t n, const struct sc_host *h,
                      struct sc_profile *p, struct err *err)
{
    struct sc_rule r = {.line = line, .enabled = true};
    size_t i = 1;
    size_t first_name = 1;
    int k;

    if (parse_action(w[0], &r.action) < 0)
        return PERR("%u: unknown statement or action '%s'", line, w[0]);
    while (i < n && strcmp(w[i], "if") != 0 && strcmp(w[i], "when") != 0) {
        if (!valid_syscall_name(w[i]))
            return PERR("%u: bad syscall name '%s'", line, w[i]);
        i++;
    }
    if (i == first_name)
        return PERR("%u: '%s' needs at least one syscall name", line, w[0]);
    r.n_names = i - first_name;
    if (i < n && strcmp(w[i], "if") == 0) {
        size_t end = i + 1;
        while (end < n && strcmp(w[end], "when") != 0)
            end++;
        k = parse_conds(line, w + i + 1, end - i - 1, &r, err);
        if (k < 0)
            return k;
        if ((size_t)k != end - i - 1)
            return PERR("%u: unexpected '%s' in conditions", line, w[i + 1 + (size_t)k]);
        i = end;
    }
    if (i < n && strcmp(w[i], "when") == 0) {
        k = parse_gates(line, w + i + 1, n - i - 1, h, &r, err);
        if (k < 0)
            return k;
        i = n;
    }
    if (i != n)
        return PERR("%u: unexpected '%s'", line, w[i]);

    r.names = calloc(r.n_names, sizeof(*r.names));
    if (!r.names)
        return err_set(err, -ENOMEM, "out of memory");
    for (size_t j = 0; j < r.n_names; j++)
        r.names[j] = w[first_name + j];
    if (p->n_rules == p->cap_rules) {
        size_t ncap = p->cap_rules ? p->cap_rules * 2 : 64;
        struct sc_rule *nr = realloc(p->rules, ncap * sizeof(*nr));
        if (!nr) {
            free(r.names);
            return err_set(err, -ENOMEM, "out of memory");
        }
        p->rules = nr;
        p->cap_rules = ncap;
    }
    p->rules[p->n_rules++] = r;
    return 0;
}

static int parse_arches(unsigned line, char **w, size_t n, const struct sc_host *h,
                        struct sc_profile *p, struct err *err)
{
    uint32_t native;

    if (n < 2)
        return PERR("%u: 'arches' needs a native architecture", line);
    if (n - 2 > SC_MAX_ARCH)
        return PERR("%u: too many architectures", line);
    native = seccomp_arch_resolve_name(w[1]);
    if (native == 0)
        return PERR("%u: unknown architecture '%s'", line, w[1]);
    for (size_t i = 2; i < n; i++) {
        uint32_t a = seccomp_arch_resolve_name(w[i]);
        if (a == 0)
            return PERR("%u: unknown architecture '%s'", line, w[i]);
        if (native == h->arch)
            p->compat[p->n_compat++] = a;
    }
    return 0;
}

static int sc_parse(const char *text, const struct sc_host *h, struct sc_profile *p,
                    struct err *err)
{
    char *line;
    char *next;
    unsigned lineno = 0;

    memset(p, 0, sizeof(*p));
    p->def_action = SCMP_ACT_ERRNO(1);
    p->text = strdup(text);
    if (!p->text)
        return err_set(err, -ENOMEM, "out of memory");
    for (line = p->text; line; line = next) {
        char *w[SC_MAX_WORDS];
        size_t n = 0;
        char *save = NULL;
        char *tok;
        char *hash;
        int r = 0;

        lineno++;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        for (tok = strtok_r(line, " \t\r", &save); tok; tok = strtok_r(NULL, " \t\r", &save)) {
            if (n == SC_MAX_WORDS)
                return PERR("%u: more than %d words", lineno, SC_MAX_WORDS);
            w[n++] = tok;
        }
        if (n == 0)
            continue;
        if (strcmp(w[0], "default") == 0) {
            if (p->have_default)
                return PERR("%u: second 'default'", lineno);
            if (n != 2 || parse_action(w[1], &p->def_action) < 0)
                return PERR("%u: expected 'default <action>'", lineno);
            p->have_default = true;
        } else if (strcmp(w[0], "arches") == 0) {
            r = parse_arches(lineno, w, n, h, p, err);
        } else {
            r = parse_rule(lineno, w, n, h, p, err);
        }
        if (r < 0)
            return r;
    }
    return 0;
}

static int host_info(uint64_t cap_mask, struct sc_host *h, struct err *err)
{
    struct utsname u;

    h->caps = cap_mask;
    h->arch = seccomp_arch_native();
    if (uname(&u) < 0)
        return err_set(err, -errno, "seccomp: uname: %s", strerror(errno));
    if (sscanf(u.release, "%u.%u", &h->kmajor, &h->kminor) != 2)
        return err_set(err, -EINVAL, "seccomp: cannot parse kernel release '%s'", u.release);
    return 0;
}

/* libseccomp silently lets a later unconditional rule override an earlier one
 * with another action; in a profile that is almost certainly a mistake. */
static int sc_check_conflict(const struct sc_profile *p, size_t i, size_t j, struct err *err)
{
    const struct sc_rule *a = &p->rules[i];

    for (size_t k = 0; k < i; k++) {
        const struct sc_rule *b = &p->rules[k];

        if (!b->enabled || b->action == a->action || (a->n_cond && b->n_cond))
            continue;
        for (size_t m = 0; m < b->n_names; m++) {
            if (strcmp(b->names[m], a->names[j]) == 0)
                return err_set(err, -EINVAL,
                               "seccomp profile line %u: '%s' already has another action "
                               "(line %u)",
                               a->line, a->names[j], b->line);
        }
    }
    return 0;
}

static int sc_build(const struct sc_profile *p, scmp_filter_ctx ctx, struct err *err)
{
    int r;

    for (size_t i = 0; i < p->n_compat; i++) {
        r = seccomp_arch_add(ctx, p->compat[i]);
        if (r < 0 && r != -EEXIST)
            return err_set(err, r, "seccomp: add architecture %#x: %s", p->compat[i], strerror(-r));
    }
    for (size_t i = 0; i < p->n_rules; i++) {
        const struct sc_rule *rule = &p->rules[i];

        /* a rule repeating the default action is a no-op (libseccomp refuses it) */
        if (!rule->enabled || rule->action == p->def_action)
            continue;
        for (size_t j = 0; j < rule->n_names; j++) {
            int nr = seccomp_syscall_resolve_name(rule->names[j]);

            r = sc_check_conflict(p, i, j, err);
            if (r < 0)
                return r;
            if (nr == __NR_SCMP_ERROR)
                continue; /* unknown to this libseccomp: skipped */
            r = seccomp_rule_add_array(ctx, rule->action, nr, rule->n_cond,
                                       rule->n_cond ? rule->cond : NULL);
            if (r < 0)
                return err_set(err, r == -EEXIST ? -EINVAL : r,
                               "seccomp profile line %u: rule for '%s' rejected: %s", rule->line,
                               rule->names[j], strerror(-r));
        }
    }
    return 0;
}

static int sc_export(scmp_filter_ctx ctx, void **ret_bpf, size_t *ret_len, struct err *err)
{
    cleanup_close int fd = memfd_create("shoal-seccomp", MFD_CLOEXEC);
    struct stat st;
    void *buf;
    size_t off = 0;
    int r;

    if (fd < 0)
        return err_set(err, -errno, "seccomp: memfd_create: %s", strerror(errno));
    r = seccomp_export_bpf(ctx, fd);
    if (r < 0)
        return err_set(err, r, "seccomp: export BPF: %s", strerror(-r));
    if (fstat(fd, &st) < 0)
        return err_set(err, -errno, "seccomp: fstat: %s", strerror(errno));
    if (st.st_size <= 0 || st.st_size % 8 != 0 || st.st_size > (1 << 24))
        return err_set(err, -EIO, "seccomp: exported program has a bad size %jd",
                       (intmax_t)st.st_size);
    buf = malloc((size_t)st.st_size);
    if (!buf)
        return err_set(err, -ENOMEM, "out of memory");
    while (off < (size_t)st.st_size) {
        ssize_t n = pread(fd, (char *)buf + off, (size_t)st.st_size - off, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            r = n < 0 ? -errno : -EIO;
            free(buf);
            return err_set(err, r, "seccomp: read back BPF: %s", strerror(-r));
        }
        off += (size_t)n;
    }
    *ret_bpf = buf;
    *ret_len = off;
    return 0;
}

int rt_seccomp_compile(const char *profile, uint64_t cap_mask, void **ret_bpf, size_t *ret_len,
                       struct err *err)
{
    struct sc_profile p;
    struct sc_host h;
    scmp_filter_ctx ctx;
    int r;

    if (!ret_bpf || !ret_len)
        return err_set(err, -EINVAL, "seccomp: bad arguments");
    if (!profile)
        profile = rt_seccomp_default_profile();
    r = host_info(cap_mask, &h, err);
    if (r < 0)
        return r;
    r = sc_parse(profile, &h, &p, err);
    if (r < 0) {
        sc_profile_release(&p);
        return r;
    }
    ctx = seccomp_init(p.def_action);
    if (!ctx) {
        sc_profile_release(&p);
        return err_set(err, -ENOMEM, "seccomp: seccomp_init failed");
    }
    /* binary-tree syscall dispatch: fewer instructions run per syscall for a
     * profile with hundreds of entries */
    (void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
    r = sc_build(&p, ctx, err);
    if (r == 0)
        r = sc_export(ctx, ret_bpf, ret_len, err);
    seccomp_release(ctx);
    sc_profile_release(&p);
    return r;
}
