"""Built-in takeover strategy ``parallel``: several snmove runs at once.

snmove touches each node in turn (``/etc/xcatinfo``, routes, bootlist,
postscripts: about four round trips per node through the hierarchy), so one
run for hundreds of nodes takes long. This strategy splits each backup's nodes
into ``takeover.parallel`` disjoint batches and runs one ``snmove <batch> -d
<backup>`` per batch concurrently. Every run still gets an explicit ``-d`` and
only planned nodes, so the guarantees of the ``snmove`` strategy hold; the
batches never overlap, so no node is in two runs.

Each run writes its own nodes' rows; with concurrent runs xCAT's database must
take concurrent writers (MySQL/PostgreSQL, as hierarchical clusters use), and
``makeconservercf`` runs once per batch.
"""

from __future__ import annotations

import logging
import threading

from sntakeover import hookimpl
from sntakeover.model import Plan, TakeoverResult
from sntakeover.xcatout import attribute_errors, check_names

log = logging.getLogger(__name__)

STRATEGY = "parallel"


def parallel_argvs(plan: Plan, config) -> list[list[str]]:
    """Disjoint snmove command lines, at most ``takeover.parallel`` per backup SN."""
    tk = config["takeover"]
    width = max(1, tk["parallel"])
    out = []
    for backup, nodes in sorted(plan.by_backup().items()):
        check_names([backup, *nodes])
        for i in range(min(width, len(nodes))):
            chunk = nodes[i::width]  # round robin keeps the batches the same size
            argv = ["snmove", ",".join(chunk), "-d", backup]
            if tk["destn"].get(backup):
                argv += ["-D", tk["destn"][backup]]
            if tk["postscripts"]:
                argv += ["-P", tk["postscripts"]]
            out.append(argv)
    return out


@hookimpl
def sntakeover_takeover(strategy, incident, plan, ctx, dry_run):
    if strategy != STRATEGY:
        return None
    argvs = parallel_argvs(plan, ctx.config)
    if dry_run:
        return TakeoverResult(STRATEGY, tuple(tuple(a) for a in argvs))
    timeout = ctx.config.get("takeover", "snmove_timeout")
    results: list = [None] * len(argvs)

    def one(i: int) -> None:
        results[i] = ctx.runner.run(argvs[i], timeout=timeout)

    ctx.note(f"running {len(argvs)} snmove batch(es) at once for {len(plan.moves)} node(s)")
    threads = [threading.Thread(target=one, args=(i,), name=f"snmove-{i}") for i in range(len(argvs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    node_errors: dict[str, str] = {}
    errors: list[str] = []
    rc = 0
    for argv, res in zip(argvs, results):
        rc |= res.rc
        if res.timed_out:
            errors.append(f"snmove batch to {argv[3]} timed out after {res.duration:.0f}s")
        per_node, general = attribute_errors(res.stdout, res.stderr, argv[1].split(","))
        node_errors.update(per_node)
        errors.extend(dict.fromkeys(general))
    output = "".join(r.stdout + r.stderr for r in results)[-65536:]
    return TakeoverResult(STRATEGY, tuple(tuple(a) for a in argvs), rc, node_errors, tuple(errors), output)
