"""Side work off the hot path: a durable outbox and the notifier that empties it.

The engine writes a row into the ``outbox`` table when it applies an event
(``event_recorded``, in the same transaction as the apply) and after each
incident transition (``notify``). Nothing on the intake or engine threads
calls a plugin.

The :class:`Notifier` runs one *lane* (a thread) per plugin that implements a
notification hook. Each lane keeps a durable cursor (``outbox_cursor``: the
last outbox row that plugin is done with, saved only after the call), so a
plugin that is slow, failing or hanging holds up only its own lane, and a
restart resumes where each plugin stopped (at least once). Every call runs in
a thread of its own and counts as failed after ``notify.timeout`` seconds;
failures are retried ``notify.retries`` times with exponential backoff, every
log line names the plugin, and when a lane gives up the entry is recorded in
``outbox_failures`` (and, for ``notify``, noted on the incident's timeline).
The calls themselves go through :class:`sntakeover.plugins.Hooks`, the one
place that knows how to call plugins.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from typing import Any

from .config import Config
from .context import Context
from .model import Event, Incident, NodeProgress, State
from .recording import RecordingRunner
from .plugins import Hooks
from .clock import now
from .store import Store

log = logging.getLogger(__name__)

POLL = 0.25
BATCH = 200


# -- writing (called inside the engine's transactions) ---------------------------------


def enqueue(db: sqlite3.Connection, hook: str, payload: dict[str, Any]) -> int:
    cur = db.execute("INSERT INTO outbox (hook, created, payload) VALUES (?,?,?)",
                     (hook, now(), json.dumps(payload, sort_keys=True)))
    return int(cur.lastrowid)


def enqueue_event_recorded(db: sqlite3.Connection, event: Event, incident_id: int | None) -> int:
    return enqueue(db, "event_recorded", {"event": event.to_dict(), "incident_id": incident_id})


def enqueue_notify(db: sqlite3.Connection, incident: Incident, transition: dict[str, Any]) -> int:
    p = incident.progress
    inc = {"id": incident.id, "servicenode": incident.servicenode, "state": incident.state.value,
           "opened": incident.opened, "reason": incident.reason, "nodes": list(incident.nodes),
           "requested": incident.requested, "committed": incident.committed, "committed_at": incident.committed_at,
           "progress": {"moved": list(p.moved), "failed": list(p.failed), "pending": list(p.pending),
                        "skipped": list(p.skipped), "moved_to": [list(kv) for kv in p.moved_to]}}
    return enqueue(db, "notify", {"incident": inc, "transition": transition})


def _incident(d: dict[str, Any]) -> Incident:
    p = d.get("progress") or {}
    return Incident(id=d["id"], servicenode=d["servicenode"], state=State(d["state"]), opened=d["opened"],
                    reason=d["reason"], nodes=tuple(d["nodes"]), requested=d["requested"],
                    committed=bool(d.get("committed")), committed_at=d.get("committed_at"),
                    progress=NodeProgress(*(tuple(p.get(k, ())) for k in ("moved", "failed", "pending", "skipped")),
                                          tuple((b, n) for b, n in p.get("moved_to", ()))))


# -- delivering ------------------------------------------------------------------------


class Notifier:
    """Deliver outbox rows to each notification plugin on its own lane."""

    def __init__(self, config: Config, store: Store, hooks: Hooks, runner: Any = None) -> None:
        self.config = config
        self.store = store
        self.hooks = hooks
        self.runner = runner
        cfg = config.data.get("notify", {})
        self.timeout = float(cfg.get("timeout", 30.0))
        self.retries = int(cfg.get("retries", 5))
        self.backoff = float(cfg.get("backoff", 1.0))
        self.backoff_max = float(cfg.get("backoff_max", 300.0))
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lanes: list[threading.Thread] = []
        self._busy: dict[str, threading.Thread] = {}  # plugin -> a call that outlived its timeout
        #: whether this daemon delivers (the leader does; see :mod:`sntakeover.leader`)
        self.leading: Any = lambda: True

    def start(self) -> Notifier:
        plugins = self.hooks.notification_plugins()
        top = self.store.query("SELECT COALESCE(MAX(seq), 0) AS m FROM outbox")[0]["m"]
        with self.store.tx() as db:  # a plugin seen for the first time starts at the end
            for name in plugins:
                db.execute("INSERT OR IGNORE INTO outbox_cursor (plugin, seq) VALUES (?, ?)", (name, top))
        for name, hooks in sorted(plugins.items()):
            t = threading.Thread(target=self._lane, args=(name, hooks), name=f"notify-{name}", daemon=True)
            t.start()
            self._lanes.append(t)
        return self

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for t in self._lanes:
            t.join(max(0.0, deadline - time.monotonic()))

    def cursor(self, plugin: str) -> int:
        rows = self.store.query("SELECT seq FROM outbox_cursor WHERE plugin = ?", (plugin,))
        return int(rows[0]["seq"]) if rows else 0

    def _lane(self, plugin: str, hooks: set[str]) -> None:
        while not self._stop.is_set():
            try:
                done = self._drain(plugin, hooks) if self.leading() else 0
            except _Stopping:
                return
            except Exception:  # noqa: BLE001 - a lane logs and goes on (devpi's subscriber does too)
                log.exception("notifier lane %s failed; retrying", plugin)
                done = 0
            if not done:
                self._stop.wait(POLL)

    def _drain(self, plugin: str, hooks: set[str]) -> int:
        """Deliver the next rows; the cursor is saved after them (one commit per batch)."""
        rows = self.store.query("SELECT seq, hook, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
                                (self.cursor(plugin), BATCH))
        done = None
        try:
            for row in rows:
                if self._stop.is_set():
                    break
                if row["hook"] in hooks:
                    self._deliver(plugin, row["seq"], row["hook"], json.loads(row["payload"]))
                done = row["seq"]
        finally:
            if done is not None:
                with self.store.tx() as db:
                    db.execute("UPDATE outbox_cursor SET seq = ? WHERE plugin = ?", (done, plugin))
        return len(rows)

    def _deliver(self, plugin: str, seq: int, hook: str, payload: dict[str, Any]) -> None:
        error = ""
        for attempt in range(1, self.retries + 1):
            error = self._call(plugin, hook, payload)
            if not error:
                return
            log.warning("notifier %s: %s #%d failed (attempt %d/%d): %s", plugin, hook, seq, attempt, self.retries, error)
            if attempt < self.retries and self._stop.wait(min(self.backoff_max, self.backoff * 2 ** (attempt - 1))):
                raise _Stopping()
        log.error("notifier %s: giving up on %s #%d after %d attempt(s): %s", plugin, hook, seq, self.retries, error)
        with self.store.tx() as db:
            db.execute("INSERT OR REPLACE INTO outbox_failures (seq, plugin, time, attempts, error) VALUES (?,?,?,?,?)",
                       (seq, plugin, now(), self.retries, error[:2000]))
            if hook == "notify":
                self.store.note(payload["incident"]["id"],
                                f"notifier {plugin} failed after {self.retries} attempt(s): {error[:300]}", db=db)

    def _call(self, plugin: str, hook: str, payload: dict[str, Any]) -> str:
        """Call one plugin with a timeout; return an error text, or "" on success."""
        stuck = self._busy.get(plugin)
        if stuck is not None:
            stuck.join(self.timeout)
            if stuck.is_alive():
                return f"its previous call has not returned (still running after more than {self.timeout:g}s)"
            del self._busy[plugin]
        errors: dict[str, BaseException] = {}

        def call() -> None:
            try:
                if hook == "notify":
                    inc = _incident(payload["incident"])
                    self.hooks.notify(inc, payload["transition"], self._context(inc.id), plugin=plugin, errors=errors)
                else:
                    self.hooks.event_recorded(Event.from_dict(payload["event"]), payload["incident_id"],
                                              plugin=plugin, errors=errors)
            except Exception as exc:  # noqa: BLE001 - building the arguments failed
                errors[plugin] = exc

        t = threading.Thread(target=call, name=f"notify-{plugin}-call", daemon=True)
        t.start()
        t.join(self.timeout)
        if t.is_alive():
            self._busy[plugin] = t
            return f"timed out after {self.timeout:g}s"
        exc = errors.get(plugin)
        return f"{type(exc).__name__}: {exc}" if exc is not None else ""

    def _context(self, iid: int) -> Context:
        runner = RecordingRunner(self.runner, self.store, iid) if self.runner is not None else None
        return Context(config=self.config, runner=runner, note=lambda text: self.store.note(iid, text))


class _Stopping(Exception):
    """The daemon stops during a backoff wait; the cursor stays, the entry comes again."""
