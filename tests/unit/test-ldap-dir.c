/* The directory client (ldir) against real slapd instances this test
 * starts: one with LDAPS and StartTLS under a test CA made with openssl,
 * one without TLS. Covers search and bind, a wrong password (49, final,
 * not retried elsewhere), fail-over from a server that is down, a server
 * that accepts TCP and never answers (-ETIMEDOUT within the timeout while
 * the loop keeps turning), a wrong CA (-EPROTO naming the certificate
 * check), StartTLS, and plain LDAP with allow_plaintext (search yes, bind
 * -EPERM). Skips, saying so, when slapd, slapadd or openssl is missing.
 * SLAPD, SLAPADD and SLAPD_SCHEMA come from meson. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <ldap.h>

#include "loop/closer.h"
#include "loop/work.h"
#include "loop-wait.h"
#include "modules/ldap/ldir.h"

#define BASE "dc=scout,dc=test"
#define ALICE "uid=alice,ou=people," BASE
#define SVC "cn=svc," BASE

static char dir[256];
static bool have_peers;
static const char *skip_reason = "";
static pid_t slapd_tls = -1, slapd_plain = -1;
static int port_ldap, port_ldaps, port_plain, port_down, port_silent;
static int silent_fd = -1;
static char ca_file[300], wrong_ca[300];

/* ---- peers ------------------------------------------------------------- */

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* A server that accepts TCP (the kernel completes the handshake into the
 * backlog) and never says a word: nobody calls accept(). */
static int silent_listener(int *ret_port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 64), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*ret_port = ntohs(a.sin_port);
	return fd;
}

static bool can_connect(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	bool ok;

	a.sin_port = htons((uint16_t)port);
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	r = system(cmd);
	return WIFEXITED(r) ? WEXITSTATUS(r) : -1;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* A CA, a server certificate for 127.0.0.1 under it, and another CA the
 * server's certificate does not chain to. */
static bool make_certs(void)
{
	return sh("cd %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key "
		  "-out ca.pem -days 2 -subj '/CN=scout test CA' -addext basicConstraints=critical,CA:TRUE "
		  "-addext keyUsage=keyCertSign,cRLSign 2>/dev/null >&2 &&"
		  "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout wrong.key "
		  "-out wrong.pem -days 2 -subj '/CN=scout wrong CA' -addext basicConstraints=critical,CA:TRUE "
		  "2>/dev/null >&2 &&"
		  "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -out srv.csr "
		  "-subj '/CN=127.0.0.1' 2>/dev/null >&2 &&"
		  "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' > srv.ext &&"
		  "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 2 "
		  "-extfile srv.ext 2>/dev/null >&2",
		  dir) == 0;
}

static bool make_slapd(const char *name, bool tls)
{
	const char *schema = getenv("SLAPD_SCHEMA") ? getenv("SLAPD_SCHEMA") : "/etc/ldap/schema";
	const char *slapadd = getenv("SLAPADD") ? getenv("SLAPADD") : "/usr/sbin/slapadd";
	char path[400], conf[4096], tlsconf[1024] = "";

	if (tls)
		snprintf(tlsconf, sizeof(tlsconf),
			 "TLSCACertificateFile %s/ca.pem\nTLSCertificateFile %s/srv.pem\n"
			 "TLSCertificateKeyFile %s/srv.key\n",
			 dir, dir, dir);
	snprintf(conf, sizeof(conf),
		 "include %s/core.schema\ninclude %s/cosine.schema\ninclude %s/inetorgperson.schema\n"
		 "pidfile %s/%s.pid\nmodulepath /usr/lib/ldap\nmoduleload back_mdb\n%s"
		 "database mdb\nmaxsize 10485760\nsuffix \"" BASE "\"\nrootdn \"cn=admin," BASE "\"\n"
		 "rootpw admin-pass\ndirectory %s/%s.db\n"
		 "access to attrs=userPassword by anonymous auth by * none\naccess to * by * read\n",
		 schema, schema, schema, dir, name, tlsconf, dir, name);
	snprintf(path, sizeof(path), "%s/%s.conf", dir, name);
	write_file(path, conf);
	snprintf(path, sizeof(path), "%s/seed.ldif", dir);
	write_file(path, "dn: " BASE "\nobjectClass: dcObject\nobjectClass: organization\ndc: scout\no: scout\n\n"
			 "dn: ou=people," BASE "\nobjectClass: organizationalUnit\nou: people\n\n"
			 "dn: " ALICE "\nobjectClass: inetOrgPerson\nuid: alice\ncn: Alice Example\nsn: Example\n"
			 "mail: alice@scout.test\nuserPassword: Alice-Pass1\n\n"
			 "dn: " SVC "\nobjectClass: person\ncn: svc\nsn: svc\nuserPassword: svc-pass\n");
	return sh("mkdir -p %s/%s.db && %s -f %s/%s.conf -l %s/seed.ldif >/dev/null 2>&1", dir, name, slapadd, dir,
		  name, dir) == 0;
}

static pid_t start_slapd(const char *name, const char *urls, int port)
{
	const char *slapd = getenv("SLAPD") ? getenv("SLAPD") : "/usr/sbin/slapd";
	char conf[400];
	pid_t pid;

	snprintf(conf, sizeof(conf), "%s/%s.conf", dir, name);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* -d: stay in the foreground, so the test owns the process. */
		execl(slapd, "slapd", "-f", conf, "-h", urls, "-d", "0", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 200; i++) {
		if (can_connect(port))
			return pid;
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return -1;
		usleep(50000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static int group_setup(void **state)
{
	const char *slapd = getenv("SLAPD") ? getenv("SLAPD") : "/usr/sbin/slapd";
	const char *slapadd = getenv("SLAPADD") ? getenv("SLAPADD") : "/usr/sbin/slapadd";
	char urls[300];
	(void)state;

	signal(SIGPIPE, SIG_IGN);
	/* No ~/.ldaprc or /etc/ldap/ldap.conf settings in the test's way. */
	setenv("LDAPNOINIT", "1", 1);
	snprintf(dir, sizeof(dir), "%s/scout-ldap-dir-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
	if (access(slapd, X_OK) != 0 || access(slapadd, X_OK) != 0) {
		skip_reason = "slapd or slapadd not installed (apt-get install slapd)";
		return 0;
	}
	if (sh("command -v openssl >/dev/null") != 0 || !make_certs()) {
		skip_reason = "openssl cannot make the test CA";
		return 0;
	}
	snprintf(ca_file, sizeof(ca_file), "%s/ca.pem", dir);
	snprintf(wrong_ca, sizeof(wrong_ca), "%s/wrong.pem", dir);
	if (!make_slapd("tls", true) || !make_slapd("plain", false)) {
		skip_reason = "slapadd failed to seed a database";
		return 0;
	}
	port_ldap = free_port();
	port_ldaps = free_port();
	port_plain = free_port();
	port_down = free_port();
	snprintf(urls, sizeof(urls), "ldap://127.0.0.1:%d/ ldaps://127.0.0.1:%d/", port_ldap, port_ldaps);
	slapd_tls = start_slapd("tls", urls, port_ldaps);
	snprintf(urls, sizeof(urls), "ldap://127.0.0.1:%d/", port_plain);
	slapd_plain = start_slapd("plain", urls, port_plain);
	if (slapd_tls < 0 || slapd_plain < 0) {
		skip_reason = "slapd did not start";
		return 0;
	}
	silent_fd = silent_listener(&port_silent);
	have_peers = true;
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	pid_t pids[] = {slapd_tls, slapd_plain};

	for (size_t i = 0; i < 2; i++)
		if (pids[i] > 0) {
			kill(pids[i], SIGTERM);
			waitpid(pids[i], NULL, 0);
		}
	if (silent_fd >= 0)
		close(silent_fd);
	if (dir[0] && !getenv("SCOUT_KEEP_TMP"))
		sh("rm -rf %s", dir);
	return 0;
}

/* Skips a test without the peers; else fills in their URIs (uris()). */
#define NEED_PEERS()                                              \
	do {                                                      \
		if (!have_peers) {                                \
			print_message("skip: %s\n", skip_reason); \
			skip();                                   \
		}                                                 \
		uris();                                           \
	} while (0)

/* ---- a directory on a loop -------------------------------------------- */

struct fx {
	uv_loop_t loop;
	uv_timer_t timer;
	struct scout_work_group *work;
	struct ldir *d;
	struct scout_closer closer;
	bool closed;
};

struct res {
	bool done;
	int calls;
	int status, code;
	char diag[512], server[256];
	size_t nentries;
	char dn[256], mail[128];
	uint64_t ms;
};

static void on_res(void *arg, const struct ldir_result *r)
{
	struct res *x = arg;

	x->calls++;
	x->done = true;
	x->status = r->status;
	x->code = r->ldap_code;
	snprintf(x->diag, sizeof(x->diag), "%s", r->diag ? r->diag : "");
	snprintf(x->server, sizeof(x->server), "%s", r->server ? r->server : "");
	x->ms = r->ms;
	x->nentries = r->nentries;
	if (r->nentries) {
		snprintf(x->dn, sizeof(x->dn), "%s", r->entries[0].dn);
		for (size_t i = 0; i < r->entries[0].nattrs; i++)
			if (strcasecmp(r->entries[0].attrs[i].name, "mail") == 0 && r->entries[0].attrs[i].nvals)
				snprintf(x->mail, sizeof(x->mail), "%s", r->entries[0].attrs[i].vals[0].v);
	}
}

struct opts {
	const char *servers[3];
	size_t n;
	const char *ca;
	bool plaintext;
	bool anonymous;
	uint64_t timeout_ms;
	const char *svc_pw; /* the service account's password; NULL: the right one */
	unsigned max_binds; /* 0: 2 */
};

static void fx_open(struct fx *f, const struct opts *o)
{
	char err[256] = "";
	struct ldir_conf c = {
		.servers = o->servers,
		.nservers = o->n,
		.ca_file = o->ca,
		.allow_plaintext = o->plaintext,
		.bind_dn = o->anonymous ? NULL : SVC,
		.bind_password = o->anonymous ? NULL
				 : o->svc_pw  ? o->svc_pw
					      : "svc-pass",
		.bind_password_len = o->anonymous ? 0
				     : o->svc_pw  ? strlen(o->svc_pw)
						  : 8,
		.timeout_ms = o->timeout_ms ? o->timeout_ms : 5000,
		.max_binds = o->max_binds ? o->max_binds : 2,
	};

	memset(f, 0, sizeof(*f));
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(uv_timer_init(&f->loop, &f->timer), 0);
	assert_int_equal(scout_work_group_new(&f->loop, "ldap-test", &f->work), 0);
	assert_int_equal(ldir_new(&f->loop, f->work, &c, &f->d, err, sizeof(err)), 0);
}

static void on_closed(void *arg)
{
	((struct fx *)arg)->closed = true;
}

static void on_closed_flag(void *arg)
{
	*(bool *)arg = true;
}

static void on_idle(void *arg)
{
	(void)arg;
}

/* Closes the directory (and so every connection and pending job), then
 * the loop, which must have nothing left. */
static void fx_close(struct fx *f)
{
	scout_closer_init(&f->closer);
	ldir_close(f->d, &f->closer);
	scout_closer_wait(&f->closer, on_closed, f);
	LOOP_WAIT_FOR(&f->loop, &f->timer, f->closed, 30);
	scout_work_group_close(f->work, 1, on_idle, NULL);
	uv_close((uv_handle_t *)&f->timer, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

static const char *const search_attrs[] = {"cn", "mail", NULL};

static void search_alice(struct fx *f, struct res *x)
{
	memset(x, 0, sizeof(*x));
	assert_int_equal(ldir_search(f->d, BASE, LDAP_SCOPE_SUBTREE, "(uid=alice)", search_attrs, 2, on_res, x, NULL),
			 0);
	LOOP_WAIT_FOR(&f->loop, &f->timer, x->done, 30);
}

static void bind_as(struct fx *f, const char *dn, const char *pw, struct res *x)
{
	memset(x, 0, sizeof(*x));
	assert_int_equal(ldir_bind(f->d, dn, pw, strlen(pw), on_res, x, NULL), 0);
	LOOP_WAIT_FOR(&f->loop, &f->timer, x->done, 30);
}

/* alice's entry found, one entry */
static void search_found(struct fx *f, struct res *x)
{
	search_alice(f, x);
	assert_int_equal(x->status, 0);
	assert_int_equal(x->nentries, 1);
}

/* alice's bind with her password accepted */
static void bind_alice(struct fx *f, struct res *x)
{
	bind_as(f, ALICE, "Alice-Pass1", x);
	assert_int_equal(x->status, 0);
	assert_int_equal(x->code, LDAP_SUCCESS);
}

static json_t *server_status(struct fx *f, size_t i)
{
	json_t *o = json_object();
	json_t *s;

	ldir_status(f->d, o);
	s = json_incref(json_array_get(json_object_get(o, "servers"), i));
	json_decref(o);
	return s;
}

static const char *jstr(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/* One of the directory's counters in its status. */
static json_int_t counter(struct fx *f, const char *name)
{
	json_t *o = json_object();
	json_int_t v;

	ldir_status(f->d, o);
	v = json_integer_value(json_object_get(json_object_get(o, "counters"), name));
	json_decref(o);
	return v;
}

static void assert_state(struct fx *f, size_t i, const char *state)
{
	json_t *st = server_status(f, i);

	assert_string_equal(jstr(st, "state"), state);
	json_decref(st);
}

/* ---- tests ------------------------------------------------------------- */

static char uri_ldaps[64], uri_ldap[64], uri_plain[64], uri_down[64], uri_silent[64], uri_silent_ldap[64];

static void uris(void)
{
	snprintf(uri_ldaps, sizeof(uri_ldaps), "ldaps://127.0.0.1:%d", port_ldaps);
	snprintf(uri_ldap, sizeof(uri_ldap), "ldap://127.0.0.1:%d", port_ldap);
	snprintf(uri_plain, sizeof(uri_plain), "ldap://127.0.0.1:%d", port_plain);
	snprintf(uri_down, sizeof(uri_down), "ldaps://127.0.0.1:%d", port_down);
	snprintf(uri_silent, sizeof(uri_silent), "ldaps://127.0.0.1:%d", port_silent);
	snprintf(uri_silent_ldap, sizeof(uri_silent_ldap), "ldap://127.0.0.1:%d", port_silent);
}

/* LDAPS with the service account: the search finds alice, her bind
 * succeeds, the connections are reused (a second round opens none). */
static void test_search_bind(void **state)
{
	struct fx f;
	struct res x;
	json_t *st;
	(void)state;

	NEED_PEERS();
	fx_open(&f, &(struct opts){.servers = {uri_ldaps}, .n = 1, .ca = ca_file});
	search_alice(&f, &x);
	assert_int_equal(x.status, 0);
	assert_int_equal(x.code, LDAP_SUCCESS);
	assert_int_equal(x.nentries, 1);
	assert_string_equal(x.dn, ALICE);
	assert_string_equal(x.mail, "alice@scout.test");
	assert_string_equal(x.server, uri_ldaps);

	bind_alice(&f, &x);

	json_int_t connects = counter(&f, "connects");
	search_alice(&f, &x);
	assert_int_equal(x.nentries, 1);
	bind_as(&f, ALICE, "Alice-Pass1", &x);
	assert_int_equal(x.code, LDAP_SUCCESS);
	assert_int_equal(counter(&f, "connects"), connects);
	assert_int_equal(counter(&f, "searches"), 2);
	assert_int_equal(counter(&f, "binds"), 2);

	st = server_status(&f, 0);
	assert_string_equal(jstr(st, "state"), "up");
	assert_string_equal(jstr(st, "source"), "config");
	assert_true(json_is_number(json_object_get(st, "latency_ms")));
	json_decref(st);
	assert_true(ldir_available(f.d));
	fx_close(&f);
}

/* A wrong password is the server's answer (49), final: the second server
 * is never contacted for it. */
static void test_wrong_password(void **state)
{
	struct fx f;
	struct res x;
	(void)state;

	NEED_PEERS();
	fx_open(&f, &(struct opts){.servers = {uri_ldaps, uri_ldap}, .n = 2, .ca = ca_file});
	bind_as(&f, ALICE, "wrong", &x);
	assert_int_equal(x.status, 0);
	assert_int_equal(x.code, LDAP_INVALID_CREDENTIALS);
	assert_int_equal(x.calls, 1);
	assert_string_equal(x.server, uri_ldaps);
	assert_null(strstr(x.diag, "wrong"));
	assert_state(&f, 1, "unknown");
	/* The connection is re-bound by the next bind. */
	bind_as(&f, ALICE, "Alice-Pass1", &x);
	assert_int_equal(x.code, LDAP_SUCCESS);
	fx_close(&f);
}

/* The first server refuses connections: it is marked down with a reason,
 * and the search and the bind are served by the second. */
static void test_failover(void **state)
{
	struct fx f;
	struct res x;
	json_t *st;
	(void)state;

	NEED_PEERS();
	fx_open(&f, &(struct opts){.servers = {uri_down, uri_ldaps}, .n = 2, .ca = ca_file});
	search_found(&f, &x);
	assert_string_equal(x.server, uri_ldaps);
	st = server_status(&f, 0);
	assert_string_equal(jstr(st, "state"), "down");
	assert_non_null(strstr(jstr(st, "last_error"), uri_down));
	assert_false(json_is_null(json_object_get(st, "since")));
	json_decref(st);
	/* The bind skips the server in back-off. */
	bind_as(&f, ALICE, "Alice-Pass1", &x);
	assert_int_equal(x.code, LDAP_SUCCESS);
	assert_string_equal(x.server, uri_ldaps);
	assert_true(ldir_available(f.d));
	fx_close(&f);
}

/* Every server down: -EHOSTUNREACH, and ldir_available() says so. */
static void test_all_down(void **state)
{
	struct fx f;
	struct res x;
	(void)state;

	NEED_PEERS();
	fx_open(&f, &(struct opts){.servers = {uri_down}, .n = 1, .ca = ca_file});
	search_alice(&f, &x);
	assert_int_equal(x.status, -EHOSTUNREACH);
	assert_non_null(strstr(x.diag, uri_down));
	assert_false(ldir_available(f.d));
	bind_as(&f, ALICE, "Alice-Pass1", &x);
	assert_int_equal(x.status, -EHOSTUNREACH);
	fx_close(&f);
}

struct ticker {
	uv_timer_t t;
	unsigned ticks;
};

static void on_tick(uv_timer_t *t)
{
	((struct ticker *)t->data)->ticks++;
}

/* A server that accepts TCP and never answers, over LDAPS and StartTLS:
 * the search and the bind end with -ETIMEDOUT near the timeout, a timer
 * on the loop keeps firing meanwhile, and closing afterwards finds no
 * pool job stuck (fx_close waits for them). */
static void silent(const char *uri, bool bind)
{
	const uint64_t timeout = 1500;
	struct fx f;
	struct res x;
	struct ticker tk = {0};
	uint64_t t0;

	fx_open(&f, &(struct opts){.servers = {uri}, .n = 1, .ca = ca_file, .timeout_ms = timeout});
	uv_timer_init(&f.loop, &tk.t);
	tk.t.data = &tk;
	uv_timer_start(&tk.t, on_tick, 50, 50);
	t0 = uv_hrtime();
	memset(&x, 0, sizeof(x));
	if (bind)
		assert_int_equal(ldir_bind(f.d, ALICE, "Alice-Pass1", 11, on_res, &x, NULL), 0);
	else
		assert_int_equal(ldir_search(f.d, BASE, LDAP_SCOPE_SUBTREE, "(uid=alice)", search_attrs, 2, on_res, &x,
					     NULL),
				 0);
	LOOP_WAIT_FOR(&f.loop, &f.timer, x.done, 30);
	uint64_t ms = (uv_hrtime() - t0) / 1000000;
	assert_int_equal(x.status, -ETIMEDOUT);
	assert_non_null(strstr(x.diag, uri));
	/* Generous: a loaded machine is slow, but not 3 timeouts slow. */
	assert_true(ms >= timeout - 100);
	assert_true(ms < 3 * timeout);
	/* 50 ms ticks during ~1.5 s: the loop was never blocked for long. */
	assert_true(tk.ticks >= 10);
	uv_close((uv_handle_t *)&tk.t, NULL);
	assert_state(&f, 0, "down");
	fx_close(&f);
}

static void test_silent_ldaps(void **state)
{
	(void)state;
	NEED_PEERS();
	silent(uri_silent, false);
	silent(uri_silent, true);
}

static void test_silent_starttls(void **state)
{
	(void)state;
	NEED_PEERS();
	silent(uri_silent_ldap, false);
}

/* A CA the server's certificate does not chain to: -EPROTO, the reason
 * names the server and the certificate check, over LDAPS and StartTLS. */
static void test_wrong_ca(void **state)
{
	struct fx f;
	struct res x;
	(void)state;

	NEED_PEERS();
	fx_open(&f, &(struct opts){.servers = {uri_ldaps}, .n = 1, .ca = wrong_ca});
	search_alice(&f, &x);
	print_message("wrong CA (ldaps): %s\n", x.diag);
	assert_int_equal(x.status, -EPROTO);
	assert_non_null(strstr(x.diag, uri_ldaps));
	assert_non_null(strcasestr(x.diag, "certificate"));
	bind_as(&f, ALICE, "Alice-Pass1", &x);
	assert_int_equal(x.status, -EPROTO);
	fx_close(&f);

	fx_open(&f, &(struct opts){.servers = {uri_ldap}, .n = 1, .ca = wrong_ca});
	search_alice(&f, &x);
	print_message("wrong CA (StartTLS): %s\n", x.diag);
	assert_int_equal(x.status, -EPROTO);
	assert_non_null(strcasestr(x.diag, "certificate"));
	fx_close(&f);

	/* No CA file: the system store, which does not know the test CA. */
	fx_open(&f, &(struct opts){.servers = {uri_ldaps}, .n = 1});
	search_alice(&f, &x);
	assert_int_equal(x.status, -EPROTO);
	assert_non_null(strstr(x.diag, "system store"));
	fx_close(&f);

	/* The right CA, the wrong name: the certificate is for 127.0.0.1. */
	char uri_name[64];
	snprintf(uri_name, sizeof(uri_name), "ldaps://localhost:%d", port_ldaps);
	fx_open(&f, &(struct opts){.servers = {uri_name}, .n = 1, .ca = ca_file});
	search_alice(&f, &x);
	print_message("wrong name: %s\n", x.diag);
	assert_int_equal(x.status, -EPROTO);
	assert_non_null(strstr(x.diag, uri_name));
	assert_non_null(strcasestr(x.diag, "certificate"));
	fx_close(&f);
}

/* ldap:// upgraded with StartTLS: search and bind as over LDAPS. */
static void test_starttls(void **state)
{
	struct fx f;
	struct res x;
	(void)state;

	NEED_PEERS();
	fx_open(&f, &(struct opts){.servers = {uri_ldap}, .n = 1, .ca = ca_file});
	search_found(&f, &x);
	bind_alice(&f, &x);
	bind_as(&f, ALICE, "nope", &x);
	assert_int_equal(x.code, LDAP_INVALID_CREDENTIALS);
	fx_close(&f);
}

/* A server without TLS: refused unless allow_plaintext; with it, an
 * anonymous search works and a simple bind is never sent (-EPERM), nor
 * the service account's. */
static void test_plaintext(void **state)
{
	struct fx f;
	struct res x;
	(void)state;

	NEED_PEERS();
	fx_open(&f, &(struct opts){.servers = {uri_plain}, .n = 1, .ca = ca_file, .anonymous = true});
	search_alice(&f, &x);
	assert_int_equal(x.status, -EPROTO);
	assert_non_null(strstr(x.diag, "StartTLS"));
	fx_close(&f);

	fx_open(&f,
		&(struct opts){.servers = {uri_plain}, .n = 1, .ca = ca_file, .anonymous = true, .plaintext = true});
	search_found(&f, &x);
	bind_as(&f, ALICE, "Alice-Pass1", &x);
	assert_int_equal(x.status, -EPERM);
	assert_non_null(strstr(x.diag, "TLS"));
	fx_close(&f);

	fx_open(&f, &(struct opts){.servers = {uri_plain}, .n = 1, .ca = ca_file, .plaintext = true});
	search_alice(&f, &x);
	assert_int_equal(x.status, -EPERM);
	fx_close(&f);
}

/* The service account's password is wrong: the searches get the server's
 * answer (49) and the reason names the account. */
static void test_service_refused(void **state)
{
	struct fx f;
	struct res x;
	(void)state;

	NEED_PEERS();
	fx_open(&f, &(struct opts){.servers = {uri_ldaps}, .n = 1, .ca = ca_file, .svc_pw = "bad", .max_binds = 1});
	search_alice(&f, &x);
	assert_int_equal(x.status, 0);
	assert_int_equal(x.code, LDAP_INVALID_CREDENTIALS);
	assert_non_null(strstr(x.diag, SVC));
	fx_close(&f);
}

/* Cancelled and closed operations never call back; closing with a
 * search and a bind in flight (on a silent server) ends, and the loop
 * closes clean. */
static void test_cancel_close(void **state)
{
	struct fx f;
	struct res a = {0}, b = {0}, c = {0};
	struct ldir_op *op;
	(void)state;

	NEED_PEERS();
	fx_open(&f, &(struct opts){.servers = {uri_ldaps}, .n = 1, .ca = ca_file});
	assert_int_equal(ldir_search(f.d, BASE, LDAP_SCOPE_SUBTREE, "(uid=alice)", search_attrs, 2, on_res, &a, &op),
			 0);
	ldir_cancel(op);
	search_alice(&f, &b);
	assert_int_equal(b.nentries, 1);
	loop_run_for(&f.loop, &f.timer, 100);
	assert_false(a.done);
	fx_close(&f);

	fx_open(&f, &(struct opts){.servers = {uri_silent}, .n = 1, .ca = ca_file, .timeout_ms = 2000});
	assert_int_equal(ldir_search(f.d, BASE, LDAP_SCOPE_SUBTREE, "(uid=alice)", search_attrs, 2, on_res, &a, NULL),
			 0);
	assert_int_equal(ldir_bind(f.d, ALICE, "Alice-Pass1", 11, on_res, &c, NULL), 0);
	loop_run_for(&f.loop, &f.timer, 200);
	fx_close(&f);
	assert_false(a.done);
	assert_false(c.done);
}

/* Bad arguments and configuration are refused up front. */
static void test_refusals(void **state)
{
	uv_loop_t loop;
	struct scout_work_group *g;
	struct ldir *d = NULL;
	char err[256] = "";
	const char *bad[] = {"http://127.0.0.1"};
	(void)state;

	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(scout_work_group_new(&loop, "t", &g), 0);
	struct ldir_conf c = {.servers = bad, .nservers = 1, .timeout_ms = 1000, .max_binds = 1};
	assert_int_equal(ldir_new(&loop, g, &c, &d, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "http://127.0.0.1"));
	c.nservers = 0;
	assert_int_equal(ldir_new(&loop, g, &c, &d, err, sizeof(err)), -EINVAL);
	scout_work_group_close(g, 1, on_idle, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* SRV discovery for a domain DNS does not know: the search fails with
 * the discovery's reason (or its timeout when DNS does not answer), the
 * status says why, and closing waits for the lookup's pool job. Needs no
 * peer: whatever resolver the machine has answers or times out. */
static void test_srv_unknown_domain(void **state)
{
	uv_loop_t loop;
	uv_timer_t timer;
	struct scout_work_group *g;
	struct scout_closer closer;
	struct ldir *d = NULL;
	struct res x = {0};
	bool closed = false;
	char err[256] = "";
	(void)state;

	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(uv_timer_init(&loop, &timer), 0);
	assert_int_equal(scout_work_group_new(&loop, "t", &g), 0);
	struct ldir_conf c = {.domain = "scout.invalid", .srv_ldaps = true, .timeout_ms = 3000, .max_binds = 1};
	assert_int_equal(ldir_new(&loop, g, &c, &d, err, sizeof(err)), 0);
	assert_true(ldir_available(d));
	assert_int_equal(ldir_search(d, BASE, LDAP_SCOPE_SUBTREE, "(uid=alice)", search_attrs, 2, on_res, &x, NULL), 0);
	LOOP_WAIT_FOR(&loop, &timer, x.done, 30);
	print_message("SRV: %d %s\n", x.status, x.diag);
	assert_true(x.status == -EHOSTUNREACH || x.status == -ETIMEDOUT);
	assert_non_null(strstr(x.diag, "SRV"));
	if (x.status == -EHOSTUNREACH) {
		json_t *o = json_object();
		ldir_status(d, o);
		assert_non_null(strstr(jstr(o, "discovery_error"), "_ldap._tcp.dc._msdcs.scout.invalid"));
		assert_int_equal(json_array_size(json_object_get(o, "servers")), 0);
		json_decref(o);
		assert_false(ldir_available(d));
	}
	scout_closer_init(&closer);
	ldir_close(d, &closer);
	scout_closer_wait(&closer, on_closed_flag, &closed);
	LOOP_WAIT_FOR(&loop, &timer, closed, 30);
	scout_work_group_close(g, 1, on_idle, NULL);
	uv_close((uv_handle_t *)&timer, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* The bind queue is bounded (LDIR_MAX_QUEUED waiting), and an empty
 * password (an unauthenticated bind, which servers accept) is refused. */
static void test_bind_limits(void **state)
{
	struct fx f;
	enum { N = LDIR_MAX_QUEUED + 8 };
	static struct res x[N];
	int accepted = 0, again = 0;
	(void)state;

	NEED_PEERS();
	fx_open(&f, &(struct opts){.servers = {uri_ldaps}, .n = 1, .ca = ca_file, .timeout_ms = 60000});
	assert_int_equal(ldir_bind(f.d, ALICE, "", 0, on_res, &x[0], NULL), -EINVAL);
	memset(x, 0, sizeof(x));
	for (int i = 0; i < N; i++) {
		int r = ldir_bind(f.d, ALICE, "Alice-Pass1", 11, on_res, &x[i], NULL);
		if (r == 0)
			accepted++;
		else if (r == -EAGAIN)
			again++;
	}
	/* max_binds 2: two go to connections being opened, the rest wait */
	assert_int_equal(accepted, LDIR_MAX_QUEUED + 2);
	assert_int_equal(again, N - LDIR_MAX_QUEUED - 2);
	for (int i = 0; i < accepted; i++) {
		LOOP_WAIT_FOR(&f.loop, &f.timer, x[i].done, 30);
		assert_int_equal(x[i].code, LDAP_SUCCESS);
	}
	fx_close(&f);
}

/* Many searches and binds at once share the service connections and
 * the bind pool: every one answers, right ones accepted, wrong refused. */
static void test_parallel(void **state)
{
	enum { NS = 60, NB = 40 };
	struct fx f;
	static struct res s[NS], b[NB];
	(void)state;

	NEED_PEERS();
	fx_open(&f, &(struct opts){.servers = {uri_ldaps}, .n = 1, .ca = ca_file, .timeout_ms = 10000, .max_binds = 8});
	memset(s, 0, sizeof(s));
	memset(b, 0, sizeof(b));
	for (int i = 0; i < NS; i++)
		assert_int_equal(ldir_search(f.d, BASE, LDAP_SCOPE_SUBTREE, "(uid=alice)", search_attrs, 2, on_res,
					     &s[i], NULL),
				 0);
	for (int i = 0; i < NB; i++) {
		const char *pw = i % 4 ? "Alice-Pass1" : "bad";
		assert_int_equal(ldir_bind(f.d, ALICE, pw, strlen(pw), on_res, &b[i], NULL), 0);
	}
	for (int i = 0; i < NS; i++) {
		LOOP_WAIT_FOR(&f.loop, &f.timer, s[i].done, 30);
		assert_int_equal(s[i].status, 0);
		assert_int_equal(s[i].nentries, 1);
	}
	for (int i = 0; i < NB; i++) {
		LOOP_WAIT_FOR(&f.loop, &f.timer, b[i].done, 30);
		assert_int_equal(b[i].status, 0);
		assert_int_equal(b[i].code, i % 4 ? LDAP_SUCCESS : LDAP_INVALID_CREDENTIALS);
	}
	/* at most 2 service + 8 bind connections */
	assert_true(counter(&f, "connects") <= 10);
	fx_close(&f);
}

/* The server restarts under established connections: their end is seen
 * (idle ones closed, the server not marked down for it), and the next
 * search and bind reconnect to it. Runs last: it restarts the TLS slapd. */
static void test_server_restart(void **state)
{
	struct fx f;
	struct res x;
	char urls[300];
	(void)state;

	NEED_PEERS();
	fx_open(&f, &(struct opts){.servers = {uri_ldaps}, .n = 1, .ca = ca_file});
	search_alice(&f, &x);
	assert_int_equal(x.nentries, 1);
	bind_as(&f, ALICE, "Alice-Pass1", &x);
	assert_int_equal(x.code, LDAP_SUCCESS);

	kill(slapd_tls, SIGTERM);
	waitpid(slapd_tls, NULL, 0);
	snprintf(urls, sizeof(urls), "ldap://127.0.0.1:%d/ ldaps://127.0.0.1:%d/", port_ldap, port_ldaps);
	slapd_tls = start_slapd("tls", urls, port_ldaps);
	assert_true(slapd_tls > 0);
	loop_run_for(&f.loop, &f.timer, 300);
	assert_state(&f, 0, "up");

	search_found(&f, &x);
	bind_alice(&f, &x);
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refusals),        cmocka_unit_test(test_search_bind),
		cmocka_unit_test(test_wrong_password),  cmocka_unit_test(test_failover),
		cmocka_unit_test(test_all_down),        cmocka_unit_test(test_silent_ldaps),
		cmocka_unit_test(test_silent_starttls), cmocka_unit_test(test_wrong_ca),
		cmocka_unit_test(test_starttls),        cmocka_unit_test(test_plaintext),
		cmocka_unit_test(test_service_refused), cmocka_unit_test(test_cancel_close),
		cmocka_unit_test(test_bind_limits),     cmocka_unit_test(test_parallel),
		cmocka_unit_test(test_server_restart),  cmocka_unit_test(test_srv_unknown_domain),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
