/* SPDX-License-Identifier: GPL-3.0-or-later */

#include "config.h"

#include <string.h>

#include "crypto/usi-mls-labels.h"
#include "crypto/usi-random.h"
#include "protocol/usi-invite.h"
#include "protocol/usi-protocol-error.h"
#include "protocol/usi-wire.h"

#define NOW_MS     G_GUINT64_CONSTANT (1700000000000)
#define EXPIRES_MS (NOW_MS + G_GUINT64_CONSTANT (7) * 24 * 3600 * 1000)

/* The test's own base32 and CRC-32, written from RFC 4648 and ISO-HDLC,
 * so that payloads can be built and taken apart independently of the unit
 * under test. */
static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

static char *
test_base32_encode (const guint8 *data,
                    gsize         length)
{
  GString *text = g_string_new (NULL);

  for (gsize bit = 0; bit < length * 8; bit += 5)
    {
      guint value = 0;

      for (guint k = 0; k < 5; k++)
        {
          gsize b = bit + k;

          value <<= 1;
          if (b < length * 8)
            value |= (data[b / 8] >> (7 - b % 8)) & 1;
        }
      g_string_append_c (text, alphabet[value]);
    }

  return g_string_free (text, FALSE);
}

static GByteArray *
test_base32_decode (const char *text)
{
  GByteArray *out = g_byte_array_new ();
  gsize bits = strlen (text) * 5;

  for (gsize byte = 0; byte < bits / 8; byte++)
    {
      guint8 value = 0;

      for (guint k = 0; k < 8; k++)
        {
          gsize b = byte * 8 + k;
          const char *p = strchr (alphabet, g_ascii_tolower (text[b / 5]));

          g_assert_nonnull (p);
          value = (value << 1) | (((p - alphabet) >> (4 - b % 5)) & 1);
        }
      g_byte_array_append (out, &value, 1);
    }

  return out;
}

static guint32
test_crc32 (const guint8 *data,
            gsize         length)
{
  guint32 table[256];
  guint32 crc = 0xffffffff;

  for (guint32 n = 0; n < 256; n++)
    {
      guint32 c = n;

      for (guint k = 0; k < 8; k++)
        c = (c & 1) ? 0xedb88320 ^ (c >> 1) : c >> 1;
      table[n] = c;
    }
  for (gsize i = 0; i < length; i++)
    crc = table[(crc ^ data[i]) & 0xff] ^ (crc >> 8);

  return crc ^ 0xffffffff;
}

/* usi://invite/ + base32 (payload ‖ CRC-32 (payload)) */
static char *
uri_from_payload (const guint8 *payload,
                  gsize         length)
{
  g_autoptr(GByteArray) full = g_byte_array_new ();
  g_autofree char *text = NULL;
  guint32 crc = test_crc32 (payload, length);

  g_byte_array_append (full, payload, length);
  usi_wire_write_u32 (full, crc);
  text = test_base32_encode (full->data, full->len);
  return g_strconcat ("usi://invite/", text, NULL);
}

/* The payload of @uri without its checksum. */
static GByteArray *
payload_from_uri (const char *uri)
{
  GByteArray *payload = test_base32_decode (uri + strlen ("usi://invite/"));

  g_byte_array_set_size (payload, payload->len - 4);
  return payload;
}

typedef struct
{
  UsiRandom     *random;
  UsiIdentity   *owner;
  UsiLeafSecret  owner_leaf;
  guint8         room_id[USI_ROOM_ID_LENGTH];
  guint8         relay_pin[USI_INVITE_RELAY_PIN_LENGTH];
} Owner;

static void
owner_init (Owner      *owner,
            const char *seed)
{
  g_autoptr(GError) error = NULL;

  owner->random = usi_random_new_deterministic ((const guint8 *) seed, strlen (seed));
  owner->owner = usi_identity_generate (owner->random, &error);
  g_assert_no_error (error);
  g_assert_true (usi_leaf_secret_generate (owner->random, owner->owner, 1, NOW_MS, &owner->owner_leaf, &error));
  g_assert_true (usi_random_fill (owner->random, owner->room_id, sizeof owner->room_id, &error));
  g_assert_true (usi_random_fill (owner->random, owner->relay_pin, sizeof owner->relay_pin, &error));
}

static void
owner_clear (Owner *owner)
{
  usi_leaf_secret_clear (&owner->owner_leaf);
  g_clear_pointer (&owner->owner, usi_identity_free);
  g_clear_pointer (&owner->random, usi_random_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Owner, owner_clear)

static UsiInvite *
owner_invite (Owner          *owner,
              UsiInviteFlags  flags,
              const char     *relay_address)
{
  g_autoptr(GError) error = NULL;
  UsiInvite *invite = usi_invite_new (owner->random, flags, relay_address, owner->relay_pin,
                                      owner->room_id, &owner->owner_leaf.node, EXPIRES_MS, &error);

  g_assert_no_error (error);
  g_assert_nonnull (invite);
  return invite;
}

static void
assert_invites_equal (UsiInvite *a,
                      UsiInvite *b)
{
  g_assert_cmpuint (usi_invite_get_version (a), ==, usi_invite_get_version (b));
  g_assert_cmpuint (usi_invite_get_flags (a), ==, usi_invite_get_flags (b));
  g_assert_cmpstr (usi_invite_get_relay_address (a), ==, usi_invite_get_relay_address (b));
  g_assert_cmpstr (usi_invite_get_relay_host (a), ==, usi_invite_get_relay_host (b));
  g_assert_cmpuint (usi_invite_get_relay_port (a), ==, usi_invite_get_relay_port (b));
  g_assert_cmpmem (usi_invite_get_relay_pin (a), 32, usi_invite_get_relay_pin (b), 32);
  g_assert_cmpmem (usi_invite_get_room_id (a), 16, usi_invite_get_room_id (b), 16);
  g_assert_cmpmem (usi_invite_get_owner_identity_key (a), 32, usi_invite_get_owner_identity_key (b), 32);
  g_assert_cmpmem (usi_invite_get_owner_leaf (a), sizeof (UsiLeafNode),
                   usi_invite_get_owner_leaf (b), sizeof (UsiLeafNode));
  g_assert_cmpuint (usi_invite_get_expires_ms (a), ==, usi_invite_get_expires_ms (b));
  g_assert_cmpmem (usi_invite_get_id (a), 16, usi_invite_get_id (b), 16);
  g_assert_cmpmem (usi_invite_get_psk (a), 32, usi_invite_get_psk (b), 32);
}

static void
test_crc_known_answer (void)
{
  /* The check value of CRC-32/ISO-HDLC, so the test's own CRC is right. */
  g_assert_cmphex (test_crc32 ((const guint8 *) "123456789", 9), ==, 0xcbf43926);
}

static void
test_round_trip (void)
{
  g_auto(Owner) owner = { 0 };
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(UsiInvite) parsed = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *uri = NULL;
  g_autofree char *again = NULL;

  owner_init (&owner, "round trip");
  invite = owner_invite (&owner, USI_INVITE_FLAGS_PASSWORD_REQUIRED, "relay.example.org:7447");
  uri = usi_invite_to_uri (invite);

  g_assert_true (g_str_has_prefix (uri, "usi://invite/"));
  for (const char *p = uri + strlen ("usi://invite/"); *p != '\0'; p++)
    g_assert_nonnull (strchr (alphabet, *p));

  parsed = usi_invite_parse (uri, NOW_MS, &error);
  g_assert_no_error (error);
  assert_invites_equal (invite, parsed);
  g_assert_true (usi_invite_get_password_required (parsed));
  g_assert_cmpstr (usi_invite_get_relay_host (parsed), ==, "relay.example.org");
  g_assert_cmpuint (usi_invite_get_relay_port (parsed), ==, 7447);
  g_assert_cmpmem (usi_invite_get_owner_identity_key (parsed), 32, usi_identity_get_public_key (owner.owner), 32);

  again = usi_invite_to_uri (parsed);
  g_assert_cmpstr (again, ==, uri);
}

static void
test_layout_and_derivations (void)
{
  g_auto(Owner) owner = { 0 };
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(GByteArray) expected = g_byte_array_new ();
  g_autoptr(GByteArray) payload = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *uri = NULL;
  g_autofree char *expected_uri = NULL;
  guint8 secret[32], id[16], psk[32];
  guint8 seed[] = "layout";
  g_autoptr(UsiRandom) secret_random = NULL;

  owner_init (&owner, "layout");
  /* The secret is the next 32 bytes of a copy of the same stream. */
  secret_random = usi_random_new_deterministic (seed, 6);
  {
    g_autoptr(UsiIdentity) skip_identity = usi_identity_generate (secret_random, &error);
    g_auto(UsiLeafSecret) skip_leaf = { 0 };
    guint8 skip[16 + 32];

    g_assert_true (usi_leaf_secret_generate (secret_random, skip_identity, 1, NOW_MS, &skip_leaf, &error));
    g_assert_true (usi_random_fill (secret_random, skip, sizeof skip, &error));
    g_assert_true (usi_random_fill (secret_random, secret, sizeof secret, &error));
  }

  invite = owner_invite (&owner, USI_INVITE_FLAGS_NONE, "r.example:443");
  uri = usi_invite_to_uri (invite);

  /* docs/protocol.md §5.1, byte by byte. */
  usi_wire_write_u8 (expected, 1);
  usi_wire_write_u8 (expected, 0);
  usi_wire_write_u8 (expected, 13);
  g_byte_array_append (expected, (const guint8 *) "r.example:443", 13);
  g_byte_array_append (expected, owner.relay_pin, 32);
  g_byte_array_append (expected, owner.room_id, 16);
  usi_leaf_node_write (&owner.owner_leaf.node, expected);
  g_byte_array_append (expected, secret, 32);
  usi_wire_write_u64 (expected, EXPIRES_MS);
  payload = payload_from_uri (uri);
  g_assert_cmpmem (payload->data, payload->len, expected->data, expected->len);
  expected_uri = uri_from_payload (expected->data, expected->len);
  g_assert_cmpstr (uri, ==, expected_uri);

  /* invite_id and invite_psk: ExpandWithLabel of the secret, room id as context. */
  g_assert_true (usi_mls_expand_with_label ("usi 1.0 ", secret, "invite id", owner.room_id, 16, id, 16, &error));
  g_assert_true (usi_mls_expand_with_label ("usi 1.0 ", secret, "invite psk", owner.room_id, 16, psk, 32, &error));
  g_assert_cmpmem (usi_invite_get_id (invite), 16, id, 16);
  g_assert_cmpmem (usi_invite_get_psk (invite), 32, psk, 32);
  /* The secret is nowhere in what the relay sees. */
  g_assert_true (memcmp (id, secret, 16) != 0);
}

static void
assert_parse_fails (const char       *uri,
                    guint64           now_ms,
                    UsiProtocolError  code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiInvite) invite = usi_invite_parse (uri, now_ms, &error);

  g_assert_null (invite);
  g_assert_error (error, USI_PROTOCOL_ERROR, (int) code);
}

static void
test_j1_bad_checksum (void)
{
  g_auto(Owner) owner = { 0 };
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(GByteArray) payload = NULL;
  g_autoptr(GByteArray) full = g_byte_array_new ();
  g_autofree char *uri = NULL;
  g_autofree char *text = NULL;
  g_autofree char *bad = NULL;

  owner_init (&owner, "J1 checksum");
  invite = owner_invite (&owner, USI_INVITE_FLAGS_NONE, "relay.example.org:7447");
  uri = usi_invite_to_uri (invite);
  payload = payload_from_uri (uri);

  /* An intact payload with a checksum off by one. */
  g_byte_array_append (full, payload->data, payload->len);
  usi_wire_write_u32 (full, test_crc32 (payload->data, payload->len) ^ 1);
  text = test_base32_encode (full->data, full->len);
  bad = g_strconcat ("usi://invite/", text, NULL);
  assert_parse_fails (bad, NOW_MS, USI_PROTOCOL_ERROR_INVITE_CORRUPT);

  /* A truncated copy. */
  uri[strlen (uri) - 8] = '\0';
  assert_parse_fails (uri, NOW_MS, USI_PROTOCOL_ERROR_INVITE_CORRUPT);
  assert_parse_fails ("usi://invite/", NOW_MS, USI_PROTOCOL_ERROR_INVITE_CORRUPT);
  assert_parse_fails ("usi://invite/aaaaaaaa", NOW_MS, USI_PROTOCOL_ERROR_INVITE_CORRUPT);
}

static void
test_j1_unknown_version (void)
{
  g_auto(Owner) owner = { 0 };
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(GByteArray) payload = NULL;
  g_autofree char *uri = NULL;

  owner_init (&owner, "J1 version");
  invite = owner_invite (&owner, USI_INVITE_FLAGS_NONE, "relay.example.org:7447");
  uri = usi_invite_to_uri (invite);
  payload = payload_from_uri (uri);

  /* Intact invites (valid checksum) of versions 0, 2 and 255, including one
   * whose body a future version might have shaped differently. */
  for (guint version = 0; version < 256; version += 1)
    {
      g_autofree char *other = NULL;

      if (version == 1)
        continue;
      payload->data[0] = version;
      other = uri_from_payload (payload->data, payload->len);
      assert_parse_fails (other, NOW_MS, USI_PROTOCOL_ERROR_UNSUPPORTED_VERSION);
    }
  {
    g_autofree char *short_future = uri_from_payload ((const guint8 *) "\x02", 1);

    assert_parse_fails (short_future, NOW_MS, USI_PROTOCOL_ERROR_UNSUPPORTED_VERSION);
  }
}

static void
test_j1_expired (void)
{
  g_auto(Owner) owner = { 0 };
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(UsiInvite) parsed = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *uri = NULL;

  owner_init (&owner, "J1 expired");
  invite = owner_invite (&owner, USI_INVITE_FLAGS_NONE, "relay.example.org:7447");
  uri = usi_invite_to_uri (invite);

  assert_parse_fails (uri, EXPIRES_MS, USI_PROTOCOL_ERROR_INVITE_EXPIRED);
  assert_parse_fails (uri, G_MAXUINT64, USI_PROTOCOL_ERROR_INVITE_EXPIRED);
  parsed = usi_invite_parse (uri, EXPIRES_MS - 1, &error);
  g_assert_no_error (error);
  g_assert_nonnull (parsed);
}

static void
assert_altered_refused (const char *altered)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiInvite) invite = usi_invite_parse (altered, NOW_MS, &error);

  if (invite != NULL)
    g_error ("an altered invite was accepted: %s", altered);
  /* Inside the payload it is always the checksum; in the "usi://invite/"
   * prefix it is "not an invite". */
  if (!g_error_matches (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_INVITE_CORRUPT) &&
      !g_error_matches (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED))
    g_error ("an altered invite gave “%s” (%d): %s", error->message, error->code, altered);
}

static void
test_every_single_character_alteration (void)
{
  g_auto(Owner) owner = { 0 };
  g_autoptr(UsiInvite) invite = NULL;
  g_autofree char *uri = NULL;
  gsize length, prefix_length = strlen ("usi://invite/");
  guint checked = 0;

  owner_init (&owner, "alterations");
  invite = owner_invite (&owner, USI_INVITE_FLAGS_PASSWORD_REQUIRED, "relay.example.org:7447");
  uri = usi_invite_to_uri (invite);
  length = strlen (uri);

  for (gsize i = 0; i < length; i++)
    {
      /* Every substitution by a printable character (or a space or a tab)
       * that is not the same letter in another case. */
      for (int c = 0x20; c <= 0x7e; c++)
        {
          g_autofree char *altered = g_strdup (uri);

          if (g_ascii_tolower (c) == g_ascii_tolower (uri[i]))
            continue;
          altered[i] = c;
          /* A space at either end is trimmed, which is no alteration
           * of the payload when it replaces... nothing: here it replaces a
           * character, so the result is still a shortened invite. */
          assert_altered_refused (altered);
          checked++;
        }

      /* Every deletion. */
      {
        g_autofree char *deleted = g_strdup (uri);

        memmove (deleted + i, deleted + i + 1, length - i);
        assert_altered_refused (deleted);
        checked++;
      }

      /* Every insertion of a base32 character, and of a letter into the prefix. */
      if (i >= prefix_length)
        for (const char *a = alphabet; *a != '\0'; a++)
          {
            g_autofree char *inserted = g_strdup_printf ("%.*s%c%s", (int) i, uri, *a, uri + i);

            assert_altered_refused (inserted);
            checked++;
          }
    }

  g_test_message ("%u altered invites refused", checked);
}

static void
test_every_payload_bit_flip (void)
{
  g_auto(Owner) owner = { 0 };
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(GByteArray) full = NULL;
  g_autofree char *uri = NULL;

  owner_init (&owner, "bit flips");
  invite = owner_invite (&owner, USI_INVITE_FLAGS_NONE, "relay.example.org:7447");
  uri = usi_invite_to_uri (invite);
  full = test_base32_decode (uri + strlen ("usi://invite/"));

  for (gsize bit = 0; bit < full->len * 8; bit++)
    {
      g_autofree char *text = NULL;
      g_autofree char *flipped = NULL;

      full->data[bit / 8] ^= 1 << (bit % 8);
      text = test_base32_encode (full->data, full->len);
      flipped = g_strconcat ("usi://invite/", text, NULL);
      assert_parse_fails (flipped, NOW_MS, USI_PROTOCOL_ERROR_INVITE_CORRUPT);
      full->data[bit / 8] ^= 1 << (bit % 8);
    }
}

static void
test_non_canonical_base32 (void)
{
  g_auto(Owner) owner = { 0 };
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(GByteArray) full = NULL;
  g_autofree char *uri = NULL;
  gsize length;
  char *last;

  owner_init (&owner, "canonical");
  /* A payload whose bit length is not a multiple of 5, so the last
   * character has unused low bits. */
  invite = owner_invite (&owner, USI_INVITE_FLAGS_NONE, "relay.example.org:7447");
  uri = usi_invite_to_uri (invite);
  full = test_base32_decode (uri + strlen ("usi://invite/"));
  g_assert_cmpuint ((full->len * 8) % 5, !=, 0);

  length = strlen (uri);
  last = &uri[length - 1];
  /* Setting the lowest unused bit decodes to the same bytes: refused. */
  *last = alphabet[(strchr (alphabet, *last) - alphabet) | 1];
  assert_parse_fails (uri, NOW_MS, USI_PROTOCOL_ERROR_INVITE_CORRUPT);

  /* Lengths that no byte string encodes to (1, 3 or 6 characters past a
   * multiple of 8). */
  assert_parse_fails ("usi://invite/a", NOW_MS, USI_PROTOCOL_ERROR_INVITE_CORRUPT);
  assert_parse_fails ("usi://invite/aaaaaaaaa", NOW_MS, USI_PROTOCOL_ERROR_INVITE_CORRUPT);
  assert_parse_fails ("usi://invite/aaaaaaaaaaaaaa", NOW_MS, USI_PROTOCOL_ERROR_INVITE_CORRUPT);
  /* Padding, and characters outside the alphabet (0, 1, 8, 9). */
  assert_parse_fails ("usi://invite/aaaaaaaa========", NOW_MS, USI_PROTOCOL_ERROR_INVITE_CORRUPT);
  assert_parse_fails ("usi://invite/aaaaaaa0", NOW_MS, USI_PROTOCOL_ERROR_INVITE_CORRUPT);
  assert_parse_fails ("usi://invite/aaaaaaa8", NOW_MS, USI_PROTOCOL_ERROR_INVITE_CORRUPT);
}

static void
test_case_insensitive (void)
{
  g_auto(Owner) owner = { 0 };
  g_autoptr(UsiInvite) invite = NULL;
  g_autofree char *uri = NULL;
  g_autofree char *upper = NULL;
  g_autofree char *mixed = NULL;
  g_autofree char *padded = NULL;
  g_autofree char *inner_space = NULL;

  owner_init (&owner, "case");
  invite = owner_invite (&owner, USI_INVITE_FLAGS_NONE, "relay.example.org:7447");
  uri = usi_invite_to_uri (invite);
  upper = g_ascii_strup (uri, -1);
  mixed = g_strdup (uri);
  for (gsize i = 0; i < strlen (mixed); i += 2)
    mixed[i] = g_ascii_toupper (mixed[i]);
  padded = g_strdup_printf ("  \n%s\t \n", uri);

  for (guint i = 0; i < 3; i++)
    {
      const char *text = i == 0 ? upper : i == 1 ? mixed : padded;
      g_autoptr(GError) error = NULL;
      g_autoptr(UsiInvite) parsed = usi_invite_parse (text, NOW_MS, &error);
      g_autofree char *written = NULL;

      g_assert_no_error (error);
      assert_invites_equal (invite, parsed);
      /* Written back in its one canonical form. */
      written = usi_invite_to_uri (parsed);
      g_assert_cmpstr (written, ==, uri);
    }

  /* A line break inside (a wrapped paste) is not silently repaired. */
  inner_space = g_strdup_printf ("%.40s\n%s", uri, uri + 40);
  assert_parse_fails (inner_space, NOW_MS, USI_PROTOCOL_ERROR_INVITE_CORRUPT);
}

static void
test_maximum_lengths (void)
{
  g_auto(Owner) owner = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) host = g_string_new (NULL);
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(UsiInvite) parsed = NULL;
  g_autofree char *address = NULL;
  g_autofree char *too_long = NULL;
  g_autofree char *uri = NULL;
  g_autofree char *oversized = NULL;

  owner_init (&owner, "maximum");

  /* A 249-byte host name of 63-byte labels + ":65535" = 255 bytes. */
  while (host->len < 249)
    {
      if (host->len > 0)
        g_string_append_c (host, '.');
      for (guint i = 0; i < 63 && host->len < 249; i++)
        g_string_append_c (host, 'a' + (host->len % 26));
    }
  address = g_strdup_printf ("%s:65535", host->str);
  g_assert_cmpuint (strlen (address), ==, USI_INVITE_MAX_RELAY_ADDRESS);

  invite = owner_invite (&owner, USI_INVITE_FLAGS_PASSWORD_REQUIRED, address);
  uri = usi_invite_to_uri (invite);
  /* The longest version 1 invite stays well inside what is decoded at all. */
  g_assert_cmpuint (strlen (uri), <=, strlen ("usi://invite/") + 786);
  parsed = usi_invite_parse (uri, NOW_MS, &error);
  g_assert_no_error (error);
  assert_invites_equal (invite, parsed);
  g_assert_cmpuint (usi_invite_get_relay_port (parsed), ==, 65535);

  /* One byte more is refused when the invite is made... */
  too_long = g_strdup_printf ("a%s", address);
  g_assert_null (usi_invite_new (owner.random, 0, too_long, owner.relay_pin, owner.room_id,
                                 &owner.owner_leaf.node, EXPIRES_MS, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
  g_clear_error (&error);

  /* ... and a text longer than any invite is refused before decoding. */
  oversized = g_strnfill (strlen ("usi://invite/") + USI_INVITE_MAX_PAYLOAD_CHARS + 1, 'a');
  memcpy (oversized, "usi://invite/", strlen ("usi://invite/"));
  assert_parse_fails (oversized, NOW_MS, USI_PROTOCOL_ERROR_TOO_LARGE);
  /* Exactly the maximum is decoded, and is then only a bad checksum. */
  oversized[strlen (oversized) - 1] = '\0';
  assert_parse_fails (oversized, NOW_MS, USI_PROTOCOL_ERROR_INVITE_CORRUPT);
}

static void
test_relay_addresses (void)
{
  g_auto(Owner) owner = { 0 };
  struct { const char *address, *host; guint port; const char *stored; } valid[] = {
    { "relay.example.org:7447", "relay.example.org", 7447, NULL },
    { "localhost:1", "localhost", 1, NULL },
    { "192.0.2.1:65535", "192.0.2.1", 65535, NULL },
    { "[2001:db8::1]:443", "2001:db8::1", 443, NULL },
    { "[::ffff:192.0.2.1]:443", "::ffff:192.0.2.1", 443, NULL },
    { "RELAY.Example.ORG:80", "relay.example.org", 80, "relay.example.org:80" },
    { "xn--bcher-kva.example:80", "xn--bcher-kva.example", 80, NULL },
  };
  const char *invalid[] = {
    "relay.example.org", ":80", "relay:", "relay:0", "relay:65536", "relay:080", "relay:+80",
    "relay:8o", "[::1]", "::1:80", "[::1:80", "[fe80::1%eth0]:80", "[relay]:80", "[]:80",
    "1.2.3.999:80", "1.2.3:80", "-relay:80", "relay-:80", "re_lay:80", "a..b:80", ".relay:80",
    "relay.:80", "relay :80", "rélay:80", "relay:80 ", "",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example:80",
  };

  owner_init (&owner, "relays");

  for (guint i = 0; i < G_N_ELEMENTS (valid); i++)
    {
      g_autoptr(UsiInvite) invite = owner_invite (&owner, 0, valid[i].address);
      g_autofree char *uri = usi_invite_to_uri (invite);
      g_autoptr(GError) error = NULL;
      g_autoptr(UsiInvite) parsed = usi_invite_parse (uri, NOW_MS, &error);

      g_assert_no_error (error);
      g_assert_cmpstr (usi_invite_get_relay_address (parsed), ==,
                       valid[i].stored != NULL ? valid[i].stored : valid[i].address);
      g_assert_cmpstr (usi_invite_get_relay_host (parsed), ==, valid[i].host);
      g_assert_cmpuint (usi_invite_get_relay_port (parsed), ==, valid[i].port);
    }

  for (guint i = 0; i < G_N_ELEMENTS (invalid); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(UsiInvite) invite = usi_invite_new (owner.random, 0, invalid[i], owner.relay_pin,
                                                    owner.room_id, &owner.owner_leaf.node,
                                                    EXPIRES_MS, &error);

      if (invite != NULL)
        g_error ("relay address “%s” accepted", invalid[i]);
      g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
    }
}

/* Builds version 1 payloads that an encoder other than usi_invite_to_uri()
 * could produce, each with a valid checksum. */
static GByteArray *
build_payload (Owner        *owner,
               guint8        flags,
               const char   *address,
               UsiLeafNode  *leaf,
               gboolean      trailing_byte)
{
  GByteArray *payload = g_byte_array_new ();
  guint8 secret[32] = { 7 };

  usi_wire_write_u8 (payload, 1);
  usi_wire_write_u8 (payload, flags);
  usi_wire_write_string (payload, address);
  g_byte_array_append (payload, owner->relay_pin, 32);
  g_byte_array_append (payload, owner->room_id, 16);
  usi_leaf_node_write (leaf, payload);
  g_byte_array_append (payload, secret, 32);
  usi_wire_write_u64 (payload, EXPIRES_MS);
  if (trailing_byte)
    usi_wire_write_u8 (payload, 0);
  return payload;
}

static void
test_intact_but_invalid_payloads (void)
{
  g_auto(Owner) owner = { 0 };
  UsiLeafNode leaf;

  owner_init (&owner, "intact but invalid");
  leaf = owner.owner_leaf.node;

  {
    g_autoptr(GByteArray) payload = build_payload (&owner, 0, "relay.example.org:7447", &leaf, FALSE);
    g_autofree char *uri = uri_from_payload (payload->data, payload->len);
    g_autoptr(GError) error = NULL;
    g_autoptr(UsiInvite) invite = usi_invite_parse (uri, NOW_MS, &error);

    /* The builder itself is right. */
    g_assert_no_error (error);
    g_assert_nonnull (invite);
  }

  {
    g_autoptr(GByteArray) payload = build_payload (&owner, 0x02, "relay.example.org:7447", &leaf, FALSE);
    g_autofree char *uri = uri_from_payload (payload->data, payload->len);

    assert_parse_fails (uri, NOW_MS, USI_PROTOCOL_ERROR_MALFORMED);
  }
  {
    g_autoptr(GByteArray) payload = build_payload (&owner, 0, "relay.example.org:7447", &leaf, TRUE);
    g_autofree char *uri = uri_from_payload (payload->data, payload->len);

    assert_parse_fails (uri, NOW_MS, USI_PROTOCOL_ERROR_MALFORMED);
  }
  {
    g_autoptr(GByteArray) payload = build_payload (&owner, 0, "Relay.example.org:7447", &leaf, FALSE);
    g_autofree char *uri = uri_from_payload (payload->data, payload->len);

    assert_parse_fails (uri, NOW_MS, USI_PROTOCOL_ERROR_MALFORMED);
  }
  {
    g_autoptr(GByteArray) payload = build_payload (&owner, 0, "relay.example.org", &leaf, FALSE);
    g_autofree char *uri = uri_from_payload (payload->data, payload->len);

    assert_parse_fails (uri, NOW_MS, USI_PROTOCOL_ERROR_MALFORMED);
  }
  {
    g_autoptr(GByteArray) payload = NULL;
    g_autofree char *uri = NULL;

    /* A leaf node whose signature does not verify: BAD_SIGNATURE, on
     * parsing and on making an invite. */
    leaf.sequence++;
    payload = build_payload (&owner, 0, "relay.example.org:7447", &leaf, FALSE);
    uri = uri_from_payload (payload->data, payload->len);
    assert_parse_fails (uri, NOW_MS, USI_PROTOCOL_ERROR_BAD_SIGNATURE);
  }
  {
    g_autoptr(GError) error = NULL;

    g_assert_null (usi_invite_new (owner.random, 0, "relay.example.org:7447", owner.relay_pin,
                                   owner.room_id, &leaf, EXPIRES_MS, &error));
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_BAD_SIGNATURE);
  }
}

static void
test_not_an_invite (void)
{
  assert_parse_fails ("", NOW_MS, USI_PROTOCOL_ERROR_MALFORMED);
  assert_parse_fails ("https://example.org/invite/aaaa", NOW_MS, USI_PROTOCOL_ERROR_MALFORMED);
  assert_parse_fails ("usi://invit", NOW_MS, USI_PROTOCOL_ERROR_MALFORMED);
  assert_parse_fails ("usi://room/aaaaaaaa", NOW_MS, USI_PROTOCOL_ERROR_MALFORMED);
}

static void
test_fresh_secrets (void)
{
  g_auto(Owner) owner = { 0 };
  g_autoptr(UsiInvite) first = NULL;
  g_autoptr(UsiInvite) second = NULL;

  owner_init (&owner, "fresh");
  first = owner_invite (&owner, 0, "relay.example.org:7447");
  second = owner_invite (&owner, 0, "relay.example.org:7447");

  g_assert_true (memcmp (usi_invite_get_id (first), usi_invite_get_id (second), 16) != 0);
  g_assert_true (memcmp (usi_invite_get_psk (first), usi_invite_get_psk (second), 32) != 0);
  g_assert_true (memcmp (usi_invite_get_id (first), usi_invite_get_psk (first), 16) != 0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/protocol/invite/crc-known-answer", test_crc_known_answer);
  g_test_add_func ("/protocol/invite/round-trip", test_round_trip);
  g_test_add_func ("/protocol/invite/layout-and-derivations", test_layout_and_derivations);
  g_test_add_func ("/protocol/invite/J1-bad-checksum", test_j1_bad_checksum);
  g_test_add_func ("/protocol/invite/J1-unknown-version", test_j1_unknown_version);
  g_test_add_func ("/protocol/invite/J1-expired", test_j1_expired);
  g_test_add_func ("/protocol/invite/every-single-character-alteration", test_every_single_character_alteration);
  g_test_add_func ("/protocol/invite/every-payload-bit-flip", test_every_payload_bit_flip);
  g_test_add_func ("/protocol/invite/non-canonical-base32", test_non_canonical_base32);
  g_test_add_func ("/protocol/invite/case-insensitive", test_case_insensitive);
  g_test_add_func ("/protocol/invite/maximum-lengths", test_maximum_lengths);
  g_test_add_func ("/protocol/invite/relay-addresses", test_relay_addresses);
  g_test_add_func ("/protocol/invite/intact-but-invalid-payloads", test_intact_but_invalid_payloads);
  g_test_add_func ("/protocol/invite/not-an-invite", test_not_an_invite);
  g_test_add_func ("/protocol/invite/fresh-secrets", test_fresh_secrets);

  return g_test_run ();
}
