/* SPDX-License-Identifier: GPL-3.0-or-later */

#include "config.h"

#include <string.h>

#include "crypto/usi-chunked.h"
#include "crypto/usi-mls-key-schedule.h"
#include "crypto/usi-random.h"
#include "protocol/usi-file-cipher.h"
#include "protocol/usi-frame.h"
#include "protocol/usi-identity.h"
#include "protocol/usi-protocol-error.h"
#include "protocol/usi-wire.h"

#define N_MEMBERS  3
#define SENDER     1
#define NOW        G_GUINT64_CONSTANT (1700000000000)
#define CHUNK      USI_CHUNKED_CHUNK_LENGTH

/* An epoch built directly from random secrets, as the commit code would. */
static UsiEpoch *
make_epoch (UsiRandom    *random,
            const guint8 *room_id,
            guint64       number)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) roster = g_ptr_array_new_with_free_func ((GDestroyNotify) usi_roster_entry_free);
  g_autoptr(GBytes) group_context = NULL;
  g_auto(UsiMlsEpochSecrets) secrets = { 0 };
  guint8 init_secret[32], commit_secret[32], tree_hash[32];
  UsiEpoch *epoch;

  for (guint i = 0; i < N_MEMBERS; i++)
    {
      g_autoptr(UsiIdentity) identity = usi_identity_generate (random, &error);
      g_auto(UsiLeafSecret) leaf = { 0 };

      g_assert_no_error (error);
      g_assert_true (usi_leaf_secret_generate (random, identity, 0, NOW, &leaf, &error));
      g_ptr_array_add (roster, usi_roster_entry_new (i, &leaf.node, "Member"));
    }

  g_assert_true (usi_random_fill (random, init_secret, sizeof init_secret, &error));
  g_assert_true (usi_random_fill (random, commit_secret, sizeof commit_secret, &error));
  g_assert_true (usi_random_fill (random, tree_hash, sizeof tree_hash, &error));
  group_context = usi_mls_group_context_serialize (USI_MLS_CIPHER_SUITE_3, room_id, USI_ROOM_ID_LENGTH, number,
                                                   tree_hash, sizeof tree_hash, NULL, 0, NULL, 0, &error);
  g_assert_no_error (error);
  g_assert_true (usi_mls_key_schedule_derive (USI_LABEL_PREFIX, init_secret, commit_secret, NULL,
                                              g_bytes_get_data (group_context, NULL),
                                              g_bytes_get_size (group_context), &secrets, &error));

  epoch = usi_epoch_new (USI_ROOM_MODE_OWNED, room_id, number, group_context, &secrets, roster,
                         0, 0, 1000, &error);
  g_assert_no_error (error);
  return epoch;
}

/* Collects the bodies a sender produces. */
typedef struct
{
  GPtrArray *bodies;       /* GBytes, in order */
  guint64    first_index;
  guint64    skip_below;
  gboolean   saw_final;
} Collector;

static gboolean
collect_chunk (guint64        index,
               const guint8  *body,
               gsize          length,
               gboolean       is_final,
               gpointer       user_data,
               GError       **error)
{
  Collector *collector = user_data;

  if (index < collector->skip_below)
    return TRUE;

  g_assert_false (collector->saw_final);
  g_assert_cmpuint (index, ==, MAX (collector->first_index, collector->skip_below) + collector->bodies->len);
  g_assert_cmpuint (length, <=, USI_FILE_CHUNK_MAX_LENGTH);
  collector->saw_final = is_final;
  g_ptr_array_add (collector->bodies, g_bytes_new (body, length));
  return TRUE;
}

/* One file offered by member SENDER, encrypted in full. */
typedef struct
{
  UsiRandom  *random;
  guint8      room_id[USI_ROOM_ID_LENGTH];
  UsiEpoch   *epoch;
  UsiFileKey  key;
  guint64     size;
  guint8     *plaintext;
  guint8      header[USI_CHUNKED_HEADER_LENGTH];
  GPtrArray  *bodies;
  UsiFileEnd  end;
} Transfer;

static void
transfer_encrypt (Transfer *transfer,
                  gsize     piece)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiFileSender) sender = NULL;
  Collector collector = { .bodies = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref) };

  sender = usi_file_sender_new (&transfer->key, transfer->size, transfer->random, collect_chunk, &collector, &error);
  g_assert_no_error (error);
  memcpy (transfer->header, usi_file_sender_get_header (sender), USI_CHUNKED_HEADER_LENGTH);

  for (guint64 offset = 0; offset < transfer->size; offset += piece)
    {
      gsize length = (gsize) MIN (piece, transfer->size - offset);

      g_assert_true (usi_file_sender_push (sender, transfer->plaintext + offset, length, &error));
      g_assert_no_error (error);
      /* One chunk of memory: every full chunk is out as soon as it fills. */
      g_assert_cmpuint (collector.bodies->len, ==, (offset + length) / CHUNK);
      g_assert_cmpuint (usi_file_sender_get_next_index (sender), ==, (offset + length) / CHUNK);
    }
  g_assert_true (usi_file_sender_finish (sender, &transfer->end, &error));
  g_assert_no_error (error);
  g_assert_true (collector.saw_final);
  transfer->bodies = collector.bodies;
}

static Transfer *
transfer_new (const char *seed,
              guint64     size)
{
  g_autoptr(GError) error = NULL;
  Transfer *transfer = g_new0 (Transfer, 1);
  guint8 file_id[USI_FILE_ID_LENGTH];

  transfer->random = usi_random_new_deterministic ((const guint8 *) seed, strlen (seed));
  g_assert_true (usi_random_fill (transfer->random, transfer->room_id, sizeof transfer->room_id, &error));
  transfer->epoch = make_epoch (transfer->random, transfer->room_id, 7);
  g_assert_true (usi_file_id_generate (transfer->random, file_id, &error));
  g_assert_true (usi_file_key_derive (transfer->epoch, SENDER, file_id, &transfer->key, &error));
  g_assert_no_error (error);

  transfer->size = size;
  transfer->plaintext = g_malloc (MAX (size, 1));
  g_assert_true (usi_random_fill (transfer->random, transfer->plaintext, size, &error));
  transfer_encrypt (transfer, 7777);
  return transfer;
}

static void
transfer_free (Transfer *transfer)
{
  usi_random_free (transfer->random);
  usi_epoch_unref (transfer->epoch);
  usi_file_key_clear (&transfer->key);
  g_free (transfer->plaintext);
  g_ptr_array_unref (transfer->bodies);
  g_free (transfer);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Transfer, transfer_free)

/* The receiving member's side: its own derivation of the key. */
static UsiFileReceiver *
transfer_receiver (Transfer *transfer)
{
  g_autoptr(GError) error = NULL;
  g_auto(UsiFileKey) key = { 0 };
  UsiFileReceiver *receiver;

  g_assert_true (usi_file_key_derive (transfer->epoch, SENDER, transfer->key.file_id, &key, &error));
  receiver = usi_file_receiver_new (&key, transfer->size, transfer->header, &error);
  g_assert_no_error (error);
  return receiver;
}

static gboolean
open_body (UsiFileReceiver  *receiver,
           GBytes           *body,
           const guint8    **plaintext,
           gsize            *plaintext_length,
           gboolean         *is_final,
           GError          **error)
{
  UsiFileChunk chunk;
  gsize length;
  const guint8 *data = g_bytes_get_data (body, &length);

  if (!usi_file_chunk_decode (data, length, &chunk, error))
    return FALSE;

  return usi_file_receiver_open_chunk (receiver, &chunk, plaintext, plaintext_length, is_final, error);
}

/* Opens body @index of the transfer and checks its plaintext. */
static void
assert_opens (Transfer        *transfer,
              UsiFileReceiver *receiver,
              guint            index)
{
  g_autoptr(GError) error = NULL;
  const guint8 *plaintext = NULL;
  gsize length = 0;
  gboolean is_final = FALSE;
  gsize offset = (gsize) index * CHUNK;

  g_assert_true (open_body (receiver, g_ptr_array_index (transfer->bodies, index), &plaintext, &length,
                            &is_final, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (plaintext, length, transfer->plaintext + offset, MIN (CHUNK, transfer->size - offset));
  g_assert_cmpint (is_final, ==, index + 1 == transfer->bodies->len);
  g_assert_cmpuint (usi_file_receiver_get_next_index (receiver), ==, index + 1);
}

static void
assert_refused (UsiFileReceiver   *receiver,
                GBytes            *body,
                UsiProtocolError   code)
{
  g_autoptr(GError) error = NULL;
  const guint8 *plaintext = NULL;
  gsize length = 0;

  g_assert_false (open_body (receiver, body, &plaintext, &length, NULL, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, (int) code);
  /* No plaintext was released. */
  g_assert_null (plaintext);
  g_assert_cmpuint (length, ==, 0);
}

static void
assert_finish_fails (UsiFileReceiver  *receiver,
                     const UsiFileEnd *end)
{
  g_autoptr(GError) error = NULL;

  g_assert_false (usi_file_receiver_finish (receiver, end, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_FILE_CORRUPT);
}

/* A body with other contents, as an attacker would write it. */
static GBytes *
forge_body (const guint8 *room_id,
            const guint8 *file_id,
            guint64       index,
            const guint8 *ciphertext,
            gsize         length)
{
  g_autoptr(GByteArray) out = g_byte_array_new ();

  /* By hand: usi_file_chunk_write() would refuse an oversized ciphertext. */
  usi_wire_write_fixed (out, room_id, USI_ROOM_ID_LENGTH);
  usi_wire_write_fixed (out, file_id, USI_FILE_ID_LENGTH);
  usi_wire_write_u64 (out, index);
  usi_wire_write_opaque (out, ciphertext, length);
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

/* The ciphertext of a body. */
static const guint8 *
body_ciphertext (GBytes *body,
                 gsize  *length)
{
  UsiFileChunk chunk;
  gsize body_length;
  const guint8 *data = g_bytes_get_data (body, &body_length);

  g_assert_true (usi_file_chunk_decode (data, body_length, &chunk, NULL));
  *length = chunk.ciphertext_length;
  return chunk.ciphertext;
}

/* The Cobblestone context, written out independently of the code. */
static void
write_context (const UsiFileKey *key,
               guint64           size,
               guint8           *context)
{
  memcpy (context, key->room_id, 16);
  for (guint i = 0; i < 8; i++)
    context[16 + i] = (key->epoch >> (56 - 8 * i)) & 0xff;
  for (guint i = 0; i < 4; i++)
    context[24 + i] = (key->sender_index >> (24 - 8 * i)) & 0xff;
  memcpy (context + 28, key->file_id, 16);
  for (guint i = 0; i < 8; i++)
    context[44 + i] = (size >> (56 - 8 * i)) & 0xff;
}

/* What a member holding the key could encrypt under the offered header:
 * @plaintext of @length bytes, although the offer says @transfer->size. */
static GPtrArray *
forge_stream (Transfer     *transfer,
              const guint8 *plaintext,
              gsize         length)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiChunkedEncryptor) encryptor = NULL;
  GPtrArray *ciphertexts = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  Collector collector = { .bodies = ciphertexts };
  guint8 context[USI_FILE_CONTEXT_LENGTH];

  write_context (&transfer->key, transfer->size, context);
  encryptor = usi_chunked_encryptor_new_resume (transfer->key.key, sizeof transfer->key.key, context, sizeof context,
                                                transfer->header, 0, collect_chunk, &collector, &error);
  g_assert_no_error (error);
  g_assert_true (usi_chunked_encryptor_push (encryptor, plaintext, length, &error));
  g_assert_true (usi_chunked_encryptor_finish (encryptor, &error));
  return ciphertexts;
}

/* Round trip */

static void
test_round_trip_5_mib (void)
{
  g_autoptr(Transfer) transfer = transfer_new ("5 MiB", 5 * 1024 * 1024);
  g_autoptr(UsiFileReceiver) receiver = transfer_receiver (transfer);
  g_autoptr(GError) error = NULL;

  /* 320 full chunks and the empty final one. */
  g_assert_cmpuint (transfer->bodies->len, ==, 321);
  g_assert_cmpuint (transfer->end.chunk_count, ==, 321);
  g_assert_cmpmem (transfer->end.file_id, 16, transfer->key.file_id, 16);
  for (guint i = 0; i < transfer->bodies->len; i++)
    {
      GBytes *body = g_ptr_array_index (transfer->bodies, i);
      g_autoptr(GBytes) frame = NULL;

      /* room ‖ file ‖ index ‖ V<ciphertext>: full chunks take the whole budget. */
      g_assert_cmpuint (g_bytes_get_size (body), ==, i < 320 ? USI_FILE_CHUNK_MAX_LENGTH : 16 + 16 + 8 + 1 + 16);
      frame = usi_frame_encode (USI_FRAME_FILE_CHUNK, g_bytes_get_data (body, NULL), g_bytes_get_size (body), &error);
      g_assert_no_error (error);
    }

  for (guint i = 0; i < transfer->bodies->len; i++)
    {
      g_assert_false (usi_file_receiver_is_complete (receiver));
      assert_opens (transfer, receiver, i);
    }
  g_assert_true (usi_file_receiver_is_complete (receiver));
  g_assert_true (usi_file_receiver_finish (receiver, &transfer->end, &error));
  g_assert_no_error (error);
  /* Idempotent. */
  g_assert_true (usi_file_receiver_finish (receiver, &transfer->end, &error));
}

static void
test_small_sizes (void)
{
  static const guint64 sizes[] = { 0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK };

  for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
    {
      g_autoptr(Transfer) transfer = transfer_new ("sizes", sizes[s]);
      g_autoptr(UsiFileReceiver) receiver = transfer_receiver (transfer);
      g_autoptr(GError) error = NULL;

      g_assert_cmpuint (transfer->bodies->len, ==, sizes[s] / CHUNK + 1);
      for (guint i = 0; i < transfer->bodies->len; i++)
        assert_opens (transfer, receiver, i);
      g_assert_true (usi_file_receiver_finish (receiver, &transfer->end, &error));
      g_assert_no_error (error);
    }
}

/* The whole file passes through in one push as well as in pieces, with the
 * same ciphertext for the same header. */
static void
test_sender_pieces (void)
{
  g_autoptr(Transfer) transfer = transfer_new ("pieces", 3 * CHUNK + 5);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiFileSender) sender = NULL;
  Collector collector = { .bodies = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref) };
  UsiFileEnd end;

  sender = usi_file_sender_new_resume (&transfer->key, transfer->size, transfer->header, 0,
                                       collect_chunk, &collector, &error);
  g_assert_true (usi_file_sender_push (sender, transfer->plaintext, transfer->size, &error));
  g_assert_true (usi_file_sender_finish (sender, &end, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (&end, sizeof end, &transfer->end, sizeof transfer->end);
  g_assert_cmpuint (collector.bodies->len, ==, transfer->bodies->len);
  for (guint i = 0; i < collector.bodies->len; i++)
    g_assert_true (g_bytes_equal (g_ptr_array_index (collector.bodies, i), g_ptr_array_index (transfer->bodies, i)));
  g_ptr_array_unref (collector.bodies);
}

static void
test_sender_size_enforced (void)
{
  g_autoptr(Transfer) transfer = transfer_new ("size", 100);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiFileSender) sender = NULL;
  Collector collector = { .bodies = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref) };

  sender = usi_file_sender_new_resume (&transfer->key, 100, transfer->header, 0, collect_chunk, &collector, &error);
  g_assert_true (usi_file_sender_push (sender, transfer->plaintext, 60, &error));
  /* Growing past the offered size: refused, nothing sent. */
  g_assert_false (usi_file_sender_push (sender, transfer->plaintext, 41, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_FILE_CORRUPT);
  g_clear_error (&error);
  /* Shorter than offered. */
  g_assert_false (usi_file_sender_finish (sender, NULL, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_FILE_CORRUPT);
  g_clear_error (&error);
  g_assert_cmpuint (collector.bodies->len, ==, 0);
  /* The rest, then the end. */
  g_assert_true (usi_file_sender_push (sender, transfer->plaintext + 60, 40, &error));
  g_assert_true (usi_file_sender_finish (sender, NULL, &error));
  g_assert_cmpuint (collector.bodies->len, ==, 1);
  g_assert_true (g_bytes_equal (g_ptr_array_index (collector.bodies, 0), g_ptr_array_index (transfer->bodies, 0)));
  g_ptr_array_unref (collector.bodies);

  /* Resuming past the final chunk. */
  g_assert_null (usi_file_sender_new_resume (&transfer->key, 100, transfer->header, 1, collect_chunk, NULL, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
}

/* Keys */

static void
test_key_derivation (void)
{
  g_autoptr(Transfer) transfer = transfer_new ("keys", 10);
  g_autoptr(GError) error = NULL;
  g_auto(UsiFileKey) other_sender = { 0 };
  g_auto(UsiFileKey) other_file = { 0 };
  g_auto(UsiFileKey) missing = { 0 };
  guint8 context[USI_FILE_CONTEXT_LENGTH];
  guint8 expected[32];
  guint8 file_id[USI_FILE_ID_LENGTH];

  /* MLS-Exporter ("file", room ‖ epoch ‖ sender ‖ file id, 32). */
  write_context (&transfer->key, 0, context);
  g_assert_true (usi_epoch_export (transfer->epoch, "file", context, USI_FILE_CONTEXT_LENGTH - 8,
                                   expected, sizeof expected, &error));
  g_assert_cmpmem (transfer->key.key, 32, expected, 32);
  g_assert_cmpmem (transfer->key.room_id, 16, transfer->room_id, 16);
  g_assert_cmpuint (transfer->key.epoch, ==, 7);
  g_assert_cmpuint (transfer->key.sender_index, ==, SENDER);

  g_assert_true (usi_file_key_derive (transfer->epoch, 2, transfer->key.file_id, &other_sender, &error));
  g_assert_cmpint (memcmp (other_sender.key, transfer->key.key, 32), !=, 0);
  memcpy (file_id, transfer->key.file_id, sizeof file_id);
  file_id[15] ^= 1;
  g_assert_true (usi_file_key_derive (transfer->epoch, SENDER, file_id, &other_file, &error));
  g_assert_cmpint (memcmp (other_file.key, transfer->key.key, 32), !=, 0);

  g_assert_false (usi_file_key_derive (transfer->epoch, N_MEMBERS, file_id, &missing, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_MEMBER);
}

/* Chunk bodies */

static void
test_chunk_decoding (void)
{
  g_autoptr(Transfer) transfer = transfer_new ("decode", 2 * CHUNK + 3);
  g_autoptr(GError) error = NULL;
  guint8 big[USI_CHUNKED_SEALED_CHUNK_LENGTH + 1] = { 0 };
  UsiFileChunk chunk;
  GBytes *body = g_ptr_array_index (transfer->bodies, 1);
  gsize length;
  const guint8 *data = g_bytes_get_data (body, &length);
  g_autoptr(GByteArray) copy = g_byte_array_new ();

  g_assert_true (usi_file_chunk_decode (data, length, &chunk, &error));
  g_assert_cmpmem (chunk.room_id, 16, transfer->room_id, 16);
  g_assert_cmpmem (chunk.file_id, 16, transfer->key.file_id, 16);
  g_assert_cmpuint (chunk.index, ==, 1);
  g_assert_cmpuint (chunk.ciphertext_length, ==, USI_CHUNKED_SEALED_CHUNK_LENGTH);
  usi_file_chunk_write (&chunk, copy);
  g_assert_cmpmem (copy->data, copy->len, data, length);

  /* Truncated anywhere, or a byte too many. */
  for (gsize cut = 0; cut < length; cut += 997)
    {
      g_assert_false (usi_file_chunk_decode (data, cut, &chunk, &error));
      g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
      g_clear_error (&error);
    }
  g_byte_array_append (copy, (const guint8 *) "", 1);
  g_assert_false (usi_file_chunk_decode (copy->data, copy->len, &chunk, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
  g_clear_error (&error);

  /* A ciphertext longer than a sealed chunk, shorter than a tag; an index
   * past 2^38. */
  {
    g_autoptr(GBytes) too_big = forge_body (transfer->room_id, transfer->key.file_id, 0, big, sizeof big);
    g_autoptr(GBytes) too_small = forge_body (transfer->room_id, transfer->key.file_id, 0, big, 15);
    g_autoptr(GBytes) too_far = forge_body (transfer->room_id, transfer->key.file_id, USI_CHUNKED_MAX_CHUNKS, big, 16);
    g_autoptr(GBytes) last_index = forge_body (transfer->room_id, transfer->key.file_id, USI_CHUNKED_MAX_CHUNKS - 1, big, 16);

    g_assert_false (usi_file_chunk_decode (g_bytes_get_data (too_big, NULL), g_bytes_get_size (too_big), &chunk, &error));
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE);
    g_clear_error (&error);
    g_assert_false (usi_file_chunk_decode (g_bytes_get_data (too_small, NULL), g_bytes_get_size (too_small), &chunk, &error));
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
    g_clear_error (&error);
    g_assert_false (usi_file_chunk_decode (g_bytes_get_data (too_far, NULL), g_bytes_get_size (too_far), &chunk, &error));
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
    g_clear_error (&error);
    g_assert_true (usi_file_chunk_decode (g_bytes_get_data (last_index, NULL), g_bytes_get_size (last_index), &chunk, &error));
  }

  /* A non-minimal length prefix: 0x40 0x10 says 16 in two bytes. */
  {
    g_autoptr(GByteArray) non_minimal = g_byte_array_new ();

    g_byte_array_append (non_minimal, data, 40);
    g_byte_array_append (non_minimal, (const guint8 *) "\x40\x10", 2);
    g_byte_array_append (non_minimal, big, 16);
    g_assert_false (usi_file_chunk_decode (non_minimal->data, non_minimal->len, &chunk, &error));
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
  }
}

/* Every single-bit change of a body is refused by the decoder or by the
 * receiver; none releases plaintext. */
static void
test_chunk_bit_flips (void)
{
  g_autoptr(Transfer) transfer = transfer_new ("flips", 40);
  GBytes *body = g_ptr_array_index (transfer->bodies, 0);
  gsize length;
  g_autofree guint8 *data = g_memdup2 (g_bytes_get_data (body, &length), g_bytes_get_size (body));

  for (gsize bit = 0; bit < length * 8; bit++)
    {
      g_autoptr(UsiFileReceiver) receiver = transfer_receiver (transfer);
      g_autoptr(GError) error = NULL;
      const guint8 *plaintext = NULL;
      gsize plaintext_length = 0;
      UsiFileChunk chunk;

      data[bit / 8] ^= 1 << (bit % 8);
      if (usi_file_chunk_decode (data, length, &chunk, &error))
        {
          g_assert_false (usi_file_receiver_open_chunk (receiver, &chunk, &plaintext, &plaintext_length, NULL, &error));
          g_assert_true (error->domain == USI_PROTOCOL_ERROR);
          g_assert_true (error->code == USI_PROTOCOL_ERROR_WRONG_ROOM ||
                         error->code == USI_PROTOCOL_ERROR_FILE_CORRUPT ||
                         error->code == USI_PROTOCOL_ERROR_TOO_FAR_AHEAD ||
                         error->code == USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
          g_assert_null (plaintext);
        }
      else
        g_assert_true (error->domain == USI_PROTOCOL_ERROR);
      data[bit / 8] ^= 1 << (bit % 8);
    }
}

/* F1: the stream stops after a full chunk, without the final short one. */
static void
test_f1_truncation (void)
{
  /* A size that is a multiple of the chunk: the final chunk is empty. */
  g_autoptr(Transfer) transfer = transfer_new ("F1", 3 * CHUNK);
  g_autoptr(UsiFileReceiver) receiver = transfer_receiver (transfer);
  g_autoptr(UsiFileReceiver) second = transfer_receiver (transfer);
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) longer = NULL;
  g_autofree guint8 *plaintext = g_malloc (4 * CHUNK);

  g_assert_cmpuint (transfer->bodies->len, ==, 4);
  for (guint i = 0; i < 3; i++)
    assert_opens (transfer, receiver, i);
  g_assert_false (usi_file_receiver_is_complete (receiver));
  assert_finish_fails (receiver, &transfer->end);
  /* Not final: the missing chunk may still come (a resume). */
  assert_opens (transfer, receiver, 3);
  g_assert_true (usi_file_receiver_finish (receiver, &transfer->end, &error));

  /* A member encrypts one more full chunk where the final one should be:
   * refused on its length, before decryption, for good. */
  memcpy (plaintext, transfer->plaintext, 3 * CHUNK);
  memset (plaintext + 3 * CHUNK, 'x', CHUNK);
  longer = forge_stream (transfer, plaintext, 4 * CHUNK);
  for (guint i = 0; i < 3; i++)
    assert_opens (transfer, second, i);
  {
    gsize length;
    const guint8 *ciphertext = g_bytes_get_data (g_ptr_array_index (longer, 3), &length);
    g_autoptr(GBytes) body = forge_body (transfer->room_id, transfer->key.file_id, 3, ciphertext, length);

    g_assert_cmpuint (length, ==, USI_CHUNKED_SEALED_CHUNK_LENGTH);
    assert_refused (second, body, USI_PROTOCOL_ERROR_FILE_CORRUPT);
  }
  assert_refused (second, g_ptr_array_index (transfer->bodies, 3), USI_PROTOCOL_ERROR_FILE_CORRUPT);
  assert_finish_fails (second, &transfer->end);
}

/* F2: chunks reordered or duplicated. */
static void
test_f2_reordering (void)
{
  g_autoptr(Transfer) transfer = transfer_new ("F2", 3 * CHUNK + 10);
  g_autoptr(UsiFileReceiver) receiver = transfer_receiver (transfer);
  g_autoptr(UsiFileReceiver) spliced = transfer_receiver (transfer);
  g_autoptr(GError) error = NULL;

  assert_opens (transfer, receiver, 0);
  /* Ahead of its turn: dropped, nothing changes, the gap is reported. */
  assert_refused (receiver, g_ptr_array_index (transfer->bodies, 2), USI_PROTOCOL_ERROR_TOO_FAR_AHEAD);
  assert_refused (receiver, g_ptr_array_index (transfer->bodies, 3), USI_PROTOCOL_ERROR_TOO_FAR_AHEAD);
  g_assert_cmpuint (usi_file_receiver_get_next_index (receiver), ==, 1);
  assert_opens (transfer, receiver, 1);
  /* Again: a duplicate, dropped. */
  assert_refused (receiver, g_ptr_array_index (transfer->bodies, 1), USI_PROTOCOL_ERROR_DUPLICATE);
  assert_refused (receiver, g_ptr_array_index (transfer->bodies, 0), USI_PROTOCOL_ERROR_DUPLICATE);
  g_assert_cmpuint (usi_file_receiver_get_next_index (receiver), ==, 2);
  assert_opens (transfer, receiver, 2);
  assert_opens (transfer, receiver, 3);
  assert_refused (receiver, g_ptr_array_index (transfer->bodies, 3), USI_PROTOCOL_ERROR_DUPLICATE);
  g_assert_true (usi_file_receiver_finish (receiver, &transfer->end, &error));
  g_assert_no_error (error);

  /* Chunk 2's ciphertext relabelled as chunk 1: the nonce is bound to the
   * index, so its tag fails, and the transfer is over. */
  assert_opens (transfer, spliced, 0);
  {
    gsize length;
    const guint8 *ciphertext = body_ciphertext (g_ptr_array_index (transfer->bodies, 2), &length);
    g_autoptr(GBytes) body = forge_body (transfer->room_id, transfer->key.file_id, 1, ciphertext, length);

    assert_refused (spliced, body, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
  }
  assert_refused (spliced, g_ptr_array_index (transfer->bodies, 1), USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
  g_assert_false (usi_file_receiver_finish (spliced, &transfer->end, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
}

/* F3: anything after the final chunk. */
static void
test_f3_trailing_data (void)
{
  g_autoptr(Transfer) transfer = transfer_new ("F3", 2 * CHUNK + 100);
  g_autoptr(UsiFileReceiver) receiver = transfer_receiver (transfer);
  g_autoptr(UsiFileReceiver) garbage = transfer_receiver (transfer);
  g_autoptr(UsiFileReceiver) appended = transfer_receiver (transfer);
  g_autoptr(GPtrArray) longer = NULL;
  g_autofree guint8 *plaintext = g_malloc (3 * CHUNK + 50);

  /* An extra chunk that verifies under the key (a member made it). */
  memcpy (plaintext, transfer->plaintext, transfer->size);
  memset (plaintext + transfer->size, 'y', 3 * CHUNK + 50 - transfer->size);
  longer = forge_stream (transfer, plaintext, 3 * CHUNK + 50);
  g_assert_cmpuint (longer->len, ==, 4);

  for (guint i = 0; i < 3; i++)
    assert_opens (transfer, receiver, i);
  g_assert_true (usi_file_receiver_is_complete (receiver));
  {
    gsize length;
    const guint8 *ciphertext = g_bytes_get_data (g_ptr_array_index (longer, 3), &length);
    g_autoptr(GBytes) body = forge_body (transfer->room_id, transfer->key.file_id, 3, ciphertext, length);

    assert_refused (receiver, body, USI_PROTOCOL_ERROR_FILE_CORRUPT);
  }
  assert_finish_fails (receiver, &transfer->end);

  /* Garbage with the next index, even before the end has arrived. */
  assert_opens (transfer, garbage, 0);
  {
    static const guint8 junk[40] = { 0 };
    g_autoptr(GBytes) body = forge_body (transfer->room_id, transfer->key.file_id, 3, junk, sizeof junk);

    assert_refused (garbage, body, USI_PROTOCOL_ERROR_FILE_CORRUPT);
  }
  assert_refused (garbage, g_ptr_array_index (transfer->bodies, 1), USI_PROTOCOL_ERROR_FILE_CORRUPT);

  /* Bytes appended to the final chunk's ciphertext. */
  for (guint i = 0; i < 2; i++)
    assert_opens (transfer, appended, i);
  {
    gsize length;
    const guint8 *ciphertext = body_ciphertext (g_ptr_array_index (transfer->bodies, 2), &length);
    g_autofree guint8 *extended = g_malloc0 (length + 8);
    g_autoptr(GBytes) body = NULL;

    memcpy (extended, ciphertext, length);
    body = forge_body (transfer->room_id, transfer->key.file_id, 2, extended, length + 8);
    assert_refused (appended, body, USI_PROTOCOL_ERROR_FILE_CORRUPT);
  }
  g_assert_false (usi_file_receiver_is_complete (appended));
  assert_finish_fails (appended, &transfer->end);
}

/* F4: wrong key, wrong context or modified commitment: refused when the
 * receiver is created, before any chunk could be decrypted. */
static void
test_f4_commitment (void)
{
  g_autoptr(Transfer) transfer = transfer_new ("F4", CHUNK + 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiEpoch) next_epoch = make_epoch (transfer->random, transfer->room_id, 8);
  g_auto(UsiFileKey) wrong_sender = { 0 };
  g_auto(UsiFileKey) wrong_epoch = { 0 };
  g_auto(UsiFileKey) wrong_room = { 0 };
  guint8 header[USI_CHUNKED_HEADER_LENGTH];

  g_assert_true (usi_file_key_derive (transfer->epoch, 0, transfer->key.file_id, &wrong_sender, &error));
  g_assert_null (usi_file_receiver_new (&wrong_sender, transfer->size, transfer->header, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
  g_clear_error (&error);

  /* Derived from the next epoch instead of the offer's. */
  g_assert_true (usi_file_key_derive (next_epoch, SENDER, transfer->key.file_id, &wrong_epoch, &error));
  g_assert_null (usi_file_receiver_new (&wrong_epoch, transfer->size, transfer->header, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
  g_clear_error (&error);

  /* The right key bytes with another context: another size, room, epoch,
   * sender or file id. */
  g_assert_null (usi_file_receiver_new (&transfer->key, transfer->size + 1, transfer->header, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
  g_clear_error (&error);
  for (guint field = 0; field < 4; field++)
    {
      wrong_room = transfer->key;
      if (field == 0)
        wrong_room.room_id[0] ^= 1;
      else if (field == 1)
        wrong_room.epoch++;
      else if (field == 2)
        wrong_room.sender_index++;
      else
        wrong_room.file_id[0] ^= 1;
      g_assert_null (usi_file_receiver_new (&wrong_room, transfer->size, transfer->header, &error));
      g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
      g_clear_error (&error);
    }

  /* Every bit of salt and commitment. */
  memcpy (header, transfer->header, sizeof header);
  for (guint bit = 0; bit < sizeof header * 8; bit++)
    {
      header[bit / 8] ^= 1 << (bit % 8);
      g_assert_null (usi_file_receiver_new (&transfer->key, transfer->size, header, &error));
      g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
      g_clear_error (&error);
      header[bit / 8] ^= 1 << (bit % 8);
    }
}

/* F5: a chunk from another file. */
static void
test_f5_other_file (void)
{
  g_autoptr(Transfer) transfer = transfer_new ("F5", 2 * CHUNK);
  g_autoptr(Transfer) other = transfer_new ("F5 other", 2 * CHUNK);
  g_autoptr(UsiFileReceiver) receiver = transfer_receiver (transfer);
  g_autoptr(GError) error = NULL;
  g_auto(UsiFileKey) same_epoch_key = { 0 };
  guint8 other_file_id[USI_FILE_ID_LENGTH];

  /* The other file's chunk as it was sent: dropped, nothing changes. */
  assert_refused (receiver, g_ptr_array_index (other->bodies, 0), USI_PROTOCOL_ERROR_WRONG_ROOM);
  {
    gsize length;
    const guint8 *ciphertext = body_ciphertext (g_ptr_array_index (other->bodies, 0), &length);
    g_autoptr(GBytes) body = forge_body (transfer->room_id, other->key.file_id, 0, ciphertext, length);

    assert_refused (receiver, body, USI_PROTOCOL_ERROR_FILE_CORRUPT);
  }
  g_assert_cmpuint (usi_file_receiver_get_next_index (receiver), ==, 0);
  assert_opens (transfer, receiver, 0);

  /* Another file of the same sender in the same epoch, relabelled with this
   * file's id: its key differs, so the tag fails, for good. */
  g_assert_true (usi_file_id_generate (transfer->random, other_file_id, &error));
  g_assert_true (usi_file_key_derive (transfer->epoch, SENDER, other_file_id, &same_epoch_key, &error));
  {
    Collector collector = { .bodies = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref) };
    g_autoptr(UsiFileSender) sender = usi_file_sender_new (&same_epoch_key, transfer->size, transfer->random,
                                                           collect_chunk, &collector, &error);
    gsize length;
    const guint8 *ciphertext;
    g_autoptr(GBytes) body = NULL;

    g_assert_true (usi_file_sender_push (sender, transfer->plaintext, transfer->size, &error));
    g_assert_true (usi_file_sender_finish (sender, NULL, &error));
    ciphertext = body_ciphertext (g_ptr_array_index (collector.bodies, 1), &length);
    body = forge_body (transfer->room_id, transfer->key.file_id, 1, ciphertext, length);
    assert_refused (receiver, body, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
    g_ptr_array_unref (collector.bodies);
  }
  assert_refused (receiver, g_ptr_array_index (transfer->bodies, 1), USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
}

/* F6: the size differs from the offer, or the FileEnd does not match. */
static void
test_f6_size_and_end (void)
{
  g_autoptr(Transfer) transfer = transfer_new ("F6", 2 * CHUNK + 7232);
  g_autoptr(UsiFileReceiver) shorter = transfer_receiver (transfer);
  g_autoptr(GPtrArray) shorter_stream = forge_stream (transfer, transfer->plaintext, transfer->size - 1);
  g_autoptr(GError) error = NULL;

  /* One byte less than offered, encrypted by someone with the key. */
  for (guint i = 0; i < 2; i++)
    assert_opens (transfer, shorter, i);
  {
    gsize length;
    const guint8 *ciphertext = g_bytes_get_data (g_ptr_array_index (shorter_stream, 2), &length);
    g_autoptr(GBytes) body = forge_body (transfer->room_id, transfer->key.file_id, 2, ciphertext, length);

    assert_refused (shorter, body, USI_PROTOCOL_ERROR_FILE_CORRUPT);
  }
  assert_finish_fails (shorter, &transfer->end);

  /* A FileEnd with a wrong hash, or a wrong chunk count. */
  for (guint variant = 0; variant < 3; variant++)
    {
      g_autoptr(UsiFileReceiver) receiver = transfer_receiver (transfer);
      UsiFileEnd end = transfer->end;

      for (guint i = 0; i < transfer->bodies->len; i++)
        assert_opens (transfer, receiver, i);
      if (variant == 0)
        end.ciphertext_hash[31] ^= 0x80;
      else if (variant == 1)
        end.chunk_count++;
      else
        end.chunk_count--;
      assert_finish_fails (receiver, &end);
      /* For good. */
      assert_finish_fails (receiver, &transfer->end);
    }

  /* The FileEnd of another file: dropped, the right one still accepted. */
  {
    g_autoptr(UsiFileReceiver) receiver = transfer_receiver (transfer);
    UsiFileEnd end = transfer->end;

    for (guint i = 0; i < transfer->bodies->len; i++)
      assert_opens (transfer, receiver, i);
    end.file_id[0] ^= 1;
    assert_finish_fails (receiver, &end);
    g_assert_true (usi_file_receiver_finish (receiver, &transfer->end, &error));
    g_assert_no_error (error);
  }

  /* A member (any member can derive the key) replaces a chunk with other
   * content that verifies: only the sender's signed FileEnd catches it. */
  {
    g_autoptr(UsiFileReceiver) receiver = transfer_receiver (transfer);
    g_autofree guint8 *altered = g_memdup2 (transfer->plaintext, transfer->size);
    g_autoptr(GPtrArray) altered_stream = NULL;
    gsize length;
    const guint8 *ciphertext;
    g_autoptr(GBytes) body = NULL;

    altered[CHUNK + 5] ^= 1;
    altered_stream = forge_stream (transfer, altered, transfer->size);
    ciphertext = g_bytes_get_data (g_ptr_array_index (altered_stream, 1), &length);
    body = forge_body (transfer->room_id, transfer->key.file_id, 1, ciphertext, length);
    assert_opens (transfer, receiver, 0);
    {
      const guint8 *plaintext;
      gsize plaintext_length;

      g_assert_true (open_body (receiver, body, &plaintext, &plaintext_length, NULL, &error));
      g_assert_cmpmem (plaintext, plaintext_length, altered + CHUNK, CHUNK);
    }
    assert_opens (transfer, receiver, 2);
    assert_finish_fails (receiver, &transfer->end);
  }
}

/* F10 at this layer: a corrupt chunk in the middle releases nothing of
 * itself and stops everything after it. */
static void
test_f10_corrupt_middle_chunk (void)
{
  g_autoptr(Transfer) transfer = transfer_new ("F10", 4 * CHUNK);
  g_autoptr(UsiFileReceiver) receiver = transfer_receiver (transfer);
  g_autoptr(GError) error = NULL;
  gsize length;
  const guint8 *ciphertext = body_ciphertext (g_ptr_array_index (transfer->bodies, 2), &length);
  g_autofree guint8 *corrupt = g_memdup2 (ciphertext, length);
  g_autoptr(GBytes) body = NULL;

  corrupt[100] ^= 4;
  body = forge_body (transfer->room_id, transfer->key.file_id, 2, corrupt, length);
  assert_opens (transfer, receiver, 0);
  assert_opens (transfer, receiver, 1);
  assert_refused (receiver, body, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
  for (guint i = 2; i < transfer->bodies->len; i++)
    assert_refused (receiver, g_ptr_array_index (transfer->bodies, i), USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
  g_assert_false (usi_file_receiver_restore (receiver, transfer->plaintext + 2 * CHUNK, CHUNK, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
}

/* Resume */

static void
test_resume_after_gap (void)
{
  g_autoptr(Transfer) transfer = transfer_new ("resume", 10 * CHUNK + 1234);
  g_autoptr(UsiFileReceiver) receiver = transfer_receiver (transfer);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiFileSender) sender = NULL;
  Collector collector = { .bodies = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref) };
  guint64 resume_at;

  /* The connection drops after chunk 4; chunks 5–7 are lost. */
  for (guint i = 0; i < 5; i++)
    assert_opens (transfer, receiver, i);
  assert_refused (receiver, g_ptr_array_index (transfer->bodies, 8), USI_PROTOCOL_ERROR_TOO_FAR_AHEAD);
  resume_at = usi_file_receiver_get_next_index (receiver);
  g_assert_cmpuint (resume_at, ==, 5);

  /* The sender starts again from there, with the file read from there. */
  collector.first_index = resume_at;
  sender = usi_file_sender_new_resume (&transfer->key, transfer->size, transfer->header, resume_at,
                                       collect_chunk, &collector, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (usi_file_sender_get_next_index (sender), ==, 5);
  g_assert_true (usi_file_sender_push (sender, transfer->plaintext + resume_at * CHUNK,
                                       transfer->size - resume_at * CHUNK, &error));
  g_assert_true (usi_file_sender_finish (sender, NULL, &error));
  g_assert_no_error (error);

  /* The same bytes as the first time. */
  g_assert_cmpuint (collector.bodies->len, ==, transfer->bodies->len - resume_at);
  for (guint i = 0; i < collector.bodies->len; i++)
    {
      g_assert_true (g_bytes_equal (g_ptr_array_index (collector.bodies, i),
                                    g_ptr_array_index (transfer->bodies, resume_at + i)));
      assert_opens (transfer, receiver, (guint) resume_at + i);
    }
  g_assert_true (usi_file_receiver_finish (receiver, &transfer->end, &error));
  g_assert_no_error (error);
  g_ptr_array_unref (collector.bodies);
}

static void
test_resume_after_restart (void)
{
  g_autoptr(Transfer) transfer = transfer_new ("restart", 6 * CHUNK + 99);
  g_autoptr(GError) error = NULL;

  /* The receiver restarts with chunks 0–3 saved; then the rest arrives. */
  {
    g_autoptr(UsiFileReceiver) receiver = transfer_receiver (transfer);

    /* A wrong length is refused and changes nothing. */
    g_assert_false (usi_file_receiver_restore (receiver, transfer->plaintext, CHUNK - 1, &error));
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_FILE_CORRUPT);
    g_clear_error (&error);

    for (guint i = 0; i < 4; i++)
      {
        g_assert_true (usi_file_receiver_restore (receiver, transfer->plaintext + i * CHUNK, CHUNK, &error));
        g_assert_no_error (error);
      }
    g_assert_cmpuint (usi_file_receiver_get_next_index (receiver), ==, 4);
    assert_refused (receiver, g_ptr_array_index (transfer->bodies, 3), USI_PROTOCOL_ERROR_DUPLICATE);
    for (guint i = 4; i < transfer->bodies->len; i++)
      assert_opens (transfer, receiver, i);
    g_assert_true (usi_file_receiver_finish (receiver, &transfer->end, &error));
    g_assert_no_error (error);
  }

  /* Everything restored, the final chunk included. */
  {
    g_autoptr(UsiFileReceiver) receiver = transfer_receiver (transfer);

    for (guint i = 0; i < 7; i++)
      g_assert_true (usi_file_receiver_restore (receiver, transfer->plaintext + i * CHUNK,
                                                i < 6 ? CHUNK : 99, &error));
    g_assert_true (usi_file_receiver_is_complete (receiver));
    g_assert_false (usi_file_receiver_restore (receiver, transfer->plaintext, 0, &error));
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_FILE_CORRUPT);
    g_clear_error (&error);
    g_assert_true (usi_file_receiver_finish (receiver, &transfer->end, &error));
  }

  /* A saved part that was altered on disk: the end check fails. */
  {
    g_autoptr(UsiFileReceiver) receiver = transfer_receiver (transfer);
    g_autofree guint8 *altered = g_memdup2 (transfer->plaintext, CHUNK);

    altered[0] ^= 1;
    g_assert_true (usi_file_receiver_restore (receiver, altered, CHUNK, &error));
    for (guint i = 1; i < transfer->bodies->len; i++)
      assert_opens (transfer, receiver, i);
    assert_finish_fails (receiver, &transfer->end);
  }

  /* The sender restarts: it re-reads the file from the start to rebuild the
   * FileEnd, sending only what the receiver lacks. */
  {
    Collector collector = { .bodies = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref),
                            .skip_below = 4 };
    g_autoptr(UsiFileSender) sender = usi_file_sender_new_resume (&transfer->key, transfer->size, transfer->header, 0,
                                                                  collect_chunk, &collector, &error);
    UsiFileEnd end;

    g_assert_true (usi_file_sender_push (sender, transfer->plaintext, transfer->size, &error));
    g_assert_true (usi_file_sender_finish (sender, &end, &error));
    g_assert_cmpmem (&end, sizeof end, &transfer->end, sizeof end);
    g_assert_cmpuint (collector.bodies->len, ==, 3);
    g_ptr_array_unref (collector.bodies);
  }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/protocol/file/round-trip-5-mib", test_round_trip_5_mib);
  g_test_add_func ("/protocol/file/small-sizes", test_small_sizes);
  g_test_add_func ("/protocol/file/sender-pieces", test_sender_pieces);
  g_test_add_func ("/protocol/file/sender-size-enforced", test_sender_size_enforced);
  g_test_add_func ("/protocol/file/key-derivation", test_key_derivation);
  g_test_add_func ("/protocol/file/chunk-decoding", test_chunk_decoding);
  g_test_add_func ("/protocol/file/chunk-bit-flips", test_chunk_bit_flips);
  g_test_add_func ("/protocol/file/F1-truncated-stream-refused", test_f1_truncation);
  g_test_add_func ("/protocol/file/F2-reordered-or-duplicated-chunks-refused", test_f2_reordering);
  g_test_add_func ("/protocol/file/F3-data-after-final-chunk-refused", test_f3_trailing_data);
  g_test_add_func ("/protocol/file/F4-wrong-key-context-or-commitment-before-decryption", test_f4_commitment);
  g_test_add_func ("/protocol/file/F5-chunk-from-another-file-refused", test_f5_other_file);
  g_test_add_func ("/protocol/file/F6-size-or-end-hash-mismatch-refused", test_f6_size_and_end);
  g_test_add_func ("/protocol/file/F10-corrupt-middle-chunk-stops", test_f10_corrupt_middle_chunk);
  g_test_add_func ("/protocol/file/resume-after-gap", test_resume_after_gap);
  g_test_add_func ("/protocol/file/resume-after-restart", test_resume_after_restart);

  return g_test_run ();
}
