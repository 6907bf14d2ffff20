/*
 * cli/flags.c - docker-style (spf13/pflag) flag parsing: long flags with
 * "--name value" or "--name=value", shorthand clusters ("-it", "-eA=1",
 * "-e A=1"), "--" to end flags, and optionally no flags after the first
 * positional (run, create: everything after the image belongs to it).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"

#include "cli/cli.h"

void cli_strv_release(struct cli_strv *sv)
{
    free(sv->v);
    sv->v = NULL;
    sv->n = 0;
}

static int strv_push(struct cli_strv *sv, const char *s)
{
    const char **v = realloc(sv->v, (sv->n + 2) * sizeof(char *));

    if (!v)
        return -ENOMEM;
    v[sv->n++] = s;
    v[sv->n] = NULL;
    sv->v = v;
    return 0;
}

static const char *type_name(const struct cli_flag *f)
{
    switch (f->type) {
    case CLI_FLAG_STRING:
        return "string";
    case CLI_FLAG_LIST:
        return "list";
    case CLI_FLAG_INT:
        return "int";
    case CLI_FLAG_BOOL:
        break;
    }
    return "";
}

void cli_flags_usage(const struct cli_cmd_spec *spec, FILE *f)
{
    const struct cli_flag *fl;
    size_t maxw = 0;
    char left[128];

    fprintf(f, "\nUsage:  shoal %s %s\n\n%s\n", spec->name, spec->usage, spec->desc);
    if (!spec->flags || !spec->flags[0].name)
        return;
    fprintf(f, "\nOptions:\n");
    for (int pass = 0; pass < 2; pass++) {
        for (fl = spec->flags; fl->name; fl++) {
            size_t w;

            if (fl->shorthand)
                w = (size_t)snprintf(left, sizeof(left), "  -%c, --%s %s", fl->shorthand, fl->name,
                                     type_name(fl));
            else
                w = (size_t)snprintf(left, sizeof(left), "      --%s %s", fl->name, type_name(fl));
            while (w > 0 && left[w - 1] == ' ')
                left[--w] = '\0';
            if (pass == 0) {
                if (w > maxw)
                    maxw = w;
                continue;
            }
            fprintf(f, "%-*s   %s", (int)maxw, left, fl->help ? fl->help : "");
            if (fl->defval)
                fprintf(f, " (default %s)", fl->defval);
            fputc('\n', f);
        }
    }
}

static int flag_error(const struct cli_cmd_spec *spec, int *ret_exit, const char *fmt,
                      const char *a, const char *b)
{
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n\nUsage:  shoal %s %s\n\nRun 'shoal %s --help' for more information\n",
            spec->name, spec->usage, spec->name);
    *ret_exit = 125;
    return -EINVAL;
}

static int set_value(const struct cli_cmd_spec *spec, const struct cli_flag *f, const char *value,
                     int *ret_exit)
{
    char disp[128];

    if (f->set)
        *f->set = true;
    switch (f->type) {
    case CLI_FLAG_BOOL:
        if (!value || strcmp(value, "true") == 0 || strcmp(value, "1") == 0 ||
            strcmp(value, "t") == 0 || strcmp(value, "TRUE") == 0 || strcmp(value, "True") == 0)
            *(bool *)f->dest = true;
        else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0 ||
                 strcmp(value, "f") == 0 || strcmp(value, "FALSE") == 0 ||
                 strcmp(value, "False") == 0)
            *(bool *)f->dest = false;
        else
            goto invalid;
        return 0;
    case CLI_FLAG_STRING:
        *(const char **)f->dest = value;
        return 0;
    case CLI_FLAG_LIST:
        if (strv_push(f->dest, value) < 0) {
            fprintf(stderr, "shoal: out of memory\n");
            *ret_exit = 125;
            return -ENOMEM;
        }
        return 0;
    case CLI_FLAG_INT: {
        int64_t v;

        if (parse_i64(value, &v) < 0)
            goto invalid;
        *(long long *)f->dest = v;
        return 0;
    }
    }
invalid:
    if (f->shorthand)
        (void)snprintf(disp, sizeof(disp), "-%c, --%s", f->shorthand, f->name);
    else
        (void)snprintf(disp, sizeof(disp), "--%s", f->name);
    return flag_error(spec, ret_exit, "invalid argument \"%s\" for \"%s\" flag", value, disp);
}

static const struct cli_flag *find_long(const struct cli_cmd_spec *spec, const char *name,
                                        size_t len)
{
    for (const struct cli_flag *f = spec->flags; f && f->name; f++)
        if (strlen(f->name) == len && strncmp(f->name, name, len) == 0)
            return f;
    return NULL;
}

static const struct cli_flag *find_short(const struct cli_cmd_spec *spec, char c)
{
    for (const struct cli_flag *f = spec->flags; f && f->name; f++)
        if (f->shorthand == c)
            return f;
    return NULL;
}

static int count_error(const struct cli_cmd_spec *spec, size_t n, int *ret_exit)
{
    char what[96];

    if (spec->max_args == 0)
        (void)snprintf(what, sizeof(what), "accepts no arguments");
    else if (spec->min_args == spec->max_args)
        (void)snprintf(what, sizeof(what), "requires exactly %d argument%s", spec->min_args,
                       spec->min_args == 1 ? "" : "s");
    else if ((int)n < spec->min_args)
        (void)snprintf(what, sizeof(what), "requires at least %d argument%s", spec->min_args,
                       spec->min_args == 1 ? "" : "s");
    else
        (void)snprintf(what, sizeof(what), "requires at most %d argument%s", spec->max_args,
                       spec->max_args == 1 ? "" : "s");
    fprintf(stderr,
            "shoal: 'shoal %s' %s\n\nUsage:  shoal %s %s\n\nSee 'shoal %s --help' for more "
            "information\n",
            spec->name, what, spec->name, spec->usage, spec->name);
    *ret_exit = 1;
    return -EINVAL;
}

int cli_flags_parse(const struct cli_cmd_spec *spec, int argc, char **argv,
                    struct cli_strv *ret_args, int *ret_exit)
{
    struct cli_strv args = {NULL, 0};
    bool only_args = false;
    int r = 0;

    *ret_exit = 0;
    for (int i = 0; i < argc && r >= 0; i++) {
        const char *a = argv[i];

        if (only_args || a[0] != '-' || a[1] == '\0') {
            r = strv_push(&args, a);
            if (spec->no_interspersed)
                only_args = true;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_args = true;
            continue;
        }
        if (a[1] == '-') {
            const char *name = a + 2;
            const char *eq = strchr(name, '=');
            size_t len = eq ? (size_t)(eq - name) : strlen(name);
            const struct cli_flag *f = find_long(spec, name, len);
            const char *value = eq ? eq + 1 : NULL;

            if (!f && len == 4 && strncmp(name, "help", 4) == 0) {
                cli_flags_usage(spec, stdout);
                cli_strv_release(&args);
                return CLI_FLAGS_HELP;
            }
            if (!f) {
                r = flag_error(spec, ret_exit, "unknown flag: %s%s", a, "");
                break;
            }
            if (f->type != CLI_FLAG_BOOL && !value) {
                if (i + 1 >= argc) {
                    r = flag_error(spec, ret_exit, "flag needs an argument: --%s%s", f->name, "");
                    break;
                }
                value = argv[++i];
            }
            r = set_value(spec, f, value, ret_exit);
            continue;
        }
        /* shorthand cluster */
        for (const char *p = a + 1; *p && r >= 0; p++) {
            const struct cli_flag *f = find_short(spec, *p);
            const char *value;

            if (!f && *p == 'h') {
                cli_flags_usage(spec, stdout);
                cli_strv_release(&args);
                return CLI_FLAGS_HELP;
            }
            if (!f) {
                char c[2] = {*p, 0};

                r = flag_error(spec, ret_exit, "unknown shorthand flag: '%s' in %s", c, a);
                break;
            }
            if (f->type == CLI_FLAG_BOOL) {
                if (p[1] == '=') {
                    r = set_value(spec, f, p + 2, ret_exit);
                    break;
                }
                r = set_value(spec, f, NULL, ret_exit);
                continue;
            }
            if (p[1]) {
                value = p[1] == '=' ? p + 2 : p + 1;
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                char c[2] = {*p, 0};

                r = flag_error(spec, ret_exit, "flag needs an argument: '%s' in %s", c, a);
                break;
            }
            r = set_value(spec, f, value, ret_exit);
            break;
        }
    }
    if (r >= 0 &&
        ((int)args.n < spec->min_args || (spec->max_args >= 0 && (int)args.n > spec->max_args)))
        r = count_error(spec, args.n, ret_exit);
    if (r < 0) {
        if (!*ret_exit)
            *ret_exit = 125;
        cli_strv_release(&args);
        return r;
    }
    *ret_args = args;
    return CLI_FLAGS_OK;
}

int cli_parse_nano_cpus(const char *s, int64_t *ret)
{
    int64_t whole = 0, frac = 0;
    int digits = 0;
    const char *p = s;

    if (!*p)
        return -EINVAL;
    while (isdigit((unsigned char)*p)) {
        whole = whole * 10 + (*p - '0');
        if (whole > 1000000)
            return -ERANGE;
        p++;
    }
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) {
            if (digits == 9)
                return -ERANGE;
            frac = frac * 10 + (*p - '0');
            digits++;
            p++;
        }
    }
    if (*p || p == s)
        return -EINVAL;
    while (digits++ < 9)
        frac *= 10;
    *ret = whole * 1000000000LL + frac;
    return 0;
}
