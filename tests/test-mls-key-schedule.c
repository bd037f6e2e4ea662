/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The RFC 9420 key schedule against mls/key-schedule.json (cipher suite 3):
 * every epoch's GroupContext encoding, every derived secret and the exporter,
 * chaining init_secret from epoch to epoch; the joiner's path from
 * joiner_secret; the external key pair; and our own negative tests. */

#include "config.h"

#include "crypto/usi-crypto-error.h"
#include "crypto/usi-hpke.h"
#include "crypto/usi-mls-key-schedule.h"
#include "usi-test-vectors.h"

#define PREFIX USI_MLS_LABEL_PREFIX_RFC9420

static GBytes *
member_hex (JsonObject *object,
            const char *name)
{
  return usi_test_hex (json_object_get_string_member (object, name));
}

#define assert_member_equal(object, name, data, length) \
  G_STMT_START { \
    g_autoptr(GBytes) __expected = member_hex ((object), (name)); \
    g_test_message ("%s", (name)); \
    usi_assert_bytes_equal ((data), (length), g_bytes_get_data (__expected, NULL), g_bytes_get_size (__expected)); \
  } G_STMT_END

static void
assert_epoch_secrets (JsonObject               *epoch,
                      const UsiMlsEpochSecrets *secrets)
{
  assert_member_equal (epoch, "joiner_secret", secrets->joiner_secret, USI_MLS_HASH_LENGTH);
  assert_member_equal (epoch, "welcome_secret", secrets->welcome_secret, USI_MLS_HASH_LENGTH);
  assert_member_equal (epoch, "init_secret", secrets->init_secret, USI_MLS_HASH_LENGTH);
  assert_member_equal (epoch, "sender_data_secret", secrets->sender_data_secret, USI_MLS_HASH_LENGTH);
  assert_member_equal (epoch, "encryption_secret", secrets->encryption_secret, USI_MLS_HASH_LENGTH);
  assert_member_equal (epoch, "exporter_secret", secrets->exporter_secret, USI_MLS_HASH_LENGTH);
  assert_member_equal (epoch, "epoch_authenticator", secrets->epoch_authenticator, USI_MLS_HASH_LENGTH);
  assert_member_equal (epoch, "external_secret", secrets->external_secret, USI_MLS_HASH_LENGTH);
  assert_member_equal (epoch, "confirmation_key", secrets->confirmation_key, USI_MLS_HASH_LENGTH);
  assert_member_equal (epoch, "membership_key", secrets->membership_key, USI_MLS_HASH_LENGTH);
  assert_member_equal (epoch, "resumption_psk", secrets->resumption_psk, USI_MLS_HASH_LENGTH);
}

static void
test_vectors (void)
{
  g_autoptr(JsonNode) root = usi_test_vectors_load_json ("mls/key-schedule.json");
  JsonArray *entries;
  guint groups = 0, epochs = 0;

  if (root == NULL)
    return;

  entries = json_node_get_array (root);
  for (guint i = 0; i < json_array_get_length (entries); i++)
    {
      JsonObject *entry = json_array_get_object_element (entries, i);
      g_autoptr(GBytes) group_id = NULL;
      g_autoptr(GBytes) initial_init_secret = NULL;
      guint8 init_secret[USI_MLS_HASH_LENGTH];
      JsonArray *epoch_list;

      if (json_object_get_int_member (entry, "cipher_suite") != 3)
        continue;

      group_id = member_hex (entry, "group_id");
      initial_init_secret = member_hex (entry, "initial_init_secret");
      g_assert_cmpuint (g_bytes_get_size (initial_init_secret), ==, USI_MLS_HASH_LENGTH);
      memcpy (init_secret, g_bytes_get_data (initial_init_secret, NULL), sizeof init_secret);

      epoch_list = json_object_get_array_member (entry, "epochs");
      for (guint n = 0; n < json_array_get_length (epoch_list); n++)
        {
          JsonObject *epoch = json_array_get_object_element (epoch_list, n);
          g_autoptr(GBytes) tree_hash = member_hex (epoch, "tree_hash");
          g_autoptr(GBytes) transcript_hash = member_hex (epoch, "confirmed_transcript_hash");
          g_autoptr(GBytes) commit_secret = member_hex (epoch, "commit_secret");
          g_autoptr(GBytes) psk_secret = member_hex (epoch, "psk_secret");
          g_autoptr(GBytes) context = NULL;
          g_auto(UsiMlsEpochSecrets) secrets = { 0 };
          g_auto(UsiMlsEpochSecrets) joiner_secrets = { 0 };
          JsonObject *exporter = json_object_get_object_member (epoch, "exporter");
          /* The exporter label is text (it happens to look like hex). */
          const char *exporter_label = json_object_get_string_member (exporter, "label");
          g_autoptr(GBytes) exporter_context = member_hex (exporter, "context");
          gsize exporter_length = (gsize) json_object_get_int_member (exporter, "length");
          g_autofree guint8 *exported = g_malloc (exporter_length);
          guint8 external_private[USI_HPKE_PRIVATE_KEY_LENGTH];
          guint8 external_public[USI_HPKE_PUBLIC_KEY_LENGTH];
          g_autoptr(GError) error = NULL;

          g_test_message ("epoch %u", n);

          context = usi_mls_group_context_serialize (USI_MLS_CIPHER_SUITE_3,
                                                     g_bytes_get_data (group_id, NULL), g_bytes_get_size (group_id),
                                                     n,
                                                     g_bytes_get_data (tree_hash, NULL), g_bytes_get_size (tree_hash),
                                                     g_bytes_get_data (transcript_hash, NULL),
                                                     g_bytes_get_size (transcript_hash),
                                                     NULL, 0, &error);
          g_assert_no_error (error);
          assert_member_equal (epoch, "group_context", g_bytes_get_data (context, NULL), g_bytes_get_size (context));

          g_assert_true (usi_mls_key_schedule_derive (PREFIX, init_secret,
                                                      g_bytes_get_data (commit_secret, NULL),
                                                      g_bytes_get_data (psk_secret, NULL),
                                                      g_bytes_get_data (context, NULL), g_bytes_get_size (context),
                                                      &secrets, &error));
          g_assert_no_error (error);
          assert_epoch_secrets (epoch, &secrets);

          /* A joiner given joiner_secret reaches the same epoch. */
          g_assert_true (usi_mls_key_schedule_derive_from_joiner (PREFIX, secrets.joiner_secret,
                                                                  g_bytes_get_data (psk_secret, NULL),
                                                                  g_bytes_get_data (context, NULL),
                                                                  g_bytes_get_size (context),
                                                                  &joiner_secrets, &error));
          g_assert_no_error (error);
          assert_epoch_secrets (epoch, &joiner_secrets);
          g_assert_cmpmem (&secrets, sizeof secrets, &joiner_secrets, sizeof joiner_secrets);

          g_assert_true (usi_mls_exporter (PREFIX, secrets.exporter_secret,
                                           exporter_label,
                                           g_bytes_get_data (exporter_context, NULL),
                                           g_bytes_get_size (exporter_context),
                                           exported, exporter_length, &error));
          g_assert_no_error (error);
          assert_member_equal (exporter, "secret", exported, exporter_length);

          /* external_priv, external_pub = KEM.DeriveKeyPair(external_secret). */
          g_assert_true (usi_hpke_derive_key_pair (secrets.external_secret, USI_MLS_HASH_LENGTH,
                                                   external_private, external_public, &error));
          g_assert_no_error (error);
          assert_member_equal (epoch, "external_pub", external_public, sizeof external_public);

          memcpy (init_secret, secrets.init_secret, sizeof init_secret);
          epochs++;
        }
      groups++;
    }

  g_print ("# key-schedule (suite 3): %u groups\n", groups);
  usi_test_vectors_report ("key-schedule epochs (suite 3)", epochs);
}

static GBytes *
sample_context (guint64 epoch)
{
  static const guint8 group_id[16] = { 1, 2, 3 };
  static const guint8 hash[32] = { 4, 5, 6 };

  return usi_mls_group_context_serialize (USI_MLS_CIPHER_SUITE_3, group_id, sizeof group_id, epoch,
                                          hash, sizeof hash, hash, sizeof hash, NULL, 0, NULL);
}

/* Every input changes every output; NULL commit and PSK secrets are zeros. */
static void
test_inputs_matter (void)
{
  static const guint8 zeros[USI_MLS_HASH_LENGTH] = { 0 };
  guint8 init_secret[USI_MLS_HASH_LENGTH] = { 9 };
  guint8 commit_secret[USI_MLS_HASH_LENGTH] = { 7 };
  g_autoptr(GBytes) context = sample_context (1);
  g_autoptr(GBytes) other_context = sample_context (2);
  g_auto(UsiMlsEpochSecrets) reference = { 0 };
  g_auto(UsiMlsEpochSecrets) other = { 0 };
  g_autoptr(GError) error = NULL;

  g_assert_true (usi_mls_key_schedule_derive (PREFIX, init_secret, NULL, NULL,
                                              g_bytes_get_data (context, NULL), g_bytes_get_size (context),
                                              &reference, &error));
  g_assert_no_error (error);
  g_assert_true (usi_mls_key_schedule_derive (PREFIX, init_secret, zeros, zeros,
                                              g_bytes_get_data (context, NULL), g_bytes_get_size (context),
                                              &other, &error));
  g_assert_cmpmem (&reference, sizeof reference, &other, sizeof other);

  g_assert_true (usi_mls_key_schedule_derive (PREFIX, init_secret, commit_secret, NULL,
                                              g_bytes_get_data (context, NULL), g_bytes_get_size (context),
                                              &other, &error));
  g_assert_false (memcmp (reference.epoch_authenticator, other.epoch_authenticator, USI_MLS_HASH_LENGTH) == 0);
  g_assert_true (usi_mls_key_schedule_derive (PREFIX, init_secret, NULL, commit_secret,
                                              g_bytes_get_data (context, NULL), g_bytes_get_size (context),
                                              &other, &error));
  g_assert_cmpmem (reference.joiner_secret, USI_MLS_HASH_LENGTH, other.joiner_secret, USI_MLS_HASH_LENGTH);
  g_assert_false (memcmp (reference.encryption_secret, other.encryption_secret, USI_MLS_HASH_LENGTH) == 0);
  g_assert_true (usi_mls_key_schedule_derive (PREFIX, init_secret, NULL, NULL,
                                              g_bytes_get_data (other_context, NULL), g_bytes_get_size (other_context),
                                              &other, &error));
  g_assert_false (memcmp (reference.joiner_secret, other.joiner_secret, USI_MLS_HASH_LENGTH) == 0);
  g_assert_true (usi_mls_key_schedule_derive ("Usi 1 ", init_secret, NULL, NULL,
                                              g_bytes_get_data (context, NULL), g_bytes_get_size (context),
                                              &other, &error));
  g_assert_false (memcmp (reference.init_secret, other.init_secret, USI_MLS_HASH_LENGTH) == 0);

  /* The previous epoch's secrets may be the input and the output at once. */
  memcpy (init_secret, reference.init_secret, sizeof init_secret);
  g_assert_true (usi_mls_key_schedule_derive (PREFIX, init_secret, commit_secret, NULL,
                                              g_bytes_get_data (context, NULL), g_bytes_get_size (context),
                                              &other, &error));
  g_assert_true (usi_mls_key_schedule_derive (PREFIX, reference.init_secret, commit_secret, NULL,
                                              g_bytes_get_data (context, NULL), g_bytes_get_size (context),
                                              &reference, &error));
  g_assert_cmpmem (&reference, sizeof reference, &other, sizeof other);

  /* So may the joiner_secret and psk_secret of a joiner. */
  g_assert_true (usi_mls_key_schedule_derive (PREFIX, init_secret, commit_secret, init_secret,
                                              g_bytes_get_data (context, NULL), g_bytes_get_size (context),
                                              &reference, &error));
  memcpy (other.joiner_secret, reference.joiner_secret, USI_MLS_HASH_LENGTH);
  memcpy (other.resumption_psk, init_secret, USI_MLS_HASH_LENGTH);
  g_assert_true (usi_mls_key_schedule_derive_from_joiner (PREFIX, other.joiner_secret, other.resumption_psk,
                                                          g_bytes_get_data (context, NULL), g_bytes_get_size (context),
                                                          &other, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (&reference, sizeof reference, &other, sizeof other);
}

static void
test_clear (void)
{
  UsiMlsEpochSecrets secrets;
  static const UsiMlsEpochSecrets zeros = { { 0 } };

  memset (&secrets, 0x5a, sizeof secrets);
  usi_mls_epoch_secrets_clear (&secrets);
  g_assert_cmpmem (&secrets, sizeof secrets, &zeros, sizeof zeros);
}

static void
test_group_context_encoding (void)
{
  static const guint8 extensions[] = { 0x00, 0x02, 0x01, 0xaa };
  g_autoptr(GBytes) context = NULL;
  g_autoptr(GBytes) expected = usi_test_hex ("0001" "0003" "02" "abcd" "0102030405060708"
                                             "00" "01" "ee" "04" "000201aa");
  g_autoptr(GError) error = NULL;

  context = usi_mls_group_context_serialize (3, (const guint8 *) "\xab\xcd", 2, G_GUINT64_CONSTANT (0x0102030405060708),
                                             NULL, 0, (const guint8 *) "\xee", 1,
                                             extensions, sizeof extensions, &error);
  g_assert_no_error (error);
  usi_assert_bytes_equal (g_bytes_get_data (context, NULL), g_bytes_get_size (context),
                          g_bytes_get_data (expected, NULL), g_bytes_get_size (expected));
}

static void
test_exporter_limits (void)
{
  guint8 secret[USI_MLS_HASH_LENGTH] = { 3 };
  guint8 first[64], second[64];
  g_autoptr(GError) error = NULL;

  g_assert_true (usi_mls_exporter (PREFIX, secret, "a", NULL, 0, first, sizeof first, &error));
  g_assert_true (usi_mls_exporter (PREFIX, secret, "b", NULL, 0, second, sizeof second, &error));
  g_assert_false (memcmp (first, second, sizeof first) == 0);
  g_assert_true (usi_mls_exporter (PREFIX, secret, "a", (const guint8 *) "c", 1,
                                   second, sizeof second, &error));
  g_assert_false (memcmp (first, second, sizeof first) == 0);
  /* The length is part of KDFLabel: a shorter output is not a prefix. */
  g_assert_true (usi_mls_exporter (PREFIX, secret, "a", NULL, 0, second, 32, &error));
  g_assert_false (memcmp (first, second, 32) == 0);

  g_assert_false (usi_mls_exporter (PREFIX, secret, "a", NULL, 0, first, 255 * 32 + 1, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/crypto/mls/key-schedule/vectors", test_vectors);
  g_test_add_func ("/crypto/mls/key-schedule/inputs-matter", test_inputs_matter);
  g_test_add_func ("/crypto/mls/key-schedule/clear", test_clear);
  g_test_add_func ("/crypto/mls/key-schedule/group-context", test_group_context_encoding);
  g_test_add_func ("/crypto/mls/key-schedule/exporter-limits", test_exporter_limits);

  return g_test_run ();
}
