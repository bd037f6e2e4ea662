/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

#include "usi-ed25519.h"
#include "usi-hpke.h"
#include "usi-random.h"

G_BEGIN_DECLS

/* RFC 9420 §5.1.2–5.1.3 and §8 labelled operations for cipher suite 3
 * (X25519, ChaCha20-Poly1305, SHA-256, Ed25519).  @prefix is the label prefix:
 * USI_MLS_LABEL_PREFIX_RFC9420 for the published vectors, Usi's own prefix in
 * the product.  Every secret is USI_MLS_HASH_LENGTH (KDF.Nh) bytes. */

#define USI_MLS_LABEL_PREFIX_RFC9420 "MLS 1.0 "

#define USI_MLS_HASH_LENGTH       32 /* KDF.Nh */
#define USI_MLS_AEAD_KEY_LENGTH   32 /* AEAD.Nk */
#define USI_MLS_AEAD_NONCE_LENGTH 12 /* AEAD.Nn */

/* ExpandWithLabel(secret, label, context, out_length). */
gboolean usi_mls_expand_with_label       (const char    *prefix,
                                          const guint8  *secret,
                                          const char    *label,
                                          const guint8  *context,
                                          gsize          context_length,
                                          guint8        *out,
                                          gsize          out_length,
                                          GError       **error);
/* DeriveSecret(secret, label): USI_MLS_HASH_LENGTH bytes to @out. */
gboolean usi_mls_derive_secret           (const char    *prefix,
                                          const guint8  *secret,
                                          const char    *label,
                                          guint8        *out,
                                          GError       **error);
/* DeriveTreeSecret(secret, label, generation, out_length). */
gboolean usi_mls_derive_tree_secret      (const char    *prefix,
                                          const guint8  *secret,
                                          const char    *label,
                                          guint32        generation,
                                          guint8        *out,
                                          gsize          out_length,
                                          GError       **error);

/* SignWithLabel with an Ed25519 seed: USI_ED25519_SIGNATURE_LENGTH bytes to
 * @signature. */
gboolean usi_mls_sign_with_label         (const char    *prefix,
                                          const guint8  *seed,
                                          const char    *label,
                                          const guint8  *content,
                                          gsize          content_length,
                                          guint8        *signature,
                                          GError       **error);
/* VerifyWithLabel: USI_CRYPTO_ERROR_AUTHENTICATION when the signature does
 * not verify, USI_CRYPTO_ERROR_INVALID_KEY when the public key does not decode. */
/* SignWithLabel with a key loaded once (usi-ed25519.h), for signers that
 * sign often. */
gboolean usi_mls_sign_with_label_key     (const char            *prefix,
                                          UsiEd25519SigningKey  *key,
                                          const char            *label,
                                          const guint8          *content,
                                          gsize                  content_length,
                                          guint8                *signature,
                                          GError               **error);
gboolean usi_mls_verify_with_label       (const char    *prefix,
                                          const guint8  *public_key,
                                          const char    *label,
                                          const guint8  *content,
                                          gsize          content_length,
                                          const guint8  *signature,
                                          gsize          signature_length,
                                          GError       **error);

/* EncryptWithLabel: HPKE Base-mode single shot to @public_key with
 * info = EncryptContext { label<V> = prefix + label, context<V> } and an empty
 * aad.  Writes USI_HPKE_ENC_LENGTH bytes to @kem_output and
 * @length + USI_HPKE_TAG_LENGTH to @ciphertext. */
gboolean usi_mls_encrypt_with_label      (const char    *prefix,
                                          UsiRandom     *random,
                                          const guint8  *public_key,
                                          const char    *label,
                                          const guint8  *context,
                                          gsize          context_length,
                                          const guint8  *plaintext,
                                          gsize          length,
                                          guint8        *kem_output,
                                          guint8        *ciphertext,
                                          GError       **error);
/* DecryptWithLabel: writes @ciphertext_length - USI_HPKE_TAG_LENGTH bytes to
 * @plaintext; USI_CRYPTO_ERROR_AUTHENTICATION when it does not verify. */
gboolean usi_mls_decrypt_with_label      (const char    *prefix,
                                          const guint8  *private_key,
                                          const char    *label,
                                          const guint8  *context,
                                          gsize          context_length,
                                          const guint8  *kem_output,
                                          const guint8  *ciphertext,
                                          gsize          ciphertext_length,
                                          guint8        *plaintext,
                                          GError       **error);

G_END_DECLS
