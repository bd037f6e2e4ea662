/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The build's own configuration: the identifiers every part agrees on, and
 * the API floor the whole tree is compiled against. */

#include "config.h"

#include <gio/gio.h>

/* The pins must hold in every translation unit: a newer API must not compile. */
#if GLIB_VERSION_MAX_ALLOWED != GLIB_VERSION_2_74 || GLIB_VERSION_MIN_REQUIRED != GLIB_VERSION_2_74
#error "GLib API floor is not pinned to 2.74"
#endif
#if !defined (OPENSSL_API_COMPAT) || OPENSSL_API_COMPAT != 30000
#error "OpenSSL API compatibility is not pinned to 3.0"
#endif

static void
test_identifiers (void)
{
  g_assert_cmpstr (APP_ID, ==, "com.example.Usi");
  g_assert_true (g_application_id_is_valid (APP_ID));
  g_assert_cmpstr (RESOURCE_BASE_PATH, ==, "/com/example/Usi");
  g_assert_cmpstr (GETTEXT_PACKAGE, ==, "usi");
  g_assert_cmpint (USI_DEFAULT_PORT, ==, 12800);
}

static void
test_version_matches_metainfo (void)
{
  g_autofree char *path = g_build_filename (USI_SOURCE_ROOT, "data", APP_ID ".metainfo.xml.in", NULL);
  g_autofree char *contents = NULL;
  g_autofree char *release = g_strdup_printf ("<release version=\"%s\"", PACKAGE_VERSION);
  g_autoptr(GError) error = NULL;

  g_file_get_contents (path, &contents, NULL, &error);
  g_assert_no_error (error);
  /* The newest release listed in the metainfo is the version being built. */
  g_assert_nonnull (strstr (contents, release));
  g_assert_true (strstr (contents, "<release ") == strstr (contents, release));
}

static void
test_runtime_meets_floor (void)
{
  g_assert_null (glib_check_version (2, 74, 0));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/config/identifiers", test_identifiers);
  g_test_add_func ("/config/version-matches-metainfo", test_version_matches_metainfo);
  g_test_add_func ("/config/runtime-meets-floor", test_runtime_meets_floor);

  return g_test_run ();
}
