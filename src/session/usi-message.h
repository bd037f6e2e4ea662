/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/* One message of a room's history: who sent it, its text (never
 * interpreted: shown as plain text), when, and for one's own messages
 * whether the relay has stored it. */

typedef enum
{
  USI_MESSAGE_RECEIVED,   /* from another member, authenticated */
  USI_MESSAGE_SENDING,    /* one's own, not yet acknowledged by the relay */
  USI_MESSAGE_SENT,       /* one's own, stored by the relay */
  USI_MESSAGE_FAILED,     /* one's own, refused (the error says why) */
} UsiMessageState;

#define USI_TYPE_MESSAGE (usi_message_get_type ())
G_DECLARE_FINAL_TYPE (UsiMessage, usi_message, USI, MESSAGE, GObject)

const char      *usi_message_get_sender_name   (UsiMessage *self);
guint            usi_message_get_sender_index  (UsiMessage *self);
const guint8    *usi_message_get_sender_key    (UsiMessage *self);   /* 32 bytes */
const char      *usi_message_get_text          (UsiMessage *self);
gint64           usi_message_get_sent_ms       (UsiMessage *self);   /* the sender's clock */
gint64           usi_message_get_received_ms   (UsiMessage *self);   /* ours */
guint64          usi_message_get_epoch         (UsiMessage *self);
guint64          usi_message_get_seq           (UsiMessage *self);   /* the relay's sequence number; 0 while sending */
gboolean         usi_message_get_is_own        (UsiMessage *self);
gboolean         usi_message_get_gap_before    (UsiMessage *self);   /* messages from this sender may be missing before it */
UsiMessageState  usi_message_get_state         (UsiMessage *self);

/* Properties: state, seq (notify when they change). */

G_END_DECLS
