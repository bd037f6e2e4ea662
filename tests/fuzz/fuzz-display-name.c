/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Display names arrive from other members in rosters and join requests, and
 * each is checked with usi_display_name_normalize().  Whatever it accepts
 * must be short, free of control, format and line-break characters, trimmed,
 * and already normal: normalizing it again changes nothing, so a name one
 * member sends is the name every other member accepts and shows. */

#include "config.h"

#include "protocol/usi-display-name.h"
#include "protocol/usi-protocol-labels.h"

#include "usi-fuzz.h"

static void
check_shown_characters (const char *name)
{
  for (const char *p = name; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      switch (g_unichar_type (c))
        {
        case G_UNICODE_CONTROL:
        case G_UNICODE_FORMAT:
        case G_UNICODE_UNASSIGNED:
        case G_UNICODE_PRIVATE_USE:
        case G_UNICODE_SURROGATE:
        case G_UNICODE_LINE_SEPARATOR:
        case G_UNICODE_PARAGRAPH_SEPARATOR:
          usi_fuzz_check (!"a hidden or line-breaking character was accepted");
          break;
        default:
          break;
        }

      /* White space is folded into single spaces. */
      if (g_unichar_isspace (c) || g_unichar_type (c) == G_UNICODE_SPACE_SEPARATOR)
        {
          usi_fuzz_check (c == ' ');
          usi_fuzz_check (p != name && p[1] != '\0' && p[1] != ' ');
        }
    }
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
  /* The input as a C string: it ends at the first NUL, as it would for a
   * string read off the wire. */
  g_autofree char *typed = g_strndup ((const char *) data, size);
  g_autofree char *name = NULL;
  g_autofree char *again = NULL;
  g_autoptr(GError) error = NULL;

  name = usi_display_name_normalize (typed, &error);
  if (name == NULL)
    {
      usi_fuzz_check_refusal (error, USI_DISPLAY_NAME_ERROR);
      return 0;
    }

  usi_fuzz_check (error == NULL);
  usi_fuzz_check (g_utf8_validate (name, -1, NULL));
  usi_fuzz_check (name[0] != '\0');
  usi_fuzz_check (g_utf8_strlen (name, -1) <= USI_DISPLAY_NAME_MAX_CHARS);
  usi_fuzz_check (strlen (name) <= USI_MAX_NAME_BYTES);
  check_shown_characters (name);

  again = usi_display_name_normalize (name, &error);
  usi_fuzz_check (again != NULL && error == NULL);
  usi_fuzz_check (strcmp (again, name) == 0);

  return 0;
}
