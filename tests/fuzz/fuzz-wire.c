/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The wire readers, driven by the input itself.  The input is a program:
 * each step is an opcode byte naming a reader, its parameters (a length, a
 * maximum) and then the field.  Every value read is written back with the
 * matching writer, so a program that reads to the end must reproduce the
 * input exactly; a reader that accepted a non-minimal length, a flag other
 * than 0 or 1, or bytes past the end would break that.  Nested vectors run
 * the same grammar inside them, a few levels deep.
 *
 *   step   = op:u8 ‖ field
 *   0 u8 · 1 u16 · 2 u32 · 3 u64 · 4 bool
 *   5 fixed         n:u8 ‖ n bytes            (in place)
 *   6 fixed_into    n:u8 ‖ n bytes            (copied)
 *   7 opaque        max:u16 ‖ V<bytes>        (in place)
 *   8 opaque_dup    max:u16 ‖ V<bytes>
 *   9 string_dup    max:u16 ‖ V<UTF-8>
 *  10 vector        max:u16 ‖ V<step*>
 *  anything else ends the program without a verdict. */

#include "config.h"

#include "protocol/usi-protocol-error.h"
#include "protocol/usi-wire.h"

#include "usi-fuzz.h"

#define MAX_DEPTH 6

typedef enum
{
  OP_U8,
  OP_U16,
  OP_U32,
  OP_U64,
  OP_BOOL,
  OP_FIXED,
  OP_FIXED_INTO,
  OP_OPAQUE,
  OP_OPAQUE_DUP,
  OP_STRING_DUP,
  OP_VECTOR,
} Op;

typedef enum
{
  RUN_COMPLETE,    /* read to the end: the output must equal the input */
  RUN_REFUSED,     /* a reader refused, with an error */
  RUN_UNKNOWN_OP,  /* not a program: no verdict */
} RunResult;

static void
check_refused (UsiWireReader *reader,
               GError        *error)
{
  usi_fuzz_check_refusal (error, USI_PROTOCOL_ERROR);
  usi_fuzz_check (error->code == USI_PROTOCOL_ERROR_MALFORMED ||
                  error->code == USI_PROTOCOL_ERROR_TOO_LARGE);
  usi_fuzz_check (reader->offset <= reader->length);
}

/* Reads a field whose parameter is itself read from the input. */
static gboolean
read_parameter (UsiWireReader  *reader,
                Op              op,
                GByteArray     *out,
                gsize          *parameter,
                GError        **error)
{
  if (op == OP_FIXED || op == OP_FIXED_INTO)
    {
      guint8 length;

      if (!usi_wire_read_u8 (reader, &length, error))
        return FALSE;
      usi_wire_write_u8 (out, length);
      *parameter = length;
    }
  else
    {
      guint16 max;

      if (!usi_wire_read_u16 (reader, &max, error))
        return FALSE;
      usi_wire_write_u16 (out, max);
      *parameter = max;
    }
  return TRUE;
}

static RunResult run (UsiWireReader *reader,
                      GByteArray    *out,
                      guint          depth);

static RunResult
run_step (UsiWireReader *reader,
          Op             op,
          GByteArray    *out,
          guint          depth)
{
  g_autoptr(GError) error = NULL;
  gsize parameter = 0;
  gboolean ok = TRUE;

  if (op > OP_VECTOR)
    return RUN_UNKNOWN_OP;

  if (op >= OP_FIXED &&
      !read_parameter (reader, op, out, &parameter, &error))
    {
      check_refused (reader, error);
      return RUN_REFUSED;
    }

  switch (op)
    {
    case OP_U8:
      {
        guint8 value;
        if ((ok = usi_wire_read_u8 (reader, &value, &error)))
          usi_wire_write_u8 (out, value);
      }
      break;
    case OP_U16:
      {
        guint16 value;
        if ((ok = usi_wire_read_u16 (reader, &value, &error)))
          usi_wire_write_u16 (out, value);
      }
      break;
    case OP_U32:
      {
        guint32 value;
        if ((ok = usi_wire_read_u32 (reader, &value, &error)))
          usi_wire_write_u32 (out, value);
      }
      break;
    case OP_U64:
      {
        guint64 value;
        if ((ok = usi_wire_read_u64 (reader, &value, &error)))
          usi_wire_write_u64 (out, value);
      }
      break;
    case OP_BOOL:
      {
        gboolean value = 2;
        if ((ok = usi_wire_read_bool (reader, &value, &error)))
          {
            usi_fuzz_check (value == TRUE || value == FALSE);
            usi_wire_write_bool (out, value);
          }
      }
      break;
    case OP_FIXED:
      {
        const guint8 *bytes = NULL;
        gsize before = reader->offset;
        if ((ok = usi_wire_read_fixed (reader, parameter, &bytes, &error)))
          {
            usi_fuzz_check (bytes == reader->data + before);
            usi_fuzz_check (reader->offset == before + parameter);
            usi_wire_write_fixed (out, bytes, parameter);
          }
      }
      break;
    case OP_FIXED_INTO:
      {
        guint8 copy[G_MAXUINT8];
        if ((ok = usi_wire_read_fixed_into (reader, parameter, copy, &error)))
          usi_wire_write_fixed (out, copy, parameter);
      }
      break;
    case OP_OPAQUE:
      {
        const guint8 *bytes = NULL;
        gsize length = G_MAXSIZE;
        if ((ok = usi_wire_read_opaque (reader, parameter, &bytes, &length, &error)))
          {
            usi_fuzz_check (length <= parameter);
            usi_fuzz_check (bytes >= reader->data && bytes + length <= reader->data + reader->length);
            usi_wire_write_opaque (out, bytes, length);
          }
      }
      break;
    case OP_OPAQUE_DUP:
      {
        g_autoptr(GBytes) bytes = NULL;
        if ((ok = usi_wire_read_opaque_dup (reader, parameter, &bytes, &error)))
          {
            usi_fuzz_check (g_bytes_get_size (bytes) <= parameter);
            usi_wire_write_bytes (out, bytes);
          }
      }
      break;
    case OP_STRING_DUP:
      {
        g_autofree char *string = NULL;
        if ((ok = usi_wire_read_string_dup (reader, parameter, &string, &error)))
          {
            usi_fuzz_check (strlen (string) <= parameter);
            usi_fuzz_check (g_utf8_validate (string, -1, NULL));
            usi_wire_write_string (out, string);
          }
      }
      break;
    case OP_VECTOR:
      {
        UsiWireReader sub;
        g_autoptr(GByteArray) nested = g_byte_array_new ();
        RunResult result;

        if (!(ok = usi_wire_read_vector (reader, parameter, &sub, &error)))
          break;
        usi_fuzz_check (sub.length <= parameter && sub.offset == 0);
        usi_fuzz_check (sub.data >= reader->data &&
                        sub.data + sub.length == reader->data + reader->offset);
        if (depth >= MAX_DEPTH)
          return RUN_UNKNOWN_OP;
        result = run (&sub, nested, depth + 1);
        if (result != RUN_COMPLETE)
          return result;
        usi_wire_write_opaque (out, nested->data, nested->len);
      }
      break;
    default:
      return RUN_UNKNOWN_OP;
    }

  if (!ok)
    {
      check_refused (reader, error);
      return RUN_REFUSED;
    }
  usi_fuzz_check (error == NULL);
  usi_fuzz_check (reader->offset <= reader->length);
  return RUN_COMPLETE;
}

static RunResult
run (UsiWireReader *reader,
     GByteArray    *out,
     guint          depth)
{
  while (!usi_wire_reader_at_end (reader))
    {
      g_autoptr(GError) error = NULL;
      RunResult result;
      guint8 op;

      usi_fuzz_check (usi_wire_read_u8 (reader, &op, &error));
      usi_wire_write_u8 (out, op);
      result = run_step (reader, op, out, depth);
      if (result != RUN_COMPLETE)
        return result;
    }

  return RUN_COMPLETE;
}

int
LLVMFuzzerInitialize (int    *argc,
                      char ***argv)
{
  usi_fuzz_make_warnings_fatal ();
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data,
                        size_t         size)
{
  g_autoptr(GByteArray) out = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  UsiWireReader reader;

  usi_wire_reader_init (&reader, data, size);
  if (run (&reader, out, 0) != RUN_COMPLETE)
    return 0;

  usi_fuzz_check (usi_wire_reader_finish (&reader, &error));
  usi_fuzz_check_same_bytes (data, size, out->data, out->len, "a wire program");
  return 0;
}
