/* SPDX-License-Identifier: GPL-3.0-or-later */

#include "config.h"

#include "protocol/usi-frame.h"
#include "protocol/usi-protocol-error.h"

static void
test_round_trip (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) frame = usi_frame_encode (USI_FRAME_APP_MESSAGE, (const guint8 *) "body", 4, &error);
  const guint8 *body;
  gsize length, body_length;
  const guint8 *data;
  guint8 type;

  g_assert_no_error (error);
  data = g_bytes_get_data (frame, &length);
  g_assert_cmpmem (data, 6, "\x00\x00\x00\x06\x01\x30", 6);
  g_assert_true (usi_frame_decode (data, length, &type, &body, &body_length, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (type, ==, USI_FRAME_APP_MESSAGE);
  g_assert_cmpmem (body, body_length, "body", 4);
}

static void
assert_header_refused (const char       *header,
                       UsiProtocolError  code)
{
  g_autoptr(GError) error = NULL;
  UsiFrameHeader parsed;

  g_assert_false (usi_frame_parse_header ((const guint8 *) header, &parsed, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, (int) code);
}

static void
test_headers_refused (void)
{
  /* A 4 GiB announcement is refused on the header alone. */
  assert_header_refused ("\xff\xff\xff\xff\x01\x30", USI_PROTOCOL_ERROR_TOO_LARGE);
  /* One byte over the file-chunk maximum. */
  {
    guint32 length = USI_FRAME_MAX_FILE_CHUNK + 3;
    char header[6] = { length >> 24, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff, 1, 0x31 };

    assert_header_refused (header, USI_PROTOCOL_ERROR_TOO_LARGE);
    length--;
    header[3] = length & 0xff;
    {
      UsiFrameHeader parsed;
      g_autoptr(GError) error = NULL;

      g_assert_true (usi_frame_parse_header ((const guint8 *) header, &parsed, &error));
      g_assert_cmpuint (parsed.body_length, ==, USI_FRAME_MAX_FILE_CHUNK);
    }
  }
  assert_header_refused ("\x00\x00\x00\x02\x02\x30", USI_PROTOCOL_ERROR_UNSUPPORTED_VERSION);
  assert_header_refused ("\x00\x00\x00\x02\x01\x7f", USI_PROTOCOL_ERROR_UNKNOWN_TYPE);
  assert_header_refused ("\x00\x00\x00\x02\x01\x00", USI_PROTOCOL_ERROR_UNKNOWN_TYPE);
  assert_header_refused ("\x00\x00\x00\x01\x01\x30", USI_PROTOCOL_ERROR_MALFORMED);
}

static void
test_length_mismatch_refused (void)
{
  g_autoptr(GError) error = NULL;
  const guint8 *body;
  gsize body_length;
  guint8 type;

  g_assert_false (usi_frame_decode ((const guint8 *) "\x00\x00\x00\x06\x01\x30" "bod", 9,
                                    &type, &body, &body_length, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
  g_clear_error (&error);
  g_assert_false (usi_frame_decode ((const guint8 *) "\x00\x00\x00\x06\x01\x30" "bodyX", 11,
                                    &type, &body, &body_length, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
}

static void
test_encode_refuses_oversize (void)
{
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *big = g_malloc0 (USI_FRAME_MAX_FILE_CHUNK + 1);

  g_assert_null (usi_frame_encode (USI_FRAME_FILE_CHUNK, big, USI_FRAME_MAX_FILE_CHUNK + 1, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/protocol/frame/round-trip", test_round_trip);
  g_test_add_func ("/protocol/frame/headers-refused", test_headers_refused);
  g_test_add_func ("/protocol/frame/length-mismatch-refused", test_length_mismatch_refused);
  g_test_add_func ("/protocol/frame/encode-refuses-oversize", test_encode_refuses_oversize);

  return g_test_run ();
}
