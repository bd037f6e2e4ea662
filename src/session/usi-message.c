/* SPDX-License-Identifier: GPL-3.0-or-later */

/* One message of a room's history.  The text is kept exactly as it was
 * authenticated; front ends show it as plain text and never interpret it. */

#define G_LOG_DOMAIN "usi-session"

#include "config.h"

#include <string.h>

#include "usi-message-private.h"

struct _UsiMessage
{
  GObject          parent_instance;

  guint            sender_index;
  char            *sender_name;
  guint8           sender_key[32];
  char            *text;
  gint64           sent_ms;
  gint64           received_ms;
  guint64          epoch;
  guint64          seq;
  gboolean         is_own;
  gboolean         gap_before;
  UsiMessageState  state;
};

enum {
  PROP_0,
  PROP_STATE,
  PROP_SEQ,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (UsiMessage, usi_message, G_TYPE_OBJECT)

static void
usi_message_finalize (GObject *object)
{
  UsiMessage *self = USI_MESSAGE (object);

  g_free (self->sender_name);
  g_free (self->text);

  G_OBJECT_CLASS (usi_message_parent_class)->finalize (object);
}

static void
usi_message_get_property (GObject    *object,
                          guint       prop_id,
                          GValue     *value,
                          GParamSpec *pspec)
{
  UsiMessage *self = USI_MESSAGE (object);

  switch (prop_id)
    {
    case PROP_STATE:
      g_value_set_uint (value, self->state);
      break;
    case PROP_SEQ:
      g_value_set_uint64 (value, self->seq);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
usi_message_class_init (UsiMessageClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = usi_message_finalize;
  object_class->get_property = usi_message_get_property;

  properties[PROP_STATE] =
    g_param_spec_uint ("state", NULL, NULL, USI_MESSAGE_RECEIVED, USI_MESSAGE_FAILED,
                       USI_MESSAGE_RECEIVED,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SEQ] =
    g_param_spec_uint64 ("seq", NULL, NULL, 0, G_MAXUINT64, 0,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
usi_message_init (UsiMessage *self)
{
}

UsiMessage *
_usi_message_new (guint            sender_index,
                  const char      *sender_name,
                  const guint8    *sender_key,
                  const char      *text,
                  gint64           sent_ms,
                  gint64           received_ms,
                  guint64          epoch,
                  guint64          seq,
                  gboolean         is_own,
                  gboolean         gap_before,
                  UsiMessageState  state)
{
  UsiMessage *self = g_object_new (USI_TYPE_MESSAGE, NULL);

  self->sender_index = sender_index;
  self->sender_name = g_strdup (sender_name);
  memcpy (self->sender_key, sender_key, sizeof self->sender_key);
  self->text = g_strdup (text);
  self->sent_ms = sent_ms;
  self->received_ms = received_ms;
  self->epoch = epoch;
  self->seq = seq;
  self->is_own = is_own;
  self->gap_before = gap_before;
  self->state = state;

  return self;
}

void
_usi_message_set_sent (UsiMessage *self,
                       guint64     seq)
{
  g_return_if_fail (USI_IS_MESSAGE (self));

  if (self->seq != seq)
    {
      self->seq = seq;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_SEQ]);
    }
  if (self->state != USI_MESSAGE_SENT)
    {
      self->state = USI_MESSAGE_SENT;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
    }
}

void
_usi_message_set_failed (UsiMessage *self)
{
  g_return_if_fail (USI_IS_MESSAGE (self));

  if (self->state != USI_MESSAGE_FAILED)
    {
      self->state = USI_MESSAGE_FAILED;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
    }
}

const char *
usi_message_get_sender_name (UsiMessage *self)
{
  g_return_val_if_fail (USI_IS_MESSAGE (self), NULL);
  return self->sender_name;
}

guint
usi_message_get_sender_index (UsiMessage *self)
{
  g_return_val_if_fail (USI_IS_MESSAGE (self), 0);
  return self->sender_index;
}

const guint8 *
usi_message_get_sender_key (UsiMessage *self)
{
  g_return_val_if_fail (USI_IS_MESSAGE (self), NULL);
  return self->sender_key;
}

const char *
usi_message_get_text (UsiMessage *self)
{
  g_return_val_if_fail (USI_IS_MESSAGE (self), NULL);
  return self->text;
}

gint64
usi_message_get_sent_ms (UsiMessage *self)
{
  g_return_val_if_fail (USI_IS_MESSAGE (self), 0);
  return self->sent_ms;
}

gint64
usi_message_get_received_ms (UsiMessage *self)
{
  g_return_val_if_fail (USI_IS_MESSAGE (self), 0);
  return self->received_ms;
}

guint64
usi_message_get_epoch (UsiMessage *self)
{
  g_return_val_if_fail (USI_IS_MESSAGE (self), 0);
  return self->epoch;
}

guint64
usi_message_get_seq (UsiMessage *self)
{
  g_return_val_if_fail (USI_IS_MESSAGE (self), 0);
  return self->seq;
}

gboolean
usi_message_get_is_own (UsiMessage *self)
{
  g_return_val_if_fail (USI_IS_MESSAGE (self), FALSE);
  return self->is_own;
}

gboolean
usi_message_get_gap_before (UsiMessage *self)
{
  g_return_val_if_fail (USI_IS_MESSAGE (self), FALSE);
  return self->gap_before;
}

UsiMessageState
usi_message_get_state (UsiMessage *self)
{
  g_return_val_if_fail (USI_IS_MESSAGE (self), USI_MESSAGE_RECEIVED);
  return self->state;
}
