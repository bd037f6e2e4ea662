/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

#include "crypto/usi-chunked.h"
#include "crypto/usi-random.h"

#include "usi-protocol-labels.h"

G_BEGIN_DECLS

/* The bodies of the two application messages of a file transfer
 * (docs/protocol.md §10): a FileOffer lists the files (and empty folders) a
 * member offers, a FileEnd closes one file with the hash of what was sent.
 * Both travel inside a signed, encrypted AppMessage, which is what makes them
 * attributable; this unit only encodes and checks them. */

#define USI_FILE_ID_LENGTH          16
#define USI_FILE_OFFER_ID_LENGTH    16
#define USI_FILE_OFFER_MAX_ENTRIES  256
/* The largest encoded offer: it must fit one AppMessage body.  A folder with
 * more goes out as several offers. */
#define USI_FILE_OFFER_MAX_LENGTH   (60 * 1024)
#define USI_FILE_END_LENGTH         (USI_FILE_ID_LENGTH + 8 + USI_HASH_LENGTH)

typedef enum
{
  USI_FILE_ENTRY_FILE   = 1,
  USI_FILE_ENTRY_FOLDER = 2,   /* an empty folder to create; only inside an offered folder */
} UsiFileEntryKind;

/* One file or folder of an offer.  For a folder, only @path is set. */
typedef struct
{
  UsiFileEntryKind  kind;
  guint8            file_id[USI_FILE_ID_LENGTH];
  /* Relative to the offered folder (or just a name when no folder is
   * offered), '/'-separated, every component safe (usi_file_path_is_safe). */
  char             *path;
  guint64           size;
  /* Cobblestone-256 salt ‖ commitment of the file's ciphertext. */
  guint8            header[USI_CHUNKED_HEADER_LENGTH];
} UsiFileEntry;

typedef struct _UsiFileOffer UsiFileOffer;

/* A new random 16-byte file id. */
gboolean            usi_file_id_generate           (UsiRandom           *random,
                                                    guint8              *file_id,
                                                    GError             **error);

/* An empty offer with a random offer id.  @folder_name is the name of the
 * offered folder (sanitized here), or NULL to offer loose files. */
UsiFileOffer       *usi_file_offer_new             (UsiRandom           *random,
                                                    const char          *folder_name,
                                                    GError             **error);
/* Adds a file.  @path is sanitized (usi_file_path_sanitize); without a folder
 * it must be a single name.  Fails, leaving the offer unchanged, with
 * UNSAFE_NAME (a refused path, the same path twice, a file where another
 * entry needs a folder), MALFORMED (a file id already in the offer) or
 * TOO_LARGE (size past 2^38 chunks, more than USI_FILE_OFFER_MAX_ENTRIES
 * entries or USI_FILE_OFFER_MAX_LENGTH bytes: send the rest in another
 * offer). */
gboolean            usi_file_offer_add_file        (UsiFileOffer        *offer,
                                                    const guint8        *file_id,
                                                    const char          *path,
                                                    guint64              size,
                                                    const guint8        *header,
                                                    GError             **error);
/* Adds an empty folder (same rules; only in an offer with a folder). */
gboolean            usi_file_offer_add_folder      (UsiFileOffer        *offer,
                                                    const char          *path,
                                                    GError             **error);
/* MALFORMED for an offer without entries. */
GBytes             *usi_file_offer_encode          (UsiFileOffer        *offer,
                                                    GError             **error);
/* Canonical decoding; every entry is checked as usi_file_offer_add_*() would,
 * and nothing is repaired: a name that is not already safe is refused. */
UsiFileOffer       *usi_file_offer_decode          (const guint8        *body,
                                                    gsize                length,
                                                    GError             **error);
void                usi_file_offer_free            (UsiFileOffer        *offer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (UsiFileOffer, usi_file_offer_free)

const guint8       *usi_file_offer_get_id          (UsiFileOffer        *offer);
/* NULL when loose files are offered. */
const char         *usi_file_offer_get_folder_name (UsiFileOffer        *offer);
guint               usi_file_offer_get_n_entries   (UsiFileOffer        *offer);
const UsiFileEntry *usi_file_offer_get_entry       (UsiFileOffer        *offer,
                                                    guint                index);
/* NULL when no file of the offer has that id. */
const UsiFileEntry *usi_file_offer_lookup_file     (UsiFileOffer        *offer,
                                                    const guint8        *file_id);
/* The sum of the files' sizes. */
guint64             usi_file_offer_get_total_size  (UsiFileOffer        *offer);

/* Closes one file: what the receiver compares with what it received. */
typedef struct
{
  guint8  file_id[USI_FILE_ID_LENGTH];
  guint64 chunk_count;                       /* the final short chunk included */
  guint8  ciphertext_hash[USI_HASH_LENGTH];  /* SHA-256 of every chunk's ciphertext, in order */
} UsiFileEnd;

GBytes             *usi_file_end_encode            (const UsiFileEnd    *end);
/* MALFORMED for a wrong length or a chunk count of 0 or past 2^38. */
gboolean            usi_file_end_decode            (const guint8        *body,
                                                    gsize                length,
                                                    UsiFileEnd          *end,
                                                    GError             **error);

G_END_DECLS
