"""The host's failure paths, seen from outside (issue 8, point 4). A
throwaway module "faulty" (a folder and one registry line, as in
test_module_folder.py) is built into a copy of the tree. It fails at start
when told to, fails later on request (scout_mod_fail from the loop), or
never reports that it stopped. scoutd runs on: health keeps sampling, the
status socket answers, `status` says which module failed and why, the
failed module's command is answered with why it cannot run, a reload
starts it again, and a stop that never finishes is ended by the agent's
stop timer, naming the module, with exit code 1.

The unit tests (tests/unit/test-host.c) cover the same paths one by one
over a fake registry; this one checks the agent and scoutctl around them."""

import os
import signal
import subprocess

import scoutlib

TOP = scoutlib.TOP

FAULTY_MESON = """\
# faulty: a throwaway module (test_host_faults.py).
modules_src += files('faulty.c')
"""

FAULTY_C = r"""
/* faulty: fails the ways the host must survive. */
#include <errno.h>
#include <stdlib.h>

#include "loop/closer.h"
#include "loop/module.h"
#include "loop/status.h"

struct faulty_conf {
	bool fail_at_start;
	bool hang_stop;
};

static const struct scout_option faulty_options[] = {
	{.key = "fail_at_start", .type = SCOUT_OPT_BOOL, .offset = offsetof(struct faulty_conf, fail_at_start),
	 .def = "no", .help = "start fails"},
	{.key = "hang_stop", .type = SCOUT_OPT_BOOL, .offset = offsetof(struct faulty_conf, hang_stop),
	 .def = "no", .help = "stop never finishes"},
	{0},
};

struct faulty {
	struct scout_mod *m;
	uv_timer_t timer;
	unsigned breaks;
};

static void on_timer(uv_timer_t *t)
{
	struct faulty *f = t->data;
	scout_mod_fail(f->m, "broken on request");
}

static int faulty_start(struct scout_mod *m)
{
	const struct faulty_conf *conf = scout_mod_conf(m);
	struct faulty *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->m = m;
	scout_mod_set_priv(m, f);
	uv_timer_init(scout_mod_loop(m), &f->timer);
	f->timer.data = f;
	return conf->fail_at_start ? -ENOTCONN : 0;
}

static void faulty_free(void *arg)
{
	free(arg);
}

static void faulty_stop(struct scout_mod *m)
{
	const struct faulty_conf *conf = scout_mod_conf(m);
	struct faulty *f = scout_mod_priv(m);

	scout_closer_close(scout_mod_closer(m), (uv_handle_t *)&f->timer);
	if (conf->hang_stop)
		return; /* never says it stopped */
	scout_mod_stopped_when_closed(m, faulty_free, f);
}

static void faulty_status(struct scout_mod *m, json_t *obj)
{
	struct faulty *f = scout_mod_priv(m);
	json_object_set_new(json_object_get(obj, "counters"), "breaks", json_integer(f->breaks));
}

static void cmd_break(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	struct faulty *f = scout_mod_priv(m);

	f->breaks++;
	uv_timer_start(&f->timer, on_timer, 0, 0);
	scout_status_reply(req, json_pack("{s:s}", "breaking", "soon"));
}

static const struct scout_command faulty_commands[] = {
	{"faulty-break", cmd_break, "fail a moment later"},
	{0},
};

const struct scout_module scout_faulty_module = {
	.name = "faulty",
	.summary = "a module that fails",
	.default_enabled = true,
	.options = faulty_options,
	.conf_size = sizeof(struct faulty_conf),
	.start = faulty_start,
	.status = faulty_status,
	.stop = faulty_stop,
	.commands = faulty_commands,
};
"""


class HostFaults(scoutlib.AgentTest):
    def test_faults(self):
        tmp = scoutlib.make_tmpdir()
        src = os.path.join(tmp, "src")
        scoutlib.copy_tree(src)
        scoutlib.add_module(src, "faulty", FAULTY_MESON, FAULTY_C)
        scoutd, scoutctl = scoutlib.build_tree(self, src, os.path.join(tmp, "build"))
        saved = scoutlib.SCOUTD
        scoutlib.SCOUTD = scoutd
        try:
            self.fail_start_then_later(scoutctl)
            self.stop_never_finishes()
        finally:
            scoutlib.SCOUTD = saved

    def health_runs_on(self, a):
        """health is running and takes new samples."""
        n = a.module("health")["counters"]["samples"]
        a.wait_for(lambda s: [m for m in s["modules"] if m["name"] == "health"][0]["counters"]["samples"] > n,
                   what="another health sample")
        self.assertEqual(a.module("health")["state"], "running")

    def fail_start_then_later(self, scoutctl):
        a = self.agent()
        base = scoutlib.config_text(a.state_dir)
        a.write_config(base + "\n[faulty]\nfail_at_start = yes\n")
        a.start()

        def ctl(*args):
            return subprocess.run([scoutctl, "-s", a.socket] + list(args), capture_output=True, text=True,
                                  timeout=30, env=scoutlib.ENV)

        m = a.module("faulty")
        self.assertEqual((m["state"], m["reason"], m["starts"], m["uptime_s"]),
                         ("failed", "start failed: Transport endpoint is not connected", 1, None))
        self.health_runs_on(a)
        r = a.request({"cmd": "faulty-break"})
        self.assertEqual(r["ok"], False)
        self.assertEqual(r["error"], {"code": "unavailable", "message": "module faulty is failed"})
        p = ctl("faulty-break")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("module faulty is failed", p.stderr)

        # a reload starts it again
        a.write_config(base + "\n[faulty]\nfail_at_start = no\n")
        p = ctl("reload")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        m = a.module("faulty")
        self.assertEqual((m["state"], m["reason"], m["starts"]), ("running", None, 2))

        # it fails later, from the loop: failed with its reason, the rest runs on
        p = ctl("faulty-break", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        a.wait_for(lambda s: [m for m in s["modules"] if m["name"] == "faulty"][0]["state"] == "failed",
                   what="faulty failed")
        m = a.module("faulty")
        self.assertEqual((m["reason"], m["counters"]), ("broken on request", {}))
        self.health_runs_on(a)
        self.assertIn("faulty: failed: broken on request", a.log())
        rc, _ = a.stop()
        self.assertEqual(rc, 0, a.log())
        self.assertCleanLog(a)

    def stop_never_finishes(self):
        a = self.agent()
        a.write_config(scoutlib.config_text(a.state_dir) + "\n[faulty]\nhang_stop = yes\n")
        a.start()
        self.assertEqual(a.module("faulty")["state"], "running")
        self.health_runs_on(a)
        rc, took = a.stop(timeout=30)
        self.assertEqual(rc, 1, a.log())
        self.assertGreaterEqual(took, 4.0)
        self.assertIn("agent: modules did not stop within 4500 ms: faulty; exiting anyway", a.log())


if __name__ == "__main__":
    scoutlib.main()
