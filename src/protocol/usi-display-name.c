/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The rules for the name a person shows to a room.  Every front end (the
 * first-run dialog, Preferences, usi-cli --name) goes through here, so a name
 * that one accepts the others accept too.  The name is shown to other members,
 * so it must not be able to disguise itself: no control or bidirectional
 * formatting characters, and a bounded length.
 */

#define G_LOG_DOMAIN "usi-display-name"

#include "config.h"

#include <glib/gi18n-lib.h>

#include "usi-display-name.h"

G_DEFINE_QUARK (usi-display-name-error-quark, usi_display_name_error)

/* Spaces and tabs between words are folded; line breaks are refused. */
static gboolean
is_horizontal_space (gunichar c)
{
  return c == '\t' || g_unichar_type (c) == G_UNICODE_SPACE_SEPARATOR;
}

static gboolean
is_forbidden_character (gunichar c)
{
  switch (g_unichar_type (c))
    {
    case G_UNICODE_CONTROL:
    case G_UNICODE_FORMAT:       /* bidi overrides, zero-width joiners, ... */
    case G_UNICODE_UNASSIGNED:
    case G_UNICODE_PRIVATE_USE:
    case G_UNICODE_SURROGATE:
    case G_UNICODE_LINE_SEPARATOR:
    case G_UNICODE_PARAGRAPH_SEPARATOR:
      return TRUE;
    default:
      return FALSE;
    }
}

/**
 * usi_display_name_normalize:
 * @name: a display name as typed
 * @error: return location for a #UsiDisplayNameError
 *
 * Trims surrounding white space, turns every run of inner white space into a
 * single space and composes the result (NFC), then checks it.
 *
 * Returns: (transfer full): the name to store and show, or %NULL with @error set
 */
char *
usi_display_name_normalize (const char  *name,
                            GError     **error)
{
  g_autofree char *composed = NULL;
  g_autoptr(GString) result = NULL;
  gboolean pending_space = FALSE;

  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!g_utf8_validate (name, -1, NULL))
    {
      g_set_error_literal (error, USI_DISPLAY_NAME_ERROR,
                           USI_DISPLAY_NAME_ERROR_INVALID_CHARACTER,
                           _("The name is not valid text."));
      return NULL;
    }

  composed = g_utf8_normalize (name, -1, G_NORMALIZE_NFC);
  result = g_string_new (NULL);

  for (const char *p = composed; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (is_horizontal_space (c))
        {
          pending_space = result->len > 0;
          continue;
        }

      if (is_forbidden_character (c))
        {
          g_set_error_literal (error, USI_DISPLAY_NAME_ERROR,
                               USI_DISPLAY_NAME_ERROR_INVALID_CHARACTER,
                               _("The name contains a control or invisible character. Use letters, digits, punctuation or emoji."));
          return NULL;
        }

      if (pending_space)
        g_string_append_c (result, ' ');
      pending_space = FALSE;
      g_string_append_unichar (result, c);
    }

  if (result->len == 0)
    {
      g_set_error_literal (error, USI_DISPLAY_NAME_ERROR,
                           USI_DISPLAY_NAME_ERROR_EMPTY,
                           _("Choose a name that others will see."));
      return NULL;
    }

  if (g_utf8_strlen (result->str, -1) > USI_DISPLAY_NAME_MAX_CHARS)
    {
      g_set_error (error, USI_DISPLAY_NAME_ERROR,
                   USI_DISPLAY_NAME_ERROR_TOO_LONG,
                   g_dngettext (GETTEXT_PACKAGE,
                                "The name is too long: use at most %d character.",
                                "The name is too long: use at most %d characters.",
                                USI_DISPLAY_NAME_MAX_CHARS),
                   USI_DISPLAY_NAME_MAX_CHARS);
      return NULL;
    }

  return g_string_free (g_steal_pointer (&result), FALSE);
}
