#include "lib/util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/macros.h"

bool id_is_hex(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

int id_new_hex(char out[ID_HEX_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[ID_HEX_LEN / 2];

    for (;;) {
        bool digits = true;
        size_t got = 0;

        while (got < sizeof(raw)) {
            ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return -errno;
            }
            got += (size_t)n;
        }
        for (size_t i = 0; i < sizeof(raw); i++) {
            out[2 * i] = hex[raw[i] >> 4];
            out[2 * i + 1] = hex[raw[i] & 15];
        }
        out[ID_HEX_LEN] = '\0';
        for (int i = 0; i < 12; i++)
            digits = digits && isdigit((unsigned char)out[i]);
        if (!digits)
            return 0;
    }
}

int64_t time_now_ns(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t time_mono_ns(void)
{
    struct timespec ts;

    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void time_fmt_rfc3339(int64_t ns, char out[40])
{
    struct tm tm;
    time_t secs;
    char date[32];

    if (ns <= 0) {
        strcpy(out, "0001-01-01T00:00:00Z");
        return;
    }
    secs = (time_t)(ns / 1000000000LL);
    (void)gmtime_r(&secs, &tm);
    (void)strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
    /* cannot truncate (date is at most 19 chars here); the check keeps gcc -Os quiet */
    if (snprintf(out, 40, "%s.%09lldZ", date, (long long)(ns % 1000000000LL)) < 0)
        out[0] = '\0';
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    /* Howard Hinnant's civil-date algorithm, proleptic Gregorian. */
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

int time_parse_rfc3339(const char *s, int64_t *ret_ns)
{
    int y, mo, d, h, mi, sec, consumed = 0;
    int64_t frac = 0;
    int64_t off = 0;
    const char *p;

    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &consumed) != 6 ||
        consumed != 19)
        return -EINVAL;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1)
        return -EINVAL;
    p = s + consumed;
    if (*p == '.') {
        int digits = 0;
        p++;
        while (isdigit((unsigned char)*p)) {
            if (digits < 9) {
                frac = frac * 10 + (*p - '0');
                digits++;
            }
            p++;
        }
        if (digits == 0)
            return -EINVAL;
        while (digits++ < 9)
            frac *= 10;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        int sign = *p == '-' ? -1 : 1;
        if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
            return -EINVAL;
        off = sign * (oh * 3600 + om * 60);
        p += 6;
    } else {
        return -EINVAL;
    }
    if (*p)
        return -EINVAL;
    if (y == 1 && mo == 1 && d == 1 && h == 0 && mi == 0 && sec == 0 && frac == 0) {
        *ret_ns = 0;
        return 0;
    }
    int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - off;
    /* int64 nanoseconds cover 1677..2262 */
    if (secs <= INT64_MIN / 1000000000LL + 1 || secs >= INT64_MAX / 1000000000LL - 1)
        return -ERANGE;
    *ret_ns = secs * 1000000000LL + frac;
    return 0;
}

void time_human_duration(int64_t ns, char *out, size_t outlen)
{
    int64_t s = ns / 1000000000LL;
    int64_t m = s / 60;
    int64_t h = (s + 1800) / 3600; /* go-units rounds to the nearest hour */

    /* The same buckets as Docker's go-units HumanDuration. */
    if (s < 1)
        (void)snprintf(out, outlen, "Less than a second");
    else if (s == 1)
        (void)snprintf(out, outlen, "1 second");
    else if (s < 60)
        (void)snprintf(out, outlen, "%lld seconds", (long long)s);
    else if (m == 1)
        (void)snprintf(out, outlen, "About a minute");
    else if (m < 60)
        (void)snprintf(out, outlen, "%lld minutes", (long long)m);
    else if (h == 1)
        (void)snprintf(out, outlen, "About an hour");
    else if (h < 48)
        (void)snprintf(out, outlen, "%lld hours", (long long)h);
    else if (h < 24 * 7 * 2)
        (void)snprintf(out, outlen, "%lld days", (long long)(h / 24));
    else if (h < 24 * 30 * 2)
        (void)snprintf(out, outlen, "%lld weeks", (long long)(h / 24 / 7));
    else if (h < 24 * 365 * 2)
        (void)snprintf(out, outlen, "%lld months", (long long)(h / 24 / 30));
    else
        (void)snprintf(out, outlen, "%lld years", (long long)(s / 3600 / 24 / 365));
}

int parse_u64(const char *s, uint64_t *ret)
{
    char *end;
    unsigned long long v;

    if (!s || !*s || !isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end)
        return -EINVAL;
    *ret = v;
    return 0;
}

int parse_i64(const char *s, int64_t *ret)
{
    char *end;
    long long v;

    if (!s || !*s)
        return -EINVAL;
    if (!isdigit((unsigned char)*s) && !((*s == '-' || *s == '+') && isdigit((unsigned char)s[1])))
        return -EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end)
        return -EINVAL;
    *ret = v;
    return 0;
}

int parse_size(const char *s, int64_t *ret_bytes)
{
    char num[64];
    size_t i = 0;
    double v;
    char *end;
    uint64_t mult = 1;
    const char *suf;

    if (!s)
        return -EINVAL;
    while (s[i] && (isdigit((unsigned char)s[i]) || s[i] == '.') && i < sizeof(num) - 1) {
        num[i] = s[i];
        i++;
    }
    num[i] = '\0';
    if (i == 0)
        return -EINVAL;
    errno = 0;
    v = strtod(num, &end);
    if (errno || *end || v < 0)
        return -EINVAL;
    suf = s + i;
    switch (tolower((unsigned char)*suf)) {
    case '\0':
        break;
    case 'b':
        mult = 1;
        suf++;
        break;
    case 'k':
        mult = 1ULL << 10;
        suf++;
        break;
    case 'm':
        mult = 1ULL << 20;
        suf++;
        break;
    case 'g':
        mult = 1ULL << 30;
        suf++;
        break;
    case 't':
        mult = 1ULL << 40;
        suf++;
        break;
    case 'p':
        mult = 1ULL << 50;
        suf++;
        break;
    default:
        return -EINVAL;
    }
    if (mult > 1) {
        if (tolower((unsigned char)*suf) == 'i')
            suf++;
        if (tolower((unsigned char)*suf) == 'b')
            suf++;
    }
    if (*suf)
        return -EINVAL;
    if (v * (double)mult > 9.0e18)
        return -ERANGE;
    *ret_bytes = (int64_t)(v * (double)mult);
    return 0;
}

int read_file_at(int dirfd, const char *path, char **ret, size_t *ret_len, size_t max)
{
    cleanup_close int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    char *data = NULL;
    size_t len = 0;
    size_t cap = 0;

    if (fd < 0)
        return -errno;
    for (;;) {
        ssize_t n;
        if (len + 4096 + 1 > cap) {
            size_t ncap = cap ? cap * 2 : 8192;
            char *p = realloc(data, ncap);
            if (!p) {
                free(data);
                return -ENOMEM;
            }
            data = p;
            cap = ncap;
        }
        n = read(fd, data + len, cap - len - 1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int e = -errno;
            free(data);
            return e;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max) {
            free(data);
            return -EFBIG;
        }
    }
    if (!data) {
        data = malloc(1);
        if (!data)
            return -ENOMEM;
    }
    data[len] = '\0';
    *ret = data;
    if (ret_len)
        *ret_len = len;
    return 0;
}

int read_file(const char *path, char **ret, size_t *ret_len, size_t max)
{
    return read_file_at(AT_FDCWD, path, ret, ret_len, max);
}

int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode, bool sync)
{
    char tmp[PATH_MAX];
    int fd;
    int r;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return -ENAMETOOLONG;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return -errno;
    r = write_all(fd, data, len);
    if (r == 0 && sync && fsync(fd) < 0)
        r = -errno;
    if (close(fd) < 0 && r == 0)
        r = -errno;
    if (r == 0 && rename(tmp, path) < 0)
        r = -errno;
    if (r < 0)
        (void)unlink(tmp);
    return r;
}

int write_file_str(const char *path, const char *s)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    int r;

    if (fd < 0)
        return -errno;
    r = write_all(fd, s, strlen(s));
    (void)close(fd);
    return r;
}

int mkdir_p(const char *path, mode_t mode)
{
    char tmp[PATH_MAX];
    size_t len = strlen(path);

    if (len == 0 || len >= sizeof(tmp))
        return -EINVAL;
    memcpy(tmp, path, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, mode) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

static int rm_rf_at(int dirfd, const char *name, int depth)
{
    struct stat st;
    int fd;
    DIR *d;
    struct dirent *de;
    int r = 0;

    if (depth > 256)
        return -ELOOP;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dirfd, name, 0) < 0 && errno != ENOENT ? -errno : 0;
    fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    d = fdopendir(fd);
    if (!d) {
        r = -errno;
        (void)close(fd);
        return r;
    }
    while ((de = readdir(d))) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        int rr = rm_rf_at(fd, de->d_name, depth + 1);
        if (rr < 0 && r == 0)
            r = rr;
    }
    (void)closedir(d);
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
        r = -errno;
    return r;
}

int rm_rf(const char *path)
{
    return rm_rf_at(AT_FDCWD, path, 0);
}
