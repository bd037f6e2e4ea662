/* SPDX-License-Identifier: GPL-3.0-or-later */

/* usi: the desktop application.  Everything happens in app/; this only sets
 * up translations and runs the application.
 */

#include "config.h"

#include <glib/gi18n.h>
#include <locale.h>

#include "app/usi-application.h"

int
main (int   argc,
      char *argv[])
{
  g_autoptr(UsiApplication) app = NULL;

  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  app = usi_application_new (G_APPLICATION_DEFAULT_FLAGS);

  return g_application_run (G_APPLICATION (app), argc, argv);
}
