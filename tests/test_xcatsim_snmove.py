"""snmove behaviour of the simulator, against xcat.md section 2."""

from __future__ import annotations

import pytest

from sntakeover.xcatsim import commands_log, edit_state, fail_sn, init_cluster, load_state, set_node_up
from sntakeover.xcatsim.state import node_attr
from tests.xcatsim_helpers import run

# Expectations confirmed by running xCAT's snmove.pm: test name -> case(s) of that run
# (more in tests/test_xcatsim_snmove_real.py). Node-side texts of that run were canned,
# so for node failures only the framing is confirmed.
CONFIRMED_R = {
    "test_clean_i_move_with_D_output": "01_clean_i_D",
    "test_default_move_output_and_no_summary":
        "13a_nodes_ok_D, 13d_gw_xcatmaster_cn3_down, 13f_nodes_ok_noD (lines and blank lines, not updatenode texts)",
    "test_usage_help_exit_0": "09e_help",
    "test_unknown_option": "09d_unknown_option (usage on stdout, exit 0)",
    "test_validation_errors_exit_0": "09a_i_and_P, 09c_two_positional, 09b_no_args",
    "test_invalid_nodes_in_noderange": "10_unknown_node",
    "test_resolve_failure": "10b_unresolvable",
    "test_second_source_run_no_objects": "06_second_run, 09f_s_matches_nothing",
    "test_source_is_regex_first_entry_only": "04a_s_prefix",
    "test_source_alternation_selects_both": "04b_s_regex",
    "test_dest_prepended": "05b_nr_d_sn3, 05c_s_d_sn3",
    "test_more_than_two_entries": "07b_three_sns",
    "test_no_backup_aborts_exit_0": "07_no_backup",
    "test_xcatmaster_from_dest_ifconfig": "02_noD_ifconfig",
    "test_unreachable_dest_sn": "03_noD_sn2_down",
    "test_tftp_nfs_replaced_only_if_old_xcatmaster": "15_attr_variants, 01_clean_i_D",
    "test_monserver_rules": "01_clean_i_D (two-part value; the three-part value was not run)",
    "test_monserver_one_part_invalid_exit_1": "08_monserver_1part (value 'sn1')",
    "test_conserver_and_makeconservercf_even_with_i": "01_clean_i_D",
    "test_statelite_rewritten_per_node": "11b_statelite_extnfs",
    "test_db_written_before_node_steps_and_down_node": "13c_cn3_down_noD (framing and bootlist command)",
    "test_ignorenodes_touches_no_node": "01_clean_i_D",
    "test_postscripts_selection_and_P": "13e_nodes_ok_P (defaults + -P appended)",
    "test_verbose_lines": "01b_clean_i_D_verbose, 14_liteonly",
    "test_os_must_be_exactly_AIX": "12_mix (message and exit code)",
}

# Tagged [R] in xcat.md 2.7 but not covered by the snmove.pm run above.
XCAT_MD_R = {
    "test_group_inherited_servicenode_counts_and_node_row_written": "inherited values count, node-level row",
    "test_second_entry_even_with_source": "2nd entry even with -s",
    "test_last_matching_network_row": "last networks row",
}


@pytest.fixture
def c(tmp_path):
    return init_cluster(tmp_path / "c", nodes=8, sns=("sn1", "sn2", "sn3", "sn4"))


def test_clean_i_move_with_D_output(c):
    # xCAT lists the makeconservercf nodes in Perl hash order (e.g. cn3,cn2,cn1,cn4, and
    # different under each xcatd); the simulator keeps natural order, which is one of them
    r = run(c, "snmove", "cn1", "-i", "-D", "10.1.0.2")
    assert r.rc == 0
    assert r.out == ("Moving nodes to their backup service nodes.\n\n"
                     "Setting new values in the xCAT database.\n\n"
                     "Running makeconservercf cn1\n")
    assert r.err == ""


def test_default_move_output_and_no_summary(c):
    r = run(c, "snmove", "-s", "sn1")
    assert r.rc == 0, r.err
    lines = r.out.split("\n")
    assert lines[:5] == ["Moving nodes to their backup service nodes.", "", "Setting new values in the xCAT database.",
                         "", "Running makeconservercf cn1,cn2"]
    assert "Checking the default routes on the nodes." in lines
    assert r.out.index("Checking the default routes") < r.out.index("Updating the bootlist.\n\n")
    assert "Running postscripts on the nodes." in lines
    assert lines[-2] == "cn2: Running of postscripts has completed."


def test_usage_help_exit_0(c):
    r = run(c, "snmove", "-h")
    assert r.rc == 0
    assert r.out.startswith("\nsnmove - Move xCAT compute nodes from one xCAT service node to a \nbackup service node.\n")
    assert "\nUsage: \n" in r.out


def test_unknown_option(c):
    # Getopt::Long's 'Unknown option: x' is a warning inside xcatd's plugin process
    # (the client passes the arguments on unparsed), so a client shows only the usage
    r = run(c, "snmove", "-x", "cn1")
    assert r.rc == 0
    assert r.err == ""
    assert r.out == run(c, "snmove", "-h").out
    assert "Moving nodes" not in r.out


def test_bundled_options(c):
    r = run(c, "snmove", "-iVd", "sn2", "cn1", "-D", "10.1.0.2")
    assert r.rc == 0, r.err
    assert node_attr(load_state(c), "cn1", "servicenode") == "sn2,sn1"


@pytest.mark.parametrize("argv,text", [
    (["cn1", "-i", "-P", "syslog"], "-P and -i flags cannot be specified at the same time.\n\n"),
    (["cn1", "cn2"], "Too many paramters.\n\n"),
    ([], "A node range or the source service node must be specified.\n\n"),
])
def test_validation_errors_exit_0(c, argv, text):
    r = run(c, "snmove", *argv)
    assert r.rc == 0
    assert r.out.startswith(text)
    assert "Moving nodes" not in r.out


def test_invalid_nodes_in_noderange(c):
    r = run(c, "snmove", "cn1,cn9,cn10")
    assert r.rc == 0
    assert r.out == "Moving nodes to their backup service nodes.\n\nInvalid nodes in noderange:cn9,cn10\n"


def test_resolve_failure(c):
    run(c, "chdef", "cn1", "ip=")
    with_ip = load_state(c)
    assert with_ip["tables"]["hosts"]["cn1"]["ip"] == ""
    r = run(c, "snmove", "cn1")
    assert r.rc == 1
    assert r.err == "Error: Could not resolve node 'cn1'.\n\n"


def test_second_source_run_no_objects(c):
    assert run(c, "snmove", "-s", "sn1", "-i").rc == 0
    r = run(c, "snmove", "-s", "sn1", "-i")
    assert r.rc == 1
    assert r.err == "Error: Could not get xCAT object definitions.\n\n"


def test_source_is_regex_first_entry_only(tmp_path):
    c = init_cluster(tmp_path / "c", nodes=20, sns=[f"sn{i}" for i in range(1, 11)])
    before = load_state(c)
    sn10_nodes = [n for n in before["tables"]["noderes"] if node_attr(before, n, "servicenode").startswith("sn10,")]
    assert sn10_nodes
    r = run(c, "snmove", "-s", "sn1", "-i")
    assert r.rc == 0, r.err
    after = load_state(c)
    for n in sn10_nodes:
        assert node_attr(after, n, "servicenode") == node_attr(before, n, "servicenode")
    moved = [n for n in after["tables"]["noderes"] if node_attr(before, n, "servicenode") == "sn1,sn2"]
    assert moved and all(node_attr(after, n, "servicenode") == "sn2,sn1" for n in moved)
    # nodes with sn1 second are untouched
    for n in after["tables"]["noderes"]:
        if node_attr(before, n, "servicenode") == "sn2,sn1":
            assert node_attr(after, n, "servicenode") == "sn2,sn1"


def test_source_alternation_selects_both(tmp_path):
    c = init_cluster(tmp_path / "c", nodes=20, sns=[f"sn{i}" for i in range(1, 11)])
    before = load_state(c)
    r = run(c, "snmove", "-s", "sn1|sn10", "-i")
    assert r.rc == 0, r.err
    after = load_state(c)
    for n in before["tables"]["noderes"]:
        b = node_attr(before, n, "servicenode")
        if b.split(",")[0] in ("sn1", "sn10"):
            assert node_attr(after, n, "servicenode") == ",".join(reversed(b.split(",")))


def test_group_inherited_servicenode_counts_and_node_row_written(c):
    run(c, "chdef", "cn1", "servicenode=")
    # put the value on the group row only
    with edit_state(c) as s:
        s["tables"]["noderes"]["pair1"] = {"servicenode": "sn1,sn2"}
    r = run(c, "snmove", "cn1", "-i")
    assert r.rc == 0, r.err
    after = load_state(c)
    assert after["tables"]["noderes"]["cn1"]["servicenode"] == "sn2,sn1"
    assert after["tables"]["noderes"]["pair1"]["servicenode"] == "sn1,sn2"


def test_empty_servicenode_counts_as_site_master(c):
    r = run(c, "snmove", "-s", load_state(c)["tables"]["site"]["master"], "-i", "-D", "x")
    # selects the SNs themselves (no os on a Linux-less AIX cluster -> they are AIX; no backup SN)
    assert r.rc == 0
    assert "Error: Could not determine a backup service node for node sn1." in r.err


def test_dest_prepended(c):
    r = run(c, "snmove", "cn1", "-d", "sn3", "-D", "10.1.0.3", "-i")
    assert r.rc == 0, r.err
    assert node_attr(load_state(c), "cn1", "servicenode") == "sn3,sn1,sn2"


def test_second_entry_even_with_source(c):
    run(c, "chdef", "cn1", "servicenode=sn1,sn3")
    r = run(c, "snmove", "-s", "sn1", "-i", "-D", "10.1.0.2")
    assert r.rc == 0, r.err
    s = load_state(c)
    assert node_attr(s, "cn1", "servicenode") == "sn3,sn1"
    assert node_attr(s, "cn2", "servicenode") == "sn2,sn1"


def test_more_than_two_entries(c):
    run(c, "chdef", "cn1", "servicenode=sn1,sn2,sn3")
    r = run(c, "snmove", "cn1", "-i")
    assert r.rc == 0, r.err
    assert r.err == "Error: The service node attribute cannot have more than two values.\n"
    assert node_attr(load_state(c), "cn1", "servicenode") == "sn2,sn1,sn3"


def test_no_backup_aborts_exit_0(c):
    run(c, "chdef", "cn7", "servicenode=sn3")
    r = run(c, "snmove", "cn5,cn7", "-i")
    assert r.rc == 0
    assert r.err == "Error: Could not determine a backup service node for node cn7.\n"
    assert r.out == "Moving nodes to their backup service nodes.\n\n"
    assert node_attr(load_state(c), "cn5", "servicenode") == "sn3,sn4"


def test_xcatmaster_from_dest_ifconfig(c):
    r = run(c, "snmove", "cn1", "-i")
    assert r.rc == 0, r.err
    assert node_attr(load_state(c), "cn1", "xcatmaster") == "10.1.0.2"
    calls = [e["argv"] for e in commands_log(c) if e.get("via") == "snmove" and e["argv"][0] == "xdsh"]
    assert ["xdsh", "sn2", "-s", "/usr/sbin/ifconfig -a "] in calls


def test_last_matching_network_row(c):
    with edit_state(c) as s:
        s["tables"]["networks"].append({"netname": "wide", "net": "10.0.0.0", "mask": "255.0.0.0", "gateway": ""})
        s["machines"]["sn2"]["interfaces"].insert(0, {"name": "en9", "ip": "10.9.9.9", "mask": "255.0.0.0"})
    assert run(c, "snmove", "cn1", "-i").rc == 0
    assert node_attr(load_state(c), "cn1", "xcatmaster") == "10.9.9.9"


def test_unreachable_dest_sn(c):
    fail_sn(c, "sn2")
    r = run(c, "snmove", "-s", "sn1")
    assert r.rc == 0
    assert r.out == ("Moving nodes to their backup service nodes.\n\n"
                     "Could not get IP addresses from service node sn2.\n\n")
    assert r.err == ("Error: Could not determine an xcatmaster value for node cn1.\n"
                     "Error: Could not determine an xcatmaster value for node cn2.\n")
    assert node_attr(load_state(c), "cn1", "servicenode") == "sn1,sn2"


def test_old_sn_down_move_succeeds(c):
    fail_sn(c, "sn1")
    r = run(c, "snmove", "-s", "sn1")
    assert r.rc == 0, r.err
    s = load_state(c)
    assert node_attr(s, "cn1", "xcatmaster") == "10.1.0.2"
    assert s["machines"]["cn1"]["files"]["/etc/xcatinfo"] == "XCATSERVER=10.1.0.2\n"
    assert s["machines"]["cn1"]["routes"] == ["10.1.0.2"]
    assert "bserver=10.1.0.2 client=10.1.1.1" in s["machines"]["cn1"]["bootlist"]
    assert s["machines"]["cn1"]["postscripts_run"] == ["syslog"]


def test_tftp_nfs_replaced_only_if_old_xcatmaster(c):
    run(c, "chdef", "cn2", "tftpserver=sn1", "nfsserver=10.1.0.1")
    assert run(c, "snmove", "-s", "sn1", "-i").rc == 0
    s = load_state(c)
    assert node_attr(s, "cn1", "tftpserver") == "10.1.0.2"
    assert node_attr(s, "cn1", "nfsserver") == "extnfs01"
    assert node_attr(s, "cn2", "tftpserver") == "sn1"  # name does not count when xcatmaster is an IP
    assert node_attr(s, "cn2", "nfsserver") == "10.1.0.2"


def test_source_n_overrides_old_xcatmaster(c):
    run(c, "chdef", "cn1", "tftpserver=sn1n")
    assert run(c, "snmove", "cn1", "-i", "-S", "sn1n").rc == 0
    assert node_attr(load_state(c), "cn1", "tftpserver") == "10.1.0.2"


def test_monserver_rules(c):
    run(c, "chdef", "cn2", "monserver=sn1,10.1.0.1,extra")
    assert run(c, "snmove", "-s", "sn1", "-i").rc == 0
    s = load_state(c)
    assert node_attr(s, "cn1", "monserver") == "sn2,10.1.0.2"
    assert node_attr(s, "cn2", "monserver") == "sn2,10.1.0.2"


@pytest.mark.parametrize("value", ["sn1", "sn1,"])
def test_monserver_one_part_invalid_exit_1(c, value):
    run(c, "chdef", "cn1", f"monserver={value}")
    r = run(c, "snmove", "cn1", "-i")
    assert r.rc == 1
    assert r.err == "Error: The current value of the monserver attribute is not valid.  It will not be reset.\n\n"
    s = load_state(c)
    assert node_attr(s, "cn1", "servicenode") == "sn2,sn1"
    assert node_attr(s, "cn1", "monserver") == value


def test_conserver_and_makeconservercf_even_with_i(c):
    r = run(c, "snmove", "cn1,cn2", "-i")
    assert "Running makeconservercf cn1,cn2\n" in r.out
    assert node_attr(load_state(c), "cn1", "conserver") == "sn2"
    assert ["makeconservercf", "cn1,cn2"] in [e["argv"] for e in commands_log(c)]


def test_statelite_rewritten_per_node(c):
    assert run(c, "snmove", "cn1", "-i").rc == 0
    rows = load_state(c)["tables"]["statelite"]
    assert {"node": "cn1", "image": "", "statemnt": "10.1.0.2:/nodedata"} in rows
    assert rows[0]["node"] == "compute" and rows[0]["statemnt"] == "extnfs01:/nodedata"


def test_db_written_before_node_steps_and_down_node(c):
    set_node_up(c, "cn1", False)
    r = run(c, "snmove", "cn1,cn2")
    assert r.rc == 1
    assert ("Error: Command failed: xdsh. Error message: cn1: ssh: connect to host cn1 port 22: No route to host.\n\n"
            in r.err)
    sn2 = load_state(c)["tables"]["hosts"]["sn2"]["ip"]  # the SN's MN-facing (loopback) address
    assert (f"Error: Could not run '/usr/bin/bootlist -m normal  gateway={sn2} bserver=10.1.0.2 "
            "client=10.1.1.1 ' on node cn1.\n\n") in r.err
    assert "cn1 is not responding" in r.out
    s = load_state(c)
    assert node_attr(s, "cn1", "servicenode") == "sn2,sn1"
    assert s["machines"]["cn2"]["files"]["/etc/xcatinfo"] == "XCATSERVER=10.1.0.2\n"


def test_ignorenodes_touches_no_node(c):
    run(c, "snmove", "cn1", "-i")
    argv = [e["argv"] for e in commands_log(c) if e.get("via") == "snmove"]
    assert all(a[0] != "updatenode" for a in argv)
    assert load_state(c)["machines"]["cn1"]["files"]["/etc/xcatinfo"] == "XCATSERVER=10.1.0.1\n"


def test_postscripts_selection_and_P(c):
    with edit_state(c) as s:
        s["tables"]["postscripts"]["cn1"] = {"postscripts": "setupntp,foo", "postbootscripts": "mkresolvconf"}
    r = run(c, "snmove", "cn1,cn2", "-P", "myscript")
    assert r.rc == 0, r.err
    calls = [e["argv"] for e in commands_log(c) if e["argv"][0] == "updatenode"]
    assert ["updatenode", "cn1", "-s"] in calls
    assert ["updatenode", "cn1", "-P", "syslog,setupntp,mkresolvconf,myscript"] in calls
    assert ["updatenode", "cn2", "-P", "syslog,myscript"] in calls


def test_verbose_lines(c):
    r = run(c, "snmove", "cn1", "-V")
    assert "Running internal xCAT command: xdsh ... \n\n" in r.out
    assert "Updating the /etc/xcatinfo files.\n\n" in r.out
    assert "Attempting the synchronization of statelite files.\n\n" in r.out


def test_liteonly_linux_rejected(tmp_path):
    c = init_cluster(tmp_path / "l", nodes=4, sns=("sn1", "sn2"), os="Linux")
    r = run(c, "snmove", "cn1", "-l")
    assert r.rc == 1
    assert r.err == "Error: The '-l' option is not supported for Linux nodes.\n\n"


def test_os_must_be_exactly_AIX(c):
    run(c, "chdef", "cn2", "os=aix")
    r = run(c, "snmove", "cn1,cn2", "-i")
    assert r.rc == 1
    assert r.err == "Error: This command does not support a mix of AIX and Linux nodes.\n\n"


def test_linux_path_nodeset_route_updatenode(tmp_path):
    c = init_cluster(tmp_path / "l", nodes=4, sns=("sn1", "sn2"), os="Linux")
    r = run(c, "snmove", "-s", "sn1")
    assert r.rc == 0, r.err
    calls = [e["argv"] for e in commands_log(c) if e.get("via") == "snmove"]
    assert ["xdsh", "sn2", "-s", "/sbin/ip addr "] in calls
    assert ["nodeset", "cn1,cn2", "osimage=rhels7.9-ppc64le-netboot-compute"] in calls
    assert ["xdsh", "cn1,cn2", "-v", "route add default gw 10.1.0.2"] in calls
    assert "Updating the bootlist." not in r.out
    assert load_state(c)["machines"]["cn1"]["routes"] == ["10.1.0.1", "10.1.0.2"]


def test_route_loop_is_n_by_n_on_linux(tmp_path):
    c = init_cluster(tmp_path / "l", nodes=6, sns=("sn1", "sn2"), os="Linux")
    run(c, "snmove", "-s", "sn1")
    routes = [e for e in commands_log(c) if e["argv"][:3] == ["xdsh", "cn1,cn2,cn3", "-v"]]
    assert len(routes) == 3


def test_confirmed_lists_name_tests():
    import tests.test_xcatsim_snmove_real as real
    for mod, names in ((globals(), CONFIRMED_R), (globals(), XCAT_MD_R), (vars(real), real.CONFIRMED_R)):
        for name in names:
            assert callable(mod.get(name)), name
