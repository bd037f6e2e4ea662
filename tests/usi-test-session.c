/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Sessions for tests: one helper for the people of every session test. */

#include "config.h"

#include "usi-test-async.h"
#include "usi-test-session.h"

#define TEST_PASSPHRASE "a passphrase for tests"

UsiSession *
usi_test_session_new (const char *directory,
                      const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiStore) store = NULL;
  UsiTestWaiter waiter = { 0 };
  UsiSession *session;

  if (directory != NULL)
    store = usi_store_open_passphrase (directory, TEST_PASSPHRASE, NULL, &error);
  else
    store = usi_store_new_keep_nothing ();
  g_assert_no_error (error);

  usi_session_new_async (store, name, NULL, usi_test_store_result, &waiter);
  session = usi_session_new_finish (usi_test_wait_result (&waiter), &error);
  g_assert_no_error (error);
  usi_test_waiter_clear (&waiter);
  return session;
}
