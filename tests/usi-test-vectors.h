/* SPDX-License-Identifier: GPL-3.0-or-later */

/* Helpers for known-answer tests over ../shared/vectors/. */

#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* The folder of published vectors: $USI_VECTORS_DIR, or ../shared/vectors
 * beside the source tree.  Returns NULL (and the caller skips, saying why)
 * when it is absent. */
const char *usi_test_vectors_dir        (void);

/* Parses FOLDER/FILE.json; NULL means the vectors are absent and the current
 * test has been marked skipped with a message naming the path. */
JsonNode   *usi_test_vectors_load_json  (const char  *relative_path);

/* Reads a text vector file whole; NULL and skipped when absent. */
char       *usi_test_vectors_load_text  (const char  *relative_path);

/* Decodes lower- or upper-case hex, failing the test on bad input. */
GBytes     *usi_test_hex                (const char  *hex);
char       *usi_test_to_hex             (const guint8 *data,
                                         gsize         length);

/* Reports how many vectors a test ran, and fails the test when none did. */
void        usi_test_vectors_report     (const char  *what,
                                         guint        count);

/* Asserts two byte strings are equal, printing both in hex when not. */
#define usi_assert_bytes_equal(a, a_len, b, b_len) \
  G_STMT_START { \
    g_autofree char *__a = usi_test_to_hex ((a), (a_len)); \
    g_autofree char *__b = usi_test_to_hex ((b), (b_len)); \
    g_assert_cmpstr (__a, ==, __b); \
  } G_STMT_END

G_END_DECLS
