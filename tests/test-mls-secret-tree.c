/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The RFC 9420 secret tree and sender ratchets against
 * mls/secret-tree.json (cipher suite 3), and the deletion schedule: a used
 * generation is gone (KEY_CONSUMED), a jump past the cap is refused (LIMIT),
 * out-of-order retrieval within the cap works, node secrets are dropped once
 * split, skipped keys are bounded. */

#include "config.h"

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
  for (guint32 generation = 0; generation <= 3; generation++)
    assert_get_fails (tree, USI_MLS_RATCHET_HANDSHAKE, 0, generation, USI_CRYPTO_ERROR_KEY_CONSUMED);
  for (guint32 generation = 4; generation <= 6; generation++)
    {
      g_assert_true (usi_mls_secret_tree_get_key (tree, USI_MLS_RATCHET_HANDSHAKE, 0, generation, key, nonce, &error));
      g_assert_no_error (error);
    }

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
  g_test_add_func ("/crypto/mls/secret-tree/node-secrets-wiped", test_node_secrets_wiped);
  g_test_add_func ("/crypto/mls/secret-tree/leaf-count", test_leaf_count);

  return g_test_run ();
}
