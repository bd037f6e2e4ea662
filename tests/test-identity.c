/* SPDX-License-Identifier: GPL-3.0-or-later */

#include "config.h"

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

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/protocol/identity/leaf-node-round-trip-and-verify", test_leaf_node_round_trip_and_verify);
  g_test_add_func ("/protocol/identity/from-seed", test_identity_from_seed);

  return g_test_run ();
}
