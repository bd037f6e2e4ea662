/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "crypto/usi-hpke.h"
#include "crypto/usi-random.h"

#include "usi-group-info.h"
#include "usi-identity.h"

G_BEGIN_DECLS

/* Commit (USI_FRAME_COMMIT body, docs/protocol.md §7): the owner's signed
 * move from epoch n to epoch n + 1, with the full roster of n + 1 and a fresh
 * commit_secret sealed to every member present in both epochs.  This unit is
 * the structure: encoding, signature, sealing and opening of deliveries, and
 * the transcript hashes.  Who may send one, and when a member accepts it, is
 * UsiMemberGroup's part. */

#define USI_COMMIT_VERSION 1

typedef enum
{
  USI_COMMIT_REASON_CREATE = 0,  /* epoch 0: the owner alone */
  USI_COMMIT_REASON_ADD    = 1,
  USI_COMMIT_REASON_REMOVE = 2,
  USI_COMMIT_REASON_UPDATE = 3,  /* a member's new leaf key */
  USI_COMMIT_REASON_ROTATE = 4,  /* fresh keys, same roster */
} UsiCommitReason;

#define USI_COMMIT_SEALED_SECRET_LENGTH (USI_KEY_LENGTH + USI_HPKE_TAG_LENGTH)

/* commit_secret for the member at @index, sealed to its leaf key. */
typedef struct
{
  guint32 index;
  guint8  enc[USI_HPKE_ENC_LENGTH];
  guint8  ciphertext[USI_COMMIT_SEALED_SECRET_LENGTH];
} UsiCommitDelivery;

typedef struct
{
  guint8           room_id[USI_ROOM_ID_LENGTH];
  guint64          epoch;                                 /* the new epoch, n + 1 */
  guint32          committer_index;                       /* USI_OWNER_INDEX */
  guint8           prev_commit_hash[USI_HASH_LENGTH];     /* zeros for epoch 0 */
  UsiCommitReason  reason;
  GPtrArray       *roster;                                /* UsiRosterEntry of epoch n + 1 */
  UsiRoomConfig    config;
  GArray          *deliveries;                            /* UsiCommitDelivery, sorted by index */
  guint8           signature[USI_SIGNATURE_LENGTH];
  guint8           confirmation_tag[USI_HASH_LENGTH];
} UsiCommit;

UsiCommit *usi_commit_new                  (void);
void       usi_commit_free                 (UsiCommit          *commit);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiCommit, usi_commit_free)

/* The whole body. */
GBytes    *usi_commit_encode               (const UsiCommit    *commit);
/* Canonical decoding with the structural checks: version, known reason
 * (CREATE exactly for epoch 0), roster (usi_roster_read), config, deliveries
 * strictly increasing and no more than the roster.  No signature is checked. */
UsiCommit *usi_commit_decode               (const guint8       *body,
                                            gsize               length,
                                            GError            **error);

/* SHA-256 of every field before the deliveries: the AAD of each sealed
 * commit_secret, so a delivery cannot be moved to another commit. */
gboolean   usi_commit_compute_header_hash  (const UsiCommit    *commit,
                                            guint8             *hash,
                                            GError            **error);
/* Seals @commit_secret to @leaf_key for the member at @index into @delivery. */
gboolean   usi_commit_seal_delivery        (const UsiCommit    *commit,
                                            const guint8       *header_hash,
                                            guint32             index,
                                            const guint8       *leaf_key,
                                            const guint8       *commit_secret,
                                            UsiRandom          *random,
                                            UsiCommitDelivery  *delivery,
                                            GError            **error);
/* The delivery for @index, or NULL. */
const UsiCommitDelivery *usi_commit_lookup_delivery (const UsiCommit *commit,
                                                     guint32          index);
/* DECRYPTION_FAILED when it does not open with @private_key. */
gboolean   usi_commit_open_delivery        (const UsiCommit         *commit,
                                            const guint8            *header_hash,
                                            const UsiCommitDelivery *delivery,
                                            const guint8            *private_key,
                                            guint8                  *commit_secret,
                                            GError                 **error);

/* SignWithLabel(IK, "CommitTBS", V<GroupContext_n> ‖ every field up to the
 * signature).  @previous_group_context is empty for epoch 0. */
gboolean   usi_commit_sign                 (UsiCommit          *commit,
                                            UsiIdentity        *identity,
                                            GBytes             *previous_group_context,
                                            GError            **error);
/* BAD_SIGNATURE unless signed by @identity_key over @previous_group_context. */
gboolean   usi_commit_verify               (const UsiCommit    *commit,
                                            const guint8       *identity_key,
                                            GBytes             *previous_group_context,
                                            GError            **error);

/* confirmed_transcript_hash_{n+1} = SHA-256(interim_transcript_hash_n ‖
 * every field up to and including the signature).  @previous_interim is
 * NULL (empty) for epoch 0. */
gboolean   usi_commit_compute_confirmed_transcript_hash (const UsiCommit *commit,
                                                         const guint8    *previous_interim,
                                                         guint8          *hash,
                                                         GError         **error);
/* SHA-256 of the whole body: the next commit's prev_commit_hash. */
gboolean   usi_commit_compute_hash         (const UsiCommit    *commit,
                                            guint8             *hash,
                                            GError            **error);

/* The public description of the epoch this commit creates, given the
 * confirmed transcript hash computed for it. */
UsiGroupInfo *usi_commit_build_group_info  (const UsiCommit    *commit,
                                            const guint8       *confirmed_transcript_hash,
                                            GError            **error);

/* §7.8 steps 2–7, the commit's place in the chain after `current`: the
 * room (WRONG_ROOM), the owner as committer (NOT_OWNER), not a past epoch
 * (WRONG_EPOCH), not the current one again (DUPLICATE) or a second one
 * for it (CHAIN_BROKEN), none missing (EPOCH_NOT_YET), and
 * prev_commit_hash (CHAIN_BROKEN).  Shared by members and the relay. */
gboolean   usi_commit_check_follows        (const UsiCommit    *commit,
                                            const UsiGroupInfo *current,
                                            GError            **error);

/* The checks a member (and the relay, which has no key) makes of the next
 * roster against the previous one (§7.8 steps 10–13): keys unique, the
 * owner at 0, who stays keeps identity and name, a changed leaf has a
 * higher sequence, the change is what `reason` allows, new or changed leaf
 * nodes verify (ROSTER_INVALID, BAD_SIGNATURE). */
gboolean   usi_commit_check_roster_change  (const UsiCommit    *commit,
                                            GPtrArray          *previous_roster,
                                            const guint8       *owner_key,
                                            GError            **error);
/* §7.8 step 16: exactly the members present in both epochs, but the owner,
 * get one delivery each (ROSTER_INVALID). */
gboolean   usi_commit_check_deliveries     (const UsiCommit    *commit,
                                            GPtrArray          *previous_roster,
                                            GError            **error);

G_END_DECLS
