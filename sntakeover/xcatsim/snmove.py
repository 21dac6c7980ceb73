"""The snmove command, step by step as xCAT's snmove plugin does it.

Output goes through the xCAT client rules (see :mod:`commands`): strings that
end in ``\\n`` are followed by a blank line, validation errors exit 0, only
E-type messages set the exit code. All database writes happen before any
node is touched. Sub-commands (xdsh, updatenode, makeconservercf, nodeset)
run in-process and are logged with ``via: snmove``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from . import noderange, runlog
from .options import GetoptError, getopt_bundling
from .state import XCAT_VERSION, in_subnet
from .snmove_nodes import node_steps
from .xcmd import runxcmd, xcmd
from .statelite import sync_statelite

log = logging.getLogger(__name__)


USAGE = [
    "\nsnmove - Move xCAT compute nodes from one xCAT service node to a \nbackup service node.",
    "\nUsage: ",
    "\tsnmove [-h | --help ]\n",
    "\tsnmove noderange [-V] [-l|--liteonly] [[-d|--dest]  sn2]\n\t\t[[-D|--destn]  sn2n] [-i|--ignorenodes] "
    "\n\t\t[[-P|--postscripts]  script1,script2...|all]\n",
    "\tsnmove [-V] [-l|--liteonly] -s|--source  sn1 [[-S|--sourcen]  sn1n]\n\t\t[[-d|--dest]  sn2] [[-D|--dest ]  sn2n]"
    "\n\t\t[-i|--ignorenodes][[-P|--postscripts] script1,script2...|all]",
    "\n",
    "\nWhere:",
    "\tsn1 is the hostname of the source service node as known by (facing) the management node.",
    "\tsn1n is the hostname of the source service node as known by (facing) the nodes.",
    "\tsn2 is the hostname of the destination service node as known by (facing) the management node.",
    "\tsn2n is the hostname of the destination service node as known by (facing) the nodes.",
    "\tscripts is a comma separated list of postscripts to be run on the nodes. 'all' means all the scripts "
    "defined in the postscripts table for each node are to be run.",
]

OPTIONS = {  # name: (aliases, takes value)
    "help": (("h", "help"), False), "version": (("v", "version"), False),
    "source": (("s", "source"), True), "sourcen": (("S", "sourcen"), True),
    "dest": (("d", "dest"), True), "destn": (("D", "destn"), True),
    "liteonly": (("l", "liteonly"), False), "noretarget": (("n", "noretarget"), False),
    "postscripts": (("P", "postscripts"), True), "ignorenodes": (("i", "ignorenodes"), False),
    "verbose": (("V", "verbose"), False),
}

def _usage(ctx: Any) -> None:
    for line in USAGE:
        ctx.data(line)


def _select_by_source(ctx: Any, sn1: str) -> list[str]:
    """Every node whose servicenode value matches /^SN$/ or /^SN,/ (an empty one counts as site.master)."""
    master = ctx.db.site("master")
    try:
        rx1, rx2 = re.compile(f"^{sn1}$"), re.compile(f"^{sn1},")
    except re.error:
        return []
    out = []
    for n, v in ctx.db.get_attrs(None, "noderes", ["servicenode"]).items():
        snlist = v["servicenode"] or master
        if rx1.search(snlist) or rx2.search(snlist):
            out.append(n)
    return sorted(out, key=noderange.natural_key)


def _sn_interfaces(ctx: Any, servlist: list[str], aix: bool) -> dict[str, list[str]]:
    ifcmd = "/usr/sbin/ifconfig -a " if aix else "/sbin/ip addr "
    sni: dict[str, list[str]] = {}
    for sn in servlist:
        rc, result = xcmd(ctx, sn, ifcmd)
        if rc != 0:
            ctx.data(f"Could not get IP addresses from service node {sn}.\n")
            continue
        for line in result.split("\n"):
            if "inet" not in line:
                continue
            line = re.sub(f"{re.escape(sn)}:\\s+", "", line, count=1).strip()
            elems = re.split(r"\s+", line)
            if len(elems) < 2:
                continue
            if elems[0] == "inet6":
                if not aix:
                    continue
                ip = elems[1].split("/")[0].split("%")[0]
            else:
                ip = elems[1].split("/")[0] if not aix else elems[1]
            sni.setdefault(sn, []).append(ip)
    return sni


def snmove(ctx: Any, args: list[str]) -> None:
    db = ctx.db
    try:
        o, pos = getopt_bundling(args, OPTIONS)
    except GetoptError as e:
        # Getopt::Long warns in the plugin process, i.e. into xcatd's own
        # stderr; the client only receives the usage (exit 0)
        log.debug("snmove: %s", e)
        _usage(ctx)
        return
    ctx.flags["verbose"] = bool(o.get("verbose"))
    if o.get("help"):
        _usage(ctx)
        return
    if o.get("version"):
        ctx.data(XCAT_VERSION)
        return
    if o.get("ignorenodes") and o.get("postscripts"):
        ctx.data("-P and -i flags cannot be specified at the same time.\n")
        return
    if len(pos) > 1:
        ctx.data("Too many paramters.\n")
        _usage(ctx)
        return
    sn1_opt = o.get("source")
    if not pos and not sn1_opt:
        ctx.data("A node range or the source service node must be specified.\n")
        _usage(ctx)
        return
    slonly = bool(o.get("liteonly"))
    verbose = ctx.flags["verbose"]
    if not slonly:
        ctx.info("Moving nodes to their backup service nodes.\n")

    if pos:
        nodes, missing = noderange.expand(db, pos[0])
        if missing:
            ctx.data("Invalid nodes in noderange:" + ",".join(missing))
            return
    else:
        nodes = _select_by_source(ctx, sn1_opt)
    ips = db.resolve_many(nodes)
    for n in nodes:
        if not ips[n]:
            ctx.E(f"Could not resolve node '{n}'.\n")
            return
    if not nodes:
        ctx.E("Could not get xCAT object definitions.\n")
        return
    nh = db.node_attrs(nodes, ("os", "provmethod", "servicenode", "xcatmaster", "tftpserver", "nfsserver",
                               "monserver", "conserver"))
    isaix = sum(1 for n in nodes if nh[n]["os"] == "AIX")
    islinux = len(nodes) - isaix
    if isaix and islinux:
        ctx.E("This command does not support a mix of AIX and Linux nodes.\n")
        return
    if slonly and islinux:
        ctx.E("The '-l' option is not supported for Linux nodes.\n")
        return
    aix = bool(isaix)
    nimtype = {}
    if aix:
        images = db.rows("nimimage", {nh[n]["provmethod"] for n in nodes}, ["nimtype"])
        for n in nodes:
            nimtype[n] = (images.get(nh[n]["provmethod"]) or {}).get("nimtype") or ""

    # step 6: the new SN per node
    newsn: dict[str, str] = {}
    servlist: list[str] = []
    error = 0
    if o.get("dest"):
        newsn = {n: o["dest"] for n in nodes}
        servlist = [o["dest"]]
    else:
        for n in nodes:
            sns = nh[n]["servicenode"].split(",") if nh[n]["servicenode"] else []
            if len(sns) > 2 and aix:
                ctx.error("The service node attribute cannot have more than two values.")
            if len(sns) > 1 and sns[1]:
                newsn[n] = sns[1]
                if sns[1] not in servlist:
                    servlist.append(sns[1])
            if not newsn.get(n):
                ctx.error(f"Could not determine a backup service node for node {n}.")
                error += 1
    if error:
        return

    # step 7: the new xcatmaster per node
    newxm: dict[str, str] = {}
    if o.get("destn"):
        newxm = {n: o["destn"] for n in nodes}
    else:
        sni = _sn_interfaces(ctx, servlist, aix)
        networks = db.networks()
        for n in nodes:
            net = db.node_network(n, networks)
            for ip in sni.get(newsn[n], []):
                if net and in_subnet(ip, net.get("mask", ""), net.get("net", "")):
                    newxm[n] = ip
                    break
            if not newxm.get(n):
                ctx.error(f"Could not determine an xcatmaster value for node {n}.")
                error += 1
    if error:
        return

    # step 8: new attribute values
    sn_hash: dict[str, dict[str, str]] = {}
    oldsn: dict[str, str] = {}
    oldmaster: dict[str, str] = {}
    sn1n_ips = db.resolve_many(sorted({o.get("sourcen") or nh[n]["xcatmaster"] for n in nodes} - {""}))
    for n in nodes:
        sn1n = o.get("sourcen") or nh[n]["xcatmaster"]
        sn1n_ip = sn1n_ips[sn1n] if sn1n else ""
        sn_a = [x for x in nh[n]["servicenode"].split(",")] if nh[n]["servicenode"] else []
        sn1 = sn1_opt if sn1_opt else (sn_a[0] if sn_a else "")
        tmp = [x for x in sn_a if not re.fullmatch(re.escape(newsn[n]), x)]
        new = {"servicenode": ",".join([newsn[n], *tmp]), "xcatmaster": newxm[n]}
        oldsn[n], oldmaster[n] = sn1, sn1n
        for attr in ("tftpserver", "nfsserver"):
            v = nh[n][attr]
            if v and ((sn1n and v == sn1n) or (sn1n_ip and v == sn1n_ip)):
                new[attr] = newxm[n]
        mon = nh[n]["monserver"]
        if mon:
            parts = [p for p in mon.split(",")]
            while parts and parts[-1] == "":
                parts.pop()  # perl split drops trailing empty fields
            if len(parts) < 2:
                ctx.E("The current value of the monserver attribute is not valid.  It will not be reset.\n")
            elif parts[0] == sn1:
                new["monserver"] = f"{newsn[n]},{newxm[n]}"
        sn_hash[n] = new

    sharedinstall = db.site("sharedinstall") or "no"
    if slonly and sharedinstall == "sns":
        ctx.info("The liteonly option is not valaid when using a shared file system across service nodes.\n")
        return

    # step 10: statelite
    sl_mod: list[tuple[str, str]] = []
    if aix and sharedinstall == "no":
        if verbose:
            ctx.info("Attempting the synchronization of statelite files.\n")
        sl_mod = sync_statelite(ctx, nodes, {n: sn_hash[n]["xcatmaster"] for n in nodes}, newsn, oldsn, oldmaster)
        if slonly:
            return

    # step 11: database, all of it before any node is touched
    ctx.info("Setting new values in the xCAT database.\n")
    nodes_con = [n for n in nodes if nh[n]["conserver"] and nh[n]["conserver"] == oldsn[n]]
    with db.write():
        for n, stmnt in sl_mod:
            db.set_statelite(n, stmnt)
        for n in nodes:
            db.set_node_attrs(n, "noderes", sn_hash[n])
        for n in nodes_con:
            db.set_node_attrs(n, "nodehm", {"conserver": newsn[n]})
        runlog.append_moved(ctx.dir, {n: sn_hash[n]["servicenode"] for n in nodes})
    if nodes_con:
        ctx.data("Running makeconservercf " + ",".join(nodes_con))
        child = runxcmd(ctx, "makeconservercf", nodes_con, [], 0)
        for t in child.relay_texts():
            ctx.data(t)

    ignore = bool(o.get("ignorenodes"))
    # step 14: niminit for standalone nodes
    if not ignore and aix:
        for n in nodes:
            if nimtype.get(n) == "standalone":
                if verbose:
                    ctx.info(f"Running niminit on {n}.\n")
                rc, _ = xcmd(ctx, n, f"/usr/sbin/niminit -a name={n} -a master={newsn[n]} >/dev/null 2>&1")
                if rc != 0:
                    ctx.E(f"Could not run niminit on node {n}.\n")
    # step 15: Linux nodeset
    if islinux:
        by_pm: dict[str, list[str]] = {}
        for n in nodes:
            if nh[n]["provmethod"]:
                by_pm.setdefault(nh[n]["provmethod"], []).append(n)
        for pm, pmnodes in by_pm.items():
            arg = pm if pm in ("netboot", "install", "statelite") else f"osimage={pm}"
            child = runxcmd(ctx, "nodeset", pmnodes, [arg], 0)
            for t in child.relay_texts():
                ctx.info(t)
    if ignore:
        return
    node_steps(ctx, nodes, aix, sharedinstall, newsn, newxm, oldmaster, o.get("postscripts"))
