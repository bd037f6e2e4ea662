/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Waiting for asynchronous results in tests: the default main context is
 * spun until the result arrives, and a watchdog ends the test with an
 * error instead of a hang. */

#define USI_TEST_WAIT_MS 30000

typedef struct
{
  gboolean      done;
  GAsyncResult *result;
} UsiTestWaiter;

/* A GAsyncReadyCallback: `user_data` is a UsiTestWaiter. */
void          usi_test_store_result  (GObject       *source,
                                      GAsyncResult  *result,
                                      gpointer       user_data);
/* Drops the previous result, then waits for the next one; the waiter owns
 * it until the next call or usi_test_waiter_clear(). */
GAsyncResult *usi_test_wait_result   (UsiTestWaiter *waiter);
void          usi_test_waiter_clear  (UsiTestWaiter *waiter);
/* Spins until *done. */
void          usi_test_wait_until    (gboolean      *done);

G_END_DECLS
