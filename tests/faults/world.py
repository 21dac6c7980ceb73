"""One fault run: a small simulated cluster, a real daemon process, a schedule played against them, an audit.

:func:`run_one` builds the cluster and the daemon's configuration from the
schedule, starts ``sntakeover serve``, plays the timed steps in order while a
watcher thread plays the conditional ones (a kill mid-snmove, the backup dying
once nodes move), then lets the cluster settle: monitoring re-notifies every
SN that is still down, and the run waits until nothing is left to do (no
pending event, every incident closed or waiting for something, no command
running). The daemon is stopped and :func:`audit.audit` judges the result.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sntakeover.client import NoDaemon, request, wait_for_daemon
from sntakeover.clock import now
from sntakeover.model import State
from sntakeover.poll import PollTimeout, wait_until
from tests.faults import audit
from tests.faults.schedule import Schedule, Step, make
from tests.support import DaemonProc, Sim

#: seconds a hanging command sleeps (longer than xcat.command_timeout, so it is killed)
HANG = 6.0
COMMAND_TIMEOUT = 2.5
SETTLE = 150.0
#: seconds a (re)started daemon may take to answer (python start-up on a busy machine)
START_TIMEOUT = 120.0


@dataclass
class Result:
    seed: int
    schedule: str
    faults: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)
    failures: dict[str, list[str]] = field(default_factory=dict)
    seconds: float = 0.0
    workdir: str = ""


def config(s: Schedule) -> str:
    return f"""
[confirm]
rounds = 2
interval = 0.1
timeout = 30.0
probe_timeout = 3.0
tcp_timeout = 0.5
[verify]
interval = 0.1
[engine]
retry_delay = 0.1
[backup]
recheck = 0.5
[breaker]
max_fraction = 0.5
[fence]
policy = "{s.fence}"
[takeover]
strategy = "{s.strategy}"
[notify]
backoff = 0.1
[metrics]
listen = ""
"""


def fault_bin(directory: Path, sim: Sim, slow: dict[str, float], hang: dict[str, int]) -> Path:
    """The simulator's commands behind wrappers: ``slow`` ones wait first, ``hang`` ones hang their
    first N calls (each killed by xcat.command_timeout), then behave."""
    directory.mkdir(parents=True, exist_ok=True)
    for prog in sim.bin.iterdir():
        target = directory / prog.name
        if prog.name not in slow and prog.name not in hang:
            target.symlink_to(prog)
            continue
        lines = ["#!/bin/sh"]
        if prog.name in hang:
            counter = directory / f".{prog.name}.count"
            lines += [f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n + 1)); echo $n > {counter}",
                      f"if [ $n -le {int(hang[prog.name])} ]; then sleep {HANG:g}; fi"]
        if prog.name in slow:
            lines.append(f"sleep {float(slow[prog.name]):g}")
        lines.append(f'exec {prog} "$@"')
        target.write_text("\n".join(lines) + "\n")
        target.chmod(0o755)
    return directory


class World:
    def __init__(self, s: Schedule, workdir: Path) -> None:
        self.s = s
        self.dir = workdir
        self.sim = Sim(workdir / "cluster", nodes=8, sns=("sn1", "sn2", "sn3", "sn4"), latency=s.latency)
        self.original = audit.servicenodes(self.sim.state())
        bindir = fault_bin(workdir / "bin", self.sim, s.slow, s.hang)
        (workdir / "d").mkdir()
        self.d = DaemonProc(workdir / "d", None, extra=config(s),
                            xcat=f'path = ["{bindir}"]\ncommand_timeout = {COMMAND_TIMEOUT}\n')
        self.d.config.write_text(self.d.config.read_text().replace("command_timeout = 120.0\n", ""))
        self.acked: set[str] = set()
        self.faults: Counter = Counter()
        self.lock = threading.RLock()  # kill/restart vs. sending
        self.n = 0
        self.t0 = 0.0

    # -- the daemon -----------------------------------------------------------------

    def store_rows(self, sql: str, args: tuple = ()) -> list[dict[str, Any]]:
        import sqlite3

        path = self.d.tmp / "state" / "sntakeover.db"
        if not path.exists():
            return []
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        db.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in db.execute(sql, args)]
        except sqlite3.OperationalError:
            return []
        finally:
            db.close()

    def kill(self, point: str, restart_after: float) -> None:
        with self.lock:
            if self.d.proc is None or self.d.proc.poll() is not None:
                return
            self.d.kill()
            self.faults[f"kill:{point}"] += 1
            time.sleep(restart_after)
            self.start()
            self.faults["restart"] += 1

    def start(self) -> None:
        """Start the daemon; on a loaded machine its start-up may take longer than DaemonProc waits."""
        self.d.start(wait=False)
        try:
            wait_for_daemon(self.d.endpoint, timeout=START_TIMEOUT, alive=lambda: self.d.proc.poll() is None)
        except NoDaemon:
            raise RuntimeError("daemon did not start:\n" + self.d.logfile.read_text()[-3000:]) from None

    def send(self, ev: dict[str, Any]) -> None:
        try:
            reply = request({"v": 1, "op": "event", "event": ev}, endpoint=self.d.endpoint, timeout=1.5, retries=2)
        except NoDaemon:
            return
        if reply.get("ok"):
            self.acked.add(ev["id"])

    def event(self, sn: str, kind: str, tool: str, *, stale: bool = False, soft: bool = False,
              same_id: str | None = None) -> dict[str, Any]:
        self.n += 1
        t = now() if not stale else (datetime.now(timezone.utc) - timedelta(hours=2)).isoformat().replace("+00:00", "Z")
        ev = {"id": same_id or f"{tool}:{kind}:{sn}:{self.s.seed}:{self.n}", "kind": kind, "servicenode": sn,
              "source": {"tool": tool, "host": f"mon-{tool}"}, "time": t}
        if soft:
            ev["state_type"] = "soft"
        return ev

    # -- steps ----------------------------------------------------------------------

    def play(self, step: Step) -> None:
        a = step.args
        k = step.kind
        if k in ("fail", "heal", "partition", "join"):
            {"fail": self.sim.fail, "heal": self.sim.heal,
             "partition": lambda sn: self.sim.x.partition_sn(self.sim.dir, sn, True),
             "join": lambda sn: self.sim.x.partition_sn(self.sim.dir, sn, False)}[k](a["sn"])
            self.faults[k] += 1
        elif k == "node_down":
            self.sim.node_down(a["node"])
            self.faults["node_down"] += 1
        elif k == "events":
            self.events(a)
        elif k == "kill" and a["point"] in ("intake", "random"):
            if a["point"] == "intake":
                self.burst_and_kill(a)
            else:
                self.kill("random", a["restart_after"])

    def events(self, a: dict[str, Any]) -> None:
        if a.get("lost"):
            self.faults["lost-resolved"] += 1
            return
        if a.get("early"):
            self.faults["out-of-order"] += 1
        if a.get("soft"):
            self.send(self.event(a["sn"], a["kind"], a["tools"][0], soft=True))
            self.faults["soft"] += 1
        if a.get("stale"):
            self.send(self.event(a["sn"], a["kind"], a["tools"][-1], stale=True))
            self.faults["late"] += 1
        for tool in a["tools"]:
            ev = self.event(a["sn"], a["kind"], tool)
            self.send(ev)
            if a.get("duplicates"):
                self.send(dict(ev))
                self.faults["duplicate"] += 1
        self.faults[f"events:{a['kind']}"] += 1
        if len(a["tools"]) > 1:
            self.faults["several-tools"] += 1

    def burst_and_kill(self, a: dict[str, Any]) -> None:
        """Events arrive while the daemon is killed: some stored and acked, some stored and not acked,
        some not stored; the audit checks the acked ones."""
        sns = ("sn1", "sn2", "sn3", "sn4")
        stop = threading.Event()

        def burst() -> None:
            i = 0
            while not stop.is_set() and i < 40:
                self.send(self.event(sns[i % 4], "sn.up", "burst"))
                i += 1

        t = threading.Thread(target=burst)
        t.start()
        time.sleep(0.02 + (self.s.seed % 7) * 0.01)
        self.kill("intake", a["restart_after"])
        stop.set()
        t.join()

    def watch(self, steps: list[Step], until: threading.Event) -> None:
        """Play the conditional steps when their condition comes (or never)."""
        todo = list(steps)
        while todo and not until.is_set():
            for step in list(todo):
                if self.conditional(step):
                    todo.remove(step)
            time.sleep(0.02)
        for step in todo:
            self.faults[f"not-reached:{step.kind}:{step.args.get('point', step.args.get('when'))}"] += 1

    def conditional(self, step: Step) -> bool:
        a = step.args
        if step.kind == "kill" and a["point"] == "mid-snmove":
            if self.store_rows("SELECT seq FROM commands WHERE argv LIKE '[\"snmove\"%' AND rc IS NULL"):
                self.kill("mid-snmove", a["restart_after"])
                return True
        elif step.kind == "kill" and a["point"] == "mid-verify":
            if self.store_rows("SELECT id FROM incidents WHERE state = 'verifying'"):
                self.kill("mid-verify", a["restart_after"])
                return True
        elif step.kind == "backup_death":
            rows = self.store_rows("SELECT DISTINCT n.backup FROM nodes n JOIN incidents i ON i.id = n.incident_id"
                                   " WHERE i.state = 'moving' AND n.status = 'moving'")
            if rows:
                sn = rows[0]["backup"]
                self.sim.fail(sn)
                self.faults["backup_death"] += 1
                self.events({"sn": sn, "kind": "sn.down", "tools": ["nagios"]})
                return True
        return False

    # -- the run --------------------------------------------------------------------

    def run(self) -> None:
        self.start()
        self.t0 = time.monotonic()
        timed = [s for s in self.s.steps if not self.conditional_kind(s)]
        cond = [s for s in self.s.steps if self.conditional_kind(s)]
        done = threading.Event()
        watcher = threading.Thread(target=self.watch, args=(cond, done))
        watcher.start()
        try:
            for step in timed:
                delay = step.at - (time.monotonic() - self.t0)
                if delay > 0:
                    time.sleep(delay)
                self.play(step)
            self.settle(watcher)  # the conditional steps may still come while it settles
        finally:
            done.set()
            watcher.join()
        self.d.stop()

    @staticmethod
    def conditional_kind(s: Step) -> bool:
        return s.kind == "backup_death" or (s.kind == "kill" and s.args["point"] in ("mid-snmove", "mid-verify"))

    def settle(self, watcher: threading.Thread) -> None:
        # monitoring notifies again about every SN still down (as nagios re-notifies)
        for sn in sorted(audit.dead_sns(self.sim.state())):
            self.send(self.event(sn, "sn.down", "nagios"))
        calm = {"n": 0, "dead": set()}

        def quiet() -> bool:
            busy = self.store_rows(
                "SELECT (SELECT COUNT(*) FROM events WHERE processed = 0) AS pending,"
                " (SELECT COUNT(*) FROM incidents WHERE closed IS NOT NULL AND wake_at IS NOT NULL) AS looking")
            incs = {i["id"]: i for i in self.store_rows("SELECT id, state, waiting, closed FROM incidents")}

            def waits(i) -> bool:
                return not i["closed"] and State(i["state"]).waiting and bool(i["waiting"])

            # a waiting incident checks again now and then (is the backup back?): those reads are
            # not work in progress; any other command still running is
            running = [r for r in self.store_rows("SELECT incident_id FROM commands WHERE rc IS NULL")
                       if r["incident_id"] not in incs or not waits(incs[r["incident_id"]])]
            settled = bool(busy) and not any(busy[0].values()) and not running and all(
                i["closed"] or waits(i) for i in incs.values())
            dead = audit.dead_sns(self.sim.state())
            if dead - calm["dead"]:  # died meanwhile (a backup mid-move): monitoring says so
                with self.lock:
                    for sn in sorted(dead - calm["dead"]):
                        self.send(self.event(sn, "sn.down", "nagios"))
                calm["dead"] = dead
                settled = False
            calm["n"] = calm["n"] + 1 if settled else 0
            return calm["n"] >= 3

        try:
            wait_until(quiet, timeout=SETTLE, interval=0.2, what="the cluster to settle")
        except PollTimeout:
            self.faults["not-settled"] += 1

    def judge(self) -> dict[str, list[str]]:
        log = self.d.logfile.read_text(errors="replace") if self.d.logfile.exists() else ""
        return audit.audit(self.d.tmp / "state" / "sntakeover.db", self.sim.dir, acked=self.acked,
                           original=self.original, log_text=log)

    def close(self) -> None:
        self.d.cleanup()
        self.sim.close()


def run_one(seed: int, base: Path | None = None, keep: bool = False) -> Result:
    s = make(seed)
    workdir = Path(tempfile.mkdtemp(prefix=f"fault-{seed}-", dir=base))
    res = Result(seed=seed, schedule=s.describe(), workdir=str(workdir))
    t = time.monotonic()
    w = World(s, workdir)
    try:
        w.run()
        res.failures = w.judge()
        res.outcomes = Counter(r["state"] for r in w.store_rows("SELECT state FROM incidents"))
        res.outcomes.update(f"snmove rc={r['rc']}" for r in w.store_rows(
            "SELECT rc FROM commands WHERE argv LIKE '[\"snmove\"%'"))
    except Exception as exc:  # noqa: BLE001 - a harness error is a failed run, with its seed
        import traceback

        res.failures = {"harness": [f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"]}
    finally:
        res.faults = w.faults
        w.close()
        res.seconds = time.monotonic() - t
        if not keep and not res.failures:
            shutil.rmtree(workdir, ignore_errors=True)
    (workdir.exists() and (workdir / "schedule.json").write_text(json.dumps(s.to_dict(), indent=2)))
    return res
