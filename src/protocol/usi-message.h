/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "crypto/usi-random.h"

#include "usi-epoch.h"
#include "usi-identity.h"
#include "usi-protocol-labels.h"

G_BEGIN_DECLS

/* Application messages (docs/protocol.md §8): the body of a
 * USI_FRAME_APP_MESSAGE frame.
 *
 *   header (relay-visible, the AEAD associated data) ‖ V<ciphertext>
 *
 * The ciphertext is ChaCha20-Poly1305 under the sender's application ratchet
 * key of the epoch, and carries the content, the sender's signature and zero
 * padding up to a size bucket.  These functions handle one message against
 * one epoch; UsiMessageChannel adds the epoch window and gap reports. */

#define USI_APP_MESSAGE_REUSE_GUARD_LENGTH 4
/* u8 version ‖ room_id[16] ‖ u64 epoch ‖ u32 sender_index ‖ u32 generation ‖ reuse_guard[4] */
#define USI_APP_MESSAGE_HEADER_LENGTH      (1 + USI_ROOM_ID_LENGTH + 8 + 4 + 4 + USI_APP_MESSAGE_REUSE_GUARD_LENGTH)
#define USI_APP_MESSAGE_MAX_BODY           (64 * 1024)
/* The largest padded plaintext: 64 KiB of body and every other field fit. */
#define USI_APP_MESSAGE_MAX_BUCKET         (65 * 1024)

/* What a message's body is.  Anything else is refused (UNKNOWN_TYPE). */
typedef enum
{
  USI_CONTENT_TYPE_TEXT       = 1,  /* UTF-8 the sender typed; never interpreted here */
  USI_CONTENT_TYPE_FILE_OFFER = 2,  /* body defined with files (§10) */
  USI_CONTENT_TYPE_FILE_END   = 3,  /* body defined with files (§10) */
} UsiContentType;

/* The relay-visible header. */
typedef struct
{
  guint8  version;
  guint8  room_id[USI_ROOM_ID_LENGTH];
  guint64 epoch;
  guint32 sender_index;
  guint32 generation;
  guint8  reuse_guard[USI_APP_MESSAGE_REUSE_GUARD_LENGTH];
} UsiAppMessageHeader;

/* Parses a frame body's structure without any key: the header (version
 * checked) and the ciphertext, which must be exactly one padding bucket plus
 * the AEAD tag long.  @ciphertext points into @data.  What a relay or a
 * router can check. */
gboolean usi_app_message_parse (const guint8          *data,
                                gsize                  length,
                                UsiAppMessageHeader   *header,
                                const guint8         **ciphertext,
                                gsize                 *ciphertext_length,
                                GError               **error);

/* A message that opened: decrypted, padding checked, signature verified. */
typedef struct
{
  guint64         epoch;
  guint32         sender_index;
  guint32         generation;
  guint8          sender_identity_key[USI_KEY_LENGTH];
  UsiLeafNode     sender_leaf;      /* from the roster, or as announced (§9) */
  char           *sender_display_name;
  guint64         sent_ms;          /* the sender's clock: display only */
  UsiContentType  content_type;
  GBytes         *body;             /* exactly the bytes sent; wiped when freed */
  guint8          prev_hash[USI_HASH_LENGTH];
  guint8          message_hash[USI_HASH_LENGTH];  /* SHA-256 of the frame body */
  /* Set by UsiMessageChannel: a generation before this one has not arrived
   * (yet), or the sender's chain of message hashes does not link up, so
   * messages may be missing from this sender.  Never set by
   * usi_app_message_open() alone. */
  gboolean        gap;
} UsiReceivedMessage;

void     usi_received_message_free (UsiReceivedMessage *message);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiReceivedMessage, usi_received_message_free)

/* Seals a message from this member (@epoch's own index) with the next
 * generation of its application ratchet.  @sender must be the identity of
 * that roster entry (NOT_MEMBER otherwise).  @prev_hash is the
 * message_hash of this member's previous message in @epoch, NULL (all
 * zeros) for its first.  The reuse guard is drawn from @random before the
 * ratchet moves, so a failing random source leaves everything as it was and
 * returns NULL.  On success, @message_hash (may be NULL) receives the
 * SHA-256 of the returned frame body.  Owned rooms only (NOT_ALLOWED for a
 * pre-shared epoch, whose ratchets are kept by UsiMessageChannel). */
GBytes             *usi_app_message_seal (UsiEpoch        *epoch,
                                          UsiIdentity     *sender,
                                          UsiContentType   content_type,
                                          const guint8    *body,
                                          gsize            body_length,
                                          const guint8    *prev_hash,
                                          guint64          sent_ms,
                                          UsiRandom       *random,
                                          guint8          *message_hash,
                                          GError         **error);

/* Opens a frame body of @epoch (its room and number must match: WRONG_ROOM,
 * WRONG_EPOCH), checking in the order of docs/protocol.md §8.4.  On any
 * failure nothing decrypted leaves this function, and the generation's key
 * is given back to the ratchet if it had been taken, so a forged frame
 * cannot burn the key of the genuine message.  Owned rooms only, as
 * usi_app_message_seal(); a receiver uses UsiMessageChannel, which adds the
 * epoch window, the bound on forward jumps and gap reports. */
UsiReceivedMessage *usi_app_message_open (UsiEpoch        *epoch,
                                          const guint8    *data,
                                          gsize            length,
                                          GError         **error);

#ifdef USI_ENABLE_TEST_RANDOM
/* Test builds only: seals as if this member had @sender_index, signed by
 * @sender whoever it is, to show what receivers do with a member that
 * claims another's index (row M6).  In a pre-shared epoch the content
 * announces this member's own roster entry, from a fresh ratchet of
 * @sender_index (generation 0). */
GBytes             *usi_app_message_seal_as_for_test (UsiEpoch        *epoch,
                                                      UsiIdentity     *sender,
                                                      guint32          sender_index,
                                                      UsiContentType   content_type,
                                                      const guint8    *body,
                                                      gsize            body_length,
                                                      guint64          sent_ms,
                                                      UsiRandom       *random,
                                                      GError         **error);

/* Test builds only: decrypts @data with @twin (an epoch built from the same
 * secrets as the receiver's, whose ratchet still holds the generation), lets
 * @mutate change the padded plaintext (content, then the signature at
 * @signature_offset, then the padding), and encrypts it again under the
 * same header, so a test can craft a frame that passes the AEAD but breaks
 * a later check. */
typedef void (*UsiAppMessageMutateFunc) (GByteArray *plaintext,
                                         gsize       signature_offset,
                                         gpointer    user_data);
GBytes             *usi_app_message_reseal_for_test  (UsiEpoch                *twin,
                                                      const guint8            *data,
                                                      gsize                    length,
                                                      UsiAppMessageMutateFunc  mutate,
                                                      gpointer                 user_data,
                                                      GError                 **error);
#endif

G_END_DECLS
