/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <gio/gio.h>

#include "usi-member.h"
#include "usi-message.h"

G_BEGIN_DECLS

/* One room this person is in, owned (an owner signs its epochs) or
 * pre-shared (a key is the room, docs/protocol.md §9).  Holds the room's
 * protocol state, its members and its messages as GListModels, and the
 * actions a front end offers.  Created by UsiSession. */

typedef enum
{
  USI_ROOM_CONNECTING,          /* reaching the relay */
  USI_ROOM_WAITING_FOR_OWNER,   /* a join request is queued at the relay; the owner is offline */
  USI_ROOM_JOINING,             /* the join request reached the owner; waiting for the answer */
  USI_ROOM_JOINED,              /* in the room, connected */
  USI_ROOM_RECONNECTING,        /* in the room, the connection was lost; retrying */
  USI_ROOM_REMOVED,             /* the owner removed this person: nothing new can be read */
  USI_ROOM_FAILED,              /* joining failed (the error says why) */
} UsiRoomState;

typedef enum
{
  USI_ROOM_KIND_OWNED,
  USI_ROOM_KIND_PRESHARED,
} UsiRoomKind;

#define USI_TYPE_ROOM (usi_room_get_type ())
G_DECLARE_FINAL_TYPE (UsiRoom, usi_room, USI, ROOM, GObject)

char          *usi_room_dup_id_hex          (UsiRoom *self);   /* 32 hex digits */
const guint8  *usi_room_get_id              (UsiRoom *self);   /* 16 bytes */
const char    *usi_room_get_name            (UsiRoom *self);   /* a local label */
UsiRoomKind    usi_room_get_kind            (UsiRoom *self);
gboolean       usi_room_get_is_owner        (UsiRoom *self);
UsiRoomState   usi_room_get_state           (UsiRoom *self);
const GError  *usi_room_get_error           (UsiRoom *self);   /* why FAILED or REMOVED, or the last connection error */
guint64        usi_room_get_epoch           (UsiRoom *self);
guint          usi_room_get_rotate_after    (UsiRoom *self);
gboolean       usi_room_get_password_required (UsiRoom *self);
const char    *usi_room_get_relay_address   (UsiRoom *self);
/* TRUE for a room loaded from the store (kept from an earlier run). */
gboolean       usi_room_get_restored        (UsiRoom *self);
/* The value members compare to detect a fork of the current epoch, as 64 hex digits. */
char          *usi_room_dup_epoch_authenticator (UsiRoom *self);

GListModel    *usi_room_get_members         (UsiRoom *self);   /* UsiMember, by index */
GListModel    *usi_room_get_messages        (UsiRoom *self);   /* UsiMessage, in order of arrival */
UsiMember     *usi_room_lookup_member       (UsiRoom    *self,
                                             const char *name);   /* NULL if none */

/* Sends a text message; completes when the relay stored it.  The message
 * appears in the messages model at once (state SENDING). */
void           usi_room_send_text_async     (UsiRoom             *self,
                                             const char          *text,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data);
gboolean       usi_room_send_text_finish    (UsiRoom             *self,
                                             GAsyncResult        *result,
                                             GError             **error);

/* Owner only: a new one-time invite, registered at the relay; returns the
 * usi:// text.  Valid for `valid_for_ms` (0: 24 hours). */
void           usi_room_create_invite_async (UsiRoom             *self,
                                             guint64              valid_for_ms,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data);
char          *usi_room_create_invite_finish (UsiRoom            *self,
                                              GAsyncResult       *result,
                                              GError            **error);

/* Owner only: removes `member` (a new epoch without them) / starts a new
 * epoch now.  Complete when the relay stored the commit. */
void           usi_room_remove_member_async (UsiRoom             *self,
                                             UsiMember           *member,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data);
void           usi_room_rotate_async        (UsiRoom             *self,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data);
gboolean       usi_room_commit_finish       (UsiRoom             *self,
                                             GAsyncResult        *result,
                                             GError             **error);

/* Verification (§8.7): marks `member`'s current key as verified, or
 * accepts a changed key (back to unverified, sending unblocked).  Kept in
 * the session's store when it keeps state. */
gboolean       usi_room_verify_member       (UsiRoom             *self,
                                             UsiMember           *member,
                                             GError             **error);
gboolean       usi_room_accept_key_change   (UsiRoom             *self,
                                             UsiMember           *member,
                                             GError             **error);

/* Leaves the room locally (stops following it). */
void           usi_room_close               (UsiRoom             *self);

/* Signals:
 *   ::message-received (UsiMessage *message)   another member's message, once
 *   ::member-joined (UsiMember *member)
 *   ::member-left (UsiMember *member)           removed by the owner
 *   ::epoch-changed (guint64 epoch, guint reason)   a commit was applied (reason: UsiCommitReason)
 *   ::warning (GError *error)                   something was refused or is missing (a gap, a bad frame); the room goes on
 * Properties (notify): state, epoch, error. */

G_END_DECLS
