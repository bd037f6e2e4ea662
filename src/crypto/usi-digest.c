/* SPDX-License-Identifier: GPL-3.0-or-later */

/* SHA-2, HMAC and HKDF through OpenSSL's EVP interfaces.  No I/O. */

#define G_LOG_DOMAIN "usi-crypto"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>
#include <openssl/core_names.h>

#include "usi-crypto-private.h"
#include "usi-digest.h"

#define IS_HASH(hash) ((hash) == USI_HASH_SHA256 || (hash) == USI_HASH_SHA512)

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

/* Process-wide, immutable algorithm handles: one HMAC context per hash with
 * its digest already chosen, fetched from OpenSSL on the first HMAC or HKDF
 * of the process and never freed (they live as long as the process, like
 * OpenSSL's own algorithm tables).  They exist for speed: duplicating one is
 * far cheaper than fetching HMAC and resolving the digest by name on every
 * call, and the protocol runs many short HMACs per message (every HKDF block
 * is one; OpenSSL 3.0 cannot duplicate an HKDF context, see below).  They
 * are written once inside g_once_init_enter() and only read afterwards, so
 * threads share them safely, and they hold no key material.  The outcome of
 * that first fetch is kept too: if it failed (no provider offers HMAC), every
 * later HMAC and HKDF in the process fails, with an error saying so. */
static EVP_MAC_CTX *
hmac_template (UsiHash   hash,
               GError  **error)
{
  static gsize once = 0;
  static EVP_MAC_CTX *templates[USI_HASH_SHA512 + 1];

  g_assert (IS_HASH (hash));

  if (g_once_init_enter (&once))
    {
      EVP_MAC *mac = EVP_MAC_fetch (NULL, "HMAC", NULL);

      for (guint h = USI_HASH_SHA256; h <= USI_HASH_SHA512; h++)
        {
          OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string (OSSL_MAC_PARAM_DIGEST, (char *) hash_name (h), 0),
            OSSL_PARAM_construct_end (),
          };
          EVP_MAC_CTX *context = mac ? EVP_MAC_CTX_new (mac) : NULL;

          if (context != NULL && EVP_MAC_CTX_set_params (context, params) != 1)
            g_clear_pointer (&context, EVP_MAC_CTX_free);
          templates[h] = context;
        }
      EVP_MAC_free (mac);
      /* What went wrong is reported below, in every call, not just this one. */
      ERR_clear_error ();
      g_once_init_leave (&once, 1);
    }

  if (templates[hash] == NULL)
    {
      g_set_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_FAILED,
                   _("OpenSSL's HMAC-%s implementation could not be loaded, so no HMAC or HKDF can be computed"),
                   hash_name (hash));
      return NULL;
    }

  return templates[hash];
}

gsize
usi_hash_get_length (UsiHash hash)
{
  g_return_val_if_fail (IS_HASH (hash), 0);

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
  g_return_val_if_fail (IS_HASH (hash), FALSE);
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
  g_autoptr(UsiHashState) state = NULL;

  g_return_val_if_fail (IS_HASH (hash), NULL);

  state = g_new0 (UsiHashState, 1);
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
  EVP_MAC_CTX *template;
  EVP_MAC_CTX *context;
  gsize mac_length = 0;
  gboolean ok;

  g_return_val_if_fail (IS_HASH (hash), FALSE);
  g_return_val_if_fail (key != NULL || key_length == 0, FALSE);
  g_return_val_if_fail (data != NULL || length == 0, FALSE);
  g_return_val_if_fail (mac != NULL, FALSE);

  template = hmac_template (hash, error);
  if (template == NULL)
    return FALSE;

  ERR_clear_error ();
  context = EVP_MAC_CTX_dup (template);
  /* An empty key is legal HMAC; OpenSSL wants a non-NULL pointer for it. */
  ok = context != NULL &&
       EVP_MAC_init (context, key_length ? key : (const guint8 *) "", key_length, NULL) == 1 &&
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

/* T(0) = empty; T(i) = HMAC-Hash(PRK, T(i-1) | info | i); OKM = T(1) | T(2) | ...
 * On failure the whole of @okm is wiped: no caller may see part of a key. */
static gboolean
hkdf_expand_blocks (UsiHash        hash,
                    const guint8  *prk,
                    gsize          prk_length,
                    const guint8  *info,
                    gsize          info_length,
                    guint8        *okm,
                    gsize          okm_length,
                    GError       **error)
{
  EVP_MAC_CTX *template = hmac_template (hash, error);
  gsize hash_length = usi_hash_get_length (hash);
  guint8 *const okm_start = okm;
  const gsize okm_total = okm_length;
  guint8 block[USI_HASH_MAX_LENGTH];
  gsize block_length = 0;
  gboolean ok = TRUE;

  if (template == NULL)
    {
      OPENSSL_cleanse (okm_start, okm_total);
      return FALSE;
    }

  ERR_clear_error ();
  for (guint8 counter = 1; ok && okm_length > 0; counter++)
    {
      EVP_MAC_CTX *context = EVP_MAC_CTX_dup (template);
      gsize take = MIN (okm_length, hash_length);
      gsize written = 0;

      ok = context != NULL &&
           EVP_MAC_init (context, prk, prk_length, NULL) == 1 &&
           EVP_MAC_update (context, block, block_length) == 1 &&
           (info_length == 0 || EVP_MAC_update (context, info, info_length) == 1) &&
           EVP_MAC_update (context, &counter, 1) == 1 &&
           EVP_MAC_final (context, block, &written, sizeof block) == 1;
      EVP_MAC_CTX_free (context);

      if (ok)
        {
          block_length = written;
          memcpy (okm, block, take);
          okm += take;
          okm_length -= take;
        }
    }
  OPENSSL_cleanse (block, sizeof block);

  if (!ok)
    {
      OPENSSL_cleanse (okm_start, okm_total);
      _usi_crypto_set_openssl_error (error, USI_CRYPTO_ERROR_FAILED, "HKDF");
    }

  return ok;
}

/* HKDF (RFC 5869) is composed here from OpenSSL's HMAC rather than taken from
 * its HKDF: OpenSSL 3.0 cannot duplicate an HKDF context, so each call would
 * resolve the digest by name again, and that costs more than the HMACs.  The
 * composition is checked against Wycheproof's and RFC 5869's vectors. */
gboolean
usi_hkdf_extract (UsiHash        hash,
                  const guint8  *salt,
                  gsize          salt_length,
                  const guint8  *ikm,
                  gsize          ikm_length,
                  guint8        *prk,
                  GError       **error)
{
  static const guint8 zeros[USI_HASH_MAX_LENGTH] = { 0 };

  g_return_val_if_fail (IS_HASH (hash), FALSE);
  g_return_val_if_fail (ikm != NULL || ikm_length == 0, FALSE);
  g_return_val_if_fail (prk != NULL, FALSE);

  /* PRK = HMAC-Hash(salt, IKM), an absent salt being HashLen zeros. */
  if (salt == NULL || salt_length == 0)
    {
      salt = zeros;
      salt_length = usi_hash_get_length (hash);
    }

  return usi_hmac (hash, salt, salt_length, ikm, ikm_length, prk, error);
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
  g_return_val_if_fail (IS_HASH (hash), FALSE);
  g_return_val_if_fail (prk != NULL, FALSE);
  g_return_val_if_fail (okm != NULL || okm_length == 0, FALSE);

  /* RFC 5869 expects a PRK of the hash's length; C2SP's Cobblestone keys
   * HKDF-SHA-512's Expand directly with a uniformly random 32-byte key.
   * Anything shorter than 32 bytes is a mistake either way. */
  if (okm_length > 255 * usi_hash_get_length (hash) || prk_length < USI_HKDF_MIN_PRK_LENGTH)
    {
      /* Nothing written, and @okm may well be shorter than asked. */
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                           _("HKDF expansion asked for more output than it can give, or from a key shorter than 32 bytes."));
      return FALSE;
    }
  if (okm_length == 0)
    return TRUE;

  /* From here on a failure wipes all of @okm: never part of a key. */
  return hkdf_expand_blocks (hash, prk, prk_length, info, info_length, okm, okm_length, error);
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

  g_return_val_if_fail (IS_HASH (hash), FALSE);
  g_return_val_if_fail (okm != NULL || okm_length == 0, FALSE);

  ok = usi_hkdf_extract (hash, salt, salt_length, ikm, ikm_length, prk, error) &&
       usi_hkdf_expand (hash, prk, usi_hash_get_length (hash), info, info_length,
                        okm, okm_length, error);
  OPENSSL_cleanse (prk, sizeof prk);
  /* Expansion wipes its own output on failure; after a failed extraction
   * @okm is wiped as well, when it is a length HKDF could have filled. */
  if (!ok && okm_length > 0 && okm_length <= 255 * usi_hash_get_length (hash))
    OPENSSL_cleanse (okm, okm_length);

  return ok;
}
