/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  guint64 n;       /* CPU/memory cost, a power of two > 1 */
  guint32 r;       /* block size */
  guint32 p;       /* parallelism */
} UsiScryptParams;

/* Parameters read from untrusted data are capped: above these the call fails
 * with USI_CRYPTO_ERROR_LIMIT instead of exhausting memory or time. */
#define USI_SCRYPT_MAX_N       (G_GUINT64_CONSTANT (1) << 20)
#define USI_SCRYPT_MAX_R       16
#define USI_SCRYPT_MAX_P       16
#define USI_SCRYPT_MAX_MEMORY  (G_GUINT64_CONSTANT (1) << 30)  /* 128 × N × r bytes */
/* N × r × p, which time grows with: 2^23 is RFC 7914's costliest vector
 * (N = 2^20, r = 8, p = 1), a few seconds on a desktop. */
#define USI_SCRYPT_MAX_WORK    (G_GUINT64_CONSTANT (1) << 23)

/* What Usi uses for new passwords: 64 MiB, a fraction of a second. */
extern const UsiScryptParams usi_scrypt_default_params;

gboolean usi_scrypt (const char            *password,
                     gsize                  password_length,
                     const guint8          *salt,
                     gsize                  salt_length,
                     const UsiScryptParams *params,
                     guint8                *out,
                     gsize                  out_length,
                     GError               **error);

G_END_DECLS
