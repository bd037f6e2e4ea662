/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The relay control frames (docs/protocol.md §11.2), as a relay reads what
 * clients send and a client reads what its relay sends.  The first input
 * byte is the frame type, the rest its body.  Whatever decodes must respect
 * the type's maximum, carry only whole end-to-end frames, and encode back
 * to exactly the input. */

#include "config.h"

#include "protocol/usi-frame.h"
#include "protocol/usi-protocol-error.h"
#include "protocol/usi-relay-frame.h"

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
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GBytes) encoded = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(UsiRelayFrame) frame = { 0 };
  const guint8 *whole;
  gsize whole_length;
  guint8 type;

  if (size < 1)
    return 0;

  type = data[0];
  body = g_bytes_new (data + 1, size - 1);

  if (!usi_relay_frame_decode (type, body, &frame, &error))
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      usi_fuzz_check (frame.frame == NULL && frame.message == NULL);
      return 0;
    }

  usi_fuzz_check (error == NULL);
  usi_fuzz_check (frame.type == type);
  usi_fuzz_check (type >= USI_FRAME_RELAY_FIRST && type <= USI_FRAME_RELAY_LAST);
  usi_fuzz_check (size - 1 <= usi_relay_frame_get_max_body (type));
  usi_fuzz_check (usi_frame_get_max_body_length (type) == usi_relay_frame_get_max_body (type));

  switch (type)
    {
    case USI_RELAY_FRAME_HELLO:
      usi_fuzz_check (frame.version == USI_RELAY_PROTOCOL_VERSION);
      break;

    case USI_RELAY_FRAME_CREATE_ROOM:
      usi_fuzz_check (frame.frame != NULL && g_bytes_get_size (frame.frame) <= USI_FRAME_MAX_COMMIT);
      break;

    case USI_RELAY_FRAME_POST:
    case USI_RELAY_FRAME_DELIVER:
      {
        /* The carried frame is one whole end-to-end frame. */
        const guint8 *inner_body;
        gsize inner_body_length;
        guint8 inner_type;

        usi_fuzz_check (frame.frame != NULL);
        usi_fuzz_check (usi_frame_decode (g_bytes_get_data (frame.frame, NULL), g_bytes_get_size (frame.frame),
                                          &inner_type, &inner_body, &inner_body_length, NULL));
        usi_fuzz_check (inner_type >= USI_FRAME_JOIN_REQUEST && inner_type <= USI_FRAME_FILE_CHUNK);
      }
      break;

    case USI_RELAY_FRAME_ACK:
      usi_fuzz_check ((frame.flags & ~USI_RELAY_ACK_RECIPIENT_OFFLINE) == 0);
      break;

    case USI_RELAY_FRAME_REFUSED:
      usi_fuzz_check (frame.message != NULL);
      usi_fuzz_check (strlen (frame.message) <= USI_RELAY_MAX_REFUSAL_TEXT);
      usi_fuzz_check (g_utf8_validate (frame.message, -1, NULL));
      usi_fuzz_check (usi_relay_refused_code_to_string (frame.code) != NULL);
      break;

    default:
      break;
    }

  encoded = usi_relay_frame_encode (&frame, &error);
  usi_fuzz_check (encoded != NULL && error == NULL);
  whole = g_bytes_get_data (encoded, &whole_length);
  usi_fuzz_check (whole_length >= USI_FRAME_HEADER_LENGTH && whole[5] == type);
  usi_fuzz_check_same_bytes (data + 1, size - 1, whole + USI_FRAME_HEADER_LENGTH,
                             whole_length - USI_FRAME_HEADER_LENGTH, "a relay frame");

  return 0;
}
