/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Joining a room: the joiner's request, the owner's check of it and the
 * owner's refusal.  The owner's check is the authoritative one and fails
 * closed; the relay forwards bytes it cannot read and, whatever the outcome,
 * sees messages of one fixed size.  No I/O, no clock here. */

#define G_LOG_DOMAIN "usi-protocol"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "crypto/usi-compare.h"
#include "crypto/usi-digest.h"
#include "crypto/usi-hpke.h"
#include "crypto/usi-mls-labels.h"
#include "crypto/usi-scrypt.h"
#include "crypto/usi-secret.h"

#include "usi-display-name.h"
#include "usi-epoch.h"
#include "usi-join.h"
#include "usi-protocol-error.h"
#include "usi-wire.h"

#define PASSWORD_SALT_LABEL   USI_LABEL_PREFIX "room password"
#define PASSWORD_PROOF_LABEL  USI_LABEL_PREFIX "join password proof"
#define PASSWORD_PSK_LABEL    "room password psk"
#define REQUEST_INFO_LABEL    USI_LABEL_PREFIX "join request"
#define REQUEST_TBS_LABEL     "JoinRequestTBS"
#define REFUSAL_INFO_LABEL    USI_LABEL_PREFIX "join refusal"
#define REFUSAL_TBS_LABEL     "JoinRefusalTBS"

#define PASSWORD_PROOF_LENGTH 32
#define REQUEST_CIPHERTEXT_LENGTH (USI_JOIN_REQUEST_PLAINTEXT_LENGTH + USI_HPKE_TAG_LENGTH)
#define REFUSAL_CIPHERTEXT_LENGTH (USI_JOIN_REFUSAL_PLAINTEXT_LENGTH + USI_HPKE_TAG_LENGTH)

G_STATIC_ASSERT (USI_HPKE_ENC_LENGTH == 32);
G_STATIC_ASSERT (USI_HPKE_PUBLIC_KEY_LENGTH == USI_KEY_LENGTH);
/* The largest content (a name of USI_MAX_NAME_BYTES, a proof) and the
 * signature fit the fixed plaintext. */
G_STATIC_ASSERT (USI_LEAF_NODE_ENCODED_LENGTH + 2 + USI_MAX_NAME_BYTES + 1 + PASSWORD_PROOF_LENGTH +
                 USI_SIGNATURE_LENGTH <= USI_JOIN_REQUEST_PLAINTEXT_LENGTH);

struct _UsiJoinRequest
{
  guint8   room_id[USI_ROOM_ID_LENGTH];
  guint8   invite_id[USI_INVITE_ID_LENGTH];
  guint8   enc[USI_HPKE_ENC_LENGTH];
  guint8   joiner_leaf_key[USI_KEY_LENGTH];
  guint8   ciphertext[REQUEST_CIPHERTEXT_LENGTH];
  gboolean authenticated;
  /* Once the request opened: the identity key its content names.  Only a
   * routing hint for the answer (the refusal is sealed to joiner_leaf_key
   * anyway); checked only when the request is accepted. */
  gboolean sender_identity_known;
  guint8   sender_identity_key[USI_KEY_LENGTH];
};

struct _UsiJoiner
{
  UsiLeafNode  leaf;
  char        *display_name;
  guint8       invite_id[USI_INVITE_ID_LENGTH];
};

typedef struct
{
  guint8          invite_id[USI_INVITE_ID_LENGTH];
  guint8          psk[USI_INVITE_PSK_LENGTH];
  guint8          owner_leaf_key[USI_KEY_LENGTH];
  guint64         expires_ms;
  UsiInviteState  state;
  guint           failed_opens;
  gboolean        consumed;                        /* a request decrypted: consumed_enc is set */
  guint8          consumed_enc[USI_HPKE_ENC_LENGTH];
} InviteEntry;

struct _UsiInviteBook
{
  guint8     room_id[USI_ROOM_ID_LENGTH];
  guint8     owner_identity_key[USI_KEY_LENGTH];
  gboolean   has_password;
  guint8     password_key[USI_JOIN_PASSWORD_KEY_LENGTH];
  GPtrArray *entries;                              /* InviteEntry */
};

/* Room passwords --------------------------------------------------------- */

gboolean
usi_join_password_key_derive (const char    *password,
                              const guint8  *room_id,
                              guint8        *password_key,
                              GError       **error)
{
  g_autofree char *normalized = NULL;
  guint8 salt[sizeof PASSWORD_SALT_LABEL - 1 + USI_ROOM_ID_LENGTH];
  gboolean ok;

  g_return_val_if_fail (password != NULL, FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);
  g_return_val_if_fail (password_key != NULL, FALSE);

  if (!g_utf8_validate (password, -1, NULL) || password[0] == '\0')
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                           _("The password must be non-empty text."));
      return FALSE;
    }

  /* The same password typed on another keyboard or system may arrive
   * composed differently; NFC makes it the same bytes. */
  normalized = g_utf8_normalize (password, -1, G_NORMALIZE_NFC);
  memcpy (salt, PASSWORD_SALT_LABEL, sizeof PASSWORD_SALT_LABEL - 1);
  memcpy (salt + sizeof PASSWORD_SALT_LABEL - 1, room_id, USI_ROOM_ID_LENGTH);

  ok = usi_scrypt (normalized, strlen (normalized), salt, sizeof salt, &usi_scrypt_default_params,
                   password_key, USI_JOIN_PASSWORD_KEY_LENGTH, error);
  usi_secret_wipe (normalized, strlen (normalized));

  return ok;
}

gboolean
usi_join_password_psk (const guint8  *password_key,
                       const guint8  *room_id,
                       guint8        *psk,
                       GError       **error)
{
  g_return_val_if_fail (password_key != NULL, FALSE);
  g_return_val_if_fail (room_id != NULL, FALSE);
  g_return_val_if_fail (psk != NULL, FALSE);

  return usi_mls_expand_with_label (USI_LABEL_PREFIX, password_key, PASSWORD_PSK_LABEL,
                                    room_id, USI_ROOM_ID_LENGTH,
                                    psk, USI_JOIN_PASSWORD_PSK_LENGTH, error);
}

/* HMAC-SHA256 (pw_key, "usi 1.0 join password proof" ‖ enc): tied to one
 * request, so a proof seen once proves nothing again. */
static gboolean
compute_password_proof (const guint8  *password_key,
                        const guint8  *enc,
                        guint8        *proof,
                        GError       **error)
{
  guint8 input[sizeof PASSWORD_PROOF_LABEL - 1 + USI_HPKE_ENC_LENGTH];

  memcpy (input, PASSWORD_PROOF_LABEL, sizeof PASSWORD_PROOF_LABEL - 1);
  memcpy (input + sizeof PASSWORD_PROOF_LABEL - 1, enc, USI_HPKE_ENC_LENGTH);

  return usi_hmac (USI_HASH_SHA256, password_key, USI_JOIN_PASSWORD_KEY_LENGTH,
                   input, sizeof input, proof, error);
}

/* Join requests ----------------------------------------------------------- */

/* info = "usi 1.0 join request" ‖ room_id ‖ owner_identity_key, and the
 * same shape for refusals. */
static GByteArray *
build_info (const char   *label,
            const guint8 *room_id,
            const guint8 *owner_identity_key)
{
  GByteArray *info = g_byte_array_new ();

  usi_wire_write_fixed (info, (const guint8 *) label, strlen (label));
  usi_wire_write_fixed (info, room_id, USI_ROOM_ID_LENGTH);
  usi_wire_write_fixed (info, owner_identity_key, USI_KEY_LENGTH);
  return info;
}

/* Everything before the ciphertext: the HPKE associated data. */
static void
write_request_header (UsiJoinRequest *request,
                      GByteArray     *out)
{
  usi_wire_write_fixed (out, request->room_id, sizeof request->room_id);
  usi_wire_write_fixed (out, request->invite_id, sizeof request->invite_id);
  usi_wire_write_fixed (out, request->enc, sizeof request->enc);
  usi_wire_write_fixed (out, request->joiner_leaf_key, sizeof request->joiner_leaf_key);
}

/* JoinRequestTBS = room_id ‖ invite_id ‖ owner_identity_key ‖ enc ‖
 * SHA-256 (JoinContent).  Binding enc makes the signature worthless in any
 * other request, even to someone who learned the owner's leaf key (HPKE's
 * Auth mode alone would let them forge a sender: key compromise
 * impersonation). */
static gboolean
build_request_tbs (UsiJoinRequest  *request,
                   const guint8    *owner_identity_key,
                   const guint8    *content,
                   gsize            content_length,
                   GByteArray      *tbs,
                   GError         **error)
{
  guint8 content_hash[USI_HASH_LENGTH];

  if (!usi_hash (USI_HASH_SHA256, content, content_length, content_hash, error))
    return FALSE;

  usi_wire_write_fixed (tbs, request->room_id, sizeof request->room_id);
  usi_wire_write_fixed (tbs, request->invite_id, sizeof request->invite_id);
  usi_wire_write_fixed (tbs, owner_identity_key, USI_KEY_LENGTH);
  usi_wire_write_fixed (tbs, request->enc, sizeof request->enc);
  usi_wire_write_fixed (tbs, content_hash, sizeof content_hash);
  return TRUE;
}

static void
set_error_from_display_name (GError     **error,
                             GError      *name_error)
{
  g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED, name_error->message);
  g_error_free (name_error);
}

UsiJoinRequest *
usi_join_request_new (UsiRandom            *random,
                      UsiInvite            *invite,
                      UsiIdentity          *joiner,
                      const UsiLeafSecret  *joiner_leaf,
                      const char           *display_name,
                      const guint8         *password_key,
                      GError              **error)
{
  g_autoptr(UsiJoinRequest) request = NULL;
  g_autoptr(UsiHpkeContext) context = NULL;
  g_autoptr(GByteArray) info = NULL;
  g_autoptr(GByteArray) content = NULL;
  g_autoptr(GByteArray) tbs = NULL;
  g_autoptr(GByteArray) header = NULL;
  g_autofree char *name = NULL;
  GError *name_error = NULL;
  guint8 plaintext[USI_JOIN_REQUEST_PLAINTEXT_LENGTH] = { 0 };
  guint8 proof[PASSWORD_PROOF_LENGTH];
  guint8 signature[USI_SIGNATURE_LENGTH];
  UsiHpkeParameters parameters = { 0 };
  gboolean password_required;
  gboolean ok;

  g_return_val_if_fail (random != NULL, NULL);
  g_return_val_if_fail (invite != NULL, NULL);
  g_return_val_if_fail (joiner != NULL, NULL);
  g_return_val_if_fail (joiner_leaf != NULL, NULL);
  g_return_val_if_fail (memcmp (joiner_leaf->node.identity_key, usi_identity_get_public_key (joiner),
                                USI_KEY_LENGTH) == 0, NULL);
  g_return_val_if_fail (display_name != NULL, NULL);

  name = usi_display_name_normalize (display_name, &name_error);
  if (name == NULL)
    {
      set_error_from_display_name (error, name_error);
      return NULL;
    }

  password_required = usi_invite_get_password_required (invite);
  if (password_required && password_key == NULL)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_PASSWORD_REQUIRED,
                           _("This room needs a password. Ask the room’s owner for it."));
      return NULL;
    }

  request = g_new0 (UsiJoinRequest, 1);
  memcpy (request->room_id, usi_invite_get_room_id (invite), sizeof request->room_id);
  memcpy (request->invite_id, usi_invite_get_id (invite), sizeof request->invite_id);
  memcpy (request->joiner_leaf_key, joiner_leaf->node.leaf_key, sizeof request->joiner_leaf_key);

  info = build_info (REQUEST_INFO_LABEL, request->room_id, usi_invite_get_owner_identity_key (invite));
  parameters.mode = USI_HPKE_MODE_AUTH_PSK;
  parameters.info = info->data;
  parameters.info_length = info->len;
  parameters.psk = usi_invite_get_psk (invite);
  parameters.psk_length = USI_INVITE_PSK_LENGTH;
  parameters.psk_id = request->invite_id;
  parameters.psk_id_length = sizeof request->invite_id;
  context = usi_hpke_setup_sender (&parameters, random, usi_invite_get_owner_leaf (invite)->leaf_key,
                                   joiner_leaf->private_key, request->enc, error);
  if (context == NULL)
    return NULL;

  /* JoinContent = LeafNode ‖ V<display_name> ‖ optional<password_proof[32]> */
  content = g_byte_array_new ();
  usi_leaf_node_write (&joiner_leaf->node, content);
  usi_wire_write_string (content, name);
  usi_wire_write_bool (content, password_required);
  if (password_required)
    {
      if (!compute_password_proof (password_key, request->enc, proof, error))
        return NULL;
      usi_wire_write_fixed (content, proof, sizeof proof);
      usi_secret_wipe (proof, sizeof proof);
    }

  tbs = g_byte_array_new ();
  if (!build_request_tbs (request, usi_invite_get_owner_identity_key (invite),
                          content->data, content->len, tbs, error) ||
      !usi_identity_sign (joiner, REQUEST_TBS_LABEL, tbs->data, tbs->len, signature, error))
    {
      usi_secret_wipe (content->data, content->len);
      return NULL;
    }

  /* JoinPlaintext = JoinContent ‖ signature ‖ zeros up to the fixed length */
  memcpy (plaintext, content->data, content->len);
  memcpy (plaintext + content->len, signature, sizeof signature);
  usi_secret_wipe (content->data, content->len);

  header = g_byte_array_new ();
  write_request_header (request, header);
  ok = usi_hpke_context_seal (context, header->data, header->len, plaintext, sizeof plaintext,
                              request->ciphertext, error);
  usi_secret_wipe (plaintext, sizeof plaintext);
  if (!ok)
    return NULL;

  request->authenticated = TRUE;
  return g_steal_pointer (&request);
}

GBytes *
usi_join_request_encode (UsiJoinRequest *request)
{
  g_autoptr(GByteArray) body = g_byte_array_sized_new (USI_JOIN_REQUEST_LENGTH);

  g_return_val_if_fail (request != NULL, NULL);

  write_request_header (request, body);
  usi_wire_write_fixed (body, request->ciphertext, sizeof request->ciphertext);

  return g_byte_array_free_to_bytes (g_steal_pointer (&body));
}

UsiJoinRequest *
usi_join_request_decode (const guint8  *body,
                         gsize          length,
                         GError       **error)
{
  g_autoptr(UsiJoinRequest) request = g_new0 (UsiJoinRequest, 1);
  UsiWireReader reader;

  g_return_val_if_fail (body != NULL || length == 0, NULL);

  usi_wire_reader_init (&reader, body, length);
  if (!usi_wire_read_fixed_into (&reader, sizeof request->room_id, request->room_id, error) ||
      !usi_wire_read_fixed_into (&reader, sizeof request->invite_id, request->invite_id, error) ||
      !usi_wire_read_fixed_into (&reader, sizeof request->enc, request->enc, error) ||
      !usi_wire_read_fixed_into (&reader, sizeof request->joiner_leaf_key, request->joiner_leaf_key, error) ||
      !usi_wire_read_fixed_into (&reader, sizeof request->ciphertext, request->ciphertext, error) ||
      !usi_wire_reader_finish (&reader, error))
    return NULL;

  return g_steal_pointer (&request);
}

void
usi_join_request_free (UsiJoinRequest *request)
{
  g_free (request);
}

const guint8 *
usi_join_request_get_room_id (UsiJoinRequest *request)
{
  g_return_val_if_fail (request != NULL, NULL);

  return request->room_id;
}

const guint8 *
usi_join_request_get_invite_id (UsiJoinRequest *request)
{
  g_return_val_if_fail (request != NULL, NULL);

  return request->invite_id;
}

const guint8 *
usi_join_request_get_enc (UsiJoinRequest *request)
{
  g_return_val_if_fail (request != NULL, NULL);

  return request->enc;
}

const guint8 *
usi_join_request_get_joiner_leaf_key (UsiJoinRequest *request)
{
  g_return_val_if_fail (request != NULL, NULL);

  return request->joiner_leaf_key;
}

const guint8 *
usi_join_request_get_sender_identity_key (UsiJoinRequest *request)
{
  g_return_val_if_fail (request != NULL, NULL);

  return request->sender_identity_known ? request->sender_identity_key : NULL;
}

gboolean
usi_join_request_is_authenticated (UsiJoinRequest *request)
{
  g_return_val_if_fail (request != NULL, FALSE);

  return request->authenticated;
}

/* Joiners ------------------------------------------------------------------ */

void
usi_joiner_free (UsiJoiner *joiner)
{
  if (joiner == NULL)
    return;

  g_free (joiner->display_name);
  g_free (joiner);
}

const guint8 *
usi_joiner_get_identity_key (UsiJoiner *joiner)
{
  g_return_val_if_fail (joiner != NULL, NULL);

  return joiner->leaf.identity_key;
}

const UsiLeafNode *
usi_joiner_get_leaf (UsiJoiner *joiner)
{
  g_return_val_if_fail (joiner != NULL, NULL);

  return &joiner->leaf;
}

const char *
usi_joiner_get_display_name (UsiJoiner *joiner)
{
  g_return_val_if_fail (joiner != NULL, NULL);

  return joiner->display_name;
}

const guint8 *
usi_joiner_get_invite_id (UsiJoiner *joiner)
{
  g_return_val_if_fail (joiner != NULL, NULL);

  return joiner->invite_id;
}

/* The invite book ------------------------------------------------------------ */

static void
invite_entry_free (gpointer data)
{
  InviteEntry *entry = data;

  usi_secret_wipe (entry, sizeof *entry);
  g_free (entry);
}

UsiInviteBook *
usi_invite_book_new (const guint8 *room_id,
                     const guint8 *owner_identity_key)
{
  UsiInviteBook *book;

  g_return_val_if_fail (room_id != NULL, NULL);
  g_return_val_if_fail (owner_identity_key != NULL, NULL);

  book = g_new0 (UsiInviteBook, 1);
  memcpy (book->room_id, room_id, sizeof book->room_id);
  memcpy (book->owner_identity_key, owner_identity_key, sizeof book->owner_identity_key);
  book->entries = g_ptr_array_new_with_free_func (invite_entry_free);
  return book;
}

void
usi_invite_book_free (UsiInviteBook *book)
{
  if (book == NULL)
    return;

  g_ptr_array_unref (book->entries);
  usi_secret_wipe (book, sizeof *book);
  g_free (book);
}

void
usi_invite_book_set_password_key (UsiInviteBook *book,
                                  const guint8  *password_key)
{
  g_return_if_fail (book != NULL);

  book->has_password = password_key != NULL;
  if (password_key != NULL)
    memcpy (book->password_key, password_key, sizeof book->password_key);
  else
    usi_secret_wipe (book->password_key, sizeof book->password_key);
}

static InviteEntry *
lookup_entry (UsiInviteBook *book,
              const guint8  *invite_id,
              guint         *index)
{
  for (guint i = 0; i < book->entries->len; i++)
    {
      InviteEntry *entry = g_ptr_array_index (book->entries, i);

      if (memcmp (entry->invite_id, invite_id, sizeof entry->invite_id) == 0)
        {
          if (index != NULL)
            *index = i;
          return entry;
        }
    }

  return NULL;
}

gboolean
usi_invite_book_add (UsiInviteBook  *book,
                     UsiInvite      *invite,
                     GError        **error)
{
  InviteEntry *entry;

  g_return_val_if_fail (book != NULL, FALSE);
  g_return_val_if_fail (invite != NULL, FALSE);

  if (memcmp (usi_invite_get_room_id (invite), book->room_id, sizeof book->room_id) != 0)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_ROOM,
                           _("The invite is for another room."));
      return FALSE;
    }
  if (memcmp (usi_invite_get_owner_identity_key (invite), book->owner_identity_key,
              sizeof book->owner_identity_key) != 0)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_OWNER,
                           _("The invite names another owner."));
      return FALSE;
    }
  if (usi_invite_get_password_required (invite) != book->has_password)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_ALLOWED,
                           book->has_password
                           ? _("The room has a password: its invites must ask for it.")
                           : _("The room has no password: its invites cannot ask for one."));
      return FALSE;
    }
  if (lookup_entry (book, usi_invite_get_id (invite), NULL) != NULL)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DUPLICATE,
                           _("The invite is already recorded."));
      return FALSE;
    }

  entry = g_new0 (InviteEntry, 1);
  memcpy (entry->invite_id, usi_invite_get_id (invite), sizeof entry->invite_id);
  memcpy (entry->psk, usi_invite_get_psk (invite), sizeof entry->psk);
  memcpy (entry->owner_leaf_key, usi_invite_get_owner_leaf (invite)->leaf_key, sizeof entry->owner_leaf_key);
  entry->expires_ms = usi_invite_get_expires_ms (invite);
  entry->state = USI_INVITE_STATE_ISSUED;
  g_ptr_array_add (book->entries, entry);

  return TRUE;
}

gboolean
usi_invite_book_revoke (UsiInviteBook *book,
                        const guint8  *invite_id)
{
  guint index;

  g_return_val_if_fail (book != NULL, FALSE);
  g_return_val_if_fail (invite_id != NULL, FALSE);

  if (lookup_entry (book, invite_id, &index) == NULL)
    return FALSE;

  g_ptr_array_remove_index (book->entries, index);
  return TRUE;
}

void
usi_invite_book_prune (UsiInviteBook *book,
                       guint64        now_ms)
{
  g_return_if_fail (book != NULL);

  for (guint i = book->entries->len; i > 0; i--)
    {
      InviteEntry *entry = g_ptr_array_index (book->entries, i - 1);

      if (now_ms >= entry->expires_ms)
        g_ptr_array_remove_index (book->entries, i - 1);
    }
}

UsiInviteState
usi_invite_book_get_state (UsiInviteBook *book,
                           const guint8  *invite_id)
{
  InviteEntry *entry;

  g_return_val_if_fail (book != NULL, USI_INVITE_STATE_UNKNOWN);
  g_return_val_if_fail (invite_id != NULL, USI_INVITE_STATE_UNKNOWN);

  entry = lookup_entry (book, invite_id, NULL);
  return entry != NULL ? entry->state : USI_INVITE_STATE_UNKNOWN;
}

guint
usi_invite_book_get_failed_opens (UsiInviteBook *book,
                                  const guint8  *invite_id)
{
  InviteEntry *entry;

  g_return_val_if_fail (book != NULL, 0);
  g_return_val_if_fail (invite_id != NULL, 0);

  entry = lookup_entry (book, invite_id, NULL);
  return entry != NULL ? entry->failed_opens : 0;
}

static const UsiLeafSecret *
find_owner_leaf (const UsiLeafSecret *owner_leaves,
                 gsize                n_owner_leaves,
                 const guint8        *leaf_key)
{
  for (gsize i = 0; i < n_owner_leaves; i++)
    if (memcmp (owner_leaves[i].node.leaf_key, leaf_key, USI_KEY_LENGTH) == 0)
      return &owner_leaves[i];

  return NULL;
}

/* HPKE OpenAuthPSK of the request with the invite's PSK; @plaintext gets
 * USI_JOIN_REQUEST_PLAINTEXT_LENGTH bytes. */
static gboolean
open_request (UsiInviteBook        *book,
              InviteEntry          *entry,
              UsiJoinRequest       *request,
              const UsiLeafSecret  *owner_leaf,
              guint8               *plaintext,
              GError              **error)
{
  g_autoptr(GByteArray) info = build_info (REQUEST_INFO_LABEL, book->room_id, book->owner_identity_key);
  g_autoptr(GByteArray) header = g_byte_array_new ();
  UsiHpkeParameters parameters = { 0 };
  GError *crypto_error = NULL;

  parameters.mode = USI_HPKE_MODE_AUTH_PSK;
  parameters.info = info->data;
  parameters.info_length = info->len;
  parameters.psk = entry->psk;
  parameters.psk_length = sizeof entry->psk;
  parameters.psk_id = entry->invite_id;
  parameters.psk_id_length = sizeof entry->invite_id;
  write_request_header (request, header);

  if (!usi_hpke_open (&parameters, request->enc, owner_leaf->private_key, request->joiner_leaf_key,
                      header->data, header->len, request->ciphertext, sizeof request->ciphertext,
                      plaintext, &crypto_error))
    {
      _usi_protocol_propagate_crypto_error (error, crypto_error, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
      return FALSE;
    }

  /* JoinContent starts with the joiner's LeafNode, which starts with its
   * identity key. */
  memcpy (request->sender_identity_key, plaintext, USI_KEY_LENGTH);
  request->sender_identity_known = TRUE;

  return TRUE;
}

/* For an invite that can no longer be used: the request is opened only to
 * learn whether its sender holds the secret, so that the owner may tell it
 * why (a refusal); nothing in it is used and the book does not change. */
static void
authenticate_for_refusal (UsiInviteBook       *book,
                          InviteEntry         *entry,
                          UsiJoinRequest      *request,
                          const UsiLeafSecret *owner_leaf)
{
  guint8 plaintext[USI_JOIN_REQUEST_PLAINTEXT_LENGTH];

  if (owner_leaf != NULL && open_request (book, entry, request, owner_leaf, plaintext, NULL))
    request->authenticated = TRUE;
  usi_secret_wipe (plaintext, sizeof plaintext);
}

/* The checks after decryption, in order: encoding, leaf node, signature,
 * password, display name. */
static UsiJoiner *
check_plaintext (UsiInviteBook   *book,
                 UsiJoinRequest  *request,
                 const guint8    *plaintext,
                 GError         **error)
{
  g_autoptr(UsiJoiner) joiner = g_new0 (UsiJoiner, 1);
  g_autoptr(GByteArray) tbs = g_byte_array_new ();
  g_autofree char *name = NULL;
  g_autofree char *normalized = NULL;
  GError *name_error = NULL;
  UsiWireReader reader;
  gboolean has_proof;
  guint8 proof[PASSWORD_PROOF_LENGTH] = { 0 };
  guint8 expected_proof[PASSWORD_PROOF_LENGTH];
  const guint8 *signature;
  const guint8 *padding;
  gsize content_length, padding_length;
  gboolean proof_ok;

  usi_wire_reader_init (&reader, plaintext, USI_JOIN_REQUEST_PLAINTEXT_LENGTH);
  if (!usi_leaf_node_read (&reader, &joiner->leaf, error) ||
      !usi_wire_read_string_dup (&reader, USI_MAX_NAME_BYTES, &name, error) ||
      !usi_wire_read_bool (&reader, &has_proof, error) ||
      (has_proof && !usi_wire_read_fixed_into (&reader, sizeof proof, proof, error)))
    return NULL;
  content_length = reader.offset;
  if (!usi_wire_read_fixed (&reader, USI_SIGNATURE_LENGTH, &signature, error))
    return NULL;
  padding_length = reader.length - reader.offset;
  if (!usi_wire_read_fixed (&reader, padding_length, &padding, error) ||
      !usi_wire_reader_finish (&reader, error))
    return NULL;
  for (gsize i = 0; i < padding_length; i++)
    if (padding[i] != 0)
      {
        g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                             _("Malformed data: the padding of a join request is not zero."));
        return NULL;
      }

  if (!usi_leaf_node_verify (&joiner->leaf, error))
    return NULL;
  if (memcmp (joiner->leaf.leaf_key, request->joiner_leaf_key, USI_KEY_LENGTH) != 0)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_BAD_SIGNATURE,
                           _("The join request was sealed with a key its leaf node does not name."));
      return NULL;
    }
  if (!build_request_tbs (request, book->owner_identity_key, plaintext, content_length, tbs, error) ||
      !usi_identity_verify (joiner->leaf.identity_key, REQUEST_TBS_LABEL, tbs->data, tbs->len,
                            signature, error))
    return NULL;

  if (book->has_password)
    {
      if (!has_proof)
        {
          g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_PASSWORD_REQUIRED,
                               _("The join request does not prove the room password."));
          return NULL;
        }
      if (!compute_password_proof (book->password_key, request->enc, expected_proof, error))
        return NULL;
      proof_ok = usi_crypto_equal (proof, expected_proof, sizeof proof);
      usi_secret_wipe (proof, sizeof proof);
      usi_secret_wipe (expected_proof, sizeof expected_proof);
      if (!proof_ok)
        {
          g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_PASSWORD,
                               _("The join request was made with a wrong room password."));
          return NULL;
        }
    }
  usi_secret_wipe (proof, sizeof proof);

  /* The sender's Usi normalizes the name before sending; anything else is
   * refused rather than repaired, so every member sees the bytes the joiner
   * signed. */
  normalized = usi_display_name_normalize (name, &name_error);
  if (normalized == NULL)
    {
      set_error_from_display_name (error, name_error);
      return NULL;
    }
  if (strcmp (normalized, name) != 0)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                           _("The joiner’s name is not in its normal form."));
      return NULL;
    }

  joiner->display_name = g_steal_pointer (&name);
  memcpy (joiner->invite_id, request->invite_id, sizeof joiner->invite_id);
  return g_steal_pointer (&joiner);
}

UsiJoiner *
usi_invite_book_open_request (UsiInviteBook        *book,
                              UsiJoinRequest       *request,
                              const UsiLeafSecret  *owner_leaves,
                              gsize                 n_owner_leaves,
                              guint64               now_ms,
                              GError              **error)
{
  g_autoptr(UsiJoiner) joiner = NULL;
  const UsiLeafSecret *owner_leaf;
  InviteEntry *entry;
  guint8 plaintext[USI_JOIN_REQUEST_PLAINTEXT_LENGTH];

  g_return_val_if_fail (book != NULL, NULL);
  g_return_val_if_fail (request != NULL, NULL);
  g_return_val_if_fail (owner_leaves != NULL || n_owner_leaves == 0, NULL);

  if (memcmp (request->room_id, book->room_id, sizeof book->room_id) != 0)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_ROOM,
                           _("The join request is for another room."));
      return NULL;
    }

  /* Fail closed: only an invite this book issued can admit anyone. */
  entry = lookup_entry (book, request->invite_id, NULL);
  if (entry == NULL)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_INVITE_UNKNOWN,
                           _("The join request names an invite this room never issued."));
      return NULL;
    }

  if (entry->consumed && usi_crypto_equal (entry->consumed_enc, request->enc, sizeof request->enc))
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DUPLICATE,
                           _("The join request was already received."));
      return NULL;
    }

  owner_leaf = find_owner_leaf (owner_leaves, n_owner_leaves, entry->owner_leaf_key);

  if (now_ms >= entry->expires_ms)
    {
      authenticate_for_refusal (book, entry, request, owner_leaf);
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_INVITE_EXPIRED,
                           _("The join request uses an invite that has expired."));
      return NULL;
    }

  if (entry->state != USI_INVITE_STATE_ISSUED)
    {
      authenticate_for_refusal (book, entry, request, owner_leaf);
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_INVITE_USED,
                           _("The join request uses an invite that was already used."));
      return NULL;
    }

  if (owner_leaf == NULL)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_DECRYPTION_FAILED,
                           _("The leaf key this invite was issued with is no longer held."));
      return NULL;
    }

  if (!open_request (book, entry, request, owner_leaf, plaintext, error))
    {
      usi_secret_wipe (plaintext, sizeof plaintext);
      entry->failed_opens++;
      if (entry->failed_opens >= USI_INVITE_BOOK_MAX_FAILED_OPENS)
        entry->state = USI_INVITE_STATE_BURNED;
      return NULL;
    }

  /* From here on the sender holds the invite secret: whatever happens,
   * this was the invite's one use. */
  request->authenticated = TRUE;
  entry->consumed = TRUE;
  memcpy (entry->consumed_enc, request->enc, sizeof entry->consumed_enc);

  joiner = check_plaintext (book, request, plaintext, error);
  usi_secret_wipe (plaintext, sizeof plaintext);
  entry->state = joiner != NULL ? USI_INVITE_STATE_USED : USI_INVITE_STATE_BURNED;

  return g_steal_pointer (&joiner);
}

/* Join refusals ---------------------------------------------------------------- */

static gboolean
refusal_reason_is_known (guint reason)
{
  return reason >= USI_JOIN_REFUSAL_REFUSED && reason <= USI_JOIN_REFUSAL_ROOM_FULL;
}

UsiJoinRefusalReason
usi_join_refusal_reason_for_error (const GError *error)
{
  g_return_val_if_fail (error != NULL, USI_JOIN_REFUSAL_REFUSED);

  if (error->domain != USI_PROTOCOL_ERROR)
    return USI_JOIN_REFUSAL_REFUSED;

  switch (error->code)
    {
    case USI_PROTOCOL_ERROR_WRONG_PASSWORD:
      return USI_JOIN_REFUSAL_WRONG_PASSWORD;
    case USI_PROTOCOL_ERROR_PASSWORD_REQUIRED:
      return USI_JOIN_REFUSAL_PASSWORD_REQUIRED;
    case USI_PROTOCOL_ERROR_INVITE_USED:
      return USI_JOIN_REFUSAL_INVITE_USED;
    case USI_PROTOCOL_ERROR_INVITE_EXPIRED:
      return USI_JOIN_REFUSAL_INVITE_EXPIRED;
    case USI_PROTOCOL_ERROR_MALFORMED:
    case USI_PROTOCOL_ERROR_TOO_LARGE:
    case USI_PROTOCOL_ERROR_BAD_SIGNATURE:
      return USI_JOIN_REFUSAL_INVALID_REQUEST;
    default:
      return USI_JOIN_REFUSAL_REFUSED;
    }
}

void
usi_join_refusal_reason_set_error (UsiJoinRefusalReason   reason,
                                   GError               **error)
{
  switch (reason)
    {
    case USI_JOIN_REFUSAL_WRONG_PASSWORD:
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_PASSWORD,
                           _("The room password was wrong. This invite can no longer be used: ask the room’s owner for a new one."));
      break;
    case USI_JOIN_REFUSAL_PASSWORD_REQUIRED:
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_PASSWORD_REQUIRED,
                           _("This room now needs a password. Ask the room’s owner for it and for a new invite."));
      break;
    case USI_JOIN_REFUSAL_INVITE_USED:
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_INVITE_USED,
                           _("This invite was already used. Ask the room’s owner for a new one."));
      break;
    case USI_JOIN_REFUSAL_INVITE_EXPIRED:
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_INVITE_EXPIRED,
                           _("This invite has expired. Ask the room’s owner for a new one."));
      break;
    case USI_JOIN_REFUSAL_INVALID_REQUEST:
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_JOIN_REFUSED,
                           _("The room’s owner could not accept your request: your name or keys were refused. Ask the owner for a new invite."));
      break;
    case USI_JOIN_REFUSAL_ROOM_FULL:
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_JOIN_REFUSED,
                           _("The room is full."));
      break;
    case USI_JOIN_REFUSAL_REFUSED:
    default:
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_JOIN_REFUSED,
                           _("The room’s owner declined your request to join."));
      break;
    }
}

/* room_id ‖ invite_id ‖ request_enc ‖ enc: what the relay sees, and the
 * HPKE associated data. */
static void
write_refusal_header (const guint8 *room_id,
                      const guint8 *invite_id,
                      const guint8 *request_enc,
                      const guint8 *enc,
                      GByteArray   *out)
{
  usi_wire_write_fixed (out, room_id, USI_ROOM_ID_LENGTH);
  usi_wire_write_fixed (out, invite_id, USI_INVITE_ID_LENGTH);
  usi_wire_write_fixed (out, request_enc, USI_HPKE_ENC_LENGTH);
  usi_wire_write_fixed (out, enc, USI_HPKE_ENC_LENGTH);
}

/* JoinRefusalTBS = room_id ‖ invite_id ‖ owner_identity_key ‖ request_enc ‖
 * joiner_leaf_key ‖ enc ‖ u8 reason */
static void
write_refusal_tbs (UsiJoinRequest *request,
                   const guint8   *owner_identity_key,
                   const guint8   *enc,
                   guint8          reason,
                   GByteArray     *out)
{
  usi_wire_write_fixed (out, request->room_id, sizeof request->room_id);
  usi_wire_write_fixed (out, request->invite_id, sizeof request->invite_id);
  usi_wire_write_fixed (out, owner_identity_key, USI_KEY_LENGTH);
  usi_wire_write_fixed (out, request->enc, sizeof request->enc);
  usi_wire_write_fixed (out, request->joiner_leaf_key, sizeof request->joiner_leaf_key);
  usi_wire_write_fixed (out, enc, USI_HPKE_ENC_LENGTH);
  usi_wire_write_u8 (out, reason);
}

GBytes *
usi_join_refusal_seal (UsiRandom             *random,
                       UsiIdentity           *owner,
                       UsiJoinRequest        *request,
                       UsiJoinRefusalReason   reason,
                       GError               **error)
{
  g_autoptr(UsiHpkeContext) context = NULL;
  g_autoptr(GByteArray) info = NULL;
  g_autoptr(GByteArray) tbs = g_byte_array_new ();
  g_autoptr(GByteArray) body = g_byte_array_sized_new (USI_JOIN_REFUSAL_LENGTH);
  const guint8 *owner_identity_key;
  UsiHpkeParameters parameters = { 0 };
  guint8 enc[USI_HPKE_ENC_LENGTH];
  guint8 plaintext[USI_JOIN_REFUSAL_PLAINTEXT_LENGTH];
  guint8 ciphertext[REFUSAL_CIPHERTEXT_LENGTH];

  g_return_val_if_fail (random != NULL, NULL);
  g_return_val_if_fail (owner != NULL, NULL);
  g_return_val_if_fail (request != NULL, NULL);
  g_return_val_if_fail (refusal_reason_is_known (reason), NULL);

  /* A refusal goes only to whoever proved it holds the invite secret: the
   * relay, which can forge requests with its own leaf key, must never get
   * one it can open and learn the invite's state from. */
  if (!request->authenticated)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_NOT_ALLOWED,
                           _("Only a join request that decrypted with its invite can be answered."));
      return NULL;
    }

  owner_identity_key = usi_identity_get_public_key (owner);
  info = build_info (REFUSAL_INFO_LABEL, request->room_id, owner_identity_key);
  parameters.mode = USI_HPKE_MODE_BASE;
  parameters.info = info->data;
  parameters.info_length = info->len;
  context = usi_hpke_setup_sender (&parameters, random, request->joiner_leaf_key, NULL, enc, error);
  if (context == NULL)
    return NULL;

  write_refusal_tbs (request, owner_identity_key, enc, (guint8) reason, tbs);
  plaintext[0] = (guint8) reason;
  if (!usi_identity_sign (owner, REFUSAL_TBS_LABEL, tbs->data, tbs->len, plaintext + 1, error))
    return NULL;

  write_refusal_header (request->room_id, request->invite_id, request->enc, enc, body);
  if (!usi_hpke_context_seal (context, body->data, body->len, plaintext, sizeof plaintext,
                              ciphertext, error))
    return NULL;
  usi_wire_write_fixed (body, ciphertext, sizeof ciphertext);

  return g_byte_array_free_to_bytes (g_steal_pointer (&body));
}

gboolean
usi_join_refusal_open (const guint8          *body,
                       gsize                  length,
                       UsiInvite             *invite,
                       UsiJoinRequest        *request,
                       const UsiLeafSecret   *joiner_leaf,
                       UsiJoinRefusalReason  *reason,
                       GError               **error)
{
  g_autoptr(GByteArray) info = NULL;
  g_autoptr(GByteArray) header = g_byte_array_new ();
  g_autoptr(GByteArray) tbs = g_byte_array_new ();
  const guint8 *room_id, *invite_id, *request_enc, *enc, *ciphertext;
  const guint8 *owner_identity_key;
  UsiHpkeParameters parameters = { 0 };
  guint8 plaintext[USI_JOIN_REFUSAL_PLAINTEXT_LENGTH];
  GError *crypto_error = NULL;
  UsiWireReader reader;

  g_return_val_if_fail (body != NULL || length == 0, FALSE);
  g_return_val_if_fail (invite != NULL, FALSE);
  g_return_val_if_fail (request != NULL, FALSE);
  g_return_val_if_fail (joiner_leaf != NULL, FALSE);
  g_return_val_if_fail (memcmp (joiner_leaf->node.leaf_key, request->joiner_leaf_key, USI_KEY_LENGTH) == 0,
                        FALSE);
  g_return_val_if_fail (reason != NULL, FALSE);

  usi_wire_reader_init (&reader, body, length);
  if (!usi_wire_read_fixed (&reader, USI_ROOM_ID_LENGTH, &room_id, error) ||
      !usi_wire_read_fixed (&reader, USI_INVITE_ID_LENGTH, &invite_id, error) ||
      !usi_wire_read_fixed (&reader, USI_HPKE_ENC_LENGTH, &request_enc, error) ||
      !usi_wire_read_fixed (&reader, USI_HPKE_ENC_LENGTH, &enc, error) ||
      !usi_wire_read_fixed (&reader, REFUSAL_CIPHERTEXT_LENGTH, &ciphertext, error) ||
      !usi_wire_reader_finish (&reader, error))
    return FALSE;

  if (memcmp (room_id, request->room_id, USI_ROOM_ID_LENGTH) != 0 ||
      memcmp (invite_id, request->invite_id, USI_INVITE_ID_LENGTH) != 0 ||
      memcmp (request_enc, request->enc, USI_HPKE_ENC_LENGTH) != 0)
    {
      g_set_error_literal (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_WRONG_ROOM,
                           _("The answer is for another join request."));
      return FALSE;
    }

  owner_identity_key = usi_invite_get_owner_identity_key (invite);
  info = build_info (REFUSAL_INFO_LABEL, request->room_id, owner_identity_key);
  parameters.mode = USI_HPKE_MODE_BASE;
  parameters.info = info->data;
  parameters.info_length = info->len;
  write_refusal_header (room_id, invite_id, request_enc, enc, header);
  if (!usi_hpke_open (&parameters, enc, joiner_leaf->private_key, NULL, header->data, header->len,
                      ciphertext, REFUSAL_CIPHERTEXT_LENGTH, plaintext, &crypto_error))
    {
      _usi_protocol_propagate_crypto_error (error, crypto_error, USI_PROTOCOL_ERROR_DECRYPTION_FAILED);
      return FALSE;
    }

  write_refusal_tbs (request, owner_identity_key, enc, plaintext[0], tbs);
  if (!usi_identity_verify (owner_identity_key, REFUSAL_TBS_LABEL, tbs->data, tbs->len,
                            plaintext + 1, error))
    return FALSE;

  if (!refusal_reason_is_known (plaintext[0]))
    {
      g_set_error (error, USI_PROTOCOL_ERROR, USI_PROTOCOL_ERROR_MALFORMED,
                   _("The join refusal gives a reason this version of Usi does not know (%u)."),
                   (guint) plaintext[0]);
      return FALSE;
    }

  *reason = plaintext[0];
  return TRUE;
}

/* Saved state (docs/protocol.md §12) ------------------------------------------
 *
 *   u8 kind = 7 ‖ u8 version = 1 ‖ room_id[16] ‖ owner_identity_key[32] ‖
 *   optional<password_key[32]> ‖ V<Entry>
 *   Entry = invite_id[16] ‖ psk[32] ‖ owner_leaf_key[32] ‖ u64 expires_ms ‖
 *           u8 state ‖ u8 failed_opens ‖ optional<consumed_enc[32]>
 *
 * Entries in the book's order. */

#define STATE_ENTRY_MAX_LENGTH (USI_INVITE_ID_LENGTH + USI_INVITE_PSK_LENGTH + USI_KEY_LENGTH + 8 + 1 + 1 + \
                                1 + USI_HPKE_ENC_LENGTH)

GBytes *
usi_invite_book_save (UsiInviteBook *book)
{
  GByteArray *entries;
  GByteArray *out;
  gsize capacity;

  g_return_val_if_fail (book != NULL, NULL);

  entries = _usi_state_buffer_new (book->entries->len * STATE_ENTRY_MAX_LENGTH);
  for (guint i = 0; i < book->entries->len; i++)
    {
      const InviteEntry *entry = g_ptr_array_index (book->entries, i);

      usi_wire_write_fixed (entries, entry->invite_id, sizeof entry->invite_id);
      usi_wire_write_fixed (entries, entry->psk, sizeof entry->psk);
      usi_wire_write_fixed (entries, entry->owner_leaf_key, sizeof entry->owner_leaf_key);
      usi_wire_write_u64 (entries, entry->expires_ms);
      usi_wire_write_u8 (entries, (guint8) entry->state);
      usi_wire_write_u8 (entries, (guint8) entry->failed_opens);
      usi_wire_write_bool (entries, entry->consumed);
      if (entry->consumed)
        usi_wire_write_fixed (entries, entry->consumed_enc, sizeof entry->consumed_enc);
    }

  capacity = 2 + USI_ROOM_ID_LENGTH + USI_KEY_LENGTH + 1 + USI_JOIN_PASSWORD_KEY_LENGTH + 4 + entries->len;
  out = _usi_state_writer_new (USI_STATE_KIND_INVITE_BOOK, capacity);
  usi_wire_write_fixed (out, book->room_id, sizeof book->room_id);
  usi_wire_write_fixed (out, book->owner_identity_key, sizeof book->owner_identity_key);
  usi_wire_write_bool (out, book->has_password);
  if (book->has_password)
    usi_wire_write_fixed (out, book->password_key, sizeof book->password_key);
  usi_wire_write_opaque (out, entries->data, entries->len);

  _usi_state_buffer_free (entries);
  return _usi_state_writer_finish (out, capacity);
}

static guint
invite_id_hash (gconstpointer key)
{
  const guint8 *id = key;

  /* Invite ids are random: their first bytes are a hash already. */
  return (guint) id[0] << 24 | (guint) id[1] << 16 | (guint) id[2] << 8 | id[3];
}

static gboolean
invite_id_equal (gconstpointer a,
                 gconstpointer b)
{
  return memcmp (a, b, USI_INVITE_ID_LENGTH) == 0;
}

/* What usi_invite_book_open_request() can leave behind: an issued invite
 * not consumed and below the failure limit; a used one consumed; the
 * failure limit reached only by a burned invite that never decrypted. */
static gboolean
entry_is_consistent (const InviteEntry *entry)
{
  switch (entry->state)
    {
    case USI_INVITE_STATE_ISSUED:
      return !entry->consumed && entry->failed_opens < USI_INVITE_BOOK_MAX_FAILED_OPENS;
    case USI_INVITE_STATE_USED:
      return entry->consumed && entry->failed_opens < USI_INVITE_BOOK_MAX_FAILED_OPENS;
    case USI_INVITE_STATE_BURNED:
      return entry->failed_opens < USI_INVITE_BOOK_MAX_FAILED_OPENS
             ? TRUE : entry->failed_opens == USI_INVITE_BOOK_MAX_FAILED_OPENS && !entry->consumed;
    case USI_INVITE_STATE_UNKNOWN:
    default:
      return FALSE;
    }
}

UsiInviteBook *
usi_invite_book_restore (const guint8  *data,
                         gsize          length,
                         GError       **error)
{
  g_autoptr(UsiInviteBook) book = NULL;
  g_autoptr(GHashTable) ids = NULL;
  const guint8 *room_id, *owner_identity_key;
  UsiWireReader reader, entries;

  g_return_val_if_fail (data != NULL || length == 0, NULL);

  if (!_usi_state_reader_open (&reader, data, length, USI_STATE_KIND_INVITE_BOOK, error) ||
      !usi_wire_read_fixed (&reader, USI_ROOM_ID_LENGTH, &room_id, error) ||
      !usi_wire_read_fixed (&reader, USI_KEY_LENGTH, &owner_identity_key, error))
    return NULL;

  book = usi_invite_book_new (room_id, owner_identity_key);
  if (!usi_wire_read_bool (&reader, &book->has_password, error) ||
      (book->has_password &&
       !usi_wire_read_fixed_into (&reader, sizeof book->password_key, book->password_key, error)) ||
      !usi_wire_read_vector (&reader, USI_STATE_MAX_NESTED_LENGTH, &entries, error))
    return NULL;

  ids = g_hash_table_new (invite_id_hash, invite_id_equal);
  while (!usi_wire_reader_at_end (&entries))
    {
      InviteEntry *entry = g_new0 (InviteEntry, 1);
      guint8 state, failed_opens;

      /* In the book at once, so a refusal wipes it with the others. */
      g_ptr_array_add (book->entries, entry);
      if (!usi_wire_read_fixed_into (&entries, sizeof entry->invite_id, entry->invite_id, error) ||
          !usi_wire_read_fixed_into (&entries, sizeof entry->psk, entry->psk, error) ||
          !usi_wire_read_fixed_into (&entries, sizeof entry->owner_leaf_key, entry->owner_leaf_key, error) ||
          !usi_wire_read_u64 (&entries, &entry->expires_ms, error) ||
          !usi_wire_read_u8 (&entries, &state, error) ||
          !usi_wire_read_u8 (&entries, &failed_opens, error) ||
          !usi_wire_read_bool (&entries, &entry->consumed, error) ||
          (entry->consumed &&
           !usi_wire_read_fixed_into (&entries, sizeof entry->consumed_enc, entry->consumed_enc, error)))
        return NULL;

      entry->state = state;
      entry->failed_opens = failed_opens;
      if (!entry_is_consistent (entry) || g_hash_table_contains (ids, entry->invite_id))
        {
          _usi_state_set_damaged (error);
          return NULL;
        }
      g_hash_table_add (ids, entry->invite_id);
    }

  if (!usi_wire_reader_finish (&reader, error))
    return NULL;

  return g_steal_pointer (&book);
}
