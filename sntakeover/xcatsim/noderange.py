"""xCAT noderange expansion against the simulated nodelist.

Supported: comma lists, node and group names, ``all``, ``cn[01-10]`` (also
several brackets), ``cn01-cn10`` and ``cn1:cn5`` ranges (zero padding kept),
``/regex`` (whole-name match), exclusion with a leading ``-`` (exclusion
wins), intersection ``a@b``. ``expand`` returns the nodes in natural order and
the names that are not nodes (``nodesmissed``).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from . import state as st

log = logging.getLogger(__name__)

_RANGE = re.compile(r"^(?P<p1>.*?)(?P<n1>\d+)(?P<s1>\D*)[-:](?P<p2>.*?)(?P<n2>\d+)(?P<s2>\D*)$")


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


def _atom(state: dict[str, Any], tok: str, nodes: set[str], groups: set[str]) -> tuple[list[str], list[str]]:
    """Expand one token: (found nodes, missing names)."""
    if tok == "all":
        return sorted(nodes), []
    if tok in nodes:
        return [tok], []
    if tok in groups:
        return [n for n in nodes if tok in st.node_groups(state, n)], []
    if tok.startswith("/"):
        rx = re.compile(tok[1:])
        return [n for n in nodes if rx.fullmatch(n)], []
    names = _bracket(tok)
    if names is None:
        m = _RANGE.match(tok)
        if m and m["p1"] == m["p2"] and m["s1"] == m["s2"] and m["p1"] and not m["p1"].endswith(("-", ":")):
            names = [m["p1"] + n + m["s1"] for n in _num_range(m["n1"], m["n2"])]
    if names is None:
        return [], [tok]
    return [n for n in names if n in nodes], [n for n in names if n not in nodes]


def expand(state: dict[str, Any], nr: str) -> tuple[list[str], list[str]]:
    nodes = set(st.all_nodes(state))
    groups = st.all_groups(state)
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
                f, m = _atom(state, part, nodes, groups)
                missing.extend(m)
                sets.append(set(f))
            found = sorted(set.intersection(*sets)) if sets else []
        else:
            found, m = _atom(state, tok, nodes, groups)
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
