/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The Commit structure: its canonical encoding, the owner's signature, the
 * commit_secret sealed to each continuing member, and the hashes that chain
 * commits together.  No I/O here, and no decision about whether a commit is
 * acceptable: UsiMemberGroup makes those checks, in the order the spec gives. */

#define G_LOG_DOMAIN "usi-protocol"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "crypto/usi-crypto-error.h"
#include "crypto/usi-digest.h"
#include "crypto/usi-secret.h"

#include "usi-commit.h"
#include "usi-protocol-error.h"

#define COMMIT_SIGNATURE_LABEL "CommitTBS"
#define COMMIT_SECRET_LABEL    USI_LABEL_PREFIX "CommitSecret"

#define DELIVERY_LENGTH        (4 + USI_HPKE_ENC_LENGTH + USI_COMMIT_SEALED_SECRET_LENGTH)
#define DELIVERIES_MAX_LENGTH  (USI_MAX_MEMBERS * DELIVERY_LENGTH)
/* The largest GroupContext: fixed fields, room id, three hashes, the config
 * extension. */
#define GROUP_CONTEXT_MAX_LENGTH 256

static gboolean
set_error (GError     **error,
           int          code,
           const char  *message)
{
  g_set_error_literal (error, USI_PROTOCOL_ERROR, code, message);
  return FALSE;
}

static gboolean
hash_bytes (const guint8  *data,
            gsize          length,
            guint8        *hash,
            GError       **error)
{
  GError *crypto_error = NULL;

  if (!usi_hash (USI_HASH_SHA256, data, length, hash, &crypto_error))
    {
      _usi_protocol_propagate_crypto_error (error, crypto_error, USI_PROTOCOL_ERROR_MALFORMED);
      return FALSE;
    }

  return TRUE;
}

UsiCommit *
usi_commit_new (void)
{
  UsiCommit *commit = g_new0 (UsiCommit, 1);

  commit->roster = g_ptr_array_new_with_free_func ((GDestroyNotify) usi_roster_entry_free);
  commit->deliveries = g_array_new (FALSE, TRUE, sizeof (UsiCommitDelivery));
  usi_room_config_init_default (&commit->config);
  return commit;
}

void
usi_commit_free (UsiCommit *commit)
{
  if (commit == NULL)
    return;

  g_clear_pointer (&commit->roster, g_ptr_array_unref);
  g_clear_pointer (&commit->deliveries, g_array_unref);
  g_free (commit);
}

/* version ‖ room_id ‖ epoch ‖ committer_index ‖ prev_commit_hash ‖ reason ‖
 * roster ‖ config */
static void
write_header (const UsiCommit *commit,
              GByteArray      *out)
{
  usi_wire_write_u8 (out, USI_COMMIT_VERSION);
  usi_wire_write_fixed (out, commit->room_id, sizeof commit->room_id);
  usi_wire_write_u64 (out, commit->epoch);
  usi_wire_write_u32 (out, commit->committer_index);
  usi_wire_write_fixed (out, commit->prev_commit_hash, sizeof commit->prev_commit_hash);
  usi_wire_write_u8 (out, commit->reason);
  usi_roster_write (commit->roster, out);
  usi_room_config_write (&commit->config, out);
}

static void
write_deliveries (const UsiCommit *commit,
                  GByteArray      *out)
{
  g_autoptr(GByteArray) deliveries = g_byte_array_sized_new (commit->deliveries->len * DELIVERY_LENGTH);

  for (guint i = 0; i < commit->deliveries->len; i++)
    {
      const UsiCommitDelivery *delivery = &g_array_index (commit->deliveries, UsiCommitDelivery, i);

      usi_wire_write_u32 (deliveries, delivery->index);
      usi_wire_write_fixed (deliveries, delivery->enc, sizeof delivery->enc);
      usi_wire_write_fixed (deliveries, delivery->ciphertext, sizeof delivery->ciphertext);
    }
  usi_wire_write_opaque (out, deliveries->data, deliveries->len);
}

/* Everything the signature covers after the GroupContext. */
static GByteArray *
encode_content (const UsiCommit *commit)
{
  GByteArray *out = g_byte_array_sized_new (256 + commit->roster->len * 200 +
                                            commit->deliveries->len * DELIVERY_LENGTH);

  write_header (commit, out);
  write_deliveries (commit, out);
  return out;
}

GBytes *
usi_commit_encode (const UsiCommit *commit)
{
  GByteArray *out;

  g_return_val_if_fail (commit != NULL, NULL);

  out = encode_content (commit);
  usi_wire_write_fixed (out, commit->signature, sizeof commit->signature);
  usi_wire_write_fixed (out, commit->confirmation_tag, sizeof commit->confirmation_tag);
  return g_byte_array_free_to_bytes (out);
}

static gboolean
read_deliveries (UsiWireReader  *reader,
                 UsiCommit      *commit,
                 GError        **error)
{
  UsiWireReader deliveries;

  if (!usi_wire_read_vector (reader, DELIVERIES_MAX_LENGTH, &deliveries, error))
    return FALSE;

  while (!usi_wire_reader_at_end (&deliveries))
    {
      UsiCommitDelivery delivery;

      if (!usi_wire_read_u32 (&deliveries, &delivery.index, error) ||
          !usi_wire_read_fixed_into (&deliveries, sizeof delivery.enc, delivery.enc, error) ||
          !usi_wire_read_fixed_into (&deliveries, sizeof delivery.ciphertext, delivery.ciphertext, error))
        return FALSE;

      if (commit->deliveries->len > 0 &&
          delivery.index <= g_array_index (commit->deliveries, UsiCommitDelivery,
                                           commit->deliveries->len - 1).index)
        return set_error (error, USI_PROTOCOL_ERROR_ROSTER_INVALID,
                          _("The commit’s deliveries are not in order or repeat a member."));
      g_array_append_val (commit->deliveries, delivery);
    }

  /* Only continuing members get one: never more than the roster. */
  if (commit->deliveries->len > commit->roster->len)
    return set_error (error, USI_PROTOCOL_ERROR_ROSTER_INVALID,
                      _("The commit has more deliveries than members."));

  return TRUE;
}

UsiCommit *
usi_commit_decode (const guint8  *body,
                   gsize          length,
                   GError       **error)
{
  g_autoptr(UsiCommit) commit = usi_commit_new ();
  UsiWireReader reader;
  guint8 version, reason;

  g_return_val_if_fail (body != NULL || length == 0, NULL);

  usi_wire_reader_init (&reader, body, length);
  if (!usi_wire_read_u8 (&reader, &version, error))
    return NULL;
  if (version != USI_COMMIT_VERSION)
    {
      g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSUPPORTED_VERSION,
                   _("Commit version %u is not supported."), version);
      return NULL;
    }

  g_clear_pointer (&commit->roster, g_ptr_array_unref);
  if (!usi_wire_read_fixed_into (&reader, sizeof commit->room_id, commit->room_id, error) ||
      !usi_wire_read_u64 (&reader, &commit->epoch, error) ||
      !usi_wire_read_u32 (&reader, &commit->committer_index, error) ||
      !usi_wire_read_fixed_into (&reader, sizeof commit->prev_commit_hash, commit->prev_commit_hash, error) ||
      !usi_wire_read_u8 (&reader, &reason, error))
    return NULL;

  if (reason > USI_COMMIT_REASON_ROTATE ||
      (reason == USI_COMMIT_REASON_CREATE) != (commit->epoch == 0))
    {
      set_error (error, USI_PROTOCOL_ERROR_MALFORMED, _("The commit’s reason is not known."));
      return NULL;
    }
  commit->reason = reason;

  if ((commit->roster = usi_roster_read (&reader, error)) == NULL ||
      !usi_room_config_read (&reader, &commit->config, error) ||
      !read_deliveries (&reader, commit, error) ||
      !usi_wire_read_fixed_into (&reader, sizeof commit->signature, commit->signature, error) ||
      !usi_wire_read_fixed_into (&reader, sizeof commit->confirmation_tag, commit->confirmation_tag, error) ||
      !usi_wire_reader_finish (&reader, error))
    return NULL;

  return g_steal_pointer (&commit);
}

gboolean
usi_commit_compute_header_hash (const UsiCommit  *commit,
                                guint8           *hash,
                                GError          **error)
{
  g_autoptr(GByteArray) header = NULL;

  g_return_val_if_fail (commit != NULL, FALSE);
  g_return_val_if_fail (hash != NULL, FALSE);

  header = g_byte_array_sized_new (256 + commit->roster->len * 200);
  write_header (commit, header);
  return hash_bytes (header->data, header->len, hash, error);
}

/* info = EncryptContext { V<"usi 1.0 CommitSecret">, V<room_id ‖ u64 epoch ‖ u32 index> }:
 * a delivery opens only for the member, room and epoch it was sealed for. */
static GByteArray *
build_delivery_info (const UsiCommit *commit,
                     guint32          index)
{
  GByteArray *info = g_byte_array_sized_new (64);
  guint8 context[USI_ROOM_ID_LENGTH + 8 + 4];

  memcpy (context, commit->room_id, USI_ROOM_ID_LENGTH);
  for (guint i = 0; i < 8; i++)
    context[USI_ROOM_ID_LENGTH + i] = (commit->epoch >> (56 - 8 * i)) & 0xff;
  for (guint i = 0; i < 4; i++)
    context[USI_ROOM_ID_LENGTH + 8 + i] = (index >> (24 - 8 * i)) & 0xff;

  usi_wire_write_string (info, COMMIT_SECRET_LABEL);
  usi_wire_write_opaque (info, context, sizeof context);
  return info;
}

gboolean
usi_commit_seal_delivery (const UsiCommit    *commit,
                          const guint8       *header_hash,
                          guint32             index,
                          const guint8       *leaf_key,
                          const guint8       *commit_secret,
                          UsiRandom          *random,
                          UsiCommitDelivery  *delivery,
                          GError            **error)
{
  g_autoptr(GByteArray) info = NULL;
  UsiHpkeParameters parameters = { USI_HPKE_MODE_BASE, };
  GError *crypto_error = NULL;

  g_return_val_if_fail (commit != NULL, FALSE);
  g_return_val_if_fail (header_hash != NULL, FALSE);
  g_return_val_if_fail (leaf_key != NULL, FALSE);
  g_return_val_if_fail (commit_secret != NULL, FALSE);
  g_return_val_if_fail (random != NULL, FALSE);
  g_return_val_if_fail (delivery != NULL, FALSE);

  info = build_delivery_info (commit, index);
  parameters.info = info->data;
  parameters.info_length = info->len;
  delivery->index = index;
  if (!usi_hpke_seal (&parameters, random, leaf_key, NULL, header_hash, USI_HASH_LENGTH,
                      commit_secret, USI_KEY_LENGTH, delivery->enc, delivery->ciphertext,
                      &crypto_error))
    {
      /* A leaf key nothing can be sealed to (low order) is the roster's
       * fault; anything else (the random source) is reported as it is. */
      if (g_error_matches (crypto_error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_KEY))
        _usi_protocol_propagate_crypto_error (error, crypto_error, USI_PROTOCOL_ERROR_ROSTER_INVALID);
      else
        g_propagate_error (error, crypto_error);
      return FALSE;
    }

  return TRUE;
}

const UsiCommitDelivery *
usi_commit_lookup_delivery (const UsiCommit *commit,
                            guint32          index)
{
  guint low = 0, high;

  g_return_val_if_fail (commit != NULL, NULL);

  high = commit->deliveries->len;
  while (low < high)
    {
      guint middle = low + (high - low) / 2;
      const UsiCommitDelivery *delivery = &g_array_index (commit->deliveries, UsiCommitDelivery, middle);

      if (delivery->index == index)
        return delivery;
      if (delivery->index < index)
        low = middle + 1;
      else
        high = middle;
    }

  return NULL;
}

gboolean
usi_commit_open_delivery (const UsiCommit          *commit,
                          const guint8             *header_hash,
                          const UsiCommitDelivery  *delivery,
                          const guint8             *private_key,
                          guint8                   *commit_secret,
                          GError                  **error)
{
  g_autoptr(GByteArray) info = NULL;
  UsiHpkeParameters parameters = { USI_HPKE_MODE_BASE, };
  GError *crypto_error = NULL;

  g_return_val_if_fail (commit != NULL, FALSE);
  g_return_val_if_fail (header_hash != NULL, FALSE);
  g_return_val_if_fail (delivery != NULL, FALSE);
  g_return_val_if_fail (private_key != NULL, FALSE);
  g_return_val_if_fail (commit_secret != NULL, FALSE);

  info = build_delivery_info (commit, delivery->index);
  parameters.info = info->data;
  parameters.info_length = info->len;
  if (!usi_hpke_open (&parameters, delivery->enc, private_key, NULL, header_hash, USI_HASH_LENGTH,
                      delivery->ciphertext, sizeof delivery->ciphertext, commit_secret,
                      &crypto_error))
    {
      g_clear_error (&crypto_error);
      return set_error (error, USI_PROTOCOL_ERROR_DECRYPTION_FAILED,
                        _("The room’s new key could not be opened with this member’s key."));
    }

  return TRUE;
}

static GByteArray *
build_signed_content (const UsiCommit  *commit,
                      GBytes           *previous_group_context,
                      GError          **error)
{
  g_autoptr(GByteArray) content = NULL;
  g_autoptr(GByteArray) tbs = NULL;
  gsize context_length;
  const guint8 *context = g_bytes_get_data (previous_group_context, &context_length);

  if (context_length > GROUP_CONTEXT_MAX_LENGTH)
    {
      set_error (error, USI_PROTOCOL_ERROR_TOO_LARGE, _("The room’s context is larger than allowed."));
      return NULL;
    }

  content = encode_content (commit);
  tbs = g_byte_array_sized_new (content->len + context_length + 4);
  usi_wire_write_opaque (tbs, context, context_length);
  usi_wire_write_fixed (tbs, content->data, content->len);
  return g_steal_pointer (&tbs);
}

gboolean
usi_commit_sign (UsiCommit    *commit,
                 UsiIdentity  *identity,
                 GBytes       *previous_group_context,
                 GError      **error)
{
  g_autoptr(GByteArray) tbs = NULL;

  g_return_val_if_fail (commit != NULL, FALSE);
  g_return_val_if_fail (identity != NULL, FALSE);
  g_return_val_if_fail (previous_group_context != NULL, FALSE);

  tbs = build_signed_content (commit, previous_group_context, error);
  if (tbs == NULL)
    return FALSE;

  return usi_identity_sign (identity, COMMIT_SIGNATURE_LABEL, tbs->data, tbs->len,
                            commit->signature, error);
}

gboolean
usi_commit_verify (const UsiCommit  *commit,
                   const guint8     *identity_key,
                   GBytes           *previous_group_context,
                   GError          **error)
{
  g_autoptr(GByteArray) tbs = NULL;

  g_return_val_if_fail (commit != NULL, FALSE);
  g_return_val_if_fail (identity_key != NULL, FALSE);
  g_return_val_if_fail (previous_group_context != NULL, FALSE);

  tbs = build_signed_content (commit, previous_group_context, error);
  if (tbs == NULL)
    return FALSE;

  return usi_identity_verify (identity_key, COMMIT_SIGNATURE_LABEL, tbs->data, tbs->len,
                              commit->signature, error);
}

gboolean
usi_commit_compute_confirmed_transcript_hash (const UsiCommit  *commit,
                                              const guint8     *previous_interim,
                                              guint8           *hash,
                                              GError          **error)
{
  g_autoptr(GByteArray) input = NULL;
  g_autoptr(GByteArray) content = NULL;

  g_return_val_if_fail (commit != NULL, FALSE);
  g_return_val_if_fail (hash != NULL, FALSE);

  content = encode_content (commit);
  input = g_byte_array_sized_new (USI_HASH_LENGTH + content->len + USI_SIGNATURE_LENGTH);
  if (previous_interim != NULL)
    usi_wire_write_fixed (input, previous_interim, USI_HASH_LENGTH);
  usi_wire_write_fixed (input, content->data, content->len);
  usi_wire_write_fixed (input, commit->signature, sizeof commit->signature);
  return hash_bytes (input->data, input->len, hash, error);
}

gboolean
usi_commit_compute_hash (const UsiCommit  *commit,
                         guint8           *hash,
                         GError          **error)
{
  g_autoptr(GBytes) body = NULL;
  const guint8 *data;
  gsize length;

  g_return_val_if_fail (commit != NULL, FALSE);
  g_return_val_if_fail (hash != NULL, FALSE);

  body = usi_commit_encode (commit);
  data = g_bytes_get_data (body, &length);
  return hash_bytes (data, length, hash, error);
}

UsiGroupInfo *
usi_commit_build_group_info (const UsiCommit  *commit,
                             const guint8     *confirmed_transcript_hash,
                             GError          **error)
{
  g_autoptr(UsiGroupInfo) info = usi_group_info_new ();

  g_return_val_if_fail (commit != NULL, NULL);
  g_return_val_if_fail (confirmed_transcript_hash != NULL, NULL);

  memcpy (info->room_id, commit->room_id, sizeof info->room_id);
  info->epoch = commit->epoch;
  g_ptr_array_unref (info->roster);
  info->roster = usi_roster_copy (commit->roster);
  info->config = commit->config;
  memcpy (info->confirmed_transcript_hash, confirmed_transcript_hash, USI_HASH_LENGTH);
  memcpy (info->confirmation_tag, commit->confirmation_tag, sizeof info->confirmation_tag);
  if (!usi_commit_compute_hash (commit, info->commit_hash, error))
    return NULL;

  return g_steal_pointer (&info);
}

/* The roster of epoch n + 1 against that of epoch n (§7.8 steps 10–13): who stays, who goes,
 * who comes, and whose leaf changed, as the commit's reason allows.  Leaf
 * nodes that are new to us are verified; unchanged ones were verified when
 * they first appeared. */
gboolean
usi_commit_check_roster_change (const UsiCommit  *commit,
                                GPtrArray        *previous_roster,
                                const guint8     *owner_key,
                                GError          **error)
{
  g_autoptr(GPtrArray) to_verify = g_ptr_array_new ();
  GPtrArray *old_roster = previous_roster;
  GPtrArray *new_roster = commit->roster;
  guint n_added = 0, n_removed = 0, n_changed = 0;
  guint i = 0, j = 0;
  gboolean allowed;

  if (!usi_roster_check_unique_keys (new_roster, error) ||
      !usi_roster_check_owner (new_roster, owner_key, error))
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

      /* The same index in both epochs: the same person, under the same name. */
      if (memcmp (old_entry->leaf.identity_key, new_entry->leaf.identity_key, USI_KEY_LENGTH) != 0 ||
          strcmp (old_entry->display_name, new_entry->display_name) != 0)
        return set_error (error, USI_PROTOCOL_ERROR_ROSTER_INVALID,
                          _("The commit replaces a member without removing it first."));
      if (!usi_leaf_node_equal (&old_entry->leaf, &new_entry->leaf))
        {
          if (new_entry->leaf.sequence <= old_entry->leaf.sequence)
            return set_error (error, USI_PROTOCOL_ERROR_ROSTER_INVALID,
                              _("The commit gives a member an older key than it has."));
          n_changed++;
          g_ptr_array_add (to_verify, (gpointer) &new_entry->leaf);
        }
      i++;
      j++;
    }

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

/* Exactly the members present in both epochs, but the owner, get one. */
gboolean
usi_commit_check_deliveries (const UsiCommit  *commit,
                             GPtrArray        *previous_roster,
                             GError          **error)
{
  guint next_delivery = 0;

  for (guint i = 0; i < commit->roster->len; i++)
    {
      const UsiRosterEntry *entry = g_ptr_array_index (commit->roster, i);
      const UsiCommitDelivery *delivery;

      if (entry->index == USI_OWNER_INDEX || usi_roster_lookup (previous_roster, entry->index) == NULL)
        continue;

      if (next_delivery >= commit->deliveries->len)
        goto mismatch;
      delivery = &g_array_index (commit->deliveries, UsiCommitDelivery, next_delivery);
      if (delivery->index != entry->index)
        goto mismatch;
      next_delivery++;
    }

  if (next_delivery == commit->deliveries->len)
    return TRUE;

mismatch:
  return set_error (error, USI_PROTOCOL_ERROR_ROSTER_INVALID,
                    _("The commit does not deliver the new key to exactly the members who stay."));
}

gboolean
usi_commit_check_follows (const UsiCommit     *commit,
                          const UsiGroupInfo  *current,
                          GError             **error)
{
  guint8 hash[USI_HASH_LENGTH];

  g_return_val_if_fail (commit != NULL, FALSE);
  g_return_val_if_fail (current != NULL, FALSE);

  if (memcmp (commit->room_id, current->room_id, USI_ROOM_ID_LENGTH) != 0)
    return set_error (error, USI_PROTOCOL_ERROR_WRONG_ROOM, _("The commit is for another room."));
  if (commit->committer_index != USI_OWNER_INDEX)
    return set_error (error, USI_PROTOCOL_ERROR_NOT_OWNER, _("Only the room’s owner can change the room."));

  if (commit->epoch <= current->epoch)
    {
      if (commit->epoch < current->epoch)
        return set_error (error, USI_PROTOCOL_ERROR_WRONG_EPOCH, _("The commit is for an epoch already past."));
      if (!usi_commit_compute_hash (commit, hash, error))
        return FALSE;
      if (memcmp (hash, current->commit_hash, USI_HASH_LENGTH) == 0)
        return set_error (error, USI_PROTOCOL_ERROR_DUPLICATE, _("The commit was already applied."));
      /* Two different commits for one epoch: the owner or the relay showed
       * members different histories. */
      return set_error (error, USI_PROTOCOL_ERROR_CHAIN_BROKEN,
                        _("A second, different change for the current epoch arrived: the room’s history has forked."));
    }
  if (commit->epoch > current->epoch + 1)
    return set_error (error, USI_PROTOCOL_ERROR_EPOCH_NOT_YET, _("An earlier commit is missing."));
  if (memcmp (commit->prev_commit_hash, current->commit_hash, USI_HASH_LENGTH) != 0)
    return set_error (error, USI_PROTOCOL_ERROR_CHAIN_BROKEN,
                      _("The commit does not follow the last one: the room’s history has forked."));

  return TRUE;
}
