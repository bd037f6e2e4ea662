/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Where randomness comes from.  Every function that needs randomness takes
 * one, so known-answer tests can inject a deterministic source.  The product
 * only ever has the system source: the deterministic ones exist only when
 * USI_ENABLE_TEST_RANDOM is defined, which only test binaries are built with.
 */
typedef struct _UsiRandom UsiRandom;

UsiRandom *usi_random_get_system (void);

gboolean   usi_random_fill       (UsiRandom  *random,
                                  guint8     *buffer,
                                  gsize       length,
                                  GError    **error);

#ifdef USI_ENABLE_TEST_RANDOM
/* An endless stream expanded from @seed (SHA-256 in counter mode). */
UsiRandom *usi_random_new_deterministic (const guint8 *seed,
                                         gsize         seed_length);
/* Exactly these bytes, in order; asking for more is a USI_CRYPTO_ERROR_RANDOM. */
UsiRandom *usi_random_new_fixed         (const guint8 *bytes,
                                         gsize         length);
void       usi_random_free              (UsiRandom    *random);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiRandom, usi_random_free)
#endif

G_END_DECLS
