/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "crypto/usi-random.h"

#include "usi-epoch.h"
#include "usi-identity.h"
#include "usi-message.h"
#include "usi-message-channel.h"

G_BEGIN_DECLS

/* Pre-shared-key rooms (USI's --cle; docs/protocol.md §9).  Everyone who
 * has the key derives the same single epoch; members announce themselves in
 * every message they send; each sender still has its own ratchet and signs
 * what it sends.
 *
 * What this mode CANNOT do, by construction (usi_preshared_room_get_limits()
 * says it to the person): nobody can be removed, keys never rotate so a leak
 * is never healed, and anyone who has the key, now or at any time later,
 * reads every message ever sent in the room (the relay keeps them).
 * Operations that need an owner fail with USI_PROTOCOL_ERROR_NOT_ALLOWED. */

/* Accepted key sizes, in bytes (128, 192, 256 bits). */
#define USI_PRESHARED_KEY_MIN_LENGTH 16
#define USI_PRESHARED_KEY_MAX_LENGTH 32
/* Member indices are below this: the width of the room's secret tree. */
#define USI_PRESHARED_INDEX_LIMIT    (1u << 31)
/* Skipped generations a receiver keeps per sender, and the largest jump. */
#define USI_PRESHARED_MAX_FORWARD_JUMP (2 * USI_MESSAGE_MAX_JUMP)

/* Reads a key typed or pasted by a person: hexadecimal, or base64 (standard
 * or URL-safe, with or without padding), surrounding white space ignored.
 * Exactly 128, 192 or 256 bits; a key whose bytes are all the same is
 * refused as not random.  Fails with USI_PROTOCOL_ERROR_MALFORMED and a
 * message saying what is wrong.  The result is wiped when freed. */
GBytes           *usi_preshared_key_parse          (const char        *text,
                                                    GError           **error);
/* A new 256-bit key as URL-safe base64 without padding (43 characters). */
char             *usi_preshared_key_generate       (UsiRandom         *random,
                                                    GError           **error);

/* The index of the member with @identity_key in the room @room_id: 31 bits
 * of SHA-256 ("usi 1.0 preshared member index" ‖ room_id ‖ identity_key),
 * so every member computes everyone's index alone (§9.3). */
guint32           usi_preshared_member_index       (const guint8      *room_id,
                                                    const guint8      *identity_key);

/* The room id that @key (from usi_preshared_key_parse()) derives. */
gboolean          usi_preshared_key_derive_room_id (GBytes            *key,
                                                    guint8            *room_id,
                                                    GError           **error);

typedef struct _UsiPresharedRoom UsiPresharedRoom;

/* This member's view of the room of @key.  @own_leaf must be signed by the
 * identity this member seals with; @display_name must already be normalized
 * (usi_display_name_normalize()). */
UsiPresharedRoom *usi_preshared_room_new           (GBytes            *key,
                                                    const UsiLeafNode *own_leaf,
                                                    const char        *display_name,
                                                    GError           **error);
void              usi_preshared_room_free          (UsiPresharedRoom  *room);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiPresharedRoom, usi_preshared_room_free)

/* The fixed epoch 0 (mode USI_ROOM_MODE_PRESHARED): room id, GroupContext,
 * secrets and exporter.  Its roster holds this member only; the members
 * seen so far are usi_preshared_room_get_members(). */
UsiEpoch         *usi_preshared_room_get_epoch     (UsiPresharedRoom  *room);
const guint8     *usi_preshared_room_get_room_id   (UsiPresharedRoom  *room);
guint32           usi_preshared_room_get_own_index (UsiPresharedRoom  *room);
/* UsiRosterEntry of every member seen (this one included), sorted by
 * index.  Do not modify. */
GPtrArray        *usi_preshared_room_get_members   (UsiPresharedRoom  *room);

/* The channel the room's messages go through. */
UsiMessageChannel *usi_preshared_room_get_channel  (UsiPresharedRoom  *room);

GBytes           *usi_preshared_room_seal          (UsiPresharedRoom  *room,
                                                    UsiIdentity       *sender,
                                                    UsiContentType     content_type,
                                                    const guint8      *body,
                                                    gsize              body_length,
                                                    guint64            sent_ms,
                                                    UsiRandom         *random,
                                                    GError           **error);
/* Opens a message and records its sender among the members.  A second
 * identity whose index is taken fails with ROSTER_INVALID (§9.3). */
UsiReceivedMessage *usi_preshared_room_open        (UsiPresharedRoom  *room,
                                                    const guint8      *data,
                                                    gsize              length,
                                                    guint64            now_ms,
                                                    GError           **error);

/* Always NOT_ALLOWED: these need an owner, and this mode has none. */
gboolean          usi_preshared_room_remove_member (UsiPresharedRoom  *room,
                                                    guint32            index,
                                                    GError           **error);
gboolean          usi_preshared_room_rotate        (UsiPresharedRoom  *room,
                                                    GError           **error);

/* What this mode cannot do, translated, for the front end to show before a
 * room is created or joined with a key. */
const char       *usi_preshared_room_get_limits    (void);

/* The whole room (§12): the key (the key is the room), this member's leaf
 * node and name, the members seen, and its channel with every sender's
 * ratchet.  Secret bytes.  Restore: MALFORMED, UNSUPPORTED_VERSION. */
GBytes           *usi_preshared_room_save          (UsiPresharedRoom  *room);
UsiPresharedRoom *usi_preshared_room_restore       (const guint8      *data,
                                                    gsize              length,
                                                    GError           **error);

G_END_DECLS
