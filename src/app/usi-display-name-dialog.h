/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define USI_TYPE_DISPLAY_NAME_DIALOG (usi_display_name_dialog_get_type ())

G_DECLARE_FINAL_TYPE (UsiDisplayNameDialog, usi_display_name_dialog, USI, DISPLAY_NAME_DIALOG, AdwMessageDialog)

UsiDisplayNameDialog *usi_display_name_dialog_new (GtkWindow *parent,
                                                   GSettings *settings);

G_END_DECLS
