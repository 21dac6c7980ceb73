"""Stopping while a worker is mid-step: the store stays open for it, the process exits cleanly, a restart resumes."""

from __future__ import annotations

import logging
import signal
import threading

from support import DaemonProc, event, shadow_bin

from sntakeover.config import load
from sntakeover.poll import wait_until

SLOW = 4.0


def running_snmove(d: DaemonProc):
    """The snmove command row once it has started (intent and pid recorded, no result yet)."""
    s = d.store()
    try:
        rows = s.query("SELECT * FROM commands WHERE argv LIKE '[\"snmove\"%' AND pid IS NOT NULL AND rc IS NULL")
        return dict(rows[0]) if rows else None
    finally:
        s.close()


def slow_daemon(tmp_path, sim, start=True):
    s = sim(nodes=8)
    s.fail("sn1")
    bindir = shadow_bin(tmp_path / "slowbin", s, slow={"snmove": SLOW})
    # the snmove strategy: snmove itself does the node-side steps, so the resumed incident ends done
    d = DaemonProc(tmp_path, None, xcat=f'path = ["{bindir}"]\n', extra='[takeover]\nstrategy = "snmove"\n')
    return s, d


def test_a_worker_mid_step_at_stop_still_writes_its_result(tmp_path, sim, caplog):
    from sntakeover.daemon import Daemon

    s, d = slow_daemon(tmp_path, sim)
    daemon = Daemon(load(str(d.config)))
    served = threading.Thread(target=daemon.serve, kwargs={"install_signals": False})
    served.start()
    try:
        wait_until(lambda: daemon.engine is not None and daemon.intake_loop is not None, timeout=30)
        from sntakeover.client import wait_for_daemon

        wait_for_daemon(d.endpoint)
        assert d.send(event("sn1"))["ok"]
        cmd = wait_until(lambda: running_snmove(d), timeout=60, what="snmove running")
        with caplog.at_level(logging.WARNING):
            daemon.request_stop()
            daemon.engine.hurry()
            served.join(30)
            assert not served.is_alive()
            assert "incident 1" in caplog.text and "the store stays open" in caplog.text
        # the abandoned worker finishes its step after serve() returned: its writes land
        wait_until(lambda: not daemon.engine.busy(), timeout=60, what="the worker to finish")
        s2 = d.store()
        try:
            row = s2.query("SELECT rc FROM commands WHERE seq = ?", (cmd["seq"],))[0]
            state = s2.query("SELECT state FROM incidents WHERE id = 1")[0]["state"]
        finally:
            s2.close()
        assert row["rc"] is not None, "the command's result was lost"
        assert state == "verifying", state  # moved on exactly one step, then stopped
        assert "closed database" not in caplog.text
    finally:
        daemon.request_stop()
        served.join(30)
        if daemon.store is not None and daemon.engine is not None and not daemon.engine.busy():
            for st in (daemon.store, daemon.intake_store):
                st.close()
        d.cleanup()


def test_sigterm_twice_mid_snmove_exits_cleanly_and_the_restart_resumes(tmp_path, sim):
    s, d = slow_daemon(tmp_path, sim)
    try:
        d.start()
        first = s.nodes_first("sn1")
        assert d.send(event("sn1"))["ok"]
        wait_until(lambda: running_snmove(d), timeout=60, what="snmove running")
        d.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: "stopping (signal" in d.logfile.read_text(), timeout=30, what="the first stop signal")
        d.proc.send_signal(signal.SIGTERM)  # the second: do not wait for the running step
        assert d.proc.wait(30) == 0
        d.log.close()
        log = d.logfile.read_text()
        assert "the store stays open" in log, log[-3000:]
        assert "Traceback" not in log, log[-3000:]
        d.start()
        assert d.wait_closed("sn1", timeout=120)["state"] == "done"
        # the snmove the first daemon started ran once; nothing was moved twice
        moved = [n for argv in s.calls("snmove") for n in argv[0].split(",")]
        assert sorted(moved) == sorted(first), s.calls("snmove")
        assert "from before the restart" in open(d.logfile).read() or all(
            s.servicenode(n).split(",")[0] == "sn2" for n in first)
    finally:
        d.cleanup()
