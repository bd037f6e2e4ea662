/* SPDX-License-Identifier: GPL-3.0-or-later */

/* File names and relative paths as a peer's offer carries them, through the
 * sanitizer that decides what is created on disk.  The first input byte
 * picks a name (even) or a path (odd); the rest, NULs included, is the text.
 * Whatever comes out must be safe by every rule of docs/protocol.md §10.8
 * checked here independently, and sanitizing it again must change nothing. */

#include "config.h"

#include "protocol/usi-file-name.h"
#include "protocol/usi-protocol-error.h"

#include "usi-fuzz.h"

static gboolean
is_bidi_control (gunichar c)
{
  return c == 0x061C || c == 0x200E || c == 0x200F ||
         (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069);
}

/* One component, as any file system and any person would see it. */
static void
check_safe_component (const char *name)
{
  gsize length = strlen (name);
  static const char *windows_devices[] = { "con", "prn", "aux", "nul", NULL };

  usi_fuzz_check (length > 0 && length <= USI_FILE_NAME_MAX_BYTES);
  usi_fuzz_check (g_utf8_validate (name, -1, NULL));
  usi_fuzz_check (strcmp (name, ".") != 0 && strcmp (name, "..") != 0);
  usi_fuzz_check (name[0] != '.' && name[0] != '-');
  usi_fuzz_check (name[length - 1] != '.');
  usi_fuzz_check (strpbrk (name, "/\\<>:\"|?*") == NULL);

  for (const char *p = name; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      usi_fuzz_check (!is_bidi_control (c));
      usi_fuzz_check (!g_unichar_iscntrl (c));
      usi_fuzz_check (g_unichar_type (c) != G_UNICODE_LINE_SEPARATOR &&
                      g_unichar_type (c) != G_UNICODE_PARAGRAPH_SEPARATOR);
    }
  usi_fuzz_check (!g_unichar_isspace (g_utf8_get_char (name)));
  usi_fuzz_check (!g_unichar_isspace (g_utf8_get_char (g_utf8_find_prev_char (name, name + length))));

  /* A Windows device name, with or without an extension, never stays bare. */
  for (guint i = 0; windows_devices[i] != NULL; i++)
    usi_fuzz_check (!(g_ascii_strncasecmp (name, windows_devices[i], 3) == 0 &&
                      (name[3] == '\0' || name[3] == '.')));
}

static void
check_name (const char *input,
            gsize       length)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *name = usi_file_name_sanitize (input, (gssize) length, &error);
  g_autofree char *again = NULL;

  if (name == NULL)
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      usi_fuzz_check (error->code == USI_PROTOCOL_ERROR_UNSAFE_NAME);
      return;
    }

  check_safe_component (name);
  usi_fuzz_check (usi_file_name_is_safe (name));
  again = usi_file_name_sanitize (name, -1, &error);
  usi_fuzz_check (again != NULL && error == NULL);
  usi_fuzz_check (strcmp (again, name) == 0);
}

static void
check_path (const char *input,
            gsize       length)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = usi_file_path_sanitize (input, (gssize) length, &error);
  g_autofree char *again = NULL;
  g_auto(GStrv) components = NULL;

  if (path == NULL)
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      usi_fuzz_check (error->code == USI_PROTOCOL_ERROR_UNSAFE_NAME);
      return;
    }

  usi_fuzz_check (strlen (path) <= USI_FILE_PATH_MAX_BYTES);
  components = g_strsplit (path, "/", -1);
  usi_fuzz_check (g_strv_length (components) >= 1);
  usi_fuzz_check (g_strv_length (components) <= USI_FILE_PATH_MAX_DEPTH);
  for (guint i = 0; components[i] != NULL; i++)
    {
      check_safe_component (components[i]);
      usi_fuzz_check (usi_file_name_is_safe (components[i]));
    }

  usi_fuzz_check (usi_file_path_is_safe (path));
  again = usi_file_path_sanitize (path, -1, &error);
  usi_fuzz_check (again != NULL && error == NULL);
  usi_fuzz_check (strcmp (again, path) == 0);
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
  /* A copy of exactly the text, without a terminating NUL, so reading
   * past the given length is caught. */
  g_autofree char *copy = NULL;
  const char *text = "";

  if (size == 0)
    return 0;

  if (size > 1)
    text = copy = g_memdup2 (data + 1, size - 1);

  if (data[0] & 1)
    check_path (text, size - 1);
  else
    check_name (text, size - 1);

  return 0;
}
