/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Rows K1–K8 of the adversarial table: hostile keys, failing randomness,
 * hostile cost parameters, and key substitution against verification.
 * K5–K7 concern SPAKE2 and interactive SAS, which Usi does not have; those
 * tests assert what Usi does in their place, and say so. */

#include "config.h"

#include <string.h>

#include "crypto/usi-crypto-error.h"
#include "crypto/usi-ed25519.h"
#include "crypto/usi-hpke.h"
#include "crypto/usi-mls-key-schedule.h"
#include "crypto/usi-mls-labels.h"
#include "crypto/usi-random.h"
#include "crypto/usi-safety-number.h"
#include "crypto/usi-scrypt.h"
#include "crypto/usi-x25519.h"
#include "protocol/usi-message.h"
#include "protocol/usi-preshared-room.h"
#include "protocol/usi-protocol-error.h"
#include "protocol/usi-trust.h"
#include "protocol/usi-wire.h"

#include "usi-test-vectors.h"

#define NOW G_GUINT64_CONSTANT (1700000000000)

/* Wycheproof's X25519 public keys flagged LowOrderPublic, with a private
 * key to pair them with; NULL (and the test skipped) without the vectors. */
static GPtrArray *
load_low_order_points (void)
{
  g_autoptr(JsonNode) root = usi_test_vectors_load_json ("wycheproof/x25519_test.json");
  GPtrArray *points;
  JsonArray *groups;

  if (root == NULL)
    return NULL;

  points = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  groups = json_object_get_array_member (json_node_get_object (root), "testGroups");
  for (guint g = 0; g < json_array_get_length (groups); g++)
    {
      JsonArray *tests = json_object_get_array_member (json_array_get_object_element (groups, g), "tests");

      for (guint t = 0; t < json_array_get_length (tests); t++)
        {
          JsonObject *test = json_array_get_object_element (tests, t);
          JsonArray *flags = json_object_get_array_member (test, "flags");

          for (guint f = 0; f < json_array_get_length (flags); f++)
            if (g_strcmp0 (json_array_get_string_element (flags, f), "LowOrderPublic") == 0)
              {
                g_ptr_array_add (points, usi_test_hex (json_object_get_string_member (test, "public")));
                break;
              }
        }
    }

  return points;
}

/* K1: low-order X25519 keys as a peer, a leaf key, an HPKE recipient. */
static void
test_k1_low_order_x25519_refused (void)
{
  g_autoptr(GPtrArray) points = load_low_order_points ();
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "K1", 2);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiIdentity) identity = usi_identity_generate (random, &error);
  guint8 private_key[32], public_key[32];
  const UsiHpkeParameters base = { USI_HPKE_MODE_BASE, (const guint8 *) "info", 4, NULL, 0, NULL, 0 };

  if (points == NULL)
    return;
  g_assert_cmpuint (points->len, >, 0);
  g_assert_true (usi_x25519_generate (random, private_key, public_key, &error));

  for (guint i = 0; i < points->len; i++)
    {
      GBytes *point = g_ptr_array_index (points, i);
      const guint8 *peer = g_bytes_get_data (point, NULL);
      guint8 shared[32], enc[32], ciphertext[4 + 16], kem_output[32];
      UsiLeafNode leaf = { { 0 } };
      g_autoptr(GByteArray) content = g_byte_array_new ();

      memset (shared, 0xaa, sizeof shared);
      g_assert_false (usi_x25519 (private_key, peer, shared, &error));
      g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_KEY);
      g_clear_error (&error);

      /* A leaf node carrying such a key, properly signed by its identity,
       * is refused where leaf nodes enter (a join, a roster, an update):
       * nothing could ever be sealed to it, so accepting it would stall
       * every later commit.  Sealing to the key fails too. */
      memcpy (leaf.identity_key, usi_identity_get_public_key (identity), 32);
      memcpy (leaf.leaf_key, peer, 32);
      usi_wire_write_fixed (content, leaf.identity_key, 32);
      usi_wire_write_fixed (content, leaf.leaf_key, 32);
      usi_wire_write_u32 (content, leaf.sequence);
      usi_wire_write_u64 (content, leaf.created_ms);
      g_assert_true (usi_identity_sign (identity, "LeafNodeTBS", content->data, content->len, leaf.signature, &error));
      g_assert_false (usi_leaf_node_verify (&leaf, &error));
      g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNUSABLE_KEY);
      g_clear_error (&error);

      memset (ciphertext, 0, sizeof ciphertext);
      g_assert_false (usi_hpke_seal (&base, random, leaf.leaf_key, NULL, NULL, 0, (const guint8 *) "data", 4,
                                     enc, ciphertext, &error));
      g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_KEY);
      g_clear_error (&error);
      g_assert_true (memcmp (ciphertext, (guint8[20]) { 0 }, sizeof ciphertext) == 0);

      g_assert_false (usi_mls_encrypt_with_label ("usi 1.0 ", random, leaf.leaf_key, "Welcome", NULL, 0,
                                                  (const guint8 *) "data", 4, kem_output, ciphertext, &error));
      g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_KEY);
      g_clear_error (&error);
    }

  usi_test_vectors_report ("wycheproof/x25519_test.json LowOrderPublic", points->len);
}

/* K2: an HPKE enc that is all zeros, low order, or of the wrong length. */
static void
test_k2_hpke_enc_refused (void)
{
  g_autoptr(GPtrArray) points = load_low_order_points ();
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "K2", 2);
  g_autoptr(GError) error = NULL;
  const UsiHpkeParameters base = { USI_HPKE_MODE_BASE, (const guint8 *) "info", 4, NULL, 0, NULL, 0 };
  static const guint8 zero_enc[32] = { 0 };
  guint8 private_key[32], public_key[32], enc[32], ciphertext[20], plaintext[4];
  g_autoptr(UsiHpkeContext) context = NULL;
  UsiWireReader reader;
  const guint8 *field;

  g_assert_true (usi_hpke_generate_key_pair (random, private_key, public_key, &error));
  g_assert_true (usi_hpke_seal (&base, random, public_key, NULL, NULL, 0, (const guint8 *) "data", 4,
                                enc, ciphertext, &error));

  /* All zeros. */
  context = usi_hpke_setup_recipient (&base, zero_enc, private_key, NULL, &error);
  g_assert_null (context);
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_KEY);
  g_clear_error (&error);
  memset (plaintext, 0, sizeof plaintext);
  g_assert_false (usi_hpke_open (&base, zero_enc, private_key, NULL, NULL, 0, ciphertext, sizeof ciphertext,
                                 plaintext, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_KEY);
  g_clear_error (&error);
  g_assert_true (memcmp (plaintext, (guint8[4]) { 0 }, 4) == 0);

  /* Every low-order point. */
  for (guint i = 0; points != NULL && i < points->len; i++)
    {
      context = usi_hpke_setup_recipient (&base, g_bytes_get_data (g_ptr_array_index (points, i), NULL),
                                          private_key, NULL, &error);
      g_assert_null (context);
      g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_KEY);
      g_clear_error (&error);
    }

  /* The wrong length: an enc field is read as exactly 32 bytes, so 31
   * bytes, or 33 where a structure ends, are malformed before HPKE sees
   * anything. */
  usi_wire_reader_init (&reader, enc, 31);
  g_assert_false (usi_wire_read_fixed (&reader, USI_HPKE_ENC_LENGTH, &field, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
  g_clear_error (&error);
  {
    guint8 longer[33] = { 0 };

    memcpy (longer, enc, 32);
    usi_wire_reader_init (&reader, longer, sizeof longer);
    g_assert_true (usi_wire_read_fixed (&reader, USI_HPKE_ENC_LENGTH, &field, &error));
    g_assert_false (usi_wire_reader_finish (&reader, &error));
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
    g_clear_error (&error);
  }

  /* The genuine enc still opens. */
  g_assert_true (usi_hpke_open (&base, enc, private_key, NULL, NULL, 0, ciphertext, sizeof ciphertext,
                                plaintext, &error));
  g_assert_cmpmem (plaintext, 4, "data", 4);
}

/* K3: the random source fails: nothing is emitted, nothing moves. */
static void
test_k3_random_failure_aborts (void)
{
  static const guint8 three_bytes[3] = { 1, 2, 3 };
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "K3", 2);
  g_autoptr(UsiRandom) starved = usi_random_new_fixed (three_bytes, sizeof three_bytes);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiIdentity) identity = usi_identity_generate (random, &error);
  g_auto(UsiLeafSecret) leaf = { 0 };
  g_auto(UsiLeafSecret) starved_leaf = { 0 };
  g_autoptr(GPtrArray) roster = g_ptr_array_new_with_free_func ((GDestroyNotify) usi_roster_entry_free);
  g_auto(UsiMlsEpochSecrets) secrets = { { 0 } };
  g_autoptr(GBytes) group_context = NULL;
  g_autoptr(UsiEpoch) epoch = NULL;
  g_autoptr(GBytes) frame = NULL;
  g_autoptr(UsiIdentity) starved_identity = NULL;
  g_autofree char *starved_key = NULL;
  guint8 room_id[16] = { 7 }, init_secret[32] = { 1 };
  guint8 message_hash[32], enc[32], ciphertext[20];
  const UsiHpkeParameters base = { USI_HPKE_MODE_BASE, NULL, 0, NULL, 0, NULL, 0 };

  g_assert_true (usi_leaf_secret_generate (random, identity, 0, NOW, &leaf, &error));
  g_ptr_array_add (roster, usi_roster_entry_new (0, &leaf.node, "Alice"));
  group_context = usi_mls_group_context_serialize (3, room_id, 16, 1, NULL, 0, NULL, 0, NULL, 0, &error);
  g_assert_true (usi_mls_key_schedule_derive ("usi 1.0 ", init_secret, NULL, NULL,
                                              g_bytes_get_data (group_context, NULL),
                                              g_bytes_get_size (group_context), &secrets, &error));
  epoch = usi_epoch_new (USI_ROOM_MODE_OWNED, room_id, 1, group_context, &secrets, roster, 0, 0, 100, &error);
  g_assert_no_error (error);

  /* Sealing a message needs four bytes for the reuse guard. */
  memset (message_hash, 0xaa, sizeof message_hash);
  frame = usi_app_message_seal (epoch, identity, USI_CONTENT_TYPE_TEXT, (const guint8 *) "secret", 6, NULL, NOW,
                                starved, message_hash, &error);
  g_assert_null (frame);
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_RANDOM);
  g_clear_error (&error);
  g_assert_cmpuint (message_hash[0], ==, 0xaa);
  g_assert_cmpuint (message_hash[31], ==, 0xaa);
  g_assert_cmpuint (usi_mls_secret_tree_get_next_generation (usi_epoch_get_secret_tree (epoch),
                                                             USI_MLS_RATCHET_APPLICATION, 0), ==, 0);

  /* Keys are never made from too little randomness. */
  starved_identity = usi_identity_generate (starved, &error);
  g_assert_null (starved_identity);
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_RANDOM);
  g_clear_error (&error);

  memset (&starved_leaf, 0x55, sizeof starved_leaf);
  g_assert_false (usi_leaf_secret_generate (starved, identity, 1, NOW, &starved_leaf, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_RANDOM);
  g_clear_error (&error);
  g_assert_true (memcmp (starved_leaf.private_key, (guint8[32]) { 0 }, 32) == 0);

  memset (ciphertext, 0, sizeof ciphertext);
  g_assert_false (usi_hpke_seal (&base, starved, leaf.node.leaf_key, NULL, NULL, 0, (const guint8 *) "data", 4,
                                 enc, ciphertext, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_RANDOM);
  g_clear_error (&error);
  g_assert_true (memcmp (ciphertext, (guint8[20]) { 0 }, sizeof ciphertext) == 0);

  starved_key = usi_preshared_key_generate (starved, &error);
  g_assert_null (starved_key);
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_RANDOM);
  g_clear_error (&error);

  /* Once randomness is back, the same epoch seals generation 0. */
  frame = usi_app_message_seal (epoch, identity, USI_CONTENT_TYPE_TEXT, (const guint8 *) "secret", 6, NULL, NOW,
                                random, message_hash, &error);
  g_assert_no_error (error);
  g_assert_nonnull (frame);
}

/* K4: scrypt parameters from untrusted data above the caps. */
static void
test_k4_scrypt_caps (void)
{
  static const UsiScryptParams too_costly[] = {
    { G_GUINT64_CONSTANT (1) << 21, 8, 1 },   /* N above 2^20 */
    { G_GUINT64_CONSTANT (1) << 40, 1, 1 },
    { 1024, 17, 1 },                          /* r above 16 */
    { 1024, 8, 17 },                          /* p above 16 */
    { 1024, 8, G_MAXUINT32 },
    { G_GUINT64_CONSTANT (1) << 20, 16, 1 },  /* 2 GiB of memory */
    { G_GUINT64_CONSTANT (1) << 20, 8, 2 },   /* 2^24 work */
  };
  static const UsiScryptParams nonsense[] = {
    { 0, 8, 1 }, { 1, 8, 1 }, { 1000, 8, 1 }, { 1024, 0, 1 }, { 1024, 8, 0 },
  };
  guint8 out[32];

  for (guint i = 0; i < G_N_ELEMENTS (too_costly); i++)
    {
      g_autoptr(GError) error = NULL;
      gint64 start = g_get_monotonic_time ();

      memset (out, 0, sizeof out);
      g_assert_false (usi_scrypt ("pw", 2, (const guint8 *) "salt", 4, &too_costly[i], out, sizeof out, &error));
      g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_LIMIT);
      /* Refused before any work. */
      g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC / 10);
      g_assert_true (memcmp (out, (guint8[32]) { 0 }, sizeof out) == 0);
    }

  for (guint i = 0; i < G_N_ELEMENTS (nonsense); i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_false (usi_scrypt ("pw", 2, (const guint8 *) "salt", 4, &nonsense[i], out, sizeof out, &error));
      g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
    }
}

/* K5: Usi has no SPAKE2 (a room password is proved inside the HPKE-sealed
 * join request, with scrypt), so there is no PAKE point to validate.  The
 * peer values Usi does accept are X25519 keys (K1, K2) and Ed25519 identity
 * keys; an identity key that is not a point of the curve, or not in its
 * canonical encoding, is refused wherever it is used. */
static void
test_k5_no_spake2_identity_points_checked (void)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "K5", 2);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiIdentity) identity = usi_identity_generate (random, &error);
  g_auto(UsiLeafSecret) leaf = { 0 };
  /* y = 2: (y² − 1) / (d y² + 1) is not a square mod p. */
  static const guint8 off_curve[32] = { 2 };
  /* y = p: not canonical. */
  static const guint8 not_canonical[32] = {
    0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
  };
  const guint8 *bad_keys[] = { off_curve, not_canonical };
  guint8 signature[64];

  g_assert_true (usi_leaf_secret_generate (random, identity, 0, NOW, &leaf, &error));
  g_assert_true (usi_ed25519_sign ((const guint8 *) "0123456789abcdef0123456789abcdef", (const guint8 *) "m", 1,
                                   signature, &error));

  for (guint i = 0; i < G_N_ELEMENTS (bad_keys); i++)
    {
      UsiLeafNode forged = leaf.node;

      g_assert_false (usi_ed25519_verify (bad_keys[i], (const guint8 *) "m", 1, signature, 64, &error));
      g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_KEY);
      g_clear_error (&error);

      /* As the identity of a leaf node (a roster entry, a join request). */
      memcpy (forged.identity_key, bad_keys[i], 32);
      g_assert_false (usi_leaf_node_verify (&forged, &error));
      g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_BAD_SIGNATURE);
      g_clear_error (&error);
    }
}

static char *
safety_number (const guint8 *a,
               const guint8 *b)
{
  g_autoptr(GError) error = NULL;
  UsiSafetyIdentity first = { a, 32, (const guint8 *) "", 0 };
  UsiSafetyIdentity second = { b, 32, (const guint8 *) "", 0 };
  char *number = usi_safety_number_compute (&first, &second, &error);

  g_assert_no_error (error);
  return number;
}

static char *
safety_emoji (const guint8 *a,
              const guint8 *b)
{
  g_autoptr(GError) error = NULL;
  UsiSafetyIdentity first = { a, 32, (const guint8 *) "", 0 };
  UsiSafetyIdentity second = { b, 32, (const guint8 *) "", 0 };
  char *emoji = usi_safety_emoji_compute_string (&first, &second, &error);

  g_assert_no_error (error);
  return emoji;
}

/* K6: Usi has no interactive SAS, so no ephemeral key can be swapped after
 * a commitment.  What two people compare is computed from the two identity
 * keys alone: both sides get the same string, and substituting either key
 * changes it, so a man in the middle cannot make the comparison match. */
static void
test_k6_no_sas_numbers_bind_both_keys (void)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "K6", 2);
  guint8 alice[32], bob[32], mallory[32];
  g_autofree char *ab = NULL, *ba = NULL, *mb = NULL, *am = NULL;
  g_autofree char *emoji_ab = NULL, *emoji_ba = NULL, *emoji_mb = NULL, *emoji_am = NULL;

  g_assert_true (usi_random_fill (random, alice, 32, NULL));
  g_assert_true (usi_random_fill (random, bob, 32, NULL));
  g_assert_true (usi_random_fill (random, mallory, 32, NULL));
  /* Real Ed25519 keys are not needed: the numbers are over the bytes. */

  ab = safety_number (alice, bob);
  ba = safety_number (bob, alice);
  mb = safety_number (mallory, bob);
  am = safety_number (alice, mallory);
  g_assert_cmpstr (ab, ==, ba);
  g_assert_cmpstr (ab, !=, mb);
  g_assert_cmpstr (ab, !=, am);

  emoji_ab = safety_emoji (alice, bob);
  emoji_ba = safety_emoji (bob, alice);
  emoji_mb = safety_emoji (mallory, bob);
  emoji_am = safety_emoji (alice, mallory);
  g_assert_cmpstr (emoji_ab, ==, emoji_ba);
  g_assert_cmpstr (emoji_ab, !=, emoji_mb);
  g_assert_cmpstr (emoji_ab, !=, emoji_am);
}

/* K7: Usi has no SAS MAC step; its equivalent is that verification is
 * recorded for the exact identity key compared.  A key substituted under the
 * same name is never "verified", however its emoji look, and it blocks
 * sending until the person looks again. */
static void
test_k7_no_sas_verification_binds_the_key (void)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "K7", 2);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiIdentity) bob = usi_identity_generate (random, &error);
  g_autoptr(UsiIdentity) substitute = usi_identity_generate (random, &error);
  g_autoptr(UsiTrust) trust = usi_trust_new ();
  g_auto(UsiLeafSecret) substitute_leaf = { 0 };
  g_autoptr(UsiRosterEntry) entry = NULL;
  guint8 room_id[16] = { 1, 2, 3 };
  guint8 alice[32] = { 9 };
  g_autofree char *real = NULL, *swapped = NULL;

  usi_trust_mark_verified (trust, room_id, "Bob", usi_identity_get_public_key (bob));
  g_assert_cmpint (usi_trust_get_state (trust, room_id, "Bob", usi_identity_get_public_key (bob)), ==,
                   USI_TRUST_VERIFIED);

  g_assert_true (usi_leaf_secret_generate (random, substitute, 0, NOW, &substitute_leaf, &error));
  entry = usi_roster_entry_new (4, &substitute_leaf.node, "Bob");
  g_assert_cmpint (usi_trust_get_state (trust, room_id, "Bob", usi_identity_get_public_key (substitute)), ==,
                   USI_TRUST_CHANGED);
  g_assert_false (usi_trust_check_member (trust, room_id, entry, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_KEY_CHANGED);

  /* And what the person would compare differs. */
  real = safety_number (alice, usi_identity_get_public_key (bob));
  swapped = safety_number (alice, usi_identity_get_public_key (substitute));
  g_assert_cmpstr (real, !=, swapped);
}

typedef struct
{
  guint n_records;
  guint n_verified;
} RecordCount;

static void
count_record (const guint8 *room_id,
              const char   *display_name,
              const guint8 *identity_key,
              gboolean      verified,
              gpointer      user_data)
{
  RecordCount *count = user_data;

  count->n_records++;
  count->n_verified += verified ? 1 : 0;
}

/* K8: a verified member's identity key changes: sending is blocked until
 * the person verifies again or accepts the new key. */
static void
test_k8_verified_key_change_blocks_sending (void)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "K8", 2);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiTrust) trust = usi_trust_new ();
  g_autoptr(GPtrArray) roster = g_ptr_array_new_with_free_func ((GDestroyNotify) usi_roster_entry_free);
  UsiLeafSecret leaves[4];
  UsiIdentity *identities[4];
  static const char *names[] = { "Alice", "Bob", "Chloé", "Bob" };
  guint8 room_id[16] = { 8 }, other_room[16] = { 9 };
  RecordCount count = { 0, 0 };

  for (guint i = 0; i < 4; i++)
    {
      identities[i] = usi_identity_generate (random, &error);
      g_assert_true (usi_leaf_secret_generate (random, identities[i], 0, NOW, &leaves[i], &error));
    }
  for (guint i = 0; i < 3; i++)
    g_ptr_array_add (roster, usi_roster_entry_new (i, &leaves[i].node, names[i]));

  /* Nobody verified: sending is free. */
  g_assert_true (usi_trust_check_can_send (trust, room_id, roster, &error));

  usi_trust_mark_verified (trust, room_id, "Bob", leaves[1].node.identity_key);
  g_assert_true (usi_trust_check_can_send (trust, room_id, roster, &error));

  /* Bob comes back with another identity key (index 3 this time). */
  g_ptr_array_remove_index (roster, 1);
  g_ptr_array_add (roster, usi_roster_entry_new (3, &leaves[3].node, names[3]));
  g_assert_false (usi_trust_check_can_send (trust, room_id, roster, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_KEY_CHANGED);
  g_assert_nonnull (strstr (error->message, "Bob"));
  g_clear_error (&error);

  /* The same name told apart only by case or width is the same slot. */
  g_assert_cmpint (usi_trust_get_state (trust, room_id, "BOB", leaves[3].node.identity_key), ==, USI_TRUST_CHANGED);
  g_assert_cmpint (usi_trust_get_state (trust, room_id, "\xef\xbc\xa2\xef\xbd\x8f\xef\xbd\x82",  /* Ｂｏｂ */
                                        leaves[3].node.identity_key), ==, USI_TRUST_CHANGED);
  /* Another room is another slot. */
  g_assert_cmpint (usi_trust_get_state (trust, other_room, "Bob", leaves[3].node.identity_key), ==,
                   USI_TRUST_UNVERIFIED);

  /* Accepting the new key unblocks; the member is unverified now. */
  usi_trust_accept_key (trust, room_id, "Bob", leaves[3].node.identity_key);
  g_assert_true (usi_trust_check_can_send (trust, room_id, roster, &error));
  g_assert_cmpint (usi_trust_get_state (trust, room_id, "Bob", leaves[3].node.identity_key), ==,
                   USI_TRUST_UNVERIFIED);

  /* An unverified member's key changing again does not block (it was
   * never vouched for), ... */
  g_assert_cmpint (usi_trust_get_state (trust, room_id, "Bob", leaves[0].node.identity_key), ==,
                   USI_TRUST_UNVERIFIED);

  /* ... and verifying again makes it verified. */
  usi_trust_mark_verified (trust, room_id, "Bob", leaves[3].node.identity_key);
  g_assert_cmpint (usi_trust_get_state (trust, room_id, "Bob", leaves[3].node.identity_key), ==,
                   USI_TRUST_VERIFIED);
  g_assert_true (usi_trust_check_can_send (trust, room_id, roster, &error));

  usi_trust_mark_verified (trust, other_room, "Alice", leaves[0].node.identity_key);
  usi_trust_foreach (trust, count_record, &count);
  g_assert_cmpuint (count.n_records, ==, 2);
  g_assert_cmpuint (count.n_verified, ==, 2);

  for (guint i = 0; i < 4; i++)
    {
      usi_identity_free (identities[i]);
      usi_leaf_secret_clear (&leaves[i]);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/protocol/crypto-edges/K1-low-order-x25519-refused", test_k1_low_order_x25519_refused);
  g_test_add_func ("/protocol/crypto-edges/K2-hpke-enc-refused", test_k2_hpke_enc_refused);
  g_test_add_func ("/protocol/crypto-edges/K3-random-failure-aborts", test_k3_random_failure_aborts);
  g_test_add_func ("/protocol/crypto-edges/K4-scrypt-caps", test_k4_scrypt_caps);
  g_test_add_func ("/protocol/crypto-edges/K5-no-spake2-identity-points-checked",
                   test_k5_no_spake2_identity_points_checked);
  g_test_add_func ("/protocol/crypto-edges/K6-no-sas-numbers-bind-both-keys", test_k6_no_sas_numbers_bind_both_keys);
  g_test_add_func ("/protocol/crypto-edges/K7-no-sas-verification-binds-the-key",
                   test_k7_no_sas_verification_binds_the_key);
  g_test_add_func ("/protocol/crypto-edges/K8-verified-key-change-blocks-sending",
                   test_k8_verified_key_change_blocks_sending);

  return g_test_run ();
}
