"""Built-in takeover strategy ``snmove``.

Runs ``snmove <nodes> -d <backup>`` once per backup SN (optionally in batches),
always with an explicit ``-d``: without it snmove takes each node's *2nd*
servicenode entry, which after a completed move is the failed SN again
(xcat.md §2.3 step 8). Validation errors exit 0 (§2.2), so the exit code is
never taken as success; verification reads the database afterwards. Error lines
are charged to the nodes they name.
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


def snmove_argv(nodes: Sequence[str], backup: str, takeover_cfg: dict) -> list[str]:
    """One snmove command line: explicit noderange and ``-d``, plus ``-D``/``-P`` when configured."""
    check_names([backup, *nodes])
    argv = ["snmove", ",".join(nodes), "-d", backup]
    if takeover_cfg["destn"].get(backup):
        argv += ["-D", takeover_cfg["destn"][backup]]
    if takeover_cfg["postscripts"]:
        argv += ["-P", takeover_cfg["postscripts"]]
    return argv


def snmove_argvs(plan: Plan, config) -> list[list[str]]:
    """The exact snmove command lines for a plan: per backup, in ``batch_size`` chunks."""
    tk = config["takeover"]
    out = []
    for backup, nodes in sorted(plan.by_backup().items()):
        step = tk["batch_size"] or len(nodes)
        out += [snmove_argv(nodes[i:i + step], backup, tk) for i in range(0, len(nodes), step)]
    return out


def result(strategy: str, runs: Iterable[tuple[list[str], CommandResult]]) -> TakeoverResult:
    """Combine snmove runs: OR of exit codes, failures charged to the nodes they name."""
    node_errors: dict[str, str] = {}
    errors: list[str] = []
    commands, output = [], []
    rc = 0
    for argv, res in runs:
        commands.append(tuple(argv))
        rc |= res.rc
        output.append(res.stdout + res.stderr)
        if res.timed_out:
            errors.append(f"snmove to {argv[3]} timed out after {res.duration:.0f}s")
        per_node, general = attribute_errors(res.stdout, res.stderr, argv[1].split(","))
        for n, e in per_node.items():
            node_errors[n] = f"{node_errors[n]} | {e}" if n in node_errors else e
        errors.extend(general)
    return TakeoverResult(strategy, tuple(commands), rc, node_errors, tuple(dict.fromkeys(errors)),
                          "".join(output)[-65536:])


@hookimpl
def sntakeover_takeover(strategy, incident, plan, ctx, dry_run):
    if strategy != STRATEGY:
        return None
    argvs = snmove_argvs(plan, ctx.config)
    if dry_run:
        return TakeoverResult(STRATEGY, tuple(tuple(a) for a in argvs))
    timeout = ctx.config.get("takeover", "snmove_timeout")
    runs = []
    for argv in argvs:
        ctx.note(f"running: snmove {len(argv[1].split(','))} node(s) -> {argv[3]}")
        runs.append((argv, ctx.runner.run(argv, timeout=timeout)))
    return result(STRATEGY, runs)


@hookimpl
def sntakeover_required_commands(config):
    return ["snmove"] if config.get("takeover", "strategy") == STRATEGY else []
