/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

#include "usi-frame.h"

G_BEGIN_DECLS

/* The bodies of the relay control frames, types 0x01–0x1f
 * (docs/protocol.md §11.2).  Pure encoding and decoding: no I/O.
 *
 * Maxima (usi_relay_frame_get_max_body, also what usi_frame_parse_header
 * applies): Hello 97, HelloOk 8, CreateRoom 1 MiB + 16, OpenPresharedRoom
 * 24, Subscribe 32, RegisterInvite 48, Post 1 MiB + 66, Ack 17, Refused
 * 268, Deliver 1 MiB + 34, Ping and Pong 8; Post and Deliver are what a
 * header and a 1 MiB Commit or Welcome need. */

#define USI_RELAY_PROTOCOL_VERSION   1
#define USI_RELAY_ID_LENGTH          16   /* room ids and invite ids */
#define USI_RELAY_KEY_LENGTH         32
#define USI_RELAY_SIGNATURE_LENGTH   64
#define USI_RELAY_EXPORTER_LABEL     "EXPORTER-usi relay hello"
#define USI_RELAY_EXPORTER_LENGTH    32
#define USI_RELAY_HELLO_LABEL        "RelayHelloTBS"
#define USI_RELAY_MAX_REFUSAL_TEXT   256

typedef enum
{
  USI_RELAY_FRAME_HELLO               = 0x01,
  USI_RELAY_FRAME_HELLO_OK            = 0x02,
  USI_RELAY_FRAME_CREATE_ROOM         = 0x03,
  USI_RELAY_FRAME_OPEN_PRESHARED_ROOM = 0x04,
  USI_RELAY_FRAME_SUBSCRIBE           = 0x05,
  USI_RELAY_FRAME_REGISTER_INVITE     = 0x06,
  USI_RELAY_FRAME_POST                = 0x07,
  USI_RELAY_FRAME_ACK                 = 0x08,
  USI_RELAY_FRAME_REFUSED             = 0x09,
  USI_RELAY_FRAME_DELIVER             = 0x0a,
  USI_RELAY_FRAME_PING                = 0x0b,
  USI_RELAY_FRAME_PONG                = 0x0c,
} UsiRelayFrameType;

/* Ack.flags */
#define USI_RELAY_ACK_RECIPIENT_OFFLINE 0x01

typedef enum
{
  USI_RELAY_REFUSED_MALFORMED      = 1,
  USI_RELAY_REFUSED_NOT_MEMBER     = 2,
  USI_RELAY_REFUSED_NOT_OWNER      = 3,
  USI_RELAY_REFUSED_UNKNOWN_ROOM   = 4,
  USI_RELAY_REFUSED_ROOM_EXISTS    = 5,
  USI_RELAY_REFUSED_INVITE_UNKNOWN = 6,
  USI_RELAY_REFUSED_INVITE_USED    = 7,
  USI_RELAY_REFUSED_INVITE_EXPIRED = 8,
  USI_RELAY_REFUSED_BAD_COMMIT     = 9,
  USI_RELAY_REFUSED_NOT_ALLOWED    = 10,
  USI_RELAY_REFUSED_LIMIT          = 11,
  USI_RELAY_REFUSED_BAD_HELLO      = 12,
  USI_RELAY_REFUSED_FULL           = 13,
  USI_RELAY_REFUSED_UNAVAILABLE    = 14,
} UsiRelayRefusedCode;

/* One decoded control frame.  Which fields are set depends on `type`;
 * `frame` (Post, Deliver) and `commit` (CreateRoom) point into the GBytes
 * the frame was decoded from and stay valid as long as it does. */
typedef struct
{
  UsiRelayFrameType type;
  guint8   version;                                   /* Hello */
  guint8   identity_key[USI_RELAY_KEY_LENGTH];        /* Hello */
  guint8   signature[USI_RELAY_SIGNATURE_LENGTH];     /* Hello */
  guint64  time_ms;                                   /* HelloOk */
  guint64  request_id;                                /* requests, Ack, Refused */
  guint8   room_id[USI_RELAY_ID_LENGTH];              /* OpenPresharedRoom, Subscribe, RegisterInvite, Post, Deliver */
  guint8   invite_id[USI_RELAY_ID_LENGTH];            /* RegisterInvite */
  guint64  expires_ms;                                /* RegisterInvite */
  guint64  seq;                                       /* Subscribe (after_seq), Ack, Deliver */
  guint8   recipient[USI_RELAY_KEY_LENGTH];           /* Post: zeros for the room */
  guint8   flags;                                     /* Ack */
  guint16  code;                                      /* Refused */
  char    *message;                                   /* Refused: UTF-8, owned */
  GBytes  *frame;                                     /* Post, Deliver: a whole frame of type 0x20–0x31; CreateRoom: the Commit body */
  guint64  nonce;                                     /* Ping, Pong */
} UsiRelayFrame;

void           usi_relay_frame_clear          (UsiRelayFrame       *frame);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (UsiRelayFrame, usi_relay_frame_clear)

gsize          usi_relay_frame_get_max_body   (guint8               type);   /* 0: unknown; >= 0x20: usi_frame_get_max_body_length() */

/* Decodes the body of a control frame of `type`: canonical, every byte used
 * (USI_PROTOCOL_ERROR_MALFORMED, _TOO_LARGE, _UNKNOWN_TYPE,
 * _UNSUPPORTED_VERSION for a Hello of another version, whatever its size).
 * A fixed-size body one byte short or long is MALFORMED; Ack flags other
 * than bit 0 are MALFORMED; any Refused code decodes.  For Post and Deliver
 * the inner frame must be whole: a control type (< 0x20) is MALFORMED, its
 * header is checked with usi_frame_parse_header() (its codes) and must
 * announce exactly the bytes that follow (MALFORMED).  `frame` is cleared
 * first and left cleared on error. */
gboolean       usi_relay_frame_decode         (guint8               type,
                                               GBytes              *body,
                                               UsiRelayFrame       *frame,
                                               GError             **error);

/* Encodes `frame` as a whole frame, header included, ready to write.
 * Refuses what the decoder would refuse (a Hello is always written with
 * USI_RELAY_PROTOCOL_VERSION, whatever frame->version says). */
GBytes        *usi_relay_frame_encode         (const UsiRelayFrame *frame,
                                               GError             **error);

/* Convenience builders; each returns a whole frame, header included.  Only
 * a programming error (an inner frame that is not a whole end-to-end frame)
 * returns NULL, with a critical.  The Refused message is made valid UTF-8
 * and cut to 256 bytes at a character boundary. */
GBytes        *usi_relay_frame_new_hello      (const guint8        *identity_key,
                                               const guint8        *signature);
GBytes        *usi_relay_frame_new_hello_ok   (guint64              time_ms);
GBytes        *usi_relay_frame_new_create_room (guint64             request_id,
                                                GBytes             *commit_body);
GBytes        *usi_relay_frame_new_open_preshared_room (guint64     request_id,
                                                        const guint8 *room_id);
GBytes        *usi_relay_frame_new_subscribe  (guint64              request_id,
                                               const guint8        *room_id,
                                               guint64              after_seq);
GBytes        *usi_relay_frame_new_register_invite (guint64         request_id,
                                                    const guint8   *room_id,
                                                    const guint8   *invite_id,
                                                    guint64         expires_ms);
GBytes        *usi_relay_frame_new_post       (guint64              request_id,
                                               const guint8        *room_id,
                                               const guint8        *recipient,   /* NULL: the room */
                                               GBytes              *inner_frame);
GBytes        *usi_relay_frame_new_ack        (guint64              request_id,
                                               guint64              seq,
                                               guint8               flags);
GBytes        *usi_relay_frame_new_refused    (guint64              request_id,
                                               UsiRelayRefusedCode  code,
                                               const char          *message);
GBytes        *usi_relay_frame_new_deliver    (const guint8        *room_id,
                                               guint64              seq,
                                               GBytes              *inner_frame);
GBytes        *usi_relay_frame_new_ping       (guint64              nonce);
GBytes        *usi_relay_frame_new_pong       (guint64              nonce);

/* The bytes a Hello signs (§11.3): exporter ‖ SHA-256 (client SPKI). */
void           usi_relay_hello_tbs            (const guint8        *exporter,
                                               const guint8        *client_spki_hash,
                                               guint8              *tbs);   /* 64 bytes */

const char    *usi_relay_refused_code_to_string (guint16            code);

G_END_DECLS
