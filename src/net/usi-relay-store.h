/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* What a relay keeps (docs/protocol.md §11.5): rooms, the state of each
 * owned room's commit chain, registered invites, and each room's
 * ciphertext backlog.  Either in memory (--ephemeral) or in SQLite in WAL
 * mode (--state-dir), where a call returns only once its write is durable
 * against a crash of the process.  Never a key of a room: it has none. */

typedef enum
{
  USI_RELAY_ROOM_OWNED,
  USI_RELAY_ROOM_PRESHARED,
} UsiRelayRoomKind;

typedef struct
{
  guint64  seq;
  guint8   sender[32];      /* the identity that posted it (Hello) */
  guint8   recipient[32];   /* zeros: the room */
  guint64  request_id;
  guint64  stored_ms;
  GBytes  *frame;           /* a whole frame, header included */
} UsiRelayStoredFrame;

void usi_relay_stored_frame_free (UsiRelayStoredFrame *frame);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiRelayStoredFrame, usi_relay_stored_frame_free)

/* Per room; 0 means no limit.  The newest frame is never dropped for the
 * count or the size, any frame is for its age. */
typedef struct
{
  guint64 max_frames;       /* default 10,000 */
  guint64 max_bytes;        /* default 256 MiB */
  guint64 max_age_ms;       /* default 7 days */
} UsiRelayBacklogLimits;

void usi_relay_backlog_limits_init_default (UsiRelayBacklogLimits *limits);

#define USI_TYPE_RELAY_STORE (usi_relay_store_get_type ())
G_DECLARE_FINAL_TYPE (UsiRelayStore, usi_relay_store, USI, RELAY_STORE, GObject)

/* Errors: USI_NET_ERROR_STORAGE for anything the database reports (a full
 * disk: nothing was stored; a damaged, foreign or newer database: it is
 * left untouched, never recreated), G_IO_ERROR_NOT_FOUND for an unknown
 * room, G_IO_ERROR_EXISTS as said below.  `limits` may be NULL (defaults). */
UsiRelayStore *usi_relay_store_new_memory       (const UsiRelayBacklogLimits *limits);
/* Opens or creates `directory`/relay.sqlite (0600, the directory 0700),
 * locked against a second relay. */
UsiRelayStore *usi_relay_store_open             (const char          *directory,
                                                 const UsiRelayBacklogLimits *limits,
                                                 GError             **error);

/* Rooms.  `chain_state` is usi_commit_chain_save()'s bytes (NULL for a
 * pre-shared room).  A room id already stored is G_IO_ERROR_EXISTS. */
gboolean       usi_relay_store_add_room         (UsiRelayStore       *self,
                                                 const guint8        *room_id,
                                                 UsiRelayRoomKind     kind,
                                                 GBytes              *chain_state,
                                                 GError             **error);
gboolean       usi_relay_store_set_chain_state  (UsiRelayStore       *self,
                                                 const guint8        *room_id,
                                                 GBytes              *chain_state,
                                                 GError             **error);
typedef void (*UsiRelayStoreRoomFunc) (const guint8     *room_id,
                                       UsiRelayRoomKind  kind,
                                       GBytes           *chain_state,
                                       guint64           last_seq,
                                       gpointer          user_data);
gboolean       usi_relay_store_foreach_room     (UsiRelayStore       *self,
                                                 UsiRelayStoreRoomFunc func,
                                                 gpointer             user_data,
                                                 GError             **error);

/* Members' first readable sequence number (the commit that added them). */
gboolean       usi_relay_store_set_member_since (UsiRelayStore       *self,
                                                 const guint8        *room_id,
                                                 const guint8        *identity_key,
                                                 guint64              since_seq,
                                                 GError             **error);
/* FALSE (no error) when the identity has no record in the room. */
gboolean       usi_relay_store_get_member_since (UsiRelayStore       *self,
                                                 const guint8        *room_id,
                                                 const guint8        *identity_key,
                                                 guint64             *since_seq);

/* Invites: registered by the owner, bound to the first identity that uses
 * them.  add_invite on a registered id changes only its expiry.
 * lookup_invite returns FALSE only when the store could not be read
 * (logged); *found says whether the id is registered.  use_invite binds an
 * unused invite, accepts the identity it is bound to again, and fails with
 * G_IO_ERROR_EXISTS for another identity, G_IO_ERROR_NOT_FOUND for an id
 * not registered.  prune_invites drops those with expires_ms <= now_ms. */
gboolean       usi_relay_store_add_invite       (UsiRelayStore       *self,
                                                 const guint8        *room_id,
                                                 const guint8        *invite_id,
                                                 guint64              expires_ms,
                                                 GError             **error);
gboolean       usi_relay_store_lookup_invite    (UsiRelayStore       *self,
                                                 const guint8        *room_id,
                                                 const guint8        *invite_id,
                                                 guint64             *expires_ms,
                                                 guint8              *used_by,     /* 32 bytes, zeros while unused */
                                                 gboolean            *found);
gboolean       usi_relay_store_use_invite       (UsiRelayStore       *self,
                                                 const guint8        *room_id,
                                                 const guint8        *invite_id,
                                                 const guint8        *identity_key,
                                                 GError             **error);
guint          usi_relay_store_count_invites    (UsiRelayStore       *self,
                                                 const guint8        *room_id);
void           usi_relay_store_prune_invites    (UsiRelayStore       *self,
                                                 guint64              now_ms);

/* The backlog.  Appends with the room's next sequence number (returned in
 * *seq) unless (sender, request_id) is already stored for the room: then
 * *seq is the stored frame's and *duplicate is TRUE.  Durable on return.
 * Also drops the room's frames beyond the limits, in the same transaction. */
gboolean       usi_relay_store_append           (UsiRelayStore       *self,
                                                 const guint8        *room_id,
                                                 const guint8        *sender,
                                                 const guint8        *recipient,   /* NULL: the room */
                                                 guint64              request_id,
                                                 GBytes              *frame,
                                                 guint64              now_ms,
                                                 guint64             *seq,
                                                 gboolean            *duplicate,
                                                 GError             **error);
/* At most `max_frames` frames with seq > after_seq, in order, that are
 * either for the room or directed to `reader`.  Frames posted by `reader`
 * itself are included (the caller decides).  Element type UsiRelayStoredFrame. */
GPtrArray     *usi_relay_store_read_after       (UsiRelayStore       *self,
                                                 const guint8        *room_id,
                                                 const guint8        *reader,
                                                 guint64              after_seq,
                                                 guint                max_frames,
                                                 GError             **error);
guint64        usi_relay_store_get_last_seq     (UsiRelayStore       *self,
                                                 const guint8        *room_id);
/* Drops frames beyond the limits, oldest first. */
void           usi_relay_store_prune_backlog    (UsiRelayStore       *self,
                                                 const guint8        *room_id,
                                                 guint64              now_ms);

/* Tests only: caps the SQLite database at about `max_bytes`, so a test can
 * see what a full disk does. */
void           _usi_relay_store_set_max_size_for_testing (UsiRelayStore *self,
                                                          guint64        max_bytes);

G_END_DECLS
