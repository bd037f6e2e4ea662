/* SPDX-License-Identifier: GPL-3.0-or-later */

/* FileOffer and FileEnd bodies.  An offer decides where received files may
 * go, so its decoder refuses every name that is not already in the safe form
 * rather than repairing it, and refuses two entries that would land on the
 * same path.  No I/O here, and no cryptography beyond carrying the
 * Cobblestone headers the cipher unit checks.
 */

#define G_LOG_DOMAIN "usi-protocol"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "usi-file-name.h"
#include "usi-file-offer.h"
#include "usi-protocol-error.h"
#include "usi-wire.h"

/* Bytes of an entry after its path, for a file. */
#define FILE_FIELDS_LENGTH (USI_FILE_ID_LENGTH + 8 + USI_CHUNKED_HEADER_LENGTH)

struct _UsiFileOffer
{
  guint8      id[USI_FILE_OFFER_ID_LENGTH];
  char       *folder_name;
  GArray     *entries;          /* UsiFileEntry */
  /* Every path, and every folder a path implies, for the collision checks. */
  GHashTable *paths;            /* path → UsiFileEntryKind */
  GHashTable *implied_folders;  /* path → itself */
  gsize       entries_length;   /* encoded bytes of the entries vector's content */
  guint64     total_size;
};

static void
file_entry_clear (UsiFileEntry *entry)
{
  g_clear_pointer (&entry->path, g_free);
}

/* The bytes of a V<…> length prefix (RFC 9420 varint). */
static gsize
varint_length (gsize value)
{
  return value < 64 ? 1 : value < 16384 ? 2 : 4;
}

static gsize
encoded_length (UsiFileOffer *offer,
                gsize         entries_length)
{
  gsize folder_length = offer->folder_name != NULL ? strlen (offer->folder_name) : 0;

  return USI_FILE_OFFER_ID_LENGTH + varint_length (folder_length) + folder_length +
         varint_length (entries_length) + entries_length;
}

static gsize
entry_length (UsiFileEntryKind  kind,
              const char       *path)
{
  gsize path_length = strlen (path);

  return 1 + varint_length (path_length) + path_length +
         (kind == USI_FILE_ENTRY_FILE ? FILE_FIELDS_LENGTH : 0);
}

static UsiFileOffer *
offer_new (void)
{
  UsiFileOffer *offer = g_new0 (UsiFileOffer, 1);

  offer->entries = g_array_new (FALSE, TRUE, sizeof (UsiFileEntry));
  g_array_set_clear_func (offer->entries, (GDestroyNotify) file_entry_clear);
  offer->paths = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  offer->implied_folders = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  return offer;
}

void
usi_file_offer_free (UsiFileOffer *offer)
{
  if (offer == NULL)
    return;

  g_clear_pointer (&offer->entries, g_array_unref);
  g_clear_pointer (&offer->paths, g_hash_table_unref);
  g_clear_pointer (&offer->implied_folders, g_hash_table_unref);
  g_free (offer->folder_name);
  g_free (offer);
}

gboolean
usi_file_id_generate (UsiRandom  *random,
                      guint8     *file_id,
                      GError    **error)
{
  g_return_val_if_fail (random != NULL, FALSE);
  g_return_val_if_fail (file_id != NULL, FALSE);

  return usi_random_fill (random, file_id, USI_FILE_ID_LENGTH, error);
}

UsiFileOffer *
usi_file_offer_new (UsiRandom   *random,
                    const char  *folder_name,
                    GError     **error)
{
  g_autoptr(UsiFileOffer) offer = NULL;

  g_return_val_if_fail (random != NULL, NULL);

  offer = offer_new ();
  if (folder_name != NULL)
    {
      offer->folder_name = usi_file_name_sanitize (folder_name, -1, error);
      if (offer->folder_name == NULL)
        return NULL;
    }

  if (!usi_random_fill (random, offer->id, sizeof offer->id, error))
    return NULL;

  return g_steal_pointer (&offer);
}

/* The checks an entry must pass, whether built here or decoded: @path is
 * already known to be safe.  Leaves the offer unchanged on failure. */
static gboolean
check_entry (UsiFileOffer      *offer,
             UsiFileEntryKind   kind,
             const char        *path,
             const guint8      *file_id,
             guint64            size,
             GError           **error)
{
  guint64 chunk_count;

  if (offer->entries->len >= USI_FILE_OFFER_MAX_ENTRIES)
    {
      g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE,
                   _("An offer can list at most %u files and folders."), USI_FILE_OFFER_MAX_ENTRIES);
      return FALSE;
    }

  if (offer->folder_name == NULL && (kind != USI_FILE_ENTRY_FILE || strchr (path, '/') != NULL))
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSAFE_NAME,
                           _("Files offered outside a folder cannot contain folders."));
      return FALSE;
    }

  if (kind == USI_FILE_ENTRY_FILE && !usi_chunked_get_chunk_count (size, &chunk_count))
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE,
                           _("The file is too large to be sent."));
      return FALSE;
    }

  if (kind == USI_FILE_ENTRY_FILE)
    for (guint i = 0; i < offer->entries->len; i++)
      {
        const UsiFileEntry *other = &g_array_index (offer->entries, UsiFileEntry, i);

        if (other->kind == USI_FILE_ENTRY_FILE && memcmp (other->file_id, file_id, USI_FILE_ID_LENGTH) == 0)
          {
            g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                                 _("Two files of the offer have the same identifier."));
            return FALSE;
          }
      }

  /* Two entries on one path, or a file where another entry needs a folder,
   * would make one overwrite the other. */
  if (g_hash_table_contains (offer->paths, path) ||
      (kind == USI_FILE_ENTRY_FILE && g_hash_table_contains (offer->implied_folders, path)))
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSAFE_NAME,
                           _("Two entries of the offer would be saved under the same name."));
      return FALSE;
    }
  for (const char *slash = strchr (path, '/'); slash != NULL; slash = strchr (slash + 1, '/'))
    {
      g_autofree char *folder = g_strndup (path, (gsize) (slash - path));

      if (GPOINTER_TO_INT (g_hash_table_lookup (offer->paths, folder)) == USI_FILE_ENTRY_FILE)
        {
          g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSAFE_NAME,
                               _("Two entries of the offer would be saved under the same name."));
          return FALSE;
        }
    }

  return TRUE;
}

/* Takes @path (safe, checked). */
static void
append_entry (UsiFileOffer      *offer,
              UsiFileEntryKind   kind,
              char              *path,
              const guint8      *file_id,
              guint64            size,
              const guint8      *header)
{
  UsiFileEntry entry = { 0 };

  for (const char *slash = strchr (path, '/'); slash != NULL; slash = strchr (slash + 1, '/'))
    {
      char *folder = g_strndup (path, (gsize) (slash - path));

      g_hash_table_replace (offer->implied_folders, folder, folder);
    }
  g_hash_table_insert (offer->paths, g_strdup (path), GINT_TO_POINTER (kind));

  offer->entries_length += entry_length (kind, path);
  entry.kind = kind;
  entry.path = path;
  if (kind == USI_FILE_ENTRY_FILE)
    {
      memcpy (entry.file_id, file_id, USI_FILE_ID_LENGTH);
      entry.size = size;
      memcpy (entry.header, header, USI_CHUNKED_HEADER_LENGTH);
      offer->total_size += size;
    }
  g_array_append_val (offer->entries, entry);
}

static gboolean
add_entry (UsiFileOffer      *offer,
           UsiFileEntryKind   kind,
           const char        *path,
           const guint8      *file_id,
           guint64            size,
           const guint8      *header,
           GError           **error)
{
  g_autofree char *safe_path = usi_file_path_sanitize (path, -1, error);

  if (safe_path == NULL || !check_entry (offer, kind, safe_path, file_id, size, error))
    return FALSE;

  if (encoded_length (offer, offer->entries_length + entry_length (kind, safe_path)) > USI_FILE_OFFER_MAX_LENGTH)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE,
                           _("The offer is full: send the remaining files in another offer."));
      return FALSE;
    }

  append_entry (offer, kind, g_steal_pointer (&safe_path), file_id, size, header);
  return TRUE;
}

gboolean
usi_file_offer_add_file (UsiFileOffer  *offer,
                         const guint8  *file_id,
                         const char    *path,
                         guint64        size,
                         const guint8  *header,
                         GError       **error)
{
  g_return_val_if_fail (offer != NULL, FALSE);
  g_return_val_if_fail (file_id != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (header != NULL, FALSE);

  return add_entry (offer, USI_FILE_ENTRY_FILE, path, file_id, size, header, error);
}

gboolean
usi_file_offer_add_folder (UsiFileOffer  *offer,
                           const char    *path,
                           GError       **error)
{
  g_return_val_if_fail (offer != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  return add_entry (offer, USI_FILE_ENTRY_FOLDER, path, NULL, 0, NULL, error);
}

static gboolean
check_not_empty (UsiFileOffer  *offer,
                 GError       **error)
{
  if (offer->entries->len == 0)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                           _("The offer lists no file."));
      return FALSE;
    }

  return TRUE;
}

GBytes *
usi_file_offer_encode (UsiFileOffer  *offer,
                       GError       **error)
{
  g_autoptr(GByteArray) out = NULL;
  g_autoptr(GByteArray) entries = NULL;

  g_return_val_if_fail (offer != NULL, NULL);

  if (!check_not_empty (offer, error))
    return NULL;

  entries = g_byte_array_sized_new ((guint) offer->entries_length);
  for (guint i = 0; i < offer->entries->len; i++)
    {
      const UsiFileEntry *entry = &g_array_index (offer->entries, UsiFileEntry, i);

      usi_wire_write_u8 (entries, (guint8) entry->kind);
      usi_wire_write_string (entries, entry->path);
      if (entry->kind == USI_FILE_ENTRY_FILE)
        {
          usi_wire_write_fixed (entries, entry->file_id, USI_FILE_ID_LENGTH);
          usi_wire_write_u64 (entries, entry->size);
          usi_wire_write_fixed (entries, entry->header, USI_CHUNKED_HEADER_LENGTH);
        }
    }
  g_assert (entries->len == offer->entries_length);

  out = g_byte_array_sized_new ((guint) encoded_length (offer, entries->len));
  usi_wire_write_fixed (out, offer->id, USI_FILE_OFFER_ID_LENGTH);
  usi_wire_write_string (out, offer->folder_name != NULL ? offer->folder_name : "");
  usi_wire_write_opaque (out, entries->data, entries->len);
  g_assert (out->len == encoded_length (offer, entries->len));

  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

static gboolean
read_entry (UsiFileOffer   *offer,
            UsiWireReader  *reader,
            GError        **error)
{
  g_autofree char *path = NULL;
  guint8 kind;
  guint8 file_id[USI_FILE_ID_LENGTH] = { 0 };
  guint8 header[USI_CHUNKED_HEADER_LENGTH] = { 0 };
  guint64 size = 0;

  if (!usi_wire_read_u8 (reader, &kind, error))
    return FALSE;
  if (kind != USI_FILE_ENTRY_FILE && kind != USI_FILE_ENTRY_FOLDER)
    {
      g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                   _("An offer lists an entry of unknown kind %u."), kind);
      return FALSE;
    }

  if (!usi_wire_read_string_dup (reader, USI_FILE_PATH_MAX_BYTES, &path, error))
    return FALSE;
  if (kind == USI_FILE_ENTRY_FILE &&
      (!usi_wire_read_fixed_into (reader, USI_FILE_ID_LENGTH, file_id, error) ||
       !usi_wire_read_u64 (reader, &size, error) ||
       !usi_wire_read_fixed_into (reader, USI_CHUNKED_HEADER_LENGTH, header, error)))
    return FALSE;

  /* Received names are never repaired: a sender must send them safe. */
  if (!usi_file_path_is_safe (path))
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSAFE_NAME,
                           _("The offer contains a file name that is not safe to save."));
      return FALSE;
    }

  if (!check_entry (offer, kind, path, file_id, size, error))
    return FALSE;

  append_entry (offer, kind, g_steal_pointer (&path), file_id, size, header);
  return TRUE;
}

UsiFileOffer *
usi_file_offer_decode (const guint8  *body,
                       gsize          length,
                       GError       **error)
{
  g_autoptr(UsiFileOffer) offer = NULL;
  g_autofree char *folder_name = NULL;
  UsiWireReader reader, entries;

  g_return_val_if_fail (body != NULL || length == 0, NULL);

  if (length > USI_FILE_OFFER_MAX_LENGTH)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE,
                           _("The file offer is larger than allowed."));
      return NULL;
    }

  offer = offer_new ();
  usi_wire_reader_init (&reader, body, length);
  if (!usi_wire_read_fixed_into (&reader, USI_FILE_OFFER_ID_LENGTH, offer->id, error) ||
      !usi_wire_read_string_dup (&reader, USI_FILE_NAME_MAX_BYTES, &folder_name, error))
    return NULL;

  if (folder_name[0] != '\0')
    {
      if (!usi_file_name_is_safe (folder_name))
        {
          g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSAFE_NAME,
                               _("The offered folder’s name is not safe to save."));
          return NULL;
        }
      offer->folder_name = g_steal_pointer (&folder_name);
    }

  if (!usi_wire_read_vector (&reader, USI_FILE_OFFER_MAX_LENGTH, &entries, error))
    return NULL;
  while (!usi_wire_reader_at_end (&entries))
    if (!read_entry (offer, &entries, error))
      return NULL;

  if (!check_not_empty (offer, error) || !usi_wire_reader_finish (&reader, error))
    return NULL;

  return g_steal_pointer (&offer);
}

const guint8 *
usi_file_offer_get_id (UsiFileOffer *offer)
{
  g_return_val_if_fail (offer != NULL, NULL);

  return offer->id;
}

const char *
usi_file_offer_get_folder_name (UsiFileOffer *offer)
{
  g_return_val_if_fail (offer != NULL, NULL);

  return offer->folder_name;
}

guint
usi_file_offer_get_n_entries (UsiFileOffer *offer)
{
  g_return_val_if_fail (offer != NULL, 0);

  return offer->entries->len;
}

const UsiFileEntry *
usi_file_offer_get_entry (UsiFileOffer *offer,
                          guint         index)
{
  g_return_val_if_fail (offer != NULL, NULL);
  g_return_val_if_fail (index < offer->entries->len, NULL);

  return &g_array_index (offer->entries, UsiFileEntry, index);
}

const UsiFileEntry *
usi_file_offer_lookup_file (UsiFileOffer *offer,
                            const guint8 *file_id)
{
  g_return_val_if_fail (offer != NULL, NULL);
  g_return_val_if_fail (file_id != NULL, NULL);

  for (guint i = 0; i < offer->entries->len; i++)
    {
      const UsiFileEntry *entry = &g_array_index (offer->entries, UsiFileEntry, i);

      if (entry->kind == USI_FILE_ENTRY_FILE && memcmp (entry->file_id, file_id, USI_FILE_ID_LENGTH) == 0)
        return entry;
    }

  return NULL;
}

guint64
usi_file_offer_get_total_size (UsiFileOffer *offer)
{
  g_return_val_if_fail (offer != NULL, 0);

  return offer->total_size;
}

GBytes *
usi_file_end_encode (const UsiFileEnd *end)
{
  GByteArray *out;

  g_return_val_if_fail (end != NULL, NULL);

  out = g_byte_array_sized_new (USI_FILE_END_LENGTH);
  usi_wire_write_fixed (out, end->file_id, USI_FILE_ID_LENGTH);
  usi_wire_write_u64 (out, end->chunk_count);
  usi_wire_write_fixed (out, end->ciphertext_hash, USI_HASH_LENGTH);
  return g_byte_array_free_to_bytes (out);
}

gboolean
usi_file_end_decode (const guint8  *body,
                     gsize          length,
                     UsiFileEnd    *end,
                     GError       **error)
{
  UsiFileEnd decoded;
  UsiWireReader reader;

  g_return_val_if_fail (body != NULL || length == 0, FALSE);
  g_return_val_if_fail (end != NULL, FALSE);

  usi_wire_reader_init (&reader, body, length);
  if (!usi_wire_read_fixed_into (&reader, USI_FILE_ID_LENGTH, decoded.file_id, error) ||
      !usi_wire_read_u64 (&reader, &decoded.chunk_count, error) ||
      !usi_wire_read_fixed_into (&reader, USI_HASH_LENGTH, decoded.ciphertext_hash, error) ||
      !usi_wire_reader_finish (&reader, error))
    return FALSE;

  if (decoded.chunk_count == 0 || decoded.chunk_count > USI_CHUNKED_MAX_CHUNKS)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                           _("The end of a file announces an impossible number of chunks."));
      return FALSE;
    }

  *end = decoded;
  return TRUE;
}
