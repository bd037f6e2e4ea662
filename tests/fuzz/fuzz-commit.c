/* SPDX-License-Identifier: GPL-3.0-or-later */

/* A member processing commits.  Every input starts from the same member,
 * just entered into epoch 1 of the fixture's room, and is a sequence of
 * commit bodies, each a u32 length (big-endian) and the body.  Each body
 * that decodes must encode back to itself; a refused commit leaves the
 * member's state exactly as it was; and since only the owner can sign a
 * commit, every commit the member accepts must be one the owner made. */

#include "config.h"

#include "protocol/usi-commit.h"
#include "protocol/usi-member-group.h"
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

static GByteArray *
describe_state (UsiMemberGroup *member)
{
  GByteArray *state = g_byte_array_new ();
  guint64 number = usi_epoch_get_number (usi_member_group_get_epoch (member));

  usi_group_info_write (usi_member_group_get_group_info (member), state);
  g_byte_array_append (state, (const guint8 *) &number, sizeof number);
  usi_wire_write_bool (state, usi_member_group_is_removed (member));
  return state;
}

static void
check_decoding (const guint8 *body,
                gsize         length)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiCommit) commit = usi_commit_decode (body, length, &error);
  g_autoptr(GBytes) encoded = NULL;

  if (commit == NULL)
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      return;
    }
  encoded = usi_commit_encode (commit);
  usi_fuzz_check_same_bytes (body, length, g_bytes_get_data (encoded, NULL),
                             g_bytes_get_size (encoded), "a commit");
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(UsiMemberGroup) member = NULL;
  g_autoptr(GError) error = NULL;
  UsiWireReader bodies;

  member = usi_member_group_new_from_welcome (g_bytes_get_data (room->welcome, NULL),
                                              g_bytes_get_size (room->welcome),
                                              room->room_id, usi_identity_get_public_key (room->owner),
                                              room->member, &room->member_leaf, NULL, &error);
  usi_fuzz_check (member != NULL && error == NULL);

  usi_wire_reader_init (&bodies, data, size);
  while (!usi_wire_reader_at_end (&bodies))
    {
      g_autoptr(GByteArray) before = NULL;
      g_autoptr(GByteArray) after = NULL;
      g_autoptr(GError) commit_error = NULL;
      g_autofree guint8 *body = NULL;
      UsiMemberCommitOutcome outcome;
      const guint8 *bytes;
      guint64 epoch;
      guint32 length;

      if (!usi_wire_read_u32 (&bodies, &length, NULL) ||
          !usi_wire_read_fixed (&bodies, length, &bytes, NULL))
        break;

      /* An exact copy, so reading past the body is caught. */
      body = g_memdup2 (bytes, length);
      check_decoding (body, length);

      before = describe_state (member);
      epoch = usi_epoch_get_number (usi_member_group_get_epoch (member));
      if (!usi_member_group_process_commit (member, body, length, &outcome, &commit_error))
        {
          usi_fuzz_check_refusal (commit_error, USI_PROTOCOL_ERROR);
          after = describe_state (member);
          usi_fuzz_check_same_bytes (before->data, before->len, after->data, after->len,
                                     "the state after a refused commit");
          continue;
        }

      usi_fuzz_check (usi_fuzz_is_one_of (room->commits, body, length, NULL));
      if (outcome == USI_MEMBER_COMMIT_APPLIED)
        usi_fuzz_check (usi_epoch_get_number (usi_member_group_get_epoch (member)) == epoch + 1);
      else
        usi_fuzz_check (outcome == USI_MEMBER_COMMIT_REMOVED && usi_member_group_is_removed (member));
    }

  return 0;
}
