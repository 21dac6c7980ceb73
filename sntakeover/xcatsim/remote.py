"""Hierarchical dispatch and xdsh.

* :func:`dispatch` groups compute nodes by their ``servicenode`` value and
  tries each listed SN in order (xcatd on port 3001 = the SN is up), one round
  trip per try. One destination that fails -> ``Unable to dispatch
  hierarchical sub-command``; several that all fail -> ``Failed to dispatch
  command to any of ...``. Nodes with an empty servicenode are handled by the
  MN directly.
* :func:`waves` splits the nodes a request reached into fan-out waves (the
  cluster's ``fanout`` setting, 64 like xdsh's default, or ``xdsh -f N``): each
  wave costs one round trip, after which the wave's node-side changes are
  committed.
* :func:`xdsh` is the xdsh command (the node-side shell is :mod:`nodeshell`; a
  script sent with ``-e`` runs under :mod:`nodescript`).
  Exit code = failed targets, ORed per dispatch group.
"""

from __future__ import annotations

import logging
import os
from contextlib import nullcontext
from typing import Any, Iterator

from . import nodescript, noderange
from .nodeshell import mutates, run_on
from .state import machine_up, mn_reaches

log = logging.getLogger(__name__)

DISPATCH_FAIL = ("Unable to dispatch hierarchical sub-command to {sn}:3001.  Error: Connection failure: "
                 "IO::Socket::INET: connect: No route to host at /opt/xcat/lib/perl/xCAT/Client.pm line 248.\n. ")
NOT_RESPONDING = ("{node} is not responding, make sure it is a node object and is defined in xCATdb. "
                  "No command will be issued to this host.")
SSH_FAIL = "{node}: ssh: connect to host {node} port 22: No route to host"


def is_mn(db: Any, name: str) -> bool:
    return name in ("", db.site("master"), db.site("mnname"))


def dispatch(ctx: Any, nodes: list[str]) -> list[list[str]]:
    """Return the groups of nodes whose request reached an SN (or the MN)."""
    db = ctx.db
    groups: dict[str, list[str]] = {}
    sns = db.get_attrs(nodes, "noderes", ["servicenode"])
    for n in nodes:
        groups.setdefault(sns[n]["servicenode"], []).append(n)
    reached: list[list[str]] = []
    for snlist, members in groups.items():
        dests = [d for d in snlist.split(",") if d]
        if not dests or any(is_mn(db, d) for d in dests[:1]):
            reached.append(members)
            continue
        ok = False
        for d in dests:
            ctx.round_trip()
            if db.mn_reaches(d):
                ok = True
                break
        if ok:
            reached.append(members)
        elif len(dests) == 1:
            ctx.error(DISPATCH_FAIL.format(sn=dests[0]), 1)
        else:
            ctx.error("Failed to dispatch command to any of the following service nodes: " + ",".join(dests), 1)
    return reached


def waves(ctx: Any, group: list[str], *, write: bool, fanout: int = 0) -> Iterator[list[str]]:
    """The group in natural order, one fan-out wave at a time (``fanout``, else the cluster's): each
    wave first spends its round trip, then runs (inside one write transaction when ``write``,
    committed at its end)."""
    ordered = sorted(group, key=noderange.natural_key)
    step = fanout if fanout > 0 else ctx.fanout
    for i in range(0, len(ordered), step):
        ctx.round_trip()
        with ctx.db.write() if write else nullcontext():
            yield ordered[i:i + step]


def node_os(db: Any, nodes: list[str]) -> dict[str, str]:
    return {n: v["os"] or "Linux" for n, v in db.get_attrs(nodes, "nodetype", ["os"]).items()}


XDSH_USAGE = ["Usage:",
              "   xdsh [-h | --help | -v | --version | -q | --query]",
              "   xdsh <noderange> [-B bypass] [--devicetype type_of_device] [-c] [-e] [-E environment_file]",
              "        [-f fanout] [-l userid] [-m] [-o options] [-Q] [-r node_remote_shell] [-s] [-S ksh | csh]",
              "        [-t timeout] [-T] [-v] [-X env_list] [-z] [--sudo] <command_list>"]


def xdsh(ctx: Any, args: list[str]) -> None:
    verify = stream = execute = False
    fanout = 0
    nr = None
    cmd_words: list[str] = []
    i = 0
    while i < len(args):
        a = args[i]
        if cmd_words:
            cmd_words.append(a)
        elif a in ("-v", "--verify"):
            verify = True
        elif a in ("-s", "--stream"):
            stream = True
        elif a in ("-e", "--execute"):
            execute = True
        elif a in ("-z", "--exit-status", "-Q", "-T", "-c", "-m"):
            pass
        elif a in ("-f", "--fanout") and i + 1 < len(args) and args[i + 1].isdigit():
            fanout = int(args[i + 1])
            i += 1
        elif a in ("-t", "--timeout", "-l", "--user", "-f", "--fanout", "-o", "-S"):
            i += 1
        elif a.startswith("-") and nr is None and len(a) > 1:
            ctx.data(f"Unknown option: {a.lstrip('-')}")
            for line in XDSH_USAGE:
                ctx.data(line)
            ctx.rc |= 1
            return
        elif nr is None:
            nr = a
        else:
            cmd_words.append(a)
        i += 1
    if nr is None or not cmd_words:
        for line in XDSH_USAGE:
            ctx.data(line)
        ctx.rc |= 1
        return
    command = " ".join(cmd_words)
    nodes, missing = noderange.expand(ctx.db, nr)
    if missing:
        ctx.error("Invalid nodes and/or groups in noderange: " + ",".join(missing), 1)
        return
    script: list[str] | None = None
    if execute:
        # -e: the command list is a script on this host and its arguments (xdsh.pm makes a
        # relative name absolute against the client's working directory)
        script = [os.path.abspath(cmd_words[0]), *cmd_words[1:]]
        sns = ctx.db.get_attrs(nodes, "noderes", ["servicenode"])
        hierarchical = any(not is_mn(ctx.db, v["servicenode"].split(",")[0]) for v in sns.values())
        why = nodescript.script_error(script[0], hierarchical)
        if why:
            ctx.error(why, 1)
            return
    # an -e script runs outside the write transaction; its recorded changes are applied after
    write = mutates(command) and not execute
    for group in dispatch(ctx, nodes):
        failed = 0
        for wave in waves(ctx, group, write=write, fanout=fanout):
            failed += _run_wave(ctx, wave, command, verify, stream, write, script)
        ctx.rc |= failed


def _run_wave(ctx: Any, wave: list[str], command: str, verify: bool, stream: bool, write: bool,
              script: list[str] | None = None) -> int:
    db = ctx.db
    hosts = db.machines(wave)
    oses = node_os(db, wave)
    failed = 0
    ran: nodescript.Ran = {}
    if script is not None:
        up = [n for n in wave if machine_up(hosts.get(n))]
        ran = nodescript.run_wave(db, hosts, oses, up, script[0], script[1:]) if up else {}
        changing = [n for n in up if ran[n][3]]
        if changing:
            with db.write():
                now = db.machines(changing)
                for n in changing:
                    nodescript.apply(db, n, now[n], oses[n] == "AIX", ran[n][3])
                    db.save_machine(n, now[n])
    for n in wave:
        m = hosts.get(n)
        if m is None or not mn_reaches(m):
            failed += 1
            if verify:
                ctx.error(NOT_RESPONDING.format(node=n), 1)
                continue
            ctx.stderr(SSH_FAIL.format(node=n))
            if stream:
                ctx.error(f"{n} remote shell had error code: 255", 1)
            continue
        if script is not None:
            rc, out, err, _ = ran[n]
        else:
            before = repr(m) if write else ""
            rc, out, err = run_on(db, n, m, oses[n] == "AIX", command)
            if write and repr(m) != before:
                db.save_machine(n, m)
        if stream:
            # DSHCore::pipe_handler: one response per read of a node's pipe,
            # its lines labelled and joined by "\n" (callers that join the
            # responses, like InstUtils->xcmd, see this grouping)
            if out:
                ctx.data("\n".join(f"{n}: {line}" for line in out))
            if err:
                ctx.stderr("\n".join(f"{n}: {line}" for line in err))
        else:
            for line in out:
                ctx.data(f"{n}: {line}")
            for line in err:
                ctx.stderr(f"{n}: {line}")
        if rc != 0:
            failed += 1
    return failed
