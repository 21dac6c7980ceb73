"""The simulator's store: commands read only what they touch and write only what they change."""

from __future__ import annotations

import re
import sqlite3

import pytest

from sntakeover.xcatsim import init_cluster, load_state, save_state
from sntakeover.xcatsim.db import DB
from sntakeover.xcatsim.noderange import expand
from tests.xcatsim_helpers import run


@pytest.fixture
def c(tmp_path):
    return init_cluster(tmp_path / "c", nodes=8, sns=("sn1", "sn2"), listeners=False)


def _version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA data_version").fetchone()[0]


def test_read_only_commands_write_nothing(c):
    watcher = sqlite3.connect(c / "cluster.db")
    before = _version(watcher)
    for argv in (["xdsh", "cn1,sn1", "date"], ["xdsh", "cn1", "cat /etc/xcatinfo"], ["nodestat", "cn1,cn2"],
                 ["lsdef", "cn1", "-i", "servicenode"], ["nodels", "all", "noderes.servicenode"],
                 ["tabdump", "statelite"], ["rpower", "sn1", "stat"], ["xdsh", "cn1", "netstat -rn"]):
        r = run(c, *argv)
        assert r.rc == 0, (argv, r.err)
    assert _version(watcher) == before  # no other connection committed anything
    assert run(c, "xdsh", "cn1", 'echo "XCATSERVER=x" > /etc/xcatinfo').rc == 0
    assert _version(watcher) != before
    watcher.close()


def test_a_node_side_change_writes_only_that_host(c):
    before = load_state(c)
    assert run(c, "xdsh", "cn3", "route change default 10.1.0.9").rc == 0
    after = load_state(c)
    assert after["machines"]["cn3"]["routes"] == ["10.1.0.9"]
    after["machines"]["cn3"] = before["machines"]["cn3"]
    assert after == before


def _statements(db: DB, nr: str, verify: bool = True) -> list[str]:
    seen: list[str] = []
    db.conn.set_trace_callback(seen.append)
    try:
        expand(db, nr, verify=verify)
    finally:
        db.conn.set_trace_callback(None)
    return [re.sub(r"'[^']*'", "?", s) for s in seen]


@pytest.mark.parametrize("nr", ["cn5", "pair1", "cn1-cn3", "cn[2-4],-cn3", "compute@pair1", "sn1,nosuch"])
def test_expansion_reads_the_same_whatever_the_cluster_size(tmp_path, nr):
    small = DB(init_cluster(tmp_path / "s", nodes=8, sns=("sn1", "sn2"), listeners=False))
    big = DB(init_cluster(tmp_path / "b", nodes=1500, sns=("sn1", "sn2"), listeners=False))
    try:
        a, b = _statements(small, nr), _statements(big, nr)
        assert a == b                                            # the same lookups, whatever the size
        assert not any(s.strip() == 'SELECT "node" FROM nodelist' for s in a)   # never every node name
        assert expand(small, nr) == expand(load_state(small.dir), nr)           # same answer as the dict form
    finally:
        small.close()
        big.close()


def test_all_and_regex_read_the_node_names(c):
    db = DB(c)
    try:
        assert 'SELECT "node" FROM nodelist' in _statements(db, "all")
        assert 'SELECT "node" FROM nodelist' in _statements(db, "/cn1.*")
        assert expand(db, "/cn1.*", verify=False) == (["/cn1.*"], [])  # noderange($r, 0) keeps it literal
    finally:
        db.close()


def test_save_state_round_trip_and_bad_input(c):
    s = load_state(c)
    save_state(c, s)
    assert load_state(c) == s
    s["tables"]["noderes"]["cn1"]["nosuchcolumn"] = "x"
    with pytest.raises(Exception, match="table 'noderes' has no column 'nosuchcolumn'"):
        save_state(c, s)
    assert "nosuchcolumn" not in load_state(c)["tables"]["noderes"]["cn1"]  # nothing half-written
