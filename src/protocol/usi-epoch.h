/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "crypto/usi-mls-key-schedule.h"
#include "crypto/usi-mls-secret-tree.h"

#include "usi-identity.h"
#include "usi-wire.h"

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

/* An epoch's whole state (§12): mode, room, number, GroupContext, secrets,
 * secret tree state (usi_mls_secret_tree_save), roster, indices.  Secret
 * bytes (wiped when freed).  Restore: MALFORMED (also for a broken
 * invariant: order, indices, the tree's width), UNSUPPORTED_VERSION, and
 * the roster checks' ROSTER_INVALID, BAD_SIGNATURE, TOO_LARGE. */
GBytes               *usi_epoch_save                (UsiEpoch                 *epoch);
UsiEpoch             *usi_epoch_restore             (const guint8             *data,
                                                     gsize                     length,
                                                     GError                  **error);

/* Internal to the §12 state records (usi-epoch.c and the files that save a
 * room's state): each record opens with u8 kind ‖ u8 version, and its bytes
 * hold secrets. */
typedef enum
{
  /* 1 is the secret tree's (crypto/usi-mls-secret-tree.c) */
  USI_STATE_KIND_EPOCH           = 2,
  USI_STATE_KIND_MESSAGE_CHANNEL = 3,
  USI_STATE_KIND_PRESHARED_ROOM  = 4,
  USI_STATE_KIND_OWNER_GROUP     = 5,
  USI_STATE_KIND_MEMBER_GROUP    = 6,
  USI_STATE_KIND_INVITE_BOOK     = 7,
} UsiStateKind;

#define USI_STATE_VERSION            1
/* The largest record nested in another (a V<…> length's limit is 2^30 - 1). */
#define USI_STATE_MAX_NESTED_LENGTH  ((gsize) (64 * 1024 * 1024))

/* A buffer for a record of at most @capacity bytes, which never grows (a
 * grown buffer would leave a copy of its secrets behind), its header
 * written.  _usi_state_writer_finish() turns it into wiping bytes. */
GByteArray *_usi_state_writer_new    (UsiStateKind    kind,
                                      gsize           capacity);
GBytes     *_usi_state_writer_finish (GByteArray     *out,
                                      gsize           capacity);
/* The same without a header, for a part written before its length; wiped
 * and freed by _usi_state_buffer_free(). */
GByteArray *_usi_state_buffer_new    (gsize           capacity);
void        _usi_state_buffer_free   (GByteArray     *buffer);
/* Reads the header: MALFORMED for another kind, UNSUPPORTED_VERSION. */
gboolean    _usi_state_reader_open   (UsiWireReader  *reader,
                                      const guint8   *data,
                                      gsize           length,
                                      UsiStateKind    kind,
                                      GError        **error);
/* MALFORMED: the record breaks an invariant of what it saves. */
gboolean    _usi_state_set_damaged   (GError        **error);
/* V<RosterEntry> in usi_roster_write()'s layout; reading accepts indices
 * below @index_limit (a pre-shared room's are 31-bit, where
 * usi_roster_read() stops at USI_MAX_MEMBERS) and checks the order, names
 * (MALFORMED), unique keys (ROSTER_INVALID) and leaf signatures
 * (BAD_SIGNATURE); an empty roster is allowed. */
void        _usi_state_write_roster  (GPtrArray      *roster,
                                      GByteArray     *out);
GPtrArray  *_usi_state_read_roster   (UsiWireReader  *reader,
                                      guint32         index_limit,
                                      GError        **error);
gboolean    _usi_state_rosters_equal (GPtrArray      *a,
                                      GPtrArray      *b);

G_END_DECLS
