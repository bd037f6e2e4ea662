/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Errors the session reports that no lower layer names.  Lower layers'
 * errors (USI_PROTOCOL_ERROR, USI_NET_ERROR, USI_RELAY_REFUSED_ERROR,
 * USI_STORE_ERROR, G_IO_ERROR) pass through unchanged. */
#define USI_SESSION_ERROR (usi_session_error_quark ())
GQuark usi_session_error_quark (void);

typedef enum
{
  USI_SESSION_ERROR_NOT_OWNER,       /* an owner-only action in a room this person does not own */
  USI_SESSION_ERROR_NOT_JOINED,      /* the room is not (or no longer) joined */
  USI_SESSION_ERROR_REMOVED,         /* the owner removed this person from the room */
  USI_SESSION_ERROR_NO_SUCH_MEMBER,
  USI_SESSION_ERROR_NOT_SUPPORTED,   /* this room's mode cannot do it (pre-shared key rooms) */
  USI_SESSION_ERROR_KEY_CHANGED,     /* a verified member's key changed: sending is blocked */
  USI_SESSION_ERROR_RELAY_NOT_AUTHENTICATED,  /* a warning: a pre-shared room joined without the relay's pin */
} UsiSessionError;

/* A stable upper-case name for any error the session can report, for
 * scripts (`usi-cli --json`): "INVITE_USED", "WRONG_PASSWORD",
 * "PIN_MISMATCH", "NOT_MEMBER", … and "FAILED" when none fits. */
const char *usi_session_error_code (const GError *error);

G_END_DECLS
