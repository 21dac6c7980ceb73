"""Each simulated SN has a loopback address and a real xcatd listener while it is up."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
import time

import pytest

from sntakeover.xcatsim import fail_sn, heal_sn, init_cluster, load_state, set_node_up, stop_cluster
from sntakeover.xcatsim.agent import request
from tests.xcatsim_helpers import run


def connects(addr: tuple[str, int]) -> bool:
    """True if a TCP connect is accepted, False if refused (anything else is an error)."""
    with socket.socket() as s:
        s.settimeout(5)
        try:
            s.connect(addr)
        except ConnectionRefusedError:
            return False
        return True


def xcatd(c, sn: str) -> tuple[str, int]:
    """The SN's xcatd address the way xCAT resolves it: nodels <sn> hosts.ip, site.xcatdport."""
    r = run(c, "nodels", sn, "hosts.ip")
    assert r.rc == 0, r.err
    ip = r.out.split(": ", 1)[1].strip()
    return ip, int(load_state(c)["tables"]["site"]["xcatdport"])


def pid_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def c(tmp_path):
    return init_cluster(tmp_path / "c", nodes=8, sns=("sn1", "sn2", "sn3", "sn4"))


def test_addresses_are_loopback_and_self_consistent(c):
    s = load_state(c)
    t = s["tables"]
    prefix = t["site"]["master"].rsplit(".", 1)[0]
    assert prefix.startswith("127.") and t["site"]["master"] == f"{prefix}.1"
    mgmt = t["networks"][0]
    assert (mgmt["net"], mgmt["mask"]) == (f"{prefix}.0", "255.255.255.0")
    for k, sn in enumerate(("sn1", "sn2", "sn3", "sn4"), start=1):
        ip = t["hosts"][sn]["ip"]
        assert ip == f"{prefix}.{10 + k}"
        assert s["machines"][sn]["interfaces"][0] == {"name": "en0", "ip": ip, "mask": "255.255.255.0"}
        assert s["machines"][sn]["routes"] == [t["site"]["master"]]
        assert connects(xcatd(c, sn))
    # compute nodes keep their 10.P.x.y addresses
    assert t["hosts"]["cn1"]["ip"] == "10.1.1.1"


def test_fail_and_heal_are_synchronous(c):
    addr = xcatd(c, "sn1")
    fail_sn(c, "sn1")
    assert not connects(addr)
    assert connects(xcatd(c, "sn2"))
    heal_sn(c, "sn1")
    assert connects(addr)
    set_node_up(c, "sn1", False)
    assert not connects(addr)


def test_rpower_off_and_on_through_the_command(c):
    addr = xcatd(c, "sn3")
    assert run(c, "rpower", "sn3", "off").out == "sn3: off\n"
    assert not connects(addr)
    assert run(c, "rpower", "sn3", "on").out == "sn3: on\n"
    assert connects(addr)


def test_snmove_without_D_still_finds_the_backup_in_the_node_network(c):
    # ifconfig -a on the destination SN lists its loopback MN-facing address first
    r = run(c, "snmove", "cn1", "-i")
    assert (r.rc, r.err) == (0, "")
    assert run(c, "nodels", "cn1", "noderes.xcatmaster").out == "cn1: 10.1.0.2\n"


def test_two_clusters_never_share_addresses(tmp_path, c):
    other = init_cluster(tmp_path / "other", nodes=4, sns=("sn1", "sn2"))
    a, b = xcatd(c, "sn1"), xcatd(other, "sn1")
    assert a[0].rsplit(".", 1)[0] != b[0].rsplit(".", 1)[0]
    fail_sn(other, "sn1")
    assert connects(a) and not connects(b)


def test_a_24_held_by_another_live_cluster_is_skipped(tmp_path):
    from sntakeover.xcatsim.loopback import _candidates

    d = (tmp_path / "x").resolve()
    first, second = _candidates(d)[:2]
    holder = socket.socket()  # another cluster's MN xcatd on the /24 this directory would get
    holder.bind((f"{first}.1", 3001))
    holder.listen()
    try:
        c = init_cluster(d, nodes=2, sns=("sn1", "sn2"))
        assert load_state(c)["tables"]["site"]["master"] == f"{second}.1"
        assert connects(xcatd(c, "sn1"))
    finally:
        holder.close()


def test_stop_closes_everything_and_ends_the_agent(c):
    addrs = [xcatd(c, sn) for sn in ("sn1", "sn2", "sn3", "sn4")]
    mn = (load_state(c)["tables"]["site"]["master"], 3001)
    pid = request(c, "ping")["pid"]
    assert connects(mn)
    assert stop_cluster(c) is True
    assert not any(connects(a) for a in addrs) and not connects(mn)
    assert pid_gone(pid)
    assert not (c / "agent.sock").exists()
    # the cluster itself stays usable without listeners
    assert run(c, "nodestat", "sn1").out == "sn1: sshd\n"
    assert stop_cluster(c) is False


def test_agent_ends_with_the_process_that_started_it(tmp_path):
    d = tmp_path / "c"
    code = ("import sys; from sntakeover.xcatsim import init_cluster, load_state; "
            f"c = init_cluster({str(d)!r}, nodes=2, sns=('sn1', 'sn2')); "
            "print(open(c / 'agent.pid').read().strip())")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert pid_gone(int(r.stdout))
    assert not connects((load_state(d)["tables"]["hosts"]["sn1"]["ip"], 3001))


def test_sim_cli_init_fail_stop(tmp_path):
    d = str(tmp_path / "cli")
    env = dict(os.environ)
    sim = [sys.executable, "-m", "sntakeover", "sim"]
    r = subprocess.run(sim + ["init", "--dir", d, "--nodes", "4", "--sns", "sn1,sn2"], capture_output=True,
                       text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert f"sntakeover sim stop --dir {d}" in r.stdout
    addr = (load_state(d)["tables"]["hosts"]["sn1"]["ip"], 3001)
    pid = request(d, "ping")["pid"]
    assert connects(addr)  # the agent outlives the init command
    assert subprocess.run(sim + ["fail", "sn1", "--dir", d], env=env, timeout=60).returncode == 0
    assert not connects(addr)
    assert subprocess.run(sim + ["heal", "sn1", "--dir", d], env=env, timeout=60).returncode == 0
    assert connects(addr)
    assert subprocess.run(sim + ["stop", "--dir", d], env=env, timeout=60).returncode == 0
    assert not connects(addr) and pid_gone(pid)


def test_sim_help_exits_0():
    r = subprocess.run([sys.executable, "-m", "sntakeover", "sim", "--help"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0
    assert "init" in r.stdout and "stop" in r.stdout


def test_only_loopback_is_ever_bound(c):
    reply = request(c, "ping")
    assert reply["listening"] and all(a.startswith("127.") for a in reply["listening"])
    # an SN whose address is not on loopback gets no listener (and the reason is said)
    run(c, "chdef", "sn2", "ip=192.0.2.12")
    from sntakeover.xcatsim.agent import sync
    reply = sync(c)
    assert not any(a.startswith("192.") for a in reply["listening"])
    assert reply["notes"] == ["sn2: no loopback address (192.0.2.12), no listener"]


def test_an_address_someone_else_listens_on_is_a_clear_error(c):
    ip, port = xcatd(c, "sn4")
    fail_sn(c, "sn4")
    squatter = socket.socket()
    squatter.bind((ip, port))
    squatter.listen()
    try:
        with pytest.raises(OSError) as e:
            heal_sn(c, "sn4")
        assert e.value.errno == errno.EADDRINUSE and f"cannot listen on {ip}:{port}" in str(e.value)
    finally:
        squatter.close()


def test_a_cluster_directory_too_long_for_a_unix_socket_path(tmp_path):
    d = tmp_path / ("a-very-long-directory-name-" * 5) / "c"
    assert len(str(d / "agent.sock")) > 108  # longer than AF_UNIX allows
    c = init_cluster(d, nodes=2, sns=("sn1", "sn2"))
    addr = xcatd(c, "sn1")
    assert request(c, "ping")["ok"] and connects(addr)
    fail_sn(c, "sn1")
    assert not connects(addr)
    assert stop_cluster(c) is True
