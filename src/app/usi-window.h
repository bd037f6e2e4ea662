/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <adwaita.h>

#include "usi-application.h"

G_BEGIN_DECLS

#define USI_TYPE_WINDOW (usi_window_get_type ())

G_DECLARE_FINAL_TYPE (UsiWindow, usi_window, USI, WINDOW, AdwApplicationWindow)

UsiWindow *usi_window_new        (UsiApplication *application);
void       usi_window_show_toast (UsiWindow      *self,
                                  const char     *message);

G_END_DECLS
