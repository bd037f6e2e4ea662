/* SPDX-License-Identifier: GPL-3.0-or-later */

/* One room: its protocol state (an owner group, a member group or a
 * pre-shared room, and the message channel), its members and messages as
 * list models, and what a front end can do in it.  Frames come from the
 * relay link; nothing here trusts the relay for anything but delivery:
 * every frame is checked by the protocol layer before it changes state.
 * Never logs a key or a message's text. */

#define G_LOG_DOMAIN "usi-session"

#include "config.h"

#include <glib/gi18n-lib.h>
#include <string.h>

#include "crypto/usi-mls-key-schedule.h"
#include "crypto/usi-secret.h"
#include "net/usi-net-error.h"
#include "protocol/usi-commit.h"
#include "protocol/usi-epoch.h"
#include "protocol/usi-frame.h"
#include "protocol/usi-group-info.h"
#include "protocol/usi-member-group.h"
#include "protocol/usi-message-channel.h"
#include "protocol/usi-message.h"
#include "protocol/usi-protocol-error.h"
#include "protocol/usi-relay-frame.h"
#include "protocol/usi-trust.h"

#include "usi-member-private.h"
#include "usi-message-private.h"
#include "usi-room-private.h"
#include "usi-room-record.h"
#include "usi-session-error.h"
#include "usi-session-private.h"

#define DEFAULT_INVITE_VALIDITY_MS (G_GUINT64_CONSTANT (24) * 60 * 60 * 1000)

struct _UsiRoom
{
  GObject            parent_instance;

  UsiSession        *session;            /* weak: the session detaches its rooms */
  UsiRelayLink      *link;
  GCancellable      *cancellable;

  UsiRoomKind        kind;
  gboolean           is_owner;
  UsiRoomState       state;
  GError            *error;
  char              *name;
  guint8             room_id[USI_RELAY_ID_LENGTH];
  guint8             relay_pin[USI_TLS_PIN_LENGTH];
  char              *invite_address;     /* owner: the relay address invites carry */
  guint64            epoch;

  /* Owned rooms: one of the two groups, and the channel over its epochs. */
  UsiOwnerGroup     *owner_group;
  UsiInviteBook     *invite_book;
  GBytes            *create_commit;      /* epoch 0, for the relay */
  UsiMemberGroup    *member_group;
  UsiMessageChannel *channel;
  UsiLeafSecret      own_leaf;
  gboolean           has_password;
  guint8             password_key[USI_JOIN_PASSWORD_KEY_LENGTH];  /* owner */
  guint8             password_psk[USI_JOIN_PASSWORD_PSK_LENGTH];  /* joiner */

  /* Joining: the invite and the request, until a Welcome or a refusal. */
  UsiInvite         *invite;
  UsiJoinRequest    *join_request;
  GBytes            *join_request_frame;
  GTask             *start_task;

  /* Pre-shared rooms. */
  UsiPresharedRoom  *preshared;
  gboolean           relay_unauthenticated;   /* joined without a pin */

  GListStore        *members;
  GListStore        *messages;

  /* Keeping state (docs/protocol.md §12): frames not yet acknowledged, the
   * pending save, and how much of the history is saved unchanged. */
  GPtrArray         *outbox;             /* UsiRoomOutboxEntry, in posting order */
  guint              save_source;
  guint              history_clean;      /* messages [0, history_clean) are saved as they are */
  gboolean           restored;           /* loaded from the store */
  guint64            restored_position;
};

enum {
  PROP_0,
  PROP_STATE,
  PROP_EPOCH,
  PROP_ERROR,
  N_PROPS
};

enum {
  SIGNAL_MESSAGE_RECEIVED,
  SIGNAL_MEMBER_JOINED,
  SIGNAL_MEMBER_LEFT,
  SIGNAL_EPOCH_CHANGED,
  SIGNAL_WARNING,
  N_SIGNALS
};

static GParamSpec *properties[N_PROPS];
static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (UsiRoom, usi_room, G_TYPE_OBJECT)

static guint64
now_ms (void)
{
  return (guint64) (g_get_real_time () / 1000);
}

static void
usi_room_dispose (GObject *object)
{
  UsiRoom *self = USI_ROOM (object);

  _usi_room_detach (self);

  G_OBJECT_CLASS (usi_room_parent_class)->dispose (object);
}

static void
usi_room_finalize (GObject *object)
{
  UsiRoom *self = USI_ROOM (object);

  g_clear_error (&self->error);
  g_free (self->name);
  g_free (self->invite_address);
  g_clear_pointer (&self->owner_group, usi_owner_group_free);
  g_clear_pointer (&self->invite_book, usi_invite_book_free);
  g_clear_pointer (&self->create_commit, g_bytes_unref);
  g_clear_pointer (&self->member_group, usi_member_group_free);
  g_clear_pointer (&self->channel, usi_message_channel_free);
  g_clear_pointer (&self->invite, usi_invite_free);
  g_clear_pointer (&self->join_request, usi_join_request_free);
  g_clear_pointer (&self->join_request_frame, g_bytes_unref);
  g_clear_pointer (&self->preshared, usi_preshared_room_free);
  g_clear_object (&self->members);
  g_clear_object (&self->messages);
  g_clear_pointer (&self->outbox, g_ptr_array_unref);
  usi_leaf_secret_clear (&self->own_leaf);
  usi_secret_wipe (self->password_key, sizeof self->password_key);
  usi_secret_wipe (self->password_psk, sizeof self->password_psk);

  G_OBJECT_CLASS (usi_room_parent_class)->finalize (object);
}

static void
usi_room_get_property (GObject    *object,
                       guint       prop_id,
                       GValue     *value,
                       GParamSpec *pspec)
{
  UsiRoom *self = USI_ROOM (object);

  switch (prop_id)
    {
    case PROP_STATE:
      g_value_set_uint (value, self->state);
      break;
    case PROP_EPOCH:
      g_value_set_uint64 (value, self->epoch);
      break;
    case PROP_ERROR:
      g_value_set_boxed (value, self->error);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
usi_room_class_init (UsiRoomClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = usi_room_dispose;
  object_class->finalize = usi_room_finalize;
  object_class->get_property = usi_room_get_property;

  properties[PROP_STATE] =
    g_param_spec_uint ("state", NULL, NULL, USI_ROOM_CONNECTING, USI_ROOM_FAILED, USI_ROOM_CONNECTING,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_EPOCH] =
    g_param_spec_uint64 ("epoch", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_ERROR] =
    g_param_spec_boxed ("error", NULL, NULL, G_TYPE_ERROR,
                        G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  signals[SIGNAL_MESSAGE_RECEIVED] =
    g_signal_new ("message-received", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, USI_TYPE_MESSAGE);
  signals[SIGNAL_MEMBER_JOINED] =
    g_signal_new ("member-joined", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, USI_TYPE_MEMBER);
  signals[SIGNAL_MEMBER_LEFT] =
    g_signal_new ("member-left", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, USI_TYPE_MEMBER);
  signals[SIGNAL_EPOCH_CHANGED] =
    g_signal_new ("epoch-changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 2, G_TYPE_UINT64, G_TYPE_UINT);
  signals[SIGNAL_WARNING] =
    g_signal_new ("warning", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
usi_room_init (UsiRoom *self)
{
  self->cancellable = g_cancellable_new ();
  self->members = g_list_store_new (USI_TYPE_MEMBER);
  self->messages = g_list_store_new (USI_TYPE_MESSAGE);
  self->outbox = g_ptr_array_new_with_free_func ((GDestroyNotify) usi_room_outbox_entry_free);
  self->state = USI_ROOM_CONNECTING;
}

/* State ------------------------------------------------------------------ */

static void
set_state (UsiRoom      *self,
           UsiRoomState  state)
{
  if (self->state == state)
    return;

  self->state = state;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
}

static void
set_error (UsiRoom      *self,
           const GError *error)
{
  g_clear_error (&self->error);
  if (error != NULL)
    self->error = g_error_copy (error);
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_ERROR]);
}

static void
warn (UsiRoom      *self,
      const GError *error)
{
  g_debug ("room %02x%02x…: %s", self->room_id[0], self->room_id[1], error->message);
  g_signal_emit (self, signals[SIGNAL_WARNING], 0, error);
}

/* The current epoch of an owned room, or the pre-shared room's one. */
static UsiEpoch *
current_epoch (UsiRoom *self)
{
  if (self->owner_group != NULL)
    return usi_owner_group_get_epoch (self->owner_group);
  if (self->member_group != NULL)
    return usi_member_group_get_epoch (self->member_group);
  if (self->preshared != NULL)
    return usi_preshared_room_get_epoch (self->preshared);
  return NULL;
}

static guint32
own_index (UsiRoom *self)
{
  if (self->owner_group != NULL)
    return USI_OWNER_INDEX;
  if (self->member_group != NULL)
    return usi_member_group_get_own_index (self->member_group);
  if (self->preshared != NULL)
    return usi_preshared_room_get_own_index (self->preshared);
  return 0;
}

static GPtrArray *
current_roster (UsiRoom *self)
{
  UsiEpoch *epoch;

  if (self->preshared != NULL)
    return usi_preshared_room_get_members (self->preshared);

  epoch = current_epoch (self);
  return epoch != NULL ? usi_epoch_get_roster (epoch) : NULL;
}

static UsiMemberVerification
verification_of (UsiRoom              *self,
                 const UsiRosterEntry *entry)
{
  UsiTrust *trust;

  if (self->session == NULL)
    return USI_MEMBER_UNVERIFIED;

  trust = _usi_session_get_trust (self->session);
  switch (usi_trust_get_state (trust, self->room_id, entry->display_name, entry->leaf.identity_key))
    {
    case USI_TRUST_VERIFIED:
      return USI_MEMBER_VERIFIED;
    case USI_TRUST_CHANGED:
      return USI_MEMBER_KEY_CHANGED;
    case USI_TRUST_UNVERIFIED:
    default:
      return USI_MEMBER_UNVERIFIED;
    }
}

static UsiMember *
find_member (GListModel   *members,
             guint         index,
             const guint8 *identity_key,
             const char   *name)
{
  guint n = g_list_model_get_n_items (members);

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(UsiMember) member = g_list_model_get_item (members, i);

      if (usi_member_get_index (member) == index &&
          memcmp (usi_member_get_identity_key (member), identity_key, 32) == 0 &&
          g_strcmp0 (usi_member_get_name (member), name) == 0)
        return g_steal_pointer (&member);
    }

  return NULL;
}

/* Brings the members model in line with the current roster: members that
 * stay keep their object, new ones are announced, gone ones too.  One
 * items-changed for the whole change. */
static void
update_members (UsiRoom *self)
{
  GPtrArray *roster = current_roster (self);
  g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) joined = g_ptr_array_new_with_free_func (g_object_unref);
  g_autoptr(GPtrArray) left = g_ptr_array_new_with_free_func (g_object_unref);
  guint n_before = g_list_model_get_n_items (G_LIST_MODEL (self->members));
  guint32 self_index = own_index (self);

  if (roster == NULL || self->session == NULL)
    return;

  for (guint i = 0; i < roster->len; i++)
    {
      const UsiRosterEntry *entry = g_ptr_array_index (roster, i);
      UsiMember *member = find_member (G_LIST_MODEL (self->members), entry->index,
                                       entry->leaf.identity_key, entry->display_name);

      if (member == NULL)
        {
          gboolean is_self = entry->index == self_index &&
                             memcmp (entry->leaf.identity_key,
                                     usi_identity_get_public_key (_usi_session_get_identity (self->session)),
                                     32) == 0;
          member = _usi_member_new (entry->index, entry->display_name, entry->leaf.identity_key,
                                    self->kind == USI_ROOM_KIND_OWNED && entry->index == USI_OWNER_INDEX,
                                    is_self, self->session);
          if (n_before > 0 || !is_self)
            g_ptr_array_add (joined, g_object_ref (member));
        }
      _usi_member_set_verification (member, verification_of (self, entry));
      g_ptr_array_add (items, member);
    }

  for (guint i = 0; i < n_before; i++)
    {
      g_autoptr(UsiMember) member = g_list_model_get_item (G_LIST_MODEL (self->members), i);

      if (!g_ptr_array_find (items, member, NULL))
        g_ptr_array_add (left, g_steal_pointer (&member));
    }

  g_list_store_splice (self->members, 0, n_before, items->pdata, items->len);

  for (guint i = 0; i < left->len; i++)
    g_signal_emit (self, signals[SIGNAL_MEMBER_LEFT], 0, g_ptr_array_index (left, i));
  for (guint i = 0; i < joined->len; i++)
    g_signal_emit (self, signals[SIGNAL_MEMBER_JOINED], 0, g_ptr_array_index (joined, i));
}

static void
set_epoch_from_state (UsiRoom *self)
{
  UsiEpoch *epoch = current_epoch (self);
  guint64 number = epoch != NULL ? usi_epoch_get_number (epoch) : 0;

  if (self->epoch == number)
    return;

  self->epoch = number;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_EPOCH]);
}

/* After this room moved to a new epoch (a commit applied or made). */
static void
enter_new_epoch (UsiRoom         *self,
                 UsiCommitReason  reason)
{
  g_autoptr(GError) error = NULL;

  if (!usi_message_channel_advance (self->channel, current_epoch (self), now_ms (), &error))
    warn (self, error);
  set_epoch_from_state (self);
  update_members (self);
  g_signal_emit (self, signals[SIGNAL_EPOCH_CHANGED], 0, self->epoch, (guint) reason);
}

static void save_now             (UsiRoom *self);
static void schedule_save        (UsiRoom *self);
static void mark_history_changed (UsiRoom *self,
                                  guint32  index);

/* Posting ------------------------------------------------------------------ */

static GBytes *
encode_frame (guint8   type,
              GBytes  *body)
{
  gsize length;
  const guint8 *data = g_bytes_get_data (body, &length);

  return usi_frame_encode (type, data, length, NULL);
}

/* A frame on its way to the relay: kept in the room's outbox (saved with
 * the room) until the relay answers, so a restart posts it again. */
typedef struct
{
  UsiRoom            *room;
  UsiRoomOutboxEntry *entry;     /* owned by room->outbox */
  UsiMessage         *message;   /* one's own message it carries, or NULL */
  GTask              *task;      /* completes with the answer, or NULL */
} Posting;

static void
posting_free (Posting *posting)
{
  g_clear_object (&posting->room);
  g_clear_object (&posting->message);
  g_clear_object (&posting->task);
  g_free (posting);
}

static void
posted (GObject      *source,
        GAsyncResult *result,
        gpointer      user_data)
{
  Posting *posting = user_data;
  UsiRoom *self = posting->room;
  g_autoptr(GError) error = NULL;
  guint32 message_index;
  guint64 seq = 0;
  gboolean ok;

  ok = usi_relay_link_request_finish (USI_RELAY_LINK (source), result, &seq, NULL, &error);
  if (!ok && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      /* The room is closing: the frame stays in the saved outbox and is
       * posted again when the room is next opened. */
      if (posting->task != NULL)
        g_task_return_error (posting->task, g_steal_pointer (&error));
      posting_free (posting);
      return;
    }

  message_index = posting->entry->message_index;
  g_ptr_array_remove (self->outbox, posting->entry);
  posting->entry = NULL;
  if (posting->message != NULL)
    {
      if (ok)
        _usi_message_set_sent (posting->message, seq);
      else
        _usi_message_set_failed (posting->message);
      mark_history_changed (self, message_index);
    }
  if (!ok && posting->task == NULL)
    warn (self, error);
  if (posting->task != NULL)
    {
      if (ok)
        g_task_return_boolean (posting->task, TRUE);
      else
        g_task_return_error (posting->task, g_steal_pointer (&error));
    }
  schedule_save (self);
  posting_free (posting);
}

/* Posts a whole frame of this room (recipient NULL: the room).  With
 * `save_first` the room, outbox included, is saved before the frame can
 * leave: after a commit or a sealed message, the state on disk must never
 * be older than what the relay may have. */
static void
post_tracked (UsiRoom      *self,
              GBytes       *frame,
              const guint8 *recipient,
              UsiMessage   *message,
              guint32       message_index,
              gboolean      save_first,
              GTask        *task)
{
  UsiRoomOutboxEntry *entry;
  Posting *posting;

  if (self->link == NULL)
    {
      if (task != NULL)
        g_task_return_new_error (task, USI_SESSION_ERROR, USI_SESSION_ERROR_NOT_JOINED,
                                 _("The room is closed."));
      return;
    }

  entry = g_new0 (UsiRoomOutboxEntry, 1);
  entry->frame = g_bytes_ref (frame);
  entry->has_recipient = recipient != NULL;
  if (recipient != NULL)
    memcpy (entry->recipient, recipient, sizeof entry->recipient);
  entry->message_index = message_index;
  g_ptr_array_add (self->outbox, entry);

  if (save_first)
    save_now (self);

  posting = g_new0 (Posting, 1);
  posting->room = g_object_ref (self);
  posting->entry = entry;
  posting->message = message != NULL ? g_object_ref (message) : NULL;
  posting->task = task != NULL ? g_object_ref (task) : NULL;
  usi_relay_link_post_async (self->link, self->room_id, recipient, frame, NULL, posted, posting);
}

/* Posts a body as a frame of `type`; see post_tracked(). */
static void
post_body (UsiRoom      *self,
           guint8        type,
           GBytes       *body,
           const guint8 *recipient,
           gboolean      save_first,
           GTask        *task)
{
  g_autoptr(GBytes) frame = encode_frame (type, body);

  if (frame == NULL)
    {
      if (task != NULL)
        g_task_return_new_error (task, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE,
                                 _("The frame is too large to send."));
      return;
    }
  post_tracked (self, frame, recipient, NULL, G_MAXUINT32, save_first, task);
}

/* The owner made a commit (already applied to its group): move the room to
 * the new epoch, save, and post it.  The link keeps posts in order, so the
 * commit reaches the relay after every message sealed before it. */
static void
publish_commit (UsiRoom         *self,
                GBytes          *commit,
                UsiCommitReason  reason,
                GTask           *task)
{
  enter_new_epoch (self, reason);
  post_body (self, USI_FRAME_COMMIT, commit, NULL, TRUE, task);
}

static void
rotate_if_due (UsiRoom *self)
{
  g_autoptr(GBytes) commit = NULL;
  g_autoptr(GError) error = NULL;

  if (self->owner_group == NULL || !usi_owner_group_is_rotation_due (self->owner_group))
    return;

  if (!usi_owner_group_rotate (self->owner_group, _usi_session_get_random (self->session), &commit, &error))
    {
      warn (self, error);
      return;
    }
  publish_commit (self, commit, USI_COMMIT_REASON_ROTATE, NULL);
}

/* Receiving ------------------------------------------------------------------- */

static void
add_received_message (UsiRoom            *self,
                      UsiReceivedMessage *received,
                      guint64             seq)
{
  g_autoptr(UsiMessage) message = NULL;
  gsize length;
  const char *text;

  if (received->content_type != USI_CONTENT_TYPE_TEXT)
    {
      /* File offers and ends belong to transfers, which this version does
       * not have: said once per offer, never dropped silently. */
      g_autoptr(GError) error = g_error_new_literal (USI_SESSION_ERROR, USI_SESSION_ERROR_NOT_SUPPORTED,
                                                     _("A member offered files; file transfer is not available in this version."));
      if (received->content_type == USI_CONTENT_TYPE_FILE_OFFER)
        warn (self, error);
      return;
    }

  text = g_bytes_get_data (received->body, &length);
  if (!g_utf8_validate_len (text, length, NULL) || memchr (text, '\0', length) != NULL)
    {
      g_autoptr(GError) error = g_error_new_literal (USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                                                     _("A message that is not valid text was not shown."));
      warn (self, error);
      return;
    }

  {
    g_autofree char *copy = g_strndup (text, length);

    message = _usi_message_new (received->sender_index, received->sender_display_name,
                                received->sender_identity_key, copy,
                                (gint64) received->sent_ms, (gint64) now_ms (),
                                received->epoch, seq, FALSE, received->gap, USI_MESSAGE_RECEIVED);
  }

  g_list_store_append (self->messages, message);
  g_signal_emit (self, signals[SIGNAL_MESSAGE_RECEIVED], 0, message);
}

static void
handle_app_message (UsiRoom      *self,
                    guint64       seq,
                    const guint8 *body,
                    gsize         length)
{
  g_autoptr(GError) error = NULL;
  UsiReceivedMessage *received;
  guint64 epoch;
  guint32 sender;

  if (self->preshared != NULL)
    received = usi_preshared_room_open (self->preshared, body, length, now_ms (), &error);
  else if (self->channel != NULL)
    received = usi_message_channel_open (self->channel, body, length, now_ms (), &error);
  else
    return;

  if (received == NULL)
    {
      /* A copy the relay sent again after a reconnect is no news. */
      if (!g_error_matches (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DUPLICATE))
        warn (self, error);
      return;
    }

  epoch = received->epoch;
  sender = received->sender_index;
  if (self->preshared != NULL)
    update_members (self);
  add_received_message (self, received, seq);
  usi_received_message_free (received);

  if (self->owner_group != NULL)
    {
      usi_owner_group_note_message (self->owner_group, epoch, sender);
      rotate_if_due (self);
    }
  else if (self->member_group != NULL)
    usi_member_group_note_message (self->member_group, epoch, sender);
}

static void
refuse_join_request (UsiRoom        *self,
                     UsiJoinRequest *request,
                     const GError   *reason)
{
  g_autoptr(GBytes) refusal = NULL;
  const guint8 *recipient = usi_join_request_get_sender_identity_key (request);

  /* Only requests that opened are answered (docs/protocol.md §5.7). */
  if (!usi_join_request_is_authenticated (request) || recipient == NULL)
    return;

  refusal = usi_join_refusal_seal (_usi_session_get_random (self->session),
                                   _usi_session_get_identity (self->session),
                                   request, usi_join_refusal_reason_for_error (reason), NULL);
  if (refusal != NULL)
    post_body (self, USI_FRAME_JOIN_REFUSAL, refusal, recipient, TRUE, NULL);
}

/* The owner: a join request.  The invite book decides; a verified joiner
 * is added at once (the invite is the owner's approval, given in advance). */
static void
handle_join_request (UsiRoom      *self,
                     const guint8 *body,
                     gsize         length)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) commit = NULL;
  g_autoptr(GBytes) welcome = NULL;
  UsiJoinRequest *request;
  UsiJoiner *joiner;
  guint32 index;

  request = usi_join_request_decode (body, length, &error);
  if (request == NULL)
    {
      warn (self, error);
      return;
    }

  usi_invite_book_prune (self->invite_book, now_ms ());
  joiner = usi_invite_book_open_request (self->invite_book, request, &self->own_leaf, 1, now_ms (), &error);
  if (joiner == NULL)
    {
      /* The request that used an invite, delivered again: no news. */
      if (!g_error_matches (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DUPLICATE))
        {
          refuse_join_request (self, request, error);
          warn (self, error);
        }
      usi_join_request_free (request);
      return;
    }

  if (!usi_owner_group_add_member (self->owner_group, usi_joiner_get_leaf (joiner),
                                   usi_joiner_get_display_name (joiner),
                                   _usi_session_get_random (self->session),
                                   &index, &commit, &welcome, &error))
    {
      refuse_join_request (self, request, error);
      warn (self, error);
      usi_joiner_free (joiner);
      usi_join_request_free (request);
      return;
    }

  /* The commit first: the relay makes the joiner a reader from the commit
   * on, then hands it the Welcome. */
  publish_commit (self, commit, USI_COMMIT_REASON_ADD, NULL);
  post_body (self, USI_FRAME_WELCOME, welcome, usi_joiner_get_identity_key (joiner), TRUE, NULL);

  usi_joiner_free (joiner);
  usi_join_request_free (request);
}

static void
handle_leaf_update (UsiRoom      *self,
                    const guint8 *body,
                    gsize         length)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) commit = NULL;

  if (!usi_owner_group_apply_leaf_update (self->owner_group, body, length,
                                          _usi_session_get_random (self->session), &commit, &error))
    {
      if (!g_error_matches (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DUPLICATE))
        warn (self, error);
      return;
    }
  publish_commit (self, commit, USI_COMMIT_REASON_UPDATE, NULL);
}

static void
handle_commit (UsiRoom      *self,
               const guint8 *body,
               gsize         length)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiCommit) decoded = NULL;
  UsiMemberCommitOutcome outcome;

  if (!usi_member_group_process_commit (self->member_group, body, length, &outcome, &error))
    {
      /* An old or repeated commit (a backlog served again) is no news. */
      if (!g_error_matches (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DUPLICATE) &&
          !g_error_matches (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_EPOCH))
        warn (self, error);
      return;
    }

  if (outcome == USI_MEMBER_COMMIT_REMOVED)
    {
      g_autoptr(GError) removed = g_error_new_literal (USI_SESSION_ERROR, USI_SESSION_ERROR_REMOVED,
                                                       _("The owner removed you from this room. You cannot read what is said from now on."));
      set_error (self, removed);
      set_state (self, USI_ROOM_REMOVED);
      return;
    }

  decoded = usi_commit_decode (body, length, NULL);
  enter_new_epoch (self, decoded != NULL ? decoded->reason : USI_COMMIT_REASON_ROTATE);
}

static void
finish_start (UsiRoom      *self,
              const GError *error)
{
  g_autoptr(GTask) task = g_steal_pointer (&self->start_task);

  if (error != NULL)
    {
      set_error (self, error);
      set_state (self, USI_ROOM_FAILED);
    }
  if (task == NULL)
    return;
  if (error != NULL)
    g_task_return_error (task, g_error_copy (error));
  else
    g_task_return_boolean (task, TRUE);
}

/* The joiner: the owner's answer. */
static void
handle_welcome (UsiRoom      *self,
                const guint8 *body,
                gsize         length)
{
  g_autoptr(GError) error = NULL;
  UsiMemberGroup *group;

  if (self->member_group != NULL || self->join_request == NULL)
    return;  /* already in: the Welcome came again with the backlog */

  group = usi_member_group_new_from_welcome (body, length, self->room_id,
                                             usi_invite_get_owner_identity_key (self->invite),
                                             _usi_session_get_identity (self->session),
                                             &self->own_leaf,
                                             self->has_password ? self->password_psk : NULL,
                                             &error);
  if (group == NULL)
    {
      finish_start (self, error);
      return;
    }

  self->member_group = group;
  self->channel = usi_message_channel_new (usi_member_group_get_epoch (group), &error);
  if (self->channel == NULL)
    {
      finish_start (self, error);
      return;
    }

  g_clear_pointer (&self->join_request, usi_join_request_free);
  g_clear_pointer (&self->join_request_frame, g_bytes_unref);
  set_epoch_from_state (self);
  update_members (self);
  /* From 0: the relay starts this member at the commit that added it. */
  usi_relay_link_subscribe (self->link, self->room_id, 0);
  set_state (self, USI_ROOM_JOINED);
  save_now (self);
  finish_start (self, NULL);
}

static void
handle_refusal (UsiRoom      *self,
                const guint8 *body,
                gsize         length)
{
  g_autoptr(GError) error = NULL;
  UsiJoinRefusalReason reason;

  if (self->join_request == NULL)
    return;

  if (!usi_join_refusal_open (body, length, self->invite, self->join_request, &self->own_leaf, &reason, &error))
    {
      warn (self, error);   /* not an answer to our request: keep waiting */
      return;
    }

  usi_join_refusal_reason_set_error (reason, &error);
  finish_start (self, error);
}

void
_usi_room_handle_deliver (UsiRoom *self,
                          guint64  seq,
                          guint    frame_type,
                          GBytes  *frame)
{
  g_autoptr(GError) error = NULL;
  const guint8 *data;
  const guint8 *body;
  gsize length;
  gsize body_length;
  guint8 type;

  g_return_if_fail (USI_IS_ROOM (self));

  if (self->session == NULL || self->state == USI_ROOM_REMOVED || self->state == USI_ROOM_FAILED)
    return;

  data = g_bytes_get_data (frame, &length);
  if (!usi_frame_decode (data, length, &type, &body, &body_length, &error))
    {
      warn (self, error);
      return;
    }

  g_object_ref (self);
  switch (type)
    {
    case USI_FRAME_APP_MESSAGE:
      handle_app_message (self, seq, body, body_length);
      break;
    case USI_FRAME_JOIN_REQUEST:
      if (self->owner_group != NULL)
        handle_join_request (self, body, body_length);
      break;
    case USI_FRAME_LEAF_UPDATE:
      if (self->owner_group != NULL)
        handle_leaf_update (self, body, body_length);
      break;
    case USI_FRAME_COMMIT:
      /* The owner sees its own commits come back: already applied. */
      if (self->member_group != NULL)
        handle_commit (self, body, body_length);
      break;
    case USI_FRAME_WELCOME:
      handle_welcome (self, body, body_length);
      break;
    case USI_FRAME_JOIN_REFUSAL:
      handle_refusal (self, body, body_length);
      break;
    case USI_FRAME_FILE_CHUNK:
    default:
      break;
    }
  /* The link moves the room's position once this returns: the save that
   * follows keeps state and position together. */
  schedule_save (self);
  g_object_unref (self);
}

void
_usi_room_handle_link_state (UsiRoom           *self,
                             UsiRelayLinkState  state)
{
  g_return_if_fail (USI_IS_ROOM (self));

  if (state == USI_RELAY_LINK_RECONNECTING && self->state == USI_ROOM_JOINED)
    set_state (self, USI_ROOM_RECONNECTING);
  else if (state == USI_RELAY_LINK_CONNECTED && self->state == USI_ROOM_RECONNECTING)
    set_state (self, USI_ROOM_JOINED);
}

void
_usi_room_handle_connection_lost (UsiRoom      *self,
                                  const GError *error)
{
  g_return_if_fail (USI_IS_ROOM (self));

  /* While starting, a relay that is not the invite's (its key does not
   * match the pin) or that refuses who we are will not change by retrying:
   * the start fails with that reason.  Once in, the link keeps retrying. */
  if (self->start_task != NULL &&
      (g_error_matches (error, USI_NET_ERROR, USI_NET_ERROR_PIN_MISMATCH) ||
       g_error_matches (error, USI_NET_ERROR, USI_NET_ERROR_BAD_HELLO)))
    finish_start (self, error);
}

void
_usi_room_handle_subscription_refused (UsiRoom      *self,
                                       const GError *error)
{
  g_return_if_fail (USI_IS_ROOM (self));

  /* NOT_MEMBER: the relay applied a commit that removed us before we saw
   * it; the commit itself will say so if it arrives. */
  warn (self, error);
}

/* Keeping state -------------------------------------------------------------- */

#define SAVE_DELAY_MS 200

static char *
store_id (UsiRoom    *self,
          const char *prefix,
          gint        chunk)
{
  GString *id = g_string_new (prefix);

  for (gsize i = 0; i < sizeof self->room_id; i++)
    g_string_append_printf (id, "%02x", self->room_id[i]);
  if (chunk >= 0)
    g_string_append_printf (id, "-%d", chunk);
  return g_string_free (id, FALSE);
}

/* A room is saved once it is in (never while joining), and only when the
 * person keeps state. */
static gboolean
keeps_state (UsiRoom *self)
{
  return self->session != NULL && self->link != NULL &&
         _usi_session_keeps_state (self->session) &&
         (self->state == USI_ROOM_JOINED || self->state == USI_ROOM_RECONNECTING ||
          self->state == USI_ROOM_REMOVED);
}

static UsiRoomRecord *
build_record (UsiRoom *self)
{
  g_autoptr(UsiRoomRecord) record = usi_room_record_new ();

  record->name = g_strdup (self->name);
  record->connect_address = g_strdup (usi_relay_link_get_address (self->link));
  record->invite_address = g_strdup (self->invite_address != NULL ? self->invite_address : "");
  record->pinned = !self->relay_unauthenticated;
  memcpy (record->pin, self->relay_pin, sizeof record->pin);
  record->relay_unauthenticated = self->relay_unauthenticated;
  record->position = usi_relay_link_get_room_position (self->link, self->room_id);

  if (self->owner_group != NULL)
    {
      record->kind = USI_ROOM_RECORD_OWNER;
      record->state = usi_owner_group_save (self->owner_group);
      record->invite_book = usi_invite_book_save (self->invite_book);
      record->own_leaf = self->own_leaf;
      record->has_password = self->has_password;
      memcpy (record->password_secret, self->password_key, sizeof record->password_secret);
    }
  else if (self->member_group != NULL)
    {
      record->kind = USI_ROOM_RECORD_MEMBER;
      record->state = usi_member_group_save (self->member_group);
      record->has_password = self->has_password;
      memcpy (record->password_secret, self->password_psk, sizeof record->password_secret);
    }
  else
    {
      record->kind = USI_ROOM_RECORD_PRESHARED;
      record->state = usi_preshared_room_save (self->preshared);
    }
  if (self->channel != NULL)
    record->channel = usi_message_channel_save (self->channel);

  for (guint i = 0; i < self->outbox->len; i++)
    {
      const UsiRoomOutboxEntry *entry = g_ptr_array_index (self->outbox, i);
      UsiRoomOutboxEntry *copy = g_new0 (UsiRoomOutboxEntry, 1);

      *copy = *entry;
      copy->frame = g_bytes_ref (entry->frame);
      g_ptr_array_add (record->outbox, copy);
    }

  return g_steal_pointer (&record);
}

/* Writes the history chunks that changed since the last save. */
static gboolean
save_history (UsiRoom  *self,
              GError  **error)
{
  GListModel *messages = G_LIST_MODEL (self->messages);
  guint n = g_list_model_get_n_items (messages);

  if (n == 0)
    return TRUE;

  for (guint chunk = self->history_clean / USI_ROOM_HISTORY_CHUNK;
       chunk <= (n - 1) / USI_ROOM_HISTORY_CHUNK;
       chunk++)
    {
      UsiRoomHistoryEntry entries[USI_ROOM_HISTORY_CHUNK];
      guint first = chunk * USI_ROOM_HISTORY_CHUNK;
      guint count = MIN (USI_ROOM_HISTORY_CHUNK, n - first);
      g_autofree char *id = store_id (self, "history-", (gint) chunk);
      g_autoptr(GBytes) bytes = NULL;
      g_autoptr(GPtrArray) held = g_ptr_array_new_with_free_func (g_object_unref);

      for (guint i = 0; i < count; i++)
        {
          UsiMessage *message = g_list_model_get_item (messages, first + i);
          UsiRoomHistoryEntry *entry = &entries[i];

          g_ptr_array_add (held, message);
          entry->sender_index = usi_message_get_sender_index (message);
          entry->sender_name = (char *) usi_message_get_sender_name (message);
          memcpy (entry->sender_key, usi_message_get_sender_key (message), sizeof entry->sender_key);
          entry->text = (char *) usi_message_get_text (message);
          entry->sent_ms = usi_message_get_sent_ms (message);
          entry->received_ms = usi_message_get_received_ms (message);
          entry->epoch = usi_message_get_epoch (message);
          entry->seq = usi_message_get_seq (message);
          entry->is_own = usi_message_get_is_own (message);
          entry->gap_before = usi_message_get_gap_before (message);
          entry->state = (guint8) usi_message_get_state (message);
        }
      bytes = usi_room_history_encode (entries, count);
      if (!_usi_session_put_record (self->session, id, bytes, error))
        return FALSE;
    }

  self->history_clean = n;
  return TRUE;
}

static void
save_now (UsiRoom *self)
{
  g_autoptr(UsiRoomRecord) record = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *id = NULL;

  if (self->save_source != 0)
    {
      g_source_remove (self->save_source);
      self->save_source = 0;
    }
  if (!keeps_state (self))
    return;

  record = build_record (self);
  bytes = usi_room_record_encode (record);
  id = store_id (self, "room-", -1);
  if (!_usi_session_put_record (self->session, id, bytes, &error) ||
      !save_history (self, &error))
    {
      g_autoptr(GError) warning = g_error_new (error->domain, error->code,
                                               _("The room could not be saved: %s"), error->message);
      warn (self, warning);
    }
}

static gboolean
save_timeout (gpointer user_data)
{
  UsiRoom *self = user_data;

  self->save_source = 0;
  save_now (self);
  return G_SOURCE_REMOVE;
}

/* After what can wait a moment (frames received): one save for a burst. */
static void
schedule_save (UsiRoom *self)
{
  if (self->save_source != 0 || !keeps_state (self))
    return;
  self->save_source = g_timeout_add (SAVE_DELAY_MS, save_timeout, self);
}

static void
mark_history_changed (UsiRoom *self,
                      guint32  index)
{
  if (index < self->history_clean)
    self->history_clean = index;
}

/* Starting ------------------------------------------------------------------ */

static void
room_created (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  g_autoptr(UsiRoom) self = user_data;
  g_autoptr(GError) error = NULL;
  guint64 seq = 0;

  if (!usi_relay_link_request_finish (USI_RELAY_LINK (source), result, &seq, NULL, &error))
    {
      finish_start (self, error);
      return;
    }

  if (self->link == NULL)
    return;
  usi_relay_link_subscribe (self->link, self->room_id, seq);
  set_state (self, USI_ROOM_JOINED);
  save_now (self);
  finish_start (self, NULL);

  if (self->relay_unauthenticated && usi_relay_link_get_relay_pin (self->link) != NULL)
    {
      const guint8 *pin = usi_relay_link_get_relay_pin (self->link);
      g_autoptr(GString) hex = g_string_new (NULL);
      g_autoptr(GError) warning = NULL;

      for (gsize i = 0; i < USI_TLS_PIN_LENGTH; i++)
        g_string_append_printf (hex, "%02x", pin[i]);
      warning = g_error_new (USI_SESSION_ERROR, USI_SESSION_ERROR_RELAY_NOT_AUTHENTICATED,
                             _("The relay is not authenticated: no pin was given. The room key still protects every message. The relay’s pin is %s; compare it with the one its operator gives."),
                             hex->str);
      warn (self, warning);
    }
}

static void
join_request_posted (GObject      *source,
                     GAsyncResult *result,
                     gpointer      user_data)
{
  g_autoptr(UsiRoom) self = user_data;
  g_autoptr(GError) error = NULL;
  guint8 flags = 0;

  if (!usi_relay_link_request_finish (USI_RELAY_LINK (source), result, NULL, &flags, &error))
    {
      if (self->start_task != NULL)
        finish_start (self, error);
      return;
    }

  if (self->start_task != NULL && self->member_group == NULL)
    set_state (self, (flags & USI_RELAY_ACK_RECIPIENT_OFFLINE) ? USI_ROOM_WAITING_FOR_OWNER : USI_ROOM_JOINING);
}

void
_usi_room_start_async (UsiRoom             *self,
                       GCancellable        *cancellable,
                       GAsyncReadyCallback  callback,
                       gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;

  g_return_if_fail (USI_IS_ROOM (self));
  g_return_if_fail (self->start_task == NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, _usi_room_start_async);
  self->start_task = g_steal_pointer (&task);
  set_state (self, USI_ROOM_CONNECTING);

  if (self->owner_group != NULL)
    {
      /* The epoch 0 commit is what the relay learns the owner from. */
      usi_relay_link_create_room_async (self->link, self->create_commit, self->cancellable,
                                        room_created, g_object_ref (self));
    }
  else if (self->preshared != NULL)
    usi_relay_link_open_preshared_room_async (self->link, self->room_id, self->cancellable,
                                              room_created, g_object_ref (self));
  else
    usi_relay_link_post_async (self->link, self->room_id, NULL, self->join_request_frame,
                               self->cancellable, join_request_posted, g_object_ref (self));
}

gboolean
_usi_room_start_finish (UsiRoom       *self,
                        GAsyncResult  *result,
                        GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

/* Construction ------------------------------------------------------------------ */

static UsiRoom *
room_new (UsiSession   *session,
          UsiRelayLink *link,
          UsiRoomKind   kind,
          const char   *name)
{
  UsiRoom *self = g_object_new (USI_TYPE_ROOM, NULL);

  self->session = session;
  g_object_add_weak_pointer (G_OBJECT (session), (gpointer *) &self->session);
  self->link = g_object_ref (link);
  self->kind = kind;
  self->name = g_strdup (name != NULL ? name : _("Room"));

  return self;
}

UsiRoom *
_usi_room_new_owner (UsiSession          *session,
                     UsiRelayLink        *link,
                     const char          *name,
                     const char          *invite_address,
                     const guint8        *relay_pin,
                     UsiOwnerGroup       *group,
                     GBytes              *create_commit,
                     const UsiLeafSecret *own_leaf,
                     const guint8        *password_key)
{
  UsiRoom *self = room_new (session, link, USI_ROOM_KIND_OWNED, name);

  self->is_owner = TRUE;
  self->owner_group = group;
  self->create_commit = g_bytes_ref (create_commit);
  memcpy (self->room_id, usi_owner_group_get_room_id (group), sizeof self->room_id);
  memcpy (self->relay_pin, relay_pin, sizeof self->relay_pin);
  self->invite_address = g_strdup (invite_address);
  self->own_leaf = *own_leaf;
  self->invite_book = usi_invite_book_new (self->room_id,
                                           usi_identity_get_public_key (_usi_session_get_identity (session)));
  if (password_key != NULL)
    {
      self->has_password = TRUE;
      memcpy (self->password_key, password_key, sizeof self->password_key);
      usi_invite_book_set_password_key (self->invite_book, password_key);
    }
  self->channel = usi_message_channel_new (usi_owner_group_get_epoch (group), NULL);
  set_epoch_from_state (self);
  update_members (self);

  return self;
}

UsiRoom *
_usi_room_new_joiner (UsiSession          *session,
                      UsiRelayLink        *link,
                      UsiInvite           *invite,
                      UsiJoinRequest      *request,
                      const UsiLeafSecret *own_leaf,
                      const guint8        *password_psk)
{
  UsiRoom *self = room_new (session, link, USI_ROOM_KIND_OWNED, NULL);
  g_autoptr(GBytes) body = usi_join_request_encode (request);

  self->invite = invite;
  self->join_request = request;
  self->join_request_frame = encode_frame (USI_FRAME_JOIN_REQUEST, body);
  memcpy (self->room_id, usi_invite_get_room_id (invite), sizeof self->room_id);
  memcpy (self->relay_pin, usi_invite_get_relay_pin (invite), sizeof self->relay_pin);
  self->own_leaf = *own_leaf;
  if (password_psk != NULL)
    {
      self->has_password = TRUE;
      memcpy (self->password_psk, password_psk, sizeof self->password_psk);
    }

  return self;
}

UsiRoom *
_usi_room_new_preshared (UsiSession       *session,
                         UsiRelayLink     *link,
                         const char       *name,
                         const guint8     *relay_pin,
                         UsiPresharedRoom *room)
{
  UsiRoom *self = room_new (session, link, USI_ROOM_KIND_PRESHARED, name);

  if (relay_pin != NULL)
    memcpy (self->relay_pin, relay_pin, sizeof self->relay_pin);
  else
    self->relay_unauthenticated = TRUE;
  self->preshared = room;
  memcpy (self->room_id, usi_preshared_room_get_room_id (room), sizeof self->room_id);
  update_members (self);

  return self;
}

UsiRoom *
_usi_room_restore (UsiSession     *session,
                   UsiRoomRecord  *record,
                   GArray         *history,
                   GError        **error)
{
  g_autoptr(UsiRoom) self = NULL;
  UsiIdentity *identity = _usi_session_get_identity (session);
  UsiRelayLink *link;
  gsize length;
  const guint8 *data;

  link = _usi_session_get_link (session, record->connect_address, record->pinned ? record->pin : NULL);
  self = room_new (session, link,
                   record->kind == USI_ROOM_RECORD_PRESHARED ? USI_ROOM_KIND_PRESHARED : USI_ROOM_KIND_OWNED,
                   record->name);
  self->restored = TRUE;
  self->restored_position = record->position;
  memcpy (self->relay_pin, record->pin, sizeof self->relay_pin);
  self->relay_unauthenticated = record->relay_unauthenticated;
  data = g_bytes_get_data (record->state, &length);

  switch (record->kind)
    {
    case USI_ROOM_RECORD_OWNER:
      self->is_owner = TRUE;
      self->owner_group = usi_owner_group_restore (identity, data, length, error);
      if (self->owner_group == NULL)
        return NULL;
      data = g_bytes_get_data (record->invite_book, &length);
      self->invite_book = usi_invite_book_restore (data, length, error);
      if (self->invite_book == NULL)
        return NULL;
      self->own_leaf = record->own_leaf;
      self->has_password = record->has_password;
      memcpy (self->password_key, record->password_secret, sizeof self->password_key);
      self->invite_address = g_strdup (record->invite_address);
      memcpy (self->room_id, usi_owner_group_get_room_id (self->owner_group), sizeof self->room_id);
      data = g_bytes_get_data (record->channel, &length);
      self->channel = usi_message_channel_restore (data, length,
                                                   usi_owner_group_get_epoch (self->owner_group),
                                                   usi_owner_group_get_previous_epoch (self->owner_group),
                                                   error);
      break;
    case USI_ROOM_RECORD_MEMBER:
      self->member_group = usi_member_group_restore (identity, data, length, error);
      if (self->member_group == NULL)
        return NULL;
      self->has_password = record->has_password;
      memcpy (self->password_psk, record->password_secret, sizeof self->password_psk);
      memcpy (self->room_id, usi_member_group_get_room_id (self->member_group), sizeof self->room_id);
      data = g_bytes_get_data (record->channel, &length);
      self->channel = usi_message_channel_restore (data, length,
                                                   usi_member_group_get_epoch (self->member_group),
                                                   usi_member_group_get_previous_epoch (self->member_group),
                                                   error);
      break;
    case USI_ROOM_RECORD_PRESHARED:
    default:
      self->preshared = usi_preshared_room_restore (data, length, error);
      if (self->preshared == NULL)
        return NULL;
      memcpy (self->room_id, usi_preshared_room_get_room_id (self->preshared), sizeof self->room_id);
      break;
    }
  if (self->preshared == NULL && self->channel == NULL)
    return NULL;

  /* What was sent but not acknowledged goes out again; a message still
   * "sending" that is not among it never reached the relay. */
  for (guint i = 0; i < record->outbox->len; i++)
    {
      UsiRoomOutboxEntry *entry = g_ptr_array_index (record->outbox, i);
      UsiRoomOutboxEntry *copy = g_new0 (UsiRoomOutboxEntry, 1);

      *copy = *entry;
      copy->frame = g_bytes_ref (entry->frame);
      g_ptr_array_add (self->outbox, copy);
    }
  for (guint i = 0; history != NULL && i < history->len; i++)
    {
      const UsiRoomHistoryEntry *entry = &g_array_index (history, UsiRoomHistoryEntry, i);
      g_autoptr(UsiMessage) message = NULL;
      UsiMessageState state = entry->state;

      if (state == USI_MESSAGE_SENDING)
        {
          gboolean waiting = FALSE;

          for (guint j = 0; j < self->outbox->len && !waiting; j++)
            waiting = ((UsiRoomOutboxEntry *) g_ptr_array_index (self->outbox, j))->message_index == i;
          if (!waiting)
            state = USI_MESSAGE_FAILED;
        }
      message = _usi_message_new (entry->sender_index, entry->sender_name, entry->sender_key, entry->text,
                                  entry->sent_ms, entry->received_ms, entry->epoch, entry->seq,
                                  entry->is_own, entry->gap_before, state);
      g_list_store_append (self->messages, message);
    }
  self->history_clean = history != NULL ? history->len : 0;

  if (self->member_group != NULL && usi_member_group_is_removed (self->member_group))
    {
      g_autoptr(GError) removed = g_error_new_literal (USI_SESSION_ERROR, USI_SESSION_ERROR_REMOVED,
                                                       _("The owner removed you from this room. You cannot read what is said from now on."));
      self->error = g_error_copy (removed);
      self->state = USI_ROOM_REMOVED;
    }
  else
    self->state = usi_relay_link_get_state (link) == USI_RELAY_LINK_CONNECTED ? USI_ROOM_JOINED
                                                                              : USI_ROOM_RECONNECTING;
  set_epoch_from_state (self);
  update_members (self);

  return g_steal_pointer (&self);
}

void
_usi_room_resume (UsiRoom *self)
{
  g_autoptr(GPtrArray) waiting = NULL;

  g_return_if_fail (USI_IS_ROOM (self));

  if (self->link == NULL || self->state == USI_ROOM_REMOVED)
    return;

  usi_relay_link_subscribe (self->link, self->room_id, self->restored_position);

  waiting = g_steal_pointer (&self->outbox);
  self->outbox = g_ptr_array_new_with_free_func ((GDestroyNotify) usi_room_outbox_entry_free);
  for (guint i = 0; i < waiting->len; i++)
    {
      UsiRoomOutboxEntry *entry = g_ptr_array_index (waiting, i);
      g_autoptr(UsiMessage) message = NULL;

      if (entry->message_index != G_MAXUINT32 &&
          entry->message_index < g_list_model_get_n_items (G_LIST_MODEL (self->messages)))
        message = g_list_model_get_item (G_LIST_MODEL (self->messages), entry->message_index);
      post_tracked (self, entry->frame, entry->has_recipient ? entry->recipient : NULL,
                    message, entry->message_index, FALSE, NULL);
    }
}

gboolean
_usi_room_matches_host (UsiRoom    *self,
                        const char *name,
                        const char *invite_address)
{
  g_return_val_if_fail (USI_IS_ROOM (self), FALSE);

  return self->owner_group != NULL &&
         g_strcmp0 (self->name, name != NULL ? name : _("Room")) == 0 &&
         g_strcmp0 (self->invite_address, invite_address) == 0;
}

gboolean
usi_room_get_restored (UsiRoom *self)
{
  g_return_val_if_fail (USI_IS_ROOM (self), FALSE);

  return self->restored;
}

UsiRelayLink *
_usi_room_get_link (UsiRoom *self)
{
  g_return_val_if_fail (USI_IS_ROOM (self), NULL);

  return self->link;
}

void
_usi_room_detach (UsiRoom *self)
{
  g_return_if_fail (USI_IS_ROOM (self));

  if (self->save_source != 0)
    save_now (self);
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  if (self->start_task != NULL)
    {
      g_autoptr(GTask) task = g_steal_pointer (&self->start_task);

      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_CANCELLED, _("The room was closed."));
    }
  if (self->link != NULL)
    {
      usi_relay_link_unsubscribe (self->link, self->room_id);
      g_clear_object (&self->link);
    }
  if (self->session != NULL)
    {
      g_object_remove_weak_pointer (G_OBJECT (self->session), (gpointer *) &self->session);
      self->session = NULL;
    }
}

void
usi_room_close (UsiRoom *self)
{
  g_return_if_fail (USI_IS_ROOM (self));

  _usi_room_detach (self);
}

/* Public API ------------------------------------------------------------------ */

char *
usi_room_dup_id_hex (UsiRoom *self)
{
  GString *hex = g_string_sized_new (2 * sizeof self->room_id);

  g_return_val_if_fail (USI_IS_ROOM (self), NULL);

  for (gsize i = 0; i < sizeof self->room_id; i++)
    g_string_append_printf (hex, "%02x", self->room_id[i]);

  return g_string_free (hex, FALSE);
}

const guint8 *
usi_room_get_id (UsiRoom *self)
{
  g_return_val_if_fail (USI_IS_ROOM (self), NULL);
  return self->room_id;
}

const char *
usi_room_get_name (UsiRoom *self)
{
  g_return_val_if_fail (USI_IS_ROOM (self), NULL);
  return self->name;
}

UsiRoomKind
usi_room_get_kind (UsiRoom *self)
{
  g_return_val_if_fail (USI_IS_ROOM (self), USI_ROOM_KIND_OWNED);
  return self->kind;
}

gboolean
usi_room_get_is_owner (UsiRoom *self)
{
  g_return_val_if_fail (USI_IS_ROOM (self), FALSE);
  return self->is_owner;
}

UsiRoomState
usi_room_get_state (UsiRoom *self)
{
  g_return_val_if_fail (USI_IS_ROOM (self), USI_ROOM_FAILED);
  return self->state;
}

const GError *
usi_room_get_error (UsiRoom *self)
{
  g_return_val_if_fail (USI_IS_ROOM (self), NULL);
  return self->error;
}

guint64
usi_room_get_epoch (UsiRoom *self)
{
  g_return_val_if_fail (USI_IS_ROOM (self), 0);
  return self->epoch;
}

static const UsiRoomConfig *
current_config (UsiRoom *self)
{
  if (self->owner_group != NULL)
    return usi_owner_group_get_config (self->owner_group);
  if (self->member_group != NULL)
    return &usi_member_group_get_group_info (self->member_group)->config;
  return NULL;
}

guint
usi_room_get_rotate_after (UsiRoom *self)
{
  const UsiRoomConfig *config;

  g_return_val_if_fail (USI_IS_ROOM (self), 0);

  config = current_config (self);
  return config != NULL ? config->rotate_after_messages : 0;
}

gboolean
usi_room_get_password_required (UsiRoom *self)
{
  g_return_val_if_fail (USI_IS_ROOM (self), FALSE);
  return self->has_password;
}

const char *
usi_room_get_relay_address (UsiRoom *self)
{
  g_return_val_if_fail (USI_IS_ROOM (self), NULL);

  if (self->invite != NULL)
    return usi_invite_get_relay_address (self->invite);
  if (self->invite_address != NULL)
    return self->invite_address;
  return self->link != NULL ? usi_relay_link_get_address (self->link) : NULL;
}

char *
usi_room_dup_epoch_authenticator (UsiRoom *self)
{
  UsiEpoch *epoch;
  const UsiMlsEpochSecrets *secrets;
  GString *hex;

  g_return_val_if_fail (USI_IS_ROOM (self), NULL);

  epoch = current_epoch (self);
  if (epoch == NULL)
    return NULL;

  secrets = usi_epoch_get_secrets (epoch);
  hex = g_string_new (NULL);
  for (gsize i = 0; i < sizeof secrets->epoch_authenticator; i++)
    g_string_append_printf (hex, "%02x", secrets->epoch_authenticator[i]);
  return g_string_free (hex, FALSE);
}

GListModel *
usi_room_get_members (UsiRoom *self)
{
  g_return_val_if_fail (USI_IS_ROOM (self), NULL);
  return G_LIST_MODEL (self->members);
}

GListModel *
usi_room_get_messages (UsiRoom *self)
{
  g_return_val_if_fail (USI_IS_ROOM (self), NULL);
  return G_LIST_MODEL (self->messages);
}

UsiMember *
usi_room_lookup_member (UsiRoom    *self,
                        const char *name)
{
  guint n;

  g_return_val_if_fail (USI_IS_ROOM (self), NULL);
  g_return_val_if_fail (name != NULL, NULL);

  n = g_list_model_get_n_items (G_LIST_MODEL (self->members));
  for (guint i = 0; i < n; i++)
    {
      g_autoptr(UsiMember) member = g_list_model_get_item (G_LIST_MODEL (self->members), i);

      if (g_strcmp0 (usi_member_get_name (member), name) == 0)
        return member;   /* the store keeps it alive */
    }

  return NULL;
}

static gboolean
check_can_act (UsiRoom  *self,
               GError  **error)
{
  if (self->session == NULL || self->link == NULL)
    {
      g_set_error_literal (error, USI_SESSION_ERROR, USI_SESSION_ERROR_NOT_JOINED, _("The room is closed."));
      return FALSE;
    }
  if (self->state == USI_ROOM_REMOVED)
    {
      g_set_error_literal (error, USI_SESSION_ERROR, USI_SESSION_ERROR_REMOVED,
                           _("The owner removed you from this room."));
      return FALSE;
    }
  if (self->state != USI_ROOM_JOINED && self->state != USI_ROOM_RECONNECTING)
    {
      g_set_error_literal (error, USI_SESSION_ERROR, USI_SESSION_ERROR_NOT_JOINED,
                           _("You are not in this room yet."));
      return FALSE;
    }
  return TRUE;
}

static gboolean
check_owner (UsiRoom  *self,
             GError  **error)
{
  if (!check_can_act (self, error))
    return FALSE;
  if (self->kind == USI_ROOM_KIND_PRESHARED)
    {
      g_set_error_literal (error, USI_SESSION_ERROR, USI_SESSION_ERROR_NOT_SUPPORTED,
                           _("A pre-shared key room has no owner: nobody can invite, remove or rotate."));
      return FALSE;
    }
  if (self->owner_group == NULL)
    {
      g_set_error_literal (error, USI_SESSION_ERROR, USI_SESSION_ERROR_NOT_OWNER,
                           _("Only the room's owner can do this."));
      return FALSE;
    }
  return TRUE;
}

void
usi_room_send_text_async (UsiRoom             *self,
                          const char          *text,
                          GCancellable        *cancellable,
                          GAsyncReadyCallback  callback,
                          gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GBytes) frame = NULL;
  g_autoptr(UsiMessage) message = NULL;
  UsiIdentity *identity;
  UsiEpoch *epoch;
  guint64 sent_ms = now_ms ();
  gsize length;

  g_return_if_fail (USI_IS_ROOM (self));
  g_return_if_fail (text != NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, usi_room_send_text_async);

  if (!check_can_act (self, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  length = strlen (text);
  if (length == 0 || !g_utf8_validate (text, -1, NULL))
    {
      g_task_return_new_error (task, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                               _("A message must be non-empty UTF-8 text."));
      return;
    }

  if (self->kind == USI_ROOM_KIND_OWNED &&
      !usi_trust_check_can_send (_usi_session_get_trust (self->session), self->room_id,
                                 current_roster (self), &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  identity = _usi_session_get_identity (self->session);
  if (self->preshared != NULL)
    body = usi_preshared_room_seal (self->preshared, identity, USI_CONTENT_TYPE_TEXT,
                                    (const guint8 *) text, length, sent_ms,
                                    _usi_session_get_random (self->session), &error);
  else
    body = usi_message_channel_seal (self->channel, identity, USI_CONTENT_TYPE_TEXT,
                                     (const guint8 *) text, length, sent_ms,
                                     _usi_session_get_random (self->session), &error);
  if (body == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  frame = encode_frame (USI_FRAME_APP_MESSAGE, body);
  epoch = current_epoch (self);
  message = _usi_message_new (own_index (self), usi_session_get_display_name (self->session),
                              usi_identity_get_public_key (identity), text,
                              (gint64) sent_ms, (gint64) sent_ms,
                              epoch != NULL ? usi_epoch_get_number (epoch) : 0, 0,
                              TRUE, FALSE, USI_MESSAGE_SENDING);
  g_list_store_append (self->messages, message);

  if (self->owner_group != NULL)
    usi_owner_group_note_message (self->owner_group, usi_epoch_get_number (epoch), USI_OWNER_INDEX);
  else if (self->member_group != NULL)
    usi_member_group_note_message (self->member_group, usi_epoch_get_number (epoch), own_index (self));

  /* Saved before it leaves: the ratchet that sealed it has moved on. */
  post_tracked (self, frame, NULL, message,
                g_list_model_get_n_items (G_LIST_MODEL (self->messages)) - 1, TRUE, task);
  rotate_if_due (self);
}

gboolean
usi_room_send_text_finish (UsiRoom       *self,
                           GAsyncResult  *result,
                           GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
invite_registered (GObject      *source,
                   GAsyncResult *result,
                   gpointer      user_data)
{
  g_autoptr(GTask) task = user_data;
  g_autoptr(GError) error = NULL;
  UsiInvite *invite = g_task_get_task_data (task);

  if (!usi_relay_link_request_finish (USI_RELAY_LINK (source), result, NULL, NULL, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  g_task_return_pointer (task, usi_invite_to_uri (invite), g_free);
}

void
usi_room_create_invite_async (UsiRoom             *self,
                              guint64              valid_for_ms,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  UsiInvite *invite;
  guint64 expires_ms;

  g_return_if_fail (USI_IS_ROOM (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, usi_room_create_invite_async);

  if (!check_owner (self, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  expires_ms = now_ms () + (valid_for_ms != 0 ? valid_for_ms : DEFAULT_INVITE_VALIDITY_MS);
  invite = usi_invite_new (_usi_session_get_random (self->session),
                           self->has_password ? USI_INVITE_FLAGS_PASSWORD_REQUIRED : USI_INVITE_FLAGS_NONE,
                           self->invite_address, self->relay_pin, self->room_id,
                           &self->own_leaf.node, expires_ms, &error);
  if (invite == NULL || !usi_invite_book_add (self->invite_book, invite, &error))
    {
      g_clear_pointer (&invite, usi_invite_free);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  g_task_set_task_data (task, invite, (GDestroyNotify) usi_invite_free);
  save_now (self);   /* the book must know the invite after a restart */
  usi_relay_link_register_invite_async (self->link, self->room_id, usi_invite_get_id (invite), expires_ms,
                                        cancellable, invite_registered, g_steal_pointer (&task));
}

char *
usi_room_create_invite_finish (UsiRoom       *self,
                               GAsyncResult  *result,
                               GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), NULL);

  return g_task_propagate_pointer (G_TASK (result), error);
}

void
usi_room_remove_member_async (UsiRoom             *self,
                              UsiMember           *member,
                              GCancellable        *cancellable,
                              GAsyncReadyCallback  callback,
                              gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) commit = NULL;

  g_return_if_fail (USI_IS_ROOM (self));
  g_return_if_fail (USI_IS_MEMBER (member));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, usi_room_remove_member_async);

  if (!check_owner (self, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (usi_member_get_is_self (member))
    {
      g_task_return_new_error (task, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_ALLOWED,
                               _("The owner cannot remove themself from the room."));
      return;
    }

  if (!usi_owner_group_remove_member (self->owner_group, usi_member_get_index (member),
                                      _usi_session_get_random (self->session), &commit, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  publish_commit (self, commit, USI_COMMIT_REASON_REMOVE, task);
}

void
usi_room_rotate_async (UsiRoom             *self,
                       GCancellable        *cancellable,
                       GAsyncReadyCallback  callback,
                       gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) commit = NULL;

  g_return_if_fail (USI_IS_ROOM (self));

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, usi_room_rotate_async);

  if (!check_owner (self, &error) ||
      !usi_owner_group_rotate (self->owner_group, _usi_session_get_random (self->session), &commit, &error))
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }

  publish_commit (self, commit, USI_COMMIT_REASON_ROTATE, task);
}

gboolean
usi_room_commit_finish (UsiRoom       *self,
                        GAsyncResult  *result,
                        GError       **error)
{
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

static void
refresh_verification (UsiRoom *self)
{
  GPtrArray *roster = current_roster (self);
  guint n = g_list_model_get_n_items (G_LIST_MODEL (self->members));

  if (roster == NULL)
    return;

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(UsiMember) member = g_list_model_get_item (G_LIST_MODEL (self->members), i);

      for (guint j = 0; j < roster->len; j++)
        {
          const UsiRosterEntry *entry = g_ptr_array_index (roster, j);

          if (entry->index == usi_member_get_index (member))
            _usi_member_set_verification (member, verification_of (self, entry));
        }
    }
}

static gboolean
check_verifiable (UsiRoom    *self,
                  UsiMember  *member,
                  GError    **error)
{
  if (self->session == NULL)
    {
      g_set_error_literal (error, USI_SESSION_ERROR, USI_SESSION_ERROR_NOT_JOINED, _("The room is closed."));
      return FALSE;
    }
  if (usi_member_get_is_self (member))
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_ALLOWED,
                           _("You cannot verify yourself."));
      return FALSE;
    }
  return TRUE;
}

typedef void (*TrustRecordFunc) (UsiTrust     *trust,
                                 const guint8 *room_id,
                                 const char   *display_name,
                                 const guint8 *identity_key);

/* Records a verification or an accepted key, saves it, and updates the
 * members' states. */
static gboolean
record_trust (UsiRoom          *self,
              UsiMember        *member,
              TrustRecordFunc   record,
              GError          **error)
{
  if (!check_verifiable (self, member, error))
    return FALSE;

  record (_usi_session_get_trust (self->session), self->room_id,
          usi_member_get_name (member), usi_member_get_identity_key (member));
  _usi_session_save_trust (self->session);
  refresh_verification (self);
  return TRUE;
}

gboolean
usi_room_verify_member (UsiRoom    *self,
                        UsiMember  *member,
                        GError    **error)
{
  g_return_val_if_fail (USI_IS_ROOM (self), FALSE);
  g_return_val_if_fail (USI_IS_MEMBER (member), FALSE);

  return record_trust (self, member, usi_trust_mark_verified, error);
}

gboolean
usi_room_accept_key_change (UsiRoom    *self,
                            UsiMember  *member,
                            GError    **error)
{
  g_return_val_if_fail (USI_IS_ROOM (self), FALSE);
  g_return_val_if_fail (USI_IS_MEMBER (member), FALSE);

  return record_trust (self, member, usi_trust_accept_key, error);
}
