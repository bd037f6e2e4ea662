/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The labelled KDF, signature and public-key encryption operations of
 * RFC 9420, cipher suite 3.  The label prefix is always a parameter so Usi's
 * own domain never collides with real MLS.  No I/O and no state here. */

#define G_LOG_DOMAIN "usi-crypto"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "usi-crypto-error.h"
#include "usi-digest.h"
#include "usi-ed25519.h"
#include "usi-hpke.h"
#include "usi-mls-labels.h"
#include "usi-mls-varint.h"

/* KDFLabel and friends for the ratchet fit here, so the hot path allocates
 * nothing. */
#define SMALL_STRUCT_LENGTH 256

typedef struct
{
  guint8  small[SMALL_STRUCT_LENGTH];
  guint8 *data;
  gsize   length;
  gsize   allocated;
} Encoder;

static void
encoder_init (Encoder *encoder,
              gsize    needed)
{
  encoder->data = needed <= sizeof encoder->small ? encoder->small : g_malloc (needed);
  encoder->length = 0;
  encoder->allocated = needed;
}

static void
encoder_clear (Encoder *encoder)
{
  if (encoder->data != encoder->small)
    g_free (encoder->data);
  encoder->data = NULL;
}

static void
encoder_put (Encoder      *encoder,
             const void   *data,
             gsize         length)
{
  g_assert (encoder->length + length <= encoder->allocated);
  if (length > 0)
    memcpy (encoder->data + encoder->length, data, length);
  encoder->length += length;
}

static void
encoder_put_varint (Encoder *encoder,
                    gsize    value)
{
  guint8 buffer[USI_MLS_VARINT_MAX_LENGTH];
  gsize size = usi_mls_varint_write (value, buffer, NULL);

  g_assert (size > 0);
  encoder_put (encoder, buffer, size);
}

/* The size of opaque<V> holding @length bytes, or 0 when it cannot be encoded. */
static gsize
opaque_size (gsize length)
{
  gsize header = usi_mls_varint_size (length);

  return header == 0 ? 0 : header + length;
}

static gboolean
set_too_long (GError **error)
{
  g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                       _("A labelled value is too long"));
  return FALSE;
}

/* Encodes struct { [uint16 length;] opaque label<V> = prefix + label;
 * opaque second<V>; }: KDFLabel with @with_length, else SignContent and
 * EncryptContext. */
static gboolean
encode_labelled (Encoder       *encoder,
                 gboolean       with_length,
                 gsize          length_field,
                 const char    *prefix,
                 const guint8  *label,
                 gsize          label_length,
                 const guint8  *second,
                 gsize          second_length,
                 GError       **error)
{
  gsize prefix_length = strlen (prefix);
  gsize label_size, second_size;

  if (label_length > USI_MLS_VARINT_MAX - prefix_length)
    return set_too_long (error);
  label_size = opaque_size (prefix_length + label_length);
  second_size = opaque_size (second_length);
  if (label_size == 0 || second_size == 0)
    return set_too_long (error);

  encoder_init (encoder, (with_length ? 2 : 0) + label_size + second_size);
  if (with_length)
    {
      guint8 length_bytes[2] = { (guint8) (length_field >> 8), (guint8) length_field };

      encoder_put (encoder, length_bytes, sizeof length_bytes);
    }
  encoder_put_varint (encoder, prefix_length + label_length);
  encoder_put (encoder, prefix, prefix_length);
  encoder_put (encoder, label, label_length);
  encoder_put_varint (encoder, second_length);
  encoder_put (encoder, second, second_length);
  return TRUE;
}

gboolean
usi_mls_expand_with_label (const char    *prefix,
                           const guint8  *secret,
                           const char    *label,
                           const guint8  *context,
                           gsize          context_length,
                           guint8        *out,
                           gsize          out_length,
                           GError       **error)
{
  Encoder kdf_label;
  gboolean ok;

  g_return_val_if_fail (prefix != NULL, FALSE);
  g_return_val_if_fail (secret != NULL, FALSE);
  g_return_val_if_fail (label != NULL, FALSE);
  g_return_val_if_fail (context != NULL || context_length == 0, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);

  /* KDFLabel.length is a uint16. */
  if (out_length > G_MAXUINT16)
    return set_too_long (error);

  if (!encode_labelled (&kdf_label, TRUE, out_length, prefix, (const guint8 *) label, strlen (label),
                        context, context_length, error))
    return FALSE;

  ok = usi_hkdf_expand (USI_HASH_SHA256, secret, USI_MLS_HASH_LENGTH,
                        kdf_label.data, kdf_label.length, out, out_length, error);
  encoder_clear (&kdf_label);
  return ok;
}

gboolean
usi_mls_derive_secret (const char    *prefix,
                       const guint8  *secret,
                       const char    *label,
                       guint8        *out,
                       GError       **error)
{
  return usi_mls_expand_with_label (prefix, secret, label, NULL, 0,
                                    out, USI_MLS_HASH_LENGTH, error);
}

gboolean
usi_mls_derive_tree_secret (const char    *prefix,
                            const guint8  *secret,
                            const char    *label,
                            guint32        generation,
                            guint8        *out,
                            gsize          out_length,
                            GError       **error)
{
  guint32 generation_be = GUINT32_TO_BE (generation);

  return usi_mls_expand_with_label (prefix, secret, label,
                                    (const guint8 *) &generation_be, sizeof generation_be,
                                    out, out_length, error);
}

gboolean
usi_mls_sign_with_label_key (const char            *prefix,
                             UsiEd25519SigningKey  *key,
                             const char            *label,
                             const guint8          *content,
                             gsize                  content_length,
                             guint8                *signature,
                             GError               **error)
{
  Encoder sign_content;
  gboolean ok;

  g_return_val_if_fail (prefix != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (label != NULL, FALSE);
  g_return_val_if_fail (content != NULL || content_length == 0, FALSE);
  g_return_val_if_fail (signature != NULL, FALSE);

  if (!encode_labelled (&sign_content, FALSE, 0, prefix, (const guint8 *) label, strlen (label),
                        content, content_length, error))
    return FALSE;

  ok = usi_ed25519_signing_key_sign (key, sign_content.data, sign_content.length, signature, error);
  encoder_clear (&sign_content);
  return ok;
}

gboolean
usi_mls_sign_with_label (const char    *prefix,
                         const guint8  *seed,
                         const char    *label,
                         const guint8  *content,
                         gsize          content_length,
                         guint8        *signature,
                         GError       **error)
{
  g_autoptr(UsiEd25519SigningKey) key = NULL;

  g_return_val_if_fail (seed != NULL, FALSE);

  key = usi_ed25519_signing_key_new (seed, error);
  return key != NULL &&
         usi_mls_sign_with_label_key (prefix, key, label, content, content_length, signature, error);
}

gboolean
usi_mls_verify_with_label (const char    *prefix,
                           const guint8  *public_key,
                           const char    *label,
                           const guint8  *content,
                           gsize          content_length,
                           const guint8  *signature,
                           gsize          signature_length,
                           GError       **error)
{
  Encoder sign_content;
  gboolean ok;

  g_return_val_if_fail (prefix != NULL, FALSE);
  g_return_val_if_fail (public_key != NULL, FALSE);
  g_return_val_if_fail (label != NULL, FALSE);
  g_return_val_if_fail (content != NULL || content_length == 0, FALSE);
  g_return_val_if_fail (signature != NULL || signature_length == 0, FALSE);

  if (!encode_labelled (&sign_content, FALSE, 0, prefix, (const guint8 *) label, strlen (label),
                        content, content_length, error))
    return FALSE;

  ok = usi_ed25519_verify (public_key, sign_content.data, sign_content.length,
                           signature, signature_length, error);
  encoder_clear (&sign_content);
  return ok;
}

gboolean
usi_mls_encrypt_with_label (const char    *prefix,
                            UsiRandom     *random,
                            const guint8  *public_key,
                            const char    *label,
                            const guint8  *context,
                            gsize          context_length,
                            const guint8  *plaintext,
                            gsize          length,
                            guint8        *kem_output,
                            guint8        *ciphertext,
                            GError       **error)
{
  UsiHpkeParameters parameters = { USI_HPKE_MODE_BASE };
  Encoder encrypt_context;
  gboolean ok;

  g_return_val_if_fail (prefix != NULL, FALSE);
  g_return_val_if_fail (random != NULL, FALSE);
  g_return_val_if_fail (public_key != NULL, FALSE);
  g_return_val_if_fail (label != NULL, FALSE);
  g_return_val_if_fail (context != NULL || context_length == 0, FALSE);
  g_return_val_if_fail (plaintext != NULL || length == 0, FALSE);
  g_return_val_if_fail (kem_output != NULL, FALSE);
  g_return_val_if_fail (ciphertext != NULL, FALSE);

  if (!encode_labelled (&encrypt_context, FALSE, 0, prefix, (const guint8 *) label, strlen (label),
                        context, context_length, error))
    return FALSE;

  parameters.info = encrypt_context.data;
  parameters.info_length = encrypt_context.length;
  ok = usi_hpke_seal (&parameters, random, public_key, NULL, NULL, 0,
                      plaintext, length, kem_output, ciphertext, error);
  encoder_clear (&encrypt_context);
  return ok;
}

gboolean
usi_mls_decrypt_with_label (const char    *prefix,
                            const guint8  *private_key,
                            const char    *label,
                            const guint8  *context,
                            gsize          context_length,
                            const guint8  *kem_output,
                            const guint8  *ciphertext,
                            gsize          ciphertext_length,
                            guint8        *plaintext,
                            GError       **error)
{
  UsiHpkeParameters parameters = { USI_HPKE_MODE_BASE };
  Encoder encrypt_context;
  gboolean ok;

  g_return_val_if_fail (prefix != NULL, FALSE);
  g_return_val_if_fail (private_key != NULL, FALSE);
  g_return_val_if_fail (label != NULL, FALSE);
  g_return_val_if_fail (context != NULL || context_length == 0, FALSE);
  g_return_val_if_fail (kem_output != NULL, FALSE);
  g_return_val_if_fail (ciphertext != NULL || ciphertext_length == 0, FALSE);
  g_return_val_if_fail (plaintext != NULL || ciphertext_length <= USI_HPKE_TAG_LENGTH, FALSE);

  if (!encode_labelled (&encrypt_context, FALSE, 0, prefix, (const guint8 *) label, strlen (label),
                        context, context_length, error))
    return FALSE;

  parameters.info = encrypt_context.data;
  parameters.info_length = encrypt_context.length;
  ok = usi_hpke_open (&parameters, kem_output, private_key, NULL, NULL, 0,
                      ciphertext, ciphertext_length, plaintext, error);
  encoder_clear (&encrypt_context);
  return ok;
}
