/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

/* Constants every structure of the protocol shares (docs/protocol.md §2). */

/* The prefix of every ExpandWithLabel / SignWithLabel label in the product.
 * RFC 9420's own "MLS 1.0 " is used only by the vector tests, so a Usi
 * signature can never be replayed as an MLS one or the other way round. */
#define USI_LABEL_PREFIX        "usi 1.0 "

#define USI_PROTOCOL_VERSION    1
#define USI_CIPHER_SUITE        3        /* MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519 */
#define USI_ROOM_ID_LENGTH      16
#define USI_HASH_LENGTH         32       /* SHA-256 */
#define USI_KEY_LENGTH          32       /* Ed25519 and X25519 public keys, secrets */
#define USI_SIGNATURE_LENGTH    64
#define USI_MAX_MEMBERS         256      /* rooms target ~100 members */
#define USI_MAX_NAME_BYTES      128      /* a display name's UTF-8, 32 characters at most */
