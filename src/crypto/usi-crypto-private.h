/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Shared by the files of crypto/ only: never include from another layer. */

#pragma once

#include <openssl/err.h>
#include <openssl/evp.h>

#include "usi-crypto-error.h"

G_BEGIN_DECLS

void _usi_crypto_set_openssl_error (GError         **error,
                                    UsiCryptoError   code,
                                    const char      *what);

gboolean _usi_x25519_agree            (EVP_PKEY        *key,
                                      const guint8    *peer_public_key,
                                      guint8          *shared_secret,
                                      GError         **error);

G_END_DECLS
