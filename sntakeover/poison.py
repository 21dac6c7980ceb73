"""Poison events: an event the engine cannot apply is quarantined, not retried forever.

Every failed attempt to apply an event is counted on its row (``events.attempts``,
committed even though the apply itself was rolled back). After
``engine.apply_attempts`` failed attempts the event is *quarantined*: marked
processed with the outcome ``quarantined: <the error>``, logged, counted (``sntakeover
status``, ``/metrics``), and the later events of its service node are applied again.
A stored body that does not even parse as an event is quarantined at once: no
retry can change it.

Failures of the store itself (``sqlite3.OperationalError``: locked, disk full,
I/O error) are not the event's fault: they are retried without counting.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any

from .model import Event
from .store import Store

log = logging.getLogger(__name__)

PREFIX = "quarantined: "


def pending(store: Store, limit: int) -> tuple[list[tuple[int, Event]], list[tuple[int, str, str]]]:
    """Pending events in order, and those whose stored body does not parse: ``(seq, id, error)``."""
    good: list[tuple[int, Event]] = []
    bad: list[tuple[int, str, str]] = []
    for r in store.query("SELECT seq, id, body FROM events WHERE processed = 0 ORDER BY seq LIMIT ?", (limit,)):
        try:
            good.append((r["seq"], Event.from_dict(json.loads(r["body"]))))
        except Exception as exc:  # noqa: BLE001 - any stored body that is not an event
            bad.append((r["seq"], r["id"], f"stored body is not an event: {describe(exc)}"))
    return good, bad


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def quarantine(db: sqlite3.Connection, seq: int, event_id: str, reason: str) -> str:
    """Mark the event processed with a ``quarantined`` outcome (inside the caller's transaction)."""
    outcome = PREFIX + reason
    db.execute("UPDATE events SET processed = 1, incident_id = NULL, outcome = ? WHERE seq = ?", (outcome, seq))
    log.error("event %s (seq %d) quarantined: %s; the later events go on (sntakeover status lists it)",
              event_id, seq, reason)
    return outcome


def failed(db: sqlite3.Connection, seq: int, event_id: str, exc: BaseException, limit: int) -> bool:
    """Count one failed attempt to apply the event; quarantine it at ``limit``. True if quarantined."""
    if isinstance(exc, sqlite3.OperationalError):
        log.error("event %s (seq %d) could not be applied (store error, not counted): %s", event_id, seq, exc)
        return False
    db.execute("UPDATE events SET attempts = attempts + 1 WHERE seq = ?", (seq,))
    n = db.execute("SELECT attempts FROM events WHERE seq = ?", (seq,)).fetchone()[0]
    if n >= limit:
        quarantine(db, seq, event_id, f"applying it failed {n} time(s) (engine.apply_attempts = {limit}); "
                                      f"last: {describe(exc)}")
        return True
    log.error("event %s (seq %d) could not be applied (attempt %d of %d): %s; it stays pending", event_id, seq, n,
              limit, describe(exc), exc_info=exc)
    return False


def quarantined(store: Store, limit: int = 20) -> list[dict[str, Any]]:
    """The most recently quarantined events (for ``sntakeover status``)."""
    return [{"id": r["id"], "servicenode": r["servicenode"], "kind": r["kind"], "received": r["received"],
             "reason": r["outcome"][len(PREFIX):]} for r in store.query(
        "SELECT id, servicenode, kind, received, outcome FROM events WHERE outcome LIKE 'quarantined: %'"
        " ORDER BY seq DESC LIMIT ?", (limit,))]


def count(store: Store) -> int:
    return int(store.query("SELECT COUNT(*) FROM events WHERE outcome LIKE 'quarantined: %'")[0][0])
