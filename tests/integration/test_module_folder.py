"""A module is one folder and one registry line (issue 8, point 1). The
source tree is copied to a temporary directory; a throwaway module folder
(a meson.build and one .c) is added with its name on one line of
src/modules/meson.build, and nothing else is edited (checked). The copy is
built (scoutd and scoutctl only, unoptimised), and its scoutd runs the
module: its bus topic is declared and counted, `scoutctl help` lists its
command, `scoutctl widgets` renders the reply from the declared columns
(scoutctl knows nothing of the module), --json prints the reply verbatim,
and a reload the module refuses is reported by name with its reason.

Copying and building the core takes a while (the whole core compiles
once), so everything is checked on one build."""

import difflib
import filecmp
import json
import os
import subprocess

import scoutlib

TOP = scoutlib.TOP

FAKE_MESON = """\
# widgets: a throwaway module (test_module_folder.py).
modules_src += files('widgets.c')
"""

FAKE_C = r"""
/* widgets: a throwaway module. It declares one bus topic, publishes on it
 * when asked, consumes health's report like any subscriber, and serves one
 * command whose reply scoutctl shows from the declared columns. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "loop/bus.h"
#include "loop/module.h"
#include "loop/status.h"

struct widgets_conf {
	bool refuse_reload;
};

static const struct scout_option widgets_options[] = {
	{.key = "refuse_reload",
	 .type = SCOUT_OPT_BOOL,
	 .offset = offsetof(struct widgets_conf, refuse_reload),
	 .def = "no",
	 .help = "refuse a reload to this setting"},
	{0},
};

struct widgets {
	struct scout_topic *made;
	struct scout_sub *health;
	unsigned reports;
};

static void on_health(const struct scout_msg *msg, void *arg)
{
	struct widgets *w = arg;
	w->reports++;
}

static int widgets_start(struct scout_mod *m)
{
	struct widgets *w = calloc(1, sizeof(*w));
	struct scout_topic *health;
	int r;

	if (!w)
		return -ENOMEM;
	scout_mod_set_priv(m, w);
	if ((r = scout_mod_topic(m, "widgets.made", &w->made)) < 0 ||
	    (r = scout_mod_topic(m, "health.report", &health)) < 0)
		return r;
	return scout_bus_subscribe(scout_mod_bus(m), health, on_health, w, 0, &w->health);
}

static int widgets_reload(struct scout_mod *m, const void *old_conf)
{
	const struct widgets_conf *conf = scout_mod_conf(m);

	if (conf->refuse_reload) {
		scout_mod_refuse(m, "widgets cannot be refused politely");
		return -EPERM;
	}
	return 0;
}

static void widgets_stop(struct scout_mod *m)
{
	struct widgets *w = scout_mod_priv(m);

	if (w)
		scout_bus_unsubscribe(w->health);
	free(w);
	scout_mod_stopped(m);
}

static void cmd_widgets(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	struct widgets *w = scout_mod_priv(m);
	json_t *rows = json_pack("[{s:s, s:{s:i}}, {s:s, s:{s:i}, s:b}]", "name", "alpha", "size", "bytes", 1,
				 "name", "beta\u202e", "size", "bytes", 22, "shiny", 1);

	if (json_is_true(json_object_get(request, "all")))
		json_array_append_new(rows, json_pack("{s:s}", "name", "gamma"));
	scout_bus_publish(scout_mod_bus(m), w->made, "x", 1);
	scout_status_reply(req, json_pack("{s:o, s:i}", "widgets", rows, "reports_seen", w->reports ? 1 : 0));
}

/* Says what it was given without echoing it: a secret stays in. */
static void cmd_widgets_lock(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	const char *pw = json_string_value(json_object_get(request, "password"));

	scout_status_reply(req, json_pack("{s:i, s:b}", "length", pw ? (int)strlen(pw) : -1, "starts_with_h",
					  pw && pw[0] == 'h'));
}

/* Repeated arguments arrive as an array; an output file is only asked for
 * ("png": true) and its bytes come back base64 for scoutctl to write. */
static void cmd_widgets_label(struct scout_mod *m, struct scout_status_req *req, json_t *request)
{
	json_t *tags = json_object_get(request, "tag");
	json_t *reply = json_pack("{s:O}", "tags", tags ? tags : json_null());

	if (json_is_true(json_object_get(request, "png")))
		json_object_set_new(reply, "png", json_string("iVBORw0KGgp3aWRnZXQ=")); /* "\x89PNG\r\n\x1a\nwidget" */
	scout_status_reply(req, reply);
}

static const struct scout_arg widgets_label_args[] = {
	{"tag", SCOUT_ARG_STRING, false, "a tag; again for more", .multiple = true},
	{"png", SCOUT_ARG_OUTPUT, false, "the label as a PNG file"},
	{0},
};
static const struct scout_arg widgets_lock_args[] = {
	{"password", SCOUT_ARG_SECRET, true, "lock password", .confirm = true},
	{0},
};
static const struct scout_arg widgets_args[] = {
	{"all", SCOUT_ARG_FLAG, false, "the hidden widgets too"},
	{0},
};
static const struct scout_column widgets_columns[] = {
	{"name", "WIDGET", 0},
	{"size.bytes", "BYTES", 0},
	{"shiny", "SHINY", 0},
	{0},
};
static const struct scout_table widgets_tables[] = {{"widgets", widgets_columns}, {0}};
static const struct scout_command widgets_commands[] = {
	{"widgets", cmd_widgets, "the widgets made so far", widgets_args, widgets_tables, NULL},
	{"widgets lock", cmd_widgets_lock, "locks the widgets", widgets_lock_args, NULL, NULL},
	{"widgets label", cmd_widgets_label, "a label for the widgets", widgets_label_args, NULL, NULL,
	 .no_timeout = true},
	{0},
};
static const struct scout_topic_decl widgets_topics[] = {
	{"widgets.made", SCOUT_TOPIC_EVENT, "payload: one byte"},
	{0},
};

const struct scout_module scout_widgets_module = {
	.name = "widgets",
	.summary = "a throwaway module",
	.default_enabled = true,
	.options = widgets_options,
	.conf_size = sizeof(struct widgets_conf),
	.start = widgets_start,
	.reload = widgets_reload,
	.stop = widgets_stop,
	.commands = widgets_commands,
	.topics = widgets_topics,
};
"""

# what the copy needs to build scoutd and scoutctl
COPIED = ["meson.build", "meson_options.txt", "src", "packaging", "subprojects"]


def tree_diff(a, b):
    """Files that differ between two trees, added or removed (relative paths)."""
    out = []
    cmp = filecmp.dircmp(a, b)

    def walk(c, rel):
        out.extend(os.path.join(rel, n) for n in c.left_only + c.right_only + c.diff_files)
        for name, sub in c.subdirs.items():
            walk(sub, os.path.join(rel, name))
    walk(cmp, "")
    return sorted(out)


class ModuleFolder(scoutlib.AgentTest):
    def test_throwaway_module(self):
        tmp = scoutlib.make_tmpdir()
        orig, src = os.path.join(tmp, "orig"), os.path.join(tmp, "src")
        scoutlib.copy_tree(orig)
        scoutlib.copy_tree(src)
        # the module: a folder, and its name on one line of the registry
        lines = scoutlib.add_module(src, "widgets", FAKE_MESON, FAKE_C)

        # nothing else was edited
        self.assertEqual(tree_diff(orig, src), ["src/modules/meson.build", "src/modules/widgets"])
        with open(os.path.join(orig, "src", "modules", "meson.build")) as f:
            before = f.read().split("\n")
        changed = [ln for ln in difflib.ndiff(before, lines) if ln[:1] in "+-?"]
        self.assertEqual(changed, ["+   'widgets',"])

        scoutd, scoutctl = scoutlib.build_tree(self, src, os.path.join(tmp, "build"))
        saved = scoutlib.SCOUTD
        scoutlib.SCOUTD = scoutd
        try:
            self.run_module(scoutctl)
        finally:
            scoutlib.SCOUTD = saved

    def run_module(self, scoutctl):
        a = self.agent()
        a.start()

        def ctl(*args):
            return subprocess.run([scoutctl, "-s", a.socket] + list(args), capture_output=True, text=True,
                                  timeout=30, env=scoutlib.ENV)

        st = a.status()
        self.assertEqual(a.module("widgets")["state"], "running", st)
        self.assertIn("widgets.made", st["bus"])

        p = ctl("help")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("  widgets [--all]", p.stdout)
        self.assertIn("the widgets made so far (widgets)", p.stdout)
        self.assertIn("--all", p.stdout)
        self.assertIn("the hidden widgets too", p.stdout)

        # a health report reaches the module through the bus
        a.wait_for(lambda s: [m for m in s["modules"] if m["name"] == "health"][0].get("ok") is not None,
                   what="a health sample")
        p = ctl("widgets")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["reports_seen", "1"])
        self.assertEqual(lines[1], "")
        self.assertEqual(lines[2].split(), ["WIDGET", "BYTES", "SHINY"])
        self.assertEqual(lines[3].split(), ["alpha", "1", "-"])
        self.assertEqual(lines[4].split(), ["beta\\u202e", "22", "yes"])
        self.assertEqual(len(lines), 5, p.stdout)
        self.assertEqual(lines[2].index("BYTES"), lines[4].index("22"))
        p = ctl("widgets", "--all")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("gamma", p.stdout)
        p = ctl("widgets", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout), {"widgets": [
            {"name": "alpha", "size": {"bytes": 1}},
            {"name": "beta\u202e", "size": {"bytes": 22}, "shiny": True}], "reports_seen": 1})
        p = ctl("widgets", "extra")
        self.assertEqual(p.returncode, 2)
        self.assertIn("widgets: unexpected argument 'extra'", p.stderr)
        self.assertEqual(a.status()["bus"]["widgets.made"]["published"], 3)

        # a two-word command with a secret: read from stdin, never argv
        self.assertIn("  widgets lock ", p_help := ctl("help").stdout)
        self.assertIn("password           lock password (asked for; or one line of stdin)", p_help)

        def ctl_in(stdin, *args):
            return subprocess.run([scoutctl, "-s", a.socket] + list(args), input=stdin, capture_output=True,
                                  text=True, timeout=30, env=scoutlib.ENV)
        p = ctl_in("hunter2\nnext line\n", "widgets", "lock", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout), {"length": 7, "starts_with_h": True})
        p = ctl_in("", "widgets", "lock")
        self.assertEqual(p.returncode, 2)
        self.assertIn("widgets lock: no password on stdin", p.stderr)
        p = ctl_in("\n", "widgets", "lock")
        self.assertEqual(p.returncode, 2)
        self.assertIn("widgets lock: empty password", p.stderr)
        p = ctl_in("", "widgets", "lock", "--password", "hunter2")
        self.assertEqual(p.returncode, 2)
        self.assertIn("--password is not taken on the command line", p.stderr)
        p = ctl_in("x" * 2000 + "\n", "widgets", "lock")
        self.assertEqual(p.returncode, 2)
        self.assertIn("password longer than 1023 bytes", p.stderr)
        # repeated arguments become an array; an output file is written by scoutctl, not scoutd
        # a synopsis too long for its column stands on a line of its own
        lines = ctl("help").stdout.splitlines()
        self.assertIn("  widgets label [--tag VALUE]... [--png FILE]", lines)
        self.assertIn("a label for the widgets (widgets)", lines[lines.index("  widgets label [--tag VALUE]... [--png FILE]") + 1])
        p = ctl("widgets", "label", "--tag", "a", "--tag=b c", "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout), {"tags": ["a", "b c"]})
        self.assertEqual(json.loads(ctl("widgets", "label", "--tag", "x", "--json").stdout), {"tags": ["x"]})
        out = os.path.join(a.state_dir, "label.png")
        p = ctl("widgets", "label", "--png", out, "--json")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout), {"tags": None})
        with open(out, "rb") as f:
            self.assertEqual(f.read(), b"\x89PNG\r\n\x1a\nwidget")
        p = ctl("widgets", "label", "--png", os.path.join(a.state_dir, "no", "such", "dir.png"))
        self.assertEqual(p.returncode, 1)
        self.assertIn("widgets label: cannot write " + os.path.join(a.state_dir, "no", "such", "dir.png"), p.stderr)
        help_cmds = {c["name"]: c for c in a.request({"cmd": "help"})["help"]}
        self.assertEqual(help_cmds["widgets label"].get("no_timeout"), True)
        self.assertEqual([x.get("type") for x in help_cmds["widgets label"]["args"]], ["string", "output"])
        # the one-word command is still itself; "widgets lock" is not "widgets" with an argument
        self.assertEqual(ctl("widgets", "--all").returncode, 0)

        # a reload the module refuses: named, with its reason, applied false
        with open(a.config_path) as f:
            conf = f.read()
        a.write_config(conf + "\n[widgets]\nrefuse_reload = yes\n")
        p = ctl("reload")
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("reload not applied in full", p.stderr)
        self.assertIn("widgets: reload refused: widgets cannot be refused politely; it keeps its previous "
                      "settings", p.stderr)
        r = a.request({"cmd": "reload"})
        self.assertEqual(r["ok"], False)
        self.assertEqual(r["reload"]["applied"], False)
        self.assertEqual(r["reload"]["refused"], [{"module": "widgets",
                                                   "reason": "widgets cannot be refused politely"}])
        self.assertEqual(a.module("widgets")["state"], "running")
        a.write_config(conf)
        p = ctl("reload")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout, "reload applied\n")
        rc, _ = a.stop()
        self.assertEqual(rc, 0, a.log())


if __name__ == "__main__":
    scoutlib.main()
