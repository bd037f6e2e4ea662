/* SPDX-License-Identifier: GPL-3.0-or-later */

/* usi-cli's command line: global options, then a command and its options,
 * then the key store.  The usage text is the command-line contract that
 * tests, benchmarks and users script against, so it is printed exactly as
 * documented.  Every mistake on the command line is a usage error (exit 2)
 * found before anything touches the disk or the network.
 */

#define G_LOG_DOMAIN "usi-cli"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "crypto/usi-secret.h"
#include "net/usi-tls-identity.h"
#include "protocol/usi-display-name.h"

#include "usi-cli-client.h"
#include "usi-cli-command.h"
#include "usi-cli-output.h"

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

static gboolean
bad_value (GError     **error,
           const char  *message)
{
  g_set_error_literal (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, message);
  return FALSE;
}

static guint16
address_port (const char *text,
              guint16     default_port)
{
  g_autoptr(GSocketConnectable) address = g_network_address_parse (text, default_port, NULL);

  return address != NULL ? g_network_address_get_port (G_NETWORK_ADDRESS (address)) : 0;
}

/* HOST:PORT with the port written out; a relay's port is never 0. */
static gboolean
check_address (const char  *option,
               const char  *text,
               gboolean     listening,
               GError     **error)
{
  g_autoptr(GSocketConnectable) address = g_network_address_parse (text, 0, NULL);

  /* A port that follows the default was not written. */
  if (address == NULL || address_port (text, 1) != address_port (text, 0) ||
      (!listening && address_port (text, 0) == 0))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   /* Translators: %s: an option such as --relay, then what was given */
                   _("%s: “%s” is not an address of the form HOST:PORT"), option, text);
      return FALSE;
    }
  return TRUE;
}

static gboolean
parse_pin (const char     *text,
           UsiCliRequest  *request,
           GError        **error)
{
  g_autoptr(GError) pin_error = NULL;

  if (!usi_tls_pin_parse_hex (text, request->pin, &pin_error))
    {
      g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                   _("--pin: a relay’s pin is 64 hexadecimal digits, as usi-relay prints it"));
      return FALSE;
    }
  request->has_pin = TRUE;
  return TRUE;
}

/* Parses a command's options; `args` starts with the command's name and
 * is left with its arguments. */
static gboolean
parse_command_options (GStrv        *args,
                       GOptionEntry *entries,
                       GError      **error)
{
  g_autoptr(GOptionContext) context = g_option_context_new (NULL);

  g_option_context_set_help_enabled (context, FALSE);
  g_option_context_add_main_entries (context, entries, GETTEXT_PACKAGE);
  return g_option_context_parse_strv (context, args, error);
}

static gboolean
unexpected_argument (GError     **error,
                     const char  *argument)
{
  g_set_error (error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
               /* Translators: %s is an unexpected word on the command line */
               _("unexpected argument “%s”"), argument);
  return FALSE;
}

static gboolean
parse_host (GStrv           args,
            UsiCliRequest  *request,
            GError        **error)
{
  g_autofree char *pin = NULL;
  int rotate_every = -1;
  GOptionEntry entries[] = {
    { "listen", 0, 0, G_OPTION_ARG_STRING, &request->listen_address, NULL, NULL },
    { "relay", 0, 0, G_OPTION_ARG_STRING, &request->relay_address, NULL, NULL },
    { "pin", 0, 0, G_OPTION_ARG_STRING, &pin, NULL, NULL },
    { "room", 0, 0, G_OPTION_ARG_STRING, &request->room_name, NULL, NULL },
    { "password", 0, 0, G_OPTION_ARG_STRING, &request->password, NULL, NULL },
    { "psk", 0, 0, G_OPTION_ARG_STRING, &request->preshared_key, NULL, NULL },
    { "rotate-every", 0, 0, G_OPTION_ARG_INT, &rotate_every, NULL, NULL },
    { NULL }
  };

  request->action = USI_CLI_ACTION_HOST;
  if (!parse_command_options (&args, entries, error))
    return FALSE;
  if (args[1] != NULL)
    return unexpected_argument (error, args[1]);

  if (request->listen_address != NULL && request->relay_address != NULL)
    return bad_value (error, _("host: --listen and --relay cannot be used together"));
  if (request->relay_address != NULL && pin == NULL)
    return bad_value (error, _("host: --relay needs --pin, the pin the relay prints when it starts"));
  if (pin != NULL && request->relay_address == NULL)
    return bad_value (error, _("host: --pin goes with --relay"));
  if (request->preshared_key != NULL && request->password != NULL)
    return bad_value (error, _("host: a pre-shared key room (--psk) has no password: the key is the room"));
  if (request->preshared_key != NULL && rotate_every != -1)
    return bad_value (error, _("host: the keys of a pre-shared key room (--psk) never rotate: --rotate-every cannot be used"));
  if (rotate_every != -1 && rotate_every < 1)
    return bad_value (error, _("--rotate-every: the number of messages must be 1 or more"));
  if (request->password != NULL && request->password[0] == '\0')
    return bad_value (error, _("--password: the password is empty"));

  if (request->listen_address == NULL && request->relay_address == NULL)
    request->listen_address = g_strdup_printf ("0.0.0.0:%d", USI_DEFAULT_PORT);
  if (request->listen_address != NULL &&
      !check_address ("--listen", request->listen_address, TRUE, error))
    return FALSE;
  if (request->relay_address != NULL &&
      (!check_address ("--relay", request->relay_address, FALSE, error) ||
       !parse_pin (pin, request, error)))
    return FALSE;

  request->rotate_after = rotate_every > 0 ? (guint) rotate_every : 0;
  return TRUE;
}

static gboolean
parse_join (GStrv           args,
            UsiCliRequest  *request,
            GError        **error)
{
  g_autofree char *pin = NULL;
  GOptionEntry entries[] = {
    { "password", 0, 0, G_OPTION_ARG_STRING, &request->password, NULL, NULL },
    { "psk", 0, 0, G_OPTION_ARG_STRING, &request->preshared_key, NULL, NULL },
    { "relay", 0, 0, G_OPTION_ARG_STRING, &request->relay_address, NULL, NULL },
    { "pin", 0, 0, G_OPTION_ARG_STRING, &pin, NULL, NULL },
    { NULL }
  };

  if (!parse_command_options (&args, entries, error))
    return FALSE;

  if (request->preshared_key != NULL)
    {
      request->action = USI_CLI_ACTION_JOIN_PRESHARED;
      if (args[1] != NULL)
        return unexpected_argument (error, args[1]);
      if (request->password != NULL)
        return bad_value (error, _("join: a pre-shared key room (--psk) has no password: the key is the room"));
      if (request->relay_address == NULL)
        return bad_value (error, _("join: --psk needs --relay, the relay where the room is"));
      if (!check_address ("--relay", request->relay_address, FALSE, error))
        return FALSE;
      if (pin != NULL && !parse_pin (pin, request, error))
        return FALSE;
      return TRUE;
    }

  request->action = USI_CLI_ACTION_JOIN;
  if (args[1] == NULL)
    return bad_value (error, _("join: give the invite (usi://invite/…), or --psk KEY --relay ADDR:PORT"));
  if (args[2] != NULL)
    return unexpected_argument (error, args[2]);
  if (request->relay_address != NULL || pin != NULL)
    return bad_value (error, _("join: an invite names its relay and the relay’s pin; --relay and --pin go with --psk"));
  if (request->password != NULL && request->password[0] == '\0')
    return bad_value (error, _("--password: the password is empty"));

  request->invite = g_strdup (args[1]);
  return TRUE;
}

static char *
default_display_name (void)
{
  char *name = usi_display_name_normalize (g_get_user_name (), NULL);

  return name != NULL ? name : g_strdup ("usi");
}

/* The first line of `path`, without its line break. */
static char *
read_passphrase (const char  *path,
                 GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree char *display = g_filename_display_name (path);
  char *contents = NULL;
  gsize length = 0;
  gsize line_length;
  char *passphrase;

  if (!g_file_get_contents (path, &contents, &length, &local_error))
    {
      g_set_error (error, G_FILE_ERROR, local_error->code,
                   /* Translators: %s: a file name, then why it could not be read */
                   _("Cannot read the passphrase file “%s”: %s"), display, local_error->message);
      return NULL;
    }

  line_length = strcspn (contents, "\r\n");
  passphrase = g_strndup (contents, line_length);
  usi_secret_wipe (contents, length);
  g_free (contents);

  if (passphrase[0] == '\0')
    {
      g_free (passphrase);
      g_set_error (error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                   _("The passphrase file “%s” has no passphrase on its first line"), display);
      return NULL;
    }
  return passphrase;
}

static UsiStore *
open_passphrase_store (const char  *directory,
                       const char  *passphrase_file,
                       GError     **error)
{
  char *passphrase = read_passphrase (passphrase_file, error);
  UsiStore *store;

  if (passphrase == NULL)
    return NULL;
  store = usi_store_open_passphrase (directory, passphrase, NULL, error);
  usi_secret_wipe (passphrase, strlen (passphrase));
  g_free (passphrase);
  return store;
}

static UsiStore *
open_store (const UsiCliOptions  *options,
            GError              **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree char *directory = NULL;
  g_autofree char *key_file = NULL;
  UsiStore *store;

  if (options->keep_nothing)
    return usi_store_new_keep_nothing ();

  directory = options->state_dir != NULL ? g_strdup (options->state_dir)
                                         : g_build_filename (g_get_user_data_dir (), "usi", NULL);

  /* A state whose key a passphrase wraps stays with that passphrase, even
   * where a Secret Service answers. */
  key_file = g_build_filename (directory, "key", NULL);
  if (options->passphrase_file != NULL && g_file_test (key_file, G_FILE_TEST_EXISTS))
    return open_passphrase_store (directory, options->passphrase_file, error);

  store = usi_store_open_secret_service (directory, NULL, &local_error);
  if (store != NULL)
    return store;

  if (!g_error_matches (local_error, USI_STORE_ERROR, USI_STORE_ERROR_NO_SECRET_SERVICE))
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }

  if (options->passphrase_file == NULL)
    {
      g_set_error_literal (error, USI_STORE_ERROR, USI_STORE_ERROR_NO_SECRET_SERVICE,
                           _("No Secret Service is reachable to protect the stored state: "
                             "use --passphrase-file FILE, or --keep-nothing."));
      return NULL;
    }

  g_debug ("No Secret Service: the state's key is wrapped by the passphrase");
  return open_passphrase_store (directory, options->passphrase_file, error);
}

int
usi_cli_command_run (int    argc,
                     char **argv)
{
  g_auto(UsiCliOptions) options = { 0 };
  g_auto(UsiCliRequest) request = { 0 };
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) args = NULL;
  g_autoptr(UsiCliOutput) output = NULL;
  g_autoptr(UsiStore) store = NULL;
  g_autoptr(UsiCliClient) client = NULL;
  g_autofree char *name = NULL;
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
  gboolean parsed;

  g_return_val_if_fail (argc > 0 && argv != NULL, USI_EXIT_USAGE);

  /* stdout carries events only (JSON mode: nothing else); logs go to stderr. */
  g_log_writer_default_set_use_stderr (TRUE);

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

  if (g_str_equal (command, "host"))
    parsed = parse_host (args + 1, &request, &error);
  else if (g_str_equal (command, "join"))
    parsed = parse_join (args + 1, &request, &error);
  else
    {
      g_autofree char *message = NULL;

      /* Translators: %s is what the user typed as the command */
      message = g_strdup_printf (_("unknown command “%s”; the commands are host and join"), command);
      return usage_error (message);
    }
  if (!parsed)
    return usage_error (error->message);

  output = usi_cli_output_new (options.json);
  store = open_store (&options, &error);
  if (store == NULL)
    {
      usi_cli_output_fatal (output, error);
      return USI_EXIT_FAILURE;
    }

  name = options.name != NULL ? g_strdup (options.name) : default_display_name ();
  client = usi_cli_client_new (output, store, name, options.accept_files);
  return usi_cli_client_run (client, &request);
}
