/* SPDX-License-Identifier: GPL-3.0-or-later */

/* What every fuzz target shares: the libFuzzer entry points and a check that
 * turns a broken promise into a crash, so libFuzzer keeps the input.  The
 * targets never trust their input and never skip a check in any build type. */

#pragma once

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

G_BEGIN_DECLS

int LLVMFuzzerInitialize   (int            *argc,
                            char         ***argv);
int LLVMFuzzerTestOneInput (const uint8_t  *data,
                            size_t          size);

/* Not g_assert: that one disappears with G_DISABLE_ASSERT. */
#define usi_fuzz_check(condition)                                           \
  G_STMT_START {                                                            \
    if (G_UNLIKELY (!(condition)))                                          \
      {                                                                     \
        fprintf (stderr, "%s:%d: fuzz check failed: %s\n",                  \
                 __FILE__, __LINE__, #condition);                           \
        abort ();                                                           \
      }                                                                     \
  } G_STMT_END

/* A refusal must be an error of @domain: never a crash, never a silent
 * FALSE without an explanation. */
#define usi_fuzz_check_refusal(error, error_domain)                         \
  G_STMT_START {                                                            \
    if (G_UNLIKELY ((error) == NULL || (error)->domain != (error_domain)))  \
      {                                                                     \
        fprintf (stderr, "%s:%d: refused without a %s error (%s)\n",        \
                 __FILE__, __LINE__, #error_domain,                         \
                 (error) != NULL ? (error)->message : "no error at all");   \
        abort ();                                                           \
      }                                                                     \
  } G_STMT_END

/* A decoder that accepted @expected must encode it back to exactly the same
 * bytes: anything else means two encodings of one value are accepted. */
static inline void
usi_fuzz_check_same_bytes (const guint8 *expected,
                           gsize         expected_length,
                           const guint8 *actual,
                           gsize         actual_length,
                           const char   *what)
{
  if (expected_length == actual_length &&
      (expected_length == 0 || memcmp (expected, actual, expected_length) == 0))
    return;

  fprintf (stderr, "fuzz check failed: %s does not round-trip (%" G_GSIZE_FORMAT
           " bytes in, %" G_GSIZE_FORMAT " bytes out)\n",
           what, expected_length, actual_length);
  abort ();
}

static inline GLogWriterOutput
usi_fuzz_log_writer (GLogLevelFlags   log_level,
                     const GLogField *fields,
                     gsize            n_fields,
                     gpointer         user_data)
{
  GLogWriterOutput written = g_log_writer_default (log_level, fields, n_fields, user_data);

  /* abort(), not GLib's breakpoint trap: libFuzzer saves the input on
   * SIGABRT but not on SIGTRAP. */
  if (log_level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING))
    abort ();

  return written;
}

/* Warnings and criticals (a g_return_if_fail that attacker bytes can reach)
 * are findings too.  Call once, before anything logs. */
static inline void
usi_fuzz_make_warnings_fatal (void)
{
  g_log_set_writer_func (usi_fuzz_log_writer, NULL, NULL);
}

G_END_DECLS
