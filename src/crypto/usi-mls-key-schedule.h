/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

#include "usi-mls-labels.h"

G_BEGIN_DECLS

/* The RFC 9420 §8 key schedule, cipher suite 3.  Every secret is
 * USI_MLS_HASH_LENGTH bytes; @prefix is the label prefix (see
 * usi-mls-labels.h). */

#define USI_MLS_PROTOCOL_VERSION_MLS10 1
#define USI_MLS_CIPHER_SUITE_3         3

typedef struct
{
  guint8 joiner_secret[USI_MLS_HASH_LENGTH];
  guint8 welcome_secret[USI_MLS_HASH_LENGTH];
  guint8 epoch_secret[USI_MLS_HASH_LENGTH];
  guint8 sender_data_secret[USI_MLS_HASH_LENGTH];
  guint8 encryption_secret[USI_MLS_HASH_LENGTH];
  guint8 exporter_secret[USI_MLS_HASH_LENGTH];
  guint8 external_secret[USI_MLS_HASH_LENGTH];
  guint8 confirmation_key[USI_MLS_HASH_LENGTH];
  guint8 membership_key[USI_MLS_HASH_LENGTH];
  guint8 resumption_psk[USI_MLS_HASH_LENGTH];
  guint8 epoch_authenticator[USI_MLS_HASH_LENGTH];
  guint8 init_secret[USI_MLS_HASH_LENGTH]; /* the next epoch's init_secret */
} UsiMlsEpochSecrets;

/* Wipes every secret; for g_auto(UsiMlsEpochSecrets) secrets = { 0 }. */
void     usi_mls_epoch_secrets_clear             (UsiMlsEpochSecrets  *secrets);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (UsiMlsEpochSecrets, usi_mls_epoch_secrets_clear)

/* Serializes GroupContext { version = mls10, cipher_suite, group_id<V>,
 * uint64 epoch, tree_hash<V>, confirmed_transcript_hash<V>, extensions<V> }.
 * @extensions is the already-encoded content of the extensions vector (the
 * concatenated Extension structs; empty for none). */
GBytes  *usi_mls_group_context_serialize         (guint16              cipher_suite,
                                                  const guint8        *group_id,
                                                  gsize                group_id_length,
                                                  guint64              epoch,
                                                  const guint8        *tree_hash,
                                                  gsize                tree_hash_length,
                                                  const guint8        *confirmed_transcript_hash,
                                                  gsize                confirmed_transcript_hash_length,
                                                  const guint8        *extensions,
                                                  gsize                extensions_length,
                                                  GError             **error);

/* A member's path: init_secret of the previous epoch + commit_secret →
 * joiner_secret → every secret of the new epoch.  @commit_secret and
 * @psk_secret may be NULL for the all-zero value.  @group_context is the
 * serialized GroupContext of the new epoch.  Inputs may point into @secrets;
 * on failure @secrets is cleared.  Wiping the inputs (the previous epoch's
 * secrets, commit_secret) is the caller's part of the deletion schedule. */
gboolean usi_mls_key_schedule_derive             (const char          *prefix,
                                                  const guint8        *init_secret,
                                                  const guint8        *commit_secret,
                                                  const guint8        *psk_secret,
                                                  const guint8        *group_context,
                                                  gsize                group_context_length,
                                                  UsiMlsEpochSecrets  *secrets,
                                                  GError             **error);
/* A joiner's path: from the joiner_secret received in a Welcome. */
gboolean usi_mls_key_schedule_derive_from_joiner (const char          *prefix,
                                                  const guint8        *joiner_secret,
                                                  const guint8        *psk_secret,
                                                  const guint8        *group_context,
                                                  gsize                group_context_length,
                                                  UsiMlsEpochSecrets  *secrets,
                                                  GError             **error);

/* MLS-Exporter(label, context, out_length) =
 *   ExpandWithLabel(DeriveSecret(exporter_secret, label), "exported",
 *                   Hash(context), out_length). */
gboolean usi_mls_exporter                        (const char          *prefix,
                                                  const guint8        *exporter_secret,
                                                  const char          *label,
                                                  const guint8        *context,
                                                  gsize                context_length,
                                                  guint8              *out,
                                                  gsize                out_length,
                                                  GError             **error);

/* One pre-shared key for psk_secret: @id is the serialized PreSharedKeyID. */
typedef struct
{
  const guint8 *id;
  gsize         id_length;
  const guint8 *psk;
  gsize         psk_length;
} UsiMlsPsk;

/* Appends PreSharedKeyID { psktype = external (1), psk_id<V>, psk_nonce<V> }. */
gboolean usi_mls_psk_id_append_external          (GByteArray          *array,
                                                  const guint8        *psk_id,
                                                  gsize                psk_id_length,
                                                  const guint8        *psk_nonce,
                                                  gsize                psk_nonce_length,
                                                  GError             **error);
/* §8.4: chains the PSKs (at most 65535) with PSKLabel { id, index, count }
 * into USI_MLS_HASH_LENGTH bytes; no PSK gives the all-zero value. */
gboolean usi_mls_psk_secret                      (const char          *prefix,
                                                  const UsiMlsPsk     *psks,
                                                  gsize                n_psks,
                                                  guint8              *psk_secret,
                                                  GError             **error);

G_END_DECLS
