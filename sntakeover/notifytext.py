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

from .noderange import natural_sorted, shorten
from .printable import printable
from .oneline import summary_line
from .model import Incident, State

#: JSON Schema properties every built-in notifier accepts
COMMON_SCHEMA: dict[str, Any] = {
    "states": {"type": "array", "items": {"enum": [s.value for s in State]},
               "description": "notify only on changes to these states; absent = every change"},
    "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 600,
                "description": "seconds this notifier may take per message"},
}

MAX_CHARS = 200

_WAITING = {
    "detected": "the daemon to start on it",
    "confirming": "the probes to confirm that {sn} is down",
    "confirmed": "the move to start",
    "fencing": "fencing of {sn}",
    "moving": "snmove to move {pending} node(s) to their backup",
    "verifying": "verification of {pending} node(s)",
    "retrying": "the node-side steps for {pending} node(s) again",
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


def names(nodes: Sequence[str], limit: int = MAX_CHARS) -> str:
    """The nodes as an xCAT noderange (``cn1-cn32,cn34``), cut with ``... (N more)`` past ``limit``
    characters; ``none`` for no node."""
    return shorten(nodes, limit)


def summary(incident: Incident, transition: dict[str, Any]) -> str:
    """The incident's one-line summary as of this transition (``400 moved to sn2 in 41 s, 3 failed: cn17``)."""
    p = incident.progress
    ended = transition["to"] in ("done", "partial", "failed", "cancelled", "suppressed")
    return summary_line(transition["to"], verified=p.moved, failed=p.failed, skipped=p.skipped, pending=p.pending,
                        moved_to=dict(p.moved_to), opened=incident.opened, committed=incident.committed_at,
                        closed=transition.get("time") if ended else None)


def waiting_for(incident: Incident, state: str) -> str:
    p = incident.progress
    text = _WAITING.get(state, "the next step (state {state})")
    return text.format(sn=incident.servicenode, pending=len(p.pending), failed=len(p.failed), state=state)


def show_command(incident: Incident) -> str:
    return f"sntakeover show {incident.id}"


def message(incident: Incident, transition: dict[str, Any]) -> dict[str, Any]:
    """Everything a notifier sends, as a JSON-ready dict; ``subject``, ``line`` and ``text`` are ready to print.

    Free text (the reason may quote an event's detail) is escaped: each line of ``text`` is one
    line, and no control character reaches a terminal, a mail reader or syslog.
    """
    p = incident.progress
    sn, to, frm = incident.servicenode, transition["to"], transition.get("from")
    reason = printable(str(transition.get("reason") or "").strip())
    waiting = waiting_for(incident, to)
    counts = f"{len(p.moved)} moved, {len(p.failed)} failed"
    subject = printable(f"sntakeover: {sn} {to} ({counts}) - incident {incident.id}")
    line1 = printable(summary(incident, transition))
    text = [f"Service node {sn}: incident {incident.id} is {to}" + (f" (was {frm})" if frm else "") + ".",
            f"Summary: {line1}",
            f"Why: {reason}" if reason else "",
            f"Nodes moved: {len(p.moved)} ({names(p.moved)})",
            f"Nodes failed: {len(p.failed)} ({names(p.failed)})",
            f"Nodes still to move or verify: {len(p.pending)} ({names(p.pending)})" if p.pending else "",
            f"Nodes left out: {len(p.skipped)} ({names(p.skipped)})" if p.skipped else "",
            f"Waiting for: {waiting}",
            f"Details: {show_command(incident)}"]
    line = printable(f"incident {incident.id} {sn} {frm or '-'} -> {to}: {line1}; waiting for: {waiting}; "
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
        "summary": line1,
        "show": show_command(incident),
        "subject": subject,
        "line": line,
        "text": "\n".join(printable(t) for t in text if t) + "\n",
    }
