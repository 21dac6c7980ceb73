"""snmove behaviours that were checked against a run of xCAT's snmove.pm.

Each test names the case of that run that confirms it. The node-side texts of
that run (ssh failures, updatenode output) were canned, so only their framing
is confirmed; the texts asserted here follow xCAT's DSHCLI/DSHCore code.
"""

from __future__ import annotations

import pytest

from sntakeover.xcatsim import commands_log, edit_state, fail_sn, init_cluster, load_state, set_node_up
from sntakeover.xcatsim.state import node_attr
from tests.xcatsim_helpers import run

# test name -> cases of the snmove.pm run that confirm it
CONFIRMED_R = {
    "test_statelite_rsync_runs_with_i": "11a_statelite_oldxm",
    "test_statelite_sync_failure_with_i_old_sn_down": "11e_statelite_oldsn_down",
    "test_statelite_dollar_variable_row_only_after_first_node": "11d_statelite_var",
    "test_source_regex_leaves_monserver_and_conserver": "04b_s_regex",
    "test_xcatinfo_failure_silent_with_D": "13b_cn3_down_D",
    "test_xcatinfo_failure_without_D": "13c_cn3_down_noD",
    "test_route_step_array_bug": "13d_gw_xcatmaster_cn3_down",
    "test_liteonly_prints_nothing_and_keeps_rows": "14b_liteonly_D",
    "test_liteonly_verbose_sequence": "14_liteonly",
}

MOVING = "Moving nodes to their backup service nodes.\n\n"
SETTING = "Setting new values in the xCAT database.\n\n"
RSYNC = "/usr/bin/rsync -arlHpEAogDz /statelite/{n} sn2:/statelite 2>&1"


def _cluster(tmp_path, statemnt: str | None = None, gateway: str = "<xcatmaster>"):
    """cn1,cn2 at sn1,sn2 (xcatmaster 10.1.0.1); cn3,cn4 at sn2,sn1."""
    c = init_cluster(tmp_path / "c", nodes=4, sns=("sn1", "sn2"), gateway=gateway, statelite=False)
    if statemnt:
        with edit_state(c) as s:
            s["tables"]["statelite"].append({"node": "compute", "image": "", "statemnt": statemnt})
    return c


def _sub(c, name: str) -> list[list[str]]:
    return [e["argv"] for e in commands_log(c) if e.get("via") == "snmove" and e["argv"][0] == name]


def _statelite(c) -> list[tuple[str, str]]:
    return sorted((r["node"], r["statemnt"]) for r in load_state(c)["tables"]["statelite"])


def test_statelite_rsync_runs_with_i(tmp_path):
    # confirmed by running snmove.pm, case 11a_statelite_oldxm: -i still syncs statelite
    c = _cluster(tmp_path, "10.1.0.1:/statelite")
    r = run(c, "snmove", "-s", "sn1", "-i", "-D", "10.1.0.2")
    assert (r.rc, r.err) == (0, "")
    assert r.out == MOVING + SETTING + "Running makeconservercf cn1,cn2\n"
    assert _sub(c, "xdsh") == [["xdsh", "sn1", "-s", RSYNC.format(n="cn1")],
                               ["xdsh", "sn1", "-s", RSYNC.format(n="cn2")]]
    assert _statelite(c) == [("cn1", "10.1.0.2:/statelite"), ("cn2", "10.1.0.2:/statelite"),
                             ("compute", "10.1.0.1:/statelite")]


def test_statelite_sync_failure_with_i_old_sn_down(tmp_path):
    # confirmed by running snmove.pm, case 11e_statelite_oldsn_down: the xcmd output of
    # separate xdsh responses is glued with no separator; the DB is still updated
    c = _cluster(tmp_path, "10.1.0.1:/statelite")
    fail_sn(c, "sn1")
    r = run(c, "snmove", "-s", "sn1", "-i", "-D", "10.1.0.2")
    assert r.rc == 1
    assert r.out == MOVING + SETTING + "Running makeconservercf cn1,cn2\n"
    assert r.err == "".join(
        f"Error: Could not sync statelite '/statelite/{n}'.\n"
        "Error: sn1: ssh: connect to host sn1 port 22: No route to hostsn1 remote shell had error code: 255\n\n"
        for n in ("cn1", "cn2"))
    s = load_state(c)
    assert node_attr(s, "cn1", "servicenode") == "sn2,sn1"
    assert node_attr(s, "cn2", "xcatmaster") == "10.1.0.2"
    assert ("cn1", "10.1.0.2:/statelite") in _statelite(c)


def test_statelite_dollar_variable_row_only_after_first_node(tmp_path):
    # confirmed by running snmove.pm, case 11d_statelite_var: the value substituted for
    # the first node replaces the row's server for the rest, which then get literal rows
    c = _cluster(tmp_path, "$noderes.xcatmaster:/statelite")
    r = run(c, "snmove", "-s", "sn1", "-i", "-D", "10.1.0.2")
    assert (r.rc, r.err) == (0, "")
    assert _statelite(c) == [("cn2", "10.1.0.2:/statelite"), ("compute", "$noderes.xcatmaster:/statelite")]
    assert _sub(c, "xdsh") == [["xdsh", "sn1", "-s", RSYNC.format(n="cn1")],
                               ["xdsh", "sn1", "-s", RSYNC.format(n="cn2")]]


def test_source_regex_leaves_monserver_and_conserver(tmp_path):
    # confirmed by running snmove.pm, case 04b_s_regex: monserver and conserver are
    # compared with the -s string itself, so 'sn1|sn10' changes neither
    c = init_cluster(tmp_path / "c", nodes=20, sns=[f"sn{i}" for i in range(1, 11)])
    before = load_state(c)
    moved = [n for n in before["tables"]["noderes"]
             if node_attr(before, n, "servicenode").split(",")[0] in ("sn1", "sn10")]
    assert moved
    r = run(c, "snmove", "-s", "sn1|sn10", "-i")
    assert (r.rc, r.err) == (0, "")
    assert r.out == MOVING + SETTING
    after = load_state(c)
    for n in moved:
        assert node_attr(after, n, "servicenode") != node_attr(before, n, "servicenode")
        for attr in ("monserver", "conserver"):
            assert node_attr(after, n, attr) == node_attr(before, n, attr)
    assert _sub(c, "makeconservercf") == []


def test_xcatinfo_failure_silent_with_D(tmp_path):
    # confirmed by running snmove.pm, case 13b_cn3_down_D: with -D no xcmd ran before, so
    # the 'Command failed: xdsh' text has no callback and a real xcatd never relays it.
    # updatenode errors are relayed on stdout without 'Error:'.
    c = _cluster(tmp_path, gateway="")
    set_node_up(c, "cn1", False)
    r = run(c, "snmove", "-s", "sn1", "-D", "10.1.0.2")
    assert r.rc == 1
    assert r.err == ("Error: Could not run '/usr/bin/bootlist -m normal  gateway= bserver=10.1.0.2 "
                     "client=10.1.1.1 ' on node cn1.\n\n")
    assert r.out.startswith(MOVING + SETTING + "Running makeconservercf cn1,cn2\n"
                            "Updating the bootlist.\n\nRunning postscripts on the nodes.\n")
    assert "cn1 is not responding" in r.out


def test_xcatinfo_failure_without_D(tmp_path):
    # confirmed by running snmove.pm, case 13c_cn3_down_noD (framing; the text after
    # 'Error message:' is what DSHCLI's buffered mode returns for a down node)
    c = _cluster(tmp_path, gateway="")
    set_node_up(c, "cn1", False)
    r = run(c, "snmove", "-s", "sn1")
    assert r.rc == 1
    assert r.err == (
        "Error: Command failed: xdsh. Error message: cn1: ssh: connect to host cn1 port 22: No route to host.\n\n"
        "Error: Could not run '/usr/bin/bootlist -m normal  gateway= bserver=10.1.0.2 client=10.1.1.1 ' "
        "on node cn1.\n\n")


def test_route_step_array_bug(tmp_path):
    # confirmed by running snmove.pm, case 13d_gw_xcatmaster_cn3_down: every line of the
    # group-wide xdsh output, then the array reference, then the message; no blank line
    # after 'Checking the default routes on the nodes.'
    c = _cluster(tmp_path)
    set_node_up(c, "cn1", False)
    sn2 = load_state(c)["tables"]["hosts"]["sn2"]["ip"]  # the SN's MN-facing (loopback) address
    r = run(c, "snmove", "-s", "sn1", "-D", "10.1.0.2")
    assert r.rc == 1
    assert r.err == (
        "Error: cn1 is not responding, make sure it is a node object and is defined in xCATdb. "
        "No command will be issued to this host.\n"
        "Error: cn2: change net default: gateway 10.1.0.2\n"
        "Error: ARRAY(0x55d0c0ffee00)\n"
        "Error: Could not set default route.\n\n"
        f"Error: Could not run '/usr/bin/bootlist -m normal  gateway={sn2} bserver=10.1.0.2 "
        "client=10.1.1.1 ' on node cn1.\n\n")
    assert ("Running makeconservercf cn1,cn2\nChecking the default routes on the nodes.\n"
            "Updating the bootlist.\n\n") in r.out
    # the node whose netstat failed gets no route command of its own
    assert _sub(c, "xdsh").count(["xdsh", "cn1,cn2", "-v", "route change default 10.1.0.2"]) == 1


def test_liteonly_prints_nothing_and_keeps_rows(tmp_path):
    # confirmed by running snmove.pm, case 14b_liteonly_D
    c = _cluster(tmp_path, "10.1.0.1:/statelite")
    before = load_state(c)
    r = run(c, "snmove", "-s", "sn1", "-l", "-D", "10.1.0.2")
    assert (r.rc, r.out, r.err) == (0, "", "")
    after = load_state(c)
    assert after["tables"]["noderes"] == before["tables"]["noderes"]
    assert after["tables"]["statelite"] == before["tables"]["statelite"]
    assert _sub(c, "xdsh") == [["xdsh", "sn1", "-s", RSYNC.format(n="cn1")],
                               ["xdsh", "sn1", "-s", RSYNC.format(n="cn2")]]


def test_liteonly_verbose_sequence(tmp_path):
    # confirmed by running snmove.pm, case 14_liteonly
    c = _cluster(tmp_path, "10.1.0.1:/statelite")
    r = run(c, "snmove", "-s", "sn1", "-l", "-V")
    assert (r.rc, r.err) == (0, "")
    xcmd = "Running internal xCAT command: xdsh ... \n\n"
    assert r.out == xcmd + "Attempting the synchronization of statelite files.\n\n" + "".join(
        f"Synchronizing /statelite/{n} to 10.1.0.2\n\nOn sn1: Running: '{RSYNC.format(n=n)}'\n\n" + xcmd
        for n in ("cn1", "cn2"))


@pytest.mark.parametrize("cmd", ["netstat -in", "cat /etc/xcatinfo /nonexistent"])
def test_xdsh_stream_output_lines_unchanged(tmp_path, cmd):
    # xdsh -s groups a node's lines into one response; printed, it is still one line each
    c = _cluster(tmp_path)
    plain = run(c, "xdsh", "cn1", cmd)
    stream = run(c, "xdsh", "cn1", "-s", cmd)
    assert (stream.out, stream.err) == (plain.out, plain.err)
    assert stream.out and all(line.startswith("cn1: ") for line in stream.out.splitlines())
