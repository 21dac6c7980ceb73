"""What the engine does in each incident state (see :mod:`engine` for how it runs them).

``detected`` -> ``confirming`` -> ``confirmed`` -> [gates, node readiness]
-> ``fencing`` -> ``moving`` -> ``verifying`` -> ``done`` | ``partial`` | ``failed``,
with the waiting states ``awaiting-approval``, ``awaiting-backup``,
``awaiting-fence`` and ``held`` in between. Before ``fencing`` nothing on the
cluster has changed: an ``sn.up`` confirmed by the probes, a human's cancel or
reject, a maintenance window, end the incident there. From ``fencing`` on the
incident is *committed* and completes; nodes whose backup is not ready yet wait
(``awaiting-backup``) and move in a later pass, each node at most once.

The plan is computed once, in ``confirmed``, and stored. In ``moving`` the live
database is read for the nodes about to move: a node whose first servicenode
entry is already its backup (moved before a restart) is not moved again, a node
someone else moved elsewhere is left alone -- and if the database cannot be
read, nothing is dropped: the step is retried.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
from typing import TYPE_CHECKING

from . import controls
from .clock import age, after, now, span
from .confirm import load_rounds, monitor_votes, streak, tally
from .gates import APPROVABLE, IDLE_RECHECK, Hold, approve_hint
from .model import INTERRUPTED, Incident, Plan, State
from .preflight import unknown_strategy
from .retry import RetrySteps
from .verdicts import combine
from .xcatdb import database_move_missing, live_nodes, not_a_node

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger(__name__)

PENDING = ("planned", "waiting", "ready")  # node rows not moved yet


class Superseded(Exception):
    """The incident changed state under us (an event, a human); stop driving it."""


def groups_text(plan: Plan) -> str:
    return ", ".join(f"{len(v)} -> {k}" for k, v in sorted(plan.by_backup().items())) or "none"


class Steps(RetrySteps):
    """Mixed into :class:`sntakeover.engine.Engine`; one method per state."""

    # -- before anything changes ------------------------------------------------------

    def step_detected(self: Engine, inc: Incident) -> None:
        cfg = self.config["confirm"]
        if inc.requested:
            self.move(inc.id, State.DETECTED, State.CONFIRMED, "takeover requested by a human: confirmation skipped")
        elif not cfg["enabled"]:
            self.move(inc.id, State.DETECTED, State.CONFIRMED, "confirmation disabled in the configuration")
        elif said := not_a_node(self.context(inc.id), inc.servicenode):
            self.move(inc.id, State.DETECTED, State.FAILED,
                      f"{inc.servicenode} is not a node in the xCAT database (nodels: {said}): there is nothing to "
                      "take over. Check the name the monitoring reports for it ([adapters.<tool>] map, strip_domain)")
        else:
            self.store.update_json(inc.id, "evidence", lambda e: {**e, "rounds": [], "reprobe": [],
                                                                  "confirming_since": now()})
            self.move(inc.id, State.DETECTED, State.CONFIRMING,
                      f"probing {inc.servicenode}: {cfg['rounds']} rounds {cfg['interval']:g} s apart must each have "
                      f"at least {cfg['quorum']} independent 'down' votes")

    def probe_round(self: Engine, inc: Incident):
        cfg = self.config["confirm"]
        results = self.hooks.probe(inc.servicenode, "failed", inc, self.context(inc.id))
        votes = []
        if cfg["monitor_votes"]:
            events = [{**json.loads(r["body"]), "outcome": r["outcome"]} for r in
                      self.store.query("SELECT body, outcome FROM events WHERE incident_id = ? AND processed = 1"
                                       " ORDER BY seq", (inc.id,))]
            votes = monitor_votes(events, self.config.get("events", "max_age"))
        return tally(results, votes, cfg["quorum"])

    def step_confirming(self: Engine, inc: Incident) -> None:
        cfg = self.config["confirm"]
        if inc.requested:
            self.move(inc.id, State.CONFIRMING, State.CONFIRMED, "takeover requested by a human: confirmation skipped")
            return
        asked = self._reprobe_of(inc)
        rnd = self.probe_round(inc)
        ev = self.store.update_json(inc.id, "evidence", lambda e: {
            **e, "rounds": [*e.get("rounds", []), rnd.to_dict()][-50:], "reprobe": e.get("reprobe", [])[len(asked):]})
        rounds = load_rounds(ev)
        asked_up = list(dict.fromkeys(asked))
        self.store.note(inc.id, f"probe round {len(rounds)}: {rnd.verdict}: {rnd.describe()}")
        verdict = streak(rounds, cfg["rounds"])
        if verdict == "down":
            first = rounds[-cfg["rounds"]].time
            self.move(inc.id, State.CONFIRMING, State.CONFIRMED,
                      f"{inc.servicenode} is down: {cfg['rounds']} rounds over {span(age(first, rnd.time))} each had "
                      f"at least {cfg['quorum']} independent 'down' votes (last: {rnd.describe()})")
        elif verdict == "up" or (asked_up and rnd.verdict == "up"):
            because = f" after {', '.join(asked_up)} reported it up" if asked_up else ""
            self.move(inc.id, State.CONFIRMING, State.CANCELLED,
                      f"{inc.servicenode} answers{because}: {rnd.describe()}; nothing was changed")
        elif age(ev.get("confirming_since") or inc.opened) >= cfg["timeout"]:
            self.hold(inc, Hold(State.AWAITING_APPROVAL, "evidence",
                                f"could not tell within {span(cfg['timeout'])} whether {inc.servicenode} is down "
                                f"(last round: {rnd.describe()}); nothing moves without a human: "
                                f"{approve_hint(inc.id)}", after(self.config.get("approval", "timeout"))))
        else:
            if asked_up:
                self.store.note(inc.id, f"{', '.join(asked_up)} reported {inc.servicenode} up, but the probes do not "
                                        f"agree ({rnd.verdict}): confirmation goes on")
            self.store.set_wake(inc.id, after(cfg["interval"]))

    def _reprobe_of(self: Engine, inc: Incident) -> list[str]:
        row = self.store.incident(inc.id)
        return list(json.loads(row["evidence"]).get("reprobe", [])) if row else []

    def reprobe(self: Engine, inc: Incident) -> bool:
        """An sn.up arrived before the takeover was committed: look again. True if the incident ended."""
        asked = self._reprobe_of(inc)
        if not asked or inc.committed:
            return False
        rnd = self.probe_round(inc)
        self.store.update_json(inc.id, "evidence", lambda e: {**e, "reprobe": e.get("reprobe", [])[len(asked):]})
        who = ", ".join(dict.fromkeys(asked))
        if rnd.verdict == "up":
            self.move(inc.id, inc.state, State.CANCELLED, f"{inc.servicenode} is up again: {who} said so and the "
                                                          f"probes agree ({rnd.describe()}); nothing was changed")
            return True
        self.store.note(inc.id, f"{who} reported {inc.servicenode} up, but the probes do not agree "
                                f"({rnd.verdict}: {rnd.describe()}); the incident goes on")
        return False

    def outage_over(self: Engine, inc: Incident) -> None:
        """An sn.up for an incident that ended after moving nodes: is the SN really back?

        If the probes agree, the outage is over (a later failure is a new
        incident); if not, the sn.up was noise and later reports still attach here.
        """
        self.store.set_wake(inc.id, None)  # for a closed incident: nothing more to look at
        rnd = self.probe_round(inc)
        if rnd.verdict == "up":
            self.store.update_json(inc.id, "evidence", lambda e: {**e, "ended": now()})
            self.store.note(inc.id, f"{inc.servicenode} answers again ({rnd.describe()}): this outage is over; a new "
                                    "failure opens a new incident. Nothing was moved back.")
        else:
            self.store.note(inc.id, f"{inc.servicenode} was reported up, but the probes do not agree ({rnd.verdict}: "
                                    f"{rnd.describe()}); this outage goes on")

    def step_confirmed(self: Engine, inc: Incident) -> None:
        plan = self.stored_plan(inc.id)
        if plan is None:
            ctx = self.context(inc.id)
            plan = self.hooks.plan(inc, ctx)
            if plan is None:
                self.move(inc.id, State.CONFIRMED, State.FAILED, "no plugin could plan the takeover")
                return
            rows = [(m.node, m.source, m.backup, "planned", "solo: own snmove call" if m.solo else "")
                    for m in plan.moves]
            rows += [(n, inc.servicenode, "", "skipped", why) for n, why in plan.skipped.items()]
            self.store.save_plan(inc.id, plan.to_dict(), rows)
            self.store.note(inc.id, f"plan: {len(plan.moves)} node(s) to move ({groups_text(plan)}), "
                                    f"{len(plan.skipped)} skipped; computed once and kept")
            for warning in plan.warnings:
                self.store.note(inc.id, f"warning: {warning}")
        if not plan.moves:
            if plan.skipped:
                self.move(inc.id, State.CONFIRMED, State.FAILED,
                          f"no node can move ({len(plan.skipped)} skipped, see the node list)")
            else:
                self.move(inc.id, State.CONFIRMED, State.DONE,
                          f"nothing to move: no node has {inc.servicenode} as its first service node")
            return
        self.go(inc, plan)

    # -- the gates, and going on ------------------------------------------------------

    def go(self: Engine, inc: Incident, plan: Plan) -> None:
        """Check the gates and node readiness; hold, or move the nodes that may move now."""
        ctx = self.context(inc.id)
        hold = self.gates.incident_hold(inc, plan, ctx)
        if hold is not None:
            self.hold(inc, hold)
            return
        pending = [r["node"] for r in self.store.nodes_in(inc.id, *PENDING)]
        rd = self.gates.readiness(inc, plan, pending, ctx)
        self._note_changed(inc.id, "readiness", rd.notes)
        self.store.set_node_status(inc.id, {**{n: ("waiting", why) for n, (_, why) in rd.waiting.items()},
                                            **{n: ("ready", "") for n in rd.ready}})
        waits = _summarize(rd.waiting)
        if not rd.ready:
            backup = any(g == "backup" for g, _ in rd.waiting.values())
            self.hold(inc, Hold(State.AWAITING_BACKUP if backup else State.HELD, "backup" if backup else "holddown",
                                waits, rd.wake_at))
            return
        later = f"; {waits}" if waits else ""
        now_plan = plan.only(rd.ready)
        if self.config.get("takeover", "dry_run") and not inc.committed:
            strategy = self.config.get("takeover", "strategy")
            res = self.hooks.takeover(strategy, inc, now_plan, ctx, dry_run=True)
            cmds = " ; ".join(shlex.join(c) for c in res.commands) if res else f"(no plugin for {strategy!r})"
            self.move(inc.id, inc.state, State.CANCELLED, "dry run, nothing changed; would run: " + cmds)
            return
        what = f"{len(rd.ready)} node(s) move now ({groups_text(now_plan)}){later}"
        if inc.committed:
            self.move(inc.id, inc.state, State.MOVING, what)
            return
        unknown = unknown_strategy(self.config, self.hooks)
        if unknown:  # the daemon refuses to start with one; never fence to find out
            self.move(inc.id, inc.state, State.FAILED, f"{unknown}: nothing was fenced or moved")
            return
        policy = self.config.get("fence", "policy")
        if policy == "off":
            self.move(inc.id, inc.state, State.MOVING, f"committed: {what}; no fencing (fence.policy = off)",
                      commit=inc)
        else:
            self.move(inc.id, inc.state, State.FENCING, f"committed: {what}; fencing {inc.servicenode} first",
                      commit=inc)

    def hold(self: Engine, inc: Incident, hold: Hold) -> None:
        """Wait where ``hold`` says (or end, for maintenance); remind people when it lasts."""
        if hold.state == State.SUPPRESSED:
            self.move(inc.id, inc.state, State.SUPPRESSED, hold.reason)
            return
        self.store.update_json(inc.id, "evidence", lambda e: {**e, "hold": hold.gate})
        row = self.store.incident(inc.id)
        wake = hold.wake_at or after(IDLE_RECHECK)
        if row is not None and inc.state == hold.state and row["waiting"] == hold.reason:
            self.store.set_wake(inc.id, min(wake, after(IDLE_RECHECK)))
            self.escalate_if_due(inc, row)
            return
        self.move(inc.id, inc.state, hold.state, hold.reason, waiting=hold.reason, wake_at=min(wake, after(IDLE_RECHECK)))

    def escalate_if_due(self: Engine, inc: Incident, row) -> None:
        every = self.config.get("approval", "timeout") if inc.state == State.AWAITING_APPROVAL \
            else self.config.get("engine", "escalate_every")
        since = row["escalated"] or row["updated"]
        if every and age(since) >= every:
            self.attention(inc.id, f"still waiting after {span(age(row['updated']))}: {row['waiting']}", "reminder")
            self.store.set_columns(inc.id, escalated=now())

    def step_waiting(self: Engine, inc: Incident) -> None:
        """awaiting-approval, awaiting-backup, held: look again."""
        if self.reprobe(inc):
            return
        row = self.store.incident(inc.id)
        ev = json.loads(row["evidence"])
        if inc.committed and ev.get("cancel"):
            self.finish_or_go(inc, dropped_by=ev["cancel"])
            return
        if ev.get("hold") == "evidence":
            approval = controls.approved(self.store, inc.id, "evidence")
            if approval:
                self.move(inc.id, inc.state, State.CONFIRMED,
                          f"approved by {approval['by']}: taking over without full confirmation")
            else:
                self.escalate_if_due(inc, row)
                self.store.set_wake(inc.id, after(IDLE_RECHECK))
            return
        self.go(inc, self.stored_plan(inc.id) or Plan(()))

    step_awaiting_approval = step_waiting
    step_awaiting_backup = step_waiting
    step_held = step_waiting

    # -- committed ---------------------------------------------------------------------

    def step_fencing(self: Engine, inc: Incident) -> None:
        plan = self.stored_plan(inc.id) or Plan(())
        res = self.hooks.fence(inc, plan, self.context(inc.id))
        policy = self.config.get("fence", "policy")
        if res is not None and res.fenced:
            self.store.set_columns(inc.id, fenced=f"{res.method}: {res.detail}")
            self.move(inc.id, State.FENCING, State.MOVING, f"fenced by {res.method}: {res.detail}")
            return
        why = res.detail if res else f"no fencing plugin answered for fence.method = {self.config.get('fence', 'method')!r}"
        if policy == "require":
            self.move(inc.id, State.FENCING, State.AWAITING_FENCE,
                      f"fencing {inc.servicenode} could not be confirmed ({why}); fence.policy = require: nothing "
                      f"moves until a human makes sure {inc.servicenode} is off: {approve_hint(inc.id)}",
                      waiting=f"a human to confirm {inc.servicenode} is fenced", wake_at=after(IDLE_RECHECK))
        else:
            self.move(inc.id, State.FENCING, State.MOVING,
                      f"fencing not confirmed ({why}); fence.policy = best-effort: moving anyway")

    def step_awaiting_fence(self: Engine, inc: Incident) -> None:
        approval = controls.approved(self.store, inc.id, "fence")
        if approval:
            self.store.set_columns(inc.id, fenced=f"by hand, confirmed by {approval['by']}")
            self.move(inc.id, State.AWAITING_FENCE, State.MOVING,
                      f"{approval['by']} confirmed {inc.servicenode} is fenced: moving")
            return
        self.escalate_if_due(inc, self.store.incident(inc.id))
        self.store.set_wake(inc.id, after(IDLE_RECHECK))

    def step_moving(self: Engine, inc: Incident) -> None:
        self._wait_for_leftover_commands(inc.id)
        ctx = self.context(inc.id)
        plan = self.stored_plan(inc.id) or Plan(())
        nodes = [r["node"] for r in self.store.nodes_in(inc.id, "ready", "moving")]
        live = live_nodes(ctx, nodes)
        destn = self.config.get("takeover", "destn")
        todo, already, elsewhere, reordered = [], [], {}, []
        for m in plan.only(nodes).moves:
            attrs = live.get(m.node, {})
            first = attrs.get("servicenode", "").split(",")[0]
            if first == inc.servicenode:
                todo.append(m.node)
            elif first == m.backup and database_move_missing(m, attrs, destn.get(m.backup)):
                todo.append(m.node)
                reordered.append(m.node)
            elif first == m.backup:
                already.append(m.node)
            else:
                elsewhere[m.node] = attrs.get("servicenode", "") or "(not found)"
        if reordered:
            self.store.note(inc.id, f"{len(reordered)} node(s) have their backup first in the servicenode list, but "
                                    "xcatmaster is still what it was when planned (the list was changed by hand; "
                                    f"snmove changes both): moved with the others: {', '.join(reordered)}")
        if already:
            # the database move happened (before a restart, or by someone else); what follows it on the
            # nodes may not have: the strategy finishes it, never moving the nodes in the database again
            self.store.note(inc.id, f"{len(already)} node(s) already have their backup first in the database (moved "
                                    f"before a restart, or by someone else): not moved again: {', '.join(already)}")
        if elsewhere:
            self.store.set_node_status(inc.id, {n: ("skipped", f"not moved: its servicenode is now {sv} (changed by "
                                                              "someone else)") for n, sv in elsewhere.items()})
        reason = "nothing left to move"
        if todo or already:
            self.store.set_node_status(inc.id, {n: ("moving", "") for n in todo})
            strategy = self.config.get("takeover", "strategy")
            results = []
            if todo:
                res = self.hooks.takeover(strategy, inc, plan.only(todo), ctx)
                if res is None:
                    self.move(inc.id, State.MOVING, State.FAILED, f"no plugin implements takeover strategy {strategy!r}")
                    return
                results.append(res)
            if already:
                self.store.note(inc.id, f"running the node-side steps again for the {len(already)} node(s) already "
                                        "moved in the database (what follows the database move may not have happened)")
                res = self.hooks.node_steps(strategy, inc, plan.only(already), ctx)
                if res is None:
                    self.store.note(inc.id, f"strategy {strategy!r} cannot run only the node-side steps: verification "
                                            f"decides for the {len(already)} node(s) already moved in the database")
                else:
                    results.append(res)
            status = {n: ("moved", "already on its backup") for n in already}
            status.update({n: ("moved", "") for n in todo})
            node_errors = {n: e for res in results for n, e in res.node_errors.items() if n in status}
            status.update({n: ("node-error", e) for n, e in node_errors.items()})
            self.store.set_node_status(inc.id, status, moved=True)
            for res in results:
                for err in res.errors:
                    self.store.note(inc.id, f"{res.strategy}: {err}")
            reason = "; ".join(f"{res.strategy} ran {len(res.commands)} command(s), rc={res.rc}" for res in results)
            reason = (f"{reason or 'no command ran'} for {len(todo) + len(already)} node(s), "
                      f"{len(node_errors)} node error(s)")
        self.move(inc.id, State.MOVING, State.VERIFYING, reason)

    def _wait_for_leftover_commands(self: Engine, iid: int) -> None:
        """After a restart: wait until commands the previous daemon started have exited.

        Each command carries its tag in its environment from the moment it
        starts, so it is found even if the previous daemon died before it could
        record the pid. When the runner cannot tell (the MN does not answer),
        nothing moves: the step is retried.
        """
        from .errors import Retry

        for row in self.store.unfinished_commands(iid):
            prog = json.loads(row["argv"])[0]
            waited = False
            while True:
                if row["tag"]:
                    pids = self.runner.running(row["tag"])
                    if pids is None:
                        raise Retry(f"cannot tell whether {prog} from before the restart is still running")
                else:  # recorded by an older version: only the pid is known
                    pids = [row["pid"]] if row["pid"] and _alive(row["pid"], prog) else []
                if not pids:
                    break
                if not waited:
                    self.store.note(iid, f"waiting for {prog} (pid {', '.join(map(str, pids))}) from before the restart")
                    waited = True
                if self._stop.wait(1.0):
                    raise Superseded("daemon stopping")
            self.store.command_finished(row["seq"], INTERRUPTED, False, 0.0, "", "(outcome unknown: daemon restarted)")

    def _forget_leftover_reads(self: Engine, iid: int) -> None:
        """After a restart, outside ``moving``: what the previous daemon left without a result were
        probes and reads (snmove and the node-side steps run only in ``moving``, which waits for
        them); their outcome is unknown and the step asks again. Without this they would read as
        running for ever."""
        for row in self.store.unfinished_commands(iid):
            if row["started"] < self.started_at and json.loads(row["argv"])[0] != "snmove":
                self.store.command_finished(row["seq"], INTERRUPTED, False, 0.0, "", "(outcome unknown: daemon restarted)")

    def step_verifying(self: Engine, inc: Incident) -> None:
        ctx = self.context(inc.id)
        plan = self.stored_plan(inc.id) or Plan(())
        rows = self.store.nodes_in(inc.id, "moved", "node-error")
        errors = {r["node"]: r["detail"] for r in rows if r["status"] == "node-error"}
        this_pass = plan.only(r["node"] for r in rows)
        if this_pass.moves:
            verdicts: list = []
            outcome: dict[str, tuple[bool, str]] = {}
            for _ in range(self.config.get("verify", "retries") + 1):
                ctx.scratch.clear()  # every round reads xCAT afresh
                verdicts = self.hooks.verify(inc, this_pass, ctx, takeover_errors=errors)
                outcome = combine(this_pass.nodes, verdicts)
                if all(ok for ok, _ in outcome.values()):
                    break
                if self._stop.wait(self.config.get("verify", "interval")):
                    return
            if not verdicts:
                self.move(inc.id, State.VERIFYING, State.FAILED, "no plugin could verify the takeover")
                return
            self.store.save_verdicts(inc.id, verdicts)
            self.store.set_node_status(inc.id, {n: ("verified" if ok else "failed", d) for n, (ok, d) in outcome.items()})
            ok = sum(ok for ok, _ in outcome.values())
            self.store.note(inc.id, f"verified {ok} of {len(outcome)} node(s) of this pass")
        self.finish_or_go(inc)

    def finish_or_go(self: Engine, inc: Incident, *, dropped_by: str = "") -> None:
        """Move the nodes still waiting when they can, or end the incident."""
        remaining = [r["node"] for r in self.store.nodes_in(inc.id, *PENDING)]
        if remaining and dropped_by:
            self.store.set_node_status(inc.id, {n: ("skipped", f"not moved: cancelled by {dropped_by}")
                                                for n in remaining})
            remaining = []
        if remaining:
            self.go(self.incident(inc.id), self.stored_plan(inc.id) or Plan(()))
            return
        counts = {r["status"]: r["c"] for r in self.store.query(
            "SELECT status, COUNT(*) AS c FROM nodes WHERE incident_id = ? GROUP BY status", (inc.id,))}
        ok, bad = counts.get("verified", 0), counts.get("failed", 0)
        total = ok + bad
        skipped = counts.get("skipped", 0)
        extra = f"; {skipped} not moved (see the node list)" if skipped else ""
        if not total and dropped_by:
            self.move(inc.id, inc.state, State.CANCELLED, f"stopped by {dropped_by} before any node moved{extra}")
        elif total and ok == total:
            self.move(inc.id, inc.state, State.DONE, f"all {total} moved node(s) verified on their backup{extra}")
        elif ok:
            self.move(inc.id, inc.state, State.PARTIAL, f"{ok} of {total} node(s) verified, {bad} failed{extra}")
        else:
            self.move(inc.id, inc.state, State.FAILED, f"none of {total} node(s) verified{extra}")

    # -- helpers -----------------------------------------------------------------------

    def stored_plan(self: Engine, iid: int) -> Plan | None:
        row = self.store.incident(iid)
        return Plan.from_dict(json.loads(row["plan"])) if row and row["plan"] else None

    def _note_changed(self: Engine, iid: int, key: str, lines: list[str]) -> None:
        """Note ``lines`` unless they are what was noted last time for ``key`` (no repeats every re-check)."""
        if not lines:
            return
        text = "; ".join(lines)
        row = self.store.incident(iid)
        if row is not None and json.loads(row["evidence"]).get("said", {}).get(key) == text:
            return
        self.store.update_json(iid, "evidence", lambda e: {**e, "said": {**e.get("said", {}), key: text}})
        for line in lines:
            self.store.note(iid, line)


def _summarize(waiting: dict[str, tuple[str, str]]) -> str:
    by_reason: dict[str, list[str]] = {}
    for node, (_, why) in waiting.items():
        by_reason.setdefault(why, []).append(node)
    return "; ".join(f"{len(nodes)} node(s) wait: {why}" for why, nodes in by_reason.items())


def _alive(pid: int, name: str) -> bool:
    """True if ``pid`` is still a running process whose command line mentions ``name``."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        with open(f"/proc/{pid}/stat", "rb") as f:
            if f.read().split(b") ", 1)[1][:1] == b"Z":
                return False
    except OSError:
        return False
    return os.path.basename(name) in cmd


__all__ = ["APPROVABLE", "Steps", "Superseded"]
