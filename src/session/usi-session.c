/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The session: this person's identity (kept in the encrypted store), its
 * display name, its rooms, one link per relay, and the in-process relay
 * when it hosts one.  It routes what each link delivers to the room it is
 * for.  Slow work (the store, scrypt) runs in threads; everything else on
 * the main context the session was made on.  Never logs a key, a password
 * or a message. */

#define G_LOG_DOMAIN "usi-session"

#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "crypto/usi-safety-number.h"
#include "crypto/usi-secret.h"
#include "net/usi-relay-link.h"
#include "net/usi-relay-store.h"
#include "net/usi-relay.h"
#include "net/usi-tls-identity.h"
#include "protocol/usi-display-name.h"
#include "protocol/usi-group-info.h"
#include "protocol/usi-invite.h"
#include "protocol/usi-join.h"
#include "protocol/usi-owner-group.h"
#include "protocol/usi-preshared-room.h"
#include "protocol/usi-protocol-error.h"
#include "protocol/usi-wire.h"

#include "usi-room-private.h"
#include "usi-room-record.h"
#include "usi-session-error.h"
#include "usi-session-private.h"

#define IDENTITY_RECORD  "identity"
#define TRUST_RECORD     "trust"
#define TRUST_VERSION    1
#define MAX_TRUST_RECORDS 100000

struct _UsiSession
{
  GObject      parent_instance;

  UsiStore    *store;
  UsiIdentity *identity;
  char        *display_name;
  UsiTrust    *trust;
  GListStore  *rooms;
  GHashTable  *links;            /* "address pin-hex" → UsiRelayLink */
  GHashTable  *safety_numbers;   /* identity key hex → SafetyNumber */

  gboolean     offline;
  UsiRelay    *relay;            /* in-process, when hosting with a listen address */
  char        *relay_listen_address;
  char        *relay_pin_hex;
};

enum {
  SIGNAL_ROOM_ADDED,
  SIGNAL_CONNECTION_CHANGED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (UsiSession, usi_session, G_TYPE_OBJECT)

static void add_room (UsiSession *self,
                      UsiRoom    *room);

typedef struct
{
  char *number;
  char *emoji;
} SafetyNumber;

static void
safety_number_free (SafetyNumber *safety)
{
  g_free (safety->number);
  g_free (safety->emoji);
  g_free (safety);
}

static guint64
now_ms (void)
{
  return (guint64) (g_get_real_time () / 1000);
}

static char *
hex_encode (const guint8 *bytes,
            gsize         length)
{
  GString *hex = g_string_sized_new (2 * length);

  for (gsize i = 0; i < length; i++)
    g_string_append_printf (hex, "%02x", bytes[i]);
  return g_string_free (hex, FALSE);
}

static void
usi_session_dispose (GObject *object)
{
  UsiSession *self = USI_SESSION (object);

  usi_session_shutdown (self);

  G_OBJECT_CLASS (usi_session_parent_class)->dispose (object);
}

static void
usi_session_finalize (GObject *object)
{
  UsiSession *self = USI_SESSION (object);

  g_clear_object (&self->store);
  g_clear_pointer (&self->identity, usi_identity_free);
  g_clear_pointer (&self->trust, usi_trust_free);
  g_free (self->display_name);
  g_clear_object (&self->rooms);
  g_clear_pointer (&self->links, g_hash_table_unref);
  g_clear_pointer (&self->safety_numbers, g_hash_table_unref);
  g_free (self->relay_listen_address);
  g_free (self->relay_pin_hex);

  G_OBJECT_CLASS (usi_session_parent_class)->finalize (object);
}

static void
usi_session_class_init (UsiSessionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = usi_session_dispose;
  object_class->finalize = usi_session_finalize;

  signals[SIGNAL_ROOM_ADDED] =
    g_signal_new ("room-added", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, USI_TYPE_ROOM);
  signals[SIGNAL_CONNECTION_CHANGED] =
    g_signal_new ("connection-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 3, G_TYPE_STRING, G_TYPE_BOOLEAN, G_TYPE_ERROR);
}

static void
usi_session_init (UsiSession *self)
{
  self->rooms = g_list_store_new (USI_TYPE_ROOM);
  self->links = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->safety_numbers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                                (GDestroyNotify) safety_number_free);
}

/* Trust records in the store ------------------------------------------------ */

typedef struct
{
  GByteArray *out;
  guint       count;
} TrustWriter;

static void
write_trust_record (const guint8 *room_id,
                    const char   *display_name,
                    const guint8 *identity_key,
                    gboolean      verified,
                    gpointer      user_data)
{
  TrustWriter *writer = user_data;

  usi_wire_write_fixed (writer->out, room_id, 16);
  usi_wire_write_string (writer->out, display_name);
  usi_wire_write_fixed (writer->out, identity_key, 32);
  usi_wire_write_bool (writer->out, verified);
  writer->count++;
}

static GBytes *
encode_trust (UsiTrust *trust)
{
  g_autoptr(GByteArray) records = g_byte_array_new ();
  g_autoptr(GByteArray) out = g_byte_array_new ();
  TrustWriter writer = { records, 0 };

  usi_trust_foreach (trust, write_trust_record, &writer);
  usi_wire_write_u8 (out, TRUST_VERSION);
  usi_wire_write_u32 (out, writer.count);
  g_byte_array_append (out, records->data, records->len);

  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

static UsiTrust *
decode_trust (GBytes  *bytes,
              GError **error)
{
  g_autoptr(UsiTrust) trust = usi_trust_new ();
  UsiWireReader reader;
  gsize length;
  const guint8 *data = g_bytes_get_data (bytes, &length);
  guint8 version;
  guint32 count;

  usi_wire_reader_init (&reader, data, length);
  if (!usi_wire_read_u8 (&reader, &version, error) ||
      !usi_wire_read_u32 (&reader, &count, error))
    return NULL;
  if (version != TRUST_VERSION || count > MAX_TRUST_RECORDS)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                           _("The verification records are from another version of Usi."));
      return NULL;
    }

  for (guint32 i = 0; i < count; i++)
    {
      guint8 room_id[16];
      guint8 identity_key[32];
      g_autofree char *name = NULL;
      gboolean verified;

      if (!usi_wire_read_fixed_into (&reader, sizeof room_id, room_id, error) ||
          !usi_wire_read_string_dup (&reader, 128, &name, error) ||
          !usi_wire_read_fixed_into (&reader, sizeof identity_key, identity_key, error) ||
          !usi_wire_read_bool (&reader, &verified, error))
        return NULL;
      if (verified)
        usi_trust_mark_verified (trust, room_id, name, identity_key);
      else
        usi_trust_accept_key (trust, room_id, name, identity_key);
    }

  if (!usi_wire_reader_finish (&reader, error))
    return NULL;

  return g_steal_pointer (&trust);
}

void
_usi_session_save_trust (UsiSession *self)
{
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;

  g_return_if_fail (USI_IS_SESSION (self));

  /* A few hundred bytes, encrypted and written at once: small enough for
   * the main thread, and a verification must not be lost to a crash. */
  bytes = encode_trust (self->trust);
  if (!usi_store_put (self->store, TRUST_RECORD, bytes, &error))
    g_warning ("Could not save the verification records: %s", error->message);
}

/* Creation ------------------------------------------------------------------ */

typedef struct
{
  UsiRoomRecord *record;
  GArray        *history;   /* UsiRoomHistoryEntry */
} SavedRoom;

static void
saved_room_free (SavedRoom *saved)
{
  g_clear_pointer (&saved->record, usi_room_record_free);
  g_clear_pointer (&saved->history, g_array_unref);
  g_free (saved);
}

typedef struct
{
  UsiStore    *store;
  char        *display_name;
  UsiIdentity *identity;
  UsiTrust    *trust;
  GPtrArray   *rooms;       /* SavedRoom */
} NewData;

static void
new_data_free (NewData *data)
{
  g_clear_pointer (&data->rooms, g_ptr_array_unref);
  g_clear_object (&data->store);
  g_free (data->display_name);
  g_clear_pointer (&data->identity, usi_identity_free);
  g_clear_pointer (&data->trust, usi_trust_free);
  g_free (data);
}

static UsiIdentity *
load_or_create_identity (UsiStore  *store,
                         GError   **error)
{
  g_autoptr(GBytes) seed = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GBytes) record = NULL;
  UsiIdentity *identity;
  guint8 fresh[32];

  seed = usi_store_get (store, IDENTITY_RECORD, &local_error);
  if (seed != NULL)
    {
      if (g_bytes_get_size (seed) != 32)
        {
          g_set_error_literal (error, USI_STORE_ERROR, USI_STORE_ERROR_CORRUPT,
                               _("The stored identity is damaged."));
          return NULL;
        }
      return usi_identity_new_from_seed (g_bytes_get_data (seed, NULL), error);
    }
  if (!g_error_matches (local_error, USI_STORE_ERROR, USI_STORE_ERROR_NOT_FOUND))
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }

  identity = usi_identity_generate (usi_random_get_system (), error);
  if (identity == NULL)
    return NULL;

  usi_identity_export_seed (identity, fresh);
  record = g_bytes_new (fresh, sizeof fresh);
  usi_secret_wipe (fresh, sizeof fresh);
  if (!usi_store_put (store, IDENTITY_RECORD, record, error))
    {
      usi_identity_free (identity);
      return NULL;
    }
  return identity;
}

/* Every saved room and its history.  A record that does not decode is an
 * error naming it: rooms are never silently dropped or reset. */
static GPtrArray *
load_rooms (UsiStore  *store,
            GError   **error)
{
  g_autoptr(GPtrArray) rooms = g_ptr_array_new_with_free_func ((GDestroyNotify) saved_room_free);
  g_auto(GStrv) ids = usi_store_list (store, error);

  if (ids == NULL)
    return NULL;

  for (guint i = 0; ids[i] != NULL; i++)
    {
      g_autoptr(GBytes) bytes = NULL;
      g_autoptr(GError) local_error = NULL;
      SavedRoom *saved;

      if (!g_str_has_prefix (ids[i], "room-"))
        continue;

      bytes = usi_store_get (store, ids[i], error);
      if (bytes == NULL)
        return NULL;
      saved = g_new0 (SavedRoom, 1);
      g_ptr_array_add (rooms, saved);
      saved->record = usi_room_record_decode (bytes, &local_error);
      if (saved->record == NULL)
        {
          g_set_error (error, USI_STORE_ERROR, USI_STORE_ERROR_CORRUPT,
                       _("The saved room “%s” cannot be read: %s"), ids[i], local_error->message);
          return NULL;
        }

      saved->history = g_array_new (FALSE, TRUE, sizeof (UsiRoomHistoryEntry));
      g_array_set_clear_func (saved->history, (GDestroyNotify) usi_room_history_entry_clear);
      for (guint chunk = 0; ; chunk++)
        {
          g_autofree char *id = g_strdup_printf ("history-%s-%u", ids[i] + strlen ("room-"), chunk);
          g_autoptr(GBytes) history = usi_store_get (store, id, &local_error);
          g_autoptr(GArray) entries = NULL;

          if (history == NULL)
            {
              if (g_error_matches (local_error, USI_STORE_ERROR, USI_STORE_ERROR_NOT_FOUND))
                {
                  g_clear_error (&local_error);
                  break;
                }
              g_propagate_error (error, g_steal_pointer (&local_error));
              return NULL;
            }
          entries = usi_room_history_decode (history, &local_error);
          if (entries == NULL)
            {
              g_set_error (error, USI_STORE_ERROR, USI_STORE_ERROR_CORRUPT,
                           _("The saved history “%s” cannot be read: %s"), id, local_error->message);
              return NULL;
            }
          /* Move the entries: the chunk's array must not clear them. */
          g_array_append_vals (saved->history, entries->data, entries->len);
          g_array_set_clear_func (entries, NULL);
        }
    }

  return g_steal_pointer (&rooms);
}

static void
new_in_thread (GTask        *task,
               gpointer      source_object,
               gpointer      task_data,
               GCancellable *cancellable)
{
  NewData *data = task_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) trust = NULL;

  data->identity = load_or_create_identity (data->store, &error);
  if (data->identity == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  trust = usi_store_get (data->store, TRUST_RECORD, &error);
  if (trust != NULL)
    data->trust = decode_trust (trust, &error);
  else if (g_error_matches (error, USI_STORE_ERROR, USI_STORE_ERROR_NOT_FOUND))
    {
      g_clear_error (&error);
      data->trust = usi_trust_new ();
    }
  if (data->trust == NULL)
    {
      /* Damaged verification records are refused, never reset: a reset
       * would hide a key change from a verified member. */
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  data->rooms = load_rooms (data->store, &error);
  if (data->rooms == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  g_task_return_boolean (task, TRUE);
}

void
usi_session_new_async (UsiStore            *store,
                       const char          *display_name,
                       GCancellable        *cancellable,
                       GAsyncReadyCallback  callback,
                       gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  NewData *data;
  char *normalized;

  g_return_if_fail (USI_IS_STORE (store));
  g_return_if_fail (display_name != NULL);

  task = g_task_new (NULL, cancellable, callback, user_data);
  g_task_set_source_tag (task, usi_session_new_async);

  normalized = usi_display_name_normalize (display_name, &error);
  if (normalized == NULL)
    {
      g_task_return_new_error (task, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                               _("This display name cannot be used: %s"), error->message);
      return;
    }

  data = g_new0 (NewData, 1);
  data->store = g_object_ref (store);
  data->display_name = normalized;
  g_task_set_task_data (task, data, (GDestroyNotify) new_data_free);
  g_task_run_in_thread (task, new_in_thread);
}

UsiSession *
usi_session_new_finish (GAsyncResult  *result,
                        GError       **error)
{
  UsiSession *self;
  NewData *data;

  g_return_val_if_fail (g_task_is_valid (result, NULL), NULL);

  if (!g_task_propagate_boolean (G_TASK (result), error))
    return NULL;

  data = g_task_get_task_data (G_TASK (result));
  self = g_object_new (USI_TYPE_SESSION, NULL);
  self->store = g_steal_pointer (&data->store);
  self->display_name = g_steal_pointer (&data->display_name);
  self->identity = g_steal_pointer (&data->identity);
  self->trust = g_steal_pointer (&data->trust);

  for (guint i = 0; i < data->rooms->len; i++)
    {
      SavedRoom *saved = g_ptr_array_index (data->rooms, i);
      g_autoptr(UsiRoom) room = _usi_room_restore (self, saved->record, saved->history, error);

      if (room == NULL)
        {
          g_prefix_error (error, _("A saved room cannot be restored: "));
          usi_session_shutdown (self);
          g_object_unref (self);
          return NULL;
        }
      add_room (self, room);
    }
  for (guint i = 0; i < g_list_model_get_n_items (G_LIST_MODEL (self->rooms)); i++)
    {
      g_autoptr(UsiRoom) room = g_list_model_get_item (G_LIST_MODEL (self->rooms), i);

      _usi_room_resume (room);
    }

  return self;
}

/* Borrowed by rooms ------------------------------------------------------------ */

UsiIdentity *
_usi_session_get_identity (UsiSession *self)
{
  g_return_val_if_fail (USI_IS_SESSION (self), NULL);
  return self->identity;
}

UsiRandom *
_usi_session_get_random (UsiSession *self)
{
  return usi_random_get_system ();
}

UsiTrust *
_usi_session_get_trust (UsiSession *self)
{
  g_return_val_if_fail (USI_IS_SESSION (self), NULL);
  return self->trust;
}

gboolean
_usi_session_get_safety_number (UsiSession   *self,
                                const guint8 *identity_key,
                                const char  **safety_number,
                                const char  **emoji)
{
  g_autofree char *key_hex = hex_encode (identity_key, 32);
  SafetyNumber *safety = g_hash_table_lookup (self->safety_numbers, key_hex);

  if (safety == NULL)
    {
      const guint8 *own_key = usi_identity_get_public_key (self->identity);
      UsiSafetyIdentity mine = { own_key, 32, own_key, 32 };
      UsiSafetyIdentity theirs = { identity_key, 32, identity_key, 32 };
      g_autofree char *digits = usi_safety_number_compute (&mine, &theirs, NULL);

      if (digits == NULL)
        return FALSE;

      safety = g_new0 (SafetyNumber, 1);
      safety->number = usi_safety_number_format (digits);
      safety->emoji = usi_safety_emoji_compute_string (&mine, &theirs, NULL);
      if (safety->emoji == NULL)
        safety->emoji = g_strdup ("");
      g_hash_table_insert (self->safety_numbers, g_steal_pointer (&key_hex), safety);
    }

  *safety_number = safety->number;
  *emoji = safety->emoji;
  return TRUE;
}

gboolean
_usi_session_keeps_state (UsiSession *self)
{
  g_return_val_if_fail (USI_IS_SESSION (self), FALSE);
  return usi_store_get_mode (self->store) != USI_STORE_MODE_KEEP_NOTHING;
}

gboolean
_usi_session_put_record (UsiSession  *self,
                         const char  *id,
                         GBytes      *bytes,
                         GError     **error)
{
  g_return_val_if_fail (USI_IS_SESSION (self), FALSE);

  /* A room's record is a few kilobytes, encrypted and written at once:
   * small enough for the main thread, and a sealed message must be saved
   * before it leaves (the ratchet that sealed it has moved on). */
  return usi_store_put (self->store, id, bytes, error);
}

/* Links ---------------------------------------------------------------------- */

static UsiRoom *
find_room (UsiSession   *self,
           UsiRelayLink *link,
           const guint8 *room_id)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->rooms));

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(UsiRoom) room = g_list_model_get_item (G_LIST_MODEL (self->rooms), i);

      if (_usi_room_get_link (room) == link && memcmp (usi_room_get_id (room), room_id, 16) == 0)
        return room;   /* the store keeps it alive */
    }
  return NULL;
}

static void
on_link_deliver (UsiRelayLink *link,
                 GBytes       *room_id,
                 guint64       seq,
                 guint         frame_type,
                 GBytes       *frame,
                 UsiSession   *self)
{
  UsiRoom *room;

  if (g_bytes_get_size (room_id) != 16)
    return;

  room = find_room (self, link, g_bytes_get_data (room_id, NULL));
  if (room != NULL)
    _usi_room_handle_deliver (room, seq, frame_type, frame);
}

static void
on_link_subscription_refused (UsiRelayLink *link,
                              GBytes       *room_id,
                              GError       *error,
                              UsiSession   *self)
{
  UsiRoom *room;

  if (g_bytes_get_size (room_id) != 16)
    return;

  room = find_room (self, link, g_bytes_get_data (room_id, NULL));
  if (room != NULL)
    _usi_room_handle_subscription_refused (room, error);
}

static void
on_link_state (UsiRelayLink *link,
               GParamSpec   *pspec,
               UsiSession   *self)
{
  UsiRelayLinkState state = usi_relay_link_get_state (link);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->rooms));

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(UsiRoom) room = g_list_model_get_item (G_LIST_MODEL (self->rooms), i);

      if (_usi_room_get_link (room) == link)
        _usi_room_handle_link_state (room, state);
    }

  if (state == USI_RELAY_LINK_CONNECTED)
    g_signal_emit (self, signals[SIGNAL_CONNECTION_CHANGED], 0,
                   usi_relay_link_get_address (link), TRUE, NULL);
}

static void
on_link_connection_lost (UsiRelayLink *link,
                         GError       *reason,
                         UsiSession   *self)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->rooms));

  for (guint i = n; i > 0; i--)
    {
      g_autoptr(UsiRoom) room = g_list_model_get_item (G_LIST_MODEL (self->rooms), i - 1);

      if (_usi_room_get_link (room) == link)
        _usi_room_handle_connection_lost (room, reason);
    }

  g_signal_emit (self, signals[SIGNAL_CONNECTION_CHANGED], 0,
                 usi_relay_link_get_address (link), FALSE, reason);
}

/* One link per relay and pin, shared by every room there. */
static UsiRelayLink *
get_link (UsiSession   *self,
          const char   *address,
          const guint8 *pin)
{
  g_autofree char *pin_hex = pin != NULL ? hex_encode (pin, 32) : g_strdup ("unpinned");
  g_autofree char *key = g_strdup_printf ("%s %s", address, pin_hex);
  UsiRelayLink *link = g_hash_table_lookup (self->links, key);

  if (link != NULL)
    return link;

  link = usi_relay_link_new (address, pin, self->identity, NULL);
  g_signal_connect_object (link, "deliver", G_CALLBACK (on_link_deliver), self, 0);
  g_signal_connect_object (link, "subscription-refused", G_CALLBACK (on_link_subscription_refused), self, 0);
  g_signal_connect_object (link, "notify::state", G_CALLBACK (on_link_state), self, 0);
  g_signal_connect_object (link, "connection-lost", G_CALLBACK (on_link_connection_lost), self, 0);
  g_hash_table_insert (self->links, g_steal_pointer (&key), link);
  usi_relay_link_set_suspended (link, self->offline);
  usi_relay_link_start (link);

  return link;
}

UsiRelayLink *
_usi_session_get_link (UsiSession   *self,
                       const char   *address,
                       const guint8 *pin)
{
  g_return_val_if_fail (USI_IS_SESSION (self), NULL);
  return get_link (self, address, pin);
}

static void
add_room (UsiSession *self,
          UsiRoom    *room)
{
  g_list_store_append (self->rooms, room);
  g_signal_emit (self, signals[SIGNAL_ROOM_ADDED], 0, room);
}

static void
remove_room (UsiSession *self,
             UsiRoom    *room)
{
  UsiRelayLink *link = _usi_room_get_link (room);
  GHashTableIter iter;
  gpointer value;
  guint position;
  guint n;

  if (g_list_store_find (self->rooms, room, &position))
    g_list_store_remove (self->rooms, position);

  /* A link no room uses any more stops trying to reach its relay. */
  if (link == NULL)
    return;
  n = g_list_model_get_n_items (G_LIST_MODEL (self->rooms));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(UsiRoom) other = g_list_model_get_item (G_LIST_MODEL (self->rooms), i);

      if (_usi_room_get_link (other) == link)
        return;
    }
  g_hash_table_iter_init (&iter, self->links);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (value == link)
      {
        g_signal_handlers_disconnect_by_data (link, self);
        usi_relay_link_stop (link);
        g_hash_table_iter_remove (&iter);
        break;
      }
}

/* The in-process relay -------------------------------------------------------- */

/* "0.0.0.0:P" → "127.0.0.1:P", "[::]:P" → "[::1]:P": where this process
 * reaches its own relay. */
static char *
loopback_address_for (const char *listen_address,
                      guint16     port)
{
  if (g_str_has_prefix (listen_address, "["))
    return g_str_has_prefix (listen_address, "[::]") ? g_strdup_printf ("[::1]:%u", port)
                                                     : g_strdup (listen_address);
  if (g_str_has_prefix (listen_address, "0.0.0.0:"))
    return g_strdup_printf ("127.0.0.1:%u", port);
  return g_strdup (listen_address);
}

/* What invites name: the listen address, or for a wildcard one this
 * machine's host name (if it is a valid invite host), else loopback. */
static char *
invite_address_for (const char *listen_address,
                    guint16     port)
{
  if (g_str_has_prefix (listen_address, "0.0.0.0:") || g_str_has_prefix (listen_address, "[::]:"))
    {
      g_autofree char *host = g_ascii_strdown (g_get_host_name (), -1);
      g_autofree char *candidate = g_strdup_printf ("%s:%u", host, port);

      if (!g_str_equal (host, "localhost") && strchr (host, '.') != NULL)
        return g_steal_pointer (&candidate);
      return g_strdup_printf ("127.0.0.1:%u", port);
    }
  return g_strdup (listen_address);
}

#define RELAY_KEY_RECORD "relay-key"

/* The hosted relay's TLS key: kept in the encrypted store when keeping
 * state, so that its pin, and the invites that carry it, survive a
 * restart; fresh otherwise. */
static UsiTlsIdentity *
hosted_relay_identity (UsiSession  *self,
                       GError     **error)
{
  g_autoptr(GBytes) pem = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(UsiTlsIdentity) identity = NULL;

  if (!_usi_session_keeps_state (self))
    return usi_tls_identity_generate ("usi-relay", error);

  pem = usi_store_get (self->store, RELAY_KEY_RECORD, &local_error);
  if (pem != NULL)
    return usi_tls_identity_new_from_pem (pem, error);
  if (!g_error_matches (local_error, USI_STORE_ERROR, USI_STORE_ERROR_NOT_FOUND))
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }

  identity = usi_tls_identity_generate ("usi-relay", error);
  if (identity == NULL)
    return NULL;
  pem = usi_tls_identity_dup_pem (identity, error);
  if (pem == NULL || !usi_store_put (self->store, RELAY_KEY_RECORD, pem, error))
    return NULL;
  return g_steal_pointer (&identity);
}

static gboolean
start_relay (UsiSession  *self,
             const char  *listen_address,
             GError     **error)
{
  g_autoptr(UsiTlsIdentity) identity = NULL;
  g_autoptr(UsiRelayStore) store = NULL;
  g_autoptr(UsiRelay) relay = NULL;
  UsiRelayLimits limits;

  if (self->relay != NULL)
    return TRUE;

  identity = hosted_relay_identity (self, error);
  if (identity == NULL)
    return FALSE;

  /* The hosted relay keeps its rooms and backlog (ciphertext only) beside
   * the person's state when state is kept, in memory otherwise. */
  if (_usi_session_keeps_state (self))
    {
      g_autofree char *directory = g_build_filename (usi_store_get_directory (self->store), "relay", NULL);

      store = usi_relay_store_open (directory, NULL, error);
      if (store == NULL)
        return FALSE;
    }
  else
    store = usi_relay_store_new_memory (NULL);

  usi_relay_limits_init_default (&limits);
  relay = usi_relay_new (identity, store, &limits, error);
  if (relay == NULL || !usi_relay_listen (relay, listen_address, error))
    return FALSE;

  self->relay = g_steal_pointer (&relay);
  self->relay_listen_address = usi_relay_dup_listen_address (self->relay);
  self->relay_pin_hex = usi_tls_identity_dup_pin_hex (identity);
  return TRUE;
}

/* A room of this session with `room_id`, or NULL. */
static UsiRoom *
lookup_room (UsiSession   *self,
             const guint8 *room_id)
{
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->rooms));

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(UsiRoom) room = g_list_model_get_item (G_LIST_MODEL (self->rooms), i);

      if (memcmp (usi_room_get_id (room), room_id, 16) == 0)
        return room;   /* the store keeps it alive */
    }
  return NULL;
}

/* Passwords (scrypt: a thread) ---------------------------------------------- */

/* What hosting or joining does once the password is stretched. */
typedef void (*PasswordContinuation) (GTask        *task,
                                      const guint8 *password_key,
                                      const guint8 *password_psk);

typedef struct
{
  char   *password;
  guint8  room_id[16];
  guint8  password_key[USI_JOIN_PASSWORD_KEY_LENGTH];
  guint8  password_psk[USI_JOIN_PASSWORD_PSK_LENGTH];
} PasswordWork;

static void
password_work_free (PasswordWork *work)
{
  if (work->password != NULL)
    {
      usi_secret_wipe (work->password, strlen (work->password));
      g_free (work->password);
    }
  usi_secret_wipe (work->password_key, sizeof work->password_key);
  usi_secret_wipe (work->password_psk, sizeof work->password_psk);
  g_free (work);
}

static void
derive_password_in_thread (GTask        *task,
                           gpointer      source_object,
                           gpointer      task_data,
                           GCancellable *cancellable)
{
  PasswordWork *work = task_data;
  g_autoptr(GError) error = NULL;

  if (!usi_join_password_key_derive (work->password, work->room_id, work->password_key, &error) ||
      !usi_join_password_psk (work->password_key, work->room_id, work->password_psk, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_task_return_boolean (task, TRUE);
}

static void
password_derived (GObject      *source,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  PasswordContinuation continuation = g_object_get_data (G_OBJECT (result), "usi-continuation");
  PasswordWork *work;

  if (!g_task_propagate_boolean (G_TASK (result), &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  work = g_task_get_task_data (G_TASK (result));
  continuation (task, work->password_key, work->password_psk);
}

/* Stretches `password` for `room_id` in a thread (scrypt, 64 MiB), then
 * goes on with `continuation` on the main context; `task` (taken) fails
 * with the error otherwise. */
static void
derive_password_async (UsiSession           *self,
                       const char           *password,
                       const guint8         *room_id,
                       PasswordContinuation  continuation,
                       GTask                *task)
{
  g_autoptr(GTask) work_task = g_task_new (self, NULL, password_derived, task);
  PasswordWork *work = g_new0 (PasswordWork, 1);

  work->password = g_strdup (password);
  memcpy (work->room_id, room_id, sizeof work->room_id);
  g_task_set_task_data (work_task, work, (GDestroyNotify) password_work_free);
  g_object_set_data (G_OBJECT (work_task), "usi-continuation", continuation);
  g_task_run_in_thread (work_task, derive_password_in_thread);
}

/* Hosting -------------------------------------------------------------------- */

typedef struct
{
  UsiRelayLink *link;
  char         *room_name;
  char         *invite_address;
  guint8        relay_pin[32];
  guint8        room_id[16];
  guint         rotate_after;
  gboolean      has_password;
} HostData;

static void
host_data_free (HostData *data)
{
  g_clear_object (&data->link);
  g_free (data->room_name);
  g_free (data->invite_address);
  g_free (data);
}

static void
room_started (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  UsiSession *self = g_task_get_source_object (task);
  UsiRoom *room = USI_ROOM (source);

  if (!_usi_room_start_finish (room, result, &error))
    {
      remove_room (self, room);
      _usi_room_detach (room);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_task_return_pointer (task, g_object_ref (room), g_object_unref);
}

static void
start_room (UsiSession *self,
            UsiRoom    *room,
            GTask      *task)
{
  add_room (self, room);
  _usi_room_start_async (room, g_task_get_cancellable (task), room_started, g_object_ref (task));
}

static void
host_owned_room (GTask        *task,
                 const guint8 *password_key,
                 const guint8 *password_psk)
{
  UsiSession *self = g_task_get_source_object (task);
  HostData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) commit = NULL;
  g_autoptr(UsiRoom) room = NULL;
  g_auto(UsiLeafSecret) leaf = { 0 };
  UsiOwnerGroup *group;
  UsiRoomConfig config;

  usi_room_config_init_default (&config);
  if (data->rotate_after != 0)
    config.rotate_after_messages = data->rotate_after;
  config.password_required = data->has_password;

  if (!usi_leaf_secret_generate (usi_random_get_system (), self->identity, 0, now_ms (), &leaf, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  group = usi_owner_group_create (self->identity, &leaf.node, self->display_name, data->room_id, &config,
                                  password_psk, usi_random_get_system (), &commit, &error);
  if (group == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  room = _usi_room_new_owner (self, data->link, data->room_name, data->invite_address, data->relay_pin,
                              group, commit, &leaf, password_key);
  start_room (self, room, task);
}

static UsiRoom *
new_preshared_room (UsiSession    *self,
                    UsiRelayLink  *link,
                    const char    *name,
                    const guint8  *relay_pin,
                    const char    *key_text,
                    GError       **error)
{
  g_autoptr(GBytes) key = usi_preshared_key_parse (key_text, error);
  g_auto(UsiLeafSecret) leaf = { 0 };
  UsiPresharedRoom *preshared;

  if (key == NULL)
    return NULL;
  if (!usi_leaf_secret_generate (usi_random_get_system (), self->identity, 0, now_ms (), &leaf, error))
    return NULL;

  preshared = usi_preshared_room_new (key, &leaf.node, self->display_name, error);
  if (preshared == NULL)
    return NULL;

  return _usi_room_new_preshared (self, link, name, relay_pin, preshared);
}

void
usi_session_host_async (UsiSession           *self,
                        const UsiHostOptions *options,
                        GCancellable         *cancellable,
                        GAsyncReadyCallback   callback,
                        gpointer              user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *connect_address = NULL;
  HostData *data;

  g_return_if_fail (USI_IS_SESSION (self));
  g_return_if_fail (options != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, usi_session_host_async);

  if ((options->listen_address == NULL) == (options->relay_address == NULL) ||
      (options->relay_address != NULL && options->relay_pin == NULL))
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                               _("Host either with a listen address, or at a relay with its pin."));
      return;
    }
  if (options->preshared_key != NULL && (options->password != NULL || options->rotate_after != 0))
    {
      g_task_return_new_error (task, USI_SESSION_ERROR, USI_SESSION_ERROR_NOT_SUPPORTED,
                               _("A pre-shared key room has no password and never rotates its key."));
      return;
    }
  if (options->rotate_after > USI_ROOM_CONFIG_MAX_ROTATE_AFTER)
    {
      g_task_return_new_error (task, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_ALLOWED,
                               _("Keys can rotate after 1 to 1,000,000 messages."));
      return;
    }

  data = g_new0 (HostData, 1);
  g_task_set_task_data (task, data, (GDestroyNotify) host_data_free);
  data->room_name = g_strdup (options->room_name);
  data->rotate_after = options->rotate_after;
  data->has_password = options->password != NULL;

  if (options->listen_address != NULL)
    {
      guint16 port;

      if (!start_relay (self, options->listen_address, &error))
        {
          g_task_return_error (task, g_steal_pointer (&error));
          return;
        }
      port = usi_relay_get_port (self->relay);
      connect_address = loopback_address_for (self->relay_listen_address, port);
      data->invite_address = invite_address_for (self->relay_listen_address, port);
      memcpy (data->relay_pin, usi_tls_identity_get_pin (usi_relay_get_identity (self->relay)), 32);
    }
  else
    {
      connect_address = g_strdup (options->relay_address);
      data->invite_address = g_strdup (options->relay_address);
      memcpy (data->relay_pin, options->relay_pin, 32);
    }

  data->link = g_object_ref (get_link (self, connect_address, data->relay_pin));

  /* Hosting again what an earlier run hosted (same name, same relay)
   * resumes that room rather than making a new one. */
  for (guint i = 0; options->preshared_key == NULL && i < g_list_model_get_n_items (G_LIST_MODEL (self->rooms)); i++)
    {
      g_autoptr(UsiRoom) room = g_list_model_get_item (G_LIST_MODEL (self->rooms), i);

      if (_usi_room_matches_host (room, options->room_name, data->invite_address))
        {
          g_task_return_pointer (task, g_steal_pointer (&room), g_object_unref);
          return;
        }
    }
  if (options->preshared_key != NULL)
    {
      g_autoptr(GBytes) key = usi_preshared_key_parse (options->preshared_key, NULL);
      guint8 room_id[16];
      UsiRoom *existing;

      if (key != NULL && usi_preshared_key_derive_room_id (key, room_id, NULL) &&
          (existing = lookup_room (self, room_id)) != NULL)
        {
          g_task_return_pointer (task, g_object_ref (existing), g_object_unref);
          return;
        }
    }

  if (options->preshared_key != NULL)
    {
      g_autoptr(UsiRoom) room = new_preshared_room (self, data->link, data->room_name, data->relay_pin,
                                                    options->preshared_key, &error);

      if (room == NULL)
        g_task_return_error (task, g_steal_pointer (&error));
      else
        start_room (self, room, task);
      return;
    }

  if (!usi_random_fill (usi_random_get_system (), data->room_id, sizeof data->room_id, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  if (options->password != NULL)
    derive_password_async (self, options->password, data->room_id, host_owned_room,
                           g_steal_pointer (&task));
  else
    host_owned_room (task, NULL, NULL);
}

UsiRoom *
usi_session_host_finish (UsiSession    *self,
                         GAsyncResult  *result,
                         GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* Joining ------------------------------------------------------------------ */

typedef struct
{
  UsiInvite *invite;
  char      *password;
} JoinData;

static void
join_data_free (JoinData *data)
{
  g_clear_pointer (&data->invite, usi_invite_free);
  if (data->password != NULL)
    {
      usi_secret_wipe (data->password, strlen (data->password));
      g_free (data->password);
    }
  g_free (data);
}

static void
join_with_keys (GTask        *task,
                const guint8 *password_key,
                const guint8 *password_psk)
{
  UsiSession *self = g_task_get_source_object (task);
  JoinData *data = g_task_get_task_data (task);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiRoom) room = NULL;
  g_auto(UsiLeafSecret) leaf = { 0 };
  UsiJoinRequest *request;
  UsiRelayLink *link;

  if (!usi_leaf_secret_generate (usi_random_get_system (), self->identity, 0, now_ms (), &leaf, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  request = usi_join_request_new (usi_random_get_system (), data->invite, self->identity, &leaf,
                                  self->display_name, password_key, &error);
  if (request == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  link = get_link (self, usi_invite_get_relay_address (data->invite), usi_invite_get_relay_pin (data->invite));
  room = _usi_room_new_joiner (self, link, g_steal_pointer (&data->invite), request, &leaf, password_psk);
  start_room (self, room, task);
}

void
usi_session_join_async (UsiSession          *self,
                        const char          *invite_text,
                        const char          *password,
                        GCancellable        *cancellable,
                        GAsyncReadyCallback  callback,
                        gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  JoinData *data;
  UsiInvite *invite;

  g_return_if_fail (USI_IS_SESSION (self));
  g_return_if_fail (invite_text != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, usi_session_join_async);

  /* A malformed, altered or expired invite is refused here, before
   * anything goes on the network. */
  invite = usi_invite_parse (invite_text, now_ms (), &error);
  if (invite == NULL && g_error_matches (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_INVITE_EXPIRED))
    {
      /* An expired invite still names a room joined with it earlier. */
      g_autoptr(UsiInvite) old_invite = usi_invite_parse (invite_text, 0, NULL);
      UsiRoom *existing = old_invite != NULL ? lookup_room (self, usi_invite_get_room_id (old_invite)) : NULL;

      if (existing != NULL)
        {
          g_task_return_pointer (task, g_object_ref (existing), g_object_unref);
          return;
        }
    }
  if (invite == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  {
    UsiRoom *existing = lookup_room (self, usi_invite_get_room_id (invite));

    /* Joined with this invite in an earlier run: that room, resumed. */
    if (existing != NULL && usi_room_get_restored (existing))
      {
        usi_invite_free (invite);
        g_task_return_pointer (task, g_object_ref (existing), g_object_unref);
        return;
      }
  }
  if (usi_invite_get_password_required (invite) && (password == NULL || *password == '\0'))
    {
      usi_invite_free (invite);
      g_task_return_new_error (task, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_PASSWORD_REQUIRED,
                               _("This room has a password: enter it to join."));
      return;
    }

  data = g_new0 (JoinData, 1);
  data->invite = invite;
  data->password = g_strdup (password);
  g_task_set_task_data (task, data, (GDestroyNotify) join_data_free);

  if (usi_invite_get_password_required (invite))
    derive_password_async (self, password, usi_invite_get_room_id (invite), join_with_keys,
                           g_steal_pointer (&task));
  else
    join_with_keys (task, NULL, NULL);
}

void
usi_session_join_preshared_async (UsiSession          *self,
                                  const char          *key_text,
                                  const char          *relay_address,
                                  const guint8        *relay_pin,
                                  GCancellable        *cancellable,
                                  GAsyncReadyCallback  callback,
                                  gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiRoom) room = NULL;
  UsiRelayLink *link;

  g_return_if_fail (USI_IS_SESSION (self));
  g_return_if_fail (key_text != NULL);
  g_return_if_fail (relay_address != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, usi_session_join_async);

  {
    g_autoptr(GBytes) key = usi_preshared_key_parse (key_text, NULL);
    guint8 room_id[16];
    UsiRoom *existing;

    if (key != NULL && usi_preshared_key_derive_room_id (key, room_id, NULL) &&
        (existing = lookup_room (self, room_id)) != NULL)
      {
        g_task_return_pointer (task, g_object_ref (existing), g_object_unref);
        return;
      }
  }

  link = get_link (self, relay_address, relay_pin);
  room = new_preshared_room (self, link, NULL, relay_pin, key_text, &error);
  if (room == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  start_room (self, room, task);
}

UsiRoom *
usi_session_join_finish (UsiSession    *self,
                         GAsyncResult  *result,
                         GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

/* Accessors and shutdown ------------------------------------------------------ */

const char *
usi_session_get_display_name (UsiSession *self)
{
  g_return_val_if_fail (USI_IS_SESSION (self), NULL);
  return self->display_name;
}

const guint8 *
usi_session_get_identity_key (UsiSession *self)
{
  g_return_val_if_fail (USI_IS_SESSION (self), NULL);
  return usi_identity_get_public_key (self->identity);
}

GListModel *
usi_session_get_rooms (UsiSession *self)
{
  g_return_val_if_fail (USI_IS_SESSION (self), NULL);
  return G_LIST_MODEL (self->rooms);
}

const char *
usi_session_get_relay_listen_address (UsiSession *self)
{
  g_return_val_if_fail (USI_IS_SESSION (self), NULL);
  return self->relay_listen_address;
}

const char *
usi_session_get_relay_pin (UsiSession *self)
{
  g_return_val_if_fail (USI_IS_SESSION (self), NULL);
  return self->relay_pin_hex;
}

void
usi_session_reconnect (UsiSession *self)
{
  GHashTableIter iter;
  gpointer link;

  g_return_if_fail (USI_IS_SESSION (self));

  g_hash_table_iter_init (&iter, self->links);
  while (g_hash_table_iter_next (&iter, NULL, &link))
    usi_relay_link_drop_connection (link);
}

void
usi_session_set_online (UsiSession *self,
                        gboolean    online)
{
  GHashTableIter iter;
  gpointer link;

  g_return_if_fail (USI_IS_SESSION (self));

  self->offline = !online;
  g_hash_table_iter_init (&iter, self->links);
  while (g_hash_table_iter_next (&iter, NULL, &link))
    usi_relay_link_set_suspended (link, self->offline);
}

void
usi_session_shutdown (UsiSession *self)
{
  GHashTableIter iter;
  gpointer link;

  g_return_if_fail (USI_IS_SESSION (self));

  if (self->rooms != NULL)
    {
      guint n = g_list_model_get_n_items (G_LIST_MODEL (self->rooms));

      for (guint i = 0; i < n; i++)
        {
          g_autoptr(UsiRoom) room = g_list_model_get_item (G_LIST_MODEL (self->rooms), i);

          _usi_room_detach (room);
        }
    }

  if (self->links != NULL)
    {
      g_hash_table_iter_init (&iter, self->links);
      while (g_hash_table_iter_next (&iter, NULL, &link))
        {
          g_signal_handlers_disconnect_by_data (link, self);
          usi_relay_link_stop (link);
        }
      g_hash_table_remove_all (self->links);
    }

  if (self->relay != NULL)
    {
      usi_relay_stop (self->relay);
      g_clear_object (&self->relay);
    }
}
