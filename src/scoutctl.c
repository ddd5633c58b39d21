/* scoutctl: the operator's client of scoutd's status socket. Sends one
 * newline-delimited JSON request, reads one reply line and renders it for
 * people (aligned tables, every string escaped for the terminal) or, with
 * --json, prints it for machines.
 * Exit codes: 0 success, 1 error reply or output not written in full,
 * 2 cannot connect or usage. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <locale.h>
#include <poll.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#define DEFAULT_SOCKET "./var/scoutd.sock"
#define SYSTEM_SOCKET "/run/scout/scoutd.sock"
#define MAX_REPLY (64u << 20)
#define TIMEOUT_MS 60000
#define NO_TIMEOUT -1

static void usage(FILE *out)
{
	fprintf(out, "Usage: scoutctl [-s SOCKET] COMMAND [--json]\n"
		     "\n"
		     "Commands:\n"
		     "  status [--json]   agent, modules, bus, store and last reload\n"
		     "  metrics           the same counters as Prometheus text\n"
		     "  reload            re-read the configuration (like SIGHUP) and show the result\n"
		     "  version           the agent's version\n"
		     "  scan [--wait] [--force]\n"
		     "                    sweep the snmp ranges now; --wait prints the result when done,\n"
		     "                    --force sweeps even outside the configured windows\n"
		     "  devices [--json] [--all]\n"
		     "                    the printers found (--all: other hosts that answered too)\n"
		     "  device IP|SERIAL [--json]\n"
		     "                    one printer with its supplies and meter history\n"
		     "\n"
		     "  -s, --socket PATH  status socket (default: $SCOUT_SOCKET, else " DEFAULT_SOCKET ",\n"
		     "                     else " SYSTEM_SOCKET " when only that exists)\n"
		     "  -h, --help         this help\n");
}

static const char *default_socket(void)
{
	const char *env = getenv("SCOUT_SOCKET");
	struct stat st;

	if (env && *env)
		return env;
	if (stat(DEFAULT_SOCKET, &st) < 0 && stat(SYSTEM_SOCKET, &st) == 0)
		return SYSTEM_SOCKET;
	return DEFAULT_SOCKET;
}

/* ---- text for terminals --------------------------------------------------
 * Printer text is stored as the printer sent it, so a string in a reply may
 * hold newlines, escape sequences, C1 controls (a 0x9B byte decoded as
 * latin-1 is U+009B, CSI) or bidi controls that reorder what follows. Every
 * string shown to people goes through term_escape(): such characters
 * become C-style escapes (\n, \x1b, \u202e, \U000e0041), a backslash
 * becomes \\ so that an escape on screen is never one the printer typed,
 * and the result is counted in terminal columns. An escaped string is one
 * line on any terminal and leaves its state as it was. */

/* Set when something could not be shown in full; main() then exits 1. */
static int render_error;

/* True when wcwidth() knows Unicode (main() selects a UTF-8 LC_CTYPE). */
static bool unicode_widths;

/* Characters that move the cursor, change the terminal's state, reorder or
 * break lines: C0, DEL, C1, the bidi controls (ALM, LRM, RLM, LRE..RLO,
 * LRI..PDI), line and paragraph separators; and invisible ones that make
 * two different strings look alike (zero width space, word joiner and
 * invisible operators, the deprecated format controls, BOM, interlinear
 * annotations, tags). ZWJ and ZWNJ stay: scripts and emoji need them. */
static bool hidden(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x61c || cp == 0x200b || cp == 0x200e ||
	       cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff ||
	       (cp >= 0xfff9 && cp <= 0xfffb) || (cp >= 0xe0000 && cp <= 0xe007f);
}

/* The length of the UTF-8 character at s (len bytes left), its code point
 * in *ret_cp; 0 when s does not start a valid one (a stray continuation
 * byte, a cut sequence, an overlong form, a surrogate, past U+10FFFF). */
static size_t utf8_char(const unsigned char *s, size_t len, uint32_t *ret_cp)
{
	uint32_t cp;
	size_t n;

	if (s[0] < 0x80) {
		*ret_cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1fu;
	else if ((s[0] & 0xf0) == 0xe0)
		n = 3, cp = s[0] & 0x0fu;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07u;
	else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	*ret_cp = cp;
	return n;
}

/* Columns a shown character takes: two for wide East Asian ones, none for
 * combining marks; one when the C library cannot tell. */
static size_t columns(uint32_t cp)
{
	int w = cp >= 0x7f && unicode_widths ? wcwidth((wchar_t)cp) : 1;

	return w < 0 ? 1 : (size_t)w;
}

/* Escapes the len bytes at s into out (room for 4 * len + 1 bytes; NULL
 * only measures), stopping before a character or escape that would take
 * the text past max_cols columns (0: no limit). Returns how many bytes of
 * s it used; *ret_cols (if not NULL) gets the columns written. */
static size_t term_escape(const char *s, size_t len, size_t max_cols, char *out, size_t *ret_cols)
{
	size_t i = 0, o = 0, cols = 0;

	while (i < len) {
		char esc[16];
		const char *piece = esc;
		size_t plen, w, n;
		uint32_t cp;

		n = utf8_char((const unsigned char *)s + i, len - i, &cp);
		if (!n) {
			snprintf(esc, sizeof(esc), "\\x%02x", (unsigned char)s[i]);
			n = 1;
		} else if (cp == '\n' || cp == '\r' || cp == '\t' || cp == '\\') {
			esc[0] = '\\';
			esc[1] = cp == '\n' ? 'n' : cp == '\r' ? 'r' : cp == '\t' ? 't' : '\\';
			esc[2] = 0;
		} else if (hidden(cp)) {
			snprintf(esc, sizeof(esc), cp < 0x80 ? "\\x%02x" : cp <= 0xffff ? "\\u%04x" : "\\U%08x",
				 (unsigned)cp);
		} else {
			piece = s + i;
		}
		if (piece == esc)
			plen = w = strlen(esc);
		else
			plen = n, w = columns(cp);
		if (max_cols && cols + w > max_cols)
			break;
		if (out)
			memcpy(out + o, piece, plen);
		o += plen;
		cols += w;
		i += n;
	}
	if (out)
		out[o] = 0;
	if (ret_cols)
		*ret_cols = cols;
	return i;
}

/* s escaped for a terminal, in a new string (caller frees), and its width. */
static int term_text(const char *s, char **ret_text, size_t *ret_cols)
{
	size_t len = strlen(s);
	char *out = malloc(len * 4 + 1); /* the longest escape per byte: \xNN */

	if (!out)
		return -ENOMEM;
	term_escape(s, len, 0, out, ret_cols);
	*ret_text = out;
	return 0;
}

/* The bytes of s whose escaped form fits in max_cols columns: where to cut
 * s without cutting a character or an escape in half. */
static size_t term_fit(const char *s, size_t max_cols)
{
	return term_escape(s, strlen(s), max_cols, NULL, NULL);
}

/* Prints one line, formatted and then escaped as a whole, to f. */
__attribute__((format(printf, 2, 3))) static void term_line(FILE *f, const char *fmt, ...)
{
	char *raw, *text;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&raw, fmt, ap);
	va_end(ap);
	if (n < 0) {
		render_error = -ENOMEM;
		return;
	}
	if (term_text(raw, &text, NULL) < 0) {
		render_error = -ENOMEM;
	} else {
		fprintf(f, "%s\n", text);
		free(text);
	}
	free(raw);
}

/* JSON text as jansson wrote it, with every character hidden() names that
 * jansson leaves raw (DEL, C1, bidi, ...) written as a \u escape instead:
 * the same JSON value for any parser, and safe to view on a terminal. Such
 * bytes occur only inside strings, where an escape means the same. */
static void put_json(FILE *f, const char *text)
{
	const char *span = text, *p = text;
	size_t left = strlen(text);

	while (left) {
		uint32_t cp;
		size_t n = utf8_char((const unsigned char *)p, left, &cp);

		if (!n || (cp >= 0x7f && hidden(cp))) {
			fwrite(span, 1, (size_t)(p - span), f);
			if (!n)
				fputs("\\ufffd", f), n = 1; /* jansson writes only valid UTF-8 */
			else if (cp <= 0xffff)
				fprintf(f, "\\u%04X", (unsigned)cp);
			else
				fprintf(f, "\\u%04X\\u%04X", 0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + (cp & 0x3ff));
			span = p + n;
		}
		p += n;
		left -= n;
	}
	fwrite(span, 1, (size_t)(p - span), f);
}

/* Sends request and returns the parsed reply, or exits 2 naming the path. */
static json_t *call(const char *path, json_t *request, int timeout_ms)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char *line, *buf = NULL;
	size_t len = 0, cap = 0;
	json_error_t jerr;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		term_line(stderr, "scoutctl: %s: path too long for a unix socket", path);
		exit(2);
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		term_line(stderr, "scoutctl: cannot connect to %s: %s (is scoutd running? use -s PATH)", path,
			  strerror(errno));
		exit(2);
	}
	/* allocated only now, and freed on every exit below: an exit(2) must not
	 * leak (LeakSanitizer would turn it into another exit code) */
	line = json_dumps(request, JSON_COMPACT);
	if (!line) {
		fprintf(stderr, "scoutctl: out of memory\n");
		exit(2);
	}
	size_t n = strlen(line);
	line[n] = '\n'; /* replaces the NUL: the line goes out with its newline */
	for (size_t off = 0; off < n + 1;) {
		ssize_t w = send(fd, line + off, n + 1 - off, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			term_line(stderr, "scoutctl: %s: write failed: %s", path, strerror(errno));
			free(line);
			exit(2);
		}
		off += (size_t)w;
	}
	free(line);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int pr = poll(&p, 1, timeout_ms);
		if (pr == 0) {
			term_line(stderr, "scoutctl: %s: no reply within %d s", path, timeout_ms / 1000);
			free(buf);
			exit(2);
		}
		if (pr < 0 && errno == EINTR)
			continue;
		if (len + 65536 > cap) {
			cap = cap ? cap * 2 : 131072;
			char *nb = cap > MAX_REPLY + 65536 ? NULL : realloc(buf, cap);
			if (!nb) {
				term_line(stderr, "scoutctl: %s: reply too large", path);
				free(buf);
				exit(2);
			}
			buf = nb;
		}
		ssize_t r = recv(fd, buf + len, cap - len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			term_line(stderr, "scoutctl: %s: connection closed before a reply", path);
			free(buf);
			exit(2);
		}
		len += (size_t)r;
		if (memchr(buf + len - (size_t)r, '\n', (size_t)r))
			break;
	}
	close(fd);
	json_t *reply = json_loadb(buf, (size_t)((char *)memchr(buf, '\n', len) - buf), 0, &jerr);
	free(buf);
	if (!json_is_object(reply)) {
		term_line(stderr, "scoutctl: %s: malformed reply: %s", path, jerr.text);
		json_decref(reply);
		exit(2);
	}
	return reply;
}

/* Prints an error reply and returns 1. */
static int error_reply(json_t *reply)
{
	json_t *e = json_object_get(reply, "error");
	const char *msg = json_string_value(json_object_get(e, "message"));
	const char *code = json_string_value(json_object_get(e, "code"));

	term_line(stderr, "scoutctl: %s%s%s%s", msg ? msg : "request failed", code ? " (" : "", code ? code : "",
		  code ? ")" : "");
	return 1;
}

/* ---- tables ------------------------------------------------------------ */

#define MAX_COLS 8

struct cell {
	char *text; /* escaped */
	size_t cols;
};

struct table {
	size_t ncols, nrows, cap;
	struct cell *cells; /* nrows rows of ncols */
	size_t width[MAX_COLS];
};

/* Adds a row of ncols strings (NULL shows as "-"); a row that cannot be
 * stored is left out and marks the output incomplete. */
static void row(struct table *t, ...)
{
	struct cell *r;
	va_list ap;
	size_t c;

	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		struct cell *nc = reallocarray(t->cells, cap * t->ncols, sizeof(*nc));
		if (!nc) {
			render_error = -ENOMEM;
			return;
		}
		t->cells = nc;
		t->cap = cap;
	}
	r = t->cells + t->nrows * t->ncols;
	va_start(ap, t);
	for (c = 0; c < t->ncols; c++) {
		const char *s = va_arg(ap, const char *);
		if (term_text(s ? s : "-", &r[c].text, &r[c].cols) < 0)
			break;
	}
	va_end(ap);
	if (c < t->ncols) {
		while (c--)
			free(r[c].text);
		render_error = -ENOMEM;
		return;
	}
	for (c = 0; c < t->ncols; c++)
		if (r[c].cols > t->width[c])
			t->width[c] = r[c].cols;
	t->nrows++;
}

/* Prints the rows in columns aligned by width on screen, and empties t. */
static void print_table(struct table *t)
{
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			struct cell *x = &t->cells[r * t->ncols + c];
			fputs(x->text, stdout);
			if (c + 1 == t->ncols)
				putchar('\n');
			else
				printf("%*s", (int)(t->width[c] - x->cols + 2), "");
			free(x->text);
		}
	}
	free(t->cells);
	*t = (struct table){.ncols = t->ncols};
}

/* A formatted string (caller frees); NULL, and the output marked
 * incomplete, when out of memory. */
__attribute__((format(printf, 1, 2))) static char *strf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		render_error = -ENOMEM;
		return NULL;
	}
	return s;
}

static const char *bytes(json_t *v, char *buf, size_t size)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double x = json_number_value(v);
	int u = 0;

	if (!json_is_number(v))
		return "-";
	while (x >= 1024 && u < 4) {
		x /= 1024;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", x, units[u]);
	return buf;
}

static const char *duration(json_t *v, char *buf, size_t size)
{
	long long s = json_integer_value(v);

	if (!json_is_integer(v))
		return "-";
	if (s >= 86400)
		snprintf(buf, size, "%lldd %lldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, size, "%lldh %lldm", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(buf, size, "%lldm %llds", s / 60, s % 60);
	else
		snprintf(buf, size, "%llds", s);
	return buf;
}

static const char *num(json_t *v, char *buf, size_t size)
{
	if (!json_is_integer(v))
		return "-";
	snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
	return buf;
}

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static const char *otherwise(const char *s, const char *fallback)
{
	return s ? s : fallback;
}

static void print_status(json_t *st)
{
	char a[64], b[64], c[64], d[64], e[64], f[64];
	struct table t = {.ncols = 2};
	json_t *store = json_object_get(st, "store"), *reload = json_object_get(st, "reload");
	json_t *last = json_object_get(reload, "last"), *v, *m;
	const char *k;
	char *line;
	size_t i;

	row(&t, "version", otherwise(str(st, "version"), "?"));
	row(&t, "pid", num(json_object_get(st, "pid"), b, sizeof(b)));
	row(&t, "uptime", duration(json_object_get(st, "uptime_s"), c, sizeof(c)));
	row(&t, "config", str(st, "config"));
	row(&t, "state_dir", str(st, "state_dir"));
	row(&t, "socket", str(st, "status_socket"));
	row(&t, "log_level", str(st, "log_level"));
	row(&t, "memory", bytes(json_object_get(st, "rss_bytes"), d, sizeof(d)));
	line = strf("%s used, map %s, max %s", bytes(json_object_get(store, "used_bytes"), e, sizeof(e)),
		    bytes(json_object_get(store, "map_bytes"), f, sizeof(f)),
		    bytes(json_object_get(store, "max_bytes"), a, sizeof(a)));
	row(&t, "store", line);
	free(line);
	if (json_is_true(json_object_get(st, "crash_loop")))
		line = strf("%s (start #%s): CRASH LOOP, %s unclean starts in a row; see the log",
			    otherwise(str(st, "previous_run"), "?"), num(json_object_get(st, "starts"), b, sizeof(b)),
			    num(json_object_get(st, "unclean_starts"), c, sizeof(c)));
	else
		line = strf("%s (start #%s)", otherwise(str(st, "previous_run"), "?"),
			    num(json_object_get(st, "starts"), b, sizeof(b)));
	row(&t, "previous run", line);
	free(line);
	if (json_is_object(last)) {
		size_t n = json_array_size(json_object_get(last, "errors"));
		if (n)
			line = strf("%s FAILED, %zu problem%s (still on the previous config)",
				    otherwise(str(last, "time"), "?"), n, n == 1 ? "" : "s");
		else
			line = strf("%s ok", otherwise(str(last, "time"), "?"));
	} else {
		line = strf("none");
	}
	row(&t, "last reload", line);
	free(line);
	print_table(&t);
	if (json_is_object(last))
		json_array_foreach(json_object_get(last, "errors"), i, v)
			term_line(stdout, "  %s", otherwise(json_string_value(v), "?"));

	printf("\n");
	t = (struct table){.ncols = 5};
	row(&t, "MODULE", "ENABLED", "STATE", "UPTIME", "DETAIL");
	json_array_foreach(json_object_get(st, "modules"), i, m)
	{
		const char *detail = str(m, "reason") ? str(m, "reason") : str(m, "detail");
		const char *problem = json_string_value(json_array_get(json_object_get(m, "problems"), 0));
		json_t *ok = json_object_get(m, "ok");
		char *degraded = NULL;

		if (!detail && json_is_true(ok))
			detail = "ok";
		else if (!detail && json_is_false(ok))
			detail = degraded = strf("degraded: %s", otherwise(problem, ""));
		row(&t, str(m, "name"), json_is_true(json_object_get(m, "enabled")) ? "yes" : "no", str(m, "state"),
		    duration(json_object_get(m, "uptime_s"), a, sizeof(a)), detail && *detail ? detail : "-");
		free(degraded);
	}
	print_table(&t);

	printf("\n");
	t = (struct table){.ncols = 7};
	row(&t, "TOPIC", "PUBLISHED", "DELIVERED", "DROPPED", "REQUESTS", "REPLIES", "TIMED_OUT");
	json_object_foreach(json_object_get(st, "bus"), k, v)
	{
		char n1[24], n2[24], n3[24], n4[24], n5[24], n6[24];
		row(&t, k, num(json_object_get(v, "published"), n1, 24), num(json_object_get(v, "delivered"), n2, 24),
		    num(json_object_get(v, "dropped"), n3, 24), num(json_object_get(v, "requests"), n4, 24),
		    num(json_object_get(v, "replies"), n5, 24), num(json_object_get(v, "timed_out"), n6, 24));
	}
	print_table(&t);
}

/* The supply with the least left, as "Cyan Toner 12%", its name cut to 32
 * columns on screen (caller frees); NULL when no supply has a level. */
static char *lowest_supply(json_t *dev)
{
	json_t *s, *best = NULL;
	size_t i;

	json_array_foreach(json_object_get(dev, "supplies"), i, s)
	{
		json_t *p = json_object_get(s, "level_percent");
		if (json_is_integer(p) && (!best || json_integer_value(p) < json_integer_value(json_object_get(best, "level_percent"))))
			best = s;
	}
	if (!best)
		return NULL;
	const char *name = otherwise(str(best, "description"), otherwise(str(best, "colorant"), otherwise(str(best, "kind"), "supply")));
	return strf("%.*s %" JSON_INTEGER_FORMAT "%%", (int)term_fit(name, 32), name,
		    json_integer_value(json_object_get(best, "level_percent")));
}

static void print_devices(json_t *reply)
{
	struct table t = {.ncols = 7};
	json_t *d;
	size_t i;
	char pages[32];

	row(&t, "IP", "MANUFACTURER", "MODEL", "SERIAL", "STATUS", "PAGES", "LOWEST SUPPLY");
	json_array_foreach(json_object_get(reply, "devices"), i, d)
	{
		if (json_is_false(json_object_get(d, "printer"))) {
			row(&t, str(d, "ip"), "-", "(not a printer)", "-", "-", "-", "-");
			continue;
		}
		json_t *st = json_object_get(d, "status");
		const char *status = str(st, "printer") ? str(st, "printer") : str(st, "device");
		if (json_array_size(json_object_get(d, "errors")))
			status = json_string_value(json_array_get(json_object_get(d, "errors"), 0));
		char *low = lowest_supply(d);
		row(&t, str(d, "ip"), str(d, "manufacturer"), str(d, "model"), str(d, "serial"), status,
		    num(json_object_get(json_object_get(d, "meters"), "total"), pages, sizeof(pages)), low);
		free(low);
	}
	print_table(&t);
}

/* The strings of an array joined with ", " (caller frees). */
static char *join(json_t *array)
{
	char *out = NULL;
	size_t size = 0, i;
	json_t *v;
	FILE *f = open_memstream(&out, &size);

	if (!f) {
		render_error = -ENOMEM;
		return NULL;
	}
	json_array_foreach(array, i, v) fprintf(f, "%s%s", i ? ", " : "", otherwise(json_string_value(v), "?"));
	if (fclose(f) != 0) {
		render_error = -ENOMEM;
		free(out);
		return NULL;
	}
	return out;
}

static void print_device(json_t *reply)
{
	json_t *d = json_object_get(reply, "device"), *v;
	struct table t = {.ncols = 2};
	size_t i;
	char *line;
	static const char *const fields[] = {"ip", "manufacturer", "model", "serial", "mac", "firmware", "location",
					     "asset", "name", "description", "display", "first_seen", "last_seen", NULL};

	for (const char *const *f = fields; *f; f++)
		if (str(d, *f))
			row(&t, *f, str(d, *f));
	if (json_is_boolean(json_object_get(d, "color")))
		row(&t, "color", json_is_true(json_object_get(d, "color")) ? "yes" : "no");
	json_t *st = json_object_get(d, "status");
	if (st) {
		line = strf("device %s, printer %s", otherwise(str(st, "device"), "-"),
			    otherwise(str(st, "printer"), "-"));
		row(&t, "status", line);
		free(line);
	}
	if (json_is_array(json_object_get(d, "errors"))) {
		line = join(json_object_get(d, "errors"));
		row(&t, "errors", line && *line ? line : "none");
		free(line);
	}
	json_t *m = json_object_get(d, "meters");
	if (m) {
		char a[24], b[24], c[24];
		line = strf("total %s, mono %s, color %s", num(json_object_get(m, "total"), a, 24),
			    num(json_object_get(m, "mono"), b, 24), num(json_object_get(m, "color"), c, 24));
		row(&t, "meters", line);
		free(line);
	}
	print_table(&t);

	if (json_array_size(json_object_get(d, "alerts"))) {
		printf("\n");
		t = (struct table){.ncols = 4};
		row(&t, "ALERT", "SEVERITY", "GROUP", "TEXT");
		json_array_foreach(json_object_get(d, "alerts"), i, v)
			row(&t, str(v, "code"), str(v, "severity"), str(v, "group"), str(v, "text"));
		print_table(&t);
	}
	if (json_array_size(json_object_get(d, "supplies"))) {
		printf("\n");
		t = (struct table){.ncols = 5};
		row(&t, "SUPPLY", "KIND", "COLORANT", "LEVEL", "RAW");
		json_array_foreach(json_object_get(d, "supplies"), i, v)
		{
			char l[24], x[24];
			json_t *pct = json_object_get(v, "level_percent");
			char *level = json_is_integer(pct) ? strf("%" JSON_INTEGER_FORMAT "%%", json_integer_value(pct))
							   : strf("%s", otherwise(str(v, "level_state"), "-"));
			char *raw = strf("%s/%s %s", num(json_object_get(v, "level"), l, 24),
					 num(json_object_get(v, "max"), x, 24), otherwise(str(v, "unit"), ""));
			row(&t, str(v, "description"), str(v, "kind"), str(v, "colorant"), level, raw);
			free(level);
			free(raw);
		}
		print_table(&t);
	}
	if (json_array_size(json_object_get(reply, "history"))) {
		printf("\n");
		t = (struct table){.ncols = 5};
		row(&t, "READING", "TOTAL", "MONO", "COLOR", "NOTE");
		json_array_foreach(json_object_get(reply, "history"), i, v)
		{
			char a[24], b[24], c[24];
			row(&t, str(v, "time"), num(json_object_get(v, "total"), a, 24), num(json_object_get(v, "mono"), b, 24),
			    num(json_object_get(v, "color"), c, 24), json_is_true(json_object_get(v, "reset")) ? "reset" : "");
		}
		print_table(&t);
	}
}

static void print_scan(json_t *reply)
{
	json_t *s = json_object_get(reply, "scan");
	char a[24], b[24], c[24], d[24];

	if (json_is_boolean(json_object_get(s, "started"))) {
		printf("%s: %s of %s addresses probed so far\n",
		       json_is_true(json_object_get(s, "started")) ? "sweep started" : "a sweep is already running",
		       num(json_object_get(s, "probed"), a, 24), num(json_object_get(s, "total"), b, 24));
		return;
	}
	printf("probed %s of %s addresses: %s answered, %s printers, in %.1f s\n", num(json_object_get(s, "probed"), a, 24),
	       num(json_object_get(s, "total"), b, 24), num(json_object_get(s, "responders"), c, 24),
	       num(json_object_get(s, "printers"), d, 24), json_number_value(json_object_get(s, "duration_ms")) / 1000.0);
}

struct command {
	const char *name;
	const char *flags; /* allowed: " json wait force all " */
	bool takes_id;
	int timeout_ms;
};

static const struct command commands[] = {
	{"status", " json ", false, TIMEOUT_MS},   {"metrics", " ", false, TIMEOUT_MS},
	{"reload", " json ", false, TIMEOUT_MS},   {"version", " json ", false, TIMEOUT_MS},
	{"scan", " json wait force ", false, TIMEOUT_MS}, {"devices", " json all ", false, TIMEOUT_MS},
	{"device", " json ", true, TIMEOUT_MS},    {NULL, NULL, false, 0},
};

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *path = NULL, *id = NULL;
	const struct command *cmd = NULL;
	bool json = false;
	int c;

	/* only for wcwidth(): the replies are UTF-8 whatever the user's locale,
	 * and table columns are counted in what a UTF-8 terminal shows */
	unicode_widths = setlocale(LC_CTYPE, "C.UTF-8") != NULL;
	while ((c = getopt_long(argc, argv, "+s:jh", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	for (const struct command *k = commands; k->name; k++)
		if (strcmp(k->name, argv[optind]) == 0)
			cmd = k;
	if (!cmd) {
		term_line(stderr, "scoutctl: unknown command '%s'", argv[optind]);
		usage(stderr);
		return 2;
	}
	optind++;
	json_t *request = json_pack("{s:s}", "cmd", cmd->name);
	/* options may also follow the command: "scoutctl status --json" */
	for (; optind < argc; optind++) {
		const char *a = argv[optind];
		char word[32];
		snprintf(word, sizeof(word), " %s ", a + (strncmp(a, "--", 2) == 0 ? 2 : 0));
		if (strncmp(a, "--", 2) == 0 && strstr(cmd->flags, word)) {
			if (strcmp(a, "--json") == 0)
				json = true;
			else
				json_object_set_new(request, a + 2, json_true());
		} else if (cmd->takes_id && !id && a[0] != '-') {
			id = a;
			json_object_set_new(request, "id", json_string(a));
		} else {
			term_line(stderr, "scoutctl: %s: unexpected argument '%s'", cmd->name, a);
			json_decref(request);
			return 2;
		}
	}
	if (cmd->takes_id && !id) {
		fprintf(stderr, "scoutctl: %s: which one? give an IP address or serial number\n", cmd->name);
		json_decref(request);
		return 2;
	}
	if (!path)
		path = default_socket();
	/* a sweep that is waited for takes as long as it takes */
	json_t *reply = call(path, request, json_is_true(json_object_get(request, "wait")) ? NO_TIMEOUT : cmd->timeout_ms);
	const char *name = cmd->name;
	int rc = 0;
	json_decref(request);

	if (!json_is_true(json_object_get(reply, "ok"))) {
		if (strcmp(name, "reload") == 0 && json_is_object(json_object_get(reply, "reload"))) {
			json_t *v;
			size_t i;
			fprintf(stderr, "scoutctl: reload rejected; scoutd keeps running on the previous configuration:\n");
			json_array_foreach(json_object_get(json_object_get(reply, "reload"), "errors"), i, v)
				term_line(stderr, "  %s", otherwise(json_string_value(v), "?"));
			rc = 1;
		} else {
			rc = error_reply(reply);
		}
	} else if (strcmp(name, "metrics") == 0) {
		fputs(str(reply, "metrics") ? str(reply, "metrics") : "", stdout);
	} else if (json) {
		json_t *body = strcmp(name, "device") == 0 ? NULL : json_object_get(reply, name);
		if (!body) {
			body = json_incref(reply);
			json_object_del(body, "ok");
		} else {
			json_incref(body);
		}
		char *text = json_dumps(body, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (text) {
			put_json(stdout, text);
			putchar('\n');
			free(text);
		} else {
			render_error = -ENOMEM;
		}
		json_decref(body);
	} else if (strcmp(name, "status") == 0) {
		print_status(json_object_get(reply, "status"));
	} else if (strcmp(name, "reload") == 0) {
		json_t *v;
		size_t i;
		printf("reload applied\n");
		json_array_foreach(json_object_get(json_object_get(reply, "reload"), "notes"), i, v)
			term_line(stdout, "  note: %s", otherwise(json_string_value(v), "?"));
	} else if (strcmp(name, "version") == 0) {
		term_line(stdout, "scoutd %s", otherwise(str(reply, "version"), "?"));
	} else if (strcmp(name, "scan") == 0) {
		print_scan(reply);
	} else if (strcmp(name, "devices") == 0) {
		print_devices(reply);
	} else if (strcmp(name, "device") == 0) {
		print_device(reply);
	}
	json_decref(reply);
	if (render_error) {
		fprintf(stderr, "scoutctl: output incomplete: %s\n", strerror(-render_error));
		rc = rc ? rc : 1;
	}
	/* a full disk or a closed pipe loses output: not a success */
	int werr = fflush(stdout) != 0 ? errno : ferror(stdout) ? EIO : 0;
	if (werr) {
		fprintf(stderr, "scoutctl: cannot write output: %s\n", strerror(werr));
		rc = rc ? rc : 1;
	}
	return rc;
}
