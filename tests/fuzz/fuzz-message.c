/* SPDX-License-Identifier: GPL-3.0-or-later */

/* A member opening application messages, from a fresh copy of its epoch 1
 * (the fixture's room) for every input.  The first input byte, modulo 3,
 * picks how the rest is used:
 *
 *   0:    a sequence of frame bodies, each a u32 length (big-endian) and the
 *         body, opened in order: replays, reordering, truncation, forgery.
 *         Every message opened must be one that was sent, saying what was
 *         sent, and none may open twice.
 *   1:    the next byte picks one of the owner's messages, and the rest
 *         replaces its padded plaintext, encrypted again under the real key
 *         (usi_app_message_reseal_for_test), so the content decoder, the
 *         padding check and the signature check see attacker bytes behind a
 *         valid AEAD tag.  A message may open only if the plaintext is the
 *         one that was sent.
 *   2:    a member's message channel, moved from epoch 1 to epoch 2 at
 *         USI_FUZZ_NOW_MS, opens a sequence of frame bodies, each a u8 number
 *         of minutes since then, a u32 length and the body.  The rules of
 *         mode 0 hold across both epochs, and a message of epoch 1 opens
 *         only within the grace period. */

#include "config.h"

#include "protocol/usi-message.h"
#include "protocol/usi-message-channel.h"
#include "protocol/usi-protocol-error.h"

#include "usi-fuzz.h"
#include "usi-fuzz-fixture.h"

/* The owner's messages come first in the fixture; the member's own last. */
#define N_OWNER_MESSAGES 3

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
check_opened (UsiReceivedMessage *message,
              guint               index)
{
  GBytes *text = g_ptr_array_index (room->message_texts, index);

  usi_fuzz_check (message->content_type == USI_CONTENT_TYPE_TEXT);
  usi_fuzz_check (g_bytes_equal (message->body, text));
  usi_fuzz_check (message->epoch == usi_epoch_get_number (room->member_epoch));
  usi_fuzz_check (message->sender_index == usi_epoch_get_owner_index (room->member_epoch));
  usi_fuzz_check (memcmp (message->sender_identity_key, usi_identity_get_public_key (room->owner),
                          USI_KEY_LENGTH) == 0);
  usi_fuzz_check (message->sent_ms == USI_FUZZ_NOW_MS);
}

static void
open_sequence (const guint8 *data,
               gsize         size)
{
  g_autoptr(UsiEpoch) epoch = usi_fuzz_room_copy_epoch (room);
  gboolean opened[16] = { FALSE };
  UsiWireReader bodies;

  g_assert (room->messages->len <= G_N_ELEMENTS (opened));
  usi_wire_reader_init (&bodies, data, size);
  while (!usi_wire_reader_at_end (&bodies))
    {
      g_autoptr(UsiReceivedMessage) message = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree guint8 *body = NULL;
      UsiAppMessageHeader header;
      const guint8 *bytes, *ciphertext;
      gsize ciphertext_length;
      gboolean parsed;
      guint32 length;
      guint index;

      if (!usi_wire_read_u32 (&bodies, &length, NULL) ||
          !usi_wire_read_fixed (&bodies, length, &bytes, NULL))
        break;

      /* An exact copy, so reading past the body is caught. */
      body = g_memdup2 (bytes, length);
      parsed = usi_app_message_parse (body, length, &header, &ciphertext, &ciphertext_length, &error);
      if (!parsed)
        usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      g_clear_error (&error);

      message = usi_app_message_open (epoch, body, length, &error);
      if (message == NULL)
        {
          usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
          continue;
        }

      usi_fuzz_check (parsed);
      usi_fuzz_check (usi_fuzz_is_one_of (room->messages, body, length, &index));
      usi_fuzz_check (index < N_OWNER_MESSAGES);
      usi_fuzz_check (!opened[index]);
      opened[index] = TRUE;
      check_opened (message, index);
    }
}

typedef struct
{
  const guint8 *replacement;
  gsize         replacement_length;
  GByteArray   *original;
  GByteArray   *sent;
} Reseal;

static void
replace_plaintext (GByteArray *plaintext,
                   gsize       signature_offset,
                   gpointer    user_data)
{
  Reseal *reseal = user_data;

  g_byte_array_append (reseal->original, plaintext->data, plaintext->len);
  /* Overwrites from the start; longer input makes the plaintext longer. */
  if (reseal->replacement_length > plaintext->len)
    g_byte_array_set_size (plaintext, reseal->replacement_length);
  if (reseal->replacement_length > 0)
    memcpy (plaintext->data, reseal->replacement, reseal->replacement_length);
  g_byte_array_append (reseal->sent, plaintext->data, plaintext->len);
}

static void
open_resealed (const guint8 *data,
               gsize         size)
{
  g_autoptr(UsiEpoch) twin = usi_fuzz_room_copy_epoch (room);
  g_autoptr(UsiEpoch) epoch = usi_fuzz_room_copy_epoch (room);
  g_autoptr(GByteArray) original = g_byte_array_new ();
  g_autoptr(GByteArray) sent = g_byte_array_new ();
  g_autoptr(UsiReceivedMessage) message = NULL;
  g_autoptr(GBytes) resealed = NULL;
  g_autoptr(GError) error = NULL;
  Reseal reseal = { NULL, 0, original, sent };
  GBytes *genuine;
  guint index;

  if (size == 0)
    return;

  index = data[0] % N_OWNER_MESSAGES;
  reseal.replacement = data + 1;
  reseal.replacement_length = size - 1;
  genuine = g_ptr_array_index (room->messages, index);
  resealed = usi_app_message_reseal_for_test (twin, g_bytes_get_data (genuine, NULL),
                                              g_bytes_get_size (genuine), replace_plaintext,
                                              &reseal, &error);
  usi_fuzz_check (resealed != NULL && error == NULL);

  message = usi_app_message_open (epoch, g_bytes_get_data (resealed, NULL),
                                  g_bytes_get_size (resealed), &error);
  if (message == NULL)
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      return;
    }

  /* The plaintext encoding is canonical and signed: nothing else opens. */
  usi_fuzz_check_same_bytes (original->data, original->len, sent->data, sent->len,
                             "an accepted message's plaintext");
  check_opened (message, index);
}

static void
open_in_channel (const guint8 *data,
                 gsize         size)
{
  g_autoptr(UsiEpoch) epoch1 = usi_fuzz_room_copy_epoch (room);
  g_autoptr(UsiEpoch) epoch2 = usi_fuzz_copy_epoch (room->member_epoch2);
  g_autoptr(UsiMessageChannel) channel = NULL;
  g_autoptr(GError) error = NULL;
  gboolean opened[2][16] = { { FALSE } };
  UsiWireReader bodies;

  channel = usi_message_channel_new (epoch1, &error);
  usi_fuzz_check (channel != NULL && error == NULL);
  usi_fuzz_check (usi_message_channel_advance (channel, epoch2, USI_FUZZ_NOW_MS, &error));
  usi_wire_reader_init (&bodies, data, size);
  while (!usi_wire_reader_at_end (&bodies))
    {
      g_autoptr(UsiReceivedMessage) message = NULL;
      g_autofree guint8 *body = NULL;
      const guint8 *bytes;
      guint8 minutes;
      guint32 length;
      guint index;
      GBytes *text;

      if (!usi_wire_read_u8 (&bodies, &minutes, NULL) ||
          !usi_wire_read_u32 (&bodies, &length, NULL) ||
          !usi_wire_read_fixed (&bodies, length, &bytes, NULL))
        break;

      /* An exact copy, so reading past the body is caught. */
      body = g_memdup2 (bytes, length);
      message = usi_message_channel_open (channel, body, length,
                                          USI_FUZZ_NOW_MS + (guint64) minutes * 60 * 1000, &error);
      if (message == NULL)
        {
          usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
          g_clear_error (&error);
          continue;
        }

      if (usi_fuzz_is_one_of (room->messages, body, length, &index))
        {
          usi_fuzz_check (index < N_OWNER_MESSAGES);
          usi_fuzz_check ((guint64) minutes * 60 * 1000 <= USI_MESSAGE_EPOCH_GRACE_MS);
          usi_fuzz_check (message->epoch == usi_epoch_get_number (epoch1));
          usi_fuzz_check (!opened[0][index]);
          opened[0][index] = TRUE;
          text = g_ptr_array_index (room->message_texts, index);
        }
      else
        {
          usi_fuzz_check (usi_fuzz_is_one_of (room->messages_epoch2, body, length, &index));
          usi_fuzz_check (message->epoch == usi_epoch_get_number (epoch2));
          usi_fuzz_check (!opened[1][index]);
          opened[1][index] = TRUE;
          text = g_ptr_array_index (room->message_texts_epoch2, index);
        }
      usi_fuzz_check (g_bytes_equal (message->body, text));
      usi_fuzz_check (message->sender_index == usi_epoch_get_owner_index (epoch1));
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  if (size == 0)
    return 0;

  switch (data[0] % 3)
    {
    case 0:
      open_sequence (data + 1, size - 1);
      break;
    case 1:
      open_resealed (data + 1, size - 1);
      break;
    default:
      open_in_channel (data + 1, size - 1);
      break;
    }

  return 0;
}
