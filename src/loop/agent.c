/* The agent's lifecycle. Start-up: load and validate the config, take the
 * state directory (a lock so two agents never share it), open the store and
 * keep the run record (clean or unclean stops, crash loops), listen on the
 * status socket, start the modules, tell systemd READY=1 and keep its
 * STATUS= line and watchdog current. SIGHUP starts a reload (agent-reload.c);
 * SIGTERM/SIGINT stop the modules, then close every handle, so
 * uv_loop_close() returns 0. This file owns struct agent and its handles;
 * the status replies are in agent-status.c, the metrics in agent-metrics.c,
 * the configuration in agent-config.c. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <msgpack.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "agent-internal.h"
#include "bus.h"
#include "config.h"
#include "log.h"
#include "module.h"
#include "pack.h"
#include "status.h"
#include "store.h"
#include "modules/health/health.h"

#define STOP_TIMEOUT_MS 4500

void agent_notify_status(struct agent *a)
{
	size_t running = scout_host_count(a->host, SCOUT_MOD_RUNNING);
	size_t failed = scout_host_count(a->host, SCOUT_MOD_FAILED);
	char health[300] = "";

	if (a->health_known)
		snprintf(health, sizeof(health), "; health %s%s%s", a->health_ok ? "ok" : "degraded",
			 a->health_ok ? "" : ": ", a->health_ok ? "" : a->health_problem);
	sd_notifyf(0, "STATUS=%zu module%s running, %zu failed%s", running, running == 1 ? "" : "s", failed, health);
}

/* ---- run record -------------------------------------------------------- */

static void pack_run(msgpack_sbuffer *sb, const struct run_record *r)
{
	msgpack_packer pk;

	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	scout_pack_str(&pk, "starts");
	msgpack_pack_uint64(&pk, r->starts);
	scout_pack_str(&pk, "running");
	r->running ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk);
	scout_pack_str(&pk, "started");
	msgpack_pack_uint64(&pk, r->started);
	scout_pack_str(&pk, "stopped");
	msgpack_pack_uint64(&pk, r->stopped);
	scout_pack_str(&pk, "unclean");
	msgpack_pack_uint64(&pk, r->unclean);
}

static int save_run(struct agent *a, const struct run_record *r)
{
	msgpack_sbuffer sb;
	int ret;

	msgpack_sbuffer_init(&sb);
	pack_run(&sb, r);
	ret = scout_store_put(a->db, "run", 3, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return ret;
}

static void load_run(struct agent *a)
{
	msgpack_unpacked u;
	void *data;
	size_t len;

	if (scout_store_get(a->db, "run", 3, &data, &len) < 0)
		return;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, data, len, NULL) == MSGPACK_UNPACK_SUCCESS &&
	    scout_pack_get_uint(&u.data, "starts", &a->prev.starts) == 0 &&
	    scout_pack_get_bool(&u.data, "running", &a->prev.running) == 0) {
		scout_pack_get_uint(&u.data, "started", &a->prev.started);
		scout_pack_get_uint(&u.data, "stopped", &a->prev.stopped);
		scout_pack_get_uint(&u.data, "unclean", &a->prev.unclean); /* absent from older records: 0 */
		a->have_prev = true;
	} else {
		log_warn("agent: run record in the store is unreadable; starting a new one");
	}
	msgpack_unpacked_destroy(&u);
	free(data);
}

/* ---- stop -------------------------------------------------------------- */

static void close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void on_bus_closed(void *arg)
{
	(void)arg;
}

static void on_status_closed(void *arg)
{
	struct agent *a = arg;
	a->status = NULL;
}

static void finish_stop(struct agent *a)
{
	a->stopped_rest = true;
	/* A reload job still reading the file keeps the loop alive until it
	 * returns; the stop timer stays armed so that a read that never
	 * returns cannot hold the stop for ever. */
	if (!a->reloading) {
		uv_timer_stop(&a->stop_timer);
		close_handle((uv_handle_t *)&a->stop_timer);
	}
	if (a->status)
		scout_status_close(a->status, on_status_closed, a);
	if (a->bus)
		scout_bus_close(a->bus, on_bus_closed, a);
	a->bus = NULL;
	for (int i = 0; i < 3; i++)
		close_handle((uv_handle_t *)&a->sig[i]);
	close_handle((uv_handle_t *)&a->watchdog);
}

void agent_reload_settled(struct agent *a)
{
	uv_timer_stop(&a->stop_timer);
	close_handle((uv_handle_t *)&a->stop_timer);
}

static void on_modules_stopped(void *arg)
{
	struct agent *a = arg;

	if (a->forced)
		return;
	log_debug("agent: modules stopped");
	finish_stop(a);
}

static void on_stop_timeout(uv_timer_t *t)
{
	struct agent *a = t->data;
	char stuck[256];

	if (a->stopped_rest) {
		log_error("agent: the reload still reading %s did not finish within %d ms; exiting anyway",
			  a->config_path ? a->config_path : SCOUT_EMBEDDED_NAME, STOP_TIMEOUT_MS);
	} else {
		scout_host_stuck(a->host, stuck, sizeof(stuck));
		log_error("agent: modules did not stop within %d ms: %s; exiting anyway", STOP_TIMEOUT_MS, stuck);
	}
	a->forced = true;
	a->exit_code = 1;
	uv_stop(&a->loop);
}

static void begin_stop(struct agent *a, const char *why)
{
	if (a->stopping)
		return;
	a->stopping = true;
	sd_notify(0, "STOPPING=1");
	log_info("agent: stopping (%s)", why);
	uv_timer_start(&a->stop_timer, on_stop_timeout, STOP_TIMEOUT_MS, 0);
	agent_reload_abandon(a);
	scout_bus_unsubscribe(a->health_sub);
	a->health_sub = NULL;
	scout_host_stop(a->host, on_modules_stopped, a);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct agent *a = h->data;

	if (signum == SIGHUP)
		agent_start_reload(a);
	else
		begin_stop(a, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_watchdog(uv_timer_t *t)
{
	(void)t;
	/* a stalled loop stops this timer, so systemd restarts the service */
	sd_notify(0, "WATCHDOG=1");
}

/* ---- health summary ---------------------------------------------------- */

/* The agent is one more subscriber of health.report: it decodes it with
 * health's own decoder and keeps systemd's STATUS= line current. */
static void on_health(const struct scout_msg *msg, void *arg)
{
	struct agent *a = arg;
	struct health_report rep;

	if (health_report_decode(msg->data, msg->len, &rep) < 0) {
		log_warn("agent: ignoring a malformed %s message", scout_topic_name(msg->topic));
		return;
	}
	snprintf(a->health_problem, sizeof(a->health_problem), "%s", rep.problem);
	bool changed = !a->health_known || rep.ok != a->health_ok;
	a->health_known = true;
	a->health_ok = rep.ok;
	if (changed || !rep.ok)
		agent_notify_status(a);
}

/* ---- start-up ---------------------------------------------------------- */

static int mkdirs(const char *path, mode_t mode)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* The store, the lock file and (by default) the socket live in state_dir,
 * opened by name: whoever else may write there could put a symlink or a
 * file of their own in their place. So the directory must belong to
 * scoutd's user (or root) and be writable by no one else. */
static int check_state_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0) {
		log_error("agent: state_dir %s: %s", dir, strerror(errno));
		return -errno;
	}
	if (!S_ISDIR(st.st_mode)) {
		log_error("agent: state_dir %s is not a directory", dir);
		return -ENOTDIR;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		log_error("agent: state_dir %s is owned by uid %u, not by scoutd's user (uid %u) or root; "
			  "chown %u %s, or choose another state_dir",
			  dir, (unsigned)st.st_uid, (unsigned)geteuid(), (unsigned)geteuid(), dir);
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		log_error("agent: state_dir %s is writable by its group or others (mode %04o), who could replace "
			  "the files scoutd keeps there; chmod go-w %s",
			  dir, (unsigned)(st.st_mode & 07777), dir);
		return -EPERM;
	}
	return 0;
}

/* One agent per state directory: an flock held for the process's life. */
static int lock_state_dir(struct agent *a)
{
	char path[PATH_MAX], pid[32];
	struct stat st;
	int fd;

	snprintf(path, sizeof(path), "%s/scoutd.pid", a->conf->state_dir);
	/* never through a symlink (as root, that truncated any file it named);
	 * O_NONBLOCK and O_NOCTTY so that a FIFO or a device cannot hang or
	 * capture us before the type check */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK, 0640);
	if (fd < 0 && errno == ELOOP) {
		log_error("agent: %s is a symbolic link; scoutd does not follow it: remove it (scoutd creates the "
			  "file itself)",
			  path);
		return -ELOOP;
	}
	if (fd < 0) {
		log_error("agent: %s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		log_error("agent: %s is not a regular file: remove it (scoutd creates the file itself)", path);
		close(fd);
		return -EINVAL;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ssize_t n = read(fd, pid, sizeof(pid) - 1);
		pid[n > 0 ? n : 0] = 0;
		pid[strcspn(pid, "\n")] = 0;
		log_error("agent: state_dir %s is in use by another scoutd (pid %s)", a->conf->state_dir,
			  *pid ? pid : "?");
		close(fd);
		return -EBUSY;
	}
	int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_warn("agent: cannot write %s: %s", path, strerror(errno));
	a->lock_fd = fd;
	return 0;
}

/* The soft limit on open files is 1024 by default, for the sake of
 * select(); scoutd uses none (epoll through libuv, and net-snmp's large fd
 * sets), so it takes the hard limit: 1024 status connections alone would
 * use up the soft one. */
static void raise_nofile_limit(void)
{
	struct rlimit rl;
	rlim_t was;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	was = rl.rlim_cur;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warn("agent: cannot raise the open files limit from %llu to %llu: %s", (unsigned long long)was,
			 (unsigned long long)rl.rlim_max, strerror(errno));
	else
		log_debug("agent: open files limit raised from %llu to %llu", (unsigned long long)was,
			  (unsigned long long)rl.rlim_max);
}

static void log_leftover(uv_handle_t *h, void *arg)
{
	(void)arg;
	log_error("agent: handle left open at exit: %s%s", uv_handle_type_name(uv_handle_get_type(h)),
		  uv_is_closing(h) ? " (closing)" : "");
}

/* path made absolute without resolving links: a reload reads whatever the
 * path names then, as an administrator who repoints a symlink expects */
static char *absolute(const char *path)
{
	char cwd[PATH_MAX], *out;

	if (path[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return strdup(path);
	if (asprintf(&out, "%s/%s", cwd, path) < 0)
		return NULL;
	return out;
}

/* The process and the configuration: no core files, no SIGPIPE, the log
 * level. On failure the agent does not start. */
static int init_agent(struct agent *a, const char *path, struct scout_config **ret_config)
{
	struct scout_config *cfg = NULL;
	enum scout_log_level lvl;

	/* Documents, keys and credentials pass through this process: keep them
	 * out of core files. */
	prctl(PR_SET_DUMPABLE, 0);
	signal(SIGPIPE, SIG_IGN);
	scout_log_set_journal(scout_log_stderr_is_journal());
	a->start_hr = uv_hrtime();
	a->started = time(NULL);
	a->reload_errors = json_array();
	a->reload_notes = json_array();

	if (scout_host_schema(&agent_section, &a->schema) < 0 || scout_host_new(a->schema, &a->host) < 0)
		return -ENOMEM;
	if (path)
		a->config_path = absolute(path);
	if (agent_load_config(a, a->config_path, &cfg) < 0) {
		log_error("agent: not started: the configuration has errors");
		return -EINVAL;
	}
	a->conf = scout_config_take(cfg, 0);
	scout_log_level_parse(agent_log_levels[a->conf->log_level], &lvl);
	scout_log_set_level(lvl);
	raise_nofile_limit();
	*ret_config = cfg;
	return 0;
}

/* Reads the previous run's record (was it a crash? how many in a row?)
 * and writes this one's as running, in ret_now. */
static int record_start(struct agent *a, struct run_record *ret_now)
{
	struct run_record now;
	int r;

	load_run(a);
	if (a->have_prev && a->prev.running)
		log_warn("agent: the previous run (started %" PRIu64 ") did not stop cleanly", a->prev.started);
	a->unclean_starts = a->have_prev && a->prev.running ? a->prev.unclean + 1 : 0;
	if (a->unclean_starts >= AGENT_CRASH_LOOP_STARTS)
		log_warn("agent: %" PRIu64 " unclean starts in a row: a crash loop; the end of each earlier run's log "
			 "says why (journalctl -u scoutd), and `scoutctl status` shows the count",
			 a->unclean_starts);
	now = (struct run_record){.starts = a->prev.starts + 1,
				  .running = true,
				  .started = (uint64_t)a->started,
				  .unclean = a->unclean_starts};
	if ((r = save_run(a, &now)) < 0) {
		log_error("agent: store: cannot write: %s", strerror(-r));
		return r;
	}
	*ret_now = now;
	return 0;
}

/* The state directory (created, checked, locked), the store in it and the
 * run record. */
static int open_state(struct agent *a, struct run_record *ret_now)
{
	char err[512];
	int r;

	r = mkdirs(a->conf->state_dir, 0750);
	if (r < 0) {
		log_error("agent: cannot create state_dir %s: %s", a->conf->state_dir, strerror(-r));
		return r;
	}
	if ((r = check_state_dir(a->conf->state_dir)) < 0 || (r = lock_state_dir(a)) < 0)
		return r;
	if ((r = scout_store_open(a->conf->state_dir, a->conf->store_max_size, &a->store, err, sizeof(err))) < 0) {
		log_error("agent: %s", err);
		return r;
	}
	if ((r = scout_store_db(a->store, "agent", &a->db)) < 0) {
		log_error("agent: store: cannot open database 'agent': %s", strerror(-r));
		return r;
	}
	return record_start(a, ret_now);
}

/* The bus, the status socket, the signals and the timers on a->loop. */
static int open_loop(struct agent *a)
{
	static const int signums[3] = {SIGTERM, SIGINT, SIGHUP};
	char err[512];

	if (scout_bus_new(&a->loop, &a->bus) < 0)
		return -ENOMEM;
	if (scout_status_listen(&a->loop, a->conf->status_socket, a->conf->status_group, agent_on_request, a,
				&a->status, err, sizeof(err)) < 0) {
		log_error("agent: status socket: %s", err);
		a->status = NULL;
		a->exit_code = 1;
		scout_bus_close(a->bus, on_bus_closed, a);
		a->bus = NULL;
		return -EIO;
	}
	scout_status_set_idle_timeout(a->status, a->conf->status_idle_timeout);
	for (int i = 0; i < 3; i++) {
		uv_signal_init(&a->loop, &a->sig[i]);
		a->sig[i].data = a;
		uv_signal_start(&a->sig[i], on_signal, signums[i]);
	}
	uv_timer_init(&a->loop, &a->watchdog);
	uv_timer_init(&a->loop, &a->stop_timer);
	a->watchdog.data = a->stop_timer.data = a;
	return 0;
}

/* Starts the modules on cfg, subscribes to health, tells systemd READY=1. */
static void start_modules(struct agent *a, struct scout_config *cfg)
{
	struct scout_host_env env = {
		.loop = &a->loop,
		.bus = a->bus,
		.store = a->store,
		.state_dir = a->conf->state_dir,
		.core_commands = agent_core_commands,
	};
	uint64_t wd_usec = 0;

	scout_host_start(a->host, &env, cfg);
	/* health publishes from a timer, so nothing is missed by subscribing
	 * once the host has declared the topics */
	struct scout_topic *health = scout_bus_find(a->bus, HEALTH_TOPIC_REPORT);
	if (health)
		scout_bus_subscribe(a->bus, health, on_health, a, 16, &a->health_sub);
	else
		log_debug("agent: no %s topic: STATUS= shows no health", HEALTH_TOPIC_REPORT);

	if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec >= 2000)
		uv_timer_start(&a->watchdog, on_watchdog, 0, wd_usec / 2000);
	log_info("agent: scoutd %s running (config %s, state %s, socket %s)", SCOUT_VERSION,
		 a->config_path ? a->config_path : SCOUT_EMBEDDED_NAME, a->conf->state_dir, a->conf->status_socket);
	sd_notify(0, "READY=1");
	agent_notify_status(a);
}

/* After the loop ran: closes what is still closing; the loop must then be
 * empty (70 when it is not). A forced stop leaves it as it is. */
static int close_loop(struct agent *a, int r)
{
	if (a->forced)
		return r;
	uv_run(&a->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&a->loop) != 0) {
		uv_walk(&a->loop, log_leftover, NULL);
		log_error("agent: event loop not empty at exit");
		return 70;
	}
	return r;
}

/* A clean stop, or a start that failed after the record was written:
 * neither is a crash the next start should report. */
static void record_stop(struct agent *a, struct run_record *now, int r)
{
	if (!now->running || a->forced)
		return;
	now->running = false;
	now->stopped = (uint64_t)time(NULL);
	if (save_run(a, now) < 0)
		log_warn("agent: cannot record the stop");
	if (r == 0)
		log_info("agent: stopped");
}

static void free_agent(struct agent *a)
{
	if (!a->forced) {
		scout_host_free(a->host);
		scout_store_close(a->store);
	}
	if (a->conf)
		scout_section_conf_free(&agent_section, a->conf);
	if (a->lock_fd >= 0)
		close(a->lock_fd);
	json_decref(a->reload_errors);
	json_decref(a->reload_notes);
	free(a->config_path);
}

int scout_agent_run(const char *path)
{
	struct agent agent = {.lock_fd = -1, .exit_code = 0}, *a = &agent;
	struct scout_config *cfg = NULL;
	struct run_record now = {0};
	int r = 1;

	scout_list_init(&a->waiters);

	if (init_agent(a, path, &cfg) < 0 || open_state(a, &now) < 0)
		goto out;
	uv_loop_init(&a->loop);
	if (open_loop(a) == 0) {
		start_modules(a, cfg);
		scout_config_free(cfg);
		cfg = NULL;
		uv_run(&a->loop, UV_RUN_DEFAULT);
		r = a->exit_code;
		if (a->forced && a->reloading) {
			/* The reload's thread is stuck in the file system, and
			 * libuv joins its pool's threads at exit: a plain return
			 * would wait for it for ever. */
			log_error("agent: exiting with a reload still running");
			_exit(r);
		}
	}
	r = close_loop(a, r);
	record_stop(a, &now, r);
out:
	scout_config_free(cfg);
	free_agent(a);
	return r;
}
