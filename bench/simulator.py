#!/usr/bin/env python3
"""Simulator cost: what one simulated xCAT command costs as the cluster grows, in one run.

With latency 0 every figure is the simulator's own CPU and I/O. For each size N
a fresh cluster of 2N nodes on two SNs is made (N have sn1 first) and
``snmove -s sn1`` moves those N nodes (about four sequential xdsh round trips
per AIX node, then updatenode); a one-node ``xdsh cn1 cat /etc/xcatinfo`` in
the same cluster shows that a command touching one node does not cost more in
a bigger cluster. The goal: 2000 nodes cost at most 2x 1000 nodes.

Then, with a latency per round trip, the same nodes are moved by 8 and by 32
concurrent ``snmove`` runs on disjoint batches: commands overlap (no lock is
held for a whole command), so more batches finish sooner.
Usage: python bench/simulator.py [--sizes 500,1000,2000,4000] [--repeat 3] [--batch-nodes 128] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sntakeover import xcatsim  # noqa: E402


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall seconds, CPU seconds of the command's process, result)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    r = subprocess.run(argv, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, r


def one(moved: int) -> dict[str, float]:
    """One fresh cluster of 2 x ``moved`` nodes: a one-node xdsh, then ``snmove -s sn1``."""
    top = Path(tempfile.mkdtemp(prefix="snt-simbench-"))
    try:
        cluster = xcatsim.init_cluster(top / "c", nodes=2 * moved, sns=("sn1", "sn2"), latency=0.0,
                                       listeners=False)
        env = dict(os.environ, PATH=f"{xcatsim.bin_dir(cluster)}{os.pathsep}{os.environ['PATH']}")
        small_wall, small_cpu, r = _timed(["xdsh", "cn1", "cat /etc/xcatinfo"], env)
        assert r.returncode == 0, r.stderr
        wall, cpu, r = _timed(["snmove", "-s", "sn1"], env)
        if r.returncode != 0:
            raise SystemExit(f"snmove failed ({r.returncode}):\n{r.stderr[-2000:]}")
        moved_now = sum(1 for line in r.stdout.splitlines() if line.endswith(": Running postscript: syslog"))
        if moved_now != moved:
            raise SystemExit(f"snmove ran the postscripts on {moved_now} of {moved} nodes")
        return {"wall": wall, "cpu": cpu, "xdsh_wall": small_wall, "xdsh_cpu": small_cpu}
    finally:
        shutil.rmtree(top, ignore_errors=True)


def work(moved: int) -> tuple[int, int]:
    """The same snmove run in this process, its work counted instead of timed (no noise from other
    load on the machine): (SQLite virtual-machine steps / 1000, Python function calls)."""
    import cProfile
    import pstats

    from sntakeover.xcatsim import commands
    from sntakeover.xcatsim import db as dbm

    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0

    top = Path(tempfile.mkdtemp(prefix="snt-simbench-"))
    original = dbm.DB.__init__

    def counting_init(self, *a, **kw):  # type: ignore[no-untyped-def]
        original(self, *a, **kw)
        self.conn.set_progress_handler(count, 1000)

    try:
        cluster = xcatsim.init_cluster(top / "c", nodes=2 * moved, sns=("sn1", "sn2"), listeners=False)
        dbm.DB.__init__ = counting_init  # type: ignore[method-assign]
        prof = cProfile.Profile()
        prof.enable()
        rc, _, err = commands.run("snmove", ["-s", "sn1"], cluster)
        prof.disable()
        if rc != 0:
            raise SystemExit(f"snmove failed: {err[-2000:]}")
        return steps[0], pstats.Stats(prof).total_calls
    finally:
        dbm.DB.__init__ = original  # type: ignore[method-assign]
        shutil.rmtree(top, ignore_errors=True)


def batches(moved: int, parts: int, latency: float) -> float:
    """Wall seconds for ``parts`` concurrent snmove runs over ``moved`` nodes."""
    top = Path(tempfile.mkdtemp(prefix="snt-simbench-"))
    try:
        cluster = xcatsim.init_cluster(top / "c", nodes=2 * moved, sns=("sn1", "sn2"), latency=latency,
                                       listeners=False)
        env = dict(os.environ, PATH=f"{xcatsim.bin_dir(cluster)}{os.pathsep}{os.environ['PATH']}")
        nodes = [f"cn{i}" for i in range(1, moved + 1)]
        t0 = time.perf_counter()
        procs = [subprocess.Popen(["snmove", ",".join(nodes[i::parts]), "-d", "sn2"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(parts)]
        rcs = [p.wait() for p in procs]
        wall = time.perf_counter() - t0
        if any(rcs):
            raise SystemExit(f"snmove failed: {rcs}")
        state = xcatsim.load_state(cluster)
        moved_now = sum(state["tables"]["noderes"][n]["servicenode"] == "sn2,sn1" for n in nodes)
        if moved_now != moved:
            raise SystemExit(f"{moved_now} of {moved} nodes moved")
        return wall
    finally:
        shutil.rmtree(top, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="500,1000,2000,4000", help="moved nodes per run, comma separated")
    ap.add_argument("--repeat", type=int, default=3, help="rounds over the sizes; the best of each is shown")
    ap.add_argument("--batch-nodes", type=int, default=128, help="nodes moved by the concurrent runs (0: skip)")
    ap.add_argument("--latency", type=float, default=0.1, help="seconds per round trip for the concurrent runs")
    args = ap.parse_args(argv)
    sizes = [int(x) for x in args.sizes.split(",") if x]
    # the sizes take turns (every size sees the same conditions); on a shared machine the best of the
    # rounds is the simulator's own cost, and the ratio within a round compares like with like
    res: dict[int, dict[str, float]] = {}
    rounds: list[dict[int, dict[str, float]]] = []
    for _ in range(args.repeat):
        rounds.append({n: one(n) for n in sizes})
        for n, r in rounds[-1].items():
            for k, v in r.items():
                res.setdefault(n, {})[k] = min(res.get(n, {}).get(k, v), v)
    print(f"best of {args.repeat} rounds per size, latency 0")
    print(f"{'moved':>6} {'cluster':>8} {'snmove wall':>12} {'snmove CPU':>11} {'ms/node':>8} "
          f"{'1-node xdsh wall':>17} {'CPU':>6}")
    for n in sizes:
        r = res[n]
        print(f"{n:>6} {2 * n:>8} {r['wall']:>10.2f} s {r['cpu']:>9.2f} s {1000 * r['wall'] / n:>8.2f} "
              f"{1000 * r['xdsh_wall']:>14.0f} ms {1000 * r['xdsh_cpu']:>3.0f} ms", flush=True)
    if 1000 in res and 2000 in res:
        print(f"ratio 2000/1000 of the best times: wall {res[2000]['wall'] / res[1000]['wall']:.2f}, "
              f"CPU {res[2000]['cpu'] / res[1000]['cpu']:.2f} (goal <= 2)")
        per_round = sorted(r[2000]["cpu"] / r[1000]["cpu"] for r in rounds)
        print(f"ratio 2000/1000 of CPU within each round: {', '.join(f'{x:.2f}' for x in per_round)}; "
              f"median {statistics.median(per_round):.2f}")
        (s1, c1), (s2, c2) = work(1000), work(2000)
        print(f"work counted, 1000 -> 2000 nodes: SQLite VM steps {s1}k -> {s2}k ({s2 / s1:.2f}x), "
              f"Python calls {c1} -> {c2} ({c2 / c1:.2f}x)")
    if args.batch_nodes:
        w8 = batches(args.batch_nodes, 8, args.latency)
        w32 = batches(args.batch_nodes, 32, args.latency)
        print(f"{args.batch_nodes} nodes at {args.latency}s per round trip: 8 concurrent snmove {w8:.2f} s, "
              f"32 concurrent {w32:.2f} s, ratio 32/8 {w32 / w8:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
