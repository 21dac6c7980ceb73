#!/usr/bin/env python3
"""Alertmanager webhooks: our bridge + daemon side by side with ansible-rulebook's alertmanager source.

Both receive the same Alertmanager payloads (version 4, distinct alerts) from
the same load generator (its own process, ``--concurrency`` keep-alive
connections), at 1 and at 10 alerts per POST. Ours answers 2xx only after every
alert of the POST is stored (SQLite, fsync) by the daemon; ansible-rulebook's
source answers 202 once the alerts are in its in-memory queue.

Printed per server and batch size: alerts/s, POST latency p50/p99, the CPU
time the server's processes used per alert and the load generator's per POST
(so one can see which side the machine's cores went to), and the peak resident
memory of the server's processes (bridge + daemon; ansible-rulebook with its
JVM). Then the ratios. Without ``ansible-rulebook`` on PATH (or
``--rulebook``) the benchmark says so and prints our column only. Its
alertmanager source comes from the ``ansible.eda`` collection when installed,
or from ``--eda-sources DIR`` (a directory holding ``alertmanager.py``).

Usage: python bench/webhook.py [--posts N] [--concurrency C] [--rulebook PATH] [--eda-sources DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

#: when the alerts started: now, or the daemon would record them as stale (events.max_age)
STARTS_AT = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sntakeover.client import wait_for_daemon  # noqa: E402

TOKEN = "bench-token"


def payload(n: int, k: int, tag: str) -> dict:
    alerts = []
    for j in range(k):
        i = n * k + j
        alerts.append({"status": "firing", "labels": {"alertname": "XcatSnDown", "sn": f"sn{i % 4 + 1}",
                                                       "instance": f"sn{i % 4 + 1}:3001", "bench": f"{tag}{i}"},
                       "annotations": {"summary": "xcatd not answering"}, "startsAt": STARTS_AT,
                       "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": f"{abs(hash((tag, i))):016x}"})
    return {"version": "4", "groupKey": "{}:{alertname=\"XcatSnDown\"}", "truncatedAlerts": 0, "status": "firing",
            "receiver": "sntakeover", "groupLabels": {"alertname": "XcatSnDown"}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://127.0.0.1:9093", "alerts": alerts}


def load(url: str, posts: int, per_post: int, concurrency: int, tag: str, auth: bool) -> dict:
    """Run the load generator in its own process; returns its JSON result."""
    code = f"""
import asyncio, json, sys, time
sys.path.insert(0, {str(REPO / 'bench')!r})
import aiohttp
from webhook import payload
async def main():
    bodies = [json.dumps(payload(n, {per_post}, {tag!r})).encode() for n in range({posts})]
    headers = {{"Content-Type": "application/json"}}
    if {auth!r}:
        headers["Authorization"] = "Bearer {TOKEN}"
    lat = []
    errors = []
    it = iter(bodies)
    conn = aiohttp.TCPConnector(limit={concurrency})
    async with aiohttp.ClientSession(connector=conn) as s:
        async def worker():
            for body in it:
                t = time.perf_counter()
                async with s.post({url!r}, data=body, headers=headers) as r:
                    await r.read()
                    if r.status >= 300:
                        errors.append(r.status)
                lat.append(time.perf_counter() - t)
        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range({concurrency})))
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    lat.sort()
    print(json.dumps({{"seconds": dt, "cpu": cpu, "lat": lat, "errors": errors[:5], "nerrors": len(errors)}}))
asyncio.run(main())
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise SystemExit(f"load generator failed: {r.stderr[-2000:]}")
    return json.loads(r.stdout)


def process_tree(pid: int) -> list[int]:
    """A process and its descendants."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time used so far by these processes and their descendants (all threads)."""
    ticks = 0
    for pid in pids:
        for p in process_tree(pid):
            try:
                with open(f"/proc/{p}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])
            except (OSError, IndexError, ValueError):
                pass
    return ticks / os.sysconf("SC_CLK_TCK")


class Memory:
    """Peak resident set of a process and its descendants, sampled every 50 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            total = 0
            for p in process_tree(self.pid):
                try:
                    with open(f"/proc/{p}/status") as f:
                        total += next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
                except (OSError, StopIteration):
                    pass
            self.peak = max(self.peak, total)

    def stop(self) -> int:
        self._stop.set()
        self._t.join()
        return self.peak // 1024


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ours(tmp: Path) -> tuple[list[subprocess.Popen], str, int]:
    tmp.mkdir(parents=True, exist_ok=True)
    cfg = tmp / "config.toml"
    cfg.write_text(f'[daemon]\nstate_dir = "{tmp}/state"\nruntime_dir = "{tmp}/run"\nlog_level = "error"\n'
                   f'[xcat]\npath = ["{tmp}/no-xcat"]\n[confirm]\nrounds = 2\ninterval = 600.0\n')
    ep = f"ipc://{tmp}/run/intake.sock"
    daemon = subprocess.Popen([sys.executable, "-m", "sntakeover", "serve", "--config", str(cfg)], cwd=REPO,
                              stderr=subprocess.DEVNULL)
    wait_for_daemon(ep, alive=lambda: daemon.poll() is None)
    (tmp / "token").write_text(TOKEN + "\n")
    port = free_port()
    bridge = subprocess.Popen([sys.executable, "-m", "sntakeover", "webhook", "--listen", f"127.0.0.1:{port}",
                               "--token-file", str(tmp / "token"), "--endpoint", ep], cwd=REPO,
                              stderr=subprocess.DEVNULL)
    _wait_http(port)
    return [bridge, daemon], f"http://127.0.0.1:{port}/alertmanager", os.getpid()


def theirs(tmp: Path, rulebook: str, sources: str | None) -> tuple[list[subprocess.Popen], str]:
    port = free_port()
    source = "alertmanager" if sources else "ansible.eda.alertmanager"
    (tmp / "rulebook.yml").write_text(f"""
- name: sntakeover bench
  hosts: all
  sources:
    - {source}:
        host: 127.0.0.1
        port: {port}
        skip_original_data: true
  rules:
    - name: every alert
      condition: event.alert is defined
      action:
        none:
""")
    (tmp / "inventory.yml").write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n")
    argv = [rulebook, "-r", str(tmp / "rulebook.yml"), "-i", str(tmp / "inventory.yml")]
    if sources:
        argv += ["-S", sources]
    env = dict(os.environ, PATH=f"{Path(rulebook).parent}{os.pathsep}{os.environ.get('PATH', '')}")  # ansible-galaxy
    env.setdefault("JAVA_HOME", next((str(p) for p in Path("/usr/lib/jvm").glob("java-17-openjdk-*")), ""))
    proc = subprocess.Popen(argv, cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                            stderr=open(tmp / "rulebook.log", "wb"), start_new_session=True)
    _wait_http(port, proc, tmp / "rulebook.log", path="/")
    return [proc], f"http://127.0.0.1:{port}/alerts"


def _wait_http(port: int, proc: subprocess.Popen | None = None, log: Path | None = None, path: str = "/healthz") -> None:
    import urllib.request

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"server exited: {log.read_text()[-2000:] if log else ''}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing answered on port {port}")


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM) if p.pid == os.getpgid(p.pid) else p.terminate()
            except ProcessLookupError:
                pass
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run_side(name: str, procs: list[subprocess.Popen], url: str, args: argparse.Namespace, auth: bool) -> dict:
    mem = [Memory(p.pid) for p in procs]
    out = {}
    load(url, 50, 1, args.concurrency, f"{name}warm", auth)
    for per in (1, 10):
        cpu0 = cpu_seconds([p.pid for p in procs])
        res = load(url, args.posts, per, args.concurrency, f"{name}{per}", auth)
        cpu = cpu_seconds([p.pid for p in procs]) - cpu0
        if res["nerrors"]:
            raise SystemExit(f"{name}: {res['nerrors']} POSTs failed: {res['errors']}")
        lat = res["lat"]
        out[per] = {"alerts_s": args.posts * per / res["seconds"], "p50": lat[len(lat) // 2] * 1000,
                    "p99": lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000,
                    "server_us": cpu / (args.posts * per) * 1e6, "load_us": res["cpu"] / args.posts * 1e6}
    out["mem"] = sum(m.stop() for m in mem)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--posts", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--rulebook", default=shutil.which("ansible-rulebook"))
    ap.add_argument("--eda-sources", help="directory holding ansible.eda's alertmanager.py (without the collection)")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="snt-bench-am-"))
    results = {}
    try:
        procs, url, _ = ours(tmp / "ours")
        try:
            results["sntakeover"] = run_side("ours", procs, url, args, auth=True)
        finally:
            stop(procs)
        if args.rulebook:
            (tmp / "eda").mkdir(parents=True, exist_ok=True)
            procs, url = theirs(tmp / "eda", args.rulebook, args.eda_sources)
            try:
                results["ansible-rulebook"] = run_side("eda", procs, url, args, auth=False)
            finally:
                stop(procs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"{args.posts} POSTs per size, {args.concurrency} keep-alive connections, cpus: {os.cpu_count()}")
    if not args.rulebook:
        print("ansible-rulebook is not installed (not on PATH, no --rulebook): its column is skipped")
    for name, r in results.items():
        durable = "every alert stored (fsync) before the 2xx" if name == "sntakeover" else "202 once queued in memory"
        print(f"{name} ({durable}); peak memory {r['mem']} MiB")
        for per in (1, 10):
            x = r[per]
            print(f"  {per:2d} alert(s)/POST: {x['alerts_s']:8.0f} alerts/s  p50 {x['p50']:6.2f} ms  p99 {x['p99']:6.2f} ms"
                  f"  server CPU {x['server_us']:5.0f} us/alert  load generator CPU {x['load_us']:4.0f} us/POST")
    if len(results) == 2:
        a, b = results["sntakeover"], results["ansible-rulebook"]
        for per in (1, 10):
            print(f"ratio alerts/s at {per:2d}/POST: {a[per]['alerts_s'] / b[per]['alerts_s']:.2f}x; "
                  f"p99 {a[per]['p99']:.2f} vs {b[per]['p99']:.2f} ms; "
                  f"server CPU per alert {a[per]['server_us']:.0f} vs {b[per]['server_us']:.0f} us")
        print(f"memory: {a['mem']} vs {b['mem']} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
