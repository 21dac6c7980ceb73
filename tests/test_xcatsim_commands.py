"""noderange, lsdef, chdef, nodels, nodestat, xdsh, rpower, updatenode, regnotif and the sim CLI."""

from __future__ import annotations

import time

import pytest

from sntakeover.xcatsim import cli, commands_log, fail_sn, init_cluster, load_state, set_node_up
from sntakeover.xcatsim.noderange import expand
from tests.xcatsim_helpers import run


@pytest.fixture
def c(tmp_path):
    return init_cluster(tmp_path / "c", nodes=12, sns=("sn1", "sn2", "sn3", "sn4"))


@pytest.mark.parametrize("nr,want", [
    ("cn1,cn3", ["cn1", "cn3"]), ("cn[1-3]", ["cn1", "cn2", "cn3"]), ("cn1-cn3", ["cn1", "cn2", "cn3"]),
    ("cn1:cn3", ["cn1", "cn2", "cn3"]), ("pair1,-cn2", ["cn1", "cn3", "cn4", "cn5", "cn6"]),
    ("compute@pair2", ["cn7", "cn8", "cn9", "cn10", "cn11", "cn12"]), ("/cn1.", ["cn10", "cn11", "cn12"]),
    ("all,-compute", ["sn1", "sn2", "sn3", "sn4"]), ("service", ["sn1", "sn2", "sn3", "sn4"]),
])
def test_noderange_forms(c, nr, want):
    assert expand(load_state(c), nr) == (want, [])


def test_noderange_zero_padding(tmp_path):
    from sntakeover.xcatsim.noderange import _bracket, _num_range
    assert _num_range("01", "10")[:2] == ["01", "02"]
    assert _bracket("n[001-003]") == ["n001", "n002", "n003"]


def test_nodels_refuses_whole_request_on_unknown(c):
    r = run(c, "nodels", "cn1,cn99")
    assert (r.rc, r.out, r.err) == (1, "", "Error: Invalid nodes and/or groups in noderange: cn99\n")


def test_nodels_formats(c):
    run(c, "chdef", "cn2", "xcatmaster=")
    assert run(c, "nodels", "cn1,cn2", "noderes.xcatmaster").out == "cn1: 10.1.0.1\ncn2: \n"
    assert run(c, "nodels", "cn1", "-H", "noderes.servicenode").out == "cn1: noderes.servicenode: sn1,sn2\n"
    assert run(c, "nodels", "cn1", "nodetype.os", "-b").out == "cn1: AIX (inherited from group compute)\n"
    assert run(c, "nodels", "all", "noderes.servicenode==sn2,sn1").out == "cn4\ncn5\ncn6\n"
    r = run(c, "nodels", "cn1", "noderes.foo")
    assert (r.rc, r.err) == (1, "Error: noderes.foo not a valid table.column description\n")


def test_lsdef_short_long_and_select(c):
    r = run(c, "lsdef", "-t", "node")
    assert r.out.splitlines()[:3] == ["cn1  (node)", "cn10  (node)", "cn11  (node)"]
    run(c, "chdef", "cn2", "xcatmaster=")
    r = run(c, "lsdef", "-t", "node", "-o", "cn1,cn2", "-i", "xcatmaster,servicenode")
    assert r.out == ("Object name: cn1\n    servicenode=sn1,sn2\n    xcatmaster=10.1.0.1\n"
                     "Object name: cn2\n    servicenode=sn1,sn2\n    xcatmaster=\n")
    r = run(c, "lsdef", "-t", "node", "-w", "servicenode==sn1", "-i", "servicenode")
    assert (r.rc, r.out) == (0, "No object definitions have been found\n")
    r = run(c, "lsdef", "-t", "node", "-w", "servicenode=~/^sn1(,|$)/", "-i", "servicenode", "-c")
    assert r.out == "cn1: servicenode=sn1,sn2\ncn2: servicenode=sn1,sn2\ncn3: servicenode=sn1,sn2\n"


def test_lsdef_per_object_errors(c):
    r = run(c, "lsdef", "cn1,cn99", "-i", "os,foo")
    assert r.rc == 1
    assert r.err == ("Error: Could not find an object named 'cn99' of type 'node'.\n"
                     "Error: 'foo' is not a valid attribute name for an object type of 'node'.\n")
    assert r.out == "Object name: cn1\n    os=AIX\n"


def test_chdef_messages(c):
    r = run(c, "chdef", "cn1", "xcatmaster=1.2.3.4")
    assert (r.rc, r.out) == (0, "1 object definitions have been created or modified.\n")
    r = run(c, "chdef", "cn1", "xcatmaster=1.2.3.4")
    assert r.out == "No object definitions have been created or modified.\n"
    r = run(c, "chdef", "cn99", "xcatmaster=x")
    assert r.rc == 1
    assert r.err == ("Error: Attribute 'groups' is not specified for node 'cn99', skipping to the next node.\n"
                     "Error: One or more errors occured when attempting to create or modify xCAT object definitions.\n")
    run(c, "chdef", "cn1", "-p", "servicenode=sn3")
    run(c, "chdef", "cn1", "-m", "servicenode=sn1")
    assert run(c, "nodels", "cn1", "noderes.servicenode").out == "cn1: sn2,sn3\n"


def test_nodestat_and_dispatch(c):
    set_node_up(c, "cn2", False)
    assert run(c, "nodestat", "cn1,cn2,sn1").out == "cn1: sshd\ncn2: noping\nsn1: sshd\n"
    fail_sn(c, "sn1")
    assert run(c, "nodestat", "cn1").out == "cn1: sshd\n"  # backup SN answers
    fail_sn(c, "sn2")
    r = run(c, "nodestat", "cn1")
    assert (r.rc, r.out) == (1, "")
    assert r.err == "Error: Failed to dispatch command to any of the following service nodes: sn1,sn2\n"
    run(c, "chdef", "cn7", "servicenode=sn1")
    r = run(c, "xdsh", "cn7", "date")
    assert r.err == ("Error: Unable to dispatch hierarchical sub-command to sn1:3001.  Error: Connection failure: "
                     "IO::Socket::INET: connect: No route to host at /opt/xcat/lib/perl/xCAT/Client.pm line 248.\n. \n")


def test_nodestat_u_writes_status(c):
    set_node_up(c, "cn2", False)
    run(c, "nodestat", "cn1,cn2", "-u")
    s = load_state(c)["tables"]["nodelist"]
    assert (s["cn1"]["status"], s["cn2"]["status"]) == ("ping", "noping")


def test_xdsh_prefix_and_exit_code(c):
    r = run(c, "xdsh", "cn1", "cat /etc/xcatinfo")
    assert (r.rc, r.out) == (0, "cn1: XCATSERVER=10.1.0.1\n")
    set_node_up(c, "cn2", False)
    set_node_up(c, "cn3", False)
    r = run(c, "xdsh", "cn1,cn2,cn3", "date")
    assert r.rc == 2
    assert r.err == ("cn2: ssh: connect to host cn2 port 22: No route to host\n"
                     "cn3: ssh: connect to host cn3 port 22: No route to host\n")
    r = run(c, "xdsh", "cn1", "frobnicate")
    assert (r.rc, r.err) == (1, "cn1: ksh: frobnicate:  not found.\n")
    r = run(c, "xdsh", "sn1", "lsxcatd -a")
    assert r.out.splitlines()[1] == "sn1: This is a Service Node"


def test_rpower_stat_on_sn_with_os_down(c):
    fail_sn(c, "sn1")
    assert run(c, "rpower", "sn1", "stat").out == "sn1: on\n"
    assert run(c, "rpower", "sn1", "off").out == "sn1: off\n"
    assert run(c, "nodestat", "sn1").out == "sn1: noping\n"
    run(c, "rpower", "sn1", "on")
    assert run(c, "nodestat", "sn1").out == "sn1: sshd\n"


def test_updatenode_down_node(c):
    set_node_up(c, "cn2", False)
    r = run(c, "updatenode", "cn1,cn2", "-P", "syslog")
    assert r.rc == 1
    assert "cn1: Running postscript: syslog\n" in r.out
    assert r.err == ("Error: cn2 is not responding, make sure it is a node object and is defined in xCATdb. "
                     "No command will be issued to this host.\n")


def test_regnotif_fires_with_stdin_format(c, tmp_path):
    out = tmp_path / "notif.out"
    script = tmp_path / "hook.sh"
    script.write_text(f"#!/bin/sh\ncat >> {out}\n")
    script.chmod(0o755)
    assert run(c, "regnotif", str(script), "noderes", "-o", "u").rc == 0
    run(c, "chdef", "cn1", "xcatmaster=10.1.0.2")
    for _ in range(100):
        if out.exists() and out.read_text().count("[new data]"):
            break
        time.sleep(0.05)
    text = out.read_text().splitlines()
    assert text[:3] == ["u", "noderes", "[old data]"]
    assert text[3].startswith("node,servicenode,netboot,tftpserver")
    assert text[4].startswith("cn1,sn1,sn2,,10.1.0.1")
    assert text[5:] == ["[new data]", "node,xcatmaster", "cn1,10.1.0.2"]
    assert run(c, "regnotif", "x", "noderes", "-o", "q").err == "Error: Invalid table operations: q\n"
    run(c, "unregnotif", str(script))
    assert load_state(c)["tables"]["notification"] == []


def test_commands_log(c):
    run(c, "nodels", "cn1")
    assert commands_log(c)[-1]["argv"] == ["nodels", "cn1"] and commands_log(c)[-1]["rc"] == 0


def test_sim_cli(tmp_path, capsys):
    d = str(tmp_path / "s")
    assert cli.main(["init", "--dir", d, "--nodes", "8", "--sns", "sn1,sn2"]) == 0
    assert cli.main(["fail", "sn1", "--dir", d]) == 0
    assert cli.main(["show", "--dir", d]) == 0
    out = capsys.readouterr().out
    assert "sn1      DOWN   on     4" in out
    assert cli.main(["node-down", "cn3", "--dir", d]) == 0
    assert not load_state(d)["machines"]["cn3"]["up"]


def test_nodels_takes_a_dotted_node_name_as_the_noderange(tmp_path):
    """``nodels sn.2 hosts.ip``: a node whose name has a dot is a noderange, not a table.column."""
    c = init_cluster(tmp_path / "dotted", nodes=4, sns=("sn.1", "sn.2"))
    r = run(c, "nodels", "sn.2", "hosts.ip")
    assert r.rc == 0 and r.out.startswith("sn.2: "), (r.rc, r.out, r.err)
    assert run(c, "nodels", "noderes.servicenode==sn.1,sn.2").rc == 0  # no noderange: still all nodes
    r = run(c, "nodels", "sn.9")
    assert (r.rc, r.err) == (1, "Error: Invalid nodes and/or groups in noderange: sn.9\n")
