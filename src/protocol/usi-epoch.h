/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "crypto/usi-mls-key-schedule.h"
#include "crypto/usi-mls-secret-tree.h"

#include "usi-identity.h"

G_BEGIN_DECLS

/* One member of an epoch's roster. */
typedef struct
{
  guint32      index;         /* the member's leaf in the secret tree */
  UsiLeafNode  leaf;          /* identity key, leaf key, signed */
  char        *display_name;  /* already checked by usi_display_name_normalize() */
} UsiRosterEntry;

UsiRosterEntry *usi_roster_entry_new  (guint32            index,
                                       const UsiLeafNode *leaf,
                                       const char        *display_name);
UsiRosterEntry *usi_roster_entry_copy (const UsiRosterEntry *entry);
void            usi_roster_entry_free (UsiRosterEntry    *entry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiRosterEntry, usi_roster_entry_free)

typedef enum
{
  USI_ROOM_MODE_OWNED,        /* an owner signs commits; removal and rotation work */
  USI_ROOM_MODE_PRESHARED,    /* a pre-shared key derives one fixed epoch (USI's --cle) */
} UsiRoomMode;

/* The keys and roster of one epoch of one room, as every member derives it.
 * Built by the commit/welcome code (or from a pre-shared key); used by
 * message protection and file transfer.  Reference counted, immutable but
 * for its secret tree, whose ratchets advance as messages are sealed and
 * opened.  Freed secrets are wiped. */
typedef struct _UsiEpoch UsiEpoch;

/* Takes a copy of @secrets and of each entry of @roster (UsiRosterEntry,
 * sorted by index, indices unique).  @own_index is this member's index, or
 * G_MAXUINT32 for an observer that holds no leaf (never used in the product). */
UsiEpoch             *usi_epoch_new                 (UsiRoomMode               mode,
                                                     const guint8             *room_id,
                                                     guint64                   number,
                                                     GBytes                   *group_context,
                                                     const UsiMlsEpochSecrets *secrets,
                                                     GPtrArray                *roster,
                                                     guint32                   owner_index,
                                                     guint32                   own_index,
                                                     guint32                   max_forward_jump,
                                                     GError                  **error);
UsiEpoch             *usi_epoch_ref                 (UsiEpoch                 *epoch);
void                  usi_epoch_unref               (UsiEpoch                 *epoch);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiEpoch, usi_epoch_unref)

UsiRoomMode           usi_epoch_get_mode            (UsiEpoch                 *epoch);
const guint8         *usi_epoch_get_room_id         (UsiEpoch                 *epoch);
guint64               usi_epoch_get_number          (UsiEpoch                 *epoch);
/* The serialized RFC 9420 GroupContext of this epoch. */
GBytes               *usi_epoch_get_group_context   (UsiEpoch                 *epoch);
const UsiMlsEpochSecrets *usi_epoch_get_secrets     (UsiEpoch                 *epoch);
UsiMlsSecretTree     *usi_epoch_get_secret_tree     (UsiEpoch                 *epoch);
guint32               usi_epoch_get_owner_index     (UsiEpoch                 *epoch);
guint32               usi_epoch_get_own_index       (UsiEpoch                 *epoch);
/* Entries sorted by index; do not modify. */
GPtrArray            *usi_epoch_get_roster          (UsiEpoch                 *epoch);
/* NULL when no member has that index in this epoch. */
const UsiRosterEntry *usi_epoch_lookup_member       (UsiEpoch                 *epoch,
                                                     guint32                   index);
/* MLS-Exporter under USI_LABEL_PREFIX. */
gboolean              usi_epoch_export              (UsiEpoch                 *epoch,
                                                     const char               *label,
                                                     const guint8             *context,
                                                     gsize                     context_length,
                                                     guint8                   *out,
                                                     gsize                     out_length,
                                                     GError                  **error);

G_END_DECLS
