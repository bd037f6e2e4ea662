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

G_END_DECLS
