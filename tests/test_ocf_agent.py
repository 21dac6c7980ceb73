"""The Pacemaker resource agent (packaging/ocf/sntakeover) runs the real daemon.

Checked with Debian's ``ocf-tester`` and with start/stop/monitor cycles: the
store on "shared storage" (a directory both runs use), the endpoint on a TCP
address standing for the cluster's virtual IP.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from sntakeover.auth import ClientKeys
from sntakeover.cli_keys import create_pair
from sntakeover.client import request
from sntakeover.poll import wait_until
from sntakeover.store import Store
from support import REPO, event

pytestmark = [pytest.mark.realtool, pytest.mark.slow]

OCF_SUCCESS, OCF_ERR_GENERIC, OCF_ERR_INSTALLED, OCF_ERR_CONFIGURED, OCF_NOT_RUNNING = 0, 1, 5, 6, 7


def need(tool: str) -> str:
    path = shutil.which(tool) or (f"/usr/sbin/{tool}" if Path(f"/usr/sbin/{tool}").exists() else None)
    if path is None:
        if os.environ.get("SNTAKEOVER_REQUIRE_REAL_TOOLS"):
            pytest.fail(f"{tool} not installed (Debian: resource-agents, libxml2-utils)")
        pytest.skip(f"{tool} not installed")
    return path


def tagged(pidfile: str) -> list[int]:
    """Processes started by the daemon of this resource (the agent marks its environment)."""
    want = f"SNTAKEOVER_OCF_PIDFILE={pidfile}".encode()
    out = []
    for p in Path("/proc").iterdir():
        try:
            if p.name.isdigit() and want in (p / "environ").read_bytes().split(b"\0"):
                out.append(int(p.name))
        except OSError:
            continue
    return out


class Agent:
    def __init__(self, tmp: Path, sim, extra: str = "") -> None:
        need("ocf-tester")
        need("xmllint")
        # world-readable copy: ocf-tester runs meta-data as nobody
        self.dir = Path(tempfile.mkdtemp(prefix="snt-ocf-"))
        os.chmod(self.dir, 0o755)
        self.path = self.dir / "sntakeover"
        shutil.copy(REPO / "packaging" / "ocf" / "sntakeover", self.path)
        os.chmod(self.path, 0o755)
        from pgserver import free_port

        self.endpoint = f"tcp://127.0.0.1:{free_port()}"  # the cluster's virtual IP
        self.shared = tmp / "shared"  # the storage that follows the active MN
        self.config = tmp / "config.toml"
        xcat = f'[xcat]\npath = ["{sim.bin}"]\ncommand_timeout = 120.0\n'  # xCAT's commands (check-config)
        # a tcp:// endpoint takes only known CURVE keys: the daemon's pair and its keys directory on
        # the shared storage; the agent's monitor asks 'status' with an admin key ('ra')
        etc, keys = self.shared / "etc", self.shared / "keys"
        if not (etc / "server.key").exists():  # both management nodes see the same storage
            create_pair(etc, "server")
            create_pair(keys, "ra")
        self.keys = ClientKeys.from_files(str(keys / "ra.key_secret"), str(etc / "server.key"))
        auth = (f'[auth]\nkeys_dir = "{keys}"\nserver_secret = "{etc}/server.key_secret"\nadmins = ["ra"]\n'
                f'client_key = "{keys}/ra.key_secret"\nserver_public = "{etc}/server.key"\n')
        self.config.write_text(f"""
[daemon]
state_dir = "{self.shared}/state"
runtime_dir = "{tmp}/run"
endpoint = "{self.endpoint}"
log_level = "debug"
[confirm]
rounds = 2
interval = 0.2
[verify]
interval = 0.2
[metrics]
listen = ""
{xcat}{auth}{extra}""")
        binary = Path(sys.executable).parent / "sntakeover"
        self.params = {"binary": str(binary), "config": str(self.config), "pidfile": str(tmp / "ra.pid"),
                       "logfile": str(tmp / "daemon.log"), "path": os.environ["PATH"]}

    def env(self, **override: str) -> dict[str, str]:
        env = dict(os.environ, OCF_ROOT="/usr/lib/ocf", OCF_RESOURCE_INSTANCE="sntakeover-test")
        env.update({f"OCF_RESKEY_{k}": v for k, v in {**self.params, **override}.items()})
        return env

    def run(self, action: str, **override: str) -> int:
        return subprocess.run([str(self.path), action], env=self.env(**override), capture_output=True,
                              timeout=120).returncode

    def pid(self) -> int:
        return int(Path(self.params["pidfile"]).read_text())

    def store(self) -> Store:
        return Store(self.shared / "state" / "sntakeover.db", readonly=True)

    def close(self) -> None:
        self.run("stop")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def agent(tmp_path):
    made: list[Agent] = []

    def make(*a, **kw) -> Agent:
        made.append(Agent(tmp_path, *a, **kw))
        return made[-1]

    yield make
    for a in made:
        a.close()


def test_ocf_tester_passes(agent, sim):
    a = agent(sim())
    argv = [need("ocf-tester"), "-v", "-n", "sntakeover-test"]
    for k, v in a.params.items():
        argv += ["-o", f"{k}={v}"]
    out = subprocess.run([*argv, str(a.path)], capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, OCF_ROOT="/usr/lib/ocf"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "passed all tests" in out.stdout
    assert a.run("monitor") == OCF_NOT_RUNNING  # ocf-tester stopped it at the end


def test_validate_refuses_a_missing_program_and_a_bad_configuration(agent, sim, tmp_path):
    a = agent(sim())
    assert a.run("validate-all") == OCF_SUCCESS
    assert a.run("validate-all", binary=str(tmp_path / "nope")) == OCF_ERR_INSTALLED
    bad = tmp_path / "bad.toml"
    bad.write_text("[daemon]\nworkers = 'many'\n")
    assert a.run("validate-all", config=str(bad)) == OCF_ERR_CONFIGURED
    assert a.run("start", config=str(bad)) == OCF_ERR_CONFIGURED
    assert a.run("monitor") == OCF_NOT_RUNNING


def test_start_stop_monitor_cycles_and_failures_seen_by_monitor(agent, sim):
    a = agent(sim())
    for _ in range(2):
        assert a.run("monitor") == OCF_NOT_RUNNING
        assert a.run("start") == OCF_SUCCESS
        assert a.run("monitor") == OCF_SUCCESS
        assert request({"v": 1, "op": "ping"}, endpoint=a.endpoint, timeout=2, keys=a.keys)["ok"]  # on the "virtual IP"
        assert a.run("start") == OCF_SUCCESS  # already running: still one daemon
        pid = a.pid()
        assert a.run("reload") == OCF_SUCCESS and a.pid() == pid
        assert a.run("stop") == OCF_SUCCESS
        assert a.run("monitor") == OCF_NOT_RUNNING
        assert a.run("stop") == OCF_SUCCESS  # stopping a stopped resource
    assert a.run("start") == OCF_SUCCESS
    pid = a.pid()
    os.kill(pid, signal.SIGSTOP)  # alive but deaf
    try:
        assert a.run("monitor") == OCF_ERR_GENERIC
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_until(lambda: a.run("monitor") == OCF_SUCCESS, timeout=30, what="the daemon answering again")
    os.kill(pid, signal.SIGKILL)  # crashed: Pacemaker sees "not running" and recovers it
    wait_until(lambda: a.run("monitor") == OCF_NOT_RUNNING, timeout=30, what="monitor seeing the crash")
    assert a.run("start") == OCF_SUCCESS and a.pid() != pid


def test_a_takeover_moved_to_the_other_management_node_completes_once(agent, sim):
    s = sim()
    mine = s.nodes_first("sn1")
    s.fail("sn1")
    a = agent(s, extra='[takeover]\nstrategy = "snmove"\n')
    assert a.run("start") == OCF_SUCCESS
    s.x.set_latency(s.dir, 0.05)  # snmove takes a few seconds
    reply = request({"v": 1, "op": "event", "event": event("sn1", id="ha-move")}, endpoint=a.endpoint, timeout=5,
                    keys=a.keys)
    assert reply["ok"]

    def state() -> str | None:
        st = a.store()
        try:
            rows = st.query("SELECT state, closed FROM incidents WHERE servicenode = 'sn1'")
            return (rows[0]["state"], rows[0]["closed"]) if rows else None
        finally:
            st.close()

    wait_until(lambda: (state() or ("",))[0] == "moving", timeout=60, interval=0.05, what="moving")
    wait_until(lambda: a.store().query("SELECT 1 FROM commands WHERE argv LIKE '[\"snmove\"%' AND pid IS NOT NULL"),
               timeout=60, interval=0.02, what="snmove running")
    s.x.set_latency(s.dir, 1.0)  # snmove now outlives the daemon's stop (10 s for running steps)
    assert a.run("stop") == OCF_SUCCESS  # the resource group moves to the other MN...
    # ...only once the snmove the daemon started has ended: the other MN must not move those nodes again
    assert all(s.servicenode(n) == "sn2,sn1" for n in mine)
    assert not tagged(a.params["pidfile"])
    s.x.set_latency(s.dir, 0.0)
    assert a.run("start") == OCF_SUCCESS  # ...which starts the daemon on the same (shared) store
    final = wait_until(lambda: state() if state() and state()[1] else None, timeout=120, what="incident closed")
    assert final[0] == "done"
    moved = [n for argv in s.calls("snmove") for n in argv[0].split(",")]
    assert sorted(moved) == sorted(mine) and len(s.calls("snmove")) == 1
    assert all(s.servicenode(n) == "sn2,sn1" for n in mine)
