/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Identity keys and leaf nodes: who a member is, and the key others seal
 * epoch secrets to.  No I/O here. */

#define G_LOG_DOMAIN "usi-protocol"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "crypto/usi-ed25519.h"
#include "crypto/usi-hpke.h"
#include "crypto/usi-mls-labels.h"
#include "crypto/usi-secret.h"
#include "crypto/usi-x25519.h"

#include "usi-identity.h"
#include "usi-protocol-error.h"

#define LEAF_NODE_LABEL "LeafNodeTBS"

struct _UsiIdentity
{
  guint8                seed[USI_ED25519_SEED_LENGTH];
  guint8                public_key[USI_ED25519_PUBLIC_KEY_LENGTH];
  /* Loaded once: an identity signs every message it sends. */
  UsiEd25519SigningKey *signing_key;
};

UsiIdentity *
usi_identity_generate (UsiRandom  *random,
                       GError    **error)
{
  g_autoptr(UsiIdentity) identity = g_new0 (UsiIdentity, 1);

  g_return_val_if_fail (random != NULL, NULL);

  if (!usi_ed25519_generate (random, identity->seed, identity->public_key, error))
    return NULL;
  identity->signing_key = usi_ed25519_signing_key_new (identity->seed, error);
  if (identity->signing_key == NULL)
    return NULL;

  return g_steal_pointer (&identity);
}

UsiIdentity *
usi_identity_new_from_seed (const guint8  *seed,
                            GError       **error)
{
  g_autoptr(UsiIdentity) identity = g_new0 (UsiIdentity, 1);

  g_return_val_if_fail (seed != NULL, NULL);

  memcpy (identity->seed, seed, sizeof identity->seed);
  if (!usi_ed25519_public_from_seed (identity->seed, identity->public_key, error))
    return NULL;
  identity->signing_key = usi_ed25519_signing_key_new (identity->seed, error);
  if (identity->signing_key == NULL)
    return NULL;

  return g_steal_pointer (&identity);
}

void
usi_identity_free (UsiIdentity *identity)
{
  if (identity == NULL)
    return;

  g_clear_pointer (&identity->signing_key, usi_ed25519_signing_key_free);
  usi_secret_wipe (identity, sizeof *identity);
  g_free (identity);
}

const guint8 *
usi_identity_get_public_key (UsiIdentity *identity)
{
  g_return_val_if_fail (identity != NULL, NULL);

  return identity->public_key;
}

void
usi_identity_export_seed (UsiIdentity *identity,
                          guint8      *seed)
{
  g_return_if_fail (identity != NULL);
  g_return_if_fail (seed != NULL);

  memcpy (seed, identity->seed, sizeof identity->seed);
}

gboolean
usi_identity_sign (UsiIdentity   *identity,
                   const char    *label,
                   const guint8  *content,
                   gsize          length,
                   guint8        *signature,
                   GError       **error)
{
  g_return_val_if_fail (identity != NULL, FALSE);
  g_return_val_if_fail (label != NULL, FALSE);

  return usi_mls_sign_with_label_key (USI_LABEL_PREFIX, identity->signing_key, label,
                                      content, length, signature, error);
}

gboolean
usi_identity_verify (const guint8  *public_key,
                     const char    *label,
                     const guint8  *content,
                     gsize          length,
                     const guint8  *signature,
                     GError       **error)
{
  GError *crypto_error = NULL;

  g_return_val_if_fail (public_key != NULL, FALSE);
  g_return_val_if_fail (label != NULL, FALSE);
  g_return_val_if_fail (signature != NULL, FALSE);

  if (!usi_mls_verify_with_label (USI_LABEL_PREFIX, public_key, label, content, length,
                                  signature, USI_SIGNATURE_LENGTH, &crypto_error))
    {
      _usi_protocol_propagate_crypto_error (error, crypto_error, USI_PROTOCOL_ERROR_BAD_SIGNATURE);
      return FALSE;
    }

  return TRUE;
}

static void
write_leaf_node_content (const UsiLeafNode *node,
                         GByteArray        *out)
{
  usi_wire_write_fixed (out, node->identity_key, sizeof node->identity_key);
  usi_wire_write_fixed (out, node->leaf_key, sizeof node->leaf_key);
  usi_wire_write_u32 (out, node->sequence);
  usi_wire_write_u64 (out, node->created_ms);
}

void
usi_leaf_node_write (const UsiLeafNode *node,
                     GByteArray        *out)
{
  g_return_if_fail (node != NULL);
  g_return_if_fail (out != NULL);

  write_leaf_node_content (node, out);
  usi_wire_write_fixed (out, node->signature, sizeof node->signature);
}

gboolean
usi_leaf_node_read (UsiWireReader  *reader,
                    UsiLeafNode    *node,
                    GError        **error)
{
  g_return_val_if_fail (reader != NULL, FALSE);
  g_return_val_if_fail (node != NULL, FALSE);

  return usi_wire_read_fixed_into (reader, sizeof node->identity_key, node->identity_key, error) &&
         usi_wire_read_fixed_into (reader, sizeof node->leaf_key, node->leaf_key, error) &&
         usi_wire_read_u32 (reader, &node->sequence, error) &&
         usi_wire_read_u64 (reader, &node->created_ms, error) &&
         usi_wire_read_fixed_into (reader, sizeof node->signature, node->signature, error);
}

gboolean
usi_leaf_node_equal (const UsiLeafNode *a,
                     const UsiLeafNode *b)
{
  return memcmp (a->identity_key, b->identity_key, sizeof a->identity_key) == 0 &&
         memcmp (a->leaf_key, b->leaf_key, sizeof a->leaf_key) == 0 &&
         a->sequence == b->sequence &&
         a->created_ms == b->created_ms &&
         memcmp (a->signature, b->signature, sizeof a->signature) == 0;
}

gboolean
usi_leaf_node_verify (const UsiLeafNode  *node,
                      GError            **error)
{
  g_autoptr(GByteArray) content = g_byte_array_new ();
  GError *crypto_error = NULL;

  g_return_val_if_fail (node != NULL, FALSE);

  write_leaf_node_content (node, content);
  if (!usi_identity_verify (node->identity_key, LEAF_NODE_LABEL, content->data, content->len,
                            node->signature, error))
    return FALSE;

  /* A correctly signed leaf key of small order would make every commit that
   * must seal to it fail: refused here, where every leaf node enters. */
  if (!usi_x25519_check_public_key (node->leaf_key, &crypto_error))
    {
      _usi_protocol_propagate_crypto_error (error, crypto_error, USI_PROTOCOL_ERROR_UNUSABLE_KEY);
      return FALSE;
    }

  return TRUE;
}

gboolean
usi_leaf_secret_generate (UsiRandom      *random,
                          UsiIdentity    *identity,
                          guint32         sequence,
                          guint64         created_ms,
                          UsiLeafSecret  *secret,
                          GError        **error)
{
  g_autoptr(GByteArray) content = g_byte_array_new ();

  g_return_val_if_fail (random != NULL, FALSE);
  g_return_val_if_fail (identity != NULL, FALSE);
  g_return_val_if_fail (secret != NULL, FALSE);

  memset (secret, 0, sizeof *secret);
  if (!usi_hpke_generate_key_pair (random, secret->private_key, secret->node.leaf_key, error))
    return FALSE;

  memcpy (secret->node.identity_key, identity->public_key, sizeof secret->node.identity_key);
  secret->node.sequence = sequence;
  secret->node.created_ms = created_ms;
  write_leaf_node_content (&secret->node, content);

  if (!usi_identity_sign (identity, LEAF_NODE_LABEL, content->data, content->len,
                          secret->node.signature, error))
    {
      usi_leaf_secret_clear (secret);
      return FALSE;
    }

  return TRUE;
}

void
usi_leaf_secret_clear (UsiLeafSecret *secret)
{
  if (secret != NULL)
    usi_secret_wipe (secret, sizeof *secret);
}
