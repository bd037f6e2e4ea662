/* SPDX-License-Identifier: GPL-3.0-or-later */

/* RFC 9420 variable-length integers: the published deserialization vectors
 * (vector length headers), plus our own strictness tests: non-minimal forms,
 * the reserved prefix and truncated input are rejected with exact codes. */

#include "config.h"

#include "crypto/usi-crypto-error.h"
#include "crypto/usi-mls-varint.h"
#include "usi-test-vectors.h"

static void
test_vectors (void)
{
  g_autoptr(JsonNode) root = usi_test_vectors_load_json ("mls/deserialization.json");
  JsonArray *entries;
  guint count = 0;

  if (root == NULL)
    return;

  entries = json_node_get_array (root);
  for (guint i = 0; i < json_array_get_length (entries); i++)
    {
      JsonObject *entry = json_array_get_object_element (entries, i);
      g_autoptr(GBytes) header = usi_test_hex (json_object_get_string_member (entry, "vlbytes_header"));
      gint64 expected = json_object_get_int_member (entry, "length");
      gsize header_length;
      const guint8 *header_data = g_bytes_get_data (header, &header_length);
      g_autoptr(GByteArray) encoded = g_byte_array_new ();
      g_autoptr(GError) error = NULL;
      guint8 buffer[USI_MLS_VARINT_MAX_LENGTH];
      guint32 value = 0;
      gsize consumed = 0;

      g_assert_true (usi_mls_varint_read (header_data, header_length, &value, &consumed, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (value, ==, (guint64) expected);
      g_assert_cmpuint (consumed, ==, header_length);
      g_assert_cmpuint (usi_mls_varint_size (value), ==, header_length);

      g_assert_true (usi_mls_varint_append (encoded, value, &error));
      g_assert_no_error (error);
      usi_assert_bytes_equal (encoded->data, encoded->len, header_data, header_length);

      g_assert_cmpuint (usi_mls_varint_write (value, buffer, &error), ==, header_length);
      g_assert_no_error (error);
      usi_assert_bytes_equal (buffer, header_length, header_data, header_length);

      /* The header is also accepted with data after it, consuming only itself. */
      g_byte_array_append (encoded, (const guint8 *) "\xff\xff", 2);
      g_assert_true (usi_mls_varint_read (encoded->data, encoded->len, &value, &consumed, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (value, ==, (guint64) expected);
      g_assert_cmpuint (consumed, ==, header_length);

      /* Every proper prefix of the header is truncated input. */
      for (gsize cut = 0; cut < header_length; cut++)
        {
          g_autoptr(GError) cut_error = NULL;

          g_assert_false (usi_mls_varint_read (header_data, cut, &value, &consumed, &cut_error));
          g_assert_error (cut_error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_TRUNCATED);
        }

      count++;
    }

  usi_test_vectors_report ("deserialization (vlbytes_header)", count);
}

/* The RFC's own examples (§2.1.2). */
static void
test_rfc_examples (void)
{
  static const struct { const char *hex; guint32 value; } examples[] = {
    { "9d7f3e7d", 494878333 },
    { "7bbd", 15293 },
    { "25", 37 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (examples); i++)
    {
      g_autoptr(GBytes) bytes = usi_test_hex (examples[i].hex);
      g_autoptr(GByteArray) encoded = g_byte_array_new ();
      g_autoptr(GError) error = NULL;
      guint32 value;
      gsize consumed;

      g_assert_true (usi_mls_varint_read (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                                          &value, &consumed, &error));
      g_assert_no_error (error);
      g_assert_cmpuint (value, ==, examples[i].value);
      g_assert_true (usi_mls_varint_append (encoded, value, &error));
      usi_assert_bytes_equal (encoded->data, encoded->len,
                              g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
    }
}

static void
assert_rejected (const char     *hex,
                 UsiCryptoError  code)
{
  g_autoptr(GBytes) bytes = usi_test_hex (hex);
  g_autoptr(GError) error = NULL;
  guint32 value = 0x12345678;
  gsize consumed = 99;

  g_test_message ("rejecting %s", hex);
  g_assert_false (usi_mls_varint_read (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes),
                                       &value, &consumed, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, (gint) code);
  /* Outputs untouched on failure. */
  g_assert_cmpuint (value, ==, 0x12345678);
  g_assert_cmpuint (consumed, ==, 99);
}

static void
test_non_minimal (void)
{
  /* Values that fit a shorter form, at every boundary. */
  assert_rejected ("4000", USI_CRYPTO_ERROR_INVALID_ARGUMENT);     /* 0 in two bytes */
  assert_rejected ("4025", USI_CRYPTO_ERROR_INVALID_ARGUMENT);     /* 37 in two bytes */
  assert_rejected ("403f", USI_CRYPTO_ERROR_INVALID_ARGUMENT);     /* 63 in two bytes */
  assert_rejected ("80000000", USI_CRYPTO_ERROR_INVALID_ARGUMENT); /* 0 in four bytes */
  assert_rejected ("8000003f", USI_CRYPTO_ERROR_INVALID_ARGUMENT); /* 63 in four bytes */
  assert_rejected ("80000040", USI_CRYPTO_ERROR_INVALID_ARGUMENT); /* 64 in four bytes */
  assert_rejected ("80003fff", USI_CRYPTO_ERROR_INVALID_ARGUMENT); /* 16383 in four bytes */
}

static void
test_reserved_prefix (void)
{
  assert_rejected ("c0", USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  assert_rejected ("c000000000000040", USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  assert_rejected ("ffffffffffffffff", USI_CRYPTO_ERROR_INVALID_ARGUMENT);
}

static void
test_truncated (void)
{
  g_autoptr(GError) error = NULL;
  guint32 value;
  gsize consumed;

  g_assert_false (usi_mls_varint_read (NULL, 0, &value, &consumed, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_TRUNCATED);

  assert_rejected ("40", USI_CRYPTO_ERROR_TRUNCATED);
  assert_rejected ("80", USI_CRYPTO_ERROR_TRUNCATED);
  assert_rejected ("8000", USI_CRYPTO_ERROR_TRUNCATED);
  assert_rejected ("800040", USI_CRYPTO_ERROR_TRUNCATED);
}

static void
test_encode_limits (void)
{
  g_autoptr(GByteArray) array = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  guint8 buffer[USI_MLS_VARINT_MAX_LENGTH];

  g_assert_cmpuint (usi_mls_varint_size (0), ==, 1);
  g_assert_cmpuint (usi_mls_varint_size (63), ==, 1);
  g_assert_cmpuint (usi_mls_varint_size (64), ==, 2);
  g_assert_cmpuint (usi_mls_varint_size (16383), ==, 2);
  g_assert_cmpuint (usi_mls_varint_size (16384), ==, 4);
  g_assert_cmpuint (usi_mls_varint_size (USI_MLS_VARINT_MAX), ==, 4);
  g_assert_cmpuint (usi_mls_varint_size ((guint64) USI_MLS_VARINT_MAX + 1), ==, 0);

  g_assert_cmpuint (usi_mls_varint_write ((guint64) USI_MLS_VARINT_MAX + 1, buffer, &error), ==, 0);
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);

  g_assert_false (usi_mls_varint_append (array, G_MAXUINT64, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  g_assert_cmpuint (array->len, ==, 0);
}

static void
test_opaque (void)
{
  g_autoptr(GByteArray) array = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  guint8 body[300];
  const guint8 *value;
  gsize value_length, consumed;

  for (guint i = 0; i < sizeof body; i++)
    body[i] = (guint8) i;

  g_assert_true (usi_mls_varint_append_opaque (array, body, sizeof body, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (array->len, ==, 2 + sizeof body);
  g_assert_cmphex (array->data[0], ==, 0x41);
  g_assert_cmphex (array->data[1], ==, 0x2c);

  g_assert_true (usi_mls_varint_read_opaque (array->data, array->len, &value, &value_length, &consumed, &error));
  g_assert_no_error (error);
  g_assert_true (value == array->data + 2);
  usi_assert_bytes_equal (value, value_length, body, sizeof body);
  g_assert_cmpuint (consumed, ==, array->len);

  /* One byte short of the body. */
  g_assert_false (usi_mls_varint_read_opaque (array->data, array->len - 1, &value, &value_length, &consumed, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_TRUNCATED);
  g_clear_error (&error);

  /* The empty opaque. */
  g_byte_array_set_size (array, 0);
  g_assert_true (usi_mls_varint_append_opaque (array, NULL, 0, &error));
  g_assert_cmpuint (array->len, ==, 1);
  g_assert_true (usi_mls_varint_read_opaque (array->data, array->len, &value, &value_length, &consumed, &error));
  g_assert_cmpuint (value_length, ==, 0);
  g_assert_cmpuint (consumed, ==, 1);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/crypto/mls/varint/vectors", test_vectors);
  g_test_add_func ("/crypto/mls/varint/rfc-examples", test_rfc_examples);
  g_test_add_func ("/crypto/mls/varint/non-minimal", test_non_minimal);
  g_test_add_func ("/crypto/mls/varint/reserved-prefix", test_reserved_prefix);
  g_test_add_func ("/crypto/mls/varint/truncated", test_truncated);
  g_test_add_func ("/crypto/mls/varint/encode-limits", test_encode_limits);
  g_test_add_func ("/crypto/mls/varint/opaque", test_opaque);

  return g_test_run ();
}
