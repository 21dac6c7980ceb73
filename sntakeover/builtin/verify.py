"""Built-in verifier ``database``: the xCAT database shows every planned node on its backup.

``lsdef -t node -o <nodes> -i servicenode,xcatmaster``: the first servicenode
entry must be the planned backup and xcatmaster must be set (and equal the
configured ``-D`` name if one is configured), and changed since the plan: snmove
changes both, a servicenode list reordered by hand changes only the first. A node for which the takeover
printed an error (``takeover_errors``) fails here with that text: snmove has no
rollback, so the database can be right while the node side was not done.

:func:`database_view` is the one ``lsdef`` read of a verification round; the
other built-in verifiers (``node``, ``report``) compare the node's own view
with the xcatmaster it returns.
"""

from __future__ import annotations

import logging

from sntakeover import hookimpl
from sntakeover.errors import Retry
from sntakeover.model import NodeVerdict
from sntakeover.xcatdb import database_move_missing
from sntakeover.xcatout import check_names, parse_lsdef

log = logging.getLogger(__name__)

VERIFIER = "database"


def database_view(ctx, nodes) -> dict[str, dict[str, str]]:
    """Node -> {servicenode, xcatmaster} from one ``lsdef``, shared by the verifiers of one round.

    The result is kept in ``ctx.scratch`` (facts shared within one step), keyed by
    the node list, so the round reads the database once.

    :raises Retry: lsdef timed out.
    """
    nodes = check_names(nodes)
    key = ("sntakeover.builtin.verify.database_view", tuple(nodes))
    if key not in ctx.scratch:
        res = ctx.xcat("lsdef", "-t", "node", "-o", ",".join(nodes), "-i", "servicenode,xcatmaster")
        if res.timed_out:
            raise Retry("lsdef timed out during verification")
        ctx.scratch[key] = parse_lsdef(res.stdout)
    return ctx.scratch[key]


@hookimpl(trylast=True)
def sntakeover_verify(incident, plan, ctx, takeover_errors):
    nodes = plan.nodes
    if not nodes:
        return []
    db = database_view(ctx, nodes)
    destn = ctx.config.get("takeover", "destn")
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
            elif database_move_missing(m, attrs, destn.get(m.backup)):
                problems.append(f"xcatmaster is still {xm!r}, as when planned: only the servicenode list changed, "
                                f"its nodes still use {m.source}")
        if m.node in takeover_errors:
            problems.append(f"takeover reported: {takeover_errors[m.node]}")
        detail = "; ".join(problems) if problems else f"servicenode={sn} xcatmaster={xm}"
        verdicts.append(NodeVerdict(m.node, not problems, sn, xm, detail, VERIFIER))
    return verdicts


@hookimpl
def sntakeover_required_commands(config):
    return ["lsdef", "xdsh"] if config.get("verify", "node_check") else ["lsdef"]
