/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Pre-shared-key rooms.  The first input byte picks what the rest is:
 *
 *   even: a key as a person types or pastes it.  An accepted key has one of
 *         the three sizes, and the room it derives is the same whichever
 *         accepted spelling of those bytes was used.
 *   odd:  a sequence of frame bodies, each a u32 length (big-endian) and the
 *         body, opened in order by a fresh view of the fixture's room.
 *         Anyone with the key can seal, but only the fixture's two senders
 *         did: every message opened must be one of theirs, saying what was
 *         sent, once, and its sender must then be among the members. */

#include "config.h"

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
parse_key (const guint8 *data,
           gsize         size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_autofree char *hex = NULL;
  g_autoptr(GBytes) key = NULL;
  g_autoptr(GBytes) again = NULL;
  g_autoptr(GError) error = NULL;
  guint8 room_id[USI_ROOM_ID_LENGTH], room_id_again[USI_ROOM_ID_LENGTH];
  const guint8 *bytes;
  gsize length;

  key = usi_preshared_key_parse (text, &error);
  if (key == NULL)
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      usi_fuzz_check (error->code == USI_PROTOCOL_ERROR_MALFORMED);
      return;
    }

  bytes = g_bytes_get_data (key, &length);
  usi_fuzz_check (length == 16 || length == 24 || length == 32);

  /* The same bytes typed as hexadecimal: the same key, the same room. */
  hex = g_malloc (length * 2 + 1);
  for (gsize i = 0; i < length; i++)
    g_snprintf (hex + 2 * i, 3, "%02x", bytes[i]);
  again = usi_preshared_key_parse (hex, &error);
  usi_fuzz_check (again != NULL && error == NULL);
  usi_fuzz_check (g_bytes_equal (key, again));
  usi_fuzz_check (usi_preshared_key_derive_room_id (key, room_id, &error));
  usi_fuzz_check (usi_preshared_key_derive_room_id (again, room_id_again, &error));
  usi_fuzz_check (memcmp (room_id, room_id_again, sizeof room_id) == 0);
}

static void
open_sequence (const guint8 *data,
               gsize         size)
{
  g_autoptr(UsiPresharedRoom) view = usi_fuzz_room_new_preshared (room);
  gboolean opened[16] = { FALSE };
  UsiWireReader bodies;

  g_assert (room->preshared_messages->len <= G_N_ELEMENTS (opened));
  usi_wire_reader_init (&bodies, data, size);
  while (!usi_wire_reader_at_end (&bodies))
    {
      g_autoptr(UsiReceivedMessage) message = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree guint8 *body = NULL;
      const guint8 *bytes;
      GPtrArray *members;
      gboolean member_known = FALSE;
      guint32 length;
      guint index;

      if (!usi_wire_read_u32 (&bodies, &length, NULL) ||
          !usi_wire_read_fixed (&bodies, length, &bytes, NULL))
        break;

      /* An exact copy, so reading past the body is caught. */
      body = g_memdup2 (bytes, length);
      message = usi_preshared_room_open (view, body, length, USI_FUZZ_NOW_MS, &error);
      if (message == NULL)
        {
          usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
          continue;
        }

      usi_fuzz_check (usi_fuzz_is_one_of (room->preshared_messages, body, length, &index));
      usi_fuzz_check (!opened[index]);
      opened[index] = TRUE;
      usi_fuzz_check (g_bytes_equal (message->body, g_ptr_array_index (room->preshared_message_texts, index)));

      members = usi_preshared_room_get_members (view);
      for (guint i = 0; i < members->len; i++)
        {
          const UsiRosterEntry *entry = g_ptr_array_index (members, i);

          if (entry->index == message->sender_index)
            member_known = memcmp (entry->leaf.identity_key, message->sender_identity_key,
                                   USI_KEY_LENGTH) == 0;
        }
      usi_fuzz_check (member_known);
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  if (size == 0)
    return 0;

  if (data[0] & 1)
    open_sequence (data + 1, size - 1);
  else
    parse_key (data + 1, size - 1);

  return 0;
}
