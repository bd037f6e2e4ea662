/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The relay (docs/protocol.md §11): accepts TLS connections, checks each
 * Hello, keeps rooms, follows owned rooms' commits, registers invites, and
 * stores every accepted frame before it acknowledges it and delivers it
 * once to each connected recipient.  Backlogs go out at the reader's pace
 * (row R4), read from the store a page at a time.
 *
 * It holds no key of any room and must never log what a frame carries:
 * connection ids, room id prefixes, types and sizes only.  It must never
 * acknowledge or deliver a frame the store has not made durable.
 *
 * Everything runs on the main context the relay was made in.  A closed
 * connection is only marked closed in its ::closed handler and freed from
 * an idle callback, so no loop over connections or subscriptions ever sees
 * one disappear under it. */

#define G_LOG_DOMAIN "usi-net"

#include "config.h"

#include <string.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <glib/gi18n-lib.h>

#include "crypto/usi-digest.h"
#include "protocol/usi-commit-chain.h"
#include "protocol/usi-frame.h"
#include "protocol/usi-identity.h"
#include "protocol/usi-join.h"
#include "protocol/usi-relay-frame.h"

#include "usi-net-error.h"
#include "usi-relay.h"

#define KEY_LENGTH   USI_RELAY_KEY_LENGTH
#define ID_LENGTH    USI_RELAY_ID_LENGTH
/* The store prunes a room's backlog on each append; this catches rooms
 * nobody posts to any more, and expired invites. */
#define PRUNE_INTERVAL_SECONDS 60

typedef struct _Peer Peer;
typedef struct _Room Room;

typedef struct
{
  Peer      *peer;
  Room      *room;
  /* The last sequence number sent or passed over on this subscription. */
  guint64    position;
  /* TRUE while the pump, not live delivery, feeds it: live frames are then
   * left for the pump, which reads them from the store in order. */
  gboolean   catching_up;
  GPtrArray *page;                 /* UsiRelayStoredFrame, read ahead */
  guint      page_index;
} Subscription;

struct _Room
{
  guint8            id[ID_LENGTH];
  UsiRelayRoomKind  kind;
  UsiCommitChain   *chain;          /* owned rooms */
  guint64           last_seq;
  GHashTable       *subscriptions;  /* Peer * → Subscription * (owned) */
};

struct _Peer
{
  UsiRelay      *relay;             /* NULL once reaped */
  UsiConnection *connection;
  guint64        id;
  gboolean       hello_done;
  gboolean       closed;
  guint8         identity[KEY_LENGTH];
  GSource       *hello_timeout;     /* accept to HelloOk */
  GHashTable    *subscriptions;     /* Room * → Subscription * (the room owns it) */
  gulong         frame_handler;
  gulong         drained_handler;
  gulong         closed_handler;
};

struct _UsiRelay
{
  GObject          parent_instance;

  UsiTlsIdentity  *identity;
  UsiRelayStore   *store;
  UsiRelayLimits   limits;
  GMainContext    *context;

  GSocketService  *service;
  GPtrArray       *addresses;       /* "HOST:PORT", real ports */
  guint16          port;

  GHashTable      *peers;           /* UsiConnection * → Peer * (a reference) */
  guint            n_connections;   /* peers not closed */
  guint64          next_peer_id;
  GHashTable      *rooms;           /* room id → Room * (owned) */

  GSource         *reap_source;
  GSource         *prune_source;
  gsize            peak_queued_bytes;
};

G_DEFINE_FINAL_TYPE (UsiRelay, usi_relay, G_TYPE_OBJECT)

void
usi_relay_limits_init_default (UsiRelayLimits *limits)
{
  g_return_if_fail (limits != NULL);

  memset (limits, 0, sizeof *limits);
  usi_connection_limits_init_default (&limits->connection);
  limits->max_connections = 4096;
  limits->max_rooms = 100000;
  limits->max_invites_per_room = 1000;
  limits->backlog_low_watermark = 256 * 1024;
  limits->backlog_page_frames = 64;
}

/* Helpers */

static guint64
now_ms (void)
{
  return (guint64) (g_get_real_time () / 1000);
}

static gboolean
is_zero (const guint8 *bytes,
         gsize         length)
{
  guint8 accumulated = 0;

  for (gsize i = 0; i < length; i++)
    accumulated |= bytes[i];
  return accumulated == 0;
}

static gboolean
key_equal (const guint8 *a,
           const guint8 *b)
{
  return memcmp (a, b, KEY_LENGTH) == 0;
}

/* The first four bytes of a room id, in hex: enough to follow one room in
 * a debug log, and no more. */
static const char *
room_tag (const guint8 *room_id,
          char         *buffer)
{
  g_snprintf (buffer, 9, "%02x%02x%02x%02x", room_id[0], room_id[1], room_id[2], room_id[3]);
  return buffer;
}

static guint8
inner_frame_type (GBytes *frame)
{
  gsize length;
  const guint8 *data = g_bytes_get_data (frame, &length);

  g_assert (length >= USI_FRAME_HEADER_LENGTH);
  return data[5];
}

/* Room ids come from clients (a pre-shared room's id is whatever a client
 * names), so the table's hash starts from a seed drawn per process. */
static guint32 room_hash_seed;

static guint
room_id_hash (gconstpointer key)
{
  const guint8 *id = key;
  guint32 hash = 2166136261u ^ room_hash_seed;

  for (gsize i = 0; i < ID_LENGTH; i++)
    hash = (hash ^ id[i]) * 16777619u;
  return hash;
}

static gboolean
room_id_equal (gconstpointer a,
               gconstpointer b)
{
  return memcmp (a, b, ID_LENGTH) == 0;
}

/* Subscriptions and rooms */

static void
subscription_free (Subscription *sub)
{
  g_clear_pointer (&sub->page, g_ptr_array_unref);
  g_free (sub);
}

static Room *
room_new (const guint8     *id,
          UsiRelayRoomKind  kind,
          UsiCommitChain   *chain,
          guint64           last_seq)
{
  Room *room = g_new0 (Room, 1);

  memcpy (room->id, id, ID_LENGTH);
  room->kind = kind;
  room->chain = chain;
  room->last_seq = last_seq;
  room->subscriptions = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) subscription_free);
  return room;
}

static void
room_free (Room *room)
{
  g_clear_pointer (&room->subscriptions, g_hash_table_unref);
  g_clear_pointer (&room->chain, usi_commit_chain_free);
  g_free (room);
}

static const guint8 *
room_get_owner (Room *room)
{
  return room->kind == USI_RELAY_ROOM_OWNED ? usi_commit_chain_get_owner_key (room->chain) : NULL;
}

/* Peers */

static Peer *
peer_ref (Peer *peer)
{
  return g_rc_box_acquire (peer);
}

static void
peer_clear (Peer *peer)
{
  g_assert (peer->relay == NULL);
  g_assert (peer->hello_timeout == NULL);

  g_clear_pointer (&peer->subscriptions, g_hash_table_unref);
  g_clear_object (&peer->connection);
}

static void
peer_unref (Peer *peer)
{
  g_rc_box_release_full (peer, (GDestroyNotify) peer_clear);
}

static void
schedule_reap (UsiRelay *self);

static void
peer_mark_closed (Peer *peer)
{
  if (peer->closed)
    return;

  peer->closed = TRUE;
  if (peer->relay != NULL)
    {
      g_assert (peer->relay->n_connections > 0);
      peer->relay->n_connections--;
      schedule_reap (peer->relay);
    }
}

static void
peer_close (Peer *peer)
{
  if (peer->closed)
    return;

  usi_connection_close (peer->connection);
  /* ::closed has marked it, unless the connection was closed already. */
  peer_mark_closed (peer);
}

static void
peer_send (Peer   *peer,
           GBytes *frame)
{
  g_autoptr(GError) error = NULL;
  gsize queued;

  if (peer->closed || frame == NULL)
    return;

  if (!usi_connection_send (peer->connection, frame, &error))
    {
      g_debug ("connection %" G_GUINT64_FORMAT ": could not queue a frame: %s", peer->id, error->message);
      peer_mark_closed (peer);
      return;
    }

  queued = usi_connection_get_queued_bytes (peer->connection);
  if (peer->relay != NULL && queued > peer->relay->peak_queued_bytes)
    peer->relay->peak_queued_bytes = queued;
}

static void
peer_send_ack (Peer    *peer,
               guint64  request_id,
               guint64  seq,
               guint8   flags)
{
  g_autoptr(GBytes) frame = usi_relay_frame_new_ack (request_id, seq, flags);

  peer_send (peer, frame);
}

/* The message is for people and logs (§11.2): plain English, never
 * translated, never carrying anything the request held. */
static void
peer_send_refused (Peer                *peer,
                   guint64              request_id,
                   UsiRelayRefusedCode  code,
                   const char          *message)
{
  g_autoptr(GBytes) frame = usi_relay_frame_new_refused (request_id, code, message);

  g_debug ("connection %" G_GUINT64_FORMAT ": request refused (%s)",
           peer->id, usi_relay_refused_code_to_string (code));
  peer_send (peer, frame);
}

static gboolean
identity_is_connected (UsiRelay     *self,
                       const guint8 *identity)
{
  GHashTableIter iter;
  Peer *peer;

  g_hash_table_iter_init (&iter, self->peers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &peer))
    if (!peer->closed && peer->hello_done && key_equal (peer->identity, identity))
      return TRUE;
  return FALSE;
}

/* The peers that speak for @identity, in a snapshot. */
static GPtrArray *
peers_of_identity (UsiRelay     *self,
                   const guint8 *identity)
{
  GPtrArray *peers = g_ptr_array_new ();
  GHashTableIter iter;
  Peer *peer;

  g_hash_table_iter_init (&iter, self->peers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &peer))
    if (!peer->closed && peer->hello_done && key_equal (peer->identity, identity))
      g_ptr_array_add (peers, peer);
  return peers;
}

/* Detaches a closed peer from everything; the caller drops the table's
 * reference. */
static void
peer_detach (Peer *peer)
{
  GHashTableIter iter;
  Subscription *sub;

  g_assert (peer->relay != NULL);

  g_hash_table_iter_init (&iter, peer->subscriptions);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &sub))
    {
      g_hash_table_iter_remove (&iter);
      g_hash_table_remove (sub->room->subscriptions, peer);
    }

  g_clear_signal_handler (&peer->frame_handler, peer->connection);
  g_clear_signal_handler (&peer->drained_handler, peer->connection);
  g_clear_signal_handler (&peer->closed_handler, peer->connection);
  if (peer->hello_timeout != NULL)
    {
      g_source_destroy (peer->hello_timeout);
      g_clear_pointer (&peer->hello_timeout, g_source_unref);
    }
  if (!peer->closed)
    {
      usi_connection_close (peer->connection);
      peer_mark_closed (peer);
    }
  peer->relay = NULL;
}

static void
reap_closed_peers (UsiRelay *self,
                   gboolean  all)
{
  GHashTableIter iter;
  Peer *peer;

  g_hash_table_iter_init (&iter, self->peers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &peer))
    if (all || peer->closed)
      {
        g_debug ("connection %" G_GUINT64_FORMAT ": gone", peer->id);
        peer_detach (peer);
        g_hash_table_iter_remove (&iter);
      }
}

static gboolean
reap_cb (gpointer user_data)
{
  UsiRelay *self = user_data;

  g_clear_pointer (&self->reap_source, g_source_unref);
  reap_closed_peers (self, FALSE);
  return G_SOURCE_REMOVE;
}

static void
schedule_reap (UsiRelay *self)
{
  if (self->reap_source != NULL)
    return;

  self->reap_source = g_idle_source_new ();
  g_source_set_callback (self->reap_source, reap_cb, self, NULL);
  g_source_set_static_name (self->reap_source, "[usi] relay reap");
  g_source_attach (self->reap_source, self->context);
}

/* Who sees a stored frame */

/* Whether @reader may be delivered @stored from @room's backlog: never its
 * own frames, frames directed to someone else, nor a JoinRequest or
 * LeafUpdate unless it is the owner. */
static gboolean
frame_is_for (Room                      *room,
              const UsiRelayStoredFrame *stored,
              const guint8              *reader)
{
  guint8 type;

  if (key_equal (stored->sender, reader))
    return FALSE;
  if (!is_zero (stored->recipient, KEY_LENGTH))
    return key_equal (stored->recipient, reader);

  type = inner_frame_type (stored->frame);
  if (type == USI_FRAME_JOIN_REQUEST || type == USI_FRAME_LEAF_UPDATE)
    {
      const guint8 *owner = room_get_owner (room);

      return owner != NULL && key_equal (owner, reader);
    }
  return TRUE;
}

/* The backlog pump (row R4) */

/* Feeds @sub from the store while the connection has room for more.
 * Returns FALSE when it stopped at the watermark (or the peer closed). */
static gboolean
subscription_pump (Subscription *sub)
{
  Peer *peer = sub->peer;
  UsiRelay *self = peer->relay;

  while (sub->catching_up)
    {
      UsiRelayStoredFrame *stored;
      g_autoptr(GBytes) deliver = NULL;

      if (peer->closed)
        return FALSE;
      if (usi_connection_get_queued_bytes (peer->connection) >= self->limits.backlog_low_watermark)
        return FALSE;

      if (sub->page == NULL || sub->page_index >= sub->page->len)
        {
          g_autoptr(GError) error = NULL;
          char tag[9];

          g_clear_pointer (&sub->page, g_ptr_array_unref);
          sub->page = usi_relay_store_read_after (self->store, sub->room->id, peer->identity, sub->position,
                                                  self->limits.backlog_page_frames, &error);
          sub->page_index = 0;
          if (sub->page == NULL)
            {
              g_warning ("connection %" G_GUINT64_FORMAT ": could not read the backlog of room %s: %s",
                         peer->id, room_tag (sub->room->id, tag), error->message);
              peer_close (peer);
              return FALSE;
            }
          if (sub->page->len == 0)
            {
              g_clear_pointer (&sub->page, g_ptr_array_unref);
              sub->catching_up = FALSE;
              g_debug ("connection %" G_GUINT64_FORMAT ": caught up in room %s at %" G_GUINT64_FORMAT,
                       peer->id, room_tag (sub->room->id, tag), sub->position);
              break;
            }
        }

      stored = g_ptr_array_index (sub->page, sub->page_index++);
      if (stored->seq <= sub->position)
        continue;
      sub->position = stored->seq;
      if (!frame_is_for (sub->room, stored, peer->identity))
        continue;

      deliver = usi_relay_frame_new_deliver (sub->room->id, stored->seq, stored->frame);
      peer_send (peer, deliver);
    }

  return TRUE;
}

static void
peer_pump (Peer *peer)
{
  GHashTableIter iter;
  Subscription *sub;

  if (peer->closed || peer->relay == NULL)
    return;

  g_hash_table_iter_init (&iter, peer->subscriptions);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &sub))
    if (sub->catching_up && !subscription_pump (sub))
      break;
}

/* A frame just stored, to a subscription: sent now, or left to the pump
 * when it is catching up or the connection already has enough queued. */
static void
subscription_deliver_live (Subscription *sub,
                           guint64       seq,
                           GBytes       *deliver)
{
  Peer *peer = sub->peer;

  if (peer->closed || sub->catching_up || seq <= sub->position)
    return;

  if (usi_connection_get_queued_bytes (peer->connection) >= peer->relay->limits.backlog_low_watermark)
    {
      /* A slow reader: it reads this one from the store once drained. */
      sub->catching_up = TRUE;
      return;
    }

  peer_send (peer, deliver);
  sub->position = seq;
}

/* Delivers a frame just stored as @seq.  @target is the one identity it is
 * for (the owner, or the named recipient), or NULL for the room's
 * subscribers but the sender. */
static void
deliver_live (UsiRelay     *self,
              Room         *room,
              guint64       seq,
              const guint8 *sender,
              const guint8 *target,
              GBytes       *frame)
{
  g_autoptr(GBytes) deliver = usi_relay_frame_new_deliver (room->id, seq, frame);

  if (target != NULL)
    {
      g_autoptr(GPtrArray) peers = peers_of_identity (self, target);

      for (guint i = 0; i < peers->len; i++)
        {
          Peer *peer = g_ptr_array_index (peers, i);
          Subscription *sub = g_hash_table_lookup (peer->subscriptions, room);

          /* Directed frames reach every connection of that identity,
           * subscribed to the room or not. */
          if (sub != NULL)
            subscription_deliver_live (sub, seq, deliver);
          else
            peer_send (peer, deliver);
        }
    }
  else
    {
      GHashTableIter iter;
      Subscription *sub;

      g_hash_table_iter_init (&iter, room->subscriptions);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &sub))
        if (!key_equal (sub->peer->identity, sender))
          subscription_deliver_live (sub, seq, deliver);
    }
}

/* The frames stored for @identity alone in @room after @after_seq, sent to
 * @peer: answers to a JoinRequest posted again (§11.5).  A joiner has few. */
static void
deliver_directed_backlog (UsiRelay     *self,
                          Peer         *peer,
                          Room         *room,
                          guint64       after_seq)
{
  guint64 position = after_seq;

  if (g_hash_table_contains (peer->subscriptions, room))
    return;   /* its subscription delivers them */

  for (;;)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GPtrArray) page = NULL;

      page = usi_relay_store_read_after (self->store, room->id, peer->identity, position,
                                         self->limits.backlog_page_frames, &error);
      if (page == NULL)
        {
          g_warning ("connection %" G_GUINT64_FORMAT ": could not read a backlog: %s", peer->id, error->message);
          return;
        }
      if (page->len == 0)
        return;

      for (guint i = 0; i < page->len; i++)
        {
          UsiRelayStoredFrame *stored = g_ptr_array_index (page, i);

          position = MAX (position, stored->seq);
          if (!is_zero (stored->recipient, KEY_LENGTH) && key_equal (stored->recipient, peer->identity))
            {
              g_autoptr(GBytes) deliver = usi_relay_frame_new_deliver (room->id, stored->seq, stored->frame);

              peer_send (peer, deliver);
            }
        }
    }
}

/* Rooms */

static Room *
lookup_room (UsiRelay     *self,
             const guint8 *room_id)
{
  return g_hash_table_lookup (self->rooms, room_id);
}

static void
add_room (UsiRelay *self,
          Room     *room)
{
  g_hash_table_insert (self->rooms, room->id, room);
}

static gboolean
prune_cb (gpointer user_data)
{
  UsiRelay *self = user_data;
  guint64 now = now_ms ();
  GHashTableIter iter;
  Room *room;

  usi_relay_store_prune_invites (self->store, now);
  g_hash_table_iter_init (&iter, self->rooms);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &room))
    usi_relay_store_prune_backlog (self->store, room->id, now);
  return G_SOURCE_CONTINUE;
}

/* The identity keys of @chain's current roster. */
static GPtrArray *
roster_keys (UsiCommitChain *chain)
{
  const UsiGroupInfo *info = usi_commit_chain_get_group_info (chain);
  GPtrArray *keys = g_ptr_array_new ();

  for (guint i = 0; i < info->roster->len; i++)
    {
      const UsiRosterEntry *entry = g_ptr_array_index (info->roster, i);

      g_ptr_array_add (keys, (gpointer) entry->leaf.identity_key);
    }
  return keys;
}

static gboolean
keys_contain (GPtrArray    *keys,
              const guint8 *key)
{
  for (guint i = 0; i < keys->len; i++)
    if (key_equal (g_ptr_array_index (keys, i), key))
      return TRUE;
  return FALSE;
}

/* Whether @body is the commit that made @chain's current epoch: a resend of
 * a commit already followed. */
static gboolean
commit_is_current (UsiCommitChain *chain,
                   const guint8   *body,
                   gsize           length)
{
  guint8 hash[USI_HASH_LENGTH];

  if (!usi_hash (USI_HASH_SHA256, body, length, hash, NULL))
    return FALSE;
  return memcmp (hash, usi_commit_chain_get_group_info (chain)->commit_hash, USI_HASH_LENGTH) == 0;
}

/* Requests */

static gboolean
check_room_limit (UsiRelay *self,
                  Peer     *peer,
                  guint64   request_id)
{
  if (g_hash_table_size (self->rooms) < self->limits.max_rooms)
    return TRUE;

  peer_send_refused (peer, request_id, USI_RELAY_REFUSED_LIMIT, "The relay holds as many rooms as it may.");
  return FALSE;
}

static void
handle_create_room (UsiRelay            *self,
                    Peer                *peer,
                    const UsiRelayFrame *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiCommitChain) chain = NULL;
  g_autoptr(GBytes) state = NULL;
  g_autoptr(GBytes) frame = NULL;
  const guint8 *body;
  const guint8 *room_id;
  gsize length;
  guint64 seq = 0;
  gboolean duplicate = FALSE;
  Room *room;
  char tag[9];

  body = g_bytes_get_data (request->frame, &length);
  chain = usi_commit_chain_new_from_create (body, length, &error);
  if (chain == NULL)
    {
      peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_BAD_COMMIT,
                         "The room's first commit does not check out.");
      return;
    }
  if (!key_equal (usi_commit_chain_get_owner_key (chain), peer->identity))
    {
      peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_NOT_OWNER,
                         "The room's first commit names another owner.");
      return;
    }

  room_id = usi_commit_chain_get_room_id (chain);
  frame = usi_frame_encode (USI_FRAME_COMMIT, body, length, &error);
  if (frame == NULL)
    {
      peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_MALFORMED, "The commit is too large.");
      return;
    }

  room = lookup_room (self, room_id);
  if (room != NULL)
    {
      g_autoptr(GPtrArray) first = NULL;
      gboolean same = FALSE;

      /* The owner sending its create again (it lost the Ack) is answered
       * as the first time; anything else is someone else's room. */
      if (room->kind == USI_RELAY_ROOM_OWNED && key_equal (room_get_owner (room), peer->identity))
        {
          first = usi_relay_store_read_after (self->store, room->id, peer->identity, 0, 1, NULL);
          if (first == NULL || first->len == 0 || ((UsiRelayStoredFrame *) first->pdata[0])->seq != 1)
            same = TRUE;   /* pruned: the owner's word is all there is */
          else
            same = g_bytes_equal (((UsiRelayStoredFrame *) first->pdata[0])->frame, frame);
        }
      if (same)
        peer_send_ack (peer, request->request_id, 1, 0);
      else
        peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_ROOM_EXISTS, "That room id is taken.");
      return;
    }

  if (!check_room_limit (self, peer, request->request_id))
    return;

  state = usi_commit_chain_save (chain);
  if (!usi_relay_store_add_room (self->store, room_id, USI_RELAY_ROOM_OWNED, state, &error) ||
      !usi_relay_store_append (self->store, room_id, peer->identity, NULL, request->request_id, frame,
                               now_ms (), &seq, &duplicate, &error) ||
      !usi_relay_store_set_member_since (self->store, room_id, peer->identity, 0, &error))
    {
      g_warning ("Could not store room %s: %s", room_tag (room_id, tag), error->message);
      peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_UNAVAILABLE,
                         "The relay could not store the room.");
      return;
    }

  room = room_new (room_id, USI_RELAY_ROOM_OWNED, g_steal_pointer (&chain), seq);
  add_room (self, room);
  g_debug ("connection %" G_GUINT64_FORMAT ": created room %s", peer->id, room_tag (room->id, tag));
  peer_send_ack (peer, request->request_id, seq, 0);
}

static void
handle_open_preshared_room (UsiRelay            *self,
                            Peer                *peer,
                            const UsiRelayFrame *request)
{
  g_autoptr(GError) error = NULL;
  Room *room = lookup_room (self, request->room_id);
  char tag[9];

  if (room != NULL)
    {
      if (room->kind == USI_RELAY_ROOM_PRESHARED)
        peer_send_ack (peer, request->request_id, room->last_seq, 0);
      else
        peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_ROOM_EXISTS,
                           "That room id is an owned room's.");
      return;
    }

  if (!check_room_limit (self, peer, request->request_id))
    return;

  if (!usi_relay_store_add_room (self->store, request->room_id, USI_RELAY_ROOM_PRESHARED, NULL, &error))
    {
      g_warning ("Could not store room %s: %s", room_tag (request->room_id, tag), error->message);
      peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_UNAVAILABLE,
                         "The relay could not store the room.");
      return;
    }

  room = room_new (request->room_id, USI_RELAY_ROOM_PRESHARED, NULL, 0);
  add_room (self, room);
  g_debug ("connection %" G_GUINT64_FORMAT ": opened pre-shared-key room %s", peer->id, room_tag (room->id, tag));
  peer_send_ack (peer, request->request_id, 0, 0);
}

static void
handle_register_invite (UsiRelay            *self,
                        Peer                *peer,
                        const UsiRelayFrame *request)
{
  g_autoptr(GError) error = NULL;
  Room *room = lookup_room (self, request->room_id);
  guint8 used_by[KEY_LENGTH];
  guint64 expires_ms = 0;
  gboolean found = FALSE;
  guint64 now = now_ms ();

  if (room == NULL)
    {
      peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_UNKNOWN_ROOM, "There is no such room.");
      return;
    }
  if (room->kind != USI_RELAY_ROOM_OWNED)
    {
      peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_NOT_ALLOWED,
                         "A pre-shared-key room has no invites.");
      return;
    }
  if (!key_equal (room_get_owner (room), peer->identity))
    {
      peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_NOT_OWNER,
                         "Only the room's owner registers invites.");
      return;
    }
  if (request->expires_ms <= now)
    {
      peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_INVITE_EXPIRED, "The invite has expired.");
      return;
    }

  if (!usi_relay_store_lookup_invite (self->store, room->id, request->invite_id, &expires_ms, used_by, &found))
    {
      peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_UNAVAILABLE,
                         "The relay could not read its invites.");
      return;
    }
  if (found)
    {
      /* Registered before: a resend. */
      peer_send_ack (peer, request->request_id, 0, 0);
      return;
    }

  if (usi_relay_store_count_invites (self->store, room->id) >= self->limits.max_invites_per_room)
    {
      usi_relay_store_prune_invites (self->store, now);
      if (usi_relay_store_count_invites (self->store, room->id) >= self->limits.max_invites_per_room)
        {
          peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_LIMIT,
                             "The room has as many open invites as it may.");
          return;
        }
    }

  if (!usi_relay_store_add_invite (self->store, room->id, request->invite_id, request->expires_ms, &error))
    {
      g_warning ("Could not store an invite: %s", error->message);
      peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_UNAVAILABLE,
                         "The relay could not store the invite.");
      return;
    }

  peer_send_ack (peer, request->request_id, 0, 0);
}

static void
handle_subscribe (UsiRelay            *self,
                  Peer                *peer,
                  const UsiRelayFrame *request)
{
  Room *room = lookup_room (self, request->room_id);
  Subscription *sub;
  guint64 start = request->seq;
  char tag[9];

  if (room == NULL)
    {
      peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_UNKNOWN_ROOM, "There is no such room.");
      return;
    }

  if (room->kind == USI_RELAY_ROOM_OWNED)
    {
      guint64 since = 0;

      if (!usi_commit_chain_has_member (room->chain, peer->identity))
        {
          peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_NOT_MEMBER,
                             "This identity is not a member of the room.");
          return;
        }
      if (!usi_relay_store_get_member_since (self->store, room->id, peer->identity, &since) &&
          !key_equal (room_get_owner (room), peer->identity))
        {
          /* Fail closed: without the record, nothing from before now. */
          g_warning ("Room %s has no record of when a member joined", room_tag (room->id, tag));
          since = room->last_seq;
        }
      start = MAX (start, since);
    }

  sub = g_hash_table_lookup (peer->subscriptions, room);
  if (sub == NULL)
    {
      sub = g_new0 (Subscription, 1);
      sub->peer = peer;
      sub->room = room;
      g_hash_table_insert (room->subscriptions, peer, sub);
      g_hash_table_insert (peer->subscriptions, room, sub);
    }
  g_clear_pointer (&sub->page, g_ptr_array_unref);
  sub->page_index = 0;
  sub->position = start;
  sub->catching_up = TRUE;

  g_debug ("connection %" G_GUINT64_FORMAT ": subscribed to room %s after %" G_GUINT64_FORMAT,
           peer->id, room_tag (room->id, tag), start);
  peer_send_ack (peer, request->request_id, room->last_seq, 0);
  peer_pump (peer);
}

/* Checks a JoinRequest against the invites the owner registered, binding
 * the invite to its first sender.  *reposted is TRUE when this sender had
 * already used it. */
static gboolean
check_join_request (UsiRelay            *self,
                    Peer                *peer,
                    Room                *room,
                    const UsiRelayFrame *request,
                    gboolean            *reposted)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiJoinRequest) join = NULL;
  const guint8 *data;
  gsize length;
  guint8 used_by[KEY_LENGTH];
  guint64 expires_ms = 0;
  gboolean found = FALSE;

  data = g_bytes_get_data (request->frame, &length);
  join = usi_join_request_decode (data + USI_FRAME_HEADER_LENGTH, length - USI_FRAME_HEADER_LENGTH, &error);
  if (join == NULL)
    {
      peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_MALFORMED, "The join request does not decode.");
      return FALSE;
    }
  if (memcmp (usi_join_request_get_room_id (join), room->id, ID_LENGTH) != 0)
    {
      peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_NOT_ALLOWED,
                         "The join request names another room.");
      return FALSE;
    }

  if (!usi_relay_store_lookup_invite (self->store, room->id, usi_join_request_get_invite_id (join),
                                      &expires_ms, used_by, &found))
    {
      peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_UNAVAILABLE,
                         "The relay could not read its invites.");
      return FALSE;
    }
  if (!found)
    {
      peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_INVITE_UNKNOWN,
                         "The owner did not register this invite.");
      return FALSE;
    }
  if (!is_zero (used_by, KEY_LENGTH))
    {
      if (!key_equal (used_by, peer->identity))
        {
          peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_INVITE_USED,
                             "Someone else already used this invite.");
          return FALSE;
        }
      /* Its own request again, after a reconnect: used in time. */
      *reposted = TRUE;
      return TRUE;
    }
  if (expires_ms <= now_ms ())
    {
      peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_INVITE_EXPIRED, "The invite has expired.");
      return FALSE;
    }

  if (!usi_relay_store_use_invite (self->store, room->id, usi_join_request_get_invite_id (join),
                                   peer->identity, &error))
    {
      g_warning ("Could not record an invite's use: %s", error->message);
      peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_UNAVAILABLE,
                         "The relay could not record the invite's use.");
      return FALSE;
    }
  *reposted = FALSE;
  return TRUE;
}

/* Stores @chain's state as @room's and swaps it in.  The old state is put
 * back by the caller if storing the commit itself then fails. */
static gboolean
commit_chain_store (UsiRelay        *self,
                    Room            *room,
                    UsiCommitChain  *chain,
                    GError         **error)
{
  g_autoptr(GBytes) state = usi_commit_chain_save (chain);

  return usi_relay_store_set_chain_state (self->store, room->id, state, error);
}

static void
handle_post (UsiRelay            *self,
             Peer                *peer,
             const UsiRelayFrame *request)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiCommitChain) next_chain = NULL;
  g_autoptr(GBytes) old_state = NULL;
  Room *room = lookup_room (self, request->room_id);
  const guint8 *recipient = is_zero (request->recipient, KEY_LENGTH) ? NULL : request->recipient;
  const guint8 *target = NULL;
  const guint8 *owner;
  guint8 type = inner_frame_type (request->frame);
  gboolean is_owner = FALSE;
  gboolean join_reposted = FALSE;
  gboolean duplicate = FALSE;
  guint64 seq = 0;
  guint8 flags = 0;
  char tag[9];

  if (room == NULL)
    {
      peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_UNKNOWN_ROOM, "There is no such room.");
      return;
    }

  owner = room_get_owner (room);
  is_owner = owner != NULL && key_equal (owner, peer->identity);

  if (room->kind == USI_RELAY_ROOM_PRESHARED)
    {
      if ((type != USI_FRAME_APP_MESSAGE && type != USI_FRAME_FILE_CHUNK) || recipient != NULL)
        {
          peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_NOT_ALLOWED,
                             "A pre-shared-key room carries messages and file chunks to the room only.");
          return;
        }
    }
  else if (type == USI_FRAME_JOIN_REQUEST)
    {
      if (is_owner || recipient != NULL)
        {
          peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_NOT_ALLOWED,
                             "A join request goes to the room, from someone other than its owner.");
          return;
        }
      if (!check_join_request (self, peer, room, request, &join_reposted))
        return;
      target = owner;
    }
  else
    {
      if (!usi_commit_chain_has_member (room->chain, peer->identity))
        {
          peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_NOT_MEMBER,
                             "This identity is not a member of the room.");
          return;
        }

      switch (type)
        {
        case USI_FRAME_COMMIT:
        case USI_FRAME_WELCOME:
        case USI_FRAME_JOIN_REFUSAL:
          if (!is_owner)
            {
              peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_NOT_OWNER,
                                 "Only the room's owner sends commits, welcomes and refusals.");
              return;
            }
          if ((type == USI_FRAME_COMMIT) != (recipient == NULL) ||
              (recipient != NULL && key_equal (recipient, peer->identity)))
            {
              peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_NOT_ALLOWED,
                                 "A commit goes to the room; a welcome or a refusal to one joiner.");
              return;
            }
          target = recipient;
          break;

        case USI_FRAME_LEAF_UPDATE:
          if (is_owner || recipient != NULL)
            {
              peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_NOT_ALLOWED,
                                 "A leaf update goes from a member to the room's owner.");
              return;
            }
          target = owner;
          break;

        case USI_FRAME_APP_MESSAGE:
        case USI_FRAME_FILE_CHUNK:
          if (recipient != NULL)
            {
              peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_NOT_ALLOWED,
                                 "Messages and file chunks go to the whole room.");
              return;
            }
          break;

        default:
          peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_NOT_ALLOWED,
                             "That frame type cannot be posted.");
          return;
        }
    }

  if (type == USI_FRAME_COMMIT)
    {
      const guint8 *data;
      gsize length;

      data = g_bytes_get_data (request->frame, &length);
      data += USI_FRAME_HEADER_LENGTH;
      length -= USI_FRAME_HEADER_LENGTH;

      old_state = usi_commit_chain_save (room->chain);
      next_chain = usi_commit_chain_restore (g_bytes_get_data (old_state, NULL), g_bytes_get_size (old_state), &error);
      g_assert_no_error (error);

      if (!usi_commit_chain_follow (next_chain, data, length, &error))
        {
          g_clear_pointer (&next_chain, usi_commit_chain_free);
          /* A resend of the commit the room is at (its Ack was lost, or the
           * relay restarted in between) is stored once, like any resend. */
          if (!commit_is_current (room->chain, data, length))
            {
              g_debug ("connection %" G_GUINT64_FORMAT ": commit refused in room %s: %s",
                       peer->id, room_tag (room->id, tag), error->message);
              peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_BAD_COMMIT,
                                 "The commit does not follow the room's chain.");
              return;
            }
          g_clear_error (&error);
        }
      else if (!commit_chain_store (self, room, next_chain, &error))
        {
          g_warning ("Could not store room %s's chain: %s", room_tag (room->id, tag), error->message);
          peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_UNAVAILABLE,
                             "The relay could not store the frame.");
          return;
        }
    }

  if (!usi_relay_store_append (self->store, room->id, peer->identity, recipient, request->request_id,
                               request->frame, now_ms (), &seq, &duplicate, &error) ||
      (duplicate && next_chain != NULL))
    {
      if (next_chain != NULL)
        {
          g_autoptr(GError) revert_error = NULL;

          /* Back to the chain the backlog ends with. */
          if (!usi_relay_store_set_chain_state (self->store, room->id, old_state, &revert_error))
            g_warning ("Could not restore room %s's chain: %s", room_tag (room->id, tag), revert_error->message);
        }
      if (!duplicate)
        {
          g_warning ("Could not store a frame in room %s: %s", room_tag (room->id, tag), error->message);
          peer_send_refused (peer, request->request_id, USI_RELAY_REFUSED_UNAVAILABLE,
                             "The relay could not store the frame.");
          return;
        }
    }

  if (target != NULL && !identity_is_connected (self, target))
    flags |= USI_RELAY_ACK_RECIPIENT_OFFLINE;

  if (duplicate)
    {
      g_debug ("connection %" G_GUINT64_FORMAT ": resent frame %" G_GUINT64_FORMAT " in room %s",
               peer->id, seq, room_tag (room->id, tag));
      peer_send_ack (peer, request->request_id, seq, flags);
      if (type == USI_FRAME_JOIN_REQUEST)
        deliver_directed_backlog (self, peer, room, seq);
      return;
    }

  room->last_seq = MAX (room->last_seq, seq);
  g_debug ("connection %" G_GUINT64_FORMAT ": frame %" G_GUINT64_FORMAT " (type 0x%02x, %" G_GSIZE_FORMAT
           " bytes) in room %s", peer->id, seq, type, g_bytes_get_size (request->frame), room_tag (room->id, tag));
  peer_send_ack (peer, request->request_id, seq, flags);

  if (next_chain != NULL)
    {
      g_autoptr(GPtrArray) old_keys = roster_keys (room->chain);
      g_autoptr(GPtrArray) new_keys = roster_keys (next_chain);
      g_autoptr(UsiCommitChain) old_chain = NULL;

      /* Members added read from this commit on (§11.4). */
      for (guint i = 0; i < new_keys->len; i++)
        if (!keys_contain (old_keys, g_ptr_array_index (new_keys, i)) &&
            !usi_relay_store_set_member_since (self->store, room->id, g_ptr_array_index (new_keys, i), seq, &error))
          {
            g_warning ("Could not record a new member of room %s: %s", room_tag (room->id, tag), error->message);
            g_clear_error (&error);
          }

      /* Everyone, the removed members too, gets the commit that removes
       * them; then nothing more. */
      deliver_live (self, room, seq, peer->identity, NULL, request->frame);

      for (guint i = 0; i < old_keys->len; i++)
        if (!keys_contain (new_keys, g_ptr_array_index (old_keys, i)))
          {
            GHashTableIter iter;
            Subscription *sub;

            g_hash_table_iter_init (&iter, room->subscriptions);
            while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &sub))
              if (key_equal (sub->peer->identity, g_ptr_array_index (old_keys, i)))
                {
                  g_hash_table_remove (sub->peer->subscriptions, room);
                  g_hash_table_iter_remove (&iter);
                }
          }

      /* old_keys points into the old chain: drop it last. */
      g_clear_pointer (&old_keys, g_ptr_array_unref);
      old_chain = g_steal_pointer (&room->chain);
      room->chain = g_steal_pointer (&next_chain);
    }
  else
    {
      deliver_live (self, room, seq, peer->identity, target, request->frame);
      if (type == USI_FRAME_JOIN_REQUEST && join_reposted)
        deliver_directed_backlog (self, peer, room, 0);
    }
}

/* Hello */

static void
refuse_hello (Peer       *peer,
              const char *why)
{
  g_debug ("connection %" G_GUINT64_FORMAT ": bad hello (%s)", peer->id, why);
  peer_send_refused (peer, 0, USI_RELAY_REFUSED_BAD_HELLO,
                     "The first frame must be a Hello that verifies.");
  /* Closing still writes what was queued: the Refused goes out first. */
  peer_close (peer);
}

static void
handle_hello (UsiRelay *self,
              Peer     *peer,
              guint     type,
              GBytes   *body)
{
  g_autoptr(GError) error = NULL;
  g_auto(UsiRelayFrame) hello = { 0 };
  g_autoptr(GBytes) hello_ok = NULL;
  guint8 exporter[USI_RELAY_EXPORTER_LENGTH];
  guint8 tbs[USI_RELAY_EXPORTER_LENGTH + USI_HASH_LENGTH];
  const guint8 *spki_hash;

  if (type != USI_RELAY_FRAME_HELLO)
    {
      refuse_hello (peer, "another frame first");
      return;
    }
  if (!usi_relay_frame_decode (type, body, &hello, &error))
    {
      refuse_hello (peer, "malformed");
      return;
    }
  spki_hash = usi_connection_get_client_spki_hash (peer->connection);
  if (spki_hash == NULL ||
      !usi_connection_export_keying_material (peer->connection, USI_RELAY_EXPORTER_LABEL,
                                              exporter, sizeof exporter, &error))
    {
      refuse_hello (peer, "no exporter");
      return;
    }
  usi_relay_hello_tbs (exporter, spki_hash, tbs);
  if (!usi_identity_verify (hello.identity_key, USI_RELAY_HELLO_LABEL, tbs, sizeof tbs, hello.signature, &error))
    {
      refuse_hello (peer, "signature");
      return;
    }

  memcpy (peer->identity, hello.identity_key, KEY_LENGTH);
  peer->hello_done = TRUE;
  if (peer->hello_timeout != NULL)
    {
      g_source_destroy (peer->hello_timeout);
      g_clear_pointer (&peer->hello_timeout, g_source_unref);
    }

  g_debug ("connection %" G_GUINT64_FORMAT ": hello", peer->id);
  hello_ok = usi_relay_frame_new_hello_ok (now_ms ());
  peer_send (peer, hello_ok);
}

/* Connection signals */

static void
on_frame_received (UsiConnection *connection,
                   guint          type,
                   GBytes        *body,
                   gpointer       user_data)
{
  Peer *peer = user_data;
  UsiRelay *self = peer->relay;
  g_autoptr(GError) error = NULL;
  g_auto(UsiRelayFrame) request = { 0 };

  if (peer->closed || self == NULL)
    return;

  if (!peer->hello_done)
    {
      handle_hello (self, peer, type, body);
      return;
    }

  switch (type)
    {
    case USI_RELAY_FRAME_CREATE_ROOM:
    case USI_RELAY_FRAME_OPEN_PRESHARED_ROOM:
    case USI_RELAY_FRAME_SUBSCRIBE:
    case USI_RELAY_FRAME_REGISTER_INVITE:
    case USI_RELAY_FRAME_POST:
    case USI_RELAY_FRAME_PING:
    case USI_RELAY_FRAME_PONG:
      if (!usi_relay_frame_decode (type, body, &request, &error))
        {
          gsize length;
          const guint8 *data = g_bytes_get_data (body, &length);
          guint64 request_id = 0;

          /* Every request starts with its id: answer that one if we can. */
          if (type != USI_RELAY_FRAME_PING && type != USI_RELAY_FRAME_PONG && length >= 8)
            for (guint i = 0; i < 8; i++)
              request_id = (request_id << 8) | data[i];
          peer_send_refused (peer, request_id, USI_RELAY_REFUSED_MALFORMED, "The request does not decode.");
          return;
        }
      break;

    default:
      /* Hello again, frames only a relay sends, bare frames outside a Post. */
      g_debug ("connection %" G_GUINT64_FORMAT ": unexpected frame type 0x%02x, closing", peer->id, type);
      peer_close (peer);
      return;
    }

  switch (type)
    {
    case USI_RELAY_FRAME_CREATE_ROOM:
      handle_create_room (self, peer, &request);
      break;
    case USI_RELAY_FRAME_OPEN_PRESHARED_ROOM:
      handle_open_preshared_room (self, peer, &request);
      break;
    case USI_RELAY_FRAME_SUBSCRIBE:
      handle_subscribe (self, peer, &request);
      break;
    case USI_RELAY_FRAME_REGISTER_INVITE:
      handle_register_invite (self, peer, &request);
      break;
    case USI_RELAY_FRAME_POST:
      handle_post (self, peer, &request);
      break;
    case USI_RELAY_FRAME_PING:
      {
        g_autoptr(GBytes) pong = usi_relay_frame_new_pong (request.nonce);

        peer_send (peer, pong);
      }
      break;
    case USI_RELAY_FRAME_PONG:
    default:
      break;
    }
}

static void
on_drained (UsiConnection *connection,
            gpointer       user_data)
{
  Peer *peer = user_data;

  peer_pump (peer);
}

static void
on_closed (UsiConnection *connection,
           const GError  *reason,
           gpointer       user_data)
{
  Peer *peer = user_data;

  g_debug ("connection %" G_GUINT64_FORMAT ": closed: %s", peer->id, reason != NULL ? reason->message : "");
  peer_mark_closed (peer);
}

static gboolean
hello_timeout_cb (gpointer user_data)
{
  Peer *peer = user_data;

  g_debug ("connection %" G_GUINT64_FORMAT ": no hello in time, closing", peer->id);
  g_clear_pointer (&peer->hello_timeout, g_source_unref);
  peer_close (peer);
  return G_SOURCE_REMOVE;
}

static void
handshake_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  Peer *peer = user_data;
  g_autoptr(GError) error = NULL;

  if (!usi_connection_handshake_finish (USI_CONNECTION (object), result, &error))
    {
      if (peer->relay != NULL && !peer->closed)
        {
          g_debug ("connection %" G_GUINT64_FORMAT ": handshake failed: %s", peer->id, error->message);
          peer_close (peer);
        }
    }
  else if (peer->relay != NULL && !peer->closed)
    g_debug ("connection %" G_GUINT64_FORMAT ": handshake done", peer->id);

  peer_unref (peer);
}

static gboolean
on_incoming (GSocketService    *service,
             GSocketConnection *socket_connection,
             GObject           *source_object,
             gpointer           user_data)
{
  UsiRelay *self = user_data;
  Peer *peer;

  if (self->n_connections >= self->limits.max_connections)
    {
      /* Before TLS: a full relay spends nothing on a newcomer. */
      g_debug ("connection refused: %u connections already", self->n_connections);
      g_io_stream_close (G_IO_STREAM (socket_connection), NULL, NULL);
      return TRUE;
    }

  /* Frames are small and interactive: never wait to fill a segment. */
  if (!g_socket_set_option (g_socket_connection_get_socket (socket_connection), IPPROTO_TCP, TCP_NODELAY, 1, NULL))
    g_debug ("relay: could not set TCP_NODELAY");

  peer = g_rc_box_new0 (Peer);
  peer->relay = self;
  peer->id = ++self->next_peer_id;
  peer->subscriptions = g_hash_table_new (NULL, NULL);
  peer->connection = usi_connection_new_server (G_IO_STREAM (socket_connection), self->identity,
                                                &self->limits.connection);
  peer->frame_handler = g_signal_connect (peer->connection, "frame-received", G_CALLBACK (on_frame_received), peer);
  peer->drained_handler = g_signal_connect (peer->connection, "drained", G_CALLBACK (on_drained), peer);
  peer->closed_handler = g_signal_connect (peer->connection, "closed", G_CALLBACK (on_closed), peer);
  g_hash_table_insert (self->peers, peer->connection, peer);
  self->n_connections++;

  if (self->limits.connection.handshake_timeout_ms > 0)
    {
      peer->hello_timeout = g_timeout_source_new (self->limits.connection.handshake_timeout_ms);
      g_source_set_callback (peer->hello_timeout, hello_timeout_cb, peer, NULL);
      g_source_set_static_name (peer->hello_timeout, "[usi] relay hello timeout");
      g_source_attach (peer->hello_timeout, self->context);
    }

  g_debug ("connection %" G_GUINT64_FORMAT ": accepted (%u open)", peer->id, self->n_connections);
  usi_connection_handshake_async (peer->connection, NULL, handshake_cb, peer_ref (peer));
  return TRUE;
}

/* Loading */

typedef struct
{
  UsiRelay *self;
  GError   *error;
} LoadData;

static void
load_room_cb (const guint8     *room_id,
              UsiRelayRoomKind  kind,
              GBytes           *chain_state,
              guint64           last_seq,
              gpointer          user_data)
{
  LoadData *data = user_data;
  UsiCommitChain *chain = NULL;

  if (data->error != NULL)
    return;

  if (kind == USI_RELAY_ROOM_OWNED)
    {
      if (chain_state == NULL)
        {
          g_set_error_literal (&data->error, USI_NET_ERROR, USI_NET_ERROR_STORAGE,
                               _("The relay’s store lists an owned room without its state. Restore the state directory from a backup, or start with an empty one."));
          return;
        }
      chain = usi_commit_chain_restore (g_bytes_get_data (chain_state, NULL), g_bytes_get_size (chain_state),
                                        &data->error);
      if (chain == NULL)
        {
          g_prefix_error (&data->error, _("The relay’s store holds a room it cannot read: "));
          return;
        }
    }

  add_room (data->self, room_new (room_id, kind, chain, last_seq));
}

/* Lifecycle */

static void
usi_relay_dispose (GObject *object)
{
  UsiRelay *self = (UsiRelay *)object;

  usi_relay_stop (self);
  if (self->peers != NULL)
    reap_closed_peers (self, TRUE);
  if (self->reap_source != NULL)
    {
      g_source_destroy (self->reap_source);
      g_clear_pointer (&self->reap_source, g_source_unref);
    }
  if (self->prune_source != NULL)
    {
      g_source_destroy (self->prune_source);
      g_clear_pointer (&self->prune_source, g_source_unref);
    }

  G_OBJECT_CLASS (usi_relay_parent_class)->dispose (object);
}

static void
usi_relay_finalize (GObject *object)
{
  UsiRelay *self = (UsiRelay *)object;

  g_clear_pointer (&self->peers, g_hash_table_unref);
  g_clear_pointer (&self->rooms, g_hash_table_unref);
  g_clear_pointer (&self->addresses, g_ptr_array_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_object (&self->store);
  g_clear_object (&self->identity);

  G_OBJECT_CLASS (usi_relay_parent_class)->finalize (object);
}

static void
usi_relay_class_init (UsiRelayClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = usi_relay_dispose;
  object_class->finalize = usi_relay_finalize;

  room_hash_seed = g_random_int ();
}

static void
usi_relay_init (UsiRelay *self)
{
  self->peers = g_hash_table_new_full (NULL, NULL, NULL, (GDestroyNotify) peer_unref);
  self->rooms = g_hash_table_new_full (room_id_hash, room_id_equal, NULL, (GDestroyNotify) room_free);
  self->addresses = g_ptr_array_new_with_free_func (g_free);
  self->context = g_main_context_ref_thread_default ();
}

/* API */

UsiRelay *
usi_relay_new (UsiTlsIdentity        *identity,
               UsiRelayStore         *store,
               const UsiRelayLimits  *limits,
               GError               **error)
{
  g_autoptr(UsiRelay) self = NULL;
  LoadData load = { 0 };

  g_return_val_if_fail (USI_IS_TLS_IDENTITY (identity), NULL);
  g_return_val_if_fail (USI_IS_RELAY_STORE (store), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (USI_TYPE_RELAY, NULL);
  self->identity = g_object_ref (identity);
  self->store = g_object_ref (store);
  if (limits != NULL)
    self->limits = *limits;
  else
    usi_relay_limits_init_default (&self->limits);
  if (self->limits.backlog_page_frames == 0)
    self->limits.backlog_page_frames = 64;

  load.self = self;
  if (!usi_relay_store_foreach_room (store, load_room_cb, &load, error))
    {
      g_clear_error (&load.error);
      return NULL;
    }
  if (load.error != NULL)
    {
      g_propagate_error (error, load.error);
      return NULL;
    }

  self->service = g_socket_service_new ();
  /* GLib's default of 10 pending connections drops bursts of newcomers
   * long before the connection limit; the kernel caps this anyway. */
  g_socket_listener_set_backlog (G_SOCKET_LISTENER (self->service),
                                 (int) CLAMP (self->limits.max_connections, 16, 4096));
  g_signal_connect (self->service, "incoming", G_CALLBACK (on_incoming), self);

  self->prune_source = g_timeout_source_new_seconds (PRUNE_INTERVAL_SECONDS);
  g_source_set_callback (self->prune_source, prune_cb, self, NULL);
  g_source_set_static_name (self->prune_source, "[usi] relay prune");
  g_source_attach (self->prune_source, self->context);

  g_debug ("relay: %u rooms loaded", g_hash_table_size (self->rooms));
  return g_steal_pointer (&self);
}

/* "HOST:PORT": an IPv4 address, "[IPv6]" or "localhost", PORT 0–65535. */
static gboolean
parse_listen_address (const char     *address,
                      GInetAddress  **inet,
                      guint16        *port,
                      GError        **error)
{
  g_autofree char *host = NULL;
  const char *port_text;
  guint64 value = 0;

  if (address[0] == '[')
    {
      const char *end = strchr (address, ']');

      if (end == NULL || end[1] != ':')
        goto invalid;
      host = g_strndup (address + 1, end - address - 1);
      port_text = end + 2;
      *inet = g_inet_address_new_from_string (host);
      if (*inet == NULL || g_inet_address_get_family (*inet) != G_SOCKET_FAMILY_IPV6)
        goto invalid;
    }
  else
    {
      const char *colon = strrchr (address, ':');

      if (colon == NULL)
        goto invalid;
      host = g_strndup (address, colon - address);
      port_text = colon + 1;
      if (g_ascii_strcasecmp (host, "localhost") == 0)
        *inet = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
      else
        *inet = g_inet_address_new_from_string (host);
      if (*inet == NULL || g_inet_address_get_family (*inet) != G_SOCKET_FAMILY_IPV4)
        goto invalid;
    }

  if (port_text[0] == '\0' || strlen (port_text) > 5)
    goto invalid;
  for (const char *p = port_text; *p != '\0'; p++)
    {
      if (!g_ascii_isdigit (*p))
        goto invalid;
      value = value * 10 + (guint64) (*p - '0');
    }
  if (value > G_MAXUINT16)
    goto invalid;

  *port = (guint16) value;
  return TRUE;

invalid:
  g_clear_object (inet);
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               /* Translators: %s is what was given as the address to listen on */
               _("Cannot listen on “%s”: give an IP address or localhost and a port, like 0.0.0.0:12800 or [::]:12800."),
               address);
  return FALSE;
}

GSocketAddress *
usi_relay_parse_listen_address (const char  *address,
                                GError     **error)
{
  g_autoptr(GInetAddress) inet = NULL;
  guint16 port = 0;

  g_return_val_if_fail (address != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!parse_listen_address (address, &inet, &port, error))
    return NULL;
  return g_inet_socket_address_new (inet, port);
}

gboolean
usi_relay_listen (UsiRelay    *self,
                  const char  *address,
                  GError     **error)
{
  g_autoptr(GSocketAddress) socket_address = NULL;
  g_autoptr(GSocketAddress) effective = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *host = NULL;
  GInetSocketAddress *real;
  char *formatted;

  g_return_val_if_fail (USI_IS_RELAY (self), FALSE);
  g_return_val_if_fail (address != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->service == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_CLOSED,
                   /* Translators: %s is an address and port, like 0.0.0.0:12800 */
                   _("Cannot listen on %s: the relay was stopped."), address);
      return FALSE;
    }
  socket_address = usi_relay_parse_listen_address (address, error);
  if (socket_address == NULL)
    return FALSE;

  if (!g_socket_listener_add_address (G_SOCKET_LISTENER (self->service), socket_address,
                                      G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                      NULL, &effective, &local_error))
    {
      if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE))
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                       /* Translators: %s is an address and port, like 0.0.0.0:12800 */
                       _("Cannot listen on %s: the port is in use."), address);
        }
      else
        {
          g_set_error (error, local_error->domain, local_error->code,
                       /* Translators: an address and port, then the system's reason */
                       _("Cannot listen on %s: %s"), address, local_error->message);
        }
      return FALSE;
    }

  real = G_INET_SOCKET_ADDRESS (effective);
  host = g_inet_address_to_string (g_inet_socket_address_get_address (real));
  if (g_inet_address_get_family (g_inet_socket_address_get_address (real)) == G_SOCKET_FAMILY_IPV6)
    formatted = g_strdup_printf ("[%s]:%u", host, g_inet_socket_address_get_port (real));
  else
    formatted = g_strdup_printf ("%s:%u", host, g_inet_socket_address_get_port (real));
  if (self->addresses->len == 0)
    self->port = g_inet_socket_address_get_port (real);
  g_ptr_array_add (self->addresses, formatted);

  g_socket_service_start (self->service);
  g_debug ("relay: listening on %s", formatted);
  return TRUE;
}

char *
usi_relay_dup_listen_address (UsiRelay *self)
{
  g_return_val_if_fail (USI_IS_RELAY (self), NULL);

  if (self->addresses->len == 0)
    return NULL;
  return g_strdup (g_ptr_array_index (self->addresses, 0));
}

guint16
usi_relay_get_port (UsiRelay *self)
{
  g_return_val_if_fail (USI_IS_RELAY (self), 0);

  return self->port;
}

UsiTlsIdentity *
usi_relay_get_identity (UsiRelay *self)
{
  g_return_val_if_fail (USI_IS_RELAY (self), NULL);

  return self->identity;
}

guint
usi_relay_get_n_connections (UsiRelay *self)
{
  g_return_val_if_fail (USI_IS_RELAY (self), 0);

  return self->n_connections;
}

gsize
usi_relay_get_peak_queued_bytes (UsiRelay *self)
{
  g_return_val_if_fail (USI_IS_RELAY (self), 0);

  return self->peak_queued_bytes;
}

void
usi_relay_stop (UsiRelay *self)
{
  GHashTableIter iter;
  Peer *peer;

  g_return_if_fail (USI_IS_RELAY (self));

  if (self->service != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->service, self);
      g_socket_service_stop (self->service);
      g_socket_listener_close (G_SOCKET_LISTENER (self->service));
      g_clear_object (&self->service);
      g_debug ("relay: stopped listening");
    }

  if (self->peers == NULL)
    return;

  /* Closing only marks each peer; the reap frees them outside any
   * handler that might be running. */
  g_hash_table_iter_init (&iter, self->peers);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &peer))
    peer_close (peer);
}
