/* SPDX-License-Identifier: GPL-3.0-or-later */

/* usi-cli and usi-relay, run as separate processes exactly as users and
 * scripts run them: the usage text, the exit codes, the one-line errors. */

#include "config.h"

#include <gio/gio.h>

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

static void
run (RunResult  *result,
     const char *program,
     ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  const char *subdir = g_str_equal (program, "usi-cli") ? "cli" : "relay";
  va_list args;

  g_ptr_array_add (argv, g_build_filename (USI_BUILD_ROOT, "src", subdir, program, NULL));
  va_start (args, program);
  for (const char *arg = va_arg (args, const char *); arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, g_strdup (arg));
  va_end (args);
  g_ptr_array_add (argv, NULL);

  process = g_subprocess_newv ((const char * const *) argv->pdata,
                               G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE |
                               G_SUBPROCESS_FLAGS_STDIN_PIPE,
                               &error);
  g_assert_no_error (error);
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

static void
test_cli_help (void)
{
  g_auto(RunResult) result = { 0 };

  run (&result, "usi-cli", "--help", NULL);
  g_assert_cmpint (result.status, ==, 0);
  g_assert_cmpstr (result.err, ==, "");
  g_assert_true (g_str_has_prefix (result.out,
                                   "usi-cli [--state-dir DIR | --keep-nothing] [--passphrase-file FILE]\n"
                                   "        [--name NAME] [--json] [--accept-files DIR] COMMAND\n"));
  g_assert_nonnull (strstr (result.out, "    host [--listen ADDR:PORT | --relay ADDR:PORT --pin PIN]\n"));
  g_assert_nonnull (strstr (result.out, "    join INVITE [--password PW]\n"));
  g_assert_nonnull (strstr (result.out, "    join --psk KEY --relay ADDR:PORT [--pin PIN]\n"));
  g_assert_nonnull (strstr (result.out, "/rotate         (owner) new epoch now   /quit\n"));
}

static void
test_cli_commands_not_available (void)
{
  const char *commands[] = { "host", "join" };

  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      g_auto(RunResult) result = { 0 };
      g_autofree char *expected = g_strdup_printf ("usi-cli: %s: not available in this version\n", commands[i]);

      run (&result, "usi-cli", "--keep-nothing", commands[i], "--listen", "127.0.0.1:0", NULL);
      g_assert_cmpint (result.status, ==, 2);
      g_assert_cmpstr (result.out, ==, "");
      g_assert_cmpstr (result.err, ==, expected);
    }
}

static void
test_cli_usage_errors (void)
{
  struct {
    const char *args[3];
    const char *message;
  } cases[] = {
    { { NULL }, "a command is needed" },
    { { "--frobnicate", "host", NULL }, "--frobnicate" },
    { { "fly", NULL }, "unknown command “fly”" },
    { { "--state-dir", "/tmp/x", NULL }, NULL },            /* still no command */
    { { "--state-dir", NULL }, "--state-dir" },             /* missing value */
    { { "--name", "A\u202eB", NULL }, "--name:" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_auto(RunResult) result = { 0 };

      run (&result, "usi-cli", cases[i].args[0], cases[i].args[1], cases[i].args[2], NULL);
      g_assert_cmpint (result.status, ==, 2);
      g_assert_cmpstr (result.out, ==, "");
      g_assert_true (g_str_has_prefix (result.err, "usi-cli"));
      if (cases[i].message != NULL)
        g_assert_nonnull (strstr (result.err, cases[i].message));
    }
}

static void
test_cli_conflicting_storage (void)
{
  g_auto(RunResult) result = { 0 };

  run (&result, "usi-cli", "--keep-nothing", "--state-dir", "/tmp/usi-x", "host", NULL);
  g_assert_cmpint (result.status, ==, 2);
  g_assert_nonnull (strstr (result.err, "--state-dir and --keep-nothing cannot be used together"));
}

static void
test_relay_help (void)
{
  g_auto(RunResult) result = { 0 };

  run (&result, "usi-relay", "--help", NULL);
  g_assert_cmpint (result.status, ==, 0);
  g_assert_cmpstr (result.err, ==, "");
  g_assert_true (g_str_has_prefix (result.out,
                                   "usi-relay [--listen ADDR:PORT] [--state-dir DIR] [--ephemeral] [limits...]\n"
                                   "    prints, one per line, before serving:\n"
                                   "        listening: ADDR:PORT        (the real port when PORT is 0)\n"
                                   "        pin: PIN                    (what invites carry to authenticate the relay)\n"));
}

static void
test_relay_serving_not_available (void)
{
  g_auto(RunResult) result = { 0 };

  run (&result, "usi-relay", "--listen", "127.0.0.1:0", "--ephemeral", NULL);
  g_assert_cmpint (result.status, ==, 2);
  g_assert_cmpstr (result.out, ==, "");
  g_assert_cmpstr (result.err, ==, "usi-relay: serving is not available in this version\n");
}

static void
test_relay_usage_errors (void)
{
  g_auto(RunResult) unknown = { 0 };
  g_auto(RunResult) extra = { 0 };
  g_auto(RunResult) conflict = { 0 };

  run (&unknown, "usi-relay", "--bogus", NULL);
  g_assert_cmpint (unknown.status, ==, 2);
  g_assert_nonnull (strstr (unknown.err, "--bogus"));
  g_assert_cmpuint (count_lines (unknown.err), ==, 2);

  run (&extra, "usi-relay", "serve", NULL);
  g_assert_cmpint (extra.status, ==, 2);
  g_assert_cmpstr (extra.err, ==, "usi-relay: unexpected argument “serve”\n");

  run (&conflict, "usi-relay", "--ephemeral", "--state-dir", "/tmp/usi-relay-x", NULL);
  g_assert_cmpint (conflict.status, ==, 2);
  g_assert_cmpstr (conflict.err, ==, "usi-relay: --state-dir and --ephemeral cannot be used together\n");
}

static void
test_versions (void)
{
  g_auto(RunResult) cli = { 0 };
  g_auto(RunResult) relay = { 0 };

  run (&cli, "usi-cli", "--version", NULL);
  g_assert_cmpint (cli.status, ==, 0);
  g_assert_cmpstr (cli.out, ==, "usi-cli " PACKAGE_VERSION "\n");

  run (&relay, "usi-relay", "--version", NULL);
  g_assert_cmpint (relay.status, ==, 0);
  g_assert_cmpstr (relay.out, ==, "usi-relay " PACKAGE_VERSION "\n");
}

int
main (int   argc,
      char *argv[])
{
  /* The messages compared here are the untranslated ones. */
  g_setenv ("LANGUAGE", "C", TRUE);
  g_setenv ("LC_ALL", "C.UTF-8", TRUE);
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/cli/usi-cli/help", test_cli_help);
  g_test_add_func ("/cli/usi-cli/commands-not-available", test_cli_commands_not_available);
  g_test_add_func ("/cli/usi-cli/usage-errors", test_cli_usage_errors);
  g_test_add_func ("/cli/usi-cli/conflicting-storage", test_cli_conflicting_storage);
  g_test_add_func ("/cli/usi-relay/help", test_relay_help);
  g_test_add_func ("/cli/usi-relay/serving-not-available", test_relay_serving_not_available);
  g_test_add_func ("/cli/usi-relay/usage-errors", test_relay_usage_errors);
  g_test_add_func ("/cli/versions", test_versions);

  return g_test_run ();
}
