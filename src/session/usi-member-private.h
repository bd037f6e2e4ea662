/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "usi-member.h"
#include "usi-session.h"

G_BEGIN_DECLS

/* The safety number and emoji are computed when first asked for, through
 * `session` (weak), since each costs thousands of hashes. */
UsiMember *_usi_member_new              (guint         index,
                                         const char   *name,
                                         const guint8 *identity_key,
                                         gboolean      is_owner,
                                         gboolean      is_self,
                                         UsiSession   *session);
void       _usi_member_set_verification (UsiMember              *self,
                                         UsiMemberVerification   verification);

G_END_DECLS
