/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Both ends of a join.  The first input byte picks the side; the rest is the
 * frame body as the relay delivered it.
 *
 *   even: the owner's invite book, holding one fresh invite (the
 *         fixture's), checks a JoinRequest.  A body that decodes must encode
 *         back to itself.  Only the joiner's own request (sealed with the
 *         invite's secret and signed by the joiner) may pass, once: a second
 *         opening is a replay.
 *   odd:  the joiner opens a JoinRefusal of its request.  Only the owner's
 *         own refusal (sealed to the joiner's leaf key, signed by the owner)
 *         may open, with the owner's reason. */

#include "config.h"

#include "protocol/usi-join.h"
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
open_refusal (const guint8 *body,
              gsize         size)
{
  g_autoptr(GError) error = NULL;
  UsiJoinRefusalReason reason = 0;

  if (!usi_join_refusal_open (body, size, room->invite, room->joiner_request, &room->joiner_leaf,
                              &reason, &error))
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      return;
    }

  usi_fuzz_check (g_bytes_get_size (room->join_refusal) == size &&
                  memcmp (g_bytes_get_data (room->join_refusal, NULL), body, size) == 0);
  usi_fuzz_check (reason == USI_JOIN_REFUSAL_REFUSED);
}

static void
open_request (const guint8 *body,
              gsize         size)
{
  g_autoptr(UsiInviteBook) book = usi_invite_book_new (room->room_id, usi_identity_get_public_key (room->owner));
  g_autoptr(UsiJoinRequest) request = NULL;
  g_autoptr(UsiJoiner) joiner = NULL;
  g_autoptr(UsiJoiner) replayed = NULL;
  g_autoptr(GBytes) encoded = NULL;
  g_autoptr(GError) error = NULL;
  const guint8 *invite_id = usi_invite_get_id (room->invite);
  UsiInviteState state;

  usi_fuzz_check (usi_invite_book_add (book, room->invite, &error));

  request = usi_join_request_decode (body, size, &error);
  if (request == NULL)
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      usi_fuzz_check (usi_invite_book_get_state (book, invite_id) == USI_INVITE_STATE_ISSUED);
      return;
    }
  encoded = usi_join_request_encode (request);
  usi_fuzz_check_same_bytes (body, size, g_bytes_get_data (encoded, NULL),
                             g_bytes_get_size (encoded), "a join request");

  joiner = usi_invite_book_open_request (book, request, &room->owner_leaf, 1, USI_FUZZ_NOW_MS, &error);
  state = usi_invite_book_get_state (book, invite_id);
  if (joiner == NULL)
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      usi_fuzz_check (state != USI_INVITE_STATE_USED);
      return;
    }

  usi_fuzz_check (g_bytes_get_size (room->join_request) == size &&
                  memcmp (g_bytes_get_data (room->join_request, NULL), body, size) == 0);
  usi_fuzz_check (state == USI_INVITE_STATE_USED);
  usi_fuzz_check (usi_leaf_node_verify (usi_joiner_get_leaf (joiner), NULL));
  usi_fuzz_check (memcmp (usi_joiner_get_invite_id (joiner), invite_id, USI_INVITE_ID_LENGTH) == 0);

  replayed = usi_invite_book_open_request (book, request, &room->owner_leaf, 1, USI_FUZZ_NOW_MS, &error);
  usi_fuzz_check (replayed == NULL);
  usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  /* An exact copy, so reading past the body is caught. */
  g_autofree guint8 *body = NULL;

  if (size == 0)
    return 0;

  body = g_memdup2 (data + 1, size - 1);
  if (data[0] & 1)
    open_refusal (body, size - 1);
  else
    open_request (body, size - 1);

  return 0;
}
