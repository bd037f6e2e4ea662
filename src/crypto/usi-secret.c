/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Secret memory that is wiped when it is released. */

#define G_LOG_DOMAIN "usi-crypto"

#include "config.h"

#include <openssl/crypto.h>

#include "usi-secret.h"

typedef struct
{
  guint8 *data;
  gsize   length;
} SecretBlock;

void
usi_secret_wipe (gpointer data,
                 gsize    length)
{
  if (data != NULL && length > 0)
    OPENSSL_cleanse (data, length);
}

static void
secret_block_free (gpointer user_data)
{
  SecretBlock *block = user_data;

  usi_secret_wipe (block->data, block->length);
  g_free (block->data);
  g_free (block);
}

GBytes *
usi_secret_bytes_new_take (guint8 *data,
                           gsize   length)
{
  SecretBlock *block = g_new (SecretBlock, 1);

  block->data = data;
  block->length = length;

  return g_bytes_new_with_free_func (data, length, secret_block_free, block);
}

GBytes *
usi_secret_bytes_new (const guint8 *data,
                      gsize         length)
{
  return usi_secret_bytes_new_take (g_memdup2 (data, length), length);
}
