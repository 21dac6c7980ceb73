"""``sntakeover retry ID``: the node-side steps again for the nodes that failed verification.

A ``partial`` (or ``failed``) incident whose nodes are on their backup in the database
but did not pass verification -- a node that was down, a postscript that failed -- is
reopened in ``retrying``: the strategy's node-side steps run again for exactly those
nodes (the :func:`~sntakeover.hookspecs.sntakeover_node_steps` hook; never the database
move), then ``verifying`` checks them, and the incident ends ``done`` when they pass
(``partial`` again when some still fail). Who asked is on the timeline.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .model import Incident, Plan, State

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger(__name__)

#: incidents whose failed nodes may be retried
RETRYABLE = (State.PARTIAL, State.FAILED)
#: node status of a node queued for the retry (counts as pending until it is verified again)
QUEUED = "retry"


def request_retry(engine: Engine, iid: int, by: str, comment: str) -> dict[str, Any]:
    """The control verb: queue the failed nodes and reopen the incident in ``retrying``."""
    store = engine.store
    row = store.incident(iid)
    if row is None:
        return {"ok": False, "error": f"no incident {iid}"}
    state = State(row["state"])
    if state not in RETRYABLE:
        return {"ok": False, "error": f"incident {iid} is {state.value}: only a partial or failed incident's nodes "
                                      "that failed verification can be retried"}
    failed = [r["node"] for r in store.nodes_in(iid, "failed")]
    if not failed:
        return {"ok": False, "error": f"incident {iid} has no node that failed verification: nothing to retry"}
    said = f"{by}{': ' + comment if comment else ''}"
    store.set_node_status(iid, {n: (QUEUED, f"retry asked by {by}") for n in failed})
    try:
        engine.move(iid, state, State.RETRYING,
                    f"retry of {len(failed)} node(s) that failed verification, asked by {said}: their node-side "
                    "steps run again, then verification (the database move is not repeated)", reopen=True)
    except Exception as exc:  # noqa: BLE001 - Superseded: it changed meanwhile
        store.set_node_status(iid, {n: ("failed", "retry not started") for n in failed})
        return {"ok": False, "error": f"incident {iid} changed meanwhile ({exc}); look again with `sntakeover show {iid}`"}
    log.info("incident %d: retry of %d node(s) asked by %s", iid, len(failed), by)
    return {"ok": True, "message": f"incident {iid}: retrying {len(failed)} node(s) ({', '.join(failed[:10])}"
                                   f"{', ...' if len(failed) > 10 else ''}); follow it with `sntakeover show {iid}`"}


class RetrySteps:
    """The engine's step for ``retrying`` (mixed into :class:`~sntakeover.steps.Steps`)."""

    def step_retrying(self: Engine, inc: Incident) -> None:
        nodes = [r["node"] for r in self.store.nodes_in(inc.id, QUEUED)]
        plan = (self.stored_plan(inc.id) or Plan(())).only(nodes)
        strategy = self.config.get("takeover", "strategy")
        if not plan.moves:
            self.move(inc.id, State.RETRYING, State.VERIFYING, "no node left to retry")
            return
        res = self.hooks.node_steps(strategy, inc, plan, self.context(inc.id))
        if res is None:
            why = f"no plugin runs the node-side steps of takeover strategy {strategy!r}"
            self.store.set_node_status(inc.id, {n: ("failed", f"not retried: {why}") for n in plan.nodes})
            self.store.note(inc.id, f"retry: {why}")
            self.finish_or_go(inc)
            return
        status = {n: ("moved", "") for n in plan.nodes}
        status.update({n: ("node-error", e) for n, e in res.node_errors.items() if n in status})
        self.store.set_node_status(inc.id, status)
        for err in res.errors:
            self.store.note(inc.id, f"{res.strategy}: {err}")
        self.move(inc.id, State.RETRYING, State.VERIFYING,
                  f"{res.strategy}: node-side steps again for {len(plan.moves)} node(s): {len(res.commands)} "
                  f"command(s), rc={res.rc}, {len(res.node_errors)} node error(s)")
