/* SPDX-License-Identifier: GPL-3.0-or-later */

/* usi-cli and usi-relay, run as separate processes exactly as users and
 * scripts run them: the usage text, the exit codes, the one-line errors. */

#include "config.h"

#include <gio/gio.h>
#include <glib/gstdio.h>

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

/* Runs `program` with `environment` added to the test's own (NULL: none). */
static void
run_va (RunResult          *result,
        const char * const *environment,
        const char         *program,
        va_list             args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  const char *subdir = g_str_equal (program, "usi-cli") ? "cli" : "relay";

  g_ptr_array_add (argv, g_build_filename (USI_BUILD_ROOT, "src", subdir, program, NULL));
  for (const char *arg = va_arg (args, const char *); arg != NULL; arg = va_arg (args, const char *))
    g_ptr_array_add (argv, g_strdup (arg));
  g_ptr_array_add (argv, NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE |
                                        G_SUBPROCESS_FLAGS_STDIN_PIPE);
  for (guint i = 0; environment != NULL && environment[i] != NULL; i += 2)
    g_subprocess_launcher_setenv (launcher, environment[i], environment[i + 1], TRUE);
  process = g_subprocess_launcher_spawnv (launcher, (const char * const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, "", NULL, &result->out, &result->err, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_if_exited (process));
  result->status = g_subprocess_get_exit_status (process);
}

static void
run (RunResult  *result,
     const char *program,
     ...)
{
  va_list args;

  va_start (args, program);
  run_va (result, NULL, program, args);
  va_end (args);
}

static void
run_env (RunResult          *result,
         const char * const *environment,
         const char         *program,
         ...)
{
  va_list args;

  va_start (args, program);
  run_va (result, environment, program, args);
  va_end (args);
}

/* No Secret Service can answer: the session bus is nowhere. */
static const char * const no_secret_service[] = {
  "DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/usi-test-bus",
  NULL
};

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

#define PIN_HEX "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* Every mistake in a command's options is a usage error, found before
 * anything touches the disk or the network. */
static void
test_cli_bad_command_options (void)
{
  struct {
    const char *args[9];
    const char *message;
  } cases[] = {
    { { "host", "--relay", "127.0.0.1:12800", NULL }, "host: --relay needs --pin" },
    { { "host", "--pin", PIN_HEX, NULL }, "host: --pin goes with --relay" },
    { { "host", "--relay", "127.0.0.1:12800", "--pin", "0011zz", NULL }, "--pin: a relay’s pin is 64 hexadecimal digits" },
    { { "host", "--relay", "127.0.0.1:12800", "--pin", PIN_HEX "0", NULL }, "--pin: a relay’s pin is 64 hexadecimal digits" },
    { { "host", "--listen", "127.0.0.1:0", "--relay", "127.0.0.1:12800", "--pin", PIN_HEX, NULL },
      "host: --listen and --relay cannot be used together" },
    { { "host", "--psk", "00112233445566778899aabbccddeeff", "--password", "pw", NULL }, "(--psk) has no password" },
    { { "host", "--psk", "00112233445566778899aabbccddeeff", "--rotate-every", "3", NULL }, "--rotate-every cannot be used" },
    { { "host", "--rotate-every", "0", NULL }, "--rotate-every: the number of messages must be 1 or more" },
    { { "host", "--rotate-every", "many", NULL }, "rotate-every" },
    { { "host", "--listen", "127.0.0.1", NULL }, "--listen: “127.0.0.1” is not an address of the form HOST:PORT" },
    { { "host", "--relay", "127.0.0.1:0", "--pin", PIN_HEX, NULL }, "--relay: “127.0.0.1:0” is not an address" },
    { { "host", "--password", "", NULL }, "--password: the password is empty" },
    { { "host", "now", NULL }, "unexpected argument “now”" },
    { { "host", "--bogus", NULL }, "--bogus" },
    { { "join", NULL }, "join: give the invite" },
    { { "join", "usi://invite/aaaa", "usi://invite/bbbb", NULL }, "unexpected argument “usi://invite/bbbb”" },
    { { "join", "usi://invite/aaaa", "--pin", PIN_HEX, NULL }, "--relay and --pin go with --psk" },
    { { "join", "--psk", "00112233445566778899aabbccddeeff", NULL }, "join: --psk needs --relay" },
    { { "join", "--psk", "00112233445566778899aabbccddeeff", "--relay", "127.0.0.1:1", "--password", "pw", NULL },
      "(--psk) has no password" },
    { { "join", "--psk", "00112233445566778899aabbccddeeff", "--relay", "127.0.0.1:1", "--pin", "xyz", NULL },
      "--pin: a relay’s pin is 64 hexadecimal digits" },
    { { "join", "--psk", "00112233445566778899aabbccddeeff", "--relay", "nowhere", NULL },
      "--relay: “nowhere” is not an address" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_auto(RunResult) result = { 0 };
      const char * const *a = cases[i].args;

      g_test_message ("case %u: %s %s", i, a[0], a[1] != NULL ? a[1] : "");
      run_env (&result, no_secret_service, "usi-cli", "--keep-nothing",
               a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], NULL);
      g_assert_cmpint (result.status, ==, 2);
      g_assert_cmpstr (result.out, ==, "");
      g_assert_true (g_str_has_prefix (result.err, "usi-cli: "));
      g_assert_nonnull (strstr (result.err, cases[i].message));
      g_assert_true (g_str_has_suffix (result.err, "Run “usi-cli --help” for usage.\n"));
    }
}

/* Without a Secret Service, state on disk needs a passphrase or nothing
 * kept: exit 1 with one line that says so, and nothing written. */
static void
test_cli_no_secret_service (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *tmp = g_dir_make_tmp ("usi-cli-XXXXXX", &error);
  g_autofree char *state = NULL;
  g_autofree char *missing = NULL;
  g_auto(RunResult) human = { 0 };
  g_auto(RunResult) json = { 0 };
  g_auto(RunResult) unreadable = { 0 };

  g_assert_no_error (error);
  state = g_build_filename (tmp, "state", NULL);
  missing = g_build_filename (tmp, "no-such-file", NULL);

  run_env (&human, no_secret_service, "usi-cli", "--state-dir", state,
           "host", "--listen", "127.0.0.1:0", NULL);
  g_assert_cmpint (human.status, ==, 1);
  g_assert_cmpstr (human.out, ==, "");
  g_assert_cmpstr (human.err, ==, "usi-cli: No Secret Service is reachable to protect the stored state: "
                                  "use --passphrase-file FILE, or --keep-nothing.\n");
  g_assert_false (g_file_test (state, G_FILE_TEST_EXISTS));

  /* JSON mode: the same as an event, and still the line on stderr. */
  run_env (&json, no_secret_service, "usi-cli", "--json", "--state-dir", state,
           "host", "--listen", "127.0.0.1:0", NULL);
  g_assert_cmpint (json.status, ==, 1);
  g_assert_true (g_str_has_prefix (json.out, "{\"event\":\"error\",\"code\":\""));
  g_assert_nonnull (strstr (json.out, "\"message\":\"No Secret Service is reachable"));
  g_assert_true (g_str_has_suffix (json.out, "}\n"));
  g_assert_cmpstr (strchr (json.out, '\n'), ==, "\n");
  g_assert_cmpstr (json.err, ==, human.err);

  run_env (&unreadable, no_secret_service, "usi-cli", "--state-dir", state,
           "--passphrase-file", missing, "host", "--listen", "127.0.0.1:0", NULL);
  g_assert_cmpint (unreadable.status, ==, 1);
  g_assert_cmpstr (unreadable.out, ==, "");
  g_assert_true (g_str_has_prefix (unreadable.err, "usi-cli: Cannot read the passphrase file “"));
  g_assert_cmpstr (strchr (unreadable.err, '\n'), ==, "\n");
  g_assert_false (g_file_test (state, G_FILE_TEST_EXISTS));

  g_assert_cmpint (g_rmdir (tmp), ==, 0);
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
  g_test_add_func ("/cli/usi-cli/bad-command-options", test_cli_bad_command_options);
  g_test_add_func ("/cli/usi-cli/no-secret-service", test_cli_no_secret_service);
  g_test_add_func ("/cli/usi-cli/usage-errors", test_cli_usage_errors);
  g_test_add_func ("/cli/usi-cli/conflicting-storage", test_cli_conflicting_storage);
  g_test_add_func ("/cli/versions", test_versions);

  return g_test_run ();
}
