"""Probe ``xdsh``: ``xdsh <sn> -t 10 date`` over the MN's ssh (xcat.md §3.6, §3.7).

The SN answering is up. An ssh error that says the host did not answer (no
route, refused, timed out) is down. Anything else -- xdsh missing, our own
timeout, an authentication or host-key problem -- is "cannot tell": it says
something about the probe, not about the SN.
"""

from __future__ import annotations

from sntakeover import hookimpl
from sntakeover.builtin.probe_common import CANNOT_RUN, UNREACHABLE, could_not_run, last_line
from sntakeover.model import ProbeResult
from sntakeover.xcatout import parse_node_lines

NAME = "xdsh"


@hookimpl
def sntakeover_probe(servicenode, ctx):
    res = ctx.xcat("xdsh", servicenode, "-t", "10", "date", timeout=ctx.config.get("confirm", "probe_timeout"))
    bad = could_not_run(NAME, res)
    if bad:
        return bad
    if res.rc == 0 and parse_node_lines(res.stdout).get(servicenode):
        return ProbeResult(NAME, False, "answered")
    text = res.stdout + res.stderr
    if any(w in text for w in CANNOT_RUN):
        return ProbeResult(NAME, None, f"cannot tell: {last_line(res)}")
    if any(w in text for w in UNREACHABLE):
        return ProbeResult(NAME, True, last_line(res))
    return ProbeResult(NAME, None, f"cannot tell: rc={res.rc}: {last_line(res)}")


@hookimpl
def sntakeover_required_commands(config):
    return ["xdsh"] if config.get("confirm", "enabled") or config.get("backup", "check") else []
