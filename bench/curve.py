"""What CURVE costs a client: the intake loop on tcp:// with and without CURVE, in one run.

Two clients per endpoint: a hook (``sntakeover.client.request``: a new REQ socket per request,
so a new connection and, with CURVE, a new handshake each time) and a long-lived REQ socket
(the HTTP bridge keeps its sockets). Prints requests per second and the CURVE/plain ratios
measured back to back. The intake stores every event (group commit, fsync) as in the daemon.

    python bench/curve.py [--requests 400] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import zmq

from sntakeover.auth import ClientKeys, KeyRing, ServerAuth, read_key_file
from sntakeover.cli_keys import create_pair
from sntakeover.client import request
from sntakeover.config import build
from sntakeover.intake import Intake
from sntakeover.intakeloop import IntakeLoop
from sntakeover.plugins import Hooks, get_plugin_manager
from sntakeover.store import Store
from sntakeover.validation import load_validators


def event(i: int) -> dict:
    return {"v": 1, "op": "event", "event": {"id": f"bench-{time.monotonic_ns()}-{i}", "kind": "sn.up",
                                             "servicenode": "sn1", "source": {"tool": "bench"},
                                             "time": "2026-11-30T06:00:00Z"}}


def serve(directory: Path, auth: ServerAuth | None) -> tuple[IntakeLoop, Store]:
    store = Store(directory / f"{'curve' if auth else 'plain'}-{time.monotonic_ns()}.db")
    intake = Intake(build({}), store, load_validators(), Hooks(get_plugin_manager(load_entrypoints=False)))
    intake.keyring = auth.keyring if auth else None
    loop = IntakeLoop(intake, "tcp://127.0.0.1:*", auth=auth)
    loop.start()
    return loop, store


def hook_rate(endpoint: str, n: int, keys: ClientKeys | None) -> float:
    ctx = zmq.Context()
    t0 = time.perf_counter()
    for i in range(n):
        assert request(event(i), endpoint=endpoint, keys=keys, context=ctx)["ok"]
    took = time.perf_counter() - t0
    ctx.term()
    return n / took


def socket_rate(endpoint: str, n: int, keys: ClientKeys | None) -> float:
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    if keys is not None:
        keys.apply(sock)
    sock.connect(endpoint)
    t0 = time.perf_counter()
    for i in range(n):
        sock.send(json.dumps(event(i)).encode())
        assert json.loads(sock.recv())["ok"]
    took = time.perf_counter() - t0
    sock.close()
    ctx.term()
    return n / took


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=400)
    p.add_argument("--rounds", type=int, default=3)
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="snt-curve-") as tmp:
        d = Path(tmp)
        create_pair(d / "etc", "server")
        create_pair(d / "keys", "bench")
        public, secret = read_key_file(d / "etc" / "server.key_secret")
        assert secret is not None
        auth = ServerAuth(public, secret, KeyRing(d / "keys"))
        keys = ClientKeys.from_files(str(d / "keys" / "bench.key_secret"), str(d / "etc" / "server.key"))
        plain_loop, plain_store = serve(d, None)
        curve_loop, curve_store = serve(d, auth)
        ratios: dict[str, list[float]] = {"hook": [], "socket": []}
        for rnd in range(1, a.rounds + 1):
            for kind, rate in (("hook", hook_rate), ("socket", socket_rate)):
                plain = rate(plain_loop.endpoint, a.requests, None)
                curve = rate(curve_loop.endpoint, a.requests, keys)
                ratios[kind].append(curve / plain)
                print(f"round {rnd} {kind:<6}: plain {plain:7.0f} req/s, CURVE {curve:7.0f} req/s, "
                      f"CURVE/plain {curve / plain:.2f}")
        for kind, values in ratios.items():
            print(f"{kind}: median CURVE/plain throughput ratio {statistics.median(values):.2f} "
                  f"({a.rounds} rounds of {a.requests} requests)")
        for loop in (plain_loop, curve_loop):
            loop.stop()
        plain_store.close()
        curve_store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
