"""What the notifiers say: short, human, the same facts everywhere.

Every notifier (syslog, e-mail, webhook, exec, and third-party ones) builds its
message from :func:`message`: the service node, the state (and the one before),
the nodes moved / failed (counts and names), what the incident waits for and
the ``sntakeover show ID`` command to run. The facts come from the hook
arguments only (``incident.progress`` and ``transition``), never from the store.

Also here: :func:`options` (a notifier's ``[plugins.<name>]`` table, or None
when it is not configured) and :func:`wanted` (its ``states`` filter), and
:data:`COMMON_SCHEMA` for the keys every built-in notifier accepts.
"""

from __future__ import annotations

from typing import Any, Sequence

from .noderange import natural_sorted
from .model import Incident

#: JSON Schema properties every built-in notifier accepts
COMMON_SCHEMA: dict[str, Any] = {
    "states": {"type": "array", "items": {"type": "string", "pattern": "^[a-z_]+$"},
               "description": "notify only on changes to these states; absent = every change"},
    "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 600,
                "description": "seconds this notifier may take per message"},
}

MAX_NAMES = 20

_WAITING = {
    "detected": "the daemon to start on it",
    "confirming": "the probes to confirm that {sn} is down",
    "confirmed": "the move to start",
    "fencing": "fencing of {sn}",
    "moving": "snmove to move {pending} node(s) to their backup",
    "verifying": "verification of {pending} node(s)",
    "done": "nothing: every planned node is verified on its backup",
    "partial": "an administrator: {failed} node(s) failed, see the node list",
    "failed": "an administrator: nothing more is done automatically",
    "cancelled": "nothing: the incident was cancelled",
    "suppressed": "nothing: recorded only (downtime or soft state)",
}


def options(ctx: Any, name: str) -> dict[str, Any] | None:
    """The ``[plugins.<name>]`` table, or None when the notifier is not configured (it is off)."""
    table = ctx.config["plugins"].get(name)
    return dict(table) if table is not None else None


def wanted(opts: dict[str, Any], transition: dict[str, Any]) -> bool:
    """True when the notifier's ``states`` list (absent = all) includes the new state."""
    states = opts.get("states")
    return not states or transition["to"] in states


def names(nodes: Sequence[str], limit: int = MAX_NAMES) -> str:
    """``cn1, cn2, ... and 380 more`` (natural order), or ``none``."""
    ordered = natural_sorted(nodes)
    if not ordered:
        return "none"
    shown = ", ".join(ordered[:limit])
    return shown + (f" and {len(ordered) - limit} more" if len(ordered) > limit else "")


def waiting_for(incident: Incident, state: str) -> str:
    p = incident.progress
    text = _WAITING.get(state, "the next step (state {state})")
    return text.format(sn=incident.servicenode, pending=len(p.pending), failed=len(p.failed), state=state)


def show_command(incident: Incident) -> str:
    return f"sntakeover show {incident.id}"


def message(incident: Incident, transition: dict[str, Any]) -> dict[str, Any]:
    """Everything a notifier sends, as a JSON-ready dict; ``subject``, ``line`` and ``text`` are ready to print."""
    p = incident.progress
    sn, to, frm = incident.servicenode, transition["to"], transition.get("from")
    reason = " ".join(str(transition.get("reason") or "").split())
    waiting = waiting_for(incident, to)
    counts = f"{len(p.moved)} moved, {len(p.failed)} failed"
    subject = f"sntakeover: {sn} {to} ({counts}) - incident {incident.id}"
    text = [f"Service node {sn}: incident {incident.id} is {to}" + (f" (was {frm})" if frm else "") + ".",
            f"Why: {reason}" if reason else "",
            f"Nodes moved: {len(p.moved)} ({names(p.moved)})",
            f"Nodes failed: {len(p.failed)} ({names(p.failed)})",
            f"Nodes still to move or verify: {len(p.pending)} ({names(p.pending)})" if p.pending else "",
            f"Nodes left out: {len(p.skipped)} ({names(p.skipped)})" if p.skipped else "",
            f"Waiting for: {waiting}",
            f"Details: {show_command(incident)}"]
    line = (f"incident {incident.id} {sn} {frm or '-'} -> {to}: {counts}; waiting for: {waiting}; "
            f"run: {show_command(incident)}" + (f"; {reason[:200]}" if reason else ""))
    return {
        "version": 1,
        "incident": incident.id,
        "servicenode": sn,
        "state": to,
        "from": frm,
        "reason": reason,
        "time": transition.get("time"),
        "moved": {"count": len(p.moved), "nodes": natural_sorted(p.moved)},
        "failed": {"count": len(p.failed), "nodes": natural_sorted(p.failed)},
        "pending": {"count": len(p.pending), "nodes": natural_sorted(p.pending)},
        "skipped": {"count": len(p.skipped), "nodes": natural_sorted(p.skipped)},
        "waiting_for": waiting,
        "show": show_command(incident),
        "subject": subject,
        "line": line,
        "text": "\n".join(t for t in text if t) + "\n",
    }
