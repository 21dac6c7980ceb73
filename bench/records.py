#!/usr/bin/env python3
"""What reading the record costs: one poll of the follow display, one /metrics scrape, one
noderange compression -- on a store grown like years of incidents, in one run.

A real SQLite store is filled through the store's own API with --incidents closed incidents of
--nodes nodes each (plan, node results, xCAT commands, transitions), plus one open incident of
--big nodes in 'moving'. Figures are per call, and as ratios to the plain `show` read
(records.summary) of the same open incident.
Usage: python bench/records.py [--incidents N] [--nodes N] [--big N]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sntakeover.metrics import StoreCollector  # noqa: E402
from sntakeover.model import State  # noqa: E402
from sntakeover.noderange import compress  # noqa: E402
from sntakeover.progress import snapshot  # noqa: E402
from sntakeover.records import summary  # noqa: E402
from sntakeover.store import Store  # noqa: E402
from sntakeover.tally import Tally  # noqa: E402


def incident(store: Store, sn: str, nodes: int, *, end: State | None) -> int:
    with store.tx() as db:
        iid = store.create_incident(db, sn, State.DETECTED, "bench", requested=False, nodes=[])
    names = [f"{sn}cn{i}" for i in range(1, nodes + 1)]
    store.save_plan(iid, {"moves": []}, [(n, sn, "bk1", "planned", "") for n in names])
    for st in (State.CONFIRMING, State.CONFIRMED, State.MOVING):
        store.transition(iid, st, "bench")
    store.set_columns(iid, committed=store.incident(iid)["updated"])
    seq = store.command_started(iid, ["snmove", ",".join(names), "-d", "bk1"])
    if end is None:
        store.set_node_status(iid, {n: ("moving", "") for n in names})
        return iid
    store.command_finished(seq, 0, False, 1.5, "", "")
    store.set_node_status(iid, {n: ("moved", "") for n in names}, moved=True)
    store.transition(iid, State.VERIFYING, "bench")
    store.set_node_status(iid, {n: ("verified", "") for n in names})
    store.transition(iid, end, "bench")
    return iid


def per_call(fn, repeat: int) -> float:
    t0 = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - t0) / repeat


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--incidents", type=int, default=200)
    ap.add_argument("--nodes", type=int, default=64)
    ap.add_argument("--big", type=int, default=400)
    a = ap.parse_args(argv)
    top = Path(tempfile.mkdtemp(prefix="snt-bench-"))
    try:
        store = Store(top / "s.db")
        for i in range(a.incidents):
            incident(store, f"sn{i}", a.nodes, end=State.DONE)
        big = incident(store, "snbig", a.big, end=None)
        tally = Tally(store)
        ro = Store(top / "s.db", readonly=True)
        show = per_call(lambda: summary(ro, big), 20)
        poll = per_call(lambda: snapshot(ro, big, rounds_needed=2), 20)
        collector = StoreCollector(ro, tally)
        t0 = time.perf_counter()
        list(collector.collect())
        first = time.perf_counter() - t0
        scrape = per_call(lambda: list(collector.collect()), 10)
        names = [f"cn{i}" for i in range(1, 10001) if i % 97]
        comp = per_call(lambda: compress(names), 20)
        print(f"store: {a.incidents} closed incidents x {a.nodes} nodes, one open of {a.big} nodes")
        print(f"show (records.summary) of the open incident: {show * 1e3:8.2f} ms")
        print(f"follow poll (progress.snapshot):              {poll * 1e3:8.2f} ms  ({poll / show:.2f} x show)")
        print(f"/metrics scrape, first (durations computed):  {first * 1e3:8.2f} ms  ({first / show:.2f} x show)")
        print(f"/metrics scrape, next (durations cached):     {scrape * 1e3:8.2f} ms  ({scrape / show:.2f} x show)")
        print(f"compress {len(names)} names to {len(compress(names).split(','))} ranges: {comp * 1e3:8.2f} ms")
        ro.close()
        store.close()
    finally:
        shutil.rmtree(top, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
