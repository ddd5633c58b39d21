/* scoutctl: the operator's client of scoutd's status socket. It knows no
 * module: it asks the daemon for its commands ({"cmd":"help"}: name, help,
 * arguments, how to show the reply), maps `scoutctl VERB [--flag] [ARG]...`
 * to a request by the declared arguments, sends it as one line of JSON,
 * reads one reply line and renders it for people (declared tables and text
 * lines, key: value for the rest, every string escaped for the terminal)
 * or, with --json, prints it for machines. Only the core's status, metrics
 * and reload have renderers of their own.
 * Exit codes: 0 success, 1 error reply or output not written in full,
 * 2 cannot connect or usage. */
#include <errno.h>
#include <fcntl.h>
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
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <wchar.h>

#include "loop/secret.h"
#include "loop/utf8.h"

#define DEFAULT_SOCKET "./var/scoutd.sock"
#define SYSTEM_SOCKET "/run/scout/scoutd.sock"
#define MAX_REPLY (64u << 20)
#define TIMEOUT_MS 60000
#define NO_TIMEOUT -1

static void usage(FILE *out)
{
	fprintf(out, "Usage: scoutctl [-s SOCKET] COMMAND [ARGUMENT...] [--json]\n"
		     "\n"
		     "The commands come from scoutd: `scoutctl help` lists them with their arguments\n"
		     "(status, metrics, reload, version, and those of each module).\n"
		     "\n"
		     "  --json             print the reply as JSON instead of tables\n"
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
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x61c || cp == 0x200b || cp == 0x200e || cp == 0x200f ||
	       (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff ||
	       (cp >= 0xfff9 && cp <= 0xfffb) || (cp >= 0xe0000 && cp <= 0xe007f);
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

		n = scout_utf8_char((const unsigned char *)s + i, len - i, &cp);
		if (!n) {
			snprintf(esc, sizeof(esc), "\\x%02x", (unsigned char)s[i]);
			n = 1;
		} else if (cp == '\n' || cp == '\r' || cp == '\t' || cp == '\\') {
			esc[0] = '\\';
			esc[1] = cp == '\n' ? 'n' : cp == '\r' ? 'r' : cp == '\t' ? 't' : '\\';
			esc[2] = 0;
		} else if (hidden(cp)) {
			snprintf(esc, sizeof(esc),
				 cp < 0x80      ? "\\x%02x"
				 : cp <= 0xffff ? "\\u%04x"
						: "\\U%08x",
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
		size_t n = scout_utf8_char((const unsigned char *)p, left, &cp);

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
			scout_free_wiped(line); /* it may hold a secret */
			exit(2);
		}
		off += (size_t)w;
	}
	scout_free_wiped(line); /* it may hold a secret */
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

#define MAX_COLS 16

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
static void row_cells(struct table *t, const char *const *cells)
{
	struct cell *r;
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
	for (c = 0; c < t->ncols; c++)
		if (term_text(cells[c] ? cells[c] : "-", &r[c].text, &r[c].cols) < 0)
			break;
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

static void row(struct table *t, ...)
{
	const char *cells[MAX_COLS];
	va_list ap;

	va_start(ap, t);
	for (size_t c = 0; c < t->ncols; c++)
		cells[c] = va_arg(ap, const char *);
	va_end(ap);
	row_cells(t, cells);
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
		json_array_foreach (json_object_get(last, "errors"), i, v)
			term_line(stdout, "  %s", otherwise(json_string_value(v), "?"));

	printf("\n");
	t = (struct table){.ncols = 5};
	row(&t, "MODULE", "ENABLED", "STATE", "UPTIME", "DETAIL");
	json_array_foreach (json_object_get(st, "modules"), i, m) {
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
	/* every problem a module reports, not just the first the table shows */
	json_array_foreach (json_object_get(st, "modules"), i, m) {
		size_t j;
		json_array_foreach (json_object_get(m, "problems"), j, v)
			term_line(stdout, "  %s: %s", otherwise(str(m, "name"), "?"),
				  otherwise(json_string_value(v), "?"));
	}

	printf("\n");
	t = (struct table){.ncols = 7};
	row(&t, "TOPIC", "PUBLISHED", "DELIVERED", "DROPPED", "REQUESTS", "REPLIES", "TIMED_OUT");
	json_object_foreach (json_object_get(st, "bus"), k, v) {
		char n1[24], n2[24], n3[24], n4[24], n5[24], n6[24];
		row(&t, k, num(json_object_get(v, "published"), n1, 24), num(json_object_get(v, "delivered"), n2, 24),
		    num(json_object_get(v, "dropped"), n3, 24), num(json_object_get(v, "requests"), n4, 24),
		    num(json_object_get(v, "replies"), n5, 24), num(json_object_get(v, "timed_out"), n6, 24));
	}
	print_table(&t);
}

/* ---- generic rendering ---------------------------------------------------
 * What the help reply declares for a command: tables (an array in the reply
 * and the paths of its columns) and text lines (templates with {path}s).
 * A path is "a.b" into objects, "a.0" into arrays, "x|y" for the first of
 * several that is present. */

/* The value at path in v, or NULL (a JSON null counts as absent). */
static json_t *lookup(json_t *v, const char *path)
{
	const char *alt = path;

	while (alt) {
		const char *end = strchr(alt, '|');
		size_t len = end ? (size_t)(end - alt) : strlen(alt);
		json_t *cur = v;
		const char *seg = alt;

		while (cur && seg < alt + len) {
			const char *dot = memchr(seg, '.', (size_t)(alt + len - seg));
			size_t n = dot ? (size_t)(dot - seg) : (size_t)(alt + len - seg);
			char key[128];

			if (n >= sizeof(key))
				return NULL;
			memcpy(key, seg, n);
			key[n] = 0;
			if (json_is_object(cur)) {
				cur = json_object_get(cur, key);
			} else if (json_is_array(cur) && n && strspn(key, "0123456789") == n) {
				cur = json_array_get(cur, strtoul(key, NULL, 10));
			} else {
				cur = NULL;
			}
			seg += n + (dot ? 1 : 0);
			if (!dot)
				break;
		}
		if (cur && !json_is_null(cur))
			return cur;
		alt = end ? end + 1 : NULL;
	}
	return NULL;
}

static bool is_scalar(json_t *v)
{
	return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

/* A value as text for people (caller frees): strings as they are, numbers,
 * yes/no; an object as "key value, ..." of its scalars, an array of
 * scalars joined with ", ", an array of objects as its length; NULL for
 * an absent value. */
static char *value_text(json_t *v)
{
	char *out = NULL;
	size_t size = 0, i;
	const char *k;
	json_t *x;
	FILE *f;

	if (!v || json_is_null(v))
		return NULL;
	if (json_is_string(v))
		return strf("%s", json_string_value(v));
	if (json_is_integer(v))
		return strf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
	if (json_is_real(v))
		return strf("%g", json_real_value(v));
	if (json_is_boolean(v))
		return strf("%s", json_is_true(v) ? "yes" : "no");
	f = open_memstream(&out, &size);
	if (!f) {
		render_error = -ENOMEM;
		return NULL;
	}
	if (json_is_object(v)) {
		bool first = true;
		json_object_foreach (v, k, x) {
			char *t = is_scalar(x) ? value_text(x) : NULL;
			if (!t)
				continue;
			fprintf(f, "%s%s %s", first ? "" : ", ", k, t);
			first = false;
			free(t);
		}
	} else {
		bool scalars = true;
		json_array_foreach (v, i, x)
			scalars &= is_scalar(x);
		if (!scalars) {
			fprintf(f, "%zu entries (--json shows them)", json_array_size(v));
		} else {
			json_array_foreach (v, i, x) {
				char *t = value_text(x);
				fprintf(f, "%s%s", i ? ", " : "", t ? t : "?");
				free(t);
			}
		}
	}
	if (fclose(f) != 0) {
		render_error = -ENOMEM;
		free(out);
		return NULL;
	}
	return out;
}

/* A text template filled in from reply (caller frees); NULL when one of
 * its {path}s is absent. */
static char *fill(json_t *reply, const char *tmpl)
{
	char *out = NULL;
	size_t size = 0;
	bool missing = false;
	FILE *f = open_memstream(&out, &size);

	if (!f) {
		render_error = -ENOMEM;
		return NULL;
	}
	for (const char *p = tmpl; *p && !missing;) {
		const char *open = strchr(p, '{'), *close = open ? strchr(open, '}') : NULL;
		if (!open || !close) {
			fputs(p, f);
			break;
		}
		fwrite(p, 1, (size_t)(open - p), f);
		char path[256];
		size_t n = (size_t)(close - open - 1);
		char *t = NULL;
		if (n < sizeof(path)) {
			memcpy(path, open + 1, n);
			path[n] = 0;
			t = value_text(lookup(reply, path));
		}
		if (!t)
			missing = true;
		else
			fputs(t, f);
		free(t);
		p = close + 1;
	}
	if (fclose(f) != 0) {
		render_error = -ENOMEM;
		free(out);
		return NULL;
	}
	if (missing) {
		free(out);
		return NULL;
	}
	return out;
}

/* Prints a declared table when its array is in the reply and not empty;
 * true when it did. */
static bool print_declared_table(json_t *reply, json_t *decl, bool gap)
{
	json_t *arr = lookup(reply, json_string_value(json_object_get(decl, "path")) ?: "");
	json_t *cols = json_object_get(decl, "columns"), *col, *item;
	const char *cells[MAX_COLS];
	char *texts[MAX_COLS];
	size_t ncols = json_array_size(cols), i, c;
	struct table t;

	if (!json_is_array(arr) || !json_array_size(arr) || !ncols)
		return false;
	if (ncols > MAX_COLS)
		ncols = MAX_COLS;
	if (gap)
		printf("\n");
	t = (struct table){.ncols = ncols};
	for (c = 0; c < ncols; c++) {
		col = json_array_get(cols, c);
		cells[c] = otherwise(str(col, "heading"), otherwise(str(col, "path"), "?"));
	}
	row_cells(&t, cells);
	json_array_foreach (arr, i, item) {
		for (c = 0; c < ncols; c++) {
			col = json_array_get(cols, c);
			json_int_t max = json_integer_value(json_object_get(col, "max_width"));
			texts[c] = value_text(lookup(item, otherwise(str(col, "path"), "")));
			/* cut between characters and escapes, never inside one */
			if (texts[c] && max > 0)
				texts[c][term_fit(texts[c], (size_t)max)] = 0;
			cells[c] = texts[c];
		}
		row_cells(&t, cells);
		for (c = 0; c < ncols; c++)
			free(texts[c]);
	}
	print_table(&t);
	return true;
}

/* True when path names one of the command's tables. */
static bool is_table(json_t *cmd, const char *path)
{
	json_t *decl;
	size_t i;

	json_array_foreach (json_object_get(cmd, "tables"), i, decl)
		if (strcmp(otherwise(str(decl, "path"), ""), path) == 0)
			return true;
	return false;
}

/* key: value lines for what the reply holds beside its tables; an object
 * member of the reply is shown by its own members. */
static bool print_fields(json_t *reply, json_t *cmd)
{
	struct table t = {.ncols = 2};
	const char *k, *k2;
	json_t *v, *v2;
	char path[256];

	json_object_foreach (reply, k, v) {
		if (strcmp(k, "ok") == 0 || is_table(cmd, k))
			continue;
		if (!json_is_object(v)) {
			char *text = value_text(v);
			row(&t, k, text);
			free(text);
			continue;
		}
		json_object_foreach (v, k2, v2) {
			snprintf(path, sizeof(path), "%s.%s", k, k2);
			if (is_table(cmd, path))
				continue;
			char *text = value_text(v2);
			if (text)
				row(&t, k2, text);
			free(text);
		}
	}
	bool any = t.nrows > 0;
	print_table(&t);
	return any;
}

static void print_generic(json_t *reply, json_t *cmd)
{
	json_t *tmpl, *decl;
	bool shown = false;
	size_t i;

	json_array_foreach (json_object_get(cmd, "text"), i, tmpl) {
		char *line = fill(reply, otherwise(json_string_value(tmpl), ""));
		if (line) {
			term_line(stdout, "%s", line);
			free(line);
			shown = true;
			break;
		}
	}
	if (!shown)
		shown = print_fields(reply, cmd);
	json_array_foreach (json_object_get(cmd, "tables"), i, decl)
		shown |= print_declared_table(reply, decl, shown);
}

/* ---- commands from the daemon -------------------------------------------- */

static const char *arg_type(json_t *arg)
{
	return otherwise(str(arg, "type"), "string");
}

/* A required argument given as a bare word (secrets are asked for). */
static bool positional(json_t *arg)
{
	return json_is_true(json_object_get(arg, "required")) && strcmp(arg_type(arg), "flag") != 0 &&
	       strcmp(arg_type(arg), "secret") != 0 && strcmp(arg_type(arg), "output") != 0;
}

/* "scan [--wait] [--force]", "device ID" (caller frees). */
static char *synopsis(json_t *cmd)
{
	char *out = NULL;
	size_t size = 0, i;
	json_t *a;
	FILE *f = open_memstream(&out, &size);

	if (!f) {
		render_error = -ENOMEM;
		return NULL;
	}
	fputs(otherwise(str(cmd, "name"), "?"), f);
	json_array_foreach (json_object_get(cmd, "args"), i, a) {
		const char *name = otherwise(str(a, "name"), "?");
		if (strcmp(arg_type(a), "secret") == 0) {
			continue; /* asked for: see the argument lines */
		} else if (json_is_true(json_object_get(a, "required"))) {
			fputc(' ', f);
			for (const char *p = name; *p; p++)
				fputc(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p, f);
		} else if (strcmp(arg_type(a), "flag") == 0) {
			fprintf(f, " [--%s]", name);
		} else if (strcmp(arg_type(a), "output") == 0) {
			fprintf(f, " [--%s FILE]", name);
		} else {
			fprintf(f, " [--%s VALUE]%s", name, json_is_true(json_object_get(a, "multiple")) ? "..." : "");
		}
	}
	if (fclose(f) != 0) {
		render_error = -ENOMEM;
		free(out);
		return NULL;
	}
	return out;
}

static void print_help(FILE *out, json_t *cmds)
{
	json_t *c, *a;
	size_t i, j;

	fprintf(out, "Commands:\n");
	json_array_foreach (cmds, i, c) {
		char *syn = synopsis(c);
		const char *module = str(c, "module");
		if (syn && strlen(syn) <= 24) {
			term_line(out, "  %-24s %s%s%s%s", syn, otherwise(str(c, "help"), ""), module ? " (" : "",
				  module ? module : "", module ? ")" : "");
		} else { /* two lines: term_line shows a newline inside its text as \n */
			term_line(out, "  %s", syn ? syn : "?");
			term_line(out, "  %-24s %s%s%s%s", "", otherwise(str(c, "help"), ""), module ? " (" : "",
				  module ? module : "", module ? ")" : "");
		}
		free(syn);
		json_array_foreach (json_object_get(c, "args"), j, a) {
			const char *name = otherwise(str(a, "name"), "?");
			bool secret = strcmp(arg_type(a), "secret") == 0;
			term_line(out, "      %s%-18s %s%s",
				  json_is_true(json_object_get(a, "required")) || secret ? "" : "--", name,
				  otherwise(str(a, "help"), ""), secret ? " (asked for; or one line of stdin)" : "");
		}
	}
}

/* The command's declared argument of that name, or NULL. */
static json_t *find_arg(json_t *cmd, const char *name, size_t len)
{
	json_t *a;
	size_t i;

	json_array_foreach (json_object_get(cmd, "args"), i, a) {
		const char *n = str(a, "name");
		if (n && strlen(n) == len && memcmp(n, name, len) == 0)
			return a;
	}
	return NULL;
}

/* Sets request[arg] from the text the user gave (appends, for an argument
 * given more than once); -EINVAL when an int is not one. */
static int set_arg(json_t *request, json_t *arg, const char *value)
{
	const char *name = str(arg, "name");
	json_t *v;

	if (strcmp(arg_type(arg), "int") == 0) {
		char *end;
		errno = 0;
		long long n = strtoll(value, &end, 10);
		if (errno || end == value || *end)
			return -EINVAL;
		v = json_integer(n);
	} else {
		v = json_string(value);
	}
	if (json_is_true(json_object_get(arg, "multiple"))) {
		json_t *arr = json_object_get(request, name);
		if (!json_is_array(arr))
			json_object_set_new(request, name, arr = json_array());
		json_array_append_new(arr, v);
	} else {
		json_object_set_new(request, name, v);
	}
	return 0;
}

static int b64_value(char c)
{
	return c >= 'A' && c <= 'Z'   ? c - 'A'
	       : c >= 'a' && c <= 'z' ? c - 'a' + 26
	       : c >= '0' && c <= '9' ? c - '0' + 52
	       : c == '+'             ? 62
	       : c == '/'             ? 63
				      : -1;
}

/* Standard base64 (padding optional) into a new buffer; -EINVAL on
 * anything else. */
static int b64_decode(const char *s, size_t len, unsigned char **ret, size_t *ret_len)
{
	unsigned char *out = malloc(len / 4 * 3 + 3);
	size_t n = 0;
	uint32_t acc = 0;
	unsigned bits = 0;

	if (!out)
		return -ENOMEM;
	while (len && s[len - 1] == '=')
		len--;
	for (size_t i = 0; i < len; i++) {
		int v = b64_value(s[i]);
		if (v < 0) {
			free(out);
			return -EINVAL;
		}
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	*ret = out;
	*ret_len = n;
	return 0;
}

/* Writes the reply's base64 member into the file an output argument named
 * (a temporary file renamed over it), and takes the member out of what is
 * shown. Returns 0, or 1 after saying why. */
static int write_output(const char *cmd, json_t *reply, const char *name, const char *path)
{
	json_t *v = json_object_get(reply, name);
	unsigned char *data = NULL;
	size_t len = 0;
	char *tmp = NULL;
	int fd = -1, r;

	if (!json_is_string(v)) {
		term_line(stderr, "scoutctl: %s: scoutd sent no %s to write to %s", cmd, name, path);
		return 1;
	}
	r = b64_decode(json_string_value(v), json_string_length(v), &data, &len);
	if (r < 0) {
		term_line(stderr, "scoutctl: %s: the %s scoutd sent is not base64", cmd, name);
		return 1;
	}
	tmp = strf("%s.tmp%ld", path, (long)getpid());
	if (!tmp)
		r = -ENOMEM;
	else if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) < 0)
		r = -errno;
	for (size_t off = 0; r == 0 && off < len;) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			r = -errno;
		else
			off += (size_t)w;
	}
	if (fd >= 0 && close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		term_line(stderr, "scoutctl: %s: cannot write %s: %s", cmd, path, strerror(-r));
		if (fd >= 0)
			unlink(tmp);
	}
	free(tmp);
	free(data);
	json_object_del(reply, name);
	return r < 0 ? 1 : 0;
}

/* One line of fd 0, without its newline, read a byte at a time so that
 * nothing past it is taken (the next secret's line) and no stdio buffer
 * keeps a copy. 0, -EMSGSIZE past size-1 bytes, -ENODATA at the end. */
static int read_line(char *buf, size_t size)
{
	size_t n = 0;
	for (;;) {
		char ch;
		ssize_t r = read(0, &ch, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (n == 0)
				return -ENODATA;
			break;
		}
		if (ch == '\n')
			break;
		if (n + 1 >= size) {
			explicit_bzero(buf, size);
			return -EMSGSIZE;
		}
		buf[n++] = ch;
	}
	if (n && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return 0;
}

/* Reads at the terminal with echo off (the line ends with Enter). */
static int read_hidden(const char *prompt, char *buf, size_t size)
{
	struct termios old, quiet;
	int r;

	fprintf(stderr, "%s: ", prompt);
	fflush(stderr);
	if (tcgetattr(0, &old) < 0)
		return -errno;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	quiet.c_lflag |= ECHONL;
	(void)tcsetattr(0, TCSAFLUSH, &quiet);
	r = read_line(buf, size);
	(void)tcsetattr(0, TCSAFLUSH, &old);
	return r;
}

#define SECRET_MAX 1024

/* Sets request[arg] to a secret typed at the terminal (twice when the
 * argument asks for confirmation), or the next line of stdin when stdin is
 * not a terminal. Returns 0, or 2 after saying why. */
static int read_secret(const char *cmd, json_t *arg, json_t *request)
{
	const char *name = str(arg, "name");
	char a[SECRET_MAX], b[SECRET_MAX];
	bool tty = isatty(0);
	int r;

	if (tty) {
		char prompt[160];
		snprintf(prompt, sizeof(prompt), "%s", otherwise(str(arg, "help"), name));
		r = read_hidden(prompt, a, sizeof(a));
		if (r == 0 && json_is_true(json_object_get(arg, "confirm"))) {
			r = read_hidden("again", b, sizeof(b));
			if (r == 0 && strcmp(a, b) != 0) {
				term_line(stderr, "scoutctl: %s: the two %s entries differ", cmd, name);
				r = -EINVAL;
			}
			explicit_bzero(b, sizeof(b));
		}
	} else {
		r = read_line(a, sizeof(a));
	}
	if (r == 0 && a[0] == '\0') {
		term_line(stderr, "scoutctl: %s: empty %s", cmd, name);
		r = -EINVAL;
	} else if (r == -ENODATA) {
		term_line(stderr, "scoutctl: %s: no %s on stdin (one line, or run it at a terminal)", cmd, name);
	} else if (r == -EMSGSIZE) {
		term_line(stderr, "scoutctl: %s: %s longer than %d bytes", cmd, name, SECRET_MAX - 1);
	} else if (r < 0 && r != -EINVAL) {
		term_line(stderr, "scoutctl: %s: cannot read %s: %s", cmd, name, strerror(-r));
	}
	if (r == 0)
		json_object_set_new(request, name, json_string(a));
	explicit_bzero(a, sizeof(a));
	return r == 0 ? 0 : 2;
}

/* Maps the words after the verb to request members by the declared
 * arguments, then reads the secrets it declares; --json sets *json.
 * Returns 0, or 2 after saying why. */
static int build_request(json_t *cmd, char **argv, int argc, json_t *request, json_t *outputs, bool *json,
			 int *timeout_ms)
{
	const char *name = str(cmd, "name");
	json_t *args = json_object_get(cmd, "args"), *a;
	size_t used = 0, i;

	for (int k = 0; k < argc; k++) {
		const char *w = argv[k];
		if (strcmp(w, "--json") == 0) {
			*json = true;
			continue;
		}
		if (strncmp(w, "--", 2) == 0) {
			const char *eq = strchr(w + 2, '=');
			size_t len = eq ? (size_t)(eq - w - 2) : strlen(w + 2);
			a = find_arg(cmd, w + 2, len);
			if (a && strcmp(arg_type(a), "secret") == 0) {
				term_line(stderr,
					  "scoutctl: %s: --%s is not taken on the command line (others could read it "
					  "there): it is asked for, or read from stdin",
					  name, str(a, "name"));
				return 2;
			}
			if (a && strcmp(arg_type(a), "flag") == 0 && !eq) {
				json_object_set_new(request, str(a, "name"), json_true());
				if (json_is_true(json_object_get(a, "no_timeout")))
					*timeout_ms = NO_TIMEOUT;
				continue;
			}
			if (a && strcmp(arg_type(a), "flag") != 0) {
				const char *value = eq ? eq + 1 : k + 1 < argc ? argv[++k] : NULL;
				if (!value) {
					term_line(stderr, "scoutctl: %s: --%s needs a value", name, str(a, "name"));
					return 2;
				}
				if (strcmp(arg_type(a), "output") == 0) {
					if (!*value) {
						term_line(stderr, "scoutctl: %s: --%s needs a file name", name,
							  str(a, "name"));
						return 2;
					}
					json_object_set_new(request, str(a, "name"), json_true());
					json_object_set_new(outputs, str(a, "name"), json_string(value));
					continue;
				}
				if (set_arg(request, a, value) < 0) {
					term_line(stderr, "scoutctl: %s: --%s: '%s' is not a number", name,
						  str(a, "name"), value);
					return 2;
				}
				continue;
			}
		} else if (w[0] != '-') {
			/* the next required argument, in declaration order */
			json_t *pos = NULL;
			size_t skip = used;
			json_array_foreach (args, i, a) {
				if (positional(a) && skip-- == 0) {
					pos = a;
					break;
				}
			}
			if (pos) {
				used++;
				if (set_arg(request, pos, w) < 0) {
					term_line(stderr, "scoutctl: %s: %s: '%s' is not a number", name,
						  str(pos, "name"), w);
					return 2;
				}
				continue;
			}
		}
		term_line(stderr, "scoutctl: %s: unexpected argument '%s'", name, w);
		return 2;
	}
	json_array_foreach (args, i, a) {
		if (strcmp(arg_type(a), "secret") == 0) {
			int r = read_secret(name, a, request);
			if (r)
				return r;
			continue;
		}
		if (json_is_true(json_object_get(a, "required")) && !json_object_get(request, str(a, "name"))) {
			term_line(stderr, "scoutctl: %s: which one? give %s", name,
				  otherwise(str(a, "help"), str(a, "name")));
			return 2;
		}
	}
	return 0;
}

/* The core's renderers: status, metrics and reload are the agent's, not a
 * module's; everything else is rendered from its declaration. */
static int render(const char *name, json_t *reply, json_t *cmd, bool json)
{
	if (!json_is_true(json_object_get(reply, "ok"))) {
		if (strcmp(name, "reload") == 0 && json_is_object(json_object_get(reply, "reload"))) {
			json_t *r = json_object_get(reply, "reload"), *v;
			size_t i;
			/* refusals are among the errors, one line each */
			if (json_array_size(json_object_get(r, "refused")))
				fprintf(stderr,
					"scoutctl: reload not applied in full: the modules below refused it and "
					"keep their previous configuration:\n");
			else
				fprintf(stderr,
					"scoutctl: reload rejected; scoutd keeps running on the previous configuration:\n");
			json_array_foreach (json_object_get(r, "errors"), i, v)
				term_line(stderr, "  %s", otherwise(json_string_value(v), "?"));
			return 1;
		}
		return error_reply(reply);
	}
	if (strcmp(name, "metrics") == 0 && !json) {
		fputs(otherwise(str(reply, "metrics"), ""), stdout);
	} else if (json) {
		/* a reply with one member named after the command: that member */
		json_t *body = json_incref(reply);
		json_object_del(body, "ok");
		if (json_object_size(body) == 1 && json_object_get(body, name)) {
			json_t *inner = json_incref(json_object_get(body, name));
			json_decref(body);
			body = inner;
		}
		char *text = json_dumps(body, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
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
		json_array_foreach (json_object_get(json_object_get(reply, "reload"), "notes"), i, v)
			term_line(stdout, "  note: %s", otherwise(json_string_value(v), "?"));
	} else if (strcmp(name, "help") == 0) {
		print_help(stdout, json_object_get(reply, "help"));
	} else {
		print_generic(reply, cmd);
	}
	return 0;
}

/* The command named by the first one or two words: "vault init" before
 * "vault". *ret_words says how many it took. */
static json_t *match_command(json_t *cmds, char **words, int nwords, int *ret_words)
{
	json_t *k, *one = NULL;
	size_t i, len0 = strlen(words[0]);

	json_array_foreach (cmds, i, k) {
		const char *name = otherwise(str(k, "name"), "");
		if (strcmp(name, words[0]) == 0)
			one = k;
		else if (nwords > 1 && strncmp(name, words[0], len0) == 0 && name[len0] == ' ' &&
			 strcmp(name + len0 + 1, words[1]) == 0) {
			*ret_words = 2;
			return k;
		}
	}
	*ret_words = 1;
	return one;
}

/* The daemon's commands ({"cmd":"help"}), in *ret_help (caller frees), and
 * the one the words name in it (borrowed from it; *ret_words words).
 * Returns 0, or the exit code after saying why. */
static int find_command(const char *path, char **words, int nwords, json_t **ret_help, json_t **ret_cmd, int *ret_words)
{
	const char *verb = words[0];
	json_t *help_req = json_pack("{s:s}", "cmd", "help");
	json_t *help = call(path, help_req, TIMEOUT_MS);
	json_t *cmds, *cmd;
	int rc;

	json_decref(help_req);
	if (!json_is_true(json_object_get(help, "ok"))) {
		rc = error_reply(help);
		json_decref(help);
		return rc;
	}
	cmds = json_object_get(help, "help");
	cmd = match_command(cmds, words, nwords, ret_words);
	if (!cmd) {
		term_line(stderr, "scoutctl: unknown command '%s'", verb);
		usage(stderr);
		fprintf(stderr, "\n");
		print_help(stderr, cmds);
		json_decref(help);
		return 2;
	}
	*ret_help = help;
	*ret_cmd = cmd;
	return 0;
}

/* Sends cmd with the arguments in argv and renders its reply; returns the
 * exit code. */
static int run_command(const char *path, json_t *help, json_t *cmd, char **argv, int argc, bool json)
{
	const char *name = str(cmd, "name");
	json_t *request = json_pack("{s:s}", "cmd", name), *outputs = json_object(), *reply, *v;
	int timeout_ms = json_is_true(json_object_get(cmd, "no_timeout")) ? NO_TIMEOUT : TIMEOUT_MS, rc, wrc = 0;
	const char *key;

	rc = build_request(cmd, argv, argc, request, outputs, &json, &timeout_ms);
	if (rc) {
		json_decref(request);
		json_decref(outputs);
		return rc;
	}
	if (strcmp(name, "help") == 0)
		reply = json_incref(help);
	else
		reply = call(path, request, timeout_ms);
	json_decref(request);
	if (json_is_true(json_object_get(reply, "ok")))
		json_object_foreach (outputs, key, v)
			wrc |= write_output(name, reply, key, json_string_value(v));
	json_decref(outputs);
	rc = render(name, reply, cmd, json);
	json_decref(reply);
	return rc ? rc : wrc;
}

/* Output that did not all reach stdout is not a success. */
static int check_output(int rc)
{
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	const char *path = NULL;
	bool json = false;
	json_t *help = NULL, *cmd = NULL;
	int c, rc;

	/* only for wcwidth(): the replies are UTF-8 whatever the user's locale,
	 * and table columns are counted in what a UTF-8 terminal shows */
	scout_json_wipe_frees(); /* requests may hold a secret */
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
	if (!path)
		path = default_socket();
	int words = 1;

	/* the daemon's commands, then the one asked for */
	if ((rc = find_command(path, argv + optind, argc - optind, &help, &cmd, &words)) != 0)
		return rc;
	optind += words;
	rc = run_command(path, help, cmd, argv + optind, argc - optind, json);
	json_decref(help);
	return check_output(rc);
}
