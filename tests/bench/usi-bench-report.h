/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* One figure of a benchmark, with its anchor measured in the same run,
 * and the one JSON line per figure `build-aux/dev bench --json` prints:
 * {"bench","metric","value","unit","anchor","anchor_value","goal","ok"}. */
typedef struct
{
  const char *bench;
  const char *metric;
  const char *description;
  double      value;
  const char *unit;
  const char *anchor;        /* NULL: an absolute goal */
  double      anchor_value;  /* NAN when the anchor could not be measured */
  double      goal;          /* in the figure's unit */
  const char *goal_text;
  gboolean    goal_is_max;   /* the value must be at most the goal (times) */
  int         decimals;      /* printed after the point; 0 means 1 */
} UsiBenchFigure;

/* Whether the value meets the goal (never when either is unknown). */
gboolean usi_bench_figure_ok         (const UsiBenchFigure *figure);
int      usi_bench_figure_decimals   (const UsiBenchFigure *figure);
/* The figure as one JSON object on one line of stdout. */
void     usi_bench_figure_print_json (const UsiBenchFigure *figure);

G_END_DECLS
