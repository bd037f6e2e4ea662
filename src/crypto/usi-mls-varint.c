/* SPDX-License-Identifier: GPL-3.0-or-later */

/* RFC 9420 variable-length integers, shared by the MLS functions here and the
 * protocol layer's parsers.  Decoding is strict (minimal form only) because
 * two encodings of one value would give two transcripts for one message.
 * No I/O here. */

#define G_LOG_DOMAIN "usi-crypto"

#include "config.h"

#include <glib/gi18n-lib.h>

#include "usi-crypto-error.h"
#include "usi-mls-varint.h"

gsize
usi_mls_varint_size (guint64 value)
{
  if (value <= 0x3f)
    return 1;
  if (value <= 0x3fff)
    return 2;
  if (value <= USI_MLS_VARINT_MAX)
    return 4;
  return 0;
}

gsize
usi_mls_varint_write (guint64   value,
                      guint8   *buffer,
                      GError  **error)
{
  gsize size = usi_mls_varint_size (value);

  g_return_val_if_fail (buffer != NULL, 0);

  switch (size)
    {
    case 1:
      buffer[0] = (guint8) value;
      break;
    case 2:
      buffer[0] = (guint8) (0x40 | (value >> 8));
      buffer[1] = (guint8) value;
      break;
    case 4:
      buffer[0] = (guint8) (0x80 | (value >> 24));
      buffer[1] = (guint8) (value >> 16);
      buffer[2] = (guint8) (value >> 8);
      buffer[3] = (guint8) value;
      break;
    default:
      {
        /* Formatted apart: gettext cannot see through G_GUINT64_FORMAT. */
        g_autofree char *number = g_strdup_printf ("%" G_GUINT64_FORMAT, value);

        /* Translators: %s is a number of bytes */
        g_set_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                     _("A length of %s is too large to encode"), number);
        return 0;
      }
    }

  return size;
}

gboolean
usi_mls_varint_append (GByteArray  *array,
                       guint64      value,
                       GError     **error)
{
  guint8 buffer[USI_MLS_VARINT_MAX_LENGTH];
  gsize size;

  g_return_val_if_fail (array != NULL, FALSE);

  size = usi_mls_varint_write (value, buffer, error);
  if (size == 0)
    return FALSE;

  g_byte_array_append (array, buffer, (guint) size);
  return TRUE;
}

gboolean
usi_mls_varint_append_opaque (GByteArray    *array,
                              const guint8  *data,
                              gsize          length,
                              GError       **error)
{
  g_return_val_if_fail (array != NULL, FALSE);
  g_return_val_if_fail (data != NULL || length == 0, FALSE);

  if (!usi_mls_varint_append (array, length, error))
    return FALSE;

  if (length > 0)
    g_byte_array_append (array, data, (guint) length);
  return TRUE;
}

static gboolean
set_truncated (GError **error)
{
  g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_TRUNCATED,
                       _("The data ends in the middle of a field"));
  return FALSE;
}

gboolean
usi_mls_varint_read (const guint8  *data,
                     gsize          length,
                     guint32       *value,
                     gsize         *consumed,
                     GError       **error)
{
  guint prefix;
  gsize size;
  guint32 decoded;

  g_return_val_if_fail (data != NULL || length == 0, FALSE);
  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (consumed != NULL, FALSE);

  if (length == 0)
    return set_truncated (error);

  prefix = data[0] >> 6;
  if (prefix == 3)
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                           _("A length field uses the reserved prefix"));
      return FALSE;
    }

  size = (gsize) 1 << prefix;
  if (length < size)
    return set_truncated (error);

  decoded = data[0] & 0x3f;
  for (gsize i = 1; i < size; i++)
    decoded = decoded << 8 | data[i];

  if (usi_mls_varint_size (decoded) != size)
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                           _("A length field is not in its shortest form"));
      return FALSE;
    }

  *value = decoded;
  *consumed = size;
  return TRUE;
}

gboolean
usi_mls_varint_read_opaque (const guint8  *data,
                            gsize          length,
                            const guint8 **value,
                            gsize         *value_length,
                            gsize         *consumed,
                            GError       **error)
{
  guint32 body_length;
  gsize header_length;

  g_return_val_if_fail (data != NULL || length == 0, FALSE);
  g_return_val_if_fail (value != NULL, FALSE);
  g_return_val_if_fail (value_length != NULL, FALSE);
  g_return_val_if_fail (consumed != NULL, FALSE);

  if (!usi_mls_varint_read (data, length, &body_length, &header_length, error))
    return FALSE;
  if (length - header_length < body_length)
    return set_truncated (error);

  *value = data + header_length;
  *value_length = body_length;
  *consumed = header_length + body_length;
  return TRUE;
}
