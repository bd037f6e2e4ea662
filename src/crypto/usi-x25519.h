/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "usi-random.h"

G_BEGIN_DECLS

#define USI_X25519_KEY_LENGTH 32

gboolean usi_x25519_generate           (UsiRandom     *random,
                                        guint8        *private_key,
                                        guint8        *public_key,
                                        GError       **error);
gboolean usi_x25519_public_from_private (const guint8 *private_key,
                                        guint8        *public_key,
                                        GError       **error);
/* Fails with USI_CRYPTO_ERROR_INVALID_KEY when the result is all zeros
 * (a low-order peer key): such a "shared" secret is public. */
gboolean usi_x25519                    (const guint8  *private_key,
                                        const guint8  *peer_public_key,
                                        guint8        *shared_secret,
                                        GError       **error);

/* Refuses (USI_CRYPTO_ERROR_INVALID_KEY) a public key of small order, with
 * which every key agreement gives the all-zero secret: sealing to it always
 * fails, so a peer publishing one could stall whoever must seal to it. */
gboolean usi_x25519_check_public_key   (const guint8  *public_key,
                                        GError       **error);

G_END_DECLS
