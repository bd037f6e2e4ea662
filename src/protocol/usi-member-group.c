/* SPDX-License-Identifier: GPL-3.0-or-later */

/* A member's state machine: enters a room from a Welcome and follows the
 * owner's Commits.  Every check runs before anything changes, in the order
 * docs/protocol.md §7 gives, so a refused commit leaves the member exactly
 * where it was.  No I/O and no clock here. */

#define G_LOG_DOMAIN "usi-protocol"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "crypto/usi-secret.h"
#include "crypto/usi-x25519.h"

#include "usi-commit.h"
#include "usi-leaf-update.h"
#include "usi-member-group.h"
#include "usi-owner-group.h"
#include "usi-protocol-error.h"
#include "usi-welcome.h"

struct _UsiMemberGroup
{
  UsiIdentity   *identity;
  guint8         owner_key[USI_KEY_LENGTH];   /* pinned from the invite */
  gboolean       has_password;
  guint8         password_psk[USI_KEY_LENGTH];
  UsiGroupInfo  *info;                        /* the current epoch, public part */
  UsiEpoch      *epoch;
  UsiEpoch      *previous_epoch;
  guint32        own_index;
  UsiLeafSecret  leaf;                        /* the leaf the current roster lists for us */
  GArray        *pending_leaves;              /* UsiLeafSecret sent in LeafUpdates, oldest first */
  gboolean       removed;
  guint32        message_count;
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
usi_member_group_free (UsiMemberGroup *group)
{
  if (group == NULL)
    return;

  g_clear_pointer (&group->identity, usi_identity_free);
  g_clear_pointer (&group->info, usi_group_info_free);
  g_clear_pointer (&group->epoch, usi_epoch_unref);
  g_clear_pointer (&group->previous_epoch, usi_epoch_unref);
  g_clear_pointer (&group->pending_leaves, g_array_unref);
  usi_secret_wipe (group, sizeof *group);
  g_free (group);
}

UsiMemberGroup *
usi_member_group_new_from_welcome (const guint8          *body,
                                   gsize                  length,
                                   const guint8          *room_id,
                                   const guint8          *owner_identity_key,
                                   UsiIdentity           *identity,
                                   const UsiLeafSecret   *own_leaf,
                                   const guint8          *password_psk,
                                   GError               **error)
{
  g_autoptr(UsiWelcome) welcome = NULL;
  g_autoptr(UsiMemberGroup) group = NULL;
  g_autoptr(GBytes) context = NULL;
  g_auto(UsiMlsEpochSecrets) secrets = { 0 };
  const UsiRosterEntry *own_entry;
  UsiGroupInfo *info;
  guint8 joiner_secret[USI_KEY_LENGTH];
  gboolean derived;
  guint8 seed[USI_KEY_LENGTH];

  g_return_val_if_fail (body != NULL || length == 0, NULL);
  g_return_val_if_fail (room_id != NULL, NULL);
  g_return_val_if_fail (owner_identity_key != NULL, NULL);
  g_return_val_if_fail (identity != NULL, NULL);
  g_return_val_if_fail (own_leaf != NULL, NULL);
  g_return_val_if_fail (memcmp (usi_identity_get_public_key (identity), own_leaf->node.identity_key,
                                USI_KEY_LENGTH) == 0, NULL);

  welcome = usi_welcome_decode (body, length, error);
  if (welcome == NULL)
    return NULL;
  info = welcome->group_info;

  if (memcmp (info->room_id, room_id, USI_ROOM_ID_LENGTH) != 0)
    {
      set_error (error, USI_PROTOCOL_ERROR_WRONG_ROOM, _("The welcome is for another room."));
      return NULL;
    }
  if (!usi_welcome_verify (welcome, owner_identity_key, error) ||
      !usi_roster_check_unique_keys (info->roster, error) ||
      !usi_roster_check_owner (info->roster, owner_identity_key, error))
    return NULL;

  own_entry = usi_roster_lookup (info->roster, welcome->joiner_index);
  if (own_entry == NULL || welcome->joiner_index == USI_OWNER_INDEX ||
      !usi_leaf_node_equal (&own_entry->leaf, &own_leaf->node))
    {
      set_error (error, USI_PROTOCOL_ERROR_NOT_MEMBER,
                 _("The welcome is not for you: the room does not list your key."));
      return NULL;
    }

  if (!usi_roster_verify_leaves (info->roster, error))
    return NULL;
  if (info->config.password_required && password_psk == NULL)
    {
      set_error (error, USI_PROTOCOL_ERROR_PASSWORD_REQUIRED,
                 _("This room has a password: enter it to join."));
      return NULL;
    }

  if (!usi_welcome_open (welcome, own_leaf->private_key, joiner_secret, error))
    return NULL;
  derived = usi_group_info_derive_secrets (info, NULL, NULL, joiner_secret,
                                           info->config.password_required ? password_psk : NULL,
                                           &context, &secrets, error);
  usi_secret_wipe (joiner_secret, sizeof joiner_secret);
  if (!derived || !usi_group_info_check_confirmation_tag (info, &secrets, error))
    return NULL;

  group = g_new0 (UsiMemberGroup, 1);
  group->pending_leaves = g_array_new (FALSE, TRUE, sizeof (UsiLeafSecret));
  g_array_set_clear_func (group->pending_leaves, (GDestroyNotify) usi_leaf_secret_clear);
  group->epoch = usi_group_info_new_epoch (info, context, &secrets, welcome->joiner_index, error);
  if (group->epoch == NULL)
    return NULL;

  usi_identity_export_seed (identity, seed);
  group->identity = usi_identity_new_from_seed (seed, error);
  usi_secret_wipe (seed, sizeof seed);
  if (group->identity == NULL)
    return NULL;

  memcpy (group->owner_key, owner_identity_key, USI_KEY_LENGTH);
  if (info->config.password_required)
    {
      group->has_password = TRUE;
      memcpy (group->password_psk, password_psk, USI_KEY_LENGTH);
    }
  group->own_index = welcome->joiner_index;
  group->leaf = *own_leaf;
  group->info = g_steal_pointer (&welcome->group_info);

  g_debug ("Joined a room at epoch %u as member %u", (guint) group->info->epoch, group->own_index);
  return g_steal_pointer (&group);
}

/* The leaf secret whose node the new roster lists for us: the current one,
 * or one we sent in a LeafUpdate (then *pending_position says which). */
static const UsiLeafSecret *
find_own_leaf (UsiMemberGroup     *group,
               const UsiLeafNode  *listed,
               gint               *pending_position)
{
  *pending_position = -1;
  if (usi_leaf_node_equal (listed, &group->leaf.node))
    return &group->leaf;

  for (guint i = 0; i < group->pending_leaves->len; i++)
    {
      const UsiLeafSecret *pending = &g_array_index (group->pending_leaves, UsiLeafSecret, i);

      if (usi_leaf_node_equal (listed, &pending->node))
        {
          *pending_position = (gint) i;
          return pending;
        }
    }

  return NULL;
}

static void
forget_leaf_secrets (UsiMemberGroup *group)
{
  usi_leaf_secret_clear (&group->leaf);
  if (group->pending_leaves->len > 0)
    g_array_remove_range (group->pending_leaves, 0, group->pending_leaves->len);
}

gboolean
usi_member_group_process_commit (UsiMemberGroup          *group,
                                 const guint8            *body,
                                 gsize                    length,
                                 UsiMemberCommitOutcome  *outcome,
                                 GError                 **error)
{
  g_autoptr(UsiCommit) commit = NULL;
  g_autoptr(UsiGroupInfo) next_info = NULL;
  g_autoptr(GBytes) context = NULL;
  g_autoptr(UsiEpoch) next_epoch = NULL;
  g_auto(UsiMlsEpochSecrets) secrets = { 0 };
  const UsiRosterEntry *own_entry;
  const UsiLeafSecret *own_leaf;
  const UsiCommitDelivery *delivery;
  guint8 header_hash[USI_HASH_LENGTH];
  guint8 interim[USI_HASH_LENGTH];
  guint8 confirmed[USI_HASH_LENGTH];
  guint8 commit_secret[USI_KEY_LENGTH];
  gint pending_position;
  gboolean derived;

  g_return_val_if_fail (group != NULL, FALSE);
  g_return_val_if_fail (body != NULL || length == 0, FALSE);
  g_return_val_if_fail (outcome != NULL, FALSE);

  if (group->removed)
    return set_error (error, USI_PROTOCOL_ERROR_NOT_MEMBER, _("You were removed from this room."));

  commit = usi_commit_decode (body, length, error);
  if (commit == NULL)
    return FALSE;

  if (!usi_commit_check_follows (commit, group->info, error))
    return FALSE;

  if (!usi_commit_verify (commit, group->owner_key, usi_epoch_get_group_context (group->epoch), error))
    return FALSE;

  if (commit->config.password_required != group->info->config.password_required)
    return set_error (error, USI_PROTOCOL_ERROR_NOT_ALLOWED, _("A room’s password cannot be added or removed."));
  if (!usi_commit_check_roster_change (commit, group->info->roster, group->owner_key, error))
    return FALSE;

  own_entry = usi_roster_lookup (commit->roster, group->own_index);
  if (own_entry == NULL)
    {
      /* Authentic, chained and well formed: we were removed.  There is no
       * delivery for us, so nothing of the new epoch can be derived. */
      g_debug ("Removed from the room at epoch %u", (guint) commit->epoch);
      group->removed = TRUE;
      forget_leaf_secrets (group);
      *outcome = USI_MEMBER_COMMIT_REMOVED;
      return TRUE;
    }

  own_leaf = find_own_leaf (group, &own_entry->leaf, &pending_position);
  if (own_leaf == NULL || (pending_position >= 0 && commit->reason != USI_COMMIT_REASON_UPDATE))
    return set_error (error, USI_PROTOCOL_ERROR_ROSTER_INVALID,
                      _("The commit changes your own key, which you did not ask for."));

  if (!usi_commit_check_deliveries (commit, group->info->roster, error))
    return FALSE;

  delivery = usi_commit_lookup_delivery (commit, group->own_index);
  g_assert (delivery != NULL);
  if (!usi_commit_compute_header_hash (commit, header_hash, error) ||
      !usi_commit_open_delivery (commit, header_hash, delivery, own_leaf->private_key, commit_secret, error))
    return FALSE;

  if (!usi_group_info_compute_interim_transcript_hash (group->info, interim, error) ||
      !usi_commit_compute_confirmed_transcript_hash (commit, interim, confirmed, error) ||
      (next_info = usi_commit_build_group_info (commit, confirmed, error)) == NULL)
    derived = FALSE;
  else
    derived = usi_group_info_derive_secrets (next_info, usi_epoch_get_secrets (group->epoch)->init_secret,
                                             commit_secret, NULL,
                                             group->has_password ? group->password_psk : NULL,
                                             &context, &secrets, error);
  usi_secret_wipe (commit_secret, sizeof commit_secret);
  if (!derived ||
      !usi_group_info_check_confirmation_tag (next_info, &secrets, error))
    return FALSE;

  next_epoch = usi_group_info_new_epoch (next_info, context, &secrets, group->own_index, error);
  if (next_epoch == NULL)
    return FALSE;

  /* Everything checked out: move to the new epoch. */
  if (pending_position >= 0)
    {
      /* The commit sealed to this update's key: older keys have no commit
       * left to open (commits are processed in order), so they go now. */
      group->leaf = g_array_index (group->pending_leaves, UsiLeafSecret, pending_position);
      g_array_remove_range (group->pending_leaves, 0, (guint) pending_position + 1);
    }
  g_clear_pointer (&group->previous_epoch, usi_epoch_unref);
  group->previous_epoch = g_steal_pointer (&group->epoch);
  group->epoch = g_steal_pointer (&next_epoch);
  g_clear_pointer (&group->info, usi_group_info_free);
  group->info = g_steal_pointer (&next_info);
  group->message_count = 0;

  *outcome = USI_MEMBER_COMMIT_APPLIED;
  return TRUE;
}

GBytes *
usi_member_group_create_leaf_update (UsiMemberGroup  *group,
                                     UsiRandom       *random,
                                     guint64          now_ms,
                                     GError         **error)
{
  g_auto(UsiLeafSecret) secret = { 0 };
  UsiLeafUpdate update = { 0 };
  guint32 sequence = group != NULL ? group->leaf.node.sequence : 0;

  g_return_val_if_fail (group != NULL, NULL);
  g_return_val_if_fail (random != NULL, NULL);

  if (group->removed)
    {
      set_error (error, USI_PROTOCOL_ERROR_NOT_MEMBER, _("You were removed from this room."));
      return NULL;
    }
  if (group->pending_leaves->len >= USI_MEMBER_MAX_PENDING_UPDATES)
    {
      set_error (error, USI_PROTOCOL_ERROR_NOT_ALLOWED,
                 _("Too many key updates are waiting for the owner: wait until the owner applies them."));
      return NULL;
    }
  if (group->pending_leaves->len > 0)
    sequence = g_array_index (group->pending_leaves, UsiLeafSecret, group->pending_leaves->len - 1).node.sequence;
  if (sequence == G_MAXUINT32)
    {
      set_error (error, USI_PROTOCOL_ERROR_NOT_ALLOWED, _("This leaf key cannot be rotated any more."));
      return NULL;
    }

  if (!usi_leaf_secret_generate (random, group->identity, sequence + 1, now_ms, &secret, error))
    return NULL;

  memcpy (update.room_id, group->info->room_id, USI_ROOM_ID_LENGTH);
  update.epoch = group->info->epoch;
  update.sender_index = group->own_index;
  update.leaf = secret.node;
  if (!usi_leaf_update_sign (&update, group->identity, error))
    return NULL;

  g_array_append_val (group->pending_leaves, secret);
  usi_leaf_secret_clear (&secret);
  return usi_leaf_update_encode (&update);
}

guint
usi_member_group_get_n_pending_updates (UsiMemberGroup *group)
{
  g_return_val_if_fail (group != NULL, 0);

  return group->pending_leaves->len;
}

gboolean
usi_member_group_note_message (UsiMemberGroup *group,
                               guint64         epoch,
                               guint32         sender_index)
{
  g_return_val_if_fail (group != NULL, FALSE);

  if (epoch == group->info->epoch && group->message_count < G_MAXUINT32)
    group->message_count++;

  (void) sender_index;
  return usi_member_group_is_rotation_pending (group);
}

gboolean
usi_member_group_is_rotation_pending (UsiMemberGroup *group)
{
  g_return_val_if_fail (group != NULL, FALSE);

  return !group->removed && group->message_count >= group->info->config.rotate_after_messages;
}

gboolean
usi_member_group_is_removed (UsiMemberGroup *group)
{
  g_return_val_if_fail (group != NULL, FALSE);

  return group->removed;
}

guint32
usi_member_group_get_own_index (UsiMemberGroup *group)
{
  g_return_val_if_fail (group != NULL, 0);

  return group->own_index;
}

const UsiLeafNode *
usi_member_group_get_leaf_node (UsiMemberGroup *group)
{
  g_return_val_if_fail (group != NULL, NULL);

  return &group->leaf.node;
}

const guint8 *
usi_member_group_get_room_id (UsiMemberGroup *group)
{
  g_return_val_if_fail (group != NULL, NULL);

  return group->info->room_id;
}

const UsiGroupInfo *
usi_member_group_get_group_info (UsiMemberGroup *group)
{
  g_return_val_if_fail (group != NULL, NULL);

  return group->info;
}

UsiEpoch *
usi_member_group_get_epoch (UsiMemberGroup *group)
{
  g_return_val_if_fail (group != NULL, NULL);

  return group->epoch;
}

UsiEpoch *
usi_member_group_get_previous_epoch (UsiMemberGroup *group)
{
  g_return_val_if_fail (group != NULL, NULL);

  return group->previous_epoch;
}

UsiEpoch *
usi_member_group_lookup_epoch (UsiMemberGroup *group,
                               guint64         number)
{
  g_return_val_if_fail (group != NULL, NULL);

  if (usi_epoch_get_number (group->epoch) == number)
    return group->epoch;
  if (group->previous_epoch != NULL && usi_epoch_get_number (group->previous_epoch) == number)
    return group->previous_epoch;

  return NULL;
}

void
usi_member_group_forget_previous_epoch (UsiMemberGroup *group)
{
  g_return_if_fail (group != NULL);

  g_clear_pointer (&group->previous_epoch, usi_epoch_unref);
}

/* Saved state (docs/protocol.md §12) ------------------------------------------
 *
 *   u8 kind = 6 ‖ u8 version = 1 ‖ owner_key[32] ‖
 *   optional<password_psk[32]> ‖ GroupInfo ‖ V<epoch state> current ‖
 *   optional<V<epoch state>> previous ‖ u32 own_index ‖ LeafSecret leaf ‖
 *   V<LeafSecret> pending ‖ bool removed ‖ u32 message_count
 *   LeafSecret = LeafNode ‖ private_key[32]
 *
 * A removed member's leaf is all zeros (its keys were wiped).  The identity
 * has its own record: restore takes it. */

#define STATE_LEAF_SECRET_LENGTH     (USI_LEAF_NODE_ENCODED_LENGTH + USI_KEY_LENGTH)
#define STATE_PENDING_MAX_LENGTH     (USI_MEMBER_MAX_PENDING_UPDATES * STATE_LEAF_SECRET_LENGTH)

static void
write_leaf_secret (const UsiLeafSecret *leaf,
                   GByteArray          *out)
{
  usi_leaf_node_write (&leaf->node, out);
  usi_wire_write_fixed (out, leaf->private_key, sizeof leaf->private_key);
}

GBytes *
usi_member_group_save (UsiMemberGroup *group)
{
  g_autoptr(GByteArray) info = g_byte_array_new ();
  g_autoptr(GBytes) epoch = NULL;
  g_autoptr(GBytes) previous = NULL;
  GByteArray *pending;
  GByteArray *out;
  gsize capacity;

  g_return_val_if_fail (group != NULL, NULL);

  usi_group_info_write (group->info, info);
  epoch = usi_epoch_save (group->epoch);
  if (group->previous_epoch != NULL)
    previous = usi_epoch_save (group->previous_epoch);
  pending = _usi_state_buffer_new (group->pending_leaves->len * STATE_LEAF_SECRET_LENGTH);
  for (guint i = 0; i < group->pending_leaves->len; i++)
    write_leaf_secret (&g_array_index (group->pending_leaves, UsiLeafSecret, i), pending);

  capacity = 2 + USI_KEY_LENGTH + 1 + USI_KEY_LENGTH + info->len + 4 + g_bytes_get_size (epoch) +
             1 + 4 + (previous != NULL ? g_bytes_get_size (previous) : 0) + 4 +
             STATE_LEAF_SECRET_LENGTH + 4 + pending->len + 1 + 4;
  out = _usi_state_writer_new (USI_STATE_KIND_MEMBER_GROUP, capacity);
  usi_wire_write_fixed (out, group->owner_key, sizeof group->owner_key);
  usi_wire_write_bool (out, group->has_password);
  if (group->has_password)
    usi_wire_write_fixed (out, group->password_psk, sizeof group->password_psk);
  usi_wire_write_fixed (out, info->data, info->len);
  usi_wire_write_bytes (out, epoch);
  usi_wire_write_bool (out, previous != NULL);
  if (previous != NULL)
    usi_wire_write_bytes (out, previous);
  usi_wire_write_u32 (out, group->own_index);
  write_leaf_secret (&group->leaf, out);
  usi_wire_write_opaque (out, pending->data, pending->len);
  usi_wire_write_bool (out, group->removed);
  usi_wire_write_u32 (out, group->message_count);

  _usi_state_buffer_free (pending);
  return _usi_state_writer_finish (out, capacity);
}

static gboolean
read_leaf_secret (UsiWireReader  *reader,
                  UsiLeafSecret  *leaf,
                  GError        **error)
{
  return usi_leaf_node_read (reader, &leaf->node, error) &&
         usi_wire_read_fixed_into (reader, sizeof leaf->private_key, leaf->private_key, error);
}

/* A leaf secret of @identity: signed by it, its private key the one of its
 * leaf key. */
static gboolean
check_leaf_secret (const UsiLeafSecret  *leaf,
                   UsiIdentity          *identity,
                   GError              **error)
{
  guint8 public_key[USI_KEY_LENGTH];
  gboolean matches;

  if (memcmp (leaf->node.identity_key, usi_identity_get_public_key (identity), USI_KEY_LENGTH) != 0)
    return _usi_state_set_damaged (error);
  if (!usi_leaf_node_verify (&leaf->node, error))
    return FALSE;

  matches = usi_x25519_public_from_private (leaf->private_key, public_key, NULL) &&
            memcmp (public_key, leaf->node.leaf_key, sizeof public_key) == 0;
  usi_secret_wipe (public_key, sizeof public_key);
  return matches || _usi_state_set_damaged (error);
}

static gboolean
is_all_zero (const void *data,
             gsize       length)
{
  const guint8 *bytes = data;
  guint8 any = 0;

  for (gsize i = 0; i < length; i++)
    any |= bytes[i];

  return any == 0;
}

UsiMemberGroup *
usi_member_group_restore (UsiIdentity   *identity,
                          const guint8  *data,
                          gsize          length,
                          GError       **error)
{
  g_autoptr(UsiMemberGroup) group = NULL;
  const UsiRosterEntry *own_entry;
  UsiWireReader reader, pending;
  gboolean has_previous;
  guint8 seed[USI_KEY_LENGTH];

  g_return_val_if_fail (identity != NULL, NULL);
  g_return_val_if_fail (data != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  group = g_new0 (UsiMemberGroup, 1);
  group->pending_leaves = g_array_new (FALSE, TRUE, sizeof (UsiLeafSecret));
  g_array_set_clear_func (group->pending_leaves, (GDestroyNotify) usi_leaf_secret_clear);

  if (!_usi_state_reader_open (&reader, data, length, USI_STATE_KIND_MEMBER_GROUP, error) ||
      !usi_wire_read_fixed_into (&reader, sizeof group->owner_key, group->owner_key, error) ||
      !usi_wire_read_bool (&reader, &group->has_password, error) ||
      (group->has_password &&
       !usi_wire_read_fixed_into (&reader, sizeof group->password_psk, group->password_psk, error)) ||
      (group->info = usi_group_info_read (&reader, error)) == NULL ||
      (group->epoch = _usi_state_read_epoch (&reader, error)) == NULL ||
      !usi_wire_read_bool (&reader, &has_previous, error) ||
      (has_previous && (group->previous_epoch = _usi_state_read_epoch (&reader, error)) == NULL) ||
      !usi_wire_read_u32 (&reader, &group->own_index, error) ||
      !read_leaf_secret (&reader, &group->leaf, error) ||
      !usi_wire_read_vector (&reader, STATE_PENDING_MAX_LENGTH, &pending, error))
    return NULL;
  while (!usi_wire_reader_at_end (&pending))
    {
      UsiLeafSecret *leaf;

      g_array_set_size (group->pending_leaves, group->pending_leaves->len + 1);
      leaf = &g_array_index (group->pending_leaves, UsiLeafSecret, group->pending_leaves->len - 1);
      if (!read_leaf_secret (&pending, leaf, error))
        return NULL;
    }
  if (!usi_wire_read_bool (&reader, &group->removed, error) ||
      !usi_wire_read_u32 (&reader, &group->message_count, error) ||
      !usi_wire_reader_finish (&reader, error))
    return NULL;

  /* Still a member: the roster lists this identity at its index.  Once
   * removed, the last epoch still does, but the leaf keys are gone. */
  own_entry = usi_roster_lookup (group->info->roster, group->own_index);
  if (!group->removed &&
      (own_entry == NULL || group->own_index == USI_OWNER_INDEX ||
       memcmp (own_entry->leaf.identity_key, usi_identity_get_public_key (identity), USI_KEY_LENGTH) != 0))
    {
      set_error (error, USI_PROTOCOL_ERROR_NOT_MEMBER,
                 _("This room’s saved state belongs to another identity than yours."));
      return NULL;
    }

  if (group->has_password != group->info->config.password_required ||
      group->pending_leaves->len > USI_MEMBER_MAX_PENDING_UPDATES)
    {
      _usi_state_set_damaged (error);
      return NULL;
    }
  if (!usi_roster_check_unique_keys (group->info->roster, error) ||
      !usi_roster_check_owner (group->info->roster, group->owner_key, error) ||
      !usi_roster_verify_leaves (group->info->roster, error) ||
      !_usi_state_check_current_epoch (group->info, group->epoch, group->own_index, error) ||
      (group->previous_epoch != NULL &&
       !_usi_state_check_previous_epoch (group->epoch, group->previous_epoch, error)))
    return NULL;

  if (group->removed)
    {
      if (!is_all_zero (&group->leaf, sizeof group->leaf) || group->pending_leaves->len > 0)
        {
          _usi_state_set_damaged (error);
          return NULL;
        }
    }
  else
    {
      /* The leaf the roster lists, then updates not yet committed, each one
       * newer than the one before. */
      guint32 sequence = group->leaf.node.sequence;

      if (!usi_leaf_node_equal (&own_entry->leaf, &group->leaf.node))
        {
          _usi_state_set_damaged (error);
          return NULL;
        }
      if (!check_leaf_secret (&group->leaf, identity, error))
        return NULL;
      for (guint i = 0; i < group->pending_leaves->len; i++)
        {
          const UsiLeafSecret *leaf = &g_array_index (group->pending_leaves, UsiLeafSecret, i);

          if (leaf->node.sequence <= sequence)
            {
              _usi_state_set_damaged (error);
              return NULL;
            }
          if (!check_leaf_secret (leaf, identity, error))
            return NULL;
          sequence = leaf->node.sequence;
        }
    }

  usi_identity_export_seed (identity, seed);
  group->identity = usi_identity_new_from_seed (seed, error);
  usi_secret_wipe (seed, sizeof seed);
  if (group->identity == NULL)
    return NULL;

  return g_steal_pointer (&group);
}
