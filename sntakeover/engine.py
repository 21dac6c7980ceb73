"""The incident engine: applies stored events and drives each incident.

One thread applies pending events (see :mod:`triage`) and schedules open
incidents on a small worker pool; at most one worker drives a given incident.
Every state change is committed before the next step starts, so a daemon
killed at any point resumes from the last committed state:

``detected`` -> ``confirming`` -> ``confirmed`` -> [``fencing``] -> ``moving``
-> ``verifying`` -> ``done`` | ``partial`` | ``failed``

In ``moving`` the plan is always recomputed from the live xCAT database and
intersected with the stored plan, so a node that an earlier (interrupted) run
already moved is never moved again, and no node outside the first plan is ever
added.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import threading
import time
from typing import Any, Sequence

from .config import Config
from .context import Context
from .errors import Abort, Retry
from .model import Incident, Plan, State
from .outbox import enqueue_event_recorded, enqueue_notify
from .plugins import Hooks
from .runner import CommandResult, Runner
from .store import Store, now
from .triage import apply_event

log = logging.getLogger(__name__)


class RecordingRunner:
    """Wraps a runner so every command of an incident is stored with its pid and result."""

    def __init__(self, inner: Runner, store: Store, incident_id: int | None) -> None:
        self.inner = inner
        self.store = store
        self.incident_id = incident_id

    def run(self, argv: Sequence[str], *, timeout: float | None = None, stdin: str | None = None, on_start=None) -> CommandResult:
        seq = self.store.command_started(self.incident_id, list(argv))

        def started(pid: int) -> None:
            self.store.command_pid(seq, pid)
            if on_start is not None:
                on_start(pid)

        res = self.inner.run(argv, timeout=timeout, stdin=stdin, on_start=started)
        self.store.command_finished(seq, res.rc, res.timed_out, res.duration, res.stdout, res.stderr)
        return res

    def close(self) -> None:
        pass


class Superseded(Exception):
    """The incident changed state under us (cancelled by an event); stop driving it."""


class Engine:
    def __init__(self, config: Config, store: Store, hooks: Hooks, runner: Runner) -> None:
        self.config = config
        self.store = store
        self.hooks = hooks
        self.runner = runner
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._running: set[int] = set()
        self._lock = threading.Lock()
        # plain daemon threads, bounded by a semaphore: a stopping daemon must not
        # wait for an hour-long snmove; the child runs on and a restart waits for it
        self._slots = threading.BoundedSemaphore(config.get("daemon", "workers"))
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="engine", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop scheduling; give running steps ``timeout`` seconds to reach a checkpoint."""
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        if self._thread:
            self._thread.join(timeout)
        while self.busy() and time.monotonic() < deadline:
            time.sleep(0.05)
        if self.busy():
            log.warning("stopping with incident(s) %s mid-step; they resume on the next start", self.busy())

    def busy(self) -> list[int]:
        with self._lock:
            return sorted(self._running)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.apply_pending()
                self.schedule()
            except Exception:  # noqa: BLE001 - the loop must survive; next round retries
                log.exception("engine loop error")
            self._wake.wait(1.0)
            self._wake.clear()

    #: events applied in one transaction: small enough that the intake never waits long
    #: for the write lock, large enough to cost one commit per batch in a storm
    APPLY_BATCH = 64

    def apply_pending(self) -> int:
        """Apply waiting events, a batch per transaction; each also queues its ``event_recorded``.

        When an event fails to apply, the batch is rolled back and applied again
        one savepoint per event: the failing one is rolled back alone, stays
        pending (logged), and the later events of its service node wait for the
        next round so their order is kept.
        """
        pending = self.store.pending_events(limit=self.APPLY_BATCH)
        if not pending:
            return 0
        if getattr(self, "_apply_store", None) is None:
            # its own connection with synchronous=NORMAL: the events are already durable
            # (the intake committed them with FULL), an apply lost in a crash is simply
            # redone, and the FULL commit that precedes any action of the engine (a
            # transition, an xCAT command) puts this apply on disk first, WAL being
            # written in order. One fsync fewer per batch, on the intake's disk.
            self._apply_store = Store(self.store.path, synchronous="NORMAL", checkpoint=self.store.checkpoints)
        store = self._apply_store
        recorded = bool(self.hooks.pm.hook.sntakeover_event_recorded.get_hookimpls())

        def apply_batch(careful: bool) -> tuple[dict[int, tuple[State, str]], int]:
            n = 0
            closed: dict[int, tuple[State, str]] = {}
            held: set[str] = set()
            with store.tx() as db:
                for seq, event in pending:
                    if event.servicenode in held:
                        continue
                    if careful:
                        db.execute("SAVEPOINT apply_one")
                    try:
                        iid = apply_event(store, db, seq, event)
                        if recorded:  # only when a plugin listens
                            enqueue_event_recorded(db, event, iid)
                    except Exception:
                        if not careful:
                            raise
                        db.execute("ROLLBACK TO apply_one")
                        db.execute("RELEASE apply_one")
                        log.exception("event %s (seq %d) could not be applied; it stays pending", event.id, seq)
                        held.add(event.servicenode)
                        continue
                    if careful:
                        db.execute("RELEASE apply_one")
                    n += 1
                    if iid is not None:
                        row = db.execute("SELECT state, reason FROM incidents WHERE id = ?", (iid,)).fetchone()
                        if row is not None and State(row["state"]).terminal:
                            closed[iid] = (State(row["state"]), row["reason"])
            return closed, n

        try:
            closed, n = apply_batch(careful=False)
        except Exception:  # noqa: BLE001 - find the bad event, apply the others
            closed, n = apply_batch(careful=True)
        for iid, (state, reason) in closed.items():
            self._notify(iid, None, state, reason)
        return n

    def schedule(self) -> None:
        for row in self.store.unfinished():
            iid = row["id"]
            with self._lock:
                if iid in self._running or self._stop.is_set():
                    continue
                if not self._slots.acquire(blocking=False):
                    return
                self._running.add(iid)
            threading.Thread(target=self._drive, args=(iid,), name=f"incident-{iid}", daemon=True).start()

    # -- one incident --------------------------------------------------------------

    def _drive(self, iid: int) -> None:
        try:
            self.run_incident(iid)
        except Superseded as exc:
            log.info("incident %d: %s", iid, exc)
        except Exception as exc:  # noqa: BLE001 - a plugin bug fails the incident, not the daemon
            log.exception("incident %d failed", iid)
            try:
                self._move(iid, None, State.FAILED, f"internal error: {type(exc).__name__}: {exc}")
            except Superseded:
                pass
        finally:
            with self._lock:
                self._running.discard(iid)
                self._slots.release()
            self._wake.set()

    def context(self, iid: int) -> Context:
        return Context(
            config=self.config,
            runner=RecordingRunner(self.runner, self.store, iid),
            note=lambda text: self.store.note(iid, text),
        )

    def incident(self, iid: int) -> Incident:
        row = self.store.incident(iid)
        if row is None:
            raise Superseded(f"incident {iid} vanished")
        return self.store.incident_view(row)

    def _move(self, iid: int, expect: State | None, to: State, reason: str) -> None:
        """Compare-and-set transition; raises :class:`Superseded` if the state changed."""
        with self.store.tx() as db:
            row = db.execute("SELECT state, closed FROM incidents WHERE id = ?", (iid,)).fetchone()
            current = State(row["state"])
            if row["closed"] is not None or (expect is not None and current != expect):
                raise Superseded(f"is {current.value} now, not moving it to {to.value}")
            self.store.transition(iid, to, reason, db=db)
        log.info("incident %d: %s -> %s: %s", iid, current.value, to.value, reason)
        self._notify(iid, current, to, reason)

    def _notify(self, iid: int, frm: State | None, to: State, reason: str) -> None:
        """Queue the transition for the notifier thread (:mod:`sntakeover.outbox`); no plugin runs here."""
        transition = {"from": frm.value if frm else None, "to": to.value, "reason": reason, "time": now()}
        incident = self.incident(iid)
        with self.store.tx() as db:
            enqueue_notify(db, incident, transition)

    def run_incident(self, iid: int) -> None:
        retries = 0
        while not self._stop.is_set():
            inc = self.incident(iid)
            if inc.state.terminal:
                return
            step = getattr(self, f"_step_{inc.state.value}")
            try:
                step(inc)
                retries = 0
            except Retry as exc:
                retries += 1
                if retries > 3:
                    self._move(iid, inc.state, State.FAILED, f"gave up after {retries} transient failures: {exc}")
                    return
                self.store.note(iid, f"transient failure in {inc.state.value}, retrying: {exc}")
                self._stop.wait(self.config.get("confirm", "interval"))
            except Abort as exc:
                self._move(iid, inc.state, State.FAILED, f"aborted by plugin: {exc}")
                return

    # detected -> confirming | confirmed
    def _step_detected(self, inc: Incident) -> None:
        if inc.requested:
            self._move(inc.id, State.DETECTED, State.CONFIRMED, "takeover requested: confirmation skipped")
        elif not self.config.get("confirm", "enabled"):
            self._move(inc.id, State.DETECTED, State.CONFIRMED, "confirmation disabled in the configuration")
        else:
            self._move(inc.id, State.DETECTED, State.CONFIRMING, f"probing {inc.servicenode}")

    # confirming -> confirmed | cancelled
    def _step_confirming(self, inc: Incident) -> None:
        cfg = self.config["confirm"]
        for rnd in range(1, cfg["rounds"] + 1):
            current = self.incident(inc.id)
            if current.state != State.CONFIRMING:
                raise Superseded(f"is {current.state.value} now")
            if current.requested:
                self._move(inc.id, State.CONFIRMING, State.CONFIRMED, "takeover requested: confirmation skipped")
                return
            results = self.hooks.probe(current, self.context(inc.id))
            down = [r for r in results if r.down is True]
            up = [r for r in results if r.down is False]
            answered = len(down) + len(up)
            quorum = max(1, min(cfg["quorum"], answered))
            summary = "; ".join(f"{r.probe}={'down' if r.down else 'up' if r.down is False else '?'}"
                                f"{' (' + r.detail + ')' if r.detail else ''}" for r in results)
            self.store.note(inc.id, f"probe round {rnd}/{cfg['rounds']}: {summary or 'no probe answered'}")
            if answered and not up and len(down) >= quorum:
                self._move(inc.id, State.CONFIRMING, State.CONFIRMED,
                           f"{len(down)} of {len(results)} probe(s) say {inc.servicenode} is down (quorum {quorum})")
                return
            if rnd < cfg["rounds"] and self._stop.wait(cfg["interval"]):
                return
        self._move(inc.id, State.CONFIRMING, State.CANCELLED,
                   f"not confirmed after {cfg['rounds']} round(s): {inc.servicenode} does not look down")

    # confirmed -> fencing | moving | done | failed
    def _step_confirmed(self, inc: Incident) -> None:
        ctx = self.context(inc.id)
        plan = self._plan(inc, ctx)
        if plan is None:
            return
        rows = [(m.node, m.source, m.backup, "planned", "") for m in plan.moves]
        rows += [(n, inc.servicenode, "", "skipped", why) for n, why in plan.skipped.items()]
        self.store.save_plan(inc.id, plan.to_dict(), rows)
        groups = ", ".join(f"{len(v)} -> {k}" for k, v in plan.by_backup().items())
        self.store.note(inc.id, f"plan: {len(plan.moves)} node(s) to move ({groups or 'none'}), {len(plan.skipped)} skipped")
        if not plan.moves:
            why = "nothing to move: no node has " + inc.servicenode + " as its first service node"
            if plan.skipped:
                why = f"no node can move ({len(plan.skipped)} skipped, see the node list)"
                self._move(inc.id, State.CONFIRMED, State.FAILED, why)
            else:
                self._move(inc.id, State.CONFIRMED, State.DONE, why)
            return
        limit = self.config.get("takeover", "max_nodes")
        if limit and len(plan.moves) > limit:
            self._move(inc.id, State.CONFIRMED, State.FAILED,
                       f"refused: {len(plan.moves)} nodes would move, takeover.max_nodes is {limit}")
            return
        if self.config.get("takeover", "dry_run"):
            strategy = self.config.get("takeover", "strategy")
            res = self.hooks.takeover(strategy, inc, plan, ctx, dry_run=True)
            cmds = " ; ".join(shlex.join(c) for c in res.commands) if res else f"(no plugin for {strategy!r})"
            self._move(inc.id, State.CONFIRMED, State.CANCELLED, "dry run, nothing changed; would run: " + cmds)
            return
        if self.config.get("fence", "method") == "none":
            self._move(inc.id, State.CONFIRMED, State.MOVING, "no fencing configured")
        else:
            self._move(inc.id, State.CONFIRMED, State.FENCING, f"fencing {inc.servicenode}")

    def _plan(self, inc: Incident, ctx: Context) -> Plan | None:
        plan = self.hooks.plan(inc, ctx)
        if plan is None:
            self._move(inc.id, inc.state, State.FAILED, "no plugin could plan the takeover")
            return None
        if inc.nodes:
            keep = set(inc.nodes)
            plan = Plan(tuple(m for m in plan.moves if m.node in keep),
                        {n: w for n, w in plan.skipped.items() if n in keep})
        return plan

    # fencing -> moving | failed
    def _step_fencing(self, inc: Incident) -> None:
        ctx = self.context(inc.id)
        plan = self._stored_plan(inc.id)
        res = self.hooks.fence(inc, plan, ctx)
        required = self.config.get("fence", "required")
        if res is not None and res.fenced:
            self._move(inc.id, State.FENCING, State.MOVING, f"fenced by {res.method}: {res.detail}")
        elif required:
            why = res.detail if res else "no fencing plugin answered"
            self._move(inc.id, State.FENCING, State.FAILED, f"fencing failed and fence.required is set: {why}")
        else:
            why = res.detail if res else "no fencing plugin answered"
            self._move(inc.id, State.FENCING, State.MOVING, f"fencing not confirmed ({why}); moving anyway")

    def _stored_plan(self, iid: int) -> Plan:
        row = self.store.incident(iid)
        return Plan.from_dict(json.loads(row["plan"])) if row and row["plan"] else Plan(())

    # moving -> verifying
    def _step_moving(self, inc: Incident) -> None:
        self._wait_for_leftover_commands(inc.id)
        ctx = self.context(inc.id)
        stored = self._stored_plan(inc.id)
        live = self.hooks.plan(inc, ctx) or Plan(())
        allowed = {m.node: m for m in stored.moves}
        todo = Plan(tuple(m for m in live.moves if m.node in allowed and m.backup == allowed[m.node].backup))
        already = len(stored.moves) - len(todo.moves)
        if already:
            self.store.note(inc.id, f"{already} planned node(s) no longer have {inc.servicenode} first; not moving them again")
        if todo.moves:
            strategy = self.config.get("takeover", "strategy")
            res = self.hooks.takeover(strategy, inc, todo, ctx)
            if res is None:
                self._move(inc.id, State.MOVING, State.FAILED, f"no plugin implements takeover strategy {strategy!r}")
                return
            if res.node_errors:
                self.store.set_node_status(inc.id, {n: ("node-error", e) for n, e in res.node_errors.items()})
            for err in res.errors:
                self.store.note(inc.id, f"{res.strategy}: {err}")
            reason = f"{res.strategy} ran {len(res.commands)} command(s), rc={res.rc}, {len(res.node_errors)} node error(s)"
        else:
            reason = "nothing left to move"
        self._move(inc.id, State.MOVING, State.VERIFYING, reason)

    def _wait_for_leftover_commands(self, iid: int) -> None:
        """After a restart: wait until commands the previous daemon started have exited."""
        for row in self.store.unfinished_commands(iid):
            pid = row["pid"]
            if not pid:
                continue
            waited = False
            while _alive(pid, json.loads(row["argv"])[0]):
                if not waited:
                    self.store.note(iid, f"waiting for {json.loads(row['argv'])[0]} (pid {pid}) from before the restart")
                    waited = True
                if self._stop.wait(1.0):
                    raise Superseded("daemon stopping")
            self.store.command_finished(row["seq"], -1, False, 0.0, "", "(outcome unknown: daemon restarted)")

    # verifying -> done | partial | failed
    def _step_verifying(self, inc: Incident) -> None:
        ctx = self.context(inc.id)
        plan = self._stored_plan(inc.id)
        ctx.scratch["node_errors"] = {r["node"]: r["detail"] for r in self.store.node_rows(inc.id) if r["status"] == "node-error"}
        verdicts = None
        for attempt in range(self.config.get("verify", "retries") + 1):
            verdicts = self.hooks.verify(inc, plan, ctx)
            if verdicts is None or all(v.ok for v in verdicts):
                break
            if self._stop.wait(self.config.get("verify", "interval")):
                return
        if verdicts is None:
            self._move(inc.id, State.VERIFYING, State.FAILED, "no plugin could verify the takeover")
            return
        self.store.set_node_status(inc.id, {v.node: ("verified" if v.ok else "failed", v.detail) for v in verdicts})
        ok = sum(v.ok for v in verdicts)
        total = len(verdicts)
        if ok == total:
            self._move(inc.id, State.VERIFYING, State.DONE, f"all {total} node(s) verified on their backup")
        elif ok:
            self._move(inc.id, State.VERIFYING, State.PARTIAL, f"{ok} of {total} node(s) verified, {total - ok} failed")
        else:
            self._move(inc.id, State.VERIFYING, State.FAILED, f"none of {total} node(s) verified")


def _alive(pid: int, name: str) -> bool:
    """True if ``pid`` is still a running process whose command line mentions ``name``."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        with open(f"/proc/{pid}/stat", "rb") as f:
            if f.read().split(b") ", 1)[1][:1] == b"Z":
                return False
    except OSError:
        return False
    return os.path.basename(name) in cmd


def summary(store: Store, iid: int) -> dict[str, Any]:
    """Everything about one incident, for ``show`` and ``--json``."""
    row = store.incident(iid)
    if row is None:
        raise KeyError(iid)
    return {
        "id": row["id"],
        "servicenode": row["servicenode"],
        "state": row["state"],
        "opened": row["opened"],
        "closed": row["closed"],
        "reason": row["reason"],
        "timeline": [dict(r) for r in store.timeline(iid)],
        "nodes": [dict(r) for r in store.node_rows(iid)],
        "events": [dict(r) for r in store.events_of(iid)],
        "commands": [
            {k: r[k] for k in ("seq", "started", "argv", "rc", "timed_out", "duration")} for r in store.commands_of(iid)
        ],
    }


def wait_terminal(store: Store, iid: int, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = store.incident(iid)
        if row is not None and row["closed"]:
            return row["state"]
        time.sleep(0.05)
    row = store.incident(iid)
    return row["state"] if row else "?"
