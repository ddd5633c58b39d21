/* TLS over libuv streams with OpenSSL 3 memory BIOs (see tls.h for when to
 * use it). OpenSSL never touches the socket: the caller feeds ciphertext in
 * (rbio), plaintext comes out of SSL_read into the read callback, and
 * whatever OpenSSL writes to wbio is moved into a uv_write of its own, so
 * the loop never blocks on TLS. This file owns the contexts (policy: TLS
 * 1.2+, ECDHE + AEAD only), the per-connection state, peer checks (chain,
 * name, SPKI pin), the formatting of OpenSSL's error queue into one reason
 * string, and the self-signed certificate generator. */
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* TLS 1.2: forward secrecy and AEAD only. TLS 1.3 suites are all both. */
#define CIPHERS_12 "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!PSK:!SRP"
#define CIPHERS_13 "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"
#define GROUPS "X25519:P-256:P-384"
#define READ_CHUNK 16384

struct scout_tls_ctx {
	SSL_CTX *ssl;
	unsigned refs;
	bool server;
};

struct scout_tls {
	struct scout_tls_ctx *ctx;
	SSL *ssl;
	BIO *rbio, *wbio; /* owned by ssl */
	uv_stream_t *stream;
	const struct scout_tls_callbacks *cbs;
	void *data;
	struct scout_tls_client_conn_opts copts;
	size_t queued;
	bool client, hs_done, failed, paused, draining, shut, eof;
};

struct tls_write {
	uv_write_t w;
	struct scout_tls *t;
	size_t len;
	scout_tls_write_cb cb;
	void *arg;
	char data[];
};

/* ---- errors ------------------------------------------------------------ */

/* Appends OpenSSL's error queue (emptying it) to buf as "; reason (data)". */
static void append_ssl_errors(char *buf, size_t len)
{
	const char *file, *func, *data;
	int line, flags;
	unsigned long e;
	size_t n = strlen(buf);

	while ((e = ERR_get_error_all(&file, &line, &func, &data, &flags)) != 0) {
		const char *reason = ERR_reason_error_string(e);
		char code[64];

		if (!reason) {
			ERR_error_string_n(e, code, sizeof(code));
			reason = code;
		}
		if (n + 1 >= len)
			continue; /* keep draining */
		n += snprintf(buf + n, len - n, "%s%s", n ? ": " : "", reason);
		if (n < len && (flags & ERR_TXT_STRING) && data && *data)
			n += snprintf(buf + n, len - n, " (%s)", data);
		if (n >= len)
			n = len - 1;
	}
}

__attribute__((format(printf, 3, 4))) static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	append_ssl_errors(err, errlen);
}

/* ---- contexts ---------------------------------------------------------- */

static int check_readable(const char *path, const char *what, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");

	if (!f) {
		int e = errno;
		set_err(err, errlen, "%s: cannot open %s: %s", path, what, strerror(e));
		return -e;
	}
	fclose(f);
	return 0;
}

static SSL_CTX *ctx_new(bool server, char *err, size_t errlen)
{
	SSL_CTX *c = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());

	if (!c) {
		set_err(err, errlen, "cannot create a TLS context");
		return NULL;
	}
	if (!SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION) || !SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION) ||
	    !SSL_CTX_set_cipher_list(c, CIPHERS_12) || !SSL_CTX_set_ciphersuites(c, CIPHERS_13) ||
	    !SSL_CTX_set1_groups_list(c, GROUPS)) {
		set_err(err, errlen, "cannot set the TLS policy");
		SSL_CTX_free(c);
		return NULL;
	}
	SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* Writes go into a memory BIO whole; a partial write never happens, and
	 * the buffer may move between retries (it never needs to). */
	SSL_CTX_set_mode(c, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	return c;
}

/* Loads the certificate chain and key, checking that they belong together:
 * OpenSSL's own messages do not say which file is wrong. */
static int ctx_load_pair(SSL_CTX *c, const char *cert_file, const char *key_file, char *err, size_t errlen)
{
	EVP_PKEY *key = NULL;
	FILE *f;
	int r;

	if ((r = check_readable(cert_file, "certificate", err, errlen)) < 0 ||
	    (r = check_readable(key_file, "private key", err, errlen)) < 0)
		return r;
	ERR_clear_error();
	if (SSL_CTX_use_certificate_chain_file(c, cert_file) != 1) {
		set_err(err, errlen, "%s: cannot load certificate", cert_file);
		return -EINVAL;
	}
	f = fopen(key_file, "r");
	if (!f) {
		r = -errno;
		set_err(err, errlen, "%s: cannot open private key: %s", key_file, strerror(-r));
		return r;
	}
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!key) {
		set_err(err, errlen, "%s: cannot load private key", key_file);
		return -EINVAL;
	}
	if (!X509_check_private_key(SSL_CTX_get0_certificate(c), key)) {
		ERR_clear_error();
		set_err(err, errlen, "%s: private key does not match the certificate in %s", key_file, cert_file);
		EVP_PKEY_free(key);
		return -EINVAL;
	}
	r = SSL_CTX_use_PrivateKey(c, key);
	EVP_PKEY_free(key);
	if (r != 1) {
		set_err(err, errlen, "%s: cannot use private key", key_file);
		return -EINVAL;
	}
	return 0;
}

static int ctx_wrap(SSL_CTX *c, bool server, struct scout_tls_ctx **ret_ctx)
{
	struct scout_tls_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx) {
		SSL_CTX_free(c);
		return -ENOMEM;
	}
	ctx->ssl = c;
	ctx->refs = 1;
	ctx->server = server;
	*ret_ctx = ctx;
	return 0;
}

int scout_tls_ctx_server(const struct scout_tls_server_opts *opts, struct scout_tls_ctx **ret_ctx, char *err,
			 size_t errlen)
{
	SSL_CTX *c;
	int r;

	if (!opts || !opts->cert_file || !opts->key_file) {
		set_err(err, errlen, "a TLS server needs a certificate and a key file");
		return -EINVAL;
	}
	ERR_clear_error();
	c = ctx_new(true, err, errlen);
	if (!c)
		return -ENOMEM;
	if ((r = ctx_load_pair(c, opts->cert_file, opts->key_file, err, errlen)) < 0)
		goto fail;
	if (opts->client_ca_file) {
		STACK_OF(X509_NAME) * names;

		if ((r = check_readable(opts->client_ca_file, "client CA file", err, errlen)) < 0)
			goto fail;
		names = SSL_load_client_CA_file(opts->client_ca_file);
		if (!names || SSL_CTX_load_verify_locations(c, opts->client_ca_file, NULL) != 1) {
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			set_err(err, errlen, "%s: cannot load client CA certificates", opts->client_ca_file);
			r = -EINVAL;
			goto fail;
		}
		SSL_CTX_set_client_CA_list(c, names);
		SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	return ctx_wrap(c, true, ret_ctx);
fail:
	SSL_CTX_free(c);
	return r;
}

int scout_tls_ctx_client(const struct scout_tls_client_opts *opts, struct scout_tls_ctx **ret_ctx, char *err,
			 size_t errlen)
{
	static const struct scout_tls_client_opts none;
	SSL_CTX *c;
	int r;

	if (!opts)
		opts = &none;
	ERR_clear_error();
	c = ctx_new(false, err, errlen);
	if (!c)
		return -ENOMEM;
	if (opts->ca_file) {
		if ((r = check_readable(opts->ca_file, "CA file", err, errlen)) < 0)
			goto fail;
		if (SSL_CTX_load_verify_locations(c, opts->ca_file, NULL) != 1) {
			set_err(err, errlen, "%s: cannot load CA certificates", opts->ca_file);
			r = -EINVAL;
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(c) != 1) {
		set_err(err, errlen, "cannot load the system's CA certificates");
		r = -EINVAL;
		goto fail;
	}
	if (opts->cert_file || opts->key_file) {
		if (!opts->cert_file || !opts->key_file) {
			set_err(err, errlen, "a client certificate needs both cert_file and key_file");
			r = -EINVAL;
			goto fail;
		}
		if ((r = ctx_load_pair(c, opts->cert_file, opts->key_file, err, errlen)) < 0)
			goto fail;
	}
	SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
	return ctx_wrap(c, false, ret_ctx);
fail:
	SSL_CTX_free(c);
	return r;
}

void scout_tls_ctx_ref(struct scout_tls_ctx *ctx)
{
	ctx->refs++;
}

void scout_tls_ctx_unref(struct scout_tls_ctx *ctx)
{
	if (!ctx || --ctx->refs > 0)
		return;
	SSL_CTX_free(ctx->ssl);
	free(ctx);
}

/* ---- pins -------------------------------------------------------------- */

static int spki_pin(X509 *cert, uint8_t pin[SCOUT_TLS_PIN_LEN])
{
	unsigned char *der = NULL;
	unsigned int n = 0;
	int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);

	if (len <= 0)
		return -EINVAL;
	if (!EVP_Digest(der, (size_t)len, pin, &n, EVP_sha256(), NULL) || n != SCOUT_TLS_PIN_LEN) {
		OPENSSL_free(der);
		return -EINVAL;
	}
	OPENSSL_free(der);
	return 0;
}

void scout_tls_pin_format(const uint8_t pin[SCOUT_TLS_PIN_LEN], char out[SCOUT_TLS_PIN_HEX_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < SCOUT_TLS_PIN_LEN; i++) {
		out[2 * i] = hex[pin[i] >> 4];
		out[2 * i + 1] = hex[pin[i] & 15];
	}
	out[SCOUT_TLS_PIN_HEX_LEN] = '\0';
}

int scout_tls_pin_parse(const char *s, uint8_t ret_pin[SCOUT_TLS_PIN_LEN])
{
	uint8_t pin[SCOUT_TLS_PIN_LEN];
	size_t i = 0;

	if (!s)
		return -EINVAL;
	while (i < SCOUT_TLS_PIN_LEN) {
		int hi, lo;

		if (i > 0 && *s == ':')
			s++;
		hi = OPENSSL_hexchar2int((unsigned char)s[0]);
		lo = hi < 0 ? -1 : OPENSSL_hexchar2int((unsigned char)s[1]);
		if (lo < 0)
			return -EINVAL;
		pin[i++] = (uint8_t)(hi << 4 | lo);
		s += 2;
	}
	if (*s)
		return -EINVAL;
	memcpy(ret_pin, pin, sizeof(pin));
	return 0;
}

int scout_tls_pin_of_cert_file(const char *cert_file, uint8_t ret_pin[SCOUT_TLS_PIN_LEN], char *err, size_t errlen)
{
	FILE *f = fopen(cert_file, "r");
	X509 *x;
	int r;

	if (!f) {
		r = -errno;
		set_err(err, errlen, "%s: cannot open certificate: %s", cert_file, strerror(-r));
		return r;
	}
	ERR_clear_error();
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!x) {
		set_err(err, errlen, "%s: cannot load certificate", cert_file);
		return -EINVAL;
	}
	r = spki_pin(x, ret_pin);
	X509_free(x);
	if (r < 0)
		set_err(err, errlen, "%s: cannot encode the public key", cert_file);
	return r;
}

/* ---- connections ------------------------------------------------------- */

static void fail(struct scout_tls *t, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void on_written(uv_write_t *w, int status)
{
	struct tls_write *wr = (struct tls_write *)w;
	struct scout_tls *t = wr->t;

	t->queued -= wr->len;
	if (status < 0 && status != UV_ECANCELED && !t->failed)
		fail(t, status, "write: %s", uv_strerror(status));
	if (wr->cb)
		wr->cb(wr->arg, status);
	free(wr);
}

/* Moves what OpenSSL wrote into wbio onto the stream; cb rides on it. */
static int flush(struct scout_tls *t, scout_tls_write_cb cb, void *arg)
{
	size_t n = BIO_ctrl_pending(t->wbio);
	struct tls_write *wr;
	uv_buf_t buf;
	int r;

	if (n == 0) {
		if (cb)
			cb(arg, 0); /* nothing to wait for */
		return 0;
	}
	wr = malloc(sizeof(*wr) + n);
	if (!wr)
		return -ENOMEM;
	if (BIO_read(t->wbio, wr->data, (int)n) != (int)n) {
		free(wr);
		return -EIO;
	}
	wr->t = t;
	wr->len = n;
	wr->cb = cb;
	wr->arg = arg;
	buf = uv_buf_init(wr->data, (unsigned)n);
	r = uv_write(&wr->w, t->stream, &buf, 1, on_written);
	if (r < 0) {
		free(wr);
		return r;
	}
	t->queued += n;
	return 0;
}

static void fail(struct scout_tls *t, int err, const char *fmt, ...)
{
	char reason[SCOUT_TLS_ERR_LEN];
	va_list ap;

	if (t->failed)
		return;
	t->failed = true;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	append_ssl_errors(reason, sizeof(reason));
	/* An alert OpenSSL queued tells the peer why; send it if we can. */
	(void)flush(t, NULL, NULL);
	if (t->cbs->error)
		t->cbs->error(t, err, reason);
}

static void peer_info(struct scout_tls *t, struct scout_tls_peer *p)
{
	X509 *cert = SSL_get0_peer_certificate(t->ssl);

	memset(p, 0, sizeof(*p));
	p->version = SSL_get_version(t->ssl);
	p->cipher = SSL_get_cipher_name(t->ssl);
	if (cert && spki_pin(cert, p->pin) == 0) {
		BIO *b = BIO_new(BIO_s_mem());

		p->has_cert = true;
		p->chain_ok = SSL_get_verify_result(t->ssl) == X509_V_OK;
		if (b && X509_NAME_print_ex(b, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
			int n = BIO_read(b, p->subject, sizeof(p->subject) - 1);
			p->subject[n > 0 ? n : 0] = '\0';
		}
		BIO_free(b);
	}
	scout_tls_pin_format(p->pin, p->pin_hex);
}

static int handshake_done(struct scout_tls *t)
{
	struct scout_tls_peer peer;

	peer_info(t, &peer);
	if (t->client && t->copts.verify == SCOUT_TLS_PIN_REQUIRE &&
	    (!peer.has_cert || memcmp(peer.pin, t->copts.pin, SCOUT_TLS_PIN_LEN) != 0)) {
		char want[SCOUT_TLS_PIN_HEX_LEN + 1];

		scout_tls_pin_format(t->copts.pin, want);
		fail(t, -EPERM, "pin mismatch: the peer's key is %s, the pinned one %s", peer.pin_hex, want);
		return -EPERM;
	}
	t->hs_done = true;
	if (t->cbs->handshake)
		t->cbs->handshake(t, &peer);
	return 0;
}

static int verify_reason(struct scout_tls *t, char *buf, size_t len)
{
	long v = SSL_get_verify_result(t->ssl);

	if (v == X509_V_OK)
		return 0;
	return snprintf(buf, len, ": %s", X509_verify_cert_error_string(v));
}

static int ssl_failed(struct scout_tls *t, int ret, const char *what)
{
	int e = SSL_get_error(t->ssl, ret);
	char detail[160] = "";

	if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
		fail(t, -ECONNRESET, "%s: unexpected end of stream", what);
		return -ECONNRESET;
	}
	if (!t->hs_done)
		verify_reason(t, detail, sizeof(detail));
	fail(t, -EPROTO, "%s failed%s", what, detail);
	return -EPROTO;
}

static int do_handshake(struct scout_tls *t)
{
	int r, e;

	ERR_clear_error();
	r = SSL_do_handshake(t->ssl);
	if (r == 1) {
		if ((e = flush(t, NULL, NULL)) < 0) {
			fail(t, e, "write: %s", uv_strerror(e));
			return e;
		}
		return handshake_done(t);
	}
	e = SSL_get_error(t->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		if ((e = flush(t, NULL, NULL)) < 0) {
			fail(t, e, "write: %s", uv_strerror(e));
			return e;
		}
		return 0;
	}
	return ssl_failed(t, r, "TLS handshake");
}

static int drain(struct scout_tls *t)
{
	char buf[READ_CHUNK];
	int r = 0;

	if (t->draining)
		return 0; /* the loop below goes on after the callback returns */
	t->draining = true;
	while (!t->paused && !t->failed && !t->eof) {
		int n, e;

		ERR_clear_error();
		n = SSL_read(t->ssl, buf, sizeof(buf));
		if (n > 0) {
			t->cbs->read(t, buf, (size_t)n);
			continue;
		}
		e = SSL_get_error(t->ssl, n);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			break;
		if (e == SSL_ERROR_ZERO_RETURN) {
			t->eof = true;
			if (t->cbs->eof)
				t->cbs->eof(t);
			break;
		}
		r = ssl_failed(t, n, "TLS read");
		break;
	}
	t->draining = false;
	/* A key update or session ticket may have produced output. */
	if (!t->failed) {
		int e = flush(t, NULL, NULL);

		if (e < 0) {
			fail(t, e, "write: %s", uv_strerror(e));
			return e;
		}
	}
	return t->failed ? (r ? r : -EPIPE) : 0;
}

int scout_tls_feed(struct scout_tls *t, const char *data, size_t len)
{
	if (t->failed || t->eof)
		return -EPIPE;
	while (len > 0) {
		int chunk = len > INT32_MAX ? INT32_MAX : (int)len;
		int n = BIO_write(t->rbio, data, chunk);

		if (n <= 0) {
			fail(t, -ENOMEM, "cannot buffer %zu bytes", len);
			return -ENOMEM;
		}
		data += n;
		len -= (size_t)n;
	}
	if (!t->hs_done) {
		int r = do_handshake(t);

		if (r < 0 || !t->hs_done)
			return r;
	}
	return drain(t);
}

void scout_tls_pause(struct scout_tls *t)
{
	t->paused = true;
}

void scout_tls_resume(struct scout_tls *t)
{
	if (!t->paused)
		return;
	t->paused = false;
	if (t->hs_done && !t->draining)
		(void)drain(t);
}

int scout_tls_write(struct scout_tls *t, const void *data, size_t len, scout_tls_write_cb cb, void *arg)
{
	const char *p = data;
	int r;

	if (t->failed || t->shut)
		return -EPIPE;
	if (!t->hs_done)
		return -ENOTCONN;
	while (len > 0) {
		int chunk = len > (1 << 30) ? (1 << 30) : (int)len;
		int n;

		ERR_clear_error();
		n = SSL_write(t->ssl, p, chunk);
		if (n <= 0)
			return ssl_failed(t, n, "TLS write");
		p += n;
		len -= (size_t)n;
	}
	r = flush(t, cb, arg);
	if (r < 0)
		fail(t, r, "write: %s", uv_strerror(r));
	return r;
}

size_t scout_tls_write_queue_size(const struct scout_tls *t)
{
	return t->queued;
}

int scout_tls_shutdown(struct scout_tls *t, scout_tls_write_cb cb, void *arg)
{
	int r;

	if (t->failed || t->shut)
		return -EPIPE;
	t->shut = true;
	ERR_clear_error();
	if (SSL_shutdown(t->ssl) < 0) {
		/* Before the handshake finished there is nothing to close cleanly. */
		ERR_clear_error();
	}
	r = flush(t, cb, arg);
	if (r < 0)
		fail(t, r, "write: %s", uv_strerror(r));
	return r;
}

bool scout_tls_handshake_done(const struct scout_tls *t)
{
	return t->hs_done;
}

void *scout_tls_data(const struct scout_tls *t)
{
	return t->data;
}

static int tls_new(struct scout_tls_ctx *ctx, uv_stream_t *stream, const struct scout_tls_callbacks *cbs, void *data,
		   struct scout_tls **ret_tls)
{
	struct scout_tls *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->ssl = SSL_new(ctx->ssl);
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (!t->ssl || !t->rbio || !t->wbio) {
		SSL_free(t->ssl);
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		free(t);
		return -ENOMEM;
	}
	/* An empty rbio means "want more", not end of file. */
	BIO_set_mem_eof_return(t->rbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	t->ctx = ctx;
	ctx->refs++;
	t->stream = stream;
	t->cbs = cbs;
	t->data = data;
	*ret_tls = t;
	return 0;
}

int scout_tls_new_server(struct scout_tls_ctx *ctx, uv_stream_t *stream, const struct scout_tls_callbacks *cbs,
			 void *data, struct scout_tls **ret_tls)
{
	struct scout_tls *t;
	int r;

	if (!ctx->server)
		return -EINVAL;
	if ((r = tls_new(ctx, stream, cbs, data, &t)) < 0)
		return r;
	SSL_set_accept_state(t->ssl);
	*ret_tls = t;
	return 0;
}

static bool is_ip_literal(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

int scout_tls_new_client(struct scout_tls_ctx *ctx, const struct scout_tls_client_conn_opts *opts, uv_stream_t *stream,
			 const struct scout_tls_callbacks *cbs, void *data, struct scout_tls **ret_tls, char *err,
			 size_t errlen)
{
	const char *name = opts ? opts->server_name : NULL;
	bool chain = !opts || opts->verify == SCOUT_TLS_VERIFY_CHAIN || opts->pin_and_chain;
	struct scout_tls *t;
	int r;

	if (ctx->server) {
		set_err(err, errlen, "a server context cannot make a client connection");
		return -EINVAL;
	}
	if (chain && (!name || !*name)) {
		set_err(err, errlen, "verifying a server needs its name or address");
		return -EINVAL;
	}
	if ((r = tls_new(ctx, stream, cbs, data, &t)) < 0)
		return r;
	t->client = true;
	if (opts)
		t->copts = *opts;
	t->copts.server_name = NULL; /* not kept: the caller's string */
	ERR_clear_error();
	if (name && *name) {
		int ok = is_ip_literal(name) ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), name)
					     : SSL_set1_host(t->ssl, name) && SSL_set_tlsext_host_name(t->ssl, name);
		if (!ok) {
			set_err(err, errlen, "%s: cannot set the name to verify", name);
			scout_tls_free(t);
			return -EINVAL;
		}
	}
	/* Pins replace the chain: with VERIFY_NONE OpenSSL still checks the
	 * chain and the name and records the result (peer.chain_ok). */
	SSL_set_verify(t->ssl, chain ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
	SSL_set_connect_state(t->ssl);
	r = do_handshake(t); /* sends the ClientHello */
	if (r < 0) {
		set_err(err, errlen, "cannot start the TLS handshake");
		scout_tls_free(t);
		return r;
	}
	*ret_tls = t;
	return 0;
}

void scout_tls_free(struct scout_tls *t)
{
	if (!t)
		return;
	SSL_free(t->ssl);
	scout_tls_ctx_unref(t->ctx);
	free(t);
}

/* ---- certificates ------------------------------------------------------ */

struct cert_spec {
	const char *common_name;
	const char *const *alt_names;
	unsigned days;
	bool is_ca;
};

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&v3, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
	if (!ext)
		return -EINVAL;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -EINVAL;
}

/* subjectAltName built entry by entry: a name is never parsed as config
 * text, so a comma in it cannot add entries. */
static int add_alt_names(X509 *x, const char *const *names)
{
	GENERAL_NAMES *gens;
	int r = 0;

	if (!names || !names[0])
		return 0;
	gens = sk_GENERAL_NAME_new_null();
	if (!gens)
		return -ENOMEM;
	for (size_t i = 0; names[i] && r == 0; i++) {
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_OCTET_STRING *ip = is_ip_literal(names[i]) ? a2i_IPADDRESS(names[i]) : NULL;

		if (!g) {
			r = -ENOMEM;
			break;
		}
		if (ip) {
			GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
		} else {
			ASN1_IA5STRING *s = ASN1_IA5STRING_new();

			if (!s || !*names[i] || !ASN1_STRING_set(s, names[i], -1)) {
				ASN1_IA5STRING_free(s);
				GENERAL_NAME_free(g);
				r = -EINVAL;
				break;
			}
			GENERAL_NAME_set0_value(g, GEN_DNS, s);
		}
		if (!sk_GENERAL_NAME_push(gens, g)) {
			GENERAL_NAME_free(g);
			r = -ENOMEM;
		}
	}
	if (r == 0 && !X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT))
		r = -EINVAL;
	GENERAL_NAMES_free(gens);
	return r;
}

/* Makes a certificate for key, signed by issuer/issuer_key, or self-signed
 * when issuer is NULL. A small CA reuses it with is_ca and an issuer. */
static X509 *make_cert(const struct cert_spec *spec, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	BIGNUM *serial = BN_new();
	bool ok = x && name && serial;

	ok = ok && X509_set_version(x, X509_VERSION_3);
	/* 127 random bits: positive and unpredictable, as CAs must. */
	ok = ok && BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) &&
	     BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x));
	ok = ok && X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
	     X509_gmtime_adj(X509_getm_notAfter(x), (long)spec->days * 86400);
	ok = ok &&
	     X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)spec->common_name, -1, -1, 0);
	ok = ok && X509_set_subject_name(x, name) &&
	     X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
	ok = ok && X509_set_pubkey(x, key);
	if (!issuer) {
		issuer = x;
		issuer_key = key;
	}
	ok = ok &&
	     add_ext(x, issuer, NID_basic_constraints, spec->is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE") == 0;
	ok = ok &&
	     add_ext(x, issuer, NID_key_usage,
		     spec->is_ca ? "critical,keyCertSign,cRLSign,digitalSignature" : "critical,digitalSignature") == 0;
	ok = ok && (spec->is_ca || add_ext(x, issuer, NID_ext_key_usage, "serverAuth,clientAuth") == 0);
	ok = ok && add_ext(x, issuer, NID_subject_key_identifier, "hash") == 0;
	ok = ok && (issuer == x || add_ext(x, issuer, NID_authority_key_identifier, "keyid:always") == 0);
	ok = ok && add_alt_names(x, spec->alt_names) == 0;
	ok = ok && X509_sign(x, issuer_key, EVP_sha256()) > 0;
	BN_free(serial);
	X509_NAME_free(name);
	if (!ok) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* Writes path through a temporary file in the same directory, created with
 * mode, so a reader never sees half a key nor one readable by others. */
static int write_pem(const char *path, mode_t mode, X509 *x, EVP_PKEY *key, char *err, size_t errlen)
{
	size_t n = strlen(path);
	char *tmp = malloc(n + 8);
	FILE *f;
	int fd, r = 0;

	if (!tmp)
		return -ENOMEM;
	memcpy(tmp, path, n);
	memcpy(tmp + n, ".XXXXXX", 8);
	fd = mkstemp(tmp);
	if (fd < 0) {
		r = -errno;
		set_err(err, errlen, "%s: cannot create: %s", path, strerror(-r));
		free(tmp);
		return r;
	}
	if (fchmod(fd, mode) < 0 || !(f = fdopen(fd, "w"))) {
		r = -errno;
		close(fd);
		goto fail;
	}
	if (!(x ? PEM_write_X509(f, x) : PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL)) || fflush(f) != 0 ||
	    fsync(fileno(f)) < 0) {
		r = errno ? -errno : -EIO;
		fclose(f);
		goto fail;
	}
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		r = -errno;
		goto fail;
	}
	free(tmp);
	return 0;
fail:
	set_err(err, errlen, "%s: cannot write: %s", path, strerror(-r));
	unlink(tmp);
	free(tmp);
	return r;
}

int scout_tls_selfsigned_write(const char *cert_file, const char *key_file, const char *common_name,
			       const char *const *alt_names, unsigned days, char *err, size_t errlen)
{
	struct cert_spec spec = {.common_name = common_name, .alt_names = alt_names, .days = days ? days : 3650};
	EVP_PKEY *key;
	X509 *x;
	int r;

	if (!cert_file || !key_file || !common_name || !*common_name) {
		set_err(err, errlen, "a certificate needs files and a common name");
		return -EINVAL;
	}
	ERR_clear_error();
	key = EVP_EC_gen("P-256");
	if (!key) {
		set_err(err, errlen, "cannot generate a P-256 key");
		return -ENOMEM;
	}
	x = make_cert(&spec, key, NULL, NULL);
	if (!x) {
		set_err(err, errlen, "%s: cannot make a certificate for %s", cert_file, common_name);
		EVP_PKEY_free(key);
		return -EINVAL;
	}
	/* The key first: a certificate whose key is missing is of no use. */
	r = write_pem(key_file, 0600, NULL, key, err, errlen);
	if (r == 0)
		r = write_pem(cert_file, 0644, x, NULL, err, errlen);
	X509_free(x);
	EVP_PKEY_free(key);
	return r;
}
