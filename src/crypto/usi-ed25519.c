/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Ed25519 signatures (RFC 8032, pure Ed25519, no context) through OpenSSL's
 * EVP_PKEY one-shot DigestSign/DigestVerify.  Verification is strict about
 * encodings: a public key that is not the canonical encoding of a curve
 * point is refused as an invalid key, never verified against.  No I/O.
 */

#define G_LOG_DOMAIN "usi-crypto"

#include "config.h"

#include <glib/gi18n-lib.h>
#include <openssl/bn.h>

#include "usi-crypto-private.h"
#include "usi-ed25519.h"
#include "usi-secret.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_PKEY, EVP_PKEY_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_MD_CTX, EVP_MD_CTX_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BN_CTX, BN_CTX_free)

/* p = 2^255 - 19 and d = -121665/121666 mod p, big-endian hex. */
#define FIELD_PRIME_HEX "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffed"
#define CURVE_D_HEX     "52036cee2b6ffe738cc740797779e89800700a4d4141d8ab75eb4dca135978a3"

gboolean
usi_ed25519_generate (UsiRandom  *random,
                      guint8     *seed,
                      guint8     *public_key,
                      GError    **error)
{
  g_return_val_if_fail (random != NULL, FALSE);
  g_return_val_if_fail (seed != NULL, FALSE);
  g_return_val_if_fail (public_key != NULL, FALSE);

  if (!usi_random_fill (random, seed, USI_ED25519_SEED_LENGTH, error))
    return FALSE;

  if (!usi_ed25519_public_from_seed (seed, public_key, error))
    {
      usi_secret_wipe (seed, USI_ED25519_SEED_LENGTH);
      return FALSE;
    }

  return TRUE;
}

gboolean
usi_ed25519_public_from_seed (const guint8  *seed,
                              guint8        *public_key,
                              GError       **error)
{
  g_autoptr(EVP_PKEY) key = NULL;
  gsize public_length = USI_ED25519_PUBLIC_KEY_LENGTH;

  g_return_val_if_fail (seed != NULL, FALSE);
  g_return_val_if_fail (public_key != NULL, FALSE);

  ERR_clear_error ();
  key = EVP_PKEY_new_raw_private_key (EVP_PKEY_ED25519, NULL, seed, USI_ED25519_SEED_LENGTH);
  if (key == NULL ||
      EVP_PKEY_get_raw_public_key (key, public_key, &public_length) != 1)
    {
      _usi_crypto_set_openssl_error (error, USI_CRYPTO_ERROR_FAILED, _("Ed25519 public key computation"));
      return FALSE;
    }
  g_assert (public_length == USI_ED25519_PUBLIC_KEY_LENGTH);

  return TRUE;
}

struct _UsiEd25519SigningKey
{
  EVP_PKEY *key;
};

UsiEd25519SigningKey *
usi_ed25519_signing_key_new (const guint8  *seed,
                             GError       **error)
{
  g_autoptr(UsiEd25519SigningKey) signing_key = g_new0 (UsiEd25519SigningKey, 1);

  g_return_val_if_fail (seed != NULL, NULL);

  ERR_clear_error ();
  signing_key->key = EVP_PKEY_new_raw_private_key (EVP_PKEY_ED25519, NULL, seed, USI_ED25519_SEED_LENGTH);
  if (signing_key->key == NULL)
    {
      _usi_crypto_set_openssl_error (error, USI_CRYPTO_ERROR_FAILED, _("Ed25519 signing"));
      return NULL;
    }

  return g_steal_pointer (&signing_key);
}

void
usi_ed25519_signing_key_free (UsiEd25519SigningKey *key)
{
  if (key == NULL)
    return;

  /* EVP_PKEY_free cleanses the private key it holds. */
  EVP_PKEY_free (key->key);
  g_free (key);
}

gboolean
usi_ed25519_signing_key_sign (UsiEd25519SigningKey  *key,
                              const guint8          *message,
                              gsize                  length,
                              guint8                *signature,
                              GError               **error)
{
  g_autoptr(EVP_MD_CTX) context = NULL;
  gsize signature_length = USI_ED25519_SIGNATURE_LENGTH;

  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (message != NULL || length == 0, FALSE);
  g_return_val_if_fail (signature != NULL, FALSE);

  ERR_clear_error ();
  context = EVP_MD_CTX_new ();
  if (context == NULL ||
      EVP_DigestSignInit_ex (context, NULL, NULL, NULL, NULL, key->key, NULL) != 1 ||
      EVP_DigestSign (context, signature, &signature_length,
                      message ? message : (const guint8 *) "", length) != 1)
    {
      _usi_crypto_set_openssl_error (error, USI_CRYPTO_ERROR_FAILED, _("Ed25519 signing"));
      return FALSE;
    }
  g_assert (signature_length == USI_ED25519_SIGNATURE_LENGTH);

  return TRUE;
}

gboolean
usi_ed25519_sign (const guint8  *seed,
                  const guint8  *message,
                  gsize          length,
                  guint8        *signature,
                  GError       **error)
{
  g_autoptr(UsiEd25519SigningKey) key = NULL;

  g_return_val_if_fail (seed != NULL, FALSE);
  g_return_val_if_fail (signature != NULL, FALSE);

  key = usi_ed25519_signing_key_new (seed, error);
  return key != NULL && usi_ed25519_signing_key_sign (key, message, length, signature, error);
}

/* RFC 8032 §5.1.3 rejects y >= p and x = 0 with the sign bit set.  OpenSSL
 * reduces such encodings silently, which would let one key have several
 * encodings; both are plain byte checks, so they come first.  Points are
 * compared as little-endian 255-bit integers. */
static gboolean
public_key_is_canonical (const guint8 *public_key)
{
  static const guint8 y_is_one[32] = { 1 };
  static const guint8 minus_one[32] = {
    0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
  };
  gboolean sign_bit = (public_key[31] & 0x80) != 0;
  guint8 y[32];
  int i;

  memcpy (y, public_key, sizeof y);
  y[31] &= 0x7f;

  /* y >= p = 2^255 - 19: y[31] = 0x7f, y[30..1] = 0xff and y[0] >= 0xed. */
  if (y[31] == 0x7f)
    {
      for (i = 30; i > 0 && y[i] == 0xff; i--)
        ;
      if (i == 0 && y[0] >= 0xed)
        return FALSE;
    }

  /* x = 0 exactly when y = ±1; then the sign bit must be clear. */
  if (sign_bit && (memcmp (y, y_is_one, sizeof y) == 0 || memcmp (y, minus_one, sizeof y) == 0))
    return FALSE;

  return TRUE;
}

/* Only asked after OpenSSL refused a signature, to tell a key that is no
 * point at all from a signature that is wrong: an encoding decodes when
 * x^2 = (y^2 - 1) / (d y^2 + 1) has a solution, i.e. when (y^2 - 1)(d y^2 + 1)
 * is zero or a square mod p.  This computes a Legendre symbol on public data
 * with OpenSSL's BIGNUMs; the signature check itself stays OpenSSL's. */
static gboolean
public_key_decodes (const guint8  *public_key,
                    gboolean      *decodes)
{
  g_autoptr(BN_CTX) bn_context = BN_CTX_new ();
  BIGNUM *p = NULL, *d = NULL, *y = NULL, *u = NULL, *v = NULL;
  guint8 y_bytes[32];
  gboolean ok = FALSE;
  int symbol;

  if (bn_context == NULL)
    return FALSE;

  BN_CTX_start (bn_context);
  p = BN_CTX_get (bn_context);
  d = BN_CTX_get (bn_context);
  y = BN_CTX_get (bn_context);
  u = BN_CTX_get (bn_context);
  v = BN_CTX_get (bn_context);
  memcpy (y_bytes, public_key, sizeof y_bytes);
  y_bytes[31] &= 0x7f;

  if (v == NULL ||
      BN_hex2bn (&p, FIELD_PRIME_HEX) == 0 ||
      BN_hex2bn (&d, CURVE_D_HEX) == 0 ||
      BN_lebin2bn (y_bytes, sizeof y_bytes, y) == NULL ||
      !BN_mod_sqr (y, y, p, bn_context) ||                  /* y := y^2 */
      !BN_mod_sub (u, y, BN_value_one (), p, bn_context) ||  /* u := y^2 - 1 */
      !BN_mod_mul (v, d, y, p, bn_context) ||
      !BN_mod_add (v, v, BN_value_one (), p, bn_context) || /* v := d y^2 + 1 */
      !BN_mod_mul (u, u, v, p, bn_context))
    goto out;

  symbol = BN_kronecker (u, p, bn_context);
  if (symbol == -2)
    goto out;

  *decodes = symbol != -1;
  ok = TRUE;

out:
  BN_CTX_end (bn_context);
  return ok;
}

gboolean
usi_ed25519_verify (const guint8  *public_key,
                    const guint8  *message,
                    gsize          length,
                    const guint8  *signature,
                    gsize          signature_length,
                    GError       **error)
{
  g_autoptr(EVP_PKEY) key = NULL;
  g_autoptr(EVP_MD_CTX) context = NULL;
  gboolean decodes = TRUE;
  int verified;

  g_return_val_if_fail (public_key != NULL, FALSE);
  g_return_val_if_fail (message != NULL || length == 0, FALSE);
  g_return_val_if_fail (signature != NULL || signature_length == 0, FALSE);

  if (signature_length != USI_ED25519_SIGNATURE_LENGTH)
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION,
                           _("The Ed25519 signature has the wrong length."));
      return FALSE;
    }
  if (!public_key_is_canonical (public_key))
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_KEY,
                           _("The Ed25519 public key is not a valid encoding."));
      return FALSE;
    }

  ERR_clear_error ();
  key = EVP_PKEY_new_raw_public_key (EVP_PKEY_ED25519, NULL, public_key, USI_ED25519_PUBLIC_KEY_LENGTH);
  context = EVP_MD_CTX_new ();
  if (key == NULL || context == NULL ||
      EVP_DigestVerifyInit_ex (context, NULL, NULL, NULL, NULL, key, NULL) != 1)
    {
      _usi_crypto_set_openssl_error (error, USI_CRYPTO_ERROR_INVALID_KEY, _("Ed25519 verification"));
      return FALSE;
    }

  verified = EVP_DigestVerify (context, signature, signature_length,
                               message ? message : (const guint8 *) "", length);
  if (verified == 1)
    return TRUE;

  ERR_clear_error ();
  if (!public_key_decodes (public_key, &decodes))
    {
      _usi_crypto_set_openssl_error (error, USI_CRYPTO_ERROR_FAILED, _("Ed25519 verification"));
      return FALSE;
    }
  ERR_clear_error ();

  if (!decodes)
    g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_KEY,
                         _("The Ed25519 public key is not a point on the curve."));
  else
    g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION,
                         _("The Ed25519 signature does not verify."));
  return FALSE;
}
