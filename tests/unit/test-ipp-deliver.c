/* Unit tests for the deliverer's pieces that do not need a vault:
 * what a printer's Get-Printer-Attributes answer says (ipp_caps_from_response),
 * format negotiation (ipp_format_choose), the job-id / job-state /
 * status-message readers, and ippc, the IPP client, against an in-process
 * printer on the http seam: Content-Length is the IPP header plus the
 * document, the document arrives byte for byte while no more than the
 * high-water mark waits in memory, a busy answer is decoded, a TLS key
 * other than the pinned one fails before anything is sent (-EKEYREJECTED,
 * with the key shown), the right pin goes through, and a closed port
 * fails without having connected. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "loop-wait.h"
#include "loop/http.h"
#include "loop/tls.h"
#include "modules/ipp/codec.h"
#include "modules/ipp/deliver.h"
#include "modules/ipp/ipp.h"
#include "modules/ipp/ippc.h"

/* ---- pure readers ---- */

static uint8_t *finish_copy(struct ipp_writer *w, size_t *len)
{
	assert_int_equal(ipp_w_finish(w), 0);
	uint8_t *p = malloc(w->len);
	assert_non_null(p);
	memcpy(p, w->p, w->len);
	*len = w->len;
	ipp_w_free(w);
	return p;
}

static void printer_answer(struct ipp_writer *w, uint16_t status)
{
	static const char *const formats[] = {"application/pdf", "image/pwg-raster", "image/urf"};
	static const char *const sides[] = {"one-sided", "two-sided-long-edge", "two-sided-short-edge"};
	static const char *const modes[] = {"monochrome", "color"};

	ipp_w_init(w, 2, 0, status, 1);
	ipp_w_group(w, IPP_TAG_OPERATION);
	ipp_w_str(w, IPP_TAG_CHARSET, "attributes-charset", "utf-8");
	ipp_w_str(w, IPP_TAG_LANGUAGE, "attributes-natural-language", "en");
	ipp_w_group(w, IPP_TAG_PRINTER);
	ipp_w_strs(w, IPP_TAG_MIMETYPE, "document-format-supported", formats, 3);
	ipp_w_strs(w, IPP_TAG_KEYWORD, "sides-supported", sides, 3);
	ipp_w_strs(w, IPP_TAG_KEYWORD, "print-color-mode-supported", modes, 2);
	ipp_w_range(w, "copies-supported", 1, 99);
	ipp_w_str(w, IPP_TAG_TEXT, "printer-make-and-model", "Example\tLaser 9");
	ipp_w_str(w, IPP_TAG_URI, "printer-uuid", "urn:uuid:12345678-1234-1234-1234-123456789abc");
	ipp_w_str(w, IPP_TAG_TEXT, "printer-device-id", "MFG:Example;MDL:Laser 9;SN:ABC123;CMD:PDF;");
}

static void test_caps(void **state)
{
	struct ipp_writer w;
	struct ipp_msg m;
	struct ipp_caps caps;
	char err[IPP_ERR_LEN];
	size_t len;

	(void)state;
	printer_answer(&w, 0);
	uint8_t *p = finish_copy(&w, &len);
	assert_int_equal(ipp_decode(p, len, &m, err, sizeof(err)), 0);
	assert_int_equal(ipp_caps_from_response(&m, &caps), 0);
	assert_int_equal(caps.nformats, 3);
	assert_string_equal(caps.formats[1], "image/pwg-raster");
	assert_true(caps.sides_duplex);
	assert_true(caps.color);
	assert_int_equal(caps.copies_max, 99);
	assert_string_equal(caps.make_model, "Example Laser 9"); /* no control characters */
	assert_string_equal(caps.serial, "ABC123");
	assert_string_equal(caps.uuid, "urn:uuid:12345678-1234-1234-1234-123456789abc");
	/* negotiation: as is when listed, else nothing (no garbage printing) */
	assert_string_equal(ipp_format_choose(&caps, "application/pdf"), "application/pdf");
	assert_string_equal(ipp_format_choose(&caps, "image/urf"), "image/urf");
	assert_null(ipp_format_choose(&caps, "application/postscript"));
	assert_null(ipp_format_choose(&caps, "application/octet-stream"));
	assert_null(ipp_format_choose(&caps, ""));
	ipp_msg_free(&m);
	free(p);

	/* an error answer says nothing about the printer */
	printer_answer(&w, IPP_NOT_FOUND);
	p = finish_copy(&w, &len);
	assert_int_equal(ipp_decode(p, len, &m, err, sizeof(err)), 0);
	assert_int_equal(ipp_caps_from_response(&m, &caps), -EBADMSG);
	ipp_msg_free(&m);
	free(p);

	/* a monochrome simplex printer with no copies-supported */
	ipp_w_init(&w, 2, 0, 0, 1);
	ipp_w_group(&w, IPP_TAG_PRINTER);
	ipp_w_str(&w, IPP_TAG_KEYWORD, "sides-supported", "one-sided");
	ipp_w_bool(&w, "color-supported", false);
	ipp_w_str(&w, IPP_TAG_KEYWORD, "document-format-supported", "application/pdf"); /* wrong tag: ignored */
	p = finish_copy(&w, &len);
	assert_int_equal(ipp_decode(p, len, &m, err, sizeof(err)), 0);
	assert_int_equal(ipp_caps_from_response(&m, &caps), 0);
	assert_false(caps.sides_duplex);
	assert_false(caps.color);
	assert_int_equal(caps.copies_max, 0);
	assert_int_equal(caps.nformats, 0);
	ipp_msg_free(&m);
	free(p);
}

static void test_job_readers(void **state)
{
	struct ipp_writer w;
	struct ipp_msg m;
	char err[IPP_ERR_LEN], msg[64];
	size_t len;

	(void)state;
	ipp_w_init(&w, 2, 0, 0, 7);
	ipp_w_group(&w, IPP_TAG_OPERATION);
	ipp_w_str(&w, IPP_TAG_TEXT, "status-message", "ok\r\nfake: line");
	ipp_w_group(&w, IPP_TAG_JOB);
	ipp_w_int(&w, IPP_TAG_INTEGER, "job-id", 42);
	ipp_w_int(&w, IPP_TAG_ENUM, "job-state", IPPC_JOB_COMPLETED);
	uint8_t *p = finish_copy(&w, &len);
	assert_int_equal(ipp_decode(p, len, &m, err, sizeof(err)), 0);
	assert_int_equal(ippc_job_id(&m), 42);
	assert_int_equal(ippc_job_state(&m), IPPC_JOB_COMPLETED);
	ippc_status_message(&m, msg, sizeof(msg));
	assert_string_equal(msg, "ok  fake: line");
	ipp_msg_free(&m);
	free(p);

	/* out of range, wrong types, absent */
	ipp_w_init(&w, 2, 0, 0, 7);
	ipp_w_group(&w, IPP_TAG_JOB);
	ipp_w_int(&w, IPP_TAG_INTEGER, "job-id", -5);
	ipp_w_int(&w, IPP_TAG_ENUM, "job-state", 12);
	p = finish_copy(&w, &len);
	assert_int_equal(ipp_decode(p, len, &m, err, sizeof(err)), 0);
	assert_int_equal(ippc_job_id(&m), -1);
	assert_int_equal(ippc_job_state(&m), -1);
	ippc_status_message(&m, msg, sizeof(msg));
	assert_string_equal(msg, "");
	ipp_msg_free(&m);
	free(p);
}

/* ---- ippc against an in-process printer ---- */

struct fake {
	uv_loop_t loop;
	uv_timer_t timer;
	struct scout_http_server *srv;
	uint16_t answer; /* IPP status to answer */
	int64_t content_length;
	uint8_t *body;
	size_t body_len;
	int requests;
	/* the client side */
	struct ippc *c;
	const uint8_t *doc;
	size_t doc_len, doc_off;
	size_t max_queued;
	bool done;
	int status;
	uint16_t code;
	int32_t job_id;
	bool connected, have_pin;
	uint8_t pin[32];
};

static void srv_request(struct scout_http_req *req, void *arg)
{
	struct fake *f = arg;

	f->requests++;
	f->content_length = scout_http_content_length(req);
	scout_http_set_max_body(req, 64 << 20);
}

static void srv_body(struct scout_http_req *req, const char *data, size_t len, void *arg)
{
	struct fake *f = arg;

	(void)req;
	f->body = realloc(f->body, f->body_len + len);
	assert_non_null(f->body);
	memcpy(f->body + f->body_len, data, len);
	f->body_len += len;
}

static void srv_end(struct scout_http_req *req, void *arg)
{
	struct fake *f = arg;
	struct ipp_writer w;
	struct scout_http_header h[] = {{"Content-Type", "application/ipp"}};

	ipp_w_init(&w, 2, 0, f->answer, 1);
	ipp_w_group(&w, IPP_TAG_OPERATION);
	ipp_w_str(&w, IPP_TAG_CHARSET, "attributes-charset", "utf-8");
	ipp_w_str(&w, IPP_TAG_LANGUAGE, "attributes-natural-language", "en");
	if (f->answer == 0) {
		ipp_w_group(&w, IPP_TAG_JOB);
		ipp_w_int(&w, IPP_TAG_INTEGER, "job-id", 42);
		ipp_w_int(&w, IPP_TAG_ENUM, "job-state", IPPC_JOB_PENDING);
	}
	assert_int_equal(ipp_w_finish(&w), 0);
	scout_http_respond(req, 200, h, 1, w.p, w.len);
	ipp_w_free(&w);
}

static void srv_abort(struct scout_http_req *req, void *arg)
{
	(void)req, (void)arg;
}

static const struct scout_http_handler srv_handler = {.on_request = srv_request,
						      .on_body = srv_body,
						      .on_end = srv_end,
						      .on_abort = srv_abort};

static void fake_start(struct fake *f, struct scout_tls_ctx *tls)
{
	char err[256];

	memset(f, 0, sizeof(*f));
	assert_int_equal(uv_loop_init(&f->loop), 0);
	uv_timer_init(&f->loop, &f->timer);
	struct scout_http_server_opts o =
		{.host = "127.0.0.1", .port = 0, .tls = tls, .handler = &srv_handler, .arg = f, .name = "fake-printer"};
	assert_int_equal(scout_http_server_new(&f->loop, &o, &f->srv, err, sizeof(err)), 0);
}

static void closed(void *arg)
{
	*(bool *)arg = true;
}

static void fake_stop(struct fake *f)
{
	bool done = false;

	ippc_free(f->c);
	scout_http_server_close(f->srv, closed, &done);
	LOOP_WAIT_FOR(&f->loop, &f->timer, done, 10);
	uv_close((uv_handle_t *)&f->timer, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f->body);
}

static void cli_writable(struct ippc *c, void *arg)
{
	struct fake *f = arg;

	while (f->doc_off < f->doc_len) {
		size_t n = f->doc_len - f->doc_off < 65536 ? f->doc_len - f->doc_off : 65536;
		int r = ippc_write(c, f->doc + f->doc_off, n);
		if (r == -ENOBUFS)
			return;
		assert_int_equal(r, 0);
		f->doc_off += n;
		if (ippc_queued(c) > f->max_queued)
			f->max_queued = ippc_queued(c);
	}
}

static void cli_done(struct ippc *c, int status, const struct ipp_msg *m, const char *why, void *arg)
{
	struct fake *f = arg;

	f->done = true;
	f->status = status;
	f->connected = ippc_connected(c);
	f->have_pin = ippc_peer_pin(c, f->pin);
	if (status == 0) {
		f->code = m->code;
		f->job_id = ippc_job_id(m);
	} else {
		assert_non_null(why);
		assert_true(why[0] != 0);
	}
}

static const struct ippc_cbs cli_cbs = {.on_writable = cli_writable, .on_done = cli_done};

static void print_job(struct fake *f, struct scout_tls_ctx *tls, const uint8_t *pin, const uint8_t *doc, size_t len,
		      size_t *hdr_len)
{
	struct ipp_writer w;
	char err[256];

	ipp_w_init(&w, 2, 0, IPP_OP_PRINT_JOB, 1);
	ipp_w_group(&w, IPP_TAG_OPERATION);
	ipp_w_str(&w, IPP_TAG_CHARSET, "attributes-charset", "utf-8");
	ipp_w_str(&w, IPP_TAG_LANGUAGE, "attributes-natural-language", "en");
	ipp_w_str(&w, IPP_TAG_URI, "printer-uri", "ipp://127.0.0.1/ipp/print");
	assert_int_equal(ipp_w_finish(&w), 0);
	*hdr_len = w.len;
	f->doc = doc;
	f->doc_len = len;
	f->doc_off = 0;
	struct ippc_opts o = {.host = "127.0.0.1",
			      .port = scout_http_server_port(f->srv),
			      .path = "/ipp/print",
			      .tls_ctx = tls,
			      .pin = pin,
			      .timeout_ms = 10000};
	assert_int_equal(ippc_start(&f->loop, &o, w.p, w.len, len, &cli_cbs, f, &f->c, err, sizeof(err)), 0);
	ipp_w_free(&w);
	LOOP_WAIT_FOR(&f->loop, &f->timer, f->done, 30);
}

static uint8_t *make_doc(size_t len)
{
	uint8_t *d = malloc(len);

	assert_non_null(d);
	for (size_t i = 0; i < len; i++)
		d[i] = (uint8_t)(i * 7 + (i >> 16));
	return d;
}

static void test_ippc_streams(void **state)
{
	struct fake f;
	size_t len = 3 * 1024 * 1024 + 123, hdr;
	uint8_t *doc = make_doc(len);

	(void)state;
	fake_start(&f, NULL);
	print_job(&f, NULL, NULL, doc, len, &hdr);
	assert_int_equal(f.status, 0);
	assert_int_equal(f.code, 0);
	assert_int_equal(f.job_id, 42);
	assert_int_equal(f.content_length, (int64_t)(hdr + len));
	assert_int_equal(f.body_len, hdr + len);
	assert_memory_equal(f.body + hdr, doc, len);
	/* what waited for the socket stayed bounded */
	assert_true(f.max_queued <= IPPC_HIGH_WATER + 65536 + 1024);
	assert_true(f.connected);
	assert_false(f.have_pin); /* plain */
	fake_stop(&f);

	/* busy: decoded, for the deliverer to retry */
	fake_start(&f, NULL);
	f.answer = IPP_BUSY;
	print_job(&f, NULL, NULL, doc, 1000, &hdr);
	assert_int_equal(f.status, 0);
	assert_int_equal(f.code, IPP_BUSY);
	assert_int_equal(f.job_id, -1);
	fake_stop(&f);
	free(doc);
}

static void test_ippc_unreachable(void **state)
{
	struct fake f;
	size_t hdr;
	uint8_t doc[10] = {0};

	(void)state;
	fake_start(&f, NULL);
	int port = scout_http_server_port(f.srv);
	bool done = false;
	scout_http_server_close(f.srv, closed, &done);
	LOOP_WAIT_FOR(&f.loop, &f.timer, done, 10);
	/* nothing listens on that port now */
	struct scout_http_server_opts o = {.host = "127.0.0.1", .port = -1, .handler = &srv_handler, .arg = &f};
	char err[256];
	assert_int_equal(scout_http_server_new(&f.loop, &o, &f.srv, err, sizeof(err)), 0);
	struct ippc_opts co = {.host = "127.0.0.1", .port = port, .path = "/", .timeout_ms = 5000};
	struct ipp_writer w;
	ipp_w_init(&w, 2, 0, IPP_OP_PRINT_JOB, 1);
	assert_int_equal(ipp_w_finish(&w), 0);
	f.doc = doc;
	f.doc_len = sizeof(doc);
	assert_int_equal(ippc_start(&f.loop, &co, w.p, w.len, sizeof(doc), &cli_cbs, &f, &f.c, err, sizeof(err)), 0);
	ipp_w_free(&w);
	LOOP_WAIT_FOR(&f.loop, &f.timer, f.done, 30);
	assert_true(f.status < 0);
	assert_false(f.connected);
	(void)hdr;
	fake_stop(&f);
}

static void test_ippc_pin(void **state)
{
	char dir[] = "/tmp/test-ipp-deliver-XXXXXX", cert[128], key[128], err[512];
	struct scout_tls_ctx *sctx, *cctx;
	uint8_t pin[32], wrong[32] = {1};
	struct fake f;
	size_t hdr;
	uint8_t doc[100];

	(void)state;
	memset(doc, 'x', sizeof(doc));
	assert_non_null(mkdtemp(dir));
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	const char *const alt[] = {"127.0.0.1", NULL};
	assert_int_equal(scout_tls_selfsigned_write(cert, key, "printer", alt, 1, err, sizeof(err)), 0);
	assert_int_equal(scout_tls_pin_of_cert_file(cert, pin, err, sizeof(err)), 0);
	struct scout_tls_server_opts so = {.cert_file = cert, .key_file = key};
	assert_int_equal(scout_tls_ctx_server(&so, &sctx, err, sizeof(err)), 0);
	struct scout_tls_client_opts co = {0};
	assert_int_equal(scout_tls_ctx_client(&co, &cctx, err, sizeof(err)), 0);

	/* another key than the pinned one: refused before the request */
	fake_start(&f, sctx);
	print_job(&f, cctx, wrong, doc, sizeof(doc), &hdr);
	assert_int_equal(f.status, -EKEYREJECTED);
	assert_true(f.have_pin);
	assert_memory_equal(f.pin, pin, 32); /* the new key, for the alert */
	loop_run_for(&f.loop, &f.timer, 50);
	assert_int_equal(f.requests, 0);
	fake_stop(&f);

	/* the pinned key: printed */
	fake_start(&f, sctx);
	print_job(&f, cctx, pin, doc, sizeof(doc), &hdr);
	assert_int_equal(f.status, 0);
	assert_int_equal(f.job_id, 42);
	assert_int_equal(f.body_len, hdr + sizeof(doc));
	fake_stop(&f);

	/* first use: any key, reported */
	fake_start(&f, sctx);
	print_job(&f, cctx, NULL, doc, sizeof(doc), &hdr);
	assert_int_equal(f.status, 0);
	assert_true(f.have_pin);
	assert_memory_equal(f.pin, pin, 32);
	fake_stop(&f);

	scout_tls_ctx_unref(sctx);
	scout_tls_ctx_unref(cctx);
	unlink(cert);
	unlink(key);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_caps),         cmocka_unit_test(test_job_readers),
		cmocka_unit_test(test_ippc_streams), cmocka_unit_test(test_ippc_unreachable),
		cmocka_unit_test(test_ippc_pin),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
