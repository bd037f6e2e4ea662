/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The running usi-cli: drives one UsiSession and one room from lines read
 * on stdin, and turns the room's signals into events.  Everything is
 * asynchronous on the main loop; nothing here blocks, and nothing here
 * interprets a received message's text.  Passwords and keys given on the
 * command line are handed to the session and wiped, never printed.
 */

#define G_LOG_DOMAIN "usi-cli"

#include "config.h"

#include <signal.h>
#include <string.h>

#include <gio/gunixinputstream.h>
#include <glib-unix.h>
#include <glib/gi18n-lib.h>

#include "crypto/usi-secret.h"
#include "net/usi-net-error.h"
#include "protocol/usi-display-name.h"
#include "session/usi-session.h"
#include "session/usi-session-error.h"

#include "usi-cli-client.h"
#include "usi-cli-command.h"

/* How long /quit (or the end of input) waits for what is still being sent. */
#define QUIT_GRACE_SECONDS 10
/* How long the exit waits for cancelled operations to return. */
#define DRAIN_SECONDS      5

struct _UsiCliClient
{
  GObject               parent_instance;

  UsiCliOutput         *output;
  UsiStore             *store;
  char                 *display_name;
  char                 *accept_files_dir;

  const UsiCliRequest  *request;   /* during run () */
  GMainLoop            *loop;
  GCancellable         *cancellable;
  UsiSession           *session;
  UsiRoom              *room;
  gboolean              awaiting_room;
  gboolean              show_states;
  gboolean              state_shown;
  UsiRoomState          last_state;

  GDataInputStream     *input;
  gboolean              reading;
  guint                 pending;   /* operations in flight, each holding a reference */
  guint                 texts_sent;

  gboolean              quitting;
  gboolean              finished;
  int                   exit_code;
  guint                 quit_timeout_id;
  guint                 sigint_id;
  guint                 sigterm_id;
};

G_DEFINE_FINAL_TYPE (UsiCliClient, usi_cli_client, G_TYPE_OBJECT)

static void read_next_line (UsiCliClient *self);
static void fail_start     (UsiCliClient *self,
                            const GError *error);

static void
wipe_string (char **string)
{
  if (*string != NULL)
    usi_secret_wipe (*string, strlen (*string));
  g_clear_pointer (string, g_free);
}

void
usi_cli_request_clear (UsiCliRequest *request)
{
  g_clear_pointer (&request->room_name, g_free);
  g_clear_pointer (&request->listen_address, g_free);
  g_clear_pointer (&request->relay_address, g_free);
  wipe_string (&request->password);
  wipe_string (&request->preshared_key);
  g_clear_pointer (&request->invite, g_free);
}

static void
usi_cli_client_dispose (GObject *object)
{
  UsiCliClient *self = (UsiCliClient *)object;

  g_clear_handle_id (&self->quit_timeout_id, g_source_remove);
  g_clear_handle_id (&self->sigint_id, g_source_remove);
  g_clear_handle_id (&self->sigterm_id, g_source_remove);
  if (self->room != NULL)
    g_signal_handlers_disconnect_by_data (self->room, self);
  if (self->session != NULL)
    g_signal_handlers_disconnect_by_data (self->session, self);
  g_clear_object (&self->room);
  g_clear_object (&self->session);
  g_clear_object (&self->input);
  g_clear_object (&self->cancellable);
  g_clear_pointer (&self->loop, g_main_loop_unref);
  g_clear_object (&self->output);
  g_clear_object (&self->store);

  G_OBJECT_CLASS (usi_cli_client_parent_class)->dispose (object);
}

static void
usi_cli_client_finalize (GObject *object)
{
  UsiCliClient *self = (UsiCliClient *)object;

  g_clear_pointer (&self->display_name, g_free);
  g_clear_pointer (&self->accept_files_dir, g_free);

  G_OBJECT_CLASS (usi_cli_client_parent_class)->finalize (object);
}

static void
usi_cli_client_class_init (UsiCliClientClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = usi_cli_client_dispose;
  object_class->finalize = usi_cli_client_finalize;
}

static void
usi_cli_client_init (UsiCliClient *self)
{
  self->cancellable = g_cancellable_new ();
}

UsiCliClient *
usi_cli_client_new (UsiCliOutput *output,
                    UsiStore     *store,
                    const char   *display_name,
                    const char   *accept_files_dir)
{
  UsiCliClient *self;

  g_return_val_if_fail (USI_IS_CLI_OUTPUT (output), NULL);
  g_return_val_if_fail (USI_IS_STORE (store), NULL);
  g_return_val_if_fail (display_name != NULL, NULL);

  self = g_object_new (USI_TYPE_CLI_CLIENT, NULL);
  self->output = g_object_ref (output);
  self->store = g_object_ref (store);
  self->display_name = g_strdup (display_name);
  self->accept_files_dir = g_strdup (accept_files_dir);
  return self;
}

/* Ending */

static void
finish (UsiCliClient *self)
{
  if (self->finished)
    return;
  self->finished = TRUE;
  g_clear_handle_id (&self->quit_timeout_id, g_source_remove);
  g_main_loop_quit (self->loop);
}

static gboolean
on_quit_timeout (gpointer user_data)
{
  UsiCliClient *self = user_data;

  self->quit_timeout_id = 0;
  g_debug ("Leaving with %u operations unfinished", self->pending);
  finish (self);
  return G_SOURCE_REMOVE;
}

/* `graceful`: what is being sent gets a few seconds to reach the relay
 * first, so `printf 'hi\n/quit\n' | usi-cli …` delivers "hi". */
static void
request_quit (UsiCliClient *self,
              int           exit_code,
              gboolean      graceful)
{
  if (!self->quitting)
    {
      self->quitting = TRUE;
      self->exit_code = exit_code;
    }

  if (!graceful || self->pending == 0)
    {
      finish (self);
      return;
    }

  if (self->quit_timeout_id == 0)
    self->quit_timeout_id = g_timeout_add_seconds (QUIT_GRACE_SECONDS, on_quit_timeout, self);
}

static gboolean
on_unix_signal (gpointer user_data)
{
  UsiCliClient *self = user_data;

  request_quit (self, USI_EXIT_OK, FALSE);
  return G_SOURCE_CONTINUE;
}

/* Operations in flight keep the client alive and delay a graceful quit. */
static UsiCliClient *
operation_begin (UsiCliClient *self)
{
  self->pending++;
  return g_object_ref (self);
}

static void
operation_end (UsiCliClient *self)
{
  g_assert (self->pending > 0);
  self->pending--;
  if (self->quitting && self->pending == 0)
    finish (self);
}

/* Whether a finished operation's outcome is still worth reporting. */
static gboolean
should_report (UsiCliClient *self,
               const GError *error)
{
  if (self->finished)
    return FALSE;
  return error == NULL || !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
}

/* The room's signals */

static void
show_state (UsiCliClient *self)
{
  UsiRoomState state = usi_room_get_state (self->room);

  if (!self->show_states || (self->state_shown && state == self->last_state))
    return;
  self->state_shown = TRUE;
  self->last_state = state;
  usi_cli_output_state (self->output, state, usi_room_get_error (self->room));
}

static void
on_room_state (UsiRoom      *room,
               GParamSpec   *pspec,
               UsiCliClient *self)
{
  show_state (self);
}

static void
on_message_received (UsiRoom      *room,
                     UsiMessage   *message,
                     UsiCliClient *self)
{
  usi_cli_output_message (self->output, message);
}

static void
on_member_joined (UsiRoom      *room,
                  UsiMember    *member,
                  UsiCliClient *self)
{
  usi_cli_output_member_joined (self->output, member);
}

static void
on_member_left (UsiRoom      *room,
                UsiMember    *member,
                UsiCliClient *self)
{
  usi_cli_output_member_left (self->output, member);
}

static void
on_epoch_changed (UsiRoom      *room,
                  guint64       epoch,
                  guint         reason,
                  UsiCliClient *self)
{
  usi_cli_output_epoch (self->output, epoch, reason);
}

static void
on_room_warning (UsiRoom      *room,
                 GError       *error,
                 UsiCliClient *self)
{
  if (error != NULL)
    usi_cli_output_warning (self->output, usi_session_error_code (error), error->message);
}

static void
follow_room (UsiCliClient *self,
             UsiRoom      *room)
{
  if (self->room == room)
    return;

  if (self->room != NULL)
    g_signal_handlers_disconnect_by_data (self->room, self);
  g_set_object (&self->room, room);
  self->state_shown = FALSE;

  g_signal_connect (room, "notify::state", G_CALLBACK (on_room_state), self);
  g_signal_connect (room, "message-received", G_CALLBACK (on_message_received), self);
  g_signal_connect (room, "member-joined", G_CALLBACK (on_member_joined), self);
  g_signal_connect (room, "member-left", G_CALLBACK (on_member_left), self);
  g_signal_connect (room, "epoch-changed", G_CALLBACK (on_epoch_changed), self);
  g_signal_connect (room, "warning", G_CALLBACK (on_room_warning), self);
  show_state (self);
}

/* The session's signals */

static void
on_room_added (UsiSession   *session,
               UsiRoom      *room,
               UsiCliClient *self)
{
  /* usi-cli is in one room: the one its command creates or joins. */
  if (self->awaiting_room && self->room == NULL)
    follow_room (self, room);
}

static void
on_connection_changed (UsiSession   *session,
                       const char   *relay_address,
                       gboolean      connected,
                       GError       *error,
                       UsiCliClient *self)
{
  /* A host's first connection to its relay is no news, and would come
   * before the relay's two lines that scripts read first. */
  if (connected && !self->show_states)
    return;
  usi_cli_output_connection (self->output, relay_address, connected, error);

  /* While starting, a relay that is not the one named (T1) is the end:
   * retrying cannot make its key match.  Later, the session keeps trying
   * and the user sees why. */
  if (self->awaiting_room && g_error_matches (error, USI_NET_ERROR, USI_NET_ERROR_PIN_MISMATCH))
    fail_start (self, error);
}

/* Commands */

static void
on_invite_created (GObject      *object,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(UsiCliClient) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *invite = NULL;

  invite = usi_room_create_invite_finish (USI_ROOM (object), result, &error);
  if (should_report (self, error))
    {
      if (invite != NULL)
        usi_cli_output_invite (self->output, invite);
      else
        usi_cli_output_gerror (self->output, error, 0);
    }
  operation_end (self);
}

static void
create_invite (UsiCliClient *self,
               guint64       valid_for_ms)
{
  usi_room_create_invite_async (self->room, valid_for_ms, self->cancellable,
                                on_invite_created, operation_begin (self));
}

typedef struct
{
  UsiCliClient *client;
  UsiMessage   *message;   /* nullable */
  guint         id;
} SendData;

static void
send_data_free (SendData *data)
{
  g_clear_object (&data->message);
  g_free (data);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SendData, send_data_free)

static void
on_text_sent (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(SendData) data = user_data;
  g_autoptr(UsiCliClient) self = g_steal_pointer (&data->client);
  g_autoptr(GError) error = NULL;

  if (usi_room_send_text_finish (USI_ROOM (object), result, &error))
    {
      if (should_report (self, NULL))
        usi_cli_output_sent (self->output, data->id, data->message);
    }
  else if (should_report (self, error))
    usi_cli_output_gerror (self->output, error, data->id);
  operation_end (self);
}

static UsiMessage *
find_sending_message (UsiRoom    *room,
                      const char *text)
{
  GListModel *messages = usi_room_get_messages (room);
  guint n = g_list_model_get_n_items (messages);
  g_autoptr(UsiMessage) last = NULL;

  if (n == 0)
    return NULL;
  last = g_list_model_get_item (messages, n - 1);
  if (usi_message_get_is_own (last) &&
      usi_message_get_state (last) == USI_MESSAGE_SENDING &&
      g_strcmp0 (usi_message_get_text (last), text) == 0)
    return g_steal_pointer (&last);
  return NULL;
}

static void
send_text (UsiCliClient *self,
           const char   *text)
{
  SendData *data = g_new0 (SendData, 1);

  data->client = operation_begin (self);
  data->id = ++self->texts_sent;
  usi_room_send_text_async (self->room, text, self->cancellable, on_text_sent, data);
  /* The session shows the message at once; its seq is known once sent. */
  data->message = find_sending_message (self->room, text);
}

static void
on_commit_done (GObject      *object,
                GAsyncResult *result,
                gpointer      user_data)
{
  g_autoptr(UsiCliClient) self = user_data;
  g_autoptr(GError) error = NULL;

  /* Success shows as the room's ::epoch-changed. */
  if (!usi_room_commit_finish (USI_ROOM (object), result, &error) && should_report (self, error))
    usi_cli_output_gerror (self->output, error, 0);
  operation_end (self);
}

static UsiMember *
lookup_member (UsiCliClient *self,
               const char   *typed)
{
  g_autofree char *name = usi_display_name_normalize (typed, NULL);
  UsiMember *member = usi_room_lookup_member (self->room, name != NULL ? name : typed);

  if (member == NULL)
    {
      g_autofree char *safe = usi_cli_output_sanitize (typed);
      /* Translators: %s is a name typed after /verify or /remove */
      g_autofree char *message = g_strdup_printf (_("No member of this room is called “%s”. Type /members to see who is."),
                                                  safe);

      usi_cli_output_error (self->output, "NO_SUCH_MEMBER", message);
    }
  return member;
}

static void
usage_of (UsiCliClient *self,
          const char   *usage)
{
  /* Translators: %s is a command with its arguments, e.g. “/verify NAME” */
  g_autofree char *message = g_strdup_printf (_("Usage: %s"), usage);

  usi_cli_output_error (self->output, "USAGE", message);
}

static void
run_command (UsiCliClient *self,
             const char   *command,
             const char   *argument)
{
  if (g_str_equal (command, "/quit"))
    request_quit (self, USI_EXIT_OK, TRUE);
  else if (g_str_equal (command, "/invite"))
    {
      guint64 seconds = 0;

      /* An optional lifetime in seconds (default: the session's, 24 hours). */
      if (*argument != '\0' &&
          (!g_ascii_string_to_unsigned (argument, 10, 1, G_MAXUINT32, &seconds, NULL)))
        {
          usage_of (self, "/invite [SECONDS]");
          return;
        }
      create_invite (self, seconds * 1000);
    }
  else if (g_str_equal (command, "/members"))
    usi_cli_output_members (self->output, usi_room_get_members (self->room));
  else if (g_str_equal (command, "/verify") || g_str_equal (command, "/remove"))
    {
      gboolean verify = g_str_equal (command, "/verify");
      UsiMember *member;

      if (*argument == '\0')
        {
          usage_of (self, verify ? "/verify NAME" : "/remove NAME");
          return;
        }
      member = lookup_member (self, argument);
      if (member == NULL)
        return;

      if (verify)
        {
          g_autoptr(GError) error = NULL;

          if (usi_room_verify_member (self->room, member, &error))
            usi_cli_output_verified (self->output, member);
          else
            usi_cli_output_gerror (self->output, error, 0);
        }
      else
        usi_room_remove_member_async (self->room, member, self->cancellable,
                                      on_commit_done, operation_begin (self));
    }
  else if (g_str_equal (command, "/rotate"))
    usi_room_rotate_async (self->room, self->cancellable, on_commit_done, operation_begin (self));
  else if (g_str_equal (command, "/send") || g_str_equal (command, "/accept") ||
           g_str_equal (command, "/decline"))
    usi_cli_output_error (self->output, "NOT_SUPPORTED",
                          _("File transfer is not available in this version."));
  else
    {
      g_autofree char *safe = usi_cli_output_sanitize (command);
      /* Translators: %s is what was typed, starting with “/” */
      g_autofree char *message = g_strdup_printf (_("Unknown command “%s”. Run “usi-cli --help” for the commands; "
                                                    "start a message with “//” to send a line that begins with “/”."),
                                                  safe);

      usi_cli_output_error (self->output, "UNKNOWN_COMMAND", message);
    }
}

static void
handle_line (UsiCliClient *self,
             char         *line,
             gsize         length)
{
  if (length > 0 && line[length - 1] == '\r')
    line[--length] = '\0';

  /* Checked with its length: a NUL byte inside is refused too. */
  if (!g_utf8_validate (line, length, NULL))
    {
      usi_cli_output_error (self->output, "MALFORMED",
                            _("That line is not valid UTF-8 text; it was not sent."));
      return;
    }

  if (length == 0)
    return;

  if (line[0] != '/')
    send_text (self, line);
  else if (line[1] == '/')
    send_text (self, line + 1);
  else
    {
      char *space = strchr (line, ' ');
      const char *argument = "";

      if (space != NULL)
        {
          *space = '\0';
          argument = g_strstrip (space + 1);
        }
      run_command (self, line, argument);
    }
}

static void
on_line_read (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(UsiCliClient) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree char *line = NULL;
  gsize length = 0;

  self->reading = FALSE;
  line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (object), result, &length, &error);
  if (self->finished || self->quitting)
    return;

  if (error != NULL)
    {
      if (should_report (self, error))
        {
          /* Translators: %s says why standard input could not be read */
          g_autofree char *message = g_strdup_printf (_("Cannot read commands: %s"), error->message);

          usi_cli_output_error (self->output, "FAILED", message);
          request_quit (self, USI_EXIT_FAILURE, TRUE);
        }
      return;
    }

  if (line == NULL)
    {
      /* The end of input is /quit. */
      request_quit (self, USI_EXIT_OK, TRUE);
      return;
    }

  handle_line (self, line, length);
  if (!self->quitting)
    read_next_line (self);
}

static void
read_next_line (UsiCliClient *self)
{
  g_assert (!self->reading);

  self->reading = TRUE;
  g_data_input_stream_read_line_async (self->input, G_PRIORITY_DEFAULT, self->cancellable,
                                       on_line_read, g_object_ref (self));
}

static void
start_reading (UsiCliClient *self)
{
  g_autoptr(GInputStream) stdin_stream = g_unix_input_stream_new (STDIN_FILENO, FALSE);

  self->input = g_data_input_stream_new (stdin_stream);
  g_data_input_stream_set_newline_type (self->input, G_DATA_STREAM_NEWLINE_TYPE_LF);
  read_next_line (self);
}

/* Starting */

static void
room_ready (UsiCliClient *self,
            UsiRoom      *room)
{
  follow_room (self, room);
  self->awaiting_room = FALSE;

  usi_cli_output_ready (self->output, room);
  /* From here on every change of state is news (e.g. removed). */
  self->show_states = TRUE;
  self->state_shown = TRUE;
  self->last_state = usi_room_get_state (room);

  if (usi_room_get_kind (room) == USI_ROOM_KIND_OWNED && usi_room_get_is_owner (room))
    create_invite (self, 0);

  start_reading (self);
}

static void
fail_start (UsiCliClient *self,
            const GError *error)
{
  if (should_report (self, error))
    {
      usi_cli_output_fatal (self->output, error);
      request_quit (self, USI_EXIT_FAILURE, FALSE);
    }
}

static void
on_hosted (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(UsiCliClient) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiRoom) room = NULL;

  room = usi_session_host_finish (USI_SESSION (object), result, &error);
  if (room == NULL)
    fail_start (self, error);
  else if (!self->finished)
    {
      const char *listen_address = usi_session_get_relay_listen_address (self->session);
      const char *pin = usi_session_get_relay_pin (self->session);

      if (listen_address != NULL && pin != NULL)
        usi_cli_output_relay (self->output, listen_address, pin);
      room_ready (self, room);
    }
  operation_end (self);
}

static void
on_joined (GObject      *object,
           GAsyncResult *result,
           gpointer      user_data)
{
  g_autoptr(UsiCliClient) self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiRoom) room = NULL;

  room = usi_session_join_finish (USI_SESSION (object), result, &error);
  if (room == NULL)
    fail_start (self, error);
  else if (!self->finished)
    room_ready (self, room);
  operation_end (self);
}

static void
start_command (UsiCliClient *self)
{
  const UsiCliRequest *request = self->request;

  self->awaiting_room = TRUE;
  switch (request->action)
    {
    case USI_CLI_ACTION_HOST:
      {
        UsiHostOptions options = {
          .room_name = request->room_name,
          .listen_address = request->listen_address,
          .relay_address = request->relay_address,
          .relay_pin = request->has_pin ? request->pin : NULL,
          .password = request->password,
          .preshared_key = request->preshared_key,
          .rotate_after = request->rotate_after,
        };

        /* The relay's two lines come first; the room's states before it
         * is ready say nothing a host needs. */
        self->show_states = FALSE;
        usi_session_host_async (self->session, &options, self->cancellable,
                                on_hosted, operation_begin (self));
      }
      break;

    case USI_CLI_ACTION_JOIN:
      self->show_states = TRUE;
      usi_session_join_async (self->session, request->invite, request->password,
                              self->cancellable, on_joined, operation_begin (self));
      break;

    case USI_CLI_ACTION_JOIN_PRESHARED:
      self->show_states = TRUE;
      usi_session_join_preshared_async (self->session, request->preshared_key,
                                        request->relay_address,
                                        request->has_pin ? request->pin : NULL,
                                        self->cancellable, on_joined, operation_begin (self));
      break;

    default:
      g_assert_not_reached ();
    }
}

static void
on_session_ready (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  g_autoptr(UsiCliClient) self = user_data;
  g_autoptr(GError) error = NULL;

  self->session = usi_session_new_finish (result, &error);
  if (self->session == NULL)
    fail_start (self, error);
  else if (!self->finished)
    {
      g_signal_connect (self->session, "room-added", G_CALLBACK (on_room_added), self);
      g_signal_connect (self->session, "connection-changed", G_CALLBACK (on_connection_changed), self);

      if (self->accept_files_dir != NULL)
        usi_cli_output_warning (self->output, "NOT_SUPPORTED",
                                _("File transfer is not available in this version: "
                                  "--accept-files has no effect."));
      start_command (self);
    }
  operation_end (self);
}

/* Cancelled operations still call back: let them, so nothing they hold
 * outlives the session. */
static gboolean
on_drain_timeout (gpointer user_data)
{
  gboolean *expired = user_data;

  *expired = TRUE;
  return G_SOURCE_REMOVE;
}

static void
drain (UsiCliClient *self)
{
  gboolean expired = FALSE;
  guint timeout_id;

  timeout_id = g_timeout_add_seconds (DRAIN_SECONDS, on_drain_timeout, &expired);
  while ((self->pending > 0 || self->reading) && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (timeout_id);
  else
    g_debug ("%u operations did not return after cancellation", self->pending);
}

int
usi_cli_client_run (UsiCliClient        *self,
                    const UsiCliRequest *request)
{
  g_return_val_if_fail (USI_IS_CLI_CLIENT (self), USI_EXIT_FAILURE);
  g_return_val_if_fail (request != NULL, USI_EXIT_FAILURE);
  g_return_val_if_fail (self->loop == NULL, USI_EXIT_FAILURE);

  self->request = request;
  self->loop = g_main_loop_new (NULL, FALSE);
  self->sigint_id = g_unix_signal_add (SIGINT, on_unix_signal, self);
  self->sigterm_id = g_unix_signal_add (SIGTERM, on_unix_signal, self);

  usi_session_new_async (self->store, self->display_name, self->cancellable,
                         on_session_ready, operation_begin (self));
  g_main_loop_run (self->loop);

  g_clear_handle_id (&self->sigint_id, g_source_remove);
  g_clear_handle_id (&self->sigterm_id, g_source_remove);
  g_clear_handle_id (&self->quit_timeout_id, g_source_remove);
  if (self->room != NULL)
    g_signal_handlers_disconnect_by_data (self->room, self);
  if (self->session != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->session, self);
      usi_session_shutdown (self->session);
    }
  g_cancellable_cancel (self->cancellable);
  drain (self);
  self->request = NULL;

  return self->exit_code;
}
