/* SPDX-License-Identifier: GPL-3.0-or-later */

/* usi-relay's command line: options, the state directory, the relay's run
 * until SIGTERM or SIGINT.  The usage text and the lines printed before
 * serving are a contract that scripts and tests rely on.  It never prints
 * or logs a key; the pin it prints is public (invites carry it).
 */

#define G_LOG_DOMAIN "usi-relay"

#include "config.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>

#include <glib/gi18n.h>
#include <glib/gstdio.h>
#include <glib-unix.h>

#include "net/usi-relay.h"
#include "net/usi-relay-store.h"
#include "net/usi-tls-identity.h"

#include "usi-relay-command.h"

#define DEFAULT_LISTEN   "0.0.0.0:12800"
#define KEY_FILE_NAME    "relay-key.pem"
#define CERTIFICATE_NAME "usi-relay"

const char usi_relay_usage[] =
  "usi-relay [--listen ADDR:PORT] [--state-dir DIR] [--ephemeral] [limits...]\n"
  "    prints, one per line, before serving:\n"
  "        listening: ADDR:PORT        (the real port when PORT is 0)\n"
  "        pin: PIN                    (what invites carry to authenticate the relay)\n"
  "Exit codes: 0 normal, 2 usage error, 1 runtime failure with a one-line reason on stderr.\n";

/* Exit codes shared with usi-cli (see cli/usi-cli-command.h). */
enum {
  EXIT_OK = 0,
  EXIT_FAILURE_RUNTIME = 1,
  EXIT_USAGE = 2,
};

/* Parses a whole decimal number in [min, max]; one line on stderr if not. */
static gboolean
parse_count (const char *option,
             const char *text,
             guint64     min,
             guint64     max,
             guint64    *value)
{
  g_autoptr(GError) error = NULL;

  if (text == NULL)
    return TRUE;

  if (!g_ascii_string_to_unsigned (text, 10, min, max, value, &error))
    {
      g_autofree char *min_text = g_strdup_printf ("%" G_GUINT64_FORMAT, min);
      g_autofree char *max_text = g_strdup_printf ("%" G_GUINT64_FORMAT, max);

      /* Translators: the first %s is an option, the second what was given,
       * the last two the smallest and largest numbers allowed */
      g_printerr (_("usi-relay: %s: “%s” is not a number from %s to %s\n"),
                  option, text, min_text, max_text);
      return FALSE;
    }
  return TRUE;
}

static gboolean
quit_cb (gpointer user_data)
{
  GMainLoop *loop = user_data;

  g_main_loop_quit (loop);
  return G_SOURCE_CONTINUE;
}

static int
fail (const GError *error)
{
  g_printerr ("usi-relay: %s\n", error->message);
  return EXIT_FAILURE_RUNTIME;
}

static int
serve (const char                  *listen,
       const char                  *state_dir,
       const UsiRelayLimits        *limits,
       const UsiRelayBacklogLimits *backlog)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiTlsIdentity) identity = NULL;
  g_autoptr(UsiRelayStore) store = NULL;
  g_autoptr(UsiRelay) relay = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autofree char *address = NULL;
  g_autofree char *pin = NULL;
  guint sigterm_id;
  guint sigint_id;

  if (state_dir == NULL)
    {
      store = usi_relay_store_new_memory (backlog);
      identity = usi_tls_identity_generate (CERTIFICATE_NAME, &error);
      if (identity == NULL)
        return fail (error);
    }
  else
    {
      g_autofree char *key_path = g_build_filename (state_dir, KEY_FILE_NAME, NULL);

      if (g_mkdir_with_parents (state_dir, 0700) != 0)
        {
          int saved_errno = errno;

          /* Translators: %s is a directory, the second %s why it failed */
          g_printerr (_("usi-relay: cannot create the state directory “%s”: %s\n"),
                      state_dir, g_strerror (saved_errno));
          return EXIT_FAILURE_RUNTIME;
        }
      identity = usi_tls_identity_load_or_generate (key_path, CERTIFICATE_NAME, &error);
      if (identity == NULL)
        return fail (error);
      store = usi_relay_store_open (state_dir, backlog, &error);
      if (store == NULL)
        return fail (error);
    }

  relay = usi_relay_new (identity, store, limits, &error);
  if (relay == NULL)
    return fail (error);
  if (!usi_relay_listen (relay, listen, &error))
    return fail (error);

  /* Before the two lines: whoever reads them may signal at once. */
  loop = g_main_loop_new (NULL, FALSE);
  sigterm_id = g_unix_signal_add (SIGTERM, quit_cb, loop);
  sigint_id = g_unix_signal_add (SIGINT, quit_cb, loop);

  address = usi_relay_dup_listen_address (relay);
  pin = usi_tls_identity_dup_pin_hex (identity);
  g_print ("listening: %s\npin: %s\n", address, pin);
  fflush (stdout);
  g_message ("Serving on %s", address);

  g_main_loop_run (loop);
  g_source_remove (sigterm_id);
  g_source_remove (sigint_id);

  usi_relay_stop (relay);
  g_clear_object (&relay);
  /* Let the closed connections' last callbacks run. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  g_message ("Stopped");
  return EXIT_OK;
}

int
usi_relay_command_run (int    argc,
                       char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) args = NULL;
  g_autofree char *listen = NULL;
  g_autofree char *state_dir = NULL;
  g_autofree char *max_connections = NULL;
  g_autofree char *backlog_frames = NULL;
  g_autofree char *backlog_bytes = NULL;
  g_autofree char *backlog_days = NULL;
  g_autofree char *idle_timeout = NULL;
  g_autofree char *handshake_timeout = NULL;
  gboolean ephemeral = FALSE;
  gboolean help = FALSE;
  gboolean version = FALSE;
  UsiRelayLimits limits;
  UsiRelayBacklogLimits backlog;
  guint64 value;
  const GOptionEntry entries[] = {
    { "listen", 0, 0, G_OPTION_ARG_STRING, &listen, NULL, NULL },
    { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state_dir, NULL, NULL },
    { "ephemeral", 0, 0, G_OPTION_ARG_NONE, &ephemeral, NULL, NULL },
    { "max-connections", 0, 0, G_OPTION_ARG_STRING, &max_connections, NULL, NULL },
    { "backlog-frames", 0, 0, G_OPTION_ARG_STRING, &backlog_frames, NULL, NULL },
    { "backlog-bytes", 0, 0, G_OPTION_ARG_STRING, &backlog_bytes, NULL, NULL },
    { "backlog-days", 0, 0, G_OPTION_ARG_STRING, &backlog_days, NULL, NULL },
    { "idle-timeout", 0, 0, G_OPTION_ARG_STRING, &idle_timeout, NULL, NULL },
    { "handshake-timeout", 0, 0, G_OPTION_ARG_STRING, &handshake_timeout, NULL, NULL },
    { "help", 'h', 0, G_OPTION_ARG_NONE, &help, NULL, NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &version, NULL, NULL },
    { NULL }
  };

  /* stdout carries the two lines scripts read (listening:, pin:); every
   * log message, debug ones included, goes to stderr. */
  g_log_writer_default_set_use_stderr (TRUE);

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

  usi_relay_limits_init_default (&limits);
  usi_relay_backlog_limits_init_default (&backlog);

  value = limits.max_connections;
  if (!parse_count ("--max-connections", max_connections, 1, 1000000, &value))
    return EXIT_USAGE;
  limits.max_connections = (guint) value;

  if (!parse_count ("--backlog-frames", backlog_frames, 1, G_MAXUINT32, &backlog.max_frames))
    return EXIT_USAGE;
  if (!parse_count ("--backlog-bytes", backlog_bytes, 1, G_MAXINT64, &backlog.max_bytes))
    return EXIT_USAGE;
  value = backlog.max_age_ms / (24 * 3600 * 1000);
  if (!parse_count ("--backlog-days", backlog_days, 1, 36500, &value))
    return EXIT_USAGE;
  backlog.max_age_ms = value * 24 * 3600 * 1000;

  /* 0: never closed for idleness. */
  value = limits.connection.idle_timeout_ms / 1000;
  if (!parse_count ("--idle-timeout", idle_timeout, 0, 86400, &value))
    return EXIT_USAGE;
  limits.connection.idle_timeout_ms = (guint) value * 1000;

  value = limits.connection.handshake_timeout_ms / 1000;
  if (!parse_count ("--handshake-timeout", handshake_timeout, 1, 3600, &value))
    return EXIT_USAGE;
  limits.connection.handshake_timeout_ms = (guint) value * 1000;

  if (listen != NULL)
    {
      g_autoptr(GSocketAddress) address = usi_relay_parse_listen_address (listen, &error);

      if (address == NULL)
        {
          g_printerr ("usi-relay: --listen: %s\n", error->message);
          return EXIT_USAGE;
        }
    }

  if (!ephemeral && state_dir == NULL)
    state_dir = g_build_filename (g_get_user_state_dir (), "usi-relay", NULL);

  return serve (listen != NULL ? listen : DEFAULT_LISTEN, ephemeral ? NULL : state_dir, &limits, &backlog);
}
