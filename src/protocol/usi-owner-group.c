/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The owner's state machine: builds every epoch of a room.  Each change is
 * one commit, with a fresh random commit_secret sealed separately to each
 * continuing member's current leaf key (never a new key encrypted under an
 * old one).  No I/O and no clock here; randomness comes from a UsiRandom. */

#define G_LOG_DOMAIN "usi-protocol"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "crypto/usi-secret.h"

#include "usi-commit.h"
#include "usi-display-name.h"
#include "usi-leaf-update.h"
#include "usi-owner-group.h"
#include "usi-protocol-error.h"
#include "usi-welcome.h"

struct _UsiOwnerGroup
{
  UsiIdentity   *identity;
  gboolean       has_password;
  guint8         password_psk[USI_KEY_LENGTH];
  UsiGroupInfo  *info;            /* the current epoch, public part */
  UsiEpoch      *epoch;
  UsiEpoch      *previous_epoch;
  UsiRoomConfig  next_config;     /* what the next commit carries */
  guint32        message_count;   /* application messages seen in the current epoch */
};

static gboolean
set_error (GError     **error,
           int          code,
           const char  *message)
{
  g_set_error_literal (error, USI_PROTOCOL_ERROR, code, message);
  return FALSE;
}

static UsiIdentity *
copy_identity (UsiIdentity  *identity,
               GError      **error)
{
  guint8 seed[USI_KEY_LENGTH];
  UsiIdentity *copy;

  usi_identity_export_seed (identity, seed);
  copy = usi_identity_new_from_seed (seed, error);
  usi_secret_wipe (seed, sizeof seed);
  return copy;
}

void
usi_owner_group_free (UsiOwnerGroup *group)
{
  if (group == NULL)
    return;

  g_clear_pointer (&group->identity, usi_identity_free);
  g_clear_pointer (&group->info, usi_group_info_free);
  g_clear_pointer (&group->epoch, usi_epoch_unref);
  g_clear_pointer (&group->previous_epoch, usi_epoch_unref);
  usi_secret_wipe (group, sizeof *group);
  g_free (group);
}

/* The result of building one commit, applied to the group only when every
 * step succeeded. */
typedef struct
{
  UsiGroupInfo *info;
  UsiEpoch     *epoch;
  GBytes       *commit;
  GPtrArray    *welcomes;   /* GBytes, one per added member, in index order */
} NextEpoch;

static void
next_epoch_clear (NextEpoch *next)
{
  g_clear_pointer (&next->info, usi_group_info_free);
  g_clear_pointer (&next->epoch, usi_epoch_unref);
  g_clear_pointer (&next->commit, g_bytes_unref);
  g_clear_pointer (&next->welcomes, g_ptr_array_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (NextEpoch, next_epoch_clear)

static gboolean
seal_deliveries (UsiCommit     *commit,
                 GPtrArray     *previous_roster,
                 const guint8  *commit_secret,
                 UsiRandom     *random,
                 GError       **error)
{
  guint8 header_hash[USI_HASH_LENGTH];

  if (!usi_commit_compute_header_hash (commit, header_hash, error))
    return FALSE;

  /* Members present in both epochs, at the leaf key of the new roster: after
   * a leaf update, that is the new key, which is what heals a leaked state. */
  for (guint i = 0; i < commit->roster->len; i++)
    {
      const UsiRosterEntry *entry = g_ptr_array_index (commit->roster, i);
      UsiCommitDelivery delivery;

      if (entry->index == USI_OWNER_INDEX ||
          previous_roster == NULL || usi_roster_lookup (previous_roster, entry->index) == NULL)
        continue;

      if (!usi_commit_seal_delivery (commit, header_hash, entry->index, entry->leaf.leaf_key,
                                     commit_secret, random, &delivery, error))
        return FALSE;
      g_array_append_val (commit->deliveries, delivery);
    }

  return TRUE;
}

static GBytes *
build_welcome (const UsiGroupInfo        *info,
               const UsiRosterEntry      *joiner,
               const UsiMlsEpochSecrets  *secrets,
               UsiIdentity               *identity,
               UsiRandom                 *random,
               GError                   **error)
{
  g_autoptr(UsiWelcome) welcome = usi_welcome_new ();

  usi_group_info_free (welcome->group_info);
  welcome->group_info = usi_group_info_copy (info);
  welcome->joiner_index = joiner->index;
  if (!usi_welcome_seal (welcome, joiner->leaf.leaf_key, secrets->joiner_secret, random, error) ||
      !usi_welcome_sign (welcome, identity, error))
    return NULL;

  return usi_welcome_encode (welcome);
}

/* Builds the commit to @roster (taken) for @reason, with its epoch and the
 * welcomes of the members it adds.  The group itself is not touched. */
static gboolean
build_next_epoch (UsiOwnerGroup    *group,
                  UsiCommitReason   reason,
                  GPtrArray        *roster,
                  const guint8     *room_id,
                  UsiRandom        *random,
                  NextEpoch        *next,
                  GError          **error)
{
  g_autoptr(GPtrArray) owned_roster = roster;
  g_autoptr(UsiCommit) commit = usi_commit_new ();
  g_autoptr(GBytes) previous_context = NULL;
  g_autoptr(GBytes) context = NULL;
  g_auto(UsiMlsEpochSecrets) secrets = { 0 };
  GPtrArray *previous_roster = group->info != NULL ? group->info->roster : NULL;
  guint8 previous_interim[USI_HASH_LENGTH];
  guint8 confirmed[USI_HASH_LENGTH];
  guint8 commit_secret[USI_KEY_LENGTH];
  guint8 creation_init_secret[USI_KEY_LENGTH];
  const guint8 *init_secret;
  gboolean ok = FALSE;

  memcpy (commit->room_id, room_id, USI_ROOM_ID_LENGTH);
  commit->committer_index = USI_OWNER_INDEX;
  commit->reason = reason;
  commit->config = group->next_config;
  g_ptr_array_unref (commit->roster);
  commit->roster = g_steal_pointer (&owned_roster);

  if (group->info != NULL)
    {
      commit->epoch = group->info->epoch + 1;
      memcpy (commit->prev_commit_hash, group->info->commit_hash, USI_HASH_LENGTH);
      previous_context = g_bytes_ref (usi_epoch_get_group_context (group->epoch));
      if (!usi_group_info_compute_interim_transcript_hash (group->info, previous_interim, error))
        return FALSE;
    }
  else
    {
      /* Epoch 0: no previous GroupContext (signed as empty), no previous
       * interim transcript hash, and a random init_secret only the owner
       * ever knows (RFC 9420 §11 starts from a random epoch secret). */
      previous_context = g_bytes_new (NULL, 0);
    }

  if (!usi_random_fill (random, commit_secret, sizeof commit_secret, error))
    return FALSE;

  if (group->info != NULL)
    init_secret = usi_epoch_get_secrets (group->epoch)->init_secret;
  else if (usi_random_fill (random, creation_init_secret, sizeof creation_init_secret, error))
    init_secret = creation_init_secret;
  else
    goto out;

  if (!seal_deliveries (commit, previous_roster, commit_secret, random, error) ||
      !usi_commit_sign (commit, group->identity, previous_context, error) ||
      !usi_commit_compute_confirmed_transcript_hash (commit, group->info != NULL ? previous_interim : NULL,
                                                     confirmed, error))
    goto out;

  /* The confirmation tag needs the new epoch's keys, and the commit hash
   * needs the tag: derive first, then finish the commit and its hash. */
  next->info = usi_commit_build_group_info (commit, confirmed, error);
  if (next->info == NULL ||
      !usi_group_info_derive_secrets (next->info, init_secret, commit_secret, NULL,
                                      group->has_password ? group->password_psk : NULL,
                                      &context, &secrets, error) ||
      !usi_group_info_compute_confirmation_tag (next->info, &secrets, commit->confirmation_tag, error))
    goto out;

  memcpy (next->info->confirmation_tag, commit->confirmation_tag, USI_HASH_LENGTH);
  if (!usi_commit_compute_hash (commit, next->info->commit_hash, error))
    goto out;

  next->epoch = usi_group_info_new_epoch (next->info, context, &secrets, USI_OWNER_INDEX, error);
  if (next->epoch == NULL)
    goto out;

  next->welcomes = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  if (previous_roster != NULL)
    for (guint i = 0; i < commit->roster->len; i++)
      {
        const UsiRosterEntry *entry = g_ptr_array_index (commit->roster, i);
        GBytes *welcome;

        if (usi_roster_lookup (previous_roster, entry->index) != NULL)
          continue;

        welcome = build_welcome (next->info, entry, &secrets, group->identity, random, error);
        if (welcome == NULL)
          goto out;
        g_ptr_array_add (next->welcomes, welcome);
      }

  next->commit = usi_commit_encode (commit);
  ok = TRUE;

out:
  usi_secret_wipe (commit_secret, sizeof commit_secret);
  usi_secret_wipe (creation_init_secret, sizeof creation_init_secret);
  return ok;
}

static void
apply_next_epoch (UsiOwnerGroup *group,
                  NextEpoch     *next)
{
  g_clear_pointer (&group->previous_epoch, usi_epoch_unref);
  group->previous_epoch = g_steal_pointer (&group->epoch);
  group->epoch = g_steal_pointer (&next->epoch);
  g_clear_pointer (&group->info, usi_group_info_free);
  group->info = g_steal_pointer (&next->info);
  group->message_count = 0;
}

static gboolean
check_password_psk (const UsiRoomConfig  *config,
                    const guint8         *password_psk,
                    GError              **error)
{
  if (config->password_required && password_psk == NULL)
    return set_error (error, USI_PROTOCOL_ERROR_PASSWORD_REQUIRED,
                      _("This room has a password, and it is needed to create the room’s keys."));
  if (!config->password_required && password_psk != NULL)
    return set_error (error, USI_PROTOCOL_ERROR_NOT_ALLOWED,
                      _("A password key was given for a room without a password."));
  if (config->rotate_after_messages == 0 ||
      config->rotate_after_messages > USI_ROOM_CONFIG_MAX_ROTATE_AFTER)
    return set_error (error, USI_PROTOCOL_ERROR_NOT_ALLOWED,
                      _("The room’s rotation interval is out of range."));

  return TRUE;
}

static char *
normalize_name (const char  *display_name,
                GError     **error)
{
  g_autoptr(GError) name_error = NULL;
  char *normalized = usi_display_name_normalize (display_name, &name_error);

  if (normalized == NULL)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                           name_error->message);
      return NULL;
    }
  if (strlen (normalized) > USI_MAX_NAME_BYTES)
    {
      g_free (normalized);
      set_error (error, USI_PROTOCOL_ERROR_TOO_LARGE, _("The display name is too long."));
      return NULL;
    }

  return normalized;
}

UsiOwnerGroup *
usi_owner_group_create (UsiIdentity          *identity,
                        const UsiLeafNode    *own_leaf,
                        const char           *display_name,
                        const guint8         *room_id,
                        const UsiRoomConfig  *config,
                        const guint8         *password_psk,
                        UsiRandom            *random,
                        GBytes              **commit,
                        GError              **error)
{
  g_autoptr(UsiOwnerGroup) group = NULL;
  g_autoptr(GPtrArray) roster = NULL;
  g_autofree char *name = NULL;
  g_auto(NextEpoch) next = { 0 };

  g_return_val_if_fail (identity != NULL, NULL);
  g_return_val_if_fail (own_leaf != NULL, NULL);
  g_return_val_if_fail (display_name != NULL, NULL);
  g_return_val_if_fail (room_id != NULL, NULL);
  g_return_val_if_fail (config != NULL, NULL);
  g_return_val_if_fail (random != NULL, NULL);
  g_return_val_if_fail (commit != NULL, NULL);

  if (memcmp (own_leaf->identity_key, usi_identity_get_public_key (identity), USI_KEY_LENGTH) != 0)
    {
      set_error (error, USI_PROTOCOL_ERROR_ROSTER_INVALID,
                 _("The owner’s leaf key belongs to another identity."));
      return NULL;
    }
  if (!usi_leaf_node_verify (own_leaf, error) ||
      !check_password_psk (config, password_psk, error) ||
      (name = normalize_name (display_name, error)) == NULL)
    return NULL;

  group = g_new0 (UsiOwnerGroup, 1);
  group->identity = copy_identity (identity, error);
  if (group->identity == NULL)
    return NULL;
  group->next_config = *config;
  if (password_psk != NULL)
    {
      group->has_password = TRUE;
      memcpy (group->password_psk, password_psk, USI_KEY_LENGTH);
    }

  roster = g_ptr_array_new_with_free_func ((GDestroyNotify) usi_roster_entry_free);
  g_ptr_array_add (roster, usi_roster_entry_new (USI_OWNER_INDEX, own_leaf, name));
  if (!build_next_epoch (group, USI_COMMIT_REASON_CREATE, g_steal_pointer (&roster), room_id,
                         random, &next, error))
    return NULL;

  *commit = g_steal_pointer (&next.commit);
  apply_next_epoch (group, &next);
  return g_steal_pointer (&group);
}

static gboolean
commit_roster (UsiOwnerGroup    *group,
               UsiCommitReason   reason,
               GPtrArray        *roster,
               UsiRandom        *random,
               GBytes          **commit,
               GBytes          **welcome,
               GError          **error)
{
  g_auto(NextEpoch) next = { 0 };

  if (!build_next_epoch (group, reason, roster, group->info->room_id, random, &next, error))
    return FALSE;

  g_debug ("Room epoch %u: reason %u, %u members",
           (guint) next.info->epoch, (guint) reason, next.info->roster->len);
  *commit = g_steal_pointer (&next.commit);
  if (welcome != NULL)
    *welcome = next.welcomes->len > 0 ? g_bytes_ref (g_ptr_array_index (next.welcomes, 0)) : NULL;
  apply_next_epoch (group, &next);
  return TRUE;
}

gboolean
usi_owner_group_add_member (UsiOwnerGroup      *group,
                            const UsiLeafNode  *leaf,
                            const char         *display_name,
                            UsiRandom          *random,
                            guint32            *index,
                            GBytes            **commit,
                            GBytes            **welcome,
                            GError            **error)
{
  g_autoptr(GPtrArray) roster = NULL;
  g_autofree char *name = NULL;
  guint32 new_index;

  g_return_val_if_fail (group != NULL, FALSE);
  g_return_val_if_fail (leaf != NULL, FALSE);
  g_return_val_if_fail (display_name != NULL, FALSE);
  g_return_val_if_fail (random != NULL, FALSE);
  g_return_val_if_fail (commit != NULL, FALSE);
  g_return_val_if_fail (welcome != NULL, FALSE);

  if (!usi_leaf_node_verify (leaf, error) ||
      (name = normalize_name (display_name, error)) == NULL)
    return FALSE;

  new_index = usi_roster_get_free_index (group->info->roster);
  if (new_index >= USI_MAX_MEMBERS)
    return set_error (error, USI_PROTOCOL_ERROR_NOT_ALLOWED, _("The room is full."));

  /* The roster stays sorted by index: the new entry goes into its gap. */
  roster = g_ptr_array_new_full (group->info->roster->len + 1, (GDestroyNotify) usi_roster_entry_free);
  for (guint i = 0; i < group->info->roster->len; i++)
    {
      const UsiRosterEntry *entry = g_ptr_array_index (group->info->roster, i);

      if (entry->index > new_index && roster->len == i)
        g_ptr_array_add (roster, usi_roster_entry_new (new_index, leaf, name));
      g_ptr_array_add (roster, usi_roster_entry_copy (entry));
    }
  if (roster->len == group->info->roster->len)
    g_ptr_array_add (roster, usi_roster_entry_new (new_index, leaf, name));

  if (!usi_roster_check_unique_keys (roster, error) ||
      !commit_roster (group, USI_COMMIT_REASON_ADD, g_steal_pointer (&roster), random,
                      commit, welcome, error))
    return FALSE;

  if (index != NULL)
    *index = new_index;
  return TRUE;
}

gboolean
usi_owner_group_remove_member (UsiOwnerGroup  *group,
                               guint32         index,
                               UsiRandom      *random,
                               GBytes        **commit,
                               GError        **error)
{
  g_autoptr(GPtrArray) roster = NULL;

  g_return_val_if_fail (group != NULL, FALSE);
  g_return_val_if_fail (random != NULL, FALSE);
  g_return_val_if_fail (commit != NULL, FALSE);

  if (index == USI_OWNER_INDEX)
    return set_error (error, USI_PROTOCOL_ERROR_NOT_ALLOWED, _("The owner cannot leave the room it owns."));
  if (usi_roster_lookup (group->info->roster, index) == NULL)
    return set_error (error, USI_PROTOCOL_ERROR_NOT_MEMBER, _("That member is not in the room."));

  roster = g_ptr_array_new_with_free_func ((GDestroyNotify) usi_roster_entry_free);
  for (guint i = 0; i < group->info->roster->len; i++)
    {
      const UsiRosterEntry *entry = g_ptr_array_index (group->info->roster, i);

      if (entry->index != index)
        g_ptr_array_add (roster, usi_roster_entry_copy (entry));
    }

  return commit_roster (group, USI_COMMIT_REASON_REMOVE, g_steal_pointer (&roster), random,
                        commit, NULL, error);
}

gboolean
usi_owner_group_rotate (UsiOwnerGroup  *group,
                        UsiRandom      *random,
                        GBytes        **commit,
                        GError        **error)
{
  g_return_val_if_fail (group != NULL, FALSE);
  g_return_val_if_fail (random != NULL, FALSE);
  g_return_val_if_fail (commit != NULL, FALSE);

  return commit_roster (group, USI_COMMIT_REASON_ROTATE, usi_roster_copy (group->info->roster),
                        random, commit, NULL, error);
}

gboolean
usi_owner_group_apply_leaf_update (UsiOwnerGroup  *group,
                                   const guint8   *body,
                                   gsize           length,
                                   UsiRandom      *random,
                                   GBytes        **commit,
                                   GError        **error)
{
  g_autoptr(GPtrArray) roster = NULL;
  const UsiRosterEntry *member;
  UsiLeafUpdate update;

  g_return_val_if_fail (group != NULL, FALSE);
  g_return_val_if_fail (body != NULL || length == 0, FALSE);
  g_return_val_if_fail (random != NULL, FALSE);
  g_return_val_if_fail (commit != NULL, FALSE);

  if (!usi_leaf_update_decode (body, length, &update, error))
    return FALSE;

  if (memcmp (update.room_id, group->info->room_id, USI_ROOM_ID_LENGTH) != 0)
    return set_error (error, USI_PROTOCOL_ERROR_WRONG_ROOM, _("The key update is for another room."));
  if (update.epoch > group->info->epoch)
    return set_error (error, USI_PROTOCOL_ERROR_EPOCH_NOT_YET, _("The key update is from an epoch that does not exist yet."));

  member = usi_roster_lookup (group->info->roster, update.sender_index);
  if (member == NULL ||
      memcmp (member->leaf.identity_key, update.leaf.identity_key, USI_KEY_LENGTH) != 0)
    return set_error (error, USI_PROTOCOL_ERROR_NOT_MEMBER, _("The key update is not from a member of the room."));
  if (update.sender_index == USI_OWNER_INDEX)
    return set_error (error, USI_PROTOCOL_ERROR_NOT_ALLOWED, _("The owner’s own leaf is not updated this way."));

  if (!usi_leaf_update_verify (&update, error))
    return FALSE;

  /* A replayed or superseded update: applying it would seal to a key the
   * member may already have deleted. */
  if (update.leaf.sequence <= member->leaf.sequence)
    return set_error (error, USI_PROTOCOL_ERROR_DUPLICATE, _("The key update is older than the member’s current key."));

  roster = usi_roster_copy (group->info->roster);
  for (guint i = 0; i < roster->len; i++)
    {
      UsiRosterEntry *entry = g_ptr_array_index (roster, i);

      if (entry->index == update.sender_index)
        entry->leaf = update.leaf;
    }
  if (!usi_roster_check_unique_keys (roster, error))
    return FALSE;

  return commit_roster (group, USI_COMMIT_REASON_UPDATE, g_steal_pointer (&roster), random,
                        commit, NULL, error);
}

gboolean
usi_owner_group_set_rotate_after (UsiOwnerGroup  *group,
                                  guint32         messages,
                                  GError        **error)
{
  g_return_val_if_fail (group != NULL, FALSE);

  if (messages == 0 || messages > USI_ROOM_CONFIG_MAX_ROTATE_AFTER)
    return set_error (error, USI_PROTOCOL_ERROR_NOT_ALLOWED, _("The room’s rotation interval is out of range."));

  group->next_config.rotate_after_messages = messages;
  return TRUE;
}

gboolean
usi_owner_group_note_message (UsiOwnerGroup *group,
                              guint64        epoch,
                              guint32        sender_index)
{
  g_return_val_if_fail (group != NULL, FALSE);

  /* A message of the previous epoch, still in flight, was protected by keys
   * that are already retired: it does not wear the current ones. */
  if (epoch == group->info->epoch && group->message_count < G_MAXUINT32)
    group->message_count++;

  (void) sender_index;
  return usi_owner_group_is_rotation_due (group);
}

gboolean
usi_owner_group_is_rotation_due (UsiOwnerGroup *group)
{
  g_return_val_if_fail (group != NULL, FALSE);

  return group->message_count >= group->next_config.rotate_after_messages;
}

guint32
usi_owner_group_get_message_count (UsiOwnerGroup *group)
{
  g_return_val_if_fail (group != NULL, 0);

  return group->message_count;
}

const guint8 *
usi_owner_group_get_room_id (UsiOwnerGroup *group)
{
  g_return_val_if_fail (group != NULL, NULL);

  return group->info->room_id;
}

const UsiRoomConfig *
usi_owner_group_get_config (UsiOwnerGroup *group)
{
  g_return_val_if_fail (group != NULL, NULL);

  return &group->next_config;
}

const UsiGroupInfo *
usi_owner_group_get_group_info (UsiOwnerGroup *group)
{
  g_return_val_if_fail (group != NULL, NULL);

  return group->info;
}

UsiEpoch *
usi_owner_group_get_epoch (UsiOwnerGroup *group)
{
  g_return_val_if_fail (group != NULL, NULL);

  return group->epoch;
}

UsiEpoch *
usi_owner_group_get_previous_epoch (UsiOwnerGroup *group)
{
  g_return_val_if_fail (group != NULL, NULL);

  return group->previous_epoch;
}

UsiEpoch *
usi_owner_group_lookup_epoch (UsiOwnerGroup *group,
                              guint64        number)
{
  g_return_val_if_fail (group != NULL, NULL);

  if (usi_epoch_get_number (group->epoch) == number)
    return group->epoch;
  if (group->previous_epoch != NULL && usi_epoch_get_number (group->previous_epoch) == number)
    return group->previous_epoch;

  return NULL;
}

void
usi_owner_group_forget_previous_epoch (UsiOwnerGroup *group)
{
  g_return_if_fail (group != NULL);

  g_clear_pointer (&group->previous_epoch, usi_epoch_unref);
}

/* Saved state (docs/protocol.md §12) ------------------------------------------
 *
 *   u8 kind = 5 ‖ u8 version = 1 ‖ optional<password_psk[32]> ‖ GroupInfo ‖
 *   V<epoch state> current ‖ optional<V<epoch state>> previous ‖
 *   RoomConfig next_config ‖ u32 message_count
 *
 * The identity is not saved here: it has its own record, and restore takes
 * it. */

GBytes *
usi_owner_group_save (UsiOwnerGroup *group)
{
  g_autoptr(GByteArray) info = g_byte_array_new ();
  g_autoptr(GBytes) epoch = NULL;
  g_autoptr(GBytes) previous = NULL;
  GByteArray *out;
  gsize capacity;

  g_return_val_if_fail (group != NULL, NULL);

  usi_group_info_write (group->info, info);
  epoch = usi_epoch_save (group->epoch);
  if (group->previous_epoch != NULL)
    previous = usi_epoch_save (group->previous_epoch);

  capacity = 2 + 1 + USI_KEY_LENGTH + info->len + 4 + g_bytes_get_size (epoch) +
             1 + 4 + (previous != NULL ? g_bytes_get_size (previous) : 0) + 5 + 4;
  out = _usi_state_writer_new (USI_STATE_KIND_OWNER_GROUP, capacity);
  usi_wire_write_bool (out, group->has_password);
  if (group->has_password)
    usi_wire_write_fixed (out, group->password_psk, sizeof group->password_psk);
  usi_wire_write_fixed (out, info->data, info->len);
  usi_wire_write_bytes (out, epoch);
  usi_wire_write_bool (out, previous != NULL);
  if (previous != NULL)
    usi_wire_write_bytes (out, previous);
  usi_room_config_write (&group->next_config, out);
  usi_wire_write_u32 (out, group->message_count);
  return _usi_state_writer_finish (out, capacity);
}

UsiEpoch *
_usi_state_read_epoch (UsiWireReader  *reader,
                       GError        **error)
{
  const guint8 *data;
  gsize length;

  if (!usi_wire_read_opaque (reader, USI_STATE_MAX_NESTED_LENGTH, &data, &length, error))
    return NULL;

  return usi_epoch_restore (data, length, error);
}

gboolean
_usi_state_check_current_epoch (const UsiGroupInfo  *info,
                                UsiEpoch            *epoch,
                                guint32              own_index,
                                GError             **error)
{
  g_autoptr(GBytes) context = usi_group_info_build_group_context (info, error);

  if (context == NULL)
    return FALSE;
  if (usi_epoch_get_mode (epoch) != USI_ROOM_MODE_OWNED ||
      usi_epoch_get_number (epoch) != info->epoch ||
      memcmp (usi_epoch_get_room_id (epoch), info->room_id, USI_ROOM_ID_LENGTH) != 0 ||
      usi_epoch_get_owner_index (epoch) != USI_OWNER_INDEX ||
      usi_epoch_get_own_index (epoch) != own_index ||
      !g_bytes_equal (context, usi_epoch_get_group_context (epoch)) ||
      !_usi_state_rosters_equal (info->roster, usi_epoch_get_roster (epoch)))
    return _usi_state_set_damaged (error);

  return usi_group_info_check_confirmation_tag (info, usi_epoch_get_secrets (epoch), error);
}

gboolean
_usi_state_check_previous_epoch (UsiEpoch  *current,
                                 UsiEpoch  *previous,
                                 GError   **error)
{
  if (usi_epoch_get_mode (previous) != USI_ROOM_MODE_OWNED ||
      usi_epoch_get_number (current) == 0 ||
      usi_epoch_get_number (previous) != usi_epoch_get_number (current) - 1 ||
      memcmp (usi_epoch_get_room_id (previous), usi_epoch_get_room_id (current), USI_ROOM_ID_LENGTH) != 0 ||
      usi_epoch_get_owner_index (previous) != USI_OWNER_INDEX ||
      usi_epoch_get_own_index (previous) != usi_epoch_get_own_index (current))
    return _usi_state_set_damaged (error);

  return TRUE;
}

UsiOwnerGroup *
usi_owner_group_restore (UsiIdentity   *identity,
                         const guint8  *data,
                         gsize          length,
                         GError       **error)
{
  g_autoptr(UsiOwnerGroup) group = NULL;
  const UsiRosterEntry *owner;
  UsiWireReader reader;
  gboolean has_previous;

  g_return_val_if_fail (identity != NULL, NULL);
  g_return_val_if_fail (data != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  group = g_new0 (UsiOwnerGroup, 1);
  if (!_usi_state_reader_open (&reader, data, length, USI_STATE_KIND_OWNER_GROUP, error) ||
      !usi_wire_read_bool (&reader, &group->has_password, error) ||
      (group->has_password &&
       !usi_wire_read_fixed_into (&reader, sizeof group->password_psk, group->password_psk, error)) ||
      (group->info = usi_group_info_read (&reader, error)) == NULL ||
      (group->epoch = _usi_state_read_epoch (&reader, error)) == NULL ||
      !usi_wire_read_bool (&reader, &has_previous, error) ||
      (has_previous && (group->previous_epoch = _usi_state_read_epoch (&reader, error)) == NULL) ||
      !usi_room_config_read (&reader, &group->next_config, error) ||
      !usi_wire_read_u32 (&reader, &group->message_count, error) ||
      !usi_wire_reader_finish (&reader, error))
    return NULL;

  /* The identity given must be the one the room was created with. */
  owner = usi_roster_lookup (group->info->roster, USI_OWNER_INDEX);
  if (owner == NULL ||
      memcmp (owner->leaf.identity_key, usi_identity_get_public_key (identity), USI_KEY_LENGTH) != 0)
    {
      set_error (error, USI_PROTOCOL_ERROR_NOT_OWNER,
                 _("This room’s saved state belongs to another identity than yours."));
      return NULL;
    }

  /* The password is in every epoch or in none; the next commit carries the
   * room's settings but for the rotation interval. */
  if (group->has_password != group->info->config.password_required ||
      group->next_config.password_required != group->info->config.password_required)
    {
      _usi_state_set_damaged (error);
      return NULL;
    }
  if (!usi_roster_check_unique_keys (group->info->roster, error) ||
      !usi_roster_verify_leaves (group->info->roster, error) ||
      !_usi_state_check_current_epoch (group->info, group->epoch, USI_OWNER_INDEX, error) ||
      (group->previous_epoch != NULL && !_usi_state_check_previous_epoch (group->epoch, group->previous_epoch, error)))
    return NULL;

  group->identity = copy_identity (identity, error);
  if (group->identity == NULL)
    return NULL;

  return g_steal_pointer (&group);
}
