/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The per-epoch secret tree and sender ratchets of RFC 9420 §9, keeping the
 * §9.2 deletion schedule: what has been consumed is wiped at once, so a later
 * compromise of this state cannot decrypt messages already read.  Node
 * secrets are derived lazily, top down, on a leaf's first consumed or sent
 * generation.  Peeking never changes the tree: what it derives lives in
 * scratch memory wiped before it returns, so unauthenticated input cannot
 * move a ratchet, drop a kept key or make the tree grow.  No I/O, and never a
 * copy of a secret outside the structures below. */

#define G_LOG_DOMAIN "usi-crypto"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "usi-crypto-error.h"
#include "usi-mls-secret-tree.h"
#include "usi-secret.h"

#define MAX_LEAVES       (1u << 31)
#define GENERATION_LIMIT (G_GUINT64_CONSTANT (1) << 32)
/* Runs of dropped generations remembered per ratchet (8 bytes each). */
#define MAX_EXPIRED_RUNS 64

typedef struct
{
  guint8 key[USI_MLS_AEAD_KEY_LENGTH];
  guint8 nonce[USI_MLS_AEAD_NONCE_LENGTH];
} KeyNonce;

/* The generations first … last, all dropped unused. */
typedef struct
{
  guint32 first;
  guint32 last;
} ExpiredRun;

typedef struct _Ratchet Ratchet;

typedef struct
{
  KeyNonce       key_nonce;
  Ratchet       *ratchet;
  guint32        generation;
  GSequenceIter *age;        /* its place in the tree's oldest-first order */
} SkippedKey;

struct _Ratchet
{
  guint8   secret[USI_MLS_HASH_LENGTH]; /* ratchet_secret_[next_generation] */
  guint64  next_generation;             /* GENERATION_LIMIT once exhausted */
  GTree   *skipped;                     /* generation → SkippedKey, kept for out-of-order messages */
  GArray  *expired;                     /* ExpiredRun, sorted and apart; NULL until one is dropped */
  guint64  forgotten_below;             /* below it, a generation not held counts as dropped */
};

typedef struct
{
  Ratchet ratchets[2]; /* indexed by UsiMlsRatchetType */
} Leaf;

struct _UsiMlsSecretTree
{
  char       *prefix;
  guint32     n_leaves;
  guint32     width;            /* leaves, a power of two */
  guint32     max_forward_jump; /* per ratchet: jumps, and skipped keys kept */
  guint32     max_skipped_keys; /* in the whole tree */
  guint       n_skipped_keys;
  GSequence  *skipped_by_age;   /* SkippedKey, oldest first, for the tree-wide cap */
  GHashTable *node_secrets;     /* node index → secret; the frontier not yet derived */
  GHashTable *leaves;           /* leaf index → Leaf, once derived */
};

static void
secret_free (gpointer data)
{
  usi_secret_wipe (data, USI_MLS_HASH_LENGTH);
  g_free (data);
}

static void
skipped_key_free (gpointer data)
{
  usi_secret_wipe (data, sizeof (SkippedKey));
  g_free (data);
}

static int
compare_generations (gconstpointer a,
                     gconstpointer b,
                     gpointer      user_data)
{
  guint32 first = GPOINTER_TO_UINT (a);
  guint32 second = GPOINTER_TO_UINT (b);

  return first < second ? -1 : first > second;
}

/* Frees the skipped keys too, without touching the tree's age order: only
 * for a leaf that never held any, or when the whole tree goes. */
static void
leaf_free (gpointer data)
{
  Leaf *leaf = data;

  for (guint i = 0; i < G_N_ELEMENTS (leaf->ratchets); i++)
    {
      g_tree_destroy (leaf->ratchets[i].skipped);
      if (leaf->ratchets[i].expired != NULL)
        g_array_unref (leaf->ratchets[i].expired);
    }
  usi_secret_wipe (leaf, sizeof *leaf);
  g_free (leaf);
}

UsiMlsSecretTree *
usi_mls_secret_tree_new_full (const char    *prefix,
                              const guint8  *encryption_secret,
                              guint32        n_leaves,
                              guint32        max_forward_jump,
                              guint32        max_skipped_keys,
                              GError       **error)
{
  UsiMlsSecretTree *tree;
  guint32 width = 1;

  g_return_val_if_fail (prefix != NULL, NULL);
  g_return_val_if_fail (encryption_secret != NULL, NULL);

  if (n_leaves == 0 || n_leaves > MAX_LEAVES)
    {
      g_set_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                   _("A group cannot have %u members"), n_leaves);
      return NULL;
    }
  while (width < n_leaves)
    width <<= 1;

  tree = g_new0 (UsiMlsSecretTree, 1);
  tree->prefix = g_strdup (prefix);
  tree->n_leaves = n_leaves;
  tree->width = width;
  tree->max_forward_jump = max_forward_jump;
  tree->max_skipped_keys = max_skipped_keys;
  tree->skipped_by_age = g_sequence_new (NULL);
  tree->node_secrets = g_hash_table_new_full (NULL, NULL, NULL, secret_free);
  tree->leaves = g_hash_table_new_full (NULL, NULL, NULL, leaf_free);

  /* The root's secret is the encryption_secret; node indices as in RFC 9420
   * Appendix C: leaf i is node 2i, the root of 2^d leaves is 2^d - 1. */
  g_hash_table_insert (tree->node_secrets, GUINT_TO_POINTER (width - 1),
                       g_memdup2 (encryption_secret, USI_MLS_HASH_LENGTH));

  return tree;
}

UsiMlsSecretTree *
usi_mls_secret_tree_new (const char    *prefix,
                         const guint8  *encryption_secret,
                         guint32        n_leaves,
                         guint32        max_forward_jump,
                         GError       **error)
{
  return usi_mls_secret_tree_new_full (prefix, encryption_secret, n_leaves, max_forward_jump,
                                       USI_MLS_SECRET_TREE_MAX_SKIPPED_KEYS, error);
}

void
usi_mls_secret_tree_free (UsiMlsSecretTree *tree)
{
  if (tree == NULL)
    return;

  g_hash_table_destroy (tree->node_secrets);
  g_hash_table_destroy (tree->leaves);
  g_sequence_free (tree->skipped_by_age);
  g_free (tree->prefix);
  g_free (tree);
}

static guint
root_level (UsiMlsSecretTree *tree)
{
  return (guint) g_bit_nth_msf (tree->width, -1);
}

static gboolean
is_left_of (guint32 target,
            guint32 node)
{
  return target < node;
}

static gboolean
derive_child (UsiMlsSecretTree  *tree,
              const guint8      *secret,
              gboolean           left,
              guint8            *child,
              GError           **error)
{
  return left ? usi_mls_expand_with_label (tree->prefix, secret, "tree", (const guint8 *) "left", 4,
                                           child, USI_MLS_HASH_LENGTH, error)
              : usi_mls_expand_with_label (tree->prefix, secret, "tree", (const guint8 *) "right", 5,
                                           child, USI_MLS_HASH_LENGTH, error);
}

static gboolean
derive_ratchet_secret (UsiMlsSecretTree   *tree,
                       const guint8       *leaf_secret,
                       UsiMlsRatchetType   type,
                       guint8             *secret,
                       GError            **error)
{
  const char *label = type == USI_MLS_RATCHET_HANDSHAKE ? "handshake" : "application";

  return usi_mls_expand_with_label (tree->prefix, leaf_secret, label, NULL, 0,
                                    secret, USI_MLS_HASH_LENGTH, error);
}

/* The node on the path from the root to @target that holds a secret: exactly
 * one does while the leaf is not derived (the frontier left by earlier
 * splits).  Its level goes to @level. */
static guint32
find_frontier (UsiMlsSecretTree *tree,
               guint32           target,
               guint            *level)
{
  guint32 node = tree->width - 1;

  *level = root_level (tree);
  while (!g_hash_table_contains (tree->node_secrets, GUINT_TO_POINTER (node)))
    {
      g_assert (*level >= 1);
      node = is_left_of (target, node) ? node - (1u << (*level - 1))
                                       : node + (1u << (*level - 1));
      (*level)--;
    }

  return node;
}

/* Derives both children of @node (at @level ≥ 1) and wipes its secret.  The
 * children are stored before the parent is dropped, so a failure leaves the
 * tree as it was. */
static gboolean
split_node (UsiMlsSecretTree  *tree,
            guint32            node,
            guint              level,
            GError           **error)
{
  const guint8 *secret = g_hash_table_lookup (tree->node_secrets, GUINT_TO_POINTER (node));
  guint32 half = 1u << (level - 1);
  guint8 *left = g_malloc (USI_MLS_HASH_LENGTH);
  guint8 *right = g_malloc (USI_MLS_HASH_LENGTH);

  g_assert (secret != NULL);
  g_assert (level >= 1);

  if (!derive_child (tree, secret, TRUE, left, error) ||
      !derive_child (tree, secret, FALSE, right, error))
    {
      secret_free (left);
      secret_free (right);
      return FALSE;
    }

  g_hash_table_insert (tree->node_secrets, GUINT_TO_POINTER (node - half), left);
  g_hash_table_insert (tree->node_secrets, GUINT_TO_POINTER (node + half), right);
  g_hash_table_remove (tree->node_secrets, GUINT_TO_POINTER (node));
  return TRUE;
}

static Leaf *
derive_leaf (UsiMlsSecretTree  *tree,
             guint32            leaf_index,
             GError           **error)
{
  guint32 target = 2 * leaf_index;
  guint level;
  guint32 node = find_frontier (tree, target, &level);
  const guint8 *leaf_secret;
  Leaf *leaf;

  while (node != target)
    {
      if (!split_node (tree, node, level, error))
        return NULL;
      node = is_left_of (target, node) ? node - (1u << (level - 1))
                                       : node + (1u << (level - 1));
      level--;
    }

  leaf_secret = g_hash_table_lookup (tree->node_secrets, GUINT_TO_POINTER (node));
  g_assert (leaf_secret != NULL);

  leaf = g_new0 (Leaf, 1);
  for (guint i = 0; i < G_N_ELEMENTS (leaf->ratchets); i++)
    leaf->ratchets[i].skipped = g_tree_new_full (compare_generations, NULL, NULL, skipped_key_free);

  if (!derive_ratchet_secret (tree, leaf_secret, USI_MLS_RATCHET_HANDSHAKE,
                              leaf->ratchets[USI_MLS_RATCHET_HANDSHAKE].secret, error) ||
      !derive_ratchet_secret (tree, leaf_secret, USI_MLS_RATCHET_APPLICATION,
                              leaf->ratchets[USI_MLS_RATCHET_APPLICATION].secret, error))
    {
      leaf_free (leaf);
      return NULL;
    }

  g_hash_table_remove (tree->node_secrets, GUINT_TO_POINTER (node));
  g_hash_table_insert (tree->leaves, GUINT_TO_POINTER (leaf_index), leaf);
  return leaf;
}

/* The ratchet secret of generation 0 of a leaf not derived yet, computed
 * down from the frontier in scratch memory: the tree is left untouched. */
static gboolean
derive_ratchet_secret_aside (UsiMlsSecretTree   *tree,
                             guint32             leaf_index,
                             UsiMlsRatchetType   type,
                             guint8             *secret,
                             GError            **error)
{
  guint32 target = 2 * leaf_index;
  guint level;
  guint32 node = find_frontier (tree, target, &level);
  guint8 current[USI_MLS_HASH_LENGTH];
  guint8 child[USI_MLS_HASH_LENGTH];
  gboolean ok = TRUE;

  memcpy (current, g_hash_table_lookup (tree->node_secrets, GUINT_TO_POINTER (node)), sizeof current);
  while (ok && node != target)
    {
      gboolean left = is_left_of (target, node);

      ok = derive_child (tree, current, left, child, error);
      memcpy (current, child, sizeof current);
      node = left ? node - (1u << (level - 1)) : node + (1u << (level - 1));
      level--;
    }

  ok = ok && derive_ratchet_secret (tree, current, type, secret, error);
  usi_secret_wipe (current, sizeof current);
  usi_secret_wipe (child, sizeof child);
  if (!ok)
    usi_secret_wipe (secret, USI_MLS_HASH_LENGTH);
  return ok;
}

static gboolean
check_leaf (UsiMlsSecretTree  *tree,
            guint32            leaf_index,
            GError           **error)
{
  if (leaf_index >= tree->n_leaves)
    {
      g_set_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                   _("No member has index %u"), leaf_index);
      return FALSE;
    }

  return TRUE;
}

/* The ratchet if its leaf is derived, NULL otherwise. */
static Ratchet *
find_ratchet (UsiMlsSecretTree   *tree,
              UsiMlsRatchetType   type,
              guint32             leaf_index)
{
  Leaf *leaf = g_hash_table_lookup (tree->leaves, GUINT_TO_POINTER (leaf_index));

  return leaf != NULL ? &leaf->ratchets[type] : NULL;
}

/* The ratchet, deriving its leaf if need be. */
static Ratchet *
lookup_ratchet (UsiMlsSecretTree   *tree,
                UsiMlsRatchetType   type,
                guint32             leaf_index,
                GError            **error)
{
  Leaf *leaf;

  if (!check_leaf (tree, leaf_index, error))
    return NULL;

  leaf = g_hash_table_lookup (tree->leaves, GUINT_TO_POINTER (leaf_index));
  if (leaf == NULL)
    leaf = derive_leaf (tree, leaf_index, error);

  return leaf != NULL ? &leaf->ratchets[type] : NULL;
}

/* Whether @generation (below the ratchet's position, not held) was dropped
 * unused, or is too old to tell, rather than handed out. */
static gboolean
is_expired (const Ratchet *ratchet,
            guint32        generation)
{
  guint low = 0, high;

  if (generation < ratchet->forgotten_below)
    return TRUE;
  if (ratchet->expired == NULL)
    return FALSE;

  high = ratchet->expired->len;
  while (low < high)
    {
      guint middle = low + (high - low) / 2;
      const ExpiredRun *run = &g_array_index (ratchet->expired, ExpiredRun, middle);

      if (generation < run->first)
        high = middle;
      else if (generation > run->last)
        low = middle + 1;
      else
        return TRUE;
    }

  return FALSE;
}

/* Remembers that @generation was dropped unused, merging it with adjacent
 * runs; past MAX_EXPIRED_RUNS the oldest run is forgotten. */
static void
remember_expired (Ratchet *ratchet,
                  guint32  generation)
{
  GArray *runs;
  guint position = 0;

  if (is_expired (ratchet, generation))
    return;

  if (ratchet->expired == NULL)
    ratchet->expired = g_array_new (FALSE, FALSE, sizeof (ExpiredRun));
  runs = ratchet->expired;

  while (position < runs->len && g_array_index (runs, ExpiredRun, position).last < generation)
    position++;

  /* Joins the run before, the run after, or both, or starts its own. */
  if (position > 0 && g_array_index (runs, ExpiredRun, position - 1).last == generation - 1)
    {
      ExpiredRun *before = &g_array_index (runs, ExpiredRun, position - 1);

      before->last = generation;
      if (position < runs->len && g_array_index (runs, ExpiredRun, position).first == generation + 1)
        {
          before->last = g_array_index (runs, ExpiredRun, position).last;
          g_array_remove_index (runs, position);
        }
    }
  else if (position < runs->len && g_array_index (runs, ExpiredRun, position).first == generation + 1)
    g_array_index (runs, ExpiredRun, position).first = generation;
  else
    {
      ExpiredRun run = { generation, generation };

      g_array_insert_val (runs, position, run);
    }

  if (runs->len > MAX_EXPIRED_RUNS)
    {
      ratchet->forgotten_below = (guint64) g_array_index (runs, ExpiredRun, 0).last + 1;
      g_array_remove_index (runs, 0);
    }
}

/* Why a generation behind the ratchet is not held. */
static void
set_missing_error (const Ratchet  *ratchet,
                   guint32         generation,
                   GError        **error)
{
  if (is_expired (ratchet, generation))
    g_set_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_KEY_EXPIRED,
                 _("The key of message %u was dropped unused to save memory"), generation);
  else
    g_set_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_KEY_CONSUMED,
                 _("The key of message %u was already used"), generation);
}

static gboolean
check_jump (UsiMlsSecretTree  *tree,
            guint64            next_generation,
            guint32            generation,
            GError           **error)
{
  g_assert (generation >= next_generation);

  if (generation - next_generation > MIN (tree->max_forward_jump, tree->max_skipped_keys))
    {
      g_set_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_LIMIT,
                   _("Message %u is too far ahead of the messages received"), generation);
      return FALSE;
    }

  return TRUE;
}

/* Removes a kept key from the ratchet and the age order, wiping it. */
static void
drop_skipped (UsiMlsSecretTree *tree,
              SkippedKey       *skipped)
{
  g_sequence_remove (skipped->age);
  tree->n_skipped_keys--;
  g_tree_remove (skipped->ratchet->skipped, GUINT_TO_POINTER (skipped->generation));
}

static void
expire_skipped (UsiMlsSecretTree *tree,
                SkippedKey       *skipped)
{
  remember_expired (skipped->ratchet, skipped->generation);
  drop_skipped (tree, skipped);
}

/* Keeps a skipped (or given back) generation's key, then drops the oldest
 * keys over the caps: the ratchet's lowest generations beyond
 * max_forward_jump, the tree's longest kept beyond max_skipped_keys. */
static void
keep_skipped (UsiMlsSecretTree *tree,
              Ratchet          *ratchet,
              guint32           generation,
              const KeyNonce   *key_nonce)
{
  SkippedKey *skipped = g_new (SkippedKey, 1);

  skipped->key_nonce = *key_nonce;
  skipped->ratchet = ratchet;
  skipped->generation = generation;
  skipped->age = g_sequence_append (tree->skipped_by_age, skipped);
  g_tree_insert (ratchet->skipped, GUINT_TO_POINTER (generation), skipped);
  tree->n_skipped_keys++;

  while ((guint) g_tree_nnodes (ratchet->skipped) > tree->max_forward_jump)
    expire_skipped (tree, g_tree_node_value (g_tree_node_first (ratchet->skipped)));

  while (tree->n_skipped_keys > tree->max_skipped_keys)
    expire_skipped (tree, g_sequence_get (g_sequence_get_begin_iter (tree->skipped_by_age)));
}

static gboolean
derive_key_nonce (UsiMlsSecretTree  *tree,
                  const guint8      *secret,
                  guint32            generation,
                  guint8            *key,
                  guint8            *nonce,
                  GError           **error)
{
  if (!usi_mls_derive_tree_secret (tree->prefix, secret, "key", generation,
                                   key, USI_MLS_AEAD_KEY_LENGTH, error) ||
      !usi_mls_derive_tree_secret (tree->prefix, secret, "nonce", generation,
                                   nonce, USI_MLS_AEAD_NONCE_LENGTH, error))
    {
      usi_secret_wipe (key, USI_MLS_AEAD_KEY_LENGTH);
      usi_secret_wipe (nonce, USI_MLS_AEAD_NONCE_LENGTH);
      return FALSE;
    }

  return TRUE;
}

/* The key and nonce of @generation from the ratchet secret of generation
 * @from (≤ @generation), stepping forward in scratch memory. */
static gboolean
derive_ahead (UsiMlsSecretTree  *tree,
              const guint8      *secret,
              guint64            from,
              guint32            generation,
              guint8            *key,
              guint8            *nonce,
              GError           **error)
{
  guint8 current[USI_MLS_HASH_LENGTH];
  guint8 next[USI_MLS_HASH_LENGTH];
  gboolean ok = TRUE;

  g_assert (from <= generation);

  memcpy (current, secret, sizeof current);
  for (guint64 step = from; ok && step < generation; step++)
    {
      ok = usi_mls_derive_tree_secret (tree->prefix, current, "secret", (guint32) step,
                                       next, sizeof next, error);
      memcpy (current, next, sizeof current);
    }

  ok = ok && derive_key_nonce (tree, current, generation, key, nonce, error);
  usi_secret_wipe (current, sizeof current);
  usi_secret_wipe (next, sizeof next);
  if (!ok)
    {
      usi_secret_wipe (key, USI_MLS_AEAD_KEY_LENGTH);
      usi_secret_wipe (nonce, USI_MLS_AEAD_NONCE_LENGTH);
    }
  return ok;
}

/* Moves the ratchet on by one generation, wiping the secret it came from;
 * with @out, the key and nonce of the generation it leaves go there. */
static gboolean
ratchet_step (UsiMlsSecretTree  *tree,
              Ratchet           *ratchet,
              KeyNonce          *out,
              GError           **error)
{
  guint32 generation = (guint32) ratchet->next_generation;
  guint8 next_secret[USI_MLS_HASH_LENGTH];

  g_assert (ratchet->next_generation < GENERATION_LIMIT);

  if (out != NULL &&
      !derive_key_nonce (tree, ratchet->secret, generation, out->key, out->nonce, error))
    return FALSE;

  /* The last generation has no successor to derive. */
  if (generation < G_MAXUINT32 &&
      !usi_mls_derive_tree_secret (tree->prefix, ratchet->secret, "secret", generation,
                                   next_secret, sizeof next_secret, error))
    {
      if (out != NULL)
        usi_secret_wipe (out, sizeof *out);
      return FALSE;
    }

  if (generation < G_MAXUINT32)
    memcpy (ratchet->secret, next_secret, sizeof ratchet->secret);
  else
    usi_secret_wipe (ratchet->secret, sizeof ratchet->secret);
  usi_secret_wipe (next_secret, sizeof next_secret);
  ratchet->next_generation++;
  return TRUE;
}

static void
hand_out (const KeyNonce *key_nonce,
          guint8         *key,
          guint8         *nonce)
{
  memcpy (key, key_nonce->key, sizeof key_nonce->key);
  memcpy (nonce, key_nonce->nonce, sizeof key_nonce->nonce);
}

static gboolean
peek_key (UsiMlsSecretTree   *tree,
          UsiMlsRatchetType   type,
          guint32             leaf,
          guint32             generation,
          guint8             *key,
          guint8             *nonce,
          GError            **error)
{
  guint8 first_secret[USI_MLS_HASH_LENGTH];
  Ratchet *ratchet;
  gboolean ok;

  if (!check_leaf (tree, leaf, error))
    return FALSE;

  ratchet = find_ratchet (tree, type, leaf);
  if (ratchet != NULL)
    {
      if (generation < ratchet->next_generation)
        {
          SkippedKey *skipped = g_tree_lookup (ratchet->skipped, GUINT_TO_POINTER (generation));

          if (skipped == NULL)
            {
              set_missing_error (ratchet, generation, error);
              return FALSE;
            }
          hand_out (&skipped->key_nonce, key, nonce);
          return TRUE;
        }

      return check_jump (tree, ratchet->next_generation, generation, error) &&
             derive_ahead (tree, ratchet->secret, ratchet->next_generation, generation, key, nonce, error);
    }

  /* A leaf not derived yet: the jump is checked before any work. */
  if (!check_jump (tree, 0, generation, error))
    return FALSE;
  ok = derive_ratchet_secret_aside (tree, leaf, type, first_secret, error) &&
       derive_ahead (tree, first_secret, 0, generation, key, nonce, error);
  usi_secret_wipe (first_secret, sizeof first_secret);
  return ok;
}

gboolean
usi_mls_secret_tree_peek_key (UsiMlsSecretTree   *tree,
                              UsiMlsRatchetType   type,
                              guint32             leaf,
                              guint32             generation,
                              guint8             *key,
                              guint8             *nonce,
                              GError            **error)
{
  g_return_val_if_fail (tree != NULL, FALSE);
  g_return_val_if_fail (type == USI_MLS_RATCHET_HANDSHAKE || type == USI_MLS_RATCHET_APPLICATION, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (nonce != NULL, FALSE);

  if (!peek_key (tree, type, leaf, generation, key, nonce, error))
    {
      usi_secret_wipe (key, USI_MLS_AEAD_KEY_LENGTH);
      usi_secret_wipe (nonce, USI_MLS_AEAD_NONCE_LENGTH);
      return FALSE;
    }

  return TRUE;
}

gboolean
usi_mls_secret_tree_consume_key (UsiMlsSecretTree   *tree,
                                 UsiMlsRatchetType   type,
                                 guint32             leaf,
                                 guint32             generation,
                                 GError            **error)
{
  Ratchet *ratchet;

  g_return_val_if_fail (tree != NULL, FALSE);
  g_return_val_if_fail (type == USI_MLS_RATCHET_HANDSHAKE || type == USI_MLS_RATCHET_APPLICATION, FALSE);

  /* Checked before the leaf is derived, so a refusal changes nothing. */
  if (!check_leaf (tree, leaf, error))
    return FALSE;
  ratchet = find_ratchet (tree, type, leaf);
  if (ratchet == NULL && !check_jump (tree, 0, generation, error))
    return FALSE;

  ratchet = lookup_ratchet (tree, type, leaf, error);
  if (ratchet == NULL)
    return FALSE;

  if (generation < ratchet->next_generation)
    {
      SkippedKey *skipped = g_tree_lookup (ratchet->skipped, GUINT_TO_POINTER (generation));

      if (skipped == NULL)
        {
          set_missing_error (ratchet, generation, error);
          return FALSE;
        }
      drop_skipped (tree, skipped);
      return TRUE;
    }

  if (!check_jump (tree, ratchet->next_generation, generation, error))
    return FALSE;

  while (ratchet->next_generation < generation)
    {
      guint32 skipped_generation = (guint32) ratchet->next_generation;
      KeyNonce skipped;
      gboolean ok = ratchet_step (tree, ratchet, &skipped, error);

      if (ok)
        keep_skipped (tree, ratchet, skipped_generation, &skipped);
      usi_secret_wipe (&skipped, sizeof skipped);
      if (!ok)
        return FALSE;
    }

  /* The consumed generation's own key is not even derived. */
  return ratchet_step (tree, ratchet, NULL, error);
}

gboolean
usi_mls_secret_tree_get_key (UsiMlsSecretTree   *tree,
                             UsiMlsRatchetType   type,
                             guint32             leaf,
                             guint32             generation,
                             guint8             *key,
                             guint8             *nonce,
                             GError            **error)
{
  g_return_val_if_fail (tree != NULL, FALSE);
  g_return_val_if_fail (type == USI_MLS_RATCHET_HANDSHAKE || type == USI_MLS_RATCHET_APPLICATION, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (nonce != NULL, FALSE);

  if (!usi_mls_secret_tree_peek_key (tree, type, leaf, generation, key, nonce, error))
    return FALSE;

  if (!usi_mls_secret_tree_consume_key (tree, type, leaf, generation, error))
    {
      usi_secret_wipe (key, USI_MLS_AEAD_KEY_LENGTH);
      usi_secret_wipe (nonce, USI_MLS_AEAD_NONCE_LENGTH);
      return FALSE;
    }

  return TRUE;
}

gboolean
usi_mls_secret_tree_next_key (UsiMlsSecretTree   *tree,
                              UsiMlsRatchetType   type,
                              guint32             leaf,
                              guint32            *generation,
                              guint8             *key,
                              guint8             *nonce,
                              GError            **error)
{
  Ratchet *ratchet;
  KeyNonce current;
  guint32 current_generation;

  g_return_val_if_fail (tree != NULL, FALSE);
  g_return_val_if_fail (type == USI_MLS_RATCHET_HANDSHAKE || type == USI_MLS_RATCHET_APPLICATION, FALSE);
  g_return_val_if_fail (generation != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (nonce != NULL, FALSE);

  ratchet = lookup_ratchet (tree, type, leaf, error);
  if (ratchet == NULL)
    return FALSE;

  if (ratchet->next_generation >= GENERATION_LIMIT)
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_LIMIT,
                           _("This sender has used all its message keys"));
      return FALSE;
    }

  current_generation = (guint32) ratchet->next_generation;
  if (!ratchet_step (tree, ratchet, &current, error))
    return FALSE;

  hand_out (&current, key, nonce);
  usi_secret_wipe (&current, sizeof current);
  *generation = current_generation;
  return TRUE;
}

gboolean
usi_mls_secret_tree_restore_key (UsiMlsSecretTree   *tree,
                                 UsiMlsRatchetType   type,
                                 guint32             leaf,
                                 guint32             generation,
                                 const guint8       *key,
                                 const guint8       *nonce,
                                 GError            **error)
{
  Ratchet *ratchet;
  KeyNonce restored;

  g_return_val_if_fail (tree != NULL, FALSE);
  g_return_val_if_fail (type == USI_MLS_RATCHET_HANDSHAKE || type == USI_MLS_RATCHET_APPLICATION, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (nonce != NULL, FALSE);

  if (!check_leaf (tree, leaf, error))
    return FALSE;

  /* Only a generation that was handed out: behind the ratchet, not held,
   * not dropped. */
  ratchet = find_ratchet (tree, type, leaf);
  if (ratchet == NULL || generation >= ratchet->next_generation ||
      g_tree_lookup (ratchet->skipped, GUINT_TO_POINTER (generation)) != NULL ||
      is_expired (ratchet, generation))
    {
      g_set_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                   _("The key of message %u cannot be given back"), generation);
      return FALSE;
    }

  memcpy (restored.key, key, sizeof restored.key);
  memcpy (restored.nonce, nonce, sizeof restored.nonce);
  keep_skipped (tree, ratchet, generation, &restored);
  usi_secret_wipe (&restored, sizeof restored);

  /* Dropped at once by a cap: the genuine message will find it expired. */
  if (g_tree_lookup (ratchet->skipped, GUINT_TO_POINTER (generation)) == NULL)
    {
      g_set_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_LIMIT,
                   _("The key of message %u could not be kept: too many keys are held"), generation);
      return FALSE;
    }

  return TRUE;
}

guint64
usi_mls_secret_tree_get_next_generation (UsiMlsSecretTree  *tree,
                                         UsiMlsRatchetType  type,
                                         guint32            leaf_index)
{
  Ratchet *ratchet;

  g_return_val_if_fail (tree != NULL, 0);
  g_return_val_if_fail (type == USI_MLS_RATCHET_HANDSHAKE || type == USI_MLS_RATCHET_APPLICATION, 0);

  ratchet = find_ratchet (tree, type, leaf_index);
  return ratchet != NULL ? ratchet->next_generation : 0;
}

guint
usi_mls_secret_tree_get_n_node_secrets (UsiMlsSecretTree *tree)
{
  g_return_val_if_fail (tree != NULL, 0);

  return g_hash_table_size (tree->node_secrets);
}

guint
usi_mls_secret_tree_get_n_skipped_keys (UsiMlsSecretTree  *tree,
                                        UsiMlsRatchetType  type,
                                        guint32            leaf_index)
{
  Ratchet *ratchet;

  g_return_val_if_fail (tree != NULL, 0);
  g_return_val_if_fail (type == USI_MLS_RATCHET_HANDSHAKE || type == USI_MLS_RATCHET_APPLICATION, 0);

  ratchet = find_ratchet (tree, type, leaf_index);
  return ratchet != NULL ? (guint) g_tree_nnodes (ratchet->skipped) : 0;
}

guint
usi_mls_secret_tree_get_n_skipped_keys_total (UsiMlsSecretTree *tree)
{
  g_return_val_if_fail (tree != NULL, 0);

  return tree->n_skipped_keys;
}

/* Saving and restoring (docs/protocol.md §12) ------------------------------
 *
 * A fixed big-endian layout with explicit counts; the crypto layer has no
 * wire codec of its own and needs none:
 *
 *   u8 kind = 1, u8 version = 1,
 *   u32 n_leaves, u32 max_forward_jump, u32 max_skipped_keys,
 *   u32 n, n × { u32 node, secret[32] }               node index ascending
 *   u32 n, n × { u32 leaf, Ratchet handshake, Ratchet application }
 *                                                     leaf index ascending
 *     Ratchet = { u64 next_generation, secret[32], u64 forgotten_below,
 *                 u32 n, n × { u32 first, u32 last } }
 *   u32 n, n × { u32 leaf, u8 type, u32 generation, key[32], nonce[12] }
 *                                                     oldest kept first
 *
 * Only what the tree holds is written, so what it deleted stays deleted;
 * the skipped keys keep their age order, so the caps drop the same keys
 * after a restore as they would have before.  Restore accepts exactly what
 * save can write: anything else is refused, never repaired. */

#define STATE_KIND              1
#define STATE_VERSION           1
#define STATE_HEADER_LENGTH     (1 + 1 + 4 + 4 + 4)
#define STATE_NODE_LENGTH       (4 + USI_MLS_HASH_LENGTH)
#define STATE_RATCHET_LENGTH    (8 + USI_MLS_HASH_LENGTH + 8 + 4)
#define STATE_RUN_LENGTH        (4 + 4)
#define STATE_LEAF_LENGTH       (4 + 2 * STATE_RATCHET_LENGTH)
#define STATE_SKIPPED_LENGTH    (4 + 1 + 4 + USI_MLS_AEAD_KEY_LENGTH + USI_MLS_AEAD_NONCE_LENGTH)

typedef struct
{
  guint8 *data;
  gsize   length;
  gsize   offset;
} StateWriter;

static void
put_bytes (StateWriter  *writer,
           const guint8 *bytes,
           gsize         length)
{
  g_assert (length <= writer->length - writer->offset);

  memcpy (writer->data + writer->offset, bytes, length);
  writer->offset += length;
}

static void
put_u8 (StateWriter *writer,
        guint8       value)
{
  put_bytes (writer, &value, 1);
}

static void
put_u32 (StateWriter *writer,
         guint32      value)
{
  guint8 bytes[4] = { value >> 24, (value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff };

  put_bytes (writer, bytes, sizeof bytes);
}

static void
put_u64 (StateWriter *writer,
         guint64      value)
{
  guint8 bytes[8];

  for (guint i = 0; i < 8; i++)
    bytes[i] = (value >> (56 - 8 * i)) & 0xff;
  put_bytes (writer, bytes, sizeof bytes);
}

static int
compare_indices (gconstpointer a,
                 gconstpointer b)
{
  guint32 first = *(const guint32 *) a;
  guint32 second = *(const guint32 *) b;

  return first < second ? -1 : first > second;
}

/* The keys of @table (node or leaf indices), ascending. */
static GArray *
sorted_indices (GHashTable *table)
{
  GArray *indices = g_array_sized_new (FALSE, FALSE, sizeof (guint32), g_hash_table_size (table));
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, table);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    {
      guint32 index = GPOINTER_TO_UINT (key);

      g_array_append_val (indices, index);
    }
  g_array_sort (indices, compare_indices);
  return indices;
}

static void
put_ratchet (StateWriter   *writer,
             const Ratchet *ratchet)
{
  guint n_runs = ratchet->expired != NULL ? ratchet->expired->len : 0;

  put_u64 (writer, ratchet->next_generation);
  put_bytes (writer, ratchet->secret, sizeof ratchet->secret);
  put_u64 (writer, ratchet->forgotten_below);
  put_u32 (writer, n_runs);
  for (guint i = 0; i < n_runs; i++)
    {
      const ExpiredRun *run = &g_array_index (ratchet->expired, ExpiredRun, i);

      put_u32 (writer, run->first);
      put_u32 (writer, run->last);
    }
}

GBytes *
usi_mls_secret_tree_save (UsiMlsSecretTree *tree)
{
  g_autoptr(GArray) nodes = NULL;
  g_autoptr(GArray) leaves = NULL;
  g_autoptr(GHashTable) ratchet_places = NULL;
  GSequenceIter *iter;
  StateWriter writer = { NULL, 0, 0 };

  g_return_val_if_fail (tree != NULL, NULL);

  nodes = sorted_indices (tree->node_secrets);
  leaves = sorted_indices (tree->leaves);

  /* The exact size first: the secrets are written once, into memory that
   * is wiped when the bytes are freed, never into a buffer that grows. */
  writer.length = STATE_HEADER_LENGTH + 4 + (gsize) nodes->len * STATE_NODE_LENGTH +
                  4 + (gsize) leaves->len * STATE_LEAF_LENGTH +
                  4 + (gsize) tree->n_skipped_keys * STATE_SKIPPED_LENGTH;
  ratchet_places = g_hash_table_new (NULL, NULL);
  for (guint i = 0; i < leaves->len; i++)
    {
      guint32 index = g_array_index (leaves, guint32, i);
      Leaf *leaf = g_hash_table_lookup (tree->leaves, GUINT_TO_POINTER (index));

      for (guint type = 0; type < G_N_ELEMENTS (leaf->ratchets); type++)
        {
          Ratchet *ratchet = &leaf->ratchets[type];

          if (ratchet->expired != NULL)
            writer.length += (gsize) ratchet->expired->len * STATE_RUN_LENGTH;
          /* Which leaf each skipped key's ratchet belongs to (+ 1: not NULL). */
          g_hash_table_insert (ratchet_places, ratchet, GUINT_TO_POINTER (index + 1));
        }
    }
  writer.data = g_malloc (writer.length);

  put_u8 (&writer, STATE_KIND);
  put_u8 (&writer, STATE_VERSION);
  put_u32 (&writer, tree->n_leaves);
  put_u32 (&writer, tree->max_forward_jump);
  put_u32 (&writer, tree->max_skipped_keys);

  put_u32 (&writer, nodes->len);
  for (guint i = 0; i < nodes->len; i++)
    {
      guint32 node = g_array_index (nodes, guint32, i);

      put_u32 (&writer, node);
      put_bytes (&writer, g_hash_table_lookup (tree->node_secrets, GUINT_TO_POINTER (node)),
                 USI_MLS_HASH_LENGTH);
    }

  put_u32 (&writer, leaves->len);
  for (guint i = 0; i < leaves->len; i++)
    {
      guint32 index = g_array_index (leaves, guint32, i);
      Leaf *leaf = g_hash_table_lookup (tree->leaves, GUINT_TO_POINTER (index));

      put_u32 (&writer, index);
      put_ratchet (&writer, &leaf->ratchets[USI_MLS_RATCHET_HANDSHAKE]);
      put_ratchet (&writer, &leaf->ratchets[USI_MLS_RATCHET_APPLICATION]);
    }

  put_u32 (&writer, tree->n_skipped_keys);
  for (iter = g_sequence_get_begin_iter (tree->skipped_by_age);
       !g_sequence_iter_is_end (iter);
       iter = g_sequence_iter_next (iter))
    {
      const SkippedKey *skipped = g_sequence_get (iter);
      guint32 index = GPOINTER_TO_UINT (g_hash_table_lookup (ratchet_places, skipped->ratchet)) - 1;
      Leaf *leaf = g_hash_table_lookup (tree->leaves, GUINT_TO_POINTER (index));

      put_u32 (&writer, index);
      put_u8 (&writer, skipped->ratchet == &leaf->ratchets[USI_MLS_RATCHET_HANDSHAKE]
                       ? USI_MLS_RATCHET_HANDSHAKE : USI_MLS_RATCHET_APPLICATION);
      put_u32 (&writer, skipped->generation);
      put_bytes (&writer, skipped->key_nonce.key, sizeof skipped->key_nonce.key);
      put_bytes (&writer, skipped->key_nonce.nonce, sizeof skipped->key_nonce.nonce);
    }

  g_assert (writer.offset == writer.length);
  return usi_secret_bytes_new_take (writer.data, writer.length);
}

typedef struct
{
  const guint8 *data;
  gsize         length;
  gsize         offset;
} StateReader;

static gboolean
state_refused (GError **error)
{
  g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                       _("The saved message keys are damaged: restore them from a backup, or leave the room and join it again."));
  return FALSE;
}

static gboolean
take_bytes (StateReader   *reader,
            gsize          length,
            const guint8 **bytes)
{
  if (length > reader->length - reader->offset)
    return FALSE;

  *bytes = reader->data + reader->offset;
  reader->offset += length;
  return TRUE;
}

static gboolean
take_u8 (StateReader *reader,
         guint8      *value)
{
  const guint8 *bytes;

  if (!take_bytes (reader, 1, &bytes))
    return FALSE;

  *value = bytes[0];
  return TRUE;
}

static gboolean
take_u32 (StateReader *reader,
          guint32     *value)
{
  const guint8 *bytes;

  if (!take_bytes (reader, 4, &bytes))
    return FALSE;

  *value = (guint32) bytes[0] << 24 | (guint32) bytes[1] << 16 | (guint32) bytes[2] << 8 | bytes[3];
  return TRUE;
}

static gboolean
take_u64 (StateReader *reader,
          guint64     *value)
{
  const guint8 *bytes;

  if (!take_bytes (reader, 8, &bytes))
    return FALSE;

  *value = 0;
  for (guint i = 0; i < 8; i++)
    *value = *value << 8 | bytes[i];
  return TRUE;
}

/* A count of items of @item_length bytes each, at most @max, that the rest
 * of the input can hold: checked before anything is allocated for them. */
static gboolean
take_count (StateReader *reader,
            gsize        item_length,
            guint64      max,
            guint32     *count)
{
  return take_u32 (reader, count) &&
         *count <= max &&
         *count <= (reader->length - reader->offset) / item_length;
}

static gboolean
is_zero (const guint8 *bytes,
         gsize         length)
{
  guint8 any = 0;

  for (gsize i = 0; i < length; i++)
    any |= bytes[i];

  return any == 0;
}

/* Whether one of the ratchet's runs holds @generation (the generations
 * below forgotten_below are not counted: a key kept from there is legal). */
static gboolean
in_expired_run (const Ratchet *ratchet,
                guint32        generation)
{
  if (ratchet->expired == NULL)
    return FALSE;

  for (guint i = 0; i < ratchet->expired->len; i++)
    {
      const ExpiredRun *run = &g_array_index (ratchet->expired, ExpiredRun, i);

      if (generation >= run->first && generation <= run->last)
        return TRUE;
    }

  return FALSE;
}

static gboolean
take_ratchet (StateReader *reader,
              Ratchet     *ratchet)
{
  const guint8 *secret;
  guint32 n_runs;
  guint64 below;

  if (!take_u64 (reader, &ratchet->next_generation) ||
      !take_bytes (reader, sizeof ratchet->secret, &secret) ||
      !take_u64 (reader, &ratchet->forgotten_below) ||
      !take_count (reader, STATE_RUN_LENGTH, MAX_EXPIRED_RUNS, &n_runs))
    return FALSE;
  memcpy (ratchet->secret, secret, sizeof ratchet->secret);

  /* An exhausted ratchet has wiped its secret; nothing is forgotten above
   * where the ratchet stands, and only a full list of runs forgets. */
  if (ratchet->next_generation > GENERATION_LIMIT ||
      (ratchet->next_generation == GENERATION_LIMIT && !is_zero (secret, sizeof ratchet->secret)) ||
      ratchet->forgotten_below > ratchet->next_generation ||
      (ratchet->forgotten_below > 0 && n_runs == 0))
    return FALSE;

  /* Runs: sorted, apart (adjacent ones are merged), at or above
   * forgotten_below and below the ratchet's position. */
  below = ratchet->forgotten_below;
  if (n_runs > 0)
    ratchet->expired = g_array_sized_new (FALSE, FALSE, sizeof (ExpiredRun), n_runs);
  for (guint i = 0; i < n_runs; i++)
    {
      ExpiredRun run;

      if (!take_u32 (reader, &run.first) || !take_u32 (reader, &run.last) ||
          run.first < below || run.first > run.last || run.last >= ratchet->next_generation)
        return FALSE;
      g_array_append_val (ratchet->expired, run);
      below = (guint64) run.last + 2;
    }

  return TRUE;
}

/* The level of node @node (RFC 9420 Appendix C: its trailing ones) and the
 * first leaf below it. */
static guint
node_level (guint32 node)
{
  guint level = 0;

  while (level < 32 && (node >> level) & 1)
    level++;

  return level;
}

/* Every leaf of the tree lies under exactly one node that holds a secret or
 * is itself derived: the frontier a run of splits leaves behind. */
static gboolean
check_frontier (UsiMlsSecretTree *tree,
                GArray           *nodes,
                GArray           *leaves)
{
  guint64 covered = 0;
  guint i = 0, j = 0;

  while (i < nodes->len || j < leaves->len)
    {
      guint32 node;
      guint level;
      guint64 first;

      /* Both lists ascend; a derived leaf i is node 2i. */
      if (j == leaves->len ||
          (i < nodes->len && g_array_index (nodes, guint32, i) < 2 * g_array_index (leaves, guint32, j)))
        node = g_array_index (nodes, guint32, i++);
      else
        node = 2 * g_array_index (leaves, guint32, j++);

      level = node_level (node);
      first = ((guint64) node >> (level + 1)) << level;
      if (first != covered)
        return FALSE;
      covered += G_GUINT64_CONSTANT (1) << level;
    }

  return covered == tree->width;
}

static Ratchet *
find_restored_ratchet (UsiMlsSecretTree *tree,
                       guint32           leaf_index,
                       guint8            type)
{
  Leaf *leaf;

  if (type > USI_MLS_RATCHET_APPLICATION)
    return NULL;

  leaf = g_hash_table_lookup (tree->leaves, GUINT_TO_POINTER (leaf_index));
  return leaf != NULL ? &leaf->ratchets[type] : NULL;
}

static gboolean
restore_into (UsiMlsSecretTree *tree,
              StateReader      *reader)
{
  g_autoptr(GArray) nodes = NULL;
  g_autoptr(GArray) leaves = NULL;
  guint32 n_nodes, n_leaves, n_skipped;

  /* Node secrets: a node of the tree, ascending. */
  if (!take_count (reader, STATE_NODE_LENGTH, 2 * (guint64) tree->width - 1, &n_nodes))
    return FALSE;
  nodes = g_array_sized_new (FALSE, FALSE, sizeof (guint32), n_nodes);
  for (guint i = 0; i < n_nodes; i++)
    {
      const guint8 *secret;
      guint32 node;

      if (!take_u32 (reader, &node) ||
          (guint64) node >= 2 * (guint64) tree->width - 1 ||
          (i > 0 && node <= g_array_index (nodes, guint32, i - 1)) ||
          !take_bytes (reader, USI_MLS_HASH_LENGTH, &secret))
        return FALSE;
      g_array_append_val (nodes, node);
      g_hash_table_insert (tree->node_secrets, GUINT_TO_POINTER (node),
                           g_memdup2 (secret, USI_MLS_HASH_LENGTH));
    }

  /* Derived leaves: a member of the tree, ascending. */
  if (!take_count (reader, STATE_LEAF_LENGTH, tree->n_leaves, &n_leaves))
    return FALSE;
  leaves = g_array_sized_new (FALSE, FALSE, sizeof (guint32), n_leaves);
  for (guint i = 0; i < n_leaves; i++)
    {
      Leaf *leaf;
      guint32 index;

      if (!take_u32 (reader, &index) || index >= tree->n_leaves ||
          (i > 0 && index <= g_array_index (leaves, guint32, i - 1)))
        return FALSE;
      g_array_append_val (leaves, index);

      leaf = g_new0 (Leaf, 1);
      for (guint type = 0; type < G_N_ELEMENTS (leaf->ratchets); type++)
        leaf->ratchets[type].skipped = g_tree_new_full (compare_generations, NULL, NULL, skipped_key_free);
      g_hash_table_insert (tree->leaves, GUINT_TO_POINTER (index), leaf);
      for (guint type = 0; type < G_N_ELEMENTS (leaf->ratchets); type++)
        if (!take_ratchet (reader, &leaf->ratchets[type]))
          return FALSE;
    }

  if (!check_frontier (tree, nodes, leaves))
    return FALSE;

  /* Skipped keys, oldest first: of a derived ratchet, behind its position,
   * neither dropped nor held twice, within both caps. */
  if (!take_count (reader, STATE_SKIPPED_LENGTH, tree->max_skipped_keys, &n_skipped))
    return FALSE;
  for (guint i = 0; i < n_skipped; i++)
    {
      const guint8 *key, *nonce;
      SkippedKey *skipped;
      Ratchet *ratchet;
      guint32 leaf_index, generation;
      guint8 type;

      if (!take_u32 (reader, &leaf_index) || !take_u8 (reader, &type) || !take_u32 (reader, &generation) ||
          !take_bytes (reader, USI_MLS_AEAD_KEY_LENGTH, &key) ||
          !take_bytes (reader, USI_MLS_AEAD_NONCE_LENGTH, &nonce))
        return FALSE;

      ratchet = find_restored_ratchet (tree, leaf_index, type);
      if (ratchet == NULL || generation >= ratchet->next_generation ||
          in_expired_run (ratchet, generation) ||
          g_tree_lookup (ratchet->skipped, GUINT_TO_POINTER (generation)) != NULL ||
          (guint) g_tree_nnodes (ratchet->skipped) >= tree->max_forward_jump)
        return FALSE;

      skipped = g_new (SkippedKey, 1);
      memcpy (skipped->key_nonce.key, key, sizeof skipped->key_nonce.key);
      memcpy (skipped->key_nonce.nonce, nonce, sizeof skipped->key_nonce.nonce);
      skipped->ratchet = ratchet;
      skipped->generation = generation;
      skipped->age = g_sequence_append (tree->skipped_by_age, skipped);
      g_tree_insert (ratchet->skipped, GUINT_TO_POINTER (generation), skipped);
      tree->n_skipped_keys++;
    }

  return reader->offset == reader->length;
}

UsiMlsSecretTree *
usi_mls_secret_tree_restore (const char    *prefix,
                             const guint8  *data,
                             gsize          length,
                             GError       **error)
{
  StateReader reader = { data, length, 0 };
  UsiMlsSecretTree *tree;
  guint8 kind, version;
  guint32 n_leaves, max_forward_jump, max_skipped_keys;
  guint32 width = 1;

  g_return_val_if_fail (prefix != NULL, NULL);
  g_return_val_if_fail (data != NULL || length == 0, NULL);

  if (!take_u8 (&reader, &kind) || kind != STATE_KIND || !take_u8 (&reader, &version))
    {
      state_refused (error);
      return NULL;
    }
  if (version != STATE_VERSION)
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                           _("The saved message keys were written by another version of Usi, which this one cannot read."));
      return NULL;
    }
  if (!take_u32 (&reader, &n_leaves) || !take_u32 (&reader, &max_forward_jump) ||
      !take_u32 (&reader, &max_skipped_keys) ||
      n_leaves == 0 || n_leaves > MAX_LEAVES)
    {
      state_refused (error);
      return NULL;
    }
  while (width < n_leaves)
    width <<= 1;

  /* The tree of usi_mls_secret_tree_new_full(), empty: what it holds comes
   * from the input alone.  Freeing it on a refusal wipes what was read. */
  tree = g_new0 (UsiMlsSecretTree, 1);
  tree->prefix = g_strdup (prefix);
  tree->n_leaves = n_leaves;
  tree->width = width;
  tree->max_forward_jump = max_forward_jump;
  tree->max_skipped_keys = max_skipped_keys;
  tree->skipped_by_age = g_sequence_new (NULL);
  tree->node_secrets = g_hash_table_new_full (NULL, NULL, NULL, secret_free);
  tree->leaves = g_hash_table_new_full (NULL, NULL, NULL, leaf_free);

  if (!restore_into (tree, &reader))
    {
      usi_mls_secret_tree_free (tree);
      state_refused (error);
      return NULL;
    }

  return tree;
}

guint32
usi_mls_secret_tree_get_n_leaves (UsiMlsSecretTree *tree)
{
  g_return_val_if_fail (tree != NULL, 0);

  return tree->n_leaves;
}
