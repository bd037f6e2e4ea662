/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The fixed state of the processing fuzz targets (see usi-fuzz-fixture.h).
 * Any failure here is a bug in the fixture or the code it calls: it aborts
 * at once.  Test code only. */

#include "config.h"

#include <string.h>

#include "crypto/usi-random.h"
#include "protocol/usi-group-info.h"
#include "protocol/usi-join.h"
#include "protocol/usi-member-group.h"
#include "protocol/usi-message.h"
#include "protocol/usi-owner-group.h"

#include "usi-fuzz-fixture.h"

static UsiRandom *
random_from (const char *seed,
             guint       which)
{
  g_autofree char *text = g_strdup_printf ("usi fuzz %s %u", seed, which);

  return usi_random_new_deterministic ((const guint8 *) text, strlen (text));
}

static void
check_no_error (gboolean  ok,
                GError   *error)
{
  if (!ok || error != NULL)
    g_error ("fuzz fixture: %s", error != NULL ? error->message : "failed without an error");
}

static gboolean
collect_chunk (guint64        index,
               const guint8  *body,
               gsize          body_length,
               gboolean       is_final,
               gpointer       user_data,
               GError       **error)
{
  GPtrArray *chunks = user_data;

  g_assert (index == chunks->len);
  g_ptr_array_add (chunks, g_bytes_new (body, body_length));
  return TRUE;
}

void
usi_fuzz_file_transfer_init (UsiFuzzFileTransfer *transfer,
                             guint                which)
{
  static const guint64 sizes[USI_FUZZ_N_FILE_TRANSFERS] = { 100, USI_CHUNKED_CHUNK_LENGTH + 40 };
  g_autoptr(UsiRandom) random = random_from ("file transfer", which);
  g_autoptr(UsiFileSender) sender = NULL;
  g_autoptr(GError) error = NULL;

  g_assert (which < USI_FUZZ_N_FILE_TRANSFERS);
  memset (transfer, 0, sizeof *transfer);
  transfer->size = sizes[which];
  transfer->key.epoch = 7;
  transfer->key.sender_index = 1;
  check_no_error (usi_random_fill (random, transfer->key.room_id, sizeof transfer->key.room_id, &error) &&
                  usi_random_fill (random, transfer->key.file_id, sizeof transfer->key.file_id, &error) &&
                  usi_random_fill (random, transfer->key.key, sizeof transfer->key.key, &error), error);
  transfer->plaintext = g_malloc (transfer->size);
  check_no_error (usi_random_fill (random, transfer->plaintext, transfer->size, &error), error);

  transfer->chunks = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  sender = usi_file_sender_new (&transfer->key, transfer->size, random, collect_chunk,
                                transfer->chunks, &error);
  check_no_error (sender != NULL, error);
  memcpy (transfer->header, usi_file_sender_get_header (sender), sizeof transfer->header);
  check_no_error (usi_file_sender_push (sender, transfer->plaintext, transfer->size, &error) &&
                  usi_file_sender_finish (sender, &transfer->end, &error), error);
}

static void
seal_message (GPtrArray   *messages,
              GPtrArray   *texts,
              UsiEpoch    *epoch,
              UsiIdentity *sender,
              const char  *text,
              guint8      *prev_hash,
              UsiRandom   *random)
{
  g_autoptr(GError) error = NULL;
  guint8 hash[USI_HASH_LENGTH];
  GBytes *message;

  message = usi_app_message_seal (epoch, sender, USI_CONTENT_TYPE_TEXT, (const guint8 *) text,
                                  strlen (text), prev_hash, USI_FUZZ_NOW_MS, random, hash, &error);
  check_no_error (message != NULL, error);
  if (prev_hash != NULL)
    memcpy (prev_hash, hash, sizeof hash);
  g_ptr_array_add (messages, message);
  g_ptr_array_add (texts, g_bytes_new (text, strlen (text)));
}

static UsiIdentity *
new_person (UsiRandom     *random,
            UsiLeafSecret *leaf)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiIdentity) identity = usi_identity_generate (random, &error);

  check_no_error (identity != NULL, error);
  check_no_error (usi_leaf_secret_generate (random, identity, 0, USI_FUZZ_NOW_MS, leaf, &error), error);
  return g_steal_pointer (&identity);
}

static void
build_preshared_room (UsiFuzzRoom *room,
                      UsiRandom   *random)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *key_text = usi_preshared_key_generate (random, &error);

  check_no_error (key_text != NULL, error);
  room->preshared_key = usi_preshared_key_parse (key_text, &error);
  check_no_error (room->preshared_key != NULL, error);
  room->preshared_messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  room->preshared_message_texts = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  /* Only the receiver's leaf node is needed: it never sends. */
  usi_identity_free (new_person (random, &room->preshared_leaf));

  for (guint sender = 0; sender < 2; sender++)
    {
      g_auto(UsiLeafSecret) leaf = { 0 };
      g_autoptr(UsiIdentity) identity = new_person (random, &leaf);
      g_autoptr(UsiPresharedRoom) view = usi_preshared_room_new (room->preshared_key, &leaf.node,
                                                                 sender == 0 ? "Ann" : "Bo", &error);

      check_no_error (view != NULL, error);
      for (guint i = 0; i < 2 - sender; i++)
        {
          g_autofree char *text = g_strdup_printf ("message %u from sender %u", i, sender);
          GBytes *message = usi_preshared_room_seal (view, identity, USI_CONTENT_TYPE_TEXT,
                                                     (const guint8 *) text, strlen (text),
                                                     USI_FUZZ_NOW_MS, random, &error);

          check_no_error (message != NULL, error);
          g_ptr_array_add (room->preshared_messages, message);
          g_ptr_array_add (room->preshared_message_texts, g_bytes_new (text, strlen (text)));
        }
    }
}

UsiOwnerGroup *
usi_fuzz_room_new_owner (const UsiFuzzRoom *room)
{
  g_autoptr(UsiRandom) random = random_from ("owner", 0);
  g_autoptr(UsiOwnerGroup) owner = NULL;
  g_autoptr(GBytes) genesis = NULL;
  g_autoptr(GBytes) commit = NULL;
  g_autoptr(GBytes) welcome = NULL;
  g_autoptr(GError) error = NULL;
  UsiRoomConfig config;
  guint32 index;

  usi_room_config_init_default (&config);
  owner = usi_owner_group_create (room->owner, &room->owner_leaf.node, "Owner", room->room_id,
                                  &config, NULL, random, &genesis, &error);
  check_no_error (owner != NULL, error);
  check_no_error (usi_owner_group_add_member (owner, &room->member_leaf.node, "Member", random,
                                              &index, &commit, &welcome, &error), error);
  g_assert (index == usi_epoch_get_own_index (room->member_epoch));
  return g_steal_pointer (&owner);
}

UsiPresharedRoom *
usi_fuzz_room_new_preshared (const UsiFuzzRoom *room)
{
  g_autoptr(GError) error = NULL;
  UsiPresharedRoom *view = usi_preshared_room_new (room->preshared_key, &room->preshared_leaf.node,
                                                   "Receiver", &error);

  check_no_error (view != NULL, error);
  return view;
}

/* The targets' oracles say "only the genuine input is accepted": that means
 * something only if the genuine inputs are accepted. */
static void
check_room (UsiFuzzRoom *room)
{
  g_autoptr(UsiEpoch) epoch = usi_fuzz_room_copy_epoch (room);
  g_autoptr(UsiPresharedRoom) view = usi_fuzz_room_new_preshared (room);
  g_autoptr(GError) error = NULL;
  UsiJoinRefusalReason reason;

  for (guint i = 0; i + 1 < room->messages->len; i++)
    {
      GBytes *body = g_ptr_array_index (room->messages, i);
      g_autoptr(UsiReceivedMessage) message = usi_app_message_open (epoch, g_bytes_get_data (body, NULL),
                                                                    g_bytes_get_size (body), &error);

      check_no_error (message != NULL, error);
    }
  for (guint i = 0; i < room->preshared_messages->len; i++)
    {
      GBytes *body = g_ptr_array_index (room->preshared_messages, i);
      g_autoptr(UsiReceivedMessage) message = usi_preshared_room_open (view, g_bytes_get_data (body, NULL),
                                                                       g_bytes_get_size (body),
                                                                       USI_FUZZ_NOW_MS, &error);

      check_no_error (message != NULL, error);
    }
  check_no_error (usi_join_refusal_open (g_bytes_get_data (room->join_refusal, NULL),
                                         g_bytes_get_size (room->join_refusal), room->invite,
                                         room->joiner_request, &room->joiner_leaf, &reason, &error), error);
  g_assert (reason == USI_JOIN_REFUSAL_REFUSED);

  {
    g_autoptr(UsiOwnerGroup) owner = usi_fuzz_room_new_owner (room);
    g_autoptr(UsiRandom) random = random_from ("owner check", 0);

    for (guint i = 0; i < room->leaf_updates->len; i++)
      {
        GBytes *update = g_ptr_array_index (room->leaf_updates, i);
        g_autoptr(GBytes) commit = NULL;

        check_no_error (usi_owner_group_apply_leaf_update (owner, g_bytes_get_data (update, NULL),
                                                           g_bytes_get_size (update), random,
                                                           &commit, &error), error);
      }
  }
}

static UsiFuzzRoom *
build_room (void)
{
  UsiFuzzRoom *room = g_new0 (UsiFuzzRoom, 1);
  g_autoptr(UsiRandom) random = random_from ("room", 0);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiOwnerGroup) owner = NULL;
  g_autoptr(UsiMemberGroup) member = NULL;
  g_autoptr(UsiIdentity) third = NULL;
  g_autoptr(UsiIdentity) joiner = NULL;
  g_autoptr(UsiJoinRequest) received = NULL;
  g_autoptr(UsiInviteBook) book = NULL;
  g_autoptr(UsiJoiner) accepted = NULL;
  g_autoptr(GBytes) genesis = NULL;
  g_autoptr(GBytes) commit = NULL;
  g_autoptr(GBytes) third_welcome = NULL;
  g_auto(UsiLeafSecret) third_leaf = { 0 };
  guint8 owner_chain[USI_HASH_LENGTH] = { 0 };
  guint8 epoch2_chain[USI_HASH_LENGTH] = { 0 };
  UsiRoomConfig config;
  guint32 member_index, third_index;

  room->commits = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  room->messages = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  room->message_texts = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  room->messages_epoch2 = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  room->message_texts_epoch2 = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  check_no_error (usi_random_fill (random, room->room_id, sizeof room->room_id, &error), error);
  room->owner = new_person (random, &room->owner_leaf);
  room->member = new_person (random, &room->member_leaf);
  third = new_person (random, &third_leaf);
  joiner = new_person (random, &room->joiner_leaf);

  /* Epoch 0, then 1 with the member. */
  usi_room_config_init_default (&config);
  owner = usi_owner_group_create (room->owner, &room->owner_leaf.node, "Owner", room->room_id,
                                  &config, NULL, random, &genesis, &error);
  check_no_error (owner != NULL, error);
  check_no_error (usi_owner_group_add_member (owner, &room->member_leaf.node, "Member", random,
                                              &member_index, &commit, &room->welcome, &error), error);
  g_clear_pointer (&commit, g_bytes_unref);
  member = usi_member_group_new_from_welcome (g_bytes_get_data (room->welcome, NULL),
                                              g_bytes_get_size (room->welcome),
                                              room->room_id, usi_identity_get_public_key (room->owner),
                                              room->member, &room->member_leaf, NULL, &error);
  check_no_error (member != NULL, error);
  room->member_epoch = usi_epoch_ref (usi_member_group_get_epoch (member));

  /* Leaf updates from epoch 1, before any commit the member applies below. */
  room->leaf_updates = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  for (guint i = 0; i < 2; i++)
    {
      GBytes *update = usi_member_group_create_leaf_update (member, random, USI_FUZZ_NOW_MS + i, &error);

      check_no_error (update != NULL, error);
      g_ptr_array_add (room->leaf_updates, update);
    }

  /* Messages of epoch 1. */
  seal_message (room->messages, room->message_texts, usi_owner_group_get_epoch (owner),
                room->owner, "Hello", owner_chain, random);
  seal_message (room->messages, room->message_texts, usi_owner_group_get_epoch (owner),
                room->owner, "", owner_chain, random);
  seal_message (room->messages, room->message_texts, usi_owner_group_get_epoch (owner), room->owner,
                "A longer message, so that it needs the next padding bucket: "
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                owner_chain, random);
  seal_message (room->messages, room->message_texts, usi_member_group_get_epoch (member),
                room->member, "Hi, it’s me", NULL, random);

  /* Epochs 2, 3 and 4, which the member must accept in order. */
  check_no_error (usi_owner_group_add_member (owner, &third_leaf.node, "Third", random,
                                              &third_index, &commit, &third_welcome, &error), error);
  g_ptr_array_add (room->commits, g_steal_pointer (&commit));
  seal_message (room->messages_epoch2, room->message_texts_epoch2, usi_owner_group_get_epoch (owner),
                room->owner, "In epoch 2", epoch2_chain, random);
  seal_message (room->messages_epoch2, room->message_texts_epoch2, usi_owner_group_get_epoch (owner),
                room->owner, "Still epoch 2", epoch2_chain, random);
  check_no_error (usi_owner_group_rotate (owner, random, &commit, &error), error);
  g_ptr_array_add (room->commits, g_steal_pointer (&commit));
  check_no_error (usi_owner_group_remove_member (owner, third_index, random, &commit, &error), error);
  g_ptr_array_add (room->commits, g_steal_pointer (&commit));
  for (guint i = 0; i < room->commits->len; i++)
    {
      GBytes *body = g_ptr_array_index (room->commits, i);
      UsiMemberCommitOutcome outcome;

      check_no_error (usi_member_group_process_commit (member, g_bytes_get_data (body, NULL),
                                                       g_bytes_get_size (body), &outcome, &error), error);
      g_assert (outcome == USI_MEMBER_COMMIT_APPLIED);
      if (i == 0)
        room->member_epoch2 = usi_epoch_ref (usi_member_group_get_epoch (member));
    }

  /* An invite, and a join request for it. */
  {
    guint8 pin[USI_INVITE_RELAY_PIN_LENGTH] = { 0 };

    room->invite = usi_invite_new (random, USI_INVITE_FLAGS_NONE, "relay.example.org:7447", pin,
                                   room->room_id, &room->owner_leaf.node,
                                   USI_FUZZ_NOW_MS + 7 * 24 * 3600 * 1000, &error);
    check_no_error (room->invite != NULL, error);
    room->joiner_request = usi_join_request_new (random, room->invite, joiner, &room->joiner_leaf,
                                                 "Joiner", NULL, &error);
    check_no_error (room->joiner_request != NULL, error);
    room->join_request = usi_join_request_encode (room->joiner_request);

    book = usi_invite_book_new (room->room_id, usi_identity_get_public_key (room->owner));
    check_no_error (usi_invite_book_add (book, room->invite, &error), error);
    received = usi_join_request_decode (g_bytes_get_data (room->join_request, NULL),
                                        g_bytes_get_size (room->join_request), &error);
    check_no_error (received != NULL, error);
    accepted = usi_invite_book_open_request (book, received, &room->owner_leaf, 1, USI_FUZZ_NOW_MS, &error);
    check_no_error (accepted != NULL, error);
    room->join_refusal = usi_join_refusal_seal (random, room->owner, received,
                                                USI_JOIN_REFUSAL_REFUSED, &error);
    check_no_error (room->join_refusal != NULL, error);
  }

  build_preshared_room (room, random);
  check_room (room);

  return room;
}

const UsiFuzzRoom *
usi_fuzz_room_get (void)
{
  static UsiFuzzRoom *room;

  if (room == NULL)
    room = build_room ();
  return room;
}

UsiEpoch *
usi_fuzz_copy_epoch (UsiEpoch *epoch)
{
  g_autoptr(GError) error = NULL;
  UsiEpoch *copy;

  copy = usi_epoch_new (usi_epoch_get_mode (epoch), usi_epoch_get_room_id (epoch),
                        usi_epoch_get_number (epoch), usi_epoch_get_group_context (epoch),
                        usi_epoch_get_secrets (epoch), usi_epoch_get_roster (epoch),
                        usi_epoch_get_owner_index (epoch), usi_epoch_get_own_index (epoch),
                        USI_GROUP_MAX_FORWARD_JUMP, &error);
  check_no_error (copy != NULL, error);
  return copy;
}

UsiEpoch *
usi_fuzz_room_copy_epoch (const UsiFuzzRoom *room)
{
  return usi_fuzz_copy_epoch (room->member_epoch);
}

gboolean
usi_fuzz_is_one_of (GPtrArray    *genuine,
                    const guint8 *data,
                    gsize         length,
                    guint        *index)
{
  for (guint i = 0; i < genuine->len; i++)
    {
      GBytes *bytes = g_ptr_array_index (genuine, i);

      if (g_bytes_get_size (bytes) == length &&
          (length == 0 || memcmp (g_bytes_get_data (bytes, NULL), data, length) == 0))
        {
          if (index != NULL)
            *index = i;
          return TRUE;
        }
    }
  return FALSE;
}
