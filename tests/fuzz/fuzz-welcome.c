/* SPDX-License-Identifier: GPL-3.0-or-later */

/* A joiner receiving a welcome: the fixture's member, with the identity and
 * leaf key its join request carried, given the input as the welcome body.
 * A body that decodes must encode back to itself; since only the owner signs
 * welcomes, the joiner may enter a room only with the welcome the owner
 * made, and then exactly into the owner's epoch. */

#include "config.h"

#include "protocol/usi-member-group.h"
#include "protocol/usi-protocol-error.h"
#include "protocol/usi-welcome.h"

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

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autofree guint8 *body = g_memdup2 (data, size);
  g_autoptr(UsiWelcome) welcome = NULL;
  g_autoptr(UsiMemberGroup) member = NULL;
  g_autoptr(GBytes) encoded = NULL;
  g_autoptr(GError) error = NULL;
  GBytes *context, *expected_context;

  welcome = usi_welcome_decode (body, size, &error);
  if (welcome == NULL)
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      g_clear_error (&error);
    }
  else
    {
      encoded = usi_welcome_encode (welcome);
      usi_fuzz_check_same_bytes (body, size, g_bytes_get_data (encoded, NULL),
                                 g_bytes_get_size (encoded), "a welcome");
    }

  member = usi_member_group_new_from_welcome (body, size, room->room_id,
                                              usi_identity_get_public_key (room->owner),
                                              room->member, &room->member_leaf, NULL, &error);
  if (member == NULL)
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      return 0;
    }

  usi_fuzz_check (welcome != NULL);
  usi_fuzz_check (g_bytes_get_size (room->welcome) == size &&
                  memcmp (g_bytes_get_data (room->welcome, NULL), body, size) == 0);
  context = usi_epoch_get_group_context (usi_member_group_get_epoch (member));
  expected_context = usi_epoch_get_group_context (room->member_epoch);
  usi_fuzz_check (g_bytes_equal (context, expected_context));
  usi_fuzz_check (!usi_member_group_is_removed (member));

  return 0;
}
