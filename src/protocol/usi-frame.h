/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* frame = u32 length ‖ u8 version ‖ u8 type ‖ body, length counting version,
 * type and body (docs/protocol.md §4). */
#define USI_FRAME_VERSION        1
#define USI_FRAME_HEADER_LENGTH  6

typedef enum
{
  /* 0x01–0x1f: relay control, between a client and its relay (bodies and
   * maxima in usi-relay-frame.h). */
  USI_FRAME_RELAY_FIRST     = 0x01,
  USI_FRAME_RELAY_LAST      = 0x1f,
  /* 0x20–0x2f: membership, end to end between members and the owner. */
  USI_FRAME_JOIN_REQUEST    = 0x20,
  USI_FRAME_JOIN_REFUSAL    = 0x21,
  USI_FRAME_WELCOME         = 0x22,
  USI_FRAME_COMMIT          = 0x23,
  USI_FRAME_LEAF_UPDATE     = 0x24,
  /* 0x30–0x3f: content, end to end between members. */
  USI_FRAME_APP_MESSAGE     = 0x30,
  USI_FRAME_FILE_CHUNK      = 0x31,
} UsiFrameType;

#define USI_FRAME_MAX_CONTROL     (64 * 1024)     /* JoinRequest, JoinRefusal, LeafUpdate */
#define USI_FRAME_MAX_COMMIT      (1024 * 1024)   /* ~100 members need ~50 KiB */
#define USI_FRAME_MAX_APP_MESSAGE (80 * 1024)     /* 64 KiB bucket + header, signature, tag */
#define USI_FRAME_MAX_FILE_CHUNK  (17 * 1024)     /* 16 KiB chunk + tag + header */

typedef struct
{
  guint8  version;
  guint8  type;
  guint32 body_length;
} UsiFrameHeader;

/* The largest body a frame of @type may carry; 0 for a type that is not
 * known (the connection is then closed). */
gsize    usi_frame_get_max_body_length (guint8           type);

/* Parses and checks the 6-byte header alone, so a reader knows how many
 * bytes to wait for before it has allocated anything: unknown versions and
 * types, and bodies above the type's maximum, are refused here. */
gboolean usi_frame_parse_header        (const guint8    *header,
                                        UsiFrameHeader  *parsed,
                                        GError         **error);

/* Header ‖ body.  @body must fit the type's maximum. */
GBytes  *usi_frame_encode              (guint8           type,
                                        const guint8    *body,
                                        gsize            body_length,
                                        GError         **error);

/* One whole frame: the header checked, the body exactly as long as it says. */
gboolean usi_frame_decode              (const guint8    *data,
                                        gsize            length,
                                        guint8          *type,
                                        const guint8   **body,
                                        gsize           *body_length,
                                        GError         **error);

G_END_DECLS
