/* SPDX-License-Identifier: GPL-3.0-or-later */

/* usi-bench-net [net|join|chat-10|fanout-50|idle-1000] [--json]: Usi's
 * network figures (issue 5), each next to an anchor measured in the same
 * run and a goal: joining, a 10-member room's end-to-end latency, the
 * relay's fan-out against mosquitto's, and the relay's memory with 1,000
 * idle links.  Everything is over loopback.  Exits 0 even when a goal is
 * missed or a part cannot run (the figure then says ok: false, and the
 * reason goes to stderr); only bad usage is an error.  Never fakes a figure:
 * a part that cannot run prints null.  Touches no key material of its own
 * beyond fresh identities and a random pre-shared key for the fan-out room. */

#define G_LOG_DOMAIN "usi-bench"

#include "config.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "crypto/usi-random.h"
#include "net/usi-relay-link.h"
#include "net/usi-tls-identity.h"
#include "protocol/usi-frame.h"
#include "protocol/usi-identity.h"
#include "protocol/usi-preshared-room.h"
#include "session/usi-room.h"
#include "session/usi-session.h"
#include "store/usi-store.h"

#include "usi-bench-report.h"

#define JOIN_COUNT          30
#define CHAT_MEMBERS        10
#define CHAT_RATE           100      /* messages per second, in total */
#define CHAT_SECONDS        10
#define TEXT_LENGTH         100
#define FANOUT_RECEIVERS    50
#define FANOUT_THREADS      4
#define FANOUT_SECONDS      5
/* The relay closes a connection sending more than 10,000 frames/s (burst
 * 20,000; UsiConnectionLimits): the sender stays under it. */
#define FANOUT_POST_RATE    9000
#define FANOUT_WINDOW       512
#define MOSQUITTO_DRAIN_SECONDS 10
#define IDLE_LINKS          1000
#define IDLE_CHAT_RATE      10
#define IDLE_CHAT_SECONDS   10
#define STEP_TIMEOUT_MS     60000

typedef UsiBenchFigure Figure;

static gboolean json_output;

static void
report (const Figure *figure)
{
  int decimals = usi_bench_figure_decimals (figure);
  gboolean ok = usi_bench_figure_ok (figure);

  if (json_output)
    usi_bench_figure_print_json (figure);
  else
    {
      if (isnan (figure->value))
        printf ("%-52s %12s %s\n", figure->description, "—", figure->unit);
      else
        printf ("%-52s %12.*f %s\n", figure->description, decimals, figure->value, figure->unit);
      if (figure->anchor != NULL && isnan (figure->anchor_value))
        printf ("    anchor %s: could not be measured; goal %s — %s\n", figure->anchor,
                figure->goal_text, ok ? "ok" : "MISSED");
      else if (figure->anchor != NULL)
        printf ("    anchor %s: %.*f %s; goal %s — %s\n",
                figure->anchor, decimals, figure->anchor_value, figure->unit, figure->goal_text,
                ok ? "ok" : "MISSED");
      else
        printf ("    goal %s — %s\n", figure->goal_text, ok ? "ok" : "MISSED");
    }
  fflush (stdout);
}

/* A part that could not run: says why on stderr, and prints its figures
 * with no value (ok: false). */
static void
report_failed (const Figure *figures,
               guint         n_figures,
               const char   *reason)
{
  g_printerr ("usi-bench-net: %s: cannot run: %s\n", figures[0].bench, reason);
  for (guint i = 0; i < n_figures; i++)
    {
      Figure figure = figures[i];

      figure.value = NAN;
      report (&figure);
    }
}

static int
compare_doubles (gconstpointer a,
                 gconstpointer b)
{
  double x = *(const double *) a;
  double y = *(const double *) b;

  return (x > y) - (x < y);
}

/* The p-th percentile (0–100) by nearest rank; NAN when empty. */
static double
percentile (GArray *values,
            double  p)
{
  double exact = p / 100.0 * values->len;
  gsize rank = (gsize) exact;

  if (values->len == 0)
    return NAN;
  g_array_sort (values, compare_doubles);
  if ((double) rank < exact)
    rank++;   /* the ceiling, without libm */
  rank = CLAMP (rank, 1, values->len);
  return g_array_index (values, double, rank - 1);
}

static double
elapsed_ms (gint64 start_us)
{
  return (double) (g_get_monotonic_time () - start_us) / 1000.0;
}

/* Runs the thread-default context until *done or the timeout; FALSE on
 * timeout. */
static gboolean
run_until (gboolean *done,
           guint     timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  GMainContext *context = g_main_context_get_thread_default ();

  while (!*done)
    {
      if (g_get_monotonic_time () > deadline)
        return FALSE;
      g_main_context_iteration (context, FALSE) || (g_usleep (200), TRUE);
    }
  return TRUE;
}

/* Runs the context for `ms` milliseconds whatever happens. */
static void
run_for (guint ms)
{
  gboolean never = FALSE;

  run_until (&never, ms);
}

typedef struct
{
  GAsyncResult *result;
  gboolean      done;
} Wait;

static void
wait_done (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Wait *wait = user_data;

  wait->result = g_object_ref (result);
  wait->done = TRUE;
}

static void
wait_clear (Wait *wait)
{
  g_clear_object (&wait->result);
  wait->done = FALSE;
}

static gboolean
wait_for (Wait    *wait,
          GError **error)
{
  if (!run_until (&wait->done, STEP_TIMEOUT_MS))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "a step did not complete in 60 s");
      return FALSE;
    }
  return TRUE;
}

static UsiSession *
new_session (const char *name,
             GError    **error)
{
  g_autoptr(UsiStore) store = usi_store_new_keep_nothing ();
  Wait wait = { 0 };
  UsiSession *session;

  usi_session_new_async (store, name, NULL, wait_done, &wait);
  if (!wait_for (&wait, error))
    return NULL;
  session = usi_session_new_finish (wait.result, error);
  wait_clear (&wait);
  return session;
}

static UsiRoom *
host_room (UsiSession          *session,
           const UsiHostOptions *options,
           GError             **error)
{
  Wait wait = { 0 };
  UsiRoom *room;

  usi_session_host_async (session, options, NULL, wait_done, &wait);
  if (!wait_for (&wait, error))
    return NULL;
  room = usi_session_host_finish (session, wait.result, error);
  wait_clear (&wait);
  return room;
}

static char *
create_invite (UsiRoom *room,
               GError **error)
{
  Wait wait = { 0 };
  char *text;

  usi_room_create_invite_async (room, 0, NULL, wait_done, &wait);
  if (!wait_for (&wait, error))
    return NULL;
  text = usi_room_create_invite_finish (room, wait.result, error);
  wait_clear (&wait);
  return text;
}

/* Joins with `invite`; *join_ms is the time from the call to the room being
 * joined. */
static UsiRoom *
join_room (UsiSession *session,
           const char *invite,
           double     *join_ms,
           GError    **error)
{
  Wait wait = { 0 };
  UsiRoom *room;
  gint64 start = g_get_monotonic_time ();

  usi_session_join_async (session, invite, NULL, NULL, wait_done, &wait);
  if (!wait_for (&wait, error))
    return NULL;
  room = usi_session_join_finish (session, wait.result, error);
  if (join_ms != NULL)
    *join_ms = elapsed_ms (start);
  wait_clear (&wait);
  return room;
}

/* ---------------------------------------------------------------- links */

static void
link_state_changed (GObject    *object,
                    GParamSpec *pspec,
                    gpointer    user_data)
{
  guint *n_connected = user_data;

  if (usi_relay_link_get_state (USI_RELAY_LINK (object)) == USI_RELAY_LINK_CONNECTED)
    (*n_connected)++;
}

/* TCP + TLS + Hello to `address`: how long a link takes to reach CONNECTED. */
static double
measure_link_connect_ms (const char   *address,
                         const guint8 *pin,
                         GError      **error)
{
  g_autoptr(UsiIdentity) identity = usi_identity_generate (usi_random_get_system (), error);
  g_autoptr(UsiRelayLink) link = NULL;
  guint n_connected = 0;
  gboolean done = FALSE;
  gint64 start;
  double ms;

  if (identity == NULL)
    return NAN;
  link = usi_relay_link_new (address, pin, identity, NULL);
  g_signal_connect (link, "notify::state", G_CALLBACK (link_state_changed), &n_connected);
  start = g_get_monotonic_time ();
  usi_relay_link_start (link);
  while (!done)
    {
      if (n_connected > 0)
        break;
      if (g_get_monotonic_time () - start > (gint64) STEP_TIMEOUT_MS * 1000)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "a link did not connect in 60 s");
          usi_relay_link_stop (link);
          return NAN;
        }
      g_main_context_iteration (g_main_context_get_thread_default (), TRUE);
    }
  ms = elapsed_ms (start);
  usi_relay_link_stop (link);
  return ms;
}

/* ------------------------------------------------------ relay processes */

typedef struct
{
  GSubprocess *process;
  char        *address;
  guint8       pin[32];
} RelayProcess;

static void
relay_process_stop (RelayProcess *relay)
{
  if (relay->process != NULL)
    {
      g_subprocess_send_signal (relay->process, SIGTERM);
      g_subprocess_wait (relay->process, NULL, NULL);
    }
  g_clear_object (&relay->process);
  g_clear_pointer (&relay->address, g_free);
}

static char *
read_tagged_line (GDataInputStream *in,
                  const char       *tag,
                  GError          **error)
{
  g_autofree char *line = g_data_input_stream_read_line (in, NULL, NULL, error);

  if (line == NULL)
    {
      if (error != NULL && *error == NULL)
        g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "usi-relay exited before printing “%s”", tag);
      return NULL;
    }
  if (!g_str_has_prefix (line, tag))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "usi-relay printed “%s”, not “%s…”", line, tag);
      return NULL;
    }
  return g_strdup (line + strlen (tag));
}

/* The real usi-relay binary, ephemeral, on a free loopback port. */
static gboolean
relay_process_start (RelayProcess *relay,
                     GError      **error)
{
  g_autofree char *path = g_build_filename (USI_BUILD_ROOT, "src", "relay", "usi-relay", NULL);
  g_autoptr(GDataInputStream) in = NULL;
  g_autofree char *pin_hex = NULL;

  relay->process = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE, error,
                                     path, "--listen", "127.0.0.1:0", "--ephemeral",
                                     "--idle-timeout", "0", NULL);
  if (relay->process == NULL)
    return FALSE;
  in = g_data_input_stream_new (g_subprocess_get_stdout_pipe (relay->process));
  relay->address = read_tagged_line (in, "listening: ", error);
  if (relay->address == NULL)
    return FALSE;
  pin_hex = read_tagged_line (in, "pin: ", error);
  if (pin_hex == NULL || !usi_tls_pin_parse_hex (pin_hex, relay->pin, error))
    return FALSE;
  return TRUE;
}

/* VmHWM (peak resident set) of a process, in MiB; NAN if unreadable. */
static double
process_peak_rss_mib (GSubprocess *process)
{
  g_autofree char *path = g_strdup_printf ("/proc/%s/status", g_subprocess_get_identifier (process));
  g_autofree char *contents = NULL;
  const char *line;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return NAN;
  line = strstr (contents, "VmHWM:");
  if (line == NULL)
    return NAN;
  return g_ascii_strtod (line + strlen ("VmHWM:"), NULL) / 1024.0;
}

/* ------------------------------------------------------------ TCP anchor */

static gpointer
echo_thread (gpointer data)
{
  g_autoptr(GSocket) listener = data;
  g_autoptr(GSocket) peer = g_socket_accept (listener, NULL, NULL);
  char buffer[4096];
  gssize n;

  if (peer == NULL)
    return NULL;
  g_socket_set_option (peer, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
  while ((n = g_socket_receive (peer, buffer, sizeof buffer, NULL, NULL)) > 0)
    if (g_socket_send (peer, buffer, n, NULL, NULL) != n)
      break;
  return NULL;
}

/* Median round trip of 100 bytes over a plain loopback TCP connection
 * (blocking GSockets, an echo thread, TCP_NODELAY), in ms. */
static double
measure_tcp_round_trip_ms (double *p99)
{
  g_autoptr(GSocket) listener = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autoptr(GSocket) client = NULL;
  g_autoptr(GArray) rtts = g_array_new (FALSE, FALSE, sizeof (double));
  GThread *thread;
  char payload[TEXT_LENGTH];
  char buffer[TEXT_LENGTH];
  double p50;

  memset (payload, 'x', sizeof payload);
  if (listener == NULL || !g_socket_bind (listener, any, TRUE, NULL) || !g_socket_listen (listener, NULL))
    return NAN;
  bound = g_socket_get_local_address (listener, NULL);
  thread = g_thread_new ("echo", echo_thread, g_object_ref (listener));
  client = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
  if (client == NULL || !g_socket_connect (client, bound, NULL, NULL))
    {
      g_socket_close (listener, NULL);
      g_thread_join (thread);
      return NAN;
    }
  g_socket_set_option (client, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
  for (guint i = 0; i < 2000; i++)
    {
      gint64 start = g_get_monotonic_time ();
      gsize got = 0;
      double ms;

      if (g_socket_send (client, payload, sizeof payload, NULL, NULL) != sizeof payload)
        break;
      while (got < sizeof buffer)
        {
          gssize n = g_socket_receive (client, buffer + got, sizeof buffer - got, NULL, NULL);

          if (n <= 0)
            break;
          got += n;
        }
      if (got < sizeof buffer)
        break;
      ms = elapsed_ms (start);
      if (i >= 100)   /* warm-up */
        g_array_append_val (rtts, ms);
    }
  g_socket_close (client, NULL);
  g_thread_join (thread);
  p50 = percentile (rtts, 50);
  if (p99 != NULL)
    *p99 = percentile (rtts, 99);
  return p50;
}

/* ------------------------------------------------------------------ join */

static void
bench_join (void)
{
  static const Figure figures[] = {
    { "join", "median", "join with an invite, owner online (median of 30)", NAN, "ms",
      "TCP+TLS connect and Hello", NAN, 50, "≤ 50 ms", TRUE, 1 },
  };
  Figure figure = figures[0];
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiSession) owner = NULL;
  g_autoptr(UsiRoom) room = NULL;
  g_autoptr(GArray) connect_ms = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) join_ms = g_array_new (FALSE, FALSE, sizeof (double));
  UsiHostOptions options = { .room_name = "Bench", .listen_address = "127.0.0.1:0" };
  guint8 pin[32];

  owner = new_session ("Owner", &error);
  if (owner != NULL)
    room = host_room (owner, &options, &error);
  if (room == NULL)
    {
      report_failed (figures, 1, error->message);
      return;
    }
  if (!usi_tls_pin_parse_hex (usi_session_get_relay_pin (owner), pin, &error))
    {
      report_failed (figures, 1, error->message);
      usi_session_shutdown (owner);
      return;
    }

  for (guint i = 0; i < JOIN_COUNT; i++)
    {
      double ms = measure_link_connect_ms (usi_session_get_relay_listen_address (owner), pin, &error);

      if (isnan (ms))
        break;
      g_array_append_val (connect_ms, ms);
    }
  g_clear_error (&error);

  for (guint i = 0; i < JOIN_COUNT; i++)
    {
      g_autofree char *name = g_strdup_printf ("Joiner %u", i);
      g_autofree char *invite = create_invite (room, &error);
      g_autoptr(UsiSession) joiner = NULL;
      g_autoptr(UsiRoom) joined = NULL;
      double ms;

      if (invite == NULL)
        break;
      joiner = new_session (name, &error);
      if (joiner == NULL)
        break;
      joined = join_room (joiner, invite, &ms, &error);
      if (joined == NULL)
        break;
      g_array_append_val (join_ms, ms);
      /* Each joiner would be on a machine of its own: it leaves the process
       * (not the room) so that its work on later joins is not counted. */
      usi_session_shutdown (joiner);
    }

  figure.anchor_value = percentile (connect_ms, 50);
  if (join_ms->len < JOIN_COUNT)
    {
      g_autofree char *reason = g_strdup_printf ("join %u failed: %s", join_ms->len + 1,
                                                 error != NULL ? error->message : "?");
      report_failed (&figure, 1, reason);
    }
  else
    {
      figure.value = percentile (join_ms, 50);
      report (&figure);
    }

  usi_session_shutdown (owner);
}

/* ------------------------------------------------------------------ chat */

typedef struct
{
  GArray   *sent_us;      /* gint64 per message id */
  GArray   *latency_ms;   /* double per receipt */
  guint     received;
  guint     bad;          /* receipts whose text was not ours */
  guint     send_failed;
  guint     sent;
  GPtrArray *rooms;       /* UsiRoom, the senders in turn */
  guint     rate;
  guint     total;
  gint64    start_us;
  gboolean  sending_done;
} Chat;

static void
chat_message_received (UsiRoom    *room,
                       UsiMessage *message,
                       gpointer    user_data)
{
  Chat *chat = user_data;
  const char *text = usi_message_get_text (message);
  char digits[9] = { 0 };
  guint64 id;
  double ms;

  if (text != NULL)
    g_strlcpy (digits, text, sizeof digits);
  if (text == NULL || !g_ascii_string_to_unsigned (digits, 10, 0, G_MAXUINT, &id, NULL))
    {
      chat->bad++;
      return;
    }
  if (id >= chat->sent_us->len)
    {
      chat->bad++;
      return;
    }
  ms = (double) (g_get_monotonic_time () - g_array_index (chat->sent_us, gint64, id)) / 1000.0;
  g_array_append_val (chat->latency_ms, ms);
  chat->received++;
}

static void
chat_sent (GObject      *source,
           GAsyncResult *result,
           gpointer      user_data)
{
  Chat *chat = user_data;

  if (!usi_room_send_text_finish (USI_ROOM (source), result, NULL))
    chat->send_failed++;
}

static gboolean
chat_tick (gpointer user_data)
{
  Chat *chat = user_data;
  guint due = (guint) MIN ((double) chat->total,
                           (double) (g_get_monotonic_time () - chat->start_us) * chat->rate / G_USEC_PER_SEC + 1);

  while (chat->sent < due)
    {
      char text[TEXT_LENGTH + 1];
      UsiRoom *room = g_ptr_array_index (chat->rooms, chat->sent % chat->rooms->len);
      gint64 now = g_get_monotonic_time ();

      g_snprintf (text, sizeof text, "%08u", chat->sent);
      memset (text + 8, 'x', TEXT_LENGTH - 8);
      text[TEXT_LENGTH] = '\0';
      g_array_append_val (chat->sent_us, now);
      chat->sent++;
      usi_room_send_text_async (room, text, NULL, chat_sent, chat);
    }
  if (chat->sent >= chat->total)
    {
      chat->sending_done = TRUE;
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

/* Sends `rate` messages per second for `seconds` from the rooms in turn and
 * waits for every other member to receive each. */
static void
chat_run (Chat      *chat,
          GPtrArray *rooms,
          guint      rate,
          guint      seconds)
{
  guint expected;
  gint64 drain_start;
  gulong *handlers = g_new0 (gulong, rooms->len);

  chat->sent_us = g_array_new (FALSE, FALSE, sizeof (gint64));
  chat->latency_ms = g_array_new (FALSE, FALSE, sizeof (double));
  chat->rooms = rooms;
  chat->rate = rate;
  chat->total = rate * seconds;
  for (guint i = 0; i < rooms->len; i++)
    handlers[i] = g_signal_connect (g_ptr_array_index (rooms, i), "message-received",
                                    G_CALLBACK (chat_message_received), chat);

  chat->start_us = g_get_monotonic_time ();
  g_timeout_add (2, chat_tick, chat);
  run_until (&chat->sending_done, (seconds + 30) * 1000);

  expected = chat->total * (rooms->len - 1);
  drain_start = g_get_monotonic_time ();
  while (chat->received < expected && g_get_monotonic_time () - drain_start < 10 * G_USEC_PER_SEC)
    run_for (10);

  for (guint i = 0; i < rooms->len; i++)
    g_signal_handler_disconnect (g_ptr_array_index (rooms, i), handlers[i]);
  g_free (handlers);
}

static void
chat_clear (Chat *chat)
{
  g_clear_pointer (&chat->sent_us, g_array_unref);
  g_clear_pointer (&chat->latency_ms, g_array_unref);
}

/* An owned room of `n` members (sessions); rooms[0] is the owner's. */
static gboolean
build_room (const UsiHostOptions *options,
            guint                 n,
            GPtrArray            *sessions,
            GPtrArray            *rooms,
            GError              **error)
{
  UsiSession *owner = new_session ("Owner", error);
  UsiRoom *room;

  if (owner == NULL)
    return FALSE;
  g_ptr_array_add (sessions, owner);
  room = host_room (owner, options, error);
  if (room == NULL)
    return FALSE;
  g_ptr_array_add (rooms, room);

  for (guint i = 1; i < n; i++)
    {
      g_autofree char *name = g_strdup_printf ("Member %u", i);
      g_autofree char *invite = create_invite (room, error);
      UsiSession *member;
      UsiRoom *joined;

      if (invite == NULL)
        return FALSE;
      member = new_session (name, error);
      if (member == NULL)
        return FALSE;
      g_ptr_array_add (sessions, member);
      joined = join_room (member, invite, NULL, error);
      if (joined == NULL)
        return FALSE;
      g_ptr_array_add (rooms, joined);
    }
  /* Let every member see every join before anyone speaks. */
  run_for (500);
  return TRUE;
}

static void
shutdown_sessions (GPtrArray *sessions)
{
  for (guint i = 0; i < sessions->len; i++)
    usi_session_shutdown (g_ptr_array_index (sessions, i));
}

static void
bench_chat (void)
{
  static const Figure figures[] = {
    { "chat-10", "p50", "10 members, 100 msg/s, end-to-end latency p50", NAN, "ms",
      "loopback TCP round trip p50", NAN, 2, "≤ 2 ms", TRUE, 3 },
    { "chat-10", "p99", "10 members, 100 msg/s, end-to-end latency p99", NAN, "ms",
      "loopback TCP round trip p99", NAN, 10, "≤ 10 ms", TRUE, 3 },
    { "chat-10", "lost", "10 members, 100 msg/s, receipts lost", NAN, "messages",
      "receipts expected", NAN, 0, "0", TRUE, 1 },
  };
  Figure result[3] = { figures[0], figures[1], figures[2] };
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) sessions = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) rooms = g_ptr_array_new_with_free_func (g_object_unref);
  UsiHostOptions options = { .room_name = "Bench", .listen_address = "127.0.0.1:0" };
  Chat chat = { 0 };
  guint expected;

  result[0].anchor_value = measure_tcp_round_trip_ms (&result[1].anchor_value);
  if (!build_room (&options, CHAT_MEMBERS, sessions, rooms, &error))
    {
      report_failed (result, 3, error->message);
      shutdown_sessions (sessions);
      return;
    }

  chat_run (&chat, rooms, CHAT_RATE, CHAT_SECONDS);
  expected = chat.total * (CHAT_MEMBERS - 1);
  result[2].anchor_value = expected;
  if (chat.bad > 0 || chat.send_failed > 0)
    g_printerr ("usi-bench-net: chat-10: %u sends failed, %u foreign receipts\n", chat.send_failed, chat.bad);
  result[0].value = percentile (chat.latency_ms, 50);
  result[1].value = percentile (chat.latency_ms, 99);
  result[2].value = (double) (expected - MIN (expected, chat.received));
  for (guint i = 0; i < 3; i++)
    report (&result[i]);
  chat_clear (&chat);
  shutdown_sessions (sessions);
}

/* ---------------------------------------------------------------- fan-out */

typedef struct
{
  const char   *address;
  const guint8 *pin;
  const guint8 *room_id;
  guint         n_links;
  gint          ready;        /* atomic: subscribed links */
  gint          failed;       /* atomic */
  gint          stop;         /* atomic */
  GMutex        lock;
  gint64        deliveries;   /* under lock */
  gint64        last_us;      /* under lock: the last delivery */
} Fanout;

typedef struct
{
  Fanout *fanout;
  guint   first;
  guint   count;
} FanoutThread;

static void
fanout_deliver (UsiRelayLink *link,
                GBytes       *room_id,
                guint64       seq,
                guint         frame_type,
                GBytes       *frame,
                gpointer      user_data)
{
  Fanout *fanout = user_data;
  gint64 now = g_get_monotonic_time ();

  if (frame_type != USI_FRAME_APP_MESSAGE)
    return;
  g_mutex_lock (&fanout->lock);
  fanout->deliveries++;
  fanout->last_us = now;
  g_mutex_unlock (&fanout->lock);
}

static void
fanout_subscribed (UsiRelayLink *link,
                   GBytes       *room_id,
                   guint64       latest_seq,
                   gpointer      user_data)
{
  Fanout *fanout = user_data;

  g_atomic_int_inc (&fanout->ready);
}

static void
fanout_refused (UsiRelayLink *link,
                GBytes       *room_id,
                GError       *error,
                gpointer      user_data)
{
  Fanout *fanout = user_data;

  g_printerr ("usi-bench-net: fanout-50: a subscription was refused: %s\n", error->message);
  g_atomic_int_inc (&fanout->failed);
}

static void
fanout_opened (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  Fanout *fanout = user_data;
  g_autoptr(GError) error = NULL;

  if (!usi_relay_link_request_finish (USI_RELAY_LINK (source), result, NULL, NULL, &error))
    {
      g_printerr ("usi-bench-net: fanout-50: opening the room failed: %s\n", error->message);
      g_atomic_int_inc (&fanout->failed);
      return;
    }
  usi_relay_link_subscribe (USI_RELAY_LINK (source), fanout->room_id, 0);
}

static gpointer
fanout_thread (gpointer data)
{
  FanoutThread *thread = data;
  Fanout *fanout = thread->fanout;
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(GPtrArray) identities = g_ptr_array_new_with_free_func ((GDestroyNotify) usi_identity_free);
  g_autoptr(GPtrArray) links = g_ptr_array_new_with_free_func (g_object_unref);

  g_main_context_push_thread_default (context);
  for (guint i = 0; i < thread->count; i++)
    {
      UsiIdentity *identity = usi_identity_generate (usi_random_get_system (), NULL);
      UsiRelayLink *link;

      g_ptr_array_add (identities, identity);
      link = usi_relay_link_new (fanout->address, fanout->pin, identity, NULL);
      g_ptr_array_add (links, link);
      g_signal_connect (link, "deliver", G_CALLBACK (fanout_deliver), fanout);
      g_signal_connect (link, "subscribed", G_CALLBACK (fanout_subscribed), fanout);
      g_signal_connect (link, "subscription-refused", G_CALLBACK (fanout_refused), fanout);
      usi_relay_link_start (link);
      usi_relay_link_open_preshared_room_async (link, fanout->room_id, NULL, fanout_opened, fanout);
    }
  while (!g_atomic_int_get (&fanout->stop))
    g_main_context_iteration (context, FALSE) || (g_usleep (100), TRUE);
  for (guint i = 0; i < links->len; i++)
    usi_relay_link_stop (g_ptr_array_index (links, i));
  while (g_main_context_iteration (context, FALSE))
    ;
  g_clear_pointer (&links, g_ptr_array_unref);
  g_main_context_pop_thread_default (context);
  return NULL;
}

typedef struct
{
  guint posted;
  guint acked;
  guint failed;
} Sender;

static void
fanout_posted (GObject      *source,
               GAsyncResult *result,
               gpointer      user_data)
{
  Sender *sender = user_data;

  if (usi_relay_link_request_finish (USI_RELAY_LINK (source), result, NULL, NULL, NULL))
    sender->acked++;
  else
    sender->failed++;
}

/* Usi's fan-out, deliveries per second, against the real relay. */
static double
measure_usi_fanout (GError **error)
{
  RelayProcess relay = { 0 };
  Fanout fanout = { 0 };
  FanoutThread threads[FANOUT_THREADS];
  GThread *handles[FANOUT_THREADS];
  g_autoptr(GPtrArray) frames = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr(UsiIdentity) identity = NULL;
  g_autoptr(UsiRelayLink) link = NULL;
  g_autoptr(UsiPresharedRoom) room = NULL;
  g_autoptr(GBytes) key = NULL;
  g_auto(UsiLeafSecret) leaf = { 0 };
  guint8 key_bytes[32];
  guint8 room_id[16];
  guint8 body[TEXT_LENGTH];
  Sender sender = { 0 };
  Wait wait = { 0 };
  guint total = FANOUT_POST_RATE * FANOUT_SECONDS;
  gint64 start, last_growth;
  gint64 seen = -1;
  double rate = NAN;

  /* The room and its frames, sealed before anything is timed. */
  if (!usi_random_fill (usi_random_get_system (), key_bytes, sizeof key_bytes, error))
    return NAN;
  key = g_bytes_new (key_bytes, sizeof key_bytes);
  identity = usi_identity_generate (usi_random_get_system (), error);
  if (identity == NULL ||
      !usi_preshared_key_derive_room_id (key, room_id, error) ||
      !usi_leaf_secret_generate (usi_random_get_system (), identity, 0, g_get_real_time () / 1000, &leaf, error))
    return NAN;
  room = usi_preshared_room_new (key, &leaf.node, "Sender", error);
  if (room == NULL)
    return NAN;
  memset (body, 'x', sizeof body);
  for (guint i = 0; i < total; i++)
    {
      g_autoptr(GBytes) sealed = usi_preshared_room_seal (room, identity, USI_CONTENT_TYPE_TEXT, body, sizeof body,
                                                          g_get_real_time () / 1000, usi_random_get_system (), error);
      GBytes *frame;

      if (sealed == NULL)
        return NAN;
      frame = usi_frame_encode (USI_FRAME_APP_MESSAGE, g_bytes_get_data (sealed, NULL), g_bytes_get_size (sealed), error);
      if (frame == NULL)
        return NAN;
      g_ptr_array_add (frames, frame);
    }

  if (!relay_process_start (&relay, error))
    {
      relay_process_stop (&relay);
      return NAN;
    }

  link = usi_relay_link_new (relay.address, relay.pin, identity, NULL);
  usi_relay_link_start (link);
  usi_relay_link_open_preshared_room_async (link, room_id, NULL, wait_done, &wait);
  if (!wait_for (&wait, error) ||
      !usi_relay_link_request_finish (link, wait.result, NULL, NULL, error))
    goto out;
  wait_clear (&wait);

  fanout.address = relay.address;
  fanout.pin = relay.pin;
  fanout.room_id = room_id;
  g_mutex_init (&fanout.lock);
  for (guint t = 0; t < FANOUT_THREADS; t++)
    {
      threads[t].fanout = &fanout;
      threads[t].first = t * FANOUT_RECEIVERS / FANOUT_THREADS;
      threads[t].count = (t + 1) * FANOUT_RECEIVERS / FANOUT_THREADS - threads[t].first;
      handles[t] = g_thread_new ("fanout", fanout_thread, &threads[t]);
    }
  start = g_get_monotonic_time ();
  while (g_atomic_int_get (&fanout.ready) + g_atomic_int_get (&fanout.failed) < FANOUT_RECEIVERS &&
         g_get_monotonic_time () - start < (gint64) STEP_TIMEOUT_MS * 1000)
    run_for (10);

  if (g_atomic_int_get (&fanout.ready) == FANOUT_RECEIVERS)
    {
      /* Paced under the relay's per-connection rate limit, with at most
       * FANOUT_WINDOW posts unanswered. */
      start = g_get_monotonic_time ();
      while (sender.posted < total && sender.failed == 0)
        {
          guint due = (guint) MIN ((double) total,
                                   (double) (g_get_monotonic_time () - start) * FANOUT_POST_RATE / G_USEC_PER_SEC + 1);

          while (sender.posted < due && sender.posted - sender.acked - sender.failed < FANOUT_WINDOW)
            usi_relay_link_post_async (link, room_id, NULL, g_ptr_array_index (frames, sender.posted++),
                                       NULL, fanout_posted, &sender);
          g_main_context_iteration (NULL, FALSE) || (g_usleep (100), TRUE);
        }
      /* Until no delivery for a second. */
      last_growth = g_get_monotonic_time ();
      while (g_get_monotonic_time () - last_growth < G_USEC_PER_SEC)
        {
          gint64 now_seen;

          run_for (50);
          g_mutex_lock (&fanout.lock);
          now_seen = fanout.deliveries;
          g_mutex_unlock (&fanout.lock);
          if (now_seen != seen)
            {
              seen = now_seen;
              last_growth = g_get_monotonic_time ();
            }
        }
      g_mutex_lock (&fanout.lock);
      if (fanout.deliveries > 0 && fanout.last_us > start)
        rate = (double) fanout.deliveries / ((double) (fanout.last_us - start) / G_USEC_PER_SEC);
      if (fanout.deliveries < (gint64) total * FANOUT_RECEIVERS)
        g_printerr ("usi-bench-net: fanout-50: %" G_GINT64_FORMAT " of %u deliveries arrived (%u posts failed)\n",
                    fanout.deliveries, total * FANOUT_RECEIVERS, sender.failed);
      g_mutex_unlock (&fanout.lock);
    }
  else
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%d of %d receivers subscribed",
                 g_atomic_int_get (&fanout.ready), FANOUT_RECEIVERS);

  g_atomic_int_set (&fanout.stop, 1);
  for (guint t = 0; t < FANOUT_THREADS; t++)
    g_thread_join (handles[t]);
  g_mutex_clear (&fanout.lock);

out:
  wait_clear (&wait);
  if (link != NULL)
    usi_relay_link_stop (link);
  relay_process_stop (&relay);
  return rate;
}

static guint16
free_loopback_port (void)
{
  g_autoptr(GSocket) socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, NULL);
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;

  if (socket == NULL || !g_socket_bind (socket, any, TRUE, NULL))
    return 0;
  bound = g_socket_get_local_address (socket, NULL);
  return bound != NULL ? g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)) : 0;
}

static gboolean
port_accepts (guint16 port)
{
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GSocketConnection) connection = g_socket_client_connect_to_host (client, "127.0.0.1", port, NULL, NULL);

  return connection != NULL;
}

static gint64
total_file_size (GPtrArray *paths)
{
  gint64 total = 0;

  for (guint i = 0; i < paths->len; i++)
    {
      GStatBuf st;

      if (g_stat (g_ptr_array_index (paths, i), &st) == 0)
        total += st.st_size;
    }
  return total;
}

/* mosquitto's fan-out: 50 mosquitto_sub, one mosquitto_pub -l fed 100-byte
 * lines as fast as it takes them for FANOUT_SECONDS, QoS 0; deliveries per
 * second, counted as lines the subscribers wrote. */
static double
measure_mosquitto_fanout (GError **error)
{
  g_autofree char *dir = g_dir_make_tmp ("usi-bench-mqtt-XXXXXX", error);
  g_autofree char *config = NULL;
  g_autofree char *config_text = NULL;
  g_autofree char *port_text = NULL;
  g_autoptr(GSubprocess) broker = NULL;
  g_autoptr(GSubprocess) publisher = NULL;
  g_autoptr(GPtrArray) subscribers = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) outputs = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GString) chunk = g_string_new (NULL);
  GOutputStream *in;
  guint16 port = free_loopback_port ();
  gint64 start, last_growth, size, seen = -1, last_us = 0;
  double rate = NAN;

  if (dir == NULL)
    return NAN;
  if (port == 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED, "no free loopback port");
      return NAN;
    }
  port_text = g_strdup_printf ("%u", port);
  config = g_build_filename (dir, "mosquitto.conf", NULL);
  config_text = g_strdup_printf ("listener %u 127.0.0.1\nallow_anonymous true\n", port);
  if (!g_file_set_contents (config, config_text, -1, error))
    return NAN;
  broker = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE, error,
                             "mosquitto", "-c", config, NULL);
  if (broker == NULL)
    return NAN;
  start = g_get_monotonic_time ();
  while (!port_accepts (port))
    {
      if (g_get_monotonic_time () - start > 10 * G_USEC_PER_SEC)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "mosquitto did not start listening");
          goto out;
        }
      g_usleep (20000);
    }

  for (guint i = 0; i < FANOUT_RECEIVERS; i++)
    {
      g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_SILENCE);
      g_autofree char *name = g_strdup_printf ("sub-%u", i);
      char *path = g_build_filename (dir, name, NULL);
      GSubprocess *sub;

      g_ptr_array_add (outputs, path);
      g_subprocess_launcher_set_stdout_file_path (launcher, path);
      sub = g_subprocess_launcher_spawn (launcher, error, "mosquitto_sub", "-h", "127.0.0.1", "-p", port_text,
                                         "-t", "t", "-q", "0", NULL);
      if (sub == NULL)
        goto out;
      g_ptr_array_add (subscribers, sub);
    }
  /* Subscribing is one round trip each; a second is plenty. */
  g_usleep (G_USEC_PER_SEC);

  publisher = g_subprocess_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE, error,
                                "mosquitto_pub", "-h", "127.0.0.1", "-p", port_text, "-t", "t", "-q", "0", "-l", NULL);
  if (publisher == NULL)
    goto out;
  in = g_subprocess_get_stdin_pipe (publisher);
  for (guint i = 0; i < 64; i++)
    {
      for (guint j = 0; j < TEXT_LENGTH; j++)
        g_string_append_c (chunk, 'x');
      g_string_append_c (chunk, '\n');
    }
  start = g_get_monotonic_time ();
  while (g_get_monotonic_time () - start < FANOUT_SECONDS * G_USEC_PER_SEC)
    if (!g_output_stream_write_all (in, chunk->str, chunk->len, NULL, NULL, error))
      goto out;
  /* Not waiting for mosquitto_pub: it may still hold lines the broker has
   * not taken; what counts is what the subscribers receive. */
  g_output_stream_close (in, NULL, NULL);

  /* Until no delivery for a second, or at most MOSQUITTO_DRAIN_SECONDS
   * more: a saturated broker may take long to empty its queues, and the
   * figure is a rate. */
  last_growth = g_get_monotonic_time ();
  while (g_get_monotonic_time () - last_growth < G_USEC_PER_SEC &&
         g_get_monotonic_time () - start < (FANOUT_SECONDS + MOSQUITTO_DRAIN_SECONDS) * G_USEC_PER_SEC)
    {
      g_usleep (20000);
      size = total_file_size (outputs);
      if (size != seen)
        {
          seen = size;
          last_growth = last_us = g_get_monotonic_time ();
        }
    }
  if (seen > 0 && last_us > start)
    rate = (double) (seen / (TEXT_LENGTH + 1)) / ((double) (last_us - start) / G_USEC_PER_SEC);

out:
  for (guint i = 0; i < subscribers->len; i++)
    {
      g_subprocess_force_exit (g_ptr_array_index (subscribers, i));
      g_subprocess_wait (g_ptr_array_index (subscribers, i), NULL, NULL);
    }
  if (publisher != NULL)
    {
      g_subprocess_force_exit (publisher);
      g_subprocess_wait (publisher, NULL, NULL);
    }
  g_subprocess_send_signal (broker, SIGTERM);
  g_subprocess_wait (broker, NULL, NULL);
  for (guint i = 0; i < outputs->len; i++)
    g_unlink (g_ptr_array_index (outputs, i));
  g_unlink (config);
  g_rmdir (dir);
  return rate;
}

static void
bench_fanout (void)
{
  Figure figure = {
    "fanout-50", "deliveries", "1 sender, 50 receivers, 100-byte messages", NAN, "deliveries/s",
    "mosquitto, QoS 0, same load", NAN, NAN, "≥ mosquitto", FALSE, 0,
  };
  g_autoptr(GError) anchor_error = NULL;
  g_autoptr(GError) error = NULL;

  figure.anchor_value = measure_mosquitto_fanout (&anchor_error);
  if (anchor_error != NULL)
    g_printerr ("usi-bench-net: fanout-50: mosquitto: %s\n", anchor_error->message);
  figure.goal = figure.anchor_value;
  figure.decimals = 0;
  figure.value = measure_usi_fanout (&error);
  if (isnan (figure.value))
    report_failed (&figure, 1, error != NULL ? error->message : "no delivery arrived");
  else
    report (&figure);
}

/* ------------------------------------------------------------------ idle */

static void
raise_file_limit (void)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max)
    {
      limit.rlim_cur = limit.rlim_max;
      setrlimit (RLIMIT_NOFILE, &limit);
    }
}

static void
bench_idle (void)
{
  static const Figure figures[] = {
    { "idle-1000", "rss-peak", "relay peak RSS, 1,000 idle links + an active room", NAN, "MiB",
      "relay RSS before the idle links", NAN, 100, "≤ 100 MiB", TRUE, 1 },
    { "idle-1000", "p99", "active room among 1,000 idle links, latency p99", NAN, "ms",
      "loopback TCP round trip p99", NAN, 10, "≤ 10 ms", TRUE, 3 },
  };
  Figure result[2] = { figures[0], figures[1] };
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) identities = g_ptr_array_new_with_free_func ((GDestroyNotify) usi_identity_free);
  g_autoptr(GPtrArray) links = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) sessions = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) rooms = g_ptr_array_new_with_free_func (g_object_unref);
  g_autofree char *reason = NULL;
  RelayProcess relay = { 0 };
  UsiHostOptions options = { .room_name = "Bench" };
  Chat chat = { 0 };
  guint n_connected = 0;
  gint64 start;

  raise_file_limit ();
  if (!relay_process_start (&relay, &error))
    {
      report_failed (result, 2, error->message);
      relay_process_stop (&relay);
      return;
    }
  run_for (200);
  result[0].anchor_value = process_peak_rss_mib (relay.process);
  measure_tcp_round_trip_ms (&result[1].anchor_value);

  for (guint i = 0; i < IDLE_LINKS; i++)
    {
      UsiIdentity *identity = usi_identity_generate (usi_random_get_system (), &error);
      UsiRelayLink *link;

      if (identity == NULL)
        break;
      g_ptr_array_add (identities, identity);
      link = usi_relay_link_new (relay.address, relay.pin, identity, NULL);
      g_ptr_array_add (links, link);
      g_signal_connect (link, "notify::state", G_CALLBACK (link_state_changed), &n_connected);
      usi_relay_link_start (link);
    }
  start = g_get_monotonic_time ();
  while (n_connected < IDLE_LINKS && g_get_monotonic_time () - start < (gint64) STEP_TIMEOUT_MS * 1000)
    run_for (10);
  if (n_connected < IDLE_LINKS)
    {
      reason = g_strdup_printf ("%u of %u links connected", n_connected, IDLE_LINKS);
      goto out;
    }

  options.relay_address = relay.address;
  options.relay_pin = relay.pin;
  if (!build_room (&options, 2, sessions, rooms, &error))
    {
      reason = g_strdup (error->message);
      goto out;
    }
  chat_run (&chat, rooms, IDLE_CHAT_RATE, IDLE_CHAT_SECONDS);
  if (chat.received < chat.total)
    g_printerr ("usi-bench-net: idle-1000: %u of %u messages arrived\n", chat.received, chat.total);
  result[1].value = percentile (chat.latency_ms, 99);
  result[0].value = process_peak_rss_mib (relay.process);
  chat_clear (&chat);

out:
  if (reason != NULL)
    report_failed (result, 2, reason);
  else
    for (guint i = 0; i < 2; i++)
      report (&result[i]);
  shutdown_sessions (sessions);
  for (guint i = 0; i < links->len; i++)
    usi_relay_link_stop (g_ptr_array_index (links, i));
  g_ptr_array_set_size (links, 0);
  run_for (100);
  relay_process_stop (&relay);
}

int
main (int    argc,
      char **argv)
{
  const char *group = NULL;

  signal (SIGPIPE, SIG_IGN);
  for (int i = 1; i < argc; i++)
    {
      if (g_str_equal (argv[i], "--json"))
        json_output = TRUE;
      else if (argv[i][0] != '-' && group == NULL)
        group = argv[i];
      else
        {
          g_printerr ("usage: usi-bench-net [net|join|chat-10|fanout-50|idle-1000] [--json]\n");
          return 2;
        }
    }
  if (group == NULL)
    group = "net";

  if (g_str_equal (group, "net"))
    {
      bench_join ();
      bench_chat ();
      bench_fanout ();
      bench_idle ();
    }
  else if (g_str_equal (group, "join"))
    bench_join ();
  else if (g_str_equal (group, "chat-10"))
    bench_chat ();
  else if (g_str_equal (group, "fanout-50"))
    bench_fanout ();
  else if (g_str_equal (group, "idle-1000"))
    bench_idle ();
  else
    {
      g_printerr ("usi-bench-net: unknown group “%s” (net, join, chat-10, fanout-50, idle-1000)\n", group);
      return 2;
    }
  return 0;
}
