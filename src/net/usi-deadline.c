/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Deadlines for the network layer's timeouts: a GSource that fires once
 * its ready time is reached and can be moved meanwhile.  No I/O. */

#define G_LOG_DOMAIN "usi-net"

#include "config.h"

#include "usi-deadline.h"

static gboolean
deadline_dispatch (GSource     *source,
                   GSourceFunc  callback,
                   gpointer     user_data)
{
  g_source_set_ready_time (source, -1);
  return callback (user_data);
}

static GSourceFuncs deadline_funcs = {
  .dispatch = deadline_dispatch,
};

GSource *
_usi_deadline_new (GMainContext *context,
                   guint         timeout_ms,
                   GSourceFunc   callback,
                   gpointer      user_data)
{
  GSource *source = g_source_new (&deadline_funcs, sizeof (GSource));

  g_source_set_callback (source, callback, user_data, NULL);
  g_source_set_ready_time (source, g_get_monotonic_time () + (gint64) timeout_ms * 1000);
  g_source_attach (source, context);
  return source;
}

void
_usi_clear_source (GSource **source)
{
  if (*source != NULL)
    {
      g_source_destroy (*source);
      g_clear_pointer (source, g_source_unref);
    }
}
