/* SPDX-License-Identifier: GPL-3.0-or-later */

/* How a relay follows an owned room's commits (docs/protocol.md §11.4,
 * §7.3–§7.4) without any key of the room: it checks every public part of
 * each commit as a member does (chain, epoch, the owner's signature over the
 * GroupContext it rebuilds from the commits, roster changes, leaf nodes,
 * who gets a delivery) and learns the roster, nothing more.  It never opens
 * a delivery and never checks a confirmation tag: it cannot, and need not.
 * A refused commit leaves the chain exactly as it was.  No I/O here. */

#define G_LOG_DOMAIN "usi-protocol"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "usi-commit-chain.h"
#include "usi-protocol-error.h"

/* The saved state: magic ‖ u8 version ‖ owner_key[32] ‖
 * interim_transcript_hash[32] ‖ GroupInfo.  The interim hash follows from
 * the GroupInfo; keeping it lets a restore notice a damaged record. */
#define STATE_MAGIC         "UsiChain"
#define STATE_MAGIC_LENGTH  (sizeof STATE_MAGIC - 1)
#define STATE_VERSION       1

struct _UsiCommitChain
{
  UsiGroupInfo *info;                           /* the current epoch, public part */
  guint8        owner_key[USI_KEY_LENGTH];
  GBytes       *group_context;                  /* GroupContext of the current epoch */
  guint8        interim[USI_HASH_LENGTH];       /* interim_transcript_hash of the current epoch */
};

static gboolean
set_error (GError     **error,
           int          code,
           const char  *message)
{
  g_set_error_literal (error, USI_PROTOCOL_ERROR, code, message);
  return FALSE;
}

static gboolean
leaf_nodes_equal (const UsiLeafNode *a,
                  const UsiLeafNode *b)
{
  return memcmp (a->identity_key, b->identity_key, sizeof a->identity_key) == 0 &&
         memcmp (a->leaf_key, b->leaf_key, sizeof a->leaf_key) == 0 &&
         a->sequence == b->sequence &&
         a->created_ms == b->created_ms &&
         memcmp (a->signature, b->signature, sizeof a->signature) == 0;
}

void
usi_commit_chain_free (UsiCommitChain *chain)
{
  if (chain == NULL)
    return;

  g_clear_pointer (&chain->info, usi_group_info_free);
  g_clear_pointer (&chain->group_context, g_bytes_unref);
  g_free (chain);
}

/* A chain at @info (taken), with its GroupContext and interim hash computed. */
static UsiCommitChain *
chain_new (UsiGroupInfo  *info,
           const guint8  *owner_key,
           GError       **error)
{
  g_autoptr(UsiCommitChain) chain = g_new0 (UsiCommitChain, 1);

  chain->info = info;
  memcpy (chain->owner_key, owner_key, USI_KEY_LENGTH);
  chain->group_context = usi_group_info_build_group_context (info, error);
  if (chain->group_context == NULL ||
      !usi_group_info_compute_interim_transcript_hash (info, chain->interim, error))
    return NULL;

  return g_steal_pointer (&chain);
}

static gboolean
check_owner_entry (GPtrArray     *roster,
                   const guint8  *owner_key,
                   GError       **error)
{
  const UsiRosterEntry *owner = usi_roster_lookup (roster, USI_OWNER_INDEX);

  if (owner == NULL || memcmp (owner->leaf.identity_key, owner_key, USI_KEY_LENGTH) != 0)
    return set_error (error, USI_PROTOCOL_ERROR_ROSTER_INVALID,
                      _("The member list does not have the room’s owner in the owner’s place."));

  return TRUE;
}

UsiCommitChain *
usi_commit_chain_new_from_create (const guint8  *commit_body,
                                  gsize          length,
                                  GError       **error)
{
  static const guint8 zero_hash[USI_HASH_LENGTH];
  g_autoptr(UsiCommit) commit = NULL;
  g_autoptr(GBytes) empty_context = NULL;
  UsiGroupInfo *info;
  const UsiRosterEntry *owner;
  guint8 confirmed[USI_HASH_LENGTH];

  g_return_val_if_fail (commit_body != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  commit = usi_commit_decode (commit_body, length, error);
  if (commit == NULL)
    return NULL;

  /* usi_commit_decode() ties reason create to epoch 0 both ways. */
  if (commit->epoch != 0)
    {
      set_error (error, USI_PROTOCOL_ERROR_WRONG_EPOCH, _("A room must start with the commit of its epoch 0."));
      return NULL;
    }
  if (commit->committer_index != USI_OWNER_INDEX)
    {
      set_error (error, USI_PROTOCOL_ERROR_NOT_OWNER, _("A room must be created by its owner."));
      return NULL;
    }
  if (memcmp (commit->prev_commit_hash, zero_hash, USI_HASH_LENGTH) != 0)
    {
      set_error (error, USI_PROTOCOL_ERROR_CHAIN_BROKEN, _("The first commit of a room claims a commit before it."));
      return NULL;
    }
  if (commit->roster->len != 1 ||
      (owner = usi_roster_lookup (commit->roster, USI_OWNER_INDEX)) == NULL)
    {
      set_error (error, USI_PROTOCOL_ERROR_ROSTER_INVALID, _("A new room must hold its owner alone."));
      return NULL;
    }
  if (commit->deliveries->len != 0)
    {
      set_error (error, USI_PROTOCOL_ERROR_ROSTER_INVALID, _("A new room has no one to deliver a key to."));
      return NULL;
    }

  empty_context = g_bytes_new (NULL, 0);
  if (!usi_leaf_node_verify (&owner->leaf, error) ||
      !usi_commit_verify (commit, owner->leaf.identity_key, empty_context, error))
    return NULL;

  /* The interim transcript hash before epoch 0 is the empty string. */
  if (!usi_commit_compute_confirmed_transcript_hash (commit, NULL, confirmed, error) ||
      (info = usi_commit_build_group_info (commit, confirmed, error)) == NULL)
    return NULL;

  return chain_new (info, owner->leaf.identity_key, error);
}

/* The roster of the next epoch against the current one, as a member checks
 * it (§7.8 steps 10–13 and 16): who stays keeps identity and name, a
 * changed leaf has a higher sequence, the change is what the reason says,
 * new or changed leaf nodes verify, and exactly the members present in
 * both epochs but the owner get a delivery. */
static gboolean
check_roster_change (UsiCommitChain   *chain,
                     const UsiCommit  *commit,
                     GError          **error)
{
  g_autoptr(GPtrArray) to_verify = g_ptr_array_new ();
  GPtrArray *old_roster = chain->info->roster;
  GPtrArray *new_roster = commit->roster;
  guint n_added = 0, n_removed = 0, n_changed = 0;
  guint next_delivery = 0;
  guint i = 0, j = 0;
  gboolean allowed;

  if (!usi_roster_check_unique_keys (new_roster, error) ||
      !check_owner_entry (new_roster, chain->owner_key, error))
    return FALSE;

  while (i < old_roster->len || j < new_roster->len)
    {
      const UsiRosterEntry *old_entry = i < old_roster->len ? g_ptr_array_index (old_roster, i) : NULL;
      const UsiRosterEntry *new_entry = j < new_roster->len ? g_ptr_array_index (new_roster, j) : NULL;

      if (new_entry == NULL || (old_entry != NULL && old_entry->index < new_entry->index))
        {
          n_removed++;
          i++;
          continue;
        }
      if (old_entry == NULL || new_entry->index < old_entry->index)
        {
          n_added++;
          g_ptr_array_add (to_verify, (gpointer) &new_entry->leaf);
          j++;
          continue;
        }

      if (memcmp (old_entry->leaf.identity_key, new_entry->leaf.identity_key, USI_KEY_LENGTH) != 0 ||
          strcmp (old_entry->display_name, new_entry->display_name) != 0)
        return set_error (error, USI_PROTOCOL_ERROR_ROSTER_INVALID,
                          _("The commit replaces a member without removing it first."));
      if (!leaf_nodes_equal (&old_entry->leaf, &new_entry->leaf))
        {
          if (new_entry->leaf.sequence <= old_entry->leaf.sequence)
            return set_error (error, USI_PROTOCOL_ERROR_ROSTER_INVALID,
                              _("The commit gives a member an older key than it has."));
          n_changed++;
          g_ptr_array_add (to_verify, (gpointer) &new_entry->leaf);
        }

      /* Present in both epochs: one delivery, unless it is the owner. */
      if (new_entry->index != USI_OWNER_INDEX)
        {
          if (next_delivery >= commit->deliveries->len ||
              g_array_index (commit->deliveries, UsiCommitDelivery, next_delivery).index != new_entry->index)
            return set_error (error, USI_PROTOCOL_ERROR_ROSTER_INVALID,
                              _("The commit does not deliver the new key to exactly the members who stay."));
          next_delivery++;
        }
      i++;
      j++;
    }

  if (next_delivery != commit->deliveries->len)
    return set_error (error, USI_PROTOCOL_ERROR_ROSTER_INVALID,
                      _("The commit does not deliver the new key to exactly the members who stay."));

  switch (commit->reason)
    {
    case USI_COMMIT_REASON_ADD:
      allowed = n_added > 0 && n_removed == 0 && n_changed == 0;
      break;
    case USI_COMMIT_REASON_REMOVE:
      allowed = n_removed > 0 && n_added == 0 && n_changed == 0;
      break;
    case USI_COMMIT_REASON_UPDATE:
      allowed = n_changed > 0 && n_added == 0 && n_removed == 0;
      break;
    case USI_COMMIT_REASON_ROTATE:
      allowed = n_changed == 0 && n_added == 0 && n_removed == 0;
      break;
    case USI_COMMIT_REASON_CREATE:
    default:
      allowed = FALSE;
      break;
    }
  if (!allowed)
    return set_error (error, USI_PROTOCOL_ERROR_ROSTER_INVALID,
                      _("The commit changes the member list in a way its reason does not allow."));

  for (guint k = 0; k < to_verify->len; k++)
    if (!usi_leaf_node_verify (g_ptr_array_index (to_verify, k), error))
      return FALSE;

  return TRUE;
}

gboolean
usi_commit_chain_follow (UsiCommitChain  *chain,
                         const guint8    *commit_body,
                         gsize            length,
                         GError         **error)
{
  g_autoptr(UsiCommit) commit = NULL;
  g_autoptr(UsiGroupInfo) next_info = NULL;
  g_autoptr(GBytes) next_context = NULL;
  guint8 hash[USI_HASH_LENGTH];
  guint8 confirmed[USI_HASH_LENGTH];
  guint8 next_interim[USI_HASH_LENGTH];

  g_return_val_if_fail (chain != NULL, FALSE);
  g_return_val_if_fail (commit_body != NULL || length == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  commit = usi_commit_decode (commit_body, length, error);
  if (commit == NULL)
    return FALSE;

  if (memcmp (commit->room_id, chain->info->room_id, USI_ROOM_ID_LENGTH) != 0)
    return set_error (error, USI_PROTOCOL_ERROR_WRONG_ROOM, _("The commit is for another room."));
  if (commit->committer_index != USI_OWNER_INDEX)
    return set_error (error, USI_PROTOCOL_ERROR_NOT_OWNER, _("Only the room’s owner can change the room."));

  if (commit->epoch <= chain->info->epoch)
    {
      if (commit->epoch < chain->info->epoch)
        return set_error (error, USI_PROTOCOL_ERROR_WRONG_EPOCH, _("The commit is for an epoch already past."));
      if (!usi_commit_compute_hash (commit, hash, error))
        return FALSE;
      if (memcmp (hash, chain->info->commit_hash, USI_HASH_LENGTH) == 0)
        return set_error (error, USI_PROTOCOL_ERROR_DUPLICATE, _("The commit was already applied."));
      return set_error (error, USI_PROTOCOL_ERROR_CHAIN_BROKEN,
                        _("A second, different change for the current epoch arrived: the room’s history has forked."));
    }
  if (commit->epoch > chain->info->epoch + 1)
    return set_error (error, USI_PROTOCOL_ERROR_EPOCH_NOT_YET, _("An earlier commit is missing."));
  if (memcmp (commit->prev_commit_hash, chain->info->commit_hash, USI_HASH_LENGTH) != 0)
    return set_error (error, USI_PROTOCOL_ERROR_CHAIN_BROKEN,
                      _("The commit does not follow the last one: the room’s history has forked."));

  if (!usi_commit_verify (commit, chain->owner_key, chain->group_context, error))
    return FALSE;

  if (commit->config.password_required != chain->info->config.password_required)
    return set_error (error, USI_PROTOCOL_ERROR_NOT_ALLOWED, _("A room’s password cannot be added or removed."));
  if (!check_roster_change (chain, commit, error))
    return FALSE;

  /* Everything public checks out: build the next epoch's public state
   * before changing anything. */
  if (!usi_commit_compute_confirmed_transcript_hash (commit, chain->interim, confirmed, error) ||
      (next_info = usi_commit_build_group_info (commit, confirmed, error)) == NULL ||
      (next_context = usi_group_info_build_group_context (next_info, error)) == NULL ||
      !usi_group_info_compute_interim_transcript_hash (next_info, next_interim, error))
    return FALSE;

  g_clear_pointer (&chain->info, usi_group_info_free);
  chain->info = g_steal_pointer (&next_info);
  g_clear_pointer (&chain->group_context, g_bytes_unref);
  chain->group_context = g_steal_pointer (&next_context);
  memcpy (chain->interim, next_interim, USI_HASH_LENGTH);

  g_debug ("Followed a room's commit to epoch %u", (guint) chain->info->epoch);
  return TRUE;
}

const guint8 *
usi_commit_chain_get_room_id (UsiCommitChain *chain)
{
  g_return_val_if_fail (chain != NULL, NULL);

  return chain->info->room_id;
}

const guint8 *
usi_commit_chain_get_owner_key (UsiCommitChain *chain)
{
  g_return_val_if_fail (chain != NULL, NULL);

  return chain->owner_key;
}

guint64
usi_commit_chain_get_epoch (UsiCommitChain *chain)
{
  g_return_val_if_fail (chain != NULL, 0);

  return chain->info->epoch;
}

const UsiGroupInfo *
usi_commit_chain_get_group_info (UsiCommitChain *chain)
{
  g_return_val_if_fail (chain != NULL, NULL);

  return chain->info;
}

gboolean
usi_commit_chain_has_member (UsiCommitChain *chain,
                             const guint8   *identity_key)
{
  g_return_val_if_fail (chain != NULL, FALSE);
  g_return_val_if_fail (identity_key != NULL, FALSE);

  for (guint i = 0; i < chain->info->roster->len; i++)
    {
      const UsiRosterEntry *entry = g_ptr_array_index (chain->info->roster, i);

      if (memcmp (entry->leaf.identity_key, identity_key, USI_KEY_LENGTH) == 0)
        return TRUE;
    }

  return FALSE;
}

GBytes *
usi_commit_chain_save (UsiCommitChain *chain)
{
  g_autoptr(GByteArray) out = NULL;

  g_return_val_if_fail (chain != NULL, NULL);

  out = g_byte_array_new ();
  usi_wire_write_fixed (out, (const guint8 *) STATE_MAGIC, STATE_MAGIC_LENGTH);
  usi_wire_write_u8 (out, STATE_VERSION);
  usi_wire_write_fixed (out, chain->owner_key, USI_KEY_LENGTH);
  usi_wire_write_fixed (out, chain->interim, USI_HASH_LENGTH);
  usi_group_info_write (chain->info, out);

  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

static UsiCommitChain *
restore (const guint8  *data,
         gsize          length,
         GError       **error)
{
  g_autoptr(UsiGroupInfo) info = NULL;
  g_autoptr(UsiCommitChain) chain = NULL;
  UsiWireReader reader;
  const guint8 *magic;
  guint8 version;
  guint8 owner_key[USI_KEY_LENGTH];
  guint8 interim[USI_HASH_LENGTH];

  usi_wire_reader_init (&reader, data, length);
  if (!usi_wire_read_fixed (&reader, STATE_MAGIC_LENGTH, &magic, error))
    return NULL;
  if (memcmp (magic, STATE_MAGIC, STATE_MAGIC_LENGTH) != 0)
    {
      set_error (error, USI_PROTOCOL_ERROR_MALFORMED, _("This is not a saved commit chain."));
      return NULL;
    }
  if (!usi_wire_read_u8 (&reader, &version, error))
    return NULL;
  if (version != STATE_VERSION)
    {
      set_error (error, USI_PROTOCOL_ERROR_MALFORMED, _("The saved commit chain is of a version this relay does not know."));
      return NULL;
    }
  if (!usi_wire_read_fixed_into (&reader, USI_KEY_LENGTH, owner_key, error) ||
      !usi_wire_read_fixed_into (&reader, USI_HASH_LENGTH, interim, error) ||
      (info = usi_group_info_read (&reader, error)) == NULL ||
      !usi_wire_reader_finish (&reader, error) ||
      !usi_roster_check_unique_keys (info->roster, error) ||
      !check_owner_entry (info->roster, owner_key, error))
    return NULL;

  chain = chain_new (g_steal_pointer (&info), owner_key, error);
  if (chain == NULL)
    return NULL;
  if (memcmp (chain->interim, interim, USI_HASH_LENGTH) != 0)
    {
      set_error (error, USI_PROTOCOL_ERROR_MALFORMED, _("The saved commit chain does not agree with itself."));
      return NULL;
    }

  return g_steal_pointer (&chain);
}

UsiCommitChain *
usi_commit_chain_restore (const guint8  *data,
                          gsize          length,
                          GError       **error)
{
  g_autoptr(GError) local_error = NULL;
  UsiCommitChain *chain;

  g_return_val_if_fail (data != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* Whatever is wrong with the bytes, they are not a state this code
   * wrote: one code for all, the detail kept in the message. */
  chain = restore (data, length, &local_error);
  if (chain == NULL)
    g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                 _("The saved state of a room’s commits is damaged: %s"), local_error->message);

  return chain;
}
