/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "crypto/usi-random.h"

#include "usi-identity.h"
#include "usi-invite.h"

G_BEGIN_DECLS

/* Joining a room with an invite (docs/protocol.md §5): the joiner's
 * JoinRequest, the owner's invite book that checks it, and the owner's
 * JoinRefusal.  Nothing here reads a clock: times are arguments. */

#define USI_JOIN_PASSWORD_KEY_LENGTH  32
#define USI_JOIN_PASSWORD_PSK_LENGTH  32
/* The sealed part of a request and of a refusal always has the same size,
 * whatever the name, the password or the reason. */
#define USI_JOIN_REQUEST_PLAINTEXT_LENGTH 384
#define USI_JOIN_REQUEST_LENGTH           (USI_ROOM_ID_LENGTH + USI_INVITE_ID_LENGTH + 32 + 32 + \
                                           USI_JOIN_REQUEST_PLAINTEXT_LENGTH + 16)
#define USI_JOIN_REFUSAL_PLAINTEXT_LENGTH (1 + USI_SIGNATURE_LENGTH)
#define USI_JOIN_REFUSAL_LENGTH           (USI_ROOM_ID_LENGTH + USI_INVITE_ID_LENGTH + 32 + 32 + \
                                           USI_JOIN_REFUSAL_PLAINTEXT_LENGTH + 16)
/* After this many requests for one invite that do not even decrypt, the
 * invite is burned: whoever holds its secret never fails there. */
#define USI_INVITE_BOOK_MAX_FAILED_OPENS 8

/* Room passwords ------------------------------------------------------- */

/* pw_key = scrypt (NFC (@password), salt = "usi 1.0 room password" ‖
 * @room_id, usi_scrypt_default_params), 32 bytes.  Slow on purpose: derive
 * it once per room (the joiner when it accepts the invite, the owner when
 * it sets the password) and keep it. */
gboolean        usi_join_password_key_derive       (const char          *password,
                                                    const guint8        *room_id,
                                                    guint8              *password_key,
                                                    GError             **error);
/* The external PSK the epoch key schedule mixes into psk_secret in a
 * password room: ExpandWithLabel (pw_key, "room password psk", room_id, 32). */
gboolean        usi_join_password_psk              (const guint8        *password_key,
                                                    const guint8        *room_id,
                                                    guint8              *psk,
                                                    GError             **error);

/* Join requests -------------------------------------------------------- */

/* A JoinRequest: what the relay sees ({room id, invite id, enc, the
 * joiner's leaf key, ciphertext}) and nothing more.  The joiner builds one
 * with usi_join_request_new() and keeps it until the answer; the owner and
 * the relay get one from usi_join_request_decode(). */
typedef struct _UsiJoinRequest UsiJoinRequest;

/* Seals the joiner's leaf node, display name (normalized first) and, when
 * the invite asks for it, the password proof to the owner's leaf key in the
 * invite, and signs it with @joiner.  @password_key is NULL when the invite
 * asks for no password (PASSWORD_REQUIRED if it does). */
UsiJoinRequest *usi_join_request_new               (UsiRandom           *random,
                                                    UsiInvite           *invite,
                                                    UsiIdentity         *joiner,
                                                    const UsiLeafSecret *joiner_leaf,
                                                    const char          *display_name,
                                                    const guint8        *password_key,
                                                    GError             **error);
/* The USI_FRAME_JOIN_REQUEST body. */
GBytes         *usi_join_request_encode            (UsiJoinRequest      *request);
UsiJoinRequest *usi_join_request_decode            (const guint8        *body,
                                                    gsize                length,
                                                    GError             **error);
void            usi_join_request_free              (UsiJoinRequest      *request);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiJoinRequest, usi_join_request_free)

const guint8   *usi_join_request_get_room_id       (UsiJoinRequest      *request);
const guint8   *usi_join_request_get_invite_id     (UsiJoinRequest      *request);
const guint8   *usi_join_request_get_enc           (UsiJoinRequest      *request);
const guint8   *usi_join_request_get_joiner_leaf_key (UsiJoinRequest    *request);
/* TRUE once an invite book opened it with the invite's PSK: its sender
 * holds the invite secret and the joiner leaf key, so a refusal may be
 * sealed to that key.  Requests the joiner made are authenticated too. */
/* After the owner's book opened the request (even to refuse it): the
 * identity key its content names, to address the answer to at the relay;
 * NULL before.  Authenticated only when the book accepted the request. */
const guint8   *usi_join_request_get_sender_identity_key (UsiJoinRequest *request);
gboolean        usi_join_request_is_authenticated  (UsiJoinRequest      *request);

/* A joiner whose request passed every check of the invite book: what the
 * epoch code needs to add it. */
typedef struct _UsiJoiner UsiJoiner;

void               usi_joiner_free                 (UsiJoiner           *joiner);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiJoiner, usi_joiner_free)
const guint8      *usi_joiner_get_identity_key     (UsiJoiner           *joiner);
/* Verified, and its leaf key is the one that sealed the request. */
const UsiLeafNode *usi_joiner_get_leaf             (UsiJoiner           *joiner);
/* Already in the form usi_display_name_normalize() gives. */
const char        *usi_joiner_get_display_name     (UsiJoiner           *joiner);
const guint8      *usi_joiner_get_invite_id        (UsiJoiner           *joiner);

/* The invite book (owner) ---------------------------------------------- */

typedef enum
{
  USI_INVITE_STATE_UNKNOWN,   /* not in the book: never issued, revoked or pruned */
  USI_INVITE_STATE_ISSUED,    /* waiting for its one request */
  USI_INVITE_STATE_USED,      /* a request passed every check */
  USI_INVITE_STATE_BURNED,    /* a request failed after decrypting, or too many did not decrypt */
} UsiInviteState;

/* The invites an owner issued for one room, and what became of them.  Its
 * check of a join request is the authoritative one and fails closed. */
typedef struct _UsiInviteBook UsiInviteBook;

UsiInviteBook  *usi_invite_book_new                (const guint8        *room_id,
                                                    const guint8        *owner_identity_key);
void            usi_invite_book_free               (UsiInviteBook       *book);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiInviteBook, usi_invite_book_free)

/* The room's pw_key, or NULL for a room without a password.  Requests
 * opened afterwards must carry a proof for it exactly when it is set. */
void            usi_invite_book_set_password_key   (UsiInviteBook       *book,
                                                    const guint8        *password_key);
/* Records @invite (its id, PSK, owner leaf key and expiry; not its secret).
 * Fails with WRONG_ROOM or NOT_OWNER for another room or owner, NOT_ALLOWED
 * when its password flag disagrees with the book's password, DUPLICATE for
 * an id already recorded. */
gboolean        usi_invite_book_add                (UsiInviteBook       *book,
                                                    UsiInvite           *invite,
                                                    GError             **error);
/* Forgets an invite: its requests then fail as INVITE_UNKNOWN.  FALSE if
 * it was not in the book. */
gboolean        usi_invite_book_revoke             (UsiInviteBook       *book,
                                                    const guint8        *invite_id);
/* Forgets every invite whose expiry is at or before @now_ms. */
void            usi_invite_book_prune              (UsiInviteBook       *book,
                                                    guint64              now_ms);
UsiInviteState  usi_invite_book_get_state          (UsiInviteBook       *book,
                                                    const guint8        *invite_id);
/* Requests for that invite that did not decrypt (J2). */
guint           usi_invite_book_get_failed_opens   (UsiInviteBook       *book,
                                                    const guint8        *invite_id);

/* Checks @request in the order of docs/protocol.md §5.6 and returns the
 * verified joiner, marking the invite used; or fails with WRONG_ROOM,
 * INVITE_UNKNOWN, DUPLICATE (a replay of the request that used the invite),
 * INVITE_EXPIRED, INVITE_USED, DECRYPTION_FAILED, MALFORMED, TOO_LARGE,
 * BAD_SIGNATURE, PASSWORD_REQUIRED or WRONG_PASSWORD.  Every failure after the request
 * decrypted burns the invite.  @owner_leaves are the owner's leaf secrets
 * still held (the one named by the invite is used). */
UsiJoiner      *usi_invite_book_open_request       (UsiInviteBook       *book,
                                                    UsiJoinRequest      *request,
                                                    const UsiLeafSecret *owner_leaves,
                                                    gsize                n_owner_leaves,
                                                    guint64              now_ms,
                                                    GError             **error);

/* Join refusals -------------------------------------------------------- */

typedef enum
{
  USI_JOIN_REFUSAL_REFUSED           = 1,  /* the owner declined */
  USI_JOIN_REFUSAL_WRONG_PASSWORD    = 2,
  USI_JOIN_REFUSAL_PASSWORD_REQUIRED = 3,
  USI_JOIN_REFUSAL_INVITE_USED       = 4,
  USI_JOIN_REFUSAL_INVITE_EXPIRED    = 5,
  USI_JOIN_REFUSAL_INVALID_REQUEST   = 6,  /* a signature, the leaf node or the name was refused */
  USI_JOIN_REFUSAL_ROOM_FULL         = 7,
} UsiJoinRefusalReason;

/* The reason to send for a failure of usi_invite_book_open_request(). */
UsiJoinRefusalReason usi_join_refusal_reason_for_error (const GError     *error);
/* The error the joiner shows for @reason: WRONG_PASSWORD,
 * PASSWORD_REQUIRED, INVITE_USED, INVITE_EXPIRED or JOIN_REFUSED, with a
 * message saying what to do. */
void            usi_join_refusal_reason_set_error  (UsiJoinRefusalReason reason,
                                                    GError             **error);

/* The USI_FRAME_JOIN_REFUSAL body answering @request, which must be
 * authenticated (else NOT_ALLOWED): sealed to its joiner leaf key, signed
 * by @owner. */
GBytes         *usi_join_refusal_seal              (UsiRandom           *random,
                                                    UsiIdentity         *owner,
                                                    UsiJoinRequest      *request,
                                                    UsiJoinRefusalReason reason,
                                                    GError             **error);
/* The joiner's side: opens a refusal of its own @request (made from
 * @invite with @joiner_leaf) and gives the owner's reason.  Fails with
 * MALFORMED, WRONG_ROOM (it answers another request), DECRYPTION_FAILED or
 * BAD_SIGNATURE. */
gboolean        usi_join_refusal_open              (const guint8        *body,
                                                    gsize                length,
                                                    UsiInvite           *invite,
                                                    UsiJoinRequest      *request,
                                                    const UsiLeafSecret *joiner_leaf,
                                                    UsiJoinRefusalReason *reason,
                                                    GError             **error);

/* The invite book (§12): room, owner key, password key, and every entry
 * with its PSK, state, failed opens and consumed enc.  Secret bytes.
 * Restore: MALFORMED, UNSUPPORTED_VERSION. */
GBytes         *usi_invite_book_save               (UsiInviteBook       *book);
UsiInviteBook  *usi_invite_book_restore            (const guint8        *data,
                                                    gsize                length,
                                                    GError             **error);

G_END_DECLS
