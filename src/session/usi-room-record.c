/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The encrypted store's room records and history chunks (docs/protocol.md
 * §12), in the canonical encoding of §3: versioned, every length bounded
 * before it is read, every byte used.  A record that does not decode is
 * refused, never repaired.  No I/O here. */

#define G_LOG_DOMAIN "usi-session"

#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "crypto/usi-secret.h"
#include "protocol/usi-protocol-error.h"
#include "protocol/usi-wire.h"

#include "usi-room-record.h"

#define ROOM_RECORD_VERSION     1
#define HISTORY_VERSION         1
#define MAX_NAME                256
#define MAX_ADDRESS             255
#define MAX_STATE               (16 * 1024 * 1024)
#define MAX_FRAME               (2 * 1024 * 1024)
#define MAX_OUTBOX              4096
#define MAX_TEXT                (64 * 1024)

UsiRoomRecord *
usi_room_record_new (void)
{
  UsiRoomRecord *record = g_new0 (UsiRoomRecord, 1);

  record->outbox = g_ptr_array_new_with_free_func ((GDestroyNotify) usi_room_outbox_entry_free);
  return record;
}

void
usi_room_outbox_entry_free (UsiRoomOutboxEntry *entry)
{
  if (entry == NULL)
    return;
  g_clear_pointer (&entry->frame, g_bytes_unref);
  g_free (entry);
}

void
usi_room_record_free (UsiRoomRecord *record)
{
  if (record == NULL)
    return;

  g_free (record->name);
  g_free (record->connect_address);
  g_free (record->invite_address);
  g_clear_pointer (&record->state, g_bytes_unref);
  g_clear_pointer (&record->invite_book, g_bytes_unref);
  g_clear_pointer (&record->channel, g_bytes_unref);
  g_clear_pointer (&record->outbox, g_ptr_array_unref);
  usi_leaf_secret_clear (&record->own_leaf);
  usi_secret_wipe (record->password_secret, sizeof record->password_secret);
  g_free (record);
}

static void
write_optional_bytes (GByteArray *out,
                      GBytes     *bytes)
{
  if (bytes != NULL)
    usi_wire_write_bytes (out, bytes);
  else
    usi_wire_write_opaque (out, NULL, 0);
}

GBytes *
usi_room_record_encode (const UsiRoomRecord *record)
{
  GByteArray *out = g_byte_array_new ();
  gsize length;

  g_return_val_if_fail (record != NULL, NULL);

  usi_wire_write_u8 (out, ROOM_RECORD_VERSION);
  usi_wire_write_u8 (out, record->kind);
  usi_wire_write_string (out, record->name != NULL ? record->name : "");
  usi_wire_write_string (out, record->connect_address != NULL ? record->connect_address : "");
  usi_wire_write_string (out, record->invite_address != NULL ? record->invite_address : "");
  usi_wire_write_bool (out, record->pinned);
  usi_wire_write_fixed (out, record->pin, sizeof record->pin);
  usi_wire_write_bool (out, record->relay_unauthenticated);
  usi_wire_write_u64 (out, record->position);
  write_optional_bytes (out, record->state);
  write_optional_bytes (out, record->invite_book);
  write_optional_bytes (out, record->channel);
  usi_leaf_node_write (&record->own_leaf.node, out);
  usi_wire_write_fixed (out, record->own_leaf.private_key, sizeof record->own_leaf.private_key);
  usi_wire_write_bool (out, record->has_password);
  usi_wire_write_fixed (out, record->password_secret, sizeof record->password_secret);

  usi_wire_write_u32 (out, record->outbox->len);
  for (guint i = 0; i < record->outbox->len; i++)
    {
      const UsiRoomOutboxEntry *entry = g_ptr_array_index (record->outbox, i);

      usi_wire_write_bool (out, entry->has_recipient);
      usi_wire_write_fixed (out, entry->recipient, sizeof entry->recipient);
      usi_wire_write_u32 (out, entry->message_index);
      usi_wire_write_bytes (out, entry->frame);
    }

  length = out->len;
  return usi_secret_bytes_new_take (g_byte_array_free (out, FALSE), length);
}

static gboolean
malformed (GError     **error,
           const char  *message)
{
  g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED, message);
  return FALSE;
}

/* An empty V<> means "none". */
static gboolean
read_optional_bytes (UsiWireReader  *reader,
                     GBytes        **bytes,
                     GError        **error)
{
  const guint8 *data;
  gsize length;

  if (!usi_wire_read_opaque (reader, MAX_STATE, &data, &length, error))
    return FALSE;
  *bytes = length > 0 ? usi_secret_bytes_new (data, length) : NULL;
  return TRUE;
}

UsiRoomRecord *
usi_room_record_decode (GBytes  *bytes,
                        GError **error)
{
  g_autoptr(UsiRoomRecord) record = usi_room_record_new ();
  UsiWireReader reader;
  gsize length;
  const guint8 *data = g_bytes_get_data (bytes, &length);
  guint8 version;
  guint8 kind;
  guint32 n_outbox;

  usi_wire_reader_init (&reader, data, length);
  if (!usi_wire_read_u8 (&reader, &version, error))
    return NULL;
  if (version != ROOM_RECORD_VERSION)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSUPPORTED_VERSION,
                           _("A room was saved by another version of Usi."));
      return NULL;
    }

  if (!usi_wire_read_u8 (&reader, &kind, error) ||
      !usi_wire_read_string_dup (&reader, MAX_NAME, &record->name, error) ||
      !usi_wire_read_string_dup (&reader, MAX_ADDRESS, &record->connect_address, error) ||
      !usi_wire_read_string_dup (&reader, MAX_ADDRESS, &record->invite_address, error) ||
      !usi_wire_read_bool (&reader, &record->pinned, error) ||
      !usi_wire_read_fixed_into (&reader, sizeof record->pin, record->pin, error) ||
      !usi_wire_read_bool (&reader, &record->relay_unauthenticated, error) ||
      !usi_wire_read_u64 (&reader, &record->position, error) ||
      !read_optional_bytes (&reader, &record->state, error) ||
      !read_optional_bytes (&reader, &record->invite_book, error) ||
      !read_optional_bytes (&reader, &record->channel, error) ||
      !usi_leaf_node_read (&reader, &record->own_leaf.node, error) ||
      !usi_wire_read_fixed_into (&reader, sizeof record->own_leaf.private_key,
                                 record->own_leaf.private_key, error) ||
      !usi_wire_read_bool (&reader, &record->has_password, error) ||
      !usi_wire_read_fixed_into (&reader, sizeof record->password_secret, record->password_secret, error) ||
      !usi_wire_read_u32 (&reader, &n_outbox, error))
    return NULL;

  if (kind < USI_ROOM_RECORD_OWNER || kind > USI_ROOM_RECORD_PRESHARED)
    {
      malformed (error, _("A saved room is of an unknown kind."));
      return NULL;
    }
  record->kind = kind;
  if (record->state == NULL || *record->connect_address == '\0' ||
      (kind != USI_ROOM_RECORD_PRESHARED && record->channel == NULL) ||
      (kind == USI_ROOM_RECORD_OWNER && (record->invite_book == NULL || *record->invite_address == '\0')))
    {
      malformed (error, _("A saved room lacks part of its state."));
      return NULL;
    }
  if (n_outbox > MAX_OUTBOX)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE,
                           _("A saved room has too many messages waiting to be sent."));
      return NULL;
    }

  for (guint32 i = 0; i < n_outbox; i++)
    {
      UsiRoomOutboxEntry *entry = g_new0 (UsiRoomOutboxEntry, 1);
      const guint8 *frame;
      gsize frame_length;

      g_ptr_array_add (record->outbox, entry);
      if (!usi_wire_read_bool (&reader, &entry->has_recipient, error) ||
          !usi_wire_read_fixed_into (&reader, sizeof entry->recipient, entry->recipient, error) ||
          !usi_wire_read_u32 (&reader, &entry->message_index, error) ||
          !usi_wire_read_opaque (&reader, MAX_FRAME, &frame, &frame_length, error))
        return NULL;
      if (frame_length == 0)
        {
          malformed (error, _("A saved room has an empty message waiting to be sent."));
          return NULL;
        }
      entry->frame = g_bytes_new (frame, frame_length);
    }

  if (!usi_wire_reader_finish (&reader, error))
    return NULL;

  return g_steal_pointer (&record);
}

void
usi_room_history_entry_clear (UsiRoomHistoryEntry *entry)
{
  g_clear_pointer (&entry->sender_name, g_free);
  if (entry->text != NULL)
    {
      usi_secret_wipe (entry->text, strlen (entry->text));
      g_clear_pointer (&entry->text, g_free);
    }
}

GBytes *
usi_room_history_encode (const UsiRoomHistoryEntry *entries,
                         guint                      n_entries)
{
  GByteArray *out = g_byte_array_new ();
  gsize length;

  g_return_val_if_fail (n_entries <= USI_ROOM_HISTORY_CHUNK, NULL);

  usi_wire_write_u8 (out, HISTORY_VERSION);
  usi_wire_write_u32 (out, n_entries);
  for (guint i = 0; i < n_entries; i++)
    {
      const UsiRoomHistoryEntry *entry = &entries[i];

      usi_wire_write_u32 (out, entry->sender_index);
      usi_wire_write_string (out, entry->sender_name);
      usi_wire_write_fixed (out, entry->sender_key, sizeof entry->sender_key);
      usi_wire_write_string (out, entry->text);
      usi_wire_write_u64 (out, (guint64) entry->sent_ms);
      usi_wire_write_u64 (out, (guint64) entry->received_ms);
      usi_wire_write_u64 (out, entry->epoch);
      usi_wire_write_u64 (out, entry->seq);
      usi_wire_write_bool (out, entry->is_own);
      usi_wire_write_bool (out, entry->gap_before);
      usi_wire_write_u8 (out, entry->state);
    }

  length = out->len;
  return usi_secret_bytes_new_take (g_byte_array_free (out, FALSE), length);
}

GArray *
usi_room_history_decode (GBytes  *bytes,
                         GError **error)
{
  g_autoptr(GArray) entries = g_array_new (FALSE, TRUE, sizeof (UsiRoomHistoryEntry));
  UsiWireReader reader;
  gsize length;
  const guint8 *data = g_bytes_get_data (bytes, &length);
  guint8 version;
  guint32 n_entries;

  g_array_set_clear_func (entries, (GDestroyNotify) usi_room_history_entry_clear);
  usi_wire_reader_init (&reader, data, length);
  if (!usi_wire_read_u8 (&reader, &version, error))
    return NULL;
  if (version != HISTORY_VERSION)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSUPPORTED_VERSION,
                           _("A room’s history was saved by another version of Usi."));
      return NULL;
    }
  if (!usi_wire_read_u32 (&reader, &n_entries, error))
    return NULL;
  if (n_entries > USI_ROOM_HISTORY_CHUNK)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE,
                           _("A part of a room’s history holds too many messages."));
      return NULL;
    }

  for (guint32 i = 0; i < n_entries; i++)
    {
      UsiRoomHistoryEntry entry = { 0 };
      guint64 sent_ms, received_ms;

      g_array_append_val (entries, entry);
      if (!usi_wire_read_u32 (&reader, &g_array_index (entries, UsiRoomHistoryEntry, i).sender_index, error) ||
          !usi_wire_read_string_dup (&reader, MAX_NAME, &g_array_index (entries, UsiRoomHistoryEntry, i).sender_name, error) ||
          !usi_wire_read_fixed_into (&reader, 32, g_array_index (entries, UsiRoomHistoryEntry, i).sender_key, error) ||
          !usi_wire_read_string_dup (&reader, MAX_TEXT, &g_array_index (entries, UsiRoomHistoryEntry, i).text, error) ||
          !usi_wire_read_u64 (&reader, &sent_ms, error) ||
          !usi_wire_read_u64 (&reader, &received_ms, error) ||
          !usi_wire_read_u64 (&reader, &g_array_index (entries, UsiRoomHistoryEntry, i).epoch, error) ||
          !usi_wire_read_u64 (&reader, &g_array_index (entries, UsiRoomHistoryEntry, i).seq, error) ||
          !usi_wire_read_bool (&reader, &g_array_index (entries, UsiRoomHistoryEntry, i).is_own, error) ||
          !usi_wire_read_bool (&reader, &g_array_index (entries, UsiRoomHistoryEntry, i).gap_before, error) ||
          !usi_wire_read_u8 (&reader, &g_array_index (entries, UsiRoomHistoryEntry, i).state, error))
        return NULL;
      g_array_index (entries, UsiRoomHistoryEntry, i).sent_ms = (gint64) sent_ms;
      g_array_index (entries, UsiRoomHistoryEntry, i).received_ms = (gint64) received_ms;
      if (g_array_index (entries, UsiRoomHistoryEntry, i).state > 3)
        {
          malformed (error, _("A message in a room’s history has an unknown state."));
          return NULL;
        }
    }

  if (!usi_wire_reader_finish (&reader, error))
    return NULL;

  return g_steal_pointer (&entries);
}
