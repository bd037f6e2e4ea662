/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Errors of the network layer.  G_IO_ERROR is reused for what the socket
 * itself reports (refused, timed out, closed). */
#define USI_NET_ERROR (usi_net_error_quark ())
GQuark usi_net_error_quark (void);

typedef enum
{
  USI_NET_ERROR_TLS,              /* the TLS handshake or record layer failed (OpenSSL's reason appended) */
  USI_NET_ERROR_PIN_MISMATCH,     /* the relay's key is not the one the invite names (T1) */
  USI_NET_ERROR_HANDSHAKE_TIMEOUT,
  USI_NET_ERROR_IDLE_TIMEOUT,
  USI_NET_ERROR_FRAME,            /* a frame header or body was refused (§4, §11.2) */
  USI_NET_ERROR_RATE_LIMIT,
  USI_NET_ERROR_BACKPRESSURE,     /* too many bytes queued to a slow reader */
  USI_NET_ERROR_CLOSED,           /* the other side closed the connection */
  USI_NET_ERROR_REFUSED,          /* the relay answered Refused (the message says why) */
  USI_NET_ERROR_BAD_HELLO,
  USI_NET_ERROR_FULL,             /* the relay is at its connection limit */
  USI_NET_ERROR_ADDRESS,          /* an address could not be parsed or bound */
  USI_NET_ERROR_STORAGE,          /* the relay's store failed */
} UsiNetError;

/* net/ only: sets `domain`/`code` to "`what` failed: <OpenSSL's reason>"
 * from the thread's OpenSSL error queue, and empties the queue. */
void _usi_net_set_openssl_error (GError     **error,
                                 GQuark       domain,
                                 gint         code,
                                 const char  *what);

G_END_DECLS
