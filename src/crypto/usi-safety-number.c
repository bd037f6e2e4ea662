/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Safety numbers (libsignal's numeric fingerprint) and the seven-emoji
 * comparison string, both symmetric in the two identities.  Everything here
 * is computed from public keys: no secrets, no randomness, no I/O.  The
 * derivations are spelled out in usi-safety-number.h and must never change
 * without a new label, or people would see different codes for the same pair.
 */

#define G_LOG_DOMAIN "usi-crypto"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>

#include "usi-crypto-error.h"
#include "usi-digest.h"
#include "usi-safety-number.h"

#define FINGERPRINT_VERSION  0
#define FINGERPRINT_LENGTH   64 /* SHA-512 */
#define DIGITS_PER_IDENTITY  (USI_SAFETY_NUMBER_DIGITS / 2)
#define EMOJI_LABEL          "usi safety emoji v2"
#define EMOJI_BYTES          6

/* Distinct at a glance and easy to name; each has emoji presentation by
 * default, so none needs a variation selector. */
static const UsiSafetyEmoji emoji_table[USI_SAFETY_EMOJI_TABLE_SIZE] = {
  { "🐶", "Dog" },
  { "🐱", "Cat" },
  { "🦁", "Lion" },
  { "🐴", "Horse" },
  { "🦄", "Unicorn" },
  { "🐷", "Pig" },
  { "🐘", "Elephant" },
  { "🐰", "Rabbit" },
  { "🐼", "Panda" },
  { "🐓", "Rooster" },
  { "🐧", "Penguin" },
  { "🐢", "Turtle" },
  { "🐟", "Fish" },
  { "🐙", "Octopus" },
  { "🦋", "Butterfly" },
  { "🐝", "Bee" },
  { "🦊", "Fox" },
  { "🐳", "Whale" },
  { "🌷", "Tulip" },
  { "🌳", "Tree" },
  { "🌵", "Cactus" },
  { "🍄", "Mushroom" },
  { "🌏", "Globe" },
  { "🌙", "Moon" },
  { "🔥", "Fire" },
  { "🌻", "Sunflower" },
  { "🍌", "Banana" },
  { "🍎", "Apple" },
  { "🍓", "Strawberry" },
  { "🌽", "Corn" },
  { "🍕", "Pizza" },
  { "🎂", "Cake" },
  { "🍒", "Cherries" },
  { "😀", "Smiley" },
  { "🤖", "Robot" },
  { "🎩", "Hat" },
  { "👓", "Glasses" },
  { "🔧", "Wrench" },
  { "🎅", "Santa" },
  { "👍", "Thumbs up" },
  { "☔", "Umbrella" },
  { "⌛", "Hourglass" },
  { "⏰", "Clock" },
  { "🎁", "Gift" },
  { "💡", "Light bulb" },
  { "📕", "Book" },
  { "📎", "Paperclip" },
  { "🔒", "Lock" },
  { "🔑", "Key" },
  { "🔨", "Hammer" },
  { "📞", "Telephone" },
  { "🏁", "Flag" },
  { "🚂", "Train" },
  { "🚲", "Bicycle" },
  { "🚀", "Rocket" },
  { "🏆", "Trophy" },
  { "⚽", "Ball" },
  { "🎸", "Guitar" },
  { "🎺", "Trumpet" },
  { "🔔", "Bell" },
  { "⚓", "Anchor" },
  { "🎧", "Headphones" },
  { "📁", "Folder" },
  { "📌", "Pin" },
};

static gboolean
check_identity (const UsiSafetyIdentity  *identity,
                GError                  **error)
{
  if (identity->public_key_length == 0 ||
      identity->public_key_length > USI_SAFETY_MAX_KEY_LENGTH ||
      identity->stable_id_length > USI_SAFETY_MAX_STABLE_ID_LENGTH)
    {
      g_set_error_literal (error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT,
                           _("An identity key or user id has an impossible length."));
      return FALSE;
    }

  return TRUE;
}

/* One identity's iterated fingerprint: the SHA-512 chain of @iterations
 * rounds, FINGERPRINT_LENGTH bytes to @digest. */
static gboolean
identity_fingerprint (const UsiSafetyIdentity  *identity,
                      guint                     iterations,
                      guint8                   *digest,
                      GError                  **error)
{
  const gsize key_length = identity->public_key_length;
  g_autofree guint8 *input = NULL;
  gsize length;

  g_assert (usi_hash_get_length (USI_HASH_SHA512) == FINGERPRINT_LENGTH);

  /* Big enough for the first round and for digest ‖ key in the others. */
  input = g_malloc (2 + 2 * key_length + identity->stable_id_length + FINGERPRINT_LENGTH);

  input[0] = (FINGERPRINT_VERSION >> 8) & 0xff;
  input[1] = FINGERPRINT_VERSION & 0xff;
  length = 2;
  memcpy (input + length, identity->public_key, key_length);
  length += key_length;
  if (identity->stable_id_length > 0)
    memcpy (input + length, identity->stable_id, identity->stable_id_length);
  length += identity->stable_id_length;
  memcpy (input + length, identity->public_key, key_length);
  length += key_length;
  if (!usi_hash (USI_HASH_SHA512, input, length, digest, error))
    return FALSE;

  memcpy (input + FINGERPRINT_LENGTH, identity->public_key, key_length);
  for (guint i = 1; i < iterations; i++)
    {
      memcpy (input, digest, FINGERPRINT_LENGTH);
      if (!usi_hash (USI_HASH_SHA512, input, FINGERPRINT_LENGTH + key_length, digest, error))
        return FALSE;
    }

  return TRUE;
}

/* One identity's 30 digits (plus a terminating NUL in @digits). */
static gboolean
identity_digits (const UsiSafetyIdentity  *identity,
                 guint                     iterations,
                 char                     *digits,
                 GError                  **error)
{
  guint8 digest[FINGERPRINT_LENGTH];

  if (!identity_fingerprint (identity, iterations, digest, error))
    return FALSE;

  for (guint group = 0; group < DIGITS_PER_IDENTITY / USI_SAFETY_NUMBER_GROUP_DIGITS; group++)
    {
      guint64 value = 0;

      for (guint i = 0; i < 5; i++)
        value = (value << 8) | digest[group * 5 + i];
      g_snprintf (digits + group * USI_SAFETY_NUMBER_GROUP_DIGITS, USI_SAFETY_NUMBER_GROUP_DIGITS + 1,
                  "%05u", (guint) (value % 100000));
    }

  return TRUE;
}

char *
usi_safety_number_compute_with_iterations (const UsiSafetyIdentity  *a,
                                           const UsiSafetyIdentity  *b,
                                           guint                     iterations,
                                           GError                  **error)
{
  char a_digits[DIGITS_PER_IDENTITY + 1];
  char b_digits[DIGITS_PER_IDENTITY + 1];

  g_return_val_if_fail (a != NULL && (a->public_key != NULL || a->public_key_length == 0), NULL);
  g_return_val_if_fail (a->stable_id != NULL || a->stable_id_length == 0, NULL);
  g_return_val_if_fail (b != NULL && (b->public_key != NULL || b->public_key_length == 0), NULL);
  g_return_val_if_fail (b->stable_id != NULL || b->stable_id_length == 0, NULL);
  g_return_val_if_fail (iterations > 0, NULL);

  if (!check_identity (a, error) || !check_identity (b, error) ||
      !identity_digits (a, iterations, a_digits, error) ||
      !identity_digits (b, iterations, b_digits, error))
    return NULL;

  /* The smaller string first: the same 60 digits on both screens. */
  if (strcmp (a_digits, b_digits) <= 0)
    return g_strconcat (a_digits, b_digits, NULL);
  else
    return g_strconcat (b_digits, a_digits, NULL);
}

char *
usi_safety_number_compute (const UsiSafetyIdentity  *a,
                           const UsiSafetyIdentity  *b,
                           GError                  **error)
{
  return usi_safety_number_compute_with_iterations (a, b, USI_SAFETY_NUMBER_ITERATIONS, error);
}

static gboolean
is_safety_number (const char *safety_number)
{
  for (guint i = 0; i < USI_SAFETY_NUMBER_DIGITS; i++)
    if (!g_ascii_isdigit (safety_number[i]))
      return FALSE;

  return safety_number[USI_SAFETY_NUMBER_DIGITS] == '\0';
}

char **
usi_safety_number_split (const char *safety_number)
{
  g_auto(GStrv) groups = NULL;

  g_return_val_if_fail (safety_number != NULL, NULL);

  if (!is_safety_number (safety_number))
    return NULL;

  groups = g_new0 (char *, USI_SAFETY_NUMBER_GROUPS + 1);
  for (guint i = 0; i < USI_SAFETY_NUMBER_GROUPS; i++)
    groups[i] = g_strndup (safety_number + i * USI_SAFETY_NUMBER_GROUP_DIGITS,
                           USI_SAFETY_NUMBER_GROUP_DIGITS);

  return g_steal_pointer (&groups);
}

char *
usi_safety_number_format (const char *safety_number)
{
  g_auto(GStrv) groups = NULL;

  g_return_val_if_fail (safety_number != NULL, NULL);

  groups = usi_safety_number_split (safety_number);
  if (groups == NULL)
    return NULL;

  return g_strjoinv (" ", groups);
}

gboolean
usi_safety_emoji_compute (const UsiSafetyIdentity  *a,
                          const UsiSafetyIdentity  *b,
                          const UsiSafetyEmoji    **emoji,
                          GError                  **error)
{
  guint8 fingerprints[2][FINGERPRINT_LENGTH];
  guint8 ikm[2 * FINGERPRINT_LENGTH];
  guint8 okm[EMOJI_BYTES];
  gboolean a_first;
  guint64 bits = 0;

  g_return_val_if_fail (a != NULL && (a->public_key != NULL || a->public_key_length == 0), FALSE);
  g_return_val_if_fail (a->stable_id != NULL || a->stable_id_length == 0, FALSE);
  g_return_val_if_fail (b != NULL && (b->public_key != NULL || b->public_key_length == 0), FALSE);
  g_return_val_if_fail (b->stable_id != NULL || b->stable_id_length == 0, FALSE);
  g_return_val_if_fail (emoji != NULL, FALSE);

  /* The same iterated chains as the safety number: every key an attacker
   * tries in a search for matching emoji costs the full chain. */
  if (!check_identity (a, error) || !check_identity (b, error) ||
      !identity_fingerprint (a, USI_SAFETY_NUMBER_ITERATIONS, fingerprints[0], error) ||
      !identity_fingerprint (b, USI_SAFETY_NUMBER_ITERATIONS, fingerprints[1], error))
    return FALSE;

  /* The smaller fingerprint first: the same emoji on both screens. */
  a_first = memcmp (fingerprints[0], fingerprints[1], FINGERPRINT_LENGTH) <= 0;
  memcpy (ikm, fingerprints[a_first ? 0 : 1], FINGERPRINT_LENGTH);
  memcpy (ikm + FINGERPRINT_LENGTH, fingerprints[a_first ? 1 : 0], FINGERPRINT_LENGTH);

  if (!usi_hkdf (USI_HASH_SHA256, NULL, 0, ikm, sizeof ikm,
                 (const guint8 *) EMOJI_LABEL, strlen (EMOJI_LABEL), okm, sizeof okm, error))
    return FALSE;

  for (guint i = 0; i < EMOJI_BYTES; i++)
    bits = (bits << 8) | okm[i];
  /* The first 42 of the 48 bits, six at a time, most significant first. */
  for (guint i = 0; i < USI_SAFETY_EMOJI_COUNT; i++)
    emoji[i] = &emoji_table[(bits >> (8 * EMOJI_BYTES - 6 * (i + 1))) & 0x3f];

  return TRUE;
}

char *
usi_safety_emoji_compute_string (const UsiSafetyIdentity  *a,
                                 const UsiSafetyIdentity  *b,
                                 GError                  **error)
{
  const UsiSafetyEmoji *emoji[USI_SAFETY_EMOJI_COUNT];
  g_autoptr(GString) string = NULL;

  if (!usi_safety_emoji_compute (a, b, emoji, error))
    return NULL;

  string = g_string_new (NULL);
  for (guint i = 0; i < USI_SAFETY_EMOJI_COUNT; i++)
    {
      if (i > 0)
        g_string_append (string, " · ");
      g_string_append_printf (string, "%s %s", emoji[i]->emoji, emoji[i]->name);
    }

  return g_string_free (g_steal_pointer (&string), FALSE);
}

const UsiSafetyEmoji *
usi_safety_emoji_get (guint index)
{
  g_return_val_if_fail (index < USI_SAFETY_EMOJI_TABLE_SIZE, NULL);

  return &emoji_table[index];
}

const char *
usi_safety_emoji_get_explanation (void)
{
  return _("The emoji are a quick check only: someone who controls the connection can, with some effort, "
           "make them match. To mark a contact as verified, compare the 60-digit safety number.");
}
