/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The JSON line every benchmark figure is printed as, shared by usi-bench
 * and usi-bench-net so that scripts read one format. */

#include "config.h"

#include <math.h>
#include <stdio.h>

#include "usi-bench-report.h"

gboolean
usi_bench_figure_ok (const UsiBenchFigure *figure)
{
  return !isnan (figure->goal) && !isnan (figure->value) &&
         (figure->goal_is_max ? figure->value <= figure->goal : figure->value >= figure->goal);
}

int
usi_bench_figure_decimals (const UsiBenchFigure *figure)
{
  return figure->decimals > 0 ? figure->decimals : 1;
}

static void
append_json_number (GString *out,
                    double   value,
                    int      decimals)
{
  char buffer[G_ASCII_DTOSTR_BUF_SIZE];
  char format[8];

  if (isnan (value))
    {
      g_string_append (out, "null");
      return;
    }

  g_snprintf (format, sizeof format, "%%.%df", decimals);
  g_string_append (out, g_ascii_formatd (buffer, sizeof buffer, format, value));
}

static void
append_json_string (GString    *out,
                    const char *value)
{
  if (value == NULL)
    {
      g_string_append (out, "null");
      return;
    }

  g_string_append_c (out, '"');
  for (const char *p = value; *p != '\0'; p++)
    {
      if (*p == '"' || *p == '\\')
        g_string_append_c (out, '\\');
      g_string_append_c (out, *p);
    }
  g_string_append_c (out, '"');
}

void
usi_bench_figure_print_json (const UsiBenchFigure *figure)
{
  int decimals = usi_bench_figure_decimals (figure);
  g_autoptr(GString) out = g_string_new ("{\"bench\":");

  append_json_string (out, figure->bench);
  g_string_append (out, ",\"metric\":");
  append_json_string (out, figure->metric);
  g_string_append (out, ",\"value\":");
  append_json_number (out, figure->value, decimals);
  g_string_append (out, ",\"unit\":");
  append_json_string (out, figure->unit);
  g_string_append (out, ",\"anchor\":");
  append_json_string (out, figure->anchor);
  g_string_append (out, ",\"anchor_value\":");
  append_json_number (out, figure->anchor != NULL ? figure->anchor_value : NAN, decimals);
  g_string_append (out, ",\"goal\":");
  append_json_number (out, figure->goal, decimals);
  g_string_append_printf (out, ",\"ok\":%s}", usi_bench_figure_ok (figure) ? "true" : "false");
  printf ("%s\n", out->str);
  fflush (stdout);
}
