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

gboolean
usi_commit_chain_follow (UsiCommitChain  *chain,
                         const guint8    *commit_body,
                         gsize            length,
                         GError         **error)
{
  g_autoptr(UsiCommit) commit = NULL;
  g_autoptr(UsiGroupInfo) next_info = NULL;
  g_autoptr(GBytes) next_context = NULL;
  guint8 confirmed[USI_HASH_LENGTH];
  guint8 next_interim[USI_HASH_LENGTH];

  g_return_val_if_fail (chain != NULL, FALSE);
  g_return_val_if_fail (commit_body != NULL || length == 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  commit = usi_commit_decode (commit_body, length, error);
  if (commit == NULL)
    return FALSE;

  if (!usi_commit_check_follows (commit, chain->info, error))
    return FALSE;

  if (!usi_commit_verify (commit, chain->owner_key, chain->group_context, error))
    return FALSE;

  if (commit->config.password_required != chain->info->config.password_required)
    return set_error (error, USI_PROTOCOL_ERROR_NOT_ALLOWED, _("A room’s password cannot be added or removed."));
  /* Every roster check a member makes (§7.8 steps 10–13, 16). */
  if (!usi_commit_check_roster_change (commit, chain->info->roster, chain->owner_key, error) ||
      !usi_commit_check_deliveries (commit, chain->info->roster, error))
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
      !usi_roster_check_owner (info->roster, owner_key, error))
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
