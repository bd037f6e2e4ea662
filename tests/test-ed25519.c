/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Ed25519: Wycheproof verification cases, RFC 8032 signing known answers,
 * round trips from an injected random source, and tampering. */

#include "config.h"

#include "crypto/usi-crypto-error.h"
#include "crypto/usi-ed25519.h"
#include "usi-test-vectors.h"

static void
test_wycheproof (void)
{
  g_autoptr(JsonNode) root = usi_test_vectors_load_json ("wycheproof/ed25519_test.json");
  JsonArray *groups;
  guint valid = 0, invalid = 0, wrong_length = 0;
  guint acceptable_accepted = 0, acceptable_rejected = 0;

  if (root == NULL)
    return;

  groups = json_object_get_array_member (json_node_get_object (root), "testGroups");
  for (guint g = 0; g < json_array_get_length (groups); g++)
    {
      JsonObject *group = json_array_get_object_element (groups, g);
      JsonObject *key = json_object_get_object_member (group, "publicKey");
      g_autoptr(GBytes) public_key = usi_test_hex (json_object_get_string_member (key, "pk"));
      JsonArray *tests = json_object_get_array_member (group, "tests");

      g_assert_cmpstr (json_object_get_string_member (key, "curve"), ==, "edwards25519");
      g_assert_cmpuint (g_bytes_get_size (public_key), ==, USI_ED25519_PUBLIC_KEY_LENGTH);

      for (guint t = 0; t < json_array_get_length (tests); t++)
        {
          JsonObject *test = json_array_get_object_element (tests, t);
          g_autoptr(GBytes) message = usi_test_hex (json_object_get_string_member (test, "msg"));
          g_autoptr(GBytes) signature = usi_test_hex (json_object_get_string_member (test, "sig"));
          const char *result = json_object_get_string_member (test, "result");
          gint64 id = json_object_get_int_member (test, "tcId");
          g_autoptr(GError) error = NULL;
          gsize length, signature_length;
          const guint8 *message_data = g_bytes_get_data (message, &length);
          const guint8 *signature_data = g_bytes_get_data (signature, &signature_length);
          gboolean ok;

          ok = usi_ed25519_verify (g_bytes_get_data (public_key, NULL),
                                   length ? message_data : NULL, length,
                                   signature_length ? signature_data : NULL, signature_length,
                                   &error);

          if (g_str_equal (result, "valid"))
            {
              g_assert_no_error (error);
              g_assert_true (ok);
              valid++;
            }
          else if (g_str_equal (result, "invalid"))
            {
              /* Every key in the file is a valid point: what fails is the
               * signature (its value, its encoding or its length). */
              if (!ok && error->code != USI_CRYPTO_ERROR_AUTHENTICATION)
                g_test_message ("ed25519 tcId %" G_GINT64_FORMAT ": %s", id, error->message);
              g_assert_false (ok);
              g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
              invalid++;
              if (signature_length != USI_ED25519_SIGNATURE_LENGTH)
                wrong_length++;
            }
          else
            {
              g_assert_cmpstr (result, ==, "acceptable");
              g_test_message ("ed25519 tcId %" G_GINT64_FORMAT " (acceptable): %s", id,
                              ok ? "accepted" : "rejected");
              if (ok)
                acceptable_accepted++;
              else
                acceptable_rejected++;
            }
        }
    }

  g_print ("# wycheproof/ed25519_test.json: %u valid, %u invalid (%u of them of the wrong length), "
           "%u acceptable (%u accepted, %u rejected), 0 not applicable\n",
           valid, invalid, wrong_length, acceptable_accepted + acceptable_rejected,
           acceptable_accepted, acceptable_rejected);
  usi_test_vectors_report ("wycheproof/ed25519_test.json",
                           valid + invalid + acceptable_accepted + acceptable_rejected);
}

typedef struct
{
  const char *seed;
  const char *public_key;
  const char *message;
  const char *signature;
} SigningVector;

/* RFC 8032 §7.1, tests 1, 2 and 3. */
static const SigningVector rfc8032_vectors[] = {
  {
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
    "",
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
    "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  },
  {
    "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
    "72",
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
    "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
  },
  {
    "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
    "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
    "af82",
    "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
    "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
  },
};

static void
test_rfc8032 (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (rfc8032_vectors); i++)
    {
      const SigningVector *v = &rfc8032_vectors[i];
      g_autoptr(GBytes) seed = usi_test_hex (v->seed);
      g_autoptr(GBytes) public_key = usi_test_hex (v->public_key);
      g_autoptr(GBytes) message = usi_test_hex (v->message);
      g_autoptr(GBytes) signature = usi_test_hex (v->signature);
      g_autoptr(GError) error = NULL;
      guint8 computed_public[USI_ED25519_PUBLIC_KEY_LENGTH];
      guint8 computed_signature[USI_ED25519_SIGNATURE_LENGTH];
      gsize length;
      const guint8 *message_data = g_bytes_get_data (message, &length);

      g_assert_true (usi_ed25519_public_from_seed (g_bytes_get_data (seed, NULL), computed_public, &error));
      g_assert_no_error (error);
      usi_assert_bytes_equal (computed_public, sizeof computed_public,
                              g_bytes_get_data (public_key, NULL), g_bytes_get_size (public_key));

      g_assert_true (usi_ed25519_sign (g_bytes_get_data (seed, NULL), length ? message_data : NULL, length,
                                       computed_signature, &error));
      g_assert_no_error (error);
      usi_assert_bytes_equal (computed_signature, sizeof computed_signature,
                              g_bytes_get_data (signature, NULL), g_bytes_get_size (signature));

      g_assert_true (usi_ed25519_verify (computed_public, length ? message_data : NULL, length,
                                         computed_signature, sizeof computed_signature, &error));
      g_assert_no_error (error);
    }

  usi_test_vectors_report ("RFC 8032 section 7.1", G_N_ELEMENTS (rfc8032_vectors));
}

static void
flip_bit (guint8 *data,
          gsize   bit)
{
  data[bit / 8] ^= (guint8) (1 << (bit % 8));
}

static void
test_round_trip_and_tampering (void)
{
  static const guint8 random_seed[] = "usi ed25519 test seed";
  static const guint8 message[] = "a message that is signed, then changed one bit at a time";
  g_autoptr(UsiRandom) random = usi_random_new_deterministic (random_seed, sizeof random_seed);
  g_autoptr(UsiRandom) replay = usi_random_new_deterministic (random_seed, sizeof random_seed);
  g_autoptr(GError) error = NULL;
  guint8 seed[USI_ED25519_SEED_LENGTH], public_key[USI_ED25519_PUBLIC_KEY_LENGTH];
  guint8 expected_seed[USI_ED25519_SEED_LENGTH], derived[USI_ED25519_PUBLIC_KEY_LENGTH];
  guint8 signature[USI_ED25519_SIGNATURE_LENGTH], again[USI_ED25519_SIGNATURE_LENGTH];
  guint8 changed[sizeof message];
  guint8 other_seed[USI_ED25519_SEED_LENGTH], other_public[USI_ED25519_PUBLIC_KEY_LENGTH];
  guint key_flips_invalid = 0, key_flips_unauthentic = 0;

  g_assert_true (usi_ed25519_generate (random, seed, public_key, &error));
  g_assert_no_error (error);
  g_assert_true (usi_random_fill (replay, expected_seed, sizeof expected_seed, &error));
  g_assert_no_error (error);
  usi_assert_bytes_equal (seed, sizeof seed, expected_seed, sizeof expected_seed);
  g_assert_true (usi_ed25519_public_from_seed (seed, derived, &error));
  g_assert_no_error (error);
  usi_assert_bytes_equal (derived, sizeof derived, public_key, sizeof public_key);

  g_assert_true (usi_ed25519_sign (seed, message, sizeof message, signature, &error));
  g_assert_no_error (error);
  g_assert_true (usi_ed25519_verify (public_key, message, sizeof message, signature, sizeof signature, &error));
  g_assert_no_error (error);

  /* Ed25519 is deterministic. */
  g_assert_true (usi_ed25519_sign (seed, message, sizeof message, again, &error));
  g_assert_no_error (error);
  usi_assert_bytes_equal (again, sizeof again, signature, sizeof signature);

  for (gsize bit = 0; bit < 8 * sizeof signature; bit++)
    {
      flip_bit (signature, bit);
      g_assert_false (usi_ed25519_verify (public_key, message, sizeof message, signature, sizeof signature, &error));
      g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
      g_clear_error (&error);
      flip_bit (signature, bit);
    }

  memcpy (changed, message, sizeof changed);
  for (gsize bit = 0; bit < 8 * sizeof changed; bit++)
    {
      flip_bit (changed, bit);
      g_assert_false (usi_ed25519_verify (public_key, changed, sizeof changed, signature, sizeof signature, &error));
      g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
      g_clear_error (&error);
      flip_bit (changed, bit);
    }

  /* A changed key is either no point at all or the wrong point. */
  for (gsize bit = 0; bit < 8 * sizeof public_key; bit++)
    {
      flip_bit (public_key, bit);
      g_assert_false (usi_ed25519_verify (public_key, message, sizeof message, signature, sizeof signature, &error));
      g_assert_nonnull (error);
      g_assert_true (error->domain == USI_CRYPTO_ERROR);
      if (error->code == USI_CRYPTO_ERROR_INVALID_KEY)
        key_flips_invalid++;
      else
        {
          g_assert_cmpint (error->code, ==, USI_CRYPTO_ERROR_AUTHENTICATION);
          key_flips_unauthentic++;
        }
      g_clear_error (&error);
      flip_bit (public_key, bit);
    }
  g_test_message ("public key bit flips: %u gave no point, %u the wrong point",
                  key_flips_invalid, key_flips_unauthentic);
  g_assert_cmpuint (key_flips_invalid, >, 0);
  g_assert_cmpuint (key_flips_unauthentic, >, 0);

  /* Shorter message, empty message, another signer. */
  g_assert_false (usi_ed25519_verify (public_key, message, sizeof message - 1, signature, sizeof signature, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
  g_clear_error (&error);
  g_assert_false (usi_ed25519_verify (public_key, NULL, 0, signature, sizeof signature, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
  g_clear_error (&error);
  g_assert_true (usi_ed25519_generate (random, other_seed, other_public, &error));
  g_assert_no_error (error);
  g_assert_true (memcmp (other_seed, seed, sizeof seed) != 0);
  g_assert_false (usi_ed25519_verify (other_public, message, sizeof message, signature, sizeof signature, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
  g_clear_error (&error);

  /* Still intact after all that. */
  g_assert_true (usi_ed25519_verify (public_key, message, sizeof message, signature, sizeof signature, &error));
  g_assert_no_error (error);
}

static void
test_empty_message (void)
{
  static const guint8 seed[USI_ED25519_SEED_LENGTH] = { 42 };
  g_autoptr(GError) error = NULL;
  guint8 public_key[USI_ED25519_PUBLIC_KEY_LENGTH], signature[USI_ED25519_SIGNATURE_LENGTH];
  static const guint8 one_byte[1] = { 0 };

  g_assert_true (usi_ed25519_public_from_seed (seed, public_key, &error));
  g_assert_no_error (error);
  g_assert_true (usi_ed25519_sign (seed, NULL, 0, signature, &error));
  g_assert_no_error (error);
  g_assert_true (usi_ed25519_verify (public_key, NULL, 0, signature, sizeof signature, &error));
  g_assert_no_error (error);
  g_assert_false (usi_ed25519_verify (public_key, one_byte, 1, signature, sizeof signature, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
}

static void
test_wrong_lengths (void)
{
  const SigningVector *v = &rfc8032_vectors[1];
  g_autoptr(GBytes) public_key = usi_test_hex (v->public_key);
  g_autoptr(GBytes) message = usi_test_hex (v->message);
  g_autoptr(GBytes) signature = usi_test_hex (v->signature);
  const gsize lengths[] = { 0, 1, 32, 63, 65, 96, 128 };
  guint8 padded[128] = { 0 };

  memcpy (padded, g_bytes_get_data (signature, NULL), USI_ED25519_SIGNATURE_LENGTH);
  for (guint i = 0; i < G_N_ELEMENTS (lengths); i++)
    {
      g_autoptr(GError) error = NULL;

      /* The first 64 bytes are a valid signature: the length alone refuses. */
      g_assert_false (usi_ed25519_verify (g_bytes_get_data (public_key, NULL),
                                          g_bytes_get_data (message, NULL), g_bytes_get_size (message),
                                          lengths[i] ? padded : NULL, lengths[i], &error));
      g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
    }
}

/* Keys that do not decode are reported as such: y = 2 is on neither the
 * curve nor anything else, y = p and y = p + 1 are non-canonical, and y = 1
 * with the sign bit set encodes "x = -0".  y = 3 is a point, so there the
 * signature is what fails. */
static void
test_bad_public_keys (void)
{
  static const struct
  {
    const char     *public_key;
    UsiCryptoError  code;
  } cases[] = {
    { "0200000000000000000000000000000000000000000000000000000000000000", USI_CRYPTO_ERROR_INVALID_KEY },
    { "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", USI_CRYPTO_ERROR_INVALID_KEY },
    { "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", USI_CRYPTO_ERROR_INVALID_KEY },
    { "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", USI_CRYPTO_ERROR_INVALID_KEY },
    { "0100000000000000000000000000000000000000000000000000000000000080", USI_CRYPTO_ERROR_INVALID_KEY },
    { "0300000000000000000000000000000000000000000000000000000000000000", USI_CRYPTO_ERROR_AUTHENTICATION },
    { "0100000000000000000000000000000000000000000000000000000000000000", USI_CRYPTO_ERROR_AUTHENTICATION },
  };
  const SigningVector *v = &rfc8032_vectors[0];
  g_autoptr(GBytes) signature = usi_test_hex (v->signature);

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GBytes) public_key = usi_test_hex (cases[i].public_key);
      g_autoptr(GError) error = NULL;

      g_assert_false (usi_ed25519_verify (g_bytes_get_data (public_key, NULL), NULL, 0,
                                          g_bytes_get_data (signature, NULL), g_bytes_get_size (signature),
                                          &error));
      g_assert_error (error, USI_CRYPTO_ERROR, (gint) cases[i].code);
    }
}

static void
test_generate_random_failure (void)
{
  static const guint8 too_few[16] = { 1 };
  g_autoptr(UsiRandom) random = usi_random_new_fixed (too_few, sizeof too_few);
  g_autoptr(GError) error = NULL;
  guint8 seed[USI_ED25519_SEED_LENGTH], public_key[USI_ED25519_PUBLIC_KEY_LENGTH];

  g_assert_false (usi_ed25519_generate (random, seed, public_key, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_RANDOM);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/crypto/ed25519/wycheproof", test_wycheproof);
  g_test_add_func ("/crypto/ed25519/rfc8032", test_rfc8032);
  g_test_add_func ("/crypto/ed25519/round-trip-and-tampering", test_round_trip_and_tampering);
  g_test_add_func ("/crypto/ed25519/empty-message", test_empty_message);
  g_test_add_func ("/crypto/ed25519/wrong-lengths", test_wrong_lengths);
  g_test_add_func ("/crypto/ed25519/bad-public-keys", test_bad_public_keys);
  g_test_add_func ("/crypto/ed25519/generate-random-failure", test_generate_random_failure);

  return g_test_run ();
}
