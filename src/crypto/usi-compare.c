/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Constant-time comparison of tags, MACs and proofs (OpenSSL's
 * CRYPTO_memcmp), and HMAC verification built on it.  Must never return
 * early on the first differing byte, and never keeps a computed MAC. */

#define G_LOG_DOMAIN "usi-crypto"

#include "config.h"

#include <glib/gi18n-lib.h>
#include <openssl/crypto.h>

#include "usi-compare.h"
#include "usi-crypto-error.h"
#include "usi-secret.h"

gboolean
usi_crypto_equal (const guint8 *a,
                  const guint8 *b,
                  gsize         length)
{
  g_return_val_if_fail (a != NULL || length == 0, FALSE);
  g_return_val_if_fail (b != NULL || length == 0, FALSE);

  if (length == 0)
    return TRUE;

  return CRYPTO_memcmp (a, b, length) == 0;
}

gboolean
usi_hmac_verify (UsiHash        hash,
                 const guint8  *key,
                 gsize          key_length,
                 const guint8  *data,
                 gsize          length,
                 const guint8  *mac,
                 gsize          mac_length,
                 GError       **error)
{
  guint8 expected[USI_HASH_MAX_LENGTH];
  gboolean equal;

  g_return_val_if_fail (hash == USI_HASH_SHA256 || hash == USI_HASH_SHA512, FALSE);
  g_return_val_if_fail (key != NULL || key_length == 0, FALSE);
  g_return_val_if_fail (data != NULL || length == 0, FALSE);
  g_return_val_if_fail (mac != NULL || mac_length == 0, FALSE);

  /* The length is public; a shorter MAC would be easier to forge. */
  if (mac_length != usi_hash_get_length (hash))
    {
      /* Both lengths are at most a few dozen bytes: %u cannot truncate. */
      g_set_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                   _("A MAC of %u bytes cannot be checked; %u are needed"),
                   (guint) MIN (mac_length, G_MAXUINT), (guint) usi_hash_get_length (hash));
      return FALSE;
    }

  if (!usi_hmac (hash, key, key_length, data, length, expected, error))
    return FALSE;

  equal = usi_crypto_equal (expected, mac, mac_length);
  usi_secret_wipe (expected, sizeof expected);

  if (!equal)
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION,
                           _("The message authentication code does not match"));
      return FALSE;
    }

  return TRUE;
}
