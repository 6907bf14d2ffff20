/*
 * runtime/seccomp.h - the default seccomp profile, compiled to BPF in shoald.
 *
 * The profile is our own text file (runtime/seccomp-default.profile, built
 * into the binary; see the file for its format) holding the facts of Docker's
 * default profile: default action EPERM, an allow-list, argument conditions
 * (clone flags, personality, socket families) and groups unlocked by
 * capabilities or architectures.
 *
 * rt_seccomp_compile() resolves the profile against a capability mask and
 * the host architecture and exports a BPF program (an array of struct
 * sock_filter) that the container's setup child installs with seccomp(2)
 * just before execve. Syscalls unknown to this libseccomp are skipped.
 */
#ifndef RUNTIME_SECCOMP_H
#define RUNTIME_SECCOMP_H

#include <stddef.h>
#include <stdint.h>

struct err;

/* profile: text in the profile format, or NULL for the built-in default.
 * cap_mask: the container's capabilities (bit n = capability n).
 * On success *ret_bpf (malloc'd, caller frees) holds *ret_len bytes. */
int rt_seccomp_compile(const char *profile, uint64_t cap_mask, void **ret_bpf, size_t *ret_len,
                       struct err *err);

/* The built-in default profile text. */
const char *rt_seccomp_default_profile(void);

#endif
