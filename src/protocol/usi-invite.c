/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Invites: the usi:// text an owner shares so that one person can join one
 * room.  The text survives copy and paste (one case-insensitive alphabet
 * without punctuation), and a checksum turns a typo into a clear "copy it
 * again" instead of a confusing failure later.  The secret it carries never
 * leaves this unit except as the two values derived from it: the invite id
 * (which the relay sees) and the join request's HPKE PSK (which nobody but
 * the joiner and the owner ever has).  No I/O, no clock here. */

#define G_LOG_DOMAIN "usi-protocol"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "crypto/usi-mls-labels.h"
#include "crypto/usi-secret.h"

#include "usi-invite.h"
#include "usi-protocol-error.h"
#include "usi-wire.h"

#define INVITE_ID_LABEL   "invite id"
#define INVITE_PSK_LABEL  "invite psk"

#define CHECKSUM_LENGTH   4
/* Version and checksum frame every version's payload; the rest belongs to
 * the version. */
#define MIN_PAYLOAD_BYTES (1 + CHECKSUM_LENGTH)
#define MAX_PAYLOAD_BYTES (USI_INVITE_MAX_PAYLOAD_CHARS * 5 / 8)

#define MAX_DNS_NAME      253
#define MAX_DNS_LABEL     63

struct _UsiInvite
{
  guint8          version;
  UsiInviteFlags  flags;
  char           *relay_address;
  char           *relay_host;
  guint16         relay_port;
  guint8          relay_pin[USI_INVITE_RELAY_PIN_LENGTH];
  guint8          room_id[USI_ROOM_ID_LENGTH];
  UsiLeafNode     owner_leaf;
  guint64         expires_ms;
  guint8          secret[USI_INVITE_SECRET_LENGTH];
  guint8          id[USI_INVITE_ID_LENGTH];
  guint8          psk[USI_INVITE_PSK_LENGTH];
};

static const char base32_alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";

/* RFC 4648 §6 without padding, lower case. */
static char *
base32_encode (const guint8 *data,
               gsize         length)
{
  GString *text = g_string_sized_new ((length * 8 + 4) / 5 + 1);
  guint32 buffer = 0;
  guint bits = 0;

  for (gsize i = 0; i < length; i++)
    {
      buffer = (buffer << 8) | data[i];
      bits += 8;
      while (bits >= 5)
        {
          bits -= 5;
          g_string_append_c (text, base32_alphabet[(buffer >> bits) & 0x1f]);
        }
      buffer &= (1u << bits) - 1;
    }
  if (bits > 0)
    g_string_append_c (text, base32_alphabet[(buffer << (5 - bits)) & 0x1f]);

  return g_string_free (text, FALSE);
}

static int
base32_value (char c)
{
  if (c >= 'a' && c <= 'z')
    return c - 'a';
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= '2' && c <= '7')
    return c - '2' + 26;
  return -1;
}

/* Canonical decoding: a length that no byte string encodes to, or unused
 * low bits that are not zero, would let two texts mean the same invite, so
 * both are refused like a typo.  @out has room for @length × 5 / 8 bytes. */
static gboolean
base32_decode (const char *text,
               gsize       length,
               guint8     *out,
               gsize      *out_length)
{
  guint32 buffer = 0;
  guint bits = 0;
  gsize written = 0;

  for (gsize i = 0; i < length; i++)
    {
      int value = base32_value (text[i]);

      if (value < 0)
        return FALSE;
      buffer = (buffer << 5) | (guint32) value;
      bits += 5;
      if (bits >= 8)
        {
          bits -= 8;
          out[written++] = (buffer >> bits) & 0xff;
        }
      buffer &= (1u << bits) - 1;
    }

  *out_length = written;
  return bits < 5 && buffer == 0;
}

/* CRC-32 as in ISO-HDLC, zlib and PNG.  It detects every error burst of up
 * to 32 bits, so every changed, swapped or mistyped base32 character (at
 * most 10 bits): it is there for typos only, authenticity comes from the
 * owner's keys. */
static guint32
checksum (const guint8 *data,
          gsize         length)
{
  guint32 crc = 0xffffffff;

  for (gsize i = 0; i < length; i++)
    {
      crc ^= data[i];
      for (guint k = 0; k < 8; k++)
        crc = (crc >> 1) ^ ((crc & 1) ? 0xedb88320 : 0);
    }

  return ~crc;
}

static gboolean
is_dns_name (const char *host)
{
  gsize length = strlen (host);
  gsize label_length = 0;
  gboolean label_all_digits = TRUE;

  if (length == 0 || length > MAX_DNS_NAME)
    return FALSE;

  for (gsize i = 0; i <= length; i++)
    {
      char c = host[i];

      if (c == '.' || c == '\0')
        {
          if (label_length == 0 || label_length > MAX_DNS_LABEL || host[i - 1] == '-')
            return FALSE;
          if (c == '\0')
            break;
          label_length = 0;
          label_all_digits = TRUE;
          continue;
        }

      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
        return FALSE;
      if (c == '-' && label_length == 0)
        return FALSE;
      if (!(c >= '0' && c <= '9'))
        label_all_digits = FALSE;
      label_length++;
    }

  /* "1.2.3.999" is neither an IPv4 address nor a name. */
  return !label_all_digits;
}

static gboolean
is_ipv6_literal (const char *host)
{
  gsize length = strlen (host);

  if (length < 2 || length > 45)
    return FALSE;
  /* Lower-case hexadecimal, colons and an embedded IPv4 address only: no
   * zone identifiers, they mean nothing to a remote relay. */
  for (gsize i = 0; i < length; i++)
    if (!((host[i] >= '0' && host[i] <= '9') || (host[i] >= 'a' && host[i] <= 'f') ||
          host[i] == ':' || host[i] == '.'))
      return FALSE;

  return strchr (host, ':') != NULL && g_hostname_is_ip_address (host);
}

static gboolean
parse_port (const char *text,
            guint16    *port)
{
  guint value = 0;
  gsize length = strlen (text);

  /* Decimal without sign or leading zero, so one port has one spelling. */
  if (length == 0 || length > 5 || text[0] == '0')
    return FALSE;
  for (gsize i = 0; i < length; i++)
    {
      if (text[i] < '0' || text[i] > '9')
        return FALSE;
      value = value * 10 + (guint) (text[i] - '0');
    }
  if (value > G_MAXUINT16)
    return FALSE;

  *port = (guint16) value;
  return TRUE;
}

/* "host:port" with host a lower-case DNS name, a dotted IPv4 address or a
 * bracketed IPv6 address, port 1–65535. */
static gboolean
parse_relay_address (const char  *address,
                     char       **host_out,
                     guint16     *port_out)
{
  g_autofree char *host = NULL;
  const char *colon;
  gsize length = strlen (address);
  gboolean valid;

  if (length == 0 || length > USI_INVITE_MAX_RELAY_ADDRESS)
    return FALSE;
  colon = strrchr (address, ':');
  if (colon == NULL || !parse_port (colon + 1, port_out))
    return FALSE;

  host = g_strndup (address, colon - address);
  if (host[0] == '[')
    {
      gsize host_length = strlen (host);

      if (host_length < 2 || host[host_length - 1] != ']')
        return FALSE;
      host[host_length - 1] = '\0';
      memmove (host, host + 1, host_length - 1);
      valid = is_ipv6_literal (host);
    }
  else if (strspn (host, "0123456789.") == strlen (host))
    valid = host[0] != '\0' && g_hostname_is_ip_address (host);
  else
    valid = is_dns_name (host);

  if (!valid)
    return FALSE;

  *host_out = g_steal_pointer (&host);
  return TRUE;
}

static gboolean
derive_id_and_psk (UsiInvite  *invite,
                   GError    **error)
{
  /* The secret is 32 uniformly random bytes, a valid PRK as it is.  The
   * room id as context ties both values to the one room. */
  return usi_mls_expand_with_label (USI_LABEL_PREFIX, invite->secret, INVITE_ID_LABEL,
                                    invite->room_id, sizeof invite->room_id,
                                    invite->id, sizeof invite->id, error) &&
         usi_mls_expand_with_label (USI_LABEL_PREFIX, invite->secret, INVITE_PSK_LABEL,
                                    invite->room_id, sizeof invite->room_id,
                                    invite->psk, sizeof invite->psk, error);
}

void
usi_invite_free (UsiInvite *invite)
{
  if (invite == NULL)
    return;

  g_free (invite->relay_address);
  g_free (invite->relay_host);
  usi_secret_wipe (invite, sizeof *invite);
  g_free (invite);
}

UsiInvite *
usi_invite_new (UsiRandom          *random,
                UsiInviteFlags      flags,
                const char         *relay_address,
                const guint8       *relay_pin,
                const guint8       *room_id,
                const UsiLeafNode  *owner_leaf,
                guint64             expires_ms,
                GError            **error)
{
  g_autoptr(UsiInvite) invite = NULL;
  g_autofree char *address = NULL;

  g_return_val_if_fail (random != NULL, NULL);
  g_return_val_if_fail ((flags & ~USI_INVITE_FLAGS_PASSWORD_REQUIRED) == 0, NULL);
  g_return_val_if_fail (relay_address != NULL, NULL);
  g_return_val_if_fail (relay_pin != NULL, NULL);
  g_return_val_if_fail (room_id != NULL, NULL);
  g_return_val_if_fail (owner_leaf != NULL, NULL);

  invite = g_new0 (UsiInvite, 1);
  address = g_ascii_strdown (relay_address, -1);
  if (!g_str_is_ascii (relay_address) ||
      !parse_relay_address (address, &invite->relay_host, &invite->relay_port))
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                           _("The relay address must be a host name or IP address followed by a colon and a port, like relay.example.org:7447."));
      return NULL;
    }
  if (!usi_leaf_node_verify (owner_leaf, error))
    return NULL;

  invite->version = USI_INVITE_VERSION;
  invite->flags = flags;
  invite->relay_address = g_steal_pointer (&address);
  memcpy (invite->relay_pin, relay_pin, sizeof invite->relay_pin);
  memcpy (invite->room_id, room_id, sizeof invite->room_id);
  invite->owner_leaf = *owner_leaf;
  invite->expires_ms = expires_ms;

  if (!usi_random_fill (random, invite->secret, sizeof invite->secret, error) ||
      !derive_id_and_psk (invite, error))
    return NULL;

  return g_steal_pointer (&invite);
}

static void
write_payload (UsiInvite  *invite,
               GByteArray *out)
{
  guint32 crc;

  usi_wire_write_u8 (out, invite->version);
  usi_wire_write_u8 (out, (guint8) invite->flags);
  usi_wire_write_string (out, invite->relay_address);
  usi_wire_write_fixed (out, invite->relay_pin, sizeof invite->relay_pin);
  usi_wire_write_fixed (out, invite->room_id, sizeof invite->room_id);
  usi_leaf_node_write (&invite->owner_leaf, out);
  usi_wire_write_fixed (out, invite->secret, sizeof invite->secret);
  usi_wire_write_u64 (out, invite->expires_ms);

  crc = checksum (out->data, out->len);
  usi_wire_write_u32 (out, crc);
}

char *
usi_invite_to_uri (UsiInvite *invite)
{
  g_autoptr(GByteArray) payload = g_byte_array_new ();
  g_autofree char *text = NULL;

  g_return_val_if_fail (invite != NULL, NULL);

  write_payload (invite, payload);
  text = base32_encode (payload->data, payload->len);
  usi_secret_wipe (payload->data, payload->len);

  return g_strconcat (USI_INVITE_URI_PREFIX, text, NULL);
}

static gboolean
set_corrupt (GError **error)
{
  g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_INVITE_CORRUPT,
                       _("The invite has a typo or was not copied completely. Copy it again from the message it came in."));
  return FALSE;
}

static gboolean
set_not_an_invite (GError **error)
{
  g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                       _("This is not a Usi invite. An invite starts with “usi://invite/”."));
  return FALSE;
}

/* The version 1 fields, after the version byte and before the checksum. */
static gboolean
read_fields (UsiInvite      *invite,
             UsiWireReader  *reader,
             GError        **error)
{
  guint8 flags;

  if (!usi_wire_read_u8 (reader, &flags, error) ||
      !usi_wire_read_string_dup (reader, USI_INVITE_MAX_RELAY_ADDRESS, &invite->relay_address, error) ||
      !usi_wire_read_fixed_into (reader, sizeof invite->relay_pin, invite->relay_pin, error) ||
      !usi_wire_read_fixed_into (reader, sizeof invite->room_id, invite->room_id, error) ||
      !usi_leaf_node_read (reader, &invite->owner_leaf, error) ||
      !usi_wire_read_fixed_into (reader, sizeof invite->secret, invite->secret, error) ||
      !usi_wire_read_u64 (reader, &invite->expires_ms, error) ||
      !usi_wire_reader_finish (reader, error))
    return FALSE;

  if ((flags & ~USI_INVITE_FLAGS_PASSWORD_REQUIRED) != 0)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                           _("The invite uses options this version of Usi does not know."));
      return FALSE;
    }
  invite->flags = flags;

  if (!parse_relay_address (invite->relay_address, &invite->relay_host, &invite->relay_port))
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                           _("The invite’s relay address is not valid."));
      return FALSE;
    }

  return TRUE;
}

UsiInvite *
usi_invite_parse (const char  *uri,
                  guint64      now_ms,
                  GError     **error)
{
  g_autoptr(UsiInvite) invite = NULL;
  guint8 payload[MAX_PAYLOAD_BYTES];
  gsize payload_length = 0;
  const char *start, *end, *text;
  gsize prefix_length = strlen (USI_INVITE_URI_PREFIX);
  UsiWireReader reader;
  guint32 expected_crc;
  gboolean fields_ok;

  g_return_val_if_fail (uri != NULL, NULL);

  /* What a paste adds around the text: leading and trailing white space. */
  start = uri;
  while (g_ascii_isspace (*start))
    start++;
  end = start + strlen (start);
  while (end > start && g_ascii_isspace (end[-1]))
    end--;

  if ((gsize) (end - start) < prefix_length ||
      g_ascii_strncasecmp (start, USI_INVITE_URI_PREFIX, prefix_length) != 0)
    {
      set_not_an_invite (error);
      return NULL;
    }

  text = start + prefix_length;
  if ((gsize) (end - text) > USI_INVITE_MAX_PAYLOAD_CHARS)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE,
                           _("The text is too long to be a Usi invite."));
      return NULL;
    }

  if (!base32_decode (text, end - text, payload, &payload_length) ||
      payload_length < MIN_PAYLOAD_BYTES)
    {
      usi_secret_wipe (payload, sizeof payload);
      set_corrupt (error);
      return NULL;
    }

  expected_crc = ((guint32) payload[payload_length - 4] << 24) |
                 ((guint32) payload[payload_length - 3] << 16) |
                 ((guint32) payload[payload_length - 2] << 8) |
                 (guint32) payload[payload_length - 1];
  payload_length -= CHECKSUM_LENGTH;
  if (checksum (payload, payload_length) != expected_crc)
    {
      usi_secret_wipe (payload, sizeof payload);
      set_corrupt (error);
      return NULL;
    }

  /* Only an intact invite can say truthfully that it is from a newer Usi. */
  if (payload[0] != USI_INVITE_VERSION)
    {
      usi_secret_wipe (payload, sizeof payload);
      g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSUPPORTED_VERSION,
                   _("This invite was made by a newer version of Usi (invite version %u). Update Usi to use it."),
                   (guint) payload[0]);
      return NULL;
    }

  invite = g_new0 (UsiInvite, 1);
  invite->version = payload[0];
  usi_wire_reader_init (&reader, payload + 1, payload_length - 1);
  fields_ok = read_fields (invite, &reader, error);
  usi_secret_wipe (payload, sizeof payload);
  if (!fields_ok)
    return NULL;

  if (!usi_leaf_node_verify (&invite->owner_leaf, error) ||
      !derive_id_and_psk (invite, error))
    return NULL;

  if (now_ms >= invite->expires_ms)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_INVITE_EXPIRED,
                           _("This invite has expired. Ask the room’s owner for a new one."));
      return NULL;
    }

  return g_steal_pointer (&invite);
}

guint8
usi_invite_get_version (UsiInvite *invite)
{
  g_return_val_if_fail (invite != NULL, 0);

  return invite->version;
}

UsiInviteFlags
usi_invite_get_flags (UsiInvite *invite)
{
  g_return_val_if_fail (invite != NULL, 0);

  return invite->flags;
}

gboolean
usi_invite_get_password_required (UsiInvite *invite)
{
  g_return_val_if_fail (invite != NULL, FALSE);

  return (invite->flags & USI_INVITE_FLAGS_PASSWORD_REQUIRED) != 0;
}

const char *
usi_invite_get_relay_address (UsiInvite *invite)
{
  g_return_val_if_fail (invite != NULL, NULL);

  return invite->relay_address;
}

const char *
usi_invite_get_relay_host (UsiInvite *invite)
{
  g_return_val_if_fail (invite != NULL, NULL);

  return invite->relay_host;
}

guint16
usi_invite_get_relay_port (UsiInvite *invite)
{
  g_return_val_if_fail (invite != NULL, 0);

  return invite->relay_port;
}

const guint8 *
usi_invite_get_relay_pin (UsiInvite *invite)
{
  g_return_val_if_fail (invite != NULL, NULL);

  return invite->relay_pin;
}

const guint8 *
usi_invite_get_room_id (UsiInvite *invite)
{
  g_return_val_if_fail (invite != NULL, NULL);

  return invite->room_id;
}

const guint8 *
usi_invite_get_owner_identity_key (UsiInvite *invite)
{
  g_return_val_if_fail (invite != NULL, NULL);

  return invite->owner_leaf.identity_key;
}

const UsiLeafNode *
usi_invite_get_owner_leaf (UsiInvite *invite)
{
  g_return_val_if_fail (invite != NULL, NULL);

  return &invite->owner_leaf;
}

guint64
usi_invite_get_expires_ms (UsiInvite *invite)
{
  g_return_val_if_fail (invite != NULL, 0);

  return invite->expires_ms;
}

const guint8 *
usi_invite_get_id (UsiInvite *invite)
{
  g_return_val_if_fail (invite != NULL, NULL);

  return invite->id;
}

const guint8 *
usi_invite_get_psk (UsiInvite *invite)
{
  g_return_val_if_fail (invite != NULL, NULL);

  return invite->psk;
}
