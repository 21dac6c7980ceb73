"""``sntakeover demo``: a whole takeover on a simulated cluster, start to finish.

Builds a simulated xCAT cluster (64 AIX diskless nodes on 4 service nodes,
NFS on an external server) in a temporary directory, starts the daemon as its
own process, fails one SN, sends the event exactly as a Nagios event handler
would (``sntakeover send`` as a child process), follows the incident, prints
its timeline and the per-node result, and cleans up.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from .client import wait_for_daemon
from .follow import follow
from .poll import wait_until
from .records import summary
from .store import Store

WAIT = 120.0


def _say(text: str) -> None:
    print(text, flush=True)


def run_demo(*, nodes: int = 64, sns: str = "sn1,sn2,sn3,sn4", latency: float = 0.0, keep: bool = False) -> int:
    from . import xcatsim

    sn_list = [s for s in sns.split(",") if s]
    if len(sn_list) < 2:
        print("sntakeover demo: need at least two service nodes", file=sys.stderr)
        return 2
    top = Path(tempfile.mkdtemp(prefix="sntakeover-demo-"))
    proc: subprocess.Popen | None = None
    cluster: Path | None = None
    try:
        cluster = Path(xcatsim.init_cluster(top / "cluster", nodes=nodes, sns=tuple(sn_list), latency=latency))
        bindir = Path(xcatsim.bin_dir(cluster))
        failed = sn_list[0]
        _say(f"== simulated xCAT cluster in {cluster}: {nodes} AIX diskless nodes, service nodes {', '.join(sn_list)}")
        env = dict(os.environ, PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
        served = subprocess.run(["lsdef", "-t", "node", "-w", f"servicenode=~^{failed}(,|$)", "-i", "servicenode"],
                                capture_output=True, text=True, env=env).stdout.count("Object name:")
        _say(f"   {served} nodes have {failed} as their first service node")

        cfg = top / "config.toml"
        cfg.write_text(
            f'[daemon]\nstate_dir = "{top}/state"\nruntime_dir = "{top}/run"\nlog_level = "info"\n'
            f'[xcat]\npath = ["{bindir}"]\n[confirm]\nrounds = 3\ninterval = 0.5\n[verify]\ninterval = 0.5\n'
            '[metrics]\nlisten = ""\n'
        )
        endpoint = f"ipc://{top}/run/intake.sock"
        log = open(top / "daemon.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "sntakeover", "serve", "--config", str(cfg)],
                                stdout=log, stderr=subprocess.STDOUT)
        wait_for_daemon(endpoint, alive=lambda: proc.poll() is None)
        _say(f"== daemon pid {proc.pid} listening on {endpoint}")

        xcatsim.fail_sn(cluster, failed)
        _say(f"== {failed} crashed (no ping, no ssh, xcatd on {_xcatd(cluster, failed)} refuses); "
             "its nodes keep running on the external NFS server")

        hook = [sys.executable, "-m", "sntakeover", "send", "--endpoint", endpoint, "--kind", "sn.down",
                "--servicenode", failed, "--tool", "nagios", "--host", "mon1", "--ref", "4711",
                "--state-type", "hard", "--severity", "critical", "--detail", "CRITICAL - Host Unreachable"]
        _say("== the monitoring hook runs: sntakeover send --kind sn.down --servicenode "
             f"{failed} --tool nagios --ref 4711 --state-type hard ...")
        r = subprocess.run(hook, capture_output=True, text=True, timeout=60)
        _say(f"   ack: {r.stdout.strip()}")
        if r.returncode != 0:
            _say(r.stderr)
            return 1
        store = Store(top / "state" / "sntakeover.db", readonly=True)
        try:
            iid = _incident_of(store, f"nagios:sn.down:{failed}:4711")
            _say(f"== following incident {iid} (sntakeover watch {iid}):")
            follow(store, str(iid), timeout=WAIT, rounds_needed=3)
            state = store.incident(iid)["state"]
            from .render import render_incident

            _say("")
            _say(render_incident(summary(store, iid)))
        finally:
            store.close()
        _say("")
        show = subprocess.run([sys.executable, "-m", "sntakeover", "sim", "show", "--dir", str(cluster)],
                              capture_output=True, text=True)
        _say(show.stdout.rstrip())
        ok = state == "done"
        _say(f"\n== incident {iid} ended {state}: " + ("every node verified on its backup, no reboot"
                                                        if ok else "see the timeline above"))
        return 0 if ok else 1
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if cluster is not None:
            xcatsim.stop_cluster(cluster)  # the SNs' listeners close with the demo
        if keep:
            _say(f"(kept {top})")
        else:
            shutil.rmtree(top, ignore_errors=True)


def _xcatd(cluster: Path, sn: str) -> str:
    from . import xcatsim

    t = xcatsim.load_state(cluster)["tables"]
    return f"{t['hosts'][sn]['ip']}:{t['site']['xcatdport']}"


def _incident_of(store: Store, event_id: str) -> int:
    """The incident the engine attached the event to, once it has applied it."""
    def applied():
        rows = store.query("SELECT incident_id FROM events WHERE id = ? AND processed = 1", (event_id,))
        return rows[0][0] if rows and rows[0][0] else None

    return int(wait_until(applied, timeout=WAIT, what=f"event {event_id} to be applied"))
