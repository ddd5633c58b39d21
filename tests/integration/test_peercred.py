"""Who may use the status socket: the file is 0660 so another user cannot
even connect; if the file's mode is loosened anyway, SO_PEERCRED still
refuses the peer with a 'denied' error; members of status_group get in,
by primary or supplementary group. Needs root (to act as uid 65534);
skipped (exit 77) otherwise. scoutctl runs as that user from a copy
anyone can execute, wherever the build tree is."""

import errno
import os
import stat
import subprocess

import scoutlib

NOBODY = 65534
NOGROUP = 65534
OTHER_GID = 54321  # a group nobody else uses


class PeerCred(scoutlib.AgentTest):
    def setUp(self):
        super().setUp()
        if os.geteuid() != 0:
            self.skipTest("not running as root: cannot act as uid %d" % NOBODY)

    def start(self, group=""):
        tmp = scoutlib.make_tmpdir(0o755)  # the socket's directory is open to everyone
        sock = os.path.join(tmp, "scoutd.sock")
        extra = "status_group = %s\n" % group if group else ""
        a = self.agent(tmp=tmp, socket_path=sock, agent_extra=extra)
        a.start()
        return a

    def test_nobody_cannot_connect(self):
        a = self.start()
        st = os.lstat(a.socket)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        self.assertEqual((st.st_uid, st.st_gid), (0, 0))
        res = scoutlib.as_user(NOBODY, NOGROUP, [], scoutlib.talk(a.socket))
        self.assertEqual(res, {"connect_errno": errno.EACCES}, res)

        # scoutctl as nobody: exit 2 naming the path
        ctl = scoutlib.scoutctl_for_anyone()
        p = subprocess.run([ctl, "-s", a.socket, "status"], capture_output=True, text=True, timeout=30,
                           env=scoutlib.ENV, user=NOBODY, group=NOGROUP, extra_groups=[])
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn(a.socket, p.stderr)
        self.assertIn("Permission denied", p.stderr)
        self.assertEqual(p.stdout, "")
        self.assertFalse(scoutlib.sanitizer_problems(p.stderr), p.stderr)

        # the agent never saw it, and serves root as before
        st = a.status()
        self.assertEqual(st["socket"]["denied"], 0)
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())

    def test_peercred_refuses_when_file_mode_is_loosened(self):
        a = self.start()
        os.chmod(a.socket, 0o666)  # e.g. an admin's mistake: the file no longer protects
        try:
            res = scoutlib.as_user(NOBODY, OTHER_GID, [], scoutlib.talk(a.socket))
        finally:
            os.chmod(a.socket, 0o660)
        self.assertNotIn("exception", res)
        self.assertIn("reply", res, res)
        r = res["reply"]
        self.assertIs(r["ok"], False, r)
        self.assertEqual(r["error"]["code"], "denied")
        self.assertIn("uid %d" % NOBODY, r["error"]["message"])
        self.assertNotIn("status", r)
        self.assertTrue(res["eof_after"], "a refused peer must be disconnected")
        st = a.status()
        self.assertEqual(st["socket"]["denied"], 1)
        self.assertIn("refused a client", a.log())
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())

    def test_status_group_members_allowed(self):
        a = self.start(group="nogroup")
        st = os.lstat(a.socket)
        self.assertEqual(st.st_gid, NOGROUP)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        # primary group
        res = scoutlib.as_user(NOBODY, NOGROUP, [], scoutlib.talk(a.socket))
        self.assertIs(res.get("reply", {}).get("ok"), True, res)
        self.assertEqual(res["reply"]["status"]["pid"], a.proc.pid)
        # supplementary group (SO_PEERGROUPS)
        res = scoutlib.as_user(NOBODY, OTHER_GID, [NOGROUP], scoutlib.talk(a.socket))
        self.assertIs(res.get("reply", {}).get("ok"), True, res)
        # neither
        res = scoutlib.as_user(NOBODY, OTHER_GID, [], scoutlib.talk(a.socket))
        self.assertEqual(res, {"connect_errno": errno.EACCES})
        # scoutctl as a member
        ctl = scoutlib.scoutctl_for_anyone()
        p = subprocess.run([ctl, "-s", a.socket, "version"], capture_output=True, text=True, timeout=30,
                           env=scoutlib.ENV, user=NOBODY, group=NOGROUP, extra_groups=[])
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(a.status()["socket"]["denied"], 0)
        rc, took = a.stop()
        self.assertEqual(rc, 0, a.log())


class StatusGroupName(scoutlib.AgentTest):
    """Needs no other user: runs as anyone."""

    def test_unknown_status_group_refuses_start(self):
        tmp = scoutlib.make_tmpdir()
        a = self.agent(tmp=tmp, agent_extra="status_group = no-such-group-scout\n")
        p = a.spawn()
        rc = p.wait(15)
        self.assertNotEqual(rc, 0)
        self.assertIn("status_group: no group named 'no-such-group-scout'", a.log())
        self.assertNotIn("handle left open", a.log())


if __name__ == "__main__":
    scoutlib.main()
