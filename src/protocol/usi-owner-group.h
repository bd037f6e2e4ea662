/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "crypto/usi-random.h"

#include "usi-epoch.h"
#include "usi-group-info.h"
#include "usi-identity.h"

G_BEGIN_DECLS

/* The owner's side of a room (docs/protocol.md §7): the only member who
 * changes the roster and the keys.  Every change (create, add, remove, leaf
 * update, rotation) produces a signed Commit body (USI_FRAME_COMMIT) for the
 * members, a Welcome body (USI_FRAME_WELCOME) for each new member, and a new
 * epoch for the owner.  The owner keeps its current and previous epoch.  On
 * any error the state is unchanged.  Nothing here sends anything. */
typedef struct _UsiOwnerGroup UsiOwnerGroup;

/* Epoch 0 with the owner alone at USI_OWNER_INDEX.  @password_psk
 * (USI_KEY_LENGTH bytes, from the room password; see the join section) is
 * given exactly when @config->password_required.  @identity is copied.
 * @commit receives the genesis commit (reason CREATE). */
UsiOwnerGroup *usi_owner_group_create              (UsiIdentity          *identity,
                                                    const UsiLeafNode    *own_leaf,
                                                    const char           *display_name,
                                                    const guint8         *room_id,
                                                    const UsiRoomConfig  *config,
                                                    const guint8         *password_psk,
                                                    UsiRandom            *random,
                                                    GBytes              **commit,
                                                    GError              **error);
void           usi_owner_group_free                (UsiOwnerGroup        *group);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiOwnerGroup, usi_owner_group_free)

/* Adds a joiner whose join request was verified and approved: its leaf node
 * (verified again here) and display name (normalized here).  Fails with
 * ROSTER_INVALID when that person or leaf key is already in the room,
 * NOT_ALLOWED when the room is full.  @index receives the joiner's index. */
gboolean       usi_owner_group_add_member          (UsiOwnerGroup        *group,
                                                    const UsiLeafNode    *leaf,
                                                    const char           *display_name,
                                                    UsiRandom            *random,
                                                    guint32              *index,
                                                    GBytes              **commit,
                                                    GBytes              **welcome,
                                                    GError              **error);
/* NOT_MEMBER for an index not in the room, NOT_ALLOWED for the owner's own. */
gboolean       usi_owner_group_remove_member       (UsiOwnerGroup        *group,
                                                    guint32               index,
                                                    UsiRandom            *random,
                                                    GBytes              **commit,
                                                    GError              **error);
/* Fresh keys for the same roster. */
gboolean       usi_owner_group_rotate              (UsiOwnerGroup        *group,
                                                    UsiRandom            *random,
                                                    GBytes              **commit,
                                                    GError              **error);
/* Checks a member's LeafUpdate body and commits it at once (reason UPDATE),
 * so the new epoch's commit_secret is sealed to the new leaf key. */
gboolean       usi_owner_group_apply_leaf_update   (UsiOwnerGroup        *group,
                                                    const guint8         *body,
                                                    gsize                 length,
                                                    UsiRandom            *random,
                                                    GBytes              **commit,
                                                    GError              **error);

/* The rotation interval the next commit carries (1 …
 * USI_ROOM_CONFIG_MAX_ROTATE_AFTER); call usi_owner_group_rotate() to
 * publish it at once. */
gboolean       usi_owner_group_set_rotate_after    (UsiOwnerGroup        *group,
                                                    guint32               messages,
                                                    GError              **error);
/* Counts one application message the owner saw (sent or received, already
 * authenticated by the message layer).  Messages of other epochs than the
 * current one do not count.  Returns usi_owner_group_is_rotation_due(). */
gboolean       usi_owner_group_note_message        (UsiOwnerGroup        *group,
                                                    guint64               epoch,
                                                    guint32               sender_index);
/* TRUE once the current epoch has carried the configured number of
 * application messages: the owner should rotate. */
gboolean       usi_owner_group_is_rotation_due     (UsiOwnerGroup        *group);
guint32        usi_owner_group_get_message_count   (UsiOwnerGroup        *group);

const guint8  *usi_owner_group_get_room_id         (UsiOwnerGroup        *group);
const UsiRoomConfig *usi_owner_group_get_config    (UsiOwnerGroup        *group);
const UsiGroupInfo  *usi_owner_group_get_group_info (UsiOwnerGroup       *group);
UsiEpoch      *usi_owner_group_get_epoch           (UsiOwnerGroup        *group);
/* NULL right after creation. */
UsiEpoch      *usi_owner_group_get_previous_epoch  (UsiOwnerGroup        *group);
/* Drops this group's reference to the previous epoch (its keys are wiped
 * once the message layer lets go of it too), e.g. when the message
 * layer's grace period for it ends. */
void           usi_owner_group_forget_previous_epoch (UsiOwnerGroup      *group);
/* The current or previous epoch numbered @number, or NULL. */
UsiEpoch      *usi_owner_group_lookup_epoch        (UsiOwnerGroup        *group,
                                                    guint64               number);

/* The owner's state (§12) but its identity: password PSK, GroupInfo, the
 * current and previous epochs (usi_epoch_save), next settings, message
 * count.  Secret bytes.  Restore takes the identity (copied) and checks it
 * is the roster's owner (NOT_OWNER), that the current epoch is the one the
 * GroupInfo describes (MALFORMED, BAD_CONFIRMATION) and the previous one
 * comes right before it; MALFORMED, UNSUPPORTED_VERSION.  The owner's leaf
 * secrets (for the invite book) are not part of it. */
GBytes        *usi_owner_group_save                (UsiOwnerGroup        *group);
UsiOwnerGroup *usi_owner_group_restore             (UsiIdentity          *identity,
                                                    const guint8         *data,
                                                    gsize                 length,
                                                    GError              **error);

/* Internal to the §12 records of the owner and the members. */
/* A nested V<epoch state>, restored. */
UsiEpoch      *_usi_state_read_epoch               (UsiWireReader        *reader,
                                                    GError              **error);
/* @epoch is the one @info describes, as the member at @own_index holds it:
 * the same GroupContext (so the same roster, settings and transcript), the
 * same roster entries, and secrets that give the confirmation tag the
 * owner published (BAD_CONFIRMATION); MALFORMED otherwise. */
gboolean       _usi_state_check_current_epoch      (const UsiGroupInfo   *info,
                                                    UsiEpoch             *epoch,
                                                    guint32               own_index,
                                                    GError              **error);
/* @previous is the epoch before @current, of the same room and member. */
gboolean       _usi_state_check_previous_epoch     (UsiEpoch             *current,
                                                    UsiEpoch             *previous,
                                                    GError              **error);

G_END_DECLS
