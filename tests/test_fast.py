"""The 'fast' strategy leaves the simulated cluster exactly as plain snmove does.

Each case builds two identical clusters, moves sn1's nodes with the ``snmove``
strategy on one and the ``fast`` strategy on the other (the real plugins, the real
planner, the simulated xCAT commands as subprocesses), and compares every table and
every machine (files, routes, bootlist, postscripts run, nodeset). Nothing is
normalised: both strategies run snmove with the same node groups, so even the order
of the statelite rows and of each node's postscripts is the same.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from support import Sim, event, partial_with_one_down_node
from sntakeover.poll import wait_until
from sntakeover.config import build
from sntakeover.context import Context
from sntakeover.model import Incident, State
from sntakeover.plugins import Hooks, get_plugin_manager
from sntakeover.runner import LocalRunner
from sntakeover.xcatsim import cluster as simcluster
from sntakeover.xcatsim import commands as simcommands
from sntakeover.xcatsim import state as simstate

needs_tabdump = pytest.mark.skipif(
    "tabdump" not in simcommands.COMMANDS,
    reason="the node-side steps read the site, networks, postscripts and nimimage tables with tabdump, "
           "which this simulator does not provide yet")

INC = Incident(1, "sn1", State.MOVING, "2026-03-04T10:15:42Z")


def edit(sim: Sim, fn: Callable[[dict[str, Any]], None]) -> None:
    """Change the simulated cluster's tables or machines directly (xCAT's chtab, or a node's own state)."""
    edit_state = getattr(simcluster, "edit_state", None)  # the SQLite-backed simulator's own way
    with (edit_state(sim.dir) if edit_state else simstate.locked(sim.dir, write=True)) as state:
        fn(state)


def close(*sims: Sim) -> None:
    """Stop the clusters' SN listeners where the simulator has them."""
    for s in sims:
        getattr(s, "close", lambda: None)()


def move(sim: Sim, strategy: str, takeover: dict[str, Any] | None = None, xcat: dict[str, Any] | None = None):
    """Plan sn1's takeover with the built-in planner and run one strategy; return (plan, result, notes)."""
    cfg = build({"xcat": {"path": [str(sim.bin)], **(xcat or {})},
                 "takeover": {"strategy": strategy, **(takeover or {})}})
    notes: list[str] = []
    ctx = Context(cfg, LocalRunner(path_prefix=[str(sim.bin)]), notes.append)
    hooks = Hooks(get_plugin_manager(load_entrypoints=False))
    plan = hooks.plan(INC, ctx)
    assert plan is not None and plan.moves
    return plan, hooks.takeover(strategy, INC, plan, ctx), notes


def snapshot(sim: Sim) -> dict[str, Any]:
    """Every table and machine. Where the simulator gives each cluster its own loopback /24 for the
    MN and the SNs (so that two clusters never share a listener), that prefix is the one thing
    that differs between twins by construction; it is written as ``127.x.y.``."""
    s = sim.state()
    text = json.dumps({"tables": s["tables"], "machines": s["machines"]})
    master = s["tables"]["site"].get("master", "")
    if master.startswith("127."):
        text = re.sub(re.escape(master.rsplit(".", 1)[0] + ".") + r"(?=\d)", "127.x.y.", text)
    return json.loads(text)


def diff(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two JSON-like values differ, as readable paths (the assertion message)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in diff(a.get(k), b.get(k), f"{path}/{k}")]
    if a != b:
        return [f"{path}: snmove {json.dumps(a)[:200]} != fast {json.dumps(b)[:200]}"]
    return []


def twins(tmp_path: Path, prepare: Callable[[Sim], None] | None = None, **kw: Any) -> tuple[Sim, Sim]:
    kw.setdefault("nodes", 16)
    kw.setdefault("sns", ("sn1", "sn2"))
    pair = (Sim(tmp_path / "plain", **kw), Sim(tmp_path / "fast", **kw))
    for s in pair:
        if prepare:
            prepare(s)
        s.fail("sn1")
    assert snapshot(pair[0]) == snapshot(pair[1])
    return pair


def sn1_nodes(sim: Sim) -> list[str]:
    return sim.nodes_first("sn1")


def down(*idx: int) -> Callable[[Sim], None]:
    """Take down the idx-th nodes (in natural order) that have sn1 first."""
    def prepare(sim: Sim) -> None:
        mine = sorted(sn1_nodes(sim), key=lambda n: int(n[2:]))
        for i in idx:
            sim.node_down(mine[i])
    return prepare


def postscripts_everywhere(sim: Sim) -> None:
    """Scripts listed per node, per group and in xcatdefaults (nodes with their own row are in no
    group that has one: the simulator's snmove does not inherit per attribute)."""
    def fn(state: dict[str, Any]) -> None:
        ps = state["tables"]["postscripts"]
        ps["xcatdefaults"] = {"postscripts": "syslog,remoteshell,syncfiles", "postbootscripts": "otherpkgs"}
        ps["cn1"] = {"postscripts": "setupntp,foo", "postbootscripts": "mkresolvconf"}
        ps["ntpgroup"] = {"postscripts": "", "postbootscripts": "setupntp"}
        for n in ("cn3", "cn4"):
            state["tables"]["nodelist"][n]["groups"] += ",ntpgroup"
        # a node whose default route is not via its SN: snmove changes it with the group
        state["machines"]["cn2"]["routes"] = ["10.1.0.254"]
    edit(sim, fn)


def extra_statelite(sim: Sim) -> None:
    """Rows with a literal server: the old SN (rsync from the dead SN fails) and an external one."""
    def fn(state: dict[str, Any]) -> None:
        state["tables"]["statelite"] += [
            {"node": "pair1", "image": "", "statemnt": "10.1.0.1:/statelite", "mntopts": "", "comments": "",
             "disable": ""},
            {"node": "cn2", "image": "", "statemnt": "extnfs02:/persist", "mntopts": "", "comments": "",
             "disable": ""}]
    edit(sim, fn)


def no_postscripts(sim: Sim) -> None:
    """Nothing in xcatdefaults: with -P all snmove still runs updatenode -s (its list is ',')."""
    edit(sim, lambda state: state["tables"]["postscripts"].update(
        xcatdefaults={"postscripts": "", "postbootscripts": ""}))


def both(*fns: Callable[[Sim], None]) -> Callable[[Sim], None]:
    return lambda sim: [fn(sim) for fn in fns] and None


CASES = {
    "aix-down-node": dict(prepare=down(1)),
    "aix-postscripts-P": dict(prepare=both(postscripts_everywhere, down(5)), takeover={"postscripts": "myscript"}),
    "aix-postscripts-all": dict(prepare=postscripts_everywhere, takeover={"postscripts": "all"}),
    "aix-statelite-xcatmaster-var": dict(extnfs="", prepare=down(0)),
    "aix-statelite-literal-D": dict(prepare=both(extra_statelite, down(2)), takeover={"destn": {"sn2": "10.1.0.2"}}),
    "aix-D-by-name": dict(takeover={"destn": {"sn2": "sn2"}}),
    "aix-several-backups": dict(sns=("sn1", "sn2", "sn3"), nodes=24, prepare=both(down(0), down(7))),
    "aix-several-backups-D": dict(sns=("sn1", "sn2", "sn3"), nodes=24, prepare=postscripts_everywhere,
                                  takeover={"destn": {"sn2": "10.1.0.2", "sn3": "10.2.0.1"}}),
    "aix-literal-gateway": dict(gateway="10.1.0.254", prepare=down(3)),
    "aix-no-gateway": dict(gateway="", prepare=postscripts_everywhere),
    "linux-down-node": dict(os="Linux", prepare=down(1)),
    "linux-postscripts-D-P": dict(os="Linux", prepare=both(postscripts_everywhere, down(0)),
                                  takeover={"destn": {"sn2": "10.1.0.2"}, "postscripts": "myscript"}),
    "linux-several-backups": dict(os="Linux", sns=("sn1", "sn2", "sn3"), nodes=24, extnfs=""),
    "linux-P-all-nothing-listed": dict(os="Linux", prepare=no_postscripts, takeover={"postscripts": "all"}),
}


def without_P(argv: tuple[str, ...]) -> tuple[str, ...]:
    a = list(argv)
    if "-P" in a:
        del a[a.index("-P"):a.index("-P") + 2]
    return tuple(a)


@needs_tabdump
@pytest.mark.parametrize("case", sorted(CASES))
def test_fast_leaves_the_same_tables_and_machines_as_plain_snmove(tmp_path, case):
    kw = dict(CASES[case])
    takeover = kw.pop("takeover", {})
    plain, fast = twins(tmp_path, **kw)
    plan_a, res_a, _ = move(plain, "snmove", takeover)
    plan_b, res_b, notes = move(fast, "fast", takeover)
    assert plan_a == plan_b
    assert not any("plain snmove instead" in n for n in notes), notes
    # the same snmove calls, with -i (and without -P, which snmove refuses with -i)
    db_calls = [c for c in res_b.commands if c[0] == "snmove"]
    assert all(c[-1] == "-i" for c in db_calls)
    assert [c[:-1] for c in db_calls] == [without_P(c) for c in res_a.commands]
    problems = diff(snapshot(plain), snapshot(fast))
    assert not problems, "\n".join(problems[:20])
    # the same nodes are charged with a failure, each with xCAT's text naming it
    assert set(res_b.node_errors) == set(res_a.node_errors)
    assert all(n in text for n, text in res_b.node_errors.items())


@needs_tabdump
def test_fast_reaches_the_nodes_in_a_few_fanned_out_commands(tmp_path):
    plain, fast = twins(tmp_path, nodes=32)
    mine = sn1_nodes(plain)
    move(plain, "snmove")
    _, res, _ = move(fast, "fast", xcat={"fanout": 5})
    node_cmds = [c for c in res.commands if c[0] != "snmove"]
    # every one reaches its nodes 5 at a time (xcat.fanout): xdsh -f, updatenode --fanout
    assert all(c[2:4] == ("-f", "5") for c in node_cmds if c[0] == "xdsh"), node_cmds
    assert all(c[-1] == "--fanout=5" for c in node_cmds if c[0] == "updatenode"), node_cmds
    # the bootlist: one xdsh -e for the whole group (one gateway, one new server); each node
    # picks its own address from the list, so every node's address is on it
    [bootlist] = [c for c in node_cmds if "-e" in c]
    assert sorted(bootlist[1].split(",")) == sorted(mine) and bootlist[5].endswith("sntakeover-bootlist")
    ips = fast.state()["tables"]["hosts"]
    assert sorted(bootlist[8:]) == sorted(ips[n]["ip"] for n in mine)
    # the rest: /etc/xcatinfo, netstat -rn, one route change, updatenode -s and -P
    assert len(node_cmds) == 6, node_cmds
    # plain snmove: at least four xdsh per node (xcatinfo, netstat -rn, netstat -in, bootlist)
    per_node = [e for e in plain.log() if e.get("via") == "snmove" and e["argv"][0] == "xdsh"]
    assert len(per_node) >= 4 * len(mine)


@needs_tabdump
def test_linux_nodeset_runs_once_inside_snmove_i(tmp_path):
    plain, fast = twins(tmp_path, os="Linux")
    move(plain, "snmove")
    _, res, _ = move(fast, "fast")
    nodeset = [e["argv"] for e in fast.log() if e["argv"][0] == "nodeset"]
    assert nodeset == [e["argv"] for e in plain.log() if e["argv"][0] == "nodeset"] and len(nodeset) == 1
    assert not any(c[0] == "nodeset" for c in res.commands)  # snmove -i ran it (xcat.md §2.3 step 15)


def test_without_the_tables_fast_moves_with_plain_snmove(tmp_path):
    plain, fast = twins(tmp_path, prepare=down(1))
    (fast.bin / "tabdump").unlink(missing_ok=True)  # an MN whose tables cannot be read
    move(plain, "snmove")
    _, res, notes = move(fast, "fast")
    assert any("tabdump" in n and "plain snmove instead" in n for n in notes), notes
    # (the planner could not read the statelite table either, so every node got a call of its own)
    assert {c[0] for c in res.commands} == {"snmove"} and not any("-i" in c for c in res.commands)
    assert not diff(snapshot(plain), snapshot(fast))


def test_dry_run_gives_the_database_commands_and_describes_the_rest(tmp_path):
    s = Sim(tmp_path / "c", nodes=16, sns=("sn1", "sn2"))
    s.fail("sn1")
    before = snapshot(s)
    cfg = build({"xcat": {"path": [str(s.bin)]}, "takeover": {"destn": {"sn2": "10.1.0.2"}, "postscripts": "x"}})
    notes: list[str] = []
    ctx = Context(cfg, LocalRunner(path_prefix=[str(s.bin)]), notes.append)
    hooks = Hooks(get_plugin_manager(load_entrypoints=False))
    plan = hooks.plan(INC, ctx)
    res = hooks.takeover("fast", INC, plan, ctx, dry_run=True)
    assert res.commands == ((("snmove", ",".join(plan.nodes), "-d", "sn2", "-D", "10.1.0.2", "-i")),)
    assert "bootlist" in res.output and "updatenode -s" in res.output
    assert any("bootlist" in n for n in notes)
    assert snapshot(s) == before
    assert not [e for e in s.log() if Path(e["argv"][0]).name in ("snmove", "xdsh", "updatenode")]


@needs_tabdump
def test_daemon_with_fast_strategy_ends_done_with_every_node_verified(sim, daemon):
    s = sim(nodes=24)
    mine = s.nodes_first("sn1")
    s.fail("sn1")
    d = daemon(s, extra='[takeover]\nstrategy = "fast"\n')
    assert d.send(event("sn1", state_type="hard"))["ok"]
    inc = d.wait_closed("sn1")
    summary = d.summary(inc["id"])
    assert inc["state"] == "done", summary["timeline"]
    rows = {r["node"]: r for r in summary["nodes"]}
    assert set(rows) == set(mine) and all(r["status"] == "verified" for r in rows.values())
    assert s.calls("snmove") == [[",".join(sorted(mine, key=lambda n: int(n[2:]))), "-d", "sn2", "-i"]]
    st = s.state()
    for n in mine:
        m = st["machines"][n]
        assert m["files"]["/etc/xcatinfo"] == "XCATSERVER=10.1.0.2\n"
        assert m["routes"] == ["10.1.0.2"]
        assert "bserver=10.1.0.2" in m["bootlist"]
        assert m["postscripts_run"] == ["syslog"]
    argvs = [c["argv"] for c in summary["commands"]]
    assert any("updatenode" in a for a in argvs)


@needs_tabdump
def test_daemon_fast_with_a_down_node_ends_partial_with_xcat_text(sim, daemon):
    s = sim()
    mine = s.nodes_first("sn1")
    d, inc, victim = partial_with_one_down_node(s, daemon, extra='[takeover]\nstrategy = "fast"\n')
    rows = {r["node"]: r for r in d.summary(inc["id"])["nodes"]}
    assert rows[victim]["status"] == "failed"
    assert f"connect to host {victim} port 22: No route to host" in rows[victim]["detail"]
    assert "not responding" in rows[victim]["detail"]
    assert all(r["status"] == "verified" for n, r in rows.items() if n != victim)
    assert s.servicenode(victim) == "sn2,sn1"


SCRIPTS = ("syslog", "setupntp", "mkresolvconf", "foo", "remoteshell")


@needs_tabdump
@pytest.mark.slow
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_small_clusters_end_the_same_with_fast_and_snmove(data):
    os_ = data.draw(st.sampled_from(["AIX", "Linux"]), "os")
    sns = data.draw(st.sampled_from([("sn1", "sn2"), ("sn1", "sn2", "sn3")]), "sns")
    nodes = data.draw(st.integers(4, 20), "nodes")
    kw = dict(os=os_, sns=sns, nodes=nodes,
              gateway=data.draw(st.sampled_from(["<xcatmaster>", "10.1.0.254", ""]), "gateway"),
              extnfs=data.draw(st.sampled_from(["extnfs01", ""]), "extnfs"))
    takeover: dict[str, Any] = {}
    if data.draw(st.booleans(), "-D"):
        takeover["destn"] = {"sn2": "10.1.0.2", "sn3": "10.2.0.1"}
    posts = data.draw(st.sampled_from(["", "myscript", "all", "setupntp,bar"]), "-P")
    if posts:
        takeover["postscripts"] = posts
    names = [f"cn{i}" for i in range(1, nodes + 1)]
    down_nodes = data.draw(st.sets(st.sampled_from(names), max_size=3), "down")
    own = data.draw(st.dictionaries(st.sampled_from(names), st.tuples(
        st.lists(st.sampled_from(SCRIPTS), max_size=3), st.lists(st.sampled_from(SCRIPTS), max_size=2)),
        max_size=4), "node postscripts")
    grouped = data.draw(st.sets(st.sampled_from([n for n in names if n not in own] or names), max_size=4), "group")
    defaults = data.draw(st.lists(st.sampled_from(SCRIPTS), max_size=3), "xcatdefaults")

    def prepare(sim: Sim) -> None:
        def fn(state: dict[str, Any]) -> None:
            ps = state["tables"]["postscripts"]
            ps["xcatdefaults"] = {"postscripts": ",".join(defaults), "postbootscripts": ""}
            for n, (a, b) in own.items():
                ps[n] = {"postscripts": ",".join(a), "postbootscripts": ",".join(b)}
            ps["psgroup"] = {"postscripts": "setupntp", "postbootscripts": "mkresolvconf"}
            for n in grouped - set(own):
                state["tables"]["nodelist"][n]["groups"] += ",psgroup"
        edit(sim, fn)
        for n in down_nodes:
            sim.node_down(n)

    with tempfile.TemporaryDirectory(prefix="snt-fast-") as tmp:
        plain, fast = twins(Path(tmp), prepare=prepare, **kw)
        try:
            if not sn1_nodes(plain):
                return
            _, res_a, _ = move(plain, "snmove", takeover)
            _, res_b, notes = move(fast, "fast", takeover)
            assert not any("plain snmove instead" in n for n in notes), notes
            problems = diff(snapshot(plain), snapshot(fast))
            assert not problems, "\n".join(problems[:20])
            assert set(res_b.node_errors) == set(res_a.node_errors)
        finally:
            close(plain, fast)


def test_a_daemon_killed_after_the_database_move_finishes_the_node_side_steps_on_restart(sim, daemon):
    """SIGKILL between ``snmove -i`` and the node-side steps: the restarted daemon never moves the
    nodes in the database again, but runs what follows the move on them, and every node verifies."""
    s = sim(nodes=8)
    mine = s.nodes_first("sn1")
    s.fail("sn1")
    s.x.set_latency(s.dir, 0.3)  # every simulated round trip takes a while: the kill lands between the steps
    d = daemon(s, extra='[takeover]\nstrategy = "fast"\n')

    assert d.send(event("sn1", state_type="hard"))["ok"]
    wait_until(lambda: d.snmove_rows(running=False), timeout=120, what="snmove -i finished")
    d.kill()
    assert all(s.servicenode(n) == "sn2,sn1" for n in mine)
    s.x.set_latency(s.dir, 0.0)
    d.start()
    inc = d.wait_closed("sn1", timeout=180)
    summary = d.summary(inc["id"])
    text = "\n".join(f"{t['to_state']}: {t['reason']}" for t in summary["timeline"])
    assert inc["state"] == "done", text
    assert len(s.calls("snmove")) == 1, s.calls("snmove")
    assert "running the node-side steps again for the" in text
    st = s.state()
    for n in mine:
        assert st["machines"][n]["files"]["/etc/xcatinfo"] == "XCATSERVER=10.1.0.2\n", n
        assert st["machines"][n]["routes"] == ["10.1.0.2"], n
