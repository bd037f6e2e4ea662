/* SPDX-License-Identifier: GPL-3.0-or-later */

/* What a relay keeps (docs/protocol.md §11.5), the same tests run against
 * both backends: sequence numbers, resends, directed frames, members,
 * invites and the backlog's bounds; then what only the SQLite backend has:
 * surviving a restart, refusing a database it cannot trust without
 * touching it, a full disk, and private file modes. */

#include "config.h"

#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>
#include <sqlite3.h>

#include "net/usi-net-error.h"
#include "net/usi-relay-store.h"

#define NOW_MS G_GUINT64_CONSTANT (1700000000000)

static const guint8 room_a[16] = { 0xa0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
static const guint8 room_b[16] = { 0xb0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
static const guint8 invite_1[16] = { 0x11 };
static const guint8 invite_2[16] = { 0x22 };

static guint8 alice[32];
static guint8 bob[32];
static guint8 carol[32];

typedef struct
{
  gboolean               sqlite;
  char                  *directory;   /* the state directory (SQLite) */
  UsiRelayStore         *store;
  UsiRelayBacklogLimits  limits;
} Fixture;

static UsiRelayStore *
fixture_open (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  UsiRelayStore *store;

  if (!fixture->sqlite)
    return usi_relay_store_new_memory (&fixture->limits);

  store = usi_relay_store_open (fixture->directory, &fixture->limits, &error);
  g_assert_no_error (error);
  g_assert_nonnull (store);
  return store;
}

static void
fixture_reopen (Fixture *fixture)
{
  g_clear_object (&fixture->store);
  fixture->store = fixture_open (fixture);
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *base = NULL;

  fixture->sqlite = GPOINTER_TO_INT (data);
  usi_relay_backlog_limits_init_default (&fixture->limits);
  if (fixture->sqlite)
    {
      base = g_dir_make_tmp ("usi-relay-store-XXXXXX", &error);
      g_assert_no_error (error);
      /* A directory that does not exist yet: the store creates it. */
      fixture->directory = g_build_filename (base, "state", NULL);
    }
  fixture->store = fixture_open (fixture);
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir != NULL)
    while ((name = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *child = g_build_filename (path, name, NULL);

        if (g_file_test (child, G_FILE_TEST_IS_DIR))
          remove_tree (child);
        else
          g_assert_cmpint (g_unlink (child), ==, 0);
      }
  g_rmdir (path);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  g_clear_object (&fixture->store);
  if (fixture->directory != NULL)
    {
      g_autofree char *base = g_path_get_dirname (fixture->directory);

      remove_tree (base);
      g_clear_pointer (&fixture->directory, g_free);
    }
}

static GBytes *
frame_bytes (guint8 marker,
             gsize  length)
{
  guint8 *data = g_malloc (length);

  memset (data, marker, length);
  return g_bytes_new_take (data, length);
}

static void
add_room (Fixture      *fixture,
          const guint8 *room_id)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) state = g_bytes_new_static ("chain state", 11);

  g_assert_true (usi_relay_store_add_room (fixture->store, room_id, USI_RELAY_ROOM_OWNED, state, &error));
  g_assert_no_error (error);
}

static guint64
append_full (Fixture      *fixture,
             const guint8 *room_id,
             const guint8 *sender,
             const guint8 *recipient,
             guint64       request_id,
             GBytes       *frame,
             guint64       now_ms,
             gboolean     *duplicate)
{
  g_autoptr(GError) error = NULL;
  guint64 seq = 0;
  gboolean local_duplicate = TRUE;

  g_assert_true (usi_relay_store_append (fixture->store, room_id, sender, recipient, request_id, frame, now_ms,
                                         &seq, &local_duplicate, &error));
  g_assert_no_error (error);
  if (duplicate != NULL)
    *duplicate = local_duplicate;
  else
    g_assert_false (local_duplicate);
  return seq;
}

static guint64
append (Fixture      *fixture,
        const guint8 *sender,
        guint64       request_id,
        guint8        marker)
{
  g_autoptr(GBytes) frame = frame_bytes (marker, 50);

  return append_full (fixture, room_a, sender, NULL, request_id, frame, NOW_MS, NULL);
}

static GPtrArray *
read_after (Fixture      *fixture,
            const guint8 *room_id,
            const guint8 *reader,
            guint64       after_seq,
            guint         max_frames)
{
  g_autoptr(GError) error = NULL;
  GPtrArray *frames = usi_relay_store_read_after (fixture->store, room_id, reader, after_seq, max_frames, &error);

  g_assert_no_error (error);
  g_assert_nonnull (frames);
  return frames;
}

static void
assert_seqs (GPtrArray     *frames,
             const guint64 *expected,
             guint          n_expected)
{
  g_assert_cmpuint (frames->len, ==, n_expected);
  for (guint i = 0; i < n_expected; i++)
    g_assert_cmpuint (((UsiRelayStoredFrame *) g_ptr_array_index (frames, i))->seq, ==, expected[i]);
}

/* Both backends ------------------------------------------------------------ */

static void
test_append_sequence (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(GPtrArray) frames = NULL;
  g_autoptr(GBytes) expected = frame_bytes (2, 50);
  const UsiRelayStoredFrame *second;

  add_room (fixture, room_a);
  add_room (fixture, room_b);
  g_assert_cmpuint (usi_relay_store_get_last_seq (fixture->store, room_a), ==, 0);

  g_assert_cmpuint (append (fixture, alice, 100, 1), ==, 1);
  g_assert_cmpuint (append (fixture, alice, 101, 2), ==, 2);
  g_assert_cmpuint (append (fixture, bob, 100, 3), ==, 3);
  g_assert_cmpuint (usi_relay_store_get_last_seq (fixture->store, room_a), ==, 3);

  /* Each room counts on its own. */
  {
    g_autoptr(GBytes) frame = frame_bytes (9, 10);

    g_assert_cmpuint (append_full (fixture, room_b, alice, NULL, 100, frame, NOW_MS, NULL), ==, 1);
  }
  g_assert_cmpuint (usi_relay_store_get_last_seq (fixture->store, room_b), ==, 1);

  frames = read_after (fixture, room_a, carol, 0, 100);
  g_assert_cmpuint (frames->len, ==, 3);
  second = g_ptr_array_index (frames, 1);
  g_assert_cmpuint (second->seq, ==, 2);
  g_assert_cmpmem (second->sender, 32, alice, 32);
  g_assert_cmpuint (second->request_id, ==, 101);
  g_assert_cmpuint (second->stored_ms, ==, NOW_MS);
  g_assert_true (g_bytes_equal (second->frame, expected));
  {
    static const guint8 zeros[32];

    g_assert_cmpmem (second->recipient, 32, zeros, 32);
  }
}

static void
test_duplicate_request (Fixture       *fixture,
                        gconstpointer  data)
{
  g_autoptr(GBytes) original = frame_bytes (1, 50);
  g_autoptr(GBytes) resent = frame_bytes (7, 60);
  g_autoptr(GPtrArray) frames = NULL;
  gboolean duplicate = TRUE;
  guint64 seq;

  add_room (fixture, room_a);
  seq = append_full (fixture, room_a, alice, NULL, G_MAXUINT64, original, NOW_MS, &duplicate);
  g_assert_cmpuint (seq, ==, 1);
  g_assert_false (duplicate);
  g_assert_cmpuint (append (fixture, bob, 5, 2), ==, 2);

  /* The same sender and request id: the original sequence number, nothing stored. */
  seq = append_full (fixture, room_a, alice, NULL, G_MAXUINT64, resent, NOW_MS + 5, &duplicate);
  g_assert_cmpuint (seq, ==, 1);
  g_assert_true (duplicate);
  g_assert_cmpuint (usi_relay_store_get_last_seq (fixture->store, room_a), ==, 2);
  frames = read_after (fixture, room_a, alice, 0, 100);
  g_assert_cmpuint (frames->len, ==, 2);
  g_assert_true (g_bytes_equal (((UsiRelayStoredFrame *) frames->pdata[0])->frame, original));

  /* Another sender may use the same request id. */
  g_assert_cmpuint (append (fixture, carol, G_MAXUINT64, 3), ==, 3);

  /* A resend after a restart is recognised too. */
  if (fixture->sqlite)
    {
      fixture_reopen (fixture);
      seq = append_full (fixture, room_a, alice, NULL, G_MAXUINT64, resent, NOW_MS + 10, &duplicate);
      g_assert_cmpuint (seq, ==, 1);
      g_assert_true (duplicate);
    }
}

static void
test_read_after_filters (Fixture       *fixture,
                         gconstpointer  data)
{
  g_autoptr(GBytes) frame = frame_bytes (1, 20);
  static const guint64 bob_sees[] = { 1, 2, 4, 5 };
  static const guint64 carol_sees[] = { 1, 3, 4, 5 };
  static const guint64 alice_sees[] = { 1, 4, 5 };
  static const guint64 bob_after_2[] = { 4, 5 };
  static const guint64 bob_first_two[] = { 1, 2 };
  static const guint64 bob_after_1_one[] = { 2 };
  static const guint64 room_only[] = { 1, 4, 5 };

  add_room (fixture, room_a);
  append_full (fixture, room_a, alice, NULL, 1, frame, NOW_MS, NULL);     /* 1: the room */
  append_full (fixture, room_a, alice, bob, 2, frame, NOW_MS, NULL);      /* 2: to Bob */
  append_full (fixture, room_a, alice, carol, 3, frame, NOW_MS, NULL);    /* 3: to Carol */
  append_full (fixture, room_a, bob, NULL, 1, frame, NOW_MS, NULL);       /* 4: Bob's, to the room */
  append_full (fixture, room_a, carol, NULL, 1, frame, NOW_MS, NULL);     /* 5 */

  {
    g_autoptr(GPtrArray) frames = read_after (fixture, room_a, bob, 0, 100);

    assert_seqs (frames, bob_sees, G_N_ELEMENTS (bob_sees));
    g_assert_cmpmem (((UsiRelayStoredFrame *) frames->pdata[1])->recipient, 32, bob, 32);
  }
  {
    g_autoptr(GPtrArray) frames = read_after (fixture, room_a, carol, 0, 100);

    assert_seqs (frames, carol_sees, G_N_ELEMENTS (carol_sees));
  }
  {
    /* Alice sent the directed ones, but they are not for her. */
    g_autoptr(GPtrArray) frames = read_after (fixture, room_a, alice, 0, 100);

    assert_seqs (frames, alice_sees, G_N_ELEMENTS (alice_sees));
  }
  {
    g_autoptr(GPtrArray) frames = read_after (fixture, room_a, bob, 2, 100);

    assert_seqs (frames, bob_after_2, G_N_ELEMENTS (bob_after_2));
  }
  {
    g_autoptr(GPtrArray) frames = read_after (fixture, room_a, bob, 0, 2);

    assert_seqs (frames, bob_first_two, G_N_ELEMENTS (bob_first_two));
  }
  {
    g_autoptr(GPtrArray) frames = read_after (fixture, room_a, bob, 1, 1);

    assert_seqs (frames, bob_after_1_one, G_N_ELEMENTS (bob_after_1_one));
  }
  {
    g_autoptr(GPtrArray) frames = read_after (fixture, room_a, NULL, 0, 100);

    assert_seqs (frames, room_only, G_N_ELEMENTS (room_only));
  }
  {
    g_autoptr(GPtrArray) at_end = read_after (fixture, room_a, bob, 5, 100);
    g_autoptr(GPtrArray) beyond = read_after (fixture, room_a, bob, 1000, 100);
    g_autoptr(GPtrArray) none = read_after (fixture, room_a, bob, 0, 0);
    g_autoptr(GPtrArray) unknown_room = read_after (fixture, room_b, bob, 0, 100);

    g_assert_cmpuint (at_end->len, ==, 0);
    g_assert_cmpuint (beyond->len, ==, 0);
    g_assert_cmpuint (none->len, ==, 0);
    g_assert_cmpuint (unknown_room->len, ==, 0);
  }
}

static void
test_rooms (Fixture       *fixture,
            gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) state = g_bytes_new_static ("chain state", 11);
  g_autoptr(GBytes) next_state = g_bytes_new_static ("next chain state", 16);
  g_autoptr(GBytes) frame = frame_bytes (1, 10);
  guint64 seq;
  gboolean duplicate;

  add_room (fixture, room_a);
  g_assert_false (usi_relay_store_add_room (fixture->store, room_a, USI_RELAY_ROOM_PRESHARED, NULL, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_clear_error (&error);

  g_assert_true (usi_relay_store_add_room (fixture->store, room_b, USI_RELAY_ROOM_PRESHARED, NULL, &error));
  g_assert_no_error (error);

  g_assert_true (usi_relay_store_set_chain_state (fixture->store, room_a, next_state, &error));
  g_assert_no_error (error);

  /* Unknown rooms. */
  {
    static const guint8 nowhere[16] = { 0xee };

    g_assert_false (usi_relay_store_set_chain_state (fixture->store, nowhere, state, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
    g_clear_error (&error);
    g_assert_false (usi_relay_store_append (fixture->store, nowhere, alice, NULL, 1, frame, NOW_MS,
                                            &seq, &duplicate, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
    g_clear_error (&error);
    g_assert_false (usi_relay_store_set_member_since (fixture->store, nowhere, alice, 1, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
    g_clear_error (&error);
    g_assert_false (usi_relay_store_add_invite (fixture->store, nowhere, invite_1, NOW_MS, &error));
    g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
    g_clear_error (&error);
    g_assert_cmpuint (usi_relay_store_get_last_seq (fixture->store, nowhere), ==, 0);
  }
}

typedef struct
{
  guint            n_rooms;
  gboolean         saw_a;
  gboolean         saw_b;
} RoomVisit;

static void
visit_room (const guint8     *room_id,
            UsiRelayRoomKind  kind,
            GBytes           *chain_state,
            guint64           last_seq,
            gpointer          user_data)
{
  RoomVisit *visit = user_data;

  visit->n_rooms++;
  if (memcmp (room_id, room_a, 16) == 0)
    {
      visit->saw_a = TRUE;
      g_assert_cmpint (kind, ==, USI_RELAY_ROOM_OWNED);
      g_assert_nonnull (chain_state);
      g_assert_cmpmem (g_bytes_get_data (chain_state, NULL), g_bytes_get_size (chain_state), "next chain state", 16);
      g_assert_cmpuint (last_seq, ==, 3);
    }
  else if (memcmp (room_id, room_b, 16) == 0)
    {
      visit->saw_b = TRUE;
      g_assert_cmpint (kind, ==, USI_RELAY_ROOM_PRESHARED);
      g_assert_null (chain_state);
      g_assert_cmpuint (last_seq, ==, 1);
    }
  else
    g_assert_not_reached ();
}

static void
populate (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) next_state = g_bytes_new_static ("next chain state", 16);
  g_autoptr(GBytes) frame = frame_bytes (4, 10);

  add_room (fixture, room_a);
  g_assert_true (usi_relay_store_add_room (fixture->store, room_b, USI_RELAY_ROOM_PRESHARED, NULL, &error));
  g_assert_true (usi_relay_store_set_chain_state (fixture->store, room_a, next_state, &error));
  g_assert_no_error (error);
  append (fixture, alice, 1, 1);
  append (fixture, alice, 2, 2);
  append_full (fixture, room_a, alice, bob, 3, frame, NOW_MS + 1, NULL);
  append_full (fixture, room_b, carol, NULL, 1, frame, NOW_MS + 2, NULL);
  g_assert_true (usi_relay_store_set_member_since (fixture->store, room_a, bob, 3, &error));
  g_assert_true (usi_relay_store_add_invite (fixture->store, room_a, invite_1, NOW_MS + 1000, &error));
  g_assert_true (usi_relay_store_use_invite (fixture->store, room_a, invite_1, bob, &error));
  g_assert_true (usi_relay_store_add_invite (fixture->store, room_a, invite_2, NOW_MS + 2000, &error));
  g_assert_no_error (error);
}

static void
assert_populated (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) frames = NULL;
  RoomVisit visit = { 0 };
  guint64 since = 0, expires = 0;
  guint8 used_by[32];
  gboolean found = FALSE;
  static const guint8 zeros[32];
  static const guint64 bob_sees[] = { 1, 2, 3 };

  g_assert_true (usi_relay_store_foreach_room (fixture->store, visit_room, &visit, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (visit.n_rooms, ==, 2);
  g_assert_true (visit.saw_a && visit.saw_b);

  frames = read_after (fixture, room_a, bob, 0, 100);
  assert_seqs (frames, bob_sees, G_N_ELEMENTS (bob_sees));
  g_assert_cmpuint (((UsiRelayStoredFrame *) frames->pdata[2])->stored_ms, ==, NOW_MS + 1);
  g_assert_cmpmem (((UsiRelayStoredFrame *) frames->pdata[2])->recipient, 32, bob, 32);

  g_assert_true (usi_relay_store_get_member_since (fixture->store, room_a, bob, &since));
  g_assert_cmpuint (since, ==, 3);
  g_assert_true (usi_relay_store_lookup_invite (fixture->store, room_a, invite_1, &expires, used_by, &found));
  g_assert_true (found);
  g_assert_cmpuint (expires, ==, NOW_MS + 1000);
  g_assert_cmpmem (used_by, 32, bob, 32);
  g_assert_true (usi_relay_store_lookup_invite (fixture->store, room_a, invite_2, &expires, used_by, &found));
  g_assert_true (found);
  g_assert_cmpmem (used_by, 32, zeros, 32);
  g_assert_cmpuint (usi_relay_store_count_invites (fixture->store, room_a), ==, 2);
}

static void
test_foreach_room (Fixture       *fixture,
                   gconstpointer  data)
{
  populate (fixture);
  assert_populated (fixture);
}

static void
test_member_since (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  guint64 since = 77;

  add_room (fixture, room_a);
  add_room (fixture, room_b);
  g_assert_false (usi_relay_store_get_member_since (fixture->store, room_a, alice, &since));
  g_assert_cmpuint (since, ==, 77);

  g_assert_true (usi_relay_store_set_member_since (fixture->store, room_a, alice, 0, &error));
  g_assert_true (usi_relay_store_set_member_since (fixture->store, room_a, bob, 12, &error));
  g_assert_no_error (error);
  g_assert_true (usi_relay_store_get_member_since (fixture->store, room_a, alice, &since));
  g_assert_cmpuint (since, ==, 0);
  g_assert_true (usi_relay_store_get_member_since (fixture->store, room_a, bob, &since));
  g_assert_cmpuint (since, ==, 12);
  /* Per room. */
  g_assert_false (usi_relay_store_get_member_since (fixture->store, room_b, bob, &since));

  /* Removed and added again: a new first readable frame. */
  g_assert_true (usi_relay_store_set_member_since (fixture->store, room_a, bob, 40, &error));
  g_assert_no_error (error);
  g_assert_true (usi_relay_store_get_member_since (fixture->store, room_a, bob, &since));
  g_assert_cmpuint (since, ==, 40);
}

static void
test_invites (Fixture       *fixture,
              gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  static const guint8 zeros[32];
  guint8 used_by[32];
  guint64 expires = 0;
  gboolean found = TRUE;

  add_room (fixture, room_a);
  add_room (fixture, room_b);
  g_assert_true (usi_relay_store_lookup_invite (fixture->store, room_a, invite_1, &expires, used_by, &found));
  g_assert_false (found);

  g_assert_true (usi_relay_store_add_invite (fixture->store, room_a, invite_1, NOW_MS + 1000, &error));
  g_assert_true (usi_relay_store_add_invite (fixture->store, room_a, invite_2, NOW_MS + 5000, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (usi_relay_store_count_invites (fixture->store, room_a), ==, 2);
  g_assert_cmpuint (usi_relay_store_count_invites (fixture->store, room_b), ==, 0);

  g_assert_true (usi_relay_store_lookup_invite (fixture->store, room_a, invite_1, &expires, used_by, &found));
  g_assert_true (found);
  g_assert_cmpuint (expires, ==, NOW_MS + 1000);
  g_assert_cmpmem (used_by, 32, zeros, 32);
  /* Per room. */
  g_assert_true (usi_relay_store_lookup_invite (fixture->store, room_b, invite_1, &expires, used_by, &found));
  g_assert_false (found);

  /* The first use binds the invite to that identity. */
  g_assert_true (usi_relay_store_use_invite (fixture->store, room_a, invite_1, alice, &error));
  g_assert_no_error (error);
  g_assert_true (usi_relay_store_lookup_invite (fixture->store, room_a, invite_1, &expires, used_by, &found));
  g_assert_true (found);
  g_assert_cmpmem (used_by, 32, alice, 32);

  /* The same identity again (a resend): fine.  Another: refused, still Alice's. */
  g_assert_true (usi_relay_store_use_invite (fixture->store, room_a, invite_1, alice, &error));
  g_assert_no_error (error);
  g_assert_false (usi_relay_store_use_invite (fixture->store, room_a, invite_1, bob, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS);
  g_clear_error (&error);
  g_assert_true (usi_relay_store_lookup_invite (fixture->store, room_a, invite_1, &expires, used_by, &found));
  g_assert_cmpmem (used_by, 32, alice, 32);

  /* Registered again: the expiry changes, the binding stays. */
  g_assert_true (usi_relay_store_add_invite (fixture->store, room_a, invite_1, NOW_MS + 3000, &error));
  g_assert_no_error (error);
  g_assert_true (usi_relay_store_lookup_invite (fixture->store, room_a, invite_1, &expires, used_by, &found));
  g_assert_cmpuint (expires, ==, NOW_MS + 3000);
  g_assert_cmpmem (used_by, 32, alice, 32);

  /* Never registered. */
  g_assert_false (usi_relay_store_use_invite (fixture->store, room_b, invite_1, bob, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_clear_error (&error);

  /* Pruning drops what expired at or before now. */
  usi_relay_store_prune_invites (fixture->store, NOW_MS + 2999);
  g_assert_cmpuint (usi_relay_store_count_invites (fixture->store, room_a), ==, 2);
  usi_relay_store_prune_invites (fixture->store, NOW_MS + 3000);
  g_assert_cmpuint (usi_relay_store_count_invites (fixture->store, room_a), ==, 1);
  g_assert_true (usi_relay_store_lookup_invite (fixture->store, room_a, invite_1, &expires, used_by, &found));
  g_assert_false (found);
  g_assert_true (usi_relay_store_lookup_invite (fixture->store, room_a, invite_2, &expires, used_by, &found));
  g_assert_true (found);

  /* An expiry beyond what a signed 64-bit integer holds is kept as the
   * far future, not wrapped into the past. */
  g_assert_true (usi_relay_store_add_invite (fixture->store, room_b, invite_2, G_MAXUINT64, &error));
  g_assert_no_error (error);
  usi_relay_store_prune_invites (fixture->store, NOW_MS * 1000);
  g_assert_cmpuint (usi_relay_store_count_invites (fixture->store, room_b), ==, 1);
}

static void
test_prune_by_count (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(GPtrArray) frames = NULL;
  static const guint64 kept[] = { 3, 4, 5 };

  fixture->limits.max_frames = 3;
  fixture_reopen (fixture);
  add_room (fixture, room_a);
  for (guint i = 1; i <= 5; i++)
    g_assert_cmpuint (append (fixture, alice, i, (guint8) i), ==, i);

  frames = read_after (fixture, room_a, bob, 0, 100);
  assert_seqs (frames, kept, G_N_ELEMENTS (kept));
  g_assert_cmpuint (usi_relay_store_get_last_seq (fixture->store, room_a), ==, 5);
  /* Sequence numbers go on after pruning (and, for SQLite, a restart). */
  if (fixture->sqlite)
    fixture_reopen (fixture);
  g_assert_cmpuint (append (fixture, alice, 6, 6), ==, 6);
}

static void
test_prune_by_bytes (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(GPtrArray) frames = NULL;
  g_autoptr(GPtrArray) after = NULL;
  static const guint64 kept[] = { 3, 4 };
  static const guint64 kept_after_big[] = { 5 };

  fixture->limits.max_bytes = 250;
  fixture_reopen (fixture);
  add_room (fixture, room_a);
  for (guint i = 1; i <= 4; i++)
    {
      g_autoptr(GBytes) frame = frame_bytes ((guint8) i, 100);

      append_full (fixture, room_a, alice, NULL, i, frame, NOW_MS, NULL);
    }
  frames = read_after (fixture, room_a, bob, 0, 100);
  assert_seqs (frames, kept, G_N_ELEMENTS (kept));

  /* A frame above the whole budget is still kept, alone. */
  {
    g_autoptr(GBytes) big = frame_bytes (9, 400);

    append_full (fixture, room_a, alice, NULL, 5, big, NOW_MS, NULL);
  }
  after = read_after (fixture, room_a, bob, 0, 100);
  assert_seqs (after, kept_after_big, G_N_ELEMENTS (kept_after_big));
}

static void
test_prune_by_age (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(GBytes) frame = frame_bytes (1, 10);
  static const guint64 all[] = { 2, 3 };
  static const guint64 young[] = { 3 };
  static const guint64 newest[] = { 4 };

  fixture->limits.max_age_ms = 1000;
  fixture_reopen (fixture);
  add_room (fixture, room_a);
  append_full (fixture, room_a, alice, NULL, 1, frame, NOW_MS, NULL);
  append_full (fixture, room_a, alice, NULL, 2, frame, NOW_MS + 500, NULL);
  append_full (fixture, room_a, alice, NULL, 3, frame, NOW_MS + 1500, NULL);
  /* Appending prunes too. */
  {
    /* When frame 3 arrives, frame 1 is 1500 ms old: gone; frame 2 is
     * exactly 1000 ms old: kept. */
    g_autoptr(GPtrArray) frames = read_after (fixture, room_a, bob, 0, 100);

    assert_seqs (frames, all, G_N_ELEMENTS (all));
  }

  usi_relay_store_prune_backlog (fixture->store, room_a, NOW_MS + 1600);
  {
    g_autoptr(GPtrArray) frames = read_after (fixture, room_a, bob, 0, 100);

    assert_seqs (frames, young, G_N_ELEMENTS (young));
  }

  append_full (fixture, room_a, alice, NULL, 4, frame, NOW_MS + 5000, NULL);
  {
    g_autoptr(GPtrArray) frames = read_after (fixture, room_a, bob, 0, 100);

    assert_seqs (frames, newest, G_N_ELEMENTS (newest));
  }

  /* Everything too old goes, even the newest. */
  usi_relay_store_prune_backlog (fixture->store, room_a, NOW_MS + 100000);
  {
    g_autoptr(GPtrArray) frames = read_after (fixture, room_a, bob, 0, 100);

    g_assert_cmpuint (frames->len, ==, 0);
  }
  g_assert_cmpuint (usi_relay_store_get_last_seq (fixture->store, room_a), ==, 4);
  g_assert_cmpuint (append (fixture, alice, 5, 5), ==, 5);
}

/* SQLite only -------------------------------------------------------------- */

static void
test_reopen_keeps_everything (Fixture       *fixture,
                              gconstpointer  data)
{
  populate (fixture);
  fixture_reopen (fixture);
  assert_populated (fixture);
  g_assert_cmpuint (usi_relay_store_get_last_seq (fixture->store, room_a), ==, 3);
  g_assert_cmpuint (append (fixture, carol, 9, 9), ==, 4);
}

static char *
database_path (Fixture *fixture)
{
  return g_build_filename (fixture->directory, "relay.sqlite", NULL);
}

static void
assert_open_refused (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiRelayStore) store = usi_relay_store_open (fixture->directory, NULL, &error);

  g_assert_null (store);
  g_assert_error (error, USI_NET_ERROR, USI_NET_ERROR_STORAGE);
  g_test_message ("refused: %s", error->message);
}

static void
test_garbage_refused (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *path = database_path (fixture);
  g_autofree char *garbage = g_strnfill (8192, 'x');
  g_autofree char *after = NULL;
  gsize length;

  populate (fixture);
  g_clear_object (&fixture->store);

  g_assert_true (g_file_set_contents (path, garbage, 8192, &error));
  g_assert_no_error (error);
  assert_open_refused (fixture);

  /* Left exactly as it was: not reset, not recreated. */
  g_assert_true (g_file_get_contents (path, &after, &length, &error));
  g_assert_cmpmem (after, length, garbage, 8192);
}

static void
set_pragma (const char *path,
            const char *sql)
{
  sqlite3 *db = NULL;

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READWRITE, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, sql, NULL, NULL, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_close (db), ==, SQLITE_OK);
}

static gint64
get_pragma (const char *path,
            const char *sql)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;
  gint64 value;

  g_assert_cmpint (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  value = sqlite3_column_int64 (stmt, 0);
  sqlite3_finalize (stmt);
  sqlite3_close (db);
  return value;
}

static void
test_future_schema_refused (Fixture       *fixture,
                            gconstpointer  data)
{
  g_autofree char *path = database_path (fixture);

  populate (fixture);
  g_clear_object (&fixture->store);

  set_pragma (path, "PRAGMA user_version = 2");
  assert_open_refused (fixture);
  g_assert_cmpint (get_pragma (path, "PRAGMA user_version"), ==, 2);
  g_assert_cmpint (get_pragma (path, "SELECT count (*) FROM frames"), ==, 4);

  /* Back to the version this code wrote, it opens with everything. */
  set_pragma (path, "PRAGMA user_version = 1");
  fixture->store = fixture_open (fixture);
  assert_populated (fixture);
}

/* Some other program's SQLite database in the state directory. */
static void
test_foreign_database_refused (Fixture       *fixture,
                               gconstpointer  data)
{
  g_autofree char *path = database_path (fixture);

  g_clear_object (&fixture->store);
  g_assert_cmpint (g_unlink (path), ==, 0);
  {
    sqlite3 *db = NULL;

    g_assert_cmpint (sqlite3_open (path, &db), ==, SQLITE_OK);
    g_assert_cmpint (sqlite3_exec (db, "CREATE TABLE notes (text TEXT); PRAGMA user_version = 1", NULL, NULL, NULL),
                     ==, SQLITE_OK);
    sqlite3_close (db);
  }
  assert_open_refused (fixture);
  g_assert_cmpint (get_pragma (path, "SELECT count (*) FROM sqlite_master"), ==, 1);
}

/* A second relay on the same state directory is refused while the first
 * runs. */
static void
test_second_relay_refused (Fixture       *fixture,
                           gconstpointer  data)
{
  populate (fixture);
  assert_open_refused (fixture);
  /* The first one goes on. */
  g_assert_cmpuint (append (fixture, alice, 50, 1), ==, 4);
  g_clear_object (&fixture->store);
  fixture->store = fixture_open (fixture);
  g_assert_cmpuint (usi_relay_store_get_last_seq (fixture->store, room_a), ==, 4);
}

static void
test_disk_full (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  guint64 seq = 0, last = 0;
  gboolean duplicate = FALSE;
  guint stored = 0;

  add_room (fixture, room_a);
  _usi_relay_store_set_max_size_for_testing (fixture->store, 128 * 1024);
  for (guint i = 1; i <= 100; i++)
    {
      g_autoptr(GBytes) frame = frame_bytes ((guint8) i, 20000);

      if (!usi_relay_store_append (fixture->store, room_a, alice, NULL, i, frame, NOW_MS, &seq, &duplicate, &error))
        break;
      stored++;
      last = seq;
    }
  g_assert_error (error, USI_NET_ERROR, USI_NET_ERROR_STORAGE);
  g_assert_nonnull (strstr (error->message, "not enough space"));
  g_clear_error (&error);
  g_assert_cmpuint (stored, >, 0);
  g_assert_cmpuint (stored, <, 100);

  /* Nothing of the refused frame was kept. */
  g_assert_cmpuint (usi_relay_store_get_last_seq (fixture->store, room_a), ==, last);
  {
    g_autoptr(GPtrArray) frames = read_after (fixture, room_a, bob, 0, 1000);

    g_assert_cmpuint (frames->len, ==, stored);
  }

  /* With space again, the next frame gets the next number. */
  _usi_relay_store_set_max_size_for_testing (fixture->store, G_GUINT64_CONSTANT (1) << 30);
  {
    g_autoptr(GBytes) frame = frame_bytes (1, 20000);

    g_assert_cmpuint (append_full (fixture, room_a, alice, NULL, 1000, frame, NOW_MS, NULL), ==, last + 1);
  }
  fixture_reopen (fixture);
  g_assert_cmpuint (usi_relay_store_get_last_seq (fixture->store, room_a), ==, last + 1);
}

static void
assert_mode (const char *path,
             guint       mode)
{
  struct stat info;

  g_assert_cmpint (g_stat (path, &info), ==, 0);
  g_assert_cmpuint (info.st_mode & 0777, ==, mode);
}

static void
test_file_modes (Fixture       *fixture,
                 gconstpointer  data)
{
  g_autofree char *path = database_path (fixture);
  g_autofree char *wal = g_strconcat (path, "-wal", NULL);

  populate (fixture);
  assert_mode (fixture->directory, 0700);
  assert_mode (path, 0600);
  if (g_file_test (wal, G_FILE_TEST_EXISTS))
    assert_mode (wal, 0600);

  /* Loosened by hand: tightened again on the next start. */
  g_clear_object (&fixture->store);
  g_assert_cmpint (g_chmod (fixture->directory, 0755), ==, 0);
  g_assert_cmpint (g_chmod (path, 0644), ==, 0);
  fixture->store = fixture_open (fixture);
  assert_mode (fixture->directory, 0700);
  assert_mode (path, 0600);
  assert_populated (fixture);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; i < 32; i++)
    {
      alice[i] = (guint8) (0x40 + i);
      bob[i] = (guint8) (0x80 + i);
      carol[i] = (guint8) (0xc0 + i);
    }

#define ADD_BOTH(path, func)                                                                            \
  g_test_add ("/relay/store/memory/" path, Fixture, GINT_TO_POINTER (FALSE), fixture_set_up, func, fixture_tear_down); \
  g_test_add ("/relay/store/sqlite/" path, Fixture, GINT_TO_POINTER (TRUE), fixture_set_up, func, fixture_tear_down)
#define ADD_SQLITE(path, func) \
  g_test_add ("/relay/store/sqlite/" path, Fixture, GINT_TO_POINTER (TRUE), fixture_set_up, func, fixture_tear_down)

  ADD_BOTH ("append-sequence", test_append_sequence);
  ADD_BOTH ("duplicate-request", test_duplicate_request);
  ADD_BOTH ("read-after-filters", test_read_after_filters);
  ADD_BOTH ("rooms", test_rooms);
  ADD_BOTH ("foreach-room", test_foreach_room);
  ADD_BOTH ("member-since", test_member_since);
  ADD_BOTH ("invites", test_invites);
  ADD_BOTH ("prune-by-count", test_prune_by_count);
  ADD_BOTH ("prune-by-bytes", test_prune_by_bytes);
  ADD_BOTH ("prune-by-age", test_prune_by_age);
  ADD_SQLITE ("reopen-keeps-everything", test_reopen_keeps_everything);
  ADD_SQLITE ("garbage-refused", test_garbage_refused);
  ADD_SQLITE ("future-schema-refused", test_future_schema_refused);
  ADD_SQLITE ("foreign-database-refused", test_foreign_database_refused);
  ADD_SQLITE ("second-relay-refused", test_second_relay_refused);
  ADD_SQLITE ("disk-full", test_disk_full);
  ADD_SQLITE ("file-modes", test_file_modes);

#undef ADD_BOTH
#undef ADD_SQLITE

  return g_test_run ();
}
