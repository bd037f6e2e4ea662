/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The random sources: the system one delivers fresh bytes, the test-only
 * deterministic and fixed ones are exactly reproducible. */

#include "config.h"

#include "crypto/usi-crypto-error.h"
#include "crypto/usi-random.h"
#include "usi-test-vectors.h"

static gboolean
is_all_zero (const guint8 *data,
             gsize         length)
{
  for (gsize i = 0; i < length; i++)
    if (data[i] != 0)
      return FALSE;
  return TRUE;
}

static void
test_system (void)
{
  UsiRandom *random = usi_random_get_system ();
  g_autoptr(GError) error = NULL;
  guint8 previous[32] = { 0 };

  g_assert_nonnull (random);
  g_assert_true (random == usi_random_get_system ());

  for (guint i = 0; i < 16; i++)
    {
      guint8 block[32] = { 0 };

      g_assert_true (usi_random_fill (random, block, sizeof block, &error));
      g_assert_no_error (error);
      g_assert_false (is_all_zero (block, sizeof block));
      g_assert_true (memcmp (block, previous, sizeof block) != 0);
      memcpy (previous, block, sizeof block);
    }
}

/* SHA-256 in counter mode over SHA-256(seed): the first 70 bytes for the
 * seed "usi random test seed", computed independently (Python hashlib). */
static const char deterministic_stream[] =
  "7e36faf3fadd592bff16cb43b10326363259138bfbda3903c6316d44d39e4a18"
  "819f5b484c0cfd3f5de5bc253feaf3580f7024b48d7350b0fb510e4a00582793"
  "c94a6953830c";

static void
test_deterministic (void)
{
  static const guint8 seed[] = "usi random test seed";
  static const guint8 other_seed[] = "usi random test seee";
  const gsize splits[] = { 1, 0, 30, 2, 31, 33, 3 };   /* sums to 100 */
  g_autoptr(UsiRandom) first = usi_random_new_deterministic (seed, sizeof seed - 1);
  g_autoptr(UsiRandom) second = usi_random_new_deterministic (seed, sizeof seed - 1);
  g_autoptr(UsiRandom) split = usi_random_new_deterministic (seed, sizeof seed - 1);
  g_autoptr(UsiRandom) other = usi_random_new_deterministic (other_seed, sizeof other_seed - 1);
  g_autoptr(GBytes) expected = usi_test_hex (deterministic_stream);
  g_autoptr(GError) error = NULL;
  guint8 a[100], b[100], c[100], d[100];
  gsize offset = 0;

  g_assert_true (usi_random_fill (first, a, sizeof a, &error));
  g_assert_no_error (error);
  g_assert_true (usi_random_fill (second, b, sizeof b, &error));
  g_assert_no_error (error);
  usi_assert_bytes_equal (a, sizeof a, b, sizeof b);
  usi_assert_bytes_equal (a, g_bytes_get_size (expected),
                          g_bytes_get_data (expected, NULL), g_bytes_get_size (expected));

  for (guint i = 0; i < G_N_ELEMENTS (splits); i++)
    {
      g_assert_true (usi_random_fill (split, c + offset, splits[i], &error));
      g_assert_no_error (error);
      offset += splits[i];
    }
  g_assert_cmpuint (offset, ==, sizeof c);
  usi_assert_bytes_equal (c, sizeof c, a, sizeof a);

  /* The stream goes on (no repetition of the first bytes)... */
  g_assert_true (usi_random_fill (first, b, sizeof b, &error));
  g_assert_no_error (error);
  g_assert_true (memcmp (a, b, sizeof a) != 0);

  /* ...and another seed gives another stream. */
  g_assert_true (usi_random_fill (other, d, sizeof d, &error));
  g_assert_no_error (error);
  g_assert_true (memcmp (a, d, sizeof a) != 0);
}

static void
test_fixed (void)
{
  static const guint8 bytes[10] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
  g_autoptr(UsiRandom) random = usi_random_new_fixed (bytes, sizeof bytes);
  g_autoptr(UsiRandom) short_source = usi_random_new_fixed (bytes, sizeof bytes);
  g_autoptr(GError) error = NULL;
  guint8 out[11];

  g_assert_true (usi_random_fill (random, out, 4, &error));
  g_assert_no_error (error);
  g_assert_true (usi_random_fill (random, out + 4, 6, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (out, 10, bytes, sizeof bytes);

  /* Exhausted: one more byte is an error, not a repeat or a zero. */
  g_assert_false (usi_random_fill (random, out, 1, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_RANDOM);
  g_clear_error (&error);

  /* Asking for more than is left fails as a whole. */
  g_assert_false (usi_random_fill (short_source, out, sizeof out, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_RANDOM);
}

static void
test_zero_length (void)
{
  static const guint8 seed[] = "usi random test seed";
  static const guint8 bytes[2] = { 0xaa, 0xbb };
  g_autoptr(UsiRandom) deterministic = usi_random_new_deterministic (seed, sizeof seed - 1);
  g_autoptr(UsiRandom) fixed = usi_random_new_fixed (bytes, sizeof bytes);
  g_autoptr(UsiRandom) empty = usi_random_new_fixed (NULL, 0);
  g_autoptr(GBytes) expected = usi_test_hex (deterministic_stream);
  g_autoptr(GError) error = NULL;
  guint8 out[2];

  g_assert_true (usi_random_fill (usi_random_get_system (), NULL, 0, &error));
  g_assert_no_error (error);

  /* Asking for nothing consumes nothing. */
  g_assert_true (usi_random_fill (deterministic, NULL, 0, &error));
  g_assert_no_error (error);
  g_assert_true (usi_random_fill (deterministic, out, 2, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (out, 2, g_bytes_get_data (expected, NULL), 2);

  g_assert_true (usi_random_fill (fixed, NULL, 0, &error));
  g_assert_no_error (error);
  g_assert_true (usi_random_fill (fixed, out, 2, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (out, 2, bytes, 2);
  /* Even an exhausted or empty source gives nothing without failing. */
  g_assert_true (usi_random_fill (fixed, NULL, 0, &error));
  g_assert_no_error (error);
  g_assert_true (usi_random_fill (empty, NULL, 0, &error));
  g_assert_no_error (error);
  g_assert_false (usi_random_fill (empty, out, 1, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_RANDOM);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/crypto/random/system", test_system);
  g_test_add_func ("/crypto/random/deterministic", test_deterministic);
  g_test_add_func ("/crypto/random/fixed", test_fixed);
  g_test_add_func ("/crypto/random/zero-length", test_zero_length);

  return g_test_run ();
}
