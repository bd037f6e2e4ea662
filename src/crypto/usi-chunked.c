/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Cobblestone-256 (c2sp.org/chunked-encryption) as a streaming encryptor and
 * decryptor holding one chunk at a time, for files of any size.  It never
 * hands out plaintext of a chunk whose tag did not verify, never decrypts
 * before the key commitment matched, and does no I/O: bytes come and go
 * through the caller's callback.
 */

#define G_LOG_DOMAIN "usi-crypto"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>
#include <openssl/crypto.h>

#include "usi-aead.h"
#include "usi-chunked.h"
#include "usi-crypto-private.h"
#include "usi-digest.h"
#include "usi-secret.h"

#define INFO_PREFIX "c2sp.org/chunked-encryption@v1+"
#define AEAD_NAME   "AEAD_AES_256_GCM"


/* What HKDF-Expand derives for one message. */
typedef struct
{
  guint8 aead_key[USI_AEAD_KEY_LENGTH];
  guint8 base_nonce[USI_AEAD_NONCE_LENGTH];
} MessageKeys;

struct _UsiChunkedEncryptor
{
  MessageKeys     keys;
  guint8          header[USI_CHUNKED_HEADER_LENGTH];
  guint64         next_index;
  UsiChunkedFunc  func;
  gpointer        user_data;
  GError         *failure;
  gboolean        finished;
  /* Plaintext waiting for its chunk to fill, sealed in place (the tag goes
   * right after it). */
  gsize           buffered;
  guint8          buffer[USI_CHUNKED_SEALED_CHUNK_LENGTH];
};

struct _UsiChunkedDecryptor
{
  MessageKeys     keys;
  gboolean        have_keys;
  /* Until the header has arrived in the stream, the input key and context
   * wait here; they are wiped as soon as the keys are derived. */
  guint8          input_key[USI_CHUNKED_KEY_LENGTH];
  guint8         *context;
  gsize           context_length;
  guint8          header[USI_CHUNKED_HEADER_LENGTH];
  gsize           header_length;
  guint64         next_index;
  UsiChunkedFunc  func;
  gpointer        user_data;
  GError         *failure;
  gboolean        finished;
  /* Ciphertext of the chunk being received, opened in place. */
  gsize           buffered;
  guint8          buffer[USI_CHUNKED_SEALED_CHUNK_LENGTH];
};

gboolean
usi_chunked_get_chunk_count (guint64   plaintext_length,
                             guint64  *chunk_count)
{
  /* Every full chunk, plus the short final one (empty when the length is a
   * multiple of the chunk size). */
  guint64 count = plaintext_length / USI_CHUNKED_CHUNK_LENGTH + 1;

  g_return_val_if_fail (chunk_count != NULL, FALSE);

  if (count > USI_CHUNKED_MAX_CHUNKS)
    return FALSE;

  *chunk_count = count;
  return TRUE;
}

gboolean
usi_chunked_get_ciphertext_length (guint64   plaintext_length,
                                   guint64  *ciphertext_length)
{
  guint64 count;

  g_return_val_if_fail (ciphertext_length != NULL, FALSE);

  if (!usi_chunked_get_chunk_count (plaintext_length, &count))
    return FALSE;

  *ciphertext_length = USI_CHUNKED_HEADER_LENGTH + plaintext_length + count * USI_CHUNKED_TAG_LENGTH;
  return TRUE;
}

gboolean
usi_chunked_get_plaintext_length (guint64   ciphertext_length,
                                  guint64  *plaintext_length)
{
  guint64 body, full_chunks, remainder;

  g_return_val_if_fail (plaintext_length != NULL, FALSE);

  if (ciphertext_length < USI_CHUNKED_HEADER_LENGTH)
    return FALSE;

  body = ciphertext_length - USI_CHUNKED_HEADER_LENGTH;
  full_chunks = body / USI_CHUNKED_SEALED_CHUNK_LENGTH;
  remainder = body % USI_CHUNKED_SEALED_CHUNK_LENGTH;
  if (remainder < USI_CHUNKED_TAG_LENGTH || full_chunks + 1 > USI_CHUNKED_MAX_CHUNKS)
    return FALSE;

  *plaintext_length = full_chunks * USI_CHUNKED_CHUNK_LENGTH + remainder - USI_CHUNKED_TAG_LENGTH;
  return TRUE;
}

static gboolean
check_key_length (gsize    key_length,
                  GError **error)
{
  if (key_length != USI_CHUNKED_KEY_LENGTH)
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_KEY,
                           _("The key of an encrypted file must be 32 bytes."));
      return FALSE;
    }

  return TRUE;
}

/* key ‖ base nonce ‖ commitment = HKDF-Expand (input key,
 *     INFO_PREFIX ‖ AEAD_NAME ‖ 0x00 ‖ salt ‖ context) */
static gboolean
derive_keys (const guint8  *input_key,
             const guint8  *context,
             gsize          context_length,
             const guint8  *salt,
             MessageKeys   *keys,
             guint8        *commitment,
             GError       **error)
{
  static const char label[] = INFO_PREFIX AEAD_NAME; /* sizeof counts the 0x00 */
  guint8 okm[sizeof keys->aead_key + sizeof keys->base_nonce + USI_CHUNKED_COMMITMENT_LENGTH];
  g_autofree guint8 *info = NULL;
  gsize info_length;
  gboolean ok;

  info_length = sizeof label + USI_CHUNKED_SALT_LENGTH + context_length;
  info = g_malloc (info_length);
  memcpy (info, label, sizeof label);
  memcpy (info + sizeof label, salt, USI_CHUNKED_SALT_LENGTH);
  if (context_length > 0)
    memcpy (info + sizeof label + USI_CHUNKED_SALT_LENGTH, context, context_length);

  ok = usi_hkdf_expand (USI_HASH_SHA512, input_key, USI_CHUNKED_KEY_LENGTH, info, info_length,
                           okm, sizeof okm, error);
  if (ok)
    {
      memcpy (keys->aead_key, okm, sizeof keys->aead_key);
      memcpy (keys->base_nonce, okm + sizeof keys->aead_key, sizeof keys->base_nonce);
      memcpy (commitment, okm + sizeof keys->aead_key + sizeof keys->base_nonce,
              USI_CHUNKED_COMMITMENT_LENGTH);
    }
  usi_secret_wipe (okm, sizeof okm);

  return ok;
}

/* Derives the keys for @header's salt and checks its commitment, before
 * anything is decrypted with them. */
static gboolean
derive_checked_keys (const guint8  *input_key,
                     const guint8  *context,
                     gsize          context_length,
                     const guint8  *header,
                     MessageKeys   *keys,
                     GError       **error)
{
  guint8 commitment[USI_CHUNKED_COMMITMENT_LENGTH];

  if (!derive_keys (input_key, context, context_length, header, keys, commitment, error))
    return FALSE;

  if (CRYPTO_memcmp (commitment, header + USI_CHUNKED_SALT_LENGTH, sizeof commitment) != 0)
    {
      usi_secret_wipe (keys, sizeof *keys);
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION,
                           _("The encrypted file does not match its key: it was altered, or the key or context is wrong."));
      return FALSE;
    }

  return TRUE;
}

/* base nonce XOR the chunk index as a 96-bit big-endian integer */
static void
chunk_nonce (const MessageKeys *keys,
             guint64            index,
             guint8            *nonce)
{
  memcpy (nonce, keys->base_nonce, USI_AEAD_NONCE_LENGTH);
  for (guint i = 0; i < 8; i++)
    nonce[USI_AEAD_NONCE_LENGTH - 1 - i] ^= (index >> (8 * i)) & 0xff;
}

static gboolean
check_index (guint64   index,
             GError  **error)
{
  if (index >= USI_CHUNKED_MAX_CHUNKS)
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_LIMIT,
                           _("The encrypted file is longer than the format allows."));
      return FALSE;
    }

  return TRUE;
}

/* Opens one chunk (whose tag follows its @length − tag bytes of ciphertext)
 * into @plaintext, giving the file-level message on a tag failure. */
static gboolean
open_chunk (const MessageKeys  *keys,
            guint64             index,
            const guint8       *ciphertext,
            gsize               length,
            guint8             *plaintext,
            GError            **error)
{
  g_autoptr(GError) local_error = NULL;
  guint8 nonce[USI_AEAD_NONCE_LENGTH];
  gsize body_length;

  g_assert (length >= USI_CHUNKED_TAG_LENGTH && length <= USI_CHUNKED_SEALED_CHUNK_LENGTH);

  if (!check_index (index, error))
    return FALSE;

  body_length = length - USI_CHUNKED_TAG_LENGTH;
  chunk_nonce (keys, index, nonce);
  if (!usi_aead_open (USI_AEAD_AES_256_GCM, keys->aead_key, nonce, NULL, 0,
                      ciphertext, body_length, ciphertext + body_length, USI_CHUNKED_TAG_LENGTH,
                      plaintext, &local_error))
    {
      if (g_error_matches (local_error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION))
        g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION,
                             _("Part of the encrypted file did not verify: it was altered, reordered or extended."));
      else
        g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }

  return TRUE;
}

/* Keeps the first error so every later call repeats it: a failed stream
 * never turns into a clean end. */
static gboolean
record_failure (GError  **failure,
                GError   *local_error,
                GError  **error)
{
  g_assert (*failure == NULL);
  g_assert (local_error != NULL);

  *failure = g_error_copy (local_error);
  g_propagate_error (error, local_error);
  return FALSE;
}

static gboolean
check_usable (GError   *failure,
              gboolean  finished,
              GError  **error)
{
  if (failure != NULL)
    {
      g_propagate_error (error, g_error_copy (failure));
      return FALSE;
    }
  if (finished)
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                           _("Data came after the end of the encrypted file."));
      return FALSE;
    }

  return TRUE;
}


/* Encryptor */

static UsiChunkedEncryptor *
encryptor_new (const guint8    *key,
               gsize            key_length,
               const guint8    *context,
               gsize            context_length,
               const guint8    *header,
               UsiRandom       *random,
               guint64          first_chunk_index,
               UsiChunkedFunc   func,
               gpointer         user_data,
               GError         **error)
{
  g_autoptr(UsiChunkedEncryptor) encryptor = NULL;

  if (!check_key_length (key_length, error) || !check_index (first_chunk_index, error))
    return NULL;

  encryptor = g_new0 (UsiChunkedEncryptor, 1);
  encryptor->func = func;
  encryptor->user_data = user_data;
  encryptor->next_index = first_chunk_index;

  if (header != NULL)
    {
      memcpy (encryptor->header, header, USI_CHUNKED_HEADER_LENGTH);
      if (!derive_checked_keys (key, context, context_length, header, &encryptor->keys, error))
        return NULL;
    }
  else
    {
      if (!usi_random_fill (random, encryptor->header, USI_CHUNKED_SALT_LENGTH, error) ||
          !derive_keys (key, context, context_length, encryptor->header, &encryptor->keys,
                        encryptor->header + USI_CHUNKED_SALT_LENGTH, error))
        return NULL;
    }

  return g_steal_pointer (&encryptor);
}

UsiChunkedEncryptor *
usi_chunked_encryptor_new (const guint8    *key,
                           gsize            key_length,
                           const guint8    *context,
                           gsize            context_length,
                           UsiRandom       *random,
                           UsiChunkedFunc   func,
                           gpointer         user_data,
                           GError         **error)
{
  g_return_val_if_fail (key != NULL, NULL);
  g_return_val_if_fail (context != NULL || context_length == 0, NULL);
  g_return_val_if_fail (random != NULL, NULL);
  g_return_val_if_fail (func != NULL, NULL);

  return encryptor_new (key, key_length, context, context_length, NULL, random, 0,
                        func, user_data, error);
}

UsiChunkedEncryptor *
usi_chunked_encryptor_new_resume (const guint8    *key,
                                  gsize            key_length,
                                  const guint8    *context,
                                  gsize            context_length,
                                  const guint8    *header,
                                  guint64          first_chunk_index,
                                  UsiChunkedFunc   func,
                                  gpointer         user_data,
                                  GError         **error)
{
  g_return_val_if_fail (key != NULL, NULL);
  g_return_val_if_fail (context != NULL || context_length == 0, NULL);
  g_return_val_if_fail (header != NULL, NULL);
  g_return_val_if_fail (func != NULL, NULL);

  return encryptor_new (key, key_length, context, context_length, header, NULL, first_chunk_index,
                        func, user_data, error);
}

const guint8 *
usi_chunked_encryptor_get_header (UsiChunkedEncryptor *encryptor)
{
  g_return_val_if_fail (encryptor != NULL, NULL);

  return encryptor->header;
}

guint64
usi_chunked_encryptor_get_next_index (UsiChunkedEncryptor *encryptor)
{
  g_return_val_if_fail (encryptor != NULL, 0);

  return encryptor->next_index;
}

/* Takes one whole chunk of @length bytes at @chunk (the owner's buffer, or
 * the caller's data when a whole chunk is there) for @owner, the encryptor
 * (which seals it) or the decryptor (which opens it), and passes the result
 * on to the owner's callback. */
typedef gboolean (*ChunkFunc) (gpointer       owner,
                               const guint8  *chunk,
                               gsize          length,
                               GError       **error);

/* Cuts a stream into whole chunks of @chunk_length for @emit, straight from
 * the caller's memory when nothing is buffered; a remainder waits in @buffer.
 * A full chunk is never the final one (the final chunk is always short), so
 * it goes out at once: only finish() emits the last one. */
static gboolean
feed_whole_chunks (guint8         *buffer,
                   gsize          *buffered,
                   gsize           chunk_length,
                   const guint8   *data,
                   gsize           length,
                   ChunkFunc       emit,
                   gpointer        owner,
                   GError        **error)
{
  while (length > 0)
    {
      gsize take;

      if (*buffered == 0 && length >= chunk_length)
        {
          if (!emit (owner, data, chunk_length, error))
            return FALSE;
          data += chunk_length;
          length -= chunk_length;
          continue;
        }

      take = MIN (length, chunk_length - *buffered);
      memcpy (buffer + *buffered, data, take);
      *buffered += take;
      data += take;
      length -= take;

      if (*buffered == chunk_length)
        {
          *buffered = 0;
          if (!emit (owner, buffer, chunk_length, error))
            return FALSE;
        }
    }

  return TRUE;
}

static gboolean
encryptor_emit (UsiChunkedEncryptor  *encryptor,
                const guint8         *plaintext,
                gsize                 length,
                gboolean              is_final,
                GError              **error)
{
  GError *local_error = NULL;
  guint8 nonce[USI_AEAD_NONCE_LENGTH];

  g_assert (length <= USI_CHUNKED_CHUNK_LENGTH);
  g_assert (is_final == (length < USI_CHUNKED_CHUNK_LENGTH));

  if (!check_index (encryptor->next_index, &local_error))
    return record_failure (&encryptor->failure, local_error, error);

  chunk_nonce (&encryptor->keys, encryptor->next_index, nonce);
  if (!usi_aead_seal (USI_AEAD_AES_256_GCM, encryptor->keys.aead_key, nonce, NULL, 0,
                      plaintext, length, encryptor->buffer, encryptor->buffer + length,
                      &local_error) ||
      !encryptor->func (encryptor->next_index, encryptor->buffer, length + USI_CHUNKED_TAG_LENGTH,
                        is_final, encryptor->user_data, &local_error))
    {
      if (local_error == NULL)
        g_set_error_literal (&local_error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_FAILED,
                             "the chunk callback failed without saying why");
      return record_failure (&encryptor->failure, local_error, error);
    }

  encryptor->next_index++;
  return TRUE;
}

static gboolean
encryptor_emit_full_chunk (gpointer       owner,
                           const guint8  *chunk,
                           gsize          length,
                           GError       **error)
{
  return encryptor_emit (owner, chunk, length, FALSE, error);
}

gboolean
usi_chunked_encryptor_push (UsiChunkedEncryptor  *encryptor,
                            const guint8         *data,
                            gsize                 length,
                            GError              **error)
{
  g_return_val_if_fail (encryptor != NULL, FALSE);
  g_return_val_if_fail (data != NULL || length == 0, FALSE);

  if (!check_usable (encryptor->failure, encryptor->finished, error))
    return FALSE;

  return feed_whole_chunks (encryptor->buffer, &encryptor->buffered, USI_CHUNKED_CHUNK_LENGTH,
                            data, length, encryptor_emit_full_chunk, encryptor, error);
}

gboolean
usi_chunked_encryptor_finish (UsiChunkedEncryptor  *encryptor,
                              GError              **error)
{
  gsize length;

  g_return_val_if_fail (encryptor != NULL, FALSE);

  if (!check_usable (encryptor->failure, encryptor->finished, error))
    return FALSE;

  length = encryptor->buffered;
  encryptor->buffered = 0;
  if (!encryptor_emit (encryptor, encryptor->buffer, length, TRUE, error))
    return FALSE;

  encryptor->finished = TRUE;
  return TRUE;
}

void
usi_chunked_encryptor_free (UsiChunkedEncryptor *encryptor)
{
  if (encryptor == NULL)
    return;

  g_clear_error (&encryptor->failure);
  /* Keys and any buffered plaintext. */
  usi_secret_wipe (encryptor, sizeof *encryptor);
  g_free (encryptor);
}


/* Decryptor */

static UsiChunkedDecryptor *
decryptor_new (const guint8    *key,
               gsize            key_length,
               const guint8    *context,
               gsize            context_length,
               const guint8    *header,
               guint64          first_chunk_index,
               UsiChunkedFunc   func,
               gpointer         user_data,
               GError         **error)
{
  g_autoptr(UsiChunkedDecryptor) decryptor = NULL;

  if (!check_key_length (key_length, error) || !check_index (first_chunk_index, error))
    return NULL;

  decryptor = g_new0 (UsiChunkedDecryptor, 1);
  decryptor->func = func;
  decryptor->user_data = user_data;
  decryptor->next_index = first_chunk_index;

  if (header != NULL)
    {
      memcpy (decryptor->header, header, USI_CHUNKED_HEADER_LENGTH);
      decryptor->header_length = USI_CHUNKED_HEADER_LENGTH;
      if (!derive_checked_keys (key, context, context_length, header, &decryptor->keys, error))
        return NULL;
      decryptor->have_keys = TRUE;
    }
  else
    {
      memcpy (decryptor->input_key, key, USI_CHUNKED_KEY_LENGTH);
      decryptor->context = g_memdup2 (context, context_length);
      decryptor->context_length = context_length;
    }

  return g_steal_pointer (&decryptor);
}

UsiChunkedDecryptor *
usi_chunked_decryptor_new (const guint8    *key,
                           gsize            key_length,
                           const guint8    *context,
                           gsize            context_length,
                           UsiChunkedFunc   func,
                           gpointer         user_data,
                           GError         **error)
{
  g_return_val_if_fail (key != NULL, NULL);
  g_return_val_if_fail (context != NULL || context_length == 0, NULL);
  g_return_val_if_fail (func != NULL, NULL);

  return decryptor_new (key, key_length, context, context_length, NULL, 0,
                        func, user_data, error);
}

UsiChunkedDecryptor *
usi_chunked_decryptor_new_with_header (const guint8    *key,
                                       gsize            key_length,
                                       const guint8    *context,
                                       gsize            context_length,
                                       const guint8    *header,
                                       guint64          first_chunk_index,
                                       UsiChunkedFunc   func,
                                       gpointer         user_data,
                                       GError         **error)
{
  g_return_val_if_fail (key != NULL, NULL);
  g_return_val_if_fail (context != NULL || context_length == 0, NULL);
  g_return_val_if_fail (header != NULL, NULL);

  return decryptor_new (key, key_length, context, context_length, header, first_chunk_index,
                        func, user_data, error);
}

guint64
usi_chunked_decryptor_get_next_index (UsiChunkedDecryptor *decryptor)
{
  g_return_val_if_fail (decryptor != NULL, 0);

  return decryptor->next_index;
}

static void
decryptor_forget_input_key (UsiChunkedDecryptor *decryptor)
{
  usi_secret_wipe (decryptor->input_key, sizeof decryptor->input_key);
  if (decryptor->context != NULL)
    usi_secret_wipe (decryptor->context, decryptor->context_length);
  g_clear_pointer (&decryptor->context, g_free);
  decryptor->context_length = 0;
}

/* Opens the chunk of @length bytes at @ciphertext (the buffer, or the
 * caller's data) into the buffer and, only once it verified, hands the
 * plaintext over. */
static gboolean
decryptor_emit (UsiChunkedDecryptor  *decryptor,
                const guint8         *ciphertext,
                gsize                 length,
                gboolean              is_final,
                GError              **error)
{
  GError *local_error = NULL;
  gsize plaintext_length = length - USI_CHUNKED_TAG_LENGTH;

  g_assert (decryptor->have_keys);
  g_assert (is_final == (length < USI_CHUNKED_SEALED_CHUNK_LENGTH));

  if (!open_chunk (&decryptor->keys, decryptor->next_index, ciphertext, length,
                   decryptor->buffer, &local_error))
    return record_failure (&decryptor->failure, local_error, error);

  if (decryptor->func != NULL &&
      !decryptor->func (decryptor->next_index, decryptor->buffer, plaintext_length, is_final,
                        decryptor->user_data, &local_error))
    {
      if (local_error == NULL)
        g_set_error_literal (&local_error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_FAILED,
                             "the chunk callback failed without saying why");
      return record_failure (&decryptor->failure, local_error, error);
    }

  decryptor->next_index++;
  return TRUE;
}

static gboolean
decryptor_emit_full_chunk (gpointer       owner,
                           const guint8  *chunk,
                           gsize          length,
                           GError       **error)
{
  return decryptor_emit (owner, chunk, length, FALSE, error);
}

gboolean
usi_chunked_decryptor_push (UsiChunkedDecryptor  *decryptor,
                            const guint8         *data,
                            gsize                 length,
                            GError              **error)
{
  g_return_val_if_fail (decryptor != NULL, FALSE);
  g_return_val_if_fail (data != NULL || length == 0, FALSE);

  if (!check_usable (decryptor->failure, decryptor->finished, error))
    return FALSE;

  if (!decryptor->have_keys)
    {
      GError *local_error = NULL;
      gsize take;

      take = MIN (length, USI_CHUNKED_HEADER_LENGTH - decryptor->header_length);
      memcpy (decryptor->header + decryptor->header_length, data, take);
      decryptor->header_length += take;
      data += take;
      length -= take;

      if (decryptor->header_length == USI_CHUNKED_HEADER_LENGTH)
        {
          gboolean ok = derive_checked_keys (decryptor->input_key, decryptor->context,
                                             decryptor->context_length, decryptor->header,
                                             &decryptor->keys, &local_error);

          decryptor_forget_input_key (decryptor);
          if (!ok)
            return record_failure (&decryptor->failure, local_error, error);
          decryptor->have_keys = TRUE;
        }

      /* Still inside the header: wait for more. */
      if (!decryptor->have_keys)
        return TRUE;
    }

  return feed_whole_chunks (decryptor->buffer, &decryptor->buffered, USI_CHUNKED_SEALED_CHUNK_LENGTH,
                            data, length, decryptor_emit_full_chunk, decryptor, error);
}

gboolean
usi_chunked_decryptor_finish (UsiChunkedDecryptor  *decryptor,
                              GError              **error)
{
  gsize length;

  g_return_val_if_fail (decryptor != NULL, FALSE);

  if (!check_usable (decryptor->failure, decryptor->finished, error))
    return FALSE;

  /* Ending inside the header or a tag, or right after a full chunk, means
   * the final short chunk is missing. */
  if (!decryptor->have_keys || decryptor->buffered < USI_CHUNKED_TAG_LENGTH)
    {
      GError *local_error = g_error_new_literal (USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_TRUNCATED,
                                                 _("The encrypted file ends too early: it is incomplete."));

      return record_failure (&decryptor->failure, local_error, error);
    }

  length = decryptor->buffered;
  decryptor->buffered = 0;
  if (!decryptor_emit (decryptor, decryptor->buffer, length, TRUE, error))
    return FALSE;

  decryptor->finished = TRUE;
  return TRUE;
}

gboolean
usi_chunked_decryptor_open_chunk (UsiChunkedDecryptor  *decryptor,
                                  guint64               index,
                                  const guint8         *ciphertext,
                                  gsize                 length,
                                  guint8               *plaintext,
                                  gboolean             *is_final,
                                  GError              **error)
{
  g_return_val_if_fail (decryptor != NULL, FALSE);
  g_return_val_if_fail (ciphertext != NULL || length == 0, FALSE);
  g_return_val_if_fail (plaintext != NULL, FALSE);

  if (!decryptor->have_keys)
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                           _("The header of the encrypted file has not arrived yet."));
      return FALSE;
    }
  if (length < USI_CHUNKED_TAG_LENGTH)
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_TRUNCATED,
                           _("The encrypted file ends too early: it is incomplete."));
      return FALSE;
    }
  if (length > USI_CHUNKED_SEALED_CHUNK_LENGTH)
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                           _("Part of the encrypted file is longer than a chunk."));
      return FALSE;
    }

  if (!open_chunk (&decryptor->keys, index, ciphertext, length, plaintext, error))
    return FALSE;

  if (is_final != NULL)
    *is_final = length < USI_CHUNKED_SEALED_CHUNK_LENGTH;
  return TRUE;
}

void
usi_chunked_decryptor_free (UsiChunkedDecryptor *decryptor)
{
  if (decryptor == NULL)
    return;

  decryptor_forget_input_key (decryptor);
  g_clear_error (&decryptor->failure);
  usi_secret_wipe (decryptor, sizeof *decryptor);
  g_free (decryptor);
}
