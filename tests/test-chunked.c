/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Cobblestone-256: every Wycheproof case through the streaming decryptor (in
 * several piece sizes), the random-access interface and re-encryption; then
 * our own streaming, memory-bound, tampering, resume and limit tests. */

#include "config.h"

#include <string.h>

#include "crypto/usi-chunked.h"
#include "crypto/usi-crypto-error.h"
#include "crypto/usi-random.h"
#include "usi-test-vectors.h"

#define CHUNK  USI_CHUNKED_CHUNK_LENGTH
#define SEALED USI_CHUNKED_SEALED_CHUNK_LENGTH
#define HEADER USI_CHUNKED_HEADER_LENGTH

static const guint8 test_key[32] = {
  0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
  0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
};
static const guint8 test_context[] = "room 7 · file 3";

/* Receives chunks and checks their order: indices consecutive, the final one
 * last and alone. */
typedef struct
{
  GByteArray *data;          /* everything received (plaintext or ciphertext chunks) */
  GChecksum  *sha512;
  guint64     next_index;
  gboolean    final_seen;
  guint       calls;
  /* Make the callback fail at this call (0: never). */
  guint       fail_at_call;
} Collector;

static void
collector_init (Collector *collector,
                guint64    first_index)
{
  memset (collector, 0, sizeof *collector);
  collector->data = g_byte_array_new ();
  collector->sha512 = g_checksum_new (G_CHECKSUM_SHA512);
  collector->next_index = first_index;
}

static void
collector_clear (Collector *collector)
{
  g_clear_pointer (&collector->data, g_byte_array_unref);
  g_clear_pointer (&collector->sha512, g_checksum_free);
}

static gboolean
collect_chunk (guint64        index,
               const guint8  *data,
               gsize          length,
               gboolean       is_final,
               gpointer       user_data,
               GError       **error)
{
  Collector *collector = user_data;

  collector->calls++;
  if (collector->fail_at_call != 0 && collector->calls == collector->fail_at_call)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE, "disk full");
      return FALSE;
    }

  g_assert_false (collector->final_seen);
  g_assert_cmpuint (index, ==, collector->next_index);
  collector->next_index++;
  collector->final_seen = is_final;
  if (length > 0)
    {
      g_byte_array_append (collector->data, data, length);
      g_checksum_update (collector->sha512, data, length);
    }

  return TRUE;
}

static GBytes *
zlib_decompress (GBytes *compressed)
{
  g_autoptr(GZlibDecompressor) decompressor = g_zlib_decompressor_new (G_ZLIB_COMPRESSOR_FORMAT_ZLIB);
  g_autoptr(GByteArray) out = g_byte_array_new ();
  gsize in_length;
  const guint8 *in = g_bytes_get_data (compressed, &in_length);
  guint8 buffer[65536];

  for (;;)
    {
      g_autoptr(GError) error = NULL;
      gsize read = 0, written = 0;
      GConverterResult result;

      result = g_converter_convert (G_CONVERTER (decompressor), in, in_length, buffer, sizeof buffer,
                                    G_CONVERTER_INPUT_AT_END, &read, &written, &error);
      g_assert_no_error (error);
      g_byte_array_append (out, buffer, written);
      in += read;
      in_length -= read;
      if (result == G_CONVERTER_FINISHED)
        break;
    }

  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

static gboolean
has_flag (JsonObject *test,
          const char *flag)
{
  JsonArray *flags = json_object_get_array_member (test, "flags");

  for (guint i = 0; i < json_array_get_length (flags); i++)
    if (g_str_equal (json_array_get_string_element (flags, i), flag))
      return TRUE;
  return FALSE;
}

typedef struct
{
  guint valid;
  guint invalid;
  guint acceptable_accepted;
  guint acceptable_rejected;
  guint not_applicable;
  guint reencrypted;
  guint random_access;
  guint valid_final_chunk_accepted;
  GHashTable *by_error;  /* error nick → count */
} Counts;

static const char *
error_nick (int code)
{
  switch (code)
    {
    case USI_CRYPTO_ERROR_INVALID_KEY:
      return "invalid-key";
    case USI_CRYPTO_ERROR_AUTHENTICATION:
      return "authentication";
    case USI_CRYPTO_ERROR_TRUNCATED:
      return "truncated";
    default:
      return "other";
    }
}

/* What the spec's length rules and the flags say a decryptor must report:
 * a key of the wrong size is refused up front; a ciphertext that no message
 * can have (shorter than the header, or whose last chunk is shorter than its
 * tag, or that stops right after a full chunk) is truncated; anything else
 * that is invalid (a changed byte, wrong key or context, reordered chunks,
 * bytes after the final chunk) fails authentication. */
static int
expected_error (JsonObject *test,
                gsize       key_length,
                gsize       ct_length)
{
  guint64 ignored;

  if (key_length != USI_CHUNKED_KEY_LENGTH)
    {
      g_assert_true (has_flag (test, "InvalidKeySize"));
      return USI_CRYPTO_ERROR_INVALID_KEY;
    }
  if (!usi_chunked_get_plaintext_length (ct_length, &ignored))
    {
      g_assert_true (has_flag (test, "Truncation") || has_flag (test, "TrailingData"));
      return USI_CRYPTO_ERROR_TRUNCATED;
    }
  g_assert_true (has_flag (test, "ModifiedCiphertext") || has_flag (test, "WrongKey") ||
                 has_flag (test, "WrongContext") || has_flag (test, "ChunkReordering") ||
                 has_flag (test, "TrailingData") || has_flag (test, "Truncation"));
  return USI_CRYPTO_ERROR_AUTHENTICATION;
}

/* Streams @ct into a fresh decryptor in pieces of @piece bytes.  Returns the
 * error (NULL on success); @collector has what was emitted. */
static GError *
stream_decrypt (const guint8  *key,
                gsize          key_length,
                const guint8  *ctx,
                gsize          ctx_length,
                const guint8  *ct,
                gsize          ct_length,
                gsize          piece,
                Collector     *collector)
{
  g_autoptr(UsiChunkedDecryptor) decryptor = NULL;
  GError *error = NULL;
  GError *again = NULL;
  gsize offset = 0;

  decryptor = usi_chunked_decryptor_new (key, key_length, ctx, ctx_length,
                                         collect_chunk, collector, &error);
  if (decryptor == NULL)
    {
      g_assert_nonnull (error);
      return error;
    }

  while (offset < ct_length)
    {
      gsize take = MIN (piece, ct_length - offset);

      if (!usi_chunked_decryptor_push (decryptor, ct + offset, take, &error))
        break;
      offset += take;
    }
  if (error == NULL && !usi_chunked_decryptor_finish (decryptor, &error))
    g_assert_nonnull (error);

  if (error != NULL)
    {
      /* A failed stream keeps failing, with the same error, rather than
       * coming to a clean end. */
      g_assert_false (usi_chunked_decryptor_push (decryptor, ct, MIN (ct_length, 1), &again));
      g_assert_error (again, error->domain, error->code);
      g_clear_error (&again);
      g_assert_false (usi_chunked_decryptor_finish (decryptor, &again));
      g_assert_error (again, error->domain, error->code);
      g_clear_error (&again);
    }
  else
    {
      /* Nothing more is accepted after the final chunk. */
      g_assert_false (usi_chunked_decryptor_push (decryptor, (const guint8 *) "x", 1, &again));
      g_assert_error (again, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
      g_clear_error (&again);
      g_assert_cmpuint (usi_chunked_decryptor_get_next_index (decryptor), ==, collector->next_index);
    }

  return error;
}

/* Reads the whole message through the random-access interface: chunk by
 * chunk at its offset.  Returns the first error. */
static GError *
random_access_decrypt (const guint8  *key,
                       const guint8  *ctx,
                       gsize          ctx_length,
                       const guint8  *ct,
                       gsize          ct_length,
                       Collector     *collector)
{
  g_autoptr(UsiChunkedDecryptor) decryptor = NULL;
  g_autofree guint8 *plaintext = g_malloc (SEALED);
  GError *error = NULL;
  guint64 plaintext_length, chunk_count;

  g_assert_cmpuint (ct_length, >=, HEADER);
  decryptor = usi_chunked_decryptor_new_with_header (key, USI_CHUNKED_KEY_LENGTH, ctx, ctx_length,
                                                     ct, 0, NULL, NULL, &error);
  if (decryptor == NULL)
    return error;

  if (!usi_chunked_get_plaintext_length (ct_length, &plaintext_length))
    return g_error_new_literal (USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_TRUNCATED, "impossible length");
  g_assert_true (usi_chunked_get_chunk_count (plaintext_length, &chunk_count));

  for (guint64 index = 0; index < chunk_count; index++)
    {
      gsize offset = HEADER + index * SEALED;
      gsize length = MIN (SEALED, ct_length - offset);
      gboolean is_final = FALSE;

      if (!usi_chunked_decryptor_open_chunk (decryptor, index, ct + offset, length,
                                             plaintext, &is_final, &error))
        return error;
      g_assert_cmpint (is_final, ==, index == chunk_count - 1);
      g_assert_true (collect_chunk (index, plaintext, length - USI_CHUNKED_TAG_LENGTH, is_final,
                                    collector, NULL));
    }

  return NULL;
}

/* Authenticates the message length by opening only the last chunk. */
static gboolean
final_chunk_verifies (const guint8  *key,
                      const guint8  *ctx,
                      gsize          ctx_length,
                      const guint8  *ct,
                      gsize          ct_length)
{
  g_autoptr(UsiChunkedDecryptor) decryptor = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *plaintext = g_malloc (SEALED);
  guint64 plaintext_length, chunk_count;
  gboolean is_final = FALSE;
  gsize offset;

  if (ct_length < HEADER || !usi_chunked_get_plaintext_length (ct_length, &plaintext_length))
    return FALSE;
  decryptor = usi_chunked_decryptor_new_with_header (key, USI_CHUNKED_KEY_LENGTH, ctx, ctx_length,
                                                     ct, 0, NULL, NULL, &error);
  if (decryptor == NULL)
    return FALSE;

  g_assert_true (usi_chunked_get_chunk_count (plaintext_length, &chunk_count));
  offset = HEADER + (chunk_count - 1) * SEALED;
  if (!usi_chunked_decryptor_open_chunk (decryptor, chunk_count - 1, ct + offset, ct_length - offset,
                                         plaintext, &is_final, &error))
    {
      g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
      return FALSE;
    }
  g_assert_true (is_final);
  return TRUE;
}

/* Re-encrypts @message with the vector's key, context and salt (taken from
 * its header) and expects exactly @ct, pushing in pieces of @piece bytes. */
static void
assert_reencrypts (const guint8  *key,
                   const guint8  *ctx,
                   gsize          ctx_length,
                   const guint8  *ct,
                   gsize          ct_length,
                   const guint8  *message,
                   gsize          message_length,
                   gsize          piece)
{
  g_autoptr(UsiChunkedEncryptor) encryptor = NULL;
  g_autoptr(GError) error = NULL;
  Collector collector;
  gsize offset = 0;

  collector_init (&collector, 0);
  encryptor = usi_chunked_encryptor_new_resume (key, USI_CHUNKED_KEY_LENGTH, ctx, ctx_length, ct, 0,
                                                collect_chunk, &collector, &error);
  g_assert_no_error (error);
  g_assert_true (memcmp (usi_chunked_encryptor_get_header (encryptor), ct, HEADER) == 0);
  while (offset < message_length)
    {
      gsize take = MIN (piece, message_length - offset);

      g_assert_true (usi_chunked_encryptor_push (encryptor, message + offset, take, &error));
      g_assert_no_error (error);
      offset += take;
    }
  g_assert_true (usi_chunked_encryptor_finish (encryptor, &error));
  g_assert_no_error (error);
  g_assert_true (collector.final_seen);

  g_assert_cmpuint (HEADER + collector.data->len, ==, ct_length);
  g_assert_true (memcmp (collector.data->data, ct + HEADER, collector.data->len) == 0);
  collector_clear (&collector);
}

static void
run_vector (JsonObject *test,
            Counts     *counts)
{
  static const gsize pieces[] = { 1, 4097, G_MAXSIZE };
  g_autoptr(GBytes) key = usi_test_hex (json_object_get_string_member (test, "key"));
  g_autoptr(GBytes) ctx = usi_test_hex (json_object_get_string_member (test, "ctx"));
  g_autoptr(GBytes) ct_compressed = usi_test_hex (json_object_get_string_member (test, "ct"));
  g_autoptr(GBytes) ct = zlib_decompress (ct_compressed);
  const char *result = json_object_get_string_member (test, "result");
  gint64 tc_id = json_object_get_int_member (test, "tcId");
  gboolean has_prefix = json_object_has_member (test, "msgLength");
  guint64 prefix_length = has_prefix ? (guint64) json_object_get_int_member (test, "msgLength") : 0;
  const char *prefix_sha512 = has_prefix ? json_object_get_string_member (test, "msgSha512") : NULL;
  gsize key_length, ctx_length, ct_length;
  const guint8 *key_data = g_bytes_get_data (key, &key_length);
  const guint8 *ctx_data = g_bytes_get_data (ctx, &ctx_length);
  const guint8 *ct_data = g_bytes_get_data (ct, &ct_length);
  g_autoptr(GBytes) message = NULL;
  int expected = -1;

  g_test_message ("tcId %" G_GINT64_FORMAT ": %s (%s, %zu ciphertext bytes)", tc_id,
                  json_object_get_string_member (test, "comment"), result, ct_length);

  if (g_str_equal (result, "invalid"))
    expected = expected_error (test, key_length, ct_length);
  else
    g_assert_true (g_str_equal (result, "valid") || g_str_equal (result, "acceptable"));

  /* Streaming, in three piece sizes. */
  for (guint p = 0; p < G_N_ELEMENTS (pieces); p++)
    {
      g_autoptr(GError) error = NULL;
      Collector collector;

      collector_init (&collector, 0);
      error = stream_decrypt (key_data, key_length, ctx_data, ctx_length,
                              ct_data, ct_length, pieces[p], &collector);

      if (g_str_equal (result, "acceptable"))
        {
          if (p == 0)
            {
              if (error == NULL)
                counts->acceptable_accepted++;
              else
                counts->acceptable_rejected++;
            }
        }
      else if (g_str_equal (result, "valid"))
        {
          g_assert_no_error (error);
          g_assert_true (collector.final_seen);
          g_assert_cmpuint (collector.data->len, ==, prefix_length);
          g_assert_cmpstr (g_checksum_get_string (collector.sha512), ==, prefix_sha512);
          if (message == NULL)
            message = g_bytes_new (collector.data->data, collector.data->len);
        }
      else
        {
          g_assert_error (error, USI_CRYPTO_ERROR, expected);
          g_assert_false (collector.final_seen);
          /* Only chunks that verified came out: exactly the valid prefix
           * (every verified chunk is emitted at once), or nothing. */
          if (has_flag (test, "PartialPlaintext"))
            {
              g_assert_cmpuint (collector.data->len, ==, prefix_length);
              g_assert_cmpstr (g_checksum_get_string (collector.sha512), ==, prefix_sha512);
            }
          else
            g_assert_cmpuint (collector.data->len, ==, 0);
        }
      collector_clear (&collector);
    }

  /* Random access and length authentication, where a whole header and a
   * key of the right size make that interface applicable. */
  if (key_length == USI_CHUNKED_KEY_LENGTH && ct_length >= HEADER)
    {
      g_autoptr(GError) error = NULL;
      Collector collector;
      gboolean final_ok;

      collector_init (&collector, 0);
      error = random_access_decrypt (key_data, ctx_data, ctx_length, ct_data, ct_length, &collector);
      final_ok = final_chunk_verifies (key_data, ctx_data, ctx_length, ct_data, ct_length);
      if (g_str_equal (result, "valid"))
        {
          g_assert_no_error (error);
          g_assert_true (collector.final_seen);
          g_assert_cmpstr (g_checksum_get_string (collector.sha512), ==, prefix_sha512);
          g_assert_true (final_ok);
        }
      else if (g_str_equal (result, "invalid"))
        {
          g_assert_nonnull (error);
          if (has_flag (test, "ValidFinalChunk"))
            counts->valid_final_chunk_accepted += final_ok;
          else
            g_assert_false (final_ok);
        }
      counts->random_access++;
      collector_clear (&collector);
    }

  /* Encryption is deterministic given the salt: re-encrypting the message
   * must give the vector's ciphertext byte for byte. */
  if (g_str_equal (result, "valid"))
    {
      gsize message_length;
      const guint8 *message_data = g_bytes_get_data (message, &message_length);

      assert_reencrypts (key_data, ctx_data, ctx_length, ct_data, ct_length,
                         message_data, message_length, G_MAXSIZE);
      assert_reencrypts (key_data, ctx_data, ctx_length, ct_data, ct_length,
                         message_data, message_length, 1000);
      counts->reencrypted++;
    }

  if (g_str_equal (result, "valid"))
    counts->valid++;
  else if (g_str_equal (result, "invalid"))
    {
      const char *nick = error_nick (expected);

      counts->invalid++;
      g_hash_table_insert (counts->by_error, (gpointer) nick,
                           GUINT_TO_POINTER (GPOINTER_TO_UINT (g_hash_table_lookup (counts->by_error, nick)) + 1));
    }
}

static void
test_wycheproof (void)
{
  g_autoptr(JsonNode) root = usi_test_vectors_load_json ("wycheproof/c2sp_chunked_encryption_aes_256_gcm_test.json");
  g_autoptr(GHashTable) by_error = g_hash_table_new (g_str_hash, g_str_equal);
  Counts counts = { 0 };
  JsonArray *groups;
  guint declared;

  if (root == NULL)
    return;

  counts.by_error = by_error;
  declared = json_object_get_int_member (json_node_get_object (root), "numberOfTests");
  groups = json_object_get_array_member (json_node_get_object (root), "testGroups");
  for (guint g = 0; g < json_array_get_length (groups); g++)
    {
      JsonObject *group = json_array_get_object_element (groups, g);
      JsonArray *tests = json_object_get_array_member (group, "tests");
      gboolean applicable = g_str_equal (json_object_get_string_member (group, "aead"), "AEAD_AES_256_GCM") &&
                            g_str_equal (json_object_get_string_member (group, "sha"), "SHA-512");

      for (guint t = 0; t < json_array_get_length (tests); t++)
        {
          if (applicable)
            run_vector (json_array_get_object_element (tests, t), &counts);
          else
            counts.not_applicable++;
        }
    }

  g_print ("# c2sp chunked: %u valid (all decrypted, %u re-encrypted byte for byte), "
           "%u invalid rejected (%u authentication, %u truncated, %u invalid key), "
           "acceptable %u accepted / %u rejected, %u not applicable\n",
           counts.valid, counts.reencrypted, counts.invalid,
           GPOINTER_TO_UINT (g_hash_table_lookup (by_error, "authentication")),
           GPOINTER_TO_UINT (g_hash_table_lookup (by_error, "truncated")),
           GPOINTER_TO_UINT (g_hash_table_lookup (by_error, "invalid-key")),
           counts.acceptable_accepted, counts.acceptable_rejected, counts.not_applicable);
  g_print ("# c2sp chunked: %u through random access; final chunk verified alone for %u ValidFinalChunk cases\n",
           counts.random_access, counts.valid_final_chunk_accepted);
  g_assert_cmpuint (counts.valid + counts.invalid + counts.acceptable_accepted +
                    counts.acceptable_rejected + counts.not_applicable, ==, declared);
  usi_test_vectors_report ("c2sp_chunked_encryption_aes_256_gcm_test",
                           counts.valid + counts.invalid + counts.acceptable_accepted + counts.acceptable_rejected);
}


/* Own tests */

static GBytes *
make_plaintext (gsize length,
                guint seed)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  guint8 *data = g_malloc (length + 1);

  for (gsize i = 0; i < length; i++)
    data[i] = g_rand_int (rand) & 0xff;

  return g_bytes_new_take (data, length);
}

typedef struct
{
  GBytes    *ciphertext;  /* header ‖ chunks */
  GPtrArray *chunks;      /* of GBytes */
} Message;

static gboolean
collect_message_chunk (guint64        index,
                       const guint8  *data,
                       gsize          length,
                       gboolean       is_final,
                       gpointer       user_data,
                       GError       **error)
{
  GPtrArray *chunks = user_data;

  g_assert_cmpuint (index, ==, chunks->len);
  g_assert_cmpint (is_final, ==, length < SEALED);
  g_ptr_array_add (chunks, g_bytes_new (data, length));
  return TRUE;
}

static void
message_encrypt (Message       *message,
                 const guint8  *plaintext,
                 gsize          length,
                 const guint8  *context,
                 gsize          context_length)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "chunked", 7);
  g_autoptr(UsiChunkedEncryptor) encryptor = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GByteArray) all = g_byte_array_new ();
  guint64 expected_length;

  message->chunks = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  encryptor = usi_chunked_encryptor_new (test_key, sizeof test_key, context, context_length, random,
                                         collect_message_chunk, message->chunks, &error);
  g_assert_no_error (error);
  g_assert_true (usi_chunked_encryptor_push (encryptor, plaintext, length, &error));
  g_assert_no_error (error);
  g_assert_true (usi_chunked_encryptor_finish (encryptor, &error));
  g_assert_no_error (error);

  g_byte_array_append (all, usi_chunked_encryptor_get_header (encryptor), HEADER);
  for (guint i = 0; i < message->chunks->len; i++)
    {
      GBytes *chunk = g_ptr_array_index (message->chunks, i);

      g_byte_array_append (all, g_bytes_get_data (chunk, NULL), g_bytes_get_size (chunk));
    }
  g_assert_true (usi_chunked_get_ciphertext_length (length, &expected_length));
  g_assert_cmpuint (all->len, ==, expected_length);
  g_assert_cmpuint (usi_chunked_encryptor_get_next_index (encryptor), ==, message->chunks->len);
  message->ciphertext = g_byte_array_free_to_bytes (g_steal_pointer (&all));
}

static void
message_clear (Message *message)
{
  g_clear_pointer (&message->ciphertext, g_bytes_unref);
  g_clear_pointer (&message->chunks, g_ptr_array_unref);
}

/* Joins the header of @message with the chunks at @order (−1 ends). */
static GBytes *
message_assemble (Message   *message,
                  const int *order)
{
  GByteArray *out = g_byte_array_new ();

  g_byte_array_append (out, g_bytes_get_data (message->ciphertext, NULL), HEADER);
  for (; *order >= 0; order++)
    {
      GBytes *chunk = g_ptr_array_index (message->chunks, *order);

      g_byte_array_append (out, g_bytes_get_data (chunk, NULL), g_bytes_get_size (chunk));
    }

  return g_byte_array_free_to_bytes (out);
}

static void
assert_stream_fails (GBytes        *ciphertext,
                     const guint8  *key,
                     gsize          key_length,
                     const guint8  *context,
                     gsize          context_length,
                     int            code)
{
  static const gsize pieces[] = { 1, 4097, G_MAXSIZE };

  for (guint p = 0; p < G_N_ELEMENTS (pieces); p++)
    {
      g_autoptr(GError) error = NULL;
      Collector collector;

      collector_init (&collector, 0);
      error = stream_decrypt (key, key_length, context, context_length,
                              g_bytes_get_data (ciphertext, NULL), g_bytes_get_size (ciphertext),
                              pieces[p], &collector);
      g_assert_error (error, USI_CRYPTO_ERROR, code);
      g_assert_false (collector.final_seen);
      collector_clear (&collector);
    }
}

static void
assert_stream_decrypts (GBytes        *ciphertext,
                        const guint8  *context,
                        gsize          context_length,
                        GBytes        *plaintext)
{
  g_autoptr(GError) error = NULL;
  Collector collector;

  collector_init (&collector, 0);
  error = stream_decrypt (test_key, sizeof test_key, context, context_length,
                          g_bytes_get_data (ciphertext, NULL), g_bytes_get_size (ciphertext),
                          4097, &collector);
  g_assert_no_error (error);
  g_assert_true (collector.final_seen);
  usi_assert_bytes_equal (collector.data->data, collector.data->len,
                          g_bytes_get_data (plaintext, NULL), g_bytes_get_size (plaintext));
  collector_clear (&collector);
}

/* Counts what came out without keeping it, to check how much is held back. */
typedef struct
{
  guint64    emitted;      /* bytes handed to the callback */
  guint64    chunks;
  gboolean   final_seen;
  GChecksum *sha256;
  GByteArray *sink;        /* optional: keeps the ciphertext */
} Meter;

static gboolean
meter_chunk (guint64        index,
             const guint8  *data,
             gsize          length,
             gboolean       is_final,
             gpointer       user_data,
             GError       **error)
{
  Meter *meter = user_data;

  g_assert_cmpuint (index, ==, meter->chunks);
  meter->chunks++;
  meter->emitted += length;
  meter->final_seen = is_final;
  g_checksum_update (meter->sha256, data, length);
  if (meter->sink != NULL)
    g_byte_array_append (meter->sink, data, length);
  return TRUE;
}

/* 5 MiB (+ a tail) in irregular pieces: after every push, everything but
 * less than one chunk has come out — on both sides — so memory stays at one
 * chunk whatever the file size. */
static void
test_stream_memory_bound (void)
{
  static const gsize piece_sizes[] = { 1, 7, 4097, 16383, 16384, 16385, 65536, 100003 };
  const gsize lengths[] = { 5 * 1024 * 1024, 5 * 1024 * 1024 + 123 };

  for (guint l = 0; l < G_N_ELEMENTS (lengths); l++)
    {
      g_autoptr(GBytes) plaintext = make_plaintext (lengths[l], 5 + l);
      g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "5 MiB", 5);
      g_autoptr(UsiChunkedEncryptor) encryptor = NULL;
      g_autoptr(UsiChunkedDecryptor) decryptor = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(GChecksum) plaintext_sha256 = g_checksum_new (G_CHECKSUM_SHA256);
      g_autofree char *expected_sha256 = NULL;
      Meter encrypted = { 0 }, decrypted = { 0 };
      const guint8 *data = g_bytes_get_data (plaintext, NULL);
      gsize offset = 0, ct_offset = 0;
      guint64 max_lag = 0, expected_chunks;
      guint turn = 0;

      g_checksum_update (plaintext_sha256, data, lengths[l]);
      expected_sha256 = g_strdup (g_checksum_get_string (plaintext_sha256));

      encrypted.sha256 = g_checksum_new (G_CHECKSUM_SHA256);
      encrypted.sink = g_byte_array_new ();
      decrypted.sha256 = g_checksum_new (G_CHECKSUM_SHA256);

      encryptor = usi_chunked_encryptor_new (test_key, sizeof test_key, NULL, 0, random,
                                             meter_chunk, &encrypted, &error);
      g_assert_no_error (error);
      g_byte_array_append (encrypted.sink, usi_chunked_encryptor_get_header (encryptor), HEADER);

      while (offset < lengths[l])
        {
          gsize take = MIN (piece_sizes[turn++ % G_N_ELEMENTS (piece_sizes)], lengths[l] - offset);
          guint64 held;

          g_assert_true (usi_chunked_encryptor_push (encryptor, data + offset, take, &error));
          g_assert_no_error (error);
          offset += take;
          /* Plaintext in = plaintext in emitted chunks + what is held. */
          held = offset - (encrypted.emitted - encrypted.chunks * USI_CHUNKED_TAG_LENGTH);
          g_assert_cmpuint (held, <, CHUNK);
          max_lag = MAX (max_lag, held);
        }
      g_assert_true (usi_chunked_encryptor_finish (encryptor, &error));
      g_assert_no_error (error);
      g_assert_true (encrypted.final_seen);
      g_assert_true (usi_chunked_get_chunk_count (lengths[l], &expected_chunks));
      g_assert_cmpuint (encrypted.chunks, ==, expected_chunks);

      decryptor = usi_chunked_decryptor_new (test_key, sizeof test_key, NULL, 0,
                                             meter_chunk, &decrypted, &error);
      g_assert_no_error (error);
      turn = 3;
      while (ct_offset < encrypted.sink->len)
        {
          gsize take = MIN (piece_sizes[turn++ % G_N_ELEMENTS (piece_sizes)], encrypted.sink->len - ct_offset);
          guint64 held;

          g_assert_true (usi_chunked_decryptor_push (decryptor, encrypted.sink->data + ct_offset, take, &error));
          g_assert_no_error (error);
          ct_offset += take;
          /* Ciphertext in = header + sealed emitted chunks + what is held. */
          held = ct_offset - MIN (ct_offset, HEADER + decrypted.emitted + decrypted.chunks * USI_CHUNKED_TAG_LENGTH);
          g_assert_cmpuint (held, <=, SEALED);
          max_lag = MAX (max_lag, held);
        }
      g_assert_false (decrypted.final_seen);
      g_assert_true (usi_chunked_decryptor_finish (decryptor, &error));
      g_assert_no_error (error);
      g_assert_true (decrypted.final_seen);
      g_assert_cmpuint (decrypted.emitted, ==, lengths[l]);
      g_assert_cmpstr (g_checksum_get_string (decrypted.sha256), ==, expected_sha256);
      g_test_message ("%zu bytes: at most %" G_GUINT64_FORMAT " bytes held back at any time",
                      lengths[l], max_lag);

      g_checksum_free (encrypted.sha256);
      g_byte_array_unref (encrypted.sink);
      g_checksum_free (decrypted.sha256);
    }
}

static void
test_empty (void)
{
  g_autoptr(GBytes) plaintext = g_bytes_new (NULL, 0);
  g_autoptr(GError) error = NULL;
  Message message = { 0 };
  Collector collector;

  message_encrypt (&message, NULL, 0, test_context, sizeof test_context);
  g_assert_cmpuint (message.chunks->len, ==, 1);
  g_assert_cmpuint (g_bytes_get_size (message.ciphertext), ==, HEADER + USI_CHUNKED_TAG_LENGTH);

  collector_init (&collector, 0);
  error = stream_decrypt (test_key, sizeof test_key, test_context, sizeof test_context,
                          g_bytes_get_data (message.ciphertext, NULL), g_bytes_get_size (message.ciphertext),
                          G_MAXSIZE, &collector);
  g_assert_no_error (error);
  g_assert_true (collector.final_seen);
  g_assert_cmpuint (collector.calls, ==, 1);
  g_assert_cmpuint (collector.data->len, ==, 0);
  collector_clear (&collector);

  /* The header alone is a truncated message. */
  {
    g_autoptr(GBytes) header_only = g_bytes_new (g_bytes_get_data (message.ciphertext, NULL), HEADER);

    assert_stream_fails (header_only, test_key, sizeof test_key, test_context, sizeof test_context,
                         USI_CRYPTO_ERROR_TRUNCATED);
  }
  assert_stream_decrypts (message.ciphertext, test_context, sizeof test_context, plaintext);
  message_clear (&message);
}

/* Exact multiples of the chunk size end with an empty chunk; one byte more
 * or less does not. */
static void
test_boundaries (void)
{
  const gsize lengths[] = { 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK - 1 };

  for (guint i = 0; i < G_N_ELEMENTS (lengths); i++)
    {
      g_autoptr(GBytes) plaintext = make_plaintext (lengths[i], i);
      Message message = { 0 };
      GBytes *last;

      message_encrypt (&message, g_bytes_get_data (plaintext, NULL), lengths[i], NULL, 0);
      g_assert_cmpuint (message.chunks->len, ==, lengths[i] / CHUNK + 1);
      last = g_ptr_array_index (message.chunks, message.chunks->len - 1);
      g_assert_cmpuint (g_bytes_get_size (last), ==, lengths[i] % CHUNK + USI_CHUNKED_TAG_LENGTH);
      assert_stream_decrypts (message.ciphertext, NULL, 0, plaintext);
      message_clear (&message);
    }
}

static void
test_reorder_drop_duplicate (void)
{
  /* Four chunks: three full, one short. */
  g_autoptr(GBytes) plaintext = make_plaintext (3 * CHUNK + 500, 42);
  Message message = { 0 };
  static const int in_order[] = { 0, 1, 2, 3, -1 };
  static const int swapped[] = { 1, 0, 2, 3, -1 };
  static const int dropped_middle[] = { 0, 2, 3, -1 };
  static const int dropped_final[] = { 0, 1, 2, -1 };
  static const int duplicated[] = { 0, 0, 1, 2, 3, -1 };
  static const int final_moved[] = { 0, 1, 3, -1 };
  static const int final_twice[] = { 0, 1, 2, 3, 3, -1 };
  static const int chunk_after_final[] = { 0, 1, 2, 3, 0, -1 };
  static const struct { const int *order; int code; } cases[] = {
    { swapped, USI_CRYPTO_ERROR_AUTHENTICATION },
    { dropped_middle, USI_CRYPTO_ERROR_AUTHENTICATION },
    { dropped_final, USI_CRYPTO_ERROR_TRUNCATED },
    { duplicated, USI_CRYPTO_ERROR_AUTHENTICATION },
    { final_moved, USI_CRYPTO_ERROR_AUTHENTICATION },
    { final_twice, USI_CRYPTO_ERROR_AUTHENTICATION },
    { chunk_after_final, USI_CRYPTO_ERROR_AUTHENTICATION },
  };

  message_encrypt (&message, g_bytes_get_data (plaintext, NULL), g_bytes_get_size (plaintext),
                   test_context, sizeof test_context);
  g_assert_cmpuint (message.chunks->len, ==, 4);

  {
    g_autoptr(GBytes) assembled = message_assemble (&message, in_order);

    g_assert_true (g_bytes_equal (assembled, message.ciphertext));
    assert_stream_decrypts (assembled, test_context, sizeof test_context, plaintext);
  }

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GBytes) assembled = message_assemble (&message, cases[i].order);

      assert_stream_fails (assembled, test_key, sizeof test_key, test_context, sizeof test_context,
                           cases[i].code);
    }

  message_clear (&message);
}

/* Bit flips everywhere, cuts at every length around the end, wrong key,
 * context and key size. */
static void
test_tampering (void)
{
  g_autoptr(GBytes) plaintext = make_plaintext (CHUNK + 100, 7);
  const guint8 *ct;
  gsize ct_length;
  Message message = { 0 };
  guint8 wrong_key[32];
  const gsize flip_at[] = { 0, 23, 24, 55, 56, 56 + CHUNK - 1, 56 + CHUNK, 56 + SEALED - 1,
                            56 + SEALED, 56 + SEALED + 99, 56 + SEALED + 100, 56 + SEALED + 115 };

  message_encrypt (&message, g_bytes_get_data (plaintext, NULL), g_bytes_get_size (plaintext),
                   test_context, sizeof test_context);
  ct = g_bytes_get_data (message.ciphertext, &ct_length);
  g_assert_cmpuint (ct_length, ==, 56 + SEALED + 116);

  for (guint i = 0; i < G_N_ELEMENTS (flip_at); i++)
    {
      for (guint bit = 0; bit < 8; bit += 7)
        {
          g_autofree guint8 *copy = g_memdup2 (ct, ct_length);
          g_autoptr(GBytes) tampered = NULL;

          copy[flip_at[i]] ^= 1 << bit;
          tampered = g_bytes_new (copy, ct_length);
          assert_stream_fails (tampered, test_key, sizeof test_key, test_context, sizeof test_context,
                               USI_CRYPTO_ERROR_AUTHENTICATION);
        }
    }

  /* Every cut: inside the header, inside a chunk, right after the full
   * chunk, inside the final chunk's tag. */
  for (gsize cut = 0; cut < ct_length; cut++)
    {
      g_autoptr(GBytes) truncated = NULL;
      guint64 ignored;
      int code;

      /* Walking every byte of the full chunk in three piece sizes would be
       * slow for nothing: sample it. */
      if (cut > 80 && cut < 56 + SEALED - 40 && cut % 1021 != 0)
        continue;
      truncated = g_bytes_new (ct, cut);
      code = usi_chunked_get_plaintext_length (cut, &ignored) ? USI_CRYPTO_ERROR_AUTHENTICATION
                                                              : USI_CRYPTO_ERROR_TRUNCATED;
      assert_stream_fails (truncated, test_key, sizeof test_key, test_context, sizeof test_context, code);
    }

  /* Trailing bytes after a complete message. */
  for (gsize extra = 1; extra <= 40; extra += 13)
    {
      g_autofree guint8 *longer = g_malloc0 (ct_length + extra);
      g_autoptr(GBytes) extended = NULL;

      memcpy (longer, ct, ct_length);
      extended = g_bytes_new (longer, ct_length + extra);
      assert_stream_fails (extended, test_key, sizeof test_key, test_context, sizeof test_context,
                           USI_CRYPTO_ERROR_AUTHENTICATION);
    }

  memcpy (wrong_key, test_key, sizeof wrong_key);
  wrong_key[0] ^= 0x80;
  assert_stream_fails (message.ciphertext, wrong_key, sizeof wrong_key, test_context, sizeof test_context,
                       USI_CRYPTO_ERROR_AUTHENTICATION);
  assert_stream_fails (message.ciphertext, test_key, sizeof test_key, test_context, sizeof test_context - 1,
                       USI_CRYPTO_ERROR_AUTHENTICATION);
  assert_stream_fails (message.ciphertext, test_key, sizeof test_key, NULL, 0,
                       USI_CRYPTO_ERROR_AUTHENTICATION);
  assert_stream_fails (message.ciphertext, test_key, 31, test_context, sizeof test_context,
                       USI_CRYPTO_ERROR_INVALID_KEY);
  assert_stream_fails (message.ciphertext, test_key, 16, test_context, sizeof test_context,
                       USI_CRYPTO_ERROR_INVALID_KEY);

  message_clear (&message);
}

/* The file-transfer layer resumes by chunk index: the header arrives in the
 * offer, then chunks from some index on, or single chunks on their own. */
static void
test_resume_from_index (void)
{
  g_autoptr(GBytes) plaintext = make_plaintext (5 * CHUNK + 1000, 99);
  const guint8 *pt = g_bytes_get_data (plaintext, NULL);
  g_autoptr(UsiChunkedDecryptor) decryptor = NULL;
  g_autoptr(UsiChunkedDecryptor) random_access = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *buffer = g_malloc (SEALED);
  const guint8 *header;
  Message message = { 0 };
  Collector collector;
  GBytes *chunk;
  gboolean is_final = TRUE;

  message_encrypt (&message, pt, g_bytes_get_size (plaintext), test_context, sizeof test_context);
  header = g_bytes_get_data (message.ciphertext, NULL);

  /* Streaming from chunk 2 on. */
  collector_init (&collector, 2);
  decryptor = usi_chunked_decryptor_new_with_header (test_key, sizeof test_key, test_context,
                                                     sizeof test_context, header, 2,
                                                     collect_chunk, &collector, &error);
  g_assert_no_error (error);
  for (guint i = 2; i < message.chunks->len; i++)
    {
      chunk = g_ptr_array_index (message.chunks, i);
      g_assert_true (usi_chunked_decryptor_push (decryptor, g_bytes_get_data (chunk, NULL),
                                                 g_bytes_get_size (chunk), &error));
      g_assert_no_error (error);
    }
  g_assert_true (usi_chunked_decryptor_finish (decryptor, &error));
  g_assert_no_error (error);
  g_assert_true (collector.final_seen);
  g_assert_cmpuint (usi_chunked_decryptor_get_next_index (decryptor), ==, message.chunks->len);
  usi_assert_bytes_equal (collector.data->data, collector.data->len,
                          pt + 2 * CHUNK, g_bytes_get_size (plaintext) - 2 * CHUNK);
  collector_clear (&collector);

  /* A middle chunk on its own. */
  random_access = usi_chunked_decryptor_new_with_header (test_key, sizeof test_key, test_context,
                                                         sizeof test_context, header, 0,
                                                         NULL, NULL, &error);
  g_assert_no_error (error);
  chunk = g_ptr_array_index (message.chunks, 3);
  g_assert_true (usi_chunked_decryptor_open_chunk (random_access, 3, g_bytes_get_data (chunk, NULL),
                                                   g_bytes_get_size (chunk), buffer, &is_final, &error));
  g_assert_no_error (error);
  g_assert_false (is_final);
  usi_assert_bytes_equal (buffer, CHUNK, pt + 3 * CHUNK, CHUNK);

  /* The same chunk claimed at another index fails, and its output is wiped. */
  memset (buffer, 0xa5, SEALED);
  g_assert_false (usi_chunked_decryptor_open_chunk (random_access, 4, g_bytes_get_data (chunk, NULL),
                                                    g_bytes_get_size (chunk), buffer, NULL, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
  g_clear_error (&error);
  for (gsize i = 0; i < CHUNK; i++)
    g_assert_cmpuint (buffer[i], ==, 0);

  /* The final chunk, in place. */
  chunk = g_ptr_array_index (message.chunks, 5);
  memcpy (buffer, g_bytes_get_data (chunk, NULL), g_bytes_get_size (chunk));
  g_assert_true (usi_chunked_decryptor_open_chunk (random_access, 5, buffer, g_bytes_get_size (chunk),
                                                   buffer, &is_final, &error));
  g_assert_no_error (error);
  g_assert_true (is_final);
  usi_assert_bytes_equal (buffer, 1000, pt + 5 * CHUNK, 1000);

  /* Impossible chunk sizes. */
  g_assert_false (usi_chunked_decryptor_open_chunk (random_access, 5, buffer, USI_CHUNKED_TAG_LENGTH - 1,
                                                    buffer, NULL, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_TRUNCATED);
  g_clear_error (&error);
  {
    g_autofree guint8 *too_long = g_malloc0 (SEALED + 1);

    g_assert_false (usi_chunked_decryptor_open_chunk (random_access, 0, too_long, SEALED + 1,
                                                      too_long, NULL, &error));
    g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
    g_clear_error (&error);
  }

  /* A stream resumed at the wrong index rejects the first chunk. */
  {
    g_autoptr(UsiChunkedDecryptor) wrong = NULL;

    collector_init (&collector, 1);
    wrong = usi_chunked_decryptor_new_with_header (test_key, sizeof test_key, test_context,
                                                   sizeof test_context, header, 1,
                                                   collect_chunk, &collector, &error);
    g_assert_no_error (error);
    chunk = g_ptr_array_index (message.chunks, 2);
    g_assert_false (usi_chunked_decryptor_push (wrong, g_bytes_get_data (chunk, NULL),
                                                g_bytes_get_size (chunk), &error));
    g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
    g_clear_error (&error);
    g_assert_cmpuint (collector.data->len, ==, 0);
    collector_clear (&collector);
  }

  /* A header with a changed commitment is refused before any chunk. */
  {
    g_autofree guint8 *bad_header = g_memdup2 (header, HEADER);
    UsiChunkedDecryptor *refused;

    bad_header[HEADER - 1] ^= 1;
    refused = usi_chunked_decryptor_new_with_header (test_key, sizeof test_key, test_context,
                                                     sizeof test_context, bad_header, 0,
                                                     NULL, NULL, &error);
    g_assert_null (refused);
    g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
    g_clear_error (&error);
  }

  /* The sender resumes too: re-encrypting from chunk 4 gives the same
   * chunks 4 and 5. */
  {
    g_autoptr(UsiChunkedEncryptor) encryptor = NULL;
    g_autoptr(GPtrArray) resent = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);

    /* collect_message_chunk expects indices from 0: pad the array. */
    for (guint i = 0; i < 4; i++)
      g_ptr_array_add (resent, g_bytes_new (NULL, 0));
    encryptor = usi_chunked_encryptor_new_resume (test_key, sizeof test_key, test_context,
                                                  sizeof test_context, header, 4,
                                                  collect_message_chunk, resent, &error);
    g_assert_no_error (error);
    g_assert_true (usi_chunked_encryptor_push (encryptor, pt + 4 * CHUNK,
                                               g_bytes_get_size (plaintext) - 4 * CHUNK, &error));
    g_assert_true (usi_chunked_encryptor_finish (encryptor, &error));
    g_assert_no_error (error);
    g_assert_cmpuint (resent->len, ==, 6);
    g_assert_true (g_bytes_equal (g_ptr_array_index (resent, 4), g_ptr_array_index (message.chunks, 4)));
    g_assert_true (g_bytes_equal (g_ptr_array_index (resent, 5), g_ptr_array_index (message.chunks, 5)));
  }

  message_clear (&message);
}

static void
test_misuse_and_callback_failure (void)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "misuse", 6);
  g_autoptr(UsiChunkedEncryptor) encryptor = NULL;
  g_autoptr(UsiChunkedEncryptor) failing = NULL;
  g_autoptr(UsiChunkedDecryptor) early = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) plaintext = make_plaintext (3 * CHUNK, 3);
  g_autofree guint8 *buffer = g_malloc (SEALED);
  Collector collector;

  /* Nothing after finish. */
  collector_init (&collector, 0);
  encryptor = usi_chunked_encryptor_new (test_key, sizeof test_key, NULL, 0, random,
                                         collect_chunk, &collector, &error);
  g_assert_no_error (error);
  g_assert_true (usi_chunked_encryptor_finish (encryptor, &error));
  g_assert_false (usi_chunked_encryptor_push (encryptor, (const guint8 *) "x", 1, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (usi_chunked_encryptor_finish (encryptor, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  collector_clear (&collector);

  /* A failing callback stops the stream, and it stays stopped. */
  collector_init (&collector, 0);
  collector.fail_at_call = 2;
  failing = usi_chunked_encryptor_new (test_key, sizeof test_key, NULL, 0, random,
                                       collect_chunk, &collector, &error);
  g_assert_no_error (error);
  g_assert_false (usi_chunked_encryptor_push (failing, g_bytes_get_data (plaintext, NULL),
                                              g_bytes_get_size (plaintext), &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  g_clear_error (&error);
  g_assert_cmpuint (usi_chunked_encryptor_get_next_index (failing), ==, 1);
  g_assert_false (usi_chunked_encryptor_finish (failing, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE);
  g_clear_error (&error);
  collector_clear (&collector);

  /* Random access needs the header first. */
  collector_init (&collector, 0);
  early = usi_chunked_decryptor_new (test_key, sizeof test_key, NULL, 0, collect_chunk, &collector, &error);
  g_assert_no_error (error);
  g_assert_false (usi_chunked_decryptor_open_chunk (early, 0, buffer, SEALED, buffer, NULL, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  collector_clear (&collector);
}

static void
test_random_source (void)
{
  static const guint8 salt[USI_CHUNKED_SALT_LENGTH] = "twenty-four byte salt!!";
  g_autoptr(UsiRandom) fixed = usi_random_new_fixed (salt, sizeof salt);
  g_autoptr(UsiRandom) too_short = usi_random_new_fixed (salt, sizeof salt - 1);
  g_autoptr(UsiChunkedEncryptor) a = NULL;
  g_autoptr(UsiChunkedEncryptor) b = NULL;
  g_autoptr(UsiChunkedEncryptor) c = NULL;
  UsiChunkedEncryptor *refused;
  g_autoptr(GError) error = NULL;
  Collector collector;

  collector_init (&collector, 0);
  a = usi_chunked_encryptor_new (test_key, sizeof test_key, NULL, 0, fixed, collect_chunk, &collector, &error);
  g_assert_no_error (error);
  g_assert_true (memcmp (usi_chunked_encryptor_get_header (a), salt, sizeof salt) == 0);

  /* The system source gives a new salt, hence a new commitment, each time. */
  b = usi_chunked_encryptor_new (test_key, sizeof test_key, NULL, 0, usi_random_get_system (),
                                 collect_chunk, &collector, &error);
  g_assert_no_error (error);
  c = usi_chunked_encryptor_new (test_key, sizeof test_key, NULL, 0, usi_random_get_system (),
                                 collect_chunk, &collector, &error);
  g_assert_no_error (error);
  g_assert_true (memcmp (usi_chunked_encryptor_get_header (b), usi_chunked_encryptor_get_header (c), HEADER) != 0);

  /* No randomness, no encryptor. */
  refused = usi_chunked_encryptor_new (test_key, sizeof test_key, NULL, 0, too_short,
                                       collect_chunk, &collector, &error);
  g_assert_null (refused);
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_RANDOM);
  collector_clear (&collector);
}

static void
test_long_context (void)
{
  g_autoptr(GBytes) context = make_plaintext (4096, 11);
  g_autoptr(GBytes) plaintext = make_plaintext (20000, 12);
  Message message = { 0 };

  message_encrypt (&message, g_bytes_get_data (plaintext, NULL), g_bytes_get_size (plaintext),
                   g_bytes_get_data (context, NULL), g_bytes_get_size (context));
  assert_stream_decrypts (message.ciphertext, g_bytes_get_data (context, NULL), g_bytes_get_size (context),
                          plaintext);
  /* The last context byte matters. */
  assert_stream_fails (message.ciphertext, test_key, sizeof test_key, g_bytes_get_data (context, NULL),
                       g_bytes_get_size (context) - 1, USI_CRYPTO_ERROR_AUTHENTICATION);
  message_clear (&message);
}

static void
test_lengths_and_limits (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) plaintext = make_plaintext (CHUNK, 1);
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "limits", 6);
  g_autoptr(UsiChunkedEncryptor) source = NULL;
  g_autoptr(UsiChunkedEncryptor) near_limit = NULL;
  g_autoptr(UsiChunkedDecryptor) decryptor = NULL;
  UsiChunkedDecryptor *refused;
  g_autofree guint8 *buffer = g_malloc0 (SEALED);
  const guint64 max_plaintext = USI_CHUNKED_MAX_CHUNKS * CHUNK - 1;
  guint64 value;
  Collector collector;

  g_assert_true (usi_chunked_get_chunk_count (0, &value));
  g_assert_cmpuint (value, ==, 1);
  g_assert_true (usi_chunked_get_chunk_count (CHUNK, &value));
  g_assert_cmpuint (value, ==, 2);
  g_assert_true (usi_chunked_get_chunk_count (max_plaintext, &value));
  g_assert_cmpuint (value, ==, USI_CHUNKED_MAX_CHUNKS);
  g_assert_false (usi_chunked_get_chunk_count (max_plaintext + 1, &value));
  g_assert_false (usi_chunked_get_ciphertext_length (max_plaintext + 1, &value));

  g_assert_true (usi_chunked_get_ciphertext_length (0, &value));
  g_assert_cmpuint (value, ==, 72);
  g_assert_true (usi_chunked_get_plaintext_length (72, &value));
  g_assert_cmpuint (value, ==, 0);
  g_assert_false (usi_chunked_get_plaintext_length (71, &value));
  g_assert_false (usi_chunked_get_plaintext_length (56, &value));
  g_assert_false (usi_chunked_get_plaintext_length (56 + SEALED, &value));
  g_assert_false (usi_chunked_get_plaintext_length (56 + SEALED + 15, &value));
  g_assert_true (usi_chunked_get_plaintext_length (56 + SEALED + 16, &value));
  g_assert_cmpuint (value, ==, CHUNK);
  g_assert_true (usi_chunked_get_ciphertext_length (max_plaintext, &value));
  g_assert_true (usi_chunked_get_plaintext_length (value, &value));
  g_assert_cmpuint (value, ==, max_plaintext);
  g_assert_false (usi_chunked_get_plaintext_length (G_MAXUINT64, &value));

  /* The last allowed chunk index works; one more is refused. */
  collector_init (&collector, USI_CHUNKED_MAX_CHUNKS - 1);
  source = usi_chunked_encryptor_new (test_key, sizeof test_key, NULL, 0, random,
                                      collect_chunk, &collector, &error);
  g_assert_no_error (error);
  near_limit = usi_chunked_encryptor_new_resume (test_key, sizeof test_key, NULL, 0,
                                                 usi_chunked_encryptor_get_header (source),
                                                 USI_CHUNKED_MAX_CHUNKS - 1,
                                                 collect_chunk, &collector, &error);
  g_assert_no_error (error);
  g_assert_true (usi_chunked_encryptor_push (near_limit, g_bytes_get_data (plaintext, NULL), CHUNK, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (collector.data->len, ==, SEALED);
  g_assert_false (usi_chunked_encryptor_finish (near_limit, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_LIMIT);
  g_clear_error (&error);

  decryptor = usi_chunked_decryptor_new_with_header (test_key, sizeof test_key, NULL, 0,
                                                     usi_chunked_encryptor_get_header (source), 0,
                                                     NULL, NULL, &error);
  g_assert_no_error (error);
  memcpy (buffer, collector.data->data, SEALED);
  g_assert_true (usi_chunked_decryptor_open_chunk (decryptor, USI_CHUNKED_MAX_CHUNKS - 1, buffer, SEALED,
                                                   buffer, NULL, &error));
  g_assert_no_error (error);
  usi_assert_bytes_equal (buffer, CHUNK, g_bytes_get_data (plaintext, NULL), CHUNK);
  g_assert_false (usi_chunked_decryptor_open_chunk (decryptor, USI_CHUNKED_MAX_CHUNKS, buffer, SEALED,
                                                    buffer, NULL, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_LIMIT);
  g_clear_error (&error);

  refused = usi_chunked_decryptor_new_with_header (test_key, sizeof test_key, NULL, 0,
                                                   usi_chunked_encryptor_get_header (source),
                                                   USI_CHUNKED_MAX_CHUNKS, NULL, NULL, &error);
  g_assert_null (refused);
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_LIMIT);
  collector_clear (&collector);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/crypto/chunked/wycheproof", test_wycheproof);
  g_test_add_func ("/crypto/chunked/stream-memory-bound", test_stream_memory_bound);
  g_test_add_func ("/crypto/chunked/empty", test_empty);
  g_test_add_func ("/crypto/chunked/boundaries", test_boundaries);
  g_test_add_func ("/crypto/chunked/reorder-drop-duplicate", test_reorder_drop_duplicate);
  g_test_add_func ("/crypto/chunked/tampering", test_tampering);
  g_test_add_func ("/crypto/chunked/resume-from-index", test_resume_from_index);
  g_test_add_func ("/crypto/chunked/misuse", test_misuse_and_callback_failure);
  g_test_add_func ("/crypto/chunked/random-source", test_random_source);
  g_test_add_func ("/crypto/chunked/long-context", test_long_context);
  g_test_add_func ("/crypto/chunked/lengths-and-limits", test_lengths_and_limits);

  return g_test_run ();
}
