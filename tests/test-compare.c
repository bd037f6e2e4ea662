/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Constant-time comparison and HMAC verification: every single-bit change is
 * caught, lengths are enforced, RFC 4231 and Wycheproof HMAC vectors verify
 * (valid) or are refused (invalid). */

#include "config.h"

#include <string.h>

#include "crypto/usi-compare.h"
#include "crypto/usi-crypto-error.h"
#include "usi-test-vectors.h"

static void
test_equal (void)
{
  guint8 a[67], b[67];
  guint flips = 0;

  for (guint i = 0; i < sizeof a; i++)
    a[i] = b[i] = (guint8) (i * 37 + 11);

  g_assert_true (usi_crypto_equal (a, b, sizeof a));
  g_assert_true (usi_crypto_equal (a, a, sizeof a));
  /* Nothing to compare is equal, even without buffers. */
  g_assert_true (usi_crypto_equal (NULL, NULL, 0));
  g_assert_true (usi_crypto_equal (a, NULL, 0));

  /* Every single bit at every position, first and last included. */
  for (guint i = 0; i < sizeof b; i++)
    for (guint bit = 0; bit < 8; bit++)
      {
        b[i] ^= (guint8) (1u << bit);
        g_assert_false (usi_crypto_equal (a, b, sizeof a));
        /* Only the compared length counts. */
        g_assert_true (usi_crypto_equal (a, b, i));
        b[i] ^= (guint8) (1u << bit);
        flips++;
      }
  g_assert_true (usi_crypto_equal (a, b, sizeof a));
  g_test_message ("%u single-bit differences detected", flips);
}

typedef struct
{
  UsiHash     hash;
  const char *key;
  const char *data;
  const char *mac;
} MacVector;

/* RFC 4231 test case 2 ("Jefe"). */
static const MacVector rfc4231_vectors[] = {
  { USI_HASH_SHA256, "Jefe", "what do ya want for nothing?",
    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
  { USI_HASH_SHA512, "Jefe", "what do ya want for nothing?",
    "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
    "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737" },
};

static void
assert_verify_fails (const MacVector *v,
                     const char      *key,
                     const char      *data,
                     const guint8    *mac,
                     gsize            mac_length,
                     UsiCryptoError   code)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (usi_hmac_verify (v->hash, (const guint8 *) key, strlen (key),
                                   (const guint8 *) data, strlen (data), mac, mac_length, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, (gint) code);
}

static void
test_hmac_verify_rfc4231 (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (rfc4231_vectors); i++)
    {
      const MacVector *v = &rfc4231_vectors[i];
      g_autoptr(GBytes) expected = usi_test_hex (v->mac);
      gsize mac_length = g_bytes_get_size (expected);
      g_autofree guint8 *mac = g_memdup2 (g_bytes_get_data (expected, NULL), mac_length);
      g_autofree guint8 *longer = g_malloc0 (mac_length + 1);
      g_autoptr(GError) error = NULL;

      g_assert_cmpuint (mac_length, ==, usi_hash_get_length (v->hash));
      g_assert_true (usi_hmac_verify (v->hash, (const guint8 *) v->key, strlen (v->key),
                                      (const guint8 *) v->data, strlen (v->data), mac, mac_length, &error));
      g_assert_no_error (error);

      /* Any flipped bit of the MAC, a changed key or message: refused. */
      for (gsize byte = 0; byte < mac_length; byte++)
        for (guint bit = 0; bit < 8; bit++)
          {
            mac[byte] ^= (guint8) (1u << bit);
            assert_verify_fails (v, v->key, v->data, mac, mac_length, USI_CRYPTO_ERROR_AUTHENTICATION);
            mac[byte] ^= (guint8) (1u << bit);
          }
      assert_verify_fails (v, "Jeff", v->data, mac, mac_length, USI_CRYPTO_ERROR_AUTHENTICATION);
      assert_verify_fails (v, v->key, "what do ya want for nothing!", mac, mac_length,
                           USI_CRYPTO_ERROR_AUTHENTICATION);

      /* A truncated, empty or longer MAC is not checked at all, even when
       * its bytes are right. */
      assert_verify_fails (v, v->key, v->data, mac, mac_length - 1, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
      assert_verify_fails (v, v->key, v->data, mac, 16, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
      assert_verify_fails (v, v->key, v->data, NULL, 0, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
      memcpy (longer, mac, mac_length);
      assert_verify_fails (v, v->key, v->data, longer, mac_length + 1, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
    }

  usi_test_vectors_report ("RFC 4231 test case 2 verified", G_N_ELEMENTS (rfc4231_vectors));
}

/* Wycheproof HMAC: full-length tags must verify when valid and be refused
 * with AUTHENTICATION when invalid; truncated tags are not applicable (Usi
 * never verifies a truncated MAC) and must be refused as INVALID_ARGUMENT. */
static void
run_wycheproof (UsiHash     hash,
                const char *file)
{
  g_autoptr(JsonNode) root = usi_test_vectors_load_json (file);
  guint valid = 0, invalid = 0, acceptable_accepted = 0, acceptable_rejected = 0, not_applicable = 0;
  JsonArray *groups;

  if (root == NULL)
    return;

  groups = json_object_get_array_member (json_node_get_object (root), "testGroups");
  for (guint g = 0; g < json_array_get_length (groups); g++)
    {
      JsonObject *group = json_array_get_object_element (groups, g);
      JsonArray *tests = json_object_get_array_member (group, "tests");
      gsize tag_length = (gsize) json_object_get_int_member (group, "tagSize") / 8;

      for (guint t = 0; t < json_array_get_length (tests); t++)
        {
          JsonObject *test = json_array_get_object_element (tests, t);
          g_autoptr(GBytes) key = usi_test_hex (json_object_get_string_member (test, "key"));
          g_autoptr(GBytes) message = usi_test_hex (json_object_get_string_member (test, "msg"));
          g_autoptr(GBytes) tag = usi_test_hex (json_object_get_string_member (test, "tag"));
          const char *result = json_object_get_string_member (test, "result");
          g_autoptr(GError) error = NULL;
          gboolean verified;

          verified = usi_hmac_verify (hash, g_bytes_get_data (key, NULL), g_bytes_get_size (key),
                                      g_bytes_get_data (message, NULL), g_bytes_get_size (message),
                                      g_bytes_get_data (tag, NULL), g_bytes_get_size (tag), &error);

          if (tag_length != usi_hash_get_length (hash) || g_bytes_get_size (tag) != tag_length)
            {
              /* A tag of the full length that belongs to a truncated group
               * is checked, and cannot match. */
              gint code = g_bytes_get_size (tag) == usi_hash_get_length (hash)
                            ? USI_CRYPTO_ERROR_AUTHENTICATION : USI_CRYPTO_ERROR_INVALID_ARGUMENT;

              g_assert_false (verified);
              g_assert_error (error, USI_CRYPTO_ERROR, code);
              not_applicable++;
            }
          else if (g_str_equal (result, "valid"))
            {
              g_assert_no_error (error);
              g_assert_true (verified);
              valid++;
            }
          else if (g_str_equal (result, "invalid"))
            {
              g_assert_false (verified);
              g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
              invalid++;
            }
          else
            {
              g_assert_cmpstr (result, ==, "acceptable");
              if (verified)
                acceptable_accepted++;
              else
                acceptable_rejected++;
            }
        }
    }

  g_print ("# %s: %u valid, %u invalid, %u acceptable (%u accepted, %u rejected), "
           "%u not applicable (truncated tags, refused)\n",
           file, valid, invalid, acceptable_accepted + acceptable_rejected,
           acceptable_accepted, acceptable_rejected, not_applicable);
  usi_test_vectors_report (file, valid + invalid + acceptable_accepted + acceptable_rejected);
}

static void
test_hmac_verify_wycheproof_sha256 (void)
{
  run_wycheproof (USI_HASH_SHA256, "wycheproof/hmac_sha256_test.json");
}

static void
test_hmac_verify_wycheproof_sha512 (void)
{
  run_wycheproof (USI_HASH_SHA512, "wycheproof/hmac_sha512_test.json");
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/crypto/compare/equal", test_equal);
  g_test_add_func ("/crypto/compare/hmac-verify/rfc4231", test_hmac_verify_rfc4231);
  g_test_add_func ("/crypto/compare/hmac-verify/wycheproof/sha256", test_hmac_verify_wycheproof_sha256);
  g_test_add_func ("/crypto/compare/hmac-verify/wycheproof/sha512", test_hmac_verify_wycheproof_sha512);

  return g_test_run ();
}
