/* SPDX-License-Identifier: GPL-3.0-or-later */

/* SHA-2, HMAC and HKDF through OpenSSL's EVP interfaces.  No I/O. */

#define G_LOG_DOMAIN "usi-crypto"

#include "config.h"

#include <glib/gi18n-lib.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>

#include "usi-crypto-private.h"
#include "usi-digest.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_MAC, EVP_MAC_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_KDF, EVP_KDF_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_KDF_CTX, EVP_KDF_CTX_free)

struct _UsiHashState
{
  EVP_MD_CTX *context;
  UsiHash     hash;
};

static const char *
hash_name (UsiHash hash)
{
  switch (hash)
    {
    case USI_HASH_SHA256:
      return "SHA256";
    case USI_HASH_SHA512:
      return "SHA512";
    default:
      g_assert_not_reached ();
    }
}

static const EVP_MD *
hash_md (UsiHash hash)
{
  switch (hash)
    {
    case USI_HASH_SHA256:
      return EVP_sha256 ();
    case USI_HASH_SHA512:
      return EVP_sha512 ();
    default:
      g_assert_not_reached ();
    }
}

gsize
usi_hash_get_length (UsiHash hash)
{
  switch (hash)
    {
    case USI_HASH_SHA256:
      return 32;
    case USI_HASH_SHA512:
      return 64;
    default:
      g_assert_not_reached ();
    }
}

gboolean
usi_hash (UsiHash        hash,
          const guint8  *data,
          gsize          length,
          guint8        *digest,
          GError       **error)
{
  g_return_val_if_fail (data != NULL || length == 0, FALSE);
  g_return_val_if_fail (digest != NULL, FALSE);

  ERR_clear_error ();
  if (EVP_Digest (data, length, digest, NULL, hash_md (hash), NULL) != 1)
    {
      _usi_crypto_set_openssl_error (error, USI_CRYPTO_ERROR_FAILED, hash_name (hash));
      return FALSE;
    }

  return TRUE;
}

UsiHashState *
usi_hash_state_new (UsiHash   hash,
                    GError  **error)
{
  g_autoptr(UsiHashState) state = g_new0 (UsiHashState, 1);

  state->hash = hash;
  ERR_clear_error ();
  state->context = EVP_MD_CTX_new ();
  if (state->context == NULL ||
      EVP_DigestInit_ex (state->context, hash_md (hash), NULL) != 1)
    {
      _usi_crypto_set_openssl_error (error, USI_CRYPTO_ERROR_FAILED, hash_name (hash));
      return NULL;
    }

  return g_steal_pointer (&state);
}

gboolean
usi_hash_state_update (UsiHashState  *state,
                       const guint8  *data,
                       gsize          length,
                       GError       **error)
{
  g_return_val_if_fail (state != NULL, FALSE);
  g_return_val_if_fail (data != NULL || length == 0, FALSE);

  ERR_clear_error ();
  if (EVP_DigestUpdate (state->context, data, length) != 1)
    {
      _usi_crypto_set_openssl_error (error, USI_CRYPTO_ERROR_FAILED, hash_name (state->hash));
      return FALSE;
    }

  return TRUE;
}

gboolean
usi_hash_state_finish (UsiHashState  *state,
                       guint8        *digest,
                       GError       **error)
{
  g_return_val_if_fail (state != NULL, FALSE);
  g_return_val_if_fail (digest != NULL, FALSE);

  ERR_clear_error ();
  if (EVP_DigestFinal_ex (state->context, digest, NULL) != 1)
    {
      _usi_crypto_set_openssl_error (error, USI_CRYPTO_ERROR_FAILED, hash_name (state->hash));
      return FALSE;
    }

  return TRUE;
}

void
usi_hash_state_free (UsiHashState *state)
{
  if (state == NULL)
    return;

  EVP_MD_CTX_free (state->context);
  g_free (state);
}

gboolean
usi_hmac (UsiHash        hash,
          const guint8  *key,
          gsize          key_length,
          const guint8  *data,
          gsize          length,
          guint8        *mac,
          GError       **error)
{
  g_autoptr(EVP_MAC) hmac = NULL;
  EVP_MAC_CTX *context = NULL;
  OSSL_PARAM params[2];
  gsize mac_length = 0;
  gboolean ok;

  g_return_val_if_fail (key != NULL || key_length == 0, FALSE);
  g_return_val_if_fail (data != NULL || length == 0, FALSE);
  g_return_val_if_fail (mac != NULL, FALSE);

  params[0] = OSSL_PARAM_construct_utf8_string (OSSL_MAC_PARAM_DIGEST, (char *) hash_name (hash), 0);
  params[1] = OSSL_PARAM_construct_end ();

  ERR_clear_error ();
  hmac = EVP_MAC_fetch (NULL, "HMAC", NULL);
  context = hmac ? EVP_MAC_CTX_new (hmac) : NULL;
  /* An empty key is legal HMAC; OpenSSL wants a non-NULL pointer for it. */
  ok = context != NULL &&
       EVP_MAC_init (context, key_length ? key : (const guint8 *) "", key_length, params) == 1 &&
       EVP_MAC_update (context, data ? data : (const guint8 *) "", length) == 1 &&
       EVP_MAC_final (context, mac, &mac_length, usi_hash_get_length (hash)) == 1;
  EVP_MAC_CTX_free (context);

  if (!ok)
    {
      _usi_crypto_set_openssl_error (error, USI_CRYPTO_ERROR_FAILED, "HMAC");
      return FALSE;
    }

  g_assert (mac_length == usi_hash_get_length (hash));
  return TRUE;
}

static gboolean
run_hkdf (UsiHash        hash,
          int            mode,
          const guint8  *salt,
          gsize          salt_length,
          const guint8  *key,
          gsize          key_length,
          const guint8  *info,
          gsize          info_length,
          guint8        *out,
          gsize          out_length,
          GError       **error)
{
  g_autoptr(EVP_KDF) kdf = NULL;
  g_autoptr(EVP_KDF_CTX) context = NULL;
  OSSL_PARAM params[6];
  guint n = 0;

  params[n++] = OSSL_PARAM_construct_utf8_string (OSSL_KDF_PARAM_DIGEST, (char *) hash_name (hash), 0);
  params[n++] = OSSL_PARAM_construct_int (OSSL_KDF_PARAM_MODE, &mode);
  /* OpenSSL rejects an empty key buffer; HKDF treats it as a zero-length key. */
  params[n++] = OSSL_PARAM_construct_octet_string (OSSL_KDF_PARAM_KEY,
                                                   key_length ? (void *) key : (void *) "", key_length);
  if (salt != NULL && salt_length > 0)
    params[n++] = OSSL_PARAM_construct_octet_string (OSSL_KDF_PARAM_SALT, (void *) salt, salt_length);
  if (info != NULL && info_length > 0)
    params[n++] = OSSL_PARAM_construct_octet_string (OSSL_KDF_PARAM_INFO, (void *) info, info_length);
  params[n] = OSSL_PARAM_construct_end ();

  ERR_clear_error ();
  kdf = EVP_KDF_fetch (NULL, "HKDF", NULL);
  context = kdf ? EVP_KDF_CTX_new (kdf) : NULL;
  if (context == NULL || EVP_KDF_derive (context, out, out_length, params) != 1)
    {
      _usi_crypto_set_openssl_error (error, USI_CRYPTO_ERROR_FAILED, "HKDF");
      return FALSE;
    }

  return TRUE;
}

gboolean
usi_hkdf_extract (UsiHash        hash,
                  const guint8  *salt,
                  gsize          salt_length,
                  const guint8  *ikm,
                  gsize          ikm_length,
                  guint8        *prk,
                  GError       **error)
{
  g_return_val_if_fail (ikm != NULL || ikm_length == 0, FALSE);
  g_return_val_if_fail (prk != NULL, FALSE);

  return run_hkdf (hash, EVP_KDF_HKDF_MODE_EXTRACT_ONLY, salt, salt_length,
                   ikm, ikm_length, NULL, 0, prk, usi_hash_get_length (hash), error);
}

gboolean
usi_hkdf_expand (UsiHash        hash,
                 const guint8  *prk,
                 gsize          prk_length,
                 const guint8  *info,
                 gsize          info_length,
                 guint8        *okm,
                 gsize          okm_length,
                 GError       **error)
{
  g_return_val_if_fail (prk != NULL, FALSE);
  g_return_val_if_fail (okm != NULL || okm_length == 0, FALSE);

  if (okm_length > 255 * usi_hash_get_length (hash) || prk_length < usi_hash_get_length (hash))
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                           _("HKDF expansion asked for more output than it can give, or from a key shorter than the hash."));
      return FALSE;
    }
  if (okm_length == 0)
    return TRUE;

  return run_hkdf (hash, EVP_KDF_HKDF_MODE_EXPAND_ONLY, NULL, 0,
                   prk, prk_length, info, info_length, okm, okm_length, error);
}

gboolean
usi_hkdf (UsiHash        hash,
          const guint8  *salt,
          gsize          salt_length,
          const guint8  *ikm,
          gsize          ikm_length,
          const guint8  *info,
          gsize          info_length,
          guint8        *okm,
          gsize          okm_length,
          GError       **error)
{
  guint8 prk[USI_HASH_MAX_LENGTH];
  gboolean ok;

  ok = usi_hkdf_extract (hash, salt, salt_length, ikm, ikm_length, prk, error) &&
       usi_hkdf_expand (hash, prk, usi_hash_get_length (hash), info, info_length,
                        okm, okm_length, error);
  OPENSSL_cleanse (prk, sizeof prk);

  return ok;
}
