/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The public description of an epoch (roster, room settings, transcript
 * hashes) and the RFC 9420 key schedule step that turns it and a fresh secret
 * into the epoch's keys.  Shared by the owner, who builds epochs, and the
 * members, who follow them.  No I/O here; nothing here decides who may change
 * the roster (that is the commit's and the member's part). */

#define G_LOG_DOMAIN "usi-protocol"

#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <glib/gi18n-lib.h>

#include "crypto/usi-compare.h"
#include "crypto/usi-digest.h"
#include "crypto/usi-secret.h"

#include "usi-display-name.h"
#include "usi-group-info.h"
#include "usi-protocol-error.h"

/* A private-use MLS extension type (RFC 9420 §17.3: 0xF000–0xFFFF) carrying
 * the room config in the GroupContext. */
#define ROOM_CONFIG_EXTENSION_TYPE 0xF055

/* The room password enters the key schedule as one external PSK with this
 * psk_id; its psk_nonce is room_id ‖ u64 epoch, unique per epoch. */
#define PASSWORD_PSK_ID "usi room password"

#define ROSTER_ENTRY_MAX_LENGTH (4 + USI_LEAF_NODE_ENCODED_LENGTH + 2 + USI_MAX_NAME_BYTES)
#define ROSTER_MAX_LENGTH       (USI_MAX_MEMBERS * ROSTER_ENTRY_MAX_LENGTH)

static gboolean
set_error (GError     **error,
           int          code,
           const char  *message)
{
  g_set_error_literal (error, USI_PROTOCOL_ERROR, code, message);
  return FALSE;
}

void
usi_room_config_init_default (UsiRoomConfig *config)
{
  g_return_if_fail (config != NULL);

  config->rotate_after_messages = USI_ROOM_CONFIG_DEFAULT_ROTATE_AFTER;
  config->password_required = FALSE;
}

void
usi_room_config_write (const UsiRoomConfig *config,
                       GByteArray          *out)
{
  g_return_if_fail (config != NULL);
  g_return_if_fail (out != NULL);

  usi_wire_write_u32 (out, config->rotate_after_messages);
  usi_wire_write_bool (out, config->password_required);
}

gboolean
usi_room_config_read (UsiWireReader  *reader,
                      UsiRoomConfig  *config,
                      GError        **error)
{
  g_return_val_if_fail (reader != NULL, FALSE);
  g_return_val_if_fail (config != NULL, FALSE);

  if (!usi_wire_read_u32 (reader, &config->rotate_after_messages, error) ||
      !usi_wire_read_bool (reader, &config->password_required, error))
    return FALSE;

  if (config->rotate_after_messages == 0 ||
      config->rotate_after_messages > USI_ROOM_CONFIG_MAX_ROTATE_AFTER)
    return set_error (error, USI_PROTOCOL_ERROR_MALFORMED,
                      _("The room’s rotation interval is out of range."));

  return TRUE;
}

void
usi_roster_write (GPtrArray  *roster,
                  GByteArray *out)
{
  g_autoptr(GByteArray) entries = NULL;

  g_return_if_fail (roster != NULL);
  g_return_if_fail (out != NULL);

  entries = g_byte_array_sized_new (roster->len * (4 + USI_LEAF_NODE_ENCODED_LENGTH + 16));
  for (guint i = 0; i < roster->len; i++)
    {
      const UsiRosterEntry *entry = g_ptr_array_index (roster, i);

      usi_wire_write_u32 (entries, entry->index);
      usi_leaf_node_write (&entry->leaf, entries);
      usi_wire_write_string (entries, entry->display_name);
    }
  usi_wire_write_opaque (out, entries->data, entries->len);
}

static gboolean
check_display_name (const char  *name,
                    GError     **error)
{
  g_autofree char *normalized = usi_display_name_normalize (name, NULL);

  /* Every sender normalizes; a name that normalizing would change was not
   * written by a conforming sender, and could disguise itself. */
  if (normalized == NULL || strcmp (normalized, name) != 0)
    return set_error (error, USI_PROTOCOL_ERROR_MALFORMED,
                      _("A member’s display name is not valid."));

  return TRUE;
}

GPtrArray *
usi_roster_read (UsiWireReader  *reader,
                 GError        **error)
{
  g_autoptr(GPtrArray) roster = NULL;
  UsiWireReader entries;

  g_return_val_if_fail (reader != NULL, NULL);

  if (!usi_wire_read_vector (reader, ROSTER_MAX_LENGTH, &entries, error))
    return NULL;

  roster = g_ptr_array_new_with_free_func ((GDestroyNotify) usi_roster_entry_free);
  while (!usi_wire_reader_at_end (&entries))
    {
      g_autoptr(UsiRosterEntry) entry = g_new0 (UsiRosterEntry, 1);

      if (roster->len == USI_MAX_MEMBERS)
        {
          set_error (error, USI_PROTOCOL_ERROR_TOO_LARGE, _("The member list is longer than allowed."));
          return NULL;
        }
      if (!usi_wire_read_u32 (&entries, &entry->index, error) ||
          !usi_leaf_node_read (&entries, &entry->leaf, error) ||
          !usi_wire_read_string_dup (&entries, USI_MAX_NAME_BYTES, &entry->display_name, error) ||
          !check_display_name (entry->display_name, error))
        return NULL;

      if (entry->index >= USI_MAX_MEMBERS ||
          (roster->len > 0 &&
           entry->index <= ((const UsiRosterEntry *) g_ptr_array_index (roster, roster->len - 1))->index))
        {
          set_error (error, USI_PROTOCOL_ERROR_ROSTER_INVALID,
                     _("The member list is not in order, repeats a member or uses an index out of range."));
          return NULL;
        }
      g_ptr_array_add (roster, g_steal_pointer (&entry));
    }

  if (roster->len == 0)
    {
      set_error (error, USI_PROTOCOL_ERROR_ROSTER_INVALID, _("The member list is empty."));
      return NULL;
    }

  return g_steal_pointer (&roster);
}

static int
compare_keys (gconstpointer a,
              gconstpointer b)
{
  return memcmp (*(const guint8 * const *) a, *(const guint8 * const *) b, USI_KEY_LENGTH);
}

static gboolean
keys_are_unique (GPtrArray *roster,
                 gsize      offset)
{
  const guint8 *keys[USI_MAX_MEMBERS];
  guint n = MIN (roster->len, USI_MAX_MEMBERS);

  g_assert (roster->len <= USI_MAX_MEMBERS);

  /* Sorting makes this O(n log n): a 100-member commit is checked well
   * inside its 2 ms budget. */
  for (guint i = 0; i < n; i++)
    keys[i] = (const guint8 *) g_ptr_array_index (roster, i) + offset;
  qsort (keys, n, sizeof keys[0], compare_keys);
  for (guint i = 1; i < n; i++)
    if (memcmp (keys[i - 1], keys[i], USI_KEY_LENGTH) == 0)
      return FALSE;

  return TRUE;
}

gboolean
usi_roster_check_owner (GPtrArray     *roster,
                        const guint8  *owner_key,
                        GError       **error)
{
  const UsiRosterEntry *owner = usi_roster_lookup (roster, USI_OWNER_INDEX);

  if (owner == NULL || memcmp (owner->leaf.identity_key, owner_key, USI_KEY_LENGTH) != 0)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_ROSTER_INVALID,
                           _("The member list does not have the room’s owner in the owner’s place."));
      return FALSE;
    }

  return TRUE;
}

gboolean
usi_roster_check_unique_keys (GPtrArray  *roster,
                              GError    **error)
{
  g_return_val_if_fail (roster != NULL, FALSE);

  if (roster->len > USI_MAX_MEMBERS)
    return set_error (error, USI_PROTOCOL_ERROR_TOO_LARGE, _("The member list is longer than allowed."));

  if (!keys_are_unique (roster, G_STRUCT_OFFSET (UsiRosterEntry, leaf.identity_key)))
    return set_error (error, USI_PROTOCOL_ERROR_ROSTER_INVALID,
                      _("The member list names the same person twice."));
  if (!keys_are_unique (roster, G_STRUCT_OFFSET (UsiRosterEntry, leaf.leaf_key)))
    return set_error (error, USI_PROTOCOL_ERROR_ROSTER_INVALID,
                      _("Two members of the member list share a key."));

  return TRUE;
}

gboolean
usi_roster_verify_leaves (GPtrArray  *roster,
                          GError    **error)
{
  g_return_val_if_fail (roster != NULL, FALSE);

  for (guint i = 0; i < roster->len; i++)
    {
      const UsiRosterEntry *entry = g_ptr_array_index (roster, i);

      if (!usi_leaf_node_verify (&entry->leaf, error))
        return FALSE;
    }

  return TRUE;
}

const UsiRosterEntry *
usi_roster_lookup (GPtrArray *roster,
                   guint32    index)
{
  guint low = 0, high;

  g_return_val_if_fail (roster != NULL, NULL);

  high = roster->len;
  while (low < high)
    {
      guint middle = low + (high - low) / 2;
      const UsiRosterEntry *entry = g_ptr_array_index (roster, middle);

      if (entry->index == index)
        return entry;
      if (entry->index < index)
        low = middle + 1;
      else
        high = middle;
    }

  return NULL;
}

guint32
usi_roster_get_free_index (GPtrArray *roster)
{
  guint32 candidate = 0;

  g_return_val_if_fail (roster != NULL, 0);

  /* Sorted and unique: the first gap is the lowest free index. */
  for (guint i = 0; i < roster->len; i++)
    {
      const UsiRosterEntry *entry = g_ptr_array_index (roster, i);

      if (entry->index != candidate)
        break;
      candidate++;
    }

  return candidate;
}

GPtrArray *
usi_roster_copy (GPtrArray *roster)
{
  GPtrArray *copy;

  g_return_val_if_fail (roster != NULL, NULL);

  copy = g_ptr_array_new_full (roster->len + 1, (GDestroyNotify) usi_roster_entry_free);
  for (guint i = 0; i < roster->len; i++)
    g_ptr_array_add (copy, usi_roster_entry_copy (g_ptr_array_index (roster, i)));

  return copy;
}

UsiGroupInfo *
usi_group_info_new (void)
{
  UsiGroupInfo *info = g_new0 (UsiGroupInfo, 1);

  info->roster = g_ptr_array_new_with_free_func ((GDestroyNotify) usi_roster_entry_free);
  usi_room_config_init_default (&info->config);
  return info;
}

UsiGroupInfo *
usi_group_info_copy (const UsiGroupInfo *info)
{
  UsiGroupInfo *copy;

  g_return_val_if_fail (info != NULL, NULL);

  copy = g_new0 (UsiGroupInfo, 1);
  *copy = *info;
  copy->roster = usi_roster_copy (info->roster);
  return copy;
}

void
usi_group_info_free (UsiGroupInfo *info)
{
  if (info == NULL)
    return;

  g_clear_pointer (&info->roster, g_ptr_array_unref);
  g_free (info);
}

void
usi_group_info_write (const UsiGroupInfo *info,
                      GByteArray         *out)
{
  g_return_if_fail (info != NULL);
  g_return_if_fail (out != NULL);

  usi_wire_write_fixed (out, info->room_id, sizeof info->room_id);
  usi_wire_write_u64 (out, info->epoch);
  usi_roster_write (info->roster, out);
  usi_room_config_write (&info->config, out);
  usi_wire_write_fixed (out, info->confirmed_transcript_hash, sizeof info->confirmed_transcript_hash);
  usi_wire_write_fixed (out, info->confirmation_tag, sizeof info->confirmation_tag);
  usi_wire_write_fixed (out, info->commit_hash, sizeof info->commit_hash);
}

UsiGroupInfo *
usi_group_info_read (UsiWireReader  *reader,
                     GError        **error)
{
  g_autoptr(UsiGroupInfo) info = usi_group_info_new ();

  g_return_val_if_fail (reader != NULL, NULL);

  g_clear_pointer (&info->roster, g_ptr_array_unref);
  if (!usi_wire_read_fixed_into (reader, sizeof info->room_id, info->room_id, error) ||
      !usi_wire_read_u64 (reader, &info->epoch, error) ||
      (info->roster = usi_roster_read (reader, error)) == NULL ||
      !usi_room_config_read (reader, &info->config, error) ||
      !usi_wire_read_fixed_into (reader, sizeof info->confirmed_transcript_hash,
                                 info->confirmed_transcript_hash, error) ||
      !usi_wire_read_fixed_into (reader, sizeof info->confirmation_tag, info->confirmation_tag, error) ||
      !usi_wire_read_fixed_into (reader, sizeof info->commit_hash, info->commit_hash, error))
    return NULL;

  return g_steal_pointer (&info);
}

GBytes *
usi_group_info_build_group_context (const UsiGroupInfo  *info,
                                    GError             **error)
{
  g_autoptr(GByteArray) roster = g_byte_array_new ();
  g_autoptr(GByteArray) config = g_byte_array_new ();
  g_autoptr(GByteArray) extensions = g_byte_array_new ();
  GError *crypto_error = NULL;
  guint8 tree_hash[USI_HASH_LENGTH];
  GBytes *context;

  g_return_val_if_fail (info != NULL, NULL);

  usi_roster_write (info->roster, roster);
  if (!usi_hash (USI_HASH_SHA256, roster->data, roster->len, tree_hash, &crypto_error))
    {
      _usi_protocol_propagate_crypto_error (error, crypto_error, USI_PROTOCOL_ERROR_MALFORMED);
      return NULL;
    }

  /* extensions = [ Extension { u16 type, V<RoomConfig> } ] */
  usi_room_config_write (&info->config, config);
  usi_wire_write_u16 (extensions, ROOM_CONFIG_EXTENSION_TYPE);
  usi_wire_write_opaque (extensions, config->data, config->len);

  context = usi_mls_group_context_serialize (USI_CIPHER_SUITE, info->room_id, sizeof info->room_id,
                                             info->epoch, tree_hash, sizeof tree_hash,
                                             info->confirmed_transcript_hash,
                                             sizeof info->confirmed_transcript_hash,
                                             extensions->data, extensions->len, &crypto_error);
  if (context == NULL)
    _usi_protocol_propagate_crypto_error (error, crypto_error, USI_PROTOCOL_ERROR_MALFORMED);

  return context;
}

gboolean
usi_group_info_compute_interim_transcript_hash (const UsiGroupInfo  *info,
                                                guint8              *hash,
                                                GError             **error)
{
  g_autoptr(GByteArray) input = g_byte_array_new ();
  GError *crypto_error = NULL;

  g_return_val_if_fail (info != NULL, FALSE);
  g_return_val_if_fail (hash != NULL, FALSE);

  /* RFC 9420 §8.2: InterimTranscriptHashInput = struct { MAC confirmation_tag<V>; } */
  usi_wire_write_fixed (input, info->confirmed_transcript_hash, sizeof info->confirmed_transcript_hash);
  usi_wire_write_opaque (input, info->confirmation_tag, sizeof info->confirmation_tag);
  if (!usi_hash (USI_HASH_SHA256, input->data, input->len, hash, &crypto_error))
    {
      _usi_protocol_propagate_crypto_error (error, crypto_error, USI_PROTOCOL_ERROR_MALFORMED);
      return FALSE;
    }

  return TRUE;
}

static gboolean
compute_psk_secret (const UsiGroupInfo  *info,
                    const guint8        *password_psk,
                    guint8              *psk_secret,
                    GError             **error)
{
  g_autoptr(GByteArray) nonce = g_byte_array_new ();
  g_autoptr(GByteArray) id = g_byte_array_new ();
  GError *crypto_error = NULL;
  UsiMlsPsk psk;

  usi_wire_write_fixed (nonce, info->room_id, sizeof info->room_id);
  usi_wire_write_u64 (nonce, info->epoch);
  if (!usi_mls_psk_id_append_external (id, (const guint8 *) PASSWORD_PSK_ID, strlen (PASSWORD_PSK_ID),
                                       nonce->data, nonce->len, &crypto_error))
    goto failed;

  psk.id = id->data;
  psk.id_length = id->len;
  psk.psk = password_psk;
  psk.psk_length = USI_KEY_LENGTH;
  if (!usi_mls_psk_secret (USI_LABEL_PREFIX, &psk, 1, psk_secret, &crypto_error))
    goto failed;

  return TRUE;

failed:
  _usi_protocol_propagate_crypto_error (error, crypto_error, USI_PROTOCOL_ERROR_MALFORMED);
  return FALSE;
}

gboolean
usi_group_info_derive_secrets (const UsiGroupInfo  *info,
                               const guint8        *init_secret,
                               const guint8        *commit_secret,
                               const guint8        *joiner_secret,
                               const guint8        *password_psk,
                               GBytes             **group_context,
                               UsiMlsEpochSecrets  *secrets,
                               GError             **error)
{
  g_autoptr(GBytes) context = NULL;
  GError *crypto_error = NULL;
  guint8 psk_secret[USI_MLS_HASH_LENGTH] = { 0 };
  const guint8 *context_data;
  gsize context_length;
  gboolean derived;

  g_return_val_if_fail (info != NULL, FALSE);
  g_return_val_if_fail ((init_secret != NULL && commit_secret != NULL) != (joiner_secret != NULL), FALSE);
  g_return_val_if_fail (group_context != NULL, FALSE);
  g_return_val_if_fail (secrets != NULL, FALSE);

  if (info->config.password_required && password_psk == NULL)
    return set_error (error, USI_PROTOCOL_ERROR_PASSWORD_REQUIRED,
                      _("This room has a password, and it is needed to follow the room’s keys."));

  context = usi_group_info_build_group_context (info, error);
  if (context == NULL)
    return FALSE;

  if (info->config.password_required &&
      !compute_psk_secret (info, password_psk, psk_secret, error))
    return FALSE;

  context_data = g_bytes_get_data (context, &context_length);
  if (joiner_secret != NULL)
    derived = usi_mls_key_schedule_derive_from_joiner (USI_LABEL_PREFIX, joiner_secret, psk_secret,
                                                       context_data, context_length, secrets,
                                                       &crypto_error);
  else
    derived = usi_mls_key_schedule_derive (USI_LABEL_PREFIX, init_secret, commit_secret, psk_secret,
                                           context_data, context_length, secrets, &crypto_error);
  usi_secret_wipe (psk_secret, sizeof psk_secret);

  if (!derived)
    {
      _usi_protocol_propagate_crypto_error (error, crypto_error, USI_PROTOCOL_ERROR_MALFORMED);
      return FALSE;
    }

  *group_context = g_steal_pointer (&context);
  return TRUE;
}

gboolean
usi_group_info_compute_confirmation_tag (const UsiGroupInfo        *info,
                                         const UsiMlsEpochSecrets  *secrets,
                                         guint8                    *tag,
                                         GError                   **error)
{
  GError *crypto_error = NULL;

  g_return_val_if_fail (info != NULL, FALSE);
  g_return_val_if_fail (secrets != NULL, FALSE);
  g_return_val_if_fail (tag != NULL, FALSE);

  /* RFC 9420 §6.1: MAC = HMAC with the suite's hash. */
  if (!usi_hmac (USI_HASH_SHA256, secrets->confirmation_key, sizeof secrets->confirmation_key,
                 info->confirmed_transcript_hash, sizeof info->confirmed_transcript_hash,
                 tag, &crypto_error))
    {
      _usi_protocol_propagate_crypto_error (error, crypto_error, USI_PROTOCOL_ERROR_MALFORMED);
      return FALSE;
    }

  return TRUE;
}

gboolean
usi_group_info_check_confirmation_tag (const UsiGroupInfo        *info,
                                       const UsiMlsEpochSecrets  *secrets,
                                       GError                   **error)
{
  GError *crypto_error = NULL;

  g_return_val_if_fail (info != NULL, FALSE);
  g_return_val_if_fail (secrets != NULL, FALSE);

  /* Constant time: the tag is a MAC under a secret key. */
  if (!usi_hmac_verify (USI_HASH_SHA256, secrets->confirmation_key, sizeof secrets->confirmation_key,
                        info->confirmed_transcript_hash, sizeof info->confirmed_transcript_hash,
                        info->confirmation_tag, sizeof info->confirmation_tag, &crypto_error))
    {
      g_clear_error (&crypto_error);
      return set_error (error, USI_PROTOCOL_ERROR_BAD_CONFIRMATION,
                        _("The room’s new keys do not match the owner’s: this member would disagree with the others, so the change was refused."));
    }

  return TRUE;
}

UsiEpoch *
usi_group_info_new_epoch (const UsiGroupInfo        *info,
                          GBytes                    *group_context,
                          const UsiMlsEpochSecrets  *secrets,
                          guint32                    own_index,
                          GError                   **error)
{
  g_return_val_if_fail (info != NULL, NULL);
  g_return_val_if_fail (group_context != NULL, NULL);
  g_return_val_if_fail (secrets != NULL, NULL);

  return usi_epoch_new (USI_ROOM_MODE_OWNED, info->room_id, info->epoch, group_context, secrets,
                        info->roster, USI_OWNER_INDEX, own_index, USI_GROUP_MAX_FORWARD_JUMP, error);
}
