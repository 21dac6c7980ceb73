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

from sntakeover import hookimpl
from sntakeover.model import Plan, TakeoverResult
from sntakeover.xcatout import attribute_errors, check_names

log = logging.getLogger(__name__)

STRATEGY = "snmove"


def snmove_argvs(plan: Plan, config) -> list[list[str]]:
    """The exact snmove command lines for a plan."""
    tk = config["takeover"]
    batch = tk["batch_size"] or None
    out = []
    for backup, nodes in sorted(plan.by_backup().items()):
        check_names([backup, *nodes])
        for i in range(0, len(nodes), batch or max(1, len(nodes))):
            chunk = nodes[i:i + batch] if batch else nodes
            argv = ["snmove", ",".join(chunk), "-d", backup]
            destn = tk["destn"].get(backup)
            if destn:
                argv += ["-D", destn]
            if tk["postscripts"]:
                argv += ["-P", tk["postscripts"]]
            out.append(argv)
    return out


@hookimpl
def sntakeover_takeover(strategy, incident, plan, ctx, dry_run):
    if strategy != STRATEGY:
        return None
    if dry_run:
        return TakeoverResult(STRATEGY, tuple(tuple(a) for a in snmove_argvs(plan, ctx.config)))
    timeout = ctx.config.get("takeover", "snmove_timeout")
    node_errors: dict[str, str] = {}
    errors: list[str] = []
    commands = []
    rc = 0
    output = []
    for argv in snmove_argvs(plan, ctx.config):
        ctx.note(f"running: {' '.join(argv[:1])} {len(argv[1].split(','))} node(s) -> {argv[3]}")
        res = ctx.runner.run(argv, timeout=timeout)
        commands.append(tuple(argv))
        rc |= res.rc
        output.append(res.stdout + res.stderr)
        if res.timed_out:
            errors.append(f"snmove to {argv[3]} timed out after {res.duration:.0f}s")
        per_node, general = attribute_errors(res.stdout, res.stderr, argv[1].split(","))
        for n, e in per_node.items():
            node_errors[n] = (node_errors[n] + " | " + e) if n in node_errors else e
        errors.extend(general)
    return TakeoverResult(STRATEGY, tuple(commands), rc, node_errors, tuple(errors), "".join(output)[-65536:])
