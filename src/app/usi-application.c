/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The desktop application: one instance per session (D-Bus activatable), the
 * app-wide actions and their accelerators, and the entry points from outside
 * (launch, a usi:// link).  Windows and dialogs live in their own files.
 */

#define G_LOG_DOMAIN "usi-application"

#include "config.h"

#include <glib/gi18n.h>

#include "usi-application.h"
#include "usi-display-name-dialog.h"
#include "usi-preferences-window.h"
#include "usi-window.h"

struct _UsiApplication
{
  AdwApplication  parent_instance;

  GSettings      *settings;
  /* The invite from the last usi:// link, kept for the join dialog. */
  char           *pending_invite;
};

enum {
  PROP_0,
  PROP_PENDING_INVITE,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (UsiApplication, usi_application, ADW_TYPE_APPLICATION)

static UsiWindow *
get_or_create_window (UsiApplication *self)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (self));

  if (USI_IS_WINDOW (window))
    return USI_WINDOW (window);

  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (self)); l; l = l->next)
    if (USI_IS_WINDOW (l->data))
      return USI_WINDOW (l->data);

  return usi_window_new (self);
}

static void
ask_for_display_name_if_unset (UsiApplication *self,
                               UsiWindow      *window)
{
  g_autofree char *name = g_settings_get_string (self->settings, "display-name");

  if (name[0] != '\0')
    return;

  for (GList *l = gtk_application_get_windows (GTK_APPLICATION (self)); l; l = l->next)
    if (USI_IS_DISPLAY_NAME_DIALOG (l->data))
      {
        gtk_window_present (GTK_WINDOW (l->data));
        return;
      }

  gtk_window_present (GTK_WINDOW (usi_display_name_dialog_new (GTK_WINDOW (window),
                                                               self->settings)));
}

static void
set_pending_invite (UsiApplication *self,
                    const char     *invite)
{
  if (g_strcmp0 (self->pending_invite, invite) == 0)
    return;

  g_free (self->pending_invite);
  self->pending_invite = g_strdup (invite);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_PENDING_INVITE]);
}

static void
usi_application_activate (GApplication *app)
{
  UsiApplication *self = USI_APPLICATION (app);
  UsiWindow *window = get_or_create_window (self);

  gtk_window_present (GTK_WINDOW (window));
  ask_for_display_name_if_unset (self, window);
}

static void
usi_application_open (GApplication  *app,
                      GFile        **files,
                      int            n_files,
                      const char    *hint)
{
  UsiApplication *self = USI_APPLICATION (app);
  UsiWindow *window;

  usi_application_activate (app);
  window = get_or_create_window (self);

  for (int i = 0; i < n_files; i++)
    {
      g_autofree char *uri = g_file_get_uri (files[i]);

      if (g_strcmp0 (g_uri_peek_scheme (uri), "usi") == 0)
        {
          set_pending_invite (self, uri);
          /* Joining arrives with the network layer; the invite is kept so the
           * join dialog can be filled in from it. */
          usi_window_show_toast (window, _("Joining a room is not available in this version yet."));
        }
      else
        {
          g_autofree char *message = NULL;

          /* Translators: %s is what was passed on the command line */
          message = g_strdup_printf (_("“%s” is not a Usi invite."), g_file_peek_path (files[i]) ?: uri);
          usi_window_show_toast (window, message);
        }
    }
}

static void
quit_activated (GSimpleAction *action,
                GVariant      *parameter,
                gpointer       user_data)
{
  g_application_quit (G_APPLICATION (user_data));
}

static void
preferences_activated (GSimpleAction *action,
                       GVariant      *parameter,
                       gpointer       user_data)
{
  UsiApplication *self = USI_APPLICATION (user_data);
  GtkWindow *parent = gtk_application_get_active_window (GTK_APPLICATION (self));
  UsiPreferencesWindow *preferences;

  preferences = usi_preferences_window_new (self->settings);
  gtk_window_set_application (GTK_WINDOW (preferences), GTK_APPLICATION (self));
  if (parent != NULL)
    gtk_window_set_transient_for (GTK_WINDOW (preferences), parent);
  gtk_window_present (GTK_WINDOW (preferences));
}

static void
about_activated (GSimpleAction *action,
                 GVariant      *parameter,
                 gpointer       user_data)
{
  UsiApplication *self = USI_APPLICATION (user_data);
  GtkWindow *parent = gtk_application_get_active_window (GTK_APPLICATION (self));
  g_autoptr(GtkBuilder) builder = NULL;
  AdwAboutWindow *about;

  builder = gtk_builder_new_from_resource (RESOURCE_BASE_PATH "/usi-about-window.ui");
  about = ADW_ABOUT_WINDOW (gtk_builder_get_object (builder, "about_window"));
  adw_about_window_set_version (about, PACKAGE_VERSION);
  gtk_window_set_application (GTK_WINDOW (about), GTK_APPLICATION (self));
  if (parent != NULL)
    gtk_window_set_transient_for (GTK_WINDOW (about), parent);
  gtk_window_present (GTK_WINDOW (about));
}

static const GActionEntry app_actions[] = {
  { "quit", quit_activated },
  { "preferences", preferences_activated },
  { "about", about_activated },
};

/* Hosting and joining arrive with the network layer; until then their
 * actions exist, so the buttons are wired, but they stay disabled. */
static const char * const unavailable_actions[] = { "host-room", "join-room" };

static void
usi_application_startup (GApplication *app)
{
  UsiApplication *self = USI_APPLICATION (app);

  G_APPLICATION_CLASS (usi_application_parent_class)->startup (app);

  g_action_map_add_action_entries (G_ACTION_MAP (self), app_actions,
                                   G_N_ELEMENTS (app_actions), self);
  for (guint i = 0; i < G_N_ELEMENTS (unavailable_actions); i++)
    {
      g_autoptr(GSimpleAction) action = g_simple_action_new (unavailable_actions[i], NULL);

      g_simple_action_set_enabled (action, FALSE);
      g_action_map_add_action (G_ACTION_MAP (self), G_ACTION (action));
    }

  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.quit",
                                         (const char *[]) { "<Primary>q", NULL });
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "app.preferences",
                                         (const char *[]) { "<Primary>comma", NULL });
  gtk_application_set_accels_for_action (GTK_APPLICATION (self), "win.show-help-overlay",
                                         (const char *[]) { "<Primary>question", NULL });
}

static void
usi_application_finalize (GObject *object)
{
  UsiApplication *self = USI_APPLICATION (object);

  g_clear_object (&self->settings);
  g_clear_pointer (&self->pending_invite, g_free);

  G_OBJECT_CLASS (usi_application_parent_class)->finalize (object);
}

static void
usi_application_get_property (GObject    *object,
                              guint       prop_id,
                              GValue     *value,
                              GParamSpec *pspec)
{
  UsiApplication *self = USI_APPLICATION (object);

  switch (prop_id)
    {
    case PROP_PENDING_INVITE:
      g_value_set_string (value, self->pending_invite);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
usi_application_class_init (UsiApplicationClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  object_class->finalize = usi_application_finalize;
  object_class->get_property = usi_application_get_property;

  app_class->startup = usi_application_startup;
  app_class->activate = usi_application_activate;
  app_class->open = usi_application_open;

  properties[PROP_PENDING_INVITE] =
    g_param_spec_string ("pending-invite", NULL, NULL,
                         NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
usi_application_init (UsiApplication *self)
{
  self->settings = g_settings_new (APP_ID);
}

UsiApplication *
usi_application_new (GApplicationFlags flags)
{
  return g_object_new (USI_TYPE_APPLICATION,
                       "application-id", APP_ID,
                       "flags", flags | G_APPLICATION_HANDLES_OPEN,
                       "resource-base-path", RESOURCE_BASE_PATH,
                       NULL);
}

GSettings *
usi_application_get_settings (UsiApplication *self)
{
  g_return_val_if_fail (USI_IS_APPLICATION (self), NULL);

  return self->settings;
}

const char *
usi_application_get_pending_invite (UsiApplication *self)
{
  g_return_val_if_fail (USI_IS_APPLICATION (self), NULL);

  return self->pending_invite;
}
