/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The session's own error domain, and one stable name for every error a
 * front end may show or a script may match (usi-cli --json).  The names
 * never change once published; messages are for people. */

#define G_LOG_DOMAIN "usi-session"

#include "config.h"

#include "net/usi-net-error.h"
#include "net/usi-relay-link.h"
#include "protocol/usi-protocol-error.h"
#include "protocol/usi-relay-frame.h"
#include "store/usi-store.h"

#include "usi-session-error.h"

G_DEFINE_QUARK (usi-session-error-quark, usi_session_error)

static const char *
protocol_error_code (int code)
{
  switch (code)
    {
    case USI_PROTOCOL_ERROR_MALFORMED: return "MALFORMED";
    case USI_PROTOCOL_ERROR_TOO_LARGE: return "TOO_LARGE";
    case USI_PROTOCOL_ERROR_UNSUPPORTED_VERSION: return "UNSUPPORTED_VERSION";
    case USI_PROTOCOL_ERROR_UNKNOWN_TYPE: return "UNKNOWN_TYPE";
    case USI_PROTOCOL_ERROR_INVITE_CORRUPT: return "INVITE_CORRUPT";
    case USI_PROTOCOL_ERROR_INVITE_EXPIRED: return "INVITE_EXPIRED";
    case USI_PROTOCOL_ERROR_INVITE_UNKNOWN: return "INVITE_UNKNOWN";
    case USI_PROTOCOL_ERROR_INVITE_USED: return "INVITE_USED";
    case USI_PROTOCOL_ERROR_WRONG_PASSWORD: return "WRONG_PASSWORD";
    case USI_PROTOCOL_ERROR_PASSWORD_REQUIRED: return "PASSWORD_REQUIRED";
    case USI_PROTOCOL_ERROR_JOIN_REFUSED: return "JOIN_REFUSED";
    case USI_PROTOCOL_ERROR_BAD_SIGNATURE: return "BAD_SIGNATURE";
    case USI_PROTOCOL_ERROR_DECRYPTION_FAILED: return "DECRYPTION_FAILED";
    case USI_PROTOCOL_ERROR_NOT_OWNER: return "NOT_OWNER";
    case USI_PROTOCOL_ERROR_NOT_MEMBER: return "NOT_MEMBER";
    case USI_PROTOCOL_ERROR_WRONG_ROOM: return "WRONG_ROOM";
    case USI_PROTOCOL_ERROR_WRONG_EPOCH: return "WRONG_EPOCH";
    case USI_PROTOCOL_ERROR_CHAIN_BROKEN: return "CHAIN_BROKEN";
    case USI_PROTOCOL_ERROR_BAD_CONFIRMATION: return "BAD_CONFIRMATION";
    case USI_PROTOCOL_ERROR_ROSTER_INVALID: return "ROSTER_INVALID";
    case USI_PROTOCOL_ERROR_EPOCH_TOO_OLD: return "EPOCH_TOO_OLD";
    case USI_PROTOCOL_ERROR_EPOCH_NOT_YET: return "EPOCH_NOT_YET";
    case USI_PROTOCOL_ERROR_DUPLICATE: return "DUPLICATE";
    case USI_PROTOCOL_ERROR_TOO_FAR_AHEAD: return "TOO_FAR_AHEAD";
    case USI_PROTOCOL_ERROR_REFLECTED: return "REFLECTED";
    case USI_PROTOCOL_ERROR_KEY_CHANGED: return "KEY_CHANGED";
    case USI_PROTOCOL_ERROR_NOT_ALLOWED: return "NOT_ALLOWED";
    case USI_PROTOCOL_ERROR_UNSAFE_NAME: return "UNSAFE_NAME";
    case USI_PROTOCOL_ERROR_FILE_CORRUPT: return "FILE_CORRUPT";
    case USI_PROTOCOL_ERROR_KEY_EXPIRED: return "KEY_EXPIRED";
    case USI_PROTOCOL_ERROR_UNUSABLE_KEY: return "UNUSABLE_KEY";
    default: return "FAILED";
    }
}

static const char *
session_error_code (int code)
{
  switch (code)
    {
    case USI_SESSION_ERROR_NOT_OWNER: return "NOT_OWNER";
    case USI_SESSION_ERROR_NOT_JOINED: return "NOT_JOINED";
    case USI_SESSION_ERROR_REMOVED: return "REMOVED";
    case USI_SESSION_ERROR_NO_SUCH_MEMBER: return "NO_SUCH_MEMBER";
    case USI_SESSION_ERROR_NOT_SUPPORTED: return "NOT_SUPPORTED";
    case USI_SESSION_ERROR_KEY_CHANGED: return "KEY_CHANGED";
    case USI_SESSION_ERROR_RELAY_NOT_AUTHENTICATED: return "RELAY_NOT_AUTHENTICATED";
    default: return "FAILED";
    }
}

static const char *
net_error_code (int code)
{
  switch (code)
    {
    case USI_NET_ERROR_TLS: return "TLS";
    case USI_NET_ERROR_PIN_MISMATCH: return "PIN_MISMATCH";
    case USI_NET_ERROR_HANDSHAKE_TIMEOUT: return "HANDSHAKE_TIMEOUT";
    case USI_NET_ERROR_IDLE_TIMEOUT: return "IDLE_TIMEOUT";
    case USI_NET_ERROR_FRAME: return "FRAME";
    case USI_NET_ERROR_RATE_LIMIT: return "RATE_LIMIT";
    case USI_NET_ERROR_BACKPRESSURE: return "BACKPRESSURE";
    case USI_NET_ERROR_CLOSED: return "CLOSED";
    case USI_NET_ERROR_REFUSED: return "REFUSED";
    case USI_NET_ERROR_BAD_HELLO: return "BAD_HELLO";
    case USI_NET_ERROR_FULL: return "RELAY_FULL";
    case USI_NET_ERROR_ADDRESS: return "ADDRESS";
    case USI_NET_ERROR_STORAGE: return "RELAY_STORAGE";
    default: return "FAILED";
    }
}

static const char *
store_error_code (int code)
{
  switch (code)
    {
    case USI_STORE_ERROR_NO_SECRET_SERVICE: return "NO_SECRET_SERVICE";
    case USI_STORE_ERROR_WRONG_PASSPHRASE: return "WRONG_PASSPHRASE";
    case USI_STORE_ERROR_KEY_MISSING: return "KEY_MISSING";
    case USI_STORE_ERROR_CORRUPT: return "STORE_CORRUPT";
    default: return "STORE_FAILED";
    }
}

static const char *
io_error_code (int code)
{
  switch (code)
    {
    case G_IO_ERROR_CONNECTION_REFUSED: return "CONNECTION_REFUSED";
    case G_IO_ERROR_TIMED_OUT: return "TIMED_OUT";
    case G_IO_ERROR_ADDRESS_IN_USE: return "ADDRESS_IN_USE";
    case G_IO_ERROR_HOST_NOT_FOUND: return "HOST_NOT_FOUND";
    case G_IO_ERROR_NOT_FOUND: return "NOT_FOUND";
    case G_IO_ERROR_NO_SPACE: return "NO_SPACE";
    case G_IO_ERROR_CANCELLED: return "CANCELLED";
    case G_IO_ERROR_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    default: return "IO";
    }
}

const char *
usi_session_error_code (const GError *error)
{
  g_return_val_if_fail (error != NULL, "FAILED");

  if (error->domain == USI_PROTOCOL_ERROR)
    return protocol_error_code (error->code);
  if (error->domain == USI_SESSION_ERROR)
    return session_error_code (error->code);
  if (error->domain == USI_RELAY_REFUSED_ERROR)
    return usi_relay_refused_code_to_string (error->code);
  if (error->domain == USI_NET_ERROR)
    return net_error_code (error->code);
  if (error->domain == USI_STORE_ERROR)
    return store_error_code (error->code);
  if (error->domain == G_IO_ERROR)
    return io_error_code (error->code);

  return "FAILED";
}
