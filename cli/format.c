/*
 * cli/format.c - output helpers that reproduce what the docker CLI prints:
 * go-units sizes and durations, Ellipsis, strconv.Quote, DisplayablePorts,
 * text/tabwriter tables, json.Indent, URL escaping, and a small subset of Go
 * templates for `inspect --format`.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/err.h"
#include "lib/util.h"

#include "cli/cli.h"

void cli_human_size(double size, char *out, size_t outlen)
{
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"};
    size_t i = 0;

    while (size >= 1000.0 && i < ARRAY_SIZE(units) - 1) {
        size /= 1000.0;
        i++;
    }
    (void)snprintf(out, outlen, "%.3g%s", size, units[i]);
}

void cli_human_duration(int64_t s, char *out, size_t outlen)
{
    time_human_duration(s * 1000000000LL, out, outlen);
}

size_t cli_rune_count(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            n++;
    return n;
}

char *cli_ellipsis(const char *s, size_t max_runes)
{
    size_t n = 0;
    const char *p;

    if (max_runes == 0)
        return strdup("");
    if (cli_rune_count(s) <= max_runes)
        return strdup(s);
    /* keep max_runes - 1 runes, then U+2026 */
    for (p = s; *p; p++) {
        if (((unsigned char)*p & 0xc0) != 0x80) {
            if (n == max_runes - 1)
                break;
            n++;
        }
    }
    {
        char *r;

        if (asprintf(&r, "%.*s\xe2\x80\xa6", (int)(p - s), s) < 0)
            return NULL;
        return r;
    }
}

/* Length of a valid UTF-8 sequence at p (2..4), or 0. */
static size_t utf8_seq_len(const unsigned char *p)
{
    size_t n, i;

    if (p[0] >= 0xc2 && p[0] <= 0xdf)
        n = 2;
    else if (p[0] >= 0xe0 && p[0] <= 0xef)
        n = 3;
    else if (p[0] >= 0xf0 && p[0] <= 0xf4)
        n = 4;
    else
        return 0;
    for (i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

char *cli_go_quote(const char *s)
{
    struct buf b;
    const unsigned char *p = (const unsigned char *)s;
    int r = 0;

    buf_init(&b);
    r = buf_puts(&b, "\"");
    while (r >= 0 && *p) {
        size_t n;

        switch (*p) {
        case '"':
            r = buf_puts(&b, "\\\"");
            break;
        case '\\':
            r = buf_puts(&b, "\\\\");
            break;
        case '\a':
            r = buf_puts(&b, "\\a");
            break;
        case '\b':
            r = buf_puts(&b, "\\b");
            break;
        case '\f':
            r = buf_puts(&b, "\\f");
            break;
        case '\n':
            r = buf_puts(&b, "\\n");
            break;
        case '\r':
            r = buf_puts(&b, "\\r");
            break;
        case '\t':
            r = buf_puts(&b, "\\t");
            break;
        case '\v':
            r = buf_puts(&b, "\\v");
            break;
        default:
            if (*p >= 0x20 && *p < 0x7f) {
                r = buf_append(&b, p, 1);
            } else if (*p >= 0x80 && (n = utf8_seq_len(p)) > 0) {
                r = buf_append(&b, p, n);
                p += n;
                continue;
            } else { /* control characters and invalid UTF-8 */
                r = buf_printf(&b, "\\x%02x", *p);
            }
        }
        p++;
    }
    if (r >= 0)
        r = buf_puts(&b, "\"");
    if (r < 0) {
        buf_release(&b);
        return NULL;
    }
    return buf_steal(&b);
}

void cli_short_id(const char *id, char out[13])
{
    if (strncmp(id, "sha256:", 7) == 0)
        id += 7;
    (void)snprintf(out, 13, "%s", id);
}

/* ---- ports ------------------------------------------------------------------ */

struct port {
    const char *ip;
    const char *type;
    long priv, pub;
};

static int port_cmp(const void *a, const void *b)
{
    const struct port *x = a, *y = b;
    int c;

    if (x->priv != y->priv)
        return x->priv < y->priv ? -1 : 1;
    c = strcmp(x->ip, y->ip);
    if (c)
        return c;
    if (x->pub != y->pub)
        return x->pub < y->pub ? -1 : 1;
    return strcmp(x->type, y->type);
}

static int join_host_port(struct buf *b, const char *ip, const char *port)
{
    if (strchr(ip, ':'))
        return buf_printf(b, "[%s]:%s", ip, port);
    return buf_printf(b, "%s:%s", ip, port);
}

struct port_group {
    const char *ip; /* "" when none */
    const char *type;
    long first, last;
};

static int form_group(struct buf *out, const struct port_group *g)
{
    char range[48];
    int r;

    if (out->len)
        r = buf_puts(out, ", ");
    else
        r = 0;
    if (g->first != g->last)
        (void)snprintf(range, sizeof(range), "%ld-%ld", g->first, g->last);
    else
        (void)snprintf(range, sizeof(range), "%ld", g->first);
    if (r >= 0 && *g->ip) {
        r = join_host_port(out, g->ip, range);
        if (r >= 0)
            r = buf_printf(out, "->%s", range);
    } else if (r >= 0) {
        r = buf_puts(out, range);
    }
    if (r >= 0)
        r = buf_printf(out, "/%s", g->type);
    return r;
}

char *cli_ports_string(json_t *ports)
{
    size_t n = json_array_size(ports), i, ng = 0, k;
    cleanup_free struct port *pv = NULL;
    cleanup_free struct port_group *groups = NULL;
    struct buf res, hostmap;
    int r = 0;

    buf_init(&res);
    buf_init(&hostmap);
    if (n == 0)
        return strdup("");
    pv = calloc(n, sizeof(*pv));
    groups = calloc(n, sizeof(*groups));
    if (!pv || !groups)
        return NULL;
    for (i = 0; i < n; i++) {
        json_t *p = json_array_get(ports, i);
        const char *ip = json_string_value(json_object_get(p, "IP"));
        const char *type = json_string_value(json_object_get(p, "Type"));

        pv[i].ip = ip ? ip : "";
        pv[i].type = type ? type : "tcp";
        pv[i].priv = (long)json_integer_value(json_object_get(p, "PrivatePort"));
        pv[i].pub = (long)json_integer_value(json_object_get(p, "PublicPort"));
    }
    qsort(pv, n, sizeof(*pv), port_cmp);
    for (i = 0; i < n && r >= 0; i++) {
        const struct port *p = &pv[i];
        const char *key_ip = "";
        struct port_group *g = NULL;

        if (*p->ip) {
            if (p->pub != p->priv) {
                char pub[24];

                (void)snprintf(pub, sizeof(pub), "%ld", p->pub);
                if (hostmap.len)
                    r = buf_puts(&hostmap, ", ");
                if (r >= 0)
                    r = join_host_port(&hostmap, p->ip, pub);
                if (r >= 0)
                    r = buf_printf(&hostmap, "->%ld/%s", p->priv, p->type);
                continue;
            }
            key_ip = p->ip;
        }
        for (k = 0; k < ng; k++)
            if (strcmp(groups[k].ip, key_ip) == 0 && strcmp(groups[k].type, p->type) == 0)
                g = &groups[k];
        if (!g) {
            groups[ng++] = (struct port_group){key_ip, p->type, p->priv, p->priv};
            continue;
        }
        if (p->priv == g->last + 1) {
            g->last = p->priv;
            continue;
        }
        r = form_group(&res, g);
        g->first = g->last = p->priv;
    }
    for (k = 0; k < ng && r >= 0; k++)
        r = form_group(&res, &groups[k]);
    if (r >= 0 && hostmap.len) {
        if (res.len)
            r = buf_puts(&res, ", ");
        if (r >= 0)
            r = buf_append(&res, hostmap.data, hostmap.len);
    }
    buf_release(&hostmap);
    if (r < 0) {
        buf_release(&res);
        return NULL;
    }
    if (!res.data)
        return strdup("");
    return buf_steal(&res);
}

/* ---- URLs ------------------------------------------------------------------- */

static int escape(struct buf *b, const char *s, const char *keep, bool space_plus)
{
    static const char hex[] = "0123456789ABCDEF";
    int r = 0;

    for (; *s && r >= 0; s++) {
        unsigned char c = (unsigned char)*s;

        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (c && strchr(keep, c)))
            r = buf_append(b, s, 1);
        else if (c == ' ' && space_plus)
            r = buf_puts(b, "+");
        else
            r = buf_printf(b, "%%%c%c", hex[c >> 4], hex[c & 15]);
    }
    return r;
}

int cli_query_escape(struct buf *b, const char *s)
{
    return escape(b, s, "", true);
}

int cli_path_escape(struct buf *b, const char *s)
{
    return escape(b, s, "/:@$&+,;=", false);
}

int cli_query_add(struct buf *q, const char *key, const char *value)
{
    int r = 0;

    if (q->len)
        r = buf_puts(q, "&");
    if (r >= 0)
        r = cli_query_escape(q, key);
    if (r >= 0)
        r = buf_puts(q, "=");
    if (r >= 0)
        r = cli_query_escape(q, value);
    return r;
}

/* ---- json.Indent ------------------------------------------------------------- */

static int newline(struct buf *out, const char *prefix, int depth)
{
    int r = buf_puts(out, "\n");

    if (r >= 0)
        r = buf_puts(out, prefix);
    for (int i = 0; i < depth && r >= 0; i++)
        r = buf_puts(out, "    ");
    return r;
}

int cli_json_indent(struct buf *out, const char *src, size_t len, const char *prefix)
{
    int depth = 0, r = 0;
    bool need_indent = false;
    size_t i = 0;

    while (i < len && isspace((unsigned char)src[i]))
        i++;
    for (; i < len && r >= 0; i++) {
        char c = src[i];

        if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
            continue;
        if (need_indent && c != ']' && c != '}') {
            need_indent = false;
            depth++;
            r = newline(out, prefix, depth);
            if (r < 0)
                break;
        }
        if (c == '"') {
            size_t j = i + 1;

            while (j < len && src[j] != '"') {
                if (src[j] == '\\')
                    j++;
                j++;
            }
            if (j >= len)
                return -EINVAL;
            r = buf_append(out, src + i, j - i + 1);
            i = j;
            continue;
        }
        switch (c) {
        case '{':
        case '[':
            need_indent = true;
            r = buf_append(out, &c, 1);
            break;
        case ',':
            r = buf_append(out, &c, 1);
            if (r >= 0)
                r = newline(out, prefix, depth);
            break;
        case ':':
            r = buf_puts(out, ": ");
            break;
        case '}':
        case ']':
            if (need_indent) {
                need_indent = false; /* "{}" / "[]" stay compact */
            } else {
                depth--;
                if (depth < 0)
                    return -EINVAL;
                r = newline(out, prefix, depth);
            }
            if (r >= 0)
                r = buf_append(out, &c, 1);
            break;
        default:
            r = buf_append(out, &c, 1);
            break;
        }
    }
    return r < 0 ? r : 0;
}

/* ---- tables (text/tabwriter with minwidth 10, padding 3) --------------------- */

void cli_table_init(struct cli_table *t, size_t ncols)
{
    t->ncols = ncols;
    t->nrows = 0;
    t->cells = NULL;
}

void cli_table_release(struct cli_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    t->cells = NULL;
    t->nrows = 0;
}

int cli_table_add(struct cli_table *t, const char *const *row)
{
    char **cells = realloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(char *));

    if (!cells)
        return -ENOMEM;
    t->cells = cells;
    for (size_t i = 0; i < t->ncols; i++) {
        cells[t->nrows * t->ncols + i] = strdup(row[i] ? row[i] : "");
        if (!cells[t->nrows * t->ncols + i]) {
            while (i-- > 0)
                free(cells[t->nrows * t->ncols + i]);
            return -ENOMEM;
        }
    }
    t->nrows++;
    return 0;
}

int cli_table_render(const struct cli_table *t, struct buf *out)
{
    cleanup_free size_t *width = calloc(t->ncols ? t->ncols : 1, sizeof(size_t));
    int r = 0;

    if (!width)
        return -ENOMEM;
    for (size_t c = 0; c + 1 < t->ncols; c++) {
        width[c] = 10;
        for (size_t row = 0; row < t->nrows; row++) {
            size_t w = cli_rune_count(t->cells[row * t->ncols + c]) + 3;

            if (w > width[c])
                width[c] = w;
        }
    }
    for (size_t row = 0; row < t->nrows && r >= 0; row++) {
        for (size_t c = 0; c < t->ncols && r >= 0; c++) {
            const char *cell = t->cells[row * t->ncols + c];

            r = buf_puts(out, cell);
            if (c + 1 < t->ncols)
                for (size_t pad = cli_rune_count(cell); pad < width[c] && r >= 0; pad++)
                    r = buf_puts(out, " ");
        }
        if (r >= 0)
            r = buf_puts(out, "\n");
    }
    return r;
}

/* ---- a small Go text/template subset ------------------------------------------ */

static int tmpl_print(struct buf *out, json_t *v, bool top);

static int sort_strcmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int tmpl_print_object(struct buf *out, json_t *v)
{
    const char *key;
    json_t *val;
    size_t n = json_object_size(v), i = 0;
    cleanup_free const char **keys = calloc(n ? n : 1, sizeof(char *));
    int r;

    if (!keys)
        return -ENOMEM;
    CLI_JSON_OBJECT_EACH(v, key, val)
    {
        (void)val;
        keys[i++] = key;
    }
    qsort(keys, n, sizeof(char *), sort_strcmp);
    r = buf_puts(out, "map[");
    for (i = 0; i < n && r >= 0; i++) {
        r = buf_printf(out, "%s%s:", i ? " " : "", keys[i]);
        if (r >= 0)
            r = tmpl_print(out, json_object_get(v, keys[i]), false);
    }
    if (r >= 0)
        r = buf_puts(out, "]");
    return r;
}

static int tmpl_print(struct buf *out, json_t *v, bool top)
{
    size_t i;
    int r = 0;

    (void)top;
    switch (json_typeof(v)) {
    case JSON_STRING:
        return buf_append(out, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return buf_printf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        return buf_printf(out, "%g", json_real_value(v));
    case JSON_TRUE:
        return buf_puts(out, "true");
    case JSON_FALSE:
        return buf_puts(out, "false");
    case JSON_NULL:
        return buf_puts(out, "<nil>");
    case JSON_ARRAY:
        r = buf_puts(out, "[");
        for (i = 0; i < json_array_size(v) && r >= 0; i++) {
            if (i)
                r = buf_puts(out, " ");
            if (r >= 0)
                r = tmpl_print(out, json_array_get(v, i), false);
        }
        return r < 0 ? r : buf_puts(out, "]");
    case JSON_OBJECT:
        return tmpl_print_object(out, v);
    }
    return 0;
}

/* Resolve ".A.B" against v; NULL when a key is missing. */
static json_t *tmpl_lookup(json_t *v, const char *path, size_t len)
{
    size_t i = 0;

    if (len == 1 && path[0] == '.')
        return v;
    while (i < len) {
        size_t j;
        char key[256];

        if (path[i] != '.')
            return NULL;
        i++;
        for (j = i; j < len && path[j] != '.'; j++)
            ;
        if (j == i || j - i >= sizeof(key))
            return NULL;
        memcpy(key, path + i, j - i);
        key[j - i] = '\0';
        v = json_object_get(v, key);
        if (!v)
            return NULL;
        i = j;
    }
    return v;
}

int cli_template_exec(const char *tmpl, json_t *v, struct buf *out, struct err *err)
{
    const char *p = tmpl;
    int r = 0;

    while (*p && r >= 0) {
        const char *open = strstr(p, "{{");
        const char *close, *a, *b;
        bool as_json = false;
        json_t *val;

        if (!open)
            return buf_puts(out, p) < 0 ? err_set(err, -ENOMEM, "out of memory") : 0;
        r = buf_append(out, p, (size_t)(open - p));
        if (r < 0)
            break;
        close = strstr(open + 2, "}}");
        if (!close)
            return err_set(err, -EINVAL, "template parsing error: unclosed action");
        a = open + 2;
        b = close;
        if (*a == '-')
            a++;
        if (b > a && b[-1] == '-')
            b--;
        while (a < b && isspace((unsigned char)*a))
            a++;
        while (b > a && isspace((unsigned char)b[-1]))
            b--;
        if ((size_t)(b - a) > 5 && strncmp(a, "json", 4) == 0 && isspace((unsigned char)a[4])) {
            as_json = true;
            a += 5;
            while (a < b && isspace((unsigned char)*a))
                a++;
        }
        if (a == b || *a != '.')
            return err_set(err, -EINVAL, "template parsing error: unsupported action '%.*s'",
                           (int)(close - open - 2), open + 2);
        val = tmpl_lookup(v, a, (size_t)(b - a));
        if (as_json) {
            char *s = val ? json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER)
                          : strdup("null");

            if (!s)
                return err_set(err, -ENOMEM, "out of memory");
            r = buf_puts(out, s);
            free(s);
        } else if (!val) {
            r = buf_puts(out, "<no value>");
        } else {
            r = tmpl_print(out, val, true);
        }
        p = close + 2;
    }
    return r < 0 ? err_set(err, -ENOMEM, "out of memory") : 0;
}

/* ---- since/until -------------------------------------------------------------- */

/* Go time.ParseDuration subset: [-]N[.N](ns|us|µs|ms|s|m|h)... */
static int parse_go_duration(const char *s, double *ret_seconds)
{
    double total = 0;
    int sign = 1;

    if (*s == '-' || *s == '+') {
        sign = *s == '-' ? -1 : 1;
        s++;
    }
    if (!*s)
        return -EINVAL;
    while (*s) {
        char *end;
        double v;
        double unit;

        if (!isdigit((unsigned char)*s) && *s != '.')
            return -EINVAL;
        v = strtod(s, &end);
        if (end == s)
            return -EINVAL;
        s = end;
        if (strncmp(s, "ns", 2) == 0)
            unit = 1e-9, s += 2;
        else if (strncmp(s, "us", 2) == 0)
            unit = 1e-6, s += 2;
        else if (strncmp(s, "\xc2\xb5s", 3) == 0)
            unit = 1e-6, s += 3;
        else if (strncmp(s, "ms", 2) == 0)
            unit = 1e-3, s += 2;
        else if (*s == 's')
            unit = 1, s++;
        else if (*s == 'm')
            unit = 60, s++;
        else if (*s == 'h')
            unit = 3600, s++;
        else
            return -EINVAL;
        total += v * unit;
    }
    *ret_seconds = sign * total;
    return 0;
}

int cli_parse_timestamp(const char *value, int64_t now_s, char *out, size_t outlen)
{
    double secs;
    int64_t ns;
    char tmp[64];

    if (!value || !*value)
        return -EINVAL;
    if (strcmp(value, "0") != 0 && parse_go_duration(value, &secs) == 0) {
        (void)snprintf(out, outlen, "%" PRId64, now_s - (int64_t)secs);
        return 0;
    }
    if (strchr(value, 'T')) {
        const char *v = value;

        /* no zone given: docker uses local time; we take UTC */
        if (!strpbrk(value + 10, "zZ+-")) {
            (void)snprintf(tmp, sizeof(tmp), "%sZ", value);
            v = tmp;
        }
        if (time_parse_rfc3339(v, &ns) < 0)
            return -EINVAL;
        (void)snprintf(out, outlen, "%" PRId64 ".%09" PRId64, (int64_t)(ns / 1000000000),
                       (int64_t)(ns % 1000000000));
        return 0;
    }
    /* unix seconds, optionally with a fraction */
    {
        const char *p = value;
        bool dot = false;

        for (; *p; p++) {
            if (*p == '.' && !dot)
                dot = true;
            else if (!isdigit((unsigned char)*p))
                return -EINVAL;
        }
    }
    (void)snprintf(out, outlen, "%s", value);
    return 0;
}

void cli_bytes_size(double size, char *out, size_t outlen)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    size_t i = 0;

    while (size >= 1024 && i + 1 < ARRAY_SIZE(units)) {
        size /= 1024;
        i++;
    }
    (void)snprintf(out, outlen, "%.4g%s", size, units[i]);
}

void cli_errs_add(struct buf *errs, const char *msg)
{
    (void)buf_printf(errs, "%s%s", errs->len ? "\n" : "", msg);
}

int cli_errs_flush(const struct buf *errs, bool newline)
{
    if (!errs->len)
        return 0;
    fflush(stdout);
    fprintf(stderr, "shoal: %.*s%s", (int)errs->len, errs->data, newline ? "\n" : "");
    return 1;
}

void cli_inspect_print(json_t *all, bool as_json, const struct buf *out)
{
    if (as_json) {
        char *s = json_dumps(all, JSON_INDENT(4) | JSON_PRESERVE_ORDER);

        if (s)
            printf("%s\n", s);
        free(s);
    } else if (out->len) {
        fflush(stdout);
        (void)cli_out(STDOUT_FILENO, out->data, out->len);
    }
}

int cli_logs_query(struct buf *q, const struct cli_logs_query *o)
{
    int r = 0;

    if (o->details)
        r = cli_query_add(q, "details", "1");
    if (r >= 0 && o->follow)
        r = cli_query_add(q, "follow", "1");
    if (r >= 0 && o->since)
        r = cli_query_add(q, "since", o->since);
    if (r >= 0)
        r = cli_query_add(q, "stderr", "1");
    if (r >= 0)
        r = cli_query_add(q, "stdout", "1");
    if (r >= 0)
        r = cli_query_add(q, "tail", o->tail);
    if (r >= 0 && o->timestamps)
        r = cli_query_add(q, "timestamps", "1");
    if (r >= 0 && o->until)
        r = cli_query_add(q, "until", o->until);
    return r;
}
