/* SPDX-License-Identifier: GPL-3.0-or-later */

/* usi-relay's command line.  The usage text and the lines printed before
 * serving are a contract that scripts and tests rely on.
 */

#define G_LOG_DOMAIN "usi-relay"

#include "config.h"

#include <glib/gi18n.h>

#include "usi-relay-command.h"

const char usi_relay_usage[] =
  "usi-relay [--listen ADDR:PORT] [--state-dir DIR] [--ephemeral] [limits...]\n"
  "    prints, one per line, before serving:\n"
  "        listening: ADDR:PORT        (the real port when PORT is 0)\n"
  "        pin: PIN                    (what invites carry to authenticate the relay)\n"
  "Exit codes: 0 normal, 2 usage error, 1 runtime failure with a one-line reason on stderr.\n";

/* Exit codes shared with usi-cli (see cli/usi-cli-command.h). */
enum {
  EXIT_OK = 0,
  EXIT_USAGE = 2,
};

int
usi_relay_command_run (int    argc,
                       char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) args = NULL;
  g_autofree char *listen = NULL;
  g_autofree char *state_dir = NULL;
  gboolean ephemeral = FALSE;
  gboolean help = FALSE;
  gboolean version = FALSE;
  const GOptionEntry entries[] = {
    { "listen", 0, 0, G_OPTION_ARG_STRING, &listen, NULL, NULL },
    { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state_dir, NULL, NULL },
    { "ephemeral", 0, 0, G_OPTION_ARG_NONE, &ephemeral, NULL, NULL },
    { "help", 'h', 0, G_OPTION_ARG_NONE, &help, NULL, NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, NULL, NULL },
    { NULL }
  };

  g_return_val_if_fail (argc > 0 && argv != NULL, EXIT_USAGE);

  args = g_strdupv (argv);
  context = g_option_context_new (NULL);
  g_option_context_set_help_enabled (context, FALSE);
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);

  if (!g_option_context_parse_strv (context, &args, &error))
    {
      g_printerr ("usi-relay: %s\n", error->message);
      g_printerr (_("Run “usi-relay --help” for usage.\n"));
      return EXIT_USAGE;
    }

  if (help)
    {
      g_print ("%s", usi_relay_usage);
      return EXIT_OK;
    }

  if (version)
    {
      g_print ("usi-relay %s\n", PACKAGE_VERSION);
      return EXIT_OK;
    }

  if (args[1] != NULL)
    {
      /* Translators: %s is an unexpected word on the command line */
      g_printerr (_("usi-relay: unexpected argument “%s”\n"), args[1]);
      return EXIT_USAGE;
    }

  if (state_dir != NULL && ephemeral)
    {
      g_printerr (_("usi-relay: --state-dir and --ephemeral cannot be used together\n"));
      return EXIT_USAGE;
    }

  g_printerr (_("usi-relay: serving is not available in this version\n"));
  return EXIT_USAGE;
}
