/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib-object.h>

#include "session/usi-member.h"
#include "session/usi-message.h"
#include "session/usi-room.h"

G_BEGIN_DECLS

/* What usi-cli tells its user: every event, either as short readable lines
 * (errors and warnings on stderr) or, with --json, as exactly one JSON
 * object per line on stdout and nothing else there. */

#define USI_TYPE_CLI_OUTPUT (usi_cli_output_get_type ())
G_DECLARE_FINAL_TYPE (UsiCliOutput, usi_cli_output, USI, CLI_OUTPUT, GObject)

UsiCliOutput *usi_cli_output_new            (gboolean       json);
gboolean      usi_cli_output_get_json       (UsiCliOutput  *self);

/* Text received from others, made safe to print on a terminal: control
 * characters (C0, DEL, C1), bidirectional controls and line separators
 * become U+FFFD, invalid UTF-8 is repaired.  JSON mode needs none of this:
 * the JSON escaping carries the text as it is. */
char         *usi_cli_output_sanitize       (const char    *text);

/* Stable names for scripts. */
const char   *usi_cli_output_state_to_string  (UsiRoomState  state);
const char   *usi_cli_output_reason_to_string (guint         commit_reason);

/* The in-process relay of `host --listen`. */
void          usi_cli_output_relay          (UsiCliOutput  *self,
                                             const char    *listen_address,
                                             const char    *pin);
void          usi_cli_output_ready          (UsiCliOutput  *self,
                                             UsiRoom       *room);
void          usi_cli_output_invite         (UsiCliOutput  *self,
                                             const char    *invite);
void          usi_cli_output_state          (UsiCliOutput  *self,
                                             UsiRoomState   state,
                                             const GError  *error);
void          usi_cli_output_member_joined  (UsiCliOutput  *self,
                                             UsiMember     *member);
void          usi_cli_output_member_left    (UsiCliOutput  *self,
                                             UsiMember     *member);
void          usi_cli_output_message        (UsiCliOutput  *self,
                                             UsiMessage    *message);
/* One's own message `id` (its line number among the texts sent, from 1)
 * was stored by the relay. */
void          usi_cli_output_sent           (UsiCliOutput  *self,
                                             guint          id,
                                             UsiMessage    *message);
void          usi_cli_output_epoch          (UsiCliOutput  *self,
                                             guint64        epoch,
                                             guint          commit_reason);
void          usi_cli_output_members        (UsiCliOutput  *self,
                                             GListModel    *members);
void          usi_cli_output_verified       (UsiCliOutput  *self,
                                             UsiMember     *member);
void          usi_cli_output_warning        (UsiCliOutput  *self,
                                             const char    *code,
                                             const char    *message);
void          usi_cli_output_error          (UsiCliOutput  *self,
                                             const char    *code,
                                             const char    *message);
/* An error event named by usi_session_error_code().  `id` is the text's
 * id when a send failed, else 0. */
void          usi_cli_output_gerror         (UsiCliOutput  *self,
                                             const GError  *error,
                                             guint          id);
/* What ends usi-cli with exit status 1: the error event in JSON mode,
 * and in every mode the one-line reason on stderr that the command-line
 * contract promises. */
void          usi_cli_output_fatal          (UsiCliOutput  *self,
                                             const GError  *error);
void          usi_cli_output_connection     (UsiCliOutput  *self,
                                             const char    *relay_address,
                                             gboolean       connected,
                                             const GError  *error);

G_END_DECLS
