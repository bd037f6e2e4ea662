/* SPDX-License-Identifier: GPL-3.0-or-later */

/* A model-based test of owned rooms (issue 4): random sequences of joins,
 * removals, rotations, leaf updates, messages, members going offline and
 * coming back, over rooms of 3 to 8 members, checked against a small model
 * of the relay and of who is a member of which epoch.
 *
 * The relay.  Each room has one ordered log of whole frames (usi_frame_*):
 * commits, welcomes, application messages and leaf updates, each stamped
 * with the time the relay received it.  Every participant (the owner
 * included) has a cursor in the log; an online participant processes every
 * frame as soon as it is logged, an offline one later, in the same order.
 * A joiner's cursor starts right after its welcome.  Messages "in flight"
 * are sealed in one step and reach the relay in a later one, possibly after
 * commits: the messages that cross a commit.  Receivers pass the frame's
 * relay time as now_ms, so what a member can open never depends on when it
 * was online.
 *
 * The model.  A person is a member of epochs join_epoch … removed_epoch - 1
 * (nobody joins twice).  It knows, for every participant, the epoch its state
 * is in and since when, what it sealed and opened, and its LeafUpdates not
 * yet committed.
 *
 * The oracle, for every message and every participant that processes it
 * (current members, members who were offline, removed members who keep
 * their old state and keep reading, joiners reading the history from before
 * their welcome): a participant obtains the plaintext if and only if it was
 * a member in the message's epoch (its own messages come back as
 * REFLECTED); then the body, the sender's index, identity and name, the
 * generation and the gap flag are exactly the model's.  For a message that reached the relay before any later commit
 * (every message but those in flight) this is checked literally.  A message
 * that crossed a commit also has to pass the message channel's epoch window
 * (docs/protocol.md §8.5): the previous epoch only, for 5 minutes of relay
 * time after the commit, and only from a sender still in the room.  Every
 * refusal is one exact USI_PROTOCOL_ERROR code, see expected_outcome().
 * A non-member also bypasses its channel and tries what it holds: the
 * frame with its header rewritten to its own epoch, and its own epoch's
 * ratchet keys straight through the AEAD; a removed member tries its old
 * leaf key on later commits.  It never gets a plaintext or a secret.
 *
 * And after every step: all current members agree with the owner on the
 * epoch (number, GroupContext, epoch_authenticator, roster); each commit
 * delivers its commit_secret to exactly the members of both epochs, and
 * gives every member the epoch the owner recorded for it; a removed member's
 * group says so, stays in its last epoch and refuses later commits; the
 * owner's rotation comes exactly when the configured number of messages of
 * the epoch has been seen, and members report "rotation pending" exactly
 * when their own count reaches the interval their epoch carries.
 *
 * Replay a run: USI_MODEL_SEED=<seed> [USI_MODEL_STEPS=<steps>] test-model.
 * The default seed is fixed, so CI is reproducible; -m slow adds a run from
 * a seed drawn by g_test_rand_int(), printed for replay. */

#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "crypto/usi-aead.h"
#include "crypto/usi-crypto-error.h"
#include "crypto/usi-mls-key-schedule.h"
#include "crypto/usi-mls-secret-tree.h"
#include "crypto/usi-random.h"
#include "protocol/usi-commit.h"
#include "protocol/usi-frame.h"
#include "protocol/usi-group-info.h"
#include "protocol/usi-invite.h"
#include "protocol/usi-join.h"
#include "protocol/usi-member-group.h"
#include "protocol/usi-message.h"
#include "protocol/usi-message-channel.h"
#include "protocol/usi-owner-group.h"
#include "protocol/usi-protocol-error.h"

#define DEFAULT_SEED      20240601u
#define DEFAULT_STEPS     10000u
#define SLOW_STEPS        60000u
#define MIN_ROOM_MEMBERS  3         /* the owner included */
#define MAX_ROOM_MEMBERS  8
#define MIN_ROOM_STEPS    300
#define MAX_ROOM_STEPS    1200
#define START_MS          G_GUINT64_CONSTANT (1700000000000)
#define STEP_MS           G_GUINT64_CONSTANT (1000)
#define INVITE_LIFE_MS    (G_GUINT64_CONSTANT (7) * 24 * 3600 * 1000)
#define RELAY             "relay.example.org:7447"
#define PASSWORD          "correct horse battery staple"
/* How many messages from before its welcome a joiner tries to read. */
#define HISTORY_PROBES    4
/* How many later commits a removed member tries its old leaf key on. */
#define OLD_LEAF_TRIES    2
/* An expected outcome that is not an error: the plaintext comes out. */
#define OPENS             (-1)
#define N_ERROR_CODES     (USI_PROTOCOL_ERROR_KEY_EXPIRED + 1)

static const guint32 rotation_intervals[] = { 3, 8, 20, 50, 100 };

typedef enum
{
  OP_SEND,
  OP_SEND_IN_FLIGHT,
  OP_DELIVER_IN_FLIGHT,
  OP_REMOVED_SENDS,
  OP_GO_OFFLINE,
  OP_COME_BACK,
  OP_OWNER_OFFLINE,
  OP_OWNER_BACK,
  OP_LEAF_UPDATE,
  OP_ROTATE,
  OP_JOIN,
  OP_REMOVE,
  OP_SET_ROTATE_AFTER,
  OP_TIME_PASSES,
  OP_AUTO_ROTATE,       /* never drawn: the owner's rotation policy */
  N_OPS
} Op;

/* Commits (HPKE to every member) are a minority: sends dominate. */
static const struct
{
  const char *name;
  guint       weight;
} op_table[N_OPS] = {
  [OP_SEND]             = { "send", 56 },
  [OP_SEND_IN_FLIGHT]   = { "send-in-flight", 6 },
  [OP_DELIVER_IN_FLIGHT] = { "deliver-in-flight", 4 },
  [OP_REMOVED_SENDS]    = { "removed-member-sends", 2 },
  [OP_GO_OFFLINE]       = { "go-offline", 4 },
  [OP_COME_BACK]        = { "come-back", 5 },
  [OP_OWNER_OFFLINE]    = { "owner-offline", 1 },
  [OP_OWNER_BACK]       = { "owner-back", 4 },
  [OP_LEAF_UPDATE]      = { "leaf-update", 4 },
  [OP_ROTATE]           = { "rotate", 2 },
  [OP_JOIN]             = { "join", 4 },
  [OP_REMOVE]           = { "remove", 4 },
  [OP_SET_ROTATE_AFTER] = { "set-rotate-after", 1 },
  [OP_TIME_PASSES]      = { "time-passes", 2 },
  [OP_AUTO_ROTATE]      = { "auto-rotate", 0 },
};

typedef struct
{
  guint64 steps;
  guint64 rooms;
  guint64 setup_joins;                /* the joins that fill a new room, not steps */
  guint64 ops[N_OPS];
  gint64  op_usec[N_OPS];             /* each drawn operation with what follows from it */
  guint64 deliveries;                 /* (message, participant) pairs checked */
  guint64 opened;
  guint64 refused[N_ERROR_CODES];
  guint64 crossed_deliveries;         /* of messages that crossed a commit */
  guint64 grace_boundary;             /* relayed exactly when the previous epoch's grace ends */
  guint64 rotation_pending;           /* members told "rotation pending" */
  guint64 history_probes;             /* joiners reading messages from before their welcome */
  guint64 forged_probes;              /* non-members opening with the header rewritten */
  guint64 old_key_probes;             /* non-members trying the ratchet keys they hold */
  guint64 old_leaf_probes;            /* removed members opening a later commit's delivery */
  guint64 gap_checks;
  guint64 commits_applied;
  guint64 commits_removed;
  guint64 commits_after_removal;
  guint64 agreement_checks;
  guint64 rotation_checks;
  guint64 leaf_updates_refused;
} Stats;

typedef struct
{
  guint32    seed;
  GRand     *rand;
  UsiRandom *random;
  Stats      stats;
} Run;

/* One frame as the relay stored it, with what the model knows of it. */
typedef struct
{
  guint8           type;          /* UsiFrameType */
  GBytes          *wire;          /* the whole frame */
  guint64          relay_ms;
  guint64          epoch;         /* message: sealed in; commit: the new epoch; leaf update: the sender's */
  guint            sender;        /* person id: messages and leaf updates */
  guint            subject;       /* person id: who a commit adds, removes or updates; a welcome's joiner */
  UsiCommitReason  reason;
  guint32          generation;    /* messages */
  guint32          sequence;      /* leaf updates and update commits: the new leaf's */
  GBytes          *plaintext;     /* messages */
  guint64          sent_ms;
  gboolean         crossed;       /* a message the relay got after a commit it was sealed before */
} Frame;

typedef struct
{
  guint              id;
  char              *name;
  gboolean           is_owner;
  UsiIdentity       *identity;
  UsiLeafSecret      leaf;             /* the one it joined with */
  UsiMemberGroup    *group;            /* NULL for the owner */
  UsiMessageChannel *channel;
  guint              cursor;           /* the next log position to process */
  gboolean           online;
  /* The model. */
  guint32            index;
  guint64            join_epoch;
  guint64            removed_epoch;    /* G_MAXUINT64 while in the room */
  gboolean           knows_removed;    /* processed the commit that removed it */
  guint64            epoch;            /* the epoch its state is in */
  guint64            epoch_since_ms;   /* relay time of the commit that made it */
  guint32            message_count;    /* messages of that epoch it noted */
  guint64            seal_epoch;
  guint32            next_generation;  /* its next generation in seal_epoch */
  guint32            leaf_sequence;    /* of its leaf in the roster */
  GArray            *pending;          /* guint32: sequences of LeafUpdates not committed yet */
  GHashTable        *received;         /* message_key () of every message it opened */
  GHashTable        *highest;          /* chain_key () → highest generation opened + 1 */
  guint              old_leaf_tries;
} Person;

typedef struct
{
  guint8  authenticator[32];
  guint32 rotate_after;
  guint   n_members;
} EpochRecord;

typedef struct
{
  Run           *run;
  guint          number;
  guint8         room_id[USI_ROOM_ID_LENGTH];
  guint8         relay_pin[USI_INVITE_RELAY_PIN_LENGTH];
  gboolean       has_password;
  guint8         password_key[USI_JOIN_PASSWORD_KEY_LENGTH];
  guint8         password_psk[USI_JOIN_PASSWORD_PSK_LENGTH];
  UsiLeafSecret  owner_leaf;
  UsiOwnerGroup *owner_group;
  UsiInviteBook *book;
  GPtrArray     *people;          /* Person; [0] is the owner */
  GPtrArray     *log;             /* Frame, in relay order */
  GPtrArray     *in_flight;       /* Frame, sealed but not at the relay yet */
  GPtrArray     *owner_updates;   /* Frame (borrowed): LeafUpdates the owner read, to apply */
  GArray        *epochs;          /* EpochRecord, by epoch number */
  guint32        rotate_after;    /* the owner's current setting */
  guint          n_members;
  guint64        now_ms;
  guint64        last_commit_ms;
} Room;

/* Failure context ------------------------------------------------------- */

/* What a failed assertion needs to be replayed, written by the SIGABRT
 * handler (g_assert aborts). */
static char failure_context[256];

static void
on_abort (int signal_number)
{
  ssize_t ignored = write (STDERR_FILENO, failure_context, strlen (failure_context));

  (void) ignored;
  signal (signal_number, SIG_DFL);
  raise (signal_number);
}

static void
set_failure_context (Run        *run,
                     const Room *room,
                     const char *what)
{
  snprintf (failure_context, sizeof failure_context,
            "\n# test-model failed: USI_MODEL_SEED=%u, step %" G_GUINT64_FORMAT ", room %u, %s\n",
            run->seed, run->stats.steps + 1, room != NULL ? room->number : 0, what);
}

/* Model keys ------------------------------------------------------------- */

static guint64
chain_key (guint64 epoch,
           guint   sender)
{
  g_assert_cmpuint (epoch, <, G_GUINT64_CONSTANT (1) << 28);
  g_assert_cmpuint (sender, <, 1u << 12);
  return (epoch << 36) | ((guint64) sender << 24);
}

static guint64
message_key (guint64 epoch,
             guint   sender,
             guint32 generation)
{
  g_assert_cmpuint (generation, <, 1u << 24);
  return chain_key (epoch, sender) | generation;
}

static gboolean
has_key (GHashTable *table,
         guint64     key)
{
  return g_hash_table_contains (table, &key);
}

static guint
lookup_count (GHashTable *table,
              guint64     key)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (table, &key));
}

static void
insert_key (GHashTable *table,
            guint64     key,
            guint       value)
{
  g_hash_table_insert (table, g_memdup2 (&key, sizeof key), GUINT_TO_POINTER (value));
}

/* People and frames ------------------------------------------------------ */

static Person *
person_new (Room       *room,
            const char *name,
            gboolean    is_owner)
{
  g_autoptr(GError) error = NULL;
  Person *person = g_new0 (Person, 1);

  person->id = room->people->len;
  person->name = g_strdup (name);
  person->is_owner = is_owner;
  person->identity = usi_identity_generate (room->run->random, &error);
  g_assert_no_error (error);
  g_assert_true (usi_leaf_secret_generate (room->run->random, person->identity, 1, room->now_ms,
                                           &person->leaf, &error));
  g_assert_no_error (error);
  person->online = TRUE;
  /* A joiner is a member from its welcome on; the owner from epoch 0. */
  person->join_epoch = is_owner ? 0 : G_MAXUINT64;
  person->removed_epoch = G_MAXUINT64;
  person->seal_epoch = G_MAXUINT64;
  person->leaf_sequence = 1;
  person->pending = g_array_new (FALSE, FALSE, sizeof (guint32));
  person->received = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  person->highest = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, NULL);
  g_ptr_array_add (room->people, person);
  return person;
}

static void
person_free (Person *person)
{
  g_clear_pointer (&person->channel, usi_message_channel_free);
  g_clear_pointer (&person->group, usi_member_group_free);
  g_clear_pointer (&person->identity, usi_identity_free);
  usi_leaf_secret_clear (&person->leaf);
  g_clear_pointer (&person->pending, g_array_unref);
  g_clear_pointer (&person->received, g_hash_table_unref);
  g_clear_pointer (&person->highest, g_hash_table_unref);
  g_free (person->name);
  g_free (person);
}

static void
frame_free (Frame *frame)
{
  g_clear_pointer (&frame->wire, g_bytes_unref);
  g_clear_pointer (&frame->plaintext, g_bytes_unref);
  g_free (frame);
}

static Frame *
frame_new (guint8  type,
           GBytes *body)
{
  g_autoptr(GError) error = NULL;
  Frame *frame = g_new0 (Frame, 1);

  frame->type = type;
  frame->wire = usi_frame_encode (type, g_bytes_get_data (body, NULL), g_bytes_get_size (body), &error);
  g_assert_no_error (error);
  g_assert_nonnull (frame->wire);
  return frame;
}

/* The body, as a receiver gets it out of the frame. */
static const guint8 *
frame_open (const Frame *frame,
            gsize       *length)
{
  g_autoptr(GError) error = NULL;
  const guint8 *body;
  guint8 type;

  g_assert_true (usi_frame_decode (g_bytes_get_data (frame->wire, NULL), g_bytes_get_size (frame->wire),
                                   &type, &body, length, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (type, ==, frame->type);
  return body;
}

static Person *
room_person (Room *room,
             guint id)
{
  g_assert_cmpuint (id, <, room->people->len);
  return g_ptr_array_index (room->people, id);
}

static Person *
room_owner (Room *room)
{
  return room_person (room, 0);
}

static gboolean
is_member_in (const Person *person,
              guint64       epoch)
{
  return person->join_epoch <= epoch && epoch < person->removed_epoch;
}

static gboolean
is_current_member (const Person *person)
{
  return person->removed_epoch == G_MAXUINT64;
}

/* Who had @index in @epoch, or NULL. */
static Person *
find_member_at (Room    *room,
                guint32  index,
                guint64  epoch)
{
  for (guint i = 0; i < room->people->len; i++)
    {
      Person *person = g_ptr_array_index (room->people, i);

      if (person->index == index && is_member_in (person, epoch))
        return person;
    }

  return NULL;
}

static guint64
room_epoch (Room *room)
{
  return usi_epoch_get_number (usi_owner_group_get_epoch (room->owner_group));
}

static const EpochRecord *
room_epoch_record (Room    *room,
                   guint64  epoch)
{
  g_assert_cmpuint (epoch, <, room->epochs->len);
  return &g_array_index (room->epochs, EpochRecord, epoch);
}

/* The relay receives @frame now. */
static void
room_relay (Room  *room,
            Frame *frame)
{
  frame->relay_ms = room->now_ms;
  frame->crossed = frame->type == USI_FRAME_APP_MESSAGE && frame->epoch != room_epoch (room);
  g_ptr_array_add (room->log, frame);
}

static void
assert_epoch_is_record (Room     *room,
                        UsiEpoch *epoch)
{
  const EpochRecord *record = room_epoch_record (room, usi_epoch_get_number (epoch));

  g_assert_cmpmem (usi_epoch_get_secrets (epoch)->epoch_authenticator, 32, record->authenticator, 32);
  g_assert_cmpuint (usi_epoch_get_roster (epoch)->len, ==, record->n_members);
}

/* The owner's side ------------------------------------------------------- */

static void owner_rotate (Room *room, gboolean automatic);

/* commit_secret goes to exactly the members of both epochs but the owner,
 * in index order: never to whom the commit removes (rows C5, C7), nor to
 * whom it adds (they get a welcome). */
static void
assert_deliveries (Room            *room,
                   const UsiCommit *commit,
                   guint            subject)
{
  guint n_expected = 0;

  /* Called before the model marks the subject removed or joined. */
  for (guint i = 1; i < room->people->len; i++)
    {
      const Person *person = g_ptr_array_index (room->people, i);
      gboolean stays = commit->epoch > 0 && is_member_in (person, commit->epoch - 1) &&
                       !(commit->reason == USI_COMMIT_REASON_REMOVE && person->id == subject);

      if (stays)
        {
          g_assert_nonnull (usi_commit_lookup_delivery (commit, person->index));
          n_expected++;
        }
    }
  g_assert_cmpuint (commit->deliveries->len, ==, n_expected);
  for (guint i = 1; i < commit->deliveries->len; i++)
    g_assert_cmpuint (g_array_index (commit->deliveries, UsiCommitDelivery, i - 1).index, <,
                      g_array_index (commit->deliveries, UsiCommitDelivery, i).index);
}

/* The owner made @commit_body (its group is already in the new epoch):
 * record the epoch, move the owner's channel, hand the commit to the relay. */
static void
owner_committed (Room            *room,
                 GBytes          *commit_body,
                 UsiCommitReason  reason,
                 guint            subject,
                 guint32          sequence)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiCommit) commit = usi_commit_decode (g_bytes_get_data (commit_body, NULL),
                                                   g_bytes_get_size (commit_body), &error);
  UsiEpoch *epoch = usi_owner_group_get_epoch (room->owner_group);
  Person *owner = room_owner (room);
  EpochRecord record = { { 0 } };
  Frame *frame;

  g_assert_no_error (error);
  g_assert_cmpuint (commit->epoch, ==, room->epochs->len);
  g_assert_cmpuint (commit->epoch, ==, usi_epoch_get_number (epoch));
  g_assert_cmpint (commit->reason, ==, reason);
  g_assert_cmpuint (commit->config.rotate_after_messages, ==, room->rotate_after);
  g_assert_cmpuint (commit->roster->len, ==, room->n_members);
  assert_deliveries (room, commit, subject);
  g_assert_cmpuint (usi_owner_group_get_message_count (room->owner_group), ==, 0);
  g_assert_false (usi_owner_group_is_rotation_due (room->owner_group));

  memcpy (record.authenticator, usi_epoch_get_secrets (epoch)->epoch_authenticator, 32);
  record.rotate_after = commit->config.rotate_after_messages;
  record.n_members = commit->roster->len;
  g_array_append_val (room->epochs, record);

  if (owner->channel == NULL)
    owner->channel = usi_message_channel_new (epoch, &error);
  else
    g_assert_true (usi_message_channel_advance (owner->channel, epoch, room->now_ms, &error));
  g_assert_no_error (error);
  owner->epoch = commit->epoch;
  owner->epoch_since_ms = room->now_ms;
  owner->message_count = 0;
  room->last_commit_ms = room->now_ms;

  frame = frame_new (USI_FRAME_COMMIT, commit_body);
  frame->epoch = commit->epoch;
  frame->reason = reason;
  frame->subject = subject;
  frame->sequence = sequence;
  room_relay (room, frame);
}

/* The owner counts a message it sent or opened, and rotates the moment its
 * policy says so. */
static void
owner_note (Room    *room,
            guint64  epoch,
            guint32  sender_index)
{
  Person *owner = room_owner (room);
  gboolean due;

  if (epoch == owner->epoch)
    owner->message_count++;
  due = usi_owner_group_note_message (room->owner_group, epoch, sender_index);
  room->run->stats.rotation_checks++;
  g_assert_cmpuint (usi_owner_group_get_message_count (room->owner_group), ==, owner->message_count);
  g_assert_cmpint (due, ==, owner->message_count >= room->rotate_after);
  if (due)
    {
      /* The owner rotates as soon as it is due, so the count reaches the
       * interval exactly: the rotation happens at the configured N. */
      g_assert_cmpuint (owner->message_count, ==, room->rotate_after);
      owner_rotate (room, TRUE);
    }
}

static void
member_note (Room    *room,
             Person  *person,
             guint64  epoch,
             guint32  sender_index)
{
  gboolean pending;

  if (epoch == person->epoch)
    person->message_count++;
  pending = usi_member_group_note_message (person->group, epoch, sender_index);
  room->run->stats.rotation_checks++;
  g_assert_cmpint (pending, ==,
                   !person->knows_removed &&
                   person->message_count >= room_epoch_record (room, person->epoch)->rotate_after);
  if (pending)
    room->run->stats.rotation_pending++;
}

static void
note_message (Room    *room,
              Person  *person,
              guint64  epoch,
              guint32  sender_index)
{
  if (person->is_owner)
    owner_note (room, epoch, sender_index);
  else
    member_note (room, person, epoch, sender_index);
}

static void
owner_rotate (Room     *room,
              gboolean  automatic)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) commit = NULL;

  g_assert_true (room_owner (room)->online);
  g_assert_true (usi_owner_group_rotate (room->owner_group, room->run->random, &commit, &error));
  g_assert_no_error (error);
  if (automatic)
    room->run->stats.ops[OP_AUTO_ROTATE]++;
  owner_committed (room, commit, USI_COMMIT_REASON_ROTATE, 0, 0);
}

/* The LeafUpdates the owner read, committed in the order they came. */
static gboolean
owner_apply_updates (Room *room)
{
  gboolean applied = room->owner_updates->len > 0;

  for (guint i = 0; i < room->owner_updates->len; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GBytes) commit = NULL;
      Frame *frame = g_ptr_array_index (room->owner_updates, i);
      Person *sender = room_person (room, frame->sender);
      const guint8 *body;
      gsize length;
      gboolean ok;

      body = frame_open (frame, &length);
      ok = usi_owner_group_apply_leaf_update (room->owner_group, body, length, room->run->random,
                                              &commit, &error);
      if (!is_current_member (sender))
        {
          /* Removed after it sent the update: nothing to seal to. */
          g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_MEMBER);
          g_assert_false (ok);
          continue;
        }
      g_assert_no_error (error);
      g_assert_true (ok);
      owner_committed (room, commit, USI_COMMIT_REASON_UPDATE, sender->id, frame->sequence);
    }
  g_ptr_array_set_size (room->owner_updates, 0);
  return applied;
}

/* Opening messages ------------------------------------------------------- */

/* What @receiver, in the state the model gives it, must get from the
 * message @frame from @sender.  OPENS, or the one error code:
 *
 * - EPOCH_NOT_YET: the message's epoch is later than the receiver's.  In
 *   relay order this only happens to someone removed before that epoch
 *   (members have processed the commit that made it before they see any
 *   message of it).
 * - EPOCH_TOO_OLD: earlier than the receiver's epoch and not its open
 *   previous epoch: a joiner reading messages from before its welcome (it
 *   has no previous epoch), or a message in flight across two commits, or
 *   reaching the relay more than the 5 minutes of grace after the commit
 *   it crossed (row M8).
 * - NOT_MEMBER: the receiver's previous epoch, still open, but the sender
 *   is not in the receiver's current roster: the commit removed it (row C6).
 * - REFLECTED: the receiver's own message coming back (row M10).
 *
 * WRONG_EPOCH and DECRYPTION_FAILED cannot come out of the channel here:
 * it picks the epoch from the header, and no honest frame fails its tag.
 * A non-member then goes further, bypassing the channel: see
 * probe_forged_epoch() and probe_old_keys(). */
static gint
expected_outcome (Person      *receiver,
                  const Frame *frame,
                  Person      *sender)
{
  guint64 epoch = frame->epoch;

  /* The relay's order: a member of that epoch has seen its commit. */
  g_assert_false (epoch > receiver->epoch && is_member_in (receiver, epoch));

  if (epoch > receiver->epoch)
    return USI_PROTOCOL_ERROR_EPOCH_NOT_YET;
  if (epoch == receiver->epoch)
    return receiver == sender ? USI_PROTOCOL_ERROR_REFLECTED : OPENS;
  if (epoch + 1 == receiver->epoch && receiver->join_epoch <= epoch &&
      frame->relay_ms <= receiver->epoch_since_ms + USI_MESSAGE_EPOCH_GRACE_MS)
    {
      if (!is_member_in (sender, receiver->epoch))
        return USI_PROTOCOL_ERROR_NOT_MEMBER;
      return receiver == sender ? USI_PROTOCOL_ERROR_REFLECTED : OPENS;
    }

  return USI_PROTOCOL_ERROR_EPOCH_TOO_OLD;
}

/* A non-member goes further than its channel would: it rewrites the
 * header's epoch to the epoch it holds keys for and opens the frame with
 * that epoch directly.  It must still get nothing, with the code §8.4's
 * order gives: REFLECTED for a generation of its own index it already sent,
 * NOT_MEMBER for an index nobody has in its epoch, DUPLICATE for a
 * generation whose key it already spent, and otherwise DECRYPTION_FAILED:
 * the header is the AEAD's associated data, so a rewritten header never
 * verifies (probe_old_keys() checks the keys themselves). */
static void
probe_forged_epoch (Room         *room,
                    Person       *receiver,
                    const guint8 *body,
                    gsize         length)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiReceivedMessage) message = NULL;
  g_autofree guint8 *forged = g_memdup2 (body, length);
  UsiEpoch *epoch = usi_message_channel_get_epoch (receiver->channel);
  guint64 number = usi_epoch_get_number (epoch);
  UsiAppMessageHeader header;
  const guint8 *ciphertext;
  gsize ciphertext_length;
  Person *holder;
  guint32 own_next;
  gint expected;

  g_assert_true (usi_app_message_parse (body, length, &header, &ciphertext, &ciphertext_length, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (header.generation, <, USI_GROUP_MAX_FORWARD_JUMP / 2);
  for (guint i = 0; i < 8; i++)
    forged[1 + USI_ROOM_ID_LENGTH + i] = (guint8) (number >> (56 - 8 * i));

  own_next = receiver->seal_epoch == number ? receiver->next_generation : 0;
  holder = find_member_at (room, header.sender_index, number);
  if (header.sender_index == receiver->index && header.generation < own_next)
    expected = USI_PROTOCOL_ERROR_REFLECTED;
  else if (holder == NULL)
    expected = USI_PROTOCOL_ERROR_NOT_MEMBER;
  else if (holder != receiver && has_key (receiver->received, message_key (number, holder->id, header.generation)))
    expected = USI_PROTOCOL_ERROR_DUPLICATE;
  else
    expected = USI_PROTOCOL_ERROR_DECRYPTION_FAILED;

  message = usi_app_message_open (epoch, forged, length, &error);
  g_assert_null (message);
  g_assert_error (error, USI_PROTOCOL_ERROR, expected);
  room->run->stats.forged_probes++;
}

/* The same non-member uses the keys it does hold, those its newest epoch's
 * secret tree gives for the message's sender index and generation, on the
 * frame exactly as sent, straight through the AEAD.  No key at all
 * (INVALID_ARGUMENT: an index past the tree; KEY_CONSUMED: a generation it
 * spent, opening or sending) or a key the tag refuses (AUTHENTICATION):
 * the epochs' encryption secrets are independent. */
static void
probe_old_keys (Room         *room,
                Person       *receiver,
                const guint8 *body,
                gsize         length)
{
  g_autoptr(GError) error = NULL;
  UsiEpoch *epoch = usi_message_channel_get_epoch (receiver->channel);
  guint64 number = usi_epoch_get_number (epoch);
  UsiAppMessageHeader header;
  const guint8 *ciphertext;
  gsize ciphertext_length, plaintext_length;
  g_autofree guint8 *plaintext = NULL;
  guint8 key[USI_AEAD_KEY_LENGTH], nonce[USI_AEAD_NONCE_LENGTH];
  guint32 n_leaves = 0, own_next;
  Person *holder;
  gint expected;

  g_assert_true (usi_app_message_parse (body, length, &header, &ciphertext, &ciphertext_length, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < room->people->len; i++)
    {
      const Person *person = g_ptr_array_index (room->people, i);

      if (is_member_in (person, number))
        n_leaves = MAX (n_leaves, person->index + 1);
    }
  own_next = receiver->seal_epoch == number ? receiver->next_generation : 0;
  holder = find_member_at (room, header.sender_index, number);

  if (header.sender_index >= n_leaves)
    expected = USI_CRYPTO_ERROR_INVALID_ARGUMENT;
  else if ((header.sender_index == receiver->index && header.generation < own_next) ||
           (holder != NULL && holder != receiver &&
            has_key (receiver->received, message_key (number, holder->id, header.generation))))
    expected = USI_CRYPTO_ERROR_KEY_CONSUMED;
  else
    expected = USI_CRYPTO_ERROR_AUTHENTICATION;

  room->run->stats.old_key_probes++;
  if (!usi_mls_secret_tree_peek_key (usi_epoch_get_secret_tree (epoch), USI_MLS_RATCHET_APPLICATION,
                                     header.sender_index, header.generation, key, nonce, &error))
    {
      g_assert_error (error, USI_CRYPTO_ERROR, expected);
      return;
    }
  g_assert_no_error (error);
  g_assert_cmpint (expected, ==, USI_CRYPTO_ERROR_AUTHENTICATION);

  for (guint i = 0; i < USI_APP_MESSAGE_REUSE_GUARD_LENGTH; i++)
    nonce[i] ^= header.reuse_guard[i];
  plaintext_length = ciphertext_length - USI_AEAD_TAG_LENGTH;
  plaintext = g_malloc (plaintext_length + 1);
  g_assert_false (usi_aead_open (USI_AEAD_CHACHA20_POLY1305, key, nonce, body, USI_APP_MESSAGE_HEADER_LENGTH,
                                 ciphertext, plaintext_length, ciphertext + plaintext_length, USI_AEAD_TAG_LENGTH,
                                 plaintext, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION);
  memset (key, 0, sizeof key);
}

static void
assert_message_is (const UsiReceivedMessage *message,
                   const Frame              *frame,
                   const Person             *sender)
{
  g_assert_cmpuint (message->epoch, ==, frame->epoch);
  g_assert_cmpuint (message->sender_index, ==, sender->index);
  g_assert_cmpuint (message->generation, ==, frame->generation);
  g_assert_cmpmem (message->sender_identity_key, USI_KEY_LENGTH,
                   usi_identity_get_public_key (sender->identity), USI_KEY_LENGTH);
  g_assert_cmpmem (message->sender_leaf.identity_key, USI_KEY_LENGTH,
                   usi_identity_get_public_key (sender->identity), USI_KEY_LENGTH);
  g_assert_cmpstr (message->sender_display_name, ==, sender->name);
  g_assert_cmpuint (message->sent_ms, ==, frame->sent_ms);
  g_assert_cmpint (message->content_type, ==, USI_CONTENT_TYPE_TEXT);
  g_assert_cmpmem (g_bytes_get_data (message->body, NULL), g_bytes_get_size (message->body),
                   g_bytes_get_data (frame->plaintext, NULL), g_bytes_get_size (frame->plaintext));
}

/* The gap flag (§8.5) for honest senders: set exactly when the sender's
 * previous generation has not been opened here, unless the 32-slot window
 * cannot tell any more. */
static void
check_gap (Room                     *room,
           Person                   *receiver,
           const UsiReceivedMessage *message,
           const Frame              *frame)
{
  guint64 chain = chain_key (frame->epoch, frame->sender);
  guint highest = lookup_count (receiver->highest, chain);
  guint32 generation = frame->generation;

  if (generation == 0)
    {
      g_assert_false (message->gap);
      room->run->stats.gap_checks++;
    }
  else if (highest < generation + USI_MESSAGE_GAP_WINDOW)
    {
      gboolean has_previous = has_key (receiver->received, message_key (frame->epoch, frame->sender, generation - 1));

      g_assert_cmpint (message->gap, ==, !has_previous);
      room->run->stats.gap_checks++;
    }

  insert_key (receiver->received, message_key (frame->epoch, frame->sender, generation), 1);
  if (generation + 1 > highest)
    insert_key (receiver->highest, chain, generation + 1);
}

static void
check_open (Room        *room,
            Person      *receiver,
            const Frame *frame,
            gboolean     history)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiReceivedMessage) message = NULL;
  Stats *stats = &room->run->stats;
  Person *sender = room_person (room, frame->sender);
  const guint8 *body;
  gsize length;
  gint expected = expected_outcome (receiver, frame, sender);
  gboolean plaintext_expected = expected == OPENS || expected == USI_PROTOCOL_ERROR_REFLECTED;

  /* The oracle as stated, for every message that did not cross a commit:
   * plaintext (or, for its sender, its own message back) if and only if
   * the receiver was a member in the message's epoch.  A message that
   * crossed a commit opens only for a member of its epoch too. */
  if (!frame->crossed)
    g_assert_cmpint (plaintext_expected, ==, is_member_in (receiver, frame->epoch));
  else if (plaintext_expected)
    g_assert_true (is_member_in (receiver, frame->epoch));

  body = frame_open (frame, &length);
  message = usi_message_channel_open (receiver->channel, body, length, frame->relay_ms, &error);
  stats->deliveries++;
  if (frame->epoch + 1 == receiver->epoch &&
      frame->relay_ms == receiver->epoch_since_ms + USI_MESSAGE_EPOCH_GRACE_MS)
    stats->grace_boundary++;
  if (frame->crossed)
    stats->crossed_deliveries++;
  if (history)
    stats->history_probes++;

  if (expected != OPENS)
    {
      g_assert_null (message);
      g_assert_error (error, USI_PROTOCOL_ERROR, expected);
      stats->refused[expected]++;
      if (!is_member_in (receiver, frame->epoch))
        {
          probe_forged_epoch (room, receiver, body, length);
          probe_old_keys (room, receiver, body, length);
        }
      return;
    }

  g_assert_no_error (error);
  g_assert_nonnull (message);
  assert_message_is (message, frame, sender);
  check_gap (room, receiver, message, frame);
  stats->opened++;
  note_message (room, receiver, message->epoch, message->sender_index);
}

/* Commits ----------------------------------------------------------------- */

/* A removed member that kept the private key of its leaf (the test holds
 * it when the member never updated its leaf) tries the delivery at its old
 * index in later commits (the first OLD_LEAF_TRIES: an HPKE open each):
 * there is one only when a new member got that index, sealed to that
 * member's key, and it does not open. */
static void
try_old_leaf_key (Room         *room,
                  Person       *person,
                  const guint8 *body,
                  gsize         length)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiCommit) commit = NULL;
  const UsiCommitDelivery *delivery;
  guint8 header_hash[32], commit_secret[32];

  if (person->leaf_sequence != 1 || person->old_leaf_tries >= OLD_LEAF_TRIES)
    return;
  commit = usi_commit_decode (body, length, &error);
  g_assert_no_error (error);
  delivery = usi_commit_lookup_delivery (commit, person->index);
  if (delivery == NULL)
    return;
  person->old_leaf_tries++;

  g_assert_true (usi_commit_compute_header_hash (commit, header_hash, &error));
  g_assert_false (usi_commit_open_delivery (commit, header_hash, delivery, person->leaf.private_key,
                                            commit_secret, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
  room->run->stats.old_leaf_probes++;
}

static void
member_process_commit (Room        *room,
                       Person      *person,
                       const Frame *frame)
{
  g_autoptr(GError) error = NULL;
  Stats *stats = &room->run->stats;
  UsiMemberCommitOutcome outcome = USI_MEMBER_COMMIT_APPLIED;
  UsiEpoch *epoch;
  const guint8 *body;
  gsize length;
  gboolean ok;

  body = frame_open (frame, &length);
  ok = usi_member_group_process_commit (person->group, body, length, &outcome, &error);

  if (person->knows_removed)
    {
      /* Removed: it keeps its last epoch and refuses every later commit. */
      g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_MEMBER);
      g_assert_false (ok);
      g_assert_true (usi_member_group_is_removed (person->group));
      g_assert_cmpuint (usi_epoch_get_number (usi_member_group_get_epoch (person->group)), ==, person->epoch);
      stats->commits_after_removal++;
      try_old_leaf_key (room, person, body, length);
      return;
    }

  g_assert_no_error (error);
  g_assert_true (ok);
  g_assert_cmpuint (frame->epoch, ==, person->epoch + 1);

  if (frame->reason == USI_COMMIT_REASON_REMOVE && frame->subject == person->id)
    {
      g_assert_cmpint (outcome, ==, USI_MEMBER_COMMIT_REMOVED);
      g_assert_cmpuint (frame->epoch, ==, person->removed_epoch);
      g_assert_true (usi_member_group_is_removed (person->group));
      g_assert_false (usi_member_group_is_rotation_pending (person->group));
      /* Nothing of the new epoch, and no leaf secret left. */
      g_assert_cmpuint (usi_epoch_get_number (usi_member_group_get_epoch (person->group)), ==, person->epoch);
      g_assert_true (usi_message_channel_get_epoch (person->channel) == usi_member_group_get_epoch (person->group));
      g_assert_cmpuint (usi_member_group_get_n_pending_updates (person->group), ==, 0);
      g_array_set_size (person->pending, 0);
      person->knows_removed = TRUE;
      stats->commits_removed++;
      return;
    }

  g_assert_cmpint (outcome, ==, USI_MEMBER_COMMIT_APPLIED);
  g_assert_true (is_member_in (person, frame->epoch));
  epoch = usi_member_group_get_epoch (person->group);
  g_assert_cmpuint (usi_epoch_get_number (epoch), ==, frame->epoch);
  assert_epoch_is_record (room, epoch);
  g_assert_cmpuint (usi_member_group_get_own_index (person->group), ==, person->index);
  g_assert_cmpuint (usi_epoch_get_own_index (epoch), ==, person->index);
  g_assert_true (usi_message_channel_advance (person->channel, epoch, frame->relay_ms, &error));
  g_assert_no_error (error);
  person->epoch = frame->epoch;
  person->epoch_since_ms = frame->relay_ms;
  person->message_count = 0;
  g_assert_false (usi_member_group_is_rotation_pending (person->group));

  if (frame->reason == USI_COMMIT_REASON_UPDATE && frame->subject == person->id)
    {
      /* Its key from that LeafUpdate is now the current one; older pending
       * ones are gone, newer ones kept. */
      guint used = 0;

      while (used < person->pending->len && g_array_index (person->pending, guint32, used) != frame->sequence)
        used++;
      g_assert_cmpuint (used, <, person->pending->len);
      g_array_remove_range (person->pending, 0, used + 1);
      person->leaf_sequence = frame->sequence;
    }
  g_assert_cmpuint (usi_member_group_get_leaf_node (person->group)->sequence, ==, person->leaf_sequence);
  g_assert_cmpuint (usi_member_group_get_n_pending_updates (person->group), ==, person->pending->len);
  stats->commits_applied++;
}

/* Processing the log ------------------------------------------------------ */

static void
person_process (Room        *room,
                Person      *person,
                const Frame *frame)
{
  switch (frame->type)
    {
    case USI_FRAME_APP_MESSAGE:
      check_open (room, person, frame, FALSE);
      break;
    case USI_FRAME_COMMIT:
      if (person->is_owner)
        g_assert_cmpuint (frame->epoch, <=, person->epoch);   /* its own */
      else
        member_process_commit (room, person, frame);
      break;
    case USI_FRAME_LEAF_UPDATE:
      if (person->is_owner)
        g_ptr_array_add (room->owner_updates, (gpointer) frame);
      break;
    case USI_FRAME_WELCOME:
      /* For its joiner only, who started right after it. */
      g_assert_cmpuint (frame->subject, !=, person->id);
      break;
    default:
      g_assert_not_reached ();
    }
}

/* Everyone online processes what the relay has for them, until nothing is
 * left: the owner's reactions (leaf updates committed, rotations) are
 * logged frames too. */
static void
room_settle (Room *room)
{
  gboolean progress;

  do
    {
      progress = FALSE;
      for (guint i = 0; i < room->people->len; i++)
        {
          Person *person = g_ptr_array_index (room->people, i);

          if (!person->online)
            continue;
          while (person->cursor < room->log->len)
            {
              person_process (room, person, g_ptr_array_index (room->log, person->cursor));
              person->cursor++;
              progress = TRUE;
            }
        }
      /* The owner reads all it has before it commits the updates: messages
       * behind an update are then still of its current epoch. */
      if (room_owner (room)->online && owner_apply_updates (room))
        progress = TRUE;
    }
  while (progress);
}

/* Every current member online has processed every commit: all agree with
 * the owner on the epoch.  Removed members stay where they were. */
static void
room_check_agreement (Room *room)
{
  UsiEpoch *owner_epoch = usi_owner_group_get_epoch (room->owner_group);
  Person *owner = room_owner (room);

  g_assert_cmpuint (usi_epoch_get_number (owner_epoch), ==, room->epochs->len - 1);
  g_assert_cmpuint (owner->epoch, ==, room->epochs->len - 1);
  g_assert_true (usi_message_channel_get_epoch (owner->channel) == owner_epoch);
  g_assert_cmpuint (usi_epoch_get_roster (owner_epoch)->len, ==, room->n_members);
  assert_epoch_is_record (room, owner_epoch);

  for (guint i = 1; i < room->people->len; i++)
    {
      Person *person = g_ptr_array_index (room->people, i);
      UsiEpoch *epoch;

      if (!person->online)
        continue;
      g_assert_cmpuint (person->cursor, ==, room->log->len);
      epoch = usi_member_group_get_epoch (person->group);
      g_assert_true (usi_message_channel_get_epoch (person->channel) == epoch);
      g_assert_cmpuint (usi_epoch_get_number (epoch), ==, person->epoch);

      if (!is_current_member (person))
        {
          g_assert_true (person->knows_removed);
          g_assert_true (usi_member_group_is_removed (person->group));
          g_assert_cmpuint (person->epoch + 1, ==, person->removed_epoch);
          continue;
        }

      g_assert_false (usi_member_group_is_removed (person->group));
      g_assert_cmpuint (usi_epoch_get_number (epoch), ==, usi_epoch_get_number (owner_epoch));
      g_assert_true (g_bytes_equal (usi_epoch_get_group_context (epoch), usi_epoch_get_group_context (owner_epoch)));
      g_assert_cmpmem (usi_epoch_get_secrets (epoch)->epoch_authenticator, 32,
                       usi_epoch_get_secrets (owner_epoch)->epoch_authenticator, 32);
      g_assert_cmpuint (usi_epoch_get_roster (epoch)->len, ==, usi_epoch_get_roster (owner_epoch)->len);
      g_assert_cmpuint (usi_member_group_get_own_index (person->group), ==, person->index);
      room->run->stats.agreement_checks++;
    }
}

/* Operations -------------------------------------------------------------- */

static Person *
pick (Room     *room,
      gboolean (*eligible) (Person *person))
{
  guint n = 0, chosen;

  for (guint i = 0; i < room->people->len; i++)
    if (eligible (g_ptr_array_index (room->people, i)))
      n++;
  if (n == 0)
    return NULL;

  chosen = (guint) g_rand_int_range (room->run->rand, 0, (gint32) n);
  for (guint i = 0; i < room->people->len; i++)
    {
      Person *person = g_ptr_array_index (room->people, i);

      if (eligible (person) && chosen-- == 0)
        return person;
    }

  g_assert_not_reached ();
}

static gboolean
can_send (Person *person)
{
  return person->online && is_current_member (person);
}

static gboolean
is_online_removed (Person *person)
{
  return person->online && person->knows_removed;
}

static gboolean
can_go_offline (Person *person)
{
  return !person->is_owner && person->online;
}

static gboolean
can_come_back (Person *person)
{
  return !person->is_owner && !person->online;
}

static gboolean
can_update_leaf (Person *person)
{
  return !person->is_owner && person->online && is_current_member (person);
}

static gboolean
can_be_removed (Person *person)
{
  return !person->is_owner && is_current_member (person);
}

/* Mostly short texts, some longer ones for the larger padding buckets. */
static GBytes *
random_body (Run *run)
{
  gdouble size_class = g_rand_double (run->rand);
  gsize length;
  guint8 *data;

  if (size_class < 0.85)
    length = (gsize) g_rand_int_range (run->rand, 0, 200);
  else if (size_class < 0.99)
    length = (gsize) g_rand_int_range (run->rand, 200, 4000);
  else
    length = (gsize) g_rand_int_range (run->rand, 4000, 20000);

  data = g_malloc (length + 1);
  for (gsize i = 0; i < length; i++)
    data[i] = (guint8) g_rand_int (run->rand);
  return g_bytes_new_take (data, length);
}

/* @sender seals a message in the epoch its state is in. */
static Frame *
person_seal (Room   *room,
             Person *sender)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GBytes) plaintext = random_body (room->run);
  UsiAppMessageHeader header;
  const guint8 *ciphertext;
  gsize ciphertext_length;
  Frame *frame;

  if (sender->seal_epoch != sender->epoch)
    {
      sender->seal_epoch = sender->epoch;
      sender->next_generation = 0;
    }

  body = usi_message_channel_seal (sender->channel, sender->identity, USI_CONTENT_TYPE_TEXT,
                                   g_bytes_get_data (plaintext, NULL), g_bytes_get_size (plaintext),
                                   room->now_ms, room->run->random, &error);
  g_assert_no_error (error);
  g_assert_nonnull (body);
  g_assert_true (usi_app_message_parse (g_bytes_get_data (body, NULL), g_bytes_get_size (body),
                                        &header, &ciphertext, &ciphertext_length, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (header.epoch, ==, sender->epoch);
  g_assert_cmpuint (header.sender_index, ==, sender->index);
  g_assert_cmpuint (header.generation, ==, sender->next_generation);

  frame = frame_new (USI_FRAME_APP_MESSAGE, body);
  frame->epoch = sender->epoch;
  frame->sender = sender->id;
  frame->generation = sender->next_generation++;
  frame->plaintext = g_steal_pointer (&plaintext);
  frame->sent_ms = room->now_ms;
  return frame;
}

static void
op_send (Room     *room,
         gboolean  in_flight)
{
  Person *sender = pick (room, can_send);
  Frame *frame;

  g_assert_nonnull (sender);
  g_assert_cmpuint (sender->epoch, ==, room_epoch (room));
  frame = person_seal (room, sender);
  if (in_flight)
    g_ptr_array_add (room->in_flight, frame);
  else
    room_relay (room, frame);
  /* Counted when sent; for the owner this may rotate at once, after the
   * message, which then did not cross the commit. */
  note_message (room, sender, frame->epoch, sender->index);
}

/* The relay gets the messages in flight, in any order. */
static void
op_deliver_in_flight (Room *room)
{
  while (room->in_flight->len > 0)
    {
      guint i = (guint) g_rand_int_range (room->run->rand, 0, (gint32) room->in_flight->len);

      room_relay (room, g_ptr_array_steal_index (room->in_flight, i));
    }
}

/* A removed member still seals in the epoch it was left with (row C6):
 * nobody may accept it. */
static void
op_removed_sends (Room *room)
{
  Person *sender = pick (room, is_online_removed);

  g_assert_nonnull (sender);
  room_relay (room, person_seal (room, sender));
}

static void
leaf_update (Room   *room,
             Person *person)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) body = NULL;
  guint32 sequence;
  Frame *frame;

  g_assert_cmpuint (usi_member_group_get_n_pending_updates (person->group), ==, person->pending->len);
  body = usi_member_group_create_leaf_update (person->group, room->run->random, room->now_ms, &error);
  if (person->pending->len >= USI_MEMBER_MAX_PENDING_UPDATES)
    {
      /* The owner has been away while this member kept updating. */
      g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_ALLOWED);
      g_assert_null (body);
      room->run->stats.leaf_updates_refused++;
      return;
    }
  g_assert_no_error (error);
  g_assert_nonnull (body);

  sequence = person->pending->len > 0 ? g_array_index (person->pending, guint32, person->pending->len - 1)
                                      : person->leaf_sequence;
  sequence++;
  g_array_append_val (person->pending, sequence);

  frame = frame_new (USI_FRAME_LEAF_UPDATE, body);
  frame->epoch = person->epoch;
  frame->sender = person->id;
  frame->sequence = sequence;
  room_relay (room, frame);
}

/* Now and then a burst, so that with the owner away a member reaches the
 * limit of LeafUpdates waiting for a commit. */
static void
op_leaf_update (Room *room)
{
  Person *person = pick (room, can_update_leaf);
  guint n = g_rand_double (room->run->rand) < 0.15 ? (guint) g_rand_int_range (room->run->rand, 2, 11) : 1;

  g_assert_nonnull (person);
  for (guint i = 0; i < n; i++)
    leaf_update (room, person);
}

static guint32
lowest_free_index (Room *room)
{
  guint32 index = 0;
  gboolean used;

  do
    {
      used = FALSE;
      for (guint i = 0; i < room->people->len && !used; i++)
        {
          Person *person = g_ptr_array_index (room->people, i);

          used = is_current_member (person) && person->index == index;
        }
      if (used)
        index++;
    }
  while (used);

  return index;
}

/* A new person joins the way the product does it: an invite, a join
 * request through the relay, the owner's invite book, add_member, the
 * welcome. */
static void
op_join (Room *room)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(UsiInvite) joiner_invite = NULL;
  g_autoptr(UsiJoinRequest) request = NULL;
  g_autoptr(UsiJoinRequest) received = NULL;
  g_autoptr(UsiJoiner) joiner = NULL;
  g_autoptr(GBytes) request_body = NULL;
  g_autoptr(GBytes) request_wire = NULL;
  g_autoptr(GBytes) commit = NULL;
  g_autoptr(GBytes) welcome = NULL;
  g_autofree char *uri = NULL;
  g_autofree char *name = g_strdup_printf ("Member %u", room->people->len);
  const guint8 *body;
  gsize length;
  guint8 type;
  guint32 index = G_MAXUINT32;
  guint32 expected_index = lowest_free_index (room);
  guint first_history;
  Person *person;
  Frame *frame;
  UsiEpoch *epoch;

  invite = usi_invite_new (room->run->random,
                           room->has_password ? USI_INVITE_FLAGS_PASSWORD_REQUIRED : USI_INVITE_FLAGS_NONE,
                           RELAY, room->relay_pin, room->room_id, &room->owner_leaf.node,
                           room->now_ms + INVITE_LIFE_MS, &error);
  g_assert_no_error (error);
  g_assert_true (usi_invite_book_add (room->book, invite, &error));
  g_assert_no_error (error);

  /* The joiner has the text, and nothing else of the room. */
  uri = usi_invite_to_uri (invite);
  joiner_invite = usi_invite_parse (uri, room->now_ms, &error);
  g_assert_no_error (error);
  person = person_new (room, name, FALSE);
  /* Deriving pw_key again gives the same bytes; scrypt once per room keeps
   * the test fast. */
  request = usi_join_request_new (room->run->random, joiner_invite, person->identity, &person->leaf, name,
                                  room->has_password ? room->password_key : NULL, &error);
  g_assert_no_error (error);
  request_body = usi_join_request_encode (request);
  request_wire = usi_frame_encode (USI_FRAME_JOIN_REQUEST, g_bytes_get_data (request_body, NULL),
                                   g_bytes_get_size (request_body), &error);
  g_assert_no_error (error);

  /* The owner's side. */
  g_assert_true (usi_frame_decode (g_bytes_get_data (request_wire, NULL), g_bytes_get_size (request_wire),
                                   &type, &body, &length, &error));
  g_assert_cmpuint (type, ==, USI_FRAME_JOIN_REQUEST);
  received = usi_join_request_decode (body, length, &error);
  g_assert_no_error (error);
  joiner = usi_invite_book_open_request (room->book, received, &room->owner_leaf, 1, room->now_ms, &error);
  g_assert_no_error (error);
  g_assert_nonnull (joiner);
  g_assert_cmpint (usi_invite_book_get_state (room->book, usi_invite_get_id (invite)), ==, USI_INVITE_STATE_USED);
  g_assert_cmpmem (usi_joiner_get_identity_key (joiner), USI_KEY_LENGTH,
                   usi_identity_get_public_key (person->identity), USI_KEY_LENGTH);
  g_assert_cmpstr (usi_joiner_get_display_name (joiner), ==, name);

  g_assert_true (usi_owner_group_add_member (room->owner_group, usi_joiner_get_leaf (joiner),
                                             usi_joiner_get_display_name (joiner), room->run->random,
                                             &index, &commit, &welcome, &error));
  g_assert_no_error (error);
  g_assert_nonnull (welcome);
  /* The lowest index nobody uses: a removed member's index is reused. */
  g_assert_cmpuint (index, ==, expected_index);
  person->index = index;
  room->n_members++;
  first_history = room->log->len;
  owner_committed (room, commit, USI_COMMIT_REASON_ADD, person->id, 0);
  person->join_epoch = room_epoch (room);

  frame = frame_new (USI_FRAME_WELCOME, welcome);
  frame->epoch = person->join_epoch;
  frame->subject = person->id;
  room_relay (room, frame);

  /* The joiner's side, from its welcome. */
  body = frame_open (frame, &length);
  person->group = usi_member_group_new_from_welcome (body, length, usi_invite_get_room_id (joiner_invite),
                                                     usi_invite_get_owner_identity_key (joiner_invite),
                                                     person->identity, &person->leaf,
                                                     room->has_password ? room->password_psk : NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (person->group);
  epoch = usi_member_group_get_epoch (person->group);
  g_assert_cmpuint (usi_epoch_get_number (epoch), ==, person->join_epoch);
  assert_epoch_is_record (room, epoch);
  g_assert_cmpuint (usi_member_group_get_own_index (person->group), ==, index);
  person->channel = usi_message_channel_new (epoch, &error);
  g_assert_no_error (error);
  person->epoch = person->join_epoch;
  person->epoch_since_ms = frame->relay_ms;
  person->cursor = room->log->len;

  /* It reads the latest messages from before it joined: none opens. */
  for (guint i = first_history, probes = 0; i > 0 && probes < HISTORY_PROBES; i--)
    {
      const Frame *old = g_ptr_array_index (room->log, i - 1);

      if (old->type != USI_FRAME_APP_MESSAGE)
        continue;
      g_assert_cmpuint (old->epoch, <, person->join_epoch);
      check_open (room, person, old, TRUE);
      probes++;
    }
}

static void
op_remove (Room *room)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) commit = NULL;
  Person *person = pick (room, can_be_removed);

  g_assert_nonnull (person);
  g_assert_true (usi_owner_group_remove_member (room->owner_group, person->index, room->run->random,
                                                &commit, &error));
  g_assert_no_error (error);
  room->n_members--;
  owner_committed (room, commit, USI_COMMIT_REASON_REMOVE, person->id, 0);
  person->removed_epoch = room_epoch (room);
}

static void
op_set_rotate_after (Room *room)
{
  g_autoptr(GError) error = NULL;
  Person *owner = room_owner (room);
  guint32 interval = rotation_intervals[g_rand_int_range (room->run->rand, 0, G_N_ELEMENTS (rotation_intervals))];
  gboolean due;

  g_assert_true (usi_owner_group_set_rotate_after (room->owner_group, interval, &error));
  g_assert_no_error (error);
  room->rotate_after = interval;
  g_assert_cmpuint (usi_owner_group_get_config (room->owner_group)->rotate_after_messages, ==, interval);
  /* The new interval applies to the current count at once. */
  due = usi_owner_group_is_rotation_due (room->owner_group);
  room->run->stats.rotation_checks++;
  g_assert_cmpint (due, ==, owner->message_count >= interval);
  if (due)
    owner_rotate (room, TRUE);
}

/* Time moves to one step before, at or after the end of the last commit's
 * grace period; what is in flight may arrive right then, so the window's
 * boundary is crossed both ways and hit exactly. */
static void
op_time_passes (Room *room)
{
  gint64 offset = (gint64) STEP_MS * g_rand_int_range (room->run->rand, -1, 2);
  guint64 target = room->last_commit_ms + USI_MESSAGE_EPOCH_GRACE_MS + (guint64) offset;

  room->now_ms = target > room->now_ms ? target : room->now_ms + USI_MESSAGE_EPOCH_GRACE_MS + (guint64) offset;
  if (g_rand_boolean (room->run->rand))
    op_deliver_in_flight (room);
}

/* Rooms ------------------------------------------------------------------- */

static Room *
room_new (Run   *run,
          guint  number)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) genesis = NULL;
  Room *room = g_new0 (Room, 1);
  UsiRoomConfig config;
  Person *owner;
  Frame *frame;

  room->run = run;
  room->number = number;
  room->now_ms = START_MS + (guint64) number * 24 * 3600 * 1000;
  room->people = g_ptr_array_new_with_free_func ((GDestroyNotify) person_free);
  room->log = g_ptr_array_new_with_free_func ((GDestroyNotify) frame_free);
  room->in_flight = g_ptr_array_new_with_free_func ((GDestroyNotify) frame_free);
  room->owner_updates = g_ptr_array_new ();
  room->epochs = g_array_new (FALSE, TRUE, sizeof (EpochRecord));
  g_assert_true (usi_random_fill (run->random, room->room_id, sizeof room->room_id, &error));
  g_assert_true (usi_random_fill (run->random, room->relay_pin, sizeof room->relay_pin, &error));
  g_assert_no_error (error);

  /* Every fourth room has a password: one scrypt per room. */
  room->has_password = number % 4 == 3;
  if (room->has_password)
    {
      g_assert_true (usi_join_password_key_derive (PASSWORD, room->room_id, room->password_key, &error));
      g_assert_true (usi_join_password_psk (room->password_key, room->room_id, room->password_psk, &error));
      g_assert_no_error (error);
    }

  owner = person_new (room, "Owner", TRUE);
  room->owner_leaf = owner->leaf;
  usi_room_config_init_default (&config);
  config.rotate_after_messages = rotation_intervals[g_rand_int_range (run->rand, 0, G_N_ELEMENTS (rotation_intervals))];
  config.password_required = room->has_password;
  room->rotate_after = config.rotate_after_messages;
  room->n_members = 1;
  room->owner_group = usi_owner_group_create (owner->identity, &owner->leaf.node, owner->name, room->room_id,
                                              &config, room->has_password ? room->password_psk : NULL,
                                              run->random, &genesis, &error);
  g_assert_no_error (error);
  g_assert_nonnull (room->owner_group);
  owner_committed (room, genesis, USI_COMMIT_REASON_CREATE, 0, 0);
  frame = g_ptr_array_index (room->log, 0);
  g_assert_cmpuint (frame->epoch, ==, 0);

  room->book = usi_invite_book_new (room->room_id, usi_identity_get_public_key (owner->identity));
  usi_invite_book_set_password_key (room->book, room->has_password ? room->password_key : NULL);
  return room;
}

static void
room_free (Room *room)
{
  g_ptr_array_unref (room->owner_updates);
  g_ptr_array_unref (room->in_flight);
  g_ptr_array_unref (room->log);
  g_ptr_array_unref (room->people);
  g_array_unref (room->epochs);
  usi_invite_book_free (room->book);
  usi_owner_group_free (room->owner_group);
  usi_leaf_secret_clear (&room->owner_leaf);
  memset (room->password_key, 0, sizeof room->password_key);
  memset (room->password_psk, 0, sizeof room->password_psk);
  g_free (room);
}

static gboolean
op_is_possible (Room *room,
                Op    op)
{
  gboolean owner_online = room_owner (room)->online;

  switch (op)
    {
    case OP_SEND:
    case OP_SEND_IN_FLIGHT:
      return pick (room, can_send) != NULL;
    case OP_DELIVER_IN_FLIGHT:
      return room->in_flight->len > 0;
    case OP_REMOVED_SENDS:
      return pick (room, is_online_removed) != NULL;
    case OP_GO_OFFLINE:
      return pick (room, can_go_offline) != NULL;
    case OP_COME_BACK:
      return pick (room, can_come_back) != NULL;
    case OP_OWNER_OFFLINE:
      return owner_online;
    case OP_OWNER_BACK:
      return !owner_online;
    case OP_LEAF_UPDATE:
      return pick (room, can_update_leaf) != NULL;
    case OP_ROTATE:
    case OP_SET_ROTATE_AFTER:
      return owner_online;
    case OP_JOIN:
      return owner_online && room->n_members < MAX_ROOM_MEMBERS;
    case OP_REMOVE:
      return owner_online && room->n_members > MIN_ROOM_MEMBERS;
    case OP_TIME_PASSES:
      return TRUE;
    case OP_AUTO_ROTATE:
    case N_OPS:
    default:
      return FALSE;
    }
}

static Op
draw_op (Room *room)
{
  guint total = 0;
  gint32 chosen;
  gboolean possible[N_OPS];

  for (guint op = 0; op < N_OPS; op++)
    {
      possible[op] = op_is_possible (room, op);
      if (possible[op])
        total += op_table[op].weight;
    }

  chosen = g_rand_int_range (room->run->rand, 0, (gint32) total);
  for (guint op = 0; op < N_OPS; op++)
    if (possible[op])
      {
        chosen -= (gint32) op_table[op].weight;
        if (chosen < 0)
          return op;
      }

  g_assert_not_reached ();
}

static void
room_step (Room *room)
{
  Op op = draw_op (room);
  gint64 start = g_get_monotonic_time ();
  Person *person;

  set_failure_context (room->run, room, op_table[op].name);
  room->now_ms += STEP_MS;

  switch (op)
    {
    case OP_SEND:
      op_send (room, FALSE);
      break;
    case OP_SEND_IN_FLIGHT:
      op_send (room, TRUE);
      break;
    case OP_DELIVER_IN_FLIGHT:
      op_deliver_in_flight (room);
      break;
    case OP_REMOVED_SENDS:
      op_removed_sends (room);
      break;
    case OP_GO_OFFLINE:
      person = pick (room, can_go_offline);
      person->online = FALSE;
      break;
    case OP_COME_BACK:
      person = pick (room, can_come_back);
      person->online = TRUE;
      break;
    case OP_OWNER_OFFLINE:
      room_owner (room)->online = FALSE;
      break;
    case OP_OWNER_BACK:
      room_owner (room)->online = TRUE;
      break;
    case OP_LEAF_UPDATE:
      op_leaf_update (room);
      break;
    case OP_ROTATE:
      owner_rotate (room, FALSE);
      break;
    case OP_JOIN:
      op_join (room);
      break;
    case OP_REMOVE:
      op_remove (room);
      break;
    case OP_SET_ROTATE_AFTER:
      op_set_rotate_after (room);
      break;
    case OP_TIME_PASSES:
      op_time_passes (room);
      break;
    case OP_AUTO_ROTATE:
    case N_OPS:
    default:
      g_assert_not_reached ();
    }

  room->run->stats.ops[op]++;
  room_settle (room);
  room_check_agreement (room);
  room->run->stats.op_usec[op] += g_get_monotonic_time () - start;
  room->run->stats.steps++;
}

/* One room from creation to its last step; then everything in flight
 * arrives, everyone comes back and catches up, and all must agree. */
static void
run_room (Run   *run,
          guint  number,
          guint  n_steps)
{
  Room *room = room_new (run, number);
  guint n_initial = (guint) g_rand_int_range (run->rand, MIN_ROOM_MEMBERS, MAX_ROOM_MEMBERS + 1);

  set_failure_context (run, room, "setup");
  while (room->n_members < n_initial)
    {
      op_join (room);
      run->stats.setup_joins++;
      room_settle (room);
      room_check_agreement (room);
    }

  for (guint i = 0; i < n_steps; i++)
    room_step (room);

  set_failure_context (run, room, "final catch-up");
  op_deliver_in_flight (room);
  for (guint i = 0; i < room->people->len; i++)
    ((Person *) g_ptr_array_index (room->people, i))->online = TRUE;
  room_settle (room);
  room_check_agreement (room);
  for (guint i = 1; i < room->people->len; i++)
    {
      Person *person = g_ptr_array_index (room->people, i);

      g_assert_cmpint (person->knows_removed, ==, !is_current_member (person));
    }

  run->stats.rooms++;
  room_free (room);
}

static const char *
error_code_name (gint code)
{
  switch (code)
    {
    case USI_PROTOCOL_ERROR_EPOCH_NOT_YET:
      return "EPOCH_NOT_YET";
    case USI_PROTOCOL_ERROR_EPOCH_TOO_OLD:
      return "EPOCH_TOO_OLD";
    case USI_PROTOCOL_ERROR_NOT_MEMBER:
      return "NOT_MEMBER";
    case USI_PROTOCOL_ERROR_REFLECTED:
      return "REFLECTED";
    default:
      return "other";
    }
}

static void
print_stats (const Run *run,
             gdouble    seconds)
{
  const Stats *stats = &run->stats;
  g_autoptr(GString) line = g_string_new (NULL);
  guint64 refused = 0;

  g_test_message ("model: seed %u, %" G_GUINT64_FORMAT " steps in %" G_GUINT64_FORMAT " rooms "
                  "(and %" G_GUINT64_FORMAT " joins filling new rooms), %.1f s",
                  run->seed, stats->steps, stats->rooms, stats->setup_joins, seconds);
  for (guint op = 0; op < N_OPS; op++)
    g_string_append_printf (line, "%s%s %" G_GUINT64_FORMAT, op == 0 ? "" : ", ", op_table[op].name, stats->ops[op]);
  g_test_message ("operations: %s", line->str);
  g_string_truncate (line, 0);
  for (guint op = 0; op < OP_AUTO_ROTATE; op++)
    g_string_append_printf (line, "%s%s %.2f", op == 0 ? "" : ", ", op_table[op].name,
                            (gdouble) stats->op_usec[op] / G_USEC_PER_SEC);
  g_test_message ("seconds per operation, with what follows from it: %s", line->str);

  g_string_truncate (line, 0);
  for (guint code = 0; code < N_ERROR_CODES; code++)
    if (stats->refused[code] > 0)
      {
        g_string_append_printf (line, " %s %" G_GUINT64_FORMAT, error_code_name (code), stats->refused[code]);
        refused += stats->refused[code];
      }
  g_test_message ("oracle: %" G_GUINT64_FORMAT " deliveries checked (%" G_GUINT64_FORMAT " of messages that "
                  "crossed a commit, %" G_GUINT64_FORMAT " exactly at the end of the grace, %" G_GUINT64_FORMAT
                  " history reads by joiners): %" G_GUINT64_FORMAT " opened, %" G_GUINT64_FORMAT " refused:%s",
                  stats->deliveries, stats->crossed_deliveries, stats->grace_boundary, stats->history_probes,
                  stats->opened, refused, line->str);
  g_test_message ("oracle: %" G_GUINT64_FORMAT " forged-epoch and %" G_GUINT64_FORMAT " old-key probes by "
                  "non-members, %" G_GUINT64_FORMAT " deliveries tried with a removed member's leaf key, %"
                  G_GUINT64_FORMAT
                  " gap flags, %" G_GUINT64_FORMAT " commits applied, %" G_GUINT64_FORMAT " removals seen, %"
                  G_GUINT64_FORMAT " commits refused after removal, %" G_GUINT64_FORMAT " epoch agreements, %"
                  G_GUINT64_FORMAT " rotation counts (%" G_GUINT64_FORMAT " \"rotation pending\"), %"
                  G_GUINT64_FORMAT " leaf updates refused at the limit",
                  stats->forged_probes, stats->old_key_probes, stats->old_leaf_probes, stats->gap_checks, stats->commits_applied, stats->commits_removed,
                  stats->commits_after_removal, stats->agreement_checks, stats->rotation_checks,
                  stats->rotation_pending, stats->leaf_updates_refused);
  g_test_message ("oracle checks in all: %" G_GUINT64_FORMAT,
                  stats->deliveries + stats->forged_probes + stats->old_key_probes + stats->old_leaf_probes +
                  stats->gap_checks + stats->commits_applied +
                  stats->commits_removed + stats->commits_after_removal + stats->agreement_checks +
                  stats->rotation_checks);
}

static guint32
env_uint (const char *name,
          guint32     fallback)
{
  const char *text = g_getenv (name);
  g_autoptr(GError) error = NULL;
  guint64 value;

  if (text == NULL || *text == '\0')
    return fallback;
  if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT32, &value, &error))
    g_error ("%s: %s", name, error->message);
  return (guint32) value;
}

static void
run_model (guint32 seed,
           guint32 n_steps)
{
  Run run = { 0 };
  guint8 random_seed[4];
  gint64 start = g_get_monotonic_time ();
  guint number = 0;

  g_test_message ("model seed %u, %u steps (replay: USI_MODEL_SEED=%u USI_MODEL_STEPS=%u)",
                  seed, n_steps, seed, n_steps);
  run.seed = seed;
  run.rand = g_rand_new_with_seed (seed);
  for (guint i = 0; i < sizeof random_seed; i++)
    random_seed[i] = (guint8) (seed >> (8 * i));
  run.random = usi_random_new_deterministic (random_seed, sizeof random_seed);

  while (run.stats.steps < n_steps)
    {
      guint left = n_steps - (guint) run.stats.steps;
      guint room_steps = (guint) g_rand_int_range (run.rand, MIN_ROOM_STEPS, MAX_ROOM_STEPS + 1);

      run_room (&run, number++, MIN (room_steps, left));
    }

  print_stats (&run, (gdouble) (g_get_monotonic_time () - start) / G_USEC_PER_SEC);
  g_assert_cmpuint (run.stats.steps, >=, n_steps);
  for (guint op = 0; op < N_OPS; op++)
    if (n_steps >= DEFAULT_STEPS)
      g_assert_cmpuint (run.stats.ops[op], >, 0);

  usi_random_free (run.random);
  g_rand_free (run.rand);
}

static void
test_model_fixed_seed (void)
{
  run_model (env_uint ("USI_MODEL_SEED", DEFAULT_SEED), env_uint ("USI_MODEL_STEPS", DEFAULT_STEPS));
}

static void
test_model_random_seed (void)
{
  run_model (g_test_rand_int (), env_uint ("USI_MODEL_STEPS", SLOW_STEPS));
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);
  signal (SIGABRT, on_abort);

  g_test_add_func ("/protocol/model/fixed-seed", test_model_fixed_seed);
  if (g_test_slow ())
    g_test_add_func ("/protocol/model/random-seed", test_model_random_seed);

  return g_test_run ();
}
