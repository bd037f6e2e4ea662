/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The relay's view of an owned room (docs/protocol.md §11.4): it follows
 * real commits built by UsiOwnerGroup, learns the roster, and refuses
 * every commit a member would refuse on its public parts, with the same
 * code, leaving the chain unchanged. */

#include "config.h"

#include <string.h>

#include "crypto/usi-random.h"
#include "protocol/usi-commit-chain.h"
#include "protocol/usi-commit.h"
#include "protocol/usi-member-group.h"
#include "protocol/usi-owner-group.h"
#include "protocol/usi-protocol-error.h"

#define NOW_MS G_GUINT64_CONSTANT (1700000000000)

typedef struct
{
  UsiIdentity   *identity;
  UsiLeafSecret  leaf;
} Person;

static void
person_init (Person    *person,
             UsiRandom *random)
{
  g_autoptr(GError) error = NULL;

  person->identity = usi_identity_generate (random, &error);
  g_assert_no_error (error);
  g_assert_true (usi_leaf_secret_generate (random, person->identity, 1, NOW_MS, &person->leaf, &error));
  g_assert_no_error (error);
}

static void
person_clear (Person *person)
{
  g_clear_pointer (&person->identity, usi_identity_free);
  usi_leaf_secret_clear (&person->leaf);
}

static const guint8 *
key_of (Person *person)
{
  return usi_identity_get_public_key (person->identity);
}

/* An owner's room, the relay's chain following it, and three people. */
typedef struct
{
  UsiRandom      *random;
  Person          owner;
  Person          alice;
  Person          bob;
  Person          carol;
  UsiOwnerGroup  *group;
  GBytes         *genesis;
  UsiCommitChain *chain;
  guint8          room_id[USI_ROOM_ID_LENGTH];
} Fixture;

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  const char *seed = data != NULL ? data : "usi commit chain";
  UsiRoomConfig config;

  fixture->random = usi_random_new_deterministic ((const guint8 *) seed, strlen (seed));
  person_init (&fixture->owner, fixture->random);
  person_init (&fixture->alice, fixture->random);
  person_init (&fixture->bob, fixture->random);
  person_init (&fixture->carol, fixture->random);
  g_assert_true (usi_random_fill (fixture->random, fixture->room_id, sizeof fixture->room_id, &error));

  usi_room_config_init_default (&config);
  fixture->group = usi_owner_group_create (fixture->owner.identity, &fixture->owner.leaf.node, "Owner",
                                           fixture->room_id, &config, NULL, fixture->random,
                                           &fixture->genesis, &error);
  g_assert_no_error (error);

  fixture->chain = usi_commit_chain_new_from_create (g_bytes_get_data (fixture->genesis, NULL),
                                                     g_bytes_get_size (fixture->genesis), &error);
  g_assert_no_error (error);
  g_assert_nonnull (fixture->chain);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  data)
{
  g_clear_pointer (&fixture->chain, usi_commit_chain_free);
  g_clear_pointer (&fixture->genesis, g_bytes_unref);
  g_clear_pointer (&fixture->group, usi_owner_group_free);
  person_clear (&fixture->owner);
  person_clear (&fixture->alice);
  person_clear (&fixture->bob);
  person_clear (&fixture->carol);
  g_clear_pointer (&fixture->random, usi_random_free);
}

static GBytes *
add (Fixture  *fixture,
     Person   *person,
     GBytes  **welcome)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) unused_welcome = NULL;
  GBytes *commit = NULL;
  guint32 index;

  g_assert_true (usi_owner_group_add_member (fixture->group, &person->leaf.node, "Someone", fixture->random,
                                             &index, &commit, welcome != NULL ? welcome : &unused_welcome,
                                             &error));
  g_assert_no_error (error);
  return commit;
}

static GBytes *
remove_index (Fixture *fixture,
              guint32  index)
{
  g_autoptr(GError) error = NULL;
  GBytes *commit = NULL;

  g_assert_true (usi_owner_group_remove_member (fixture->group, index, fixture->random, &commit, &error));
  g_assert_no_error (error);
  return commit;
}

static GBytes *
rotate (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  GBytes *commit = NULL;

  g_assert_true (usi_owner_group_rotate (fixture->group, fixture->random, &commit, &error));
  g_assert_no_error (error);
  return commit;
}

static void
follow (Fixture *fixture,
        GBytes  *commit)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (usi_commit_chain_follow (fixture->chain, g_bytes_get_data (commit, NULL),
                                          g_bytes_get_size (commit), &error));
  g_assert_no_error (error);
}

static GBytes *
write_info (const UsiGroupInfo *info)
{
  GByteArray *out = g_byte_array_new ();

  usi_group_info_write (info, out);
  return g_byte_array_free_to_bytes (out);
}

/* The chain's public state is exactly the owner's, confirmation tag and
 * commit hash included. */
static void
assert_same_as_owner (Fixture *fixture)
{
  g_autoptr(GBytes) chain_info = write_info (usi_commit_chain_get_group_info (fixture->chain));
  g_autoptr(GBytes) owner_info = write_info (usi_owner_group_get_group_info (fixture->group));

  g_assert_true (g_bytes_equal (chain_info, owner_info));
  g_assert_cmpuint (usi_commit_chain_get_epoch (fixture->chain), ==,
                    usi_owner_group_get_group_info (fixture->group)->epoch);
}

/* A refused commit: the code, and the chain exactly as before. */
static void
assert_refused (Fixture          *fixture,
                GBytes           *commit,
                UsiProtocolError  code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) before = usi_commit_chain_save (fixture->chain);
  g_autoptr(GBytes) after = NULL;

  g_assert_false (usi_commit_chain_follow (fixture->chain, g_bytes_get_data (commit, NULL),
                                           g_bytes_get_size (commit), &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, (int) code);
  after = usi_commit_chain_save (fixture->chain);
  g_assert_true (g_bytes_equal (before, after));
}

static UsiCommit *
decode (GBytes *commit)
{
  g_autoptr(GError) error = NULL;
  UsiCommit *decoded = usi_commit_decode (g_bytes_get_data (commit, NULL), g_bytes_get_size (commit), &error);

  g_assert_no_error (error);
  return decoded;
}

/* The GroupContext a commit following the chain's epoch is signed over. */
static GBytes *
chain_context (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  GBytes *context = usi_group_info_build_group_context (usi_commit_chain_get_group_info (fixture->chain), &error);

  g_assert_no_error (error);
  return context;
}

static GBytes *
resign (UsiCommit   *commit,
        UsiIdentity *identity,
        GBytes      *context)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (usi_commit_sign (commit, identity, context, &error));
  g_assert_no_error (error);
  return usi_commit_encode (commit);
}

static void
test_follows_the_room (Fixture       *fixture,
                       gconstpointer  data)
{
  g_autoptr(GBytes) add_alice = NULL;
  g_autoptr(GBytes) add_bob = NULL;
  g_autoptr(GBytes) remove_alice = NULL;
  g_autoptr(GBytes) rotated = NULL;
  g_autoptr(GBytes) add_carol = NULL;
  g_autoptr(GBytes) updated = NULL;
  g_autoptr(GBytes) welcome = NULL;
  g_autoptr(GBytes) leaf_update = NULL;
  g_autoptr(UsiMemberGroup) carol = NULL;
  g_autoptr(GError) error = NULL;

  g_assert_cmpmem (usi_commit_chain_get_room_id (fixture->chain), USI_ROOM_ID_LENGTH,
                   fixture->room_id, USI_ROOM_ID_LENGTH);
  g_assert_cmpmem (usi_commit_chain_get_owner_key (fixture->chain), 32, key_of (&fixture->owner), 32);
  g_assert_cmpuint (usi_commit_chain_get_epoch (fixture->chain), ==, 0);
  g_assert_true (usi_commit_chain_has_member (fixture->chain, key_of (&fixture->owner)));
  g_assert_false (usi_commit_chain_has_member (fixture->chain, key_of (&fixture->alice)));
  assert_same_as_owner (fixture);

  add_alice = add (fixture, &fixture->alice, NULL);
  follow (fixture, add_alice);
  g_assert_cmpuint (usi_commit_chain_get_epoch (fixture->chain), ==, 1);
  g_assert_true (usi_commit_chain_has_member (fixture->chain, key_of (&fixture->alice)));
  g_assert_false (usi_commit_chain_has_member (fixture->chain, key_of (&fixture->bob)));
  assert_same_as_owner (fixture);

  add_bob = add (fixture, &fixture->bob, NULL);
  follow (fixture, add_bob);
  g_assert_true (usi_commit_chain_has_member (fixture->chain, key_of (&fixture->alice)));
  g_assert_true (usi_commit_chain_has_member (fixture->chain, key_of (&fixture->bob)));
  assert_same_as_owner (fixture);

  remove_alice = remove_index (fixture, 1);
  follow (fixture, remove_alice);
  g_assert_false (usi_commit_chain_has_member (fixture->chain, key_of (&fixture->alice)));
  g_assert_true (usi_commit_chain_has_member (fixture->chain, key_of (&fixture->bob)));
  assert_same_as_owner (fixture);

  rotated = rotate (fixture);
  follow (fixture, rotated);
  g_assert_cmpuint (usi_commit_chain_get_epoch (fixture->chain), ==, 4);
  g_assert_true (usi_commit_chain_has_member (fixture->chain, key_of (&fixture->owner)));
  g_assert_true (usi_commit_chain_has_member (fixture->chain, key_of (&fixture->bob)));
  g_assert_false (usi_commit_chain_has_member (fixture->chain, key_of (&fixture->alice)));
  assert_same_as_owner (fixture);

  /* A member's leaf update, committed by the owner (reason update). */
  add_carol = add (fixture, &fixture->carol, &welcome);
  follow (fixture, add_carol);
  carol = usi_member_group_new_from_welcome (g_bytes_get_data (welcome, NULL), g_bytes_get_size (welcome),
                                             fixture->room_id, key_of (&fixture->owner), fixture->carol.identity,
                                             &fixture->carol.leaf, NULL, &error);
  g_assert_no_error (error);
  leaf_update = usi_member_group_create_leaf_update (carol, fixture->random, NOW_MS + 1000, &error);
  g_assert_no_error (error);
  g_assert_true (usi_owner_group_apply_leaf_update (fixture->group, g_bytes_get_data (leaf_update, NULL),
                                                    g_bytes_get_size (leaf_update), fixture->random,
                                                    &updated, &error));
  g_assert_no_error (error);
  follow (fixture, updated);
  g_assert_cmpuint (usi_commit_chain_get_epoch (fixture->chain), ==, 6);
  g_assert_true (usi_commit_chain_has_member (fixture->chain, key_of (&fixture->carol)));
  assert_same_as_owner (fixture);
}

/* Row R3: a member signs a commit as if it were the owner. */
static void
test_r3_member_claims_owner (Fixture       *fixture,
                             gconstpointer  data)
{
  g_autoptr(GBytes) add_alice = add (fixture, &fixture->alice, NULL);
  g_autoptr(GBytes) rotated = NULL;
  g_autoptr(UsiCommit) commit = NULL;
  g_autoptr(GBytes) context = NULL;
  g_autoptr(GBytes) signed_by_alice = NULL;
  g_autoptr(GBytes) alice_as_committer = NULL;

  follow (fixture, add_alice);
  rotated = rotate (fixture);
  commit = decode (rotated);
  context = chain_context (fixture);

  /* Index 0, as the owner, but Alice's signature. */
  signed_by_alice = resign (commit, fixture->alice.identity, context);
  assert_refused (fixture, signed_by_alice, USI_PROTOCOL_ERROR_BAD_SIGNATURE);

  /* Alice's own index as the committer. */
  commit->committer_index = 1;
  alice_as_committer = resign (commit, fixture->alice.identity, context);
  assert_refused (fixture, alice_as_committer, USI_PROTOCOL_ERROR_NOT_OWNER);

  /* The owner's real commit still follows. */
  follow (fixture, rotated);
  assert_same_as_owner (fixture);
}

static void
test_skipped_epoch (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(GBytes) first = add (fixture, &fixture->alice, NULL);
  g_autoptr(GBytes) second = rotate (fixture);

  assert_refused (fixture, second, USI_PROTOCOL_ERROR_EPOCH_NOT_YET);
  follow (fixture, first);
  follow (fixture, second);
  assert_same_as_owner (fixture);
}

static void
test_replayed_commit (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(GBytes) first = add (fixture, &fixture->alice, NULL);
  g_autoptr(GBytes) second = rotate (fixture);

  follow (fixture, first);
  /* The commit just applied, again. */
  assert_refused (fixture, first, USI_PROTOCOL_ERROR_DUPLICATE);
  follow (fixture, second);
  /* An older one. */
  assert_refused (fixture, first, USI_PROTOCOL_ERROR_WRONG_EPOCH);
  /* The genesis commit, as a following commit. */
  assert_refused (fixture, fixture->genesis, USI_PROTOCOL_ERROR_WRONG_EPOCH);
  assert_same_as_owner (fixture);
}

/* Two validly signed commits for one epoch (a compromised or misbehaving
 * owner showing different histories), and a commit that does not chain. */
static void
test_forked_commit (Fixture       *fixture,
                    gconstpointer  data)
{
  g_autoptr(GBytes) add_alice = add (fixture, &fixture->alice, NULL);
  g_autoptr(GBytes) context = chain_context (fixture);
  g_autoptr(UsiCommit) twin = decode (add_alice);
  g_autoptr(GBytes) forked = NULL;
  g_autoptr(GBytes) rotated = NULL;
  g_autoptr(UsiCommit) unchained = NULL;
  g_autoptr(GBytes) unchained_bytes = NULL;
  g_autoptr(GBytes) next_context = NULL;

  twin->config.rotate_after_messages++;
  forked = resign (twin, fixture->owner.identity, context);

  follow (fixture, add_alice);
  assert_refused (fixture, forked, USI_PROTOCOL_ERROR_CHAIN_BROKEN);

  /* The next epoch, signed by the owner, but after another commit. */
  rotated = rotate (fixture);
  unchained = decode (rotated);
  unchained->prev_commit_hash[0] ^= 1;
  next_context = chain_context (fixture);
  unchained_bytes = resign (unchained, fixture->owner.identity, next_context);
  assert_refused (fixture, unchained_bytes, USI_PROTOCOL_ERROR_CHAIN_BROKEN);

  follow (fixture, rotated);
  assert_same_as_owner (fixture);
}

static void
test_wrong_room (Fixture       *fixture,
                 gconstpointer  data)
{
  Fixture other = { 0 };
  g_autoptr(GBytes) other_commit = NULL;
  g_autoptr(GBytes) own_commit = add (fixture, &fixture->alice, NULL);

  fixture_set_up (&other, "usi commit chain, another room");
  other_commit = add (&other, &other.alice, NULL);
  assert_refused (fixture, other_commit, USI_PROTOCOL_ERROR_WRONG_ROOM);
  fixture_tear_down (&other, NULL);

  follow (fixture, own_commit);
}

/* Any change to a signed field breaks the owner's signature. */
static void
test_tampered_commit (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(GBytes) add_alice = add (fixture, &fixture->alice, NULL);
  g_autoptr(GBytes) rotated = NULL;
  g_autoptr(UsiCommit) commit = NULL;
  g_autoptr(GBytes) bad_config = NULL;
  g_autoptr(GBytes) bad_delivery = NULL;
  g_autoptr(GBytes) bad_signature = NULL;
  g_autoptr(GBytes) bad_name = NULL;
  UsiRosterEntry *entry;
  char *name;

  follow (fixture, add_alice);
  rotated = rotate (fixture);

  commit = decode (rotated);
  commit->config.rotate_after_messages = 7;
  bad_config = usi_commit_encode (commit);
  assert_refused (fixture, bad_config, USI_PROTOCOL_ERROR_BAD_SIGNATURE);

  g_clear_pointer (&commit, usi_commit_free);
  commit = decode (rotated);
  g_assert_cmpuint (commit->deliveries->len, ==, 1);
  g_array_index (commit->deliveries, UsiCommitDelivery, 0).ciphertext[5] ^= 0x40;
  bad_delivery = usi_commit_encode (commit);
  assert_refused (fixture, bad_delivery, USI_PROTOCOL_ERROR_BAD_SIGNATURE);

  g_clear_pointer (&commit, usi_commit_free);
  commit = decode (rotated);
  commit->signature[10] ^= 0x01;
  bad_signature = usi_commit_encode (commit);
  assert_refused (fixture, bad_signature, USI_PROTOCOL_ERROR_BAD_SIGNATURE);

  g_clear_pointer (&commit, usi_commit_free);
  commit = decode (rotated);
  entry = g_ptr_array_index (commit->roster, 1);
  name = entry->display_name;
  entry->display_name = g_strdup ("Mallory");
  g_free (name);
  bad_name = usi_commit_encode (commit);
  assert_refused (fixture, bad_name, USI_PROTOCOL_ERROR_BAD_SIGNATURE);

  /* A byte of the body cut off: it does not decode. */
  {
    g_autoptr(GBytes) cut = g_bytes_new_from_bytes (rotated, 0, g_bytes_get_size (rotated) - 1);

    assert_refused (fixture, cut, USI_PROTOCOL_ERROR_MALFORMED);
  }

  follow (fixture, rotated);
  assert_same_as_owner (fixture);
}

/* Commits the owner did sign but a member would refuse on their public
 * parts: the relay refuses them too, with the member's code. */
static void
test_owner_signed_but_invalid (Fixture       *fixture,
                               gconstpointer  data)
{
  g_autoptr(GBytes) add_alice = add (fixture, &fixture->alice, NULL);
  g_autoptr(GBytes) add_bob = NULL;
  g_autoptr(GBytes) rotated = NULL;
  g_autoptr(GBytes) context = NULL;

  follow (fixture, add_alice);
  add_bob = add (fixture, &fixture->bob, NULL);
  follow (fixture, add_bob);
  rotated = rotate (fixture);
  context = chain_context (fixture);

  {
    /* "rotate" but Bob is gone. */
    g_autoptr(UsiCommit) commit = decode (rotated);
    g_autoptr(GBytes) bytes = NULL;

    g_ptr_array_remove_index (commit->roster, 2);
    g_array_remove_index (commit->deliveries, 1);
    bytes = resign (commit, fixture->owner.identity, context);
    assert_refused (fixture, bytes, USI_PROTOCOL_ERROR_ROSTER_INVALID);
  }
  {
    /* Bob gets no delivery. */
    g_autoptr(UsiCommit) commit = decode (rotated);
    g_autoptr(GBytes) bytes = NULL;

    g_array_remove_index (commit->deliveries, 1);
    bytes = resign (commit, fixture->owner.identity, context);
    assert_refused (fixture, bytes, USI_PROTOCOL_ERROR_ROSTER_INVALID);
  }
  {
    /* The password setting flips. */
    g_autoptr(UsiCommit) commit = decode (rotated);
    g_autoptr(GBytes) bytes = NULL;

    commit->config.password_required = TRUE;
    bytes = resign (commit, fixture->owner.identity, context);
    assert_refused (fixture, bytes, USI_PROTOCOL_ERROR_NOT_ALLOWED);
  }
  {
    /* Alice's entry now names Carol's identity. */
    g_autoptr(UsiCommit) commit = decode (rotated);
    g_autoptr(GBytes) bytes = NULL;
    UsiRosterEntry *entry = g_ptr_array_index (commit->roster, 1);

    entry->leaf = fixture->carol.leaf.node;
    bytes = resign (commit, fixture->owner.identity, context);
    assert_refused (fixture, bytes, USI_PROTOCOL_ERROR_ROSTER_INVALID);
  }
  {
    /* A changed leaf node whose signature does not verify (reason update). */
    g_autoptr(UsiCommit) commit = decode (rotated);
    g_autoptr(GBytes) bytes = NULL;
    UsiRosterEntry *entry = g_ptr_array_index (commit->roster, 1);

    commit->reason = USI_COMMIT_REASON_UPDATE;
    entry->leaf.sequence++;
    bytes = resign (commit, fixture->owner.identity, context);
    assert_refused (fixture, bytes, USI_PROTOCOL_ERROR_BAD_SIGNATURE);
  }

  follow (fixture, rotated);
  assert_same_as_owner (fixture);
}

static void
assert_create_refused (GBytes           *commit,
                       UsiProtocolError  code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiCommitChain) chain = usi_commit_chain_new_from_create (g_bytes_get_data (commit, NULL),
                                                                      g_bytes_get_size (commit), &error);

  g_assert_null (chain);
  g_assert_error (error, USI_PROTOCOL_ERROR, (int) code);
}

static void
test_create_checked (Fixture       *fixture,
                     gconstpointer  data)
{
  g_autoptr(GBytes) add_alice = add (fixture, &fixture->alice, NULL);
  g_autoptr(GBytes) empty_context = g_bytes_new (NULL, 0);

  /* Not an epoch 0 commit. */
  assert_create_refused (add_alice, USI_PROTOCOL_ERROR_WRONG_EPOCH);
  {
    /* Signed by someone else than the owner it names. */
    g_autoptr(UsiCommit) commit = decode (fixture->genesis);
    g_autoptr(GBytes) bytes = resign (commit, fixture->alice.identity, empty_context);

    assert_create_refused (bytes, USI_PROTOCOL_ERROR_BAD_SIGNATURE);
  }
  {
    /* A signature bit flipped. */
    g_autoptr(UsiCommit) commit = decode (fixture->genesis);
    g_autoptr(GBytes) bytes = NULL;

    commit->signature[0] ^= 0x80;
    bytes = usi_commit_encode (commit);
    assert_create_refused (bytes, USI_PROTOCOL_ERROR_BAD_SIGNATURE);
  }
  {
    /* Signed as if it followed a commit. */
    g_autoptr(UsiCommit) commit = decode (fixture->genesis);
    g_autoptr(GBytes) bytes = NULL;

    commit->prev_commit_hash[31] = 1;
    bytes = resign (commit, fixture->owner.identity, empty_context);
    assert_create_refused (bytes, USI_PROTOCOL_ERROR_CHAIN_BROKEN);
  }
  {
    /* The owner and someone else in a new room. */
    g_autoptr(UsiCommit) commit = decode (fixture->genesis);
    g_autoptr(GBytes) bytes = NULL;

    g_ptr_array_add (commit->roster, usi_roster_entry_new (1, &fixture->alice.leaf.node, "Alice"));
    bytes = resign (commit, fixture->owner.identity, empty_context);
    assert_create_refused (bytes, USI_PROTOCOL_ERROR_ROSTER_INVALID);
  }
  {
    /* The owner's leaf node does not verify. */
    g_autoptr(UsiCommit) commit = decode (fixture->genesis);
    g_autoptr(GBytes) bytes = NULL;
    UsiRosterEntry *owner = g_ptr_array_index (commit->roster, 0);

    owner->leaf.created_ms++;
    bytes = resign (commit, fixture->owner.identity, empty_context);
    assert_create_refused (bytes, USI_PROTOCOL_ERROR_BAD_SIGNATURE);
  }
  {
    g_autoptr(GBytes) garbage = g_bytes_new_static ("not a commit", 12);

    assert_create_refused (garbage, USI_PROTOCOL_ERROR_UNSUPPORTED_VERSION);
  }
  {
    g_autoptr(GBytes) cut = g_bytes_new_from_bytes (fixture->genesis, 0, 40);

    assert_create_refused (cut, USI_PROTOCOL_ERROR_MALFORMED);
  }
}

static void
test_save_restore (Fixture       *fixture,
                   gconstpointer  data)
{
  g_autoptr(GBytes) add_alice = add (fixture, &fixture->alice, NULL);
  g_autoptr(GBytes) add_bob = NULL;
  g_autoptr(GBytes) rotated = NULL;
  g_autoptr(GBytes) saved = NULL;
  g_autoptr(GBytes) saved_again = NULL;
  g_autoptr(UsiCommitChain) restored = NULL;
  g_autoptr(GError) error = NULL;

  follow (fixture, add_alice);
  add_bob = add (fixture, &fixture->bob, NULL);
  follow (fixture, add_bob);
  rotated = rotate (fixture);

  saved = usi_commit_chain_save (fixture->chain);
  restored = usi_commit_chain_restore (g_bytes_get_data (saved, NULL), g_bytes_get_size (saved), &error);
  g_assert_no_error (error);
  g_assert_nonnull (restored);
  saved_again = usi_commit_chain_save (restored);
  g_assert_true (g_bytes_equal (saved, saved_again));
  g_assert_cmpuint (usi_commit_chain_get_epoch (restored), ==, 2);
  g_assert_cmpmem (usi_commit_chain_get_owner_key (restored), 32, key_of (&fixture->owner), 32);
  g_assert_true (usi_commit_chain_has_member (restored, key_of (&fixture->bob)));

  /* The restored chain follows the next commit (its signature is over the
   * GroupContext rebuilt from the restored state). */
  usi_commit_chain_free (fixture->chain);
  fixture->chain = g_steal_pointer (&restored);
  follow (fixture, rotated);
  assert_same_as_owner (fixture);
}

static void
assert_restore_refused (const guint8 *data,
                        gsize         length)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiCommitChain) chain = usi_commit_chain_restore (data, length, &error);

  g_assert_null (chain);
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
}

static void
test_restore_garbage (Fixture       *fixture,
                      gconstpointer  data)
{
  g_autoptr(GBytes) saved = usi_commit_chain_save (fixture->chain);
  gsize length;
  const guint8 *bytes = g_bytes_get_data (saved, &length);
  g_autofree guint8 *copy = g_memdup2 (bytes, length + 1);

  assert_restore_refused ((const guint8 *) "", 0);
  assert_restore_refused ((const guint8 *) "garbage, not a chain", 20);
  /* The genesis commit is not a saved chain. */
  assert_restore_refused (g_bytes_get_data (fixture->genesis, NULL), g_bytes_get_size (fixture->genesis));
  /* Cut short, one byte too many. */
  assert_restore_refused (bytes, length - 1);
  copy[length] = 0;
  assert_restore_refused (copy, length + 1);
  /* Another version of the format. */
  copy[8] = 2;
  assert_restore_refused (copy, length);
  copy[8] = bytes[8];
  /* The interim hash no longer agrees with the GroupInfo. */
  copy[9 + 32] ^= 1;
  assert_restore_refused (copy, length);
  copy[9 + 32] = bytes[9 + 32];
  /* The owner key no longer matches the owner's entry. */
  copy[9] ^= 1;
  assert_restore_refused (copy, length);
  copy[9] = bytes[9];
  /* Repaired, it restores. */
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(UsiCommitChain) chain = usi_commit_chain_restore (copy, length, &error);

    g_assert_no_error (error);
    g_assert_nonnull (chain);
  }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) \
  g_test_add ("/relay/chain/" path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)

  ADD ("follows-the-room", test_follows_the_room);
  ADD ("R3-member-claims-owner", test_r3_member_claims_owner);
  ADD ("skipped-epoch", test_skipped_epoch);
  ADD ("replayed-commit", test_replayed_commit);
  ADD ("forked-commit", test_forked_commit);
  ADD ("wrong-room", test_wrong_room);
  ADD ("tampered-commit", test_tampered_commit);
  ADD ("owner-signed-but-invalid", test_owner_signed_but_invalid);
  ADD ("create-checked", test_create_checked);
  ADD ("save-restore", test_save_restore);
  ADD ("restore-garbage", test_restore_garbage);

#undef ADD

  return g_test_run ();
}
