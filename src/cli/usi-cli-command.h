/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Exit codes of the command-line contract (docs: architecture). */
typedef enum
{
  USI_EXIT_OK      = 0,
  USI_EXIT_FAILURE = 1,
  USI_EXIT_USAGE   = 2,
} UsiExitCode;

extern const char usi_cli_usage[];

int usi_cli_command_run (int    argc,
                         char **argv);

G_END_DECLS
