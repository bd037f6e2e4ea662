/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

#include "usi-random.h"

G_BEGIN_DECLS

/* C2SP chunked encryption (https://c2sp.org/chunked-encryption), instantiated
 * as Cobblestone-256: HKDF-SHA-512 and AES-256-GCM.
 *
 *   aead_key ‖ base_nonce ‖ commitment = HKDF-Expand-SHA-512 (input key,
 *       "c2sp.org/chunked-encryption@v1+" ‖ "AEAD_AES_256_GCM" ‖ 0x00 ‖ salt ‖ context)
 *   message = salt[24] ‖ commitment[32] ‖ chunk 0 ‖ chunk 1 ‖ …
 *   chunk i = AES-256-GCM (aead_key, base_nonce XOR be96(i), aad = empty)
 *
 * Every chunk carries 16 KiB of plaintext except the last, which is always
 * shorter (possibly empty): that short chunk is the end-of-message marker, so
 * there is no final flag anywhere.  The 56-byte header is the "header" below.
 *
 * Both directions stream with one chunk of memory: the encryptor hands each
 * ciphertext chunk to a callback as soon as it is full; the decryptor hands
 * each plaintext chunk to the callback only after its tag verified, and
 * checks the commitment before it decrypts anything.
 */

#define USI_CHUNKED_KEY_LENGTH          32
#define USI_CHUNKED_SALT_LENGTH         24
#define USI_CHUNKED_COMMITMENT_LENGTH   32
#define USI_CHUNKED_HEADER_LENGTH       (USI_CHUNKED_SALT_LENGTH + USI_CHUNKED_COMMITMENT_LENGTH)
#define USI_CHUNKED_TAG_LENGTH          16
/* Plaintext bytes in every chunk but the final one. */
#define USI_CHUNKED_CHUNK_LENGTH        16384
/* Ciphertext bytes of every chunk but the final one. */
#define USI_CHUNKED_SEALED_CHUNK_LENGTH (USI_CHUNKED_CHUNK_LENGTH + USI_CHUNKED_TAG_LENGTH)
/* The spec's cap: chunk indices are below 2^38. */
#define USI_CHUNKED_MAX_CHUNKS          (G_GUINT64_CONSTANT (1) << 38)

/* Receives one chunk: ciphertext from the encryptor, verified plaintext from
 * the decryptor.  @index is the chunk's number; @is_final is TRUE for the
 * short last chunk (then @length may be 0).  @data is valid only during the
 * call.  Return FALSE and set @error to stop the stream (a write failed, the
 * transfer was cancelled); the encryptor or decryptor then stays failed. */
typedef gboolean (*UsiChunkedFunc) (guint64        index,
                                    const guint8  *data,
                                    gsize          length,
                                    gboolean       is_final,
                                    gpointer       user_data,
                                    GError       **error);

/* Sizes of a message of @plaintext_length bytes: its chunk count (the final
 * short chunk included) and its full length with the header.  Return FALSE
 * past the spec's limit of 2^38 chunks. */
gboolean usi_chunked_get_chunk_count       (guint64   plaintext_length,
                                            guint64  *chunk_count);
gboolean usi_chunked_get_ciphertext_length (guint64   plaintext_length,
                                            guint64  *ciphertext_length);
/* The plaintext length for a full message (header included) of
 * @ciphertext_length bytes; FALSE when no message has that length (too short
 * for the header, or a final chunk shorter than its tag). */
gboolean usi_chunked_get_plaintext_length  (guint64   ciphertext_length,
                                            guint64  *plaintext_length);


typedef struct _UsiChunkedEncryptor UsiChunkedEncryptor;

/* Starts a new message under @key (USI_CHUNKED_KEY_LENGTH bytes, uniformly
 * random, e.g. from a KDF) with a fresh salt from @random.  @context (may be
 * empty) is bound into the key derivation: the decryptor must give the same.
 * Chunks go to @func as they fill up; the header is
 * usi_chunked_encryptor_get_header() and must precede them. */
UsiChunkedEncryptor *usi_chunked_encryptor_new        (const guint8         *key,
                                                       gsize                 key_length,
                                                       const guint8         *context,
                                                       gsize                 context_length,
                                                       UsiRandom            *random,
                                                       UsiChunkedFunc        func,
                                                       gpointer              user_data,
                                                       GError              **error);
/* Re-creates the encryptor of an existing message from its @header
 * (USI_CHUNKED_HEADER_LENGTH bytes, commitment checked) to re-send it from
 * chunk @first_chunk_index on, or to compare against known ciphertext.
 * DANGER: the plaintext pushed must be exactly the bytes originally encrypted
 * from that chunk on.  Different plaintext under the same header reuses
 * AES-GCM nonces, which reveals both plaintexts and lets anyone forge chunks. */
UsiChunkedEncryptor *usi_chunked_encryptor_new_resume (const guint8         *key,
                                                       gsize                 key_length,
                                                       const guint8         *context,
                                                       gsize                 context_length,
                                                       const guint8         *header,
                                                       guint64               first_chunk_index,
                                                       UsiChunkedFunc        func,
                                                       gpointer              user_data,
                                                       GError              **error);
/* USI_CHUNKED_HEADER_LENGTH bytes: salt ‖ commitment. */
const guint8        *usi_chunked_encryptor_get_header (UsiChunkedEncryptor  *encryptor);
/* Encrypts plaintext in pieces of any size; every full 16 KiB chunk goes to
 * the callback before this returns, so at most one chunk is ever buffered. */
gboolean             usi_chunked_encryptor_push       (UsiChunkedEncryptor  *encryptor,
                                                       const guint8         *data,
                                                       gsize                 length,
                                                       GError              **error);
/* Emits the final short chunk (empty when the plaintext filled its last
 * chunk exactly).  The encryptor accepts nothing afterwards. */
gboolean             usi_chunked_encryptor_finish     (UsiChunkedEncryptor  *encryptor,
                                                       GError              **error);
/* The index of the next chunk to be emitted; after finishing, the message's
 * chunk count. */
guint64              usi_chunked_encryptor_get_next_index (UsiChunkedEncryptor *encryptor);
void                 usi_chunked_encryptor_free       (UsiChunkedEncryptor  *encryptor);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiChunkedEncryptor, usi_chunked_encryptor_free)


typedef struct _UsiChunkedDecryptor UsiChunkedDecryptor;

/* Decrypts a whole message (header first) pushed in pieces of any size.
 * The commitment is checked as soon as the header is complete.  Errors, in
 * the USI_CRYPTO_ERROR domain:
 *   INVALID_KEY     @key is not USI_CHUNKED_KEY_LENGTH bytes;
 *   AUTHENTICATION  wrong key or context, modified header, a chunk whose tag
 *                   does not verify (modified, reordered, duplicated, or
 *                   bytes after the final chunk);
 *   TRUNCATED       the stream ended inside the header, inside a tag, or
 *                   right after a full chunk (no final short chunk);
 *   LIMIT           more than 2^38 chunks;
 *   INVALID_ARGUMENT data pushed after usi_chunked_decryptor_finish().
 * After an error every further call fails with the same error. */
UsiChunkedDecryptor *usi_chunked_decryptor_new             (const guint8         *key,
                                                            gsize                 key_length,
                                                            const guint8         *context,
                                                            gsize                 context_length,
                                                            UsiChunkedFunc        func,
                                                            gpointer              user_data,
                                                            GError              **error);
/* For a message whose @header (USI_CHUNKED_HEADER_LENGTH bytes) arrived
 * separately: checks the commitment now (AUTHENTICATION when it does not
 * match) and then expects chunk bytes only, starting at chunk
 * @first_chunk_index — 0 for a new transfer, i to resume after chunk i − 1.
 * @func may be NULL if only usi_chunked_decryptor_open_chunk() is used. */
UsiChunkedDecryptor *usi_chunked_decryptor_new_with_header (const guint8         *key,
                                                            gsize                 key_length,
                                                            const guint8         *context,
                                                            gsize                 context_length,
                                                            const guint8         *header,
                                                            guint64               first_chunk_index,
                                                            UsiChunkedFunc        func,
                                                            gpointer              user_data,
                                                            GError              **error);
/* Feeds ciphertext.  Each chunk goes to the callback as soon as it is
 * complete and verified; the final short chunk can only be recognised at
 * usi_chunked_decryptor_finish(). */
gboolean             usi_chunked_decryptor_push            (UsiChunkedDecryptor  *decryptor,
                                                            const guint8         *data,
                                                            gsize                 length,
                                                            GError              **error);
/* The stream ended: decrypts the final short chunk, or fails with TRUNCATED
 * when there is none.  Only after this returned TRUE is the message whole. */
gboolean             usi_chunked_decryptor_finish          (UsiChunkedDecryptor  *decryptor,
                                                            GError              **error);
/* Random access: decrypts chunk @index on its own, independent of the
 * stream position.  @ciphertext is the whole chunk: USI_CHUNKED_SEALED_CHUNK_LENGTH
 * bytes for an inner chunk, fewer (at least the tag) for the final one, which
 * sets *@is_final.  @plaintext receives @length − USI_CHUNKED_TAG_LENGTH bytes
 * (it may be @ciphertext) and is wiped if the tag does not verify.  Note that
 * a short chunk verifying at @index proves the message has exactly @index + 1
 * chunks; an inner chunk proves nothing about the length. */
gboolean             usi_chunked_decryptor_open_chunk      (UsiChunkedDecryptor  *decryptor,
                                                            guint64               index,
                                                            const guint8         *ciphertext,
                                                            gsize                 length,
                                                            guint8               *plaintext,
                                                            gboolean             *is_final,
                                                            GError              **error);
/* The index of the next chunk the stream expects (where to resume after a
 * break); after a successful finish, the message's chunk count. */
guint64              usi_chunked_decryptor_get_next_index  (UsiChunkedDecryptor  *decryptor);
void                 usi_chunked_decryptor_free            (UsiChunkedDecryptor  *decryptor);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiChunkedDecryptor, usi_chunked_decryptor_free)

G_END_DECLS
