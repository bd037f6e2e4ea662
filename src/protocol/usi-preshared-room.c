/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Rooms whose only secret is a key people pass around (USI's --cle): one
 * fixed epoch derived from the key, members who announce themselves, and
 * per-sender ratchets and signatures as in owned rooms.  This mode can never
 * remove anyone nor recover from a leak, and must say so rather than pretend
 * (usi_preshared_room_get_limits()).  No I/O, no clock. */

#define G_LOG_DOMAIN "usi-protocol"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "crypto/usi-digest.h"
#include "crypto/usi-mls-key-schedule.h"
#include "crypto/usi-mls-labels.h"
#include "crypto/usi-mls-secret-tree.h"
#include "crypto/usi-secret.h"

#include "usi-display-name.h"
#include "usi-message-channel.h"
#include "usi-preshared-room.h"
#include "usi-preshared-room-private.h"
#include "usi-protocol-error.h"

/* HKDF-Extract salt for the key; the other derivations are ExpandWithLabel
 * under USI_LABEL_PREFIX. */
#define PRESHARED_KEY_SALT      USI_LABEL_PREFIX "preshared room key"
#define PRESHARED_INDEX_LABEL   USI_LABEL_PREFIX "preshared member index"
#define PRESHARED_ROOM_ID_LABEL "preshared room id"
#define PRESHARED_INIT_LABEL    "preshared init"

struct _UsiPresharedRoom
{
  GBytes            *key;       /* kept for usi_preshared_room_save() */
  UsiEpoch          *epoch;
  UsiMessageChannel *channel;
  GPtrArray         *members;   /* UsiRosterEntry, sorted by index */
  guint32            own_index;
};

/* Key text ----------------------------------------------------------------- */

static gboolean
is_key_length (gsize length)
{
  return length == 16 || length == 24 || length == 32;
}

static int
hex_value (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

static gboolean
is_all_hex (const char *text,
            gsize       length)
{
  for (gsize i = 0; i < length; i++)
    if (hex_value (text[i]) < 0)
      return FALSE;

  return length > 0;
}

/* @out has room for @length / 2 bytes. */
static void
decode_hex (const char *text,
            gsize       length,
            guint8     *out)
{
  for (gsize i = 0; i + 1 < length; i += 2)
    out[i / 2] = (guint8) (hex_value (text[i]) << 4 | hex_value (text[i + 1]));
}

static int
base64_value (char     c,
              gboolean url_safe)
{
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == (url_safe ? '-' : '+'))
    return 62;
  if (c == (url_safe ? '_' : '/'))
    return 63;
  return -1;
}

/* Strict base64: one alphabet (standard or URL-safe), padding either absent
 * or exactly right, unused trailing bits zero; GLib's decoder skips what it
 * does not know, which would accept a mangled key.  @out has room for
 * @length * 3 / 4 bytes. */
static gboolean
decode_base64 (const char *text,
               gsize       length,
               guint8     *out,
               gsize      *out_length)
{
  gboolean url_safe = strpbrk (text, "-_") != NULL;
  gsize padding = 0, data_length;
  guint32 bits = 0;
  guint n_bits = 0;

  if (url_safe && strpbrk (text, "+/") != NULL)
    return FALSE;

  while (padding < 2 && padding < length && text[length - 1 - padding] == '=')
    padding++;
  data_length = length - padding;
  if (data_length == 0 || data_length % 4 == 1 ||
      (padding > 0 && (length % 4 != 0 || padding != (4 - data_length % 4) % 4)))
    return FALSE;

  *out_length = 0;
  for (gsize i = 0; i < data_length; i++)
    {
      int value = base64_value (text[i], url_safe);

      if (value < 0)
        return FALSE;
      bits = bits << 6 | (guint32) value;
      n_bits += 6;
      if (n_bits >= 8)
        {
          n_bits -= 8;
          out[(*out_length)++] = (guint8) (bits >> n_bits);
          bits &= (1u << n_bits) - 1;
        }
    }

  return bits == 0;
}

static gboolean
is_uniform (const guint8 *bytes,
            gsize         length)
{
  for (gsize i = 1; i < length; i++)
    if (bytes[i] != bytes[0])
      return FALSE;

  return TRUE;
}

static gboolean
wrong_size (GError **error,
            gsize    n_bits)
{
  g_autofree char *bits = g_strdup_printf ("%" G_GSIZE_FORMAT, n_bits);

  /* Translators: %s is a number of bits */
  g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
               _("The key has %s bits; a room key has 128, 192 or 256 bits."), bits);
  return FALSE;
}

GBytes *
usi_preshared_key_parse (const char  *text,
                         GError     **error)
{
  g_autofree char *trimmed = NULL;
  g_autofree guint8 *decoded = NULL;
  gsize length, decoded_length = 0;
  gboolean hex, base64;
  GBytes *key;

  g_return_val_if_fail (text != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  trimmed = g_strstrip (g_strdup (text));
  length = strlen (trimmed);
  if (length == 0)
    {
      usi_secret_wipe (trimmed, length);
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                           _("Enter the room key."));
      return NULL;
    }
  decoded = g_malloc (length);

  /* Hexadecimal first: a 32-digit hex key is also valid base64 (of 24
   * bytes), and a hex key is what people type. */
  hex = is_all_hex (trimmed, length);
  if (hex && length % 2 == 0 && is_key_length (length / 2))
    {
      decode_hex (trimmed, length, decoded);
      decoded_length = length / 2;
      base64 = FALSE;
    }
  else
    {
      base64 = decode_base64 (trimmed, length, decoded, &decoded_length);
      if (!base64 || !is_key_length (decoded_length))
        {
          usi_secret_wipe (decoded, length);
          usi_secret_wipe (trimmed, length);
          if (hex && length % 2 != 0)
            {
              g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                                   _("The key has an odd number of hexadecimal digits: part of it is missing."));
              return NULL;
            }
          if (hex)
            {
              wrong_size (error, length * 4);
              return NULL;
            }
          if (base64)
            {
              wrong_size (error, decoded_length * 8);
              return NULL;
            }
          g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                               _("The key is neither hexadecimal nor base64. Copy it again, whole."));
          return NULL;
        }
    }
  usi_secret_wipe (trimmed, length);

  if (is_uniform (decoded, decoded_length))
    {
      usi_secret_wipe (decoded, length);
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                           _("This key is not random: all its bytes are the same. Generate a new key."));
      return NULL;
    }

  key = usi_secret_bytes_new (decoded, decoded_length);
  usi_secret_wipe (decoded, length);
  return key;
}

char *
usi_preshared_key_generate (UsiRandom  *random,
                            GError    **error)
{
  guint8 key[USI_PRESHARED_KEY_MAX_LENGTH];
  char *encoded;
  gsize length;

  g_return_val_if_fail (random != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!usi_random_fill (random, key, sizeof key, error))
    return NULL;

  encoded = g_base64_encode (key, sizeof key);
  usi_secret_wipe (key, sizeof key);

  length = strlen (encoded);
  while (length > 0 && encoded[length - 1] == '=')
    encoded[--length] = '\0';
  g_strdelimit (encoded, "+", '-');
  g_strdelimit (encoded, "/", '_');
  return encoded;
}

/* Derivations --------------------------------------------------------------- */

guint32
usi_preshared_member_index (const guint8 *room_id,
                            const guint8 *identity_key)
{
  g_autoptr(GByteArray) input = g_byte_array_new ();
  guint8 digest[USI_HASH_LENGTH];

  g_return_val_if_fail (room_id != NULL, G_MAXUINT32);
  g_return_val_if_fail (identity_key != NULL, G_MAXUINT32);

  g_byte_array_append (input, (const guint8 *) PRESHARED_INDEX_LABEL, strlen (PRESHARED_INDEX_LABEL));
  g_byte_array_append (input, room_id, USI_ROOM_ID_LENGTH);
  g_byte_array_append (input, identity_key, USI_KEY_LENGTH);

  /* SHA-256 fails only when OpenSSL itself does; no member has this index. */
  if (!usi_hash (USI_HASH_SHA256, input->data, input->len, digest, NULL))
    return G_MAXUINT32;

  return ((guint32) digest[0] << 24 | (guint32) digest[1] << 16 |
          (guint32) digest[2] << 8 | (guint32) digest[3]) & (USI_PRESHARED_INDEX_LIMIT - 1);
}

UsiMlsSecretTree *
_usi_preshared_sender_ratchets_new (const guint8  *encryption_secret,
                                    guint32        index,
                                    GError       **error)
{
  guint8 secret[USI_MLS_HASH_LENGTH];
  UsiMlsSecretTree *ratchets;
  guint32 node = USI_PRESHARED_INDEX_LIMIT - 1;   /* the root of 2^31 leaves */
  guint32 target = 2 * index;                     /* leaf index's node */
  guint level = 31;

  g_assert (index < USI_PRESHARED_INDEX_LIMIT);

  /* RFC 9420 §9 down the path from the root: left or right child secret =
   * ExpandWithLabel (parent, "tree", "left" | "right", Nh), the same steps
   * UsiMlsSecretTree takes, keeping only the current node. */
  memcpy (secret, encryption_secret, sizeof secret);
  while (node != target)
    {
      gboolean left = target < node;
      guint8 child[USI_MLS_HASH_LENGTH];

      if (!usi_mls_expand_with_label (USI_LABEL_PREFIX, secret, "tree",
                                      (const guint8 *) (left ? "left" : "right"), left ? 4 : 5,
                                      child, sizeof child, error))
        {
          usi_secret_wipe (secret, sizeof secret);
          return NULL;
        }
      memcpy (secret, child, sizeof secret);
      usi_secret_wipe (child, sizeof child);
      node = left ? node - (1u << (level - 1)) : node + (1u << (level - 1));
      level--;
    }

  ratchets = usi_mls_secret_tree_new (USI_LABEL_PREFIX, secret, 1, USI_PRESHARED_MAX_FORWARD_JUMP, error);
  usi_secret_wipe (secret, sizeof secret);
  return ratchets;
}

/* HKDF-Extract (salt = "usi 1.0 preshared room key", ikm = key). */
static gboolean
derive_base_secret (GBytes  *key,
                    guint8  *base_secret,
                    GError **error)
{
  gsize length = g_bytes_get_size (key);

  if (!is_key_length (length))
    return wrong_size (error, length * 8);

  return usi_hkdf_extract (USI_HASH_SHA256, (const guint8 *) PRESHARED_KEY_SALT, strlen (PRESHARED_KEY_SALT),
                           g_bytes_get_data (key, NULL), length, base_secret, error);
}

gboolean
usi_preshared_key_derive_room_id (GBytes  *key,
                                  guint8  *room_id,
                                  GError **error)
{
  guint8 base_secret[USI_MLS_HASH_LENGTH];
  gboolean ok;

  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);

  ok = derive_base_secret (key, base_secret, error) &&
       usi_mls_expand_with_label (USI_LABEL_PREFIX, base_secret, PRESHARED_ROOM_ID_LABEL, NULL, 0,
                                  room_id, USI_ROOM_ID_LENGTH, error);
  usi_secret_wipe (base_secret, sizeof base_secret);
  return ok;
}

/* The GroupContext and secrets of the room's epoch 0 (§9.2). */
static GBytes *
derive_epoch (GBytes              *key,
              guint8              *room_id,
              UsiMlsEpochSecrets  *secrets,
              GError             **error)
{
  g_autoptr(GBytes) group_context = NULL;
  guint8 base_secret[USI_MLS_HASH_LENGTH];
  guint8 init_secret[USI_MLS_HASH_LENGTH];
  gboolean ok;

  ok = derive_base_secret (key, base_secret, error) &&
       usi_mls_expand_with_label (USI_LABEL_PREFIX, base_secret, PRESHARED_ROOM_ID_LABEL, NULL, 0,
                                  room_id, USI_ROOM_ID_LENGTH, error) &&
       usi_mls_expand_with_label (USI_LABEL_PREFIX, base_secret, PRESHARED_INIT_LABEL, NULL, 0,
                                  init_secret, sizeof init_secret, error);
  usi_secret_wipe (base_secret, sizeof base_secret);

  /* No roster and no commit to hash: tree_hash, confirmed_transcript_hash
   * and extensions are empty, and commit_secret and psk_secret are zero,
   * so everything comes from the key through init_secret. */
  if (ok)
    group_context = usi_mls_group_context_serialize (USI_CIPHER_SUITE, room_id, USI_ROOM_ID_LENGTH, 0,
                                                     NULL, 0, NULL, 0, NULL, 0, error);
  ok = group_context != NULL &&
       usi_mls_key_schedule_derive (USI_LABEL_PREFIX, init_secret, NULL, NULL,
                                    g_bytes_get_data (group_context, NULL), g_bytes_get_size (group_context),
                                    secrets, error);
  usi_secret_wipe (init_secret, sizeof init_secret);

  return ok ? g_steal_pointer (&group_context) : NULL;
}

/* The room ----------------------------------------------------------------- */

UsiPresharedRoom *
usi_preshared_room_new (GBytes             *key,
                        const UsiLeafNode  *own_leaf,
                        const char         *display_name,
                        GError            **error)
{
  g_autoptr(UsiPresharedRoom) room = NULL;
  g_autoptr(GBytes) group_context = NULL;
  g_autoptr(GPtrArray) roster = NULL;
  g_autofree char *normalized = NULL;
  g_auto(UsiMlsEpochSecrets) secrets = { { 0 } };
  guint8 room_id[USI_ROOM_ID_LENGTH];

  g_return_val_if_fail (key != NULL, NULL);
  g_return_val_if_fail (own_leaf != NULL, NULL);
  g_return_val_if_fail (display_name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  normalized = usi_display_name_normalize (display_name, NULL);
  if (normalized == NULL || strcmp (normalized, display_name) != 0)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                           _("Your display name is not valid."));
      return NULL;
    }
  if (!usi_leaf_node_verify (own_leaf, error))
    return NULL;

  group_context = derive_epoch (key, room_id, &secrets, error);
  if (group_context == NULL)
    return NULL;

  room = g_new0 (UsiPresharedRoom, 1);
  room->key = usi_secret_bytes_new (g_bytes_get_data (key, NULL), g_bytes_get_size (key));
  room->own_index = usi_preshared_member_index (room_id, own_leaf->identity_key);
  room->members = g_ptr_array_new_with_free_func ((GDestroyNotify) usi_roster_entry_free);
  g_ptr_array_add (room->members, usi_roster_entry_new (room->own_index, own_leaf, display_name));

  roster = g_ptr_array_new_with_free_func ((GDestroyNotify) usi_roster_entry_free);
  g_ptr_array_add (roster, usi_roster_entry_new (room->own_index, own_leaf, display_name));
  room->epoch = usi_epoch_new (USI_ROOM_MODE_PRESHARED, room_id, 0, group_context, &secrets, roster,
                               G_MAXUINT32, room->own_index, USI_PRESHARED_MAX_FORWARD_JUMP, error);
  if (room->epoch == NULL)
    return NULL;

  /* The epoch's own secret tree is only as wide as its one-entry roster:
   * the channel keeps the senders' ratchets (§9.3). */
  room->channel = usi_message_channel_new (room->epoch, error);
  if (room->channel == NULL)
    return NULL;

  return g_steal_pointer (&room);
}

void
usi_preshared_room_free (UsiPresharedRoom *room)
{
  if (room == NULL)
    return;

  g_clear_pointer (&room->channel, usi_message_channel_free);
  g_clear_pointer (&room->epoch, usi_epoch_unref);
  g_clear_pointer (&room->members, g_ptr_array_unref);
  g_clear_pointer (&room->key, g_bytes_unref);
  g_free (room);
}

UsiEpoch *
usi_preshared_room_get_epoch (UsiPresharedRoom *room)
{
  g_return_val_if_fail (room != NULL, NULL);

  return room->epoch;
}

const guint8 *
usi_preshared_room_get_room_id (UsiPresharedRoom *room)
{
  g_return_val_if_fail (room != NULL, NULL);

  return usi_epoch_get_room_id (room->epoch);
}

guint32
usi_preshared_room_get_own_index (UsiPresharedRoom *room)
{
  g_return_val_if_fail (room != NULL, 0);

  return room->own_index;
}

GPtrArray *
usi_preshared_room_get_members (UsiPresharedRoom *room)
{
  g_return_val_if_fail (room != NULL, NULL);

  return room->members;
}

UsiMessageChannel *
usi_preshared_room_get_channel (UsiPresharedRoom *room)
{
  g_return_val_if_fail (room != NULL, NULL);

  return room->channel;
}

GBytes *
usi_preshared_room_seal (UsiPresharedRoom  *room,
                         UsiIdentity       *sender,
                         UsiContentType     content_type,
                         const guint8      *body,
                         gsize              body_length,
                         guint64            sent_ms,
                         UsiRandom         *random,
                         GError           **error)
{
  g_return_val_if_fail (room != NULL, NULL);

  return usi_message_channel_seal (room->channel, sender, content_type, body, body_length,
                                   sent_ms, random, error);
}

/* Where @index is or would go in the sorted member list. */
static guint
find_member (GPtrArray *members,
             guint32    index,
             gboolean  *found)
{
  guint low = 0, high = members->len;

  while (low < high)
    {
      guint middle = low + (high - low) / 2;
      const UsiRosterEntry *entry = g_ptr_array_index (members, middle);

      if (entry->index == index)
        {
          *found = TRUE;
          return middle;
        }
      if (entry->index < index)
        low = middle + 1;
      else
        high = middle;
    }

  *found = FALSE;
  return low;
}

UsiReceivedMessage *
usi_preshared_room_open (UsiPresharedRoom  *room,
                         const guint8      *data,
                         gsize              length,
                         guint64            now_ms,
                         GError           **error)
{
  g_autoptr(UsiReceivedMessage) message = NULL;
  UsiRosterEntry *entry;
  gboolean found;
  guint position;

  g_return_val_if_fail (room != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  message = usi_message_channel_open (room->channel, data, length, now_ms, error);
  if (message == NULL)
    return NULL;

  position = find_member (room->members, message->sender_index, &found);
  if (!found)
    {
      g_ptr_array_insert (room->members, (gint) position,
                          usi_roster_entry_new (message->sender_index, &message->sender_leaf,
                                                message->sender_display_name));
      return g_steal_pointer (&message);
    }

  entry = g_ptr_array_index (room->members, position);
  if (memcmp (entry->leaf.identity_key, message->sender_identity_key, USI_KEY_LENGTH) != 0)
    {
      /* Two identities whose indices collide: 2^-31 per pair by chance, or
       * someone who ground keys to shadow a member.  The first one seen
       * keeps the index; nothing from the second is shown. */
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_ROSTER_INVALID,
                           _("Two members of this room have the same member number; messages from the second one cannot be shown. One of them needs a new identity."));
      return NULL;
    }

  /* A member announces itself in every message: keep its latest name and
   * leaf node. */
  if (message->sender_leaf.sequence >= entry->leaf.sequence)
    entry->leaf = message->sender_leaf;
  if (strcmp (entry->display_name, message->sender_display_name) != 0)
    {
      g_free (entry->display_name);
      entry->display_name = g_strdup (message->sender_display_name);
    }

  return g_steal_pointer (&message);
}

gboolean
usi_preshared_room_remove_member (UsiPresharedRoom  *room,
                                  guint32            index,
                                  GError           **error)
{
  g_return_val_if_fail (room != NULL, FALSE);

  g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_ALLOWED,
                       _("Nobody can be removed from a room with a pre-shared key. Create a new room with a new key, or a room with an owner."));
  return FALSE;
}

gboolean
usi_preshared_room_rotate (UsiPresharedRoom  *room,
                           GError           **error)
{
  g_return_val_if_fail (room != NULL, FALSE);

  g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_ALLOWED,
                       _("The keys of a room with a pre-shared key never change. Create a new room with a new key to start afresh."));
  return FALSE;
}

const char *
usi_preshared_room_get_limits (void)
{
  return _("Anyone who has this key can read every message of the room, including the ones sent before they got it, "
           "for as long as the relay keeps them. Nobody can be removed from the room, and its keys never change: "
           "if the key leaks, the room cannot recover. Each message still shows who sent it. "
           "Use a room with an owner and invitations when you can.");
}

/* Saved state (docs/protocol.md §12) ------------------------------------------
 *
 *   u8 kind = 4 ‖ u8 version = 1 ‖ V<key> ‖ LeafNode own_leaf ‖
 *   V<UTF-8> display_name ‖ V<RosterEntry> members ‖ V<channel state>
 *
 * The epoch is not saved: the key derives it again. */

#define STATE_MEMBER_MAX_LENGTH (4 + USI_LEAF_NODE_ENCODED_LENGTH + 2 + USI_MAX_NAME_BYTES)

GBytes *
usi_preshared_room_save (UsiPresharedRoom *room)
{
  g_autoptr(GBytes) channel = NULL;
  g_autoptr(GByteArray) members = g_byte_array_sized_new (room != NULL ? room->members->len * STATE_MEMBER_MAX_LENGTH + 4 : 0);
  const UsiRosterEntry *own;
  GByteArray *out;
  gsize capacity;

  g_return_val_if_fail (room != NULL, NULL);

  own = g_ptr_array_index (usi_epoch_get_roster (room->epoch), 0);
  channel = usi_message_channel_save (room->channel);
  _usi_state_write_roster (room->members, members);

  capacity = 2 + 1 + g_bytes_get_size (room->key) + USI_LEAF_NODE_ENCODED_LENGTH +
             2 + strlen (own->display_name) + members->len + 4 + g_bytes_get_size (channel);
  out = _usi_state_writer_new (USI_STATE_KIND_PRESHARED_ROOM, capacity);
  usi_wire_write_bytes (out, room->key);
  usi_leaf_node_write (&own->leaf, out);
  usi_wire_write_string (out, own->display_name);
  usi_wire_write_fixed (out, members->data, members->len);
  usi_wire_write_bytes (out, channel);
  return _usi_state_writer_finish (out, capacity);
}

UsiPresharedRoom *
usi_preshared_room_restore (const guint8  *data,
                            gsize          length,
                            GError       **error)
{
  g_autoptr(UsiPresharedRoom) room = NULL;
  g_autoptr(GBytes) key = NULL;
  g_autoptr(GPtrArray) members = NULL;
  g_autofree char *display_name = NULL;
  const UsiRosterEntry *own;
  const guint8 *key_data, *channel;
  gsize key_length, channel_length;
  UsiWireReader reader;
  UsiLeafNode own_leaf;
  gboolean found;
  guint position;

  g_return_val_if_fail (data != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!_usi_state_reader_open (&reader, data, length, USI_STATE_KIND_PRESHARED_ROOM, error) ||
      !usi_wire_read_opaque (&reader, USI_PRESHARED_KEY_MAX_LENGTH, &key_data, &key_length, error) ||
      !usi_leaf_node_read (&reader, &own_leaf, error) ||
      !usi_wire_read_string_dup (&reader, USI_MAX_NAME_BYTES, &display_name, error) ||
      (members = _usi_state_read_roster (&reader, USI_PRESHARED_INDEX_LIMIT, error)) == NULL ||
      !usi_wire_read_opaque (&reader, USI_STATE_MAX_NESTED_LENGTH, &channel, &channel_length, error) ||
      !usi_wire_reader_finish (&reader, error))
    return NULL;

  /* The room as usi_preshared_room_new() makes it from the key (checking
   * the key's size, the leaf's signature and the name) ... */
  key = usi_secret_bytes_new (key_data, key_length);
  room = usi_preshared_room_new (key, &own_leaf, display_name, error);
  if (room == NULL)
    return NULL;

  /* ... then what it learnt: every member at the index its identity gives
   * in this room (the first seen keeps a contested one), this member as it
   * announces itself, ... */
  for (guint i = 0; i < members->len; i++)
    {
      const UsiRosterEntry *entry = g_ptr_array_index (members, i);

      if (entry->index != usi_preshared_member_index (usi_epoch_get_room_id (room->epoch),
                                                       entry->leaf.identity_key))
        {
          _usi_state_set_damaged (error);
          return NULL;
        }
    }
  position = find_member (members, room->own_index, &found);
  own = found ? g_ptr_array_index (members, position) : NULL;
  if (own == NULL || !usi_leaf_node_equal (&own->leaf, &own_leaf) || strcmp (own->display_name, display_name) != 0)
    {
      _usi_state_set_damaged (error);
      return NULL;
    }
  g_ptr_array_unref (room->members);
  room->members = g_steal_pointer (&members);

  /* ... and the senders' ratchets. */
  usi_message_channel_free (room->channel);
  room->channel = usi_message_channel_restore (channel, channel_length, room->epoch, NULL, error);
  if (room->channel == NULL)
    return NULL;

  return g_steal_pointer (&room);
}
