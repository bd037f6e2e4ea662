/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Saving and restoring a room's protocol state (docs/protocol.md §12): the
 * secret tree, epochs, message channels, owner and member groups, invite
 * books and pre-shared rooms.  Every record round-trips to the same bytes,
 * and what happens after a restore is what would have happened without it:
 * no key comes back once deleted, no generation is sealed twice. */

#include "config.h"

#include <string.h>

#include "crypto/usi-crypto-error.h"
#include "crypto/usi-mls-secret-tree.h"
#include "crypto/usi-random.h"
#include "protocol/usi-join.h"
#include "protocol/usi-member-group.h"
#include "protocol/usi-message-channel.h"
#include "protocol/usi-owner-group.h"
#include "protocol/usi-preshared-room.h"
#include "protocol/usi-protocol-error.h"

#define NOW        G_GUINT64_CONSTANT (1700000000000)
#define EXPIRES_MS (NOW + G_GUINT64_CONSTANT (7) * 24 * 3600 * 1000)
#define PREFIX     "usi 1.0 "

static GBytes *
bytes_with (GBytes       *bytes,
            gsize         length,
            gssize        offset,
            guint8        value)
{
  const guint8 *data = g_bytes_get_data (bytes, NULL);
  guint8 *copy = g_malloc0 (MAX (length, 1));

  memcpy (copy, data, MIN (length, g_bytes_get_size (bytes)));
  if (offset >= 0)
    copy[offset] = value;
  return g_bytes_new_take (copy, length);
}

/* The secret tree --------------------------------------------------------- */

static const guint8 tree_secret[32] = {
  0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
  0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87, 0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f,
};

static UsiMlsSecretTree *
tree_restore_ok (GBytes *saved)
{
  g_autoptr(GError) error = NULL;
  UsiMlsSecretTree *tree = usi_mls_secret_tree_restore (PREFIX, g_bytes_get_data (saved, NULL),
                                                        g_bytes_get_size (saved), &error);

  g_assert_no_error (error);
  g_assert_nonnull (tree);
  return tree;
}

static void
assert_same_bytes (GBytes *expected,
                   GBytes *actual)
{
  g_assert_cmpmem (g_bytes_get_data (expected, NULL), g_bytes_get_size (expected),
                   g_bytes_get_data (actual, NULL), g_bytes_get_size (actual));
}

/* Every key a receive of @generation gives, peeked then consumed, or the
 * crypto error code: appended to @log. */
static gint
log_receive (UsiMlsSecretTree  *tree,
             UsiMlsRatchetType  type,
             guint32            leaf,
             guint32            generation,
             GByteArray        *log)
{
  g_autoptr(GError) error = NULL;
  guint8 key[USI_MLS_AEAD_KEY_LENGTH];
  guint8 nonce[USI_MLS_AEAD_NONCE_LENGTH];
  guint8 code;

  if (usi_mls_secret_tree_peek_key (tree, type, leaf, generation, key, nonce, &error) &&
      usi_mls_secret_tree_consume_key (tree, type, leaf, generation, &error))
    {
      g_byte_array_append (log, (const guint8 *) "ok", 2);
      g_byte_array_append (log, key, sizeof key);
      g_byte_array_append (log, nonce, sizeof nonce);
      return -1;
    }

  g_assert_true (error->domain == USI_CRYPTO_ERROR);
  code = (guint8) error->code;
  g_byte_array_append (log, &code, 1);
  return error->code;
}

static void
log_send (UsiMlsSecretTree *tree,
          guint32           leaf,
          GByteArray       *log,
          guint32           expected_generation)
{
  g_autoptr(GError) error = NULL;
  guint8 key[USI_MLS_AEAD_KEY_LENGTH];
  guint8 nonce[USI_MLS_AEAD_NONCE_LENGTH];
  guint32 generation = G_MAXUINT32;

  g_assert_true (usi_mls_secret_tree_next_key (tree, USI_MLS_RATCHET_APPLICATION, leaf, &generation,
                                               key, nonce, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (generation, ==, expected_generation);
  g_byte_array_append (log, key, sizeof key);
  g_byte_array_append (log, nonce, sizeof nonce);
}

static void
log_counts (UsiMlsSecretTree *tree,
            GByteArray       *log)
{
  guint counts[] = {
    usi_mls_secret_tree_get_n_node_secrets (tree),
    usi_mls_secret_tree_get_n_skipped_keys_total (tree),
    usi_mls_secret_tree_get_n_skipped_keys (tree, USI_MLS_RATCHET_APPLICATION, 3),
    usi_mls_secret_tree_get_n_skipped_keys (tree, USI_MLS_RATCHET_APPLICATION, 2),
    usi_mls_secret_tree_get_n_skipped_keys (tree, USI_MLS_RATCHET_HANDSHAKE, 0),
    (guint) usi_mls_secret_tree_get_next_generation (tree, USI_MLS_RATCHET_APPLICATION, 1),
  };

  g_byte_array_append (log, (const guint8 *) counts, sizeof counts);
}

/* The same steps on the original and on its restored copy: every key and
 * every refusal must be the same, and the expected ones. */
static GByteArray *
exercise_tree (UsiMlsSecretTree *tree)
{
  GByteArray *log = g_byte_array_new ();

  /* Sending continues at the next unused generation. */
  log_send (tree, 1, log, 3);
  /* Skipped keys open once. */
  g_assert_cmpint (log_receive (tree, USI_MLS_RATCHET_APPLICATION, 3, 6, log), ==, -1);
  g_assert_cmpint (log_receive (tree, USI_MLS_RATCHET_APPLICATION, 3, 6, log), ==, USI_CRYPTO_ERROR_KEY_CONSUMED);
  g_assert_cmpint (log_receive (tree, USI_MLS_RATCHET_APPLICATION, 2, 1, log), ==, -1);
  g_assert_cmpint (log_receive (tree, USI_MLS_RATCHET_HANDSHAKE, 0, 0, log), ==, -1);
  /* Consumed stays consumed, dropped stays dropped. */
  g_assert_cmpint (log_receive (tree, USI_MLS_RATCHET_APPLICATION, 3, 1, log), ==, USI_CRYPTO_ERROR_KEY_CONSUMED);
  g_assert_cmpint (log_receive (tree, USI_MLS_RATCHET_APPLICATION, 3, 4, log), ==, USI_CRYPTO_ERROR_KEY_CONSUMED);
  g_assert_cmpint (log_receive (tree, USI_MLS_RATCHET_APPLICATION, 3, 11, log), ==, USI_CRYPTO_ERROR_KEY_CONSUMED);
  g_assert_cmpint (log_receive (tree, USI_MLS_RATCHET_APPLICATION, 3, 0, log), ==, USI_CRYPTO_ERROR_KEY_EXPIRED);
  g_assert_cmpint (log_receive (tree, USI_MLS_RATCHET_APPLICATION, 3, 3, log), ==, USI_CRYPTO_ERROR_KEY_EXPIRED);
  g_assert_cmpint (log_receive (tree, USI_MLS_RATCHET_APPLICATION, 3, 5, log), ==, USI_CRYPTO_ERROR_KEY_EXPIRED);
  g_assert_cmpint (log_receive (tree, USI_MLS_RATCHET_HANDSHAKE, 0, 2, log), ==, USI_CRYPTO_ERROR_KEY_CONSUMED);
  log_counts (tree, log);
  /* Receiving goes on; a leaf never derived derives the same keys; the
   * tree-wide cap drops the same (oldest) keys. */
  g_assert_cmpint (log_receive (tree, USI_MLS_RATCHET_APPLICATION, 3, 12, log), ==, -1);
  g_assert_cmpint (log_receive (tree, USI_MLS_RATCHET_APPLICATION, 4, 5, log), ==, -1);
  log_counts (tree, log);
  g_assert_cmpint (log_receive (tree, USI_MLS_RATCHET_APPLICATION, 3, 7, log), ==, USI_CRYPTO_ERROR_KEY_EXPIRED);
  g_assert_cmpint (log_receive (tree, USI_MLS_RATCHET_APPLICATION, 3, 10, log), ==, -1);
  g_assert_cmpint (log_receive (tree, USI_MLS_RATCHET_APPLICATION, 4, 0, log), ==, -1);
  log_send (tree, 1, log, 4);
  log_counts (tree, log);
  return log;
}

/* Five members; ratchets keep 6 skipped keys each, the tree 10. */
static UsiMlsSecretTree *
build_used_tree (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GByteArray) scratch = g_byte_array_new ();
  UsiMlsSecretTree *tree = usi_mls_secret_tree_new_full (PREFIX, tree_secret, 5, 6, 10, &error);

  g_assert_no_error (error);
  /* Leaf 1 sends generations 0, 1, 2. */
  for (guint32 i = 0; i < 3; i++)
    log_send (tree, 1, scratch, i);
  /* Leaf 3 receives out of order: 4 (keeping 0–3), 1, then 11 (keeping
   * 5–10, which pushes 0, 2 and 3 out of the ratchet's six). */
  g_assert_cmpint (log_receive (tree, USI_MLS_RATCHET_APPLICATION, 3, 4, scratch), ==, -1);
  g_assert_cmpint (log_receive (tree, USI_MLS_RATCHET_APPLICATION, 3, 1, scratch), ==, -1);
  g_assert_cmpint (log_receive (tree, USI_MLS_RATCHET_APPLICATION, 3, 11, scratch), ==, -1);
  /* Leaf 0's handshake ratchet keeps 0 and 1; leaf 2 keeps 0–2, which
   * goes over the tree's ten: leaf 3's oldest kept key (5) is dropped. */
  g_assert_cmpint (log_receive (tree, USI_MLS_RATCHET_HANDSHAKE, 0, 2, scratch), ==, -1);
  g_assert_cmpint (log_receive (tree, USI_MLS_RATCHET_APPLICATION, 2, 3, scratch), ==, -1);
  g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys_total (tree), ==, 10);
  g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys (tree, USI_MLS_RATCHET_APPLICATION, 3), ==, 5);
  return tree;
}

static void
test_secret_tree_round_trip (void)
{
  g_autoptr(UsiMlsSecretTree) original = build_used_tree ();
  g_autoptr(UsiMlsSecretTree) restored = NULL;
  g_autoptr(UsiMlsSecretTree) again = NULL;
  g_autoptr(GBytes) saved = usi_mls_secret_tree_save (original);
  g_autoptr(GBytes) resaved = NULL;
  g_autoptr(GByteArray) original_log = NULL;
  g_autoptr(GByteArray) restored_log = NULL;

  restored = tree_restore_ok (saved);
  resaved = usi_mls_secret_tree_save (restored);
  assert_same_bytes (saved, resaved);
  g_assert_cmpuint (usi_mls_secret_tree_get_n_leaves (restored), ==, 5);
  g_assert_cmpuint (usi_mls_secret_tree_get_n_node_secrets (restored), ==,
                    usi_mls_secret_tree_get_n_node_secrets (original));

  original_log = exercise_tree (original);
  restored_log = exercise_tree (restored);
  g_assert_cmpmem (original_log->data, original_log->len, restored_log->data, restored_log->len);

  /* And once more, from the state after all that. */
  g_clear_pointer (&saved, g_bytes_unref);
  saved = usi_mls_secret_tree_save (restored);
  again = tree_restore_ok (saved);
  g_clear_pointer (&resaved, g_bytes_unref);
  resaved = usi_mls_secret_tree_save (again);
  assert_same_bytes (saved, resaved);
}

static void
test_secret_tree_fresh (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiMlsSecretTree) fresh = usi_mls_secret_tree_new (PREFIX, tree_secret, 100, 1000, &error);
  g_autoptr(UsiMlsSecretTree) restored = NULL;
  g_autoptr(GBytes) saved = NULL;
  g_autoptr(GByteArray) a = g_byte_array_new ();
  g_autoptr(GByteArray) b = g_byte_array_new ();

  g_assert_no_error (error);
  saved = usi_mls_secret_tree_save (fresh);
  /* Header, parameters, the root's secret, no leaf, no skipped key. */
  g_assert_cmpuint (g_bytes_get_size (saved), ==, 14 + 4 + 36 + 4 + 4);
  restored = tree_restore_ok (saved);
  for (guint32 leaf = 0; leaf < 100; leaf += 33)
    {
      g_assert_cmpint (log_receive (fresh, USI_MLS_RATCHET_APPLICATION, leaf, 2, a), ==, -1);
      g_assert_cmpint (log_receive (restored, USI_MLS_RATCHET_APPLICATION, leaf, 2, b), ==, -1);
    }
  g_assert_cmpmem (a->data, a->len, b->data, b->len);
}

static void
assert_tree_refused (GBytes *bytes)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiMlsSecretTree) tree = usi_mls_secret_tree_restore (PREFIX, g_bytes_get_data (bytes, NULL),
                                                                  g_bytes_get_size (bytes), &error);

  g_assert_null (tree);
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
}

static void
test_secret_tree_refusals (void)
{
  g_autoptr(UsiMlsSecretTree) original = build_used_tree ();
  g_autoptr(GBytes) saved = usi_mls_secret_tree_save (original);
  const guint8 *data = g_bytes_get_data (saved, NULL);
  gsize length = g_bytes_get_size (saved);
  guint32 n_nodes = (guint32) data[14] << 24 | (guint32) data[15] << 16 | (guint32) data[16] << 8 | data[17];

  /* Truncated anywhere, one byte more. */
  for (gsize cut = 0; cut < length; cut++)
    {
      g_autoptr(GBytes) truncated = bytes_with (saved, cut, -1, 0);

      assert_tree_refused (truncated);
    }
  {
    g_autoptr(GBytes) extended = bytes_with (saved, length + 1, (gssize) length, 0);

    assert_tree_refused (extended);
  }

  /* Another version, another kind. */
  {
    g_autoptr(GBytes) version = bytes_with (saved, length, 1, 2);
    g_autoptr(GBytes) kind = bytes_with (saved, length, 0, 2);
    g_autoptr(GError) error = NULL;
    g_autoptr(UsiMlsSecretTree) tree = usi_mls_secret_tree_restore (PREFIX, g_bytes_get_data (version, NULL),
                                                                    length, &error);

    g_assert_null (tree);
    g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
    g_assert_nonnull (strstr (error->message, "version"));
    assert_tree_refused (kind);
  }

  /* Counts and parameters that do not match what follows. */
  g_assert_cmpuint (n_nodes, >, 0);
  {
    g_autoptr(GBytes) more_nodes = bytes_with (saved, length, 17, (guint8) (n_nodes + 1));
    g_autoptr(GBytes) fewer_nodes = bytes_with (saved, length, 17, (guint8) (n_nodes - 1));
    g_autoptr(GBytes) no_leaves = bytes_with (saved, length, 5, 0);
    g_autoptr(GBytes) fewer_leaves = bytes_with (saved, length, 5, 2);
    g_autoptr(GBytes) smaller_jump = bytes_with (saved, length, 9, 3);
    g_autoptr(GBytes) smaller_cap = bytes_with (saved, length, 13, 9);
    g_autoptr(GBytes) no_skipped = bytes_with (saved, length, 13, 0);

    assert_tree_refused (more_nodes);
    assert_tree_refused (fewer_nodes);
    assert_tree_refused (no_leaves);
    assert_tree_refused (fewer_leaves);
    assert_tree_refused (smaller_jump);
    assert_tree_refused (smaller_cap);
    assert_tree_refused (no_skipped);
  }

  /* A node secret that is not on the frontier: its leaves are derived. */
  {
    g_autoptr(GBytes) inside = NULL;
    g_autofree guint8 *copy = g_memdup2 (data, length);

    g_assert_cmpuint (n_nodes, ==, 1);
    g_assert_cmpuint (copy[21], ==, 11);   /* leaves 4–7 */
    copy[21] = 3;                          /* leaves 0–3 */
    inside = g_bytes_new (copy, length);
    assert_tree_refused (inside);
  }

  /* Garbage. */
  {
    g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "garbage", 7);
    guint8 *noise = g_malloc (length);
    g_autoptr(GBytes) garbage = NULL;

    g_assert_true (usi_random_fill (random, noise, length, NULL));
    noise[0] = 1;
    noise[1] = 1;
    garbage = g_bytes_new_take (noise, length);
    assert_tree_refused (garbage);
  }
}

/* An owned room: owner, members, channels, invite book ---------------------- */

typedef struct
{
  UsiIdentity   *identity;
  UsiLeafSecret  leaf;
  char          *name;
} Person;

static Person *
person_new (UsiRandom  *random,
            const char *name)
{
  g_autoptr(GError) error = NULL;
  Person *person = g_new0 (Person, 1);

  person->identity = usi_identity_generate (random, &error);
  g_assert_no_error (error);
  g_assert_true (usi_leaf_secret_generate (random, person->identity, 1, NOW, &person->leaf, &error));
  g_assert_no_error (error);
  person->name = g_strdup (name);
  return person;
}

static void
person_free (Person *person)
{
  if (person == NULL)
    return;

  usi_identity_free (person->identity);
  usi_leaf_secret_clear (&person->leaf);
  g_free (person->name);
  g_free (person);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Person, person_free)

#define N_MEMBERS 3   /* A, B, and C whom the owner removes */

typedef struct
{
  UsiRandom         *random;
  guint8             room_id[USI_ROOM_ID_LENGTH];
  Person            *owner;
  UsiOwnerGroup     *owner_group;
  UsiMessageChannel *owner_channel;
  UsiInviteBook     *book;
  Person            *people[N_MEMBERS];
  UsiMemberGroup    *members[N_MEMBERS];
  UsiMessageChannel *channels[N_MEMBERS];
  guint32            indices[N_MEMBERS];
  guint              n_people;
  const guint8      *password_psk;
} Room;

static void
room_free (Room *room)
{
  for (guint i = 0; i < room->n_people; i++)
    {
      g_clear_pointer (&room->channels[i], usi_message_channel_free);
      g_clear_pointer (&room->members[i], usi_member_group_free);
      person_free (room->people[i]);
    }
  g_clear_pointer (&room->owner_channel, usi_message_channel_free);
  g_clear_pointer (&room->owner_group, usi_owner_group_free);
  g_clear_pointer (&room->book, usi_invite_book_free);
  person_free (room->owner);
  usi_random_free (room->random);
  g_free (room);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Room, room_free)

static Room *
room_new_full (const char   *seed,
               const guint8 *password_psk)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) genesis = NULL;
  Room *room = g_new0 (Room, 1);
  UsiRoomConfig config;

  room->random = usi_random_new_deterministic ((const guint8 *) seed, strlen (seed));
  room->owner = person_new (room->random, "Owner");
  g_assert_true (usi_random_fill (room->random, room->room_id, sizeof room->room_id, &error));
  usi_room_config_init_default (&config);
  config.password_required = password_psk != NULL;
  room->password_psk = password_psk;
  room->owner_group = usi_owner_group_create (room->owner->identity, &room->owner->leaf.node, "Owner",
                                              room->room_id, &config, password_psk, room->random, &genesis,
                                              &error);
  g_assert_no_error (error);
  room->owner_channel = usi_message_channel_new (usi_owner_group_get_epoch (room->owner_group), &error);
  g_assert_no_error (error);
  room->book = usi_invite_book_new (room->room_id, usi_identity_get_public_key (room->owner->identity));
  return room;
}

static Room *
room_new (const char *seed)
{
  return room_new_full (seed, NULL);
}

/* Every member still in the room applies @commit and moves its channel. */
static void
room_deliver_commit (Room   *room,
                     GBytes *commit)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (usi_message_channel_advance (room->owner_channel, usi_owner_group_get_epoch (room->owner_group),
                                              NOW, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < room->n_people; i++)
    {
      UsiMemberCommitOutcome outcome;

      if (usi_member_group_is_removed (room->members[i]))
        continue;
      g_assert_true (usi_member_group_process_commit (room->members[i], g_bytes_get_data (commit, NULL),
                                                      g_bytes_get_size (commit), &outcome, &error));
      g_assert_no_error (error);
      if (outcome == USI_MEMBER_COMMIT_APPLIED)
        {
          g_assert_true (usi_message_channel_advance (room->channels[i],
                                                      usi_member_group_get_epoch (room->members[i]), NOW, &error));
          g_assert_no_error (error);
        }
    }
}

static void
room_add (Room       *room,
          const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) commit = NULL;
  g_autoptr(GBytes) welcome = NULL;
  guint position = room->n_people;
  Person *person = room->people[position] = person_new (room->random, name);

  g_assert_true (usi_owner_group_add_member (room->owner_group, &person->leaf.node, name, room->random,
                                             &room->indices[position], &commit, &welcome, &error));
  g_assert_no_error (error);
  room_deliver_commit (room, commit);

  room->members[position] = usi_member_group_new_from_welcome (g_bytes_get_data (welcome, NULL),
                                                               g_bytes_get_size (welcome), room->room_id,
                                                               usi_identity_get_public_key (room->owner->identity),
                                                               person->identity, &person->leaf,
                                                               room->password_psk, &error);
  g_assert_no_error (error);
  room->channels[position] = usi_message_channel_new (usi_member_group_get_epoch (room->members[position]), &error);
  g_assert_no_error (error);
  room->n_people++;
}

/* @who: the owner when < 0, else a member. */
static UsiMessageChannel *
room_channel (Room *room,
              gint  who)
{
  return who < 0 ? room->owner_channel : room->channels[who];
}

static GBytes *
room_send (Room       *room,
           gint        who,
           const char *text)
{
  g_autoptr(GError) error = NULL;
  UsiIdentity *identity = who < 0 ? room->owner->identity : room->people[who]->identity;
  GBytes *frame = usi_message_channel_seal (room_channel (room, who), identity, USI_CONTENT_TYPE_TEXT,
                                            (const guint8 *) text, strlen (text), NOW, room->random, &error);

  g_assert_no_error (error);
  g_assert_nonnull (frame);
  return frame;
}

static guint32
frame_generation (GBytes *frame)
{
  g_autoptr(GError) error = NULL;
  UsiAppMessageHeader header;
  const guint8 *ciphertext;
  gsize ciphertext_length;

  g_assert_true (usi_app_message_parse (g_bytes_get_data (frame, NULL), g_bytes_get_size (frame), &header,
                                        &ciphertext, &ciphertext_length, &error));
  g_assert_no_error (error);
  return header.generation;
}

static void
assert_opens (Room       *room,
              gint        who,
              GBytes     *frame,
              guint64     now_ms,
              const char *text)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiReceivedMessage) message = usi_message_channel_open (room_channel (room, who),
                                                                    g_bytes_get_data (frame, NULL),
                                                                    g_bytes_get_size (frame), now_ms, &error);

  g_assert_no_error (error);
  g_assert_nonnull (message);
  g_assert_cmpmem (g_bytes_get_data (message->body, NULL), g_bytes_get_size (message->body), text, strlen (text));
  g_assert_false (message->gap);
}

static void
assert_refused (Room    *room,
                gint     who,
                GBytes  *frame,
                gint     code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiReceivedMessage) message = usi_message_channel_open (room_channel (room, who),
                                                                    g_bytes_get_data (frame, NULL),
                                                                    g_bytes_get_size (frame), NOW, &error);

  g_assert_null (message);
  g_assert_error (error, USI_PROTOCOL_ERROR, code);
}

/* Saved, then checked to restore to the same bytes. */
typedef struct
{
  GBytes *owner_group;
  GBytes *owner_channel;
  GBytes *book;
  GBytes *members[N_MEMBERS];
  GBytes *channels[N_MEMBERS];
} Saved;

static void
saved_clear (Saved *saved)
{
  g_clear_pointer (&saved->owner_group, g_bytes_unref);
  g_clear_pointer (&saved->owner_channel, g_bytes_unref);
  g_clear_pointer (&saved->book, g_bytes_unref);
  for (guint i = 0; i < N_MEMBERS; i++)
    {
      g_clear_pointer (&saved->members[i], g_bytes_unref);
      g_clear_pointer (&saved->channels[i], g_bytes_unref);
    }
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Saved, saved_clear)

static void
room_save (Room  *room,
           Saved *saved)
{
  saved->owner_group = usi_owner_group_save (room->owner_group);
  saved->owner_channel = usi_message_channel_save (room->owner_channel);
  saved->book = usi_invite_book_save (room->book);
  for (guint i = 0; i < room->n_people; i++)
    {
      saved->members[i] = usi_member_group_save (room->members[i]);
      saved->channels[i] = usi_message_channel_save (room->channels[i]);
    }
}

/* Everything goes, then comes back from @saved, as the session does after
 * a restart: the group first, then its channel on the group's epochs. */
static void
room_restore (Room  *room,
              Saved *saved)
{
  g_autoptr(GError) error = NULL;

  g_clear_pointer (&room->owner_channel, usi_message_channel_free);
  g_clear_pointer (&room->owner_group, usi_owner_group_free);
  g_clear_pointer (&room->book, usi_invite_book_free);
  room->owner_group = usi_owner_group_restore (room->owner->identity, g_bytes_get_data (saved->owner_group, NULL),
                                               g_bytes_get_size (saved->owner_group), &error);
  g_assert_no_error (error);
  room->owner_channel = usi_message_channel_restore (g_bytes_get_data (saved->owner_channel, NULL),
                                                     g_bytes_get_size (saved->owner_channel),
                                                     usi_owner_group_get_epoch (room->owner_group),
                                                     usi_owner_group_get_previous_epoch (room->owner_group),
                                                     &error);
  g_assert_no_error (error);
  room->book = usi_invite_book_restore (g_bytes_get_data (saved->book, NULL), g_bytes_get_size (saved->book),
                                        &error);
  g_assert_no_error (error);

  for (guint i = 0; i < room->n_people; i++)
    {
      g_clear_pointer (&room->channels[i], usi_message_channel_free);
      g_clear_pointer (&room->members[i], usi_member_group_free);
      room->members[i] = usi_member_group_restore (room->people[i]->identity,
                                                   g_bytes_get_data (saved->members[i], NULL),
                                                   g_bytes_get_size (saved->members[i]), &error);
      g_assert_no_error (error);
      room->channels[i] = usi_message_channel_restore (g_bytes_get_data (saved->channels[i], NULL),
                                                       g_bytes_get_size (saved->channels[i]),
                                                       usi_member_group_get_epoch (room->members[i]),
                                                       usi_member_group_get_previous_epoch (room->members[i]),
                                                       &error);
      g_assert_no_error (error);
    }

  /* The channel works on the very epochs the group holds. */
  g_assert_true (usi_message_channel_get_epoch (room->owner_channel) == usi_owner_group_get_epoch (room->owner_group));
  for (guint i = 0; i < room->n_people; i++)
    g_assert_true (usi_message_channel_get_epoch (room->channels[i]) == usi_member_group_get_epoch (room->members[i]));
}

static void
assert_saves_same (Room  *room,
                   Saved *saved)
{
  g_auto(Saved) again = { 0 };

  room_save (room, &again);
  assert_same_bytes (saved->owner_group, again.owner_group);
  assert_same_bytes (saved->owner_channel, again.owner_channel);
  assert_same_bytes (saved->book, again.book);
  for (guint i = 0; i < room->n_people; i++)
    {
      assert_same_bytes (saved->members[i], again.members[i]);
      assert_same_bytes (saved->channels[i], again.channels[i]);
    }
}

static UsiInvite *
room_invite (Room *room)
{
  g_autoptr(GError) error = NULL;
  guint8 pin[USI_INVITE_RELAY_PIN_LENGTH] = { 7 };
  UsiInvite *invite = usi_invite_new (room->random, USI_INVITE_FLAGS_NONE, "relay.example.org:7447", pin,
                                      room->room_id, &room->owner->leaf.node, EXPIRES_MS, &error);

  g_assert_no_error (error);
  g_assert_true (usi_invite_book_add (room->book, invite, &error));
  g_assert_no_error (error);
  return invite;
}

/* What the owner receives from a joiner holding @invite. */
static UsiJoinRequest *
room_join_request (Room      *room,
                   UsiInvite *invite,
                   Person    *joiner)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *uri = usi_invite_to_uri (invite);
  g_autoptr(UsiInvite) copy = usi_invite_parse (uri, NOW, &error);
  g_autoptr(UsiJoinRequest) request = NULL;
  g_autoptr(GBytes) body = NULL;
  UsiJoinRequest *received;

  g_assert_no_error (error);
  request = usi_join_request_new (room->random, copy, joiner->identity, &joiner->leaf, joiner->name, NULL, &error);
  g_assert_no_error (error);
  body = usi_join_request_encode (request);
  received = usi_join_request_decode (g_bytes_get_data (body, NULL), g_bytes_get_size (body), &error);
  g_assert_no_error (error);
  return received;
}

static void
assert_join_fails (Room           *room,
                   UsiJoinRequest *request,
                   UsiLeafSecret  *owner_leaf,
                   gint            code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiJoiner) joiner = usi_invite_book_open_request (room->book, request, owner_leaf, 1, NOW, &error);

  g_assert_null (joiner);
  g_assert_error (error, USI_PROTOCOL_ERROR, code);
}

static void
test_owned_room_survives_restart (void)
{
  g_autoptr(Room) room = room_new ("state: owned room");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) remove_commit = NULL;
  g_autoptr(GBytes) late = NULL;
  g_autoptr(GBytes) owner_1 = NULL;
  g_autoptr(GBytes) a_1 = NULL;
  g_autoptr(GBytes) a_2 = NULL;
  g_autoptr(GBytes) a_3 = NULL;
  g_autoptr(GBytes) b_1 = NULL;
  g_autoptr(GBytes) held = NULL;
  g_autoptr(GBytes) leaf_update = NULL;
  g_autoptr(UsiInvite) used_invite = NULL;
  g_autoptr(UsiInvite) fresh_invite = NULL;
  g_autoptr(UsiInvite) failed_invite = NULL;
  g_autoptr(Person) joiner = person_new (room->random, "Joiner");
  g_autoptr(Person) second_joiner = person_new (room->random, "Second");
  g_auto(UsiLeafSecret) wrong_owner_leaf = { 0 };
  g_auto(Saved) saved = { 0 };
  guint32 a_last_generation;

  room_add (room, "Alice");
  room_add (room, "Bob");
  room_add (room, "Chloé");

  /* Bob writes in epoch 3; Alice receives it only after the owner removed
   * Chloé and after everyone's restart, in the previous epoch's window. */
  late = room_send (room, 1, "sent before the removal");
  assert_opens (room, -1, late, NOW, "sent before the removal");
  g_assert_true (usi_owner_group_remove_member (room->owner_group, room->indices[2], room->random,
                                                &remove_commit, &error));
  g_assert_no_error (error);
  room_deliver_commit (room, remove_commit);
  g_assert_true (usi_member_group_is_removed (room->members[2]));

  /* Epoch 4: messages everywhere, but Alice's second not yet at Bob's. */
  owner_1 = room_send (room, -1, "owner 1");
  a_1 = room_send (room, 0, "alice 1");
  a_2 = room_send (room, 0, "alice 2");
  b_1 = room_send (room, 1, "bob 1");
  assert_opens (room, 0, owner_1, NOW, "owner 1");
  assert_opens (room, 1, owner_1, NOW, "owner 1");
  assert_opens (room, -1, a_1, NOW, "alice 1");
  assert_opens (room, -1, a_2, NOW, "alice 2");
  assert_opens (room, 1, a_1, NOW, "alice 1");
  assert_opens (room, -1, b_1, NOW, "bob 1");
  assert_opens (room, 0, b_1, NOW, "bob 1");
  a_last_generation = frame_generation (a_2);

  /* Alice asks for a new leaf key; the owner has not applied it yet. */
  leaf_update = usi_member_group_create_leaf_update (room->members[0], room->random, NOW, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (usi_member_group_get_n_pending_updates (room->members[0]), ==, 1);

  /* The invite book: one invite used, one fresh, one with two requests
   * that did not decrypt (sealed to a leaf key whose secret is wrong). */
  used_invite = room_invite (room);
  fresh_invite = room_invite (room);
  failed_invite = room_invite (room);
  {
    g_autoptr(UsiJoinRequest) request = room_join_request (room, used_invite, joiner);
    g_autoptr(UsiJoiner) accepted = usi_invite_book_open_request (room->book, request, &room->owner->leaf, 1,
                                                                  NOW, &error);

    g_assert_no_error (error);
    g_assert_nonnull (accepted);
  }
  wrong_owner_leaf = room->owner->leaf;
  wrong_owner_leaf.private_key[1] ^= 1;   /* byte 0's low bits are clamped away */
  for (guint i = 0; i < 2; i++)
    {
      g_autoptr(UsiJoinRequest) request = room_join_request (room, failed_invite, joiner);

      assert_join_fails (room, request, &wrong_owner_leaf, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
    }

  /* The owner's channel lets go of epoch 3 (its window is over) while its
   * group still holds it: the restore must accept that. */
  held = room_send (room, 1, "bob 2");
  assert_opens (room, -1, held, NOW + USI_MESSAGE_EPOCH_GRACE_MS + 1, "bob 2");
  g_assert_null (usi_message_channel_get_previous_epoch (room->owner_channel));
  g_assert_nonnull (usi_owner_group_get_previous_epoch (room->owner_group));

  /* Counters and settings the next commit carries. */
  for (guint i = 0; i < 3; i++)
    {
      usi_owner_group_note_message (room->owner_group, 4, 0);
      usi_member_group_note_message (room->members[1], 4, 0);
    }
  g_assert_true (usi_owner_group_set_rotate_after (room->owner_group, 7, &error));
  g_assert_no_error (error);

  /* Save everything, restart, restore. */
  room_save (room, &saved);
  room_restore (room, &saved);
  assert_saves_same (room, &saved);
  g_assert_cmpuint (usi_owner_group_get_message_count (room->owner_group), ==, 3);
  g_assert_cmpuint (usi_owner_group_get_config (room->owner_group)->rotate_after_messages, ==, 7);
  usi_member_group_note_message (room->members[1], 4, 0);
  g_assert_false (usi_member_group_is_rotation_pending (room->members[1]));

  /* What each party knew survived. */
  g_assert_true (usi_member_group_is_removed (room->members[2]));
  g_assert_cmpuint (usi_member_group_get_n_pending_updates (room->members[0]), ==, 1);
  g_assert_null (usi_message_channel_get_previous_epoch (room->owner_channel));
  g_assert_nonnull (usi_message_channel_get_previous_epoch (room->channels[0]));
  g_assert_cmpint (usi_invite_book_get_state (room->book, usi_invite_get_id (used_invite)), ==, USI_INVITE_STATE_USED);
  g_assert_cmpint (usi_invite_book_get_state (room->book, usi_invite_get_id (fresh_invite)), ==, USI_INVITE_STATE_ISSUED);
  g_assert_cmpuint (usi_invite_book_get_failed_opens (room->book, usi_invite_get_id (failed_invite)), ==, 2);

  /* Messages from before the restart: the one Bob had not received opens
   * (its key was kept), the ones he had are replays, and Alice still takes
   * Bob's late message of the previous epoch. */
  assert_opens (room, 1, a_2, NOW, "alice 2");
  assert_refused (room, 1, a_1, USI_PROTOCOL_ERROR_DUPLICATE);
  assert_refused (room, 1, owner_1, USI_PROTOCOL_ERROR_DUPLICATE);
  assert_refused (room, -1, b_1, USI_PROTOCOL_ERROR_DUPLICATE);
  assert_opens (room, 0, late, NOW + 1000, "sent before the removal");
  assert_refused (room, 0, late, USI_PROTOCOL_ERROR_DUPLICATE);
  assert_opens (room, 0, held, NOW, "bob 2");

  /* Alice goes on from the next generation, never one sealed before. */
  a_3 = room_send (room, 0, "alice 3");
  g_assert_cmpuint (frame_generation (a_3), >, a_last_generation);
  g_assert_cmpuint (frame_generation (a_3), ==, a_last_generation + 1);
  assert_opens (room, -1, a_3, NOW, "alice 3");
  assert_opens (room, 1, a_3, NOW, "alice 3");
  {
    g_autoptr(GBytes) owner_2 = room_send (room, -1, "owner 2");

    g_assert_cmpuint (frame_generation (owner_2), ==, frame_generation (owner_1) + 1);
    assert_opens (room, 0, owner_2, NOW, "owner 2");
    assert_opens (room, 1, owner_2, NOW, "owner 2");
  }

  /* The restored owner applies Alice's update from before the restart:
   * she opens the commit with the pending leaf key she kept. */
  {
    g_autoptr(GBytes) commit = NULL;
    g_autoptr(GBytes) epoch_5 = NULL;
    UsiMemberCommitOutcome outcome;

    g_assert_true (usi_owner_group_apply_leaf_update (room->owner_group, g_bytes_get_data (leaf_update, NULL),
                                                      g_bytes_get_size (leaf_update), room->random, &commit,
                                                      &error));
    g_assert_no_error (error);
    room_deliver_commit (room, commit);
    g_assert_cmpuint (usi_epoch_get_number (usi_member_group_get_epoch (room->members[0])), ==, 5);
    g_assert_cmpuint (usi_member_group_get_n_pending_updates (room->members[0]), ==, 0);

    epoch_5 = room_send (room, 1, "bob in epoch 5");
    assert_opens (room, -1, epoch_5, NOW, "bob in epoch 5");
    assert_opens (room, 0, epoch_5, NOW, "bob in epoch 5");

    /* Chloé, removed, stays out. */
    g_assert_false (usi_member_group_process_commit (room->members[2], g_bytes_get_data (commit, NULL),
                                                     g_bytes_get_size (commit), &outcome, &error));
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_MEMBER);
    g_clear_error (&error);
  }

  /* The invites: used stays used, the fresh one opens once. */
  {
    g_autoptr(UsiJoinRequest) again = room_join_request (room, used_invite, second_joiner);
    g_autoptr(UsiJoinRequest) fresh = room_join_request (room, fresh_invite, second_joiner);
    g_autoptr(UsiJoiner) accepted = NULL;

    assert_join_fails (room, again, &room->owner->leaf, USI_PROTOCOL_ERROR_INVITE_USED);
    accepted = usi_invite_book_open_request (room->book, fresh, &room->owner->leaf, 1, NOW, &error);
    g_assert_no_error (error);
    g_assert_nonnull (accepted);
    g_assert_cmpint (usi_invite_book_get_state (room->book, usi_invite_get_id (fresh_invite)), ==,
                     USI_INVITE_STATE_USED);
  }

  /* And the state after all that saves and restores as well. */
  saved_clear (&saved);
  room_save (room, &saved);
  room_restore (room, &saved);
  assert_saves_same (room, &saved);
  {
    g_autoptr(GBytes) after = room_send (room, -1, "after the second restart");

    assert_opens (room, 0, after, NOW, "after the second restart");
    assert_opens (room, 1, after, NOW, "after the second restart");
  }
}

static void
test_password_room_survives_restart (void)
{
  static const guint8 password_psk[USI_KEY_LENGTH] = { 0x5a, 0xa5, 0x01, 0x02 };
  static const guint8 password_key[USI_JOIN_PASSWORD_KEY_LENGTH] = { 0x33, 0x44 };
  g_autoptr(Room) room = room_new_full ("state: password room", password_psk);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) commit = NULL;
  g_autoptr(GBytes) frame = NULL;
  g_auto(Saved) saved = { 0 };

  usi_invite_book_set_password_key (room->book, password_key);
  room_add (room, "Alice");
  room_save (room, &saved);
  room_restore (room, &saved);
  assert_saves_same (room, &saved);

  /* The restored owner's next epoch mixes the password in again, and the
   * restored member derives the same. */
  g_assert_true (usi_owner_group_rotate (room->owner_group, room->random, &commit, &error));
  g_assert_no_error (error);
  room_deliver_commit (room, commit);
  frame = room_send (room, 0, "with a password");
  assert_opens (room, -1, frame, NOW, "with a password");
}

/* Pre-shared rooms ----------------------------------------------------------- */

static UsiPresharedRoom *
preshared_restore_ok (GBytes *saved)
{
  g_autoptr(GError) error = NULL;
  UsiPresharedRoom *room = usi_preshared_room_restore (g_bytes_get_data (saved, NULL), g_bytes_get_size (saved),
                                                       &error);

  g_assert_no_error (error);
  g_assert_nonnull (room);
  return room;
}

static GBytes *
preshared_send (UsiPresharedRoom *room,
                Person           *person,
                UsiRandom        *random,
                const char       *text)
{
  g_autoptr(GError) error = NULL;
  GBytes *frame = usi_preshared_room_seal (room, person->identity, USI_CONTENT_TYPE_TEXT, (const guint8 *) text,
                                           strlen (text), NOW, random, &error);

  g_assert_no_error (error);
  return frame;
}

static void
preshared_opens (UsiPresharedRoom *room,
                 GBytes           *frame,
                 const char       *text)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiReceivedMessage) message = usi_preshared_room_open (room, g_bytes_get_data (frame, NULL),
                                                                   g_bytes_get_size (frame), NOW, &error);

  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (message->body, NULL), g_bytes_get_size (message->body), text, strlen (text));
}

static void
assert_same_members (GPtrArray *a,
                     GPtrArray *b)
{
  g_assert_cmpuint (a->len, ==, b->len);
  for (guint i = 0; i < a->len; i++)
    {
      const UsiRosterEntry *x = g_ptr_array_index (a, i);
      const UsiRosterEntry *y = g_ptr_array_index (b, i);

      g_assert_cmpuint (x->index, ==, y->index);
      g_assert_true (usi_leaf_node_equal (&x->leaf, &y->leaf));
      g_assert_cmpstr (x->display_name, ==, y->display_name);
    }
}

static void
test_preshared_room_survives_restart (void)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "state: preshared", 16);
  g_autoptr(GError) error = NULL;
  g_autoptr(Person) ann = person_new (random, "Ann");
  g_autoptr(Person) bo = person_new (random, "Bo");
  g_autofree char *key_text = usi_preshared_key_generate (random, &error);
  g_autoptr(GBytes) key = usi_preshared_key_parse (key_text, &error);
  g_autoptr(UsiPresharedRoom) ann_room = usi_preshared_room_new (key, &ann->leaf.node, "Ann", &error);
  g_autoptr(UsiPresharedRoom) bo_room = usi_preshared_room_new (key, &bo->leaf.node, "Bo", &error);
  g_autoptr(GBytes) ann_1 = preshared_send (ann_room, ann, random, "ann 1");
  g_autoptr(GBytes) ann_2 = preshared_send (ann_room, ann, random, "ann 2");
  g_autoptr(GBytes) ann_3 = NULL;
  g_autoptr(GBytes) bo_1 = preshared_send (bo_room, bo, random, "bo 1");
  g_autoptr(GBytes) bo_2 = NULL;
  g_autoptr(GBytes) ann_saved = NULL;
  g_autoptr(GBytes) bo_saved = NULL;
  g_autoptr(GBytes) again = NULL;
  g_autoptr(UsiPresharedRoom) ann_restored = NULL;
  g_autoptr(UsiPresharedRoom) bo_restored = NULL;

  g_assert_no_error (error);
  preshared_opens (bo_room, ann_1, "ann 1");
  preshared_opens (ann_room, bo_1, "bo 1");
  g_assert_cmpuint (usi_preshared_room_get_members (bo_room)->len, ==, 2);

  ann_saved = usi_preshared_room_save (ann_room);
  bo_saved = usi_preshared_room_save (bo_room);
  ann_restored = preshared_restore_ok (ann_saved);
  bo_restored = preshared_restore_ok (bo_saved);
  again = usi_preshared_room_save (bo_restored);
  assert_same_bytes (bo_saved, again);
  g_clear_pointer (&again, g_bytes_unref);
  again = usi_preshared_room_save (ann_restored);
  assert_same_bytes (ann_saved, again);

  /* The same room, the same members seen, the same ratchets. */
  g_assert_cmpmem (usi_preshared_room_get_room_id (bo_restored), USI_ROOM_ID_LENGTH,
                   usi_preshared_room_get_room_id (bo_room), USI_ROOM_ID_LENGTH);
  g_assert_cmpuint (usi_preshared_room_get_own_index (bo_restored), ==, usi_preshared_room_get_own_index (bo_room));
  assert_same_members (usi_preshared_room_get_members (bo_room), usi_preshared_room_get_members (bo_restored));
  assert_same_members (usi_preshared_room_get_members (ann_room), usi_preshared_room_get_members (ann_restored));
  g_assert_cmpuint (usi_message_channel_get_n_preshared_ratchets (usi_preshared_room_get_channel (bo_restored)), ==, 2);
  g_clear_pointer (&ann_room, usi_preshared_room_free);
  g_clear_pointer (&bo_room, usi_preshared_room_free);

  /* Both ways on: a message from before the restart that Bo had not
   * received, one he had (a replay), then new ones. */
  preshared_opens (bo_restored, ann_2, "ann 2");
  {
    g_autoptr(UsiReceivedMessage) replay = usi_preshared_room_open (bo_restored, g_bytes_get_data (ann_1, NULL),
                                                                    g_bytes_get_size (ann_1), NOW, &error);

    g_assert_null (replay);
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DUPLICATE);
    g_clear_error (&error);
  }
  ann_3 = preshared_send (ann_restored, ann, random, "ann 3");
  g_assert_cmpuint (frame_generation (ann_3), ==, frame_generation (ann_2) + 1);
  preshared_opens (bo_restored, ann_3, "ann 3");
  bo_2 = preshared_send (bo_restored, bo, random, "bo 2");
  g_assert_cmpuint (frame_generation (bo_2), ==, frame_generation (bo_1) + 1);
  preshared_opens (ann_restored, bo_2, "bo 2");
}

/* Refusals ------------------------------------------------------------------- */

typedef gpointer (*RestoreFunc) (const guint8  *data,
                                 gsize          length,
                                 gpointer       user_data,
                                 GError       **error);

typedef struct
{
  const char     *what;
  RestoreFunc     restore;
  GDestroyNotify  free;
  gpointer        user_data;
} Restorer;

static void
assert_restore_refused (const Restorer *restorer,
                        GBytes         *bytes,
                        gint            code)
{
  g_autoptr(GError) error = NULL;
  gpointer restored = restorer->restore (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                                         restorer->user_data, &error);

  if (restored != NULL)
    g_error ("%s: %" G_GSIZE_FORMAT " bytes restored, expected a refusal", restorer->what, g_bytes_get_size (bytes));
  if (code >= 0)
    g_assert_error (error, USI_PROTOCOL_ERROR, code);
  else
    g_assert_true (error != NULL && error->domain == USI_PROTOCOL_ERROR);
}

/* Garbage, every kind of truncation, a byte more, version 2, another kind. */
static void
assert_refusals (const Restorer *restorer,
                 GBytes         *saved)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) restorer->what, strlen (restorer->what));
  const guint8 *data = g_bytes_get_data (saved, NULL);
  gsize length = g_bytes_get_size (saved);
  gsize step = MAX (length / 300, 1);

  /* The bytes given restore (the checks below mean something). */
  {
    g_autoptr(GError) error = NULL;
    gpointer restored = restorer->restore (data, length, restorer->user_data, &error);

    g_assert_no_error (error);
    g_assert_nonnull (restored);
    restorer->free (restored);
  }

  for (gsize cut = 0; cut < length; cut += (cut + 8 >= length ? 1 : step))
    {
      g_autoptr(GBytes) truncated = bytes_with (saved, cut, -1, 0);

      assert_restore_refused (restorer, truncated, USI_PROTOCOL_ERROR_MALFORMED);
    }
  {
    g_autoptr(GBytes) extended = bytes_with (saved, length + 1, (gssize) length, 0);
    g_autoptr(GBytes) version = bytes_with (saved, length, 1, 2);
    g_autoptr(GBytes) kind = bytes_with (saved, length, 0, data[0] == 2 ? 3 : 2);
    g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);

    assert_restore_refused (restorer, extended, USI_PROTOCOL_ERROR_MALFORMED);
    assert_restore_refused (restorer, version, USI_PROTOCOL_ERROR_UNSUPPORTED_VERSION);
    assert_restore_refused (restorer, kind, USI_PROTOCOL_ERROR_MALFORMED);
    assert_restore_refused (restorer, empty, USI_PROTOCOL_ERROR_MALFORMED);
  }

  /* Garbage: with another header, then after a right one. */
  for (guint i = 0; i < 2; i++)
    {
      guint8 *noise = g_malloc (length);
      g_autoptr(GBytes) garbage = NULL;

      g_assert_true (usi_random_fill (random, noise, length, NULL));
      noise[0] = i == 0 ? 0xee : data[0];
      noise[1] = 1;
      garbage = g_bytes_new_take (noise, length);
      assert_restore_refused (restorer, garbage, i == 0 ? USI_PROTOCOL_ERROR_MALFORMED : -1);
    }
}

static gpointer
restore_epoch (const guint8 *data, gsize length, gpointer user_data, GError **error)
{
  return usi_epoch_restore (data, length, error);
}

static gpointer
restore_owner_group (const guint8 *data, gsize length, gpointer user_data, GError **error)
{
  return usi_owner_group_restore (user_data, data, length, error);
}

static gpointer
restore_member_group (const guint8 *data, gsize length, gpointer user_data, GError **error)
{
  return usi_member_group_restore (user_data, data, length, error);
}

static gpointer
restore_book (const guint8 *data, gsize length, gpointer user_data, GError **error)
{
  return usi_invite_book_restore (data, length, error);
}

static gpointer
restore_preshared (const guint8 *data, gsize length, gpointer user_data, GError **error)
{
  return usi_preshared_room_restore (data, length, error);
}

/* A channel on the epochs of the group in @user_data (a member). */
static gpointer
restore_member_channel (const guint8 *data, gsize length, gpointer user_data, GError **error)
{
  return usi_message_channel_restore (data, length, usi_member_group_get_epoch (user_data),
                                      usi_member_group_get_previous_epoch (user_data), error);
}

static void
test_refusals (void)
{
  g_autoptr(Room) room = room_new ("state: refusals");
  g_autoptr(Room) other_room = room_new ("state: another room");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) epoch = NULL;
  g_autoptr(GBytes) owner_group = NULL;
  g_autoptr(GBytes) member_group = NULL;
  g_autoptr(GBytes) channel = NULL;
  g_autoptr(GBytes) book = NULL;
  g_autoptr(GBytes) preshared = NULL;
  g_autoptr(GBytes) frame = NULL;
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(GBytes) key = NULL;
  g_autoptr(UsiPresharedRoom) preshared_room = NULL;
  g_autoptr(Person) stranger = NULL;

  room_add (room, "Alice");
  room_add (room, "Bob");
  frame = room_send (room, 0, "hello");
  assert_opens (room, 1, frame, NOW, "hello");
  invite = room_invite (room);
  key = usi_preshared_key_parse ("000102030405060708090a0b0c0d0e0f", &error);
  g_assert_no_error (error);
  preshared_room = usi_preshared_room_new (key, &room->people[0]->leaf.node, "Alice", &error);
  g_assert_no_error (error);
  stranger = person_new (room->random, "Stranger");

  /* Alice joined in epoch 1: her group and channel hold epochs 2 and 1. */
  epoch = usi_epoch_save (usi_member_group_get_epoch (room->members[0]));
  owner_group = usi_owner_group_save (room->owner_group);
  member_group = usi_member_group_save (room->members[0]);
  channel = usi_message_channel_save (room->channels[0]);
  book = usi_invite_book_save (room->book);
  preshared = usi_preshared_room_save (preshared_room);

  {
    Restorer restorers[] = {
      { "epoch", restore_epoch, (GDestroyNotify) usi_epoch_unref, NULL },
      { "owner group", restore_owner_group, (GDestroyNotify) usi_owner_group_free, room->owner->identity },
      { "member group", restore_member_group, (GDestroyNotify) usi_member_group_free, room->people[0]->identity },
      { "channel", restore_member_channel, (GDestroyNotify) usi_message_channel_free, room->members[0] },
      { "invite book", restore_book, (GDestroyNotify) usi_invite_book_free, NULL },
      { "pre-shared room", restore_preshared, (GDestroyNotify) usi_preshared_room_free, NULL },
    };
    GBytes *records[] = { epoch, owner_group, member_group, channel, book, preshared };

    for (guint i = 0; i < G_N_ELEMENTS (restorers); i++)
      assert_refusals (&restorers[i], records[i]);

    /* Another identity than the one saved with. */
    restorers[1].user_data = room->people[0]->identity;
    assert_restore_refused (&restorers[1], owner_group, USI_PROTOCOL_ERROR_NOT_OWNER);
    restorers[2].user_data = room->people[1]->identity;
    assert_restore_refused (&restorers[2], member_group, USI_PROTOCOL_ERROR_NOT_MEMBER);
    restorers[2].user_data = stranger->identity;
    assert_restore_refused (&restorers[2], member_group, USI_PROTOCOL_ERROR_NOT_MEMBER);
  }

  /* A channel given another room's epoch, or another epoch of its room. */
  {
    g_autoptr(UsiMessageChannel) restored = NULL;
    UsiEpoch *current = usi_member_group_get_epoch (room->members[0]);
    UsiEpoch *previous = usi_member_group_get_previous_epoch (room->members[0]);
    const guint8 *data = g_bytes_get_data (channel, NULL);
    gsize length = g_bytes_get_size (channel);

    restored = usi_message_channel_restore (data, length, usi_owner_group_get_epoch (other_room->owner_group),
                                            NULL, &error);
    g_assert_null (restored);
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_ROOM);
    g_clear_error (&error);

    g_assert_nonnull (previous);
    restored = usi_message_channel_restore (data, length, previous, NULL, &error);
    g_assert_null (restored);
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_EPOCH);
    g_clear_error (&error);

    /* Alice's channel still holds the previous epoch: it must be given. */
    g_assert_nonnull (usi_message_channel_get_previous_epoch (room->channels[0]));
    restored = usi_message_channel_restore (data, length, current, NULL, &error);
    g_assert_null (restored);
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_EPOCH);
    g_clear_error (&error);
    restored = usi_message_channel_restore (data, length, current, current, &error);
    g_assert_null (restored);
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_EPOCH);
    g_clear_error (&error);
    restored = usi_message_channel_restore (data, length, current,
                                            usi_owner_group_get_epoch (other_room->owner_group), &error);
    g_assert_null (restored);
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_EPOCH);
    g_clear_error (&error);
  }

  /* An altered length: the epoch's secret tree said one byte shorter or
   * longer than it is. */
  {
    g_autoptr(GBytes) tree = usi_mls_secret_tree_save (usi_epoch_get_secret_tree (usi_member_group_get_epoch (room->members[0])));
    gsize length = g_bytes_get_size (epoch);
    gsize tree_length = g_bytes_get_size (tree);
    gsize prefix = length - tree_length - (tree_length < 64 ? 1 : tree_length < 16384 ? 2 : 4);
    const guint8 *data = g_bytes_get_data (epoch, NULL);
    Restorer restorer = { "epoch", restore_epoch, (GDestroyNotify) usi_epoch_unref, NULL };

    g_assert_cmpuint (tree_length, >=, 64);
    g_assert_cmpuint (tree_length, <, 16384);
    for (gint delta = -1; delta <= 1; delta += 2)
      {
        guint16 altered = (guint16) (0x4000 | (tree_length + delta));
        g_autoptr(GBytes) shorter = bytes_with (epoch, length, (gssize) prefix, altered >> 8);
        g_autofree guint8 *copy = g_memdup2 (g_bytes_get_data (shorter, NULL), length);
        g_autoptr(GBytes) bytes = NULL;

        g_assert_cmpuint (data[prefix], ==, 0x40 | (tree_length >> 8));
        copy[prefix + 1] = altered & 0xff;
        bytes = g_bytes_new (copy, length);
        assert_restore_refused (&restorer, bytes, USI_PROTOCOL_ERROR_MALFORMED);
      }
  }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/protocol/state/secret-tree/round-trip", test_secret_tree_round_trip);
  g_test_add_func ("/protocol/state/secret-tree/fresh", test_secret_tree_fresh);
  g_test_add_func ("/protocol/state/secret-tree/refusals", test_secret_tree_refusals);
  g_test_add_func ("/protocol/state/M13-owned-room-survives-restart", test_owned_room_survives_restart);
  g_test_add_func ("/protocol/state/password-room-survives-restart", test_password_room_survives_restart);
  g_test_add_func ("/protocol/state/preshared-room-survives-restart", test_preshared_room_survives_restart);
  g_test_add_func ("/protocol/state/S1-refused-not-repaired", test_refusals);

  return g_test_run ();
}
