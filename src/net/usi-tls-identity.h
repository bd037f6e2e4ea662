/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib-object.h>

G_BEGIN_DECLS

/* An Ed25519 key and a self-signed X.509 certificate for TLS 1.3
 * (docs/protocol.md §11.1): the relay's long-lived one, or a client's
 * per-connection one.  Its pin is SHA-256 of the SubjectPublicKeyInfo. */

#define USI_TLS_PIN_LENGTH 32

#define USI_TYPE_TLS_IDENTITY (usi_tls_identity_get_type ())
G_DECLARE_FINAL_TYPE (UsiTlsIdentity, usi_tls_identity, USI, TLS_IDENTITY, GObject)

UsiTlsIdentity *usi_tls_identity_generate      (const char      *common_name,
                                                GError         **error);
/* Reads a PEM file holding the private key (PKCS#8) and the certificate;
 * writes one with mode 0600 (atomically: a temporary file, then rename). */
UsiTlsIdentity *usi_tls_identity_load          (const char      *path,
                                                GError         **error);
gboolean        usi_tls_identity_save          (UsiTlsIdentity  *self,
                                                const char      *path,
                                                GError         **error);
/* The same as PEM text in memory (for a key kept in the encrypted store):
 * secret bytes, wiped when freed. */
UsiTlsIdentity *usi_tls_identity_new_from_pem  (GBytes          *pem,
                                                GError         **error);
GBytes         *usi_tls_identity_dup_pem       (UsiTlsIdentity  *self,
                                                GError         **error);
/* Loads `path` when it exists, else generates and saves one. */
UsiTlsIdentity *usi_tls_identity_load_or_generate (const char   *path,
                                                   const char   *common_name,
                                                   GError      **error);

const guint8   *usi_tls_identity_get_pin       (UsiTlsIdentity  *self);   /* 32 bytes */
char           *usi_tls_identity_dup_pin_hex   (UsiTlsIdentity  *self);   /* 64 lower-case hex digits */

/* Parses 64 hexadecimal digits (either case) into 32 bytes; G_IO_ERROR_INVALID_ARGUMENT otherwise. */
gboolean        usi_tls_pin_parse_hex          (const char      *text,
                                                guint8          *pin,
                                                GError         **error);

/* net/ only.  The OpenSSL objects, borrowed; declared without including
 * OpenSSL so that this header stays usable everywhere. */
struct evp_pkey_st;
struct x509_st;
struct evp_pkey_st *_usi_tls_identity_get_key         (UsiTlsIdentity     *self);
struct x509_st     *_usi_tls_identity_get_certificate (UsiTlsIdentity     *self);
/* SHA-256 of the DER SubjectPublicKeyInfo of `key` (USI_TLS_PIN_LENGTH bytes). */
gboolean            _usi_tls_compute_pin              (struct evp_pkey_st *key,
                                                       guint8             *pin,
                                                       GError            **error);

G_END_DECLS
