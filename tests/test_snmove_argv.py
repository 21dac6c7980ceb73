"""snmove command lines: each node the planner marks ``solo`` gets a call of its own, and the
database-only calls of the 'fast' strategy never carry ``-P`` (snmove refuses ``-P`` with ``-i``)."""

from __future__ import annotations

from sntakeover.builtin.parallel import parallel_argvs
from sntakeover.builtin.snmove import snmove_argvs
from sntakeover.config import build
from sntakeover.model import NodeMove, Plan


def plan_with_solo() -> Plan:
    moves = [NodeMove(f"cn{i}", "sn1", "sn2", "sn1,sn2", "10.1.0.1", solo=i in (2, 4)) for i in range(1, 6)]
    moves.append(NodeMove("cn9", "sn1", "sn3", "sn1,sn3", "10.2.0.2"))
    return Plan(tuple(moves))


def test_snmove_argvs_give_each_solo_node_its_own_call():
    cfg = build({"takeover": {"destn": {"sn2": "10.1.0.2"}}})
    assert snmove_argvs(plan_with_solo(), cfg) == [
        ["snmove", "cn1,cn3,cn5", "-d", "sn2", "-D", "10.1.0.2"],
        ["snmove", "cn2", "-d", "sn2", "-D", "10.1.0.2"],
        ["snmove", "cn4", "-d", "sn2", "-D", "10.1.0.2"],
        ["snmove", "cn9", "-d", "sn3"]]


def test_database_only_calls_never_carry_P():
    cfg = build({"takeover": {"postscripts": "myscript", "batch_size": 2}})
    argvs = snmove_argvs(plan_with_solo(), cfg, db_only=True)
    assert argvs[0] == ["snmove", "cn1,cn3", "-d", "sn2", "-i"]
    assert all("-P" not in a and a[-1] == "-i" for a in argvs)
    assert ["snmove", "cn2", "-d", "sn2", "-P", "myscript"] in snmove_argvs(plan_with_solo(), cfg)


def test_parallel_batches_leave_solo_nodes_out_and_give_them_a_call_each():
    argvs = parallel_argvs(plan_with_solo(), build({"takeover": {"parallel": 2}}))
    assert argvs == [["snmove", "cn1,cn5", "-d", "sn2"], ["snmove", "cn3", "-d", "sn2"],
                     ["snmove", "cn2", "-d", "sn2"], ["snmove", "cn4", "-d", "sn2"], ["snmove", "cn9", "-d", "sn3"]]


def test_a_backup_whose_nodes_are_all_solo():
    plan = Plan(tuple(NodeMove(f"cn{i}", "sn1", "sn2", "sn1,sn2", solo=True) for i in (1, 2)))
    assert snmove_argvs(plan, build({})) == [["snmove", "cn1", "-d", "sn2"], ["snmove", "cn2", "-d", "sn2"]]
    assert parallel_argvs(plan, build({})) == [["snmove", "cn1", "-d", "sn2"], ["snmove", "cn2", "-d", "sn2"]]
