/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

#include "usi-commit.h"
#include "usi-group-info.h"

G_BEGIN_DECLS

/* How a relay (which has no key of the room) follows an owned room's
 * commits (docs/protocol.md §11.4): it checks the chain and the owner's
 * signatures and learns the roster, nothing more.  No I/O. */

typedef struct _UsiCommitChain UsiCommitChain;

/* Starts a chain from the epoch 0 Commit body.  Checks: it decodes, reason
 * create, epoch 0, the roster holds index 0 alone, the signature verifies
 * under that entry's identity key over the empty GroupContext. */
UsiCommitChain *usi_commit_chain_new_from_create (const guint8   *commit_body,
                                                  gsize           length,
                                                  GError        **error);
void            usi_commit_chain_free            (UsiCommitChain *chain);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiCommitChain, usi_commit_chain_free)

/* Follows the next commit: decodes, epoch = current + 1, prev_commit_hash =
 * current hash, committer 0, signature by the owner over the current
 * GroupContext (rebuilt from the commits), password flag unchanged, roster
 * valid with the owner at 0.  On error the chain is unchanged. */
gboolean        usi_commit_chain_follow          (UsiCommitChain *chain,
                                                  const guint8   *commit_body,
                                                  gsize           length,
                                                  GError        **error);

const guint8   *usi_commit_chain_get_room_id     (UsiCommitChain *chain);
const guint8   *usi_commit_chain_get_owner_key   (UsiCommitChain *chain);
guint64         usi_commit_chain_get_epoch       (UsiCommitChain *chain);
const UsiGroupInfo *usi_commit_chain_get_group_info (UsiCommitChain *chain);
gboolean        usi_commit_chain_has_member      (UsiCommitChain *chain,
                                                  const guint8   *identity_key);

/* The chain's state, to store and restore it (a relay restart): the current
 * GroupInfo and the owner key.  usi_commit_chain_restore() refuses bytes it
 * did not write (MALFORMED). */
GBytes         *usi_commit_chain_save            (UsiCommitChain *chain);
UsiCommitChain *usi_commit_chain_restore         (const guint8   *data,
                                                  gsize           length,
                                                  GError        **error);

G_END_DECLS
