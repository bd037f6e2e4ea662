/* SPDX-License-Identifier: GPL-3.0-or-later */

/* usi-bench GROUP [--json]: Usi's performance figures, each next to an anchor
 * measured in the same run (OpenSSL's own `openssl speed`) and a goal.  Per
 * core: everything runs on one thread.  Exits 0 even when a goal is missed
 * (the figure then says ok: false); only bad usage or a failure to run the
 * code under test is an error.  Touches no key material of its own: it only
 * calls the public crypto and protocol APIs of the product libraries (system
 * randomness), never libcrypto.
 *
 * Groups: crypto (the primitives), protocol (messages and commits).
 */

#define G_LOG_DOMAIN "usi-bench"

#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <glib.h>

#include "crypto/usi-aead.h"
#include "crypto/usi-chunked.h"
#include "crypto/usi-random.h"
#include "crypto/usi-hpke.h"
#include "crypto/usi-mls-labels.h"
#include "crypto/usi-mls-secret-tree.h"
#include "protocol/usi-identity.h"
#include "protocol/usi-member-group.h"
#include "protocol/usi-message.h"
#include "protocol/usi-message-channel.h"
#include "protocol/usi-owner-group.h"

#include "usi-bench-report.h"

/* Every figure runs at least this long. */
#define MIN_DURATION_USEC (2 * G_USEC_PER_SEC)
#define OPENSSL_SECONDS   "3"
/* Cobblestone messages of this many full chunks (1 MiB), so that the
 * per-message key derivation is paid as it would be for a real file. */
#define CHUNKS_PER_MESSAGE 64

typedef UsiBenchFigure Figure;

static gboolean json_output;

static void
report (const Figure *figure)
{
  int decimals = usi_bench_figure_decimals (figure);
  gboolean ok = usi_bench_figure_ok (figure);

  if (json_output)
    usi_bench_figure_print_json (figure);
  else
    {
      printf ("%-52s %12.*f %s\n", figure->description, decimals, figure->value, figure->unit);
      if (figure->anchor != NULL && isnan (figure->anchor_value))
        printf ("    anchor %s: could not be measured; goal %s\n", figure->anchor, figure->goal_text);
      else if (figure->anchor != NULL)
        printf ("    anchor %s: %.1f %s; goal %s = %.1f %s (%.2f× the anchor) — %s\n",
                figure->anchor, figure->anchor_value, figure->unit, figure->goal_text,
                figure->goal, figure->unit, figure->value / figure->anchor_value,
                ok ? "ok" : "MISSED");
      else
        printf ("    goal %s — %s\n", figure->goal_text, ok ? "ok" : "MISSED");
    }
  fflush (stdout);
}

static G_GNUC_NORETURN void
die (const char *what,
     GError     *error)
{
  g_printerr ("usi-bench: %s: %s\n", what, error != NULL ? error->message : "failed");
  exit (1);
}


/* Anchors: `openssl speed`, single process, elapsed (wall-clock) time. */

static char *
run_openssl_speed (const char * const *arguments)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autoptr(GError) error = NULL;
  g_autofree char *standard_output = NULL;
  int wait_status = 0;

  g_ptr_array_add (argv, (char *) "openssl");
  g_ptr_array_add (argv, (char *) "speed");
  g_ptr_array_add (argv, (char *) "-elapsed");
  g_ptr_array_add (argv, (char *) "-seconds");
  g_ptr_array_add (argv, (char *) OPENSSL_SECONDS);
  for (; *arguments != NULL; arguments++)
    g_ptr_array_add (argv, (char *) *arguments);
  g_ptr_array_add (argv, NULL);

  if (!g_spawn_sync (NULL, (char **) argv->pdata, NULL,
                     G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                     NULL, NULL, &standard_output, NULL, &wait_status, &error) ||
      !g_spawn_check_wait_status (wait_status, &error))
    {
      g_printerr ("usi-bench: openssl speed: %s\n", error->message);
      return NULL;
    }

  return g_steal_pointer (&standard_output);
}

/* The last number on the first line that starts with @row_start (after
 * blanks), with a trailing 'k' meaning thousands. */
static double
parse_speed_row (const char *output,
                 const char *row_start)
{
  g_auto(GStrv) lines = NULL;

  if (output == NULL)
    return NAN;

  lines = g_strsplit (output, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto(GStrv) fields = NULL;
      const char *line = lines[i];
      const char *last;
      char *end = NULL;
      double value;
      guint n;

      while (g_ascii_isspace (*line))
        line++;
      if (!g_str_has_prefix (line, row_start))
        continue;

      fields = g_strsplit_set (line, " \t", -1);
      n = g_strv_length (fields);
      while (n > 0 && fields[n - 1][0] == '\0')
        n--;
      if (n == 0)
        continue;
      last = fields[n - 1];
      value = g_ascii_strtod (last, &end);
      if (end == last)
        continue;
      if (*end == 'k')
        value *= 1000.0;
      return value;
    }

  return NAN;
}

/* AES-256-GCM on 16 KiB buffers, in MB/s (10^6 bytes). */
static double
measure_openssl_aes_gcm (void)
{
  static const char * const arguments[] = { "-bytes", "16384", "-evp", "aes-256-gcm", NULL };
  g_autofree char *output = run_openssl_speed (arguments);

  /* OpenSSL prints 1000s of bytes per second: "AES-256-GCM  3108716.54k". */
  return parse_speed_row (output, "AES-256-GCM") / 1e6;
}

/* X25519 derivations per second. */
static G_GNUC_UNUSED double
measure_openssl_x25519 (void)
{
  static const char * const arguments[] = { "ecdhx25519", NULL };
  g_autofree char *output = run_openssl_speed (arguments);

  /* " 253 bits ecdh (X25519)   0.0000s  26934.0" */
  return parse_speed_row (output, "253 bits ecdh (X25519)");
}


/* Ed25519 verifications per second. */
static double
measure_openssl_ed25519_verify (void)
{
  static const char * const arguments[] = { "ed25519", NULL };
  g_autofree char *output = run_openssl_speed (arguments);

  /* " 253 bits EdDSA (Ed25519)   0.0001s   0.0001s  17158.0   7615.0": the
   * last column is verify/s. */
  return parse_speed_row (output, "253 bits EdDSA (Ed25519)");
}


/* Usi's figures */

typedef struct
{
  gint64 start;
  gint64 elapsed;
} Timer;

static void
timer_start (Timer *timer)
{
  timer->start = g_get_monotonic_time ();
  timer->elapsed = 0;
}

static gboolean
timer_running (Timer *timer)
{
  timer->elapsed = g_get_monotonic_time () - timer->start;
  return timer->elapsed < MIN_DURATION_USEC;
}

static double
timer_seconds (const Timer *timer)
{
  return (double) timer->elapsed / G_USEC_PER_SEC;
}

static gboolean
count_bytes (guint64        index,
             const guint8  *data,
             gsize          length,
             gboolean       is_final,
             gpointer       user_data,
             GError       **error)
{
  guint64 *total = user_data;

  *total += length;
  return TRUE;
}

static const guint8 bench_key[USI_CHUNKED_KEY_LENGTH] = {
  0x62, 0x65, 0x6e, 0x63, 0x68, 0x20, 0x6b, 0x65, 0x79, 0x20, 0x6e, 0x6f, 0x74, 0x20, 0x61, 0x20,
  0x73, 0x65, 0x63, 0x72, 0x65, 0x74, 0x2c, 0x20, 0x6a, 0x75, 0x73, 0x74, 0x20, 0x69, 0x6e, 0x70,
};
static const guint8 bench_context[] = "usi-bench";

/* One file of CHUNKS_PER_MESSAGE full chunks (plus the empty final one),
 * its chunks going to @func; the header is appended to @header_sink if given. */
static void
encrypt_message (const guint8    *plaintext,
                 UsiChunkedFunc   func,
                 gpointer         user_data,
                 GByteArray      *header_sink)
{
  g_autoptr(UsiChunkedEncryptor) encryptor = NULL;
  g_autoptr(GError) error = NULL;

  encryptor = usi_chunked_encryptor_new (bench_key, sizeof bench_key, bench_context, sizeof bench_context,
                                         usi_random_get_system (), func, user_data, &error);
  if (encryptor == NULL)
    die ("Cobblestone-256 encryptor", error);
  if (header_sink != NULL)
    g_byte_array_append (header_sink, usi_chunked_encryptor_get_header (encryptor), USI_CHUNKED_HEADER_LENGTH);
  for (guint i = 0; i < CHUNKS_PER_MESSAGE; i++)
    if (!usi_chunked_encryptor_push (encryptor, plaintext, USI_CHUNKED_CHUNK_LENGTH, &error))
      die ("Cobblestone-256 encryption", error);
  if (!usi_chunked_encryptor_finish (encryptor, &error))
    die ("Cobblestone-256 encryption", error);
}

static gboolean
keep_chunk (guint64        index,
            const guint8  *data,
            gsize          length,
            gboolean       is_final,
            gpointer       user_data,
            GError       **error)
{
  g_byte_array_append (user_data, data, length);
  return TRUE;
}

static void
bench_cobblestone (double anchor)
{
  g_autofree guint8 *plaintext = g_malloc0 (USI_CHUNKED_CHUNK_LENGTH);
  g_autoptr(GByteArray) message = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  Figure figure = {
    .bench = "crypto",
    .unit = "MB/s",
    .anchor = "openssl speed -evp aes-256-gcm, 16 KiB",
    .anchor_value = anchor,
    .goal = 0.6 * anchor,
    .goal_text = "≥ 0.6 × anchor",
  };
  guint64 plaintext_bytes = 0, emitted = 0;
  Timer timer;

  for (gsize i = 0; i < USI_CHUNKED_CHUNK_LENGTH; i++)
    plaintext[i] = i & 0xff;

  timer_start (&timer);
  do
    {
      encrypt_message (plaintext, count_bytes, &emitted, NULL);
      plaintext_bytes += CHUNKS_PER_MESSAGE * USI_CHUNKED_CHUNK_LENGTH;
    }
  while (timer_running (&timer));
  figure.metric = "cobblestone256_encrypt_16KiB";
  figure.description = "Cobblestone-256 encrypt (16 KiB chunks, 1 MiB files)";
  figure.value = plaintext_bytes / 1e6 / timer_seconds (&timer);
  report (&figure);

  /* One message encrypted once, decrypted over and over, fed chunk by
   * chunk as the file transfer does. */
  encrypt_message (plaintext, keep_chunk, message, message);
  /* (the header is appended first, then the chunks as they come) */
  g_assert (message->len == USI_CHUNKED_HEADER_LENGTH + CHUNKS_PER_MESSAGE * USI_CHUNKED_SEALED_CHUNK_LENGTH
                            + USI_CHUNKED_TAG_LENGTH);

  plaintext_bytes = 0;
  timer_start (&timer);
  do
    {
      g_autoptr(UsiChunkedDecryptor) decryptor = NULL;
      guint64 decrypted = 0;
      gsize offset = 0;

      decryptor = usi_chunked_decryptor_new (bench_key, sizeof bench_key, bench_context, sizeof bench_context,
                                             count_bytes, &decrypted, &error);
      if (decryptor == NULL)
        die ("Cobblestone-256 decryptor", error);
      if (!usi_chunked_decryptor_push (decryptor, message->data, USI_CHUNKED_HEADER_LENGTH, &error))
        die ("Cobblestone-256 decryption", error);
      offset = USI_CHUNKED_HEADER_LENGTH;
      while (offset < message->len)
        {
          gsize take = MIN (USI_CHUNKED_SEALED_CHUNK_LENGTH, message->len - offset);

          if (!usi_chunked_decryptor_push (decryptor, message->data + offset, take, &error))
            die ("Cobblestone-256 decryption", error);
          offset += take;
        }
      if (!usi_chunked_decryptor_finish (decryptor, &error))
        die ("Cobblestone-256 decryption", error);
      g_assert (decrypted == CHUNKS_PER_MESSAGE * USI_CHUNKED_CHUNK_LENGTH);
      plaintext_bytes += decrypted;
    }
  while (timer_running (&timer));
  figure.metric = "cobblestone256_decrypt_16KiB";
  figure.description = "Cobblestone-256 decrypt (16 KiB chunks, 1 MiB files)";
  figure.value = plaintext_bytes / 1e6 / timer_seconds (&timer);
  report (&figure);
}

static void
bench_hpke (double anchor)
{
  static const guint8 info[] = "usi-bench hpke";
  static const guint8 plaintext[64] = { 0 };
  UsiHpkeParameters parameters = {
    .mode = USI_HPKE_MODE_BASE,
    .info = info,
    .info_length = sizeof info,
  };
  guint8 private_key[USI_HPKE_PRIVATE_KEY_LENGTH];
  guint8 public_key[USI_HPKE_PUBLIC_KEY_LENGTH];
  guint8 enc[USI_HPKE_ENC_LENGTH];
  guint8 ciphertext[sizeof plaintext + USI_HPKE_TAG_LENGTH];
  g_autoptr(GError) error = NULL;
  Figure figure = {
    .bench = "crypto",
    .metric = "hpke_base_seal_single_shot",
    .description = "HPKE single-shot seal (Base, X25519, 64 bytes)",
    .unit = "ops/s",
    .anchor = "openssl speed ecdhx25519 (derivations)",
    .anchor_value = anchor,
    .goal = 0.4 * anchor,
    .goal_text = "≥ 0.4 × anchor",
  };
  guint64 operations = 0;
  Timer timer;

  if (!usi_hpke_generate_key_pair (usi_random_get_system (), private_key, public_key, &error))
    die ("HPKE key pair", error);

  timer_start (&timer);
  do
    {
      if (!usi_hpke_seal (&parameters, usi_random_get_system (), public_key, NULL, NULL, 0,
                          plaintext, sizeof plaintext, enc, ciphertext, &error))
        die ("HPKE seal", error);
      operations++;
    }
  while (timer_running (&timer));
  figure.value = operations / timer_seconds (&timer);
  report (&figure);
}

static void
bench_secret_tree (void)
{
  static const guint8 encryption_secret[USI_MLS_HASH_LENGTH] = { 1, 2, 3 };
  static const guint8 plaintext[200] = { 0 };
  g_autoptr(UsiMlsSecretTree) tree = NULL;
  g_autoptr(GError) error = NULL;
  guint8 key[USI_MLS_AEAD_KEY_LENGTH];
  guint8 nonce[USI_MLS_AEAD_NONCE_LENGTH];
  guint8 ciphertext[sizeof plaintext];
  guint8 tag[USI_AEAD_TAG_LENGTH];
  Figure figure = {
    .bench = "crypto",
    .metric = "secret_tree_step_chacha20poly1305_200B",
    .description = "secret-tree ratchet step + ChaCha20-Poly1305, 200 B",
    .unit = "ops/s",
    .anchor = NULL,
    .anchor_value = NAN,
    .goal = 100000,
    .goal_text = "≥ 100000 ops/s",
  };
  guint64 operations = 0;
  Timer timer;

  tree = usi_mls_secret_tree_new (USI_MLS_LABEL_PREFIX_RFC9420, encryption_secret, 8, 1000, &error);
  if (tree == NULL)
    die ("secret tree", error);

  timer_start (&timer);
  do
    {
      guint32 generation;

      if (!usi_mls_secret_tree_next_key (tree, USI_MLS_RATCHET_APPLICATION, 3, &generation, key, nonce, &error) ||
          !usi_aead_seal (USI_AEAD_CHACHA20_POLY1305, key, nonce, NULL, 0,
                          plaintext, sizeof plaintext, ciphertext, tag, &error))
        die ("secret-tree step", error);
      operations++;
    }
  while (timer_running (&timer));
  figure.value = operations / timer_seconds (&timer);
  report (&figure);
}

static void
bench_crypto (void)
{
  double aes_gcm = measure_openssl_aes_gcm ();

  bench_cobblestone (aes_gcm);
  bench_hpke (measure_openssl_x25519 ());
  bench_secret_tree ();
}


/* The protocol group: rooms built with the owner's and members' own state
 * machines, exactly as the session layer drives them, on system randomness. */

/* A room of this many members (owner included) for messages, and for commits. */
#define MESSAGE_ROOM_MEMBERS  10
#define COMMIT_ROOM_MEMBERS   100
#define MESSAGE_BODY_LENGTH   100
/* Messages sealed ahead (untimed), then opened in order (timed). */
#define OPEN_BATCH            2048
#define WARM_UP_MESSAGES      256
/* Commits: at least this many runs, and at least MIN_DURATION_USEC of them. */
#define MIN_COMMIT_RUNS       20
#define MAX_COMMIT_RUNS       2000
#define WARM_UP_COMMITS       3
#define BENCH_NOW_MS          G_GUINT64_CONSTANT (1700000000000)

/* A member whose state the bench keeps: it follows every commit made after
 * it joined. */
typedef struct
{
  UsiIdentity    *identity;
  UsiMemberGroup *group;
} Follower;

typedef struct
{
  UsiIdentity   *owner;
  UsiOwnerGroup *owner_group;
  guint8         room_id[USI_ROOM_ID_LENGTH];
  GPtrArray     *followers;   /* Follower */
} BenchRoom;

static void
follower_free (Follower *follower)
{
  usi_member_group_free (follower->group);
  usi_identity_free (follower->identity);
  g_free (follower);
}

static void
bench_room_free (BenchRoom *room)
{
  g_ptr_array_unref (room->followers);
  usi_owner_group_free (room->owner_group);
  usi_identity_free (room->owner);
  g_free (room);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BenchRoom, bench_room_free)

static void
bench_room_deliver (BenchRoom *room,
                    GBytes    *commit)
{
  for (guint i = 0; i < room->followers->len; i++)
    {
      Follower *follower = g_ptr_array_index (room->followers, i);
      g_autoptr(GError) error = NULL;
      UsiMemberCommitOutcome outcome;

      if (!usi_member_group_process_commit (follower->group, g_bytes_get_data (commit, NULL),
                                            g_bytes_get_size (commit), &outcome, &error))
        die ("processing a commit", error);
      if (outcome != USI_MEMBER_COMMIT_APPLIED)
        die ("processing a commit (removed)", NULL);
    }
}

/* A room of @n_members, owner included, whose last @n_followers joiners keep
 * their member state. */
static BenchRoom *
bench_room_new (guint n_members,
                guint n_followers)
{
  UsiRandom *random = usi_random_get_system ();
  g_autoptr(BenchRoom) room = g_new0 (BenchRoom, 1);
  g_autoptr(GBytes) genesis = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(UsiLeafSecret) owner_leaf = { 0 };
  UsiRoomConfig config;

  g_assert (n_followers < n_members);

  room->followers = g_ptr_array_new_with_free_func ((GDestroyNotify) follower_free);
  room->owner = usi_identity_generate (random, &error);
  if (room->owner == NULL ||
      !usi_leaf_secret_generate (random, room->owner, 1, BENCH_NOW_MS, &owner_leaf, &error) ||
      !usi_random_fill (random, room->room_id, sizeof room->room_id, &error))
    die ("room owner", error);
  usi_room_config_init_default (&config);
  room->owner_group = usi_owner_group_create (room->owner, &owner_leaf.node, "Owner", room->room_id,
                                              &config, NULL, random, &genesis, &error);
  if (room->owner_group == NULL)
    die ("creating a room", error);

  for (guint i = 1; i < n_members; i++)
    {
      g_autoptr(UsiIdentity) identity = NULL;
      g_auto(UsiLeafSecret) leaf = { 0 };
      g_autoptr(GBytes) commit = NULL;
      g_autoptr(GBytes) welcome = NULL;
      g_autofree char *name = g_strdup_printf ("Member %u", i);
      guint32 index;

      identity = usi_identity_generate (random, &error);
      if (identity == NULL ||
          !usi_leaf_secret_generate (random, identity, 1, BENCH_NOW_MS, &leaf, &error))
        die ("member identity", error);
      if (!usi_owner_group_add_member (room->owner_group, &leaf.node, name, random,
                                       &index, &commit, &welcome, &error))
        die ("adding a member", error);
      bench_room_deliver (room, commit);

      if (i >= n_members - n_followers)
        {
          Follower *follower = g_new0 (Follower, 1);

          follower->group = usi_member_group_new_from_welcome (g_bytes_get_data (welcome, NULL),
                                                               g_bytes_get_size (welcome), room->room_id,
                                                               usi_identity_get_public_key (room->owner),
                                                               identity, &leaf, NULL, &error);
          if (follower->group == NULL)
            die ("joining from a welcome", error);
          follower->identity = g_steal_pointer (&identity);
          g_ptr_array_add (room->followers, follower);
        }
    }

  return g_steal_pointer (&room);
}

static Follower *
bench_room_get_follower (BenchRoom *room,
                         guint      i)
{
  return g_ptr_array_index (room->followers, i);
}

static UsiMessageChannel *
follower_channel_new (Follower *follower)
{
  g_autoptr(GError) error = NULL;
  UsiMessageChannel *channel = usi_message_channel_new (usi_member_group_get_epoch (follower->group), &error);

  if (channel == NULL)
    die ("message channel", error);
  return channel;
}

static GBytes *
seal_text (UsiMessageChannel *channel,
           Follower          *sender,
           const guint8      *text,
           guint64            sent_ms)
{
  g_autoptr(GError) error = NULL;
  GBytes *frame = usi_message_channel_seal (channel, sender->identity, USI_CONTENT_TYPE_TEXT,
                                            text, MESSAGE_BODY_LENGTH, sent_ms,
                                            usi_random_get_system (), &error);

  if (frame == NULL)
    die ("sealing a message", error);
  return frame;
}

static void
open_text (UsiMessageChannel *channel,
           GBytes            *frame)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiReceivedMessage) message = NULL;

  message = usi_message_channel_open (channel, g_bytes_get_data (frame, NULL), g_bytes_get_size (frame),
                                      BENCH_NOW_MS, &error);
  if (message == NULL)
    die ("opening a message", error);
  if (g_bytes_get_size (message->body) != MESSAGE_BODY_LENGTH || message->gap)
    die ("opening a message (wrong content)", NULL);
}

static void
bench_messages (double ed25519_verify)
{
  g_autoptr(BenchRoom) room = NULL;
  g_autoptr(UsiMessageChannel) sealer = NULL;
  g_autoptr(UsiMessageChannel) sender = NULL;
  g_autoptr(UsiMessageChannel) receiver = NULL;
  g_autoptr(GPtrArray) batch = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  guint8 text[MESSAGE_BODY_LENGTH];
  Figure figure = {
    .bench = "protocol",
    .metric = "app_message_seal_100B",
    .description = "seal an application message (100 B, 10 members)",
    .unit = "msg/s",
    .anchor = NULL,
    .anchor_value = NAN,
    .goal = 20000,
    .goal_text = "≥ 20000 msg/s",
  };
  guint64 operations = 0, sent_ms = BENCH_NOW_MS;
  gint64 elapsed = 0;
  Timer timer;

  /* Printable text, as typed. */
  for (gsize i = 0; i < sizeof text; i++)
    text[i] = "The quick brown fox jumps over the lazy dog. "[i % 45];

  /* Three members keep their state: one seals for the first figure, one
   * seals the batches the third opens (a separate sender, so the receiver
   * sees its generations from 0, in order). */
  room = bench_room_new (MESSAGE_ROOM_MEMBERS, 3);
  sealer = follower_channel_new (bench_room_get_follower (room, 0));
  sender = follower_channel_new (bench_room_get_follower (room, 1));
  receiver = follower_channel_new (bench_room_get_follower (room, 2));

  /* 1. Sealing. */
  for (guint i = 0; i < WARM_UP_MESSAGES; i++)
    {
      g_autoptr(GBytes) frame = seal_text (sealer, bench_room_get_follower (room, 0), text, sent_ms++);
    }
  timer_start (&timer);
  do
    {
      g_autoptr(GBytes) frame = seal_text (sealer, bench_room_get_follower (room, 0), text, sent_ms++);

      operations++;
    }
  while (timer_running (&timer));
  figure.value = operations / timer_seconds (&timer);
  report (&figure);

  /* 2. Opening: batches sealed ahead, untimed, then opened in order. */
  for (guint i = 0; i < WARM_UP_MESSAGES; i++)
    {
      g_autoptr(GBytes) frame = seal_text (sender, bench_room_get_follower (room, 1), text, sent_ms++);

      open_text (receiver, frame);
    }
  operations = 0;
  while (elapsed < MIN_DURATION_USEC)
    {
      gint64 start;

      g_ptr_array_set_size (batch, 0);
      for (guint i = 0; i < OPEN_BATCH; i++)
        g_ptr_array_add (batch, seal_text (sender, bench_room_get_follower (room, 1), text, sent_ms++));

      start = g_get_monotonic_time ();
      for (guint i = 0; i < batch->len; i++)
        open_text (receiver, g_ptr_array_index (batch, i));
      elapsed += g_get_monotonic_time () - start;
      operations += batch->len;
    }
  figure.metric = "app_message_open_100B";
  figure.description = "open an application message (100 B, 10 members)";
  figure.anchor = "openssl speed ed25519 (verifications)";
  figure.anchor_value = ed25519_verify;
  figure.goal = 0.7 * ed25519_verify;
  figure.goal_text = "≥ 0.7 × anchor";
  figure.unit = "msg/s";
  figure.value = operations / ((double) elapsed / G_USEC_PER_SEC);
  report (&figure);
}

static int
compare_doubles (gconstpointer a,
                 gconstpointer b)
{
  double x = *(const double *) a, y = *(const double *) b;

  return (x > y) - (x < y);
}

static double
median (GArray *samples)
{
  guint n = samples->len;

  g_array_sort (samples, compare_doubles);
  if (n % 2 == 1)
    return g_array_index (samples, double, n / 2);
  return (g_array_index (samples, double, n / 2 - 1) + g_array_index (samples, double, n / 2)) / 2;
}

/* The owner rotates the keys of a full room; one member processes it.  The
 * commit seals a fresh commit_secret to each of the 99 other members. */
static void
bench_commits (void)
{
  g_autoptr(BenchRoom) room = NULL;
  g_autoptr(GArray) create_ms = g_array_new (FALSE, FALSE, sizeof (double));
  g_autoptr(GArray) process_ms = g_array_new (FALSE, FALSE, sizeof (double));
  Follower *member;
  Figure figure = {
    .bench = "protocol",
    .unit = "ms",
    .anchor = NULL,
    .anchor_value = NAN,
    .goal_is_max = TRUE,
    .decimals = 3,
  };
  gint64 loop_start = 0;

  room = bench_room_new (COMMIT_ROOM_MEMBERS, 1);
  member = bench_room_get_follower (room, 0);
  if (usi_epoch_get_roster (usi_owner_group_get_epoch (room->owner_group))->len != COMMIT_ROOM_MEMBERS)
    die ("building a room of 100", NULL);

  for (guint run = 0; ; run++)
    {
      g_autoptr(GBytes) commit = NULL;
      g_autoptr(GError) error = NULL;
      UsiMemberCommitOutcome outcome;
      gint64 t0, t1, t2;
      double create, process;

      if (run == WARM_UP_COMMITS)
        loop_start = g_get_monotonic_time ();

      t0 = g_get_monotonic_time ();
      if (!usi_owner_group_rotate (room->owner_group, usi_random_get_system (), &commit, &error))
        die ("rotating the keys", error);
      t1 = g_get_monotonic_time ();
      if (!usi_member_group_process_commit (member->group, g_bytes_get_data (commit, NULL),
                                            g_bytes_get_size (commit), &outcome, &error))
        die ("processing a commit", error);
      t2 = g_get_monotonic_time ();
      if (outcome != USI_MEMBER_COMMIT_APPLIED)
        die ("processing a commit (removed)", NULL);

      if (run < WARM_UP_COMMITS)
        continue;
      create = (double) (t1 - t0) / 1000;
      process = (double) (t2 - t1) / 1000;
      g_array_append_val (create_ms, create);
      g_array_append_val (process_ms, process);
      if ((create_ms->len >= MIN_COMMIT_RUNS && g_get_monotonic_time () - loop_start >= MIN_DURATION_USEC) ||
          create_ms->len >= MAX_COMMIT_RUNS)
        break;
    }

  figure.metric = "commit_create_100_members";
  figure.description = g_strdup_printf ("create a commit, 100 members (median of %u)", create_ms->len);
  figure.value = median (create_ms);
  figure.goal = 20;
  figure.goal_text = "≤ 20 ms";
  report (&figure);
  g_free ((char *) figure.description);

  figure.metric = "commit_process_100_members";
  figure.description = g_strdup_printf ("process a commit, 100 members (median of %u)", process_ms->len);
  figure.value = median (process_ms);
  figure.goal = 2;
  figure.goal_text = "≤ 2 ms";
  report (&figure);
  g_free ((char *) figure.description);
}

static void
bench_protocol (void)
{
  bench_messages (measure_openssl_ed25519_verify ());
  bench_commits ();
}

int
main (int    argc,
      char **argv)
{
  const char *group = NULL;

  for (int i = 1; i < argc; i++)
    {
      if (g_str_equal (argv[i], "--json"))
        json_output = TRUE;
      else if (argv[i][0] != '-' && group == NULL)
        group = argv[i];
      else
        {
          g_printerr ("usage: usi-bench GROUP [--json]   (groups: crypto, protocol)\n");
          return 2;
        }
    }
  if (group == NULL)
    group = "crypto";

  if (g_str_equal (group, "crypto"))
    bench_crypto ();
  else if (g_str_equal (group, "protocol"))
    bench_protocol ();
  else
    {
      g_printerr ("usi-bench: unknown group “%s” (groups: crypto, protocol)\n", group);
      return 2;
    }

  return 0;
}
