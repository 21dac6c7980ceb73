"""Reading the live xCAT database through its commands (never writing it).

These are the reads the core itself needs -- who is served by an SN now, how
many service nodes exist -- as opposed to plugin decisions. Each raises
:class:`~sntakeover.errors.Retry` when xCAT cannot answer, so a failed read
never looks like an empty answer.
"""

from __future__ import annotations

import csv
import io
import logging

from .errors import Retry
from .xcatout import parse_lsdef, perl_regex_literal, valid_name

log = logging.getLogger(__name__)


def nodes_served_by(ctx, sn: str, attrs: str = "os,servicenode,xcatmaster") -> dict[str, dict[str, str]]:
    """Node -> attributes for every node whose *first* servicenode entry is ``sn`` now."""
    res = ctx.xcat("lsdef", "-t", "node", "-w", f"servicenode=~^{perl_regex_literal(sn)}(,|$)", "-i", attrs)
    if res.timed_out:
        raise Retry(f"lsdef timed out after {res.duration:.0f} s")
    if "No object definitions have been found" in res.stdout + res.stderr:
        return {}
    if res.rc != 0 and not res.stdout.strip():
        raise Retry(f"lsdef failed (rc={res.rc}): {res.stderr.strip()[:300]}")
    objs = parse_lsdef(res.stdout)
    return {n: a for n, a in objs.items() if a.get("servicenode", "").split(",")[0] == sn}


def live_nodes(ctx, nodes: list[str]) -> dict[str, dict[str, str]]:
    """Node -> its servicenode and xcatmaster values now (``lsdef -o``)."""
    if not nodes:
        return {}
    res = ctx.xcat("lsdef", "-t", "node", "-o", ",".join(nodes), "-i", "servicenode,xcatmaster")
    if res.timed_out or (res.rc != 0 and not res.stdout.strip()):
        raise Retry(f"lsdef could not read the planned nodes (rc={res.rc}): {res.stderr.strip()[:200]}")
    return parse_lsdef(res.stdout)


def database_move_missing(move, live: dict[str, str], destn: str | None) -> bool:
    """Whether a node whose servicenode list already names its backup first still has the
    xcatmaster it had when planned (the list was reordered by hand: snmove never changes
    one without the other). Not when the configured ``-D`` name is that same value."""
    return bool(move.xcatmaster) and live.get("xcatmaster", "") == move.xcatmaster and destn != move.xcatmaster


#: what xcatd answers when a noderange names a node or group it does not know (xcat.md 3.1)
NOT_A_NODE = "Invalid nodes and/or groups in noderange"


def not_a_node(ctx, name: str) -> str:
    """xCAT's own words when it knows no node ``name`` (``nodels`` refuses it), else ``""``:
    it is one, or xCAT could not tell (no answer, another error) -- never a guess."""
    res = ctx.xcat("nodels", name)
    if res.timed_out or res.rc == 0:
        return ""
    said = next((line.strip() for line in f"{res.stderr}\n{res.stdout}".splitlines() if NOT_A_NODE in line), "")
    return said if name in said else ""


def group_members(ctx, noderange: str) -> list[str]:
    """``nodels <noderange>``: the node names (an unknown name makes xCAT refuse the whole range)."""
    res = ctx.xcat("nodels", noderange)
    if res.timed_out or res.rc != 0:
        raise Retry(f"nodels {noderange} failed (rc={res.rc}): {(res.stderr.strip() or res.stdout.strip())[:200]}")
    return [line.strip() for line in res.stdout.splitlines() if valid_name(line.strip())]


def parse_tabdump(text: str) -> list[dict[str, str]]:
    """Rows of ``tabdump <table>``: a ``#col,...`` header, then quoted CSV lines."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("#"):
        raise ValueError("no '#column,...' header")
    cols = lines[0][1:].split(",")
    return [dict(zip(cols, row)) for row in csv.reader(io.StringIO("\n".join(lines[1:]))) if row]
