/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Safety numbers against libsignal's vector, and the emoji comparison string.
 *
 * The expected emoji were computed independently from the derivation in
 * usi-safety-number.h with this Python 3 script (hashlib/hmac only):
 *
 *   import hashlib, hmac
 *   def fingerprint (key, stable_id, iterations = 5200):
 *       buf = hashlib.sha512 (b"\x00\x00" + key + stable_id + key).digest ()
 *       for _ in range (iterations - 1):
 *           buf = hashlib.sha512 (buf + key).digest ()
 *       return buf
 *   def hkdf_sha256 (ikm, info, length):
 *       prk = hmac.new (b"\x00" * 32, ikm, hashlib.sha256).digest ()
 *       okm, t, i = b"", b"", 1
 *       while len (okm) < length:
 *           t = hmac.new (prk, t + info + bytes ([i]), hashlib.sha256).digest ()
 *           okm, i = okm + t, i + 1
 *       return okm[:length]
 *   def emoji_indices (a, b):             # a, b = (key bytes, stable_id bytes)
 *       low, high = sorted ([fingerprint (*a), fingerprint (*b)])
 *       bits = int.from_bytes (hkdf_sha256 (low + high, b"usi safety emoji v2", 6), "big")
 *       return [(bits >> (48 - 6 * (i + 1))) & 0x3f for i in range (7)]
 *
 * with the vector's keys (key_hex decoded, stable_id UTF-8), the same with
 * the last bit of Bob's key flipped, and the two fixed keys of
 * test_emoji_fixed_keys(). */

#include "config.h"

#include <string.h>

#include "crypto/usi-crypto-error.h"
#include "crypto/usi-safety-number.h"
#include "usi-test-vectors.h"

typedef struct
{
  GBytes            *key;
  char              *stable_id;
  UsiSafetyIdentity  identity;
} Party;

static void
party_load (Party      *party,
            JsonObject *object)
{
  party->key = usi_test_hex (json_object_get_string_member (object, "key_hex"));
  party->stable_id = g_strdup (json_object_get_string_member (object, "stable_id"));
  party->identity.public_key = g_bytes_get_data (party->key, &party->identity.public_key_length);
  party->identity.stable_id = (const guint8 *) party->stable_id;
  party->identity.stable_id_length = strlen (party->stable_id);
}

static void
party_clear (Party *party)
{
  g_clear_pointer (&party->key, g_bytes_unref);
  g_clear_pointer (&party->stable_id, g_free);
}

static void
test_signal_vector (void)
{
  g_autoptr(JsonNode) root = usi_test_vectors_load_json ("signal/safety-number.json");
  g_autoptr(GError) error = NULL;
  g_autofree char *alice_first = NULL;
  g_autofree char *bob_first = NULL;
  g_autofree char *product = NULL;
  JsonObject *vector;
  Party alice = { 0 }, bob = { 0 };
  const char *displayable;
  guint iterations;

  if (root == NULL)
    return;

  vector = json_node_get_object (root);
  iterations = json_object_get_int_member (vector, "iterations");
  displayable = json_object_get_string_member (vector, "displayable");
  party_load (&alice, json_object_get_object_member (vector, "alice"));
  party_load (&bob, json_object_get_object_member (vector, "bob"));

  alice_first = usi_safety_number_compute_with_iterations (&alice.identity, &bob.identity, iterations, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (alice_first, ==, displayable);

  bob_first = usi_safety_number_compute_with_iterations (&bob.identity, &alice.identity, iterations, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (bob_first, ==, displayable);

  /* The product's constant is the vector's count. */
  g_assert_cmpuint (USI_SAFETY_NUMBER_ITERATIONS, ==, iterations);
  product = usi_safety_number_compute (&bob.identity, &alice.identity, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (product, ==, displayable);

  party_clear (&alice);
  party_clear (&bob);
  usi_test_vectors_report ("signal safety-number vectors (both orders)", 1);
}

static void
test_changes (void)
{
  static const guint8 key_a[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
  static const guint8 key_b[32] = { 11, 12, 13, 14, 15, 16, 17, 18 };
  guint8 flipped[32];
  UsiSafetyIdentity a = { key_a, sizeof key_a, (const guint8 *) "alice", 5 };
  UsiSafetyIdentity b = { key_b, sizeof key_b, (const guint8 *) "bob", 3 };
  UsiSafetyIdentity c = { flipped, sizeof flipped, (const guint8 *) "bob", 3 };
  UsiSafetyIdentity b_renamed = { key_b, sizeof key_b, (const guint8 *) "bob2", 4 };
  g_autoptr(GError) error = NULL;
  g_autofree char *ab = NULL;
  g_autofree char *ac = NULL;
  g_autofree char *ab_renamed = NULL;

  ab = usi_safety_number_compute (&a, &b, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (strlen (ab), ==, USI_SAFETY_NUMBER_DIGITS);

  /* One flipped bit in one key changes the half that key owns. */
  memcpy (flipped, key_b, sizeof flipped);
  flipped[31] ^= 0x01;
  ac = usi_safety_number_compute (&a, &c, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ab, !=, ac);

  ab_renamed = usi_safety_number_compute (&a, &b_renamed, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ab, !=, ab_renamed);
}

static void
test_invalid (void)
{
  static const guint8 key[300] = { 0 };
  UsiSafetyIdentity good = { key, 32, (const guint8 *) "x", 1 };
  UsiSafetyIdentity empty = { key, 0, (const guint8 *) "x", 1 };
  UsiSafetyIdentity too_long = { key, sizeof key, (const guint8 *) "x", 1 };
  const UsiSafetyEmoji *emoji[USI_SAFETY_EMOJI_COUNT];
  g_autoptr(GError) error = NULL;
  char *number;

  number = usi_safety_number_compute (&good, &empty, &error);
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  g_assert_null (number);
  g_clear_error (&error);

  number = usi_safety_number_compute (&too_long, &good, &error);
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
  g_assert_null (number);
  g_clear_error (&error);

  g_assert_false (usi_safety_emoji_compute (&good, &empty, emoji, &error));
  g_assert_error (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT);
}

static void
test_format (void)
{
  const char *number = "300354477692869396892869876765458257569162576843440918079131";
  g_auto(GStrv) groups = usi_safety_number_split (number);
  g_autofree char *formatted = usi_safety_number_format (number);

  g_assert_nonnull (groups);
  g_assert_cmpuint (g_strv_length (groups), ==, USI_SAFETY_NUMBER_GROUPS);
  g_assert_cmpstr (groups[0], ==, "30035");
  g_assert_cmpstr (groups[1], ==, "44776");
  g_assert_cmpstr (groups[11], ==, "79131");
  g_assert_cmpstr (formatted, ==,
                   "30035 44776 92869 39689 28698 76765 45825 75691 62576 84344 09180 79131");

  /* Anything but exactly 60 digits is refused. */
  g_assert_null (usi_safety_number_split ("30035"));
  g_assert_null (usi_safety_number_split ("300354477692869396892869876765458257569162576843440918079131 "));
  g_assert_null (usi_safety_number_split ("30035447769286939689286987676545825756916257684344091807913x"));
  g_assert_null (usi_safety_number_format ("3003544776928693968928698767654582575691625768434409180791311"));
}

static void
test_emoji_table (void)
{
  g_autoptr(GHashTable) emoji_seen = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GHashTable) names_seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (guint i = 0; i < USI_SAFETY_EMOJI_TABLE_SIZE; i++)
    {
      const UsiSafetyEmoji *entry = usi_safety_emoji_get (i);
      char *name_folded = g_utf8_casefold (entry->name, -1);

      g_assert_true (g_utf8_validate (entry->emoji, -1, NULL));
      /* One code point: no variation selector, no joiner sequence. */
      g_assert_cmpint (g_utf8_strlen (entry->emoji, -1), ==, 1);
      g_assert_cmpstr (entry->name, !=, "");
      g_assert_false (g_hash_table_contains (emoji_seen, entry->emoji));
      g_assert_false (g_hash_table_contains (names_seen, name_folded));
      g_hash_table_add (emoji_seen, (char *) entry->emoji);
      g_hash_table_add (names_seen, name_folded);
    }
  g_assert_cmpuint (g_hash_table_size (emoji_seen), ==, 64);
}

static void
test_emoji (void)
{
  g_autoptr(JsonNode) root = usi_test_vectors_load_json ("signal/safety-number.json");
  /* From the script at the top of this file. */
  static const guint expected_indices[USI_SAFETY_EMOJI_COUNT] = { 7, 21, 8, 53, 3, 24, 32 };
  static const guint flipped_indices[USI_SAFETY_EMOJI_COUNT] = { 8, 23, 21, 16, 22, 49, 55 };
  const UsiSafetyEmoji *flipped_view[USI_SAFETY_EMOJI_COUNT];
  const UsiSafetyEmoji *alice_view[USI_SAFETY_EMOJI_COUNT];
  const UsiSafetyEmoji *bob_view[USI_SAFETY_EMOJI_COUNT];
  g_autoptr(GError) error = NULL;
  g_autofree char *alice_string = NULL;
  g_autofree char *bob_string = NULL;
  g_autofree char *other_string = NULL;
  g_auto(GStrv) parts = NULL;
  JsonObject *vector;
  Party alice = { 0 }, bob = { 0 };
  GBytes *changed_key;
  guint8 *changed;
  gsize changed_length;

  if (root == NULL)
    return;

  vector = json_node_get_object (root);
  party_load (&alice, json_object_get_object_member (vector, "alice"));
  party_load (&bob, json_object_get_object_member (vector, "bob"));

  g_assert_true (usi_safety_emoji_compute (&alice.identity, &bob.identity, alice_view, &error));
  g_assert_no_error (error);
  g_assert_true (usi_safety_emoji_compute (&bob.identity, &alice.identity, bob_view, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < USI_SAFETY_EMOJI_COUNT; i++)
    {
      g_assert_true (alice_view[i] == bob_view[i]);
      g_assert_true (alice_view[i] == usi_safety_emoji_get (expected_indices[i]));
    }

  alice_string = usi_safety_emoji_compute_string (&alice.identity, &bob.identity, &error);
  g_assert_no_error (error);
  bob_string = usi_safety_emoji_compute_string (&bob.identity, &alice.identity, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (alice_string, ==, bob_string);
  g_assert_cmpstr (alice_string, ==, "🐰 Rabbit · 🍄 Mushroom · 🐼 Panda · 🚲 Bicycle · 🐴 Horse · 🔥 Fire · 🍒 Cherries");
  parts = g_strsplit (alice_string, " · ", -1);
  g_assert_cmpuint (g_strv_length (parts), ==, USI_SAFETY_EMOJI_COUNT);
  g_test_message ("emoji for the vector pair: %s", alice_string);

  /* A single flipped bit in Bob's key gives another string. */
  changed = g_memdup2 (bob.identity.public_key, bob.identity.public_key_length);
  changed_length = bob.identity.public_key_length;
  changed[changed_length - 1] ^= 0x01;
  changed_key = g_bytes_new_take (changed, changed_length);
  g_bytes_unref (bob.key);
  bob.key = changed_key;
  bob.identity.public_key = changed;
  other_string = usi_safety_emoji_compute_string (&alice.identity, &bob.identity, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (other_string, !=, alice_string);
  g_assert_true (usi_safety_emoji_compute (&bob.identity, &alice.identity, flipped_view, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < USI_SAFETY_EMOJI_COUNT; i++)
    g_assert_true (flipped_view[i] == usi_safety_emoji_get (flipped_indices[i]));

  party_clear (&alice);
  party_clear (&bob);
  usi_test_vectors_report ("emoji comparison vectors (both orders, and a changed key)", 2);
}

/* Without the vector files too: two fixed keys, both orders, and the
 * emoji follow the iterated chains (a changed user id changes them). */
static void
test_emoji_fixed_keys (void)
{
  static const guint8 key_a[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
  static const guint8 key_b[32] = { 11, 12, 13, 14, 15, 16, 17, 18 };
  /* From the script at the top of this file. */
  static const guint expected_indices[USI_SAFETY_EMOJI_COUNT] = { 45, 63, 40, 60, 27, 30, 11 };
  UsiSafetyIdentity a = { key_a, sizeof key_a, (const guint8 *) "alice", 5 };
  UsiSafetyIdentity b = { key_b, sizeof key_b, (const guint8 *) "bob", 3 };
  UsiSafetyIdentity b_renamed = { key_b, sizeof key_b, (const guint8 *) "bob2", 4 };
  const UsiSafetyEmoji *ab[USI_SAFETY_EMOJI_COUNT];
  const UsiSafetyEmoji *ba[USI_SAFETY_EMOJI_COUNT];
  g_autoptr(GError) error = NULL;
  g_autofree char *ab_string = NULL;
  g_autofree char *renamed_string = NULL;

  g_assert_true (usi_safety_emoji_compute (&a, &b, ab, &error));
  g_assert_true (usi_safety_emoji_compute (&b, &a, ba, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < USI_SAFETY_EMOJI_COUNT; i++)
    {
      g_assert_true (ab[i] == ba[i]);
      g_assert_true (ab[i] == usi_safety_emoji_get (expected_indices[i]));
    }

  ab_string = usi_safety_emoji_compute_string (&a, &b, &error);
  renamed_string = usi_safety_emoji_compute_string (&a, &b_renamed, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ab_string, !=, renamed_string);

  /* The UI's caveat names the real check. */
  g_assert_nonnull (strstr (usi_safety_emoji_get_explanation (), "60-digit safety number"));
  g_assert_cmpuint (USI_SAFETY_EMOJI_BITS, ==, 6 * USI_SAFETY_EMOJI_COUNT);
  usi_test_vectors_report ("emoji comparison, fixed keys (both orders)", 1);
}

int
main (int    argc,
      char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/crypto/safety-number/signal-vector", test_signal_vector);
  g_test_add_func ("/crypto/safety-number/changes", test_changes);
  g_test_add_func ("/crypto/safety-number/invalid", test_invalid);
  g_test_add_func ("/crypto/safety-number/format", test_format);
  g_test_add_func ("/crypto/safety-number/emoji-table", test_emoji_table);
  g_test_add_func ("/crypto/safety-number/emoji", test_emoji);
  g_test_add_func ("/crypto/safety-number/emoji-fixed-keys", test_emoji_fixed_keys);

  return g_test_run ();
}
