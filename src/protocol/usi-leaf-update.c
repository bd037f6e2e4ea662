/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The LeafUpdate structure: a member's signed new leaf node.  No I/O here,
 * and no decision about whether to apply it: that is UsiOwnerGroup's part. */

#define G_LOG_DOMAIN "usi-protocol"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "usi-leaf-update.h"
#include "usi-protocol-error.h"

#define LEAF_UPDATE_SIGNATURE_LABEL "LeafUpdateTBS"

static void
write_content (const UsiLeafUpdate *update,
               GByteArray          *out)
{
  usi_wire_write_u8 (out, USI_LEAF_UPDATE_VERSION);
  usi_wire_write_fixed (out, update->room_id, sizeof update->room_id);
  usi_wire_write_u64 (out, update->epoch);
  usi_wire_write_u32 (out, update->sender_index);
  usi_leaf_node_write (&update->leaf, out);
}

gboolean
usi_leaf_update_sign (UsiLeafUpdate  *update,
                      UsiIdentity    *identity,
                      GError        **error)
{
  g_autoptr(GByteArray) content = g_byte_array_sized_new (USI_LEAF_UPDATE_ENCODED_LENGTH);

  g_return_val_if_fail (update != NULL, FALSE);
  g_return_val_if_fail (identity != NULL, FALSE);
  g_return_val_if_fail (memcmp (usi_identity_get_public_key (identity), update->leaf.identity_key,
                                USI_KEY_LENGTH) == 0, FALSE);

  write_content (update, content);
  return usi_identity_sign (identity, LEAF_UPDATE_SIGNATURE_LABEL, content->data, content->len,
                            update->signature, error);
}

GBytes *
usi_leaf_update_encode (const UsiLeafUpdate *update)
{
  GByteArray *out = g_byte_array_sized_new (USI_LEAF_UPDATE_ENCODED_LENGTH);

  g_return_val_if_fail (update != NULL, NULL);

  write_content (update, out);
  usi_wire_write_fixed (out, update->signature, sizeof update->signature);
  return g_byte_array_free_to_bytes (out);
}

gboolean
usi_leaf_update_decode (const guint8   *body,
                        gsize           length,
                        UsiLeafUpdate  *update,
                        GError        **error)
{
  UsiWireReader reader;
  guint8 version;

  g_return_val_if_fail (body != NULL || length == 0, FALSE);
  g_return_val_if_fail (update != NULL, FALSE);

  usi_wire_reader_init (&reader, body, length);
  if (!usi_wire_read_u8 (&reader, &version, error))
    return FALSE;
  if (version != USI_LEAF_UPDATE_VERSION)
    {
      g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSUPPORTED_VERSION,
                   _("Leaf update version %u is not supported."), version);
      return FALSE;
    }

  return usi_wire_read_fixed_into (&reader, sizeof update->room_id, update->room_id, error) &&
         usi_wire_read_u64 (&reader, &update->epoch, error) &&
         usi_wire_read_u32 (&reader, &update->sender_index, error) &&
         usi_leaf_node_read (&reader, &update->leaf, error) &&
         usi_wire_read_fixed_into (&reader, sizeof update->signature, update->signature, error) &&
         usi_wire_reader_finish (&reader, error);
}

gboolean
usi_leaf_update_verify (const UsiLeafUpdate  *update,
                        GError              **error)
{
  g_autoptr(GByteArray) content = g_byte_array_sized_new (USI_LEAF_UPDATE_ENCODED_LENGTH);

  g_return_val_if_fail (update != NULL, FALSE);

  write_content (update, content);
  return usi_identity_verify (update->leaf.identity_key, LEAF_UPDATE_SIGNATURE_LABEL,
                              content->data, content->len, update->signature, error) &&
         usi_leaf_node_verify (&update->leaf, error);
}
