/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The public description of an epoch (room config and roster included), as
 * a welcome carries it to a joiner.  Whatever is accepted must be a roster a
 * member can work with, and encode back to exactly the input. */

#include "config.h"

#include "protocol/usi-display-name.h"
#include "protocol/usi-group-info.h"
#include "protocol/usi-protocol-error.h"

#include "usi-fuzz.h"

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
  g_autofree guint8 *body = g_memdup2 (data, size);
  g_autoptr(GByteArray) encoded = g_byte_array_new ();
  g_autoptr(UsiGroupInfo) info = NULL;
  g_autoptr(GError) error = NULL;
  UsiWireReader reader;

  usi_wire_reader_init (&reader, body, size);
  info = usi_group_info_read (&reader, &error);
  if (info != NULL && !usi_wire_reader_finish (&reader, &error))
    g_clear_pointer (&info, usi_group_info_free);
  if (info == NULL)
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      return 0;
    }

  usi_fuzz_check (info->roster != NULL);
  usi_fuzz_check (info->roster->len >= 1 && info->roster->len <= USI_MAX_MEMBERS);
  for (guint i = 0; i < info->roster->len; i++)
    {
      const UsiRosterEntry *entry = g_ptr_array_index (info->roster, i);
      g_autofree char *normalized = usi_display_name_normalize (entry->display_name, NULL);

      usi_fuzz_check (entry->index < USI_MAX_MEMBERS);
      if (i > 0)
        usi_fuzz_check (entry->index > ((const UsiRosterEntry *) g_ptr_array_index (info->roster, i - 1))->index);
      usi_fuzz_check (usi_roster_lookup (info->roster, entry->index) == entry);
      usi_fuzz_check (normalized != NULL && strcmp (normalized, entry->display_name) == 0);
    }
  usi_fuzz_check (info->config.rotate_after_messages >= 1 &&
                  info->config.rotate_after_messages <= USI_ROOM_CONFIG_MAX_ROTATE_AFTER);

  usi_group_info_write (info, encoded);
  usi_fuzz_check_same_bytes (body, size, encoded->data, encoded->len, "a group info");

  return 0;
}
