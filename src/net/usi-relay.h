/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <gio/gio.h>

#include "usi-connection.h"
#include "usi-relay-store.h"
#include "usi-tls-identity.h"

G_BEGIN_DECLS

/* The relay (docs/protocol.md §11): accepts TLS connections, checks Hello,
 * keeps rooms, follows owned rooms' commits, registers invites, stores each
 * accepted frame durably before acknowledging it and delivering it once to
 * each connected recipient, and serves backlogs at the reader's pace.  The
 * same object runs in `usi-relay`, in `usi-cli host --listen` and in the app. */

typedef struct
{
  UsiConnectionLimits connection;
  guint               max_connections;        /* default 4096 */
  guint               max_rooms;              /* default 100,000 */
  guint               max_invites_per_room;   /* default 1,000 */
  /* The backlog pump (row R4): a subscriber catching up is sent stored
   * frames only while fewer than this many bytes are queued to it, read
   * from the store this many frames at a time. */
  gsize               backlog_low_watermark;  /* default 256 KiB */
  guint               backlog_page_frames;    /* default 64 */
} UsiRelayLimits;

void usi_relay_limits_init_default (UsiRelayLimits *limits);

#define USI_TYPE_RELAY (usi_relay_get_type ())
G_DECLARE_FINAL_TYPE (UsiRelay, usi_relay, USI, RELAY, GObject)

UsiRelay       *usi_relay_new                 (UsiTlsIdentity        *identity,
                                               UsiRelayStore         *store,
                                               const UsiRelayLimits  *limits,
                                               GError               **error);   /* loads the store's rooms */

/* Parses "HOST:PORT" as usi_relay_listen() does, without binding: an IPv4
 * address, "[IPv6]" or "localhost" (127.0.0.1), PORT 0–65535;
 * G_IO_ERROR_INVALID_ARGUMENT otherwise. */
GSocketAddress *usi_relay_parse_listen_address (const char           *address,
                                                GError              **error);

/* `address` is "HOST:PORT" (an IPv4 address, "[IPv6]" or "localhost"; PORT
 * may be 0).  A port in use is G_IO_ERROR_ADDRESS_IN_USE with a message
 * naming the address.  May be called more than once (several addresses). */
gboolean        usi_relay_listen              (UsiRelay              *self,
                                               const char            *address,
                                               GError               **error);
/* "HOST:PORT" of the first listening address, with the real port (an IPv6
 * address in brackets); NULL before usi_relay_listen() succeeded. */
char           *usi_relay_dup_listen_address  (UsiRelay              *self);
guint16         usi_relay_get_port            (UsiRelay              *self);
UsiTlsIdentity *usi_relay_get_identity        (UsiRelay              *self);
guint           usi_relay_get_n_connections   (UsiRelay              *self);
/* The most bytes ever found queued to one connection right after the relay
 * queued a frame to it (diagnostics; row R4's bound). */
gsize           usi_relay_get_peak_queued_bytes (UsiRelay            *self);
/* Stops listening and closes every connection (what was queued to each is
 * still written).  Listening again afterwards fails with
 * G_IO_ERROR_CLOSED.  Disposing the relay stops it. */
void            usi_relay_stop                (UsiRelay              *self);

G_END_DECLS
