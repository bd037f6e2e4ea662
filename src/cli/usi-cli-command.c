/* SPDX-License-Identifier: GPL-3.0-or-later */

/* usi-cli's command line: global options, then a command and its options.
 * The usage text is the command-line contract that tests, benchmarks and
 * users script against, so it is printed exactly as documented.
 */

#define G_LOG_DOMAIN "usi-cli"

#include "config.h"

#include <glib/gi18n.h>

#include "protocol/usi-display-name.h"

#include "usi-cli-command.h"

const char usi_cli_usage[] =
  "usi-cli [--state-dir DIR | --keep-nothing] [--passphrase-file FILE]\n"
  "        [--name NAME] [--json] [--accept-files DIR] COMMAND\n"
  "    --state-dir: where identity and room state are kept, encrypted (default: the\n"
  "    XDG data dir); its key is in the Secret Service, or wrapped by the passphrase\n"
  "    in FILE when there is no Secret Service; --keep-nothing: nothing on disk.\n"
  "    Without either when no Secret Service is reachable: exit 1 saying so.\n"
  "    host [--listen ADDR:PORT | --relay ADDR:PORT --pin PIN]\n"
  "         [--room NAME] [--password PW] [--psk KEY] [--rotate-every N]\n"
  "    join INVITE [--password PW]\n"
  "    join --psk KEY --relay ADDR:PORT [--pin PIN]\n"
  "  stdin, one command per line:\n"
  "    TEXT            send a message          /invite         print a new invite\n"
  "    /send PATH...   offer files/folders     /accept ID|all  /decline ID\n"
  "    /members        list members, safety numbers, verified state\n"
  "    /verify NAME    mark verified           /remove NAME    (owner) remove a member\n"
  "    /rotate         (owner) new epoch now   /quit\n"
  "  --json: every event is one JSON object per line on stdout.\n"
  "Exit codes: 0 normal, 2 usage error, 1 runtime failure with a one-line reason on stderr.\n";

typedef struct
{
  char     *state_dir;
  gboolean  keep_nothing;
  char     *passphrase_file;
  char     *name;
  gboolean  json;
  char     *accept_files;
  gboolean  help;
  gboolean  version;
} UsiCliOptions;

static void
usi_cli_options_clear (UsiCliOptions *options)
{
  g_clear_pointer (&options->state_dir, g_free);
  g_clear_pointer (&options->passphrase_file, g_free);
  g_clear_pointer (&options->name, g_free);
  g_clear_pointer (&options->accept_files, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (UsiCliOptions, usi_cli_options_clear)

static int
usage_error (const char *message)
{
  g_printerr ("usi-cli: %s\n", message);
  g_printerr (_("Run “usi-cli --help” for usage.\n"));
  return USI_EXIT_USAGE;
}

static gboolean
check_options (UsiCliOptions  *options,
               GError        **error)
{
  if (options->state_dir != NULL && options->keep_nothing)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           _("--state-dir and --keep-nothing cannot be used together"));
      return FALSE;
    }

  if (options->passphrase_file != NULL && options->keep_nothing)
    {
      g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                           _("--passphrase-file has no use with --keep-nothing"));
      return FALSE;
    }

  if (options->name != NULL)
    {
      g_autoptr(GError) name_error = NULL;
      g_autofree char *name = usi_display_name_normalize (options->name, &name_error);

      if (name == NULL)
        {
          g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                       _("--name: %s"), name_error->message);
          return FALSE;
        }
      g_free (options->name);
      options->name = g_steal_pointer (&name);
    }

  return TRUE;
}

int
usi_cli_command_run (int    argc,
                     char **argv)
{
  g_auto(UsiCliOptions) options = { 0 };
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) args = NULL;
  const GOptionEntry entries[] = {
    { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &options.state_dir, NULL, NULL },
    { "keep-nothing", 0, 0, G_OPTION_ARG_NONE, &options.keep_nothing, NULL, NULL },
    { "passphrase-file", 0, 0, G_OPTION_ARG_FILENAME, &options.passphrase_file, NULL, NULL },
    { "name", 0, 0, G_OPTION_ARG_STRING, &options.name, NULL, NULL },
    { "json", 0, 0, G_OPTION_ARG_NONE, &options.json, NULL, NULL },
    { "accept-files", 0, 0, G_OPTION_ARG_FILENAME, &options.accept_files, NULL, NULL },
    { "help", 'h', 0, G_OPTION_ARG_NONE, &options.help, NULL, NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &options.version, NULL, NULL },
    { NULL }
  };
  const char *command;

  g_return_val_if_fail (argc > 0 && argv != NULL, USI_EXIT_USAGE);

  args = g_strdupv (argv);
  context = g_option_context_new (NULL);
  g_option_context_set_help_enabled (context, FALSE);
  /* Global options end at the command; what follows belongs to it. */
  g_option_context_set_strict_posix (context, TRUE);
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);

  if (!g_option_context_parse_strv (context, &args, &error) ||
      !check_options (&options, &error))
    return usage_error (error->message);

  if (options.help)
    {
      g_print ("%s", usi_cli_usage);
      return USI_EXIT_OK;
    }

  if (options.version)
    {
      g_print ("usi-cli %s\n", PACKAGE_VERSION);
      return USI_EXIT_OK;
    }

  command = args[1];
  if (command == NULL)
    {
      g_printerr ("%s", usi_cli_usage);
      return usage_error (_("a command is needed: host or join"));
    }

  if (g_str_equal (command, "host") || g_str_equal (command, "join"))
    {
      /* Translators: %s is a command name such as “host” */
      g_printerr (_("usi-cli: %s: not available in this version\n"), command);
      return USI_EXIT_USAGE;
    }

  {
    g_autofree char *message = NULL;

    /* Translators: %s is what the user typed as the command */
    message = g_strdup_printf (_("unknown command “%s”; the commands are host and join"), command);
    return usage_error (message);
  }
}
