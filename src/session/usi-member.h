/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/* One member of a room as this person sees it: name, index, identity key,
 * the safety number shared with them, and whether they were verified. */

typedef enum
{
  USI_MEMBER_UNVERIFIED,
  USI_MEMBER_VERIFIED,
  USI_MEMBER_KEY_CHANGED,   /* a different key was verified under this name: sending is blocked */
} UsiMemberVerification;

#define USI_TYPE_MEMBER (usi_member_get_type ())
G_DECLARE_FINAL_TYPE (UsiMember, usi_member, USI, MEMBER, GObject)

const char            *usi_member_get_name            (UsiMember *self);
guint                  usi_member_get_index           (UsiMember *self);
const guint8          *usi_member_get_identity_key    (UsiMember *self);   /* 32 bytes */
gboolean               usi_member_get_is_owner        (UsiMember *self);
gboolean               usi_member_get_is_self         (UsiMember *self);
/* 60 digits in 12 groups of 5, separated by spaces; "" for oneself. */
const char            *usi_member_get_safety_number   (UsiMember *self);
/* 7 emoji (the comparison string); "" for oneself. */
const char            *usi_member_get_emoji           (UsiMember *self);
UsiMemberVerification  usi_member_get_verification    (UsiMember *self);

/* Properties: name, index, is-owner, is-self, safety-number, emoji,
 * verification (notify when it changes). */

G_END_DECLS
