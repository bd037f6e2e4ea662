/* SPDX-License-Identifier: GPL-3.0-or-later */

/* One epoch's keys and roster.  No I/O here. */

#define G_LOG_DOMAIN "usi-protocol"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "crypto/usi-secret.h"

#include "usi-display-name.h"
#include "usi-epoch.h"
#include "usi-group-info.h"
#include "usi-protocol-error.h"
#include "usi-protocol-labels.h"

struct _UsiEpoch
{
  gatomicrefcount     ref_count;
  UsiRoomMode         mode;
  guint8              room_id[USI_ROOM_ID_LENGTH];
  guint64             number;
  GBytes             *group_context;
  UsiMlsEpochSecrets  secrets;
  UsiMlsSecretTree   *secret_tree;
  GPtrArray          *roster;
  guint32             owner_index;
  guint32             own_index;
};

UsiRosterEntry *
usi_roster_entry_new (guint32            index,
                      const UsiLeafNode *leaf,
                      const char        *display_name)
{
  UsiRosterEntry *entry = g_new0 (UsiRosterEntry, 1);

  g_return_val_if_fail (leaf != NULL, NULL);
  g_return_val_if_fail (display_name != NULL, NULL);

  entry->index = index;
  entry->leaf = *leaf;
  entry->display_name = g_strdup (display_name);
  return entry;
}

UsiRosterEntry *
usi_roster_entry_copy (const UsiRosterEntry *entry)
{
  g_return_val_if_fail (entry != NULL, NULL);

  return usi_roster_entry_new (entry->index, &entry->leaf, entry->display_name);
}

void
usi_roster_entry_free (UsiRosterEntry *entry)
{
  if (entry == NULL)
    return;

  g_free (entry->display_name);
  g_free (entry);
}

UsiEpoch *
usi_epoch_new (UsiRoomMode               mode,
               const guint8             *room_id,
               guint64                   number,
               GBytes                   *group_context,
               const UsiMlsEpochSecrets *secrets,
               GPtrArray                *roster,
               guint32                   owner_index,
               guint32                   own_index,
               guint32                   max_forward_jump,
               GError                  **error)
{
  g_autoptr(UsiEpoch) epoch = NULL;
  guint32 n_leaves = 1;

  g_return_val_if_fail (room_id != NULL, NULL);
  g_return_val_if_fail (group_context != NULL, NULL);
  g_return_val_if_fail (secrets != NULL, NULL);
  g_return_val_if_fail (roster != NULL, NULL);

  for (guint i = 0; i < roster->len; i++)
    {
      const UsiRosterEntry *entry = g_ptr_array_index (roster, i);

      if (i > 0 && entry->index <= ((const UsiRosterEntry *) g_ptr_array_index (roster, i - 1))->index)
        {
          g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_ROSTER_INVALID,
                               _("The member list is not in order or repeats a member."));
          return NULL;
        }
      n_leaves = MAX (n_leaves, entry->index + 1);
    }

  epoch = g_new0 (UsiEpoch, 1);
  g_atomic_ref_count_init (&epoch->ref_count);
  epoch->mode = mode;
  memcpy (epoch->room_id, room_id, USI_ROOM_ID_LENGTH);
  epoch->number = number;
  epoch->group_context = g_bytes_ref (group_context);
  epoch->secrets = *secrets;
  epoch->owner_index = owner_index;
  epoch->own_index = own_index;
  epoch->roster = g_ptr_array_new_with_free_func ((GDestroyNotify) usi_roster_entry_free);
  for (guint i = 0; i < roster->len; i++)
    g_ptr_array_add (epoch->roster, usi_roster_entry_copy (g_ptr_array_index (roster, i)));

  epoch->secret_tree = usi_mls_secret_tree_new (USI_LABEL_PREFIX, epoch->secrets.encryption_secret,
                                                n_leaves, max_forward_jump, error);
  if (epoch->secret_tree == NULL)
    return NULL;

  return g_steal_pointer (&epoch);
}

UsiEpoch *
usi_epoch_ref (UsiEpoch *epoch)
{
  g_return_val_if_fail (epoch != NULL, NULL);

  g_atomic_ref_count_inc (&epoch->ref_count);
  return epoch;
}

void
usi_epoch_unref (UsiEpoch *epoch)
{
  if (epoch == NULL || !g_atomic_ref_count_dec (&epoch->ref_count))
    return;

  g_clear_pointer (&epoch->secret_tree, usi_mls_secret_tree_free);
  usi_mls_epoch_secrets_clear (&epoch->secrets);
  g_clear_pointer (&epoch->group_context, g_bytes_unref);
  g_clear_pointer (&epoch->roster, g_ptr_array_unref);
  g_free (epoch);
}

UsiRoomMode
usi_epoch_get_mode (UsiEpoch *epoch)
{
  return epoch->mode;
}

const guint8 *
usi_epoch_get_room_id (UsiEpoch *epoch)
{
  return epoch->room_id;
}

guint64
usi_epoch_get_number (UsiEpoch *epoch)
{
  return epoch->number;
}

GBytes *
usi_epoch_get_group_context (UsiEpoch *epoch)
{
  return epoch->group_context;
}

const UsiMlsEpochSecrets *
usi_epoch_get_secrets (UsiEpoch *epoch)
{
  return &epoch->secrets;
}

UsiMlsSecretTree *
usi_epoch_get_secret_tree (UsiEpoch *epoch)
{
  return epoch->secret_tree;
}

guint32
usi_epoch_get_owner_index (UsiEpoch *epoch)
{
  return epoch->owner_index;
}

guint32
usi_epoch_get_own_index (UsiEpoch *epoch)
{
  return epoch->own_index;
}

GPtrArray *
usi_epoch_get_roster (UsiEpoch *epoch)
{
  return epoch->roster;
}

const UsiRosterEntry *
usi_epoch_lookup_member (UsiEpoch *epoch,
                         guint32   index)
{
  guint low = 0, high = epoch->roster->len;

  while (low < high)
    {
      guint middle = low + (high - low) / 2;
      const UsiRosterEntry *entry = g_ptr_array_index (epoch->roster, middle);

      if (entry->index == index)
        return entry;
      if (entry->index < index)
        low = middle + 1;
      else
        high = middle;
    }

  return NULL;
}

gboolean
usi_epoch_export (UsiEpoch      *epoch,
                  const char    *label,
                  const guint8  *context,
                  gsize          context_length,
                  guint8        *out,
                  gsize          out_length,
                  GError       **error)
{
  g_return_val_if_fail (epoch != NULL, FALSE);

  return usi_mls_exporter (USI_LABEL_PREFIX, epoch->secrets.exporter_secret, label,
                           context, context_length, out, out_length, error);
}

/* Saved state (docs/protocol.md §12) ----------------------------------------- */

#define STATE_MAX_GROUP_CONTEXT_LENGTH 4096
#define STATE_ROSTER_ENTRY_MAX_LENGTH  (4 + USI_LEAF_NODE_ENCODED_LENGTH + 2 + USI_MAX_NAME_BYTES)
#define STATE_ROSTER_MAX_LENGTH        (USI_MAX_MEMBERS * STATE_ROSTER_ENTRY_MAX_LENGTH)

G_STATIC_ASSERT (sizeof (UsiMlsEpochSecrets) == 12 * USI_MLS_HASH_LENGTH);

GByteArray *
_usi_state_buffer_new (gsize capacity)
{
  g_assert (capacity <= G_MAXUINT);

  return g_byte_array_sized_new ((guint) capacity);
}

void
_usi_state_buffer_free (GByteArray *buffer)
{
  if (buffer == NULL)
    return;

  usi_secret_wipe (buffer->data, buffer->len);
  g_byte_array_unref (buffer);
}

GByteArray *
_usi_state_writer_new (UsiStateKind kind,
                       gsize        capacity)
{
  GByteArray *out = _usi_state_buffer_new (capacity);

  usi_wire_write_u8 (out, (guint8) kind);
  usi_wire_write_u8 (out, USI_STATE_VERSION);
  return out;
}

GBytes *
_usi_state_writer_finish (GByteArray *out,
                          gsize       capacity)
{
  gsize length = out->len;

  /* Within its capacity, the buffer was never moved: no copy was left. */
  g_assert (length <= capacity);
  return usi_secret_bytes_new_take (g_byte_array_free (out, FALSE), length);
}

gboolean
_usi_state_set_damaged (GError **error)
{
  g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                       _("The saved state of this room is damaged: restore it from a backup, or leave the room and join it again."));
  return FALSE;
}

gboolean
_usi_state_reader_open (UsiWireReader  *reader,
                        const guint8   *data,
                        gsize           length,
                        UsiStateKind    kind,
                        GError        **error)
{
  guint8 read_kind, version;

  usi_wire_reader_init (reader, data, length);
  if (!usi_wire_read_u8 (reader, &read_kind, error) ||
      !usi_wire_read_u8 (reader, &version, error))
    return FALSE;
  if (read_kind != kind)
    return _usi_state_set_damaged (error);
  if (version != USI_STATE_VERSION)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSUPPORTED_VERSION,
                           _("The saved state of this room was written by another version of Usi, which this one cannot read."));
      return FALSE;
    }

  return TRUE;
}

void
_usi_state_write_roster (GPtrArray  *roster,
                         GByteArray *out)
{
  g_autoptr(GByteArray) entries = g_byte_array_sized_new (roster->len * STATE_ROSTER_ENTRY_MAX_LENGTH);

  for (guint i = 0; i < roster->len; i++)
    {
      const UsiRosterEntry *entry = g_ptr_array_index (roster, i);

      usi_wire_write_u32 (entries, entry->index);
      usi_leaf_node_write (&entry->leaf, entries);
      usi_wire_write_string (entries, entry->display_name);
    }
  usi_wire_write_opaque (out, entries->data, entries->len);
}

GPtrArray *
_usi_state_read_roster (UsiWireReader  *reader,
                        guint32         index_limit,
                        GError        **error)
{
  g_autoptr(GPtrArray) roster = g_ptr_array_new_with_free_func ((GDestroyNotify) usi_roster_entry_free);
  UsiWireReader entries;

  if (!usi_wire_read_vector (reader, STATE_ROSTER_MAX_LENGTH, &entries, error))
    return NULL;

  while (!usi_wire_reader_at_end (&entries))
    {
      g_autoptr(UsiRosterEntry) entry = g_new0 (UsiRosterEntry, 1);
      g_autofree char *normalized = NULL;

      if (roster->len == USI_MAX_MEMBERS)
        {
          _usi_state_set_damaged (error);
          return NULL;
        }
      if (!usi_wire_read_u32 (&entries, &entry->index, error) ||
          !usi_leaf_node_read (&entries, &entry->leaf, error) ||
          !usi_wire_read_string_dup (&entries, USI_MAX_NAME_BYTES, &entry->display_name, error))
        return NULL;

      normalized = usi_display_name_normalize (entry->display_name, NULL);
      if (normalized == NULL || strcmp (normalized, entry->display_name) != 0 ||
          entry->index >= index_limit ||
          (roster->len > 0 &&
           entry->index <= ((const UsiRosterEntry *) g_ptr_array_index (roster, roster->len - 1))->index))
        {
          _usi_state_set_damaged (error);
          return NULL;
        }
      g_ptr_array_add (roster, g_steal_pointer (&entry));
    }

  if (!usi_roster_check_unique_keys (roster, error) ||
      !usi_roster_verify_leaves (roster, error))
    return NULL;

  return g_steal_pointer (&roster);
}

gboolean
_usi_state_rosters_equal (GPtrArray *a,
                          GPtrArray *b)
{
  if (a->len != b->len)
    return FALSE;

  for (guint i = 0; i < a->len; i++)
    {
      const UsiRosterEntry *x = g_ptr_array_index (a, i);
      const UsiRosterEntry *y = g_ptr_array_index (b, i);

      if (x->index != y->index || !usi_leaf_node_equal (&x->leaf, &y->leaf) ||
          strcmp (x->display_name, y->display_name) != 0)
        return FALSE;
    }

  return TRUE;
}

/* u8 kind = 2 ‖ u8 version = 1 ‖ u8 mode ‖ room_id[16] ‖ u64 number ‖
 * V<GroupContext> ‖ the twelve secrets of UsiMlsEpochSecrets, in its order
 * ‖ V<RosterEntry> ‖ u32 owner_index ‖ u32 own_index ‖ V<secret tree>. */
GBytes *
usi_epoch_save (UsiEpoch *epoch)
{
  g_autoptr(GBytes) tree = NULL;
  g_autoptr(GByteArray) roster = g_byte_array_new ();
  GByteArray *out;
  gsize capacity;

  g_return_val_if_fail (epoch != NULL, NULL);

  tree = usi_mls_secret_tree_save (epoch->secret_tree);
  _usi_state_write_roster (epoch->roster, roster);

  capacity = 2 + 1 + USI_ROOM_ID_LENGTH + 8 + 4 + g_bytes_get_size (epoch->group_context) +
             sizeof epoch->secrets + roster->len + 4 + 4 + 4 + g_bytes_get_size (tree);
  out = _usi_state_writer_new (USI_STATE_KIND_EPOCH, capacity);
  usi_wire_write_u8 (out, (guint8) epoch->mode);
  usi_wire_write_fixed (out, epoch->room_id, sizeof epoch->room_id);
  usi_wire_write_u64 (out, epoch->number);
  usi_wire_write_bytes (out, epoch->group_context);
  usi_wire_write_fixed (out, (const guint8 *) &epoch->secrets, sizeof epoch->secrets);
  usi_wire_write_fixed (out, roster->data, roster->len);
  usi_wire_write_u32 (out, epoch->owner_index);
  usi_wire_write_u32 (out, epoch->own_index);
  usi_wire_write_bytes (out, tree);
  return _usi_state_writer_finish (out, capacity);
}

static gboolean
index_is_listed (GPtrArray *roster,
                 guint32    index)
{
  return index == G_MAXUINT32 || usi_roster_lookup (roster, index) != NULL;
}

UsiEpoch *
usi_epoch_restore (const guint8  *data,
                   gsize          length,
                   GError       **error)
{
  g_autoptr(UsiEpoch) epoch = NULL;
  const UsiRosterEntry *last;
  UsiWireReader reader;
  GError *crypto_error = NULL;
  const guint8 *tree;
  gsize tree_length;
  guint8 mode;

  g_return_val_if_fail (data != NULL || length == 0, NULL);

  if (!_usi_state_reader_open (&reader, data, length, USI_STATE_KIND_EPOCH, error) ||
      !usi_wire_read_u8 (&reader, &mode, error))
    return NULL;
  if (mode != USI_ROOM_MODE_OWNED && mode != USI_ROOM_MODE_PRESHARED)
    {
      _usi_state_set_damaged (error);
      return NULL;
    }

  epoch = g_new0 (UsiEpoch, 1);
  g_atomic_ref_count_init (&epoch->ref_count);
  epoch->mode = mode;
  if (!usi_wire_read_fixed_into (&reader, sizeof epoch->room_id, epoch->room_id, error) ||
      !usi_wire_read_u64 (&reader, &epoch->number, error) ||
      !usi_wire_read_opaque_dup (&reader, STATE_MAX_GROUP_CONTEXT_LENGTH, &epoch->group_context, error) ||
      !usi_wire_read_fixed_into (&reader, sizeof epoch->secrets, (guint8 *) &epoch->secrets, error) ||
      (epoch->roster = _usi_state_read_roster (&reader, mode == USI_ROOM_MODE_OWNED
                                                        ? USI_MAX_MEMBERS : (1u << 31), error)) == NULL ||
      !usi_wire_read_u32 (&reader, &epoch->owner_index, error) ||
      !usi_wire_read_u32 (&reader, &epoch->own_index, error) ||
      !usi_wire_read_opaque (&reader, USI_STATE_MAX_NESTED_LENGTH, &tree, &tree_length, error) ||
      !usi_wire_reader_finish (&reader, error))
    return NULL;

  /* A pre-shared epoch lists this member alone and has no owner; an owned
   * one names members of its roster (or nobody, for an observer). */
  if (mode == USI_ROOM_MODE_PRESHARED
      ? epoch->roster->len != 1 || epoch->owner_index != G_MAXUINT32 ||
        epoch->own_index != ((const UsiRosterEntry *) g_ptr_array_index (epoch->roster, 0))->index
      : !index_is_listed (epoch->roster, epoch->owner_index) ||
        !index_is_listed (epoch->roster, epoch->own_index))
    {
      _usi_state_set_damaged (error);
      return NULL;
    }

  epoch->secret_tree = usi_mls_secret_tree_restore (USI_LABEL_PREFIX, tree, tree_length, &crypto_error);
  if (epoch->secret_tree == NULL)
    {
      _usi_protocol_propagate_crypto_error (error, crypto_error, USI_PROTOCOL_ERROR_MALFORMED);
      return NULL;
    }

  /* The tree is as wide as usi_epoch_new() makes it for this roster. */
  last = epoch->roster->len > 0 ? g_ptr_array_index (epoch->roster, epoch->roster->len - 1) : NULL;
  if (usi_mls_secret_tree_get_n_leaves (epoch->secret_tree) != (last != NULL ? last->index + 1 : 1))
    {
      _usi_state_set_damaged (error);
      return NULL;
    }

  return g_steal_pointer (&epoch);
}
