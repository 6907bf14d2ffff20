/*
 * runtime/registry_ref.c - the pure parts of the registry client: reference
 * parsing, insecure-registry matching, WWW-Authenticate parsing,
 * X-Registry-Auth decoding and platform selection. No I/O.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/err.h"

#include "runtime/registry.h"
#include "runtime/registry_internal.h"

/* ---- references ------------------------------------------------------------------------ */

int rt_reg_ref_parse(const char *ref, struct rt_reg_ref *out, struct err *err)
{
    char norm[512];
    char name[512];
    char *at, *slash, *colon;

    memset(out, 0, sizeof(*out));
    if (!ref || rt_image_normalize_ref(ref, norm) < 0)
        return err_set(err, -EINVAL, "invalid reference format: %s", ref ? ref : "");
    (void)snprintf(name, sizeof(name), "%s", norm);
    at = strchr(name, '@');
    if (at) {
        *at = '\0';
        (void)snprintf(out->digest, sizeof(out->digest), "%s", at + 1);
    }
    slash = strrchr(name, '/');
    colon = strrchr(name, ':');
    if (colon && (!slash || colon > slash)) {
        *colon = '\0';
        (void)snprintf(out->tag, sizeof(out->tag), "%s", colon + 1);
    }
    (void)snprintf(out->familiar, sizeof(out->familiar), "%s", name);
    slash = strchr(name, '/');
    if (slash &&
        (memchr(name, '.', (size_t)(slash - name)) || memchr(name, ':', (size_t)(slash - name)) ||
         (slash - name == 9 && strncmp(name, "localhost", 9) == 0))) {
        *slash = '\0';
        if (!reg__copy(out->domain, sizeof(out->domain), name) ||
            !reg__copy(out->repo, sizeof(out->repo), slash + 1))
            return err_set(err, -EINVAL, "invalid reference format: %s", ref);
    } else {
        (void)snprintf(out->domain, sizeof(out->domain), "%s", RT_REG_DOCKER_IO);
        if (snprintf(out->repo, sizeof(out->repo), "%s%.247s", slash ? "" : "library/", name) >=
            (int)sizeof(out->repo))
            return err_set(err, -EINVAL, "invalid reference format: %s", ref);
    }
    if (strcmp(out->domain, RT_REG_DOCKER_IO) == 0)
        (void)snprintf(out->api_host, sizeof(out->api_host), "%s", RT_REG_DOCKER_IO_API);
    else
        (void)snprintf(out->api_host, sizeof(out->api_host), "%s", out->domain);
    return 0;
}

/* ---- insecure registries ----------------------------------------------------------------- */

/* Split "host:port" / "[v6]:port" / "host" into host (no brackets) and port ("" if none). */
static void split_host_port(const char *s, char host[256], char port[16])
{
    const char *c;

    host[0] = port[0] = '\0';
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (e) {
            (void)snprintf(host, 256, "%.*s", (int)(e - s - 1), s + 1);
            if (e[1] == ':')
                (void)snprintf(port, 16, "%s", e + 2);
            return;
        }
    }
    c = strrchr(s, ':');
    if (c && strchr(s, ':') == c) {
        (void)snprintf(host, 256, "%.*s", (int)(c - s), s);
        (void)snprintf(port, 16, "%s", c + 1);
    } else {
        (void)snprintf(host, 256, "%s", s); /* bare IPv6 or a plain name */
    }
}

static bool cidr_match(const char *cidr, const char *host)
{
    char net[128];
    const char *slash = strchr(cidr, '/');
    unsigned char a[16], b[16];
    int bits, fam, len;
    char *end;

    if (!slash || (size_t)(slash - cidr) >= sizeof(net))
        return false;
    (void)snprintf(net, sizeof(net), "%.*s", (int)(slash - cidr), cidr);
    bits = (int)strtol(slash + 1, &end, 10);
    if (*end || end == slash + 1)
        return false;
    fam = strchr(net, ':') ? AF_INET6 : AF_INET;
    len = fam == AF_INET ? 4 : 16;
    if (bits < 0 || bits > len * 8)
        return false;
    if (inet_pton(fam, net, a) != 1 || inet_pton(fam, host, b) != 1)
        return false;
    for (int i = 0; i < len && bits > 0; i++, bits -= 8) {
        unsigned char mask = bits >= 8 ? 0xff : (unsigned char)(0xff << (8 - bits));
        if ((a[i] & mask) != (b[i] & mask))
            return false;
    }
    return true;
}

bool rt_reg_host_insecure(const char *host, const char *const *insecure, size_t n_insecure)
{
    char h[256], port[16];
    unsigned char addr[16];

    if (!host || !*host)
        return false;
    split_host_port(host, h, port);
    if (strcasecmp(h, "localhost") == 0 || strcmp(h, "::1") == 0)
        return true;
    if (inet_pton(AF_INET, h, addr) == 1 && addr[0] == 127)
        return true;
    for (size_t i = 0; i < n_insecure; i++) {
        const char *e = insecure[i];
        if (!e || !*e)
            continue;
        if (strcasecmp(e, host) == 0 || strcasecmp(e, h) == 0)
            return true;
        if (strchr(e, '/') && cidr_match(e, h))
            return true;
    }
    return false;
}

static const char *const *allowed;
static size_t n_allowed;
static bool allow_set;

void rt_reg_set_allowed(const char *const *entries, size_t n)
{
    allowed = entries;
    n_allowed = n;
    allow_set = n > 0;
}

bool rt_reg_restricted(void)
{
    return allow_set;
}

bool rt_reg_host_allowed(const char *host)
{
    if (!allow_set)
        return true;
    /* the same matching as --insecure-registry: loopback, names, host:port, CIDRs */
    return rt_reg_host_insecure(host, allowed, n_allowed);
}

/* ---- X-Registry-Auth ------------------------------------------------------------------- */

void rt_reg_auth_clear(struct rt_reg_auth *a)
{
    if (!a)
        return;
    free(a->username);
    if (a->password)
        explicit_bzero(a->password, strlen(a->password));
    free(a->password);
    if (a->identitytoken)
        explicit_bzero(a->identitytoken, strlen(a->identitytoken));
    free(a->identitytoken);
    free(a->serveraddress);
    memset(a, 0, sizeof(*a));
}

bool rt_reg_auth_empty(const struct rt_reg_auth *a)
{
    return !a || ((!a->username || !*a->username) && (!a->identitytoken || !*a->identitytoken));
}

static char *dup_member(json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));

    return v && *v ? strdup(v) : NULL;
}

int rt_reg_auth_decode(const char *header, struct rt_reg_auth *out, struct err *err)
{
    size_t n, pad = 0;
    char *b64;
    unsigned char *raw;
    int len;
    json_t *o;
    json_error_t je;

    memset(out, 0, sizeof(*out));
    if (!header)
        return 0;
    while (isspace((unsigned char)*header))
        header++;
    n = strlen(header);
    while (n > 0 && isspace((unsigned char)header[n - 1]))
        n--;
    if (n == 0)
        return 0;
    if (n > 64 * 1024)
        return err_set(err, -EINVAL, "X-Registry-Auth header too long");
    b64 = malloc(n + 4);
    raw = malloc(n + 4);
    if (!b64 || !raw) {
        free(b64);
        free(raw);
        return err_set(err, -ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        char c = header[i];
        b64[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    while (n % 4)
        b64[n++] = '=';
    b64[n] = '\0';
    for (size_t i = n; i > 0 && b64[i - 1] == '='; i--)
        pad++;
    len = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)n);
    free(b64);
    if (len < 0 || (size_t)len < pad) {
        free(raw);
        return err_set(err, -EINVAL, "invalid X-Registry-Auth header: not base64");
    }
    len -= (int)pad;
    o = json_loadb((const char *)raw, (size_t)len, 0, &je);
    explicit_bzero(raw, (size_t)len);
    free(raw);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return err_set(err, -EINVAL, "invalid X-Registry-Auth header: not a JSON object");
    }
    out->username = dup_member(o, "username");
    out->password = dup_member(o, "password");
    out->identitytoken = dup_member(o, "identitytoken");
    out->serveraddress = dup_member(o, "serveraddress");
    json_decref(o);
    return 0;
}

/* ---- WWW-Authenticate ------------------------------------------------------------------- */

int rt_reg_challenge_parse(const char *h, struct rt_reg_challenge *out)
{
    size_t n = 0;

    memset(out, 0, sizeof(*out));
    if (!h)
        return -EINVAL;
    while (isspace((unsigned char)*h))
        h++;
    while (*h && !isspace((unsigned char)*h) && n < sizeof(out->scheme) - 1)
        out->scheme[n++] = *h++;
    out->scheme[n] = '\0';
    if (n == 0 || (*h && !isspace((unsigned char)*h)))
        return -EINVAL;
    for (;;) {
        char key[32], val[1024];
        size_t kl = 0, vl = 0;

        while (isspace((unsigned char)*h) || *h == ',')
            h++;
        if (!*h)
            break;
        while (*h && *h != '=' && *h != ',' && !isspace((unsigned char)*h)) {
            if (kl < sizeof(key) - 1)
                key[kl++] = *h;
            h++;
        }
        key[kl] = '\0';
        while (isspace((unsigned char)*h))
            h++;
        if (*h != '=')
            continue; /* token68 or junk: ignore */
        h++;
        while (isspace((unsigned char)*h))
            h++;
        if (*h == '"') {
            h++;
            while (*h && *h != '"') {
                if (*h == '\\' && h[1])
                    h++;
                if (vl < sizeof(val) - 1)
                    val[vl++] = *h;
                h++;
            }
            if (*h == '"')
                h++;
        } else {
            while (*h && *h != ',' && !isspace((unsigned char)*h)) {
                if (vl < sizeof(val) - 1)
                    val[vl++] = *h;
                h++;
            }
        }
        val[vl] = '\0';
        if (strcasecmp(key, "realm") == 0)
            (void)reg__copy(out->realm, sizeof(out->realm), val);
        else if (strcasecmp(key, "service") == 0)
            (void)reg__copy(out->service, sizeof(out->service), val);
        else if (strcasecmp(key, "scope") == 0)
            (void)reg__copy(out->scope, sizeof(out->scope), val);
        else if (strcasecmp(key, "error") == 0)
            (void)reg__copy(out->error, sizeof(out->error), val);
    }
    return 0;
}

/* ---- platform selection ---------------------------------------------------------------- */

int rt_reg_select_platform(json_t *index, const char *os, const char *arch, char ret_digest[80],
                           char ret_media_type[128], int64_t *ret_size, struct err *err)
{
    json_t *list = json_object_get(index, "manifests");

    if (!json_is_array(list))
        return err_set(err, -EINVAL, "manifest list has no manifests array");
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *m = json_array_get(list, i);
        json_t *p = json_object_get(m, "platform");
        const char *mo = json_string_value(json_object_get(p, "os"));
        const char *ma = json_string_value(json_object_get(p, "architecture"));
        const char *d = json_string_value(json_object_get(m, "digest"));
        const char *mt = json_string_value(json_object_get(m, "mediaType"));

        if (!mo || !ma || !d || strcmp(mo, os) != 0 || strcmp(ma, arch) != 0)
            continue;
        if (strncmp(d, "sha256:", 7) != 0 || strlen(d) != 71)
            return err_set(err, -EINVAL, "unsupported digest %s in the manifest list", d);
        (void)snprintf(ret_digest, 80, "%s", d);
        if (ret_media_type)
            (void)snprintf(ret_media_type, 128, "%s", mt ? mt : "");
        if (ret_size)
            *ret_size = json_integer_value(json_object_get(m, "size"));
        return 0;
    }
    return err_set(err, -ENOENT, "no matching manifest for %s/%s in the manifest list entries", os,
                   arch);
}
