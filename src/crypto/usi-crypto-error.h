/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define USI_CRYPTO_ERROR (usi_crypto_error_quark ())

typedef enum
{
  USI_CRYPTO_ERROR_FAILED,           /* OpenSSL failed; the message carries its reason */
  USI_CRYPTO_ERROR_RANDOM,           /* the random source could not deliver */
  USI_CRYPTO_ERROR_INVALID_KEY,      /* wrong length or encoding, low-order point, all-zero shared secret */
  USI_CRYPTO_ERROR_INVALID_ARGUMENT, /* a nonce, tag or parameter of the wrong size or out of range */
  USI_CRYPTO_ERROR_AUTHENTICATION,   /* a tag, signature or key commitment did not verify */
  USI_CRYPTO_ERROR_LIMIT,            /* a cap was exceeded: cost parameters, sequence numbers, ratchet jumps */
  USI_CRYPTO_ERROR_KEY_CONSUMED,     /* that ratchet generation was already used and its key wiped */
  USI_CRYPTO_ERROR_TRUNCATED,        /* an encrypted stream ended before its final chunk */
  USI_CRYPTO_ERROR_KEY_EXPIRED,      /* that ratchet generation was dropped unused to bound memory: a gap, not a replay */
} UsiCryptoError;

GQuark usi_crypto_error_quark (void);

G_END_DECLS
