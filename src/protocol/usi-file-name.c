/* SPDX-License-Identifier: GPL-3.0-or-later */

/* File names that are safe to create and to show.  A received name must never
 * reach outside the folder the person chose, hide its real extension, pass
 * for a device or a hidden file, or break the terminal or the layout it is
 * shown in.  This unit only computes names: it never touches the disk.
 */

#define G_LOG_DOMAIN "usi-protocol"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "usi-file-name.h"
#include "usi-protocol-error.h"

/* An extension longer than this is just part of the name when cutting. */
#define MAX_EXTENSION_BYTES 16
#define MAX_UNIQUE_NUMBER   9999

typedef enum
{
  CHARACTER_KEEP,
  CHARACTER_REPLACE,
  CHARACTER_SEPARATOR,
} CharacterRule;

static gboolean
unsafe_name (GError     **error,
             const char  *message)
{
  g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSAFE_NAME, message);
  return FALSE;
}

/* Bidirectional controls reorder what is displayed: their only use in a file
 * name is to show "exe.txt" for "txt.exe".  A name with one is refused, not
 * repaired, so the person learns that someone tried. */
static gboolean
is_bidi_control (gunichar c)
{
  return c == 0x061C || c == 0x200E || c == 0x200F ||
         (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069);
}

static gboolean
is_noncharacter (gunichar c)
{
  return (c & 0xFFFE) == 0xFFFE || (c >= 0xFDD0 && c <= 0xFDEF);
}

static CharacterRule
classify (gunichar c)
{
  if (c == '/' || c == '\\')
    return CHARACTER_SEPARATOR;

  /* C0 and C1 controls and DEL: terminal escapes, line breaks. */
  if (c < 0x20 || (c >= 0x7F && c <= 0x9F))
    return CHARACTER_REPLACE;

  /* Characters Windows (and, for ':', macOS) refuses in a name. */
  if (c < 0x80 && strchr ("<>:\"|?*", (int) c) != NULL)
    return CHARACTER_REPLACE;

  if (is_noncharacter (c))
    return CHARACTER_REPLACE;

  switch (g_unichar_type (c))
    {
    case G_UNICODE_LINE_SEPARATOR:
    case G_UNICODE_PARAGRAPH_SEPARATOR:
      return CHARACTER_REPLACE;
    case G_UNICODE_FORMAT:
      /* Invisible characters that let two names look the same; ZWNJ and ZWJ
       * are kept because Persian, Indic scripts and emoji need them. */
      return c == 0x200C || c == 0x200D ? CHARACTER_KEEP : CHARACTER_REPLACE;
    default:
      return CHARACTER_KEEP;
    }
}

static gboolean
is_space (gunichar c)
{
  return g_unichar_type (c) == G_UNICODE_SPACE_SEPARATOR;
}

static gboolean
is_trimmed_at_end (gunichar c)
{
  return c == '.' || is_space (c);
}

/* Checks what is refused anywhere in the input, and returns it as valid
 * UTF-8 in NFC: NUL (no file system allows it, so it only comes from someone
 * hoping one program stops reading there and another does not) and bidi
 * controls. */
static char *
prepare (const char  *input,
         gssize       length,
         GError     **error)
{
  g_autofree char *valid = NULL;
  g_autofree char *composed = NULL;

  if (length < 0)
    length = (gssize) strlen (input);

  if (memchr (input, '\0', (gsize) length) != NULL)
    {
      unsafe_name (error, _("The file name contains a NUL character, which no real file name has."));
      return NULL;
    }

  valid = g_utf8_make_valid (input, length);
  composed = g_utf8_normalize (valid, -1, G_NORMALIZE_NFC);
  g_assert (composed != NULL);

  for (const char *p = composed; *p != '\0'; p = g_utf8_next_char (p))
    {
      if (is_bidi_control (g_utf8_get_char (p)))
        {
          unsafe_name (error, _("The file name contains invisible characters that change the order in which it is displayed, which can disguise its real type."));
          return NULL;
        }
    }

  return g_steal_pointer (&composed);
}

/* The byte offset where the extension (".txt") starts, or @length when the
 * name has none short enough to be worth keeping. */
static gsize
find_extension (const char *name,
                gsize       length)
{
  const char *dot = g_strrstr_len (name, (gssize) length, ".");

  if (dot == NULL || dot == name)
    return length;
  if (length - (gsize) (dot - name) > MAX_EXTENSION_BYTES || dot + 1 == name + length)
    return length;

  return (gsize) (dot - name);
}

/* Removes white space and dots from the end of @string. */
static void
trim_end (GString *string)
{
  while (string->len > 0)
    {
      const char *last = g_utf8_find_prev_char (string->str, string->str + string->len);

      if (last == NULL || !is_trimmed_at_end (g_utf8_get_char (last)))
        break;
      g_string_truncate (string, (gsize) (last - string->str));
    }
}

/* CON, PRN, AUX, NUL, CONIN$, CONOUT$, COM0–9, LPT0–9 and the superscript
 * COM¹–³, LPT¹–³: Windows opens the device, whatever the extension. */
static gboolean
is_reserved_name (const char *name)
{
  static const char * const devices[] = { "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$" };
  static const char * const digits[] = {
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "\u00B9", "\u00B2", "\u00B3",
  };
  const char *dot = strchr (name, '.');
  gsize length = dot != NULL ? (gsize) (dot - name) : strlen (name);

  /* Windows ignores spaces before the extension too. */
  while (length > 0 && name[length - 1] == ' ')
    length--;

  for (guint i = 0; i < G_N_ELEMENTS (devices); i++)
    if (length == strlen (devices[i]) && g_ascii_strncasecmp (name, devices[i], length) == 0)
      return TRUE;

  if (length > 3 && (g_ascii_strncasecmp (name, "COM", 3) == 0 || g_ascii_strncasecmp (name, "LPT", 3) == 0))
    for (guint i = 0; i < G_N_ELEMENTS (digits); i++)
      if (length - 3 == strlen (digits[i]) && strncmp (name + 3, digits[i], length - 3) == 0)
        return TRUE;

  return FALSE;
}

/* Cuts @name to USI_FILE_NAME_MAX_BYTES on a character boundary, keeping its
 * extension. */
static void
truncate_keeping_extension (GString *name)
{
  gsize extension = find_extension (name->str, name->len);
  g_autofree char *suffix = g_strdup (name->str + extension);
  gsize suffix_length = name->len - extension;
  gsize keep = USI_FILE_NAME_MAX_BYTES - suffix_length;

  /* Back up to the start of a character. */
  while (keep > 0 && (name->str[keep] & 0xC0) == 0x80)
    keep--;
  g_string_truncate (name, keep);
  trim_end (name);
  g_string_append (name, suffix);
}

/* The rules for one component that has no separator, NUL or bidi control
 * and is valid NFC.  Returns NULL (UNSAFE_NAME) when nothing usable is left. */
static char *
sanitize_component (const char  *component,
                    gsize        length,
                    GError     **error)
{
  g_autoptr(GString) name = g_string_sized_new (length);
  const char *end = component + length;
  gsize leading = 0;

  for (const char *p = component; p < end; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      g_assert (classify (c) != CHARACTER_SEPARATOR);
      if (classify (c) == CHARACTER_REPLACE)
        g_string_append_c (name, '_');
      else
        g_string_append_unichar (name, c);
    }

  /* What is left of white space is a space separator (controls are '_' by
   * now).  Leading spaces hide in lists; Windows drops trailing dots and
   * spaces, so "a.exe." would become "a.exe" there. */
  while (leading < name->len && is_space (g_utf8_get_char (name->str + leading)))
    leading = (gsize) (g_utf8_next_char (name->str + leading) - name->str);
  g_string_erase (name, 0, (gssize) leading);
  trim_end (name);
  if (name->len == 0)
    {
      unsafe_name (error, _("The file name has no usable characters."));
      return NULL;
    }

  /* Hidden files, and names a command line would take for an option. */
  if (name->str[0] == '.' || name->str[0] == '-')
    name->str[0] = '_';

  if (is_reserved_name (name->str))
    g_string_prepend_c (name, '_');

  if (name->len > USI_FILE_NAME_MAX_BYTES)
    {
      g_autofree char *composed = NULL;

      truncate_keeping_extension (name);
      /* A cut can expose a device name ("COM1      x.txt" → "COM1.txt"),
       * and recomposition can only shorten. */
      composed = g_utf8_normalize (name->str, -1, G_NORMALIZE_NFC);
      g_string_assign (name, composed);
      if (is_reserved_name (name->str))
        g_string_prepend_c (name, '_');
    }

  g_assert (name->len > 0 && name->len <= USI_FILE_NAME_MAX_BYTES);
  return g_string_free (g_steal_pointer (&name), FALSE);
}

char *
usi_file_name_sanitize (const char  *name,
                        gssize       length,
                        GError     **error)
{
  g_autofree char *prepared = NULL;
  const char *component = NULL;
  gsize component_length = 0;
  const char *start;

  g_return_val_if_fail (name != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  prepared = prepare (name != NULL ? name : "", length, error);
  if (prepared == NULL)
    return NULL;

  /* Basename only: the last component that says something. */
  start = prepared;
  for (const char *p = prepared; ; p = g_utf8_next_char (p))
    {
      if (*p == '\0' || classify (g_utf8_get_char (p)) == CHARACTER_SEPARATOR)
        {
          gsize piece = (gsize) (p - start);

          if (piece > 0 && !(piece == 1 && start[0] == '.'))
            {
              component = start;
              component_length = piece;
            }
          if (*p == '\0')
            break;
          start = p + 1;
        }
    }

  if (component == NULL)
    {
      unsafe_name (error, _("The file has no name."));
      return NULL;
    }

  return sanitize_component (component, component_length, error);
}

gboolean
usi_file_name_is_safe (const char *name)
{
  g_autofree char *sanitized = NULL;

  g_return_val_if_fail (name != NULL, FALSE);

  sanitized = usi_file_name_sanitize (name, -1, NULL);
  return sanitized != NULL && strcmp (sanitized, name) == 0;
}

static gboolean
is_drive_letter (const char *component,
                 gsize       length)
{
  return length >= 2 && g_ascii_isalpha (component[0]) && component[1] == ':';
}

char *
usi_file_path_sanitize (const char  *path,
                        gssize       length,
                        GError     **error)
{
  g_autofree char *prepared = NULL;
  g_autoptr(GString) result = NULL;
  guint depth = 0;
  const char *start;

  g_return_val_if_fail (path != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  prepared = prepare (path != NULL ? path : "", length, error);
  if (prepared == NULL)
    return NULL;

  if (prepared[0] == '/' || prepared[0] == '\\')
    {
      unsafe_name (error, _("The file’s path is absolute; only paths inside the shared folder are allowed."));
      return NULL;
    }

  result = g_string_new (NULL);
  start = prepared;
  for (const char *p = prepared; ; p++)
    {
      if (*p == '\0' || *p == '/' || *p == '\\')
        {
          gsize piece = (gsize) (p - start);
          g_autofree char *component = NULL;

          if (depth == 0 && result->len == 0 && is_drive_letter (start, piece))
            {
              unsafe_name (error, _("The file’s path starts with a drive; only paths inside the shared folder are allowed."));
              return NULL;
            }

          if (piece == 2 && start[0] == '.' && start[1] == '.')
            {
              unsafe_name (error, _("The file’s path tries to leave the shared folder."));
              return NULL;
            }

          if (piece > 0 && !(piece == 1 && start[0] == '.'))
            {
              component = sanitize_component (start, piece, error);
              if (component == NULL)
                return NULL;
              if (++depth > USI_FILE_PATH_MAX_DEPTH)
                {
                  unsafe_name (error, _("The file is nested in too many folders."));
                  return NULL;
                }
              if (result->len > 0)
                g_string_append_c (result, '/');
              g_string_append (result, component);
            }

          if (*p == '\0')
            break;
          start = p + 1;
        }
    }

  if (depth == 0)
    {
      unsafe_name (error, _("The file has no name."));
      return NULL;
    }
  if (result->len > USI_FILE_PATH_MAX_BYTES)
    {
      unsafe_name (error, _("The file’s path is too long."));
      return NULL;
    }

  return g_string_free (g_steal_pointer (&result), FALSE);
}

gboolean
usi_file_path_is_safe (const char *path)
{
  g_autofree char *sanitized = NULL;

  g_return_val_if_fail (path != NULL, FALSE);

  sanitized = usi_file_path_sanitize (path, -1, NULL);
  return sanitized != NULL && strcmp (sanitized, path) == 0;
}

char *
usi_file_name_make_unique (const char           *name,
                           UsiFileNameTakenFunc  is_taken,
                           gpointer              user_data)
{
  gsize length, extension;

  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (usi_file_name_is_safe (name), NULL);
  g_return_val_if_fail (is_taken != NULL, NULL);

  if (!is_taken (name, user_data))
    return g_strdup (name);

  length = strlen (name);
  extension = find_extension (name, length);

  for (guint number = 2; number <= MAX_UNIQUE_NUMBER; number++)
    {
      g_autofree char *suffix = g_strdup_printf (" (%u)%s", number, name + extension);
      gsize suffix_length = strlen (suffix);
      gsize keep = MIN (extension, USI_FILE_NAME_MAX_BYTES - suffix_length);
      g_autoptr(GString) candidate = NULL;
      g_autofree char *sanitized = NULL;

      while (keep > 0 && (name[keep] & 0xC0) == 0x80)
        keep--;
      candidate = g_string_new_len (name, (gssize) keep);
      g_string_append (candidate, suffix);
      /* A cut inside a run of combining marks may need recomposing. */
      sanitized = usi_file_name_sanitize (candidate->str, (gssize) candidate->len, NULL);

      if (sanitized != NULL && !is_taken (sanitized, user_data))
        return g_steal_pointer (&sanitized);
    }

  return NULL;
}
