"""Built-in takeover strategy ``fast``: snmove's end state, without its node-by-node walk.

plain snmove changes the database, then visits the nodes one after the other: about
four round trips through the hierarchy per AIX node plus the postscripts (xcat.md
§2.3 steps 14-19, §2.6). This strategy gets the same result in a few fanned-out
commands:

1. ``snmove <nodes> -d <backup> -i`` (``-D`` when ``takeover.destn`` names one), one
   call per backup SN and one per ``solo`` node: exactly plain snmove's database
   result. With ``-i`` snmove still syncs statelite, runs makeconservercf and, for
   Linux nodes, nodeset (steps 10-15), so those are not repeated.
2. ``lsdef -i servicenode,xcatmaster``: which nodes moved and the xcatmaster each got.
3. snmove's node-side steps for the moved nodes (:mod:`~sntakeover.builtin.nodesteps`),
   each as one ``xdsh``/``updatenode`` over a whole noderange, grouped where the
   argument differs: niminit (AIX standalone nodes), ``/etc/xcatinfo`` (AIX, per new
   server), the default route (per new gateway), the bootlist (AIX; snmove's command names
   the node's own IP, so a script sent with ``xdsh -e`` lets each node find its address and
   interface: one command per gateway and new server, up to 512 nodes each), then
   ``updatenode -s`` and ``updatenode -P`` per script list. Independent commands run at
   the same time; each node still sees snmove's order where it matters (``/etc/xcatinfo``
   before ``updatenode -s``, ``-s`` before ``-P``).

Every node is attempted in every step, as snmove does; a node that fails a step keeps
xCAT's text for it and does not stop the others. The facts the node-side steps depend
on (the nodes' attributes, the ``site``, ``networks``, ``postscripts`` and
``nimimage`` tables) are read before anything changes; if one cannot be read, or the
cluster needs work ``-i`` skips (AIX with ``site.sharedinstall=sns``), the nodes are
moved by plain snmove instead, and the timeline says why.
"""

from __future__ import annotations

import dataclasses
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Sequence

from sntakeover import hookimpl
from sntakeover.builtin import nodesteps as ns
from sntakeover.builtin.snmove import result, run_each, snmove_argvs
from sntakeover.model import TakeoverResult
from sntakeover.runner import CommandResult
from sntakeover.xcatout import with_fanout

log = logging.getLogger(__name__)

STRATEGY = "fast"

NODE_SIDE = ("then, on the nodes the database move reached: niminit on AIX standalone nodes; "
             "/etc/xcatinfo (AIX, one xdsh per new server); the default route where networks.gateway "
             "is <xcatmaster> (one xdsh per new gateway); the bootlist (AIX, one xdsh -e sntakeover-bootlist "
             "per gateway and new server, each node finding its own address and interface); "
             "updatenode -s and updatenode -P <scripts> per script list (syslog, setupntp, mkresolvconf "
             "when listed, plus takeover.postscripts). If the tables these steps need cannot be read, "
             "plain snmove runs instead.")

Runs = list[tuple[list[str], CommandResult]]


def _run(ctx, argvs: Sequence[list[str]]) -> Runs:
    """Run commands one after the other."""
    return [(argv, ctx.runner.run(argv)) for argv in argvs]


def node_side(ctx, facts: ns.Facts, moved: dict[str, tuple[str, str]]) -> tuple[Runs, Runs, dict[str, str]]:
    """snmove's node-side steps for the ``moved`` nodes (node -> new servicenode, xcatmaster).

    ``facts.nodes[n].xcatmaster`` must be the node's xcatmaster from *before* the move:
    the AIX route rule compares the node's default route with it.

    :returns: the runs whose errors count, the runs whose errors snmove ignores (route
        commands that say ``File exists``), and per-node texts for steps not sent.
    """
    width = max(1, ctx.config.get("takeover", "fast_width"))
    fanout = ctx.config.get("xcat", "fanout")

    def fanned(argvs: Sequence[list[str]]) -> list[list[str]]:
        return [with_fanout(a, fanout) for a in argvs]

    aix = [n for n in moved if facts.aix(n)]
    groups = ns.route_groups(facts, moved)
    in_groups = {n for members in groups.values() for n in members}
    route_aix = [n for n in aix if n in in_groups]
    ctx.note(f"fast: node-side steps for {len(moved)} node(s) ({len(aix)} AIX), "
             f"{len(groups)} gateway group(s)")
    # each node gets /etc/xcatinfo before updatenode -s (which rewrites it) and -s before -P;
    # niminit, the bootlist commands and the route read meanwhile, then the route commands
    chain = fanned(ns.xcatinfo_commands(facts, moved))
    for pair in ns.postscript_commands(facts, moved, ctx.config.get("takeover", "postscripts")):
        chain += fanned(pair)
    reads: dict[str, list[str]] = {}
    if route_aix:
        reads["rn"] = with_fanout(["xdsh", ",".join(route_aix), "netstat -rn"], fanout)
    bootlists, skipped = (ns.bootlist_commands(facts, moved, ns.bootlist_script(ctx.config.state_dir))
                          if aix else ([], {}))
    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="fast") as pool:
        first = pool.submit(_run, ctx, chain)
        # the route read before the bootlist groups: the route commands wait for it, and with
        # more groups than takeover.fast_width it would otherwise queue behind all of them
        read = {k: pool.submit(_run, ctx, [a]) for k, a in reads.items()}
        now = [pool.submit(_run, ctx, [a]) for a in fanned(ns.niminit_commands(facts, moved) + bootlists)]
        out = {k: f.result()[0][1] for k, f in read.items()}
        routes = fanned(ns.route_commands(facts, groups, out["rn"].stdout if "rn" in out else ""))
        later = [pool.submit(_run, ctx, [a]) for a in routes]
        runs = first.result() + [r for f in now + later for r in f.result()]
    # a read fails only for the nodes that did not answer; its output is not worth keeping
    runs += [(reads[k], dataclasses.replace(res, stdout="")) for k, res in out.items()]
    ignored = [(a, r) for a, r in runs if a in routes and r.rc != 0 and ns.route_failure_ignored(r.stdout, r.stderr)]
    charged = [(a, r) for a, r in runs if not any(a is b for b, _ in ignored)]
    return charged, ignored, skipped


def _with_errors(res: TakeoverResult, extra: dict[str, str], errors: Sequence[str] = ()) -> TakeoverResult:
    node_errors = dict(res.node_errors)
    for n, e in extra.items():
        node_errors[n] = f"{node_errors[n]} | {e}" if n in node_errors else e
    return dataclasses.replace(res, node_errors=node_errors, errors=tuple(dict.fromkeys([*res.errors, *errors])))


@hookimpl
def sntakeover_takeover(strategy, incident, plan, ctx, dry_run):
    if strategy != STRATEGY:
        return None
    if dry_run:
        argvs = snmove_argvs(plan, ctx.config, db_only=True)
        ctx.note(f"fast (dry run): {NODE_SIDE}")
        return TakeoverResult(STRATEGY, tuple(tuple(a) for a in argvs), output=NODE_SIDE)
    return _move(incident, plan, ctx)


def _move(incident, plan, ctx) -> TakeoverResult:
    """The database move with ``snmove -i``, then the node-side steps for the nodes it moved."""
    tk = ctx.config["takeover"]
    argvs = snmove_argvs(plan, ctx.config, db_only=True)
    try:
        facts = ns.read_facts(ctx, plan, tk["destn"])
        why = ns.refuse_reason(facts)
    except ns.FactsUnavailable as exc:
        why = str(exc)
    if why:
        log.info("incident %s: fast strategy falls back to plain snmove: %s", incident.id, why)
        ctx.note(f"fast: {why}; moving the nodes with plain snmove instead")
        return result(STRATEGY, run_each(snmove_argvs(plan, ctx.config), ctx))
    runs = run_each(argvs, ctx)
    try:
        moved = ns.read_moved(ctx, plan)
    except ns.FactsUnavailable as exc:
        return _with_errors(result(STRATEGY, runs), {}, [f"node-side steps not run: {exc}"])
    if not moved:
        return _with_errors(result(STRATEGY, runs), {}, ["snmove -i moved no node; node-side steps not run"])
    charged, ignored, skipped = node_side(ctx, facts, moved)
    return _with_errors(result(STRATEGY, runs + charged, ignored), skipped)


#: strategies whose nodes get snmove's node-side steps (plain snmove runs them itself, so
#: :func:`node_side`, which leaves the same end state, retries them for all three)
NODE_SIDE_STRATEGIES = (STRATEGY, "snmove", "parallel")


@hookimpl
def sntakeover_node_steps(strategy, incident, plan, ctx):
    """snmove's node-side steps again for nodes already on their backup in the database."""
    if strategy not in NODE_SIDE_STRATEGIES:
        return None
    try:
        facts = ns.read_facts(ctx, plan, ctx.config.get("takeover", "destn"))
        moved = ns.read_moved(ctx, plan)
    except ns.FactsUnavailable as exc:
        return TakeoverResult(STRATEGY, (), 1, errors=(f"node-side steps not run: {exc}",))
    why = ns.refuse_reason(facts)
    if why:
        return TakeoverResult(STRATEGY, (), 1, errors=(f"node-side steps not run: {why}",))
    # the AIX route rule compares a node's default route with its xcatmaster from before the
    # move: the database holds the new one now, the stored plan the old one
    for m in plan.moves:
        if m.xcatmaster and m.node in facts.nodes:
            facts.nodes[m.node] = dataclasses.replace(facts.nodes[m.node], xcatmaster=m.xcatmaster)
    not_moved = {m.node: f"not on {m.backup} in the database: a retry runs only the node-side steps"
                 for m in plan.moves if m.node not in moved}
    if not moved:
        return _with_errors(TakeoverResult(STRATEGY, (), 1), not_moved)
    charged, ignored, skipped = node_side(ctx, facts, moved)
    return _with_errors(result(STRATEGY, charged, ignored), {**skipped, **not_moved})


@hookimpl
def sntakeover_takeover_strategies():
    return [STRATEGY]


@hookimpl
def sntakeover_required_commands(config):
    if config.get("takeover", "strategy") != STRATEGY:
        return []
    return ["snmove", "lsdef", "nodels", "tabdump", "xdsh", "updatenode"]
