/* SPDX-License-Identifier: GPL-3.0-or-later */

/* net/: UsiRelayLink, the client side of docs/protocol.md §11, against a
 * scripted server built in this file on UsiConnection.  The script injects
 * faults the real relay never makes on purpose (dropping a connection
 * before an Ack, replaying Deliver frames, refusing a Hello); the real
 * relay is tested in test-relay.c and in the integration tests. */

#include "config.h"

#include <string.h>

#include <gio/gio.h>

#include "crypto/usi-random.h"
#include "net/usi-connection.h"
#include "net/usi-net-error.h"
#include "net/usi-relay-link.h"
#include "net/usi-tls-identity.h"
#include "protocol/usi-frame.h"
#include "protocol/usi-identity.h"
#include "protocol/usi-protocol-error.h"
#include "protocol/usi-relay-frame.h"

#define WAIT_SECONDS 30

static gboolean
wake_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/* Spins the main context until `cond` holds; a generous deadline turns a
 * hang into a failure (nothing relies on it for the outcome). */
#define WAIT_UNTIL(cond) G_STMT_START {                                          \
    gint64 deadline_ = g_get_monotonic_time () + WAIT_SECONDS * G_USEC_PER_SEC;  \
    guint wake_ = g_timeout_add (50, wake_cb, NULL);                             \
    while (!(cond))                                                              \
      {                                                                          \
        if (g_get_monotonic_time () > deadline_)                                 \
          g_error ("timed out waiting for %s", #cond);                           \
        g_main_context_iteration (NULL, TRUE);                                   \
      }                                                                          \
    g_source_remove (wake_);                                                     \
  } G_STMT_END

/* The scripted server */

typedef struct _Server Server;

typedef struct
{
  Server        *server;
  UsiConnection *connection;
  gboolean       hello_verified;
  guint8         identity_key[USI_RELAY_KEY_LENGTH];
  gboolean       closed;
} ServerPeer;

/* One frame a client sent after its Hello. */
typedef struct
{
  ServerPeer    *peer;
  guint          connection_index;
  guint8         type;
  GBytes        *body;
  UsiRelayFrame  decoded;
} Received;

struct _Server
{
  UsiTlsIdentity *tls;
  GSocketService *service;
  guint16         port;
  char           *address;
  GPtrArray      *peers;      /* ServerPeer, one per accepted connection */
  GPtrArray      *received;   /* Received, in order */
  gboolean        refuse_hello;
  guint           n_hellos;
};

static void
received_free (Received *received)
{
  g_bytes_unref (received->body);
  usi_relay_frame_clear (&received->decoded);
  g_free (received);
}

static void
server_send (ServerPeer *peer,
             GBytes     *frame)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (usi_connection_send (peer->connection, frame, &error));
  g_assert_no_error (error);
}

/* §11.3, from the relay's side: the signature must verify over this TLS
 * session's exporter and the client certificate's key hash. */
static gboolean
verify_hello (ServerPeer          *peer,
              const UsiRelayFrame *hello)
{
  g_autoptr(GError) error = NULL;
  guint8 exporter[USI_RELAY_EXPORTER_LENGTH];
  guint8 tbs[64];

  g_assert_true (usi_connection_export_keying_material (peer->connection, USI_RELAY_EXPORTER_LABEL,
                                                        exporter, sizeof exporter, &error));
  g_assert_no_error (error);
  usi_relay_hello_tbs (exporter, usi_connection_get_client_spki_hash (peer->connection), tbs);
  return usi_identity_verify (hello->identity_key, USI_RELAY_HELLO_LABEL, tbs, sizeof tbs,
                              hello->signature, NULL);
}

static void
on_server_frame (UsiConnection *connection,
                 guint          type,
                 GBytes        *body,
                 ServerPeer    *peer)
{
  g_autoptr(GError) error = NULL;
  Server *server = peer->server;
  Received *received = g_new0 (Received, 1);

  received->peer = peer;
  received->connection_index = server->peers->len - 1;
  received->type = (guint8) type;
  received->body = g_bytes_ref (body);
  g_assert_true (usi_relay_frame_decode ((guint8) type, body, &received->decoded, &error));
  g_assert_no_error (error);

  if (type == USI_RELAY_FRAME_HELLO)
    {
      g_autoptr(GBytes) answer = NULL;

      server->n_hellos++;
      g_assert_false (peer->hello_verified);
      peer->hello_verified = verify_hello (peer, &received->decoded);
      g_assert_true (peer->hello_verified);
      memcpy (peer->identity_key, received->decoded.identity_key, sizeof peer->identity_key);
      received_free (received);

      if (server->refuse_hello)
        {
          answer = usi_relay_frame_new_refused (0, USI_RELAY_REFUSED_BAD_HELLO, "no");
          server_send (peer, answer);
          usi_connection_close (connection);
          return;
        }
      answer = usi_relay_frame_new_hello_ok (1700000000000);
      server_send (peer, answer);
      return;
    }

  /* Nothing but Hello may come first (§11.3). */
  g_assert_true (peer->hello_verified);
  g_ptr_array_add (server->received, received);
}

static void
on_server_closed (UsiConnection *connection,
                  GError        *error,
                  ServerPeer    *peer)
{
  peer->closed = TRUE;
}

static void
server_handshake_cb (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  /* A failed handshake is seen through ::closed. */
  usi_connection_handshake_finish (USI_CONNECTION (source), result, NULL);
}

static gboolean
on_incoming (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source_object,
             Server            *server)
{
  ServerPeer *peer = g_new0 (ServerPeer, 1);

  peer->server = server;
  peer->connection = usi_connection_new_server (G_IO_STREAM (connection), server->tls, NULL);
  g_ptr_array_add (server->peers, peer);
  g_signal_connect (peer->connection, "frame-received", G_CALLBACK (on_server_frame), peer);
  g_signal_connect (peer->connection, "closed", G_CALLBACK (on_server_closed), peer);
  usi_connection_handshake_async (peer->connection, NULL, server_handshake_cb, NULL);
  return TRUE;
}

static void
server_peer_free (ServerPeer *peer)
{
  UsiConnection *weak = peer->connection;

  g_object_add_weak_pointer (G_OBJECT (weak), (gpointer *) &weak);
  g_signal_handlers_disconnect_by_data (weak, peer);
  usi_connection_close (weak);
  g_clear_object (&peer->connection);
  WAIT_UNTIL (weak == NULL);
  g_free (peer);
}

static Server *
server_new (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) effective = NULL;
  Server *server = g_new0 (Server, 1);

  server->tls = usi_tls_identity_generate ("usi scripted relay", &error);
  g_assert_no_error (error);
  server->peers = g_ptr_array_new ();
  server->received = g_ptr_array_new_with_free_func ((GDestroyNotify) received_free);
  server->service = g_socket_service_new ();
  g_socket_listener_add_address (G_SOCKET_LISTENER (server->service), address,
                                 G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                 NULL, &effective, &error);
  g_assert_no_error (error);
  server->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
  server->address = g_strdup_printf ("127.0.0.1:%u", server->port);
  g_signal_connect (server->service, "incoming", G_CALLBACK (on_incoming), server);
  g_socket_service_start (server->service);
  return server;
}

static void
server_free (Server *server)
{
  g_socket_service_stop (server->service);
  g_socket_listener_close (G_SOCKET_LISTENER (server->service));
  g_clear_object (&server->service);
  g_ptr_array_set_free_func (server->peers, (GDestroyNotify) server_peer_free);
  g_ptr_array_unref (server->peers);
  g_ptr_array_unref (server->received);
  g_clear_object (&server->tls);
  g_free (server->address);
  g_free (server);
}

static ServerPeer *
server_current_peer (Server *server)
{
  g_assert_cmpuint (server->peers->len, >, 0);
  return g_ptr_array_index (server->peers, server->peers->len - 1);
}

static Received *
server_received (Server *server,
                 guint   index)
{
  g_assert_cmpuint (index, <, server->received->len);
  return g_ptr_array_index (server->received, index);
}

/* The client side */

typedef struct
{
  Server       *server;
  UsiIdentity  *identity;
  UsiRelayLink *link;
  GPtrArray    *lost;           /* GError, each ::connection-lost */
  GArray       *lost_times;     /* gint64, monotonic */
  GPtrArray    *delivered;      /* GBytes: the inner frames, in order */
  GArray       *delivered_seqs; /* guint64 */
  guint64       subscribed_latest;
  guint         n_subscribed;
  GError       *subscription_error;
  guint8        room[USI_RELAY_ID_LENGTH];
  guint8        other_room[USI_RELAY_ID_LENGTH];
} Fixture;

typedef struct
{
  gboolean done;
  gboolean ok;
  guint64  seq;
  guint8   flags;
  GError  *error;
  guint    n_callbacks;
} Result;

static void
result_clear (Result *result)
{
  g_clear_error (&result->error);
}

static void
request_cb (GObject      *source,
            GAsyncResult *result,
            gpointer      user_data)
{
  Result *out = user_data;

  out->n_callbacks++;
  out->ok = usi_relay_link_request_finish (USI_RELAY_LINK (source), result, &out->seq, &out->flags, &out->error);
  out->done = TRUE;
}

static void
on_connection_lost (UsiRelayLink *link,
                    GError       *error,
                    Fixture      *fixture)
{
  gint64 now = g_get_monotonic_time ();

  g_ptr_array_add (fixture->lost, g_error_copy (error));
  g_array_append_val (fixture->lost_times, now);
}

static void
on_deliver (UsiRelayLink *link,
            GBytes       *room_id,
            guint64       seq,
            guint         frame_type,
            GBytes       *frame,
            Fixture      *fixture)
{
  g_assert_cmpuint (g_bytes_get_size (room_id), ==, USI_RELAY_ID_LENGTH);
  g_assert_cmpuint (frame_type, ==, ((const guint8 *) g_bytes_get_data (frame, NULL))[5]);
  /* The position advances after the signal. */
  g_assert_cmpuint (usi_relay_link_get_room_position (link, g_bytes_get_data (room_id, NULL)), <, seq);
  g_ptr_array_add (fixture->delivered, g_bytes_ref (frame));
  g_array_append_val (fixture->delivered_seqs, seq);
}

static void
on_subscribed (UsiRelayLink *link,
               GBytes       *room_id,
               guint64       latest_seq,
               Fixture      *fixture)
{
  fixture->n_subscribed++;
  fixture->subscribed_latest = latest_seq;
}

static void
on_subscription_refused (UsiRelayLink *link,
                         GBytes       *room_id,
                         GError       *error,
                         Fixture      *fixture)
{
  g_clear_error (&fixture->subscription_error);
  fixture->subscription_error = g_error_copy (error);
}

static const GError *
lost_error (Fixture *fixture,
            guint    index)
{
  g_assert_cmpuint (index, <, fixture->lost->len);
  return g_ptr_array_index (fixture->lost, index);
}

static void
fixture_set_up_with (Fixture                   *fixture,
                     const char                *address,
                     const guint8              *pin,
                     const UsiConnectionLimits *limits)
{
  g_autoptr(GError) error = NULL;

  fixture->identity = usi_identity_generate (usi_random_get_system (), &error);
  g_assert_no_error (error);
  fixture->link = usi_relay_link_new (address, pin, fixture->identity, limits);
  fixture->lost = g_ptr_array_new_with_free_func ((GDestroyNotify) g_error_free);
  fixture->lost_times = g_array_new (FALSE, FALSE, sizeof (gint64));
  fixture->delivered = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  fixture->delivered_seqs = g_array_new (FALSE, FALSE, sizeof (guint64));
  memset (fixture->room, 0x11, sizeof fixture->room);
  memset (fixture->other_room, 0x22, sizeof fixture->other_room);
  g_signal_connect (fixture->link, "connection-lost", G_CALLBACK (on_connection_lost), fixture);
  g_signal_connect (fixture->link, "deliver", G_CALLBACK (on_deliver), fixture);
  g_signal_connect (fixture->link, "subscribed", G_CALLBACK (on_subscribed), fixture);
  g_signal_connect (fixture->link, "subscription-refused", G_CALLBACK (on_subscription_refused), fixture);
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  user_data)
{
  fixture->server = server_new ();
  fixture_set_up_with (fixture, fixture->server->address, usi_tls_identity_get_pin (fixture->server->tls), NULL);
}

/* Replaces the fixture's link with one made with these arguments. */
static void
fixture_remake_link (Fixture                   *fixture,
                     const char                *address,
                     const guint8              *pin,
                     const UsiConnectionLimits *limits)
{
  g_clear_object (&fixture->link);
  g_clear_pointer (&fixture->identity, usi_identity_free);
  g_ptr_array_unref (fixture->lost);
  g_array_unref (fixture->lost_times);
  g_ptr_array_unref (fixture->delivered);
  g_array_unref (fixture->delivered_seqs);
  fixture_set_up_with (fixture, address, pin, limits);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  user_data)
{
  UsiRelayLink *weak = fixture->link;

  usi_relay_link_stop (fixture->link);
  g_assert_cmpuint (usi_relay_link_get_n_pending (fixture->link), ==, 0);
  g_object_add_weak_pointer (G_OBJECT (weak), (gpointer *) &weak);
  g_clear_object (&fixture->link);
  /* An attempt in flight keeps the link until it comes back cancelled. */
  WAIT_UNTIL (weak == NULL);
  if (fixture->server != NULL)
    server_free (fixture->server);
  g_clear_pointer (&fixture->identity, usi_identity_free);
  g_ptr_array_unref (fixture->lost);
  g_array_unref (fixture->lost_times);
  g_ptr_array_unref (fixture->delivered);
  g_array_unref (fixture->delivered_seqs);
  g_clear_error (&fixture->subscription_error);
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static void
start_and_connect (Fixture *fixture)
{
  usi_relay_link_start (fixture->link);
  g_assert_cmpint (usi_relay_link_get_state (fixture->link), ==, USI_RELAY_LINK_CONNECTING);
  WAIT_UNTIL (usi_relay_link_get_state (fixture->link) == USI_RELAY_LINK_CONNECTED);
}

static GBytes *
app_message (guint8 fill)
{
  g_autoptr(GError) error = NULL;
  guint8 body[100];
  GBytes *frame;

  memset (body, fill, sizeof body);
  frame = usi_frame_encode (USI_FRAME_APP_MESSAGE, body, sizeof body, &error);
  g_assert_no_error (error);
  return frame;
}

/* Tests */

static void
test_hello_and_post (Fixture       *fixture,
                     gconstpointer  user_data)
{
  g_autoptr(GBytes) message = app_message (1);
  g_autoptr(GBytes) ack = NULL;
  Received *post;
  Result result = { 0 };

  start_and_connect (fixture);
  /* The server checked the signature over its own exporter and the
   * client key hash (verify_hello), for our identity. */
  g_assert_cmpuint (fixture->server->n_hellos, ==, 1);
  g_assert_true (server_current_peer (fixture->server)->hello_verified);
  g_assert_cmpmem (server_current_peer (fixture->server)->identity_key, USI_RELAY_KEY_LENGTH,
                   usi_identity_get_public_key (fixture->identity), USI_RELAY_KEY_LENGTH);
  g_assert_null (usi_relay_link_get_last_error (fixture->link));

  usi_relay_link_post_async (fixture->link, fixture->room, NULL, message, NULL, request_cb, &result);
  g_assert_cmpuint (usi_relay_link_get_n_pending (fixture->link), ==, 1);
  WAIT_UNTIL (fixture->server->received->len == 1);
  post = server_received (fixture->server, 0);
  g_assert_cmpuint (post->type, ==, USI_RELAY_FRAME_POST);
  g_assert_cmpmem (post->decoded.room_id, USI_RELAY_ID_LENGTH, fixture->room, USI_RELAY_ID_LENGTH);
  g_assert_true (g_bytes_equal (post->decoded.frame, message));
  for (guint i = 0; i < USI_RELAY_KEY_LENGTH; i++)
    g_assert_cmpuint (post->decoded.recipient[i], ==, 0);
  /* Request ids fit in 63 bits. */
  g_assert_cmpuint (post->decoded.request_id, <, G_GUINT64_CONSTANT (1) << 63);

  ack = usi_relay_frame_new_ack (post->decoded.request_id, 7, USI_RELAY_ACK_RECIPIENT_OFFLINE);
  server_send (post->peer, ack);
  WAIT_UNTIL (result.done);
  g_assert_no_error (result.error);
  g_assert_true (result.ok);
  g_assert_cmpuint (result.seq, ==, 7);
  g_assert_cmpuint (result.flags, ==, USI_RELAY_ACK_RECIPIENT_OFFLINE);
  g_assert_cmpuint (usi_relay_link_get_n_pending (fixture->link), ==, 0);
  result_clear (&result);
}

static void
test_resend_after_drop (Fixture       *fixture,
                        gconstpointer  user_data)
{
  g_autoptr(GBytes) first = app_message (1);
  g_autoptr(GBytes) second = app_message (2);
  g_autoptr(GBytes) ack = NULL;
  g_autoptr(GBytes) ack_second = NULL;
  Result result = { 0 };
  Result result_second = { 0 };
  Received *before;
  Received *after;
  Received *after_second;

  start_and_connect (fixture);
  usi_relay_link_post_async (fixture->link, fixture->room, NULL, first, NULL, request_cb, &result);
  usi_relay_link_post_async (fixture->link, fixture->room, NULL, second, NULL, request_cb, &result_second);
  WAIT_UNTIL (fixture->server->received->len == 2);
  before = server_received (fixture->server, 0);

  /* The connection goes before the Ack. */
  usi_connection_close (before->peer->connection);
  WAIT_UNTIL (fixture->lost->len == 1);
  g_assert_cmpint (usi_relay_link_get_state (fixture->link), ==, USI_RELAY_LINK_RECONNECTING);
  g_assert_false (result.done);

  /* The link comes back by itself and sends the identical Posts, in order. */
  WAIT_UNTIL (fixture->server->received->len == 4);
  g_assert_cmpint (usi_relay_link_get_state (fixture->link), ==, USI_RELAY_LINK_CONNECTED);
  g_assert_cmpuint (fixture->server->peers->len, ==, 2);
  g_assert_cmpuint (fixture->server->n_hellos, ==, 2);
  after = server_received (fixture->server, 2);
  after_second = server_received (fixture->server, 3);
  g_assert_cmpuint (after->connection_index, ==, 1);
  g_assert_true (g_bytes_equal (after->body, before->body));
  g_assert_cmpuint (after->decoded.request_id, ==, before->decoded.request_id);
  g_assert_true (g_bytes_equal (after_second->body, server_received (fixture->server, 1)->body));
  g_assert_cmpuint (after_second->decoded.request_id, ==, after->decoded.request_id + 1);

  ack = usi_relay_frame_new_ack (after->decoded.request_id, 41, 0);
  ack_second = usi_relay_frame_new_ack (after_second->decoded.request_id, 42, 0);
  server_send (after->peer, ack);
  server_send (after->peer, ack_second);
  WAIT_UNTIL (result.done && result_second.done);
  g_assert_no_error (result.error);
  g_assert_cmpuint (result.seq, ==, 41);
  g_assert_cmpuint (result_second.seq, ==, 42);
  g_assert_cmpuint (result.n_callbacks, ==, 1);
  g_assert_cmpuint (usi_relay_link_get_n_pending (fixture->link), ==, 0);
  /* The loss was reported, with the state that followed. */
  g_assert_error (lost_error (fixture, 0), USI_NET_ERROR, USI_NET_ERROR_CLOSED);
  g_assert_error (usi_relay_link_get_last_error (fixture->link), USI_NET_ERROR, USI_NET_ERROR_CLOSED);
  result_clear (&result);
  result_clear (&result_second);
}

static void
test_refused (Fixture       *fixture,
              gconstpointer  user_data)
{
  g_autoptr(GBytes) message = app_message (3);
  g_autoptr(GBytes) refused = NULL;
  g_autoptr(GBytes) invite_refused = NULL;
  guint8 invite_id[USI_RELAY_ID_LENGTH];
  Received *post;
  Received *invite;
  Result result = { 0 };
  Result invite_result = { 0 };

  memset (invite_id, 0x33, sizeof invite_id);
  start_and_connect (fixture);
  usi_relay_link_post_async (fixture->link, fixture->room, NULL, message, NULL, request_cb, &result);
  usi_relay_link_register_invite_async (fixture->link, fixture->room, invite_id, 1234, NULL,
                                        request_cb, &invite_result);
  WAIT_UNTIL (fixture->server->received->len == 2);
  post = server_received (fixture->server, 0);
  invite = server_received (fixture->server, 1);
  g_assert_cmpuint (invite->type, ==, USI_RELAY_FRAME_REGISTER_INVITE);
  g_assert_cmpmem (invite->decoded.invite_id, USI_RELAY_ID_LENGTH, invite_id, USI_RELAY_ID_LENGTH);
  g_assert_cmpuint (invite->decoded.expires_ms, ==, 1234);

  refused = usi_relay_frame_new_refused (post->decoded.request_id, USI_RELAY_REFUSED_NOT_MEMBER,
                                         "You are not a member of this room.");
  invite_refused = usi_relay_frame_new_refused (invite->decoded.request_id, USI_RELAY_REFUSED_NOT_OWNER, "");
  server_send (post->peer, refused);
  server_send (post->peer, invite_refused);
  WAIT_UNTIL (result.done && invite_result.done);
  g_assert_false (result.ok);
  g_assert_error (result.error, USI_RELAY_REFUSED_ERROR, USI_RELAY_REFUSED_NOT_MEMBER);
  g_assert_cmpstr (result.error->message, ==, "You are not a member of this room.");
  g_assert_error (invite_result.error, USI_RELAY_REFUSED_ERROR, USI_RELAY_REFUSED_NOT_OWNER);
  /* Without a text, the code's name. */
  g_assert_nonnull (strstr (invite_result.error->message, "NOT_OWNER"));
  /* A refusal is an answer: the link stays connected. */
  g_assert_cmpint (usi_relay_link_get_state (fixture->link), ==, USI_RELAY_LINK_CONNECTED);
  g_assert_cmpuint (fixture->lost->len, ==, 0);
  result_clear (&result);
  result_clear (&invite_result);
}

static void
send_deliver (ServerPeer   *peer,
              const guint8 *room,
              guint64       seq)
{
  g_autoptr(GBytes) inner = app_message ((guint8) seq);
  g_autoptr(GBytes) deliver = usi_relay_frame_new_deliver (room, seq, inner);

  server_send (peer, deliver);
}

static void
test_resubscribe (Fixture       *fixture,
                  gconstpointer  user_data)
{
  g_autoptr(GBytes) ack = NULL;
  g_autoptr(GBytes) refused = NULL;
  g_autoptr(GBytes) expected = NULL;
  Received *subscribe;
  Received *other;
  ServerPeer *peer;

  /* Subscribed before the link is up: sent after HelloOk. */
  usi_relay_link_subscribe (fixture->link, fixture->room, 0);
  start_and_connect (fixture);
  WAIT_UNTIL (fixture->server->received->len == 1);
  subscribe = server_received (fixture->server, 0);
  peer = subscribe->peer;
  g_assert_cmpuint (subscribe->type, ==, USI_RELAY_FRAME_SUBSCRIBE);
  g_assert_cmpmem (subscribe->decoded.room_id, USI_RELAY_ID_LENGTH, fixture->room, USI_RELAY_ID_LENGTH);
  g_assert_cmpuint (subscribe->decoded.seq, ==, 0);

  ack = usi_relay_frame_new_ack (subscribe->decoded.request_id, 3, 0);
  server_send (peer, ack);
  WAIT_UNTIL (fixture->n_subscribed == 1);
  g_assert_cmpuint (fixture->subscribed_latest, ==, 3);

  /* 1, 2, 3, then replays (3, 2) that must not be delivered again, then 4. */
  send_deliver (peer, fixture->room, 1);
  send_deliver (peer, fixture->room, 2);
  send_deliver (peer, fixture->room, 3);
  send_deliver (peer, fixture->room, 3);
  send_deliver (peer, fixture->room, 2);
  send_deliver (peer, fixture->room, 4);
  WAIT_UNTIL (usi_relay_link_get_room_position (fixture->link, fixture->room) == 4);
  g_assert_cmpuint (fixture->delivered_seqs->len, ==, 4);
  for (guint i = 0; i < 4; i++)
    {
      g_autoptr(GBytes) inner = app_message ((guint8) (i + 1));

      g_assert_cmpuint (g_array_index (fixture->delivered_seqs, guint64, i), ==, i + 1);
      g_assert_true (g_bytes_equal (g_ptr_array_index (fixture->delivered, i), inner));
    }

  /* A second room the relay refuses: reported, then forgotten. */
  usi_relay_link_subscribe (fixture->link, fixture->other_room, 0);
  WAIT_UNTIL (fixture->server->received->len == 2);
  other = server_received (fixture->server, 1);
  refused = usi_relay_frame_new_refused (other->decoded.request_id, USI_RELAY_REFUSED_NOT_MEMBER, "not yours");
  server_send (peer, refused);
  WAIT_UNTIL (fixture->subscription_error != NULL);
  g_assert_error (fixture->subscription_error, USI_RELAY_REFUSED_ERROR, USI_RELAY_REFUSED_NOT_MEMBER);

  /* After a reconnect, only the first room, from its last delivered seq. */
  usi_relay_link_drop_connection (fixture->link);
  g_assert_cmpuint (fixture->lost->len, ==, 1);
  g_assert_error (lost_error (fixture, 0), G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED);
  WAIT_UNTIL (fixture->server->received->len == 3);
  subscribe = server_received (fixture->server, 2);
  g_assert_cmpuint (subscribe->connection_index, ==, 1);
  g_assert_cmpuint (subscribe->type, ==, USI_RELAY_FRAME_SUBSCRIBE);
  g_assert_cmpmem (subscribe->decoded.room_id, USI_RELAY_ID_LENGTH, fixture->room, USI_RELAY_ID_LENGTH);
  g_assert_cmpuint (subscribe->decoded.seq, ==, 4);

  /* The relay replays from 4 on: only 5 is new. */
  send_deliver (subscribe->peer, fixture->room, 4);
  send_deliver (subscribe->peer, fixture->room, 5);
  WAIT_UNTIL (usi_relay_link_get_room_position (fixture->link, fixture->room) == 5);
  g_assert_cmpuint (fixture->delivered_seqs->len, ==, 5);
  g_assert_cmpuint (g_array_index (fixture->delivered_seqs, guint64, 4), ==, 5);
  expected = app_message (5);
  g_assert_true (g_bytes_equal (g_ptr_array_index (fixture->delivered, 4), expected));
  /* Nothing else was sent to the new connection. */
  g_assert_cmpuint (fixture->server->received->len, ==, 3);
}

/* More pending than the connection may queue: the link paces its
 * (re)sends on ::drained instead of tripping the byte limit. */
static void
test_paced_sends (Fixture       *fixture,
                  gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *body = g_malloc0 (64 * 1024);
  g_autoptr(GBytes) message = NULL;
  UsiConnectionLimits limits;
  Result results[40] = { { 0 } };

  usi_connection_limits_init_default (&limits);
  limits.max_queued_bytes = 512 * 1024;
  fixture_remake_link (fixture, fixture->server->address, usi_tls_identity_get_pin (fixture->server->tls), &limits);
  message = usi_frame_encode (USI_FRAME_APP_MESSAGE, body, 64 * 1024, &error);
  g_assert_no_error (error);

  /* 2.5 MiB of requests made before the link is even started. */
  usi_relay_link_start (fixture->link);
  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    usi_relay_link_post_async (fixture->link, fixture->room, NULL, message, NULL, request_cb, &results[i]);
  WAIT_UNTIL (fixture->server->received->len == G_N_ELEMENTS (results));
  g_assert_cmpuint (fixture->lost->len, ==, 0);
  g_assert_cmpuint (fixture->server->peers->len, ==, 1);

  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    {
      Received *post = server_received (fixture->server, i);
      g_autoptr(GBytes) ack = usi_relay_frame_new_ack (post->decoded.request_id, i + 1, 0);

      server_send (post->peer, ack);
    }
  WAIT_UNTIL (usi_relay_link_get_n_pending (fixture->link) == 0);
  for (guint i = 0; i < G_N_ELEMENTS (results); i++)
    {
      g_assert_true (results[i].done);
      g_assert_no_error (results[i].error);
      /* Sent in the order they were made. */
      g_assert_cmpuint (results[i].seq, ==, i + 1);
    }
}

static void
test_ping_pong (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autoptr(GBytes) ping = usi_relay_frame_new_ping (G_GUINT64_CONSTANT (0x1122334455667788));
  Received *pong;

  start_and_connect (fixture);
  server_send (server_current_peer (fixture->server), ping);
  WAIT_UNTIL (fixture->server->received->len == 1);
  pong = server_received (fixture->server, 0);
  g_assert_cmpuint (pong->type, ==, USI_RELAY_FRAME_PONG);
  g_assert_cmpuint (pong->decoded.nonce, ==, G_GUINT64_CONSTANT (0x1122334455667788));
}

static void
test_bad_hello (Fixture       *fixture,
                gconstpointer  user_data)
{
  fixture->server->refuse_hello = TRUE;
  usi_relay_link_start (fixture->link);
  WAIT_UNTIL (fixture->lost->len >= 1);
  g_assert_error (lost_error (fixture, 0), USI_NET_ERROR, USI_NET_ERROR_BAD_HELLO);
  g_assert_error (usi_relay_link_get_last_error (fixture->link), USI_NET_ERROR, USI_NET_ERROR_BAD_HELLO);
  g_assert_cmpint (usi_relay_link_get_state (fixture->link), ==, USI_RELAY_LINK_RECONNECTING);

  /* It keeps trying (the relay may be fixed). */
  WAIT_UNTIL (fixture->lost->len >= 2);
  g_assert_error (lost_error (fixture, 1), USI_NET_ERROR, USI_NET_ERROR_BAD_HELLO);
  g_assert_cmpuint (fixture->server->received->len, ==, 0);
}

static void
test_pin_mismatch (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_autoptr(UsiTlsIdentity) other = NULL;
  g_autoptr(GError) error = NULL;

  other = usi_tls_identity_generate ("not the relay", &error);
  g_assert_no_error (error);
  fixture_remake_link (fixture, fixture->server->address, usi_tls_identity_get_pin (other), NULL);

  usi_relay_link_start (fixture->link);
  WAIT_UNTIL (fixture->lost->len >= 1);
  g_assert_error (lost_error (fixture, 0), USI_NET_ERROR, USI_NET_ERROR_PIN_MISMATCH);
  g_assert_error (usi_relay_link_get_last_error (fixture->link), USI_NET_ERROR, USI_NET_ERROR_PIN_MISMATCH);
  g_assert_cmpuint (fixture->server->n_hellos, ==, 0);
  g_assert_cmpuint (fixture->server->received->len, ==, 0);
}

static void
test_stop_cancels (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_autoptr(GBytes) message = app_message (4);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  guint8 room_id[USI_RELAY_ID_LENGTH];
  Result post = { 0 };
  Result open = { 0 };
  Result create = { 0 };
  Result after_stop = { 0 };

  memset (room_id, 0x44, sizeof room_id);
  start_and_connect (fixture);
  usi_relay_link_post_async (fixture->link, fixture->room, NULL, message, NULL, request_cb, &post);
  usi_relay_link_open_preshared_room_async (fixture->link, room_id, cancellable, request_cb, &open);
  WAIT_UNTIL (fixture->server->received->len == 2);
  g_assert_cmpuint (server_received (fixture->server, 1)->type, ==, USI_RELAY_FRAME_OPEN_PRESHARED_ROOM);

  /* Cancelling one request forgets it locally. */
  g_cancellable_cancel (cancellable);
  WAIT_UNTIL (open.done);
  g_assert_error (open.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (usi_relay_link_get_n_pending (fixture->link), ==, 1);

  /* A request whose frame cannot be made fails at once. */
  {
    g_autoptr(GBytes) control = usi_relay_frame_new_ping (1);

    usi_relay_link_post_async (fixture->link, fixture->room, NULL, control, NULL, request_cb, &create);
    WAIT_UNTIL (create.done);
    g_assert_error (create.error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
    g_assert_cmpuint (usi_relay_link_get_n_pending (fixture->link), ==, 1);
  }

  usi_relay_link_stop (fixture->link);
  g_assert_cmpint (usi_relay_link_get_state (fixture->link), ==, USI_RELAY_LINK_STOPPED);
  WAIT_UNTIL (post.done);
  g_assert_error (post.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_cmpuint (usi_relay_link_get_n_pending (fixture->link), ==, 0);
  /* Stopping is not a lost connection. */
  g_assert_cmpuint (fixture->lost->len, ==, 0);

  usi_relay_link_post_async (fixture->link, fixture->room, NULL, message, NULL, request_cb, &after_stop);
  WAIT_UNTIL (after_stop.done);
  g_assert_error (after_stop.error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);

  result_clear (&post);
  result_clear (&open);
  result_clear (&create);
  result_clear (&after_stop);
}

static void
on_state_notify (UsiRelayLink *link,
                 GParamSpec   *pspec,
                 GArray       *states)
{
  UsiRelayLinkState state = usi_relay_link_get_state (link);

  g_array_append_val (states, state);
}

static void
test_backoff (Fixture       *fixture,
              gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) states = g_array_new (FALSE, FALSE, sizeof (UsiRelayLinkState));
  g_autoptr(GSocket) socket = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) any = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) bound = NULL;
  g_autofree char *address = NULL;
  const guint n_attempts = 5;

  /* A port where nothing listens: every attempt is refused at once. */
  socket = g_socket_new (G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_bind (socket, any, FALSE, &error));
  bound = g_socket_get_local_address (socket, &error);
  g_assert_no_error (error);
  address = g_strdup_printf ("127.0.0.1:%u", g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (bound)));

  fixture_remake_link (fixture, address, usi_tls_identity_get_pin (fixture->server->tls), NULL);
  g_signal_connect (fixture->link, "notify::state", G_CALLBACK (on_state_notify), states);

  usi_relay_link_start (fixture->link);
  WAIT_UNTIL (fixture->lost->len == n_attempts);
  g_assert_error (usi_relay_link_get_last_error (fixture->link), G_IO_ERROR, G_IO_ERROR_CONNECTION_REFUSED);
  g_assert_cmpint (usi_relay_link_get_state (fixture->link), ==, USI_RELAY_LINK_RECONNECTING);
  g_assert_cmpuint (states->len, ==, 2);
  g_assert_cmpint (g_array_index (states, UsiRelayLinkState, 0), ==, USI_RELAY_LINK_CONNECTING);
  g_assert_cmpint (g_array_index (states, UsiRelayLinkState, 1), ==, USI_RELAY_LINK_RECONNECTING);

  /* Delay n waits 250 ms × 2^n × [0.5, 1.5): never less than its lower
   * bound (timers do not fire early), and it grows.  The upper bounds are
   * loose: a loaded machine may be late, never early. */
  for (guint i = 1; i < n_attempts; i++)
    {
      gint64 gap_ms = (g_array_index (fixture->lost_times, gint64, i) -
                       g_array_index (fixture->lost_times, gint64, i - 1)) / 1000;
      gint64 base_ms = 250 << (i - 1);

      g_test_message ("delay %u: %" G_GINT64_FORMAT " ms", i, gap_ms);
      g_assert_cmpint (gap_ms, >=, base_ms / 2 - 5);
      g_assert_cmpint (gap_ms, <, base_ms * 3 / 2 + 5000);
    }
  /* The fourth delay (at least 1000 ms) exceeds the first (below 375 ms). */
  g_assert_cmpint (g_array_index (fixture->lost_times, gint64, 4) - g_array_index (fixture->lost_times, gint64, 3), >,
                   g_array_index (fixture->lost_times, gint64, 1) - g_array_index (fixture->lost_times, gint64, 0));

  g_signal_handlers_disconnect_by_func (fixture->link, on_state_notify, states);
  g_socket_close (socket, NULL);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/net/relay-link/hello-and-post", test_hello_and_post);
  ADD ("/net/relay-link/resend-after-drop", test_resend_after_drop);
  ADD ("/net/relay-link/refused", test_refused);
  ADD ("/net/relay-link/resubscribe", test_resubscribe);
  ADD ("/net/relay-link/paced-sends", test_paced_sends);
  ADD ("/net/relay-link/ping-pong", test_ping_pong);
  ADD ("/net/relay-link/bad-hello", test_bad_hello);
  ADD ("/net/relay-link/T1-pin-mismatch", test_pin_mismatch);
  ADD ("/net/relay-link/stop-cancels", test_stop_cancels);
  ADD ("/net/relay-link/backoff", test_backoff);
#undef ADD

  return g_test_run ();
}
