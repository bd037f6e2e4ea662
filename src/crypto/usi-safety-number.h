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
 * 32-byte Ed25519 identity key as both public_key and stable_id (Usi has no
 * accounts: a person is their identity key; docs/protocol.md §6); the vector
 * test feeds libsignal's serialized keys and ids.
 *
 * Emoji comparison string: seven emoji out of a fixed table of 64, with
 * their English names, identical on both sides.  Each identity's iterated
 * fingerprint F (the whole 64-byte buf above, after the product's
 * USI_SAFETY_NUMBER_ITERATIONS rounds) is computed, the two are sorted
 * (bytewise), so the order of the arguments does not matter, and
 *     okm = HKDF-SHA-256 (salt = none, ikm = F_low ‖ F_high,
 *                         info = "usi safety emoji v2", L = 6)
 * whose first 42 bits, big-endian, give seven 6-bit indices into the table.
 *
 * The emoji are a convenience for a quick check, NOT a verification.  They
 * carry 42 bits, and a relay that sits between two people chooses both fake
 * keys it hands out, so it only needs the two screens to match each other:
 * a birthday search over about 2^21 candidate keys per side.  Deriving the
 * emoji from the iterated chains makes every candidate cost the full
 * 5200-round SHA-512 chain (about 2^33 SHA-512 computations per side in
 * all): hours on one computer, much less on GPUs, so well within reach of a
 * determined attacker.  Marking a contact as verified must rest on the
 * 60-digit safety number, where no such shortcut exists (each half must
 * match a given identity's 30 digits, about 100 bits).  UIs should show
 * usi_safety_emoji_get_explanation() next to the emoji.
 */

#define USI_SAFETY_NUMBER_ITERATIONS   5200
#define USI_SAFETY_NUMBER_DIGITS       60
#define USI_SAFETY_NUMBER_GROUPS       12
#define USI_SAFETY_NUMBER_GROUP_DIGITS 5
#define USI_SAFETY_EMOJI_COUNT         7
#define USI_SAFETY_EMOJI_TABLE_SIZE    64
#define USI_SAFETY_EMOJI_BITS          42 /* what the seven emoji carry: too few to verify with */
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

/* Fills @emoji with the seven emoji of two identities (in either order):
 * a quick check, not a verification (see above).  Costs two fingerprint
 * chains, like usi_safety_number_compute(). */
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
/* A translated sentence for the UI to show with the emoji: they are a quick
 * check only, and verifying means comparing the 60-digit safety number. */
const char           *usi_safety_emoji_get_explanation          (void);

G_END_DECLS
