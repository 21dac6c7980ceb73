"""Built-in verification: every planned node, from the database and from the node.

1. ``lsdef -t node -o <nodes> -i servicenode,xcatmaster``: the first servicenode
   entry must be the planned backup and xcatmaster must be set (and equal the
   configured ``-D`` name if one is configured).
2. With ``verify.node_check``: ``xdsh <nodes> cat /etc/xcatinfo`` must show
   ``XCATSERVER=<new xcatmaster>`` on the node itself.
3. A node for which the takeover printed an error keeps that text in its verdict.
"""

from __future__ import annotations

import logging

from sntakeover import hookimpl
from sntakeover.errors import Retry
from sntakeover.model import NodeVerdict
from sntakeover.xcatout import check_names, parse_lsdef, parse_node_lines

log = logging.getLogger(__name__)


@hookimpl(trylast=True)
def sntakeover_verify(incident, plan, ctx):
    nodes = check_names(plan.nodes)
    if not nodes:
        return []
    res = ctx.xcat("lsdef", "-t", "node", "-o", ",".join(nodes), "-i", "servicenode,xcatmaster")
    if res.timed_out:
        raise Retry("lsdef timed out during verification")
    db = parse_lsdef(res.stdout)
    destn = ctx.config.get("takeover", "destn")
    node_errors = ctx.scratch.get("node_errors", {})
    on_node: dict[str, list[str]] = {}
    if ctx.config.get("verify", "node_check"):
        path = ctx.config.get("verify", "xcatinfo_path")
        r = ctx.xcat("xdsh", ",".join(nodes), f"cat {path}")
        on_node = parse_node_lines(r.stdout)
    verdicts = []
    for m in plan.moves:
        attrs = db.get(m.node)
        sn = (attrs or {}).get("servicenode", "")
        xm = (attrs or {}).get("xcatmaster", "")
        problems = []
        if attrs is None:
            problems.append("not found by lsdef")
        else:
            if sn.split(",")[0] != m.backup:
                problems.append(f"servicenode is {sn!r}, expected {m.backup} first")
            if not xm:
                problems.append("xcatmaster is empty")
            elif destn.get(m.backup) and xm != destn[m.backup]:
                problems.append(f"xcatmaster is {xm!r}, expected {destn[m.backup]!r}")
        if ctx.config.get("verify", "node_check") and xm:
            lines = on_node.get(m.node, [])
            want = f"XCATSERVER={xm}"
            if want not in lines:
                seen = "; ".join(lines)[:200] or "no answer"
                problems.append(f"node does not use the new server ({want} expected, node said: {seen})")
        if m.node in node_errors:
            problems.append(f"takeover reported: {node_errors[m.node]}")
        detail = "; ".join(problems) if problems else f"servicenode={sn} xcatmaster={xm}"
        verdicts.append(NodeVerdict(m.node, not problems, sn, xm, detail))
    return verdicts


@hookimpl
def sntakeover_required_commands(config):
    return ["lsdef", "xdsh"] if config.get("verify", "node_check") else ["lsdef"]
