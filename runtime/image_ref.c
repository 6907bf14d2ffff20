/*
 * runtime/image_ref.c - Docker image reference normalisation.
 *
 * Grammar (distribution/reference):
 *   reference  := name [ ":" tag ] [ "@" digest ]
 *   name       := [domain "/"] path-component ["/" path-component]*
 *   domain     := host-component ["." host-component]* [":" port]
 *   path-comp  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 *   tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 * The first component is a registry only when the name has a "/" and that
 * component holds a "." or ":" or is "localhost" (or has upper case).
 * Output is the familiar form: "docker.io/library/x" -> "x", a missing tag
 * becomes ":latest" unless a digest is given.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "lib/util.h"

#include "runtime/image.h"

#define REF_MAX_NAME 255

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool valid_path_component(const char *s, size_t n)
{
    size_t i = 0;

    if (n == 0 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return false;
    while (i < n) {
        if (is_lower_alnum(s[i])) {
            i++;
            continue;
        }
        /* a separator: ".", "_", "__" or a run of "-", then alnum */
        if (s[i] == '.') {
            i++;
        } else if (s[i] == '_') {
            i++;
            if (i < n && s[i] == '_')
                i++;
        } else if (s[i] == '-') {
            while (i < n && s[i] == '-')
                i++;
        } else {
            return false;
        }
        if (i >= n || !is_lower_alnum(s[i]))
            return false;
    }
    return true;
}

static bool valid_host_component(const char *s, size_t n)
{
    if (n == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && s[i] != '-')
            return false;
    }
    return true;
}

static bool valid_domain(const char *s, size_t n)
{
    const char *colon = memchr(s, ':', n);
    size_t host_len = colon ? (size_t)(colon - s) : n;
    size_t start = 0;

    if (colon) {
        size_t plen = n - host_len - 1;
        if (plen == 0 || plen > 5)
            return false;
        for (size_t i = 0; i < plen; i++) {
            if (!isdigit((unsigned char)colon[1 + i]))
                return false;
        }
    }
    for (size_t i = 0; i <= host_len; i++) {
        if (i == host_len || s[i] == '.') {
            if (!valid_host_component(s + start, i - start))
                return false;
            start = i + 1;
        }
    }
    return true;
}

static bool valid_tag(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 128)
        return false;
    if (!isalnum((unsigned char)s[0]) && s[0] != '_')
        return false;
    for (size_t i = 1; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
            return false;
    }
    return true;
}

static bool valid_digest(const char *s)
{
    static const struct {
        const char *algo;
        size_t hex;
    } algos[] = {{"sha256:", 64}, {"sha384:", 96}, {"sha512:", 128}};

    for (size_t i = 0; i < sizeof(algos) / sizeof(algos[0]); i++) {
        size_t al = strlen(algos[i].algo);
        if (strncmp(s, algos[i].algo, al) == 0)
            return strlen(s + al) == algos[i].hex && id_is_hex(s + al, algos[i].hex);
    }
    return false;
}

int rt_image_normalize_ref(const char *ref, char out[512])
{
    char name[512];
    const char *at;
    const char *digest = NULL;
    const char *tag = NULL;
    const char *slash;
    const char *colon;
    const char *path;
    char domain[256] = "docker.io";
    char full[800];
    size_t nlen;
    const char *familiar;

    if (!ref || !*ref || strlen(ref) >= sizeof(name))
        return -EINVAL;
    if (strlen(ref) == 64 && id_is_hex(ref, 64))
        return -EINVAL; /* "cannot specify 64-byte hexadecimal strings" */
    at = strchr(ref, '@');
    nlen = at ? (size_t)(at - ref) : strlen(ref);
    if (at) {
        digest = at + 1;
        if (!valid_digest(digest))
            return -EINVAL;
    }
    memcpy(name, ref, nlen);
    name[nlen] = '\0';
    slash = strrchr(name, '/');
    colon = strrchr(name, ':');
    if (colon && (!slash || colon > slash)) {
        name[colon - name] = '\0';
        tag = colon + 1;
        if (!valid_tag(tag))
            return -EINVAL;
    }
    if (!*name)
        return -EINVAL;

    /* registry part */
    path = name;
    slash = strchr(name, '/');
    if (slash) {
        size_t dl = (size_t)(slash - name);
        bool lower = true;
        for (size_t i = 0; i < dl; i++)
            lower = lower && !isupper((unsigned char)name[i]);
        if (memchr(name, '.', dl) || memchr(name, ':', dl) ||
            (dl == 9 && strncmp(name, "localhost", 9) == 0) || !lower) {
            if (dl >= sizeof(domain) || !valid_domain(name, dl))
                return -EINVAL;
            memcpy(domain, name, dl);
            domain[dl] = '\0';
            path = slash + 1;
        }
    }
    if (strcmp(domain, "index.docker.io") == 0)
        strcpy(domain, "docker.io");
    /* path components */
    for (const char *p = path;;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (!valid_path_component(p, n))
            return -EINVAL;
        if (!e)
            break;
        p = e + 1;
    }
    if (strcmp(domain, "docker.io") == 0 && !strchr(path, '/'))
        (void)snprintf(full, sizeof(full), "docker.io/library/%s", path);
    else
        (void)snprintf(full, sizeof(full), "%s/%s", domain, path);
    if (strlen(full) > REF_MAX_NAME)
        return -EINVAL;

    familiar = full;
    if (strncmp(familiar, "docker.io/", 10) == 0) {
        familiar += 10;
        if (strncmp(familiar, "library/", 8) == 0 && !strchr(familiar + 8, '/'))
            familiar += 8;
    }
    if (!tag && !digest)
        tag = "latest";
    if ((size_t)snprintf(out, 512, "%s%s%s%s%s", familiar, tag ? ":" : "", tag ? tag : "",
                         digest ? "@" : "", digest ? digest : "") >= 512)
        return -EINVAL;
    return 0;
}
