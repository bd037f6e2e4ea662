/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The relay (docs/protocol.md §11) in-process on 127.0.0.1, with clients
 * that are bare UsiConnections speaking control frames through the codec:
 * Hello, rooms, who may post what, invites, sequence numbers and resends,
 * backlogs (row R4), room isolation (R2), roles only from commits (R3), a
 * restart on SQLite, and the connection limits (T5, T8).  Rooms are built
 * with the real protocol (owner groups, invites, join requests). */

#include "config.h"

#include <string.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "crypto/usi-random.h"
#include "net/usi-connection.h"
#include "net/usi-net-error.h"
#include "net/usi-relay.h"
#include "net/usi-relay-store.h"
#include "net/usi-tls-identity.h"
#include "protocol/usi-frame.h"
#include "protocol/usi-identity.h"
#include "protocol/usi-invite.h"
#include "protocol/usi-join.h"
#include "protocol/usi-owner-group.h"
#include "protocol/usi-relay-frame.h"

#define WATCHDOG_SECONDS 60
#define HOUR_MS          (3600 * 1000)

static guint64
now_ms (void)
{
  return (guint64) (g_get_real_time () / 1000);
}

/* Spinning the thread-default main context with a watchdog */

static gboolean
watchdog_cb (gpointer user_data)
{
  g_error ("watchdog: %s did not happen within %d s", (const char *) user_data, WATCHDOG_SECONDS);
  return G_SOURCE_REMOVE;
}

typedef gboolean (*Condition) (gpointer data);

static void
spin_until (Condition   condition,
            gpointer    data,
            const char *what)
{
  g_autoptr(GMainContext) context = g_main_context_ref_thread_default ();
  g_autoptr(GSource) watchdog = g_timeout_source_new_seconds (WATCHDOG_SECONDS);

  g_source_set_callback (watchdog, watchdog_cb, (gpointer) what, NULL);
  g_source_attach (watchdog, context);
  while (!condition (data))
    g_main_context_iteration (context, TRUE);
  g_source_destroy (watchdog);
}

/* Runs whatever is ready, so closed connections finish their callbacks. */
static void
drain_main_context (void)
{
  g_autoptr(GMainContext) context = g_main_context_ref_thread_default ();
  gint64 until = g_get_monotonic_time () + 200 * 1000;

  while (g_get_monotonic_time () < until)
    if (!g_main_context_iteration (context, FALSE))
      g_usleep (1000);
}

/* People */

typedef struct
{
  UsiIdentity   *identity;
  UsiLeafSecret  leaf;
} Person;

static Person *
person_new (void)
{
  g_autoptr(GError) error = NULL;
  Person *person = g_new0 (Person, 1);

  person->identity = usi_identity_generate (usi_random_get_system (), &error);
  g_assert_no_error (error);
  g_assert_true (usi_leaf_secret_generate (usi_random_get_system (), person->identity, 1, now_ms (),
                                           &person->leaf, &error));
  g_assert_no_error (error);
  return person;
}

static void
person_free (Person *person)
{
  if (person == NULL)
    return;

  usi_identity_free (person->identity);
  usi_leaf_secret_clear (&person->leaf);
  g_free (person);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Person, person_free)

static const guint8 *
person_key (Person *person)
{
  return usi_identity_get_public_key (person->identity);
}

/* The relay under test */

typedef struct
{
  UsiTlsIdentity *tls;
  UsiRelayStore  *store;
  UsiRelay       *relay;
  guint16         port;
  char           *address;
} TestRelay;

static void
test_relay_start_full (TestRelay            *relay,
                       const UsiRelayLimits *limits,
                       const char           *sqlite_dir)
{
  g_autoptr(GError) error = NULL;

  if (relay->tls == NULL)
    {
      relay->tls = usi_tls_identity_generate ("test-relay", &error);
      g_assert_no_error (error);
    }
  if (relay->store == NULL)
    {
      if (sqlite_dir != NULL)
        relay->store = usi_relay_store_open (sqlite_dir, NULL, &error);
      else
        relay->store = usi_relay_store_new_memory (NULL);
      g_assert_no_error (error);
    }
  relay->relay = usi_relay_new (relay->tls, relay->store, limits, &error);
  g_assert_no_error (error);
  g_assert_true (usi_relay_listen (relay->relay, "127.0.0.1:0", &error));
  g_assert_no_error (error);
  relay->port = usi_relay_get_port (relay->relay);
  g_assert_cmpuint (relay->port, >, 0);
  g_free (relay->address);
  relay->address = usi_relay_dup_listen_address (relay->relay);
  {
    g_autofree char *expected = g_strdup_printf ("127.0.0.1:%u", relay->port);

    g_assert_cmpstr (relay->address, ==, expected);
  }
}

static void
test_relay_start (TestRelay *relay)
{
  test_relay_start_full (relay, NULL, NULL);
}

static void
test_relay_stop (TestRelay *relay)
{
  if (relay->relay != NULL)
    {
      usi_relay_stop (relay->relay);
      g_assert_cmpuint (usi_relay_get_n_connections (relay->relay), ==, 0);
      g_clear_object (&relay->relay);
    }
  drain_main_context ();
}

static void
test_relay_clear (TestRelay *relay)
{
  test_relay_stop (relay);
  g_clear_object (&relay->store);
  g_clear_object (&relay->tls);
  g_clear_pointer (&relay->address, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (TestRelay, test_relay_clear)

/* A client: one TLS connection, the control frames it received */

typedef struct
{
  UsiConnection *connection;
  GQueue         frames;          /* UsiRelayFrame *, decoded */
  gboolean       handshake_done;
  GError        *handshake_error;
  gboolean       closed;
  guint64        next_request_id;
  guint64        next_nonce;
} TestClient;

static void
relay_frame_free (UsiRelayFrame *frame)
{
  usi_relay_frame_clear (frame);
  g_free (frame);
}

static void
client_frame_cb (UsiConnection *connection,
                 guint          type,
                 GBytes        *body,
                 gpointer       user_data)
{
  TestClient *client = user_data;
  g_autoptr(GError) error = NULL;
  UsiRelayFrame *frame = g_new0 (UsiRelayFrame, 1);

  g_assert_true (usi_relay_frame_decode (type, body, frame, &error));
  g_assert_no_error (error);
  g_queue_push_tail (&client->frames, frame);
}

static void
client_closed_cb (UsiConnection *connection,
                  const GError  *reason,
                  gpointer       user_data)
{
  TestClient *client = user_data;

  g_test_message ("client closed: %s", reason != NULL ? reason->message : "");
  client->closed = TRUE;
}

static void
client_handshake_cb (GObject      *object,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  TestClient *client = user_data;

  usi_connection_handshake_finish (USI_CONNECTION (object), result, &client->handshake_error);
  client->handshake_done = TRUE;
}

static gboolean
client_handshake_finished (gpointer data)
{
  return ((TestClient *) data)->handshake_done;
}

static GSocketConnection *
tcp_connect (guint16 port)
{
  g_autoptr(GSocketClient) socket_client = g_socket_client_new ();
  g_autoptr(GError) error = NULL;
  GSocketConnection *connection;

  connection = g_socket_client_connect_to_host (socket_client, "127.0.0.1", port, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_socket_set_option (g_socket_connection_get_socket (connection), IPPROTO_TCP, TCP_NODELAY, 1, NULL));
  return connection;
}

/* Connects and runs the TLS handshake; its outcome is in handshake_error. */
static TestClient *
client_connect_unchecked (TestRelay *relay)
{
  g_autoptr(GSocketConnection) stream = tcp_connect (relay->port);
  TestClient *client = g_new0 (TestClient, 1);
  UsiConnectionLimits limits;

  usi_connection_limits_init_default (&limits);
  limits.idle_timeout_ms = 0;
  /* A client catching up receives far more than a client may send. */
  limits.frames_per_second = 0;
  client->next_request_id = g_random_int () + 1;
  client->next_nonce = 1;
  client->connection = usi_connection_new_client (G_IO_STREAM (stream),
                                                  usi_tls_identity_get_pin (relay->tls), &limits);
  g_signal_connect (client->connection, "frame-received", G_CALLBACK (client_frame_cb), client);
  g_signal_connect (client->connection, "closed", G_CALLBACK (client_closed_cb), client);
  usi_connection_handshake_async (client->connection, NULL, client_handshake_cb, client);
  spin_until (client_handshake_finished, client, "the TLS handshake");
  return client;
}

static TestClient *
client_connect (TestRelay *relay)
{
  TestClient *client = client_connect_unchecked (relay);

  g_assert_no_error (client->handshake_error);
  return client;
}

static void
client_free (TestClient *client)
{
  if (client == NULL)
    return;

  g_signal_handlers_disconnect_by_data (client->connection, client);
  usi_connection_close (client->connection);
  g_clear_object (&client->connection);
  g_queue_clear_full (&client->frames, (GDestroyNotify) relay_frame_free);
  g_clear_error (&client->handshake_error);
  g_free (client);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestClient, client_free)

static void
client_send (TestClient *client,
             GBytes     *frame)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (usi_connection_send (client->connection, frame, &error));
  g_assert_no_error (error);
}

static gboolean
client_has_frame_or_closed (gpointer data)
{
  TestClient *client = data;

  return !g_queue_is_empty (&client->frames) || client->closed;
}

/* The next frame received; it must be of @type. */
static UsiRelayFrame *
client_next (TestClient        *client,
             UsiRelayFrameType  type)
{
  UsiRelayFrame *frame;

  spin_until (client_has_frame_or_closed, client, "a frame");
  g_assert_false (g_queue_is_empty (&client->frames));
  frame = g_queue_pop_head (&client->frames);
  g_assert_cmpuint (frame->type, ==, type);
  return frame;
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiRelayFrame, relay_frame_free)

static gboolean
client_is_closed (gpointer data)
{
  return ((TestClient *) data)->closed;
}

static void
client_expect_closed (TestClient *client)
{
  spin_until (client_is_closed, client, "the relay closing the connection");
  g_assert_true (g_queue_is_empty (&client->frames));
}

/* Nothing was queued to this client before the relay answered a Ping sent
 * now: the relay handles a connection's frames in order and queues
 * deliveries before it acknowledges the post that caused them. */
static void
client_expect_nothing (TestClient *client)
{
  g_autoptr(GBytes) ping = usi_relay_frame_new_ping (client->next_nonce);
  g_autoptr(UsiRelayFrame) pong = NULL;

  client_send (client, ping);
  pong = client_next (client, USI_RELAY_FRAME_PONG);
  g_assert_cmpuint (pong->nonce, ==, client->next_nonce);
  client->next_nonce++;
}

static void
client_hello (TestClient *client,
              Person     *person)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) hello = NULL;
  g_autoptr(UsiRelayFrame) ok = NULL;
  guint8 exporter[USI_RELAY_EXPORTER_LENGTH];
  guint8 tbs[64];
  guint8 signature[USI_RELAY_SIGNATURE_LENGTH];

  g_assert_true (usi_connection_export_keying_material (client->connection, USI_RELAY_EXPORTER_LABEL,
                                                        exporter, sizeof exporter, &error));
  g_assert_no_error (error);
  usi_relay_hello_tbs (exporter, usi_connection_get_client_spki_hash (client->connection), tbs);
  g_assert_true (usi_identity_sign (person->identity, USI_RELAY_HELLO_LABEL, tbs, sizeof tbs, signature, &error));
  g_assert_no_error (error);
  hello = usi_relay_frame_new_hello (person_key (person), signature);
  client_send (client, hello);

  ok = client_next (client, USI_RELAY_FRAME_HELLO_OK);
  g_assert_cmpuint (ok->time_ms, >=, now_ms () - HOUR_MS);
  g_assert_cmpuint (ok->time_ms, <=, now_ms () + HOUR_MS);
}

static TestClient *
client_new (TestRelay *relay,
            Person    *person)
{
  TestClient *client = client_connect (relay);

  client_hello (client, person);
  return client;
}

static void
client_expect_ack (TestClient *client,
                   guint64     request_id,
                   guint64    *seq,
                   guint8     *flags)
{
  g_autoptr(UsiRelayFrame) ack = NULL;

  spin_until (client_has_frame_or_closed, client, "an answer");
  g_assert_false (g_queue_is_empty (&client->frames));
  if (((UsiRelayFrame *) g_queue_peek_head (&client->frames))->type == USI_RELAY_FRAME_REFUSED)
    {
      g_autoptr(UsiRelayFrame) refused = g_queue_pop_head (&client->frames);

      g_error ("request refused: %s (%s)", usi_relay_refused_code_to_string (refused->code), refused->message);
    }
  ack = client_next (client, USI_RELAY_FRAME_ACK);
  g_assert_cmpuint (ack->request_id, ==, request_id);
  if (seq != NULL)
    *seq = ack->seq;
  if (flags != NULL)
    *flags = ack->flags;
  else
    g_assert_cmpuint (ack->flags, ==, 0);
}

static void
client_expect_refused (TestClient          *client,
                       guint64              request_id,
                       UsiRelayRefusedCode  code)
{
  g_autoptr(UsiRelayFrame) refused = client_next (client, USI_RELAY_FRAME_REFUSED);

  g_assert_cmpuint (refused->request_id, ==, request_id);
  g_assert_cmpstr (usi_relay_refused_code_to_string (refused->code), ==, usi_relay_refused_code_to_string (code));
  g_assert_cmpuint (refused->code, ==, code);
  g_assert_nonnull (refused->message);
  g_assert_cmpuint (strlen (refused->message), >, 0);
}

/* The next frame must be a Deliver of @frame as @seq in @room_id. */
static void
client_expect_deliver (TestClient   *client,
                       const guint8 *room_id,
                       guint64       seq,
                       GBytes       *frame)
{
  g_autoptr(UsiRelayFrame) deliver = client_next (client, USI_RELAY_FRAME_DELIVER);

  g_assert_cmpmem (deliver->room_id, USI_RELAY_ID_LENGTH, room_id, USI_RELAY_ID_LENGTH);
  g_assert_cmpuint (deliver->seq, ==, seq);
  g_assert_true (g_bytes_equal (deliver->frame, frame));
}

/* Requests */

static guint64
send_post (TestClient   *client,
           const guint8 *room_id,
           const guint8 *recipient,
           GBytes       *frame)
{
  guint64 request_id = client->next_request_id++;
  g_autoptr(GBytes) post = usi_relay_frame_new_post (request_id, room_id, recipient, frame);

  client_send (client, post);
  return request_id;
}

static guint64
post_ok (TestClient   *client,
         const guint8 *room_id,
         const guint8 *recipient,
         GBytes       *frame,
         guint8       *flags)
{
  guint64 seq = 0;
  guint64 request_id = send_post (client, room_id, recipient, frame);

  client_expect_ack (client, request_id, &seq, flags);
  return seq;
}

static void
post_refused (TestClient          *client,
              const guint8        *room_id,
              const guint8        *recipient,
              GBytes              *frame,
              UsiRelayRefusedCode  code)
{
  guint64 request_id = send_post (client, room_id, recipient, frame);

  client_expect_refused (client, request_id, code);
}

static guint64
subscribe (TestClient   *client,
           const guint8 *room_id,
           guint64       after_seq)
{
  guint64 request_id = client->next_request_id++;
  g_autoptr(GBytes) request = usi_relay_frame_new_subscribe (request_id, room_id, after_seq);
  guint64 last_seq = 0;

  client_send (client, request);
  client_expect_ack (client, request_id, &last_seq, NULL);
  return last_seq;
}

static void
subscribe_refused (TestClient          *client,
                   const guint8        *room_id,
                   UsiRelayRefusedCode  code)
{
  guint64 request_id = client->next_request_id++;
  g_autoptr(GBytes) request = usi_relay_frame_new_subscribe (request_id, room_id, 0);

  client_send (client, request);
  client_expect_refused (client, request_id, code);
}

static void
open_preshared (TestClient   *client,
                const guint8 *room_id)
{
  guint64 request_id = client->next_request_id++;
  g_autoptr(GBytes) request = usi_relay_frame_new_open_preshared_room (request_id, room_id);

  client_send (client, request);
  client_expect_ack (client, request_id, NULL, NULL);
}

static guint64
register_invite (TestClient   *client,
                 const guint8 *room_id,
                 const guint8 *invite_id,
                 guint64       expires_ms)
{
  guint64 request_id = client->next_request_id++;
  g_autoptr(GBytes) request = usi_relay_frame_new_register_invite (request_id, room_id, invite_id, expires_ms);

  client_send (client, request);
  return request_id;
}

static GBytes *
frame_new (guint8      type,
           const void *body,
           gsize       length)
{
  g_autoptr(GError) error = NULL;
  GBytes *frame = usi_frame_encode (type, body, length, &error);

  g_assert_no_error (error);
  return frame;
}

static GBytes *
frame_from_body (guint8  type,
                 GBytes *body)
{
  return frame_new (type, g_bytes_get_data (body, NULL), g_bytes_get_size (body));
}

static GBytes *
message_new (const char *text)
{
  return frame_new (USI_FRAME_APP_MESSAGE, text, strlen (text));
}

/* An owned room built with the real protocol */

typedef struct
{
  Person        *owner;
  UsiOwnerGroup *group;
  guint8         room_id[USI_RELAY_ID_LENGTH];
  GBytes        *create;      /* the epoch 0 Commit body */
} OwnedRoom;

static OwnedRoom *
owned_room_new (void)
{
  g_autoptr(GError) error = NULL;
  OwnedRoom *room = g_new0 (OwnedRoom, 1);
  UsiRoomConfig config;

  usi_room_config_init_default (&config);
  room->owner = person_new ();
  g_assert_true (usi_random_fill (usi_random_get_system (), room->room_id, sizeof room->room_id, &error));
  room->group = usi_owner_group_create (room->owner->identity, &room->owner->leaf.node, "Owner", room->room_id,
                                        &config, NULL, usi_random_get_system (), &room->create, &error);
  g_assert_no_error (error);
  g_assert_nonnull (room->group);
  return room;
}

static void
owned_room_free (OwnedRoom *room)
{
  usi_owner_group_free (room->group);
  person_free (room->owner);
  g_bytes_unref (room->create);
  g_free (room);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (OwnedRoom, owned_room_free)

/* CreateRoom; the Ack carries the create commit's sequence number, 1. */
static void
create_room (TestClient *owner,
             OwnedRoom  *room)
{
  guint64 request_id = owner->next_request_id++;
  g_autoptr(GBytes) request = usi_relay_frame_new_create_room (request_id, room->create);
  guint64 seq = 0;

  client_send (owner, request);
  client_expect_ack (owner, request_id, &seq, NULL);
  g_assert_cmpuint (seq, ==, 1);
}

typedef struct
{
  GBytes  *commit;     /* whole frames */
  GBytes  *welcome;
  guint64  commit_seq;
  guint64  welcome_seq;
  guint32  index;
} Added;

static void
added_clear (Added *added)
{
  g_clear_pointer (&added->commit, g_bytes_unref);
  g_clear_pointer (&added->welcome, g_bytes_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Added, added_clear)

/* The owner adds @person: posts the Commit to the room, then the Welcome to
 * the person (whose connection state decides the Ack flag). */
static void
add_member (TestClient *owner,
            OwnedRoom  *room,
            Person     *person,
            const char *name,
            Added      *added)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) commit = NULL;
  g_autoptr(GBytes) welcome = NULL;
  guint8 flags = 0;

  g_assert_true (usi_owner_group_add_member (room->group, &person->leaf.node, name, usi_random_get_system (),
                                             &added->index, &commit, &welcome, &error));
  g_assert_no_error (error);
  added->commit = frame_from_body (USI_FRAME_COMMIT, commit);
  added->welcome = frame_from_body (USI_FRAME_WELCOME, welcome);
  added->commit_seq = post_ok (owner, room->room_id, NULL, added->commit, NULL);
  added->welcome_seq = post_ok (owner, room->room_id, person_key (person), added->welcome, &flags);
  g_assert_cmpuint (added->welcome_seq, ==, added->commit_seq + 1);
}

static GBytes *
remove_member (TestClient *owner,
               OwnedRoom  *room,
               guint32     index,
               guint64    *seq)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) commit = NULL;
  GBytes *frame;

  g_assert_true (usi_owner_group_remove_member (room->group, index, usi_random_get_system (), &commit, &error));
  g_assert_no_error (error);
  frame = frame_from_body (USI_FRAME_COMMIT, commit);
  *seq = post_ok (owner, room->room_id, NULL, frame, NULL);
  return frame;
}

static UsiInvite *
invite_new (TestRelay *relay,
            OwnedRoom *room)
{
  g_autoptr(GError) error = NULL;
  UsiInvite *invite;

  invite = usi_invite_new (usi_random_get_system (), USI_INVITE_FLAGS_NONE, relay->address,
                           usi_tls_identity_get_pin (relay->tls), room->room_id, &room->owner->leaf.node,
                           now_ms () + HOUR_MS, &error);
  g_assert_no_error (error);
  return invite;
}

static GBytes *
join_request_new (UsiInvite *invite,
                  Person    *joiner)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiJoinRequest) request = NULL;
  g_autoptr(GBytes) body = NULL;

  request = usi_join_request_new (usi_random_get_system (), invite, joiner->identity, &joiner->leaf, "Joiner",
                                  NULL, &error);
  g_assert_no_error (error);
  body = usi_join_request_encode (request);
  return frame_from_body (USI_FRAME_JOIN_REQUEST, body);
}

/* Hello */

static void
test_hello_bad_signature (void)
{
  g_auto(TestRelay) relay = { 0 };
  g_autoptr(Person) person = person_new ();
  g_autoptr(Person) other = person_new ();
  g_autoptr(TestClient) client = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) hello = NULL;
  g_autoptr(UsiRelayFrame) refused = NULL;
  guint8 exporter[USI_RELAY_EXPORTER_LENGTH];
  guint8 tbs[64];
  guint8 signature[USI_RELAY_SIGNATURE_LENGTH];

  test_relay_start (&relay);
  client = client_connect (&relay);

  /* Signed by another key than the one it names. */
  g_assert_true (usi_connection_export_keying_material (client->connection, USI_RELAY_EXPORTER_LABEL,
                                                        exporter, sizeof exporter, &error));
  usi_relay_hello_tbs (exporter, usi_connection_get_client_spki_hash (client->connection), tbs);
  g_assert_true (usi_identity_sign (other->identity, USI_RELAY_HELLO_LABEL, tbs, sizeof tbs, signature, &error));
  hello = usi_relay_frame_new_hello (person_key (person), signature);
  client_send (client, hello);

  refused = client_next (client, USI_RELAY_FRAME_REFUSED);
  g_assert_cmpuint (refused->code, ==, USI_RELAY_REFUSED_BAD_HELLO);
  g_assert_cmpuint (refused->request_id, ==, 0);
  client_expect_closed (client);
}

static void
test_hello_replayed (void)
{
  g_auto(TestRelay) relay = { 0 };
  g_autoptr(Person) person = person_new ();
  g_autoptr(TestClient) first = NULL;
  g_autoptr(TestClient) second = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) hello = NULL;
  g_autoptr(UsiRelayFrame) refused = NULL;
  guint8 exporter[USI_RELAY_EXPORTER_LENGTH];
  guint8 tbs[64];
  guint8 signature[USI_RELAY_SIGNATURE_LENGTH];

  test_relay_start (&relay);
  first = client_connect (&relay);
  second = client_connect (&relay);

  /* A Hello made for the first session, replayed on the second. */
  g_assert_true (usi_connection_export_keying_material (first->connection, USI_RELAY_EXPORTER_LABEL,
                                                        exporter, sizeof exporter, &error));
  usi_relay_hello_tbs (exporter, usi_connection_get_client_spki_hash (first->connection), tbs);
  g_assert_true (usi_identity_sign (person->identity, USI_RELAY_HELLO_LABEL, tbs, sizeof tbs, signature, &error));
  hello = usi_relay_frame_new_hello (person_key (person), signature);
  client_send (second, hello);

  refused = client_next (second, USI_RELAY_FRAME_REFUSED);
  g_assert_cmpuint (refused->code, ==, USI_RELAY_REFUSED_BAD_HELLO);
  client_expect_closed (second);

  /* The session it was made for accepts it. */
  client_send (first, hello);
  g_clear_pointer (&refused, relay_frame_free);
  refused = client_next (first, USI_RELAY_FRAME_HELLO_OK);
}

static void
test_hello_frame_before_hello (void)
{
  g_auto(TestRelay) relay = { 0 };
  g_autoptr(TestClient) client = NULL;
  g_autoptr(GBytes) request = NULL;
  g_autoptr(UsiRelayFrame) refused = NULL;
  guint8 room_id[USI_RELAY_ID_LENGTH] = { 1 };

  test_relay_start (&relay);
  client = client_connect (&relay);

  request = usi_relay_frame_new_subscribe (7, room_id, 0);
  client_send (client, request);
  refused = client_next (client, USI_RELAY_FRAME_REFUSED);
  g_assert_cmpuint (refused->code, ==, USI_RELAY_REFUSED_BAD_HELLO);
  client_expect_closed (client);
  g_assert_cmpuint (usi_relay_get_n_connections (relay.relay), ==, 0);
}

static void
test_hello_ping (void)
{
  g_auto(TestRelay) relay = { 0 };
  g_autoptr(Person) person = person_new ();
  g_autoptr(TestClient) client = NULL;

  test_relay_start (&relay);
  client = client_new (&relay, person);
  client_expect_nothing (client);
  client_expect_nothing (client);
  g_assert_cmpuint (usi_relay_get_n_connections (relay.relay), ==, 1);
}

/* Rooms, posts, sequence numbers */

static void
test_room_post_and_resend (void)
{
  g_auto(TestRelay) relay = { 0 };
  g_autoptr(OwnedRoom) room = owned_room_new ();
  g_autoptr(Person) bob = person_new ();
  g_autoptr(Person) carol = person_new ();
  g_autoptr(TestClient) owner = NULL;
  g_autoptr(TestClient) b = NULL;
  g_autoptr(TestClient) c = NULL;
  g_autoptr(GBytes) message = message_new ("ciphertext from bob");
  g_auto(Added) add_bob = { 0 };
  g_auto(Added) add_carol = { 0 };
  guint64 request_id;
  guint64 seq = 0;
  guint64 again = 0;

  test_relay_start (&relay);
  owner = client_new (&relay, room->owner);
  b = client_new (&relay, bob);
  c = client_new (&relay, carol);

  create_room (owner, room);
  g_assert_cmpuint (subscribe (owner, room->room_id, 0), ==, 1);
  client_expect_nothing (owner);   /* its own create is not sent back */

  /* Bob is connected, not subscribed: the Welcome reaches him anyway. */
  add_member (owner, room, bob, "Bob", &add_bob);
  client_expect_deliver (b, room->room_id, add_bob.welcome_seq, add_bob.welcome);
  g_assert_cmpuint (subscribe (b, room->room_id, add_bob.welcome_seq), ==, add_bob.welcome_seq);
  client_expect_nothing (b);

  add_member (owner, room, carol, "Carol", &add_carol);
  client_expect_deliver (b, room->room_id, add_carol.commit_seq, add_carol.commit);
  client_expect_deliver (c, room->room_id, add_carol.welcome_seq, add_carol.welcome);
  client_expect_nothing (b);
  g_assert_cmpuint (subscribe (c, room->room_id, add_carol.welcome_seq), ==, add_carol.welcome_seq);

  /* Bob's message: everyone else gets it once, Bob gets the Ack. */
  request_id = send_post (b, room->room_id, NULL, message);
  client_expect_ack (b, request_id, &seq, NULL);
  g_assert_cmpuint (seq, ==, add_carol.welcome_seq + 1);
  client_expect_deliver (owner, room->room_id, seq, message);
  client_expect_deliver (c, room->room_id, seq, message);
  client_expect_nothing (b);

  /* The same request again (a lost Ack): the same seq, no second delivery. */
  {
    g_autoptr(GBytes) post = usi_relay_frame_new_post (request_id, room->room_id, NULL, message);

    client_send (b, post);
    client_expect_ack (b, request_id, &again, NULL);
  }
  g_assert_cmpuint (again, ==, seq);
  client_expect_nothing (owner);
  client_expect_nothing (c);
  client_expect_nothing (b);

  /* The next one counts on. */
  g_assert_cmpuint (post_ok (c, room->room_id, NULL, message, NULL), ==, seq + 1);
  client_expect_deliver (owner, room->room_id, seq + 1, message);
  client_expect_deliver (b, room->room_id, seq + 1, message);

  /* Creating the room again: Ack for its owner, ROOM_EXISTS for others. */
  create_room (owner, room);
  {
    guint64 id = b->next_request_id++;
    g_autoptr(GBytes) request = usi_relay_frame_new_create_room (id, room->create);

    client_send (b, request);
    client_expect_refused (b, id, USI_RELAY_REFUSED_NOT_OWNER);
  }
}

static void
test_room_create_checks (void)
{
  g_auto(TestRelay) relay = { 0 };
  g_autoptr(OwnedRoom) room = owned_room_new ();
  g_autoptr(OwnedRoom) rival = NULL;
  g_autoptr(TestClient) owner = NULL;
  g_autoptr(TestClient) other = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) garbage = g_bytes_new_static ("not a commit", 12);
  UsiRoomConfig config;
  guint64 id;

  test_relay_start (&relay);
  owner = client_new (&relay, room->owner);

  /* Not a commit at all. */
  id = owner->next_request_id++;
  {
    g_autoptr(GBytes) request = usi_relay_frame_new_create_room (id, garbage);

    client_send (owner, request);
    client_expect_refused (owner, id, USI_RELAY_REFUSED_BAD_COMMIT);
  }

  create_room (owner, room);

  /* Another owner's genesis for the same room id. */
  rival = g_new0 (OwnedRoom, 1);
  rival->owner = person_new ();
  memcpy (rival->room_id, room->room_id, sizeof rival->room_id);
  usi_room_config_init_default (&config);
  rival->group = usi_owner_group_create (rival->owner->identity, &rival->owner->leaf.node, "Rival",
                                         rival->room_id, &config, NULL, usi_random_get_system (),
                                         &rival->create, &error);
  g_assert_no_error (error);
  other = client_new (&relay, rival->owner);
  id = other->next_request_id++;
  {
    g_autoptr(GBytes) request = usi_relay_frame_new_create_room (id, rival->create);

    client_send (other, request);
    client_expect_refused (other, id, USI_RELAY_REFUSED_ROOM_EXISTS);
  }
  /* Nor can the owner replace its own genesis. */
  {
    g_autoptr(OwnedRoom) second = owned_room_new ();
    g_autoptr(GBytes) forged = NULL;

    usi_owner_group_free (second->group);
    g_clear_pointer (&second->create, g_bytes_unref);
    memcpy (second->room_id, room->room_id, sizeof second->room_id);
    second->group = usi_owner_group_create (room->owner->identity, &room->owner->leaf.node, "Owner again",
                                            second->room_id, &config, NULL, usi_random_get_system (),
                                            &second->create, &error);
    g_assert_no_error (error);
    id = owner->next_request_id++;
    forged = usi_relay_frame_new_create_room (id, second->create);
    client_send (owner, forged);
    client_expect_refused (owner, id, USI_RELAY_REFUSED_ROOM_EXISTS);
  }

  /* The room id of an owned room cannot be opened as a pre-shared one. */
  id = other->next_request_id++;
  {
    g_autoptr(GBytes) request = usi_relay_frame_new_open_preshared_room (id, room->room_id);

    client_send (other, request);
    client_expect_refused (other, id, USI_RELAY_REFUSED_ROOM_EXISTS);
  }
}

static void
test_room_subscribe_refused (void)
{
  g_auto(TestRelay) relay = { 0 };
  g_autoptr(OwnedRoom) room = owned_room_new ();
  g_autoptr(Person) stranger = person_new ();
  g_autoptr(TestClient) owner = NULL;
  g_autoptr(TestClient) s = NULL;
  g_autoptr(GBytes) message = message_new ("x");
  guint8 unknown[USI_RELAY_ID_LENGTH] = { 0xee };

  test_relay_start (&relay);
  owner = client_new (&relay, room->owner);
  s = client_new (&relay, stranger);
  create_room (owner, room);

  subscribe_refused (s, room->room_id, USI_RELAY_REFUSED_NOT_MEMBER);
  subscribe_refused (s, unknown, USI_RELAY_REFUSED_UNKNOWN_ROOM);
  post_refused (s, room->room_id, NULL, message, USI_RELAY_REFUSED_NOT_MEMBER);
  post_refused (s, unknown, NULL, message, USI_RELAY_REFUSED_UNKNOWN_ROOM);

  /* A request that does not decode is answered MALFORMED with its id. */
  {
    g_autoptr(GBytes) bad = NULL;
    guint8 body[24] = { 0, 0, 0, 0, 0, 0, 0, 42 };
    guint8 framed[6 + sizeof body] = { 0, 0, 0, 2 + 23, 1, USI_RELAY_FRAME_SUBSCRIBE };

    /* A Subscribe body one byte short. */
    memcpy (framed + 6, body, 23);
    bad = g_bytes_new (framed, 6 + 23);
    client_send (s, bad);
    client_expect_refused (s, 42, USI_RELAY_REFUSED_MALFORMED);
  }
  client_expect_nothing (s);
}

/* Row R3: roles come only from owner-signed commits. */
static void
test_r3_member_claims_owner (void)
{
  g_auto(TestRelay) relay = { 0 };
  g_autoptr(OwnedRoom) room = owned_room_new ();
  g_autoptr(OwnedRoom) fake = NULL;
  g_autoptr(Person) bob = person_new ();
  g_autoptr(Person) carol = person_new ();
  g_autoptr(Person) mallory = person_new ();
  g_autoptr(TestClient) owner = NULL;
  g_autoptr(TestClient) b = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) rotate = NULL;
  g_autoptr(GBytes) rotate_frame = NULL;
  g_autoptr(GBytes) forged_frame = NULL;
  g_autoptr(GBytes) fake_welcome = NULL;
  g_auto(Added) add_bob = { 0 };
  UsiRoomConfig config;
  guint64 seq;

  test_relay_start (&relay);
  owner = client_new (&relay, room->owner);
  b = client_new (&relay, bob);
  create_room (owner, room);
  add_member (owner, room, bob, "Bob", &add_bob);
  client_expect_deliver (b, room->room_id, add_bob.welcome_seq, add_bob.welcome);
  subscribe (b, room->room_id, add_bob.welcome_seq);

  /* Bob posts the owner's genuine next commit: still not the owner. */
  g_assert_true (usi_owner_group_rotate (room->group, usi_random_get_system (), &rotate, &error));
  g_assert_no_error (error);
  rotate_frame = frame_from_body (USI_FRAME_COMMIT, rotate);
  post_refused (b, room->room_id, NULL, rotate_frame, USI_RELAY_REFUSED_NOT_OWNER);

  /* Bob welcomes Mallory, or refuses her: owner only. */
  fake_welcome = message_new ("not really a welcome");
  {
    g_autoptr(GBytes) welcome = frame_new (USI_FRAME_WELCOME, "w", 1);
    g_autoptr(GBytes) refusal = frame_new (USI_FRAME_JOIN_REFUSAL, "r", 1);

    post_refused (b, room->room_id, person_key (mallory), welcome, USI_RELAY_REFUSED_NOT_OWNER);
    post_refused (b, room->room_id, person_key (mallory), refusal, USI_RELAY_REFUSED_NOT_OWNER);
    /* Frames for the room cannot be aimed at one person, nor a welcome at the room. */
    post_refused (b, room->room_id, person_key (carol), fake_welcome, USI_RELAY_REFUSED_NOT_ALLOWED);
    post_refused (owner, room->room_id, NULL, welcome, USI_RELAY_REFUSED_NOT_ALLOWED);
  }

  /* Bob builds his own "owner group" for the room id: its commit is
   * signed by Bob, not the owner, and does not follow the chain. */
  fake = g_new0 (OwnedRoom, 1);
  fake->owner = NULL;
  memcpy (fake->room_id, room->room_id, sizeof fake->room_id);
  usi_room_config_init_default (&config);
  fake->group = usi_owner_group_create (bob->identity, &bob->leaf.node, "Bob the owner", fake->room_id,
                                        &config, NULL, usi_random_get_system (), &fake->create, &error);
  g_assert_no_error (error);
  {
    g_autoptr(GBytes) commit = NULL;
    g_autoptr(GBytes) welcome = NULL;

    g_assert_true (usi_owner_group_add_member (fake->group, &mallory->leaf.node, "Mallory",
                                               usi_random_get_system (), NULL, &commit, &welcome, &error));
    g_assert_no_error (error);
    forged_frame = frame_from_body (USI_FRAME_COMMIT, commit);
  }
  post_refused (b, room->room_id, NULL, forged_frame, USI_RELAY_REFUSED_NOT_OWNER);
  /* Even posted by the owner's own connection it does not follow the chain. */
  post_refused (owner, room->room_id, NULL, forged_frame, USI_RELAY_REFUSED_BAD_COMMIT);
  /* Nor does an old commit replayed. */
  {
    g_autoptr(GBytes) genesis = frame_from_body (USI_FRAME_COMMIT, room->create);

    post_refused (owner, room->room_id, NULL, genesis, USI_RELAY_REFUSED_BAD_COMMIT);
  }
  client_expect_nothing (b);

  /* The room is unchanged: the owner's real rotation follows the chain. */
  seq = post_ok (owner, room->room_id, NULL, rotate_frame, NULL);
  client_expect_deliver (b, room->room_id, seq, rotate_frame);

  /* Mallory was never added: she is no member. */
  {
    g_autoptr(TestClient) m = client_new (&relay, mallory);

    subscribe_refused (m, room->room_id, USI_RELAY_REFUSED_NOT_MEMBER);
  }

  /* Only the owner registers invites; a member leaf update goes to it. */
  {
    guint8 invite_id[USI_RELAY_ID_LENGTH] = { 9 };
    guint64 id = register_invite (b, room->room_id, invite_id, now_ms () + HOUR_MS);

    client_expect_refused (b, id, USI_RELAY_REFUSED_NOT_OWNER);
  }
  {
    g_autoptr(GBytes) update = frame_new (USI_FRAME_LEAF_UPDATE, "u", 1);

    post_refused (owner, room->room_id, NULL, update, USI_RELAY_REFUSED_NOT_ALLOWED);
    seq = post_ok (b, room->room_id, NULL, update, NULL);
    client_expect_deliver (owner, room->room_id, seq, update);
    client_expect_nothing (b);
  }
}

/* Invites */

static void
test_invites (void)
{
  g_auto(TestRelay) relay = { 0 };
  g_autoptr(OwnedRoom) room = owned_room_new ();
  g_autoptr(Person) joiner = person_new ();
  g_autoptr(Person) thief = person_new ();
  g_autoptr(TestClient) owner = NULL;
  g_autoptr(TestClient) j = NULL;
  g_autoptr(TestClient) t = NULL;
  g_autoptr(UsiInvite) unregistered = NULL;
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(UsiInvite) expired = NULL;
  g_autoptr(GBytes) unregistered_request = NULL;
  g_autoptr(GBytes) request = NULL;
  g_autoptr(GBytes) thief_request = NULL;
  g_autoptr(GBytes) expired_request = NULL;
  g_autoptr(GError) error = NULL;
  guint64 request_id;
  guint64 seq = 0;
  guint64 again = 0;
  guint8 flags = 0xff;

  test_relay_start (&relay);
  owner = client_new (&relay, room->owner);
  j = client_new (&relay, joiner);
  t = client_new (&relay, thief);
  create_room (owner, room);
  subscribe (owner, room->room_id, 0);

  /* An invite the owner never registered. */
  unregistered = invite_new (&relay, room);
  unregistered_request = join_request_new (unregistered, joiner);
  post_refused (j, room->room_id, NULL, unregistered_request, USI_RELAY_REFUSED_INVITE_UNKNOWN);

  /* Registered (twice: idempotent), then used. */
  invite = invite_new (&relay, room);
  client_expect_ack (owner, register_invite (owner, room->room_id, usi_invite_get_id (invite),
                                             usi_invite_get_expires_ms (invite)), NULL, NULL);
  client_expect_ack (owner, register_invite (owner, room->room_id, usi_invite_get_id (invite),
                                             usi_invite_get_expires_ms (invite)), NULL, NULL);
  request = join_request_new (invite, joiner);
  request_id = send_post (j, room->room_id, NULL, request);
  client_expect_ack (j, request_id, &seq, &flags);
  g_assert_cmpuint (flags, ==, 0);   /* the owner is connected */
  client_expect_deliver (owner, room->room_id, seq, request);

  /* Someone else with the same invite. */
  thief_request = join_request_new (invite, thief);
  post_refused (t, room->room_id, NULL, thief_request, USI_RELAY_REFUSED_INVITE_USED);

  /* The joiner resends: the same seq, the owner is not asked twice. */
  {
    g_autoptr(GBytes) post = usi_relay_frame_new_post (request_id, room->room_id, NULL, request);

    client_send (j, post);
    client_expect_ack (j, request_id, &again, &flags);
  }
  g_assert_cmpuint (again, ==, seq);
  client_expect_nothing (owner);
  client_expect_nothing (j);

  /* An invite that expired: registering it is refused, and one the relay
   * holds past its expiry refuses its join request. */
  expired = invite_new (&relay, room);
  client_expect_refused (owner, register_invite (owner, room->room_id, usi_invite_get_id (expired),
                                                 now_ms () - 1000),
                         USI_RELAY_REFUSED_INVITE_EXPIRED);
  g_assert_true (usi_relay_store_add_invite (relay.store, room->room_id, usi_invite_get_id (expired),
                                             now_ms () - 1000, &error));
  g_assert_no_error (error);
  expired_request = join_request_new (expired, thief);
  post_refused (t, room->room_id, NULL, expired_request, USI_RELAY_REFUSED_INVITE_EXPIRED);

  /* A join request for this room posted to another room is refused. */
  {
    guint8 other_room[USI_RELAY_ID_LENGTH] = { 0x42 };

    open_preshared (t, other_room);
    post_refused (t, other_room, NULL, request, USI_RELAY_REFUSED_NOT_ALLOWED);
  }
  /* The owner does not post join requests to its own room. */
  post_refused (owner, room->room_id, NULL, request, USI_RELAY_REFUSED_NOT_ALLOWED);
  client_expect_nothing (owner);
}

static void
test_invite_limit (void)
{
  g_auto(TestRelay) relay = { 0 };
  g_autoptr(OwnedRoom) room = owned_room_new ();
  g_autoptr(TestClient) owner = NULL;
  UsiRelayLimits limits;
  guint8 invite_id[USI_RELAY_ID_LENGTH] = { 0 };

  usi_relay_limits_init_default (&limits);
  limits.max_invites_per_room = 3;
  test_relay_start_full (&relay, &limits, NULL);
  owner = client_new (&relay, room->owner);
  create_room (owner, room);

  for (guint i = 0; i < 3; i++)
    {
      invite_id[0] = i;
      client_expect_ack (owner, register_invite (owner, room->room_id, invite_id, now_ms () + HOUR_MS), NULL, NULL);
    }
  invite_id[0] = 3;
  client_expect_refused (owner, register_invite (owner, room->room_id, invite_id, now_ms () + HOUR_MS),
                         USI_RELAY_REFUSED_LIMIT);
  /* One already registered is still answered. */
  invite_id[0] = 1;
  client_expect_ack (owner, register_invite (owner, room->room_id, invite_id, now_ms () + HOUR_MS), NULL, NULL);
}

/* A join request waits for an offline owner; the welcome waits for an
 * offline joiner, who gets it by posting its request again. */
static void
test_join_offline (void)
{
  g_auto(TestRelay) relay = { 0 };
  g_autoptr(OwnedRoom) room = owned_room_new ();
  g_autoptr(Person) joiner = person_new ();
  g_autoptr(TestClient) owner = NULL;
  g_autoptr(TestClient) j = NULL;
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(GBytes) request = NULL;
  g_auto(Added) added = { 0 };
  guint64 request_id;
  guint64 seq = 0;
  guint64 again = 0;
  guint8 flags = 0;

  test_relay_start (&relay);
  owner = client_new (&relay, room->owner);
  create_room (owner, room);
  invite = invite_new (&relay, room);
  client_expect_ack (owner, register_invite (owner, room->room_id, usi_invite_get_id (invite),
                                             usi_invite_get_expires_ms (invite)), NULL, NULL);
  g_clear_pointer (&owner, client_free);
  drain_main_context ();

  j = client_new (&relay, joiner);
  request = join_request_new (invite, joiner);
  request_id = send_post (j, room->room_id, NULL, request);
  client_expect_ack (j, request_id, &seq, &flags);
  g_assert_cmpuint (flags, ==, USI_RELAY_ACK_RECIPIENT_OFFLINE);
  g_clear_pointer (&j, client_free);
  drain_main_context ();

  /* The owner comes back and catches up: the request is there. */
  owner = client_new (&relay, room->owner);
  g_assert_cmpuint (subscribe (owner, room->room_id, 1), ==, seq);
  client_expect_deliver (owner, room->room_id, seq, request);
  client_expect_nothing (owner);

  /* It admits the joiner, who is offline. */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) commit = NULL;
    g_autoptr(GBytes) welcome = NULL;

    g_assert_true (usi_owner_group_add_member (room->group, &joiner->leaf.node, "Joiner",
                                               usi_random_get_system (), &added.index, &commit, &welcome, &error));
    g_assert_no_error (error);
    added.commit = frame_from_body (USI_FRAME_COMMIT, commit);
    added.welcome = frame_from_body (USI_FRAME_WELCOME, welcome);
    added.commit_seq = post_ok (owner, room->room_id, NULL, added.commit, NULL);
    added.welcome_seq = post_ok (owner, room->room_id, person_key (joiner), added.welcome, &flags);
    g_assert_cmpuint (flags, ==, USI_RELAY_ACK_RECIPIENT_OFFLINE);
  }

  /* The joiner reconnects and resends its request: the answer comes. */
  j = client_new (&relay, joiner);
  {
    g_autoptr(GBytes) post = usi_relay_frame_new_post (request_id, room->room_id, NULL, request);

    client_send (j, post);
    client_expect_ack (j, request_id, &again, &flags);
  }
  g_assert_cmpuint (again, ==, seq);
  client_expect_deliver (j, room->room_id, added.welcome_seq, added.welcome);
  client_expect_nothing (j);
  client_expect_nothing (owner);

  /* Now a member, it subscribes from the start: only from its commit on. */
  g_assert_cmpuint (subscribe (j, room->room_id, 0), ==, added.welcome_seq);
  client_expect_deliver (j, room->room_id, added.welcome_seq, added.welcome);
  client_expect_nothing (j);
}

/* Membership over time */

static void
test_added_member_reads_from_its_commit (void)
{
  g_auto(TestRelay) relay = { 0 };
  g_autoptr(OwnedRoom) room = owned_room_new ();
  g_autoptr(Person) bob = person_new ();
  g_autoptr(Person) carol = person_new ();
  g_autoptr(TestClient) owner = NULL;
  g_autoptr(TestClient) b = NULL;
  g_autoptr(TestClient) c = NULL;
  g_autoptr(GBytes) before = message_new ("before carol");
  g_autoptr(GBytes) after = message_new ("after carol");
  g_auto(Added) add_bob = { 0 };
  g_auto(Added) add_carol = { 0 };
  guint64 before_seq;
  guint64 after_seq;

  test_relay_start (&relay);
  owner = client_new (&relay, room->owner);
  b = client_new (&relay, bob);
  create_room (owner, room);
  add_member (owner, room, bob, "Bob", &add_bob);
  client_expect_deliver (b, room->room_id, add_bob.welcome_seq, add_bob.welcome);

  before_seq = post_ok (b, room->room_id, NULL, before, NULL);
  post_ok (b, room->room_id, NULL, before, NULL);
  add_member (owner, room, carol, "Carol", &add_carol);
  g_assert_cmpuint (add_carol.commit_seq, >, before_seq);
  after_seq = post_ok (b, room->room_id, NULL, after, NULL);

  /* Carol asks for everything: she gets her welcome and what followed. */
  c = client_new (&relay, carol);
  subscribe (c, room->room_id, 0);
  client_expect_deliver (c, room->room_id, add_carol.welcome_seq, add_carol.welcome);
  client_expect_deliver (c, room->room_id, after_seq, after);
  client_expect_nothing (c);
}

static void
test_removed_member (void)
{
  g_auto(TestRelay) relay = { 0 };
  g_autoptr(OwnedRoom) room = owned_room_new ();
  g_autoptr(Person) bob = person_new ();
  g_autoptr(Person) carol = person_new ();
  g_autoptr(TestClient) owner = NULL;
  g_autoptr(TestClient) b = NULL;
  g_autoptr(TestClient) b2 = NULL;
  g_autoptr(TestClient) c = NULL;
  g_autoptr(GBytes) removal = NULL;
  g_autoptr(GBytes) message = message_new ("after the removal");
  g_auto(Added) add_bob = { 0 };
  g_auto(Added) add_carol = { 0 };
  guint64 removal_seq = 0;
  guint64 seq;

  test_relay_start (&relay);
  owner = client_new (&relay, room->owner);
  b = client_new (&relay, bob);
  b2 = client_new (&relay, bob);
  c = client_new (&relay, carol);
  create_room (owner, room);
  subscribe (owner, room->room_id, 1);
  add_member (owner, room, bob, "Bob", &add_bob);
  client_expect_deliver (b, room->room_id, add_bob.welcome_seq, add_bob.welcome);
  client_expect_deliver (b2, room->room_id, add_bob.welcome_seq, add_bob.welcome);
  add_member (owner, room, carol, "Carol", &add_carol);
  client_expect_deliver (c, room->room_id, add_carol.welcome_seq, add_carol.welcome);
  subscribe (b, room->room_id, add_carol.welcome_seq);
  subscribe (b2, room->room_id, add_carol.welcome_seq);
  subscribe (c, room->room_id, add_carol.welcome_seq);

  removal = remove_member (owner, room, add_bob.index, &removal_seq);
  /* Both of Bob's connections learn they were removed; then nothing. */
  client_expect_deliver (b, room->room_id, removal_seq, removal);
  client_expect_deliver (b2, room->room_id, removal_seq, removal);
  client_expect_deliver (c, room->room_id, removal_seq, removal);

  seq = post_ok (c, room->room_id, NULL, message, NULL);
  client_expect_deliver (owner, room->room_id, seq, message);
  client_expect_nothing (b);
  client_expect_nothing (b2);

  post_refused (b, room->room_id, NULL, message, USI_RELAY_REFUSED_NOT_MEMBER);
  subscribe_refused (b, room->room_id, USI_RELAY_REFUSED_NOT_MEMBER);
  client_expect_nothing (c);
  client_expect_nothing (owner);
}

static void
test_backlog_after_reconnect (void)
{
  g_auto(TestRelay) relay = { 0 };
  g_autoptr(Person) alice = person_new ();
  g_autoptr(Person) bob = person_new ();
  g_autoptr(TestClient) a = NULL;
  g_autoptr(TestClient) b = NULL;
  g_autoptr(GPtrArray) messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  guint8 room_id[USI_RELAY_ID_LENGTH] = { 0x50, 0x53, 0x4b };
  const guint k = 4;

  test_relay_start (&relay);
  a = client_new (&relay, alice);
  open_preshared (a, room_id);
  open_preshared (a, room_id);    /* opening again: the same room */
  for (guint i = 1; i <= 10; i++)
    {
      g_autofree char *text = g_strdup_printf ("message %u", i);

      g_ptr_array_add (messages, message_new (text));
      g_assert_cmpuint (post_ok (a, room_id, NULL, g_ptr_array_index (messages, i - 1), NULL), ==, i);
    }

  b = client_new (&relay, bob);
  g_assert_cmpuint (subscribe (b, room_id, k), ==, 10);
  for (guint seq = k + 1; seq <= 10; seq++)
    client_expect_deliver (b, room_id, seq, g_ptr_array_index (messages, seq - 1));
  client_expect_nothing (b);

  /* Live from then on, and not back to its sender. */
  {
    g_autoptr(GBytes) live = message_new ("live");

    g_assert_cmpuint (post_ok (a, room_id, NULL, live, NULL), ==, 11);
    client_expect_deliver (b, room_id, 11, live);
    client_expect_nothing (a);
  }

  /* A pre-shared room carries messages and file chunks only. */
  {
    g_autoptr(GBytes) commit = frame_new (USI_FRAME_COMMIT, "c", 1);
    g_autoptr(GBytes) chunk = frame_new (USI_FRAME_FILE_CHUNK, "f", 1);
    g_autoptr(GBytes) message = message_new ("to one");
    guint64 seq;

    post_refused (b, room_id, NULL, commit, USI_RELAY_REFUSED_NOT_ALLOWED);
    post_refused (b, room_id, person_key (alice), message, USI_RELAY_REFUSED_NOT_ALLOWED);
    seq = post_ok (b, room_id, NULL, chunk, NULL);
    g_assert_cmpuint (seq, ==, 12);
  }
}

/* Row R2: one room's frames never reach another room. */
static void
test_r2_room_splice (void)
{
  g_auto(TestRelay) relay = { 0 };
  g_autoptr(OwnedRoom) room_a = owned_room_new ();
  g_autoptr(OwnedRoom) room_b = owned_room_new ();
  g_autoptr(Person) member_a = person_new ();
  g_autoptr(Person) member_b = person_new ();
  g_autoptr(TestClient) owner_a = NULL;
  g_autoptr(TestClient) owner_b = NULL;
  g_autoptr(TestClient) ma = NULL;
  g_autoptr(TestClient) mb = NULL;
  g_autoptr(GBytes) message = message_new ("for room A");
  g_auto(Added) add_a = { 0 };
  g_auto(Added) add_b = { 0 };
  guint64 seq;

  test_relay_start (&relay);
  owner_a = client_new (&relay, room_a->owner);
  owner_b = client_new (&relay, room_b->owner);
  ma = client_new (&relay, member_a);
  mb = client_new (&relay, member_b);
  create_room (owner_a, room_a);
  create_room (owner_b, room_b);
  subscribe (owner_a, room_a->room_id, 1);
  subscribe (owner_b, room_b->room_id, 1);
  add_member (owner_a, room_a, member_a, "A", &add_a);
  add_member (owner_b, room_b, member_b, "B", &add_b);
  client_expect_deliver (ma, room_a->room_id, add_a.welcome_seq, add_a.welcome);
  client_expect_deliver (mb, room_b->room_id, add_b.welcome_seq, add_b.welcome);
  subscribe (ma, room_a->room_id, add_a.welcome_seq);
  subscribe (mb, room_b->room_id, add_b.welcome_seq);

  seq = post_ok (ma, room_a->room_id, NULL, message, NULL);
  client_expect_deliver (owner_a, room_a->room_id, seq, message);
  client_expect_nothing (owner_b);
  client_expect_nothing (mb);

  /* Naming room B from a member of A only. */
  post_refused (ma, room_b->room_id, NULL, message, USI_RELAY_REFUSED_NOT_MEMBER);
  subscribe_refused (ma, room_b->room_id, USI_RELAY_REFUSED_NOT_MEMBER);
  /* Room B's commits do not follow room A's chain. */
  post_refused (owner_b, room_a->room_id, NULL, add_b.commit, USI_RELAY_REFUSED_NOT_MEMBER);
  post_refused (owner_a, room_a->room_id, NULL, add_b.commit, USI_RELAY_REFUSED_BAD_COMMIT);
  client_expect_nothing (owner_b);
  client_expect_nothing (mb);
  client_expect_nothing (owner_a);
}

/* Row R4: a backlog far larger than what may be queued goes out at the
 * reader's pace, in order, once. */

#define R4_FRAMES      10000
#define R4_BODY        1024
#define R4_WATERMARK   (64 * 1024)
#define R4_PAGE        64

typedef struct
{
  TestClient     client;
  guint16        port;
  const guint8  *pin;
  guint8         room_id[USI_RELAY_ID_LENGTH];
  guint64        received;
  gboolean       in_order;
  gint           done;
  GMainContext  *main_context;
} SlowReader;

static void
slow_frame_cb (UsiConnection *connection,
               guint          type,
               GBytes        *body,
               gpointer       user_data)
{
  SlowReader *reader = user_data;
  g_auto(UsiRelayFrame) frame = { 0 };
  g_autoptr(GError) error = NULL;

  if (type != USI_RELAY_FRAME_DELIVER)
    {
      client_frame_cb (connection, type, body, &reader->client);
      return;
    }
  g_assert_true (usi_relay_frame_decode (type, body, &frame, &error));
  if (frame.seq != reader->received + 1 || memcmp (frame.room_id, reader->room_id, sizeof frame.room_id) != 0 ||
      g_bytes_get_size (frame.frame) != USI_FRAME_HEADER_LENGTH + R4_BODY)
    reader->in_order = FALSE;
  reader->received++;
}

static gboolean
slow_handshake_done (gpointer data)
{
  return ((TestClient *) data)->handshake_done;
}

static gpointer
slow_reader_thread (gpointer data)
{
  SlowReader *reader = data;
  g_autoptr(GMainContext) context = g_main_context_new ();
  g_autoptr(Person) person = person_new ();
  g_autoptr(GSocketConnection) stream = NULL;
  TestClient *client = &reader->client;
  UsiConnectionLimits limits;
  guint64 paused_at = 0;

  g_main_context_push_thread_default (context);

  stream = tcp_connect (reader->port);
  usi_connection_limits_init_default (&limits);
  limits.idle_timeout_ms = 0;
  /* A client catching up receives far more than a client may send. */
  limits.frames_per_second = 0;
  client->next_request_id = 1;
  client->next_nonce = 1;
  client->connection = usi_connection_new_client (G_IO_STREAM (stream), reader->pin, &limits);
  /* Deliver frames are counted as they come; the others queued. */
  g_signal_connect (client->connection, "frame-received", G_CALLBACK (slow_frame_cb), reader);
  g_signal_connect (client->connection, "closed", G_CALLBACK (client_closed_cb), client);
  usi_connection_handshake_async (client->connection, NULL, client_handshake_cb, client);
  spin_until (slow_handshake_done, client, "the slow reader's handshake");
  g_assert_no_error (client->handshake_error);
  client_hello (client, person);
  g_assert_cmpuint (subscribe (client, reader->room_id, 0), ==, R4_FRAMES);

  /* Read, pausing often. */
  while (reader->received < R4_FRAMES && !client->closed)
    {
      g_main_context_iteration (context, TRUE);
      if (reader->received - paused_at >= 500)
        {
          paused_at = reader->received;
          g_usleep (20 * 1000);
        }
    }
  g_assert_false (client->closed);
  client_expect_nothing (client);

  g_signal_handlers_disconnect_by_data (client->connection, reader);
  g_signal_handlers_disconnect_by_data (client->connection, client);
  usi_connection_close (client->connection);
  g_clear_object (&client->connection);
  g_queue_clear_full (&client->frames, (GDestroyNotify) relay_frame_free);
  g_clear_error (&client->handshake_error);
  while (g_main_context_iteration (context, FALSE))
    ;
  g_main_context_pop_thread_default (context);

  g_atomic_int_set (&reader->done, 1);
  g_main_context_wakeup (reader->main_context);
  return NULL;
}

static gboolean
slow_reader_done (gpointer data)
{
  return g_atomic_int_get (&((SlowReader *) data)->done);
}

static void
test_r4_huge_backlog (void)
{
  g_auto(TestRelay) relay = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GThread) thread = NULL;
  g_autofree guint8 *body = g_malloc0 (R4_BODY);
  UsiRelayBacklogLimits backlog;
  UsiRelayLimits limits;
  SlowReader reader = { 0 };
  guint8 sender[32] = { 7 };
  gsize deliver_size;

  usi_relay_backlog_limits_init_default (&backlog);
  backlog.max_frames = 2 * R4_FRAMES;
  relay.store = usi_relay_store_new_memory (&backlog);
  memset (reader.room_id, 0x44, sizeof reader.room_id);
  g_assert_true (usi_relay_store_add_room (relay.store, reader.room_id, USI_RELAY_ROOM_PRESHARED, NULL, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < R4_FRAMES; i++)
    {
      g_autoptr(GBytes) frame = NULL;
      guint64 seq = 0;
      gboolean duplicate = TRUE;

      memcpy (body, &i, sizeof i);
      frame = frame_new (USI_FRAME_APP_MESSAGE, body, R4_BODY);
      g_assert_true (usi_relay_store_append (relay.store, reader.room_id, sender, NULL, i + 1, frame, now_ms (),
                                             &seq, &duplicate, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (seq, ==, i + 1);
      g_assert_false (duplicate);
    }

  usi_relay_limits_init_default (&limits);
  limits.backlog_low_watermark = R4_WATERMARK;
  limits.backlog_page_frames = R4_PAGE;
  test_relay_start_full (&relay, &limits, NULL);

  reader.port = relay.port;
  reader.pin = usi_tls_identity_get_pin (relay.tls);
  reader.in_order = TRUE;
  reader.main_context = g_main_context_ref_thread_default ();
  thread = g_thread_new ("slow reader", slow_reader_thread, &reader);
  spin_until (slow_reader_done, &reader, "the slow reader reading the backlog");
  g_thread_join (g_steal_pointer (&thread));
  g_main_context_unref (reader.main_context);

  g_assert_cmpuint (reader.received, ==, R4_FRAMES);
  g_assert_true (reader.in_order);

  /* Deliver = header 6, room id 16, seq 8, V<frame> (2-byte length). */
  deliver_size = 6 + 16 + 8 + 2 + USI_FRAME_HEADER_LENGTH + R4_BODY;
  g_test_message ("peak queued: %" G_GSIZE_FORMAT " bytes", usi_relay_get_peak_queued_bytes (relay.relay));
  g_assert_cmpuint (usi_relay_get_peak_queued_bytes (relay.relay), <=, R4_WATERMARK + R4_PAGE * deliver_size);
  g_assert_cmpuint (usi_relay_get_peak_queued_bytes (relay.relay), >, 0);
}

/* A restart on SQLite keeps rooms, chains, backlogs and sequence numbers. */
static void
test_restart_sqlite (void)
{
  g_auto(TestRelay) relay = { 0 };
  g_autoptr(OwnedRoom) room = owned_room_new ();
  g_autoptr(Person) bob = person_new ();
  g_autoptr(TestClient) owner = NULL;
  g_autoptr(TestClient) b = NULL;
  g_autoptr(GPtrArray) messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) rotate = NULL;
  g_autoptr(GBytes) rotate_frame = NULL;
  g_autofree char *dir = g_dir_make_tmp ("usi-test-relay-XXXXXX", &error);
  g_auto(Added) add_bob = { 0 };
  guint64 seqs[3];
  guint64 seq;

  g_assert_no_error (error);
  test_relay_start_full (&relay, NULL, dir);
  owner = client_new (&relay, room->owner);
  b = client_new (&relay, bob);
  create_room (owner, room);
  add_member (owner, room, bob, "Bob", &add_bob);
  client_expect_deliver (b, room->room_id, add_bob.welcome_seq, add_bob.welcome);
  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *text = g_strdup_printf ("before restart %u", i);

      g_ptr_array_add (messages, message_new (text));
      seqs[i] = post_ok (b, room->room_id, NULL, g_ptr_array_index (messages, i), NULL);
    }

  g_clear_pointer (&owner, client_free);
  g_clear_pointer (&b, client_free);
  test_relay_stop (&relay);
  g_clear_object (&relay.store);

  /* A new relay on the same state (same TLS key, new port). */
  test_relay_start_full (&relay, NULL, dir);
  owner = client_new (&relay, room->owner);
  b = client_new (&relay, bob);

  g_assert_cmpuint (subscribe (owner, room->room_id, 1), ==, seqs[2]);
  for (guint i = 0; i < 3; i++)
    client_expect_deliver (owner, room->room_id, seqs[i], g_ptr_array_index (messages, i));
  client_expect_nothing (owner);

  /* Bob is still a member, read from his commit on, and the sequence
   * numbers go on. */
  subscribe (b, room->room_id, 0);
  client_expect_deliver (b, room->room_id, add_bob.welcome_seq, add_bob.welcome);
  client_expect_nothing (b);
  {
    g_autoptr(GBytes) after = message_new ("after restart");

    seq = post_ok (b, room->room_id, NULL, after, NULL);
    g_assert_cmpuint (seq, ==, seqs[2] + 1);
    client_expect_deliver (owner, room->room_id, seq, after);
  }

  /* The chain too: the owner's next commit follows, a stale one does not. */
  g_assert_true (usi_owner_group_rotate (room->group, usi_random_get_system (), &rotate, &error));
  g_assert_no_error (error);
  rotate_frame = frame_from_body (USI_FRAME_COMMIT, rotate);
  seq = post_ok (owner, room->room_id, NULL, rotate_frame, NULL);
  g_assert_cmpuint (seq, ==, seqs[2] + 2);
  client_expect_deliver (b, room->room_id, seq, rotate_frame);
  post_refused (owner, room->room_id, NULL, add_bob.commit, USI_RELAY_REFUSED_BAD_COMMIT);

  g_clear_pointer (&owner, client_free);
  g_clear_pointer (&b, client_free);
  test_relay_clear (&relay);
  {
    g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
    const char *name;

    while (d != NULL && (name = g_dir_read_name (d)) != NULL)
      {
        g_autofree char *path = g_build_filename (dir, name, NULL);

        g_assert_cmpint (g_remove (path), ==, 0);
      }
  }
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

/* The store fails (its disk is full): UNAVAILABLE, nothing delivered,
 * nothing kept; the sequence goes on once there is space again. */

static gint expect_storage_warnings;
static guint storage_warnings;

static GLogWriterOutput
log_writer (GLogLevelFlags   level,
            const GLogField *fields,
            gsize            n_fields,
            gpointer         user_data)
{
  if (g_atomic_int_get (&expect_storage_warnings) && (level & G_LOG_LEVEL_WARNING))
    for (gsize i = 0; i < n_fields; i++)
      if (g_str_equal (fields[i].key, "GLIB_DOMAIN") && g_strcmp0 (fields[i].value, "usi-net") == 0)
        {
          storage_warnings++;
          return G_LOG_WRITER_HANDLED;
        }
  return g_log_writer_default (level, fields, n_fields, user_data);
}

static void
test_storage_full (void)
{
  g_auto(TestRelay) relay = { 0 };
  g_autoptr(Person) alice = person_new ();
  g_autoptr(Person) bob = person_new ();
  g_autoptr(TestClient) a = NULL;
  g_autoptr(TestClient) b = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *dir = g_dir_make_tmp ("usi-test-relay-XXXXXX", &error);
  g_autofree guint8 *body = g_malloc0 (20000);
  guint8 room_id[USI_RELAY_ID_LENGTH] = { 0x53 };
  guint64 last = 0;
  gboolean refused = FALSE;

  g_assert_no_error (error);
  test_relay_start_full (&relay, NULL, dir);
  a = client_new (&relay, alice);
  b = client_new (&relay, bob);
  open_preshared (a, room_id);
  subscribe (b, room_id, 0);

  _usi_relay_store_set_max_size_for_testing (relay.store, 128 * 1024);
  g_atomic_int_set (&expect_storage_warnings, 1);
  for (guint i = 0; i < 100 && !refused; i++)
    {
      g_autoptr(GBytes) frame = NULL;
      g_autoptr(UsiRelayFrame) answer = NULL;
      guint64 request_id;

      body[0] = (guint8) i;
      frame = frame_new (USI_FRAME_APP_MESSAGE, body, 20000);
      request_id = send_post (a, room_id, NULL, frame);
      spin_until (client_has_frame_or_closed, a, "an answer");
      answer = g_queue_pop_head (&a->frames);
      g_assert_nonnull (answer);
      g_assert_cmpuint (answer->request_id, ==, request_id);
      if (answer->type == USI_RELAY_FRAME_REFUSED)
        {
          g_assert_cmpuint (answer->code, ==, USI_RELAY_REFUSED_UNAVAILABLE);
          refused = TRUE;
          client_expect_nothing (b);
        }
      else
        {
          g_assert_cmpuint (answer->type, ==, USI_RELAY_FRAME_ACK);
          g_assert_cmpuint (answer->seq, ==, last + 1);
          last = answer->seq;
          client_expect_deliver (b, room_id, last, frame);
        }
    }
  g_atomic_int_set (&expect_storage_warnings, 0);
  g_assert_true (refused);
  g_assert_cmpuint (last, >, 0);
  g_assert_cmpuint (storage_warnings, >, 0);

  _usi_relay_store_set_max_size_for_testing (relay.store, G_GUINT64_CONSTANT (1) << 30);
  {
    g_autoptr(GBytes) frame = message_new ("space again");

    g_assert_cmpuint (post_ok (a, room_id, NULL, frame, NULL), ==, last + 1);
    client_expect_deliver (b, room_id, last + 1, frame);
  }

  g_clear_pointer (&a, client_free);
  g_clear_pointer (&b, client_free);
  test_relay_clear (&relay);
  {
    g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
    const char *name;

    while (d != NULL && (name = g_dir_read_name (d)) != NULL)
      {
        g_autofree char *path = g_build_filename (dir, name, NULL);

        g_assert_cmpint (g_remove (path), ==, 0);
      }
  }
  g_assert_cmpint (g_rmdir (dir), ==, 0);
}

/* A commit whose Ack was lost, sent again: acknowledged with its first
 * sequence number, delivered once. */
static void
test_commit_resent (void)
{
  g_auto(TestRelay) relay = { 0 };
  g_autoptr(OwnedRoom) room = owned_room_new ();
  g_autoptr(Person) bob = person_new ();
  g_autoptr(TestClient) owner = NULL;
  g_autoptr(TestClient) b = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) rotate = NULL;
  g_autoptr(GBytes) rotate_frame = NULL;
  g_auto(Added) add_bob = { 0 };
  guint64 request_id;
  guint64 seq = 0;
  guint64 again = 0;

  test_relay_start (&relay);
  owner = client_new (&relay, room->owner);
  b = client_new (&relay, bob);
  create_room (owner, room);
  add_member (owner, room, bob, "Bob", &add_bob);
  client_expect_deliver (b, room->room_id, add_bob.welcome_seq, add_bob.welcome);
  subscribe (b, room->room_id, add_bob.welcome_seq);

  g_assert_true (usi_owner_group_rotate (room->group, usi_random_get_system (), &rotate, &error));
  g_assert_no_error (error);
  rotate_frame = frame_from_body (USI_FRAME_COMMIT, rotate);
  request_id = send_post (owner, room->room_id, NULL, rotate_frame);
  client_expect_ack (owner, request_id, &seq, NULL);
  client_expect_deliver (b, room->room_id, seq, rotate_frame);

  {
    g_autoptr(GBytes) post = usi_relay_frame_new_post (request_id, room->room_id, NULL, rotate_frame);

    client_send (owner, post);
    client_expect_ack (owner, request_id, &again, NULL);
  }
  g_assert_cmpuint (again, ==, seq);
  client_expect_nothing (b);

  /* The chain moved once: the next rotation follows. */
  g_clear_pointer (&rotate, g_bytes_unref);
  g_clear_pointer (&rotate_frame, g_bytes_unref);
  g_assert_true (usi_owner_group_rotate (room->group, usi_random_get_system (), &rotate, &error));
  rotate_frame = frame_from_body (USI_FRAME_COMMIT, rotate);
  g_assert_cmpuint (post_ok (owner, room->room_id, NULL, rotate_frame, NULL), ==, seq + 1);
  client_expect_deliver (b, room->room_id, seq + 1, rotate_frame);
}

/* Limits */

static gboolean
relay_has_connections (gpointer data)
{
  TestRelay *relay = data;

  return usi_relay_get_n_connections (relay->relay) == 2;
}

static void
test_connection_limit (void)
{
  g_auto(TestRelay) relay = { 0 };
  g_autoptr(Person) person = person_new ();
  TestClient *clients[3] = { NULL };
  g_autoptr(TestClient) fourth = NULL;
  g_autoptr(TestClient) fifth = NULL;
  UsiRelayLimits limits;

  usi_relay_limits_init_default (&limits);
  limits.max_connections = 3;
  test_relay_start_full (&relay, &limits, NULL);

  for (guint i = 0; i < 3; i++)
    clients[i] = client_new (&relay, person);
  g_assert_cmpuint (usi_relay_get_n_connections (relay.relay), ==, 3);

  /* Closed at once, before TLS: the handshake fails. */
  fourth = client_connect_unchecked (&relay);
  g_assert_nonnull (fourth->handshake_error);
  g_assert_cmpuint (usi_relay_get_n_connections (relay.relay), ==, 3);
  client_expect_nothing (clients[0]);

  /* A slot frees once one closes. */
  g_clear_pointer (&clients[1], client_free);
  spin_until (relay_has_connections, &relay, "the relay noticing a closed connection");
  fifth = client_new (&relay, person);
  g_assert_cmpuint (usi_relay_get_n_connections (relay.relay), ==, 3);
  client_expect_nothing (fifth);

  for (guint i = 0; i < 3; i++)
    g_clear_pointer (&clients[i], client_free);
}

typedef struct
{
  gboolean done;
  gssize   read;
} ReadWait;

static void
raw_read_cb (GObject      *object,
             GAsyncResult *result,
             gpointer      user_data)
{
  ReadWait *wait = user_data;

  wait->read = g_input_stream_read_finish (G_INPUT_STREAM (object), result, NULL);
  wait->done = TRUE;
}

static gboolean
read_wait_done (gpointer data)
{
  return ((ReadWait *) data)->done;
}

/* Row T8: a TCP connection that never starts TLS is closed after the
 * handshake timeout, and others chat meanwhile. */
static void
test_t8_slowloris (void)
{
  g_auto(TestRelay) relay = { 0 };
  g_autoptr(Person) alice = person_new ();
  g_autoptr(Person) bob = person_new ();
  g_autoptr(TestClient) a = NULL;
  g_autoptr(TestClient) b = NULL;
  g_autoptr(GSocketConnection) loris = NULL;
  g_autoptr(GBytes) message = message_new ("still chatting");
  guint8 room_id[USI_RELAY_ID_LENGTH] = { 0x51 };
  UsiRelayLimits limits;
  ReadWait wait = { 0 };
  guint8 buffer[16];
  gint64 started;
  guint64 seq;

  usi_relay_limits_init_default (&limits);
  limits.connection.handshake_timeout_ms = 1500;
  test_relay_start_full (&relay, &limits, NULL);
  a = client_new (&relay, alice);
  b = client_new (&relay, bob);
  open_preshared (a, room_id);
  subscribe (b, room_id, 0);

  started = g_get_monotonic_time ();
  loris = tcp_connect (relay.port);
  g_input_stream_read_async (g_io_stream_get_input_stream (G_IO_STREAM (loris)), buffer, sizeof buffer,
                             G_PRIORITY_DEFAULT, NULL, raw_read_cb, &wait);

  seq = post_ok (a, room_id, NULL, message, NULL);
  client_expect_deliver (b, room_id, seq, message);
  g_assert_false (wait.done);

  spin_until (read_wait_done, &wait, "the relay closing a silent connection");
  g_assert_cmpint (wait.read, <=, 0);
  g_assert_cmpint (g_get_monotonic_time () - started, >=, 1400 * 1000);

  seq = post_ok (a, room_id, NULL, message, NULL);
  client_expect_deliver (b, room_id, seq, message);
}

/* Row T5: a frame header announcing 4 GiB closes that connection only. */
static void
test_t5_huge_frame (void)
{
  g_auto(TestRelay) relay = { 0 };
  g_autoptr(Person) alice = person_new ();
  g_autoptr(Person) bob = person_new ();
  g_autoptr(TestClient) a = NULL;
  g_autoptr(TestClient) b = NULL;
  g_autoptr(GBytes) header = NULL;
  g_autoptr(GError) error = NULL;
  static const guint8 huge[] = { 0xff, 0xff, 0xff, 0xff, 0x01, USI_RELAY_FRAME_POST };

  test_relay_start (&relay);
  a = client_new (&relay, alice);
  b = client_new (&relay, bob);

  header = g_bytes_new_static (huge, sizeof huge);
  if (!usi_connection_send (b->connection, header, &error))
    {
      /* The connection refuses to send it itself; nothing to test here. */
      g_test_skip ("usi_connection_send refuses a bare oversized header");
      return;
    }
  client_expect_closed (b);
  client_expect_nothing (a);
  g_assert_cmpuint (usi_relay_get_n_connections (relay.relay), ==, 1);
}

/* Stopping with live connections closes them all; nothing leaks. */
static void
test_stop_with_live_connections (void)
{
  g_auto(TestRelay) relay = { 0 };
  g_autoptr(Person) alice = person_new ();
  g_autoptr(TestClient) a = NULL;
  g_autoptr(TestClient) half = NULL;
  g_autoptr(GSocketConnection) raw = NULL;
  guint8 room_id[USI_RELAY_ID_LENGTH] = { 0x52 };

  test_relay_start (&relay);
  a = client_new (&relay, alice);
  half = client_connect (&relay);
  raw = tcp_connect (relay.port);
  open_preshared (a, room_id);
  subscribe (a, room_id, 0);

  usi_relay_stop (relay.relay);
  g_assert_cmpuint (usi_relay_get_n_connections (relay.relay), ==, 0);
  client_expect_closed (a);
  client_expect_closed (half);

  /* A second relay object disposed without stop, with a live client. */
  {
    g_auto(TestRelay) other = { 0 };
    g_autoptr(TestClient) c = NULL;

    test_relay_start (&other);
    c = client_new (&other, alice);
    g_clear_object (&other.relay);
    client_expect_closed (c);
  }
}

static void
test_listen_addresses (void)
{
  g_autoptr(UsiTlsIdentity) tls = NULL;
  g_autoptr(UsiRelayStore) store = usi_relay_store_new_memory (NULL);
  g_autoptr(UsiRelay) relay = NULL;
  g_autoptr(UsiRelay) second = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *address = NULL;
  g_autofree char *taken = NULL;
  g_autofree char *expected = NULL;
  const char *bad[] = { "", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:1x",
                        "relay.example:1", "::1:80", "[::1]80", "[127.0.0.1]:80", "[::1", "999.0.0.1:80" };

  tls = usi_tls_identity_generate ("test-relay", &error);
  g_assert_no_error (error);
  relay = usi_relay_new (tls, store, NULL, &error);
  g_assert_no_error (error);
  g_assert_null (usi_relay_dup_listen_address (relay));

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GSocketAddress) parsed = usi_relay_parse_listen_address (bad[i], &error);

      g_assert_null (parsed);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
      g_clear_error (&error);
      g_assert_false (usi_relay_listen (relay, bad[i], &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
      g_clear_error (&error);
    }

  g_assert_true (usi_relay_listen (relay, "localhost:0", &error));
  g_assert_no_error (error);
  address = usi_relay_dup_listen_address (relay);
  expected = g_strdup_printf ("127.0.0.1:%u", usi_relay_get_port (relay));
  g_assert_cmpstr (address, ==, expected);

  /* IPv6 where the machine has it. */
  if (usi_relay_listen (relay, "[::1]:0", &error))
    g_assert_no_error (error);
  else
    g_clear_error (&error);

  /* The port is in use. */
  second = usi_relay_new (tls, store, NULL, &error);
  g_assert_no_error (error);
  taken = g_strdup_printf ("127.0.0.1:%u", usi_relay_get_port (relay));
  g_assert_false (usi_relay_listen (second, taken, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE);
  {
    g_autofree char *message = g_strdup_printf ("Cannot listen on %s: the port is in use.", taken);

    g_assert_cmpstr (error->message, ==, message);
  }
  g_clear_error (&error);

  usi_relay_stop (relay);
  g_assert_false (usi_relay_listen (relay, "127.0.0.1:0", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
  g_clear_object (&relay);
  g_clear_object (&second);
  drain_main_context ();
}

int
main (int   argc,
      char *argv[])
{
  g_setenv ("LANGUAGE", "C", TRUE);
  g_setenv ("LC_ALL", "C.UTF-8", TRUE);
  g_test_init (&argc, &argv, NULL);
  g_log_set_writer_func (log_writer, NULL, NULL);

  g_test_add_func ("/relay/listen-addresses", test_listen_addresses);
  g_test_add_func ("/relay/hello/bad-signature", test_hello_bad_signature);
  g_test_add_func ("/relay/hello/replayed-on-another-session", test_hello_replayed);
  g_test_add_func ("/relay/hello/frame-before-hello", test_hello_frame_before_hello);
  g_test_add_func ("/relay/hello/ping", test_hello_ping);
  g_test_add_func ("/relay/room/post-and-resend", test_room_post_and_resend);
  g_test_add_func ("/relay/room/create-checks", test_room_create_checks);
  g_test_add_func ("/relay/room/subscribe-refused", test_room_subscribe_refused);
  g_test_add_func ("/relay/R3-member-claims-owner", test_r3_member_claims_owner);
  g_test_add_func ("/relay/invite/checks", test_invites);
  g_test_add_func ("/relay/invite/limit", test_invite_limit);
  g_test_add_func ("/relay/invite/join-offline", test_join_offline);
  g_test_add_func ("/relay/room/added-member-reads-from-its-commit", test_added_member_reads_from_its_commit);
  g_test_add_func ("/relay/room/removed-member", test_removed_member);
  g_test_add_func ("/relay/room/backlog-after-reconnect", test_backlog_after_reconnect);
  g_test_add_func ("/relay/R2-room-splice", test_r2_room_splice);
  g_test_add_func ("/relay/R4-huge-backlog", test_r4_huge_backlog);
  g_test_add_func ("/relay/restart-sqlite", test_restart_sqlite);
  g_test_add_func ("/relay/storage-full", test_storage_full);
  g_test_add_func ("/relay/room/commit-resent", test_commit_resent);
  g_test_add_func ("/relay/connection-limit", test_connection_limit);
  g_test_add_func ("/relay/T8-slowloris", test_t8_slowloris);
  g_test_add_func ("/relay/T5-huge-frame", test_t5_huge_frame);
  g_test_add_func ("/relay/stop-with-live-connections", test_stop_with_live_connections);

  return g_test_run ();
}
