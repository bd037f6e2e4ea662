/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The RFC 9420 §8 key schedule (cipher suite 3): from the previous epoch's
 * init_secret, the commit secret, the PSK secret and the GroupContext to every
 * secret of an epoch, plus the exporter and the PSK chain.  Intermediate
 * secrets are wiped before returning, on every path.  No I/O, no state. */

#define G_LOG_DOMAIN "usi-crypto"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "usi-crypto-error.h"
#include "usi-digest.h"
#include "usi-mls-key-schedule.h"
#include "usi-mls-varint.h"
#include "usi-secret.h"

static const guint8 zero_secret[USI_MLS_HASH_LENGTH] = { 0 };

void
usi_mls_epoch_secrets_clear (UsiMlsEpochSecrets *secrets)
{
  if (secrets != NULL)
    usi_secret_wipe (secrets, sizeof *secrets);
}

static void
append_uint16 (GByteArray *array,
               guint16     value)
{
  guint8 bytes[2] = { (guint8) (value >> 8), (guint8) value };

  g_byte_array_append (array, bytes, sizeof bytes);
}

GBytes *
usi_mls_group_context_serialize (guint16        cipher_suite,
                                 const guint8  *group_id,
                                 gsize          group_id_length,
                                 guint64        epoch,
                                 const guint8  *tree_hash,
                                 gsize          tree_hash_length,
                                 const guint8  *confirmed_transcript_hash,
                                 gsize          confirmed_transcript_hash_length,
                                 const guint8  *extensions,
                                 gsize          extensions_length,
                                 GError       **error)
{
  g_autoptr(GByteArray) context = NULL;
  guint64 epoch_be = GUINT64_TO_BE (epoch);

  g_return_val_if_fail (group_id != NULL || group_id_length == 0, NULL);
  g_return_val_if_fail (tree_hash != NULL || tree_hash_length == 0, NULL);
  g_return_val_if_fail (confirmed_transcript_hash != NULL || confirmed_transcript_hash_length == 0, NULL);
  g_return_val_if_fail (extensions != NULL || extensions_length == 0, NULL);

  context = g_byte_array_sized_new (64 + group_id_length + tree_hash_length +
                                    confirmed_transcript_hash_length + extensions_length);
  append_uint16 (context, USI_MLS_PROTOCOL_VERSION_MLS10);
  append_uint16 (context, cipher_suite);
  if (!usi_mls_varint_append_opaque (context, group_id, group_id_length, error))
    return NULL;
  g_byte_array_append (context, (const guint8 *) &epoch_be, sizeof epoch_be);
  if (!usi_mls_varint_append_opaque (context, tree_hash, tree_hash_length, error) ||
      !usi_mls_varint_append_opaque (context, confirmed_transcript_hash,
                                     confirmed_transcript_hash_length, error) ||
      !usi_mls_varint_append_opaque (context, extensions, extensions_length, error))
    return NULL;

  return g_byte_array_free_to_bytes (g_steal_pointer (&context));
}

static gboolean
derive_epoch_secrets (const char          *prefix,
                      UsiMlsEpochSecrets  *secrets,
                      GError             **error)
{
  const guint8 *epoch_secret = secrets->epoch_secret;

  return usi_mls_derive_secret (prefix, epoch_secret, "sender data", secrets->sender_data_secret, error) &&
         usi_mls_derive_secret (prefix, epoch_secret, "encryption", secrets->encryption_secret, error) &&
         usi_mls_derive_secret (prefix, epoch_secret, "exporter", secrets->exporter_secret, error) &&
         usi_mls_derive_secret (prefix, epoch_secret, "external", secrets->external_secret, error) &&
         usi_mls_derive_secret (prefix, epoch_secret, "confirm", secrets->confirmation_key, error) &&
         usi_mls_derive_secret (prefix, epoch_secret, "membership", secrets->membership_key, error) &&
         usi_mls_derive_secret (prefix, epoch_secret, "resumption", secrets->resumption_psk, error) &&
         usi_mls_derive_secret (prefix, epoch_secret, "authentication", secrets->epoch_authenticator, error) &&
         usi_mls_derive_secret (prefix, epoch_secret, "init", secrets->init_secret, error);
}

/* Everything below joiner_secret, which must already be in @secrets. */
static gboolean
derive_from_joiner (const char          *prefix,
                    const guint8        *psk_secret,
                    const guint8        *group_context,
                    gsize                group_context_length,
                    UsiMlsEpochSecrets  *secrets,
                    GError             **error)
{
  guint8 member_secret[USI_MLS_HASH_LENGTH];
  gboolean ok;

  ok = usi_hkdf_extract (USI_HASH_SHA256, secrets->joiner_secret, USI_MLS_HASH_LENGTH,
                         psk_secret ? psk_secret : zero_secret, USI_MLS_HASH_LENGTH,
                         member_secret, error) &&
       usi_mls_derive_secret (prefix, member_secret, "welcome", secrets->welcome_secret, error) &&
       usi_mls_expand_with_label (prefix, member_secret, "epoch", group_context, group_context_length,
                                  secrets->epoch_secret, USI_MLS_HASH_LENGTH, error) &&
       derive_epoch_secrets (prefix, secrets, error);
  usi_secret_wipe (member_secret, sizeof member_secret);

  return ok;
}

/* The results go to a local first and are copied out only at the end, so
 * inputs may point into @secrets (the previous epoch's init_secret, say). */
static gboolean
finish (UsiMlsEpochSecrets  *fresh,
        gboolean             ok,
        UsiMlsEpochSecrets  *secrets)
{
  if (ok)
    memcpy (secrets, fresh, sizeof *secrets);
  else
    usi_mls_epoch_secrets_clear (secrets);
  usi_mls_epoch_secrets_clear (fresh);

  return ok;
}

gboolean
usi_mls_key_schedule_derive_from_joiner (const char          *prefix,
                                         const guint8        *joiner_secret,
                                         const guint8        *psk_secret,
                                         const guint8        *group_context,
                                         gsize                group_context_length,
                                         UsiMlsEpochSecrets  *secrets,
                                         GError             **error)
{
  UsiMlsEpochSecrets fresh = { { 0 } };
  gboolean ok;

  g_return_val_if_fail (prefix != NULL, FALSE);
  g_return_val_if_fail (joiner_secret != NULL, FALSE);
  g_return_val_if_fail (group_context != NULL || group_context_length == 0, FALSE);
  g_return_val_if_fail (secrets != NULL, FALSE);

  memcpy (fresh.joiner_secret, joiner_secret, USI_MLS_HASH_LENGTH);
  ok = derive_from_joiner (prefix, psk_secret, group_context, group_context_length, &fresh, error);

  return finish (&fresh, ok, secrets);
}

gboolean
usi_mls_key_schedule_derive (const char          *prefix,
                             const guint8        *init_secret,
                             const guint8        *commit_secret,
                             const guint8        *psk_secret,
                             const guint8        *group_context,
                             gsize                group_context_length,
                             UsiMlsEpochSecrets  *secrets,
                             GError             **error)
{
  UsiMlsEpochSecrets fresh = { { 0 } };
  guint8 pre_joiner_secret[USI_MLS_HASH_LENGTH];
  gboolean ok;

  g_return_val_if_fail (prefix != NULL, FALSE);
  g_return_val_if_fail (init_secret != NULL, FALSE);
  g_return_val_if_fail (group_context != NULL || group_context_length == 0, FALSE);
  g_return_val_if_fail (secrets != NULL, FALSE);

  ok = usi_hkdf_extract (USI_HASH_SHA256, init_secret, USI_MLS_HASH_LENGTH,
                         commit_secret ? commit_secret : zero_secret, USI_MLS_HASH_LENGTH,
                         pre_joiner_secret, error) &&
       usi_mls_expand_with_label (prefix, pre_joiner_secret, "joiner", group_context, group_context_length,
                                  fresh.joiner_secret, USI_MLS_HASH_LENGTH, error) &&
       derive_from_joiner (prefix, psk_secret, group_context, group_context_length, &fresh, error);
  usi_secret_wipe (pre_joiner_secret, sizeof pre_joiner_secret);

  return finish (&fresh, ok, secrets);
}

gboolean
usi_mls_exporter (const char    *prefix,
                  const guint8  *exporter_secret,
                  const char    *label,
                  const guint8  *context,
                  gsize          context_length,
                  guint8        *out,
                  gsize          out_length,
                  GError       **error)
{
  guint8 derived_secret[USI_MLS_HASH_LENGTH];
  guint8 context_hash[USI_MLS_HASH_LENGTH];
  gboolean ok;

  g_return_val_if_fail (prefix != NULL, FALSE);
  g_return_val_if_fail (exporter_secret != NULL, FALSE);
  g_return_val_if_fail (label != NULL, FALSE);
  g_return_val_if_fail (context != NULL || context_length == 0, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);

  ok = usi_mls_derive_secret (prefix, exporter_secret, label, derived_secret, error) &&
       usi_hash (USI_HASH_SHA256, context, context_length, context_hash, error) &&
       usi_mls_expand_with_label (prefix, derived_secret, "exported", context_hash, sizeof context_hash,
                                  out, out_length, error);
  usi_secret_wipe (derived_secret, sizeof derived_secret);

  return ok;
}

gboolean
usi_mls_psk_id_append_external (GByteArray    *array,
                                const guint8  *psk_id,
                                gsize          psk_id_length,
                                const guint8  *psk_nonce,
                                gsize          psk_nonce_length,
                                GError       **error)
{
  const guint8 psk_type_external = 1;
  guint original_length;

  g_return_val_if_fail (array != NULL, FALSE);
  g_return_val_if_fail (psk_id != NULL || psk_id_length == 0, FALSE);
  g_return_val_if_fail (psk_nonce != NULL || psk_nonce_length == 0, FALSE);

  original_length = array->len;
  g_byte_array_append (array, &psk_type_external, 1);
  if (!usi_mls_varint_append_opaque (array, psk_id, psk_id_length, error) ||
      !usi_mls_varint_append_opaque (array, psk_nonce, psk_nonce_length, error))
    {
      g_byte_array_set_size (array, original_length);
      return FALSE;
    }

  return TRUE;
}

gboolean
usi_mls_psk_secret (const char       *prefix,
                    const UsiMlsPsk  *psks,
                    gsize             n_psks,
                    guint8           *psk_secret,
                    GError          **error)
{
  g_autoptr(GByteArray) psk_label = NULL;
  guint8 extracted[USI_MLS_HASH_LENGTH];
  guint8 input[USI_MLS_HASH_LENGTH];
  guint8 chained[USI_MLS_HASH_LENGTH] = { 0 };
  guint8 next[USI_MLS_HASH_LENGTH];
  gboolean ok = TRUE;

  g_return_val_if_fail (prefix != NULL, FALSE);
  g_return_val_if_fail (psks != NULL || n_psks == 0, FALSE);
  g_return_val_if_fail (psk_secret != NULL, FALSE);

  /* PSKLabel.count is a uint16. */
  if (n_psks > G_MAXUINT16)
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                           _("Too many pre-shared keys"));
      return FALSE;
    }

  for (gsize i = 0; i < n_psks; i++)
    {
      g_return_val_if_fail (psks[i].id != NULL || psks[i].id_length == 0, FALSE);
      g_return_val_if_fail (psks[i].psk != NULL || psks[i].psk_length == 0, FALSE);
    }

  psk_label = g_byte_array_new ();
  for (gsize i = 0; ok && i < n_psks; i++)
    {
      g_byte_array_set_size (psk_label, 0);
      g_byte_array_append (psk_label, psks[i].id, (guint) psks[i].id_length);
      append_uint16 (psk_label, (guint16) i);
      append_uint16 (psk_label, (guint16) n_psks);

      ok = usi_hkdf_extract (USI_HASH_SHA256, zero_secret, sizeof zero_secret,
                             psks[i].psk, psks[i].psk_length, extracted, error) &&
           usi_mls_expand_with_label (prefix, extracted, "derived psk", psk_label->data, psk_label->len,
                                      input, sizeof input, error) &&
           usi_hkdf_extract (USI_HASH_SHA256, input, sizeof input, chained, sizeof chained,
                             next, error);
      if (ok)
        memcpy (chained, next, sizeof chained);
    }

  if (ok)
    memcpy (psk_secret, chained, sizeof chained);
  usi_secret_wipe (extracted, sizeof extracted);
  usi_secret_wipe (input, sizeof input);
  usi_secret_wipe (chained, sizeof chained);
  usi_secret_wipe (next, sizeof next);

  return ok;
}
