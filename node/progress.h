/*
 * node/progress.h - Docker's JSON message stream, as pull, push and load
 * send it (reference/docker-api/README.md section 4.4):
 *   {"status":"Downloading","progressDetail":{"current":1,"total":2},
 *    "progress":"[=>    ]  1B/2B","id":"3e2442e4195c"}
 * One object per chunk, flushed at once. Errors after the 200 header go in
 * the stream as {"errorDetail":{"message":m},"error":m}.
 * All calls are no-ops once the client has gone (req->aborted).
 */
#ifndef NODE_PROGRESS_H
#define NODE_PROGRESS_H

#include <stdint.h>

#include "node/http.h"

/* Start the 200 chunked application/json stream (idempotent). */
void progress_begin(struct http_req *req);
/* {"status":status} or, with id, {"status":status,"progressDetail":{},"id":id}. */
void progress_status(struct http_req *req, const char *id, const char *status);
/* A progress bar line for id; total <= 0 means unknown. */
void progress_bar(struct http_req *req, const char *id, const char *status, int64_t current,
                  int64_t total);
/* {"stream": text} (text printed as is by the CLI, e.g. "Loaded image: x\n"). */
void progress_stream(struct http_req *req, const char *text);
/* {"aux": value} (takes a reference to the jansson value). */
void progress_aux(struct http_req *req, void *json_value);
/* {"errorDetail":{"message":msg},"error":msg}. */
void progress_error(struct http_req *req, const char *msg);
/* End the stream. */
void progress_end(struct http_req *req);

/* Docker's human size for progress bars ("32.77kB", "1.028MB"); out >= 32 bytes. */
void progress_human_size(int64_t n, char *out, size_t outlen);
/* The bar text itself: "[=====>      ]  1.2MB/3.4MB". */
void progress_bar_text(int64_t current, int64_t total, char *out, size_t outlen);

#endif
