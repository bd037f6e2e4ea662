/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The Welcome structure: encoding, the sealed joiner_secret and the owner's
 * signature.  No I/O here, and no decision about whether a welcome is
 * acceptable: UsiMemberGroup makes those checks. */

#define G_LOG_DOMAIN "usi-protocol"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "crypto/usi-crypto-error.h"
#include "crypto/usi-digest.h"

#include "usi-protocol-error.h"
#include "usi-welcome.h"

#define WELCOME_SIGNATURE_LABEL "WelcomeTBS"
#define WELCOME_SECRET_LABEL    USI_LABEL_PREFIX "WelcomeSecret"

UsiWelcome *
usi_welcome_new (void)
{
  UsiWelcome *welcome = g_new0 (UsiWelcome, 1);

  welcome->group_info = usi_group_info_new ();
  return welcome;
}

void
usi_welcome_free (UsiWelcome *welcome)
{
  if (welcome == NULL)
    return;

  g_clear_pointer (&welcome->group_info, usi_group_info_free);
  g_free (welcome);
}

/* version ‖ GroupInfo ‖ joiner_index */
static void
write_header (const UsiWelcome *welcome,
              GByteArray       *out)
{
  usi_wire_write_u8 (out, USI_WELCOME_VERSION);
  usi_group_info_write (welcome->group_info, out);
  usi_wire_write_u32 (out, welcome->joiner_index);
}

/* Everything the signature covers. */
static GByteArray *
encode_content (const UsiWelcome *welcome)
{
  GByteArray *out = g_byte_array_sized_new (512 + welcome->group_info->roster->len * 200);

  write_header (welcome, out);
  usi_wire_write_fixed (out, welcome->enc, sizeof welcome->enc);
  usi_wire_write_fixed (out, welcome->sealed_joiner_secret, sizeof welcome->sealed_joiner_secret);
  return out;
}

GBytes *
usi_welcome_encode (const UsiWelcome *welcome)
{
  GByteArray *out;

  g_return_val_if_fail (welcome != NULL, NULL);

  out = encode_content (welcome);
  usi_wire_write_fixed (out, welcome->signature, sizeof welcome->signature);
  return g_byte_array_free_to_bytes (out);
}

UsiWelcome *
usi_welcome_decode (const guint8  *body,
                    gsize          length,
                    GError       **error)
{
  g_autoptr(UsiWelcome) welcome = usi_welcome_new ();
  UsiWireReader reader;
  guint8 version;

  g_return_val_if_fail (body != NULL || length == 0, NULL);

  usi_wire_reader_init (&reader, body, length);
  if (!usi_wire_read_u8 (&reader, &version, error))
    return NULL;
  if (version != USI_WELCOME_VERSION)
    {
      g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSUPPORTED_VERSION,
                   _("Welcome version %u is not supported."), version);
      return NULL;
    }

  g_clear_pointer (&welcome->group_info, usi_group_info_free);
  if ((welcome->group_info = usi_group_info_read (&reader, error)) == NULL ||
      !usi_wire_read_u32 (&reader, &welcome->joiner_index, error) ||
      !usi_wire_read_fixed_into (&reader, sizeof welcome->enc, welcome->enc, error) ||
      !usi_wire_read_fixed_into (&reader, sizeof welcome->sealed_joiner_secret,
                                 welcome->sealed_joiner_secret, error) ||
      !usi_wire_read_fixed_into (&reader, sizeof welcome->signature, welcome->signature, error) ||
      !usi_wire_reader_finish (&reader, error))
    return NULL;

  return g_steal_pointer (&welcome);
}

/* info = EncryptContext { V<"usi 1.0 WelcomeSecret">, V<room_id ‖ u64 epoch ‖ u32 joiner_index> },
 * aad = SHA-256(version ‖ GroupInfo ‖ joiner_index). */
static gboolean
build_seal_parameters (const UsiWelcome  *welcome,
                       GByteArray        *info,
                       guint8            *aad,
                       GError           **error)
{
  g_autoptr(GByteArray) context = g_byte_array_sized_new (USI_ROOM_ID_LENGTH + 12);
  g_autoptr(GByteArray) header = g_byte_array_sized_new (512 + welcome->group_info->roster->len * 200);
  GError *crypto_error = NULL;

  usi_wire_write_fixed (context, welcome->group_info->room_id, USI_ROOM_ID_LENGTH);
  usi_wire_write_u64 (context, welcome->group_info->epoch);
  usi_wire_write_u32 (context, welcome->joiner_index);
  usi_wire_write_string (info, WELCOME_SECRET_LABEL);
  usi_wire_write_opaque (info, context->data, context->len);

  write_header (welcome, header);
  if (!usi_hash (USI_HASH_SHA256, header->data, header->len, aad, &crypto_error))
    {
      _usi_protocol_propagate_crypto_error (error, crypto_error, USI_PROTOCOL_ERROR_MALFORMED);
      return FALSE;
    }

  return TRUE;
}

gboolean
usi_welcome_seal (UsiWelcome    *welcome,
                  const guint8  *leaf_key,
                  const guint8  *joiner_secret,
                  UsiRandom     *random,
                  GError       **error)
{
  g_autoptr(GByteArray) info = g_byte_array_sized_new (64);
  UsiHpkeParameters parameters = { USI_HPKE_MODE_BASE, };
  GError *crypto_error = NULL;
  guint8 aad[USI_HASH_LENGTH];

  g_return_val_if_fail (welcome != NULL, FALSE);
  g_return_val_if_fail (leaf_key != NULL, FALSE);
  g_return_val_if_fail (joiner_secret != NULL, FALSE);
  g_return_val_if_fail (random != NULL, FALSE);

  if (!build_seal_parameters (welcome, info, aad, error))
    return FALSE;

  parameters.info = info->data;
  parameters.info_length = info->len;
  if (!usi_hpke_seal (&parameters, random, leaf_key, NULL, aad, sizeof aad,
                      joiner_secret, USI_KEY_LENGTH, welcome->enc, welcome->sealed_joiner_secret,
                      &crypto_error))
    {
      if (g_error_matches (crypto_error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_KEY))
        _usi_protocol_propagate_crypto_error (error, crypto_error, USI_PROTOCOL_ERROR_ROSTER_INVALID);
      else
        g_propagate_error (error, crypto_error);
      return FALSE;
    }

  return TRUE;
}

gboolean
usi_welcome_open (const UsiWelcome  *welcome,
                  const guint8      *private_key,
                  guint8            *joiner_secret,
                  GError           **error)
{
  g_autoptr(GByteArray) info = g_byte_array_sized_new (64);
  UsiHpkeParameters parameters = { USI_HPKE_MODE_BASE, };
  GError *crypto_error = NULL;
  guint8 aad[USI_HASH_LENGTH];

  g_return_val_if_fail (welcome != NULL, FALSE);
  g_return_val_if_fail (private_key != NULL, FALSE);
  g_return_val_if_fail (joiner_secret != NULL, FALSE);

  if (!build_seal_parameters (welcome, info, aad, error))
    return FALSE;

  parameters.info = info->data;
  parameters.info_length = info->len;
  if (!usi_hpke_open (&parameters, welcome->enc, private_key, NULL, aad, sizeof aad,
                      welcome->sealed_joiner_secret, sizeof welcome->sealed_joiner_secret,
                      joiner_secret, &crypto_error))
    {
      g_clear_error (&crypto_error);
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED,
                           _("The welcome to this room is not sealed to your key."));
      return FALSE;
    }

  return TRUE;
}

gboolean
usi_welcome_sign (UsiWelcome   *welcome,
                  UsiIdentity  *identity,
                  GError      **error)
{
  g_autoptr(GByteArray) content = NULL;

  g_return_val_if_fail (welcome != NULL, FALSE);
  g_return_val_if_fail (identity != NULL, FALSE);

  content = encode_content (welcome);
  return usi_identity_sign (identity, WELCOME_SIGNATURE_LABEL, content->data, content->len,
                            welcome->signature, error);
}

gboolean
usi_welcome_verify (const UsiWelcome  *welcome,
                    const guint8      *identity_key,
                    GError           **error)
{
  g_autoptr(GByteArray) content = NULL;

  g_return_val_if_fail (welcome != NULL, FALSE);
  g_return_val_if_fail (identity_key != NULL, FALSE);

  content = encode_content (welcome);
  return usi_identity_verify (identity_key, WELCOME_SIGNATURE_LABEL, content->data, content->len,
                              welcome->signature, error);
}
