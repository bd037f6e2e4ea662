/* SPDX-License-Identifier: GPL-3.0-or-later */

/* X25519 key agreement (RFC 7748) through OpenSSL's EVP_PKEY interface.
 * A peer key that forces an all-zero shared secret is refused: such a
 * secret is known to everyone.  No I/O; private keys never outlive a call
 * except in the caller's buffers.
 */

#define G_LOG_DOMAIN "usi-crypto"

#include "config.h"

#include <glib/gi18n-lib.h>

#include "usi-crypto-private.h"
#include "usi-secret.h"
#include "usi-x25519.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_PKEY, EVP_PKEY_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_PKEY_CTX, EVP_PKEY_CTX_free)

gboolean
usi_x25519_generate (UsiRandom  *random,
                     guint8     *private_key,
                     guint8     *public_key,
                     GError    **error)
{
  g_return_val_if_fail (random != NULL, FALSE);
  g_return_val_if_fail (private_key != NULL, FALSE);
  g_return_val_if_fail (public_key != NULL, FALSE);

  /* Any 32 bytes are a private key: X25519 clamps them itself. */
  if (!usi_random_fill (random, private_key, USI_X25519_KEY_LENGTH, error))
    return FALSE;

  if (!usi_x25519_public_from_private (private_key, public_key, error))
    {
      usi_secret_wipe (private_key, USI_X25519_KEY_LENGTH);
      return FALSE;
    }

  return TRUE;
}

gboolean
usi_x25519_public_from_private (const guint8  *private_key,
                                guint8        *public_key,
                                GError       **error)
{
  g_autoptr(EVP_PKEY) key = NULL;
  gsize public_length = USI_X25519_KEY_LENGTH;

  g_return_val_if_fail (private_key != NULL, FALSE);
  g_return_val_if_fail (public_key != NULL, FALSE);

  ERR_clear_error ();
  key = EVP_PKEY_new_raw_private_key (EVP_PKEY_X25519, NULL, private_key, USI_X25519_KEY_LENGTH);
  if (key == NULL ||
      EVP_PKEY_get_raw_public_key (key, public_key, &public_length) != 1)
    {
      _usi_crypto_set_openssl_error (error, USI_CRYPTO_ERROR_FAILED, _("X25519 public key computation"));
      return FALSE;
    }
  g_assert (public_length == USI_X25519_KEY_LENGTH);

  return TRUE;
}

static gboolean
is_all_zero (const guint8 *data,
             gsize         length)
{
  guint8 accumulated = 0;

  /* No early exit: the time taken must not depend on the secret. */
  for (gsize i = 0; i < length; i++)
    accumulated |= data[i];

  return accumulated == 0;
}

/* The key agreement with an already loaded private key, shared with HPKE
 * (which loads each key once and needs its public half too). */
gboolean
_usi_x25519_agree (EVP_PKEY      *key,
                   const guint8  *peer_public_key,
                   guint8        *shared_secret,
                   GError       **error)
{
  g_autoptr(EVP_PKEY) peer = NULL;
  g_autoptr(EVP_PKEY_CTX) context = NULL;
  gsize secret_length = USI_X25519_KEY_LENGTH;

  ERR_clear_error ();
  context = EVP_PKEY_CTX_new_from_pkey (NULL, key, NULL);
  if (context == NULL || EVP_PKEY_derive_init (context) != 1)
    {
      _usi_crypto_set_openssl_error (error, USI_CRYPTO_ERROR_FAILED, _("X25519 key agreement"));
      return FALSE;
    }

  /* Every 32-byte string is a u-coordinate (RFC 7748 §5: the top bit is
   * ignored, non-canonical values are reduced), so the peer key is not
   * "validated" here; the all-zero check below is what catches bad points. */
  peer = EVP_PKEY_new_raw_public_key (EVP_PKEY_X25519, NULL, peer_public_key, USI_X25519_KEY_LENGTH);
  if (peer == NULL || EVP_PKEY_derive_set_peer_ex (context, peer, 0) != 1)
    {
      _usi_crypto_set_openssl_error (error, USI_CRYPTO_ERROR_INVALID_KEY, _("X25519 key agreement"));
      return FALSE;
    }

  /* OpenSSL 3 itself fails the derivation when the result is all zeros
   * (a low-order peer point); that is the same refusal as ours below. */
  if (EVP_PKEY_derive (context, shared_secret, &secret_length) != 1)
    {
      usi_secret_wipe (shared_secret, USI_X25519_KEY_LENGTH);
      _usi_crypto_set_openssl_error (error, USI_CRYPTO_ERROR_INVALID_KEY, _("X25519 key agreement"));
      return FALSE;
    }
  g_assert (secret_length == USI_X25519_KEY_LENGTH);

  if (is_all_zero (shared_secret, USI_X25519_KEY_LENGTH))
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_KEY,
                           _("The other party's key is not a usable X25519 key."));
      return FALSE;
    }

  return TRUE;
}

gboolean
usi_x25519 (const guint8  *private_key,
            const guint8  *peer_public_key,
            guint8        *shared_secret,
            GError       **error)
{
  g_autoptr(EVP_PKEY) key = NULL;

  g_return_val_if_fail (private_key != NULL, FALSE);
  g_return_val_if_fail (peer_public_key != NULL, FALSE);
  g_return_val_if_fail (shared_secret != NULL, FALSE);

  ERR_clear_error ();
  key = EVP_PKEY_new_raw_private_key (EVP_PKEY_X25519, NULL, private_key, USI_X25519_KEY_LENGTH);
  if (key == NULL)
    {
      _usi_crypto_set_openssl_error (error, USI_CRYPTO_ERROR_FAILED, _("X25519 key agreement"));
      return FALSE;
    }

  return _usi_x25519_agree (key, peer_public_key, shared_secret, error);
}

gboolean
usi_x25519_check_public_key (const guint8  *public_key,
                             GError       **error)
{
  /* Any fixed scalar works: X25519 clamps scalars to multiples of the
   * cofactor, so a point of small order always multiplies to zero, and any
   * other point never does. */
  static const guint8 probe_scalar[USI_X25519_KEY_LENGTH] = { 0x09, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01 };
  guint8 product[USI_X25519_KEY_LENGTH];
  gboolean ok;

  g_return_val_if_fail (public_key != NULL, FALSE);

  ok = usi_x25519 (probe_scalar, public_key, product, error);
  usi_secret_wipe (product, sizeof product);

  return ok;
}
