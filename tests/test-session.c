/* SPDX-License-Identifier: GPL-3.0-or-later */

/* session/: whole rooms through the API every front end uses, against the
 * real relay (in this process, memory store) over real TLS on 127.0.0.1.
 * Each person is a UsiSession with a keep-nothing store. */

#include "config.h"

#include <string.h>

#include <glib/gstdio.h>

#include "net/usi-net-error.h"
#include "net/usi-relay-link.h"
#include "net/usi-relay-store.h"
#include "net/usi-relay.h"
#include "net/usi-tls-identity.h"
#include "protocol/usi-protocol-error.h"
#include "session/usi-session-error.h"
#include "session/usi-session.h"
#include "usi-test-async.h"
#include "usi-test-session.h"

typedef struct
{
  UsiRelay *relay;
  char     *address;
  guint8    pin[32];
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiTlsIdentity) identity = usi_tls_identity_generate ("usi-relay", &error);
  g_autoptr(UsiRelayStore) store = usi_relay_store_new_memory (NULL);
  UsiRelayLimits limits;

  g_assert_no_error (error);
  usi_relay_limits_init_default (&limits);
  fixture->relay = usi_relay_new (identity, store, &limits, &error);
  g_assert_no_error (error);
  g_assert_true (usi_relay_listen (fixture->relay, "127.0.0.1:0", &error));
  g_assert_no_error (error);
  fixture->address = usi_relay_dup_listen_address (fixture->relay);
  memcpy (fixture->pin, usi_tls_identity_get_pin (identity), 32);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  user_data)
{
  usi_relay_stop (fixture->relay);
  g_clear_object (&fixture->relay);
  g_free (fixture->address);
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static UsiRoom *
host (Fixture    *fixture,
      UsiSession *session,
      const char *password,
      guint       rotate_after)
{
  UsiHostOptions options = { 0 };
  g_autoptr(GError) error = NULL;
  UsiTestWaiter waiter = { 0 };
  UsiRoom *room;

  options.relay_address = fixture->address;
  options.relay_pin = fixture->pin;
  options.password = password;
  options.rotate_after = rotate_after;
  usi_session_host_async (session, &options, NULL, usi_test_store_result, &waiter);
  room = usi_session_host_finish (session, usi_test_wait_result (&waiter), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (usi_room_get_state (room), ==, USI_ROOM_JOINED);
  usi_test_waiter_clear (&waiter);
  return room;
}

static char *
invite (UsiRoom *room)
{
  g_autoptr(GError) error = NULL;
  UsiTestWaiter waiter = { 0 };
  char *text;

  usi_room_create_invite_async (room, 0, NULL, usi_test_store_result, &waiter);
  text = usi_room_create_invite_finish (room, usi_test_wait_result (&waiter), &error);
  g_assert_no_error (error);
  g_assert_true (g_str_has_prefix (text, "usi://invite/"));
  usi_test_waiter_clear (&waiter);
  return text;
}

/* Joins; returns the room, or NULL with *error set. */
static UsiRoom *
join (UsiSession  *session,
      const char  *invite_text,
      const char  *password,
      GError     **error)
{
  UsiTestWaiter waiter = { 0 };
  UsiRoom *room;

  usi_session_join_async (session, invite_text, password, NULL, usi_test_store_result, &waiter);
  room = usi_session_join_finish (session, usi_test_wait_result (&waiter), error);
  usi_test_waiter_clear (&waiter);
  return room;
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
  usi_test_waiter_clear (&waiter);
}

static guint
count_messages_with (UsiRoom    *room,
                     const char *text)
{
  GListModel *messages = usi_room_get_messages (room);
  guint count = 0;

  for (guint i = 0; i < g_list_model_get_n_items (messages); i++)
    {
      g_autoptr(UsiMessage) message = g_list_model_get_item (messages, i);

      if (!usi_message_get_is_own (message) && g_strcmp0 (usi_message_get_text (message), text) == 0)
        count++;
    }
  return count;
}

/* Spins until `room` received `text` once from someone else. */
static void
wait_for_message (UsiRoom    *room,
                  const char *text)
{
  gint64 deadline = g_get_monotonic_time () + USI_TEST_WAIT_MS * 1000;

  while (count_messages_with (room, text) == 0)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
}

static void
wait_for_epoch (UsiRoom *room,
                guint64  epoch)
{
  gint64 deadline = g_get_monotonic_time () + USI_TEST_WAIT_MS * 1000;

  while (usi_room_get_epoch (room) < epoch)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
}

/* Lets in-flight frames arrive: a few round trips through the relay. */
static void
settle (void)
{
  gint64 until = g_get_monotonic_time () + 300 * 1000;

  while (g_get_monotonic_time () < until)
    g_main_context_iteration (NULL, FALSE);
}

static void
test_chat_of_four (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_autoptr(UsiSession) owner = usi_test_session_new (NULL, "Alice");
  g_autoptr(UsiRoom) owner_room = host (fixture, owner, NULL, 0);
  const char *names[] = { "Bob", "Carol", "Dave" };
  UsiSession *sessions[3];
  UsiRoom *rooms[3];
  guint64 epoch;

  for (guint i = 0; i < 3; i++)
    {
      g_autofree char *text = invite (owner_room);
      g_autoptr(GError) error = NULL;

      sessions[i] = usi_test_session_new (NULL, names[i]);
      rooms[i] = join (sessions[i], text, NULL, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (usi_room_get_state (rooms[i]), ==, USI_ROOM_JOINED);
    }

  /* Every join is a commit: epoch 3 everywhere, four members each. */
  epoch = usi_room_get_epoch (owner_room);
  g_assert_cmpuint (epoch, ==, 3);
  for (guint i = 0; i < 3; i++)
    {
      wait_for_epoch (rooms[i], epoch);
      g_assert_cmpuint (g_list_model_get_n_items (usi_room_get_members (rooms[i])), ==, 4);
    }

  send_text (owner_room, "hello from alice");
  send_text (rooms[1], "hello from carol");
  for (guint i = 0; i < 3; i++)
    wait_for_message (rooms[i], "hello from alice");
  wait_for_message (owner_room, "hello from carol");
  wait_for_message (rooms[0], "hello from carol");
  wait_for_message (rooms[2], "hello from carol");
  settle ();

  /* Exactly once each, from the right sender. */
  g_assert_cmpuint (count_messages_with (rooms[0], "hello from alice"), ==, 1);
  g_assert_cmpuint (count_messages_with (rooms[2], "hello from carol"), ==, 1);
  g_assert_cmpuint (count_messages_with (rooms[1], "hello from carol"), ==, 0);
  {
    g_autoptr(UsiMessage) first = g_list_model_get_item (usi_room_get_messages (rooms[0]), 0);

    g_assert_cmpstr (usi_message_get_sender_name (first), ==, "Alice");
  }

  /* Safety numbers agree on both sides. */
  {
    UsiMember *bob_at_alice = usi_room_lookup_member (owner_room, "Bob");
    UsiMember *alice_at_bob = usi_room_lookup_member (rooms[0], "Alice");

    g_assert_nonnull (bob_at_alice);
    g_assert_nonnull (alice_at_bob);
    g_assert_cmpuint (strlen (usi_member_get_safety_number (bob_at_alice)), ==, 71);
    g_assert_cmpstr (usi_member_get_safety_number (bob_at_alice), ==, usi_member_get_safety_number (alice_at_bob));
  }

  for (guint i = 0; i < 3; i++)
    {
      g_object_unref (rooms[i]);
      usi_session_shutdown (sessions[i]);
      g_object_unref (sessions[i]);
    }
  usi_session_shutdown (owner);
}

static void
test_removed_member_reads_nothing_new (Fixture       *fixture,
                                       gconstpointer  user_data)
{
  g_autoptr(UsiSession) owner = usi_test_session_new (NULL, "Alice");
  g_autoptr(UsiSession) bob = usi_test_session_new (NULL, "Bob");
  g_autoptr(UsiSession) carol = usi_test_session_new (NULL, "Carol");
  g_autoptr(UsiRoom) owner_room = host (fixture, owner, NULL, 0);
  g_autoptr(GError) error = NULL;
  g_autofree char *invite_bob = invite (owner_room);
  g_autofree char *invite_carol = NULL;
  g_autoptr(UsiRoom) bob_room = join (bob, invite_bob, NULL, &error);
  g_autoptr(UsiRoom) carol_room = NULL;
  UsiTestWaiter waiter = { 0 };

  g_assert_no_error (error);
  invite_carol = invite (owner_room);
  carol_room = join (carol, invite_carol, NULL, &error);
  g_assert_no_error (error);
  wait_for_epoch (bob_room, 2);

  usi_room_remove_member_async (owner_room, usi_room_lookup_member (owner_room, "Bob"), NULL, usi_test_store_result, &waiter);
  g_assert_true (usi_room_commit_finish (owner_room, usi_test_wait_result (&waiter), &error));
  g_assert_no_error (error);
  usi_test_waiter_clear (&waiter);

  /* Bob's client keeps running with every key it had. */
  while (usi_room_get_state (bob_room) != USI_ROOM_REMOVED)
    g_main_context_iteration (NULL, TRUE);
  g_assert_error (usi_room_get_error (bob_room), USI_SESSION_ERROR, USI_SESSION_ERROR_REMOVED);

  send_text (owner_room, "after bob left");
  wait_for_message (carol_room, "after bob left");
  settle ();
  g_assert_cmpuint (count_messages_with (bob_room, "after bob left"), ==, 0);
  g_assert_cmpuint (g_list_model_get_n_items (usi_room_get_members (carol_room)), ==, 2);

  /* What Bob sends is refused. */
  usi_room_send_text_async (bob_room, "still here?", NULL, usi_test_store_result, &waiter);
  g_assert_false (usi_room_send_text_finish (bob_room, usi_test_wait_result (&waiter), &error));
  g_assert_error (error, USI_SESSION_ERROR, USI_SESSION_ERROR_REMOVED);
  usi_test_waiter_clear (&waiter);
  settle ();
  g_assert_cmpuint (count_messages_with (carol_room, "still here?"), ==, 0);

  usi_session_shutdown (bob);
  usi_session_shutdown (carol);
  usi_session_shutdown (owner);
}

static void
test_password_room (Fixture       *fixture,
                    gconstpointer  user_data)
{
  g_autoptr(UsiSession) owner = usi_test_session_new (NULL, "Alice");
  g_autoptr(UsiSession) bob = usi_test_session_new (NULL, "Bob");
  g_autoptr(UsiSession) eve = usi_test_session_new (NULL, "Eve");
  g_autoptr(UsiRoom) owner_room = host (fixture, owner, "correct horse", 0);
  g_autofree char *invite_bob = invite (owner_room);
  g_autofree char *invite_eve = invite (owner_room);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiRoom) bob_room = NULL;
  g_autoptr(UsiRoom) eve_room = NULL;

  /* Without the password nothing is sent. */
  eve_room = join (eve, invite_eve, NULL, &error);
  g_assert_null (eve_room);
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_PASSWORD_REQUIRED);
  g_clear_error (&error);

  /* A wrong password: refused, and the room is unchanged. */
  eve_room = join (eve, invite_eve, "wrong horse", &error);
  g_assert_null (eve_room);
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_PASSWORD);
  g_clear_error (&error);
  g_assert_cmpuint (g_list_model_get_n_items (usi_room_get_members (owner_room)), ==, 1);
  g_assert_cmpuint (usi_room_get_epoch (owner_room), ==, 0);

  bob_room = join (bob, invite_bob, "correct horse", &error);
  g_assert_no_error (error);
  send_text (bob_room, "in with the password");
  wait_for_message (owner_room, "in with the password");

  usi_session_shutdown (bob);
  usi_session_shutdown (eve);
  usi_session_shutdown (owner);
}

static void
test_invite_used_twice (Fixture       *fixture,
                        gconstpointer  user_data)
{
  g_autoptr(UsiSession) owner = usi_test_session_new (NULL, "Alice");
  g_autoptr(UsiSession) bob = usi_test_session_new (NULL, "Bob");
  g_autoptr(UsiSession) mallory = usi_test_session_new (NULL, "Mallory");
  g_autoptr(UsiRoom) owner_room = host (fixture, owner, NULL, 0);
  g_autofree char *text = invite (owner_room);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiRoom) bob_room = join (bob, text, NULL, &error);
  g_autoptr(UsiRoom) second = NULL;

  g_assert_no_error (error);
  second = join (mallory, text, NULL, &error);
  g_assert_null (second);
  g_assert_error (error, USI_RELAY_REFUSED_ERROR, 7 /* INVITE_USED */);
  g_assert_cmpuint (g_list_model_get_n_items (usi_room_get_members (owner_room)), ==, 2);
  g_assert_cmpuint (g_list_model_get_n_items (usi_session_get_rooms (mallory)), ==, 0);

  usi_session_shutdown (bob);
  usi_session_shutdown (mallory);
  usi_session_shutdown (owner);
}

static void
test_altered_invite (Fixture       *fixture,
                     gconstpointer  user_data)
{
  g_autoptr(UsiSession) owner = usi_test_session_new (NULL, "Alice");
  g_autoptr(UsiSession) bob = usi_test_session_new (NULL, "Bob");
  g_autoptr(UsiRoom) owner_room = host (fixture, owner, NULL, 0);
  g_autofree char *text = invite (owner_room);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiRoom) room = NULL;
  gsize position = strlen (text) - 10;

  text[position] = text[position] == 'a' ? 'b' : 'a';
  room = join (bob, text, NULL, &error);
  g_assert_null (room);
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_INVITE_CORRUPT);
  g_assert_cmpuint (g_list_model_get_n_items (usi_session_get_rooms (bob)), ==, 0);

  usi_session_shutdown (bob);
  usi_session_shutdown (owner);
}

static void
test_rotation_every_n (Fixture       *fixture,
                       gconstpointer  user_data)
{
  g_autoptr(UsiSession) owner = usi_test_session_new (NULL, "Alice");
  g_autoptr(UsiSession) bob = usi_test_session_new (NULL, "Bob");
  g_autoptr(UsiRoom) owner_room = host (fixture, owner, NULL, 3);
  g_autofree char *text = invite (owner_room);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiRoom) bob_room = join (bob, text, NULL, &error);

  g_assert_no_error (error);
  g_assert_cmpuint (usi_room_get_epoch (owner_room), ==, 1);

  send_text (bob_room, "one");
  send_text (bob_room, "two");
  send_text (bob_room, "three");
  wait_for_message (owner_room, "three");
  /* The third message made rotation due: a new epoch with fresh keys. */
  g_assert_cmpuint (usi_room_get_epoch (owner_room), ==, 2);
  wait_for_epoch (bob_room, 2);

  send_text (bob_room, "four");
  wait_for_message (owner_room, "four");

  usi_session_shutdown (bob);
  usi_session_shutdown (owner);
}

static void
test_preshared_room (Fixture       *fixture,
                     gconstpointer  user_data)
{
  const char *key = "0123456789abcdef0123456789abcdef";
  g_autoptr(UsiSession) alice = usi_test_session_new (NULL, "Alice");
  g_autoptr(UsiSession) bob = usi_test_session_new (NULL, "Bob");
  UsiHostOptions options = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiRoom) alice_room = NULL;
  g_autoptr(UsiRoom) bob_room = NULL;
  UsiTestWaiter waiter = { 0 };

  options.relay_address = fixture->address;
  options.relay_pin = fixture->pin;
  options.preshared_key = key;
  usi_session_host_async (alice, &options, NULL, usi_test_store_result, &waiter);
  alice_room = usi_session_host_finish (alice, usi_test_wait_result (&waiter), &error);
  g_assert_no_error (error);
  usi_test_waiter_clear (&waiter);

  usi_session_join_preshared_async (bob, key, fixture->address, fixture->pin, NULL, usi_test_store_result, &waiter);
  bob_room = usi_session_join_finish (bob, usi_test_wait_result (&waiter), &error);
  g_assert_no_error (error);
  usi_test_waiter_clear (&waiter);
  g_assert_cmpuint (usi_room_get_kind (bob_room), ==, USI_ROOM_KIND_PRESHARED);

  send_text (alice_room, "psk hello");
  wait_for_message (bob_room, "psk hello");
  send_text (bob_room, "psk reply");
  wait_for_message (alice_room, "psk reply");

  /* No owner: nobody can invite. */
  usi_room_create_invite_async (alice_room, 0, NULL, usi_test_store_result, &waiter);
  {
    g_autofree char *text = usi_room_create_invite_finish (alice_room, usi_test_wait_result (&waiter), &error);

    g_assert_null (text);
    g_assert_error (error, USI_SESSION_ERROR, USI_SESSION_ERROR_NOT_SUPPORTED);
  }
  usi_test_waiter_clear (&waiter);

  usi_session_shutdown (alice);
  usi_session_shutdown (bob);
}

static void
test_reconnect_gets_what_was_missed (Fixture       *fixture,
                                     gconstpointer  user_data)
{
  g_autoptr(UsiSession) owner = usi_test_session_new (NULL, "Alice");
  g_autoptr(UsiSession) bob = usi_test_session_new (NULL, "Bob");
  g_autoptr(UsiRoom) owner_room = host (fixture, owner, NULL, 0);
  g_autofree char *text = invite (owner_room);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiRoom) bob_room = join (bob, text, NULL, &error);
  g_assert_no_error (error);
  send_text (owner_room, "before the drop");
  wait_for_message (bob_room, "before the drop");

  /* Bob's connection drops; Alice talks on; Bob comes back by himself. */
  usi_session_reconnect (bob);
  send_text (owner_room, "while bob was away 1");
  send_text (owner_room, "while bob was away 2");
  wait_for_message (bob_room, "while bob was away 1");
  wait_for_message (bob_room, "while bob was away 2");
  settle ();
  g_assert_cmpuint (count_messages_with (bob_room, "before the drop"), ==, 1);
  g_assert_cmpuint (count_messages_with (bob_room, "while bob was away 1"), ==, 1);
  g_assert_cmpuint (count_messages_with (bob_room, "while bob was away 2"), ==, 1);

  usi_session_shutdown (bob);
  usi_session_shutdown (owner);
}

/* The state of the room `session` is joining, or FAILED if none. */
static UsiRoomState
joining_state (UsiSession *session)
{
  GListModel *rooms = usi_session_get_rooms (session);
  g_autoptr(UsiRoom) room = NULL;

  if (g_list_model_get_n_items (rooms) == 0)
    return USI_ROOM_FAILED;
  room = g_list_model_get_item (rooms, 0);
  return usi_room_get_state (room);
}

static void
test_owner_offline_then_back (Fixture       *fixture,
                              gconstpointer  user_data)
{
  g_autoptr(UsiSession) owner = usi_test_session_new (NULL, "Alice");
  g_autoptr(UsiSession) bob = usi_test_session_new (NULL, "Bob");
  g_autoptr(UsiRoom) owner_room = host (fixture, owner, NULL, 0);
  g_autofree char *text = invite (owner_room);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiRoom) bob_room = NULL;
  UsiTestWaiter waiter = { 0 };
  gint64 deadline;

  usi_session_set_online (owner, FALSE);
  settle ();

  /* Bob's request waits at the relay; Bob is told so. */
  usi_session_join_async (bob, text, NULL, NULL, usi_test_store_result, &waiter);
  deadline = g_get_monotonic_time () + USI_TEST_WAIT_MS * 1000;
  while (joining_state (bob) != USI_ROOM_WAITING_FOR_OWNER)
    {
      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_main_context_iteration (NULL, TRUE);
    }
  g_assert_false (waiter.done);

  usi_session_set_online (owner, TRUE);
  bob_room = usi_session_join_finish (bob, usi_test_wait_result (&waiter), &error);
  g_assert_no_error (error);
  g_assert_cmpuint (usi_room_get_state (bob_room), ==, USI_ROOM_JOINED);
  usi_test_waiter_clear (&waiter);

  send_text (bob_room, "owner came back");
  wait_for_message (owner_room, "owner came back");

  usi_session_shutdown (bob);
  usi_session_shutdown (owner);
}

static void
test_pin_mismatch_fails_start (Fixture       *fixture,
                               gconstpointer  user_data)
{
  g_autoptr(UsiSession) owner = usi_test_session_new (NULL, "Alice");
  UsiHostOptions options = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiRoom) room = NULL;
  UsiTestWaiter waiter = { 0 };
  guint8 wrong_pin[32];

  memcpy (wrong_pin, fixture->pin, sizeof wrong_pin);
  wrong_pin[0] ^= 1;
  options.relay_address = fixture->address;
  options.relay_pin = wrong_pin;
  usi_session_host_async (owner, &options, NULL, usi_test_store_result, &waiter);
  room = usi_session_host_finish (owner, usi_test_wait_result (&waiter), &error);
  g_assert_null (room);
  g_assert_error (error, USI_NET_ERROR, USI_NET_ERROR_PIN_MISMATCH);
  g_assert_cmpuint (g_list_model_get_n_items (usi_session_get_rooms (owner)), ==, 0);
  usi_test_waiter_clear (&waiter);

  usi_session_shutdown (owner);
}

static void
test_key_change_blocks_sending (Fixture       *fixture,
                                gconstpointer  user_data)
{
  g_autoptr(UsiSession) owner = usi_test_session_new (NULL, "Alice");
  g_autoptr(UsiSession) bob = usi_test_session_new (NULL, "Bob");
  g_autoptr(UsiSession) impostor = usi_test_session_new (NULL, "Bob");
  g_autoptr(UsiRoom) owner_room = host (fixture, owner, NULL, 0);
  g_autofree char *invite_bob = invite (owner_room);
  g_autofree char *invite_impostor = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiRoom) bob_room = join (bob, invite_bob, NULL, &error);
  g_autoptr(UsiRoom) impostor_room = NULL;
  UsiTestWaiter waiter = { 0 };
  UsiMember *member;

  g_assert_no_error (error);
  member = usi_room_lookup_member (owner_room, "Bob");
  g_assert_cmpuint (usi_member_get_verification (member), ==, USI_MEMBER_UNVERIFIED);
  g_assert_true (usi_room_verify_member (owner_room, member, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (usi_member_get_verification (member), ==, USI_MEMBER_VERIFIED);

  /* Bob leaves; someone else comes back as "Bob" with another key. */
  usi_room_remove_member_async (owner_room, member, NULL, usi_test_store_result, &waiter);
  g_assert_true (usi_room_commit_finish (owner_room, usi_test_wait_result (&waiter), &error));
  usi_test_waiter_clear (&waiter);
  invite_impostor = invite (owner_room);
  impostor_room = join (impostor, invite_impostor, NULL, &error);
  g_assert_no_error (error);

  member = usi_room_lookup_member (owner_room, "Bob");
  g_assert_cmpuint (usi_member_get_verification (member), ==, USI_MEMBER_KEY_CHANGED);
  usi_room_send_text_async (owner_room, "who are you?", NULL, usi_test_store_result, &waiter);
  g_assert_false (usi_room_send_text_finish (owner_room, usi_test_wait_result (&waiter), &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_KEY_CHANGED);
  g_clear_error (&error);
  usi_test_waiter_clear (&waiter);
  settle ();
  g_assert_cmpuint (count_messages_with (impostor_room, "who are you?"), ==, 0);

  /* Accepting the new key unblocks sending; it is not verified. */
  g_assert_true (usi_room_accept_key_change (owner_room, member, &error));
  g_assert_cmpuint (usi_member_get_verification (member), ==, USI_MEMBER_UNVERIFIED);
  send_text (owner_room, "welcome back");
  wait_for_message (impostor_room, "welcome back");

  usi_session_shutdown (impostor);
  usi_session_shutdown (bob);
  usi_session_shutdown (owner);
}

/* No Secret Service needed: the passphrase store keeps the identity,
 * encrypted, across sessions; a verification is saved to it on the way
 * (a failure to save would warn, and warnings are fatal in tests). */
static void
test_identity_kept (Fixture       *fixture,
                                      gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *directory = g_dir_make_tmp ("usi-session-XXXXXX", &error);
  g_autofree char *state = g_build_filename (directory, "state", NULL);
  g_autoptr(UsiSession) bob = usi_test_session_new (NULL, "Bob");
  guint8 first_key[32];

  g_assert_no_error (error);
  {
    g_autoptr(UsiSession) alice = usi_test_session_new (state, "Alice");
    g_autoptr(UsiRoom) room = host (fixture, alice, NULL, 0);
    g_autofree char *text = invite (room);
    g_autoptr(UsiRoom) bob_room = join (bob, text, NULL, &error);

    g_assert_no_error (error);
    memcpy (first_key, usi_session_get_identity_key (alice), 32);
    g_assert_true (usi_room_verify_member (room, usi_room_lookup_member (room, "Bob"), &error));
    g_assert_no_error (error);
    usi_session_shutdown (alice);
  }

  {
    g_autoptr(UsiSession) alice = usi_test_session_new (state, "Alice");

    /* The same person (the store's own tests check that nothing is written
     * in the clear). */
    g_assert_cmpmem (usi_session_get_identity_key (alice), 32, first_key, 32);
    usi_session_shutdown (alice);
  }

  usi_session_shutdown (bob);
  {
    g_autoptr(GDir) dir = g_dir_open (state, 0, NULL);
    const char *name;

    while ((name = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *path = g_build_filename (state, name, NULL);

        g_unlink (path);
      }
  }
  g_rmdir (state);
  g_rmdir (directory);
}

static void
remove_state (char *directory)
{
  g_autofree char *state = g_build_filename (directory, "state", NULL);
  g_autoptr(GDir) dir = g_dir_open (state, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (state, name, NULL);

      g_unlink (path);
    }
  g_rmdir (state);
  g_rmdir (directory);
  g_free (directory);
}

static UsiRoom *
only_room (UsiSession *session)
{
  GListModel *rooms = usi_session_get_rooms (session);

  g_assert_cmpuint (g_list_model_get_n_items (rooms), ==, 1);
  return g_list_model_get_item (rooms, 0);
}

static gboolean
has_own_message (UsiRoom    *room,
                 const char *text)
{
  GListModel *messages = usi_room_get_messages (room);

  for (guint i = 0; i < g_list_model_get_n_items (messages); i++)
    {
      g_autoptr(UsiMessage) message = g_list_model_get_item (messages, i);

      if (usi_message_get_is_own (message) && g_strcmp0 (usi_message_get_text (message), text) == 0)
        return TRUE;
    }
  return FALSE;
}

/* The owner keeps state, stops, and comes back: the room, its history and
 * its keys are restored; what was said meanwhile arrives; the restored
 * owner talks and adds a member as before. */
static void
test_owner_restart_resumes_room (Fixture       *fixture,
                                 gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  char *directory = g_dir_make_tmp ("usi-session-XXXXXX", &error);
  g_autofree char *state = g_build_filename (directory, "state", NULL);
  g_autoptr(UsiSession) bob = usi_test_session_new (NULL, "Bob");
  g_autoptr(UsiSession) carol = usi_test_session_new (NULL, "Carol");
  g_autoptr(UsiRoom) bob_room = NULL;
  g_autoptr(UsiRoom) carol_room = NULL;
  guint64 epoch;

  g_assert_no_error (error);
  {
    g_autoptr(UsiSession) alice = usi_test_session_new (state, "Alice");
    g_autoptr(UsiRoom) room = host (fixture, alice, NULL, 0);
    g_autofree char *text = invite (room);

    bob_room = join (bob, text, NULL, &error);
    g_assert_no_error (error);
    send_text (room, "before the restart");
    send_text (bob_room, "bob before the restart");
    wait_for_message (room, "bob before the restart");
    epoch = usi_room_get_epoch (room);
    usi_session_shutdown (alice);
  }

  send_text (bob_room, "while alice was away");

  {
    g_autoptr(UsiSession) alice = usi_test_session_new (state, "Alice");
    g_autoptr(UsiRoom) room = only_room (alice);
    g_autofree char *text = NULL;

    g_assert_true (usi_room_get_restored (room));
    g_assert_true (usi_room_get_is_owner (room));
    g_assert_cmpuint (usi_room_get_epoch (room), ==, epoch);
    g_assert_true (has_own_message (room, "before the restart"));
    g_assert_cmpuint (count_messages_with (room, "bob before the restart"), ==, 1);

    wait_for_message (room, "while alice was away");
    settle ();
    g_assert_cmpuint (count_messages_with (room, "bob before the restart"), ==, 1);
    g_assert_cmpuint (count_messages_with (room, "while alice was away"), ==, 1);

    send_text (room, "alice is back");
    wait_for_message (bob_room, "alice is back");

    text = invite (room);
    carol_room = join (carol, text, NULL, &error);
    g_assert_no_error (error);
    wait_for_epoch (bob_room, epoch + 1);
    send_text (carol_room, "carol joined after the restart");
    wait_for_message (room, "carol joined after the restart");
    wait_for_message (bob_room, "carol joined after the restart");
    usi_session_shutdown (alice);
  }

  usi_session_shutdown (bob);
  usi_session_shutdown (carol);
  remove_state (directory);
}

/* A member keeps state, stops, and comes back: it reads what it missed and
 * its next message is accepted (its sending ratchet went on, never back). */
static void
test_member_restart_resumes_room (Fixture       *fixture,
                                  gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  char *directory = g_dir_make_tmp ("usi-session-XXXXXX", &error);
  g_autofree char *state = g_build_filename (directory, "state", NULL);
  g_autoptr(UsiSession) alice = usi_test_session_new (NULL, "Alice");
  g_autoptr(UsiRoom) alice_room = host (fixture, alice, NULL, 0);
  g_autofree char *text = invite (alice_room);

  g_assert_no_error (error);
  {
    g_autoptr(UsiSession) bob = usi_test_session_new (state, "Bob");
    g_autoptr(UsiRoom) room = join (bob, text, NULL, &error);

    g_assert_no_error (error);
    send_text (room, "bob 1");
    send_text (room, "bob 2");
    wait_for_message (alice_room, "bob 2");
    usi_session_shutdown (bob);
  }

  send_text (alice_room, "you missed this");

  {
    g_autoptr(UsiSession) bob = usi_test_session_new (state, "Bob");
    g_autoptr(UsiRoom) room = only_room (bob);
    g_autoptr(UsiRoom) again = NULL;

    g_assert_true (usi_room_get_restored (room));
    g_assert_false (usi_room_get_is_owner (room));
    g_assert_true (has_own_message (room, "bob 2"));
    wait_for_message (room, "you missed this");

    send_text (room, "bob 3, after the restart");
    wait_for_message (alice_room, "bob 3, after the restart");
    g_assert_cmpuint (count_messages_with (alice_room, "bob 3, after the restart"), ==, 1);

    /* Joining again with the same invite resumes the same room. */
    again = join (bob, text, NULL, &error);
    g_assert_no_error (error);
    g_assert_true (again == room);
    usi_session_shutdown (bob);
  }

  usi_session_shutdown (alice);
  remove_state (directory);
}

/* S1: a saved room altered on disk is refused, by name; nothing starts
 * with a silently reset room. */
static void
test_tampered_room_refused (Fixture       *fixture,
                            gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  char *directory = g_dir_make_tmp ("usi-session-XXXXXX", &error);
  g_autofree char *state = g_build_filename (directory, "state", NULL);
  g_autofree char *path = NULL;
  g_autofree char *contents = NULL;
  g_autoptr(UsiStore) store = NULL;
  g_autoptr(UsiSession) again = NULL;
  UsiTestWaiter waiter = { 0 };
  gsize length;

  g_assert_no_error (error);
  {
    g_autoptr(UsiSession) alice = usi_test_session_new (state, "Alice");
    g_autoptr(UsiRoom) room = host (fixture, alice, NULL, 0);
    g_autofree char *hex = usi_room_dup_id_hex (room);
    g_autofree char *name = g_strdup_printf ("room-%s.record", hex);

    path = g_build_filename (state, name, NULL);
    usi_session_shutdown (alice);
  }

  g_assert_true (g_file_get_contents (path, &contents, &length, NULL));
  contents[length / 2] ^= 0x01;
  g_assert_true (g_file_set_contents (path, contents, length, NULL));

  store = usi_store_open_passphrase (state, "a passphrase for tests", NULL, &error);
  g_assert_no_error (error);
  usi_session_new_async (store, "Alice", NULL, usi_test_store_result, &waiter);
  again = usi_session_new_finish (usi_test_wait_result (&waiter), &error);
  g_assert_null (again);
  g_assert_error (error, USI_STORE_ERROR, USI_STORE_ERROR_CORRUPT);
  usi_test_waiter_clear (&waiter);

  /* The damaged record is still there, as it was: nothing was reset. */
  {
    g_autofree char *after = NULL;
    gsize after_length;

    g_assert_true (g_file_get_contents (path, &after, &after_length, NULL));
    g_assert_cmpmem (after, after_length, contents, length);
  }
  remove_state (directory);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/session/chat-of-four", Fixture, NULL, fixture_set_up, test_chat_of_four, fixture_tear_down);
  g_test_add ("/session/security/removed-member-reads-nothing-new", Fixture, NULL,
              fixture_set_up, test_removed_member_reads_nothing_new, fixture_tear_down);
  g_test_add ("/session/password-room", Fixture, NULL, fixture_set_up, test_password_room, fixture_tear_down);
  g_test_add ("/session/security/invite-used-twice", Fixture, NULL,
              fixture_set_up, test_invite_used_twice, fixture_tear_down);
  g_test_add ("/session/security/T1-pin-mismatch", Fixture, NULL,
              fixture_set_up, test_pin_mismatch_fails_start, fixture_tear_down);
  g_test_add ("/session/security/invite-altered", Fixture, NULL,
              fixture_set_up, test_altered_invite, fixture_tear_down);
  g_test_add ("/session/rotation-every-n", Fixture, NULL, fixture_set_up, test_rotation_every_n, fixture_tear_down);
  g_test_add ("/session/preshared-room", Fixture, NULL, fixture_set_up, test_preshared_room, fixture_tear_down);
  g_test_add ("/session/owner-offline-then-back", Fixture, NULL,
              fixture_set_up, test_owner_offline_then_back, fixture_tear_down);
  g_test_add ("/session/identity-kept", Fixture, NULL,
              fixture_set_up, test_identity_kept, fixture_tear_down);
  g_test_add ("/session/security/S1-tampered-room-refused", Fixture, NULL,
              fixture_set_up, test_tampered_room_refused, fixture_tear_down);
  g_test_add ("/session/security/K8-key-change-blocks-sending", Fixture, NULL,
              fixture_set_up, test_key_change_blocks_sending, fixture_tear_down);
  g_test_add ("/session/owner-restart-resumes-room", Fixture, NULL,
              fixture_set_up, test_owner_restart_resumes_room, fixture_tear_down);
  g_test_add ("/session/member-restart-resumes-room", Fixture, NULL,
              fixture_set_up, test_member_restart_resumes_room, fixture_tear_down);
  g_test_add ("/session/reconnect-gets-what-was-missed", Fixture, NULL,
              fixture_set_up, test_reconnect_gets_what_was_missed, fixture_tear_down);

  return g_test_run ();
}
