/*
 * cli/main.c - `shoal`, the command-line client. Everything lives in
 * the other cli/ files (linked from build/libcore.a); see cli/cli.h.
 */
#include "cli/cli.h"

int main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
