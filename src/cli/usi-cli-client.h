/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib-object.h>

#include "net/usi-tls-identity.h"
#include "store/usi-store.h"

#include "usi-cli-output.h"

G_BEGIN_DECLS

/* usi-cli once its command line is understood: one session, one room,
 * commands read from stdin, events out through a UsiCliOutput. */

typedef enum
{
  USI_CLI_ACTION_HOST,
  USI_CLI_ACTION_JOIN,             /* with an invite */
  USI_CLI_ACTION_JOIN_PRESHARED,   /* with a key, at a relay */
} UsiCliAction;

/* What the command line asked for; strings owned by the request. */
typedef struct
{
  UsiCliAction  action;
  char         *room_name;        /* host */
  char         *listen_address;   /* host: an in-process relay here … */
  char         *relay_address;    /* … or this relay (host, join --psk) */
  gboolean      has_pin;
  guint8        pin[USI_TLS_PIN_LENGTH];
  char         *password;         /* host, join */
  char         *preshared_key;    /* host --psk, join --psk */
  guint         rotate_after;     /* host; 0: the default */
  char         *invite;           /* join */
} UsiCliRequest;

/* Frees the strings, wiping the password and the key first. */
void          usi_cli_request_clear        (UsiCliRequest *request);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (UsiCliRequest, usi_cli_request_clear)

#define USI_TYPE_CLI_CLIENT (usi_cli_client_get_type ())
G_DECLARE_FINAL_TYPE (UsiCliClient, usi_cli_client, USI, CLI_CLIENT, GObject)

/* `accept_files_dir` set: files were asked for, which this version cannot
 * do; the client says so once it runs. */
UsiCliClient *usi_cli_client_new           (UsiCliOutput        *output,
                                            UsiStore            *store,
                                            const char          *display_name,
                                            const char          *accept_files_dir);

/* Runs the thread-default main loop until /quit, end of input, SIGINT or
 * SIGTERM (0), or a failure to start (1); returns the exit code. */
int           usi_cli_client_run           (UsiCliClient        *self,
                                            const UsiCliRequest *request);

G_END_DECLS
