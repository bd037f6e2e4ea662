/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Waiting for asynchronous results in tests, with a watchdog. */

#include "config.h"

#include "usi-test-async.h"

static gboolean
watchdog_fired (gpointer user_data)
{
  g_error ("%s: waited more than %d ms for an asynchronous result",
           g_test_get_path (), USI_TEST_WAIT_MS);
  return G_SOURCE_REMOVE;
}

void
usi_test_wait_until (gboolean *done)
{
  guint watchdog = g_timeout_add (USI_TEST_WAIT_MS, watchdog_fired, NULL);

  while (!*done)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (watchdog);
}

void
usi_test_store_result (GObject      *source,
                       GAsyncResult *result,
                       gpointer      user_data)
{
  UsiTestWaiter *waiter = user_data;

  waiter->result = g_object_ref (result);
  waiter->done = TRUE;
}

GAsyncResult *
usi_test_wait_result (UsiTestWaiter *waiter)
{
  g_clear_object (&waiter->result);
  usi_test_wait_until (&waiter->done);
  waiter->done = FALSE;
  return waiter->result;
}

void
usi_test_waiter_clear (UsiTestWaiter *waiter)
{
  g_clear_object (&waiter->result);
  waiter->done = FALSE;
}
