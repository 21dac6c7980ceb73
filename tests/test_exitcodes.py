"""One table of exit codes (sntakeover.exitcodes, the README): `send`, `hook` and the control
verbs give the same code for the same outcome, against a real daemon and real sockets."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
import zmq

from sntakeover import exitcodes
from support import REPO


def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sntakeover", *args], capture_output=True, text=True, timeout=120,
                          cwd=REPO, input=stdin)


class GarbageServer:
    """A ROUTER that answers every request with something that is not JSON."""

    def __init__(self, tmp_path) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.endpoint = f"ipc://{tmp_path}/garbage.sock"
        self.sock.bind(self.endpoint)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stop.is_set():
            if self.sock.poll(100):
                frames = self.sock.recv_multipart()
                self.sock.send_multipart([*frames[:-1], b"<html>not json</html>"])

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()
        self.ctx.term()


def test_send_hook_and_control_verbs_share_the_exit_codes(daemon, tmp_path):
    d = daemon()
    ep = ["--endpoint", d.endpoint]
    send = ["send", *ep, "--kind", "sn.down"]
    nagios = ["hook", "nagios", *ep, "--state", "DOWN", "--state-type", "HARD"]

    ok_send, ok_hook = run(*send, "-s", "sn1"), run(*nagios, "--host", "sn2")
    assert ok_send.returncode == ok_hook.returncode == exitcodes.OK == 0

    # refused by the daemon: the same code, and the reason in words with the JSON path
    bad_send, bad_hook = run(*send, "-s", "sn1;reboot"), run(*nagios, "--host", "sn1;reboot")
    assert bad_send.returncode == bad_hook.returncode == exitcodes.REFUSED == 4
    for r in (bad_send, bad_hook):
        assert "'sn1;reboot' is not a valid xCAT" in r.stderr and "(?!" not in r.stderr
    # a control verb the daemon will not apply has failed (1), it was not invalid
    approve = run("approve", "999", *ep)
    assert approve.returncode == exitcodes.FAILED == 1 and "no incident 999" in approve.stderr

    # usage
    assert run("send", *ep, "-s", "sn1").returncode == run("hook", "nagios", *ep).returncode == exitcodes.USAGE == 2

    # no daemon: the event was not delivered, and each says so
    gone = ["--endpoint", f"ipc://{tmp_path}/nobody.sock", "--timeout", "0.2", "--retries", "1"]
    no_send = run("send", *gone, "--kind", "sn.down", "-s", "sn1")
    no_hook = run("hook", "nagios", *gone, "--host", "sn1", "--state", "DOWN", "--state-type", "HARD")
    assert no_send.returncode == no_hook.returncode == exitcodes.NO_DAEMON == 3
    assert "NOT delivered" in no_send.stderr and "NOT delivered" in no_hook.stderr

    # a reply that is not understood
    g = GarbageServer(tmp_path)
    try:
        bad = ["--endpoint", g.endpoint, "--retries", "1"]
        r1 = run("send", *bad, "--kind", "sn.down", "-s", "sn1")
        r2 = run("hook", "nagios", *bad, "--host", "sn1", "--state", "DOWN", "--state-type", "HARD")
        r3 = run("pause", *bad)
    finally:
        g.close()
    assert r1.returncode == r2.returncode == r3.returncode == exitcodes.BAD_REPLY == 5
    assert "Traceback" not in r1.stderr + r2.stderr + r3.stderr


def test_the_readme_documents_the_table():
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## Exit codes"):]
    section = section[:section.index("\n## ", 5)]
    for code in (0, 1, 2, 3, 4, 5, 141):
        assert f"| {code} |" in section, code


@pytest.mark.parametrize("argv, says", [
    (["prune", "--raw-days", "-5"], "'-5': give at least 0"),
    (["incidents", "--limit", "-1"], "'-1': give at least 1"),
    (["send", "--retries", "0", "--kind", "sn.up", "-s", "sn1"], "'0': give at least 1"),
    (["maintenance", "sn1", "--until", "90m", "--end"], "not allowed with argument --until"),
])
def test_arguments_out_of_range_are_usage_errors(argv, says, capsys):
    from sntakeover.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and says in capsys.readouterr().err
