/* SPDX-License-Identifier: GPL-3.0-or-later */

/* A client's link to its relay (docs/protocol.md §11.3, §11.5, §11.6).
 *
 * It owns at most one UsiConnection at a time and makes a new one whenever
 * the last is lost, with exponential backoff and jitter.  What the session
 * asked for survives reconnects: each subscription (with the sequence
 * number of the last frame delivered) and each request not yet answered,
 * resent byte for byte, same request id, so the relay recognises a resend
 * and nothing is lost or stored twice.
 *
 * This must never: send a request before the relay accepted our Hello,
 * deliver a frame of a room twice (a resubscribe may replay the tail), or
 * give up on a request because a connection was lost. */

#define G_LOG_DOMAIN "usi-net"

#include "config.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <string.h>

#include <glib/gi18n-lib.h>

#include "crypto/usi-random.h"
#include "crypto/usi-secret.h"
#include "protocol/usi-relay-frame.h"

#include "usi-deadline.h"
#include "usi-net-error.h"
#include "usi-relay-link.h"

#define CONNECT_TIMEOUT_MS  10000
#define PING_INTERVAL_MS    20000
#define BACKOFF_BASE_MS     250
#define BACKOFF_MAX_MS      30000
/* Requests are written only while less than this is queued on the
 * connection, the rest when it drains: however many are pending (a file
 * of many chunks), a reconnect never trips the connection's byte limit. */
#define SEND_WATERMARK      (256 * 1024)

typedef struct
{
  GBytes   *room_id;      /* 16 bytes; also the key of `rooms` */
  guint64   position;     /* seq of the last frame delivered */
  gboolean  subscribed;   /* FALSE: a room we only got directed frames of */
} Room;

typedef struct
{
  GList         node;     /* in `requests`, node.data = this */
  guint64       request_id;
  GBytes       *frame;    /* sent as is, every time */
  GTask        *task;
  GSource      *cancel_source;
  UsiRelayLink *link;     /* borrowed: the task holds the link */
} Request;

typedef struct
{
  guint64 seq;
  guint8  flags;
} AckResult;

/* One attempt: lets a late callback tell it was superseded. */
typedef struct
{
  UsiRelayLink *link;
  GCancellable *cancellable;
} Attempt;

struct _UsiRelayLink
{
  GObject              parent_instance;

  GMainContext        *context;
  char                *address;
  gboolean             pinned;          /* FALSE: any relay key is accepted */
  guint8               pin[USI_TLS_PIN_LENGTH];
  gboolean             has_seen_pin;
  guint8               seen_pin[USI_TLS_PIN_LENGTH];   /* the relay's, at the last handshake */
  UsiIdentity         *identity;        /* borrowed */
  UsiConnectionLimits  limits;
  GSocketClient       *client;

  UsiRelayLinkState    state;
  GError              *last_error;
  guint                attempt;         /* failures since the last HelloOk */

  GCancellable        *attempt_cancellable;
  GSource             *attempt_timer;   /* TCP connect, then HelloOk */
  GSource             *retry_timer;
  GSource             *ping_timer;
  UsiConnection       *connection;
  gboolean             hello_ok;
  gboolean             suspended;       /* offline on purpose: no attempts until resumed */

  GHashTable          *rooms;           /* GBytes room id → Room */
  GHashTable          *subscribe_ids;   /* request id → GBytes room id, this connection's */
  GQueue               requests;        /* Request, in the order they were made */
  GList               *unsent;          /* the first not yet sent on this connection */
  GHashTable          *requests_by_id;  /* request id → Request */
  guint64              next_request_id;
};

enum {
  PROP_0,
  PROP_ADDRESS,
  PROP_STATE,
  N_PROPS
};

enum {
  DELIVER,
  SUBSCRIBED,
  SUBSCRIPTION_REFUSED,
  CONNECTION_LOST,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (UsiRelayLink, usi_relay_link, G_TYPE_OBJECT)

G_DEFINE_QUARK (usi-relay-refused-error-quark, usi_relay_refused_error)

GType
usi_relay_link_state_get_type (void)
{
  static gsize type_id;

  if (g_once_init_enter (&type_id))
    {
      static const GEnumValue values[] = {
        { USI_RELAY_LINK_STOPPED, "USI_RELAY_LINK_STOPPED", "stopped" },
        { USI_RELAY_LINK_CONNECTING, "USI_RELAY_LINK_CONNECTING", "connecting" },
        { USI_RELAY_LINK_CONNECTED, "USI_RELAY_LINK_CONNECTED", "connected" },
        { USI_RELAY_LINK_RECONNECTING, "USI_RELAY_LINK_RECONNECTING", "reconnecting" },
        { 0, NULL, NULL },
      };
      GType type = g_enum_register_static (g_intern_static_string ("UsiRelayLinkState"), values);

      g_once_init_leave (&type_id, type);
    }
  return type_id;
}

static void drop_connection (UsiRelayLink *self);
static void connection_lost (UsiRelayLink *self,
                             const GError *error);

/* Helpers */

static void
room_free (Room *room)
{
  g_bytes_unref (room->room_id);
  g_free (room);
}

static Room *
room_lookup_or_add (UsiRelayLink *self,
                    const guint8 *room_id)
{
  g_autoptr(GBytes) key = g_bytes_new (room_id, USI_RELAY_ID_LENGTH);
  Room *room = g_hash_table_lookup (self->rooms, key);

  if (room == NULL)
    {
      room = g_new0 (Room, 1);
      room->room_id = g_steal_pointer (&key);
      g_hash_table_insert (self->rooms, room->room_id, room);
    }
  return room;
}

static void
request_free (Request *request)
{
  _usi_clear_source (&request->cancel_source);
  g_clear_pointer (&request->frame, g_bytes_unref);
  g_clear_object (&request->task);
  g_free (request);
}

/* Takes the request out of the link; the caller completes its task. */
static void
request_detach (UsiRelayLink *self,
                Request      *request)
{
  if (self->unsent == &request->node)
    self->unsent = request->node.next;
  g_queue_unlink (&self->requests, &request->node);
  g_hash_table_remove (self->requests_by_id, &request->request_id);
  _usi_clear_source (&request->cancel_source);
}

static void
set_state (UsiRelayLink      *self,
           UsiRelayLinkState  state)
{
  if (self->state == state)
    return;
  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

static void
set_last_error (UsiRelayLink *self,
                const GError *error)
{
  g_clear_error (&self->last_error);
  self->last_error = g_error_copy (error);
}

static gboolean
ping_timeout_cb (gpointer user_data);

/* Sends on the current connection, if any.  A failure closes the
 * connection, and ::closed has then already reported it: after this call
 * self->connection may be NULL. */
static void
send_frame (UsiRelayLink *self,
            GBytes       *frame)
{
  if (self->connection == NULL)
    return;
  if (self->ping_timer != NULL)
    g_source_set_ready_time (self->ping_timer, g_get_monotonic_time () + (gint64) PING_INTERVAL_MS * 1000);
  usi_connection_send (self->connection, frame, NULL);
}

static gboolean
ping_timeout_cb (gpointer user_data)
{
  UsiRelayLink *self = user_data;
  g_autoptr(GBytes) ping = NULL;
  guint64 nonce = ((guint64) g_random_int () << 32) | g_random_int ();

  ping = usi_relay_frame_new_ping (nonce);
  send_frame (self, ping);
  return G_SOURCE_CONTINUE;
}

static void
flush_requests (UsiRelayLink *self)
{
  while (self->hello_ok && self->connection != NULL && self->unsent != NULL &&
         usi_connection_get_queued_bytes (self->connection) < SEND_WATERMARK)
    {
      Request *request = self->unsent->data;

      self->unsent = self->unsent->next;
      send_frame (self, request->frame);
    }
}

static void
send_subscribe (UsiRelayLink *self,
                Room         *room)
{
  g_autoptr(GBytes) frame = NULL;
  guint64 request_id = self->next_request_id++;

  frame = usi_relay_frame_new_subscribe (request_id,
                                         g_bytes_get_data (room->room_id, NULL),
                                         room->position);
  g_hash_table_insert (self->subscribe_ids, g_memdup2 (&request_id, sizeof request_id),
                       g_bytes_ref (room->room_id));
  send_frame (self, frame);
}

/* Requests */

static gboolean
request_cancelled_cb (GCancellable *cancellable,
                      gpointer      user_data)
{
  Request *request = user_data;
  UsiRelayLink *self = request->link;
  g_autoptr(GTask) task = g_steal_pointer (&request->task);

  request_detach (self, request);
  request_free (request);
  g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                           "%s", _("The request was cancelled."));
  return G_SOURCE_REMOVE;
}

/* `frame` NULL: `encode_error` says why it could not be made. */
static void
request_start (UsiRelayLink        *self,
               guint64              request_id,
               GBytes              *frame,
               GError              *encode_error,
               GCancellable        *cancellable,
               GAsyncReadyCallback  callback,
               gpointer             user_data,
               gpointer             source_tag)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  Request *request;

  g_task_set_source_tag (task, source_tag);
  if (frame == NULL)
    {
      g_task_return_error (task, encode_error);
      return;
    }
  if (g_task_return_error_if_cancelled (task))
    return;
  if (self->state == USI_RELAY_LINK_STOPPED)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                               "%s", _("The link to the relay is stopped."));
      return;
    }

  request = g_new0 (Request, 1);
  request->node.data = request;
  request->request_id = request_id;
  request->frame = g_bytes_ref (frame);
  request->task = g_steal_pointer (&task);
  request->link = self;
  if (cancellable != NULL)
    {
      request->cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (request->cancel_source, G_SOURCE_FUNC (request_cancelled_cb), request, NULL);
      g_source_attach (request->cancel_source, self->context);
    }
  g_queue_push_tail_link (&self->requests, &request->node);
  g_hash_table_insert (self->requests_by_id, &request->request_id, request);
  if (self->unsent == NULL)
    self->unsent = &request->node;

  flush_requests (self);
}

static GError *
refused_error (const UsiRelayFrame *refused)
{
  /* The relay's text is for people and logs; it is shown as it came. */
  if (refused->message != NULL && *refused->message != '\0')
    return g_error_new_literal (USI_RELAY_REFUSED_ERROR, refused->code, refused->message);
  return g_error_new (USI_RELAY_REFUSED_ERROR, refused->code,
                      /* Translators: %s is a code such as NOT_MEMBER */
                      _("The relay refused the request (%s)."),
                      usi_relay_refused_code_to_string (refused->code));
}

static void
answer_request (UsiRelayLink        *self,
                const UsiRelayFrame *answer)
{
  Request *request = g_hash_table_lookup (self->requests_by_id, &answer->request_id);
  GBytes *room_id = g_hash_table_lookup (self->subscribe_ids, &answer->request_id);

  if (request != NULL)
    {
      g_autoptr(GTask) task = g_steal_pointer (&request->task);

      request_detach (self, request);
      request_free (request);
      if (answer->type == USI_RELAY_FRAME_ACK)
        {
          AckResult *result = g_new (AckResult, 1);

          result->seq = answer->seq;
          result->flags = answer->flags;
          g_task_return_pointer (task, result, g_free);
        }
      else
        g_task_return_error (task, refused_error (answer));
      return;
    }

  if (room_id != NULL)
    {
      g_autoptr(GBytes) room_key = g_bytes_ref (room_id);
      Room *room;

      g_hash_table_remove (self->subscribe_ids, &answer->request_id);
      room = g_hash_table_lookup (self->rooms, room_key);
      if (room == NULL || !room->subscribed)
        return;   /* unsubscribed meanwhile */

      if (answer->type == USI_RELAY_FRAME_ACK)
        g_signal_emit (self, signals[SUBSCRIBED], 0, room_key, answer->seq);
      else
        {
          g_autoptr(GError) error = refused_error (answer);

          g_hash_table_remove (self->rooms, room_key);
          g_signal_emit (self, signals[SUBSCRIPTION_REFUSED], 0, room_key, error);
        }
      return;
    }

  /* An answer to a request we forgot (cancelled): nothing to do. */
  g_debug ("answer to unknown request %" G_GUINT64_FORMAT, answer->request_id);
}

static void
handle_deliver (UsiRelayLink        *self,
                const UsiRelayFrame *deliver)
{
  g_autoptr(GBytes) room_id = NULL;
  Room *room = room_lookup_or_add (self, deliver->room_id);
  guint frame_type;

  /* A resubscribe replays from our position; the relay may also resend
   * what was in flight when a connection was lost. */
  if (deliver->seq <= room->position)
    return;

  room_id = g_bytes_ref (room->room_id);
  frame_type = ((const guint8 *) g_bytes_get_data (deliver->frame, NULL))[5];
  g_signal_emit (self, signals[DELIVER], 0, room_id, deliver->seq, frame_type, deliver->frame);

  /* The handler may have unsubscribed the room: look it up again. */
  room = g_hash_table_lookup (self->rooms, room_id);
  if (room != NULL && deliver->seq > room->position)
    room->position = deliver->seq;
}

static void
hello_accepted (UsiRelayLink *self)
{
  GHashTableIter iter;
  gpointer value;

  _usi_clear_source (&self->attempt_timer);
  self->hello_ok = TRUE;
  self->attempt = 0;
  self->ping_timer = _usi_deadline_new (self->context, PING_INTERVAL_MS, ping_timeout_cb, self);
  set_state (self, USI_RELAY_LINK_CONNECTED);
  g_debug ("connected to %s", self->address);

  /* Subscriptions first, so the rooms' frames follow our own requests'
   * answers in a predictable order; then every request not yet answered. */
  g_hash_table_iter_init (&iter, self->rooms);
  while (self->connection != NULL && g_hash_table_iter_next (&iter, NULL, &value))
    {
      Room *room = value;

      if (room->subscribed)
        send_subscribe (self, room);
    }
  self->unsent = self->requests.head;
  flush_requests (self);
}

static void
on_frame_received (UsiConnection *connection,
                   guint          type,
                   GBytes        *body,
                   UsiRelayLink  *self)
{
  g_autoptr(UsiRelayLink) hold = g_object_ref (self);
  g_auto(UsiRelayFrame) frame = { 0 };
  g_autoptr(GError) error = NULL;

  if (!usi_relay_frame_decode ((guint8) type, body, &frame, &error))
    {
      g_autoptr(GError) lost = NULL;

      /* Translators: %s says what is wrong with the frame */
      lost = g_error_new (USI_NET_ERROR, USI_NET_ERROR_FRAME,
                          _("The relay sent a frame that cannot be read: %s"), error->message);
      connection_lost (self, lost);
      return;
    }

  if (!self->hello_ok)
    {
      if (frame.type == USI_RELAY_FRAME_HELLO_OK)
        hello_accepted (self);
      else if (frame.type == USI_RELAY_FRAME_REFUSED)
        {
          g_autoptr(GError) lost = NULL;
          UsiNetError code = frame.code == USI_RELAY_REFUSED_FULL ? USI_NET_ERROR_FULL :
                             frame.code == USI_RELAY_REFUSED_BAD_HELLO ? USI_NET_ERROR_BAD_HELLO :
                             USI_NET_ERROR_REFUSED;

          /* Translators: %s is the relay's own explanation */
          lost = g_error_new (USI_NET_ERROR, code, _("The relay refused the connection: %s"),
                              frame.message != NULL && *frame.message != '\0' ? frame.message :
                              usi_relay_refused_code_to_string (frame.code));
          connection_lost (self, lost);
        }
      else if (frame.type == USI_RELAY_FRAME_PING)
        {
          g_autoptr(GBytes) pong = usi_relay_frame_new_pong (frame.nonce);

          send_frame (self, pong);
        }
      else
        {
          g_autoptr(GError) lost = NULL;

          lost = g_error_new_literal (USI_NET_ERROR, USI_NET_ERROR_BAD_HELLO,
                                      _("The relay did not answer the Hello."));
          connection_lost (self, lost);
        }
      return;
    }

  switch (frame.type)
    {
    case USI_RELAY_FRAME_ACK:
      answer_request (self, &frame);
      break;

    case USI_RELAY_FRAME_REFUSED:
      /* BAD_HELLO and FULL come with request id 0, then the relay closes. */
      if (frame.code == USI_RELAY_REFUSED_BAD_HELLO || frame.code == USI_RELAY_REFUSED_FULL)
        {
          g_autoptr(GError) lost = refused_error (&frame);

          connection_lost (self, lost);
        }
      else
        answer_request (self, &frame);
      break;

    case USI_RELAY_FRAME_DELIVER:
      handle_deliver (self, &frame);
      break;

    case USI_RELAY_FRAME_PING:
      {
        g_autoptr(GBytes) pong = usi_relay_frame_new_pong (frame.nonce);

        send_frame (self, pong);
      }
      break;

    case USI_RELAY_FRAME_PONG:
    case USI_RELAY_FRAME_HELLO_OK:
      break;

    case USI_RELAY_FRAME_HELLO:
    case USI_RELAY_FRAME_CREATE_ROOM:
    case USI_RELAY_FRAME_OPEN_PRESHARED_ROOM:
    case USI_RELAY_FRAME_SUBSCRIBE:
    case USI_RELAY_FRAME_REGISTER_INVITE:
    case USI_RELAY_FRAME_POST:
    default:
      {
        g_autoptr(GError) lost = NULL;

        lost = g_error_new_literal (USI_NET_ERROR, USI_NET_ERROR_FRAME,
                                    _("The relay sent a frame only a client may send."));
        connection_lost (self, lost);
      }
      break;
    }
}

static void
on_drained (UsiConnection *connection,
            UsiRelayLink  *self)
{
  g_autoptr(UsiRelayLink) hold = g_object_ref (self);

  flush_requests (self);
}

static void
on_closed (UsiConnection *connection,
           GError        *reason,
           UsiRelayLink  *self)
{
  g_autoptr(UsiRelayLink) hold = g_object_ref (self);

  connection_lost (self, reason);
}

/* Connecting */

static void
attempt_free (Attempt *attempt)
{
  g_clear_object (&attempt->link);
  g_clear_object (&attempt->cancellable);
  g_free (attempt);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Attempt, attempt_free)

static Attempt *
attempt_new (UsiRelayLink *self)
{
  Attempt *attempt = g_new0 (Attempt, 1);

  attempt->link = g_object_ref (self);
  attempt->cancellable = g_object_ref (self->attempt_cancellable);
  return attempt;
}

static gboolean
attempt_is_current (Attempt *attempt)
{
  return attempt->cancellable == attempt->link->attempt_cancellable &&
         !g_cancellable_is_cancelled (attempt->cancellable);
}

static void
send_hello (UsiRelayLink *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) hello = NULL;
  guint8 exporter[USI_RELAY_EXPORTER_LENGTH];
  guint8 tbs[USI_RELAY_EXPORTER_LENGTH + USI_TLS_PIN_LENGTH];
  guint8 signature[USI_RELAY_SIGNATURE_LENGTH];
  gboolean ok;

  ok = usi_connection_export_keying_material (self->connection, USI_RELAY_EXPORTER_LABEL,
                                              exporter, sizeof exporter, &error);
  if (ok)
    {
      usi_relay_hello_tbs (exporter, usi_connection_get_client_spki_hash (self->connection), tbs);
      ok = usi_identity_sign (self->identity, USI_RELAY_HELLO_LABEL, tbs, sizeof tbs, signature, &error);
    }
  usi_secret_wipe (exporter, sizeof exporter);
  usi_secret_wipe (tbs, sizeof tbs);
  if (!ok)
    {
      connection_lost (self, error);
      return;
    }

  hello = usi_relay_frame_new_hello (usi_identity_get_public_key (self->identity), signature);
  send_frame (self, hello);
}

static gboolean
hello_timeout_cb (gpointer user_data)
{
  UsiRelayLink *self = user_data;
  g_autoptr(UsiRelayLink) hold = g_object_ref (self);
  g_autoptr(GError) error = NULL;

  error = g_error_new_literal (USI_NET_ERROR, USI_NET_ERROR_HANDSHAKE_TIMEOUT,
                               _("The relay did not answer in time."));
  connection_lost (self, error);
  return G_SOURCE_CONTINUE;
}

static void
handshake_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(Attempt) attempt = user_data;
  UsiRelayLink *self = attempt->link;

  /* A failure was reported by ::closed already. */
  if (!usi_connection_handshake_finish (USI_CONNECTION (source), result, NULL) ||
      !attempt_is_current (attempt) || USI_CONNECTION (source) != self->connection)
    return;

  memcpy (self->seen_pin, usi_connection_get_peer_pin (self->connection), sizeof self->seen_pin);
  self->has_seen_pin = TRUE;
  self->attempt_timer = _usi_deadline_new (self->context, self->limits.handshake_timeout_ms, hello_timeout_cb, self);
  send_hello (self);
}

static void
connect_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  g_autoptr(Attempt) attempt = user_data;
  UsiRelayLink *self = attempt->link;
  g_autoptr(GSocketConnection) socket_connection = NULL;
  g_autoptr(GError) error = NULL;

  socket_connection = g_socket_client_connect_to_host_finish (G_SOCKET_CLIENT (source), result, &error);
  if (!attempt_is_current (attempt))
    {
      if (socket_connection != NULL)
        g_io_stream_close (G_IO_STREAM (socket_connection), NULL, NULL);
      return;
    }
  if (socket_connection == NULL)
    {
      connection_lost (self, error);
      return;
    }

  _usi_clear_source (&self->attempt_timer);
  /* Frames are small and latency matters: no Nagle delay. */
  g_socket_set_option (g_socket_connection_get_socket (socket_connection), IPPROTO_TCP, TCP_NODELAY, 1, NULL);
  self->connection = usi_connection_new_client (G_IO_STREAM (socket_connection),
                                                self->pinned ? self->pin : NULL, &self->limits);
  g_signal_connect (self->connection, "frame-received", G_CALLBACK (on_frame_received), self);
  g_signal_connect (self->connection, "closed", G_CALLBACK (on_closed), self);
  g_signal_connect (self->connection, "drained", G_CALLBACK (on_drained), self);
  usi_connection_handshake_async (self->connection, NULL, handshake_cb, attempt_new (self));
}

static gboolean
connect_timeout_cb (gpointer user_data)
{
  UsiRelayLink *self = user_data;
  g_autoptr(UsiRelayLink) hold = g_object_ref (self);
  g_autoptr(GError) error = NULL;

  /* Translators: %s is the relay's address */
  error = g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                       _("Connecting to %s took too long."), self->address);
  connection_lost (self, error);
  return G_SOURCE_CONTINUE;
}

static void
begin_attempt (UsiRelayLink *self)
{
  g_assert (self->connection == NULL);

  g_clear_object (&self->attempt_cancellable);
  self->attempt_cancellable = g_cancellable_new ();
  self->attempt_timer = _usi_deadline_new (self->context, CONNECT_TIMEOUT_MS, connect_timeout_cb, self);

  g_debug ("connecting to %s (attempt %u)", self->address, self->attempt);
  g_main_context_push_thread_default (self->context);
  g_socket_client_connect_to_host_async (self->client, self->address, 0,
                                         self->attempt_cancellable,
                                         connect_cb, attempt_new (self));
  g_main_context_pop_thread_default (self->context);
}

static gboolean
retry_cb (gpointer user_data)
{
  UsiRelayLink *self = user_data;

  _usi_clear_source (&self->retry_timer);
  begin_attempt (self);
  return G_SOURCE_REMOVE;
}

/* §11.6: 250 ms × 2^attempt, at most 30 s, times a factor in [0.5, 1.5). */
static guint
backoff_delay_ms (guint attempt)
{
  guint64 delay = BACKOFF_MAX_MS;

  if (attempt < 8)
    delay = MIN ((guint64) BACKOFF_BASE_MS << attempt, BACKOFF_MAX_MS);
  return (guint) (delay * g_random_double_range (0.5, 1.5));
}

/* Closes what is under way, without reporting anything. */
static void
drop_connection (UsiRelayLink *self)
{
  g_autoptr(UsiConnection) connection = g_steal_pointer (&self->connection);

  if (self->attempt_cancellable != NULL)
    g_cancellable_cancel (self->attempt_cancellable);
  _usi_clear_source (&self->attempt_timer);
  _usi_clear_source (&self->ping_timer);
  g_hash_table_remove_all (self->subscribe_ids);
  self->hello_ok = FALSE;
  if (connection != NULL)
    {
      g_signal_handlers_disconnect_by_data (connection, self);
      usi_connection_close (connection);
    }
}

/* A connection or an attempt failed: report it and try again later. */
static void
connection_lost (UsiRelayLink *self,
                 const GError *error)
{
  guint delay;

  g_autoptr(UsiRelayLink) hold = g_object_ref (self);
  g_autoptr(GError) reason = g_error_copy (error);

  drop_connection (self);
  if (self->state == USI_RELAY_LINK_STOPPED)
    return;

  g_debug ("link to %s lost: %s", self->address, reason->message);
  set_last_error (self, reason);
  if (self->suspended)
    {
      /* Offline on purpose: requests wait, nothing is retried. */
      _usi_clear_source (&self->retry_timer);
      set_state (self, USI_RELAY_LINK_RECONNECTING);
      g_signal_emit (self, signals[CONNECTION_LOST], 0, reason);
      return;
    }
  delay = backoff_delay_ms (self->attempt);
  if (self->attempt < G_MAXUINT)
    self->attempt++;
  _usi_clear_source (&self->retry_timer);
  self->retry_timer = g_timeout_source_new (delay);
  g_source_set_callback (self->retry_timer, retry_cb, self, NULL);
  g_source_attach (self->retry_timer, self->context);

  set_state (self, USI_RELAY_LINK_RECONNECTING);
  g_signal_emit (self, signals[CONNECTION_LOST], 0, reason);
}

/* GObject */

static void
usi_relay_link_dispose (GObject *object)
{
  UsiRelayLink *self = (UsiRelayLink *)object;

  /* Every pending request and attempt holds a reference: here nothing is
   * in flight but perhaps an open connection and timers. */
  drop_connection (self);
  _usi_clear_source (&self->retry_timer);
  self->state = USI_RELAY_LINK_STOPPED;

  G_OBJECT_CLASS (usi_relay_link_parent_class)->dispose (object);
}

static void
usi_relay_link_finalize (GObject *object)
{
  UsiRelayLink *self = (UsiRelayLink *)object;

  g_assert (g_queue_is_empty (&self->requests));

  g_clear_object (&self->attempt_cancellable);
  g_clear_object (&self->client);
  g_clear_pointer (&self->rooms, g_hash_table_unref);
  g_clear_pointer (&self->subscribe_ids, g_hash_table_unref);
  g_clear_pointer (&self->requests_by_id, g_hash_table_unref);
  g_clear_pointer (&self->address, g_free);
  g_clear_error (&self->last_error);
  g_clear_pointer (&self->context, g_main_context_unref);

  G_OBJECT_CLASS (usi_relay_link_parent_class)->finalize (object);
}

static void
usi_relay_link_get_property (GObject    *object,
                             guint       prop_id,
                             GValue     *value,
                             GParamSpec *pspec)
{
  UsiRelayLink *self = USI_RELAY_LINK (object);

  switch (prop_id)
    {
    case PROP_ADDRESS:
      g_value_set_string (value, self->address);
      break;

    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
usi_relay_link_class_init (UsiRelayLinkClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = usi_relay_link_dispose;
  object_class->finalize = usi_relay_link_finalize;
  object_class->get_property = usi_relay_link_get_property;

  properties[PROP_ADDRESS] =
    g_param_spec_string ("address", NULL, NULL,
                         NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_STATE] =
    g_param_spec_enum ("state", NULL, NULL,
                       USI_TYPE_RELAY_LINK_STATE, USI_RELAY_LINK_STOPPED,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[DELIVER] =
    g_signal_new ("deliver",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 4, G_TYPE_BYTES, G_TYPE_UINT64, G_TYPE_UINT, G_TYPE_BYTES);
  signals[SUBSCRIBED] =
    g_signal_new ("subscribed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_BYTES, G_TYPE_UINT64);
  signals[SUBSCRIPTION_REFUSED] =
    g_signal_new ("subscription-refused",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_BYTES, G_TYPE_ERROR);
  signals[CONNECTION_LOST] =
    g_signal_new ("connection-lost",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
usi_relay_link_init (UsiRelayLink *self)
{
  guint8 start[8];
  guint64 value = 0;

  self->context = g_main_context_ref_thread_default ();
  self->client = g_socket_client_new ();
  self->rooms = g_hash_table_new_full (g_bytes_hash, g_bytes_equal, NULL, (GDestroyNotify) room_free);
  self->subscribe_ids = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, (GDestroyNotify) g_bytes_unref);
  self->requests_by_id = g_hash_table_new (g_int64_hash, g_int64_equal);
  g_queue_init (&self->requests);

  /* §11.2: a random 63-bit start, then counting up (62 bits here, so
   * counting never reaches 2^63).  Not a secret. */
  if (!usi_random_fill (usi_random_get_system (), start, sizeof start, NULL))
    for (guint i = 0; i < sizeof start; i++)
      start[i] = (guint8) g_random_int ();
  for (guint i = 0; i < sizeof start; i++)
    value = value << 8 | start[i];
  self->next_request_id = (value >> 2) | 1;
}

/* API */

UsiRelayLink *
usi_relay_link_new (const char                *address,
                    const guint8              *pin,
                    UsiIdentity               *identity,
                    const UsiConnectionLimits *limits)
{
  UsiRelayLink *self;

  g_return_val_if_fail (address != NULL, NULL);
  g_return_val_if_fail (identity != NULL, NULL);

  self = g_object_new (USI_TYPE_RELAY_LINK, NULL);
  self->address = g_strdup (address);
  if (pin != NULL)
    {
      self->pinned = TRUE;
      memcpy (self->pin, pin, USI_TLS_PIN_LENGTH);
    }
  self->identity = identity;
  if (limits != NULL)
    self->limits = *limits;
  else
    {
      usi_connection_limits_init_default (&self->limits);
      /* The frame rate limit protects the relay from its clients; a client
       * catching up a long backlog receives faster than that, and the
       * write queue already bounds what a relay can make it hold. */
      self->limits.frames_per_second = 0;
    }
  return self;
}

void
usi_relay_link_start (UsiRelayLink *self)
{
  g_return_if_fail (USI_IS_RELAY_LINK (self));

  if (self->state != USI_RELAY_LINK_STOPPED)
    return;
  self->attempt = 0;
  if (self->suspended)
    {
      set_state (self, USI_RELAY_LINK_RECONNECTING);
      return;
    }
  set_state (self, USI_RELAY_LINK_CONNECTING);
  begin_attempt (self);
}

void
usi_relay_link_stop (UsiRelayLink *self)
{
  g_autoptr(UsiRelayLink) hold = NULL;
  GQueue requests = G_QUEUE_INIT;

  g_return_if_fail (USI_IS_RELAY_LINK (self));

  hold = g_object_ref (self);
  drop_connection (self);
  _usi_clear_source (&self->retry_timer);

  /* Every request fails now; the link keeps its subscriptions for the
   * next start. */
  requests = self->requests;
  g_queue_init (&self->requests);
  self->unsent = NULL;
  g_hash_table_remove_all (self->requests_by_id);
  while (!g_queue_is_empty (&requests))
    {
      GList *node = g_queue_pop_head_link (&requests);
      Request *request = node->data;
      g_autoptr(GTask) task = g_steal_pointer (&request->task);

      request_free (request);
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED,
                               "%s", _("The link to the relay was stopped."));
    }

  set_state (self, USI_RELAY_LINK_STOPPED);
}

void
usi_relay_link_drop_connection (UsiRelayLink *self)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (USI_IS_RELAY_LINK (self));

  /* Nothing to drop while stopped or waiting for the next attempt. */
  if (self->state == USI_RELAY_LINK_STOPPED || self->retry_timer != NULL)
    return;

  error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                               _("The connection to the relay was dropped."));
  connection_lost (self, error);
}

void
usi_relay_link_set_suspended (UsiRelayLink *self,
                              gboolean      suspended)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (USI_IS_RELAY_LINK (self));

  suspended = !!suspended;
  if (self->suspended == suspended)
    return;
  self->suspended = suspended;

  if (self->state == USI_RELAY_LINK_STOPPED)
    return;

  if (suspended)
    {
      error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                                   _("Working offline."));
      connection_lost (self, error);
    }
  else
    {
      _usi_clear_source (&self->retry_timer);
      self->attempt = 0;
      begin_attempt (self);
    }
}

const guint8 *
usi_relay_link_get_relay_pin (UsiRelayLink *self)
{
  g_return_val_if_fail (USI_IS_RELAY_LINK (self), NULL);

  return self->has_seen_pin ? self->seen_pin : NULL;
}

UsiRelayLinkState
usi_relay_link_get_state (UsiRelayLink *self)
{
  g_return_val_if_fail (USI_IS_RELAY_LINK (self), USI_RELAY_LINK_STOPPED);

  return self->state;
}

const char *
usi_relay_link_get_address (UsiRelayLink *self)
{
  g_return_val_if_fail (USI_IS_RELAY_LINK (self), NULL);

  return self->address;
}

const GError *
usi_relay_link_get_last_error (UsiRelayLink *self)
{
  g_return_val_if_fail (USI_IS_RELAY_LINK (self), NULL);

  return self->last_error;
}

void
usi_relay_link_subscribe (UsiRelayLink *self,
                          const guint8 *room_id,
                          guint64       after_seq)
{
  Room *room;

  g_return_if_fail (USI_IS_RELAY_LINK (self));
  g_return_if_fail (room_id != NULL);

  room = room_lookup_or_add (self, room_id);
  room->subscribed = TRUE;
  room->position = after_seq;
  if (self->hello_ok)
    send_subscribe (self, room);
}

void
usi_relay_link_unsubscribe (UsiRelayLink *self,
                            const guint8 *room_id)
{
  g_autoptr(GBytes) key = NULL;

  g_return_if_fail (USI_IS_RELAY_LINK (self));
  g_return_if_fail (room_id != NULL);

  /* §11.2 has no Unsubscribe: the relay stops sending at the next
   * reconnect, when the room is not subscribed again. */
  key = g_bytes_new (room_id, USI_RELAY_ID_LENGTH);
  g_hash_table_remove (self->rooms, key);
}

guint64
usi_relay_link_get_room_position (UsiRelayLink *self,
                                  const guint8 *room_id)
{
  g_autoptr(GBytes) key = NULL;
  Room *room;

  g_return_val_if_fail (USI_IS_RELAY_LINK (self), 0);
  g_return_val_if_fail (room_id != NULL, 0);

  key = g_bytes_new (room_id, USI_RELAY_ID_LENGTH);
  room = g_hash_table_lookup (self->rooms, key);
  return room != NULL ? room->position : 0;
}

void
usi_relay_link_create_room_async (UsiRelayLink        *self,
                                  GBytes              *commit_body,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GBytes) frame = NULL;
  guint64 request_id;
  UsiRelayFrame create = { .type = USI_RELAY_FRAME_CREATE_ROOM };
  GError *error = NULL;

  g_return_if_fail (USI_IS_RELAY_LINK (self));
  g_return_if_fail (commit_body != NULL);

  request_id = self->next_request_id++;
  create.request_id = request_id;
  create.frame = commit_body;
  frame = usi_relay_frame_encode (&create, &error);
  request_start (self, request_id, frame, error, cancellable, callback, user_data,
                 usi_relay_link_create_room_async);
}

void
usi_relay_link_open_preshared_room_async (UsiRelayLink        *self,
                                          const guint8        *room_id,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data)
{
  g_autoptr(GBytes) frame = NULL;
  guint64 request_id;

  g_return_if_fail (USI_IS_RELAY_LINK (self));
  g_return_if_fail (room_id != NULL);

  request_id = self->next_request_id++;
  frame = usi_relay_frame_new_open_preshared_room (request_id, room_id);
  request_start (self, request_id, frame, NULL, cancellable, callback, user_data,
                 usi_relay_link_open_preshared_room_async);
}

void
usi_relay_link_register_invite_async (UsiRelayLink        *self,
                                      const guint8        *room_id,
                                      const guint8        *invite_id,
                                      guint64              expires_ms,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data)
{
  g_autoptr(GBytes) frame = NULL;
  guint64 request_id;

  g_return_if_fail (USI_IS_RELAY_LINK (self));
  g_return_if_fail (room_id != NULL);
  g_return_if_fail (invite_id != NULL);

  request_id = self->next_request_id++;
  frame = usi_relay_frame_new_register_invite (request_id, room_id, invite_id, expires_ms);
  request_start (self, request_id, frame, NULL, cancellable, callback, user_data,
                 usi_relay_link_register_invite_async);
}

void
usi_relay_link_post_async (UsiRelayLink        *self,
                           const guint8        *room_id,
                           const guint8        *recipient,
                           GBytes              *inner_frame,
                           GCancellable        *cancellable,
                           GAsyncReadyCallback  callback,
                           gpointer             user_data)
{
  g_autoptr(GBytes) frame = NULL;
  guint64 request_id;

  UsiRelayFrame post = { .type = USI_RELAY_FRAME_POST };
  GError *error = NULL;

  g_return_if_fail (USI_IS_RELAY_LINK (self));
  g_return_if_fail (room_id != NULL);
  g_return_if_fail (inner_frame != NULL);

  request_id = self->next_request_id++;
  post.request_id = request_id;
  memcpy (post.room_id, room_id, USI_RELAY_ID_LENGTH);
  if (recipient != NULL)
    memcpy (post.recipient, recipient, USI_RELAY_KEY_LENGTH);
  post.frame = inner_frame;
  frame = usi_relay_frame_encode (&post, &error);
  request_start (self, request_id, frame, error, cancellable, callback, user_data,
                 usi_relay_link_post_async);
}

gboolean
usi_relay_link_request_finish (UsiRelayLink  *self,
                               GAsyncResult  *result,
                               guint64       *seq,
                               guint8        *flags,
                               GError       **error)
{
  g_autofree AckResult *ack = NULL;

  g_return_val_if_fail (USI_IS_RELAY_LINK (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  ack = g_task_propagate_pointer (G_TASK (result), error);
  if (ack == NULL)
    return FALSE;
  if (seq != NULL)
    *seq = ack->seq;
  if (flags != NULL)
    *flags = ack->flags;
  return TRUE;
}

guint
usi_relay_link_get_n_pending (UsiRelayLink *self)
{
  g_return_val_if_fail (USI_IS_RELAY_LINK (self), 0);

  return self->requests.length;
}
