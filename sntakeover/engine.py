"""The incident engine: applies stored events and drives each incident.

One thread applies pending events (see :mod:`triage`) and schedules the open
incidents that are due (``wake_at`` reached, or woken by an event or a human);
a small pool of worker threads runs them, at most one worker per incident. A
worker runs the incident's steps (:mod:`steps`) one after the other while they
lead somewhere at once; a step that has to wait (for the next probe round, for a
backup, for a human) sets ``wake_at`` and gives the worker back.

Every state change is committed before the next step starts, so a daemon
killed at any point resumes from the last committed state. The plugin
exception contract (:mod:`errors`) is applied here: ``Retry`` backs off
(``engine.retry_limit`` times, ``engine.retry_delay`` doubling), ``Abort``
fails the incident with the plugin's reason, anything else is a plugin bug and
fails the incident with its name.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
from typing import Any, Callable

from . import controls, poison
from .clock import after, now
from .config import Config
from .context import Context
from .errors import Abort, Retry, StaleLeader
from .gates import Gates
from .model import Event, Incident, State
from .outbox import enqueue_event_recorded, enqueue_notify
from .plugins import Hooks
from .recording import RecordingRunner
from .runner import Runner
from .steps import Steps, Superseded
from .store import Store
from .triage import ATTENTION, apply_event

log = logging.getLogger(__name__)

#: longest the engine loop sleeps when nothing wakes it
TICK = 1.0


class Engine(Steps):
    def __init__(self, config: Config, store: Store, hooks: Hooks, runner: Runner) -> None:
        self.config = config
        self.store = store
        self.hooks = hooks
        self.runner = runner
        self.gates = Gates(config, store, hooks)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._running: set[int] = set()
        #: commands recorded before this time were started by an earlier daemon
        self.started_at = now()
        self._resumed: set[int] = set()
        self._lock = threading.Lock()
        # plain daemon threads, bounded by a semaphore: a stopping daemon must not
        # wait for an hour-long snmove; the child runs on and a restart waits for it
        self._slots = threading.BoundedSemaphore(config.get("daemon", "workers"))
        self._thread: threading.Thread | None = None
        self._hurry = threading.Event()
        self._after: collections.deque[tuple[dict[int, tuple[State, str]], list[tuple[int, str]]]] = collections.deque()
        #: called after every round of the engine loop (the service's watchdog ping)
        self.heartbeat: Callable[[], None] = lambda: None
        #: whether this daemon drives incidents (see :mod:`sntakeover.leader`); a standby only takes intake
        self.leading: Callable[[], bool] = lambda: True

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="engine", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop scheduling; give running steps ``timeout`` seconds to reach a checkpoint
        (less if :meth:`hurry` is called meanwhile)."""
        from .poll import PollTimeout, wait_until

        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(timeout)
        try:
            wait_until(lambda: not self.busy(), timeout=timeout, stop=self._hurry, what="running steps to finish")
        except PollTimeout:
            pass
        if self.busy():
            log.warning("stopping with incident(s) %s mid-step; they resume on the next start", self.busy())

    def still_running(self) -> list[str]:
        """What of the engine is still at work after :meth:`stop` (and so still writes to the store)."""
        left = [f"incident {i}" for i in self.busy()]
        if self._thread is not None and self._thread.is_alive():
            left.append("the engine loop")
        return left

    def close(self) -> None:
        """Close the engine's own apply connection (only once :meth:`still_running` is empty)."""
        store = getattr(self, "_apply_store", None)
        if store is not None:
            self._apply_store = None
            store.close()

    def hurry(self) -> None:
        """Stop waiting for running steps (a second stop signal): they resume on the next start."""
        self._hurry.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def busy(self) -> list[int]:
        with self._lock:
            return sorted(self._running)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                while self._after:  # notifications of events the intake applied with its commit
                    self._after_apply(*self._after.popleft())
                if self.leading():
                    self.apply_pending()
                    self.sweep()
                    self.schedule()
            except Exception:  # noqa: BLE001 - the loop must survive; next round retries
                log.exception("engine loop error")
            self.heartbeat()
            self._wake.wait(self._sleep_time())
            self._wake.clear()

    def _sleep_time(self) -> float:
        rows = self.store.query("SELECT MIN(wake_at) FROM incidents WHERE closed IS NULL AND wake_at IS NOT NULL")
        nxt = rows[0][0] if rows else None
        if not nxt:
            return TICK
        from .clock import seconds_until

        return max(0.0, min(TICK, seconds_until(nxt)))

    #: events applied in one transaction: small enough that the intake never waits long
    #: for the write lock, large enough to cost one commit per batch in a storm
    APPLY_BATCH = 64

    def apply_pending(self) -> int:
        """Apply waiting events, a batch per transaction; each also queues its ``event_recorded``.

        When an event fails to apply, the batch is rolled back and applied again
        one savepoint per event: the failing one is rolled back alone, stays
        pending (logged), and the later events of its service node wait for the
        next round so their order is kept -- until it has failed
        ``engine.apply_attempts`` times: then it is quarantined (:mod:`poison`)
        and the others go on.
        """
        pending, unreadable = poison.pending(self.store, self.APPLY_BATCH)
        if not pending and not unreadable:
            return 0
        if getattr(self, "_apply_store", None) is None:
            # its own connection with synchronous=NORMAL: the events are already durable
            # (the intake committed them with FULL), an apply lost in a crash is simply
            # redone, and the FULL commit that precedes any action of the engine (a
            # transition, an xCAT command) puts this apply on disk first, WAL being
            # written in order. One fsync fewer per batch, on the intake's disk.
            self._apply_store = Store(self.store.path, synchronous="NORMAL", checkpoint=self.store.checkpoints)
            self._apply_store.fencing = self.store.fencing
        store = self._apply_store
        recorded = bool(self.hooks.pm.hook.sntakeover_event_recorded.get_hookimpls())

        attention: list[tuple[int, str]] = []
        limit = self.config.get("engine", "apply_attempts")

        def apply_batch(careful: bool) -> tuple[dict[int, tuple[State, str]], int]:
            attention.clear()
            n = 0
            closed: dict[int, tuple[State, str]] = {}
            held: set[str] = set()
            with store.tx() as db:
                store.check_fencing(db)
                for seq, event_id, why in unreadable:
                    poison.quarantine(db, seq, event_id, why)
                for seq, event in pending:
                    if event.servicenode in held:
                        continue
                    if careful:
                        db.execute("SAVEPOINT apply_one")
                    try:
                        iid, outcome = apply_event(store, db, seq, event, self.config)
                        if recorded:  # only when a plugin listens
                            enqueue_event_recorded(db, event, iid)
                    except Exception as exc:
                        if not careful:
                            raise
                        db.execute("ROLLBACK TO apply_one")
                        db.execute("RELEASE apply_one")
                        if not poison.failed(db, seq, event.id, exc, limit):
                            held.add(event.servicenode)  # its SN's later events wait: their order is kept
                        continue
                    if careful:
                        db.execute("RELEASE apply_one")
                    n += 1
                    if iid is not None:
                        _followup(db, iid, outcome, closed, attention)
            return closed, n

        try:
            closed, n = apply_batch(careful=False)
        except Exception:  # noqa: BLE001 - find the bad event, apply the others
            closed, n = apply_batch(careful=True)
        self._after_apply(closed, attention)
        return n

    def apply_stored(self, store: Store, db: Any, stored: list[tuple[int, Event]],
                     received: str | None = None) -> Callable[[], None] | None:
        """Apply events the intake has just stored (at ``received``), inside its transaction (``db`` of ``store``).

        The events are then on disk already applied, by the same commit: no second
        transaction, and the engine's apply never holds the intake up. Only on
        SQLite (one daemon), and only when no older event waits to be applied (so
        each service node's events are applied in order). An event whose apply
        fails raises (naming it): the caller rolls back the whole apply and leaves
        the events to :meth:`apply_pending`, which knows what to do with a bad one.
        Returns what to run once the transaction is committed (notifications), or ``None``.
        """
        if store.dialect != "sqlite" or not stored or self._stop.is_set() or not self.leading():
            return None
        if db.execute("SELECT 1 FROM events WHERE processed = 0 AND seq < ? LIMIT 1", (stored[0][0],)).fetchone():
            return None  # older events first: the engine applies these after them
        recorded = bool(self.hooks.pm.hook.sntakeover_event_recorded.get_hookimpls())
        closed: dict[int, tuple[State, str]] = {}
        attention: list[tuple[int, str]] = []
        for seq, event in stored:
            try:
                iid, outcome = apply_event(store, db, seq, event, self.config, received=received)
                if recorded:
                    enqueue_event_recorded(db, event, iid)
            except Exception as exc:
                raise ApplyFailed(f"event {event.id}: {poison.describe(exc)}") from exc
            if iid is not None:
                _followup(db, iid, outcome, closed, attention)
        if not closed and not attention:
            return None
        return lambda: self._queue_after_apply(closed, attention)

    def _queue_after_apply(self, closed: dict[int, tuple[State, str]], attention: list[tuple[int, str]]) -> None:
        self._after.append((closed, attention))
        self.wake()

    def _after_apply(self, closed: dict[int, tuple[State, str]], attention: list[tuple[int, str]]) -> None:
        """Notify what applying events did: incidents they closed, and what needs attention."""
        for iid, (state, reason) in closed.items():
            self._notify(iid, None, state, reason)
        for iid, text in attention:
            self.attention(iid, text)

    def sweep(self) -> list[int]:
        """What time alone ends: maintenance windows that expired (an outage reported during one
        is confirmed again, :func:`controls.reopen_after_maintenance`). Returns the reopened incidents."""
        out = []
        for m in controls.expired_maintenance(self.store, self.config.get("events", "reopen_window")):
            iid = self.maintenance_over(m, "expired")
            if iid is not None:
                out.append(iid)
        return out

    def maintenance_over(self, m: controls.Maintenance, how: str) -> int | None:
        """The window ``m`` ended (``how``): confirm again an outage reported during it, tell people,
        drive it now. Returns the incident reopened, if any."""
        again = controls.reopen_after_maintenance(self.store, m, how)
        if again is None:
            return None
        iid, reason = again
        self._notify(iid, State.SUPPRESSED, State.DETECTED, reason)
        self.wake()
        return iid

    def due(self) -> list[int]:
        """Open incidents that are due, and closed ones an sn.up asked to look at again (wake_at set)."""
        t = now()
        return [r["id"] for r in self.store.query(
            "SELECT id FROM incidents WHERE (closed IS NULL AND (wake_at IS NULL OR wake_at <= ?))"
            " OR (closed IS NOT NULL AND wake_at IS NOT NULL AND wake_at <= ?) ORDER BY id", (t, t))]

    def schedule(self) -> None:
        for iid in self.due():
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
            self.drive(iid)
        finally:
            with self._lock:
                self._running.discard(iid)
                self._slots.release()
            self._wake.set()

    def drive(self, iid: int) -> None:
        """Run the incident as far as it goes now; a plugin bug fails the incident, never the daemon."""
        try:
            self.run_incident(iid)
        except Superseded as exc:
            log.info("incident %d: %s", iid, exc)
        except StaleLeader as exc:
            log.warning("incident %d left to the leader: %s", iid, exc)
        except Exception as exc:  # noqa: BLE001 - a plugin bug fails the incident, not the daemon
            log.exception("incident %d failed", iid)
            who = getattr(exc, "plugin", None)
            where = f" in plugin {who}" if who else ""
            try:
                self.move(iid, None, State.FAILED, f"internal error{where}: {type(exc).__name__}: {exc}")
            except (Superseded, StaleLeader):
                pass

    def run_incident(self, iid: int) -> None:
        """Run steps while the incident is due; return when it waits, ends or the daemon stops."""
        while not self._stop.is_set() and self.leading():
            row = self.store.incident(iid)
            if row is None:
                return
            if iid not in self._resumed:  # the first time this daemon drives it
                self._resumed.add(iid)
                if row["state"] != State.MOVING.value:
                    self._forget_leftover_reads(iid)
            if row["closed"]:
                if row["wake_at"] is not None:
                    self.outage_over(self.store.incident_view(row))
                return
            if row["wake_at"] and row["wake_at"] > now():
                return
            inc = self.store.incident_view(row)
            step = getattr(self, "step_" + inc.state.value.replace("-", "_"))
            try:
                step(inc)
                self._clear_retries(iid, inc.state)
            except Retry as exc:
                self._retry(inc, exc)
            except Abort as exc:
                who = getattr(exc, "plugin", None) or "a plugin"
                self.move(iid, inc.state, State.FAILED, f"stopped by {who} in {inc.state.value}: {exc}")
                return

    def _retry(self, inc: Incident, exc: Retry) -> None:
        key = inc.state.value
        ev = self.store.update_json(inc.id, "evidence", lambda e: {**e, "retries": {
            **e.get("retries", {}), key: e.get("retries", {}).get(key, 0) + 1}})
        n = ev["retries"][key]
        limit = self.config.get("engine", "retry_limit")
        who = getattr(exc, "plugin", None) or "a plugin"
        if n > limit:
            self.move(inc.id, inc.state, State.FAILED,
                      f"gave up in {key} after {n} transient failures (engine.retry_limit = {limit}); last, from "
                      f"{who}: {exc}")
            return
        delay = self.config.get("engine", "retry_delay") * 2 ** (n - 1)
        self.store.note(inc.id, f"transient failure {n}/{limit} in {key} from {who}: {exc}; trying again in {delay:g} s")
        self.store.set_wake(inc.id, after(delay))

    def _clear_retries(self, iid: int, state: State) -> None:
        row = self.store.incident(iid)
        if row is not None and state.value in json.loads(row["evidence"]).get("retries", {}):
            self.store.update_json(iid, "evidence", lambda e: {**e, "retries": {
                k: v for k, v in e.get("retries", {}).items() if k != state.value}})

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

    def move(self, iid: int, expect: State | None, to: State, reason: str, *, waiting: str = "",
             wake_at: str | None = None, fenced: bool = True, reopen: bool = False, commit: Incident | None = None,
             uncommitted: bool = False) -> None:
        """Compare-and-set transition; raises :class:`Superseded` if the state changed under us,
        :class:`StaleLeader` if another daemon leads now (``fenced=False``: a human's verb).
        A closed incident moves only with ``reopen`` (``sntakeover retry``).

        ``commit`` (the incident as the gates saw it): this very transition commits the
        takeover, in the same transaction as the compare-and-set and a last look at what a
        human may have set meanwhile (:meth:`Gates.human_hold`): a reject, a pause or a
        maintenance window that got in first leaves it uncommitted. ``uncommitted``: move
        only if the takeover is not committed (a reject's cancel)."""
        with self.store.tx() as db:
            if fenced:
                self.store.check_fencing(db)
            row = db.execute("SELECT state, closed, committed FROM incidents WHERE id = ?", (iid,)).fetchone()
            current = State(row["state"])
            if (row["closed"] is not None and not reopen) or (expect is not None and current != expect):
                raise Superseded(f"is {current.value} now, not moving it to {to.value}")
            if uncommitted and row["committed"] is not None:
                raise Superseded(f"the takeover was committed at {row['committed']}")
            if commit is not None:
                hold = self.gates.human_hold(commit)
                if hold is not None:
                    raise Superseded(f"not committed: {hold.reason}")
                self.store.set_columns(iid, committed=now(), db=db)
            self.store.transition(iid, to, reason, db=db, waiting=waiting, wake_at=wake_at)
        self._notify(iid, current, to, reason)

    def _notify(self, iid: int, frm: State | None, to: State, reason: str, kind: str = "transition") -> None:
        """Queue the change for the notifier thread (:mod:`sntakeover.outbox`); no plugin runs here."""
        transition = {"from": frm.value if frm else None, "to": to.value, "reason": reason, "time": now(),
                      "kind": kind}
        incident = self.incident(iid)
        with self.store.tx() as db:
            enqueue_notify(db, incident, transition)

    def attention(self, iid: int, text: str, kind: str = "attention") -> None:
        """Notify about an incident without changing its state (a reminder, the SN back mid-takeover)."""
        state = self.incident(iid).state
        self._notify(iid, state, state, text, kind)

    # -- control verbs (from the intake thread) ---------------------------------------

    def control(self, req: dict[str, Any]) -> dict[str, Any]:
        from .control import apply_control

        reply = apply_control(self, req)
        self.wake()
        return reply


class ApplyFailed(Exception):
    """An event could not be applied with its commit; the engine's apply takes it over."""


def _followup(db: Any, iid: int, outcome: str, closed: dict[int, tuple[State, str]],
              attention: list[tuple[int, str]]) -> None:
    """Note what an applied event's outcome asks to notify: a closed incident, or attention."""
    if outcome.startswith(ATTENTION):
        attention.append((iid, outcome[len(ATTENTION):]))
    elif outcome.startswith(("cancelled", "suppressed")):
        row = db.execute("SELECT state, reason FROM incidents WHERE id = ?", (iid,)).fetchone()
        closed[iid] = (State(row["state"]), row["reason"])
