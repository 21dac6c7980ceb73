"""Probe ``nodepath`` (optional, ``confirm.node_path_nodes``): can the SN reach its nodes?

An SN can answer the MN while it cannot reach the compute nodes it serves (a
dead switch port, a broken route). This probe logs in to the SN (``xdsh <sn>``)
and pings a few of the nodes whose first service node it is, by name, from
there. Some reply: up. None reply while the SN itself answers: down -- the SN
does not serve its nodes. The SN does not answer at all: "cannot tell" (the
``xdsh`` probe already counts that, and one observation is one vote).
"""

from __future__ import annotations

import logging
import time

from sntakeover import hookimpl
from sntakeover.builtin.probe_common import could_not_run, last_line
from sntakeover.errors import Retry
from sntakeover.model import ProbeResult
from sntakeover.noderange import natural_key
from sntakeover.xcatdb import nodes_served_by
from sntakeover.xcatout import parse_node_lines

log = logging.getLogger(__name__)

NAME = "nodepath"
SAMPLE_TTL = 600.0
_samples: dict[str, tuple[float, list[str]]] = {}


def sample(ctx, sn: str, count: int) -> list[str]:
    """Up to ``count`` nodes that have ``sn`` first, remembered for a while (the plan reads them anyway)."""
    hit = _samples.get(sn)
    if hit and time.monotonic() - hit[0] < SAMPLE_TTL and len(hit[1]) >= min(count, len(hit[1])):
        return hit[1][:count]
    nodes = sorted(nodes_served_by(ctx, sn, "servicenode"), key=natural_key)[: max(count, 1) * 4]
    _samples[sn] = (time.monotonic(), nodes)
    return nodes[:count]


@hookimpl
def sntakeover_probe(servicenode, role, ctx):
    count = ctx.config.get("confirm", "node_path_nodes")
    if not count or role != "failed":
        return None
    try:
        nodes = sample(ctx, servicenode, count)
    except Retry as exc:
        return ProbeResult(NAME, None, f"cannot tell: {exc}")
    if not nodes:
        return ProbeResult(NAME, None, f"cannot tell: no node has {servicenode} first")
    reached, silent = [], []
    for node in nodes:
        res = ctx.xcat("xdsh", servicenode, "-t", "10", "ping", "-c", "1", "-w", "3", node,
                       timeout=ctx.config.get("confirm", "probe_timeout"))
        bad = could_not_run(NAME, res)
        if bad:
            return bad
        lines = parse_node_lines(res.stdout).get(servicenode, [])
        if any(" 0% packet loss" in line or "bytes from" in line for line in lines):
            reached.append(node)
        elif any("100% packet loss" in line for line in lines):
            silent.append(node)
        else:  # the SN itself did not answer, or ping is missing there
            return ProbeResult(NAME, None, f"cannot tell: {servicenode} did not run ping ({last_line(res)})")
    if reached:
        return ProbeResult(NAME, False, f"{servicenode} reaches {', '.join(reached)}")
    return ProbeResult(NAME, True, f"{servicenode} answers but reaches none of {', '.join(silent)}")


@hookimpl
def sntakeover_required_commands(config):
    return ["lsdef", "xdsh"] if config.get("confirm", "node_path_nodes") else []
