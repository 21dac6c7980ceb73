"""Built-in fencing through xCAT: ``rpower <sn> off``, then ``rpower <sn> stat`` must say off.

Fencing keeps a half-dead SN (network flapping, hung xcatd) from serving the
nodes again, or rewriting their files, while they move to the backup.
"""

from __future__ import annotations

import logging

from sntakeover import hookimpl
from sntakeover.model import FenceResult
from sntakeover.xcatout import parse_node_lines

log = logging.getLogger(__name__)


@hookimpl(trylast=True)
def sntakeover_fence(incident, plan, ctx):
    if ctx.config.get("fence", "method") != "rpower":
        return None
    sn = incident.servicenode
    off = ctx.xcat("rpower", sn, "off", timeout=120)
    stat = ctx.xcat("rpower", sn, "stat", timeout=120)
    state = (parse_node_lines(stat.stdout).get(sn) or [""])[0]
    if state.strip() == "off":
        return FenceResult("rpower", True, f"rpower {sn} off (rc={off.rc}); stat says off")
    said = state or (stat.stderr.strip() or off.stderr.strip())[:300]
    return FenceResult("rpower", False, f"rpower {sn} stat says {said!r} after off (rc={off.rc})")


@hookimpl
def sntakeover_required_commands(config):
    return ["rpower"] if config.get("fence", "method") == "rpower" and config.get("fence", "policy") != "off" else []
