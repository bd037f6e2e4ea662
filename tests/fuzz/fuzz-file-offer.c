/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The bodies of a file transfer's two application messages, as a member
 * receives them from another: a FileOffer (first input byte even) or a
 * FileEnd (odd).  An accepted offer holds only names the sanitizer leaves
 * unchanged, and both must encode back to exactly the input. */

#include "config.h"

#include "protocol/usi-file-name.h"
#include "protocol/usi-file-offer.h"
#include "protocol/usi-protocol-error.h"

#include "usi-fuzz.h"

static void
check_offer (const guint8 *body,
             gsize         length)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiFileOffer) offer = usi_file_offer_decode (body, length, &error);
  g_autoptr(GBytes) encoded = NULL;
  const char *folder;
  guint64 total = 0;
  guint n_entries;

  if (offer == NULL)
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      return;
    }

  usi_fuzz_check (length <= USI_FILE_OFFER_MAX_LENGTH);
  folder = usi_file_offer_get_folder_name (offer);
  usi_fuzz_check (folder == NULL || usi_file_name_is_safe (folder));

  n_entries = usi_file_offer_get_n_entries (offer);
  usi_fuzz_check (n_entries >= 1 && n_entries <= USI_FILE_OFFER_MAX_ENTRIES);
  for (guint i = 0; i < n_entries; i++)
    {
      const UsiFileEntry *entry = usi_file_offer_get_entry (offer, i);

      usi_fuzz_check (entry != NULL && entry->path != NULL);
      usi_fuzz_check (usi_file_path_is_safe (entry->path));
      if (folder == NULL)
        usi_fuzz_check (entry->kind == USI_FILE_ENTRY_FILE && strchr (entry->path, '/') == NULL);
      if (entry->kind == USI_FILE_ENTRY_FILE)
        {
          usi_fuzz_check (usi_file_offer_lookup_file (offer, entry->file_id) == entry);
          usi_fuzz_check (total + entry->size >= total);
          total += entry->size;
        }
      else
        {
          usi_fuzz_check (entry->kind == USI_FILE_ENTRY_FOLDER);
        }
    }
  usi_fuzz_check (usi_file_offer_get_total_size (offer) == total);

  encoded = usi_file_offer_encode (offer, &error);
  usi_fuzz_check (encoded != NULL && error == NULL);
  usi_fuzz_check_same_bytes (body, length, g_bytes_get_data (encoded, NULL),
                             g_bytes_get_size (encoded), "a file offer");
}

static void
check_end (const guint8 *body,
           gsize         length)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) encoded = NULL;
  UsiFileEnd end;

  if (!usi_file_end_decode (body, length, &end, &error))
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      return;
    }

  usi_fuzz_check (end.chunk_count >= 1 && end.chunk_count <= USI_CHUNKED_MAX_CHUNKS);
  encoded = usi_file_end_encode (&end);
  usi_fuzz_check_same_bytes (body, length, g_bytes_get_data (encoded, NULL),
                             g_bytes_get_size (encoded), "a file end");
}

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  usi_fuzz_make_warnings_fatal ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  /* An exact copy, so reading past the body is caught. */
  g_autofree guint8 *body = NULL;

  if (size == 0)
    return 0;

  body = g_memdup2 (data + 1, size - 1);
  if (data[0] & 1)
    check_end (body, size - 1);
  else
    check_offer (body, size - 1);

  return 0;
}
