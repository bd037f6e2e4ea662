/* SPDX-License-Identifier: GPL-3.0-or-later */

/* A member's LeafUpdate as the owner receives it.  The first input byte
 * picks what the rest is:
 *
 *   even: one body, decoded canonically, encoded back to the same bytes,
 *         then its signatures checked (refused with an error, never a crash);
 *   odd:  a sequence of bodies, each a u32 length (big-endian) and the body,
 *         applied in order by the owner of the fixture's room in epoch 1.
 *         Only the member can sign its updates: the owner may commit only
 *         the member's own updates, each at most once, one epoch each, and a
 *         refused update changes nothing. */

#include "config.h"

#include "protocol/usi-leaf-update.h"
#include "protocol/usi-owner-group.h"
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
apply_sequence (const guint8 *data,
                gsize         size)
{
  g_autoptr(UsiOwnerGroup) owner = usi_fuzz_room_new_owner (room);
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "fuzz", 4);
  gboolean applied[8] = { FALSE };
  UsiWireReader bodies;

  g_assert (room->leaf_updates->len <= G_N_ELEMENTS (applied));
  usi_wire_reader_init (&bodies, data, size);
  while (!usi_wire_reader_at_end (&bodies))
    {
      g_autoptr(GByteArray) before = g_byte_array_new ();
      g_autoptr(GByteArray) after = g_byte_array_new ();
      g_autoptr(GBytes) commit = NULL;
      g_autoptr(GError) error = NULL;
      g_autofree guint8 *body = NULL;
      const guint8 *bytes;
      guint64 epoch;
      guint32 length;
      guint index;

      if (!usi_wire_read_u32 (&bodies, &length, NULL) ||
          !usi_wire_read_fixed (&bodies, length, &bytes, NULL))
        break;

      /* An exact copy, so reading past the body is caught. */
      body = g_memdup2 (bytes, length);
      usi_group_info_write (usi_owner_group_get_group_info (owner), before);
      epoch = usi_epoch_get_number (usi_owner_group_get_epoch (owner));
      if (!usi_owner_group_apply_leaf_update (owner, body, length, random, &commit, &error))
        {
          usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
          usi_fuzz_check (commit == NULL);
          usi_group_info_write (usi_owner_group_get_group_info (owner), after);
          usi_fuzz_check_same_bytes (before->data, before->len, after->data, after->len,
                                     "the owner's state after a refused leaf update");
          continue;
        }

      usi_fuzz_check (usi_fuzz_is_one_of (room->leaf_updates, body, length, &index));
      usi_fuzz_check (!applied[index]);
      applied[index] = TRUE;
      usi_fuzz_check (commit != NULL);
      usi_fuzz_check (usi_epoch_get_number (usi_owner_group_get_epoch (owner)) == epoch + 1);
    }
}

static void
decode_one (const guint8 *data,
            gsize         size)
{
  g_autofree guint8 *body = g_memdup2 (data, size);
  g_autoptr(GBytes) encoded = NULL;
  g_autoptr(GError) error = NULL;
  UsiLeafUpdate update;

  if (!usi_leaf_update_decode (body, size, &update, &error))
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      return;
    }

  usi_fuzz_check (size == USI_LEAF_UPDATE_ENCODED_LENGTH);
  encoded = usi_leaf_update_encode (&update);
  usi_fuzz_check_same_bytes (body, size, g_bytes_get_data (encoded, NULL),
                             g_bytes_get_size (encoded), "a leaf update");

  if (!usi_leaf_update_verify (&update, &error))
    usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  if (size == 0)
    return 0;

  if (data[0] & 1)
    apply_sequence (data + 1, size - 1);
  else
    decode_one (data + 1, size - 1);

  return 0;
}
