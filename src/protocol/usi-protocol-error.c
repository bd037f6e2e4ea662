/* SPDX-License-Identifier: GPL-3.0-or-later */

#define G_LOG_DOMAIN "usi-protocol"

#include "config.h"

#include "usi-protocol-error.h"

G_DEFINE_QUARK (usi-protocol-error-quark, usi_protocol_error)

void
_usi_protocol_propagate_crypto_error (GError           **dest,
                                      GError            *src,
                                      UsiProtocolError   code)
{
  g_assert (src != NULL);

  if (dest != NULL)
    *dest = g_error_new_literal (USI_PROTOCOL_ERROR, code, src->message);
  g_error_free (src);
}
