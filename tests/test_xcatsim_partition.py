"""The MN-to-SN partition switch: the SN runs and serves its nodes, the MN cannot reach it."""

from __future__ import annotations

import socket

from sntakeover.xcatsim import init_cluster, load_state, partition_sn, stop_cluster
from sntakeover.xcatsim.state import node_attr
from tests.xcatsim_helpers import run


def connects(state, sn: str) -> bool:
    ip, port = state["tables"]["hosts"][sn]["ip"], int(state["tables"]["site"]["xcatdport"])
    try:
        socket.create_connection((ip, port), timeout=2).close()
        return True
    except OSError:
        return False


def test_a_partitioned_sn_looks_dead_from_the_mn_but_runs_and_its_bmc_answers(tmp_path):
    c = init_cluster(tmp_path / "c", nodes=8, sns=("sn1", "sn2", "sn3", "sn4"))
    try:
        st = load_state(c)
        first_sn1 = [n for n in ("cn1", "cn2") if node_attr(st, n, "servicenode") == "sn1,sn2"]
        assert first_sn1 and connects(st, "sn1")
        partition_sn(c, "sn1")
        st = load_state(c)
        assert st["machines"]["sn1"]["up"] and st["machines"]["sn1"]["power"] == "on"  # it runs
        assert run(c, "nodestat", "sn1").out == "sn1: noping\n"
        r = run(c, "xdsh", "sn1", "date")
        assert r.rc != 0 and "sn1: ssh: connect to host sn1 port 22: No route to host" in r.err
        assert run(c, "rpower", "sn1", "stat").out == "sn1: on\n"  # the BMC is on another network
        assert not connects(st, "sn1")
        # its nodes still run: reached through the next SN in their list
        r = run(c, "xdsh", first_sn1[0], "date")
        assert r.rc == 0 and r.out.startswith(f"{first_sn1[0]}: ")
        # a node whose only SN is the partitioned one gets xCAT's dispatch error
        run(c, "chdef", "-t", "node", "-o", first_sn1[0], "servicenode=sn1")
        r = run(c, "nodestat", first_sn1[0])
        assert "Unable to dispatch hierarchical sub-command to sn1:3001" in r.err
        partition_sn(c, "sn1", False)
        assert run(c, "nodestat", "sn1").out == "sn1: sshd\n"
        assert connects(load_state(c), "sn1")
    finally:
        stop_cluster(c)
