/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Application messages: seal/open, the epoch window, duplicates, jumps,
 * reflection, gaps, and the rows M1–M13 of the adversarial table.  Epochs
 * are built directly with usi_epoch_new() from random secrets, so these
 * tests do not depend on commits. */

#include "config.h"

#include <string.h>

#include "crypto/usi-crypto-error.h"
#include "crypto/usi-digest.h"
#include "crypto/usi-mls-key-schedule.h"
#include "crypto/usi-random.h"
#include "protocol/usi-message.h"
#include "protocol/usi-message-channel.h"
#include "protocol/usi-protocol-error.h"

#define N_MEMBERS   3
#define MAX_JUMP    (2 * USI_MESSAGE_MAX_JUMP)   /* what epochs keep, per §8.5 */
#define NOW         G_GUINT64_CONSTANT (1700000000000)

static const char *member_names[N_MEMBERS] = { "Alice", "Bob", "Chloé" };

/* One room's epoch as every member derives it, and each member's view. */
typedef struct
{
  UsiRandom          *random;
  UsiIdentity        *identities[N_MEMBERS];
  UsiLeafSecret       leaves[N_MEMBERS];
  guint8              room_id[16];
  guint64             number;
  UsiMlsEpochSecrets  secrets;
  GBytes             *group_context;
  GPtrArray          *roster;
  UsiEpoch           *views[N_MEMBERS];
} Room;

static UsiEpoch *
room_new_view (Room    *room,
               guint32  own_index)
{
  g_autoptr(GError) error = NULL;
  UsiEpoch *epoch = usi_epoch_new (USI_ROOM_MODE_OWNED, room->room_id, room->number, room->group_context,
                                   &room->secrets, room->roster, 0, own_index, MAX_JUMP, &error);

  g_assert_no_error (error);
  g_assert_nonnull (epoch);
  return epoch;
}

/* Random secrets for epoch @number with the members in @present. */
static void
room_derive_epoch (Room           *room,
                   guint64         number,
                   const gboolean *present)
{
  g_autoptr(GError) error = NULL;
  guint8 init_secret[32], commit_secret[32], tree_hash[32];

  g_clear_pointer (&room->group_context, g_bytes_unref);
  g_clear_pointer (&room->roster, g_ptr_array_unref);
  for (guint i = 0; i < N_MEMBERS; i++)
    g_clear_pointer (&room->views[i], usi_epoch_unref);

  room->number = number;
  room->roster = g_ptr_array_new_with_free_func ((GDestroyNotify) usi_roster_entry_free);
  for (guint i = 0; i < N_MEMBERS; i++)
    if (present == NULL || present[i])
      g_ptr_array_add (room->roster, usi_roster_entry_new (i, &room->leaves[i].node, member_names[i]));

  g_assert_true (usi_random_fill (room->random, init_secret, sizeof init_secret, &error));
  g_assert_true (usi_random_fill (room->random, commit_secret, sizeof commit_secret, &error));
  g_assert_true (usi_random_fill (room->random, tree_hash, sizeof tree_hash, &error));
  room->group_context = usi_mls_group_context_serialize (3, room->room_id, sizeof room->room_id, number,
                                                         tree_hash, sizeof tree_hash, NULL, 0, NULL, 0, &error);
  g_assert_no_error (error);
  g_assert_true (usi_mls_key_schedule_derive ("usi 1.0 ", init_secret, commit_secret, NULL,
                                              g_bytes_get_data (room->group_context, NULL),
                                              g_bytes_get_size (room->group_context),
                                              &room->secrets, &error));

  for (guint i = 0; i < N_MEMBERS; i++)
    if (present == NULL || present[i])
      room->views[i] = room_new_view (room, i);
}

static Room *
room_new (const char *seed)
{
  g_autoptr(GError) error = NULL;
  Room *room = g_new0 (Room, 1);

  room->random = usi_random_new_deterministic ((const guint8 *) seed, strlen (seed));
  for (guint i = 0; i < N_MEMBERS; i++)
    {
      room->identities[i] = usi_identity_generate (room->random, &error);
      g_assert_no_error (error);
      g_assert_true (usi_leaf_secret_generate (room->random, room->identities[i], 0, NOW,
                                               &room->leaves[i], &error));
    }
  g_assert_true (usi_random_fill (room->random, room->room_id, sizeof room->room_id, &error));
  room_derive_epoch (room, 5, NULL);
  return room;
}

static void
room_free (Room *room)
{
  for (guint i = 0; i < N_MEMBERS; i++)
    {
      g_clear_pointer (&room->views[i], usi_epoch_unref);
      usi_identity_free (room->identities[i]);
      usi_leaf_secret_clear (&room->leaves[i]);
    }
  usi_mls_epoch_secrets_clear (&room->secrets);
  g_clear_pointer (&room->group_context, g_bytes_unref);
  g_clear_pointer (&room->roster, g_ptr_array_unref);
  usi_random_free (room->random);
  g_free (room);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Room, room_free)

static GBytes *
seal_text (Room         *room,
           guint         sender,
           const char   *text,
           const guint8 *prev_hash,
           guint8       *message_hash)
{
  g_autoptr(GError) error = NULL;
  GBytes *frame = usi_app_message_seal (room->views[sender], room->identities[sender], USI_CONTENT_TYPE_TEXT,
                                        (const guint8 *) text, strlen (text), prev_hash, NOW + 1, room->random,
                                        message_hash, &error);

  g_assert_no_error (error);
  g_assert_nonnull (frame);
  return frame;
}

static void
assert_body (const UsiReceivedMessage *message,
             const void               *body,
             gsize                     length)
{
  g_assert_cmpmem (g_bytes_get_data (message->body, NULL), g_bytes_get_size (message->body), body, length);
}

static GBytes *
bytes_with_bit_flipped (GBytes *bytes,
                        gsize   bit)
{
  gsize length;
  guint8 *copy = g_memdup2 (g_bytes_get_data (bytes, &length), g_bytes_get_size (bytes));

  copy[bit / 8] ^= (guint8) (1u << (bit % 8));
  return g_bytes_new_take (copy, length);
}

/* Opens a frame that must fail with @code, and checks that no message came out. */
static void
assert_open_fails (UsiEpoch *epoch,
                   GBytes   *frame,
                   gint      code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiReceivedMessage) message = usi_app_message_open (epoch, g_bytes_get_data (frame, NULL),
                                                                g_bytes_get_size (frame), &error);

  g_assert_null (message);
  g_assert_error (error, USI_PROTOCOL_ERROR, code);
}

static UsiReceivedMessage *
open_ok (UsiEpoch *epoch,
         GBytes   *frame)
{
  g_autoptr(GError) error = NULL;
  UsiReceivedMessage *message = usi_app_message_open (epoch, g_bytes_get_data (frame, NULL),
                                                      g_bytes_get_size (frame), &error);

  g_assert_no_error (error);
  g_assert_nonnull (message);
  return message;
}

/* Round trip -------------------------------------------------------------- */

static void
test_round_trip_and_buckets (void)
{
  g_autoptr(Room) room = room_new ("round trip");
  static const gsize body_lengths[] = { 0, 1, 100, 120, 150, 900, 3900, 16000, 16300, 40000, 65536 };
  static const gsize expected_buckets[] = { 256, 256, 256, 256, 1024, 1024, 4096, 16384, 65 * 1024, 65 * 1024, 65 * 1024 };
  guint8 prev_hash[32] = { 0 };

  for (guint i = 0; i < G_N_ELEMENTS (body_lengths); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GBytes) frame = NULL;
      g_autoptr(UsiReceivedMessage) message = NULL;
      g_autofree guint8 *body = g_malloc (body_lengths[i] + 1);
      UsiAppMessageHeader header;
      const guint8 *ciphertext;
      gsize ciphertext_length;
      guint8 message_hash[32], frame_hash[32];

      for (gsize j = 0; j < body_lengths[i]; j++)
        body[j] = (guint8) (j * 7 + i);

      frame = usi_app_message_seal (room->views[1], room->identities[1], USI_CONTENT_TYPE_FILE_OFFER,
                                    body, body_lengths[i], i == 0 ? NULL : prev_hash, NOW + i,
                                    room->random, message_hash, &error);
      g_assert_no_error (error);
      g_assert_cmpuint (g_bytes_get_size (frame), <=, 80 * 1024);

      g_assert_true (usi_app_message_parse (g_bytes_get_data (frame, NULL), g_bytes_get_size (frame),
                                            &header, &ciphertext, &ciphertext_length, &error));
      g_assert_cmpuint (ciphertext_length, ==, expected_buckets[i] + 16);
      g_assert_cmpuint (header.version, ==, 1);
      g_assert_cmpmem (header.room_id, 16, room->room_id, 16);
      g_assert_cmpuint (header.epoch, ==, 5);
      g_assert_cmpuint (header.sender_index, ==, 1);
      g_assert_cmpuint (header.generation, ==, i);

      g_assert_true (usi_hash (USI_HASH_SHA256, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame),
                               frame_hash, &error));
      g_assert_cmpmem (message_hash, 32, frame_hash, 32);

      /* Both other members open it: same bytes, sender and metadata. */
      for (guint receiver = 0; receiver < N_MEMBERS; receiver += 2)
        {
          g_autoptr(UsiReceivedMessage) other = open_ok (room->views[receiver], frame);

          assert_body (other, body, body_lengths[i]);
          g_assert_cmpuint (other->content_type, ==, USI_CONTENT_TYPE_FILE_OFFER);
          g_assert_cmpuint (other->sent_ms, ==, NOW + i);
          g_assert_cmpuint (other->sender_index, ==, 1);
          g_assert_cmpuint (other->generation, ==, i);
          g_assert_cmpuint (other->epoch, ==, 5);
          g_assert_cmpstr (other->sender_display_name, ==, "Bob");
          g_assert_cmpmem (other->sender_identity_key, 32, usi_identity_get_public_key (room->identities[1]), 32);
          g_assert_cmpmem (other->message_hash, 32, frame_hash, 32);
          g_assert_cmpmem (other->prev_hash, 32, prev_hash, 32);
          g_assert_false (other->gap);
        }
      memcpy (prev_hash, message_hash, 32);
    }
}

static void
test_seal_refusals (void)
{
  g_autoptr(Room) room = room_new ("seal refusals");
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *big = g_malloc0 (USI_APP_MESSAGE_MAX_BODY + 1);
  GBytes *frame;

  frame = usi_app_message_seal (room->views[0], room->identities[0], USI_CONTENT_TYPE_TEXT, big,
                                USI_APP_MESSAGE_MAX_BODY + 1, NULL, NOW, room->random, NULL, &error);
  g_assert_null (frame);
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE);
  g_clear_error (&error);

  frame = usi_app_message_seal (room->views[0], room->identities[0], 4, big, 1, NULL, NOW,
                                room->random, NULL, &error);
  g_assert_null (frame);
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNKNOWN_TYPE);
  g_clear_error (&error);

  /* Bob's identity cannot seal as Alice's roster entry. */
  frame = usi_app_message_seal (room->views[0], room->identities[1], USI_CONTENT_TYPE_TEXT, big, 1, NULL, NOW,
                                room->random, NULL, &error);
  g_assert_null (frame);
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_MEMBER);

  /* None of these moved Alice's ratchet. */
  g_assert_cmpuint (usi_mls_secret_tree_get_next_generation (usi_epoch_get_secret_tree (room->views[0]),
                                                             USI_MLS_RATCHET_APPLICATION, 0), ==, 0);
}

static void
test_parse_is_canonical (void)
{
  g_autoptr(Room) room = room_new ("canonical");
  g_autoptr(GBytes) frame = seal_text (room, 0, "hello", NULL, NULL);
  const guint8 *data = g_bytes_get_data (frame, NULL);
  gsize length = g_bytes_get_size (frame);
  g_autoptr(GByteArray) edited = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  UsiAppMessageHeader header;
  const guint8 *ciphertext;
  gsize ciphertext_length;

  /* Truncated anywhere. */
  for (gsize cut = 0; cut < length; cut++)
    {
      g_assert_false (usi_app_message_parse (data, cut, &header, &ciphertext, &ciphertext_length, &error));
      g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
      g_clear_error (&error);
    }

  /* A trailing byte. */
  g_byte_array_append (edited, data, length);
  g_byte_array_append (edited, (const guint8 *) "", 1);
  g_assert_false (usi_app_message_parse (edited->data, edited->len, &header, &ciphertext, &ciphertext_length, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
  g_clear_error (&error);

  /* A ciphertext length that is no bucket: 200 + 16 bytes. */
  g_byte_array_set_size (edited, 0);
  g_byte_array_append (edited, data, USI_APP_MESSAGE_HEADER_LENGTH);
  {
    guint8 fake[216] = { 0 };
    guint8 prefix[2] = { 0x40, 216 };

    g_byte_array_append (edited, prefix, 2);
    g_byte_array_append (edited, fake, sizeof fake);
  }
  g_assert_false (usi_app_message_parse (edited->data, edited->len, &header, &ciphertext, &ciphertext_length, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
  g_clear_error (&error);

  /* A ciphertext announced above the largest bucket: refused on the length. */
  g_byte_array_set_size (edited, USI_APP_MESSAGE_HEADER_LENGTH);
  {
    guint8 prefix[4] = { 0x80, 0x01, 0x04, 0x11 };   /* 66577 */

    g_byte_array_append (edited, prefix, 4);
  }
  g_assert_false (usi_app_message_parse (edited->data, edited->len, &header, &ciphertext, &ciphertext_length, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE);
  g_clear_error (&error);

  /* Opened against one epoch, a frame of another epoch of the room is refused. */
  room_derive_epoch (room, 6, NULL);
  assert_open_fails (room->views[1], frame, USI_PROTOCOL_ERROR_WRONG_EPOCH);
}

/* M1–M13 ------------------------------------------------------------------- */

static gboolean
code_in (const GError *error,
         const gint   *codes,
         guint         n_codes)
{
  if (error == NULL || error->domain != USI_PROTOCOL_ERROR)
    return FALSE;
  for (guint i = 0; i < n_codes; i++)
    if (error->code == codes[i])
      return TRUE;
  return FALSE;
}

static void
test_m1_bit_flips_fail_closed (void)
{
  g_autoptr(Room) room = room_new ("M1");
  g_autoptr(GBytes) frame = seal_text (room, 1, "attack at dawn", NULL, NULL);
  g_autoptr(UsiMessageChannel) receiver = usi_message_channel_new (room->views[2], NULL);
  g_autoptr(UsiReceivedMessage) genuine = NULL;
  g_autoptr(GError) genuine_error = NULL;
  gsize length = g_bytes_get_size (frame);

  for (gsize bit = 0; bit < length * 8; bit++)
    {
      g_autoptr(GBytes) flipped = bytes_with_bit_flipped (frame, bit);
      g_autoptr(GError) error = NULL;
      g_autoptr(UsiReceivedMessage) message = NULL;
      gsize byte = bit / 8;

      message = usi_message_channel_open (receiver, g_bytes_get_data (flipped, NULL), length, NOW, &error);
      g_assert_null (message);   /* no plaintext exposed, whatever the bit */
      g_assert_nonnull (error);

      if (byte == 0)
        g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSUPPORTED_VERSION);
      else if (byte < 17)
        g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_ROOM);
      else if (byte < 25)
        {
          static const gint codes[] = { USI_PROTOCOL_ERROR_EPOCH_TOO_OLD, USI_PROTOCOL_ERROR_EPOCH_NOT_YET };

          g_assert_true (code_in (error, codes, G_N_ELEMENTS (codes)));
        }
      else if (byte < 29)
        {
          /* Index 1 becomes 0 (a member: the tag fails) or a non-member. */
          static const gint codes[] = { USI_PROTOCOL_ERROR_NOT_MEMBER, USI_PROTOCOL_ERROR_DECRYPTION_FAILED };

          g_assert_true (code_in (error, codes, G_N_ELEMENTS (codes)));
        }
      else if (byte < 33)
        {
          static const gint codes[] = { USI_PROTOCOL_ERROR_TOO_FAR_AHEAD, USI_PROTOCOL_ERROR_DECRYPTION_FAILED };

          g_assert_true (code_in (error, codes, G_N_ELEMENTS (codes)));
        }
      else if (byte < 37)
        g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
      else if (byte < 39)
        {
          static const gint codes[] = { USI_PROTOCOL_ERROR_MALFORMED, USI_PROTOCOL_ERROR_TOO_LARGE };

          g_assert_true (code_in (error, codes, G_N_ELEMENTS (codes)));
        }
      else
        g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
    }

  /* Not one of those forgeries burnt the genuine message's key, nor pushed
   * it out of the ratchet. */
  genuine = usi_message_channel_open (receiver, g_bytes_get_data (frame, NULL), length, NOW, &genuine_error);
  g_assert_no_error (genuine_error);
  assert_body (genuine, "attack at dawn", 14);
  g_assert_false (genuine->gap);
}

static void
test_m2_short_tag_refused (void)
{
  g_autoptr(Room) room = room_new ("M2");
  g_autoptr(GBytes) frame = seal_text (room, 0, "short tags", NULL, NULL);
  g_autoptr(UsiReceivedMessage) genuine = NULL;
  const guint8 *data = g_bytes_get_data (frame, NULL);
  static const gsize tag_lengths[] = { 12, 8, 1, 0 };

  for (guint i = 0; i < G_N_ELEMENTS (tag_lengths); i++)
    {
      g_autoptr(GByteArray) crafted = g_byte_array_new ();
      g_autoptr(GBytes) crafted_bytes = NULL;
      gsize ciphertext_length = 256 + tag_lengths[i];
      guint8 prefix[2] = { (guint8) (0x40 | ciphertext_length >> 8), (guint8) ciphertext_length };

      g_byte_array_append (crafted, data, USI_APP_MESSAGE_HEADER_LENGTH);
      g_byte_array_append (crafted, prefix, 2);
      g_byte_array_append (crafted, data + USI_APP_MESSAGE_HEADER_LENGTH + 2, ciphertext_length);
      crafted_bytes = g_byte_array_free_to_bytes (g_steal_pointer (&crafted));

      assert_open_fails (room->views[1], crafted_bytes, USI_PROTOCOL_ERROR_MALFORMED);
    }

  /* Refused on its length: the key was never taken. */
  g_assert_cmpuint (usi_mls_secret_tree_get_next_generation (usi_epoch_get_secret_tree (room->views[1]),
                                                             USI_MLS_RATCHET_APPLICATION, 0), ==, 0);
  genuine = open_ok (room->views[1], frame);
  assert_body (genuine, "short tags", 10);
}

static void
test_m3_replay_is_duplicate (void)
{
  g_autoptr(Room) room = room_new ("M3");
  g_autoptr(GBytes) frame = seal_text (room, 0, "once", NULL, NULL);
  g_autoptr(UsiReceivedMessage) first = open_ok (room->views[1], frame);

  assert_body (first, "once", 4);
  assert_open_fails (room->views[1], frame, USI_PROTOCOL_ERROR_DUPLICATE);
  assert_open_fails (room->views[1], frame, USI_PROTOCOL_ERROR_DUPLICATE);
}

static void
test_m4_reordered_accepted_once (void)
{
  g_autoptr(Room) room = room_new ("M4");
  g_autoptr(UsiMessageChannel) sender = usi_message_channel_new (room->views[0], NULL);
  g_autoptr(UsiMessageChannel) receiver = usi_message_channel_new (room->views[1], NULL);
  GBytes *frames[5];
  static const guint order[] = { 3, 0, 4, 1, 2 };
  static const gboolean expected_gap[] = { TRUE, FALSE, FALSE, FALSE, FALSE };

  for (guint i = 0; i < G_N_ELEMENTS (frames); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *text = g_strdup_printf ("message %u", i);

      frames[i] = usi_message_channel_seal (sender, room->identities[0], USI_CONTENT_TYPE_TEXT,
                                            (const guint8 *) text, strlen (text), NOW, room->random, &error);
      g_assert_no_error (error);
    }

  for (guint i = 0; i < G_N_ELEMENTS (order); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree char *text = g_strdup_printf ("message %u", order[i]);
      g_autoptr(UsiReceivedMessage) message = usi_message_channel_open (receiver,
                                                                        g_bytes_get_data (frames[order[i]], NULL),
                                                                        g_bytes_get_size (frames[order[i]]),
                                                                        NOW, &error);

      g_assert_no_error (error);
      assert_body (message, text, strlen (text));
      g_assert_cmpuint (message->generation, ==, order[i]);
      g_assert_cmpint (message->gap, ==, expected_gap[i]);
    }

  /* Each once: every one of them again is a duplicate. */
  for (guint i = 0; i < G_N_ELEMENTS (frames); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(UsiReceivedMessage) message = usi_message_channel_open (receiver, g_bytes_get_data (frames[i], NULL),
                                                                        g_bytes_get_size (frames[i]), NOW, &error);

      g_assert_null (message);
      g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DUPLICATE);
      g_bytes_unref (frames[i]);
    }
}

static GBytes *
with_generation (GBytes  *frame,
                 guint32  generation)
{
  g_autoptr(GByteArray) edited = g_byte_array_new ();
  guint32 generation_be = GUINT32_TO_BE (generation);

  g_byte_array_append (edited, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame));
  memcpy (edited->data + 29, &generation_be, 4);
  return g_byte_array_free_to_bytes (g_steal_pointer (&edited));
}

static void
test_m5_forward_jump_capped (void)
{
  g_autoptr(Room) room = room_new ("M5");
  g_autoptr(GBytes) frame = seal_text (room, 0, "far", NULL, NULL);
  g_autoptr(GBytes) million = with_generation (frame, 1000000);
  g_autoptr(GBytes) past_tree_cap = with_generation (frame, MAX_JUMP + 1);
  g_autoptr(GBytes) past_channel_cap = with_generation (frame, USI_MESSAGE_MAX_JUMP);
  g_autoptr(UsiMessageChannel) sender = usi_message_channel_new (room->views[0], NULL);
  g_autoptr(UsiMessageChannel) receiver = usi_message_channel_new (room->views[1], NULL);
  UsiMlsSecretTree *tree = usi_epoch_get_secret_tree (room->views[1]);
  GBytes *frames[12] = { NULL };
  GBytes *refused[] = { million, past_tree_cap, past_channel_cap };

  /* Generation 10^6: refused on the header, before a single key is derived,
   * by the ratchet alone and by the channel. */
  assert_open_fails (room->views[1], million, USI_PROTOCOL_ERROR_TOO_FAR_AHEAD);
  assert_open_fails (room->views[1], past_tree_cap, USI_PROTOCOL_ERROR_TOO_FAR_AHEAD);
  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(UsiReceivedMessage) message = usi_message_channel_open (receiver, g_bytes_get_data (refused[i], NULL),
                                                                        g_bytes_get_size (refused[i]), NOW, &error);

      g_assert_null (message);
      g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_FAR_AHEAD);
    }
  g_assert_cmpuint (usi_mls_secret_tree_get_next_generation (tree, USI_MLS_RATCHET_APPLICATION, 0), ==, 0);
  g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys (tree, USI_MLS_RATCHET_APPLICATION, 0), ==, 0);

  /* A jump within the cap opens, and the skipped ones still open later. */
  for (guint i = 0; i < G_N_ELEMENTS (frames); i++)
    {
      g_autoptr(GError) error = NULL;

      frames[i] = usi_message_channel_seal (sender, room->identities[0], USI_CONTENT_TYPE_TEXT,
                                            (const guint8 *) "x", 1, NOW, room->random, &error);
      g_assert_no_error (error);
    }
  for (guint i = 0; i < 2; i++)
    {
      guint which = i == 0 ? 11 : 4;
      g_autoptr(GError) error = NULL;
      g_autoptr(UsiReceivedMessage) message = usi_message_channel_open (receiver, g_bytes_get_data (frames[which], NULL),
                                                                        g_bytes_get_size (frames[which]), NOW, &error);

      g_assert_no_error (error);
      /* Generation 0 went to the frames edited above. */
      g_assert_cmpuint (message->generation, ==, which + 1);
      g_assert_true (message->gap);
    }
  for (guint i = 0; i < G_N_ELEMENTS (frames); i++)
    g_bytes_unref (frames[i]);
}

/* Frames that fail their tag still make the ratchet derive keys up to
 * their generation; bounded by authenticated progress, they can never push
 * the genuine pending keys out. */
static void
test_forged_jumps_keep_genuine_keys (void)
{
  g_autoptr(Room) room = room_new ("forged jumps");
  g_autoptr(UsiMessageChannel) sender = usi_message_channel_new (room->views[0], NULL);
  g_autoptr(UsiMessageChannel) receiver = usi_message_channel_new (room->views[1], NULL);
  UsiMlsSecretTree *tree = usi_epoch_get_secret_tree (room->views[1]);
  GBytes *frames[6];

  for (guint i = 0; i < G_N_ELEMENTS (frames); i++)
    {
      g_autoptr(GError) error = NULL;

      frames[i] = usi_message_channel_seal (sender, room->identities[0], USI_CONTENT_TYPE_TEXT,
                                            (const guint8 *) "genuine", 7, NOW, room->random, &error);
      g_assert_no_error (error);
    }

  /* Generation 5 arrives; 1 to 4 are pending. */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(UsiReceivedMessage) message = usi_message_channel_open (receiver, g_bytes_get_data (frames[5], NULL),
                                                                      g_bytes_get_size (frames[5]), NOW, &error);
    g_assert_no_error (error);
  }

  /* A flood of forgeries, each as far ahead as anything could be. */
  for (guint round = 0; round < 20; round++)
    {
      g_autoptr(GBytes) forged = with_generation (frames[0], 5 + USI_MESSAGE_MAX_JUMP - 1 + round * USI_MESSAGE_MAX_JUMP);
      g_autoptr(GError) error = NULL;
      g_autoptr(UsiReceivedMessage) message = usi_message_channel_open (receiver, g_bytes_get_data (forged, NULL),
                                                                        g_bytes_get_size (forged), NOW, &error);

      g_assert_null (message);
      g_assert_true (g_error_matches (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED) ||
                     g_error_matches (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_FAR_AHEAD));
    }
  g_assert_cmpuint (usi_mls_secret_tree_get_n_skipped_keys (tree, USI_MLS_RATCHET_APPLICATION, 0), <=, MAX_JUMP);

  /* Every genuine message still opens. */
  for (guint i = 0; i < 5; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(UsiReceivedMessage) message = usi_message_channel_open (receiver, g_bytes_get_data (frames[i], NULL),
                                                                        g_bytes_get_size (frames[i]), NOW, &error);

      g_assert_no_error (error);
      assert_body (message, "genuine", 7);
    }
  for (guint i = 0; i < G_N_ELEMENTS (frames); i++)
    g_bytes_unref (frames[i]);
}

static void
test_m6_member_claims_another_index (void)
{
  g_autoptr(Room) room = room_new ("M6");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) forged = NULL;
  g_autoptr(GBytes) genuine = NULL;
  g_autoptr(UsiReceivedMessage) message = NULL;

  /* Bob (1) derives Alice's (0) ratchet key, as any member can, and signs
   * with his own identity: the tag verifies, the signature does not. */
  forged = usi_app_message_seal_as_for_test (room->views[1], room->identities[1], 0, USI_CONTENT_TYPE_TEXT,
                                             (const guint8 *) "I am Alice", 10, NOW, room->random, &error);
  g_assert_no_error (error);
  assert_open_fails (room->views[2], forged, USI_PROTOCOL_ERROR_BAD_SIGNATURE);

  /* Alice's real generation 0 still opens: the forgery did not burn it. */
  genuine = seal_text (room, 0, "the real Alice", NULL, NULL);
  message = open_ok (room->views[2], genuine);
  assert_body (message, "the real Alice", 14);
  g_assert_cmpstr (message->sender_display_name, ==, "Alice");
}

static void
test_m7_other_room_injected (void)
{
  g_autoptr(Room) room_x = room_new ("M7 room X");
  g_autoptr(Room) room_y = room_new ("M7 room Y");
  g_autoptr(GBytes) frame = seal_text (room_x, 0, "for X only", NULL, NULL);
  g_autoptr(GByteArray) spliced = g_byte_array_new ();
  g_autoptr(GBytes) spliced_bytes = NULL;
  g_autoptr(UsiMessageChannel) channel_y = usi_message_channel_new (room_y->views[1], NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiReceivedMessage) message = NULL;

  /* Same epoch number, same indices. */
  g_assert_cmpuint (usi_epoch_get_number (room_x->views[0]), ==, usi_epoch_get_number (room_y->views[1]));
  assert_open_fails (room_y->views[1], frame, USI_PROTOCOL_ERROR_WRONG_ROOM);
  message = usi_message_channel_open (channel_y, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame),
                                      NOW, &error);
  g_assert_null (message);
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_ROOM);

  /* With Y's room id written in, the keys and the associated data differ. */
  g_byte_array_append (spliced, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame));
  memcpy (spliced->data + 1, room_y->room_id, 16);
  spliced_bytes = g_byte_array_free_to_bytes (g_steal_pointer (&spliced));
  assert_open_fails (room_y->views[1], spliced_bytes, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
}

static void
test_m8_epoch_window (void)
{
  g_autoptr(Room) room = room_new ("M8");
  g_autoptr(UsiMessageChannel) channel = usi_message_channel_new (room->views[1], NULL);
  g_autoptr(GBytes) epoch_n_minus_2 = seal_text (room, 0, "two epochs ago", NULL, NULL);
  g_autoptr(GBytes) epoch_n_minus_1 = NULL;
  g_autoptr(GBytes) late = NULL;
  g_autoptr(GBytes) from_removed = NULL;
  g_autoptr(GBytes) epoch_n_plus_1 = NULL;
  g_autoptr(UsiEpoch) epoch_n = NULL;
  g_autoptr(GError) error = NULL;
  UsiReceivedMessage *message;
  static const gboolean without_chloe[N_MEMBERS] = { TRUE, TRUE, FALSE };

  /* Epoch 6. */
  room_derive_epoch (room, 6, NULL);
  g_assert_true (usi_message_channel_advance (channel, room->views[1], NOW, &error));
  epoch_n_minus_1 = seal_text (room, 0, "in flight", NULL, NULL);
  late = seal_text (room, 0, "too late", NULL, NULL);
  from_removed = seal_text (room, 2, "Chloé, before removal", NULL, NULL);

  /* Epoch 7: Chloé removed. */
  room_derive_epoch (room, 7, without_chloe);
  g_assert_true (usi_message_channel_advance (channel, room->views[1], NOW + 1000, &error));
  g_assert_no_error (error);

  /* n - 2 is refused outright. */
  message = usi_message_channel_open (channel, g_bytes_get_data (epoch_n_minus_2, NULL),
                                      g_bytes_get_size (epoch_n_minus_2), NOW + 2000, &error);
  g_assert_null (message);
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_EPOCH_TOO_OLD);
  g_clear_error (&error);

  /* n - 1 within the grace, from a member still in the room: opens. */
  message = usi_message_channel_open (channel, g_bytes_get_data (epoch_n_minus_1, NULL),
                                      g_bytes_get_size (epoch_n_minus_1), NOW + 2000, &error);
  g_assert_no_error (error);
  assert_body (message, "in flight", 9);
  g_assert_cmpuint (message->epoch, ==, 6);
  usi_received_message_free (message);

  /* ... but not from the member the new epoch removed. */
  message = usi_message_channel_open (channel, g_bytes_get_data (from_removed, NULL),
                                      g_bytes_get_size (from_removed), NOW + 2000, &error);
  g_assert_null (message);
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_MEMBER);
  g_clear_error (&error);

  /* A later epoch waits for its commit. */
  epoch_n = usi_epoch_ref (room->views[0]);
  room_derive_epoch (room, 8, without_chloe);
  epoch_n_plus_1 = seal_text (room, 0, "from the future", NULL, NULL);
  message = usi_message_channel_open (channel, g_bytes_get_data (epoch_n_plus_1, NULL),
                                      g_bytes_get_size (epoch_n_plus_1), NOW + 2000, &error);
  g_assert_null (message);
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_EPOCH_NOT_YET);
  g_clear_error (&error);

  /* After the grace, n - 1 is over, and its keys are gone. */
  message = usi_message_channel_open (channel, g_bytes_get_data (late, NULL), g_bytes_get_size (late),
                                      NOW + 1000 + USI_MESSAGE_EPOCH_GRACE_MS + 1, &error);
  g_assert_null (message);
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_EPOCH_TOO_OLD);
  g_clear_error (&error);
  g_assert_null (usi_message_channel_get_previous_epoch (channel));

  /* Only the next epoch of the same room can follow. */
  g_assert_false (usi_message_channel_advance (channel, epoch_n, NOW, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_EPOCH);
}

typedef struct
{
  guint which;
} Mutation;

/* The Ed25519 group order L, little-endian. */
static const guint8 ed25519_order[32] = {
  0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
};

static void
mutate_plaintext (GByteArray *plaintext,
                  gsize       signature_offset,
                  gpointer    user_data)
{
  const Mutation *mutation = user_data;
  guint8 *signature = plaintext->data + signature_offset;

  switch (mutation->which)
    {
    case 0:   /* S + L: the same signature, malleated */
      {
        guint carry = 0;

        for (guint i = 0; i < 32; i++)
          {
            guint sum = signature[32 + i] + ed25519_order[i] + carry;

            signature[32 + i] = (guint8) sum;
            carry = sum >> 8;
          }
      }
      break;
    case 1:   /* R not canonical: y = 2^255 - 1 ≥ p */
      memset (signature, 0xff, 32);
      signature[31] = 0x7f;
      break;
    case 2:   /* 63 bytes of signature: the last byte becomes padding */
      memmove (signature, signature + 1, 63);
      signature[63] = 0;
      break;
    case 3:   /* a padding byte that is not zero */
      plaintext->data[plaintext->len - 1] = 1;
      break;
    case 4:   /* padded to a larger bucket than needed */
      g_byte_array_set_size (plaintext, 1024);
      memset (plaintext->data + 256, 0, 1024 - 256);
      break;
    case 5:   /* an unknown content type */
      plaintext->data[8] = 9;
      break;
    case 6:   /* the content changed under the signature */
      plaintext->data[signature_offset - 33] ^= 1;
      break;
    default:
      g_assert_not_reached ();
    }
}

static void
test_m9_malleated_signatures (void)
{
  static const gint expected[] = {
    USI_PROTOCOL_ERROR_BAD_SIGNATURE, USI_PROTOCOL_ERROR_BAD_SIGNATURE, USI_PROTOCOL_ERROR_BAD_SIGNATURE,
    USI_PROTOCOL_ERROR_MALFORMED, USI_PROTOCOL_ERROR_MALFORMED, USI_PROTOCOL_ERROR_UNKNOWN_TYPE,
    USI_PROTOCOL_ERROR_BAD_SIGNATURE,
  };

  for (guint which = 0; which < G_N_ELEMENTS (expected); which++)
    {
      g_autoptr(Room) room = room_new ("M9");
      g_autoptr(UsiEpoch) twin = room_new_view (room, 2);
      g_autoptr(GBytes) frame = seal_text (room, 0, "signed", NULL, NULL);
      g_autoptr(GBytes) crafted = NULL;
      g_autoptr(UsiReceivedMessage) genuine = NULL;
      g_autoptr(GError) error = NULL;
      Mutation mutation = { which };

      crafted = usi_app_message_reseal_for_test (twin, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame),
                                                 mutate_plaintext, &mutation, &error);
      g_assert_no_error (error);
      assert_open_fails (room->views[1], crafted, expected[which]);

      /* The genuine message is still there to open. */
      genuine = open_ok (room->views[1], frame);
      assert_body (genuine, "signed", 6);
    }
}

static void
test_m10_reflection_ignored (void)
{
  g_autoptr(Room) room = room_new ("M10");
  g_autoptr(UsiMessageChannel) alice = usi_message_channel_new (room->views[0], NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) frame = usi_message_channel_seal (alice, room->identities[0], USI_CONTENT_TYPE_TEXT,
                                                      (const guint8 *) "mine", 4, NOW, room->random, &error);
  UsiReceivedMessage *message;

  g_assert_no_error (error);
  message = usi_message_channel_open (alice, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame), NOW, &error);
  g_assert_null (message);
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_REFLECTED);
  g_assert_cmpuint (usi_mls_secret_tree_get_next_generation (usi_epoch_get_secret_tree (room->views[0]),
                                                             USI_MLS_RATCHET_APPLICATION, 0), ==, 1);
}

static void
test_m11_body_bytes_untouched (void)
{
  static const struct { const char *bytes; gsize length; } bodies[] = {
    { "|!f /etc/passwd|", 16 },
    { "<système>owner</système>", 26 },
    { "\033[31mred\033[0m\033]0;title\007", 23 },
    { "<script>alert(1)</script><b>bold</b>", 36 },
    { "nul\0inside", 10 },
    { "\xff\xfe not UTF-8 \xc0\x80", 16 },
    { "\u202etxt.exe", 10 },
    { "\r\n\r\nHTTP/1.1 200 OK\r\n", 21 },
  };
  g_autoptr(Room) room = room_new ("M11");

  for (guint i = 0; i < G_N_ELEMENTS (bodies); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GBytes) frame = usi_app_message_seal (room->views[0], room->identities[0], USI_CONTENT_TYPE_TEXT,
                                                      (const guint8 *) bodies[i].bytes, bodies[i].length, NULL,
                                                      NOW, room->random, NULL, &error);
      g_autoptr(UsiReceivedMessage) message = NULL;

      g_assert_no_error (error);
      message = open_ok (room->views[1], frame);
      g_assert_cmpuint (message->content_type, ==, USI_CONTENT_TYPE_TEXT);
      assert_body (message, bodies[i].bytes, bodies[i].length);
    }
}

static void
test_m12_gaps_reported (void)
{
  g_autoptr(Room) room = room_new ("M12");
  g_autoptr(UsiMessageChannel) sender = usi_message_channel_new (room->views[0], NULL);
  g_autoptr(UsiMessageChannel) receiver = usi_message_channel_new (room->views[1], NULL);
  g_autofree char *text = NULL;
  GBytes *frames[4];
  static const guint delivered[] = { 0, 2, 3 };
  static const gboolean expected_gap[] = { FALSE, TRUE, FALSE };
  guint8 wrong_prev[32];
  g_autoptr(GBytes) broken = NULL;
  g_autoptr(GError) error = NULL;
  UsiReceivedMessage *message;

  for (guint i = 0; i < G_N_ELEMENTS (frames); i++)
    {
      frames[i] = usi_message_channel_seal (sender, room->identities[0], USI_CONTENT_TYPE_TEXT,
                                            (const guint8 *) "m", 1, NOW, room->random, &error);
      g_assert_no_error (error);
    }

  /* Generation 1 dropped by the relay. */
  for (guint i = 0; i < G_N_ELEMENTS (delivered); i++)
    {
      message = usi_message_channel_open (receiver, g_bytes_get_data (frames[delivered[i]], NULL),
                                          g_bytes_get_size (frames[delivered[i]]), NOW, &error);
      g_assert_no_error (error);
      g_assert_cmpint (message->gap, ==, expected_gap[i]);
      usi_received_message_free (message);
    }

  /* Generation 4 names a predecessor that is not the generation 3 we have:
   * the chain is broken although no generation is missing. */
  memset (wrong_prev, 0x5a, sizeof wrong_prev);
  broken = usi_app_message_seal (room->views[0], room->identities[0], USI_CONTENT_TYPE_TEXT,
                                 (const guint8 *) "m", 1, wrong_prev, NOW, room->random, NULL, &error);
  g_assert_no_error (error);
  message = usi_message_channel_open (receiver, g_bytes_get_data (broken, NULL), g_bytes_get_size (broken),
                                      NOW, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (message->generation, ==, 4);
  g_assert_true (message->gap);

  text = usi_message_describe_gap (message->sender_display_name);
  g_assert_nonnull (strstr (text, "Alice"));
  usi_received_message_free (message);

  for (guint i = 0; i < G_N_ELEMENTS (frames); i++)
    g_bytes_unref (frames[i]);
}

static void
test_m13_rollback_reuse_guard (void)
{
  g_autoptr(Room) room = room_new ("M13");
  /* Alice's state restored from a backup: the same secrets, a fresh ratchet. */
  g_autoptr(UsiEpoch) restored = room_new_view (room, 0);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) before = seal_text (room, 0, "same text", NULL, NULL);
  g_autoptr(GBytes) after = NULL;
  g_autoptr(GBytes) next = NULL;
  g_autoptr(UsiReceivedMessage) message = NULL;
  UsiAppMessageHeader header_before, header_after;
  const guint8 *ciphertext_before, *ciphertext_after;
  gsize length_before, length_after;

  after = usi_app_message_seal (restored, room->identities[0], USI_CONTENT_TYPE_TEXT, (const guint8 *) "same text", 9,
                                NULL, NOW + 1, room->random, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (usi_app_message_parse (g_bytes_get_data (before, NULL), g_bytes_get_size (before),
                                        &header_before, &ciphertext_before, &length_before, &error));
  g_assert_true (usi_app_message_parse (g_bytes_get_data (after, NULL), g_bytes_get_size (after),
                                        &header_after, &ciphertext_after, &length_after, &error));

  /* The same generation and key, but another nonce: the equal plaintext
   * prefix (sent_ms, type, body) encrypts differently. */
  g_assert_cmpuint (header_before.generation, ==, header_after.generation);
  g_assert_cmpuint (length_before, ==, length_after);
  g_assert_true (memcmp (header_before.reuse_guard, header_after.reuse_guard, 4) != 0);
  g_assert_true (memcmp (ciphertext_before, ciphertext_after, 8 + 1 + 1 + 9) != 0);

  /* A receiver takes the first and refuses the second as a replay. */
  message = open_ok (room->views[1], before);
  assert_body (message, "same text", 9);
  assert_open_fails (room->views[1], after, USI_PROTOCOL_ERROR_DUPLICATE);

  /* The copy that sealed generation 0 twice goes on at 1. */
  next = usi_app_message_seal (restored, room->identities[0], USI_CONTENT_TYPE_TEXT, (const guint8 *) "x", 1,
                               NULL, NOW + 2, room->random, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (usi_app_message_parse (g_bytes_get_data (next, NULL), g_bytes_get_size (next),
                                        &header_after, &ciphertext_after, &length_after, &error));
  g_assert_cmpuint (header_after.generation, ==, 1);
}

/* The normal path against rollback: a restored state that sees its own
 * later messages come back moves its ratchet past them. */
static void
test_m13_restored_state_skips_its_sent_generations (void)
{
  g_autoptr(Room) room = room_new ("M13 restore");
  g_autoptr(UsiEpoch) restored = room_new_view (room, 0);
  GBytes *sent[3];
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) fresh = NULL;
  UsiAppMessageHeader header;
  const guint8 *ciphertext;
  gsize ciphertext_length;

  for (guint i = 0; i < 3; i++)
    sent[i] = seal_text (room, 0, "before the backup was restored", NULL, NULL);

  /* The restored copy has never sent: its own generations come back. */
  assert_open_fails (restored, sent[2], USI_PROTOCOL_ERROR_REFLECTED);
  assert_open_fails (restored, sent[0], USI_PROTOCOL_ERROR_REFLECTED);

  fresh = usi_app_message_seal (restored, room->identities[0], USI_CONTENT_TYPE_TEXT, (const guint8 *) "new", 3,
                                NULL, NOW, room->random, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (usi_app_message_parse (g_bytes_get_data (fresh, NULL), g_bytes_get_size (fresh),
                                        &header, &ciphertext, &ciphertext_length, &error));
  g_assert_cmpuint (header.generation, ==, 3);

  for (guint i = 0; i < 3; i++)
    g_bytes_unref (sent[i]);
}

static void
test_non_member_sender (void)
{
  g_autoptr(Room) room = room_new ("not member");
  g_autoptr(GBytes) frame = seal_text (room, 0, "hi", NULL, NULL);
  g_autoptr(GByteArray) edited = g_byte_array_new ();
  g_autoptr(GBytes) edited_bytes = NULL;
  guint32 index_be = GUINT32_TO_BE (7);

  g_byte_array_append (edited, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame));
  memcpy (edited->data + 25, &index_be, 4);
  edited_bytes = g_byte_array_free_to_bytes (g_steal_pointer (&edited));
  assert_open_fails (room->views[1], edited_bytes, USI_PROTOCOL_ERROR_NOT_MEMBER);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/protocol/message/round-trip-and-buckets", test_round_trip_and_buckets);
  g_test_add_func ("/protocol/message/seal-refusals", test_seal_refusals);
  g_test_add_func ("/protocol/message/parse-is-canonical", test_parse_is_canonical);
  g_test_add_func ("/protocol/message/non-member-sender", test_non_member_sender);
  g_test_add_func ("/protocol/message/M1-bit-flips-fail-closed", test_m1_bit_flips_fail_closed);
  g_test_add_func ("/protocol/message/M2-short-tag-refused", test_m2_short_tag_refused);
  g_test_add_func ("/protocol/message/M3-replay-is-duplicate", test_m3_replay_is_duplicate);
  g_test_add_func ("/protocol/message/M4-reordered-accepted-once", test_m4_reordered_accepted_once);
  g_test_add_func ("/protocol/message/M5-forward-jump-capped", test_m5_forward_jump_capped);
  g_test_add_func ("/protocol/message/forged-jumps-keep-genuine-keys", test_forged_jumps_keep_genuine_keys);
  g_test_add_func ("/protocol/message/M6-member-claims-another-index", test_m6_member_claims_another_index);
  g_test_add_func ("/protocol/message/M7-other-room-injected", test_m7_other_room_injected);
  g_test_add_func ("/protocol/message/M8-epoch-window", test_m8_epoch_window);
  g_test_add_func ("/protocol/message/M9-malleated-signatures", test_m9_malleated_signatures);
  g_test_add_func ("/protocol/message/M10-reflection-ignored", test_m10_reflection_ignored);
  g_test_add_func ("/protocol/message/M11-body-bytes-untouched", test_m11_body_bytes_untouched);
  g_test_add_func ("/protocol/message/M12-gaps-reported", test_m12_gaps_reported);
  g_test_add_func ("/protocol/message/M13-rollback-reuse-guard", test_m13_rollback_reuse_guard);
  g_test_add_func ("/protocol/message/M13-restored-state-skips-its-sent-generations",
                   test_m13_restored_state_skips_its_sent_generations);

  return g_test_run ();
}
