/* SPDX-License-Identifier: GPL-3.0-or-later */

#pragma once

#include "usi-store.h"

G_BEGIN_DECLS

#define USI_STORE_KEY_LENGTH 32

/* For tests only: the storage key, to check it never reaches the disk. */
const guint8 *_usi_store_get_key (UsiStore *self);

G_END_DECLS
