/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* What two people compare to know they hold each other's real identity key.
 *
 * Safety number: libsignal's numeric fingerprint (rust/protocol/src/
 * fingerprint.rs, version 1).  Per identity:
 *     buf = SHA-512 (u16be(0) ‖ public_key ‖ stable_id ‖ public_key)
 *     then (iterations − 1) times: buf = SHA-512 (buf ‖ public_key)
 * and its 30 digits are the first 30 bytes of buf read as six 5-byte
 * big-endian integers, each mod 100000, printed as five zero-padded digits.
 * The safety number is both identities' 30 digits concatenated, the smaller
 * string first, so both sides compute the same 60 digits.  Usi feeds the
 * 32-byte Ed25519 identity key as public_key and the room-independent user
 * id as stable_id; the vector test feeds libsignal's serialized keys.
 *
 * Emoji comparison string: seven emoji out of a fixed table of 64, for a
 * quick check when reading 60 digits aloud is too much.  Each identity is
 * encoded as
 *     E = u16be(len(public_key)) ‖ public_key ‖ u16be(len(stable_id)) ‖ stable_id
 * the two encodings are sorted (bytewise, a prefix first), so the order of
 * the arguments does not matter, and
 *     okm = HKDF-SHA-256 (salt = none, ikm = E_low ‖ E_high,
 *                         info = "usi safety emoji v1", L = 6)
 * whose first 42 bits, big-endian, give seven 6-bit indices into the table.
 * It carries only 42 bits: finding a second key that gives the same seven
 * emoji for one given pair takes about 2^42 key generations, which a
 * determined attacker can afford.  The 60 digits (about 100 bits per
 * identity, iterated) are the real check; the emoji are a convenience.
 */

#define USI_SAFETY_NUMBER_ITERATIONS   5200
#define USI_SAFETY_NUMBER_DIGITS       60
#define USI_SAFETY_NUMBER_GROUPS       12
#define USI_SAFETY_NUMBER_GROUP_DIGITS 5
#define USI_SAFETY_EMOJI_COUNT         7
#define USI_SAFETY_EMOJI_TABLE_SIZE    64
/* Limits on what an identity may contain (both are encoded with 16-bit
 * lengths, and neither is ever large in practice). */
#define USI_SAFETY_MAX_KEY_LENGTH      256
#define USI_SAFETY_MAX_STABLE_ID_LENGTH 1024

typedef struct
{
  const guint8 *public_key;
  gsize         public_key_length;
  const guint8 *stable_id;
  gsize         stable_id_length;
} UsiSafetyIdentity;

typedef struct
{
  const char *emoji;  /* UTF-8, one emoji without variation selectors */
  const char *name;   /* its English name, e.g. "Dog" */
} UsiSafetyEmoji;

/* The 60-digit safety number of two identities (in either order), as a
 * newly allocated string of USI_SAFETY_NUMBER_DIGITS ASCII digits.  Fails
 * with USI_CRYPTO_ERROR_INVALID_ARGUMENT when a key is empty or a key or id
 * is longer than the limits above. */
char                 *usi_safety_number_compute                 (const UsiSafetyIdentity  *a,
                                                                 const UsiSafetyIdentity  *b,
                                                                 GError                  **error);
/* The same with another iteration count: for known-answer tests only. */
char                 *usi_safety_number_compute_with_iterations (const UsiSafetyIdentity  *a,
                                                                 const UsiSafetyIdentity  *b,
                                                                 guint                     iterations,
                                                                 GError                  **error);
/* Splits a 60-digit safety number into its 12 groups of five digits
 * (NULL-terminated); NULL if @safety_number is not exactly 60 ASCII digits. */
char                **usi_safety_number_split                   (const char               *safety_number);
/* The 12 groups joined by single spaces, for display and copying. */
char                 *usi_safety_number_format                  (const char               *safety_number);

/* Fills @emoji with the seven emoji of two identities (in either order). */
gboolean              usi_safety_emoji_compute                  (const UsiSafetyIdentity  *a,
                                                                 const UsiSafetyIdentity  *b,
                                                                 const UsiSafetyEmoji    **emoji,
                                                                 GError                  **error);
/* The seven emoji with their names, e.g. "🐶 Dog · 🔑 Key · …", newly allocated. */
char                 *usi_safety_emoji_compute_string           (const UsiSafetyIdentity  *a,
                                                                 const UsiSafetyIdentity  *b,
                                                                 GError                  **error);
/* Entry @index (below USI_SAFETY_EMOJI_TABLE_SIZE) of the fixed table. */
const UsiSafetyEmoji *usi_safety_emoji_get                      (guint                     index);

G_END_DECLS
