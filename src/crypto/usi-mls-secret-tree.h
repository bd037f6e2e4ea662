/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

#include "usi-mls-labels.h"

G_BEGIN_DECLS

/* The RFC 9420 §9 secret tree of one epoch (cipher suite 3) with each leaf's
 * handshake and application ratchets and the §9.2 deletion schedule:
 *  - a generation's key and nonce are wiped once consumed, and asking for
 *    them again fails with USI_CRYPTO_ERROR_KEY_CONSUMED;
 *  - generations skipped by a forward jump are kept for out-of-order
 *    messages, at most @max_forward_jump per ratchet and @max_skipped_keys in
 *    the whole tree; beyond either cap the oldest are dropped unused, and
 *    asking for one of those fails with USI_CRYPTO_ERROR_KEY_EXPIRED (a gap
 *    in the conversation, not a replay); a jump of more than
 *    MIN (@max_forward_jump, @max_skipped_keys) generations fails with
 *    USI_CRYPTO_ERROR_LIMIT;
 *  - a tree node's secret is wiped once both its children are derived, a
 *    leaf's once its two ratchets are, a ratchet secret once it has advanced.
 * KEY_CONSUMED is only ever reported for a generation whose key was really
 * handed out (or given out by next_key).  The dropped generations are
 * remembered in a bounded set per ratchet; a ratchet that has dropped keys in
 * more than a few dozen separate runs forgets its oldest runs, and every
 * generation below them that is not held is then reported KEY_EXPIRED too.
 * Keys are USI_MLS_AEAD_KEY_LENGTH bytes, nonces USI_MLS_AEAD_NONCE_LENGTH
 * (without reuse_guard: that belongs to the message layer).
 *
 * Receiving a message, the contract:
 *  1. usi_mls_secret_tree_peek_key() for the header's generation: it changes
 *     nothing, so a forged header costs nothing but the derivation;
 *  2. open the AEAD with that key and nonce, then wipe them;
 *  3. only if the AEAD verified, usi_mls_secret_tree_consume_key(): it
 *     advances the ratchet past the generation, keeps the keys it skipped,
 *     wipes the one used, and drops the oldest skipped keys over the caps.
 * Never call peek (or get_key) on the ratchet of your own leaf that you send
 * with usi_mls_secret_tree_next_key(): the sending and receiving positions
 * of a ratchet are one and the same.
 *
 * usi_mls_secret_tree_get_key() is peek then consume in one call, kept for
 * existing callers: it commits before the message authenticated, so a forged
 * header can push genuine skipped keys out (they then fail with KEY_EXPIRED).
 * usi_mls_secret_tree_restore_key() exists only to give back a key from
 * get_key() whose message then failed its AEAD. */

/* The tree-wide cap on skipped keys that usi_mls_secret_tree_new() uses:
 * each kept key costs about 200 bytes, so under 1 MiB per tree. */
#define USI_MLS_SECRET_TREE_MAX_SKIPPED_KEYS 4096

typedef enum
{
  USI_MLS_RATCHET_HANDSHAKE,
  USI_MLS_RATCHET_APPLICATION,
} UsiMlsRatchetType;

typedef struct _UsiMlsSecretTree UsiMlsSecretTree;

/* @n_leaves (1 … 2^31) is the number of members; the tree is widened to the
 * next power of two as RFC 9420 trees are.  @encryption_secret is copied.
 * The tree keeps at most USI_MLS_SECRET_TREE_MAX_SKIPPED_KEYS skipped keys. */
UsiMlsSecretTree *usi_mls_secret_tree_new              (const char         *prefix,
                                                        const guint8       *encryption_secret,
                                                        guint32             n_leaves,
                                                        guint32             max_forward_jump,
                                                        GError            **error);
/* The same with the tree-wide cap on skipped keys given. */
UsiMlsSecretTree *usi_mls_secret_tree_new_full         (const char         *prefix,
                                                        const guint8       *encryption_secret,
                                                        guint32             n_leaves,
                                                        guint32             max_forward_jump,
                                                        guint32             max_skipped_keys,
                                                        GError            **error);
/* Wipes every secret the tree still holds. */
void              usi_mls_secret_tree_free             (UsiMlsSecretTree   *tree);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiMlsSecretTree, usi_mls_secret_tree_free)

/* Receiving, step 1: the key and nonce of @generation in @leaf's ratchet,
 * changing nothing in the tree (not even deriving the leaf).  Fails with
 * USI_CRYPTO_ERROR_INVALID_ARGUMENT for a leaf outside the tree,
 * USI_CRYPTO_ERROR_KEY_CONSUMED / USI_CRYPTO_ERROR_KEY_EXPIRED for a
 * generation used / dropped, USI_CRYPTO_ERROR_LIMIT for a jump over the cap.
 * On failure @key and @nonce are wiped. */
gboolean          usi_mls_secret_tree_peek_key         (UsiMlsSecretTree   *tree,
                                                        UsiMlsRatchetType   type,
                                                        guint32             leaf,
                                                        guint32             generation,
                                                        guint8             *key,
                                                        guint8             *nonce,
                                                        GError            **error);
/* Receiving, step 3, only once the AEAD under the peeked key verified:
 * consumes @generation (the same errors as peek). */
gboolean          usi_mls_secret_tree_consume_key      (UsiMlsSecretTree   *tree,
                                                        UsiMlsRatchetType   type,
                                                        guint32             leaf,
                                                        guint32             generation,
                                                        GError            **error);
/* Peek and consume at once (see above for why receivers should not). */
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
/* Only after usi_mls_secret_tree_get_key() whose message then failed its
 * AEAD: gives the key back, so a forged message cannot burn the genuine
 * one's key.  It is kept as a skipped key, under the same caps.
 * USI_CRYPTO_ERROR_INVALID_ARGUMENT when @generation was never handed out or
 * is already held; USI_CRYPTO_ERROR_LIMIT when it could not be kept (a cap
 * of 0, or it is the oldest of a full ratchet): the generation then counts
 * as dropped (KEY_EXPIRED), not as consumed. */
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
 * skipped keys kept in one ratchet, and skipped keys in the whole tree. */
guint             usi_mls_secret_tree_get_n_node_secrets  (UsiMlsSecretTree *tree);
guint             usi_mls_secret_tree_get_n_skipped_keys  (UsiMlsSecretTree *tree,
                                                           UsiMlsRatchetType type,
                                                           guint32           leaf);
guint             usi_mls_secret_tree_get_n_skipped_keys_total (UsiMlsSecretTree *tree);

/* Saving and restoring, for a member's encrypted state on disk
 * (docs/protocol.md §12): exactly what the tree holds now (its parameters,
 * the node secrets not yet used, each ratchet's position and skipped keys),
 * nothing it has deleted, so the deletion schedule survives a restart.  The
 * bytes are secret (wiped when freed).  Restore refuses anything it did not
 * write (USI_CRYPTO_ERROR_INVALID_ARGUMENT). */
GBytes           *usi_mls_secret_tree_save             (UsiMlsSecretTree   *tree);
UsiMlsSecretTree *usi_mls_secret_tree_restore          (const char         *prefix,
                                                        const guint8       *data,
                                                        gsize               length,
                                                        GError            **error);
/* The number of members the tree was made for, e.g. to check a restored
 * tree against the roster of its epoch. */
guint32           usi_mls_secret_tree_get_n_leaves     (UsiMlsSecretTree   *tree);

G_END_DECLS
