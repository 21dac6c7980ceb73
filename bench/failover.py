#!/usr/bin/env python3
"""The shared PostgreSQL store against SQLite, and how soon a standby leads, in one run.

Starts a real PostgreSQL (initdb + pg_ctl in a temporary directory, as tests/pgserver.py
does; as ``nobody`` when run as root) and measures, through the store's own API:

- acknowledged events per second, one event per transaction (the intake's worst case) and
  --batch events per transaction (its group commit), on SQLite (synchronous=FULL) and on
  PostgreSQL (the server's fsync on; ``--no-fsync`` turns it off), and the ratio;
- the time from a leader's lock session ending (its process killed) to a standby leading,
  as a fraction of ha.takeover_within (--within).

Usage: python bench/failover.py [--events N] [--batch N] [--within S] [--rounds N] [--no-fsync]
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from pgserver import PgServer  # noqa: E402

from sntakeover.clock import now  # noqa: E402
from sntakeover.leader import PgLeadership  # noqa: E402
from sntakeover.model import Event  # noqa: E402
from sntakeover.store import Store  # noqa: E402


def events(prefix: str, n: int) -> list[Event]:
    return [Event(id=f"{prefix}{i}", kind="sn.down", servicenode="sn1", source={"tool": "bench"}, time=now())
            for i in range(n)]


def rate(store: Store, evs: list[Event], batch: int) -> float:
    t = time.perf_counter()
    for i in range(0, len(evs), batch):
        store.add_events(evs[i:i + batch])
    return len(evs) / (time.perf_counter() - t)


LEADER = """
import logging, sys, time
sys.path.insert(0, {repo!r})
logging.getLogger("sntakeover").setLevel(logging.CRITICAL)
from sntakeover.leader import PgLeadership
from sntakeover.store import Store
lead = PgLeadership({url!r}, Store({url!r}), {within})
lead.attempt()
print("leading" if lead.leading() else "not leading", flush=True)
time.sleep(3600)
"""


def takeover_time(url: str, within: float) -> float:
    """Seconds from the leader's death to the standby leading."""
    leader = subprocess.Popen([sys.executable, "-c", LEADER.format(repo=str(REPO), url=url, within=within)],
                              stdout=subprocess.PIPE, text=True)
    assert leader.stdout.readline().strip() == "leading"
    led = threading.Event()
    standby = PgLeadership(url, Store(url), within, on_change=lambda leading: leading and led.set())
    standby.start()
    try:
        assert not standby.leading()
        t = time.monotonic()
        leader.kill()
        leader.wait()
        led.wait(10 * within)
        return time.monotonic() - t
    finally:
        standby.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--within", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-fsync", action="store_true")
    args = ap.parse_args(argv)
    logging.getLogger("sntakeover").setLevel(logging.CRITICAL)  # the leadership's own log lines
    server = PgServer(fsync=not args.no_fsync)
    tmp = Path(tempfile.mkdtemp(prefix="snt-bench-"))
    try:
        stores = {"sqlite": Store(tmp / "bench.db"), "postgresql": Store(server.database())}
        figures: dict[tuple[str, int], float] = {}
        for name, store in stores.items():
            for batch in (1, args.batch):
                figures[(name, batch)] = rate(store, events(f"{name}-{batch}-", args.events), batch)
        fs = "on" if not args.no_fsync else "off"
        print(f"acknowledged events per second ({args.events} events; PostgreSQL fsync {fs}):")
        for batch in (1, args.batch):
            sq, pg = figures[("sqlite", batch)], figures[("postgresql", batch)]
            print(f"  {batch:3d} per transaction: SQLite {sq:8.0f}/s  PostgreSQL {pg:8.0f}/s  "
                  f"PostgreSQL/SQLite {pg / sq:.2f}")
        url = server.database()
        Store(url).close()
        times = [takeover_time(url, args.within) for _ in range(args.rounds)]
        print(f"standby leading after the leader was killed (ha.takeover_within = {args.within:g} s, "
              f"{args.rounds} rounds): median {statistics.median(times):.2f} s = "
              f"{statistics.median(times) / args.within:.2f} x takeover_within, max {max(times):.2f} s = "
              f"{max(times) / args.within:.2f} x")
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
