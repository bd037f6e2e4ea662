/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The text form of an invite, rebuilt independently of usi-invite.c from
 * docs/protocol.md §5: "usi://invite/" ‖ base32 (payload ‖ CRC-32 (payload)),
 * lower case, no padding.  fuzz-invite wraps mutated payloads with it, so
 * mutations reach the fields behind the checksum. */
char     *usi_fuzz_invite_wrap_payload  (const guint8 *payload,
                                         gsize         length);
/* The payload (without its checksum) of a well-formed invite text; FALSE
 * when @uri is not one. */
gboolean  usi_fuzz_invite_unwrap_payload (const char   *uri,
                                          GByteArray   *payload);

G_END_DECLS
