/* scoutctl: the operator's client of scoutd's status socket. Sends one
 * newline-delimited JSON request, reads one reply line and renders it for
 * people (aligned tables) or, with --json, prints it for machines.
 * Exit codes: 0 success, 1 error reply, 2 cannot connect or usage. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

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

/* Sends request and returns the parsed reply, or exits 2 naming the path. */
static json_t *call(const char *path, json_t *request, int timeout_ms)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char *line, *buf = NULL;
	size_t len = 0, cap = 0;
	json_error_t jerr;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "scoutctl: %s: path too long for a unix socket\n", path);
		exit(2);
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "scoutctl: cannot connect to %s: %s (is scoutd running? use -s PATH)\n", path,
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
			fprintf(stderr, "scoutctl: %s: write failed: %s\n", path, strerror(errno));
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
			fprintf(stderr, "scoutctl: %s: no reply within %d s\n", path, timeout_ms / 1000);
			free(buf);
			exit(2);
		}
		if (pr < 0 && errno == EINTR)
			continue;
		if (len + 65536 > cap) {
			cap = cap ? cap * 2 : 131072;
			char *nb = cap > MAX_REPLY + 65536 ? NULL : realloc(buf, cap);
			if (!nb) {
				fprintf(stderr, "scoutctl: %s: reply too large\n", path);
				free(buf);
				exit(2);
			}
			buf = nb;
		}
		ssize_t r = recv(fd, buf + len, cap - len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "scoutctl: %s: connection closed before a reply\n", path);
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
		fprintf(stderr, "scoutctl: %s: malformed reply: %s\n", path, jerr.text);
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

	fprintf(stderr, "scoutctl: %s%s%s%s\n", msg ? msg : "request failed", code ? " (" : "", code ? code : "",
		code ? ")" : "");
	return 1;
}

/* ---- tables ------------------------------------------------------------ */

#define MAX_COLS 8
#define MAX_ROWS 256

struct table {
	size_t ncols, nrows;
	char *cell[MAX_ROWS][MAX_COLS];
};

static void row(struct table *t, ...)
{
	va_list ap;

	if (t->nrows == MAX_ROWS)
		return;
	va_start(ap, t);
	for (size_t c = 0; c < t->ncols; c++) {
		const char *s = va_arg(ap, const char *);
		t->cell[t->nrows][c] = strdup(s ? s : "-");
	}
	va_end(ap);
	t->nrows++;
}

static void print_table(struct table *t)
{
	size_t w[MAX_COLS] = {0};

	for (size_t r = 0; r < t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++)
			if (strlen(t->cell[r][c]) > w[c])
				w[c] = strlen(t->cell[r][c]);
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			if (c + 1 == t->ncols)
				printf("%s\n", t->cell[r][c]);
			else
				printf("%-*s  ", (int)w[c], t->cell[r][c]);
			free(t->cell[r][c]);
		}
	}
	t->nrows = 0;
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

static void print_status(json_t *st)
{
	char a[64], b[64], c[64], d[64], e[64], f[64];
	struct table t = {.ncols = 2};
	json_t *store = json_object_get(st, "store"), *reload = json_object_get(st, "reload");
	json_t *last = json_object_get(reload, "last"), *v, *m;
	const char *k;
	size_t i;

	snprintf(a, sizeof(a), "%s", str(st, "version") ? str(st, "version") : "?");
	row(&t, "version", a);
	row(&t, "pid", num(json_object_get(st, "pid"), b, sizeof(b)));
	row(&t, "uptime", duration(json_object_get(st, "uptime_s"), c, sizeof(c)));
	row(&t, "config", str(st, "config"));
	row(&t, "state_dir", str(st, "state_dir"));
	row(&t, "socket", str(st, "status_socket"));
	row(&t, "log_level", str(st, "log_level"));
	row(&t, "memory", bytes(json_object_get(st, "rss_bytes"), d, sizeof(d)));
	char storeline[256];
	snprintf(storeline, sizeof(storeline), "%s used, map %s, max %s", bytes(json_object_get(store, "used_bytes"), e, sizeof(e)),
		 bytes(json_object_get(store, "map_bytes"), f, sizeof(f)), bytes(json_object_get(store, "max_bytes"), a, sizeof(a)));
	row(&t, "store", storeline);
	char runline[128];
	snprintf(runline, sizeof(runline), "%s (start #%s)", str(st, "previous_run") ? str(st, "previous_run") : "?",
		 num(json_object_get(st, "starts"), b, sizeof(b)));
	row(&t, "previous run", runline);
	char rl[512];
	if (json_is_object(last)) {
		json_t *errs = json_object_get(last, "errors");
		if (json_array_size(errs))
			snprintf(rl, sizeof(rl), "%s FAILED, %zu problem%s (still on the previous config)", str(last, "time"),
				 json_array_size(errs), json_array_size(errs) == 1 ? "" : "s");
		else
			snprintf(rl, sizeof(rl), "%s ok", str(last, "time"));
	} else {
		snprintf(rl, sizeof(rl), "none");
	}
	row(&t, "last reload", rl);
	print_table(&t);
	if (json_is_object(last))
		json_array_foreach(json_object_get(last, "errors"), i, v) printf("  %s\n", json_string_value(v));

	printf("\n");
	t = (struct table){.ncols = 5};
	row(&t, "MODULE", "ENABLED", "STATE", "UPTIME", "DETAIL");
	json_array_foreach(json_object_get(st, "modules"), i, m)
	{
		char detail[256] = "";
		json_t *ok = json_object_get(m, "ok");
		if (str(m, "reason"))
			snprintf(detail, sizeof(detail), "%s", str(m, "reason"));
		else if (str(m, "detail"))
			snprintf(detail, sizeof(detail), "%s", str(m, "detail"));
		else if (json_is_boolean(ok))
			snprintf(detail, sizeof(detail), "%s%s", json_is_true(ok) ? "ok" : "degraded: ",
				 json_is_true(ok) ? "" : json_string_value(json_array_get(json_object_get(m, "problems"), 0)));
		row(&t, str(m, "name"), json_is_true(json_object_get(m, "enabled")) ? "yes" : "no", str(m, "state"),
		    duration(json_object_get(m, "uptime_s"), a, sizeof(a)), detail[0] ? detail : "-");
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

static const char *num_s(json_t *v, char *buf, size_t size)
{
	return num(v, buf, size);
}

/* The supply with the least left, as "Cyan Toner 12%". */
static void lowest_supply(json_t *dev, char *out, size_t size)
{
	json_t *s, *best = NULL;
	size_t i;

	snprintf(out, size, "-");
	json_array_foreach(json_object_get(dev, "supplies"), i, s)
	{
		json_t *p = json_object_get(s, "level_percent");
		if (json_is_integer(p) && (!best || json_integer_value(p) < json_integer_value(json_object_get(best, "level_percent"))))
			best = s;
	}
	if (best) {
		const char *name = str(best, "description") ? str(best, "description") : str(best, "colorant");
		snprintf(out, size, "%.32s %" JSON_INTEGER_FORMAT "%%", name ? name : (str(best, "kind") ? str(best, "kind") : "supply"),
			 json_integer_value(json_object_get(best, "level_percent")));
	}
}

static void print_devices(json_t *reply)
{
	struct table t = {.ncols = 7};
	json_t *d;
	size_t i;
	char pages[32], low[64];

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
		lowest_supply(d, low, sizeof(low));
		row(&t, str(d, "ip"), str(d, "manufacturer"), str(d, "model"), str(d, "serial"), status,
		    num_s(json_object_get(json_object_get(d, "meters"), "total"), pages, sizeof(pages)), low);
	}
	print_table(&t);
}

static void print_device(json_t *reply)
{
	json_t *d = json_object_get(reply, "device"), *v;
	struct table t = {.ncols = 2};
	size_t i;
	char buf[512];
	static const char *const fields[] = {"ip", "manufacturer", "model", "serial", "mac", "firmware", "location",
					     "asset", "name", "description", "display", "first_seen", "last_seen", NULL};

	for (const char *const *f = fields; *f; f++)
		if (str(d, *f))
			row(&t, *f, str(d, *f));
	if (json_is_boolean(json_object_get(d, "color")))
		row(&t, "color", json_is_true(json_object_get(d, "color")) ? "yes" : "no");
	json_t *st = json_object_get(d, "status");
	if (st) {
		snprintf(buf, sizeof(buf), "device %s, printer %s", str(st, "device") ? str(st, "device") : "-",
			 str(st, "printer") ? str(st, "printer") : "-");
		row(&t, "status", buf);
	}
	if (json_is_array(json_object_get(d, "errors"))) {
		size_t k = 0;
		buf[0] = 0;
		json_array_foreach(json_object_get(d, "errors"), i, v)
			k += (size_t)snprintf(buf + k, k < sizeof(buf) ? sizeof(buf) - k : 0, "%s%s", i ? ", " : "",
					      json_string_value(v));
		row(&t, "errors", buf[0] ? buf : "none");
	}
	json_t *m = json_object_get(d, "meters");
	if (m) {
		char a[24], b[24], c[24];
		snprintf(buf, sizeof(buf), "total %s, mono %s, color %s", num(json_object_get(m, "total"), a, 24),
			 num(json_object_get(m, "mono"), b, 24), num(json_object_get(m, "color"), c, 24));
		row(&t, "meters", buf);
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
			char level[32], raw[64], l[24], x[24];
			if (json_is_integer(json_object_get(v, "level_percent")))
				snprintf(level, sizeof(level), "%" JSON_INTEGER_FORMAT "%%",
					 json_integer_value(json_object_get(v, "level_percent")));
			else
				snprintf(level, sizeof(level), "%s", str(v, "level_state") ? str(v, "level_state") : "-");
			snprintf(raw, sizeof(raw), "%s/%s %s", num(json_object_get(v, "level"), l, 24),
				 num(json_object_get(v, "max"), x, 24), str(v, "unit") ? str(v, "unit") : "");
			row(&t, str(v, "description"), str(v, "kind"), str(v, "colorant"), level, raw);
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
		fprintf(stderr, "scoutctl: unknown command '%s'\n", argv[optind]);
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
			fprintf(stderr, "scoutctl: %s: unexpected argument '%s'\n", cmd->name, a);
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
				fprintf(stderr, "  %s\n", json_string_value(v));
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
		printf("%s\n", text);
		free(text);
		json_decref(body);
	} else if (strcmp(name, "status") == 0) {
		print_status(json_object_get(reply, "status"));
	} else if (strcmp(name, "reload") == 0) {
		json_t *v;
		size_t i;
		printf("reload applied\n");
		json_array_foreach(json_object_get(json_object_get(reply, "reload"), "notes"), i, v)
			printf("  note: %s\n", json_string_value(v));
	} else if (strcmp(name, "version") == 0) {
		printf("scoutd %s\n", str(reply, "version"));
	} else if (strcmp(name, "scan") == 0) {
		print_scan(reply);
	} else if (strcmp(name, "devices") == 0) {
		print_devices(reply);
	} else if (strcmp(name, "device") == 0) {
		print_device(reply);
	}
	json_decref(reply);
	return rc;
}
