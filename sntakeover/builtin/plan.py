"""Built-in planner: every node whose *first* servicenode entry is the failed SN.

Reads the live xCAT database once, when the incident is confirmed:

* ``lsdef -t node -w servicenode=~^SN(,|$) -i servicenode,xcatmaster,os``:
  each node whose list starts with the SN moves to its 2nd entry; a node
  without one (or whose 2nd entry is the SN itself) is skipped with the reason;
* ``tabdump statelite``: snmove substitutes ``$``-variables of a statelite row
  *in place* while it walks the nodes of one call, so the first node's value
  leaks into the next ones (xcat.md §2.7; snmove.pm's statelite loop). Nodes
  covered by such a row, when more than one of them moves, are marked ``solo``:
  every strategy moves each of them with its own snmove call. If the table
  cannot be read, every node is moved on its own, to be safe. A row naming
  another server than the failed SN (an external NFS server) gets a warning:
  snmove rewrites any server without a ``$``-variable to the new xcatmaster.

Whether each backup SN is healthy is not the planner's business: the engine
probes the backups before moving and waits for them (``awaiting-backup``).
"""

from __future__ import annotations

import logging
import re

from sntakeover import hookimpl
from sntakeover.errors import Retry
from sntakeover.model import NodeMove, Plan
from sntakeover.noderange import natural_sorted
from sntakeover.xcatdb import group_members, nodes_served_by, parse_tabdump
from sntakeover.xcatout import valid_name

log = logging.getLogger(__name__)


def statelite_hazards(ctx, planned: list[str], servers: set[str] = frozenset()) -> tuple[set[str], list[str]]:
    """Planned nodes that must move one per snmove call, and the warnings to say why.

    :param servers: the names and addresses of the failed SN as its nodes know it (their
        xcatmaster): a row whose server is none of them is another host's (an external NFS
        server), which snmove rewrites all the same.
    """
    res = ctx.xcat("tabdump", "statelite")
    try:
        if res.rc != 0 or res.timed_out:
            raise ValueError((res.stderr.strip() or f"rc={res.rc}")[:200])
        rows = parse_tabdump(res.stdout)
    except ValueError as exc:
        return set(planned), [f"could not read the statelite table ({exc}); every node is moved by its own "
                              "snmove call, so no statelite value can leak from one node to another"]
    solo: set[str] = set()
    warnings = []
    for row in rows:
        mount = row.get("statemnt", "")
        if row.get("disable") in ("1", "yes"):
            continue
        server = mount.split(":", 1)[0]
        variable = "$" in mount or "#CMD" in mount
        if not variable and (not server or server in servers):
            continue  # the failed SN's own row: snmove syncs it to the backup, as it should
        members = _members(ctx, row.get("node", ""))
        # snmove.pm: grep(/$n/, @nodeattr) -- a substring (regex) match, so cn1 is covered by cn10's row
        covered = [n for n in planned if any(re.search(n, m) for m in members)]
        if not variable:
            if covered:
                warnings.append(
                    f"statelite row {row.get('node')!r} ({mount}) names {server}, not the failed SN, and covers "
                    f"{len(covered)} planned node(s): snmove rewrites a server without a $-variable to the new "
                    f"xcatmaster, so each of them gets a per-node row <new xcatmaster>:{mount.split(':', 1)[-1]}. "
                    f"If {server} is an external NFS server, check the statelite table after the takeover")
            continue
        if len(covered) > 1:
            solo.update(covered)
            warnings.append(
                f"statelite row {row.get('node')!r} ({mount}) covers {len(covered)} planned nodes: in one snmove "
                f"call the first node's substituted value would be written for the others (e.g. {covered[1]} would "
                f"get {covered[0]}'s directory); these nodes are moved one per snmove call")
    return solo, warnings


def _members(ctx, noderange: str) -> list[str]:
    if not noderange:
        return []
    try:
        return group_members(ctx, noderange) or [noderange]
    except Retry:
        return [noderange]


@hookimpl(trylast=True)
def sntakeover_plan(incident, ctx):
    sn = incident.servicenode
    served = nodes_served_by(ctx, sn)
    if incident.nodes:
        wanted = set(incident.nodes)
        served = {n: a for n, a in served.items() if n in wanted}
    moves: list[NodeMove] = []
    skipped: dict[str, str] = {}
    for node in natural_sorted(served):
        attrs = served[node]
        entries = [e for e in attrs.get("servicenode", "").split(",") if e]
        if not valid_name(node):
            skipped[node] = "node name is not a valid xCAT name"
        elif len(entries) < 2:
            skipped[node] = f"no backup service node (servicenode={attrs.get('servicenode', '')})"
        elif entries[1] == sn:
            skipped[node] = f"backup is the failed SN itself (servicenode={attrs['servicenode']})"
        elif not valid_name(entries[1]):
            skipped[node] = f"backup {entries[1]!r} is not a valid xCAT name"
        else:
            moves.append(NodeMove(node, sn, entries[1], attrs["servicenode"], attrs.get("xcatmaster", ""),
                                  os=attrs.get("os", "")))
    warnings: list[str] = []
    if moves:
        solo, warnings = statelite_hazards(ctx, [m.node for m in moves], {sn, *(m.xcatmaster for m in moves)})
        if solo:
            moves = [NodeMove(**{**m.__dict__, "solo": True}) if m.node in solo else m for m in moves]
    return Plan(tuple(moves), skipped, tuple(warnings))


@hookimpl
def sntakeover_required_commands(config):
    return ["lsdef", "tabdump", "nodels"]
