/* SPDX-License-Identifier: GPL-3.0-or-later */

/* System-level rows of ../shared/design/security-tests.md against the real
 * usi-relay binary: what the relay and the wire can see of a message, what
 * the relay offers to a TLS scanner, and what garbage and silent
 * connections get.  Members are real sessions in this process; between
 * them and the relay sits a recording TCP proxy (plain bytes in, the same
 * bytes out) so the test sees exactly what crossed the network. */

#include "config.h"

#include <fcntl.h>
#include <signal.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <unistd.h>
#include <string.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "net/usi-tls-identity.h"
#include "session/usi-session.h"
#include "usi-test-async.h"
#include "usi-test-session.h"

/* Helpers ------------------------------------------------------------------ */

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir != NULL)
    while ((name = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *child = g_build_filename (path, name, NULL);

        if (g_file_test (child, G_FILE_TEST_IS_DIR))
          remove_tree (child);
        else
          g_unlink (child);
      }
  g_rmdir (path);
}

static gboolean
contains (const guint8 *haystack,
          gsize         length,
          const char   *needle)
{
  gsize needle_length = strlen (needle);

  if (length < needle_length)
    return FALSE;
  for (gsize i = 0; i + needle_length <= length; i++)
    if (haystack[i] == (guint8) needle[0] && memcmp (haystack + i, needle, needle_length) == 0)
      return TRUE;
  return FALSE;
}

/* The real relay ------------------------------------------------------------ */

#ifdef __linux__
/* A relay outlives no test, even one that fails half-way. */
static void
die_with_parent (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}
#endif

typedef struct
{
  GSubprocess *process;
  char        *address;
  guint8       pin[32];
  char        *stderr_path;
} Relay;

static void
relay_start (Relay       *relay,
             const char  *state_dir,
             const char  *extra_option)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autofree char *binary = g_build_filename (USI_BUILD_ROOT, "src", "relay", "usi-relay", NULL);
  g_autoptr(GDataInputStream) out = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *listening = NULL;
  g_autofree char *pin = NULL;
  const char *argv[8] = { binary, "--listen", "127.0.0.1:0", NULL };
  guint argc = 3;

  if (state_dir != NULL)
    {
      argv[argc++] = "--state-dir";
      argv[argc++] = state_dir;
    }
  else
    argv[argc++] = "--ephemeral";
  if (extra_option != NULL)
    argv[argc++] = extra_option;
  argv[argc] = NULL;

  /* Logs at their most talkative: they must still hold no marker. */
  relay->stderr_path = g_build_filename (g_get_tmp_dir (), "usi-security-relay-XXXXXX.log", NULL);
  g_close (g_mkstemp (relay->stderr_path), NULL);
  g_subprocess_launcher_set_stderr_file_path (launcher, relay->stderr_path);
  g_subprocess_launcher_setenv (launcher, "G_MESSAGES_DEBUG", "all", TRUE);
#ifdef __linux__
  g_subprocess_launcher_set_child_setup (launcher, die_with_parent, NULL, NULL);
#endif
  relay->process = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);

  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (relay->process));
  listening = g_data_input_stream_read_line_utf8 (out, NULL, NULL, &error);
  g_assert_no_error (error);
  pin = g_data_input_stream_read_line_utf8 (out, NULL, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (listening, "listening: "));
  g_assert_true (g_str_has_prefix (pin, "pin: "));
  relay->address = g_strdup (listening + strlen ("listening: "));
  g_assert_true (usi_tls_pin_parse_hex (pin + strlen ("pin: "), relay->pin, &error));
  g_assert_no_error (error);
}

static void
relay_stop (Relay *relay)
{
  g_autoptr(GError) error = NULL;

  if (relay->process != NULL)
    {
      g_subprocess_send_signal (relay->process, SIGTERM);
      g_subprocess_wait (relay->process, NULL, &error);
      g_assert_no_error (error);
      g_clear_object (&relay->process);
    }
  if (relay->stderr_path != NULL)
    {
      g_unlink (relay->stderr_path);
      g_clear_pointer (&relay->stderr_path, g_free);
    }
  g_clear_pointer (&relay->address, g_free);
}

static pid_t
relay_pid (Relay *relay)
{
  const char *id = g_subprocess_get_identifier (relay->process);

  return (pid_t) g_ascii_strtoll (id, NULL, 10);
}

/* Looks for `needle` in every readable mapping of a process's memory (the
 * test runs as the same user, and as the relay's parent may read it), a
 * chunk at a time with an overlap so nothing is missed at a boundary.
 * Mappings above 1 GiB are skipped: only AddressSanitizer's shadow memory
 * is that large, and it holds no program data.  *scanned gets the bytes
 * read. */
static gboolean
process_memory_contains (pid_t       pid,
                         const char *needle,
                         gsize      *scanned)
{
  g_autofree char *maps_path = g_strdup_printf ("/proc/%d/maps", (int) pid);
  g_autofree char *mem_path = g_strdup_printf ("/proc/%d/mem", (int) pid);
  g_autofree char *maps = NULL;
  g_auto(GStrv) lines = NULL;
  gsize overlap = strlen (needle) - 1;
  g_autofree guint8 *buffer = g_malloc (65536 + overlap);
  gboolean found = FALSE;
  int fd;

  *scanned = 0;
  g_assert_true (g_file_get_contents (maps_path, &maps, NULL, NULL));
  fd = g_open (mem_path, O_RDONLY, 0);
  g_assert_cmpint (fd, >=, 0);

  lines = g_strsplit (maps, "\n", -1);
  for (guint i = 0; lines[i] != NULL && !found; i++)
    {
      guint64 start, end;
      char permissions[5] = { 0 };
      gsize kept = 0;

      if (sscanf (lines[i], "%" G_GINT64_MODIFIER "x-%" G_GINT64_MODIFIER "x %4s",
                  &start, &end, permissions) != 3 || permissions[0] != 'r')
        continue;
      if (strstr (lines[i], "[vvar]") != NULL || end - start > G_GUINT64_CONSTANT (1) << 30)
        continue;
      for (guint64 offset = start; offset < end && !found; offset += 65536)
        {
          gsize want = MIN (65536, end - offset);
          gssize got = pread (fd, buffer + kept, want, (off_t) offset);

          if (got <= 0)
            {
              kept = 0;
              continue;
            }
          *scanned += got;
          found = contains (buffer, kept + got, needle);
          {
            gsize total = kept + got;

            kept = MIN (overlap, total);
            memmove (buffer, buffer + total - kept, kept);
          }
        }
    }
  g_close (fd, NULL);
  return found;
}

/* The recording proxy ------------------------------------------------------- */

typedef struct
{
  GSocketService *service;
  guint16         port;
  char           *target;
  GByteArray     *recorded;     /* every byte, both directions */
} Proxy;

typedef struct
{
  GByteArray    *recorded;      /* shared with the proxy, which may go first */
  GIOStream     *from;
  GIOStream     *to;
  guint8         buffer[16384];
} Pump;

static void pump_read (Pump *pump);

static void
pump_free (Pump *pump)
{
  g_io_stream_close (pump->from, NULL, NULL);
  g_io_stream_close (pump->to, NULL, NULL);
  g_byte_array_unref (pump->recorded);
  g_object_unref (pump->from);
  g_object_unref (pump->to);
  g_free (pump);
}

static void
pump_written (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Pump *pump = user_data;

  if (!g_output_stream_write_all_finish (G_OUTPUT_STREAM (source), result, NULL, NULL))
    {
      pump_free (pump);
      return;
    }
  pump_read (pump);
}

static void
pump_got (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  Pump *pump = user_data;
  gssize got = g_input_stream_read_finish (G_INPUT_STREAM (source), result, NULL);

  if (got <= 0)
    {
      pump_free (pump);
      return;
    }
  g_byte_array_append (pump->recorded, pump->buffer, got);
  g_output_stream_write_all_async (g_io_stream_get_output_stream (pump->to), pump->buffer, got,
                                   G_PRIORITY_DEFAULT, NULL, pump_written, pump);
}

static void
pump_read (Pump *pump)
{
  g_input_stream_read_async (g_io_stream_get_input_stream (pump->from), pump->buffer, sizeof pump->buffer,
                             G_PRIORITY_DEFAULT, NULL, pump_got, pump);
}

static gboolean
proxy_incoming (GSocketService    *service,
                GSocketConnection *connection,
                GObject           *source,
                gpointer           user_data)
{
  Proxy *proxy = user_data;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) upstream = NULL;
  g_autoptr(GError) error = NULL;
  Pump *up = g_new0 (Pump, 1);
  Pump *down = g_new0 (Pump, 1);

  /* Loopback: connecting synchronously is immediate. */
  upstream = g_socket_client_connect_to_host (client, proxy->target, 0, NULL, &error);
  g_assert_no_error (error);

  /* Each pump owns a reference to both streams; closing twice is fine. */
  up->recorded = g_byte_array_ref (proxy->recorded);
  down->recorded = g_byte_array_ref (proxy->recorded);
  up->from = g_object_ref (G_IO_STREAM (connection));
  up->to = g_object_ref (G_IO_STREAM (upstream));
  down->from = g_object_ref (G_IO_STREAM (upstream));
  down->to = g_object_ref (G_IO_STREAM (connection));
  pump_read (up);
  pump_read (down);
  return TRUE;
}

static void
proxy_start (Proxy      *proxy,
             const char *target)
{
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) effective = NULL;
  g_autoptr(GError) error = NULL;

  proxy->target = g_strdup (target);
  proxy->recorded = g_byte_array_new ();
  proxy->service = g_socket_service_new ();
  g_socket_listener_add_address (G_SOCKET_LISTENER (proxy->service), address, G_SOCKET_TYPE_STREAM,
                                 G_SOCKET_PROTOCOL_TCP, NULL, &effective, &error);
  g_assert_no_error (error);
  proxy->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
  g_signal_connect (proxy->service, "incoming", G_CALLBACK (proxy_incoming), proxy);
  g_socket_service_start (proxy->service);
}

static void
proxy_stop (Proxy *proxy)
{
  g_socket_service_stop (proxy->service);
  g_socket_listener_close (G_SOCKET_LISTENER (proxy->service));
  g_clear_object (&proxy->service);
  g_clear_pointer (&proxy->recorded, g_byte_array_unref);
  g_clear_pointer (&proxy->target, g_free);
}

/* Sessions ------------------------------------------------------------------ */

static gboolean
room_has_text (UsiRoom    *room,
               const char *text)
{
  GListModel *messages = usi_room_get_messages (room);

  for (guint i = 0; i < g_list_model_get_n_items (messages); i++)
    {
      g_autoptr(UsiMessage) message = g_list_model_get_item (messages, i);

      if (!usi_message_get_is_own (message) && g_strcmp0 (usi_message_get_text (message), text) == 0)
        return TRUE;
    }
  return FALSE;
}

static void
wait_for_text (UsiRoom    *room,
               const char *text)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) USI_TEST_WAIT_MS * 1000;

  while (!room_has_text (room, text))
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
}

/* Alice hosts at `address`, Bob joins: both rooms returned. */
static void
open_room (const char  *address,
           const guint8 *pin,
           UsiSession  *alice,
           UsiSession  *bob,
           UsiRoom    **alice_room,
           UsiRoom    **bob_room)
{
  UsiHostOptions options = { 0 };
  g_autoptr(GError) error = NULL;
  g_autofree char *invite = NULL;
  UsiTestWaiter waiter = { 0 };

  options.relay_address = address;
  options.relay_pin = pin;
  usi_session_host_async (alice, &options, NULL, usi_test_store_result, &waiter);
  *alice_room = usi_session_host_finish (alice, usi_test_wait_result (&waiter), &error);
  g_assert_no_error (error);

  usi_room_create_invite_async (*alice_room, 0, NULL, usi_test_store_result, &waiter);
  invite = usi_room_create_invite_finish (*alice_room, usi_test_wait_result (&waiter), &error);
  g_assert_no_error (error);

  usi_session_join_async (bob, invite, NULL, NULL, usi_test_store_result, &waiter);
  *bob_room = usi_session_join_finish (bob, usi_test_wait_result (&waiter), &error);
  g_assert_no_error (error);
  g_clear_object (&waiter.result);
}

static void
send_text (UsiRoom    *room,
           const char *text)
{
  g_autoptr(GError) error = NULL;
  UsiTestWaiter waiter = { 0 };

  usi_room_send_text_async (room, text, NULL, usi_test_store_result, &waiter);
  g_assert_true (usi_room_send_text_finish (room, usi_test_wait_result (&waiter), &error));
  g_assert_no_error (error);
  g_clear_object (&waiter.result);
}

static void
assert_no_marker_in_tree (const char *path,
                          const char *marker,
                          guint      *files_seen)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *child = g_build_filename (path, name, NULL);
      g_autofree char *contents = NULL;
      gsize length = 0;

      if (g_file_test (child, G_FILE_TEST_IS_DIR))
        {
          assert_no_marker_in_tree (child, marker, files_seen);
          continue;
        }
      g_assert_true (g_file_get_contents (child, &contents, &length, NULL));
      g_assert_false (contains ((const guint8 *) contents, length, marker));
      (*files_seen)++;
    }
}

/* Tests ---------------------------------------------------------------------- */

/* Row 1: a message with a unique marker never appears in any TCP payload,
 * the relay's memory, its logs or its state directory. */
static void
test_marker_never_in_the_clear (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *state_dir = g_dir_make_tmp ("usi-security-XXXXXX", &error);
  g_autofree char *client_dir = g_dir_make_tmp ("usi-security-client-XXXXXX", &error);
  g_autofree char *client_state = g_build_filename (client_dir, "state", NULL);
  g_autofree char *proxy_address = NULL;
  g_autofree char *marker = NULL;
  g_autofree char *log = NULL;
  gsize scanned = 0;
  g_autoptr(UsiSession) alice = usi_test_session_new (client_state, "Alice");
  g_autoptr(UsiSession) bob = usi_test_session_new (NULL, "Bob");
  g_autoptr(UsiRoom) alice_room = NULL;
  g_autoptr(UsiRoom) bob_room = NULL;
  gsize log_length = 0;
  guint files_seen = 0;
  Relay relay = { 0 };
  Proxy proxy = { 0 };
  guint8 random_part[16];

  g_assert_no_error (error);
  for (gsize i = 0; i < sizeof random_part; i++)
    random_part[i] = (guint8) g_random_int ();
  marker = g_strdup_printf ("MARKER-%08x%08x%08x%08x", g_random_int (), g_random_int (),
                            g_random_int (), g_random_int ());

  relay_start (&relay, state_dir, NULL);
  proxy_start (&proxy, relay.address);
  proxy_address = g_strdup_printf ("127.0.0.1:%u", proxy.port);

  open_room (proxy_address, relay.pin, alice, bob, &alice_room, &bob_room);
  send_text (alice_room, marker);
  wait_for_text (bob_room, marker);
  send_text (bob_room, marker);
  wait_for_text (alice_room, marker);

  /* The wire: the proxy saw every byte, and saw a lot of them. */
  g_assert_cmpuint (proxy.recorded->len, >, 2000);
  g_assert_false (contains (proxy.recorded->data, proxy.recorded->len, marker));

  /* The relay's memory while it runs.  A control: its certificate's name
   * is in there, so the scan does read its memory. */
  g_assert_true (process_memory_contains (relay_pid (&relay), "usi-relay", &scanned));
  g_assert_false (process_memory_contains (relay_pid (&relay), marker, &scanned));
  g_assert_cmpuint (scanned, >, 1024 * 1024);
  g_test_message ("scanned %" G_GSIZE_FORMAT " bytes of the relay's memory", scanned);

  usi_session_shutdown (alice);
  usi_session_shutdown (bob);
  proxy_stop (&proxy);

  /* Its logs (all debug messages on) and its state directory, after it
   * stopped and wrote everything. */
  g_subprocess_send_signal (relay.process, SIGTERM);
  g_subprocess_wait (relay.process, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (relay.stderr_path, &log, &log_length, NULL));
  g_assert_cmpuint (log_length, >, 0);
  g_assert_false (contains ((const guint8 *) log, log_length, marker));
  assert_no_marker_in_tree (state_dir, marker, &files_seen);
  g_assert_cmpuint (files_seen, >=, 2);   /* the database and the relay key at least */

  /* Alice keeps state: her room and its history are on disk, encrypted. */
  files_seen = 0;
  assert_no_marker_in_tree (client_state, marker, &files_seen);
  g_assert_cmpuint (files_seen, ==, 4);   /* key, identity, the room, its history */
  {
    g_autofree char *room_hex = usi_room_dup_id_hex (alice_room);
    g_autofree char *history_name = g_strdup_printf ("history-%s-0.record", room_hex);
    g_autofree char *history = g_build_filename (client_state, history_name, NULL);

    g_assert_true (g_file_test (history, G_FILE_TEST_IS_REGULAR));
  }

  relay_stop (&relay);
  remove_tree (state_dir);
  remove_tree (client_dir);
}

/* sslscan against the relay: only TLS 1.3 is offered, with X25519, and the
 * scan ends promptly. */
static void
test_sslscan_tls13_only (void)
{
  g_autofree char *sslscan = g_find_program_in_path ("sslscan");
  g_autoptr(GSubprocess) scan = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  Relay relay = { 0 };
  gint64 started;

  if (sslscan == NULL)
    {
      g_test_skip ("sslscan is not installed (build-aux/dev installs it)");
      return;
    }

  relay_start (&relay, NULL, NULL);
  started = g_get_monotonic_time ();
  scan = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE, &error,
                           sslscan, "--no-colour", relay.address, NULL);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_communicate_utf8 (scan, NULL, NULL, &out, NULL, &error));
  g_assert_no_error (error);
  g_assert_cmpint (g_get_monotonic_time () - started, <, 30 * G_USEC_PER_SEC);
  g_test_message ("sslscan took %.2f s", (g_get_monotonic_time () - started) / 1e6);

  g_assert_nonnull (strstr (out, "SSLv2     disabled"));
  g_assert_nonnull (strstr (out, "SSLv3     disabled"));
  g_assert_nonnull (strstr (out, "TLSv1.0   disabled"));
  g_assert_nonnull (strstr (out, "TLSv1.1   disabled"));
  g_assert_nonnull (strstr (out, "TLSv1.2   disabled"));
  g_assert_nonnull (strstr (out, "TLSv1.3   enabled"));
  g_assert_null (strstr (out, "Accepted  TLSv1.2"));
  g_assert_nonnull (strstr (out, "x25519"));
  g_assert_null (strstr (out, "secp256r1"));
  g_assert_null (strstr (out, "ffdhe"));

  relay_stop (&relay);
}

/* Reads until EOF or error; returns how long that took, in ms. */
static gint64
wait_for_close (GSocketConnection *connection)
{
  GInputStream *input = g_io_stream_get_input_stream (G_IO_STREAM (connection));
  gint64 started = g_get_monotonic_time ();
  guint8 buffer[4096];

  g_socket_set_timeout (g_socket_connection_get_socket (connection), 20);
  while (g_input_stream_read (input, buffer, sizeof buffer, NULL, NULL) > 0)
    ;
  return (g_get_monotonic_time () - started) / 1000;
}

/* Row 2: random bytes and a silent connection (slowloris) are closed within
 * the handshake timeout, while members keep chatting. */
static void
test_garbage_and_slowloris_closed (void)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) silent = NULL;
  g_autoptr(GSocketConnection) garbage = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiSession) alice = usi_test_session_new (NULL, "Alice");
  g_autoptr(UsiSession) bob = usi_test_session_new (NULL, "Bob");
  g_autoptr(UsiRoom) alice_room = NULL;
  g_autoptr(UsiRoom) bob_room = NULL;
  Relay relay = { 0 };
  guint8 noise[4096];
  gint64 silent_ms;
  gint64 garbage_ms;

  relay_start (&relay, NULL, "--handshake-timeout=2");
  open_room (relay.address, relay.pin, alice, bob, &alice_room, &bob_room);

  silent = g_socket_client_connect_to_host (client, relay.address, 0, NULL, &error);
  g_assert_no_error (error);
  garbage = g_socket_client_connect_to_host (client, relay.address, 0, NULL, &error);
  g_assert_no_error (error);
  for (gsize i = 0; i < sizeof noise; i++)
    noise[i] = (guint8) g_random_int ();
  g_output_stream_write_all (g_io_stream_get_output_stream (G_IO_STREAM (garbage)), noise, sizeof noise,
                             NULL, NULL, NULL);

  /* Members chat while those are open. */
  send_text (alice_room, "still talking");
  wait_for_text (bob_room, "still talking");

  garbage_ms = wait_for_close (garbage);
  silent_ms = wait_for_close (silent);
  g_test_message ("garbage closed after %" G_GINT64_FORMAT " ms, silent after %" G_GINT64_FORMAT " ms",
                  garbage_ms, silent_ms);
  g_assert_cmpint (garbage_ms, <, 2000 + 1000);
  g_assert_cmpint (silent_ms, <, 2000 + 1500);

  send_text (bob_room, "and still talking");
  wait_for_text (alice_room, "and still talking");

  usi_session_shutdown (alice);
  usi_session_shutdown (bob);
  relay_stop (&relay);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/security/marker-never-in-the-clear", test_marker_never_in_the_clear);
  g_test_add_func ("/security/sslscan-tls13-only", test_sslscan_tls13_only);
  g_test_add_func ("/security/garbage-and-slowloris-closed", test_garbage_and_slowloris_closed);

  return g_test_run ();
}
