/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Preferences.  A value is written to GSettings only once it is valid, so a
 * half-typed or rejected display name never reaches other members.
 */

#define G_LOG_DOMAIN "usi-preferences-window"

#include "config.h"

#include "protocol/usi-display-name.h"

#include "usi-preferences-window.h"

struct _UsiPreferencesWindow
{
  AdwPreferencesWindow  parent_instance;

  GSettings            *settings;

  /* Template widgets */
  AdwEntryRow          *display_name_row;
};

enum {
  PROP_0,
  PROP_SETTINGS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (UsiPreferencesWindow, usi_preferences_window, ADW_TYPE_PREFERENCES_WINDOW)

static void
on_display_name_apply (UsiPreferencesWindow *self,
                       AdwEntryRow          *row)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;

  name = usi_display_name_normalize (gtk_editable_get_text (GTK_EDITABLE (row)), &error);
  if (name == NULL)
    {
      gtk_widget_add_css_class (GTK_WIDGET (row), "error");
      adw_preferences_window_add_toast (ADW_PREFERENCES_WINDOW (self),
                                        adw_toast_new (error->message));
      return;
    }

  gtk_widget_remove_css_class (GTK_WIDGET (row), "error");
  g_settings_set_string (self->settings, "display-name", name);
  gtk_editable_set_text (GTK_EDITABLE (row), name);
}

static void
usi_preferences_window_constructed (GObject *object)
{
  UsiPreferencesWindow *self = USI_PREFERENCES_WINDOW (object);
  g_autofree char *name = NULL;

  G_OBJECT_CLASS (usi_preferences_window_parent_class)->constructed (object);

  name = g_settings_get_string (self->settings, "display-name");
  gtk_editable_set_text (GTK_EDITABLE (self->display_name_row), name);
}

static void
usi_preferences_window_dispose (GObject *object)
{
  UsiPreferencesWindow *self = USI_PREFERENCES_WINDOW (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), USI_TYPE_PREFERENCES_WINDOW);
  g_clear_object (&self->settings);

  G_OBJECT_CLASS (usi_preferences_window_parent_class)->dispose (object);
}

static void
usi_preferences_window_set_property (GObject      *object,
                                     guint         prop_id,
                                     const GValue *value,
                                     GParamSpec   *pspec)
{
  UsiPreferencesWindow *self = USI_PREFERENCES_WINDOW (object);

  switch (prop_id)
    {
    case PROP_SETTINGS:
      self->settings = g_value_dup_object (value);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
usi_preferences_window_class_init (UsiPreferencesWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->constructed = usi_preferences_window_constructed;
  object_class->dispose = usi_preferences_window_dispose;
  object_class->set_property = usi_preferences_window_set_property;

  properties[PROP_SETTINGS] =
    g_param_spec_object ("settings", NULL, NULL,
                         G_TYPE_SETTINGS,
                         G_PARAM_WRITABLE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class, RESOURCE_BASE_PATH "/usi-preferences-window.ui");
  gtk_widget_class_bind_template_child (widget_class, UsiPreferencesWindow, display_name_row);
  gtk_widget_class_bind_template_callback (widget_class, on_display_name_apply);
}

static void
usi_preferences_window_init (UsiPreferencesWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
}

UsiPreferencesWindow *
usi_preferences_window_new (GSettings *settings)
{
  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);

  return g_object_new (USI_TYPE_PREFERENCES_WINDOW,
                       "settings", settings,
                       NULL);
}
