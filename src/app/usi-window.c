/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The main window.  With no room open it shows the welcome page: host a
 * room or join one.  Its size and state are remembered in GSettings.
 */

#define G_LOG_DOMAIN "usi-window"

#include "config.h"

#include "usi-window.h"

struct _UsiWindow
{
  AdwApplicationWindow  parent_instance;

  /* Template widgets */
  AdwToastOverlay      *toast_overlay;
  AdwStatusPage        *welcome_page;
  GtkButton            *host_button;
  GtkButton            *join_button;
};

G_DEFINE_FINAL_TYPE (UsiWindow, usi_window, ADW_TYPE_APPLICATION_WINDOW)

static void
usi_window_constructed (GObject *object)
{
  UsiWindow *self = USI_WINDOW (object);
  GtkApplication *application;

  G_OBJECT_CLASS (usi_window_parent_class)->constructed (object);

  application = gtk_window_get_application (GTK_WINDOW (self));
  if (USI_IS_APPLICATION (application))
    {
      GSettings *settings = usi_application_get_settings (USI_APPLICATION (application));

      g_settings_bind (settings, "window-width", self, "default-width", G_SETTINGS_BIND_DEFAULT);
      g_settings_bind (settings, "window-height", self, "default-height", G_SETTINGS_BIND_DEFAULT);
      g_settings_bind (settings, "window-maximized", self, "maximized", G_SETTINGS_BIND_DEFAULT);
    }
}

static void
usi_window_dispose (GObject *object)
{
  gtk_widget_dispose_template (GTK_WIDGET (object), USI_TYPE_WINDOW);

  G_OBJECT_CLASS (usi_window_parent_class)->dispose (object);
}

static void
usi_window_class_init (UsiWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->constructed = usi_window_constructed;
  object_class->dispose = usi_window_dispose;

  gtk_widget_class_set_template_from_resource (widget_class, RESOURCE_BASE_PATH "/usi-window.ui");
  gtk_widget_class_bind_template_child (widget_class, UsiWindow, toast_overlay);
  gtk_widget_class_bind_template_child (widget_class, UsiWindow, welcome_page);
  gtk_widget_class_bind_template_child (widget_class, UsiWindow, host_button);
  gtk_widget_class_bind_template_child (widget_class, UsiWindow, join_button);
}

static void
usi_window_init (UsiWindow *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));

  if (USI_DEVELOPMENT_BUILD)
    gtk_widget_add_css_class (GTK_WIDGET (self), "devel");
}

UsiWindow *
usi_window_new (UsiApplication *application)
{
  g_return_val_if_fail (USI_IS_APPLICATION (application), NULL);

  return g_object_new (USI_TYPE_WINDOW,
                       "application", application,
                       NULL);
}

void
usi_window_show_toast (UsiWindow  *self,
                       const char *message)
{
  g_return_if_fail (USI_IS_WINDOW (self));
  g_return_if_fail (message != NULL);

  adw_toast_overlay_add_toast (self->toast_overlay, adw_toast_new (message));
}
