/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "session/usi-session.h"

G_BEGIN_DECLS

/* A person for session tests: keeping nothing (`directory` NULL), or
 * keeping state in `directory` under a passphrase-wrapped key (no Secret
 * Service needed).  Waits for the session; fails the test on error. */
UsiSession *usi_test_session_new (const char *directory,
                                  const char *name);

G_END_DECLS
