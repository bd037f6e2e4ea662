/* SPDX-License-Identifier: GPL-3.0-or-later */

/* What this person verified, and the rule built on it: a verified member
 * who shows up with another identity key blocks sending until the person
 * verifies again or accepts the new key.  Must never let a change pass
 * silently.  No I/O: the store saves what usi_trust_foreach() lists. */

#define G_LOG_DOMAIN "usi-protocol"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "usi-protocol-error.h"
#include "usi-trust.h"

typedef struct
{
  guint8    room_id[USI_ROOM_ID_LENGTH];
  char     *display_name;   /* as given, for the store */
  guint8    identity_key[USI_KEY_LENGTH];
  gboolean  verified;
} TrustRecord;

struct _UsiTrust
{
  GHashTable *records;  /* slot key → TrustRecord */
};

static void
trust_record_free (TrustRecord *record)
{
  g_free (record->display_name);
  g_free (record);
}

UsiTrust *
usi_trust_new (void)
{
  UsiTrust *trust = g_new0 (UsiTrust, 1);

  trust->records = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                          (GDestroyNotify) trust_record_free);
  return trust;
}

void
usi_trust_free (UsiTrust *trust)
{
  if (trust == NULL)
    return;

  g_clear_pointer (&trust->records, g_hash_table_unref);
  g_free (trust);
}

/* room id in hex, a space, then the name compatibility-composed and case
 * folded, so "ALICE" and "Ａｌｉｃｅ" land on Alice's slot. */
static char *
slot_key (const guint8 *room_id,
          const char   *display_name)
{
  g_autofree char *room_hex = g_malloc (USI_ROOM_ID_LENGTH * 2 + 1);
  g_autofree char *composed = g_utf8_normalize (display_name, -1, G_NORMALIZE_NFKC);
  g_autofree char *folded = NULL;

  for (guint i = 0; i < USI_ROOM_ID_LENGTH; i++)
    g_snprintf (room_hex + 2 * i, 3, "%02x", room_id[i]);
  folded = g_utf8_casefold (composed != NULL ? composed : "", -1);

  return g_strconcat (room_hex, " ", folded, NULL);
}

static void
set_record (UsiTrust      *trust,
            const guint8  *room_id,
            const char    *display_name,
            const guint8  *identity_key,
            gboolean       verified)
{
  TrustRecord *record = g_new0 (TrustRecord, 1);

  memcpy (record->room_id, room_id, USI_ROOM_ID_LENGTH);
  record->display_name = g_strdup (display_name);
  memcpy (record->identity_key, identity_key, USI_KEY_LENGTH);
  record->verified = verified;
  g_hash_table_replace (trust->records, slot_key (room_id, display_name), record);
}

void
usi_trust_mark_verified (UsiTrust     *trust,
                         const guint8 *room_id,
                         const char   *display_name,
                         const guint8 *identity_key)
{
  g_return_if_fail (trust != NULL);
  g_return_if_fail (room_id != NULL);
  g_return_if_fail (display_name != NULL && g_utf8_validate (display_name, -1, NULL));
  g_return_if_fail (identity_key != NULL);

  set_record (trust, room_id, display_name, identity_key, TRUE);
}

void
usi_trust_accept_key (UsiTrust     *trust,
                      const guint8 *room_id,
                      const char   *display_name,
                      const guint8 *identity_key)
{
  g_return_if_fail (trust != NULL);
  g_return_if_fail (room_id != NULL);
  g_return_if_fail (display_name != NULL && g_utf8_validate (display_name, -1, NULL));
  g_return_if_fail (identity_key != NULL);

  set_record (trust, room_id, display_name, identity_key, FALSE);
}

UsiTrustState
usi_trust_get_state (UsiTrust     *trust,
                     const guint8 *room_id,
                     const char   *display_name,
                     const guint8 *identity_key)
{
  g_autofree char *key = NULL;
  const TrustRecord *record;

  g_return_val_if_fail (trust != NULL, USI_TRUST_CHANGED);
  g_return_val_if_fail (room_id != NULL, USI_TRUST_CHANGED);
  g_return_val_if_fail (display_name != NULL && g_utf8_validate (display_name, -1, NULL), USI_TRUST_CHANGED);
  g_return_val_if_fail (identity_key != NULL, USI_TRUST_CHANGED);

  key = slot_key (room_id, display_name);
  record = g_hash_table_lookup (trust->records, key);
  if (record == NULL || !record->verified)
    return USI_TRUST_UNVERIFIED;

  return memcmp (record->identity_key, identity_key, USI_KEY_LENGTH) == 0
         ? USI_TRUST_VERIFIED : USI_TRUST_CHANGED;
}

gboolean
usi_trust_check_member (UsiTrust              *trust,
                        const guint8          *room_id,
                        const UsiRosterEntry  *entry,
                        GError               **error)
{
  g_return_val_if_fail (trust != NULL, FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);
  g_return_val_if_fail (entry != NULL, FALSE);

  if (usi_trust_get_state (trust, room_id, entry->display_name, entry->leaf.identity_key) != USI_TRUST_CHANGED)
    return TRUE;

  /* Translators: %s is a member's display name */
  g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_KEY_CHANGED,
               _("The identity key of %s is not the one you verified. Compare safety numbers again, or accept the new key, before sending."),
               entry->display_name);
  return FALSE;
}

gboolean
usi_trust_check_can_send (UsiTrust      *trust,
                          const guint8  *room_id,
                          GPtrArray     *roster,
                          GError       **error)
{
  g_return_val_if_fail (trust != NULL, FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);
  g_return_val_if_fail (roster != NULL, FALSE);

  for (guint i = 0; i < roster->len; i++)
    if (!usi_trust_check_member (trust, room_id, g_ptr_array_index (roster, i), error))
      return FALSE;

  return TRUE;
}

void
usi_trust_foreach (UsiTrust     *trust,
                   UsiTrustFunc  func,
                   gpointer      user_data)
{
  GHashTableIter iter;
  gpointer value;

  g_return_if_fail (trust != NULL);
  g_return_if_fail (func != NULL);

  g_hash_table_iter_init (&iter, trust->records);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      const TrustRecord *record = value;

      func (record->room_id, record->display_name, record->identity_key, record->verified, user_data);
    }
}
