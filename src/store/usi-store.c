/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The state kept on disk: one file per record, each sealed with
 * ChaCha20-Poly1305 under a random storage key that lives in the Secret
 * Service or is wrapped by a passphrase.  Nothing here is ever written in
 * plaintext, and nothing unreadable is ever replaced by a fresh start.
 *
 * A record file:  version (1) ‖ nonce (12) ‖ ciphertext ‖ tag (16),
 *   AAD = "usi record v1" ‖ record id, so a file renamed to another id fails.
 * The key file (passphrase mode only):
 *   version (1) ‖ scrypt N (u64 BE) ‖ r (u32 BE) ‖ p (u32 BE) ‖ salt (16)
 *   ‖ nonce (12) ‖ wrapped key (32) ‖ tag (16),
 *   AAD = "usi storage key v1" ‖ the 33 header bytes before the nonce. */

#define G_LOG_DOMAIN "usi-store"

#include "config.h"

#include <errno.h>
#include <string.h>

#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>
#include <libsecret/secret.h>

#include "crypto/usi-aead.h"
#include "crypto/usi-crypto-error.h"
#include "crypto/usi-random.h"
#include "crypto/usi-scrypt.h"
#include "crypto/usi-secret.h"

#include "usi-store-private.h"

#define RECORD_VERSION   1
#define RECORD_AAD_LABEL "usi record v1"
#define RECORD_SUFFIX    ".record"
#define RECORD_OVERHEAD  (1 + USI_AEAD_NONCE_LENGTH + USI_AEAD_TAG_LENGTH)

#define KEY_FILE_NAME    "key"
#define KEY_VERSION      1
#define KEY_AAD_LABEL    "usi storage key v1"
#define KEY_SALT_LENGTH  16
#define KEY_HEADER_LENGTH (1 + 8 + 4 + 4 + KEY_SALT_LENGTH)
#define KEY_FILE_LENGTH  (KEY_HEADER_LENGTH + USI_AEAD_NONCE_LENGTH + USI_STORE_KEY_LENGTH + USI_AEAD_TAG_LENGTH)

struct _UsiStore
{
  GObject       parent_instance;

  UsiStoreMode  mode;
  char         *directory;
  guint8        key[USI_STORE_KEY_LENGTH];
  /* Keep-nothing mode: id → wiping GBytes. */
  GHashTable   *memory;
};

G_DEFINE_FINAL_TYPE (UsiStore, usi_store, G_TYPE_OBJECT)

G_DEFINE_QUARK (usi-store-error-quark, usi_store_error)

static const SecretSchema storage_key_schema = {
  "com.example.Usi.StorageKey",
  SECRET_SCHEMA_NONE,
  {
    { "directory", SECRET_SCHEMA_ATTRIBUTE_STRING },
    { NULL, 0 },
  },
};

static void
usi_store_finalize (GObject *object)
{
  UsiStore *self = (UsiStore *)object;

  usi_secret_wipe (self->key, sizeof self->key);
  g_clear_pointer (&self->directory, g_free);
  g_clear_pointer (&self->memory, g_hash_table_unref);

  G_OBJECT_CLASS (usi_store_parent_class)->finalize (object);
}

static void
usi_store_class_init (UsiStoreClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = usi_store_finalize;
}

static void
usi_store_init (UsiStore *self)
{
}

/* Helpers */

static gboolean
id_is_valid (const char  *id,
             GError     **error)
{
  gsize length = strlen (id);

  if (length == 0 || length > USI_STORE_MAX_ID_LENGTH)
    goto invalid;
  for (gsize i = 0; i < length; i++)
    {
      char c = id[i];

      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
        goto invalid;
    }
  return TRUE;

invalid:
  g_set_error (error, USI_STORE_ERROR, USI_STORE_ERROR_INVALID_ID,
               _("“%s” is not a valid record name"), id);
  return FALSE;
}

static void
set_error_from_errno (GError     **error,
                      const char  *path,
                      int          saved_errno)
{
  g_set_error (error, USI_STORE_ERROR, USI_STORE_ERROR_FAILED,
               _("Could not use “%s”: %s"), path, g_strerror (saved_errno));
}

static void
propagate_prefixed (GError     **dest,
                    GError      *src,
                    UsiStoreError code)
{
  g_assert (src != NULL);

  if (g_error_matches (src, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_propagate_error (dest, src);
  else
    {
      g_set_error_literal (dest, USI_STORE_ERROR, code, src->message);
      g_error_free (src);
    }
}

static char *
record_path (UsiStore   *self,
             const char *id)
{
  g_autofree char *name = g_strconcat (id, RECORD_SUFFIX, NULL);

  return g_build_filename (self->directory, name, NULL);
}

static GByteArray *
record_aad (const char *id)
{
  GByteArray *aad = g_byte_array_new ();

  g_byte_array_append (aad, (const guint8 *)RECORD_AAD_LABEL, strlen (RECORD_AAD_LABEL));
  g_byte_array_append (aad, (const guint8 *)id, strlen (id));
  return aad;
}

/* Whether @directory holds any record file: then a missing key is an
 * error, not a first start. */
static gboolean
directory_has_records (const char  *directory,
                       gboolean    *has_records,
                       GError     **error)
{
  g_autoptr(GDir) dir = NULL;
  g_autoptr(GError) local_error = NULL;
  const char *name;

  *has_records = FALSE;
  dir = g_dir_open (directory, 0, &local_error);
  if (dir == NULL)
    {
      propagate_prefixed (error, g_steal_pointer (&local_error), USI_STORE_ERROR_FAILED);
      return FALSE;
    }
  while ((name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_suffix (name, RECORD_SUFFIX))
      {
        *has_records = TRUE;
        break;
      }
  return TRUE;
}

static gboolean
write_private_file (const char    *path,
                    const guint8  *data,
                    gsize          length,
                    GError       **error)
{
  g_autoptr(GError) local_error = NULL;

  if (!g_file_set_contents_full (path, (const char *)data, length,
                                 G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                 0600, &local_error))
    {
      propagate_prefixed (error, g_steal_pointer (&local_error), USI_STORE_ERROR_FAILED);
      return FALSE;
    }
  return TRUE;
}

/* Reads at most @max_length bytes; a longer file is CORRUPT. */
static gboolean
read_file_capped (const char  *path,
                  gsize        max_length,
                  guint8     **contents,
                  gsize       *length,
                  gboolean    *missing,
                  GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  GStatBuf st;
  char *data = NULL;

  *missing = FALSE;
  if (g_stat (path, &st) != 0)
    {
      int saved_errno = errno;

      if (saved_errno == ENOENT)
        {
          *missing = TRUE;
          return FALSE;
        }
      set_error_from_errno (error, path, saved_errno);
      return FALSE;
    }
  if ((guint64)st.st_size > max_length)
    {
      g_set_error (error, USI_STORE_ERROR, USI_STORE_ERROR_CORRUPT,
                   _("“%s” is damaged: it is larger than any file Usi writes"), path);
      return FALSE;
    }
  if (!g_file_get_contents (path, &data, length, &local_error))
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
        {
          *missing = TRUE;
          return FALSE;
        }
      propagate_prefixed (error, g_steal_pointer (&local_error), USI_STORE_ERROR_FAILED);
      return FALSE;
    }
  *contents = (guint8 *)data;
  return TRUE;
}

static gboolean
ensure_directory (const char  *directory,
                  GError     **error)
{
  if (g_mkdir_with_parents (directory, 0700) != 0)
    {
      set_error_from_errno (error, directory, errno);
      return FALSE;
    }
  return TRUE;
}

static UsiStore *
store_new (UsiStoreMode  mode,
           const char   *directory)
{
  UsiStore *self = g_object_new (USI_TYPE_STORE, NULL);

  self->mode = mode;
  self->directory = g_strdup (directory);
  return self;
}

/* Secret Service */

static void
set_no_secret_service_error (GError **error,
                             GError  *src)
{
  if (g_error_matches (src, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_propagate_error (error, src);
      return;
    }
  g_set_error (error, USI_STORE_ERROR, USI_STORE_ERROR_NO_SECRET_SERVICE,
               _("No Secret Service is available to keep the storage key (%s). "
                 "Protect the stored state with a passphrase instead, "
                 "or choose to keep nothing on this computer."),
               src->message);
  g_error_free (src);
}

UsiStore *
usi_store_open_secret_service (const char    *directory,
                               GCancellable  *cancellable,
                               GError       **error)
{
  g_autoptr(UsiStore) self = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autofree char *canonical = NULL;
  g_autofree char *label = NULL;
  g_autoptr(SecretValue) value = NULL;
  gboolean has_records;

  g_return_val_if_fail (directory != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* The directory is made only once the Secret Service answered: without
   * one, nothing is written. */
  canonical = g_canonicalize_filename (directory, NULL);
  self = store_new (USI_STORE_MODE_SECRET_SERVICE, canonical);

  value = secret_password_lookup_binary_sync (&storage_key_schema, cancellable, &local_error,
                                              "directory", canonical,
                                              NULL);
  if (local_error != NULL)
    {
      set_no_secret_service_error (error, g_steal_pointer (&local_error));
      return NULL;
    }

  if (value != NULL)
    {
      gsize length = 0;
      const char *secret = secret_value_get (value, &length);

      if (length != USI_STORE_KEY_LENGTH)
        {
          g_set_error (error, USI_STORE_ERROR, USI_STORE_ERROR_CORRUPT,
                       _("The storage key for “%s” in the Secret Service is damaged"),
                       canonical);
          return NULL;
        }
      memcpy (self->key, secret, USI_STORE_KEY_LENGTH);
      if (!ensure_directory (canonical, error))
        return NULL;
      return g_steal_pointer (&self);
    }

  if (!ensure_directory (canonical, error))
    return NULL;
  if (!directory_has_records (canonical, &has_records, error))
    return NULL;
  if (has_records)
    {
      g_set_error (error, USI_STORE_ERROR, USI_STORE_ERROR_KEY_MISSING,
                   _("The Secret Service no longer holds the key of the state in “%s”: "
                     "that state cannot be read. Restore the keyring, or move the folder "
                     "away to start afresh."),
                   canonical);
      return NULL;
    }

  if (!usi_random_fill (usi_random_get_system (), self->key, sizeof self->key, &local_error))
    {
      propagate_prefixed (error, g_steal_pointer (&local_error), USI_STORE_ERROR_FAILED);
      return NULL;
    }
  g_clear_pointer (&value, secret_value_unref);
  value = secret_value_new ((const char *)self->key, sizeof self->key, "application/octet-stream");
  /* Translators: the label of the item in the keyring; %s is a folder. */
  label = g_strdup_printf (_("Usi storage key for %s"), canonical);
  if (!secret_password_store_binary_sync (&storage_key_schema, SECRET_COLLECTION_DEFAULT,
                                          label, value, cancellable, &local_error,
                                          "directory", canonical,
                                          NULL))
    {
      set_no_secret_service_error (error, g_steal_pointer (&local_error));
      return NULL;
    }

  g_debug ("Created a storage key in the Secret Service");
  return g_steal_pointer (&self);
}

gboolean
usi_store_forget_secret_service_key (const char    *directory,
                                     GCancellable  *cancellable,
                                     GError       **error)
{
  g_autofree char *canonical = NULL;
  g_autoptr(GError) local_error = NULL;

  g_return_val_if_fail (directory != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  canonical = g_canonicalize_filename (directory, NULL);
  secret_password_clear_sync (&storage_key_schema, cancellable, &local_error,
                              "directory", canonical,
                              NULL);
  if (local_error != NULL)
    {
      set_no_secret_service_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  return TRUE;
}

/* Passphrase */

static gboolean
unwrap_key_file (UsiStore      *self,
                 const guint8  *data,
                 gsize          length,
                 const char    *passphrase,
                 const char    *path,
                 GError       **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GByteArray) aad = NULL;
  guint8 wrapping_key[USI_AEAD_KEY_LENGTH];
  UsiScryptParams params;
  const guint8 *salt, *nonce, *wrapped, *tag;
  gboolean ok;

  if (length != KEY_FILE_LENGTH || data[0] != KEY_VERSION)
    {
      g_set_error (error, USI_STORE_ERROR, USI_STORE_ERROR_CORRUPT,
                   _("The key file “%s” is damaged or was written by another version"), path);
      return FALSE;
    }
  params.n = (guint64)data[1] << 56 | (guint64)data[2] << 48 | (guint64)data[3] << 40 |
             (guint64)data[4] << 32 | (guint64)data[5] << 24 | (guint64)data[6] << 16 |
             (guint64)data[7] << 8 | (guint64)data[8];
  params.r = (guint32)data[9] << 24 | (guint32)data[10] << 16 | (guint32)data[11] << 8 | data[12];
  params.p = (guint32)data[13] << 24 | (guint32)data[14] << 16 | (guint32)data[15] << 8 | data[16];
  salt = data + 17;
  nonce = data + KEY_HEADER_LENGTH;
  wrapped = nonce + USI_AEAD_NONCE_LENGTH;
  tag = wrapped + USI_STORE_KEY_LENGTH;

  /* usi_scrypt caps the parameters: a forged file cannot exhaust memory. */
  if (!usi_scrypt (passphrase, strlen (passphrase), salt, KEY_SALT_LENGTH, &params,
                   wrapping_key, sizeof wrapping_key, &local_error))
    {
      usi_secret_wipe (wrapping_key, sizeof wrapping_key);
      if (g_error_matches (local_error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_LIMIT) ||
          g_error_matches (local_error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_INVALID_ARGUMENT))
        g_set_error (error, USI_STORE_ERROR, USI_STORE_ERROR_CORRUPT,
                     _("The key file “%s” is damaged: %s"), path, local_error->message);
      else
        propagate_prefixed (error, g_steal_pointer (&local_error), USI_STORE_ERROR_FAILED);
      return FALSE;
    }

  aad = g_byte_array_new ();
  g_byte_array_append (aad, (const guint8 *)KEY_AAD_LABEL, strlen (KEY_AAD_LABEL));
  g_byte_array_append (aad, data, KEY_HEADER_LENGTH);
  ok = usi_aead_open (USI_AEAD_CHACHA20_POLY1305, wrapping_key, nonce, aad->data, aad->len,
                      wrapped, USI_STORE_KEY_LENGTH, tag, USI_AEAD_TAG_LENGTH,
                      self->key, &local_error);
  usi_secret_wipe (wrapping_key, sizeof wrapping_key);
  if (!ok)
    {
      /* An altered key file cannot be told from a wrong passphrase. */
      if (g_error_matches (local_error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION))
        g_set_error_literal (error, USI_STORE_ERROR, USI_STORE_ERROR_WRONG_PASSPHRASE,
                             _("Wrong passphrase: it does not open the stored state. "
                               "Check it and try again."));
      else
        propagate_prefixed (error, g_steal_pointer (&local_error), USI_STORE_ERROR_FAILED);
      return FALSE;
    }
  return TRUE;
}

static gboolean
create_key_file (UsiStore    *self,
                 const char  *passphrase,
                 const char  *path,
                 GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GByteArray) aad = NULL;
  const UsiScryptParams *params = &usi_scrypt_default_params;
  UsiRandom *random = usi_random_get_system ();
  guint8 file[KEY_FILE_LENGTH];
  guint8 wrapping_key[USI_AEAD_KEY_LENGTH];
  guint8 *nonce = file + KEY_HEADER_LENGTH;
  guint8 *wrapped = nonce + USI_AEAD_NONCE_LENGTH;
  guint8 *tag = wrapped + USI_STORE_KEY_LENGTH;
  gboolean ok;

  file[0] = KEY_VERSION;
  for (int i = 0; i < 8; i++)
    file[1 + i] = (guint8)(params->n >> (56 - 8 * i));
  for (int i = 0; i < 4; i++)
    {
      file[9 + i] = (guint8)(params->r >> (24 - 8 * i));
      file[13 + i] = (guint8)(params->p >> (24 - 8 * i));
    }
  if (!usi_random_fill (random, self->key, sizeof self->key, &local_error) ||
      !usi_random_fill (random, file + 17, KEY_SALT_LENGTH, &local_error) ||
      !usi_random_fill (random, nonce, USI_AEAD_NONCE_LENGTH, &local_error))
    {
      propagate_prefixed (error, g_steal_pointer (&local_error), USI_STORE_ERROR_FAILED);
      return FALSE;
    }

  if (!usi_scrypt (passphrase, strlen (passphrase), file + 17, KEY_SALT_LENGTH, params,
                   wrapping_key, sizeof wrapping_key, &local_error))
    {
      usi_secret_wipe (wrapping_key, sizeof wrapping_key);
      propagate_prefixed (error, g_steal_pointer (&local_error), USI_STORE_ERROR_FAILED);
      return FALSE;
    }
  aad = g_byte_array_new ();
  g_byte_array_append (aad, (const guint8 *)KEY_AAD_LABEL, strlen (KEY_AAD_LABEL));
  g_byte_array_append (aad, file, KEY_HEADER_LENGTH);
  ok = usi_aead_seal (USI_AEAD_CHACHA20_POLY1305, wrapping_key, nonce, aad->data, aad->len,
                      self->key, USI_STORE_KEY_LENGTH, wrapped, tag, &local_error);
  usi_secret_wipe (wrapping_key, sizeof wrapping_key);
  if (!ok)
    {
      propagate_prefixed (error, g_steal_pointer (&local_error), USI_STORE_ERROR_FAILED);
      return FALSE;
    }

  return write_private_file (path, file, sizeof file, error);
}

UsiStore *
usi_store_open_passphrase (const char    *directory,
                           const char    *passphrase,
                           GCancellable  *cancellable,
                           GError       **error)
{
  g_autoptr(UsiStore) self = NULL;
  g_autofree char *canonical = NULL;
  g_autofree char *path = NULL;
  g_autofree guint8 *contents = NULL;
  gsize length = 0;
  gboolean missing, has_records;

  g_return_val_if_fail (directory != NULL, NULL);
  g_return_val_if_fail (passphrase != NULL, NULL);
  g_return_val_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (g_cancellable_set_error_if_cancelled (cancellable, error))
    return NULL;

  canonical = g_canonicalize_filename (directory, NULL);
  if (!ensure_directory (canonical, error))
    return NULL;
  self = store_new (USI_STORE_MODE_PASSPHRASE, canonical);
  path = g_build_filename (canonical, KEY_FILE_NAME, NULL);

  if (read_file_capped (path, KEY_FILE_LENGTH, &contents, &length, &missing, error))
    {
      if (!unwrap_key_file (self, contents, length, passphrase, path, error))
        return NULL;
      return g_steal_pointer (&self);
    }
  if (!missing)
    return NULL;

  if (!directory_has_records (canonical, &has_records, error))
    return NULL;
  if (has_records)
    {
      g_set_error (error, USI_STORE_ERROR, USI_STORE_ERROR_KEY_MISSING,
                   _("The key file “%s” is missing: the state in that folder cannot be read. "
                     "Restore the file, or move the folder away to start afresh."),
                   path);
      return NULL;
    }

  if (!create_key_file (self, passphrase, path, error))
    return NULL;
  return g_steal_pointer (&self);
}

/* Keep nothing */

UsiStore *
usi_store_new_keep_nothing (void)
{
  UsiStore *self = store_new (USI_STORE_MODE_KEEP_NOTHING, NULL);

  self->memory = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                        (GDestroyNotify)g_bytes_unref);
  return self;
}

const guint8 *
_usi_store_get_key (UsiStore *self)
{
  g_return_val_if_fail (USI_IS_STORE (self), NULL);

  return self->key;
}

UsiStoreMode
usi_store_get_mode (UsiStore *self)
{
  g_return_val_if_fail (USI_IS_STORE (self), USI_STORE_MODE_KEEP_NOTHING);

  return self->mode;
}

const char *
usi_store_get_directory (UsiStore *self)
{
  g_return_val_if_fail (USI_IS_STORE (self), NULL);

  return self->directory;
}

/* Records */

gboolean
usi_store_put (UsiStore    *self,
               const char  *id,
               GBytes      *plaintext,
               GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GByteArray) aad = NULL;
  g_autofree char *path = NULL;
  g_autofree guint8 *file = NULL;
  const guint8 *data;
  gsize length, file_length;
  gboolean ok;

  g_return_val_if_fail (USI_IS_STORE (self), FALSE);
  g_return_val_if_fail (id != NULL, FALSE);
  g_return_val_if_fail (plaintext != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!id_is_valid (id, error))
    return FALSE;
  data = g_bytes_get_data (plaintext, &length);
  if (length > USI_STORE_MAX_RECORD_LENGTH)
    {
      g_set_error (error, USI_STORE_ERROR, USI_STORE_ERROR_FAILED,
                   _("The record “%s” is too large to store"), id);
      return FALSE;
    }

  if (self->mode == USI_STORE_MODE_KEEP_NOTHING)
    {
      g_hash_table_replace (self->memory, g_strdup (id),
                            usi_secret_bytes_new (data, length));
      return TRUE;
    }

  file_length = RECORD_OVERHEAD + length;
  file = g_malloc (file_length);
  file[0] = RECORD_VERSION;
  if (!usi_random_fill (usi_random_get_system (), file + 1, USI_AEAD_NONCE_LENGTH, &local_error))
    {
      propagate_prefixed (error, g_steal_pointer (&local_error), USI_STORE_ERROR_FAILED);
      return FALSE;
    }
  aad = record_aad (id);
  ok = usi_aead_seal (USI_AEAD_CHACHA20_POLY1305, self->key, file + 1, aad->data, aad->len,
                      data, length, file + 1 + USI_AEAD_NONCE_LENGTH,
                      file + 1 + USI_AEAD_NONCE_LENGTH + length, &local_error);
  if (!ok)
    {
      propagate_prefixed (error, g_steal_pointer (&local_error), USI_STORE_ERROR_FAILED);
      return FALSE;
    }

  path = record_path (self, id);
  return write_private_file (path, file, file_length, error);
}

GBytes *
usi_store_get (UsiStore    *self,
               const char  *id,
               GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GByteArray) aad = NULL;
  g_autofree char *path = NULL;
  g_autofree guint8 *file = NULL;
  guint8 *plaintext;
  gsize file_length = 0, length;
  gboolean missing;

  g_return_val_if_fail (USI_IS_STORE (self), NULL);
  g_return_val_if_fail (id != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!id_is_valid (id, error))
    return NULL;

  if (self->mode == USI_STORE_MODE_KEEP_NOTHING)
    {
      GBytes *bytes = g_hash_table_lookup (self->memory, id);

      if (bytes == NULL)
        {
          g_set_error (error, USI_STORE_ERROR, USI_STORE_ERROR_NOT_FOUND,
                       _("No record “%s” is stored"), id);
          return NULL;
        }
      return g_bytes_ref (bytes);
    }

  path = record_path (self, id);
  if (!read_file_capped (path, RECORD_OVERHEAD + USI_STORE_MAX_RECORD_LENGTH,
                         &file, &file_length, &missing, error))
    {
      if (missing)
        g_set_error (error, USI_STORE_ERROR, USI_STORE_ERROR_NOT_FOUND,
                     _("No record “%s” is stored"), id);
      return NULL;
    }

  if (file_length < RECORD_OVERHEAD || file[0] != RECORD_VERSION)
    {
      g_set_error (error, USI_STORE_ERROR, USI_STORE_ERROR_CORRUPT,
                   _("The stored record “%s” is damaged or was written by another version; "
                     "it was left as it is"), id);
      return NULL;
    }

  length = file_length - RECORD_OVERHEAD;
  plaintext = g_malloc (MAX (length, 1));
  aad = record_aad (id);
  if (!usi_aead_open (USI_AEAD_CHACHA20_POLY1305, self->key, file + 1, aad->data, aad->len,
                      file + 1 + USI_AEAD_NONCE_LENGTH, length,
                      file + 1 + USI_AEAD_NONCE_LENGTH + length, USI_AEAD_TAG_LENGTH,
                      plaintext, &local_error))
    {
      g_free (plaintext);
      if (g_error_matches (local_error, USI_CRYPTO_ERROR, USI_CRYPTO_ERROR_AUTHENTICATION))
        g_set_error (error, USI_STORE_ERROR, USI_STORE_ERROR_CORRUPT,
                     _("The stored record “%s” is damaged or was altered; "
                       "it was left as it is"), id);
      else
        propagate_prefixed (error, g_steal_pointer (&local_error), USI_STORE_ERROR_FAILED);
      return NULL;
    }

  return usi_secret_bytes_new_take (plaintext, length);
}

gboolean
usi_store_delete (UsiStore    *self,
                  const char  *id,
                  GError     **error)
{
  g_autofree char *path = NULL;

  g_return_val_if_fail (USI_IS_STORE (self), FALSE);
  g_return_val_if_fail (id != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (!id_is_valid (id, error))
    return FALSE;

  if (self->mode == USI_STORE_MODE_KEEP_NOTHING)
    {
      if (!g_hash_table_remove (self->memory, id))
        {
          g_set_error (error, USI_STORE_ERROR, USI_STORE_ERROR_NOT_FOUND,
                       _("No record “%s” is stored"), id);
          return FALSE;
        }
      return TRUE;
    }

  path = record_path (self, id);
  if (g_unlink (path) != 0)
    {
      int saved_errno = errno;

      if (saved_errno == ENOENT)
        g_set_error (error, USI_STORE_ERROR, USI_STORE_ERROR_NOT_FOUND,
                     _("No record “%s” is stored"), id);
      else
        set_error_from_errno (error, path, saved_errno);
      return FALSE;
    }
  return TRUE;
}

static int
compare_strings (gconstpointer a,
                 gconstpointer b)
{
  return strcmp (*(const char * const *)a, *(const char * const *)b);
}

GStrv
usi_store_list (UsiStore  *self,
                GError   **error)
{
  g_autoptr(GPtrArray) ids = g_ptr_array_new_with_free_func (g_free);

  g_return_val_if_fail (USI_IS_STORE (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (self->mode == USI_STORE_MODE_KEEP_NOTHING)
    {
      GHashTableIter iter;
      gpointer key;

      g_hash_table_iter_init (&iter, self->memory);
      while (g_hash_table_iter_next (&iter, &key, NULL))
        g_ptr_array_add (ids, g_strdup (key));
    }
  else
    {
      g_autoptr(GDir) dir = NULL;
      g_autoptr(GError) local_error = NULL;
      const char *name;

      dir = g_dir_open (self->directory, 0, &local_error);
      if (dir == NULL)
        {
          propagate_prefixed (error, g_steal_pointer (&local_error), USI_STORE_ERROR_FAILED);
          return NULL;
        }
      while ((name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *id = NULL;

          if (!g_str_has_suffix (name, RECORD_SUFFIX))
            continue;
          id = g_strndup (name, strlen (name) - strlen (RECORD_SUFFIX));
          /* Temporary files and strangers are not records. */
          if (id_is_valid (id, NULL))
            g_ptr_array_add (ids, g_steal_pointer (&id));
        }
    }

  g_ptr_array_sort (ids, compare_strings);
  g_ptr_array_add (ids, NULL);
  return (GStrv)g_ptr_array_free (g_steal_pointer (&ids), FALSE);
}
