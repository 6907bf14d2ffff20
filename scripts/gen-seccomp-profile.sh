#!/bin/sh
# Turn a text file into a C string constant:
#   scripts/gen-seccomp-profile.sh <input> <symbol> > out.c
# Used by the Makefile to build runtime/seccomp-default.profile into shoald.
set -eu
in=$1
sym=$2
printf '/* Generated from %s by scripts/gen-seccomp-profile.sh; do not edit. */\n' "$in"
printf 'extern const char %s[];\n' "$sym"
printf 'const char %s[] = ""\n' "$sym"
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/	/\\t/g' -e 's/^/    "/' -e 's/$/\\n"/' "$in"
printf '    ;\n'
