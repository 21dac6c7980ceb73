"""snmove's node-side steps (skipped with ``-i``): /etc/xcatinfo, default
route, bootlist, postscripts. Each is a sequence of xdsh/updatenode round
trips, as in the plugin, so a slow or down node costs what it costs there."""

from __future__ import annotations

import logging
from typing import Any

from .state import in_subnet
from .xcmd import runxcmd, xcmd

log = logging.getLogger(__name__)

VALID_SCRIPTS = ("syslog", "setupntp", "mkresolvconf")
ARRAY_REPR = "ARRAY(0x55d0c0ffee00)"


def _after_colon(line: str) -> str:
    """perl: ($junk, $line) = split(/:/, $l) -- the text between the 1st and 2nd colon."""
    if ":" in line:
        parts = line.split(":")
        return parts[1] if len(parts) > 1 else ""
    return line


def _gateway_for(db: Any, node: str, networks: list[dict[str, str]]) -> str:
    """getNetwkInfo's gateway: '<xcatmaster>' becomes the node's SN IP as known by the MN."""
    net = db.node_network(node, networks) or {}
    gw = net.get("gateway", "")
    if gw == "<xcatmaster>":
        sns = db.get_attr(node, "noderes", "servicenode").split(",")
        gw = db.resolve(sns[0]) if sns and sns[0] else ""
    return gw


def node_steps(ctx: Any, nodes: list[str], aix: bool, sharedinstall: str, newsn: dict[str, str],
               newxm: dict[str, str], oldmaster: dict[str, str], user_posts: str | None) -> None:
    db = ctx.db
    verbose = ctx.flags.get("verbose")
    ips = db.resolve_many(nodes)
    xmips = db.resolve_many(sorted(set(newxm.values())))
    if aix:
        if verbose:
            ctx.info("Updating the /etc/xcatinfo files.\n")
        for n in nodes:
            ip = xmips[newxm[n]]
            runxcmd(ctx, "xdsh", [n], [f'echo "XCATSERVER={ip}" > /etc/xcatinfo'], 0)

    # default routes
    gwhash: dict[str, list[str]] = {}
    networks = db.networks()
    for row in networks:
        if row.get("gateway", "") != "<xcatmaster>":
            continue
        for n in nodes:
            if in_subnet(ips[n], row.get("mask", ""), row.get("net", "")):
                gip = xmips[newxm[n]]
                if gip:
                    gwhash.setdefault(gip, []).append(n)
    if gwhash:
        ctx.info("Checking the default routes on the nodes.")
    for gw, members in gwhash.items():
        for nd in members:
            cmd = "route add default gw"
            if aix:
                oldgwip = db.resolve(oldmaster[nd]) if oldmaster[nd] else ""
                _, netout = xcmd(ctx, nd, "netstat -rn")
                foundold = foundnew = False
                for line in netout.split("\n"):
                    f = _after_colon(line).split()
                    if len(f) >= 2 and f[0] == "default":
                        foundold |= f[1] == oldgwip
                        foundnew |= f[1] == gw
                cmd = "route change default" if foundold and not foundnew else ""
            if cmd:
                child = runxcmd(ctx, "xdsh", members, ["-v", f"{cmd} {gw}"], -1)
                ret = child.relay_texts()
                if child.rc != 0 and not any(" File exists" in t for t in ret):
                    for t in ret:
                        ctx.E(t)
                    ctx.E(ARRAY_REPR)
                    ctx.E("Could not set default route.\n")

    if aix:
        ctx.info("Updating the bootlist.\n")
        for nd in nodes:
            _, nimout = xcmd(ctx, nd, "netstat -in")
            myip = ips[nd]
            intname = ""
            for line in nimout.split("\n"):
                f = _after_colon(line).split()
                if len(f) >= 4 and f[3] == myip:
                    intname = f[0]
                    break
            if "hf" in intname:
                intname = intname.replace("hf", "hfi")
            elif "en" in intname:
                intname = intname.replace("en", "ent")
            elif "et" in intname:
                intname = intname.replace("et", "")
            gateway = _gateway_for(db, nd, networks)
            snip = xmips[newxm[nd]]
            blcmd = f"/usr/bin/bootlist -m normal {intname} gateway={gateway} bserver={snip} client={myip} "
            rc, _ = xcmd(ctx, nd, blcmd)
            if rc != 0:
                ctx.E(f"Could not run '{blcmd}' on node {nd}.\n")

    # postscripts
    defs = db.row("postscripts", "xcatdefaults") or {}
    owns = db.rows("postscripts", nodes)
    inherited = db.get_attrs(nodes, "postscripts", ["postscripts", "postbootscripts"])
    pos_hash: dict[str, list[str]] = {}
    valid = ("syslog", "setupntp") if aix and sharedinstall == "sns" else VALID_SCRIPTS
    for n in nodes:
        own = {k: v for k, v in (owns.get(n) or {}).items() if v is not None}
        if own:
            scripts = ",".join([defs.get("postscripts", ""), own.get("postscripts", ""),
                                defs.get("postbootscripts", ""), own.get("postbootscripts", "")])
        else:
            scripts = ",".join([defs.get("postscripts", ""), defs.get("postbootscripts", "")])
        grp_ps = inherited[n]["postscripts"]
        grp_pbs = inherited[n]["postbootscripts"]
        if not own and (grp_ps or grp_pbs):
            scripts = ",".join([defs.get("postscripts", ""), grp_ps, defs.get("postbootscripts", ""), grp_pbs])
        listed = [s for s in scripts.split(",")]
        if user_posts == "all":
            run = scripts
        else:
            run = ",".join(s for s in valid if s in listed)
            if user_posts:
                run = f"{run},{user_posts}" if run else user_posts
        if run:
            pos_hash.setdefault(run, []).append(n)
    ctx.info("Running postscripts on the nodes.")
    for scripts, members in pos_hash.items():
        child = runxcmd(ctx, "updatenode", members, ["-s"], -1)
        for t in child.relay_texts():
            ctx.info(t)
        child = runxcmd(ctx, "updatenode", members, ["-P", scripts], -1)
        for t in child.relay_texts():
            ctx.info(t)
