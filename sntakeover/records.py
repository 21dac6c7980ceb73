"""Reading incidents back: everything about one incident, and why it is where it is."""

from __future__ import annotations

import json
from typing import Any

from .clock import age, span
from .model import State
from .noderange import natural_key
from .oneline import summary_line
from .store import Store


def summary(store: Store, iid: int) -> dict[str, Any]:
    """Everything about one incident, for ``show`` and ``--json``."""
    row = store.incident(iid)
    if row is None:
        raise KeyError(iid)
    evidence = json.loads(row["evidence"] or "{}")
    nodes = sorted((dict(r) for r in store.node_rows(iid)), key=lambda r: (natural_key(r["node"]), r["node"]))
    return {
        "id": row["id"],
        "servicenode": row["servicenode"],
        "state": row["state"],
        "opened": row["opened"],
        "closed": row["closed"],
        "reason": row["reason"],
        "why": explain(row),
        "summary": line_of(row, nodes),
        "waiting": row["waiting"],
        "wake_at": row["wake_at"],
        "committed": row["committed"],
        "fenced": row["fenced"],
        "approvals": json.loads(row["approvals"] or "[]"),
        "sources": evidence.get("sources", {}),
        "timeline": [dict(r) for r in store.timeline(iid)],
        "nodes": nodes,
        "verdicts": sorted((dict(r) for r in store.verdicts_of(iid)), key=lambda r: (natural_key(r["node"]), r["verifier"])),
        "events": [dict(r) for r in store.events_of(iid)],
        "commands": [
            {**{k: r[k] for k in ("seq", "started", "rc", "timed_out", "duration")}, "argv": _argv(r["argv"])}
            for r in store.commands_of(iid)
        ],
    }


def _argv(stored: str) -> list[str]:
    """A command's argv as a list (the store keeps it as JSON text)."""
    try:
        argv = json.loads(stored)
    except (TypeError, ValueError):
        return [str(stored)]
    return [str(a) for a in argv] if isinstance(argv, list) else [str(argv)]


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
        State.RETRYING: "running the node-side steps again for the nodes that failed",
    }.get(state, state.value)
    committed = " (committed: it completes)" if row["committed"] else ""
    return f"{doing}{committed}: {row['reason']}"


def line_of(row, nodes: list[dict[str, Any]]) -> str:
    """The one-line summary of an incident row and its node rows (see :mod:`sntakeover.oneline`)."""
    by: dict[str, list[str]] = {}
    moved_to: dict[str, int] = {}
    for n in nodes:
        by.setdefault(n["status"], []).append(n["node"])
        if n["status"] == "verified" and n["backup"]:
            moved_to[n["backup"]] = moved_to.get(n["backup"], 0) + 1
    pending = [n["node"] for n in nodes if n["status"] not in ("verified", "failed", "skipped")]
    return summary_line(row["state"], verified=by.get("verified", ()), failed=by.get("failed", ()),
                        skipped=by.get("skipped", ()), pending=pending, moved_to=moved_to, opened=row["opened"],
                        committed=row["committed"], closed=row["closed"])


def incident_line(store: Store, row) -> str:
    return line_of(row, [dict(r) for r in store.node_rows(row["id"])])


def find_incidents(store: Store, *, limit: int = 50, since: str | None = None, state: str | None = None,
                   servicenode: str | None = None) -> tuple[list[Any], int]:
    """The newest incidents matching the filters, and how many more match beyond ``limit``."""
    where, args = [], []
    if since:
        where.append("opened >= ?")
        args.append(since)
    if state:
        where.append("state = ?")
        args.append(state)
    if servicenode:
        where.append("servicenode = ?")
        args.append(servicenode)
    cond = (" WHERE " + " AND ".join(where)) if where else ""
    total = store.query(f"SELECT COUNT(*) FROM incidents{cond}", tuple(args))[0][0]
    rows = store.query(f"SELECT * FROM incidents{cond} ORDER BY id DESC LIMIT ?", (*args, max(0, limit)))
    return rows, max(0, total - len(rows))


def recently_closed(store: Store, since: str) -> list[Any]:
    """Incidents closed at or after ``since``, newest first."""
    return store.query("SELECT * FROM incidents WHERE closed IS NOT NULL AND closed >= ? ORDER BY closed DESC, id DESC",
                       (since,))
