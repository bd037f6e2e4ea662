/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Pre-shared-key rooms: key formats, the epoch every key holder derives,
 * members who announce themselves, and what the mode refuses to do. */

#include "config.h"

#include <string.h>

#include "crypto/usi-random.h"
#include "protocol/usi-message-channel.h"
#include "protocol/usi-preshared-room.h"
#include "protocol/usi-preshared-room-private.h"
#include "protocol/usi-protocol-error.h"

#define NOW G_GUINT64_CONSTANT (1700000000000)

static const guint8 key_bytes[32] = {
  0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
  0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87, 0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0xff,
};

static void
assert_key (const char   *text,
            const guint8 *expected,
            gsize         expected_length)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) key = usi_preshared_key_parse (text, &error);

  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (key, NULL), g_bytes_get_size (key), expected, expected_length);
}

static void
assert_key_refused (const char *text,
                    const char *message_part)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) key = usi_preshared_key_parse (text, &error);

  g_assert_null (key);
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
  if (strstr (error->message, message_part) == NULL)
    g_error ("“%s”: expected “%s” in “%s”", text, message_part, error->message);
}

static void
test_key_formats (void)
{
  /* Hexadecimal, either case, 128/192/256 bits. */
  assert_key ("000102030405060708090a0b0c0d0e0f", key_bytes, 16);
  assert_key ("000102030405060708090A0B0C0D0E0FF0E1D2C3B4A59687", key_bytes, 24);
  assert_key ("000102030405060708090a0b0c0d0e0ff0e1d2c3b4a5968778695a4b3c2d1eff", key_bytes, 32);
  /* Surrounding white space from a copy is ignored. */
  assert_key ("  000102030405060708090a0b0c0d0e0f\n", key_bytes, 16);

  /* Base64: standard with and without padding, URL-safe with and without. */
  assert_key ("AAECAwQFBgcICQoLDA0ODw==", key_bytes, 16);
  assert_key ("AAECAwQFBgcICQoLDA0ODw", key_bytes, 16);
  assert_key ("AAECAwQFBgcICQoLDA0OD/Dh0sO0pZaH", key_bytes, 24);
  assert_key ("AAECAwQFBgcICQoLDA0OD_Dh0sO0pZaH", key_bytes, 24);
  assert_key ("AAECAwQFBgcICQoLDA0OD/Dh0sO0pZaHeGlaSzwtHv8=", key_bytes, 32);
  assert_key ("AAECAwQFBgcICQoLDA0OD_Dh0sO0pZaHeGlaSzwtHv8", key_bytes, 32);
}

static void
test_key_refusals (void)
{
  assert_key_refused ("", "Enter the room key");
  assert_key_refused ("   ", "Enter the room key");
  /* Hex of the wrong length: the number of bits is named. */
  assert_key_refused ("000102030405060708090a0b0c0d0e", "120 bits");
  assert_key_refused ("000102030405060708090a0b0c0d0e0f00", "136 bits");
  assert_key_refused ("000102030405060708090a0b0c0d0e0ff0e1d2c3b4a5968778695a4b3c2d1eff00", "264 bits");
  assert_key_refused ("000102030405060708090a0b0c0d0e0f0", "odd number");
  /* Base64 of 20 or 40 bytes. */
  assert_key_refused ("AAECAwQFBgcICQoLDA0ODxAREhM=", "160 bits");
  assert_key_refused ("AAECAwQFBgcICQoLDA0OD_Dh0sO0pZaHeGlaSzwtHv8AAQIDBAUGBw", "320 bits");
  /* Neither encoding: stray characters, mixed alphabets, bad padding,
   * bits left over. */
  assert_key_refused ("AAECAwQFBgcICQoLDA0ODw!!", "neither");
  assert_key_refused ("AAECAwQFBgcICQoLDA0OD/Dh0sO0pZaHeGlaSzwtHv-", "neither");
  assert_key_refused ("AAECAwQFBgcICQoLDA0ODw=", "neither");
  assert_key_refused ("AAECAwQFBgcICQoLDA0ODw===", "neither");
  assert_key_refused ("AAECAwQFBgcICQoLDA0ODx==", "neither");
  assert_key_refused ("AAECAwQFBgcICQoL DA0ODw==", "neither");
  assert_key_refused ("clé secrète", "neither");
  /* Not random. */
  assert_key_refused ("00000000000000000000000000000000", "not random");
  assert_key_refused ("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "not random");
  assert_key_refused ("AAAAAAAAAAAAAAAAAAAAAA", "not random");
}

static void
test_key_generate (void)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "generate", 8);
  g_autoptr(GError) error = NULL;
  g_autofree char *text = usi_preshared_key_generate (random, &error);
  g_autoptr(GBytes) key = NULL;

  g_assert_no_error (error);
  g_assert_cmpuint (strlen (text), ==, 43);
  g_assert_null (strpbrk (text, "+/="));
  key = usi_preshared_key_parse (text, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (key), ==, 32);
}

/* A person with an identity and a leaf, in the room of a key. */
typedef struct
{
  UsiIdentity      *identity;
  UsiLeafSecret     leaf;
  UsiPresharedRoom *room;
} Member;

static void
member_init (Member     *member,
             UsiRandom  *random,
             const char *key_text,
             const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) key = usi_preshared_key_parse (key_text, &error);

  g_assert_no_error (error);
  member->identity = usi_identity_generate (random, &error);
  g_assert_no_error (error);
  g_assert_true (usi_leaf_secret_generate (random, member->identity, 0, NOW, &member->leaf, &error));
  member->room = usi_preshared_room_new (key, &member->leaf.node, name, &error);
  g_assert_no_error (error);
  g_assert_nonnull (member->room);
}

static void
member_clear (Member *member)
{
  g_clear_pointer (&member->room, usi_preshared_room_free);
  g_clear_pointer (&member->identity, usi_identity_free);
  usi_leaf_secret_clear (&member->leaf);
}

static GBytes *
member_say (Member     *member,
            UsiRandom  *random,
            const char *text)
{
  g_autoptr(GError) error = NULL;
  GBytes *frame = usi_preshared_room_seal (member->room, member->identity, USI_CONTENT_TYPE_TEXT,
                                           (const guint8 *) text, strlen (text), NOW, random, &error);

  g_assert_no_error (error);
  g_assert_nonnull (frame);
  return frame;
}

static UsiReceivedMessage *
member_hear (Member *member,
             GBytes *frame,
             gint    expected_code)
{
  g_autoptr(GError) error = NULL;
  UsiReceivedMessage *message = usi_preshared_room_open (member->room, g_bytes_get_data (frame, NULL),
                                                         g_bytes_get_size (frame), NOW, &error);

  if (expected_code < 0)
    {
      g_assert_no_error (error);
      g_assert_nonnull (message);
    }
  else
    {
      g_assert_null (message);
      g_assert_error (error, USI_PROTOCOL_ERROR, expected_code);
    }
  return message;
}

static void
test_two_members_exchange (void)
{
  static const char *key = "AAECAwQFBgcICQoLDA0OD_Dh0sO0pZaHeGlaSzwtHv8";
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "exchange", 8);
  Member alice = { 0 }, bob = { 0 };
  UsiEpoch *epoch_a, *epoch_b;
  g_autoptr(GBytes) hello = NULL;
  g_autoptr(GBytes) reply = NULL;
  g_autoptr(GBytes) renamed = NULL;
  g_autoptr(GError) error = NULL;
  UsiReceivedMessage *message;
  GPtrArray *members;
  guint8 export_a[32], export_b[32];
  guint8 room_id[16];
  g_autoptr(GBytes) parsed_key = usi_preshared_key_parse (key, &error);

  member_init (&alice, random, key, "Alice");
  member_init (&bob, random, key, "Bob");
  epoch_a = usi_preshared_room_get_epoch (alice.room);
  epoch_b = usi_preshared_room_get_epoch (bob.room);

  /* The same epoch on both sides, derived from the key alone. */
  g_assert_cmpint (usi_epoch_get_mode (epoch_a), ==, USI_ROOM_MODE_PRESHARED);
  g_assert_cmpuint (usi_epoch_get_number (epoch_a), ==, 0);
  g_assert_cmpmem (usi_epoch_get_room_id (epoch_a), 16, usi_epoch_get_room_id (epoch_b), 16);
  g_assert_true (g_bytes_equal (usi_epoch_get_group_context (epoch_a), usi_epoch_get_group_context (epoch_b)));
  g_assert_cmpmem (usi_epoch_get_secrets (epoch_a)->epoch_authenticator, 32,
                   usi_epoch_get_secrets (epoch_b)->epoch_authenticator, 32);
  g_assert_true (usi_epoch_export (epoch_a, "test", NULL, 0, export_a, sizeof export_a, &error));
  g_assert_true (usi_epoch_export (epoch_b, "test", NULL, 0, export_b, sizeof export_b, &error));
  g_assert_cmpmem (export_a, 32, export_b, 32);
  g_assert_true (usi_preshared_key_derive_room_id (parsed_key, room_id, &error));
  g_assert_cmpmem (room_id, 16, usi_epoch_get_room_id (epoch_a), 16);

  /* Indices come from the identity keys, the same for everyone. */
  g_assert_cmpuint (usi_preshared_room_get_own_index (alice.room), ==,
                    usi_preshared_member_index (room_id, usi_identity_get_public_key (alice.identity)));
  g_assert_cmpuint (usi_preshared_room_get_own_index (alice.room), <, USI_PRESHARED_INDEX_LIMIT);
  g_assert_cmpuint (usi_preshared_room_get_own_index (alice.room), !=, usi_preshared_room_get_own_index (bob.room));

  /* Alice speaks; Bob learns who she is from the message. */
  hello = member_say (&alice, random, "hello Bob");
  message = member_hear (&bob, hello, -1);
  g_assert_cmpmem (g_bytes_get_data (message->body, NULL), g_bytes_get_size (message->body), "hello Bob", 9);
  g_assert_cmpstr (message->sender_display_name, ==, "Alice");
  g_assert_cmpmem (message->sender_identity_key, 32, usi_identity_get_public_key (alice.identity), 32);
  g_assert_false (message->gap);
  usi_received_message_free (message);

  members = usi_preshared_room_get_members (bob.room);
  g_assert_cmpuint (members->len, ==, 2);
  for (guint i = 1; i < members->len; i++)
    g_assert_cmpuint (((UsiRosterEntry *) g_ptr_array_index (members, i - 1))->index, <,
                      ((UsiRosterEntry *) g_ptr_array_index (members, i))->index);

  /* Bob answers. */
  reply = member_say (&bob, random, "hello Alice");
  message = member_hear (&alice, reply, -1);
  g_assert_cmpstr (message->sender_display_name, ==, "Bob");
  usi_received_message_free (message);

  /* Replays and reflections, as in owned rooms. */
  g_assert_null (member_hear (&bob, hello, USI_PROTOCOL_ERROR_DUPLICATE));
  g_assert_null (member_hear (&alice, hello, USI_PROTOCOL_ERROR_REFLECTED));

  /* A member's latest name is the one it announces. */
  {
    g_autoptr(UsiPresharedRoom) renamed_room = NULL;
    g_autoptr(GBytes) key_bytes_parsed = usi_preshared_key_parse (key, &error);

    renamed_room = usi_preshared_room_new (key_bytes_parsed, &alice.leaf.node, "Alice B.", &error);
    g_assert_no_error (error);
    /* The restored copy must not reuse generation 0: it sends 1 onwards
     * only after seeing its own message come back. */
    g_assert_null (usi_preshared_room_open (renamed_room, g_bytes_get_data (hello, NULL), g_bytes_get_size (hello),
                                            NOW, &error));
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_REFLECTED);
    g_clear_error (&error);
    renamed = usi_preshared_room_seal (renamed_room, alice.identity, USI_CONTENT_TYPE_TEXT, (const guint8 *) "hi", 2,
                                       NOW, random, &error);
    g_assert_no_error (error);
  }
  message = member_hear (&bob, renamed, -1);
  g_assert_cmpuint (message->generation, ==, 1);
  g_assert_cmpstr (message->sender_display_name, ==, "Alice B.");
  usi_received_message_free (message);
  {
    const UsiRosterEntry *entry = g_ptr_array_index (members, 0);
    const UsiRosterEntry *other = g_ptr_array_index (members, 1);

    if (entry->index != usi_preshared_room_get_own_index (alice.room))
      entry = other;
    g_assert_cmpstr (entry->display_name, ==, "Alice B.");
  }

  member_clear (&alice);
  member_clear (&bob);
}

static void
test_other_key_reads_nothing (void)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "other key", 9);
  Member alice = { 0 }, bob = { 0 }, mallory = { 0 };
  g_autoptr(GBytes) frame = NULL;
  g_autoptr(GByteArray) spliced = g_byte_array_new ();
  g_autoptr(GBytes) spliced_bytes = NULL;
  g_autoptr(UsiReceivedMessage) message = NULL;

  member_init (&alice, random, "000102030405060708090a0b0c0d0e0f", "Alice");
  member_init (&bob, random, "000102030405060708090a0b0c0d0e0f", "Bob");
  member_init (&mallory, random, "000102030405060708090a0b0c0d0e0e", "Mallory");

  frame = member_say (&alice, random, "for key holders");
  g_assert_null (member_hear (&mallory, frame, USI_PROTOCOL_ERROR_WRONG_ROOM));

  /* Even told which room it is, another key opens nothing. */
  g_byte_array_append (spliced, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame));
  memcpy (spliced->data + 1, usi_preshared_room_get_room_id (mallory.room), 16);
  spliced_bytes = g_byte_array_free_to_bytes (g_steal_pointer (&spliced));
  g_assert_null (member_hear (&mallory, spliced_bytes, USI_PROTOCOL_ERROR_DECRYPTION_FAILED));

  /* Mallory's failures burnt nothing of Bob's. */
  message = member_hear (&bob, frame, -1);
  g_assert_cmpstr (message->sender_display_name, ==, "Alice");

  member_clear (&alice);
  member_clear (&bob);
  member_clear (&mallory);
}

static void
test_bit_flips_fail (void)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "flips", 5);
  Member alice = { 0 }, bob = { 0 };
  g_autoptr(GBytes) frame = NULL;
  g_autoptr(UsiReceivedMessage) genuine = NULL;
  gsize length;

  member_init (&alice, random, "AAECAwQFBgcICQoLDA0ODw", "Alice");
  member_init (&bob, random, "AAECAwQFBgcICQoLDA0ODw", "Bob");
  frame = member_say (&alice, random, "pre-shared");
  length = g_bytes_get_size (frame);

  for (gsize bit = 0; bit < length * 8; bit++)
    {
      g_autofree guint8 *copy = g_memdup2 (g_bytes_get_data (frame, NULL), length);
      g_autoptr(GError) error = NULL;
      g_autoptr(UsiReceivedMessage) message = NULL;

      copy[bit / 8] ^= (guint8) (1u << (bit % 8));
      message = usi_preshared_room_open (bob.room, copy, length, NOW, &error);
      g_assert_null (message);
      g_assert_nonnull (error);
      g_assert_true (error->domain == USI_PROTOCOL_ERROR);
    }

  genuine = member_hear (&bob, frame, -1);
  g_assert_cmpmem (g_bytes_get_data (genuine->body, NULL), g_bytes_get_size (genuine->body), "pre-shared", 10);

  member_clear (&alice);
  member_clear (&bob);
}

static void
test_owner_operations_not_allowed (void)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "no owner", 8);
  Member alice = { 0 }, bob = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiMessageChannel) channel = NULL;
  const char *limits;

  member_init (&alice, random, "000102030405060708090a0b0c0d0e0ff0e1d2c3b4a59687", "Alice");
  member_init (&bob, random, "000102030405060708090a0b0c0d0e0ff0e1d2c3b4a59687", "Bob");

  g_assert_false (usi_preshared_room_remove_member (alice.room, usi_preshared_room_get_own_index (bob.room), &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_ALLOWED);
  g_clear_error (&error);
  g_assert_false (usi_preshared_room_rotate (alice.room, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_ALLOWED);
  g_clear_error (&error);

  /* Not even by moving a channel to another epoch. */
  channel = usi_message_channel_new (usi_preshared_room_get_epoch (alice.room), NULL);
  g_assert_false (usi_message_channel_advance (channel, usi_preshared_room_get_epoch (bob.room), NOW, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_ALLOWED);
  g_clear_error (&error);

  /* Its ratchets live in the channel, not in the epoch. */
  {
    g_autoptr(GBytes) frame = usi_app_message_seal (usi_preshared_room_get_epoch (alice.room), alice.identity,
                                                    USI_CONTENT_TYPE_TEXT, (const guint8 *) "x", 1, NULL, NOW,
                                                    random, NULL, &error);

    g_assert_null (frame);
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_ALLOWED);
    g_clear_error (&error);
  }

  /* And the person is told. */
  limits = usi_preshared_room_get_limits ();
  g_assert_nonnull (strstr (limits, "removed"));
  g_assert_nonnull (strstr (limits, "leaks"));
  g_assert_nonnull (strstr (limits, "before they got it"));

  member_clear (&alice);
  member_clear (&bob);
}

static void
test_room_refusals (void)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "refusals", 8);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiIdentity) identity = usi_identity_generate (random, &error);
  g_autoptr(GBytes) key = usi_preshared_key_parse ("000102030405060708090a0b0c0d0e0f", &error);
  g_autoptr(GBytes) short_key = g_bytes_new ("0123456789", 10);
  g_auto(UsiLeafSecret) leaf = { 0 };
  UsiPresharedRoom *room;

  g_assert_true (usi_leaf_secret_generate (random, identity, 0, NOW, &leaf, &error));

  room = usi_preshared_room_new (key, &leaf.node, " Alice ", &error);
  g_assert_null (room);
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
  g_clear_error (&error);

  room = usi_preshared_room_new (short_key, &leaf.node, "Alice", &error);
  g_assert_null (room);
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
  g_clear_error (&error);

  leaf.node.sequence++;
  room = usi_preshared_room_new (key, &leaf.node, "Alice", &error);
  g_assert_null (room);
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_BAD_SIGNATURE);
}

/* Each sender's ratchet is leaf "index" of the RFC 9420 secret tree of 2^31
 * leaves over the encryption secret, computed without keeping the tree. */
static void
test_sender_ratchets_match_full_tree (void)
{
  static const guint32 indices[] = { 0, 1, 2, 12345, 0x40000000, 0x7ffffffe, 0x7fffffff };
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "full tree", 9);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiMlsSecretTree) full = NULL;
  guint8 encryption_secret[32];

  g_assert_true (usi_random_fill (random, encryption_secret, sizeof encryption_secret, &error));
  full = usi_mls_secret_tree_new ("usi 1.0 ", encryption_secret, USI_PRESHARED_INDEX_LIMIT, 10, &error);
  g_assert_no_error (error);

  for (guint i = 0; i < G_N_ELEMENTS (indices); i++)
    {
      g_autoptr(UsiMlsSecretTree) one = _usi_preshared_sender_ratchets_new (encryption_secret, indices[i], &error);
      guint8 key_full[32], nonce_full[12], key_one[32], nonce_one[12];

      g_assert_no_error (error);
      for (guint32 generation = 0; generation < 3; generation++)
        {
          g_assert_true (usi_mls_secret_tree_get_key (full, USI_MLS_RATCHET_APPLICATION, indices[i], generation,
                                                      key_full, nonce_full, &error));
          g_assert_true (usi_mls_secret_tree_get_key (one, USI_MLS_RATCHET_APPLICATION, 0, generation,
                                                      key_one, nonce_one, &error));
          g_assert_cmpmem (key_full, 32, key_one, 32);
          g_assert_cmpmem (nonce_full, 12, nonce_one, 12);
        }
    }
}

static void
test_index_must_be_the_senders_own (void)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "index claim", 11);
  Member alice = { 0 }, bob = { 0 }, carol = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) forged = NULL;
  g_autoptr(GBytes) genuine = NULL;
  UsiReceivedMessage *message;

  member_init (&alice, random, "000102030405060708090a0b0c0d0e0f", "Alice");
  member_init (&bob, random, "000102030405060708090a0b0c0d0e0f", "Bob");
  member_init (&carol, random, "000102030405060708090a0b0c0d0e0f", "Carol");

  /* Alice holds the key, so she has Bob's ratchet: she seals under Bob's
   * index, announcing and signing as herself. */
  forged = usi_app_message_seal_as_for_test (usi_preshared_room_get_epoch (alice.room), alice.identity,
                                             usi_preshared_room_get_own_index (bob.room), USI_CONTENT_TYPE_TEXT,
                                             (const guint8 *) "I am Bob", 8, NOW, random, &error);
  g_assert_no_error (error);
  g_assert_null (member_hear (&carol, forged, USI_PROTOCOL_ERROR_NOT_MEMBER));
  g_assert_cmpuint (usi_preshared_room_get_members (carol.room)->len, ==, 1);

  /* Bob's own generation 0 is untouched. */
  genuine = member_say (&bob, random, "I am Bob");
  message = member_hear (&carol, genuine, -1);
  g_assert_cmpstr (message->sender_display_name, ==, "Bob");
  usi_received_message_free (message);

  member_clear (&alice);
  member_clear (&bob);
  member_clear (&carol);
}

/* Frames under ever new indices must not make a receiver keep anything. */
static void
test_forged_senders_keep_nothing (void)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "flood", 5);
  Member alice = { 0 }, bob = { 0 };
  g_autoptr(GBytes) frame = NULL;
  UsiMessageChannel *channel;

  member_init (&alice, random, "000102030405060708090a0b0c0d0e0f", "Alice");
  member_init (&bob, random, "000102030405060708090a0b0c0d0e0f", "Bob");
  frame = member_say (&alice, random, "x");
  channel = usi_preshared_room_get_channel (bob.room);
  g_assert_cmpuint (usi_message_channel_get_n_preshared_ratchets (channel), ==, 1);

  for (guint32 i = 0; i < 300; i++)
    {
      g_autoptr(GByteArray) forged = g_byte_array_new ();
      g_autoptr(GBytes) forged_bytes = NULL;
      guint32 index_be = GUINT32_TO_BE (i * 7919);

      g_byte_array_append (forged, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame));
      memcpy (forged->data + 25, &index_be, 4);
      forged_bytes = g_byte_array_free_to_bytes (g_steal_pointer (&forged));
      g_assert_null (member_hear (&bob, forged_bytes, USI_PROTOCOL_ERROR_DECRYPTION_FAILED));
    }
  g_assert_cmpuint (usi_message_channel_get_n_preshared_ratchets (channel), ==, 1);
  g_assert_cmpuint (usi_preshared_room_get_members (bob.room)->len, ==, 1);

  usi_received_message_free (member_hear (&bob, frame, -1));
  g_assert_cmpuint (usi_message_channel_get_n_preshared_ratchets (channel), ==, 2);

  member_clear (&alice);
  member_clear (&bob);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/protocol/preshared-room/key-formats", test_key_formats);
  g_test_add_func ("/protocol/preshared-room/key-refusals", test_key_refusals);
  g_test_add_func ("/protocol/preshared-room/key-generate", test_key_generate);
  g_test_add_func ("/protocol/preshared-room/two-members-exchange", test_two_members_exchange);
  g_test_add_func ("/protocol/preshared-room/other-key-reads-nothing", test_other_key_reads_nothing);
  g_test_add_func ("/protocol/preshared-room/bit-flips-fail", test_bit_flips_fail);
  g_test_add_func ("/protocol/preshared-room/owner-operations-not-allowed", test_owner_operations_not_allowed);
  g_test_add_func ("/protocol/preshared-room/room-refusals", test_room_refusals);
  g_test_add_func ("/protocol/preshared-room/sender-ratchets-match-full-tree", test_sender_ratchets_match_full_tree);
  g_test_add_func ("/protocol/preshared-room/index-must-be-the-senders-own", test_index_must_be_the_senders_own);
  g_test_add_func ("/protocol/preshared-room/forged-senders-keep-nothing", test_forged_senders_keep_nothing);

  return g_test_run ();
}
