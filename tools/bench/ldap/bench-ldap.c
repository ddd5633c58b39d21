/* bench-ldap: password logins against a directory, for tools/bench/ldap/run.
 *
 *   bench-ldap direct --uri ldaps://127.0.0.1:PORT --ca FILE --bind-dn DN
 *                     --bind-pw-file FILE --base DN [--filter TMPL]
 *                     [--starttls] --users N --password-prefix P
 *                     [--logins N] [--concurrency C] [--wrong]
 *   bench-ldap scout  --socket PATH --users N --password-prefix P
 *                     [--logins N] [--concurrency C] [--wrong]
 *
 * direct: what an application that connects anew for every login costs
 * (`ldapwhoami`-style): for each login a fresh connection (TCP + TLS, LDAPS
 * or StartTLS, the server's certificate checked against --ca), a simple bind
 * as the service account, a search for the user with the filter template
 * (%u = the user's name, RFC 4515-escaped; default the template scout's
 * [ldap] schema = openldap uses), a simple bind as the entry found with the
 * user's password, an unbind. Synchronous libldap calls, one connection per
 * worker thread at a time.
 *
 * scout: the same logins through scoutd's status socket, one connection per
 * worker kept open for the run: {"cmd":"auth test","user":U,"password":P}
 * (what `scoutctl auth test U` sends; --cmd "users test" asks the users
 * module instead), one request at a time per connection.
 *
 * Users are u0 .. u(N-1), login i is user u(i mod N) with the password
 * P followed by i mod N in decimal. C workers (threads) take logins from one
 * counter, so C logins are in flight at once; they start together (scout:
 * with their connections open), when the clock starts. --wrong appends "x"
 * to every password: then every login must be refused. scout: a reply with
 * result "unavailable" (scoutd's "too many password checks at once") is
 * counted as busy, apart from the rest: a failure unless --allow-busy.
 *
 * Prints one JSON object on stdout: logins answered (accepted, refused,
 * errors; busy ones apart), the wall time, logins answered per second, this
 * process's CPU time (getrusage, every thread) per login answered, the
 * latency of one answered login (p50, p90, p99 by nearest rank, max, in ms)
 * and the first failure's text. Exit 0 when every login came out as expected
 * (accepted; refused with --wrong), 1 otherwise, 2 on a usage error. */
#define LDAP_DEPRECATED 0
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <lber.h>
#include <ldap.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

enum outcome { OUT_ACCEPTED, OUT_REFUSED, OUT_BUSY, OUT_ERROR };

static struct {
	bool scout;
	const char *uri, *ca, *bind_dn, *base, *filter, *socket, *pwprefix, *cmd;
	char bind_pw[256];
	bool starttls, wrong, allow_busy;
	unsigned users, logins, concurrency;
} opt = {
	.filter = "(&(objectClass=inetOrgPerson)(uid=%u))",
	.cmd = "auth test",
	.logins = 1000,
	.concurrency = 100,
};

static atomic_uint next_login;
static uint64_t *lat_ns; /* one slot per login */
static atomic_uint n_accepted, n_refused, n_busy, n_errors, n_lat;
static pthread_mutex_t first_lock = PTHREAD_MUTEX_INITIALIZER;
static char first_failure[512];

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void note_failure(unsigned i, const char *what, const char *detail)
{
	pthread_mutex_lock(&first_lock);
	if (!first_failure[0])
		snprintf(first_failure, sizeof(first_failure), "u%u: %s%s%.400s", i % opt.users, what,
			 detail ? ": " : "", detail ? detail : "");
	pthread_mutex_unlock(&first_lock);
}

static void password_of(unsigned u, char *buf, size_t size)
{
	snprintf(buf, size, "%s%u%s", opt.pwprefix, u, opt.wrong ? "x" : "");
}

/* RFC 4515: the five characters a value may not carry bare. */
static void filter_escape(const char *in, char *out, size_t size)
{
	size_t o = 0;

	for (; *in && o + 4 < size; in++) {
		if (strchr("*()\\", *in))
			o += (size_t)snprintf(out + o, size - o, "\\%02x", (unsigned char)*in);
		else
			out[o++] = *in;
	}
	out[o] = 0;
}

static void expand_filter(const char *name, char *out, size_t size)
{
	char esc[256];
	size_t o = 0;

	filter_escape(name, esc, sizeof(esc));
	for (const char *t = opt.filter; *t && o + 1 < size; t++) {
		if (t[0] == '%' && t[1] == 'u') {
			o += (size_t)snprintf(out + o, size - o, "%s", esc);
			t++;
		} else {
			out[o++] = *t;
		}
	}
	out[o < size ? o : size - 1] = 0;
}

static int simple_bind(LDAP *ld, const char *dn, const char *pw)
{
	struct berval cred = {.bv_val = (char *)pw, .bv_len = strlen(pw)};

	return ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
}

/* One login with a fresh connection. */
static enum outcome login_direct(unsigned i)
{
	char name[32], pw[128], filter[512];
	char *attrs[] = {"uid", "displayName", "cn", "mail", NULL};
	LDAPMessage *res = NULL;
	LDAP *ld = NULL;
	enum outcome out = OUT_ERROR;
	int version = LDAP_VERSION3, r;
	char *dn = NULL;

	snprintf(name, sizeof(name), "u%u", i % opt.users);
	password_of(i % opt.users, pw, sizeof(pw));
	expand_filter(name, filter, sizeof(filter));

	r = ldap_initialize(&ld, opt.uri);
	if (r != LDAP_SUCCESS) {
		note_failure(i, "ldap_initialize", ldap_err2string(r));
		return OUT_ERROR;
	}
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &version);
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	if (opt.starttls) {
		r = ldap_start_tls_s(ld, NULL, NULL);
		if (r != LDAP_SUCCESS) {
			note_failure(i, "StartTLS", ldap_err2string(r));
			goto out;
		}
	}
	r = simple_bind(ld, opt.bind_dn, opt.bind_pw);
	if (r != LDAP_SUCCESS) {
		note_failure(i, "service bind", ldap_err2string(r));
		goto out;
	}
	r = ldap_search_ext_s(ld, opt.base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL, NULL, NULL, 2, &res);
	if (r != LDAP_SUCCESS) {
		note_failure(i, "search", ldap_err2string(r));
		goto out;
	}
	if (ldap_count_entries(ld, res) != 1) {
		note_failure(i, "search: not exactly one entry", NULL);
		goto out;
	}
	dn = ldap_get_dn(ld, ldap_first_entry(ld, res));
	if (!dn) {
		note_failure(i, "search: entry without a DN", NULL);
		goto out;
	}
	r = simple_bind(ld, dn, pw);
	if (r == LDAP_SUCCESS) {
		out = OUT_ACCEPTED;
	} else if (r == LDAP_INVALID_CREDENTIALS) {
		out = OUT_REFUSED;
	} else {
		note_failure(i, "user bind", ldap_err2string(r));
	}
out:
	ldap_memfree(dn);
	ldap_msgfree(res);
	ldap_unbind_ext_s(ld, NULL, NULL);
	explicit_bzero(pw, sizeof(pw));
	return out;
}

/* A status-socket connection kept by one worker. */
struct sconn {
	int fd;
	char buf[65536];
	size_t len; /* bytes in buf */
};

static int sconn_open(struct sconn *c)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	c->len = 0;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", opt.socket);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(c->fd);
		c->fd = -1;
		return -e;
	}
	return 0;
}

static void sconn_close(struct sconn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Sends one line, reads one reply line into c->buf (NUL-terminated). */
static int sconn_request(struct sconn *c, const char *line, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = send(c->fd, line + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EPIPE;
		off += (size_t)n;
	}
	c->len = 0;
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		if (nl) {
			*nl = 0;
			return 0;
		}
		if (c->len + 1 >= sizeof(c->buf))
			return -E2BIG;
		ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		c->len += (size_t)n;
	}
}

/* The reply of `auth test`: {"ok":true, "result":"accepted", ...} for a
 * good password; a refusal is ok:true with the reason as result, or (should
 * the command answer so) ok:false with an error. */
static enum outcome classify_reply(unsigned i, const char *line)
{
	json_error_t e;
	json_t *r = json_loads(line, 0, &e);
	enum outcome out = OUT_ERROR;

	if (!r) {
		note_failure(i, "reply is not JSON", line);
		return OUT_ERROR;
	}
	json_t *ok = json_object_get(r, "ok"), *result = json_object_get(r, "result");
	if (json_is_true(ok) && json_is_string(result)) {
		const char *v = json_string_value(result);
		out = strcmp(v, "accepted") == 0      ? OUT_ACCEPTED
		      : strcmp(v, "unavailable") == 0 ? OUT_BUSY
						      : OUT_REFUSED;
	} else if (json_is_true(ok) && json_is_boolean(json_object_get(r, "accepted"))) {
		out = json_is_true(json_object_get(r, "accepted")) ? OUT_ACCEPTED : OUT_REFUSED;
	}
	if (out == OUT_ERROR || (out == OUT_BUSY && !opt.allow_busy) ||
	    (out != OUT_BUSY && (out == OUT_ACCEPTED) == opt.wrong))
		note_failure(i, "status socket answered", line);
	json_decref(r);
	return out;
}

static enum outcome login_scout(struct sconn *c, unsigned i)
{
	char name[32], pw[128], line[512];
	enum outcome out;
	int n, r;

	if (c->fd < 0 && (r = sconn_open(c)) < 0) {
		note_failure(i, "status socket connect", strerror(-r));
		return OUT_ERROR;
	}
	snprintf(name, sizeof(name), "u%u", i % opt.users);
	password_of(i % opt.users, pw, sizeof(pw));
	/* names and passwords here are plain ASCII: no JSON escaping needed */
	n = snprintf(line, sizeof(line), "{\"cmd\":\"%s\",\"user\":\"%s\",\"password\":\"%s\"}\n", opt.cmd, name, pw);
	r = sconn_request(c, line, (size_t)n);
	explicit_bzero(line, sizeof(line));
	explicit_bzero(pw, sizeof(pw));
	if (r < 0) {
		note_failure(i, "status socket", strerror(-r));
		sconn_close(c);
		return OUT_ERROR;
	}
	out = classify_reply(i, c->buf);
	if (out == OUT_ERROR)
		sconn_close(c); /* scoutd closes after an error reply: the next login connects anew */
	return out;
}

/* Workers wait at the gate until every one is ready (its status-socket
 * connection open): the clock starts with all of them at once. */
static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static unsigned gate_ready;
static bool gate_open;

static void *worker(void *arg)
{
	struct sconn *c = opt.scout ? calloc(1, sizeof(*c)) : NULL;

	(void)arg;
	if (c && sconn_open(c) < 0)
		c->fd = -1; /* the first login tries again and says why */
	pthread_mutex_lock(&gate_lock);
	gate_ready++;
	pthread_cond_broadcast(&gate_cond);
	while (!gate_open)
		pthread_cond_wait(&gate_cond, &gate_lock);
	pthread_mutex_unlock(&gate_lock);
	for (;;) {
		unsigned i = atomic_fetch_add(&next_login, 1);
		if (i >= opt.logins)
			break;
		uint64_t t0 = now_ns();
		enum outcome o = opt.scout ? login_scout(c, i) : login_direct(i);
		uint64_t dt = now_ns() - t0;
		if (o != OUT_BUSY)
			lat_ns[atomic_fetch_add(&n_lat, 1)] = dt;
		if (o == OUT_ACCEPTED)
			atomic_fetch_add(&n_accepted, 1);
		else if (o == OUT_REFUSED)
			atomic_fetch_add(&n_refused, 1);
		else if (o == OUT_BUSY)
			atomic_fetch_add(&n_busy, 1);
		else
			atomic_fetch_add(&n_errors, 1);
	}
	if (c) {
		sconn_close(c);
		free(c);
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest rank. */
static double pct_ms(const uint64_t *sorted, size_t n, unsigned p)
{
	size_t k = (n * p + 99) / 100;

	return n ? (double)sorted[k ? k - 1 : 0] / 1e6 : 0;
}

static double rusage_cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

static int read_pw_file(const char *path)
{
	FILE *f = fopen(path, "re");
	size_t n;

	if (!f) {
		fprintf(stderr, "bench-ldap: %s: %s\n", path, strerror(errno));
		return -errno;
	}
	if (!fgets(opt.bind_pw, sizeof(opt.bind_pw), f))
		opt.bind_pw[0] = 0;
	fclose(f);
	n = strcspn(opt.bind_pw, "\r\n");
	opt.bind_pw[n] = 0;
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: bench-ldap direct --uri URI --ca FILE --bind-dn DN --bind-pw-file FILE --base DN\n"
			"                  [--filter TMPL] [--starttls] --users N --password-prefix P\n"
			"                  [--logins N] [--concurrency C] [--wrong]\n"
			"       bench-ldap scout --socket PATH --users N --password-prefix P\n"
			"                  [--logins N] [--concurrency C] [--wrong] [--cmd \"users test\"]\n"
			"                  [--allow-busy]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"uri", required_argument, NULL, 'U'},     {"ca", required_argument, NULL, 'A'},
		{"bind-dn", required_argument, NULL, 'D'}, {"bind-pw-file", required_argument, NULL, 'y'},
		{"base", required_argument, NULL, 'b'},    {"filter", required_argument, NULL, 'f'},
		{"starttls", no_argument, NULL, 'Z'},      {"socket", required_argument, NULL, 's'},
		{"users", required_argument, NULL, 'u'},   {"password-prefix", required_argument, NULL, 'p'},
		{"logins", required_argument, NULL, 'n'},  {"concurrency", required_argument, NULL, 'c'},
		{"wrong", no_argument, NULL, 'w'},         {"cmd", required_argument, NULL, 'C'},
		{"allow-busy", no_argument, NULL, 'B'},    {0},
	};
	const char *pwfile = NULL;
	int c;

	if (argc < 2)
		usage();
	if (strcmp(argv[1], "scout") == 0)
		opt.scout = true;
	else if (strcmp(argv[1], "direct") != 0)
		usage();
	optind = 2;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'U':
			opt.uri = optarg;
			break;
		case 'A':
			opt.ca = optarg;
			break;
		case 'D':
			opt.bind_dn = optarg;
			break;
		case 'y':
			pwfile = optarg;
			break;
		case 'b':
			opt.base = optarg;
			break;
		case 'f':
			opt.filter = optarg;
			break;
		case 'Z':
			opt.starttls = true;
			break;
		case 's':
			opt.socket = optarg;
			break;
		case 'u':
			opt.users = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'p':
			opt.pwprefix = optarg;
			break;
		case 'n':
			opt.logins = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'c':
			opt.concurrency = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'w':
			opt.wrong = true;
			break;
		case 'C':
			opt.cmd = optarg;
			break;
		case 'B':
			opt.allow_busy = true;
			break;
		default:
			usage();
		}
	}
	if (!opt.users || !opt.pwprefix || !opt.logins || !opt.concurrency || opt.concurrency > 4096)
		usage();
	if (opt.scout ? !opt.socket : !opt.uri || !opt.ca || !opt.bind_dn || !pwfile || !opt.base)
		usage();
	if (pwfile && read_pw_file(pwfile) < 0)
		return 2;
	if (!opt.scout) {
		/* one TLS context for the process, as a long-running client would
		 * keep: each login still makes its own connection and handshake */
		int req = LDAP_OPT_X_TLS_HARD, zero = 0;
		ldap_set_option(NULL, LDAP_OPT_X_TLS_CACERTFILE, opt.ca);
		ldap_set_option(NULL, LDAP_OPT_X_TLS_REQUIRE_CERT, &req);
		ldap_set_option(NULL, LDAP_OPT_X_TLS_NEWCTX, &zero);
	}
	if (opt.concurrency > opt.logins)
		opt.concurrency = opt.logins;
	lat_ns = calloc(opt.logins, sizeof(*lat_ns));
	pthread_t *th = calloc(opt.concurrency, sizeof(*th));
	if (!lat_ns || !th)
		return 2;

	unsigned started = 0;
	for (; started < opt.concurrency; started++) {
		pthread_attr_t at;
		pthread_attr_init(&at);
		pthread_attr_setstacksize(&at, 256 * 1024);
		int r = pthread_create(&th[started], &at, worker, NULL);
		pthread_attr_destroy(&at);
		if (r != 0) {
			fprintf(stderr, "bench-ldap: pthread_create: %s\n", strerror(r));
			break;
		}
	}
	pthread_mutex_lock(&gate_lock);
	while (gate_ready < started)
		pthread_cond_wait(&gate_cond, &gate_lock);
	double cpu0 = rusage_cpu_s();
	uint64_t t0 = now_ns();
	gate_open = true;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_lock);
	for (unsigned i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	double secs = (double)(now_ns() - t0) / 1e9;
	double cpu = rusage_cpu_s() - cpu0;
	explicit_bzero(opt.bind_pw, sizeof(opt.bind_pw));

	/* a login refused as busy did not check anything: it is counted apart
	 * and in neither the rate nor the latencies */
	unsigned busy = atomic_load(&n_busy), done = atomic_load(&n_lat);
	qsort(lat_ns, done, sizeof(*lat_ns), cmp_u64);
	json_t *o = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:s}",
			      "mode", opt.scout ? "scout" : "direct", "logins", (json_int_t)done, "concurrency",
			      (json_int_t)started, "accepted", (json_int_t)atomic_load(&n_accepted), "refused",
			      (json_int_t)atomic_load(&n_refused), "busy", (json_int_t)busy, "errors",
			      (json_int_t)atomic_load(&n_errors), "seconds", secs, "logins_per_s",
			      done ? done / secs : 0.0, "cpu_s", cpu, "cpu_per_login_ms", done ? cpu * 1e3 / done : 0.0,
			      "p50_ms", pct_ms(lat_ns, done, 50), "p90_ms", pct_ms(lat_ns, done, 90), "p99_ms",
			      pct_ms(lat_ns, done, 99), "max_ms", pct_ms(lat_ns, done, 100), "first_failure",
			      first_failure);
	char *s = json_dumps(o, JSON_COMPACT);
	puts(s);
	free(s);
	json_decref(o);
	free(lat_ns);
	free(th);
	bool good = done + busy == opt.logins && (opt.allow_busy || busy == 0) && atomic_load(&n_errors) == 0 &&
		    (opt.wrong ? atomic_load(&n_accepted) == 0 : atomic_load(&n_refused) == 0);
	return good ? 0 : 1;
}
