/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "usi-random.h"

G_BEGIN_DECLS

/* HPKE (RFC 9180) for a single suite: DHKEM(X25519, HKDF-SHA256),
 * HKDF-SHA256, ChaCha20-Poly1305, in all four modes. */

#define USI_HPKE_PRIVATE_KEY_LENGTH 32
#define USI_HPKE_PUBLIC_KEY_LENGTH  32
/* The encapsulated key that travels with the ciphertext. */
#define USI_HPKE_ENC_LENGTH         32
/* A ciphertext is this much longer than its plaintext. */
#define USI_HPKE_TAG_LENGTH         16
#define USI_HPKE_PSK_MIN_LENGTH     32
/* The most an export can produce: 255 × the hash length. */
#define USI_HPKE_EXPORT_MAX_LENGTH  (255 * 32)

typedef enum
{
  USI_HPKE_MODE_BASE     = 0x00,
  USI_HPKE_MODE_PSK      = 0x01,
  USI_HPKE_MODE_AUTH     = 0x02,
  USI_HPKE_MODE_AUTH_PSK = 0x03,
} UsiHpkeMode;

/* What sender and recipient must agree on.  @psk and @psk_id are given
 * (non-empty) exactly in the PSK modes, and @psk has at least
 * USI_HPKE_PSK_MIN_LENGTH bytes; otherwise setup fails with
 * USI_CRYPTO_ERROR_INVALID_ARGUMENT (RFC 9180 §5.1). */
typedef struct
{
  UsiHpkeMode   mode;
  const guint8 *info;
  gsize         info_length;
  const guint8 *psk;
  gsize         psk_length;
  const guint8 *psk_id;
  gsize         psk_id_length;
} UsiHpkeParameters;

typedef struct _UsiHpkeContext UsiHpkeContext;

/* DeriveKeyPair (RFC 9180 §7.1.3): the key pair determined by @ikm, which
 * must have at least 32 bytes. */
gboolean        usi_hpke_derive_key_pair   (const guint8             *ikm,
                                            gsize                     ikm_length,
                                            guint8                   *private_key,
                                            guint8                   *public_key,
                                            GError                  **error);
/* A fresh key pair: DeriveKeyPair of 32 bytes from @random. */
gboolean        usi_hpke_generate_key_pair (UsiRandom                *random,
                                            guint8                   *private_key,
                                            guint8                   *public_key,
                                            GError                  **error);

/* SetupS: encapsulates to @recipient_public_key with an ephemeral key drawn
 * from @random and writes USI_HPKE_ENC_LENGTH bytes to @enc.
 * @sender_private_key is given exactly in the Auth modes (else
 * USI_CRYPTO_ERROR_INVALID_ARGUMENT).  A low-order or all-zero recipient key
 * fails with USI_CRYPTO_ERROR_INVALID_KEY. */
UsiHpkeContext *usi_hpke_setup_sender      (const UsiHpkeParameters  *parameters,
                                            UsiRandom                *random,
                                            const guint8             *recipient_public_key,
                                            const guint8             *sender_private_key,
                                            guint8                   *enc,
                                            GError                  **error);
/* SetupR: the recipient's side of @enc.  @sender_public_key is given exactly
 * in the Auth modes (else USI_CRYPTO_ERROR_INVALID_ARGUMENT).  A low-order or
 * all-zero @enc or sender key fails with USI_CRYPTO_ERROR_INVALID_KEY. */
UsiHpkeContext *usi_hpke_setup_recipient   (const UsiHpkeParameters  *parameters,
                                            const guint8             *enc,
                                            const guint8             *recipient_private_key,
                                            const guint8             *sender_public_key,
                                            GError                  **error);

/* Sender contexts only.  Seals with the next sequence number; @ciphertext
 * (which may equal @plaintext) receives @length + USI_HPKE_TAG_LENGTH bytes.
 * Fails with USI_CRYPTO_ERROR_LIMIT once the sequence numbers are used up. */
gboolean        usi_hpke_context_seal      (UsiHpkeContext           *context,
                                            const guint8             *aad,
                                            gsize                     aad_length,
                                            const guint8             *plaintext,
                                            gsize                     length,
                                            guint8                   *ciphertext,
                                            GError                  **error);
/* Recipient contexts only.  Opens the message of the next sequence number
 * into @plaintext (@ciphertext_length - USI_HPKE_TAG_LENGTH bytes); anything
 * that does not verify is USI_CRYPTO_ERROR_AUTHENTICATION and leaves the
 * sequence number where it was. */
gboolean        usi_hpke_context_open      (UsiHpkeContext           *context,
                                            const guint8             *aad,
                                            gsize                     aad_length,
                                            const guint8             *ciphertext,
                                            gsize                     ciphertext_length,
                                            guint8                   *plaintext,
                                            GError                  **error);
/* Secret export (RFC 9180 §5.3): @length bytes (at most
 * USI_HPKE_EXPORT_MAX_LENGTH) bound to @exporter_context; same on both sides. */
gboolean        usi_hpke_context_export    (UsiHpkeContext           *context,
                                            const guint8             *exporter_context,
                                            gsize                     exporter_context_length,
                                            guint8                   *secret,
                                            gsize                     length,
                                            GError                  **error);
/* Wipes the context's keys. */
void            usi_hpke_context_free      (UsiHpkeContext           *context);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiHpkeContext, usi_hpke_context_free)

/* Single-shot (RFC 9180 §6.1): setup_sender and one seal; writes @enc and
 * @length + USI_HPKE_TAG_LENGTH bytes of @ciphertext. */
gboolean        usi_hpke_seal              (const UsiHpkeParameters  *parameters,
                                            UsiRandom                *random,
                                            const guint8             *recipient_public_key,
                                            const guint8             *sender_private_key,
                                            const guint8             *aad,
                                            gsize                     aad_length,
                                            const guint8             *plaintext,
                                            gsize                     length,
                                            guint8                   *enc,
                                            guint8                   *ciphertext,
                                            GError                  **error);
/* Single-shot: setup_recipient and one open into @plaintext
 * (@ciphertext_length - USI_HPKE_TAG_LENGTH bytes). */
gboolean        usi_hpke_open              (const UsiHpkeParameters  *parameters,
                                            const guint8             *enc,
                                            const guint8             *recipient_private_key,
                                            const guint8             *sender_public_key,
                                            const guint8             *aad,
                                            gsize                     aad_length,
                                            const guint8             *ciphertext,
                                            gsize                     ciphertext_length,
                                            guint8                   *plaintext,
                                            GError                  **error);

#ifdef USI_ENABLE_TEST_RANDOM
/* Test builds only: the key schedule's outputs (32-byte key, 12-byte base
 * nonce, 32-byte exporter secret), to compare with RFC 9180 Appendix A. */
void            usi_hpke_context_get_secrets_for_test (UsiHpkeContext *context,
                                                       guint8         *key,
                                                       guint8         *base_nonce,
                                                       guint8         *exporter_secret);
/* Test builds only: jumps to @sequence, to reach the message limit. */
void            usi_hpke_context_set_sequence_for_test (UsiHpkeContext *context,
                                                        guint64         sequence);
#endif

G_END_DECLS
