/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "usi-message.h"

G_BEGIN_DECLS

UsiMessage *_usi_message_new       (guint            sender_index,
                                    const char      *sender_name,
                                    const guint8    *sender_key,
                                    const char      *text,
                                    gint64           sent_ms,
                                    gint64           received_ms,
                                    guint64          epoch,
                                    guint64          seq,
                                    gboolean         is_own,
                                    gboolean         gap_before,
                                    UsiMessageState  state);
void        _usi_message_set_sent  (UsiMessage      *self,
                                    guint64          seq);
void        _usi_message_set_failed (UsiMessage     *self);

G_END_DECLS
