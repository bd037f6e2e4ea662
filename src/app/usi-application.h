/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include <adwaita.h>

G_BEGIN_DECLS

#define USI_TYPE_APPLICATION (usi_application_get_type ())

G_DECLARE_FINAL_TYPE (UsiApplication, usi_application, USI, APPLICATION, AdwApplication)

UsiApplication *usi_application_new                (GApplicationFlags  flags);
GSettings      *usi_application_get_settings       (UsiApplication    *self);
const char     *usi_application_get_pending_invite (UsiApplication    *self);

G_END_DECLS
