"""Node names as admins read them: natural order, and xCAT noderanges.

:func:`natural_key` sorts ``cn2`` before ``cn10``. :func:`compress` writes a
set of node names as the shortest comma list of xCAT ranges that xCAT expands
back to exactly that set: ``cn1-cn64``, ``cn17,cn230-cn231``; zero padding is
kept the way xCAT detects it (``node001-node200``). A name is only joined into
a range when the range cannot be read any other way (its prefix and suffix hold
no ``-`` or ``:``); every other name is listed on its own.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

_TAIL_NUMBER = re.compile(r"^(?P<prefix>.*?)(?P<digits>\d+)(?P<suffix>\D*)$")


def natural_key(name: str) -> list[Any]:
    """Sort key: runs of digits compare as numbers (``cn2`` < ``cn10``)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def natural_sorted(names: Iterable[str]) -> list[str]:
    """In natural order; names that only differ in zero padding (cn9, cn09) in a fixed order."""
    return sorted(names, key=lambda n: (natural_key(n), n))


def _parts(name: str) -> tuple[str, str, int, int] | None:
    """(prefix, suffix, number, width) for a name that may join a range; width 0 = no zero padding."""
    m = _TAIL_NUMBER.match(name)
    if not m or not m["prefix"] or any(c in m["prefix"] + m["suffix"] for c in "-:"):
        return None
    digits = m["digits"]
    padded = len(digits) > 1 and digits.startswith("0")
    return m["prefix"], m["suffix"], int(digits), len(digits) if padded else 0


def _tokens(names: Iterable[str]) -> list[tuple[Any, str, int]]:
    """(sort key, token, how many nodes it stands for), in natural order."""
    out: list[tuple[Any, str, int]] = []
    runs: dict[tuple[str, str, int], list[tuple[int, str]]] = {}
    for name in set(names):
        p = _parts(name)
        if p is None:
            out.append(((natural_key(name), name), name, 1))
        else:  # padded names (cn007) join only names of the same width, unpadded ones only unpadded ones
            runs.setdefault((p[0], p[1], p[3]), []).append((p[2], name))
    # ... except that an unpadded name as wide as a padded group continues it (node099,node100: node099-node100)
    for (prefix, suffix, width) in [k for k in runs if k[2]]:
        plain = runs.get((prefix, suffix, 0), [])
        wide = [item for item in plain if len(str(item[0])) == width]
        if wide:
            runs[(prefix, suffix, width)] += wide
            runs[(prefix, suffix, 0)] = [item for item in plain if len(str(item[0])) != width]
    for items in runs.values():
        items.sort()
        first = last = 0
        for i in range(1, len(items) + 1):
            if i < len(items) and items[i][0] == items[last][0] + 1:
                last = i
                continue
            lo, hi = items[first][1], items[last][1]
            out.append(((natural_key(lo), lo), lo if first == last else f"{lo}-{hi}", last - first + 1))
            first = last = i
    out.sort(key=lambda t: t[0])
    return out


def compress(names: Iterable[str]) -> str:
    """The nodes as one xCAT noderange (natural order), e.g. ``cn1-cn3,cn7,cn9-cn10``; ``""`` for none."""
    return ",".join(tok for _, tok, _ in _tokens(names))


def shorten(names: Iterable[str], limit: int = 200) -> str:
    """:func:`compress`, cut after about ``limit`` characters with ``,... (N more)``; ``none`` for no node."""
    tokens = _tokens(names)
    if not tokens:
        return "none"
    shown: list[str] = []
    used = length = 0
    for _, tok, count in tokens:
        if shown and length + len(tok) + 1 > limit:
            break
        shown.append(tok)
        used += count
        length += len(tok) + 1
    total = sum(c for _, _, c in tokens)
    return ",".join(shown) + (f",... ({total - used} more)" if used < total else "")
