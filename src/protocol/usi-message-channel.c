/* SPDX-License-Identifier: GPL-3.0-or-later */

/* A room's message state across epochs: which epoch a message may belong to,
 * the chain of this member's own messages, and per-sender records to report
 * gaps.  Replays and forward jumps are refused by the ratchets themselves
 * (usi-message.c).  Must never keep an epoch's keys longer than its window.
 * No I/O, no clock: times are arguments. */

#define G_LOG_DOMAIN "usi-protocol"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "crypto/usi-mls-varint.h"
#include "crypto/usi-secret.h"

#include "usi-message-channel.h"
#include "usi-message-private.h"
#include "usi-preshared-room.h"
#include "usi-preshared-room-private.h"
#include "usi-protocol-error.h"

/* One received message of a sender, to link its neighbours' prev_hash. */
typedef struct
{
  gboolean used;
  guint32  generation;
  guint8   message_hash[USI_HASH_LENGTH];
  guint8   prev_hash[USI_HASH_LENGTH];
} ChainRecord;

/* A sender's latest generations, each in the slot generation % window, and
 * one past the highest generation that authenticated. */
typedef struct
{
  ChainRecord records[USI_MESSAGE_GAP_WINDOW];
  guint64     authenticated_next;
} SenderChain;

typedef struct
{
  UsiEpoch         *epoch;
  GHashTable       *senders;             /* sender index → SenderChain */
  /* Pre-shared epochs only: sender index → its one-leaf UsiMlsSecretTree,
   * kept only for senders whose messages verified (and this member), so
   * forged frames cannot make this grow. */
  GHashTable       *preshared_ratchets;
  guint8            own_last_hash[USI_HASH_LENGTH];  /* zeros before the first */
  guint64           open_until_ms;       /* the previous epoch only */
} EpochSlot;

struct _UsiMessageChannel
{
  EpochSlot *current;
  EpochSlot *previous;
};

static SenderChain *
lookup_chain (EpochSlot *slot,
              guint32    sender_index,
              gboolean   create)
{
  SenderChain *chain = g_hash_table_lookup (slot->senders, GUINT_TO_POINTER (sender_index));

  if (chain == NULL && create)
    {
      chain = g_new0 (SenderChain, 1);
      g_hash_table_insert (slot->senders, GUINT_TO_POINTER (sender_index), chain);
    }

  return chain;
}

static void
epoch_slot_free (EpochSlot *slot)
{
  if (slot == NULL)
    return;

  g_clear_pointer (&slot->preshared_ratchets, g_hash_table_unref);
  g_clear_pointer (&slot->epoch, usi_epoch_unref);
  g_clear_pointer (&slot->senders, g_hash_table_unref);
  g_free (slot);
}

static EpochSlot *
epoch_slot_new (UsiEpoch  *epoch,
                GError   **error)
{
  EpochSlot *slot = g_new0 (EpochSlot, 1);

  slot->epoch = usi_epoch_ref (epoch);
  slot->senders = g_hash_table_new_full (NULL, NULL, NULL, g_free);

  if (usi_epoch_get_mode (epoch) == USI_ROOM_MODE_PRESHARED)
    {
      guint32 own_index = usi_epoch_get_own_index (epoch);
      UsiMlsSecretTree *own = _usi_preshared_sender_ratchets_new (usi_epoch_get_secrets (epoch)->encryption_secret,
                                                                  own_index, error);

      slot->preshared_ratchets = g_hash_table_new_full (NULL, NULL, NULL,
                                                        (GDestroyNotify) usi_mls_secret_tree_free);
      if (own == NULL)
        {
          epoch_slot_free (slot);
          return NULL;
        }
      g_hash_table_insert (slot->preshared_ratchets, GUINT_TO_POINTER (own_index), own);
    }

  return slot;
}

UsiMessageChannel *
usi_message_channel_new (UsiEpoch  *epoch,
                         GError   **error)
{
  UsiMessageChannel *channel;
  EpochSlot *slot;

  g_return_val_if_fail (epoch != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  slot = epoch_slot_new (epoch, error);
  if (slot == NULL)
    return NULL;

  channel = g_new0 (UsiMessageChannel, 1);
  channel->current = slot;
  return channel;
}

/* The tree and leaf holding @sender_index's ratchet in @slot.  In a
 * pre-shared epoch a sender not seen yet gets a new tree, *created set,
 * which the caller keeps only if the message verifies. */
static UsiMlsSecretTree *
lookup_ratchets (EpochSlot  *slot,
                 guint32     sender_index,
                 guint32    *leaf,
                 gboolean   *created,
                 GError    **error)
{
  UsiMlsSecretTree *ratchets;

  *created = FALSE;
  if (slot->preshared_ratchets == NULL)
    {
      *leaf = sender_index;
      return usi_epoch_get_secret_tree (slot->epoch);
    }

  *leaf = 0;
  ratchets = g_hash_table_lookup (slot->preshared_ratchets, GUINT_TO_POINTER (sender_index));
  if (ratchets != NULL)
    return ratchets;

  if (sender_index >= USI_PRESHARED_INDEX_LIMIT)
    {
      g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_MEMBER,
                   _("Member %u cannot exist in a pre-shared-key room."), sender_index);
      return NULL;
    }
  if (g_hash_table_size (slot->preshared_ratchets) >= USI_MAX_MEMBERS)
    {
      g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_ROSTER_INVALID,
                   _("This room already has %u members, the most a room can have."), (guint) USI_MAX_MEMBERS);
      return NULL;
    }

  *created = TRUE;
  return _usi_preshared_sender_ratchets_new (usi_epoch_get_secrets (slot->epoch)->encryption_secret,
                                             sender_index, error);
}

void
usi_message_channel_free (UsiMessageChannel *channel)
{
  if (channel == NULL)
    return;

  g_clear_pointer (&channel->current, epoch_slot_free);
  g_clear_pointer (&channel->previous, epoch_slot_free);
  g_free (channel);
}

UsiEpoch *
usi_message_channel_get_epoch (UsiMessageChannel *channel)
{
  g_return_val_if_fail (channel != NULL, NULL);

  return channel->current->epoch;
}

UsiEpoch *
usi_message_channel_get_previous_epoch (UsiMessageChannel *channel)
{
  g_return_val_if_fail (channel != NULL, NULL);

  return channel->previous != NULL ? channel->previous->epoch : NULL;
}

gboolean
usi_message_channel_advance (UsiMessageChannel  *channel,
                             UsiEpoch           *epoch,
                             guint64             now_ms,
                             GError            **error)
{
  UsiEpoch *current;

  g_return_val_if_fail (channel != NULL, FALSE);
  g_return_val_if_fail (epoch != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  current = channel->current->epoch;
  if (usi_epoch_get_mode (current) == USI_ROOM_MODE_PRESHARED ||
      usi_epoch_get_mode (epoch) != usi_epoch_get_mode (current))
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_ALLOWED,
                           _("A room with a pre-shared key has a single epoch."));
      return FALSE;
    }
  if (memcmp (usi_epoch_get_room_id (epoch), usi_epoch_get_room_id (current), USI_ROOM_ID_LENGTH) != 0)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_ROOM,
                           _("The new epoch belongs to another room."));
      return FALSE;
    }
  if (usi_epoch_get_number (current) == G_MAXUINT64 ||
      usi_epoch_get_number (epoch) != usi_epoch_get_number (current) + 1)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_EPOCH,
                           _("The new epoch does not follow the current one."));
      return FALSE;
    }

  g_clear_pointer (&channel->previous, epoch_slot_free);
  channel->previous = g_steal_pointer (&channel->current);
  channel->previous->open_until_ms = now_ms > G_MAXUINT64 - USI_MESSAGE_EPOCH_GRACE_MS
                                     ? G_MAXUINT64 : now_ms + USI_MESSAGE_EPOCH_GRACE_MS;
  channel->current = epoch_slot_new (epoch, NULL);
  g_assert (channel->current != NULL);
  return TRUE;
}

void
usi_message_channel_forget_previous (UsiMessageChannel *channel)
{
  g_return_if_fail (channel != NULL);

  g_clear_pointer (&channel->previous, epoch_slot_free);
}

GBytes *
usi_message_channel_seal (UsiMessageChannel  *channel,
                          UsiIdentity        *sender,
                          UsiContentType      content_type,
                          const guint8       *body,
                          gsize               body_length,
                          guint64             sent_ms,
                          UsiRandom          *random,
                          GError            **error)
{
  EpochSlot *slot;
  UsiMlsSecretTree *ratchets;
  guint8 message_hash[USI_HASH_LENGTH];
  guint32 own_index, leaf;
  gboolean created;
  GBytes *sealed;

  g_return_val_if_fail (channel != NULL, NULL);
  g_return_val_if_fail (sender != NULL, NULL);
  g_return_val_if_fail (body != NULL || body_length == 0, NULL);
  g_return_val_if_fail (random != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  slot = channel->current;
  own_index = usi_epoch_get_own_index (slot->epoch);
  ratchets = lookup_ratchets (slot, own_index, &leaf, &created, error);
  if (ratchets == NULL)
    return NULL;
  /* This member's own pre-shared ratchet exists from the start. */
  g_assert (!created);

  sealed = _usi_app_message_seal (slot->epoch, ratchets, leaf, sender, content_type, body, body_length,
                                  slot->own_last_hash, sent_ms, random, message_hash, error);
  if (sealed != NULL)
    {
      memcpy (slot->own_last_hash, message_hash, sizeof message_hash);
      lookup_chain (slot, own_index, TRUE)->authenticated_next =
        usi_mls_secret_tree_get_next_generation (ratchets, USI_MLS_RATCHET_APPLICATION, leaf);
    }

  return sealed;
}

/* Whether @identity_key is in @epoch's roster. */
static gboolean
roster_has_identity (UsiEpoch     *epoch,
                     const guint8 *identity_key)
{
  GPtrArray *roster = usi_epoch_get_roster (epoch);

  for (guint i = 0; i < roster->len; i++)
    {
      const UsiRosterEntry *entry = g_ptr_array_index (roster, i);

      if (memcmp (entry->leaf.identity_key, identity_key, USI_KEY_LENGTH) == 0)
        return TRUE;
    }

  return FALSE;
}

/* The slot a message of @header belongs to, or NULL with the reason. */
static EpochSlot *
select_slot (UsiMessageChannel          *channel,
             const UsiAppMessageHeader  *header,
             guint64                     now_ms,
             GError                    **error)
{
  UsiEpoch *current = channel->current->epoch;
  EpochSlot *previous = channel->previous;
  const UsiRosterEntry *sender;

  if (memcmp (header->room_id, usi_epoch_get_room_id (current), USI_ROOM_ID_LENGTH) != 0)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_ROOM,
                           _("The message belongs to another room."));
      return NULL;
    }

  if (previous != NULL && now_ms > previous->open_until_ms)
    {
      /* Its window is over: its keys go now. */
      g_clear_pointer (&channel->previous, epoch_slot_free);
      previous = NULL;
    }

  if (header->epoch == usi_epoch_get_number (current))
    return channel->current;

  if (header->epoch > usi_epoch_get_number (current))
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_EPOCH_NOT_YET,
                           _("The message belongs to an epoch that has not started here yet."));
      return NULL;
    }

  if (previous == NULL || header->epoch != usi_epoch_get_number (previous->epoch))
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_EPOCH_TOO_OLD,
                           _("The message belongs to an epoch that has ended."));
      return NULL;
    }

  /* The grace is for members still in the room whose messages crossed the
   * commit; someone the new epoch removed gets none. */
  sender = usi_epoch_lookup_member (previous->epoch, header->sender_index);
  if (sender != NULL && !roster_has_identity (current, sender->leaf.identity_key))
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_MEMBER,
                           _("The sender is no longer a member of this room."));
      return NULL;
    }

  return previous;
}

static ChainRecord *
lookup_record (SenderChain *chain,
               guint64      generation)
{
  ChainRecord *record;

  if (generation > G_MAXUINT32)
    return NULL;

  record = &chain->records[generation % USI_MESSAGE_GAP_WINDOW];
  return record->used && record->generation == generation ? record : NULL;
}

/* Records @message in its sender's chain and says whether messages may be
 * missing around it: its predecessor has not arrived (or is too old to
 * tell), or a neighbour's prev_hash does not name the message it follows. */
static gboolean
record_and_check_gap (EpochSlot                *slot,
                      const UsiReceivedMessage *message)
{
  static const guint8 no_previous[USI_HASH_LENGTH] = { 0 };
  SenderChain *chain = lookup_chain (slot, message->sender_index, TRUE);
  ChainRecord *predecessor, *successor, *record;
  gboolean gap;

  chain->authenticated_next = MAX (chain->authenticated_next, (guint64) message->generation + 1);

  if (message->generation == 0)
    {
      gap = memcmp (message->prev_hash, no_previous, USI_HASH_LENGTH) != 0;
    }
  else
    {
      predecessor = lookup_record (chain, (guint64) message->generation - 1);
      gap = predecessor == NULL ||
            memcmp (predecessor->message_hash, message->prev_hash, USI_HASH_LENGTH) != 0;
    }

  successor = lookup_record (chain, (guint64) message->generation + 1);
  if (successor != NULL && memcmp (successor->prev_hash, message->message_hash, USI_HASH_LENGTH) != 0)
    gap = TRUE;

  /* A late message does not push out a newer one sharing its slot. */
  record = &chain->records[message->generation % USI_MESSAGE_GAP_WINDOW];
  if (!record->used || record->generation < message->generation)
    {
      record->used = TRUE;
      record->generation = message->generation;
      memcpy (record->message_hash, message->message_hash, USI_HASH_LENGTH);
      memcpy (record->prev_hash, message->prev_hash, USI_HASH_LENGTH);
    }

  return gap;
}

UsiReceivedMessage *
usi_message_channel_open (UsiMessageChannel  *channel,
                          const guint8       *data,
                          gsize               length,
                          guint64             now_ms,
                          GError            **error)
{
  UsiReceivedMessage *message;
  UsiAppMessageHeader header;
  const guint8 *ciphertext;
  gsize ciphertext_length;
  EpochSlot *slot;
  SenderChain *chain;
  UsiMlsSecretTree *ratchets;
  guint64 authenticated_next, own_next = 0;
  guint32 leaf;
  gboolean from_own_index, created;
  GError *local_error = NULL;

  g_return_val_if_fail (channel != NULL, NULL);
  g_return_val_if_fail (data != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!usi_app_message_parse (data, length, &header, &ciphertext, &ciphertext_length, error))
    return NULL;

  slot = select_slot (channel, &header, now_ms, error);
  if (slot == NULL)
    return NULL;

  /* Nothing is created for a sender before one of its messages verifies:
   * forged frames must not grow this state either. */
  chain = lookup_chain (slot, header.sender_index, FALSE);
  authenticated_next = chain != NULL ? chain->authenticated_next : 0;
  if (header.generation >= authenticated_next + USI_MESSAGE_MAX_JUMP)
    {
      g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_FAR_AHEAD,
                   _("Message %u is too far ahead of the messages received."), header.generation);
      return NULL;
    }

  ratchets = lookup_ratchets (slot, header.sender_index, &leaf, &created, error);
  if (ratchets == NULL)
    return NULL;

  from_own_index = header.sender_index == usi_epoch_get_own_index (slot->epoch);
  if (from_own_index)
    own_next = usi_mls_secret_tree_get_next_generation (ratchets, USI_MLS_RATCHET_APPLICATION, leaf);

  message = _usi_app_message_open (slot->epoch, ratchets, leaf, data, length, &local_error);
  if (created)
    {
      if (message != NULL)
        g_hash_table_insert (slot->preshared_ratchets, GUINT_TO_POINTER (header.sender_index), ratchets);
      else
        usi_mls_secret_tree_free (ratchets);
    }
  if (message == NULL)
    {
      /* Our own message from before a restore verified (it was at or past
       * our ratchet): that is authenticated progress too. */
      if (from_own_index && header.generation >= own_next &&
          g_error_matches (local_error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_REFLECTED))
        lookup_chain (slot, header.sender_index, TRUE)->authenticated_next =
          MAX (authenticated_next, (guint64) header.generation + 1);
      g_propagate_error (error, local_error);
      return NULL;
    }

  message->gap = record_and_check_gap (slot, message);
  return message;
}

guint
usi_message_channel_get_n_preshared_ratchets (UsiMessageChannel *channel)
{
  g_return_val_if_fail (channel != NULL, 0);

  return channel->current->preshared_ratchets != NULL ? g_hash_table_size (channel->current->preshared_ratchets) : 0;
}

char *
usi_message_describe_gap (const char *sender_name)
{
  g_return_val_if_fail (sender_name != NULL, NULL);

  /* Translators: %s is a member's display name */
  return g_strdup_printf (_("Messages may be missing from %s."), sender_name);
}

/* Saved state (docs/protocol.md §12) ------------------------------------------
 *
 *   u8 kind = 3 ‖ u8 version = 1 ‖ room_id[16] ‖ Slot current ‖
 *   optional<Slot previous ‖ u64 open_until_ms>
 *   Slot   = u64 epoch ‖ own_last_hash[32] ‖ V<Sender> ‖ optional<V<Ratchets>>
 *   Sender = u32 index ‖ u64 authenticated_next ‖ V<ChainRecord>
 *   ChainRecord = u32 generation ‖ message_hash[32] ‖ prev_hash[32]
 *   Ratchets = u32 index ‖ V<secret tree>       (pre-shared epochs only)
 *
 * Senders and ratchets by ascending index, records by ascending slot. */

#define STATE_RECORD_LENGTH      (4 + 2 * USI_HASH_LENGTH)
#define STATE_RECORDS_MAX_LENGTH (USI_MESSAGE_GAP_WINDOW * STATE_RECORD_LENGTH)
#define STATE_SENDER_MAX_LENGTH  (4 + 8 + 2 + STATE_RECORDS_MAX_LENGTH)
#define STATE_SENDERS_MAX_LENGTH (USI_MAX_MEMBERS * STATE_SENDER_MAX_LENGTH)

static int
compare_uint_pointers (gconstpointer a,
                       gconstpointer b)
{
  guint first = GPOINTER_TO_UINT (a);
  guint second = GPOINTER_TO_UINT (b);

  return first < second ? -1 : first > second;
}

static void
write_senders (EpochSlot  *slot,
               GByteArray *out)
{
  g_autoptr(GByteArray) senders = g_byte_array_sized_new (g_hash_table_size (slot->senders) * STATE_SENDER_MAX_LENGTH);
  g_autoptr(GList) indices = g_list_sort (g_hash_table_get_keys (slot->senders), compare_uint_pointers);

  for (GList *l = indices; l != NULL; l = l->next)
    {
      const SenderChain *chain = g_hash_table_lookup (slot->senders, l->data);
      g_autoptr(GByteArray) records = g_byte_array_sized_new (STATE_RECORDS_MAX_LENGTH);

      for (guint i = 0; i < USI_MESSAGE_GAP_WINDOW; i++)
        {
          const ChainRecord *record = &chain->records[i];

          if (!record->used)
            continue;
          usi_wire_write_u32 (records, record->generation);
          usi_wire_write_fixed (records, record->message_hash, sizeof record->message_hash);
          usi_wire_write_fixed (records, record->prev_hash, sizeof record->prev_hash);
        }

      usi_wire_write_u32 (senders, GPOINTER_TO_UINT (l->data));
      usi_wire_write_u64 (senders, chain->authenticated_next);
      usi_wire_write_opaque (senders, records->data, records->len);
    }

  usi_wire_write_opaque (out, senders->data, senders->len);
}

/* The pre-shared ratchets, each saved: index → GBytes. */
static GPtrArray *
save_ratchets (EpochSlot *slot,
               GList    **indices,
               gsize     *length)
{
  GPtrArray *saved = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);

  *indices = g_list_sort (g_hash_table_get_keys (slot->preshared_ratchets), compare_uint_pointers);
  *length = 0;
  for (GList *l = *indices; l != NULL; l = l->next)
    {
      GBytes *tree = usi_mls_secret_tree_save (g_hash_table_lookup (slot->preshared_ratchets, l->data));
      gsize tree_length = g_bytes_get_size (tree);

      /* u32 index ‖ V<tree>: exactly, since the vector's length comes first. */
      *length += 4 + (tree_length < 64 ? 1 : tree_length < 16384 ? 2 : 4) + tree_length;
      g_ptr_array_add (saved, tree);
    }

  return saved;
}

/* The slot's part of the record: @capacity says how large it may be. */
static GByteArray *
save_slot (EpochSlot *slot,
           gsize     *capacity)
{
  g_autoptr(GByteArray) senders = g_byte_array_new ();
  g_autoptr(GPtrArray) trees = NULL;
  g_autoptr(GList) indices = NULL;
  gsize trees_length = 0;
  GByteArray *out;

  write_senders (slot, senders);
  if (slot->preshared_ratchets != NULL)
    trees = save_ratchets (slot, &indices, &trees_length);

  *capacity = 8 + USI_HASH_LENGTH + senders->len + 1 + 4 + trees_length;
  out = _usi_state_buffer_new (*capacity);
  usi_wire_write_u64 (out, usi_epoch_get_number (slot->epoch));
  usi_wire_write_fixed (out, slot->own_last_hash, sizeof slot->own_last_hash);
  usi_wire_write_fixed (out, senders->data, senders->len);
  usi_wire_write_bool (out, trees != NULL);
  if (trees != NULL)
    {
      /* Written in place: the trees are secret, so no buffer of their
       * concatenation is made. */
      GList *l = indices;
      gsize start;

      g_assert (trees_length <= USI_STATE_MAX_NESTED_LENGTH);
      if (!usi_mls_varint_append (out, (guint32) trees_length, NULL))
        g_assert_not_reached ();
      start = out->len;
      for (guint i = 0; i < trees->len; i++, l = l->next)
        {
          usi_wire_write_u32 (out, GPOINTER_TO_UINT (l->data));
          usi_wire_write_bytes (out, g_ptr_array_index (trees, i));
        }
      g_assert (out->len - start == trees_length);
    }

  g_assert (out->len <= *capacity);
  return out;
}

GBytes *
usi_message_channel_save (UsiMessageChannel *channel)
{
  GByteArray *current, *previous = NULL;
  gsize current_capacity, previous_capacity = 0, capacity;
  GByteArray *out;

  g_return_val_if_fail (channel != NULL, NULL);

  current = save_slot (channel->current, &current_capacity);
  if (channel->previous != NULL)
    previous = save_slot (channel->previous, &previous_capacity);

  capacity = 2 + USI_ROOM_ID_LENGTH + current_capacity + 1 + previous_capacity + 8;
  out = _usi_state_writer_new (USI_STATE_KIND_MESSAGE_CHANNEL, capacity);
  usi_wire_write_fixed (out, usi_epoch_get_room_id (channel->current->epoch), USI_ROOM_ID_LENGTH);
  usi_wire_write_fixed (out, current->data, current->len);
  usi_wire_write_bool (out, previous != NULL);
  if (previous != NULL)
    {
      usi_wire_write_fixed (out, previous->data, previous->len);
      usi_wire_write_u64 (out, channel->previous->open_until_ms);
    }

  _usi_state_buffer_free (current);
  _usi_state_buffer_free (previous);
  return _usi_state_writer_finish (out, capacity);
}

static gboolean
read_senders (UsiWireReader  *reader,
              EpochSlot      *slot,
              GError        **error)
{
  gboolean preshared = usi_epoch_get_mode (slot->epoch) == USI_ROOM_MODE_PRESHARED;
  UsiWireReader senders;
  guint64 previous_index = 0;
  gboolean first = TRUE;

  if (!usi_wire_read_vector (reader, STATE_SENDERS_MAX_LENGTH, &senders, error))
    return FALSE;

  while (!usi_wire_reader_at_end (&senders))
    {
      UsiWireReader records;
      SenderChain *chain;
      guint32 index;
      guint64 authenticated_next;
      gint previous_slot = -1;

      if (!usi_wire_read_u32 (&senders, &index, error) ||
          !usi_wire_read_u64 (&senders, &authenticated_next, error) ||
          !usi_wire_read_vector (&senders, STATE_RECORDS_MAX_LENGTH, &records, error))
        return FALSE;

      /* Only a member of the epoch has a chain: one whose message
       * authenticated, or this member. */
      if ((!first && index <= previous_index) ||
          authenticated_next > G_GUINT64_CONSTANT (1) << 32 ||
          (preshared ? index >= USI_PRESHARED_INDEX_LIMIT
                     : usi_epoch_lookup_member (slot->epoch, index) == NULL))
        return _usi_state_set_damaged (error);
      first = FALSE;
      previous_index = index;

      chain = lookup_chain (slot, index, TRUE);
      chain->authenticated_next = authenticated_next;
      while (!usi_wire_reader_at_end (&records))
        {
          ChainRecord *record;
          guint32 generation;

          if (!usi_wire_read_u32 (&records, &generation, error))
            return FALSE;
          if ((gint) (generation % USI_MESSAGE_GAP_WINDOW) <= previous_slot ||
              generation >= authenticated_next)
            return _usi_state_set_damaged (error);
          previous_slot = (gint) (generation % USI_MESSAGE_GAP_WINDOW);

          record = &chain->records[previous_slot];
          record->used = TRUE;
          record->generation = generation;
          if (!usi_wire_read_fixed_into (&records, sizeof record->message_hash, record->message_hash, error) ||
              !usi_wire_read_fixed_into (&records, sizeof record->prev_hash, record->prev_hash, error))
            return FALSE;
        }
    }

  return TRUE;
}

static gboolean
read_ratchets (UsiWireReader  *reader,
               EpochSlot      *slot,
               GError        **error)
{
  UsiWireReader ratchets;
  guint64 previous_index = 0;
  gboolean first = TRUE;

  if (!usi_wire_read_vector (reader, USI_STATE_MAX_NESTED_LENGTH, &ratchets, error))
    return FALSE;

  while (!usi_wire_reader_at_end (&ratchets))
    {
      UsiMlsSecretTree *tree;
      GError *crypto_error = NULL;
      const guint8 *data;
      gsize length;
      guint32 index;

      if (!usi_wire_read_u32 (&ratchets, &index, error) ||
          !usi_wire_read_opaque (&ratchets, USI_STATE_MAX_NESTED_LENGTH, &data, &length, error))
        return FALSE;
      if ((!first && index <= previous_index) || index >= USI_PRESHARED_INDEX_LIMIT ||
          g_hash_table_size (slot->preshared_ratchets) >= USI_MAX_MEMBERS)
        return _usi_state_set_damaged (error);
      first = FALSE;
      previous_index = index;

      tree = usi_mls_secret_tree_restore (USI_LABEL_PREFIX, data, length, &crypto_error);
      if (tree == NULL)
        {
          _usi_protocol_propagate_crypto_error (error, crypto_error, USI_PROTOCOL_ERROR_MALFORMED);
          return FALSE;
        }
      g_hash_table_insert (slot->preshared_ratchets, GUINT_TO_POINTER (index), tree);
      /* One sender's ratchets: a tree of one leaf (§9.3). */
      if (usi_mls_secret_tree_get_n_leaves (tree) != 1)
        return _usi_state_set_damaged (error);
    }

  return TRUE;
}

static EpochSlot *
restore_slot (UsiWireReader  *reader,
              UsiEpoch       *epoch,
              GError        **error)
{
  EpochSlot *slot = g_new0 (EpochSlot, 1);
  gboolean preshared = usi_epoch_get_mode (epoch) == USI_ROOM_MODE_PRESHARED;
  gboolean has_ratchets;
  guint64 number;

  slot->epoch = usi_epoch_ref (epoch);
  slot->senders = g_hash_table_new_full (NULL, NULL, NULL, g_free);

  if (!usi_wire_read_u64 (reader, &number, error))
    goto failed;
  if (number != usi_epoch_get_number (epoch))
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_EPOCH,
                           _("The saved messages of this room belong to another epoch than its saved keys."));
      goto failed;
    }

  if (!usi_wire_read_fixed_into (reader, sizeof slot->own_last_hash, slot->own_last_hash, error) ||
      !read_senders (reader, slot, error) ||
      !usi_wire_read_bool (reader, &has_ratchets, error))
    goto failed;

  /* The senders' ratchets are the channel's in a pre-shared epoch only,
   * this member's among them, and every sender with a chain has one. */
  if (has_ratchets != preshared)
    {
      _usi_state_set_damaged (error);
      goto failed;
    }
  if (preshared)
    {
      GHashTableIter iter;
      gpointer index;

      slot->preshared_ratchets = g_hash_table_new_full (NULL, NULL, NULL,
                                                        (GDestroyNotify) usi_mls_secret_tree_free);
      if (!read_ratchets (reader, slot, error))
        goto failed;

      g_hash_table_iter_init (&iter, slot->senders);
      while (g_hash_table_iter_next (&iter, &index, NULL))
        if (!g_hash_table_contains (slot->preshared_ratchets, index))
          {
            _usi_state_set_damaged (error);
            goto failed;
          }
      if (!g_hash_table_contains (slot->preshared_ratchets,
                                  GUINT_TO_POINTER (usi_epoch_get_own_index (epoch))))
        {
          _usi_state_set_damaged (error);
          goto failed;
        }
    }

  return slot;

failed:
  epoch_slot_free (slot);
  return NULL;
}

UsiMessageChannel *
usi_message_channel_restore (const guint8  *data,
                             gsize          length,
                             UsiEpoch      *epoch,
                             UsiEpoch      *previous_epoch,
                             GError       **error)
{
  g_autoptr(UsiMessageChannel) channel = NULL;
  const guint8 *room_id;
  UsiWireReader reader;
  gboolean has_previous;

  g_return_val_if_fail (data != NULL || length == 0, NULL);
  g_return_val_if_fail (epoch != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!_usi_state_reader_open (&reader, data, length, USI_STATE_KIND_MESSAGE_CHANNEL, error) ||
      !usi_wire_read_fixed (&reader, USI_ROOM_ID_LENGTH, &room_id, error))
    return NULL;
  if (memcmp (room_id, usi_epoch_get_room_id (epoch), USI_ROOM_ID_LENGTH) != 0)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_ROOM,
                           _("The saved messages belong to another room than the keys given."));
      return NULL;
    }

  channel = g_new0 (UsiMessageChannel, 1);
  channel->current = restore_slot (&reader, epoch, error);
  if (channel->current == NULL ||
      !usi_wire_read_bool (&reader, &has_previous, error))
    return NULL;

  /* The channel may have let go of the previous epoch (its window ended)
   * while the group still holds it: then the one given is not used. */
  if (has_previous)
    {
      if (previous_epoch == NULL || usi_epoch_get_mode (epoch) != USI_ROOM_MODE_OWNED ||
          usi_epoch_get_mode (previous_epoch) != USI_ROOM_MODE_OWNED ||
          usi_epoch_get_number (epoch) == 0 ||
          usi_epoch_get_number (previous_epoch) != usi_epoch_get_number (epoch) - 1)
        {
          g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_EPOCH,
                               _("The saved messages need the room’s previous epoch, which was not given."));
          return NULL;
        }
      if (memcmp (usi_epoch_get_room_id (previous_epoch), room_id, USI_ROOM_ID_LENGTH) != 0)
        {
          g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_ROOM,
                               _("The saved messages belong to another room than the keys given."));
          return NULL;
        }
      channel->previous = restore_slot (&reader, previous_epoch, error);
      if (channel->previous == NULL ||
          !usi_wire_read_u64 (&reader, &channel->previous->open_until_ms, error))
        return NULL;
    }

  if (!usi_wire_reader_finish (&reader, error))
    return NULL;

  return g_steal_pointer (&channel);
}
