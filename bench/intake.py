#!/usr/bin/env python3
"""Intake throughput: durable-acknowledged events per second, against the ceiling.

In one run, with the same client threads (each a REQ socket sending one event
and waiting for its reply, as every hook does):

1. the real daemon (``sntakeover serve``, its own process): validate against the
   schema, commit to SQLite (WAL, synchronous=FULL), then ack;
2. a bare ROUTER that only does ZeroMQ receive + ``json.loads`` + reply;
3. ZeroMQ receive + ``json.loads`` alone with no reply (PUSH/PULL, one socket).

Prints each rate and the ratios. Usage: python bench/intake.py [--events N] [--clients K]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import zmq

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sntakeover.client import wait_for_daemon  # noqa: E402


def event(i: int, c: int) -> bytes:
    ev = {"id": f"bench:{c}:{i}", "kind": "sn.up", "servicenode": f"sn{i % 8 + 1}",
          "source": {"tool": "bench", "host": "mon1", "ref": str(i)}, "time": "2026-03-04T10:15:42Z",
          "severity": "critical", "detail": "CRITICAL - Host Unreachable (10.1.0.1)"}
    return json.dumps({"v": 1, "op": "event", "event": ev}).encode()


def drive(endpoint: str, n: int, clients: int) -> float:
    """Send n events split over `clients` REQ sockets; return events per second."""
    ctx = zmq.Context()
    per = n // clients
    errors: list[str] = []

    def worker(c: int) -> None:
        s = ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(endpoint)
        for i in range(per):
            s.send(event(i, c))
            if not s.poll(10000):
                errors.append("timeout")
                break
            reply = json.loads(s.recv())
            if not reply.get("ok"):
                errors.append(str(reply))
                break
        s.close()

    threads = [threading.Thread(target=worker, args=(c,)) for c in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    ctx.term()
    if errors:
        raise SystemExit(f"errors: {errors[:3]}")
    return per * clients / dt


def bare_router(endpoint: str, stop: threading.Event, ready: threading.Event) -> None:
    ctx = zmq.Context()
    s = ctx.socket(zmq.ROUTER)
    s.setsockopt(zmq.LINGER, 0)
    s.bind(endpoint)
    ready.set()
    ack = b'{"ok":true}'
    while not stop.is_set():
        if not s.poll(200):
            continue
        frames = s.recv_multipart()
        json.loads(frames[-1])
        s.send_multipart([*frames[:-1], ack])
    s.close()
    ctx.term()


def recv_loads_only(n: int) -> float:
    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.LINGER, 0)
    pull.setsockopt(zmq.RCVHWM, 0)
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    push.setsockopt(zmq.SNDHWM, 0)
    push.connect(f"tcp://127.0.0.1:{port}")
    msgs = [event(i, 0) for i in range(n)]
    for m in msgs:
        push.send(m)
    time.sleep(0.5)  # let the queue fill so we time receiving, not sending
    t0 = time.perf_counter()
    for _ in range(n):
        json.loads(pull.recv())
    dt = time.perf_counter() - t0
    push.close()
    pull.close()
    ctx.term()
    return n / dt


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=3000)
    ap.add_argument("--clients", type=int, default=4)
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="snt-bench-"))
    cfg = tmp / "config.toml"
    cfg.write_text(f'[daemon]\nstate_dir = "{tmp}/state"\nruntime_dir = "{tmp}/run"\nlog_level = "warning"\n[metrics]\nlisten = ""\n'
                   '[confirm]\nenabled = false\n')
    ep = f"ipc://{tmp}/run/intake.sock"
    proc = subprocess.Popen([sys.executable, "-m", "sntakeover", "serve", "--config", str(cfg)], cwd=REPO)
    try:
        wait_for_daemon(ep, alive=lambda: proc.poll() is None)
        daemon_rate = drive(ep, args.events, args.clients)
    finally:
        proc.terminate()
        proc.wait(20)

    stop, ready = threading.Event(), threading.Event()
    bare_ep = f"ipc://{tmp}/bare.sock"
    t = threading.Thread(target=bare_router, args=(bare_ep, stop, ready))
    t.start()
    ready.wait()
    bare_rate = drive(bare_ep, args.events, args.clients)
    stop.set()
    t.join()
    raw_rate = recv_loads_only(args.events * 5)

    print(f"events: {args.events}, clients: {args.clients}, cpus: {os.cpu_count()}")
    print(f"daemon, durable ack (schema + SQLite WAL fsync + reply): {daemon_rate:10.0f} events/s")
    print(f"bare ROUTER, recv + json.loads + reply (same clients):  {bare_rate:10.0f} events/s")
    print(f"recv + json.loads alone (PULL, no reply):               {raw_rate:10.0f} events/s")
    print(f"ratio daemon / bare ROUTER:    {daemon_rate / bare_rate:.3f}")
    print(f"ratio daemon / recv+loads:     {daemon_rate / raw_rate:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
