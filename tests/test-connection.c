/* SPDX-License-Identifier: GPL-3.0-or-later */

/* net/: the TLS identity (key file round trips and refusals) and
 * UsiConnection over real TLS 1.3 on 127.0.0.1: frames both ways, the
 * exporter and the client key hash agree on both sides, and each limit
 * closes the connection with its own error.  Where the peer must misbehave
 * in ways our own client never does (TLS 1.2, no client certificate, a
 * chain), the real `openssl s_client` is the peer. */

#include "config.h"

#include <string.h>
#include <sys/stat.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "net/usi-connection.h"
#include "net/usi-net-error.h"
#include "net/usi-tls-identity.h"
#include "protocol/usi-frame.h"
#include "protocol/usi-relay-frame.h"

#define WAIT_SECONDS 30

static gboolean
wake_cb (gpointer user_data)
{
  return G_SOURCE_CONTINUE;
}

/* Spins `context` until `cond` holds; a generous deadline turns a hang into
 * a failure (nothing relies on it for the outcome). */
#define WAIT_UNTIL_IN(context, cond) G_STMT_START {                               \
    gint64 deadline_ = g_get_monotonic_time () + WAIT_SECONDS * G_USEC_PER_SEC;  \
    GSource *wake_ = g_timeout_source_new (50);                                  \
    g_source_set_callback (wake_, wake_cb, NULL, NULL);                          \
    g_source_attach (wake_, (context));                                          \
    while (!(cond))                                                              \
      {                                                                          \
        if (g_get_monotonic_time () > deadline_)                                 \
          g_error ("timed out waiting for %s", #cond);                           \
        g_main_context_iteration ((context), TRUE);                              \
      }                                                                          \
    g_source_destroy (wake_);                                                    \
    g_source_unref (wake_);                                                      \
  } G_STMT_END
#define WAIT_UNTIL(cond) WAIT_UNTIL_IN (NULL, cond)

/* Peers */

typedef struct
{
  UsiConnection *connection;
  GPtrArray     *frames;          /* whole frames, header rebuilt */
  gboolean       handshake_done;
  GError        *handshake_error;
  gboolean       closed;
  guint          n_closed;
  GError        *closed_error;
  guint          n_drained;
  gboolean       close_on_frame;  /* close and drop the connection from the handler */
} Peer;

static GBytes *
whole_frame (guint   type,
             GBytes *body)
{
  gsize length = g_bytes_get_size (body);
  GByteArray *frame = g_byte_array_sized_new (USI_FRAME_HEADER_LENGTH + length);
  guint8 header[USI_FRAME_HEADER_LENGTH];

  header[0] = (guint8) ((length + 2) >> 24);
  header[1] = (guint8) ((length + 2) >> 16);
  header[2] = (guint8) ((length + 2) >> 8);
  header[3] = (guint8) (length + 2);
  header[4] = USI_FRAME_VERSION;
  header[5] = (guint8) type;
  g_byte_array_append (frame, header, sizeof header);
  g_byte_array_append (frame, g_bytes_get_data (body, NULL), length);
  return g_byte_array_free_to_bytes (frame);
}

static void
on_frame_received (UsiConnection *connection,
                   guint          type,
                   GBytes        *body,
                   Peer          *peer)
{
  g_ptr_array_add (peer->frames, whole_frame (type, body));
  if (peer->close_on_frame)
    {
      /* The connection must survive its owner letting go inside its own
       * signal handler. */
      usi_connection_close (connection);
      g_clear_object (&peer->connection);
    }
}

static void
on_closed (UsiConnection *connection,
           GError        *error,
           Peer          *peer)
{
  g_assert_nonnull (error);
  peer->n_closed++;
  peer->closed = TRUE;
  g_clear_error (&peer->closed_error);
  peer->closed_error = g_error_copy (error);
}

static void
on_drained (UsiConnection *connection,
            Peer          *peer)
{
  peer->n_drained++;
}

static void
handshake_cb (GObject      *source,
              GAsyncResult *result,
              gpointer      user_data)
{
  Peer *peer = user_data;
  g_autoptr(GError) error = NULL;

  if (usi_connection_handshake_finish (USI_CONNECTION (source), result, &error))
    peer->handshake_done = TRUE;
  else
    peer->handshake_error = g_steal_pointer (&error);
}

static void
peer_attach (Peer          *peer,
             UsiConnection *connection)
{
  peer->connection = connection;
  if (peer->frames == NULL)
    peer->frames = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_signal_connect (connection, "frame-received", G_CALLBACK (on_frame_received), peer);
  g_signal_connect (connection, "closed", G_CALLBACK (on_closed), peer);
  g_signal_connect (connection, "drained", G_CALLBACK (on_drained), peer);
}

/* Closes, lets go, and waits until the connection is really gone: every
 * operation it had in flight has come back (ASan then sees any leak). */
static void
peer_clear_in (Peer         *peer,
               GMainContext *context)
{
  if (peer->connection != NULL)
    {
      UsiConnection *weak = peer->connection;

      g_object_add_weak_pointer (G_OBJECT (weak), (gpointer *) &weak);
      g_signal_handlers_disconnect_by_data (weak, peer);
      usi_connection_close (weak);
      g_assert_true (usi_connection_is_closed (weak));
      g_clear_object (&peer->connection);
      WAIT_UNTIL_IN (context, weak == NULL);
    }
  g_clear_pointer (&peer->frames, g_ptr_array_unref);
  g_clear_error (&peer->handshake_error);
  g_clear_error (&peer->closed_error);
  memset (peer, 0, sizeof *peer);
}

static void
peer_clear (Peer *peer)
{
  peer_clear_in (peer, NULL);
}

/* The server side: a GSocketService on 127.0.0.1, port 0. */

typedef struct
{
  UsiTlsIdentity      *identity;
  UsiConnectionLimits  limits;
  GSocketService      *service;
  guint16              port;
  Peer                 server;
  guint                n_accepted;
  char                *tmp;
} Fixture;

static gboolean
on_incoming (GSocketService    *service,
             GSocketConnection *connection,
             GObject           *source_object,
             Fixture           *fixture)
{
  UsiConnection *server;

  /* Each test has at most one server connection at a time. */
  g_assert_null (fixture->server.connection);
  fixture->n_accepted++;
  server = usi_connection_new_server (G_IO_STREAM (connection), fixture->identity, &fixture->limits);
  peer_attach (&fixture->server, server);
  usi_connection_handshake_async (server, NULL, handshake_cb, &fixture->server);
  return TRUE;
}

static void
fixture_set_up (Fixture       *fixture,
                gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, 0);
  g_autoptr(GSocketAddress) effective = NULL;

  fixture->identity = usi_tls_identity_generate ("usi test relay", &error);
  g_assert_no_error (error);
  usi_connection_limits_init_default (&fixture->limits);

  fixture->service = g_socket_service_new ();
  g_socket_listener_add_address (G_SOCKET_LISTENER (fixture->service), address,
                                 G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_TCP,
                                 NULL, &effective, &error);
  g_assert_no_error (error);
  fixture->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (effective));
  g_signal_connect (fixture->service, "incoming", G_CALLBACK (on_incoming), fixture);
  g_socket_service_start (fixture->service);

  fixture->tmp = g_dir_make_tmp ("usi-connection-XXXXXX", &error);
  g_assert_no_error (error);
}

static void
remove_tree (const char *path)
{
  g_autoptr(GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir != NULL)
    while ((name = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *child = g_build_filename (path, name, NULL);

        g_assert_no_errno (g_unlink (child));
      }
  g_rmdir (path);
}

static void
fixture_tear_down (Fixture       *fixture,
                   gconstpointer  user_data)
{
  peer_clear (&fixture->server);
  g_socket_service_stop (fixture->service);
  g_socket_listener_close (G_SOCKET_LISTENER (fixture->service));
  g_clear_object (&fixture->service);
  g_clear_object (&fixture->identity);
  remove_tree (fixture->tmp);
  g_clear_pointer (&fixture->tmp, g_free);
  /* Let the last closes finish. */
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

static GIOStream *
tcp_connect (Fixture *fixture)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSocketClient) client = g_socket_client_new ();
  g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback (G_SOCKET_FAMILY_IPV4);
  g_autoptr(GSocketAddress) address = g_inet_socket_address_new (loopback, fixture->port);
  GSocketConnection *connection;

  connection = g_socket_client_connect (client, G_SOCKET_CONNECTABLE (address), NULL, &error);
  g_assert_no_error (error);
  return G_IO_STREAM (connection);
}

static void
client_connect (Fixture                   *fixture,
                Peer                      *client,
                const guint8              *pin,
                const UsiConnectionLimits *limits)
{
  g_autoptr(GIOStream) stream = tcp_connect (fixture);

  peer_attach (client, usi_connection_new_client (stream, pin, limits));
  usi_connection_handshake_async (client->connection, NULL, handshake_cb, client);
}

static void
connect_pair (Fixture *fixture,
              Peer    *client)
{
  client_connect (fixture, client, usi_tls_identity_get_pin (fixture->identity), NULL);
  WAIT_UNTIL (client->handshake_done && fixture->server.handshake_done);
  g_assert_no_error (client->handshake_error);
  g_assert_no_error (fixture->server.handshake_error);
}

static GBytes *
test_frame (guint8 type,
            gsize  body_length,
            guint8 fill)
{
  g_autoptr(GError) error = NULL;
  g_autofree guint8 *body = g_malloc (body_length + 1);
  GBytes *frame;

  for (gsize i = 0; i < body_length; i++)
    body[i] = (guint8) (fill + i);
  frame = usi_frame_encode (type, body, body_length, &error);
  g_assert_no_error (error);
  return frame;
}

static void
assert_frames_equal (GPtrArray *received,
                     GBytes   **expected,
                     guint      n_expected)
{
  g_assert_cmpuint (received->len, ==, n_expected);
  for (guint i = 0; i < n_expected; i++)
    g_assert_true (g_bytes_equal (g_ptr_array_index (received, i), expected[i]));
}

/* The TLS identity */

static void
test_identity_round_trip (Fixture       *fixture,
                          gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiTlsIdentity) loaded = NULL;
  g_autoptr(UsiTlsIdentity) other = NULL;
  g_autofree char *path = g_build_filename (fixture->tmp, "relay-key.pem", NULL);
  g_autofree char *hex = usi_tls_identity_dup_pin_hex (fixture->identity);
  g_autofree char *upper = g_ascii_strup (hex, -1);
  g_autofree char *contents = NULL;
  guint8 pin[USI_TLS_PIN_LENGTH];
  GStatBuf st;

  g_assert_cmpuint (strlen (hex), ==, 64);
  for (const char *p = hex; *p; p++)
    g_assert_true (g_ascii_isdigit (*p) || (*p >= 'a' && *p <= 'f'));
  g_assert_true (usi_tls_pin_parse_hex (upper, pin, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (pin, sizeof pin, usi_tls_identity_get_pin (fixture->identity), USI_TLS_PIN_LENGTH);

  g_assert_true (usi_tls_identity_save (fixture->identity, path, &error));
  g_assert_no_error (error);
  g_assert_no_errno (g_stat (path, &st));
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);

  g_assert_true (g_file_get_contents (path, &contents, NULL, &error));
  g_assert_nonnull (strstr (contents, "-----BEGIN PRIVATE KEY-----"));
  g_assert_nonnull (strstr (contents, "-----BEGIN CERTIFICATE-----"));

  loaded = usi_tls_identity_load (path, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (usi_tls_identity_get_pin (loaded), USI_TLS_PIN_LENGTH,
                   usi_tls_identity_get_pin (fixture->identity), USI_TLS_PIN_LENGTH);

  /* load_or_generate keeps the key it finds. */
  other = usi_tls_identity_load_or_generate (path, "usi test relay", &error);
  g_assert_no_error (error);
  g_assert_cmpmem (usi_tls_identity_get_pin (other), USI_TLS_PIN_LENGTH,
                   usi_tls_identity_get_pin (fixture->identity), USI_TLS_PIN_LENGTH);
}

static void
test_identity_generate_new (Fixture       *fixture,
                            gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiTlsIdentity) made = NULL;
  g_autoptr(UsiTlsIdentity) again = NULL;
  g_autofree char *path = g_build_filename (fixture->tmp, "new-key.pem", NULL);
  GStatBuf st;

  made = usi_tls_identity_load_or_generate (path, "usi test relay", &error);
  g_assert_no_error (error);
  g_assert_no_errno (g_stat (path, &st));
  g_assert_cmpint (st.st_mode & 0777, ==, 0600);
  /* A fresh key each time one is generated. */
  g_assert_true (memcmp (usi_tls_identity_get_pin (made), usi_tls_identity_get_pin (fixture->identity),
                         USI_TLS_PIN_LENGTH) != 0);

  again = usi_tls_identity_load_or_generate (path, "usi test relay", &error);
  g_assert_no_error (error);
  g_assert_cmpmem (usi_tls_identity_get_pin (again), USI_TLS_PIN_LENGTH,
                   usi_tls_identity_get_pin (made), USI_TLS_PIN_LENGTH);
}

static void
test_pin_parse_errors (void)
{
  static const char *bad[] = {
    "",
    "00",
    /* 63 digits */
    "000000000000000000000000000000000000000000000000000000000000000",
    /* 65 digits */
    "00000000000000000000000000000000000000000000000000000000000000000",
    /* one non-digit */
    "000000000000000000000000000000000000000000000000000000000000000g",
    " 00000000000000000000000000000000000000000000000000000000000000",
  };
  guint8 pin[USI_TLS_PIN_LENGTH];

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr(GError) error = NULL;

      memset (pin, 0xaa, sizeof pin);
      g_assert_false (usi_tls_pin_parse_hex (bad[i], pin, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
      /* Nothing written on failure. */
      for (guint j = 0; j < sizeof pin; j++)
        g_assert_cmpuint (pin[j], ==, 0xaa);
    }
}

static char *
pem_block (const char *contents,
           const char *kind)
{
  g_autofree char *begin = g_strdup_printf ("-----BEGIN %s-----", kind);
  g_autofree char *end = g_strdup_printf ("-----END %s-----\n", kind);
  const char *start = strstr (contents, begin);
  const char *stop;

  g_assert_nonnull (start);
  stop = strstr (start, end);
  g_assert_nonnull (stop);
  return g_strndup (start, (gsize) (stop - start) + strlen (end));
}

static char *
write_text (Fixture    *fixture,
            const char *name,
            const char *text)
{
  g_autoptr(GError) error = NULL;
  char *path = g_build_filename (fixture->tmp, name, NULL);

  g_assert_true (g_file_set_contents (path, text, -1, &error));
  g_assert_no_error (error);
  return path;
}

static void
assert_load_refused (const char *path,
                     const char *reason)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiTlsIdentity) identity = usi_tls_identity_load (path, &error);

  g_assert_null (identity);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_assert_nonnull (strstr (error->message, reason));
}

static char *
run_openssl (const char * const *argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) process = NULL;
  char *out = NULL;

  process = g_subprocess_newv (argv, G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, &out, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_subprocess_get_successful (process));
  return out;
}

static void
test_identity_load_errors (Fixture       *fixture,
                           gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiTlsIdentity) other = usi_tls_identity_generate ("other", &error);
  g_autoptr(UsiTlsIdentity) identity = NULL;
  g_autofree char *good = g_build_filename (fixture->tmp, "good.pem", NULL);
  g_autofree char *other_path = g_build_filename (fixture->tmp, "other.pem", NULL);
  g_autofree char *missing = g_build_filename (fixture->tmp, "missing.pem", NULL);
  g_autofree char *contents = NULL;
  g_autofree char *other_contents = NULL;
  g_autofree char *key = NULL;
  g_autofree char *certificate = NULL;
  g_autofree char *other_certificate = NULL;
  g_autofree char *tampered_text = NULL;
  g_autofree char *only_key = NULL;
  g_autofree char *only_certificate = NULL;
  g_autofree char *mixed = NULL;
  g_autofree char *garbage = NULL;
  g_autofree char *tampered = NULL;
  g_autofree char *reversed = NULL;
  g_autofree char *mixed_text = NULL;
  g_autofree char *reversed_text = NULL;
  g_autofree char *before = NULL;
  g_autofree char *after = NULL;
  g_autofree char *openssl_path = g_find_program_in_path ("openssl");
  char *middle;

  g_assert_no_error (error);
  g_assert_true (usi_tls_identity_save (fixture->identity, good, &error));
  g_assert_true (usi_tls_identity_save (other, other_path, &error));
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (good, &contents, NULL, NULL));
  g_assert_true (g_file_get_contents (other_path, &other_contents, NULL, NULL));
  key = pem_block (contents, "PRIVATE KEY");
  certificate = pem_block (contents, "CERTIFICATE");
  other_certificate = pem_block (other_contents, "CERTIFICATE");

  /* Missing: the file error, so load_or_generate knows it may make one. */
  identity = usi_tls_identity_load (missing, &error);
  g_assert_null (identity);
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_clear_error (&error);

  only_key = write_text (fixture, "only-key.pem", key);
  assert_load_refused (only_key, "certificate");
  only_certificate = write_text (fixture, "only-certificate.pem", certificate);
  assert_load_refused (only_certificate, "private key");
  garbage = write_text (fixture, "garbage.pem", "not a key at all\n");
  assert_load_refused (garbage, "private key");

  /* The certificate of another key. */
  mixed_text = g_strconcat (key, other_certificate, NULL);
  mixed = write_text (fixture, "mixed.pem", mixed_text);
  assert_load_refused (mixed, "not for its key");

  /* One base64 character changed in the middle of the certificate. */
  tampered_text = g_strconcat (key, certificate, NULL);
  middle = strstr (tampered_text, "-----BEGIN CERTIFICATE-----") + 28 + 200;
  *middle = *middle == 'A' ? 'B' : 'A';
  tampered = write_text (fixture, "tampered.pem", tampered_text);
  identity = usi_tls_identity_load (tampered, &error);
  g_assert_null (identity);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&error);

  /* Either order of the two parts is the same file. */
  reversed_text = g_strconcat (certificate, key, NULL);
  reversed = write_text (fixture, "reversed.pem", reversed_text);
  identity = usi_tls_identity_load (reversed, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (usi_tls_identity_get_pin (identity), USI_TLS_PIN_LENGTH,
                   usi_tls_identity_get_pin (fixture->identity), USI_TLS_PIN_LENGTH);
  g_clear_object (&identity);

  /* load_or_generate never replaces a file it cannot read. */
  g_assert_true (g_file_get_contents (mixed, &before, NULL, NULL));
  identity = usi_tls_identity_load_or_generate (mixed, "usi test relay", &error);
  g_assert_null (identity);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
  g_clear_error (&error);
  g_assert_true (g_file_get_contents (mixed, &after, NULL, NULL));
  g_assert_cmpstr (before, ==, after);

  /* A key of another kind (P-256), with its own certificate. */
  if (openssl_path != NULL)
    {
      g_autofree char *ec_key_path = g_build_filename (fixture->tmp, "ec-key.pem", NULL);
      g_autofree char *ec_key = NULL;
      g_autofree char *ec_certificate = NULL;
      g_autofree char *ec_text = NULL;
      g_autofree char *ec_path = NULL;
      const char *genpkey[] = { "openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                                "ec_paramgen_curve:P-256", "-out", ec_key_path, NULL };
      const char *req[] = { "openssl", "req", "-x509", "-key", ec_key_path, "-subj", "/CN=ec",
                            "-days", "1", NULL };

      g_free (run_openssl (genpkey));
      ec_certificate = run_openssl (req);
      g_assert_true (g_file_get_contents (ec_key_path, &ec_key, NULL, NULL));
      ec_text = g_strconcat (ec_key, ec_certificate, NULL);
      ec_path = write_text (fixture, "ec.pem", ec_text);
      assert_load_refused (ec_path, "not an Ed25519 key");
      g_unlink (ec_key_path);
    }
}

/* Connections */

static void
test_handshake_and_frames (Fixture       *fixture,
                           gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) ping = usi_relay_frame_new_ping (42);
  g_autoptr(GBytes) message = test_frame (USI_FRAME_APP_MESSAGE, 70 * 1024, 3);
  g_autoptr(GBytes) empty = test_frame (USI_FRAME_APP_MESSAGE, 0, 0);
  g_autoptr(GBytes) pong = usi_relay_frame_new_pong (42);
  GBytes *to_server[] = { ping, message, empty };
  GBytes *to_client[] = { pong, message };
  guint8 client_exporter[USI_RELAY_EXPORTER_LENGTH];
  guint8 server_exporter[USI_RELAY_EXPORTER_LENGTH];
  guint8 other_exporter[USI_RELAY_EXPORTER_LENGTH];
  Peer client = { 0 };

  /* Queued before the handshake: sent once it is done. */
  client_connect (fixture, &client, usi_tls_identity_get_pin (fixture->identity), NULL);
  g_assert_null (usi_connection_get_client_spki_hash (client.connection));
  g_assert_true (usi_connection_send (client.connection, ping, &error));
  g_assert_no_error (error);
  WAIT_UNTIL (client.handshake_done && fixture->server.handshake_done);

  g_assert_true (usi_connection_send (client.connection, message, &error));
  g_assert_true (usi_connection_send (client.connection, empty, &error));
  g_assert_no_error (error);
  WAIT_UNTIL (fixture->server.frames->len == 3);
  assert_frames_equal (fixture->server.frames, to_server, G_N_ELEMENTS (to_server));
  WAIT_UNTIL (client.n_drained > 0 && usi_connection_get_queued_bytes (client.connection) == 0);

  g_assert_true (usi_connection_send (fixture->server.connection, pong, &error));
  g_assert_true (usi_connection_send (fixture->server.connection, message, &error));
  g_assert_no_error (error);
  WAIT_UNTIL (client.frames->len == 2);
  assert_frames_equal (client.frames, to_client, G_N_ELEMENTS (to_client));

  /* The same exporter and client key hash on both sides; another label
   * gives another value. */
  g_assert_true (usi_connection_export_keying_material (client.connection, USI_RELAY_EXPORTER_LABEL,
                                                        client_exporter, sizeof client_exporter, &error));
  g_assert_true (usi_connection_export_keying_material (fixture->server.connection, USI_RELAY_EXPORTER_LABEL,
                                                        server_exporter, sizeof server_exporter, &error));
  g_assert_true (usi_connection_export_keying_material (client.connection, "EXPORTER-usi other",
                                                        other_exporter, sizeof other_exporter, &error));
  g_assert_no_error (error);
  g_assert_cmpmem (client_exporter, sizeof client_exporter, server_exporter, sizeof server_exporter);
  g_assert_true (memcmp (client_exporter, other_exporter, sizeof other_exporter) != 0);
  g_assert_nonnull (usi_connection_get_client_spki_hash (client.connection));
  g_assert_cmpmem (usi_connection_get_client_spki_hash (client.connection), USI_TLS_PIN_LENGTH,
                   usi_connection_get_client_spki_hash (fixture->server.connection), USI_TLS_PIN_LENGTH);
  /* The client's key is not the relay's. */
  g_assert_true (memcmp (usi_connection_get_client_spki_hash (client.connection),
                         usi_tls_identity_get_pin (fixture->identity), USI_TLS_PIN_LENGTH) != 0);

  /* The client closes: the relay sees the TLS close_notify. */
  usi_connection_close (client.connection);
  g_assert_true (client.closed);
  g_assert_error (client.closed_error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (usi_connection_send (client.connection, ping, &error));
  g_assert_error (error, USI_NET_ERROR, USI_NET_ERROR_CLOSED);
  g_clear_error (&error);
  g_assert_false (usi_connection_export_keying_material (client.connection, USI_RELAY_EXPORTER_LABEL,
                                                         client_exporter, sizeof client_exporter, &error));
  g_assert_error (error, USI_NET_ERROR, USI_NET_ERROR_CLOSED);
  g_clear_error (&error);
  /* Closing again changes nothing: ::closed is emitted once. */
  usi_connection_close (client.connection);
  g_assert_cmpuint (client.n_closed, ==, 1);

  WAIT_UNTIL (fixture->server.closed);
  g_assert_error (fixture->server.closed_error, USI_NET_ERROR, USI_NET_ERROR_CLOSED);
  g_assert_cmpuint (fixture->server.n_closed, ==, 1);
  g_assert_cmpuint (fixture->server.frames->len, ==, 3);

  peer_clear (&client);
}

static void
test_pin_mismatch (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) ping = usi_relay_frame_new_ping (1);
  guint8 wrong_pin[USI_TLS_PIN_LENGTH];
  Peer client = { 0 };

  memcpy (wrong_pin, usi_tls_identity_get_pin (fixture->identity), sizeof wrong_pin);
  wrong_pin[31] ^= 1;

  client_connect (fixture, &client, wrong_pin, NULL);
  /* Queued early: must never leave. */
  g_assert_true (usi_connection_send (client.connection, ping, &error));
  g_assert_no_error (error);
  WAIT_UNTIL (client.handshake_error != NULL);
  g_assert_error (client.handshake_error, USI_NET_ERROR, USI_NET_ERROR_PIN_MISMATCH);
  g_assert_true (client.closed);
  g_assert_error (client.closed_error, USI_NET_ERROR, USI_NET_ERROR_PIN_MISMATCH);
  g_assert_false (client.handshake_done);

  /* The relay never completes its handshake and never gets a frame. */
  WAIT_UNTIL (fixture->server.closed);
  g_assert_false (fixture->server.handshake_done);
  g_assert_nonnull (fixture->server.handshake_error);
  g_assert_cmpuint (fixture->server.frames->len, ==, 0);

  peer_clear (&client);
}

/* `openssl s_client` as the peer. */

typedef struct
{
  GSubprocess *subprocess;
  gboolean     done;
  gboolean     successful;
  char        *output;
} Process;

static void
communicate_cb (GObject      *source,
                GAsyncResult *result,
                gpointer      user_data)
{
  Process *process = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) output = NULL;

  g_subprocess_communicate_finish (G_SUBPROCESS (source), result, &output, NULL, &error);
  g_assert_no_error (error);
  process->output = g_strndup (g_bytes_get_data (output, NULL), g_bytes_get_size (output));
  process->successful = g_subprocess_get_successful (G_SUBPROCESS (source));
  process->done = TRUE;
}

/* Starts s_client against the fixture, with `extra` arguments, feeding
 * `input` on stdin, then end of file (which makes s_client close). */
static void
start_s_client (Fixture            *fixture,
                const char * const *extra,
                const guint8       *input,
                gsize               input_length,
                Process            *process)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GBytes) stdin_bytes = g_bytes_new (input, input_length);

  g_ptr_array_add (argv, g_strdup ("openssl"));
  g_ptr_array_add (argv, g_strdup ("s_client"));
  g_ptr_array_add (argv, g_strdup ("-connect"));
  g_ptr_array_add (argv, g_strdup_printf ("127.0.0.1:%u", fixture->port));
  g_ptr_array_add (argv, g_strdup ("-noservername"));
  for (guint i = 0; extra[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (extra[i]));
  g_ptr_array_add (argv, NULL);

  memset (process, 0, sizeof *process);
  process->subprocess = g_subprocess_newv ((const char * const *) argv->pdata,
                                           G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                           G_SUBPROCESS_FLAGS_STDERR_MERGE,
                                           &error);
  g_assert_no_error (error);
  g_subprocess_communicate_async (process->subprocess, stdin_bytes, NULL, communicate_cb, process);
}

static void
wait_s_client (Process *process)
{
  WAIT_UNTIL (process->done);
  g_clear_object (&process->subprocess);
}

static void
run_s_client (Fixture            *fixture,
              const char * const *extra,
              const guint8       *input,
              gsize               input_length,
              Process            *process)
{
  start_s_client (fixture, extra, input, input_length, process);
  wait_s_client (process);
}

/* A Ping frame, as raw bytes on s_client's stdin. */
static const guint8 raw_ping[] = { 0x00, 0x00, 0x00, 0x0a, 0x01, 0x0b, '0', '1', '2', '3', '4', '5', '6', '7' };

static gboolean
have_openssl (void)
{
  g_autofree char *path = g_find_program_in_path ("openssl");

  if (path == NULL)
    g_test_skip ("the openssl program is not installed");
  return path != NULL;
}

static char *
save_fixture_identity (Fixture    *fixture,
                       const char *name)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(UsiTlsIdentity) identity = usi_tls_identity_generate ("s_client", &error);
  char *path = g_build_filename (fixture->tmp, name, NULL);

  g_assert_no_error (error);
  g_assert_true (usi_tls_identity_save (identity, path, &error));
  g_assert_no_error (error);
  return path;
}

static void
test_tls12_refused (Fixture       *fixture,
                    gconstpointer  user_data)
{
  g_autofree char *key = NULL;
  Process process = { 0 };

  if (!have_openssl ())
    return;
  key = save_fixture_identity (fixture, "client.pem");
  {
    const char *extra[] = { "-tls1_2", "-cert", key, "-key", key, NULL };

    run_s_client (fixture, extra, NULL, 0, &process);
  }

  WAIT_UNTIL (fixture->server.closed);
  g_assert_error (fixture->server.closed_error, USI_NET_ERROR, USI_NET_ERROR_TLS);
  g_assert_error (fixture->server.handshake_error, USI_NET_ERROR, USI_NET_ERROR_TLS);
  g_assert_false (fixture->server.handshake_done);
  /* s_client reports the failed handshake. */
  g_assert_false (process.successful);
  g_assert_nonnull (strstr (process.output, "alert protocol version"));
  g_free (process.output);
}

static void
test_no_client_certificate (Fixture       *fixture,
                            gconstpointer  user_data)
{
  Process process = { 0 };
  const char *extra[] = { "-tls1_3", NULL };

  if (!have_openssl ())
    return;
  /* Application data right after the handshake: never reaches a frame. */
  run_s_client (fixture, extra, raw_ping, sizeof raw_ping, &process);

  WAIT_UNTIL (fixture->server.closed);
  g_assert_error (fixture->server.closed_error, USI_NET_ERROR, USI_NET_ERROR_TLS);
  g_assert_error (fixture->server.handshake_error, USI_NET_ERROR, USI_NET_ERROR_TLS);
  g_assert_false (fixture->server.handshake_done);
  g_assert_cmpuint (fixture->server.frames->len, ==, 0);
  g_assert_null (strstr (process.output, "Verify return code: 0"));
  g_free (process.output);
}

/* The control: the same s_client with a good certificate gets through, so
 * the refusals above are about what they say. */
static void
test_s_client_accepted (Fixture       *fixture,
                        gconstpointer  user_data)
{
  g_autofree char *key = NULL;
  Process process = { 0 };

  if (!have_openssl ())
    return;
  key = save_fixture_identity (fixture, "client.pem");
  {
    const char *extra[] = { "-tls1_3", "-cert", key, "-key", key, NULL };

    start_s_client (fixture, extra, raw_ping, sizeof raw_ping, &process);
  }

  WAIT_UNTIL (fixture->server.frames != NULL && (fixture->server.frames->len == 1 || fixture->server.closed));
  usi_connection_close (fixture->server.connection);
  wait_s_client (&process);
  g_assert_true (fixture->server.handshake_done);
  g_assert_cmpuint (fixture->server.frames->len, ==, 1);
  g_free (process.output);
}

static void
test_certificate_chain_refused (Fixture       *fixture,
                                gconstpointer  user_data)
{
  g_autofree char *ca_key = g_build_filename (fixture->tmp, "ca.key", NULL);
  g_autofree char *ca = g_build_filename (fixture->tmp, "ca.pem", NULL);
  g_autofree char *leaf_key = g_build_filename (fixture->tmp, "leaf.key", NULL);
  g_autofree char *leaf_csr = g_build_filename (fixture->tmp, "leaf.csr", NULL);
  g_autofree char *leaf = g_build_filename (fixture->tmp, "leaf.pem", NULL);
  g_autofree char *serial = g_build_filename (fixture->tmp, "ca.srl", NULL);
  Process process = { 0 };

  if (!have_openssl ())
    return;
  {
    const char *make_ca[] = { "openssl", "req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", ca_key,
                              "-out", ca, "-subj", "/CN=usi test ca", "-days", "1", NULL };
    const char *make_csr[] = { "openssl", "req", "-new", "-newkey", "ed25519", "-nodes", "-keyout", leaf_key,
                               "-out", leaf_csr, "-subj", "/CN=usi test leaf", NULL };
    const char *sign[] = { "openssl", "x509", "-req", "-in", leaf_csr, "-CA", ca, "-CAkey", ca_key,
                           "-CAserial", serial, "-CAcreateserial", "-out", leaf, "-days", "1", NULL };

    g_free (run_openssl (make_ca));
    g_free (run_openssl (make_csr));
    g_free (run_openssl (sign));
  }

  /* A leaf and its issuer: a chain of two (T4). */
  {
    const char *extra[] = { "-tls1_3", "-cert", leaf, "-key", leaf_key, "-cert_chain", ca, NULL };

    run_s_client (fixture, extra, NULL, 0, &process);
  }
  WAIT_UNTIL (fixture->server.closed);
  g_assert_error (fixture->server.closed_error, USI_NET_ERROR, USI_NET_ERROR_TLS);
  g_assert_false (fixture->server.handshake_done);
  g_clear_pointer (&process.output, g_free);
  peer_clear (&fixture->server);

  /* The leaf alone: not self-signed, its signature does not verify under
   * its own key. */
  memset (&process, 0, sizeof process);
  {
    const char *extra[] = { "-tls1_3", "-cert", leaf, "-key", leaf_key, NULL };

    run_s_client (fixture, extra, NULL, 0, &process);
  }
  WAIT_UNTIL (fixture->server.closed);
  g_assert_error (fixture->server.closed_error, USI_NET_ERROR, USI_NET_ERROR_TLS);
  g_assert_false (fixture->server.handshake_done);
  g_assert_cmpuint (fixture->n_accepted, ==, 2);
  g_free (process.output);

  g_unlink (ca_key);
  g_unlink (ca);
  g_unlink (leaf_key);
  g_unlink (leaf_csr);
  g_unlink (leaf);
  g_unlink (serial);
}

/* Frames and limits */

static void
send_raw (UsiConnection *connection,
          const guint8  *data,
          gsize          length)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) bytes = g_bytes_new (data, length);

  g_assert_true (usi_connection_send (connection, bytes, &error));
  g_assert_no_error (error);
}

static void
assert_header_refused (Fixture      *fixture,
                       const guint8 *header)
{
  Peer client = { 0 };

  connect_pair (fixture, &client);
  /* The header alone: the relay must not wait for a body. */
  send_raw (client.connection, header, USI_FRAME_HEADER_LENGTH);
  WAIT_UNTIL (fixture->server.closed);
  g_assert_error (fixture->server.closed_error, USI_NET_ERROR, USI_NET_ERROR_FRAME);
  g_assert_cmpuint (fixture->server.frames->len, ==, 0);
  /* The client learns it too. */
  WAIT_UNTIL (client.closed);
  peer_clear (&client);
  peer_clear (&fixture->server);
}

static void
test_oversized_header (Fixture       *fixture,
                       gconstpointer  user_data)
{
  /* 4 GiB announced for an AppMessage. */
  static const guint8 huge[] = { 0xff, 0xff, 0xff, 0xff, 0x01, 0x30 };
  /* A Ping of 9 bytes (exactly 8 allowed). */
  static const guint8 long_ping[] = { 0x00, 0x00, 0x00, 0x0b, 0x01, 0x0b };
  /* A FileChunk of 17 KiB + 1. */
  static const guint8 long_chunk[] = { 0x00, 0x00, 0x44, 0x03, 0x01, 0x31 };
  /* An unknown control type, an unknown version, a length below 2. */
  static const guint8 unknown_type[] = { 0x00, 0x00, 0x00, 0x02, 0x01, 0x0d };
  static const guint8 bad_version[] = { 0x00, 0x00, 0x00, 0x02, 0x02, 0x30 };
  static const guint8 too_short[] = { 0x00, 0x00, 0x00, 0x01, 0x01, 0x30 };

  assert_header_refused (fixture, huge);
  assert_header_refused (fixture, long_ping);
  assert_header_refused (fixture, long_chunk);
  assert_header_refused (fixture, unknown_type);
  assert_header_refused (fixture, bad_version);
  assert_header_refused (fixture, too_short);
}

static void
test_split_reads (Fixture       *fixture,
                  gconstpointer  user_data)
{
  g_autoptr(GBytes) ping = usi_relay_frame_new_ping (G_GUINT64_CONSTANT (0x0102030405060708));
  g_autoptr(GBytes) small = test_frame (USI_FRAME_APP_MESSAGE, 100, 1);
  g_autoptr(GBytes) large = test_frame (USI_FRAME_FILE_CHUNK, 17 * 1024, 2);
  g_autoptr(GBytes) empty = test_frame (USI_FRAME_APP_MESSAGE, 0, 0);
  g_autoptr(GByteArray) all = g_byte_array_new ();
  GBytes *frames[] = { ping, small, large, empty };
  GBytes *expected[3 * G_N_ELEMENTS (frames)];
  Peer client = { 0 };
  gsize offset;
  guint n;

  for (guint i = 0; i < G_N_ELEMENTS (frames); i++)
    g_byte_array_append (all, g_bytes_get_data (frames[i], NULL), g_bytes_get_size (frames[i]));
  for (guint i = 0; i < G_N_ELEMENTS (expected); i++)
    expected[i] = frames[i % G_N_ELEMENTS (frames)];

  connect_pair (fixture, &client);

  /* Every frame in one write. */
  send_raw (client.connection, all->data, all->len);
  WAIT_UNTIL (fixture->server.frames->len == 4);

  /* One byte per TLS record, so the reader sees one byte at a time. */
  for (guint i = 0; i < all->len; i++)
    send_raw (client.connection, all->data + i, 1);
  WAIT_UNTIL (fixture->server.frames->len == 8);

  /* Pieces of varied sizes that straddle headers and bodies. */
  offset = 0;
  n = 0;
  while (offset < all->len)
    {
      gsize piece = MIN ((gsize) (1 + (n * 7919) % 5003), all->len - offset);

      send_raw (client.connection, all->data + offset, piece);
      offset += piece;
      n++;
    }
  WAIT_UNTIL (fixture->server.frames->len == 12);

  assert_frames_equal (fixture->server.frames, expected, G_N_ELEMENTS (expected));
  g_assert_false (fixture->server.closed);
  peer_clear (&client);
}

static void
test_handshake_timeout (Fixture       *fixture,
                        gconstpointer  user_data)
{
  /* A TCP client that never starts TLS (slowloris). */
  g_autoptr(GIOStream) stream = NULL;

  fixture->limits.handshake_timeout_ms = 200;
  stream = tcp_connect (fixture);
  WAIT_UNTIL (fixture->server.closed);
  g_assert_error (fixture->server.closed_error, USI_NET_ERROR, USI_NET_ERROR_HANDSHAKE_TIMEOUT);
  g_assert_error (fixture->server.handshake_error, USI_NET_ERROR, USI_NET_ERROR_HANDSHAKE_TIMEOUT);
  g_io_stream_close (stream, NULL, NULL);
}

static void
test_idle_timeout (Fixture       *fixture,
                   gconstpointer  user_data)
{
  Peer client = { 0 };

  fixture->limits.idle_timeout_ms = 200;
  connect_pair (fixture, &client);
  WAIT_UNTIL (fixture->server.closed);
  g_assert_error (fixture->server.closed_error, USI_NET_ERROR, USI_NET_ERROR_IDLE_TIMEOUT);
  WAIT_UNTIL (client.closed);
  peer_clear (&client);
}

static void
test_rate_limit (Fixture       *fixture,
                 gconstpointer  user_data)
{
  g_autoptr(GBytes) ping = usi_relay_frame_new_ping (7);
  g_autoptr(GByteArray) burst = g_byte_array_new ();
  Peer client = { 0 };

  fixture->limits.frames_per_second = 1;
  fixture->limits.frame_burst = 5;
  connect_pair (fixture, &client);

  for (guint i = 0; i < 50; i++)
    g_byte_array_append (burst, g_bytes_get_data (ping, NULL), g_bytes_get_size (ping));
  send_raw (client.connection, burst->data, burst->len);

  WAIT_UNTIL (fixture->server.closed);
  g_assert_error (fixture->server.closed_error, USI_NET_ERROR, USI_NET_ERROR_RATE_LIMIT);
  /* The burst went through (one more frame per second may have). */
  g_assert_cmpuint (fixture->server.frames->len, >=, 5);
  g_assert_cmpuint (fixture->server.frames->len, <, 50);
  peer_clear (&client);
}

static void
test_backpressure (Fixture       *fixture,
                   gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GMainContext) client_context = g_main_context_new ();
  g_autoptr(GBytes) chunk = test_frame (USI_FRAME_FILE_CHUNK, 16 * 1024, 5);
  gsize frame_size = g_bytes_get_size (chunk);
  gsize max_seen = 0;
  guint sent = 0;
  Peer client = { 0 };

  fixture->limits.max_queued_bytes = 256 * 1024;

  /* The client lives in a context of its own that stops being iterated
   * once the handshake is done: a peer that never reads. */
  g_main_context_push_thread_default (client_context);
  client_connect (fixture, &client, usi_tls_identity_get_pin (fixture->identity), NULL);
  g_main_context_pop_thread_default (client_context);
  while (!(client.handshake_done && fixture->server.handshake_done))
    {
      g_main_context_iteration (client_context, FALSE);
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }

  while (TRUE)
    {
      gsize queued;

      if (!usi_connection_send (fixture->server.connection, chunk, &error))
        break;
      sent++;
      queued = usi_connection_get_queued_bytes (fixture->server.connection);
      max_seen = MAX (max_seen, queued);
      g_assert_cmpuint (queued, <=, fixture->limits.max_queued_bytes + frame_size);
      /* Let the writes go out while the socket takes them. */
      while (g_main_context_iteration (NULL, FALSE))
        ;
      g_assert_cmpuint (sent, <, 100000);
    }

  g_assert_error (error, USI_NET_ERROR, USI_NET_ERROR_BACKPRESSURE);
  g_assert_true (fixture->server.closed);
  g_assert_error (fixture->server.closed_error, USI_NET_ERROR, USI_NET_ERROR_BACKPRESSURE);
  g_assert_cmpuint (max_seen, <=, fixture->limits.max_queued_bytes + frame_size);
  /* The queue really filled: the socket's buffers were not enough. */
  g_assert_cmpuint (max_seen, >, fixture->limits.max_queued_bytes / 2);
  g_test_message ("%u frames of %" G_GSIZE_FORMAT " bytes before the limit", sent, frame_size);

  peer_clear (&fixture->server);
  peer_clear_in (&client, client_context);
}

/* Lifetimes (ASan finds what goes wrong here) */

static void
test_close_in_handler (Fixture       *fixture,
                       gconstpointer  user_data)
{
  g_autoptr(GBytes) ping = usi_relay_frame_new_ping (1);
  g_autoptr(GByteArray) two = g_byte_array_new ();
  UsiConnection *weak;
  Peer client = { 0 };

  connect_pair (fixture, &client);
  weak = fixture->server.connection;
  g_object_add_weak_pointer (G_OBJECT (weak), (gpointer *) &weak);
  fixture->server.close_on_frame = TRUE;

  /* Two frames in one record: the second arrives after the handler let go. */
  g_byte_array_append (two, g_bytes_get_data (ping, NULL), g_bytes_get_size (ping));
  g_byte_array_append (two, g_bytes_get_data (ping, NULL), g_bytes_get_size (ping));
  send_raw (client.connection, two->data, two->len);

  WAIT_UNTIL (weak == NULL);
  g_assert_cmpuint (fixture->server.frames->len, ==, 1);
  g_assert_cmpuint (fixture->server.n_closed, ==, 1);
  g_assert_error (fixture->server.closed_error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  WAIT_UNTIL (client.closed);
  peer_clear (&client);
}

static void
test_close_mid_handshake (Fixture       *fixture,
                          gconstpointer  user_data)
{
  Peer client = { 0 };

  client_connect (fixture, &client, usi_tls_identity_get_pin (fixture->identity), NULL);
  usi_connection_close (client.connection);
  g_assert_error (client.closed_error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  WAIT_UNTIL (client.handshake_error != NULL);
  g_assert_error (client.handshake_error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_false (client.handshake_done);
  WAIT_UNTIL (fixture->server.closed);
  g_assert_false (fixture->server.handshake_done);
  peer_clear (&client);
}

static void
test_cancel_handshake (Fixture       *fixture,
                       gconstpointer  user_data)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GIOStream) stream = NULL;
  Peer client = { 0 };

  /* The relay never answers: the handshake would wait. */
  g_socket_service_stop (fixture->service);
  stream = tcp_connect (fixture);
  peer_attach (&client, usi_connection_new_client (stream, usi_tls_identity_get_pin (fixture->identity), NULL));
  usi_connection_handshake_async (client.connection, cancellable, handshake_cb, &client);
  g_cancellable_cancel (cancellable);
  WAIT_UNTIL (client.handshake_error != NULL);
  g_assert_error (client.handshake_error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_true (client.closed);
  peer_clear (&client);
}

static void
test_close_mid_write (Fixture       *fixture,
                      gconstpointer  user_data)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) large = test_frame (USI_FRAME_COMMIT, 1024 * 1024, 9);
  Peer client = { 0 };

  connect_pair (fixture, &client);
  for (guint i = 0; i < 4; i++)
    g_assert_true (usi_connection_send (fixture->server.connection, large, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (usi_connection_get_queued_bytes (fixture->server.connection), >, 0);
  usi_connection_close (fixture->server.connection);
  g_assert_true (fixture->server.closed);
  peer_clear (&fixture->server);
  WAIT_UNTIL (client.closed);
  peer_clear (&client);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, NULL);

#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/net/tls-identity/round-trip", test_identity_round_trip);
  ADD ("/net/tls-identity/generate-new", test_identity_generate_new);
  ADD ("/net/tls-identity/load-errors", test_identity_load_errors);
  g_test_add_func ("/net/tls-identity/pin-parse-errors", test_pin_parse_errors);
  ADD ("/net/connection/handshake-and-frames", test_handshake_and_frames);
  ADD ("/net/connection/T1-pin-mismatch", test_pin_mismatch);
  ADD ("/net/connection/T2-tls12-refused", test_tls12_refused);
  ADD ("/net/connection/T4-no-client-cert", test_no_client_certificate);
  ADD ("/net/connection/T4-chain-refused", test_certificate_chain_refused);
  ADD ("/net/connection/s-client-accepted", test_s_client_accepted);
  ADD ("/net/connection/T5-oversized-header", test_oversized_header);
  ADD ("/net/connection/T6-split-reads", test_split_reads);
  ADD ("/net/connection/handshake-timeout", test_handshake_timeout);
  ADD ("/net/connection/idle-timeout", test_idle_timeout);
  ADD ("/net/connection/rate-limit", test_rate_limit);
  ADD ("/net/connection/backpressure", test_backpressure);
  ADD ("/net/connection/close-in-handler", test_close_in_handler);
  ADD ("/net/connection/close-mid-handshake", test_close_mid_handshake);
  ADD ("/net/connection/cancel-handshake", test_cancel_handshake);
  ADD ("/net/connection/close-mid-write", test_close_mid_write);
#undef ADD

  return g_test_run ();
}
