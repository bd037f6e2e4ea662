/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* RFC 9420 §2.1.2 variable-length integers (vector length headers): 1, 2 or
 * 4 bytes for 6-, 14- or 30-bit values, always in the shortest form. */

#define USI_MLS_VARINT_MAX        0x3fffffffu
#define USI_MLS_VARINT_MAX_LENGTH 4

/* 1, 2 or 4; 0 when @value is above USI_MLS_VARINT_MAX. */
gsize    usi_mls_varint_size          (guint64        value);

/* Writes the minimal encoding of @value into @buffer (at least
 * USI_MLS_VARINT_MAX_LENGTH bytes) and returns how many bytes it used, or 0
 * with USI_CRYPTO_ERROR_INVALID_ARGUMENT when @value is too large. */
gsize    usi_mls_varint_write         (guint64        value,
                                       guint8        *buffer,
                                       GError       **error);
gboolean usi_mls_varint_append        (GByteArray    *array,
                                       guint64        value,
                                       GError       **error);
/* Appends opaque<V>: the varint length of @data, then @data. */
gboolean usi_mls_varint_append_opaque (GByteArray    *array,
                                       const guint8  *data,
                                       gsize          length,
                                       GError       **error);

/* Decodes the varint at the start of @data.  Non-minimal encodings and the
 * reserved 0b11 prefix fail with USI_CRYPTO_ERROR_INVALID_ARGUMENT; input that
 * ends inside the varint fails with USI_CRYPTO_ERROR_TRUNCATED (so a caller
 * reading from a stream can tell "wait for more" from "malformed"). */
gboolean usi_mls_varint_read          (const guint8  *data,
                                       gsize          length,
                                       guint32       *value,
                                       gsize         *consumed,
                                       GError       **error);
/* Decodes opaque<V> at the start of @data: @value points into @data.
 * USI_CRYPTO_ERROR_TRUNCATED when the body is shorter than its header says. */
gboolean usi_mls_varint_read_opaque   (const guint8  *data,
                                       gsize          length,
                                       const guint8 **value,
                                       gsize         *value_length,
                                       gsize         *consumed,
                                       GError       **error);

G_END_DECLS
