"""What snmove does on the nodes after its database part, as fanned-out commands.

snmove walks the nodes one by one (xcat.md §2.3 steps 14-19): niminit on AIX
standalone nodes, ``/etc/xcatinfo``, the default route, the bootlist, then the
selected postscripts through ``updatenode``. This module reads the facts those
steps depend on from xCAT and builds the same commands for a whole noderange:

* :func:`read_facts` -- before the database move: each node's IP, OS, image,
  current xcatmaster and postscript lists (``nodels``), and the ``site``,
  ``networks``, ``postscripts`` and ``nimimage`` tables (``tabdump``).
* :func:`read_moved` -- after it: the new servicenode and xcatmaster of every
  node the move reached (``lsdef -i servicenode,xcatmaster``).
* the ``*_commands`` functions -- the argv lists, following snmove's rules
  exactly (which nodes, which argument, which error text counts).

Names are resolved the way snmove's getipaddr sees them on an xCAT MN: an IP
stays, a name is looked up in xCAT's ``hosts`` table.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from sntakeover.model import Plan
from sntakeover.xcatout import (
    check_names,
    error_lines,
    parse_lsdef,
    parse_node_lines,
    parse_nodels,
    parse_tabdump,
    row_enabled,
)

log = logging.getLogger(__name__)

#: postscripts snmove re-runs when a node lists them (§2.3 step 19)
VALID_SCRIPTS = ("syslog", "setupntp", "mkresolvconf")
NODE_COLUMNS = ("hosts.ip", "nodetype.os", "nodetype.provmethod", "noderes.xcatmaster",
                "postscripts.postscripts", "postscripts.postbootscripts")
XCATMASTER_GATEWAY = "<xcatmaster>"  # networks.gateway: the node's own service node
#: the node-side script of the bootlist step, run with ``xdsh -e`` (see :func:`bootlist_commands`)
BOOTLIST_SCRIPT = Path(__file__).with_name("sntakeover-bootlist")
#: nodes per bootlist command: its arguments list the address of each
BOOTLIST_CHUNK = 512
#: what may be put into a command line that a node's shell reads: an address, a name, or nothing
TOKEN = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9._:-]*)?")


class FactsUnavailable(Exception):
    """A table or attribute the node-side steps depend on could not be read."""


@dataclass(frozen=True)
class NodeFacts:
    ip: str
    os: str
    provmethod: str
    xcatmaster: str  # before the move
    postscripts: str  # the node's own or inherited value, without xcatdefaults
    postbootscripts: str


@dataclass
class Facts:
    nodes: dict[str, NodeFacts]
    ips: dict[str, str]  # name -> IP from the hosts table (nodes, backups, -D names)
    networks: list[dict[str, str]] = field(default_factory=list)  # enabled rows, table order
    defaults: tuple[str, str] = ("", "")  # xcatdefaults postscripts, postbootscripts
    sharedinstall: str = "no"
    master: str = ""  # site.master
    nimtype: dict[str, str] = field(default_factory=dict)  # image -> nimtype

    def resolve(self, name: str) -> str:
        """getipaddr: an IP stays as it is, a name is looked up; '' when unknown (or when the
        table holds something that is no address: it never reaches a node's shell)."""
        if _is_ipv4(name) or (name and name == self.master):
            found = name
        else:
            found = self.ips.get(name, "")
        return found if TOKEN.fullmatch(found) else ""

    def aix(self, node: str) -> bool:
        return self.nodes[node].os == "AIX"  # exactly 'AIX' (§2.7)

    def network(self, node: str) -> dict[str, str] | None:
        """The LAST networks row that contains the node's IP (getNetwkInfo, §2.7)."""
        found = None
        for row in self.networks:
            if _in_subnet(self.nodes[node].ip, row.get("mask", ""), row.get("net", "")):
                found = row
        return found


@functools.lru_cache(maxsize=65536)
def _v4(s: str) -> int | None:
    """The IPv4 address ``s`` as an integer, None when it is not one (a cluster has few distinct masks
    and nets, and each node's address is looked at once per networks row)."""
    try:
        return int(ipaddress.IPv4Address(s))
    except ValueError:
        return None


def _is_ipv4(s: str) -> bool:
    return _v4(s) is not None


def _in_subnet(ip: str, mask: str, net: str) -> bool:
    a, m, n = _v4(ip), _v4(mask), _v4(net)
    if a is None or m is None or n is None:
        return False
    return a & m == n & m


# -- reading ---------------------------------------------------------------------------


def _tabdump(ctx, table: str) -> list[dict[str, str]]:
    res = ctx.xcat("tabdump", table)
    if res.rc != 0 or res.timed_out:
        why = "timed out" if res.timed_out else (res.stderr.strip() or res.stdout.strip() or f"rc={res.rc}")
        raise FactsUnavailable(f"tabdump {table}: {why[:300]}")
    try:
        rows = parse_tabdump(res.stdout)
    except ValueError as exc:
        raise FactsUnavailable(f"tabdump {table}: {exc}") from None
    return [r for r in rows if row_enabled(r)]


def _nodels(ctx, names: list[str], columns: Iterable[str]) -> dict[str, dict[str, str]]:
    res = ctx.xcat("nodels", ",".join(names), "-H", *columns)
    if res.rc != 0 or res.timed_out:
        why = "timed out" if res.timed_out else "; ".join(error_lines(res.stderr)) or res.stderr.strip()
        raise FactsUnavailable(f"nodels: {why[:300] or f'rc={res.rc}'}")
    return parse_nodels(res.stdout)


def read_facts(ctx, plan: Plan, destn: dict[str, str]) -> Facts:
    """Everything the node-side steps need, read before the database move.

    :param destn: backup -> the ``-D`` name the nodes will know it by (``takeover.destn``).
    :raises FactsUnavailable: a command failed or its output is incomplete.
    """
    nodes = check_names(plan.nodes)
    backups = sorted({m.backup for m in plan.moves})
    names = list(dict.fromkeys([*nodes, *backups]))
    # independent reads, at the same time
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="facts") as pool:
        reading = {t: pool.submit(_tabdump, ctx, t) for t in ("site", "networks", "postscripts")}
        got = _nodels(ctx, names, NODE_COLUMNS)
        tables = {t: f.result() for t, f in reading.items()}
    missing = [n for n in nodes if n not in got]
    if missing:
        raise FactsUnavailable(f"nodels printed nothing for {', '.join(missing[:5])}")
    facts = Facts(
        nodes={n: NodeFacts(*(got[n].get(c, "") for c in NODE_COLUMNS)) for n in nodes},
        ips={n: got.get(n, {}).get("hosts.ip", "") for n in names},
    )
    site = {r.get("key", ""): r.get("value", "") for r in tables["site"]}
    facts.sharedinstall = site.get("sharedinstall", "") or "no"
    facts.master = site.get("master", "")
    facts.networks = tables["networks"]
    for row in tables["postscripts"]:
        if row.get("node") == "xcatdefaults":
            facts.defaults = (row.get("postscripts", ""), row.get("postbootscripts", ""))
            break
    if any(facts.aix(n) for n in nodes):
        facts.nimtype = {r.get("imagename", ""): r.get("nimtype", "") for r in _tabdump(ctx, "nimimage")}
    # -D names that are not IPs: the hosts table, when the name is a node (nodels refuses
    # the whole request for an unknown name, so ask one at a time); else unresolvable
    for b in backups:
        name = destn.get(b, "")
        if name and not _is_ipv4(name) and name not in facts.ips:
            try:
                facts.ips[name] = _nodels(ctx, check_names([name]), ["hosts.ip"]).get(name, {}).get("hosts.ip", "")
            except FactsUnavailable:
                facts.ips[name] = ""
    return facts


def refuse_reason(facts: Facts) -> str | None:
    """Why the node-side steps cannot be done here without plain snmove, or None."""
    if facts.sharedinstall == "sns" and any(facts.aix(n) for n in facts.nodes):
        # snmove then rebuilds statelite files in shared_root and re-targets the dump
        # device (§2.3 step 13), which -i skips and this strategy does not repeat
        return "site.sharedinstall is 'sns' (snmove re-targets the dump device on AIX nodes)"
    return None


def read_moved(ctx, plan: Plan) -> dict[str, tuple[str, str]]:
    """Node -> (servicenode, xcatmaster) for every planned node whose first entry is now its backup.

    :raises FactsUnavailable: lsdef did not answer.
    """
    res = ctx.xcat("lsdef", "-t", "node", "-o", ",".join(check_names(plan.nodes)), "-i", "servicenode,xcatmaster")
    if res.timed_out or (res.rc != 0 and not res.stdout.strip()):
        raise FactsUnavailable(f"lsdef after the move: {'timed out' if res.timed_out else res.stderr.strip()[:300]}")
    db = parse_lsdef(res.stdout)
    out = {}
    for m in plan.moves:
        a = db.get(m.node)
        if a and a.get("servicenode", "").split(",")[0] == m.backup:
            out[m.node] = (a.get("servicenode", ""), a.get("xcatmaster", ""))
    return out


# -- commands ----------------------------------------------------------------------------


def _grouped(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, dict[str, None]] = {}  # dicts keep the first-seen order and find a repeat in O(1)
    for key, node in pairs:
        out.setdefault(key, {})[node] = None
    return {key: list(members) for key, members in out.items()}


def niminit_commands(facts: Facts, moved: dict[str, tuple[str, str]]) -> list[list[str]]:
    """AIX standalone (diskful) nodes only, one node per command (§2.3 step 14)."""
    out = []
    for n, (sn, _) in moved.items():
        if facts.aix(n) and facts.nimtype.get(facts.nodes[n].provmethod) == "standalone":
            out.append(["xdsh", n, f"/usr/sbin/niminit -a name={n} -a master={sn.split(',')[0]} >/dev/null 2>&1"])
    return out


def xcatinfo_commands(facts: Facts, moved: dict[str, tuple[str, str]]) -> list[list[str]]:
    """AIX: ``/etc/xcatinfo`` names the IP of the new xcatmaster; one command per IP (§2.3 step 16)."""
    groups = _grouped((facts.resolve(xm), n) for n, (_, xm) in moved.items() if facts.aix(n))
    return [["xdsh", ",".join(ns), f'echo "XCATSERVER={ip}" > /etc/xcatinfo'] for ip, ns in groups.items()]


def route_groups(facts: Facts, moved: dict[str, tuple[str, str]]) -> dict[str, list[str]]:
    """New gateway IP -> nodes, for nodes in networks whose gateway is ``<xcatmaster>`` (§2.3 step 17)."""
    pairs = []
    for row in facts.networks:
        if row.get("gateway", "").rstrip("\n") != XCATMASTER_GATEWAY:
            continue
        for n, (_, xm) in moved.items():
            if _in_subnet(facts.nodes[n].ip, row.get("mask", ""), row.get("net", "")):
                gip = facts.resolve(xm)
                if gip:
                    pairs.append((gip, n))
    return _grouped(pairs)


def default_gateways(lines: list[str]) -> list[str]:
    """Gateways of the ``default`` routes in one node's ``netstat -rn`` lines (without the ``node: `` prefix)."""
    out = []
    for line in lines:
        f = line.split(":")[0].split()  # perl: the text up to the next colon
        if len(f) >= 2 and f[0] == "default":
            out.append(f[1])
    return out


def route_commands(facts: Facts, groups: dict[str, list[str]], netstat_rn: str) -> list[list[str]]:
    """Linux: ``route add default gw`` on every group. AIX: ``route change default`` on a
    group when one of its nodes has a default route via its old xcatmaster and none via
    the new one -- on the whole group, as snmove does (it targets the group from inside
    its per-node loop)."""
    seen = parse_node_lines(netstat_rn)
    out = []
    for gw, members in groups.items():
        aix = [n for n in members if facts.aix(n)]
        linux = [n for n in members if not facts.aix(n)]
        if linux:
            out.append(["xdsh", ",".join(linux), "-v", f"route add default gw {gw}"])
        for n in aix:
            gws = default_gateways(seen.get(n, []))
            old = facts.resolve(facts.nodes[n].xcatmaster)
            if old in gws and gw not in gws:
                out.append(["xdsh", ",".join(aix), "-v", f"route change default {gw}"])
                break
    return out


def boot_gateway(facts: Facts, node: str, servicenode: str) -> str:
    """The networks gateway for the node; ``<xcatmaster>`` is the address of the node's
    (new) service node as the MN knows it."""
    gw = (facts.network(node) or {}).get("gateway", "")
    if gw == XCATMASTER_GATEWAY:
        first = servicenode.split(",")[0]
        gw = facts.resolve(first) if first else ""
    return gw


def bootlist_script(state_dir: str | os.PathLike[str]) -> str:
    """The path of :data:`BOOTLIST_SCRIPT` as an executable file (xdsh -e refuses any other):
    the packaged file, or a copy in ``state_dir`` when the installation dropped its mode."""
    if os.access(BOOTLIST_SCRIPT, os.X_OK):
        return str(BOOTLIST_SCRIPT)
    copy = Path(state_dir) / BOOTLIST_SCRIPT.name
    text = BOOTLIST_SCRIPT.read_bytes()
    if not copy.is_file() or copy.read_bytes() != text or not os.access(copy, os.X_OK):
        tmp = copy.with_name(copy.name + ".tmp")
        tmp.write_bytes(text)
        tmp.chmod(0o755)
        os.replace(tmp, copy)
    return str(copy)


def bootlist_commands(facts: Facts, moved: dict[str, tuple[str, str]], script: str,
                      chunk: int = BOOTLIST_CHUNK) -> tuple[list[list[str]], dict[str, str]]:
    """AIX: snmove's bootlist step (§2.3 step 18) as
    ``xdsh <nodes> -e <script> gateway=<gw> bserver=<new xcatmaster IP> <address>...``, one
    command per (gateway, bserver) pair and at most ``chunk`` nodes.

    snmove's command names the node's own IP (``client=``), so it sends one per node; the
    script (:data:`BOOTLIST_SCRIPT`) gets the addresses of all the command's nodes and each
    node takes the one its ``netstat -in`` shows, with that interface, as snmove does.

    Returns the commands and, for nodes whose values are no address, the reason (no
    command is sent to them).
    """
    groups: dict[tuple[str, str], list[str]] = {}
    skipped = {}
    for n, (sn, xm) in moved.items():
        if not facts.aix(n):
            continue
        ip = facts.nodes[n].ip
        parts = (boot_gateway(facts, n, sn), facts.resolve(xm), ip)
        bad = [p for p in parts if not TOKEN.fullmatch(p)]
        if bad or not ip:
            what = repr(bad[0][:60]) if bad else "an empty address"
            skipped[n] = f"bootlist not set: {what} is not an address"
            continue
        groups.setdefault(parts[:2], []).append(n)
    cmds = []
    for (gw, bserver), members in groups.items():
        for i in range(0, len(members), max(1, chunk)):
            part = members[i:i + chunk]
            ips = list(dict.fromkeys(facts.nodes[n].ip for n in part))
            cmds.append(["xdsh", ",".join(part), "-e", script, f"gateway={gw}", f"bserver={bserver}", *ips])
    return cmds, skipped


def node_scripts(facts: Facts, node: str, user_posts: str) -> str:
    """The postscripts snmove runs on a node (§2.3 step 19), as an ``updatenode -P`` list.

    With ``-P all`` it is the joined list as snmove builds it, empty items included: it
    is never empty (``","`` when nothing is listed), so snmove always runs ``updatenode
    -s`` then, which rewrites ``/etc/xcatinfo`` even on Linux nodes.
    """
    dps, dpbs = facts.defaults
    nf = facts.nodes[node]
    if nf.postscripts or nf.postbootscripts:
        joined = ",".join([dps, nf.postscripts, dpbs, nf.postbootscripts])
    else:
        joined = ",".join([dps, dpbs])
    if user_posts == "all":
        return joined
    listed = joined.split(",")
    valid = VALID_SCRIPTS[:2] if facts.aix(node) and facts.sharedinstall == "sns" else VALID_SCRIPTS
    run = ",".join(s for s in valid if s in listed)
    if user_posts:
        run = f"{run},{user_posts}" if run else user_posts
    return run


def postscript_commands(facts: Facts, moved: dict[str, tuple[str, str]],
                        user_posts: str) -> list[tuple[list[str], list[str]]]:
    """Per identical script list: (``updatenode <nodes> -s``, ``updatenode <nodes> -P <list>``)."""
    groups = _grouped((node_scripts(facts, n, user_posts), n) for n in moved)
    return [(["updatenode", ",".join(ns), "-s"], ["updatenode", ",".join(ns), "-P", scripts])
            for scripts, ns in groups.items() if scripts]


def route_failure_ignored(stdout: str, stderr: str) -> bool:
    """snmove ignores a failed route command whose output says ``File exists`` (§2.3 step 17)."""
    return " File exists" in stdout + stderr
