/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Invites as a person pastes them.  The first input byte picks the form:
 * even, the rest is the text as pasted; odd, the rest is an invite payload
 * (version ‖ fields) that the target wraps with a correct checksum and
 * base32, so mutations get past the typo check to the fields, the relay
 * address rules and the owner's leaf node.  An accepted invite must print
 * back as the same text (lower case, without the white space around it) and
 * read back as the same invite. */

#include "config.h"

#include "protocol/usi-invite.h"
#include "protocol/usi-protocol-error.h"

#include "usi-fuzz.h"
#include "usi-fuzz-invite-text.h"

/* Any fixed time: the seeds expire a week after it. */
#define NOW_MS G_GUINT64_CONSTANT (1700000000000)

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  usi_fuzz_make_warnings_fatal ();
  return 0;
}

static void
check_same_invite (UsiInvite *a,
                   UsiInvite *b)
{
  usi_fuzz_check (usi_invite_get_flags (a) == usi_invite_get_flags (b));
  usi_fuzz_check (g_strcmp0 (usi_invite_get_relay_address (a), usi_invite_get_relay_address (b)) == 0);
  usi_fuzz_check (g_strcmp0 (usi_invite_get_relay_host (a), usi_invite_get_relay_host (b)) == 0);
  usi_fuzz_check (usi_invite_get_relay_port (a) == usi_invite_get_relay_port (b));
  usi_fuzz_check (memcmp (usi_invite_get_relay_pin (a), usi_invite_get_relay_pin (b), USI_INVITE_RELAY_PIN_LENGTH) == 0);
  usi_fuzz_check (memcmp (usi_invite_get_room_id (a), usi_invite_get_room_id (b), USI_ROOM_ID_LENGTH) == 0);
  usi_fuzz_check (memcmp (usi_invite_get_owner_leaf (a), usi_invite_get_owner_leaf (b), sizeof (UsiLeafNode)) == 0);
  usi_fuzz_check (usi_invite_get_expires_ms (a) == usi_invite_get_expires_ms (b));
  usi_fuzz_check (memcmp (usi_invite_get_id (a), usi_invite_get_id (b), USI_INVITE_ID_LENGTH) == 0);
  usi_fuzz_check (memcmp (usi_invite_get_psk (a), usi_invite_get_psk (b), USI_INVITE_PSK_LENGTH) == 0);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(UsiInvite) again = NULL;
  g_autofree char *text = NULL;
  g_autofree char *expected = NULL;
  g_autofree char *printed = NULL;
  g_autofree char *port = NULL;
  const char *address;

  if (size == 0)
    return 0;

  if (data[0] & 1)
    {
      text = usi_fuzz_invite_wrap_payload (data + 1, size - 1);
      expected = g_strdup (text);
    }
  else
    {
      text = g_strndup ((const char *) data + 1, size - 1);
      expected = g_ascii_strdown (text, -1);
      g_strstrip (expected);
    }

  invite = usi_invite_parse (text, NOW_MS, &error);
  if (invite == NULL)
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      return 0;
    }

  usi_fuzz_check (error == NULL);
  usi_fuzz_check (usi_invite_get_version (invite) == USI_INVITE_VERSION);
  usi_fuzz_check (usi_invite_get_expires_ms (invite) > NOW_MS);
  usi_fuzz_check ((usi_invite_get_flags (invite) & ~USI_INVITE_FLAGS_PASSWORD_REQUIRED) == 0);

  /* The relay address is "host:port" with a port that means something. */
  address = usi_invite_get_relay_address (invite);
  usi_fuzz_check (strlen (address) <= USI_INVITE_MAX_RELAY_ADDRESS);
  usi_fuzz_check (usi_invite_get_relay_port (invite) != 0);
  port = g_strdup_printf (":%u", (guint) usi_invite_get_relay_port (invite));
  usi_fuzz_check (g_str_has_suffix (address, port));
  usi_fuzz_check (strstr (address, usi_invite_get_relay_host (invite)) != NULL);

  printed = usi_invite_to_uri (invite);
  usi_fuzz_check_same_bytes ((const guint8 *) expected, strlen (expected),
                             (const guint8 *) printed, strlen (printed), "an invite");

  again = usi_invite_parse (printed, NOW_MS, &error);
  usi_fuzz_check (again != NULL && error == NULL);
  check_same_invite (invite, again);

  return 0;
}
