"""Built-in planner: every node whose *first* servicenode entry is the failed SN.

Reads the live xCAT database with ``lsdef -t node -w servicenode=~^SN(,|$)``,
checks each node's list itself (first entry exactly the SN, a 2nd entry to
move to) and, with ``takeover.check_backup``, leaves out nodes whose backup SN
does not answer ``nodestat`` either.
"""

from __future__ import annotations

import logging
import re

from sntakeover import hookimpl
from sntakeover.errors import Retry
from sntakeover.model import NodeMove, Plan
from sntakeover.xcatout import parse_lsdef, parse_node_lines, perl_regex_literal, valid_name

log = logging.getLogger(__name__)


def natural_key(name: str) -> list:
    """Sort cn2 before cn10."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def nodes_served_by(ctx, sn: str) -> dict[str, dict[str, str]]:
    """Node -> {servicenode, xcatmaster} for every node whose first entry is ``sn``."""
    res = ctx.xcat("lsdef", "-t", "node", "-w", f"servicenode=~^{perl_regex_literal(sn)}(,|$)",
                   "-i", "servicenode,xcatmaster")
    if res.timed_out:
        raise Retry(f"lsdef timed out after {res.duration:.0f}s")
    if "No object definitions have been found" in res.stdout + res.stderr:
        return {}
    if res.rc != 0 and not res.stdout.strip():
        raise Retry(f"lsdef failed (rc={res.rc}): {res.stderr.strip()[:300]}")
    objs = parse_lsdef(res.stdout)
    return {n: a for n, a in objs.items() if a.get("servicenode", "").split(",")[0] == sn}


def backup_down(ctx, backups: set[str]) -> dict[str, str]:
    """Backups that ``nodestat`` reports as not pingable (backup -> what it said)."""
    if not backups:
        return {}
    res = ctx.xcat("nodestat", ",".join(sorted(backups)))
    seen = parse_node_lines(res.stdout)
    out = {}
    for b in backups:
        state = (seen.get(b) or ["no answer"])[0]
        if state.startswith("noping") or b not in seen:
            out[b] = state
    return out


@hookimpl(trylast=True)
def sntakeover_plan(incident, ctx):
    sn = incident.servicenode
    served = nodes_served_by(ctx, sn)
    moves: list[NodeMove] = []
    skipped: dict[str, str] = {}
    for node in sorted(served, key=natural_key):
        attrs = served[node]
        entries = [e for e in attrs.get("servicenode", "").split(",") if e]
        if not valid_name(node):
            skipped[node] = "node name is not a valid xCAT name"
        elif len(entries) < 2:
            skipped[node] = f"no backup service node (servicenode={attrs.get('servicenode', '')})"
        elif entries[1] == sn:
            skipped[node] = f"backup is the failed SN itself (servicenode={attrs['servicenode']})"
        else:
            moves.append(NodeMove(node, sn, entries[1], attrs["servicenode"], attrs.get("xcatmaster", "")))
    if ctx.config.get("takeover", "check_backup") and moves:
        dead = backup_down(ctx, {m.backup for m in moves})
        if dead:
            for m in moves:
                if m.backup in dead:
                    skipped[m.node] = f"backup {m.backup} is not reachable either ({dead[m.backup]})"
            moves = [m for m in moves if m.backup not in dead]
    return Plan(tuple(moves), skipped)


@hookimpl
def sntakeover_required_commands(config):
    return ["lsdef", "nodestat"] if config.get("takeover", "check_backup") else ["lsdef"]
