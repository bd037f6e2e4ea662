/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Application messages: sealing one with the sender's ratchet key and
 * signature, and opening one against one epoch.  A failed open must never
 * let decrypted bytes out, nor burn the key a genuine message needs.  Text is
 * carried as bytes and never interpreted here.  No I/O, no clock. */

#define G_LOG_DOMAIN "usi-protocol"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "crypto/usi-aead.h"
#include "crypto/usi-crypto-error.h"
#include "crypto/usi-digest.h"
#include "crypto/usi-secret.h"

#include "usi-display-name.h"
#include "usi-message-private.h"
#include "usi-preshared-room.h"
#include "usi-preshared-room-private.h"
#include "usi-protocol-error.h"
#include "usi-wire.h"

#define APP_MESSAGE_LABEL "AppMessageTBS"

/* Plaintexts are padded to one of these sizes, so the relay learns a
 * message's size class only.  The last holds a 64 KiB body with every other
 * field of the largest (pre-shared) content. */
static const gsize padding_buckets[] = { 256, 1024, 4096, 16 * 1024, USI_APP_MESSAGE_MAX_BUCKET };

/* A buffer that holds plaintext: wiped before it is freed.  Sized up front
 * by its users so it never reallocates (which would leave a copy behind). */
typedef GByteArray SecretBuffer;

static void
secret_buffer_free (SecretBuffer *buffer)
{
  usi_secret_wipe (buffer->data, buffer->len);
  g_byte_array_unref (buffer);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SecretBuffer, secret_buffer_free)

/* The smallest bucket that holds @length bytes; 0 when none does. */
static gsize
bucket_for (gsize length)
{
  for (guint i = 0; i < G_N_ELEMENTS (padding_buckets); i++)
    if (length <= padding_buckets[i])
      return padding_buckets[i];

  return 0;
}

static gboolean
is_bucket (gsize length)
{
  return length > 0 && bucket_for (length) == length;
}

static gboolean
is_known_content_type (guint type)
{
  return type == USI_CONTENT_TYPE_TEXT ||
         type == USI_CONTENT_TYPE_FILE_OFFER ||
         type == USI_CONTENT_TYPE_FILE_END;
}

void
usi_received_message_free (UsiReceivedMessage *message)
{
  if (message == NULL)
    return;

  g_clear_pointer (&message->sender_display_name, g_free);
  g_clear_pointer (&message->body, g_bytes_unref);
  usi_secret_wipe (message, sizeof *message);
  g_free (message);
}

static void
write_header (const UsiAppMessageHeader *header,
              GByteArray                *out)
{
  usi_wire_write_u8 (out, header->version);
  usi_wire_write_fixed (out, header->room_id, sizeof header->room_id);
  usi_wire_write_u64 (out, header->epoch);
  usi_wire_write_u32 (out, header->sender_index);
  usi_wire_write_u32 (out, header->generation);
  usi_wire_write_fixed (out, header->reuse_guard, sizeof header->reuse_guard);
}

gboolean
usi_app_message_parse (const guint8          *data,
                       gsize                  length,
                       UsiAppMessageHeader   *header,
                       const guint8         **ciphertext,
                       gsize                 *ciphertext_length,
                       GError               **error)
{
  UsiWireReader reader;

  g_return_val_if_fail (data != NULL || length == 0, FALSE);
  g_return_val_if_fail (header != NULL, FALSE);
  g_return_val_if_fail (ciphertext != NULL, FALSE);
  g_return_val_if_fail (ciphertext_length != NULL, FALSE);

  usi_wire_reader_init (&reader, data, length);
  if (!usi_wire_read_u8 (&reader, &header->version, error))
    return FALSE;
  if (header->version != USI_PROTOCOL_VERSION)
    {
      g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNSUPPORTED_VERSION,
                   _("Message version %u is not supported."), header->version);
      return FALSE;
    }

  if (!usi_wire_read_fixed_into (&reader, sizeof header->room_id, header->room_id, error) ||
      !usi_wire_read_u64 (&reader, &header->epoch, error) ||
      !usi_wire_read_u32 (&reader, &header->sender_index, error) ||
      !usi_wire_read_u32 (&reader, &header->generation, error) ||
      !usi_wire_read_fixed_into (&reader, sizeof header->reuse_guard, header->reuse_guard, error) ||
      !usi_wire_read_opaque (&reader, USI_APP_MESSAGE_MAX_BUCKET + USI_AEAD_TAG_LENGTH,
                             ciphertext, ciphertext_length, error) ||
      !usi_wire_reader_finish (&reader, error))
    return FALSE;

  /* Checked before any key is touched: this is also what refuses a
   * shortened tag (row M2). */
  if (*ciphertext_length < USI_AEAD_TAG_LENGTH ||
      !is_bucket (*ciphertext_length - USI_AEAD_TAG_LENGTH))
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                           _("The message does not have one of the allowed sizes."));
      return FALSE;
    }

  return TRUE;
}

/* AppMessageContent (§8.2).  In a pre-shared room, whose roster nobody
 * publishes, the content names its sender. */
static void
write_content (GByteArray           *out,
               guint64               sent_ms,
               UsiContentType        content_type,
               const guint8         *body,
               gsize                 body_length,
               const guint8         *prev_hash,
               const UsiRosterEntry *preshared_sender)
{
  usi_wire_write_u64 (out, sent_ms);
  usi_wire_write_u8 (out, content_type);
  usi_wire_write_opaque (out, body, body_length);
  usi_wire_write_fixed (out, prev_hash, USI_HASH_LENGTH);
  if (preshared_sender != NULL)
    {
      usi_leaf_node_write (&preshared_sender->leaf, out);
      usi_wire_write_string (out, preshared_sender->display_name);
    }
}

/* SHA-256 (GroupContext) ‖ header ‖ content: binds the signature to the
 * room, the epoch's whole state, the sender's index and generation. */
static SecretBuffer *
build_signed_content (UsiEpoch      *epoch,
                      const guint8  *header,
                      const guint8  *content,
                      gsize          content_length,
                      GError       **error)
{
  GBytes *group_context = usi_epoch_get_group_context (epoch);
  SecretBuffer *tbs = g_byte_array_sized_new (USI_HASH_LENGTH + USI_APP_MESSAGE_HEADER_LENGTH + content_length);

  g_byte_array_set_size (tbs, USI_HASH_LENGTH);
  if (!usi_hash (USI_HASH_SHA256, g_bytes_get_data (group_context, NULL), g_bytes_get_size (group_context),
                 tbs->data, error))
    {
      secret_buffer_free (tbs);
      return NULL;
    }
  g_byte_array_append (tbs, header, USI_APP_MESSAGE_HEADER_LENGTH);
  g_byte_array_append (tbs, content, content_length);
  return tbs;
}

static void
apply_reuse_guard (const guint8 *nonce,
                   const guint8 *reuse_guard,
                   guint8       *guarded)
{
  /* RFC 9420 §6.3.1: the first four bytes of the nonce XOR the guard, so a
   * generation sealed twice (a state restored from a backup) still gets two
   * different nonces. */
  memcpy (guarded, nonce, USI_AEAD_NONCE_LENGTH);
  for (guint i = 0; i < USI_APP_MESSAGE_REUSE_GUARD_LENGTH; i++)
    guarded[i] ^= reuse_guard[i];
}

static GBytes *
seal_as (UsiEpoch              *epoch,
         UsiMlsSecretTree      *ratchets,
         guint32                ratchet_leaf,
         UsiIdentity           *sender,
         guint32                sender_index,
         const UsiRosterEntry  *preshared_sender,
         UsiContentType         content_type,
         const guint8          *body,
         gsize                  body_length,
         const guint8          *prev_hash,
         guint64                sent_ms,
         UsiRandom             *random,
         guint8                *message_hash,
         GError               **error)
{
  static const guint8 no_previous[USI_HASH_LENGTH] = { 0 };
  UsiAppMessageHeader header = { 0 };
  g_autoptr(GByteArray) header_bytes = g_byte_array_sized_new (USI_APP_MESSAGE_HEADER_LENGTH);
  g_autoptr(SecretBuffer) content = NULL;
  g_autoptr(SecretBuffer) tbs = NULL;
  g_autoptr(SecretBuffer) inner = NULL;
  g_autoptr(GByteArray) frame = NULL;
  guint8 signature[USI_SIGNATURE_LENGTH];
  guint8 key[USI_AEAD_KEY_LENGTH];
  guint8 nonce[USI_AEAD_NONCE_LENGTH];
  guint8 guarded_nonce[USI_AEAD_NONCE_LENGTH];
  guint64 next_generation;
  guint32 generation;
  gsize content_length, bucket;
  gboolean sealed;

  if (!is_known_content_type (content_type))
    {
      g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNKNOWN_TYPE,
                   _("Message content type %u is not known."), (guint) content_type);
      return NULL;
    }
  if (body_length > USI_APP_MESSAGE_MAX_BODY)
    {
      g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_TOO_LARGE,
                   _("A message can hold at most %u KiB."), (guint) (USI_APP_MESSAGE_MAX_BODY / 1024));
      return NULL;
    }

  /* Randomness first: if the source fails, nothing has moved yet (row K3). */
  header.version = USI_PROTOCOL_VERSION;
  memcpy (header.room_id, usi_epoch_get_room_id (epoch), sizeof header.room_id);
  header.epoch = usi_epoch_get_number (epoch);
  header.sender_index = sender_index;
  if (!usi_random_fill (random, header.reuse_guard, sizeof header.reuse_guard, error))
    return NULL;

  /* The generation goes into the signed header, so it is read first and the
   * key taken only once the signature exists: a failure to sign does not
   * burn a generation. */
  next_generation = usi_mls_secret_tree_get_next_generation (ratchets, USI_MLS_RATCHET_APPLICATION, ratchet_leaf);
  if (next_generation > G_MAXUINT32)
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_LIMIT,
                           _("You have sent every message this epoch allows; the room needs a new epoch."));
      return NULL;
    }
  header.generation = (guint32) next_generation;
  write_header (&header, header_bytes);

  content = g_byte_array_sized_new (body_length + 1024);
  write_content (content, sent_ms, content_type, body, body_length,
                 prev_hash != NULL ? prev_hash : no_previous, preshared_sender);
  content_length = content->len;
  bucket = bucket_for (content_length + USI_SIGNATURE_LENGTH);
  g_assert (bucket != 0);

  tbs = build_signed_content (epoch, header_bytes->data, content->data, content->len, error);
  if (tbs == NULL ||
      !usi_identity_sign (sender, APP_MESSAGE_LABEL, tbs->data, tbs->len, signature, error))
    return NULL;

  if (!usi_mls_secret_tree_next_key (ratchets, USI_MLS_RATCHET_APPLICATION, ratchet_leaf,
                                     &generation, key, nonce, error))
    return NULL;
  g_assert (generation == header.generation);
  apply_reuse_guard (nonce, header.reuse_guard, guarded_nonce);

  /* content ‖ signature ‖ zeros up to the bucket, then the tag. */
  inner = g_byte_array_sized_new (bucket + USI_AEAD_TAG_LENGTH);
  g_byte_array_append (inner, content->data, content_length);
  g_byte_array_append (inner, signature, sizeof signature);
  g_byte_array_set_size (inner, bucket + USI_AEAD_TAG_LENGTH);
  memset (inner->data + content_length + sizeof signature, 0,
          inner->len - content_length - sizeof signature);

  sealed = usi_aead_seal (USI_AEAD_CHACHA20_POLY1305, key, guarded_nonce,
                          header_bytes->data, header_bytes->len,
                          inner->data, bucket, inner->data, inner->data + bucket, error);
  usi_secret_wipe (key, sizeof key);
  usi_secret_wipe (nonce, sizeof nonce);
  usi_secret_wipe (guarded_nonce, sizeof guarded_nonce);
  if (!sealed)
    return NULL;

  frame = g_byte_array_sized_new (USI_APP_MESSAGE_HEADER_LENGTH + 4 + inner->len);
  g_byte_array_append (frame, header_bytes->data, header_bytes->len);
  usi_wire_write_opaque (frame, inner->data, inner->len);

  if (message_hash != NULL &&
      !usi_hash (USI_HASH_SHA256, frame->data, frame->len, message_hash, error))
    return NULL;

  return g_byte_array_free_to_bytes (g_steal_pointer (&frame));
}

/* The roster entry of this member, which must belong to @sender. */
static const UsiRosterEntry *
lookup_own_entry (UsiEpoch     *epoch,
                  UsiIdentity  *sender,
                  GError      **error)
{
  const UsiRosterEntry *own = usi_epoch_lookup_member (epoch, usi_epoch_get_own_index (epoch));

  if (own == NULL ||
      memcmp (own->leaf.identity_key, usi_identity_get_public_key (sender), USI_KEY_LENGTH) != 0)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_MEMBER,
                           _("You are not a member of this room in its current epoch."));
      return NULL;
    }

  return own;
}

GBytes *
_usi_app_message_seal (UsiEpoch          *epoch,
                       UsiMlsSecretTree  *ratchets,
                       guint32            ratchet_leaf,
                       UsiIdentity       *sender,
                       UsiContentType     content_type,
                       const guint8      *body,
                       gsize              body_length,
                       const guint8      *prev_hash,
                       guint64            sent_ms,
                       UsiRandom         *random,
                       guint8            *message_hash,
                       GError           **error)
{
  const UsiRosterEntry *own;

  g_assert (epoch != NULL);
  g_assert (ratchets != NULL);
  g_assert (sender != NULL);
  g_assert (random != NULL);
  g_assert (body != NULL || body_length == 0);

  own = lookup_own_entry (epoch, sender, error);
  if (own == NULL)
    return NULL;

  return seal_as (epoch, ratchets, ratchet_leaf, sender, own->index,
                  usi_epoch_get_mode (epoch) == USI_ROOM_MODE_PRESHARED ? own : NULL,
                  content_type, body, body_length, prev_hash, sent_ms, random, message_hash, error);
}

/* A pre-shared epoch's ratchets are not in the epoch (§9.3). */
static gboolean
check_owned (UsiEpoch  *epoch,
             GError   **error)
{
  if (usi_epoch_get_mode (epoch) == USI_ROOM_MODE_OWNED)
    return TRUE;

  g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_ALLOWED,
                       _("Messages of a room with a pre-shared key go through its message channel."));
  return FALSE;
}

GBytes *
usi_app_message_seal (UsiEpoch        *epoch,
                      UsiIdentity     *sender,
                      UsiContentType   content_type,
                      const guint8    *body,
                      gsize            body_length,
                      const guint8    *prev_hash,
                      guint64          sent_ms,
                      UsiRandom       *random,
                      guint8          *message_hash,
                      GError         **error)
{
  g_return_val_if_fail (epoch != NULL, NULL);
  g_return_val_if_fail (sender != NULL, NULL);
  g_return_val_if_fail (body != NULL || body_length == 0, NULL);
  g_return_val_if_fail (random != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!check_owned (epoch, error))
    return NULL;

  return _usi_app_message_seal (epoch, usi_epoch_get_secret_tree (epoch), usi_epoch_get_own_index (epoch),
                                sender, content_type, body, body_length, prev_hash, sent_ms, random,
                                message_hash, error);
}

/* Looks up the key of the header's generation WITHOUT moving the ratchet,
 * translating its refusals into what they mean for a message.  The ratchet
 * moves (commit_key) only once the message has authenticated, so a forged
 * header can neither spend nor evict the key of a genuine message. */
static gboolean
peek_key (UsiMlsSecretTree           *ratchets,
          guint32                     ratchet_leaf,
          const UsiAppMessageHeader  *header,
          guint8                     *key,
          guint8                     *nonce,
          GError                    **error)
{
  GError *crypto_error = NULL;

  if (usi_mls_secret_tree_peek_key (ratchets, USI_MLS_RATCHET_APPLICATION, ratchet_leaf,
                                    header->generation, key, nonce, &crypto_error))
    return TRUE;

  if (g_error_matches (crypto_error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_KEY_CONSUMED))
    _usi_protocol_propagate_crypto_error (error, crypto_error, USI_PROTOCOL_ERROR_DUPLICATE);
  else if (g_error_matches (crypto_error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_KEY_EXPIRED))
    _usi_protocol_propagate_crypto_error (error, crypto_error, USI_PROTOCOL_ERROR_KEY_EXPIRED);
  else if (g_error_matches (crypto_error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_LIMIT))
    _usi_protocol_propagate_crypto_error (error, crypto_error, USI_PROTOCOL_ERROR_TOO_FAR_AHEAD);
  else if (g_error_matches (crypto_error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT))
    _usi_protocol_propagate_crypto_error (error, crypto_error, USI_PROTOCOL_ERROR_NOT_MEMBER);
  else
    g_propagate_error (error, crypto_error);
  return FALSE;
}

/* The message authenticated: its key is spent and the ratchet moves past it. */
static gboolean
commit_key (UsiMlsSecretTree  *ratchets,
            guint32            ratchet_leaf,
            guint32            generation,
            GError           **error)
{
  return usi_mls_secret_tree_consume_key (ratchets, USI_MLS_RATCHET_APPLICATION, ratchet_leaf,
                                          generation, error);
}

static gboolean
is_all_zero (const guint8 *data,
             gsize         length)
{
  guint8 accumulated = 0;

  for (gsize i = 0; i < length; i++)
    accumulated |= data[i];

  return accumulated == 0;
}

/* Reads the decrypted plaintext and checks it: content, padding, the
 * sender's identity (pre-shared rooms), the signature.  @entry is the
 * sender's roster entry in an owned room, NULL in a pre-shared one. */
static UsiReceivedMessage *
read_plaintext (UsiEpoch                   *epoch,
                const UsiAppMessageHeader  *header,
                const guint8               *header_bytes,
                const UsiRosterEntry       *entry,
                const SecretBuffer         *plaintext,
                GError                    **error)
{
  g_autoptr(UsiReceivedMessage) message = NULL;
  g_autoptr(SecretBuffer) tbs = NULL;
  g_autofree char *preshared_name = NULL;
  UsiWireReader reader;
  UsiLeafNode preshared_leaf;
  guint64 sent_ms;
  guint8 content_type;
  const guint8 *body, *prev_hash, *signature;
  const UsiLeafNode *sender_leaf;
  const char *display_name;
  gsize body_length, content_length;
  gboolean preshared = usi_epoch_get_mode (epoch) == USI_ROOM_MODE_PRESHARED;

  usi_wire_reader_init (&reader, plaintext->data, plaintext->len);
  if (!usi_wire_read_u64 (&reader, &sent_ms, error) ||
      !usi_wire_read_u8 (&reader, &content_type, error))
    return NULL;
  if (!is_known_content_type (content_type))
    {
      g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_UNKNOWN_TYPE,
                   _("Message content type %u is not known."), content_type);
      return NULL;
    }
  if (!usi_wire_read_opaque (&reader, USI_APP_MESSAGE_MAX_BODY, &body, &body_length, error) ||
      !usi_wire_read_fixed (&reader, USI_HASH_LENGTH, &prev_hash, error))
    return NULL;
  if (preshared &&
      (!usi_leaf_node_read (&reader, &preshared_leaf, error) ||
       !usi_wire_read_string_dup (&reader, USI_MAX_NAME_BYTES, &preshared_name, error)))
    return NULL;
  content_length = reader.offset;
  if (!usi_wire_read_fixed (&reader, USI_SIGNATURE_LENGTH, &signature, error))
    return NULL;

  /* The padding is zeros up to the smallest bucket that fits, so each
   * content has exactly one encoding and the padding carries nothing. */
  if (!is_all_zero (plaintext->data + reader.offset, plaintext->len - reader.offset) ||
      bucket_for (content_length + USI_SIGNATURE_LENGTH) != plaintext->len)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                           _("The message padding is not valid."));
      return NULL;
    }

  if (preshared)
    {
      g_autofree char *normalized = usi_display_name_normalize (preshared_name, NULL);

      if (normalized == NULL || strcmp (normalized, preshared_name) != 0)
        {
          g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                               _("The sender’s name is not a valid display name."));
          return NULL;
        }
      if (!usi_leaf_node_verify (&preshared_leaf, error))
        return NULL;
      if (usi_preshared_member_index (header->room_id, preshared_leaf.identity_key) != header->sender_index)
        {
          g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_MEMBER,
                               _("The sender claims a member number that is not its own."));
          return NULL;
        }
      sender_leaf = &preshared_leaf;
      display_name = preshared_name;
    }
  else
    {
      sender_leaf = &entry->leaf;
      display_name = entry->display_name;
    }

  tbs = build_signed_content (epoch, header_bytes, plaintext->data, content_length, error);
  if (tbs == NULL ||
      !usi_identity_verify (sender_leaf->identity_key, APP_MESSAGE_LABEL, tbs->data, tbs->len, signature, error))
    return NULL;

  message = g_new0 (UsiReceivedMessage, 1);
  message->epoch = header->epoch;
  message->sender_index = header->sender_index;
  message->generation = header->generation;
  memcpy (message->sender_identity_key, sender_leaf->identity_key, USI_KEY_LENGTH);
  message->sender_leaf = *sender_leaf;
  message->sender_display_name = g_strdup (display_name);
  message->sent_ms = sent_ms;
  message->content_type = content_type;
  message->body = usi_secret_bytes_new (body, body_length);
  memcpy (message->prev_hash, prev_hash, USI_HASH_LENGTH);
  return g_steal_pointer (&message);
}

UsiReceivedMessage *
_usi_app_message_open (UsiEpoch          *epoch,
                       UsiMlsSecretTree  *ratchets,
                       guint32            ratchet_leaf,
                       const guint8      *data,
                       gsize              length,
                       GError           **error)
{
  g_autoptr(UsiReceivedMessage) message = NULL;
  g_autoptr(SecretBuffer) plaintext = NULL;
  UsiAppMessageHeader header;
  const UsiRosterEntry *entry = NULL;
  const UsiRosterEntry *own;
  const guint8 *ciphertext;
  gsize ciphertext_length, plaintext_length;
  guint8 key[USI_AEAD_KEY_LENGTH];
  guint8 nonce[USI_AEAD_NONCE_LENGTH];
  guint8 guarded_nonce[USI_AEAD_NONCE_LENGTH];
  guint32 own_index;
  gboolean from_own_index = FALSE;
  GError *crypto_error = NULL;

  g_assert (epoch != NULL);
  g_assert (ratchets != NULL);

  if (!usi_app_message_parse (data, length, &header, &ciphertext, &ciphertext_length, error))
    return NULL;

  if (memcmp (header.room_id, usi_epoch_get_room_id (epoch), USI_ROOM_ID_LENGTH) != 0)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_ROOM,
                           _("The message belongs to another room."));
      return NULL;
    }
  if (header.epoch != usi_epoch_get_number (epoch))
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_EPOCH,
                           _("The message belongs to another epoch."));
      return NULL;
    }

  /* Our own index: a generation we have sent is our message coming back and
   * is dropped unread.  A later one was sealed under our key by a copy of us
   * from before a restore (or is forged): it is opened below, so that our
   * ratchet moves past it and we never seal that generation again. */
  own_index = usi_epoch_get_own_index (epoch);
  if (header.sender_index == own_index)
    {
      if (header.generation < usi_mls_secret_tree_get_next_generation (ratchets, USI_MLS_RATCHET_APPLICATION,
                                                                       ratchet_leaf))
        {
          g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_REFLECTED,
                               _("This is your own message coming back."));
          return NULL;
        }
      from_own_index = TRUE;
    }

  if (usi_epoch_get_mode (epoch) == USI_ROOM_MODE_OWNED)
    {
      entry = usi_epoch_lookup_member (epoch, header.sender_index);
      if (entry == NULL)
        {
          g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_MEMBER,
                       _("Member %u is not in this room’s epoch."), header.sender_index);
          return NULL;
        }
    }
  else if (header.sender_index >= USI_PRESHARED_INDEX_LIMIT)
    {
      g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_MEMBER,
                   _("Member %u cannot exist in a pre-shared-key room."), header.sender_index);
      return NULL;
    }

  if (!peek_key (ratchets, ratchet_leaf, &header, key, nonce, error))
    return NULL;
  apply_reuse_guard (nonce, header.reuse_guard, guarded_nonce);

  plaintext_length = ciphertext_length - USI_AEAD_TAG_LENGTH;
  plaintext = g_byte_array_sized_new (plaintext_length);
  g_byte_array_set_size (plaintext, plaintext_length);

  /* The header is the first USI_APP_MESSAGE_HEADER_LENGTH bytes of @data,
   * exactly as received. */
  if (!usi_aead_open (USI_AEAD_CHACHA20_POLY1305, key, guarded_nonce, data, USI_APP_MESSAGE_HEADER_LENGTH,
                      ciphertext, plaintext_length, ciphertext + plaintext_length, USI_AEAD_TAG_LENGTH,
                      plaintext->data, &crypto_error))
    {
      _usi_protocol_propagate_crypto_error (error, crypto_error, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
      goto refused;
    }

  message = read_plaintext (epoch, &header, data, entry, plaintext, error);
  if (message == NULL)
    goto refused;

  usi_secret_wipe (key, sizeof key);
  usi_secret_wipe (nonce, sizeof nonce);
  usi_secret_wipe (guarded_nonce, sizeof guarded_nonce);

  /* Authenticated and signed: only now does the ratchet move.  For our own
   * index this also moves our sending ratchet past a generation sealed by a
   * copy of us from before a restore, so we never seal it again (M13). */
  if (!commit_key (ratchets, ratchet_leaf, header.generation, error))
    return NULL;

  if (from_own_index)
    {
      own = usi_epoch_lookup_member (epoch, own_index);

      /* Only in a pre-shared room can another identity land on our index. */
      if (own == NULL || memcmp (own->leaf.identity_key, message->sender_identity_key, USI_KEY_LENGTH) != 0)
        g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_ROSTER_INVALID,
                             _("Another member of this room has the same member number as you."));
      else
        g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_REFLECTED,
                             _("This is a message you sent before your saved state was restored."));
      return NULL;
    }

  if (!usi_hash (USI_HASH_SHA256, data, length, message->message_hash, error))
    return NULL;

  return g_steal_pointer (&message);

refused:
  usi_secret_wipe (key, sizeof key);
  usi_secret_wipe (nonce, sizeof nonce);
  usi_secret_wipe (guarded_nonce, sizeof guarded_nonce);
  return NULL;
}

UsiReceivedMessage *
usi_app_message_open (UsiEpoch      *epoch,
                      const guint8  *data,
                      gsize          length,
                      GError       **error)
{
  UsiAppMessageHeader header;
  const guint8 *ciphertext;
  gsize ciphertext_length;

  g_return_val_if_fail (epoch != NULL, NULL);
  g_return_val_if_fail (data != NULL || length == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!check_owned (epoch, error) ||
      !usi_app_message_parse (data, length, &header, &ciphertext, &ciphertext_length, error))
    return NULL;

  return _usi_app_message_open (epoch, usi_epoch_get_secret_tree (epoch), header.sender_index,
                                data, length, error);
}

#ifdef USI_ENABLE_TEST_RANDOM
GBytes *
usi_app_message_seal_as_for_test (UsiEpoch        *epoch,
                                  UsiIdentity     *sender,
                                  guint32          sender_index,
                                  UsiContentType   content_type,
                                  const guint8    *body,
                                  gsize            body_length,
                                  guint64          sent_ms,
                                  UsiRandom       *random,
                                  GError         **error)
{
  const UsiRosterEntry *own = usi_epoch_lookup_member (epoch, usi_epoch_get_own_index (epoch));
  g_autoptr(UsiMlsSecretTree) preshared_ratchets = NULL;

  if (usi_epoch_get_mode (epoch) == USI_ROOM_MODE_OWNED)
    return seal_as (epoch, usi_epoch_get_secret_tree (epoch), sender_index, sender, sender_index, NULL,
                    content_type, body, body_length, NULL, sent_ms, random, NULL, error);

  /* A fresh ratchet for that index: its generation 0. */
  preshared_ratchets = _usi_preshared_sender_ratchets_new (usi_epoch_get_secrets (epoch)->encryption_secret,
                                                           sender_index, error);
  if (preshared_ratchets == NULL)
    return NULL;
  return seal_as (epoch, preshared_ratchets, 0, sender, sender_index, own,
                  content_type, body, body_length, NULL, sent_ms, random, NULL, error);
}

GBytes *
usi_app_message_reseal_for_test (UsiEpoch                *twin,
                                 const guint8            *data,
                                 gsize                    length,
                                 UsiAppMessageMutateFunc  mutate,
                                 gpointer                 user_data,
                                 GError                 **error)
{
  g_autoptr(GByteArray) plaintext = NULL;
  g_autoptr(GByteArray) frame = NULL;
  UsiAppMessageHeader header;
  UsiWireReader reader;
  const guint8 *ciphertext;
  gsize ciphertext_length, plaintext_length, signature_offset;
  guint8 key[USI_AEAD_KEY_LENGTH], nonce[USI_AEAD_NONCE_LENGTH], guarded_nonce[USI_AEAD_NONCE_LENGTH];
  guint64 ignored_u64;
  guint8 ignored_u8;
  const guint8 *ignored_bytes;
  gsize ignored_length;

  if (!usi_app_message_parse (data, length, &header, &ciphertext, &ciphertext_length, error) ||
      !peek_key (usi_epoch_get_secret_tree (twin), header.sender_index, &header, key, nonce, error))
    return NULL;
  apply_reuse_guard (nonce, header.reuse_guard, guarded_nonce);

  plaintext_length = ciphertext_length - USI_AEAD_TAG_LENGTH;
  plaintext = g_byte_array_sized_new (plaintext_length + USI_AEAD_TAG_LENGTH);
  g_byte_array_set_size (plaintext, plaintext_length);
  if (!usi_aead_open (USI_AEAD_CHACHA20_POLY1305, key, guarded_nonce, data, USI_APP_MESSAGE_HEADER_LENGTH,
                      ciphertext, plaintext_length, ciphertext + plaintext_length, USI_AEAD_TAG_LENGTH,
                      plaintext->data, error))
    return NULL;

  /* Owned-room content only: sent_ms, type, V<body>, prev_hash. */
  usi_wire_reader_init (&reader, plaintext->data, plaintext->len);
  if (!usi_wire_read_u64 (&reader, &ignored_u64, error) ||
      !usi_wire_read_u8 (&reader, &ignored_u8, error) ||
      !usi_wire_read_opaque (&reader, USI_APP_MESSAGE_MAX_BODY, &ignored_bytes, &ignored_length, error) ||
      !usi_wire_read_fixed (&reader, USI_HASH_LENGTH, &ignored_bytes, error))
    return NULL;
  signature_offset = reader.offset;

  mutate (plaintext, signature_offset, user_data);

  plaintext_length = plaintext->len;
  g_byte_array_set_size (plaintext, plaintext_length + USI_AEAD_TAG_LENGTH);
  if (!usi_aead_seal (USI_AEAD_CHACHA20_POLY1305, key, guarded_nonce, data, USI_APP_MESSAGE_HEADER_LENGTH,
                      plaintext->data, plaintext_length, plaintext->data, plaintext->data + plaintext_length,
                      error))
    return NULL;

  frame = g_byte_array_new ();
  g_byte_array_append (frame, data, USI_APP_MESSAGE_HEADER_LENGTH);
  usi_wire_write_opaque (frame, plaintext->data, plaintext->len);
  return g_byte_array_free_to_bytes (g_steal_pointer (&frame));
}
#endif
