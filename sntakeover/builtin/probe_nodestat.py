"""Probe ``nodestat``: ``nodestat <sn>`` from the MN (xcat.md §3.5).

``noping`` is down; any other state (``sshd``, ``ping``, a deploy state) is up;
no line for the SN, or an error, is "cannot tell".
"""

from __future__ import annotations

from sntakeover import hookimpl
from sntakeover.builtin.probe_common import could_not_run, last_line
from sntakeover.model import ProbeResult
from sntakeover.xcatout import parse_node_lines

NAME = "nodestat"


@hookimpl
def sntakeover_probe(servicenode, ctx):
    res = ctx.xcat("nodestat", servicenode, timeout=ctx.config.get("confirm", "probe_timeout"))
    bad = could_not_run(NAME, res)
    if bad:
        return bad
    state = (parse_node_lines(res.stdout).get(servicenode) or [""])[0].strip()
    if state.startswith("noping"):
        return ProbeResult(NAME, True, state)
    if state:
        return ProbeResult(NAME, False, state)
    return ProbeResult(NAME, None, f"cannot tell: no status for {servicenode} ({last_line(res)})")


@hookimpl
def sntakeover_required_commands(config):
    return ["nodestat"] if config.get("confirm", "enabled") or config.get("backup", "check") else []
