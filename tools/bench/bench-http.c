/* bench-http: scout's HTTP/1.1 server (src/loop/http.c) answering every
 * request with one small fixed response, for tools/bench/http to load with
 * wrk next to nginx serving the same bytes.
 *
 *   bench-http --port N [--host 127.0.0.1] [--body-file F] [--max-conns N]
 *
 * The response mirrors what nginx sends for `return 200 "..."` with
 * `default_type text/plain` and `server_tokens off`: Server, Date (formatted
 * once per second, as nginx caches it), Content-Type, Content-Length and,
 * for keep-alive clients, Connection: keep-alive; so both servers put the
 * same number of bytes on the wire. The body is read from --body-file (the
 * file tools/bench/http also hands nginx) or is "Hello, world!\n". Plain
 * HTTP, one loop thread, the server's default limits except the connection
 * cap. Prints "listening PORT" on stdout when ready; SIGTERM or SIGINT stop
 * it cleanly, printing the requests served. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "loop/http.h"
#include "loop/log.h"

static char body[65536] = "Hello, world!\n";
static size_t body_len = 14;
static char date[64];
static time_t date_at;
static uint64_t served;

static const char *http_date(void)
{
	time_t now = time(NULL);

	if (now != date_at) {
		struct tm tm;
		gmtime_r(&now, &tm);
		strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		date_at = now;
	}
	return date;
}

static void on_request(struct scout_http_req *req, void *arg)
{
	const char *conn = scout_http_header(req, "Connection");
	struct scout_http_header h[] = {
		{"Server", "scout"},
		{"Date", http_date()},
		{"Content-Type", "text/plain"},
		{"Connection", "keep-alive"},
	};
	/* like nginx: "keep-alive" only when the connection stays open */
	size_t n = conn && !strcasecmp(conn, "close") ? 3 : 4;

	(void)arg;
	if (scout_http_respond(req, 200, h, n, body, body_len) == 0)
		served++;
}

static void on_body(struct scout_http_req *req, const char *data, size_t len, void *arg)
{
	(void)req, (void)data, (void)len, (void)arg;
}

static void on_end(struct scout_http_req *req, void *arg)
{
	(void)req, (void)arg;
}

static void on_abort(struct scout_http_req *req, void *arg)
{
	(void)req, (void)arg;
}

static const struct scout_http_handler handler = {on_request, on_body, on_end, on_abort};

static struct scout_http_server *server;
static uv_signal_t sig_term, sig_int;

static void on_closed(void *arg)
{
	(void)arg;
	uv_close((uv_handle_t *)&sig_term, NULL);
	uv_close((uv_handle_t *)&sig_int, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
	(void)h, (void)signum;
	if (server) {
		scout_http_server_close(server, on_closed, NULL);
		server = NULL;
	}
}

static int read_body(const char *path)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		return -errno;
	n = fread(body, 1, sizeof(body), f);
	if (ferror(f) || !feof(f)) {
		fclose(f);
		return -EFBIG;
	}
	fclose(f);
	body_len = n;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"port", required_argument, NULL, 'p'},      {"host", required_argument, NULL, 'H'},
		{"body-file", required_argument, NULL, 'b'}, {"max-conns", required_argument, NULL, 'm'},
		{0},
	};
	struct scout_http_server_opts o = {.host = "127.0.0.1", .handler = &handler, .name = "bench"};
	uv_loop_t *loop = uv_default_loop();
	char err[256] = "";
	int c, r;

	o.limits.max_conns = 1024;
	while ((c = getopt_long(argc, argv, "p:H:b:m:", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			o.port = atoi(optarg);
			break;
		case 'H':
			o.host = optarg;
			break;
		case 'b':
			if ((r = read_body(optarg)) < 0) {
				fprintf(stderr, "bench-http: %s: %s\n", optarg, strerror(-r));
				return 2;
			}
			break;
		case 'm':
			o.limits.max_conns = (unsigned)atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: bench-http --port N [--host ADDR] [--body-file F] [--max-conns N]\n");
			return 2;
		}
	}
	scout_log_set_level(SCOUT_LOG_WARN);
	if ((r = scout_http_server_new(loop, &o, &server, err, sizeof(err))) != 0) {
		fprintf(stderr, "bench-http: %s: %s\n", err, strerror(-r));
		return 1;
	}
	uv_signal_init(loop, &sig_term);
	uv_signal_init(loop, &sig_int);
	uv_signal_start(&sig_term, on_signal, SIGTERM);
	uv_signal_start(&sig_int, on_signal, SIGINT);
	printf("listening %d\n", scout_http_server_port(server));
	fflush(stdout);
	uv_run(loop, UV_RUN_DEFAULT);
	printf("served %" PRIu64 "\n", served);
	return uv_loop_close(loop) == 0 ? 0 : 1;
}
