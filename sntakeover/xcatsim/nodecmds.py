"""nodestat, rpower, updatenode, makeconservercf and nodeset.

Compute-node probes and updatenode go through the hierarchy (see
:func:`remote.dispatch`); rpower talks to the BMC/HMC from the MN, so it works
for an SN whose OS is down.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from . import noderange
from . import state as st
from .remote import NOT_RESPONDING, dispatch

log = logging.getLogger(__name__)


def _expand_strict(ctx: Any, nr: str) -> list[str] | None:
    nodes, missing = noderange.expand(ctx.state, nr)
    if missing:
        ctx.error("Invalid nodes and/or groups in noderange: " + ",".join(missing), 1)
        return None
    return nodes


def nodestat(ctx: Any, args: list[str]) -> None:
    update = "-u" in args or "--updatedb" in args
    power = "-p" in args or "--powerstat" in args
    rest = [a for a in args if not a.startswith("-")]
    nodes = _expand_strict(ctx, rest[0] if rest else "all")
    if nodes is None:
        return
    results: dict[str, str] = {}
    for group in dispatch(ctx, nodes):
        ctx.round_trip()
        for n in group:
            if st.is_up(ctx.state, n):
                results[n] = st.machine(ctx.state, n).get("nodeset") or "sshd"
            else:
                m = ctx.state["machines"].get(n, {})
                results[n] = f"noping({m.get('power', 'off')})" if power else "noping"
    stamp = time.strftime("%m-%d-%Y %H:%M:%S")
    for n in sorted(results):
        ctx.data(f"{n}: {results[n]}")
        if update:
            up = results[n] == "sshd"
            st.set_node_attrs(ctx.state, n, "nodelist", {
                "status": "ping" if up else "noping", "statustime": stamp,
                "appstatus": "sshd=up" if up else "sshd=down", "appstatustime": stamp}, ctx.changes)


def rpower(ctx: Any, args: list[str]) -> None:
    rest = [a for a in args if not a.startswith("-")]
    if len(rest) < 2 or rest[1] not in ("stat", "state", "on", "off", "reset", "boot", "cycle", "softoff"):
        ctx.data("Usage: rpower <noderange> [--nodeps] [on|onstandby|off|suspend|reset|stat|state|boot] [-V|--verbose] [-m table.colum==expectedstatus][-m table.colum==expectedstatus...] [-r <retrycount>] [-t <timeout>]")
        ctx.rc |= 1
        return
    nodes = _expand_strict(ctx, rest[0])
    if nodes is None:
        return
    action = rest[1]
    ctx.round_trip()
    for n in nodes:
        m = st.machine(ctx.state, n)
        if not m.get("bmc", True):
            ctx.error(f"{n}: Error: Unable to communicate with the hardware control point", 1)
            continue
        if action in ("stat", "state"):
            ctx.data(f"{n}: {m.get('power', 'off')}")
        elif action in ("on",):
            m["power"], m["up"] = "on", True
            ctx.data(f"{n}: on")
        elif action in ("off", "softoff"):
            m["power"], m["up"] = "off", False
            ctx.data(f"{n}: off")
        else:
            m["power"], m["up"] = "on", True
            ctx.data(f"{n}: reset")


def _xcatinfo(ctx: Any, n: str) -> str:
    xm = st.get_attr(ctx.state, n, "noderes", "xcatmaster")
    if not xm:
        sns = st.get_attr(ctx.state, n, "noderes", "servicenode")
        xm = sns.split(",")[0] if sns else ctx.state["tables"]["site"].get("master", "")
    return st.resolve(ctx.state, xm) or xm


def updatenode(ctx: Any, args: list[str]) -> None:
    sflag = "-s" in args or "--sn" in args
    scripts = None
    rest: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-P", "--scripts"):
            if i + 1 < len(args) and not args[i + 1].startswith("-"):
                scripts = args[i + 1]
                i += 1
            else:
                scripts = "all"
        elif not a.startswith("-"):
            rest.append(a)
        i += 1
    if sflag and scripts is not None:
        ctx.E("If you specify the -s flag you must not specify either the -S or -k or -P\n flags")
        return
    if not rest:
        ctx.data("Usage: updatenode <noderange> [-s | [-P <script>]]")
        ctx.rc |= 1
        return
    nodes = _expand_strict(ctx, rest[0])
    if nodes is None:
        return
    fanout = int(ctx.state.get("fanout", 64) or 64)
    for group in dispatch(ctx, nodes):
        ctx.round_trip(math.ceil(len(group) / fanout))
        for n in sorted(group, key=noderange.natural_key):
            if not st.is_up(ctx.state, n):
                ctx.error(NOT_RESPONDING.format(node=n), 1)
                continue
            m = st.machine(ctx.state, n)
            if sflag:
                m["files"]["/etc/xcatinfo"] = f"XCATSERVER={_xcatinfo(ctx, n)}\n"
                run = ["setuppostbootscripts"]
            else:
                if scripts in (None, "all"):
                    d = ctx.state["tables"]["postscripts"].get("xcatdefaults", {})
                    parts = [d.get("postscripts", ""), st.get_attr(ctx.state, n, "postscripts", "postscripts"),
                             d.get("postbootscripts", ""), st.get_attr(ctx.state, n, "postscripts", "postbootscripts")]
                    run = [s for s in ",".join(parts).split(",") if s]
                else:
                    run = [s for s in scripts.split(",") if s]
                m["postscripts_run"].extend(run)
            for s in run:
                ctx.data(f"{n}: Running postscript: {s}")
                if s == "sntakeover-report":  # hooks/xcat/sntakeover-report's own line
                    ctx.data(f"{n}: {_report_line(ctx, n, m)}")
                ctx.data(f"{n}: Postscript: {s} exited with code 0")
            ctx.data(f"{n}: Running of postscripts has completed.")


def _report_line(ctx: Any, n: str, m: dict[str, Any]) -> str:
    """What hooks/xcat/sntakeover-report prints on node ``n`` (server from /etc/xcatinfo, MASTER = xcatmaster)."""
    server = ""
    for line in m["files"].get("/etc/xcatinfo", "").splitlines():
        if line.strip().startswith("XCATSERVER"):
            server = line.split("=", 1)[1].strip()
    master = st.get_attr(ctx.state, n, "noderes", "xcatmaster") or "-"
    src = "/etc/xcatinfo" if server else ("env" if master != "-" else "-")
    return (f"sntakeover-report: v=1 node={n} server={server or (master if master != '-' else '-')} "
            f"master={master} from={src} time={int(time.time())}")


def makeconservercf(ctx: Any, args: list[str]) -> None:
    rest = [a for a in args if not a.startswith("-")]
    nodes = st.all_nodes(ctx.state) if not rest else _expand_strict(ctx, rest[0])
    if nodes is None:
        return
    ctx.round_trip()
    servers = {}
    for n in nodes:
        cs = st.get_attr(ctx.state, n, "nodehm", "conserver")
        if cs:
            servers.setdefault(cs, []).append(n)
    for cs, members in servers.items():
        if cs not in ctx.state["machines"] or st.is_up(ctx.state, cs):
            continue
        ctx.error(DISPATCH_DOWN.format(sn=cs), 1)


DISPATCH_DOWN = ("Unable to dispatch hierarchical sub-command to {sn}:3001.  Error: Connection failure: "
                 "IO::Socket::INET: connect: No route to host at /opt/xcat/lib/perl/xCAT/Client.pm line 248.\n. ")


def nodeset(ctx: Any, args: list[str]) -> None:
    rest = [a for a in args if not a.startswith("-")]
    if len(rest) < 2:
        ctx.data("Usage: nodeset <noderange> [shell|boot|runcmd=bmcsetup|osimage[=<imagename>]|offline]")
        ctx.rc |= 1
        return
    nodes = _expand_strict(ctx, rest[0])
    if nodes is None:
        return
    state = rest[1]
    for group in dispatch(ctx, nodes):
        ctx.round_trip()
        for n in sorted(group, key=noderange.natural_key):
            label = state.split("=", 1)[1] if state.startswith("osimage=") else state
            st.machine(ctx.state, n)["nodeset"] = ""
            ctx.data(f"{n}: {label}")
