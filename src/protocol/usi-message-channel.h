/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "usi-message.h"

G_BEGIN_DECLS

/* How long after a new epoch the previous one still opens messages, measured
 * on the @now_ms the caller passes (docs/protocol.md §8.5). */
#define USI_MESSAGE_EPOCH_GRACE_MS  (G_GUINT64_CONSTANT (5) * 60 * 1000)
/* How many of each sender's latest generations are remembered to link its
 * chain of message hashes. */
#define USI_MESSAGE_GAP_WINDOW      32
/* The furthest a message may be ahead of its sender's last authenticated
 * one.  The ratchet only moves once a message authenticated (peek, then
 * consume), so forged frames cannot evict genuine keys; this bound on
 * authenticated progress caps the key derivations a forged header can make
 * us compute before its tag fails.  Epochs keep at least twice as many
 * skipped keys (max_forward_jump ≥ 2 × this; §8.5). */
#define USI_MESSAGE_MAX_JUMP        500

/* One room's messages as this member sees them: the current epoch and,
 * briefly, the previous one; the chain of what this member sent; and, per
 * sender, what has arrived, to report gaps.  Duplicates and forward jumps
 * are refused by the epochs' ratchets. */
typedef struct _UsiMessageChannel UsiMessageChannel;

/* A channel on @epoch, of either mode.  In a pre-shared epoch the channel
 * keeps each sender's ratchet itself (§9.3). */
UsiMessageChannel  *usi_message_channel_new                (UsiEpoch           *epoch,
                                                            GError            **error);
void                usi_message_channel_free               (UsiMessageChannel  *channel);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiMessageChannel, usi_message_channel_free)

UsiEpoch           *usi_message_channel_get_epoch          (UsiMessageChannel  *channel);
/* NULL when there is none: it is dropped with its keys by the next
 * advance, by usi_message_channel_forget_previous(), or by the first open
 * whose @now_ms is past its window. */
UsiEpoch           *usi_message_channel_get_previous_epoch (UsiMessageChannel  *channel);

/* Moves to @epoch, which must be the same room's next epoch (WRONG_ROOM,
 * WRONG_EPOCH); pre-shared rooms have one epoch only (NOT_ALLOWED).  The
 * current epoch becomes the previous one until @now_ms +
 * USI_MESSAGE_EPOCH_GRACE_MS; the one before it is dropped with its keys. */
gboolean            usi_message_channel_advance            (UsiMessageChannel  *channel,
                                                            UsiEpoch           *epoch,
                                                            guint64             now_ms,
                                                            GError            **error);
/* Drops the previous epoch and its keys now. */
void                usi_message_channel_forget_previous    (UsiMessageChannel  *channel);

/* Seals a message in the current epoch, chained to the last one this member
 * sealed in it.  See usi_app_message_seal(). */
GBytes             *usi_message_channel_seal               (UsiMessageChannel  *channel,
                                                            UsiIdentity        *sender,
                                                            UsiContentType      content_type,
                                                            const guint8       *body,
                                                            gsize               body_length,
                                                            guint64             sent_ms,
                                                            UsiRandom          *random,
                                                            GError            **error);

/* Opens a frame body.  @now_ms is when the relay received the frame when
 * known (history), else the local clock; it decides only whether the
 * previous epoch is still open.  A message of a later epoch fails with
 * EPOCH_NOT_YET: keep it and try again once that epoch's commit is applied.
 * The result's gap flag says messages may be missing from its sender. */
UsiReceivedMessage *usi_message_channel_open               (UsiMessageChannel  *channel,
                                                            const guint8       *data,
                                                            gsize               length,
                                                            guint64             now_ms,
                                                            GError            **error);

/* For tests and diagnostics: how many senders' ratchets the channel keeps
 * for the current epoch of a pre-shared room (0 in an owned room, whose
 * ratchets are the epoch's). */
guint               usi_message_channel_get_n_preshared_ratchets (UsiMessageChannel *channel);

/* "Messages may be missing from NAME.", translated, for a message whose gap
 * flag is set. */
char               *usi_message_describe_gap               (const char         *sender_name);

/* The channel's own state (§12): per sender of each epoch slot the chain of
 * message hashes and what arrived (gap detection), one's own chain, the
 * previous epoch's grace deadline, and in a pre-shared epoch the senders'
 * ratchets.  Not the epochs: restore takes them (the same objects the group
 * holds; @previous_epoch NULL when none).  In an owned room the ratchets
 * are the epochs' (saved with the group), so save the group and the channel
 * together.  Secret bytes.  Restore refuses bytes that do not match the
 * epochs given (WRONG_EPOCH, WRONG_ROOM) or are malformed (MALFORMED,
 * UNSUPPORTED_VERSION).  A @previous_epoch is ignored when the channel had
 * already let go of its previous epoch (its window ended) while the group
 * kept it. */
GBytes             *usi_message_channel_save               (UsiMessageChannel  *channel);
UsiMessageChannel  *usi_message_channel_restore            (const guint8       *data,
                                                            gsize               length,
                                                            UsiEpoch           *epoch,
                                                            UsiEpoch           *previous_epoch,
                                                            GError            **error);

G_END_DECLS
