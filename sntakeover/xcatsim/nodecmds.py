"""nodestat, rpower, updatenode, makeconservercf and nodeset.

Compute-node probes and updatenode go through the hierarchy (see
:func:`remote.dispatch`); rpower talks to the BMC/HMC from the MN, so it works
for an SN whose OS is down.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from . import agent, noderange
from .remote import DISPATCH_FAIL, NOT_RESPONDING, dispatch, waves
from .state import machine_up, mn_reaches, new_machine

log = logging.getLogger(__name__)


def _expand_strict(ctx: Any, nr: str) -> list[str] | None:
    nodes, missing = noderange.expand(ctx.db, nr)
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
        hosts = ctx.db.machines(group)
        for n in group:
            m = hosts.get(n)
            if mn_reaches(m):
                results[n] = m.get("nodeset") or "sshd"
            else:
                results[n] = f"noping({(m or {}).get('power', 'off')})" if power else "noping"
    stamp = time.strftime("%m-%d-%Y %H:%M:%S")
    with ctx.db.write():
        for n in sorted(results):
            ctx.data(f"{n}: {results[n]}")
            if update:
                up = results[n] == "sshd"
                ctx.db.set_node_attrs(n, "nodelist", {
                    "status": "ping" if up else "noping", "statustime": stamp,
                    "appstatus": "sshd=up" if up else "sshd=down", "appstatustime": stamp})


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
    if action in ("stat", "state"):
        hosts = ctx.db.machines(nodes)
        for n in nodes:
            m = hosts.get(n) or new_machine()
            if not m.get("bmc", True):
                ctx.error(f"{n}: Error: Unable to communicate with the hardware control point", 1)
                continue
            ctx.data(f"{n}: {m.get('power', 'off')}")
        return
    with ctx.db.write():
        for n in nodes:
            m = ctx.db.machine(n)
            if not m.get("bmc", True):
                ctx.error(f"{n}: Error: Unable to communicate with the hardware control point", 1)
                continue
            if action == "on":
                m["power"], m["up"], said = "on", True, "on"
            elif action in ("off", "softoff"):
                m["power"], m["up"], said = "off", False, "off"
            else:
                m["power"], m["up"], said = "on", True, "reset"
            ctx.db.save_machine(n, m)
            ctx.data(f"{n}: {said}")
    agent.sync(ctx.dir)  # an SN powered off stops answering on xcatd's port, powered on answers again


def _xcatinfo(ctx: Any, n: str, attrs: dict[str, str]) -> str:
    xm = attrs["xcatmaster"]
    if not xm:
        sns = attrs["servicenode"]
        xm = sns.split(",")[0] if sns else ctx.db.site("master")
    return ctx.db.resolve(xm) or xm


def updatenode(ctx: Any, args: list[str]) -> None:
    sflag = "-s" in args or "--sn" in args
    scripts = None
    fanout = 0
    rest: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("--fanout=") and a[9:].isdigit():  # [--fanout=fanout_value] (updatenode man page)
            fanout = int(a[9:])
        elif a == "--fanout" and i + 1 < len(args) and args[i + 1].isdigit():
            fanout = int(args[i + 1])
            i += 1
        elif a in ("-P", "--scripts"):
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
    defaults = ctx.db.row("postscripts", "xcatdefaults") or {}
    for group in dispatch(ctx, nodes):
        for wave in waves(ctx, group, write=True, fanout=fanout):
            _updatenode_wave(ctx, wave, sflag, scripts, defaults)


def _updatenode_wave(ctx: Any, wave: list[str], sflag: bool, scripts: str | None, d: dict[str, str]) -> None:
    hosts = ctx.db.machines(wave)
    res = ctx.db.get_attrs(wave, "noderes", ["xcatmaster", "servicenode"])
    if not sflag and scripts in (None, "all"):
        attrs = ctx.db.get_attrs(wave, "postscripts", ["postscripts", "postbootscripts"])
    for n in wave:
        m = hosts.get(n)
        if m is None or not mn_reaches(m):
            ctx.error(NOT_RESPONDING.format(node=n), 1)
            continue
        if sflag:
            m["files"]["/etc/xcatinfo"] = f"XCATSERVER={_xcatinfo(ctx, n, res[n])}\n"
            run = ["setuppostbootscripts"]
        else:
            if scripts in (None, "all"):
                parts = [d.get("postscripts") or "", attrs[n]["postscripts"], d.get("postbootscripts") or "",
                         attrs[n]["postbootscripts"]]
                run = [s for s in ",".join(parts).split(",") if s]
            else:
                run = [s for s in scripts.split(",") if s]
            m["postscripts_run"].extend(run)
        ctx.db.save_machine(n, m)
        for s in run:
            ctx.data(f"{n}: Running postscript: {s}")
            if s == "sntakeover-report":  # hooks/xcat/sntakeover-report's own line
                ctx.data(f"{n}: {_report_line(n, m, res[n]['xcatmaster'])}")
            ctx.data(f"{n}: Postscript: {s} exited with code 0")
        ctx.data(f"{n}: Running of postscripts has completed.")


def _report_line(n: str, m: dict[str, Any], xcatmaster: str) -> str:
    """What hooks/xcat/sntakeover-report prints on node ``n`` (server from /etc/xcatinfo, MASTER = xcatmaster)."""
    server = ""
    for line in m["files"].get("/etc/xcatinfo", "").splitlines():
        if line.strip().startswith("XCATSERVER"):
            server = line.split("=", 1)[1].strip()
    master = xcatmaster or "-"
    src = "/etc/xcatinfo" if server else ("env" if master != "-" else "-")
    return (f"sntakeover-report: v=1 node={n} server={server or (master if master != '-' else '-')} "
            f"master={master} from={src} time={int(time.time())}")


def makeconservercf(ctx: Any, args: list[str]) -> None:
    rest = [a for a in args if not a.startswith("-")]
    nodes = ctx.db.all_nodes() if not rest else _expand_strict(ctx, rest[0])
    if nodes is None:
        return
    ctx.round_trip()
    servers: dict[str, list[str]] = {}
    for n, v in ctx.db.get_attrs(nodes, "nodehm", ["conserver"]).items():
        if v["conserver"]:
            servers.setdefault(v["conserver"], []).append(n)
    hosts = ctx.db.machines(list(servers))
    for cs in servers:
        if cs not in hosts or machine_up(hosts[cs]):
            continue
        ctx.error(DISPATCH_FAIL.format(sn=cs), 1)


def nodeset(ctx: Any, args: list[str]) -> None:
    rest = [a for a in args if not a.startswith("-")]
    if len(rest) < 2:
        ctx.data("Usage: nodeset <noderange> [shell|boot|runcmd=bmcsetup|osimage[=<imagename>]|offline]")
        ctx.rc |= 1
        return
    nodes = _expand_strict(ctx, rest[0])
    if nodes is None:
        return
    target = rest[1]
    label = target.split("=", 1)[1] if target.startswith("osimage=") else target
    for group in dispatch(ctx, nodes):
        ctx.round_trip()
        with ctx.db.write():
            hosts = ctx.db.machines(group)
            for n in sorted(group, key=noderange.natural_key):
                if n in hosts and hosts[n].get("nodeset"):
                    hosts[n]["nodeset"] = ""
                    ctx.db.save_machine(n, hosts[n])
                ctx.data(f"{n}: {label}")
