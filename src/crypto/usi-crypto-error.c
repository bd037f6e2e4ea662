/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The crypto layer's error domain, and the one place where OpenSSL's error
 * queue becomes a GError (with OpenSSL's reason, never with key material).
 */

#define G_LOG_DOMAIN "usi-crypto"

#include "config.h"

#include <glib/gi18n-lib.h>

#include "usi-crypto-private.h"

G_DEFINE_QUARK (usi-crypto-error-quark, usi_crypto_error)

void
_usi_crypto_set_openssl_error (GError         **error,
                               UsiCryptoError   code,
                               const char      *what)
{
  unsigned long e = ERR_get_error ();
  char reason[256] = "unknown reason";

  if (e != 0)
    ERR_error_string_n (e, reason, sizeof reason);
  /* Later entries describe the same failure; they must not leak into the
   * next operation's error. */
  ERR_clear_error ();

  /* Translators: the first %s says what failed (e.g. “X25519 key agreement”), the second is OpenSSL's reason */
  g_set_error (error, USI_CRYPTO_ERROR, code, _("%s failed: %s"), what, reason);
}
