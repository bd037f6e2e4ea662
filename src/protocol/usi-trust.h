/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "usi-epoch.h"
#include "usi-protocol-labels.h"

G_BEGIN_DECLS

/* Which identity keys this person verified (compared safety numbers with),
 * and the rule that a verified member's key change is never silent
 * (docs/protocol.md §8.7, row K8).
 *
 * A verification is recorded for a slot: a room and a member's display name
 * in it, compared after NFKC and case folding.  Usi has no accounts: the
 * identity key IS the person, so a key change can only be noticed against
 * something that stays the same while the key changes, and the one thing a
 * person relies on to know who is talking is the name shown in the room.
 * The index is not it: in a pre-shared room it is derived from the key, and
 * an owner may give someone who joins again another index. */

typedef enum
{
  USI_TRUST_UNVERIFIED,  /* never verified under this name, or a change was accepted */
  USI_TRUST_VERIFIED,    /* this very key was verified under this name */
  USI_TRUST_CHANGED,     /* a different key was verified under this name: sending is blocked */
} UsiTrustState;

typedef struct _UsiTrust UsiTrust;

UsiTrust      *usi_trust_new             (void);
void           usi_trust_free            (UsiTrust        *trust);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiTrust, usi_trust_free)

/* The person compared safety numbers with the member @display_name of
 * @room_id, whose key is @identity_key. */
void           usi_trust_mark_verified   (UsiTrust        *trust,
                                          const guint8    *room_id,
                                          const char      *display_name,
                                          const guint8    *identity_key);
/* The person accepts @identity_key for @display_name without verifying it:
 * the member is unverified from now on and sending is no longer blocked. */
void           usi_trust_accept_key      (UsiTrust        *trust,
                                          const guint8    *room_id,
                                          const char      *display_name,
                                          const guint8    *identity_key);

UsiTrustState  usi_trust_get_state       (UsiTrust        *trust,
                                          const guint8    *room_id,
                                          const char      *display_name,
                                          const guint8    *identity_key);
/* FALSE with USI_PROTOCOL_ERROR_KEY_CHANGED, naming the member, when
 * @entry is a verified member appearing with another key. */
gboolean       usi_trust_check_member    (UsiTrust        *trust,
                                          const guint8    *room_id,
                                          const UsiRosterEntry *entry,
                                          GError         **error);
/* Whether the person may send to @roster (UsiRosterEntry): FALSE with
 * KEY_CHANGED for the first member in the state USI_TRUST_CHANGED. */
gboolean       usi_trust_check_can_send  (UsiTrust        *trust,
                                          const guint8    *room_id,
                                          GPtrArray       *roster,
                                          GError         **error);

/* Every record, for the encrypted store to save; restore with
 * usi_trust_mark_verified() / usi_trust_accept_key(). */
typedef void (*UsiTrustFunc) (const guint8 *room_id,
                              const char   *display_name,
                              const guint8 *identity_key,
                              gboolean      verified,
                              gpointer      user_data);
void           usi_trust_foreach         (UsiTrust        *trust,
                                          UsiTrustFunc     func,
                                          gpointer         user_data);

G_END_DECLS
