/* SPDX-License-Identifier: GPL-3.0-or-later */

/* scrypt: RFC 7914 §12 known answers where the caps admit them, our own
 * known answers for parallelism > 1, and every cap and range check.
 *
 * RFC 7914 vector 2 has p = 16, exactly USI_SCRYPT_MAX_P.  Three extra
 * vectors with p = 2..4 were computed with an independent pure-Python RFC 7914
 * implementation (Salsa20/8, BlockMix and ROMix written from the RFC, PBKDF2
 * from hashlib) that reproduces all four RFC vectors.
 *
 * RFC 7914 vector 4 (N = 2^20, r = 8) needs 128 × N × r = 1 GiB, exactly
 * USI_SCRYPT_MAX_MEMORY: the caps admit it, so it runs (a few seconds and
 * 1 GiB of memory) and proves the largest admitted cost really works.
 * Skip it with `-s /crypto/scrypt/rfc7914/vector-4` under valgrind. */

#include "config.h"

#include "crypto/usi-crypto-error.h"
#include "crypto/usi-scrypt.h"
#include "usi-test-vectors.h"

typedef struct
{
  const char *password;
  const char *salt;
  guint64     n;
  guint32     r;
  guint32     p;
  const char *derived;
} ScryptVector;

static const ScryptVector rfc7914_vector_1 = {
  "", "", 16, 1, 1,
  "77d6576238657b203b19ca42c18a0497f16b4844e3074ae8dfdffa3fede21442"
  "fcd0069ded0948f8326a753a0fc81f17e8d3e0fb2e0d3628cf35e20c38d18906",
};
static const ScryptVector rfc7914_vector_2 = {
  "password", "NaCl", 1024, 8, 16,
  "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
  "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640",
};
static const ScryptVector rfc7914_vector_3 = {
  "pleaseletmein", "SodiumChloride", 16384, 8, 1,
  "7023bdcb3afd7348461c06cd81fd38ebfda8fbba904f8e3ea9b543f6545da1f2"
  "d5432955613f0fcf62d49705242a9af9e61e85dc0d651e40dfcf017b45575887",
};
static const ScryptVector rfc7914_vector_4 = {
  "pleaseletmein", "SodiumChloride", 1048576, 8, 1,
  "2101cb9b6a511aaeaddbbe09cf70f881ec568d574a2ffd4dabe5ee9820adaa47"
  "8e56fd8f4ba5d09ffa1c6d927c40f4c337304049e8a952fbcbf45c6fa77a41a4",
};

/* Ours, from the independent implementation described above. */
static const ScryptVector parallel_vectors[] = {
  {
    "pleaseletmein", "SodiumChloride", 16, 1, 4,
    "7b98b66d16152875ab8d5d5c5240db15839e74a2c67e329f53d341c79baee068"
    "2366bdc80c7627474db62f4a93af5050ae76528f4369f45f918810d8e5e8cd71",
  },
  { "", "usi salt", 32, 2, 3,
    "ffa624109550319c5fc58e578b5bc121f2d16538127adedcdae071e92c5a4c568fd174922ff45a1f" },
  { "usi password", "", 64, 1, 2,
    "70d844e111a4afa3c5d9534b5e05ee4d55c0d5246ebc87536fefba42287cabb7" },
};

static void
assert_vector (const ScryptVector *v)
{
  g_autoptr(GBytes) expected = usi_test_hex (v->derived);
  UsiScryptParams params = { v->n, v->r, v->p };
  gsize password_length = strlen (v->password), salt_length = strlen (v->salt);
  gsize length = g_bytes_get_size (expected);
  g_autofree guint8 *derived = g_malloc0 (length);
  g_autoptr(GError) error = NULL;

  /* An empty password or salt is passed as NULL to show both are allowed. */
  g_assert_true (usi_scrypt (password_length ? v->password : NULL, password_length,
                             salt_length ? (const guint8 *) v->salt : NULL, salt_length,
                             &params, derived, length, &error));
  g_assert_no_error (error);
  usi_assert_bytes_equal (derived, length, g_bytes_get_data (expected, NULL), length);
}

static void
assert_refused (guint64        n,
                guint32        r,
                guint32        p,
                UsiCryptoError code)
{
  UsiScryptParams params = { n, r, p };
  g_autoptr(GError) error = NULL;
  guint8 derived[32];

  memset (derived, 0xa5, sizeof derived);
  g_assert_false (usi_scrypt ("password", 8, (const guint8 *) "salt", 4, &params,
                              derived, sizeof derived, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, (gint) code);
}

static void
test_rfc7914 (void)
{
  assert_vector (&rfc7914_vector_1);
  assert_vector (&rfc7914_vector_2);
  assert_vector (&rfc7914_vector_3);
  g_assert_cmpuint (rfc7914_vector_2.p, ==, USI_SCRYPT_MAX_P);
  usi_test_vectors_report ("RFC 7914 section 12 vectors 1 to 3", 3);
}

static void
test_rfc7914_vector_4 (void)
{
  g_assert_cmpuint (128 * rfc7914_vector_4.n * rfc7914_vector_4.r, ==, USI_SCRYPT_MAX_MEMORY);
  assert_vector (&rfc7914_vector_4);
  usi_test_vectors_report ("RFC 7914 section 12 vector 4 (1 GiB, exactly the memory cap)", 1);
}

static void
test_parallel (void)
{
  for (guint i = 0; i < G_N_ELEMENTS (parallel_vectors); i++)
    assert_vector (&parallel_vectors[i]);
  usi_test_vectors_report ("scrypt with p = 2..4 (independently computed)", G_N_ELEMENTS (parallel_vectors));
}

static void
test_caps (void)
{
  /* Each cap on its own, just above the limit. */
  assert_refused (USI_SCRYPT_MAX_N << 1, 8, 1, USI_CRYPTO_ERROR_LIMIT);
  assert_refused (1024, USI_SCRYPT_MAX_R + 1, 1, USI_CRYPTO_ERROR_LIMIT);
  assert_refused (1024, 8, USI_SCRYPT_MAX_P + 1, USI_CRYPTO_ERROR_LIMIT);
  /* N and r each within their cap, together over the memory cap. */
  assert_refused (USI_SCRYPT_MAX_N, 9, 1, USI_CRYPTO_ERROR_LIMIT);
  assert_refused (USI_SCRYPT_MAX_N, USI_SCRYPT_MAX_R, 1, USI_CRYPTO_ERROR_LIMIT);
  /* Within the memory cap, over the work cap: 1 GiB twice over. */
  assert_refused (USI_SCRYPT_MAX_N, 8, 2, USI_CRYPTO_ERROR_LIMIT);
  assert_refused (1 << 16, USI_SCRYPT_MAX_R, USI_SCRYPT_MAX_P, USI_CRYPTO_ERROR_LIMIT);
  /* Values that would overflow a careless 128 × N × r × p. */
  assert_refused (G_GUINT64_CONSTANT (1) << 63, G_MAXUINT32, G_MAXUINT32, USI_CRYPTO_ERROR_LIMIT);
  assert_refused (G_GUINT64_CONSTANT (1) << 57, 1 << 7, 1, USI_CRYPTO_ERROR_LIMIT);
  assert_refused (2, G_MAXUINT32, 1, USI_CRYPTO_ERROR_LIMIT);
  assert_refused (2, 1, G_MAXUINT32, USI_CRYPTO_ERROR_LIMIT);
}

static void
test_invalid_arguments (void)
{
  /* N must be a power of two above 1. */
  assert_refused (0, 8, 1, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  assert_refused (1, 8, 1, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  assert_refused (3, 8, 1, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  assert_refused (1000, 8, 1, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  assert_refused (USI_SCRYPT_MAX_N + 1, 8, 1, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  assert_refused (G_MAXUINT64, 8, 1, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  /* r and p at least 1. */
  assert_refused (1024, 0, 1, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  assert_refused (1024, 8, 0, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  /* RFC 7914 §2: N < 2^(16 r), so with r = 1 N = 2^16 is out of range. */
  assert_refused (1 << 16, 1, 1, USI_CRYPTO_ERROR_INVALID_ARGUMENT);

  /* No output asked for. */
  {
    UsiScryptParams params = { 16, 1, 1 };
    g_autoptr(GError) error = NULL;

    g_assert_false (usi_scrypt ("password", 8, NULL, 0, &params, NULL, 0, &error));
    g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  }
}

/* The edge of the RFC's range condition, and the edges of the caps
 * (cheaply: N = 2^15 with r = 1 is 4 MiB). */
static void
test_edges_admitted (void)
{
  UsiScryptParams params = { 1 << 15, 1, USI_SCRYPT_MAX_P };
  g_autoptr(GError) error = NULL;
  guint8 derived[16];

  g_assert_true (usi_scrypt ("x", 1, (const guint8 *) "y", 1, &params, derived, sizeof derived, &error));
  g_assert_no_error (error);

  params = (UsiScryptParams) { 2, USI_SCRYPT_MAX_R, 1 };
  g_assert_true (usi_scrypt ("x", 1, (const guint8 *) "y", 1, &params, derived, sizeof derived, &error));
  g_assert_no_error (error);
}

static void
test_default_params (void)
{
  g_autoptr(GError) error = NULL;
  guint8 first[32], second[32], other_password[32], other_salt[32];

  g_assert_cmpuint (usi_scrypt_default_params.n, ==, 1 << 16);
  g_assert_cmpuint (usi_scrypt_default_params.r, ==, 8);
  g_assert_cmpuint (usi_scrypt_default_params.p, ==, 1);
  /* 64 MiB, within the caps. */
  g_assert_cmpuint (128 * usi_scrypt_default_params.n * usi_scrypt_default_params.r, ==, 64 << 20);

  g_assert_true (usi_scrypt ("correct horse", 13, (const guint8 *) "salt", 4,
                             &usi_scrypt_default_params, first, sizeof first, &error));
  g_assert_no_error (error);
  g_assert_true (usi_scrypt ("correct horse", 13, (const guint8 *) "salt", 4,
                             &usi_scrypt_default_params, second, sizeof second, &error));
  g_assert_no_error (error);
  usi_assert_bytes_equal (first, sizeof first, second, sizeof second);

  g_assert_true (usi_scrypt ("correct horsf", 13, (const guint8 *) "salt", 4,
                             &usi_scrypt_default_params, other_password, sizeof other_password, &error));
  g_assert_no_error (error);
  g_assert_true (memcmp (first, other_password, sizeof first) != 0);
  g_assert_true (usi_scrypt ("correct horse", 13, (const guint8 *) "salu", 4,
                             &usi_scrypt_default_params, other_salt, sizeof other_salt, &error));
  g_assert_no_error (error);
  g_assert_true (memcmp (first, other_salt, sizeof first) != 0);
}

static void
test_empty_password (void)
{
  UsiScryptParams params = { 16, 1, 1 };
  g_autoptr(GError) error = NULL;
  guint8 with_null[64], with_empty[64];

  g_assert_true (usi_scrypt (NULL, 0, (const guint8 *) "salt", 4, &params, with_null, sizeof with_null, &error));
  g_assert_no_error (error);
  g_assert_true (usi_scrypt ("", 0, (const guint8 *) "salt", 4, &params, with_empty, sizeof with_empty, &error));
  g_assert_no_error (error);
  usi_assert_bytes_equal (with_null, sizeof with_null, with_empty, sizeof with_empty);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/crypto/scrypt/rfc7914", test_rfc7914);
  g_test_add_func ("/crypto/scrypt/rfc7914/vector-4", test_rfc7914_vector_4);
  g_test_add_func ("/crypto/scrypt/parallel", test_parallel);
  g_test_add_func ("/crypto/scrypt/caps", test_caps);
  g_test_add_func ("/crypto/scrypt/invalid-arguments", test_invalid_arguments);
  g_test_add_func ("/crypto/scrypt/edges-admitted", test_edges_admitted);
  g_test_add_func ("/crypto/scrypt/default-params", test_default_params);
  g_test_add_func ("/crypto/scrypt/empty-password", test_empty_password);

  return g_test_run ();
}
