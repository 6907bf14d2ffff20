/*
 * runtime/monitor/user.c - resolve "user[:group]" inside the container.
 *
 * Runs in the setup child after pivot_root, so the files read are the
 * container's own. Plain file parsing, no NSS (never load container code).
 * Semantics follow runc's GetExecUser, which Docker users rely on:
 *   - a name must exist in passwd; a number need not (gid then 0, home "/");
 *   - a number also matches a passwd entry with that uid (for gid and home);
 *   - without an explicit group, supplementary groups are the group entries
 *     listing the user's name.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

#include "runtime/monitor/monitor.h"

#define MON_ID_MAX 0x7fffffffu

static bool parse_id(const char *s, size_t len, uint32_t *ret)
{
    uint64_t v = 0;

    if (len == 0 || len > 10)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > MON_ID_MAX)
        return false;
    *ret = (uint32_t)v;
    return true;
}

/* Split one line into at most n ':' separated fields (pointers + lengths). */
static size_t split_fields(const char *line, size_t len, const char **f, size_t *fl, size_t n)
{
    size_t k = 0;
    const char *start = line;

    for (size_t i = 0; i <= len && k < n; i++) {
        if (i == len || line[i] == ':') {
            f[k] = start;
            fl[k] = (size_t)(line + i - start);
            k++;
            start = line + i + 1;
        }
    }
    return k;
}

static bool field_eq(const char *f, size_t fl, const char *s, size_t sl)
{
    return fl == sl && memcmp(f, s, sl) == 0;
}

/* Iterate lines of a file text: returns false at the end. Skips comments. */
static bool next_line(const char **pos, const char **line, size_t *len)
{
    const char *p = *pos;

    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);

        *pos = nl ? nl + 1 : p + l;
        while (l > 0 && (p[l - 1] == '\r' || p[l - 1] == ' ' || p[l - 1] == '\t'))
            l--;
        if (l > 0 && p[0] != '#') {
            *line = p;
            *len = l;
            return true;
        }
        p = *pos;
    }
    return false;
}

/* Does the comma list (members of a group) contain name? */
static bool list_has(const char *list, size_t len, const char *name, size_t nlen)
{
    size_t start = 0;

    for (size_t i = 0; i <= len; i++) {
        if (i == len || list[i] == ',') {
            const char *m = list + start;
            size_t ml = i - start;

            while (ml > 0 && (*m == ' ')) {
                m++;
                ml--;
            }
            while (ml > 0 && m[ml - 1] == ' ')
                ml--;
            if (field_eq(m, ml, name, nlen))
                return true;
            start = i + 1;
        }
    }
    return false;
}

int mon_user_resolve(const char *spec, const char *passwd, const char *group, struct mon_user *ret,
                     struct err *err)
{
    const char *colon;
    const char *ustr, *gstr = NULL;
    size_t ulen, glen = 0;
    uint32_t num = 0;
    bool unum, found = false;
    char uname[256] = "";
    const char *pos, *line;
    size_t len;

    memset(ret, 0, sizeof(*ret));
    strcpy(ret->home, "/");
    if (!spec)
        spec = "";
    colon = strchr(spec, ':');
    ustr = spec;
    ulen = colon ? (size_t)(colon - spec) : strlen(spec);
    if (colon) {
        gstr = colon + 1;
        glen = strlen(gstr);
        if (glen == 0)
            gstr = NULL;
    }
    if (ulen == 0) {
        ustr = "0";
        ulen = 1;
    }
    unum = parse_id(ustr, ulen, &num);

    pos = passwd;
    while (next_line(&pos, &line, &len)) {
        const char *f[7];
        size_t fl[7];
        uint32_t uid, gid;

        if (split_fields(line, len, f, fl, 7) < 4)
            continue;
        if (!parse_id(f[2], fl[2], &uid) || !parse_id(f[3], fl[3], &gid))
            continue;
        if (!field_eq(f[0], fl[0], ustr, ulen) && !(unum && uid == num))
            continue;
        ret->uid = uid;
        ret->gid = gid;
        if (fl[0] < sizeof(uname)) {
            memcpy(uname, f[0], fl[0]);
            uname[fl[0]] = 0;
        }
        ret->home[0] = 0;
        if (fl[5] > 0 && fl[5] < sizeof(ret->home)) {
            memcpy(ret->home, f[5], fl[5]);
            ret->home[fl[5]] = 0;
        } else {
            strcpy(ret->home, "/");
        }
        found = true;
        break;
    }
    if (!found) {
        if (!unum)
            return err_set(err, -ENOENT,
                           "unable to find user %.*s: no matching entries in passwd file",
                           (int)(ulen > 200 ? 200 : ulen), ustr);
        ret->uid = num;
        ret->gid = 0;
    }

    if (gstr) {
        bool gnum = parse_id(gstr, glen, &num);

        found = false;
        pos = group;
        while (next_line(&pos, &line, &len)) {
            const char *f[4];
            size_t fl[4];
            uint32_t gid;

            if (split_fields(line, len, f, fl, 4) < 3 || !parse_id(f[2], fl[2], &gid))
                continue;
            if (field_eq(f[0], fl[0], gstr, glen) || (gnum && gid == num)) {
                ret->gid = gid;
                found = true;
                break;
            }
        }
        if (!found) {
            if (!gnum)
                return err_set(err, -ENOENT,
                               "unable to find group %.*s: no matching entries in group file",
                               (int)(glen > 200 ? 200 : glen), gstr);
            ret->gid = num;
        }
        return 0;
    }

    if (!uname[0])
        return 0;
    pos = group;
    while (next_line(&pos, &line, &len)) {
        const char *f[4];
        size_t fl[4];
        uint32_t gid;
        bool dup = false;

        if (split_fields(line, len, f, fl, 4) < 4 || !parse_id(f[2], fl[2], &gid))
            continue;
        if (!list_has(f[3], fl[3], uname, strlen(uname)))
            continue;
        for (size_t i = 0; i < ret->ngroups; i++)
            dup = dup || ret->groups[i] == gid;
        if (dup)
            continue;
        if (ret->ngroups == MON_MAX_GROUPS)
            break;
        ret->groups[ret->ngroups++] = gid;
    }
    return 0;
}

int mon_user_resolve_at(int dirfd, const char *spec, struct mon_user *ret, struct err *err)
{
    cleanup_free char *passwd = NULL;
    cleanup_free char *group = NULL;
    int r;

    r = read_file_at(dirfd, "etc/passwd", &passwd, NULL, 16 << 20);
    if (r < 0 && r != -ENOENT && r != -ENOTDIR)
        return err_set(err, r, "read /etc/passwd: %s", strerror(-r));
    r = read_file_at(dirfd, "etc/group", &group, NULL, 16 << 20);
    if (r < 0 && r != -ENOENT && r != -ENOTDIR)
        return err_set(err, r, "read /etc/group: %s", strerror(-r));
    return mon_user_resolve(spec, passwd, group, ret, err);
}
