/* SPDX-License-Identifier: GPL-3.0-or-later */

#include "config.h"

#include <string.h>

#include "crypto/usi-random.h"
#include "protocol/usi-identity.h"
#include "protocol/usi-protocol-error.h"

static void
test_leaf_node_round_trip_and_verify (void)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "leaf", 4);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiIdentity) identity = usi_identity_generate (random, &error);
  g_auto(UsiLeafSecret) secret = { 0 };
  g_autoptr(GByteArray) encoded = g_byte_array_new ();
  UsiLeafNode decoded;
  UsiWireReader reader;

  g_assert_no_error (error);
  g_assert_true (usi_leaf_secret_generate (random, identity, 3, 1700000000000, &secret, &error));
  g_assert_cmpmem (secret.node.identity_key, 32, usi_identity_get_public_key (identity), 32);

  usi_leaf_node_write (&secret.node, encoded);
  g_assert_cmpuint (encoded->len, ==, USI_LEAF_NODE_ENCODED_LENGTH);
  usi_wire_reader_init (&reader, encoded->data, encoded->len);
  g_assert_true (usi_leaf_node_read (&reader, &decoded, &error));
  g_assert_true (usi_wire_reader_finish (&reader, &error));
  g_assert_true (usi_leaf_node_verify (&decoded, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (decoded.sequence, ==, 3);

  /* Every single-bit change of the encoded leaf node breaks its signature. */
  for (guint bit = 0; bit < encoded->len * 8; bit++)
    {
      UsiLeafNode flipped;

      encoded->data[bit / 8] ^= 1 << (bit % 8);
      usi_wire_reader_init (&reader, encoded->data, encoded->len);
      g_assert_true (usi_leaf_node_read (&reader, &flipped, NULL));
      g_assert_false (usi_leaf_node_verify (&flipped, &error));
      g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_BAD_SIGNATURE);
      g_clear_error (&error);
      encoded->data[bit / 8] ^= 1 << (bit % 8);
    }
}

static void
test_identity_from_seed (void)
{
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "seed", 4);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiIdentity) identity = usi_identity_generate (random, &error);
  g_autoptr(UsiIdentity) restored = NULL;
  guint8 seed[32], signature[64];

  usi_identity_export_seed (identity, seed);
  restored = usi_identity_new_from_seed (seed, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (usi_identity_get_public_key (restored), 32, usi_identity_get_public_key (identity), 32);

  g_assert_true (usi_identity_sign (restored, "Test", (const guint8 *) "x", 1, signature, &error));
  g_assert_true (usi_identity_verify (usi_identity_get_public_key (identity), "Test", (const guint8 *) "x", 1, signature, &error));
  /* The label is part of what is signed. */
  g_assert_false (usi_identity_verify (usi_identity_get_public_key (identity), "Other", (const guint8 *) "x", 1, signature, &error));
  g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_BAD_SIGNATURE);
}

static void
test_small_order_leaf_key_refused (void)
{
  /* Points of small order (0, 1, the two of order 8, p - 1), and one with
   * the ignored top bit set: each correctly signed, each refused. */
  static const char *small_order[] = {
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b880",
  };
  g_autoptr(UsiRandom) random = usi_random_new_deterministic ((const guint8 *) "small", 5);
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiIdentity) identity = usi_identity_generate (random, &error);

  for (guint i = 0; i < G_N_ELEMENTS (small_order); i++)
    {
      g_autoptr(GByteArray) content = g_byte_array_new ();
      UsiLeafNode node = { 0 };

      memcpy (node.identity_key, usi_identity_get_public_key (identity), 32);
      for (guint b = 0; b < 32; b++)
        node.leaf_key[b] = (guint8) g_ascii_strtoull ((char []) { small_order[i][2 * b], small_order[i][2 * b + 1], 0 }, NULL, 16);
      node.sequence = 1;
      node.created_ms = 1;
      /* Signed exactly as usi_leaf_secret_generate() signs. */
      usi_wire_write_fixed (content, node.identity_key, 32);
      usi_wire_write_fixed (content, node.leaf_key, 32);
      usi_wire_write_u32 (content, node.sequence);
      usi_wire_write_u64 (content, node.created_ms);
      g_assert_true (usi_identity_sign (identity, "LeafNodeTBS", content->data, content->len, node.signature, &error));

      g_assert_false (usi_leaf_node_verify (&node, &error));
      g_assert_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNUSABLE_KEY);
      g_clear_error (&error);
    }
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/protocol/identity/leaf-node-round-trip-and-verify", test_leaf_node_round_trip_and_verify);
  g_test_add_func ("/protocol/identity/from-seed", test_identity_from_seed);
  g_test_add_func ("/protocol/identity/small-order-leaf-key-refused", test_small_order_leaf_key_refused);

  return g_test_run ();
}
