/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The epoch structures on their own: Commit, Welcome, LeafUpdate and the
 * group info they share.  Round trips, the decoders' refusals, and every
 * single-bit change caught by decoding or by the signature. */

#include "config.h"

#include <string.h>

#include "crypto/usi-random.h"
#include "protocol/usi-commit.h"
#include "protocol/usi-leaf-update.h"
#include "protocol/usi-owner-group.h"
#include "protocol/usi-protocol-error.h"
#include "protocol/usi-welcome.h"

typedef struct
{
  UsiRandom     *random;
  UsiIdentity   *owner;
  UsiLeafSecret  owner_leaf;
  UsiIdentity   *member;
  UsiLeafSecret  member_leaf;
  UsiOwnerGroup *group;
  GBytes        *genesis;
  GBytes        *add;
  GBytes        *welcome;
  GBytes        *rotate;
  GBytes        *previous_context;   /* GroupContext the rotate commit is signed over */
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  UsiRoomConfig config;
  guint8 room_id[16] = { 0x11, 0x22 };

  fixture->random = usi_random_new_deterministic ((const guint8 *) "commit", 6);
  fixture->owner = usi_identity_generate (fixture->random, &error);
  fixture->member = usi_identity_generate (fixture->random, &error);
  g_assert_true (usi_leaf_secret_generate (fixture->random, fixture->owner, 1, 1000, &fixture->owner_leaf, &error));
  g_assert_true (usi_leaf_secret_generate (fixture->random, fixture->member, 1, 2000, &fixture->member_leaf, &error));
  usi_room_config_init_default (&config);
  fixture->group = usi_owner_group_create (fixture->owner, &fixture->owner_leaf.node, "Owner", room_id, &config,
                                           NULL, fixture->random, &fixture->genesis, &error);
  g_assert_no_error (error);
  g_assert_true (usi_owner_group_add_member (fixture->group, &fixture->member_leaf.node, "Member", fixture->random,
                                             NULL, &fixture->add, &fixture->welcome, &error));
  fixture->previous_context = g_bytes_ref (usi_epoch_get_group_context (usi_owner_group_get_epoch (fixture->group)));
  g_assert_true (usi_owner_group_rotate (fixture->group, fixture->random, &fixture->rotate, &error));
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  g_bytes_unref (fixture->previous_context);
  g_bytes_unref (fixture->rotate);
  g_bytes_unref (fixture->welcome);
  g_bytes_unref (fixture->add);
  g_bytes_unref (fixture->genesis);
  usi_owner_group_free (fixture->group);
  usi_leaf_secret_clear (&fixture->member_leaf);
  usi_leaf_secret_clear (&fixture->owner_leaf);
  usi_identity_free (fixture->member);
  usi_identity_free (fixture->owner);
  usi_random_free (fixture->random);
}

static UsiCommit *
decode_commit (GBytes *body)
{
  g_autoptr(GError) error = NULL;
  UsiCommit *commit = usi_commit_decode (g_bytes_get_data (body, NULL), g_bytes_get_size (body), &error);

  g_assert_no_error (error);
  g_assert_nonnull (commit);
  return commit;
}

static void
assert_commit_refused (GBytes *body,
                       int     code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiCommit) commit = usi_commit_decode (g_bytes_get_data (body, NULL), g_bytes_get_size (body), &error);

  g_assert_error (error, USI_PROTOCOL_ERROR, code);
  g_assert_null (commit);
}

/* Commit ----------------------------------------------------------------- */

static void
test_commit_round_trip (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiCommit) commit = decode_commit (fixture->rotate);
  g_autoptr(UsiCommit) add = decode_commit (fixture->add);
  g_autoptr(GBytes) encoded = usi_commit_encode (commit);
  const UsiCommitDelivery *delivery;
  const UsiRosterEntry *entry;
  guint8 add_hash[32], header_hash[32], commit_secret[32];

  g_assert_true (g_bytes_equal (encoded, fixture->rotate));
  g_assert_cmpuint (commit->epoch, ==, 2);
  g_assert_cmpint (commit->reason, ==, USI_COMMIT_REASON_ROTATE);
  g_assert_cmpuint (commit->committer_index, ==, USI_OWNER_INDEX);
  g_assert_cmpuint (commit->config.rotate_after_messages, ==, 100);
  g_assert_false (commit->config.password_required);
  g_assert_cmpuint (commit->roster->len, ==, 2);
  entry = usi_roster_lookup (commit->roster, 1);
  g_assert_cmpstr (entry->display_name, ==, "Member");
  g_assert_cmpmem (&entry->leaf, sizeof entry->leaf, &fixture->member_leaf.node, sizeof fixture->member_leaf.node);

  /* Chained to the commit before it. */
  g_assert_true (usi_commit_compute_hash (add, add_hash, &error));
  g_assert_cmpmem (commit->prev_commit_hash, 32, add_hash, 32);
  g_assert_cmpint (add->reason, ==, USI_COMMIT_REASON_ADD);
  g_assert_cmpuint (add->deliveries->len, ==, 0);

  /* Signed by the owner over the previous GroupContext, and by nobody else. */
  g_assert_true (usi_commit_verify (commit, usi_identity_get_public_key (fixture->owner), fixture->previous_context, &error));
  g_assert_no_error (error);
  g_assert_false (usi_commit_verify (commit, usi_identity_get_public_key (fixture->member), fixture->previous_context, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_BAD_SIGNATURE);
  g_clear_error (&error);
  g_assert_false (usi_commit_verify (commit, usi_identity_get_public_key (fixture->owner),
                                     usi_epoch_get_group_context (usi_owner_group_get_epoch (fixture->group)), &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_BAD_SIGNATURE);
  g_clear_error (&error);

  /* One delivery, for the member, that its leaf key opens. */
  g_assert_cmpuint (commit->deliveries->len, ==, 1);
  delivery = usi_commit_lookup_delivery (commit, 1);
  g_assert_nonnull (delivery);
  g_assert_null (usi_commit_lookup_delivery (commit, 0));
  g_assert_true (usi_commit_compute_header_hash (commit, header_hash, &error));
  g_assert_true (usi_commit_open_delivery (commit, header_hash, delivery, fixture->member_leaf.private_key,
                                           commit_secret, &error));
  g_assert_no_error (error);
}

static void
test_commit_delivery_binding (Fixture       *fixture,
                              gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiCommit) commit = decode_commit (fixture->rotate);
  UsiCommitDelivery moved;
  guint8 header_hash[32], other_hash[32], commit_secret[32];

  g_assert_true (usi_commit_compute_header_hash (commit, header_hash, &error));

  /* Another member's index, another epoch, another room, another header:
   * the same ciphertext opens for none of them. */
  moved = *usi_commit_lookup_delivery (commit, 1);
  moved.index = 2;
  g_assert_false (usi_commit_open_delivery (commit, header_hash, &moved, fixture->member_leaf.private_key,
                                            commit_secret, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
  g_clear_error (&error);

  moved.index = 1;
  commit->epoch++;
  g_assert_false (usi_commit_open_delivery (commit, header_hash, &moved, fixture->member_leaf.private_key,
                                            commit_secret, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
  g_clear_error (&error);
  commit->epoch--;

  commit->room_id[15] ^= 1;
  g_assert_false (usi_commit_open_delivery (commit, header_hash, &moved, fixture->member_leaf.private_key,
                                            commit_secret, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
  g_clear_error (&error);
  commit->room_id[15] ^= 1;

  commit->config.rotate_after_messages++;
  g_assert_true (usi_commit_compute_header_hash (commit, other_hash, &error));
  g_assert_true (memcmp (header_hash, other_hash, 32) != 0);
  g_assert_false (usi_commit_open_delivery (commit, other_hash, &moved, fixture->member_leaf.private_key,
                                            commit_secret, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
  g_clear_error (&error);

  /* The owner's leaf key opens nothing either. */
  g_assert_false (usi_commit_open_delivery (commit, header_hash, &moved, fixture->owner_leaf.private_key,
                                            commit_secret, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
}

static void
test_commit_bit_flips (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autoptr(UsiCommit) original = decode_commit (fixture->rotate);
  const guint8 *owner_key = usi_identity_get_public_key (fixture->owner);
  gsize length = g_bytes_get_size (fixture->rotate);
  guint n_decoded = 0;

  for (gsize bit = 0; bit < length * 8; bit++)
    {
      g_autofree guint8 *flipped = g_memdup2 (g_bytes_get_data (fixture->rotate, NULL), length);
      g_autoptr(UsiCommit) commit = NULL;
      g_autoptr(GError) error = NULL;

      flipped[bit / 8] ^= 1 << (bit % 8);
      commit = usi_commit_decode (flipped, length, &error);
      if (commit == NULL)
        {
          g_assert_nonnull (error);
          continue;
        }
      n_decoded++;

      /* Every byte but the confirmation tag is signed; the tag is checked
       * against the keys (test-group covers that end to end). */
      if (bit < (length - 32) * 8)
        {
          g_assert_false (usi_commit_verify (commit, owner_key, fixture->previous_context, &error));
          g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_BAD_SIGNATURE);
        }
      else
        {
          g_assert_true (usi_commit_verify (commit, owner_key, fixture->previous_context, &error));
          g_assert_true (memcmp (commit->confirmation_tag, original->confirmation_tag, 32) != 0);
        }
    }
  /* Most flips decode: the signature does the work. */
  g_assert_cmpuint (n_decoded, >, length * 4);
}

static void
test_commit_decoder_refusals (Fixture       *fixture,
                              gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiCommit) commit = decode_commit (fixture->rotate);
  gsize length = g_bytes_get_size (fixture->rotate);
  const guint8 *genuine = g_bytes_get_data (fixture->rotate, NULL);

  /* Every truncation, and a trailing byte. */
  for (gsize cut = 0; cut < length; cut++)
    {
      g_autoptr(UsiCommit) truncated = usi_commit_decode (genuine, cut, &error);

      g_assert_null (truncated);
      g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
      g_clear_error (&error);
    }
  {
    g_autofree guint8 *longer = g_malloc0 (length + 1);
    g_autoptr(UsiCommit) trailing = NULL;

    memcpy (longer, genuine, length);
    trailing = usi_commit_decode (longer, length + 1, &error);
    g_assert_null (trailing);
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
    g_clear_error (&error);
  }

  /* Another version. */
  {
    g_autofree guint8 *other = g_memdup2 (genuine, length);
    g_autoptr(UsiCommit) refused = NULL;

    other[0] = 2;
    refused = usi_commit_decode (other, length, &error);
    g_assert_null (refused);
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSUPPORTED_VERSION);
    g_clear_error (&error);
  }

  /* Reasons: unknown, CREATE after epoch 0, anything else at epoch 0. */
  {
    static const struct { guint8 reason; guint64 epoch; } cases[] = { { 5, 2 }, { 255, 2 }, { 0, 2 }, { 4, 0 } };

    for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
      {
        g_autoptr(GBytes) body = NULL;
        UsiCommitReason reason = commit->reason;
        guint64 epoch = commit->epoch;

        commit->reason = cases[i].reason;
        commit->epoch = cases[i].epoch;
        body = usi_commit_encode (commit);
        assert_commit_refused (body, USI_PROTOCOL_ERROR_MALFORMED);
        commit->reason = reason;
        commit->epoch = epoch;
      }
  }

  /* Roster: out of order, an index too large, empty, a name that is not
   * normalized. */
  {
    g_autoptr(GBytes) body = NULL;
    UsiRosterEntry *entry;

    g_ptr_array_add (commit->roster, g_ptr_array_steal_index (commit->roster, 0));
    body = usi_commit_encode (commit);
    assert_commit_refused (body, USI_PROTOCOL_ERROR_ROSTER_INVALID);
    g_ptr_array_insert (commit->roster, 0, g_ptr_array_steal_index (commit->roster, 1));
    g_clear_pointer (&body, g_bytes_unref);

    entry = g_ptr_array_index (commit->roster, 1);
    entry->index = USI_MAX_MEMBERS;
    body = usi_commit_encode (commit);
    assert_commit_refused (body, USI_PROTOCOL_ERROR_ROSTER_INVALID);
    entry->index = 1;
    g_clear_pointer (&body, g_bytes_unref);

    g_free (entry->display_name);
    entry->display_name = g_strdup (" Member");
    body = usi_commit_encode (commit);
    assert_commit_refused (body, USI_PROTOCOL_ERROR_MALFORMED);
    g_free (entry->display_name);
    entry->display_name = g_strdup ("Mem\u200Dber");
    g_clear_pointer (&body, g_bytes_unref);
    body = usi_commit_encode (commit);
    assert_commit_refused (body, USI_PROTOCOL_ERROR_MALFORMED);
    g_free (entry->display_name);
    entry->display_name = g_strdup ("Member");
    g_clear_pointer (&body, g_bytes_unref);
  }
  {
    g_autoptr(UsiCommit) empty = usi_commit_new ();
    g_autoptr(GBytes) body = NULL;

    empty->epoch = 3;
    empty->reason = USI_COMMIT_REASON_ROTATE;
    body = usi_commit_encode (empty);
    assert_commit_refused (body, USI_PROTOCOL_ERROR_ROSTER_INVALID);
  }

  /* Config: a rotation interval of 0. */
  {
    g_autoptr(GBytes) body = NULL;

    commit->config.rotate_after_messages = 0;
    body = usi_commit_encode (commit);
    assert_commit_refused (body, USI_PROTOCOL_ERROR_MALFORMED);
    commit->config.rotate_after_messages = 100;
  }

  /* Deliveries: repeated, and more than members. */
  {
    g_autoptr(GBytes) body = NULL;
    UsiCommitDelivery delivery = g_array_index (commit->deliveries, UsiCommitDelivery, 0);

    g_array_append_val (commit->deliveries, delivery);
    body = usi_commit_encode (commit);
    assert_commit_refused (body, USI_PROTOCOL_ERROR_ROSTER_INVALID);
    g_clear_pointer (&body, g_bytes_unref);

    g_array_index (commit->deliveries, UsiCommitDelivery, 1).index = 5;
    delivery.index = 6;
    g_array_append_val (commit->deliveries, delivery);
    body = usi_commit_encode (commit);
    assert_commit_refused (body, USI_PROTOCOL_ERROR_ROSTER_INVALID);
    g_array_set_size (commit->deliveries, 1);
  }

  /* A roster length above the maximum is refused before anything is read,
   * and a non-minimal length is malformed. */
  {
    g_autoptr(GByteArray) crafted = g_byte_array_new ();
    g_autoptr(GBytes) body = NULL;

    usi_wire_write_u8 (crafted, 1);
    usi_wire_write_fixed (crafted, commit->room_id, 16);
    usi_wire_write_u64 (crafted, 2);
    usi_wire_write_u32 (crafted, 0);
    usi_wire_write_fixed (crafted, commit->prev_commit_hash, 32);
    usi_wire_write_u8 (crafted, USI_COMMIT_REASON_ROTATE);
    usi_wire_write_fixed (crafted, (const guint8 *) "\x80\x10\x00\x00", 4);   /* 1 MiB */
    body = g_bytes_new (crafted->data, crafted->len);
    assert_commit_refused (body, USI_PROTOCOL_ERROR_TOO_LARGE);
    g_clear_pointer (&body, g_bytes_unref);

    g_byte_array_set_size (crafted, crafted->len - 4);
    usi_wire_write_fixed (crafted, (const guint8 *) "\x40\x01", 2);   /* 1 in two bytes */
    usi_wire_write_u8 (crafted, 0);
    body = g_bytes_new (crafted->data, crafted->len);
    assert_commit_refused (body, USI_PROTOCOL_ERROR_MALFORMED);
  }

  /* What was left is the genuine commit again. */
  {
    g_autoptr(GBytes) body = usi_commit_encode (commit);

    g_assert_true (g_bytes_equal (body, fixture->rotate));
  }
}

/* Welcome ---------------------------------------------------------------- */

static void
test_welcome_round_trip (Fixture       *fixture,
                         gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiWelcome) welcome = NULL;
  g_autoptr(GBytes) encoded = NULL;
  g_autoptr(UsiCommit) add = decode_commit (fixture->add);
  const UsiGroupInfo *info;
  guint8 joiner_secret[32], add_hash[32];

  welcome = usi_welcome_decode (g_bytes_get_data (fixture->welcome, NULL), g_bytes_get_size (fixture->welcome), &error);
  g_assert_no_error (error);
  encoded = usi_welcome_encode (welcome);
  g_assert_true (g_bytes_equal (encoded, fixture->welcome));

  info = welcome->group_info;
  g_assert_cmpuint (info->epoch, ==, 1);
  g_assert_cmpuint (welcome->joiner_index, ==, 1);
  g_assert_cmpuint (info->roster->len, ==, 2);
  g_assert_cmpmem (info->confirmation_tag, 32, add->confirmation_tag, 32);
  g_assert_true (usi_commit_compute_hash (add, add_hash, &error));
  g_assert_cmpmem (info->commit_hash, 32, add_hash, 32);

  g_assert_true (usi_welcome_verify (welcome, usi_identity_get_public_key (fixture->owner), &error));
  g_assert_false (usi_welcome_verify (welcome, usi_identity_get_public_key (fixture->member), &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_BAD_SIGNATURE);
  g_clear_error (&error);

  g_assert_true (usi_welcome_open (welcome, fixture->member_leaf.private_key, joiner_secret, &error));
  g_assert_no_error (error);
  g_assert_false (usi_welcome_open (welcome, fixture->owner_leaf.private_key, joiner_secret, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
  g_clear_error (&error);

  /* The seal is bound to the joiner's index. */
  welcome->joiner_index = 0;
  g_assert_false (usi_welcome_open (welcome, fixture->member_leaf.private_key, joiner_secret, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
}

static void
test_welcome_bit_flips_and_refusals (Fixture       *fixture,
                                     gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  const guint8 *owner_key = usi_identity_get_public_key (fixture->owner);
  const guint8 *genuine = g_bytes_get_data (fixture->welcome, NULL);
  gsize length = g_bytes_get_size (fixture->welcome);

  for (gsize bit = 0; bit < length * 8; bit++)
    {
      g_autofree guint8 *flipped = g_memdup2 (genuine, length);
      g_autoptr(UsiWelcome) welcome = NULL;

      flipped[bit / 8] ^= 1 << (bit % 8);
      welcome = usi_welcome_decode (flipped, length, &error);
      if (welcome == NULL)
        {
          g_assert_nonnull (error);
          g_clear_error (&error);
          continue;
        }
      g_assert_false (usi_welcome_verify (welcome, owner_key, &error));
      g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_BAD_SIGNATURE);
      g_clear_error (&error);
    }

  for (gsize cut = 0; cut < length; cut++)
    {
      g_autoptr(UsiWelcome) truncated = usi_welcome_decode (genuine, cut, &error);

      g_assert_null (truncated);
      g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
      g_clear_error (&error);
    }
  {
    g_autofree guint8 *longer = g_malloc0 (length + 1);
    g_autofree guint8 *other = g_memdup2 (genuine, length);
    g_autoptr(UsiWelcome) refused = NULL;
    g_autoptr(UsiWelcome) unsupported = NULL;

    memcpy (longer, genuine, length);
    refused = usi_welcome_decode (longer, length + 1, &error);
    g_assert_null (refused);
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
    g_clear_error (&error);

    other[0] = 0;
    unsupported = usi_welcome_decode (other, length, &error);
    g_assert_null (unsupported);
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSUPPORTED_VERSION);
  }
}

/* LeafUpdate ------------------------------------------------------------- */

static void
test_leaf_update_round_trip_and_bit_flips (Fixture       *fixture,
                                           gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) encoded = NULL;
  g_autoptr(GBytes) again = NULL;
  g_auto(UsiLeafSecret) next = { 0 };
  UsiLeafUpdate update = { { 0x11, 0x22 }, 2, 1, }, decoded;
  gsize length;

  g_assert_true (usi_leaf_secret_generate (fixture->random, fixture->member, 2, 3000, &next, &error));
  update.leaf = next.node;
  g_assert_true (usi_leaf_update_sign (&update, fixture->member, &error));
  encoded = usi_leaf_update_encode (&update);
  length = g_bytes_get_size (encoded);
  g_assert_cmpuint (length, ==, USI_LEAF_UPDATE_ENCODED_LENGTH);
  g_assert_cmpuint (length, ==, 233);

  g_assert_true (usi_leaf_update_decode (g_bytes_get_data (encoded, NULL), length, &decoded, &error));
  g_assert_true (usi_leaf_update_verify (&decoded, &error));
  g_assert_no_error (error);
  again = usi_leaf_update_encode (&decoded);
  g_assert_true (g_bytes_equal (again, encoded));
  g_assert_cmpuint (decoded.epoch, ==, 2);
  g_assert_cmpuint (decoded.sender_index, ==, 1);
  g_assert_cmpuint (decoded.leaf.sequence, ==, 2);

  for (gsize bit = 0; bit < length * 8; bit++)
    {
      g_autofree guint8 *flipped = g_memdup2 (g_bytes_get_data (encoded, NULL), length);

      flipped[bit / 8] ^= 1 << (bit % 8);
      if (!usi_leaf_update_decode (flipped, length, &decoded, &error))
        {
          g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSUPPORTED_VERSION);
          g_assert_cmpuint (bit, <, 8);
          g_clear_error (&error);
          continue;
        }
      g_assert_false (usi_leaf_update_verify (&decoded, &error));
      g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_BAD_SIGNATURE);
      g_clear_error (&error);
    }

  g_assert_false (usi_leaf_update_decode (g_bytes_get_data (encoded, NULL), length - 1, &decoded, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
  g_clear_error (&error);
  {
    g_autofree guint8 *longer = g_malloc0 (length + 1);

    memcpy (longer, g_bytes_get_data (encoded, NULL), length);
    g_assert_false (usi_leaf_update_decode (longer, length + 1, &decoded, &error));
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
  }
}

/* Group info and roster -------------------------------------------------- */

static void
test_group_info_round_trip (Fixture       *fixture,
                            gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GByteArray) encoded = g_byte_array_new ();
  g_autoptr(GByteArray) again = g_byte_array_new ();
  g_autoptr(UsiGroupInfo) copy = NULL;
  g_autoptr(UsiGroupInfo) decoded = NULL;
  g_autoptr(GBytes) context = NULL;
  const UsiGroupInfo *info = usi_owner_group_get_group_info (fixture->group);
  UsiWireReader reader;
  guint8 interim[32], interim_again[32];

  usi_group_info_write (info, encoded);
  usi_wire_reader_init (&reader, encoded->data, encoded->len);
  decoded = usi_group_info_read (&reader, &error);
  g_assert_no_error (error);
  g_assert_true (usi_wire_reader_finish (&reader, &error));
  usi_group_info_write (decoded, again);
  g_assert_cmpmem (encoded->data, encoded->len, again->data, again->len);

  /* The GroupContext the owner's epoch holds is the one the info gives. */
  context = usi_group_info_build_group_context (decoded, &error);
  g_assert_true (g_bytes_equal (context, usi_epoch_get_group_context (usi_owner_group_get_epoch (fixture->group))));

  copy = usi_group_info_copy (info);
  g_assert_true (usi_group_info_compute_interim_transcript_hash (info, interim, &error));
  g_assert_true (usi_group_info_compute_interim_transcript_hash (copy, interim_again, &error));
  g_assert_cmpmem (interim, 32, interim_again, 32);
  copy->confirmation_tag[0] ^= 1;
  g_assert_true (usi_group_info_compute_interim_transcript_hash (copy, interim_again, &error));
  g_assert_true (memcmp (interim, interim_again, 32) != 0);

  /* The owner's keys confirm its own info, and only it. */
  g_assert_true (usi_group_info_check_confirmation_tag (info, usi_epoch_get_secrets (usi_owner_group_get_epoch (fixture->group)), &error));
  g_assert_false (usi_group_info_check_confirmation_tag (copy, usi_epoch_get_secrets (usi_owner_group_get_epoch (fixture->group)), &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_BAD_CONFIRMATION);
}

static void
test_roster_checks (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) roster = usi_roster_copy (usi_owner_group_get_group_info (fixture->group)->roster);
  UsiRosterEntry *member;

  g_assert_true (usi_roster_check_unique_keys (roster, &error));
  g_assert_true (usi_roster_verify_leaves (roster, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (usi_roster_get_free_index (roster), ==, 2);

  member = g_ptr_array_index (roster, 1);
  memcpy (member->leaf.leaf_key, fixture->owner_leaf.node.leaf_key, 32);
  g_assert_false (usi_roster_check_unique_keys (roster, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_ROSTER_INVALID);
  g_clear_error (&error);
  g_assert_false (usi_roster_verify_leaves (roster, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_BAD_SIGNATURE);
  g_clear_error (&error);

  member->leaf = fixture->owner_leaf.node;
  g_assert_false (usi_roster_check_unique_keys (roster, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_ROSTER_INVALID);
  g_clear_error (&error);

  member->index = 3;
  g_assert_cmpuint (usi_roster_get_free_index (roster), ==, 1);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/protocol/commit/commit-round-trip", Fixture, NULL,
              fixture_set_up, test_commit_round_trip, fixture_tear_down);
  g_test_add ("/protocol/commit/commit-delivery-binding", Fixture, NULL,
              fixture_set_up, test_commit_delivery_binding, fixture_tear_down);
  g_test_add ("/protocol/commit/commit-bit-flips", Fixture, NULL,
              fixture_set_up, test_commit_bit_flips, fixture_tear_down);
  g_test_add ("/protocol/commit/commit-decoder-refusals", Fixture, NULL,
              fixture_set_up, test_commit_decoder_refusals, fixture_tear_down);
  g_test_add ("/protocol/commit/welcome-round-trip", Fixture, NULL,
              fixture_set_up, test_welcome_round_trip, fixture_tear_down);
  g_test_add ("/protocol/commit/welcome-bit-flips-and-refusals", Fixture, NULL,
              fixture_set_up, test_welcome_bit_flips_and_refusals, fixture_tear_down);
  g_test_add ("/protocol/commit/leaf-update-round-trip-and-bit-flips", Fixture, NULL,
              fixture_set_up, test_leaf_update_round_trip_and_bit_flips, fixture_tear_down);
  g_test_add ("/protocol/commit/group-info-round-trip", Fixture, NULL,
              fixture_set_up, test_group_info_round_trip, fixture_tear_down);
  g_test_add ("/protocol/commit/roster-checks", Fixture, NULL,
              fixture_set_up, test_roster_checks, fixture_tear_down);

  return g_test_run ();
}
