"""Reading incidents back: everything about one incident, and why it is where it is."""

from __future__ import annotations

import json
from typing import Any

from .clock import age, span
from .model import State
from .store import Store


def summary(store: Store, iid: int) -> dict[str, Any]:
    """Everything about one incident, for ``show`` and ``--json``."""
    row = store.incident(iid)
    if row is None:
        raise KeyError(iid)
    evidence = json.loads(row["evidence"] or "{}")
    return {
        "id": row["id"],
        "servicenode": row["servicenode"],
        "state": row["state"],
        "opened": row["opened"],
        "closed": row["closed"],
        "reason": row["reason"],
        "why": explain(row),
        "waiting": row["waiting"],
        "wake_at": row["wake_at"],
        "committed": row["committed"],
        "fenced": row["fenced"],
        "approvals": json.loads(row["approvals"] or "[]"),
        "sources": evidence.get("sources", {}),
        "timeline": [dict(r) for r in store.timeline(iid)],
        "nodes": [dict(r) for r in store.node_rows(iid)],
        "verdicts": [dict(r) for r in store.verdicts_of(iid)],
        "events": [dict(r) for r in store.events_of(iid)],
        "commands": [
            {k: r[k] for k in ("seq", "started", "argv", "rc", "timed_out", "duration")} for r in store.commands_of(iid)
        ],
    }


def explain(row) -> str:
    """One sentence: why the incident is where it is, and what it waits for."""
    state = State(row["state"])
    iid = row["id"]
    if state.terminal:
        return f"ended {state.value} {span(age(row['closed']))} ago: {row['reason']}"
    if state.waiting:
        nxt = f"; looks again in {span(max(0.0, -age(row['wake_at'])))}" if row["wake_at"] else ""
        return f"waiting for {row['waiting'] or row['reason']}{nxt} (sntakeover show {iid})"
    doing = {
        State.DETECTED: "just reported; confirmation starts now",
        State.CONFIRMING: f"probing {row['servicenode']} to confirm it is down",
        State.CONFIRMED: "confirmed; planning and checking the gates",
        State.FENCING: f"fencing {row['servicenode']}",
        State.MOVING: "moving nodes to their backup",
        State.VERIFYING: "verifying every moved node",
    }.get(state, state.value)
    committed = " (committed: it completes)" if row["committed"] else ""
    return f"{doing}{committed}: {row['reason']}"
