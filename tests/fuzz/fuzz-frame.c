/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Frames as the relay and every client read them: the header alone (what a
 * reader decides on before buffering a body), then a whole frame, which must
 * encode back to exactly the input. */

#include "config.h"

#include "protocol/usi-frame.h"
#include "protocol/usi-protocol-error.h"

#include "usi-fuzz.h"

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  usi_fuzz_make_warnings_fatal ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) encoded = NULL;
  UsiFrameHeader header = { 0 };
  gboolean header_accepted = FALSE;
  const guint8 *body = NULL;
  gsize body_length = 0;
  const guint8 *frame;
  gsize frame_length;
  guint8 type = 0;

  if (size >= USI_FRAME_HEADER_LENGTH)
    {
      header_accepted = usi_frame_parse_header (data, &header, &error);
      if (header_accepted)
        {
          usi_fuzz_check (error == NULL);
          usi_fuzz_check (header.version == USI_FRAME_VERSION);
          usi_fuzz_check (header.body_length <= usi_frame_get_max_body_length (header.type));
        }
      else
        {
          usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
        }
      g_clear_error (&error);
    }

  if (!usi_frame_decode (data, size, &type, &body, &body_length, &error))
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      return 0;
    }

  /* A whole frame is accepted only when its header is. */
  usi_fuzz_check (error == NULL);
  usi_fuzz_check (header_accepted);
  usi_fuzz_check (header.type == type);
  usi_fuzz_check (header.body_length == body_length);
  usi_fuzz_check (body == data + USI_FRAME_HEADER_LENGTH);
  usi_fuzz_check (USI_FRAME_HEADER_LENGTH + body_length == size);

  encoded = usi_frame_encode (type, body, body_length, &error);
  usi_fuzz_check (encoded != NULL && error == NULL);
  frame = g_bytes_get_data (encoded, &frame_length);
  usi_fuzz_check_same_bytes (data, size, frame, frame_length, "a frame");

  return 0;
}
