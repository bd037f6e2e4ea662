/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

#include "usi-digest.h"

G_BEGIN_DECLS

/* Comparisons of secret-dependent values (tags, MACs, proofs, confirmation
 * hashes) whose running time depends only on the length, never on where the
 * first difference is, so a remote party cannot learn a valid value byte by
 * byte.  Layers that may not call OpenSSL use these instead of memcmp(). */

/* TRUE when the @length bytes at @a and @b are equal (always TRUE for an
 * empty @length).  Lengths are public: compare them before calling. */
gboolean usi_crypto_equal (const guint8  *a,
                           const guint8  *b,
                           gsize          length);

/* Computes HMAC-@hash of @data under @key and compares it with @mac in
 * constant time.  USI_CRYPTO_ERROR_INVALID_ARGUMENT when @mac_length is not
 * usi_hash_get_length (@hash) (no truncated MACs), and
 * USI_CRYPTO_ERROR_AUTHENTICATION when the MAC does not match. */
gboolean usi_hmac_verify  (UsiHash        hash,
                           const guint8  *key,
                           gsize          key_length,
                           const guint8  *data,
                           gsize          length,
                           const guint8  *mac,
                           gsize          mac_length,
                           GError       **error);

G_END_DECLS
