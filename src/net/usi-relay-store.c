/* SPDX-License-Identifier: GPL-3.0-or-later */

/* What a relay keeps (docs/protocol.md §11.5): rooms, each owned room's
 * commit chain state, registered invites, members' first readable sequence
 * numbers and each room's backlog of frames, which are already end-to-end
 * encrypted.  Two backends behind one API: memory (usi-relay --ephemeral)
 * and SQLite (--state-dir).  It never holds a key of a room, never logs a
 * frame, and never replaces a database it cannot read by a fresh one. */

#define G_LOG_DOMAIN "usi-net"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <sqlite3.h>

#include "usi-net-error.h"
#include "usi-relay-store.h"

#define ROOM_ID_LENGTH   16
#define INVITE_ID_LENGTH 16
#define KEY_LENGTH       32

#define DATABASE_NAME    "relay.sqlite"
/* PRAGMA application_id: "UsiR", so another program's database is never
 * taken for ours. */
#define APPLICATION_ID   0x55736952
#define SCHEMA_VERSION   1

#define DEFAULT_MAX_FRAMES  10000
#define DEFAULT_MAX_BYTES   (G_GUINT64_CONSTANT (256) * 1024 * 1024)
#define DEFAULT_MAX_AGE_MS  (G_GUINT64_CONSTANT (7) * 24 * 3600 * 1000)

typedef enum
{
  BACKEND_MEMORY,
  BACKEND_SQLITE,
} Backend;

/* Memory backend ---------------------------------------------------------- */

typedef struct
{
  guint64  expires_ms;
  gboolean used;
  guint8   used_by[KEY_LENGTH];
} MemoryInvite;

typedef struct
{
  UsiRelayRoomKind  kind;
  GBytes           *chain_state;
  guint64           last_seq;
  /* UsiRelayStoredFrame, by sequence number: always last_seq - length + 1
   * … last_seq, as frames are appended at the end and pruned at the head. */
  GQueue            frames;
  guint64           bytes;
  GHashTable       *requests;   /* sender ‖ u64 request_id → UsiRelayStoredFrame (borrowed) */
  GHashTable       *members;    /* identity → guint64 since_seq */
  GHashTable       *invites;    /* invite id → MemoryInvite */
} MemoryRoom;

/* SQLite backend ---------------------------------------------------------- */

typedef enum
{
  STMT_BEGIN,
  STMT_COMMIT,
  STMT_ROLLBACK,
  STMT_ROOM_GET,
  STMT_ROOM_UPDATE,
  STMT_DUPLICATE,
  STMT_FRAME_INSERT,
  STMT_FRAME_OLDEST,
  STMT_FRAME_DELETE,
  STMT_READ_AFTER,
  N_STMTS
} Statement;

static const char * const statement_sql[N_STMTS] = {
  [STMT_BEGIN] = "BEGIN IMMEDIATE",
  [STMT_COMMIT] = "COMMIT",
  [STMT_ROLLBACK] = "ROLLBACK",
  [STMT_ROOM_GET] = "SELECT last_seq, frame_count, byte_count FROM rooms WHERE room_id = ?1",
  [STMT_ROOM_UPDATE] = "UPDATE rooms SET last_seq = ?2, frame_count = ?3, byte_count = ?4 WHERE room_id = ?1",
  [STMT_DUPLICATE] = "SELECT seq FROM frames WHERE room_id = ?1 AND sender = ?2 AND request_id = ?3",
  [STMT_FRAME_INSERT] = "INSERT INTO frames (room_id, seq, sender, recipient, request_id, stored_ms, frame) "
                        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
  [STMT_FRAME_OLDEST] = "SELECT seq, length (frame), stored_ms FROM frames WHERE room_id = ?1 "
                        "ORDER BY seq LIMIT 1",
  [STMT_FRAME_DELETE] = "DELETE FROM frames WHERE room_id = ?1 AND seq = ?2",
  [STMT_READ_AFTER] = "SELECT seq, sender, recipient, request_id, stored_ms, frame FROM frames "
                      "WHERE room_id = ?1 AND seq > ?2 AND (recipient = ?3 OR recipient = ?4) "
                      "ORDER BY seq LIMIT ?5",
};

static const char schema_sql[] =
  "CREATE TABLE rooms ("
  "  room_id     BLOB PRIMARY KEY NOT NULL,"
  "  kind        INTEGER NOT NULL,"
  "  chain_state BLOB,"
  "  last_seq    INTEGER NOT NULL DEFAULT 0,"
  "  frame_count INTEGER NOT NULL DEFAULT 0,"
  "  byte_count  INTEGER NOT NULL DEFAULT 0"
  ");"
  "CREATE TABLE members ("
  "  room_id   BLOB NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,"
  "  identity  BLOB NOT NULL,"
  "  since_seq INTEGER NOT NULL,"
  "  PRIMARY KEY (room_id, identity)"
  ");"
  "CREATE TABLE invites ("
  "  room_id    BLOB NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,"
  "  invite_id  BLOB NOT NULL,"
  "  expires_ms INTEGER NOT NULL,"
  "  used_by    BLOB,"
  "  PRIMARY KEY (room_id, invite_id)"
  ");"
  "CREATE INDEX invites_by_expiry ON invites (expires_ms);"
  "CREATE TABLE frames ("
  "  room_id    BLOB NOT NULL REFERENCES rooms (room_id) ON DELETE CASCADE,"
  "  seq        INTEGER NOT NULL,"
  "  sender     BLOB NOT NULL,"
  "  recipient  BLOB NOT NULL,"
  "  request_id INTEGER NOT NULL,"
  "  stored_ms  INTEGER NOT NULL,"
  "  frame      BLOB NOT NULL,"
  "  PRIMARY KEY (room_id, seq)"
  ");"
  /* A resent Post is recognised by this index (§11.5). */
  "CREATE UNIQUE INDEX frames_by_request ON frames (room_id, sender, request_id);";

struct _UsiRelayStore
{
  GObject                parent_instance;

  Backend                backend;
  UsiRelayBacklogLimits  limits;

  /* BACKEND_MEMORY */
  GHashTable            *rooms;     /* room id → MemoryRoom */

  /* BACKEND_SQLITE */
  char                  *path;
  sqlite3               *db;
  sqlite3_stmt          *stmts[N_STMTS];
};

G_DEFINE_FINAL_TYPE (UsiRelayStore, usi_relay_store, G_TYPE_OBJECT)

static const guint8 zero_key[KEY_LENGTH];

void
usi_relay_stored_frame_free (UsiRelayStoredFrame *frame)
{
  if (frame == NULL)
    return;

  g_clear_pointer (&frame->frame, g_bytes_unref);
  g_free (frame);
}

void
usi_relay_backlog_limits_init_default (UsiRelayBacklogLimits *limits)
{
  g_return_if_fail (limits != NULL);

  limits->max_frames = DEFAULT_MAX_FRAMES;
  limits->max_bytes = DEFAULT_MAX_BYTES;
  limits->max_age_ms = DEFAULT_MAX_AGE_MS;
}

static void
memory_room_free (MemoryRoom *room)
{
  g_clear_pointer (&room->chain_state, g_bytes_unref);
  g_queue_clear_full (&room->frames, (GDestroyNotify) usi_relay_stored_frame_free);
  g_clear_pointer (&room->requests, g_hash_table_unref);
  g_clear_pointer (&room->members, g_hash_table_unref);
  g_clear_pointer (&room->invites, g_hash_table_unref);
  g_free (room);
}

static void
usi_relay_store_finalize (GObject *object)
{
  UsiRelayStore *self = (UsiRelayStore *)object;

  g_clear_pointer (&self->rooms, g_hash_table_unref);
  for (guint i = 0; i < N_STMTS; i++)
    g_clear_pointer (&self->stmts[i], sqlite3_finalize);
  if (self->db != NULL)
    {
      /* Every statement is finalized: close cannot be busy. */
      if (sqlite3_close (self->db) != SQLITE_OK)
        g_warning ("Could not close the relay's database: %s", sqlite3_errmsg (self->db));
      self->db = NULL;
    }
  g_clear_pointer (&self->path, g_free);

  G_OBJECT_CLASS (usi_relay_store_parent_class)->finalize (object);
}

static void
usi_relay_store_class_init (UsiRelayStoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = usi_relay_store_finalize;
}

static void
usi_relay_store_init (UsiRelayStore *self)
{
  usi_relay_backlog_limits_init_default (&self->limits);
}

static void
set_limits (UsiRelayStore               *self,
            const UsiRelayBacklogLimits *limits)
{
  if (limits != NULL)
    self->limits = *limits;
}

/* Whether the oldest frame of a room goes, given the room's counts with it
 * included.  The newest frame is never dropped for the count or the size
 * (it was just acknowledged); any frame is for its age. */
static gboolean
over_limits (const UsiRelayBacklogLimits *limits,
             guint64                      frame_count,
             guint64                      byte_count,
             guint64                      oldest_stored_ms,
             gboolean                     oldest_is_newest,
             guint64                      now_ms)
{
  if (limits->max_age_ms != 0 && now_ms > limits->max_age_ms &&
      oldest_stored_ms < now_ms - limits->max_age_ms)
    return TRUE;
  if (oldest_is_newest)
    return FALSE;

  return (limits->max_frames != 0 && frame_count > limits->max_frames) ||
         (limits->max_bytes != 0 && byte_count > limits->max_bytes);
}

/* SQLite stores signed 64-bit integers: values above are kept as their bit
 * pattern (request ids) or clamped (times, so comparisons stay right). */
static sqlite3_int64
clamp_time (guint64 ms)
{
  return ms > G_MAXINT64 ? G_MAXINT64 : (sqlite3_int64) ms;
}

/* Memory backend ---------------------------------------------------------- */

static GBytes *
id_key (const guint8 *id,
        gsize         length)
{
  return g_bytes_new (id, length);
}

static GBytes *
request_key (const guint8 *sender,
             guint64       request_id)
{
  guint8 key[KEY_LENGTH + 8];

  memcpy (key, sender, KEY_LENGTH);
  for (guint i = 0; i < 8; i++)
    key[KEY_LENGTH + i] = (request_id >> (56 - 8 * i)) & 0xff;
  return g_bytes_new (key, sizeof key);
}

static MemoryRoom *
memory_lookup_room (UsiRelayStore *self,
                    const guint8  *room_id)
{
  g_autoptr(GBytes) key = id_key (room_id, ROOM_ID_LENGTH);

  return g_hash_table_lookup (self->rooms, key);
}

static gboolean
room_not_found (GError **error)
{
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, _("The relay has no such room."));
  return FALSE;
}

static void
memory_prune (UsiRelayStore *self,
              MemoryRoom    *room,
              guint64        now_ms)
{
  UsiRelayStoredFrame *oldest;

  while ((oldest = g_queue_peek_head (&room->frames)) != NULL &&
         over_limits (&self->limits, room->frames.length, room->bytes, oldest->stored_ms,
                      room->frames.length == 1, now_ms))
    {
      g_autoptr(GBytes) key = request_key (oldest->sender, oldest->request_id);

      g_hash_table_remove (room->requests, key);
      room->bytes -= g_bytes_get_size (oldest->frame);
      usi_relay_stored_frame_free (g_queue_pop_head (&room->frames));
    }
}

static UsiRelayStoredFrame *
stored_frame_copy (const UsiRelayStoredFrame *frame)
{
  UsiRelayStoredFrame *copy = g_memdup2 (frame, sizeof *frame);

  copy->frame = g_bytes_ref (frame->frame);
  return copy;
}

/* SQLite backend ---------------------------------------------------------- */

static void
set_sqlite_error (UsiRelayStore  *self,
                  int             rc,
                  GError        **error)
{
  const char *reason = self->db != NULL ? sqlite3_errmsg (self->db) : sqlite3_errstr (rc);

  switch (rc & 0xff)
    {
    case SQLITE_FULL:
      g_set_error (error, USI_NET_ERROR, USI_NET_ERROR_STORAGE,
                   _("There is not enough space to store the relay’s data in “%s”: free some disk space. Nothing was stored."),
                   self->path);
      break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      g_set_error (error, USI_NET_ERROR, USI_NET_ERROR_STORAGE,
                   _("The relay’s database “%s” is damaged or is not a database (%s). It was left as it is: restore it from a backup, or move it away to start with an empty relay."),
                   self->path, reason);
      break;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      g_set_error (error, USI_NET_ERROR, USI_NET_ERROR_STORAGE,
                   _("The relay’s database “%s” is in use by another program, probably another relay: stop it, or use another state directory."),
                   self->path);
      break;
    default:
      g_set_error (error, USI_NET_ERROR, USI_NET_ERROR_STORAGE,
                   _("The relay’s database “%s” failed: %s."), self->path, reason);
      break;
    }
}

/* Runs a statement expected to return no row, and resets it. */
static gboolean
step_done (UsiRelayStore  *self,
           sqlite3_stmt   *stmt,
           GError        **error)
{
  int rc = sqlite3_step (stmt);

  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
  if (rc != SQLITE_DONE)
    {
      set_sqlite_error (self, rc, error);
      return FALSE;
    }

  return TRUE;
}

static gboolean
sql_exec (UsiRelayStore  *self,
          const char     *sql,
          GError        **error)
{
  int rc = sqlite3_exec (self->db, sql, NULL, NULL, NULL);

  if (rc != SQLITE_OK)
    {
      set_sqlite_error (self, rc, error);
      return FALSE;
    }

  return TRUE;
}

static sqlite3_stmt *
prepare (UsiRelayStore  *self,
         const char     *sql,
         GError        **error)
{
  sqlite3_stmt *stmt = NULL;
  int rc = sqlite3_prepare_v2 (self->db, sql, -1, &stmt, NULL);

  if (rc != SQLITE_OK)
    {
      set_sqlite_error (self, rc, error);
      return NULL;
    }

  return stmt;
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (sqlite3_stmt, sqlite3_finalize)

static gboolean
transaction_begin (UsiRelayStore  *self,
                   GError        **error)
{
  return step_done (self, self->stmts[STMT_BEGIN], error);
}

static gboolean
transaction_commit (UsiRelayStore  *self,
                    GError        **error)
{
  if (step_done (self, self->stmts[STMT_COMMIT], error))
    return TRUE;

  /* A failed COMMIT (a full disk) may leave the transaction open. */
  if (!sqlite3_get_autocommit (self->db))
    {
      sqlite3_step (self->stmts[STMT_ROLLBACK]);
      sqlite3_reset (self->stmts[STMT_ROLLBACK]);
    }
  return FALSE;
}

static void
transaction_rollback (UsiRelayStore *self)
{
  if (sqlite3_get_autocommit (self->db))
    return;

  sqlite3_step (self->stmts[STMT_ROLLBACK]);
  sqlite3_reset (self->stmts[STMT_ROLLBACK]);
}

/* The room's counters; FALSE with NOT_FOUND for an unknown room. */
static gboolean
sqlite_room_get (UsiRelayStore  *self,
                 const guint8   *room_id,
                 guint64        *last_seq,
                 guint64        *frame_count,
                 guint64        *byte_count,
                 GError        **error)
{
  sqlite3_stmt *stmt = self->stmts[STMT_ROOM_GET];
  int rc;

  sqlite3_bind_blob (stmt, 1, room_id, ROOM_ID_LENGTH, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    {
      *last_seq = (guint64) sqlite3_column_int64 (stmt, 0);
      *frame_count = (guint64) sqlite3_column_int64 (stmt, 1);
      *byte_count = (guint64) sqlite3_column_int64 (stmt, 2);
    }
  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);

  if (rc == SQLITE_ROW)
    return TRUE;
  if (rc == SQLITE_DONE)
    return room_not_found (error);

  set_sqlite_error (self, rc, error);
  return FALSE;
}

static gboolean
sqlite_room_update (UsiRelayStore  *self,
                    const guint8   *room_id,
                    guint64         last_seq,
                    guint64         frame_count,
                    guint64         byte_count,
                    GError        **error)
{
  sqlite3_stmt *stmt = self->stmts[STMT_ROOM_UPDATE];

  sqlite3_bind_blob (stmt, 1, room_id, ROOM_ID_LENGTH, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, (sqlite3_int64) last_seq);
  sqlite3_bind_int64 (stmt, 3, (sqlite3_int64) frame_count);
  sqlite3_bind_int64 (stmt, 4, (sqlite3_int64) byte_count);
  return step_done (self, stmt, error);
}

/* Drops the room's oldest frames beyond the limits, inside the caller's
 * transaction, keeping *frame_count and *byte_count right. */
static gboolean
sqlite_prune (UsiRelayStore  *self,
              const guint8   *room_id,
              guint64        *frame_count,
              guint64        *byte_count,
              guint64         now_ms,
              GError        **error)
{
  sqlite3_stmt *oldest = self->stmts[STMT_FRAME_OLDEST];
  sqlite3_stmt *delete = self->stmts[STMT_FRAME_DELETE];

  for (;;)
    {
      sqlite3_int64 seq;
      guint64 length, stored_ms;
      int rc;

      sqlite3_bind_blob (oldest, 1, room_id, ROOM_ID_LENGTH, SQLITE_STATIC);
      rc = sqlite3_step (oldest);
      if (rc == SQLITE_ROW)
        {
          seq = sqlite3_column_int64 (oldest, 0);
          length = (guint64) sqlite3_column_int64 (oldest, 1);
          stored_ms = (guint64) sqlite3_column_int64 (oldest, 2);
        }
      sqlite3_reset (oldest);
      sqlite3_clear_bindings (oldest);
      if (rc == SQLITE_DONE)
        return TRUE;
      if (rc != SQLITE_ROW)
        {
          set_sqlite_error (self, rc, error);
          return FALSE;
        }

      if (!over_limits (&self->limits, *frame_count, *byte_count, stored_ms, *frame_count == 1, now_ms))
        return TRUE;

      sqlite3_bind_blob (delete, 1, room_id, ROOM_ID_LENGTH, SQLITE_STATIC);
      sqlite3_bind_int64 (delete, 2, seq);
      if (!step_done (self, delete, error))
        return FALSE;
      *frame_count -= 1;
      *byte_count -= MIN (length, *byte_count);
    }
}

/* The directory (0700, tightened if it exists) and the database file
 * (0600), created before SQLite opens it: SQLite would create it with the
 * process umask, and its -wal file takes the database file's mode. */
static gboolean
prepare_paths (const char  *directory,
               const char  *path,
               GError     **error)
{
  struct stat info;
  int fd;

  if (g_mkdir_with_parents (directory, 0700) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, USI_NET_ERROR, USI_NET_ERROR_STORAGE,
                   _("Could not create the relay’s state directory “%s”: %s"), directory,
                   g_strerror (saved_errno));
      return FALSE;
    }
  if (g_stat (directory, &info) != 0 || !S_ISDIR (info.st_mode))
    {
      g_set_error (error, USI_NET_ERROR, USI_NET_ERROR_STORAGE,
                   _("The relay’s state directory “%s” is not a directory."), directory);
      return FALSE;
    }
  if ((info.st_mode & 0777) != 0700 && g_chmod (directory, 0700) != 0)
    {
      int saved_errno = errno;

      g_set_error (error, USI_NET_ERROR, USI_NET_ERROR_STORAGE,
                   _("Could not make the relay’s state directory “%s” private: %s"), directory,
                   g_strerror (saved_errno));
      return FALSE;
    }

  fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    {
      int saved_errno = errno;

      g_set_error (error, USI_NET_ERROR, USI_NET_ERROR_STORAGE,
                   _("Could not open the relay’s database “%s”: %s"), path, g_strerror (saved_errno));
      return FALSE;
    }
  if (fstat (fd, &info) != 0 || !S_ISREG (info.st_mode) ||
      ((info.st_mode & 0777) != 0600 && fchmod (fd, 0600) != 0))
    {
      int saved_errno = errno;

      close (fd);
      g_set_error (error, USI_NET_ERROR, USI_NET_ERROR_STORAGE,
                   _("Could not make the relay’s database “%s” private: %s"), path, g_strerror (saved_errno));
      return FALSE;
    }
  close (fd);

  return TRUE;
}

static gboolean
pragma_int (UsiRelayStore  *self,
            const char     *sql,
            gint64         *value,
            GError        **error)
{
  g_autoptr(sqlite3_stmt) stmt = prepare (self, sql, error);
  int rc;

  if (stmt == NULL)
    return FALSE;
  rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW)
    {
      set_sqlite_error (self, rc, error);
      return FALSE;
    }

  *value = sqlite3_column_int64 (stmt, 0);
  return TRUE;
}

/* Creates the schema in a new database, or checks an existing one is ours
 * and of a version this code knows.  Never changes a database it refuses. */
static gboolean
check_schema (UsiRelayStore  *self,
              GError        **error)
{
  gint64 version, application_id, n_objects;
  g_autofree char *set_version = NULL;
  g_autofree char *set_application = NULL;

  if (!transaction_begin (self, error))
    return FALSE;

  if (!pragma_int (self, "PRAGMA user_version", &version, error) ||
      !pragma_int (self, "PRAGMA application_id", &application_id, error) ||
      !pragma_int (self, "SELECT count (*) FROM sqlite_master", &n_objects, error))
    goto fail;

  if (version == 0 && application_id == 0 && n_objects == 0)
    {
      set_version = g_strdup_printf ("PRAGMA user_version = %d", SCHEMA_VERSION);
      set_application = g_strdup_printf ("PRAGMA application_id = %d", APPLICATION_ID);
      if (!sql_exec (self, schema_sql, error) ||
          !sql_exec (self, set_version, error) ||
          !sql_exec (self, set_application, error))
        goto fail;
      return transaction_commit (self, error);
    }

  if (application_id != APPLICATION_ID)
    {
      g_set_error (error, USI_NET_ERROR, USI_NET_ERROR_STORAGE,
                   _("“%s” is not a Usi relay database. It was left as it is: use another state directory."),
                   self->path);
      goto fail;
    }
  if (version != SCHEMA_VERSION)
    {
      g_autofree char *number = g_strdup_printf ("%" G_GINT64_FORMAT, version);

      /* Translators: the second %s is a schema version number */
      g_set_error (error, USI_NET_ERROR, USI_NET_ERROR_STORAGE,
                   _("The relay’s database “%s” has a layout (version %s) this relay does not know, probably from a newer relay. It was left as it is: run that newer relay instead."),
                   self->path, number);
      goto fail;
    }

  return transaction_commit (self, error);

fail:
  transaction_rollback (self);
  return FALSE;
}

/* Construction ------------------------------------------------------------ */

UsiRelayStore *
usi_relay_store_new_memory (const UsiRelayBacklogLimits *limits)
{
  UsiRelayStore *self = g_object_new (USI_TYPE_RELAY_STORE, NULL);

  self->backend = BACKEND_MEMORY;
  set_limits (self, limits);
  self->rooms = g_hash_table_new_full (g_bytes_hash, g_bytes_equal, (GDestroyNotify) g_bytes_unref,
                                       (GDestroyNotify) memory_room_free);
  return self;
}

UsiRelayStore *
usi_relay_store_open (const char                   *directory,
                      const UsiRelayBacklogLimits  *limits,
                      GError                      **error)
{
  g_autoptr(UsiRelayStore) self = NULL;
  int rc;

  g_return_val_if_fail (directory != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = g_object_new (USI_TYPE_RELAY_STORE, NULL);
  self->backend = BACKEND_SQLITE;
  set_limits (self, limits);
  self->path = g_build_filename (directory, DATABASE_NAME, NULL);

  if (!prepare_paths (directory, self->path, error))
    return NULL;

  /* Not SQLITE_OPEN_CREATE: the file exists (made above, with its mode),
   * and an unreadable one must fail rather than be started afresh. */
  rc = sqlite3_open_v2 (self->path, &self->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, NULL);
  if (rc != SQLITE_OK)
    {
      set_sqlite_error (self, rc, error);
      return NULL;
    }
  sqlite3_extended_result_codes (self->db, 1);

  /* WAL with synchronous=NORMAL: a transaction is in the WAL file, written
   * with write(2), when COMMIT returns.  That survives a crash or SIGKILL
   * of the relay process (the kernel has the bytes), which is what §11.5
   * asks before an Ack; only a power loss or a kernel crash may lose the
   * last transactions, never corrupt the database.  The exclusive lock
   * keeps a second relay off the same state directory. */
  if (!sql_exec (self, "PRAGMA locking_mode = EXCLUSIVE", error) ||
      !sql_exec (self, "PRAGMA journal_mode = WAL", error) ||
      !sql_exec (self, "PRAGMA synchronous = NORMAL", error) ||
      !sql_exec (self, "PRAGMA foreign_keys = ON", error))
    return NULL;

  for (guint i = 0; i < N_STMTS; i++)
    if ((self->stmts[i] = prepare (self, statement_sql[i], error)) == NULL)
      {
        /* The schema is not there yet for the table statements: create or
         * check it first, then prepare them all. */
        if (i < STMT_ROOM_GET)
          return NULL;
        g_clear_error (error);
        break;
      }

  if (!check_schema (self, error))
    return NULL;

  for (guint i = STMT_ROOM_GET; i < N_STMTS; i++)
    if (self->stmts[i] == NULL && (self->stmts[i] = prepare (self, statement_sql[i], error)) == NULL)
      return NULL;

  return g_steal_pointer (&self);
}

/* Rooms ------------------------------------------------------------------- */

gboolean
usi_relay_store_add_room (UsiRelayStore     *self,
                          const guint8      *room_id,
                          UsiRelayRoomKind   kind,
                          GBytes            *chain_state,
                          GError           **error)
{
  g_return_val_if_fail (USI_IS_RELAY_STORE (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->backend == BACKEND_MEMORY)
    {
      MemoryRoom *room;

      if (memory_lookup_room (self, room_id) != NULL)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_EXISTS, _("The relay already has this room."));
          return FALSE;
        }

      room = g_new0 (MemoryRoom, 1);
      room->kind = kind;
      room->chain_state = chain_state != NULL ? g_bytes_ref (chain_state) : NULL;
      g_queue_init (&room->frames);
      room->requests = g_hash_table_new_full (g_bytes_hash, g_bytes_equal, (GDestroyNotify) g_bytes_unref, NULL);
      room->members = g_hash_table_new_full (g_bytes_hash, g_bytes_equal, (GDestroyNotify) g_bytes_unref, g_free);
      room->invites = g_hash_table_new_full (g_bytes_hash, g_bytes_equal, (GDestroyNotify) g_bytes_unref, g_free);
      g_hash_table_insert (self->rooms, id_key (room_id, ROOM_ID_LENGTH), room);
      return TRUE;
    }
  else
    {
      g_autoptr(sqlite3_stmt) stmt = prepare (self, "INSERT INTO rooms (room_id, kind, chain_state) VALUES (?1, ?2, ?3)",
                                              error);
      int rc;

      if (stmt == NULL)
        return FALSE;
      sqlite3_bind_blob (stmt, 1, room_id, ROOM_ID_LENGTH, SQLITE_STATIC);
      sqlite3_bind_int (stmt, 2, (int) kind);
      if (chain_state != NULL)
        sqlite3_bind_blob64 (stmt, 3, g_bytes_get_data (chain_state, NULL), g_bytes_get_size (chain_state),
                             SQLITE_STATIC);
      rc = sqlite3_step (stmt);
      if (rc == SQLITE_CONSTRAINT_PRIMARYKEY)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_EXISTS, _("The relay already has this room."));
          return FALSE;
        }
      if (rc != SQLITE_DONE)
        {
          set_sqlite_error (self, rc, error);
          return FALSE;
        }
      return TRUE;
    }
}

gboolean
usi_relay_store_set_chain_state (UsiRelayStore  *self,
                                 const guint8   *room_id,
                                 GBytes         *chain_state,
                                 GError        **error)
{
  g_return_val_if_fail (USI_IS_RELAY_STORE (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->backend == BACKEND_MEMORY)
    {
      MemoryRoom *room = memory_lookup_room (self, room_id);

      if (room == NULL)
        return room_not_found (error);
      g_clear_pointer (&room->chain_state, g_bytes_unref);
      room->chain_state = chain_state != NULL ? g_bytes_ref (chain_state) : NULL;
      return TRUE;
    }
  else
    {
      g_autoptr(sqlite3_stmt) stmt = prepare (self, "UPDATE rooms SET chain_state = ?2 WHERE room_id = ?1", error);

      if (stmt == NULL)
        return FALSE;
      sqlite3_bind_blob (stmt, 1, room_id, ROOM_ID_LENGTH, SQLITE_STATIC);
      if (chain_state != NULL)
        sqlite3_bind_blob64 (stmt, 2, g_bytes_get_data (chain_state, NULL), g_bytes_get_size (chain_state),
                             SQLITE_STATIC);
      if (!step_done (self, stmt, error))
        return FALSE;
      if (sqlite3_changes (self->db) == 0)
        return room_not_found (error);
      return TRUE;
    }
}

gboolean
usi_relay_store_foreach_room (UsiRelayStore          *self,
                              UsiRelayStoreRoomFunc   func,
                              gpointer                user_data,
                              GError                **error)
{
  g_return_val_if_fail (USI_IS_RELAY_STORE (self), FALSE);
  g_return_val_if_fail (func != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->backend == BACKEND_MEMORY)
    {
      GHashTableIter iter;
      gpointer key, value;

      g_hash_table_iter_init (&iter, self->rooms);
      while (g_hash_table_iter_next (&iter, &key, &value))
        {
          MemoryRoom *room = value;

          func (g_bytes_get_data (key, NULL), room->kind, room->chain_state, room->last_seq, user_data);
        }
      return TRUE;
    }
  else
    {
      g_autoptr(sqlite3_stmt) stmt = prepare (self, "SELECT room_id, kind, chain_state, last_seq FROM rooms", error);
      int rc;

      if (stmt == NULL)
        return FALSE;
      while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
        {
          g_autoptr(GBytes) chain_state = NULL;
          const void *room_id = sqlite3_column_blob (stmt, 0);
          int kind = sqlite3_column_int (stmt, 1);

          if (room_id == NULL || sqlite3_column_bytes (stmt, 0) != ROOM_ID_LENGTH ||
              (kind != USI_RELAY_ROOM_OWNED && kind != USI_RELAY_ROOM_PRESHARED))
            {
              g_set_error (error, USI_NET_ERROR, USI_NET_ERROR_STORAGE,
                           _("The relay’s database “%s” holds a room it cannot read: it is damaged."), self->path);
              return FALSE;
            }
          if (sqlite3_column_type (stmt, 2) != SQLITE_NULL)
            chain_state = g_bytes_new (sqlite3_column_blob (stmt, 2), (gsize) sqlite3_column_bytes (stmt, 2));
          func (room_id, (UsiRelayRoomKind) kind, chain_state, (guint64) sqlite3_column_int64 (stmt, 3), user_data);
        }
      if (rc != SQLITE_DONE)
        {
          set_sqlite_error (self, rc, error);
          return FALSE;
        }
      return TRUE;
    }
}

/* Members ----------------------------------------------------------------- */

gboolean
usi_relay_store_set_member_since (UsiRelayStore  *self,
                                  const guint8   *room_id,
                                  const guint8   *identity_key,
                                  guint64         since_seq,
                                  GError        **error)
{
  g_return_val_if_fail (USI_IS_RELAY_STORE (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);
  g_return_val_if_fail (identity_key != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->backend == BACKEND_MEMORY)
    {
      MemoryRoom *room = memory_lookup_room (self, room_id);

      if (room == NULL)
        return room_not_found (error);
      g_hash_table_replace (room->members, id_key (identity_key, KEY_LENGTH), g_memdup2 (&since_seq, sizeof since_seq));
      return TRUE;
    }
  else
    {
      g_autoptr(sqlite3_stmt) stmt = prepare (self, "INSERT OR REPLACE INTO members (room_id, identity, since_seq) "
                                                    "VALUES (?1, ?2, ?3)", error);
      int rc;

      if (stmt == NULL)
        return FALSE;
      sqlite3_bind_blob (stmt, 1, room_id, ROOM_ID_LENGTH, SQLITE_STATIC);
      sqlite3_bind_blob (stmt, 2, identity_key, KEY_LENGTH, SQLITE_STATIC);
      sqlite3_bind_int64 (stmt, 3, (sqlite3_int64) since_seq);
      rc = sqlite3_step (stmt);
      if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return room_not_found (error);
      if (rc != SQLITE_DONE)
        {
          set_sqlite_error (self, rc, error);
          return FALSE;
        }
      return TRUE;
    }
}

gboolean
usi_relay_store_get_member_since (UsiRelayStore *self,
                                  const guint8  *room_id,
                                  const guint8  *identity_key,
                                  guint64       *since_seq)
{
  g_return_val_if_fail (USI_IS_RELAY_STORE (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);
  g_return_val_if_fail (identity_key != NULL, FALSE);

  if (self->backend == BACKEND_MEMORY)
    {
      MemoryRoom *room = memory_lookup_room (self, room_id);
      g_autoptr(GBytes) key = id_key (identity_key, KEY_LENGTH);
      const guint64 *since;

      if (room == NULL || (since = g_hash_table_lookup (room->members, key)) == NULL)
        return FALSE;
      if (since_seq != NULL)
        *since_seq = *since;
      return TRUE;
    }
  else
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(sqlite3_stmt) stmt = prepare (self, "SELECT since_seq FROM members WHERE room_id = ?1 AND identity = ?2",
                                              &error);
      int rc;

      if (stmt == NULL)
        {
          g_warning ("Could not read a room's members: %s", error->message);
          return FALSE;
        }
      sqlite3_bind_blob (stmt, 1, room_id, ROOM_ID_LENGTH, SQLITE_STATIC);
      sqlite3_bind_blob (stmt, 2, identity_key, KEY_LENGTH, SQLITE_STATIC);
      rc = sqlite3_step (stmt);
      if (rc == SQLITE_ROW)
        {
          if (since_seq != NULL)
            *since_seq = (guint64) sqlite3_column_int64 (stmt, 0);
          return TRUE;
        }
      if (rc != SQLITE_DONE)
        {
          set_sqlite_error (self, rc, &error);
          g_warning ("Could not read a room's members: %s", error->message);
        }
      return FALSE;
    }
}

/* Invites ----------------------------------------------------------------- */

gboolean
usi_relay_store_add_invite (UsiRelayStore  *self,
                            const guint8   *room_id,
                            const guint8   *invite_id,
                            guint64         expires_ms,
                            GError        **error)
{
  g_return_val_if_fail (USI_IS_RELAY_STORE (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);
  g_return_val_if_fail (invite_id != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->backend == BACKEND_MEMORY)
    {
      MemoryRoom *room = memory_lookup_room (self, room_id);
      g_autoptr(GBytes) key = id_key (invite_id, INVITE_ID_LENGTH);
      MemoryInvite *invite;

      if (room == NULL)
        return room_not_found (error);
      invite = g_hash_table_lookup (room->invites, key);
      if (invite == NULL)
        {
          invite = g_new0 (MemoryInvite, 1);
          g_hash_table_insert (room->invites, g_steal_pointer (&key), invite);
        }
      invite->expires_ms = MIN (expires_ms, (guint64) G_MAXINT64);
      return TRUE;
    }
  else
    {
      /* Registering an id again changes its expiry, never its use. */
      g_autoptr(sqlite3_stmt) stmt = prepare (self, "INSERT INTO invites (room_id, invite_id, expires_ms) "
                                                    "VALUES (?1, ?2, ?3) "
                                                    "ON CONFLICT (room_id, invite_id) DO UPDATE SET expires_ms = ?3",
                                              error);
      int rc;

      if (stmt == NULL)
        return FALSE;
      sqlite3_bind_blob (stmt, 1, room_id, ROOM_ID_LENGTH, SQLITE_STATIC);
      sqlite3_bind_blob (stmt, 2, invite_id, INVITE_ID_LENGTH, SQLITE_STATIC);
      sqlite3_bind_int64 (stmt, 3, clamp_time (expires_ms));
      rc = sqlite3_step (stmt);
      if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
        return room_not_found (error);
      if (rc != SQLITE_DONE)
        {
          set_sqlite_error (self, rc, error);
          return FALSE;
        }
      return TRUE;
    }
}

gboolean
usi_relay_store_lookup_invite (UsiRelayStore *self,
                               const guint8  *room_id,
                               const guint8  *invite_id,
                               guint64       *expires_ms,
                               guint8        *used_by,
                               gboolean      *found)
{
  g_return_val_if_fail (USI_IS_RELAY_STORE (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);
  g_return_val_if_fail (invite_id != NULL, FALSE);
  g_return_val_if_fail (found != NULL, FALSE);

  *found = FALSE;
  if (expires_ms != NULL)
    *expires_ms = 0;
  if (used_by != NULL)
    memset (used_by, 0, KEY_LENGTH);

  if (self->backend == BACKEND_MEMORY)
    {
      MemoryRoom *room = memory_lookup_room (self, room_id);
      g_autoptr(GBytes) key = id_key (invite_id, INVITE_ID_LENGTH);
      MemoryInvite *invite;

      if (room == NULL || (invite = g_hash_table_lookup (room->invites, key)) == NULL)
        return TRUE;
      *found = TRUE;
      if (expires_ms != NULL)
        *expires_ms = invite->expires_ms;
      if (used_by != NULL && invite->used)
        memcpy (used_by, invite->used_by, KEY_LENGTH);
      return TRUE;
    }
  else
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(sqlite3_stmt) stmt = prepare (self, "SELECT expires_ms, used_by FROM invites "
                                                    "WHERE room_id = ?1 AND invite_id = ?2", &error);
      int rc;

      if (stmt == NULL)
        {
          g_warning ("Could not read a room's invites: %s", error->message);
          return FALSE;
        }
      sqlite3_bind_blob (stmt, 1, room_id, ROOM_ID_LENGTH, SQLITE_STATIC);
      sqlite3_bind_blob (stmt, 2, invite_id, INVITE_ID_LENGTH, SQLITE_STATIC);
      rc = sqlite3_step (stmt);
      if (rc == SQLITE_DONE)
        return TRUE;
      if (rc != SQLITE_ROW)
        {
          set_sqlite_error (self, rc, &error);
          g_warning ("Could not read a room's invites: %s", error->message);
          return FALSE;
        }

      *found = TRUE;
      if (expires_ms != NULL)
        *expires_ms = (guint64) sqlite3_column_int64 (stmt, 0);
      if (used_by != NULL && sqlite3_column_bytes (stmt, 1) == KEY_LENGTH)
        memcpy (used_by, sqlite3_column_blob (stmt, 1), KEY_LENGTH);
      return TRUE;
    }
}

gboolean
usi_relay_store_use_invite (UsiRelayStore  *self,
                            const guint8   *room_id,
                            const guint8   *invite_id,
                            const guint8   *identity_key,
                            GError        **error)
{
  g_return_val_if_fail (USI_IS_RELAY_STORE (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);
  g_return_val_if_fail (invite_id != NULL, FALSE);
  g_return_val_if_fail (identity_key != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (self->backend == BACKEND_MEMORY)
    {
      MemoryRoom *room = memory_lookup_room (self, room_id);
      g_autoptr(GBytes) key = id_key (invite_id, INVITE_ID_LENGTH);
      MemoryInvite *invite;

      if (room == NULL || (invite = g_hash_table_lookup (room->invites, key)) == NULL)
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, _("The owner did not register this invite."));
          return FALSE;
        }
      if (invite->used)
        {
          if (memcmp (invite->used_by, identity_key, KEY_LENGTH) == 0)
            return TRUE;
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_EXISTS, _("Someone else already used this invite."));
          return FALSE;
        }
      invite->used = TRUE;
      memcpy (invite->used_by, identity_key, KEY_LENGTH);
      return TRUE;
    }
  else
    {
      g_autoptr(sqlite3_stmt) stmt = NULL;
      gboolean found;
      guint8 used_by[KEY_LENGTH];

      /* Binds only an unused invite, or confirms the same identity's. */
      stmt = prepare (self, "UPDATE invites SET used_by = ?3 WHERE room_id = ?1 AND invite_id = ?2 "
                            "AND (used_by IS NULL OR used_by = ?3)", error);
      if (stmt == NULL)
        return FALSE;
      sqlite3_bind_blob (stmt, 1, room_id, ROOM_ID_LENGTH, SQLITE_STATIC);
      sqlite3_bind_blob (stmt, 2, invite_id, INVITE_ID_LENGTH, SQLITE_STATIC);
      sqlite3_bind_blob (stmt, 3, identity_key, KEY_LENGTH, SQLITE_STATIC);
      if (!step_done (self, stmt, error))
        return FALSE;
      if (sqlite3_changes (self->db) == 1)
        return TRUE;

      if (!usi_relay_store_lookup_invite (self, room_id, invite_id, NULL, used_by, &found))
        {
          g_set_error (error, USI_NET_ERROR, USI_NET_ERROR_STORAGE,
                       _("The relay’s database “%s” could not be read."), self->path);
          return FALSE;
        }
      if (!found)
        g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, _("The owner did not register this invite."));
      else
        g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_EXISTS, _("Someone else already used this invite."));
      return FALSE;
    }
}

guint
usi_relay_store_count_invites (UsiRelayStore *self,
                               const guint8  *room_id)
{
  g_return_val_if_fail (USI_IS_RELAY_STORE (self), 0);
  g_return_val_if_fail (room_id != NULL, 0);

  if (self->backend == BACKEND_MEMORY)
    {
      MemoryRoom *room = memory_lookup_room (self, room_id);

      return room != NULL ? g_hash_table_size (room->invites) : 0;
    }
  else
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(sqlite3_stmt) stmt = prepare (self, "SELECT count (*) FROM invites WHERE room_id = ?1", &error);
      int rc;

      if (stmt == NULL)
        {
          g_warning ("Could not count a room's invites: %s", error->message);
          return 0;
        }
      sqlite3_bind_blob (stmt, 1, room_id, ROOM_ID_LENGTH, SQLITE_STATIC);
      rc = sqlite3_step (stmt);
      if (rc != SQLITE_ROW)
        {
          set_sqlite_error (self, rc, &error);
          g_warning ("Could not count a room's invites: %s", error->message);
          return 0;
        }
      return (guint) MIN (sqlite3_column_int64 (stmt, 0), G_MAXUINT);
    }
}

void
usi_relay_store_prune_invites (UsiRelayStore *self,
                               guint64        now_ms)
{
  g_return_if_fail (USI_IS_RELAY_STORE (self));

  if (self->backend == BACKEND_MEMORY)
    {
      GHashTableIter rooms;
      gpointer value;

      g_hash_table_iter_init (&rooms, self->rooms);
      while (g_hash_table_iter_next (&rooms, NULL, &value))
        {
          MemoryRoom *room = value;
          GHashTableIter invites;
          gpointer invite;

          g_hash_table_iter_init (&invites, room->invites);
          while (g_hash_table_iter_next (&invites, NULL, &invite))
            if (((MemoryInvite *) invite)->expires_ms <= now_ms)
              g_hash_table_iter_remove (&invites);
        }
    }
  else
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(sqlite3_stmt) stmt = prepare (self, "DELETE FROM invites WHERE expires_ms <= ?1", &error);

      if (stmt != NULL)
        {
          sqlite3_bind_int64 (stmt, 1, clamp_time (now_ms));
          step_done (self, stmt, &error);
        }
      if (error != NULL)
        g_warning ("Could not prune expired invites: %s", error->message);
    }
}

/* The backlog ------------------------------------------------------------- */

static gboolean
memory_append (UsiRelayStore  *self,
               const guint8   *room_id,
               const guint8   *sender,
               const guint8   *recipient,
               guint64         request_id,
               GBytes         *frame,
               guint64         now_ms,
               guint64        *seq,
               gboolean       *duplicate,
               GError        **error)
{
  MemoryRoom *room = memory_lookup_room (self, room_id);
  g_autoptr(GBytes) key = NULL;
  UsiRelayStoredFrame *stored;

  if (room == NULL)
    return room_not_found (error);

  key = request_key (sender, request_id);
  stored = g_hash_table_lookup (room->requests, key);
  if (stored != NULL)
    {
      *seq = stored->seq;
      *duplicate = TRUE;
      return TRUE;
    }

  stored = g_new0 (UsiRelayStoredFrame, 1);
  stored->seq = ++room->last_seq;
  memcpy (stored->sender, sender, KEY_LENGTH);
  memcpy (stored->recipient, recipient, KEY_LENGTH);
  stored->request_id = request_id;
  stored->stored_ms = now_ms;
  stored->frame = g_bytes_ref (frame);
  g_queue_push_tail (&room->frames, stored);
  g_hash_table_insert (room->requests, g_steal_pointer (&key), stored);
  room->bytes += g_bytes_get_size (frame);

  *seq = stored->seq;
  *duplicate = FALSE;
  memory_prune (self, room, now_ms);
  return TRUE;
}

static gboolean
sqlite_append (UsiRelayStore  *self,
               const guint8   *room_id,
               const guint8   *sender,
               const guint8   *recipient,
               guint64         request_id,
               GBytes         *frame,
               guint64         now_ms,
               guint64        *seq,
               gboolean       *duplicate,
               GError        **error)
{
  sqlite3_stmt *stmt;
  guint64 last_seq, frame_count, byte_count;
  gsize length;
  const guint8 *data = g_bytes_get_data (frame, &length);
  int rc;

  /* One transaction: the frame, the room's counters and the pruning are
   * stored together or not at all (a full disk leaves nothing half done). */
  if (!transaction_begin (self, error))
    return FALSE;

  stmt = self->stmts[STMT_DUPLICATE];
  sqlite3_bind_blob (stmt, 1, room_id, ROOM_ID_LENGTH, SQLITE_STATIC);
  sqlite3_bind_blob (stmt, 2, sender, KEY_LENGTH, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 3, (sqlite3_int64) request_id);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    *seq = (guint64) sqlite3_column_int64 (stmt, 0);
  sqlite3_reset (stmt);
  sqlite3_clear_bindings (stmt);
  if (rc == SQLITE_ROW)
    {
      *duplicate = TRUE;
      transaction_rollback (self);
      return TRUE;
    }
  if (rc != SQLITE_DONE)
    {
      set_sqlite_error (self, rc, error);
      goto fail;
    }

  if (!sqlite_room_get (self, room_id, &last_seq, &frame_count, &byte_count, error))
    goto fail;

  stmt = self->stmts[STMT_FRAME_INSERT];
  sqlite3_bind_blob (stmt, 1, room_id, ROOM_ID_LENGTH, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, (sqlite3_int64) (last_seq + 1));
  sqlite3_bind_blob (stmt, 3, sender, KEY_LENGTH, SQLITE_STATIC);
  sqlite3_bind_blob (stmt, 4, recipient, KEY_LENGTH, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 5, (sqlite3_int64) request_id);
  sqlite3_bind_int64 (stmt, 6, clamp_time (now_ms));
  sqlite3_bind_blob64 (stmt, 7, data, length, SQLITE_STATIC);
  if (!step_done (self, stmt, error))
    goto fail;

  frame_count += 1;
  byte_count += length;
  if (!sqlite_prune (self, room_id, &frame_count, &byte_count, now_ms, error) ||
      !sqlite_room_update (self, room_id, last_seq + 1, frame_count, byte_count, error) ||
      !transaction_commit (self, error))
    goto fail;

  *seq = last_seq + 1;
  *duplicate = FALSE;
  return TRUE;

fail:
  transaction_rollback (self);
  return FALSE;
}

gboolean
usi_relay_store_append (UsiRelayStore  *self,
                        const guint8   *room_id,
                        const guint8   *sender,
                        const guint8   *recipient,
                        guint64         request_id,
                        GBytes         *frame,
                        guint64         now_ms,
                        guint64        *seq,
                        gboolean       *duplicate,
                        GError        **error)
{
  guint64 local_seq = 0;
  gboolean local_duplicate = FALSE;
  gboolean ok;

  g_return_val_if_fail (USI_IS_RELAY_STORE (self), FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);
  g_return_val_if_fail (sender != NULL, FALSE);
  g_return_val_if_fail (frame != NULL && g_bytes_get_size (frame) > 0, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (recipient == NULL)
    recipient = zero_key;

  if (self->backend == BACKEND_MEMORY)
    ok = memory_append (self, room_id, sender, recipient, request_id, frame, now_ms,
                        &local_seq, &local_duplicate, error);
  else
    ok = sqlite_append (self, room_id, sender, recipient, request_id, frame, now_ms,
                        &local_seq, &local_duplicate, error);

  if (ok && seq != NULL)
    *seq = local_seq;
  if (ok && duplicate != NULL)
    *duplicate = local_duplicate;
  return ok;
}

GPtrArray *
usi_relay_store_read_after (UsiRelayStore  *self,
                            const guint8   *room_id,
                            const guint8   *reader,
                            guint64         after_seq,
                            guint           max_frames,
                            GError        **error)
{
  g_autoptr(GPtrArray) frames = NULL;

  g_return_val_if_fail (USI_IS_RELAY_STORE (self), NULL);
  g_return_val_if_fail (room_id != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  frames = g_ptr_array_new_with_free_func ((GDestroyNotify) usi_relay_stored_frame_free);
  if (max_frames == 0)
    return g_steal_pointer (&frames);

  if (self->backend == BACKEND_MEMORY)
    {
      MemoryRoom *room = memory_lookup_room (self, room_id);
      UsiRelayStoredFrame *first;
      GList *link;

      if (room == NULL || (first = g_queue_peek_head (&room->frames)) == NULL || after_seq >= room->last_seq)
        return g_steal_pointer (&frames);

      /* Sequence numbers in the queue are consecutive: go straight to
       * after_seq + 1 (from the nearer end). */
      if (after_seq < first->seq)
        link = room->frames.head;
      else
        link = g_queue_peek_nth_link (&room->frames, (guint) (after_seq + 1 - first->seq));

      for (; link != NULL && frames->len < max_frames; link = link->next)
        {
          const UsiRelayStoredFrame *stored = link->data;

          if (memcmp (stored->recipient, zero_key, KEY_LENGTH) == 0 ||
              (reader != NULL && memcmp (stored->recipient, reader, KEY_LENGTH) == 0))
            g_ptr_array_add (frames, stored_frame_copy (stored));
        }
      return g_steal_pointer (&frames);
    }
  else
    {
      sqlite3_stmt *stmt = self->stmts[STMT_READ_AFTER];
      int rc;

      sqlite3_bind_blob (stmt, 1, room_id, ROOM_ID_LENGTH, SQLITE_STATIC);
      sqlite3_bind_int64 (stmt, 2, (sqlite3_int64) MIN (after_seq, (guint64) G_MAXINT64));
      sqlite3_bind_blob (stmt, 3, zero_key, KEY_LENGTH, SQLITE_STATIC);
      sqlite3_bind_blob (stmt, 4, reader != NULL ? reader : zero_key, KEY_LENGTH, SQLITE_STATIC);
      sqlite3_bind_int64 (stmt, 5, max_frames);
      while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
        {
          UsiRelayStoredFrame *stored;

          if (sqlite3_column_bytes (stmt, 1) != KEY_LENGTH || sqlite3_column_bytes (stmt, 2) != KEY_LENGTH)
            {
              rc = SQLITE_CORRUPT;
              break;
            }
          stored = g_new0 (UsiRelayStoredFrame, 1);
          stored->seq = (guint64) sqlite3_column_int64 (stmt, 0);
          memcpy (stored->sender, sqlite3_column_blob (stmt, 1), KEY_LENGTH);
          memcpy (stored->recipient, sqlite3_column_blob (stmt, 2), KEY_LENGTH);
          stored->request_id = (guint64) sqlite3_column_int64 (stmt, 3);
          stored->stored_ms = (guint64) sqlite3_column_int64 (stmt, 4);
          stored->frame = g_bytes_new (sqlite3_column_blob (stmt, 5), (gsize) sqlite3_column_bytes (stmt, 5));
          g_ptr_array_add (frames, stored);
        }
      sqlite3_reset (stmt);
      sqlite3_clear_bindings (stmt);
      if (rc != SQLITE_DONE)
        {
          set_sqlite_error (self, rc, error);
          return NULL;
        }
      return g_steal_pointer (&frames);
    }
}

guint64
usi_relay_store_get_last_seq (UsiRelayStore *self,
                              const guint8  *room_id)
{
  g_return_val_if_fail (USI_IS_RELAY_STORE (self), 0);
  g_return_val_if_fail (room_id != NULL, 0);

  if (self->backend == BACKEND_MEMORY)
    {
      MemoryRoom *room = memory_lookup_room (self, room_id);

      return room != NULL ? room->last_seq : 0;
    }
  else
    {
      g_autoptr(GError) error = NULL;
      guint64 last_seq = 0, frame_count, byte_count;

      if (!sqlite_room_get (self, room_id, &last_seq, &frame_count, &byte_count, &error) &&
          !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
        g_warning ("Could not read a room's sequence number: %s", error->message);
      return last_seq;
    }
}

void
usi_relay_store_prune_backlog (UsiRelayStore *self,
                               const guint8  *room_id,
                               guint64        now_ms)
{
  g_autoptr(GError) error = NULL;
  guint64 last_seq, frame_count, byte_count;

  g_return_if_fail (USI_IS_RELAY_STORE (self));
  g_return_if_fail (room_id != NULL);

  if (self->backend == BACKEND_MEMORY)
    {
      MemoryRoom *room = memory_lookup_room (self, room_id);

      if (room != NULL)
        memory_prune (self, room, now_ms);
      return;
    }

  if (!transaction_begin (self, &error))
    goto fail;
  if (!sqlite_room_get (self, room_id, &last_seq, &frame_count, &byte_count, &error) ||
      !sqlite_prune (self, room_id, &frame_count, &byte_count, now_ms, &error) ||
      !sqlite_room_update (self, room_id, last_seq, frame_count, byte_count, &error) ||
      !transaction_commit (self, &error))
    {
      transaction_rollback (self);
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND))
        return;
      goto fail;
    }
  return;

fail:
  g_warning ("Could not prune a room's backlog: %s", error->message);
}

void
_usi_relay_store_set_max_size_for_testing (UsiRelayStore *self,
                                           guint64        max_bytes)
{
  g_autofree char *sql = NULL;
  gint64 page_size = 4096;

  g_return_if_fail (USI_IS_RELAY_STORE (self));
  g_return_if_fail (self->backend == BACKEND_SQLITE);

  pragma_int (self, "PRAGMA page_size", &page_size, NULL);
  sql = g_strdup_printf ("PRAGMA max_page_count = %" G_GUINT64_FORMAT, MAX (max_bytes / (guint64) page_size, 1));
  sql_exec (self, sql, NULL);
}
