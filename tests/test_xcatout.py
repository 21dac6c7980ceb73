"""Parsing xCAT output: lsdef listings, node lines, and charging error lines to nodes."""

from sntakeover.xcatout import attribute_errors, error_lines, parse_lsdef, parse_node_lines, perl_regex_literal

LSDEF = """Object name: cn1
    servicenode=sn1,sn2
    xcatmaster=10.1.0.1
Object name: cn10
    servicenode=sn1,sn2
    xcatmaster=
"""


def test_parse_lsdef_long_listing_keeps_empty_values():
    assert parse_lsdef(LSDEF) == {
        "cn1": {"servicenode": "sn1,sn2", "xcatmaster": "10.1.0.1"},
        "cn10": {"servicenode": "sn1,sn2", "xcatmaster": ""},
    }


def test_parse_node_lines():
    assert parse_node_lines("sn1: noping\ncn2: \ncn3: sshd\n") == {"sn1": ["noping"], "cn2": [""], "cn3": ["sshd"]}


def test_error_lines_strip_prefix_and_host_insert():
    assert error_lines("Error: [mn1]: Could not resolve node 'cn1'.\nError: plain\nnoise\n") == [
        "Could not resolve node 'cn1'.", "plain"]


def test_error_for_cn1_is_not_charged_to_cn10():
    per_node, general = attribute_errors(
        "", "Error: Could not run '/usr/bin/bootlist -m normal ent0' on node cn1.\nError: Could not set default route.\n",
        ["cn1", "cn10"])
    assert per_node == {"cn1": "Could not run '/usr/bin/bootlist -m normal ent0' on node cn1."}
    assert general == ["Could not set default route."]


def test_plain_messages_on_stdout_are_charged_too():
    per_node, _ = attribute_errors("Could not determine a backup service node for node cn7.\n", "", ["cn7"])
    assert "cn7" in per_node


def test_perl_regex_literal_escapes_dots():
    assert perl_regex_literal("sn1.cluster") == r"sn1\.cluster"


SNMOVE_STDERR = """Error: Command failed: xdsh. Error message: cn2: ssh: connect to host cn2 port 22: No route to host.

Error: cn1: change net default: gateway 10.1.0.2
Error: cn2 is not responding, make sure it is a node object and is defined in xCATdb. No command will be issued to this host.
Error: cn3: change net default: gateway 10.1.0.2
Error: Could not set default route.

Error: Could not run '/usr/bin/bootlist -m normal  gateway=192.168.0.12 bserver=10.1.0.2 client=10.1.1.2 ' on node cn2.
"""


def test_relayed_output_of_healthy_nodes_is_not_a_failure():
    per_node, general = attribute_errors("", SNMOVE_STDERR, ["cn1", "cn2", "cn3"])
    assert set(per_node) == {"cn2"}
    assert "No route to host" in per_node["cn2"] and "bootlist" in per_node["cn2"]
    assert "Could not set default route." in general
    assert "cn1: change net default: gateway 10.1.0.2" in general
