/*
 * node/api_archive.c - GET/HEAD/PUT /containers/{id}/archive (docker cp).
 *
 * Not implemented yet: answered with a clear error so the CLI reports it.
 */
#define LOG_MODULE "api"

#include "node/node.h"

void node_api_archive(struct http_req *req, struct rt_container *c)
{
    (void)c;
    http_reply_error(req, 501, "docker cp is not supported by shoal yet");
}
