"""snmove's statelite step: the in-place ``$`` substitution, ``#CMD``, the ``//`` fix-up and the rsync dirs.

Each test names the lines of xCAT's code it follows, at xcat-core commit 7733d16f8de0:
SM = xCAT-server/lib/xcat/plugins/snmove.pm, SU = xCAT-server/lib/perl/xCAT/SvrUtils.pm (subVars).
Cluster: cn1,cn2 have sn1,sn2 and xcatmaster 10.1.0.1; cn3,cn4 have sn2,sn1.
"""

from __future__ import annotations

import pytest

from sntakeover.xcatsim import commands_log, edit_state, init_cluster, load_state
from sntakeover.xcatsim.statelite import _backticks
from tests.xcatsim_helpers import run

# Every snmove run below was also run through xCAT's own snmove.pm (database-only, -i -D, canned
# sub-commands, xcat.md 2.7) on the same tables: statelite rows, rsync commands, output and exit
# code were identical (the makeconservercf node order aside, which is Perl hash order).
CONFIRMED_R = {
    "test_dollar_in_dir_first_node_keeps_the_variable_later_nodes_get_its_value": "A_dollar_dir",
    "test_dollar_in_server_and_dir": "B_dollar_server_dir",
    "test_double_slash_fix_up_after_substitution": "C_double_slash",
    "test_cmd_in_dir_runs_on_the_management_node": "D_cmd",
    "test_cmd_without_output": "E_cmd_empty",
    "test_variable_in_the_middle_of_a_part_and_undefined_values": "F_middle_undefined",
    "test_unknown_table_in_a_variable": "G_unknown_table",
    "test_which_nodes_a_row_covers": "H1_cn10, H2_cn99_cn2, H3_xcn1y",
    "test_disabled_rows_are_skipped": "I_disabled",
    "test_one_node_per_call_keeps_each_nodes_own_directory": "J_one_per_call",
}

MOVE = ("snmove", "-s", "sn1", "-i", "-D", "10.1.0.2")
RSYNC = "/usr/bin/rsync -arlHpEAogDz {dodir} sn2:{todir} 2>&1"


def _cluster(tmp_path, *rows: tuple[str, str], disable: str = ""):
    c = init_cluster(tmp_path / "c", nodes=4, sns=("sn1", "sn2"), statelite=False)
    with edit_state(c) as s:
        for node, statemnt in rows:
            s["tables"]["statelite"].append({"node": node, "image": "", "statemnt": statemnt, "disable": disable})
    return c


def _rows(c) -> dict[str, str]:
    return {r["node"]: r["statemnt"] for r in load_state(c)["tables"]["statelite"]}


def _rsyncs(c) -> list[str]:
    return [e["argv"][3] for e in commands_log(c) if e.get("via") == "snmove" and e["argv"][0] == "xdsh"]


def test_dollar_in_dir_first_node_keeps_the_variable_later_nodes_get_its_value(tmp_path):
    # SM 649-651: the row for a node is built from the current $dir, before SM 655-658
    # substitutes it in place; so cn2 inherits cn1's directory. SM 667-673 + 711: dodir/todir.
    c = _cluster(tmp_path, ("compute", "10.1.0.1:/state/$node"))
    r = run(c, *MOVE)
    assert (r.rc, r.err) == (0, "")
    assert _rows(c) == {"compute": "10.1.0.1:/state/$node", "cn1": "10.1.0.2:/state/$node",
                        "cn2": "10.1.0.2:/state/cn1"}
    assert _rsyncs(c) == [RSYNC.format(dodir="/state/cn1/cn1", todir="/state/cn1"),
                          RSYNC.format(dodir="/state/cn1/cn2", todir="/state/cn1")]


def test_dollar_in_server_and_dir(tmp_path):
    # SM 633-637: the server is substituted for cn1 (no row for cn1); cn2 then sees a literal
    # server and gets a row (SM 649-651) with the dir substituted for cn1 (SM 655-658).
    c = _cluster(tmp_path, ("compute", "$noderes.xcatmaster:/state/$node"))
    r = run(c, *MOVE)
    assert (r.rc, r.err) == (0, "")
    assert _rows(c) == {"compute": "$noderes.xcatmaster:/state/$node", "cn2": "10.1.0.2:/state/cn1"}
    # SM 676: the substituted server is cn1's old xcatmaster, so both dirs are synced
    assert _rsyncs(c) == [RSYNC.format(dodir="/state/cn1/cn1", todir="/state/cn1"),
                          RSYNC.format(dodir="/state/cn1/cn2", todir="/state/cn1")]


def test_one_node_per_call_keeps_each_nodes_own_directory(tmp_path):
    # the workaround for SM 655-658: every call's first node is built before substitution
    c = _cluster(tmp_path, ("compute", "10.1.0.1:/state/$node"))
    for node in ("cn1", "cn2"):
        assert run(c, "snmove", node, "-i", "-D", "10.1.0.2").rc == 0
    assert _rows(c) == {"compute": "10.1.0.1:/state/$node", "cn1": "10.1.0.2:/state/$node",
                        "cn2": "10.1.0.2:/state/$node"}
    assert _rsyncs(c) == [RSYNC.format(dodir="/state/cn1/cn1", todir="/state/cn1"),
                          RSYNC.format(dodir="/state/cn2/cn2", todir="/state/cn2")]


def test_double_slash_fix_up_after_substitution(tmp_path):
    # SU 1552-1618 rebuilds the dir as "/" + part for every part ("//state//cn1");
    # SM 658 turns every "//" into "/"
    c = _cluster(tmp_path, ("compute", "10.1.0.1:/state//$node/"))
    assert run(c, *MOVE).rc == 0
    assert _rows(c)["cn2"] == "10.1.0.2:/state/cn1"
    assert _rsyncs(c)[0] == RSYNC.format(dodir="/state/cn1/cn1", todir="/state/cn1")


def test_cmd_in_dir_runs_on_the_management_node(tmp_path):
    # SM 655: '#CMD' alone triggers subVars; SU 1624-1640 runs it with `cmd 2>&1`, chomps the
    # output and drops the '#'s; the first node's row still holds the unsubstituted text
    c = _cluster(tmp_path, ("compute", "10.1.0.1:/state/#CMD=echo fromcmd#"))
    assert run(c, *MOVE).rc == 0
    assert _rows(c)["cn1"] == "10.1.0.2:/state/#CMD=echo fromcmd#"
    assert _rows(c)["cn2"] == "10.1.0.2:/state/fromcmd"
    assert _rsyncs(c) == [RSYNC.format(dodir="/state/fromcmd/cn1", todir="/state/fromcmd"),
                          RSYNC.format(dodir="/state/fromcmd/cn2", todir="/state/fromcmd")]


def test_cmd_without_output(tmp_path):
    # SU 1636-1638: no output -> "#CMD=<output> did not return output#". For cn2 the dir still
    # holds '#CMD' (SM 655), so subVars runs " did not return output" -- which Perl execs directly
    # (the final 2>&1 is its only metacharacter), fails, and again gives no output.
    c = _cluster(tmp_path, ("compute", "10.1.0.1:/state/#CMD=true#"))
    assert run(c, *MOVE).rc == 0  # (the rsync gets that text, spaces and all, as its paths)
    assert _rows(c)["cn2"] == "10.1.0.2:/state/#CMD= did not return output#"
    d = "/state/#CMD= did not return output#"
    assert _rsyncs(c) == [RSYNC.format(dodir=f"{d}/cn1", todir=d), RSYNC.format(dodir=f"{d}/cn2", todir=d)]


@pytest.mark.parametrize("cmd,out", [
    ("echo one", "one"),                 # no shell: words exec'd, stderr joined by Perl itself
    ("no-such-command x", ""),           # exec fails: no output at all (not the shell's "not found")
    ("echo one; echo two", "one\ntwo"),  # a metacharacter: /bin/sh -c
    ("echo a | tr a b", "b"),
])
def test_perl_backticks(cmd, out):
    assert _backticks(cmd) == out


def test_variable_in_the_middle_of_a_part_and_undefined_values(tmp_path):
    # SU 1561: pre / variable up to '#' or ' ' / rest; SU 1569-1609: '$a$b' joins with '.';
    # an empty value is UNDEFINED (SU 1604)
    c = _cluster(tmp_path, ("compute", "10.1.0.1:/st/x$node$noderes.nimserver"))
    assert run(c, *MOVE).rc == 0
    assert _rows(c)["cn2"] == "10.1.0.2:/st/xcn1.UNDEFINED"


def test_unknown_table_in_a_variable(tmp_path):
    # SU 1584-1588: a table that does not exist: error with errorcode 1, subVars returns undef
    c = _cluster(tmp_path, ("compute", "10.1.0.1:/state/$nosuch.col"))
    r = run(c, *MOVE)
    assert r.rc == 1
    assert r.err == "Error: nosuch does not exist\n"
    # undef dir (SM 657): dodir is "/<node>" and the next node's row has an empty dir
    assert _rows(c)["cn2"] == "10.1.0.2:"
    assert _rsyncs(c)[0] == RSYNC.format(dodir="/cn1", todir="/")


@pytest.mark.parametrize("rownode,covered", [
    ("cn10", ["cn1"]),            # SM 627: /$n/ matches a substring of a member
    ("cn99,cn2", ["cn2"]),        # SM 616: noderange($nr, 0) keeps unknown names (cn99 does not hold cn1)
    ("xcn1y", ["cn1"]),
])
def test_which_nodes_a_row_covers(tmp_path, rownode, covered):
    c = _cluster(tmp_path, (rownode, "extnfs01:/nodedata"))
    assert run(c, *MOVE).rc == 0
    assert sorted(set(_rows(c)) - {rownode}) == covered


def test_confirmed_lists_name_tests():
    for name in CONFIRMED_R:
        assert callable(globals().get(name)), name


def test_disabled_rows_are_skipped(tmp_path):
    # SM 600: getAllEntries without "all" reads only rows whose disable is empty/0/no
    c = _cluster(tmp_path, ("compute", "10.1.0.1:/state"), disable="1")
    assert run(c, *MOVE).rc == 0
    assert set(_rows(c)) == {"compute"}
    assert _rsyncs(c) == []
