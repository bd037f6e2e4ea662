/* SPDX-License-Identifier: GPL-3.0-or-later */

/* usi-cli: the terminal client.  All behaviour lives in cli/ and session/. */

#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "cli/usi-cli-command.h"

int
main (int   argc,
      char *argv[])
{
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  return usi_cli_command_run (argc, argv);
}
