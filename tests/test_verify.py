"""Verification: each verifier plugin gives per-node verdicts, stored per node and verifier."""

from __future__ import annotations

import shlex

import pytest

from sntakeover import hookimpl
from sntakeover.builtin.verify_node import xcatinfo_argv
from sntakeover.builtin.verify_report import parse_reports
from sntakeover.config import build
from sntakeover.context import Context
from sntakeover.errors import Abort, Skip
from sntakeover.model import Incident, NodeMove, NodeVerdict, Plan, State
from sntakeover.plugins import Hooks, get_plugin_manager
from sntakeover.runner import LocalRunner
from sntakeover.verdicts import combine
from support import event, partial_with_one_down_node

INC = Incident(1, "sn1", State.VERIFYING, "2026-01-01T00:00:00Z")


def verdict_rows(d, iid):
    return {(r["node"], r["verifier"]): r for r in d.summary(iid)["verdicts"]}


def test_hook_sntakeover_verify_every_verifier_stores_its_verdict_per_node(sim, daemon):
    s = sim()
    mine = s.nodes_first("sn1")
    s.fail("sn1")
    d = daemon(s, extra="[verify]\ninterval = 0.2\nreport = true\n")
    d.send(event("sn1"))
    inc = d.wait_closed("sn1")
    assert inc["state"] == "done"
    rows = verdict_rows(d, inc["id"])
    assert set(rows) == {(n, v) for n in mine for v in ("database", "node", "reachability", "report")}
    assert all(r["ok"] == 1 for r in rows.values())
    assert rows[(mine[0], "node")]["detail"] == "XCATSERVER=10.1.0.2"
    assert rows[(mine[0], "report")]["detail"] == "server=10.1.0.2 from=/etc/xcatinfo"
    # the per-node row stays the summary
    nodes = {r["node"]: r for r in d.summary(inc["id"])["nodes"]}
    assert all(nodes[n]["status"] == "verified" and "database: servicenode=sn2,sn1" in nodes[n]["detail"] for n in mine)
    # the report postscript ran through updatenode, on the planned nodes only
    assert ["updatenode", ",".join(mine), "-P", "sntakeover-report", "--fanout=256"] in [
        ["updatenode", *c] for c in s.calls("updatenode")]


def test_a_node_down_at_takeover_time_fails_each_verifier_that_can_tell(sim, daemon):
    s = sim()
    mine = s.nodes_first("sn1")
    d, inc, victim = partial_with_one_down_node(s, daemon, victim=0, extra="[verify]\ninterval = 0.2\nreport = true\n")
    rows = verdict_rows(d, inc["id"])
    # the database was changed (snmove has no rollback) but snmove's error for the node reached verification
    assert rows[(victim, "database")]["ok"] == 0 and "takeover reported:" in rows[(victim, "database")]["detail"]
    assert rows[(victim, "node")]["ok"] == 0
    assert rows[(victim, "reachability")]["ok"] == 0 and "noping" in rows[(victim, "reachability")]["detail"]
    assert (victim, "report") not in rows  # a down node prints no report: nothing to say
    assert all(rows[(n, v)]["ok"] == 1 for n in mine[1:] for v in ("database", "node", "reachability", "report"))


def moved_cluster(sim):
    """A cluster whose sn1 failed and whose nodes snmove moved to sn2; returns (sim, plan, ctx)."""
    s = sim(nodes=8)
    s.fail("sn1")
    ctx = Context(build({"verify": {"report": True}}), LocalRunner(path_prefix=[str(s.bin)]))
    hooks = Hooks(get_plugin_manager(load_entrypoints=False))
    plan = hooks.plan(INC, ctx)
    assert plan.moves and ctx.xcat("snmove", ",".join(plan.nodes), "-d", "sn2").rc == 0
    return s, plan, ctx, hooks


def test_a_node_that_still_names_its_old_server_fails_node_and_report(sim):
    s, plan, ctx, hooks = moved_cluster(sim)
    stale = plan.nodes[1]
    from sntakeover.xcatsim.cluster import edit_state

    with edit_state(s.dir) as state:
        state["machines"][stale]["files"]["/etc/xcatinfo"] = "XCATSERVER=10.1.0.1\n"
    verdicts = hooks.verify(INC, plan, ctx, takeover_errors={})
    by = {(v.node, v.verifier): v for v in verdicts}
    assert by[(stale, "database")].ok is True and by[(stale, "reachability")].ok is True
    assert by[(stale, "node")].ok is False and "XCATSERVER=10.1.0.1" in by[(stale, "node")].detail
    assert by[(stale, "report")].ok is False and "server=10.1.0.1" in by[(stale, "report")].detail
    outcome = combine(plan.nodes, verdicts)
    assert outcome[stale][0] is False and all(outcome[n][0] for n in plan.nodes if n != stale)
    # one lsdef served the three verifiers that compare with the database
    assert sum(1 for c in s.calls("lsdef") if c[:2] == ["-t", "node"] and c[2] == "-o") == 1


def test_takeover_errors_reach_verifiers_through_the_declared_argument(sim):
    s, plan, ctx, hooks = moved_cluster(sim)
    seen = {}

    class Spy:
        @hookimpl
        def sntakeover_verify(self, plan, takeover_errors):
            seen.update(takeover_errors)
            return None

    hooks.pm.register(Spy(), name="spy")
    verdicts = hooks.verify(INC, plan, ctx, takeover_errors={plan.nodes[0]: "Could not run 'bootlist' on node x."})
    assert seen == {plan.nodes[0]: "Could not run 'bootlist' on node x."}
    db = {v.node: v for v in verdicts if v.verifier == "database"}
    assert db[plan.nodes[0]].ok is False and "Could not run 'bootlist'" in db[plan.nodes[0]].detail
    assert "node_errors" not in ctx.scratch


def test_the_xcatinfo_path_is_one_quoted_word_for_the_nodes_shell(sim):
    path = "/etc/xcat info;touch /tmp/snt-pwned"
    argv = xcatinfo_argv(["cn1", "cn2"], path)
    assert argv[:3] == ["xdsh", "cn1,cn2", "cat"] and shlex.split(" ".join(argv[3:])) == [path]
    s = sim(nodes=4)
    res = LocalRunner(path_prefix=[str(s.bin)]).run(argv)
    # the node's cat got the whole path as one file name
    assert f"cn1: cat: {path}: No such file" in res.stderr or f"cn1: cat: 0652-050 Cannot open {path}." in res.stderr
    with pytest.raises(ValueError):
        xcatinfo_argv(["cn1;reboot"], "/etc/xcatinfo")


def test_parse_reports_reads_the_postscripts_documented_line():
    text = ("cn1: Running postscript: sntakeover-report\n"
            "cn1: sntakeover-report: v=1 node=cn1 server=10.2.0.1 master=10.2.0.1 from=/etc/xcatinfo time=1772619342\n"
            "cn2: sntakeover-report: v=1 node=cn2 server=- master=- from=- time=-\n"
            "cn3: sntakeover-report: v=2 node=cn3 server=x master=x from=x time=1\n")
    got = parse_reports(text)
    assert set(got) == {"cn1", "cn2"} and got["cn1"]["server"] == "10.2.0.1" and got["cn2"]["server"] == "-"


def test_combine_verifies_only_what_passed_and_nothing_said_no():
    vs = [NodeVerdict("a", True, detail="ok", verifier="database"), NodeVerdict("a", True, detail="up", verifier="r"),
          NodeVerdict("b", True, detail="ok", verifier="database"), NodeVerdict("b", None, detail="timeout", verifier="node"),
          NodeVerdict("c", False, detail="wrong", verifier="database"), NodeVerdict("x", True, verifier="database")]
    out = combine(["a", "b", "c", "d"], vs)
    assert out["a"] == (True, "database: ok; r: up")
    assert out["b"] == (False, "node: could not tell: timeout")
    assert out["c"] == (False, "database: wrong")
    assert out["d"] == (False, "no verifier gave a verdict")
    assert "x" not in out


def test_a_crashing_verifier_cannot_verify_a_node_and_abort_stops_the_incident():
    plan = Plan((NodeMove("cn1", "sn1", "sn2", "sn1,sn2"),))
    ctx = Context(build({}), LocalRunner())

    class Yes:
        @hookimpl
        def sntakeover_verify(self, plan):
            return [NodeVerdict(n, True, detail="fine", verifier="yes") for n in plan.nodes]

    class Crash:
        @hookimpl
        def sntakeover_verify(self):
            raise RuntimeError("bug")

    class Nothing:
        @hookimpl
        def sntakeover_verify(self):
            raise Skip("not here")

    pm = get_plugin_manager(load_entrypoints=False, builtins=())
    for p, name in ((Yes(), "yes"), (Crash(), "crash"), (Nothing(), "nothing")):
        pm.register(p, name=name)
    verdicts = Hooks(pm).verify(INC, plan, ctx, takeover_errors={})
    assert {(v.verifier, v.ok) for v in verdicts} == {("yes", True), ("crash", None)}
    assert combine(plan.nodes, verdicts)["cn1"][0] is False

    class Stop:
        @hookimpl
        def sntakeover_verify(self):
            raise Abort("the database is read-only")

    pm.register(Stop(), name="stop")
    with pytest.raises(Abort):
        Hooks(pm).verify(INC, plan, ctx, takeover_errors={})


def test_a_node_whose_servicenode_list_alone_names_the_backup_fails_the_database_check(sim):
    """Reordered by hand (``chdef servicenode=sn2,sn1``): xcatmaster, and so the node, still on the failed SN."""
    s = sim(nodes=8)
    s.fail("sn1")
    ctx = Context(build({}), LocalRunner(path_prefix=[str(s.bin)]))
    hooks = Hooks(get_plugin_manager(load_entrypoints=False))
    plan = hooks.plan(INC, ctx)
    node = plan.moves[0].node
    assert plan.moves[0].xcatmaster and ctx.xcat("chdef", node, "servicenode=sn2,sn1").rc == 0
    verdicts = hooks.verify(INC, plan.only([node]), ctx, takeover_errors={})
    db = next(v for v in verdicts if v.verifier == "database")
    assert db.ok is False and f"xcatmaster is still {plan.moves[0].xcatmaster!r}" in db.detail, db


def test_the_plan_warns_that_snmove_rewrites_a_statelite_row_of_an_external_nfs_server(sim):
    """xcat.md 2.7: any server without a $-variable becomes the new xcatmaster, an external NFS host too."""
    s = sim(nodes=8)  # the simulator's statelite row: compute extnfs01:/nodedata
    ctx = Context(build({}), LocalRunner(path_prefix=[str(s.bin)]))
    hooks = Hooks(get_plugin_manager(load_entrypoints=False))
    plan = hooks.plan(INC, ctx)
    [warning] = [w for w in plan.warnings if "extnfs01" in w]
    assert "extnfs01:/nodedata" in warning and f"{len(plan.moves)} planned node(s)" in warning
    assert "new xcatmaster" in warning and "statelite table" in warning
