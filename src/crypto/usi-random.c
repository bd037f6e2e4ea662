/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Randomness.  The system source is OpenSSL's DRBG (seeded by the kernel),
 * and every call is checked: a failure is an error, never a silent zero key.
 * The deterministic sources below are compiled only into the test build of
 * this library (USI_ENABLE_TEST_RANDOM), which product executables never link.
 */

#define G_LOG_DOMAIN "usi-crypto"

#include "config.h"

#include <glib/gi18n-lib.h>
#include <openssl/rand.h>

#include "usi-crypto-private.h"
#include "usi-digest.h"
#include "usi-random.h"
#include "usi-secret.h"

typedef enum
{
  SOURCE_SYSTEM,
#ifdef USI_ENABLE_TEST_RANDOM
  SOURCE_DETERMINISTIC,
  SOURCE_FIXED,
#endif
} Source;

struct _UsiRandom
{
  Source  source;
#ifdef USI_ENABLE_TEST_RANDOM
  guint8  seed[32];
  guint64 counter;
  guint8  block[32];
  gsize   block_used;
  guint8 *fixed;
  gsize   fixed_length;
  gsize   fixed_used;
#endif
};

/* Stateless, so a single shared instance keeps crypto/ free of global state. */
static UsiRandom system_random = { SOURCE_SYSTEM };

UsiRandom *
usi_random_get_system (void)
{
  return &system_random;
}

#ifdef USI_ENABLE_TEST_RANDOM
static gboolean
fill_deterministic (UsiRandom  *random,
                    guint8     *buffer,
                    gsize       length,
                    GError    **error)
{
  while (length > 0)
    {
      gsize take;

      if (random->block_used == sizeof random->block)
        {
          guint8 input[sizeof random->seed + 8];

          memcpy (input, random->seed, sizeof random->seed);
          for (guint i = 0; i < 8; i++)
            input[sizeof random->seed + i] = (random->counter >> (56 - 8 * i)) & 0xff;
          random->counter++;
          if (!usi_hash (USI_HASH_SHA256, input, sizeof input, random->block, error))
            return FALSE;
          random->block_used = 0;
        }

      take = MIN (length, sizeof random->block - random->block_used);
      memcpy (buffer, random->block + random->block_used, take);
      random->block_used += take;
      buffer += take;
      length -= take;
    }

  return TRUE;
}

static gboolean
fill_fixed (UsiRandom  *random,
            guint8     *buffer,
            gsize       length,
            GError    **error)
{
  if (length > random->fixed_length - random->fixed_used)
    {
      g_set_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_RANDOM,
                   "fixed test randomness exhausted: %" G_GSIZE_FORMAT " bytes asked, %" G_GSIZE_FORMAT " left",
                   length, random->fixed_length - random->fixed_used);
      return FALSE;
    }

  memcpy (buffer, random->fixed + random->fixed_used, length);
  random->fixed_used += length;
  return TRUE;
}
#endif

gboolean
usi_random_fill (UsiRandom  *random,
                 guint8     *buffer,
                 gsize       length,
                 GError    **error)
{
  g_return_val_if_fail (random != NULL, FALSE);
  g_return_val_if_fail (buffer != NULL || length == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (length == 0)
    return TRUE;

  switch (random->source)
    {
    case SOURCE_SYSTEM:
      if (length > G_MAXINT)
        {
          g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                               _("Too many random bytes asked for at once."));
          return FALSE;
        }
      ERR_clear_error ();
      if (RAND_bytes (buffer, (int) length) != 1)
        {
          usi_secret_wipe (buffer, length);
          _usi_crypto_set_openssl_error (error, USI_CRYPTO_ERROR_RANDOM, _("Random number generation"));
          return FALSE;
        }
      return TRUE;

#ifdef USI_ENABLE_TEST_RANDOM
    case SOURCE_DETERMINISTIC:
      return fill_deterministic (random, buffer, length, error);

    case SOURCE_FIXED:
      return fill_fixed (random, buffer, length, error);
#endif

    default:
      g_assert_not_reached ();
    }
}

#ifdef USI_ENABLE_TEST_RANDOM
UsiRandom *
usi_random_new_deterministic (const guint8 *seed,
                              gsize         seed_length)
{
  UsiRandom *random = g_new0 (UsiRandom, 1);

  random->source = SOURCE_DETERMINISTIC;
  if (!usi_hash (USI_HASH_SHA256, seed, seed_length, random->seed, NULL))
    g_error ("SHA-256 unavailable");
  random->block_used = sizeof random->block;

  return random;
}

UsiRandom *
usi_random_new_fixed (const guint8 *bytes,
                      gsize         length)
{
  UsiRandom *random = g_new0 (UsiRandom, 1);

  random->source = SOURCE_FIXED;
  random->fixed = g_memdup2 (bytes, length);
  random->fixed_length = length;

  return random;
}

void
usi_random_free (UsiRandom *random)
{
  if (random == NULL || random == &system_random)
    return;

  if (random->fixed != NULL)
    {
      usi_secret_wipe (random->fixed, random->fixed_length);
      g_free (random->fixed);
    }
  usi_secret_wipe (random, sizeof *random);
  g_free (random);
}
#endif
