/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "crypto/usi-mls-secret-tree.h"

#include "usi-message.h"

G_BEGIN_DECLS

/* The message functions with the sender's ratchet named explicitly: leaf
 * @ratchet_leaf of @ratchets.  An owned room's messages use the epoch's own
 * secret tree at the sender's index; a pre-shared room's members are not
 * known when its epoch is built, so UsiMessageChannel keeps a one-leaf tree
 * per sender, seeded with that sender's leaf secret of the full-width tree
 * (docs/protocol.md §9.3), and @ratchet_leaf is 0. */

GBytes             *_usi_app_message_seal (UsiEpoch          *epoch,
                                           UsiMlsSecretTree  *ratchets,
                                           guint32            ratchet_leaf,
                                           UsiIdentity       *sender,
                                           UsiContentType     content_type,
                                           const guint8      *body,
                                           gsize              body_length,
                                           const guint8      *prev_hash,
                                           guint64            sent_ms,
                                           UsiRandom         *random,
                                           guint8            *message_hash,
                                           GError           **error);

UsiReceivedMessage *_usi_app_message_open (UsiEpoch          *epoch,
                                           UsiMlsSecretTree  *ratchets,
                                           guint32            ratchet_leaf,
                                           const guint8      *data,
                                           gsize              length,
                                           GError           **error);

G_END_DECLS
