"""Control verbs: what a human tells the daemon (``sntakeover approve/reject/retry/pause/resume/
breaker reset/maintenance``).

They arrive as ``op: control`` requests on the intake socket, are applied here
(in the store, with who and why on the incident's timeline) and wake the
engine. Each answers in words: what it did, or why it cannot.
"""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING, Any

from . import controls
from .clock import after, now, parse
from .gates import APPROVABLE
from .model import State
from .retry import request_retry

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger(__name__)

ACTIONS = ("approve", "reject", "retry", "pause", "resume", "breaker-reset", "maintenance", "maintenance-end")

_REL = re.compile(r"^\+?(\d+(?:\.\d+)?)\s*([smhd])$")


def until_time(text: str) -> str:
    """``2026-12-01T06:00:00Z``, or a span from now: ``90m``, ``+2h``, ``1d``."""
    m = _REL.match(text.strip())
    if m:
        return after(float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)])
    try:
        return parse(text).isoformat().replace("+00:00", "Z")
    except ValueError:
        raise ValueError(f"{text!r} is neither a time (2026-12-01T06:00:00Z) nor a span from now (90m, 2h, 1d)") from None


def _ok(message: str, **extra: Any) -> dict[str, Any]:
    log.info("control: %s", message)
    return {"ok": True, "message": message, **extra}


def _no(message: str) -> dict[str, Any]:
    return {"ok": False, "error": message}


def apply_control(engine: Engine, req: dict[str, Any]) -> dict[str, Any]:
    action = req["action"]
    by = req.get("by") or "?"
    comment = req.get("comment") or ""
    store = engine.store
    if action in ("approve", "reject"):
        return _incident_verb(engine, action, int(req["incident"]), by, comment)
    if action == "retry":
        return request_retry(engine, int(req["incident"]), by, comment)
    if action == "pause":
        if controls.switch_on(store, controls.PAUSE, by, reason=comment):
            _note_open(engine, f"sntakeover paused by {by}{': ' + comment if comment else ''}: nothing moves until "
                               "`sntakeover resume`")
            return _ok(f"paused by {by}: no incident fences or moves nodes until `sntakeover resume`")
        p = controls.get(store, controls.PAUSE)
        return _ok(f"already paused (by {p.by} at {p.since})")
    if action == "resume":
        was = controls.switch_off(store, controls.PAUSE)
        if was is None:
            return _ok("not paused")
        _note_open(engine, f"sntakeover resumed by {by} (paused by {was.by} since {was.since})", wake=True)
        return _ok(f"resumed by {by}")
    if action == "breaker-reset":
        was = controls.switch_off(store, controls.BREAKER)
        if was is None:
            return _ok("the circuit breaker is not tripped")
        controls.switch_off(store, controls.BREAKER_ACK)
        controls.switch_on(store, controls.BREAKER_ACK, by, servicenodes=was.value.get("servicenodes", []),
                           reason=comment)
        _note_open(engine, f"circuit breaker reset by {by}{': ' + comment if comment else ''} (it tripped at "
                           f"{was.since}: {was.reason})", wake=True)
        return _ok(f"circuit breaker reset by {by}; service nodes already counted ({', '.join(was.value.get('servicenodes', []))}) "
                   "will not trip it again")
    if action == "maintenance":
        sn = req["servicenode"]
        try:
            until = until_time(req["until"])
        except ValueError as exc:
            return _no(str(exc))
        if parse(until) <= parse(now()):
            return _no(f"--until {req['until']} is in the past")
        m = controls.set_maintenance(store, sn, until, by, comment)
        _note_open(engine, f"{m.describe()}", servicenode=sn, wake=True)
        return _ok(m.describe())
    if action == "maintenance-end":
        sn = req["servicenode"]
        ended = controls.end_maintenance(store, sn)
        if ended is not None:
            iid = engine.maintenance_over(ended, f"ended by {by}")
            if iid is not None:
                return _ok(f"maintenance of {sn} ended by {by}; incident {iid}, reported during it, is confirmed again")
            return _ok(f"maintenance of {sn} ended by {by}")
        return _ok(f"{sn} was not in maintenance")
    return _no(f"unknown action {action!r}")


def _note_open(engine: Engine, text: str, *, servicenode: str | None = None, wake: bool = False) -> None:
    for row in engine.store.unfinished():
        if servicenode and row["servicenode"] != servicenode:
            continue
        engine.store.note(row["id"], text)
        if wake and State(row["state"]).waiting:
            engine.store.set_wake(row["id"], None)


def _incident_verb(engine: Engine, action: str, iid: int, by: str, comment: str) -> dict[str, Any]:
    store = engine.store
    row = store.incident(iid)
    if row is None:
        return _no(f"no incident {iid}")
    state = State(row["state"])
    said = f"{by}{': ' + comment if comment else ''}"
    if state.terminal:
        return _no(f"incident {iid} has ended ({state.value}): nothing to {action}")
    gate = json.loads(row["evidence"]).get("hold", "")
    if action == "approve":
        if state == State.AWAITING_FENCE:
            gate = "fence"
        elif not state.waiting or gate not in APPROVABLE:
            why = {"pause": "sntakeover is paused: run `sntakeover resume`",
                   "breaker": "the circuit breaker holds it: run `sntakeover breaker reset`",
                   "backup": "it waits for its backup SN, and no approval makes a backup healthy",
                   "holddown": ""}.get(gate, f"it is {state.value}, not waiting for an approval")
            return _no(f"incident {iid} cannot be approved: {why}")
        controls.add_approval(store, iid, gate, by, comment)
        store.note(iid, f"approved ({gate}) by {said}")
        store.set_wake(iid, None)
        return _ok(f"incident {iid}: {gate} approved by {by}")
    # reject
    if not row["committed"]:
        try:
            engine.move(iid, state, State.CANCELLED, f"rejected by {said}; nothing was changed", fenced=False,
                        uncommitted=True)
        except Exception as exc:  # noqa: BLE001 - Superseded: it moved on meanwhile
            return _no(f"incident {iid} changed meanwhile ({exc}); look again with `sntakeover show {iid}`")
        return _ok(f"incident {iid} cancelled by {by}")
    if state.waiting:
        store.update_json(iid, "evidence", lambda e: {**e, "cancel": by})
        store.note(iid, f"rejected by {said}: the nodes that have not moved will not be moved")
        store.set_wake(iid, None)
        return _ok(f"incident {iid}: the nodes that have not moved yet will not be moved")
    return _no(f"incident {iid} is {state.value}: nodes are moving and the takeover completes")
