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
from sntakeover.clock import now
from sntakeover.poll import PollTimeout, wait_until
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

    def __init__(self, tmp_path: Path, sim: Sim | None, extra: str = "", xcat: str = "", store: str = "") -> None:
        self.store_location = store or tmp_path / "state" / "sntakeover.db"
        self.rundir = Path(tempfile.mkdtemp(prefix="snt-"))  # short: ipc paths are limited to ~107 bytes
        self.tmp = tmp_path
        tmp_path.mkdir(parents=True, exist_ok=True)
        self.endpoint = f"ipc://{self.rundir}/run/intake.sock"
        self.config = tmp_path / "config.toml"
        path = f'path = ["{sim.bin}"]' if sim else ""
        defaults = {"[confirm]": "rounds = 2\ninterval = 0.2\n", "[verify]": "interval = 0.2\n",
                    "[metrics]": 'listen = ""\n'}
        tail = "".join(f"{sec}\n{body}" for sec, body in defaults.items() if sec not in extra)
        self.config.write_text(f"""
[daemon]
state_dir = "{tmp_path}/state"
runtime_dir = "{self.rundir}/run"
log_level = "debug"
{f'store = "{store}"' if store else ""}
[xcat]
{path}
command_timeout = 120.0
{xcat}{tail}{extra}
""")
        self.proc: subprocess.Popen | None = None
        self.keys: Any = None  # CURVE client keys (sntakeover.auth.ClientKeys) for a tcp:// endpoint
        self.logfile = tmp_path / "daemon.log"

    def start(self, wait: bool = True, env: dict[str, str] | None = None) -> DaemonProc:
        self.log = open(self.logfile, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sntakeover", "serve", "--config", str(self.config)],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=REPO, env={**os.environ, **(env or {})},
        )
        if wait:
            try:
                wait_for_daemon(self.endpoint, alive=lambda: self.proc.poll() is None, keys=self.keys)
            except NoDaemon:
                raise RuntimeError("daemon did not start:\n" + self.logfile.read_text()) from None
        return self

    def request(self, req: dict[str, Any], timeout: float = 5.0, retries: int = 2) -> dict[str, Any]:
        return request(req, endpoint=self.endpoint, timeout=timeout, retries=retries, keys=self.keys)

    def send(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.request({"v": 1, "op": "event", "event": event})

    def send_raw(self, source: str, payload: Any) -> dict[str, Any]:
        return self.request({"v": 1, "op": "raw", "source": source, "payload": payload})

    def store(self) -> Store:
        return Store(self.store_location, readonly=True)

    def snmove_rows(self, *, running: bool) -> list[Any]:
        """The snmove commands the daemon recorded: still running (a pid, no result yet) or finished."""
        where = "rc IS NULL AND pid IS NOT NULL" if running else "rc IS NOT NULL"
        s = self.store()
        try:
            return s.query(f"SELECT seq, pid FROM commands WHERE argv LIKE '[\"snmove\"%' AND {where}")
        finally:
            s.close()

    def query_one(self, sql: str, args: Any = ()) -> dict[str, Any] | None:
        """The first row of a query on the daemon's store, or None."""
        s = self.store()
        try:
            rows = s.query(sql, args)
            return dict(rows[0]) if rows else None
        finally:
            s.close()

    def incident_for(self, sn: str) -> dict[str, Any] | None:
        return self.query_one("SELECT * FROM incidents WHERE servicenode = ? ORDER BY id DESC LIMIT 1", (sn,))

    def wait_closed(self, sn: str, timeout: float = 60.0, after: int = 0) -> dict[str, Any]:
        def closed():
            inc = self.incident_for(sn)
            return inc if inc and inc["id"] > after and inc["closed"] else None

        try:
            return wait_until(closed, timeout=timeout, what=f"a closed incident for {sn}")
        except PollTimeout:
            raise AssertionError(f"no closed incident for {sn} within {timeout}s: {self.incident_for(sn)}\n"
                                 + self.logfile.read_text()[-4000:]) from None

    def wait_state(self, sn: str, states: set[str], timeout: float = 60.0) -> dict[str, Any]:
        def reached():
            inc = self.incident_for(sn)
            return inc if inc and inc["state"] in states else None

        try:
            return wait_until(reached, timeout=timeout, interval=0.02, what=f"{sn} in {states}")
        except PollTimeout:
            raise AssertionError(f"incident for {sn} never reached {states}: {self.incident_for(sn)}") from None

    def wait_outcome(self, event_id: str, timeout: float = 60.0) -> str:
        """Wait until the engine has applied the event; return its outcome."""
        def applied():
            s = self.store()
            try:
                rows = s.query("SELECT processed, outcome FROM events WHERE id = ?", (event_id,))
            finally:
                s.close()
            return rows[0]["outcome"] if rows and rows[0]["processed"] else None

        try:
            return wait_until(applied, timeout=timeout, what=f"event {event_id} applied")
        except PollTimeout:
            raise AssertionError(f"event {event_id} not applied within {timeout}s") from None

    def wait_note(self, iid: int, text: str, timeout: float = 60.0) -> str:
        """Wait until a line containing ``text`` is on the incident's timeline; return it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hit = next((t["reason"] for t in self.summary(iid)["timeline"] if text in t["reason"]), None)
            if hit:
                return hit
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never on incident {iid}'s timeline")

    def summary(self, iid: int) -> dict[str, Any]:
        from sntakeover.records import summary

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
          "source": {"tool": "nagios", "host": "mon1", "ref": "17"}, "time": now()}
    ev.update(kw)
    return ev


def partial_with_one_down_node(s: Sim, daemon, *, victim: int = 1,
                               extra: str = "[verify]\ninterval = 0.1\n") -> tuple[DaemonProc, dict[str, Any], str]:
    """sn1 fails while one of its compute nodes (``victim``-th of sn1's) is down; a daemon from the
    ``daemon`` fixture takes over and the incident ends ``partial``. Returns (daemon, incident, node)."""
    node = s.nodes_first("sn1")[victim]
    s.fail("sn1")
    s.node_down(node)
    d = daemon(s, extra=extra)
    d.send(event("sn1"))
    inc = d.wait_closed("sn1")
    assert inc["state"] == "partial"
    return d, inc, node


def dumps(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=str)


class EngineRun:
    """The real engine, store and plugins in this process, driven step by step.

    For tests that register their own plugins (the exception contract, probes
    that misbehave): no daemon process, no threads -- :meth:`until` applies the
    pending events and runs every due incident until a condition holds.
    """

    def __init__(self, tmp_path: Path, sim: Sim | None, config: dict[str, Any] | None = None,
                 plugins: tuple[Any, ...] = (), builtins: tuple[str, ...] | None = None,
                 path: Path | None = None, blocked: tuple[str, ...] = ()) -> None:
        from sntakeover.config import build
        from sntakeover.engine import Engine
        from sntakeover.plugins import Hooks, get_plugin_manager
        from sntakeover.runner import LocalRunner

        raw: dict[str, Any] = {"confirm": {"rounds": 2, "interval": 0.05}, "verify": {"interval": 0.05},
                               "engine": {"retry_delay": 0.05}, "notify": {"retries": 2, "backoff": 0.05}}
        for section, values in (config or {}).items():
            raw.setdefault(section, {}).update(values)
        bindir = path or (sim.bin if sim is not None else None)
        if bindir is not None:
            raw.setdefault("xcat", {})["path"] = [str(bindir)]
        self.config = build(raw)
        self.store = Store(tmp_path / "engine.db")
        pm = get_plugin_manager(load_entrypoints=False, blocked=blocked,
                                **({} if builtins is None else {"builtins": builtins}))
        for i, plugin in enumerate(plugins):
            pm.register(plugin, name=f"test-plugin-{i}")
        self.hooks = Hooks(pm)
        runner = LocalRunner(path_prefix=[str(bindir)] if bindir else ())
        self.engine = Engine(self.config, self.store, self.hooks, runner)
        # notifications go through the durable outbox, delivered by the real notifier thread
        from sntakeover.outbox import Notifier

        self.notifier = Notifier(self.config, Store(tmp_path / "engine.db"), self.hooks, runner).start()

    def send(self, ev: dict[str, Any]) -> None:
        from sntakeover.model import Event

        self.store.add_event(Event.from_dict(ev))
        self.engine.apply_pending()

    def incident(self, sn: str = "sn1") -> dict[str, Any] | None:
        rows = self.store.query("SELECT * FROM incidents WHERE servicenode = ? ORDER BY id DESC LIMIT 1", (sn,))
        return dict(rows[0]) if rows else None

    def until(self, pred, timeout: float = 60.0) -> Any:
        """Run due incidents until ``pred()`` is true (returns its value)."""
        def step():
            self.engine.apply_pending()
            self.engine.sweep()
            value = pred()
            if value:
                return value
            for iid in self.engine.due():
                self.engine.drive(iid)
            return pred()

        try:
            return wait_until(step, timeout=timeout, interval=0.02, what="the condition")
        except PollTimeout:
            raise AssertionError(f"condition not reached within {timeout}s; incidents: "
                                 f"{[dict(r) for r in self.store.query('SELECT id, state, reason FROM incidents')]}"
                                 ) from None

    def state(self, sn: str = "sn1", states: tuple[str, ...] = ()) -> dict[str, Any]:
        """Run until the SN's latest incident is in one of ``states`` (or closed, when none given)."""
        def reached():
            inc = self.incident(sn)
            if inc and ((inc["state"] in states) if states else inc["closed"]):
                return inc
            return None
        return self.until(reached)

    def timeline(self, iid: int) -> list[str]:
        return [r["reason"] for r in self.store.timeline(iid)]

    def close(self) -> None:
        self.notifier.stop()
        self.notifier.store.close()
        self.store.close()


def shadow_bin(directory: Path, sim: Sim, *, missing: tuple[str, ...] = (),
               fail: dict[str, tuple[str, str, int]] | None = None, slow: dict[str, float] | None = None) -> Path:
    """A bin directory in front of the simulator's: some commands missing, some failing, some slow.

    :param missing: commands that do not exist at all (exec fails, as on a broken MN).
    :param fail: command -> (argument that triggers it, error text, times): the command prints
        ``Error: <text>`` and exits 1 the first ``times`` times it is called with that argument
        (``times`` 0 = always), then behaves normally.
    :param slow: command -> seconds it waits (as a slow MN or network would) before it runs.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for prog in sim.bin.iterdir():
        if prog.name in missing:
            continue
        target = directory / prog.name
        rule = (fail or {}).get(prog.name)
        if prog.name in (slow or {}):
            target.write_text(f"#!/bin/sh\nsleep {float(slow[prog.name]):g}\nexec {prog} \"$@\"\n")
            target.chmod(0o755)
            continue
        if rule is None:
            target.symlink_to(prog)
            continue
        trigger, text, times = rule
        counter = directory / f".{prog.name}.count"
        target.write_text(f"""#!/bin/sh
case " $* " in
  *" {trigger} "*)
    n=$(cat {counter} 2>/dev/null || echo 0); n=$((n + 1)); echo $n > {counter}
    if [ {times} -eq 0 ] || [ $n -le {times} ]; then echo 'Error: {text}' >&2; exit 1; fi ;;
esac
exec {prog} "$@"
""")
        target.chmod(0o755)
    return directory


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    ppid = int(f.read().rsplit(b") ", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def processes_with(marker: str) -> list[int]:
    """Pids whose command line contains ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


def bare_engine(path: Path, config: Any, *plugins: tuple[str, Any]) -> Any:
    """An engine on the store at ``path`` (its loop not started) with only ``plugins`` registered."""
    from sntakeover.engine import Engine
    from sntakeover.plugins import Hooks, get_plugin_manager
    from sntakeover.runner import LocalRunner

    pm = get_plugin_manager(load_entrypoints=False, builtins=())
    for name, plugin in plugins:
        pm.register(plugin, name=name)
    return Engine(config, Store(path), Hooks(pm), LocalRunner())
