/* SPDX-License-Identifier: GPL-3.0-or-later */

#include "config.h"

#include <string.h>

#include "crypto/usi-digest.h"
#include "crypto/usi-hpke.h"
#include "crypto/usi-mls-labels.h"
#include "crypto/usi-random.h"
#include "crypto/usi-scrypt.h"
#include "protocol/usi-frame.h"
#include "protocol/usi-join.h"
#include "protocol/usi-protocol-error.h"
#include "protocol/usi-wire.h"

#define NOW_MS     G_GUINT64_CONSTANT (1700000000000)
#define EXPIRES_MS (NOW_MS + G_GUINT64_CONSTANT (7) * 24 * 3600 * 1000)
#define RELAY      "relay.example.org:7447"

/* An owner with a room, a joiner, and the relay's own keys. */
typedef struct
{
  UsiRandom     *random;
  UsiIdentity   *owner;
  UsiLeafSecret  owner_leaf;
  UsiIdentity   *joiner;
  UsiLeafSecret  joiner_leaf;
  UsiIdentity   *other;
  UsiLeafSecret  other_leaf;
  guint8         room_id[USI_ROOM_ID_LENGTH];
  guint8         relay_pin[USI_INVITE_RELAY_PIN_LENGTH];
} World;

static void
world_init (World      *world,
            const char *seed)
{
  g_autoptr(GError) error = NULL;

  world->random = usi_random_new_deterministic ((const guint8 *) seed, strlen (seed));
  world->owner = usi_identity_generate (world->random, &error);
  world->joiner = usi_identity_generate (world->random, &error);
  world->other = usi_identity_generate (world->random, &error);
  g_assert_no_error (error);
  g_assert_true (usi_leaf_secret_generate (world->random, world->owner, 1, NOW_MS, &world->owner_leaf, &error));
  g_assert_true (usi_leaf_secret_generate (world->random, world->joiner, 1, NOW_MS, &world->joiner_leaf, &error));
  g_assert_true (usi_leaf_secret_generate (world->random, world->other, 1, NOW_MS, &world->other_leaf, &error));
  g_assert_true (usi_random_fill (world->random, world->room_id, sizeof world->room_id, &error));
  g_assert_true (usi_random_fill (world->random, world->relay_pin, sizeof world->relay_pin, &error));
}

static void
world_clear (World *world)
{
  usi_leaf_secret_clear (&world->owner_leaf);
  usi_leaf_secret_clear (&world->joiner_leaf);
  usi_leaf_secret_clear (&world->other_leaf);
  g_clear_pointer (&world->owner, usi_identity_free);
  g_clear_pointer (&world->joiner, usi_identity_free);
  g_clear_pointer (&world->other, usi_identity_free);
  g_clear_pointer (&world->random, usi_random_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (World, world_clear)

static UsiInvite *
world_invite (World          *world,
              UsiInviteFlags  flags)
{
  g_autoptr(GError) error = NULL;
  UsiInvite *invite = usi_invite_new (world->random, flags, RELAY, world->relay_pin, world->room_id,
                                      &world->owner_leaf.node, EXPIRES_MS, &error);

  g_assert_no_error (error);
  return invite;
}

/* The joiner's copy: what it gets by parsing the shared text. */
static UsiInvite *
joiner_copy (UsiInvite *invite)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *uri = usi_invite_to_uri (invite);
  UsiInvite *copy = usi_invite_parse (uri, NOW_MS, &error);

  g_assert_no_error (error);
  return copy;
}

static UsiInviteBook *
world_book (World        *world,
            UsiInvite    *invite,
            const guint8 *password_key)
{
  g_autoptr(GError) error = NULL;
  UsiInviteBook *book = usi_invite_book_new (world->room_id, usi_identity_get_public_key (world->owner));

  usi_invite_book_set_password_key (book, password_key);
  if (invite != NULL)
    {
      g_assert_true (usi_invite_book_add (book, invite, &error));
      g_assert_no_error (error);
    }
  return book;
}

static UsiJoinRequest *
world_request (World        *world,
               UsiInvite    *invite,
               const char   *name,
               const guint8 *password_key)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiInvite) copy = joiner_copy (invite);
  UsiJoinRequest *request = usi_join_request_new (world->random, copy, world->joiner, &world->joiner_leaf,
                                                  name, password_key, &error);

  g_assert_no_error (error);
  g_assert_nonnull (request);
  return request;
}

/* What the owner receives: the relay forwards bytes, the owner decodes. */
static UsiJoinRequest *
relay_forward (UsiJoinRequest *request)
{
  g_autoptr(GBytes) body = usi_join_request_encode (request);
  g_autoptr(GError) error = NULL;
  UsiJoinRequest *received = usi_join_request_decode (g_bytes_get_data (body, NULL), g_bytes_get_size (body), &error);

  g_assert_no_error (error);
  g_assert_false (usi_join_request_is_authenticated (received));
  return received;
}

static void
assert_open_fails (UsiInviteBook    *book,
                   UsiJoinRequest   *received,
                   World            *world,
                   guint64           now_ms,
                   UsiProtocolError  code)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiJoiner) joiner = usi_invite_book_open_request (book, received, &world->owner_leaf, 1, now_ms, &error);

  g_assert_null (joiner);
  g_assert_error (error, USI_PROTOCOL_ERROR, (int) code);
}

/* Room passwords: scrypt is slow on purpose, so each key is derived once. */
static const guint8 *
password_key_for (const char *password,
                  World      *world)
{
  static GHashTable *keys;
  g_autofree char *id = g_strdup_printf ("%s/%02x%02x%02x%02x", password, world->room_id[0],
                                         world->room_id[1], world->room_id[2], world->room_id[3]);
  guint8 *key;

  if (keys == NULL)
    keys = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  key = g_hash_table_lookup (keys, id);
  if (key == NULL)
    {
      g_autoptr(GError) error = NULL;

      key = g_malloc (USI_JOIN_PASSWORD_KEY_LENGTH);
      g_assert_true (usi_join_password_key_derive (password, world->room_id, key, &error));
      g_assert_no_error (error);
      g_hash_table_insert (keys, g_steal_pointer (&id), key);
    }
  return key;
}

/* A JoinRequest built by hand from docs/protocol.md §5, independently of
 * usi-join.c, with every part under the test's control. */
typedef struct
{
  const guint8        *psk;              /* NULL: the invite's */
  const UsiLeafSecret *sender;           /* HPKE sender; NULL: the joiner's leaf */
  const UsiLeafNode   *leaf;             /* in the content; NULL: the sender's */
  UsiIdentity         *signer;           /* NULL: the joiner */
  const char          *name;             /* raw bytes; NULL: "Joiner" */
  const guint8        *password_key;     /* NULL: no proof */
  guint8               padding;          /* the padding bytes */
} Forgery;

static GBytes *
seal_by_hand (World          *world,
              UsiInvite      *invite,
              const Forgery  *f)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GByteArray) info = g_byte_array_new ();
  g_autoptr(GByteArray) content = g_byte_array_new ();
  g_autoptr(GByteArray) tbs = g_byte_array_new ();
  g_autoptr(GByteArray) body = g_byte_array_new ();
  g_autoptr(UsiHpkeContext) context = NULL;
  const UsiLeafSecret *sender = f->sender != NULL ? f->sender : &world->joiner_leaf;
  const UsiLeafNode *leaf = f->leaf != NULL ? f->leaf : &sender->node;
  UsiHpkeParameters parameters = { 0 };
  guint8 enc[32], hash[32], signature[64];
  guint8 plaintext[USI_JOIN_REQUEST_PLAINTEXT_LENGTH];
  guint8 ciphertext[USI_JOIN_REQUEST_PLAINTEXT_LENGTH + 16];

  g_byte_array_append (info, (const guint8 *) "usi 1.0 join request", 20);
  g_byte_array_append (info, usi_invite_get_room_id (invite), 16);
  g_byte_array_append (info, usi_invite_get_owner_identity_key (invite), 32);
  parameters.mode = USI_HPKE_MODE_AUTH_PSK;
  parameters.info = info->data;
  parameters.info_length = info->len;
  parameters.psk = f->psk != NULL ? f->psk : usi_invite_get_psk (invite);
  parameters.psk_length = 32;
  parameters.psk_id = usi_invite_get_id (invite);
  parameters.psk_id_length = 16;
  context = usi_hpke_setup_sender (&parameters, world->random, usi_invite_get_owner_leaf (invite)->leaf_key,
                                   sender->private_key, enc, &error);
  g_assert_no_error (error);

  usi_leaf_node_write (leaf, content);
  usi_wire_write_string (content, f->name != NULL ? f->name : "Joiner");
  usi_wire_write_bool (content, f->password_key != NULL);
  if (f->password_key != NULL)
    {
      g_autoptr(GByteArray) input = g_byte_array_new ();
      guint8 proof[32];

      g_byte_array_append (input, (const guint8 *) "usi 1.0 join password proof", 27);
      g_byte_array_append (input, enc, 32);
      g_assert_true (usi_hmac (USI_HASH_SHA256, f->password_key, 32, input->data, input->len, proof, &error));
      g_byte_array_append (content, proof, 32);
    }

  g_assert_true (usi_hash (USI_HASH_SHA256, content->data, content->len, hash, &error));
  g_byte_array_append (tbs, usi_invite_get_room_id (invite), 16);
  g_byte_array_append (tbs, usi_invite_get_id (invite), 16);
  g_byte_array_append (tbs, usi_invite_get_owner_identity_key (invite), 32);
  g_byte_array_append (tbs, enc, 32);
  g_byte_array_append (tbs, hash, 32);
  g_assert_true (usi_identity_sign (f->signer != NULL ? f->signer : world->joiner, "JoinRequestTBS",
                                    tbs->data, tbs->len, signature, &error));

  g_assert_cmpuint (content->len + 64, <=, sizeof plaintext);
  memset (plaintext, f->padding, sizeof plaintext);
  memcpy (plaintext, content->data, content->len);
  memcpy (plaintext + content->len, signature, 64);

  g_byte_array_append (body, usi_invite_get_room_id (invite), 16);
  g_byte_array_append (body, usi_invite_get_id (invite), 16);
  g_byte_array_append (body, enc, 32);
  g_byte_array_append (body, sender->node.leaf_key, 32);
  g_assert_true (usi_hpke_context_seal (context, body->data, body->len, plaintext, sizeof plaintext,
                                        ciphertext, &error));
  g_byte_array_append (body, ciphertext, sizeof ciphertext);

  return g_byte_array_free_to_bytes (g_steal_pointer (&body));
}

static gboolean
contains (GBytes       *haystack,
          const guint8 *needle,
          gsize         needle_length)
{
  gsize length;
  const guint8 *data = g_bytes_get_data (haystack, &length);

  for (gsize i = 0; i + needle_length <= length; i++)
    if (memcmp (data + i, needle, needle_length) == 0)
      return TRUE;
  return FALSE;
}

static UsiJoinRequest *
decode_bytes (GBytes *body)
{
  g_autoptr(GError) error = NULL;
  UsiJoinRequest *request = usi_join_request_decode (g_bytes_get_data (body, NULL), g_bytes_get_size (body), &error);

  g_assert_no_error (error);
  return request;
}

/* ------------------------------------------------------------------------- */

static void
test_round_trip (void)
{
  g_auto(World) world = { 0 };
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(UsiInviteBook) book = NULL;
  g_autoptr(UsiJoinRequest) request = NULL;
  g_autoptr(UsiJoinRequest) received = NULL;
  g_autoptr(UsiJoiner) joiner = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GBytes) frame = NULL;
  g_autoptr(GError) error = NULL;

  world_init (&world, "round trip");
  invite = world_invite (&world, USI_INVITE_FLAGS_NONE);
  book = world_book (&world, invite, NULL);
  g_assert_cmpint (usi_invite_book_get_state (book, usi_invite_get_id (invite)), ==, USI_INVITE_STATE_ISSUED);

  /* The joiner's name is normalized before it is sent. */
  request = world_request (&world, invite, "  Zoë   🙂 ", NULL);
  g_assert_true (usi_join_request_is_authenticated (request));
  body = usi_join_request_encode (request);
  g_assert_cmpuint (g_bytes_get_size (body), ==, USI_JOIN_REQUEST_LENGTH);
  frame = usi_frame_encode (USI_FRAME_JOIN_REQUEST, g_bytes_get_data (body, NULL), g_bytes_get_size (body), &error);
  g_assert_no_error (error);

  received = relay_forward (request);
  g_assert_cmpmem (usi_join_request_get_room_id (received), 16, world.room_id, 16);
  g_assert_cmpmem (usi_join_request_get_invite_id (received), 16, usi_invite_get_id (invite), 16);
  g_assert_cmpmem (usi_join_request_get_enc (received), 32, usi_join_request_get_enc (request), 32);
  g_assert_cmpmem (usi_join_request_get_joiner_leaf_key (received), 32, world.joiner_leaf.node.leaf_key, 32);
  /* Nothing of the invite PSK is in what the relay sees. */
  g_assert_false (contains (body, usi_invite_get_psk (invite), 8));

  joiner = usi_invite_book_open_request (book, received, &world.owner_leaf, 1, NOW_MS, &error);
  g_assert_no_error (error);
  g_assert_nonnull (joiner);
  g_assert_true (usi_join_request_is_authenticated (received));
  g_assert_cmpmem (usi_joiner_get_identity_key (joiner), 32, usi_identity_get_public_key (world.joiner), 32);
  g_assert_cmpmem (usi_joiner_get_leaf (joiner), sizeof (UsiLeafNode), &world.joiner_leaf.node, sizeof (UsiLeafNode));
  g_assert_cmpstr (usi_joiner_get_display_name (joiner), ==, "Zoë 🙂");
  g_assert_cmpmem (usi_joiner_get_invite_id (joiner), 16, usi_invite_get_id (invite), 16);
  g_assert_cmpint (usi_invite_book_get_state (book, usi_invite_get_id (invite)), ==, USI_INVITE_STATE_USED);
}

static void
test_hand_built_request_matches_spec (void)
{
  g_auto(World) world = { 0 };
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(UsiInviteBook) book = NULL;
  g_autoptr(UsiJoinRequest) received = NULL;
  g_autoptr(UsiJoiner) joiner = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GError) error = NULL;
  Forgery plain = { .name = "Joiner" };

  world_init (&world, "by hand");
  invite = world_invite (&world, USI_INVITE_FLAGS_NONE);
  book = world_book (&world, invite, NULL);
  body = seal_by_hand (&world, invite, &plain);
  received = decode_bytes (body);

  joiner = usi_invite_book_open_request (book, received, &world.owner_leaf, 1, NOW_MS, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (usi_joiner_get_display_name (joiner), ==, "Joiner");
}

static void
test_j2_wrong_invite_psk_fails (void)
{
  g_auto(World) world = { 0 };
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(UsiInviteBook) book = NULL;
  g_autoptr(UsiJoinRequest) request = NULL;
  g_autoptr(UsiJoinRequest) received = NULL;
  g_autoptr(UsiJoiner) joiner = NULL;
  g_autoptr(GError) error = NULL;
  guint8 wrong_psk[32];

  world_init (&world, "J2");
  invite = world_invite (&world, USI_INVITE_FLAGS_NONE);
  book = world_book (&world, invite, NULL);
  memcpy (wrong_psk, usi_invite_get_psk (invite), 32);
  wrong_psk[31] ^= 1;

  {
    Forgery forgery = { .psk = wrong_psk };
    g_autoptr(GBytes) body = seal_by_hand (&world, invite, &forgery);
    g_autoptr(UsiJoinRequest) forged = decode_bytes (body);

    assert_open_fails (book, forged, &world, NOW_MS, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
    g_assert_false (usi_join_request_is_authenticated (forged));
  }
  /* The attempt is counted; the invite still works for its holder. */
  g_assert_cmpuint (usi_invite_book_get_failed_opens (book, usi_invite_get_id (invite)), ==, 1);
  g_assert_cmpint (usi_invite_book_get_state (book, usi_invite_get_id (invite)), ==, USI_INVITE_STATE_ISSUED);

  request = world_request (&world, invite, "Joiner", NULL);
  received = relay_forward (request);
  joiner = usi_invite_book_open_request (book, received, &world.owner_leaf, 1, NOW_MS, &error);
  g_assert_no_error (error);
  g_assert_nonnull (joiner);
}

static void
test_j2_repeated_failures_burn_the_invite (void)
{
  g_auto(World) world = { 0 };
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(UsiInviteBook) book = NULL;
  g_autoptr(UsiJoinRequest) request = NULL;
  g_autoptr(UsiJoinRequest) received = NULL;
  guint8 wrong_psk[32] = { 0 };

  world_init (&world, "J2 burn");
  invite = world_invite (&world, USI_INVITE_FLAGS_NONE);
  book = world_book (&world, invite, NULL);

  for (guint i = 1; i <= USI_INVITE_BOOK_MAX_FAILED_OPENS; i++)
    {
      Forgery forgery = { .psk = wrong_psk };
      g_autoptr(GBytes) body = seal_by_hand (&world, invite, &forgery);
      g_autoptr(UsiJoinRequest) forged = decode_bytes (body);

      g_assert_cmpint (usi_invite_book_get_state (book, usi_invite_get_id (invite)), ==, USI_INVITE_STATE_ISSUED);
      assert_open_fails (book, forged, &world, NOW_MS, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
      g_assert_cmpuint (usi_invite_book_get_failed_opens (book, usi_invite_get_id (invite)), ==, i);
    }
  g_assert_cmpint (usi_invite_book_get_state (book, usi_invite_get_id (invite)), ==, USI_INVITE_STATE_BURNED);

  request = world_request (&world, invite, "Joiner", NULL);
  received = relay_forward (request);
  assert_open_fails (book, received, &world, NOW_MS, USI_PROTOCOL_ERROR_INVITE_USED);
}

static void
test_j3_unknown_invite_fails_closed (void)
{
  g_auto(World) world = { 0 };
  g_autoptr(UsiInvite) issued = NULL;
  g_autoptr(UsiInvite) never_issued = NULL;
  g_autoptr(UsiInviteBook) empty = NULL;
  g_autoptr(UsiInviteBook) book = NULL;
  g_autoptr(UsiJoinRequest) request = NULL;
  g_autoptr(UsiJoinRequest) received = NULL;

  world_init (&world, "J3");
  issued = world_invite (&world, USI_INVITE_FLAGS_NONE);
  /* Made with the owner's keys, even, but never recorded in the book. */
  never_issued = world_invite (&world, USI_INVITE_FLAGS_NONE);
  empty = world_book (&world, NULL, NULL);
  book = world_book (&world, issued, NULL);

  request = world_request (&world, never_issued, "Joiner", NULL);
  received = relay_forward (request);
  assert_open_fails (empty, received, &world, NOW_MS, USI_PROTOCOL_ERROR_INVITE_UNKNOWN);
  assert_open_fails (book, received, &world, NOW_MS, USI_PROTOCOL_ERROR_INVITE_UNKNOWN);
  g_assert_false (usi_join_request_is_authenticated (received));
  g_assert_cmpint (usi_invite_book_get_state (book, usi_invite_get_id (never_issued)), ==, USI_INVITE_STATE_UNKNOWN);
  g_assert_cmpint (usi_invite_book_get_state (book, usi_invite_get_id (issued)), ==, USI_INVITE_STATE_ISSUED);
  g_assert_cmpuint (usi_invite_book_get_failed_opens (book, usi_invite_get_id (issued)), ==, 0);

  /* A revoked invite is unknown too. */
  {
    g_autoptr(UsiJoinRequest) revoked_request = world_request (&world, issued, "Joiner", NULL);
    g_autoptr(UsiJoinRequest) revoked_received = relay_forward (revoked_request);

    g_assert_true (usi_invite_book_revoke (book, usi_invite_get_id (issued)));
    g_assert_false (usi_invite_book_revoke (book, usi_invite_get_id (issued)));
    assert_open_fails (book, revoked_received, &world, NOW_MS, USI_PROTOCOL_ERROR_INVITE_UNKNOWN);
  }
}

static void
test_wrong_room (void)
{
  g_auto(World) world = { 0 };
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(UsiInviteBook) book = NULL;
  g_autoptr(UsiInviteBook) other_room = NULL;
  g_autoptr(UsiJoinRequest) request = NULL;
  g_autoptr(UsiJoinRequest) received = NULL;
  guint8 other_room_id[16] = { 1 };

  world_init (&world, "wrong room");
  invite = world_invite (&world, USI_INVITE_FLAGS_NONE);
  book = world_book (&world, invite, NULL);
  other_room = usi_invite_book_new (other_room_id, usi_identity_get_public_key (world.owner));

  request = world_request (&world, invite, "Joiner", NULL);
  received = relay_forward (request);
  assert_open_fails (other_room, received, &world, NOW_MS, USI_PROTOCOL_ERROR_WRONG_ROOM);
  g_assert_cmpint (usi_invite_book_get_state (book, usi_invite_get_id (invite)), ==, USI_INVITE_STATE_ISSUED);
}

static void
test_j4_replay_and_second_use (void)
{
  g_auto(World) world = { 0 };
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(UsiInviteBook) book = NULL;
  g_autoptr(UsiJoinRequest) first = NULL;
  g_autoptr(UsiJoinRequest) received = NULL;
  g_autoptr(UsiJoinRequest) replayed = NULL;
  g_autoptr(UsiJoiner) joiner = NULL;
  g_autoptr(GError) error = NULL;

  world_init (&world, "J4");
  invite = world_invite (&world, USI_INVITE_FLAGS_NONE);
  book = world_book (&world, invite, NULL);

  first = world_request (&world, invite, "Joiner", NULL);
  received = relay_forward (first);
  joiner = usi_invite_book_open_request (book, received, &world.owner_leaf, 1, NOW_MS, &error);
  g_assert_no_error (error);

  /* The same request again (same enc): a replay, dropped without answer. */
  replayed = relay_forward (first);
  assert_open_fails (book, replayed, &world, NOW_MS, USI_PROTOCOL_ERROR_DUPLICATE);
  g_assert_false (usi_join_request_is_authenticated (replayed));
  g_assert_cmpint (usi_invite_book_get_state (book, usi_invite_get_id (invite)), ==, USI_INVITE_STATE_USED);

  /* A second use by someone else holding the invite: refused, and since
   * it proves the secret, answered with a refusal saying why. */
  {
    g_autoptr(UsiInvite) copy = joiner_copy (invite);
    g_autoptr(UsiJoinRequest) second = usi_join_request_new (world.random, copy, world.other, &world.other_leaf,
                                                             "Other", NULL, &error);
    g_autoptr(UsiJoinRequest) second_received = relay_forward (second);
    g_autoptr(GBytes) refusal = NULL;
    UsiJoinRefusalReason reason = 0;
    g_autoptr(GError) open_error = NULL;
    g_autoptr(GError) shown = NULL;

    g_assert_no_error (error);
    g_assert_null (usi_invite_book_open_request (book, second_received, &world.owner_leaf, 1, NOW_MS, &open_error));
    g_assert_error (open_error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_INVITE_USED);
    g_assert_true (usi_join_request_is_authenticated (second_received));

    refusal = usi_join_refusal_seal (world.random, world.owner, second_received,
                                     usi_join_refusal_reason_for_error (open_error), &error);
    g_assert_no_error (error);
    g_assert_true (usi_join_refusal_open (g_bytes_get_data (refusal, NULL), g_bytes_get_size (refusal),
                                          copy, second, &world.other_leaf, &reason, &error));
    g_assert_no_error (error);
    g_assert_cmpint (reason, ==, USI_JOIN_REFUSAL_INVITE_USED);
    usi_join_refusal_reason_set_error (reason, &shown);
    g_assert_error (shown, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_INVITE_USED);
  }
  g_assert_cmpint (usi_invite_book_get_state (book, usi_invite_get_id (invite)), ==, USI_INVITE_STATE_USED);
}

static void
test_j4_expired_invite (void)
{
  g_auto(World) world = { 0 };
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(UsiInvite) copy = NULL;
  g_autoptr(UsiInviteBook) book = NULL;
  g_autoptr(UsiJoinRequest) request = NULL;
  g_autoptr(UsiJoinRequest) received = NULL;
  g_autoptr(GBytes) refusal = NULL;
  g_autoptr(GError) error = NULL;
  UsiJoinRefusalReason reason = 0;

  world_init (&world, "expired");
  invite = world_invite (&world, USI_INVITE_FLAGS_NONE);
  copy = joiner_copy (invite);
  book = world_book (&world, invite, NULL);
  request = world_request (&world, invite, "Joiner", NULL);
  received = relay_forward (request);

  assert_open_fails (book, received, &world, EXPIRES_MS, USI_PROTOCOL_ERROR_INVITE_EXPIRED);
  g_assert_true (usi_join_request_is_authenticated (received));
  g_assert_cmpint (usi_invite_book_get_state (book, usi_invite_get_id (invite)), ==, USI_INVITE_STATE_ISSUED);

  refusal = usi_join_refusal_seal (world.random, world.owner, received, USI_JOIN_REFUSAL_INVITE_EXPIRED, &error);
  g_assert_true (usi_join_refusal_open (g_bytes_get_data (refusal, NULL), g_bytes_get_size (refusal),
                                        copy, request, &world.joiner_leaf, &reason, &error));
  g_assert_cmpint (reason, ==, USI_JOIN_REFUSAL_INVITE_EXPIRED);

  /* Pruned, it is simply unknown. */
  usi_invite_book_prune (book, EXPIRES_MS - 1);
  g_assert_cmpint (usi_invite_book_get_state (book, usi_invite_get_id (invite)), ==, USI_INVITE_STATE_ISSUED);
  usi_invite_book_prune (book, EXPIRES_MS);
  g_assert_cmpint (usi_invite_book_get_state (book, usi_invite_get_id (invite)), ==, USI_INVITE_STATE_UNKNOWN);
}

static void
test_j5_relay_forged_request_fails (void)
{
  g_auto(World) world = { 0 };
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(UsiInviteBook) book = NULL;
  g_autoptr(UsiJoinRequest) request = NULL;
  g_autoptr(UsiJoinRequest) received = NULL;
  g_autoptr(UsiJoiner) joiner = NULL;
  g_autoptr(GError) error = NULL;
  guint8 guesses[3][32];

  world_init (&world, "J5");
  invite = world_invite (&world, USI_INVITE_FLAGS_NONE);
  book = world_book (&world, invite, NULL);

  /* The relay knows the room id, the invite id, the owner's keys and its
   * own leaf key ("other"), never the secret: its PSK is a guess. */
  memset (guesses[0], 0, 32);
  memcpy (guesses[1], usi_invite_get_id (invite), 16);
  memcpy (guesses[1] + 16, usi_invite_get_id (invite), 16);
  g_assert_true (usi_random_fill (world.random, guesses[2], 32, &error));

  for (guint i = 0; i < G_N_ELEMENTS (guesses); i++)
    {
      Forgery forgery = { .psk = guesses[i], .sender = &world.other_leaf, .signer = world.other };
      g_autoptr(GBytes) body = seal_by_hand (&world, invite, &forgery);
      g_autoptr(UsiJoinRequest) forged = decode_bytes (body);

      assert_open_fails (book, forged, &world, NOW_MS, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
      /* No refusal can be made for it: the relay would open it itself. */
      g_assert_null (usi_join_refusal_seal (world.random, world.owner, forged, USI_JOIN_REFUSAL_REFUSED, &error));
      g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_ALLOWED);
      g_clear_error (&error);
    }
  g_assert_cmpint (usi_invite_book_get_state (book, usi_invite_get_id (invite)), ==, USI_INVITE_STATE_ISSUED);

  /* The genuine request still goes through. */
  request = world_request (&world, invite, "Joiner", NULL);
  received = relay_forward (request);
  joiner = usi_invite_book_open_request (book, received, &world.owner_leaf, 1, NOW_MS, &error);
  g_assert_no_error (error);
  g_assert_nonnull (joiner);
}

static void
test_j6_signature_by_other_identity (void)
{
  g_auto(World) world = { 0 };
  UsiLeafNode stolen_claim;
  struct { const char *what; Forgery forgery; } cases[] = {
    /* The content claims the joiner; the signature is by another identity. */
    { "signed by another identity", { .signer = NULL } },
    /* The joiner's leaf node with the identity key of someone else. */
    { "leaf node claims another identity", { .leaf = &stolen_claim } },
    /* Another identity's valid leaf node, sealed with the joiner's key. */
    { "leaf key is not the sender's", { .leaf = NULL, .signer = NULL } },
  };

  world_init (&world, "J6");
  cases[0].forgery.signer = world.other;
  stolen_claim = world.joiner_leaf.node;
  memcpy (stolen_claim.identity_key, usi_identity_get_public_key (world.other), 32);
  cases[1].forgery.signer = world.other;
  cases[2].forgery.leaf = &world.other_leaf.node;
  cases[2].forgery.signer = world.other;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(UsiInvite) invite = world_invite (&world, USI_INVITE_FLAGS_NONE);
      g_autoptr(UsiInviteBook) book = world_book (&world, invite, NULL);
      g_autoptr(GBytes) body = seal_by_hand (&world, invite, &cases[i].forgery);
      g_autoptr(UsiJoinRequest) forged = decode_bytes (body);

      g_test_message ("%s", cases[i].what);
      assert_open_fails (book, forged, &world, NOW_MS, USI_PROTOCOL_ERROR_BAD_SIGNATURE);
      /* It decrypted, so it was the invite's one use. */
      g_assert_cmpint (usi_invite_book_get_state (book, usi_invite_get_id (invite)), ==, USI_INVITE_STATE_BURNED);
      g_assert_true (usi_join_request_is_authenticated (forged));
    }
}

static void
test_j7_wrong_password_burns_invite (void)
{
  g_auto(World) world = { 0 };
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(UsiInvite) copy = NULL;
  g_autoptr(UsiInviteBook) book = NULL;
  g_autoptr(UsiJoinRequest) wrong = NULL;
  g_autoptr(UsiJoinRequest) wrong_received = NULL;
  g_autoptr(UsiJoinRequest) right = NULL;
  g_autoptr(UsiJoinRequest) right_received = NULL;
  g_autoptr(GBytes) wrong_body = NULL;
  g_autoptr(GBytes) right_body = NULL;
  g_autoptr(GError) error = NULL;
  const guint8 *room_key, *wrong_key;

  world_init (&world, "J7");
  room_key = password_key_for ("correct horse", &world);
  wrong_key = password_key_for ("correct hose", &world);
  invite = world_invite (&world, USI_INVITE_FLAGS_PASSWORD_REQUIRED);
  copy = joiner_copy (invite);
  book = world_book (&world, invite, room_key);

  /* Locally, without the password, nothing is sent. */
  g_assert_null (usi_join_request_new (world.random, copy, world.joiner, &world.joiner_leaf, "Joiner", NULL, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_PASSWORD_REQUIRED);
  g_clear_error (&error);

  wrong = world_request (&world, invite, "Joiner", wrong_key);
  right = world_request (&world, invite, "Joiner", room_key);
  wrong_body = usi_join_request_encode (wrong);
  right_body = usi_join_request_encode (right);
  /* The relay sees requests of one size, right password or not. */
  g_assert_cmpuint (g_bytes_get_size (wrong_body), ==, g_bytes_get_size (right_body));

  wrong_received = relay_forward (wrong);
  assert_open_fails (book, wrong_received, &world, NOW_MS, USI_PROTOCOL_ERROR_WRONG_PASSWORD);
  g_assert_cmpint (usi_invite_book_get_state (book, usi_invite_get_id (invite)), ==, USI_INVITE_STATE_BURNED);

  /* One guess per invite: the right password now comes too late. */
  right_received = relay_forward (right);
  assert_open_fails (book, right_received, &world, NOW_MS, USI_PROTOCOL_ERROR_INVITE_USED);
}

static void
test_j7_missing_password_proof (void)
{
  g_auto(World) world = { 0 };
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(UsiInviteBook) book = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(UsiJoinRequest) forged = NULL;
  Forgery no_proof = { .password_key = NULL };

  world_init (&world, "J7");
  invite = world_invite (&world, USI_INVITE_FLAGS_PASSWORD_REQUIRED);
  book = world_book (&world, invite, password_key_for ("correct horse", &world));
  body = seal_by_hand (&world, invite, &no_proof);
  forged = decode_bytes (body);

  assert_open_fails (book, forged, &world, NOW_MS, USI_PROTOCOL_ERROR_PASSWORD_REQUIRED);
  g_assert_cmpint (usi_invite_book_get_state (book, usi_invite_get_id (invite)), ==, USI_INVITE_STATE_BURNED);
}

/* Everything the relay can see of a refusal, and what it can do with it. */
static void
test_j7_refusal_is_opaque_to_the_relay (void)
{
  g_auto(World) world = { 0 };
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(UsiInvite) copy = NULL;
  g_autoptr(UsiInviteBook) book = NULL;
  g_autoptr(UsiJoinRequest) request = NULL;
  g_autoptr(UsiJoinRequest) received = NULL;
  g_autoptr(GError) error = NULL;
  UsiJoinRefusalReason reasons[] = {
    USI_JOIN_REFUSAL_WRONG_PASSWORD, USI_JOIN_REFUSAL_INVITE_USED, USI_JOIN_REFUSAL_INVITE_EXPIRED,
    USI_JOIN_REFUSAL_REFUSED, USI_JOIN_REFUSAL_PASSWORD_REQUIRED, USI_JOIN_REFUSAL_INVALID_REQUEST,
    USI_JOIN_REFUSAL_ROOM_FULL,
  };
  UsiProtocolError shown_codes[] = {
    USI_PROTOCOL_ERROR_WRONG_PASSWORD, USI_PROTOCOL_ERROR_INVITE_USED, USI_PROTOCOL_ERROR_INVITE_EXPIRED,
    USI_PROTOCOL_ERROR_JOIN_REFUSED, USI_PROTOCOL_ERROR_PASSWORD_REQUIRED, USI_PROTOCOL_ERROR_JOIN_REFUSED,
    USI_PROTOCOL_ERROR_JOIN_REFUSED,
  };
  g_autoptr(GBytes) first = NULL;

  world_init (&world, "J7");
  invite = world_invite (&world, USI_INVITE_FLAGS_PASSWORD_REQUIRED);
  copy = joiner_copy (invite);
  book = world_book (&world, invite, password_key_for ("correct horse", &world));
  request = world_request (&world, invite, "Joiner", password_key_for ("correct hose", &world));
  received = relay_forward (request);
  assert_open_fails (book, received, &world, NOW_MS, USI_PROTOCOL_ERROR_WRONG_PASSWORD);

  for (guint i = 0; i < G_N_ELEMENTS (reasons); i++)
    {
      g_autoptr(GBytes) refusal = usi_join_refusal_seal (world.random, world.owner, received, reasons[i], &error);
      g_autoptr(GError) relay_error = NULL;
      g_autoptr(GError) shown = NULL;
      UsiJoinRefusalReason reason = 0;
      const guint8 *data;
      gsize length;

      g_assert_no_error (error);
      data = g_bytes_get_data (refusal, &length);
      /* One size, and the only clear fields are those of the request. */
      g_assert_cmpuint (length, ==, USI_JOIN_REFUSAL_LENGTH);
      g_assert_cmpmem (data, 16, world.room_id, 16);
      g_assert_cmpmem (data + 16, 16, usi_invite_get_id (invite), 16);
      g_assert_cmpmem (data + 32, 32, usi_join_request_get_enc (request), 32);
      if (first == NULL)
        first = g_bytes_ref (refusal);
      else
        g_assert_cmpmem (g_bytes_get_data (first, NULL), 64, data, 64);

      /* The relay, even with the invite and a leaf key of its own put in
       * place of the joiner's, cannot open it. */
      {
        g_autoptr(GBytes) request_body = usi_join_request_encode (request);
        g_autoptr(GByteArray) swapped = g_byte_array_new ();
        g_autoptr(UsiJoinRequest) relay_view = NULL;

        g_byte_array_append (swapped, g_bytes_get_data (request_body, NULL), g_bytes_get_size (request_body));
        memcpy (swapped->data + 64, world.other_leaf.node.leaf_key, 32);
        relay_view = usi_join_request_decode (swapped->data, swapped->len, &error);
        g_assert_no_error (error);
        g_assert_false (usi_join_refusal_open (data, length, copy, relay_view, &world.other_leaf, &reason,
                                               &relay_error));
        g_assert_error (relay_error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
      }

      /* The joiner can, and shows a specific message. */
      g_assert_true (usi_join_refusal_open (data, length, copy, request, &world.joiner_leaf, &reason, &error));
      g_assert_no_error (error);
      g_assert_cmpint (reason, ==, reasons[i]);
      usi_join_refusal_reason_set_error (reason, &shown);
      g_assert_error (shown, USI_PROTOCOL_ERROR, (int) shown_codes[i]);
    }
}

static void
test_j9_control_and_bidi_names (void)
{
  g_auto(World) world = { 0 };
  const char *refused[] = {
    "Eve\xe2\x80\xae" "lived",           /* U+202E RIGHT-TO-LEFT OVERRIDE */
    "Eve\xe2\x81\xa6" "x",               /* U+2066 LEFT-TO-RIGHT ISOLATE */
    "Zero\xe2\x80\x8bwidth",             /* U+200B ZERO WIDTH SPACE */
    "Line\nbreak",
    "Bell\x07",
    "Esc\x1b[31m",
    " Leading space",                    /* not in normal form */
    "Two  spaces",
    "e\xcc\x81",                         /* e + combining acute: NFC is U+00E9 */
    "",
    "123456789012345678901234567890123", /* 33 characters */
  };

  world_init (&world, "J9");

  for (guint i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autoptr(UsiInvite) invite = world_invite (&world, USI_INVITE_FLAGS_NONE);
      g_autoptr(UsiInviteBook) book = world_book (&world, invite, NULL);
      Forgery forgery = { .name = refused[i] };
      g_autoptr(GBytes) body = seal_by_hand (&world, invite, &forgery);
      g_autoptr(UsiJoinRequest) forged = decode_bytes (body);
      g_autoptr(GError) error = NULL;
      g_autoptr(UsiJoinRequest) own = NULL;
      g_autoptr(UsiInvite) copy = joiner_copy (invite);

      assert_open_fails (book, forged, &world, NOW_MS, USI_PROTOCOL_ERROR_MALFORMED);
      g_assert_cmpint (usi_invite_book_get_state (book, usi_invite_get_id (invite)), ==, USI_INVITE_STATE_BURNED);

      /* Usi's own joiner never sends such a name: it normalizes what it
       * can and refuses the rest. */
      own = usi_join_request_new (world.random, copy, world.joiner, &world.joiner_leaf, refused[i], NULL, &error);
      if (own == NULL)
        g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
    }

  /* A name over 128 bytes is refused by its length before anything else. */
  {
    g_autoptr(UsiInvite) invite = world_invite (&world, USI_INVITE_FLAGS_NONE);
    g_autoptr(UsiInviteBook) book = world_book (&world, invite, NULL);
    g_autofree char *long_name = g_strnfill (129, 'a');
    Forgery forgery = { .name = long_name };
    g_autoptr(GBytes) body = seal_by_hand (&world, invite, &forgery);
    g_autoptr(UsiJoinRequest) forged = decode_bytes (body);

    assert_open_fails (book, forged, &world, NOW_MS, USI_PROTOCOL_ERROR_TOO_LARGE);
    g_assert_cmpint (usi_invite_book_get_state (book, usi_invite_get_id (invite)), ==, USI_INVITE_STATE_BURNED);
  }

  /* A name that is already normal passes untouched. */
  {
    g_autoptr(UsiInvite) invite = world_invite (&world, USI_INVITE_FLAGS_NONE);
    g_autoptr(UsiInviteBook) book = world_book (&world, invite, NULL);
    Forgery forgery = { .name = "Émile 🙂 O'Brien" };
    g_autoptr(GBytes) body = seal_by_hand (&world, invite, &forgery);
    g_autoptr(UsiJoinRequest) request = decode_bytes (body);
    g_autoptr(GError) error = NULL;
    g_autoptr(UsiJoiner) joiner = usi_invite_book_open_request (book, request, &world.owner_leaf, 1, NOW_MS, &error);

    g_assert_no_error (error);
    g_assert_cmpstr (usi_joiner_get_display_name (joiner), ==, "Émile 🙂 O'Brien");
  }
}

static void
test_non_zero_padding_refused (void)
{
  g_auto(World) world = { 0 };
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(UsiInviteBook) book = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(UsiJoinRequest) forged = NULL;
  Forgery padded = { .padding = 0x01 };

  world_init (&world, "padding");
  invite = world_invite (&world, USI_INVITE_FLAGS_NONE);
  book = world_book (&world, invite, NULL);
  body = seal_by_hand (&world, invite, &padded);
  forged = decode_bytes (body);

  assert_open_fails (book, forged, &world, NOW_MS, USI_PROTOCOL_ERROR_MALFORMED);
  g_assert_cmpint (usi_invite_book_get_state (book, usi_invite_get_id (invite)), ==, USI_INVITE_STATE_BURNED);
}

static void
test_request_bit_flips (void)
{
  g_auto(World) world = { 0 };
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(UsiJoinRequest) request = NULL;
  g_autoptr(GBytes) body = NULL;
  g_autoptr(GByteArray) bytes = NULL;
  guint decode_failures = 0;

  world_init (&world, "request flips");
  invite = world_invite (&world, USI_INVITE_FLAGS_NONE);
  request = world_request (&world, invite, "Joiner", NULL);
  body = usi_join_request_encode (request);
  bytes = g_byte_array_new ();
  g_byte_array_append (bytes, g_bytes_get_data (body, NULL), g_bytes_get_size (body));

  for (gsize bit = 0; bit < bytes->len * 8; bit++)
    {
      g_autoptr(UsiInviteBook) book = world_book (&world, invite, NULL);
      g_autoptr(UsiJoinRequest) flipped = NULL;
      g_autoptr(UsiJoiner) joiner = NULL;
      g_autoptr(GError) error = NULL;

      bytes->data[bit / 8] ^= 1 << (bit % 8);
      flipped = usi_join_request_decode (bytes->data, bytes->len, &error);
      if (flipped == NULL)
        decode_failures++;
      else
        {
          joiner = usi_invite_book_open_request (book, flipped, &world.owner_leaf, 1, NOW_MS, &error);
          g_assert_null (joiner);
          /* Room id: wrong room; invite id: unknown; the rest: the AEAD. */
          if (bit < 16 * 8)
            g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_ROOM);
          else if (bit < 32 * 8)
            g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_INVITE_UNKNOWN);
          else
            g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
          g_assert_false (usi_join_request_is_authenticated (flipped));
        }
      bytes->data[bit / 8] ^= 1 << (bit % 8);
    }
  /* Fixed-size fields: a flip never changes how the bytes parse. */
  g_assert_cmpuint (decode_failures, ==, 0);

  /* Truncated, or with a byte more: malformed. */
  for (guint i = 0; i < 7; i++)
    {
      gsize lengths[] = { 0, 1, 16, 95, 96, bytes->len - 1, bytes->len + 1 };
      gsize length = lengths[i];
      g_autoptr(GError) error = NULL;
      g_autoptr(GByteArray) resized = g_byte_array_new ();
      g_autoptr(UsiJoinRequest) decoded = NULL;

      g_byte_array_append (resized, bytes->data, MIN (length, bytes->len));
      if (length > bytes->len)
        g_byte_array_append (resized, (const guint8 *) "", 1);
      decoded = usi_join_request_decode (resized->data, resized->len, &error);
      g_assert_null (decoded);
      g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
    }
}

static void
test_refusal_round_trip_and_bit_flips (void)
{
  g_auto(World) world = { 0 };
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(UsiInvite) copy = NULL;
  g_autoptr(UsiInviteBook) book = NULL;
  g_autoptr(UsiJoinRequest) request = NULL;
  g_autoptr(UsiJoinRequest) received = NULL;
  g_autoptr(UsiJoiner) joiner = NULL;
  g_autoptr(GBytes) refusal = NULL;
  g_autoptr(GByteArray) bytes = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  UsiJoinRefusalReason reason = 0;

  world_init (&world, "refusal");
  invite = world_invite (&world, USI_INVITE_FLAGS_NONE);
  copy = joiner_copy (invite);
  book = world_book (&world, invite, NULL);
  request = world_request (&world, invite, "Joiner", NULL);
  received = relay_forward (request);
  joiner = usi_invite_book_open_request (book, received, &world.owner_leaf, 1, NOW_MS, &error);
  g_assert_no_error (error);

  /* The owner declines a verified joiner. */
  refusal = usi_join_refusal_seal (world.random, world.owner, received, USI_JOIN_REFUSAL_REFUSED, &error);
  g_assert_no_error (error);
  g_assert_true (usi_join_refusal_open (g_bytes_get_data (refusal, NULL), g_bytes_get_size (refusal),
                                        copy, request, &world.joiner_leaf, &reason, &error));
  g_assert_cmpint (reason, ==, USI_JOIN_REFUSAL_REFUSED);
  {
    g_autoptr(GBytes) frame = usi_frame_encode (USI_FRAME_JOIN_REFUSAL, g_bytes_get_data (refusal, NULL),
                                                g_bytes_get_size (refusal), &error);
    g_assert_no_error (error);
  }

  g_byte_array_append (bytes, g_bytes_get_data (refusal, NULL), g_bytes_get_size (refusal));
  for (gsize bit = 0; bit < bytes->len * 8; bit++)
    {
      g_autoptr(GError) flip_error = NULL;

      bytes->data[bit / 8] ^= 1 << (bit % 8);
      g_assert_false (usi_join_refusal_open (bytes->data, bytes->len, copy, request, &world.joiner_leaf,
                                             &reason, &flip_error));
      /* The request's fields: another request; the rest: the AEAD. */
      if (bit < 64 * 8)
        g_assert_error (flip_error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_ROOM);
      else
        g_assert_error (flip_error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
      bytes->data[bit / 8] ^= 1 << (bit % 8);
    }

  /* Truncated and extended refusals are malformed. */
  {
    g_autoptr(GError) short_error = NULL;
    g_autoptr(GError) long_error = NULL;

    g_assert_false (usi_join_refusal_open (bytes->data, bytes->len - 1, copy, request, &world.joiner_leaf,
                                           &reason, &short_error));
    g_assert_error (short_error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
    g_byte_array_append (bytes, (const guint8 *) "", 1);
    g_assert_false (usi_join_refusal_open (bytes->data, bytes->len, copy, request, &world.joiner_leaf,
                                           &reason, &long_error));
    g_assert_error (long_error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
  }
}

/* A JoinRefusal built by hand from docs/protocol.md §5.7. */
static GBytes *
refusal_by_hand (World          *world,
                 UsiInvite      *invite,
                 UsiJoinRequest *request,
                 UsiIdentity    *signer,
                 guint8          reason)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GByteArray) info = g_byte_array_new ();
  g_autoptr(GByteArray) tbs = g_byte_array_new ();
  g_autoptr(GByteArray) body = g_byte_array_new ();
  g_autoptr(UsiHpkeContext) context = NULL;
  UsiHpkeParameters parameters = { 0 };
  guint8 enc[32], plaintext[65], ciphertext[65 + 16];

  g_byte_array_append (info, (const guint8 *) "usi 1.0 join refusal", 20);
  g_byte_array_append (info, usi_invite_get_room_id (invite), 16);
  g_byte_array_append (info, usi_invite_get_owner_identity_key (invite), 32);
  parameters.mode = USI_HPKE_MODE_BASE;
  parameters.info = info->data;
  parameters.info_length = info->len;
  context = usi_hpke_setup_sender (&parameters, world->random, usi_join_request_get_joiner_leaf_key (request),
                                   NULL, enc, &error);
  g_assert_no_error (error);

  g_byte_array_append (tbs, usi_invite_get_room_id (invite), 16);
  g_byte_array_append (tbs, usi_invite_get_id (invite), 16);
  g_byte_array_append (tbs, usi_invite_get_owner_identity_key (invite), 32);
  g_byte_array_append (tbs, usi_join_request_get_enc (request), 32);
  g_byte_array_append (tbs, usi_join_request_get_joiner_leaf_key (request), 32);
  g_byte_array_append (tbs, enc, 32);
  g_byte_array_append (tbs, &reason, 1);
  plaintext[0] = reason;
  g_assert_true (usi_identity_sign (signer, "JoinRefusalTBS", tbs->data, tbs->len, plaintext + 1, &error));

  g_byte_array_append (body, usi_invite_get_room_id (invite), 16);
  g_byte_array_append (body, usi_invite_get_id (invite), 16);
  g_byte_array_append (body, usi_join_request_get_enc (request), 32);
  g_byte_array_append (body, enc, 32);
  g_assert_true (usi_hpke_context_seal (context, body->data, body->len, plaintext, sizeof plaintext,
                                        ciphertext, &error));
  g_byte_array_append (body, ciphertext, sizeof ciphertext);
  return g_byte_array_free_to_bytes (g_steal_pointer (&body));
}

static void
test_refusal_forgeries (void)
{
  g_auto(World) world = { 0 };
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(UsiInvite) copy = NULL;
  g_autoptr(UsiJoinRequest) request = NULL;
  struct { UsiIdentity *signer; guint8 reason; UsiProtocolError code; } cases[] = {
    { NULL, USI_JOIN_REFUSAL_ROOM_FULL, 0 },                      /* the builder is right */
    { NULL, 0, USI_PROTOCOL_ERROR_MALFORMED },                    /* unknown reasons */
    { NULL, 8, USI_PROTOCOL_ERROR_MALFORMED },
    { NULL, 255, USI_PROTOCOL_ERROR_MALFORMED },
    { NULL, USI_JOIN_REFUSAL_REFUSED, USI_PROTOCOL_ERROR_BAD_SIGNATURE },  /* signed by another */
  };

  world_init (&world, "refusal forgeries");
  invite = world_invite (&world, USI_INVITE_FLAGS_NONE);
  copy = joiner_copy (invite);
  request = world_request (&world, invite, "Joiner", NULL);
  for (guint i = 0; i < 4; i++)
    cases[i].signer = world.owner;
  cases[4].signer = world.other;

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr(GBytes) refusal = refusal_by_hand (&world, copy, request, cases[i].signer, cases[i].reason);
      g_autoptr(GError) error = NULL;
      UsiJoinRefusalReason reason = 0;
      gboolean opened = usi_join_refusal_open (g_bytes_get_data (refusal, NULL), g_bytes_get_size (refusal),
                                               copy, request, &world.joiner_leaf, &reason, &error);

      if (i == 0)
        {
          g_assert_no_error (error);
          g_assert_true (opened);
          g_assert_cmpint (reason, ==, USI_JOIN_REFUSAL_ROOM_FULL);
        }
      else
        {
          g_assert_false (opened);
          g_assert_error (error, USI_PROTOCOL_ERROR, (int) cases[i].code);
        }
    }

  /* A refusal the owner seals for someone else's request does not open. */
  {
    g_autoptr(UsiInviteBook) book = world_book (&world, invite, NULL);
    g_autoptr(UsiJoinRequest) received = relay_forward (request);
    g_autoptr(UsiJoiner) joiner = NULL;
    g_autoptr(GBytes) refusal = NULL;
    g_autoptr(GError) error = NULL;
    UsiJoinRefusalReason reason = 0;

    joiner = usi_invite_book_open_request (book, received, &world.owner_leaf, 1, NOW_MS, &error);
    g_assert_no_error (error);
    refusal = usi_join_refusal_seal (world.random, world.other, received, USI_JOIN_REFUSAL_REFUSED, &error);
    g_assert_no_error (error);
    /* Sealed under another owner's info string: it does not even decrypt. */
    g_assert_false (usi_join_refusal_open (g_bytes_get_data (refusal, NULL), g_bytes_get_size (refusal),
                                           copy, request, &world.joiner_leaf, &reason, &error));
    g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
  }
}

static void
test_owner_leaf_rotation (void)
{
  g_auto(World) world = { 0 };
  g_autoptr(UsiInvite) invite = NULL;
  g_autoptr(UsiInviteBook) book = NULL;
  g_autoptr(UsiJoinRequest) request = NULL;
  g_autoptr(UsiJoinRequest) received = NULL;
  g_autoptr(UsiJoiner) joiner = NULL;
  g_autoptr(GError) error = NULL;
  UsiLeafSecret leaves[2];

  world_init (&world, "rotation");
  invite = world_invite (&world, USI_INVITE_FLAGS_NONE);
  book = world_book (&world, invite, NULL);
  request = world_request (&world, invite, "Joiner", NULL);
  received = relay_forward (request);

  /* The owner rotated its leaf key and dropped the old one: the invite
   * cannot be opened, and that is not counted against it. */
  g_assert_true (usi_leaf_secret_generate (world.random, world.owner, 2, NOW_MS, &leaves[0], &error));
  g_assert_null (usi_invite_book_open_request (book, received, leaves, 1, NOW_MS, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
  g_clear_error (&error);
  g_assert_null (usi_invite_book_open_request (book, received, NULL, 0, NOW_MS, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
  g_clear_error (&error);
  g_assert_cmpuint (usi_invite_book_get_failed_opens (book, usi_invite_get_id (invite)), ==, 0);

  /* Kept among the leaves still held, the invite's key is found. */
  leaves[1] = world.owner_leaf;
  joiner = usi_invite_book_open_request (book, received, leaves, 2, NOW_MS, &error);
  g_assert_no_error (error);
  g_assert_nonnull (joiner);
  usi_leaf_secret_clear (&leaves[0]);
  usi_leaf_secret_clear (&leaves[1]);
}

static void
test_book_add_checks (void)
{
  g_auto(World) world = { 0 };
  g_autoptr(UsiInvite) plain = NULL;
  g_autoptr(UsiInvite) with_password = NULL;
  g_autoptr(UsiInviteBook) book = NULL;
  g_autoptr(UsiInviteBook) password_book = NULL;
  g_autoptr(UsiInviteBook) other_owner = NULL;
  g_autoptr(UsiInviteBook) other_room = NULL;
  g_autoptr(GError) error = NULL;
  guint8 other_room_id[16] = { 2 };
  guint8 key[32] = { 3 };

  world_init (&world, "book");
  plain = world_invite (&world, USI_INVITE_FLAGS_NONE);
  with_password = world_invite (&world, USI_INVITE_FLAGS_PASSWORD_REQUIRED);
  book = world_book (&world, NULL, NULL);
  password_book = world_book (&world, NULL, key);
  other_owner = usi_invite_book_new (world.room_id, usi_identity_get_public_key (world.other));
  other_room = usi_invite_book_new (other_room_id, usi_identity_get_public_key (world.owner));

  g_assert_false (usi_invite_book_add (other_room, plain, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_ROOM);
  g_clear_error (&error);
  g_assert_false (usi_invite_book_add (other_owner, plain, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_OWNER);
  g_clear_error (&error);
  g_assert_false (usi_invite_book_add (book, with_password, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_ALLOWED);
  g_clear_error (&error);
  g_assert_false (usi_invite_book_add (password_book, plain, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_ALLOWED);
  g_clear_error (&error);

  g_assert_true (usi_invite_book_add (book, plain, &error));
  g_assert_false (usi_invite_book_add (book, plain, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DUPLICATE);
  g_clear_error (&error);
  g_assert_true (usi_invite_book_add (password_book, with_password, &error));
  g_assert_no_error (error);
}

static void
test_password_key_and_psk (void)
{
  g_auto(World) world = { 0 };
  g_autoptr(GError) error = NULL;
  guint8 composed[32], decomposed[32], other_room[32], psk[32], expected_psk[32];
  guint8 other_room_id[16] = { 4 };
  guint8 salt[21 + 16];

  world_init (&world, "password");

  /* NFC: "é" typed as one character or as e + combining accent. */
  g_assert_true (usi_join_password_key_derive ("caf\xc3\xa9", world.room_id, composed, &error));
  g_assert_true (usi_join_password_key_derive ("cafe\xcc\x81", world.room_id, decomposed, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (composed, 32, decomposed, 32);

  /* The salt is the label and the room id (docs/protocol.md §5.4). */
  memcpy (salt, "usi 1.0 room password", 21);
  memcpy (salt + 21, world.room_id, 16);
  g_assert_true (usi_scrypt ("caf\xc3\xa9", 5, salt, sizeof salt, &usi_scrypt_default_params,
                             expected_psk, 32, &error));
  g_assert_cmpmem (composed, 32, expected_psk, 32);

  /* Another room, another key. */
  g_assert_true (usi_join_password_key_derive ("caf\xc3\xa9", other_room_id, other_room, &error));
  g_assert_true (memcmp (composed, other_room, 32) != 0);

  g_assert_false (usi_join_password_key_derive ("", world.room_id, other_room, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
  g_clear_error (&error);
  g_assert_false (usi_join_password_key_derive ("\xff", world.room_id, other_room, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED);
  g_clear_error (&error);

  /* The PSK for psk_secret. */
  g_assert_true (usi_join_password_psk (composed, world.room_id, psk, &error));
  g_assert_true (usi_mls_expand_with_label ("usi 1.0 ", composed, "room password psk", world.room_id, 16,
                                            expected_psk, 32, &error));
  g_assert_cmpmem (psk, 32, expected_psk, 32);
  g_assert_true (memcmp (psk, composed, 32) != 0);
}

static void
test_reason_for_error (void)
{
  struct { UsiProtocolError code; UsiJoinRefusalReason reason; } map[] = {
    { USI_PROTOCOL_ERROR_WRONG_PASSWORD, USI_JOIN_REFUSAL_WRONG_PASSWORD },
    { USI_PROTOCOL_ERROR_PASSWORD_REQUIRED, USI_JOIN_REFUSAL_PASSWORD_REQUIRED },
    { USI_PROTOCOL_ERROR_INVITE_USED, USI_JOIN_REFUSAL_INVITE_USED },
    { USI_PROTOCOL_ERROR_INVITE_EXPIRED, USI_JOIN_REFUSAL_INVITE_EXPIRED },
    { USI_PROTOCOL_ERROR_BAD_SIGNATURE, USI_JOIN_REFUSAL_INVALID_REQUEST },
    { USI_PROTOCOL_ERROR_MALFORMED, USI_JOIN_REFUSAL_INVALID_REQUEST },
    { USI_PROTOCOL_ERROR_TOO_LARGE, USI_JOIN_REFUSAL_INVALID_REQUEST },
    { USI_PROTOCOL_ERROR_DECRYPTION_FAILED, USI_JOIN_REFUSAL_REFUSED },
    { USI_PROTOCOL_ERROR_JOIN_REFUSED, USI_JOIN_REFUSAL_REFUSED },
  };

  for (guint i = 0; i < G_N_ELEMENTS (map); i++)
    {
      g_autoptr(GError) error = g_error_new_literal (USI_PROTOCOL_ERROR, map[i].code, "x");

      g_assert_cmpint (usi_join_refusal_reason_for_error (error), ==, map[i].reason);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/protocol/join/round-trip", test_round_trip);
  g_test_add_func ("/protocol/join/hand-built-request-matches-spec", test_hand_built_request_matches_spec);
  g_test_add_func ("/protocol/join/J2-wrong-invite-psk-fails", test_j2_wrong_invite_psk_fails);
  g_test_add_func ("/protocol/join/J2-repeated-failures-burn-the-invite", test_j2_repeated_failures_burn_the_invite);
  g_test_add_func ("/protocol/join/J3-unknown-invite-fails-closed", test_j3_unknown_invite_fails_closed);
  g_test_add_func ("/protocol/join/wrong-room", test_wrong_room);
  g_test_add_func ("/protocol/join/J4-replay-and-second-use", test_j4_replay_and_second_use);
  g_test_add_func ("/protocol/join/J4-expired-invite", test_j4_expired_invite);
  g_test_add_func ("/protocol/join/J5-relay-forged-request-fails", test_j5_relay_forged_request_fails);
  g_test_add_func ("/protocol/join/J6-signature-by-other-identity", test_j6_signature_by_other_identity);
  g_test_add_func ("/protocol/join/J7-wrong-password-burns-invite", test_j7_wrong_password_burns_invite);
  g_test_add_func ("/protocol/join/J7-missing-password-proof", test_j7_missing_password_proof);
  g_test_add_func ("/protocol/join/J7-refusal-is-opaque-to-the-relay", test_j7_refusal_is_opaque_to_the_relay);
  g_test_add_func ("/protocol/join/J9-control-and-bidi-names", test_j9_control_and_bidi_names);
  g_test_add_func ("/protocol/join/non-zero-padding-refused", test_non_zero_padding_refused);
  g_test_add_func ("/protocol/join/request-bit-flips", test_request_bit_flips);
  g_test_add_func ("/protocol/join/refusal-round-trip-and-bit-flips", test_refusal_round_trip_and_bit_flips);
  g_test_add_func ("/protocol/join/refusal-forgeries", test_refusal_forgeries);
  g_test_add_func ("/protocol/join/owner-leaf-rotation", test_owner_leaf_rotation);
  g_test_add_func ("/protocol/join/book-add-checks", test_book_add_checks);
  g_test_add_func ("/protocol/join/password-key-and-psk", test_password_key_and_psk);
  g_test_add_func ("/protocol/join/reason-for-error", test_reason_for_error);

  return g_test_run ();
}
