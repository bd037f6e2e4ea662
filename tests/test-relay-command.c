/* SPDX-License-Identifier: GPL-3.0-or-later */

/* usi-relay, run as a separate process exactly as operators and scripts run
 * it: the usage text, the two lines printed before serving, the exit codes,
 * the one-line errors, the state directory and its key file. */

#include "config.h"

#include <signal.h>
#include <string.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#define WATCHDOG_SECONDS 30

typedef struct
{
  int   status;
  char *out;
  char *err;
} RunResult;

static void
run_result_clear (RunResult *result)
{
  g_clear_pointer (&result->out, g_free);
  g_clear_pointer (&result->err, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (RunResult, run_result_clear)

static char *
relay_path (void)
{
  return g_build_filename (USI_BUILD_ROOT, "src", "relay", "usi-relay", NULL);
}

static GSubprocess *
spawn_relay (GSubprocessLauncher *launcher,
             const char * const  *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GSubprocessLauncher) own_launcher = NULL;
  g_autoptr(GError) error = NULL;
  GSubprocess *process;

  g_ptr_array_add (argv, relay_path ());
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, NULL);

  if (launcher == NULL)
    {
      own_launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE |
                                                G_SUBPROCESS_FLAGS_STDIN_PIPE);
      launcher = own_launcher;
    }
  process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  return process;
}

/* Runs usi-relay to its end (it must end by itself). */
static void
run (RunResult          *result,
     const char * const *args)
{
  g_autoptr(GSubprocess) process = spawn_relay (NULL, args);
  g_autoptr(GError) error = NULL;

  g_subprocess_communicate_utf8 (process, "", NULL, &result->out, &result->err, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (process));
  result->status = g_subprocess_get_exit_status (process);
}

static guint
count_lines (const char *text)
{
  guint lines = 0;

  for (const char *p = text; *p; p++)
    lines += *p == '\n';
  return lines;
}

/* Waiting with a watchdog */

typedef struct
{
  gboolean  done;
  char     *line;
  GError   *error;
} LineWait;

static void
read_line_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  LineWait *wait = user_data;

  wait->line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (object), result, NULL, &wait->error);
  wait->done = TRUE;
}

static gboolean
watchdog_cb (gpointer user_data)
{
  g_error ("watchdog: usi-relay did not answer within %d s", WATCHDOG_SECONDS);
  return G_SOURCE_REMOVE;
}

static char *
read_line (GDataInputStream *stream)
{
  LineWait wait = { 0 };
  guint watchdog = g_timeout_add_seconds (WATCHDOG_SECONDS, watchdog_cb, NULL);

  g_data_input_stream_read_line_async (stream, G_PRIORITY_DEFAULT, NULL, read_line_cb, &wait);
  while (!wait.done)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (watchdog);
  g_assert_no_error (wait.error);
  return wait.line;
}

typedef struct
{
  gboolean  done;
  GError   *error;
} ExitWait;

static void
wait_cb (GObject      *object,
         GAsyncResult *result,
         gpointer      user_data)
{
  ExitWait *wait = user_data;

  g_subprocess_wait_finish (G_SUBPROCESS (object), result, &wait->error);
  wait->done = TRUE;
}

static void
wait_for_exit (GSubprocess *process)
{
  ExitWait wait = { 0 };
  guint watchdog = g_timeout_add_seconds (WATCHDOG_SECONDS, watchdog_cb, NULL);

  g_subprocess_wait_async (process, NULL, wait_cb, &wait);
  while (!wait.done)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (watchdog);
  g_assert_no_error (wait.error);
}

static char *
read_all_stderr (GSubprocess *process)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GOutputStream) sink = g_memory_output_stream_new_resizable ();

  g_output_stream_splice (sink, g_subprocess_get_stderr_pipe (process),
                          G_OUTPUT_STREAM_SPLICE_CLOSE_TARGET, NULL, &error);
  g_assert_no_error (error);
  bytes = g_memory_output_stream_steal_as_bytes (G_MEMORY_OUTPUT_STREAM (sink));
  return g_strndup (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
}

/* A relay serving: the two lines it printed, parsed. */
typedef struct
{
  GSubprocess      *process;
  gboolean          exited;
  GDataInputStream *out;
  char             *host;
  guint16           port;
  char             *pin;
} Serving;

static void
serving_clear (Serving *serving)
{
  if (serving->process != NULL && !serving->exited)
    {
      g_subprocess_force_exit (serving->process);
      wait_for_exit (serving->process);
    }
  g_clear_object (&serving->out);
  g_clear_object (&serving->process);
  g_clear_pointer (&serving->host, g_free);
  g_clear_pointer (&serving->pin, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Serving, serving_clear)

static gboolean
is_pin (const char *text)
{
  if (strlen (text) != 64)
    return FALSE;
  for (const char *p = text; *p; p++)
    if (!g_ascii_isdigit (*p) && !(*p >= 'a' && *p <= 'f'))
      return FALSE;
  return TRUE;
}

static void
start_serving (Serving             *serving,
               GSubprocessLauncher *launcher,
               const char * const  *args)
{
  g_autofree char *listening = NULL;
  g_autofree char *pin = NULL;
  const char *colon;
  guint64 port = 0;

  serving->process = spawn_relay (launcher, args);
  serving->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (serving->process));

  listening = read_line (serving->out);
  g_assert_nonnull (listening);
  g_assert_true (g_str_has_prefix (listening, "listening: "));
  colon = strrchr (listening, ':');
  g_assert_true (g_ascii_string_to_unsigned (colon + 1, 10, 1, G_MAXUINT16, &port, NULL));
  serving->host = g_strndup (listening + strlen ("listening: "), colon - listening - strlen ("listening: "));
  serving->port = (guint16) port;

  pin = read_line (serving->out);
  g_assert_nonnull (pin);
  g_assert_true (g_str_has_prefix (pin, "pin: "));
  serving->pin = g_strdup (pin + strlen ("pin: "));
  g_assert_true (is_pin (serving->pin));
}

/* Stops it with @signum and checks it exits 0 having printed nothing more. */
static void
stop_serving (Serving *serving,
              int      signum)
{
  g_autofree char *rest = NULL;
  g_autofree char *err = NULL;

  g_subprocess_send_signal (serving->process, signum);
  wait_for_exit (serving->process);
  serving->exited = TRUE;
  g_assert_true (g_subprocess_get_if_exited (serving->process));
  g_assert_cmpint (g_subprocess_get_exit_status (serving->process), ==, 0);

  rest = read_line (serving->out);
  g_assert_null (rest);
  err = read_all_stderr (serving->process);
  g_assert_null (strstr (err, "WARNING"));
  g_assert_null (strstr (err, "CRITICAL"));
}

static void
assert_accepts_tcp (guint16 port)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = NULL;
  g_autoptr(GError) error = NULL;

  connection = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (connection);
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir != NULL)
    while ((name = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *child = g_build_filename (path, name, NULL);

        remove_tree (child);
      }
  g_assert_cmpint (g_remove (path), ==, 0);
}

/* Tests */

static void
test_help (void)
{
  g_auto(RunResult) result = { 0 };
  const char * const args[] = { "--help", NULL };

  run (&result, args);
  g_assert_cmpint (result.status, ==, 0);
  g_assert_cmpstr (result.err, ==, "");
  g_assert_true (g_str_has_prefix (result.out,
                                   "usi-relay [--listen ADDR:PORT] [--state-dir DIR] [--ephemeral] [limits...]\n"
                                   "    prints, one per line, before serving:\n"
                                   "        listening: ADDR:PORT        (the real port when PORT is 0)\n"
                                   "        pin: PIN                    (what invites carry to authenticate the relay)\n"));
}

static void
test_version (void)
{
  g_auto(RunResult) result = { 0 };
  const char * const args[] = { "--version", NULL };

  run (&result, args);
  g_assert_cmpint (result.status, ==, 0);
  g_assert_cmpstr (result.out, ==, "usi-relay " PACKAGE_VERSION "\n");
}

static void
test_usage_errors (void)
{
  g_auto(RunResult) unknown = { 0 };
  g_auto(RunResult) extra = { 0 };
  g_auto(RunResult) missing = { 0 };
  const char * const unknown_args[] = { "--bogus", NULL };
  const char * const extra_args[] = { "serve", NULL };
  const char * const missing_args[] = { "--listen", NULL };

  run (&unknown, unknown_args);
  g_assert_cmpint (unknown.status, ==, 2);
  g_assert_cmpstr (unknown.out, ==, "");
  g_assert_nonnull (strstr (unknown.err, "--bogus"));
  g_assert_cmpuint (count_lines (unknown.err), ==, 2);

  run (&extra, extra_args);
  g_assert_cmpint (extra.status, ==, 2);
  g_assert_cmpstr (extra.err, ==, "usi-relay: unexpected argument “serve”\n");

  run (&missing, missing_args);
  g_assert_cmpint (missing.status, ==, 2);
  g_assert_nonnull (strstr (missing.err, "--listen"));
}

static void
test_ephemeral_and_state_dir (void)
{
  g_auto(RunResult) result = { 0 };
  g_autofree char *dir = g_dir_make_tmp ("usi-relay-command-XXXXXX", NULL);
  g_autofree char *state = g_build_filename (dir, "state", NULL);
  const char * const args[] = { "--ephemeral", "--state-dir", state, NULL };

  run (&result, args);
  g_assert_cmpint (result.status, ==, 2);
  g_assert_cmpstr (result.out, ==, "");
  g_assert_cmpstr (result.err, ==, "usi-relay: --state-dir and --ephemeral cannot be used together\n");
  /* Refused before anything was made. */
  g_assert_false (g_file_test (state, G_FILE_TEST_EXISTS));
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

static void
test_bad_values (void)
{
  struct {
    const char *option;
    const char *value;
  } cases[] = {
    { "--max-connections", "0" },
    { "--max-connections", "many" },
    { "--backlog-frames", "-1" },
    { "--backlog-bytes", "12k" },
    { "--backlog-days", "0" },
    { "--idle-timeout", "-5" },
    { "--idle-timeout", "1.5" },
    { "--handshake-timeout", "0" },
    { "--handshake-timeout", "" },
    { "--listen", "127.0.0.1" },
    { "--listen", "127.0.0.1:65536" },
    { "--listen", "relay.example:12800" },
    { "--listen", "::1:12800" },
    { "--listen", "[127.0.0.1]:1" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_auto(RunResult) result = { 0 };
      const char * const args[] = { "--ephemeral", cases[i].option, cases[i].value, NULL };

      g_test_message ("%s %s", cases[i].option, cases[i].value);
      run (&result, args);
      g_assert_cmpint (result.status, ==, 2);
      g_assert_cmpstr (result.out, ==, "");
      g_assert_cmpuint (count_lines (result.err), ==, 1);
      g_assert_true (g_str_has_prefix (result.err, "usi-relay: "));
      g_assert_nonnull (strstr (result.err, cases[i].option));
    }
}

static void
test_serve_ephemeral (void)
{
  g_auto(Serving) serving = { 0 };
  const char * const args[] = { "--listen", "127.0.0.1:0", "--ephemeral", NULL };

  start_serving (&serving, NULL, args);
  g_assert_cmpstr (serving.host, ==, "127.0.0.1");
  g_assert_cmpuint (serving.port, >, 0);
  assert_accepts_tcp (serving.port);
  stop_serving (&serving, SIGTERM);
}

static void
test_serve_limits_and_sigint (void)
{
  g_auto(Serving) serving = { 0 };
  const char * const args[] = { "--listen", "localhost:0", "--ephemeral", "--max-connections", "10",
                                "--backlog-frames", "100", "--backlog-bytes", "1048576", "--backlog-days", "1",
                                "--idle-timeout", "0", "--handshake-timeout", "5", NULL };

  start_serving (&serving, NULL, args);
  g_assert_cmpstr (serving.host, ==, "127.0.0.1");
  assert_accepts_tcp (serving.port);
  stop_serving (&serving, SIGINT);
}

static void
test_state_dir_keeps_pin (void)
{
  g_autofree char *dir = g_dir_make_tmp ("usi-relay-command-XXXXXX", NULL);
  g_autofree char *state = g_build_filename (dir, "state", NULL);
  g_autofree char *key = g_build_filename (state, "relay-key.pem", NULL);
  g_autofree char *first_pin = NULL;
  const char * const args[] = { "--listen", "127.0.0.1:0", "--state-dir", state, NULL };
  GStatBuf st;

  for (guint run_index = 0; run_index < 2; run_index++)
    {
      g_auto(Serving) serving = { 0 };

      start_serving (&serving, NULL, args);
      if (first_pin == NULL)
        first_pin = g_strdup (serving.pin);
      else
        g_assert_cmpstr (serving.pin, ==, first_pin);
      stop_serving (&serving, SIGTERM);

      g_assert_cmpint (g_stat (key, &st), ==, 0);
      g_assert_cmpint (st.st_mode & 0777, ==, 0600);
      g_assert_cmpint (g_stat (state, &st), ==, 0);
      g_assert_cmpint (st.st_mode & 0077, ==, 0);
    }

  remove_tree (dir);
}

static void
test_default_state_dir (void)
{
  g_autofree char *dir = g_dir_make_tmp ("usi-relay-command-XXXXXX", NULL);
  g_autofree char *key = g_build_filename (dir, "usi-relay", "relay-key.pem", NULL);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_auto(Serving) serving = { 0 };
  const char * const args[] = { "--listen", "127.0.0.1:0", NULL };

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE |
                                        G_SUBPROCESS_FLAGS_STDIN_PIPE);
  g_subprocess_launcher_setenv (launcher, "XDG_STATE_HOME", dir, TRUE);
  start_serving (&serving, launcher, args);
  stop_serving (&serving, SIGTERM);
  g_assert_true (g_file_test (key, G_FILE_TEST_IS_REGULAR));
  serving_clear (&serving);
  remove_tree (dir);
}

static void
test_port_in_use (void)
{
  g_autoptr(GSocketListener) listener = g_socket_listener_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *address = NULL;
  g_autofree char *expected = NULL;
  g_auto(RunResult) result = { 0 };
  guint16 port;

  port = g_socket_listener_add_any_inet_port (listener, NULL, &error);
  g_assert_no_error (error);
  address = g_strdup_printf ("0.0.0.0:%u", port);
  expected = g_strdup_printf ("usi-relay: Cannot listen on %s: the port is in use.\n", address);

  {
    const char * const args[] = { "--listen", address, "--ephemeral", NULL };

    run (&result, args);
  }
  g_assert_cmpint (result.status, ==, 1);
  g_assert_cmpstr (result.out, ==, "");
  g_assert_cmpstr (result.err, ==, expected);
  g_socket_listener_close (listener);
}

static void
test_unreadable_state (void)
{
  g_autofree char *dir = g_dir_make_tmp ("usi-relay-command-XXXXXX", NULL);
  g_autofree char *key = g_build_filename (dir, "relay-key.pem", NULL);
  g_auto(RunResult) result = { 0 };
  const char * const args[] = { "--listen", "127.0.0.1:0", "--state-dir", dir, NULL };

  g_assert_true (g_file_set_contents (key, "not a key\n", -1, NULL));
  g_assert_cmpint (g_chmod (key, 0600), ==, 0);
  run (&result, args);
  g_assert_cmpint (result.status, ==, 1);
  g_assert_cmpstr (result.out, ==, "");
  g_assert_cmpuint (count_lines (result.err), ==, 1);
  g_assert_true (g_str_has_prefix (result.err, "usi-relay: "));

  /* Never replaced by a fresh key. */
  {
    g_autofree char *contents = NULL;

    g_assert_true (g_file_get_contents (key, &contents, NULL, NULL));
    g_assert_cmpstr (contents, ==, "not a key\n");
  }
  remove_tree (dir);
}

int
main (int   argc,
      char *argv[])
{
  /* The messages compared here are the untranslated ones. */
  g_setenv ("LANGUAGE", "C", TRUE);
  g_setenv ("LC_ALL", "C.UTF-8", TRUE);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/relay-command/help", test_help);
  g_test_add_func ("/relay-command/version", test_version);
  g_test_add_func ("/relay-command/usage-errors", test_usage_errors);
  g_test_add_func ("/relay-command/ephemeral-and-state-dir", test_ephemeral_and_state_dir);
  g_test_add_func ("/relay-command/bad-values", test_bad_values);
  g_test_add_func ("/relay-command/serve-ephemeral", test_serve_ephemeral);
  g_test_add_func ("/relay-command/serve-limits-sigint", test_serve_limits_and_sigint);
  g_test_add_func ("/relay-command/state-dir-keeps-pin", test_state_dir_keeps_pin);
  g_test_add_func ("/relay-command/default-state-dir", test_default_state_dir);
  g_test_add_func ("/relay-command/port-in-use", test_port_in_use);
  g_test_add_func ("/relay-command/unreadable-state", test_unreadable_state);

  return g_test_run ();
}
