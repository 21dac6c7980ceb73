"""Built-in verifier ``node``: each node itself uses its new server (``verify.node_check``).

``xdsh <nodes> cat <verify.xcatinfo_path>`` must show ``XCATSERVER=<xcatmaster>``
with the xcatmaster the database now holds (snmove wrote the file in its step
16). xdsh hands its command words to the node's shell, so the path goes in as
one argument quoted with :func:`shlex.quote`, never pasted into shell text.
"""

from __future__ import annotations

import logging
import shlex

from sntakeover import hookimpl
from sntakeover.builtin.verify import database_view
from sntakeover.model import NodeVerdict
from sntakeover.xcatout import check_names, parse_node_lines, with_fanout

log = logging.getLogger(__name__)

VERIFIER = "node"


def xcatinfo_argv(nodes, path: str) -> list[str]:
    """``xdsh <nodes> cat <path>``, the path one quoted word for the node's shell."""
    return ["xdsh", ",".join(check_names(nodes)), "cat", shlex.quote(path)]


@hookimpl
def sntakeover_verify(incident, plan, ctx):
    if not ctx.config.get("verify", "node_check") or not plan.nodes:
        return None
    db = database_view(ctx, plan.nodes)
    res = ctx.xcat(*with_fanout(xcatinfo_argv(plan.nodes, ctx.config.get("verify", "xcatinfo_path")),
                                ctx.config.get("xcat", "fanout")))
    said = parse_node_lines(res.stdout)
    errors = parse_node_lines(res.stderr)
    verdicts = []
    for node in plan.nodes:
        xm = db.get(node, {}).get("xcatmaster", "")
        if not xm:
            continue  # the database verifier already fails this node
        lines = said.get(node, [])
        want = f"XCATSERVER={xm}"
        if want in lines:
            verdicts.append(NodeVerdict(node, True, xcatmaster=xm, detail=want, verifier=VERIFIER))
        elif res.timed_out:
            verdicts.append(NodeVerdict(node, None, xcatmaster=xm, detail="xdsh timed out", verifier=VERIFIER))
        else:
            seen = "; ".join(lines + errors.get(node, []))[:200] or "no answer"
            verdicts.append(NodeVerdict(node, False, xcatmaster=xm, verifier=VERIFIER,
                                        detail=f"node does not use the new server ({want} expected, node said: {seen})"))
    return verdicts
