/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The owner and member state machines: rooms built, changed and followed,
 * and every commit/welcome row of the adversarial table (C1–C11, J8). */

#include "config.h"

#include <string.h>

#include "crypto/usi-hpke.h"
#include "crypto/usi-mls-key-schedule.h"
#include "crypto/usi-random.h"
#include "protocol/usi-commit.h"
#include "protocol/usi-frame.h"
#include "protocol/usi-leaf-update.h"
#include "protocol/usi-member-group.h"
#include "protocol/usi-owner-group.h"
#include "protocol/usi-protocol-error.h"
#include "protocol/usi-welcome.h"

#define MAX_PEOPLE 8

typedef struct
{
  UsiIdentity   *identity;
  UsiLeafSecret  leaf;
  char          *name;
} Person;

static Person *
person_new (UsiRandom  *random,
            const char *name)
{
  g_autoptr(GError) error = NULL;
  Person *person = g_new0 (Person, 1);

  person->identity = usi_identity_generate (random, &error);
  g_assert_no_error (error);
  g_assert_true (usi_leaf_secret_generate (random, person->identity, 1, 1700000000000, &person->leaf, &error));
  g_assert_no_error (error);
  person->name = g_strdup (name);
  return person;
}

static void
person_free (Person *person)
{
  if (person == NULL)
    return;

  usi_identity_free (person->identity);
  usi_leaf_secret_clear (&person->leaf);
  g_free (person->name);
  g_free (person);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Person, person_free)

/* An owner and up to MAX_PEOPLE members, each with its own state. */
typedef struct
{
  UsiRandom      *random;
  Person         *owner;
  UsiOwnerGroup  *owner_group;
  guint8          room_id[USI_ROOM_ID_LENGTH];
  gboolean        has_password;
  guint8          password_psk[USI_KEY_LENGTH];
  Person         *people[MAX_PEOPLE];
  UsiMemberGroup *members[MAX_PEOPLE];
  guint32         indices[MAX_PEOPLE];
  guint           n_people;
} Room;

static Room *
room_new_full (const char          *seed,
               const UsiRoomConfig *config,
               const guint8        *password_psk)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) genesis = NULL;
  Room *room = g_new0 (Room, 1);

  room->random = usi_random_new_deterministic ((const guint8 *) seed, strlen (seed));
  room->owner = person_new (room->random, "Owner");
  g_assert_true (usi_random_fill (room->random, room->room_id, sizeof room->room_id, &error));
  if (password_psk != NULL)
    {
      room->has_password = TRUE;
      memcpy (room->password_psk, password_psk, USI_KEY_LENGTH);
    }
  room->owner_group = usi_owner_group_create (room->owner->identity, &room->owner->leaf.node,
                                              room->owner->name, room->room_id, config, password_psk,
                                              room->random, &genesis, &error);
  g_assert_no_error (error);
  g_assert_nonnull (room->owner_group);
  g_assert_nonnull (genesis);
  return room;
}

static Room *
room_new (const char *seed)
{
  UsiRoomConfig config;

  usi_room_config_init_default (&config);
  return room_new_full (seed, &config, NULL);
}

static void
room_free (Room *room)
{
  for (guint i = 0; i < room->n_people; i++)
    {
      usi_member_group_free (room->members[i]);
      person_free (room->people[i]);
    }
  usi_owner_group_free (room->owner_group);
  person_free (room->owner);
  usi_random_free (room->random);
  g_free (room);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Room, room_free)

/* Every member still following the room processes @commit: those the
 * owner's new epoch lists apply it, the others learn they were removed. */
static void
room_deliver (Room   *room,
              GBytes *commit)
{
  UsiEpoch *owner_epoch = usi_owner_group_get_epoch (room->owner_group);

  for (guint i = 0; i < room->n_people; i++)
    {
      g_autoptr(GError) error = NULL;
      UsiMemberCommitOutcome outcome;
      gboolean stays;

      if (room->members[i] == NULL || usi_member_group_is_removed (room->members[i]))
        continue;
      g_assert_true (usi_member_group_process_commit (room->members[i], g_bytes_get_data (commit, NULL),
                                                      g_bytes_get_size (commit), &outcome, &error));
      g_assert_no_error (error);
      stays = usi_epoch_lookup_member (owner_epoch, room->indices[i]) != NULL;
      g_assert_cmpint (outcome, ==, stays ? USI_MEMBER_COMMIT_APPLIED : USI_MEMBER_COMMIT_REMOVED);
    }
}

/* Adds a new person; the others apply the commit, the person joins from the
 * welcome.  Returns its position in room->people. */
static guint
room_add (Room       *room,
          const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) commit = NULL;
  g_autoptr(GBytes) welcome = NULL;
  guint position = room->n_people;
  Person *person;

  g_assert_cmpuint (position, <, MAX_PEOPLE);
  person = room->people[position] = person_new (room->random, name);
  g_assert_true (usi_owner_group_add_member (room->owner_group, &person->leaf.node, name, room->random,
                                             &room->indices[position], &commit, &welcome, &error));
  g_assert_no_error (error);
  room_deliver (room, commit);

  room->members[position] = usi_member_group_new_from_welcome (g_bytes_get_data (welcome, NULL),
                                                               g_bytes_get_size (welcome),
                                                               room->room_id,
                                                               usi_identity_get_public_key (room->owner->identity),
                                                               person->identity, &person->leaf,
                                                               room->has_password ? room->password_psk : NULL,
                                                               &error);
  g_assert_no_error (error);
  g_assert_nonnull (room->members[position]);
  room->n_people++;
  return position;
}

static void
assert_same_epoch (UsiEpoch *a,
                   UsiEpoch *b)
{
  const UsiMlsEpochSecrets *sa = usi_epoch_get_secrets (a);
  const UsiMlsEpochSecrets *sb = usi_epoch_get_secrets (b);

  g_assert_cmpuint (usi_epoch_get_number (a), ==, usi_epoch_get_number (b));
  g_assert_true (g_bytes_equal (usi_epoch_get_group_context (a), usi_epoch_get_group_context (b)));
  g_assert_cmpmem (sa->epoch_authenticator, 32, sb->epoch_authenticator, 32);
  g_assert_cmpmem (sa->encryption_secret, 32, sb->encryption_secret, 32);
  g_assert_cmpmem (sa->exporter_secret, 32, sb->exporter_secret, 32);
  g_assert_cmpuint (usi_epoch_get_roster (a)->len, ==, usi_epoch_get_roster (b)->len);
}

static void
assert_room_agrees (Room *room)
{
  UsiEpoch *owner_epoch = usi_owner_group_get_epoch (room->owner_group);

  for (guint i = 0; i < room->n_people; i++)
    if (room->members[i] != NULL && !usi_member_group_is_removed (room->members[i]))
      {
        assert_same_epoch (usi_member_group_get_epoch (room->members[i]), owner_epoch);
        g_assert_cmpuint (usi_epoch_get_own_index (usi_member_group_get_epoch (room->members[i])), ==,
                          room->indices[i]);
        g_assert_cmpuint (usi_member_group_get_own_index (room->members[i]), ==, room->indices[i]);
      }
}

/* Re-signs a commit the test altered, as a dishonest owner (or whoever holds
 * @identity) would, over the GroupContext the members hold. */
static GBytes *
resign_commit (UsiCommit     *commit,
               UsiIdentity   *identity,
               UsiOwnerGroup *owner_group)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (usi_commit_sign (commit, identity,
                                  usi_epoch_get_group_context (usi_owner_group_get_previous_epoch (owner_group)),
                                  &error));
  g_assert_no_error (error);
  return usi_commit_encode (commit);
}

/* Completes an altered, re-signed commit the way its signer would: the
 * confirmation tag from the commit_secret @member's delivery holds. */
static void
retag_commit (UsiCommit           *commit,
              UsiMemberGroup      *member,
              const UsiLeafSecret *leaf)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiGroupInfo) info = NULL;
  g_autoptr(GBytes) context = NULL;
  g_auto(UsiMlsEpochSecrets) secrets = { 0 };
  const UsiGroupInfo *current = usi_member_group_get_group_info (member);
  guint8 header_hash[32], commit_secret[32], interim[32], confirmed[32];

  g_assert_true (usi_commit_compute_header_hash (commit, header_hash, &error));
  g_assert_true (usi_commit_open_delivery (commit, header_hash,
                                           usi_commit_lookup_delivery (commit, usi_member_group_get_own_index (member)),
                                           leaf->private_key, commit_secret, &error));
  g_assert_true (usi_group_info_compute_interim_transcript_hash (current, interim, &error));
  g_assert_true (usi_commit_compute_confirmed_transcript_hash (commit, interim, confirmed, &error));
  info = usi_commit_build_group_info (commit, confirmed, &error);
  g_assert_true (usi_group_info_derive_secrets (info, usi_epoch_get_secrets (usi_member_group_get_epoch (member))->init_secret,
                                                commit_secret, NULL, NULL, &context, &secrets, &error));
  g_assert_true (usi_group_info_compute_confirmation_tag (info, &secrets, commit->confirmation_tag, &error));
  g_assert_no_error (error);
}

static UsiCommit *
decode_commit (GBytes *body)
{
  g_autoptr(GError) error = NULL;
  UsiCommit *commit = usi_commit_decode (g_bytes_get_data (body, NULL), g_bytes_get_size (body), &error);

  g_assert_no_error (error);
  return commit;
}

/* Asserts that @member refuses @commit with @code and stays where it was. */
static void
assert_commit_refused (UsiMemberGroup *member,
                       GBytes         *commit,
                       int             code)
{
  g_autoptr(GError) error = NULL;
  UsiEpoch *before = usi_member_group_get_epoch (member);
  UsiEpoch *previous_before = usi_member_group_get_previous_epoch (member);
  guint n_pending = usi_member_group_get_n_pending_updates (member);
  UsiMemberCommitOutcome outcome = 42;

  g_assert_false (usi_member_group_process_commit (member, g_bytes_get_data (commit, NULL),
                                                   g_bytes_get_size (commit), &outcome, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, code);
  g_assert_cmpint (outcome, ==, 42);
  g_assert_true (usi_member_group_get_epoch (member) == before);
  g_assert_true (usi_member_group_get_previous_epoch (member) == previous_before);
  g_assert_cmpuint (usi_member_group_get_n_pending_updates (member), ==, n_pending);
  g_assert_false (usi_member_group_is_removed (member));
}

static void
apply_commit (UsiMemberGroup         *member,
              GBytes                 *commit,
              UsiMemberCommitOutcome  expected)
{
  g_autoptr(GError) error = NULL;
  UsiMemberCommitOutcome outcome;

  g_assert_true (usi_member_group_process_commit (member, g_bytes_get_data (commit, NULL),
                                                  g_bytes_get_size (commit), &outcome, &error));
  g_assert_no_error (error);
  g_assert_cmpint (outcome, ==, expected);
}

/* A leaf node with a chosen leaf key, signed by @identity: what a member
 * would publish to claim someone else's key. */
static void
forge_leaf_node (UsiIdentity  *identity,
                 const guint8 *leaf_key,
                 guint32       sequence,
                 UsiLeafNode  *node)
{
  g_autoptr(GByteArray) content = g_byte_array_new ();
  g_autoptr(GError) error = NULL;

  memcpy (node->identity_key, usi_identity_get_public_key (identity), 32);
  memcpy (node->leaf_key, leaf_key, 32);
  node->sequence = sequence;
  node->created_ms = 1700000000000;
  usi_wire_write_fixed (content, node->identity_key, 32);
  usi_wire_write_fixed (content, node->leaf_key, 32);
  usi_wire_write_u32 (content, node->sequence);
  usi_wire_write_u64 (content, node->created_ms);
  g_assert_true (usi_identity_sign (identity, "LeafNodeTBS", content->data, content->len, node->signature, &error));
  g_assert_no_error (error);
  g_assert_true (usi_leaf_node_verify (node, &error));
}

static UsiRosterEntry *
commit_entry (UsiCommit *commit,
              guint32    index)
{
  return (UsiRosterEntry *) usi_roster_lookup (commit->roster, index);
}

/* Round trips ---------------------------------------------------------- */

static void
test_create_join_and_agree (void)
{
  g_autoptr(Room) room = room_new ("create-join");
  UsiEpoch *epoch;

  /* Epoch 0: the owner alone, at index 0. */
  epoch = usi_owner_group_get_epoch (room->owner_group);
  g_assert_cmpuint (usi_epoch_get_number (epoch), ==, 0);
  g_assert_cmpuint (usi_epoch_get_roster (epoch)->len, ==, 1);
  g_assert_cmpuint (usi_epoch_get_owner_index (epoch), ==, USI_OWNER_INDEX);
  g_assert_null (usi_owner_group_get_previous_epoch (room->owner_group));

  room_add (room, "Alice");
  room_add (room, "Bob");
  room_add (room, "Carol");

  epoch = usi_owner_group_get_epoch (room->owner_group);
  g_assert_cmpuint (usi_epoch_get_number (epoch), ==, 3);
  g_assert_cmpuint (usi_epoch_get_roster (epoch)->len, ==, 4);
  g_assert_cmpuint (room->indices[0], ==, 1);
  g_assert_cmpuint (room->indices[1], ==, 2);
  g_assert_cmpuint (room->indices[2], ==, 3);
  g_assert_cmpstr (usi_epoch_lookup_member (epoch, 2)->display_name, ==, "Bob");
  assert_room_agrees (room);

  /* The owner and Alice keep the previous epoch too. */
  assert_same_epoch (usi_member_group_get_previous_epoch (room->members[0]),
                     usi_owner_group_get_previous_epoch (room->owner_group));
  g_assert_true (usi_member_group_lookup_epoch (room->members[0], 2) ==
                 usi_member_group_get_previous_epoch (room->members[0]));
  g_assert_null (usi_member_group_lookup_epoch (room->members[0], 1));
  g_assert_null (usi_member_group_get_previous_epoch (room->members[2]));

  /* The previous epoch can be dropped early; following commits needs only
   * the current one. */
  usi_member_group_forget_previous_epoch (room->members[0]);
  usi_owner_group_forget_previous_epoch (room->owner_group);
  g_assert_null (usi_member_group_get_previous_epoch (room->members[0]));
  g_assert_null (usi_owner_group_lookup_epoch (room->owner_group, 2));
  {
    g_autoptr(GError) error = NULL;
    g_autoptr(GBytes) rotate = NULL;

    g_assert_true (usi_owner_group_rotate (room->owner_group, room->random, &rotate, &error));
    room_deliver (room, rotate);
    assert_room_agrees (room);
  }
}

static void
test_remove_rotate_update_round_trip (void)
{
  g_autoptr(Room) room = room_new ("round-trip");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) commit = NULL;
  g_autoptr(GBytes) update = NULL;
  guint8 before[32];

  room_add (room, "Alice");
  room_add (room, "Bob");
  room_add (room, "Carol");

  memcpy (before, usi_epoch_get_secrets (usi_owner_group_get_epoch (room->owner_group))->epoch_authenticator, 32);
  g_assert_true (usi_owner_group_rotate (room->owner_group, room->random, &commit, &error));
  g_assert_no_error (error);
  room_deliver (room, commit);
  assert_room_agrees (room);
  /* Fresh randomness: the rotated epoch shares nothing with the last. */
  g_assert_true (memcmp (before, usi_epoch_get_secrets (usi_owner_group_get_epoch (room->owner_group))->epoch_authenticator, 32) != 0);
  g_clear_pointer (&commit, g_bytes_unref);

  update = usi_member_group_create_leaf_update (room->members[1], room->random, 1700000001000, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (usi_member_group_get_n_pending_updates (room->members[1]), ==, 1);
  g_assert_true (usi_owner_group_apply_leaf_update (room->owner_group, g_bytes_get_data (update, NULL),
                                                    g_bytes_get_size (update), room->random, &commit, &error));
  g_assert_no_error (error);
  room_deliver (room, commit);
  assert_room_agrees (room);
  g_assert_cmpuint (usi_member_group_get_leaf_node (room->members[1])->sequence, ==, 2);
  g_assert_cmpuint (usi_member_group_get_n_pending_updates (room->members[1]), ==, 0);
  g_clear_pointer (&commit, g_bytes_unref);

  g_assert_true (usi_owner_group_remove_member (room->owner_group, room->indices[1], room->random, &commit, &error));
  g_assert_no_error (error);
  for (guint i = 0; i < 3; i++)
    apply_commit (room->members[i], commit, i == 1 ? USI_MEMBER_COMMIT_REMOVED : USI_MEMBER_COMMIT_APPLIED);
  assert_room_agrees (room);
  g_assert_cmpuint (usi_epoch_get_roster (usi_owner_group_get_epoch (room->owner_group))->len, ==, 3);

  /* The freed index is the next joiner's. */
  room_add (room, "Dave");
  g_assert_cmpuint (room->indices[3], ==, room->indices[1]);
  assert_room_agrees (room);
}

static void
test_owner_refusals (void)
{
  g_autoptr(Room) room = room_new ("owner-refusals");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) commit = NULL;
  g_autoptr(GBytes) welcome = NULL;
  g_autoptr(Person) other = NULL;
  UsiEpoch *before;
  UsiLeafNode second_leaf;
  guint32 index = 77;
  guint alice;

  alice = room_add (room, "Alice");
  before = usi_owner_group_get_epoch (room->owner_group);

  /* The same person twice. */
  g_assert_false (usi_owner_group_add_member (room->owner_group, &room->people[alice]->leaf.node, "Alice 2",
                                              room->random, &index, &commit, &welcome, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_ROSTER_INVALID);
  g_clear_error (&error);

  /* Someone else claiming Alice's leaf key. */
  other = person_new (room->random, "Mallory");
  forge_leaf_node (other->identity, room->people[alice]->leaf.node.leaf_key, 1, &second_leaf);
  g_assert_false (usi_owner_group_add_member (room->owner_group, &second_leaf, "Mallory",
                                              room->random, &index, &commit, &welcome, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_ROSTER_INVALID);
  g_clear_error (&error);

  /* A leaf node whose signature does not verify. */
  second_leaf = other->leaf.node;
  second_leaf.sequence++;
  g_assert_false (usi_owner_group_add_member (room->owner_group, &second_leaf, "Mallory",
                                              room->random, &index, &commit, &welcome, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_BAD_SIGNATURE);
  g_clear_error (&error);

  /* A name with a bidi override. */
  g_assert_false (usi_owner_group_add_member (room->owner_group, &other->leaf.node, "Mal\u202Elory",
                                              room->random, &index, &commit, &welcome, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
  g_clear_error (&error);

  g_assert_false (usi_owner_group_remove_member (room->owner_group, USI_OWNER_INDEX, room->random, &commit, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_ALLOWED);
  g_clear_error (&error);
  g_assert_false (usi_owner_group_remove_member (room->owner_group, 9, room->random, &commit, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_MEMBER);
  g_clear_error (&error);

  g_assert_false (usi_owner_group_set_rotate_after (room->owner_group, 0, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_ALLOWED);
  g_clear_error (&error);

  /* Nothing changed, and the names were normalized when accepted. */
  g_assert_true (usi_owner_group_get_epoch (room->owner_group) == before);
  g_assert_cmpuint (index, ==, 77);
  g_assert_null (commit);
  g_assert_null (welcome);
  g_assert_true (usi_owner_group_add_member (room->owner_group, &other->leaf.node, "  Mal   lory ",
                                             room->random, &index, &commit, &welcome, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (usi_epoch_lookup_member (usi_owner_group_get_epoch (room->owner_group), index)->display_name,
                   ==, "Mal lory");
}

static void
test_password_room (void)
{
  g_autoptr(Room) room = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) commit = NULL;
  g_autoptr(GBytes) welcome = NULL;
  g_autoptr(GBytes) genesis = NULL;
  g_autoptr(Person) joiner = NULL;
  g_autoptr(UsiMemberGroup) member = NULL;
  g_autoptr(UsiOwnerGroup) plain = NULL;
  UsiRoomConfig config;
  guint8 psk[32], wrong_psk[32];

  memset (psk, 0x5a, sizeof psk);
  memset (wrong_psk, 0xa5, sizeof wrong_psk);
  usi_room_config_init_default (&config);
  config.password_required = TRUE;

  room = room_new_full ("password", &config, psk);
  room_add (room, "Alice");
  assert_room_agrees (room);

  /* The password is mixed into the key schedule: a room without it, built
   * from the same randomness, has other keys. */
  joiner = person_new (room->random, "Bob");
  g_assert_true (usi_owner_group_add_member (room->owner_group, &joiner->leaf.node, "Bob", room->random,
                                             NULL, &commit, &welcome, &error));
  g_assert_no_error (error);
  room_deliver (room, commit);

  member = usi_member_group_new_from_welcome (g_bytes_get_data (welcome, NULL), g_bytes_get_size (welcome),
                                              room->room_id, usi_identity_get_public_key (room->owner->identity),
                                              joiner->identity, &joiner->leaf, NULL, &error);
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_PASSWORD_REQUIRED);
  g_assert_null (member);
  g_clear_error (&error);

  member = usi_member_group_new_from_welcome (g_bytes_get_data (welcome, NULL), g_bytes_get_size (welcome),
                                              room->room_id, usi_identity_get_public_key (room->owner->identity),
                                              joiner->identity, &joiner->leaf, wrong_psk, &error);
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_BAD_CONFIRMATION);
  g_assert_null (member);
  g_clear_error (&error);

  member = usi_member_group_new_from_welcome (g_bytes_get_data (welcome, NULL), g_bytes_get_size (welcome),
                                              room->room_id, usi_identity_get_public_key (room->owner->identity),
                                              joiner->identity, &joiner->leaf, psk, &error);
  g_assert_no_error (error);
  assert_same_epoch (usi_member_group_get_epoch (member), usi_owner_group_get_epoch (room->owner_group));

  /* The owner needs the key to create such a room, and refuses one for a
   * room without a password. */
  g_clear_pointer (&genesis, g_bytes_unref);
  plain = usi_owner_group_create (room->owner->identity, &room->owner->leaf.node, "Owner", room->room_id,
                                  &config, NULL, room->random, &genesis, &error);
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_PASSWORD_REQUIRED);
  g_assert_null (plain);
  g_clear_error (&error);
  config.password_required = FALSE;
  plain = usi_owner_group_create (room->owner->identity, &room->owner->leaf.node, "Owner", room->room_id,
                                  &config, psk, room->random, &genesis, &error);
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_ALLOWED);
  g_assert_null (plain);
}

static void
test_genesis_commit (void)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "genesis", 7);
  g_autoptr(Person) owner = person_new (random, "Owner");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) genesis = NULL;
  g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);
  g_autoptr(UsiOwnerGroup) group = NULL;
  g_autoptr(UsiCommit) commit = NULL;
  UsiRoomConfig config;
  guint8 room_id[16] = { 1, 2, 3 }, zeros[32] = { 0 };

  usi_room_config_init_default (&config);
  config.rotate_after_messages = 7;
  group = usi_owner_group_create (owner->identity, &owner->leaf.node, "Owner", room_id, &config, NULL,
                                  random, &genesis, &error);
  g_assert_no_error (error);

  commit = decode_commit (genesis);
  g_assert_cmpuint (commit->epoch, ==, 0);
  g_assert_cmpint (commit->reason, ==, USI_COMMIT_REASON_CREATE);
  g_assert_cmpmem (commit->prev_commit_hash, 32, zeros, 32);
  g_assert_cmpuint (commit->roster->len, ==, 1);
  g_assert_cmpuint (commit->deliveries->len, ==, 0);
  g_assert_cmpuint (commit->config.rotate_after_messages, ==, 7);
  g_assert_true (usi_commit_verify (commit, usi_identity_get_public_key (owner->identity), empty, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (usi_frame_get_max_body_length (USI_FRAME_COMMIT), >=, g_bytes_get_size (genesis));

  /* The next commit chains to it. */
  {
    g_autoptr(GBytes) next = NULL;
    g_autoptr(UsiCommit) next_commit = NULL;
    guint8 hash[32];

    g_assert_true (usi_owner_group_rotate (group, random, &next, &error));
    next_commit = decode_commit (next);
    g_assert_true (usi_commit_compute_hash (commit, hash, &error));
    g_assert_cmpmem (next_commit->prev_commit_hash, 32, hash, 32);
    g_assert_cmpuint (next_commit->epoch, ==, 1);
  }
}

/* C1–C11 ---------------------------------------------------------------- */

static void
test_c1_commit_signed_by_member (void)
{
  g_autoptr(Room) room = room_new ("C1");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) genuine = NULL;
  g_autoptr(GBytes) forged = NULL;
  g_autoptr(GBytes) forged_sender = NULL;
  g_autoptr(UsiCommit) commit = NULL;
  guint alice, bob;

  alice = room_add (room, "Alice");
  bob = room_add (room, "Bob");
  g_assert_true (usi_owner_group_rotate (room->owner_group, room->random, &genuine, &error));

  /* Bob signs a commit claiming to come from the owner's index. */
  commit = decode_commit (genuine);
  forged = resign_commit (commit, room->people[bob]->identity, room->owner_group);
  assert_commit_refused (room->members[alice], forged, USI_PROTOCOL_ERROR_BAD_SIGNATURE);

  /* Bob signs a commit naming himself as the committer. */
  commit->committer_index = room->indices[bob];
  forged_sender = resign_commit (commit, room->people[bob]->identity, room->owner_group);
  assert_commit_refused (room->members[alice], forged_sender, USI_PROTOCOL_ERROR_NOT_OWNER);

  /* The owner's own commit still goes through. */
  apply_commit (room->members[alice], genuine, USI_MEMBER_COMMIT_APPLIED);
}

static void
test_c2_wrong_epoch_and_replay (void)
{
  g_autoptr(Room) room = room_new ("C2");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) first = NULL;
  g_autoptr(GBytes) second = NULL;
  g_autoptr(GBytes) removal = NULL;
  g_autoptr(GBytes) readd = NULL;
  g_autoptr(GBytes) welcome = NULL;
  g_autoptr(Person) mallory = NULL;
  guint alice;

  alice = room_add (room, "Alice");
  g_assert_true (usi_owner_group_rotate (room->owner_group, room->random, &first, &error));
  g_assert_true (usi_owner_group_rotate (room->owner_group, room->random, &second, &error));

  /* Epoch current + 2: a commit is missing before it. */
  assert_commit_refused (room->members[alice], second, USI_PROTOCOL_ERROR_EPOCH_NOT_YET);
  apply_commit (room->members[alice], first, USI_MEMBER_COMMIT_APPLIED);
  /* The same commit again is a duplicate; applied once only. */
  assert_commit_refused (room->members[alice], first, USI_PROTOCOL_ERROR_DUPLICATE);
  apply_commit (room->members[alice], second, USI_MEMBER_COMMIT_APPLIED);
  /* A replay of an old commit (a rollback attempt). */
  assert_commit_refused (room->members[alice], first, USI_PROTOCOL_ERROR_WRONG_EPOCH);

  /* Replaying the commit that added a removed member does not re-add it. */
  mallory = person_new (room->random, "Mallory");
  g_assert_true (usi_owner_group_add_member (room->owner_group, &mallory->leaf.node, "Mallory", room->random,
                                             NULL, &readd, &welcome, &error));
  apply_commit (room->members[alice], readd, USI_MEMBER_COMMIT_APPLIED);
  g_assert_true (usi_owner_group_remove_member (room->owner_group, 2, room->random, &removal, &error));
  apply_commit (room->members[alice], removal, USI_MEMBER_COMMIT_APPLIED);
  assert_commit_refused (room->members[alice], readd, USI_PROTOCOL_ERROR_WRONG_EPOCH);
  g_assert_null (usi_epoch_lookup_member (usi_member_group_get_epoch (room->members[alice]), 2));
}

static void
test_c3_two_commits_for_one_epoch (void)
{
  /* Two copies of one owner, driven by identical randomness, build one
   * room; then they diverge and each signs its own commit for the same
   * epoch: what an equivocating owner (or a relay replaying a forked
   * owner) shows two members. */
  g_autoptr(UsiRandom) people_random = usi_random_new_deterministic ((const guint8 *) "C3 people", 9);
  g_autoptr(UsiRandom) random_a = usi_random_new_deterministic ((const guint8 *) "C3 owner", 8);
  g_autoptr(UsiRandom) random_b = usi_random_new_deterministic ((const guint8 *) "C3 owner", 8);
  g_autoptr(Person) owner = person_new (people_random, "Owner");
  g_autoptr(Person) x = person_new (people_random, "Xavier");
  g_autoptr(Person) y = person_new (people_random, "Yvonne");
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiOwnerGroup) owner_a = NULL;
  g_autoptr(UsiOwnerGroup) owner_b = NULL;
  g_autoptr(UsiMemberGroup) member_x = NULL;
  g_autoptr(UsiMemberGroup) member_y = NULL;
  g_autoptr(GBytes) genesis_a = NULL, genesis_b = NULL;
  g_autoptr(GBytes) add_x_a = NULL, add_x_b = NULL, welcome_x_a = NULL, welcome_x_b = NULL;
  g_autoptr(GBytes) add_y_a = NULL, add_y_b = NULL, welcome_y_a = NULL, welcome_y_b = NULL;
  g_autoptr(GBytes) commit_a = NULL, commit_b = NULL, next_a = NULL;
  const guint8 *owner_key = usi_identity_get_public_key (owner->identity);
  UsiRoomConfig config;
  guint8 room_id[16] = { 3 };

  usi_room_config_init_default (&config);
  owner_a = usi_owner_group_create (owner->identity, &owner->leaf.node, "Owner", room_id, &config, NULL,
                                    random_a, &genesis_a, &error);
  owner_b = usi_owner_group_create (owner->identity, &owner->leaf.node, "Owner", room_id, &config, NULL,
                                    random_b, &genesis_b, &error);
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (genesis_a, genesis_b));

  g_assert_true (usi_owner_group_add_member (owner_a, &x->leaf.node, "Xavier", random_a, NULL, &add_x_a, &welcome_x_a, &error));
  g_assert_true (usi_owner_group_add_member (owner_b, &x->leaf.node, "Xavier", random_b, NULL, &add_x_b, &welcome_x_b, &error));
  g_assert_true (usi_owner_group_add_member (owner_a, &y->leaf.node, "Yvonne", random_a, NULL, &add_y_a, &welcome_y_a, &error));
  g_assert_true (usi_owner_group_add_member (owner_b, &y->leaf.node, "Yvonne", random_b, NULL, &add_y_b, &welcome_y_b, &error));
  g_assert_no_error (error);
  g_assert_true (g_bytes_equal (add_y_a, add_y_b));
  g_assert_true (g_bytes_equal (welcome_y_a, welcome_y_b));

  member_x = usi_member_group_new_from_welcome (g_bytes_get_data (welcome_x_a, NULL), g_bytes_get_size (welcome_x_a),
                                                room_id, owner_key, x->identity, &x->leaf, NULL, &error);
  g_assert_no_error (error);
  apply_commit (member_x, add_y_a, USI_MEMBER_COMMIT_APPLIED);
  member_y = usi_member_group_new_from_welcome (g_bytes_get_data (welcome_y_b, NULL), g_bytes_get_size (welcome_y_b),
                                                room_id, owner_key, y->identity, &y->leaf, NULL, &error);
  g_assert_no_error (error);
  assert_same_epoch (usi_member_group_get_epoch (member_x), usi_member_group_get_epoch (member_y));

  /* The fork: two validly signed commits for epoch 3. */
  g_assert_true (usi_owner_group_rotate (owner_a, random_a, &commit_a, &error));
  g_assert_true (usi_owner_group_set_rotate_after (owner_b, 50, &error));
  g_assert_true (usi_owner_group_rotate (owner_b, random_b, &commit_b, &error));
  g_assert_false (g_bytes_equal (commit_a, commit_b));

  apply_commit (member_x, commit_a, USI_MEMBER_COMMIT_APPLIED);
  apply_commit (member_y, commit_b, USI_MEMBER_COMMIT_APPLIED);
  /* The two members now disagree, and it shows in the epoch authenticator. */
  g_assert_true (memcmp (usi_epoch_get_secrets (usi_member_group_get_epoch (member_x))->epoch_authenticator,
                         usi_epoch_get_secrets (usi_member_group_get_epoch (member_y))->epoch_authenticator, 32) != 0);

  /* Whoever sees the other branch refuses it as a fork ... */
  assert_commit_refused (member_x, commit_b, USI_PROTOCOL_ERROR_CHAIN_BROKEN);
  assert_commit_refused (member_y, commit_a, USI_PROTOCOL_ERROR_CHAIN_BROKEN);
  /* ... and everything built on it. */
  g_assert_true (usi_owner_group_rotate (owner_a, random_a, &next_a, &error));
  assert_commit_refused (member_y, next_a, USI_PROTOCOL_ERROR_CHAIN_BROKEN);
  apply_commit (member_x, next_a, USI_MEMBER_COMMIT_APPLIED);
}

static void
test_c4_duplicate_identity (void)
{
  g_autoptr(Room) room = room_new ("C4 identity");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) genuine = NULL;
  g_autoptr(GBytes) welcome = NULL;
  g_autoptr(GBytes) forged = NULL;
  g_autoptr(UsiCommit) commit = NULL;
  g_autoptr(Person) carol = NULL;
  g_auto(UsiLeafSecret) second_alice_leaf = { 0 };
  guint alice, bob;
  guint32 carol_index;

  alice = room_add (room, "Alice");
  bob = room_add (room, "Bob");
  carol = person_new (room->random, "Carol");
  g_assert_true (usi_owner_group_add_member (room->owner_group, &carol->leaf.node, "Carol", room->random,
                                             &carol_index, &genuine, &welcome, &error));

  /* The added entry is Alice again, under a second, valid leaf node. */
  g_assert_true (usi_leaf_secret_generate (room->random, room->people[alice]->identity, 5, 1700000000000,
                                           &second_alice_leaf, &error));
  commit = decode_commit (genuine);
  commit_entry (commit, carol_index)->leaf = second_alice_leaf.node;
  forged = resign_commit (commit, room->owner->identity, room->owner_group);
  assert_commit_refused (room->members[bob], forged, USI_PROTOCOL_ERROR_ROSTER_INVALID);
  assert_commit_refused (room->members[alice], forged, USI_PROTOCOL_ERROR_ROSTER_INVALID);
  apply_commit (room->members[bob], genuine, USI_MEMBER_COMMIT_APPLIED);
}

static void
test_c4_duplicate_leaf_key (void)
{
  g_autoptr(Room) room = room_new ("C4 leaf key");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) genuine = NULL;
  g_autoptr(GBytes) welcome = NULL;
  g_autoptr(GBytes) forged = NULL;
  g_autoptr(UsiCommit) commit = NULL;
  g_autoptr(Person) carol = NULL;
  guint alice, bob;
  guint32 carol_index;

  alice = room_add (room, "Alice");
  bob = room_add (room, "Bob");
  carol = person_new (room->random, "Carol");
  g_assert_true (usi_owner_group_add_member (room->owner_group, &carol->leaf.node, "Carol", room->random,
                                             &carol_index, &genuine, &welcome, &error));

  /* Carol signs a leaf node carrying Alice's leaf key. */
  commit = decode_commit (genuine);
  forge_leaf_node (carol->identity, room->people[alice]->leaf.node.leaf_key, 1,
                   &commit_entry (commit, carol_index)->leaf);
  forged = resign_commit (commit, room->owner->identity, room->owner_group);
  assert_commit_refused (room->members[bob], forged, USI_PROTOCOL_ERROR_ROSTER_INVALID);
  apply_commit (room->members[bob], genuine, USI_MEMBER_COMMIT_APPLIED);
}

static void
test_c4_own_leaf_changed_without_update (void)
{
  g_autoptr(Room) room = room_new ("C4 own leaf");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) genuine = NULL;
  g_autoptr(GBytes) forged = NULL;
  g_autoptr(UsiCommit) commit = NULL;
  g_auto(UsiLeafSecret) replacement = { 0 };
  guint8 header_hash[32], commit_secret[32] = { 9 };
  UsiCommitDelivery *delivery;
  guint alice, bob;

  alice = room_add (room, "Alice");
  bob = room_add (room, "Bob");
  g_assert_true (usi_owner_group_rotate (room->owner_group, room->random, &genuine, &error));

  /* An UPDATE that Alice never asked for: a newer leaf under her identity
   * (as someone holding her identity key could make), with her delivery
   * sealed to it so that only the roster check can catch it. */
  g_assert_true (usi_leaf_secret_generate (room->random, room->people[alice]->identity, 9, 1700000000000,
                                           &replacement, &error));
  commit = decode_commit (genuine);
  commit->reason = USI_COMMIT_REASON_UPDATE;
  commit_entry (commit, room->indices[alice])->leaf = replacement.node;
  g_assert_true (usi_commit_compute_header_hash (commit, header_hash, &error));
  for (guint i = 0; i < commit->deliveries->len; i++)
    {
      delivery = &g_array_index (commit->deliveries, UsiCommitDelivery, i);
      g_assert_true (usi_commit_seal_delivery (commit, header_hash, delivery->index,
                                               commit_entry (commit, delivery->index)->leaf.leaf_key,
                                               commit_secret, room->random, delivery, &error));
    }
  forged = resign_commit (commit, room->owner->identity, room->owner_group);

  assert_commit_refused (room->members[alice], forged, USI_PROTOCOL_ERROR_ROSTER_INVALID);
  /* For Bob it is an ordinary update of Alice's leaf: only its owner can
   * tell. */
  g_assert_nonnull (room->members[bob]);
  apply_commit (room->members[alice], genuine, USI_MEMBER_COMMIT_APPLIED);
}

static void
test_c4_roster_change_must_match_reason (void)
{
  g_autoptr(Room) room = room_new ("C4 reasons");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) rotate = NULL;
  g_autoptr(GBytes) removal = NULL;
  g_autoptr(Person) carol = NULL;
  g_auto(UsiLeafSecret) newer = { 0 };
  static const UsiCommitReason wrong_for_rotate[] = { USI_COMMIT_REASON_ADD, USI_COMMIT_REASON_REMOVE, USI_COMMIT_REASON_UPDATE };
  static const UsiCommitReason wrong_for_remove[] = { USI_COMMIT_REASON_ADD, USI_COMMIT_REASON_UPDATE, USI_COMMIT_REASON_ROTATE };
  guint alice, bob;

  alice = room_add (room, "Alice");
  bob = room_add (room, "Bob");
  carol = person_new (room->random, "Carol");
  g_assert_true (usi_owner_group_rotate (room->owner_group, room->random, &rotate, &error));

  /* The same roster under every other reason. */
  for (guint i = 0; i < G_N_ELEMENTS (wrong_for_rotate); i++)
    {
      g_autoptr(UsiCommit) commit = decode_commit (rotate);
      g_autoptr(GBytes) forged = NULL;

      commit->reason = wrong_for_rotate[i];
      forged = resign_commit (commit, room->owner->identity, room->owner_group);
      assert_commit_refused (room->members[alice], forged, USI_PROTOCOL_ERROR_ROSTER_INVALID);
    }

  /* Changes a rotation may not make: another person at Bob's index, Bob
   * under another name, Bob's leaf node replaced by an older one. */
  {
    g_autoptr(UsiCommit) commit = decode_commit (rotate);
    g_autoptr(GBytes) forged = NULL;
    UsiRosterEntry *entry = commit_entry (commit, room->indices[bob]);

    entry->leaf = carol->leaf.node;
    forged = resign_commit (commit, room->owner->identity, room->owner_group);
    assert_commit_refused (room->members[alice], forged, USI_PROTOCOL_ERROR_ROSTER_INVALID);
  }
  {
    g_autoptr(UsiCommit) commit = decode_commit (rotate);
    g_autoptr(GBytes) forged = NULL;
    UsiRosterEntry *entry = commit_entry (commit, room->indices[bob]);

    g_free (entry->display_name);
    entry->display_name = g_strdup ("Robert");
    forged = resign_commit (commit, room->owner->identity, room->owner_group);
    assert_commit_refused (room->members[alice], forged, USI_PROTOCOL_ERROR_ROSTER_INVALID);
  }
  {
    g_autoptr(UsiCommit) commit = decode_commit (rotate);
    g_autoptr(GBytes) forged = NULL;

    /* Sequence 0 is below Bob's 1: an old leaf passed off as new. */
    g_assert_true (usi_leaf_secret_generate (room->random, room->people[bob]->identity, 0, 1, &newer, &error));
    commit->reason = USI_COMMIT_REASON_UPDATE;
    commit_entry (commit, room->indices[bob])->leaf = newer.node;
    forged = resign_commit (commit, room->owner->identity, room->owner_group);
    assert_commit_refused (room->members[alice], forged, USI_PROTOCOL_ERROR_ROSTER_INVALID);
  }

  /* A removal under every other reason. */
  apply_commit (room->members[alice], rotate, USI_MEMBER_COMMIT_APPLIED);
  apply_commit (room->members[bob], rotate, USI_MEMBER_COMMIT_APPLIED);
  g_assert_true (usi_owner_group_remove_member (room->owner_group, room->indices[bob], room->random, &removal, &error));
  for (guint i = 0; i < G_N_ELEMENTS (wrong_for_remove); i++)
    {
      g_autoptr(UsiCommit) commit = decode_commit (removal);
      g_autoptr(GBytes) forged = NULL;

      commit->reason = wrong_for_remove[i];
      forged = resign_commit (commit, room->owner->identity, room->owner_group);
      assert_commit_refused (room->members[alice], forged, USI_PROTOCOL_ERROR_ROSTER_INVALID);
    }
  apply_commit (room->members[alice], removal, USI_MEMBER_COMMIT_APPLIED);
}

static void
test_c5_removed_member_cannot_derive (void)
{
  g_autoptr(Room) room = room_new ("C5");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) removal = NULL;
  g_autoptr(UsiCommit) commit = NULL;
  g_auto(UsiMlsEpochSecrets) guessed = { 0 };
  g_auto(UsiLeafSecret) kept_leaf = { 0 };
  UsiEpoch *old_epoch;
  const UsiMlsEpochSecrets *real;
  guint8 old_init_secret[32], zeros[32] = { 0 }, header_hash[32], opened[32];
  guint alice, mallory;

  alice = room_add (room, "Alice");
  mallory = room_add (room, "Mallory");
  room_add (room, "Bob");

  /* Mallory keeps every secret it ever had. */
  kept_leaf = room->people[mallory]->leaf;
  old_epoch = usi_epoch_ref (usi_member_group_get_epoch (room->members[mallory]));
  memcpy (old_init_secret, usi_epoch_get_secrets (old_epoch)->init_secret, 32);

  g_assert_true (usi_owner_group_remove_member (room->owner_group, room->indices[mallory], room->random,
                                                &removal, &error));
  g_assert_no_error (error);
  apply_commit (room->members[mallory], removal, USI_MEMBER_COMMIT_REMOVED);
  g_assert_true (usi_member_group_is_removed (room->members[mallory]));
  g_assert_true (usi_member_group_get_epoch (room->members[mallory]) == old_epoch);
  room_deliver (room, removal);
  real = usi_epoch_get_secrets (usi_member_group_get_epoch (room->members[alice]));

  /* No delivery for Mallory, and none of the others' opens with its key. */
  commit = decode_commit (removal);
  g_assert_null (usi_commit_lookup_delivery (commit, room->indices[mallory]));
  g_assert_cmpuint (commit->deliveries->len, ==, 2);
  g_assert_true (usi_commit_compute_header_hash (commit, header_hash, &error));
  for (guint i = 0; i < commit->deliveries->len; i++)
    {
      g_assert_false (usi_commit_open_delivery (commit, header_hash,
                                                &g_array_index (commit->deliveries, UsiCommitDelivery, i),
                                                kept_leaf.private_key, opened, &error));
      g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
      g_clear_error (&error);
    }

  /* Its old init_secret without the commit_secret gives other keys. */
  g_assert_true (usi_mls_key_schedule_derive ("usi 1.0 ", old_init_secret, zeros, NULL,
                                              g_bytes_get_data (usi_epoch_get_group_context (usi_member_group_get_epoch (room->members[alice])), NULL),
                                              g_bytes_get_size (usi_epoch_get_group_context (usi_member_group_get_epoch (room->members[alice]))),
                                              &guessed, &error));
  g_assert_true (memcmp (guessed.encryption_secret, real->encryption_secret, 32) != 0);
  g_assert_true (memcmp (guessed.exporter_secret, real->exporter_secret, 32) != 0);
  g_assert_true (memcmp (guessed.epoch_authenticator, real->epoch_authenticator, 32) != 0);

  /* And it has no state of the new epoch at all. */
  g_assert_null (usi_member_group_lookup_epoch (room->members[mallory], usi_epoch_get_number (old_epoch) + 1));
  usi_epoch_unref (old_epoch);
}

static void
test_c6_removed_index_absent (void)
{
  g_autoptr(Room) room = room_new ("C6");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) removal = NULL;
  guint alice, mallory;
  guint32 index;

  alice = room_add (room, "Alice");
  mallory = room_add (room, "Mallory");
  index = room->indices[mallory];

  g_assert_true (usi_owner_group_remove_member (room->owner_group, index, room->random, &removal, &error));
  room_deliver (room, removal);
  g_assert_true (usi_member_group_is_removed (room->members[mallory]));

  /* Nobody's new epoch has a member at Mallory's index, so the message
   * layer finds no sender there; the previous epoch (in-flight messages)
   * still lists it. */
  g_assert_null (usi_epoch_lookup_member (usi_member_group_get_epoch (room->members[alice]), index));
  g_assert_null (usi_epoch_lookup_member (usi_owner_group_get_epoch (room->owner_group), index));
  g_assert_nonnull (usi_epoch_lookup_member (usi_member_group_get_previous_epoch (room->members[alice]), index));
}

static void
test_c7_removed_member_keeps_receiving (void)
{
  g_autoptr(Room) room = room_new ("C7");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) removal = NULL;
  g_autoptr(GBytes) later = NULL;
  g_autoptr(UsiCommit) commit = NULL;
  UsiMemberCommitOutcome outcome = 42;
  UsiEpoch *frozen;
  guint mallory;

  room_add (room, "Alice");
  mallory = room_add (room, "Mallory");
  g_assert_true (usi_owner_group_remove_member (room->owner_group, room->indices[mallory], room->random,
                                                &removal, &error));
  room_deliver (room, removal);
  frozen = usi_member_group_get_epoch (room->members[mallory]);

  /* The relay keeps sending Mallory the room's commits: it follows none. */
  g_assert_true (usi_owner_group_rotate (room->owner_group, room->random, &later, &error));
  commit = decode_commit (later);
  g_assert_null (usi_commit_lookup_delivery (commit, room->indices[mallory]));
  g_assert_null (usi_roster_lookup (commit->roster, room->indices[mallory]));
  g_assert_false (usi_member_group_process_commit (room->members[mallory], g_bytes_get_data (later, NULL),
                                                   g_bytes_get_size (later), &outcome, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_MEMBER);
  g_assert_cmpint (outcome, ==, 42);
  g_assert_true (usi_member_group_get_epoch (room->members[mallory]) == frozen);
  g_clear_error (&error);

  /* It cannot even ask for a new leaf key to be sealed to. */
  g_assert_null (usi_member_group_create_leaf_update (room->members[mallory], room->random, 0, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_MEMBER);
  room_deliver (room, later);
}

static void
test_c8_partial_delivery (void)
{
  g_autoptr(Room) room = room_new ("C8 subset");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) genuine = NULL;
  g_autoptr(GBytes) forged = NULL;
  g_autoptr(UsiCommit) commit = NULL;
  guint alice, bob;

  alice = room_add (room, "Alice");
  bob = room_add (room, "Bob");
  g_assert_true (usi_owner_group_rotate (room->owner_group, room->random, &genuine, &error));

  /* The commit_secret reaches Alice only: every member refuses the epoch,
   * not only the one left out. */
  commit = decode_commit (genuine);
  g_assert_cmpuint (commit->deliveries->len, ==, 2);
  g_array_remove_index (commit->deliveries, 1);
  forged = resign_commit (commit, room->owner->identity, room->owner_group);
  assert_commit_refused (room->members[alice], forged, USI_PROTOCOL_ERROR_ROSTER_INVALID);
  assert_commit_refused (room->members[bob], forged, USI_PROTOCOL_ERROR_ROSTER_INVALID);
  room_deliver (room, genuine);
}

static void
test_c8_different_secrets (void)
{
  g_autoptr(Room) room = room_new ("C8 different");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) genuine = NULL;
  g_autoptr(GBytes) forged = NULL;
  g_autoptr(GBytes) bad_tag = NULL;
  g_autoptr(UsiCommit) commit = NULL;
  UsiCommitDelivery *delivery;
  guint8 header_hash[32], other_secret[32];
  guint alice, bob;

  alice = room_add (room, "Alice");
  bob = room_add (room, "Bob");
  g_assert_true (usi_owner_group_rotate (room->owner_group, room->random, &genuine, &error));

  /* Bob's delivery carries another commit_secret than Alice's. */
  commit = decode_commit (genuine);
  g_assert_true (usi_random_fill (room->random, other_secret, sizeof other_secret, &error));
  g_assert_true (usi_commit_compute_header_hash (commit, header_hash, &error));
  delivery = (UsiCommitDelivery *) usi_commit_lookup_delivery (commit, room->indices[bob]);
  g_assert_true (usi_commit_seal_delivery (commit, header_hash, delivery->index,
                                           room->people[bob]->leaf.node.leaf_key, other_secret,
                                           room->random, delivery, &error));
  g_bytes_unref (resign_commit (commit, room->owner->identity, room->owner_group));
  /* A dishonest owner confirms it with the keys Alice's secret gives. */
  retag_commit (commit, room->members[alice], &room->people[alice]->leaf);
  forged = usi_commit_encode (commit);
  assert_commit_refused (room->members[bob], forged, USI_PROTOCOL_ERROR_BAD_CONFIRMATION);
  apply_commit (room->members[alice], forged, USI_MEMBER_COMMIT_APPLIED);

  /* A confirmation tag that is not the owner's. */
  g_clear_pointer (&commit, usi_commit_free);
  commit = decode_commit (genuine);
  commit->confirmation_tag[5] ^= 0x10;
  bad_tag = usi_commit_encode (commit);
  assert_commit_refused (room->members[bob], bad_tag, USI_PROTOCOL_ERROR_BAD_CONFIRMATION);
  apply_commit (room->members[bob], genuine, USI_MEMBER_COMMIT_APPLIED);
}

static void
test_c9_joiner_cannot_read_earlier_epochs (void)
{
  g_autoptr(Room) room = room_new ("C9");
  g_autoptr(GError) error = NULL;
  UsiEpoch *before, *joined;
  guint8 key_before[32], nonce_before[12], key_after[32], nonce_after[12];
  guint8 export_before[32], export_after[32], export_alice[32];
  guint32 generation;
  guint alice, joiner;

  alice = room_add (room, "Alice");
  before = usi_epoch_ref (usi_member_group_get_epoch (room->members[alice]));

  joiner = room_add (room, "Joiner");
  joined = usi_member_group_get_epoch (room->members[joiner]);

  /* Joining made a new epoch; the joiner has no other. */
  g_assert_cmpuint (usi_epoch_get_number (joined), ==, usi_epoch_get_number (before) + 1);
  g_assert_null (usi_member_group_get_previous_epoch (room->members[joiner]));
  g_assert_null (usi_member_group_lookup_epoch (room->members[joiner], usi_epoch_get_number (before)));

  /* Nothing it holds is a secret of the earlier epoch. */
  g_assert_true (memcmp (usi_epoch_get_secrets (joined)->encryption_secret,
                         usi_epoch_get_secrets (before)->encryption_secret, 32) != 0);
  g_assert_true (memcmp (usi_epoch_get_secrets (joined)->exporter_secret,
                         usi_epoch_get_secrets (before)->exporter_secret, 32) != 0);
  g_assert_true (memcmp (usi_epoch_get_secrets (joined)->init_secret,
                         usi_epoch_get_secrets (before)->init_secret, 32) != 0);

  /* Alice's first message key of the earlier epoch is not the one the
   * joiner can compute for her, and the file exporter differs too. */
  g_assert_true (usi_mls_secret_tree_next_key (usi_epoch_get_secret_tree (before), USI_MLS_RATCHET_APPLICATION,
                                               room->indices[alice], &generation, key_before, nonce_before, &error));
  g_assert_cmpuint (generation, ==, 0);
  g_assert_true (usi_mls_secret_tree_get_key (usi_epoch_get_secret_tree (joined), USI_MLS_RATCHET_APPLICATION,
                                              room->indices[alice], 0, key_after, nonce_after, &error));
  g_assert_no_error (error);
  g_assert_true (memcmp (key_before, key_after, 32) != 0);
  g_assert_true (usi_epoch_export (before, "file", (const guint8 *) "id", 2, export_before, 32, &error));
  g_assert_true (usi_epoch_export (joined, "file", (const guint8 *) "id", 2, export_after, 32, &error));
  g_assert_true (usi_epoch_export (usi_member_group_get_epoch (room->members[alice]), "file",
                                   (const guint8 *) "id", 2, export_alice, 32, &error));
  g_assert_true (memcmp (export_before, export_after, 32) != 0);
  g_assert_cmpmem (export_after, 32, export_alice, 32);
  usi_epoch_unref (before);
}

static void
test_c10_leaf_update_heals (void)
{
  g_autoptr(Room) room = room_new ("C10");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) update = NULL;
  g_autoptr(GBytes) commit_bytes = NULL;
  g_autoptr(GBytes) rotate = NULL;
  g_autoptr(UsiCommit) commit = NULL;
  g_auto(UsiLeafSecret) stolen = { 0 };
  guint8 header_hash[32], opened[32];
  guint alice;

  alice = room_add (room, "Alice");
  room_add (room, "Bob");

  /* An attacker copied Alice's leaf private key. */
  stolen = room->people[alice]->leaf;

  update = usi_member_group_create_leaf_update (room->members[alice], room->random, 1700000005000, &error);
  g_assert_no_error (error);
  g_assert_true (usi_owner_group_apply_leaf_update (room->owner_group, g_bytes_get_data (update, NULL),
                                                    g_bytes_get_size (update), room->random, &commit_bytes, &error));
  g_assert_no_error (error);

  /* The commit seals to the new leaf key: the stolen one opens nothing. */
  commit = decode_commit (commit_bytes);
  g_assert_cmpint (commit->reason, ==, USI_COMMIT_REASON_UPDATE);
  g_assert_cmpuint (commit_entry (commit, room->indices[alice])->leaf.sequence, ==, 2);
  g_assert_true (memcmp (commit_entry (commit, room->indices[alice])->leaf.leaf_key, stolen.node.leaf_key, 32) != 0);
  g_assert_true (usi_commit_compute_header_hash (commit, header_hash, &error));
  g_assert_false (usi_commit_open_delivery (commit, header_hash,
                                            usi_commit_lookup_delivery (commit, room->indices[alice]),
                                            stolen.private_key, opened, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
  g_clear_error (&error);

  room_deliver (room, commit_bytes);
  assert_room_agrees (room);
  /* Alice moved to the new key and holds no other. */
  g_assert_cmpuint (usi_member_group_get_leaf_node (room->members[alice])->sequence, ==, 2);
  g_assert_cmpuint (usi_member_group_get_n_pending_updates (room->members[alice]), ==, 0);

  /* The same update again is refused: the member may have dropped that key. */
  g_assert_false (usi_owner_group_apply_leaf_update (room->owner_group, g_bytes_get_data (update, NULL),
                                                     g_bytes_get_size (update), room->random, &rotate, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DUPLICATE);
  g_clear_error (&error);

  /* Later commits seal to the new key too. */
  g_assert_true (usi_owner_group_rotate (room->owner_group, room->random, &rotate, &error));
  room_deliver (room, rotate);
  assert_room_agrees (room);
}

static void
test_c10_pending_updates (void)
{
  g_autoptr(Room) room = room_new ("C10 pending");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) first = NULL;
  g_autoptr(GBytes) second = NULL;
  g_autoptr(GBytes) rotate = NULL;
  g_autoptr(GBytes) commit = NULL;
  g_autoptr(GBytes) late = NULL;
  guint alice;

  alice = room_add (room, "Alice");
  first = usi_member_group_create_leaf_update (room->members[alice], room->random, 1, &error);
  second = usi_member_group_create_leaf_update (room->members[alice], room->random, 2, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (usi_member_group_get_n_pending_updates (room->members[alice]), ==, 2);

  /* A commit made before the owner saw any update still opens with the
   * current key, which Alice still has. */
  g_assert_true (usi_owner_group_rotate (room->owner_group, room->random, &rotate, &error));
  room_deliver (room, rotate);
  g_assert_cmpuint (usi_member_group_get_n_pending_updates (room->members[alice]), ==, 2);

  /* The owner applies the newer one (the first got lost): both old keys go. */
  g_assert_true (usi_owner_group_apply_leaf_update (room->owner_group, g_bytes_get_data (second, NULL),
                                                    g_bytes_get_size (second), room->random, &commit, &error));
  room_deliver (room, commit);
  assert_room_agrees (room);
  g_assert_cmpuint (usi_member_group_get_leaf_node (room->members[alice])->sequence, ==, 3);
  g_assert_cmpuint (usi_member_group_get_n_pending_updates (room->members[alice]), ==, 0);

  /* The lost one arriving late is older than the current key. */
  g_assert_false (usi_owner_group_apply_leaf_update (room->owner_group, g_bytes_get_data (first, NULL),
                                                     g_bytes_get_size (first), room->random, &late, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DUPLICATE);
  g_assert_null (late);
  g_clear_error (&error);

  /* At most USI_MEMBER_MAX_PENDING_UPDATES wait at once. */
  for (guint i = 0; i < USI_MEMBER_MAX_PENDING_UPDATES; i++)
    {
      g_autoptr(GBytes) more = usi_member_group_create_leaf_update (room->members[alice], room->random, 3, &error);
      g_assert_no_error (error);
    }
  g_assert_null (usi_member_group_create_leaf_update (room->members[alice], room->random, 3, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_ALLOWED);
}

static void
test_leaf_update_refusals (void)
{
  g_autoptr(Room) room = room_new ("leaf update refusals");
  g_autoptr(Room) other_room = room_new ("another room");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) update = NULL;
  g_autoptr(GBytes) forged = NULL;
  g_autoptr(GBytes) commit = NULL;
  UsiEpoch *before;
  UsiLeafUpdate decoded;
  guint alice, bob;

  alice = room_add (room, "Alice");
  bob = room_add (room, "Bob");
  room_add (other_room, "Alice elsewhere");
  update = usi_member_group_create_leaf_update (room->members[alice], room->random, 10, &error);
  g_assert_no_error (error);
  before = usi_owner_group_get_epoch (room->owner_group);

  /* Into another room. */
  g_assert_false (usi_owner_group_apply_leaf_update (other_room->owner_group, g_bytes_get_data (update, NULL),
                                                     g_bytes_get_size (update), room->random, &commit, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_ROOM);
  g_clear_error (&error);

  /* Bob re-signs Alice's update under Alice's index. */
  g_assert_true (usi_leaf_update_decode (g_bytes_get_data (update, NULL), g_bytes_get_size (update), &decoded, &error));
  decoded.sender_index = room->indices[bob];
  forged = usi_leaf_update_encode (&decoded);
  g_assert_false (usi_owner_group_apply_leaf_update (room->owner_group, g_bytes_get_data (forged, NULL),
                                                     g_bytes_get_size (forged), room->random, &commit, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_MEMBER);
  g_clear_error (&error);
  g_clear_pointer (&forged, g_bytes_unref);

  /* From a future epoch. */
  decoded.sender_index = room->indices[alice];
  decoded.epoch += 5;
  g_assert_true (usi_leaf_update_sign (&decoded, room->people[alice]->identity, &error));
  forged = usi_leaf_update_encode (&decoded);
  g_assert_false (usi_owner_group_apply_leaf_update (room->owner_group, g_bytes_get_data (forged, NULL),
                                                     g_bytes_get_size (forged), room->random, &commit, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_EPOCH_NOT_YET);
  g_clear_error (&error);

  /* Every single-bit change is refused. */
  for (gsize bit = 0; bit < g_bytes_get_size (update) * 8; bit++)
    {
      g_autofree guint8 *flipped = g_memdup2 (g_bytes_get_data (update, NULL), g_bytes_get_size (update));

      flipped[bit / 8] ^= 1 << (bit % 8);
      g_assert_false (usi_owner_group_apply_leaf_update (room->owner_group, flipped, g_bytes_get_size (update),
                                                         room->random, &commit, &error));
      g_assert_nonnull (error);
      g_clear_error (&error);
    }
  g_assert_true (usi_owner_group_get_epoch (room->owner_group) == before);
  g_assert_null (commit);

  g_assert_true (usi_owner_group_apply_leaf_update (room->owner_group, g_bytes_get_data (update, NULL),
                                                    g_bytes_get_size (update), room->random, &commit, &error));
  g_assert_no_error (error);
  room_deliver (room, commit);
  assert_room_agrees (room);
}

static void
test_c11_rotation_when_owner_returns (void)
{
  g_autoptr(Room) room = room_new ("C11");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) rotate = NULL;
  UsiEpoch *epoch;
  guint alice, bob;
  guint64 number;

  alice = room_add (room, "Alice");
  bob = room_add (room, "Bob");
  epoch = usi_member_group_get_epoch (room->members[alice]);
  number = usi_epoch_get_number (epoch);
  g_assert_cmpuint (usi_owner_group_get_group_info (room->owner_group)->config.rotate_after_messages, ==, 100);

  /* The owner is offline: Alice and Bob exchange 150 messages, well past
   * the interval; their ratchets keep going and each counts. */
  for (guint i = 0; i < 150; i++)
    {
      guint sender = i % 2 == 0 ? alice : bob, receiver = i % 2 == 0 ? bob : alice;
      UsiEpoch *sender_epoch = usi_member_group_get_epoch (room->members[sender]);
      UsiEpoch *receiver_epoch = usi_member_group_get_epoch (room->members[receiver]);
      guint8 key[32], nonce[12], received_key[32], received_nonce[12];
      guint32 generation;

      g_assert_true (usi_mls_secret_tree_next_key (usi_epoch_get_secret_tree (sender_epoch), USI_MLS_RATCHET_APPLICATION,
                                                   room->indices[sender], &generation, key, nonce, &error));
      g_assert_true (usi_mls_secret_tree_get_key (usi_epoch_get_secret_tree (receiver_epoch), USI_MLS_RATCHET_APPLICATION,
                                                  room->indices[sender], generation, received_key, received_nonce, &error));
      g_assert_no_error (error);
      g_assert_cmpmem (key, 32, received_key, 32);

      g_assert_cmpint (usi_member_group_note_message (room->members[alice], number, room->indices[sender]), ==, i + 1 >= 100);
      g_assert_cmpint (usi_member_group_note_message (room->members[bob], number, room->indices[sender]), ==, i + 1 >= 100);
    }
  g_assert_true (usi_member_group_is_rotation_pending (room->members[alice]));

  /* Back online, the owner reads the history: due at the 100th. */
  for (guint i = 0; i < 150; i++)
    g_assert_cmpint (usi_owner_group_note_message (room->owner_group, number, room->indices[i % 2 == 0 ? alice : bob]),
                     ==, i + 1 >= 100);
  g_assert_cmpuint (usi_owner_group_get_message_count (room->owner_group), ==, 150);

  g_assert_true (usi_owner_group_rotate (room->owner_group, room->random, &rotate, &error));
  room_deliver (room, rotate);
  assert_room_agrees (room);
  g_assert_false (usi_owner_group_is_rotation_due (room->owner_group));
  g_assert_false (usi_member_group_is_rotation_pending (room->members[alice]));

  /* In-flight messages of the old epoch do not count against the new one. */
  g_assert_false (usi_owner_group_note_message (room->owner_group, number, room->indices[alice]));
  g_assert_cmpuint (usi_owner_group_get_message_count (room->owner_group), ==, 0);
}

static void
test_rotation_interval_per_room (void)
{
  g_autoptr(Room) room = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) rotate = NULL;
  UsiRoomConfig config;
  guint alice;

  usi_room_config_init_default (&config);
  config.rotate_after_messages = 3;
  room = room_new_full ("interval", &config, NULL);
  alice = room_add (room, "Alice");

  g_assert_false (usi_owner_group_note_message (room->owner_group, 1, 1));
  g_assert_false (usi_owner_group_note_message (room->owner_group, 1, 0));
  g_assert_true (usi_owner_group_note_message (room->owner_group, 1, 1));

  /* A new interval takes effect at once for the owner and reaches the
   * members with the next commit. */
  g_assert_true (usi_owner_group_set_rotate_after (room->owner_group, 5, &error));
  g_assert_false (usi_owner_group_is_rotation_due (room->owner_group));
  g_assert_true (usi_owner_group_rotate (room->owner_group, room->random, &rotate, &error));
  room_deliver (room, rotate);
  g_assert_cmpuint (usi_member_group_get_group_info (room->members[alice])->config.rotate_after_messages, ==, 5);
}

/* Commits, bit by bit ---------------------------------------------------- */

static void
test_commit_bit_flips_refused (void)
{
  g_autoptr(Room) room = room_new ("commit flips");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) genuine = NULL;
  gsize length;
  guint alice;

  alice = room_add (room, "Al");
  g_assert_true (usi_owner_group_rotate (room->owner_group, room->random, &genuine, &error));
  length = g_bytes_get_size (genuine);

  for (gsize bit = 0; bit < length * 8; bit++)
    {
      g_autofree guint8 *flipped = g_memdup2 (g_bytes_get_data (genuine, NULL), length);
      g_autoptr(GBytes) altered = NULL;

      flipped[bit / 8] ^= 1 << (bit % 8);
      altered = g_bytes_new_take (g_steal_pointer (&flipped), length);
      {
        UsiEpoch *before = usi_member_group_get_epoch (room->members[alice]);
        UsiMemberCommitOutcome outcome;

        g_assert_false (usi_member_group_process_commit (room->members[alice], g_bytes_get_data (altered, NULL),
                                                         length, &outcome, &error));
        g_assert_nonnull (error);
        g_assert_true (error->domain == USI_PROTOCOL_ERROR);
        g_clear_error (&error);
        g_assert_true (usi_member_group_get_epoch (room->members[alice]) == before);
      }
    }

  apply_commit (room->members[alice], genuine, USI_MEMBER_COMMIT_APPLIED);
  assert_room_agrees (room);
}

/* J8 --------------------------------------------------------------------- */

typedef struct
{
  Room   *room;
  Person *joiner;
  GBytes *welcome;
  GBytes *commit;
  guint32 index;
} JoinFixture;

static void
join_fixture_set_up (JoinFixture   *fixture,
                     gconstpointer  data)
{
  g_autoptr(GError) error = NULL;

  fixture->room = room_new ((const char *) data);
  room_add (fixture->room, "Alice");
  fixture->joiner = person_new (fixture->room->random, "Joiner");
  g_assert_true (usi_owner_group_add_member (fixture->room->owner_group, &fixture->joiner->leaf.node, "Joiner",
                                             fixture->room->random, &fixture->index, &fixture->commit,
                                             &fixture->welcome, &error));
  g_assert_no_error (error);
}

static void
join_fixture_tear_down (JoinFixture   *fixture,
                        gconstpointer  data)
{
  g_bytes_unref (fixture->welcome);
  g_bytes_unref (fixture->commit);
  person_free (fixture->joiner);
  room_free (fixture->room);
}

static void
assert_welcome_refused (JoinFixture  *fixture,
                        GBytes       *welcome,
                        const guint8 *owner_key,
                        Person       *joiner,
                        int           code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiMemberGroup) member = NULL;

  member = usi_member_group_new_from_welcome (g_bytes_get_data (welcome, NULL), g_bytes_get_size (welcome),
                                              fixture->room->room_id, owner_key, joiner->identity, &joiner->leaf,
                                              NULL, &error);
  g_assert_error (error, USI_PROTOCOL_ERROR, code);
  g_assert_null (member);
}

static GBytes *
resign_welcome (UsiWelcome  *welcome,
                UsiIdentity *identity)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (usi_welcome_sign (welcome, identity, &error));
  g_assert_no_error (error);
  return usi_welcome_encode (welcome);
}

static UsiWelcome *
decode_welcome (GBytes *body)
{
  g_autoptr(GError) error = NULL;
  UsiWelcome *welcome = usi_welcome_decode (g_bytes_get_data (body, NULL), g_bytes_get_size (body), &error);

  g_assert_no_error (error);
  return welcome;
}

static void
test_j8_welcome_round_trip (JoinFixture   *fixture,
                            gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiMemberGroup) member = NULL;
  UsiMemberCommitOutcome outcome;

  member = usi_member_group_new_from_welcome (g_bytes_get_data (fixture->welcome, NULL),
                                              g_bytes_get_size (fixture->welcome), fixture->room->room_id,
                                              usi_identity_get_public_key (fixture->room->owner->identity),
                                              fixture->joiner->identity, &fixture->joiner->leaf, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (usi_member_group_get_own_index (member), ==, fixture->index);
  assert_same_epoch (usi_member_group_get_epoch (member), usi_owner_group_get_epoch (fixture->room->owner_group));

  /* The commit that added it is already applied. */
  g_assert_false (usi_member_group_process_commit (member, g_bytes_get_data (fixture->commit, NULL),
                                                   g_bytes_get_size (fixture->commit), &outcome, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DUPLICATE);
}

static void
test_j8_welcome_not_signed_by_owner (JoinFixture   *fixture,
                                     gconstpointer  data)
{
  g_autoptr(UsiWelcome) welcome = decode_welcome (fixture->welcome);
  g_autoptr(GBytes) forged = NULL;
  g_autoptr(Person) impostor = person_new (fixture->room->random, "Impostor");

  /* Signed by someone else. */
  forged = resign_welcome (welcome, impostor->identity);
  assert_welcome_refused (fixture, forged, usi_identity_get_public_key (fixture->room->owner->identity),
                          fixture->joiner, USI_PROTOCOL_ERROR_BAD_SIGNATURE);
  /* The genuine welcome, checked against another owner than the invite's. */
  assert_welcome_refused (fixture, fixture->welcome, usi_identity_get_public_key (impostor->identity),
                          fixture->joiner, USI_PROTOCOL_ERROR_BAD_SIGNATURE);
}

static void
test_j8_welcome_sealed_to_another_key (JoinFixture   *fixture,
                                       gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiWelcome) welcome = decode_welcome (fixture->welcome);
  g_autoptr(GBytes) forged = NULL;
  g_autoptr(Person) other = person_new (fixture->room->random, "Other");
  guint8 secret[32] = { 1 };

  /* The roster lists the joiner, but the secret is sealed to another key. */
  g_assert_true (usi_welcome_seal (welcome, other->leaf.node.leaf_key, secret, fixture->room->random, &error));
  forged = resign_welcome (welcome, fixture->room->owner->identity);
  assert_welcome_refused (fixture, forged, usi_identity_get_public_key (fixture->room->owner->identity),
                          fixture->joiner, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);

  /* A welcome meant for someone else. */
  assert_welcome_refused (fixture, fixture->welcome, usi_identity_get_public_key (fixture->room->owner->identity),
                          other, USI_PROTOCOL_ERROR_NOT_MEMBER);
}

static void
test_j8_welcome_modified (JoinFixture   *fixture,
                          gconstpointer  data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiWelcome) welcome = decode_welcome (fixture->welcome);
  g_autoptr(GBytes) forged = NULL;
  const guint8 *owner_key = usi_identity_get_public_key (fixture->room->owner->identity);
  gsize length = g_bytes_get_size (fixture->welcome);
  guint8 joiner_secret[32];

  /* Another room's id, even when the owner signs it. */
  welcome->group_info->room_id[0] ^= 1;
  forged = resign_welcome (welcome, fixture->room->owner->identity);
  assert_welcome_refused (fixture, forged, owner_key, fixture->joiner, USI_PROTOCOL_ERROR_WRONG_ROOM);
  g_clear_pointer (&forged, g_bytes_unref);
  welcome->group_info->room_id[0] ^= 1;

  /* A roster without the owner in its place. */
  usi_roster_entry_free (g_ptr_array_steal_index (welcome->group_info->roster, 0));
  forged = resign_welcome (welcome, fixture->room->owner->identity);
  assert_welcome_refused (fixture, forged, owner_key, fixture->joiner, USI_PROTOCOL_ERROR_ROSTER_INVALID);
  g_clear_pointer (&forged, g_bytes_unref);

  /* A wrong transcript hash, sealed and signed by the owner: the keys do not
   * confirm. */
  g_clear_pointer (&welcome, usi_welcome_free);
  welcome = decode_welcome (fixture->welcome);
  g_assert_true (usi_welcome_open (welcome, fixture->joiner->leaf.private_key, joiner_secret, &error));
  welcome->group_info->confirmed_transcript_hash[0] ^= 1;
  g_assert_true (usi_welcome_seal (welcome, fixture->joiner->leaf.node.leaf_key, joiner_secret,
                                   fixture->room->random, &error));
  forged = resign_welcome (welcome, fixture->room->owner->identity);
  assert_welcome_refused (fixture, forged, owner_key, fixture->joiner, USI_PROTOCOL_ERROR_BAD_CONFIRMATION);

  /* Every single-bit change of the genuine welcome. */
  for (gsize bit = 0; bit < length * 8; bit++)
    {
      g_autofree guint8 *flipped = g_memdup2 (g_bytes_get_data (fixture->welcome, NULL), length);
      g_autoptr(UsiMemberGroup) member = NULL;

      flipped[bit / 8] ^= 1 << (bit % 8);
      member = usi_member_group_new_from_welcome (flipped, length, fixture->room->room_id, owner_key,
                                                  fixture->joiner->identity, &fixture->joiner->leaf, NULL, &error);
      g_assert_null (member);
      g_assert_nonnull (error);
      g_clear_error (&error);
    }
}

/* Size and speed --------------------------------------------------------- */

static void
test_hundred_member_room (void)
{
  g_autoptr(Room) room = room_new ("hundred");
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) commit = NULL;
  g_autoptr(GBytes) welcome = NULL;
  g_autoptr(Person) last = NULL;
  g_autoptr(UsiMemberGroup) member = NULL;
  UsiMemberCommitOutcome outcome;
  gint64 start, created, processed;

  /* 98 members the owner adds without following them, then one that does. */
  for (guint i = 0; i < 98; i++)
    {
      g_autoptr(Person) person = person_new (room->random, "Member");
      g_autoptr(GBytes) add = NULL;
      g_autoptr(GBytes) add_welcome = NULL;

      g_assert_true (usi_owner_group_add_member (room->owner_group, &person->leaf.node, "Member", room->random,
                                                 NULL, &add, &add_welcome, &error));
      g_assert_no_error (error);
    }
  last = person_new (room->random, "Last");
  g_assert_true (usi_owner_group_add_member (room->owner_group, &last->leaf.node, "Last", room->random,
                                             NULL, &commit, &welcome, &error));
  member = usi_member_group_new_from_welcome (g_bytes_get_data (welcome, NULL), g_bytes_get_size (welcome),
                                              room->room_id, usi_identity_get_public_key (room->owner->identity),
                                              last->identity, &last->leaf, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (usi_epoch_get_roster (usi_member_group_get_epoch (member))->len, ==, 100);
  g_clear_pointer (&commit, g_bytes_unref);

  start = g_get_monotonic_time ();
  g_assert_true (usi_owner_group_rotate (room->owner_group, room->random, &commit, &error));
  created = g_get_monotonic_time ();
  g_assert_true (usi_member_group_process_commit (member, g_bytes_get_data (commit, NULL), g_bytes_get_size (commit),
                                                  &outcome, &error));
  processed = g_get_monotonic_time ();
  g_assert_no_error (error);
  assert_same_epoch (usi_member_group_get_epoch (member), usi_owner_group_get_epoch (room->owner_group));
  g_assert_cmpuint (g_bytes_get_size (commit), <=, usi_frame_get_max_body_length (USI_FRAME_COMMIT));

  g_test_message ("100-member commit: %u bytes, created in %.2f ms, processed in %.2f ms",
                  (guint) g_bytes_get_size (commit), (created - start) / 1000.0, (processed - created) / 1000.0);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/protocol/group/create-join-and-agree", test_create_join_and_agree);
  g_test_add_func ("/protocol/group/remove-rotate-update-round-trip", test_remove_rotate_update_round_trip);
  g_test_add_func ("/protocol/group/owner-refusals", test_owner_refusals);
  g_test_add_func ("/protocol/group/password-room", test_password_room);
  g_test_add_func ("/protocol/group/genesis-commit", test_genesis_commit);
  g_test_add_func ("/protocol/group/C1-commit-signed-by-member-rejected", test_c1_commit_signed_by_member);
  g_test_add_func ("/protocol/group/C2-wrong-epoch-and-replay-rejected", test_c2_wrong_epoch_and_replay);
  g_test_add_func ("/protocol/group/C3-two-commits-for-one-epoch-detected", test_c3_two_commits_for_one_epoch);
  g_test_add_func ("/protocol/group/C4-duplicate-identity-rejected", test_c4_duplicate_identity);
  g_test_add_func ("/protocol/group/C4-duplicate-leaf-key-rejected", test_c4_duplicate_leaf_key);
  g_test_add_func ("/protocol/group/C4-own-leaf-changed-without-update-rejected", test_c4_own_leaf_changed_without_update);
  g_test_add_func ("/protocol/group/C4-roster-change-must-match-reason", test_c4_roster_change_must_match_reason);
  g_test_add_func ("/protocol/group/C5-removed-member-cannot-derive-new-epoch", test_c5_removed_member_cannot_derive);
  g_test_add_func ("/protocol/group/C6-removed-index-absent-from-new-roster", test_c6_removed_index_absent);
  g_test_add_func ("/protocol/group/C7-removed-member-follows-no-later-commit", test_c7_removed_member_keeps_receiving);
  g_test_add_func ("/protocol/group/C8-partial-delivery-rejected", test_c8_partial_delivery);
  g_test_add_func ("/protocol/group/C8-different-secrets-fail-confirmation", test_c8_different_secrets);
  g_test_add_func ("/protocol/group/C9-joiner-cannot-read-earlier-epochs", test_c9_joiner_cannot_read_earlier_epochs);
  g_test_add_func ("/protocol/group/C10-leaf-update-heals", test_c10_leaf_update_heals);
  g_test_add_func ("/protocol/group/C10-pending-updates-kept-until-committed", test_c10_pending_updates);
  g_test_add_func ("/protocol/group/leaf-update-refusals", test_leaf_update_refusals);
  g_test_add_func ("/protocol/group/C11-rotation-when-owner-returns", test_c11_rotation_when_owner_returns);
  g_test_add_func ("/protocol/group/rotation-interval-per-room", test_rotation_interval_per_room);
  g_test_add_func ("/protocol/group/commit-bit-flips-refused", test_commit_bit_flips_refused);
  g_test_add ("/protocol/group/J8-welcome-round-trip", JoinFixture, "J8 round trip",
              join_fixture_set_up, test_j8_welcome_round_trip, join_fixture_tear_down);
  g_test_add ("/protocol/group/J8-welcome-not-signed-by-owner-rejected", JoinFixture, "J8 owner",
              join_fixture_set_up, test_j8_welcome_not_signed_by_owner, join_fixture_tear_down);
  g_test_add ("/protocol/group/J8-welcome-sealed-to-another-key-rejected", JoinFixture, "J8 sealed",
              join_fixture_set_up, test_j8_welcome_sealed_to_another_key, join_fixture_tear_down);
  g_test_add ("/protocol/group/J8-welcome-modified-rejected", JoinFixture, "J8 modified",
              join_fixture_set_up, test_j8_welcome_modified, join_fixture_tear_down);
  g_test_add_func ("/protocol/group/hundred-member-room", test_hundred_member_room);

  return g_test_run ();
}
