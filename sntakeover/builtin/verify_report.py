"""Built-in verifier ``report``: the ``sntakeover-report`` postscript's word, when a node has it.

With ``verify.report = true`` it runs ``updatenode <nodes> -P <verify.report_script>``
(the postscript ``hooks/xcat/sntakeover-report``, installed in
/install/postscripts) and reads the line each node prints::

    cn1: sntakeover-report: v=1 node=cn1 server=10.1.0.2 master=10.1.0.2 from=/etc/xcatinfo time=1772619342

``server`` must be the xcatmaster the database now holds. A node that prints no
report (the postscript is not installed there) gets no verdict from this
verifier: the others still decide.
"""

from __future__ import annotations

import logging
import re

from sntakeover import hookimpl
from sntakeover.builtin.verify import database_view
from sntakeover.model import NodeVerdict
from sntakeover.xcatout import check_names, with_fanout

log = logging.getLogger(__name__)

VERIFIER = "report"

REPORT = re.compile(r"^(\S+): sntakeover-report: v=1 node=(\S+) server=(\S+) master=(\S+) from=(\S+) time=(\d+|-)$",
                    re.M)


def parse_reports(text: str) -> dict[str, dict[str, str]]:
    """Node (as xCAT labelled the line) -> the report's fields; the last report of a node wins."""
    return {m.group(1): {"node": m.group(2), "server": m.group(3), "master": m.group(4), "from": m.group(5),
                         "time": m.group(6)} for m in REPORT.finditer(text)}


@hookimpl
def sntakeover_verify(incident, plan, ctx):
    if not ctx.config.get("verify", "report") or not plan.nodes:
        return None
    db = database_view(ctx, plan.nodes)
    res = ctx.xcat(*with_fanout(["updatenode", ",".join(check_names(plan.nodes)), "-P",
                                 ctx.config.get("verify", "report_script")], ctx.config.get("xcat", "fanout")))
    reports = parse_reports(res.stdout)
    verdicts = []
    for node in plan.nodes:
        rep = reports.get(node)
        xm = db.get(node, {}).get("xcatmaster", "")
        if rep is None or not xm:
            continue  # no report from this node: nothing to say
        line = f"server={rep['server']} from={rep['from']}"
        if rep["server"] == xm:
            verdicts.append(NodeVerdict(node, True, xcatmaster=xm, detail=line, verifier=VERIFIER))
        else:
            verdicts.append(NodeVerdict(node, False, xcatmaster=xm, verifier=VERIFIER,
                                        detail=f"the node reports {line}, expected server={xm}"))
    return verdicts
