/* SPDX-License-Identifier: GPL-3.0-or-later */

/* usi-relay: the headless relay.  All behaviour lives in relay/ and net/. */

#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "relay/usi-relay-command.h"

int
main (int   argc,
      char *argv[])
{
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  return usi_relay_command_run (argc, argv);
}
