/* SPDX-License-Identifier: GPL-3.0-or-later */

/* X25519: Wycheproof and RFC 7748 known answers, key generation from an
 * injected random source, and refusal of low-order peer keys. */

#include "config.h"

#include "crypto/usi-crypto-error.h"
#include "crypto/usi-x25519.h"
#include "usi-test-vectors.h"

static gboolean
is_all_zero (const guint8 *data,
             gsize         length)
{
  for (gsize i = 0; i < length; i++)
    if (data[i] != 0)
      return FALSE;
  return TRUE;
}

static void
test_wycheproof (void)
{
  g_autoptr(JsonNode) root = usi_test_vectors_load_json ("wycheproof/x25519_test.json");
  JsonArray *groups;
  guint valid = 0, invalid = 0, zero_refused = 0;
  guint acceptable_accepted = 0, acceptable_rejected = 0;

  if (root == NULL)
    return;

  groups = json_object_get_array_member (json_node_get_object (root), "testGroups");
  for (guint g = 0; g < json_array_get_length (groups); g++)
    {
      JsonObject *group = json_array_get_object_element (groups, g);
      JsonArray *tests = json_object_get_array_member (group, "tests");

      g_assert_cmpstr (json_object_get_string_member (group, "curve"), ==, "curve25519");

      for (guint t = 0; t < json_array_get_length (tests); t++)
        {
          JsonObject *test = json_array_get_object_element (tests, t);
          g_autoptr(GBytes) private_key = usi_test_hex (json_object_get_string_member (test, "private"));
          g_autoptr(GBytes) public_key = usi_test_hex (json_object_get_string_member (test, "public"));
          g_autoptr(GBytes) shared = usi_test_hex (json_object_get_string_member (test, "shared"));
          const char *result = json_object_get_string_member (test, "result");
          gint64 id = json_object_get_int_member (test, "tcId");
          guint8 computed[USI_X25519_KEY_LENGTH];
          g_autoptr(GError) error = NULL;
          gboolean ok;

          g_assert_cmpuint (g_bytes_get_size (private_key), ==, USI_X25519_KEY_LENGTH);
          /* Every public key in this file is 32 bytes; other lengths cannot
           * even be passed to this API. */
          g_assert_cmpuint (g_bytes_get_size (public_key), ==, USI_X25519_KEY_LENGTH);

          memset (computed, 0xa5, sizeof computed);
          ok = usi_x25519 (g_bytes_get_data (private_key, NULL), g_bytes_get_data (public_key, NULL),
                           computed, &error);

          /* A shared secret of zeros (low-order peer point) is refused,
           * whatever Wycheproof calls the case, and nothing is left behind. */
          if (g_bytes_get_size (shared) == USI_X25519_KEY_LENGTH &&
              is_all_zero (g_bytes_get_data (shared, NULL), USI_X25519_KEY_LENGTH))
            {
              g_assert_false (ok);
              g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_KEY);
              g_assert_true (is_all_zero (computed, sizeof computed));
              zero_refused++;
              continue;
            }

          if (g_str_equal (result, "valid"))
            {
              g_assert_no_error (error);
              g_assert_true (ok);
              usi_assert_bytes_equal (computed, sizeof computed,
                                      g_bytes_get_data (shared, NULL), g_bytes_get_size (shared));
              valid++;
            }
          else if (g_str_equal (result, "invalid"))
            {
              g_assert_false (ok);
              g_assert_nonnull (error);
              invalid++;
            }
          else
            {
              g_assert_cmpstr (result, ==, "acceptable");
              /* Accepted or not, a computed secret must be the right one. */
              if (ok)
                {
                  usi_assert_bytes_equal (computed, sizeof computed,
                                          g_bytes_get_data (shared, NULL), g_bytes_get_size (shared));
                  acceptable_accepted++;
                }
              else
                {
                  g_test_message ("x25519 tcId %" G_GINT64_FORMAT " (acceptable) rejected: %s", id, error->message);
                  acceptable_rejected++;
                }
            }
        }
    }

  g_print ("# wycheproof/x25519_test.json: %u valid, %u invalid, %u acceptable (%u accepted, %u rejected), "
           "%u with an all-zero shared secret refused, 0 not applicable\n",
           valid, invalid, acceptable_accepted + acceptable_rejected,
           acceptable_accepted, acceptable_rejected, zero_refused);
  usi_test_vectors_report ("wycheproof/x25519_test.json",
                           valid + invalid + acceptable_accepted + acceptable_rejected + zero_refused);
}

static GBytes *
hex32 (const char *hex)
{
  GBytes *bytes = usi_test_hex (hex);

  g_assert_cmpuint (g_bytes_get_size (bytes), ==, 32);
  return bytes;
}

/* RFC 7748 §6.1. */
static void
test_rfc7748_alice_bob (void)
{
  g_autoptr(GBytes) alice_private = hex32 ("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  g_autoptr(GBytes) alice_public = hex32 ("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  g_autoptr(GBytes) bob_private = hex32 ("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  g_autoptr(GBytes) bob_public = hex32 ("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  g_autoptr(GBytes) shared = hex32 ("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  g_autoptr(GError) error = NULL;
  guint8 computed[USI_X25519_KEY_LENGTH];

  g_assert_true (usi_x25519_public_from_private (g_bytes_get_data (alice_private, NULL), computed, &error));
  g_assert_no_error (error);
  usi_assert_bytes_equal (computed, 32, g_bytes_get_data (alice_public, NULL), 32);

  g_assert_true (usi_x25519_public_from_private (g_bytes_get_data (bob_private, NULL), computed, &error));
  g_assert_no_error (error);
  usi_assert_bytes_equal (computed, 32, g_bytes_get_data (bob_public, NULL), 32);

  g_assert_true (usi_x25519 (g_bytes_get_data (alice_private, NULL), g_bytes_get_data (bob_public, NULL),
                             computed, &error));
  g_assert_no_error (error);
  usi_assert_bytes_equal (computed, 32, g_bytes_get_data (shared, NULL), 32);

  g_assert_true (usi_x25519 (g_bytes_get_data (bob_private, NULL), g_bytes_get_data (alice_public, NULL),
                             computed, &error));
  g_assert_no_error (error);
  usi_assert_bytes_equal (computed, 32, g_bytes_get_data (shared, NULL), 32);

  usi_test_vectors_report ("RFC 7748 section 6.1", 1);
}

/* RFC 7748 §5.2: the function iterated on its own output, 1 and 1000 times. */
static void
test_rfc7748_iterated (void)
{
  g_autoptr(GBytes) after_1 = hex32 ("422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079");
  g_autoptr(GBytes) after_1000 = hex32 ("684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51");
  guint8 k[32] = { 9 }, u[32] = { 9 }, next[32];

  for (guint i = 1; i <= 1000; i++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_true (usi_x25519 (k, u, next, &error));
      g_assert_no_error (error);
      memcpy (u, k, 32);
      memcpy (k, next, 32);
      if (i == 1)
        usi_assert_bytes_equal (k, 32, g_bytes_get_data (after_1, NULL), 32);
    }
  usi_assert_bytes_equal (k, 32, g_bytes_get_data (after_1000, NULL), 32);

  usi_test_vectors_report ("RFC 7748 section 5.2 iterations", 2);
}

static void
test_generate (void)
{
  static const guint8 seed[] = "usi x25519 test seed";
  g_autoptr(UsiRandom) random_a = usi_random_new_deterministic (seed, sizeof seed);
  g_autoptr(UsiRandom) random_b = usi_random_new_deterministic (seed, sizeof seed);
  g_autoptr(UsiRandom) stream = usi_random_new_deterministic (seed, sizeof seed);
  g_autoptr(GError) error = NULL;
  guint8 private_a[32], public_a[32], private_b[32], public_b[32], expected_private[32], derived[32];
  guint8 private_c[32], public_c[32], shared_ac[32], shared_ca[32];

  g_assert_true (usi_x25519_generate (random_a, private_a, public_a, &error));
  g_assert_no_error (error);
  g_assert_true (usi_x25519_generate (random_b, private_b, public_b, &error));
  g_assert_no_error (error);

  /* Same seed, same key; the private key is the source's first 32 bytes. */
  usi_assert_bytes_equal (private_a, 32, private_b, 32);
  usi_assert_bytes_equal (public_a, 32, public_b, 32);
  g_assert_true (usi_random_fill (stream, expected_private, sizeof expected_private, &error));
  g_assert_no_error (error);
  usi_assert_bytes_equal (private_a, 32, expected_private, 32);

  g_assert_true (usi_x25519_public_from_private (private_a, derived, &error));
  g_assert_no_error (error);
  usi_assert_bytes_equal (derived, 32, public_a, 32);

  /* The next key from the same source differs, and both sides agree. */
  g_assert_true (usi_x25519_generate (random_a, private_c, public_c, &error));
  g_assert_no_error (error);
  g_assert_true (memcmp (private_a, private_c, 32) != 0);
  g_assert_true (memcmp (public_a, public_c, 32) != 0);
  g_assert_true (usi_x25519 (private_a, public_c, shared_ac, &error));
  g_assert_no_error (error);
  g_assert_true (usi_x25519 (private_c, public_a, shared_ca, &error));
  g_assert_no_error (error);
  usi_assert_bytes_equal (shared_ac, 32, shared_ca, 32);
}

static void
test_generate_random_failure (void)
{
  static const guint8 too_few[31] = { 1 };
  g_autoptr(UsiRandom) random = usi_random_new_fixed (too_few, sizeof too_few);
  g_autoptr(GError) error = NULL;
  guint8 private_key[32], public_key[32];

  g_assert_false (usi_x25519_generate (random, private_key, public_key, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_RANDOM);
}

/* Keys whose every shared secret is zero (u = 0, 1 and p - 1, and the same
 * values plus p, which RFC 7748 reduces), against a fixed private key. */
static void
test_low_order_refused (void)
{
  static const char *low_order[] = {
    "0000000000000000000000000000000000000000000000000000000000000000", /* 0 */
    "0100000000000000000000000000000000000000000000000000000000000000", /* 1 */
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* p - 1 */
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* p = 0 */
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* p + 1 = 1 */
    "0000000000000000000000000000000000000000000000000000000000000080", /* 0, top bit set */
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800", /* order 8 */
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157", /* order 8 */
  };
  guint8 private_key[32];

  for (guint i = 0; i < sizeof private_key; i++)
    private_key[i] = (guint8) (i * 7 + 1);

  for (guint i = 0; i < G_N_ELEMENTS (low_order); i++)
    {
      g_autoptr(GBytes) peer = hex32 (low_order[i]);
      g_autoptr(GError) error = NULL;
      guint8 shared[32];

      memset (shared, 0xa5, sizeof shared);
      g_assert_false (usi_x25519 (private_key, g_bytes_get_data (peer, NULL), shared, &error));
      g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_KEY);
      g_assert_true (is_all_zero (shared, sizeof shared));
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/crypto/x25519/wycheproof", test_wycheproof);
  g_test_add_func ("/crypto/x25519/rfc7748/alice-bob", test_rfc7748_alice_bob);
  g_test_add_func ("/crypto/x25519/rfc7748/iterated", test_rfc7748_iterated);
  g_test_add_func ("/crypto/x25519/generate", test_generate);
  g_test_add_func ("/crypto/x25519/generate-random-failure", test_generate_random_failure);
  g_test_add_func ("/crypto/x25519/low-order-refused", test_low_order_refused);

  return g_test_run ();
}
