/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The longest name of one file or folder, in bytes of UTF-8 (what Linux,
 * Windows and macOS file systems all accept). */
#define USI_FILE_NAME_MAX_BYTES  255
/* A relative path inside an offered folder: at most this many components
 * and this many bytes (the '/' separators included). */
#define USI_FILE_PATH_MAX_DEPTH  16
#define USI_FILE_PATH_MAX_BYTES  1024

/* Turns any name (a local file's, or one received from a peer) into a single
 * path component that is safe to create inside a chosen folder on Linux,
 * Windows and macOS and to show to a person (docs/protocol.md §10.8):
 *
 *   - a NUL anywhere, or a bidirectional control (U+061C, U+200E, U+200F,
 *     U+202A–U+202E, U+2066–U+2069) anywhere: refused;
 *   - '/' and '\' separate components: only the last one is kept;
 *   - control characters, line and paragraph separators, invisible format
 *     characters (except ZWJ/ZWNJ), noncharacters and < > : " | ? * become '_';
 *   - invalid UTF-8 becomes U+FFFD; the result is in NFC;
 *   - space separators are trimmed from both ends and dots from the end;
 *     nothing left (e.g. "..", "...", "") is refused;
 *   - a leading '.' or '-' becomes '_'; a Windows device name (CON, NUL,
 *     COM1, LPT1... with any extension) gets a '_' in front;
 *   - longer than USI_FILE_NAME_MAX_BYTES: the end of the stem is cut on a
 *     character boundary, keeping an extension of up to 16 bytes.
 *
 * @length is in bytes (-1 for NUL-terminated), so an embedded NUL is seen.
 * Refusals are USI_PROTOCOL_ERROR_UNSAFE_NAME.  The result is never empty,
 * and sanitizing it again gives it back unchanged. */
char     *usi_file_name_sanitize     (const char  *name,
                                      gssize       length,
                                      GError     **error);
/* TRUE when @name (NUL-terminated) is exactly what the sanitizer returns
 * for it: the form every name on the wire must have. */
gboolean  usi_file_name_is_safe      (const char  *name);

/* A relative path inside an offered folder: components separated by '/' or
 * '\' on input and by '/' on output, each sanitized as above; empty and "."
 * components dropped.  Refused (UNSAFE_NAME): an absolute path ("/x", "\x",
 * "C:..."), a ".." component, a component the sanitizer refuses, more than
 * USI_FILE_PATH_MAX_DEPTH components or USI_FILE_PATH_MAX_BYTES bytes, or
 * nothing at all. */
char     *usi_file_path_sanitize     (const char  *path,
                                      gssize       length,
                                      GError     **error);
gboolean  usi_file_path_is_safe      (const char  *path);

/* Whether a name is already used where the file is to be saved. */
typedef gboolean (*UsiFileNameTakenFunc) (const char *name,
                                          gpointer    user_data);

/* For saving without ever overwriting: @name (safe) if @is_taken says it is
 * free, else the first free of "stem (2).ext", "stem (3).ext", ... up to
 * 9999, each safe and within USI_FILE_NAME_MAX_BYTES.  NULL when all are
 * taken.  The caller must still create the file exclusively (O_EXCL): the
 * answer can be stale by then. */
char     *usi_file_name_make_unique  (const char           *name,
                                      UsiFileNameTakenFunc  is_taken,
                                      gpointer              user_data);

G_END_DECLS
