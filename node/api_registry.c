/*
 * node/api_registry.c - registry routes (pull, push, /distribution, /auth).
 * Placeholder until the registry client lands: pulls are refused clearly.
 */
#include <string.h>

#include "node/node.h"

bool node_api_registry(struct http_req *req, const char *path)
{
    if (strcmp(path, "/images/create") == 0 && strcmp(req->method, "POST") == 0 &&
        !http_query_get(req, "fromSrc")) {
        const char *img = http_query_get(req, "fromImage");
        const char *tag = http_query_get(req, "tag");
        http_reply_error(req, 404,
                         "pull access denied for %s%s%s: this shoald cannot pull from "
                         "registries yet; load or import the image instead",
                         img ? img : "", tag && *tag ? ":" : "", tag ? tag : "");
        return true;
    }
    return false;
}
