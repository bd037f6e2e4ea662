/* SPDX-License-Identifier: GPL-3.0-or-later */

/* HPKE against RFC 9180 Appendix A.2 (DHKEM(X25519, HKDF-SHA256),
 * HKDF-SHA256, ChaCha20Poly1305) in all four modes, and the refusals:
 * low-order keys, PSK rules, wrong keys, tampering, order, limits. */

#include "config.h"

#include <string.h>

#include "crypto/usi-crypto-error.h"
#include "crypto/usi-hpke.h"
#include "usi-test-vectors.h"

#define VECTOR_FILE "hpke/rfc9180-x25519-sha256-chacha20poly1305.txt"

static const UsiHpkeMode all_modes[] = {
  USI_HPKE_MODE_BASE, USI_HPKE_MODE_PSK, USI_HPKE_MODE_AUTH, USI_HPKE_MODE_AUTH_PSK,
};

static gboolean
mode_uses_psk (UsiHpkeMode mode)
{
  return mode == USI_HPKE_MODE_PSK || mode == USI_HPKE_MODE_AUTH_PSK;
}

static gboolean
mode_is_auth (UsiHpkeMode mode)
{
  return mode == USI_HPKE_MODE_AUTH || mode == USI_HPKE_MODE_AUTH_PSK;
}

/* ---- The vector file ---------------------------------------------------- */

/* One "### ... Setup Information" block with the encryptions and exports
 * under it; every record maps a field name to its value, wrapped lines joined. */
typedef struct
{
  GHashTable *fields;
  GPtrArray  *encryptions;
  GPtrArray  *exports;
} VectorSetup;

static void
string_free (gpointer string)
{
  g_string_free (string, TRUE);
}

static GHashTable *
record_new (void)
{
  return g_hash_table_new_full (g_str_hash, g_str_equal, g_free, string_free);
}

static VectorSetup *
vector_setup_new (void)
{
  VectorSetup *setup = g_new0 (VectorSetup, 1);

  setup->fields = record_new ();
  setup->encryptions = g_ptr_array_new_with_free_func ((GDestroyNotify) g_hash_table_unref);
  setup->exports = g_ptr_array_new_with_free_func ((GDestroyNotify) g_hash_table_unref);

  return setup;
}

static void
vector_setup_free (gpointer data)
{
  VectorSetup *setup = data;

  g_hash_table_unref (setup->fields);
  g_ptr_array_unref (setup->encryptions);
  g_ptr_array_unref (setup->exports);
  g_free (setup);
}

static GPtrArray *
parse_vectors (const char *text)
{
  g_auto(GStrv) lines = g_strsplit (text, "\n", -1);
  GPtrArray *setups = g_ptr_array_new_with_free_func (vector_setup_free);
  VectorSetup *setup = NULL;
  GPtrArray *section = NULL; /* NULL while in the setup block itself */
  GHashTable *record = NULL;
  GString *last_value = NULL;

  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_autofree char *line = g_strstrip (g_strdup (lines[i]));
      char *colon;
      char *name;

      if (g_str_has_prefix (line, "### "))
        {
          setup = vector_setup_new ();
          g_ptr_array_add (setups, setup);
          section = NULL;
          record = setup->fields;
          last_value = NULL;
          continue;
        }
      if (g_str_has_prefix (line, "#### "))
        {
          g_assert_nonnull (setup);
          if (g_str_equal (line, "#### Encryptions"))
            section = setup->encryptions;
          else if (g_str_equal (line, "#### Exported Values"))
            section = setup->exports;
          else
            g_error ("unexpected heading in %s: %s", VECTOR_FILE, line);
          record = NULL;
          last_value = NULL;
          continue;
        }
      if (line[0] == '#') /* the file's comments and the suite heading */
        continue;
      if (line[0] == '\0' || g_str_equal (line, "~~~"))
        {
          /* Blank lines separate the encryptions and the exports. */
          if (section != NULL)
            record = NULL;
          last_value = NULL;
          continue;
        }

      colon = strchr (line, ':');
      if (colon == NULL)
        {
          /* A long hex value wrapped onto this line. */
          if (last_value == NULL)
            g_error ("stray line in %s: %s", VECTOR_FILE, line);
          g_string_append (last_value, line);
          continue;
        }

      g_assert_nonnull (setup);
      if (record == NULL)
        {
          record = record_new ();
          g_ptr_array_add (section, record);
        }
      *colon = '\0';
      name = g_strdup (line);
      g_assert_false (g_hash_table_contains (record, name));
      last_value = g_string_new (g_strstrip (colon + 1));
      g_hash_table_insert (record, name, last_value);
    }

  return setups;
}

static gboolean
field_present (GHashTable *record,
               const char *name)
{
  return g_hash_table_contains (record, name);
}

static GBytes *
field_bytes (GHashTable *record,
             const char *name)
{
  GString *value = g_hash_table_lookup (record, name);

  if (value == NULL)
    g_error ("field %s missing in %s", name, VECTOR_FILE);

  return usi_test_hex (value->str);
}

static guint64
field_number (GHashTable *record,
              const char *name)
{
  GString *value = g_hash_table_lookup (record, name);
  guint64 number = 0;

  if (value == NULL)
    g_error ("field %s missing in %s", name, VECTOR_FILE);
  g_assert_true (g_ascii_string_to_unsigned (value->str, 10, 0, G_MAXUINT64, &number, NULL));

  return number;
}

static const guint8 *
data_of (GBytes *bytes)
{
  return g_bytes_get_data (bytes, NULL);
}

/* ---- Appendix A.2 ------------------------------------------------------- */

typedef struct
{
  guint setups;
  guint key_pairs;
  guint encryptions;
  guint single_shots;
  guint exports;
} VectorCounts;

static void
check_derive_key_pair (GHashTable   *fields,
                       const char   *ikm_name,
                       const char   *private_name,
                       const char   *public_name,
                       VectorCounts *counts)
{
  g_autoptr(GBytes) ikm = field_bytes (fields, ikm_name);
  g_autoptr(GBytes) expected_private = field_bytes (fields, private_name);
  g_autoptr(GBytes) expected_public = field_bytes (fields, public_name);
  guint8 private_key[USI_HPKE_PRIVATE_KEY_LENGTH];
  guint8 public_key[USI_HPKE_PUBLIC_KEY_LENGTH];
  g_autoptr(GError) error = NULL;

  usi_hpke_derive_key_pair (data_of (ikm), g_bytes_get_size (ikm), private_key, public_key, &error);
  g_assert_no_error (error);
  usi_assert_bytes_equal (private_key, sizeof private_key,
                          data_of (expected_private), g_bytes_get_size (expected_private));
  usi_assert_bytes_equal (public_key, sizeof public_key,
                          data_of (expected_public), g_bytes_get_size (expected_public));
  counts->key_pairs++;
}

static void
check_secrets (UsiHpkeContext *context,
               GHashTable     *fields)
{
  g_autoptr(GBytes) expected_key = field_bytes (fields, "key");
  g_autoptr(GBytes) expected_base_nonce = field_bytes (fields, "base_nonce");
  g_autoptr(GBytes) expected_exporter_secret = field_bytes (fields, "exporter_secret");
  guint8 key[32];
  guint8 base_nonce[12];
  guint8 exporter_secret[32];

  usi_hpke_context_get_secrets_for_test (context, key, base_nonce, exporter_secret);
  usi_assert_bytes_equal (key, sizeof key, data_of (expected_key), g_bytes_get_size (expected_key));
  usi_assert_bytes_equal (base_nonce, sizeof base_nonce,
                          data_of (expected_base_nonce), g_bytes_get_size (expected_base_nonce));
  usi_assert_bytes_equal (exporter_secret, sizeof exporter_secret,
                          data_of (expected_exporter_secret), g_bytes_get_size (expected_exporter_secret));
}

/* Seals and opens an empty message to move both contexts one sequence number on. */
static void
advance_both (UsiHpkeContext *sender,
              UsiHpkeContext *recipient)
{
  guint8 ciphertext[USI_HPKE_TAG_LENGTH];
  g_autoptr(GError) error = NULL;

  usi_hpke_context_seal (sender, NULL, 0, NULL, 0, ciphertext, &error);
  g_assert_no_error (error);
  usi_hpke_context_open (recipient, NULL, 0, ciphertext, sizeof ciphertext, NULL, &error);
  g_assert_no_error (error);
}

static void
run_vector_setup (VectorSetup  *setup,
                  UsiHpkeMode   mode,
                  VectorCounts *counts)
{
  GHashTable *fields = setup->fields;
  g_autoptr(GBytes) info = field_bytes (fields, "info");
  g_autoptr(GBytes) ikm_e = field_bytes (fields, "ikmE");
  g_autoptr(GBytes) pk_r = field_bytes (fields, "pkRm");
  g_autoptr(GBytes) sk_r = field_bytes (fields, "skRm");
  g_autoptr(GBytes) expected_enc = field_bytes (fields, "enc");
  g_autoptr(GBytes) psk = NULL;
  g_autoptr(GBytes) psk_id = NULL;
  g_autoptr(GBytes) pk_s = NULL;
  g_autoptr(GBytes) sk_s = NULL;
  g_autoptr(GBytes) expected_base_nonce = field_bytes (fields, "base_nonce");
  g_autoptr(UsiRandom) random = NULL;
  g_autoptr(UsiHpkeContext) sender = NULL;
  g_autoptr(UsiHpkeContext) recipient = NULL;
  g_autoptr(GError) error = NULL;
  UsiHpkeParameters parameters = { mode, data_of (info), g_bytes_get_size (info), NULL, 0, NULL, 0 };
  guint8 enc[USI_HPKE_ENC_LENGTH];
  guint64 sequence = 0;

  g_assert_cmpuint (field_number (fields, "kem_id"), ==, 0x0020);
  g_assert_cmpuint (field_number (fields, "kdf_id"), ==, 0x0001);
  g_assert_cmpuint (field_number (fields, "aead_id"), ==, 0x0003);

  check_derive_key_pair (fields, "ikmE", "skEm", "pkEm", counts);
  check_derive_key_pair (fields, "ikmR", "skRm", "pkRm", counts);
  g_assert_cmpint (field_present (fields, "ikmS"), ==, mode_is_auth (mode));
  if (mode_is_auth (mode))
    {
      check_derive_key_pair (fields, "ikmS", "skSm", "pkSm", counts);
      pk_s = field_bytes (fields, "pkSm");
      sk_s = field_bytes (fields, "skSm");
    }
  g_assert_cmpint (field_present (fields, "psk"), ==, mode_uses_psk (mode));
  if (mode_uses_psk (mode))
    {
      psk = field_bytes (fields, "psk");
      psk_id = field_bytes (fields, "psk_id");
      parameters.psk = data_of (psk);
      parameters.psk_length = g_bytes_get_size (psk);
      parameters.psk_id = data_of (psk_id);
      parameters.psk_id_length = g_bytes_get_size (psk_id);
    }

  /* The ephemeral key is DeriveKeyPair(ikmE), ikmE coming from the random source. */
  random = usi_random_new_fixed (data_of (ikm_e), g_bytes_get_size (ikm_e));
  sender = usi_hpke_setup_sender (&parameters, random, data_of (pk_r),
                                  sk_s ? data_of (sk_s) : NULL, enc, &error);
  g_assert_no_error (error);
  usi_assert_bytes_equal (enc, sizeof enc, data_of (expected_enc), g_bytes_get_size (expected_enc));
  check_secrets (sender, fields);

  recipient = usi_hpke_setup_recipient (&parameters, data_of (expected_enc), data_of (sk_r),
                                        pk_s ? data_of (pk_s) : NULL, &error);
  g_assert_no_error (error);
  check_secrets (recipient, fields);
  counts->setups++;

  for (guint i = 0; i < setup->encryptions->len; i++)
    {
      GHashTable *encryption = g_ptr_array_index (setup->encryptions, i);
      guint64 target = field_number (encryption, "sequence number");
      g_autoptr(GBytes) plaintext = field_bytes (encryption, "pt");
      g_autoptr(GBytes) aad = field_bytes (encryption, "aad");
      g_autoptr(GBytes) nonce = field_bytes (encryption, "nonce");
      g_autoptr(GBytes) expected_ciphertext = field_bytes (encryption, "ct");
      gsize length = g_bytes_get_size (plaintext);
      g_autofree guint8 *ciphertext = g_malloc (length + USI_HPKE_TAG_LENGTH);
      g_autofree guint8 *opened = g_malloc (length + 1);
      guint8 expected_nonce[12];

      g_assert_cmpuint (target, >=, sequence);
      for (; sequence < target; sequence++)
        advance_both (sender, recipient);

      /* The listed nonce is base_nonce XOR the sequence number. */
      memcpy (expected_nonce, data_of (expected_base_nonce), sizeof expected_nonce);
      for (guint b = 0; b < 8; b++)
        expected_nonce[11 - b] ^= (target >> (8 * b)) & 0xff;
      usi_assert_bytes_equal (expected_nonce, sizeof expected_nonce, data_of (nonce), g_bytes_get_size (nonce));

      usi_hpke_context_seal (sender, data_of (aad), g_bytes_get_size (aad),
                             data_of (plaintext), length, ciphertext, &error);
      g_assert_no_error (error);
      usi_assert_bytes_equal (ciphertext, length + USI_HPKE_TAG_LENGTH,
                              data_of (expected_ciphertext), g_bytes_get_size (expected_ciphertext));

      usi_hpke_context_open (recipient, data_of (aad), g_bytes_get_size (aad),
                             data_of (expected_ciphertext), g_bytes_get_size (expected_ciphertext),
                             opened, &error);
      g_assert_no_error (error);
      usi_assert_bytes_equal (opened, length, data_of (plaintext), length);
      sequence++;
      counts->encryptions++;

      if (target == 0)
        {
          /* Single-shot is setup plus the message of sequence number 0. */
          g_autoptr(UsiRandom) single_random = usi_random_new_fixed (data_of (ikm_e), g_bytes_get_size (ikm_e));
          guint8 single_enc[USI_HPKE_ENC_LENGTH];

          memset (ciphertext, 0, length + USI_HPKE_TAG_LENGTH);
          usi_hpke_seal (&parameters, single_random, data_of (pk_r), sk_s ? data_of (sk_s) : NULL,
                         data_of (aad), g_bytes_get_size (aad), data_of (plaintext), length,
                         single_enc, ciphertext, &error);
          g_assert_no_error (error);
          usi_assert_bytes_equal (single_enc, sizeof single_enc,
                                  data_of (expected_enc), g_bytes_get_size (expected_enc));
          usi_assert_bytes_equal (ciphertext, length + USI_HPKE_TAG_LENGTH,
                                  data_of (expected_ciphertext), g_bytes_get_size (expected_ciphertext));

          memset (opened, 0, length);
          usi_hpke_open (&parameters, data_of (expected_enc), data_of (sk_r), pk_s ? data_of (pk_s) : NULL,
                         data_of (aad), g_bytes_get_size (aad),
                         data_of (expected_ciphertext), g_bytes_get_size (expected_ciphertext),
                         opened, &error);
          g_assert_no_error (error);
          usi_assert_bytes_equal (opened, length, data_of (plaintext), length);
          counts->single_shots++;
        }
    }

  for (guint i = 0; i < setup->exports->len; i++)
    {
      GHashTable *export = g_ptr_array_index (setup->exports, i);
      g_autoptr(GBytes) exporter_context = field_bytes (export, "exporter_context");
      g_autoptr(GBytes) expected = field_bytes (export, "exported_value");
      gsize length = field_number (export, "L");
      g_autofree guint8 *from_sender = g_malloc (length);
      g_autofree guint8 *from_recipient = g_malloc (length);

      usi_hpke_context_export (sender, data_of (exporter_context), g_bytes_get_size (exporter_context),
                               from_sender, length, &error);
      g_assert_no_error (error);
      usi_hpke_context_export (recipient, data_of (exporter_context), g_bytes_get_size (exporter_context),
                               from_recipient, length, &error);
      g_assert_no_error (error);
      usi_assert_bytes_equal (from_sender, length, data_of (expected), g_bytes_get_size (expected));
      usi_assert_bytes_equal (from_recipient, length, data_of (expected), g_bytes_get_size (expected));
      counts->exports++;
    }
}

static void
test_vectors (gconstpointer data)
{
  UsiHpkeMode mode = GPOINTER_TO_INT (data);
  static const char *const names[] = { "A.2.1 Base", "A.2.2 PSK", "A.2.3 Auth", "A.2.4 AuthPSK" };
  g_autofree char *text = usi_test_vectors_load_text (VECTOR_FILE);
  g_autoptr(GPtrArray) setups = NULL;
  VectorCounts counts = { 0 };
  g_autofree char *what = NULL;

  if (text == NULL)
    return;

  setups = parse_vectors (text);
  for (guint i = 0; i < setups->len; i++)
    {
      VectorSetup *setup = g_ptr_array_index (setups, i);

      if (field_number (setup->fields, "mode") == (guint64) mode)
        run_vector_setup (setup, mode, &counts);
    }

  what = g_strdup_printf ("RFC 9180 %s setups (DeriveKeyPair, enc, key schedule)", names[mode]);
  usi_test_vectors_report (what, counts.setups);
  g_clear_pointer (&what, g_free);
  what = g_strdup_printf ("RFC 9180 %s DeriveKeyPair", names[mode]);
  usi_test_vectors_report (what, counts.key_pairs);
  g_clear_pointer (&what, g_free);
  what = g_strdup_printf ("RFC 9180 %s encryptions (sealed and opened)", names[mode]);
  usi_test_vectors_report (what, counts.encryptions);
  g_clear_pointer (&what, g_free);
  what = g_strdup_printf ("RFC 9180 %s single-shot seal/open", names[mode]);
  usi_test_vectors_report (what, counts.single_shots);
  g_clear_pointer (&what, g_free);
  what = g_strdup_printf ("RFC 9180 %s exports (both sides)", names[mode]);
  usi_test_vectors_report (what, counts.exports);
}

/* ---- Behaviour and refusals --------------------------------------------- */

/* Keys and parameters for one mode, drawn from a deterministic source. */
typedef struct
{
  UsiHpkeMode       mode;
  UsiRandom        *random;
  guint8            recipient_private[USI_HPKE_PRIVATE_KEY_LENGTH];
  guint8            recipient_public[USI_HPKE_PUBLIC_KEY_LENGTH];
  guint8            sender_private[USI_HPKE_PRIVATE_KEY_LENGTH];
  guint8            sender_public[USI_HPKE_PUBLIC_KEY_LENGTH];
  guint8            psk[32];
  UsiHpkeParameters parameters;
} Party;

static const guint8 test_info[] = "usi hpke test info";
static const guint8 test_psk_id[] = "usi test psk";

static void
party_init (Party       *party,
            UsiHpkeMode  mode)
{
  static const guint8 seed[] = "test-hpke";
  g_autoptr(GError) error = NULL;

  memset (party, 0, sizeof *party);
  party->mode = mode;
  party->random = usi_random_new_deterministic (seed, sizeof seed);
  usi_hpke_generate_key_pair (party->random, party->recipient_private, party->recipient_public, &error);
  g_assert_no_error (error);
  usi_hpke_generate_key_pair (party->random, party->sender_private, party->sender_public, &error);
  g_assert_no_error (error);
  usi_random_fill (party->random, party->psk, sizeof party->psk, &error);
  g_assert_no_error (error);

  party->parameters.mode = mode;
  party->parameters.info = test_info;
  party->parameters.info_length = sizeof test_info - 1;
  if (mode_uses_psk (mode))
    {
      party->parameters.psk = party->psk;
      party->parameters.psk_length = sizeof party->psk;
      party->parameters.psk_id = test_psk_id;
      party->parameters.psk_id_length = sizeof test_psk_id - 1;
    }
}

static void
party_clear (Party *party)
{
  g_clear_pointer (&party->random, usi_random_free);
}

static const guint8 *
party_sender_private (const Party *party)
{
  return mode_is_auth (party->mode) ? party->sender_private : NULL;
}

static const guint8 *
party_sender_public (const Party *party)
{
  return mode_is_auth (party->mode) ? party->sender_public : NULL;
}

static UsiHpkeContext *
party_setup_sender (Party  *party,
                    guint8 *enc)
{
  g_autoptr(GError) error = NULL;
  UsiHpkeContext *context;

  context = usi_hpke_setup_sender (&party->parameters, party->random, party->recipient_public,
                                   party_sender_private (party), enc, &error);
  g_assert_no_error (error);
  g_assert_nonnull (context);

  return context;
}

static UsiHpkeContext *
party_setup_recipient (Party        *party,
                       const guint8 *enc)
{
  g_autoptr(GError) error = NULL;
  UsiHpkeContext *context;

  context = usi_hpke_setup_recipient (&party->parameters, enc, party->recipient_private,
                                      party_sender_public (party), &error);
  g_assert_no_error (error);
  g_assert_nonnull (context);

  return context;
}

static void
test_round_trip (void)
{
  static const gsize lengths[] = { 0, 1, 100, 5000 };
  static const guint8 aad[] = "header";
  guint count = 0;

  for (guint m = 0; m < G_N_ELEMENTS (all_modes); m++)
    {
      Party party;
      guint8 enc[USI_HPKE_ENC_LENGTH];
      g_autoptr(UsiHpkeContext) sender = NULL;
      g_autoptr(UsiHpkeContext) recipient = NULL;
      g_autoptr(GError) error = NULL;
      guint8 exported_sender[USI_HPKE_EXPORT_MAX_LENGTH];
      guint8 exported_recipient[USI_HPKE_EXPORT_MAX_LENGTH];

      party_init (&party, all_modes[m]);
      sender = party_setup_sender (&party, enc);
      recipient = party_setup_recipient (&party, enc);

      for (guint i = 0; i < G_N_ELEMENTS (lengths); i++)
        {
          gsize length = lengths[i];
          g_autofree guint8 *plaintext = g_malloc (length + 1);
          g_autofree guint8 *buffer = g_malloc (length + USI_HPKE_TAG_LENGTH);
          g_autofree guint8 *opened = g_malloc (length + 1);
          guint8 single_enc[USI_HPKE_ENC_LENGTH];

          for (gsize j = 0; j < length; j++)
            plaintext[j] = (guint8) (j * 7 + i);

          /* Sealed in place: the ciphertext may overwrite the plaintext. */
          memcpy (buffer, plaintext, length);
          usi_hpke_context_seal (sender, aad, sizeof aad, buffer, length, buffer, &error);
          g_assert_no_error (error);
          g_assert_true (length == 0 || memcmp (buffer, plaintext, length) != 0);
          usi_hpke_context_open (recipient, aad, sizeof aad, buffer, length + USI_HPKE_TAG_LENGTH,
                                 opened, &error);
          g_assert_no_error (error);
          usi_assert_bytes_equal (opened, length, plaintext, length);

          usi_hpke_seal (&party.parameters, party.random, party.recipient_public,
                         party_sender_private (&party), aad, sizeof aad, plaintext, length,
                         single_enc, buffer, &error);
          g_assert_no_error (error);
          /* Every single-shot seal has its own ephemeral key. */
          g_assert_true (memcmp (single_enc, enc, sizeof enc) != 0);
          usi_hpke_open (&party.parameters, single_enc, party.recipient_private,
                         party_sender_public (&party), aad, sizeof aad,
                         buffer, length + USI_HPKE_TAG_LENGTH, opened, &error);
          g_assert_no_error (error);
          usi_assert_bytes_equal (opened, length, plaintext, length);
          count++;
        }

      /* Both sides export the same secrets, up to the maximum length. */
      usi_hpke_context_export (sender, aad, sizeof aad, exported_sender, sizeof exported_sender, &error);
      g_assert_no_error (error);
      usi_hpke_context_export (recipient, aad, sizeof aad, exported_recipient, sizeof exported_recipient, &error);
      g_assert_no_error (error);
      g_assert_cmpmem (exported_sender, sizeof exported_sender, exported_recipient, sizeof exported_recipient);
      usi_hpke_context_export (sender, NULL, 0, exported_sender, 0, &error);
      g_assert_no_error (error);
      g_assert_false (usi_hpke_context_export (sender, aad, sizeof aad, exported_sender,
                                               USI_HPKE_EXPORT_MAX_LENGTH + 1, &error));
      g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);

      party_clear (&party);
    }

  usi_test_vectors_report ("HPKE round trips (4 modes x 4 lengths, context and single-shot)", count);
}

/* Every encoding of a point of small order (libsodium's list): with any
 * private key the X25519 result is all zeros.  The same with the ignored top
 * bit set must fail too. */
static const char *const low_order_points[] = {
  "0000000000000000000000000000000000000000000000000000000000000000",
  "0100000000000000000000000000000000000000000000000000000000000000",
  "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
  "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
  "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
  "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
};

static void
test_low_order_keys (void)
{
  guint count = 0;

  for (guint m = 0; m < G_N_ELEMENTS (all_modes); m++)
    {
      Party party;
      guint8 good_enc[USI_HPKE_ENC_LENGTH];
      g_autoptr(UsiHpkeContext) good_sender = NULL;

      party_init (&party, all_modes[m]);
      good_sender = party_setup_sender (&party, good_enc);

      for (guint p = 0; p < 2 * G_N_ELEMENTS (low_order_points); p++)
        {
          g_autoptr(GBytes) point_bytes = usi_test_hex (low_order_points[p / 2]);
          guint8 point[USI_HPKE_PUBLIC_KEY_LENGTH];
          guint8 enc[USI_HPKE_ENC_LENGTH];
          guint8 ciphertext[USI_HPKE_TAG_LENGTH + 1];
          guint8 plaintext[1] = { 0 };
          UsiHpkeContext *context;
          g_autoptr(GError) error = NULL;

          memcpy (point, data_of (point_bytes), sizeof point);
          if (p % 2 == 1)
            point[31] |= 0x80;

          /* As the recipient's key, for the sender. */
          context = usi_hpke_setup_sender (&party.parameters, party.random, point,
                                           party_sender_private (&party), enc, &error);
          g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_KEY);
          g_assert_null (context);
          g_clear_error (&error);
          g_assert_false (usi_hpke_seal (&party.parameters, party.random, point,
                                         party_sender_private (&party), NULL, 0, plaintext, 1,
                                         enc, ciphertext, &error));
          g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_KEY);
          g_clear_error (&error);

          /* As enc, for the recipient. */
          context = usi_hpke_setup_recipient (&party.parameters, point, party.recipient_private,
                                              party_sender_public (&party), &error);
          g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_KEY);
          g_assert_null (context);
          g_clear_error (&error);
          memset (ciphertext, 0, sizeof ciphertext);
          g_assert_false (usi_hpke_open (&party.parameters, point, party.recipient_private,
                                         party_sender_public (&party), NULL, 0,
                                         ciphertext, sizeof ciphertext, plaintext, &error));
          g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_KEY);
          g_clear_error (&error);

          /* As the sender's key, for the recipient of an Auth mode. */
          if (mode_is_auth (party.mode))
            {
              context = usi_hpke_setup_recipient (&party.parameters, good_enc, party.recipient_private,
                                                  point, &error);
              g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_KEY);
              g_assert_null (context);
              g_clear_error (&error);
            }
          count++;
        }

      party_clear (&party);
    }

  usi_test_vectors_report ("low-order and all-zero X25519 keys refused (4 modes, as pkR, enc and pkS)", count);
}

static void
expect_invalid_argument (const UsiHpkeParameters *parameters,
                         Party                   *party,
                         const guint8            *sender_private,
                         const guint8            *sender_public)
{
  guint8 enc[USI_HPKE_ENC_LENGTH];
  g_autoptr(UsiHpkeContext) good_sender = NULL;
  UsiHpkeContext *context;
  g_autoptr(GError) error = NULL;

  context = usi_hpke_setup_sender (parameters, party->random, party->recipient_public,
                                   sender_private, enc, &error);
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  g_assert_null (context);
  g_clear_error (&error);

  good_sender = party_setup_sender (party, enc);
  context = usi_hpke_setup_recipient (parameters, enc, party->recipient_private, sender_public, &error);
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  g_assert_null (context);
}

static void
test_mode_rules (void)
{
  static const guint8 short_psk[31] = { 1 };
  guint count = 0;

  for (guint m = 0; m < G_N_ELEMENTS (all_modes); m++)
    {
      Party party;
      UsiHpkeParameters parameters;

      party_init (&party, all_modes[m]);

      /* A psk without its id, and an id without its psk. */
      parameters = party.parameters;
      parameters.psk = party.psk;
      parameters.psk_length = sizeof party.psk;
      parameters.psk_id = NULL;
      parameters.psk_id_length = 0;
      expect_invalid_argument (&parameters, &party, party_sender_private (&party), party_sender_public (&party));
      parameters = party.parameters;
      parameters.psk = NULL;
      parameters.psk_length = 0;
      parameters.psk_id = test_psk_id;
      parameters.psk_id_length = sizeof test_psk_id - 1;
      expect_invalid_argument (&parameters, &party, party_sender_private (&party), party_sender_public (&party));
      count += 2;

      if (mode_uses_psk (party.mode))
        {
          /* PSK modes need both, and a psk of at least 32 bytes. */
          parameters = party.parameters;
          parameters.psk = NULL;
          parameters.psk_length = 0;
          parameters.psk_id = NULL;
          parameters.psk_id_length = 0;
          expect_invalid_argument (&parameters, &party, party_sender_private (&party), party_sender_public (&party));
          parameters = party.parameters;
          parameters.psk = short_psk;
          parameters.psk_length = sizeof short_psk;
          expect_invalid_argument (&parameters, &party, party_sender_private (&party), party_sender_public (&party));
          count += 2;
        }
      else
        {
          /* Base and Auth take no psk at all. */
          parameters = party.parameters;
          parameters.psk = party.psk;
          parameters.psk_length = sizeof party.psk;
          parameters.psk_id = test_psk_id;
          parameters.psk_id_length = sizeof test_psk_id - 1;
          expect_invalid_argument (&parameters, &party, party_sender_private (&party), party_sender_public (&party));
          count++;
        }

      /* A sender key exactly in the Auth modes. */
      if (mode_is_auth (party.mode))
        expect_invalid_argument (&party.parameters, &party, NULL, NULL);
      else
        expect_invalid_argument (&party.parameters, &party, party.sender_private, party.sender_public);
      count++;

      party_clear (&party);
    }

  usi_test_vectors_report ("HPKE mode rules (psk/psk_id/sender key) refused as INVALID_ARGUMENT", count);
}

/* Seals "message" with @party and expects opening with the changed
 * @parameters / keys to fail authentication. */
static void
expect_open_fails (Party                   *party,
                   const UsiHpkeParameters *parameters,
                   const guint8            *recipient_private,
                   const guint8            *sender_public)
{
  static const guint8 message[] = "message";
  guint8 enc[USI_HPKE_ENC_LENGTH];
  guint8 ciphertext[sizeof message + USI_HPKE_TAG_LENGTH];
  guint8 opened[sizeof message];
  g_autoptr(GError) error = NULL;

  usi_hpke_seal (&party->parameters, party->random, party->recipient_public, party_sender_private (party),
                 NULL, 0, message, sizeof message, enc, ciphertext, &error);
  g_assert_no_error (error);
  g_assert_false (usi_hpke_open (parameters, enc, recipient_private, sender_public, NULL, 0,
                                 ciphertext, sizeof ciphertext, opened, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
}

static void
test_wrong_inputs (void)
{
  static const guint8 other_psk_id[] = "usi test psk!";
  static const guint8 other_info[] = "usi hpke test infO";
  guint count = 0;

  for (guint m = 0; m < G_N_ELEMENTS (all_modes); m++)
    {
      Party party;
      UsiHpkeParameters parameters;
      guint8 other_private[USI_HPKE_PRIVATE_KEY_LENGTH];
      guint8 other_public[USI_HPKE_PUBLIC_KEY_LENGTH];
      g_autoptr(GError) error = NULL;

      party_init (&party, all_modes[m]);
      usi_hpke_generate_key_pair (party.random, other_private, other_public, &error);
      g_assert_no_error (error);

      /* The wrong recipient key. */
      expect_open_fails (&party, &party.parameters, other_private, party_sender_public (&party));
      /* Other info. */
      parameters = party.parameters;
      parameters.info = other_info;
      expect_open_fails (&party, &parameters, party.recipient_private, party_sender_public (&party));
      count += 2;

      if (mode_uses_psk (party.mode))
        {
          guint8 other_psk[32];

          parameters = party.parameters;
          parameters.psk_id = other_psk_id;
          parameters.psk_id_length = sizeof other_psk_id - 1;
          expect_open_fails (&party, &parameters, party.recipient_private, party_sender_public (&party));
          memcpy (other_psk, party.psk, sizeof other_psk);
          other_psk[31] ^= 0x01;
          parameters = party.parameters;
          parameters.psk = other_psk;
          expect_open_fails (&party, &parameters, party.recipient_private, party_sender_public (&party));
          count += 2;
        }
      if (mode_is_auth (party.mode))
        {
          /* Someone else claims to have sent it. */
          expect_open_fails (&party, &party.parameters, party.recipient_private, other_public);
          count++;
        }
      else
        {
          /* Sealed without authentication: an Auth recipient must not accept it.
           * (The mode byte differs, so this is a different key schedule.) */
          parameters = party.parameters;
          parameters.mode = party.mode == USI_HPKE_MODE_BASE ? USI_HPKE_MODE_AUTH : USI_HPKE_MODE_AUTH_PSK;
          expect_open_fails (&party, &parameters, party.recipient_private, party.sender_public);
          count++;
        }

      party_clear (&party);
    }

  usi_test_vectors_report ("HPKE opens with a wrong key, info, psk, psk_id or sender refused", count);
}

static void
test_tampering (void)
{
  static const guint8 message[] = "a message that must arrive intact";
  static const guint8 aad[] = "room 7, epoch 3";
  guint count = 0;

  for (guint m = 0; m < G_N_ELEMENTS (all_modes); m++)
    {
      Party party;
      guint8 enc[USI_HPKE_ENC_LENGTH];
      guint8 ciphertext[sizeof message + USI_HPKE_TAG_LENGTH + 1];
      guint8 changed[sizeof ciphertext];
      guint8 opened[sizeof message + 1];
      guint8 changed_aad[sizeof aad];
      guint8 changed_enc[sizeof enc];
      g_autoptr(GError) error = NULL;
      const gsize length = sizeof message + USI_HPKE_TAG_LENGTH;

      party_init (&party, all_modes[m]);
      usi_hpke_seal (&party.parameters, party.random, party.recipient_public, party_sender_private (&party),
                     aad, sizeof aad, message, sizeof message, enc, ciphertext, &error);
      g_assert_no_error (error);
      ciphertext[length] = 0;

      for (gsize bit = 0; bit < 8 * sizeof enc; bit++)
        {
          memcpy (changed_enc, enc, sizeof enc);
          changed_enc[bit / 8] ^= 1 << (bit % 8);
          g_assert_false (usi_hpke_open (&party.parameters, changed_enc, party.recipient_private,
                                         party_sender_public (&party), aad, sizeof aad,
                                         ciphertext, length, opened, &error));
          g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
          g_clear_error (&error);
          count++;
        }
      for (gsize bit = 0; bit < 8 * length; bit++)
        {
          memcpy (changed, ciphertext, length);
          changed[bit / 8] ^= 1 << (bit % 8);
          g_assert_false (usi_hpke_open (&party.parameters, enc, party.recipient_private,
                                         party_sender_public (&party), aad, sizeof aad,
                                         changed, length, opened, &error));
          g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
          g_clear_error (&error);
          count++;
        }
      for (gsize bit = 0; bit < 8 * sizeof aad; bit++)
        {
          memcpy (changed_aad, aad, sizeof aad);
          changed_aad[bit / 8] ^= 1 << (bit % 8);
          g_assert_false (usi_hpke_open (&party.parameters, enc, party.recipient_private,
                                         party_sender_public (&party), changed_aad, sizeof changed_aad,
                                         ciphertext, length, opened, &error));
          g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
          g_clear_error (&error);
          count++;
        }
      /* Truncated at every length (including shorter than a tag), one byte
       * too long, and with the aad left out. */
      for (gsize cut = 0; cut <= length + 1; cut++)
        {
          if (cut == length)
            continue;
          g_assert_false (usi_hpke_open (&party.parameters, enc, party.recipient_private,
                                         party_sender_public (&party), aad, sizeof aad,
                                         ciphertext, cut, opened, &error));
          g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
          g_clear_error (&error);
          count++;
        }
      g_assert_false (usi_hpke_open (&party.parameters, enc, party.recipient_private,
                                     party_sender_public (&party), NULL, 0,
                                     ciphertext, length, opened, &error));
      g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
      g_clear_error (&error);
      count++;

      /* And untouched, it opens. */
      usi_hpke_open (&party.parameters, enc, party.recipient_private, party_sender_public (&party),
                     aad, sizeof aad, ciphertext, length, opened, &error);
      g_assert_no_error (error);
      g_assert_cmpmem (opened, sizeof message, message, sizeof message);

      party_clear (&party);
    }

  usi_test_vectors_report ("tampered enc/ciphertext/aad and truncations refused (bit flips, 4 modes)", count);
}

static void
test_sequence_order (void)
{
  static const guint8 first[] = "first";
  static const guint8 second[] = "secnd";
  Party party;
  guint8 enc[USI_HPKE_ENC_LENGTH];
  guint8 first_sealed[sizeof first + USI_HPKE_TAG_LENGTH];
  guint8 second_sealed[sizeof second + USI_HPKE_TAG_LENGTH];
  guint8 opened[sizeof first];
  g_autoptr(UsiHpkeContext) sender = NULL;
  g_autoptr(UsiHpkeContext) recipient = NULL;
  g_autoptr(GError) error = NULL;

  G_STATIC_ASSERT (sizeof first == sizeof second);

  party_init (&party, USI_HPKE_MODE_BASE);
  sender = party_setup_sender (&party, enc);
  recipient = party_setup_recipient (&party, enc);
  usi_hpke_context_seal (sender, NULL, 0, first, sizeof first, first_sealed, &error);
  g_assert_no_error (error);
  usi_hpke_context_seal (sender, NULL, 0, second, sizeof second, second_sealed, &error);
  g_assert_no_error (error);

  /* The same plaintext length, but another nonce. */
  g_assert_false (usi_hpke_context_open (recipient, NULL, 0, second_sealed, sizeof second_sealed, opened, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
  g_clear_error (&error);
  /* The single-shot open is sequence number 0 too: it cannot take the second. */
  g_assert_false (usi_hpke_open (&party.parameters, enc, party.recipient_private, NULL, NULL, 0,
                                 second_sealed, sizeof second_sealed, opened, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
  g_clear_error (&error);

  /* The failure did not move the sequence number on. */
  usi_hpke_context_open (recipient, NULL, 0, first_sealed, sizeof first_sealed, opened, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (opened, sizeof opened, first, sizeof first);
  usi_hpke_context_open (recipient, NULL, 0, second_sealed, sizeof second_sealed, opened, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (opened, sizeof opened, second, sizeof second);

  /* A replay is the wrong sequence number. */
  g_assert_false (usi_hpke_context_open (recipient, NULL, 0, second_sealed, sizeof second_sealed, opened, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);

  party_clear (&party);
}

static void
test_sequence_limit (void)
{
  static const guint8 message[] = "last";
  Party party;
  guint8 enc[USI_HPKE_ENC_LENGTH];
  guint8 sealed[sizeof message + USI_HPKE_TAG_LENGTH];
  guint8 opened[sizeof message];
  g_autoptr(UsiHpkeContext) sender = NULL;
  g_autoptr(UsiHpkeContext) recipient = NULL;
  g_autoptr(GError) error = NULL;

  party_init (&party, USI_HPKE_MODE_AUTH_PSK);
  sender = party_setup_sender (&party, enc);
  recipient = party_setup_recipient (&party, enc);
  usi_hpke_context_set_sequence_for_test (sender, G_MAXUINT64 - 1);
  usi_hpke_context_set_sequence_for_test (recipient, G_MAXUINT64 - 1);

  /* The last sequence number still works on both sides... */
  usi_hpke_context_seal (sender, NULL, 0, message, sizeof message, sealed, &error);
  g_assert_no_error (error);
  usi_hpke_context_open (recipient, NULL, 0, sealed, sizeof sealed, opened, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (opened, sizeof opened, message, sizeof message);

  /* ...and then the context is used up instead of wrapping to nonce 0. */
  g_assert_false (usi_hpke_context_seal (sender, NULL, 0, message, sizeof message, sealed, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_LIMIT);
  g_clear_error (&error);
  g_assert_false (usi_hpke_context_open (recipient, NULL, 0, sealed, sizeof sealed, opened, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_LIMIT);
  g_clear_error (&error);

  /* Exports still work: they do not use sequence numbers. */
  usi_hpke_context_export (sender, NULL, 0, opened, sizeof opened, &error);
  g_assert_no_error (error);

  party_clear (&party);
}

static void
test_derive_key_pair (void)
{
  guint8 ikm[32] = { 0 };
  guint8 private_key[USI_HPKE_PRIVATE_KEY_LENGTH];
  guint8 public_key[USI_HPKE_PUBLIC_KEY_LENGTH];
  guint8 other_private[USI_HPKE_PRIVATE_KEY_LENGTH];
  guint8 other_public[USI_HPKE_PUBLIC_KEY_LENGTH];
  g_autoptr(GError) error = NULL;

  g_assert_false (usi_hpke_derive_key_pair (ikm, 31, private_key, public_key, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  /* Deterministic, and every input bit matters. */
  usi_hpke_derive_key_pair (ikm, sizeof ikm, private_key, public_key, &error);
  g_assert_no_error (error);
  usi_hpke_derive_key_pair (ikm, sizeof ikm, other_private, other_public, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (private_key, sizeof private_key, other_private, sizeof other_private);
  g_assert_cmpmem (public_key, sizeof public_key, other_public, sizeof other_public);
  ikm[31] ^= 0x80;
  usi_hpke_derive_key_pair (ikm, sizeof ikm, other_private, other_public, &error);
  g_assert_no_error (error);
  g_assert_true (memcmp (private_key, other_private, sizeof private_key) != 0);
  g_assert_true (memcmp (public_key, other_public, sizeof public_key) != 0);
}

static void
test_random_failure (void)
{
  static const guint8 too_little[31] = { 0 };
  g_autoptr(UsiRandom) random = usi_random_new_fixed (too_little, sizeof too_little);
  Party party;
  guint8 enc[USI_HPKE_ENC_LENGTH];
  guint8 private_key[USI_HPKE_PRIVATE_KEY_LENGTH];
  guint8 public_key[USI_HPKE_PUBLIC_KEY_LENGTH];
  UsiHpkeContext *context;
  g_autoptr(GError) error = NULL;

  party_init (&party, USI_HPKE_MODE_BASE);
  context = usi_hpke_setup_sender (&party.parameters, random, party.recipient_public, NULL, enc, &error);
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_RANDOM);
  g_assert_null (context);
  g_clear_error (&error);
  g_assert_false (usi_hpke_generate_key_pair (random, private_key, public_key, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_RANDOM);

  party_clear (&party);
}

static void
test_roles (void)
{
  static const guint8 message[] = "x";
  Party party;
  guint8 enc[USI_HPKE_ENC_LENGTH];
  guint8 sealed[sizeof message + USI_HPKE_TAG_LENGTH];
  guint8 opened[sizeof message];
  g_autoptr(UsiHpkeContext) sender = NULL;
  g_autoptr(UsiHpkeContext) recipient = NULL;

  party_init (&party, USI_HPKE_MODE_BASE);
  sender = party_setup_sender (&party, enc);
  recipient = party_setup_recipient (&party, enc);

  /* A sender context cannot open, nor a recipient context seal (RFC 9180 §5.2). */
  g_test_expect_message ("usi-crypto", G_LOG_LEVEL_CRITICAL, "*is_sender*");
  g_assert_false (usi_hpke_context_seal (recipient, NULL, 0, message, sizeof message, sealed, NULL));
  g_test_assert_expected_messages ();
  usi_hpke_context_seal (sender, NULL, 0, message, sizeof message, sealed, NULL);
  g_test_expect_message ("usi-crypto", G_LOG_LEVEL_CRITICAL, "*is_sender*");
  g_assert_false (usi_hpke_context_open (sender, NULL, 0, sealed, sizeof sealed, opened, NULL));
  g_test_assert_expected_messages ();

  party_clear (&party);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_data_func ("/crypto/hpke/base/vectors", GINT_TO_POINTER (USI_HPKE_MODE_BASE), test_vectors);
  g_test_add_data_func ("/crypto/hpke/psk/vectors", GINT_TO_POINTER (USI_HPKE_MODE_PSK), test_vectors);
  g_test_add_data_func ("/crypto/hpke/auth/vectors", GINT_TO_POINTER (USI_HPKE_MODE_AUTH), test_vectors);
  g_test_add_data_func ("/crypto/hpke/auth-psk/vectors", GINT_TO_POINTER (USI_HPKE_MODE_AUTH_PSK), test_vectors);
  g_test_add_func ("/crypto/hpke/round-trip", test_round_trip);
  g_test_add_func ("/crypto/hpke/low-order-keys", test_low_order_keys);
  g_test_add_func ("/crypto/hpke/mode-rules", test_mode_rules);
  g_test_add_func ("/crypto/hpke/wrong-inputs", test_wrong_inputs);
  g_test_add_func ("/crypto/hpke/tampering", test_tampering);
  g_test_add_func ("/crypto/hpke/sequence-order", test_sequence_order);
  g_test_add_func ("/crypto/hpke/sequence-limit", test_sequence_limit);
  g_test_add_func ("/crypto/hpke/derive-key-pair", test_derive_key_pair);
  g_test_add_func ("/crypto/hpke/random-failure", test_random_failure);
  g_test_add_func ("/crypto/hpke/roles", test_roles);

  return g_test_run ();
}
