/* SPDX-License-Identifier: GPL-3.0-or-later */

/* One member of a room as this person sees it.  Immutable but for its
 * verification state; a member whose name or key changes is a new object
 * (the room replaces it), so a verified key can never silently become
 * another. */

#define G_LOG_DOMAIN "usi-session"

#include "config.h"

#include <string.h>

#include "usi-member-private.h"
#include "usi-session-private.h"

struct _UsiMember
{
  GObject                parent_instance;

  guint                  index;
  char                  *name;
  guint8                 identity_key[32];
  gboolean               is_owner;
  gboolean               is_self;
  UsiSession            *session;         /* weak: computes the safety number on demand */
  char                  *safety_number;
  char                  *emoji;
  UsiMemberVerification  verification;
};

enum {
  PROP_0,
  PROP_NAME,
  PROP_INDEX,
  PROP_IS_OWNER,
  PROP_IS_SELF,
  PROP_SAFETY_NUMBER,
  PROP_EMOJI,
  PROP_VERIFICATION,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (UsiMember, usi_member, G_TYPE_OBJECT)

static void
usi_member_dispose (GObject *object)
{
  UsiMember *self = USI_MEMBER (object);

  if (self->session != NULL)
    {
      g_object_remove_weak_pointer (G_OBJECT (self->session), (gpointer *) &self->session);
      self->session = NULL;
    }

  G_OBJECT_CLASS (usi_member_parent_class)->dispose (object);
}

/* Oneself has none; others' are computed once and kept. */
static void
ensure_safety_number (UsiMember *self)
{
  const char *number = "";
  const char *emoji = "";

  if (self->safety_number != NULL)
    return;

  if (!self->is_self && self->session != NULL)
    _usi_session_get_safety_number (self->session, self->identity_key, &number, &emoji);
  self->safety_number = g_strdup (number);
  self->emoji = g_strdup (emoji);
}

static void
usi_member_finalize (GObject *object)
{
  UsiMember *self = USI_MEMBER (object);

  g_free (self->name);
  g_free (self->safety_number);
  g_free (self->emoji);

  G_OBJECT_CLASS (usi_member_parent_class)->finalize (object);
}

static void
usi_member_get_property (GObject    *object,
                         guint       prop_id,
                         GValue     *value,
                         GParamSpec *pspec)
{
  UsiMember *self = USI_MEMBER (object);

  switch (prop_id)
    {
    case PROP_NAME:
      g_value_set_string (value, self->name);
      break;
    case PROP_INDEX:
      g_value_set_uint (value, self->index);
      break;
    case PROP_IS_OWNER:
      g_value_set_boolean (value, self->is_owner);
      break;
    case PROP_IS_SELF:
      g_value_set_boolean (value, self->is_self);
      break;
    case PROP_SAFETY_NUMBER:
      g_value_set_string (value, usi_member_get_safety_number (self));
      break;
    case PROP_EMOJI:
      g_value_set_string (value, usi_member_get_emoji (self));
      break;
    case PROP_VERIFICATION:
      g_value_set_uint (value, self->verification);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
usi_member_class_init (UsiMemberClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = usi_member_dispose;
  object_class->finalize = usi_member_finalize;
  object_class->get_property = usi_member_get_property;

  properties[PROP_NAME] =
    g_param_spec_string ("name", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_INDEX] =
    g_param_spec_uint ("index", NULL, NULL, 0, G_MAXUINT, 0,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_IS_OWNER] =
    g_param_spec_boolean ("is-owner", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_IS_SELF] =
    g_param_spec_boolean ("is-self", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_SAFETY_NUMBER] =
    g_param_spec_string ("safety-number", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_EMOJI] =
    g_param_spec_string ("emoji", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);
  properties[PROP_VERIFICATION] =
    g_param_spec_uint ("verification", NULL, NULL, USI_MEMBER_UNVERIFIED, USI_MEMBER_KEY_CHANGED,
                       USI_MEMBER_UNVERIFIED,
                       G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
usi_member_init (UsiMember *self)
{
}

UsiMember *
_usi_member_new (guint         index,
                 const char   *name,
                 const guint8 *identity_key,
                 gboolean      is_owner,
                 gboolean      is_self,
                 UsiSession   *session)
{
  UsiMember *self = g_object_new (USI_TYPE_MEMBER, NULL);

  self->index = index;
  self->name = g_strdup (name);
  memcpy (self->identity_key, identity_key, sizeof self->identity_key);
  self->is_owner = is_owner;
  self->is_self = is_self;
  self->session = session;
  if (session != NULL)
    g_object_add_weak_pointer (G_OBJECT (session), (gpointer *) &self->session);

  return self;
}

void
_usi_member_set_verification (UsiMember             *self,
                              UsiMemberVerification  verification)
{
  g_return_if_fail (USI_IS_MEMBER (self));

  if (self->verification == verification)
    return;

  self->verification = verification;
  g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_VERIFICATION]);
}

const char *
usi_member_get_name (UsiMember *self)
{
  g_return_val_if_fail (USI_IS_MEMBER (self), NULL);
  return self->name;
}

guint
usi_member_get_index (UsiMember *self)
{
  g_return_val_if_fail (USI_IS_MEMBER (self), 0);
  return self->index;
}

const guint8 *
usi_member_get_identity_key (UsiMember *self)
{
  g_return_val_if_fail (USI_IS_MEMBER (self), NULL);
  return self->identity_key;
}

gboolean
usi_member_get_is_owner (UsiMember *self)
{
  g_return_val_if_fail (USI_IS_MEMBER (self), FALSE);
  return self->is_owner;
}

gboolean
usi_member_get_is_self (UsiMember *self)
{
  g_return_val_if_fail (USI_IS_MEMBER (self), FALSE);
  return self->is_self;
}

const char *
usi_member_get_safety_number (UsiMember *self)
{
  g_return_val_if_fail (USI_IS_MEMBER (self), NULL);
  ensure_safety_number (self);
  return self->safety_number;
}

const char *
usi_member_get_emoji (UsiMember *self)
{
  g_return_val_if_fail (USI_IS_MEMBER (self), NULL);
  ensure_safety_number (self);
  return self->emoji;
}

UsiMemberVerification
usi_member_get_verification (UsiMember *self)
{
  g_return_val_if_fail (USI_IS_MEMBER (self), USI_MEMBER_UNVERIFIED);
  return self->verification;
}
