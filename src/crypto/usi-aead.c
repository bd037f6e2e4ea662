/* SPDX-License-Identifier: GPL-3.0-or-later */

/* ChaCha20-Poly1305 and AES-256-GCM through OpenSSL's EVP_CIPHER interface,
 * with 96-bit nonces and full 16-byte tags.  Opening never hands out
 * plaintext whose tag did not verify: on any failure the output is wiped.
 * No I/O.
 */

#define G_LOG_DOMAIN "usi-crypto"

#include "config.h"

#include <glib/gi18n-lib.h>

#include "usi-aead.h"
#include "usi-crypto-private.h"
#include "usi-secret.h"

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_CIPHER_CTX, EVP_CIPHER_CTX_free)

/* EVP_*Update takes an int length: longer inputs go through in pieces. */
#define PIECE_LENGTH ((gsize) 1 << 30)

static const EVP_CIPHER *
aead_cipher (UsiAead aead)
{
  switch (aead)
    {
    case USI_AEAD_CHACHA20_POLY1305:
      return EVP_chacha20_poly1305 ();
    case USI_AEAD_AES_256_GCM:
      return EVP_aes_256_gcm ();
    default:
      g_assert_not_reached ();
    }
}

static const char *
aead_name (UsiAead aead)
{
  switch (aead)
    {
    case USI_AEAD_CHACHA20_POLY1305:
      return "ChaCha20-Poly1305";
    case USI_AEAD_AES_256_GCM:
      return "AES-256-GCM";
    default:
      g_assert_not_reached ();
    }
}

/* The most plaintext one key and nonce can protect: GCM's 32-bit block
 * counter gives 2^36 - 32 bytes, ChaCha20's gives 2^38 - 64 (RFC 8439). */
static guint64
aead_max_length (UsiAead aead)
{
  switch (aead)
    {
    case USI_AEAD_CHACHA20_POLY1305:
      return (G_GUINT64_CONSTANT (1) << 38) - 64;
    case USI_AEAD_AES_256_GCM:
      return (G_GUINT64_CONSTANT (1) << 36) - 32;
    default:
      g_assert_not_reached ();
    }
}

static gboolean
check_length (UsiAead   aead,
              gsize     length,
              GError  **error)
{
  if ((guint64) length > aead_max_length (aead))
    {
      g_set_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                   _("%s cannot protect that much data with one nonce."), aead_name (aead));
      return FALSE;
    }

  return TRUE;
}

static EVP_CIPHER_CTX *
aead_context_new (UsiAead        aead,
                  gboolean       encrypt,
                  const guint8  *key,
                  const guint8  *nonce)
{
  g_autoptr(EVP_CIPHER_CTX) context = EVP_CIPHER_CTX_new ();

  if (context == NULL ||
      EVP_CipherInit_ex (context, aead_cipher (aead), NULL, NULL, NULL, encrypt) != 1 ||
      EVP_CIPHER_CTX_ctrl (context, EVP_CTRL_AEAD_SET_IVLEN, USI_AEAD_NONCE_LENGTH, NULL) != 1 ||
      EVP_CipherInit_ex (context, NULL, NULL, key, nonce, encrypt) != 1)
    return NULL;

  return g_steal_pointer (&context);
}

static gboolean
add_aad (EVP_CIPHER_CTX *context,
         const guint8   *aad,
         gsize           aad_length)
{
  while (aad_length > 0)
    {
      gsize take = MIN (aad_length, PIECE_LENGTH);
      int written = 0;

      if (EVP_CipherUpdate (context, NULL, &written, aad, (int) take) != 1)
        return FALSE;
      aad += take;
      aad_length -= take;
    }

  return TRUE;
}

/* Both ciphers are stream modes: every piece produces exactly as many bytes
 * as went in, which the assertion holds OpenSSL to. */
static gboolean
transform (EVP_CIPHER_CTX *context,
           const guint8   *in,
           gsize           length,
           guint8         *out)
{
  while (length > 0)
    {
      gsize take = MIN (length, PIECE_LENGTH);
      int written = 0;

      if (EVP_CipherUpdate (context, out, &written, in, (int) take) != 1)
        return FALSE;
      g_assert ((gsize) written == take);
      in += take;
      out += take;
      length -= take;
    }

  return TRUE;
}

gboolean
usi_aead_seal (UsiAead        aead,
               const guint8  *key,
               const guint8  *nonce,
               const guint8  *aad,
               gsize          aad_length,
               const guint8  *plaintext,
               gsize          length,
               guint8        *ciphertext,
               guint8        *tag,
               GError       **error)
{
  g_autoptr(EVP_CIPHER_CTX) context = NULL;
  guint8 final_block[16];
  int final_length = 0;

  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (nonce != NULL, FALSE);
  g_return_val_if_fail (aad != NULL || aad_length == 0, FALSE);
  g_return_val_if_fail (plaintext != NULL || length == 0, FALSE);
  g_return_val_if_fail (ciphertext != NULL || length == 0, FALSE);
  g_return_val_if_fail (tag != NULL, FALSE);

  if (!check_length (aead, length, error))
    return FALSE;

  ERR_clear_error ();
  context = aead_context_new (aead, TRUE, key, nonce);
  if (context == NULL ||
      !add_aad (context, aad, aad_length) ||
      !transform (context, plaintext, length, ciphertext) ||
      EVP_EncryptFinal_ex (context, final_block, &final_length) != 1 ||
      EVP_CIPHER_CTX_ctrl (context, EVP_CTRL_AEAD_GET_TAG, USI_AEAD_TAG_LENGTH, tag) != 1)
    {
      _usi_crypto_set_openssl_error (error, USI_CRYPTO_ERROR_FAILED, aead_name (aead));
      return FALSE;
    }
  g_assert (final_length == 0);

  return TRUE;
}

gboolean
usi_aead_open (UsiAead        aead,
               const guint8  *key,
               const guint8  *nonce,
               const guint8  *aad,
               gsize          aad_length,
               const guint8  *ciphertext,
               gsize          length,
               const guint8  *tag,
               gsize          tag_length,
               guint8        *plaintext,
               GError       **error)
{
  g_autoptr(EVP_CIPHER_CTX) context = NULL;
  guint8 expected_tag[USI_AEAD_TAG_LENGTH];
  guint8 final_block[16];
  int final_length = 0;

  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (nonce != NULL, FALSE);
  g_return_val_if_fail (aad != NULL || aad_length == 0, FALSE);
  g_return_val_if_fail (ciphertext != NULL || length == 0, FALSE);
  g_return_val_if_fail (tag != NULL || tag_length == 0, FALSE);
  g_return_val_if_fail (plaintext != NULL || length == 0, FALSE);

  /* A shorter tag is a weaker tag: truncation is an attack, not a variant. */
  if (tag_length != USI_AEAD_TAG_LENGTH)
    {
      g_set_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                   _("%s tag has the wrong length."), aead_name (aead));
      return FALSE;
    }
  if (!check_length (aead, length, error))
    return FALSE;

  /* The tag is copied because OpenSSL's ctrl takes a non-const pointer. */
  memcpy (expected_tag, tag, sizeof expected_tag);

  ERR_clear_error ();
  context = aead_context_new (aead, FALSE, key, nonce);
  if (context == NULL ||
      EVP_CIPHER_CTX_ctrl (context, EVP_CTRL_AEAD_SET_TAG, USI_AEAD_TAG_LENGTH, expected_tag) != 1 ||
      !add_aad (context, aad, aad_length) ||
      !transform (context, ciphertext, length, plaintext))
    {
      if (length > 0)
        usi_secret_wipe (plaintext, length);
      _usi_crypto_set_openssl_error (error, USI_CRYPTO_ERROR_FAILED, aead_name (aead));
      return FALSE;
    }

  /* Only the final call checks the tag; until it succeeds the plaintext
   * written above is unverified and must not survive a failure. */
  if (EVP_DecryptFinal_ex (context, final_block, &final_length) != 1)
    {
      if (length > 0)
        usi_secret_wipe (plaintext, length);
      ERR_clear_error ();
      g_set_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION,
                   _("%s: the message was altered or the key is wrong."), aead_name (aead));
      return FALSE;
    }
  g_assert (final_length == 0);

  return TRUE;
}
