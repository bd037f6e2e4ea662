/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define USI_PROTOCOL_ERROR (usi_protocol_error_quark ())

/* Every way the protocol refuses input.  Each code is specific enough for a
 * front end to tell the person what happened and what to do next. */
typedef enum
{
  /* Encoding */
  USI_PROTOCOL_ERROR_MALFORMED,           /* truncated, trailing bytes, non-minimal length, bad UTF-8 or flag */
  USI_PROTOCOL_ERROR_TOO_LARGE,           /* a field or frame above its maximum, refused before allocating */
  USI_PROTOCOL_ERROR_UNSUPPORTED_VERSION,
  USI_PROTOCOL_ERROR_UNKNOWN_TYPE,
  /* Invites and joins */
  USI_PROTOCOL_ERROR_INVITE_CORRUPT,      /* checksum mismatch: a typo or a truncated copy */
  USI_PROTOCOL_ERROR_INVITE_EXPIRED,
  USI_PROTOCOL_ERROR_INVITE_UNKNOWN,      /* never issued by this owner */
  USI_PROTOCOL_ERROR_INVITE_USED,
  USI_PROTOCOL_ERROR_WRONG_PASSWORD,
  USI_PROTOCOL_ERROR_PASSWORD_REQUIRED,
  USI_PROTOCOL_ERROR_JOIN_REFUSED,
  /* Authentication */
  USI_PROTOCOL_ERROR_BAD_SIGNATURE,
  USI_PROTOCOL_ERROR_DECRYPTION_FAILED,   /* an AEAD or HPKE tag did not verify */
  USI_PROTOCOL_ERROR_NOT_OWNER,           /* membership changes only by the owner's signature */
  USI_PROTOCOL_ERROR_NOT_MEMBER,          /* the sender is not in the roster of that epoch */
  USI_PROTOCOL_ERROR_WRONG_ROOM,
  /* Epochs */
  USI_PROTOCOL_ERROR_WRONG_EPOCH,         /* not exactly the next epoch */
  USI_PROTOCOL_ERROR_CHAIN_BROKEN,        /* prev_commit_hash does not match */
  USI_PROTOCOL_ERROR_BAD_CONFIRMATION,    /* confirmation tag mismatch: members would disagree on the epoch */
  USI_PROTOCOL_ERROR_ROSTER_INVALID,      /* duplicate keys, our own entry changed, index out of range */
  USI_PROTOCOL_ERROR_EPOCH_TOO_OLD,       /* older than the previous epoch */
  USI_PROTOCOL_ERROR_EPOCH_NOT_YET,       /* newer than the current epoch: wait for its commit */
  /* Messages */
  USI_PROTOCOL_ERROR_DUPLICATE,           /* that generation was already received: a replay */
  USI_PROTOCOL_ERROR_TOO_FAR_AHEAD,       /* a forward jump past the cap */
  USI_PROTOCOL_ERROR_REFLECTED,           /* our own message coming back */
  USI_PROTOCOL_ERROR_KEY_CHANGED,         /* a verified member's identity changed: sending blocked */
  USI_PROTOCOL_ERROR_NOT_ALLOWED,         /* the room's mode forbids it (e.g. removal in a pre-shared-key room) */
  /* Files */
  USI_PROTOCOL_ERROR_UNSAFE_NAME,
  USI_PROTOCOL_ERROR_FILE_CORRUPT,        /* a chunk, the size or the end hash does not check out */
  /* Messages, continued */
  USI_PROTOCOL_ERROR_KEY_EXPIRED,         /* that message's key was dropped to bound memory: it is lost (a gap), not a replay */
  USI_PROTOCOL_ERROR_UNUSABLE_KEY,        /* a leaf key of small order: nothing can be sealed to it */
} UsiProtocolError;

GQuark usi_protocol_error_quark (void);

/* Wraps a crypto-layer failure (its message kept) into @code. */
void   _usi_protocol_propagate_crypto_error (GError           **dest,
                                             GError            *src,
                                             UsiProtocolError   code);

G_END_DECLS
