"""What humans set and the engine obeys: the kill switch, the circuit breaker, maintenance.

All of it lives in the store (tables ``controls`` and ``maintenance``) so it
survives a restart. The engine reads it at every gate; the ``sntakeover``
control verbs (``pause``, ``resume``, ``breaker reset``, ``maintenance``)
reach the daemon, which writes it here and wakes the engine.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from .clock import now, parse
from .store import Store

log = logging.getLogger(__name__)

PAUSE = "pause"
BREAKER = "breaker"
BREAKER_ACK = "breaker-ack"  # the SNs a human accepted as really down when resetting the breaker


@dataclass(frozen=True)
class Control:
    """A switch that is on: since when, set by whom, and its details."""

    key: str
    since: str
    by: str
    value: dict[str, Any]

    @property
    def reason(self) -> str:
        return str(self.value.get("reason", ""))


def get(store: Store, key: str) -> Control | None:
    rows = store.query("SELECT * FROM controls WHERE key = ?", (key,))
    if not rows:
        return None
    r = rows[0]
    return Control(key, r["since"], r["by"], json.loads(r["value"]))


def switch_on(store: Store, key: str, by: str, **value: Any) -> bool:
    """Turn a switch on; returns False if it was already on (the first setting is kept)."""
    with store.tx() as db:
        cur = db.execute("INSERT OR IGNORE INTO controls (key, value, since, by) VALUES (?,?,?,?)",
                         (key, json.dumps(value), now(), by))
        return cur.rowcount == 1


def switch_off(store: Store, key: str) -> Control | None:
    """Turn a switch off; returns what it was (None if it was off)."""
    was = get(store, key)
    if was is not None:
        with store.tx() as db:
            db.execute("DELETE FROM controls WHERE key = ?", (key,))
    return was


# -- maintenance ------------------------------------------------------------------


@dataclass(frozen=True)
class Maintenance:
    servicenode: str
    until: str
    since: str
    by: str
    reason: str

    def describe(self) -> str:
        why = f": {self.reason}" if self.reason else ""
        return f"{self.servicenode} is in maintenance until {self.until} (set by {self.by or '?'} at {self.since}{why})"


def set_maintenance(store: Store, servicenode: str, until: str, by: str, reason: str = "") -> Maintenance:
    parse(until)  # refuse what is not a time
    with store.tx() as db:
        db.execute("INSERT INTO maintenance (servicenode, until, since, by, reason) VALUES (?,?,?,?,?)"
                   " ON CONFLICT(servicenode) DO UPDATE SET until=excluded.until, since=excluded.since,"
                   " by=excluded.by, reason=excluded.reason", (servicenode, until, now(), by, reason))
    m = maintenance_of(store, servicenode, at=None)
    assert m is not None
    return m


def end_maintenance(store: Store, servicenode: str) -> Maintenance | None:
    """End the SN's maintenance now; returns the window that ended (None: there was none)."""
    m = maintenance_of(store, servicenode, at=None)
    with store.tx() as db:
        gone = db.execute("DELETE FROM maintenance WHERE servicenode = ?", (servicenode,)).rowcount == 1
    return m if gone else None


def expired_maintenance(store: Store, recent: float) -> list[Maintenance]:
    """Remove the windows that are over; returns those that ended less than ``recent`` seconds ago."""
    t = now()
    if not store.query("SELECT 1 FROM maintenance WHERE until <= ? LIMIT 1", (t,)):
        return []  # the common case: no write transaction (and no fsync) for nothing
    ended = []
    with store.tx() as db:
        for r in db.execute("SELECT * FROM maintenance WHERE until <= ?", (t,)).fetchall():
            db.execute("DELETE FROM maintenance WHERE servicenode = ? AND until = ?", (r["servicenode"], r["until"]))
            if parse(t).timestamp() - parse(r["until"]).timestamp() <= recent:
                ended.append(Maintenance(r["servicenode"], r["until"], r["since"], r["by"], r["reason"]))
    return ended


def reopen_after_maintenance(store: Store, m: Maintenance, how: str) -> tuple[int, str] | None:
    """Confirm again an outage that was reported during the window ``m``, if nothing said it ended.

    Its reminders carry the id of the report that was suppressed, so they are
    duplicates and never act: the end of the window does. The SN's latest
    incident, suppressed during the window and never committed, is reopened
    (the probes decide again) unless an ``sn.up`` came for the SN since it
    opened, or another incident of the SN is open. Returns (incident, reason).
    """
    sn = m.servicenode
    with store.tx() as db:
        if db.execute("SELECT 1 FROM incidents WHERE servicenode = ? AND closed IS NULL", (sn,)).fetchone():
            return None
        row = db.execute("SELECT id, opened FROM incidents WHERE servicenode = ? AND state = 'suppressed'"
                         " AND closed >= ? AND committed IS NULL ORDER BY id DESC LIMIT 1", (sn, m.since)).fetchone()
        if row is None or db.execute("SELECT 1 FROM events WHERE servicenode = ? AND kind = 'sn.up' AND received >= ?"
                                     " LIMIT 1", (sn, row["opened"])).fetchone():
            return None
        reason = (f"maintenance of {sn} {how} (it began {m.since}); {sn} was reported down during it and nothing "
                  "said it recovered: confirming it again")
        store.reopen(db, row["id"], reason)
        return row["id"], reason


def maintenance_of(store: Store, servicenode: str, *, at: str | None = "now") -> Maintenance | None:
    """The SN's maintenance window if it is in force at ``at`` (default now; ``None`` = any)."""
    rows = store.query("SELECT * FROM maintenance WHERE servicenode = ?", (servicenode,))
    if not rows:
        return None
    r = rows[0]
    m = Maintenance(r["servicenode"], r["until"], r["since"], r["by"], r["reason"])
    if at is not None and parse(m.until) <= parse(now() if at == "now" else at):
        return None
    return m


def all_maintenance(store: Store) -> list[Maintenance]:
    t = parse(now())
    out = []
    for r in store.query("SELECT * FROM maintenance ORDER BY servicenode"):
        if parse(r["until"]) > t:
            out.append(Maintenance(r["servicenode"], r["until"], r["since"], r["by"], r["reason"]))
    return out


# -- approvals -----------------------------------------------------------------------


def approved(store: Store, iid: int, gate: str) -> dict[str, Any] | None:
    """The approval a human gave for ``gate`` on incident ``iid``, if any."""
    rows = store.query("SELECT approvals FROM incidents WHERE id = ?", (iid,))
    if not rows:
        return None
    for a in json.loads(rows[0][0]):
        if a.get("gate") == gate:
            return a
    return None


def add_approval(store: Store, iid: int, gate: str, by: str, comment: str = "") -> None:
    entry = {"gate": gate, "by": by, "time": now(), "comment": comment}
    store.update_json(iid, "approvals", lambda old: [a for a in old if a.get("gate") != gate] + [entry])
