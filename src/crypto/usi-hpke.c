/* SPDX-License-Identifier: GPL-3.0-or-later */

/* HPKE (RFC 9180), suite DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 /
 * ChaCha20-Poly1305, composed from crypto/'s HKDF and AEAD and OpenSSL's
 * X25519 (OpenSSL 3.0 has no HPKE).  No I/O, no randomness but the caller's,
 * and every intermediate secret is wiped before returning, failures included.
 */

#define G_LOG_DOMAIN "usi-crypto"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "usi-aead.h"
#include "usi-crypto-private.h"
#include "usi-digest.h"
#include "usi-hpke.h"
#include "usi-secret.h"
#include "usi-x25519.h"

#define HASH_LENGTH  32 /* Nh of HKDF-SHA256, and Nsecret of the KEM */
#define KEY_LENGTH   USI_AEAD_KEY_LENGTH
#define NONCE_LENGTH USI_AEAD_NONCE_LENGTH

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_PKEY, EVP_PKEY_free)

G_STATIC_ASSERT (USI_HPKE_TAG_LENGTH == USI_AEAD_TAG_LENGTH);
G_STATIC_ASSERT (USI_HPKE_PUBLIC_KEY_LENGTH == USI_X25519_KEY_LENGTH);
G_STATIC_ASSERT (USI_HPKE_PRIVATE_KEY_LENGTH == USI_X25519_KEY_LENGTH);
G_STATIC_ASSERT (USI_HPKE_ENC_LENGTH == USI_X25519_KEY_LENGTH);
G_STATIC_ASSERT (USI_HPKE_EXPORT_MAX_LENGTH == 255 * HASH_LENGTH);

/* The suite_id strings of RFC 9180 §4.1 and §5.1 that every labeled KDF call
 * mixes in: KEM 0x0020, KDF 0x0001, AEAD 0x0003. */
typedef struct
{
  const guint8 *bytes;
  gsize         length;
} SuiteId;

static const guint8 kem_suite_id_bytes[] = { 'K', 'E', 'M', 0x00, 0x20 };
static const guint8 hpke_suite_id_bytes[] = { 'H', 'P', 'K', 'E', 0x00, 0x20, 0x00, 0x01, 0x00, 0x03 };
static const SuiteId kem_suite = { kem_suite_id_bytes, sizeof kem_suite_id_bytes };
static const SuiteId hpke_suite = { hpke_suite_id_bytes, sizeof hpke_suite_id_bytes };

#define VERSION_LABEL "HPKE-v1"

struct _UsiHpkeContext
{
  guint8   key[KEY_LENGTH];
  guint8   base_nonce[NONCE_LENGTH];
  guint8   exporter_secret[HASH_LENGTH];
  /* RFC 9180 allows 2^96 - 1 messages; a context stops at 2^64 - 1, which
   * no real conversation reaches either. */
  guint64  sequence;
  gboolean is_sender;
};

/* "HPKE-v1" || suite_id || label || data, after @prefix_length spare bytes.
 * The result may hold secrets: free it with free_labeled(). */
static guint8 *
build_labeled (gsize          prefix_length,
               const SuiteId *suite,
               const char    *label,
               const guint8  *data,
               gsize          data_length,
               gsize         *length)
{
  gsize version_length = strlen (VERSION_LABEL);
  gsize label_length = strlen (label);
  guint8 *labeled;
  guint8 *cursor;

  *length = prefix_length + version_length + suite->length + label_length + data_length;
  labeled = g_malloc (*length);
  cursor = labeled + prefix_length;
  memcpy (cursor, VERSION_LABEL, version_length);
  cursor += version_length;
  memcpy (cursor, suite->bytes, suite->length);
  cursor += suite->length;
  memcpy (cursor, label, label_length);
  cursor += label_length;
  if (data_length > 0)
    memcpy (cursor, data, data_length);

  return labeled;
}

static void
free_labeled (guint8 *labeled,
              gsize   length)
{
  usi_secret_wipe (labeled, length);
  g_free (labeled);
}

/* LabeledExtract (RFC 9180 §4): writes HASH_LENGTH bytes to @prk. */
static gboolean
labeled_extract (const SuiteId  *suite,
                 const guint8   *salt,
                 gsize           salt_length,
                 const char     *label,
                 const guint8   *ikm,
                 gsize           ikm_length,
                 guint8         *prk,
                 GError        **error)
{
  gsize labeled_length;
  guint8 *labeled_ikm = build_labeled (0, suite, label, ikm, ikm_length, &labeled_length);
  gboolean ok;

  ok = usi_hkdf_extract (USI_HASH_SHA256, salt, salt_length, labeled_ikm, labeled_length, prk, error);
  free_labeled (labeled_ikm, labeled_length);

  return ok;
}

/* LabeledExpand (RFC 9180 §4). */
static gboolean
labeled_expand (const SuiteId  *suite,
                const guint8   *prk,
                const char     *label,
                const guint8   *info,
                gsize           info_length,
                guint8         *okm,
                gsize           okm_length,
                GError        **error)
{
  gsize labeled_length;
  guint8 *labeled_info;
  gboolean ok;

  /* I2OSP(L, 2) must not wrap; usi_hkdf_expand refuses anything past 8160. */
  g_assert (okm_length <= USI_HPKE_EXPORT_MAX_LENGTH);

  labeled_info = build_labeled (2, suite, label, info, info_length, &labeled_length);
  labeled_info[0] = (okm_length >> 8) & 0xff;
  labeled_info[1] = okm_length & 0xff;
  ok = usi_hkdf_expand (USI_HASH_SHA256, prk, HASH_LENGTH, labeled_info, labeled_length,
                        okm, okm_length, error);
  free_labeled (labeled_info, labeled_length);

  return ok;
}

/* DeriveKeyPair's private half.  The private key is the unclamped
 * expansion, as Appendix A lists it; X25519 clamps it whenever it is used. */
static gboolean
derive_private_key (const guint8  *ikm,
                    gsize          ikm_length,
                    guint8        *private_key,
                    GError       **error)
{
  guint8 dkp_prk[HASH_LENGTH];
  gboolean ok;

  ok = labeled_extract (&kem_suite, NULL, 0, "dkp_prk", ikm, ikm_length, dkp_prk, error) &&
       labeled_expand (&kem_suite, dkp_prk, "sk", NULL, 0,
                       private_key, USI_HPKE_PRIVATE_KEY_LENGTH, error);
  usi_secret_wipe (dkp_prk, sizeof dkp_prk);
  if (!ok)
    usi_secret_wipe (private_key, USI_HPKE_PRIVATE_KEY_LENGTH);

  return ok;
}

gboolean
usi_hpke_derive_key_pair (const guint8  *ikm,
                          gsize          ikm_length,
                          guint8        *private_key,
                          guint8        *public_key,
                          GError       **error)
{
  g_return_val_if_fail (ikm != NULL || ikm_length == 0, FALSE);
  g_return_val_if_fail (private_key != NULL, FALSE);
  g_return_val_if_fail (public_key != NULL, FALSE);

  /* The RFC says SHOULD; a key is only as strong as this input, so insist. */
  if (ikm_length < USI_HPKE_PRIVATE_KEY_LENGTH)
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                           _("A key pair needs at least 32 bytes of input keying material."));
      return FALSE;
    }

  if (!derive_private_key (ikm, ikm_length, private_key, error))
    return FALSE;
  if (!usi_x25519_public_from_private (private_key, public_key, error))
    {
      usi_secret_wipe (private_key, USI_HPKE_PRIVATE_KEY_LENGTH);
      return FALSE;
    }

  return TRUE;
}

gboolean
usi_hpke_generate_key_pair (UsiRandom  *random,
                            guint8     *private_key,
                            guint8     *public_key,
                            GError    **error)
{
  guint8 ikm[USI_HPKE_PRIVATE_KEY_LENGTH];
  gboolean ok;

  g_return_val_if_fail (random != NULL, FALSE);
  g_return_val_if_fail (private_key != NULL, FALSE);
  g_return_val_if_fail (public_key != NULL, FALSE);

  /* Deriving rather than using the bytes directly is what lets the tests
   * inject Appendix A's ikmE. */
  ok = usi_random_fill (random, ikm, sizeof ikm, error) &&
       usi_hpke_derive_key_pair (ikm, sizeof ikm, private_key, public_key, error);
  usi_secret_wipe (ikm, sizeof ikm);

  return ok;
}

/* ExtractAndExpand of DHKEM (RFC 9180 §4.1). */
static gboolean
extract_and_expand (const guint8  *dh,
                    gsize          dh_length,
                    const guint8  *kem_context,
                    gsize          kem_context_length,
                    guint8        *shared_secret,
                    GError       **error)
{
  guint8 eae_prk[HASH_LENGTH];
  gboolean ok;

  ok = labeled_extract (&kem_suite, NULL, 0, "eae_prk", dh, dh_length, eae_prk, error) &&
       labeled_expand (&kem_suite, eae_prk, "shared_secret", kem_context, kem_context_length,
                       shared_secret, HASH_LENGTH, error);
  usi_secret_wipe (eae_prk, sizeof eae_prk);

  return ok;
}

/* Why not usi_x25519(): loading a private key into OpenSSL computes its
 * public key, a full scalar multiplication, and HPKE needs that public key
 * (enc, kem_context) as well as the agreement.  Loading each private key once
 * for both makes a seal two multiplications instead of three, and those are
 * nearly all of its cost. */
static EVP_PKEY *
load_private_key (const guint8  *private_key,
                  guint8        *public_key,
                  GError       **error)
{
  g_autoptr(EVP_PKEY) key = NULL;
  gsize public_length = USI_X25519_KEY_LENGTH;

  ERR_clear_error ();
  key = EVP_PKEY_new_raw_private_key (EVP_PKEY_X25519, NULL, private_key, USI_X25519_KEY_LENGTH);
  if (key == NULL || EVP_PKEY_get_raw_public_key (key, public_key, &public_length) != 1)
    {
      _usi_crypto_set_openssl_error (error, USI_CRYPTO_ERROR_FAILED, _("X25519 public key computation"));
      return NULL;
    }
  g_assert (public_length == USI_X25519_KEY_LENGTH);

  return g_steal_pointer (&key);
}

/* Encap, or AuthEncap when @sender_private_key is given (RFC 9180 §4.1).
 * The ephemeral key is DeriveKeyPair of 32 bytes from @random. */
static gboolean
encapsulate (UsiRandom     *random,
             const guint8  *recipient_public_key,
             const guint8  *sender_private_key,
             guint8        *enc,
             guint8        *shared_secret,
             GError       **error)
{
  guint8 ephemeral_ikm[USI_HPKE_PRIVATE_KEY_LENGTH];
  guint8 ephemeral_private_key[USI_HPKE_PRIVATE_KEY_LENGTH];
  g_autoptr(EVP_PKEY) ephemeral = NULL;
  g_autoptr(EVP_PKEY) sender = NULL;
  guint8 dh[2 * USI_X25519_KEY_LENGTH];
  guint8 kem_context[3 * USI_HPKE_PUBLIC_KEY_LENGTH];
  gsize dh_length = USI_X25519_KEY_LENGTH;
  gsize kem_context_length = 2 * USI_HPKE_PUBLIC_KEY_LENGTH;
  gboolean ok;

  ok = usi_random_fill (random, ephemeral_ikm, sizeof ephemeral_ikm, error) &&
       derive_private_key (ephemeral_ikm, sizeof ephemeral_ikm, ephemeral_private_key, error);
  if (ok)
    {
      ephemeral = load_private_key (ephemeral_private_key, enc, error);
      ok = ephemeral != NULL && _usi_x25519_agree (ephemeral, recipient_public_key, dh, error);
    }
  usi_secret_wipe (ephemeral_ikm, sizeof ephemeral_ikm);
  usi_secret_wipe (ephemeral_private_key, sizeof ephemeral_private_key);

  if (ok)
    {
      memcpy (kem_context, enc, USI_HPKE_ENC_LENGTH);
      memcpy (kem_context + USI_HPKE_ENC_LENGTH, recipient_public_key, USI_HPKE_PUBLIC_KEY_LENGTH);
    }
  if (ok && sender_private_key != NULL)
    {
      sender = load_private_key (sender_private_key, kem_context + kem_context_length, error);
      ok = sender != NULL && _usi_x25519_agree (sender, recipient_public_key, dh + dh_length, error);
      dh_length += USI_X25519_KEY_LENGTH;
      kem_context_length += USI_HPKE_PUBLIC_KEY_LENGTH;
    }

  ok = ok && extract_and_expand (dh, dh_length, kem_context, kem_context_length, shared_secret, error);
  usi_secret_wipe (dh, sizeof dh);

  return ok;
}

/* Decap, or AuthDecap when @sender_public_key is given (RFC 9180 §4.1). */
static gboolean
decapsulate (const guint8  *enc,
             const guint8  *recipient_private_key,
             const guint8  *sender_public_key,
             guint8        *shared_secret,
             GError       **error)
{
  g_autoptr(EVP_PKEY) recipient = NULL;
  guint8 dh[2 * USI_X25519_KEY_LENGTH];
  guint8 kem_context[3 * USI_HPKE_PUBLIC_KEY_LENGTH];
  gsize dh_length = USI_X25519_KEY_LENGTH;
  gsize kem_context_length = 2 * USI_HPKE_PUBLIC_KEY_LENGTH;
  gboolean ok;

  memcpy (kem_context, enc, USI_HPKE_ENC_LENGTH);
  recipient = load_private_key (recipient_private_key, kem_context + USI_HPKE_ENC_LENGTH, error);
  ok = recipient != NULL && _usi_x25519_agree (recipient, enc, dh, error);
  if (ok && sender_public_key != NULL)
    {
      ok = _usi_x25519_agree (recipient, sender_public_key, dh + dh_length, error);
      memcpy (kem_context + kem_context_length, sender_public_key, USI_HPKE_PUBLIC_KEY_LENGTH);
      dh_length += USI_X25519_KEY_LENGTH;
      kem_context_length += USI_HPKE_PUBLIC_KEY_LENGTH;
    }

  ok = ok && extract_and_expand (dh, dh_length, kem_context, kem_context_length, shared_secret, error);
  usi_secret_wipe (dh, sizeof dh);

  return ok;
}

static gboolean
mode_is_valid (UsiHpkeMode mode)
{
  return mode == USI_HPKE_MODE_BASE || mode == USI_HPKE_MODE_PSK ||
         mode == USI_HPKE_MODE_AUTH || mode == USI_HPKE_MODE_AUTH_PSK;
}

static gboolean
parameters_are_well_formed (const UsiHpkeParameters *parameters)
{
  return parameters != NULL && mode_is_valid (parameters->mode) &&
         (parameters->info != NULL || parameters->info_length == 0) &&
         (parameters->psk != NULL || parameters->psk_length == 0) &&
         (parameters->psk_id != NULL || parameters->psk_id_length == 0);
}

/* VerifyPSKInputs (RFC 9180 §5.1), plus: a sender key exactly in the Auth modes. */
static gboolean
check_mode_inputs (const UsiHpkeParameters  *parameters,
                   gboolean                  has_sender_key,
                   GError                  **error)
{
  gboolean mode_uses_psk = parameters->mode == USI_HPKE_MODE_PSK ||
                           parameters->mode == USI_HPKE_MODE_AUTH_PSK;
  gboolean mode_uses_sender_key = parameters->mode == USI_HPKE_MODE_AUTH ||
                                  parameters->mode == USI_HPKE_MODE_AUTH_PSK;
  gboolean has_psk = parameters->psk_length > 0;
  gboolean has_psk_id = parameters->psk_id_length > 0;

  if (has_psk != has_psk_id || has_psk != mode_uses_psk || has_sender_key != mode_uses_sender_key)
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                           _("The pre-shared key, its identifier or the sender key does not fit the HPKE mode."));
      return FALSE;
    }
  if (has_psk && parameters->psk_length < USI_HPKE_PSK_MIN_LENGTH)
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                           _("The pre-shared key is shorter than 32 bytes."));
      return FALSE;
    }

  return TRUE;
}

/* KeySchedule (RFC 9180 §5.1). */
static UsiHpkeContext *
key_schedule (const UsiHpkeParameters  *parameters,
              const guint8             *shared_secret,
              gboolean                  is_sender,
              GError                  **error)
{
  g_autoptr(UsiHpkeContext) context = g_new0 (UsiHpkeContext, 1);
  guint8 key_schedule_context[1 + 2 * HASH_LENGTH];
  guint8 secret[HASH_LENGTH];
  gboolean ok;

  context->is_sender = is_sender;
  key_schedule_context[0] = (guint8) parameters->mode;
  ok = labeled_extract (&hpke_suite, NULL, 0, "psk_id_hash",
                        parameters->psk_id, parameters->psk_id_length,
                        key_schedule_context + 1, error) &&
       labeled_extract (&hpke_suite, NULL, 0, "info_hash",
                        parameters->info, parameters->info_length,
                        key_schedule_context + 1 + HASH_LENGTH, error) &&
       labeled_extract (&hpke_suite, shared_secret, HASH_LENGTH, "secret",
                        parameters->psk, parameters->psk_length, secret, error) &&
       labeled_expand (&hpke_suite, secret, "key", key_schedule_context, sizeof key_schedule_context,
                       context->key, sizeof context->key, error) &&
       labeled_expand (&hpke_suite, secret, "base_nonce", key_schedule_context, sizeof key_schedule_context,
                       context->base_nonce, sizeof context->base_nonce, error) &&
       labeled_expand (&hpke_suite, secret, "exp", key_schedule_context, sizeof key_schedule_context,
                       context->exporter_secret, sizeof context->exporter_secret, error);
  usi_secret_wipe (secret, sizeof secret);

  return ok ? g_steal_pointer (&context) : NULL;
}

UsiHpkeContext *
usi_hpke_setup_sender (const UsiHpkeParameters  *parameters,
                       UsiRandom                *random,
                       const guint8             *recipient_public_key,
                       const guint8             *sender_private_key,
                       guint8                   *enc,
                       GError                  **error)
{
  guint8 shared_secret[HASH_LENGTH];
  UsiHpkeContext *context = NULL;

  g_return_val_if_fail (parameters_are_well_formed (parameters), NULL);
  g_return_val_if_fail (random != NULL, NULL);
  g_return_val_if_fail (recipient_public_key != NULL, NULL);
  g_return_val_if_fail (enc != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!check_mode_inputs (parameters, sender_private_key != NULL, error))
    return NULL;

  if (encapsulate (random, recipient_public_key, sender_private_key, enc, shared_secret, error))
    context = key_schedule (parameters, shared_secret, TRUE, error);
  usi_secret_wipe (shared_secret, sizeof shared_secret);

  return context;
}

UsiHpkeContext *
usi_hpke_setup_recipient (const UsiHpkeParameters  *parameters,
                          const guint8             *enc,
                          const guint8             *recipient_private_key,
                          const guint8             *sender_public_key,
                          GError                  **error)
{
  guint8 shared_secret[HASH_LENGTH];
  UsiHpkeContext *context = NULL;

  g_return_val_if_fail (parameters_are_well_formed (parameters), NULL);
  g_return_val_if_fail (enc != NULL, NULL);
  g_return_val_if_fail (recipient_private_key != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!check_mode_inputs (parameters, sender_public_key != NULL, error))
    return NULL;

  if (decapsulate (enc, recipient_private_key, sender_public_key, shared_secret, error))
    context = key_schedule (parameters, shared_secret, FALSE, error);
  usi_secret_wipe (shared_secret, sizeof shared_secret);

  return context;
}

/* ComputeNonce (RFC 9180 §5.2): base_nonce XOR I2OSP(seq, Nn). */
static void
compute_nonce (const UsiHpkeContext *context,
               guint8               *nonce)
{
  memcpy (nonce, context->base_nonce, NONCE_LENGTH);
  for (guint i = 0; i < 8; i++)
    nonce[NONCE_LENGTH - 1 - i] ^= (context->sequence >> (8 * i)) & 0xff;
}

static gboolean
check_sequence (const UsiHpkeContext  *context,
                GError               **error)
{
  if (context->sequence == G_MAXUINT64)
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_LIMIT,
                           _("This encryption context has handled all the messages it can; start a new one."));
      return FALSE;
    }

  return TRUE;
}

gboolean
usi_hpke_context_seal (UsiHpkeContext  *context,
                       const guint8    *aad,
                       gsize            aad_length,
                       const guint8    *plaintext,
                       gsize            length,
                       guint8          *ciphertext,
                       GError         **error)
{
  guint8 nonce[NONCE_LENGTH];

  g_return_val_if_fail (context != NULL, FALSE);
  g_return_val_if_fail (context->is_sender, FALSE);
  g_return_val_if_fail (aad != NULL || aad_length == 0, FALSE);
  g_return_val_if_fail (plaintext != NULL || length == 0, FALSE);
  g_return_val_if_fail (length <= G_MAXSIZE - USI_HPKE_TAG_LENGTH, FALSE);
  g_return_val_if_fail (ciphertext != NULL, FALSE);

  if (!check_sequence (context, error))
    return FALSE;

  compute_nonce (context, nonce);
  if (!usi_aead_seal (USI_AEAD_CHACHA20_POLY1305, context->key, nonce, aad, aad_length,
                      plaintext, length, ciphertext, ciphertext + length, error))
    return FALSE;

  context->sequence++;
  return TRUE;
}

gboolean
usi_hpke_context_open (UsiHpkeContext  *context,
                       const guint8    *aad,
                       gsize            aad_length,
                       const guint8    *ciphertext,
                       gsize            ciphertext_length,
                       guint8          *plaintext,
                       GError         **error)
{
  guint8 nonce[NONCE_LENGTH];
  gsize length;

  g_return_val_if_fail (context != NULL, FALSE);
  g_return_val_if_fail (!context->is_sender, FALSE);
  g_return_val_if_fail (aad != NULL || aad_length == 0, FALSE);
  g_return_val_if_fail (ciphertext != NULL || ciphertext_length == 0, FALSE);
  g_return_val_if_fail (plaintext != NULL || ciphertext_length <= USI_HPKE_TAG_LENGTH, FALSE);

  /* Too short to carry a tag: as unauthenticated as a wrong tag. */
  if (ciphertext_length < USI_HPKE_TAG_LENGTH)
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION,
                           _("The sealed message is too short to be genuine."));
      return FALSE;
    }
  if (!check_sequence (context, error))
    return FALSE;

  length = ciphertext_length - USI_HPKE_TAG_LENGTH;
  compute_nonce (context, nonce);
  if (!usi_aead_open (USI_AEAD_CHACHA20_POLY1305, context->key, nonce, aad, aad_length,
                      ciphertext, length, ciphertext + length, USI_HPKE_TAG_LENGTH,
                      plaintext, error))
    return FALSE;

  context->sequence++;
  return TRUE;
}

gboolean
usi_hpke_context_export (UsiHpkeContext  *context,
                         const guint8    *exporter_context,
                         gsize            exporter_context_length,
                         guint8          *secret,
                         gsize            length,
                         GError         **error)
{
  g_return_val_if_fail (context != NULL, FALSE);
  g_return_val_if_fail (exporter_context != NULL || exporter_context_length == 0, FALSE);
  g_return_val_if_fail (secret != NULL || length == 0, FALSE);

  if (length > USI_HPKE_EXPORT_MAX_LENGTH)
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                           _("An exported secret can be at most 8160 bytes long."));
      return FALSE;
    }

  return labeled_expand (&hpke_suite, context->exporter_secret, "sec",
                         exporter_context, exporter_context_length, secret, length, error);
}

void
usi_hpke_context_free (UsiHpkeContext *context)
{
  if (context == NULL)
    return;

  usi_secret_wipe (context, sizeof *context);
  g_free (context);
}

gboolean
usi_hpke_seal (const UsiHpkeParameters  *parameters,
               UsiRandom                *random,
               const guint8             *recipient_public_key,
               const guint8             *sender_private_key,
               const guint8             *aad,
               gsize                     aad_length,
               const guint8             *plaintext,
               gsize                     length,
               guint8                   *enc,
               guint8                   *ciphertext,
               GError                  **error)
{
  g_autoptr(UsiHpkeContext) context = NULL;

  context = usi_hpke_setup_sender (parameters, random, recipient_public_key, sender_private_key,
                                   enc, error);
  if (context == NULL)
    return FALSE;

  return usi_hpke_context_seal (context, aad, aad_length, plaintext, length, ciphertext, error);
}

gboolean
usi_hpke_open (const UsiHpkeParameters  *parameters,
               const guint8             *enc,
               const guint8             *recipient_private_key,
               const guint8             *sender_public_key,
               const guint8             *aad,
               gsize                     aad_length,
               const guint8             *ciphertext,
               gsize                     ciphertext_length,
               guint8                   *plaintext,
               GError                  **error)
{
  g_autoptr(UsiHpkeContext) context = NULL;

  context = usi_hpke_setup_recipient (parameters, enc, recipient_private_key, sender_public_key, error);
  if (context == NULL)
    return FALSE;

  return usi_hpke_context_open (context, aad, aad_length, ciphertext, ciphertext_length, plaintext, error);
}

#ifdef USI_ENABLE_TEST_RANDOM
void
usi_hpke_context_get_secrets_for_test (UsiHpkeContext *context,
                                       guint8         *key,
                                       guint8         *base_nonce,
                                       guint8         *exporter_secret)
{
  g_return_if_fail (context != NULL);

  memcpy (key, context->key, sizeof context->key);
  memcpy (base_nonce, context->base_nonce, sizeof context->base_nonce);
  memcpy (exporter_secret, context->exporter_secret, sizeof context->exporter_secret);
}

void
usi_hpke_context_set_sequence_for_test (UsiHpkeContext *context,
                                        guint64         sequence)
{
  g_return_if_fail (context != NULL);

  context->sequence = sequence;
}
#endif
