"""The rules the 'fast' strategy copies from snmove (xcat.md §2.3 steps 16-19), on xCAT's own output texts."""

from __future__ import annotations

import os

import pytest

from sntakeover.builtin import nodesteps as ns
from sntakeover.builtin.snmove import result
from sntakeover.runner import CommandResult
from sntakeover.xcatout import attribute_errors, parse_nodels, parse_tabdump, row_enabled


def facts(**nodes) -> ns.Facts:
    """nodes: name -> (ip, os, old xcatmaster, postscripts, postbootscripts)."""
    return ns.Facts(
        nodes={n: ns.NodeFacts(ip, os_, "img", xm, ps, pbs) for n, (ip, os_, xm, ps, pbs) in nodes.items()},
        ips={"sn2": "192.168.0.12", "sn3": "192.168.0.13"},
        networks=[{"net": "10.1.0.0", "mask": "255.255.0.0", "gateway": "<xcatmaster>"},
                  {"net": "10.2.0.0", "mask": "255.255.0.0", "gateway": "10.2.0.254"}],
        defaults=("syslog,remoteshell,syncfiles", ""),
    )


F = facts(cn1=("10.1.1.1", "AIX", "10.1.0.1", "", ""),
          cn2=("10.1.1.2", "AIX", "10.1.0.1", "setupntp,foo", "mkresolvconf"),
          cn3=("10.2.1.1", "AIX", "10.2.0.1", "", ""),
          ln1=("10.1.1.9", "Linux", "10.1.0.1", "", ""))


# -- postscripts (§2.3 step 19)


def test_postscripts_listed_ones_in_snmove_order_then_P():
    assert ns.node_scripts(F, "cn1", "") == "syslog"
    assert ns.node_scripts(F, "cn2", "") == "syslog,setupntp,mkresolvconf"
    assert ns.node_scripts(F, "cn2", "myscript") == "syslog,setupntp,mkresolvconf,myscript"


def test_postscripts_all_runs_the_whole_joined_list_as_snmove_joins_it():
    assert ns.node_scripts(F, "cn2", "all") == "syslog,remoteshell,syncfiles,setupntp,foo,,mkresolvconf"
    assert ns.node_scripts(F, "cn1", "all") == "syslog,remoteshell,syncfiles,"
    # nothing listed anywhere: still ',' (true in Perl), so updatenode -s still runs
    f = facts(ln1=("10.1.1.9", "Linux", "10.1.0.1", "", ""))
    f.defaults = ("", "")
    assert ns.node_scripts(f, "ln1", "all") == ","
    assert ns.postscript_commands(f, {"ln1": ("sn2,sn1", "10.1.0.2")}, "all") == [
        (["updatenode", "ln1", "-s"], ["updatenode", "ln1", "-P", ","])]
    assert ns.postscript_commands(f, {"ln1": ("sn2,sn1", "10.1.0.2")}, "") == []


def test_postscripts_only_P_when_nothing_listed():
    f = facts(cn1=("10.1.1.1", "AIX", "10.1.0.1", "", ""))
    f.defaults = ("remoteshell", "")
    assert ns.node_scripts(f, "cn1", "") == ""
    assert ns.node_scripts(f, "cn1", "a,b") == "a,b"


def test_postscripts_aix_sns_never_runs_mkresolvconf():
    f = facts(cn2=("10.1.1.2", "AIX", "10.1.0.1", "mkresolvconf,setupntp", ""))
    f.sharedinstall = "sns"
    assert ns.node_scripts(f, "cn2", "") == "syslog,setupntp"
    assert ns.refuse_reason(f) and "sns" in ns.refuse_reason(f)


def test_postscript_commands_grouped_by_identical_list():
    moved = {n: ("sn2,sn1", "10.1.0.2") for n in ("cn1", "cn2", "cn3")}
    cmds = ns.postscript_commands(F, moved, "")
    assert cmds == [(["updatenode", "cn1,cn3", "-s"], ["updatenode", "cn1,cn3", "-P", "syslog"]),
                    (["updatenode", "cn2", "-s"], ["updatenode", "cn2", "-P", "syslog,setupntp,mkresolvconf"])]


# -- /etc/xcatinfo (§2.3 step 16)


def test_xcatinfo_per_new_server_ip_aix_only():
    moved = {"cn1": ("sn2,sn1", "10.1.0.2"), "cn2": ("sn2,sn1", "10.1.0.2"),
             "cn3": ("sn3,sn1", "sn3"), "ln1": ("sn2,sn1", "10.1.0.2")}
    assert ns.xcatinfo_commands(F, moved) == [
        ["xdsh", "cn1,cn2", 'echo "XCATSERVER=10.1.0.2" > /etc/xcatinfo'],
        ["xdsh", "cn3", 'echo "XCATSERVER=192.168.0.13" > /etc/xcatinfo']]  # -D name resolved


def test_unresolvable_xcatmaster_gives_an_empty_server_as_getipaddr_does():
    moved = {"cn1": ("sn2,sn1", "sn2-ib")}
    assert ns.xcatinfo_commands(F, moved) == [["xdsh", "cn1", 'echo "XCATSERVER=" > /etc/xcatinfo']]


# -- default route (§2.3 step 17)

RN = ("{n}: Routing tables\n{n}: Destination        Gateway           Flags   Refs     Use  If   Exp  Groups\n"
      "{n}: default            {gw}          UG        2    123456 en0      -      -\n")


def test_route_only_for_xcatmaster_gateway_networks():
    moved = {"cn1": ("sn2,sn1", "10.1.0.2"), "cn3": ("sn2,sn1", "10.1.0.2")}
    assert ns.route_groups(F, moved) == {"10.1.0.2": ["cn1"]}  # cn3's network has a literal gateway


def test_aix_route_changed_on_the_whole_group_when_one_node_needs_it():
    moved = {"cn1": ("sn2,sn1", "10.1.0.2"), "cn2": ("sn2,sn1", "10.1.0.2")}
    groups = ns.route_groups(F, moved)
    # cn1 still routes via its old xcatmaster, cn2 through something else: snmove's
    # command targets the group from inside its per-node loop, so both change
    out = RN.format(n="cn1", gw="10.1.0.1") + RN.format(n="cn2", gw="10.1.0.254")
    assert ns.route_commands(F, groups, out) == [["xdsh", "cn1,cn2", "-v", "route change default 10.1.0.2"]]


def test_aix_route_left_alone_when_new_present_or_old_absent():
    moved = {"cn1": ("sn2,sn1", "10.1.0.2"), "cn2": ("sn2,sn1", "10.1.0.2")}
    groups = ns.route_groups(F, moved)
    both = RN.format(n="cn1", gw="10.1.0.1") + RN.format(n="cn1", gw="10.1.0.2")
    assert ns.route_commands(F, groups, both + RN.format(n="cn2", gw="10.9.9.9")) == []
    assert ns.route_commands(F, groups, "") == []  # nobody answered


def test_linux_route_added_once_per_gateway():
    moved = {"ln1": ("sn2,sn1", "10.1.0.2")}
    assert ns.route_commands(F, ns.route_groups(F, moved), "") == [
        ["xdsh", "ln1", "-v", "route add default gw 10.1.0.2"]]


def test_file_exists_route_failure_is_ignored_like_snmove():
    assert ns.route_failure_ignored("", "cn1: SIOCADDRT: File exists\n")
    assert not ns.route_failure_ignored("", "Error: cn3 is not responding\n")


# -- bootlist (§2.3 step 18)

def test_bootlist_one_command_per_gateway_and_server_listing_each_node_address():
    moved = {"cn1": ("sn2,sn1", "10.1.0.2"), "cn2": ("sn2,sn1", "10.1.0.2"), "cn3": ("sn2,sn1", "10.1.0.2"),
             "ln1": ("sn2,sn1", "10.1.0.2")}
    cmds, skipped = ns.bootlist_commands(F, moved, "/s")
    assert cmds == [
        # <xcatmaster> gateway: the address of the node's new SN as the MN knows it
        ["xdsh", "cn1,cn2", "-e", "/s", "gateway=192.168.0.12", "bserver=10.1.0.2", "10.1.1.1", "10.1.1.2"],
        ["xdsh", "cn3", "-e", "/s", "gateway=10.2.0.254", "bserver=10.1.0.2", "10.2.1.1"]]
    assert skipped == {}
    # at most `chunk` nodes per command
    cmds, _ = ns.bootlist_commands(F, moved, "/s", chunk=1)
    assert [c[1] for c in cmds] == ["cn1", "cn2", "cn3"] and cmds[1][-1] == "10.1.1.2"


def test_the_bootlist_script_is_an_executable_file(tmp_path):
    path = ns.bootlist_script(tmp_path)
    assert os.access(path, os.X_OK) and open(path).readline().startswith("#!/bin/ksh")


def test_last_matching_networks_row_wins():
    f = facts(cn1=("10.1.1.1", "AIX", "10.1.0.1", "", ""))
    f.networks.append({"net": "10.1.1.0", "mask": "255.255.255.0", "gateway": "10.1.1.254"})
    assert ns.boot_gateway(f, "cn1", "sn2,sn1") == "10.1.1.254"


# -- niminit (§2.3 step 14)


def test_niminit_only_on_standalone_aix_nodes():
    f = facts(cn1=("10.1.1.1", "AIX", "10.1.0.1", "", ""), cn2=("10.1.1.2", "AIX", "10.1.0.1", "", ""))
    f.nodes["cn2"] = ns.NodeFacts("10.1.1.2", "AIX", "standalone-img", "10.1.0.1", "", "")
    f.nimtype = {"img": "diskless", "standalone-img": "standalone"}
    moved = {"cn1": ("sn2,sn1", "10.1.0.2"), "cn2": ("sn2,sn1", "10.1.0.2")}
    assert ns.niminit_commands(f, moved) == [
        ["xdsh", "cn2", "/usr/sbin/niminit -a name=cn2 -a master=sn2 >/dev/null 2>&1"]]


# -- parsing and error attribution


def test_tabdump_quoting_and_disabled_rows():
    rows = parse_tabdump('#node,postscripts,comments,disable\n"xcatdefaults","syslog,remoteshell",,\n'
                         '"grp","say ""hi""",,"1"\n')
    assert rows[0] == {"node": "xcatdefaults", "postscripts": "syslog,remoteshell", "comments": "", "disable": ""}
    assert rows[1]["postscripts"] == 'say "hi"'
    assert [row_enabled(r) for r in rows] == [True, False]
    with pytest.raises(ValueError):
        parse_tabdump("Error: table foo does not exist.\n")


def test_nodels_with_field_names():
    assert parse_nodels("cn1: hosts.ip: 10.1.1.1\ncn1: noderes.xcatmaster: \ncn10: hosts.ip: 10.1.1.10\n") == {
        "cn1": {"hosts.ip": "10.1.1.1", "noderes.xcatmaster": ""}, "cn10": {"hosts.ip": "10.1.1.10"}}


def test_xdsh_stderr_lines_are_the_failing_node_text():
    err = ("cn3: ssh: connect to host cn3 port 22: No route to host\n"
           "cn1: 0514-219 bootlist: Invalid device name\n")
    per_node, general = attribute_errors("cn2: ok\n", err, ["cn1", "cn2", "cn3"], node_lines=True)
    assert per_node == {"cn3": "cn3: ssh: connect to host cn3 port 22: No route to host",
                        "cn1": "cn1: 0514-219 bootlist: Invalid device name"}
    assert general == []
    # snmove's own output is not read that way: relayed node lines stay unattributed
    assert attribute_errors("", "cn1: 0514-219 bootlist: Invalid device name\n", ["cn1"])[0] == {}


def test_result_merges_each_node_text_once_across_commands():
    down = "cn3: ssh: connect to host cn3 port 22: No route to host\n"
    runs = [(["xdsh", "cn1,cn3", "netstat -in"], CommandResult(("xdsh",), 1, "", down)),
            (["xdsh", "cn1,cn3", "echo x > /f"], CommandResult(("xdsh",), 1, "", down)),
            (["updatenode", "cn1,cn3", "-s"], CommandResult(("updatenode",), 1, "",
             "Error: cn3 is not responding, make sure it is a node object and is defined in xCATdb. "
             "No command will be issued to this host.\n"))]
    res = result("fast", runs, [(["xdsh", "cn1", "-v", "route add default gw 1.2.3.4"],
                                 CommandResult(("xdsh",), 1, "", "cn1: SIOCADDRT: File exists\n"))])
    assert list(res.node_errors) == ["cn3"]
    assert res.node_errors["cn3"].count("No route to host") == 1 and "not responding" in res.node_errors["cn3"]
    assert len(res.commands) == 4 and res.rc == 1


def test_nothing_but_addresses_and_names_reaches_a_node_shell():
    f = facts(cn1=("10.1.1.1", "AIX", "10.1.0.1", "", ""), cn2=("10.1.1.2", "AIX", "10.1.0.1", "", ""))
    f.ips["evil"] = "10.1.0.2;reboot"
    moved = {"cn1": ("sn2,sn1", "evil"), "cn2": ("sn2,sn1", "10.1.0.2")}
    assert ns.xcatinfo_commands(f, moved)[0] == ["xdsh", "cn1", 'echo "XCATSERVER=" > /etc/xcatinfo']
    f.nodes["cn2"] = ns.NodeFacts("10.1.1.2`halt`", "AIX", "img", "10.1.0.1", "", "")
    cmds, skipped = ns.bootlist_commands(f, moved, "/s")
    assert cmds == [["xdsh", "cn1", "-e", "/s", "gateway=192.168.0.12", "bserver=", "10.1.1.1"]]
    assert "is not an address" in skipped["cn2"]
