/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The bodies of the relay control frames (docs/protocol.md §11.2): what a
 * client and its relay say to each other around the end-to-end frames.
 * Canonical both ways, every byte used, every length checked before it is
 * trusted; the frames carried inside Post and Deliver are checked as frames
 * (header, type, length) but never opened.  No I/O, no clock here. */

#define G_LOG_DOMAIN "usi-protocol"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "usi-protocol-error.h"
#include "usi-relay-frame.h"
#include "usi-wire.h"

/* The largest whole frame a Post or Deliver may carry: a header and the
 * largest end-to-end body (a Commit or a Welcome). */
#define MAX_INNER_FRAME      (USI_FRAME_HEADER_LENGTH + USI_FRAME_MAX_COMMIT)
/* A V<> length of 16,384 bytes or more takes four bytes. */
#define VARINT_MAX_LENGTH    4

#define BODY_HELLO           (1 + USI_RELAY_KEY_LENGTH + USI_RELAY_SIGNATURE_LENGTH)
#define BODY_U64             8
#define BODY_OPEN_PRESHARED  (8 + USI_RELAY_ID_LENGTH)
#define BODY_SUBSCRIBE       (8 + USI_RELAY_ID_LENGTH + 8)
#define BODY_REGISTER_INVITE (8 + USI_RELAY_ID_LENGTH + USI_RELAY_ID_LENGTH + 8)
#define BODY_ACK             (8 + 8 + 1)
/* §11.2 says 1 MiB + 16: the structure needs 1 MiB + 12. */
#define BODY_CREATE_ROOM_MAX (USI_FRAME_MAX_COMMIT + 16)
/* request_id, room_id, recipient, V<frame>: 1 MiB + 66. */
#define BODY_POST_MAX        (8 + USI_RELAY_ID_LENGTH + USI_RELAY_KEY_LENGTH + VARINT_MAX_LENGTH + MAX_INNER_FRAME)
/* request_id, code, V<message> (two length bytes for up to 256): 268. */
#define BODY_REFUSED_MAX     (8 + 2 + 2 + USI_RELAY_MAX_REFUSAL_TEXT)
/* room_id, seq, V<frame>: 1 MiB + 34. */
#define BODY_DELIVER_MAX     (USI_RELAY_ID_LENGTH + 8 + VARINT_MAX_LENGTH + MAX_INNER_FRAME)

G_STATIC_ASSERT (BODY_HELLO == 97);
G_STATIC_ASSERT (BODY_REFUSED_MAX == 268);
G_STATIC_ASSERT (BODY_ACK == 17);
G_STATIC_ASSERT (BODY_REGISTER_INVITE == 48);

static const guint8 zero_key[USI_RELAY_KEY_LENGTH];

static gboolean
is_exact_size (guint8 type)
{
  switch (type)
    {
    case USI_RELAY_FRAME_HELLO:
    case USI_RELAY_FRAME_HELLO_OK:
    case USI_RELAY_FRAME_OPEN_PRESHARED_ROOM:
    case USI_RELAY_FRAME_SUBSCRIBE:
    case USI_RELAY_FRAME_REGISTER_INVITE:
    case USI_RELAY_FRAME_ACK:
    case USI_RELAY_FRAME_PING:
    case USI_RELAY_FRAME_PONG:
      return TRUE;
    default:
      return FALSE;
    }
}

gsize
usi_relay_frame_get_max_body (guint8 type)
{
  if (type > USI_FRAME_RELAY_LAST)
    return usi_frame_get_max_body_length (type);

  switch (type)
    {
    case USI_RELAY_FRAME_HELLO:
      return BODY_HELLO;
    case USI_RELAY_FRAME_HELLO_OK:
    case USI_RELAY_FRAME_PING:
    case USI_RELAY_FRAME_PONG:
      return BODY_U64;
    case USI_RELAY_FRAME_CREATE_ROOM:
      return BODY_CREATE_ROOM_MAX;
    case USI_RELAY_FRAME_OPEN_PRESHARED_ROOM:
      return BODY_OPEN_PRESHARED;
    case USI_RELAY_FRAME_SUBSCRIBE:
      return BODY_SUBSCRIBE;
    case USI_RELAY_FRAME_REGISTER_INVITE:
      return BODY_REGISTER_INVITE;
    case USI_RELAY_FRAME_POST:
      return BODY_POST_MAX;
    case USI_RELAY_FRAME_ACK:
      return BODY_ACK;
    case USI_RELAY_FRAME_REFUSED:
      return BODY_REFUSED_MAX;
    case USI_RELAY_FRAME_DELIVER:
      return BODY_DELIVER_MAX;
    default:
      return 0;
    }
}

void
usi_relay_frame_clear (UsiRelayFrame *frame)
{
  if (frame == NULL)
    return;

  g_clear_pointer (&frame->message, g_free);
  g_clear_pointer (&frame->frame, g_bytes_unref);
  memset (frame, 0, sizeof *frame);
}

static gboolean
malformed (GError     **error,
           const char  *message)
{
  g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED, message);
  return FALSE;
}

/* The frame inside a Post or Deliver: one whole end-to-end frame, checked
 * as a reader would check it, never a control frame (a client must not be
 * able to make the relay send a control frame in its name). */
static gboolean
check_inner_frame (const guint8  *data,
                   gsize          length,
                   GError       **error)
{
  UsiFrameHeader header;

  if (length < USI_FRAME_HEADER_LENGTH)
    return malformed (error, _("The frame carried to the relay is shorter than a frame header."));
  /* data[5] is the type; a control type here is malformed, whatever its size. */
  if (data[5] < 0x20)
    return malformed (error, _("A relay frame carries a control frame, which is not allowed."));
  if (!usi_frame_parse_header (data, &header, error))
    return FALSE;
  if (header.body_length != length - USI_FRAME_HEADER_LENGTH)
    return malformed (error, _("The frame carried to the relay does not have the length its header says."));

  return TRUE;
}

static gboolean
read_inner_frame (UsiWireReader  *reader,
                  GBytes         *body,
                  GBytes        **frame,
                  GError        **error)
{
  const guint8 *data;
  gsize length;

  if (!usi_wire_read_opaque (reader, MAX_INNER_FRAME, &data, &length, error) ||
      !check_inner_frame (data, length, error))
    return FALSE;

  *frame = g_bytes_new_from_bytes (body, (gsize) (data - reader->data), length);
  return TRUE;
}

gboolean
usi_relay_frame_decode (guint8          type,
                        GBytes         *body,
                        UsiRelayFrame  *frame,
                        GError        **error)
{
  g_auto(UsiRelayFrame) decoded = { 0 };
  UsiWireReader reader;
  const guint8 *data;
  gsize length;
  gsize max;

  g_return_val_if_fail (body != NULL, FALSE);
  g_return_val_if_fail (frame != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  memset (frame, 0, sizeof *frame);
  data = g_bytes_get_data (body, &length);

  max = type <= USI_FRAME_RELAY_LAST ? usi_relay_frame_get_max_body (type) : 0;
  if (max == 0)
    {
      g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNKNOWN_TYPE,
                   _("Relay frame type %u is not known."), type);
      return FALSE;
    }

  /* A Hello of another version may have another layout: its version
   * decides before its size does. */
  if (type == USI_RELAY_FRAME_HELLO && length > 0 && data[0] != USI_RELAY_PROTOCOL_VERSION)
    {
      g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSUPPORTED_VERSION,
                   _("The relay protocol version %u is not supported."), data[0]);
      return FALSE;
    }

  if (is_exact_size (type))
    {
      if (length != max)
        return malformed (error, _("A relay frame does not have the size its type requires."));
    }
  else if (length > max)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE,
                           _("A relay frame is larger than allowed for its type."));
      return FALSE;
    }

  usi_wire_reader_init (&reader, data, length);
  decoded.type = type;

  switch (type)
    {
    case USI_RELAY_FRAME_HELLO:
      if (!usi_wire_read_u8 (&reader, &decoded.version, error) ||
          !usi_wire_read_fixed_into (&reader, USI_RELAY_KEY_LENGTH, decoded.identity_key, error) ||
          !usi_wire_read_fixed_into (&reader, USI_RELAY_SIGNATURE_LENGTH, decoded.signature, error))
        return FALSE;
      break;

    case USI_RELAY_FRAME_HELLO_OK:
      if (!usi_wire_read_u64 (&reader, &decoded.time_ms, error))
        return FALSE;
      break;

    case USI_RELAY_FRAME_CREATE_ROOM:
      {
        const guint8 *commit;
        gsize commit_length;

        if (!usi_wire_read_u64 (&reader, &decoded.request_id, error) ||
            !usi_wire_read_opaque (&reader, USI_FRAME_MAX_COMMIT, &commit, &commit_length, error))
          return FALSE;
        decoded.frame = g_bytes_new_from_bytes (body, (gsize) (commit - data), commit_length);
      }
      break;

    case USI_RELAY_FRAME_OPEN_PRESHARED_ROOM:
      if (!usi_wire_read_u64 (&reader, &decoded.request_id, error) ||
          !usi_wire_read_fixed_into (&reader, USI_RELAY_ID_LENGTH, decoded.room_id, error))
        return FALSE;
      break;

    case USI_RELAY_FRAME_SUBSCRIBE:
      if (!usi_wire_read_u64 (&reader, &decoded.request_id, error) ||
          !usi_wire_read_fixed_into (&reader, USI_RELAY_ID_LENGTH, decoded.room_id, error) ||
          !usi_wire_read_u64 (&reader, &decoded.seq, error))
        return FALSE;
      break;

    case USI_RELAY_FRAME_REGISTER_INVITE:
      if (!usi_wire_read_u64 (&reader, &decoded.request_id, error) ||
          !usi_wire_read_fixed_into (&reader, USI_RELAY_ID_LENGTH, decoded.room_id, error) ||
          !usi_wire_read_fixed_into (&reader, USI_RELAY_ID_LENGTH, decoded.invite_id, error) ||
          !usi_wire_read_u64 (&reader, &decoded.expires_ms, error))
        return FALSE;
      break;

    case USI_RELAY_FRAME_POST:
      if (!usi_wire_read_u64 (&reader, &decoded.request_id, error) ||
          !usi_wire_read_fixed_into (&reader, USI_RELAY_ID_LENGTH, decoded.room_id, error) ||
          !usi_wire_read_fixed_into (&reader, USI_RELAY_KEY_LENGTH, decoded.recipient, error) ||
          !read_inner_frame (&reader, body, &decoded.frame, error))
        return FALSE;
      break;

    case USI_RELAY_FRAME_ACK:
      if (!usi_wire_read_u64 (&reader, &decoded.request_id, error) ||
          !usi_wire_read_u64 (&reader, &decoded.seq, error) ||
          !usi_wire_read_u8 (&reader, &decoded.flags, error))
        return FALSE;
      if ((decoded.flags & ~USI_RELAY_ACK_RECIPIENT_OFFLINE) != 0)
        return malformed (error, _("An acknowledgement has flags that are not defined."));
      break;

    case USI_RELAY_FRAME_REFUSED:
      if (!usi_wire_read_u64 (&reader, &decoded.request_id, error) ||
          !usi_wire_read_u16 (&reader, &decoded.code, error) ||
          !usi_wire_read_string_dup (&reader, USI_RELAY_MAX_REFUSAL_TEXT, &decoded.message, error))
        return FALSE;
      break;

    case USI_RELAY_FRAME_DELIVER:
      if (!usi_wire_read_fixed_into (&reader, USI_RELAY_ID_LENGTH, decoded.room_id, error) ||
          !usi_wire_read_u64 (&reader, &decoded.seq, error) ||
          !read_inner_frame (&reader, body, &decoded.frame, error))
        return FALSE;
      break;

    case USI_RELAY_FRAME_PING:
    case USI_RELAY_FRAME_PONG:
      if (!usi_wire_read_u64 (&reader, &decoded.nonce, error))
        return FALSE;
      break;

    default:
      g_assert_not_reached ();
    }

  if (!usi_wire_reader_finish (&reader, error))
    return FALSE;

  *frame = decoded;
  memset (&decoded, 0, sizeof decoded);
  return TRUE;
}

static gboolean
write_inner_frame (GByteArray  *out,
                   GBytes      *inner,
                   GError     **error)
{
  const guint8 *data;
  gsize length;

  if (inner == NULL)
    return malformed (error, _("A relay frame has no frame to carry."));

  data = g_bytes_get_data (inner, &length);
  if (length > MAX_INNER_FRAME)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE,
                           _("The frame to carry is larger than any frame may be."));
      return FALSE;
    }
  if (!check_inner_frame (data, length, error))
    return FALSE;

  usi_wire_write_opaque (out, data, length);
  return TRUE;
}

GBytes *
usi_relay_frame_encode (const UsiRelayFrame  *frame,
                        GError              **error)
{
  g_autoptr(GByteArray) body = NULL;

  g_return_val_if_fail (frame != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  body = g_byte_array_new ();

  switch (frame->type)
    {
    case USI_RELAY_FRAME_HELLO:
      usi_wire_write_u8 (body, USI_RELAY_PROTOCOL_VERSION);
      usi_wire_write_fixed (body, frame->identity_key, USI_RELAY_KEY_LENGTH);
      usi_wire_write_fixed (body, frame->signature, USI_RELAY_SIGNATURE_LENGTH);
      break;

    case USI_RELAY_FRAME_HELLO_OK:
      usi_wire_write_u64 (body, frame->time_ms);
      break;

    case USI_RELAY_FRAME_CREATE_ROOM:
      if (frame->frame == NULL)
        {
          malformed (error, _("A room cannot be created without its first commit."));
          return NULL;
        }
      if (g_bytes_get_size (frame->frame) > USI_FRAME_MAX_COMMIT)
        {
          g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE,
                               _("The room’s first commit is larger than a commit may be."));
          return NULL;
        }
      usi_wire_write_u64 (body, frame->request_id);
      usi_wire_write_bytes (body, frame->frame);
      break;

    case USI_RELAY_FRAME_OPEN_PRESHARED_ROOM:
      usi_wire_write_u64 (body, frame->request_id);
      usi_wire_write_fixed (body, frame->room_id, USI_RELAY_ID_LENGTH);
      break;

    case USI_RELAY_FRAME_SUBSCRIBE:
      usi_wire_write_u64 (body, frame->request_id);
      usi_wire_write_fixed (body, frame->room_id, USI_RELAY_ID_LENGTH);
      usi_wire_write_u64 (body, frame->seq);
      break;

    case USI_RELAY_FRAME_REGISTER_INVITE:
      usi_wire_write_u64 (body, frame->request_id);
      usi_wire_write_fixed (body, frame->room_id, USI_RELAY_ID_LENGTH);
      usi_wire_write_fixed (body, frame->invite_id, USI_RELAY_ID_LENGTH);
      usi_wire_write_u64 (body, frame->expires_ms);
      break;

    case USI_RELAY_FRAME_POST:
      usi_wire_write_u64 (body, frame->request_id);
      usi_wire_write_fixed (body, frame->room_id, USI_RELAY_ID_LENGTH);
      usi_wire_write_fixed (body, frame->recipient, USI_RELAY_KEY_LENGTH);
      if (!write_inner_frame (body, frame->frame, error))
        return NULL;
      break;

    case USI_RELAY_FRAME_ACK:
      if ((frame->flags & ~USI_RELAY_ACK_RECIPIENT_OFFLINE) != 0)
        {
          malformed (error, _("An acknowledgement has flags that are not defined."));
          return NULL;
        }
      usi_wire_write_u64 (body, frame->request_id);
      usi_wire_write_u64 (body, frame->seq);
      usi_wire_write_u8 (body, frame->flags);
      break;

    case USI_RELAY_FRAME_REFUSED:
      {
        const char *message = frame->message != NULL ? frame->message : "";
        gsize message_length = strlen (message);

        if (message_length > USI_RELAY_MAX_REFUSAL_TEXT)
          {
            g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE,
                                 _("A refusal’s explanation is longer than allowed."));
            return NULL;
          }
        if (!g_utf8_validate (message, (gssize) message_length, NULL))
          {
            malformed (error, _("A refusal’s explanation is not valid text."));
            return NULL;
          }
        usi_wire_write_u64 (body, frame->request_id);
        usi_wire_write_u16 (body, frame->code);
        usi_wire_write_string (body, message);
      }
      break;

    case USI_RELAY_FRAME_DELIVER:
      usi_wire_write_fixed (body, frame->room_id, USI_RELAY_ID_LENGTH);
      usi_wire_write_u64 (body, frame->seq);
      if (!write_inner_frame (body, frame->frame, error))
        return NULL;
      break;

    case USI_RELAY_FRAME_PING:
    case USI_RELAY_FRAME_PONG:
      usi_wire_write_u64 (body, frame->nonce);
      break;

    default:
      g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNKNOWN_TYPE,
                   _("Relay frame type %u is not known."), (guint) frame->type);
      return NULL;
    }

  g_assert (body->len <= usi_relay_frame_get_max_body ((guint8) frame->type));
  return usi_frame_encode ((guint8) frame->type, body->data, body->len, error);
}

/* The builders take values the caller made, not input: a failure is a
 * programming error. */
static GBytes *
encode_or_warn (const UsiRelayFrame *frame)
{
  g_autoptr(GError) error = NULL;
  GBytes *encoded = usi_relay_frame_encode (frame, &error);

  if (encoded == NULL)
    g_critical ("Cannot encode a relay frame of type %u: %s", (guint) frame->type, error->message);

  return encoded;
}

GBytes *
usi_relay_frame_new_hello (const guint8 *identity_key,
                           const guint8 *signature)
{
  UsiRelayFrame frame = { .type = USI_RELAY_FRAME_HELLO, .version = USI_RELAY_PROTOCOL_VERSION };

  g_return_val_if_fail (identity_key != NULL, NULL);
  g_return_val_if_fail (signature != NULL, NULL);

  memcpy (frame.identity_key, identity_key, USI_RELAY_KEY_LENGTH);
  memcpy (frame.signature, signature, USI_RELAY_SIGNATURE_LENGTH);
  return encode_or_warn (&frame);
}

GBytes *
usi_relay_frame_new_hello_ok (guint64 time_ms)
{
  UsiRelayFrame frame = { .type = USI_RELAY_FRAME_HELLO_OK, .time_ms = time_ms };

  return encode_or_warn (&frame);
}

GBytes *
usi_relay_frame_new_create_room (guint64  request_id,
                                 GBytes  *commit_body)
{
  UsiRelayFrame frame = { .type = USI_RELAY_FRAME_CREATE_ROOM, .request_id = request_id };

  g_return_val_if_fail (commit_body != NULL, NULL);

  frame.frame = commit_body;
  return encode_or_warn (&frame);
}

GBytes *
usi_relay_frame_new_open_preshared_room (guint64       request_id,
                                         const guint8 *room_id)
{
  UsiRelayFrame frame = { .type = USI_RELAY_FRAME_OPEN_PRESHARED_ROOM, .request_id = request_id };

  g_return_val_if_fail (room_id != NULL, NULL);

  memcpy (frame.room_id, room_id, USI_RELAY_ID_LENGTH);
  return encode_or_warn (&frame);
}

GBytes *
usi_relay_frame_new_subscribe (guint64       request_id,
                               const guint8 *room_id,
                               guint64       after_seq)
{
  UsiRelayFrame frame = { .type = USI_RELAY_FRAME_SUBSCRIBE, .request_id = request_id, .seq = after_seq };

  g_return_val_if_fail (room_id != NULL, NULL);

  memcpy (frame.room_id, room_id, USI_RELAY_ID_LENGTH);
  return encode_or_warn (&frame);
}

GBytes *
usi_relay_frame_new_register_invite (guint64       request_id,
                                     const guint8 *room_id,
                                     const guint8 *invite_id,
                                     guint64       expires_ms)
{
  UsiRelayFrame frame = { .type = USI_RELAY_FRAME_REGISTER_INVITE, .request_id = request_id,
                          .expires_ms = expires_ms };

  g_return_val_if_fail (room_id != NULL, NULL);
  g_return_val_if_fail (invite_id != NULL, NULL);

  memcpy (frame.room_id, room_id, USI_RELAY_ID_LENGTH);
  memcpy (frame.invite_id, invite_id, USI_RELAY_ID_LENGTH);
  return encode_or_warn (&frame);
}

GBytes *
usi_relay_frame_new_post (guint64       request_id,
                          const guint8 *room_id,
                          const guint8 *recipient,
                          GBytes       *inner_frame)
{
  UsiRelayFrame frame = { .type = USI_RELAY_FRAME_POST, .request_id = request_id };

  g_return_val_if_fail (room_id != NULL, NULL);
  g_return_val_if_fail (inner_frame != NULL, NULL);

  memcpy (frame.room_id, room_id, USI_RELAY_ID_LENGTH);
  memcpy (frame.recipient, recipient != NULL ? recipient : zero_key, USI_RELAY_KEY_LENGTH);
  frame.frame = inner_frame;
  return encode_or_warn (&frame);
}

GBytes *
usi_relay_frame_new_ack (guint64 request_id,
                         guint64 seq,
                         guint8  flags)
{
  UsiRelayFrame frame = { .type = USI_RELAY_FRAME_ACK, .request_id = request_id, .seq = seq, .flags = flags };

  return encode_or_warn (&frame);
}

GBytes *
usi_relay_frame_new_refused (guint64              request_id,
                             UsiRelayRefusedCode  code,
                             const char          *message)
{
  UsiRelayFrame frame = { .type = USI_RELAY_FRAME_REFUSED, .request_id = request_id, .code = code };
  g_autofree char *text = NULL;

  /* The explanation is often a translated GError message: make it valid
   * text and cut it, at a character boundary, to what the frame allows. */
  text = g_utf8_make_valid (message != NULL ? message : "", -1);
  if (strlen (text) > USI_RELAY_MAX_REFUSAL_TEXT)
    {
      const char *end = g_utf8_find_prev_char (text, text + USI_RELAY_MAX_REFUSAL_TEXT + 1);

      text[end - text] = '\0';
    }

  frame.message = text;
  return encode_or_warn (&frame);
}

GBytes *
usi_relay_frame_new_deliver (const guint8 *room_id,
                             guint64       seq,
                             GBytes       *inner_frame)
{
  UsiRelayFrame frame = { .type = USI_RELAY_FRAME_DELIVER, .seq = seq };

  g_return_val_if_fail (room_id != NULL, NULL);
  g_return_val_if_fail (inner_frame != NULL, NULL);

  memcpy (frame.room_id, room_id, USI_RELAY_ID_LENGTH);
  frame.frame = inner_frame;
  return encode_or_warn (&frame);
}

GBytes *
usi_relay_frame_new_ping (guint64 nonce)
{
  UsiRelayFrame frame = { .type = USI_RELAY_FRAME_PING, .nonce = nonce };

  return encode_or_warn (&frame);
}

GBytes *
usi_relay_frame_new_pong (guint64 nonce)
{
  UsiRelayFrame frame = { .type = USI_RELAY_FRAME_PONG, .nonce = nonce };

  return encode_or_warn (&frame);
}

void
usi_relay_hello_tbs (const guint8 *exporter,
                     const guint8 *client_spki_hash,
                     guint8       *tbs)
{
  g_return_if_fail (exporter != NULL);
  g_return_if_fail (client_spki_hash != NULL);
  g_return_if_fail (tbs != NULL);

  memcpy (tbs, exporter, USI_RELAY_EXPORTER_LENGTH);
  memcpy (tbs + USI_RELAY_EXPORTER_LENGTH, client_spki_hash, 32);
}

const char *
usi_relay_refused_code_to_string (guint16 code)
{
  switch (code)
    {
    case USI_RELAY_REFUSED_MALFORMED:      return "MALFORMED";
    case USI_RELAY_REFUSED_NOT_MEMBER:     return "NOT_MEMBER";
    case USI_RELAY_REFUSED_NOT_OWNER:      return "NOT_OWNER";
    case USI_RELAY_REFUSED_UNKNOWN_ROOM:   return "UNKNOWN_ROOM";
    case USI_RELAY_REFUSED_ROOM_EXISTS:    return "ROOM_EXISTS";
    case USI_RELAY_REFUSED_INVITE_UNKNOWN: return "INVITE_UNKNOWN";
    case USI_RELAY_REFUSED_INVITE_USED:    return "INVITE_USED";
    case USI_RELAY_REFUSED_INVITE_EXPIRED: return "INVITE_EXPIRED";
    case USI_RELAY_REFUSED_BAD_COMMIT:     return "BAD_COMMIT";
    case USI_RELAY_REFUSED_NOT_ALLOWED:    return "NOT_ALLOWED";
    case USI_RELAY_REFUSED_LIMIT:          return "LIMIT";
    case USI_RELAY_REFUSED_BAD_HELLO:      return "BAD_HELLO";
    case USI_RELAY_REFUSED_FULL:           return "FULL";
    case USI_RELAY_REFUSED_UNAVAILABLE:    return "UNAVAILABLE";
    default:                               return "UNKNOWN";
    }
}
