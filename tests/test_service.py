"""sntakeover as a system service: the systemd unit, sd_notify on a real datagram socket,
SIGHUP during an incident, repeated stop signals."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from sntakeover.poll import wait_until
from sntakeover.sdnotify import SdNotify
from support import REPO, event

UNIT = REPO / "packaging" / "systemd" / "sntakeover.service"


def systemd_analyze() -> str:
    prog = shutil.which("systemd-analyze")
    if prog is None:
        if os.environ.get("SNTAKEOVER_REQUIRE_REAL_TOOLS"):
            pytest.fail("systemd-analyze is not installed (apt-get install systemd)")
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    return prog


def test_the_unit_passes_systemd_analyze_verify(tmp_path):
    prog = systemd_analyze()
    real = Path(sys.executable).parent / "sntakeover"  # the installed console script
    assert real.exists()
    text = UNIT.read_text()
    for key in ("Type=notify", "WatchdogSec=", "ExecReload=", "User=", "Group=", "RuntimeDirectory=",
                "ProtectSystem=", "NoNewPrivileges=yes", "PrivateTmp=yes", "Restart=on-failure"):
        assert key in text, key
    good = tmp_path / "good" / "sntakeover.service"
    good.parent.mkdir()
    good.write_text(text.replace("/usr/local/bin/sntakeover", str(real)))
    r = subprocess.run([prog, "verify", str(good)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), r.stdout + r.stderr
    # and the check does see a broken unit
    bad = tmp_path / "bad" / "sntakeover.service"
    bad.parent.mkdir()
    bad.write_text(text.replace("/usr/local/bin/sntakeover", str(tmp_path / "missing")))
    r = subprocess.run([prog, "verify", str(bad)], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "is not executable" in r.stderr


class Listener:
    """systemd's side of NOTIFY_SOCKET: a unix datagram socket that collects what the daemon says."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="sdn-")  # short: unix socket paths are limited
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setblocking(False)
        self.messages: list[dict[str, str]] = []

    def drain(self) -> list[dict[str, str]]:
        while True:
            try:
                data = self.sock.recv(65536).decode()
            except BlockingIOError:
                return self.messages
            self.messages.append(dict(line.split("=", 1) for line in data.splitlines() if "=" in line))

    def wait_for(self, pred, timeout: float = 60.0) -> dict[str, str]:
        def found():
            return next((m for m in self.drain() if pred(m)), None)
        return wait_until(found, timeout=timeout, what="a notification")

    def close(self) -> None:
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def listener():
    lst = Listener()
    yield lst
    lst.close()


def test_ready_watchdog_status_and_stopping_on_a_real_notify_socket(sim, daemon, listener, tmp_path):
    s = sim()
    s.fail("sn1")
    envfile = tmp_path / "notifier-env"
    d = daemon(s, start=False, extra=f'[plugins.exec]\ncommand = ["sh", "-c", "env > {envfile}"]\n'
                                     'states = ["done"]\n')
    d.start(wait=False, env={"NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "1500000"})
    ready = listener.wait_for(lambda m: m.get("READY") == "1")
    # READY means the endpoint answers at once
    assert d.request({"v": 1, "op": "ping"}, timeout=2.0, retries=1)["pong"] is True
    assert ready["STATUS"] == "no open incident"
    listener.wait_for(lambda m: m.get("WATCHDOG") == "1")
    d.send(event("sn1", state_type="hard"))
    busy = listener.wait_for(lambda m: m.get("STATUS", "").startswith("1 open incident(s): 1 sn1 "))
    assert "READY" not in busy
    inc = d.wait_closed("sn1")
    assert inc["state"] == "done"
    listener.wait_for(lambda m: m.get("STATUS") == "no open incident" and m is not ready)
    # each transition is logged once (by the log notifier), with the incident's summary
    def logged():
        found = [x for x in d.logfile.read_text().splitlines() if "confirming -> confirmed" in x or "-> done" in x]
        return found if any("-> done" in x for x in found) else None

    lines = wait_until(logged, timeout=30, what="the log notifier's line for done")  # notified after the commit
    assert len(lines) == 2 and "sntakeover.incident" in lines[1] and " moved to sn2 in " in lines[1], lines
    # the daemon's children (here the exec notifier) never see systemd's variables
    env = wait_until(lambda: envfile.exists() and envfile.read_text(), timeout=30, what="the notifier's env")
    assert "SNTAKEOVER_STATE=done" in env
    assert "NOTIFY_SOCKET" not in env and "WATCHDOG_USEC" not in env
    pings = sum(1 for m in listener.drain() if m.get("WATCHDOG") == "1")
    assert pings >= 2
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(30) == 0
    listener.wait_for(lambda m: m.get("STOPPING") == "1")


def test_sdnotify_takes_its_variables_out_of_the_environment(listener):
    env = {"NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid()), "X": "1"}
    n = SdNotify(environ=env)
    assert env == {"X": "1"}
    assert n.active and n.watchdog == 4.0
    n.ready("starting")
    n.watchdog_ping()
    msgs = listener.wait_for(lambda m: m.get("WATCHDOG") == "1") and listener.messages
    assert msgs[0] == {"READY": "1", "STATUS": "starting"}
    # another process's watchdog is not ours; no socket at all is fine (run by hand)
    assert SdNotify(environ={"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}).watchdog is None
    quiet = SdNotify(environ={})
    assert not quiet.active
    quiet.ready("x")  # does nothing, raises nothing


def test_the_watchdog_is_pinged_from_the_engine_loop(tmp_path, listener):
    from sntakeover.service import Service
    from support import EngineRun

    run = EngineRun(tmp_path, None)
    notify = SdNotify(environ={"NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "300000"})

    class Owner:  # what Service needs of the daemon
        store = run.store
        engine = run.engine

    svc = Service(Owner(), notify)  # type: ignore[arg-type]
    run.engine.heartbeat = svc.heartbeat
    svc.bound()
    run.engine.start()
    try:
        listener.wait_for(lambda m: m.get("READY") == "1")
        first = listener.wait_for(lambda m: m.get("WATCHDOG") == "1")
        listener.wait_for(lambda m: m.get("WATCHDOG") == "1" and m is not first)
    finally:
        run.engine.stop(timeout=10)
        run.close()
    assert not run.engine._thread.is_alive()
    seen = len(listener.drain())
    assert len(listener.drain()) == seen  # the loop is gone: nothing pings any more


def test_sighup_during_an_incident_reloads_and_leaves_it_running(sim, daemon, tmp_path):
    s = sim()
    s.fail("sn1")
    marker = tmp_path / "notified"
    d = daemon(s)
    original = d.config.read_text()
    s.x.set_latency(s.dir, 0.05)  # the takeover lasts a few seconds
    d.send(event("sn1", state_type="hard"))
    d.wait_state("sn1", {"moving", "verifying"})
    d.config.write_text(original.replace('log_level = "debug"', 'log_level = "info"').replace(
        "rounds = 2", "rounds = 3") + f'[plugins.exec]\ncommand = ["touch", "{marker}"]\nstates = ["done"]\n')
    d.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "reloaded" in d.logfile.read_text(), timeout=30, what="the reload")
    inc = d.wait_closed("sn1", timeout=120)
    assert inc["state"] == "done", d.summary(inc["id"])["timeline"]
    assert d.proc.poll() is None  # SIGHUP did not stop the daemon
    log = d.logfile.read_text()
    assert "reloaded" in log and "daemon.log_level" in log and "[plugins.*]" in log
    assert "confirm.rounds changed" in log and "takes effect after a restart" in log
    wait_until(marker.exists, timeout=30, what="the reloaded notifier to run")  # the new notifier took effect
    # a configuration that does not load is refused; the daemon goes on with the one it has
    d.config.write_text(original + "[confirm]\nnot_a_key = 1\n")
    d.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "reload refused" in d.logfile.read_text(), timeout=30, what="the refusal")
    assert d.request({"v": 1, "op": "ping"})["pong"] is True


def test_a_second_stop_signal_stops_without_waiting_and_leaves_the_store_to_the_running_step(sim, daemon):
    s = sim()
    mine = s.nodes_first("sn1")
    s.fail("sn1")
    d = daemon(s)
    s.x.set_latency(s.dir, 0.1)  # snmove runs for a while

    d.send(event("sn1", state_type="hard"))
    wait_until(lambda: d.snmove_rows(running=True), timeout=60, what="snmove running")
    d.proc.send_signal(signal.SIGTERM)
    wait_until(lambda: "stopping (signal" in d.logfile.read_text(), timeout=30, what="the first signal")
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(60) == 0
    log = d.logfile.read_text()
    assert "again: not waiting for running steps" in log and "INFO sntakeover.daemon: stopped" in log
    # the worker is still inside its snmove step: the store is left open for it (it writes its result
    # when the command returns), not closed under it
    assert log.rstrip().endswith("the store stays open until the process exits; the next start resumes them")
    assert "Traceback" not in log
    d.log.close()
    # the store is whole and the locks are free: a new daemon resumes and finishes, each node moved once
    st = d.store()
    assert st.query("PRAGMA integrity_check")[0][0] == "ok"
    st.close()
    d.start()
    inc = d.wait_closed("sn1", timeout=120)
    st = d.store()
    timeline = [f"{r['to_state']}: {r['reason']}" for r in st.timeline(inc["id"])]
    st.close()
    assert inc["state"] == "done", "\n".join(timeline)
    assert len(s.calls("snmove")) == 1 and all(s.servicenode(n) == "sn2,sn1" for n in mine)
