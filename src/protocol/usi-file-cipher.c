/* SPDX-License-Identifier: GPL-3.0-or-later */

/* File contents in transit: the file key from the epoch exporter, FileChunk
 * bodies, and a sender and a receiver that each hold one chunk.  The
 * receiver checks the key commitment before it decrypts anything, takes
 * chunks strictly in order, releases a chunk's plaintext only after its tag
 * verified, and accepts the file only when the final short chunk arrived at
 * the index the offered size implies and the signed FileEnd's hash matches
 * the ciphertext it received.  No I/O here: bytes come and go through the
 * caller.
 */

#define G_LOG_DOMAIN "usi-protocol"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "crypto/usi-crypto-error.h"
#include "crypto/usi-digest.h"
#include "crypto/usi-secret.h"

#include "usi-file-cipher.h"
#include "usi-protocol-error.h"
#include "usi-wire.h"

struct _UsiFileSender
{
  UsiChunkedEncryptor *encryptor;
  UsiHashState        *hash;
  guint8               room_id[USI_ROOM_ID_LENGTH];
  guint8               file_id[USI_FILE_ID_LENGTH];
  guint64              size;
  guint64              chunk_count;
  guint64              first_index;
  /* Plaintext bytes of the file accounted for, those before the first
   * index included. */
  guint64              pushed;
  UsiFileChunkFunc     func;
  gpointer             user_data;
  /* The body being handed out, reused for every chunk. */
  GByteArray          *body;
};

struct _UsiFileReceiver
{
  /* Kept only to re-encrypt restored chunks. */
  UsiFileKey           key;
  guint8               context[USI_FILE_CONTEXT_LENGTH];
  guint8               header[USI_CHUNKED_HEADER_LENGTH];
  guint64              size;
  guint64              chunk_count;
  guint64              next_index;
  UsiChunkedDecryptor *decryptor;
  UsiChunkedEncryptor *restorer;
  UsiHashState        *hash;
  gboolean             complete;
  guint8               ciphertext_hash[USI_HASH_LENGTH];
  /* Once set, the transfer failed for good. */
  GError              *failure;
  guint8               plaintext[USI_CHUNKED_CHUNK_LENGTH];
};

static void
write_be (guint8  *out,
          guint64  value,
          guint    bytes)
{
  for (guint i = 0; i < bytes; i++)
    out[i] = (value >> (8 * (bytes - 1 - i))) & 0xff;
}

/* room_id ‖ u64 epoch ‖ u32 sender_index ‖ file_id, the prefix shared by
 * the exporter context and the Cobblestone context. */
static gsize
write_file_binding (const guint8 *room_id,
                    guint64       epoch,
                    guint32       sender_index,
                    const guint8 *file_id,
                    guint8       *out)
{
  memcpy (out, room_id, USI_ROOM_ID_LENGTH);
  write_be (out + USI_ROOM_ID_LENGTH, epoch, 8);
  write_be (out + USI_ROOM_ID_LENGTH + 8, sender_index, 4);
  memcpy (out + USI_ROOM_ID_LENGTH + 12, file_id, USI_FILE_ID_LENGTH);
  return USI_ROOM_ID_LENGTH + 12 + USI_FILE_ID_LENGTH;
}

static void
write_context (const UsiFileKey *key,
               guint64           size,
               guint8           *context)
{
  gsize offset = write_file_binding (key->room_id, key->epoch, key->sender_index, key->file_id, context);

  write_be (context + offset, size, 8);
  g_assert (offset + 8 == USI_FILE_CONTEXT_LENGTH);
}

/* A key commitment or tag that does not verify is a protocol verdict;
 * anything else from the crypto layer (OpenSSL, the random source, the
 * caller's callback) passes through as it is. */
static void
propagate_crypto_error (GError **dest,
                        GError  *src)
{
  if (g_error_matches (src, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION))
    _usi_protocol_propagate_crypto_error (dest, src, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
  else
    g_propagate_error (dest, src);
}

static gboolean
check_size (guint64   size,
            guint64  *chunk_count,
            GError  **error)
{
  if (!usi_chunked_get_chunk_count (size, chunk_count))
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE,
                           _("The file is too large to be sent."));
      return FALSE;
    }

  return TRUE;
}

/* The plaintext length of chunk @index of a file of @size bytes. */
static gsize
chunk_plaintext_length (guint64 size,
                        guint64 chunk_count,
                        guint64 index)
{
  if (index + 1 < chunk_count)
    return USI_CHUNKED_CHUNK_LENGTH;

  return (gsize) (size - (chunk_count - 1) * USI_CHUNKED_CHUNK_LENGTH);
}


/* Keys */

gboolean
usi_file_key_derive (UsiEpoch      *epoch,
                     guint32        sender_index,
                     const guint8  *file_id,
                     UsiFileKey    *key,
                     GError       **error)
{
  guint8 exporter_context[USI_ROOM_ID_LENGTH + 12 + USI_FILE_ID_LENGTH];
  UsiFileKey derived = { 0 };

  g_return_val_if_fail (epoch != NULL, FALSE);
  g_return_val_if_fail (file_id != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);

  if (usi_epoch_lookup_member (epoch, sender_index) == NULL)
    {
      g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_MEMBER,
                   _("Member %u is not in the room’s member list for that file."), sender_index);
      return FALSE;
    }

  memcpy (derived.room_id, usi_epoch_get_room_id (epoch), USI_ROOM_ID_LENGTH);
  derived.epoch = usi_epoch_get_number (epoch);
  derived.sender_index = sender_index;
  memcpy (derived.file_id, file_id, USI_FILE_ID_LENGTH);
  write_file_binding (derived.room_id, derived.epoch, sender_index, file_id, exporter_context);

  if (!usi_epoch_export (epoch, USI_FILE_EXPORTER_LABEL, exporter_context, sizeof exporter_context,
                         derived.key, sizeof derived.key, error))
    {
      usi_file_key_clear (&derived);
      return FALSE;
    }

  *key = derived;
  usi_file_key_clear (&derived);
  return TRUE;
}

void
usi_file_key_clear (UsiFileKey *key)
{
  if (key != NULL)
    usi_secret_wipe (key, sizeof *key);
}


/* Chunk bodies */

gboolean
usi_file_chunk_decode (const guint8  *body,
                       gsize          length,
                       UsiFileChunk  *chunk,
                       GError       **error)
{
  UsiFileChunk decoded;
  UsiWireReader reader;

  g_return_val_if_fail (body != NULL || length == 0, FALSE);
  g_return_val_if_fail (chunk != NULL, FALSE);

  usi_wire_reader_init (&reader, body, length);
  if (!usi_wire_read_fixed (&reader, USI_ROOM_ID_LENGTH, &decoded.room_id, error) ||
      !usi_wire_read_fixed (&reader, USI_FILE_ID_LENGTH, &decoded.file_id, error) ||
      !usi_wire_read_u64 (&reader, &decoded.index, error) ||
      !usi_wire_read_opaque (&reader, USI_CHUNKED_SEALED_CHUNK_LENGTH, &decoded.ciphertext,
                             &decoded.ciphertext_length, error) ||
      !usi_wire_reader_finish (&reader, error))
    return FALSE;

  if (decoded.index >= USI_CHUNKED_MAX_CHUNKS || decoded.ciphertext_length < USI_CHUNKED_TAG_LENGTH)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                           _("A file chunk has an impossible index or length."));
      return FALSE;
    }

  *chunk = decoded;
  return TRUE;
}

void
usi_file_chunk_write (const UsiFileChunk *chunk,
                      GByteArray         *out)
{
  g_return_if_fail (chunk != NULL);
  g_return_if_fail (out != NULL);
  g_return_if_fail (chunk->ciphertext_length <= USI_CHUNKED_SEALED_CHUNK_LENGTH);

  usi_wire_write_fixed (out, chunk->room_id, USI_ROOM_ID_LENGTH);
  usi_wire_write_fixed (out, chunk->file_id, USI_FILE_ID_LENGTH);
  usi_wire_write_u64 (out, chunk->index);
  usi_wire_write_opaque (out, chunk->ciphertext, chunk->ciphertext_length);
}


/* Sender */

static gboolean
sender_on_chunk (guint64        index,
                 const guint8  *ciphertext,
                 gsize          length,
                 gboolean       is_final,
                 gpointer       user_data,
                 GError       **error)
{
  UsiFileSender *sender = user_data;
  UsiFileChunk chunk = {
    .room_id = sender->room_id,
    .file_id = sender->file_id,
    .index = index,
    .ciphertext = ciphertext,
    .ciphertext_length = length,
  };

  if (!usi_hash_state_update (sender->hash, ciphertext, length, error))
    return FALSE;

  g_byte_array_set_size (sender->body, 0);
  usi_file_chunk_write (&chunk, sender->body);
  return sender->func (index, sender->body->data, sender->body->len, is_final, sender->user_data, error);
}

static UsiFileSender *
sender_new (const UsiFileKey  *key,
            guint64            size,
            UsiRandom         *random,
            const guint8      *header,
            guint64            first_chunk_index,
            UsiFileChunkFunc   func,
            gpointer           user_data,
            GError           **error)
{
  g_autoptr(UsiFileSender) sender = g_new0 (UsiFileSender, 1);
  guint8 context[USI_FILE_CONTEXT_LENGTH];
  GError *local_error = NULL;

  if (!check_size (size, &sender->chunk_count, error))
    return NULL;
  if (first_chunk_index >= sender->chunk_count)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                           _("A transfer cannot resume past the end of the file."));
      return NULL;
    }

  memcpy (sender->room_id, key->room_id, USI_ROOM_ID_LENGTH);
  memcpy (sender->file_id, key->file_id, USI_FILE_ID_LENGTH);
  sender->size = size;
  sender->first_index = first_chunk_index;
  sender->pushed = first_chunk_index * USI_CHUNKED_CHUNK_LENGTH;
  sender->func = func;
  sender->user_data = user_data;
  sender->body = g_byte_array_sized_new (USI_FILE_CHUNK_MAX_LENGTH);

  sender->hash = usi_hash_state_new (USI_HASH_SHA256, error);
  if (sender->hash == NULL)
    return NULL;

  write_context (key, size, context);
  if (header == NULL)
    sender->encryptor = usi_chunked_encryptor_new (key->key, sizeof key->key, context, sizeof context,
                                                   random, sender_on_chunk, sender, &local_error);
  else
    sender->encryptor = usi_chunked_encryptor_new_resume (key->key, sizeof key->key, context, sizeof context,
                                                          header, first_chunk_index,
                                                          sender_on_chunk, sender, &local_error);
  if (sender->encryptor == NULL)
    {
      propagate_crypto_error (error, local_error);
      return NULL;
    }

  return g_steal_pointer (&sender);
}

UsiFileSender *
usi_file_sender_new (const UsiFileKey  *key,
                     guint64            size,
                     UsiRandom         *random,
                     UsiFileChunkFunc   func,
                     gpointer           user_data,
                     GError           **error)
{
  g_return_val_if_fail (key != NULL, NULL);
  g_return_val_if_fail (random != NULL, NULL);
  g_return_val_if_fail (func != NULL, NULL);

  return sender_new (key, size, random, NULL, 0, func, user_data, error);
}

UsiFileSender *
usi_file_sender_new_resume (const UsiFileKey  *key,
                            guint64            size,
                            const guint8      *header,
                            guint64            first_chunk_index,
                            UsiFileChunkFunc   func,
                            gpointer           user_data,
                            GError           **error)
{
  g_return_val_if_fail (key != NULL, NULL);
  g_return_val_if_fail (header != NULL, NULL);
  g_return_val_if_fail (func != NULL, NULL);

  return sender_new (key, size, NULL, header, first_chunk_index, func, user_data, error);
}

const guint8 *
usi_file_sender_get_header (UsiFileSender *sender)
{
  g_return_val_if_fail (sender != NULL, NULL);

  return usi_chunked_encryptor_get_header (sender->encryptor);
}

guint64
usi_file_sender_get_next_index (UsiFileSender *sender)
{
  g_return_val_if_fail (sender != NULL, 0);

  return usi_chunked_encryptor_get_next_index (sender->encryptor);
}

gboolean
usi_file_sender_push (UsiFileSender  *sender,
                      const guint8   *data,
                      gsize           length,
                      GError        **error)
{
  GError *local_error = NULL;

  g_return_val_if_fail (sender != NULL, FALSE);
  g_return_val_if_fail (data != NULL || length == 0, FALSE);

  /* Nothing of a piece that would overflow the offered size is sent: the
   * receiver would refuse the file anyway. */
  if (length > sender->size - sender->pushed)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_FILE_CORRUPT,
                           _("The file grew while it was being sent. Send it again."));
      return FALSE;
    }

  if (!usi_chunked_encryptor_push (sender->encryptor, data, length, &local_error))
    {
      propagate_crypto_error (error, local_error);
      return FALSE;
    }

  sender->pushed += length;
  return TRUE;
}

gboolean
usi_file_sender_finish (UsiFileSender  *sender,
                        UsiFileEnd     *end,
                        GError        **error)
{
  GError *local_error = NULL;

  g_return_val_if_fail (sender != NULL, FALSE);
  /* A resumed sender never saw the earlier ciphertext. */
  g_return_val_if_fail (end == NULL || sender->first_index == 0, FALSE);

  if (sender->pushed != sender->size)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_FILE_CORRUPT,
                           _("The file shrank while it was being sent. Send it again."));
      return FALSE;
    }

  if (!usi_chunked_encryptor_finish (sender->encryptor, &local_error))
    {
      propagate_crypto_error (error, local_error);
      return FALSE;
    }
  g_assert (usi_chunked_encryptor_get_next_index (sender->encryptor) == sender->chunk_count);

  if (end != NULL)
    {
      memcpy (end->file_id, sender->file_id, USI_FILE_ID_LENGTH);
      end->chunk_count = sender->chunk_count;
      if (!usi_hash_state_finish (sender->hash, end->ciphertext_hash, error))
        return FALSE;
    }

  return TRUE;
}

void
usi_file_sender_free (UsiFileSender *sender)
{
  if (sender == NULL)
    return;

  g_clear_pointer (&sender->encryptor, usi_chunked_encryptor_free);
  g_clear_pointer (&sender->hash, usi_hash_state_free);
  g_clear_pointer (&sender->body, g_byte_array_unref);
  g_free (sender);
}


/* Receiver */

/* Ends the transfer for good: this and every later call report @local_error. */
static gboolean
receiver_fail (UsiFileReceiver  *receiver,
               GError           *local_error,
               GError          **error)
{
  g_assert (receiver->failure == NULL);

  receiver->failure = g_error_copy (local_error);
  g_propagate_error (error, local_error);
  return FALSE;
}

static gboolean
receiver_check_usable (UsiFileReceiver  *receiver,
                       GError          **error)
{
  if (receiver->failure != NULL)
    {
      g_propagate_error (error, g_error_copy (receiver->failure));
      return FALSE;
    }

  return TRUE;
}

UsiFileReceiver *
usi_file_receiver_new (const UsiFileKey  *key,
                       guint64            size,
                       const guint8      *header,
                       GError           **error)
{
  g_autoptr(UsiFileReceiver) receiver = NULL;
  GError *local_error = NULL;

  g_return_val_if_fail (key != NULL, NULL);
  g_return_val_if_fail (header != NULL, NULL);

  receiver = g_new0 (UsiFileReceiver, 1);
  if (!check_size (size, &receiver->chunk_count, error))
    return NULL;

  receiver->key = *key;
  receiver->size = size;
  memcpy (receiver->header, header, USI_CHUNKED_HEADER_LENGTH);
  write_context (key, size, receiver->context);

  receiver->hash = usi_hash_state_new (USI_HASH_SHA256, error);
  if (receiver->hash == NULL)
    return NULL;

  /* The commitment is checked here, before any chunk can be given. */
  receiver->decryptor = usi_chunked_decryptor_new_with_header (key->key, sizeof key->key,
                                                               receiver->context, sizeof receiver->context,
                                                               header, 0, NULL, NULL, &local_error);
  if (receiver->decryptor == NULL)
    {
      propagate_crypto_error (error, local_error);
      return NULL;
    }

  return g_steal_pointer (&receiver);
}

guint64
usi_file_receiver_get_next_index (UsiFileReceiver *receiver)
{
  g_return_val_if_fail (receiver != NULL, 0);

  return receiver->next_index;
}

gboolean
usi_file_receiver_is_complete (UsiFileReceiver *receiver)
{
  g_return_val_if_fail (receiver != NULL, FALSE);

  return receiver->complete;
}

/* The chunk at the expected index verified (or was restored): hash its
 * ciphertext and move on. */
static gboolean
receiver_advance (UsiFileReceiver  *receiver,
                  const guint8     *ciphertext,
                  gsize             length,
                  GError          **error)
{
  GError *local_error = NULL;

  if (!usi_hash_state_update (receiver->hash, ciphertext, length, &local_error))
    return receiver_fail (receiver, local_error, error);

  receiver->next_index++;
  if (receiver->next_index == receiver->chunk_count)
    {
      if (!usi_hash_state_finish (receiver->hash, receiver->ciphertext_hash, &local_error))
        return receiver_fail (receiver, local_error, error);
      receiver->complete = TRUE;
    }

  return TRUE;
}

gboolean
usi_file_receiver_open_chunk (UsiFileReceiver     *receiver,
                              const UsiFileChunk  *chunk,
                              const guint8       **plaintext,
                              gsize               *plaintext_length,
                              gboolean            *is_final,
                              GError             **error)
{
  GError *local_error = NULL;
  gsize expected_length;
  gboolean final = FALSE;

  g_return_val_if_fail (receiver != NULL, FALSE);
  g_return_val_if_fail (chunk != NULL, FALSE);
  g_return_val_if_fail (plaintext != NULL, FALSE);
  g_return_val_if_fail (plaintext_length != NULL, FALSE);

  if (!receiver_check_usable (receiver, error))
    return FALSE;

  /* Chunks that are not for this position are dropped and change nothing. */
  if (memcmp (chunk->room_id, receiver->key.room_id, USI_ROOM_ID_LENGTH) != 0)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_ROOM,
                           _("A file chunk from another room was refused."));
      return FALSE;
    }
  if (memcmp (chunk->file_id, receiver->key.file_id, USI_FILE_ID_LENGTH) != 0)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_FILE_CORRUPT,
                           _("A chunk of another file was refused."));
      return FALSE;
    }
  if (chunk->index < receiver->next_index)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DUPLICATE,
                           _("A part of the file arrived twice; the copy was ignored."));
      return FALSE;
    }

  /* A chunk past the end that the offered size allows is never valid. */
  if (chunk->index >= receiver->chunk_count)
    return receiver_fail (receiver,
                          g_error_new_literal (USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_FILE_CORRUPT,
                                               _("The file goes on past its announced end: it was refused.")),
                          error);

  if (chunk->index > receiver->next_index)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_FAR_AHEAD,
                           _("Parts of the file are missing; the transfer needs to resume."));
      return FALSE;
    }

  /* The expected chunk.  From here on a failure ends the transfer. */
  g_clear_pointer (&receiver->restorer, usi_chunked_encryptor_free);
  expected_length = chunk_plaintext_length (receiver->size, receiver->chunk_count, chunk->index) +
                    USI_CHUNKED_TAG_LENGTH;
  if (chunk->ciphertext_length != expected_length)
    return receiver_fail (receiver,
                          g_error_new_literal (USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_FILE_CORRUPT,
                                               _("The file’s size differs from the size announced: it was refused.")),
                          error);

  if (!usi_chunked_decryptor_open_chunk (receiver->decryptor, chunk->index, chunk->ciphertext,
                                         chunk->ciphertext_length, receiver->plaintext, &final,
                                         &local_error))
    {
      GError *mapped = NULL;

      propagate_crypto_error (&mapped, local_error);
      return receiver_fail (receiver, mapped, error);
    }
  g_assert (final == (chunk->index + 1 == receiver->chunk_count));

  if (!receiver_advance (receiver, chunk->ciphertext, chunk->ciphertext_length, error))
    {
      usi_secret_wipe (receiver->plaintext, sizeof receiver->plaintext);
      return FALSE;
    }

  *plaintext = receiver->plaintext;
  *plaintext_length = expected_length - USI_CHUNKED_TAG_LENGTH;
  if (is_final != NULL)
    *is_final = final;
  return TRUE;
}

static gboolean
restore_on_chunk (guint64        index,
                  const guint8  *ciphertext,
                  gsize          length,
                  gboolean       is_final,
                  gpointer       user_data,
                  GError       **error)
{
  UsiFileReceiver *receiver = user_data;

  g_assert (index == receiver->next_index);
  return receiver_advance (receiver, ciphertext, length, error);
}

gboolean
usi_file_receiver_restore (UsiFileReceiver  *receiver,
                           const guint8     *plaintext,
                           gsize             length,
                           GError          **error)
{
  GError *local_error = NULL;
  gboolean final;

  g_return_val_if_fail (receiver != NULL, FALSE);
  g_return_val_if_fail (plaintext != NULL || length == 0, FALSE);

  if (!receiver_check_usable (receiver, error))
    return FALSE;

  if (receiver->complete ||
      length != chunk_plaintext_length (receiver->size, receiver->chunk_count, receiver->next_index))
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_FILE_CORRUPT,
                           _("The saved part of the file does not match the transfer; start it again."));
      return FALSE;
    }

  /* Same key, context, header and index: the same ciphertext as received,
   * which is only hashed, never sent. */
  if (receiver->restorer != NULL &&
      usi_chunked_encryptor_get_next_index (receiver->restorer) != receiver->next_index)
    g_clear_pointer (&receiver->restorer, usi_chunked_encryptor_free);
  if (receiver->restorer == NULL)
    {
      receiver->restorer = usi_chunked_encryptor_new_resume (receiver->key.key, sizeof receiver->key.key,
                                                             receiver->context, sizeof receiver->context,
                                                             receiver->header, receiver->next_index,
                                                             restore_on_chunk, receiver, &local_error);
      if (receiver->restorer == NULL)
        {
          propagate_crypto_error (error, local_error);
          return FALSE;
        }
    }

  final = receiver->next_index + 1 == receiver->chunk_count;
  if (!usi_chunked_encryptor_push (receiver->restorer, plaintext, length, &local_error) ||
      (final && !usi_chunked_encryptor_finish (receiver->restorer, &local_error)))
    {
      g_clear_pointer (&receiver->restorer, usi_chunked_encryptor_free);
      if (receiver->failure != NULL)
        {
          g_clear_error (&local_error);
          return receiver_check_usable (receiver, error);
        }
      propagate_crypto_error (error, local_error);
      return FALSE;
    }

  if (final)
    g_clear_pointer (&receiver->restorer, usi_chunked_encryptor_free);
  return TRUE;
}

gboolean
usi_file_receiver_finish (UsiFileReceiver   *receiver,
                          const UsiFileEnd  *end,
                          GError           **error)
{
  g_return_val_if_fail (receiver != NULL, FALSE);
  g_return_val_if_fail (end != NULL, FALSE);

  if (!receiver_check_usable (receiver, error))
    return FALSE;

  if (memcmp (end->file_id, receiver->key.file_id, USI_FILE_ID_LENGTH) != 0)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_FILE_CORRUPT,
                           _("The end of another file was refused."));
      return FALSE;
    }

  if (!receiver->complete)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_FILE_CORRUPT,
                           _("The file ended before its last part arrived: it is incomplete."));
      return FALSE;
    }

  /* Both values are public (the hash is of ciphertext the relay saw), so a
   * plain comparison leaks nothing. */
  if (end->chunk_count != receiver->chunk_count ||
      memcmp (end->ciphertext_hash, receiver->ciphertext_hash, USI_HASH_LENGTH) != 0)
    return receiver_fail (receiver,
                          g_error_new_literal (USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_FILE_CORRUPT,
                                               _("The file received is not the file its sender sent: it was refused.")),
                          error);

  return TRUE;
}

void
usi_file_receiver_free (UsiFileReceiver *receiver)
{
  if (receiver == NULL)
    return;

  g_clear_pointer (&receiver->decryptor, usi_chunked_decryptor_free);
  g_clear_pointer (&receiver->restorer, usi_chunked_encryptor_free);
  g_clear_pointer (&receiver->hash, usi_hash_state_free);
  g_clear_error (&receiver->failure);
  /* The key and the last chunk's plaintext. */
  usi_secret_wipe (receiver, sizeof *receiver);
  g_free (receiver);
}
