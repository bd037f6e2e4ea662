/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Writes a few small valid inputs for every fuzz target, so fuzzing starts
 * from inputs that get past the first checks:
 *
 *   usi-fuzz-seeds DIR [TARGET...]   writes DIR/<target>/<sha1 of the input>
 *
 * Everything is derived from fixed seeds, so the output is the same on every
 * run; tests/fuzz/corpus/ holds a copy, and build-aux/dev fuzz adds a fresh
 * one so the seeds follow any change of a layout. */

#include "config.h"

#include <errno.h>

#include <glib/gstdio.h>

#include "crypto/usi-random.h"
#include "protocol/usi-file-cipher.h"
#include "protocol/usi-file-offer.h"
#include "protocol/usi-frame.h"
#include "protocol/usi-group-info.h"
#include "protocol/usi-identity.h"
#include "protocol/usi-invite.h"
#include "protocol/usi-member-group.h"
#include "protocol/usi-message.h"
#include "protocol/usi-message-channel.h"
#include "protocol/usi-owner-group.h"
#include "protocol/usi-preshared-room.h"
#include "protocol/usi-relay-frame.h"
#include "protocol/usi-welcome.h"
#include "protocol/usi-wire.h"

#include "usi-fuzz-fixture.h"
#include "usi-fuzz-invite-text.h"

/* fuzz-invite.c's clock. */
#define INVITE_NOW_MS G_GUINT64_CONSTANT (1700000000000)

static const char *output_dir;
static char **only_targets;

static void
write_seed (const char   *target,
            const guint8 *data,
            gsize         length)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *path = NULL;

  if (only_targets != NULL && only_targets[0] != NULL &&
      !g_strv_contains ((const char * const *) only_targets, target))
    return;

  name = g_compute_checksum_for_data (G_CHECKSUM_SHA1, data, length);
  dir = g_build_filename (output_dir, target, NULL);
  path = g_build_filename (dir, name, NULL);
  if (g_mkdir_with_parents (dir, 0755) != 0 ||
      !g_file_set_contents (path, (const char *) data, (gssize) length, &error))
    g_error ("cannot write %s: %s", path, error != NULL ? error->message : g_strerror (errno));
}

static void
write_seed_array (const char *target,
                  GByteArray *data)
{
  write_seed (target, data->data, data->len);
}

static UsiRandom *
random_from (const char *seed)
{
  return usi_random_new_deterministic ((const guint8 *) seed, strlen (seed));
}

static void
write_frame_seeds (void)
{
  static const struct { guint8 type; const char *body; } frames[] = {
    { USI_FRAME_JOIN_REQUEST, "" },
    { USI_FRAME_JOIN_REFUSAL, "no" },
    { USI_FRAME_WELCOME, "welcome" },
    { USI_FRAME_COMMIT, "commit" },
    { USI_FRAME_LEAF_UPDATE, "leaf" },
    { USI_FRAME_APP_MESSAGE, "hello" },
    { USI_FRAME_FILE_CHUNK, "chunk" },
    { USI_FRAME_RELAY_FIRST, "relay" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (frames); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GBytes) frame = usi_frame_encode (frames[i].type, (const guint8 *) frames[i].body,
                                                  strlen (frames[i].body), &error);
      gsize length;
      const guint8 *data;

      g_assert_no_error (error);
      data = g_bytes_get_data (frame, &length);
      write_seed ("frame", data, length);
    }
}

/* Programs for fuzz-wire.c's grammar. */
static void
write_wire_seeds (void)
{
  g_autoptr(GByteArray) scalars = g_byte_array_new ();
  g_autoptr(GByteArray) fields = g_byte_array_new ();
  g_autoptr(GByteArray) inner = g_byte_array_new ();
  g_autoptr(GByteArray) nested = g_byte_array_new ();
  static const guint8 fixed[5] = { 1, 2, 3, 4, 5 };
  guint8 big[100];

  usi_wire_write_u8 (scalars, 0);
  usi_wire_write_u8 (scalars, 0x7f);
  usi_wire_write_u8 (scalars, 1);
  usi_wire_write_u16 (scalars, 0x1234);
  usi_wire_write_u8 (scalars, 2);
  usi_wire_write_u32 (scalars, 0x12345678);
  usi_wire_write_u8 (scalars, 3);
  usi_wire_write_u64 (scalars, G_GUINT64_CONSTANT (0x0123456789abcdef));
  usi_wire_write_u8 (scalars, 4);
  usi_wire_write_bool (scalars, TRUE);
  write_seed_array ("wire", scalars);

  memset (big, 0xa5, sizeof big);
  usi_wire_write_u8 (fields, 5);
  usi_wire_write_u8 (fields, sizeof fixed);
  usi_wire_write_fixed (fields, fixed, sizeof fixed);
  usi_wire_write_u8 (fields, 6);
  usi_wire_write_u8 (fields, sizeof fixed);
  usi_wire_write_fixed (fields, fixed, sizeof fixed);
  usi_wire_write_u8 (fields, 7);
  usi_wire_write_u16 (fields, 64);
  usi_wire_write_opaque (fields, fixed, sizeof fixed);
  usi_wire_write_u8 (fields, 8);
  usi_wire_write_u16 (fields, 1000);
  usi_wire_write_opaque (fields, big, sizeof big);   /* a two-byte length */
  usi_wire_write_u8 (fields, 9);
  usi_wire_write_u16 (fields, 128);
  usi_wire_write_string (fields, "Zoë 🙂");
  write_seed_array ("wire", fields);

  usi_wire_write_u8 (inner, 4);
  usi_wire_write_bool (inner, FALSE);
  usi_wire_write_u8 (inner, 9);
  usi_wire_write_u16 (inner, 16);
  usi_wire_write_string (inner, "a");
  usi_wire_write_u8 (nested, 10);
  usi_wire_write_u16 (nested, 256);
  usi_wire_write_opaque (nested, inner->data, inner->len);
  usi_wire_write_u8 (nested, 2);
  usi_wire_write_u32 (nested, 7);
  write_seed_array ("wire", nested);
}

static void
write_leaf_node_seeds (void)
{
  g_autoptr(UsiRandom) random = random_from ("usi fuzz leaf nodes");

  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(UsiIdentity) identity = usi_identity_generate (random, &error);
      g_autoptr(GByteArray) encoded = g_byte_array_new ();
      g_auto(UsiLeafSecret) secret = { 0 };

      g_assert_no_error (error);
      g_assert_true (usi_leaf_secret_generate (random, identity, i, 1700000000000 + i, &secret, &error));
      g_assert_no_error (error);
      usi_leaf_node_write (&secret.node, encoded);
      write_seed_array ("leaf-node", encoded);
    }
}

static void
write_display_name_seeds (void)
{
  static const char *names[] = {
    "Alice",
    "  Zoë   van\tDijk ",
    "李小龍",
    "e\xcc\x81tienne 🙂",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    write_seed ("display-name", (const guint8 *) names[i], strlen (names[i]));
}

static void
write_prefixed_seed (const char   *target,
                     guint8        prefix,
                     const guint8 *data,
                     gsize         length)
{
  g_autoptr(GByteArray) seed = g_byte_array_new ();

  g_byte_array_append (seed, &prefix, 1);
  g_byte_array_append (seed, data, length);
  write_seed_array (target, seed);
}

/* fuzz-relay-frame.c: the type ‖ the body, one of each control frame. */
static void
write_relay_frame_seeds (void)
{
  static const guint8 room_id[USI_RELAY_ID_LENGTH] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
  static const guint8 invite_id[USI_RELAY_ID_LENGTH] = { 0x11 };
  static const guint8 key[USI_RELAY_KEY_LENGTH] = { 0x20, 0x21, 0x22 };
  static const guint8 signature[USI_RELAY_SIGNATURE_LENGTH] = { 0x30, 0x31 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) app = usi_frame_encode (USI_FRAME_APP_MESSAGE, (const guint8 *) "hello", 5, &error);
  g_autoptr(GBytes) commit = usi_frame_encode (USI_FRAME_COMMIT, (const guint8 *) "commit", 6, &error);
  g_autoptr(GBytes) commit_body = g_bytes_new_static ("commit", 6);
  GBytes *frames[] = {
    usi_relay_frame_new_hello (key, signature),
    usi_relay_frame_new_hello_ok (1700000000000),
    usi_relay_frame_new_create_room (1, commit_body),
    usi_relay_frame_new_open_preshared_room (2, room_id),
    usi_relay_frame_new_subscribe (3, room_id, 42),
    usi_relay_frame_new_register_invite (4, room_id, invite_id, 1700000000000),
    usi_relay_frame_new_post (5, room_id, NULL, app),
    usi_relay_frame_new_post (6, room_id, key, commit),
    usi_relay_frame_new_ack (5, 43, USI_RELAY_ACK_RECIPIENT_OFFLINE),
    usi_relay_frame_new_refused (6, USI_RELAY_REFUSED_NOT_MEMBER, "Zoë is not in the room"),
    usi_relay_frame_new_deliver (room_id, 43, app),
    usi_relay_frame_new_ping (7),
    usi_relay_frame_new_pong (7),
  };

  g_assert_no_error (error);
  for (gsize i = 0; i < G_N_ELEMENTS (frames); i++)
    {
      gsize length;
      const guint8 *data = g_bytes_get_data (frames[i], &length);

      write_prefixed_seed ("relay-frame", data[5], data + USI_FRAME_HEADER_LENGTH, length - USI_FRAME_HEADER_LENGTH);
      g_bytes_unref (frames[i]);
    }
}

/* fuzz-invite.c: 0x00 ‖ text, or 0x01 ‖ payload without its checksum. */
static void
write_invite_seeds (void)
{
  static const char *relays[] = { "relay.example.org:7447", "192.0.2.1:443", "[2001:db8::1]:7447" };
  g_autoptr(UsiRandom) random = random_from ("usi fuzz invites");
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiIdentity) owner = usi_identity_generate (random, &error);
  g_auto(UsiLeafSecret) leaf = { 0 };
  guint8 pin[USI_INVITE_RELAY_PIN_LENGTH];
  guint8 room_id[USI_ROOM_ID_LENGTH];

  g_assert_no_error (error);
  g_assert_true (usi_leaf_secret_generate (random, owner, 0, INVITE_NOW_MS, &leaf, &error));
  g_assert_true (usi_random_fill (random, pin, sizeof pin, &error));
  g_assert_true (usi_random_fill (random, room_id, sizeof room_id, &error));

  for (gsize i = 0; i < G_N_ELEMENTS (relays); i++)
    {
      UsiInviteFlags flags = i == 1 ? USI_INVITE_FLAGS_PASSWORD_REQUIRED : USI_INVITE_FLAGS_NONE;
      g_autoptr(UsiInvite) invite = usi_invite_new (random, flags, relays[i], pin, room_id, &leaf.node,
                                                    INVITE_NOW_MS + 7 * 24 * 3600 * 1000, &error);
      g_autoptr(GByteArray) payload = g_byte_array_new ();
      g_autofree char *uri = NULL;

      g_assert_no_error (error);
      uri = usi_invite_to_uri (invite);
      write_prefixed_seed ("invite", 0, (const guint8 *) uri, strlen (uri));
      g_assert_true (usi_fuzz_invite_unwrap_payload (uri, payload));
      write_prefixed_seed ("invite", 1, payload->data, payload->len);
      if (i == 0)
        {
          g_autofree char *upper = g_ascii_strup (uri, -1);
          g_autofree char *pasted = g_strconcat ("  ", upper, "\n", NULL);

          write_prefixed_seed ("invite", 0, (const guint8 *) pasted, strlen (pasted));
        }
    }
}

/* fuzz-file-name.c: 0x00 ‖ a name, or 0x01 ‖ a path. */
static void
write_file_name_seeds (void)
{
  static const char *names[] = { "report.pdf", "Zoë’s photo (2).jpeg", "..hidden", "CON.txt", "a\\b/c.txt" };
  static const char *paths[] = { "holiday/day 1/IMG_0001.jpg", "notes.txt", "a\\b/../c" };

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    write_prefixed_seed ("file-name", 0, (const guint8 *) names[i], strlen (names[i]));
  for (gsize i = 0; i < G_N_ELEMENTS (paths); i++)
    write_prefixed_seed ("file-name", 1, (const guint8 *) paths[i], strlen (paths[i]));
}

/* fuzz-file-offer.c: 0x00 ‖ a FileOffer, or 0x01 ‖ a FileEnd. */
static void
write_file_offer_seeds (void)
{
  g_autoptr(UsiRandom) random = random_from ("usi fuzz file offers");
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiFileOffer) loose = usi_file_offer_new (random, NULL, &error);
  g_autoptr(UsiFileOffer) folder = usi_file_offer_new (random, "Holiday", &error);
  g_autoptr(GBytes) loose_body = NULL;
  g_autoptr(GBytes) folder_body = NULL;
  g_autoptr(GBytes) end_body = NULL;
  guint8 header[USI_CHUNKED_HEADER_LENGTH];
  guint8 file_id[USI_FILE_ID_LENGTH];
  UsiFuzzFileTransfer transfer;

  g_assert_no_error (error);
  g_assert_true (usi_random_fill (random, header, sizeof header, &error));
  g_assert_true (usi_file_id_generate (random, file_id, &error));
  g_assert_true (usi_file_offer_add_file (loose, file_id, "report.pdf", 12345, header, &error));
  g_assert_true (usi_file_id_generate (random, file_id, &error));
  g_assert_true (usi_file_offer_add_file (loose, file_id, "notes.txt", 0, header, &error));
  g_assert_true (usi_file_id_generate (random, file_id, &error));
  g_assert_true (usi_file_offer_add_file (folder, file_id, "day 1/IMG_0001.jpg", 3000000, header, &error));
  g_assert_true (usi_file_offer_add_folder (folder, "day 2/empty", &error));
  g_assert_no_error (error);
  loose_body = usi_file_offer_encode (loose, &error);
  folder_body = usi_file_offer_encode (folder, &error);
  g_assert_no_error (error);
  write_prefixed_seed ("file-offer", 0, g_bytes_get_data (loose_body, NULL), g_bytes_get_size (loose_body));
  write_prefixed_seed ("file-offer", 0, g_bytes_get_data (folder_body, NULL), g_bytes_get_size (folder_body));

  usi_fuzz_file_transfer_init (&transfer, 1);
  end_body = usi_file_end_encode (&transfer.end);
  write_prefixed_seed ("file-offer", 1, g_bytes_get_data (end_body, NULL), g_bytes_get_size (end_body));
  g_ptr_array_unref (transfer.chunks);
  g_free (transfer.plaintext);
}

/* fuzz-file-chunk.c: the file's number ‖ (u16 length ‖ FileChunk body)*. */
static void
write_file_chunk_seeds (void)
{
  for (guint which = 0; which < USI_FUZZ_N_FILE_TRANSFERS; which++)
    {
      g_autoptr(GByteArray) all = g_byte_array_new ();
      g_autoptr(GByteArray) last = g_byte_array_new ();
      guint8 number = (guint8) which;
      UsiFuzzFileTransfer transfer;

      usi_fuzz_file_transfer_init (&transfer, which);
      g_byte_array_append (all, &number, 1);
      g_byte_array_append (last, &number, 1);
      for (guint i = 0; i < transfer.chunks->len; i++)
        {
          GBytes *chunk = g_ptr_array_index (transfer.chunks, i);

          usi_wire_write_u16 (all, (guint16) g_bytes_get_size (chunk));
          usi_wire_write_fixed (all, g_bytes_get_data (chunk, NULL), g_bytes_get_size (chunk));
          if (i + 1 == transfer.chunks->len)
            {
              usi_wire_write_u16 (last, (guint16) g_bytes_get_size (chunk));
              usi_wire_write_fixed (last, g_bytes_get_data (chunk, NULL), g_bytes_get_size (chunk));
            }
        }
      write_seed_array ("file-chunk", all);
      if (transfer.chunks->len > 1)
        write_seed_array ("file-chunk", last);
      g_ptr_array_unref (transfer.chunks);
      g_free (transfer.plaintext);
    }
}

static void
append_sized (GByteArray *out,
              GBytes     *body)
{
  usi_wire_write_u32 (out, (guint32) g_bytes_get_size (body));
  usi_wire_write_fixed (out, g_bytes_get_data (body, NULL), g_bytes_get_size (body));
}

/* fuzz-commit.c: (u32 length ‖ Commit body)*, from the member in epoch 1. */
static void
write_commit_seeds (const UsiFuzzRoom *room)
{
  static const guint sequences[][4] = {
    { 1, 0 },            /* the next commit */
    { 3, 0, 1, 2 },      /* all of them, in order */
    { 1, 1 },            /* one missing before it */
    { 2, 0, 0 },         /* a duplicate */
  };

  for (gsize i = 0; i < G_N_ELEMENTS (sequences); i++)
    {
      g_autoptr(GByteArray) seed = g_byte_array_new ();

      for (guint j = 1; j <= sequences[i][0]; j++)
        append_sized (seed, g_ptr_array_index (room->commits, sequences[i][j]));
      write_seed_array ("commit", seed);
    }
}

static void
capture_plaintext (GByteArray *plaintext,
                   gsize       signature_offset,
                   gpointer    user_data)
{
  g_byte_array_append (user_data, plaintext->data, plaintext->len);
}

/* fuzz-message.c: 0x00 ‖ (u32 length ‖ AppMessage body)*,
 * 0x01 ‖ message number ‖ padded plaintext, or
 * 0x02 ‖ (u8 minutes ‖ u32 length ‖ AppMessage body)*. */
static void
write_message_seeds (const UsiFuzzRoom *room)
{
  g_autoptr(GByteArray) all = g_byte_array_new ();
  g_autoptr(GByteArray) replayed = g_byte_array_new ();
  g_autoptr(GByteArray) reordered = g_byte_array_new ();
  guint8 sequence_mode = 0;

  g_byte_array_append (all, &sequence_mode, 1);
  for (guint i = 0; i < room->messages->len; i++)
    append_sized (all, g_ptr_array_index (room->messages, i));
  write_seed_array ("message", all);

  g_byte_array_append (replayed, &sequence_mode, 1);
  append_sized (replayed, g_ptr_array_index (room->messages, 0));
  append_sized (replayed, g_ptr_array_index (room->messages, 0));
  write_seed_array ("message", replayed);

  g_byte_array_append (reordered, &sequence_mode, 1);
  append_sized (reordered, g_ptr_array_index (room->messages, 2));
  append_sized (reordered, g_ptr_array_index (room->messages, 1));
  write_seed_array ("message", reordered);

  for (guint minutes = 1; minutes <= 10; minutes += 9)
    {
      g_autoptr(GByteArray) channel = g_byte_array_new ();
      guint8 channel_mode = 2;

      g_byte_array_append (channel, &channel_mode, 1);
      for (guint i = 0; i < room->messages_epoch2->len; i++)
        {
          usi_wire_write_u8 (channel, (guint8) minutes);
          append_sized (channel, g_ptr_array_index (room->messages_epoch2, i));
          usi_wire_write_u8 (channel, (guint8) minutes);
          append_sized (channel, g_ptr_array_index (room->messages, i));
        }
      write_seed_array ("message", channel);
    }

  for (guint i = 0; i < 3; i++)
    {
      g_autoptr(UsiEpoch) twin = usi_fuzz_room_copy_epoch (room);
      g_autoptr(GByteArray) seed = g_byte_array_new ();
      g_autoptr(GBytes) resealed = NULL;
      g_autoptr(GError) error = NULL;
      GBytes *message = g_ptr_array_index (room->messages, i);
      guint8 prefix[2] = { 1, (guint8) i };

      g_byte_array_append (seed, prefix, sizeof prefix);
      resealed = usi_app_message_reseal_for_test (twin, g_bytes_get_data (message, NULL),
                                                  g_bytes_get_size (message), capture_plaintext,
                                                  seed, &error);
      g_assert_no_error (error);
      write_seed_array ("message", seed);
    }
}

/* fuzz-preshared.c: 0x00 ‖ a key as typed, or
 * 0x01 ‖ (u32 length ‖ AppMessage body)*. */
static void
write_preshared_seeds (const UsiFuzzRoom *room)
{
  static const char *keys[] = {
    "000102030405060708090a0b0c0d0e0f",
    "  AAECAwQFBgcICQoLDA0ODxAREhMUFRYX  ",
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh-_",
  };
  g_autoptr(GByteArray) all = g_byte_array_new ();
  guint8 sequence_mode = 1;

  for (gsize i = 0; i < G_N_ELEMENTS (keys); i++)
    write_prefixed_seed ("preshared", 0, (const guint8 *) keys[i], strlen (keys[i]));

  g_byte_array_append (all, &sequence_mode, 1);
  for (guint i = 0; i < room->preshared_messages->len; i++)
    append_sized (all, g_ptr_array_index (room->preshared_messages, i));
  write_seed_array ("preshared", all);
}

static void
write_bytes_seed (const char *target,
                  GBytes     *bytes)
{
  write_seed (target, g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes));
  g_bytes_unref (bytes);
}

/* fuzz-state.c: one saved record of each kind, fresh and after use. */
static void
write_state_seeds (const UsiFuzzRoom *room)
{
  g_autoptr(UsiRandom) random = random_from ("usi fuzz state");
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiEpoch) epoch = usi_fuzz_room_copy_epoch (room);
  g_autoptr(UsiEpoch) channel_epoch = usi_fuzz_room_copy_epoch (room);
  g_autoptr(UsiEpoch) epoch2 = usi_fuzz_copy_epoch (room->member_epoch2);
  g_autoptr(UsiMessageChannel) channel = NULL;
  g_autoptr(UsiPresharedRoom) preshared = usi_fuzz_room_new_preshared (room);
  g_autoptr(UsiOwnerGroup) owner = usi_fuzz_room_new_owner (room);
  g_autoptr(UsiMemberGroup) member = NULL;
  g_autoptr(UsiInviteBook) book = NULL;
  g_autoptr(UsiJoinRequest) request = NULL;
  g_autoptr(UsiJoiner) joiner = NULL;
  g_autoptr(GBytes) commit = NULL;
  g_autoptr(GBytes) update = NULL;
  static const guint order[] = { 2, 0, 3 };

  /* Secret trees and epochs: fresh, and after messages out of order. */
  write_bytes_seed ("state", usi_mls_secret_tree_save (usi_epoch_get_secret_tree (epoch)));
  write_bytes_seed ("state", usi_epoch_save (epoch));
  for (gsize i = 0; i < G_N_ELEMENTS (order); i++)
    {
      GBytes *body = g_ptr_array_index (room->messages, order[i]);
      g_autoptr(UsiReceivedMessage) message = usi_app_message_open (epoch, g_bytes_get_data (body, NULL),
                                                                    g_bytes_get_size (body), NULL);

      g_assert (message != NULL || order[i] == 3);
    }
  write_bytes_seed ("state", usi_mls_secret_tree_save (usi_epoch_get_secret_tree (epoch)));
  write_bytes_seed ("state", usi_epoch_save (epoch));
  write_bytes_seed ("state", usi_epoch_save (epoch2));

  /* A channel on the member's epoch 1, as fuzz-state.c restores it. */
  channel = usi_message_channel_new (channel_epoch, &error);
  g_assert_no_error (error);
  write_bytes_seed ("state", usi_message_channel_save (channel));
  for (gsize i = 0; i < G_N_ELEMENTS (order); i++)
    {
      GBytes *body = g_ptr_array_index (room->messages, order[i]);
      g_autoptr(UsiReceivedMessage) message = usi_message_channel_open (channel, g_bytes_get_data (body, NULL),
                                                                        g_bytes_get_size (body),
                                                                        USI_FUZZ_NOW_MS, NULL);

      /* The member's own message comes back as a reflection. */
      g_assert (message != NULL || order[i] == 3);
    }
  write_bytes_seed ("state", usi_message_channel_save (channel));

  /* A pre-shared room, before and after it saw its members. */
  write_bytes_seed ("state", usi_preshared_room_save (preshared));
  for (guint i = 0; i < room->preshared_messages->len; i++)
    {
      GBytes *body = g_ptr_array_index (room->preshared_messages, i);
      g_autoptr(UsiReceivedMessage) message = usi_preshared_room_open (preshared, g_bytes_get_data (body, NULL),
                                                                       g_bytes_get_size (body),
                                                                       USI_FUZZ_NOW_MS, &error);

      g_assert_no_error (error);
      g_assert (message != NULL);
    }
  write_bytes_seed ("state", usi_preshared_room_save (preshared));

  /* The owner in epoch 1, then 2. */
  write_bytes_seed ("state", usi_owner_group_save (owner));
  g_assert_true (usi_owner_group_rotate (owner, random, &commit, &error));
  g_assert_no_error (error);
  write_bytes_seed ("state", usi_owner_group_save (owner));

  /* The member: joined, with a leaf update waiting, then in epoch 4. */
  member = usi_member_group_new_from_welcome (g_bytes_get_data (room->welcome, NULL),
                                              g_bytes_get_size (room->welcome), room->room_id,
                                              usi_identity_get_public_key (room->owner), room->member,
                                              &room->member_leaf, NULL, &error);
  g_assert_no_error (error);
  write_bytes_seed ("state", usi_member_group_save (member));
  update = usi_member_group_create_leaf_update (member, random, USI_FUZZ_NOW_MS, &error);
  g_assert_no_error (error);
  write_bytes_seed ("state", usi_member_group_save (member));
  for (guint i = 0; i < room->commits->len; i++)
    {
      GBytes *body = g_ptr_array_index (room->commits, i);
      UsiMemberCommitOutcome outcome;

      g_assert_true (usi_member_group_process_commit (member, g_bytes_get_data (body, NULL),
                                                      g_bytes_get_size (body), &outcome, &error));
    }
  write_bytes_seed ("state", usi_member_group_save (member));

  /* The owner's invite book: the invite issued, then used. */
  book = usi_invite_book_new (room->room_id, usi_identity_get_public_key (room->owner));
  g_assert_true (usi_invite_book_add (book, room->invite, &error));
  write_bytes_seed ("state", usi_invite_book_save (book));
  request = usi_join_request_decode (g_bytes_get_data (room->join_request, NULL),
                                     g_bytes_get_size (room->join_request), &error);
  g_assert_no_error (error);
  joiner = usi_invite_book_open_request (book, request, &room->owner_leaf, 1, USI_FUZZ_NOW_MS, &error);
  g_assert_no_error (error);
  write_bytes_seed ("state", usi_invite_book_save (book));
}

static void
write_room_seeds (void)
{
  const UsiFuzzRoom *room = usi_fuzz_room_get ();
  g_autoptr(UsiWelcome) welcome = NULL;
  g_autoptr(GByteArray) group_info = g_byte_array_new ();
  g_autoptr(GError) error = NULL;

  write_prefixed_seed ("join", 0, g_bytes_get_data (room->join_request, NULL), g_bytes_get_size (room->join_request));
  write_prefixed_seed ("join", 1, g_bytes_get_data (room->join_refusal, NULL), g_bytes_get_size (room->join_refusal));
  write_seed ("welcome", g_bytes_get_data (room->welcome, NULL), g_bytes_get_size (room->welcome));

  welcome = usi_welcome_decode (g_bytes_get_data (room->welcome, NULL), g_bytes_get_size (room->welcome), &error);
  g_assert_no_error (error);
  usi_group_info_write (welcome->group_info, group_info);
  write_seed_array ("group-info", group_info);

  /* fuzz-leaf-update.c: 0x00 ‖ a LeafUpdate, or 0x01 ‖ (u32 length ‖ LeafUpdate)*. */
  {
    g_autoptr(GByteArray) both = g_byte_array_new ();
    g_autoptr(GByteArray) replayed = g_byte_array_new ();
    guint8 sequence_mode = 1;
    GBytes *first = g_ptr_array_index (room->leaf_updates, 0);

    write_prefixed_seed ("leaf-update", 0, g_bytes_get_data (first, NULL), g_bytes_get_size (first));
    g_byte_array_append (both, &sequence_mode, 1);
    for (guint i = 0; i < room->leaf_updates->len; i++)
      append_sized (both, g_ptr_array_index (room->leaf_updates, i));
    write_seed_array ("leaf-update", both);
    g_byte_array_append (replayed, &sequence_mode, 1);
    append_sized (replayed, first);
    append_sized (replayed, first);
    write_seed_array ("leaf-update", replayed);
  }

  write_commit_seeds (room);
  write_message_seeds (room);
  write_preshared_seeds (room);
  write_state_seeds (room);
}

int
main (int   argc,
      char *argv[])
{
  if (argc < 2)
    {
      g_printerr ("usage: %s DIR [TARGET...]\n", argv[0]);
      return 2;
    }
  output_dir = argv[1];
  only_targets = argv + 2;

  write_frame_seeds ();
  write_relay_frame_seeds ();
  write_wire_seeds ();
  write_leaf_node_seeds ();
  write_display_name_seeds ();
  write_invite_seeds ();
  write_file_name_seeds ();
  write_file_offer_seeds ();
  write_file_chunk_seeds ();
  write_room_seeds ();

  return 0;
}
