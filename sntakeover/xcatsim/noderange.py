"""xCAT noderange expansion against the simulated nodelist.

Supported: comma lists, node and group names, ``all``, ``cn[01-10]`` (also
several brackets), ``cn01-cn10`` and ``cn1:cn5`` ranges (zero padding kept),
``/regex`` (whole-name match), exclusion with a leading ``-`` (exclusion
wins), intersection ``a@b``. ``expand`` returns the nodes in natural order and
the names that are not nodes (``nodesmissed``).

Expansion looks up only what a token needs: a name is one indexed lookup, a
group reads its members from the group index, a range looks up the names it
generates; only ``all`` and ``/regex`` read every node name. It works on the
store (:class:`db.DB`) or on the dict form of a cluster.

With ``verify=False`` (xCAT's ``noderange($range, 0)``, used by snmove for
statelite rows) names that are not nodes are kept as they are, and a
``/regex`` token is returned literally.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Protocol

from . import state as st

log = logging.getLogger(__name__)

_RANGE = re.compile(r"^(?P<p1>.*?)(?P<n1>\d+)(?P<s1>\D*)[-:](?P<p2>.*?)(?P<n2>\d+)(?P<s2>\D*)$")


class Names(Protocol):
    def all_nodes(self) -> list[str]: ...
    def is_node(self, name: str) -> bool: ...
    def existing(self, names: list[str]) -> set[str]: ...
    def group_members(self, group: str) -> list[str] | None: ...


class DictNames:
    """:class:`Names` over the dict form of a cluster."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state
        self.nodes = state["tables"]["nodelist"]

    def all_nodes(self) -> list[str]:
        return sorted(self.nodes)

    def is_node(self, name: str) -> bool:
        return name in self.nodes

    def existing(self, names: list[str]) -> set[str]:
        return {n for n in names if n in self.nodes}

    def group_members(self, group: str) -> list[str] | None:
        return [n for n in self.nodes if group in st.node_groups(self.state, n)] or None


def natural_key(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def split_top(nr: str) -> list[str]:
    out, cur, depth = [], "", 0
    for ch in nr:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return [t for t in out if t != ""]


def _num_range(a: str, b: str) -> list[str]:
    lo, hi = int(a), int(b)
    width = len(a) if (a.startswith("0") or len(a) == len(b)) and len(a) > 1 else 0
    step = 1 if hi >= lo else -1
    return [str(i).zfill(width) for i in range(lo, hi + step, step)]


def _bracket(tok: str) -> list[str] | None:
    m = re.search(r"\[([^\]]*)\]", tok)
    if not m:
        return None
    pre, post = tok[: m.start()], tok[m.end():]
    out: list[str] = []
    for part in m.group(1).split(","):
        if "-" in part:
            a, b = part.split("-", 1)
            vals = _num_range(a, b) if a.isdigit() and b.isdigit() else [part]
        else:
            vals = [part]
        for v in vals:
            sub = pre + v + post
            out.extend(_bracket(sub) or [sub])
    return out


def _atom(src: Names, tok: str, verify: bool) -> tuple[list[str], list[str]]:
    """Expand one token: (found nodes, missing names)."""
    if tok == "all":
        return src.all_nodes(), []
    if src.is_node(tok):
        return [tok], []
    members = src.group_members(tok)
    if members is not None:
        return members, []
    if tok.startswith("/"):
        if not verify:
            return [tok], []
        rx = re.compile(tok[1:])
        return [n for n in src.all_nodes() if rx.fullmatch(n)], []
    names = _bracket(tok)
    if names is None:
        m = _RANGE.match(tok)
        if m and m["p1"] == m["p2"] and m["s1"] == m["s2"] and m["p1"] and not m["p1"].endswith(("-", ":")):
            names = [m["p1"] + n + m["s1"] for n in _num_range(m["n1"], m["n2"])]
    if names is None:
        return ([tok], []) if not verify else ([], [tok])
    if not verify:
        return names, []
    known = src.existing(names)
    return [n for n in names if n in known], [n for n in names if n not in known]


def expand(source: Names | dict[str, Any], nr: str, *, verify: bool = True) -> tuple[list[str], list[str]]:
    src: Names = DictNames(source) if isinstance(source, dict) else source
    inc: list[str] = []
    exc: set[str] = set()
    missing: list[str] = []
    for tok in split_top(nr):
        neg = tok.startswith("-") and len(tok) > 1
        if neg:
            tok = tok[1:]
        if "@" in tok and not tok.startswith("/"):
            sets = []
            for part in tok.split("@"):
                f, m = _atom(src, part, verify)
                missing.extend(m)
                sets.append(set(f))
            found = sorted(set.intersection(*sets)) if sets else []
        else:
            found, m = _atom(src, tok, verify)
            if not neg:
                missing.extend(m)
        if neg:
            exc.update(found)
        else:
            inc.extend(found)
    result = sorted({n for n in inc if n not in exc}, key=natural_key)
    seen: set[str] = set()
    miss = [m for m in missing if not (m in seen or seen.add(m))]
    return result, miss
