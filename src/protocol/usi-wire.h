/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Canonical encoding (docs/protocol.md §3): fixed-width big-endian integers,
 * V<…> = RFC 9420 varint length + bytes, optional = a 0/1 byte.  Readers
 * refuse truncation, non-minimal lengths, out-of-range flags and invalid
 * UTF-8, check every length against its maximum before anything is copied,
 * and usi_wire_reader_finish() refuses trailing bytes.  Nothing allocates
 * on behalf of the input except the explicit _dup functions. */

typedef struct
{
  const guint8 *data;
  gsize         length;
  gsize         offset;
} UsiWireReader;

void     usi_wire_reader_init      (UsiWireReader  *reader,
                                    const guint8   *data,
                                    gsize           length);
gboolean usi_wire_reader_at_end    (UsiWireReader  *reader);
/* Fails with USI_PROTOCOL_ERROR_MALFORMED when bytes are left. */
gboolean usi_wire_reader_finish    (UsiWireReader  *reader,
                                    GError        **error);

gboolean usi_wire_read_u8          (UsiWireReader  *reader,
                                    guint8         *value,
                                    GError        **error);
gboolean usi_wire_read_u16         (UsiWireReader  *reader,
                                    guint16        *value,
                                    GError        **error);
gboolean usi_wire_read_u32         (UsiWireReader  *reader,
                                    guint32        *value,
                                    GError        **error);
gboolean usi_wire_read_u64         (UsiWireReader  *reader,
                                    guint64        *value,
                                    GError        **error);
gboolean usi_wire_read_bool        (UsiWireReader  *reader,
                                    gboolean       *value,
                                    GError        **error);
/* @length bytes, pointed to in place. */
gboolean usi_wire_read_fixed       (UsiWireReader  *reader,
                                    gsize           length,
                                    const guint8  **bytes,
                                    GError        **error);
/* Copies @length bytes into @out. */
gboolean usi_wire_read_fixed_into  (UsiWireReader  *reader,
                                    gsize           length,
                                    guint8         *out,
                                    GError        **error);
/* V<…> of at most @max_length bytes, pointed to in place. */
gboolean usi_wire_read_opaque      (UsiWireReader  *reader,
                                    gsize           max_length,
                                    const guint8  **bytes,
                                    gsize          *length,
                                    GError        **error);
gboolean usi_wire_read_opaque_dup  (UsiWireReader  *reader,
                                    gsize           max_length,
                                    GBytes        **bytes,
                                    GError        **error);
/* V<UTF-8> of at most @max_length bytes, valid UTF-8 without NUL. */
gboolean usi_wire_read_string_dup  (UsiWireReader  *reader,
                                    gsize           max_length,
                                    char          **string,
                                    GError        **error);
/* V<…> of at most @max_length bytes, read as a nested reader (for vectors
 * of items: loop until usi_wire_reader_at_end (sub)). */
gboolean usi_wire_read_vector      (UsiWireReader  *reader,
                                    gsize           max_length,
                                    UsiWireReader  *sub,
                                    GError        **error);

void     usi_wire_write_u8         (GByteArray     *out,
                                    guint8          value);
void     usi_wire_write_u16        (GByteArray     *out,
                                    guint16         value);
void     usi_wire_write_u32        (GByteArray     *out,
                                    guint32         value);
void     usi_wire_write_u64        (GByteArray     *out,
                                    guint64         value);
void     usi_wire_write_bool       (GByteArray     *out,
                                    gboolean        value);
void     usi_wire_write_fixed      (GByteArray     *out,
                                    const guint8   *bytes,
                                    gsize           length);
/* V<…>; lengths are limited to 2^30 - 1 by the varint. */
void     usi_wire_write_opaque     (GByteArray     *out,
                                    const guint8   *bytes,
                                    gsize           length);
void     usi_wire_write_bytes      (GByteArray     *out,
                                    GBytes         *bytes);
void     usi_wire_write_string     (GByteArray     *out,
                                    const char     *string);

G_END_DECLS
