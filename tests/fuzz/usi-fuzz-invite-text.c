/* SPDX-License-Identifier: GPL-3.0-or-later */

/* An invite's checksum and base32, written again from the spec for the fuzz
 * target and the seed writer (the product's are private to usi-invite.c).
 * Test code only. */

#include "config.h"

#include <string.h>

#include "protocol/usi-invite.h"

#include "usi-fuzz-invite-text.h"

static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

/* CRC-32/ISO-HDLC (zlib, PNG). */
static guint32
crc32 (const guint8 *data,
       gsize         length)
{
  guint32 crc = 0xffffffff;

  for (gsize i = 0; i < length; i++)
    {
      crc ^= data[i];
      for (guint bit = 0; bit < 8; bit++)
        crc = (crc >> 1) ^ (0xedb88320 & -(crc & 1));
    }
  return ~crc;
}

char *
usi_fuzz_invite_wrap_payload (const guint8 *payload,
                              gsize         length)
{
  GString *uri = g_string_new (USI_INVITE_URI_PREFIX);
  guint32 crc = crc32 (payload, length);
  guint8 trailer[4] = { crc >> 24, (crc >> 16) & 0xff, (crc >> 8) & 0xff, crc & 0xff };
  guint64 buffer = 0;
  guint bits = 0;

  for (gsize i = 0; i < length + sizeof trailer; i++)
    {
      buffer = (buffer << 8) | (i < length ? payload[i] : trailer[i - length]);
      bits += 8;
      while (bits >= 5)
        {
          bits -= 5;
          g_string_append_c (uri, alphabet[(buffer >> bits) & 0x1f]);
        }
    }
  if (bits > 0)
    g_string_append_c (uri, alphabet[(buffer << (5 - bits)) & 0x1f]);

  return g_string_free (uri, FALSE);
}

gboolean
usi_fuzz_invite_unwrap_payload (const char *uri,
                                GByteArray *payload)
{
  gsize prefix_length = strlen (USI_INVITE_URI_PREFIX);
  guint64 buffer = 0;
  guint bits = 0;
  guint32 crc;
  const guint8 *end;

  if (strncmp (uri, USI_INVITE_URI_PREFIX, prefix_length) != 0)
    return FALSE;

  g_byte_array_set_size (payload, 0);
  for (const char *p = uri + prefix_length; *p != '\0'; p++)
    {
      const char *found = strchr (alphabet, *p);

      if (found == NULL)
        return FALSE;
      buffer = (buffer << 5) | (guint64) (found - alphabet);
      bits += 5;
      if (bits >= 8)
        {
          guint8 byte;

          bits -= 8;
          byte = (buffer >> bits) & 0xff;
          g_byte_array_append (payload, &byte, 1);
        }
    }
  if (payload->len < 4)
    return FALSE;

  end = payload->data + payload->len - 4;
  crc = (guint32) end[0] << 24 | (guint32) end[1] << 16 | (guint32) end[2] << 8 | end[3];
  g_byte_array_set_size (payload, payload->len - 4);
  return crc32 (payload->data, payload->len) == crc;
}
