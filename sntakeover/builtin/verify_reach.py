"""Built-in verifier ``reachability``: ``nodestat <nodes>`` through the new service node.

After the move, xCAT dispatches ``nodestat`` for each node to its new first
service node, so an answer shows the node is reachable the way xCAT now reaches
it. ``noping`` (or no answer) fails the node. ``verify.reachability = false``
turns it off.
"""

from __future__ import annotations

import logging

from sntakeover import hookimpl
from sntakeover.model import NodeVerdict
from sntakeover.xcatout import check_names, error_lines, parse_node_lines

log = logging.getLogger(__name__)

VERIFIER = "reachability"


@hookimpl
def sntakeover_verify(incident, plan, ctx):
    if not ctx.config.get("verify", "reachability") or not plan.nodes:
        return None
    res = ctx.xcat("nodestat", ",".join(check_names(plan.nodes)))
    seen = parse_node_lines(res.stdout)
    why = "; ".join(error_lines(res.stderr))[:200] or res.stderr.strip()[:200] or f"rc={res.rc}"
    verdicts = []
    for node in plan.nodes:
        state = (seen.get(node) or [""])[0].strip()
        if res.timed_out:
            verdicts.append(NodeVerdict(node, None, detail="nodestat timed out", verifier=VERIFIER))
        elif not state:
            verdicts.append(NodeVerdict(node, False, detail=f"nodestat gave no answer ({why})", verifier=VERIFIER))
        elif state.startswith("noping"):
            verdicts.append(NodeVerdict(node, False, detail=f"nodestat: {state}", verifier=VERIFIER))
        else:
            verdicts.append(NodeVerdict(node, True, detail=f"nodestat: {state}", verifier=VERIFIER))
    return verdicts
