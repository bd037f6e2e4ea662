/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define USI_STORE_ERROR (usi_store_error_quark ())

/* Every way the store refuses to open or to read.  A corrupted or tampered
 * record is an error, never a reason to start afresh. */
typedef enum
{
  USI_STORE_ERROR_FAILED,             /* the disk or the system failed; the message says how */
  USI_STORE_ERROR_NO_SECRET_SERVICE,  /* no Secret Service answers: use a passphrase or keep nothing */
  USI_STORE_ERROR_WRONG_PASSPHRASE,   /* the passphrase does not unwrap the storage key */
  USI_STORE_ERROR_KEY_MISSING,        /* records exist but their storage key is gone */
  USI_STORE_ERROR_NOT_FOUND,          /* no record by that id */
  USI_STORE_ERROR_CORRUPT,            /* a record or the key file was truncated, altered, swapped or has an unknown version */
  USI_STORE_ERROR_INVALID_ID,         /* a record id outside [a-z0-9_-], or longer than USI_STORE_MAX_ID_LENGTH */
} UsiStoreError;

GQuark usi_store_error_quark (void);

typedef enum
{
  USI_STORE_MODE_SECRET_SERVICE,  /* the storage key lives in the Secret Service */
  USI_STORE_MODE_PASSPHRASE,      /* the storage key is wrapped by a passphrase (scrypt) */
  USI_STORE_MODE_KEEP_NOTHING,    /* everything stays in memory and is gone on exit */
} UsiStoreMode;

#define USI_STORE_MAX_ID_LENGTH     64
#define USI_STORE_MAX_RECORD_LENGTH (16 * 1024 * 1024)

#define USI_TYPE_STORE (usi_store_get_type ())
G_DECLARE_FINAL_TYPE (UsiStore, usi_store, USI, STORE, GObject)

/* A user's identity and room state, encrypted record by record under a
 * random 256-bit storage key.
 *
 * Every function here blocks (D-Bus round trips to the Secret Service,
 * scrypt, disk writes with fsync): callers on the main thread must run them
 * in a GTask thread (g_task_run_in_thread).  A UsiStore is not thread-safe:
 * use one from one thread at a time. */

/* Looks the storage key up in the Secret Service under @directory's
 * canonical path, or creates and stores one when the directory holds no
 * record yet.  Fails with USI_STORE_ERROR_NO_SECRET_SERVICE when no Secret
 * Service answers or it refuses to store, and USI_STORE_ERROR_KEY_MISSING
 * when records exist but their key is gone. */
UsiStore     *usi_store_open_secret_service (const char    *directory,
                                             GCancellable  *cancellable,
                                             GError       **error);
/* Unwraps the storage key from @directory/key with @passphrase, or creates
 * the key and that file when the directory holds no record yet.  A wrong
 * passphrase is USI_STORE_ERROR_WRONG_PASSPHRASE and changes nothing. */
UsiStore     *usi_store_open_passphrase     (const char    *directory,
                                             const char    *passphrase,
                                             GCancellable  *cancellable,
                                             GError       **error);
/* Keeps records in memory only; never touches the disk nor the Secret
 * Service. */
UsiStore     *usi_store_new_keep_nothing    (void);

/* Removes @directory's storage key from the Secret Service (when the user
 * deletes that state).  Nothing stored is not an error. */
gboolean      usi_store_forget_secret_service_key (const char    *directory,
                                                   GCancellable  *cancellable,
                                                   GError       **error);

UsiStoreMode  usi_store_get_mode            (UsiStore      *self);
/* NULL in keep-nothing mode. */
const char   *usi_store_get_directory       (UsiStore      *self);

/* Replaces the record @id atomically (a temporary file, fsync, rename). */
gboolean      usi_store_put                 (UsiStore      *self,
                                             const char    *id,
                                             GBytes        *plaintext,
                                             GError       **error);
/* The plaintext, in a GBytes wiped when freed. */
GBytes       *usi_store_get                 (UsiStore      *self,
                                             const char    *id,
                                             GError       **error);
gboolean      usi_store_delete              (UsiStore      *self,
                                             const char    *id,
                                             GError       **error);
/* The ids of the stored records, sorted; never NULL on success. */
GStrv         usi_store_list                (UsiStore      *self,
                                             GError       **error);

G_END_DECLS
