"""Built-in takeover strategy ``snmove``.

Runs ``snmove <nodes> -d <backup>`` once per backup SN (optionally in batches),
always with an explicit ``-d``: without it snmove takes each node's *2nd*
servicenode entry, which after a completed move is the failed SN again
(xcat.md §2.3 step 8). Validation errors exit 0 (§2.2), so the exit code is
never taken as success; verification reads the database afterwards. Error lines
are charged to the nodes they name. A node the planner marks ``solo`` gets a call
of its own (see :func:`split_solo`).
"""

from __future__ import annotations

import logging
from typing import Iterable, Sequence

from sntakeover import hookimpl
from sntakeover.model import Plan, TakeoverResult
from sntakeover.runner import CommandResult
from sntakeover.xcatout import attribute_errors, check_names

log = logging.getLogger(__name__)

STRATEGY = "snmove"


def snmove_argv(nodes: Sequence[str], backup: str, takeover_cfg: dict, *, db_only: bool = False) -> list[str]:
    """One snmove command line: explicit noderange and ``-d``, plus ``-D``/``-P`` when configured.

    ``db_only`` adds ``-i`` (database changes only, xcat.md §2.1); snmove refuses ``-P``
    with ``-i``, so the postscripts are then left to the caller.
    """
    check_names([backup, *nodes])
    argv = ["snmove", ",".join(nodes), "-d", backup]
    if takeover_cfg["destn"].get(backup):
        argv += ["-D", takeover_cfg["destn"][backup]]
    if db_only:
        argv.append("-i")
    elif takeover_cfg["postscripts"]:
        argv += ["-P", takeover_cfg["postscripts"]]
    return argv


def split_solo(plan: Plan) -> list[tuple[str, list[str], list[str]]]:
    """``(backup, nodes that may share an snmove call, nodes that need a call each)`` groups.

    A node marked ``solo`` is covered by a statelite row with ``$`` variables that
    several planned nodes share: snmove substitutes the row in place, so in one call
    the first node's value leaks into the next ones (xcat.md §2.3 step 10). And one
    call never mixes AIX with other nodes: snmove refuses that mix (§2.3 step 4), so
    a backup serving both gets a group for each.
    """
    out: dict[tuple[str, bool], tuple[list[str], list[str]]] = {}
    for m in plan.moves:
        shared, solo = out.setdefault((m.backup, m.os == "AIX"), ([], []))
        (solo if m.solo else shared).append(m.node)
    return [(backup, shared, solo) for (backup, _), (shared, solo) in sorted(out.items())]


def snmove_argvs(plan: Plan, config, *, db_only: bool = False) -> list[list[str]]:
    """The exact snmove command lines for a plan: per backup, in ``batch_size`` chunks;
    each ``solo`` node in a call of its own."""
    tk = config["takeover"]
    out = []
    for backup, shared, solo in split_solo(plan):
        step = tk["batch_size"] or len(shared) or 1
        out += [snmove_argv(shared[i:i + step], backup, tk, db_only=db_only) for i in range(0, len(shared), step)]
        out += [snmove_argv([n], backup, tk, db_only=db_only) for n in solo]
    return out


def describe(argv: Sequence[str]) -> str:
    """A short name for a command in messages: ``snmove to sn2``, ``xdsh on 12 node(s)``."""
    if argv[0] == "snmove" and len(argv) > 3:
        return f"snmove to {argv[3]}"
    return f"{argv[0]} on {len(argv[1].split(','))} node(s)" if len(argv) > 1 else argv[0]


def result(strategy: str, runs: Iterable[tuple[Sequence[str], CommandResult]],
           uncharged: Iterable[tuple[Sequence[str], CommandResult]] = ()) -> TakeoverResult:
    """Combine the runs of a strategy: OR of exit codes, failures charged to the nodes they name.

    Every command's second argument is its noderange (snmove, xdsh, updatenode). ``xdsh``
    prints each node's own stderr as ``node: text`` (xcat.md §3.6), so those lines are
    that node's failure text. ``uncharged`` runs are recorded but their errors are ignored
    (snmove ignores a route step that says ``File exists``, §2.3 step 17).
    """
    node_errors: dict[str, list[str]] = {}
    errors: list[str] = []
    commands, output = [], []
    rc = 0
    for charge, (argv, res) in [(True, r) for r in runs] + [(False, r) for r in uncharged]:
        commands.append(tuple(argv))
        output.append(res.stdout + res.stderr)
        if not charge:
            continue
        rc |= res.rc
        if res.timed_out:
            errors.append(f"{describe(argv)} timed out after {res.duration:.0f}s")
        per_node, general = attribute_errors(res.stdout, res.stderr, argv[1].split(","),
                                             node_lines=argv[0] == "xdsh")
        for n, e in per_node.items():
            node_errors.setdefault(n, []).append(e)
        errors.extend(general)
    return TakeoverResult(strategy, tuple(commands), rc,
                          {n: " | ".join(dict.fromkeys(v)) for n, v in node_errors.items()},
                          tuple(dict.fromkeys(errors)), "".join(output)[-65536:])


def run_each(argvs: Iterable[list[str]], ctx) -> list[tuple[list[str], CommandResult]]:
    """Run snmove command lines one after the other, each noted on the timeline."""
    timeout = ctx.config.get("takeover", "snmove_timeout")
    runs = []
    for argv in argvs:
        ctx.note(f"running: snmove {len(argv[1].split(','))} node(s) -> {argv[3]}{' (database only)' if '-i' in argv else ''}")
        runs.append((argv, ctx.runner.run(argv, timeout=timeout)))
    return runs


@hookimpl
def sntakeover_takeover(strategy, incident, plan, ctx, dry_run):
    if strategy != STRATEGY:
        return None
    argvs = snmove_argvs(plan, ctx.config)
    if dry_run:
        return TakeoverResult(STRATEGY, tuple(tuple(a) for a in argvs))
    return result(STRATEGY, run_each(argvs, ctx))


@hookimpl
def sntakeover_takeover_strategies():
    return [STRATEGY]


@hookimpl
def sntakeover_required_commands(config):
    return ["snmove"] if config.get("takeover", "strategy") == STRATEGY else []
