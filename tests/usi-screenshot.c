/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Renders the welcome window to a PNG, for docs/screenshots/ (run by
 * `build-aux/dev screenshot` under Xvfb).  It draws the real application
 * window through GTK's own renderer, so what it saves is what a person sees.
 */

#include "config.h"

#include <adwaita.h>
#include <glib/gi18n.h>
#include <locale.h>

#include "app/usi-application.h"
#include "app/usi-window.h"

static char *output_path;
static int exit_status = 1;

static gboolean
save_screenshot (gpointer user_data)
{
  GtkWidget *window = GTK_WIDGET (user_data);
  g_autoptr(GdkPaintable) paintable = gtk_widget_paintable_new (window);
  g_autoptr(GtkSnapshot) snapshot = gtk_snapshot_new ();
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GdkTexture) texture = NULL;
  int width = gtk_widget_get_width (window);
  int height = gtk_widget_get_height (window);

  gdk_paintable_snapshot (paintable, GDK_SNAPSHOT (snapshot), width, height);
  node = gtk_snapshot_free_to_node (g_steal_pointer (&snapshot));
  texture = gsk_renderer_render_texture (gtk_native_get_renderer (GTK_NATIVE (window)),
                                         node, &GRAPHENE_RECT_INIT (0, 0, width, height));

  if (gdk_texture_save_to_png (texture, output_path))
    {
      g_print ("%s (%d×%d)\n", output_path, width, height);
      exit_status = 0;
    }
  else
    g_printerr ("usi-screenshot: could not write %s\n", output_path);

  g_application_quit (G_APPLICATION (gtk_window_get_application (GTK_WINDOW (window))));
  return G_SOURCE_REMOVE;
}

static void
on_activate (GApplication *app)
{
  GtkWindow *window = gtk_application_get_active_window (GTK_APPLICATION (app));

  g_assert (USI_IS_WINDOW (window));
  gtk_window_set_default_size (window, 720, 560);
  /* Show what a user of a release sees, without the development stripes. */
  gtk_widget_remove_css_class (GTK_WIDGET (window), "devel");
  /* Give GTK time to lay out, load the icon and draw a first frame. */
  g_timeout_add (1500, save_screenshot, window);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(UsiApplication) app = NULL;
  g_autoptr(GSettings) settings = NULL;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  textdomain (GETTEXT_PACKAGE);

  if (argc != 2)
    {
      g_printerr ("usage: usi-screenshot OUTPUT.png\n");
      return 2;
    }
  output_path = argv[1];

  /* A name is set so the first-run question does not cover the window. */
  settings = g_settings_new (APP_ID);
  g_settings_set_string (settings, "display-name", "Ada");

  app = usi_application_new (G_APPLICATION_NON_UNIQUE);
  g_signal_connect_after (app, "activate", G_CALLBACK (on_activate), NULL);
  g_application_run (G_APPLICATION (app), 1, argv);

  return exit_status;
}
