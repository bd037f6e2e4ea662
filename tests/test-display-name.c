/* SPDX-License-Identifier: GPL-3.0-or-later */

#include "config.h"

#include "protocol/usi-display-name.h"

static void
assert_normalizes_to (const char *input,
                      const char *expected)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *name = usi_display_name_normalize (input, &error);

  g_assert_no_error (error);
  g_assert_cmpstr (name, ==, expected);
}

static void
assert_refused (const char          *input,
                UsiDisplayNameError  code)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *name = usi_display_name_normalize (input, &error);

  g_assert_null (name);
  g_assert_error (error, USI_DISPLAY_NAME_ERROR, (int) code);
  g_assert_cmpstr (error->message, !=, "");
}

static void
test_plain_names_kept (void)
{
  assert_normalizes_to ("Ada", "Ada");
  assert_normalizes_to ("Zoë Ngo", "Zoë Ngo");
  assert_normalizes_to ("李小龍", "李小龍");
  assert_normalizes_to ("🦊 fox", "🦊 fox");
}

static void
test_white_space_folded (void)
{
  assert_normalizes_to ("  Ada  ", "Ada");
  assert_normalizes_to ("Ada \t  Lovelace", "Ada Lovelace");
  assert_normalizes_to ("\u00a0Ada\u3000", "Ada");
}

static void
test_composed (void)
{
  /* "e" + combining acute accent becomes the single character é. */
  assert_normalizes_to ("Rene\xcc\x81", "René");
}

static void
test_empty_refused (void)
{
  assert_refused ("", USI_DISPLAY_NAME_ERROR_EMPTY);
  assert_refused ("   \t ", USI_DISPLAY_NAME_ERROR_EMPTY);
}

static void
test_length_capped (void)
{
  g_autofree char *longest = g_strnfill (USI_DISPLAY_NAME_MAX_CHARS, 'a');
  g_autofree char *too_long = g_strnfill (USI_DISPLAY_NAME_MAX_CHARS + 1, 'a');
  g_autoptr(GString) emoji = g_string_new (NULL);

  assert_normalizes_to (longest, longest);
  assert_refused (too_long, USI_DISPLAY_NAME_ERROR_TOO_LONG);

  /* The cap counts characters, not bytes. */
  for (guint i = 0; i < USI_DISPLAY_NAME_MAX_CHARS; i++)
    g_string_append (emoji, "🦊");
  assert_normalizes_to (emoji->str, emoji->str);
}

static void
test_disguising_characters_refused (void)
{
  /* A name must not be able to reorder or hide what is shown around it. */
  assert_refused ("Ada\u202eecilA", USI_DISPLAY_NAME_ERROR_INVALID_CHARACTER);  /* right-to-left override */
  assert_refused ("Ada\u2066x", USI_DISPLAY_NAME_ERROR_INVALID_CHARACTER);      /* left-to-right isolate */
  assert_refused ("A\u200bda", USI_DISPLAY_NAME_ERROR_INVALID_CHARACTER);       /* zero-width space */
  assert_refused ("Ada\nBob", USI_DISPLAY_NAME_ERROR_INVALID_CHARACTER);
  assert_refused ("Ada\x1b[31m", USI_DISPLAY_NAME_ERROR_INVALID_CHARACTER);     /* terminal escape */
  assert_refused ("Ada\u2028", USI_DISPLAY_NAME_ERROR_INVALID_CHARACTER);       /* line separator */
  assert_refused ("\xef\xbf\xbe", USI_DISPLAY_NAME_ERROR_INVALID_CHARACTER);    /* noncharacter U+FFFE */
}

static void
test_invalid_utf8_refused (void)
{
  assert_refused ("Ad\xff" "a", USI_DISPLAY_NAME_ERROR_INVALID_CHARACTER);
  assert_refused ("\xc0\xaf", USI_DISPLAY_NAME_ERROR_INVALID_CHARACTER);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/protocol/display-name/plain-names-kept", test_plain_names_kept);
  g_test_add_func ("/protocol/display-name/white-space-folded", test_white_space_folded);
  g_test_add_func ("/protocol/display-name/composed", test_composed);
  g_test_add_func ("/protocol/display-name/empty-refused", test_empty_refused);
  g_test_add_func ("/protocol/display-name/length-capped", test_length_capped);
  g_test_add_func ("/protocol/display-name/disguising-characters-refused", test_disguising_characters_refused);
  g_test_add_func ("/protocol/display-name/invalid-utf8-refused", test_invalid_utf8_refused);

  return g_test_run ();
}
