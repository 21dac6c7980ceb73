#!/usr/bin/env python3
"""Takeover time: the 'snmove' strategy against the 'parallel' strategy, in one run.

A simulated cluster where every xCAT round trip costs --latency seconds (snmove
makes about four per node, one after the other). The daemon runs as its own
process; the time is from the event's ack to the incident being closed
(confirmation, plan, move and verification of every node).
Usage: python bench/takeover.py [--nodes N] [--latency S] [--parallel K]
"""

from __future__ import annotations

import argparse
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
from sntakeover.poll import wait_until  # noqa: E402
from sntakeover.store import Store  # noqa: E402


def one(strategy: str, nodes: int, latency: float, parallel: int) -> tuple[float, str, int]:
    top = Path(tempfile.mkdtemp(prefix="snt-bench-"))
    try:
        cluster = xcatsim.init_cluster(top / "c", nodes=nodes, sns=("sn1", "sn2"), latency=latency)
        xcatsim.fail_sn(cluster, "sn1")
        cfg = top / "config.toml"
        cfg.write_text(f'[daemon]\nstate_dir = "{top}/s"\nruntime_dir = "{top}/r"\nlog_level = "warning"\n[metrics]\nlisten = ""\n'
                       f'[xcat]\npath = ["{xcatsim.bin_dir(cluster)}"]\n[confirm]\ninterval = 0.1\n'
                       f'[verify]\ninterval = 0.1\n[takeover]\nstrategy = "{strategy}"\nparallel = {parallel}\n')
        ep = f"ipc://{top}/r/intake.sock"
        proc = subprocess.Popen([sys.executable, "-m", "sntakeover", "serve", "--config", str(cfg)], cwd=REPO)
        try:
            wait_for_daemon(ep, alive=lambda: proc.poll() is None)
            ev = {"id": f"bench-{strategy}", "kind": "sn.down", "servicenode": "sn1",
                  "source": {"tool": "bench"}, "time": "2026-03-04T10:15:42Z"}
            request({"v": 1, "op": "event", "event": ev}, endpoint=ep, timeout=5, retries=1)
            t0 = time.perf_counter()

            def ended():
                st = Store(top / "s" / "sntakeover.db", readonly=True)
                try:
                    rows = st.query("SELECT state, closed FROM incidents")
                    moved = st.query("SELECT COUNT(*) FROM nodes WHERE status = 'verified'")[0][0]
                finally:
                    st.close()
                return (rows[0]["state"], moved) if rows and rows[0]["closed"] else None

            state, moved = wait_until(ended, timeout=None)
            return time.perf_counter() - t0, state, moved
        finally:
            proc.terminate()
            proc.wait(30)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=128, help="compute nodes (half have sn1 first)")
    ap.add_argument("--latency", type=float, default=0.01)
    ap.add_argument("--parallel", type=int, default=8)
    args = ap.parse_args(argv)
    seq, s_state, s_moved = one("snmove", args.nodes, args.latency, args.parallel)
    par, p_state, p_moved = one("parallel", args.nodes, args.latency, args.parallel)
    print(f"nodes on the failed SN: {args.nodes // 2}, latency per round trip: {args.latency}s")
    print(f"snmove   (one run):         {seq:7.2f} s  {s_state}, {s_moved} verified")
    print(f"parallel ({args.parallel} runs at once): {par:7.2f} s  {p_state}, {p_moved} verified")
    print(f"ratio parallel / snmove: {par / seq:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
