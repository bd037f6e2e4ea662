/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The canonical encoding: what round-trips, and every malformation each
 * decoder must refuse the same way. */

#include "config.h"

#include "protocol/usi-protocol-error.h"
#include "protocol/usi-wire.h"

static void
test_round_trip (void)
{
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  UsiWireReader reader, sub;
  guint8 u8;
  guint16 u16;
  guint32 u32;
  guint64 u64;
  gboolean flag;
  const guint8 *fixed, *opaque;
  gsize opaque_length;

  usi_wire_write_u8 (out, 0xab);
  usi_wire_write_u16 (out, 0xbeef);
  usi_wire_write_u32 (out, 0xdeadbeef);
  usi_wire_write_u64 (out, G_GUINT64_CONSTANT (0x0123456789abcdef));
  usi_wire_write_bool (out, TRUE);
  usi_wire_write_fixed (out, (const guint8 *) "fixed", 5);
  usi_wire_write_opaque (out, (const guint8 *) "opaque", 6);
  usi_wire_write_string (out, "Zoë");
  {
    g_autoptr(GByteArray) items = g_byte_array_new ();

    usi_wire_write_u16 (items, 1);
    usi_wire_write_u16 (items, 2);
    usi_wire_write_opaque (out, items->data, items->len);
  }

  /* Big-endian, and V<> with a one-byte varint. */
  g_assert_cmpuint (out->data[0], ==, 0xab);
  g_assert_cmpuint (out->data[1], ==, 0xbe);
  g_assert_cmpuint (out->data[3], ==, 0xde);
  g_assert_cmpuint (out->data[7], ==, 0x01);
  g_assert_cmpuint (out->data[21], ==, 6);

  usi_wire_reader_init (&reader, out->data, out->len);
  g_assert_true (usi_wire_read_u8 (&reader, &u8, &error));
  g_assert_true (usi_wire_read_u16 (&reader, &u16, &error));
  g_assert_true (usi_wire_read_u32 (&reader, &u32, &error));
  g_assert_true (usi_wire_read_u64 (&reader, &u64, &error));
  g_assert_true (usi_wire_read_bool (&reader, &flag, &error));
  g_assert_true (usi_wire_read_fixed (&reader, 5, &fixed, &error));
  g_assert_true (usi_wire_read_opaque (&reader, 6, &opaque, &opaque_length, &error));
  g_assert_true (usi_wire_read_string_dup (&reader, 16, &text, &error));
  g_assert_true (usi_wire_read_vector (&reader, 4, &sub, &error));
  g_assert_true (usi_wire_read_u16 (&sub, &u16, &error) && u16 == 1);
  g_assert_true (usi_wire_read_u16 (&sub, &u16, &error) && u16 == 2);
  g_assert_true (usi_wire_reader_finish (&sub, &error));
  g_assert_true (usi_wire_reader_finish (&reader, &error));
  g_assert_no_error (error);

  g_assert_cmpuint (u8, ==, 0xab);
  g_assert_cmpuint (u32, ==, 0xdeadbeef);
  g_assert_cmpuint (u64, ==, G_GUINT64_CONSTANT (0x0123456789abcdef));
  g_assert_true (flag);
  g_assert_cmpmem (fixed, 5, "fixed", 5);
  g_assert_cmpmem (opaque, opaque_length, "opaque", 6);
  g_assert_cmpstr (text, ==, "Zoë");
}

static void
assert_refused (const guint8     *data,
                gsize             length,
                gsize             max,
                UsiProtocolError  code)
{
  g_autoptr(GError) error = NULL;
  UsiWireReader reader;
  const guint8 *bytes = NULL;
  gsize bytes_length = 0;
  gboolean ok;

  usi_wire_reader_init (&reader, data, length);
  ok = usi_wire_read_opaque (&reader, max, &bytes, &bytes_length, &error) &&
       usi_wire_reader_finish (&reader, &error);
  g_assert_false (ok);
  g_assert_error (error, USI_PROTOCOL_ERROR, (int) code);
}

static void
test_malformations_refused (void)
{
  /* Non-minimal length: 5 encoded on two bytes. */
  assert_refused ((const guint8 *) "\x40\x05hello", 7, 100, USI_PROTOCOL_ERROR_MALFORMED);
  /* The reserved 0b11 varint prefix. */
  assert_refused ((const guint8 *) "\xc0\x00\x00\x00\x00\x00\x00\x01x", 9, 100, USI_PROTOCOL_ERROR_MALFORMED);
  /* Truncated body and truncated length. */
  assert_refused ((const guint8 *) "\x05hel", 4, 100, USI_PROTOCOL_ERROR_MALFORMED);
  assert_refused ((const guint8 *) "\x40", 1, 100, USI_PROTOCOL_ERROR_MALFORMED);
  /* Trailing bytes after a complete field. */
  assert_refused ((const guint8 *) "\x02hi!", 4, 100, USI_PROTOCOL_ERROR_MALFORMED);
  /* Over the field's maximum: refused on the length alone, even though the
   * announced gigabyte is not there. */
  assert_refused ((const guint8 *) "\xbf\xff\xff\xff", 4, 1024, USI_PROTOCOL_ERROR_TOO_LARGE);
  assert_refused ((const guint8 *) "\x05hello", 6, 4, USI_PROTOCOL_ERROR_TOO_LARGE);
}

static void
test_bad_flags_and_text_refused (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *text = NULL;
  UsiWireReader reader;
  gboolean flag;

  usi_wire_reader_init (&reader, (const guint8 *) "\x02", 1);
  g_assert_false (usi_wire_read_bool (&reader, &flag, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
  g_clear_error (&error);

  usi_wire_reader_init (&reader, (const guint8 *) "\x03" "a\xff" "b", 4);
  g_assert_false (usi_wire_read_string_dup (&reader, 10, &text, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
  g_assert_null (text);
  g_clear_error (&error);

  usi_wire_reader_init (&reader, (const guint8 *) "\x03" "a\0b", 4);
  g_assert_false (usi_wire_read_string_dup (&reader, 10, &text, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
  g_assert_null (text);
}

static void
test_truncation_at_every_point (void)
{
  g_autoptr(GByteArray) out = g_byte_array_new ();

  usi_wire_write_u32 (out, 7);
  usi_wire_write_u64 (out, 9);
  usi_wire_write_opaque (out, (const guint8 *) "0123456789", 10);

  for (gsize cut = 0; cut < out->len; cut++)
    {
      g_autoptr(GError) error = NULL;
      UsiWireReader reader;
      guint32 a;
      guint64 b;
      const guint8 *c;
      gsize c_length;

      usi_wire_reader_init (&reader, out->data, cut);
      g_assert_false (usi_wire_read_u32 (&reader, &a, &error) &&
                      usi_wire_read_u64 (&reader, &b, &error) &&
                      usi_wire_read_opaque (&reader, 100, &c, &c_length, &error));
      g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/protocol/wire/round-trip", test_round_trip);
  g_test_add_func ("/protocol/wire/malformations-refused", test_malformations_refused);
  g_test_add_func ("/protocol/wire/bad-flags-and-text-refused", test_bad_flags_and_text_refused);
  g_test_add_func ("/protocol/wire/truncation-at-every-point", test_truncation_at_every_point);

  return g_test_run ();
}
