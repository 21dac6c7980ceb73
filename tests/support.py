"""Helpers shared by the tests: a simulated xCAT cluster and a real daemon process on real sockets."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sntakeover.client import NoDaemon, request, wait_for_daemon
from sntakeover.store import Store

REPO = Path(__file__).resolve().parent.parent


class Sim:
    """A simulated xCAT cluster in a directory (see sntakeover.xcatsim); ``close()`` stops its listeners."""

    def __init__(self, directory: Path, **kw: Any) -> None:
        from sntakeover import xcatsim

        self.x = xcatsim
        self.dir = Path(xcatsim.init_cluster(directory, **kw))
        self.bin = Path(xcatsim.bin_dir(self.dir))

    def run(self, *argv: str) -> subprocess.CompletedProcess:
        env = dict(os.environ, PATH=f"{self.bin}{os.pathsep}{os.environ['PATH']}")
        return subprocess.run(list(argv), capture_output=True, text=True, env=env, timeout=120)

    def fail(self, sn: str) -> None:
        self.x.fail_sn(self.dir, sn)

    def heal(self, sn: str) -> None:
        self.x.heal_sn(self.dir, sn)

    def close(self) -> None:
        self.x.stop_cluster(self.dir)

    def address(self, sn: str) -> tuple[str, int]:
        """The SN's xcatd address as xCAT resolves it (hosts table, site.xcatdport)."""
        t = self.state()["tables"]
        return t["hosts"][sn]["ip"], int(t["site"]["xcatdport"])

    def node_down(self, node: str) -> None:
        self.x.set_node_up(self.dir, node, False)

    def state(self) -> dict[str, Any]:
        return self.x.load_state(self.dir)

    def attr(self, node: str, attr: str) -> str:
        from sntakeover.xcatsim.state import node_attr

        return node_attr(self.state(), node, attr)

    def servicenode(self, node: str) -> str:
        return self.attr(node, "servicenode")

    def nodes_first(self, sn: str) -> list[str]:
        st = self.state()
        from sntakeover.xcatsim.state import all_nodes, node_attr

        return [n for n in all_nodes(st) if node_attr(st, n, "servicenode").split(",")[0] == sn]

    def log(self) -> list[dict[str, Any]]:
        return self.x.commands_log(self.dir)

    def calls(self, name: str) -> list[list[str]]:
        """Top-level invocations of one command (not the ones snmove made itself)."""
        return [e["argv"][1:] for e in self.log() if Path(e["argv"][0]).name == name and not e.get("via")]


class DaemonProc:
    """``sntakeover serve`` as a real child process with its own config and store."""

    def __init__(self, tmp_path: Path, sim: Sim | None, extra: str = "") -> None:
        self.rundir = Path(tempfile.mkdtemp(prefix="snt-"))  # short: ipc paths are limited to ~107 bytes
        self.tmp = tmp_path
        self.endpoint = f"ipc://{self.rundir}/run/intake.sock"
        self.config = tmp_path / "config.toml"
        path = f'path = ["{sim.bin}"]' if sim else ""
        defaults = {"[confirm]": "rounds = 2\ninterval = 0.2\n", "[verify]": "interval = 0.2\n"}
        tail = "".join(f"{sec}\n{body}" for sec, body in defaults.items() if sec not in extra)
        self.config.write_text(f"""
[daemon]
state_dir = "{tmp_path}/state"
runtime_dir = "{self.rundir}/run"
log_level = "debug"
[xcat]
{path}
command_timeout = 120.0
{tail}{extra}
""")
        self.proc: subprocess.Popen | None = None
        self.logfile = tmp_path / "daemon.log"

    def start(self, wait: bool = True) -> DaemonProc:
        self.log = open(self.logfile, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sntakeover", "serve", "--config", str(self.config)],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO,
        )
        if wait:
            try:
                wait_for_daemon(self.endpoint, alive=lambda: self.proc.poll() is None)
            except NoDaemon:
                raise RuntimeError("daemon did not start:\n" + self.logfile.read_text()) from None
        return self

    def request(self, req: dict[str, Any], timeout: float = 5.0, retries: int = 2) -> dict[str, Any]:
        return request(req, endpoint=self.endpoint, timeout=timeout, retries=retries)

    def send(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.request({"v": 1, "op": "event", "event": event})

    def send_raw(self, source: str, payload: Any) -> dict[str, Any]:
        return self.request({"v": 1, "op": "raw", "source": source, "payload": payload})

    def store(self) -> Store:
        return Store(self.tmp / "state" / "sntakeover.db", readonly=True)

    def incident_for(self, sn: str) -> dict[str, Any] | None:
        s = self.store()
        try:
            rows = s.query("SELECT * FROM incidents WHERE servicenode = ? ORDER BY id DESC LIMIT 1", (sn,))
            return dict(rows[0]) if rows else None
        finally:
            s.close()

    def wait_closed(self, sn: str, timeout: float = 60.0, after: int = 0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            inc = self.incident_for(sn)
            if inc and inc["id"] > after and inc["closed"]:
                return inc
            time.sleep(0.05)
        raise AssertionError(f"no closed incident for {sn} within {timeout}s: {self.incident_for(sn)}\n"
                             + self.logfile.read_text()[-4000:])

    def wait_state(self, sn: str, states: set[str], timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            inc = self.incident_for(sn)
            if inc and inc["state"] in states:
                return inc
            time.sleep(0.02)
        raise AssertionError(f"incident for {sn} never reached {states}: {self.incident_for(sn)}")

    def summary(self, iid: int) -> dict[str, Any]:
        from sntakeover.engine import summary

        s = self.store()
        try:
            return summary(s, iid)
        finally:
            s.close()

    def stop(self) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        return self.proc.returncode if self.proc else None

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.rundir, ignore_errors=True)


def event(sn: str = "sn1", kind: str = "sn.down", id: str | None = None, **kw: Any) -> dict[str, Any]:
    ev = {"id": id or f"test:{kind}:{sn}:{time.monotonic_ns()}", "kind": kind, "servicenode": sn,
          "source": {"tool": "nagios", "host": "mon1", "ref": "17"}, "time": "2026-03-04T10:15:42Z"}
    ev.update(kw)
    return ev


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=str)
