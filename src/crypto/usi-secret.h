/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Wipes a secret so the compiler cannot skip it (OPENSSL_cleanse). */
void    usi_secret_wipe           (gpointer  data,
                                   gsize     length);

/* A GBytes whose memory is wiped when the last reference goes.  Takes
 * ownership of @data, which must come from g_malloc. */
GBytes *usi_secret_bytes_new_take (guint8   *data,
                                   gsize     length);
/* Copies @data into a new wiping GBytes. */
GBytes *usi_secret_bytes_new      (const guint8 *data,
                                   gsize         length);

G_END_DECLS
