/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The network layer's error domain, and where net/ turns OpenSSL's error
 * queue into a GError (OpenSSL's reason appended, never key material). */

#define G_LOG_DOMAIN "usi-net"

#include "config.h"

#include <glib/gi18n-lib.h>
#include <openssl/err.h>

#include "usi-net-error.h"

G_DEFINE_QUARK (usi-net-error-quark, usi_net_error)

void
_usi_net_set_openssl_error (GError      **error,
                            GQuark        domain,
                            gint          code,
                            const char   *what)
{
  unsigned long e = ERR_get_error ();
  char reason[256] = "unknown reason";

  if (e != 0)
    ERR_error_string_n (e, reason, sizeof reason);
  /* Later entries describe the same failure; they must not leak into the
   * next operation's error. */
  ERR_clear_error ();

  /* Translators: the first %s says what failed (e.g. “The TLS handshake”), the second is OpenSSL's reason */
  g_set_error (error, domain, code, _("%s failed: %s"), what, reason);
}
