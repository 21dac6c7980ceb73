"""Where a takeover stands, read from the store (read-only): the facts behind
``sntakeover show ID --follow`` and ``sntakeover watch``.

:func:`snapshot` gives, per phase (confirm, plan, wait, fence, move, verify),
whether it is done, running, waiting, skipped or still to come, how long it
took and what it counts; the node totals (moved / verified / failed / waiting
of N); what the incident waits for; and the latest timeline lines. Nodes count
as moved as soon as the snmove call that named them has returned, so a takeover
in several calls (``batch_size``, the ``parallel`` strategy) shows progress
while it runs.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .clock import age
from .model import State
from .records import explain, line_of
from .store import Store

PHASES = ("confirm", "plan", "wait", "fence", "move", "verify")

PHASE_OF = {
    "detected": "confirm", "confirming": "confirm", "confirmed": "plan",
    "awaiting-approval": "wait", "awaiting-backup": "wait", "held": "wait",
    "fencing": "fence", "awaiting-fence": "fence", "moving": "move", "verifying": "verify",
    "retrying": "move",
}

MOVED = ("moved", "node-error", "verified", "failed", "retry")


def _phase_times(timeline: list[Any], closed: str | None) -> dict[str, float]:
    """Seconds spent in each phase, from the timeline's transitions (to now while open)."""
    spent: dict[str, float] = {}
    changes = [t for t in timeline if t["to_state"]]
    for i, t in enumerate(changes):
        phase = PHASE_OF.get(t["to_state"])
        if phase is None:
            continue
        end = changes[i + 1]["time"] if i + 1 < len(changes) else closed
        spent[phase] = spent.get(phase, 0.0) + max(0.0, age(t["time"], end) if end else age(t["time"]))
    return spent


def _snmove_nodes(commands: list[Any]) -> tuple[set[str], set[str]]:
    """Nodes named by snmove calls that returned, and by those still running."""
    done: set[str] = set()
    running: set[str] = set()
    for c in commands:
        argv = json.loads(c["argv"])
        if len(argv) > 1 and os.path.basename(argv[0]) == "snmove":
            (running if c["rc"] is None else done).update(argv[1].split(","))
    return done, running


def snapshot(store: Store, iid: int, *, rounds_needed: int | None = None, lines: int = 6) -> dict[str, Any]:
    """Everything the follow display shows about incident ``iid``.

    :raises KeyError: no such incident.
    """
    row = store.incident(iid)
    if row is None:
        raise KeyError(iid)
    state = State(row["state"])
    nodes = [dict(r) for r in store.node_rows(iid)]
    timeline = store.timeline(iid)
    commands = store.commands_of(iid)
    spent = _phase_times(timeline, row["closed"])
    current = PHASE_OF.get(state.value)
    entered = {PHASE_OF[t["to_state"]] for t in timeline if t["to_state"] in PHASE_OF}

    status = {n["node"]: n["status"] for n in nodes}
    planned = [n for n, s in status.items() if s != "skipped"]
    done_calls, running_calls = _snmove_nodes(commands)
    moved = {n for n in planned if status[n] in MOVED or (status[n] == "moving" and n in done_calls)}
    count = {
        "total": len(planned),
        "moved": len(moved),
        "moving": sum(1 for n in planned if status[n] == "moving" and n not in moved),
        "move_failed": sum(1 for n in planned if status[n] == "node-error"),
        "verified": sum(1 for n in planned if status[n] == "verified"),
        "failed": sum(1 for n in planned if status[n] == "failed"),
        "waiting": sum(1 for n in planned if status[n] in ("waiting", "planned", "ready")),
        "skipped": sum(1 for s in status.values() if s == "skipped"),
    }
    evidence = json.loads(row["evidence"] or "{}")
    rounds = evidence.get("rounds", [])
    detail = {
        "confirm": (f"{len(rounds)} probe round(s)" + (f", last: {rounds[-1].get('verdict')}" if rounds else "")
                    + (f" ({rounds_needed} in a row decide)" if rounds_needed else "")) if rounds or current == "confirm"
        else ("skipped: takeover requested by a human" if row["requested"] else ""),
        "plan": (f"{count['total']} node(s) to move" + (f", {count['skipped']} left out" if count["skipped"] else ""))
        if row["plan"] else "",
        "wait": row["waiting"] or "",
        "fence": row["fenced"] or "",
        "move": (f"{count['moved']} of {count['total']} moved, {count['move_failed']} failed, {count['waiting']} waiting"
                 + (f"; snmove running for {len(running_calls)} node(s)" if running_calls else ""))
        if count["total"] else "",
        "verify": f"{count['verified']} of {count['total']} verified, {count['failed']} failed" if count["total"] else "",
    }
    later = {p for p in PHASES if PHASES.index(p) < max((PHASES.index(x) for x in entered), default=-1)}
    phases = []
    for p in PHASES:
        if p == current and not state.terminal:
            st = "waiting" if state.waiting else "running"
        elif p in entered:
            st = "done"
        elif p in later or state.terminal:
            st = "skipped"
        else:
            st = "to come"
        if p == "wait" and st == "skipped" and "plan" in entered:
            detail["wait"] = "no gate held it"
        if p == "fence" and st == "skipped" and "move" in entered:
            detail["fence"] = "not fenced (fence.policy)"
        phases.append({"name": p, "status": st, "seconds": spent.get(p), "detail": detail[p]})
    recent = [dict(t) for t in timeline[-lines:]]
    return {
        "id": row["id"],
        "servicenode": row["servicenode"],
        "state": state.value,
        "terminal": state.terminal,
        "opened": row["opened"],
        "closed": row["closed"],
        "elapsed": age(row["opened"], row["closed"]) if row["closed"] else age(row["opened"]),
        "why": explain(row),
        "summary": line_of(row, nodes),
        "nodes": count,
        "phases": phases,
        "timeline": recent,
        "last_seq": timeline[-1]["seq"] if timeline else 0,
    }
