"""Turning stored events into incidents.

Each pending event is applied in the same transaction that marks it processed,
so after a crash every acknowledged event is applied exactly once. The rules,
per kind:

``sn.down`` / ``node.unreachable``
    ``state_type: soft`` is recorded only. ``in_downtime`` records a
    *suppressed* incident (or a note on the open one). Otherwise the event opens
    an incident for the SN, or attaches to the open one.
``takeover.request``
    Like ``sn.down`` but marks the incident *requested*: confirmation is skipped.
``sn.up``
    Cancels an open incident that has not started moving nodes; once nodes are
    moving it is only noted. It never moves nodes back (no automatic failback).
``takeover.cancel``
    Cancels an open incident that has not started moving nodes.
``xcat.change``
    Noted on the open incident of that SN (someone else's snmove/chdef).
"""

from __future__ import annotations

import json
import logging
import sqlite3

from .model import Event, State
from .store import Store

log = logging.getLogger(__name__)

#: states in which an incident may still be cancelled (no node touched yet)
CANCELLABLE = frozenset({State.DETECTED, State.CONFIRMING, State.CONFIRMED, State.FENCING})


def describe(event: Event) -> str:
    src = event.source.get("tool", "?")
    ref = event.source.get("ref")
    bits = [f"{event.kind} from {src}"]
    if ref:
        bits.append(f"ref {ref}")
    if event.state_type:
        bits.append(event.state_type)
    if event.nodes:
        bits.append(f"{len(event.nodes)} node(s)")
    if event.detail:
        bits.append(event.detail[:200])
    return f"event {event.id}: " + ", ".join(bits)


def apply_event(store: Store, db: sqlite3.Connection, seq: int, event: Event) -> int | None:
    """Apply one event inside the caller's transaction; returns the incident id touched."""
    open_row = store.open_incident(db, event.servicenode)
    iid = open_row["id"] if open_row else None
    state = State(open_row["state"]) if open_row else None
    text = describe(event)
    kind = event.kind

    def done(outcome: str, incident: int | None) -> int | None:
        store.mark_processed(db, seq, incident, outcome)
        log.info("%s -> %s", text, outcome)
        return incident

    if kind in ("sn.down", "node.unreachable", "takeover.request"):
        if event.state_type == "soft" and kind != "takeover.request":
            if iid is not None:
                store.note(iid, f"{text} (soft state: recorded only)", db=db)
            return done("recorded: soft state is never acted on", iid)
        if event.in_downtime:
            if iid is not None:
                store.note(iid, f"{text} (in downtime)", db=db)
                return done("noted on open incident (in downtime)", iid)
            new = store.create_incident(
                db,
                event.servicenode,
                State.SUPPRESSED,
                f"{text}: {event.servicenode} is in a monitoring downtime",
                requested=False,
                nodes=list(event.nodes),
            )
            return done("suppressed: in downtime", new)
        if iid is not None:
            store.note(iid, f"{text} attached", db=db)
            if kind == "takeover.request" and state in (State.DETECTED, State.CONFIRMING):
                db.execute("UPDATE incidents SET requested = 1 WHERE id = ?", (iid,))
                store.note(iid, "takeover requested: confirmation no longer required", db=db)
            _widen_nodes(store, db, open_row, event)
            return done("attached", iid)
        new = store.create_incident(
            db,
            event.servicenode,
            State.DETECTED,
            text,
            requested=(kind == "takeover.request"),
            nodes=list(event.nodes),
        )
        return done("opened incident", new)

    if kind in ("sn.up", "takeover.cancel"):
        if iid is None:
            why = "recorded: no open incident (no automatic failback)" if kind == "sn.up" else "recorded: nothing to cancel"
            return done(why, None)
        if state in CANCELLABLE:
            store.transition(iid, State.CANCELLED, f"{text}: cancelled before any node was moved", db=db)
            return done("cancelled incident", iid)
        store.note(iid, f"{text}: nodes are already moving; no failback is done", db=db)
        return done("noted: too late to cancel", iid)

    if kind == "xcat.change":
        if iid is not None:
            store.note(iid, f"xCAT database change seen: {event.detail or text}", db=db)
            return done("noted on open incident", iid)
        return done("recorded", None)

    return done(f"recorded: unknown kind {kind}", None)


def _widen_nodes(store: Store, db: sqlite3.Connection, row: sqlite3.Row, event: Event) -> None:
    """An incident limited to some nodes becomes SN-wide when an SN-wide event attaches."""
    current = json.loads(row["nodes"])
    if not current:
        return
    if not event.nodes:
        store.set_nodes_restriction(db, row["id"], [])
        store.note(row["id"], "incident widened to every node of the service node", db=db)
    else:
        store.set_nodes_restriction(db, row["id"], sorted(set(current) | set(event.nodes)))
