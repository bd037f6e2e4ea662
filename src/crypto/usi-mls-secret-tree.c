/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The per-epoch secret tree and sender ratchets of RFC 9420 §9, keeping the
 * §9.2 deletion schedule: what has been consumed is wiped at once, so a later
 * compromise of this state cannot decrypt messages already read.  Node
 * secrets are derived lazily, top down, on a leaf's first use.  No I/O, and
 * never a copy of a secret outside the structures below. */

#define G_LOG_DOMAIN "usi-crypto"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "usi-crypto-error.h"
#include "usi-mls-secret-tree.h"
#include "usi-secret.h"

#define MAX_LEAVES       (1u << 31)
#define GENERATION_LIMIT (G_GUINT64_CONSTANT (1) << 32)

typedef struct
{
  guint8 key[USI_MLS_AEAD_KEY_LENGTH];
  guint8 nonce[USI_MLS_AEAD_NONCE_LENGTH];
} KeyNonce;

typedef struct
{
  guint8   secret[USI_MLS_HASH_LENGTH]; /* ratchet_secret_[next_generation] */
  guint64  next_generation;             /* GENERATION_LIMIT once exhausted */
  GTree   *skipped;                     /* generation → KeyNonce, kept for out-of-order messages */
} Ratchet;

typedef struct
{
  Ratchet ratchets[2]; /* indexed by UsiMlsRatchetType */
} Leaf;

struct _UsiMlsSecretTree
{
  char       *prefix;
  guint32     n_leaves;
  guint32     width;            /* leaves, a power of two */
  guint32     max_forward_jump;
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
key_nonce_free (gpointer data)
{
  usi_secret_wipe (data, sizeof (KeyNonce));
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

static void
leaf_free (gpointer data)
{
  Leaf *leaf = data;

  for (guint i = 0; i < G_N_ELEMENTS (leaf->ratchets); i++)
    g_tree_destroy (leaf->ratchets[i].skipped);
  usi_secret_wipe (leaf, sizeof *leaf);
  g_free (leaf);
}

UsiMlsSecretTree *
usi_mls_secret_tree_new (const char    *prefix,
                         const guint8  *encryption_secret,
                         guint32        n_leaves,
                         guint32        max_forward_jump,
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
  tree->node_secrets = g_hash_table_new_full (NULL, NULL, NULL, secret_free);
  tree->leaves = g_hash_table_new_full (NULL, NULL, NULL, leaf_free);

  /* The root's secret is the encryption_secret; node indices as in RFC 9420
   * Appendix C: leaf i is node 2i, the root of 2^d leaves is 2^d - 1. */
  g_hash_table_insert (tree->node_secrets, GUINT_TO_POINTER (width - 1),
                       g_memdup2 (encryption_secret, USI_MLS_HASH_LENGTH));

  return tree;
}

void
usi_mls_secret_tree_free (UsiMlsSecretTree *tree)
{
  if (tree == NULL)
    return;

  g_hash_table_destroy (tree->node_secrets);
  g_hash_table_destroy (tree->leaves);
  g_free (tree->prefix);
  g_free (tree);
}

static guint
root_level (UsiMlsSecretTree *tree)
{
  return (guint) g_bit_nth_msf (tree->width, -1);
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

  if (!usi_mls_expand_with_label (tree->prefix, secret, "tree", (const guint8 *) "left", 4,
                                  left, USI_MLS_HASH_LENGTH, error) ||
      !usi_mls_expand_with_label (tree->prefix, secret, "tree", (const guint8 *) "right", 5,
                                  right, USI_MLS_HASH_LENGTH, error))
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
  guint32 node = tree->width - 1;
  guint level = root_level (tree);
  const guint8 *leaf_secret;
  Leaf *leaf;

  /* Exactly one node on the path from the root holds a secret: the
   * frontier left by earlier splits. */
  while (!g_hash_table_contains (tree->node_secrets, GUINT_TO_POINTER (node)))
    {
      g_assert (level >= 1);
      node = target < node ? node - (1u << (level - 1))
                           : node + (1u << (level - 1));
      level--;
    }

  while (node != target)
    {
      if (!split_node (tree, node, level, error))
        return NULL;
      node = target < node ? node - (1u << (level - 1))
                           : node + (1u << (level - 1));
      level--;
    }

  leaf_secret = g_hash_table_lookup (tree->node_secrets, GUINT_TO_POINTER (node));
  g_assert (leaf_secret != NULL);

  leaf = g_new0 (Leaf, 1);
  for (guint i = 0; i < G_N_ELEMENTS (leaf->ratchets); i++)
    leaf->ratchets[i].skipped = g_tree_new_full (compare_generations, NULL, NULL, key_nonce_free);

  if (!usi_mls_expand_with_label (tree->prefix, leaf_secret, "handshake", NULL, 0,
                                  leaf->ratchets[USI_MLS_RATCHET_HANDSHAKE].secret,
                                  USI_MLS_HASH_LENGTH, error) ||
      !usi_mls_expand_with_label (tree->prefix, leaf_secret, "application", NULL, 0,
                                  leaf->ratchets[USI_MLS_RATCHET_APPLICATION].secret,
                                  USI_MLS_HASH_LENGTH, error))
    {
      leaf_free (leaf);
      return NULL;
    }

  g_hash_table_remove (tree->node_secrets, GUINT_TO_POINTER (node));
  g_hash_table_insert (tree->leaves, GUINT_TO_POINTER (leaf_index), leaf);
  return leaf;
}

static Ratchet *
lookup_ratchet (UsiMlsSecretTree   *tree,
                UsiMlsRatchetType   type,
                guint32             leaf_index,
                GError            **error)
{
  Leaf *leaf;

  if (leaf_index >= tree->n_leaves)
    {
      g_set_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                   _("No member has index %u"), leaf_index);
      return NULL;
    }

  leaf = g_hash_table_lookup (tree->leaves, GUINT_TO_POINTER (leaf_index));
  if (leaf == NULL)
    leaf = derive_leaf (tree, leaf_index, error);

  return leaf != NULL ? &leaf->ratchets[type] : NULL;
}

/* Derives the key and nonce of the ratchet's next generation, then moves the
 * ratchet on and wipes the secret it came from. */
static gboolean
ratchet_step (UsiMlsSecretTree  *tree,
              Ratchet           *ratchet,
              KeyNonce          *out,
              GError           **error)
{
  guint32 generation = (guint32) ratchet->next_generation;
  guint8 next_secret[USI_MLS_HASH_LENGTH];

  g_assert (ratchet->next_generation < GENERATION_LIMIT);

  if (!usi_mls_derive_tree_secret (tree->prefix, ratchet->secret, "key", generation,
                                   out->key, sizeof out->key, error) ||
      !usi_mls_derive_tree_secret (tree->prefix, ratchet->secret, "nonce", generation,
                                   out->nonce, sizeof out->nonce, error))
    {
      usi_secret_wipe (out, sizeof *out);
      return FALSE;
    }

  /* The last generation has no successor to derive. */
  if (generation < G_MAXUINT32 &&
      !usi_mls_derive_tree_secret (tree->prefix, ratchet->secret, "secret", generation,
                                   next_secret, sizeof next_secret, error))
    {
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

static gboolean
lookup_first (gpointer key,
              gpointer value,
              gpointer user_data)
{
  *(gpointer *) user_data = key;
  return TRUE;
}

/* Keeps a skipped generation's key, dropping the oldest beyond the cap. */
static void
keep_skipped (UsiMlsSecretTree *tree,
              Ratchet          *ratchet,
              guint32           generation,
              KeyNonce         *key_nonce)
{
  g_tree_insert (ratchet->skipped, GUINT_TO_POINTER (generation), key_nonce);

  while ((guint) g_tree_nnodes (ratchet->skipped) > tree->max_forward_jump)
    {
      gpointer oldest = NULL;

      g_tree_foreach (ratchet->skipped, lookup_first, &oldest);
      g_tree_remove (ratchet->skipped, oldest);
    }
}

static void
hand_out (const KeyNonce *key_nonce,
          guint8         *key,
          guint8         *nonce)
{
  memcpy (key, key_nonce->key, sizeof key_nonce->key);
  memcpy (nonce, key_nonce->nonce, sizeof key_nonce->nonce);
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
  Ratchet *ratchet;
  KeyNonce current;

  g_return_val_if_fail (tree != NULL, FALSE);
  g_return_val_if_fail (type == USI_MLS_RATCHET_HANDSHAKE || type == USI_MLS_RATCHET_APPLICATION, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (nonce != NULL, FALSE);

  ratchet = lookup_ratchet (tree, type, leaf, error);
  if (ratchet == NULL)
    return FALSE;

  if (generation < ratchet->next_generation)
    {
      KeyNonce *skipped = g_tree_lookup (ratchet->skipped, GUINT_TO_POINTER (generation));

      if (skipped == NULL)
        {
          g_set_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_KEY_CONSUMED,
                       _("The key of message %u was already used"), generation);
          return FALSE;
        }

      hand_out (skipped, key, nonce);
      g_tree_remove (ratchet->skipped, GUINT_TO_POINTER (generation));
      return TRUE;
    }

  if (generation - ratchet->next_generation > tree->max_forward_jump)
    {
      g_set_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_LIMIT,
                   _("Message %u is too far ahead of the messages received"), generation);
      return FALSE;
    }

  while (ratchet->next_generation < generation)
    {
      guint32 skipped_generation = (guint32) ratchet->next_generation;
      KeyNonce *skipped = g_new (KeyNonce, 1);

      if (!ratchet_step (tree, ratchet, skipped, error))
        {
          key_nonce_free (skipped);
          return FALSE;
        }
      keep_skipped (tree, ratchet, skipped_generation, skipped);
    }

  if (!ratchet_step (tree, ratchet, &current, error))
    return FALSE;

  hand_out (&current, key, nonce);
  usi_secret_wipe (&current, sizeof current);
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
  KeyNonce *restored;

  g_return_val_if_fail (tree != NULL, FALSE);
  g_return_val_if_fail (type == USI_MLS_RATCHET_HANDSHAKE || type == USI_MLS_RATCHET_APPLICATION, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (nonce != NULL, FALSE);

  ratchet = lookup_ratchet (tree, type, leaf, error);
  if (ratchet == NULL)
    return FALSE;

  if (generation >= ratchet->next_generation ||
      g_tree_lookup (ratchet->skipped, GUINT_TO_POINTER (generation)) != NULL)
    {
      g_set_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                   _("The key of message %u cannot be given back"), generation);
      return FALSE;
    }

  restored = g_new (KeyNonce, 1);
  memcpy (restored->key, key, sizeof restored->key);
  memcpy (restored->nonce, nonce, sizeof restored->nonce);
  keep_skipped (tree, ratchet, generation, restored);
  return TRUE;
}

guint64
usi_mls_secret_tree_get_next_generation (UsiMlsSecretTree  *tree,
                                         UsiMlsRatchetType  type,
                                         guint32            leaf_index)
{
  Leaf *leaf;

  g_return_val_if_fail (tree != NULL, 0);
  g_return_val_if_fail (type == USI_MLS_RATCHET_HANDSHAKE || type == USI_MLS_RATCHET_APPLICATION, 0);

  leaf = g_hash_table_lookup (tree->leaves, GUINT_TO_POINTER (leaf_index));
  return leaf != NULL ? leaf->ratchets[type].next_generation : 0;
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
  Leaf *leaf;

  g_return_val_if_fail (tree != NULL, 0);
  g_return_val_if_fail (type == USI_MLS_RATCHET_HANDSHAKE || type == USI_MLS_RATCHET_APPLICATION, 0);

  leaf = g_hash_table_lookup (tree->leaves, GUINT_TO_POINTER (leaf_index));
  return leaf != NULL ? (guint) g_tree_nnodes (leaf->ratchets[type].skipped) : 0;
}
