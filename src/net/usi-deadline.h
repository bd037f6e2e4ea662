/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A one-shot timer whose deadline can be moved without a new source
 * (g_source_set_ready_time): the idle timer is pushed back at every read,
 * a connect timeout becomes a Hello timeout.  For net/ only. */
GSource *_usi_deadline_new   (GMainContext *context,
                              guint         timeout_ms,
                              GSourceFunc   callback,
                              gpointer      user_data);
/* Destroys and unrefs *source, if any, and sets it to NULL. */
void     _usi_clear_source   (GSource     **source);

G_END_DECLS
