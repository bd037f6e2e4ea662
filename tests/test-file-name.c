/* SPDX-License-Identifier: GPL-3.0-or-later */

#include "config.h"

#include <string.h>

#include "crypto/usi-random.h"
#include "protocol/usi-file-name.h"
#include "protocol/usi-protocol-error.h"

/* Sanitizes @length bytes of @input and checks the exact result, and that
 * the result is a fixed point. */
static void
assert_sanitized (const char *input,
                  gssize      length,
                  const char *expected)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *sanitized = usi_file_name_sanitize (input, length, &error);
  g_autofree char *again = NULL;

  g_assert_no_error (error);
  g_assert_cmpstr (sanitized, ==, expected);
  g_assert_true (usi_file_name_is_safe (sanitized));
  again = usi_file_name_sanitize (sanitized, -1, &error);
  g_assert_cmpstr (again, ==, sanitized);
}

static void
assert_refused (const char *input,
                gssize      length)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *sanitized = usi_file_name_sanitize (input, length, &error);

  g_assert_null (sanitized);
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSAFE_NAME);
  if (length < 0)
    g_assert_false (usi_file_name_is_safe (input));
}

static char *
repeat (const char *piece,
        guint       times,
        const char *suffix)
{
  GString *string = g_string_new (NULL);

  for (guint i = 0; i < times; i++)
    g_string_append (string, piece);
  g_string_append (string, suffix);
  return g_string_free (string, FALSE);
}

static void
test_traversal (void)
{
  /* Basename only, then no hidden file. */
  assert_sanitized ("../../.bashrc", -1, "_bashrc");
  assert_sanitized ("/etc/passwd", -1, "passwd");
  assert_sanitized ("..\\..\\evil.exe", -1, "evil.exe");
  assert_sanitized ("C:\\Windows\\system32\\x.dll", -1, "x.dll");
  assert_sanitized ("a/", -1, "a");
  assert_sanitized ("a/.", -1, "a");
  assert_refused ("..", -1);
  assert_refused ("a/..", -1);
  assert_refused ("/", -1);
  assert_refused ("\\\\", -1);
}

static void
test_embedded_nul (void)
{
  /* Three bytes: a C string would stop after "a". */
  assert_refused ("a\0b", 3);
  assert_refused ("report.pdf\0.exe", 15);
  assert_refused ("\0", 1);
}

static void
test_bidi_controls (void)
{
  static const char * const bidi[] = {
    "\u061C", "\u200E", "\u200F", "\u202A", "\u202B", "\u202C", "\u202D", "\u202E",
    "\u2066", "\u2067", "\u2068", "\u2069",
  };

  assert_refused ("x\u202Etxt.exe", -1);
  for (guint i = 0; i < G_N_ELEMENTS (bidi); i++)
    {
      g_autofree char *name = g_strconcat ("photo", bidi[i], ".jpg", NULL);
      g_autofree char *in_folder = g_strconcat ("a", bidi[i], "/photo.jpg", NULL);

      assert_refused (name, -1);
      /* Even in a part the basename rule would drop. */
      assert_refused (in_folder, -1);
    }
}

static void
test_long_names (void)
{
  g_autofree char *plain = repeat ("a", 10000, "");
  g_autofree char *with_extension = repeat ("a", 10000, ".txt");
  g_autofree char *two_byte = repeat ("\u00E9", 10000, "");
  g_autofree char *three_byte_at_cut = repeat ("\u20AC", 5000, ".pdf");
  g_autofree char *long_extension = repeat ("b", 300, ".averyveryverylongextension");
  g_autofree char *expected_plain = repeat ("a", 255, "");
  g_autofree char *expected_extension = repeat ("a", 251, ".txt");
  g_autofree char *expected_two_byte = repeat ("\u00E9", 127, "");
  /* 251 bytes for the stem: 83 euro signs (249 bytes), cut on a character. */
  g_autofree char *expected_three_byte = repeat ("\u20AC", 83, ".pdf");
  g_autofree char *expected_long_extension = repeat ("b", 255, "");
  g_autofree char *device_after_cut = repeat (" ", 300, "x.txt");
  g_autofree char *device_input = g_strconcat ("COM1", device_after_cut, NULL);

  assert_sanitized (plain, -1, expected_plain);
  assert_sanitized (with_extension, -1, expected_extension);
  assert_sanitized (two_byte, -1, expected_two_byte);
  assert_sanitized (three_byte_at_cut, -1, expected_three_byte);
  assert_sanitized (long_extension, -1, expected_long_extension);
  /* Cutting exposes a device name, which then gets its '_'. */
  assert_sanitized (device_input, -1, "_COM1.txt");
}

static void
test_control_characters (void)
{
  assert_sanitized ("a\nb\tc\x1b[31m.txt", -1, "a_b_c_[31m.txt");
  assert_sanitized ("del\x7f.txt", -1, "del_.txt");
  assert_sanitized ("c1\xc2\x85\xc2\x9b.txt", -1, "c1__.txt");
  assert_sanitized ("line\u2028para\u2029.txt", -1, "line_para_.txt");
  /* Invisible format characters, noncharacters. */
  assert_sanitized ("a\u200Bb\uFEFFc\u00ADd\uFFFEe", -1, "a_b_c_d_e");
  /* ZWJ and ZWNJ are kept: emoji sequences and scripts need them. */
  assert_sanitized ("\U0001F468\u200D\U0001F469.png", -1, "\U0001F468\u200D\U0001F469.png");
  assert_sanitized ("\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645.txt", -1,
                    "\u0645\u06CC\u200C\u062E\u0648\u0627\u0647\u0645.txt");
  /* Characters Windows refuses. */
  assert_sanitized ("a<b>c:d\"e|f?g*h", -1, "a_b_c_d_e_f_g_h");
  /* Control characters at either end are replaced, so not trimmed; space
   * separators are. */
  assert_sanitized ("name\n", -1, "name_");
  assert_sanitized ("\tname", -1, "_name");
  assert_sanitized (" \u00A0\u3000name\u3000 ", -1, "name");
}

static void
test_reserved_names (void)
{
  assert_sanitized ("CON", -1, "_CON");
  assert_sanitized ("nul.txt", -1, "_nul.txt");
  assert_sanitized ("Aux.tar.gz", -1, "_Aux.tar.gz");
  assert_sanitized ("com1", -1, "_com1");
  assert_sanitized ("LPT9.log", -1, "_LPT9.log");
  assert_sanitized ("COM0", -1, "_COM0");
  assert_sanitized ("COM\u00B9.txt", -1, "_COM\u00B9.txt");
  assert_sanitized ("conout$", -1, "_conout$");
  assert_sanitized ("con .txt", -1, "_con .txt");
  /* Not devices. */
  assert_sanitized ("COM10", -1, "COM10");
  assert_sanitized ("CONSOLE.txt", -1, "CONSOLE.txt");
  assert_sanitized ("xcon", -1, "xcon");
  assert_sanitized ("_CON", -1, "_CON");
}

static void
test_empty_and_dots (void)
{
  assert_refused ("", -1);
  assert_refused ("", 0);
  assert_refused (".", -1);
  assert_refused ("...", -1);
  assert_refused (". . .", -1);
  assert_refused ("   ", -1);
  assert_refused ("\u3000", -1);
  assert_sanitized ("-rf", -1, "_rf");
  assert_sanitized (".hidden", -1, "_hidden");
  assert_sanitized ("..hidden", -1, "_.hidden");
  assert_sanitized ("name.txt. . ", -1, "name.txt");
  assert_sanitized ("  spaced  ", -1, "spaced");
  assert_sanitized ("-", -1, "_");
}

static void
test_encoding (void)
{
  /* NFC, and invalid UTF-8 made visible. */
  assert_sanitized ("e\u0301te\u0301.txt", -1, "\u00E9t\u00E9.txt");
  assert_sanitized ("a\xff" "b", -1, "a\uFFFDb");
  assert_sanitized ("caf\xe9", -1, "caf\uFFFD");
  /* Harmless look-alikes of separators stay what they are. */
  assert_sanitized ("a\u2215b", -1, "a\u2215b");
}

static void
test_fixed_point (void)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "names", 5);
  /* Bytes that exercise every rule. */
  static const char * const pieces[] = {
    "a", "B", ".", "..", "-", " ", "/", "\\", ":", "*", "\n", "\x7f", "\xc2\x85",
    "\u00E9", "e\u0301", "\u200B", "\u200D", "\u2028", "\uFFFE", "\xff", "CON", "com1",
    "\u3000", "txt", "\U0001F600", "\u0301", "$",
  };
  guint refused = 0;

  for (guint round = 0; round < 20000; round++)
    {
      g_autoptr(GString) input = g_string_new (NULL);
      g_autofree char *sanitized = NULL;
      g_autofree char *path = NULL;
      guint8 choice[2];
      guint count;

      usi_random_fill (random, choice, 1, NULL);
      count = choice[0] % 12 + (round % 100 == 0 ? 200 : 0);
      for (guint i = 0; i < count; i++)
        {
          usi_random_fill (random, choice, 2, NULL);
          g_string_append (input, pieces[choice[0] % G_N_ELEMENTS (pieces)]);
        }

      sanitized = usi_file_name_sanitize (input->str, (gssize) input->len, NULL);
      if (sanitized == NULL)
        refused++;
      else
        {
          g_autofree char *again = usi_file_name_sanitize (sanitized, -1, NULL);

          g_assert_cmpstr (again, ==, sanitized);
          g_assert_cmpuint (strlen (sanitized), >, 0);
          g_assert_cmpuint (strlen (sanitized), <=, USI_FILE_NAME_MAX_BYTES);
          g_assert_null (strpbrk (sanitized, "/\\<>:\"|?*\n\x7f"));
          g_assert_true (sanitized[0] != '.' && sanitized[0] != '-' && sanitized[0] != ' ');
          g_assert_true (g_utf8_validate (sanitized, -1, NULL));
        }

      path = usi_file_path_sanitize (input->str, (gssize) input->len, NULL);
      if (path != NULL)
        {
          g_autofree char *again = usi_file_path_sanitize (path, -1, NULL);

          g_assert_cmpstr (again, ==, path);
          g_assert_true (usi_file_path_is_safe (path));
        }
    }

  /* Both outcomes were exercised. */
  g_assert_cmpuint (refused, >, 0);
  g_assert_cmpuint (refused, <, 20000);
}

static void
assert_path (const char *input,
             const char *expected)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *sanitized = usi_file_path_sanitize (input, -1, &error);

  if (expected == NULL)
    {
      g_assert_null (sanitized);
      g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSAFE_NAME);
      return;
    }

  g_assert_no_error (error);
  g_assert_cmpstr (sanitized, ==, expected);
  g_assert_true (usi_file_path_is_safe (sanitized));
}

static void
test_paths (void)
{
  g_autofree char *deep_ok = repeat ("d/", 15, "f");
  g_autofree char *too_deep = repeat ("d/", 16, "f");
  g_autofree char *long_component = repeat ("c", 255, "");
  g_autofree char *too_long = g_strjoin ("/", long_component, long_component, long_component,
                                         long_component, long_component, NULL);
  g_autoptr(GError) error = NULL;
  g_autofree char *refused = NULL;

  assert_path ("a/b/c.txt", "a/b/c.txt");
  assert_path ("a\\b\\c.txt", "a/b/c.txt");
  assert_path ("./a//b/./c", "a/b/c");
  assert_path ("a/.bashrc", "a/_bashrc");
  assert_path ("dir./-x/CON", "dir/_x/_CON");
  assert_path (deep_ok, deep_ok);
  assert_path (too_deep, NULL);
  assert_path (too_long, NULL);
  assert_path ("/etc/passwd", NULL);
  assert_path ("\\\\server\\share\\x", NULL);
  assert_path ("C:/x", NULL);
  assert_path ("c:x", NULL);
  assert_path ("../../.bashrc", NULL);
  assert_path ("a/../b", NULL);
  assert_path ("a/..", NULL);
  assert_path ("a/.../b", NULL);
  assert_path ("a/\u202E/b", NULL);
  assert_path ("", NULL);
  assert_path ("./.", NULL);

  refused = usi_file_path_sanitize ("a/b\0/../c", 9, &error);
  g_assert_null (refused);
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSAFE_NAME);

  g_assert_false (usi_file_path_is_safe ("a\\b"));
  g_assert_false (usi_file_path_is_safe ("a//b"));
  g_assert_false (usi_file_path_is_safe ("a/b/"));
}

static gboolean
is_in_set (const char *name,
           gpointer    user_data)
{
  return g_hash_table_contains (user_data, name);
}

static gboolean
always_taken (const char *name,
              gpointer    user_data)
{
  return TRUE;
}

static void
test_unique_names (void)
{
  g_autoptr(GHashTable) taken = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree char *long_name = repeat ("x", 251, ".txt");
  g_autofree char *expected_long = repeat ("x", 247, " (2).txt");
  g_autofree char *free_name = usi_file_name_make_unique ("a.txt", is_in_set, taken);
  g_autofree char *second = NULL;
  g_autofree char *third = NULL;
  g_autofree char *no_extension = NULL;
  g_autofree char *unique_long = NULL;

  g_assert_cmpstr (free_name, ==, "a.txt");

  g_hash_table_add (taken, (gpointer) "a.txt");
  second = usi_file_name_make_unique ("a.txt", is_in_set, taken);
  g_assert_cmpstr (second, ==, "a (2).txt");
  g_hash_table_add (taken, (gpointer) "a (2).txt");
  third = usi_file_name_make_unique ("a.txt", is_in_set, taken);
  g_assert_cmpstr (third, ==, "a (3).txt");

  g_hash_table_add (taken, (gpointer) "README");
  no_extension = usi_file_name_make_unique ("README", is_in_set, taken);
  g_assert_cmpstr (no_extension, ==, "README (2)");

  g_hash_table_add (taken, long_name);
  unique_long = usi_file_name_make_unique (long_name, is_in_set, taken);
  g_assert_cmpstr (unique_long, ==, expected_long);
  g_assert_cmpuint (strlen (unique_long), ==, USI_FILE_NAME_MAX_BYTES);

  g_assert_null (usi_file_name_make_unique ("a.txt", always_taken, NULL));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/protocol/file-name/F7-traversal", test_traversal);
  g_test_add_func ("/protocol/file-name/F7-embedded-nul", test_embedded_nul);
  g_test_add_func ("/protocol/file-name/F7-bidi-controls", test_bidi_controls);
  g_test_add_func ("/protocol/file-name/F7-long-names", test_long_names);
  g_test_add_func ("/protocol/file-name/F7-control-characters", test_control_characters);
  g_test_add_func ("/protocol/file-name/F7-reserved-names", test_reserved_names);
  g_test_add_func ("/protocol/file-name/F7-empty-and-dots", test_empty_and_dots);
  g_test_add_func ("/protocol/file-name/encoding", test_encoding);
  g_test_add_func ("/protocol/file-name/fixed-point", test_fixed_point);
  g_test_add_func ("/protocol/file-name/paths", test_paths);
  g_test_add_func ("/protocol/file-name/unique-names", test_unique_names);

  return g_test_run ();
}
