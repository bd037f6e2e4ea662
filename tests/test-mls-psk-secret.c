/* SPDX-License-Identifier: GPL-3.0-or-later */

/* RFC 9420 §8.4 psk_secret against mls/psk_secret.json (cipher suite 3):
 * external PSKs chained with PSKLabel { id, index, count }; plus our own
 * tests that order, nonce and count matter. */

#include "config.h"

#include "crypto/usi-crypto-error.h"
#include "crypto/usi-mls-key-schedule.h"
#include "usi-test-vectors.h"

#define PREFIX USI_MLS_LABEL_PREFIX_RFC9420

typedef struct
{
  GBytes     *psk;
  GByteArray *id;
} PskInput;

static void
psk_input_clear (PskInput *input)
{
  g_clear_pointer (&input->psk, g_bytes_unref);
  g_clear_pointer (&input->id, g_byte_array_unref);
}

static GArray *
psk_inputs_from_json (JsonArray *psks)
{
  GArray *inputs = g_array_new (FALSE, TRUE, sizeof (PskInput));

  g_array_set_clear_func (inputs, (GDestroyNotify) psk_input_clear);
  for (guint i = 0; i < json_array_get_length (psks); i++)
    {
      JsonObject *psk = json_array_get_object_element (psks, i);
      g_autoptr(GBytes) psk_id = usi_test_hex (json_object_get_string_member (psk, "psk_id"));
      g_autoptr(GBytes) psk_nonce = usi_test_hex (json_object_get_string_member (psk, "psk_nonce"));
      g_autoptr(GError) error = NULL;
      PskInput input = { 0 };

      input.psk = usi_test_hex (json_object_get_string_member (psk, "psk"));
      input.id = g_byte_array_new ();
      g_assert_true (usi_mls_psk_id_append_external (input.id,
                                                     g_bytes_get_data (psk_id, NULL), g_bytes_get_size (psk_id),
                                                     g_bytes_get_data (psk_nonce, NULL), g_bytes_get_size (psk_nonce),
                                                     &error));
      g_assert_no_error (error);
      g_array_append_val (inputs, input);
    }

  return inputs;
}

static UsiMlsPsk *
psks_from_inputs (GArray *inputs)
{
  UsiMlsPsk *psks = g_new0 (UsiMlsPsk, inputs->len + 1);

  for (guint i = 0; i < inputs->len; i++)
    {
      PskInput *input = &g_array_index (inputs, PskInput, i);

      psks[i].id = input->id->data;
      psks[i].id_length = input->id->len;
      psks[i].psk = g_bytes_get_data (input->psk, &psks[i].psk_length);
    }

  return psks;
}

static void
test_vectors (void)
{
  g_autoptr(JsonNode) root = usi_test_vectors_load_json ("mls/psk_secret.json");
  JsonArray *entries;
  guint count = 0, total_psks = 0;

  if (root == NULL)
    return;

  entries = json_node_get_array (root);
  for (guint i = 0; i < json_array_get_length (entries); i++)
    {
      JsonObject *entry = json_array_get_object_element (entries, i);
      g_autoptr(GArray) inputs = NULL;
      g_autofree UsiMlsPsk *psks = NULL;
      g_autoptr(GBytes) expected = NULL;
      guint8 psk_secret[USI_MLS_HASH_LENGTH];
      g_autoptr(GError) error = NULL;

      if (json_object_get_int_member (entry, "cipher_suite") != 3)
        continue;

      inputs = psk_inputs_from_json (json_object_get_array_member (entry, "psks"));
      psks = psks_from_inputs (inputs);
      expected = usi_test_hex (json_object_get_string_member (entry, "psk_secret"));

      memset (psk_secret, 0xa5, sizeof psk_secret);
      g_assert_true (usi_mls_psk_secret (PREFIX, inputs->len ? psks : NULL, inputs->len, psk_secret, &error));
      g_assert_no_error (error);
      usi_assert_bytes_equal (psk_secret, sizeof psk_secret,
                              g_bytes_get_data (expected, NULL), g_bytes_get_size (expected));

      /* Reversing two or more PSKs changes the result: the order is bound. */
      if (inputs->len >= 2)
        {
          guint8 reversed_secret[USI_MLS_HASH_LENGTH];
          g_autofree UsiMlsPsk *reversed = g_new0 (UsiMlsPsk, inputs->len);

          for (guint k = 0; k < inputs->len; k++)
            reversed[k] = psks[inputs->len - 1 - k];
          g_assert_true (usi_mls_psk_secret (PREFIX, reversed, inputs->len, reversed_secret, &error));
          g_assert_false (memcmp (reversed_secret, psk_secret, sizeof psk_secret) == 0);
        }

      total_psks += inputs->len;
      count++;
    }

  g_print ("# psk_secret (suite 3): %u PSKs in all\n", total_psks);
  usi_test_vectors_report ("psk_secret (suite 3)", count);
}

static void
test_inputs_matter (void)
{
  static const guint8 psk_value[32] = { 1, 2, 3 };
  static const guint8 nonce_a[32] = { 4 };
  static const guint8 nonce_b[32] = { 5 };
  g_autoptr(GByteArray) id_a = g_byte_array_new ();
  g_autoptr(GByteArray) id_b = g_byte_array_new ();
  g_autoptr(GBytes) expected_id = usi_test_hex ("01" "03" "616263" "20" "0400000000000000000000000000000000000000000000000000000000000000");
  guint8 secret_a[USI_MLS_HASH_LENGTH], secret_b[USI_MLS_HASH_LENGTH], secret_twice[USI_MLS_HASH_LENGTH];
  UsiMlsPsk psks[2];
  g_autoptr(GError) error = NULL;

  g_assert_true (usi_mls_psk_id_append_external (id_a, (const guint8 *) "abc", 3, nonce_a, sizeof nonce_a, &error));
  usi_assert_bytes_equal (id_a->data, id_a->len, g_bytes_get_data (expected_id, NULL), g_bytes_get_size (expected_id));
  g_assert_true (usi_mls_psk_id_append_external (id_b, (const guint8 *) "abc", 3, nonce_b, sizeof nonce_b, &error));

  /* The nonce changes the secret even for the same PSK value. */
  psks[0] = (UsiMlsPsk) { id_a->data, id_a->len, psk_value, sizeof psk_value };
  psks[1] = (UsiMlsPsk) { id_b->data, id_b->len, psk_value, sizeof psk_value };
  g_assert_true (usi_mls_psk_secret (PREFIX, &psks[0], 1, secret_a, &error));
  g_assert_true (usi_mls_psk_secret (PREFIX, &psks[1], 1, secret_b, &error));
  g_assert_false (memcmp (secret_a, secret_b, sizeof secret_a) == 0);

  /* The count is bound: one PSK alone differs from the same PSK first of two. */
  g_assert_true (usi_mls_psk_secret (PREFIX, psks, 2, secret_twice, &error));
  g_assert_false (memcmp (secret_a, secret_twice, sizeof secret_a) == 0);

  /* The prefix is bound. */
  g_assert_true (usi_mls_psk_secret ("Usi 1 ", &psks[0], 1, secret_b, &error));
  g_assert_false (memcmp (secret_a, secret_b, sizeof secret_a) == 0);
  g_assert_no_error (error);
}

static void
test_too_many (void)
{
  g_autofree UsiMlsPsk *psks = g_new0 (UsiMlsPsk, G_MAXUINT16 + 1);
  guint8 secret[USI_MLS_HASH_LENGTH];
  g_autoptr(GError) error = NULL;

  g_assert_false (usi_mls_psk_secret (PREFIX, psks, G_MAXUINT16 + 1, secret, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/crypto/mls/psk-secret/vectors", test_vectors);
  g_test_add_func ("/crypto/mls/psk-secret/inputs-matter", test_inputs_matter);
  g_test_add_func ("/crypto/mls/psk-secret/too-many", test_too_many);

  return g_test_run ();
}
