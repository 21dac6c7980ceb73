"""Run many fault runs and print the counts: ``python -m tests.faults.run --runs 1000 --seed S --jobs 3``.

Run ``i`` uses seed ``S + i``; ``--only SEED`` replays one run (its schedule is
printed). Each failed run prints its seed, its schedule and what the audit
found, and keeps its directory (cluster, store, daemon log). Prints, at the
end: runs, faults injected by kind, audit failures by check; exits 1 if any
run failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from tests.faults.audit import CHECKS
from tests.faults.world import Result, run_one


def _one(seed: int, base: str | None, keep: bool) -> Result:
    return run_one(seed, Path(base) if base else None, keep)


def report(results: list[Result], seconds: float) -> dict:
    faults: Counter = Counter()
    outcomes: Counter = Counter()
    failed: Counter = Counter({c: 0 for c in CHECKS})
    for r in results:
        faults.update(r.faults)
        outcomes.update(r.outcomes)
        for check in r.failures:
            failed[check] += 1
    return {"runs": len(results), "failed_runs": sum(1 for r in results if r.failures),
            "seconds": round(seconds, 1), "faults": dict(sorted(faults.items())),
            "incidents_and_snmoves": dict(sorted(outcomes.items())),
            "audit_failures": dict(sorted(failed.items()))}


def sweep(seeds: list[int], jobs: int = 2, base: str | None = None, keep: bool = False, out=sys.stdout,
          deadline: float | None = None) -> tuple[list[Result], dict]:
    """Run the seeds (``jobs`` at a time); print each failure as it comes. ``deadline`` (monotonic):
    start no new run after it."""
    t = time.monotonic()
    results: list[Result] = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        pending = iter(seeds)
        running = {}
        for seed in pending:
            running[pool.submit(_one, seed, base, keep)] = seed
            if len(running) >= jobs * 2:
                break
        while running:
            done = next(as_completed(running))
            running.pop(done)
            r = done.result()
            results.append(r)
            if r.failures:
                print(f"FAILED run, seed {r.seed} (kept in {r.workdir}):\n{r.schedule}", file=out)
                for check, items in r.failures.items():
                    for item in items[:5]:
                        print(f"  {check}: {item}", file=out)
                out.flush()
            if len(results) % 50 == 0:
                print(f"... {len(results)} runs, {sum(1 for x in results if x.failures)} failed, "
                      f"{time.monotonic() - t:.0f} s", file=out, flush=True)
            if deadline is None or time.monotonic() < deadline:
                nxt = next(pending, None)
                if nxt is not None:
                    running[pool.submit(_one, nxt, base, keep)] = nxt
    return results, report(results, time.monotonic() - t)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.faults.run", description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--seed", type=int, default=1, help="seed of the first run (run i: seed + i)")
    p.add_argument("--only", type=int, help="replay the run of this seed only")
    p.add_argument("--jobs", type=int, default=2, help="runs at once (each is a daemon and a cluster)")
    p.add_argument("--dir", help="where run directories go (default: the system's temporary directory)")
    p.add_argument("--keep", action="store_true", help="keep the directories of runs that passed too")
    p.add_argument("--minutes", type=float, help="start no new run after this many minutes")
    p.add_argument("--json", help="also write the figures to this file")
    args = p.parse_args(argv)
    seeds = [args.only] if args.only is not None else list(range(args.seed, args.seed + args.runs))
    if args.only is not None:
        from tests.faults.schedule import make

        print(make(args.only).describe())
    deadline = time.monotonic() + args.minutes * 60 if args.minutes else None
    results, figures = sweep(seeds, args.jobs, args.dir, args.keep, deadline=deadline)
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    return 1 if figures["failed_runs"] else 0


if __name__ == "__main__":
    sys.exit(main())
