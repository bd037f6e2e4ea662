/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define USI_DISPLAY_NAME_MAX_CHARS 32

#define USI_DISPLAY_NAME_ERROR (usi_display_name_error_quark ())

typedef enum
{
  USI_DISPLAY_NAME_ERROR_EMPTY,
  USI_DISPLAY_NAME_ERROR_TOO_LONG,
  USI_DISPLAY_NAME_ERROR_INVALID_CHARACTER,
} UsiDisplayNameError;

GQuark usi_display_name_error_quark (void);

char *usi_display_name_normalize (const char  *name,
                                  GError     **error);

G_END_DECLS
