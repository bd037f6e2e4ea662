/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The Flatpak manifest cannot be built here (no Flathub), so its contents
 * are checked instead: valid JSON, the app id, command, runtime, sandbox
 * holes, and a meson module built from this repository. */

#include "config.h"

#include <json-glib/json-glib.h>

static JsonObject *manifest;

static void
test_identity (void)
{
  g_assert_cmpstr (json_object_get_string_member (manifest, "id"), ==, APP_ID);
  g_assert_cmpstr (json_object_get_string_member (manifest, "command"), ==, "usi");
  g_assert_cmpstr (json_object_get_string_member (manifest, "runtime"), ==, "org.gnome.Platform");
  g_assert_cmpstr (json_object_get_string_member (manifest, "sdk"), ==, "org.gnome.Sdk");
  g_assert_true (json_object_has_member (manifest, "runtime-version"));
}

static void
test_finish_args (void)
{
  const char *expected[] = {
    "--share=network", "--share=ipc", "--socket=wayland", "--socket=fallback-x11",
    "--device=dri", "--filesystem=xdg-download",
  };
  JsonArray *args = json_object_get_array_member (manifest, "finish-args");

  g_assert_nonnull (args);
  g_assert_cmpuint (json_array_get_length (args), ==, G_N_ELEMENTS (expected));
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    {
      const char *arg = json_array_get_string_element (args, i);

      g_assert_cmpstr (arg, ==, expected[i]);
      /* libnotify and libsecret go through portals: no bus names, no home. */
      g_assert_false (g_str_has_prefix (arg, "--talk-name"));
      g_assert_false (g_str_has_prefix (arg, "--own-name"));
      g_assert_cmpstr (arg, !=, "--filesystem=home");
    }
}

static void
test_app_module (void)
{
  JsonArray *modules = json_object_get_array_member (manifest, "modules");
  JsonObject *app_module;
  JsonObject *source;
  g_autofree char *source_dir = NULL;
  g_autofree char *root = NULL;
  g_autofree char *manifest_dir = NULL;

  g_assert_cmpuint (json_array_get_length (modules), >=, 1);
  /* The application itself is built last, after any dependency module. */
  app_module = json_array_get_object_element (modules, json_array_get_length (modules) - 1);
  g_assert_cmpstr (json_object_get_string_member (app_module, "name"), ==, "usi");
  g_assert_cmpstr (json_object_get_string_member (app_module, "buildsystem"), ==, "meson");

  source = json_array_get_object_element (json_object_get_array_member (app_module, "sources"), 0);
  g_assert_cmpstr (json_object_get_string_member (source, "type"), ==, "dir");

  /* The source path leads from the manifest to this repository's root. */
  manifest_dir = g_build_filename (USI_SOURCE_ROOT, "flatpak", NULL);
  source_dir = g_canonicalize_filename (json_object_get_string_member (source, "path"), manifest_dir);
  root = g_canonicalize_filename (USI_SOURCE_ROOT, NULL);
  g_assert_cmpstr (source_dir, ==, root);
}

int
main (int   argc,
      char *argv[])
{
  g_autofree char *path = g_build_filename (USI_SOURCE_ROOT, "flatpak", APP_ID ".json", NULL);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;

  g_test_init (&argc, &argv, NULL);

  json_parser_load_from_file (parser, path, &error);
  g_assert_no_error (error);
  g_assert_true (JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser)));
  manifest = json_node_get_object (json_parser_get_root (parser));

  g_test_add_func ("/data/flatpak-manifest/identity", test_identity);
  g_test_add_func ("/data/flatpak-manifest/finish-args", test_finish_args);
  g_test_add_func ("/data/flatpak-manifest/app-module", test_app_module);

  return g_test_run ();
}
