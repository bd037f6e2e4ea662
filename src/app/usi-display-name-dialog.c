/* SPDX-License-Identifier: GPL-3.0-or-later */

/* The first-run question: which name should others see?  "Continue" is
 * enabled only while the typed name is acceptable, and the reason a name is
 * refused is shown under the entry.
 */

#define G_LOG_DOMAIN "usi-display-name-dialog"

#include "config.h"

#include "protocol/usi-display-name.h"

#include "usi-display-name-dialog.h"

struct _UsiDisplayNameDialog
{
  AdwMessageDialog  parent_instance;

  GSettings        *settings;

  /* Template widgets */
  GtkEntry         *name_entry;
  GtkLabel         *problem_label;
};

enum {
  PROP_0,
  PROP_SETTINGS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (UsiDisplayNameDialog, usi_display_name_dialog, ADW_TYPE_MESSAGE_DIALOG)

static void
on_name_changed (UsiDisplayNameDialog *self,
                 GtkEditable          *entry)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *name = NULL;
  const char *text = gtk_editable_get_text (entry);

  name = usi_display_name_normalize (text, &error);
  adw_message_dialog_set_response_enabled (ADW_MESSAGE_DIALOG (self), "continue", name != NULL);

  /* An empty entry is not a mistake yet; say nothing until something is typed. */
  if (name == NULL && text[0] != '\0')
    {
      gtk_label_set_text (self->problem_label, error->message);
      gtk_widget_add_css_class (GTK_WIDGET (self->name_entry), "error");
    }
  else
    {
      gtk_label_set_text (self->problem_label, "");
      gtk_widget_remove_css_class (GTK_WIDGET (self->name_entry), "error");
    }
  gtk_widget_set_visible (GTK_WIDGET (self->problem_label), name == NULL && text[0] != '\0');
}

static void
on_name_activate (UsiDisplayNameDialog *self,
                  GtkEntry             *entry)
{
  if (!adw_message_dialog_get_response_enabled (ADW_MESSAGE_DIALOG (self), "continue"))
    return;

  /* Responding does not close the dialog in libadwaita 1.2; only its own
   * buttons do. */
  adw_message_dialog_response (ADW_MESSAGE_DIALOG (self), "continue");
  gtk_window_close (GTK_WINDOW (self));
}

static void
usi_display_name_dialog_response (AdwMessageDialog *dialog,
                                  const char       *response)
{
  UsiDisplayNameDialog *self = USI_DISPLAY_NAME_DIALOG (dialog);

  if (g_strcmp0 (response, "continue") == 0)
    {
      g_autofree char *name = NULL;

      name = usi_display_name_normalize (gtk_editable_get_text (GTK_EDITABLE (self->name_entry)), NULL);
      g_assert (name != NULL);
      g_settings_set_string (self->settings, "display-name", name);
    }

  /* libadwaita 1.2 has no default handler to chain up to. */
  if (ADW_MESSAGE_DIALOG_CLASS (usi_display_name_dialog_parent_class)->response != NULL)
    ADW_MESSAGE_DIALOG_CLASS (usi_display_name_dialog_parent_class)->response (dialog, response);
}

static void
usi_display_name_dialog_dispose (GObject *object)
{
  UsiDisplayNameDialog *self = USI_DISPLAY_NAME_DIALOG (object);

  gtk_widget_dispose_template (GTK_WIDGET (self), USI_TYPE_DISPLAY_NAME_DIALOG);
  g_clear_object (&self->settings);

  G_OBJECT_CLASS (usi_display_name_dialog_parent_class)->dispose (object);
}

static void
usi_display_name_dialog_set_property (GObject      *object,
                                      guint         prop_id,
                                      const GValue *value,
                                      GParamSpec   *pspec)
{
  UsiDisplayNameDialog *self = USI_DISPLAY_NAME_DIALOG (object);

  switch (prop_id)
    {
    case PROP_SETTINGS:
      self->settings = g_value_dup_object (value);
      break;

    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
usi_display_name_dialog_class_init (UsiDisplayNameDialogClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);
  AdwMessageDialogClass *dialog_class = ADW_MESSAGE_DIALOG_CLASS (klass);

  object_class->dispose = usi_display_name_dialog_dispose;
  object_class->set_property = usi_display_name_dialog_set_property;
  dialog_class->response = usi_display_name_dialog_response;

  properties[PROP_SETTINGS] =
    g_param_spec_object ("settings", NULL, NULL,
                         G_TYPE_SETTINGS,
                         G_PARAM_WRITABLE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS);
  g_object_class_install_properties (object_class, N_PROPS, properties);

  gtk_widget_class_set_template_from_resource (widget_class, RESOURCE_BASE_PATH "/usi-display-name-dialog.ui");
  gtk_widget_class_bind_template_child (widget_class, UsiDisplayNameDialog, name_entry);
  gtk_widget_class_bind_template_child (widget_class, UsiDisplayNameDialog, problem_label);
  gtk_widget_class_bind_template_callback (widget_class, on_name_changed);
  gtk_widget_class_bind_template_callback (widget_class, on_name_activate);
}

static void
usi_display_name_dialog_init (UsiDisplayNameDialog *self)
{
  gtk_widget_init_template (GTK_WIDGET (self));
  adw_message_dialog_set_response_enabled (ADW_MESSAGE_DIALOG (self), "continue", FALSE);
}

UsiDisplayNameDialog *
usi_display_name_dialog_new (GtkWindow *parent,
                             GSettings *settings)
{
  g_return_val_if_fail (!parent || GTK_IS_WINDOW (parent), NULL);
  g_return_val_if_fail (G_IS_SETTINGS (settings), NULL);

  return g_object_new (USI_TYPE_DISPLAY_NAME_DIALOG,
                       "transient-for", parent,
                       "application", parent ? gtk_window_get_application (parent) : NULL,
                       "settings", settings,
                       NULL);
}
