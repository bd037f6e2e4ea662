/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

#include "protocol/usi-identity.h"

G_BEGIN_DECLS

/* What a room keeps in the encrypted store between runs (docs/protocol.md
 * §12): one record per room with its protocol state, and its history in
 * chunks of messages.  Encoding and decoding only; the room decides when. */

typedef enum
{
  USI_ROOM_RECORD_OWNER     = 1,
  USI_ROOM_RECORD_MEMBER    = 2,
  USI_ROOM_RECORD_PRESHARED = 3,
} UsiRoomRecordKind;

/* A frame posted but not yet acknowledged: posted again after a restart. */
typedef struct
{
  gboolean  has_recipient;
  guint8    recipient[32];
  guint32   message_index;   /* the history entry it carries, or G_MAXUINT32 */
  GBytes   *frame;           /* a whole frame, header included */
} UsiRoomOutboxEntry;

typedef struct
{
  UsiRoomRecordKind kind;
  char          *name;
  char          *connect_address;       /* where the link connects */
  char          *invite_address;        /* owner: what invites name; "" otherwise */
  gboolean       pinned;
  guint8         pin[32];
  gboolean       relay_unauthenticated; /* pre-shared room joined without a pin */
  guint64        position;              /* the last sequence number processed */
  GBytes        *state;                 /* owner group, member group or pre-shared room */
  GBytes        *invite_book;           /* owner */
  GBytes        *channel;               /* owner and member */
  UsiLeafSecret  own_leaf;              /* owner: its leaf, for opening join requests */
  gboolean       has_password;
  guint8         password_secret[32];   /* owner: the password key; member: the password PSK */
  GPtrArray     *outbox;                /* UsiRoomOutboxEntry */
} UsiRoomRecord;

#define USI_ROOM_HISTORY_CHUNK 256   /* messages per history record */

typedef struct
{
  guint32  sender_index;
  char    *sender_name;
  guint8   sender_key[32];
  char    *text;
  gint64   sent_ms;
  gint64   received_ms;
  guint64  epoch;
  guint64  seq;
  gboolean is_own;
  gboolean gap_before;
  guint8   state;             /* UsiMessageState */
} UsiRoomHistoryEntry;

UsiRoomRecord *usi_room_record_new            (void);
void           usi_room_record_free           (UsiRoomRecord   *record);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiRoomRecord, usi_room_record_free)
void           usi_room_outbox_entry_free     (UsiRoomOutboxEntry *entry);

/* Secret bytes (wiped when freed). */
GBytes        *usi_room_record_encode         (const UsiRoomRecord *record);
/* USI_PROTOCOL_ERROR_MALFORMED, _TOO_LARGE, _UNSUPPORTED_VERSION. */
UsiRoomRecord *usi_room_record_decode         (GBytes          *bytes,
                                               GError         **error);

void           usi_room_history_entry_clear   (UsiRoomHistoryEntry *entry);
/* One chunk: at most USI_ROOM_HISTORY_CHUNK entries. */
GBytes        *usi_room_history_encode        (const UsiRoomHistoryEntry *entries,
                                               guint                      n_entries);
/* An array of UsiRoomHistoryEntry (cleared when freed). */
GArray        *usi_room_history_decode        (GBytes          *bytes,
                                               GError         **error);

G_END_DECLS
