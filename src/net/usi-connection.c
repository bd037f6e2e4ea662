/* SPDX-License-Identifier: GPL-3.0-or-later */

/* One TLS 1.3 connection carrying frames (docs/protocol.md §4, §11.1).
 *
 * libssl never touches the socket: it reads from one memory BIO that we fill
 * with what g_input_stream_read_async() brought, and writes into another
 * that we drain with g_output_stream_write_async(), one write in flight at a
 * time.  So nothing here ever blocks, every step runs in the main context
 * the connection was made in, and the limits (handshake time, idle time,
 * frame rate, frame sizes, bytes queued) are checked on our side of the
 * BIOs.  A frame's header is checked before a byte of its body is buffered.
 *
 * This must never: send a byte of application data before the peer's key
 * was checked (the pin, T1), accept anything but TLS 1.3 with X25519 and
 * Ed25519 (T2), accept a client without a single self-signed Ed25519
 * certificate (T4), or grow its buffers past the limits whatever the peer
 * does (T5, backpressure). */

#define G_LOG_DOMAIN "usi-net"

#include "config.h"

#include <string.h>

#include <glib/gi18n-lib.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "protocol/usi-frame.h"
#include "protocol/usi-relay-frame.h"

#include "usi-connection.h"
#include "usi-deadline.h"
#include "usi-net-error.h"

#define READ_BUFFER_SIZE  (16 * 1024)
/* Plaintext is handed to libssl only this far ahead of the socket, so a
 * queued frame costs its size once, not twice. */
#define ENCRYPT_AHEAD     (64 * 1024)
/* How long a closing connection may still try to write what it had queued
 * (and the TLS close_notify or alert) before the socket is closed anyway. */
#define CLOSE_LINGER_MS   1000

typedef enum
{
  STATE_NEW,
  STATE_HANDSHAKING,
  STATE_OPEN,
  STATE_CLOSED,
} State;

struct _UsiConnection
{
  GObject              parent_instance;

  GMainContext        *context;
  GIOStream           *stream;
  GInputStream        *input;
  GOutputStream       *output;
  gboolean             is_server;
  UsiTlsIdentity      *identity;     /* server: the relay's; client: a fresh one */
  gboolean             has_expected_pin;  /* FALSE: any relay key (a pre-shared room without --pin) */
  guint8               expected_pin[USI_TLS_PIN_LENGTH];
  guint8               peer_pin[USI_TLS_PIN_LENGTH];
  guint8               client_spki_hash[USI_TLS_PIN_LENGTH];
  UsiConnectionLimits  limits;

  SSL                 *ssl;          /* owns the two BIOs */
  BIO                 *rbio;
  BIO                 *wbio;
  State                state;
  gboolean             handshake_done;
  gboolean             ssl_failed;   /* libssl is in an error state: no more SSL_write */
  gboolean             pin_mismatch; /* set by the verify callback */

  GTask               *handshake_task;
  GSource             *handshake_timer;
  GSource             *handshake_cancel_source;
  GSource             *idle_timer;
  GSource             *linger_timer;

  /* Reading. */
  GCancellable        *read_cancellable;
  gboolean             reading;
  guint8              *read_buffer;
  guint8               header[USI_FRAME_HEADER_LENGTH];
  gsize                header_fill;
  guint8               frame_type;
  guint8              *body;         /* NULL while reading a header */
  gsize                body_length;
  gsize                body_fill;
  double               tokens;
  gint64               tokens_time;

  /* Writing: frames not yet given to libssl, then TLS bytes not yet handed
   * to a write, then the write in flight. */
  GCancellable        *write_cancellable;
  gboolean             writing;
  GQueue               plain;
  gsize                plain_bytes;
  GByteArray          *cipher;
  GBytes              *in_flight;
  gsize                in_flight_offset;
  gboolean             abandon_output;
  gboolean             stream_closing;
};

enum {
  FRAME_RECEIVED,
  DRAINED,
  CLOSED,
  N_SIGNALS
};

static guint signals[N_SIGNALS];

G_DEFINE_FINAL_TYPE (UsiConnection, usi_connection, G_TYPE_OBJECT)

static void close_internal (UsiConnection *self,
                            GError        *reason,
                            gboolean       linger);
static void pump_output    (UsiConnection *self);
static void maybe_finish_close (UsiConnection *self);

void
usi_connection_limits_init_default (UsiConnectionLimits *limits)
{
  g_return_if_fail (limits != NULL);

  limits->handshake_timeout_ms = 10000;
  limits->idle_timeout_ms = 60000;
  limits->frames_per_second = 10000;
  limits->frame_burst = 20000;
  limits->max_queued_bytes = 8 * 1024 * 1024;
}

static void
usi_connection_dispose (GObject *object)
{
  UsiConnection *self = (UsiConnection *)object;

  /* Only reached with nothing in flight (every operation holds a reference):
   * a connection dropped without usi_connection_close(). */
  if (self->state != STATE_CLOSED)
    {
      self->state = STATE_CLOSED;
      if (self->stream != NULL && !self->stream_closing)
        {
          self->stream_closing = TRUE;
          g_io_stream_close (self->stream, NULL, NULL);
        }
    }
  _usi_clear_source (&self->handshake_timer);
  _usi_clear_source (&self->handshake_cancel_source);
  _usi_clear_source (&self->idle_timer);
  _usi_clear_source (&self->linger_timer);

  G_OBJECT_CLASS (usi_connection_parent_class)->dispose (object);
}

static void
usi_connection_finalize (GObject *object)
{
  UsiConnection *self = (UsiConnection *)object;

  g_assert (self->handshake_task == NULL);

  g_clear_pointer (&self->ssl, SSL_free);
  g_clear_object (&self->stream);
  g_clear_object (&self->identity);
  g_clear_object (&self->read_cancellable);
  g_clear_object (&self->write_cancellable);
  g_clear_pointer (&self->read_buffer, g_free);
  g_clear_pointer (&self->body, g_free);
  g_queue_clear_full (&self->plain, (GDestroyNotify) g_bytes_unref);
  g_clear_pointer (&self->cipher, g_byte_array_unref);
  g_clear_pointer (&self->in_flight, g_bytes_unref);
  g_clear_pointer (&self->context, g_main_context_unref);

  G_OBJECT_CLASS (usi_connection_parent_class)->finalize (object);
}

static void
usi_connection_class_init (UsiConnectionClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = usi_connection_dispose;
  object_class->finalize = usi_connection_finalize;

  signals[FRAME_RECEIVED] =
    g_signal_new ("frame-received",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 2, G_TYPE_UINT, G_TYPE_BYTES);
  signals[DRAINED] =
    g_signal_new ("drained",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 0);
  signals[CLOSED] =
    g_signal_new ("closed",
                  G_TYPE_FROM_CLASS (klass),
                  G_SIGNAL_RUN_LAST,
                  0, NULL, NULL, NULL,
                  G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void
usi_connection_init (UsiConnection *self)
{
  self->context = g_main_context_ref_thread_default ();
  self->read_cancellable = g_cancellable_new ();
  self->write_cancellable = g_cancellable_new ();
  self->read_buffer = g_malloc (READ_BUFFER_SIZE);
  self->cipher = g_byte_array_new ();
  g_queue_init (&self->plain);
}

static UsiConnection *
connection_new (GIOStream                 *stream,
                const UsiConnectionLimits *limits)
{
  UsiConnection *self = g_object_new (USI_TYPE_CONNECTION, NULL);

  self->stream = g_object_ref (stream);
  self->input = g_io_stream_get_input_stream (stream);
  self->output = g_io_stream_get_output_stream (stream);
  if (limits != NULL)
    self->limits = *limits;
  else
    usi_connection_limits_init_default (&self->limits);
  self->tokens = MAX (self->limits.frame_burst, 1);
  self->tokens_time = g_get_monotonic_time ();
  return self;
}

UsiConnection *
usi_connection_new_server (GIOStream                 *stream,
                           UsiTlsIdentity            *identity,
                           const UsiConnectionLimits *limits)
{
  UsiConnection *self;

  g_return_val_if_fail (G_IS_IO_STREAM (stream), NULL);
  g_return_val_if_fail (USI_IS_TLS_IDENTITY (identity), NULL);

  self = connection_new (stream, limits);
  self->is_server = TRUE;
  self->identity = g_object_ref (identity);
  return self;
}

UsiConnection *
usi_connection_new_client (GIOStream                 *stream,
                           const guint8              *expected_pin,
                           const UsiConnectionLimits *limits)
{
  UsiConnection *self;

  g_return_val_if_fail (G_IS_IO_STREAM (stream), NULL);

  self = connection_new (stream, limits);
  self->is_server = FALSE;
  if (expected_pin != NULL)
    {
      self->has_expected_pin = TRUE;
      memcpy (self->expected_pin, expected_pin, USI_TLS_PIN_LENGTH);
    }
  return self;
}

/* Errors */

static GError *
new_error (UsiNetError  code,
           const char  *message)
{
  return g_error_new_literal (USI_NET_ERROR, code, message);
}

static GError *
new_openssl_error (UsiNetError  code,
                   const char  *what)
{
  GError *error = NULL;

  _usi_net_set_openssl_error (&error, USI_NET_ERROR, code, what);
  return error;
}

static void
fail (UsiConnection *self,
      UsiNetError    code,
      const char    *message,
      gboolean       linger)
{
  close_internal (self, new_error (code, message), linger);
}

/* TLS set-up */

/* The only certificate either side accepts: one, self-signed, Ed25519,
 * whose self-signature verifies; whatever libssl's chain checks say about
 * it being untrusted.  The client also requires the pin here, so a wrong
 * relay never sees the client's certificate or Finished. */
static int
verify_peer (int             preverify_ok,
             X509_STORE_CTX *store)
{
  SSL *ssl = X509_STORE_CTX_get_ex_data (store, SSL_get_ex_data_X509_STORE_CTX_idx ());
  UsiConnection *self = ssl != NULL ? SSL_get_app_data (ssl) : NULL;
  STACK_OF(X509) *chain = X509_STORE_CTX_get0_untrusted (store);
  X509 *certificate = X509_STORE_CTX_get_current_cert (store);
  EVP_PKEY *key;

  if (self == NULL || certificate == NULL)
    return 0;
  if (X509_STORE_CTX_get_error_depth (store) != 0 ||
      chain == NULL || sk_X509_num (chain) != 1)
    return 0;

  key = X509_get0_pubkey (certificate);
  if (key == NULL || !EVP_PKEY_is_a (key, "ED25519") ||
      X509_verify (certificate, key) != 1)
    return 0;

  if (!self->is_server)
    {
      guint8 pin[USI_TLS_PIN_LENGTH];

      if (!_usi_tls_compute_pin (key, pin, NULL) ||
          (self->has_expected_pin && CRYPTO_memcmp (pin, self->expected_pin, USI_TLS_PIN_LENGTH) != 0))
        {
          self->pin_mismatch = TRUE;
          X509_STORE_CTX_set_error (store, X509_V_ERR_CERT_REJECTED);
          return 0;
        }
    }

  X509_STORE_CTX_set_error (store, X509_V_OK);
  return 1;
}

static SSL_CTX *
context_new (UsiTlsIdentity  *identity,
             gboolean         is_server,
             GError         **error)
{
  SSL_CTX *context = SSL_CTX_new (TLS_method ());

  if (context == NULL ||
      !SSL_CTX_set_min_proto_version (context, TLS1_3_VERSION) ||
      !SSL_CTX_set_max_proto_version (context, TLS1_3_VERSION) ||
      !SSL_CTX_set1_groups_list (context, "X25519") ||
      !SSL_CTX_set1_sigalgs_list (context, "ed25519") ||
      !SSL_CTX_set_num_tickets (context, 0) ||
      !SSL_CTX_set_max_early_data (context, 0) ||
      SSL_CTX_use_certificate (context, _usi_tls_identity_get_certificate (identity)) != 1 ||
      SSL_CTX_use_PrivateKey (context, _usi_tls_identity_get_key (identity)) != 1 ||
      SSL_CTX_check_private_key (context) != 1)
    {
      _usi_net_set_openssl_error (error, USI_NET_ERROR, USI_NET_ERROR_TLS,
                                  _("Setting up TLS"));
      SSL_CTX_free (context);
      return NULL;
    }

  SSL_CTX_set_options (context, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_session_cache_mode (context, SSL_SESS_CACHE_OFF);
  /* Idle connections give their record buffers back. */
  SSL_CTX_set_mode (context, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_verify (context,
                      is_server ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER,
                      verify_peer);
  SSL_CTX_set_verify_depth (context, 0);
  return context;
}

/* A relay's context is made once per identity and shared by its
 * connections (making one costs more than a handshake). */
static SSL_CTX *
server_context_get (UsiTlsIdentity  *identity,
                    GError         **error)
{
  static GQuark quark;
  SSL_CTX *context;

  if (quark == 0)
    quark = g_quark_from_static_string ("usi-connection-server-context");

  context = g_object_get_qdata (G_OBJECT (identity), quark);
  if (context == NULL)
    {
      context = context_new (identity, TRUE, error);
      if (context == NULL)
        return NULL;
      g_object_set_qdata_full (G_OBJECT (identity), quark, context, (GDestroyNotify) SSL_CTX_free);
    }
  return context;
}

static gboolean
setup_ssl (UsiConnection  *self,
           GError        **error)
{
  SSL_CTX *context;

  ERR_clear_error ();
  if (self->is_server)
    {
      context = server_context_get (self->identity, error);
      if (context == NULL)
        return FALSE;
      SSL_CTX_up_ref (context);
    }
  else
    {
      /* A fresh key for each connection: the identity is bound by Hello,
       * never by the certificate (§11.1). */
      self->identity = usi_tls_identity_generate ("usi client", error);
      if (self->identity == NULL)
        return FALSE;
      memcpy (self->client_spki_hash, usi_tls_identity_get_pin (self->identity), USI_TLS_PIN_LENGTH);
      context = context_new (self->identity, FALSE, error);
      if (context == NULL)
        return FALSE;
    }

  self->ssl = SSL_new (context);
  SSL_CTX_free (context);
  self->rbio = BIO_new (BIO_s_mem ());
  self->wbio = BIO_new (BIO_s_mem ());
  if (self->ssl == NULL || self->rbio == NULL || self->wbio == NULL)
    {
      BIO_free (self->rbio);
      BIO_free (self->wbio);
      self->rbio = self->wbio = NULL;
      _usi_net_set_openssl_error (error, USI_NET_ERROR, USI_NET_ERROR_TLS, _("Setting up TLS"));
      return FALSE;
    }
  /* An empty read BIO means "wait for more", not end of file. */
  BIO_set_mem_eof_return (self->rbio, -1);
  SSL_set_bio (self->ssl, self->rbio, self->wbio);
  SSL_set_app_data (self->ssl, self);
  if (self->is_server)
    SSL_set_accept_state (self->ssl);
  else
    SSL_set_connect_state (self->ssl);
  return TRUE;
}

/* Writing */

static gsize
queued_bytes (UsiConnection *self)
{
  gsize in_flight = 0;

  if (self->in_flight != NULL)
    in_flight = g_bytes_get_size (self->in_flight) - self->in_flight_offset;
  return self->plain_bytes + self->cipher->len + in_flight;
}

/* Moves what libssl wrote into the outgoing TLS bytes. */
static void
collect_output (UsiConnection *self)
{
  size_t pending;
  guint old_length;

  if (self->wbio == NULL)
    return;
  pending = BIO_ctrl_pending (self->wbio);
  if (pending == 0)
    return;

  old_length = self->cipher->len;
  g_byte_array_set_size (self->cipher, old_length + pending);
  /* A memory BIO hands out everything it holds. */
  if (BIO_read (self->wbio, self->cipher->data + old_length, (int) pending) != (int) pending)
    g_assert_not_reached ();
}

static gboolean
encrypt_one (UsiConnection *self)
{
  g_autoptr(GBytes) frame = g_queue_pop_head (&self->plain);
  gsize size = g_bytes_get_size (frame);

  self->plain_bytes -= size;
  ERR_clear_error ();
  /* A memory BIO never refuses a write: SSL_write takes it all. */
  if (SSL_write (self->ssl, g_bytes_get_data (frame, NULL), (int) size) != (int) size)
    {
      self->ssl_failed = TRUE;
      close_internal (self, new_openssl_error (USI_NET_ERROR_TLS, _("Sending over TLS")), FALSE);
      return FALSE;
    }
  collect_output (self);
  return TRUE;
}

static void
write_cb (GObject      *source,
          GAsyncResult *result,
          gpointer      user_data)
{
  g_autoptr(UsiConnection) self = user_data;
  g_autoptr(GError) error = NULL;
  gssize written;

  written = g_output_stream_write_finish (G_OUTPUT_STREAM (source), result, &error);
  self->writing = FALSE;

  if (written < 0)
    {
      if (self->state == STATE_CLOSED)
        {
          self->abandon_output = TRUE;
          maybe_finish_close (self);
        }
      else
        {
          g_autofree char *message = NULL;

          /* Translators: %s is the system's reason */
          message = g_strdup_printf (_("The connection failed: %s"), error->message);
          fail (self, USI_NET_ERROR_CLOSED, message, FALSE);
        }
      return;
    }

  self->in_flight_offset += (gsize) written;
  if (self->in_flight_offset == g_bytes_get_size (self->in_flight))
    {
      g_clear_pointer (&self->in_flight, g_bytes_unref);
      self->in_flight_offset = 0;
    }

  pump_output (self);
  if (self->state == STATE_OPEN && queued_bytes (self) == 0)
    g_signal_emit (self, signals[DRAINED], 0);
}

static void
pump_output (UsiConnection *self)
{
  if (self->state == STATE_OPEN)
    while (!g_queue_is_empty (&self->plain) && self->cipher->len < ENCRYPT_AHEAD)
      if (!encrypt_one (self))
        return;

  if (self->writing || self->stream_closing)
    return;
  if (self->state == STATE_CLOSED && self->abandon_output)
    {
      maybe_finish_close (self);
      return;
    }

  if (self->in_flight == NULL && self->cipher->len > 0)
    {
      self->in_flight = g_byte_array_free_to_bytes (self->cipher);
      self->in_flight_offset = 0;
      self->cipher = g_byte_array_new ();
    }
  if (self->in_flight == NULL)
    {
      maybe_finish_close (self);
      return;
    }

  self->writing = TRUE;
  g_main_context_push_thread_default (self->context);
  g_output_stream_write_async (self->output,
                               (const guint8 *) g_bytes_get_data (self->in_flight, NULL) + self->in_flight_offset,
                               g_bytes_get_size (self->in_flight) - self->in_flight_offset,
                               G_PRIORITY_DEFAULT,
                               self->write_cancellable,
                               write_cb,
                               g_object_ref (self));
  g_main_context_pop_thread_default (self->context);
}

/* Closing */

static void
stream_close_cb (GObject      *source,
                 GAsyncResult *result,
                 gpointer      user_data)
{
  g_autoptr(UsiConnection) self = user_data;

  /* Nothing to do about a failure to close. */
  g_io_stream_close_finish (G_IO_STREAM (source), result, NULL);
}

static void
maybe_finish_close (UsiConnection *self)
{
  if (self->state != STATE_CLOSED || self->stream_closing)
    return;
  if (self->reading || self->writing)
    return;
  if (!self->abandon_output && (self->in_flight != NULL || self->cipher->len > 0))
    return;

  self->stream_closing = TRUE;
  _usi_clear_source (&self->linger_timer);
  g_main_context_push_thread_default (self->context);
  g_io_stream_close_async (self->stream, G_PRIORITY_DEFAULT, NULL,
                           stream_close_cb, g_object_ref (self));
  g_main_context_pop_thread_default (self->context);
}

static gboolean
linger_timeout_cb (gpointer user_data)
{
  UsiConnection *self = user_data;

  _usi_clear_source (&self->linger_timer);
  self->abandon_output = TRUE;
  g_cancellable_cancel (self->write_cancellable);
  maybe_finish_close (self);
  return G_SOURCE_REMOVE;
}

/* Closes with `reason` (taken): ::closed is emitted now, sends fail from
 * now on.  With `linger`, what was queued is still written (then the TLS
 * close_notify, or the alert of a failed handshake) for at most
 * CLOSE_LINGER_MS; without, it is dropped (the peer does not read, or the
 * stream is gone). */
static void
close_internal (UsiConnection *self,
                GError        *reason,
                gboolean       linger)
{
  g_autoptr(GError) owned_reason = reason;
  g_autoptr(UsiConnection) hold = NULL;
  g_autoptr(GTask) task = NULL;
  gboolean was_open = self->state == STATE_OPEN;

  if (self->state == STATE_CLOSED)
    return;

  hold = g_object_ref (self);
  g_debug ("connection %p closed: %s", (void *) self, reason->message);
  self->state = STATE_CLOSED;

  _usi_clear_source (&self->handshake_timer);
  _usi_clear_source (&self->handshake_cancel_source);
  _usi_clear_source (&self->idle_timer);
  g_cancellable_cancel (self->read_cancellable);
  g_clear_pointer (&self->body, g_free);

  if (linger && was_open && !self->ssl_failed)
    {
      while (!g_queue_is_empty (&self->plain))
        {
          g_autoptr(GBytes) frame = g_queue_pop_head (&self->plain);
          gsize size = g_bytes_get_size (frame);

          ERR_clear_error ();
          if (SSL_write (self->ssl, g_bytes_get_data (frame, NULL), (int) size) != (int) size)
            {
              linger = FALSE;
              break;
            }
        }
      ERR_clear_error ();
      if (linger)
        SSL_shutdown (self->ssl);
      ERR_clear_error ();
      collect_output (self);
    }
  g_queue_clear_full (&self->plain, (GDestroyNotify) g_bytes_unref);
  self->plain_bytes = 0;

  if (linger)
    self->linger_timer = _usi_deadline_new (self->context, CLOSE_LINGER_MS, linger_timeout_cb, self);
  else
    {
      self->abandon_output = TRUE;
      g_cancellable_cancel (self->write_cancellable);
    }

  task = g_steal_pointer (&self->handshake_task);
  if (task != NULL)
    g_task_return_error (task, g_error_copy (reason));

  g_signal_emit (self, signals[CLOSED], 0, reason);

  pump_output (self);
}

/* Reading */

static gboolean
take_token (UsiConnection *self)
{
  double burst = MAX (self->limits.frame_burst, 1);
  gint64 now;

  if (self->limits.frames_per_second == 0)
    return TRUE;

  now = g_get_monotonic_time ();
  self->tokens = MIN (burst, self->tokens + (double) (now - self->tokens_time) * self->limits.frames_per_second / G_USEC_PER_SEC);
  self->tokens_time = now;
  if (self->tokens < 1.0)
    {
      fail (self, USI_NET_ERROR_RATE_LIMIT, _("The other side sent frames faster than allowed."), TRUE);
      return FALSE;
    }
  self->tokens -= 1.0;
  return TRUE;
}

/* §4 and §11.2: refused on the header alone, before the body is buffered. */
static gboolean
check_header (UsiConnection *self)
{
  g_autoptr(GError) error = NULL;
  UsiFrameHeader header;

  if (usi_frame_parse_header (self->header, &header, &error) &&
      header.type >= USI_FRAME_RELAY_FIRST && header.type <= USI_FRAME_RELAY_LAST &&
      header.body_length > usi_relay_frame_get_max_body (header.type))
    g_set_error_literal (&error, USI_NET_ERROR, USI_NET_ERROR_FRAME,
                         _("A control frame is larger than allowed for its type."));

  if (error != NULL)
    {
      g_autofree char *message = NULL;

      /* Translators: %s says what is wrong with the frame */
      message = g_strdup_printf (_("The other side sent a frame that was refused: %s"), error->message);
      fail (self, USI_NET_ERROR_FRAME, message, TRUE);
      return FALSE;
    }

  self->frame_type = header.type;
  self->body_length = header.body_length;
  self->body_fill = 0;
  return TRUE;
}

static void
emit_frame (UsiConnection *self,
            GBytes        *body)
{
  g_signal_emit (self, signals[FRAME_RECEIVED], 0, (guint) self->frame_type, body);
}

static void
feed (UsiConnection *self,
      const guint8  *data,
      gsize          length)
{
  while (length > 0 && self->state == STATE_OPEN)
    {
      gsize take;

      if (self->body == NULL)
        {
          take = MIN (USI_FRAME_HEADER_LENGTH - self->header_fill, length);
          memcpy (self->header + self->header_fill, data, take);
          self->header_fill += take;
          data += take;
          length -= take;
          if (self->header_fill < USI_FRAME_HEADER_LENGTH)
            return;
          self->header_fill = 0;

          if (!check_header (self) || !take_token (self))
            return;
          if (self->body_length == 0)
            {
              g_autoptr(GBytes) empty = g_bytes_new (NULL, 0);

              emit_frame (self, empty);
              continue;
            }
          self->body = g_malloc (self->body_length);
        }
      else
        {
          take = MIN (self->body_length - self->body_fill, length);
          memcpy (self->body + self->body_fill, data, take);
          self->body_fill += take;
          data += take;
          length -= take;
          if (self->body_fill == self->body_length)
            {
              g_autoptr(GBytes) body = g_bytes_new_take (g_steal_pointer (&self->body), self->body_length);

              emit_frame (self, body);
            }
        }
    }
}

static void
read_plaintext (UsiConnection *self)
{
  while (self->state == STATE_OPEN)
    {
      int n;

      ERR_clear_error ();
      n = SSL_read (self->ssl, self->read_buffer, READ_BUFFER_SIZE);
      if (n <= 0)
        {
          int code = SSL_get_error (self->ssl, n);

          collect_output (self);
          if (code == SSL_ERROR_WANT_READ)
            break;
          if (code == SSL_ERROR_ZERO_RETURN)
            fail (self, USI_NET_ERROR_CLOSED, _("The other side closed the connection."), FALSE);
          else
            {
              self->ssl_failed = TRUE;
              close_internal (self, new_openssl_error (USI_NET_ERROR_TLS, _("Receiving over TLS")), TRUE);
            }
          return;
        }
      feed (self, self->read_buffer, (gsize) n);
    }
  pump_output (self);
}

static gboolean
idle_timeout_cb (gpointer user_data)
{
  UsiConnection *self = user_data;

  fail (self, USI_NET_ERROR_IDLE_TIMEOUT,
        _("Nothing was received for too long; the connection was closed."), TRUE);
  return G_SOURCE_CONTINUE;
}

/* After libssl says the handshake is done: the checks that do not depend
 * on the verify callback having run, then the connection opens. */
static gboolean
complete_handshake (UsiConnection *self)
{
  g_autoptr(GTask) task = NULL;
  X509 *peer = SSL_get0_peer_certificate (self->ssl);
  EVP_PKEY *peer_key = peer != NULL ? X509_get0_pubkey (peer) : NULL;
  guint8 pin[USI_TLS_PIN_LENGTH];

  if (SSL_version (self->ssl) != TLS1_3_VERSION || peer_key == NULL ||
      !_usi_tls_compute_pin (peer_key, pin, NULL))
    {
      self->ssl_failed = TRUE;
      fail (self, USI_NET_ERROR_TLS, _("The TLS handshake did not give a usable peer certificate."), FALSE);
      return FALSE;
    }
  memcpy (self->peer_pin, pin, sizeof pin);
  if (self->is_server)
    memcpy (self->client_spki_hash, pin, sizeof pin);
  else if (self->has_expected_pin && CRYPTO_memcmp (pin, self->expected_pin, sizeof pin) != 0)
    {
      self->ssl_failed = TRUE;
      fail (self, USI_NET_ERROR_PIN_MISMATCH,
            _("The relay's key does not match the pin in the invite. Someone may be intercepting the connection, or the relay changed its key: ask for a new invite."),
            FALSE);
      return FALSE;
    }

  self->handshake_done = TRUE;
  self->state = STATE_OPEN;
  _usi_clear_source (&self->handshake_timer);
  _usi_clear_source (&self->handshake_cancel_source);
  if (self->limits.idle_timeout_ms > 0)
    self->idle_timer = _usi_deadline_new (self->context, self->limits.idle_timeout_ms, idle_timeout_cb, self);

  task = g_steal_pointer (&self->handshake_task);
  g_task_return_boolean (task, TRUE);
  return self->state == STATE_OPEN;
}

static void
handshake_step (UsiConnection *self)
{
  int ret;
  int code;

  ERR_clear_error ();
  ret = SSL_do_handshake (self->ssl);
  code = ret == 1 ? SSL_ERROR_NONE : SSL_get_error (self->ssl, ret);
  collect_output (self);
  if (ret == 1)
    {
      complete_handshake (self);
      return;
    }
  if (code == SSL_ERROR_WANT_READ)
    return;

  self->ssl_failed = TRUE;
  if (self->pin_mismatch)
    {
      ERR_clear_error ();
      /* The alert libssl queued is still sent. */
      fail (self, USI_NET_ERROR_PIN_MISMATCH,
            _("The relay's key does not match the pin in the invite. Someone may be intercepting the connection, or the relay changed its key: ask for a new invite."),
            TRUE);
    }
  else
    close_internal (self, new_openssl_error (USI_NET_ERROR_TLS, _("The TLS handshake")), TRUE);
}

static void start_read (UsiConnection *self);

static void
read_cb (GObject      *source,
         GAsyncResult *result,
         gpointer      user_data)
{
  g_autoptr(UsiConnection) self = user_data;
  g_autoptr(GError) error = NULL;
  gssize n;

  n = g_input_stream_read_finish (G_INPUT_STREAM (source), result, &error);
  self->reading = FALSE;

  if (self->state == STATE_CLOSED)
    {
      maybe_finish_close (self);
      return;
    }
  if (n < 0)
    {
      g_autofree char *message = NULL;

      message = g_strdup_printf (_("The connection failed: %s"), error->message);
      fail (self, USI_NET_ERROR_CLOSED, message, FALSE);
      return;
    }
  if (n == 0)
    {
      fail (self, USI_NET_ERROR_CLOSED, _("The other side closed the connection."), FALSE);
      return;
    }

  if (self->idle_timer != NULL)
    g_source_set_ready_time (self->idle_timer,
                             g_get_monotonic_time () + (gint64) self->limits.idle_timeout_ms * 1000);

  /* A memory BIO takes everything. */
  if (BIO_write (self->rbio, self->read_buffer, (int) n) != (int) n)
    g_assert_not_reached ();

  if (self->state == STATE_HANDSHAKING)
    handshake_step (self);
  if (self->state == STATE_OPEN)
    read_plaintext (self);
  else
    pump_output (self);

  start_read (self);
}

static void
start_read (UsiConnection *self)
{
  if (self->reading || self->state == STATE_CLOSED)
    return;

  self->reading = TRUE;
  g_main_context_push_thread_default (self->context);
  g_input_stream_read_async (self->input, self->read_buffer, READ_BUFFER_SIZE,
                             G_PRIORITY_DEFAULT, self->read_cancellable,
                             read_cb, g_object_ref (self));
  g_main_context_pop_thread_default (self->context);
}

/* API */

static gboolean
handshake_timeout_cb (gpointer user_data)
{
  UsiConnection *self = user_data;

  fail (self, USI_NET_ERROR_HANDSHAKE_TIMEOUT, _("The TLS handshake did not finish in time."), FALSE);
  return G_SOURCE_CONTINUE;
}

static gboolean
handshake_cancelled_cb (GCancellable *cancellable,
                        gpointer      user_data)
{
  UsiConnection *self = user_data;

  close_internal (self,
                  g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, _("The connection was cancelled.")),
                  FALSE);
  return G_SOURCE_CONTINUE;
}

void
usi_connection_handshake_async (UsiConnection       *self,
                                GCancellable        *cancellable,
                                GAsyncReadyCallback  callback,
                                gpointer             user_data)
{
  g_autoptr(GTask) task = NULL;
  g_autoptr(GError) error = NULL;

  g_return_if_fail (USI_IS_CONNECTION (self));
  g_return_if_fail (cancellable == NULL || G_IS_CANCELLABLE (cancellable));
  g_return_if_fail (self->handshake_task == NULL);

  task = g_task_new (self, cancellable, callback, user_data);
  g_task_set_source_tag (task, usi_connection_handshake_async);
  /* Cancelling closes the connection (below); a handshake that finished
   * just before must not be reported as cancelled while open. */
  g_task_set_check_cancellable (task, FALSE);

  if (self->state != STATE_NEW)
    {
      g_task_return_new_error (task, USI_NET_ERROR, USI_NET_ERROR_CLOSED,
                               "%s", _("The connection is closed."));
      return;
    }
  self->state = STATE_HANDSHAKING;
  self->handshake_task = g_steal_pointer (&task);

  if (!setup_ssl (self, &error))
    {
      close_internal (self, g_steal_pointer (&error), FALSE);
      return;
    }
  if (g_cancellable_is_cancelled (cancellable))
    {
      handshake_cancelled_cb (cancellable, self);
      return;
    }

  self->handshake_timer = _usi_deadline_new (self->context, self->limits.handshake_timeout_ms, handshake_timeout_cb, self);
  if (cancellable != NULL)
    {
      self->handshake_cancel_source = g_cancellable_source_new (cancellable);
      g_source_set_callback (self->handshake_cancel_source, G_SOURCE_FUNC (handshake_cancelled_cb), self, NULL);
      g_source_attach (self->handshake_cancel_source, self->context);
    }

  /* The client speaks first. */
  if (!self->is_server)
    {
      handshake_step (self);
      pump_output (self);
    }
  start_read (self);
}

gboolean
usi_connection_handshake_finish (UsiConnection  *self,
                                 GAsyncResult   *result,
                                 GError        **error)
{
  g_return_val_if_fail (USI_IS_CONNECTION (self), FALSE);
  g_return_val_if_fail (g_task_is_valid (result, self), FALSE);
  g_return_val_if_fail (g_task_get_source_tag (G_TASK (result)) == usi_connection_handshake_async, FALSE);

  return g_task_propagate_boolean (G_TASK (result), error);
}

gboolean
usi_connection_export_keying_material (UsiConnection  *self,
                                       const char     *label,
                                       guint8         *out,
                                       gsize           length,
                                       GError        **error)
{
  g_return_val_if_fail (USI_IS_CONNECTION (self), FALSE);
  g_return_val_if_fail (label != NULL, FALSE);
  g_return_val_if_fail (out != NULL || length == 0, FALSE);

  if (!self->handshake_done || self->state != STATE_OPEN)
    {
      g_set_error_literal (error, USI_NET_ERROR, USI_NET_ERROR_CLOSED,
                           _("The connection is closed."));
      return FALSE;
    }

  ERR_clear_error ();
  if (SSL_export_keying_material (self->ssl, out, length, label, strlen (label), NULL, 0, 0) != 1)
    {
      _usi_net_set_openssl_error (error, USI_NET_ERROR, USI_NET_ERROR_TLS,
                                  _("Deriving a value from the TLS session"));
      return FALSE;
    }
  return TRUE;
}

const guint8 *
usi_connection_get_peer_pin (UsiConnection *self)
{
  g_return_val_if_fail (USI_IS_CONNECTION (self), NULL);

  return self->handshake_done ? self->peer_pin : NULL;
}

const guint8 *
usi_connection_get_client_spki_hash (UsiConnection *self)
{
  g_return_val_if_fail (USI_IS_CONNECTION (self), NULL);

  return self->handshake_done ? self->client_spki_hash : NULL;
}

gboolean
usi_connection_send (UsiConnection  *self,
                     GBytes         *frame,
                     GError        **error)
{
  gsize size;

  g_return_val_if_fail (USI_IS_CONNECTION (self), FALSE);
  g_return_val_if_fail (frame != NULL && g_bytes_get_size (frame) > 0, FALSE);
  g_return_val_if_fail (g_bytes_get_size (frame) <= G_MAXINT, FALSE);

  if (self->state == STATE_CLOSED)
    {
      g_set_error_literal (error, USI_NET_ERROR, USI_NET_ERROR_CLOSED,
                           _("The connection is closed."));
      return FALSE;
    }

  size = g_bytes_get_size (frame);
  if (queued_bytes (self) + size > self->limits.max_queued_bytes)
    {
      const char *message = _("The other side does not read fast enough; the connection was closed.");

      fail (self, USI_NET_ERROR_BACKPRESSURE, message, FALSE);
      g_set_error_literal (error, USI_NET_ERROR, USI_NET_ERROR_BACKPRESSURE, message);
      return FALSE;
    }

  g_queue_push_tail (&self->plain, g_bytes_ref (frame));
  self->plain_bytes += size;
  if (self->state == STATE_OPEN)
    pump_output (self);
  return TRUE;
}

gsize
usi_connection_get_queued_bytes (UsiConnection *self)
{
  g_return_val_if_fail (USI_IS_CONNECTION (self), 0);

  return queued_bytes (self);
}

void
usi_connection_close (UsiConnection *self)
{
  g_return_if_fail (USI_IS_CONNECTION (self));

  close_internal (self,
                  g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, _("The connection was closed.")),
                  TRUE);
}

gboolean
usi_connection_is_closed (UsiConnection *self)
{
  g_return_val_if_fail (USI_IS_CONNECTION (self), TRUE);

  return self->state == STATE_CLOSED;
}
