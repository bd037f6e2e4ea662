/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <gio/gio.h>

#include "store/usi-store.h"
#include "usi-room.h"

G_BEGIN_DECLS

/* The one object every front end drives (docs/protocol.md §5–§11 put to
 * work): this person's identity and display name, its rooms, the links to
 * relays, and an in-process relay when it hosts one.  Everything here is
 * asynchronous and runs on the thread-default main context it was created
 * on; slow work (scrypt, the disk) runs in threads. */

typedef struct
{
  const char *room_name;          /* a local label; NULL: "Room" */
  const char *listen_address;     /* host an in-process relay here ("127.0.0.1:0", "0.0.0.0:12800"), or NULL */
  const char *relay_address;      /* or use this relay ("HOST:PORT") … */
  const guint8 *relay_pin;        /* … whose pin is this (32 bytes) */
  const char *password;           /* NULL: no room password */
  const char *preshared_key;      /* NULL: an owned room; else a pre-shared key room (§9) */
  guint       rotate_after;       /* 0: the default (100) */
} UsiHostOptions;

#define USI_TYPE_SESSION (usi_session_get_type ())
G_DECLARE_FINAL_TYPE (UsiSession, usi_session, USI, SESSION, GObject)

/* Loads this person's identity from `store` (or creates and stores one).
 * `display_name` is normalized (usi_display_name_normalize); invalid →
 * USI_PROTOCOL_ERROR_MALFORMED. */
void         usi_session_new_async          (UsiStore            *store,
                                             const char          *display_name,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data);
UsiSession  *usi_session_new_finish         (GAsyncResult        *result,
                                             GError             **error);

const char  *usi_session_get_display_name   (UsiSession          *self);
const guint8 *usi_session_get_identity_key  (UsiSession          *self);
GListModel  *usi_session_get_rooms          (UsiSession          *self);   /* UsiRoom */

/* The in-process relay, once hosting with a listen address: "HOST:PORT"
 * it listens on, and its pin as 64 hex digits; NULL otherwise. */
const char  *usi_session_get_relay_listen_address (UsiSession    *self);
const char  *usi_session_get_relay_pin      (UsiSession          *self);

/* Creates a room (owned, or pre-shared with options->preshared_key) and
 * joins it; starts the in-process relay first when listen_address is set. */
void         usi_session_host_async         (UsiSession          *self,
                                             const UsiHostOptions *options,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data);
UsiRoom     *usi_session_host_finish        (UsiSession          *self,
                                             GAsyncResult        *result,
                                             GError             **error);

/* Joins with an invite (and the room password if it has one).  The room is
 * added to the rooms model at once (::room-added; state CONNECTING, then
 * WAITING_FOR_OWNER or JOINING); completes when joined, or fails with the
 * reason (INVITE_USED, WRONG_PASSWORD, …; the room is then removed). */
void         usi_session_join_async         (UsiSession          *self,
                                             const char          *invite_text,
                                             const char          *password,
                                             GCancellable        *cancellable,
                                             GAsyncReadyCallback  callback,
                                             gpointer             user_data);
/* Joins a pre-shared key room at a relay.  With `relay_pin` NULL the relay
 * is not authenticated (the key still protects every message, §9); the
 * room then emits a ::warning saying so, with the relay's pin. */
void         usi_session_join_preshared_async (UsiSession        *self,
                                               const char        *key_text,
                                               const char        *relay_address,
                                               const guint8      *relay_pin,
                                               GCancellable      *cancellable,
                                               GAsyncReadyCallback callback,
                                               gpointer           user_data);
UsiRoom     *usi_session_join_finish        (UsiSession          *self,
                                             GAsyncResult        *result,
                                             GError             **error);

/* Drops every relay connection and lets the links reconnect at once (the
 * app's "reconnect now"; tests use it to cut a connection). */
void         usi_session_reconnect          (UsiSession          *self);

/* Works offline (FALSE) or online again (TRUE): while offline no relay is
 * contacted; messages and commits wait and go out when back online. */
void         usi_session_set_online         (UsiSession          *self,
                                             gboolean             online);

/* Closes every room and link, and stops the in-process relay. */
void         usi_session_shutdown           (UsiSession          *self);

/* Signals:
 *   ::room-added (UsiRoom *room)
 *   ::connection-changed (const char *relay_address, gboolean connected, GError *error)
 *       a link to a relay was lost (error set) or came back */

G_END_DECLS
