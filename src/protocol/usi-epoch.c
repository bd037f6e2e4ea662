/* SPDX-License-Identifier: GPL-3.0-or-later */

/* One epoch's keys and roster.  No I/O here. */

#define G_LOG_DOMAIN "usi-protocol"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "usi-epoch.h"
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
