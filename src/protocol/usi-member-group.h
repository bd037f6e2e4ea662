/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "crypto/usi-random.h"

#include "usi-epoch.h"
#include "usi-group-info.h"
#include "usi-identity.h"

G_BEGIN_DECLS

/* A member's side of a room (docs/protocol.md §7): entered from a Welcome,
 * then follows the owner's Commits one epoch at a time, refusing anything
 * not signed by the owner pinned at join, not for exactly the next epoch, not
 * chained to the last commit, with an invalid roster or a confirmation that
 * does not match.  Keeps its current and previous epoch (the message layer
 * accepts the previous one for in-flight messages).  On any error the state
 * is unchanged.  Nothing here sends anything. */
typedef struct _UsiMemberGroup UsiMemberGroup;

typedef enum
{
  USI_MEMBER_COMMIT_APPLIED,   /* a new current epoch */
  USI_MEMBER_COMMIT_REMOVED,   /* the owner removed this member: no new epoch, ever */
} UsiMemberCommitOutcome;

/* Builds the member's state from a Welcome body.  @room_id and
 * @owner_identity_key come from the invite; @identity and @own_leaf are the
 * ones the join request carried (both copied, the leaf's private key wiped
 * with the group).  @password_psk (USI_KEY_LENGTH bytes) is needed when the
 * room has a password.  Nothing is created unless every check passes. */
UsiMemberGroup *usi_member_group_new_from_welcome  (const guint8          *body,
                                                    gsize                  length,
                                                    const guint8          *room_id,
                                                    const guint8          *owner_identity_key,
                                                    UsiIdentity           *identity,
                                                    const UsiLeafSecret   *own_leaf,
                                                    const guint8          *password_psk,
                                                    GError               **error);
void            usi_member_group_free              (UsiMemberGroup        *group);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiMemberGroup, usi_member_group_free)

/* Processes a Commit body.  Errors: DUPLICATE (this very commit was already
 * applied), WRONG_EPOCH (older), CHAIN_BROKEN (another commit for the
 * current epoch, or not chained to it), EPOCH_NOT_YET (a commit is missing
 * before it), NOT_OWNER, BAD_SIGNATURE, ROSTER_INVALID, NOT_ALLOWED,
 * DECRYPTION_FAILED, BAD_CONFIRMATION, NOT_MEMBER once removed. */
gboolean        usi_member_group_process_commit    (UsiMemberGroup        *group,
                                                    const guint8          *body,
                                                    gsize                  length,
                                                    UsiMemberCommitOutcome *outcome,
                                                    GError               **error);

/* A LeafUpdate body with a fresh leaf key (sequence one above the newest this
 * member made).  The private key is kept until a commit uses it, then the
 * older ones are wiped.  NOT_ALLOWED past USI_MEMBER_MAX_PENDING_UPDATES
 * updates not yet committed.  @now_ms is the leaf node's creation time. */
#define USI_MEMBER_MAX_PENDING_UPDATES 8
GBytes         *usi_member_group_create_leaf_update (UsiMemberGroup       *group,
                                                     UsiRandom            *random,
                                                     guint64               now_ms,
                                                     GError              **error);
guint           usi_member_group_get_n_pending_updates (UsiMemberGroup    *group);

/* Counts one application message of @epoch (only the current epoch's
 * count).  Returns usi_member_group_is_rotation_pending(). */
gboolean        usi_member_group_note_message      (UsiMemberGroup        *group,
                                                    guint64                epoch,
                                                    guint32                sender_index);
/* TRUE once the current epoch carried the room's rotation interval of
 * messages and the owner has not rotated yet (e.g. it is offline): members
 * keep sending; the UI may say "rotation pending". */
gboolean        usi_member_group_is_rotation_pending (UsiMemberGroup      *group);

gboolean        usi_member_group_is_removed        (UsiMemberGroup        *group);
guint32         usi_member_group_get_own_index     (UsiMemberGroup        *group);
const UsiLeafNode *usi_member_group_get_leaf_node  (UsiMemberGroup        *group);
const guint8   *usi_member_group_get_room_id       (UsiMemberGroup        *group);
const UsiGroupInfo *usi_member_group_get_group_info (UsiMemberGroup       *group);
UsiEpoch       *usi_member_group_get_epoch         (UsiMemberGroup        *group);
/* NULL until the first commit after joining. */
UsiEpoch       *usi_member_group_get_previous_epoch (UsiMemberGroup       *group);
/* Drops this group's reference to the previous epoch (its keys are wiped
 * once the message layer lets go of it too), e.g. when the message
 * layer's grace period for it ends. */
void            usi_member_group_forget_previous_epoch (UsiMemberGroup      *group);
/* The current or previous epoch numbered @number, or NULL. */
UsiEpoch       *usi_member_group_lookup_epoch      (UsiMemberGroup        *group,
                                                    guint64                number);

/* The member's state (§12) but its identity: owner key, password PSK,
 * GroupInfo, current and previous epochs, own index, leaf secret, pending
 * leaf secrets, removed flag, message count.  Secret bytes.  Restore takes
 * the identity (copied) and checks the roster lists it at its index
 * (NOT_MEMBER) unless removed, and the leaf secrets are its own and match
 * their keys; otherwise as usi_owner_group_restore(). */
GBytes         *usi_member_group_save              (UsiMemberGroup        *group);
UsiMemberGroup *usi_member_group_restore           (UsiIdentity           *identity,
                                                    const guint8          *data,
                                                    gsize                  length,
                                                    GError               **error);

G_END_DECLS
