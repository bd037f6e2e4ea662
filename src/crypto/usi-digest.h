/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  USI_HASH_SHA256,
  USI_HASH_SHA512,
} UsiHash;

#define USI_HASH_MAX_LENGTH 64

gsize         usi_hash_get_length     (UsiHash        hash);

gboolean      usi_hash                (UsiHash        hash,
                                       const guint8  *data,
                                       gsize          length,
                                       guint8        *digest,
                                       GError       **error);

/* Incremental hashing, for streams (file ciphertext, iterated fingerprints). */
typedef struct _UsiHashState UsiHashState;

UsiHashState *usi_hash_state_new      (UsiHash        hash,
                                       GError       **error);
gboolean      usi_hash_state_update   (UsiHashState  *state,
                                       const guint8  *data,
                                       gsize          length,
                                       GError       **error);
/* Writes usi_hash_get_length() bytes; the state cannot be updated afterwards. */
gboolean      usi_hash_state_finish   (UsiHashState  *state,
                                       guint8        *digest,
                                       GError       **error);
void          usi_hash_state_free     (UsiHashState  *state);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiHashState, usi_hash_state_free)

/* Writes usi_hash_get_length() bytes to @mac. */
gboolean      usi_hmac                (UsiHash        hash,
                                       const guint8  *key,
                                       gsize          key_length,
                                       const guint8  *data,
                                       gsize          length,
                                       guint8        *mac,
                                       GError       **error);

/* RFC 5869.  @salt may be NULL (a string of zeros of the hash length). */
gboolean      usi_hkdf_extract        (UsiHash        hash,
                                       const guint8  *salt,
                                       gsize          salt_length,
                                       const guint8  *ikm,
                                       gsize          ikm_length,
                                       guint8        *prk,
                                       GError       **error);
#define USI_HKDF_MIN_PRK_LENGTH 32

/* Fails with USI_CRYPTO_ERROR_INVALID_ARGUMENT past 255 × the hash length, or
 * for a @prk shorter than USI_HKDF_MIN_PRK_LENGTH. */
gboolean      usi_hkdf_expand         (UsiHash        hash,
                                       const guint8  *prk,
                                       gsize          prk_length,
                                       const guint8  *info,
                                       gsize          info_length,
                                       guint8        *okm,
                                       gsize          okm_length,
                                       GError       **error);
gboolean      usi_hkdf                (UsiHash        hash,
                                       const guint8  *salt,
                                       gsize          salt_length,
                                       const guint8  *ikm,
                                       gsize          ikm_length,
                                       const guint8  *info,
                                       gsize          info_length,
                                       guint8        *okm,
                                       gsize          okm_length,
                                       GError       **error);

G_END_DECLS
