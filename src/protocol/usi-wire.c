/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The canonical wire encoding every structure of the protocol uses.  One
 * reader and one writer, so every decoder refuses the same malformations in
 * the same way.  No I/O here. */

#define G_LOG_DOMAIN "usi-protocol"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "crypto/usi-crypto-error.h"
#include "crypto/usi-mls-varint.h"

#include "usi-protocol-error.h"
#include "usi-wire.h"

static gboolean
malformed (GError     **error,
           const char  *what)
{
  /* Translators: %s names what was being read, e.g. “a length” */
  g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
               _("Malformed data: %s."), what);
  return FALSE;
}

static gboolean
take (UsiWireReader  *reader,
      gsize           length,
      const guint8  **bytes,
      GError        **error)
{
  if (length > reader->length - reader->offset)
    return malformed (error, _("it ends too early"));

  *bytes = reader->data + reader->offset;
  reader->offset += length;
  return TRUE;
}

void
usi_wire_reader_init (UsiWireReader *reader,
                      const guint8  *data,
                      gsize          length)
{
  g_return_if_fail (reader != NULL);
  g_return_if_fail (data != NULL || length == 0);

  reader->data = data;
  reader->length = length;
  reader->offset = 0;
}

gboolean
usi_wire_reader_at_end (UsiWireReader *reader)
{
  return reader->offset == reader->length;
}

gboolean
usi_wire_reader_finish (UsiWireReader  *reader,
                        GError        **error)
{
  if (!usi_wire_reader_at_end (reader))
    return malformed (error, _("unexpected bytes after the end"));

  return TRUE;
}

gboolean
usi_wire_read_u8 (UsiWireReader  *reader,
                  guint8         *value,
                  GError        **error)
{
  const guint8 *bytes;

  if (!take (reader, 1, &bytes, error))
    return FALSE;

  *value = bytes[0];
  return TRUE;
}

gboolean
usi_wire_read_u16 (UsiWireReader  *reader,
                   guint16        *value,
                   GError        **error)
{
  const guint8 *bytes;

  if (!take (reader, 2, &bytes, error))
    return FALSE;

  *value = (guint16) (bytes[0] << 8 | bytes[1]);
  return TRUE;
}

gboolean
usi_wire_read_u32 (UsiWireReader  *reader,
                   guint32        *value,
                   GError        **error)
{
  const guint8 *bytes;

  if (!take (reader, 4, &bytes, error))
    return FALSE;

  *value = (guint32) bytes[0] << 24 | (guint32) bytes[1] << 16 |
           (guint32) bytes[2] << 8 | bytes[3];
  return TRUE;
}

gboolean
usi_wire_read_u64 (UsiWireReader  *reader,
                   guint64        *value,
                   GError        **error)
{
  const guint8 *bytes;
  guint64 result = 0;

  if (!take (reader, 8, &bytes, error))
    return FALSE;

  for (guint i = 0; i < 8; i++)
    result = result << 8 | bytes[i];
  *value = result;
  return TRUE;
}

gboolean
usi_wire_read_bool (UsiWireReader  *reader,
                    gboolean       *value,
                    GError        **error)
{
  guint8 byte;

  if (!usi_wire_read_u8 (reader, &byte, error))
    return FALSE;
  if (byte > 1)
    return malformed (error, _("a flag is neither 0 nor 1"));

  *value = byte == 1;
  return TRUE;
}

gboolean
usi_wire_read_fixed (UsiWireReader  *reader,
                     gsize           length,
                     const guint8  **bytes,
                     GError        **error)
{
  return take (reader, length, bytes, error);
}

gboolean
usi_wire_read_fixed_into (UsiWireReader  *reader,
                          gsize           length,
                          guint8         *out,
                          GError        **error)
{
  const guint8 *bytes;

  if (!take (reader, length, &bytes, error))
    return FALSE;

  memcpy (out, bytes, length);
  return TRUE;
}

gboolean
usi_wire_read_opaque (UsiWireReader  *reader,
                      gsize           max_length,
                      const guint8  **bytes,
                      gsize          *length,
                      GError        **error)
{
  g_autoptr(GError) varint_error = NULL;
  guint32 declared = 0;
  gsize consumed = 0;

  if (!usi_mls_varint_read (reader->data + reader->offset, reader->length - reader->offset,
                            &declared, &consumed, &varint_error))
    return malformed (error, _("a length is not in its shortest form, or is cut off"));

  /* The maximum is checked before anything is read or allocated. */
  if (declared > max_length)
    {
      g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE,
                   _("A field of %u bytes is larger than allowed."), declared);
      return FALSE;
    }

  if (declared > reader->length - reader->offset - consumed)
    return malformed (error, _("it ends too early"));

  reader->offset += consumed;
  *length = (gsize) declared;
  return take (reader, *length, bytes, error);
}

gboolean
usi_wire_read_opaque_dup (UsiWireReader  *reader,
                          gsize           max_length,
                          GBytes        **bytes,
                          GError        **error)
{
  const guint8 *data;
  gsize length;

  if (!usi_wire_read_opaque (reader, max_length, &data, &length, error))
    return FALSE;

  *bytes = g_bytes_new (data, length);
  return TRUE;
}

gboolean
usi_wire_read_string_dup (UsiWireReader  *reader,
                          gsize           max_length,
                          char          **string,
                          GError        **error)
{
  const guint8 *data;
  gsize length;

  if (!usi_wire_read_opaque (reader, max_length, &data, &length, error))
    return FALSE;

  if (memchr (data, '\0', length) != NULL ||
      !g_utf8_validate ((const char *) data, (gssize) length, NULL))
    return malformed (error, _("a text is not valid UTF-8"));

  *string = g_strndup ((const char *) data, length);
  return TRUE;
}

gboolean
usi_wire_read_vector (UsiWireReader  *reader,
                      gsize           max_length,
                      UsiWireReader  *sub,
                      GError        **error)
{
  const guint8 *data;
  gsize length;

  if (!usi_wire_read_opaque (reader, max_length, &data, &length, error))
    return FALSE;

  usi_wire_reader_init (sub, data, length);
  return TRUE;
}

void
usi_wire_write_u8 (GByteArray *out,
                   guint8      value)
{
  g_byte_array_append (out, &value, 1);
}

void
usi_wire_write_u16 (GByteArray *out,
                    guint16     value)
{
  guint8 bytes[2] = { value >> 8, value & 0xff };

  g_byte_array_append (out, bytes, sizeof bytes);
}

void
usi_wire_write_u32 (GByteArray *out,
                    guint32     value)
{
  guint8 bytes[4] = { value >> 24, (value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff };

  g_byte_array_append (out, bytes, sizeof bytes);
}

void
usi_wire_write_u64 (GByteArray *out,
                    guint64     value)
{
  guint8 bytes[8];

  for (guint i = 0; i < 8; i++)
    bytes[i] = (value >> (56 - 8 * i)) & 0xff;
  g_byte_array_append (out, bytes, sizeof bytes);
}

void
usi_wire_write_bool (GByteArray *out,
                     gboolean    value)
{
  usi_wire_write_u8 (out, value ? 1 : 0);
}

void
usi_wire_write_fixed (GByteArray   *out,
                      const guint8 *bytes,
                      gsize         length)
{
  g_byte_array_append (out, bytes, length);
}

void
usi_wire_write_opaque (GByteArray   *out,
                       const guint8 *bytes,
                       gsize         length)
{
  /* Every caller bounds its fields far below 2^30: this is a programming
   * error, not bad input. */
  if (!usi_mls_varint_append_opaque (out, bytes, length, NULL))
    g_error ("usi_wire_write_opaque: %" G_GSIZE_FORMAT " bytes cannot be encoded", length);
}

void
usi_wire_write_bytes (GByteArray *out,
                      GBytes     *bytes)
{
  gsize length;
  const guint8 *data = g_bytes_get_data (bytes, &length);

  usi_wire_write_opaque (out, data, length);
}

void
usi_wire_write_string (GByteArray *out,
                       const char *string)
{
  usi_wire_write_opaque (out, (const guint8 *) string, strlen (string));
}
