/*
 * runtime/mounts.h - a container's bind and tmpfs mounts.
 *
 * HostConfig.Binds (-v /host:/ctr[:opts]), HostConfig.Mounts (--mount, a
 * swarm ContainerSpec.Mounts) and HostConfig.Tmpfs (--tmpfs) are parsed and
 * validated with Docker's messages into one list, in the order they are
 * mounted (shallow destinations first). Named and anonymous volumes are
 * refused ("named volumes are not supported").
 *
 * Each element of the list is an object with inspect's Mounts[] fields
 * {Type, Source, Destination, Mode, RW, Propagation} plus:
 *   "Flags"   MS_* flags for the monitor (proto RtMount.flags)
 *   "Data"    filesystem options ("size=65536k,mode=1777" for a tmpfs)
 *   "Create"  true for a -v source: made (mkdir -p) at start if missing
 *   "Listed"  false for a --tmpfs, which inspect's Mounts[] leaves out
 */
#ifndef RUNTIME_MOUNTS_H
#define RUNTIME_MOUNTS_H

#include <jansson.h>
#include <stdbool.h>

#include "lib/err.h"

/* Parse cfg (Config, for Config.Volumes; may be NULL) and hc (HostConfig).
 * check_sources: a --mount bind source must exist (create time; Docker's
 * "bind source path does not exist"). *ret: a new array (empty if none). */
int rt_mounts_parse(json_t *cfg, json_t *hc, bool check_sources, json_t **ret, struct err *err);
/* Create the missing sources of -v binds (mkdir -p, 0755), as Docker does at start. */
int rt_mounts_prepare(json_t *mounts, struct err *err);
/* inspect's Mounts[] for a parsed list (a new array). */
json_t *rt_mounts_inspect(json_t *mounts);
/* Lexically clean an absolute path (Go's filepath.Clean): "//a/./b/../c/" -> "/a/c".
 * Returns 0, -EINVAL (not absolute) or -ENAMETOOLONG. */
int rt_path_clean(const char *in, char *out, size_t outlen);

#endif
