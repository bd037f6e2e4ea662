/* SPDX-License-Identifier: GPL-3.0-or-later */

/* scrypt (RFC 7914) password hashing through OpenSSL's EVP_KDF.  Cost
 * parameters may come from untrusted data (a backup file, a peer), so they
 * are checked against fixed caps before OpenSSL allocates anything: a bad
 * file must not be able to exhaust memory or time.  No I/O.
 */

#define G_LOG_DOMAIN "usi-crypto"

#include "config.h"

#include <glib/gi18n-lib.h>
#include <openssl/core_names.h>
#include <openssl/kdf.h>

#include "usi-crypto-private.h"
#include "usi-scrypt.h"
#include "usi-secret.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_KDF, EVP_KDF_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_KDF_CTX, EVP_KDF_CTX_free)

const UsiScryptParams usi_scrypt_default_params = { G_GUINT64_CONSTANT (1) << 16, 8, 1 };

/* Parameters that make no sense are an invalid argument; sensible ones that
 * cost too much are a limit.  The caps are checked first so that nothing
 * below can overflow: 128 × 2^20 × 16 × 4 is far from 2^64. */
static gboolean
check_params (const UsiScryptParams  *params,
              GError                **error)
{
  if (params->n < 2 || (params->n & (params->n - 1)) != 0 || params->r == 0 || params->p == 0)
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                           _("The password hashing parameters are not valid."));
      return FALSE;
    }

  if (params->n > USI_SCRYPT_MAX_N ||
      params->r > USI_SCRYPT_MAX_R ||
      params->p > USI_SCRYPT_MAX_P ||
      128 * params->n * params->r > USI_SCRYPT_MAX_MEMORY ||
      params->n * params->r * params->p > USI_SCRYPT_MAX_WORK)
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_LIMIT,
                           _("The password hashing parameters ask for more memory or time than allowed."));
      return FALSE;
    }

  /* RFC 7914 §2: N must be less than 2^(128 × r / 8). */
  if (params->r < 4 && params->n >= (G_GUINT64_CONSTANT (1) << (16 * params->r)))
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                           _("The password hashing parameters are not valid."));
      return FALSE;
    }

  return TRUE;
}

gboolean
usi_scrypt (const char            *password,
            gsize                  password_length,
            const guint8          *salt,
            gsize                  salt_length,
            const UsiScryptParams *params,
            guint8                *out,
            gsize                  out_length,
            GError               **error)
{
  g_autoptr(EVP_KDF) kdf = NULL;
  g_autoptr(EVP_KDF_CTX) context = NULL;
  OSSL_PARAM ossl_params[7];
  guint64 n;
  guint32 r, p;
  guint64 max_memory;
  guint i = 0;

  g_return_val_if_fail (password != NULL || password_length == 0, FALSE);
  g_return_val_if_fail (salt != NULL || salt_length == 0, FALSE);
  g_return_val_if_fail (params != NULL, FALSE);
  g_return_val_if_fail (out != NULL || out_length == 0, FALSE);

  if (!check_params (params, error))
    return FALSE;
  if (out_length == 0)
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                           _("Password hashing was asked for no output."));
      return FALSE;
    }

  n = params->n;
  r = params->r;
  p = params->p;
  /* Exactly what OpenSSL allocates (B: 128·r·p, V and scratch: 128·r·(N+2)),
   * so that everything the caps admit is also admitted by OpenSSL. */
  max_memory = 128 * (guint64) r * (n + 2 + p);

  /* OpenSSL copies the buffers and wants a pointer even for empty ones. */
  ossl_params[i++] = OSSL_PARAM_construct_octet_string (OSSL_KDF_PARAM_PASSWORD,
                                                        password_length ? (void *) password : (void *) "",
                                                        password_length);
  ossl_params[i++] = OSSL_PARAM_construct_octet_string (OSSL_KDF_PARAM_SALT,
                                                        salt_length ? (void *) salt : (void *) "",
                                                        salt_length);
  ossl_params[i++] = OSSL_PARAM_construct_uint64 (OSSL_KDF_PARAM_SCRYPT_N, &n);
  ossl_params[i++] = OSSL_PARAM_construct_uint32 (OSSL_KDF_PARAM_SCRYPT_R, &r);
  ossl_params[i++] = OSSL_PARAM_construct_uint32 (OSSL_KDF_PARAM_SCRYPT_P, &p);
  ossl_params[i++] = OSSL_PARAM_construct_uint64 (OSSL_KDF_PARAM_SCRYPT_MAXMEM, &max_memory);
  ossl_params[i] = OSSL_PARAM_construct_end ();
  g_assert (i < G_N_ELEMENTS (ossl_params));

  ERR_clear_error ();
  kdf = EVP_KDF_fetch (NULL, "SCRYPT", NULL);
  context = kdf ? EVP_KDF_CTX_new (kdf) : NULL;
  if (context == NULL || EVP_KDF_derive (context, out, out_length, ossl_params) != 1)
    {
      usi_secret_wipe (out, out_length);
      _usi_crypto_set_openssl_error (error, USI_CRYPTO_ERROR_FAILED, _("Password hashing"));
      return FALSE;
    }

  return TRUE;
}
