/* SPDX-License-Identifier: GPL-3.0-or-later */

#include "config.h"

#include <string.h>

#include "crypto/usi-random.h"
#include "protocol/usi-file-name.h"
#include "protocol/usi-file-offer.h"
#include "protocol/usi-protocol-error.h"
#include "protocol/usi-wire.h"

/* One entry of a hand-written offer, as a malicious sender would write it. */
typedef struct
{
  guint8      kind;
  const char *path;
  gssize      path_length;   /* -1: strlen */
  guint64     size;
  guint8      id_byte;
} CraftedEntry;

static GBytes *
craft_offer (const char         *folder,
             const CraftedEntry *entries,
             guint               n_entries)
{
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GByteArray) items = g_byte_array_new ();
  guint8 zeros[USI_CHUNKED_HEADER_LENGTH] = { 0 };

  for (guint i = 0; i < n_entries; i++)
    {
      const CraftedEntry *entry = &entries[i];
      guint8 file_id[USI_FILE_ID_LENGTH];
      gsize path_length = entry->path_length < 0 ? strlen (entry->path) : (gsize) entry->path_length;

      usi_wire_write_u8 (items, entry->kind);
      usi_wire_write_opaque (items, (const guint8 *) entry->path, path_length);
      if (entry->kind != USI_FILE_ENTRY_FOLDER)
        {
          memset (file_id, entry->id_byte, sizeof file_id);
          usi_wire_write_fixed (items, file_id, sizeof file_id);
          usi_wire_write_u64 (items, entry->size);
          usi_wire_write_fixed (items, zeros, sizeof zeros);
        }
    }

  usi_wire_write_fixed (out, zeros, USI_FILE_OFFER_ID_LENGTH);
  usi_wire_write_string (out, folder);
  usi_wire_write_opaque (out, items->data, items->len);
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

static void
assert_decode_fails (GBytes           *body,
                     UsiProtocolError  code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiFileOffer) offer = usi_file_offer_decode (g_bytes_get_data (body, NULL), g_bytes_get_size (body), &error);

  g_assert_null (offer);
  g_assert_error (error, USI_PROTOCOL_ERROR, (int) code);
}

static void
assert_crafted_fails (const char         *folder,
                      const CraftedEntry *entries,
                      guint               n_entries,
                      UsiProtocolError    code)
{
  g_autoptr(GBytes) body = craft_offer (folder, entries, n_entries);

  assert_decode_fails (body, code);
}

static void
fill_header (UsiRandom *random,
             guint8    *header)
{
  g_assert_true (usi_random_fill (random, header, USI_CHUNKED_HEADER_LENGTH, NULL));
}

static void
add_file (UsiFileOffer *offer,
          UsiRandom    *random,
          const char   *path,
          guint64       size)
{
  g_autoptr(GError) error = NULL;
  guint8 file_id[USI_FILE_ID_LENGTH], header[USI_CHUNKED_HEADER_LENGTH];

  g_assert_true (usi_file_id_generate (random, file_id, &error));
  fill_header (random, header);
  g_assert_true (usi_file_offer_add_file (offer, file_id, path, size, header, &error));
  g_assert_no_error (error);
}

static void
assert_same_offer (UsiFileOffer *a,
                   UsiFileOffer *b)
{
  g_assert_cmpmem (usi_file_offer_get_id (a), 16, usi_file_offer_get_id (b), 16);
  g_assert_cmpstr (usi_file_offer_get_folder_name (a), ==, usi_file_offer_get_folder_name (b));
  g_assert_cmpuint (usi_file_offer_get_n_entries (a), ==, usi_file_offer_get_n_entries (b));
  g_assert_cmpuint (usi_file_offer_get_total_size (a), ==, usi_file_offer_get_total_size (b));
  for (guint i = 0; i < usi_file_offer_get_n_entries (a); i++)
    {
      const UsiFileEntry *x = usi_file_offer_get_entry (a, i);
      const UsiFileEntry *y = usi_file_offer_get_entry (b, i);

      g_assert_cmpint (x->kind, ==, y->kind);
      g_assert_cmpstr (x->path, ==, y->path);
      g_assert_cmpmem (x->file_id, 16, y->file_id, 16);
      g_assert_cmpuint (x->size, ==, y->size);
      g_assert_cmpmem (x->header, sizeof x->header, y->header, sizeof y->header);
    }
}

static UsiFileOffer *
sample_folder_offer (UsiRandom *random)
{
  g_autoptr(GError) error = NULL;
  UsiFileOffer *offer = usi_file_offer_new (random, "Holiday photos", &error);

  g_assert_no_error (error);
  add_file (offer, random, "a.jpg", 123456);
  add_file (offer, random, "2023/b.jpg", 0);
  add_file (offer, random, "2023/summer/c.jpg", 16384);
  g_assert_true (usi_file_offer_add_folder (offer, "empty", &error));
  g_assert_true (usi_file_offer_add_folder (offer, "2023/summer", &error));
  g_assert_no_error (error);
  return offer;
}

static void
test_round_trip (void)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "offer", 5);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiFileOffer) offer = sample_folder_offer (random);
  g_autoptr(GBytes) encoded = usi_file_offer_encode (offer, &error);
  g_autoptr(UsiFileOffer) decoded = NULL;
  g_autoptr(GBytes) again = NULL;
  const UsiFileEntry *entry;

  g_assert_no_error (error);
  decoded = usi_file_offer_decode (g_bytes_get_data (encoded, NULL), g_bytes_get_size (encoded), &error);
  g_assert_no_error (error);
  assert_same_offer (offer, decoded);
  again = usi_file_offer_encode (decoded, &error);
  g_assert_true (g_bytes_equal (encoded, again));

  g_assert_cmpstr (usi_file_offer_get_folder_name (decoded), ==, "Holiday photos");
  g_assert_cmpuint (usi_file_offer_get_n_entries (decoded), ==, 5);
  g_assert_cmpuint (usi_file_offer_get_total_size (decoded), ==, 123456 + 16384);
  entry = usi_file_offer_get_entry (decoded, 2);
  g_assert_cmpstr (entry->path, ==, "2023/summer/c.jpg");
  g_assert_true (usi_file_offer_lookup_file (decoded, entry->file_id) == entry);
  entry = usi_file_offer_get_entry (decoded, 3);
  g_assert_cmpint (entry->kind, ==, USI_FILE_ENTRY_FOLDER);
  g_assert_null (usi_file_offer_lookup_file (decoded, entry->file_id));

  /* The exact layout of the start: offer id, V<folder name>, V<entries>,
   * then kind, V<path>, file id, u64 size, header. */
  {
    const guint8 *data = g_bytes_get_data (encoded, NULL);
    const UsiFileEntry *first = usi_file_offer_get_entry (offer, 0);

    g_assert_cmpmem (data, 16, usi_file_offer_get_id (offer), 16);
    g_assert_cmpuint (data[16], ==, 14);
    g_assert_cmpmem (data + 17, 14, "Holiday photos", 14);
    /* The entries' length in two bytes. */
    g_assert_cmpuint (data[31] & 0xc0, ==, 0x40);
    g_assert_cmpuint ((gsize) (data[31] & 0x3f) << 8 | data[32], ==, g_bytes_get_size (encoded) - 33);
    g_assert_cmpuint (data[33], ==, USI_FILE_ENTRY_FILE);
    g_assert_cmpuint (data[34], ==, 5);
    g_assert_cmpmem (data + 35, 5, "a.jpg", 5);
    g_assert_cmpmem (data + 40, 16, first->file_id, 16);
    g_assert_cmpmem (data + 56, 8, "\0\0\0\0\0\x01\xe2\x40", 8);
    g_assert_cmpmem (data + 64, 56, first->header, 56);
  }
}

static void
test_loose_files (void)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "loose", 5);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiFileOffer) offer = usi_file_offer_new (random, NULL, &error);
  g_autoptr(GBytes) encoded = NULL;
  g_autoptr(UsiFileOffer) decoded = NULL;
  guint8 file_id[16] = { 1 }, header[56] = { 0 };

  /* Nothing to offer yet. */
  g_assert_null (usi_file_offer_encode (offer, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
  g_clear_error (&error);

  add_file (offer, random, "report.pdf", 1000);
  /* Loose files cannot bring folders with them, empty or not. */
  g_assert_false (usi_file_offer_add_file (offer, file_id, "dir/x.txt", 1, header, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSAFE_NAME);
  g_clear_error (&error);
  g_assert_false (usi_file_offer_add_folder (offer, "dir", &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSAFE_NAME);
  g_clear_error (&error);

  encoded = usi_file_offer_encode (offer, &error);
  decoded = usi_file_offer_decode (g_bytes_get_data (encoded, NULL), g_bytes_get_size (encoded), &error);
  g_assert_no_error (error);
  g_assert_null (usi_file_offer_get_folder_name (decoded));
  assert_same_offer (offer, decoded);
}

static void
test_names_sanitized_when_built (void)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "build", 5);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiFileOffer) offer = usi_file_offer_new (random, "../../.config", &error);
  guint8 file_id[16] = { 9 }, header[56] = { 0 };

  g_assert_no_error (error);
  g_assert_cmpstr (usi_file_offer_get_folder_name (offer), ==, "_config");
  add_file (offer, random, "dir\\.bashrc", 1);
  add_file (offer, random, "./x//CON.txt", 2);
  g_assert_cmpstr (usi_file_offer_get_entry (offer, 0)->path, ==, "dir/_bashrc");
  g_assert_cmpstr (usi_file_offer_get_entry (offer, 1)->path, ==, "x/_CON.txt");

  /* Refused paths leave the offer unchanged. */
  g_assert_false (usi_file_offer_add_file (offer, file_id, "../../.bashrc", 1, header, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSAFE_NAME);
  g_clear_error (&error);
  g_assert_false (usi_file_offer_add_file (offer, file_id, "/etc/passwd", 1, header, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSAFE_NAME);
  g_clear_error (&error);
  g_assert_false (usi_file_offer_add_file (offer, file_id, "x\u202Etxt.exe", 1, header, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSAFE_NAME);
  g_clear_error (&error);
  g_assert_cmpuint (usi_file_offer_get_n_entries (offer), ==, 2);

  g_assert_null (usi_file_offer_new (random, "..", &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSAFE_NAME);
}

static void
test_collisions (void)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "collide", 7);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiFileOffer) offer = usi_file_offer_new (random, "f", &error);
  guint8 header[56] = { 0 };
  guint8 file_id[16] = { 0 };

  add_file (offer, random, "a", 1);
  add_file (offer, random, "d/x", 1);

  /* The same path twice (also after sanitizing), a folder over a file, a
   * file under a file, a file where a folder is needed. */
  g_assert_false (usi_file_offer_add_file (offer, file_id, "a", 1, header, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSAFE_NAME);
  g_clear_error (&error);
  g_assert_false (usi_file_offer_add_file (offer, file_id, "./a.", 1, header, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSAFE_NAME);
  g_clear_error (&error);
  g_assert_false (usi_file_offer_add_folder (offer, "a", &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSAFE_NAME);
  g_clear_error (&error);
  g_assert_false (usi_file_offer_add_file (offer, file_id, "a/b", 1, header, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSAFE_NAME);
  g_clear_error (&error);
  g_assert_false (usi_file_offer_add_file (offer, file_id, "d", 1, header, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSAFE_NAME);
  g_clear_error (&error);

  /* A folder that a file already implies is fine. */
  g_assert_true (usi_file_offer_add_folder (offer, "d", &error));
  g_assert_no_error (error);

  /* The same file id twice. */
  memcpy (file_id, usi_file_offer_get_entry (offer, 0)->file_id, 16);
  g_assert_false (usi_file_offer_add_file (offer, file_id, "other", 1, header, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
  g_clear_error (&error);

  g_assert_cmpuint (usi_file_offer_get_n_entries (offer), ==, 3);
}

static void
test_limits (void)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "limits", 6);
  g_autoptr(GError) error = NULL;
  guint8 file_id[16] = { 0xee }, header[56] = { 0 };

  /* Entries. */
  {
    g_autoptr(UsiFileOffer) offer = usi_file_offer_new (random, "many", &error);
    g_autoptr(GBytes) encoded = NULL;
    g_autoptr(UsiFileOffer) decoded = NULL;

    for (guint i = 0; i < USI_FILE_OFFER_MAX_ENTRIES; i++)
      {
        g_autofree char *name = g_strdup_printf ("%u", i);

        add_file (offer, random, name, i);
      }
    g_assert_false (usi_file_offer_add_file (offer, file_id, "one-more", 1, header, &error));
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE);
    g_clear_error (&error);

    encoded = usi_file_offer_encode (offer, &error);
    decoded = usi_file_offer_decode (g_bytes_get_data (encoded, NULL), g_bytes_get_size (encoded), &error);
    g_assert_no_error (error);
    g_assert_cmpuint (usi_file_offer_get_n_entries (decoded), ==, USI_FILE_OFFER_MAX_ENTRIES);
  }

  /* Encoded size: long paths fill the offer before the entry limit. */
  {
    g_autoptr(UsiFileOffer) offer = usi_file_offer_new (random, "long", &error);
    g_autoptr(GBytes) encoded = NULL;
    g_autoptr(UsiFileOffer) decoded = NULL;
    g_autofree char *component = g_strnfill (250, 'n');
    guint added = 0;

    for (;;)
      {
        g_autofree char *path = g_strdup_printf ("%u/%s/%s/%s", added, component, component, component);
        guint8 id[16];

        g_assert_true (usi_file_id_generate (random, id, NULL));
        if (!usi_file_offer_add_file (offer, id, path, 1, header, &error))
          break;
        added++;
      }
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE);
    g_clear_error (&error);
    g_assert_cmpuint (added, ==, usi_file_offer_get_n_entries (offer));
    g_assert_cmpuint (added, <, USI_FILE_OFFER_MAX_ENTRIES);
    encoded = usi_file_offer_encode (offer, &error);
    g_assert_cmpuint (g_bytes_get_size (encoded), <=, USI_FILE_OFFER_MAX_LENGTH);
    g_assert_cmpuint (g_bytes_get_size (encoded), >, USI_FILE_OFFER_MAX_LENGTH - 1000);
    decoded = usi_file_offer_decode (g_bytes_get_data (encoded, NULL), g_bytes_get_size (encoded), &error);
    g_assert_no_error (error);
  }

  /* File size: 2^38 chunks at most. */
  {
    g_autoptr(UsiFileOffer) offer = usi_file_offer_new (random, NULL, &error);
    guint64 largest = USI_CHUNKED_MAX_CHUNKS * USI_CHUNKED_CHUNK_LENGTH - 1;

    add_file (offer, random, "largest", largest);
    g_assert_false (usi_file_offer_add_file (offer, file_id, "too-large", largest + 1, header, &error));
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE);
    g_clear_error (&error);
    g_assert_false (usi_file_offer_add_file (offer, file_id, "max", G_MAXUINT64, header, &error));
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE);
  }
}

/* Decoding refuses what a malicious sender could write, without repairing. */
static void
test_malicious_offers (void)
{
  static const char * const unsafe_paths[] = {
    "../../.bashrc", "/etc/passwd", "a\\b", ".hidden", "-rf", "x\u202Etxt.exe", "CON", "a//b",
    "a/./b", "a/", "name.", " lead", "a\nb", "a:b", "C:/x", "..", ".", "", "e\u0301",
  };
  g_autofree char *ten_thousand = g_strnfill (10000, 'a');
  g_autofree char *long_component = g_strnfill (256, 'a');
  g_autofree char *deep = NULL;
  GString *deep_path = g_string_new (NULL);

  for (guint i = 0; i < G_N_ELEMENTS (unsafe_paths); i++)
    {
      CraftedEntry entry = { USI_FILE_ENTRY_FILE, unsafe_paths[i], -1, 1, 1 };

      assert_crafted_fails ("folder", &entry, 1, USI_PROTOCOL_ERROR_UNSAFE_NAME);
    }

  for (guint i = 0; i < 17; i++)
    g_string_append (deep_path, i == 0 ? "d" : "/d");
  deep = g_string_free (deep_path, FALSE);
  {
    CraftedEntry too_deep = { USI_FILE_ENTRY_FILE, deep, -1, 1, 1 };
    CraftedEntry too_long_name = { USI_FILE_ENTRY_FILE, long_component, -1, 1, 1 };
    CraftedEntry too_long_path = { USI_FILE_ENTRY_FILE, ten_thousand, -1, 1, 1 };
    CraftedEntry nul = { USI_FILE_ENTRY_FILE, "a\0b", 3, 1, 1 };
    CraftedEntry invalid = { USI_FILE_ENTRY_FILE, "a\xff", -1, 1, 1 };
    CraftedEntry unknown_kind = { 3, "a", -1, 1, 1 };
    CraftedEntry zero_kind = { 0, "a", -1, 1, 1 };
    CraftedEntry huge = { USI_FILE_ENTRY_FILE, "huge", -1, G_MAXUINT64, 1 };
    CraftedEntry nested = { USI_FILE_ENTRY_FILE, "d/x", -1, 1, 1 };
    CraftedEntry folder = { USI_FILE_ENTRY_FOLDER, "d", -1, 0, 0 };
    CraftedEntry twice[] = { { USI_FILE_ENTRY_FILE, "a", -1, 1, 1 }, { USI_FILE_ENTRY_FILE, "a", -1, 1, 2 } };
    CraftedEntry same_id[] = { { USI_FILE_ENTRY_FILE, "a", -1, 1, 1 }, { USI_FILE_ENTRY_FILE, "b", -1, 1, 1 } };
    CraftedEntry under_file[] = { { USI_FILE_ENTRY_FILE, "a", -1, 1, 1 }, { USI_FILE_ENTRY_FILE, "a/b", -1, 1, 2 } };
    CraftedEntry over_folder[] = { { USI_FILE_ENTRY_FILE, "a/b", -1, 1, 1 }, { USI_FILE_ENTRY_FILE, "a", -1, 1, 2 } };
    CraftedEntry good = { USI_FILE_ENTRY_FILE, "a", -1, 1, 1 };

    assert_crafted_fails ("f", &too_deep, 1, USI_PROTOCOL_ERROR_UNSAFE_NAME);
    assert_crafted_fails ("f", &too_long_name, 1, USI_PROTOCOL_ERROR_UNSAFE_NAME);
    assert_crafted_fails ("f", &too_long_path, 1, USI_PROTOCOL_ERROR_TOO_LARGE);
    assert_crafted_fails ("f", &nul, 1, USI_PROTOCOL_ERROR_MALFORMED);
    assert_crafted_fails ("f", &invalid, 1, USI_PROTOCOL_ERROR_MALFORMED);
    assert_crafted_fails ("f", &unknown_kind, 1, USI_PROTOCOL_ERROR_MALFORMED);
    assert_crafted_fails ("f", &zero_kind, 1, USI_PROTOCOL_ERROR_MALFORMED);
    assert_crafted_fails ("f", &huge, 1, USI_PROTOCOL_ERROR_TOO_LARGE);
    /* Without a folder: no nesting, no folders. */
    assert_crafted_fails ("", &nested, 1, USI_PROTOCOL_ERROR_UNSAFE_NAME);
    assert_crafted_fails ("", &folder, 1, USI_PROTOCOL_ERROR_UNSAFE_NAME);
    assert_crafted_fails ("f", twice, 2, USI_PROTOCOL_ERROR_UNSAFE_NAME);
    assert_crafted_fails ("f", same_id, 2, USI_PROTOCOL_ERROR_MALFORMED);
    assert_crafted_fails ("f", under_file, 2, USI_PROTOCOL_ERROR_UNSAFE_NAME);
    assert_crafted_fails ("f", over_folder, 2, USI_PROTOCOL_ERROR_UNSAFE_NAME);
    /* Unsafe folder names. */
    assert_crafted_fails ("..", &good, 1, USI_PROTOCOL_ERROR_UNSAFE_NAME);
    assert_crafted_fails ("a/b", &good, 1, USI_PROTOCOL_ERROR_UNSAFE_NAME);
    assert_crafted_fails (".config", &good, 1, USI_PROTOCOL_ERROR_UNSAFE_NAME);
    assert_crafted_fails ("x\u202Efdp.exe", &good, 1, USI_PROTOCOL_ERROR_UNSAFE_NAME);
    /* No entries. */
    assert_crafted_fails ("f", NULL, 0, USI_PROTOCOL_ERROR_MALFORMED);

    /* The well-formed version of the same shape decodes. */
    {
      g_autoptr(GBytes) body = craft_offer ("f", &good, 1);
      g_autoptr(GError) error = NULL;
      g_autoptr(UsiFileOffer) offer = usi_file_offer_decode (g_bytes_get_data (body, NULL), g_bytes_get_size (body), &error);

      g_assert_no_error (error);
      g_assert_nonnull (offer);
    }
  }

  /* 257 entries. */
  {
    CraftedEntry *entries = g_new0 (CraftedEntry, USI_FILE_OFFER_MAX_ENTRIES + 1);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
    g_autoptr(GBytes) body = NULL;
    g_autoptr(UsiFileOffer) offer = NULL;

    for (guint i = 0; i <= USI_FILE_OFFER_MAX_ENTRIES; i++)
      {
        char *name = g_strdup_printf ("%u", i);

        g_ptr_array_add (names, name);
        entries[i] = (CraftedEntry) { USI_FILE_ENTRY_FOLDER, name, -1, 0, 0 };
      }
    assert_crafted_fails ("f", entries, USI_FILE_OFFER_MAX_ENTRIES + 1, USI_PROTOCOL_ERROR_TOO_LARGE);
    body = craft_offer ("f", entries, USI_FILE_OFFER_MAX_ENTRIES);
    offer = usi_file_offer_decode (g_bytes_get_data (body, NULL), g_bytes_get_size (body), NULL);
    g_assert_nonnull (offer);
    g_free (entries);
  }
}

static void
test_encoding_refused (void)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "encoding", 8);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiFileOffer) offer = sample_folder_offer (random);
  g_autoptr(GBytes) encoded = usi_file_offer_encode (offer, &error);
  gsize length;
  const guint8 *data = g_bytes_get_data (encoded, &length);
  g_autoptr(GByteArray) longer = g_byte_array_new ();

  /* Truncated anywhere. */
  for (gsize cut = 0; cut < length; cut++)
    {
      g_autoptr(UsiFileOffer) decoded = usi_file_offer_decode (data, cut, &error);

      g_assert_null (decoded);
      g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
      g_clear_error (&error);
    }

  /* A trailing byte. */
  g_byte_array_append (longer, data, (guint) length);
  g_byte_array_append (longer, (const guint8 *) "", 1);
  g_assert_null (usi_file_offer_decode (longer->data, longer->len, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
  g_clear_error (&error);

  /* Larger than allowed, refused on the length alone. */
  g_byte_array_set_size (longer, USI_FILE_OFFER_MAX_LENGTH + 1);
  g_assert_null (usi_file_offer_decode (longer->data, longer->len, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE);
  g_clear_error (&error);

  /* An entries vector announcing more than the maximum. */
  {
    g_autoptr(GByteArray) announced = g_byte_array_new ();
    static const guint8 zeros[16] = { 0 };

    g_byte_array_append (announced, zeros, 16);
    usi_wire_write_string (announced, "f");
    g_byte_array_append (announced, (const guint8 *) "\x80\x01\x00\x00", 4);
    g_assert_null (usi_file_offer_decode (announced->data, announced->len, &error));
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE);
  }
}

/* Every single-bit change is refused, or decodes to a different offer that
 * encodes back to exactly the changed bytes (so a signature over the bytes
 * catches it: there is one encoding per offer). */
static void
test_offer_bit_flips (void)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "flips", 5);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiFileOffer) offer = sample_folder_offer (random);
  g_autoptr(GBytes) encoded = usi_file_offer_encode (offer, &error);
  gsize length;
  g_autofree guint8 *data = g_memdup2 (g_bytes_get_data (encoded, &length), g_bytes_get_size (encoded));
  guint refused = 0;

  for (gsize bit = 0; bit < length * 8; bit++)
    {
      g_autoptr(UsiFileOffer) decoded = NULL;

      data[bit / 8] ^= 1 << (bit % 8);
      decoded = usi_file_offer_decode (data, length, &error);
      if (decoded == NULL)
        {
          g_assert_true (error->domain == USI_PROTOCOL_ERROR);
          g_clear_error (&error);
          refused++;
        }
      else
        {
          g_autoptr(GBytes) again = usi_file_offer_encode (decoded, &error);

          g_assert_cmpmem (g_bytes_get_data (again, NULL), g_bytes_get_size (again), data, length);
        }
      data[bit / 8] ^= 1 << (bit % 8);
    }

  /* Lengths, kinds and names are checked, ids and headers are not. */
  g_assert_cmpuint (refused, >, 0);
  g_assert_cmpuint (refused, <, length * 8);
}

static void
test_end (void)
{
  g_autoptr(GError) error = NULL;
  UsiFileEnd end = { .chunk_count = 321 }, decoded;
  g_autoptr(GBytes) encoded = NULL;
  gsize length;
  g_autofree guint8 *data = NULL;

  for (guint i = 0; i < 16; i++)
    end.file_id[i] = (guint8) i;
  for (guint i = 0; i < 32; i++)
    end.ciphertext_hash[i] = (guint8) (0xa0 + i);
  encoded = usi_file_end_encode (&end);
  data = g_memdup2 (g_bytes_get_data (encoded, &length), g_bytes_get_size (encoded));
  g_assert_cmpuint (length, ==, USI_FILE_END_LENGTH);
  g_assert_cmpmem (data, 16, end.file_id, 16);
  g_assert_cmpmem (data + 16, 8, "\0\0\0\0\0\0\x01\x41", 8);
  g_assert_cmpmem (data + 24, 32, end.ciphertext_hash, 32);

  g_assert_true (usi_file_end_decode (data, length, &decoded, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (&decoded, sizeof decoded, &end, sizeof end);

  g_assert_false (usi_file_end_decode (data, length - 1, &decoded, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
  g_clear_error (&error);
  {
    g_autofree guint8 *longer = g_malloc0 (length + 1);

    memcpy (longer, data, length);
    g_assert_false (usi_file_end_decode (longer, length + 1, &decoded, &error));
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
    g_clear_error (&error);
  }

  /* Chunk counts of 0 and past 2^38. */
  {
    UsiFileEnd bad = end;
    g_autoptr(GBytes) zero = NULL;
    g_autoptr(GBytes) over = NULL;
    g_autoptr(GBytes) largest = NULL;

    bad.chunk_count = 0;
    zero = usi_file_end_encode (&bad);
    bad.chunk_count = USI_CHUNKED_MAX_CHUNKS + 1;
    over = usi_file_end_encode (&bad);
    bad.chunk_count = USI_CHUNKED_MAX_CHUNKS;
    largest = usi_file_end_encode (&bad);
    g_assert_false (usi_file_end_decode (g_bytes_get_data (zero, NULL), USI_FILE_END_LENGTH, &decoded, &error));
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
    g_clear_error (&error);
    g_assert_false (usi_file_end_decode (g_bytes_get_data (over, NULL), USI_FILE_END_LENGTH, &decoded, &error));
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
    g_clear_error (&error);
    g_assert_true (usi_file_end_decode (g_bytes_get_data (largest, NULL), USI_FILE_END_LENGTH, &decoded, &error));
  }

  /* Every bit flip: refused, or a different end that encodes to the
   * flipped bytes (the receiver's comparison then fails). */
  for (gsize bit = 0; bit < length * 8; bit++)
    {
      data[bit / 8] ^= 1 << (bit % 8);
      if (usi_file_end_decode (data, length, &decoded, NULL))
        {
          g_autoptr(GBytes) again = usi_file_end_encode (&decoded);

          g_assert_cmpint (memcmp (&decoded, &end, sizeof end), !=, 0);
          g_assert_cmpmem (g_bytes_get_data (again, NULL), USI_FILE_END_LENGTH, data, length);
        }
      data[bit / 8] ^= 1 << (bit % 8);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/protocol/file-offer/round-trip", test_round_trip);
  g_test_add_func ("/protocol/file-offer/loose-files", test_loose_files);
  g_test_add_func ("/protocol/file-offer/names-sanitized-when-built", test_names_sanitized_when_built);
  g_test_add_func ("/protocol/file-offer/collisions", test_collisions);
  g_test_add_func ("/protocol/file-offer/limits", test_limits);
  g_test_add_func ("/protocol/file-offer/F7-malicious-offers-refused", test_malicious_offers);
  g_test_add_func ("/protocol/file-offer/encoding-refused", test_encoding_refused);
  g_test_add_func ("/protocol/file-offer/bit-flips", test_offer_bit_flips);
  g_test_add_func ("/protocol/file-offer/end", test_end);

  return g_test_run ();
}
