/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "crypto/usi-random.h"

#include "usi-protocol-labels.h"
#include "usi-wire.h"

G_BEGIN_DECLS

/* A person's long-term Ed25519 identity key (IK).  The private half never
 * leaves this object except through usi_identity_export_seed(), for the
 * encrypted store. */
typedef struct _UsiIdentity UsiIdentity;

UsiIdentity  *usi_identity_generate          (UsiRandom     *random,
                                              GError       **error);
UsiIdentity  *usi_identity_new_from_seed     (const guint8  *seed,
                                              GError       **error);
void          usi_identity_free              (UsiIdentity   *identity);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiIdentity, usi_identity_free)

const guint8 *usi_identity_get_public_key    (UsiIdentity   *identity);
void          usi_identity_export_seed       (UsiIdentity   *identity,
                                              guint8        *seed);
/* SignWithLabel (RFC 9420 §5.1.2) under USI_LABEL_PREFIX. */
gboolean      usi_identity_sign              (UsiIdentity   *identity,
                                              const char    *label,
                                              const guint8  *content,
                                              gsize          length,
                                              guint8        *signature,
                                              GError       **error);
/* VerifyWithLabel; USI_PROTOCOL_ERROR_BAD_SIGNATURE when it does not verify. */
gboolean      usi_identity_verify            (const guint8  *public_key,
                                              const char    *label,
                                              const guint8  *content,
                                              gsize          length,
                                              const guint8  *signature,
                                              GError       **error);

/* A leaf node: the X25519 key (LK) others seal to with HPKE, signed by the
 * identity it belongs to.  @sequence grows with every rotation of the leaf
 * key, so an old leaf node cannot be passed off as the current one. */
typedef struct
{
  guint8  identity_key[USI_KEY_LENGTH];
  guint8  leaf_key[USI_KEY_LENGTH];
  guint32 sequence;
  guint64 created_ms;
  guint8  signature[USI_SIGNATURE_LENGTH];
} UsiLeafNode;

#define USI_LEAF_NODE_ENCODED_LENGTH (USI_KEY_LENGTH * 2 + 4 + 8 + USI_SIGNATURE_LENGTH)

void          usi_leaf_node_write            (const UsiLeafNode *node,
                                              GByteArray        *out);
gboolean      usi_leaf_node_read             (UsiWireReader     *reader,
                                              UsiLeafNode       *node,
                                              GError           **error);
/* Checks the signature against node->identity_key. */
/* Byte for byte the same leaf node (all fields, signature included). */
gboolean      usi_leaf_node_equal            (const UsiLeafNode *a,
                                              const UsiLeafNode *b);
gboolean      usi_leaf_node_verify           (const UsiLeafNode *node,
                                              GError           **error);

/* A leaf node with its private key, held by its owner only. */
typedef struct
{
  UsiLeafNode node;
  guint8      private_key[USI_KEY_LENGTH];
} UsiLeafSecret;

/* A fresh leaf key signed by @identity.  The time is an argument: nothing in
 * protocol/ reads a clock. */
gboolean      usi_leaf_secret_generate       (UsiRandom         *random,
                                              UsiIdentity       *identity,
                                              guint32            sequence,
                                              guint64            created_ms,
                                              UsiLeafSecret     *secret,
                                              GError           **error);
void          usi_leaf_secret_clear          (UsiLeafSecret     *secret);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (UsiLeafSecret, usi_leaf_secret_clear)

G_END_DECLS
