/* SPDX-License-Identifier: GPL-3.0-or-later */

/* A leaf node as it arrives in a roster, a welcome or a leaf update: decoded
 * canonically, encoded back to the same bytes, and its signature checked
 * (small-order keys, non-canonical signatures and the like must be refused
 * with an error, never crash). */

#include "config.h"

#include "protocol/usi-identity.h"
#include "protocol/usi-protocol-error.h"

#include "usi-fuzz.h"

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  usi_fuzz_make_warnings_fatal ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(GByteArray) encoded = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  UsiWireReader reader;
  UsiLeafNode node;

  usi_wire_reader_init (&reader, data, size);
  if (!usi_leaf_node_read (&reader, &node, &error) ||
      !usi_wire_reader_finish (&reader, &error))
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      return 0;
    }

  usi_fuzz_check (size == USI_LEAF_NODE_ENCODED_LENGTH);
  usi_leaf_node_write (&node, encoded);
  usi_fuzz_check_same_bytes (data, size, encoded->data, encoded->len, "a leaf node");

  if (!usi_leaf_node_verify (&node, &error))
    {
      usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
      usi_fuzz_check (error->code == USI_PROTOCOL_ERROR_BAD_SIGNATURE);
    }

  return 0;
}
