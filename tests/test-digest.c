/* SPDX-License-Identifier: GPL-3.0-or-later */

/* SHA-256/512, incremental hashing, HMAC and HKDF: FIPS 180, RFC 4231,
 * RFC 5869 and Wycheproof known answers. */

#include "config.h"

#include <glib/gstdio.h>
#include <unistd.h>

#include <string.h>

/* Only to make OpenSSL's algorithms unavailable in one subprocess. */

#include "crypto/usi-crypto-error.h"
#include "crypto/usi-digest.h"
#include "usi-test-vectors.h"

static GBytes *
member_hex (JsonObject *object,
            const char *name)
{
  return usi_test_hex (json_object_get_string_member (object, name));
}

/* Pointer for a possibly empty GBytes: NULL when empty, as callers may pass. */
static const guint8 *
data_or_null (GBytes *bytes)
{
  return g_bytes_get_size (bytes) ? g_bytes_get_data (bytes, NULL) : NULL;
}

typedef struct
{
  UsiHash     hash;
  const char *message;
  const char *digest;
} HashVector;

/* FIPS 180-4 examples (csrc.nist.gov "Examples with Intermediate Values"). */
static const HashVector fips180_vectors[] = {
  { USI_HASH_SHA256, "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
  { USI_HASH_SHA256, "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
  { USI_HASH_SHA256, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
  { USI_HASH_SHA512, "abc",
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
    "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f" },
  { USI_HASH_SHA512, "",
    "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e" },
  { USI_HASH_SHA512,
    "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
    "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
    "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909" },
};

static void
test_fips180 (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (fips180_vectors); i++)
    {
      const HashVector *v = &fips180_vectors[i];
      g_autoptr(GBytes) expected = usi_test_hex (v->digest);
      g_autoptr(UsiHashState) state = NULL;
      g_autoptr(GError) error = NULL;
      gsize length = strlen (v->message);
      guint8 digest[USI_HASH_MAX_LENGTH];

      g_assert_cmpuint (usi_hash_get_length (v->hash), ==, g_bytes_get_size (expected));

      g_assert_true (usi_hash (v->hash, length ? (const guint8 *) v->message : NULL, length, digest, &error));
      g_assert_no_error (error);
      usi_assert_bytes_equal (digest, usi_hash_get_length (v->hash),
                              g_bytes_get_data (expected, NULL), g_bytes_get_size (expected));

      /* The same through the incremental interface, in one update. */
      memset (digest, 0, sizeof digest);
      state = usi_hash_state_new (v->hash, &error);
      g_assert_no_error (error);
      g_assert_nonnull (state);
      g_assert_true (usi_hash_state_update (state, length ? (const guint8 *) v->message : NULL, length, &error));
      g_assert_no_error (error);
      g_assert_true (usi_hash_state_finish (state, digest, &error));
      g_assert_no_error (error);
      usi_assert_bytes_equal (digest, usi_hash_get_length (v->hash),
                              g_bytes_get_data (expected, NULL), g_bytes_get_size (expected));
    }

  usi_test_vectors_report ("FIPS 180-4 SHA-256/SHA-512 examples", G_N_ELEMENTS (fips180_vectors));
}

/* Splitting the input anywhere, into pieces of any size, gives the one-shot
 * digest: pieces around the 64- and 128-byte block sizes matter most. */
static void
test_incremental (void)
{
  const UsiHash hashes[] = { USI_HASH_SHA256, USI_HASH_SHA512 };
  const gsize piece_sizes[] = { 1, 3, 7, 55, 56, 63, 64, 65, 111, 112, 127, 128, 129, 1000 };
  guint8 data[1000];
  guint checks = 0;

  for (gsize i = 0; i < sizeof data; i++)
    data[i] = (guint8) (i * 131 + 7);

  for (guint h = 0; h < G_N_ELEMENTS (hashes); h++)
    {
      g_autoptr(GError) error = NULL;
      guint8 one_shot[USI_HASH_MAX_LENGTH];
      gsize digest_length = usi_hash_get_length (hashes[h]);

      g_assert_true (usi_hash (hashes[h], data, sizeof data, one_shot, &error));
      g_assert_no_error (error);

      /* Two pieces, split at every position (including empty pieces). */
      for (gsize split = 0; split <= sizeof data; split++, checks++)
        {
          g_autoptr(UsiHashState) state = usi_hash_state_new (hashes[h], &error);
          guint8 digest[USI_HASH_MAX_LENGTH];

          g_assert_no_error (error);
          g_assert_true (usi_hash_state_update (state, data, split, &error));
          g_assert_true (usi_hash_state_update (state, data + split, sizeof data - split, &error));
          g_assert_true (usi_hash_state_finish (state, digest, &error));
          g_assert_no_error (error);
          g_assert_cmpmem (digest, digest_length, one_shot, digest_length);
        }

      /* Many pieces of one size. */
      for (guint s = 0; s < G_N_ELEMENTS (piece_sizes); s++, checks++)
        {
          g_autoptr(UsiHashState) state = usi_hash_state_new (hashes[h], &error);
          guint8 digest[USI_HASH_MAX_LENGTH];

          g_assert_no_error (error);
          for (gsize offset = 0; offset < sizeof data; offset += piece_sizes[s])
            {
              g_assert_true (usi_hash_state_update (state, data + offset,
                                                    MIN (piece_sizes[s], sizeof data - offset), &error));
              g_assert_no_error (error);
            }
          g_assert_true (usi_hash_state_finish (state, digest, &error));
          g_assert_no_error (error);
          usi_assert_bytes_equal (digest, digest_length, one_shot, digest_length);
        }

      /* A different message gives a different digest (the test can fail). */
      {
        guint8 other[USI_HASH_MAX_LENGTH];

        data[500] ^= 1;
        g_assert_true (usi_hash (hashes[h], data, sizeof data, other, &error));
        data[500] ^= 1;
        g_assert_true (memcmp (other, one_shot, digest_length) != 0);
      }
    }

  g_test_message ("%u incremental splits equal the one-shot digest", checks);
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
test_rfc4231 (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (rfc4231_vectors); i++)
    {
      const MacVector *v = &rfc4231_vectors[i];
      g_autoptr(GBytes) expected = usi_test_hex (v->mac);
      g_autoptr(GError) error = NULL;
      guint8 mac[USI_HASH_MAX_LENGTH];

      g_assert_true (usi_hmac (v->hash, (const guint8 *) v->key, strlen (v->key),
                               (const guint8 *) v->data, strlen (v->data), mac, &error));
      g_assert_no_error (error);
      usi_assert_bytes_equal (mac, usi_hash_get_length (v->hash),
                              g_bytes_get_data (expected, NULL), g_bytes_get_size (expected));
    }

  usi_test_vectors_report ("RFC 4231 test case 2", G_N_ELEMENTS (rfc4231_vectors));
}

static void
run_wycheproof_hmac (UsiHash     hash,
                     const char *file)
{
  g_autoptr(JsonNode) root = usi_test_vectors_load_json (file);
  JsonArray *groups;
  guint valid = 0, invalid = 0, acceptable_accepted = 0, acceptable_rejected = 0, truncated = 0;

  if (root == NULL)
    return;

  groups = json_object_get_array_member (json_node_get_object (root), "testGroups");
  for (guint g = 0; g < json_array_get_length (groups); g++)
    {
      JsonObject *group = json_array_get_object_element (groups, g);
      JsonArray *tests = json_object_get_array_member (group, "tests");
      gsize tag_length = (gsize) json_object_get_int_member (group, "tagSize") / 8;

      g_assert_cmpuint (tag_length, >, 0);
      g_assert_cmpuint (tag_length, <=, usi_hash_get_length (hash));

      for (guint t = 0; t < json_array_get_length (tests); t++)
        {
          JsonObject *test = json_array_get_object_element (tests, t);
          g_autoptr(GBytes) key = member_hex (test, "key");
          g_autoptr(GBytes) message = member_hex (test, "msg");
          g_autoptr(GBytes) tag = member_hex (test, "tag");
          const char *result = json_object_get_string_member (test, "result");
          g_autoptr(GError) error = NULL;
          guint8 mac[USI_HASH_MAX_LENGTH];
          gboolean matches;

          g_assert_true (usi_hmac (hash, data_or_null (key), g_bytes_get_size (key),
                                   data_or_null (message), g_bytes_get_size (message), mac, &error));
          g_assert_no_error (error);

          /* Truncated tags compare the MAC's prefix (RFC 2104 §5). */
          matches = g_bytes_get_size (tag) == tag_length &&
                    memcmp (mac, g_bytes_get_data (tag, NULL), tag_length) == 0;

          if (g_str_equal (result, "valid"))
            {
              usi_assert_bytes_equal (mac, tag_length, g_bytes_get_data (tag, NULL), g_bytes_get_size (tag));
              valid++;
              if (tag_length < usi_hash_get_length (hash))
                truncated++;
            }
          else if (g_str_equal (result, "invalid"))
            {
              g_assert_false (matches);
              invalid++;
            }
          else
            {
              g_assert_cmpstr (result, ==, "acceptable");
              if (matches)
                acceptable_accepted++;
              else
                acceptable_rejected++;
            }
        }
    }

  g_print ("# %s: %u valid (%u with a truncated tag), %u invalid, %u acceptable (%u accepted, %u rejected), "
           "0 not applicable\n",
           file, valid, truncated, invalid, acceptable_accepted + acceptable_rejected,
           acceptable_accepted, acceptable_rejected);
  usi_test_vectors_report (file, valid + invalid + acceptable_accepted + acceptable_rejected);
}

static void
test_wycheproof_hmac_sha256 (void)
{
  run_wycheproof_hmac (USI_HASH_SHA256, "wycheproof/hmac_sha256_test.json");
}

static void
test_wycheproof_hmac_sha512 (void)
{
  run_wycheproof_hmac (USI_HASH_SHA512, "wycheproof/hmac_sha512_test.json");
}

static void
run_wycheproof_hkdf (UsiHash     hash,
                     const char *file)
{
  g_autoptr(JsonNode) root = usi_test_vectors_load_json (file);
  JsonArray *groups;
  guint valid = 0, invalid = 0, acceptable_accepted = 0, acceptable_rejected = 0;

  if (root == NULL)
    return;

  groups = json_object_get_array_member (json_node_get_object (root), "testGroups");
  for (guint g = 0; g < json_array_get_length (groups); g++)
    {
      JsonObject *group = json_array_get_object_element (groups, g);
      JsonArray *tests = json_object_get_array_member (group, "tests");

      for (guint t = 0; t < json_array_get_length (tests); t++)
        {
          JsonObject *test = json_array_get_object_element (tests, t);
          g_autoptr(GBytes) ikm = member_hex (test, "ikm");
          g_autoptr(GBytes) salt = member_hex (test, "salt");
          g_autoptr(GBytes) info = member_hex (test, "info");
          g_autoptr(GBytes) okm = member_hex (test, "okm");
          gsize size = (gsize) json_object_get_int_member (test, "size");
          const char *result = json_object_get_string_member (test, "result");
          g_autofree guint8 *output = g_malloc0 (size + 1);
          g_autoptr(GError) error = NULL;
          gboolean ok;

          ok = usi_hkdf (hash, data_or_null (salt), g_bytes_get_size (salt),
                         data_or_null (ikm), g_bytes_get_size (ikm),
                         data_or_null (info), g_bytes_get_size (info),
                         output, size, &error);

          if (g_str_equal (result, "valid"))
            {
              guint8 prk[USI_HASH_MAX_LENGTH];
              g_autofree guint8 *two_step = g_malloc0 (size + 1);

              g_assert_no_error (error);
              g_assert_true (ok);
              usi_assert_bytes_equal (output, size, g_bytes_get_data (okm, NULL), g_bytes_get_size (okm));

              /* Extract then expand, separately, give the same. */
              g_assert_true (usi_hkdf_extract (hash, data_or_null (salt), g_bytes_get_size (salt),
                                               data_or_null (ikm), g_bytes_get_size (ikm), prk, &error));
              g_assert_no_error (error);
              g_assert_true (usi_hkdf_expand (hash, prk, usi_hash_get_length (hash),
                                              data_or_null (info), g_bytes_get_size (info),
                                              two_step, size, &error));
              g_assert_no_error (error);
              usi_assert_bytes_equal (two_step, size, g_bytes_get_data (okm, NULL), g_bytes_get_size (okm));
              valid++;
            }
          else if (g_str_equal (result, "invalid"))
            {
              /* The only invalid cases ask for more than 255 hash lengths. */
              g_assert_cmpuint (size, >, 255 * usi_hash_get_length (hash));
              g_assert_false (ok);
              g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
              invalid++;
            }
          else
            {
              g_assert_cmpstr (result, ==, "acceptable");
              if (ok)
                acceptable_accepted++;
              else
                acceptable_rejected++;
            }
        }
    }

  g_print ("# %s: %u valid, %u invalid, %u acceptable (%u accepted, %u rejected), 0 not applicable\n",
           file, valid, invalid, acceptable_accepted + acceptable_rejected,
           acceptable_accepted, acceptable_rejected);
  usi_test_vectors_report (file, valid + invalid + acceptable_accepted + acceptable_rejected);
}

static void
test_wycheproof_hkdf_sha256 (void)
{
  run_wycheproof_hkdf (USI_HASH_SHA256, "wycheproof/hkdf_sha256_test.json");
}

static void
test_wycheproof_hkdf_sha512 (void)
{
  run_wycheproof_hkdf (USI_HASH_SHA512, "wycheproof/hkdf_sha512_test.json");
}

typedef struct
{
  const char *ikm;
  const char *salt;
  const char *info;
  const char *prk;
  const char *okm;
} HkdfVector;

/* RFC 5869 appendix A, test cases 1 and 3 (SHA-256; 3 has no salt, no info). */
static const HkdfVector rfc5869_vectors[] = {
  {
    "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
    "000102030405060708090a0b0c",
    "f0f1f2f3f4f5f6f7f8f9",
    "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
    "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865",
  },
  {
    "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
    "",
    "",
    "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
    "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8",
  },
};

static void
test_rfc5869 (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (rfc5869_vectors); i++)
    {
      const HkdfVector *v = &rfc5869_vectors[i];
      g_autoptr(GBytes) ikm = usi_test_hex (v->ikm);
      g_autoptr(GBytes) salt = usi_test_hex (v->salt);
      g_autoptr(GBytes) info = usi_test_hex (v->info);
      g_autoptr(GBytes) prk = usi_test_hex (v->prk);
      g_autoptr(GBytes) okm = usi_test_hex (v->okm);
      g_autoptr(GError) error = NULL;
      guint8 computed_prk[32], zero_salt[32] = { 0 };
      guint8 computed_okm[42];

      g_assert_cmpuint (g_bytes_get_size (okm), ==, sizeof computed_okm);

      g_assert_true (usi_hkdf_extract (USI_HASH_SHA256, data_or_null (salt), g_bytes_get_size (salt),
                                       g_bytes_get_data (ikm, NULL), g_bytes_get_size (ikm),
                                       computed_prk, &error));
      g_assert_no_error (error);
      usi_assert_bytes_equal (computed_prk, sizeof computed_prk,
                              g_bytes_get_data (prk, NULL), g_bytes_get_size (prk));

      g_assert_true (usi_hkdf_expand (USI_HASH_SHA256, g_bytes_get_data (prk, NULL), g_bytes_get_size (prk),
                                      data_or_null (info), g_bytes_get_size (info),
                                      computed_okm, sizeof computed_okm, &error));
      g_assert_no_error (error);
      usi_assert_bytes_equal (computed_okm, sizeof computed_okm,
                              g_bytes_get_data (okm, NULL), g_bytes_get_size (okm));

      /* A missing salt is a hash length of zeros (RFC 5869 §2.2). */
      if (g_bytes_get_size (salt) == 0)
        {
          g_assert_true (usi_hkdf_extract (USI_HASH_SHA256, zero_salt, sizeof zero_salt,
                                           g_bytes_get_data (ikm, NULL), g_bytes_get_size (ikm),
                                           computed_prk, &error));
          g_assert_no_error (error);
          usi_assert_bytes_equal (computed_prk, sizeof computed_prk,
                                  g_bytes_get_data (prk, NULL), g_bytes_get_size (prk));
        }
    }

  usi_test_vectors_report ("RFC 5869 test cases 1 and 3", G_N_ELEMENTS (rfc5869_vectors));
}

static void
assert_all_zero (const guint8 *data,
                 gsize         length)
{
  for (gsize i = 0; i < length; i++)
    if (data[i] != 0)
      g_error ("byte %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT " is 0x%02x after a failure, not wiped",
               i, length, data[i]);
}

static void
test_hkdf_limits (void)
{
  const UsiHash hashes[] = { USI_HASH_SHA256, USI_HASH_SHA512 };

  for (guint h = 0; h < G_N_ELEMENTS (hashes); h++)
    {
      gsize hash_length = usi_hash_get_length (hashes[h]);
      gsize max = 255 * hash_length;
      g_autofree guint8 *okm = g_malloc0 (max + 1);
      guint8 prk[USI_HASH_MAX_LENGTH];
      g_autoptr(GError) error = NULL;

      memset (prk, 0x42, sizeof prk);

      /* Exactly 255 blocks is allowed, one byte more is not (and the
       * refusal writes nothing: callers test it with shorter buffers). */
      g_assert_true (usi_hkdf_expand (hashes[h], prk, hash_length, NULL, 0, okm, max, &error));
      g_assert_no_error (error);
      g_assert_false (usi_hkdf_expand (hashes[h], prk, hash_length, NULL, 0, okm, max + 1, &error));
      g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
      g_clear_error (&error);

      /* A pseudorandom key shorter than 32 bytes is refused (32 is allowed
       * even for SHA-512: C2SP's Cobblestone keys Expand that way). */
      g_assert_false (usi_hkdf_expand (hashes[h], prk, USI_HKDF_MIN_PRK_LENGTH - 1, NULL, 0, okm, 16, &error));
      g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
      g_clear_error (&error);

      /* Nothing asked, nothing done. */
      g_assert_true (usi_hkdf_expand (hashes[h], prk, hash_length, NULL, 0, NULL, 0, &error));
      g_assert_no_error (error);
    }
}

/* HMAC keys: empty, and longer than the block (hashed first, RFC 2104). */
static void
test_hmac_keys (void)
{
  g_autoptr(GError) error = NULL;
  guint8 empty_key[USI_HASH_MAX_LENGTH], long_key_mac[USI_HASH_MAX_LENGTH], hashed_key_mac[USI_HASH_MAX_LENGTH];
  guint8 long_key[200], hashed_key[32];
  static const guint8 message[] = "message";

  g_assert_true (usi_hmac (USI_HASH_SHA256, NULL, 0, message, sizeof message, empty_key, &error));
  g_assert_no_error (error);

  memset (long_key, 0x5c, sizeof long_key);
  g_assert_true (usi_hmac (USI_HASH_SHA256, long_key, sizeof long_key, message, sizeof message, long_key_mac, &error));
  g_assert_no_error (error);
  g_assert_true (usi_hash (USI_HASH_SHA256, long_key, sizeof long_key, hashed_key, &error));
  g_assert_no_error (error);
  g_assert_true (usi_hmac (USI_HASH_SHA256, hashed_key, sizeof hashed_key, message, sizeof message,
                           hashed_key_mac, &error));
  g_assert_no_error (error);
  usi_assert_bytes_equal (long_key_mac, 32, hashed_key_mac, 32);
  g_assert_true (memcmp (empty_key, long_key_mac, 32) != 0);
}

/* A hash outside the enum is a programming error caught at the entry
 * point, before anything is looked up with it. */
static void
test_invalid_hash (void)
{
  const UsiHash bogus = (UsiHash) 7;
  static const guint8 key[32] = { 1 };
  guint8 out[USI_HASH_MAX_LENGTH];
  gsize length = G_MAXSIZE;

#define EXPECT_CRITICAL() \
  g_test_expect_message ("usi-crypto", G_LOG_LEVEL_CRITICAL, "*assertion*IS_HASH*failed*")

  EXPECT_CRITICAL ();
  length = usi_hash_get_length (bogus);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (length, ==, 0);

  EXPECT_CRITICAL ();
  g_assert_false (usi_hash (bogus, key, sizeof key, out, NULL));
  g_test_assert_expected_messages ();

  EXPECT_CRITICAL ();
  g_assert_null (usi_hash_state_new (bogus, NULL));
  g_test_assert_expected_messages ();

  EXPECT_CRITICAL ();
  g_assert_false (usi_hmac (bogus, key, sizeof key, key, sizeof key, out, NULL));
  g_test_assert_expected_messages ();

  EXPECT_CRITICAL ();
  g_assert_false (usi_hkdf_extract (bogus, NULL, 0, key, sizeof key, out, NULL));
  g_test_assert_expected_messages ();

  EXPECT_CRITICAL ();
  g_assert_false (usi_hkdf_expand (bogus, key, sizeof key, NULL, 0, out, 16, NULL));
  g_test_assert_expected_messages ();

  EXPECT_CRITICAL ();
  g_assert_false (usi_hkdf (bogus, NULL, 0, key, sizeof key, NULL, 0, out, 16, NULL));
  g_test_assert_expected_messages ();

#undef EXPECT_CRITICAL
}

/* When OpenSSL offers no HMAC, every HMAC and HKDF fails with an error that
 * says so, the first call and every later one, and HKDF leaves no output
 * behind.  This runs in a process of its own (the algorithm handles are
 * fetched once per process): the test binary started again with
 * NO_HMAC_VARIABLE set and OPENSSL_CONF naming a configuration that activates
 * only OpenSSL's null provider, which stops the default one from loading.
 * (Only crypto/ includes OpenSSL headers, tests included.) */
#define NO_HMAC_VARIABLE "USI_TEST_DIGEST_WITHOUT_HMAC"

static const char *program_path;

static int
run_without_hmac (void)
{
  static const guint8 key[32] = { 1 };
  guint8 okm[100];
  guint8 mac[USI_HASH_MAX_LENGTH];

  for (guint attempt = 0; attempt < 2; attempt++)
    {
      g_autoptr(GError) error = NULL;

      g_assert_false (usi_hmac (USI_HASH_SHA256, key, sizeof key, key, sizeof key, mac, &error));
      g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_FAILED);
      g_assert_nonnull (strstr (error->message, "HMAC-SHA256 implementation could not be loaded"));
      g_assert_null (strstr (error->message, "unknown reason"));
      g_clear_error (&error);

      memset (okm, 0xaa, sizeof okm);
      g_assert_false (usi_hkdf_expand (USI_HASH_SHA512, key, sizeof key, NULL, 0, okm, sizeof okm, &error));
      g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_FAILED);
      g_assert_nonnull (strstr (error->message, "HMAC-SHA512 implementation could not be loaded"));
      assert_all_zero (okm, sizeof okm);
      g_clear_error (&error);

      memset (okm, 0xaa, sizeof okm);
      g_assert_false (usi_hkdf (USI_HASH_SHA256, NULL, 0, key, sizeof key, NULL, 0, okm, sizeof okm, &error));
      g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_FAILED);
      assert_all_zero (okm, sizeof okm);
    }

  g_print ("HMAC unavailable: every call failed as it should\n");
  return 0;
}

static void
test_hmac_unavailable (void)
{
  static const char null_provider_only[] =
    "openssl_conf = openssl_init\n"
    "[openssl_init]\n"
    "providers = provider_section\n"
    "[provider_section]\n"
    "null = null_section\n"
    "[null_section]\n"
    "activate = 1\n";
  const char *child_argv[] = { program_path, NULL };
  g_auto(GStrv) child_environment = NULL;
  g_autofree char *child_output = NULL;
  g_autofree char *config_path = NULL;
  g_autoptr(GError) error = NULL;
  int wait_status = -1;
  int fd;

  fd = g_file_open_tmp ("usi-test-openssl-XXXXXX.cnf", &config_path, &error);
  g_assert_no_error (error);
  close (fd);
  g_file_set_contents (config_path, null_provider_only, -1, &error);
  g_assert_no_error (error);

  child_environment = g_environ_setenv (g_get_environ (), NO_HMAC_VARIABLE, "1", TRUE);
  child_environment = g_environ_setenv (child_environment, "OPENSSL_CONF", config_path, TRUE);

  g_assert_true (g_spawn_sync (NULL, (char **) child_argv, child_environment, G_SPAWN_CHILD_INHERITS_STDIN,
                               NULL, NULL, &child_output, NULL, &wait_status, &error));
  g_assert_no_error (error);
  g_assert_true (g_spawn_check_wait_status (wait_status, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (child_output, ==, "HMAC unavailable: every call failed as it should\n");
  g_unlink (config_path);
}

int
main (int   argc,
      char *argv[])
{
  if (g_getenv (NO_HMAC_VARIABLE) != NULL)
    return run_without_hmac ();

  program_path = argv[0];
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/crypto/digest/fips180", test_fips180);
  g_test_add_func ("/crypto/digest/incremental", test_incremental);
  g_test_add_func ("/crypto/digest/hmac/rfc4231", test_rfc4231);
  g_test_add_func ("/crypto/digest/hmac/keys", test_hmac_keys);
  g_test_add_func ("/crypto/digest/hmac/wycheproof/sha256", test_wycheproof_hmac_sha256);
  g_test_add_func ("/crypto/digest/hmac/wycheproof/sha512", test_wycheproof_hmac_sha512);
  g_test_add_func ("/crypto/digest/hkdf/rfc5869", test_rfc5869);
  g_test_add_func ("/crypto/digest/hkdf/limits", test_hkdf_limits);
  g_test_add_func ("/crypto/digest/invalid-hash", test_invalid_hash);
  g_test_add_func ("/crypto/digest/hmac/unavailable", test_hmac_unavailable);
  g_test_add_func ("/crypto/digest/hkdf/wycheproof/sha256", test_wycheproof_hkdf_sha256);
  g_test_add_func ("/crypto/digest/hkdf/wycheproof/sha512", test_wycheproof_hkdf_sha512);

  return g_test_run ();
}
