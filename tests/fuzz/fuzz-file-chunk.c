/* SPDX-License-Identifier: GPL-3.0-or-later */

/* A receiver taking FileChunk bodies from the network.  The target holds one
 * transfer's key and the offer's header for two files; the first input byte
 * picks the file, and the rest is a sequence of frames, each a u16 length
 * (big-endian) and a FileChunk body.  Each body must decode canonically; the
 * receiver takes or refuses each one; and whatever it took, once the
 * sender's FileEnd checks out, must be exactly the file that was sent. */

#include "config.h"

#include "protocol/usi-file-cipher.h"
#include "protocol/usi-protocol-error.h"

#include "usi-fuzz.h"
#include "usi-fuzz-fixture.h"

static UsiFuzzFileTransfer transfers[USI_FUZZ_N_FILE_TRANSFERS];

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  usi_fuzz_make_warnings_fatal ();
  for (guint i = 0; i < G_N_ELEMENTS (transfers); i++)
    usi_fuzz_file_transfer_init (&transfers[i], i);
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(UsiFileReceiver) receiver = NULL;
  g_autoptr(GByteArray) received = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  const UsiFuzzFileTransfer *transfer;
  UsiWireReader frames;

  if (size == 0)
    return 0;

  transfer = &transfers[data[0] % G_N_ELEMENTS (transfers)];
  receiver = usi_file_receiver_new (&transfer->key, transfer->size, transfer->header, &error);
  usi_fuzz_check (receiver != NULL && error == NULL);

  usi_wire_reader_init (&frames, data + 1, size - 1);
  while (!usi_wire_reader_at_end (&frames))
    {
      g_autofree guint8 *body = NULL;
      g_autoptr(GByteArray) encoded = g_byte_array_new ();
      g_autoptr(GError) chunk_error = NULL;
      const guint8 *frame_body;
      const guint8 *plaintext = NULL;
      gsize plaintext_length = 0;
      gboolean is_final = FALSE;
      guint64 expected_index;
      guint16 length;
      UsiFileChunk chunk;

      if (!usi_wire_read_u16 (&frames, &length, NULL) ||
          !usi_wire_read_fixed (&frames, length, &frame_body, NULL))
        break;

      /* An exact copy, so reading past the body is caught. */
      body = g_memdup2 (frame_body, length);
      if (!usi_file_chunk_decode (body, length, &chunk, &chunk_error))
        {
          usi_fuzz_check_refusal (chunk_error, USI_PROTOCOL_ERROR);
          continue;
        }
      usi_file_chunk_write (&chunk, encoded);
      usi_fuzz_check_same_bytes (body, length, encoded->data, encoded->len, "a file chunk");

      expected_index = usi_file_receiver_get_next_index (receiver);
      if (!usi_file_receiver_open_chunk (receiver, &chunk, &plaintext, &plaintext_length,
                                         &is_final, &chunk_error))
        {
          usi_fuzz_check_refusal (chunk_error, USI_PROTOCOL_ERROR);
          usi_fuzz_check (usi_file_receiver_get_next_index (receiver) == expected_index);
          continue;
        }

      usi_fuzz_check (chunk.index == expected_index);
      usi_fuzz_check (usi_file_receiver_get_next_index (receiver) == expected_index + 1);
      usi_fuzz_check (plaintext_length <= USI_CHUNKED_CHUNK_LENGTH);
      usi_fuzz_check (is_final == usi_file_receiver_is_complete (receiver));
      g_byte_array_append (received, plaintext, plaintext_length);
      usi_fuzz_check (received->len <= transfer->size);
    }

  if (usi_file_receiver_finish (receiver, &transfer->end, &error))
    {
      /* Without the key nobody can make chunks that pass: what was accepted
       * is what the sender sent. */
      usi_fuzz_check (usi_file_receiver_is_complete (receiver));
      usi_fuzz_check_same_bytes (transfer->plaintext, transfer->size,
                                 received->data, received->len, "a received file");
    }
  else
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
    }

  return 0;
}
