#!/usr/bin/env python3
"""xCAT commands over SSH against the same commands run locally, in one run.

Starts a real OpenSSH sshd on 127.0.0.1 (as the tests do), builds a simulated
cluster and runs the same simulator command --count times through the local
runner, through the SSH runner one after the other (one reused connection),
and through the SSH runner from 8 threads (8 channels at once). Prints the
commands per second of each and their ratios.
Usage: python bench/sshrunner.py [--count N] [--nodes N]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "realtools")]

from sntakeover import xcatsim  # noqa: E402
from sntakeover.runner import LocalRunner  # noqa: E402
from sshd_support import Sshd  # noqa: E402


def rate(run, argv, count: int, threads: int = 1) -> float:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        results = list(pool.map(lambda _: run(argv), range(count)))
    elapsed = time.perf_counter() - t0
    bad = [r for r in results if r.rc != 0]
    if bad:
        raise SystemExit(f"{len(bad)} command(s) failed: {bad[0].stderr[:300]}")
    return count / elapsed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=64)
    ap.add_argument("--nodes", type=int, default=64)
    args = ap.parse_args(argv)
    top = Path(tempfile.mkdtemp(prefix="snt-bench-ssh-"))
    sshd = None
    try:
        cluster = xcatsim.init_cluster(top / "c", nodes=args.nodes, sns=("sn1", "sn2"))
        path = [str(xcatsim.bin_dir(cluster))]
        sshd = Sshd(top).start()
        sshd.trust()
        cmd = ["lsdef", "-t", "node", "-o", ",".join(f"cn{i}" for i in range(1, args.nodes + 1)),
               "-i", "servicenode,xcatmaster"]
        local = LocalRunner(path_prefix=path)
        remote = sshd.runner(path_prefix=path)
        try:
            remote.run(["true"])  # connect once, outside the measurement
            r_local = rate(local.run, cmd, args.count)
            r_ssh = rate(remote.run, cmd, args.count)
            r_ssh8 = rate(remote.run, cmd, args.count, threads=8)
        finally:
            remote.close()
        print(f"command: lsdef of {args.nodes} nodes (simulator), {args.count} runs each")
        print(f"local runner:              {r_local:8.1f} commands/s")
        print(f"ssh runner, 1 at a time:   {r_ssh:8.1f} commands/s  (ssh/local = {r_ssh / r_local:.2f})")
        print(f"ssh runner, 8 channels:    {r_ssh8:8.1f} commands/s  (8 channels/1 = {r_ssh8 / r_ssh:.2f})")
        return 0
    finally:
        if sshd is not None:
            sshd.stop()
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
