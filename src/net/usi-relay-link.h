/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <gio/gio.h>

#include "protocol/usi-identity.h"
#include "usi-connection.h"

G_BEGIN_DECLS

/* A client's link to one relay (docs/protocol.md §11.3, §11.5, §11.6):
 * connects, checks the pin, says Hello as `identity`, keeps the rooms it is
 * subscribed to, and reconnects by itself with exponential backoff and
 * jitter.  Every request (CreateRoom, OpenPresharedRoom, RegisterInvite,
 * Post) is kept until the relay answers it, and resent identically (same
 * request id) after a reconnect, so nothing is lost or duplicated. */

typedef enum
{
  USI_RELAY_LINK_STOPPED,        /* not started, or stopped */
  USI_RELAY_LINK_CONNECTING,     /* first attempt under way */
  USI_RELAY_LINK_CONNECTED,      /* HelloOk received */
  USI_RELAY_LINK_RECONNECTING,   /* lost; waiting for the next attempt or in it */
} UsiRelayLinkState;

#define USI_TYPE_RELAY_LINK_STATE (usi_relay_link_state_get_type ())
GType usi_relay_link_state_get_type (void);

/* Errors of requests the relay refused: the code is UsiRelayRefusedCode
 * (protocol/usi-relay-frame.h), the message the relay's text. */
#define USI_RELAY_REFUSED_ERROR (usi_relay_refused_error_quark ())
GQuark usi_relay_refused_error_quark (void);

#define USI_TYPE_RELAY_LINK (usi_relay_link_get_type ())
G_DECLARE_FINAL_TYPE (UsiRelayLink, usi_relay_link, USI, RELAY_LINK, GObject)

/* `address` "HOST:PORT"; `pin` 32 bytes, or NULL to accept any relay key
 * (pre-shared key rooms joined without a pin); `identity` is borrowed and
 * must outlive the link. */
UsiRelayLink     *usi_relay_link_new              (const char          *address,
                                                   const guint8        *pin,
                                                   UsiIdentity         *identity,
                                                   const UsiConnectionLimits *limits);   /* NULL: defaults */

void              usi_relay_link_start            (UsiRelayLink        *self);
void              usi_relay_link_stop             (UsiRelayLink        *self);
/* Drops the current connection as if the network failed (tests, and the
 * app's "reconnect now"); the link reconnects with backoff. */
void              usi_relay_link_drop_connection  (UsiRelayLink        *self);

/* Offline on purpose (the app's "work offline"; tests make an owner
 * offline with it): drops the connection and makes no attempt until
 * resumed; requests and subscriptions wait and go out after resuming. */
void              usi_relay_link_set_suspended    (UsiRelayLink        *self,
                                                   gboolean             suspended);

/* The pin of the relay key seen at the last handshake, or NULL before one. */
const guint8     *usi_relay_link_get_relay_pin    (UsiRelayLink        *self);

UsiRelayLinkState usi_relay_link_get_state        (UsiRelayLink        *self);
const char       *usi_relay_link_get_address      (UsiRelayLink        *self);
/* The reason of the last failed attempt or lost connection, or NULL. */
const GError     *usi_relay_link_get_last_error   (UsiRelayLink        *self);

/* Keeps `room_id` subscribed: sent now when connected, and after every
 * reconnect with the sequence number of the last frame delivered.  A
 * refusal (NOT_MEMBER, UNKNOWN_ROOM) emits ::subscription-refused and
 * forgets the subscription. */
void              usi_relay_link_subscribe        (UsiRelayLink        *self,
                                                   const guint8        *room_id,
                                                   guint64              after_seq);
void              usi_relay_link_unsubscribe      (UsiRelayLink        *self,
                                                   const guint8        *room_id);
guint64           usi_relay_link_get_room_position (UsiRelayLink       *self,
                                                    const guint8       *room_id);

/* Requests.  Each completes when the relay acknowledges (seq, flags) or
 * refuses it (USI_RELAY_REFUSED_ERROR), however many reconnects that takes;
 * cancelling forgets it locally (it may still have reached the relay). */
void              usi_relay_link_create_room_async (UsiRelayLink       *self,
                                                    GBytes             *commit_body,
                                                    GCancellable       *cancellable,
                                                    GAsyncReadyCallback callback,
                                                    gpointer            user_data);
void              usi_relay_link_open_preshared_room_async (UsiRelayLink *self,
                                                            const guint8 *room_id,
                                                            GCancellable *cancellable,
                                                            GAsyncReadyCallback callback,
                                                            gpointer      user_data);
void              usi_relay_link_register_invite_async (UsiRelayLink   *self,
                                                        const guint8   *room_id,
                                                        const guint8   *invite_id,
                                                        guint64         expires_ms,
                                                        GCancellable   *cancellable,
                                                        GAsyncReadyCallback callback,
                                                        gpointer        user_data);
/* `inner_frame` is a whole frame (header included) of type 0x20–0x31;
 * `recipient` NULL for the room. */
void              usi_relay_link_post_async       (UsiRelayLink        *self,
                                                   const guint8        *room_id,
                                                   const guint8        *recipient,
                                                   GBytes              *inner_frame,
                                                   GCancellable        *cancellable,
                                                   GAsyncReadyCallback  callback,
                                                   gpointer             user_data);
gboolean          usi_relay_link_request_finish   (UsiRelayLink        *self,
                                                   GAsyncResult        *result,
                                                   guint64             *seq,     /* may be NULL */
                                                   guint8              *flags,   /* may be NULL */
                                                   GError             **error);
guint             usi_relay_link_get_n_pending    (UsiRelayLink        *self);

/* Signals:
 *   ::deliver (GBytes *room_id, guint64 seq, guint frame_type, GBytes *frame)
 *       one frame of a subscribed room, or one directed to this identity;
 *       `frame` is the whole inner frame, header included.  Emitted in
 *       sequence order per room; the room's position advances after it.
 *   ::subscribed (GBytes *room_id, guint64 latest_seq)
 *   ::subscription-refused (GBytes *room_id, GError *error)
 *   ::connection-lost (GError *reason): each time a connection or an
 *       attempt fails; the state says what happens next.
 *   notify::state */

G_END_DECLS
