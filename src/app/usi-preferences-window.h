/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define USI_TYPE_PREFERENCES_WINDOW (usi_preferences_window_get_type ())

G_DECLARE_FINAL_TYPE (UsiPreferencesWindow, usi_preferences_window, USI, PREFERENCES_WINDOW, AdwPreferencesWindow)

UsiPreferencesWindow *usi_preferences_window_new (GSettings *settings);

G_END_DECLS
