/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

#include "protocol/usi-epoch.h"
#include "protocol/usi-file-cipher.h"
#include "protocol/usi-file-offer.h"
#include "protocol/usi-identity.h"
#include "protocol/usi-invite.h"
#include "protocol/usi-join.h"
#include "protocol/usi-owner-group.h"
#include "protocol/usi-preshared-room.h"

G_BEGIN_DECLS

/* The fixed, valid state the processing targets start every input from,
 * built from fixed seeds (so a crash reproduces), and the valid inputs the
 * seed writer derives from the same state.  Test code only. */

/* One file transfer: the key a receiver derived, what the offer said, and
 * what the sender sent.  File 0 fits one chunk, file 1 needs two. */
#define USI_FUZZ_N_FILE_TRANSFERS 2

typedef struct
{
  UsiFileKey  key;
  guint64     size;
  guint8      header[USI_CHUNKED_HEADER_LENGTH];
  guint8     *plaintext;
  UsiFileEnd  end;
  GPtrArray  *chunks;   /* GBytes: the FileChunk bodies, in index order */
} UsiFuzzFileTransfer;

void usi_fuzz_file_transfer_init (UsiFuzzFileTransfer *transfer,
                                  guint                which);

/* A room as its owner built it, seen by one member:
 *   epoch 1: the owner added the member (the welcome);
 *   messages: sealed in epoch 1, by the owner (three, chained) and by the
 *     member itself (one);
 *   commits: epoch 2 adds a third person, epoch 3 rotates, epoch 4 removes
 *     the third person; the member applies them in this order;
 *   messages_epoch2: the owner's two messages of epoch 2;
 *   an invite of the owner, a fourth person's join request for it, and the
 *     owner's refusal of that request;
 *   two LeafUpdates the member made in epoch 1, newest last;
 *   a pre-shared-key room with two other people's messages. */
#define USI_FUZZ_NOW_MS G_GUINT64_CONSTANT (1700000000000)

typedef struct
{
  guint8         room_id[USI_ROOM_ID_LENGTH];
  UsiIdentity   *owner;
  UsiLeafSecret  owner_leaf;
  UsiIdentity   *member;
  UsiLeafSecret  member_leaf;
  GBytes        *welcome;         /* the member's, into epoch 1 */
  GPtrArray     *commits;         /* GBytes: epochs 2, 3, 4 */
  UsiEpoch      *member_epoch;    /* the member's epoch 1, to copy */
  GPtrArray     *messages;        /* GBytes: AppMessage bodies of epoch 1 */
  GPtrArray     *message_texts;   /* GBytes: what each of them says */
  UsiEpoch      *member_epoch2;
  GPtrArray     *messages_epoch2;
  GPtrArray     *message_texts_epoch2;
  UsiInvite     *invite;
  GBytes        *join_request;
  UsiJoinRequest *joiner_request;  /* the joiner's own, as it keeps it */
  UsiLeafSecret  joiner_leaf;
  GBytes        *join_refusal;    /* reason USI_JOIN_REFUSAL_REFUSED */
  GPtrArray     *leaf_updates;    /* GBytes: LeafUpdate bodies */
  GBytes        *preshared_key;
  UsiLeafSecret  preshared_leaf;  /* the receiving member's */
  GPtrArray     *preshared_messages;       /* GBytes: AppMessage bodies */
  GPtrArray     *preshared_message_texts;  /* GBytes */
} UsiFuzzRoom;

/* Built once (the first call), never freed. */
const UsiFuzzRoom *usi_fuzz_room_get        (void);
/* A fresh copy of the member's epoch 1: ratchets as if nothing had been
 * received yet. */
UsiEpoch          *usi_fuzz_room_copy_epoch (const UsiFuzzRoom *room);
/* The same for any epoch. */
UsiEpoch          *usi_fuzz_copy_epoch      (UsiEpoch          *epoch);
/* The owner's side of the room in epoch 1, rebuilt: same room, same owner,
 * the member at the same index (the commits differ from the fixture's). */
UsiOwnerGroup     *usi_fuzz_room_new_owner  (const UsiFuzzRoom *room);
/* A fresh view of the pre-shared-key room by the receiving member. */
UsiPresharedRoom  *usi_fuzz_room_new_preshared (const UsiFuzzRoom *room);
/* TRUE when @data is byte for byte one of @genuine's GBytes; its index in
 * @index. */
gboolean           usi_fuzz_is_one_of       (GPtrArray         *genuine,
                                             const guint8      *data,
                                             gsize              length,
                                             guint             *index);

G_END_DECLS
