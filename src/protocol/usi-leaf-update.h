/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "usi-identity.h"
#include "usi-protocol-labels.h"

G_BEGIN_DECLS

/* LeafUpdate (USI_FRAME_LEAF_UPDATE body, docs/protocol.md §7): a member's
 * new leaf node, sent to the owner, who makes the next commit seal to it.
 * Signed by the member's identity and bound to the room, the sender's epoch
 * and its index, so it cannot be replayed into another room. */

#define USI_LEAF_UPDATE_VERSION 1

typedef struct
{
  guint8      room_id[USI_ROOM_ID_LENGTH];
  guint64     epoch;                             /* the sender's current epoch */
  guint32     sender_index;
  UsiLeafNode leaf;
  guint8      signature[USI_SIGNATURE_LENGTH];
} UsiLeafUpdate;

#define USI_LEAF_UPDATE_ENCODED_LENGTH \
  (1 + USI_ROOM_ID_LENGTH + 8 + 4 + USI_LEAF_NODE_ENCODED_LENGTH + USI_SIGNATURE_LENGTH)

/* Fills @update->signature: SignWithLabel(IK, "LeafUpdateTBS", every field
 * before the signature).  @identity must be the leaf node's. */
gboolean usi_leaf_update_sign   (UsiLeafUpdate        *update,
                                 UsiIdentity          *identity,
                                 GError              **error);
GBytes  *usi_leaf_update_encode (const UsiLeafUpdate  *update);
/* Canonical decoding; no signature is checked. */
gboolean usi_leaf_update_decode (const guint8         *body,
                                 gsize                 length,
                                 UsiLeafUpdate        *update,
                                 GError              **error);
/* BAD_SIGNATURE unless both the update and its leaf node are signed by the
 * leaf node's identity key. */
gboolean usi_leaf_update_verify (const UsiLeafUpdate  *update,
                                 GError              **error);

G_END_DECLS
