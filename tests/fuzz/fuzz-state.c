/* SPDX-License-Identifier: GPL-3.0-or-later */

/* A room's saved state (docs/protocol.md §12), as read back from disk after
 * a restart: the input is one record, and its first byte (the record's
 * kind) picks the reader.
 *
 *   1 secret tree, 2 epoch, 3 message channel (on a copy of the fixture
 *   member's epoch 1), 4 pre-shared room, 5 owner group (with the fixture
 *   owner's identity), 6 member group (with the fixture member's
 *   identity), 7 invite book.
 *
 * A refusal is an error of the record's domain, never a crash.  What is
 * accepted must save back to exactly the input (a state has one encoding),
 * and must then work: the restored state is given the fixture's messages to
 * open. */

#include "config.h"

#include "crypto/usi-crypto-error.h"
#include "crypto/usi-mls-secret-tree.h"
#include "protocol/usi-epoch.h"
#include "protocol/usi-join.h"
#include "protocol/usi-member-group.h"
#include "protocol/usi-message-channel.h"
#include "protocol/usi-owner-group.h"
#include "protocol/usi-preshared-room.h"
#include "protocol/usi-protocol-error.h"

#include "usi-fuzz.h"
#include "usi-fuzz-fixture.h"

static const UsiFuzzRoom *room;

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  usi_fuzz_make_warnings_fatal ();
  room = usi_fuzz_room_get ();
  return 0;
}

static void
check_saves_back (GBytes       *saved,
                  const guint8 *data,
                  gsize         size,
                  const char   *what)
{
  usi_fuzz_check (saved != NULL);
  usi_fuzz_check_same_bytes (data, size, g_bytes_get_data (saved, NULL), g_bytes_get_size (saved), what);
}

/* Whatever a restored channel makes of genuine messages: opened, or refused
 * with a protocol error. */
static void
open_all (UsiMessageChannel *channel,
          GPtrArray         *messages)
{
  for (guint i = 0; i < messages->len; i++)
    {
      GBytes *body = g_ptr_array_index (messages, i);
      g_autoptr(GError) error = NULL;
      g_autoptr(UsiReceivedMessage) message = usi_message_channel_open (channel, g_bytes_get_data (body, NULL),
                                                                        g_bytes_get_size (body),
                                                                        USI_FUZZ_NOW_MS, &error);

      if (message == NULL)
        usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      else
        usi_fuzz_check (g_bytes_equal (message->body, g_ptr_array_index (room->message_texts, i)));
    }
}

static void
restore_tree (const guint8 *data,
              gsize         size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiMlsSecretTree) tree = usi_mls_secret_tree_restore ("usi 1.0 ", data, size, &error);
  g_autoptr(GBytes) saved = NULL;
  guint8 key[USI_MLS_AEAD_KEY_LENGTH];
  guint8 nonce[USI_MLS_AEAD_NONCE_LENGTH];

  if (tree == NULL)
    {
      usi_fuzz_check_refusal (error, USI_CRYPTO_ERROR);
      return;
    }

  saved = usi_mls_secret_tree_save (tree);
  check_saves_back (saved, data, size, "a secret tree");

  /* Every generation behind leaf 0's ratchet is held, consumed or
   * dropped; the next one derives (unless the ratchet is exhausted). */
  for (guint type = USI_MLS_RATCHET_HANDSHAKE; type <= USI_MLS_RATCHET_APPLICATION; type++)
    {
      guint64 next = usi_mls_secret_tree_get_next_generation (tree, type, 0);
      g_autoptr(GError) peek_error = NULL;

      for (guint64 generation = next > 8 ? next - 8 : 0; generation <= next && generation <= G_MAXUINT32; generation++)
        {
          g_clear_error (&peek_error);
          if (!usi_mls_secret_tree_peek_key (tree, type, 0, (guint32) generation, key, nonce, &peek_error))
            {
              usi_fuzz_check_refusal (peek_error, USI_CRYPTO_ERROR);
              usi_fuzz_check (generation < next ||
                              g_error_matches (peek_error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_LIMIT));
            }
        }
    }
}

static void
restore_epoch (const guint8 *data,
               gsize         size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiEpoch) epoch = usi_epoch_restore (data, size, &error);
  g_autoptr(GBytes) saved = NULL;

  if (epoch == NULL)
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      return;
    }

  saved = usi_epoch_save (epoch);
  check_saves_back (saved, data, size, "an epoch");
}

static void
restore_channel (const guint8 *data,
                 gsize         size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiEpoch) epoch = usi_fuzz_room_copy_epoch (room);
  g_autoptr(UsiMessageChannel) channel = usi_message_channel_restore (data, size, epoch, NULL, &error);
  g_autoptr(GBytes) saved = NULL;

  if (channel == NULL)
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      return;
    }

  saved = usi_message_channel_save (channel);
  check_saves_back (saved, data, size, "a message channel");
  usi_fuzz_check (usi_message_channel_get_epoch (channel) == epoch);
  usi_fuzz_check (usi_message_channel_get_previous_epoch (channel) == NULL);
  open_all (channel, room->messages);
}

static void
restore_preshared (const guint8 *data,
                   gsize         size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiPresharedRoom) restored = usi_preshared_room_restore (data, size, &error);
  g_autoptr(GBytes) saved = NULL;

  if (restored == NULL)
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      return;
    }

  saved = usi_preshared_room_save (restored);
  check_saves_back (saved, data, size, "a pre-shared room");
  for (guint i = 0; i < room->preshared_messages->len; i++)
    {
      GBytes *body = g_ptr_array_index (room->preshared_messages, i);
      g_autoptr(GError) open_error = NULL;
      g_autoptr(UsiReceivedMessage) message = usi_preshared_room_open (restored, g_bytes_get_data (body, NULL),
                                                                       g_bytes_get_size (body),
                                                                       USI_FUZZ_NOW_MS, &open_error);

      if (message == NULL)
        usi_fuzz_check_refusal (open_error, USI_PROTOCOL_ERROR);
    }
}

static void
restore_owner (const guint8 *data,
               gsize         size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiOwnerGroup) group = usi_owner_group_restore (room->owner, data, size, &error);
  g_autoptr(GBytes) saved = NULL;

  if (group == NULL)
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      return;
    }

  saved = usi_owner_group_save (group);
  check_saves_back (saved, data, size, "an owner group");
  usi_fuzz_check (memcmp (usi_roster_lookup (usi_owner_group_get_group_info (group)->roster, USI_OWNER_INDEX)->leaf.identity_key,
                          usi_identity_get_public_key (room->owner), USI_KEY_LENGTH) == 0);
}

static void
restore_member (const guint8 *data,
                gsize         size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiMemberGroup) group = usi_member_group_restore (room->member, data, size, &error);
  g_autoptr(GBytes) saved = NULL;

  if (group == NULL)
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      return;
    }

  saved = usi_member_group_save (group);
  check_saves_back (saved, data, size, "a member group");

  /* The fixture's commits: applied in order, or refused. */
  for (guint i = 0; i < room->commits->len; i++)
    {
      GBytes *body = g_ptr_array_index (room->commits, i);
      g_autoptr(GError) commit_error = NULL;
      UsiMemberCommitOutcome outcome;

      if (!usi_member_group_process_commit (group, g_bytes_get_data (body, NULL), g_bytes_get_size (body),
                                            &outcome, &commit_error))
        usi_fuzz_check_refusal (commit_error, USI_PROTOCOL_ERROR);
    }
}

static void
restore_book (const guint8 *data,
              gsize         size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiInviteBook) book = usi_invite_book_restore (data, size, &error);
  g_autoptr(GBytes) saved = NULL;
  g_autoptr(UsiJoinRequest) request = NULL;
  g_autoptr(UsiJoiner) joiner = NULL;

  if (book == NULL)
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      return;
    }

  saved = usi_invite_book_save (book);
  check_saves_back (saved, data, size, "an invite book");

  request = usi_join_request_decode (g_bytes_get_data (room->join_request, NULL),
                                     g_bytes_get_size (room->join_request), &error);
  usi_fuzz_check (request != NULL);
  joiner = usi_invite_book_open_request (book, request, &room->owner_leaf, 1, USI_FUZZ_NOW_MS, &error);
  if (joiner == NULL)
    usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  /* An exact copy, so reading past the record is caught. */
  g_autofree guint8 *copy = NULL;

  if (size == 0)
    return 0;
  copy = g_memdup2 (data, size);

  switch (data[0])
    {
    case 1:
      restore_tree (copy, size);
      break;
    case USI_STATE_KIND_EPOCH:
      restore_epoch (copy, size);
      break;
    case USI_STATE_KIND_MESSAGE_CHANNEL:
      restore_channel (copy, size);
      break;
    case USI_STATE_KIND_PRESHARED_ROOM:
      restore_preshared (copy, size);
      break;
    case USI_STATE_KIND_OWNER_GROUP:
      restore_owner (copy, size);
      break;
    case USI_STATE_KIND_MEMBER_GROUP:
      restore_member (copy, size);
      break;
    case USI_STATE_KIND_INVITE_BOOK:
      restore_book (copy, size);
      break;
    default:
      {
        /* Another kind: every reader refuses it. */
        g_autoptr(GError) error = NULL;
        g_autoptr(UsiEpoch) epoch = usi_epoch_restore (copy, size, &error);

        usi_fuzz_check (epoch == NULL);
        usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      }
      break;
    }

  return 0;
}
