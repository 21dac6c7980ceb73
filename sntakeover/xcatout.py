"""Parsers for xCAT command output (formats in xcat.md §2.2 and §3), and the checks on the command lines sent."""

from __future__ import annotations

import csv
import re
from typing import Iterable

#: what an xCAT object name may look like (same as schemas/event.v1.json); use fullmatch:
#: ``$`` alone would also accept a trailing newline
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def valid_name(name: str) -> bool:
    return bool(NAME_RE.fullmatch(name))


def check_names(names: Iterable[str]) -> list[str]:
    """Return the names, refusing any that could be read as an option or a pattern."""
    out = list(names)
    bad = [n for n in out if not valid_name(n)]
    if bad:
        raise ValueError(f"invalid xCAT object name(s): {', '.join(map(repr, bad[:5]))}")
    return out


def with_fanout(argv: list[str], fanout: int) -> list[str]:
    """``argv`` with its fan-out (``xcat.fanout``): ``xdsh <nodes> -f N ...``, ``updatenode <nodes> ...
    --fanout=N``; other commands as they are."""
    if argv[:1] == ["xdsh"]:
        return [*argv[:2], "-f", str(fanout), *argv[2:]]
    if argv[:1] == ["updatenode"]:
        return [*argv, f"--fanout={fanout}"]
    return argv


def perl_regex_literal(name: str) -> str:
    """Escape a name for a Perl regex (lsdef -w =~): only '.' is special in valid names."""
    return name.replace(".", r"\.")


def parse_lsdef(text: str) -> dict[str, dict[str, str]]:
    """Parse a long ``lsdef`` listing: ``Object name: cn1`` then ``    attr=value`` lines."""
    objs: dict[str, dict[str, str]] = {}
    cur: dict[str, str] | None = None
    for line in text.splitlines():
        if line.startswith("Object name: "):
            name = line[len("Object name: "):].split("  (", 1)[0].strip()
            cur = objs.setdefault(name, {})
        elif cur is not None and line.startswith("    ") and "=" in line:
            k, v = line.strip().split("=", 1)
            cur[k] = v
    return objs


def parse_node_lines(text: str) -> dict[str, list[str]]:
    """Parse ``node: text`` lines (nodestat, xdsh, rpower) into node -> lines."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        node, sep, rest = line.partition(": ")
        if sep and valid_name(node):
            out.setdefault(node, []).append(rest)
        elif line.endswith(":") and valid_name(line[:-1]):
            out.setdefault(line[:-1], []).append("")
    return out


def error_lines(stderr: str) -> list[str]:
    """The ``Error: ...`` lines of an xCAT command, without the prefix (and a ``[host]: `` insert)."""
    out = []
    for line in stderr.splitlines():
        if line.startswith("Error: "):
            msg = line[len("Error: "):]
            msg = re.sub(r"^\[[^\]]+\]: ", "", msg)
            out.append(msg)
    return out


#: how xCAT names a node that failed (xcat.md §2.3, §2.6, §3.6); NODE is the node name
NODE_FAILURE_PATTERNS = (
    r"on node (?P<n>NODE)\.",  # Could not run '<cmd>' on node cn1.  / niminit
    r"for node (?P<n>NODE)\.",  # Could not determine a backup service node / an xcatmaster value for node cn1.
    r"node '(?P<n>NODE)'",  # Could not resolve node 'cn1'.
    r"^(?P<n>NODE) is not responding",  # xdsh -v / updatenode
    r"connect to host (?P<n>NODE) port",  # ssh failure relayed by xdsh
    r"(?P<n>NODE): .*(?:not responding|No route to host|Connection refused|Connection timed out|"
    r"Permission denied|remote shell had error|[Tt]imed out)",
    r"statelite '[^']*/(?P<n>NODE)'",  # Could not sync statelite '<dir>/cn1'.
)
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*?"


def attribute_errors(stdout: str, stderr: str, nodes: Iterable[str], *,
                     node_lines: bool = False) -> tuple[dict[str, str], list[str]]:
    """Split error text into per-node failures and the rest.

    Only messages that say a node *failed* are charged to it (see
    :data:`NODE_FAILURE_PATTERNS`); ``cn1: <output>`` lines that xCAT relays
    inside an error block because another node failed are not. Node names can
    be prefixes of each other: ``cn1`` is never charged for ``cn10``.

    ``node_lines``: the text is the output of ``xdsh`` itself, which prints each
    node's own stderr as ``node: text`` (xcat.md §3.6); such a line is that
    node's failure, whatever it says.
    """
    wanted = set(nodes)
    per_node: dict[str, list[str]] = {}
    general: list[str] = []
    lines = error_lines(stderr)
    plain = ("Could not determine", "not responding", "Command failed", "Could not run", "Invalid nodes")
    rest = [ln for ln in stderr.splitlines() if not ln.startswith("Error: ")]
    if node_lines:
        unclaimed = []
        for line in rest:
            node, sep, _ = line.partition(": ")
            if sep and node in wanted:
                per_node.setdefault(node, []).append(line)
            else:
                unclaimed.append(line)
        rest = unclaimed
    for line in stdout.splitlines() + rest:
        if any(p in line for p in plain):
            lines.append(line)
    patterns = [re.compile(p.replace("NODE", _NAME)) for p in NODE_FAILURE_PATTERNS]
    for line in dict.fromkeys(lines):  # keep order, drop repeats
        hit = set()
        for pat in patterns:
            for m in pat.finditer(line):
                if m.group("n") in wanted:
                    hit.add(m.group("n"))
        if "Invalid nodes in noderange:" in line:
            hit |= {n.strip() for n in line.split("noderange:", 1)[1].rstrip(".").split(",") if n.strip() in wanted}
        if not hit:
            general.append(line)
        for n in sorted(hit):
            per_node.setdefault(n, []).append(line)
    return {n: " | ".join(dict.fromkeys(v)) for n, v in per_node.items()}, general


def parse_nodels(text: str) -> dict[str, dict[str, str]]:
    """Parse ``nodels <nr> table.col ...`` with two or more columns (xcat.md §3.4):
    ``cn1: noderes.servicenode: sn1,sn2`` -> {"cn1": {"noderes.servicenode": "sn1,sn2"}}."""
    out: dict[str, dict[str, str]] = {}
    for node, rests in parse_node_lines(text).items():
        for rest in rests:
            col, sep, value = rest.partition(": ")
            if not sep and col.endswith(":"):
                col, value = col[:-1], ""
            if "." in col:
                out.setdefault(node, {})[col] = value
    return out


def parse_tabdump(text: str) -> list[dict[str, str]]:
    """Parse ``tabdump <table>``: a ``#col1,col2,...`` header, then one CSV line per row,
    values in double quotes (``""`` inside), empty values unquoted.

    :raises ValueError: the text does not start with the ``#`` header.
    """
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or not lines[0].startswith("#"):
        raise ValueError(f"not tabdump output: {text[:120]!r}")
    cols = lines[0][1:].split(",")
    return [dict(zip(cols, row + [""] * (len(cols) - len(row)))) for row in csv.reader(lines[1:])]


def row_enabled(row: dict[str, str]) -> bool:
    """xCAT skips table rows whose ``disable`` column is set (anything but empty, 0 or no)."""
    return row.get("disable", "").strip().lower() in ("", "0", "no")
