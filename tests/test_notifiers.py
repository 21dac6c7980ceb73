"""Notifiers: syslog, e-mail (real SMTP server), signed webhook (real HTTP server), exec; each off unless configured."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sntakeover.config import build
from sntakeover.context import Context
from sntakeover.model import Incident, NodeProgress, State
from sntakeover.notifytext import message
from sntakeover.plugins import Hooks, get_plugin_manager
from sntakeover.poll import wait_until
from sntakeover.runner import LocalRunner
from support import processes_with

MOVED = tuple(f"cn{i}" for i in range(1, 31))
INC = Incident(7, "sn1", State.PARTIAL, "2026-03-04T10:15:42Z",
               progress=NodeProgress(moved=MOVED, failed=("cn40", "cn33"), moved_to=(("sn2", 30),)),
               committed_at="2026-03-04T10:19:19Z")
PARTIAL = {"from": "verifying", "to": "partial", "reason": "30 of 32 node(s) verified, 2 failed",
           "time": "2026-03-04T10:20:00Z"}
MOVING = {"from": "confirmed", "to": "moving", "reason": "no fencing configured", "time": "2026-03-04T10:16:00Z"}


def notify(plugins: dict, incident=INC, transition=PARTIAL) -> list[str]:
    """Run every built-in notifier as the engine does; return the names of those that failed."""
    hooks = Hooks(get_plugin_manager(load_entrypoints=False))
    return hooks.notify(incident, transition, Context(build({"plugins": plugins}), LocalRunner()))


def test_the_message_is_short_and_says_what_an_admin_needs():
    m = message(INC, PARTIAL)
    assert m["subject"] == "sntakeover: sn1 partial (30 moved, 2 failed) - incident 7"
    text = m["text"]
    assert "Service node sn1: incident 7 is partial (was verifying)." in text
    assert "Summary: 30 moved to sn2 in 41 s, 2 failed: cn33,cn40" in text
    assert "Nodes moved: 30 (cn1-cn30)" in text
    assert "Nodes failed: 2 (cn33,cn40)" in text
    assert m["summary"] == "30 moved to sn2 in 41 s, 2 failed: cn33,cn40"
    assert "30 moved to sn2 in 41 s" in m["line"]
    assert "Waiting for: an administrator: 2 node(s) failed" in text
    assert "Details: sntakeover show 7" in text
    assert len(text.splitlines()) <= 9
    assert m["moved"] == {"count": 30, "nodes": list(MOVED)} and m["failed"]["nodes"] == ["cn33", "cn40"]
    waiting = message(Incident(8, "sn3", State.CONFIRMING, "t"), {"from": "detected", "to": "confirming",
                                                                    "reason": "probing sn3", "time": "t"})
    assert waiting["waiting_for"] == "the probes to confirm that sn3 is down"


def test_hook_sntakeover_notify_every_notifier_is_off_unless_configured(tmp_path):
    assert notify({}) == []
    marker = tmp_path / "ran"
    assert notify({"exec": {"command": ["touch", str(marker)], "states": ["done"]}}) == []
    assert not marker.exists()  # 'partial' is not in its states
    assert notify({"exec": {"command": ["touch", str(marker)]}}) == []
    assert marker.exists()


@pytest.fixture
def udp_sink():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(10)
    yield s
    s.close()


def test_syslog_over_udp_and_a_local_socket(udp_sink, tmp_path):
    port = udp_sink.getsockname()[1]
    assert notify({"syslog": {"address": f"127.0.0.1:{port}", "facility": "local3"}}) == []
    data = udp_sink.recv(65536).decode()
    assert data.startswith(f"<{19 * 8 + 4}>")  # local3.warning for a partial incident
    assert f" sntakeover[{os.getpid()}]: incident 7 sn1 verifying -> partial: 30 moved to sn2 in 41 s, 2 failed: cn33,cn40;" in data
    assert "run: sntakeover show 7" in data
    path = str(tmp_path / "log.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as local:
        local.bind(path)
        local.settimeout(10)
        assert notify({"syslog": {"address": path}}, transition=MOVING) == []
        got = local.recv(65536).decode()
    assert got.startswith(f"<{3 * 8 + 5}>") and "confirmed -> moving" in got  # daemon.notice


def test_email_reaches_a_real_smtp_server():
    from aiosmtpd.controller import Controller

    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope)
            return "250 OK"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctl = Controller(Handler(), hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        assert notify({"email": {"to": ["ops@example.org", "oncall@example.org"], "from": "snt@mn1.example.org",
                                 "host": "127.0.0.1", "port": port}}) == []
    finally:
        ctl.stop()
    [env] = received
    assert env.mail_from == "snt@mn1.example.org" and env.rcpt_tos == ["ops@example.org", "oncall@example.org"]
    mail = env.content.decode()
    assert "Subject: sntakeover: sn1 partial (30 moved, 2 failed) - incident 7" in mail
    assert "Nodes failed: 2 (cn33,cn40)" in mail and "Details: sntakeover show 7" in mail


class Sink:
    """A local HTTP server that records POSTs and answers ``status``."""

    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        self.requests: list[tuple[dict, bytes]] = []
        self.release = threading.Event()
        sink = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                sink.requests.append((dict(self.headers), body))
                if delay:
                    sink.release.wait(delay)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def test_webhook_posts_signed_json(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    sink = Sink()
    try:
        assert notify({"webhook": {"url": sink.url, "secret_file": str(secret)}}) == []
    finally:
        sink.close()
    [(headers, body)] = sink.requests
    want = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["X-Sntakeover-Signature"], want)
    assert headers["Content-Type"] == "application/json"
    doc = json.loads(body)
    assert (doc["servicenode"], doc["state"], doc["from"], doc["incident"]) == ("sn1", "partial", "verifying", 7)
    assert doc["moved"]["count"] == 30 and doc["failed"] == {"count": 2, "nodes": ["cn33", "cn40"]}
    assert doc["show"] == "sntakeover show 7"


def test_webhook_error_answers_and_timeouts_fail_only_that_notifier(tmp_path):
    marker = tmp_path / "exec-ran"
    others = {"exec": {"command": ["touch", str(marker)]}}
    refused, slow = Sink(status=500), Sink(delay=30)
    try:
        assert notify({"webhook": {"url": refused.url}, **others}) == ["sntakeover.builtin.notify_webhook"]
        assert marker.exists()
        marker.unlink()
        assert notify({"webhook": {"url": slow.url, "timeout": 0.5}, **others}) == ["sntakeover.builtin.notify_webhook"]
        assert marker.exists()
    finally:
        refused.close()
        slow.close()


def test_exec_gets_the_incident_in_its_environment_and_as_json_on_stdin(tmp_path):
    out = tmp_path / "out.json"
    script = ("import json, os, sys\n"
              "doc = json.load(sys.stdin)\n"
              "env = {k: v for k, v in os.environ.items() if k.startswith('SNTAKEOVER_')}\n"
              f"open({str(out)!r}, 'w').write(json.dumps({{'stdin': doc, 'env': env}}))\n")
    assert notify({"exec": {"command": [sys.executable, "-c", script]}}) == []
    got = json.loads(out.read_text())
    env = got["env"]
    assert env["SNTAKEOVER_INCIDENT"] == "7" and env["SNTAKEOVER_SERVICENODE"] == "sn1"
    assert env["SNTAKEOVER_STATE"] == "partial" and env["SNTAKEOVER_FROM"] == "verifying"
    assert env["SNTAKEOVER_MOVED"] == "30" and env["SNTAKEOVER_FAILED_NODES"] == "cn33,cn40"
    assert env["SNTAKEOVER_SHOW"] == "sntakeover show 7" and "Nodes moved: 30" in env["SNTAKEOVER_TEXT"]
    assert got["stdin"]["failed"]["nodes"] == ["cn33", "cn40"] and got["stdin"]["state"] == "partial"


def test_exec_that_hangs_is_killed_at_its_timeout_and_one_that_fails_is_reported(tmp_path):
    mark = f"snt-exec-hang-{os.getpid()}"
    assert notify({"exec": {"command": ["sh", "-c", f"sleep 300; : {mark}"], "timeout": 0.5}}) == \
        ["sntakeover.builtin.notify_exec"]
    assert not processes_with(mark)
    assert notify({"exec": {"command": ["sh", "-c", "exit 3"]}}) == ["sntakeover.builtin.notify_exec"]


def test_hook_sntakeover_notify_a_failing_and_a_hanging_notifier_do_not_change_the_takeover(sim, daemon, udp_sink):
    import time

    from support import event

    s = sim()
    mine = s.nodes_first("sn1")
    s.fail("sn1")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        refused = closed.getsockname()[1]
    mark = f"snt-hang-{os.getpid()}-{time.monotonic_ns()}"
    d = daemon(s, extra=f"""
[notify]
retries = 1
[plugins.exec]
command = ["sh", "-c", "sleep 300; : {mark}"]
timeout = 0.5
[plugins.webhook]
url = "http://127.0.0.1:{refused}/hook"
[plugins.syslog]
address = "127.0.0.1:{udp_sink.getsockname()[1]}"
""")
    d.send(event("sn1"))
    inc = d.wait_closed("sn1")
    assert inc["state"] == "done"
    # the working notifier said so, with the numbers
    lines = []
    while not any("-> done" in x for x in lines):
        lines.append(udp_sink.recv(65536).decode())
    done = next(x for x in lines if "-> done" in x)
    assert re.search(rf"verifying -> done: {len(mine)} moved to sn2 in \d+ s; waiting for: nothing", done), done
    assert f"run: sntakeover show {inc['id']}" in done

    def notes():
        tl = d.summary(inc["id"])["timeline"]
        changes = sum(1 for t in tl if t["from_state"] and t["to_state"])
        failed = [t["reason"] for t in tl if t["to_state"] is None and t["reason"].startswith("notifier ")]
        return changes, failed

    def all_noted():
        changes, failed = notes()
        return (changes, failed) if len(failed) == 2 * changes else None

    changes, failed = wait_until(all_noted, timeout=30, what="every failed notification noted")
    for plugin in ("notify_exec", "notify_webhook"):
        assert len([f for f in failed if f.startswith(f"notifier sntakeover.builtin.{plugin} failed after 1 attempt")]) \
            == changes, failed
    assert not processes_with(mark)  # every hanging run was killed at its timeout
    assert all(s.servicenode(n) == "sn2,sn1" for n in mine)
