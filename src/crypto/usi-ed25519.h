/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "usi-random.h"

G_BEGIN_DECLS

#define USI_ED25519_SEED_LENGTH       32
#define USI_ED25519_PUBLIC_KEY_LENGTH 32
#define USI_ED25519_SIGNATURE_LENGTH  64

gboolean usi_ed25519_generate         (UsiRandom     *random,
                                       guint8        *seed,
                                       guint8        *public_key,
                                       GError       **error);
gboolean usi_ed25519_public_from_seed (const guint8  *seed,
                                       guint8        *public_key,
                                       GError       **error);
gboolean usi_ed25519_sign             (const guint8  *seed,
                                       const guint8  *message,
                                       gsize          length,
                                       guint8        *signature,
                                       GError       **error);
/* USI_CRYPTO_ERROR_AUTHENTICATION when the signature does not verify;
 * USI_CRYPTO_ERROR_INVALID_KEY when the public key does not decode. */
gboolean usi_ed25519_verify           (const guint8  *public_key,
                                       const guint8  *message,
                                       gsize          length,
                                       const guint8  *signature,
                                       gsize          signature_length,
                                       GError       **error);

/* A signing key loaded once: loading the seed computes the public key, which
 * costs as much as a signature, so a key that signs often (an identity) is
 * kept loaded.  Freed with its secret wiped. */
typedef struct _UsiEd25519SigningKey UsiEd25519SigningKey;

UsiEd25519SigningKey *usi_ed25519_signing_key_new  (const guint8          *seed,
                                                    GError               **error);
void                  usi_ed25519_signing_key_free (UsiEd25519SigningKey  *key);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiEd25519SigningKey, usi_ed25519_signing_key_free)
gboolean              usi_ed25519_signing_key_sign (UsiEd25519SigningKey  *key,
                                                    const guint8          *message,
                                                    gsize                  length,
                                                    guint8                *signature,
                                                    GError               **error);

G_END_DECLS
