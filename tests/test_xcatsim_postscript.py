"""updatenode -P sntakeover-report: the node-side line of hooks/xcat/sntakeover-report, from the node's own state."""

from __future__ import annotations

import re

from sntakeover.xcatsim import init_cluster, set_node_up
from tests.xcatsim_helpers import run

LINE = re.compile(r"^(\S+): sntakeover-report: v=1 node=(\S+) server=(\S+) master=(\S+) from=(\S+) time=(\d+|-)$")


def test_report_line_follows_xcatinfo_and_a_move(tmp_path):
    c = init_cluster(tmp_path / "c", nodes=4, sns=("sn1", "sn2"), listeners=False)
    set_node_up(c, "cn2", False)
    r = run(c, "updatenode", "cn1,cn2", "-P", "sntakeover-report")
    assert r.rc == 1 and "cn2 is not responding" in r.err
    lines = [m.groups() for m in map(LINE.match, r.out.splitlines()) if m]
    assert [g[:5] for g in lines] == [("cn1", "cn1", "10.1.0.1", "10.1.0.1", "/etc/xcatinfo")]
    assert run(c, "snmove", "cn1", "-d", "sn2").rc == 0
    r = run(c, "updatenode", "cn1", "-P", "sntakeover-report")
    assert [m.groups()[2:5] for m in map(LINE.match, r.out.splitlines()) if m] == [
        ("10.1.0.2", "10.1.0.2", "/etc/xcatinfo")]
