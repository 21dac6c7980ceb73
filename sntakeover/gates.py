"""The rules that stand between a confirmed outage and a moved node.

Incident gates, checked in this order before anything is changed and again
before every further move of a committed incident:

1. **maintenance** -- the SN is in a maintenance window: the incident is
   suppressed (never for a committed one);
2. **pause** -- the kill switch (``sntakeover pause``): held until ``resume``;
3. **breaker** -- more than ``breaker.max_fraction`` (or ``max_count``) of the
   service nodes look down within ``breaker.window``: that is a network or MN
   problem, not SN failures. The breaker trips, latches, and holds every
   incident until ``sntakeover breaker reset``;
4. **approval** -- more than ``approval.above_nodes`` nodes would move: wait for
   ``sntakeover approve``/``reject``;
5. **ratelimit** -- more than ``ratelimit.max_takeovers`` takeovers within
   ``ratelimit.window``: held until the window frees, or approved.

Node readiness, checked per node before each move:

* **hold-down** -- a node another incident moved less than
  ``takeover.holddown`` ago is not moved again by itself (no ping-pong);
* **backup** -- the backup SN must be out of maintenance, pass the probes
  itself and stay within its capacity; otherwise its nodes wait
  (``awaiting-backup``) and are re-checked every ``backup.recheck`` seconds.

Every decision comes with its reason in plain words for the timeline.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from . import controls
from .clock import after, plus, span
from .config import Config
from .confirm import tally
from .errors import Retry
from .model import Incident, Plan, State
from .plugins import Hooks
from .store import Store
from .xcatdb import group_members, nodes_served_by

log = logging.getLogger(__name__)

#: gates a human may lift with ``sntakeover approve``
APPROVABLE = ("approval", "evidence", "fence", "ratelimit", "holddown")

#: how often a waiting incident is looked at again when nothing else wakes it
IDLE_RECHECK = 60.0


@dataclass(frozen=True)
class Hold:
    """The incident must not go on now: where it waits, why, and when to look again."""

    state: State
    gate: str
    reason: str
    wake_at: str | None = None


@dataclass
class Readiness:
    """Which planned nodes may move now, and why the others wait."""

    ready: list[str] = field(default_factory=list)
    waiting: dict[str, tuple[str, str]] = field(default_factory=dict)  # node -> (gate, reason)
    notes: list[str] = field(default_factory=list)
    wake_at: str | None = None


def approve_hint(iid: int) -> str:
    return f"`sntakeover approve {iid}` to go ahead, `sntakeover reject {iid}` to stop"


class Gates:
    def __init__(self, config: Config, store: Store, hooks: Hooks) -> None:
        self.config = config
        self.store = store
        self.hooks = hooks

    # -- incident gates --------------------------------------------------------------

    def incident_hold(self, inc: Incident, plan: Plan, ctx) -> Hold | None:
        """The first incident gate that stops ``inc``, or None."""
        checks = (self.maintenance, self.pause, self.breaker) if inc.committed else (
            self.maintenance, self.pause, self.breaker, self.approval, self.ratelimit)
        for check in checks:
            hold = check(inc, plan, ctx)
            if hold is not None:
                return hold
        return None

    def human_hold(self, inc: Incident) -> Hold | None:
        """The gates a human may close at any moment (maintenance, pause), asked again
        inside the transaction that commits the takeover: one set since the gates were
        checked stops the commit, and the next check holds the incident."""
        return self.maintenance(inc, None, None) or self.pause(inc, None, None)

    def maintenance(self, inc: Incident, plan: Plan | None, ctx) -> Hold | None:
        m = controls.maintenance_of(self.store, inc.servicenode)
        if m is None or inc.committed or inc.requested:
            return None
        return Hold(State.SUPPRESSED, "maintenance", f"{m.describe()}: no takeover while it lasts")

    def pause(self, inc: Incident, plan: Plan | None, ctx) -> Hold | None:
        p = controls.get(self.store, controls.PAUSE)
        if p is None:
            return None
        why = f": {p.reason}" if p.reason else ""
        return Hold(State.HELD, "pause", f"sntakeover is paused (by {p.by or '?'} at {p.since}{why}); nothing "
                                         "moves until `sntakeover resume`", after(IDLE_RECHECK))

    def breaker(self, inc: Incident, plan: Plan, ctx) -> Hold | None:
        b = controls.get(self.store, controls.BREAKER) or self._maybe_trip(ctx)
        if b is None:
            return None
        return Hold(State.HELD, "breaker", f"circuit breaker tripped at {b.since}: {b.reason}. Nothing moves until "
                                           "a human checks the network and the MN and runs `sntakeover breaker "
                                           "reset`", after(IDLE_RECHECK))

    def _maybe_trip(self, ctx) -> controls.Control | None:
        cfg = self.config["breaker"]
        ack = controls.get(self.store, controls.BREAKER_ACK)
        accepted = set(ack.value.get("servicenodes", [])) if ack else set()
        down = [sn for sn in self.looking_down(cfg["window"]) if sn not in accepted]
        if len(down) < 2:
            return None  # one SN down is what sntakeover is for
        try:
            members = set(group_members(ctx, cfg["sn_group"]))
        except Retry as exc:
            raise Retry(f"cannot count the service nodes for the circuit breaker: {exc}") from exc
        down = [sn for sn in down if sn in members]  # a name that is no service node (an FQDN, a typo) counts not
        if len(down) < 2:
            return None
        total = len(members)
        over_fraction = len(down) > cfg["max_fraction"] * total
        over_count = bool(cfg["max_count"]) and len(down) > cfg["max_count"]
        if not (over_fraction or over_count):
            return None
        limit = (f"more than {cfg['max_fraction']:.0%} of them" if over_fraction
                 else f"more than breaker.max_count = {cfg['max_count']}")
        reason = (f"{len(down)} of {total} service nodes look down within {span(cfg['window'])} "
                  f"({', '.join(down)}), {limit}: that looks like a network, switch or management-node problem "
                  "rather than service nodes failing")
        if controls.switch_on(self.store, controls.BREAKER, "sntakeover", reason=reason, servicenodes=down):
            log.error("circuit breaker tripped: %s", reason)
        return controls.get(self.store, controls.BREAKER)

    def looking_down(self, window: float) -> list[str]:
        """SNs with an open incident, or one that ended (moved nodes or failed) within ``window``
        seconds and has not been seen answering again since."""
        rows = self.store.query(
            "SELECT DISTINCT i.servicenode FROM incidents i WHERE i.state NOT IN (?, ?) AND (i.closed IS NULL OR"
            " (i.closed >= ? AND json_extract(i.evidence, '$.ended') IS NULL)) ORDER BY i.servicenode",
            (State.CANCELLED.value, State.SUPPRESSED.value, after(-window)))
        return [r[0] for r in rows]

    def approval(self, inc: Incident, plan: Plan, ctx) -> Hold | None:
        limit = self.config.get("approval", "above_nodes")
        if not limit or len(plan.moves) <= limit or controls.approved(self.store, inc.id, "approval"):
            return None
        return Hold(State.AWAITING_APPROVAL, "approval",
                    f"{len(plan.moves)} nodes would move, more than approval.above_nodes = {limit}: "
                    f"waiting for a human: {approve_hint(inc.id)}", after(self.config.get("approval", "timeout")))

    def ratelimit(self, inc: Incident, plan: Plan, ctx) -> Hold | None:
        cfg = self.config["ratelimit"]
        if not cfg["max_takeovers"] or controls.approved(self.store, inc.id, "ratelimit"):
            return None
        rows = self.store.query("SELECT id, committed FROM incidents WHERE committed IS NOT NULL AND committed >= ?"
                                " AND id != ? ORDER BY committed", (after(-cfg["window"]), inc.id))
        if len(rows) < cfg["max_takeovers"]:
            return None
        frees = plus(rows[0]["committed"], cfg["window"])
        ids = ", ".join(str(r["id"]) for r in rows)
        return Hold(State.HELD, "ratelimit",
                    f"{len(rows)} takeovers already within the last {span(cfg['window'])} (incidents {ids}; "
                    f"ratelimit.max_takeovers = {cfg['max_takeovers']}): held until {frees}, or "
                    f"{approve_hint(inc.id)}", frees)

    # -- node readiness -----------------------------------------------------------------

    def readiness(self, inc: Incident, plan: Plan, nodes: list[str], ctx) -> Readiness:
        """Split ``nodes`` (planned, not moved yet) into those that may move now and those that wait."""
        out = Readiness()
        wanted = set(nodes)
        moves = {m.node: m for m in plan.moves if m.node in wanted}
        held = self.holddown(inc, list(moves))
        for node, why in held.items():
            out.waiting[node] = ("holddown", why)
        by_backup: dict[str, list[str]] = {}
        for node, m in moves.items():
            if node not in out.waiting:
                by_backup.setdefault(m.backup, []).append(node)
        for backup, members in sorted(by_backup.items()):
            why = self.backup_problem(inc, backup, len(members), ctx, out.notes)
            if why:
                for node in members:
                    out.waiting[node] = ("backup", why)
            else:
                out.ready.extend(members)
        if out.waiting:
            out.wake_at = after(self.config.get("backup", "recheck"))
            frees = [w for g, w in out.waiting.values() if g == "holddown"]
            if frees and len(frees) == len(out.waiting):
                out.wake_at = min(self._holddown_until(inc, list(held)).values())
        return out

    def holddown(self, inc: Incident, nodes: list[str]) -> dict[str, str]:
        limit = self.config.get("takeover", "holddown")
        if not limit or not nodes or controls.approved(self.store, inc.id, "holddown"):
            return {}
        until = self._holddown_until(inc, nodes)
        moved = self.store.moved_since(nodes, after(-limit), other_than=inc.id)
        return {n: f"moved by incident {iid} at {when}; takeover.holddown keeps it in place until {until[n]} "
                   f"(no ping-pong), or {approve_hint(inc.id)}" for n, (iid, when) in moved.items()}

    def _holddown_until(self, inc: Incident, nodes: list[str]) -> dict[str, str]:
        limit = self.config.get("takeover", "holddown")
        moved = self.store.moved_since(nodes, after(-limit), other_than=inc.id)
        return {n: plus(when, limit) for n, (_, when) in moved.items()}

    def backup_problem(self, inc: Incident, backup: str, incoming: int, ctx, notes: list[str]) -> str:
        """Why nodes cannot move to ``backup`` now ('' when they can)."""
        m = controls.maintenance_of(self.store, backup)
        if m is not None:
            return f"backup {m.describe()}"
        if self.config.get("backup", "check"):
            rnd = tally(self.hooks.probe(backup, "backup", inc, ctx), (), self.config.get("confirm", "quorum"))
            if rnd.verdict != "up" or rnd.down:
                notes.append(f"backup {backup} does not pass the probes: {rnd.describe()}")
                return f"backup {backup} is not healthy ({rnd.describe()})"
            notes.append(f"backup {backup} passes the probes: {rnd.describe()}")
        cap = self.config.get("backup", "capacity_per_sn").get(backup, self.config.get("backup", "capacity"))
        if cap:
            try:
                served = len(nodes_served_by(ctx, backup, "servicenode"))
            except Retry as exc:
                return f"cannot count the nodes {backup} serves now ({exc})"
            if served + incoming > cap:
                return (f"backup {backup} serves {served} nodes; with these {incoming} it would serve "
                        f"{served + incoming}, more than its capacity of {cap}")
        return ""
