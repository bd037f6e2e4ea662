/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "crypto/usi-hpke.h"
#include "crypto/usi-random.h"

#include "usi-group-info.h"
#include "usi-identity.h"

G_BEGIN_DECLS

/* Welcome (USI_FRAME_WELCOME body, docs/protocol.md §7): what a joiner needs
 * to enter the epoch that added it: the epoch's public description, the
 * joiner_secret sealed to the joiner's leaf key, and the owner's signature.
 * This unit is the structure; UsiMemberGroup decides whether to accept it. */

#define USI_WELCOME_VERSION 1
#define USI_WELCOME_SEALED_SECRET_LENGTH (USI_KEY_LENGTH + USI_HPKE_TAG_LENGTH)

typedef struct
{
  UsiGroupInfo *group_info;
  guint32       joiner_index;
  guint8        enc[USI_HPKE_ENC_LENGTH];
  guint8        sealed_joiner_secret[USI_WELCOME_SEALED_SECRET_LENGTH];
  guint8        signature[USI_SIGNATURE_LENGTH];
} UsiWelcome;

UsiWelcome *usi_welcome_new    (void);
void        usi_welcome_free   (UsiWelcome         *welcome);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiWelcome, usi_welcome_free)

GBytes     *usi_welcome_encode (const UsiWelcome   *welcome);
/* Canonical decoding: version, the group info (usi_group_info_read), no
 * trailing bytes.  No signature is checked. */
UsiWelcome *usi_welcome_decode (const guint8       *body,
                                gsize               length,
                                GError            **error);

/* Seals @joiner_secret to @leaf_key, bound to the group info and
 * joiner_index already set. */
gboolean    usi_welcome_seal   (UsiWelcome         *welcome,
                                const guint8       *leaf_key,
                                const guint8       *joiner_secret,
                                UsiRandom          *random,
                                GError            **error);
/* DECRYPTION_FAILED when it does not open with @private_key. */
gboolean    usi_welcome_open   (const UsiWelcome   *welcome,
                                const guint8       *private_key,
                                guint8             *joiner_secret,
                                GError            **error);
/* SignWithLabel(IK, "WelcomeTBS", every field before the signature). */
gboolean    usi_welcome_sign   (UsiWelcome         *welcome,
                                UsiIdentity        *identity,
                                GError            **error);
/* BAD_SIGNATURE unless signed by @identity_key. */
gboolean    usi_welcome_verify (const UsiWelcome   *welcome,
                                const guint8       *identity_key,
                                GError            **error);

G_END_DECLS
