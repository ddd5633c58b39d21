/* Unit tests for src/loop/tls.c: a server and a client on one uv loop over
 * 127.0.0.1 (handshake, echo, close_notify, pins, wrong CA, wrong name,
 * client certificates, a 32 MiB transfer with back-pressure and pauses),
 * OpenSSL clients in a thread that offer what the policy refuses (TLS 1.1,
 * CBC ciphers), the certificate and key loading errors, the self-signed
 * generator, and `openssl s_client` as a real peer. Certificates are made
 * at test time in a temp dir; no key is committed. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "loop/tls.h"
#include "run-cmd.h"

static char dir[] = "/tmp/scout-test-tls.XXXXXX";
static char cert[256], key[256], cert2[256], key2[256], ccert[256], ckey[256];

/* ---- fixture: a listener and its connections on one loop --------------- */

struct end;

struct fixture {
	uv_loop_t loop;
	uv_tcp_t listener;
	uv_timer_t tick;
	int port;
	struct scout_tls_ctx *sctx; /* for accepted connections */
	struct end *server;         /* the last one accepted */
	struct end *servers[32];    /* all of them, freed with the fixture */
	unsigned nservers;
	unsigned open; /* ends not yet closed */
	/* the big transfer */
	size_t pause_every; /* server pauses after this many bytes; 0: never */
	uv_timer_t resume;
};

struct end {
	uv_tcp_t tcp;
	uv_connect_t connect;
	struct fixture *f;
	struct scout_tls *tls;
	struct scout_tls_client_conn_opts copts;
	struct scout_tls_ctx *cctx;
	bool is_server, hs, eof, failed, closed, echo, shut_written;
	int err;
	char reason[SCOUT_TLS_ERR_LEN];
	struct scout_tls_peer peer;
	char rx[4096];
	size_t rx_len;
	size_t total, since_pause;
	uint64_t bad; /* bytes that broke the pattern */
};

static void on_hs(struct scout_tls *t, const struct scout_tls_peer *p)
{
	struct end *e = scout_tls_data(t);

	e->hs = true;
	e->peer = *p;
	e->peer.version = NULL;
	e->peer.cipher = NULL;
}

static void resume_cb(uv_timer_t *timer)
{
	struct fixture *f = timer->data;

	if (f->server->tls) /* not once the end has closed */
		scout_tls_resume(f->server->tls);
}

static void on_plain(struct scout_tls *t, const char *data, size_t len)
{
	struct end *e = scout_tls_data(t);

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)data[i] != (unsigned char)((e->total + i) % 251))
			e->bad++;
	if (e->rx_len + len < sizeof(e->rx)) {
		memcpy(e->rx + e->rx_len, data, len);
		e->rx_len += len;
	}
	e->total += len;
	if (e->echo)
		assert_int_equal(scout_tls_write(t, data, len, NULL, NULL), 0);
	if (e->is_server && e->f->pause_every) {
		e->since_pause += len;
		if (e->since_pause >= e->f->pause_every) {
			e->since_pause = 0;
			scout_tls_pause(t);
			uv_timer_start(&e->f->resume, resume_cb, 1, 0);
		}
	}
}

static void on_eof(struct scout_tls *t)
{
	struct end *e = scout_tls_data(t);

	e->eof = true;
}

static void on_error(struct scout_tls *t, int err, const char *reason)
{
	struct end *e = scout_tls_data(t);

	assert_false(e->failed); /* at most once */
	e->failed = true;
	e->err = err;
	snprintf(e->reason, sizeof(e->reason), "%s", reason);
}

static const struct scout_tls_callbacks cbs = {.handshake = on_hs, .read = on_plain, .eof = on_eof, .error = on_error};

static void alloc_cb(uv_handle_t *h, size_t size, uv_buf_t *buf)
{
	static char space[65536];

	buf->base = space;
	buf->len = sizeof(space);
}

static void end_closed(uv_handle_t *h)
{
	struct end *e = h->data;

	scout_tls_free(e->tls);
	e->tls = NULL;
	e->closed = true;
	e->f->open--;
}

static void end_close(struct end *e)
{
	if (!uv_is_closing((uv_handle_t *)&e->tcp))
		uv_close((uv_handle_t *)&e->tcp, end_closed);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct end *e = s->data;

	if (n < 0) {
		uv_read_stop(s);
		if (!e->eof && !e->failed) {
			e->failed = true;
			e->err = (int)n;
			snprintf(e->reason, sizeof(e->reason), "read: %s", uv_strerror((int)n));
		}
		if (e->is_server)
			end_close(e);
		return;
	}
	if (n > 0 && scout_tls_feed(e->tls, buf->base, (size_t)n) < 0) {
		uv_read_stop(s);
		if (e->is_server)
			end_close(e);
	}
}

static void on_accept(uv_stream_t *l, int status)
{
	struct fixture *f = l->data;
	struct end *e = calloc(1, sizeof(*e));

	assert_int_equal(status, 0);
	e->f = f;
	e->is_server = true;
	e->echo = f->pause_every == 0;
	assert_int_equal(uv_tcp_init(&f->loop, &e->tcp), 0);
	e->tcp.data = e;
	assert_int_equal(uv_accept(l, (uv_stream_t *)&e->tcp), 0);
	assert_int_equal(scout_tls_new_server(f->sctx, (uv_stream_t *)&e->tcp, &cbs, e, &e->tls), 0);
	assert_int_equal(uv_read_start((uv_stream_t *)&e->tcp, alloc_cb, read_cb), 0);
	f->open++;
	assert_true(f->nservers < 32);
	f->servers[f->nservers++] = e;
	f->server = e;
}

static void tick_cb(uv_timer_t *t)
{
}

static struct fixture *fixture_new(const char *cert_file, const char *key_file, const char *client_ca)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct scout_tls_server_opts so = {.cert_file = cert_file, .key_file = key_file, .client_ca_file = client_ca};
	struct sockaddr_in sa;
	int len = sizeof(sa);
	char err[SCOUT_TLS_ERR_LEN];

	assert_int_equal(uv_loop_init(&f->loop), 0);
	if (scout_tls_ctx_server(&so, &f->sctx, err, sizeof(err)) != 0)
		fail_msg("server context: %s", err);
	assert_int_equal(uv_tcp_init(&f->loop, &f->listener), 0);
	f->listener.data = f;
	uv_ip4_addr("127.0.0.1", 0, &sa);
	assert_int_equal(uv_tcp_bind(&f->listener, (struct sockaddr *)&sa, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&f->listener, 16, on_accept), 0);
	assert_int_equal(uv_tcp_getsockname(&f->listener, (struct sockaddr *)&sa, &len), 0);
	f->port = ntohs(sa.sin_port);
	uv_timer_init(&f->loop, &f->tick);
	uv_timer_start(&f->tick, tick_cb, 10, 10);
	uv_timer_init(&f->loop, &f->resume);
	f->resume.data = f;
	return f;
}

/* Runs the loop until *flag or a generous deadline (a failed test, not a hang). */
static void run_until(struct fixture *f, const volatile bool *flag, const char *what)
{
	uint64_t deadline = uv_now(&f->loop) + 60000;

	while (!*flag) {
		uv_run(&f->loop, UV_RUN_ONCE);
		uv_update_time(&f->loop);
		if (uv_now(&f->loop) > deadline)
			fail_msg("timed out waiting for %s", what);
	}
}

static void fixture_free(struct fixture *f)
{
	for (unsigned i = 0; i < f->nservers; i++)
		end_close(f->servers[i]);
	uv_close((uv_handle_t *)&f->listener, NULL);
	uv_close((uv_handle_t *)&f->tick, NULL);
	uv_close((uv_handle_t *)&f->resume, NULL);
	while (f->open > 0)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	scout_tls_ctx_unref(f->sctx);
	for (unsigned i = 0; i < f->nservers; i++)
		free(f->servers[i]);
	free(f);
}

static void on_connect(uv_connect_t *req, int status)
{
	struct end *e = req->data;
	char err[SCOUT_TLS_ERR_LEN];

	assert_int_equal(status, 0);
	if (scout_tls_new_client(e->cctx, &e->copts, (uv_stream_t *)&e->tcp, &cbs, e, &e->tls, err, sizeof(err)) != 0)
		fail_msg("client: %s", err);
	assert_int_equal(uv_read_start((uv_stream_t *)&e->tcp, alloc_cb, read_cb), 0);
}

static struct scout_tls_ctx *client_ctx(const char *ca, const char *c, const char *k)
{
	struct scout_tls_client_opts o = {.ca_file = ca, .cert_file = c, .key_file = k};
	struct scout_tls_ctx *ctx;
	char err[SCOUT_TLS_ERR_LEN];

	if (scout_tls_ctx_client(&o, &ctx, err, sizeof(err)) != 0)
		fail_msg("client context: %s", err);
	return ctx;
}

/* Connects a client end; the caller runs the loop. */
static struct end *client_new(struct fixture *f, struct scout_tls_ctx *ctx, const struct scout_tls_client_conn_opts *o)
{
	struct end *e = calloc(1, sizeof(*e));
	struct sockaddr_in sa;

	e->f = f;
	e->cctx = ctx;
	e->copts = *o;
	assert_int_equal(uv_tcp_init(&f->loop, &e->tcp), 0);
	e->tcp.data = e;
	e->connect.data = e;
	uv_ip4_addr("127.0.0.1", f->port, &sa);
	assert_int_equal(uv_tcp_connect(&e->connect, &e->tcp, (struct sockaddr *)&sa, on_connect), 0);
	f->open++;
	return e;
}

static void client_free(struct end *e)
{
	end_close(e);
	run_until(e->f, &e->closed, "client close");
	free(e);
}

/* Either end failing (or both finishing the handshake). */
static bool settled(struct fixture *f, struct end *c)
{
	return c->failed || (c->hs && f->server && (f->server->hs || f->server->failed));
}

static void run_settled(struct fixture *f, struct end *c)
{
	uint64_t deadline = uv_now(&f->loop) + 60000;

	while (!settled(f, c)) {
		uv_run(&f->loop, UV_RUN_ONCE);
		if (uv_now(&f->loop) > deadline)
			fail_msg("handshake did not settle");
	}
}

/* ---- certificates ------------------------------------------------------ */

static int setup(void **state)
{
	const char *names[] = {"localhost", "127.0.0.1", NULL};
	char err[SCOUT_TLS_ERR_LEN];

	assert_non_null(mkdtemp(dir));
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	snprintf(cert2, sizeof(cert2), "%s/cert2.pem", dir);
	snprintf(key2, sizeof(key2), "%s/key2.pem", dir);
	snprintf(ccert, sizeof(ccert), "%s/client.pem", dir);
	snprintf(ckey, sizeof(ckey), "%s/client-key.pem", dir);
	if (scout_tls_selfsigned_write(cert, key, "localhost", names, 2, err, sizeof(err)) != 0 ||
	    scout_tls_selfsigned_write(cert2, key2, "other", names, 2, err, sizeof(err)) != 0 ||
	    scout_tls_selfsigned_write(ccert, ckey, "scout-client", NULL, 2, err, sizeof(err)) != 0)
		fail_msg("self-signed: %s", err);
	return 0;
}

static int teardown(void **state)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void test_selfsigned_files(void **state)
{
	struct stat st;
	uint8_t pin[SCOUT_TLS_PIN_LEN], pin2[SCOUT_TLS_PIN_LEN];
	char err[SCOUT_TLS_ERR_LEN];

	assert_int_equal(stat(key, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(cert, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(scout_tls_pin_of_cert_file(cert, pin, err, sizeof(err)), 0);
	assert_int_equal(scout_tls_pin_of_cert_file(cert2, pin2, err, sizeof(err)), 0);
	assert_memory_not_equal(pin, pin2, sizeof(pin)); /* a new key each time */
	/* openssl agrees: P-256 key, CA:FALSE, both SANs. */
	if (system("command -v openssl >/dev/null") == 0) {
		char cmd[2048];

		snprintf(
			cmd, sizeof(cmd),
			"openssl x509 -in '%s' -noout -text | grep -q 'ASN1 OID: prime256v1' && "
			"openssl x509 -in '%s' -noout -text | grep -q 'CA:FALSE' && "
			"openssl x509 -in '%s' -noout -ext subjectAltName | grep -q 'DNS:localhost, IP Address:127.0.0.1'",
			cert, cert, cert);
		assert_int_equal(system(cmd), 0);
	}
	assert_int_equal(scout_tls_selfsigned_write(cert, key, "", NULL, 1, err, sizeof(err)), -EINVAL);
}

static void expect_ctx_error(const char *c, const char *k, const char *want1, const char *want2)
{
	struct scout_tls_server_opts so = {.cert_file = c, .key_file = k};
	struct scout_tls_ctx *ctx = NULL;
	char err[SCOUT_TLS_ERR_LEN] = "";

	assert_int_not_equal(scout_tls_ctx_server(&so, &ctx, err, sizeof(err)), 0);
	assert_null(ctx);
	if (!strstr(err, want1) || (want2 && !strstr(err, want2)))
		fail_msg("error '%s' lacks '%s' / '%s'", err, want1, want2 ? want2 : "");
}

static void test_ctx_errors(void **state)
{
	char garbage[300], missing[300];
	FILE *f;

	snprintf(garbage, sizeof(garbage), "%s/garbage.pem", dir);
	snprintf(missing, sizeof(missing), "%s/missing.pem", dir);
	f = fopen(garbage, "w");
	fputs("not a key\n", f);
	fclose(f);
	/* each message names the file at fault */
	expect_ctx_error(cert, key2, key2, "does not match the certificate in");
	expect_ctx_error(cert, missing, missing, "No such file");
	expect_ctx_error(missing, key, missing, "No such file");
	expect_ctx_error(cert, garbage, garbage, "cannot load private key");
	expect_ctx_error(garbage, key, garbage, "cannot load certificate");
	expect_ctx_error(cert, cert, cert, "cannot load private key");

	struct scout_tls_client_opts co = {.ca_file = missing};
	struct scout_tls_ctx *ctx = NULL;
	char err[SCOUT_TLS_ERR_LEN] = "";
	assert_int_not_equal(scout_tls_ctx_client(&co, &ctx, err, sizeof(err)), 0);
	assert_non_null(strstr(err, missing));
	co = (struct scout_tls_client_opts){.cert_file = ccert};
	assert_int_equal(scout_tls_ctx_client(&co, &ctx, err, sizeof(err)), -EINVAL);
}

static void test_pin_format(void **state)
{
	uint8_t pin[SCOUT_TLS_PIN_LEN], back[SCOUT_TLS_PIN_LEN];
	char hex[SCOUT_TLS_PIN_HEX_LEN + 1], colons[200] = "";

	for (int i = 0; i < SCOUT_TLS_PIN_LEN; i++)
		pin[i] = (uint8_t)(i * 37 + 5);
	scout_tls_pin_format(pin, hex);
	assert_int_equal(strlen(hex), 64);
	assert_int_equal(scout_tls_pin_parse(hex, back), 0);
	assert_memory_equal(pin, back, sizeof(pin));
	for (int i = 0; i < SCOUT_TLS_PIN_LEN; i++)
		snprintf(colons + strlen(colons), sizeof(colons) - strlen(colons), "%s%02X", i ? ":" : "", pin[i]);
	assert_int_equal(scout_tls_pin_parse(colons, back), 0);
	assert_memory_equal(pin, back, sizeof(pin));
	hex[63] = '\0';
	assert_int_equal(scout_tls_pin_parse(hex, back), -EINVAL);
	assert_int_equal(scout_tls_pin_parse("zz", back), -EINVAL);
	strcpy(colons, hex);
	strcat(colons, "00");
	assert_int_equal(scout_tls_pin_parse(colons, back), -EINVAL);
}

/* ---- handshakes between our own ends ----------------------------------- */

static void test_handshake_echo(void **state)
{
	struct fixture *f = fixture_new(cert, key, NULL);
	struct scout_tls_ctx *cc = client_ctx(cert, NULL, NULL);
	struct scout_tls_client_conn_opts o = {.server_name = "127.0.0.1"};
	struct end *c = client_new(f, cc, &o);
	uint8_t pin[SCOUT_TLS_PIN_LEN];
	char err[SCOUT_TLS_ERR_LEN];
	char msg[100];

	run_settled(f, c);
	if (c->failed)
		fail_msg("client failed: %s", c->reason);
	assert_true(f->server->hs);
	assert_true(c->peer.has_cert && c->peer.chain_ok);
	assert_string_equal(c->peer.subject, "CN=localhost");
	assert_int_equal(scout_tls_pin_of_cert_file(cert, pin, err, sizeof(err)), 0);
	assert_memory_equal(c->peer.pin, pin, sizeof(pin));
	assert_false(f->server->peer.has_cert); /* no client certificate asked for */
	/* echo: the pattern bytes 0..99 */
	for (int i = 0; i < 100; i++)
		msg[i] = (char)(i % 251);
	assert_int_equal(scout_tls_write(c->tls, msg, sizeof(msg), NULL, NULL), 0);
	while (c->rx_len < sizeof(msg))
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_memory_equal(c->rx, msg, sizeof(msg));
	/* close_notify reaches the server as eof */
	assert_int_equal(scout_tls_shutdown(c->tls, NULL, NULL), 0);
	assert_int_equal(scout_tls_write(c->tls, "x", 1, NULL, NULL), -EPIPE);
	run_until(f, &f->server->eof, "server eof");
	assert_false(f->server->failed);
	client_free(c);
	scout_tls_ctx_unref(cc);
	fixture_free(f);
}

static void test_wrong_ca(void **state)
{
	struct fixture *f = fixture_new(cert, key, NULL);
	struct scout_tls_ctx *cc = client_ctx(cert2, NULL, NULL);
	struct scout_tls_client_conn_opts o = {.server_name = "localhost"};
	struct end *c = client_new(f, cc, &o);

	run_settled(f, c);
	assert_true(c->failed);
	assert_false(c->hs);
	if (!strstr(c->reason, "certificate verify failed") || !strstr(c->reason, "self-signed certificate"))
		fail_msg("reason: %s", c->reason);
	client_free(c);
	scout_tls_ctx_unref(cc);
	fixture_free(f);
}

static void test_wrong_name(void **state)
{
	struct fixture *f = fixture_new(cert, key, NULL);
	struct scout_tls_ctx *cc = client_ctx(cert, NULL, NULL);
	struct scout_tls_client_conn_opts o = {.server_name = "printer.example"};
	struct end *c = client_new(f, cc, &o);

	run_settled(f, c);
	assert_true(c->failed);
	if (!strstr(c->reason, "hostname mismatch"))
		fail_msg("reason: %s", c->reason);
	client_free(c);

	o.server_name = "127.0.0.2";
	c = client_new(f, cc, &o);
	run_settled(f, c);
	assert_true(c->failed);
	if (!strstr(c->reason, "IP address mismatch"))
		fail_msg("reason: %s", c->reason);
	client_free(c);
	scout_tls_ctx_unref(cc);
	fixture_free(f);
}

static void test_pins(void **state)
{
	struct fixture *f = fixture_new(cert, key, NULL);
	struct scout_tls_ctx *cc = client_ctx(cert2, NULL, NULL); /* a CA that does not match */
	struct scout_tls_client_conn_opts o = {.verify = SCOUT_TLS_PIN_FIRST_USE};
	uint8_t pin[SCOUT_TLS_PIN_LEN], pin2[SCOUT_TLS_PIN_LEN];
	char err[SCOUT_TLS_ERR_LEN], hex[SCOUT_TLS_PIN_HEX_LEN + 1];
	struct end *c;

	assert_int_equal(scout_tls_pin_of_cert_file(cert, pin, err, sizeof(err)), 0);
	assert_int_equal(scout_tls_pin_of_cert_file(cert2, pin2, err, sizeof(err)), 0);

	/* first use: accepted whatever the chain, the pin reported */
	c = client_new(f, cc, &o);
	run_settled(f, c);
	if (c->failed)
		fail_msg("first use failed: %s", c->reason);
	assert_memory_equal(c->peer.pin, pin, sizeof(pin));
	scout_tls_pin_format(pin, hex);
	assert_string_equal(c->peer.pin_hex, hex);
	assert_false(c->peer.chain_ok);
	client_free(c);

	/* the stored pin matches */
	o.verify = SCOUT_TLS_PIN_REQUIRE;
	memcpy(o.pin, pin, sizeof(pin));
	c = client_new(f, cc, &o);
	run_settled(f, c);
	if (c->failed)
		fail_msg("pin match failed: %s", c->reason);
	assert_true(c->hs);
	client_free(c);

	/* another key: refused, both pins named */
	memcpy(o.pin, pin2, sizeof(pin2));
	c = client_new(f, cc, &o);
	run_settled(f, c);
	assert_true(c->failed);
	assert_false(c->hs);
	assert_int_equal(c->err, -EPERM);
	assert_non_null(strstr(c->reason, "pin mismatch"));
	assert_non_null(strstr(c->reason, hex));
	client_free(c);

	/* pin and chain: the right pin but an unknown CA is refused */
	memcpy(o.pin, pin, sizeof(pin));
	o.pin_and_chain = true;
	o.server_name = "127.0.0.1";
	c = client_new(f, cc, &o);
	run_settled(f, c);
	assert_true(c->failed);
	assert_non_null(strstr(c->reason, "certificate verify failed"));
	client_free(c);
	scout_tls_ctx_unref(cc);
	fixture_free(f);
}

static void test_client_cert(void **state)
{
	struct fixture *f = fixture_new(cert, key, ccert);
	struct scout_tls_ctx *anon = client_ctx(cert, NULL, NULL);
	struct scout_tls_ctx *named = client_ctx(cert, ccert, ckey);
	struct scout_tls_client_conn_opts o = {.server_name = "localhost"};
	struct end *c;

	c = client_new(f, named, &o);
	run_settled(f, c);
	if (c->failed)
		fail_msg("client with certificate failed: %s", c->reason);
	run_until(f, &f->server->hs, "server handshake");
	assert_true(f->server->peer.has_cert && f->server->peer.chain_ok);
	assert_string_equal(f->server->peer.subject, "CN=scout-client");
	client_free(c);

	/* without a certificate: the server refuses (in TLS 1.3 the client may
	 * finish first and hear of it on its first read) */
	unsigned before = f->nservers;
	c = client_new(f, anon, &o);
	while (f->nservers == before || !f->server->failed)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_non_null(strstr(f->server->reason, "peer did not return a certificate"));
	client_free(c);
	scout_tls_ctx_unref(anon);
	scout_tls_ctx_unref(named);
	fixture_free(f);
}

/* 32 MiB client -> server in 64 KiB writes, never more than 512 KiB
 * queued; the server pauses every 1 MiB and resumes on a timer. */
struct pump {
	struct end *c;
	size_t sent, total;
	bool done;
	char chunk[65536];
};

static void pump(void *arg, int status);

static void pump_more(struct pump *p)
{
	while (p->sent < p->total && scout_tls_write_queue_size(p->c->tls) < 512 * 1024) {
		size_t n = sizeof(p->chunk);

		for (size_t i = 0; i < n; i++)
			p->chunk[i] = (char)((p->sent + i) % 251);
		assert_int_equal(scout_tls_write(p->c->tls, p->chunk, n, pump, p), 0);
		p->sent += n;
	}
	if (p->sent >= p->total)
		p->done = true;
}

static void pump(void *arg, int status)
{
	struct pump *p = arg;

	assert_int_equal(status, 0);
	pump_more(p);
}

static void test_big_transfer(void **state)
{
	struct fixture *f = fixture_new(cert, key, NULL);
	struct scout_tls_ctx *cc = client_ctx(cert, NULL, NULL);
	struct scout_tls_client_conn_opts o = {.server_name = "localhost"};
	struct pump *p = calloc(1, sizeof(*p));
	size_t max_queue = 0;

	f->pause_every = 1024 * 1024;
	p->c = client_new(f, cc, &o);
	p->total = 32 * 1024 * 1024;
	run_settled(f, p->c);
	assert_false(p->c->failed);
	pump_more(p);
	while (!f->server->failed && f->server->total < p->total) {
		size_t q = scout_tls_write_queue_size(p->c->tls);

		if (q > max_queue)
			max_queue = q;
		uv_run(&f->loop, UV_RUN_ONCE);
	}
	assert_false(f->server->failed);
	assert_int_equal(f->server->total, p->total);
	assert_int_equal(f->server->bad, 0);
	/* bounded: the limit plus one write's ciphertext */
	assert_true(max_queue < 512 * 1024 + 70000);
	client_free(p->c);
	free(p);
	scout_tls_ctx_unref(cc);
	fixture_free(f);
}

/* ---- what the policy refuses, offered by a raw OpenSSL client ---------- */

struct raw_client {
	int port;
	int max_version;
	const char *ciphers;
	atomic_bool done;
	bool ok;
	char reason[256];
};

static void *raw_client_run(void *arg)
{
	struct raw_client *rc = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)rc->port)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	SSL *ssl;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	SSL_CTX_set_security_level(ctx, 0); /* let the client offer old things */
	SSL_CTX_set_min_proto_version(ctx, TLS1_VERSION);
	SSL_CTX_set_max_proto_version(ctx, rc->max_version);
	if (rc->ciphers)
		SSL_CTX_set_cipher_list(ctx, rc->ciphers);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	ssl = SSL_new(ctx);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		SSL_set_fd(ssl, fd);
		rc->ok = SSL_connect(ssl) == 1;
		ERR_error_string_n(ERR_get_error(), rc->reason, sizeof(rc->reason));
	}
	SSL_free(ssl);
	close(fd);
	SSL_CTX_free(ctx);
	atomic_store(&rc->done, true);
	return NULL;
}

static void raw_attempt(int max_version, const char *ciphers, const char *want_server)
{
	struct fixture *f = fixture_new(cert, key, NULL);
	struct raw_client rc = {.port = f->port, .max_version = max_version, .ciphers = ciphers};
	pthread_t th;

	assert_int_equal(pthread_create(&th, NULL, raw_client_run, &rc), 0);
	while (!atomic_load(&rc.done) || !f->server || !f->server->failed) {
		uv_run(&f->loop, UV_RUN_ONCE);
		if (atomic_load(&rc.done) && rc.ok)
			break;
	}
	pthread_join(th, NULL);
	assert_false(rc.ok);
	assert_non_null(f->server);
	assert_true(f->server->failed);
	assert_false(f->server->hs);
	if (!strstr(f->server->reason, want_server))
		fail_msg("server reason '%s' lacks '%s'", f->server->reason, want_server);
	fixture_free(f);
}

static void test_tls11_refused(void **state)
{
	raw_attempt(TLS1_1_VERSION, "DEFAULT@SECLEVEL=0", "unsupported protocol");
}

static void test_cbc_refused(void **state)
{
	/* TLS 1.2 with CBC (no AEAD), and with static RSA (no forward secrecy) */
	raw_attempt(TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA",
		    "no shared cipher");
	raw_attempt(TLS1_2_VERSION, "AES128-GCM-SHA256:AES256-GCM-SHA384", "no shared cipher");
}

/* ---- openssl s_client as a real peer ------------------------------------ */

static int s_client(struct fixture *f, const char *args)
{
	char cmd[1024];

	snprintf(cmd, sizeof(cmd),
		 "echo | timeout 30 openssl s_client -connect 127.0.0.1:%d -CAfile '%s' -verify_return_error %s "
		 ">'%s/s_client.out' 2>&1",
		 f->port, cert, args, dir);
	return run_cmd_on_loop(&f->loop, cmd);
}

static void test_openssl_s_client(void **state)
{
	struct fixture *f;

	if (system("command -v openssl >/dev/null") != 0)
		skip(); /* reported as skipped, not passed */
	f = fixture_new(cert, key, NULL);
	/* a control: the same command with TLS 1.2 and 1.3 succeeds */
	assert_int_equal(s_client(f, "-tls1_3"), 0);
	assert_int_equal(s_client(f, "-tls1_2"), 0);
	assert_int_equal(s_client(f, "-tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305"), 0);
	assert_int_not_equal(s_client(f, "-tls1_1 -cipher DEFAULT@SECLEVEL=0"), 0);
	assert_non_null(f->server);
	assert_true(f->server->failed);
	assert_non_null(strstr(f->server->reason, "unsupported protocol"));
	assert_int_not_equal(s_client(f, "-tls1_2 -cipher ECDHE-ECDSA-AES128-SHA"), 0);
	assert_non_null(strstr(f->server->reason, "no shared cipher"));
	fixture_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_selfsigned_files),
		cmocka_unit_test(test_ctx_errors),
		cmocka_unit_test(test_pin_format),
		cmocka_unit_test(test_handshake_echo),
		cmocka_unit_test(test_wrong_ca),
		cmocka_unit_test(test_wrong_name),
		cmocka_unit_test(test_pins),
		cmocka_unit_test(test_client_cert),
		cmocka_unit_test(test_big_transfer),
		cmocka_unit_test(test_tls11_refused),
		cmocka_unit_test(test_cbc_refused),
		cmocka_unit_test(test_openssl_s_client),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, setup, teardown);
}
