/* SPDX-License-Identifier: GPL-3.0-or-later */

/* A TLS identity: an Ed25519 key and a self-signed certificate for it
 * (docs/protocol.md §11.1).  Nothing checks it against a certificate
 * authority: a relay is known by its pin, SHA-256 of the certificate's
 * SubjectPublicKeyInfo.  The key file is written 0600, atomically, and an
 * unreadable one is reported, never replaced by a fresh key: that would
 * change the pin and silently break every invite that names it. */

#define G_LOG_DOMAIN "usi-net"

#include "config.h"

#include <string.h>

#include <gio/gio.h>
#include <glib/gi18n-lib.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "crypto/usi-digest.h"
#include "crypto/usi-secret.h"

#include "usi-net-error.h"
#include "usi-tls-identity.h"

#define SERIAL_LENGTH    16
#define VALIDITY_DAYS    (20 * 365 + 5)
#define KEY_FILE_MODE    0600

struct _UsiTlsIdentity
{
  GObject   parent_instance;

  EVP_PKEY *key;
  X509     *certificate;
  guint8    pin[USI_TLS_PIN_LENGTH];
};

G_DEFINE_FINAL_TYPE (UsiTlsIdentity, usi_tls_identity, G_TYPE_OBJECT)

static void
usi_tls_identity_finalize (GObject *object)
{
  UsiTlsIdentity *self = (UsiTlsIdentity *)object;

  g_clear_pointer (&self->key, EVP_PKEY_free);
  g_clear_pointer (&self->certificate, X509_free);

  G_OBJECT_CLASS (usi_tls_identity_parent_class)->finalize (object);
}

static void
usi_tls_identity_class_init (UsiTlsIdentityClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = usi_tls_identity_finalize;
}

static void
usi_tls_identity_init (UsiTlsIdentity *self)
{
}

/* Helpers */

gboolean
_usi_tls_compute_pin (EVP_PKEY  *key,
                      guint8    *pin,
                      GError   **error)
{
  unsigned char *der = NULL;
  int length;
  gboolean ok;

  g_assert (key != NULL);

  length = i2d_PUBKEY (key, &der);
  if (length <= 0)
    {
      _usi_net_set_openssl_error (error, USI_NET_ERROR, USI_NET_ERROR_TLS,
                                  _("Encoding a public key"));
      return FALSE;
    }
  ok = usi_hash (USI_HASH_SHA256, der, (gsize) length, pin, error);
  OPENSSL_free (der);
  return ok;
}

static UsiTlsIdentity *
identity_new_take (EVP_PKEY  *key,
                   X509      *certificate,
                   GError   **error)
{
  g_autoptr(UsiTlsIdentity) self = g_object_new (USI_TYPE_TLS_IDENTITY, NULL);

  self->key = key;
  self->certificate = certificate;
  if (!_usi_tls_compute_pin (key, self->pin, error))
    return NULL;
  return g_steal_pointer (&self);
}

static gboolean
set_random_serial (X509    *certificate,
                   GError **error)
{
  guint8 serial[SERIAL_LENGTH];
  BIGNUM *number;
  gboolean ok;

  if (RAND_bytes (serial, sizeof serial) != 1)
    goto failed;
  /* Positive (DER integers are signed) and never zero. */
  serial[0] &= 0x7f;
  if (serial[0] == 0)
    serial[0] = 1;

  number = BN_bin2bn (serial, sizeof serial, NULL);
  if (number == NULL)
    goto failed;
  ok = BN_to_ASN1_INTEGER (number, X509_get_serialNumber (certificate)) != NULL;
  BN_free (number);
  if (ok)
    return TRUE;

failed:
  _usi_net_set_openssl_error (error, USI_NET_ERROR, USI_NET_ERROR_TLS,
                              _("Making a certificate serial number"));
  return FALSE;
}

/* API */

UsiTlsIdentity *
usi_tls_identity_generate (const char  *common_name,
                           GError     **error)
{
  EVP_PKEY *key;
  X509 *certificate;
  X509_NAME *name;

  g_return_val_if_fail (common_name != NULL && *common_name != '\0', NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  ERR_clear_error ();
  key = EVP_PKEY_Q_keygen (NULL, NULL, "ED25519");
  if (key == NULL)
    {
      _usi_net_set_openssl_error (error, USI_NET_ERROR, USI_NET_ERROR_TLS,
                                  _("Generating a TLS key"));
      return NULL;
    }

  certificate = X509_new ();
  if (certificate == NULL ||
      !X509_set_version (certificate, X509_VERSION_3) ||
      !set_random_serial (certificate, error))
    goto failed;

  name = X509_get_subject_name (certificate);
  /* One day back, so a peer whose clock is a little behind still accepts
   * it (nothing checks the dates today, but libssl's verifier reports them). */
  if (X509_gmtime_adj (X509_getm_notBefore (certificate), -24 * 3600) == NULL ||
      X509_time_adj_ex (X509_getm_notAfter (certificate), VALIDITY_DAYS, 0, NULL) == NULL ||
      !X509_NAME_add_entry_by_txt (name, "CN", MBSTRING_UTF8,
                                   (const unsigned char *) common_name, -1, -1, 0) ||
      !X509_set_issuer_name (certificate, name) ||
      !X509_set_pubkey (certificate, key) ||
      X509_sign (certificate, key, NULL) <= 0)
    goto failed;

  return identity_new_take (key, certificate, error);

failed:
  if (error == NULL || *error == NULL)
    _usi_net_set_openssl_error (error, USI_NET_ERROR, USI_NET_ERROR_TLS,
                                _("Making a TLS certificate"));
  EVP_PKEY_free (key);
  X509_free (certificate);
  return NULL;
}

/* The PEM reader would otherwise ask for a passphrase on the terminal. */
static int
refuse_passphrase (char *buffer,
                   int   size,
                   int   rwflag,
                   void *user_data)
{
  return -1;
}

static void
set_invalid_file_error (GError     **error,
                        const char  *path,
                        const char  *what)
{
  g_autofree char *display = g_filename_display_name (path);

  /* Translators: the first %s is a file name, the second says what is wrong with it */
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
               _("The TLS key file “%s” cannot be used: %s. Restore it from a backup, or remove it to make a new key (invites made for the old one then stop working)."),
               display, what);
}

/* Reads the key and the certificate from PEM text; `path` names the
 * source in errors. */
static UsiTlsIdentity *
identity_from_pem (const char  *contents,
                   gsize        length,
                   const char  *path,
                   GError     **error)
{
  BIO *bio = NULL;
  EVP_PKEY *key = NULL;
  X509 *certificate = NULL;
  EVP_PKEY *certificate_key;

  if (length > G_MAXINT)
    {
      set_invalid_file_error (error, path, _("it is far too large"));
      return NULL;
    }

  ERR_clear_error ();
  /* Each PEM reader skips blocks of other kinds, so the order of the two
   * parts in the file does not matter. */
  bio = BIO_new_mem_buf (contents, (int) length);
  if (bio != NULL)
    key = PEM_read_bio_PrivateKey (bio, NULL, refuse_passphrase, NULL);
  BIO_free (bio);
  bio = BIO_new_mem_buf (contents, (int) length);
  if (bio != NULL)
    certificate = PEM_read_bio_X509 (bio, NULL, refuse_passphrase, NULL);
  BIO_free (bio);
  ERR_clear_error ();

  if (key == NULL)
    {
      set_invalid_file_error (error, path, _("it holds no readable private key"));
      goto failed;
    }
  if (certificate == NULL)
    {
      set_invalid_file_error (error, path, _("it holds no readable certificate"));
      goto failed;
    }
  if (!EVP_PKEY_is_a (key, "ED25519"))
    {
      set_invalid_file_error (error, path, _("its key is not an Ed25519 key"));
      goto failed;
    }
  certificate_key = X509_get0_pubkey (certificate);
  if (certificate_key == NULL || !EVP_PKEY_is_a (certificate_key, "ED25519") ||
      EVP_PKEY_eq (certificate_key, key) != 1)
    {
      set_invalid_file_error (error, path, _("its certificate is not for its key"));
      goto failed;
    }
  if (X509_verify (certificate, key) != 1)
    {
      set_invalid_file_error (error, path, _("its certificate's signature does not verify"));
      goto failed;
    }
  ERR_clear_error ();

  return identity_new_take (key, certificate, error);

failed:
  ERR_clear_error ();
  EVP_PKEY_free (key);
  X509_free (certificate);
  return NULL;
}

UsiTlsIdentity *
usi_tls_identity_load (const char  *path,
                       GError     **error)
{
  g_autofree char *contents = NULL;
  gsize length = 0;
  UsiTlsIdentity *identity;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (!g_file_get_contents (path, &contents, &length, error))
    return NULL;

  identity = identity_from_pem (contents, length, path, error);
  OPENSSL_cleanse (contents, length);
  return identity;
}

UsiTlsIdentity *
usi_tls_identity_new_from_pem (GBytes  *pem,
                               GError **error)
{
  gsize length;
  const char *contents;

  g_return_val_if_fail (pem != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  contents = g_bytes_get_data (pem, &length);
  return identity_from_pem (contents, length, "(stored)", error);
}

/* PKCS#8 private key (unencrypted) and certificate, as PEM text; secret
 * bytes, wiped when freed. */
GBytes *
usi_tls_identity_dup_pem (UsiTlsIdentity  *self,
                          GError         **error)
{
  BIO *bio;
  char *data = NULL;
  long length;
  GBytes *pem;

  g_return_val_if_fail (USI_IS_TLS_IDENTITY (self), NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  ERR_clear_error ();
  bio = BIO_new (BIO_s_mem ());
  if (bio == NULL ||
      !PEM_write_bio_PrivateKey (bio, self->key, NULL, NULL, 0, NULL, NULL) ||
      !PEM_write_bio_X509 (bio, self->certificate))
    {
      _usi_net_set_openssl_error (error, USI_NET_ERROR, USI_NET_ERROR_TLS,
                                  _("Encoding the TLS key"));
      BIO_free (bio);
      return NULL;
    }

  length = BIO_get_mem_data (bio, &data);
  pem = usi_secret_bytes_new ((const guint8 *) data, length);
  OPENSSL_cleanse (data, length);
  BIO_free (bio);
  return pem;
}

gboolean
usi_tls_identity_save (UsiTlsIdentity  *self,
                       const char      *path,
                       GError         **error)
{
  g_autoptr(GBytes) pem = NULL;
  gsize length;
  const char *data;

  g_return_val_if_fail (USI_IS_TLS_IDENTITY (self), FALSE);
  g_return_val_if_fail (path != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  /* Unencrypted: the file's mode and the directory protect it. */
  pem = usi_tls_identity_dup_pem (self, error);
  if (pem == NULL)
    return FALSE;
  data = g_bytes_get_data (pem, &length);
  return g_file_set_contents_full (path, data, length,
                                   G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE,
                                   KEY_FILE_MODE, error);
}

UsiTlsIdentity *
usi_tls_identity_load_or_generate (const char  *path,
                                   const char  *common_name,
                                   GError     **error)
{
  g_autoptr(GError) local_error = NULL;
  g_autoptr(UsiTlsIdentity) self = NULL;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (common_name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  self = usi_tls_identity_load (path, &local_error);
  if (self != NULL)
    return g_steal_pointer (&self);
  /* Only a missing file makes a new key; anything else is reported. */
  if (!g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }

  self = usi_tls_identity_generate (common_name, error);
  if (self == NULL || !usi_tls_identity_save (self, path, error))
    return NULL;
  return g_steal_pointer (&self);
}

const guint8 *
usi_tls_identity_get_pin (UsiTlsIdentity *self)
{
  g_return_val_if_fail (USI_IS_TLS_IDENTITY (self), NULL);

  return self->pin;
}

char *
usi_tls_identity_dup_pin_hex (UsiTlsIdentity *self)
{
  static const char digits[] = "0123456789abcdef";
  char *text;

  g_return_val_if_fail (USI_IS_TLS_IDENTITY (self), NULL);

  text = g_malloc (USI_TLS_PIN_LENGTH * 2 + 1);
  for (guint i = 0; i < USI_TLS_PIN_LENGTH; i++)
    {
      text[2 * i] = digits[self->pin[i] >> 4];
      text[2 * i + 1] = digits[self->pin[i] & 0xf];
    }
  text[USI_TLS_PIN_LENGTH * 2] = '\0';
  return text;
}

gboolean
usi_tls_pin_parse_hex (const char  *text,
                       guint8      *pin,
                       GError     **error)
{
  guint8 parsed[USI_TLS_PIN_LENGTH];

  g_return_val_if_fail (text != NULL, FALSE);
  g_return_val_if_fail (pin != NULL, FALSE);

  if (strlen (text) != USI_TLS_PIN_LENGTH * 2)
    goto invalid;
  for (guint i = 0; i < USI_TLS_PIN_LENGTH; i++)
    {
      int high = g_ascii_xdigit_value (text[2 * i]);
      int low = g_ascii_xdigit_value (text[2 * i + 1]);

      if (high < 0 || low < 0)
        goto invalid;
      parsed[i] = (guint8) (high << 4 | low);
    }
  memcpy (pin, parsed, sizeof parsed);
  return TRUE;

invalid:
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       _("A relay pin is 64 hexadecimal digits; check that it was copied whole."));
  return FALSE;
}

EVP_PKEY *
_usi_tls_identity_get_key (UsiTlsIdentity *self)
{
  g_assert (USI_IS_TLS_IDENTITY (self));

  return self->key;
}

X509 *
_usi_tls_identity_get_certificate (UsiTlsIdentity *self)
{
  g_assert (USI_IS_TLS_IDENTITY (self));

  return self->certificate;
}
