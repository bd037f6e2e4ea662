/* SPDX-License-Identifier: GPL-3.0-or-later */

/* ChaCha20-Poly1305 and AES-256-GCM: Wycheproof known answers, plus our own
 * tampering, in-place, empty-input and tag-length tests. */

#include "config.h"

#include "crypto/usi-aead.h"
#include "crypto/usi-crypto-error.h"
#include "usi-test-vectors.h"

typedef struct
{
  guint valid;
  guint invalid;
  guint acceptable_accepted;
  guint acceptable_rejected;
  guint not_applicable;
} Counts;

static const char *
aead_label (UsiAead aead)
{
  return aead == USI_AEAD_CHACHA20_POLY1305 ? "ChaCha20-Poly1305" : "AES-256-GCM";
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

static GBytes *
member_hex (JsonObject *object,
            const char *name)
{
  return usi_test_hex (json_object_get_string_member (object, name));
}

/* Opens and expects a failure with @code; on an authentication failure the
 * output must have been wiped (it was filled with 0xa5 first). */
static void
assert_open_fails (UsiAead        aead,
                   const guint8  *key,
                   const guint8  *nonce,
                   const guint8  *aad,
                   gsize          aad_length,
                   const guint8  *ciphertext,
                   gsize          length,
                   const guint8  *tag,
                   gsize          tag_length,
                   UsiCryptoError code)
{
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *plaintext = g_malloc (length + 1);
  gboolean ok;

  memset (plaintext, 0xa5, length + 1);
  ok = usi_aead_open (aead, key, nonce, aad, aad_length, ciphertext, length,
                      tag, tag_length, length ? plaintext : NULL, &error);
  g_assert_false (ok);
  g_assert_error (error, USI_CRYPTO_ERROR, (gint) code);
  if (code == USI_CRYPTO_ERROR_AUTHENTICATION)
    g_assert_true (is_all_zero (plaintext, length));
  /* Nothing past the buffer was touched. */
  g_assert_cmphex (plaintext[length], ==, 0xa5);
}

static void
run_one_vector (UsiAead     aead,
                JsonObject *test,
                Counts     *counts)
{
  g_autoptr(GBytes) key = member_hex (test, "key");
  g_autoptr(GBytes) nonce = member_hex (test, "iv");
  g_autoptr(GBytes) aad = member_hex (test, "aad");
  g_autoptr(GBytes) message = member_hex (test, "msg");
  g_autoptr(GBytes) ciphertext = member_hex (test, "ct");
  g_autoptr(GBytes) tag = member_hex (test, "tag");
  const char *result = json_object_get_string_member (test, "result");
  gint64 id = json_object_get_int_member (test, "tcId");
  gsize aad_length, length, ciphertext_length, tag_length;
  const guint8 *aad_data = g_bytes_get_data (aad, &aad_length);
  const guint8 *message_data = g_bytes_get_data (message, &length);
  const guint8 *ciphertext_data = g_bytes_get_data (ciphertext, &ciphertext_length);
  const guint8 *tag_data = g_bytes_get_data (tag, &tag_length);
  g_autofree guint8 *output = g_malloc0 (MAX (length, ciphertext_length) + 1);
  guint8 computed_tag[USI_AEAD_TAG_LENGTH];
  g_autoptr(GError) error = NULL;
  gboolean opened;

  g_assert_cmpuint (g_bytes_get_size (key), ==, USI_AEAD_KEY_LENGTH);
  g_assert_cmpuint (g_bytes_get_size (nonce), ==, USI_AEAD_NONCE_LENGTH);

  if (g_str_equal (result, "valid"))
    {
      g_assert_cmpuint (tag_length, ==, USI_AEAD_TAG_LENGTH);
      g_assert_cmpuint (ciphertext_length, ==, length);

      g_assert_true (usi_aead_seal (aead, g_bytes_get_data (key, NULL), g_bytes_get_data (nonce, NULL),
                                    aad_length ? aad_data : NULL, aad_length,
                                    length ? message_data : NULL, length,
                                    length ? output : NULL, computed_tag, &error));
      g_assert_no_error (error);
      usi_assert_bytes_equal (output, length, ciphertext_data, ciphertext_length);
      usi_assert_bytes_equal (computed_tag, sizeof computed_tag, tag_data, tag_length);

      memset (output, 0, length);
      g_assert_true (usi_aead_open (aead, g_bytes_get_data (key, NULL), g_bytes_get_data (nonce, NULL),
                                    aad_length ? aad_data : NULL, aad_length,
                                    length ? ciphertext_data : NULL, length,
                                    tag_data, tag_length, length ? output : NULL, &error));
      g_assert_no_error (error);
      usi_assert_bytes_equal (output, length, message_data, length);
      counts->valid++;
      return;
    }

  if (g_str_equal (result, "invalid"))
    {
      assert_open_fails (aead, g_bytes_get_data (key, NULL), g_bytes_get_data (nonce, NULL),
                         aad_length ? aad_data : NULL, aad_length,
                         ciphertext_length ? ciphertext_data : NULL, ciphertext_length,
                         tag_length ? tag_data : NULL, tag_length,
                         tag_length == USI_AEAD_TAG_LENGTH ? USI_CRYPTO_ERROR_AUTHENTICATION
                                                           : USI_CRYPTO_ERROR_INVALID_ARGUMENT);
      counts->invalid++;
      return;
    }

  g_assert_cmpstr (result, ==, "acceptable");
  opened = usi_aead_open (aead, g_bytes_get_data (key, NULL), g_bytes_get_data (nonce, NULL),
                          aad_length ? aad_data : NULL, aad_length,
                          ciphertext_length ? ciphertext_data : NULL, ciphertext_length,
                          tag_length ? tag_data : NULL, tag_length,
                          ciphertext_length ? output : NULL, &error);
  g_test_message ("%s tcId %" G_GINT64_FORMAT " (acceptable): %s", aead_label (aead), id,
                  opened ? "accepted" : "rejected");
  if (opened)
    counts->acceptable_accepted++;
  else
    counts->acceptable_rejected++;
}

static void
run_wycheproof (UsiAead     aead,
                const char *file)
{
  g_autoptr(JsonNode) root = usi_test_vectors_load_json (file);
  JsonArray *groups;
  Counts counts = { 0 };

  if (root == NULL)
    return;

  groups = json_object_get_array_member (json_node_get_object (root), "testGroups");
  for (guint g = 0; g < json_array_get_length (groups); g++)
    {
      JsonObject *group = json_array_get_object_element (groups, g);
      JsonArray *tests = json_object_get_array_member (group, "tests");
      gint64 key_size = json_object_get_int_member (group, "keySize");
      gint64 iv_size = json_object_get_int_member (group, "ivSize");
      gint64 tag_size = json_object_get_int_member (group, "tagSize");

      /* Usi has 256-bit keys and 96-bit nonces only.  A group with shorter
       * tags is still fed: every one of its cases must be refused. */
      if (key_size != 256 || iv_size != 96)
        {
          counts.not_applicable += json_array_get_length (tests);
          continue;
        }

      for (guint t = 0; t < json_array_get_length (tests); t++)
        {
          JsonObject *test = json_array_get_object_element (tests, t);

          if (tag_size != 128)
            {
              g_autoptr(GBytes) key = member_hex (test, "key");
              g_autoptr(GBytes) nonce = member_hex (test, "iv");
              g_autoptr(GBytes) aad = member_hex (test, "aad");
              g_autoptr(GBytes) ciphertext = member_hex (test, "ct");
              g_autoptr(GBytes) tag = member_hex (test, "tag");

              assert_open_fails (aead, g_bytes_get_data (key, NULL), g_bytes_get_data (nonce, NULL),
                                 g_bytes_get_size (aad) ? g_bytes_get_data (aad, NULL) : NULL, g_bytes_get_size (aad),
                                 g_bytes_get_size (ciphertext) ? g_bytes_get_data (ciphertext, NULL) : NULL,
                                 g_bytes_get_size (ciphertext),
                                 g_bytes_get_size (tag) ? g_bytes_get_data (tag, NULL) : NULL, g_bytes_get_size (tag),
                                 USI_CRYPTO_ERROR_INVALID_ARGUMENT);
              counts.invalid++;
              continue;
            }

          run_one_vector (aead, test, &counts);
        }
    }

  g_print ("# %s: %u valid, %u invalid, %u acceptable (%u accepted, %u rejected), %u not applicable\n",
           file, counts.valid, counts.invalid,
           counts.acceptable_accepted + counts.acceptable_rejected,
           counts.acceptable_accepted, counts.acceptable_rejected, counts.not_applicable);
  usi_test_vectors_report (file, counts.valid + counts.invalid +
                                 counts.acceptable_accepted + counts.acceptable_rejected);
}

static void
test_wycheproof_chacha20_poly1305 (void)
{
  run_wycheproof (USI_AEAD_CHACHA20_POLY1305, "wycheproof/chacha20_poly1305_test.json");
}

static void
test_wycheproof_aes_256_gcm (void)
{
  run_wycheproof (USI_AEAD_AES_256_GCM, "wycheproof/aes_gcm_test.json");
}

/* Fixed, arbitrary inputs for the tests below. */
static void
fill_pattern (guint8 *data,
              gsize   length,
              guint8  start)
{
  for (gsize i = 0; i < length; i++)
    data[i] = (guint8) (start + 37 * i);
}

#define MESSAGE_LENGTH 45
#define AAD_LENGTH     13

typedef struct
{
  guint8 key[USI_AEAD_KEY_LENGTH];
  guint8 nonce[USI_AEAD_NONCE_LENGTH];
  guint8 aad[AAD_LENGTH];
  guint8 message[MESSAGE_LENGTH];
  guint8 ciphertext[MESSAGE_LENGTH];
  guint8 tag[USI_AEAD_TAG_LENGTH];
} Sealed;

static void
seal_sample (UsiAead  aead,
             Sealed  *sealed)
{
  g_autoptr(GError) error = NULL;

  fill_pattern (sealed->key, sizeof sealed->key, 1);
  fill_pattern (sealed->nonce, sizeof sealed->nonce, 2);
  fill_pattern (sealed->aad, sizeof sealed->aad, 3);
  fill_pattern (sealed->message, sizeof sealed->message, 4);
  g_assert_true (usi_aead_seal (aead, sealed->key, sealed->nonce, sealed->aad, sizeof sealed->aad,
                                sealed->message, sizeof sealed->message,
                                sealed->ciphertext, sealed->tag, &error));
  g_assert_no_error (error);
}

static void
flip_bit (guint8 *data,
          gsize   bit)
{
  data[bit / 8] ^= (guint8) (1 << (bit % 8));
}

static void
test_bit_flips (void)
{
  const UsiAead aeads[] = { USI_AEAD_CHACHA20_POLY1305, USI_AEAD_AES_256_GCM };
  guint flips = 0;

  for (guint a = 0; a < G_N_ELEMENTS (aeads); a++)
    {
      UsiAead aead = aeads[a];
      Sealed s;

      seal_sample (aead, &s);

      /* Every single-bit change of ciphertext, tag, aad, nonce and key. */
      for (gsize bit = 0; bit < 8 * sizeof s.ciphertext; bit++, flips++)
        {
          flip_bit (s.ciphertext, bit);
          assert_open_fails (aead, s.key, s.nonce, s.aad, sizeof s.aad, s.ciphertext, sizeof s.ciphertext,
                             s.tag, sizeof s.tag, USI_CRYPTO_ERROR_AUTHENTICATION);
          flip_bit (s.ciphertext, bit);
        }
      for (gsize bit = 0; bit < 8 * sizeof s.tag; bit++, flips++)
        {
          flip_bit (s.tag, bit);
          assert_open_fails (aead, s.key, s.nonce, s.aad, sizeof s.aad, s.ciphertext, sizeof s.ciphertext,
                             s.tag, sizeof s.tag, USI_CRYPTO_ERROR_AUTHENTICATION);
          flip_bit (s.tag, bit);
        }
      for (gsize bit = 0; bit < 8 * sizeof s.aad; bit++, flips++)
        {
          flip_bit (s.aad, bit);
          assert_open_fails (aead, s.key, s.nonce, s.aad, sizeof s.aad, s.ciphertext, sizeof s.ciphertext,
                             s.tag, sizeof s.tag, USI_CRYPTO_ERROR_AUTHENTICATION);
          flip_bit (s.aad, bit);
        }
      for (gsize bit = 0; bit < 8 * sizeof s.nonce; bit++, flips++)
        {
          flip_bit (s.nonce, bit);
          assert_open_fails (aead, s.key, s.nonce, s.aad, sizeof s.aad, s.ciphertext, sizeof s.ciphertext,
                             s.tag, sizeof s.tag, USI_CRYPTO_ERROR_AUTHENTICATION);
          flip_bit (s.nonce, bit);
        }
      for (gsize bit = 0; bit < 8 * sizeof s.key; bit++, flips++)
        {
          flip_bit (s.key, bit);
          assert_open_fails (aead, s.key, s.nonce, s.aad, sizeof s.aad, s.ciphertext, sizeof s.ciphertext,
                             s.tag, sizeof s.tag, USI_CRYPTO_ERROR_AUTHENTICATION);
          flip_bit (s.key, bit);
        }

      /* Truncated or extended ciphertext (with the same tag) fails too. */
      assert_open_fails (aead, s.key, s.nonce, s.aad, sizeof s.aad, s.ciphertext, sizeof s.ciphertext - 1,
                         s.tag, sizeof s.tag, USI_CRYPTO_ERROR_AUTHENTICATION);
      assert_open_fails (aead, s.key, s.nonce, s.aad, sizeof s.aad - 1, s.ciphertext, sizeof s.ciphertext,
                         s.tag, sizeof s.tag, USI_CRYPTO_ERROR_AUTHENTICATION);
      assert_open_fails (aead, s.key, s.nonce, NULL, 0, s.ciphertext, sizeof s.ciphertext,
                         s.tag, sizeof s.tag, USI_CRYPTO_ERROR_AUTHENTICATION);

      /* And the untouched message still opens: the flips above were real. */
      {
        g_autoptr(GError) error = NULL;
        guint8 plaintext[MESSAGE_LENGTH];

        g_assert_true (usi_aead_open (aead, s.key, s.nonce, s.aad, sizeof s.aad, s.ciphertext, sizeof s.ciphertext,
                                      s.tag, sizeof s.tag, plaintext, &error));
        g_assert_no_error (error);
        usi_assert_bytes_equal (plaintext, sizeof plaintext, s.message, sizeof s.message);
      }
    }

  g_test_message ("%u single-bit changes refused", flips);
}

/* The two ciphers differ: the same inputs never give the same output. */
static void
test_ciphers_differ (void)
{
  Sealed chacha, gcm;

  seal_sample (USI_AEAD_CHACHA20_POLY1305, &chacha);
  seal_sample (USI_AEAD_AES_256_GCM, &gcm);
  g_assert_cmpmem (chacha.message, sizeof chacha.message, gcm.message, sizeof gcm.message);
  g_assert_true (memcmp (chacha.ciphertext, gcm.ciphertext, sizeof chacha.ciphertext) != 0);
  g_assert_true (memcmp (chacha.tag, gcm.tag, sizeof chacha.tag) != 0);

  /* A message sealed with one cipher does not open with the other. */
  assert_open_fails (USI_AEAD_AES_256_GCM, chacha.key, chacha.nonce, chacha.aad, sizeof chacha.aad,
                     chacha.ciphertext, sizeof chacha.ciphertext, chacha.tag, sizeof chacha.tag,
                     USI_CRYPTO_ERROR_AUTHENTICATION);
}

static void
test_in_place (void)
{
  const UsiAead aeads[] = { USI_AEAD_CHACHA20_POLY1305, USI_AEAD_AES_256_GCM };

  for (guint a = 0; a < G_N_ELEMENTS (aeads); a++)
    {
      g_autoptr(GError) error = NULL;
      Sealed s;
      guint8 buffer[MESSAGE_LENGTH];
      guint8 tag[USI_AEAD_TAG_LENGTH];

      seal_sample (aeads[a], &s);

      /* Sealing in place gives what sealing into another buffer gave. */
      memcpy (buffer, s.message, sizeof buffer);
      g_assert_true (usi_aead_seal (aeads[a], s.key, s.nonce, s.aad, sizeof s.aad,
                                    buffer, sizeof buffer, buffer, tag, &error));
      g_assert_no_error (error);
      usi_assert_bytes_equal (buffer, sizeof buffer, s.ciphertext, sizeof s.ciphertext);
      usi_assert_bytes_equal (tag, sizeof tag, s.tag, sizeof s.tag);

      /* Opening in place restores the message... */
      g_assert_true (usi_aead_open (aeads[a], s.key, s.nonce, s.aad, sizeof s.aad,
                                    buffer, sizeof buffer, tag, sizeof tag, buffer, &error));
      g_assert_no_error (error);
      usi_assert_bytes_equal (buffer, sizeof buffer, s.message, sizeof s.message);

      /* ...and a failed in-place open leaves zeros, not plaintext. */
      memcpy (buffer, s.ciphertext, sizeof buffer);
      tag[0] ^= 1;
      g_assert_false (usi_aead_open (aeads[a], s.key, s.nonce, s.aad, sizeof s.aad,
                                     buffer, sizeof buffer, tag, sizeof tag, buffer, &error));
      g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
      g_assert_true (is_all_zero (buffer, sizeof buffer));
    }
}

static void
test_tag_lengths (void)
{
  const UsiAead aeads[] = { USI_AEAD_CHACHA20_POLY1305, USI_AEAD_AES_256_GCM };

  for (guint a = 0; a < G_N_ELEMENTS (aeads); a++)
    {
      Sealed s;
      guint8 long_tag[USI_AEAD_TAG_LENGTH + 1];

      seal_sample (aeads[a], &s);
      memcpy (long_tag, s.tag, sizeof s.tag);
      long_tag[USI_AEAD_TAG_LENGTH] = 0;

      /* A correct prefix does not help: only exactly 16 bytes are taken. */
      assert_open_fails (aeads[a], s.key, s.nonce, s.aad, sizeof s.aad, s.ciphertext, sizeof s.ciphertext,
                         s.tag, 15, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
      assert_open_fails (aeads[a], s.key, s.nonce, s.aad, sizeof s.aad, s.ciphertext, sizeof s.ciphertext,
                         long_tag, 17, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
      assert_open_fails (aeads[a], s.key, s.nonce, s.aad, sizeof s.aad, s.ciphertext, sizeof s.ciphertext,
                         s.tag, 12, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
      assert_open_fails (aeads[a], s.key, s.nonce, s.aad, sizeof s.aad, s.ciphertext, sizeof s.ciphertext,
                         s.tag, 4, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
      assert_open_fails (aeads[a], s.key, s.nonce, s.aad, sizeof s.aad, s.ciphertext, sizeof s.ciphertext,
                         NULL, 0, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
    }
}

static void
test_empty (void)
{
  const UsiAead aeads[] = { USI_AEAD_CHACHA20_POLY1305, USI_AEAD_AES_256_GCM };

  for (guint a = 0; a < G_N_ELEMENTS (aeads); a++)
    {
      g_autoptr(GError) error = NULL;
      guint8 key[USI_AEAD_KEY_LENGTH], nonce[USI_AEAD_NONCE_LENGTH], aad[5];
      guint8 tag_empty[USI_AEAD_TAG_LENGTH], tag_aad_only[USI_AEAD_TAG_LENGTH];

      fill_pattern (key, sizeof key, 9);
      fill_pattern (nonce, sizeof nonce, 10);
      fill_pattern (aad, sizeof aad, 11);

      /* Nothing at all: the tag still authenticates the (empty) message. */
      g_assert_true (usi_aead_seal (aeads[a], key, nonce, NULL, 0, NULL, 0, NULL, tag_empty, &error));
      g_assert_no_error (error);
      g_assert_true (usi_aead_open (aeads[a], key, nonce, NULL, 0, NULL, 0, tag_empty, sizeof tag_empty, NULL, &error));
      g_assert_no_error (error);

      /* Associated data only. */
      g_assert_true (usi_aead_seal (aeads[a], key, nonce, aad, sizeof aad, NULL, 0, NULL, tag_aad_only, &error));
      g_assert_no_error (error);
      g_assert_true (memcmp (tag_empty, tag_aad_only, sizeof tag_empty) != 0);
      g_assert_true (usi_aead_open (aeads[a], key, nonce, aad, sizeof aad, NULL, 0,
                                    tag_aad_only, sizeof tag_aad_only, NULL, &error));
      g_assert_no_error (error);
      assert_open_fails (aeads[a], key, nonce, NULL, 0, NULL, 0, tag_aad_only, sizeof tag_aad_only,
                         USI_CRYPTO_ERROR_AUTHENTICATION);
      tag_empty[15] ^= 0x80;
      assert_open_fails (aeads[a], key, nonce, NULL, 0, NULL, 0, tag_empty, sizeof tag_empty,
                         USI_CRYPTO_ERROR_AUTHENTICATION);
    }
}

/* Longer than one nonce may protect: refused before any byte is read, so a
 * small buffer is enough to ask. */
static void
test_too_long (void)
{
  g_autoptr(GError) error = NULL;
  guint8 key[USI_AEAD_KEY_LENGTH] = { 0 }, nonce[USI_AEAD_NONCE_LENGTH] = { 0 };
  guint8 buffer[16] = { 0 }, tag[USI_AEAD_TAG_LENGTH] = { 0 };
  gsize too_long = (gsize) (G_GUINT64_CONSTANT (1) << 36);

  if (sizeof (gsize) < 8)
    {
      g_test_skip ("needs a 64-bit size_t");
      return;
    }

  g_assert_false (usi_aead_seal (USI_AEAD_AES_256_GCM, key, nonce, NULL, 0, buffer, too_long, buffer, tag, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (usi_aead_open (USI_AEAD_AES_256_GCM, key, nonce, NULL, 0, buffer, too_long,
                                 tag, sizeof tag, buffer, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (usi_aead_seal (USI_AEAD_CHACHA20_POLY1305, key, nonce, NULL, 0, buffer,
                                 (gsize) (G_GUINT64_CONSTANT (1) << 38), buffer, tag, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/crypto/aead/wycheproof/chacha20-poly1305", test_wycheproof_chacha20_poly1305);
  g_test_add_func ("/crypto/aead/wycheproof/aes-256-gcm", test_wycheproof_aes_256_gcm);
  g_test_add_func ("/crypto/aead/bit-flips", test_bit_flips);
  g_test_add_func ("/crypto/aead/ciphers-differ", test_ciphers_differ);
  g_test_add_func ("/crypto/aead/in-place", test_in_place);
  g_test_add_func ("/crypto/aead/tag-lengths", test_tag_lengths);
  g_test_add_func ("/crypto/aead/empty", test_empty);
  g_test_add_func ("/crypto/aead/too-long", test_too_long);

  return g_test_run ();
}
