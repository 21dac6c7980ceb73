"""Incidents as text for a terminal: ``show``, one row of ``incidents``, xCAT commands."""

from __future__ import annotations

from typing import Any

from .model import INTERRUPTED
from .noderange import shorten
from .printable import printable


def argv_text(argv: list[str]) -> str:
    """A command line with long node lists written as noderanges (``snmove cn1-cn64 -d sn2``)."""
    out = []
    for a in argv:
        if "," in a and len(a) > 40 and all(p and not p.startswith("-") for p in a.split(",")):
            out.append(shorten(a.split(","), 60))
        else:
            out.append(a)
    return " ".join(out)


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "running"
    return f"{seconds:.1f} s" if seconds < 100 else f"{seconds / 60:.1f} min"


def render_incident(s: dict[str, Any]) -> str:
    """``sntakeover show ID``: the summary line, the timeline, the xCAT commands, the nodes.

    Each line is one record: free text in it is escaped (:func:`sntakeover.printable.printable`).
    """
    out = [f"incident {s['id']}  service node {s['servicenode']}  state {s['state']}",
           f"opened {s['opened']}  closed {s['closed'] or '-'}",
           f"summary: {s['summary']}" if s.get("summary") else "",
           f"why: {s.get('why', s['reason'])}"]
    out = [line for line in out if line]
    if s.get("sources"):
        out.append("events: " + ", ".join(f"{k} x{v}" for k, v in sorted(s["sources"].items())))
    for a in s.get("approvals", []):
        out.append(f"approved ({a['gate']}) by {a['by']} at {a['time']}{': ' + a['comment'] if a.get('comment') else ''}")
    if s.get("events"):
        out += ["", "events (received, kind, id, sent with key):"]
        for e in s["events"]:
            key = f"key {e['sender']}" if e.get("sender") else "local (ipc)"
            out.append(f"  {e['received']}  {e['kind']:<16} {e['id']}  {key}  {e.get('outcome') or ''}".rstrip())
    out += ["", "timeline:"]
    for t in s["timeline"]:
        arrow = f"{t['from_state'] or '-'} -> {t['to_state']}" if t["to_state"] else "note"
        out.append(f"  {t['time']}  {arrow:<24} {t['reason']}")
    if s["commands"]:
        out += ["", "xCAT commands (start, exit code, duration):"]
        for c in s["commands"]:
            rc = "rc=-" if c["rc"] is None else f"rc={c['rc']}"
            flag = " TIMEOUT" if c["timed_out"] else ""
            if c["rc"] == INTERRUPTED:
                rc, flag = "rc=?", " INTERRUPTED (the daemon restarted; its outcome is unknown)"
            out.append(f"  {c['started']}  {rc:<6} {duration_text(c['duration']):>9}{flag}  "
                       f"{argv_text(c['argv'])}")
    if s["nodes"]:
        by: dict[str, list[str]] = {}
        for n in s["nodes"]:
            by.setdefault(n["status"], []).append(n["node"])
        out += ["", "nodes: " + "; ".join(f"{len(v)} {k}: {shorten(v, 120)}" for k, v in sorted(by.items()))]
        for n in s["nodes"]:
            out.append(f"  {n['node']:<14} {n['source']} -> {n['backup'] or '-':<10} {n['status']:<10} {n['detail']}")
    return "\n".join(printable(line) for line in out)


def incident_row(r: Any, line: str) -> str:
    """One line of ``sntakeover incidents``."""
    return printable(f"{r['id']:>5}  {r['servicenode']:<12} {r['state']:<17} {r['opened']}  {line}")
