/* SPDX-License-Identifier: GPL-3.0-or-later */

/* usi-cli's events, for people or for scripts.  JSON objects are built with
 * json-glib, never by pasting strings, and in JSON mode nothing but those
 * objects reaches stdout.  Text from other members is data: in human mode
 * it is printed with every character that could drive the terminal
 * replaced.  Nothing here ever prints a key or a secret.
 */

#define G_LOG_DOMAIN "usi-cli"

#include "config.h"

#include <stdio.h>
#include <string.h>

#include <glib/gi18n-lib.h>
#include <json-glib/json-glib.h>

#include "protocol/usi-commit.h"
#include "session/usi-session-error.h"

#include "usi-cli-output.h"

struct _UsiCliOutput
{
  GObject   parent_instance;

  gboolean  json;
};

G_DEFINE_FINAL_TYPE (UsiCliOutput, usi_cli_output, G_TYPE_OBJECT)

static void
usi_cli_output_class_init (UsiCliOutputClass *klass)
{
}

static void
usi_cli_output_init (UsiCliOutput *self)
{
}

UsiCliOutput *
usi_cli_output_new (gboolean json)
{
  UsiCliOutput *self = g_object_new (USI_TYPE_CLI_OUTPUT, NULL);

  self->json = json;
  return self;
}

gboolean
usi_cli_output_get_json (UsiCliOutput *self)
{
  g_return_val_if_fail (USI_IS_CLI_OUTPUT (self), FALSE);

  return self->json;
}

static gboolean
is_unsafe_character (gunichar c)
{
  if (c < 0x20 || (c >= 0x7f && c <= 0x9f))
    return TRUE;   /* C0, DEL, C1: escape sequences start here */

  switch (c)
    {
    case 0x061c:                   /* ARABIC LETTER MARK */
    case 0x200e: case 0x200f:      /* LRM, RLM */
    case 0x202a: case 0x202b: case 0x202c: case 0x202d: case 0x202e:
    case 0x2066: case 0x2067: case 0x2068: case 0x2069:
    case 0x2028: case 0x2029:      /* line and paragraph separators */
      return TRUE;
    default:
      return FALSE;
    }
}

char *
usi_cli_output_sanitize (const char *text)
{
  g_autofree char *valid = NULL;
  GString *safe;

  g_return_val_if_fail (text != NULL, NULL);

  valid = g_utf8_make_valid (text, -1);
  safe = g_string_sized_new (strlen (valid));
  for (const char *p = valid; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (is_unsafe_character (c))
        g_string_append_unichar (safe, 0xfffd);
      else
        g_string_append_len (safe, p, g_utf8_next_char (p) - p);
    }

  return g_string_free (safe, FALSE);
}

const char *
usi_cli_output_state_to_string (UsiRoomState state)
{
  switch (state)
    {
    case USI_ROOM_CONNECTING:        return "connecting";
    case USI_ROOM_WAITING_FOR_OWNER: return "waiting-for-owner";
    case USI_ROOM_JOINING:           return "joining";
    case USI_ROOM_JOINED:            return "joined";
    case USI_ROOM_RECONNECTING:      return "reconnecting";
    case USI_ROOM_REMOVED:           return "removed";
    case USI_ROOM_FAILED:            return "failed";
    default:                         return "unknown";
    }
}

const char *
usi_cli_output_reason_to_string (guint commit_reason)
{
  switch (commit_reason)
    {
    case USI_COMMIT_REASON_CREATE: return "create";
    case USI_COMMIT_REASON_ADD:    return "add";
    case USI_COMMIT_REASON_REMOVE: return "remove";
    case USI_COMMIT_REASON_UPDATE: return "update";
    case USI_COMMIT_REASON_ROTATE: return "rotate";
    default:                       return "unknown";
    }
}

static const char *
verification_to_string (UsiMemberVerification verification)
{
  switch (verification)
    {
    case USI_MEMBER_VERIFIED:    return "verified";
    case USI_MEMBER_KEY_CHANGED: return "key-changed";
    case USI_MEMBER_UNVERIFIED:
    default:                     return "unverified";
    }
}

/* stdout is a pipe for scripts: every event goes out whole, at once. */
static void
print_line (const char *line)
{
  fputs (line, stdout);
  fputc ('\n', stdout);
  fflush (stdout);
}

static void
print_error_line (const char *line)
{
  g_autofree char *safe = usi_cli_output_sanitize (line);

  fprintf (stderr, "usi-cli: %s\n", safe);
  fflush (stderr);
}

static JsonBuilder *
begin_event (const char *name)
{
  JsonBuilder *builder = json_builder_new ();

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "event");
  json_builder_add_string_value (builder, name);
  return builder;
}

static void
add_string (JsonBuilder *builder,
            const char  *name,
            const char  *value)
{
  json_builder_set_member_name (builder, name);
  if (value != NULL)
    json_builder_add_string_value (builder, value);
  else
    json_builder_add_null_value (builder);
}

static void
add_int (JsonBuilder *builder,
         const char  *name,
         gint64       value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_int_value (builder, value);
}

static void
add_boolean (JsonBuilder *builder,
             const char  *name,
             gboolean     value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_boolean_value (builder, value);
}

static void
end_event (JsonBuilder *builder)
{
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autofree char *text = NULL;

  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  text = json_generator_to_data (generator, NULL);
  print_line (text);
  g_object_unref (builder);
}

static char *
format_u64 (guint64 value)
{
  return g_strdup_printf ("%" G_GUINT64_FORMAT, value);
}

void
usi_cli_output_relay (UsiCliOutput *self,
                      const char   *listen_address,
                      const char   *pin)
{
  g_return_if_fail (USI_IS_CLI_OUTPUT (self));

  if (self->json)
    {
      JsonBuilder *builder = begin_event ("relay");

      add_string (builder, "listen", listen_address);
      add_string (builder, "pin", pin);
      end_event (builder);
    }
  else
    {
      /* The same lines as usi-relay prints: scripts read them alike. */
      g_autofree char *listening = g_strdup_printf ("listening: %s", listen_address);
      g_autofree char *pin_line = g_strdup_printf ("pin: %s", pin);

      print_line (listening);
      print_line (pin_line);
    }
}

static void
add_member_object (JsonBuilder *builder,
                   UsiMember   *member)
{
  json_builder_begin_object (builder);
  add_string (builder, "name", usi_member_get_name (member));
  add_int (builder, "index", usi_member_get_index (member));
  add_boolean (builder, "owner", usi_member_get_is_owner (member));
  add_boolean (builder, "self", usi_member_get_is_self (member));
  add_string (builder, "safety_number", usi_member_get_safety_number (member));
  add_string (builder, "emoji", usi_member_get_emoji (member));
  add_string (builder, "verified", verification_to_string (usi_member_get_verification (member)));
  json_builder_end_object (builder);
}

static void
add_members_array (JsonBuilder *builder,
                   GListModel  *members)
{
  guint n = g_list_model_get_n_items (members);

  json_builder_set_member_name (builder, "members");
  json_builder_begin_array (builder);
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(UsiMember) member = g_list_model_get_item (members, i);

      add_member_object (builder, member);
    }
  json_builder_end_array (builder);
}

void
usi_cli_output_ready (UsiCliOutput *self,
                      UsiRoom      *room)
{
  g_autofree char *room_id = NULL;
  gboolean owner;
  gboolean preshared;

  g_return_if_fail (USI_IS_CLI_OUTPUT (self));
  g_return_if_fail (USI_IS_ROOM (room));

  room_id = usi_room_dup_id_hex (room);
  owner = usi_room_get_is_owner (room);
  preshared = usi_room_get_kind (room) == USI_ROOM_KIND_PRESHARED;

  if (self->json)
    {
      JsonBuilder *builder = begin_event ("ready");

      add_string (builder, "room", room_id);
      add_string (builder, "name", usi_room_get_name (room));
      add_string (builder, "role", owner ? "owner" : "member");
      add_string (builder, "kind", preshared ? "preshared" : "owned");
      add_int (builder, "epoch", (gint64) usi_room_get_epoch (room));
      add_string (builder, "relay", usi_room_get_relay_address (room));
      add_boolean (builder, "resumed", usi_room_get_restored (room));
      add_members_array (builder, usi_room_get_members (room));
      end_event (builder);
    }
  else
    {
      g_autofree char *name = usi_cli_output_sanitize (usi_room_get_name (room));
      g_autofree char *epoch = format_u64 (usi_room_get_epoch (room));
      g_autofree char *line = NULL;

      if (usi_room_get_restored (room))
        print_line (_("* resuming the room kept from an earlier run"));

      if (preshared)
        /* Translators: a room entered with a shared key; %s: its name, the epoch number, a HOST:PORT */
        line = g_strdup_printf (_("* in pre-shared key room “%s” (epoch %s, relay %s)"),
                                name, epoch, usi_room_get_relay_address (room));
      else if (owner)
        line = g_strdup_printf (_("* in room “%s” as its owner (epoch %s, relay %s)"),
                                name, epoch, usi_room_get_relay_address (room));
      else
        line = g_strdup_printf (_("* in room “%s” (epoch %s, relay %s)"),
                                name, epoch, usi_room_get_relay_address (room));
      print_line (line);
    }
}

void
usi_cli_output_invite (UsiCliOutput *self,
                       const char   *invite)
{
  g_return_if_fail (USI_IS_CLI_OUTPUT (self));
  g_return_if_fail (invite != NULL);

  if (self->json)
    {
      JsonBuilder *builder = begin_event ("invite");

      add_string (builder, "invite", invite);
      end_event (builder);
    }
  else
    {
      g_autofree char *line = g_strdup_printf ("invite: %s", invite);

      print_line (line);
    }
}

static const char *
describe_state (UsiRoomState state)
{
  switch (state)
    {
    case USI_ROOM_CONNECTING:
      return _("* connecting to the relay…");
    case USI_ROOM_WAITING_FOR_OWNER:
      return _("* the room’s owner is offline: your request waits for them at the relay…");
    case USI_ROOM_JOINING:
      return _("* waiting for the room’s owner to let you in…");
    case USI_ROOM_JOINED:
      return _("* joined");
    case USI_ROOM_RECONNECTING:
      return _("* connection lost; reconnecting…");
    case USI_ROOM_REMOVED:
      return _("* the owner removed you from the room: you cannot read or send new messages (type /quit to leave)");
    case USI_ROOM_FAILED:
      return _("* joining failed");
    default:
      return NULL;
    }
}

void
usi_cli_output_state (UsiCliOutput *self,
                      UsiRoomState  state,
                      const GError *error)
{
  g_return_if_fail (USI_IS_CLI_OUTPUT (self));

  if (self->json)
    {
      JsonBuilder *builder = begin_event ("state");

      add_string (builder, "state", usi_cli_output_state_to_string (state));
      if (error != NULL && (state == USI_ROOM_FAILED || state == USI_ROOM_REMOVED))
        {
          add_string (builder, "code", usi_session_error_code (error));
          add_string (builder, "message", error->message);
        }
      end_event (builder);
    }
  else
    {
      const char *line = describe_state (state);

      if (line != NULL)
        print_line (line);
    }
}

void
usi_cli_output_member_joined (UsiCliOutput *self,
                              UsiMember    *member)
{
  g_return_if_fail (USI_IS_CLI_OUTPUT (self));
  g_return_if_fail (USI_IS_MEMBER (member));

  if (self->json)
    {
      JsonBuilder *builder = begin_event ("member-joined");

      add_string (builder, "name", usi_member_get_name (member));
      add_int (builder, "index", usi_member_get_index (member));
      add_string (builder, "safety_number", usi_member_get_safety_number (member));
      add_string (builder, "emoji", usi_member_get_emoji (member));
      add_string (builder, "verified", verification_to_string (usi_member_get_verification (member)));
      end_event (builder);
    }
  else
    {
      g_autofree char *name = usi_cli_output_sanitize (usi_member_get_name (member));
      g_autofree char *line = NULL;

      /* Translators: %s: a member's name, their safety number (digits), the same as emoji */
      line = g_strdup_printf (_("* %s joined (safety number %s, %s)"), name,
                              usi_member_get_safety_number (member),
                              usi_member_get_emoji (member));
      print_line (line);
    }
}

void
usi_cli_output_member_left (UsiCliOutput *self,
                            UsiMember    *member)
{
  g_return_if_fail (USI_IS_CLI_OUTPUT (self));
  g_return_if_fail (USI_IS_MEMBER (member));

  if (self->json)
    {
      JsonBuilder *builder = begin_event ("member-left");

      add_string (builder, "name", usi_member_get_name (member));
      add_int (builder, "index", usi_member_get_index (member));
      end_event (builder);
    }
  else
    {
      g_autofree char *name = usi_cli_output_sanitize (usi_member_get_name (member));
      g_autofree char *line = g_strdup_printf (_("* %s was removed from the room"), name);

      print_line (line);
    }
}

void
usi_cli_output_message (UsiCliOutput *self,
                        UsiMessage   *message)
{
  g_return_if_fail (USI_IS_CLI_OUTPUT (self));
  g_return_if_fail (USI_IS_MESSAGE (message));

  if (self->json)
    {
      JsonBuilder *builder = begin_event ("message");

      add_string (builder, "from", usi_message_get_sender_name (message));
      add_int (builder, "index", usi_message_get_sender_index (message));
      add_string (builder, "text", usi_message_get_text (message));
      add_int (builder, "epoch", (gint64) usi_message_get_epoch (message));
      add_int (builder, "seq", (gint64) usi_message_get_seq (message));
      add_int (builder, "sent_ms", usi_message_get_sent_ms (message));
      add_boolean (builder, "gap", usi_message_get_gap_before (message));
      end_event (builder);
    }
  else
    {
      g_autofree char *name = usi_cli_output_sanitize (usi_message_get_sender_name (message));
      g_autofree char *text = usi_cli_output_sanitize (usi_message_get_text (message));
      g_autofree char *line = g_strdup_printf ("[%s] %s", name, text);

      if (usi_message_get_gap_before (message))
        {
          g_autofree char *gap = g_strdup_printf (_("* messages from %s may be missing before this one"), name);

          print_line (gap);
        }
      print_line (line);
    }
}

void
usi_cli_output_sent (UsiCliOutput *self,
                     guint         id,
                     UsiMessage   *message)
{
  g_return_if_fail (USI_IS_CLI_OUTPUT (self));
  g_return_if_fail (message == NULL || USI_IS_MESSAGE (message));

  /* People see their own line as they typed it; only scripts need the ack. */
  if (self->json)
    {
      JsonBuilder *builder = begin_event ("sent");

      add_int (builder, "id", id);
      if (message != NULL)
        {
          add_int (builder, "seq", (gint64) usi_message_get_seq (message));
          add_int (builder, "epoch", (gint64) usi_message_get_epoch (message));
        }
      end_event (builder);
    }
}

static const char *
describe_reason (guint commit_reason)
{
  switch (commit_reason)
    {
    case USI_COMMIT_REASON_CREATE: return _("room created");
    case USI_COMMIT_REASON_ADD:    return _("member added");
    case USI_COMMIT_REASON_REMOVE: return _("member removed");
    case USI_COMMIT_REASON_UPDATE: return _("a member’s key renewed");
    case USI_COMMIT_REASON_ROTATE: return _("keys rotated");
    default:                       return _("new keys");
    }
}

void
usi_cli_output_epoch (UsiCliOutput *self,
                      guint64       epoch,
                      guint         commit_reason)
{
  g_return_if_fail (USI_IS_CLI_OUTPUT (self));

  if (self->json)
    {
      JsonBuilder *builder = begin_event ("epoch");

      add_int (builder, "epoch", (gint64) epoch);
      add_string (builder, "reason", usi_cli_output_reason_to_string (commit_reason));
      end_event (builder);
    }
  else
    {
      g_autofree char *number = format_u64 (epoch);
      /* Translators: %s: an epoch number, then why it began, e.g. “member removed” */
      g_autofree char *line = g_strdup_printf (_("* epoch %s (%s)"), number, describe_reason (commit_reason));

      print_line (line);
    }
}

static const char *
describe_verification (UsiMemberVerification verification)
{
  switch (verification)
    {
    case USI_MEMBER_VERIFIED:    return _("verified");
    case USI_MEMBER_KEY_CHANGED: return _("KEY CHANGED: verify again before sending");
    case USI_MEMBER_UNVERIFIED:
    default:                     return _("not verified");
    }
}

void
usi_cli_output_members (UsiCliOutput *self,
                        GListModel   *members)
{
  guint n;

  g_return_if_fail (USI_IS_CLI_OUTPUT (self));
  g_return_if_fail (G_IS_LIST_MODEL (members));

  if (self->json)
    {
      JsonBuilder *builder = begin_event ("members");

      add_members_array (builder, members);
      end_event (builder);
      return;
    }

  n = g_list_model_get_n_items (members);
  print_line (_("* members:"));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(UsiMember) member = g_list_model_get_item (members, i);
      g_autofree char *name = usi_cli_output_sanitize (usi_member_get_name (member));
      g_autofree char *line = NULL;
      const char *role = usi_member_get_is_owner (member) ? _(" (owner)") : "";

      if (usi_member_get_is_self (member))
        /* Translators: %s: one's own name, then “ (owner)” or nothing */
        line = g_strdup_printf (_("  %s%s, you"), name, role);
      else
        /* Translators: %s: a name, “ (owner)” or nothing, the verification state, the safety number, emoji */
        line = g_strdup_printf (_("  %s%s, %s, safety number %s, %s"), name, role,
                                describe_verification (usi_member_get_verification (member)),
                                usi_member_get_safety_number (member),
                                usi_member_get_emoji (member));
      print_line (line);
    }
}

void
usi_cli_output_verified (UsiCliOutput *self,
                         UsiMember    *member)
{
  g_return_if_fail (USI_IS_CLI_OUTPUT (self));
  g_return_if_fail (USI_IS_MEMBER (member));

  if (self->json)
    {
      JsonBuilder *builder = begin_event ("verified");

      add_string (builder, "name", usi_member_get_name (member));
      end_event (builder);
    }
  else
    {
      g_autofree char *name = usi_cli_output_sanitize (usi_member_get_name (member));
      g_autofree char *line = g_strdup_printf (_("* %s is verified"), name);

      print_line (line);
    }
}

void
usi_cli_output_warning (UsiCliOutput *self,
                        const char   *code,
                        const char   *message)
{
  g_return_if_fail (USI_IS_CLI_OUTPUT (self));
  g_return_if_fail (code != NULL && message != NULL);

  if (self->json)
    {
      JsonBuilder *builder = begin_event ("warning");

      add_string (builder, "code", code);
      add_string (builder, "message", message);
      end_event (builder);
    }
  else
    {
      /* Translators: %s: what went wrong, a sentence */
      g_autofree char *line = g_strdup_printf (_("warning: %s"), message);

      print_error_line (line);
    }
}

static void
emit_error (UsiCliOutput *self,
            const char   *code,
            const char   *message,
            guint         id)
{
  if (self->json)
    {
      JsonBuilder *builder = begin_event ("error");

      add_string (builder, "code", code);
      add_string (builder, "message", message);
      if (id != 0)
        add_int (builder, "id", id);
      end_event (builder);
    }
  else
    print_error_line (message);
}

void
usi_cli_output_error (UsiCliOutput *self,
                      const char   *code,
                      const char   *message)
{
  g_return_if_fail (USI_IS_CLI_OUTPUT (self));
  g_return_if_fail (code != NULL && message != NULL);

  emit_error (self, code, message, 0);
}

void
usi_cli_output_gerror (UsiCliOutput *self,
                       const GError *error,
                       guint         id)
{
  g_return_if_fail (USI_IS_CLI_OUTPUT (self));
  g_return_if_fail (error != NULL);

  emit_error (self, usi_session_error_code (error), error->message, id);
}

void
usi_cli_output_fatal (UsiCliOutput *self,
                      const GError *error)
{
  g_return_if_fail (USI_IS_CLI_OUTPUT (self));
  g_return_if_fail (error != NULL);

  if (self->json)
    emit_error (self, usi_session_error_code (error), error->message, 0);
  print_error_line (error->message);
}

void
usi_cli_output_connection (UsiCliOutput *self,
                           const char   *relay_address,
                           gboolean      connected,
                           const GError *error)
{
  g_return_if_fail (USI_IS_CLI_OUTPUT (self));

  if (self->json)
    {
      JsonBuilder *builder = begin_event ("connection");

      add_string (builder, "relay", relay_address);
      add_boolean (builder, "connected", connected);
      if (error != NULL)
        {
          json_builder_set_member_name (builder, "error");
          json_builder_begin_object (builder);
          add_string (builder, "code", usi_session_error_code (error));
          add_string (builder, "message", error->message);
          json_builder_end_object (builder);
        }
      end_event (builder);
    }
  else
    {
      g_autofree char *line = NULL;

      if (connected)
        /* Translators: %s: the relay's HOST:PORT */
        line = g_strdup_printf (_("* connected to relay %s"), relay_address);
      else if (error != NULL)
        {
          g_autofree char *reason = usi_cli_output_sanitize (error->message);

          /* Translators: %s: the relay's HOST:PORT, then why the connection was lost */
          line = g_strdup_printf (_("* connection to relay %s lost: %s"), relay_address, reason);
        }
      else
        line = g_strdup_printf (_("* connection to relay %s lost"), relay_address);
      print_line (line);
    }
}
