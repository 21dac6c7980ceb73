#!/usr/bin/env python3
"""Intake throughput and latency: durable-acknowledged events against the bare ZeroMQ ceiling.

In one run, with the same client threads (each a REQ socket sending one event
and waiting for its reply, as every hook does), against two servers that each
run in a process of their own:

1. the real daemon (``sntakeover serve``): limits, schema, group commit to
   SQLite (WAL, synchronous=FULL), then the ack; the engine applies the events,
   so the traffic includes ``sn.down`` events that open incidents and attach
   to them (the incidents stay in ``confirming``: no xCAT here);
2. a bare ROUTER that only does ZeroMQ receive + ``json.loads`` + reply.

Then the ack latency of both at a paced rate (default 1000 events/s), and
optionally (``--storm N``) the time to absorb N events with 90 % duplicates.
Prints each figure and the ratios, and for the throughput runs the CPU time
per event used by the server process (all its threads) and by the clients (this
process): with two cores, what the clients use is not the server's. Last,
the floor of the daemon's own work: the same events prepared and committed
(limits, schema, insert, apply, ``synchronous=FULL``) by one thread in this
process, no sockets, every group full (one per client), best of three rounds.
The temporary directory is removed.

Usage: python bench/intake.py [--events N] [--clients K] [--rate R] [--storm N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import zmq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sntakeover.client import request, wait_for_daemon  # noqa: E402

SNS = ("sn1", "sn2", "sn3", "sn4")
#: the events' time: now, or the daemon would record them as stale (events.max_age) and never act
NOW = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def event(i: int, c: int, dup_every: int = 0) -> bytes:
    """Every 4th event an sn.down (hard), the others sn.up; ``dup_every`` > 0 repeats ids."""
    n = i // dup_every if dup_every else i
    down = n % 4 == 0
    ev = {"id": f"bench:{c}:{n}", "kind": "sn.down" if down else "sn.up", "servicenode": SNS[n % len(SNS)],
          "source": {"tool": "bench", "host": "mon1", "ref": str(n)}, "time": NOW,
          "severity": "critical", "detail": "CRITICAL - Host Unreachable (10.1.0.1)"}
    if down:
        ev["state_type"] = "hard"
    return json.dumps({"v": 1, "op": "event", "event": ev}).encode()


def drive(endpoint: str, n: int, clients: int, *, rate: float = 0.0, dup_every: int = 0, tag: str = "",
          server: int | None = None) -> dict:
    """Send n events over ``clients`` REQ sockets (paced at ``rate`` events/s in total if > 0).

    Returns events/s, the ack latencies (seconds) and the CPU time per event of
    the clients (this process) and of the ``server`` process (its pid), if given.
    """
    ctx = zmq.Context()
    per = n // clients
    errors: list[str] = []
    lat: list[list[float]] = [[] for _ in range(clients)]
    start = threading.Barrier(clients + 1)

    def worker(c: int) -> None:
        s = ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(endpoint)
        msgs = [event(i, hash((tag, c)) & 0xFFFFFF, dup_every) for i in range(per)]
        interval = clients / rate if rate else 0.0
        start.wait()
        t0 = time.perf_counter() + (c * interval / clients if rate else 0.0)
        for i, m in enumerate(msgs):
            if rate:
                delay = t0 + i * interval - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            sent = time.perf_counter()
            s.send(m)
            if not s.poll(20000):
                errors.append("timeout")
                break
            reply = json.loads(s.recv())
            lat[c].append(time.perf_counter() - sent)
            if not reply.get("ok"):
                errors.append(str(reply))
                break
        s.close()

    threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0, c0, s0 = time.perf_counter(), time.process_time(), cpu_seconds(server)
    for t in threads:
        t.join()
    dt, cpu, scpu = time.perf_counter() - t0, time.process_time() - c0, cpu_seconds(server) - s0
    ctx.term()
    if errors:
        raise SystemExit(f"errors: {errors[:3]}")
    flat = sorted(x for lst in lat for x in lst)
    n = per * clients
    return {"rate": n / dt, "lat": flat, "seconds": dt, "client_us": cpu / n * 1e6, "server_us": scpu / n * 1e6}


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time a process (all its threads) has used so far; 0 without one."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def floor(tmp: Path, n: int, group: int, rounds: int = 3) -> float:
    """Seconds per event of the daemon's work with no sockets: prepare, then one commit per ``group``."""
    from sntakeover.config import build
    from sntakeover.engine import Engine
    from sntakeover.intake import Intake
    from sntakeover.plugins import Hooks, get_plugin_manager
    from sntakeover.runner import LocalRunner
    from sntakeover.store import Store
    from sntakeover.validation import load_validators

    best = float("inf")
    for r in range(rounds):
        db = tmp / f"floor{r}.db"
        cfg = build({"confirm": {"rounds": 2, "interval": 600.0}, "xcat": {"path": [str(tmp / "no-xcat")]}})
        hooks = Hooks(get_plugin_manager(load_entrypoints=True))
        engine = Engine(cfg, Store(db), hooks, LocalRunner())  # not started: its apply runs in the commit
        intake = Intake(cfg, Store(db), load_validators(), hooks, apply=engine.apply_stored)
        msgs = [event(i, r) for i in range(n)]
        t0 = time.perf_counter()
        for i in range(0, n, group):
            works = [intake.prepare(m) for m in msgs[i:i + group]]
            intake.commit(works)
            for w in works:
                if not intake.finish(w).get("ok"):
                    raise SystemExit(f"floor: {intake.finish(w)}")
        best = min(best, (time.perf_counter() - t0) / n)
        intake.store.close()
        engine.store.close()
    return best


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def bare_router(endpoint: str) -> int:
    """The ceiling: receive + json.loads + reply, nothing else (run as its own process)."""
    ctx = zmq.Context()
    s = ctx.socket(zmq.ROUTER)
    s.setsockopt(zmq.LINGER, 0)
    s.bind(endpoint)
    ack = b'{"ok":true}'
    print("ready", flush=True)
    while True:
        frames = s.recv_multipart()
        if frames[-1] == b"stop":
            break
        json.loads(frames[-1])
        s.send_multipart([*frames[:-1], ack])
    s.close()
    ctx.term()
    return 0


def start_daemon(tmp: Path) -> tuple[subprocess.Popen, str]:
    cfg = tmp / "config.toml"
    cfg.write_text(f'[daemon]\nstate_dir = "{tmp}/state"\nruntime_dir = "{tmp}/run"\nlog_level = "error"\n'
                   f'[xcat]\npath = ["{tmp}/no-xcat"]\n[confirm]\nrounds = 2\ninterval = 600.0\n')
    proc = subprocess.Popen([sys.executable, "-m", "sntakeover", "serve", "--config", str(cfg)], cwd=REPO)
    ep = f"ipc://{tmp}/run/intake.sock"
    wait_for_daemon(ep, alive=lambda: proc.poll() is None)
    return proc, ep


def start_bare(tmp: Path) -> tuple[subprocess.Popen, str]:
    ep = f"ipc://{tmp}/bare.sock"
    proc = subprocess.Popen([sys.executable, __file__, "--bare-router", ep], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc, ep


def stop(proc: subprocess.Popen, ep: str | None = None) -> None:
    if ep:  # the bare router stops on a 'stop' message
        ctx = zmq.Context()
        s = ctx.socket(zmq.DEALER)
        s.setsockopt(zmq.LINGER, 1000)
        s.connect(ep)
        s.send_multipart([b"", b"stop"])
        s.close()
        ctx.term()
    else:
        proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def pending(ep: str) -> int:
    return request({"v": 1, "op": "status"}, endpoint=ep, timeout=10, retries=2)["status"]["events_pending"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=16000)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--rate", type=float, default=1000.0, help="paced rate for the latency figures (events/s)")
    ap.add_argument("--latency-seconds", type=float, default=5.0)
    ap.add_argument("--storm", type=int, default=0, help="also absorb N events, 90%% duplicates, from 4 clients")
    ap.add_argument("--bare-router", metavar="ENDPOINT", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.bare_router:
        return bare_router(args.bare_router)

    tmp = Path(tempfile.mkdtemp(prefix="snt-bench-"))
    try:
        daemon, dep = start_daemon(tmp)
        try:
            drive(dep, 320, args.clients, tag="warm")
            durable = drive(dep, args.events, args.clients, tag="tput", server=daemon.pid)
            paced_n = int(args.rate * args.latency_seconds)
            paced = drive(dep, paced_n, args.clients, rate=args.rate, tag="paced")
            storm = None
            if args.storm:
                t0 = time.perf_counter()
                drive(dep, args.storm, 4, dup_every=10, tag="storm")
                acked = time.perf_counter() - t0
                while pending(dep):
                    time.sleep(0.05)
                storm = (acked, time.perf_counter() - t0)
        finally:
            stop(daemon)
        bare, bep = start_bare(tmp)
        try:
            drive(bep, 320, args.clients, tag="warm")
            ceiling = drive(bep, args.events, args.clients, tag="tput", server=bare.pid)
            bare_paced = drive(bep, paced_n, args.clients, rate=args.rate, tag="paced")
        finally:
            stop(bare, bep)
        work = floor(tmp, min(args.events, 4000), args.clients)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"events: {args.events}, clients: {args.clients} (REQ, one thread each), cpus: {os.cpu_count()}; "
          f"traffic: 1 in 4 sn.down (hard), the rest sn.up")
    print(f"daemon, durable ack (limits + schema + group commit, WAL fsync): {durable['rate']:8.0f} events/s")
    print(f"bare ROUTER in its own process (recv + json.loads + reply):     {ceiling['rate']:8.0f} events/s")
    print(f"ratio daemon / bare ROUTER:                                     {durable['rate'] / ceiling['rate']:8.3f}")
    for name, r in (("daemon", durable), ("bare ROUTER", ceiling)):
        print(f"CPU per event with the {name + ':':12s} server {r['server_us']:5.0f} us, clients {r['client_us']:5.0f} us")
    print(f"ack latency at {args.rate:.0f} events/s ({paced_n} events), daemon:      "
          f"p50 {pct(paced['lat'], 0.5):6.2f} ms  p99 {pct(paced['lat'], 0.99):6.2f} ms  "
          f"(achieved {paced['rate']:.0f}/s)")
    print(f"ack latency at {args.rate:.0f} events/s ({paced_n} events), bare ROUTER: "
          f"p50 {pct(bare_paced['lat'], 0.5):6.2f} ms  p99 {pct(bare_paced['lat'], 0.99):6.2f} ms")
    print(f"floor, the daemon's own work in one thread, no sockets, groups of {args.clients}: {work * 1e6:.0f} us/event, "
          f"at most {1 / work:.0f} events/s = {1 / work / ceiling['rate']:.3f} of this run's bare ROUTER")
    if storm:
        print(f"storm: {args.storm} events (90% duplicates, 4 clients): all acked in {storm[0]:.1f} s, "
              f"all applied in {storm[1]:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
