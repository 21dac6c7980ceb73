"""Probe ``rpower``: ``rpower <sn> stat`` through the SN's BMC/HMC, from the MN.

Powered ``off`` is down. Powered ``on`` says nothing about the operating
system (a crashed OS keeps the power on), so it is "cannot tell" -- never an up
vote. A BMC that does not answer is "cannot tell" too.
"""

from __future__ import annotations

from sntakeover import hookimpl
from sntakeover.builtin.probe_common import could_not_run, last_line
from sntakeover.model import ProbeResult
from sntakeover.xcatout import parse_node_lines

NAME = "rpower"


@hookimpl
def sntakeover_probe(servicenode, ctx):
    res = ctx.xcat("rpower", servicenode, "stat", timeout=ctx.config.get("confirm", "probe_timeout"))
    bad = could_not_run(NAME, res)
    if bad:
        return bad
    state = (parse_node_lines(res.stdout).get(servicenode) or [""])[0].strip()
    if state == "off":
        return ProbeResult(NAME, True, "power is off")
    if state == "on":
        return ProbeResult(NAME, None, "cannot tell: power is on (says nothing about the OS)")
    return ProbeResult(NAME, None, f"cannot tell: {state or last_line(res)}")


@hookimpl
def sntakeover_required_commands(config):
    return ["rpower"] if config.get("confirm", "enabled") or config.get("backup", "check") else []
