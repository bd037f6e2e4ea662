/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

#include "crypto/usi-chunked.h"
#include "crypto/usi-random.h"

#include "usi-epoch.h"
#include "usi-file-offer.h"

G_BEGIN_DECLS

/* File contents (docs/protocol.md §10): Cobblestone-256 under a key exported
 * from the epoch the offer was sent in, one chunk per FileChunk frame.  The
 * sender and the receiver each hold one chunk in memory, whatever the size
 * of the file, and both can restart at a chunk index. */

/* The label of the file key's MLS-Exporter (under USI_LABEL_PREFIX). */
#define USI_FILE_EXPORTER_LABEL       "file"
/* room_id ‖ u64 epoch ‖ u32 sender_index ‖ file_id ‖ u64 size */
#define USI_FILE_CONTEXT_LENGTH       (USI_ROOM_ID_LENGTH + 8 + 4 + USI_FILE_ID_LENGTH + 8)
/* room_id ‖ file_id ‖ u64 index ‖ V<ciphertext> with the longest chunk. */
#define USI_FILE_CHUNK_MAX_LENGTH     (USI_ROOM_ID_LENGTH + USI_FILE_ID_LENGTH + 8 + 4 + \
                                       USI_CHUNKED_SEALED_CHUNK_LENGTH)

/* Everything a transfer needs from the epoch of its offer.  The caller keeps
 * it (wiped with usi_file_key_clear) for the whole transfer, which may
 * outlast that epoch. */
typedef struct
{
  guint8  room_id[USI_ROOM_ID_LENGTH];
  guint64 epoch;
  guint32 sender_index;
  guint8  file_id[USI_FILE_ID_LENGTH];
  guint8  key[USI_CHUNKED_KEY_LENGTH];
} UsiFileKey;

/* key = MLS-Exporter ("file", room_id ‖ u64 epoch ‖ u32 sender_index ‖
 * file_id, 32) of @epoch, the epoch the offer was sealed in.
 * NOT_MEMBER when @sender_index is not in its roster. */
gboolean       usi_file_key_derive              (UsiEpoch          *epoch,
                                                 guint32            sender_index,
                                                 const guint8      *file_id,
                                                 UsiFileKey        *key,
                                                 GError           **error);
void           usi_file_key_clear               (UsiFileKey        *key);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (UsiFileKey, usi_file_key_clear)


/* A FileChunk frame body, pointing into the bytes it was decoded from. */
typedef struct
{
  const guint8 *room_id;
  const guint8 *file_id;
  guint64       index;
  const guint8 *ciphertext;
  gsize         ciphertext_length;
} UsiFileChunk;

/* Canonical: MALFORMED (truncated, trailing bytes, a ciphertext shorter
 * than its tag, an index past 2^38), TOO_LARGE (a ciphertext longer than a
 * sealed chunk).  Routing by room and file id is the caller's. */
gboolean       usi_file_chunk_decode            (const guint8      *body,
                                                 gsize              length,
                                                 UsiFileChunk      *chunk,
                                                 GError           **error);
void           usi_file_chunk_write             (const UsiFileChunk *chunk,
                                                 GByteArray        *out);


/* Receives each FileChunk body the sender produces, in index order; @body is
 * valid only during the call.  Return FALSE with @error set to stop. */
typedef gboolean (*UsiFileChunkFunc) (guint64        index,
                                      const guint8  *body,
                                      gsize          body_length,
                                      gboolean       is_final,
                                      gpointer       user_data,
                                      GError       **error);

typedef struct _UsiFileSender UsiFileSender;

/* Starts the ciphertext of a file of @size bytes with a fresh salt; the
 * header (salt ‖ commitment) goes into the offer.  To offer many files
 * without holding a sender each, take the header, free the sender, and
 * re-create it with usi_file_sender_new_resume (…, 0, …) when its turn
 * comes. */
UsiFileSender *usi_file_sender_new              (const UsiFileKey  *key,
                                                 guint64            size,
                                                 UsiRandom         *random,
                                                 UsiFileChunkFunc   func,
                                                 gpointer           user_data,
                                                 GError           **error);
/* The sender of an offered file from chunk @first_chunk_index on: push the
 * plaintext from byte @first_chunk_index × 16 KiB.  It must be exactly the
 * plaintext offered (anything else under the same header would reuse AES-GCM
 * nonces).  Only a sender started at 0 makes the FileEnd: to rebuild it after
 * a crash, start at 0 and let @func skip the chunks already sent.
 * MALFORMED for an index past the file's final chunk. */
UsiFileSender *usi_file_sender_new_resume       (const UsiFileKey  *key,
                                                 guint64            size,
                                                 const guint8      *header,
                                                 guint64            first_chunk_index,
                                                 UsiFileChunkFunc   func,
                                                 gpointer           user_data,
                                                 GError           **error);
/* USI_CHUNKED_HEADER_LENGTH bytes. */
const guint8  *usi_file_sender_get_header       (UsiFileSender     *sender);
/* Plaintext in pieces of any size; each full chunk goes to @func before this
 * returns.  FILE_CORRUPT if the file grows past its offered size. */
gboolean       usi_file_sender_push             (UsiFileSender     *sender,
                                                 const guint8      *data,
                                                 gsize              length,
                                                 GError           **error);
/* Emits the final short chunk and, if @end is not NULL (only for a sender
 * started at chunk 0), fills the FileEnd.  FILE_CORRUPT if the file is
 * shorter than offered. */
gboolean       usi_file_sender_finish           (UsiFileSender     *sender,
                                                 UsiFileEnd        *end,
                                                 GError           **error);
guint64        usi_file_sender_get_next_index   (UsiFileSender     *sender);
void           usi_file_sender_free             (UsiFileSender     *sender);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiFileSender, usi_file_sender_free)


typedef struct _UsiFileReceiver UsiFileReceiver;

/* Checks the key commitment of @header (from the offer entry of @size
 * bytes) before anything is decrypted: DECRYPTION_FAILED for a wrong key,
 * wrong context or modified header. */
UsiFileReceiver *usi_file_receiver_new            (const UsiFileKey  *key,
                                                   guint64            size,
                                                   const guint8      *header,
                                                   GError           **error);
/* Accepts the chunk at the expected index only.  On success *@plaintext
 * points to its verified plaintext (valid until the next call on the
 * receiver) and *@is_final says whether it was the final chunk.
 * Refused, receiver unchanged (the chunk is dropped):
 *   WRONG_ROOM, FILE_CORRUPT  the chunk belongs to another room or file;
 *   DUPLICATE                 an index already accepted;
 *   TOO_FAR_AHEAD             an index past the expected one: chunks are
 *                             missing, ask the sender to resume from
 *                             usi_file_receiver_get_next_index().
 * Refused, transfer failed for good (every later call fails the same way):
 *   FILE_CORRUPT              a chunk after the final one, or a chunk whose
 *                             length does not match the offered size;
 *   DECRYPTION_FAILED         the chunk's tag does not verify. */
gboolean         usi_file_receiver_open_chunk     (UsiFileReceiver   *receiver,
                                                   const UsiFileChunk *chunk,
                                                   const guint8     **plaintext,
                                                   gsize             *plaintext_length,
                                                   gboolean          *is_final,
                                                   GError           **error);
/* After a restart: feeds back the plaintext of the chunk at the expected
 * index, as saved before the restart (whole chunk: 16 KiB, or the final
 * remainder), so the ciphertext hash can be rebuilt by re-encrypting it
 * (Cobblestone is deterministic for a given header).  Plaintext that differs
 * from what was received makes the FileEnd check fail.  FILE_CORRUPT,
 * receiver unchanged, for a wrong length or a complete transfer. */
gboolean         usi_file_receiver_restore        (UsiFileReceiver   *receiver,
                                                   const guint8      *plaintext,
                                                   gsize              length,
                                                   GError           **error);
/* The index of the chunk expected next: where to resume.  After the final
 * chunk, the chunk count. */
guint64          usi_file_receiver_get_next_index (UsiFileReceiver   *receiver);
/* TRUE once the final chunk was accepted. */
gboolean         usi_file_receiver_is_complete    (UsiFileReceiver   *receiver);
/* Checks the sender's FileEnd against what was received.  Only after this
 * returned TRUE may the file be kept.
 *   FILE_CORRUPT, receiver unchanged: @end names another file, or the final
 *                 chunk has not been accepted yet (truncated: resume or give up);
 *   FILE_CORRUPT, failed for good: chunk count or ciphertext hash differ. */
gboolean         usi_file_receiver_finish         (UsiFileReceiver   *receiver,
                                                   const UsiFileEnd  *end,
                                                   GError           **error);
void             usi_file_receiver_free           (UsiFileReceiver   *receiver);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiFileReceiver, usi_file_receiver_free)

G_END_DECLS
