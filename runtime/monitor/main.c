/*
 * runtime/monitor/main.c - entry point of shoal-monitor, the per-container
 * monitor process (a static, libc-only binary embedded in shoald).
 *
 * Usage: shoal-monitor <path to spec.pb>
 *   fd 3 is the status pipe to shoald ("ok <monitor pid> <container pid>\n" or
 *   "err <message>\n", see runtime/monitor_proto.h); fds 0-2 are /dev/null.
 * May run as /proc/self/fd/N from a sealed memfd: argv[0] means nothing.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "runtime/monitor/monitor.h"

int main(int argc, char **argv)
{
    if (argc != 2) {
        static const char usage[] = "err usage: shoal-monitor <spec.pb>\n";
        (void)!write(3, usage, sizeof(usage) - 1);
        return 2;
    }
    return mon_main(argv[1]);
}
