"""Built-in takeover strategy ``parallel``: several snmove runs at once.

snmove touches each node in turn (``/etc/xcatinfo``, routes, bootlist,
postscripts: about four round trips per node through the hierarchy), so one
run for hundreds of nodes takes long. This strategy splits each backup's nodes
into ``takeover.parallel`` disjoint batches and runs one ``snmove <batch> -d
<backup>`` per batch concurrently. Every run still gets an explicit ``-d`` and
only planned nodes, so the guarantees of the ``snmove`` strategy hold; the
batches never overlap, so no node is in two runs. A node the planner marks
``solo`` gets a run of its own, as with the ``snmove`` strategy.

Each run writes its own nodes' rows; with concurrent runs xCAT's database must
take concurrent writers (MySQL/PostgreSQL, as hierarchical clusters use), and
``makeconservercf`` runs once per batch.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from sntakeover import hookimpl
from sntakeover.builtin.snmove import result, snmove_argv, split_solo
from sntakeover.model import Plan, TakeoverResult

log = logging.getLogger(__name__)

STRATEGY = "parallel"


def parallel_argvs(plan: Plan, config) -> list[list[str]]:
    """Disjoint snmove command lines, at most ``takeover.parallel`` per backup SN, plus one
    call for each ``solo`` node (see :func:`~sntakeover.builtin.snmove.split_solo`)."""
    tk = config["takeover"]
    width = max(1, tk["parallel"])
    out = []
    for backup, shared, solo in split_solo(plan):
        # round robin keeps the batches the same size
        out += [snmove_argv(shared[i::width], backup, tk) for i in range(min(width, len(shared)))]
        out += [snmove_argv([n], backup, tk) for n in solo]
    return out


@hookimpl
def sntakeover_takeover(strategy, incident, plan, ctx, dry_run):
    if strategy != STRATEGY:
        return None
    argvs = parallel_argvs(plan, ctx.config)
    if dry_run:
        return TakeoverResult(STRATEGY, tuple(tuple(a) for a in argvs))
    if not argvs:
        return TakeoverResult(STRATEGY)
    timeout = ctx.config.get("takeover", "snmove_timeout")
    # solo nodes add runs; never more than takeover.parallel at once per backup
    width = min(len(argvs), max(1, ctx.config.get("takeover", "parallel")) * len(plan.by_backup()))
    ctx.note(f"running {len(argvs)} snmove batch(es), {width} at once, for {len(plan.moves)} node(s)")
    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="snmove") as pool:
        results = list(pool.map(lambda argv: ctx.runner.run(argv, timeout=timeout), argvs))
    return result(STRATEGY, zip(argvs, results))


@hookimpl
def sntakeover_takeover_strategies():
    return [STRATEGY]


@hookimpl
def sntakeover_required_commands(config):
    return ["snmove"] if config.get("takeover", "strategy") == STRATEGY else []
