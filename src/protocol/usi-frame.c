/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Frames: the unit the relay forwards and stores.  Sizes are checked on the
 * header alone, before a byte of the body is buffered.  No I/O here. */

#define G_LOG_DOMAIN "usi-protocol"

#include "config.h"

#include <glib/gi18n-lib.h>

#include "usi-frame.h"
#include "usi-protocol-error.h"
#include "usi-relay-frame.h"
#include "usi-wire.h"

gsize
usi_frame_get_max_body_length (guint8 type)
{
  /* Control frames have a maximum per type (§11.2), 0 for the unknown
   * ones, so a reader refuses them before buffering a body. */
  if (type >= USI_FRAME_RELAY_FIRST && type <= USI_FRAME_RELAY_LAST)
    return usi_relay_frame_get_max_body (type);

  switch (type)
    {
    case USI_FRAME_JOIN_REQUEST:
    case USI_FRAME_JOIN_REFUSAL:
    case USI_FRAME_LEAF_UPDATE:
      return USI_FRAME_MAX_CONTROL;
    case USI_FRAME_WELCOME:
    case USI_FRAME_COMMIT:
      return USI_FRAME_MAX_COMMIT;
    case USI_FRAME_APP_MESSAGE:
      return USI_FRAME_MAX_APP_MESSAGE;
    case USI_FRAME_FILE_CHUNK:
      return USI_FRAME_MAX_FILE_CHUNK;
    default:
      return 0;
    }
}

gboolean
usi_frame_parse_header (const guint8    *header,
                        UsiFrameHeader  *parsed,
                        GError         **error)
{
  UsiWireReader reader;
  guint32 length;
  gsize max;

  g_return_val_if_fail (header != NULL, FALSE);
  g_return_val_if_fail (parsed != NULL, FALSE);

  usi_wire_reader_init (&reader, header, USI_FRAME_HEADER_LENGTH);
  if (!usi_wire_read_u32 (&reader, &length, error) ||
      !usi_wire_read_u8 (&reader, &parsed->version, error) ||
      !usi_wire_read_u8 (&reader, &parsed->type, error))
    return FALSE;

  if (parsed->version != USI_FRAME_VERSION)
    {
      g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSUPPORTED_VERSION,
                   _("Frame version %u is not supported."), parsed->version);
      return FALSE;
    }

  max = usi_frame_get_max_body_length (parsed->type);
  if (max == 0)
    {
      g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNKNOWN_TYPE,
                   _("Frame type %u is not known."), parsed->type);
      return FALSE;
    }

  /* The length counts the version and type bytes too. */
  if (length < 2)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                           _("A frame is shorter than its own header."));
      return FALSE;
    }
  if (length - 2 > max)
    {
      g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE,
                   _("A frame of %u bytes is larger than allowed for its type."), length);
      return FALSE;
    }

  parsed->body_length = length - 2;
  return TRUE;
}

GBytes *
usi_frame_encode (guint8         type,
                  const guint8  *body,
                  gsize          body_length,
                  GError       **error)
{
  g_autoptr(GByteArray) frame = NULL;
  gsize max = usi_frame_get_max_body_length (type);

  g_return_val_if_fail (body != NULL || body_length == 0, NULL);

  if (max == 0)
    {
      g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNKNOWN_TYPE,
                   _("Frame type %u is not known."), type);
      return NULL;
    }
  if (body_length > max)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE,
                           _("The frame would be larger than allowed for its type."));
      return NULL;
    }

  frame = g_byte_array_sized_new (USI_FRAME_HEADER_LENGTH + body_length);
  usi_wire_write_u32 (frame, (guint32) body_length + 2);
  usi_wire_write_u8 (frame, USI_FRAME_VERSION);
  usi_wire_write_u8 (frame, type);
  usi_wire_write_fixed (frame, body, body_length);

  return g_byte_array_free_to_bytes (g_steal_pointer (&frame));
}

gboolean
usi_frame_decode (const guint8   *data,
                  gsize           length,
                  guint8         *type,
                  const guint8  **body,
                  gsize          *body_length,
                  GError        **error)
{
  UsiFrameHeader header;

  g_return_val_if_fail (data != NULL || length == 0, FALSE);

  if (length < USI_FRAME_HEADER_LENGTH)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                           _("A frame is shorter than its own header."));
      return FALSE;
    }
  if (!usi_frame_parse_header (data, &header, error))
    return FALSE;
  if (length - USI_FRAME_HEADER_LENGTH != header.body_length)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                           _("A frame's length does not match its header."));
      return FALSE;
    }

  *type = header.type;
  *body = data + USI_FRAME_HEADER_LENGTH;
  *body_length = header.body_length;
  return TRUE;
}
