"""``xdsh -e``: a script from the management node, run on simulated hosts by a real ksh.

xCAT's xdsh copies the script to each SN (hierarchy), then to a random ``/tmp/*.dsh`` file
on every target, runs it there with the given arguments and removes it again (DSHCLI.pm
``fork_fanout_dsh``, xdsh.pm ``process_servicenodes_xdsh``). Here the script itself runs,
unchanged, under ``ksh`` (AIX's shell, xCAT's default ``-S`` syntax is sh), one ksh per
fan-out wave and one subshell per node. Inside it, the node's commands are shell functions
that answer from that node's simulated host, the way :mod:`nodeshell` does:

* ``netstat -in``, ``netstat -rn``, ``ifconfig -a``, ``hostname``: the node's own output;
* ``bootlist``: checked as :func:`nodeshell.run_on` checks it; each call is recorded and
  applied afterwards (:func:`apply`) through :func:`nodeshell.run_on`, which must agree on
  its exit status. The script runs outside any write transaction; only the recorded
  changes are applied, to the hosts as they are then, so concurrent commands lose nothing.

``PATH`` is empty inside, so any other program is "not found" (exit 127), as in
:mod:`nodeshell`. The copied ``/tmp`` file is removed by xdsh, so the host keeps no trace.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from . import nodeshell

log = logging.getLogger(__name__)

SHELL = "ksh"
#: the node commands the subshells provide (everything else is not found)
PROVIDED = (("netstat -in", "netstat", "-in"), ("netstat -rn", "netstat", "-rn"),
            ("ifconfig -a", "ifconfig", "-a"), ("hostname", "hostname", ""))

# bootlist as nodeshell.run_on checks it: "-m <mode> <device> ..." with a device that has no '='
_BOOTLIST = """bootlist() {
    __rc=0
    if [ $# -lt 3 ] || [ "$1" != -m ]; then __rc=1; else case $3 in ""|*=*) __rc=1 ;; esac; fi
    print -r -- "$__rc $*" >&3
    [ $__rc = 0 ] || print -u2 -r -- "0514-219 bootlist: Invalid device name $3"
    return $__rc
}
"""

def _q(s: str) -> str:
    """One single-quoted shell word."""
    return "'" + s.replace("'", "'\\''") + "'"


def script_error(path: str, hierarchical: bool) -> str | None:
    """xdsh's refusal of an ``-e`` script, or None. ``hierarchical``: some target is reached
    through an SN (xdsh.pm checks the file before copying it there; DSHCLI.pm otherwise)."""
    p = Path(path)
    if not p.is_file():
        return f"File:{path} does not exist." if hierarchical else f"File {path} does not exist"
    if p.stat().st_size == 0:
        return f"File {path} is empty."
    if not os.access(p, os.X_OK):
        return f"File {path} is not executable."
    return None


def _functions(db: Any, node: str, m: dict[str, Any], aix: bool) -> str:
    """The node's commands as shell functions with that node's answers."""
    by_prog: dict[str, list[str]] = {}
    for cmd, prog, arg in PROVIDED:
        rc, out, err = nodeshell.run_on(db, node, dict(m), aix, cmd)
        body = "".join(f"print -r -- {_q(line)}; " for line in out)
        body += "".join(f"print -u2 -r -- {_q(line)}; " for line in err)
        by_prog.setdefault(prog, []).append(f"{_q(arg) if arg else _q('')}) {body}return {rc} ;;")
    out = []
    for prog, cases in by_prog.items():
        missing = f"print -u2 -r -- {_q(prog)}\": $*: not supported here\"; return 1 ;;"
        out.append(f"{prog}() {{\n    case \"$*\" in\n    " + "\n    ".join(cases) + f"\n    *) {missing}\n    esac\n}}\n")
    return "".join(out)


Ran = dict[str, tuple[int, list[str], list[str], list[str]]]


def run_wave(db: Any, hosts: dict[str, dict[str, Any]], oses: dict[str, str], nodes: list[str],
             script: str, args: list[str]) -> Ran:
    """Run ``script args`` on each of ``nodes`` (all up); nothing changes yet (see :func:`apply`).

    :returns: node -> (exit status, stdout lines, stderr lines, recorded changing calls).
    """
    shell = shutil.which(SHELL)
    if shell is None:
        return {n: (127, [], [f"{SHELL}: not found (the simulator runs xdsh -e scripts with {SHELL})"], [])
                for n in nodes}
    with tempfile.TemporaryDirectory(prefix="xdsh-e-") as tmp:
        # the arguments and the bootlist recorder once for the wave: each node's subshell
        # inherits them (a wave of 256 nodes each listing 512 addresses would otherwise be
        # parsed 256 times); each node's own commands are defined inside its subshell
        parts = ["PATH=/nonexistent-path\n", _BOOTLIST, f"set -- {' '.join(_q(a) for a in args)}\n"]
        sourced = f". {_q(script)}\n"
        for i, n in enumerate(nodes):
            aix = oses[n] == "AIX"
            parts.append(f"(\n{_functions(db, n, hosts[n], aix)}{sourced}"
                         f") >{tmp}/{i}.out 2>{tmp}/{i}.err 3>{tmp}/{i}.bl </dev/null\n"
                         f"print $? >{tmp}/{i}.rc\n")
        program = Path(tmp) / "wave.ksh"
        program.write_text("".join(parts))
        subprocess.run([shell, str(program)], cwd=tmp, env={"PATH": "/nonexistent-path"},
                       stdin=subprocess.DEVNULL, capture_output=True, check=False)
        results = {}
        for i, n in enumerate(nodes):
            base = Path(tmp) / str(i)
            try:
                rc = int((base.with_suffix(".rc")).read_text().strip() or "1")
            except (OSError, ValueError):
                rc = 1
            results[n] = (rc, _lines(base.with_suffix(".out")), _lines(base.with_suffix(".err")),
                          _lines(base.with_suffix(".bl")))
    return results


def apply(db: Any, node: str, m: dict[str, Any], aix: bool, calls: list[str]) -> None:
    """Apply the recorded ``bootlist`` calls of one node to its host ``m`` (in place)."""
    for call in calls:
        said, _, words = call.partition(" ")
        got, _, _ = nodeshell.run_on(db, node, m, aix, "bootlist " + words)
        if str(got) != said:
            raise RuntimeError(f"simulator: bootlist {words!r} on {node}: exit {said} in ksh, {got} in nodeshell")


def _lines(p: Path) -> list[str]:
    try:
        return p.read_text(errors="replace").splitlines()
    except OSError:
        return []
