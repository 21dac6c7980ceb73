"""Option parsing in the style of Perl's Getopt::Long with ``bundling``.

Single-letter options can be bundled (``-iV``), a value may follow the
letter directly (``-ssn1``) or as the next word; long options take ``--name
value`` or ``--name=value`` and may be abbreviated to a unique prefix.
Positional arguments may appear anywhere (permute). An unknown option raises
:class:`GetoptError` with Getopt::Long's message ``Unknown option: x``.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


class GetoptError(Exception):
    pass


def getopt_bundling(args: list[str], spec: dict[str, tuple[tuple[str, ...], bool]]) -> tuple[dict[str, str | bool], list[str]]:
    short: dict[str, tuple[str, bool]] = {}
    long: dict[str, tuple[str, bool]] = {}
    for key, (aliases, val) in spec.items():
        for a in aliases:
            (short if len(a) == 1 else long)[a] = (key, val)
    opts: dict[str, str | bool] = {}
    pos: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            pos.extend(args[i + 1:])
            break
        if a.startswith("--") and len(a) > 2:
            name, eq, value = a[2:].partition("=")
            cands = [k for k in long if k == name] or [k for k in long if k.startswith(name)]
            if len(cands) != 1:
                raise GetoptError(f"Unknown option: {name}" if not cands else f"Option {name} is ambiguous")
            key, takes = long[cands[0]]
            if takes:
                if not eq:
                    i += 1
                    if i >= len(args):
                        raise GetoptError(f"Option {name} requires an argument")
                    value = args[i]
                opts[key] = value
            else:
                opts[key] = True
        elif a.startswith("-") and len(a) > 1:
            j = 1
            while j < len(a):
                ch = a[j]
                if ch not in short:
                    raise GetoptError(f"Unknown option: {ch}")
                key, takes = short[ch]
                if takes:
                    rest = a[j + 1:]
                    if not rest:
                        i += 1
                        if i >= len(args):
                            raise GetoptError(f"Option {ch} requires an argument")
                        rest = args[i]
                    opts[key] = rest
                    break
                opts[key] = True
                j += 1
        else:
            pos.append(a)
        i += 1
    return opts, pos
