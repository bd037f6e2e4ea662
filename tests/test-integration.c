/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The whole product at once: a real usi-relay and several real usi-cli
 * processes on 127.0.0.1, driven line by line through stdin and read back
 * through `usi-cli --json` events (and, once, the human output).  Nothing
 * here reaches into a process: what is checked is what a script or a
 * person would see.  Every wait has a generous limit and a watchdog stops
 * the whole run; no outcome depends on timing. */

#include "config.h"

#include <signal.h>
#include <string.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

/* For what must happen (a message arriving, a reconnection). */
#define EVENT_TIMEOUT_SECONDS    90
#define WATCHDOG_SECONDS         420

#define PSK_HEX "3f1c8a9b27d04e6f5a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abcdef0"

typedef struct
{
  char             *label;
  gboolean          json;
  gboolean          is_relay;
  gboolean          quitting;
  GSubprocess      *process;
  GOutputStream    *input;
  GDataInputStream *output;
  GDataInputStream *errors;
  GCancellable     *cancellable;
  GPtrArray        *lines;     /* char *: every stdout line */
  GPtrArray        *events;    /* JsonObject *: JSON mode */
  GString          *err;
  char             *bad_line;  /* the first stdout line that is not one JSON event */
  gboolean          output_done;
  gboolean          errors_done;
  gboolean          exited;
  int               status;    /* the exit status, or −signal */
  guint             invite_cursor;
  /* usi-relay: its two lines; usi-cli: its in-process relay, if any. */
  char             *address;
  char             *pin;
} Proc;

typedef struct
{
  char      *tmp;
  GPtrArray *procs;   /* Proc * */
  guint      watchdog_id;
  gboolean   secret_service;   /* children reach the suite's Secret Service */
} Fixture;

static Fixture *current_fixture;

static void
proc_free (Proc *proc)
{
  g_cancellable_cancel (proc->cancellable);
  g_clear_object (&proc->process);
  g_clear_object (&proc->input);
  g_clear_object (&proc->output);
  g_clear_object (&proc->errors);
  g_clear_object (&proc->cancellable);
  g_clear_pointer (&proc->lines, g_ptr_array_unref);
  g_clear_pointer (&proc->events, g_ptr_array_unref);
  if (proc->err != NULL)
    g_string_free (proc->err, TRUE);
  g_free (proc->bad_line);
  g_free (proc->label);
  g_free (proc->address);
  g_free (proc->pin);
  g_free (proc);
}

/* Spinning the main context */

typedef gboolean (*DoneFunc) (gpointer data);

static gboolean
wake_up (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

static gboolean
spin_until (DoneFunc  done,
            gpointer  data,
            guint     seconds)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) seconds * G_USEC_PER_SEC;
  guint tick = g_timeout_add (50, wake_up, NULL);
  gboolean result;

  while (!(result = done (data)) && g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
  return result;
}

/* Lets time pass with everything running (an expiry, an idle timeout). */
static void
spin_for (guint milliseconds)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) milliseconds * 1000;
  guint tick = g_timeout_add (50, wake_up, NULL);

  while (g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (tick);
}

/* Reading a child */

static void read_output_line (Proc *proc);
static void read_error_line (Proc *proc);

static void
record_line (Proc       *proc,
             const char *line)
{
  g_ptr_array_add (proc->lines, g_strdup (line));

  if (proc->json)
    {
      g_autoptr(JsonParser) parser = json_parser_new ();
      JsonNode *root;

      if (!json_parser_load_from_data (parser, line, -1, NULL) ||
          (root = json_parser_get_root (parser)) == NULL ||
          !JSON_NODE_HOLDS_OBJECT (root) ||
          json_object_get_string_member_with_default (json_node_get_object (root), "event", NULL) == NULL)
        {
          if (proc->bad_line == NULL)
            proc->bad_line = g_strdup (line);
          return;
        }
      g_ptr_array_add (proc->events, json_node_dup_object (root));
    }
}

static void
on_output_line (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  Proc *proc = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;

  line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (object), result, NULL, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (line == NULL)
    {
      proc->output_done = TRUE;
      return;
    }
  record_line (proc, line);
  read_output_line (proc);
}

static void
read_output_line (Proc *proc)
{
  g_data_input_stream_read_line_async (proc->output, G_PRIORITY_DEFAULT, proc->cancellable,
                                       on_output_line, proc);
}

static void
on_error_line (GObject      *object,
               GAsyncResult *result,
               gpointer      user_data)
{
  Proc *proc = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;

  line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (object), result, NULL, &error);
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (line == NULL)
    {
      proc->errors_done = TRUE;
      return;
    }
  g_string_append (proc->err, line);
  g_string_append_c (proc->err, '\n');
  read_error_line (proc);
}

static void
read_error_line (Proc *proc)
{
  g_data_input_stream_read_line_async (proc->errors, G_PRIORITY_DEFAULT, proc->cancellable,
                                       on_error_line, proc);
}

static void
on_exited (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  Proc *proc = user_data;
  GSubprocess *process = G_SUBPROCESS (object);

  if (!g_subprocess_wait_finish (process, result, NULL))
    return;   /* cancelled: the fixture is going */
  proc->exited = TRUE;
  if (g_subprocess_get_if_exited (process))
    proc->status = g_subprocess_get_exit_status (process);
  else
    proc->status = -g_subprocess_get_term_sig (process);
}

#ifdef __linux__
/* A crashed or aborted test leaves no relay or client behind. */
static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}
#endif

static Proc *
spawn (Fixture            *fixture,
       const char         *label,
       gboolean            json,
       const char * const *argv)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  Proc *proc = g_new0 (Proc, 1);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  /* No Secret Service unless the test asks for the suite's: --state-dir
   * runs use their passphrase file. */
  if (!fixture->secret_service)
    g_subprocess_launcher_setenv (launcher, "DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/usi-test-bus", TRUE);
  /* Warnings are recovered failures (a lost connection); criticals are bugs. */
  g_subprocess_launcher_setenv (launcher, "G_DEBUG", "fatal-criticals", TRUE);
  g_subprocess_launcher_setenv (launcher, "LANGUAGE", "C", TRUE);
  g_subprocess_launcher_setenv (launcher, "LC_ALL", "C.UTF-8", TRUE);
#ifdef __linux__
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
#endif

  proc->label = g_strdup (label);
  proc->json = json;
  proc->lines = g_ptr_array_new_with_free_func (g_free);
  proc->events = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  proc->err = g_string_new (NULL);
  proc->cancellable = g_cancellable_new ();
  proc->process = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);

  proc->input = g_object_ref (g_subprocess_get_stdin_pipe (proc->process));
  proc->output = g_data_input_stream_new (g_subprocess_get_stdout_pipe (proc->process));
  proc->errors = g_data_input_stream_new (g_subprocess_get_stderr_pipe (proc->process));
  g_data_input_stream_set_newline_type (proc->output, G_DATA_STREAM_NEWLINE_TYPE_LF);
  g_data_input_stream_set_newline_type (proc->errors, G_DATA_STREAM_NEWLINE_TYPE_LF);
  read_output_line (proc);
  read_error_line (proc);
  g_subprocess_wait_async (proc->process, proc->cancellable, on_exited, proc);

  g_ptr_array_add (fixture->procs, proc);
  return proc;
}

static void
dump (Proc *proc)
{
  g_test_message ("--- %s: %s, %u stdout lines", proc->label,
                  proc->exited ? "exited" : "running", proc->lines->len);
  for (guint i = proc->lines->len > 40 ? proc->lines->len - 40 : 0; i < proc->lines->len; i++)
    g_test_message ("%s> %s", proc->label, (const char *) g_ptr_array_index (proc->lines, i));
  if (proc->err->len > 0)
    g_test_message ("%s stderr:\n%s", proc->label, proc->err->str);
}

static void
dump_all (void)
{
  if (current_fixture == NULL)
    return;
  for (guint i = 0; i < current_fixture->procs->len; i++)
    dump (g_ptr_array_index (current_fixture->procs, i));
}

/* Events */

static char *
member_text (JsonObject *object,
             const char *key)
{
  JsonNode *node = json_object_get_member (object, key);

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node))
    return NULL;
  switch (json_node_get_value_type (node))
    {
    case G_TYPE_STRING:
      return g_strdup (json_node_get_string (node));
    case G_TYPE_INT64:
      return g_strdup_printf ("%" G_GINT64_FORMAT, json_node_get_int (node));
    case G_TYPE_BOOLEAN:
      return g_strdup (json_node_get_boolean (node) ? "true" : "false");
    default:
      return NULL;
    }
}

typedef struct
{
  Proc        *proc;
  guint        from;
  const char  *event;
  GPtrArray   *pairs;   /* key, value, key, value… (borrowed) */
  JsonObject  *found;
  guint        index;
} EventQuery;

static gboolean
event_matches (EventQuery *query,
               JsonObject *object)
{
  if (g_strcmp0 (json_object_get_string_member_with_default (object, "event", NULL), query->event) != 0)
    return FALSE;
  for (guint i = 0; i + 1 < query->pairs->len; i += 2)
    {
      g_autofree char *value = member_text (object, g_ptr_array_index (query->pairs, i));

      if (g_strcmp0 (value, g_ptr_array_index (query->pairs, i + 1)) != 0)
        return FALSE;
    }
  return TRUE;
}

static gboolean
find_event (gpointer data)
{
  EventQuery *query = data;

  for (guint i = query->from; i < query->proc->events->len; i++)
    if (event_matches (query, g_ptr_array_index (query->proc->events, i)))
      {
        query->found = g_ptr_array_index (query->proc->events, i);
        query->index = i;
        return TRUE;
      }
  /* Nothing more can come from a process that has ended. */
  return query->proc->exited && query->proc->output_done;
}

static GPtrArray *
collect_pairs (va_list args)
{
  GPtrArray *pairs = g_ptr_array_new ();

  for (const char *key = va_arg (args, const char *); key != NULL; key = va_arg (args, const char *))
    {
      g_ptr_array_add (pairs, (gpointer) key);
      g_ptr_array_add (pairs, va_arg (args, char *));
    }
  return pairs;
}

/* Waits for `event` with the given member values ("key", "value", …,
 * NULL; numbers and booleans as their JSON text), at or after *cursor
 * (NULL: anywhere); moves *cursor past it. */
static JsonObject *
wait_event (Proc       *proc,
            guint      *cursor,
            const char *event,
            ...)
{
  g_autoptr(GPtrArray) pairs = NULL;
  EventQuery query = { proc, cursor != NULL ? *cursor : 0, event, NULL, NULL, 0 };
  va_list args;

  va_start (args, event);
  pairs = collect_pairs (args);
  va_end (args);
  query.pairs = pairs;

  spin_until (find_event, &query, EVENT_TIMEOUT_SECONDS);
  if (query.found == NULL)
    {
      dump_all ();
      g_test_message ("%s: no “%s” event came", proc->label, event);
      g_assert_nonnull (query.found);
    }
  if (cursor != NULL)
    *cursor = query.index + 1;
  return query.found;
}

static guint
count_events (Proc       *proc,
              const char *event,
              ...)
{
  g_autoptr(GPtrArray) pairs = NULL;
  EventQuery query = { proc, 0, event, NULL, NULL, 0 };
  guint count = 0;
  va_list args;

  va_start (args, event);
  pairs = collect_pairs (args);
  va_end (args);
  query.pairs = pairs;

  for (guint i = 0; i < proc->events->len; i++)
    count += event_matches (&query, g_ptr_array_index (proc->events, i));
  return count;
}

static gboolean
has_exited (gpointer data)
{
  return ((Proc *) data)->exited;
}

static gboolean
output_done (gpointer data)
{
  Proc *proc = data;

  return proc->output_done && proc->errors_done;
}

static int
wait_exit (Proc *proc)
{
  if (!spin_until (has_exited, proc, EVENT_TIMEOUT_SECONDS))
    {
      dump_all ();
      g_test_message ("%s did not exit", proc->label);
      g_assert_true (proc->exited);
    }
  /* Everything it wrote, read. */
  spin_until (output_done, proc, EVENT_TIMEOUT_SECONDS);
  return proc->status;
}

static void
send_line (Proc       *proc,
           const char *line)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *with_newline = g_strconcat (line, "\n", NULL);

  g_output_stream_write_all (proc->input, with_newline, strlen (with_newline), NULL, NULL, &error);
  g_assert_no_error (error);
  g_output_stream_flush (proc->input, NULL, &error);
  g_assert_no_error (error);
}

static void
close_input (Proc *proc)
{
  g_autoptr(GError) error = NULL;

  g_output_stream_close (proc->input, NULL, &error);
  g_assert_no_error (error);
}

/* Processes */

static Proc *
start_relay (Fixture            *fixture,
             const char         *listen,
             const char         *state_dir,
             const char * const *extra)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  Proc *relay;
  const char *listening, *pin;

  g_ptr_array_add (argv, g_build_filename (USI_BUILD_ROOT, "src", "relay", "usi-relay", NULL));
  g_ptr_array_add (argv, g_strdup ("--listen"));
  g_ptr_array_add (argv, g_strdup (listen));
  if (state_dir != NULL)
    {
      g_ptr_array_add (argv, g_strdup ("--state-dir"));
      g_ptr_array_add (argv, g_strdup (state_dir));
    }
  else
    g_ptr_array_add (argv, g_strdup ("--ephemeral"));
  for (guint i = 0; extra != NULL && extra[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (extra[i]));
  g_ptr_array_add (argv, NULL);

  relay = spawn (fixture, "relay", FALSE, (const char * const *) argv->pdata);
  relay->is_relay = TRUE;

  /* "listening: ADDR:PORT" then "pin: PIN", before serving. */
  while (relay->lines->len < 2 && !relay->output_done)
    g_main_context_iteration (NULL, TRUE);
  if (relay->lines->len < 2)
    dump (relay);
  g_assert_cmpuint (relay->lines->len, >=, 2);
  listening = g_ptr_array_index (relay->lines, 0);
  pin = g_ptr_array_index (relay->lines, 1);
  g_assert_true (g_str_has_prefix (listening, "listening: 127.0.0.1:"));
  g_assert_true (g_str_has_prefix (pin, "pin: "));
  relay->address = g_strdup (listening + strlen ("listening: "));
  relay->pin = g_strdup (pin + strlen ("pin: "));
  g_assert_cmpuint (strlen (relay->pin), ==, 64);
  g_assert_cmpstr (relay->address, !=, "127.0.0.1:0");
  return relay;
}

/* usi-cli --keep-nothing --json --name NAME ARGS… (NULL-terminated). */
static Proc *
start_cli_full (Fixture            *fixture,
                const char         *name,
                gboolean            json,
                const char * const *storage,
                const char * const *args)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);

  g_ptr_array_add (argv, g_build_filename (USI_BUILD_ROOT, "src", "cli", "usi-cli", NULL));
  if (storage == NULL)
    g_ptr_array_add (argv, g_strdup ("--keep-nothing"));
  for (guint i = 0; storage != NULL && storage[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (storage[i]));
  if (json)
    g_ptr_array_add (argv, g_strdup ("--json"));
  g_ptr_array_add (argv, g_strdup ("--name"));
  g_ptr_array_add (argv, g_strdup (name));
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, NULL);

  return spawn (fixture, name, json, (const char * const *) argv->pdata);
}

static Proc *
start_cli (Fixture    *fixture,
           const char *name,
           ...)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  va_list ap;

  va_start (ap, name);
  for (const char *arg = va_arg (ap, const char *); arg != NULL; arg = va_arg (ap, const char *))
    g_ptr_array_add (args, (gpointer) arg);
  va_end (ap);
  g_ptr_array_add (args, NULL);

  return start_cli_full (fixture, name, TRUE, NULL, (const char * const *) args->pdata);
}

/* The next invite `owner` printed (the first one comes by itself). */
static char *
take_invite (Proc *owner)
{
  JsonObject *event = wait_event (owner, &owner->invite_cursor, "invite", NULL);
  const char *invite = json_object_get_string_member (event, "invite");

  g_assert_true (g_str_has_prefix (invite, "usi://invite/"));
  return g_strdup (invite);
}

static char *
new_invite (Proc       *owner,
            const char *command)
{
  send_line (owner, command);
  return take_invite (owner);
}

/* An owner on `relay` (NULL: hosting its own relay on 127.0.0.1:0). */
static Proc *
start_owner (Fixture    *fixture,
             const char *name,
             Proc       *relay,
             ...)
{
  g_autoptr(GPtrArray) args = g_ptr_array_new ();
  JsonObject *ready;
  Proc *owner;
  va_list ap;

  g_ptr_array_add (args, "host");
  if (relay != NULL)
    {
      g_ptr_array_add (args, "--relay");
      g_ptr_array_add (args, relay->address);
      g_ptr_array_add (args, "--pin");
      g_ptr_array_add (args, relay->pin);
    }
  else
    {
      g_ptr_array_add (args, "--listen");
      g_ptr_array_add (args, "127.0.0.1:0");
    }
  va_start (ap, relay);
  for (const char *arg = va_arg (ap, const char *); arg != NULL; arg = va_arg (ap, const char *))
    g_ptr_array_add (args, (gpointer) arg);
  va_end (ap);
  g_ptr_array_add (args, NULL);

  owner = start_cli_full (fixture, name, TRUE, NULL, (const char * const *) args->pdata);
  ready = wait_event (owner, NULL, "ready", NULL);
  g_assert_cmpstr (json_object_get_string_member (ready, "role"), ==, "owner");
  if (relay == NULL)
    {
      JsonObject *event = wait_event (owner, NULL, "relay", NULL);

      owner->address = g_strdup (json_object_get_string_member (event, "listen"));
      owner->pin = g_strdup (json_object_get_string_member (event, "pin"));
    }
  return owner;
}

static Proc *
join (Fixture    *fixture,
      const char *name,
      const char *invite,
      const char *password)
{
  Proc *member;
  JsonObject *ready;

  if (password != NULL)
    member = start_cli (fixture, name, "join", invite, "--password", password, NULL);
  else
    member = start_cli (fixture, name, "join", invite, NULL);
  ready = wait_event (member, NULL, "ready", NULL);
  g_assert_cmpstr (json_object_get_string_member (ready, "role"), ==, "member");
  g_assert_cmpstr (json_object_get_string_member (ready, "kind"), ==, "owned");
  return member;
}

/* The joiner fails with `code`: the error event, the one-line reason on
 * stderr, exit status 1, and never a ready event. */
static void
expect_failure (Proc       *proc,
                const char *code)
{
  JsonObject *error = wait_event (proc, NULL, "error", "code", code, NULL);

  g_assert_cmpint (wait_exit (proc), ==, 1);
  g_assert_cmpuint (count_events (proc, "ready", NULL), ==, 0);
  g_assert_true (g_str_has_prefix (proc->err->str, "usi-cli: "));
  g_assert_nonnull (strstr (proc->err->str, json_object_get_string_member (error, "message")));
}

static int
compare_names (gconstpointer a,
               gconstpointer b)
{
  return g_strcmp0 (*(const char * const *) a, *(const char * const *) b);
}

/* The member names of a /members answer, sorted, comma-separated. */
static char *
members_of (Proc *proc)
{
  guint cursor = proc->events->len;
  JsonObject *event;
  JsonArray *members;
  g_autoptr(GPtrArray) names = g_ptr_array_new ();

  send_line (proc, "/members");
  event = wait_event (proc, &cursor, "members", NULL);
  members = json_object_get_array_member (event, "members");
  for (guint i = 0; i < json_array_get_length (members); i++)
    g_ptr_array_add (names, (gpointer) json_object_get_string_member (json_array_get_object_element (members, i),
                                                                       "name"));
  g_ptr_array_sort (names, compare_names);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (",", (char **) names->pdata);
}

/* Every member quits (/quit → 0), relays stop on SIGTERM (0); under
 * AddressSanitizer a leak would make the status non-zero. */
static void
quit_all (Fixture *fixture)
{
  for (guint i = 0; i < fixture->procs->len; i++)
    {
      Proc *proc = g_ptr_array_index (fixture->procs, i);

      if (proc->exited)
        continue;
      proc->quitting = TRUE;
      if (proc->is_relay)
        continue;
      send_line (proc, "/quit");
    }
  /* Clients first: a relay going away would only make them reconnect. */
  for (guint i = 0; i < fixture->procs->len; i++)
    {
      Proc *proc = g_ptr_array_index (fixture->procs, i);
      int status;

      if (!proc->quitting || proc->is_relay)
        continue;
      status = wait_exit (proc);
      if (status != 0)
        dump (proc);
      g_assert_cmpint (status, ==, 0);
    }
  for (guint i = 0; i < fixture->procs->len; i++)
    {
      Proc *proc = g_ptr_array_index (fixture->procs, i);
      int status;

      if (proc->quitting && proc->is_relay)
        {
          g_subprocess_send_signal (proc->process, SIGTERM);
          status = wait_exit (proc);
          if (status != 0)
            dump (proc);
          g_assert_cmpint (status, ==, 0);
        }
      if (proc->json && proc->bad_line != NULL)
        {
          g_test_message ("%s wrote a line that is not a JSON event: %s", proc->label, proc->bad_line);
          g_assert_null (proc->bad_line);
        }
    }
}

/* Fixture */

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir != NULL)
    while ((name = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *child = g_build_filename (path, name, NULL);

        if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
          remove_tree (child);
        else
          g_unlink (child);
      }
  g_rmdir (path);
}

static void
kill_all (Fixture *fixture)
{
  for (guint i = 0; i < fixture->procs->len; i++)
    {
      Proc *proc = g_ptr_array_index (fixture->procs, i);

      if (!proc->exited)
        g_subprocess_force_exit (proc->process);
    }
}

static gboolean
on_watchdog (gpointer data)
{
  Fixture *fixture = data;

  dump_all ();
  kill_all (fixture);
  g_error ("The test did not finish within %d seconds", WATCHDOG_SECONDS);
  return G_SOURCE_REMOVE;
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;

  fixture->tmp = g_dir_make_tmp ("usi-integration-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->procs = g_ptr_array_new_with_free_func ((GDestroyNotify) proc_free);
  fixture->watchdog_id = g_timeout_add_seconds (WATCHDOG_SECONDS, on_watchdog, fixture);
  current_fixture = fixture;
}

static gboolean
all_exited (gpointer data)
{
  Fixture *fixture = data;

  for (guint i = 0; i < fixture->procs->len; i++)
    if (!((Proc *) g_ptr_array_index (fixture->procs, i))->exited)
      return FALSE;
  return TRUE;
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  user_data)
{
  kill_all (fixture);
  spin_until (all_exited, fixture, EVENT_TIMEOUT_SECONDS);
  g_clear_handle_id (&fixture->watchdog_id, g_source_remove);

  /* In a sanitizer build, no child reported anything (a leak in a process
   * that had to exit with 1 would not show in its status). */
  for (guint i = 0; i < fixture->procs->len; i++)
    {
      Proc *proc = g_ptr_array_index (fixture->procs, i);

      spin_until (output_done, proc, EVENT_TIMEOUT_SECONDS);
      if (strstr (proc->err->str, "Sanitizer") != NULL || strstr (proc->err->str, "runtime error:") != NULL)
        {
          dump (proc);
          g_assert_null (strstr (proc->err->str, "Sanitizer"));
          g_assert_null (strstr (proc->err->str, "runtime error:"));
        }
    }

  g_clear_pointer (&fixture->procs, g_ptr_array_unref);
  /* Cancelled reads report back once more. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
  remove_tree (fixture->tmp);
  g_clear_pointer (&fixture->tmp, g_free);
  current_fixture = NULL;
}

/* Tests */

static void
expect_message (Proc       *receiver,
                const char *from,
                const char *text)
{
  JsonObject *message = wait_event (receiver, NULL, "message", "from", from, "text", text, NULL);

  g_assert_cmpint (json_object_get_int_member (message, "seq"), >, 0);
}

static void
test_three_members (Fixture       *fixture,
                    gconstpointer  user_data)
{
  const char *names[] = { "alice", "bob", "carol" };
  Proc *procs[3];
  g_autofree char *invite_bob = NULL;
  g_autofree char *invite_carol = NULL;
  g_autofree char *members = NULL;
  JsonObject *ready;

  procs[0] = start_owner (fixture, "alice", NULL, "--room", "Team", NULL);
  ready = wait_event (procs[0], NULL, "ready", NULL);
  g_assert_cmpstr (json_object_get_string_member (ready, "name"), ==, "Team");
  g_assert_cmpstr (json_object_get_string_member (ready, "kind"), ==, "owned");
  g_assert_cmpint (json_object_get_int_member (ready, "epoch"), ==, 0);
  g_assert_cmpuint (strlen (json_object_get_string_member (ready, "room")), ==, 32);
  g_assert_cmpuint (strlen (procs[0]->pin), ==, 64);

  invite_bob = take_invite (procs[0]);
  procs[1] = join (fixture, "bob", invite_bob, NULL);
  wait_event (procs[0], NULL, "member-joined", "name", "bob", NULL);

  invite_carol = new_invite (procs[0], "/invite");
  g_assert_cmpstr (invite_carol, !=, invite_bob);
  procs[2] = join (fixture, "carol", invite_carol, NULL);
  wait_event (procs[0], NULL, "member-joined", "name", "carol", NULL);
  wait_event (procs[1], NULL, "member-joined", "name", "carol", NULL);
  g_assert_cmpstr (json_object_get_string_member (wait_event (procs[2], NULL, "ready", NULL), "room"), ==,
                   json_object_get_string_member (ready, "room"));

  /* Two messages each, then a last one: a duplicate would have come
   * before the sender's last message. */
  for (guint round = 1; round <= 3; round++)
    for (guint i = 0; i < 3; i++)
      {
        g_autofree char *text = round < 3 ? g_strdup_printf ("hello from %s #%u", names[i], round)
                                          : g_strdup_printf ("last from %s", names[i]);

        send_line (procs[i], text);
      }

  for (guint i = 0; i < 3; i++)
    for (guint j = 0; j < 3; j++)
      if (i != j)
        {
          g_autofree char *last = g_strdup_printf ("last from %s", names[j]);

          expect_message (procs[i], names[j], last);
        }

  for (guint i = 0; i < 3; i++)
    {
      /* Each of one's own three texts acknowledged, none echoed back. */
      for (guint id = 1; id <= 3; id++)
        {
          g_autofree char *id_text = g_strdup_printf ("%u", id);
          JsonObject *sent = wait_event (procs[i], NULL, "sent", "id", id_text, NULL);

          g_assert_cmpint (json_object_get_int_member (sent, "seq"), >, 0);
        }
      g_assert_cmpuint (count_events (procs[i], "message", "from", names[i], NULL), ==, 0);
      g_assert_cmpuint (count_events (procs[i], "message", NULL), ==, 6);

      for (guint j = 0; j < 3; j++)
        for (guint round = 1; round <= 3 && i != j; round++)
          {
            g_autofree char *text = round < 3 ? g_strdup_printf ("hello from %s #%u", names[j], round)
                                              : g_strdup_printf ("last from %s", names[j]);

            g_assert_cmpuint (count_events (procs[i], "message", "from", names[j], "text", text, NULL), ==, 1);
          }
    }

  /* Alice saw two members added. */
  g_assert_cmpuint (count_events (procs[0], "epoch", "reason", "add", NULL), ==, 2);
  members = members_of (procs[0]);
  g_assert_cmpstr (members, ==, "alice,bob,carol");

  quit_all (fixture);
}

static void
test_join_with_password (Fixture       *fixture,
                         gconstpointer  user_data)
{
  Proc *relay = start_relay (fixture, "127.0.0.1:0", NULL, NULL);
  Proc *alice = start_owner (fixture, "alice", relay, "--password", "correct horse battery", NULL);
  g_autofree char *invite = take_invite (alice);
  Proc *bob = join (fixture, "bob", invite, "correct horse battery");

  wait_event (alice, NULL, "member-joined", "name", "bob", NULL);
  send_line (alice, "welcome bob");
  send_line (bob, "thanks alice");
  expect_message (bob, "alice", "welcome bob");
  expect_message (alice, "bob", "thanks alice");

  quit_all (fixture);
}

static void
test_wrong_password (Fixture       *fixture,
                     gconstpointer  user_data)
{
  Proc *relay = start_relay (fixture, "127.0.0.1:0", NULL, NULL);
  Proc *alice = start_owner (fixture, "alice", relay, "--password", "correct horse battery", NULL);
  g_autofree char *invite = take_invite (alice);
  Proc *mallory = start_cli (fixture, "mallory", "join", invite, "--password", "Correct horse battery", NULL);
  g_autofree char *members = NULL;

  expect_failure (mallory, "WRONG_PASSWORD");
  g_assert_cmpuint (count_events (alice, "member-joined", NULL), ==, 0);
  members = members_of (alice);
  g_assert_cmpstr (members, ==, "alice");

  quit_all (fixture);
}

static void
test_invite_used_twice (Fixture       *fixture,
                        gconstpointer  user_data)
{
  Proc *relay = start_relay (fixture, "127.0.0.1:0", NULL, NULL);
  Proc *alice = start_owner (fixture, "alice", relay, NULL);
  g_autofree char *invite = take_invite (alice);
  g_autofree char *members = NULL;
  Proc *mallory;

  join (fixture, "bob", invite, NULL);
  wait_event (alice, NULL, "member-joined", "name", "bob", NULL);

  mallory = start_cli (fixture, "mallory", "join", invite, NULL);
  expect_failure (mallory, "INVITE_USED");
  members = members_of (alice);
  g_assert_cmpstr (members, ==, "alice,bob");
  g_assert_cmpuint (count_events (alice, "member-joined", NULL), ==, 1);

  quit_all (fixture);
}

static void
on_incoming (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source,
             gpointer           user_data)
{
  guint *connections = user_data;

  (*connections)++;
}

/* A changed character is a typo, found from the checksum before anything
 * is sent (J1): where the relay was, a listener sees no connection. */
static void
test_invite_altered (Fixture       *fixture,
                     gconstpointer  user_data)
{
  g_autoptr(GSocketService) listener = NULL;
  g_autoptr(GSocketAddress) address = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *invite = NULL;
  g_autofree char *relay_address = NULL;
  Proc *relay = start_relay (fixture, "127.0.0.1:0", NULL, NULL);
  Proc *alice = start_owner (fixture, "alice", relay, NULL);
  Proc *typo, *garbage;
  guint connections = 0;
  gsize position;
  guint16 port;

  invite = take_invite (alice);
  relay_address = g_strdup (relay->address);
  send_line (alice, "/quit");
  g_assert_cmpint (wait_exit (alice), ==, 0);
  g_subprocess_send_signal (relay->process, SIGTERM);
  g_assert_cmpint (wait_exit (relay), ==, 0);

  port = (guint16) g_ascii_strtoull (strrchr (relay_address, ':') + 1, NULL, 10);
  listener = g_socket_service_new ();
  address = g_inet_socket_address_new_from_string ("127.0.0.1", port);
  /* The port was the relay's a moment ago; should another test have taken
   * it since, only the "nothing sent" half of the check is lost. */
  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (listener), address, G_SOCKET_TYPE_STREAM,
                                      G_SOCKET_PROTOCOL_TCP, NULL, NULL, &error))
    {
      g_test_message ("Cannot listen where the relay was (%s): not counting connections", error->message);
      g_clear_error (&error);
      connections = G_MAXUINT;
    }
  g_signal_connect (listener, "incoming", G_CALLBACK (on_incoming), &connections);
  g_socket_service_start (listener);

  position = strlen ("usi://invite/") + 100;
  g_assert_cmpuint (strlen (invite), >, position);
  invite[position] = invite[position] == 'a' ? 'b' : 'a';
  typo = start_cli (fixture, "bob", "join", invite, NULL);
  expect_failure (typo, "INVITE_CORRUPT");
  g_assert_cmpuint (count_events (typo, "connection", NULL), ==, 0);

  garbage = start_cli (fixture, "carol", "join", "https://example.com/invite", NULL);
  expect_failure (garbage, "MALFORMED");

  /* Anything sent would have arrived by now: both processes have ended. */
  spin_for (200);
  if (connections != G_MAXUINT)
    g_assert_cmpuint (connections, ==, 0);
  g_socket_service_stop (listener);
  g_socket_listener_close (G_SOCKET_LISTENER (listener));
}

static void
test_invite_expired (Fixture       *fixture,
                     gconstpointer  user_data)
{
  Proc *relay = start_relay (fixture, "127.0.0.1:0", NULL, NULL);
  Proc *alice = start_owner (fixture, "alice", relay, NULL);
  g_autofree char *first = take_invite (alice);
  g_autofree char *short_lived = new_invite (alice, "/invite 1");
  g_autofree char *members = NULL;
  Proc *bob;

  /* A one-second invite, used well after its second. */
  spin_for (2500);
  bob = start_cli (fixture, "bob", "join", short_lived, NULL);
  expect_failure (bob, "INVITE_EXPIRED");
  members = members_of (alice);
  g_assert_cmpstr (members, ==, "alice");

  /* "/invite 0" and words are no lifetime. */
  send_line (alice, "/invite 0");
  wait_event (alice, NULL, "error", "code", "USAGE", NULL);

  quit_all (fixture);
}

/* The owner is away when the joiner comes: the request waits at the relay
 * (state waiting-for-owner), and is answered once the owner is back.  The
 * owner is made unreachable with SIGSTOP, and the relay (idle timeout 2 s,
 * small on purpose) drops its connection meanwhile. */
static void
test_owner_offline (Fixture       *fixture,
                    gconstpointer  user_data)
{
  const char *limits[] = { "--idle-timeout", "2", NULL };
  Proc *relay = start_relay (fixture, "127.0.0.1:0", NULL, limits);
  Proc *alice = start_owner (fixture, "alice", relay, NULL);
  g_autofree char *invite = take_invite (alice);
  Proc *bob;

  g_subprocess_send_signal (alice->process, SIGSTOP);
  /* Three idle timeouts: the relay has closed alice's connection. */
  spin_for (6000);

  bob = start_cli (fixture, "bob", "join", invite, NULL);
  wait_event (bob, NULL, "state", "state", "waiting-for-owner", NULL);
  g_assert_cmpuint (count_events (bob, "ready", NULL), ==, 0);

  g_subprocess_send_signal (alice->process, SIGCONT);
  wait_event (bob, NULL, "ready", NULL);
  wait_event (alice, NULL, "member-joined", "name", "bob", NULL);

  send_line (bob, "you were away");
  expect_message (alice, "bob", "you were away");
  send_line (alice, "back now");
  expect_message (bob, "alice", "back now");

  quit_all (fixture);
}

static void
test_removed_member (Fixture       *fixture,
                     gconstpointer  user_data)
{
  Proc *relay = start_relay (fixture, "127.0.0.1:0", NULL, NULL);
  Proc *alice = start_owner (fixture, "alice", relay, NULL);
  g_autofree char *invite_bob = take_invite (alice);
  g_autofree char *invite_carol = NULL;
  g_autofree char *members = NULL;
  Proc *bob, *carol;
  JsonObject *failed;
  guint cursor;

  bob = join (fixture, "bob", invite_bob, NULL);
  invite_carol = new_invite (alice, "/invite");
  carol = join (fixture, "carol", invite_carol, NULL);
  wait_event (bob, NULL, "member-joined", "name", "carol", NULL);
  send_line (alice, "before removal");
  expect_message (bob, "alice", "before removal");
  expect_message (carol, "alice", "before removal");

  send_line (alice, "/remove bob");
  wait_event (bob, NULL, "state", "state", "removed", NULL);
  wait_event (alice, NULL, "member-left", "name", "bob", NULL);
  wait_event (carol, NULL, "member-left", "name", "bob", NULL);
  wait_event (alice, NULL, "epoch", "reason", "remove", NULL);
  wait_event (carol, NULL, "epoch", "reason", "remove", NULL);

  send_line (alice, "after removal");
  expect_message (carol, "alice", "after removal");

  /* Bob's sends fail; nobody gets them. */
  cursor = bob->events->len;
  send_line (bob, "from the removed");
  failed = wait_event (bob, &cursor, "error", "id", "1", NULL);
  g_test_message ("bob's send failed with %s", json_object_get_string_member (failed, "code"));
  g_assert_cmpuint (count_events (bob, "sent", NULL), ==, 0);

  /* Anything that was coming to bob came before alice's later message
   * reached carol. */
  send_line (alice, "marker");
  expect_message (carol, "alice", "marker");
  spin_for (500);
  g_assert_cmpuint (count_events (bob, "message", "text", "after removal", NULL), ==, 0);
  g_assert_cmpuint (count_events (bob, "message", "text", "marker", NULL), ==, 0);
  g_assert_cmpuint (count_events (carol, "message", "from", "bob", NULL), ==, 0);
  g_assert_cmpuint (count_events (alice, "message", "from", "bob", NULL), ==, 0);
  members = members_of (alice);
  g_assert_cmpstr (members, ==, "alice,carol");

  /* Still running: bob leaves when he wants. */
  g_assert_false (bob->exited);
  quit_all (fixture);
}

static void
test_rotate_every (Fixture       *fixture,
                   gconstpointer  user_data)
{
  Proc *relay = start_relay (fixture, "127.0.0.1:0", NULL, NULL);
  Proc *alice = start_owner (fixture, "alice", relay, "--rotate-every", "3", NULL);
  g_autofree char *invite = take_invite (alice);
  Proc *bob = join (fixture, "bob", invite, NULL);
  JsonObject *rotated_alice, *rotated_bob;

  wait_event (alice, NULL, "member-joined", "name", "bob", NULL);
  g_assert_cmpuint (count_events (alice, "epoch", "reason", "rotate", NULL), ==, 0);

  send_line (alice, "one");
  expect_message (bob, "alice", "one");
  send_line (bob, "two");
  expect_message (alice, "bob", "two");
  send_line (alice, "three");
  expect_message (bob, "alice", "three");

  rotated_alice = wait_event (alice, NULL, "epoch", "reason", "rotate", NULL);
  rotated_bob = wait_event (bob, NULL, "epoch", "reason", "rotate", NULL);
  g_assert_cmpint (json_object_get_int_member (rotated_alice, "epoch"), ==,
                   json_object_get_int_member (rotated_bob, "epoch"));

  /* The new epoch carries messages. */
  send_line (bob, "four");
  g_assert_cmpint (json_object_get_int_member (wait_event (alice, NULL, "message", "text", "four", NULL), "epoch"),
                   ==, json_object_get_int_member (rotated_alice, "epoch"));

  quit_all (fixture);
}

static void
test_preshared_key (Fixture       *fixture,
                    gconstpointer  user_data)
{
  Proc *alice, *bob;
  JsonObject *ready_alice, *ready_bob;

  alice = start_cli (fixture, "alice", "host", "--listen", "127.0.0.1:0", "--psk", PSK_HEX, NULL);
  ready_alice = wait_event (alice, NULL, "ready", NULL);
  g_assert_cmpstr (json_object_get_string_member (ready_alice, "kind"), ==, "preshared");
  alice->address = g_strdup (json_object_get_string_member (wait_event (alice, NULL, "relay", NULL), "listen"));
  alice->pin = g_strdup (json_object_get_string_member (wait_event (alice, NULL, "relay", NULL), "pin"));

  bob = start_cli (fixture, "bob", "join", "--psk", PSK_HEX, "--relay", alice->address, "--pin", alice->pin, NULL);
  ready_bob = wait_event (bob, NULL, "ready", NULL);
  g_assert_cmpstr (json_object_get_string_member (ready_bob, "kind"), ==, "preshared");
  g_assert_cmpstr (json_object_get_string_member (ready_bob, "room"), ==,
                   json_object_get_string_member (ready_alice, "room"));

  send_line (alice, "shared hello");
  expect_message (bob, "alice", "shared hello");
  send_line (bob, "shared reply");
  expect_message (alice, "bob", "shared reply");

  /* No owner: no invites, no rotation, and no invite was printed. */
  g_assert_cmpuint (count_events (alice, "invite", NULL), ==, 0);
  send_line (alice, "/rotate");
  wait_event (alice, NULL, "error", NULL);

  quit_all (fixture);
}

/* Without --pin the relay is not authenticated: the room still works
 * (the key protects every message, §9) and usi-cli warns. */
static void
test_preshared_key_unpinned (Fixture       *fixture,
                             gconstpointer  user_data)
{
  Proc *relay = start_relay (fixture, "127.0.0.1:0", NULL, NULL);
  Proc *alice = start_cli (fixture, "alice", "join", "--psk", PSK_HEX, "--relay", relay->address,
                           "--pin", relay->pin, NULL);
  Proc *bob = start_cli (fixture, "bob", "join", "--psk", PSK_HEX, "--relay", relay->address, NULL);

  wait_event (alice, NULL, "ready", "kind", "preshared", NULL);
  wait_event (bob, NULL, "ready", "kind", "preshared", NULL);
  wait_event (bob, NULL, "warning", NULL);
  g_assert_cmpuint (count_events (alice, "warning", NULL), ==, 0);

  send_line (bob, "unpinned hello");
  expect_message (alice, "bob", "unpinned hello");

  quit_all (fixture);
}

/* T1: a relay whose key is not the pin given is never talked to; while
 * starting, that ends usi-cli with PIN_MISMATCH. */
static void
test_pin_mismatch (Fixture       *fixture,
                   gconstpointer  user_data)
{
  Proc *relay = start_relay (fixture, "127.0.0.1:0", NULL, NULL);
  g_autofree char *wrong_pin = g_strdup (relay->pin);
  Proc *host, *joiner;

  wrong_pin[0] = wrong_pin[0] == '0' ? '1' : '0';
  host = start_cli (fixture, "alice", "host", "--relay", relay->address, "--pin", wrong_pin, NULL);
  expect_failure (host, "PIN_MISMATCH");
  joiner = start_cli (fixture, "bob", "join", "--psk", PSK_HEX, "--relay", relay->address,
                      "--pin", wrong_pin, NULL);
  expect_failure (joiner, "PIN_MISMATCH");

  quit_all (fixture);
}

/* The relay dies (SIGKILL) and comes back on the same port with the same
 * state: clients say so, reconnect, and what was sent meanwhile arrives
 * once. */
static void
test_relay_restart (Fixture       *fixture,
                    gconstpointer  user_data)
{
  g_autofree char *state = g_build_filename (fixture->tmp, "relay", NULL);
  g_autofree char *address = NULL;
  g_autofree char *pin = NULL;
  Proc *relay = start_relay (fixture, "127.0.0.1:0", state, NULL);
  Proc *alice = start_owner (fixture, "alice", relay, NULL);
  g_autofree char *invite = take_invite (alice);
  Proc *bob = join (fixture, "bob", invite, NULL);
  Proc *again;
  guint alice_cursor = 0, bob_cursor = 0;

  send_line (alice, "before the crash");
  expect_message (bob, "alice", "before the crash");

  address = g_strdup (relay->address);
  pin = g_strdup (relay->pin);
  g_subprocess_send_signal (relay->process, SIGKILL);
  g_assert_cmpint (wait_exit (relay), ==, -SIGKILL);

  wait_event (alice, &alice_cursor, "connection", "connected", "false", NULL);
  wait_event (bob, &bob_cursor, "connection", "connected", "false", NULL);
  send_line (alice, "while the relay was down");

  again = start_relay (fixture, address, state, NULL);
  g_assert_cmpstr (again->address, ==, address);
  g_assert_cmpstr (again->pin, ==, pin);

  wait_event (alice, &alice_cursor, "connection", "connected", "true", NULL);
  wait_event (bob, &bob_cursor, "connection", "connected", "true", NULL);
  expect_message (bob, "alice", "while the relay was down");
  wait_event (alice, NULL, "sent", "id", "2", NULL);

  send_line (bob, "after the restart");
  expect_message (alice, "bob", "after the restart");
  send_line (alice, "marker");
  expect_message (bob, "alice", "marker");
  g_assert_cmpuint (count_events (bob, "message", "text", "while the relay was down", NULL), ==, 1);
  g_assert_cmpuint (count_events (bob, "message", "text", "before the crash", NULL), ==, 1);

  quit_all (fixture);
}

/* Text that looks like a terminal escape, markup, a JSON event or frame
 * bytes is data: it arrives verbatim in JSON, and in human mode every
 * control character is replaced. */
static void
test_terminal_escapes (Fixture       *fixture,
                       gconstpointer  user_data)
{
  const char *text = "\x1b[2J<b>bold</b> {\"event\":\"message\",\"from\":\"mallory\"} "
                     "\x01\x20\x07\x7f \xc2\x9b""31m \xe2\x80\xae""evil \xe2\x81\xa6x\xe2\x81\xa9 end";
  const char *shown = "[alice] \xef\xbf\xbd[2J<b>bold</b> {\"event\":\"message\",\"from\":\"mallory\"} "
                      "\xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd \xef\xbf\xbd""31m \xef\xbf\xbd""evil \xef\xbf\xbdx\xef\xbf\xbd end";
  const char *human_args[] = { "join", NULL, NULL };
  Proc *relay = start_relay (fixture, "127.0.0.1:0", NULL, NULL);
  Proc *alice = start_owner (fixture, "alice", relay, NULL);
  g_autofree char *invite_bob = take_invite (alice);
  g_autofree char *invite_carol = NULL;
  Proc *bob = join (fixture, "bob", invite_bob, NULL);
  Proc *carol;
  JsonObject *message;
  gboolean found = FALSE;

  invite_carol = new_invite (alice, "/invite");
  human_args[1] = invite_carol;
  carol = start_cli_full (fixture, "carol", FALSE, NULL, human_args);
  wait_event (alice, NULL, "member-joined", "name", "carol", NULL);

  send_line (alice, text);
  message = wait_event (bob, NULL, "message", "from", "alice", NULL);
  g_assert_cmpstr (json_object_get_string_member (message, "text"), ==, text);

  /* carol's terminal: the line, with nothing that could drive it. */
  for (gint64 deadline = g_get_monotonic_time () + EVENT_TIMEOUT_SECONDS * G_USEC_PER_SEC;
       !found && g_get_monotonic_time () < deadline;
       g_main_context_iteration (NULL, TRUE))
    for (guint i = 0; i < carol->lines->len && !found; i++)
      found = g_str_has_prefix (g_ptr_array_index (carol->lines, i), "[alice] ");
  if (!found)
    dump (carol);
  g_assert_true (found);
  for (guint i = 0; i < carol->lines->len; i++)
    {
      const char *line = g_ptr_array_index (carol->lines, i);

      if (g_str_has_prefix (line, "[alice] "))
        g_assert_cmpstr (line, ==, shown);
      g_assert_true (g_utf8_validate (line, -1, NULL));
      for (const char *p = line; *p != '\0'; p = g_utf8_next_char (p))
        {
          gunichar c = g_utf8_get_char (p);

          g_assert_false (c < 0x20 || (c >= 0x7f && c <= 0x9f));
          g_assert_false (c == 0x202e || c == 0x2066 || c == 0x2069);
        }
    }

  /* The other way: what carol types reaches the others as typed; a line
   * starting with "//" sends the text after the first "/". */
  send_line (carol, "//not a command");
  expect_message (alice, "carol", "/not a command");
  expect_message (bob, "carol", "/not a command");

  quit_all (fixture);
}

/* What usi-cli answers on its own: unknown commands, file commands of a
 * later version, bad UTF-8, names nobody has; the end of input is /quit. */
static void
test_commands (Fixture       *fixture,
               gconstpointer  user_data)
{
  Proc *alice = start_owner (fixture, "alice", NULL, NULL);
  JsonObject *members;
  JsonObject *self;
  guint cursor = 0;

  send_line (alice, "/fly");
  wait_event (alice, &cursor, "error", "code", "UNKNOWN_COMMAND", NULL);
  send_line (alice, "/send /etc/passwd");
  wait_event (alice, &cursor, "error", "code", "NOT_SUPPORTED", NULL);
  send_line (alice, "/accept all");
  wait_event (alice, &cursor, "error", "code", "NOT_SUPPORTED", NULL);
  send_line (alice, "/decline 1");
  wait_event (alice, &cursor, "error", "code", "NOT_SUPPORTED", NULL);
  send_line (alice, "caf\xc3");
  wait_event (alice, &cursor, "error", "code", "MALFORMED", NULL);
  send_line (alice, "/verify nobody");
  wait_event (alice, &cursor, "error", "code", "NO_SUCH_MEMBER", NULL);
  send_line (alice, "/verify");
  wait_event (alice, &cursor, "error", "code", "USAGE", NULL);
  send_line (alice, "/rotate");
  wait_event (alice, &cursor, "epoch", "reason", "rotate", NULL);

  send_line (alice, "/members");
  members = wait_event (alice, &cursor, "members", NULL);
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (members, "members")), ==, 1);
  self = json_array_get_object_element (json_object_get_array_member (members, "members"), 0);
  g_assert_cmpstr (json_object_get_string_member (self, "name"), ==, "alice");
  g_assert_true (json_object_get_boolean_member (self, "owner"));
  g_assert_true (json_object_get_boolean_member (self, "self"));

  /* Nothing was sent: the bad line went nowhere. */
  g_assert_cmpuint (count_events (alice, "sent", NULL), ==, 0);

  close_input (alice);
  g_assert_cmpint (wait_exit (alice), ==, 0);
  g_assert_null (alice->bad_line);
}

/* SIGTERM and SIGINT end usi-cli cleanly (status 0). */
static void
test_signals (Fixture       *fixture,
              gconstpointer  user_data)
{
  Proc *alice = start_owner (fixture, "alice", NULL, NULL);
  g_autofree char *invite = take_invite (alice);
  const char *storage[] = { "--keep-nothing", "--accept-files", fixture->tmp, NULL };
  const char *args[] = { "join", invite, NULL };
  Proc *bob = start_cli_full (fixture, "bob", TRUE, storage, args);

  /* Files are a later version's: --accept-files is said to do nothing. */
  wait_event (bob, NULL, "warning", "code", "NOT_SUPPORTED", NULL);
  wait_event (bob, NULL, "ready", NULL);

  g_subprocess_send_signal (bob->process, SIGINT);
  g_assert_cmpint (wait_exit (bob), ==, 0);
  g_subprocess_send_signal (alice->process, SIGTERM);
  g_assert_cmpint (wait_exit (alice), ==, 0);
}

/* State on disk without a Secret Service: the passphrase file's first
 * line wraps the key; a wrong one is refused with exit 1. */
static void
test_passphrase_state (Fixture       *fixture,
                       gconstpointer  user_data)
{
  g_autofree char *state = g_build_filename (fixture->tmp, "state", NULL);
  g_autofree char *good = g_build_filename (fixture->tmp, "good", NULL);
  g_autofree char *bad = g_build_filename (fixture->tmp, "bad", NULL);
  g_autofree char *key = g_build_filename (state, "key", NULL);
  const char *good_storage[] = { "--state-dir", state, "--passphrase-file", good, NULL };
  const char *bad_storage[] = { "--state-dir", state, "--passphrase-file", bad, NULL };
  const char *host[] = { "host", "--listen", "127.0.0.1:0", NULL };
  g_autoptr(GError) error = NULL;
  Proc *first, *second, *wrong;

  g_file_set_contents (good, "a long passphrase\nthat second line is not part of it\n", -1, &error);
  g_assert_no_error (error);
  g_file_set_contents (bad, "a long passphrase!\n", -1, &error);
  g_assert_no_error (error);

  first = start_cli_full (fixture, "alice", TRUE, good_storage, host);
  wait_event (first, NULL, "ready", NULL);
  send_line (first, "/quit");
  g_assert_cmpint (wait_exit (first), ==, 0);
  g_assert_true (g_file_test (key, G_FILE_TEST_IS_REGULAR));

  second = start_cli_full (fixture, "alice", TRUE, good_storage, host);
  wait_event (second, NULL, "ready", NULL);
  send_line (second, "/quit");
  g_assert_cmpint (wait_exit (second), ==, 0);

  wrong = start_cli_full (fixture, "alice", TRUE, bad_storage, host);
  wait_event (wrong, NULL, "error", NULL);
  g_assert_cmpint (wait_exit (wrong), ==, 1);
  g_assert_cmpuint (count_events (wrong, "ready", NULL), ==, 0);
  g_assert_true (g_str_has_prefix (wrong->err->str, "usi-cli: "));
}

/* A free TCP port on 127.0.0.1 (bound, read, released). */
static guint16
free_port (void)
{
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_socket_bind (socket, address, FALSE, &error));
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  return g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound));
}

/* The owner keeps state and hosts the relay itself: it quits and starts
 * again with the same command; the room, its relay (same pin) and the
 * member's connection come back by themselves. */
static void
test_owner_restart (Fixture       *fixture,
                    gconstpointer  user_data)
{
  g_autofree char *state = g_build_filename (fixture->tmp, "state", NULL);
  g_autofree char *passphrase = g_build_filename (fixture->tmp, "passphrase", NULL);
  g_autofree char *listen = g_strdup_printf ("127.0.0.1:%u", free_port ());
  const char *storage[] = { "--state-dir", state, "--passphrase-file", passphrase, NULL };
  const char *host[] = { "host", "--listen", listen, "--room", "kept", NULL };
  g_autoptr(GError) error = NULL;
  g_autofree char *invite = NULL;
  g_autofree char *pin = NULL;
  JsonObject *ready;
  JsonObject *relay;
  Proc *owner, *again, *bob;

  g_file_set_contents (passphrase, "a passphrase for the owner\n", -1, &error);
  g_assert_no_error (error);

  owner = start_cli_full (fixture, "alice", TRUE, storage, host);
  ready = wait_event (owner, NULL, "ready", NULL);
  g_assert_false (json_object_get_boolean_member (ready, "resumed"));
  relay = wait_event (owner, NULL, "relay", NULL);
  pin = g_strdup (json_object_get_string_member (relay, "pin"));
  invite = take_invite (owner);
  bob = join (fixture, "bob", invite, NULL);
  send_line (owner, "before the restart");
  wait_event (bob, NULL, "message", "text", "before the restart", NULL);
  send_line (owner, "/quit");
  g_assert_cmpint (wait_exit (owner), ==, 0);

  /* Bob notices, and keeps trying. */
  wait_event (bob, NULL, "connection", NULL);
  send_line (bob, "said while the owner was away");

  again = start_cli_full (fixture, "alice", TRUE, storage, host);
  ready = wait_event (again, NULL, "ready", NULL);
  g_assert_true (json_object_get_boolean_member (ready, "resumed"));
  relay = wait_event (again, NULL, "relay", NULL);
  g_assert_cmpstr (json_object_get_string_member (relay, "pin"), ==, pin);

  wait_event (again, NULL, "message", "text", "said while the owner was away", NULL);
  send_line (again, "after the restart");
  wait_event (bob, NULL, "message", "text", "after the restart", NULL);
  g_assert_cmpuint (count_events (bob, "message", "text", "before the restart", NULL), ==, 1);

  send_line (again, "/quit");
  g_assert_cmpint (wait_exit (again), ==, 0);
  send_line (bob, "/quit");
  g_assert_cmpint (wait_exit (bob), ==, 0);
}

/* The default storage: the key in the Secret Service (the suite's
 * throwaway keyring).  The member's state comes back with the same
 * identity and room. */
static void
test_secret_service_state (Fixture       *fixture,
                           gconstpointer  user_data)
{
  g_autofree char *state = g_build_filename (fixture->tmp, "bob-state", NULL);
  const char *storage[] = { "--state-dir", state, NULL };
  g_autofree char *invite = NULL;
  const char *join_args[3] = { "join", NULL, NULL };
  JsonObject *ready;
  Proc *owner, *bob, *again;

  if (g_getenv ("USI_TEST_SECRET_SERVICE") == NULL)
    {
      g_test_skip ("needs the throwaway keyring of `build-aux/dev test` "
                   "(USI_TEST_SECRET_SERVICE is not set)");
      return;
    }

  fixture->secret_service = TRUE;
  owner = start_owner (fixture, "alice", NULL, NULL);
  invite = take_invite (owner);
  join_args[1] = invite;

  bob = start_cli_full (fixture, "bob", TRUE, storage, join_args);
  ready = wait_event (bob, NULL, "ready", NULL);
  g_assert_false (json_object_get_boolean_member (ready, "resumed"));
  send_line (bob, "first run");
  wait_event (owner, NULL, "message", "text", "first run", NULL);
  send_line (bob, "/quit");
  g_assert_cmpint (wait_exit (bob), ==, 0);

  send_line (owner, "while bob was gone");
  wait_event (owner, NULL, "sent", NULL);

  again = start_cli_full (fixture, "bob", TRUE, storage, join_args);
  ready = wait_event (again, NULL, "ready", NULL);
  g_assert_true (json_object_get_boolean_member (ready, "resumed"));
  wait_event (again, NULL, "message", "text", "while bob was gone", NULL);
  send_line (again, "second run");
  wait_event (owner, NULL, "message", "text", "second run", NULL);

  send_line (again, "/quit");
  g_assert_cmpint (wait_exit (again), ==, 0);
  send_line (owner, "/quit");
  g_assert_cmpint (wait_exit (owner), ==, 0);
}

int
main (int   argc,
      char *argv[])
{
  g_setenv ("LANGUAGE", "C", TRUE);
  g_setenv ("LC_ALL", "C.UTF-8", TRUE);
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/integration/three-members", test_three_members);
  ADD ("/integration/join-with-password", test_join_with_password);
  ADD ("/integration/owner-offline", test_owner_offline);
  ADD ("/integration/rotate-every", test_rotate_every);
  ADD ("/integration/preshared-key", test_preshared_key);
  ADD ("/integration/preshared-key-unpinned", test_preshared_key_unpinned);
  ADD ("/integration/relay-restart", test_relay_restart);
  ADD ("/integration/commands", test_commands);
  ADD ("/integration/signals", test_signals);
  ADD ("/integration/passphrase-state", test_passphrase_state);
  ADD ("/integration/owner-restart", test_owner_restart);
  ADD ("/integration/secret-service-state", test_secret_service_state);
  ADD ("/security/wrong-password", test_wrong_password);
  ADD ("/security/invite-used-twice", test_invite_used_twice);
  ADD ("/security/invite-altered", test_invite_altered);
  ADD ("/security/T1-pin-mismatch", test_pin_mismatch);
  ADD ("/security/invite-expired", test_invite_expired);
  ADD ("/security/removed-member", test_removed_member);
  ADD ("/security/terminal-escapes", test_terminal_escapes);
#undef ADD

  return g_test_run ();
}
