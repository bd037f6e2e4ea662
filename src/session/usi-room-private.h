/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "net/usi-relay-link.h"
#include "protocol/usi-invite.h"
#include "protocol/usi-join.h"
#include "protocol/usi-owner-group.h"
#include "protocol/usi-preshared-room.h"
#include "usi-room-record.h"
#include "usi-room.h"
#include "usi-session.h"

G_BEGIN_DECLS

/* A room this person owns; takes `group`; `create_commit` is its epoch 0
 * commit, which the relay learns the room from.  `invite_address` is what
 * invites name as the relay's address.  `password_key` NULL: no password. */
UsiRoom  *_usi_room_new_owner        (UsiSession          *session,
                                      UsiRelayLink        *link,
                                      const char          *name,
                                      const char          *invite_address,
                                      const guint8        *relay_pin,
                                      UsiOwnerGroup       *group,
                                      GBytes              *create_commit,
                                      const UsiLeafSecret *own_leaf,
                                      const guint8        *password_key);
/* A room being joined with `invite` (taken) and `request` (taken).
 * `password_psk` NULL: no password. */
UsiRoom  *_usi_room_new_joiner       (UsiSession          *session,
                                      UsiRelayLink        *link,
                                      UsiInvite           *invite,
                                      UsiJoinRequest      *request,
                                      const UsiLeafSecret *own_leaf,
                                      const guint8        *password_psk);
/* A pre-shared key room; takes `room`.  `relay_pin` NULL: joined without
 * a pin (the room warns once connected). */
UsiRoom  *_usi_room_new_preshared    (UsiSession          *session,
                                      UsiRelayLink        *link,
                                      const char          *name,
                                      const guint8        *relay_pin,
                                      UsiPresharedRoom    *room);

/* A room saved by an earlier run (docs/protocol.md §12), with its history
 * (an array of UsiRoomHistoryEntry, may be NULL).  Refuses state that does
 * not restore, never repairs it. */
UsiRoom  *_usi_room_restore          (UsiSession          *session,
                                      UsiRoomRecord       *record,
                                      GArray              *history,
                                      GError             **error);
/* After a restore: subscribes from the saved position and posts again
 * what the relay had not acknowledged. */
void      _usi_room_resume           (UsiRoom             *self);
gboolean  _usi_room_matches_host     (UsiRoom             *self,
                                      const char          *name,
                                      const char          *invite_address);

UsiRelayLink *_usi_room_get_link     (UsiRoom             *self);

/* Owner: creates the room at the relay and subscribes.  Joiner: posts the
 * join request and completes on the Welcome or the refusal.  Pre-shared:
 * opens the room at the relay and subscribes. */
void      _usi_room_start_async      (UsiRoom             *self,
                                      GCancellable        *cancellable,
                                      GAsyncReadyCallback  callback,
                                      gpointer             user_data);
gboolean  _usi_room_start_finish     (UsiRoom             *self,
                                      GAsyncResult        *result,
                                      GError             **error);

/* From the room's link. */
void      _usi_room_handle_deliver   (UsiRoom             *self,
                                      guint64              seq,
                                      guint                frame_type,
                                      GBytes              *frame);
void      _usi_room_handle_link_state (UsiRoom            *self,
                                       UsiRelayLinkState   state);
void      _usi_room_handle_connection_lost (UsiRoom       *self,
                                           const GError  *error);
void      _usi_room_handle_subscription_refused (UsiRoom  *self,
                                                 const GError *error);
/* The session is going: drop the link and every borrowed pointer. */
void      _usi_room_detach           (UsiRoom             *self);

G_END_DECLS
