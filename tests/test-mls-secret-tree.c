/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The RFC 9420 secret tree and sender ratchets against
 * mls/secret-tree.json (cipher suite 3), and the deletion schedule: a used
 * generation is gone (KEY_CONSUMED), one dropped to bound memory is told
 * apart (KEY_EXPIRED), a jump past the cap is refused (LIMIT), out-of-order
 * retrieval within the cap works, node secrets are dropped once split,
 * skipped keys are bounded per ratchet and per tree, and peeking (before the
 * AEAD verified) changes nothing, so a forged header cannot push genuine
 * skipped keys out. */

#include "config.h"

#include <string.h>

#include "crypto/usi-crypto-error.h"
#include "crypto/usi-mls-secret-tree.h"
#include "usi-test-vectors.h"

#define PREFIX USI_MLS_LABEL_PREFIX_RFC9420
#define CAP    1000

static GBytes *
member_hex (JsonObject *object,
            const char *name)
{
  return usi_test_hex (json_object_get_string_member (object, name));
}

/* The suite-3 entries, in file order; NULL when skipped. */
static GPtrArray *
load_suite3 (void)
{
  g_autoptr(JsonNode) root = usi_test_vectors_load_json ("mls/secret-tree.json");
  g_autoptr(GPtrArray) cases = NULL;
  JsonArray *entries;

  if (root == NULL)
    return NULL;

  cases = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  entries = json_node_get_array (root);
  for (guint i = 0; i < json_array_get_length (entries); i++)
    {
      JsonObject *entry = json_array_get_object_element (entries, i);

      if (json_object_get_int_member (entry, "cipher_suite") == 3)
        g_ptr_array_add (cases, json_object_ref (entry));
    }

  return g_steal_pointer (&cases);
}

static UsiMlsSecretTree *
tree_for_case (JsonObject *entry,
               guint32     n_leaves,
               guint32     cap)
{
  g_autoptr(GBytes) encryption_secret = member_hex (entry, "encryption_secret");
  g_autoptr(GError) error = NULL;
  UsiMlsSecretTree *tree;

  g_assert_cmpuint (g_bytes_get_size (encryption_secret), ==, USI_MLS_HASH_LENGTH);
  tree = usi_mls_secret_tree_new (PREFIX, g_bytes_get_data (encryption_secret, NULL), n_leaves, cap, &error);
  g_assert_no_error (error);
  g_assert_nonnull (tree);
  return tree;
}

static void
assert_key (UsiMlsSecretTree  *tree,
            UsiMlsRatchetType  type,
            guint32            leaf,
            guint32            generation,
            JsonObject        *expected)
{
  const char *key_name = type == USI_MLS_RATCHET_APPLICATION ? "application_key" : "handshake_key";
  const char *nonce_name = type == USI_MLS_RATCHET_APPLICATION ? "application_nonce" : "handshake_nonce";
  g_autoptr(GBytes) expected_key = member_hex (expected, key_name);
  g_autoptr(GBytes) expected_nonce = member_hex (expected, nonce_name);
  guint8 key[USI_MLS_AEAD_KEY_LENGTH];
  guint8 nonce[USI_MLS_AEAD_NONCE_LENGTH];
  g_autoptr(GError) error = NULL;

  g_assert_true (usi_mls_secret_tree_get_key (tree, type, leaf, generation, key, nonce, &error));
  g_assert_no_error (error);
  usi_assert_bytes_equal (key, sizeof key, g_bytes_get_data (expected_key, NULL), g_bytes_get_size (expected_key));
  usi_assert_bytes_equal (nonce, sizeof nonce, g_bytes_get_data (expected_nonce, NULL), g_bytes_get_size (expected_nonce));
}

/* Peeks, then consumes as after a verified AEAD; the key and nonce of a
 * fresh tree's in-order walk are the reference. */
static void
assert_peek_consume (UsiMlsSecretTree  *tree,
                     UsiMlsRatchetType  type,
                     guint32            leaf,
                     guint32            generation,
                     const guint8      *expected_key,
                     const guint8      *expected_nonce)
{
  guint8 key[USI_MLS_AEAD_KEY_LENGTH];
  guint8 nonce[USI_MLS_AEAD_NONCE_LENGTH];
  g_autoptr(GError) error = NULL;

  g_assert_true (usi_mls_secret_tree_peek_key (tree, type, leaf, generation, key, nonce, &error));
  g_assert_no_error (error);
  usi_assert_bytes_equal (key, sizeof key, expected_key, USI_MLS_AEAD_KEY_LENGTH);
  usi_assert_bytes_equal (nonce, sizeof nonce, expected_nonce, USI_MLS_AEAD_NONCE_LENGTH);
  g_assert_true (usi_mls_secret_tree_consume_key (tree, type, leaf, generation, &error));
  g_assert_no_error (error);
}

static gboolean
is_all_zero (const guint8 *data,
             gsize         length)
{
  for (gsize i = 0; i < length; i++)
    if (data[i] != 0)
      return FALSE;
  return TRUE;
}

/* Peek, consume and get_key all refuse @generation with @code; a refused
 * peek leaves no key behind. */
static void
assert_all_fail (UsiMlsSecretTree  *tree,
                 UsiMlsRatchetType  type,
                 guint32            leaf,
                 guint32            generation,
                 UsiCryptoError     code)
{
  guint8 key[USI_MLS_AEAD_KEY_LENGTH];
  guint8 nonce[USI_MLS_AEAD_NONCE_LENGTH];
  g_autoptr(GError) error = NULL;

  memset (key, 0xaa, sizeof key);
  memset (nonce, 0xaa, sizeof nonce);
  g_assert_false (usi_mls_secret_tree_peek_key (tree, type, leaf, generation, key, nonce, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, (gint) code);
  g_assert_true (is_all_zero (key, sizeof key));
  g_assert_true (is_all_zero (nonce, sizeof nonce));
  g_clear_error (&error);

  g_assert_false (usi_mls_secret_tree_consume_key (tree, type, leaf, generation, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, (gint) code);
  g_clear_error (&error);

  g_assert_false (usi_mls_secret_tree_get_key (tree, type, leaf, generation, key, nonce, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, (gint) code);
}

static void
assert_get_fails (UsiMlsSecretTree  *tree,
                  UsiMlsRatchetType  type,
                  guint32            leaf,
                  guint32            generation,
                  UsiCryptoError     code)
{
  guint8 key[USI_MLS_AEAD_KEY_LENGTH];
  guint8 nonce[USI_MLS_AEAD_NONCE_LENGTH];
  g_autoptr(GError) error = NULL;

  g_assert_false (usi_mls_secret_tree_get_key (tree, type, leaf, generation, key, nonce, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, (gint) code);
}

static void
test_vectors (void)
{
  g_autoptr(GPtrArray) cases = load_suite3 ();
  guint count = 0;

  if (cases == NULL)
    return;

  for (guint c = 0; c < cases->len; c++)
    {
      JsonObject *entry = g_ptr_array_index (cases, c);
      JsonArray *leaves = json_object_get_array_member (entry, "leaves");
      guint32 n_leaves = json_array_get_length (leaves);
      g_autoptr(UsiMlsSecretTree) tree = tree_for_case (entry, n_leaves, CAP);
      g_autoptr(UsiMlsSecretTree) sender_tree = tree_for_case (entry, n_leaves, CAP);
      g_autoptr(UsiMlsSecretTree) peek_tree = tree_for_case (entry, n_leaves, CAP);

      g_test_message ("%u leaves", n_leaves);
      for (guint32 leaf = 0; leaf < n_leaves; leaf++)
        {
          JsonArray *generations = json_array_get_array_element (leaves, leaf);

          for (guint g = 0; g < json_array_get_length (generations); g++)
            {
              JsonObject *expected = json_array_get_object_element (generations, g);
              gint64 generation = json_object_get_int_member (expected, "generation");

              g_assert_cmpint (generation, >=, 0);
              g_assert_cmpint (generation, <=, CAP);
              assert_key (tree, USI_MLS_RATCHET_HANDSHAKE, leaf, (guint32) generation, expected);
              assert_key (tree, USI_MLS_RATCHET_APPLICATION, leaf, (guint32) generation, expected);

              /* A receiver that peeks, then consumes, sees the same keys. */
              {
                g_autoptr(GBytes) application_key = member_hex (expected, "application_key");
                g_autoptr(GBytes) application_nonce = member_hex (expected, "application_nonce");
                g_autoptr(GBytes) handshake_key = member_hex (expected, "handshake_key");
                g_autoptr(GBytes) handshake_nonce = member_hex (expected, "handshake_nonce");

                assert_peek_consume (peek_tree, USI_MLS_RATCHET_APPLICATION, leaf, (guint32) generation,
                                     g_bytes_get_data (application_key, NULL),
                                     g_bytes_get_data (application_nonce, NULL));
                assert_peek_consume (peek_tree, USI_MLS_RATCHET_HANDSHAKE, leaf, (guint32) generation,
                                     g_bytes_get_data (handshake_key, NULL),
                                     g_bytes_get_data (handshake_nonce, NULL));
              }
              count++;
            }

          /* The sender's path (one generation after another) gives the
           * same keys. */
          for (guint g = 0; g < json_array_get_length (generations); g++)
            {
              JsonObject *expected = json_array_get_object_element (generations, g);
              guint32 wanted = (guint32) json_object_get_int_member (expected, "generation");
              g_autoptr(GBytes) expected_key = member_hex (expected, "application_key");
              g_autoptr(GBytes) expected_nonce = member_hex (expected, "application_nonce");
              guint8 key[USI_MLS_AEAD_KEY_LENGTH];
              guint8 nonce[USI_MLS_AEAD_NONCE_LENGTH];
              guint32 generation = G_MAXUINT32;
              g_autoptr(GError) error = NULL;

              while (usi_mls_secret_tree_get_next_generation (sender_tree, USI_MLS_RATCHET_APPLICATION, leaf) <= wanted)
                g_assert_true (usi_mls_secret_tree_next_key (sender_tree, USI_MLS_RATCHET_APPLICATION, leaf,
                                                             &generation, key, nonce, &error));
              g_assert_no_error (error);
              g_assert_cmpuint (generation, ==, wanted);
              usi_assert_bytes_equal (key, sizeof key, g_bytes_get_data (expected_key, NULL), g_bytes_get_size (expected_key));
              usi_assert_bytes_equal (nonce, sizeof nonce,
                                      g_bytes_get_data (expected_nonce, NULL), g_bytes_get_size (expected_nonce));
            }
        }

      /* Every leaf is derived: no tree node secret is left. */
      g_assert_cmpuint (usi_mls_secret_tree_get_n_node_secrets (tree), ==, 0);
    }

  usi_test_vectors_report ("secret-tree (leaf, generation) pairs (suite 3)", count);
}

/* The sender-data key and nonce of the same file (RFC 9420 §6.3.2), built
 * from ExpandWithLabel over the first KDF.Nh bytes of the ciphertext. */
static void
test_sender_data_vectors (void)
{
  g_autoptr(GPtrArray) cases = load_suite3 ();
  guint count = 0;

  if (cases == NULL)
    return;

  for (guint c = 0; c < cases->len; c++)
    {
      JsonObject *sender_data = json_object_get_object_member (g_ptr_array_index (cases, c), "sender_data");
      g_autoptr(GBytes) secret = member_hex (sender_data, "sender_data_secret");
      g_autoptr(GBytes) ciphertext = member_hex (sender_data, "ciphertext");
      g_autoptr(GBytes) expected_key = member_hex (sender_data, "key");
      g_autoptr(GBytes) expected_nonce = member_hex (sender_data, "nonce");
      gsize sample_length = MIN (g_bytes_get_size (ciphertext), USI_MLS_HASH_LENGTH);
      guint8 key[USI_MLS_AEAD_KEY_LENGTH];
      guint8 nonce[USI_MLS_AEAD_NONCE_LENGTH];
      g_autoptr(GError) error = NULL;

      g_assert_true (usi_mls_expand_with_label (PREFIX, g_bytes_get_data (secret, NULL), "key",
                                                g_bytes_get_data (ciphertext, NULL), sample_length,
                                                key, sizeof key, &error));
      g_assert_true (usi_mls_expand_with_label (PREFIX, g_bytes_get_data (secret, NULL), "nonce",
                                                g_bytes_get_data (ciphertext, NULL), sample_length,
                                                nonce, sizeof nonce, &error));
      g_assert_no_error (error);
      usi_assert_bytes_equal (key, sizeof key, g_bytes_get_data (expected_key, NULL), g_bytes_get_size (expected_key));
      usi_assert_bytes_equal (nonce, sizeof nonce, g_bytes_get_data (expected_nonce, NULL), g_bytes_get_size (expected_nonce));
      count++;
    }

  usi_test_vectors_report ("secret-tree sender_data (suite 3)", count);
}

/* The 8-leaf suite-3 case, the one most own tests use. */
static JsonObject *
eight_leaf_case (GPtrArray *cases)
{
  for (guint c = 0; c < cases->len; c++)
    {
      JsonObject *entry = g_ptr_array_index (cases, c);

      if (json_array_get_length (json_object_get_array_member (entry, "leaves")) == 8)
        return entry;
    }

  g_assert_not_reached ();
}

static JsonObject *
expected_at (JsonObject *entry,
             guint32     leaf,
             guint       index)
{
  JsonArray *leaves = json_object_get_array_member (entry, "leaves");

  return json_array_get_object_element (json_array_get_array_element (leaves, leaf), index);
}

static void
test_reuse (void)
{
  g_autoptr(GPtrArray) cases = load_suite3 ();
  g_autoptr(UsiMlsSecretTree) tree = NULL;
  JsonObject *entry;

  if (cases == NULL)
    return;
  entry = eight_leaf_case (cases);
  tree = tree_for_case (entry, 8, CAP);

  assert_key (tree, USI_MLS_RATCHET_APPLICATION, 3, 0, expected_at (entry, 3, 0));
  assert_get_fails (tree, USI_MLS_RATCHET_APPLICATION, 3, 0, USI_CRYPTO_ERROR_KEY_CONSUMED);

  /* Generation 15 consumes it and leaves 1…14 for late messages... */
  assert_key (tree, USI_MLS_RATCHET_APPLICATION, 3, 15, expected_at (entry, 3, 1));
  g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys (tree, USI_MLS_RATCHET_APPLICATION, 3), ==, 14);
  assert_get_fails (tree, USI_MLS_RATCHET_APPLICATION, 3, 15, USI_CRYPTO_ERROR_KEY_CONSUMED);
  assert_get_fails (tree, USI_MLS_RATCHET_APPLICATION, 3, 0, USI_CRYPTO_ERROR_KEY_CONSUMED);

  /* ...each of which can be used once. */
  for (guint32 generation = 1; generation < 15; generation++)
    {
      guint8 key[USI_MLS_AEAD_KEY_LENGTH];
      guint8 nonce[USI_MLS_AEAD_NONCE_LENGTH];
      g_autoptr(GError) error = NULL;

      g_assert_true (usi_mls_secret_tree_get_key (tree, USI_MLS_RATCHET_APPLICATION, 3, generation, key, nonce, &error));
      g_assert_no_error (error);
      assert_get_fails (tree, USI_MLS_RATCHET_APPLICATION, 3, generation, USI_CRYPTO_ERROR_KEY_CONSUMED);
    }
  g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys (tree, USI_MLS_RATCHET_APPLICATION, 3), ==, 0);

  /* The handshake ratchet of the same leaf is untouched. */
  assert_key (tree, USI_MLS_RATCHET_HANDSHAKE, 3, 0, expected_at (entry, 3, 0));

  /* A sender's next key after all that is generation 16. */
  {
    guint8 key[USI_MLS_AEAD_KEY_LENGTH];
    guint8 nonce[USI_MLS_AEAD_NONCE_LENGTH];
    guint32 generation = 0;
    g_autoptr(GError) error = NULL;

    g_assert_true (usi_mls_secret_tree_next_key (tree, USI_MLS_RATCHET_APPLICATION, 3, &generation, key, nonce, &error));
    g_assert_cmpuint (generation, ==, 16);
    g_assert_cmpuint (usi_mls_secret_tree_get_next_generation (tree, USI_MLS_RATCHET_APPLICATION, 3), ==, 17);
  }
}

static void
test_forward_limit (void)
{
  static const guint8 secret[USI_MLS_HASH_LENGTH] = { 42 };
  g_autoptr(UsiMlsSecretTree) tree = NULL;
  g_autoptr(UsiMlsSecretTree) reference = NULL;
  guint8 key[USI_MLS_AEAD_KEY_LENGTH], reference_key[USI_MLS_AEAD_KEY_LENGTH];
  guint8 nonce[USI_MLS_AEAD_NONCE_LENGTH], reference_nonce[USI_MLS_AEAD_NONCE_LENGTH];
  g_autoptr(GError) error = NULL;

  tree = usi_mls_secret_tree_new (PREFIX, secret, 2, 10, &error);
  reference = usi_mls_secret_tree_new (PREFIX, secret, 2, 10, &error);
  g_assert_no_error (error);

  /* From generation 0, 11 skipped generations is one too many. */
  assert_get_fails (tree, USI_MLS_RATCHET_APPLICATION, 1, 11, USI_CRYPTO_ERROR_LIMIT);
  assert_get_fails (tree, USI_MLS_RATCHET_APPLICATION, 1, G_MAXUINT32, USI_CRYPTO_ERROR_LIMIT);
  g_assert_cmpuint (usi_mls_secret_tree_get_next_generation (tree, USI_MLS_RATCHET_APPLICATION, 1), ==, 0);
  g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys (tree, USI_MLS_RATCHET_APPLICATION, 1), ==, 0);

  /* Exactly the cap is fine. */
  g_assert_true (usi_mls_secret_tree_get_key (tree, USI_MLS_RATCHET_APPLICATION, 1, 10, key, nonce, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys (tree, USI_MLS_RATCHET_APPLICATION, 1), ==, 10);

  /* The cap counts from the ratchet's position, not from zero. */
  assert_get_fails (tree, USI_MLS_RATCHET_APPLICATION, 1, 22, USI_CRYPTO_ERROR_LIMIT);

  /* Out of order within the cap: the same keys as in order. */
  for (guint32 generation = 0; generation <= 10; generation++)
    {
      g_assert_true (usi_mls_secret_tree_get_key (reference, USI_MLS_RATCHET_APPLICATION, 1, generation,
                                                  reference_key, reference_nonce, &error));
      g_assert_no_error (error);
      if (generation == 10)
        {
          usi_assert_bytes_equal (key, sizeof key, reference_key, sizeof reference_key);
          usi_assert_bytes_equal (nonce, sizeof nonce, reference_nonce, sizeof reference_nonce);
        }
    }
  for (guint32 i = 0; i < 10; i++)
    {
      guint32 generation = (i * 7) % 10; /* 0 7 4 1 8 5 2 9 6 3 */
      g_autoptr(UsiMlsSecretTree) fresh = usi_mls_secret_tree_new (PREFIX, secret, 2, 10, &error);

      g_assert_true (usi_mls_secret_tree_get_key (tree, USI_MLS_RATCHET_APPLICATION, 1, generation, key, nonce, &error));
      g_assert_no_error (error);
      g_assert_true (usi_mls_secret_tree_get_key (fresh, USI_MLS_RATCHET_APPLICATION, 1, generation,
                                                  reference_key, reference_nonce, &error));
      usi_assert_bytes_equal (key, sizeof key, reference_key, sizeof reference_key);
      usi_assert_bytes_equal (nonce, sizeof nonce, reference_nonce, sizeof reference_nonce);
    }
  g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys (tree, USI_MLS_RATCHET_APPLICATION, 1), ==, 0);

  /* Generation 21 is again exactly the cap beyond 11. */
  g_assert_true (usi_mls_secret_tree_get_key (tree, USI_MLS_RATCHET_APPLICATION, 1, 21, key, nonce, &error));
  g_assert_no_error (error);
}

static void
test_skipped_keys_bounded (void)
{
  static const guint8 secret[USI_MLS_HASH_LENGTH] = { 7 };
  g_autoptr(UsiMlsSecretTree) tree = NULL;
  guint8 key[USI_MLS_AEAD_KEY_LENGTH];
  guint8 nonce[USI_MLS_AEAD_NONCE_LENGTH];
  g_autoptr(GError) error = NULL;

  tree = usi_mls_secret_tree_new (PREFIX, secret, 1, 3, &error);
  g_assert_no_error (error);

  /* 0, 1, 2 kept; then 4, 5, 6 push them out (oldest first). */
  g_assert_true (usi_mls_secret_tree_get_key (tree, USI_MLS_RATCHET_HANDSHAKE, 0, 3, key, nonce, &error));
  g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys (tree, USI_MLS_RATCHET_HANDSHAKE, 0), ==, 3);
  g_assert_true (usi_mls_secret_tree_get_key (tree, USI_MLS_RATCHET_HANDSHAKE, 0, 7, key, nonce, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys (tree, USI_MLS_RATCHET_HANDSHAKE, 0), ==, 3);
  /* 0, 1, 2 were dropped unused (a gap), 3 and 7 were handed out. */
  for (guint32 generation = 0; generation <= 2; generation++)
    assert_all_fail (tree, USI_MLS_RATCHET_HANDSHAKE, 0, generation, USI_CRYPTO_ERROR_KEY_EXPIRED);
  assert_all_fail (tree, USI_MLS_RATCHET_HANDSHAKE, 0, 3, USI_CRYPTO_ERROR_KEY_CONSUMED);
  assert_all_fail (tree, USI_MLS_RATCHET_HANDSHAKE, 0, 7, USI_CRYPTO_ERROR_KEY_CONSUMED);
  for (guint32 generation = 4; generation <= 6; generation++)
    {
      g_assert_true (usi_mls_secret_tree_get_key (tree, USI_MLS_RATCHET_HANDSHAKE, 0, generation, key, nonce, &error));
      g_assert_no_error (error);
      assert_all_fail (tree, USI_MLS_RATCHET_HANDSHAKE, 0, generation, USI_CRYPTO_ERROR_KEY_CONSUMED);
    }
  g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys_total (tree), ==, 0);

  /* A cap of 0 keeps nothing and allows no gap. */
  {
    g_autoptr(UsiMlsSecretTree) strict = usi_mls_secret_tree_new (PREFIX, secret, 1, 0, &error);

    assert_get_fails (strict, USI_MLS_RATCHET_HANDSHAKE, 0, 1, USI_CRYPTO_ERROR_LIMIT);
    g_assert_true (usi_mls_secret_tree_get_key (strict, USI_MLS_RATCHET_HANDSHAKE, 0, 0, key, nonce, &error));
    g_assert_true (usi_mls_secret_tree_get_key (strict, USI_MLS_RATCHET_HANDSHAKE, 0, 1, key, nonce, &error));
    g_assert_no_error (error);
  }
}

static void
test_restore (void)
{
  g_autoptr(GPtrArray) cases = load_suite3 ();
  g_autoptr(UsiMlsSecretTree) tree = NULL;
  guint8 key[USI_MLS_AEAD_KEY_LENGTH];
  guint8 nonce[USI_MLS_AEAD_NONCE_LENGTH];
  g_autoptr(GError) error = NULL;
  JsonObject *entry;

  if (cases == NULL)
    return;
  entry = eight_leaf_case (cases);
  tree = tree_for_case (entry, 8, CAP);

  /* A forged message claimed generation 0; its key is given back, and the
   * genuine message still opens. */
  g_assert_true (usi_mls_secret_tree_get_key (tree, USI_MLS_RATCHET_APPLICATION, 5, 0, key, nonce, &error));
  g_assert_true (usi_mls_secret_tree_restore_key (tree, USI_MLS_RATCHET_APPLICATION, 5, 0, key, nonce, &error));
  g_assert_no_error (error);
  memset (key, 0, sizeof key);
  memset (nonce, 0, sizeof nonce);
  assert_key (tree, USI_MLS_RATCHET_APPLICATION, 5, 0, expected_at (entry, 5, 0));
  assert_get_fails (tree, USI_MLS_RATCHET_APPLICATION, 5, 0, USI_CRYPTO_ERROR_KEY_CONSUMED);

  /* Only what was handed out and is not held can be given back. */
  g_assert_false (usi_mls_secret_tree_restore_key (tree, USI_MLS_RATCHET_APPLICATION, 5, 1, key, nonce, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_true (usi_mls_secret_tree_get_key (tree, USI_MLS_RATCHET_APPLICATION, 5, 3, key, nonce, &error));
  g_assert_false (usi_mls_secret_tree_restore_key (tree, USI_MLS_RATCHET_APPLICATION, 5, 2, key, nonce, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (usi_mls_secret_tree_restore_key (tree, USI_MLS_RATCHET_APPLICATION, 9, 0, key, nonce, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
}

/* Giving a key back fails when nothing can be kept, and the generation then
 * counts as dropped (a gap), not as used. */
static void
test_restore_over_cap (void)
{
  static const guint8 secret[USI_MLS_HASH_LENGTH] = { 3 };
  guint8 key[USI_MLS_AEAD_KEY_LENGTH];
  guint8 nonce[USI_MLS_AEAD_NONCE_LENGTH];
  g_autoptr(GError) error = NULL;

  /* A cap of 0 keeps nothing. */
  {
    g_autoptr(UsiMlsSecretTree) strict = usi_mls_secret_tree_new (PREFIX, secret, 1, 0, &error);

    g_assert_true (usi_mls_secret_tree_get_key (strict, USI_MLS_RATCHET_APPLICATION, 0, 0, key, nonce, &error));
    g_assert_no_error (error);
    g_assert_false (usi_mls_secret_tree_restore_key (strict, USI_MLS_RATCHET_APPLICATION, 0, 0, key, nonce, &error));
    g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_LIMIT);
    g_clear_error (&error);
    g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys (strict, USI_MLS_RATCHET_APPLICATION, 0), ==, 0);
    assert_all_fail (strict, USI_MLS_RATCHET_APPLICATION, 0, 0, USI_CRYPTO_ERROR_KEY_EXPIRED);
  }

  /* A full ratchet drops its oldest generation: the given-back one itself. */
  {
    g_autoptr(UsiMlsSecretTree) tree = usi_mls_secret_tree_new (PREFIX, secret, 1, 2, &error);

    g_assert_true (usi_mls_secret_tree_get_key (tree, USI_MLS_RATCHET_APPLICATION, 0, 0, key, nonce, &error));
    g_assert_true (usi_mls_secret_tree_get_key (tree, USI_MLS_RATCHET_APPLICATION, 0, 3, key, nonce, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys (tree, USI_MLS_RATCHET_APPLICATION, 0), ==, 2);
    g_assert_false (usi_mls_secret_tree_restore_key (tree, USI_MLS_RATCHET_APPLICATION, 0, 0, key, nonce, &error));
    g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_LIMIT);
    g_clear_error (&error);
    assert_all_fail (tree, USI_MLS_RATCHET_APPLICATION, 0, 0, USI_CRYPTO_ERROR_KEY_EXPIRED);
    /* A dropped generation was never handed out: it cannot be given back. */
    g_assert_false (usi_mls_secret_tree_restore_key (tree, USI_MLS_RATCHET_APPLICATION, 0, 0, key, nonce, &error));
    g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
    g_clear_error (&error);

    /* Giving back a newer one pushes out the oldest kept (1), and succeeds. */
    g_assert_true (usi_mls_secret_tree_restore_key (tree, USI_MLS_RATCHET_APPLICATION, 0, 3, key, nonce, &error));
    g_assert_no_error (error);
    assert_all_fail (tree, USI_MLS_RATCHET_APPLICATION, 0, 1, USI_CRYPTO_ERROR_KEY_EXPIRED);
    g_assert_true (usi_mls_secret_tree_get_key (tree, USI_MLS_RATCHET_APPLICATION, 0, 2, key, nonce, &error));
    g_assert_true (usi_mls_secret_tree_get_key (tree, USI_MLS_RATCHET_APPLICATION, 0, 3, key, nonce, &error));
    g_assert_no_error (error);
  }
}

/* The review's scenario.  Cap 4; genuine generation 2 arrives first.  A
 * forged header claims generation 7 (5 skipped keys from the ratchet's
 * position 3 would push out 0 and 1): the receiver only peeks, the AEAD
 * fails, nothing changes, and the delayed genuine 0 and 1 still open. */
static void
test_forged_header (void)
{
  static const guint8 secret[USI_MLS_HASH_LENGTH] = { 9 };
  static const guint32 opened[] = { 0, 1, 2, 7 };
  g_autoptr(UsiMlsSecretTree) sender = NULL;
  g_autoptr(UsiMlsSecretTree) tree = NULL;
  guint8 keys[9][USI_MLS_AEAD_KEY_LENGTH];
  guint8 nonces[9][USI_MLS_AEAD_NONCE_LENGTH];
  guint8 key[USI_MLS_AEAD_KEY_LENGTH];
  guint8 nonce[USI_MLS_AEAD_NONCE_LENGTH];
  g_autoptr(GError) error = NULL;

  sender = usi_mls_secret_tree_new (PREFIX, secret, 2, 4, &error);
  tree = usi_mls_secret_tree_new (PREFIX, secret, 2, 4, &error);
  g_assert_no_error (error);
  for (guint32 i = 0; i < G_N_ELEMENTS (keys); i++)
    {
      guint32 generation = G_MAXUINT32;

      g_assert_true (usi_mls_secret_tree_next_key (sender, USI_MLS_RATCHET_APPLICATION, 1, &generation,
                                                   keys[i], nonces[i], &error));
      g_assert_no_error (error);
      g_assert_cmpuint (generation, ==, i);
    }

  assert_peek_consume (tree, USI_MLS_RATCHET_APPLICATION, 1, 2, keys[2], nonces[2]);
  g_assert_cmpuint (usi_mls_secret_tree_get_next_generation (tree, USI_MLS_RATCHET_APPLICATION, 1), ==, 3);
  g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys (tree, USI_MLS_RATCHET_APPLICATION, 1), ==, 2);

  /* The forged header: peek derives generation 7's key (which the forger
   * does not have, so the AEAD fails) and is not followed by consume. */
  g_assert_true (usi_mls_secret_tree_peek_key (tree, USI_MLS_RATCHET_APPLICATION, 1, 7, key, nonce, &error));
  g_assert_no_error (error);
  usi_assert_bytes_equal (key, sizeof key, keys[7], sizeof keys[7]);
  usi_assert_bytes_equal (nonce, sizeof nonce, nonces[7], sizeof nonces[7]);
  g_assert_cmpuint (usi_mls_secret_tree_get_next_generation (tree, USI_MLS_RATCHET_APPLICATION, 1), ==, 3);
  g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys (tree, USI_MLS_RATCHET_APPLICATION, 1), ==, 2);
  g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys_total (tree), ==, 2);

  /* One further is over the cap, peeked or not. */
  assert_all_fail (tree, USI_MLS_RATCHET_APPLICATION, 1, 8, USI_CRYPTO_ERROR_LIMIT);

  /* The delayed genuine messages open, then the genuine 7. */
  assert_peek_consume (tree, USI_MLS_RATCHET_APPLICATION, 1, 0, keys[0], nonces[0]);
  assert_peek_consume (tree, USI_MLS_RATCHET_APPLICATION, 1, 1, keys[1], nonces[1]);
  assert_peek_consume (tree, USI_MLS_RATCHET_APPLICATION, 1, 7, keys[7], nonces[7]);
  g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys (tree, USI_MLS_RATCHET_APPLICATION, 1), ==, 4);
  for (guint i = 0; i < G_N_ELEMENTS (opened); i++)
    assert_all_fail (tree, USI_MLS_RATCHET_APPLICATION, 1, opened[i], USI_CRYPTO_ERROR_KEY_CONSUMED);

  /* The old way (get_key, then restore_key after the AEAD failed) commits
   * first: 0 and 1 are pushed out.  They now read as a gap (KEY_EXPIRED),
   * never as a replay (KEY_CONSUMED). */
  {
    g_autoptr(UsiMlsSecretTree) old_way = usi_mls_secret_tree_new (PREFIX, secret, 2, 4, &error);

    g_assert_true (usi_mls_secret_tree_get_key (old_way, USI_MLS_RATCHET_APPLICATION, 1, 2, key, nonce, &error));
    g_assert_true (usi_mls_secret_tree_get_key (old_way, USI_MLS_RATCHET_APPLICATION, 1, 7, key, nonce, &error));
    g_assert_true (usi_mls_secret_tree_restore_key (old_way, USI_MLS_RATCHET_APPLICATION, 1, 7, key, nonce, &error));
    g_assert_no_error (error);
    assert_all_fail (old_way, USI_MLS_RATCHET_APPLICATION, 1, 0, USI_CRYPTO_ERROR_KEY_EXPIRED);
    assert_all_fail (old_way, USI_MLS_RATCHET_APPLICATION, 1, 1, USI_CRYPTO_ERROR_KEY_EXPIRED);
    assert_all_fail (old_way, USI_MLS_RATCHET_APPLICATION, 1, 2, USI_CRYPTO_ERROR_KEY_CONSUMED);
    assert_peek_consume (old_way, USI_MLS_RATCHET_APPLICATION, 1, 7, keys[7], nonces[7]);
  }
}

/* Peeking changes nothing: not the ratchet position, not the kept keys, not
 * even the derivation of a new leaf; and it agrees with the vectors. */
static void
test_peek_changes_nothing (void)
{
  g_autoptr(GPtrArray) cases = load_suite3 ();
  g_autoptr(UsiMlsSecretTree) tree = NULL;
  g_autoptr(GBytes) key_15 = NULL;
  g_autoptr(GBytes) nonce_15 = NULL;
  g_autoptr(GBytes) key_0 = NULL;
  g_autoptr(GBytes) nonce_0 = NULL;
  guint8 key[USI_MLS_AEAD_KEY_LENGTH], again_key[USI_MLS_AEAD_KEY_LENGTH];
  guint8 nonce[USI_MLS_AEAD_NONCE_LENGTH], again_nonce[USI_MLS_AEAD_NONCE_LENGTH];
  g_autoptr(GError) error = NULL;
  JsonObject *entry;

  if (cases == NULL)
    return;
  entry = eight_leaf_case (cases);
  tree = tree_for_case (entry, 8, CAP);
  key_0 = member_hex (expected_at (entry, 3, 0), "application_key");
  nonce_0 = member_hex (expected_at (entry, 3, 0), "application_nonce");
  key_15 = member_hex (expected_at (entry, 3, 1), "application_key");
  nonce_15 = member_hex (expected_at (entry, 3, 1), "application_nonce");
  g_assert_cmpint (json_object_get_int_member (expected_at (entry, 3, 1), "generation"), ==, 15);

  /* A leaf never derived: the tree keeps its one node secret. */
  for (guint round = 0; round < 2; round++)
    {
      g_assert_true (usi_mls_secret_tree_peek_key (tree, USI_MLS_RATCHET_APPLICATION, 3, 15, key, nonce, &error));
      g_assert_no_error (error);
      usi_assert_bytes_equal (key, sizeof key, g_bytes_get_data (key_15, NULL), g_bytes_get_size (key_15));
      usi_assert_bytes_equal (nonce, sizeof nonce, g_bytes_get_data (nonce_15, NULL), g_bytes_get_size (nonce_15));
      g_assert_cmpuint (usi_mls_secret_tree_get_n_node_secrets (tree), ==, 1);
      g_assert_cmpuint (usi_mls_secret_tree_get_next_generation (tree, USI_MLS_RATCHET_APPLICATION, 3), ==, 0);
      g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys (tree, USI_MLS_RATCHET_APPLICATION, 3), ==, 0);
    }
  assert_all_fail (tree, USI_MLS_RATCHET_APPLICATION, 3, CAP + 1, USI_CRYPTO_ERROR_LIMIT);
  assert_all_fail (tree, USI_MLS_RATCHET_APPLICATION, 8, 0, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  g_assert_cmpuint (usi_mls_secret_tree_get_n_node_secrets (tree), ==, 1);

  /* Consuming generation 0 derives the leaf (root 7 → 3, 11; 3 → 1, 5;
   * 5 → 4, 6; 6 → ratchets: 11, 1 and 4 are held). */
  assert_peek_consume (tree, USI_MLS_RATCHET_APPLICATION, 3, 0,
                       g_bytes_get_data (key_0, NULL), g_bytes_get_data (nonce_0, NULL));
  g_assert_cmpuint (usi_mls_secret_tree_get_n_node_secrets (tree), ==, 3);
  g_assert_cmpuint (usi_mls_secret_tree_get_next_generation (tree, USI_MLS_RATCHET_APPLICATION, 3), ==, 1);

  /* Ahead of a derived ratchet: the same key, nothing moves. */
  g_assert_true (usi_mls_secret_tree_peek_key (tree, USI_MLS_RATCHET_APPLICATION, 3, 15, key, nonce, &error));
  usi_assert_bytes_equal (key, sizeof key, g_bytes_get_data (key_15, NULL), g_bytes_get_size (key_15));
  g_assert_cmpuint (usi_mls_secret_tree_get_next_generation (tree, USI_MLS_RATCHET_APPLICATION, 3), ==, 1);
  g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys (tree, USI_MLS_RATCHET_APPLICATION, 3), ==, 0);
  assert_all_fail (tree, USI_MLS_RATCHET_APPLICATION, 3, 0, USI_CRYPTO_ERROR_KEY_CONSUMED);

  /* A kept key: peeked twice, the same, and still kept. */
  g_assert_true (usi_mls_secret_tree_consume_key (tree, USI_MLS_RATCHET_APPLICATION, 3, 15, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys (tree, USI_MLS_RATCHET_APPLICATION, 3), ==, 14);
  g_assert_true (usi_mls_secret_tree_peek_key (tree, USI_MLS_RATCHET_APPLICATION, 3, 5, key, nonce, &error));
  g_assert_true (usi_mls_secret_tree_peek_key (tree, USI_MLS_RATCHET_APPLICATION, 3, 5, again_key, again_nonce, &error));
  g_assert_no_error (error);
  usi_assert_bytes_equal (key, sizeof key, again_key, sizeof again_key);
  usi_assert_bytes_equal (nonce, sizeof nonce, again_nonce, sizeof again_nonce);
  g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys (tree, USI_MLS_RATCHET_APPLICATION, 3), ==, 14);
  g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys_total (tree), ==, 14);
  g_assert_cmpuint (usi_mls_secret_tree_get_next_generation (tree, USI_MLS_RATCHET_APPLICATION, 3), ==, 16);
  assert_all_fail (tree, USI_MLS_RATCHET_APPLICATION, 3, 15, USI_CRYPTO_ERROR_KEY_CONSUMED);
  assert_all_fail (tree, USI_MLS_RATCHET_APPLICATION, 3, 16 + CAP + 1, USI_CRYPTO_ERROR_LIMIT);
  g_assert_cmpuint (usi_mls_secret_tree_get_next_generation (tree, USI_MLS_RATCHET_APPLICATION, 3), ==, 16);
}

/* KEY_CONSUMED only for keys really handed out; dropped ones are
 * KEY_EXPIRED.  The record of dropped runs is bounded: a ratchet that drops
 * keys in many separate runs forgets its oldest, and what lies below them
 * then reads as expired (never the other way round). */
static void
test_consumed_or_expired (void)
{
  static const guint8 secret[USI_MLS_HASH_LENGTH] = { 5 };
  g_autoptr(UsiMlsSecretTree) tree = NULL;
  g_autoptr(GError) error = NULL;
  const guint32 rounds = 200;

  tree = usi_mls_secret_tree_new (PREFIX, secret, 1, 1, &error);
  g_assert_no_error (error);

  /* Each odd generation consumed skips the even one before it, which
   * pushes out the even one kept before: 200 separate dropped runs. */
  for (guint32 i = 0; i < rounds; i++)
    {
      g_assert_true (usi_mls_secret_tree_consume_key (tree, USI_MLS_RATCHET_APPLICATION, 0, 2 * i + 1, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys (tree, USI_MLS_RATCHET_APPLICATION, 0), ==, 1);
    }

  /* The recent past is exact. */
  for (guint32 generation = 2 * rounds - 40; generation < 2 * rounds - 2; generation++)
    assert_all_fail (tree, USI_MLS_RATCHET_APPLICATION, 0, generation,
                     generation % 2 ? USI_CRYPTO_ERROR_KEY_CONSUMED : USI_CRYPTO_ERROR_KEY_EXPIRED);
  /* The distant past is forgotten: expired, even what was consumed. */
  assert_all_fail (tree, USI_MLS_RATCHET_APPLICATION, 0, 0, USI_CRYPTO_ERROR_KEY_EXPIRED);
  assert_all_fail (tree, USI_MLS_RATCHET_APPLICATION, 0, 1, USI_CRYPTO_ERROR_KEY_EXPIRED);
  /* The one kept opens once. */
  g_assert_true (usi_mls_secret_tree_consume_key (tree, USI_MLS_RATCHET_APPLICATION, 0, 2 * rounds - 2, &error));
  g_assert_no_error (error);
  assert_all_fail (tree, USI_MLS_RATCHET_APPLICATION, 0, 2 * rounds - 2, USI_CRYPTO_ERROR_KEY_CONSUMED);
  g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys_total (tree), ==, 0);
}

/* Skipped keys are capped for the whole tree, not only per ratchet: the
 * tree's longest-kept keys go first. */
static void
test_tree_cap (void)
{
  static const guint8 secret[USI_MLS_HASH_LENGTH] = { 11 };
  guint8 key[USI_MLS_AEAD_KEY_LENGTH];
  guint8 nonce[USI_MLS_AEAD_NONCE_LENGTH];
  g_autoptr(GError) error = NULL;

  {
    g_autoptr(UsiMlsSecretTree) tree = usi_mls_secret_tree_new_full (PREFIX, secret, 4, 10, 12, &error);

    g_assert_no_error (error);
    g_assert_true (usi_mls_secret_tree_consume_key (tree, USI_MLS_RATCHET_APPLICATION, 0, 10, &error));
    g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys_total (tree), ==, 10);
    g_assert_true (usi_mls_secret_tree_consume_key (tree, USI_MLS_RATCHET_HANDSHAKE, 1, 5, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys_total (tree), ==, 12);
    g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys (tree, USI_MLS_RATCHET_APPLICATION, 0), ==, 7);
    g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys (tree, USI_MLS_RATCHET_HANDSHAKE, 1), ==, 5);
    for (guint32 generation = 0; generation < 3; generation++)
      assert_all_fail (tree, USI_MLS_RATCHET_APPLICATION, 0, generation, USI_CRYPTO_ERROR_KEY_EXPIRED);
    g_assert_true (usi_mls_secret_tree_get_key (tree, USI_MLS_RATCHET_APPLICATION, 0, 3, key, nonce, &error));
    g_assert_true (usi_mls_secret_tree_get_key (tree, USI_MLS_RATCHET_HANDSHAKE, 1, 0, key, nonce, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys_total (tree), ==, 10);
  }

  /* A jump the tree could not keep is refused, whatever the ratchet cap. */
  {
    g_autoptr(UsiMlsSecretTree) tree = usi_mls_secret_tree_new_full (PREFIX, secret, 1, 100, 5, &error);

    assert_all_fail (tree, USI_MLS_RATCHET_APPLICATION, 0, 6, USI_CRYPTO_ERROR_LIMIT);
    g_assert_true (usi_mls_secret_tree_consume_key (tree, USI_MLS_RATCHET_APPLICATION, 0, 5, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys_total (tree), ==, 5);
  }

  /* usi_mls_secret_tree_new() applies the documented constant. */
  {
    g_autoptr(UsiMlsSecretTree) tree = usi_mls_secret_tree_new (PREFIX, secret, 8, 1000, &error);
    guint expected_first;

    g_assert_cmpuint (USI_MLS_SECRET_TREE_MAX_SKIPPED_KEYS, <, 5 * 1000);
    for (guint32 leaf = 0; leaf < 5; leaf++)
      g_assert_true (usi_mls_secret_tree_consume_key (tree, USI_MLS_RATCHET_APPLICATION, leaf, 1000, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys_total (tree), ==, USI_MLS_SECRET_TREE_MAX_SKIPPED_KEYS);
    expected_first = 5 * 1000 - USI_MLS_SECRET_TREE_MAX_SKIPPED_KEYS;
    g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys (tree, USI_MLS_RATCHET_APPLICATION, 0), ==,
                      1000 - expected_first);
    assert_all_fail (tree, USI_MLS_RATCHET_APPLICATION, 0, expected_first - 1, USI_CRYPTO_ERROR_KEY_EXPIRED);
    g_assert_true (usi_mls_secret_tree_get_key (tree, USI_MLS_RATCHET_APPLICATION, 0, expected_first, key, nonce, &error));
    g_assert_no_error (error);
  }
}

/* Node secrets are split lazily and dropped once both children exist; a
 * leaf's own secret goes once its two ratchets are derived. */
static void
test_node_secrets_wiped (void)
{
  static const guint8 secret[USI_MLS_HASH_LENGTH] = { 1 };
  g_autoptr(UsiMlsSecretTree) tree = NULL;
  guint8 key[USI_MLS_AEAD_KEY_LENGTH];
  guint8 nonce[USI_MLS_AEAD_NONCE_LENGTH];
  g_autoptr(GError) error = NULL;

  tree = usi_mls_secret_tree_new (PREFIX, secret, 8, CAP, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (usi_mls_secret_tree_get_n_node_secrets (tree), ==, 1);

  /* Leaf 0: root 7 → 3, 11; 3 → 1, 5; 1 → 0, 2; 0 → ratchets.  Held: 11, 5, 2. */
  g_assert_true (usi_mls_secret_tree_get_key (tree, USI_MLS_RATCHET_APPLICATION, 0, 0, key, nonce, &error));
  g_assert_cmpuint (usi_mls_secret_tree_get_n_node_secrets (tree), ==, 3);
  /* Leaf 1 uses node 2, held. */
  g_assert_true (usi_mls_secret_tree_get_key (tree, USI_MLS_RATCHET_APPLICATION, 1, 0, key, nonce, &error));
  g_assert_cmpuint (usi_mls_secret_tree_get_n_node_secrets (tree), ==, 2);
  /* Leaf 7: 11 → 9, 13; 13 → 12, 14; 14 → ratchets.  Held: 5, 9, 12. */
  g_assert_true (usi_mls_secret_tree_get_key (tree, USI_MLS_RATCHET_HANDSHAKE, 7, 0, key, nonce, &error));
  g_assert_cmpuint (usi_mls_secret_tree_get_n_node_secrets (tree), ==, 3);
  g_assert_no_error (error);

  for (guint32 leaf = 2; leaf < 7; leaf++)
    g_assert_true (usi_mls_secret_tree_get_key (tree, USI_MLS_RATCHET_HANDSHAKE, leaf, 0, key, nonce, &error));
  g_assert_cmpuint (usi_mls_secret_tree_get_n_node_secrets (tree), ==, 0);
}

static void
test_leaf_count (void)
{
  g_autoptr(GPtrArray) cases = load_suite3 ();
  g_autoptr(UsiMlsSecretTree) tree = NULL;
  g_autoptr(GError) error = NULL;
  static const guint8 secret[USI_MLS_HASH_LENGTH] = { 0 };
  JsonObject *entry;

  if (cases == NULL)
    return;

  /* Five members live in an eight-leaf tree: the same keys as the vector's. */
  entry = eight_leaf_case (cases);
  tree = tree_for_case (entry, 5, CAP);
  for (guint32 leaf = 0; leaf < 5; leaf++)
    assert_key (tree, USI_MLS_RATCHET_APPLICATION, leaf, 15, expected_at (entry, leaf, 1));
  assert_get_fails (tree, USI_MLS_RATCHET_APPLICATION, 5, 0, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  assert_get_fails (tree, USI_MLS_RATCHET_HANDSHAKE, G_MAXUINT32, 0, USI_CRYPTO_ERROR_INVALID_ARGUMENT);

  g_assert_null (usi_mls_secret_tree_new (PREFIX, secret, 0, CAP, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_null (usi_mls_secret_tree_new (PREFIX, secret, (1u << 31) + 1, CAP, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* The largest tree is fine: secrets are derived lazily. */
  {
    g_autoptr(UsiMlsSecretTree) huge = usi_mls_secret_tree_new (PREFIX, secret, 1u << 31, CAP, &error);
    guint8 key[USI_MLS_AEAD_KEY_LENGTH];
    guint8 nonce[USI_MLS_AEAD_NONCE_LENGTH];

    g_assert_no_error (error);
    g_assert_true (usi_mls_secret_tree_get_key (huge, USI_MLS_RATCHET_APPLICATION, (1u << 31) - 1, 0, key, nonce, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (usi_mls_secret_tree_get_n_node_secrets (huge), ==, 31);
  }
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/crypto/mls/secret-tree/vectors", test_vectors);
  g_test_add_func ("/crypto/mls/secret-tree/sender-data-vectors", test_sender_data_vectors);
  g_test_add_func ("/crypto/mls/secret-tree/reuse", test_reuse);
  g_test_add_func ("/crypto/mls/secret-tree/forward-limit", test_forward_limit);
  g_test_add_func ("/crypto/mls/secret-tree/skipped-keys-bounded", test_skipped_keys_bounded);
  g_test_add_func ("/crypto/mls/secret-tree/restore", test_restore);
  g_test_add_func ("/crypto/mls/secret-tree/restore-over-cap", test_restore_over_cap);
  g_test_add_func ("/crypto/mls/secret-tree/forged-header", test_forged_header);
  g_test_add_func ("/crypto/mls/secret-tree/peek-changes-nothing", test_peek_changes_nothing);
  g_test_add_func ("/crypto/mls/secret-tree/consumed-or-expired", test_consumed_or_expired);
  g_test_add_func ("/crypto/mls/secret-tree/tree-cap", test_tree_cap);
  g_test_add_func ("/crypto/mls/secret-tree/node-secrets-wiped", test_node_secrets_wiped);
  g_test_add_func ("/crypto/mls/secret-tree/leaf-count", test_leaf_count);

  return g_test_run ();
}
