#!/usr/bin/env python3
"""Takeover time, event to every node verified: the 'snmove' strategy against 'fast', in one run.

Each run builds a simulated cluster with 2*N compute nodes on sn1/sn2 (N have sn1
first), fails sn1, starts the daemon as its own process and sends one sn.down event;
the time is from the event's ack to the incident being closed (confirmation, plan,
move and verification of every node). Every xCAT round trip costs --latency seconds.

For each size in --sizes both strategies run on identical clusters; the end states
(every table, every machine) are compared and the ratio snmove/fast printed. For each
size in --fast-only only 'fast' runs (plain snmove would take far too long there), to
show how its cost grows with N. Everything lives in one temporary directory, removed
at the end.

Then the engine's own delay: --incidents takeovers one after the other on one cluster (each
fails the first SN of another SN pair, 4 nodes per SN), and from the store's timeline and
commands tables, for every incident, the time from its move to 'confirmed' to the start of
its first xCAT command; p50 and p99.

Usage: python bench/takeover.py [--sizes 100,1000] [--fast-only 5000,10000] [--latency 0.05] [--os AIX,Linux]
                                [--incidents 40]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sntakeover import xcatsim  # noqa: E402
from sntakeover.client import request, wait_for_daemon  # noqa: E402
from sntakeover.clock import now, parse  # noqa: E402
from sntakeover.errors import StoreError  # noqa: E402
from sntakeover.store import Store  # noqa: E402


def sizes(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def oses(text: str) -> list[str]:
    got = [x.strip() for x in text.split(",") if x.strip()]
    bad = [x for x in got if x not in ("AIX", "Linux")]
    if bad or not got:
        raise argparse.ArgumentTypeError(f"--os: AIX, Linux or both (AIX,Linux), not {text!r}")
    return got


def start_daemon(run: Path, cluster: Path, strategy: str, args: argparse.Namespace, extra: str = ""):
    """The daemon as its own process on ``cluster``; returns (process, intake endpoint, log file)."""
    cfg = run / "config.toml"
    cfg.write_text(f'[daemon]\nstate_dir = "{run}/s"\nruntime_dir = "{run}/r"\nlog_level = "warning"\n'
                   f'[xcat]\npath = ["{xcatsim.bin_dir(cluster)}"]\ncommand_timeout = {args.timeout}\n'
                   f'[confirm]\ninterval = 0.1\n[verify]\ninterval = 0.1\n'
                   f'[takeover]\nstrategy = "{strategy}"\nsnmove_timeout = {args.timeout}\n{extra}')
    ep = f"ipc://{run}/r/intake.sock"
    log = open(run / "daemon.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "sntakeover", "serve", "--config", str(cfg)], cwd=REPO,
                            stdout=log, stderr=subprocess.STDOUT)
    wait_for_daemon(ep, alive=lambda: proc.poll() is None)
    return proc, ep, log


def sn_down(ep: str, event_id: str, sn: str) -> None:
    ev = {"id": event_id, "kind": "sn.down", "servicenode": sn, "source": {"tool": "bench"}, "time": now()}
    request({"v": 1, "op": "event", "event": ev}, endpoint=ep, timeout=5, retries=1)


def first_command_delays(db: Path) -> list[float]:
    """For every move of an incident to 'confirmed': seconds until its next xCAT command started."""
    st = Store(db, readonly=True)
    try:
        rows = st.query("SELECT t.time AS confirmed, (SELECT MIN(c.started) FROM commands c WHERE "
                        "c.incident_id = t.incident_id AND c.started >= t.time) AS first FROM timeline t "
                        "WHERE t.to_state = 'confirmed'")
    finally:
        st.close()
    return [(parse(r["first"]) - parse(r["confirmed"])).total_seconds() for r in rows if r["first"]]


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def confirmed_to_first_command(top: Path, args: argparse.Namespace) -> list[float]:
    """``args.incidents`` takeovers one after the other, each of a different SN of one cluster
    (one SN pair per incident, 4 nodes each); the delays of all of them."""
    run = top / "latency"
    sns = [f"sn{i}" for i in range(1, 2 * args.incidents + 1)]
    cluster = xcatsim.init_cluster(run / "c", nodes=4 * args.incidents, sns=sns, os=args.os, latency=args.latency)
    # every incident is a takeover of its own: no circuit breaker (half the SNs end down), no rate limit
    proc, ep, log = start_daemon(run, cluster, "fast", args, "[ratelimit]\nmax_takeovers = 0\n"
                                                             "[breaker]\nmax_fraction = 1.0\n")
    db = run / "s" / "sntakeover.db"
    try:
        for i in range(args.incidents):
            sn = sns[2 * i]
            xcatsim.fail_sn(cluster, sn)
            sn_down(ep, f"bench-latency-{i}", sn)
            deadline = time.perf_counter() + 300
            while True:
                st = Store(db, readonly=True)
                try:
                    ended = st.query("SELECT COUNT(*) FROM incidents WHERE closed IS NOT NULL")[0][0]
                finally:
                    st.close()
                if ended > i:
                    break
                if proc.poll() is not None or time.perf_counter() > deadline:
                    raise SystemExit(f"incident {i + 1} of the latency run did not end (see {run}/daemon.log)")
                time.sleep(0.1)
        return first_command_delays(db)
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()
        remove(cluster)


def one(top: Path, strategy: str, n: int, args: argparse.Namespace) -> dict:
    """One takeover of ``n`` nodes with ``strategy``; returns its figures and the cluster directory."""
    run = top / f"{args.os}-{strategy}-{n}"
    cluster = xcatsim.init_cluster(run / "c", nodes=2 * n, sns=("sn1", "sn2"), os=args.os, latency=args.latency)
    xcatsim.fail_sn(cluster, "sn1")
    proc, ep, log = start_daemon(run, cluster, strategy, args)
    try:
        sn_down(ep, f"bench-{strategy}-{n}", "sn1")
        t0 = time.perf_counter()
        deadline = t0 + args.timeout
        while time.perf_counter() < deadline:
            if proc.poll() is not None:
                tail = (run / "daemon.log").read_text(errors="replace")[-2000:]
                raise SystemExit(f"the daemon for {strategy} with {n} nodes exited (rc={proc.returncode}):\n{tail}")
            try:
                st = Store(run / "s" / "sntakeover.db", readonly=True)
            except StoreError:
                time.sleep(0.2)
                continue
            try:
                rows = st.query("SELECT state, closed FROM incidents")
                if rows and rows[0]["closed"]:
                    took = time.perf_counter() - t0
                    verified = st.query("SELECT COUNT(*) FROM nodes WHERE status = 'verified'")[0][0]
                    commands = st.query("SELECT COUNT(*) FROM commands")[0][0]
                    return {"strategy": strategy, "n": n, "seconds": took, "state": rows[0]["state"],
                            "verified": verified, "commands": commands, "cluster": cluster}
            finally:
                st.close()
            time.sleep(0.2)
        raise SystemExit(f"{strategy} with {n} nodes did not finish within {args.timeout}s (see {run}/daemon.log)")
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()


def remove(cluster: Path) -> None:
    stop = getattr(xcatsim, "stop_cluster", None)  # SN listeners, where the simulator has them
    if stop is not None:
        stop(cluster)
    shutil.rmtree(cluster, ignore_errors=True)


def end_state(cluster: Path) -> dict:
    """Every table and machine; a cluster's own loopback /24 (MN and SN addresses, where the
    simulator gives each cluster one) is written as 127.x.y. so that twin clusters compare."""
    s = xcatsim.load_state(cluster)
    text = json.dumps({"tables": s["tables"], "machines": s["machines"]})
    master = s["tables"]["site"].get("master", "")
    if master.startswith("127."):
        text = re.sub(re.escape(master.rsplit(".", 1)[0] + ".") + r"(?=\d)", "127.x.y.", text)
    return json.loads(text)


def differences(a: dict, b: dict, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in differences(a.get(k), b.get(k), f"{path}/{k}")]
    return [] if a == b else [f"{path}: {json.dumps(a)[:80]} != {json.dumps(b)[:80]}"]


def line(r: dict) -> str:
    return (f"{r['strategy']:<7} {r['n']:>6} nodes: {r['seconds']:8.2f} s  {r['state']}, "
            f"{r['verified']} verified, {r['commands']} xCAT commands")


def run_os(top: Path, args: argparse.Namespace) -> None:
    """Both strategies at ``args.sizes``, then 'fast' alone at ``args.fast_only``, for ``args.os`` nodes."""
    print(f"{args.os} nodes, latency per round trip {args.latency}s, {os.cpu_count()} CPU(s); "
          f"time = event acked -> incident closed", flush=True)
    for n in args.sizes:
        plain = one(top, "snmove", n, args)
        print(line(plain), flush=True)
        fast = one(top, "fast", n, args)
        print(line(fast), flush=True)
        diff = differences(end_state(plain["cluster"]), end_state(fast["cluster"]))
        same = "identical end state" if not diff else f"END STATE DIFFERS in {len(diff)} place(s): {diff[:3]}"
        print(f"        {n:>6} nodes: snmove / fast = {plain['seconds'] / fast['seconds']:.1f}x, {same}", flush=True)
        for r in (plain, fast):
            remove(r["cluster"])
    prev = None
    for n in args.fast_only:
        r = one(top, "fast", n, args)
        grow = f", x{r['seconds'] / prev['seconds']:.2f} for x{n / prev['n']:.1f} nodes" if prev else ""
        print(line(r) + f"  ({1000 * r['seconds'] / n:.1f} ms per node{grow})", flush=True)
        remove(r["cluster"])
        prev = r


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=sizes, default=sizes("100,1000"),
                    help="nodes on the failed SN, run with both strategies (default 100,1000)")
    ap.add_argument("--fast-only", type=sizes, default=sizes("5000,10000"),
                    help="nodes on the failed SN, run with 'fast' only (default 5000,10000)")
    ap.add_argument("--latency", type=float, default=0.05, help="seconds per simulated round trip (default 0.05)")
    ap.add_argument("--os", type=oses, default=oses("AIX,Linux"),
                    help="the nodes' OS, one run per OS in turn (default AIX,Linux)")
    ap.add_argument("--timeout", type=float, default=7200.0, help="seconds one takeover may take")
    ap.add_argument("--incidents", type=int, default=40,
                    help="takeovers in turn for the confirmed -> first command delay (default 40; 0 = skip)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (its path is printed)")
    args = ap.parse_args(argv)
    top = Path(tempfile.mkdtemp(prefix="snt-bench-"))
    try:
        for os_name in args.os:
            run_os(top, argparse.Namespace(**{**vars(args), "os": os_name}))
        if args.incidents > 0:
            d = confirmed_to_first_command(top, argparse.Namespace(**{**vars(args), "os": args.os[0]}))
            print(f"confirmed -> first xCAT command, {len(d)} incident(s) ({args.os[0]}): p50 "
                  f"{1000 * percentile(d, 50):.1f} ms, p99 {1000 * percentile(d, 99):.1f} ms, "
                  f"max {1000 * max(d):.1f} ms", flush=True)
    finally:
        stop_all = getattr(xcatsim, "stop_all", None)
        if stop_all is not None:
            stop_all()
        if args.keep:
            print(f"kept {top}")
        else:
            shutil.rmtree(top, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
