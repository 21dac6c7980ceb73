"""Turning stored events into incidents: one SN outage, one incident.

Each pending event is applied in the same transaction that marks it processed,
so after a crash every acknowledged event is applied exactly once. The rules,
in the order they are checked:

1. **Soft states** (``state_type: soft``) are recorded only; they never vote.
2. **Stale events** -- whose own time is older than ``events.max_age`` when they
   arrived -- are recorded and never acted on by themselves.
3. ``sn.down`` / ``node.unreachable`` / ``takeover.request``:

   * the SN is **in maintenance** (``sntakeover maintenance``) or the event says
     it is in a **monitoring downtime**: a *suppressed* incident (or a note);
   * an **open incident** of the SN takes the event: the first event of each
     monitoring source is noted on its timeline, repeats are only counted (the
     source's vote counts either way); a ``takeover.request`` there skips the
     rest of the confirmation;
   * an incident of the SN that **closed within** ``events.reopen_window`` takes
     it too: if that incident moved nodes, the event is only noted (its nodes
     are moved already) -- unless the SN was reported up since and the probes
     saw it answer again, which ended that outage: then this is a new one; if
     it ended before anything moved
     (cancelled, suppressed, failed before fencing), it is **reopened** -- the
     same outage goes on, and is confirmed again;
   * otherwise the event opens a new incident.

4. ``sn.up`` is a vote, not a command. Before the takeover is committed it asks
   the engine to probe the SN again; only if the probes agree that the SN is up
   is the incident cancelled. Once fencing or moving has begun it is recorded and
   notified, and changes nothing: the takeover completes, and nothing is ever
   moved back (no automatic failback).
5. ``takeover.cancel`` (a human) cancels an incident that is not committed yet;
   on a committed incident that waits (for a backup, for the hold-down) it drops
   the nodes that have not moved, and the incident finishes with the rest.
6. ``xcat.change`` (someone else's snmove/chdef seen through regnotif) is noted
   on the open incident of that SN.
"""

from __future__ import annotations

import json
import logging
import sqlite3

from . import controls
from .clock import age, now, span
from .config import Config
from .model import Event, State
from .store import Store

log = logging.getLogger(__name__)

DOWN_KINDS = ("sn.down", "node.unreachable", "takeover.request")

#: outcomes that tell the engine to send a notification about an incident without a state change
ATTENTION = "attention: "


def describe(event: Event) -> str:
    bits = [f"{event.kind} from {source_key(event)}"]
    if event.source.get("ref"):
        bits.append(f"ref {event.source['ref']}")
    if event.state_type:
        bits.append(event.state_type)
    if event.nodes:
        bits.append(f"{len(event.nodes)} node(s)")
    if event.detail:
        bits.append(event.detail[:200])
    return f"event {event.id}: " + ", ".join(bits)


def source_key(event: Event) -> str:
    return f"{event.source.get('tool', '?')}@{event.source.get('host', '?')}"


def apply_event(store: Store, db: sqlite3.Connection, seq: int, event: Event, config: Config | None = None,
                *, received: str | None = None) -> tuple[int | None, str]:
    """Apply one event inside the caller's transaction; returns (the incident id touched, the outcome).

    :param received: when the event was stored, if the caller knows (else it is read back).
    """
    cfg = config or _default_config()
    ev = _Applier(store, db, seq, event, cfg, received)
    iid = ev.apply()
    return iid, ev.outcome


def _default_config() -> Config:
    from .config import build

    return build({})


class _Applier:
    def __init__(self, store: Store, db: sqlite3.Connection, seq: int, event: Event, config: Config,
                 received: str | None = None) -> None:
        self.store, self.db, self.seq, self.event, self.config = store, db, seq, event, config
        self.received = received
        self.outcome = ""
        self.text = describe(event)
        self.open = store.open_incident(db, event.servicenode)

    def done(self, outcome: str, incident: int | None) -> int | None:
        self.outcome = outcome
        self.store.mark_processed(self.db, self.seq, incident, outcome)
        log.info("%s -> %s", self.text, outcome)
        return incident

    def note(self, iid: int, text: str) -> None:
        self.store.note(iid, text, db=self.db)

    def apply(self) -> int | None:
        ev, iid = self.event, (self.open["id"] if self.open else None)
        if ev.state_type == "soft" and ev.kind != "takeover.request":
            if iid is not None and self._first_from_source(iid):
                self.note(iid, f"{self.text} (soft state: recorded, never a vote)")
            return self.done("recorded: soft state is never acted on", iid)
        stale = self._stale()
        if stale and ev.kind in ("sn.down", "node.unreachable", "sn.up"):
            if iid is not None:
                self.note(iid, f"{self.text}: {stale}; recorded only")
            return self.done(f"stale: {stale}; recorded only", iid)
        if ev.kind in DOWN_KINDS:
            return self.down()
        if ev.kind == "sn.up":
            return self.up()
        if ev.kind == "takeover.cancel":
            return self.cancel()
        if ev.kind == "xcat.change":
            if iid is not None:
                self.note(iid, f"xCAT database change seen: {ev.detail or self.text}")
                return self.done("noted on open incident", iid)
            return self.done("recorded", None)
        return self.done(f"recorded: unknown kind {ev.kind}", None)

    def _stale(self) -> str:
        received = self.received
        if received is None:
            row = self.db.execute("SELECT received FROM events WHERE seq = ?", (self.seq,)).fetchone()
            received = row["received"] if row else None
        try:
            old = age(self.event.time, received)
        except ValueError:
            return ""
        limit = self.config.get("events", "max_age")
        if limit and old > limit:
            return f"the event is {span(old)} old when it arrived (events.max_age is {span(limit)})"
        return ""

    # -- down ------------------------------------------------------------------------

    def down(self) -> int | None:
        ev = self.event
        sn = ev.servicenode
        iid = self.open["id"] if self.open else None
        maint = controls.maintenance_of(self.store, sn)
        quiet = maint.describe() if maint else (f"{sn} is in a monitoring downtime" if ev.in_downtime else "")
        if quiet and ev.kind != "takeover.request":
            if iid is not None:
                self.note(iid, f"{self.text} ({quiet})")
                return self.done(f"noted on open incident ({quiet})", iid)
            new = self.store.create_incident(self.db, sn, State.SUPPRESSED, f"{self.text}: {quiet}",
                                             requested=False, nodes=list(ev.nodes))
            return self.done(f"suppressed: {quiet}", new)
        if iid is not None:
            return self.attach(self.open)
        last = self.store.last_closed(self.db, sn)
        window = self.config.get("events", "reopen_window")
        if last is not None and window and age(last["closed"]) <= window and not self._up_since(last):
            if last["committed"] or State(last["state"]) in (State.DONE, State.PARTIAL):
                if self._first_from_source(last["id"]):
                    self.note(last["id"], f"{self.text}: attached to this incident, which closed "
                                          f"{span(age(last['closed']))} ago ({last['state']}); its nodes already moved")
                return self.done(f"attached to incident {last['id']} ({last['state']}, closed "
                                 f"{span(age(last['closed']))} ago)", last["id"])
            self.store.reopen(self.db, last["id"], f"reopened by {self.text}: {sn} is reported down again "
                                                   f"{span(age(last['closed']))} after this incident ended "
                                                   f"{last['state']} (one outage, one incident)")
            self._first_from_source(last["id"])
            if ev.kind == "takeover.request":
                self.store.set_columns(last["id"], requested=1, db=self.db)
            return self.done(f"reopened incident {last['id']}", last["id"])
        new = self.store.create_incident(self.db, sn, State.DETECTED, self.text,
                                         requested=(ev.kind == "takeover.request"), nodes=list(ev.nodes))
        self._first_from_source(new)
        return self.done("opened incident", new)

    @staticmethod
    def _moved_nodes(row: sqlite3.Row) -> bool:
        return bool(row["committed"]) or State(row["state"]) in (State.DONE, State.PARTIAL)

    def _up_since(self, row: sqlite3.Row) -> bool:
        """Whether the outage of ``row`` (a closed incident that moved nodes) is over: after an sn.up
        the probes saw the SN answer again (a flapping monitor's sn.up is not enough), or another
        incident has since moved nodes onto the SN (its backup check saw it up; even when no sn.up
        ever came, those nodes need a new incident if it fails again)."""
        if not self._moved_nodes(row):
            return False  # nothing moved: a flap within the window is still the same outage
        if json.loads(row["evidence"]).get("ended"):
            return True
        return self.db.execute("SELECT 1 FROM nodes WHERE backup = ? AND moved IS NOT NULL AND moved >= ?"
                               " AND incident_id != ? LIMIT 1", (row["servicenode"], row["closed"],
                                                                 row["id"])).fetchone() is not None

    def attach(self, row: sqlite3.Row) -> int:
        iid, ev = row["id"], self.event
        state = State(row["state"])
        if self._first_from_source(iid):
            self.note(iid, f"{self.text} attached")
        if ev.kind == "takeover.request" and not row["committed"] and not row["requested"]:
            self.store.set_columns(iid, requested=1, wake_at=None, db=self.db)
            self.note(iid, f"takeover requested by {source_key(ev)}: confirmation no longer required")
        if row["committed"] is None and state.waiting:
            self.store.set_wake(iid, None, db=self.db)  # new evidence: look again now
        _widen_nodes(self.store, self.db, row, ev)
        return self.done("attached", iid)

    def _first_from_source(self, iid: int) -> bool:
        """Count the event under its source on the incident; True for the source's first event there."""
        key = f"{source_key(self.event)} {self.event.kind}"
        seen = self.store.update_json(iid, "evidence", lambda e: {**e, "sources": {
            **e.get("sources", {}), key: e.get("sources", {}).get(key, 0) + 1}}, db=self.db)
        return seen["sources"][key] == 1

    # -- up / cancel --------------------------------------------------------------------

    def up(self) -> int | None:
        if self.open is None:
            last = self.store.last_closed(self.db, self.event.servicenode)
            window = self.config.get("events", "reopen_window")
            if last is not None and window and age(last["closed"]) <= window:
                first = self._first_from_source(last["id"])
                if first:
                    self.note(last["id"], f"{self.text}: nothing is moved back (no automatic failback); probing "
                                          f"{self.event.servicenode} to see whether this outage is over")
                if self._moved_nodes(last) and not json.loads(last["evidence"]).get("ended"):
                    self.store.set_wake(last["id"], now(), db=self.db)  # the engine probes it (Steps.outage_over)
                return self.done("recorded on the closed incident (no automatic failback)", last["id"])
            return self.done("recorded: no open incident (no automatic failback)", None)
        iid = self.open["id"]
        first = self._first_from_source(iid)
        if self.open["committed"]:
            if not first:
                return self.done("counted: the takeover is committed", iid)
            text = (f"{self.text}: {self.event.servicenode} is back, but the takeover is committed (it began "
                    f"{self.open['committed']}); it completes, and nothing is moved back automatically")
            self.note(iid, text)
            return self.done(ATTENTION + text, iid)
        src = source_key(self.event)
        self.store.update_json(iid, "evidence", lambda e: {
            **e, "reprobe": e.get("reprobe", []) + ([src] if src not in e.get("reprobe", []) else [])}, db=self.db)
        self.store.set_wake(iid, None, db=self.db)
        if first:
            self.note(iid, f"{self.text}: a vote for 'up', not a command; probing {self.event.servicenode} again "
                           "before deciding")
        return self.done("re-probe requested", iid)

    def cancel(self) -> int | None:
        if self.open is None:
            return self.done("recorded: nothing to cancel", None)
        iid = self.open["id"]
        who = source_key(self.event)
        if not self.open["committed"]:
            self.store.transition(iid, State.CANCELLED, f"cancelled by {who} before anything was changed "
                                                        f"({self.text})", db=self.db)
            return self.done("cancelled incident", iid)
        if State(self.open["state"]).waiting:
            self.store.update_json(iid, "evidence", lambda e: {**e, "cancel": who}, db=self.db)
            self.store.set_wake(iid, None, db=self.db)
            self.note(iid, f"{self.text}: the nodes that have not moved yet will not be moved")
            return self.done("remaining nodes dropped", iid)
        self.note(iid, f"{self.text}: too late, nodes are moving; the takeover completes")
        return self.done(ATTENTION + "too late to cancel: nodes are moving", iid)


def _widen_nodes(store: Store, db: sqlite3.Connection, row: sqlite3.Row, event: Event) -> None:
    """An incident limited to some nodes becomes SN-wide when an SN-wide event attaches."""
    current = json.loads(row["nodes"])
    if not current or row["plan"]:
        return
    if not event.nodes:
        store.set_nodes_restriction(db, row["id"], [])
        store.note(row["id"], "incident widened to every node of the service node", db=db)
    elif not set(event.nodes) <= set(current):
        store.set_nodes_restriction(db, row["id"], sorted(set(current) | set(event.nodes)))
