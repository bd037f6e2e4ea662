/* SPDX-License-Identifier: GPL-3.0-or-later */

#include "config.h"

#include "usi-test-vectors.h"

const char *
usi_test_vectors_dir (void)
{
  static char *dir = NULL;

  if (dir == NULL)
    {
      const char *env = g_getenv ("USI_VECTORS_DIR");

      dir = env != NULL ? g_strdup (env)
                        : g_build_filename (USI_SOURCE_ROOT, "..", "shared", "vectors", NULL);
    }

  return g_file_test (dir, G_FILE_TEST_IS_DIR) ? dir : NULL;
}

static char *
vector_path_or_skip (const char *relative_path)
{
  const char *dir = usi_test_vectors_dir ();
  g_autofree char *path = NULL;

  if (dir == NULL)
    {
      g_test_skip ("the published vectors (../shared/vectors beside the source tree, or $USI_VECTORS_DIR) are absent");
      return NULL;
    }

  path = g_build_filename (dir, relative_path, NULL);
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      /* The folder is there but the file is not: that is a broken checkout,
       * not an absent one, so it fails. */
      g_test_message ("vector file %s is missing", path);
      g_test_fail ();
      return NULL;
    }

  return g_steal_pointer (&path);
}

JsonNode *
usi_test_vectors_load_json (const char *relative_path)
{
  g_autofree char *path = vector_path_or_skip (relative_path);
  g_autoptr(JsonParser) parser = NULL;
  g_autoptr(GError) error = NULL;

  if (path == NULL)
    return NULL;

  parser = json_parser_new_immutable ();
  json_parser_load_from_mapped_file (parser, path, &error);
  g_assert_no_error (error);

  return json_node_ref (json_parser_get_root (parser));
}

char *
usi_test_vectors_load_text (const char *relative_path)
{
  g_autofree char *path = vector_path_or_skip (relative_path);
  g_autoptr(GError) error = NULL;
  char *contents = NULL;

  if (path == NULL)
    return NULL;

  g_file_get_contents (path, &contents, NULL, &error);
  g_assert_no_error (error);

  return contents;
}

GBytes *
usi_test_hex (const char *hex)
{
  gsize length = strlen (hex);
  guint8 *data;

  g_assert_cmpuint (length % 2, ==, 0);
  data = g_malloc (length / 2 + 1);
  for (gsize i = 0; i < length / 2; i++)
    {
      int high = g_ascii_xdigit_value (hex[2 * i]);
      int low = g_ascii_xdigit_value (hex[2 * i + 1]);

      g_assert_cmpint (high, >=, 0);
      g_assert_cmpint (low, >=, 0);
      data[i] = (guint8) (high << 4 | low);
    }

  return g_bytes_new_take (data, length / 2);
}

char *
usi_test_to_hex (const guint8 *data,
                 gsize         length)
{
  GString *hex = g_string_sized_new (length * 2 + 1);

  for (gsize i = 0; i < length; i++)
    g_string_append_printf (hex, "%02x", data[i]);

  return g_string_free (hex, FALSE);
}

void
usi_test_vectors_report (const char *what,
                         guint       count)
{
  /* Printed on stdout as a TAP comment, so the count is in the test log. */
  g_print ("# %s: %u vectors ran\n", what, count);
  if (count == 0 && !g_test_failed ())
    {
      g_test_message ("%s: no vector ran", what);
      g_test_fail ();
    }
}
