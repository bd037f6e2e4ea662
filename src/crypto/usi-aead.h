/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  USI_AEAD_CHACHA20_POLY1305,
  USI_AEAD_AES_256_GCM,
} UsiAead;

#define USI_AEAD_KEY_LENGTH   32
#define USI_AEAD_NONCE_LENGTH 12
#define USI_AEAD_TAG_LENGTH   16

/* @ciphertext receives @length bytes and @tag USI_AEAD_TAG_LENGTH bytes.
 * @ciphertext may equal @plaintext. */
gboolean usi_aead_seal (UsiAead        aead,
                        const guint8  *key,
                        const guint8  *nonce,
                        const guint8  *aad,
                        gsize          aad_length,
                        const guint8  *plaintext,
                        gsize          length,
                        guint8        *ciphertext,
                        guint8        *tag,
                        GError       **error);

/* Refuses any @tag_length but USI_AEAD_TAG_LENGTH.  When the tag does not
 * verify it fails with USI_CRYPTO_ERROR_AUTHENTICATION and @plaintext
 * (@length bytes, may equal @ciphertext) is wiped: no unverified plaintext
 * ever leaves this function. */
gboolean usi_aead_open (UsiAead        aead,
                        const guint8  *key,
                        const guint8  *nonce,
                        const guint8  *aad,
                        gsize          aad_length,
                        const guint8  *ciphertext,
                        gsize          length,
                        const guint8  *tag,
                        gsize          tag_length,
                        guint8        *plaintext,
                        GError       **error);

G_END_DECLS
