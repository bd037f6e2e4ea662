/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "crypto/usi-mls-key-schedule.h"

#include "usi-epoch.h"
#include "usi-protocol-labels.h"
#include "usi-wire.h"

G_BEGIN_DECLS

/* The owner is always the member at this index: it creates the room there and
 * can never be removed. */
#define USI_OWNER_INDEX                        0

#define USI_ROOM_CONFIG_DEFAULT_ROTATE_AFTER   100
#define USI_ROOM_CONFIG_MAX_ROTATE_AFTER       1000000

/* How far a sender's ratchet may jump ahead, and how many skipped keys each
 * ratchet keeps, in the epochs built here (research §3.9: MAX_SKIPPED). */
#define USI_GROUP_MAX_FORWARD_JUMP             1000

/* The room settings every member agrees on; carried by every commit and
 * welcome, and mixed into the GroupContext as its only extension. */
typedef struct
{
  guint32  rotate_after_messages;  /* the owner rotates after this many application messages */
  gboolean password_required;      /* the room password is mixed into every epoch */
} UsiRoomConfig;

void                  usi_room_config_init_default   (UsiRoomConfig       *config);
void                  usi_room_config_write          (const UsiRoomConfig *config,
                                                      GByteArray          *out);
/* MALFORMED for a rotation interval outside 1 … USI_ROOM_CONFIG_MAX_ROTATE_AFTER. */
gboolean              usi_room_config_read           (UsiWireReader       *reader,
                                                      UsiRoomConfig       *config,
                                                      GError             **error);

/* The roster of an epoch: V<RosterEntry> with RosterEntry { u32 index,
 * LeafNode leaf, V<UTF-8> display_name }.  Reading refuses an empty roster,
 * more than USI_MAX_MEMBERS entries, indices not strictly increasing or not
 * below USI_MAX_MEMBERS (ROSTER_INVALID) and names that
 * usi_display_name_normalize() would change (MALFORMED).  Leaf signatures
 * are not checked here: see usi_roster_verify_leaves(). */
void                  usi_roster_write               (GPtrArray           *roster,
                                                      GByteArray          *out);
GPtrArray            *usi_roster_read                (UsiWireReader       *reader,
                                                      GError             **error);
/* ROSTER_INVALID when two entries share an identity key or a leaf key. */
/* Entry 0 exists and holds the owner's identity key (ROSTER_INVALID). */
gboolean              usi_roster_check_owner         (GPtrArray           *roster,
                                                      const guint8        *owner_key,
                                                      GError             **error);
gboolean              usi_roster_check_unique_keys   (GPtrArray           *roster,
                                                      GError             **error);
/* BAD_SIGNATURE unless every leaf node's signature verifies. */
gboolean              usi_roster_verify_leaves       (GPtrArray           *roster,
                                                      GError             **error);
/* NULL when no entry has @index; @roster sorted by index. */
const UsiRosterEntry *usi_roster_lookup              (GPtrArray           *roster,
                                                      guint32              index);
/* The lowest index no entry uses. */
guint32               usi_roster_get_free_index      (GPtrArray           *roster);
GPtrArray            *usi_roster_copy                (GPtrArray           *roster);

/* The public description of one epoch: everything but its secrets.  The
 * owner and every member hold one for their current epoch; a welcome carries
 * it to a joiner (RFC 9420's GroupInfo, flattened). */
typedef struct
{
  guint8         room_id[USI_ROOM_ID_LENGTH];
  guint64        epoch;
  GPtrArray     *roster;                                      /* UsiRosterEntry, sorted by index */
  UsiRoomConfig  config;
  guint8         confirmed_transcript_hash[USI_HASH_LENGTH];
  guint8         confirmation_tag[USI_HASH_LENGTH];
  guint8         commit_hash[USI_HASH_LENGTH];                /* SHA-256 of the commit that made this epoch */
} UsiGroupInfo;

UsiGroupInfo         *usi_group_info_new             (void);
UsiGroupInfo         *usi_group_info_copy            (const UsiGroupInfo  *info);
void                  usi_group_info_free            (UsiGroupInfo        *info);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiGroupInfo, usi_group_info_free)

void                  usi_group_info_write           (const UsiGroupInfo  *info,
                                                      GByteArray          *out);
UsiGroupInfo         *usi_group_info_read            (UsiWireReader       *reader,
                                                      GError             **error);

/* The serialized RFC 9420 GroupContext of the epoch: tree_hash = SHA-256 of
 * the roster's encoding, extensions = the room config extension. */
GBytes               *usi_group_info_build_group_context (const UsiGroupInfo *info,
                                                          GError            **error);
/* interim_transcript_hash = SHA-256(confirmed_transcript_hash ‖ V<confirmation_tag>). */
gboolean              usi_group_info_compute_interim_transcript_hash (const UsiGroupInfo *info,
                                                                      guint8             *hash,
                                                                      GError            **error);

/* The key schedule of the epoch @info describes.  Exactly one of
 * (@init_secret with @commit_secret) and @joiner_secret is given.
 * @password_psk (USI_KEY_LENGTH bytes) is given exactly when
 * info->config.password_required (else NOT_ALLOWED / PASSWORD_REQUIRED).
 * @group_context receives the epoch's GroupContext. */
gboolean              usi_group_info_derive_secrets  (const UsiGroupInfo  *info,
                                                      const guint8        *init_secret,
                                                      const guint8        *commit_secret,
                                                      const guint8        *joiner_secret,
                                                      const guint8        *password_psk,
                                                      GBytes             **group_context,
                                                      UsiMlsEpochSecrets  *secrets,
                                                      GError             **error);
/* MAC(confirmation_key, confirmed_transcript_hash) into @tag. */
gboolean              usi_group_info_compute_confirmation_tag (const UsiGroupInfo       *info,
                                                               const UsiMlsEpochSecrets *secrets,
                                                               guint8                   *tag,
                                                               GError                  **error);
/* BAD_CONFIRMATION unless info->confirmation_tag is the tag @secrets give;
 * compared in constant time. */
gboolean              usi_group_info_check_confirmation_tag   (const UsiGroupInfo       *info,
                                                               const UsiMlsEpochSecrets *secrets,
                                                               GError                  **error);
/* The UsiEpoch of @info for the member at @own_index. */
UsiEpoch             *usi_group_info_new_epoch       (const UsiGroupInfo       *info,
                                                      GBytes                   *group_context,
                                                      const UsiMlsEpochSecrets *secrets,
                                                      guint32                   own_index,
                                                      GError                  **error);

G_END_DECLS
