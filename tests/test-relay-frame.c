/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The relay control frames of docs/protocol.md §11.2: every type round-trips,
 * every body is exactly its size or within its maximum, and the frames a
 * Post or Deliver carries are whole end-to-end frames, never control ones. */

#include "config.h"

#include <string.h>

#include "protocol/usi-frame.h"
#include "protocol/usi-protocol-error.h"
#include "protocol/usi-relay-frame.h"
#include "protocol/usi-wire.h"

#define MIB (1024 * 1024)

static const guint8 room_id[USI_RELAY_ID_LENGTH] = {
  0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};
static const guint8 invite_id[USI_RELAY_ID_LENGTH] = {
  0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
};

static void
fill (guint8 *bytes,
      gsize   length,
      guint8  start)
{
  for (gsize i = 0; i < length; i++)
    bytes[i] = (guint8) (start + i);
}

/* A whole end-to-end frame of @type with @body_length bytes of body. */
static GBytes *
make_inner (guint8 type,
            gsize  body_length)
{
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *body = g_malloc (body_length + 1);
  GBytes *frame;

  memset (body, 0xab, body_length);
  frame = usi_frame_encode (type, body, body_length, &error);
  g_assert_no_error (error);
  return frame;
}

/* Splits a whole control frame into its type and body. */
static GBytes *
split (GBytes *whole,
       guint8 *type)
{
  g_autoptr(GError) error = NULL;
  const guint8 *body;
  gsize body_length;

  g_assert_nonnull (whole);
  g_assert_true (usi_frame_decode (g_bytes_get_data (whole, NULL), g_bytes_get_size (whole),
                                   type, &body, &body_length, &error));
  g_assert_no_error (error);
  return g_bytes_new_from_bytes (whole, USI_FRAME_HEADER_LENGTH, body_length);
}

/* Decodes @whole, checks it encodes back to the same bytes, and leaves the
 * decoded frame in @frame. */
static void
decode_whole (GBytes        *whole,
              UsiRelayFrame *frame)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GBytes) again = NULL;
  guint8 type;

  body = split (whole, &type);
  g_assert_true (usi_relay_frame_decode (type, body, frame, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (frame->type, ==, type);

  again = usi_relay_frame_encode (frame, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (whole, again));
}

static void
assert_body_refused (guint8            type,
                     const guint8     *data,
                     gsize             length,
                     UsiProtocolError  code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = g_bytes_new (data, length);
  g_auto(UsiRelayFrame) frame = { 0 };

  g_assert_false (usi_relay_frame_decode (type, body, &frame, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, (int) code);
  g_assert_null (frame.frame);
  g_assert_null (frame.message);
}

static void
test_round_trip (void)
{
  guint8 key[USI_RELAY_KEY_LENGTH];
  guint8 signature[USI_RELAY_SIGNATURE_LENGTH];
  guint8 recipient[USI_RELAY_KEY_LENGTH];
  g_autoptr(GBytes) commit = g_bytes_new_static ("commit body", 11);
  g_autoptr(GBytes) app = make_inner (USI_FRAME_APP_MESSAGE, 100);
  g_autoptr(GBytes) welcome = make_inner (USI_FRAME_WELCOME, 3000);

  fill (key, sizeof key, 1);
  fill (signature, sizeof signature, 100);
  fill (recipient, sizeof recipient, 200);

  {
    g_autoptr(GBytes) whole = usi_relay_frame_new_hello (key, signature);
    g_auto(UsiRelayFrame) frame = { 0 };

    g_assert_cmpuint (g_bytes_get_size (whole), ==, 6 + 97);
    decode_whole (whole, &frame);
    g_assert_cmpuint (frame.type, ==, USI_RELAY_FRAME_HELLO);
    g_assert_cmpuint (frame.version, ==, USI_RELAY_PROTOCOL_VERSION);
    g_assert_cmpmem (frame.identity_key, sizeof key, key, sizeof key);
    g_assert_cmpmem (frame.signature, sizeof signature, signature, sizeof signature);
  }
  {
    g_autoptr(GBytes) whole = usi_relay_frame_new_hello_ok (G_GUINT64_CONSTANT (1700000000123));
    g_auto(UsiRelayFrame) frame = { 0 };

    decode_whole (whole, &frame);
    g_assert_cmpuint (frame.time_ms, ==, G_GUINT64_CONSTANT (1700000000123));
  }
  {
    g_autoptr(GBytes) whole = usi_relay_frame_new_create_room (7, commit);
    g_auto(UsiRelayFrame) frame = { 0 };

    decode_whole (whole, &frame);
    g_assert_cmpuint (frame.request_id, ==, 7);
    g_assert_true (g_bytes_equal (frame.frame, commit));
  }
  {
    g_autoptr(GBytes) whole = usi_relay_frame_new_open_preshared_room (8, room_id);
    g_auto(UsiRelayFrame) frame = { 0 };

    decode_whole (whole, &frame);
    g_assert_cmpuint (frame.request_id, ==, 8);
    g_assert_cmpmem (frame.room_id, 16, room_id, 16);
  }
  {
    g_autoptr(GBytes) whole = usi_relay_frame_new_subscribe (9, room_id, 12345);
    g_auto(UsiRelayFrame) frame = { 0 };

    decode_whole (whole, &frame);
    g_assert_cmpuint (frame.request_id, ==, 9);
    g_assert_cmpmem (frame.room_id, 16, room_id, 16);
    g_assert_cmpuint (frame.seq, ==, 12345);
  }
  {
    g_autoptr(GBytes) whole = usi_relay_frame_new_register_invite (10, room_id, invite_id, 99999);
    g_auto(UsiRelayFrame) frame = { 0 };

    decode_whole (whole, &frame);
    g_assert_cmpuint (frame.request_id, ==, 10);
    g_assert_cmpmem (frame.room_id, 16, room_id, 16);
    g_assert_cmpmem (frame.invite_id, 16, invite_id, 16);
    g_assert_cmpuint (frame.expires_ms, ==, 99999);
  }
  {
    g_autoptr(GBytes) whole = usi_relay_frame_new_post (G_MAXUINT64, room_id, recipient, welcome);
    g_autoptr(GBytes) to_room = usi_relay_frame_new_post (12, room_id, NULL, app);
    g_auto(UsiRelayFrame) frame = { 0 };
    g_auto(UsiRelayFrame) room_frame = { 0 };
    static const guint8 zeros[USI_RELAY_KEY_LENGTH];

    decode_whole (whole, &frame);
    g_assert_cmpuint (frame.request_id, ==, G_MAXUINT64);
    g_assert_cmpmem (frame.room_id, 16, room_id, 16);
    g_assert_cmpmem (frame.recipient, 32, recipient, 32);
    g_assert_true (g_bytes_equal (frame.frame, welcome));

    decode_whole (to_room, &room_frame);
    g_assert_cmpmem (room_frame.recipient, 32, zeros, 32);
    g_assert_true (g_bytes_equal (room_frame.frame, app));
  }
  {
    g_autoptr(GBytes) whole = usi_relay_frame_new_ack (13, 42, USI_RELAY_ACK_RECIPIENT_OFFLINE);
    g_auto(UsiRelayFrame) frame = { 0 };

    decode_whole (whole, &frame);
    g_assert_cmpuint (frame.request_id, ==, 13);
    g_assert_cmpuint (frame.seq, ==, 42);
    g_assert_cmpuint (frame.flags, ==, USI_RELAY_ACK_RECIPIENT_OFFLINE);
  }
  {
    g_autoptr(GBytes) whole = usi_relay_frame_new_refused (14, USI_RELAY_REFUSED_NOT_MEMBER, "Zoë is not in the room");
    g_auto(UsiRelayFrame) frame = { 0 };

    decode_whole (whole, &frame);
    g_assert_cmpuint (frame.request_id, ==, 14);
    g_assert_cmpuint (frame.code, ==, USI_RELAY_REFUSED_NOT_MEMBER);
    g_assert_cmpstr (frame.message, ==, "Zoë is not in the room");
  }
  {
    g_autoptr(GBytes) whole = usi_relay_frame_new_deliver (room_id, 77, app);
    g_auto(UsiRelayFrame) frame = { 0 };

    decode_whole (whole, &frame);
    g_assert_cmpmem (frame.room_id, 16, room_id, 16);
    g_assert_cmpuint (frame.seq, ==, 77);
    g_assert_true (g_bytes_equal (frame.frame, app));
  }
  {
    g_autoptr(GBytes) ping = usi_relay_frame_new_ping (G_GUINT64_CONSTANT (0x0102030405060708));
    g_autoptr(GBytes) pong = usi_relay_frame_new_pong (G_GUINT64_CONSTANT (0x0102030405060708));
    g_auto(UsiRelayFrame) frame = { 0 };
    g_auto(UsiRelayFrame) reply = { 0 };

    decode_whole (ping, &frame);
    decode_whole (pong, &reply);
    g_assert_cmpuint (frame.type, ==, USI_RELAY_FRAME_PING);
    g_assert_cmpuint (reply.type, ==, USI_RELAY_FRAME_PONG);
    g_assert_cmpuint (frame.nonce, ==, G_GUINT64_CONSTANT (0x0102030405060708));
    g_assert_cmpuint (reply.nonce, ==, frame.nonce);
  }
}

/* The bytes on the wire, written out by hand from §4 and §11.2. */
static void
test_exact_bytes (void)
{
  g_autoptr(GBytes) ack = usi_relay_frame_new_ack (G_GUINT64_CONSTANT (0x0102030405060708), 0x2a, 1);
  g_autoptr(GBytes) refused = usi_relay_frame_new_refused (5, USI_RELAY_REFUSED_LIMIT, "slow");
  g_autoptr(GBytes) app = make_inner (USI_FRAME_APP_MESSAGE, 2);
  g_autoptr(GBytes) deliver = usi_relay_frame_new_deliver (room_id, 3, app);
  static const guint8 expected_ack[] = {
    0, 0, 0, 19, 1, 0x08,
    1, 2, 3, 4, 5, 6, 7, 8,
    0, 0, 0, 0, 0, 0, 0, 0x2a,
    1,
  };
  static const guint8 expected_refused[] = {
    0, 0, 0, 17, 1, 0x09,
    0, 0, 0, 0, 0, 0, 0, 5,
    0, 11,
    4, 's', 'l', 'o', 'w',
  };
  static const guint8 expected_deliver[] = {
    0, 0, 0, 35, 1, 0x0a,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
    0, 0, 0, 0, 0, 0, 0, 3,
    8, 0, 0, 0, 4, 1, 0x30, 0xab, 0xab,
  };

  g_assert_cmpmem (g_bytes_get_data (ack, NULL), g_bytes_get_size (ack), expected_ack, sizeof expected_ack);
  g_assert_cmpmem (g_bytes_get_data (refused, NULL), g_bytes_get_size (refused),
                   expected_refused, sizeof expected_refused);
  g_assert_cmpmem (g_bytes_get_data (deliver, NULL), g_bytes_get_size (deliver),
                   expected_deliver, sizeof expected_deliver);
}

/* Every fixed-size body one byte short or one byte long is malformed. */
static void
test_exact_sizes (void)
{
  static const struct { guint8 type; gsize size; } exact[] = {
    { USI_RELAY_FRAME_HELLO, 97 },
    { USI_RELAY_FRAME_HELLO_OK, 8 },
    { USI_RELAY_FRAME_OPEN_PRESHARED_ROOM, 24 },
    { USI_RELAY_FRAME_SUBSCRIBE, 32 },
    { USI_RELAY_FRAME_REGISTER_INVITE, 48 },
    { USI_RELAY_FRAME_ACK, 17 },
    { USI_RELAY_FRAME_PING, 8 },
    { USI_RELAY_FRAME_PONG, 8 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (exact); i++)
    {
      guint8 body[128] = { 0 };
      g_autoptr(GBytes) right = NULL;
      g_autoptr(GError) error = NULL;
      g_auto(UsiRelayFrame) frame = { 0 };

      body[0] = USI_RELAY_PROTOCOL_VERSION;   /* Hello's version; harmless elsewhere */
      g_assert_cmpuint (usi_relay_frame_get_max_body (exact[i].type), ==, exact[i].size);

      right = g_bytes_new (body, exact[i].size);
      g_assert_true (usi_relay_frame_decode (exact[i].type, right, &frame, &error));
      g_assert_no_error (error);

      assert_body_refused (exact[i].type, body, exact[i].size - 1, USI_PROTOCOL_ERROR_MALFORMED);
      assert_body_refused (exact[i].type, body, exact[i].size + 1, USI_PROTOCOL_ERROR_MALFORMED);
      assert_body_refused (exact[i].type, body, 0, USI_PROTOCOL_ERROR_MALFORMED);
    }
}

/* Variable bodies: truncated or with a byte after the end, malformed. */
static void
test_variable_bodies_truncated_or_trailing (void)
{
  g_autoptr(GBytes) commit = g_bytes_new_static ("commit", 6);
  g_autoptr(GBytes) app = make_inner (USI_FRAME_APP_MESSAGE, 10);
  GBytes *wholes[] = {
    usi_relay_frame_new_create_room (1, commit),
    usi_relay_frame_new_post (2, room_id, NULL, app),
    usi_relay_frame_new_refused (3, USI_RELAY_REFUSED_MALFORMED, "no"),
    usi_relay_frame_new_deliver (room_id, 4, app),
  };

  for (gsize i = 0; i < G_N_ELEMENTS (wholes); i++)
    {
      guint8 type;
      g_autoptr(GBytes) body = split (wholes[i], &type);
      gsize length;
      const guint8 *data = g_bytes_get_data (body, &length);
      g_autofree guint8 *longer = g_malloc0 (length + 1);

      memcpy (longer, data, length);
      assert_body_refused (type, data, length - 1, USI_PROTOCOL_ERROR_MALFORMED);
      assert_body_refused (type, longer, length + 1, USI_PROTOCOL_ERROR_MALFORMED);
      assert_body_refused (type, data, 0, USI_PROTOCOL_ERROR_MALFORMED);
      g_bytes_unref (wholes[i]);
    }
}

/* A length written in two bytes where one would do is refused (§3). */
static void
test_non_minimal_length (void)
{
  g_autoptr(GByteArray) create = g_byte_array_new ();
  g_autoptr(GByteArray) refused = g_byte_array_new ();
  g_autoptr(GByteArray) post = g_byte_array_new ();
  static const guint8 zeros[32];
  static const guint8 inner[] = { 0, 0, 0, 3, 1, 0x30, 0xab };

  usi_wire_write_u64 (create, 1);
  usi_wire_write_u16 (create, 0x4000 | 3);   /* 3 in the two-byte form */
  g_byte_array_append (create, (const guint8 *) "abc", 3);
  assert_body_refused (USI_RELAY_FRAME_CREATE_ROOM, create->data, create->len, USI_PROTOCOL_ERROR_MALFORMED);

  usi_wire_write_u64 (refused, 1);
  usi_wire_write_u16 (refused, 1);
  usi_wire_write_u16 (refused, 0x4000 | 2);
  g_byte_array_append (refused, (const guint8 *) "no", 2);
  assert_body_refused (USI_RELAY_FRAME_REFUSED, refused->data, refused->len, USI_PROTOCOL_ERROR_MALFORMED);

  usi_wire_write_u64 (post, 1);
  usi_wire_write_fixed (post, room_id, 16);
  usi_wire_write_fixed (post, zeros, 32);
  usi_wire_write_u16 (post, 0x4000 | sizeof inner);
  usi_wire_write_fixed (post, inner, sizeof inner);
  assert_body_refused (USI_RELAY_FRAME_POST, post->data, post->len, USI_PROTOCOL_ERROR_MALFORMED);
  /* The same Post with the one-byte length is accepted. */
  {
    g_autoptr(GByteArray) good = g_byte_array_new ();
    g_autoptr(GBytes) body = NULL;
    g_autoptr(GError) error = NULL;
    g_auto(UsiRelayFrame) frame = { 0 };

    usi_wire_write_u64 (good, 1);
    usi_wire_write_fixed (good, room_id, 16);
    usi_wire_write_fixed (good, zeros, 32);
    usi_wire_write_opaque (good, inner, sizeof inner);
    body = g_bytes_new (good->data, good->len);
    g_assert_true (usi_relay_frame_decode (USI_RELAY_FRAME_POST, body, &frame, &error));
    g_assert_no_error (error);
    g_assert_cmpmem (g_bytes_get_data (frame.frame, NULL), g_bytes_get_size (frame.frame), inner, sizeof inner);
  }
}

static GByteArray *
post_body_with (const guint8 *inner,
                gsize         inner_length)
{
  GByteArray *body = g_byte_array_new ();
  static const guint8 zeros[32];

  usi_wire_write_u64 (body, 1);
  usi_wire_write_fixed (body, room_id, 16);
  usi_wire_write_fixed (body, zeros, 32);
  usi_wire_write_opaque (body, inner, inner_length);
  return body;
}

static GByteArray *
deliver_body_with (const guint8 *inner,
                   gsize         inner_length)
{
  GByteArray *body = g_byte_array_new ();

  usi_wire_write_fixed (body, room_id, 16);
  usi_wire_write_u64 (body, 1);
  usi_wire_write_opaque (body, inner, inner_length);
  return body;
}

/* A Post or Deliver carries one whole end-to-end frame: not a control
 * frame, not a frame whose header lies about its length. */
static void
test_inner_frame_checked (void)
{
  static const struct { const char *bytes; gsize length; UsiProtocolError code; } inners[] = {
    /* a Ping inside a Post: control frames are never carried */
    { "\x00\x00\x00\x0a\x01\x0b" "12345678", 14, USI_PROTOCOL_ERROR_MALFORMED },
    /* an Ack, a Hello (with an empty body) */
    { "\x00\x00\x00\x02\x01\x08", 6, USI_PROTOCOL_ERROR_MALFORMED },
    { "\x00\x00\x00\x02\x01\x01", 6, USI_PROTOCOL_ERROR_MALFORMED },
    /* a type that is no frame at all */
    { "\x00\x00\x00\x03\x01\x00" "x", 7, USI_PROTOCOL_ERROR_MALFORMED },
    /* the header says 4 bytes of body, 3 follow; then 5 */
    { "\x00\x00\x00\x06\x01\x30" "abc", 9, USI_PROTOCOL_ERROR_MALFORMED },
    { "\x00\x00\x00\x06\x01\x30" "abcde", 11, USI_PROTOCOL_ERROR_MALFORMED },
    /* shorter than a header */
    { "\x00\x00\x00\x02\x01", 5, USI_PROTOCOL_ERROR_MALFORMED },
    { "", 0, USI_PROTOCOL_ERROR_MALFORMED },
    /* a header of another version, an unknown end-to-end type */
    { "\x00\x00\x00\x03\x02\x30" "x", 7, USI_PROTOCOL_ERROR_UNSUPPORTED_VERSION },
    { "\x00\x00\x00\x03\x01\x7f" "x", 7, USI_PROTOCOL_ERROR_UNKNOWN_TYPE },
    { "\x00\x00\x00\x03\x01\x25" "x", 7, USI_PROTOCOL_ERROR_UNKNOWN_TYPE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (inners); i++)
    {
      g_autoptr(GByteArray) post = post_body_with ((const guint8 *) inners[i].bytes, inners[i].length);
      g_autoptr(GByteArray) deliver = deliver_body_with ((const guint8 *) inners[i].bytes, inners[i].length);
      g_autoptr(GBytes) inner = g_bytes_new (inners[i].bytes, inners[i].length);
      g_autoptr(GError) error = NULL;
      UsiRelayFrame frame = { .type = USI_RELAY_FRAME_POST, .frame = inner };

      assert_body_refused (USI_RELAY_FRAME_POST, post->data, post->len, inners[i].code);
      assert_body_refused (USI_RELAY_FRAME_DELIVER, deliver->data, deliver->len, inners[i].code);

      /* The encoder refuses to wrap it too. */
      g_assert_null (usi_relay_frame_encode (&frame, &error));
      g_assert_error (error, USI_PROTOCOL_ERROR, (int) inners[i].code);
    }

  /* Every end-to-end type is carried. */
  {
    static const guint8 types[] = {
      USI_FRAME_JOIN_REQUEST, USI_FRAME_JOIN_REFUSAL, USI_FRAME_WELCOME, USI_FRAME_COMMIT,
      USI_FRAME_LEAF_UPDATE, USI_FRAME_APP_MESSAGE, USI_FRAME_FILE_CHUNK,
    };

    for (gsize i = 0; i < G_N_ELEMENTS (types); i++)
      {
        g_autoptr(GBytes) inner = make_inner (types[i], 5);
        g_autoptr(GBytes) whole = usi_relay_frame_new_post (1, room_id, NULL, inner);
        g_auto(UsiRelayFrame) frame = { 0 };

        decode_whole (whole, &frame);
        g_assert_true (g_bytes_equal (frame.frame, inner));
      }
  }
}

static void
test_unknown_types (void)
{
  static const guint8 body[8] = { 0 };

  for (guint type = 0x0d; type <= 0x1f; type++)
    {
      guint8 header[6] = { 0, 0, 0, 10, 1, (guint8) type };
      g_autoptr(GError) error = NULL;
      UsiFrameHeader parsed;
      UsiRelayFrame frame = { .type = type };

      g_assert_cmpuint (usi_relay_frame_get_max_body ((guint8) type), ==, 0);
      g_assert_cmpuint (usi_frame_get_max_body_length ((guint8) type), ==, 0);
      assert_body_refused ((guint8) type, body, sizeof body, USI_PROTOCOL_ERROR_UNKNOWN_TYPE);

      g_assert_false (usi_frame_parse_header (header, &parsed, &error));
      g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNKNOWN_TYPE);
      g_clear_error (&error);

      g_assert_null (usi_relay_frame_encode (&frame, &error));
      g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNKNOWN_TYPE);
    }

  /* 0x00, and the end-to-end types, are no control frames. */
  assert_body_refused (0x00, body, sizeof body, USI_PROTOCOL_ERROR_UNKNOWN_TYPE);
  assert_body_refused (USI_FRAME_APP_MESSAGE, body, sizeof body, USI_PROTOCOL_ERROR_UNKNOWN_TYPE);
  g_assert_cmpuint (usi_relay_frame_get_max_body (0x00), ==, 0);
}

static void
test_hello_version (void)
{
  guint8 body[97] = { 0 };

  body[0] = 2;
  assert_body_refused (USI_RELAY_FRAME_HELLO, body, sizeof body, USI_PROTOCOL_ERROR_UNSUPPORTED_VERSION);
  /* A later version may have another size: the version is read first. */
  assert_body_refused (USI_RELAY_FRAME_HELLO, body, 40, USI_PROTOCOL_ERROR_UNSUPPORTED_VERSION);
  body[0] = 0;
  assert_body_refused (USI_RELAY_FRAME_HELLO, body, sizeof body, USI_PROTOCOL_ERROR_UNSUPPORTED_VERSION);
}

static GByteArray *
refused_body (const guint8 *text,
              gsize         length)
{
  GByteArray *body = g_byte_array_new ();

  usi_wire_write_u64 (body, 1);
  usi_wire_write_u16 (body, USI_RELAY_REFUSED_LIMIT);
  usi_wire_write_opaque (body, text, length);
  return body;
}

static void
test_refused_text (void)
{
  g_autoptr(GByteArray) invalid = refused_body ((const guint8 *) "caf\xc3", 4);
  g_autoptr(GByteArray) overlong = refused_body ((const guint8 *) "\xc0\xaf", 2);
  g_autoptr(GByteArray) nul = refused_body ((const guint8 *) "a\0b", 3);
  g_autofree char *text256 = g_strnfill (256, 'x');
  g_autofree char *text257 = g_strnfill (257, 'x');
  g_autoptr(GByteArray) at_max = refused_body ((const guint8 *) text256, 256);
  g_autoptr(GByteArray) above_max = refused_body ((const guint8 *) text257, 257);

  assert_body_refused (USI_RELAY_FRAME_REFUSED, invalid->data, invalid->len, USI_PROTOCOL_ERROR_MALFORMED);
  assert_body_refused (USI_RELAY_FRAME_REFUSED, overlong->data, overlong->len, USI_PROTOCOL_ERROR_MALFORMED);
  assert_body_refused (USI_RELAY_FRAME_REFUSED, nul->data, nul->len, USI_PROTOCOL_ERROR_MALFORMED);
  /* 257 bytes of text make a body of 269 bytes, above the maximum. */
  assert_body_refused (USI_RELAY_FRAME_REFUSED, above_max->data, above_max->len, USI_PROTOCOL_ERROR_TOO_LARGE);

  {
    g_autoptr(GBytes) body = g_bytes_new (at_max->data, at_max->len);
    g_autoptr(GError) error = NULL;
    g_auto(UsiRelayFrame) frame = { 0 };

    g_assert_cmpuint (at_max->len, ==, 268);
    g_assert_true (usi_relay_frame_decode (USI_RELAY_FRAME_REFUSED, body, &frame, &error));
    g_assert_no_error (error);
    g_assert_cmpstr (frame.message, ==, text256);
  }

  /* The encoder refuses bad text; the builder repairs and cuts it. */
  {
    g_autoptr(GError) error = NULL;
    UsiRelayFrame frame = { .type = USI_RELAY_FRAME_REFUSED, .message = (char *) "caf\xc3" };

    g_assert_null (usi_relay_frame_encode (&frame, &error));
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
    g_clear_error (&error);
    frame.message = text257;
    g_assert_null (usi_relay_frame_encode (&frame, &error));
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE);
  }
  {
    /* 255 ASCII bytes then "é" (2 bytes) would end at 257: the é goes. */
    g_autofree char *a255 = g_strnfill (255, 'a');
    g_autofree char *long_text = g_strconcat (a255, "é and more", NULL);
    g_autoptr(GBytes) whole = usi_relay_frame_new_refused (1, USI_RELAY_REFUSED_LIMIT, long_text);
    g_autoptr(GBytes) repaired = usi_relay_frame_new_refused (1, USI_RELAY_REFUSED_LIMIT, "caf\xc3");
    g_auto(UsiRelayFrame) frame = { 0 };
    g_auto(UsiRelayFrame) repaired_frame = { 0 };

    decode_whole (whole, &frame);
    g_assert_cmpstr (frame.message, ==, a255);
    decode_whole (repaired, &repaired_frame);
    g_assert_true (g_utf8_validate (repaired_frame.message, -1, NULL));
    g_assert_true (g_str_has_prefix (repaired_frame.message, "caf"));
  }
}

static void
test_ack_flags (void)
{
  guint8 body[17] = { 0 };
  g_autoptr(GError) error = NULL;
  UsiRelayFrame frame = { .type = USI_RELAY_FRAME_ACK, .flags = 2 };

  body[16] = 0x02;
  assert_body_refused (USI_RELAY_FRAME_ACK, body, sizeof body, USI_PROTOCOL_ERROR_MALFORMED);
  body[16] = 0x81;
  assert_body_refused (USI_RELAY_FRAME_ACK, body, sizeof body, USI_PROTOCOL_ERROR_MALFORMED);

  g_assert_null (usi_relay_frame_encode (&frame, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
}

static void
assert_header_at_max (guint8 type,
                      gsize  max)
{
  guint32 length = (guint32) max + 2;
  guint8 header[6] = { length >> 24, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff, 1, type };
  g_autoptr(GError) error = NULL;
  UsiFrameHeader parsed;

  g_assert_true (usi_frame_parse_header (header, &parsed, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (parsed.body_length, ==, max);

  length++;
  header[0] = length >> 24;
  header[1] = (length >> 16) & 0xff;
  header[2] = (length >> 8) & 0xff;
  header[3] = length & 0xff;
  g_assert_false (usi_frame_parse_header (header, &parsed, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE);
}

/* The maxima of §11.2, applied by the frame reader on the header alone,
 * and large enough for the largest frame each type carries. */
static void
test_max_sizes (void)
{
  static const struct { guint8 type; gsize max; } maxima[] = {
    { USI_RELAY_FRAME_HELLO, 97 },
    { USI_RELAY_FRAME_HELLO_OK, 8 },
    { USI_RELAY_FRAME_CREATE_ROOM, MIB + 16 },
    { USI_RELAY_FRAME_OPEN_PRESHARED_ROOM, 24 },
    { USI_RELAY_FRAME_SUBSCRIBE, 32 },
    { USI_RELAY_FRAME_REGISTER_INVITE, 48 },
    { USI_RELAY_FRAME_POST, MIB + 66 },
    { USI_RELAY_FRAME_ACK, 17 },
    { USI_RELAY_FRAME_REFUSED, 268 },
    { USI_RELAY_FRAME_DELIVER, MIB + 34 },
    { USI_RELAY_FRAME_PING, 8 },
    { USI_RELAY_FRAME_PONG, 8 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (maxima); i++)
    {
      g_assert_cmpuint (usi_relay_frame_get_max_body (maxima[i].type), ==, maxima[i].max);
      g_assert_cmpuint (usi_frame_get_max_body_length (maxima[i].type), ==, maxima[i].max);
      assert_header_at_max (maxima[i].type, maxima[i].max);
    }

  /* End-to-end types keep their own maxima. */
  g_assert_cmpuint (usi_relay_frame_get_max_body (USI_FRAME_COMMIT), ==, USI_FRAME_MAX_COMMIT);
  g_assert_cmpuint (usi_relay_frame_get_max_body (USI_FRAME_FILE_CHUNK), ==, USI_FRAME_MAX_FILE_CHUNK);
  g_assert_cmpuint (usi_relay_frame_get_max_body (USI_FRAME_JOIN_REQUEST), ==, USI_FRAME_MAX_CONTROL);
  g_assert_cmpuint (usi_relay_frame_get_max_body (0x7f), ==, 0);

  /* A Commit of the largest size posted, delivered and used to create a
   * room fills each maximum exactly (the create body to 1 MiB + 12). */
  {
    g_autoptr(GBytes) inner = make_inner (USI_FRAME_COMMIT, USI_FRAME_MAX_COMMIT);
    g_autoptr(GBytes) commit_body = g_bytes_new_from_bytes (inner, USI_FRAME_HEADER_LENGTH, USI_FRAME_MAX_COMMIT);
    g_autoptr(GBytes) post = usi_relay_frame_new_post (1, room_id, NULL, inner);
    g_autoptr(GBytes) deliver = usi_relay_frame_new_deliver (room_id, 1, inner);
    g_autoptr(GBytes) create = usi_relay_frame_new_create_room (1, commit_body);
    g_auto(UsiRelayFrame) post_frame = { 0 };
    g_auto(UsiRelayFrame) deliver_frame = { 0 };
    g_auto(UsiRelayFrame) create_frame = { 0 };

    g_assert_cmpuint (g_bytes_get_size (post), ==, USI_FRAME_HEADER_LENGTH + MIB + 66);
    g_assert_cmpuint (g_bytes_get_size (deliver), ==, USI_FRAME_HEADER_LENGTH + MIB + 34);
    g_assert_cmpuint (g_bytes_get_size (create), ==, USI_FRAME_HEADER_LENGTH + MIB + 12);
    decode_whole (post, &post_frame);
    decode_whole (deliver, &deliver_frame);
    decode_whole (create, &create_frame);
    g_assert_true (g_bytes_equal (post_frame.frame, inner));
    g_assert_true (g_bytes_equal (create_frame.frame, commit_body));
  }

  /* A Commit body above 1 MiB in CreateRoom: the field is too large. */
  {
    g_autoptr(GByteArray) body = g_byte_array_new ();
    g_autofree guint8 *big = g_malloc0 (USI_FRAME_MAX_COMMIT + 1);
    g_autoptr(GBytes) big_bytes = g_bytes_new_take (g_steal_pointer (&big), USI_FRAME_MAX_COMMIT + 1);
    g_autoptr(GError) error = NULL;
    UsiRelayFrame frame = { .type = USI_RELAY_FRAME_CREATE_ROOM, .frame = big_bytes };

    usi_wire_write_u64 (body, 1);
    usi_wire_write_bytes (body, big_bytes);
    assert_body_refused (USI_RELAY_FRAME_CREATE_ROOM, body->data, body->len, USI_PROTOCOL_ERROR_TOO_LARGE);
    g_assert_null (usi_relay_frame_encode (&frame, &error));
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE);
  }
}

/* The decoded Post and CreateRoom point into the bytes they came from:
 * no copy of up to a mebibyte per frame. */
static void
test_frames_point_into_body (void)
{
  g_autoptr(GBytes) inner = make_inner (USI_FRAME_APP_MESSAGE, 10);   /* a one-byte length */
  g_autoptr(GBytes) whole = usi_relay_frame_new_post (1, room_id, NULL, inner);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = NULL;
  g_auto(UsiRelayFrame) frame = { 0 };
  const guint8 *body_data;
  gsize body_length;
  guint8 type;

  body = split (whole, &type);
  body_data = g_bytes_get_data (body, &body_length);
  g_assert_true (usi_relay_frame_decode (type, body, &frame, &error));
  g_assert_no_error (error);
  g_assert_true ((const guint8 *) g_bytes_get_data (frame.frame, NULL) == body_data + 8 + 16 + 32 + 1);
}

static void
test_hello_tbs (void)
{
  guint8 exporter[32];
  guint8 spki_hash[32];
  guint8 tbs[64];

  fill (exporter, sizeof exporter, 0);
  fill (spki_hash, sizeof spki_hash, 0x80);
  usi_relay_hello_tbs (exporter, spki_hash, tbs);
  g_assert_cmpmem (tbs, 32, exporter, 32);
  g_assert_cmpmem (tbs + 32, 32, spki_hash, 32);
  g_assert_cmpstr (USI_RELAY_EXPORTER_LABEL, ==, "EXPORTER-usi relay hello");
  g_assert_cmpstr (USI_RELAY_HELLO_LABEL, ==, "RelayHelloTBS");
}

static void
test_refused_code_names (void)
{
  static const char *names[] = {
    NULL, "MALFORMED", "NOT_MEMBER", "NOT_OWNER", "UNKNOWN_ROOM", "ROOM_EXISTS", "INVITE_UNKNOWN",
    "INVITE_USED", "INVITE_EXPIRED", "BAD_COMMIT", "NOT_ALLOWED", "LIMIT", "BAD_HELLO", "FULL",
    "UNAVAILABLE",
  };

  for (guint code = 1; code < G_N_ELEMENTS (names); code++)
    g_assert_cmpstr (usi_relay_refused_code_to_string ((guint16) code), ==, names[code]);
  g_assert_cmpstr (usi_relay_refused_code_to_string (0), ==, "UNKNOWN");
  g_assert_cmpstr (usi_relay_refused_code_to_string (15), ==, "UNKNOWN");
  g_assert_cmpstr (usi_relay_refused_code_to_string (G_MAXUINT16), ==, "UNKNOWN");
}

/* A relay may send a refusal code this client does not know yet: it still
 * decodes (the code is shown as UNKNOWN, the message as sent). */
static void
test_unknown_refused_code_decodes (void)
{
  g_autoptr(GBytes) whole = usi_relay_frame_new_refused (1, (UsiRelayRefusedCode) 999, "later");
  g_auto(UsiRelayFrame) frame = { 0 };

  decode_whole (whole, &frame);
  g_assert_cmpuint (frame.code, ==, 999);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/protocol/relay-frame/round-trip", test_round_trip);
  g_test_add_func ("/protocol/relay-frame/exact-bytes", test_exact_bytes);
  g_test_add_func ("/protocol/relay-frame/exact-sizes", test_exact_sizes);
  g_test_add_func ("/protocol/relay-frame/truncated-or-trailing", test_variable_bodies_truncated_or_trailing);
  g_test_add_func ("/protocol/relay-frame/non-minimal-length", test_non_minimal_length);
  g_test_add_func ("/protocol/relay-frame/inner-frame-checked", test_inner_frame_checked);
  g_test_add_func ("/protocol/relay-frame/unknown-types", test_unknown_types);
  g_test_add_func ("/protocol/relay-frame/hello-version", test_hello_version);
  g_test_add_func ("/protocol/relay-frame/refused-text", test_refused_text);
  g_test_add_func ("/protocol/relay-frame/ack-flags", test_ack_flags);
  g_test_add_func ("/protocol/relay-frame/max-sizes", test_max_sizes);
  g_test_add_func ("/protocol/relay-frame/frames-point-into-body", test_frames_point_into_body);
  g_test_add_func ("/protocol/relay-frame/hello-tbs", test_hello_tbs);
  g_test_add_func ("/protocol/relay-frame/refused-code-names", test_refused_code_names);
  g_test_add_func ("/protocol/relay-frame/unknown-refused-code-decodes", test_unknown_refused_code_decodes);

  return g_test_run ();
}
