/* TLS for modules that talk to printers, MFPs and the cloud: OpenSSL 3
 * behind a small API, non-blocking over a libuv stream with memory BIOs.
 *
 * Use it when a module needs TLS on a TCP connection it drives from the
 * loop: make one context per configuration (scout_tls_ctx_server() from a
 * certificate and key file, scout_tls_ctx_client() from a CA file or the
 * system store), then one scout_tls per connection. The caller owns the
 * uv stream and reads it; it feeds what it reads to scout_tls_feed() and gets
 * plaintext back through the read callback, while ciphertext goes out with
 * uv_write on the same stream. Only TLS 1.2 and 1.3 with ECDHE key exchange
 * and AEAD ciphers (AES-GCM, ChaCha20-Poly1305) are offered or accepted.
 * Clients verify the chain and the host name or IP, or pin the peer's key by
 * the SHA-256 of its SubjectPublicKeyInfo: "pin on first use" accepts any key
 * and reports the pin to store, "require" accepts only the given one. Every
 * failure comes with a reason string naming the file or the check and
 * OpenSSL's own error queue. src/loop/http.c is the usual user; modules that
 * speak HTTP(S) should use it rather than this directly. No OpenSSL type
 * appears here. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define SCOUT_TLS_PIN_LEN 32 /* SHA-256 of the peer's SubjectPublicKeyInfo */
#define SCOUT_TLS_PIN_HEX_LEN 64
#define SCOUT_TLS_ERR_LEN 512 /* a buffer this long holds any reason */

struct scout_tls_ctx;
struct scout_tls;

struct scout_tls_server_opts {
	const char *cert_file;      /* PEM: the certificate, then its chain */
	const char *key_file;       /* PEM private key matching it */
	const char *client_ca_file; /* NULL: no client certificate asked for; else required and
				     * verified against this PEM bundle */
};

struct scout_tls_client_opts {
	const char *ca_file;   /* PEM bundle to verify servers with; NULL: the system store */
	const char *cert_file; /* optional client certificate (with key_file) */
	const char *key_file;
};

/* Contexts are shared by any number of connections and freed when the last
 * of them and the caller's reference are gone. On failure err says which
 * file and why ("cert.pem: cannot load certificate: no start line"). */
int scout_tls_ctx_server(const struct scout_tls_server_opts *opts, struct scout_tls_ctx **ret_ctx, char *err,
			 size_t errlen);
int scout_tls_ctx_client(const struct scout_tls_client_opts *opts, struct scout_tls_ctx **ret_ctx, char *err,
			 size_t errlen);
void scout_tls_ctx_ref(struct scout_tls_ctx *ctx);
void scout_tls_ctx_unref(struct scout_tls_ctx *ctx);

enum scout_tls_verify {
	SCOUT_TLS_VERIFY_CHAIN = 0, /* chain to the CA file or store, and the name (the default) */
	SCOUT_TLS_PIN_FIRST_USE,    /* any certificate; the handshake reports the pin to store */
	SCOUT_TLS_PIN_REQUIRE,      /* only a certificate whose key has exactly .pin */
};

/* Per-connection options of a client. */
struct scout_tls_client_conn_opts {
	const char *server_name; /* host name or IP literal checked against the certificate
				  * (VERIFY_CHAIN) and sent as SNI when it is a name; may be NULL
				  * only with a PIN mode */
	enum scout_tls_verify verify;
	uint8_t pin[SCOUT_TLS_PIN_LEN]; /* for PIN_REQUIRE */
	bool pin_and_chain;             /* PIN modes: also require the chain and the name */
};

/* What the handshake found out about the peer; borrowed during the
 * handshake callback. */
struct scout_tls_peer {
	uint8_t pin[SCOUT_TLS_PIN_LEN]; /* SHA-256 of the peer's SPKI (zero without a certificate) */
	char pin_hex[SCOUT_TLS_PIN_HEX_LEN + 1];
	char subject[256]; /* one-line RFC 2253 subject, "" without a certificate */
	bool has_cert;
	bool chain_ok;       /* the chain verified against the CA file or store */
	const char *version; /* "TLSv1.3" */
	const char *cipher;  /* "TLS_AES_256_GCM_SHA384" */
};

struct scout_tls_callbacks {
	/* The handshake finished and the peer passed every check asked for. */
	void (*handshake)(struct scout_tls *t, const struct scout_tls_peer *peer);
	/* Plaintext from the peer, borrowed until the callback returns. */
	void (*read)(struct scout_tls *t, const char *data, size_t len);
	/* The peer closed the TLS session cleanly (close_notify). */
	void (*eof)(struct scout_tls *t);
	/* A fatal error (handshake, verification, pin, a bad record, a write
	 * failure); reason is formatted for a log line. The connection sends and
	 * delivers nothing more; the caller closes the stream, then frees t.
	 * Called at most once. */
	void (*error)(struct scout_tls *t, int err, const char *reason);
};

/* stream is borrowed: it must outlive t, and t must be freed only after
 * the stream's close callback (pending writes complete, as cancelled, before
 * it). cbs is borrowed for t's lifetime. A client starts the handshake at
 * once; a server waits for the client's hello. */
int scout_tls_new_server(struct scout_tls_ctx *ctx, uv_stream_t *stream, const struct scout_tls_callbacks *cbs,
			 void *data, struct scout_tls **ret_tls);
int scout_tls_new_client(struct scout_tls_ctx *ctx, const struct scout_tls_client_conn_opts *opts, uv_stream_t *stream,
			 const struct scout_tls_callbacks *cbs, void *data, struct scout_tls **ret_tls, char *err,
			 size_t errlen);
void scout_tls_free(struct scout_tls *t);
void *scout_tls_data(const struct scout_tls *t);

/* Hands ciphertext read from the stream to TLS; callbacks may run inside.
 * Returns 0, or a negative errno after the error callback has run (and
 * -EPIPE for any feed after that). */
int scout_tls_feed(struct scout_tls *t, const char *data, size_t len);

/* While paused, ciphertext fed is kept but no plaintext is delivered; a
 * caller that also stops reading the stream holds at most what it had
 * already read. resume may be called from within the read callback. */
void scout_tls_pause(struct scout_tls *t);
void scout_tls_resume(struct scout_tls *t);

typedef void (*scout_tls_write_cb)(void *arg, int status);
/* Encrypts data now (it is not kept) and queues the ciphertext; cb, if not
 * NULL, runs with 0 once it has been written to the stream, or with a
 * negative errno. Only after the handshake (-ENOTCONN before, -EPIPE after
 * an error or shutdown). */
int scout_tls_write(struct scout_tls *t, const void *data, size_t len, scout_tls_write_cb cb, void *arg);
/* Ciphertext bytes queued on the stream and not yet written: back-pressure. */
size_t scout_tls_write_queue_size(const struct scout_tls *t);
/* Sends close_notify; cb (may be NULL) runs once it is written. The caller
 * closes the stream after. */
int scout_tls_shutdown(struct scout_tls *t, scout_tls_write_cb cb, void *arg);
bool scout_tls_handshake_done(const struct scout_tls *t);

/* "ab12..." (64 lowercase hex digits) <-> bytes. parse accepts upper case
 * and colons between bytes; -EINVAL otherwise. */
void scout_tls_pin_format(const uint8_t pin[SCOUT_TLS_PIN_LEN], char out[SCOUT_TLS_PIN_HEX_LEN + 1]);
int scout_tls_pin_parse(const char *s, uint8_t ret_pin[SCOUT_TLS_PIN_LEN]);
/* The pin of the first certificate in a PEM file (to compare with a peer's). */
int scout_tls_pin_of_cert_file(const char *cert_file, uint8_t ret_pin[SCOUT_TLS_PIN_LEN], char *err, size_t errlen);

/* Writes a new self-signed ECDSA P-256 certificate and its key: key_file
 * mode 0600, cert_file 0644, each written to a temporary file and renamed in
 * place. common_name is the subject CN; alt_names (NULL-terminated, may be
 * NULL) become DNS or IP subjectAltNames. Valid from an hour ago for days.
 * For "the first start generates its own certificate" (ipp, mfp). Blocking
 * file I/O: call it at start-up or through a work job. */
int scout_tls_selfsigned_write(const char *cert_file, const char *key_file, const char *common_name,
			       const char *const *alt_names, unsigned days, char *err, size_t errlen);
