/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "crypto/usi-mls-secret-tree.h"

G_BEGIN_DECLS

/* The ratchets of member @index of a pre-shared epoch: a one-leaf secret
 * tree whose root is leaf @index's secret in the RFC 9420 secret tree of
 * USI_PRESHARED_INDEX_LIMIT leaves over @encryption_secret, so leaf 0 of
 * the result ratchets exactly as leaf @index of that tree would, without
 * keeping the path's other secrets. */
UsiMlsSecretTree *_usi_preshared_sender_ratchets_new (const guint8  *encryption_secret,
                                                      guint32        index,
                                                      GError       **error);

G_END_DECLS
