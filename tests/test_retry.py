"""``sntakeover retry ID``: the node-side steps again for the nodes that failed verification,
never the database move; partial -> retrying -> verifying -> done."""

from __future__ import annotations

import json
import subprocess
import sys

import support
from support import REPO, event
from sntakeover import hookimpl
from sntakeover.config import build
from sntakeover.context import Context
from sntakeover.model import Incident, NodeMove, Plan, State, TakeoverResult
from sntakeover.plugins import Hooks, get_plugin_manager
from sntakeover.runner import LocalRunner


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sntakeover", *args], capture_output=True, text=True, timeout=120,
                          cwd=REPO)


def partial_with_one_down_node(sim, daemon, **kw):
    s = sim(sns=("sn1", "sn2"), **kw)
    d, inc, victim = support.partial_with_one_down_node(s, daemon)
    return s, d, inc, victim


def snmoves(s) -> list[list[str]]:
    return [e["argv"] for e in s.log() if e["argv"][0].endswith("snmove") and not e.get("via")]


def test_retry_runs_the_node_side_steps_again_and_the_incident_ends_done(sim, daemon):
    s, d, inc, victim = partial_with_one_down_node(sim, daemon)
    before = s.state()["machines"][victim]
    moves = snmoves(s)
    s.x.set_node_up(s.dir, victim, True)

    r = cli("retry", str(inc["id"]), "--endpoint", d.endpoint, "-m", "node powered on")
    assert r.returncode == 0, r.stderr
    assert f"incident {inc['id']}: retrying 1 node(s) ({victim})" in r.stdout
    done = d.wait_state("sn1", {"done", "partial", "failed"})
    assert done["state"] == "done", d.summary(inc["id"])["timeline"]

    # the node got snmove's node-side steps now: /etc/xcatinfo, bootlist, postscripts for its new SN
    after = s.state()["machines"][victim]
    sn2 = s.state()["tables"]["noderes"][victim]["xcatmaster"]
    assert after["files"]["/etc/xcatinfo"] == f"XCATSERVER={sn2}\n" != before["files"].get("/etc/xcatinfo")
    assert f"bserver={sn2}" in after["bootlist"] and "syslog" in after["postscripts_run"]
    # the timeline: who asked and why, through retrying and verifying to done
    tl = d.summary(inc["id"])["timeline"]
    states = [t["to_state"] for t in tl if t["to_state"]]
    assert states[-4:] == ["partial", "retrying", "verifying", "done"]
    asked = next(t for t in tl if t["to_state"] == "retrying")
    assert "@" in asked["reason"] and "node powered on" in asked["reason"]
    assert "database move is not repeated" in asked["reason"]
    # never the database move again, and only the failed node was touched
    assert snmoves(s) == moves
    st = d.store()
    try:
        since = [json.loads(r["argv"]) for r in st.query("SELECT argv FROM commands WHERE started >= ?", (asked["time"],))]
    finally:
        st.close()
    node_cmds = [a for a in since if a[0] in ("xdsh", "updatenode")]
    assert node_cmds and all(a[1] == victim for a in node_cmds), since
    assert not any(a[0] == "snmove" for a in since)
    rows = {r["node"]: r["status"] for r in d.summary(inc["id"])["nodes"]}
    assert set(rows.values()) == {"verified"}


def test_a_node_still_down_leaves_the_incident_partial_with_xcat_text(sim, daemon):
    s, d, inc, victim = partial_with_one_down_node(sim, daemon)
    ok = d.request({"v": 1, "op": "control", "action": "retry", "incident": inc["id"], "by": "alice"})
    assert ok["ok"], ok
    d.wait_note(inc["id"], "node-side steps again")
    again = d.wait_state("sn1", {"done", "partial", "failed"})
    assert again["state"] == "partial"
    rows = {r["node"]: r for r in d.summary(inc["id"])["nodes"]}
    assert rows[victim]["status"] == "failed" and "No route to host" in rows[victim]["detail"]


def test_retry_is_refused_with_the_reason(sim, daemon):
    s = sim(sns=("sn1", "sn2"))
    s.fail("sn1")
    d = daemon(s)
    d.send(event("sn1"))
    inc = d.wait_closed("sn1")
    assert inc["state"] == "done"
    no = d.request({"v": 1, "op": "control", "action": "retry", "incident": inc["id"], "by": "alice"})
    assert not no["ok"] and "is done: only a partial or failed incident" in no["error"]
    none = d.request({"v": 1, "op": "control", "action": "retry", "incident": 999, "by": "alice"})
    assert not none["ok"] and none["error"] == "no incident 999"
    bad = cli("retry", "--endpoint", d.endpoint)
    assert bad.returncode == 2
    # an incident number is required by the request schema
    refused = d.request({"v": 1, "op": "control", "action": "retry", "by": "alice"})
    assert not refused["ok"] and "incident" in refused["error"]


def test_hook_sntakeover_node_steps_dispatches_on_the_strategy():
    inc = Incident(1, "sn1", State.RETRYING, "2026-01-01T00:00:00Z")
    plan = Plan((NodeMove("cn1", "sn1", "sn2", "sn1,sn2", "10.1.0.1"),))
    seen = []

    class Custom:
        @hookimpl
        def sntakeover_node_steps(self, strategy, plan):
            if strategy != "custom":
                return None
            seen.append(plan.nodes)
            return TakeoverResult("custom", (("fixer", "cn1"),))

    pm = get_plugin_manager(load_entrypoints=False, builtins=("sntakeover.builtin.fast",))
    pm.register(Custom(), name="custom")
    hooks = Hooks(pm)
    ctx = Context(build({}), LocalRunner())
    assert hooks.node_steps("custom", inc, plan, ctx).commands == (("fixer", "cn1"),) and seen == [("cn1",)]
    assert hooks.node_steps("nobody", inc, plan, ctx) is None
