/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The real application, started in-process under Xvfb: the first-run
 * question, the welcome window and its actions, Preferences, About, the
 * keyboard shortcuts and a usi:// link.  Tests run in order and share one
 * application instance, as a person's session would. */

#include "config.h"

#include <adwaita.h>

#include "app/usi-application.h"
#include "app/usi-display-name-dialog.h"
#include "app/usi-preferences-window.h"
#include "app/usi-window.h"

static UsiApplication *app;

/* Spins the main context until @condition holds; fails the test after five
 * seconds instead of hanging CI. */
#define WAIT_UNTIL(condition) \
  G_STMT_START { \
    gint64 __deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC; \
    while (!(condition)) \
      { \
        if (g_get_monotonic_time () > __deadline) \
          g_error ("timed out waiting for %s", #condition); \
        g_main_context_iteration (NULL, FALSE); \
        g_usleep (1000); \
      } \
  } G_STMT_END

static gpointer
find_window (GType type)
{
  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (app)); l; l = l->next)
    if (G_TYPE_CHECK_INSTANCE_TYPE (l->data, type))
      return l->data;

  /* Windows created without an application (a GtkBuilder file) are toplevels only. */
  {
    g_autoptr(GListModel) toplevels = g_object_ref (gtk_window_get_toplevels ());

    for (guint i = 0; i < g_list_model_get_n_items (toplevels); i++)
      {
        g_autoptr(GObject) window = g_list_model_get_item (toplevels, i);

        if (G_TYPE_CHECK_INSTANCE_TYPE (window, type))
          return window;
      }
  }

  return NULL;
}

static gpointer
template_child (gpointer    widget,
                GType       type,
                const char *name)
{
  GObject *child = gtk_widget_get_template_child (GTK_WIDGET (widget), type, name);

  g_assert_nonnull (child);
  return child;
}

static void
assert_display_name (GSettings  *settings,
                     const char *expected)
{
  g_autofree char *name = g_settings_get_string (settings, "display-name");

  g_assert_cmpstr (name, ==, expected);
}

static void
test_first_run_asks_for_display_name (void)
{
  GSettings *settings = usi_application_get_settings (app);
  UsiDisplayNameDialog *dialog;
  GtkEditable *entry;

  assert_display_name (settings, "");

  g_application_activate (G_APPLICATION (app));
  WAIT_UNTIL (find_window (USI_TYPE_DISPLAY_NAME_DIALOG) != NULL);
  dialog = find_window (USI_TYPE_DISPLAY_NAME_DIALOG);
  WAIT_UNTIL (gtk_widget_get_mapped (GTK_WIDGET (dialog)));

  entry = template_child (dialog, USI_TYPE_DISPLAY_NAME_DIALOG, "name_entry");
  g_assert_false (adw_message_dialog_get_response_enabled (ADW_MESSAGE_DIALOG (dialog), "continue"));

  /* A disguised name keeps "Continue" disabled and says why. */
  gtk_editable_set_text (entry, "Ada\u202e");
  g_assert_false (adw_message_dialog_get_response_enabled (ADW_MESSAGE_DIALOG (dialog), "continue"));
  g_assert_true (gtk_widget_has_css_class (GTK_WIDGET (entry), "error"));

  gtk_editable_set_text (entry, "  Ada   Lovelace ");
  g_assert_true (adw_message_dialog_get_response_enabled (ADW_MESSAGE_DIALOG (dialog), "continue"));
  g_assert_false (gtk_widget_has_css_class (GTK_WIDGET (entry), "error"));

  /* Enter in the entry answers "Continue", as a keyboard user would. */
  g_signal_emit_by_name (entry, "activate");
  assert_display_name (settings, "Ada Lovelace");
  WAIT_UNTIL (find_window (USI_TYPE_DISPLAY_NAME_DIALOG) == NULL);
}

static void
test_welcome_window (void)
{
  UsiWindow *window;
  AdwStatusPage *page;
  GtkButton *host;
  GtkButton *join;

  g_application_activate (G_APPLICATION (app));
  WAIT_UNTIL (find_window (USI_TYPE_WINDOW) != NULL);
  window = find_window (USI_TYPE_WINDOW);
  WAIT_UNTIL (gtk_widget_get_mapped (GTK_WIDGET (window)));

  /* The name is set now, so activating again asks nothing. */
  g_assert_null (find_window (USI_TYPE_DISPLAY_NAME_DIALOG));

  page = template_child (window, USI_TYPE_WINDOW, "welcome_page");
  g_assert_cmpstr (adw_status_page_get_icon_name (page), ==, APP_ID);
  g_assert_true (gtk_icon_theme_has_icon (gtk_icon_theme_get_for_display (gdk_display_get_default ()), APP_ID));
  g_assert_cmpstr (adw_status_page_get_title (page), ==, "Welcome to Usi");

  host = template_child (window, USI_TYPE_WINDOW, "host_button");
  join = template_child (window, USI_TYPE_WINDOW, "join_button");
  g_assert_cmpstr (gtk_button_get_label (host), ==, "_Host a room");
  g_assert_cmpstr (gtk_button_get_label (join), ==, "_Join a room");
  g_assert_cmpstr (gtk_actionable_get_action_name (GTK_ACTIONABLE (host)), ==, "app.host-room");
  g_assert_cmpstr (gtk_actionable_get_action_name (GTK_ACTIONABLE (join)), ==, "app.join-room");

  /* Both actions exist but are disabled until hosting and joining are built,
   * and the buttons follow them. */
  g_assert_true (g_action_group_has_action (G_ACTION_GROUP (app), "host-room"));
  g_assert_true (g_action_group_has_action (G_ACTION_GROUP (app), "join-room"));
  g_assert_false (g_action_group_get_action_enabled (G_ACTION_GROUP (app), "host-room"));
  g_assert_false (g_action_group_get_action_enabled (G_ACTION_GROUP (app), "join-room"));
  WAIT_UNTIL (!gtk_widget_is_sensitive (GTK_WIDGET (host)) && !gtk_widget_is_sensitive (GTK_WIDGET (join)));
}

static void
test_preferences_store_display_name (void)
{
  GSettings *settings = usi_application_get_settings (app);
  UsiPreferencesWindow *preferences;
  AdwEntryRow *row;

  g_action_group_activate_action (G_ACTION_GROUP (app), "preferences", NULL);
  WAIT_UNTIL (find_window (USI_TYPE_PREFERENCES_WINDOW) != NULL);
  preferences = find_window (USI_TYPE_PREFERENCES_WINDOW);
  WAIT_UNTIL (gtk_widget_get_mapped (GTK_WIDGET (preferences)));

  row = template_child (preferences, USI_TYPE_PREFERENCES_WINDOW, "display_name_row");
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (row)), ==, "Ada Lovelace");

  gtk_editable_set_text (GTK_EDITABLE (row), " Grace  Hopper ");
  g_signal_emit_by_name (row, "apply");
  assert_display_name (settings, "Grace Hopper");
  g_assert_cmpstr (gtk_editable_get_text (GTK_EDITABLE (row)), ==, "Grace Hopper");
  g_assert_false (gtk_widget_has_css_class (GTK_WIDGET (row), "error"));

  /* A refused name is not stored, and the row shows the problem. */
  gtk_editable_set_text (GTK_EDITABLE (row), "   ");
  g_signal_emit_by_name (row, "apply");
  assert_display_name (settings, "Grace Hopper");
  g_assert_true (gtk_widget_has_css_class (GTK_WIDGET (row), "error"));

  gtk_window_destroy (GTK_WINDOW (preferences));
  WAIT_UNTIL (find_window (USI_TYPE_PREFERENCES_WINDOW) == NULL);
}

static void
test_about (void)
{
  AdwAboutWindow *about;

  g_action_group_activate_action (G_ACTION_GROUP (app), "about", NULL);
  WAIT_UNTIL (find_window (ADW_TYPE_ABOUT_WINDOW) != NULL);
  about = find_window (ADW_TYPE_ABOUT_WINDOW);
  WAIT_UNTIL (gtk_widget_get_mapped (GTK_WIDGET (about)));

  g_assert_cmpstr (adw_about_window_get_application_name (about), ==, "Usi");
  g_assert_cmpstr (adw_about_window_get_application_icon (about), ==, APP_ID);
  g_assert_cmpstr (adw_about_window_get_version (about), ==, PACKAGE_VERSION);
  g_assert_cmpint (adw_about_window_get_license_type (about), ==, GTK_LICENSE_GPL_3_0);

  gtk_window_destroy (GTK_WINDOW (about));
  WAIT_UNTIL (find_window (ADW_TYPE_ABOUT_WINDOW) == NULL);
}

static void
assert_accel (const char *action,
              const char *accel)
{
  g_auto(GStrv) accels = gtk_application_get_accels_for_action (GTK_APPLICATION (app), action);

  g_assert_nonnull (accels);
  g_assert_true (g_strv_contains ((const char * const *) accels, accel));
}

static void
test_keyboard_shortcuts (void)
{
  UsiWindow *window = find_window (USI_TYPE_WINDOW);

  assert_accel ("app.quit", "<Control>q");
  assert_accel ("app.preferences", "<Control>comma");
  assert_accel ("win.show-help-overlay", "<Control>question");

  /* The shortcuts window comes from the resource's gtk/help-overlay.ui. */
  g_assert_nonnull (gtk_application_window_get_help_overlay (GTK_APPLICATION_WINDOW (window)));
  gtk_widget_activate_action (GTK_WIDGET (window), "win.show-help-overlay", NULL);
  WAIT_UNTIL (gtk_widget_get_mapped (GTK_WIDGET (gtk_application_window_get_help_overlay (GTK_APPLICATION_WINDOW (window)))));
  gtk_widget_set_visible (GTK_WIDGET (gtk_application_window_get_help_overlay (GTK_APPLICATION_WINDOW (window))), FALSE);
}

static void
test_usi_link_is_kept_for_joining (void)
{
  const char *invite = "usi://relay.example.org:12800/join?v=1&x=abc";
  g_autoptr(GFile) link = g_file_new_for_uri (invite);
  g_autoptr(GFile) other = g_file_new_for_path ("/tmp/not-an-invite.txt");
  GFile *files[1];

  g_assert_null (usi_application_get_pending_invite (app));

  files[0] = link;
  g_application_open (G_APPLICATION (app), files, 1, "");
  g_assert_cmpstr (usi_application_get_pending_invite (app), ==, invite);
  g_assert_nonnull (find_window (USI_TYPE_WINDOW));

  /* Something that is not an invite never replaces the one kept. */
  files[0] = other;
  g_application_open (G_APPLICATION (app), files, 1, "");
  g_assert_cmpstr (usi_application_get_pending_invite (app), ==, invite);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(GError) error = NULL;
  int status;

  g_setenv ("LANGUAGE", "C", TRUE);
  gtk_test_init (&argc, &argv, NULL);

  /* Non-unique: the test must not hand itself over to a running Usi. */
  app = usi_application_new (G_APPLICATION_NON_UNIQUE);
  g_application_register (G_APPLICATION (app), NULL, &error);
  g_assert_no_error (error);

  g_test_add_func ("/ui/application/first-run-asks-for-display-name", test_first_run_asks_for_display_name);
  g_test_add_func ("/ui/application/welcome-window", test_welcome_window);
  g_test_add_func ("/ui/application/preferences-store-display-name", test_preferences_store_display_name);
  g_test_add_func ("/ui/application/about", test_about);
  g_test_add_func ("/ui/application/keyboard-shortcuts", test_keyboard_shortcuts);
  g_test_add_func ("/ui/application/usi-link-is-kept-for-joining", test_usi_link_is_kept_for_joining);

  status = g_test_run ();

  g_clear_object (&app);
  return status;
}
