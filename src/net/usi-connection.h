/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <gio/gio.h>

#include "usi-tls-identity.h"

G_BEGIN_DECLS

/* One TLS 1.3 connection carrying frames (docs/protocol.md §4, §11.1),
 * driven entirely by GIO's asynchronous reads and writes: libssl only ever
 * sees memory BIOs, nothing here blocks.  It owns a write queue with a byte
 * limit (backpressure), a handshake timeout, an idle timeout, a frame rate
 * limit and the per-type frame size limits.  Any failure closes it and emits
 * ::closed once with the reason. */

typedef struct
{
  guint   handshake_timeout_ms;    /* default 10,000 */
  guint   idle_timeout_ms;         /* nothing received for this long: closed; 0 = never.  default 60,000 */
  guint   frames_per_second;       /* token bucket rate; 0 = unlimited.  default 10,000 */
  guint   frame_burst;             /* bucket size.  default 20,000 */
  gsize   max_queued_bytes;        /* queued to write beyond this: closed (BACKPRESSURE).  default 8 MiB */
} UsiConnectionLimits;

void usi_connection_limits_init_default (UsiConnectionLimits *limits);

#define USI_TYPE_CONNECTION (usi_connection_get_type ())
G_DECLARE_FINAL_TYPE (UsiConnection, usi_connection, USI, CONNECTION, GObject)

/* The relay's side: presents `identity`, requires a client certificate
 * (T4).  The client's side: presents a fresh identity of its own and accepts
 * the server only when the pin of its certificate equals `expected_pin`
 * (T1); with `expected_pin` NULL it accepts any relay key (pre-shared key
 * rooms joined without a pin: the key protects the content, the relay is
 * not authenticated).  `stream` is usually a GSocketConnection. */
UsiConnection *usi_connection_new_server       (GIOStream                 *stream,
                                                UsiTlsIdentity            *identity,
                                                const UsiConnectionLimits *limits);
UsiConnection *usi_connection_new_client       (GIOStream                 *stream,
                                                const guint8              *expected_pin,
                                                const UsiConnectionLimits *limits);

/* Runs the TLS handshake; completes once it is done (or failed, or timed
 * out: USI_NET_ERROR_HANDSHAKE_TIMEOUT, _PIN_MISMATCH, _TLS).  After success
 * the connection reads frames and emits ::frame-received for each. */
void           usi_connection_handshake_async  (UsiConnection       *self,
                                                GCancellable        *cancellable,
                                                GAsyncReadyCallback  callback,
                                                gpointer             user_data);
gboolean       usi_connection_handshake_finish (UsiConnection       *self,
                                                GAsyncResult        *result,
                                                GError             **error);

/* TLS exporter (RFC 8446 §7.5), after the handshake. */
gboolean       usi_connection_export_keying_material (UsiConnection *self,
                                                      const char    *label,
                                                      guint8        *out,
                                                      gsize          length,
                                                      GError       **error);
/* SHA-256 of the peer certificate's SubjectPublicKeyInfo (its pin), after
 * the handshake; NULL before. */
const guint8  *usi_connection_get_peer_pin     (UsiConnection       *self);
/* SHA-256 of the client certificate's SubjectPublicKeyInfo: on the server
 * the peer's, on the client its own.  After the handshake. */
const guint8  *usi_connection_get_client_spki_hash (UsiConnection   *self);

/* Queues one whole frame (header included) for writing; frames queued
 * before the handshake is done leave once it is.  The bytes are written as
 * they are (the caller encodes them; nothing is checked on the way out, so
 * tests can also split a frame across several sends).  Returns FALSE and
 * closes the connection (USI_NET_ERROR_BACKPRESSURE) when the queue would
 * exceed max_queued_bytes; FALSE with USI_NET_ERROR_CLOSED once closed. */
gboolean       usi_connection_send             (UsiConnection       *self,
                                                GBytes              *frame,
                                                GError             **error);
gsize          usi_connection_get_queued_bytes (UsiConnection       *self);

/* Closes at once (the TLS close_notify is attempted, not waited for);
 * emits ::closed with G_IO_ERROR_CANCELLED if not closed before.  What was
 * already queued is still written for up to a second.  A connection keeps
 * itself alive while it has a read or write in flight: close it (or let it
 * fail) rather than only dropping the last reference. */
void           usi_connection_close            (UsiConnection       *self);
gboolean       usi_connection_is_closed        (UsiConnection       *self);

/* Signals:
 *   ::frame-received (guint type, GBytes *body): one frame whose header
 *       passed §4/§11.2's checks, body complete.
 *   ::drained (): the write queue became empty (for paced senders).
 *   ::closed (GError *reason): exactly once. */

G_END_DECLS
