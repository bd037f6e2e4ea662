/* SPDX-License-Identifier: GPL-3.0-or-later */

/* RFC 9420 labelled operations against mls/crypto-basics.json (cipher suite
 * 3): ExpandWithLabel, DeriveSecret, DeriveTreeSecret, SignWithLabel /
 * VerifyWithLabel, EncryptWithLabel / DecryptWithLabel; plus our own negative
 * tests (flipped bits, wrong label, wrong prefix, wrong key).  RefHash is not
 * implemented (Usi does not need it), so ref_hash entries are counted as not
 * applicable. */

#include "config.h"

#include "crypto/usi-crypto-error.h"
#include "crypto/usi-ed25519.h"
#include "crypto/usi-hpke.h"
#include "crypto/usi-mls-labels.h"
#include "crypto/usi-x25519.h"
#include "usi-test-vectors.h"

#define PREFIX USI_MLS_LABEL_PREFIX_RFC9420

/* The suite-3 entries' @member objects, in file order; NULL when skipped. */
static GPtrArray *
load_suite3_members (const char *member)
{
  g_autoptr(JsonNode) root = usi_test_vectors_load_json ("mls/crypto-basics.json");
  g_autoptr(GPtrArray) members = NULL;
  JsonArray *entries;

  if (root == NULL)
    return NULL;

  members = g_ptr_array_new_with_free_func ((GDestroyNotify) json_object_unref);
  entries = json_node_get_array (root);
  for (guint i = 0; i < json_array_get_length (entries); i++)
    {
      JsonObject *entry = json_array_get_object_element (entries, i);

      if (json_object_get_int_member (entry, "cipher_suite") == 3)
        g_ptr_array_add (members, json_object_ref (json_object_get_object_member (entry, member)));
    }

  return g_steal_pointer (&members);
}

static GBytes *
member_hex (JsonObject *object,
            const char *name)
{
  return usi_test_hex (json_object_get_string_member (object, name));
}

static void
test_expand_with_label (void)
{
  g_autoptr(GPtrArray) cases = load_suite3_members ("expand_with_label");
  guint count = 0;

  if (cases == NULL)
    return;

  for (guint i = 0; i < cases->len; i++)
    {
      JsonObject *test = g_ptr_array_index (cases, i);
      g_autoptr(GBytes) secret = member_hex (test, "secret");
      g_autoptr(GBytes) context = member_hex (test, "context");
      g_autoptr(GBytes) expected = member_hex (test, "out");
      gsize length = (gsize) json_object_get_int_member (test, "length");
      g_autofree guint8 *out = g_malloc (length);
      g_autoptr(GError) error = NULL;

      g_assert_cmpuint (g_bytes_get_size (secret), ==, USI_MLS_HASH_LENGTH);
      g_assert_true (usi_mls_expand_with_label (PREFIX, g_bytes_get_data (secret, NULL),
                                                json_object_get_string_member (test, "label"),
                                                g_bytes_get_data (context, NULL), g_bytes_get_size (context),
                                                out, length, &error));
      g_assert_no_error (error);
      usi_assert_bytes_equal (out, length, g_bytes_get_data (expected, NULL), g_bytes_get_size (expected));

      /* Another prefix gives another output. */
      g_assert_true (usi_mls_expand_with_label ("MLS 1.1 ", g_bytes_get_data (secret, NULL),
                                                json_object_get_string_member (test, "label"),
                                                g_bytes_get_data (context, NULL), g_bytes_get_size (context),
                                                out, length, &error));
      g_assert_false (memcmp (out, g_bytes_get_data (expected, NULL), length) == 0);
      count++;
    }

  usi_test_vectors_report ("crypto-basics expand_with_label (suite 3)", count);
}

static void
test_expand_limits (void)
{
  guint8 secret[USI_MLS_HASH_LENGTH] = { 1 };
  g_autofree guint8 *out = g_malloc (G_MAXUINT16 + 1);
  g_autoptr(GError) error = NULL;

  /* KDFLabel.length is a uint16; HKDF-SHA256 stops at 255 × 32 bytes. */
  g_assert_false (usi_mls_expand_with_label (PREFIX, secret, "x", NULL, 0, out, G_MAXUINT16 + 1, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (usi_mls_expand_with_label (PREFIX, secret, "x", NULL, 0, out, 255 * 32 + 1, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_true (usi_mls_expand_with_label (PREFIX, secret, "x", NULL, 0, out, 255 * 32, &error));
  g_assert_no_error (error);
}

static void
test_derive_secret (void)
{
  g_autoptr(GPtrArray) cases = load_suite3_members ("derive_secret");
  guint count = 0;

  if (cases == NULL)
    return;

  for (guint i = 0; i < cases->len; i++)
    {
      JsonObject *test = g_ptr_array_index (cases, i);
      g_autoptr(GBytes) secret = member_hex (test, "secret");
      g_autoptr(GBytes) expected = member_hex (test, "out");
      guint8 out[USI_MLS_HASH_LENGTH];
      g_autoptr(GError) error = NULL;

      g_assert_true (usi_mls_derive_secret (PREFIX, g_bytes_get_data (secret, NULL),
                                            json_object_get_string_member (test, "label"), out, &error));
      g_assert_no_error (error);
      usi_assert_bytes_equal (out, sizeof out, g_bytes_get_data (expected, NULL), g_bytes_get_size (expected));
      count++;
    }

  usi_test_vectors_report ("crypto-basics derive_secret (suite 3)", count);
}

static void
test_derive_tree_secret (void)
{
  g_autoptr(GPtrArray) cases = load_suite3_members ("derive_tree_secret");
  guint count = 0;

  if (cases == NULL)
    return;

  for (guint i = 0; i < cases->len; i++)
    {
      JsonObject *test = g_ptr_array_index (cases, i);
      g_autoptr(GBytes) secret = member_hex (test, "secret");
      g_autoptr(GBytes) expected = member_hex (test, "out");
      gint64 generation = json_object_get_int_member (test, "generation");
      gsize length = (gsize) json_object_get_int_member (test, "length");
      g_autofree guint8 *out = g_malloc (length);
      g_autoptr(GError) error = NULL;

      g_assert_cmpint (generation, >=, 0);
      g_assert_cmpint (generation, <=, G_MAXUINT32);
      g_assert_true (usi_mls_derive_tree_secret (PREFIX, g_bytes_get_data (secret, NULL),
                                                 json_object_get_string_member (test, "label"),
                                                 (guint32) generation, out, length, &error));
      g_assert_no_error (error);
      usi_assert_bytes_equal (out, length, g_bytes_get_data (expected, NULL), g_bytes_get_size (expected));

      /* The generation is part of the derivation. */
      g_assert_true (usi_mls_derive_tree_secret (PREFIX, g_bytes_get_data (secret, NULL),
                                                 json_object_get_string_member (test, "label"),
                                                 (guint32) generation + 1, out, length, &error));
      g_assert_false (memcmp (out, g_bytes_get_data (expected, NULL), length) == 0);
      count++;
    }

  usi_test_vectors_report ("crypto-basics derive_tree_secret (suite 3)", count);
}

static void
assert_verify_fails (const guint8   *public_key,
                     const char     *prefix,
                     const char     *label,
                     const guint8   *content,
                     gsize           content_length,
                     const guint8   *signature,
                     gsize           signature_length,
                     UsiCryptoError  code)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (usi_mls_verify_with_label (prefix, public_key, label, content, content_length,
                                             signature, signature_length, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, (gint) code);
}

static void
test_sign_with_label (void)
{
  g_autoptr(GPtrArray) cases = load_suite3_members ("sign_with_label");
  guint count = 0;

  if (cases == NULL)
    return;

  for (guint i = 0; i < cases->len; i++)
    {
      JsonObject *test = g_ptr_array_index (cases, i);
      g_autoptr(GBytes) seed = member_hex (test, "priv");
      g_autoptr(GBytes) public_key = member_hex (test, "pub");
      g_autoptr(GBytes) content = member_hex (test, "content");
      g_autoptr(GBytes) expected = member_hex (test, "signature");
      const char *label = json_object_get_string_member (test, "label");
      const guint8 *public_data = g_bytes_get_data (public_key, NULL);
      gsize content_length;
      const guint8 *content_data = g_bytes_get_data (content, &content_length);
      guint8 derived_public[USI_ED25519_PUBLIC_KEY_LENGTH];
      guint8 signature[USI_ED25519_SIGNATURE_LENGTH];
      g_autoptr(GError) error = NULL;

      g_assert_cmpuint (g_bytes_get_size (seed), ==, USI_ED25519_SEED_LENGTH);
      g_assert_true (usi_ed25519_public_from_seed (g_bytes_get_data (seed, NULL), derived_public, &error));
      usi_assert_bytes_equal (derived_public, sizeof derived_public, public_data, g_bytes_get_size (public_key));

      /* The vector's signature verifies. */
      g_assert_true (usi_mls_verify_with_label (PREFIX, public_data, label, content_data, content_length,
                                                g_bytes_get_data (expected, NULL), g_bytes_get_size (expected),
                                                &error));
      g_assert_no_error (error);

      /* Ours is byte for byte the same (Ed25519 is deterministic) and verifies. */
      g_assert_true (usi_mls_sign_with_label (PREFIX, g_bytes_get_data (seed, NULL), label,
                                              content_data, content_length, signature, &error));
      g_assert_no_error (error);
      usi_assert_bytes_equal (signature, sizeof signature,
                              g_bytes_get_data (expected, NULL), g_bytes_get_size (expected));
      g_assert_true (usi_mls_verify_with_label (PREFIX, public_data, label, content_data, content_length,
                                                signature, sizeof signature, &error));
      g_assert_no_error (error);

      /* Anything else does not. */
      assert_verify_fails (public_data, PREFIX, "SignWithLabeL", content_data, content_length,
                           signature, sizeof signature, USI_CRYPTO_ERROR_AUTHENTICATION);
      assert_verify_fails (public_data, "MLS 1.1 ", label, content_data, content_length,
                           signature, sizeof signature, USI_CRYPTO_ERROR_AUTHENTICATION);
      assert_verify_fails (public_data, PREFIX, label, content_data, content_length - 1,
                           signature, sizeof signature, USI_CRYPTO_ERROR_AUTHENTICATION);
      assert_verify_fails (public_data, PREFIX, label, content_data, content_length,
                           signature, sizeof signature - 1, USI_CRYPTO_ERROR_AUTHENTICATION);
      for (gsize bit = 0; bit < 8 * sizeof signature; bit += 37)
        {
          signature[bit / 8] ^= 1 << (bit % 8);
          assert_verify_fails (public_data, PREFIX, label, content_data, content_length,
                               signature, sizeof signature, USI_CRYPTO_ERROR_AUTHENTICATION);
          signature[bit / 8] ^= 1 << (bit % 8);
        }
      {
        g_autofree guint8 *flipped = g_memdup2 (content_data, content_length);

        flipped[0] ^= 0x01;
        assert_verify_fails (public_data, PREFIX, label, flipped, content_length,
                             signature, sizeof signature, USI_CRYPTO_ERROR_AUTHENTICATION);
      }

      /* Plain Ed25519 over the raw content is not a SignWithLabel signature. */
      g_assert_true (usi_ed25519_sign (g_bytes_get_data (seed, NULL), content_data, content_length,
                                       signature, &error));
      assert_verify_fails (public_data, PREFIX, label, content_data, content_length,
                           signature, sizeof signature, USI_CRYPTO_ERROR_AUTHENTICATION);
      count++;
    }

  usi_test_vectors_report ("crypto-basics sign_with_label (suite 3)", count);
}

static void
test_encrypt_with_label (void)
{
  g_autoptr(GPtrArray) cases = load_suite3_members ("encrypt_with_label");
  guint count = 0;

  if (cases == NULL)
    return;

  for (guint i = 0; i < cases->len; i++)
    {
      JsonObject *test = g_ptr_array_index (cases, i);
      g_autoptr(GBytes) private_key = member_hex (test, "priv");
      g_autoptr(GBytes) public_key = member_hex (test, "pub");
      g_autoptr(GBytes) context = member_hex (test, "context");
      g_autoptr(GBytes) plaintext = member_hex (test, "plaintext");
      g_autoptr(GBytes) kem_output = member_hex (test, "kem_output");
      g_autoptr(GBytes) ciphertext = member_hex (test, "ciphertext");
      const char *label = json_object_get_string_member (test, "label");
      const guint8 *private_data = g_bytes_get_data (private_key, NULL);
      gsize context_length, plaintext_length, ciphertext_length;
      const guint8 *context_data = g_bytes_get_data (context, &context_length);
      const guint8 *plaintext_data = g_bytes_get_data (plaintext, &plaintext_length);
      const guint8 *ciphertext_data = g_bytes_get_data (ciphertext, &ciphertext_length);
      g_autofree guint8 *opened = NULL;
      g_autofree guint8 *sealed = NULL;
      g_autofree guint8 *tampered = NULL;
      guint8 derived_public[USI_X25519_KEY_LENGTH];
      guint8 own_kem_output[USI_HPKE_ENC_LENGTH];
      g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "mls-crypto-basics", 17);
      g_autoptr(GError) error = NULL;

      g_assert_cmpuint (ciphertext_length, ==, plaintext_length + USI_HPKE_TAG_LENGTH);
      g_assert_cmpuint (g_bytes_get_size (kem_output), ==, USI_HPKE_ENC_LENGTH);
      g_assert_true (usi_x25519_public_from_private (private_data, derived_public, &error));
      usi_assert_bytes_equal (derived_public, sizeof derived_public,
                              g_bytes_get_data (public_key, NULL), g_bytes_get_size (public_key));

      /* The vector's ciphertext opens to its plaintext. */
      opened = g_malloc0 (plaintext_length + 1);
      g_assert_true (usi_mls_decrypt_with_label (PREFIX, private_data, label, context_data, context_length,
                                                 g_bytes_get_data (kem_output, NULL),
                                                 ciphertext_data, ciphertext_length, opened, &error));
      g_assert_no_error (error);
      usi_assert_bytes_equal (opened, plaintext_length, plaintext_data, plaintext_length);

      /* A wrong label, prefix or context, or a flipped bit, does not open. */
      g_assert_false (usi_mls_decrypt_with_label (PREFIX, private_data, "EncryptWithLabeL", context_data, context_length,
                                                  g_bytes_get_data (kem_output, NULL),
                                                  ciphertext_data, ciphertext_length, opened, &error));
      g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
      g_clear_error (&error);
      g_assert_false (usi_mls_decrypt_with_label ("MLS 1.1 ", private_data, label, context_data, context_length,
                                                  g_bytes_get_data (kem_output, NULL),
                                                  ciphertext_data, ciphertext_length, opened, &error));
      g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
      g_clear_error (&error);
      g_assert_false (usi_mls_decrypt_with_label (PREFIX, private_data, label, context_data, context_length - 1,
                                                  g_bytes_get_data (kem_output, NULL),
                                                  ciphertext_data, ciphertext_length, opened, &error));
      g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
      g_clear_error (&error);
      tampered = g_memdup2 (ciphertext_data, ciphertext_length);
      tampered[ciphertext_length - 1] ^= 0x80;
      g_assert_false (usi_mls_decrypt_with_label (PREFIX, private_data, label, context_data, context_length,
                                                  g_bytes_get_data (kem_output, NULL),
                                                  tampered, ciphertext_length, opened, &error));
      g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
      g_clear_error (&error);

      /* Our own encryption round-trips, with a fresh ephemeral key each time. */
      sealed = g_malloc (ciphertext_length);
      g_assert_true (usi_mls_encrypt_with_label (PREFIX, random, g_bytes_get_data (public_key, NULL), label,
                                                 context_data, context_length, plaintext_data, plaintext_length,
                                                 own_kem_output, sealed, &error));
      g_assert_no_error (error);
      g_assert_false (memcmp (own_kem_output, g_bytes_get_data (kem_output, NULL), sizeof own_kem_output) == 0);
      memset (opened, 0, plaintext_length);
      g_assert_true (usi_mls_decrypt_with_label (PREFIX, private_data, label, context_data, context_length,
                                                 own_kem_output, sealed, ciphertext_length, opened, &error));
      g_assert_no_error (error);
      usi_assert_bytes_equal (opened, plaintext_length, plaintext_data, plaintext_length);

      /* ...and is bound to the label. */
      g_assert_false (usi_mls_decrypt_with_label (PREFIX, private_data, "other", context_data, context_length,
                                                  own_kem_output, sealed, ciphertext_length, opened, &error));
      g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
      count++;
    }

  usi_test_vectors_report ("crypto-basics encrypt_with_label (suite 3)", count);
}

static void
test_ref_hash (void)
{
  g_autoptr(GPtrArray) cases = load_suite3_members ("ref_hash");

  if (cases == NULL)
    return;

  /* Usi has no KeyPackage or Proposal references, so RefHash is not built. */
  g_print ("# crypto-basics ref_hash (suite 3): %u not applicable (RefHash is not implemented)\n", cases->len);
  g_test_skip ("RefHash is not implemented");
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/crypto/mls/basics/expand-with-label", test_expand_with_label);
  g_test_add_func ("/crypto/mls/basics/expand-limits", test_expand_limits);
  g_test_add_func ("/crypto/mls/basics/derive-secret", test_derive_secret);
  g_test_add_func ("/crypto/mls/basics/derive-tree-secret", test_derive_tree_secret);
  g_test_add_func ("/crypto/mls/basics/sign-with-label", test_sign_with_label);
  g_test_add_func ("/crypto/mls/basics/encrypt-with-label", test_encrypt_with_label);
  g_test_add_func ("/crypto/mls/basics/ref-hash", test_ref_hash);

  return g_test_run ();
}
