/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

#include "usi-mls-labels.h"

G_BEGIN_DECLS

/* The RFC 9420 §9 secret tree of one epoch (cipher suite 3) with each leaf's
 * handshake and application ratchets and the §9.2 deletion schedule:
 *  - a generation's key and nonce are wiped when they are handed out, and
 *    asking for them again fails with USI_CRYPTO_ERROR_KEY_CONSUMED;
 *  - generations skipped by a forward jump are kept for out-of-order messages,
 *    at most @max_forward_jump per ratchet (the oldest go first); a jump of
 *    more than @max_forward_jump generations fails with USI_CRYPTO_ERROR_LIMIT;
 *  - a tree node's secret is wiped once both its children are derived, a
 *    leaf's once its two ratchets are, a ratchet secret once it has advanced.
 * Keys are USI_MLS_AEAD_KEY_LENGTH bytes, nonces USI_MLS_AEAD_NONCE_LENGTH
 * (without reuse_guard: that belongs to the message layer). */

typedef enum
{
  USI_MLS_RATCHET_HANDSHAKE,
  USI_MLS_RATCHET_APPLICATION,
} UsiMlsRatchetType;

typedef struct _UsiMlsSecretTree UsiMlsSecretTree;

/* @n_leaves (1 … 2^31) is the number of members; the tree is widened to the
 * next power of two as RFC 9420 trees are.  @encryption_secret is copied. */
UsiMlsSecretTree *usi_mls_secret_tree_new              (const char         *prefix,
                                                        const guint8       *encryption_secret,
                                                        guint32             n_leaves,
                                                        guint32             max_forward_jump,
                                                        GError            **error);
/* Wipes every secret the tree still holds. */
void              usi_mls_secret_tree_free             (UsiMlsSecretTree   *tree);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiMlsSecretTree, usi_mls_secret_tree_free)

/* Receiving: the key and nonce of @generation in @leaf's ratchet, consumed by
 * this call.  USI_CRYPTO_ERROR_INVALID_ARGUMENT for a leaf outside the tree. */
gboolean          usi_mls_secret_tree_get_key          (UsiMlsSecretTree   *tree,
                                                        UsiMlsRatchetType   type,
                                                        guint32             leaf,
                                                        guint32             generation,
                                                        guint8             *key,
                                                        guint8             *nonce,
                                                        GError            **error);
/* Sending: the key and nonce of the ratchet's next unused generation, which
 * is stored in @generation.  USI_CRYPTO_ERROR_LIMIT once all 2^32 are used. */
gboolean          usi_mls_secret_tree_next_key         (UsiMlsSecretTree   *tree,
                                                        UsiMlsRatchetType   type,
                                                        guint32             leaf,
                                                        guint32            *generation,
                                                        guint8             *key,
                                                        guint8             *nonce,
                                                        GError            **error);
/* Gives back a key from usi_mls_secret_tree_get_key() that did not
 * authenticate its message, so a forged message cannot burn the genuine one's
 * key.  USI_CRYPTO_ERROR_INVALID_ARGUMENT when @generation was never handed
 * out or is already held. */
gboolean          usi_mls_secret_tree_restore_key      (UsiMlsSecretTree   *tree,
                                                        UsiMlsRatchetType   type,
                                                        guint32             leaf,
                                                        guint32             generation,
                                                        const guint8       *key,
                                                        const guint8       *nonce,
                                                        GError            **error);

/* The ratchet's next generation not yet derived (0 when unused), e.g. to
 * rotate the epoch before a sender reaches a limit; 2^32 when exhausted. */
guint64           usi_mls_secret_tree_get_next_generation (UsiMlsSecretTree *tree,
                                                           UsiMlsRatchetType type,
                                                           guint32           leaf);
/* What the tree still holds, for tests and diagnostics: tree node secrets,
 * and skipped keys kept in one ratchet. */
guint             usi_mls_secret_tree_get_n_node_secrets  (UsiMlsSecretTree *tree);
guint             usi_mls_secret_tree_get_n_skipped_keys  (UsiMlsSecretTree *tree,
                                                           UsiMlsRatchetType type,
                                                           guint32           leaf);

G_END_DECLS
