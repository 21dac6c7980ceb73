"""snmove's statelite step (AIX, ``site.sharedinstall=no``), exactly as xCAT's code does it.

Line numbers refer to xcat-core at commit 7733d16f8de0fc36b80638c04a7033931fa13304:
``SM`` = xCAT-server/lib/xcat/plugins/snmove.pm, ``SU`` = xCAT-server/lib/perl/xCAT/SvrUtils.pm.

For each enabled ``statelite`` row (SM 600, ``getAllEntries`` without "all"),
``statemnt`` is split at ``:`` into ``$server`` and ``$dir`` (SM 613), the
row's noderange is expanded without verification (SM 616), and the snmove
nodes are walked in order; a node is covered when it matches any member as a
regular expression, i.e. as a substring (SM 627). ``$server`` and ``$dir``
belong to the row and are rewritten **in place** while walking its nodes:

* ``$server`` containing ``$`` is replaced by its substitution for this node
  (SM 633-637) and no row is written for the node; otherwise the node gets a
  node-level row ``<new xcatmaster>:<current $dir>`` (SM 649-651), built
  *before* this node's ``$dir`` substitution.
* ``$dir`` containing ``$`` or ``#CMD`` is replaced by its substitution for
  this node, then ``//`` -> ``/`` (SM 655-658).

So for ``10.0.0.1:/state/$node`` and nodes cn4, cn5 in one call: cn4's row is
``<xm>:/state/$node``, ``$dir`` becomes ``/state/cn4``, cn5's row is
``<xm>:/state/cn4``; the dirs synced are ``/state/cn4/cn4`` and
``/state/cn4/cn5``. With a ``$`` in the server the first node gets no row and
the later ones a literal one.

The directory synced for a node is ``$dir/<short name>`` (SM 667-673); when
``$server`` equals the node's old xcatmaster it is rsynced from the old SN to
the new one, once per (dir, old, new) (SM 676-746). The rows are written in
the database step (SM 775-780; xCAT walks them in Perl hash order, the
simulator in the order they were made).
"""

from __future__ import annotations

import logging
import re
import subprocess
from typing import Any

from . import noderange
from .state import TABLES
from .xcmd import xcmd

log = logging.getLogger(__name__)

# a node name a Perl /$n/ reads as a plain substring
_LITERAL = re.compile(r"[A-Za-z0-9_-]*")


def perl_split(sep: str, text: str | None) -> list[str]:
    """Perl's split on a literal separator: trailing empty fields removed."""
    if not text:
        return []
    parts = text.split(sep)
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def perl_dirname(path: str) -> str:
    """File::Basename::dirname for the paths snmove builds (never ending in '/')."""
    if "/" not in path:
        return "."
    head = path.rsplit("/", 1)[0]
    return head or "/"


def subvars(ctx: Any, text: str, node: str, kind: str) -> str | None:
    """xCAT::SvrUtils->subVars (SU 1538-1643): ``$table.column`` / ``$node`` in each ``/`` part, then ``#CMD=...#``.

    Returns None where xCAT returns undef (a table that does not exist, after
    its error was sent with errorcode 1)."""
    db = ctx.db
    fdir = ""
    for p in perl_split("/", text):                          # SU 1552
        if "$" not in p:
            fdir += "/" + p                                  # SU 1618
            continue
        m = re.match(r"([^$]*)([^# ]*)(.*)", p, re.S)        # SU 1561
        pre, var, suf = m.group(1), m.group(2), m.group(3)
        vals: list[str] = []
        for part in perl_split("$", var):                    # SU 1569
            if part == "":
                continue
            if part == "node":                               # SU 1574
                vals.append(node)
                continue
            fields = part.split(".")                         # SU 1582
            table, col = fields[0], (fields[1] if len(fields) > 1 else "")
            col = col or "UNDEFINED"
            if table not in TABLES:
                ctx.error(f"{table} does not exist", 1)      # SU 1586
                return None
            if table == "site":
                val = db.site(col)
            elif table in ("nodelist", "noderes", "nodehm", "nodetype", "postscripts", "hosts") \
                    and col in TABLES[table]:
                val = db.get_attr(node, table, col)
            else:
                val = ""
            vals.append(val if val and val != "0" else "UNDEFINED")   # SU 1604
        val = ".".join(vals)                                 # SU 1609
        fdir += f"/{pre}{val}{suf}" if kind == "dir" else f"{pre}{val}{suf}"
    if "#CMD=" in fdir:                                      # SU 1624
        out = ""
        for p in perl_split("#", fdir):
            if "CMD=" in p:
                p = p.replace("CMD=", "", 1)
                res = _backticks(p)                          # SU 1632
                p = res if res and res != "0" else f"#CMD={res} did not return output#"
            out += p
        fdir = out
    return fdir


# Perl_do_exec3 (doio.c): a command with one of these (other than a final " 2>&1") goes to /bin/sh -c
_SH_META = set("$&*(){}[]'\";\\|?<>~`\n")


def _backticks(cmd: str) -> str:
    """Perl's `cmd 2>&1` on the management node, chomped -- including Perl's shortcut: without other shell
    metacharacters the final ``2>&1`` is done by Perl itself and the words are exec'd directly, so a
    command that cannot be exec'd gives no output at all."""
    s = f"{cmd} 2>&1".lstrip(" \t\n\r\f\v")
    shell = s.startswith((". ", ".\t")) or (s.startswith("exec") and s[4:5].isspace()) \
        or s[len(re.match(r"\w*", s).group(0)):][:1] == "="
    direct_stderr = False
    if not shell:
        for i, ch in enumerate(s):
            if ch not in _SH_META:
                continue
            if ch == "\n" and i == len(s) - 1:
                s = s[:i]
                break
            if (ch == ">" and s[i + 1:i + 3] == "&1" and i > 1 and s[i - 1] == "2" and s[i - 2].isspace()
                    and not s[i + 3:].strip()):
                s, direct_stderr = s[:i - 2], True
                break
            shell = True
            break
    try:
        if shell:
            r = subprocess.run(["/bin/sh", "-c", s], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=60)
        else:
            r = subprocess.run(s.split(), stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=60,
                               stderr=subprocess.STDOUT if direct_stderr else None)
        out = r.stdout.decode(errors="replace")
    except (OSError, subprocess.TimeoutExpired, ValueError) as e:  # exec failed: Perl returns nothing
        log.debug("statelite #CMD %r: %s", cmd, e)
        out = ""
    return out[:-1] if out.endswith("\n") else out


def covered(nodes: list[str], members: list[str], literal: bool) -> list[str]:
    """The nodes (in their order) for which ``grep(/$n/, @members)`` is true (SM 627).

    With literal names (no regex metacharacters), a node is covered when it is a substring of a
    member; for rows with few members the candidates are the members' substrings (one per-node
    row costs what its name costs, not what the node list costs)."""
    if not members:
        return []
    if literal and sum(len(m) * (len(m) + 1) // 2 for m in members) <= 4 * len(nodes):
        pos = {n: i for i, n in enumerate(nodes)}
        hits = {m[i:j] for m in members for i in range(len(m)) for j in range(i + 1, len(m) + 1)} & pos.keys()
        return sorted(hits, key=pos.__getitem__)
    joined = "\n".join(members)
    exact = set(members)
    out = []
    for n in nodes:
        if n in exact or (_LITERAL.fullmatch(n) and n in joined):
            out.append(n)
        elif not _LITERAL.fullmatch(n):
            try:
                rx = re.compile(n)
            except re.error:
                continue
            if any(rx.search(m) for m in members):
                out.append(n)
    return out


def sync_statelite(ctx: Any, nodes: list[str], newxm: dict[str, str], newsn: dict[str, str],
                   oldsn: dict[str, str], oldmaster: dict[str, str]) -> list[tuple[str, str]]:
    """Walk the statelite rows as SM 597-748 does; return the (node, statemnt) rows to write."""
    db = ctx.db
    verbose = ctx.flags.get("verbose")
    literal = all(_LITERAL.fullmatch(n) for n in nodes)
    sl_mod: list[tuple[str, str]] = []
    done: set[tuple[str, str, str]] = set()                  # %donehash, SM 607
    for row in db.statelite_rows(enabled_only=True):         # SM 600
        fields = perl_split(":", row.get("statemnt"))        # SM 613
        server = fields[0] if fields else ""
        sdir = fields[1] if len(fields) > 1 else ""
        members, _ = noderange.expand(db, row.get("node") or "", verify=False)   # SM 616
        if server.endswith("\n"):
            server = server[:-1]                             # chomp, SM 618
        for n in covered(nodes, members, literal):           # SM 627
            if "$" in server:                                # SM 633
                server = subvars(ctx, server, n, "server") or ""
            else:
                sl_mod.append((n, f"{newxm[n]}:{sdir}"))      # SM 649-651
            if "$" in sdir or "#CMD" in sdir:                # SM 655
                sdir = (subvars(ctx, sdir, n, "dir") or "").replace("//", "/")   # SM 657-658
            short = n.split(".")[0]                          # SM 667
            dodir = f"{sdir}{short}" if sdir.endswith("/") else f"{sdir}/{short}"
            if server != oldmaster[n]:                       # SM 676
                continue
            key = (dodir, server, newxm[n])
            if key in done:
                continue
            if verbose:
                ctx.info(f"Synchronizing {dodir} to {newxm[n]}\n")
            synccmd = f"/usr/bin/rsync -arlHpEAogDz {dodir} {newsn[n]}:{perl_dirname(dodir)} 2>&1"
            if verbose:
                ctx.info(f"On {oldsn[n]}: Running: '{synccmd}'\n")
            rc, output = xcmd(ctx, oldsn[n], synccmd)
            if rc != 0:
                ctx.E(f"Could not sync statelite '{dodir}'.")
                ctx.E(f"{output}\n")
            else:
                done.add(key)
    return sl_mod
