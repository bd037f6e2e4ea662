/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "crypto/usi-random.h"

#include "usi-identity.h"
#include "usi-protocol-labels.h"

G_BEGIN_DECLS

/* An invite: the bearer capability an owner hands out of band so that one
 * person can join one room (docs/protocol.md §5).  Its text form is
 * "usi://invite/" followed by the payload in lower-case RFC 4648 base32
 * without padding; reading it is case-insensitive. */

#define USI_INVITE_VERSION            1
#define USI_INVITE_URI_PREFIX         "usi://invite/"
#define USI_INVITE_SECRET_LENGTH      32
#define USI_INVITE_ID_LENGTH          16
#define USI_INVITE_PSK_LENGTH         32
#define USI_INVITE_RELAY_PIN_LENGTH   32     /* SHA-256 of the relay's SubjectPublicKeyInfo */
#define USI_INVITE_MAX_RELAY_ADDRESS  255    /* "host:port" in bytes */
/* The most base32 characters after the prefix that are even decoded; a
 * version 1 payload needs at most 786. */
#define USI_INVITE_MAX_PAYLOAD_CHARS  1024

typedef enum
{
  USI_INVITE_FLAGS_NONE              = 0,
  USI_INVITE_FLAGS_PASSWORD_REQUIRED = 1 << 0,
} UsiInviteFlags;

typedef struct _UsiInvite UsiInvite;

/* A fresh invite with a 256-bit secret drawn from @random.  @relay_address
 * is "host:port" (a DNS name, a dotted IPv4 address or a bracketed IPv6
 * address; letters are lower-cased); @owner_leaf must be the owner's current
 * leaf node and verify. */
UsiInvite         *usi_invite_new                     (UsiRandom          *random,
                                                       UsiInviteFlags      flags,
                                                       const char         *relay_address,
                                                       const guint8       *relay_pin,
                                                       const guint8       *room_id,
                                                       const UsiLeafNode  *owner_leaf,
                                                       guint64             expires_ms,
                                                       GError            **error);
/* Reads an invite as pasted (surrounding white space ignored, any case).
 * Fails with INVITE_CORRUPT for a typo or a truncated copy,
 * UNSUPPORTED_VERSION, TOO_LARGE, MALFORMED (not an invite, or a bad
 * encoder), BAD_SIGNATURE (owner leaf node), or INVITE_EXPIRED when
 * @now_ms is at or past its expiry. */
UsiInvite         *usi_invite_parse                   (const char         *uri,
                                                       guint64             now_ms,
                                                       GError            **error);
void               usi_invite_free                    (UsiInvite          *invite);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiInvite, usi_invite_free)

/* The text to share (it carries the secret: treat it like a password). */
char              *usi_invite_to_uri                  (UsiInvite          *invite);

guint8             usi_invite_get_version             (UsiInvite          *invite);
UsiInviteFlags     usi_invite_get_flags               (UsiInvite          *invite);
gboolean           usi_invite_get_password_required   (UsiInvite          *invite);
/* "host:port" as carried; the host without IPv6 brackets; the port. */
const char        *usi_invite_get_relay_address       (UsiInvite          *invite);
const char        *usi_invite_get_relay_host          (UsiInvite          *invite);
guint16            usi_invite_get_relay_port          (UsiInvite          *invite);
const guint8      *usi_invite_get_relay_pin           (UsiInvite          *invite);
const guint8      *usi_invite_get_room_id             (UsiInvite          *invite);
const guint8      *usi_invite_get_owner_identity_key  (UsiInvite          *invite);
const UsiLeafNode *usi_invite_get_owner_leaf          (UsiInvite          *invite);
guint64            usi_invite_get_expires_ms          (UsiInvite          *invite);
/* What the relay sees of the invite (USI_INVITE_ID_LENGTH bytes). */
const guint8      *usi_invite_get_id                  (UsiInvite          *invite);
/* The HPKE PSK of the join request (USI_INVITE_PSK_LENGTH bytes); secret,
 * never sent anywhere. */
const guint8      *usi_invite_get_psk                 (UsiInvite          *invite);

G_END_DECLS
