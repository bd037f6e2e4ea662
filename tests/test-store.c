/* SPDX-License-Identifier: GPL-3.0-or-later */

/* store/: round trips in each mode, and every way a record on disk can be
 * damaged is refused with its exact error, never reset. */

#define _GNU_SOURCE  /* memmem */

#include "config.h"

#include <string.h>
#include <sys/stat.h>

#include <glib/gstdio.h>

#include "store/usi-store.h"
#include "store/usi-store-private.h"

typedef struct
{
  char *tmp;    /* made by g_dir_make_tmp */
  char *state;  /* tmp/state, made by the store */
} Fixture;

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
          g_assert_no_errno (g_unlink (child));
      }
  g_rmdir (path);
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;

  fixture->tmp = g_dir_make_tmp ("usi-store-XXXXXX", &error);
  g_assert_no_error (error);
  fixture->state = g_build_filename (fixture->tmp, "state", NULL);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  user_data)
{
  remove_tree (fixture->tmp);
  g_assert_false (g_file_test (fixture->tmp, G_FILE_TEST_EXISTS));
  g_free (fixture->tmp);
  g_free (fixture->state);
}

static char *
record_file (Fixture    *fixture,
             const char *id)
{
  g_autofree char *name = g_strconcat (id, ".record", NULL);

  return g_build_filename (fixture->state, name, NULL);
}

static GBytes *
bytes_from_string (const char *text)
{
  return g_bytes_new (text, strlen (text));
}

static void
assert_record (UsiStore   *store,
               const char *id,
               const char *expected)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = usi_store_get (store, id, &error);
  gsize length;
  const char *data;

  g_assert_no_error (error);
  g_assert_nonnull (bytes);
  data = g_bytes_get_data (bytes, &length);
  g_assert_cmpmem (data, length, expected, strlen (expected));
}

static GBytes *
read_bytes (const char *path)
{
  g_autoptr(GError) error = NULL;
  char *contents = NULL;
  gsize length = 0;

  g_file_get_contents (path, &contents, &length, &error);
  g_assert_no_error (error);
  return g_bytes_new_take (contents, length);
}

static void
write_bytes (const char   *path,
             const guint8 *data,
             gsize         length)
{
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, (const char *)data, length, &error);
  g_assert_no_error (error);
}

static void
assert_mode (const char *path,
             guint       mode)
{
  GStatBuf st;

  g_assert_no_errno (g_stat (path, &st));
  g_assert_cmpuint (st.st_mode & 0777, ==, mode);
}

/* Neither the key nor any record's plaintext is in any file of @directory. */
static void
assert_nothing_in_clear (const char   *directory,
                         const guint8 *key,
                         const char   *plaintext)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDir) dir = g_dir_open (directory, 0, &error);
  const char *name;
  guint files = 0;

  g_assert_no_error (error);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *path = g_build_filename (directory, name, NULL);
      g_autoptr(GBytes) contents = read_bytes (path);
      gsize length;
      const guint8 *data = g_bytes_get_data (contents, &length);

      g_assert_null (memmem (data, length, key, USI_STORE_KEY_LENGTH));
      g_assert_null (memmem (data, length, plaintext, strlen (plaintext)));
      assert_mode (path, 0600);
      files++;
    }
  g_assert_cmpuint (files, >, 0);
}

static void
assert_list (UsiStore          *store,
             const char *const *expected)
{
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) ids = usi_store_list (store, &error);

  g_assert_no_error (error);
  g_assert_nonnull (ids);
  g_assert_true (g_strv_equal ((const char *const *)ids, expected));
}

/* put, get, replace, list, delete: the same behaviour in every mode. */
static void
exercise_records (UsiStore *store)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) identity = bytes_from_string ("identity secret seed");
  g_autoptr(GBytes) room = bytes_from_string ("room state, epoch 7");
  g_autoptr(GBytes) room2 = bytes_from_string ("room state, epoch 8");
  g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);
  g_autoptr(GBytes) missing = NULL;
  const char *none[] = { NULL };
  const char *three[] = { "empty", "identity", "room-0a1b2c", NULL };
  const char *two[] = { "empty", "room-0a1b2c", NULL };

  assert_list (store, none);
  missing = usi_store_get (store, "identity", &error);
  g_assert_error (error, USI_STORE_ERROR, USI_STORE_ERROR_NOT_FOUND);
  g_assert_null (missing);
  g_clear_error (&error);

  g_assert_true (usi_store_put (store, "identity", identity, &error));
  g_assert_no_error (error);
  g_assert_true (usi_store_put (store, "room-0a1b2c", room, &error));
  g_assert_no_error (error);
  g_assert_true (usi_store_put (store, "empty", empty, &error));
  g_assert_no_error (error);
  assert_record (store, "identity", "identity secret seed");
  assert_record (store, "room-0a1b2c", "room state, epoch 7");
  assert_record (store, "empty", "");
  assert_list (store, three);

  g_assert_true (usi_store_put (store, "room-0a1b2c", room2, &error));
  g_assert_no_error (error);
  assert_record (store, "room-0a1b2c", "room state, epoch 8");

  g_assert_true (usi_store_delete (store, "identity", &error));
  g_assert_no_error (error);
  g_assert_false (usi_store_delete (store, "identity", &error));
  g_assert_error (error, USI_STORE_ERROR, USI_STORE_ERROR_NOT_FOUND);
  g_clear_error (&error);
  assert_list (store, two);

  /* Back for the caller to reopen and check. */
  g_assert_true (usi_store_put (store, "identity", identity, &error));
  g_assert_no_error (error);
}

static UsiStore *
open_passphrase (Fixture    *fixture,
                 const char *passphrase)
{
  g_autoptr(GError) error = NULL;
  UsiStore *store = usi_store_open_passphrase (fixture->state, passphrase, NULL, &error);

  g_assert_no_error (error);
  g_assert_true (USI_IS_STORE (store));
  g_assert_cmpint (usi_store_get_mode (store), ==, USI_STORE_MODE_PASSPHRASE);
  return store;
}

static void
test_keep_nothing (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_autoptr(UsiStore) store = usi_store_new_keep_nothing ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = NULL;

  g_assert_cmpint (usi_store_get_mode (store), ==, USI_STORE_MODE_KEEP_NOTHING);
  g_assert_null (usi_store_get_directory (store));
  exercise_records (store);
  assert_record (store, "identity", "identity secret seed");

  bytes = usi_store_get (store, "../identity", &error);
  g_assert_error (error, USI_STORE_ERROR, USI_STORE_ERROR_INVALID_ID);
  g_assert_null (bytes);

  /* Nothing anywhere: the temporary directory is as it was made. */
  g_assert_false (g_file_test (fixture->state, G_FILE_TEST_EXISTS));
  {
    g_autoptr(GDir) dir = g_dir_open (fixture->tmp, 0, NULL);

    g_assert_nonnull (dir);
    g_assert_null (g_dir_read_name (dir));
  }
}

static void
test_passphrase_round_trip (Fixture       *fixture,
                            gconstpointer  user_data)
{
  g_autoptr(UsiStore) store = open_passphrase (fixture, "correct horse");
  guint8 key[USI_STORE_KEY_LENGTH];
  g_autofree char *key_path = g_build_filename (fixture->state, "key", NULL);
  g_autofree char *canonical = g_canonicalize_filename (fixture->state, NULL);
  const char *ids[] = { "empty", "identity", "room-0a1b2c", NULL };

  g_assert_cmpstr (usi_store_get_directory (store), ==, canonical);
  memcpy (key, _usi_store_get_key (store), sizeof key);
  assert_mode (fixture->state, 0700);
  assert_mode (key_path, 0600);
  exercise_records (store);
  g_clear_object (&store);

  store = open_passphrase (fixture, "correct horse");
  g_assert_cmpmem (_usi_store_get_key (store), USI_STORE_KEY_LENGTH, key, sizeof key);
  assert_record (store, "identity", "identity secret seed");
  assert_record (store, "room-0a1b2c", "room state, epoch 8");
  assert_list (store, ids);

  assert_nothing_in_clear (fixture->state, key, "identity secret seed");
}

static void
test_passphrase_wrong (Fixture       *fixture,
                       gconstpointer  user_data)
{
  g_autoptr(UsiStore) store = open_passphrase (fixture, "right");
  g_autoptr(UsiStore) refused = NULL;
  g_autoptr(GBytes) record = bytes_from_string ("identity secret seed");
  g_autoptr(GError) error = NULL;
  g_autofree char *key_path = g_build_filename (fixture->state, "key", NULL);
  g_autofree char *record_path = record_file (fixture, "identity");
  g_autoptr(GBytes) key_before = NULL;
  g_autoptr(GBytes) record_before = NULL;
  g_autoptr(GBytes) key_after = NULL;
  g_autoptr(GBytes) record_after = NULL;

  g_assert_true (usi_store_put (store, "identity", record, &error));
  g_assert_no_error (error);
  g_clear_object (&store);
  key_before = read_bytes (key_path);
  record_before = read_bytes (record_path);

  refused = usi_store_open_passphrase (fixture->state, "wrong", NULL, &error);
  g_assert_error (error, USI_STORE_ERROR, USI_STORE_ERROR_WRONG_PASSPHRASE);
  g_assert_null (refused);
  g_clear_error (&error);

  /* Nothing overwritten, and the right passphrase still opens it. */
  key_after = read_bytes (key_path);
  record_after = read_bytes (record_path);
  g_assert_true (g_bytes_equal (key_before, key_after));
  g_assert_true (g_bytes_equal (record_before, record_after));
  store = open_passphrase (fixture, "right");
  assert_record (store, "identity", "identity secret seed");
}

static void
test_passphrase_key_file_damaged (Fixture       *fixture,
                                  gconstpointer  user_data)
{
  g_autoptr(UsiStore) store = open_passphrase (fixture, "right");
  g_autoptr(UsiStore) refused = NULL;
  g_autoptr(GBytes) record = bytes_from_string ("x");
  g_autoptr(GError) error = NULL;
  g_autofree char *key_path = g_build_filename (fixture->state, "key", NULL);
  g_autoptr(GBytes) original = NULL;
  g_autofree guint8 *copy = NULL;
  gsize length;

  g_assert_true (usi_store_put (store, "identity", record, &error));
  g_assert_no_error (error);
  g_clear_object (&store);
  original = read_bytes (key_path);
  copy = g_bytes_unref_to_data (g_bytes_ref (original), &length);

  /* Truncated. */
  write_bytes (key_path, copy, length - 1);
  refused = usi_store_open_passphrase (fixture->state, "right", NULL, &error);
  g_assert_error (error, USI_STORE_ERROR, USI_STORE_ERROR_CORRUPT);
  g_assert_null (refused);
  g_clear_error (&error);

  /* scrypt N raised to 2^40: refused by the cap, not run. */
  copy[1 + 2] ^= 0x01;
  copy[1 + 5] = 0;
  write_bytes (key_path, copy, length);
  refused = usi_store_open_passphrase (fixture->state, "right", NULL, &error);
  g_assert_error (error, USI_STORE_ERROR, USI_STORE_ERROR_CORRUPT);
  g_assert_null (refused);
  g_clear_error (&error);

  /* Unknown version. */
  memcpy (copy, g_bytes_get_data (original, NULL), length);
  copy[0] = 2;
  write_bytes (key_path, copy, length);
  refused = usi_store_open_passphrase (fixture->state, "right", NULL, &error);
  g_assert_error (error, USI_STORE_ERROR, USI_STORE_ERROR_CORRUPT);
  g_assert_null (refused);
  g_clear_error (&error);

  /* Gone while records remain: refused, never a fresh key. */
  g_assert_no_errno (g_unlink (key_path));
  refused = usi_store_open_passphrase (fixture->state, "right", NULL, &error);
  g_assert_error (error, USI_STORE_ERROR, USI_STORE_ERROR_KEY_MISSING);
  g_assert_null (refused);
  g_assert_false (g_file_test (key_path, G_FILE_TEST_EXISTS));
}

static void
test_tamper (Fixture       *fixture,
             gconstpointer  user_data)
{
  g_autoptr(UsiStore) store = open_passphrase (fixture, "pass");
  g_autoptr(GBytes) a = bytes_from_string ("record a");
  g_autoptr(GBytes) b = bytes_from_string ("record b");
  g_autoptr(GError) error = NULL;
  g_autofree char *path_a = record_file (fixture, "room-aa");
  g_autofree char *path_b = record_file (fixture, "room-bb");
  g_autoptr(GBytes) original = NULL;
  g_autofree guint8 *copy = NULL;
  gsize length;
  gsize cuts[] = { 0, 1, 12, 13, 28, 29 };

  g_assert_true (usi_store_put (store, "room-aa", a, &error));
  g_assert_no_error (error);
  g_assert_true (usi_store_put (store, "room-bb", b, &error));
  g_assert_no_error (error);
  original = read_bytes (path_a);
  copy = g_bytes_unref_to_data (g_bytes_ref (original), &length);
  g_assert_cmpuint (length, ==, 1 + 12 + strlen ("record a") + 16);

  /* Every single flipped bit of every byte position. */
  for (gsize i = 0; i < length; i++)
    {
      g_autoptr(GBytes) got = NULL;

      memcpy (copy, g_bytes_get_data (original, NULL), length);
      copy[i] ^= 1 << (i % 8);
      write_bytes (path_a, copy, length);
      got = usi_store_get (store, "room-aa", &error);
      g_assert_error (error, USI_STORE_ERROR, USI_STORE_ERROR_CORRUPT);
      g_assert_null (got);
      g_clear_error (&error);
      /* Refused, not reset: the damaged file is still there. */
      g_assert_true (g_file_test (path_a, G_FILE_TEST_EXISTS));
    }

  /* Truncated, and one byte too many. */
  memcpy (copy, g_bytes_get_data (original, NULL), length);
  for (gsize i = 0; i < G_N_ELEMENTS (cuts) + 1; i++)
    {
      g_autoptr(GBytes) got = NULL;
      gsize cut = i < G_N_ELEMENTS (cuts) ? cuts[i] : length - 1;

      write_bytes (path_a, copy, cut);
      got = usi_store_get (store, "room-aa", &error);
      g_assert_error (error, USI_STORE_ERROR, USI_STORE_ERROR_CORRUPT);
      g_assert_null (got);
      g_clear_error (&error);
    }
  {
    g_autofree guint8 *longer = g_malloc0 (length + 1);
    g_autoptr(GBytes) got = NULL;

    memcpy (longer, copy, length);
    write_bytes (path_a, longer, length + 1);
    got = usi_store_get (store, "room-aa", &error);
    g_assert_error (error, USI_STORE_ERROR, USI_STORE_ERROR_CORRUPT);
    g_assert_null (got);
    g_clear_error (&error);
  }

  /* Restored, it reads again. */
  write_bytes (path_a, copy, length);
  assert_record (store, "room-aa", "record a");

  /* Swapped: room-aa's sealed file under room-bb's name. */
  g_assert_no_errno (g_rename (path_a, path_b));
  {
    g_autoptr(GBytes) got = usi_store_get (store, "room-bb", &error);

    g_assert_error (error, USI_STORE_ERROR, USI_STORE_ERROR_CORRUPT);
    g_assert_null (got);
    g_clear_error (&error);
  }
}

static void
test_invalid_id (Fixture       *fixture,
                 gconstpointer  user_data)
{
  g_autoptr(UsiStore) store = usi_store_new_keep_nothing ();
  g_autoptr(GBytes) bytes = bytes_from_string ("x");
  g_autofree char *too_long = g_strnfill (USI_STORE_MAX_ID_LENGTH + 1, 'a');
  g_autofree char *longest = g_strnfill (USI_STORE_MAX_ID_LENGTH, 'a');
  const char *invalid[] = { "", "../key", "a/b", "Identity", "room.1", "key ", too_long };
  g_autoptr(GError) error = NULL;

  for (gsize i = 0; i < G_N_ELEMENTS (invalid); i++)
    {
      g_assert_false (usi_store_put (store, invalid[i], bytes, &error));
      g_assert_error (error, USI_STORE_ERROR, USI_STORE_ERROR_INVALID_ID);
      g_clear_error (&error);
      g_assert_false (usi_store_delete (store, invalid[i], &error));
      g_assert_error (error, USI_STORE_ERROR, USI_STORE_ERROR_INVALID_ID);
      g_clear_error (&error);
    }
  g_assert_true (usi_store_put (store, longest, bytes, &error));
  g_assert_no_error (error);
}

static void
test_secret_service (Fixture       *fixture,
                     gconstpointer  user_data)
{
  g_autoptr(UsiStore) store = NULL;
  g_autoptr(UsiStore) other = NULL;
  g_autoptr(UsiStore) refused = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *other_dir = g_build_filename (fixture->tmp, "other", NULL);
  guint8 key[USI_STORE_KEY_LENGTH];
  const char *ids[] = { "empty", "identity", "room-0a1b2c", NULL };

  if (g_getenv ("USI_TEST_SECRET_SERVICE") == NULL)
    {
      g_test_skip ("needs the throwaway keyring of `build-aux/dev test` "
                   "(USI_TEST_SECRET_SERVICE is not set)");
      return;
    }

  store = usi_store_open_secret_service (fixture->state, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (usi_store_get_mode (store), ==, USI_STORE_MODE_SECRET_SERVICE);
  memcpy (key, _usi_store_get_key (store), sizeof key);
  assert_mode (fixture->state, 0700);
  exercise_records (store);
  g_clear_object (&store);

  store = usi_store_open_secret_service (fixture->state, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (_usi_store_get_key (store), USI_STORE_KEY_LENGTH, key, sizeof key);
  assert_record (store, "identity", "identity secret seed");
  assert_list (store, ids);
  assert_nothing_in_clear (fixture->state, key, "identity secret seed");

  /* Another state directory has its own key. */
  other = usi_store_open_secret_service (other_dir, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (_usi_store_get_key (store), USI_STORE_KEY_LENGTH, key, sizeof key);
  g_assert_true (memcmp (_usi_store_get_key (other), key, sizeof key) != 0);

  /* A key gone from the keyring while records remain is refused. */
  g_assert_true (usi_store_forget_secret_service_key (fixture->state, NULL, &error));
  g_assert_no_error (error);
  g_assert_true (usi_store_forget_secret_service_key (other_dir, NULL, &error));
  g_assert_no_error (error);
  refused = usi_store_open_secret_service (fixture->state, NULL, &error);
  g_assert_error (error, USI_STORE_ERROR, USI_STORE_ERROR_KEY_MISSING);
  g_assert_null (refused);
}

static void
test_no_secret_service (Fixture       *fixture,
                        gconstpointer  user_data)
{
  if (g_test_subprocess ())
    {
      g_autoptr(UsiStore) store = NULL;
      g_autoptr(GError) error = NULL;

      /* A bus that does not exist: no Secret Service can answer. */
      g_setenv ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/usi-test-bus", TRUE);
      store = usi_store_open_secret_service (fixture->state, NULL, &error);
      g_assert_error (error, USI_STORE_ERROR, USI_STORE_ERROR_NO_SECRET_SERVICE);
      g_assert_null (store);
      g_assert_nonnull (strstr (error->message, "passphrase"));
      /* Nothing was written. */
      g_assert_false (g_file_test (fixture->state, G_FILE_TEST_EXISTS));
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add ("/store/keep-nothing", Fixture, NULL,
              fixture_set_up, test_keep_nothing, fixture_tear_down);
  g_test_add ("/store/invalid-id", Fixture, NULL,
              fixture_set_up, test_invalid_id, fixture_tear_down);
  g_test_add ("/store/passphrase/round-trip", Fixture, NULL,
              fixture_set_up, test_passphrase_round_trip, fixture_tear_down);
  g_test_add ("/store/passphrase/wrong", Fixture, NULL,
              fixture_set_up, test_passphrase_wrong, fixture_tear_down);
  g_test_add ("/store/passphrase/key-file-damaged", Fixture, NULL,
              fixture_set_up, test_passphrase_key_file_damaged, fixture_tear_down);
  g_test_add ("/store/tamper", Fixture, NULL,
              fixture_set_up, test_tamper, fixture_tear_down);
  g_test_add ("/store/secret-service/round-trip", Fixture, NULL,
              fixture_set_up, test_secret_service, fixture_tear_down);
  g_test_add ("/store/secret-service/absent", Fixture, NULL,
              fixture_set_up, test_no_secret_service, fixture_tear_down);

  return g_test_run ();
}
