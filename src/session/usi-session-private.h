/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "crypto/usi-random.h"
#include "protocol/usi-identity.h"
#include "protocol/usi-trust.h"
#include "usi-session.h"

G_BEGIN_DECLS

/* What a room borrows from its session; valid while the session lives
 * (the session detaches its rooms before it goes). */
UsiIdentity *_usi_session_get_identity        (UsiSession   *self);
UsiRandom   *_usi_session_get_random          (UsiSession   *self);
UsiTrust    *_usi_session_get_trust           (UsiSession   *self);
/* The safety number and comparison emoji shared with `identity_key`,
 * cached per key (each costs 2 × 5200 SHA-512 rounds). */
gboolean     _usi_session_get_safety_number   (UsiSession   *self,
                                               const guint8 *identity_key,
                                               const char  **safety_number,
                                               const char  **emoji);
/* Saves the trust records when the session keeps state. */
void         _usi_session_save_trust          (UsiSession   *self);

/* Whether rooms and history are kept (not in keep-nothing mode). */
gboolean     _usi_session_keeps_state         (UsiSession   *self);
/* Writes one encrypted record of the session's store. */
gboolean     _usi_session_put_record          (UsiSession   *self,
                                               const char   *id,
                                               GBytes       *bytes,
                                               GError      **error);
/* The link to `address` with `pin` (NULL: unpinned), made on first use. */
struct _UsiRelayLink;
struct _UsiRelayLink *_usi_session_get_link   (UsiSession   *self,
                                               const char   *address,
                                               const guint8 *pin);

G_END_DECLS
