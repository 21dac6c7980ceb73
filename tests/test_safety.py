"""Safety policy on the simulator: each rule with the action it allows and the refusal.

The engine runs in this process (support.EngineRun: real store, real plugins, real
simulated xCAT commands); test_safety_daemon.py drives the same rules through a
daemon process and the CLI.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from support import EngineRun, event, shadow_bin

from sntakeover import hookimpl


@pytest.fixture
def run(tmp_path):
    made = []

    def make(sim=None, **kw):
        r = EngineRun(tmp_path / f"e{len(made)}", sim, **kw)
        made.append(r)
        return r

    (tmp_path / "e0").mkdir()
    for i in range(1, 4):
        (tmp_path / f"e{i}").mkdir()
    yield make
    for r in made:
        r.close()


def snmoved(s) -> list[str]:
    return [n for argv in s.calls("snmove") for n in argv[0].split(",")]


class Notes:
    """A notifier plugin that keeps what it was told."""

    def __init__(self):
        self.seen = []

    @hookimpl
    def sntakeover_notify(self, incident, transition):
        self.seen.append((incident.id, transition["from"], transition["to"], transition.get("kind"),
                          transition["reason"]))


def control(r, **req):
    return r.engine.control({"v": 1, "op": "control", "by": "admin@mn", **req})


# -- event semantics -------------------------------------------------------------------


@pytest.mark.parametrize("when", ["two days", "1970"])
def test_an_old_event_is_recorded_and_never_acted_on(sim, run, when):
    s = sim()
    s.fail("sn1")
    r = run(s)
    t = "1970-01-01T00:00:00Z" if when == "1970" else \
        (datetime.now(timezone.utc) - timedelta(days=2)).isoformat().replace("+00:00", "Z")
    r.send(event("sn1", id="old", time=t))
    outcome = r.store.query("SELECT outcome FROM events WHERE id = 'old'")[0][0]
    assert outcome.startswith("stale: the event is") and "events.max_age is 15 min" in outcome
    assert r.incident("sn1") is None
    # the same alert, fresh, acts
    r.send(event("sn1", id="fresh"))
    assert r.state("sn1")["state"] == "done"


def test_sn_up_while_the_probes_still_see_it_down_does_not_cancel(sim, run):
    s = sim()
    s.fail("sn1")
    r = run(s, config={"confirm": {"rounds": 3}})
    r.send(event("sn1", id="down"))
    r.state("sn1", ("confirming",))
    r.send(event("sn1", kind="sn.up", id="up"))  # a flapping monitor
    inc = r.state("sn1")
    assert inc["state"] == "done"
    notes = r.timeline(inc["id"])
    assert any("a vote for 'up', not a command" in n for n in notes)
    assert any("but the probes do not agree" in n for n in notes), notes


def test_sn_up_after_fencing_began_is_noted_and_the_takeover_completes(sim, run):
    s = sim()
    s.fail("sn1")
    notes = Notes()

    class SlowFence:
        """rpower takes a while; an sn.up arrives meanwhile."""

        @hookimpl(tryfirst=True)
        def sntakeover_fence(self, incident):
            r.send(event("sn1", kind="sn.up", id="up-during-fence"))
            return None  # let the rpower plugin fence

    r = run(s, config={"fence": {"policy": "require"}}, plugins=(SlowFence(), notes))
    r.send(event("sn1"))
    inc = r.state("sn1")
    assert inc["state"] == "done", inc["reason"]
    assert s.state()["machines"]["sn1"]["power"] == "off"
    assert all(s.servicenode(n) == "sn2,sn1" for n in snmoved(s))
    assert any("the takeover is committed" in n for n in r.timeline(inc["id"]))
    r.until(lambda: any(k == "attention" and "takeover is committed" in why for _, _, _, k, why in notes.seen))


def test_one_outage_is_one_incident_under_a_storm(sim, run):
    s = sim()
    mine = s.nodes_first("sn1")
    s.fail("sn1")
    r = run(s)
    tools = ["nagios", "alertmanager", "zabbix", "monit"]
    for i in range(150):
        r.send(event("sn1", id=f"down-{i}", source={"tool": tools[i % 4], "host": f"mon{i % 3}"}))
        if i % 5 == 0:
            r.send(event("sn1", kind="sn.up", id=f"up-{i}", source={"tool": "nagios", "host": "mon9"}))
        if i == 40:
            r.state("sn1")  # the takeover finishes in the middle of the storm
    inc = r.state("sn1")
    assert inc["state"] == "done"
    assert r.store.query("SELECT COUNT(*) FROM incidents")[0][0] == 1
    assert sorted(snmoved(s)) == sorted(mine)
    timeline = r.timeline(inc["id"])
    assert len(timeline) < 60, f"{len(timeline)} timeline entries: repeats must be counted, not noted"


def test_a_cancelled_incident_is_reopened_when_the_sn_goes_down_again(sim, run):
    s = sim()
    r = run(s)
    r.send(event("sn1", id="false-alarm"))  # sn1 is up: the probes cancel
    first = r.state("sn1")
    assert first["state"] == "cancelled"
    s.fail("sn1")
    r.send(event("sn1", id="real"))
    again = r.state("sn1")
    assert again["id"] == first["id"] and again["state"] == "done"
    assert any("reopened by" in n for n in r.timeline(first["id"]))


# -- confirmation ---------------------------------------------------------------------


def test_a_probe_that_cannot_run_is_no_down_vote(sim, tmp_path):
    from sntakeover.builtin import probe_nodestat, probe_xdsh
    from sntakeover.config import build
    from sntakeover.context import Context
    from sntakeover.runner import LocalRunner

    s = sim()
    s.fail("sn1")
    bindir = shadow_bin(tmp_path / "bin", s, missing=("xdsh",))
    ctx = Context(build({"xcat": {"path": [str(bindir)]}}),
                  LocalRunner(path_prefix=[str(bindir)], env={"PATH": "/usr/bin:/bin"}))
    res = probe_xdsh.sntakeover_probe("sn1", ctx)
    assert res.down is None and "could not run" in res.detail
    assert probe_nodestat.sntakeover_probe("sn1", ctx).down is True  # the one that ran saw it down


def test_quorum_is_absolute_one_probe_never_confirms(sim, run, tmp_path):
    s = sim()
    s.fail("sn1")
    # of the probes only nodestat can run; it says down, and one vote is not a quorum of two
    bindir = shadow_bin(tmp_path / "bin", s, missing=("xdsh", "rpower"))
    r = run(s, path=bindir, blocked=("sntakeover.builtin.probe_xcatd",),
            config={"confirm": {"timeout": 0.5, "monitor_votes": False}, "backup": {"check": False},
                    "verify": {"node_check": False}, "takeover": {"strategy": "snmove"}})
    r.send(event("sn1"))
    inc = r.state("sn1", ("awaiting-approval",))
    assert "could not tell" in inc["reason"] and "sntakeover approve" in inc["reason"], inc["reason"]
    assert s.calls("snmove") == []
    assert control(r, action="approve", incident=inc["id"])["ok"]
    assert r.state("sn1")["state"] == "done"


def test_a_crashing_probe_plugin_is_cannot_tell(sim, run):
    s = sim()
    s.fail("sn1")

    class Crash:
        @hookimpl
        def sntakeover_probe(self, servicenode):
            raise RuntimeError("probe bug")

    r = run(s, plugins=(Crash(),))
    r.send(event("sn1"))
    inc = r.state("sn1")
    assert inc["state"] == "done"
    assert any("cannot tell: probe error RuntimeError: probe bug" in n for n in r.timeline(inc["id"]))


# -- backup health and capacity -----------------------------------------------------------


def test_backup_down_too_waits_and_proceeds_when_it_returns(sim, run):
    s = sim()
    mine = s.nodes_first("sn1")
    s.fail("sn1")
    s.fail("sn2")
    notes = Notes()
    r = run(s, config={"backup": {"recheck": 0.1}, "engine": {"escalate_every": 0.2}}, plugins=(notes,))
    r.send(event("sn1"))
    inc = r.state("sn1", ("awaiting-backup",))
    assert "backup sn2 is not healthy" in inc["reason"], inc["reason"]
    r.until(lambda: any(k == "reminder" for _, _, _, k, _ in notes.seen))
    assert s.calls("snmove") == []
    s.heal("sn2")  # no new event: the incident re-checks on its own
    inc = r.state("sn1")
    assert inc["state"] == "done", inc["reason"]
    assert sorted(snmoved(s)) == sorted(mine)


def test_backup_over_capacity_waits(sim, run):
    s = sim()
    s.fail("sn1")
    r = run(s, config={"backup": {"capacity_per_sn": {"sn2": 5}, "recheck": 0.1}})
    r.send(event("sn1"))
    inc = r.state("sn1", ("awaiting-backup",))
    assert "more than its capacity of 5" in inc["reason"], inc["reason"]
    assert s.calls("snmove") == []


# -- fencing --------------------------------------------------------------------------------


def test_required_fence_that_cannot_be_confirmed_waits_for_a_human(sim, run, tmp_path):
    s = sim()
    s.fail("sn1")
    bindir = shadow_bin(tmp_path / "bin", s, fail={"rpower": ("off", "sn1: Unable to communicate with the hardware "
                                                                     "control point", 0)})
    r = run(s, path=bindir, config={"fence": {"policy": "require"}})
    r.send(event("sn1"))
    inc = r.state("sn1", ("awaiting-fence",))
    assert "could not be confirmed" in inc["reason"] and "sntakeover approve" in inc["reason"]
    r.send(event("sn1", kind="sn.up", id="up"))  # committed: noted only, never cancels silently
    assert r.incident("sn1")["state"] == "awaiting-fence"
    assert s.calls("snmove") == []
    assert control(r, action="approve", incident=inc["id"], comment="powered off at the PDU")["ok"]
    inc = r.state("sn1")
    assert inc["state"] == "done"
    assert any("confirmed sn1 is fenced" in n for n in r.timeline(inc["id"]))


def test_best_effort_fence_moves_anyway_and_says_so(sim, run, tmp_path):
    s = sim()
    s.fail("sn1")
    bindir = shadow_bin(tmp_path / "bin", s, fail={"rpower": ("off", "sn1: BMC timeout", 0)})
    r = run(s, path=bindir, config={"fence": {"policy": "best-effort"}})
    r.send(event("sn1"))
    inc = r.state("sn1")
    assert inc["state"] == "done"
    assert any("fence.policy = best-effort: moving anyway" in n for n in r.timeline(inc["id"]))


# -- blast radius ------------------------------------------------------------------------------


def test_three_of_eight_sns_down_trips_the_breaker_and_nothing_moves(sim, run):
    s = sim(nodes=32, sns=tuple(f"sn{i}" for i in range(1, 9)))
    for sn in ("sn1", "sn3", "sn5"):
        s.fail(sn)
    r = run(s)
    for sn in ("sn1", "sn3", "sn5"):
        r.send(event(sn, id=f"down-{sn}"))
    held = [r.state(sn, ("held",)) for sn in ("sn1", "sn3", "sn5")]
    for inc in held:
        assert "circuit breaker tripped" in inc["reason"] and "sntakeover breaker reset" in inc["reason"]
        assert "3 of 8 service nodes look down" in inc["reason"], inc["reason"]
    assert s.calls("snmove") == [] and not [c for c in s.calls("rpower") if "off" in c]
    assert control(r, action="breaker-reset", comment="three SNs really died (PDU)")["ok"]
    for sn in ("sn1", "sn3", "sn5"):
        assert r.state(sn)["state"] == "done"


def test_the_breaker_counts_only_members_of_its_sn_group(sim, run):
    """Reports for names that are not service nodes (a monitoring FQDN, a compute node) never trip it."""
    s = sim(nodes=32, sns=tuple(f"sn{i}" for i in range(1, 9)))
    for sn in ("sn1", "sn3"):
        s.fail(sn)
    r = run(s, config={"confirm": {"timeout": 600}, "breaker": {"max_fraction": 0.2}})  # 2 of 8 would trip
    for name in ("sn3.example.com", "cn5"):  # no incident of these can ever be confirmed or moved
        r.send(event(name, id=f"down-{name}"))
    r.send(event("sn1", id="down-sn1"))
    inc = r.state("sn1")
    assert inc["state"] == "done", inc["reason"]
    assert not any("circuit breaker" in t for t in r.timeline(inc["id"]))


def test_two_of_eight_do_not_trip_but_the_rate_limit_holds_the_second(sim, run):
    s = sim(nodes=32, sns=tuple(f"sn{i}" for i in range(1, 9)))
    s.fail("sn1")
    s.fail("sn3")
    r = run(s, config={"ratelimit": {"max_takeovers": 1}})
    r.send(event("sn1"))
    assert r.state("sn1")["state"] == "done"
    r.send(event("sn3"))
    inc = r.state("sn3", ("held",))
    assert "ratelimit.max_takeovers = 1" in inc["reason"], inc["reason"]
    assert control(r, action="approve", incident=inc["id"])["ok"]
    assert r.state("sn3")["state"] == "done"


def test_pause_holds_everything_until_resume(sim, run):
    s = sim()
    s.fail("sn1")
    r = run(s)
    assert control(r, action="pause", comment="network work tonight")["ok"]
    r.send(event("sn1"))
    inc = r.state("sn1", ("held",))
    assert "sntakeover is paused" in inc["reason"] and "network work tonight" in inc["reason"]
    assert not control(r, action="approve", incident=inc["id"])["ok"]  # approve does not lift a pause
    assert s.calls("snmove") == []
    assert control(r, action="resume")["ok"]
    assert r.state("sn1")["state"] == "done"


# -- no ping-pong, maintenance, approval ------------------------------------------------------


def test_holddown_keeps_just_moved_nodes_in_place(sim, run):
    s = sim(statelite=False)  # (a statelite dir on a dead SN could not be synced back: a second concern)
    moved_first = s.nodes_first("sn1")
    own = s.nodes_first("sn2")
    s.fail("sn1")
    r = run(s)
    r.send(event("sn1", id="sn1-down"))
    assert r.state("sn1")["state"] == "done"
    s.heal("sn1")
    r.send(event("sn1", kind="sn.up", id="sn1-up"))
    s.fail("sn2")  # now sn2 dies: its own nodes go to sn1, the ones that just came from sn1 stay
    r.send(event("sn2", id="sn2-down"))
    inc = r.state("sn2", ("held",))
    assert "takeover.holddown" in inc["reason"], inc["reason"]
    assert all(s.servicenode(n) == "sn1,sn2" for n in own)
    assert all(s.servicenode(n) == "sn2,sn1" for n in moved_first)
    assert control(r, action="approve", incident=inc["id"], comment="sn1 is stable")["ok"]
    assert r.state("sn2")["state"] == "done"
    assert all(s.servicenode(n) == "sn1,sn2" for n in moved_first)


def test_maintenance_suppresses_and_its_end_lets_the_next_event_act(sim, run):
    s = sim()
    s.fail("sn1")
    r = run(s)
    assert control(r, action="maintenance", servicenode="sn1", until="2h", comment="firmware")["ok"]
    r.send(event("sn1", id="during"))
    inc = r.state("sn1")
    assert inc["state"] == "suppressed" and "in maintenance until" in inc["reason"]
    assert control(r, action="maintenance-end", servicenode="sn1")["ok"]
    r.send(event("sn1", id="after"))
    assert r.state("sn1", ("done",))["id"] == inc["id"]


@pytest.mark.parametrize("how", ["ended", "expired"])
def test_an_outage_reported_during_maintenance_is_confirmed_again_when_it_ends(sim, run, how):
    """The monitoring's reminders of that outage carry the same id (duplicates): the end of the window acts."""
    s = sim()
    s.fail("sn1")
    r = run(s)
    assert control(r, action="maintenance", servicenode="sn1", until="3s" if how == "expired" else "2h")["ok"]
    r.send(event("sn1", id="nagios:sn1:42:DOWN:HARD:3"))
    inc = r.state("sn1")
    assert inc["state"] == "suppressed"
    if how == "ended":
        assert control(r, action="maintenance-end", servicenode="sn1")["ok"]
    r.send(event("sn1", id="nagios:sn1:42:DOWN:HARD:3"))  # the same report again: a duplicate
    done = r.state("sn1", ("done",))
    assert done["id"] == inc["id"]
    assert any("maintenance of sn1" in t and "confirming it again" in t for t in r.timeline(inc["id"]))


def test_an_sn_that_recovered_during_maintenance_is_left_alone_when_it_ends(sim, run):
    s = sim()
    s.fail("sn1")
    r = run(s)
    assert control(r, action="maintenance", servicenode="sn1", until="2h")["ok"]
    r.send(event("sn1"))
    inc = r.state("sn1")
    s.heal("sn1")
    r.send(event("sn1", kind="sn.up"))
    reply = control(r, action="maintenance-end", servicenode="sn1")  # the decision, made with the reply
    assert reply["ok"] and reply["message"] == "maintenance of sn1 ended by admin@mn", reply
    assert r.engine.sweep() == []  # nor does the engine's next round reopen anything
    assert r.incident("sn1")["state"] == "suppressed" and r.incident("sn1")["id"] == inc["id"]
    assert s.calls("snmove") == []


def test_a_large_move_waits_for_approval_and_reject_cancels_it(sim, run):
    s = sim()
    s.fail("sn1")
    notes = Notes()
    r = run(s, config={"approval": {"above_nodes": 2, "timeout": 0.2}}, plugins=(notes,))
    r.send(event("sn1"))
    inc = r.state("sn1", ("awaiting-approval",))
    assert "more than approval.above_nodes = 2" in inc["reason"]
    r.until(lambda: any(k == "reminder" for _, _, _, k, _ in notes.seen))  # escalates, never proceeds
    assert r.incident("sn1")["state"] == "awaiting-approval" and s.calls("snmove") == []
    assert control(r, action="reject", incident=inc["id"], comment="not tonight")["ok"]
    inc = r.state("sn1")
    assert inc["state"] == "cancelled" and "rejected by admin@mn: not tonight" in inc["reason"]
    assert s.calls("snmove") == []


def test_approval_lets_a_large_move_go(sim, run):
    s = sim()
    s.fail("sn1")
    r = run(s, config={"approval": {"above_nodes": 2}})
    r.send(event("sn1"))
    inc = r.state("sn1", ("awaiting-approval",))
    reply = control(r, action="approve", incident=inc["id"])
    assert reply["ok"], reply
    assert r.state("sn1")["state"] == "done"


# -- moving reads the live database, never shrinks the plan on a failed read ---------------------


def test_a_failed_database_read_in_moving_never_drops_nodes(sim, run, tmp_path):
    s = sim()
    mine = s.nodes_first("sn1")
    s.fail("sn1")
    bindir = shadow_bin(tmp_path / "bin", s, fail={"lsdef": ("-o", "Connection to the xCAT database lost", 2)})
    r = run(s, path=bindir)
    r.send(event("sn1"))
    inc = r.state("sn1")
    assert inc["state"] == "done", inc["reason"]
    assert sorted(snmoved(s)) == sorted(mine)
    notes = r.timeline(inc["id"])
    assert any("transient failure 1/3 in moving" in n for n in notes), notes
    assert not any("no longer" in n for n in notes)


def test_a_command_the_previous_daemon_started_is_waited_for_even_without_its_pid(sim, run):
    """The daemon died after recording the intent to run snmove, before it could write the pid."""
    import os
    import subprocess
    import sys

    s = sim()
    s.fail("sn1")
    r = run(s, config={"approval": {"above_nodes": 1}})
    r.send(event("sn1"))
    inc = r.state("sn1", ("awaiting-approval",))
    seq, tag = r.store.command_started(inc["id"], ["snmove", "cn1,cn2", "-d", "sn2"])
    leftover = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(2)"],
                                env={**os.environ, "SNTAKEOVER_COMMAND": tag})
    try:
        assert control(r, action="approve", incident=inc["id"])["ok"]
        done = r.state("sn1")
        assert leftover.poll() is not None, "the takeover went on while the old snmove was still running"
    finally:
        leftover.kill()
        leftover.wait()
    assert done["state"] == "done"
    assert any(f"waiting for snmove (pid {leftover.pid}) from before the restart" in n for n in r.timeline(inc["id"]))
    row = r.store.query("SELECT rc, stderr FROM commands WHERE seq = ?", (seq,))[0]
    assert row["rc"] == -1 and "daemon restarted" in row["stderr"]


def test_the_node_path_probe_sees_an_sn_that_answers_but_cannot_reach_its_nodes(sim, tmp_path):
    from sntakeover.builtin import probe_nodepath
    from sntakeover.config import build
    from sntakeover.context import Context
    from sntakeover.runner import LocalRunner

    s = sim()
    ctx = Context(build({"xcat": {"path": [str(s.bin)]}, "confirm": {"node_path_nodes": 2}}),
                  LocalRunner(path_prefix=[str(s.bin)]))
    probe_nodepath._samples.clear()
    ok = probe_nodepath.sntakeover_probe("sn1", "failed", ctx)
    assert ok.down is False and ok.detail.startswith("sn1 reaches cn1, cn2"), ok
    for n in s.nodes_first("sn1"):
        s.node_down(n)  # sn1 is fine, but none of its nodes answers it (its switch died)
    bad = probe_nodepath.sntakeover_probe("sn1", "failed", ctx)
    assert bad.down is True and "answers but reaches none of cn1, cn2" in bad.detail, bad
    s.fail("sn1")
    gone = probe_nodepath.sntakeover_probe("sn1", "failed", ctx)
    assert gone.down is None and "did not run ping" in gone.detail, gone  # the xdsh probe counts that
    assert probe_nodepath.sntakeover_probe("sn1", "backup", ctx) is None


class ControlWhileCheckingTheBackup:
    """A human's control request that arrives while the engine checks the backup SN, just before it commits."""

    def __init__(self, **req):
        self.req = req
        self.run = None
        self.replies = []

    @hookimpl
    def sntakeover_probe(self, servicenode, role, incident, ctx):
        if role == "backup" and not self.replies:
            req = {k: (incident.id if v == "INCIDENT" else v) for k, v in self.req.items()}
            self.replies.append(control(self.run, **req))
        return None


def racing(run, s, **req):
    racer = ControlWhileCheckingTheBackup(**req)
    r = run(s, config={"fence": {"policy": "best-effort"}}, plugins=(racer,))
    racer.run = r
    r.send(event("sn1"))
    return r, racer


def nothing_fenced_or_moved(s, r, iid):
    return (s.calls("snmove") == [] and not any("off" in argv for argv in s.calls("rpower"))
            and not any("committed" in reason for reason in r.timeline(iid)))


def test_a_reject_during_the_last_checks_before_the_commit_wins_and_nothing_is_fenced_or_moved(sim, run):
    s = sim()
    s.fail("sn1")
    r, racer = racing(run, s, action="reject", incident="INCIDENT", comment="not now")
    inc = r.state("sn1")
    assert racer.replies and racer.replies[0]["ok"], racer.replies
    assert inc["state"] == "cancelled" and "rejected by admin@mn: not now" in inc["reason"]
    assert inc["committed"] is None  # the commit did not happen behind the reject's back
    assert nothing_fenced_or_moved(s, r, inc["id"])


def test_a_pause_during_the_last_checks_before_the_commit_holds_the_incident_until_resume(sim, run):
    s = sim()
    s.fail("sn1")
    r, racer = racing(run, s, action="pause", comment="change window")
    inc = r.state("sn1", ("held",))
    assert racer.replies[0]["ok"] and "paused" in inc["reason"], (racer.replies, inc)
    assert inc["committed"] is None and nothing_fenced_or_moved(s, r, inc["id"])
    assert control(r, action="resume")["ok"]
    assert r.state("sn1")["state"] == "done"


def test_maintenance_set_during_the_last_checks_before_the_commit_suppresses_the_incident(sim, run):
    s = sim()
    s.fail("sn1")
    r, racer = racing(run, s, action="maintenance", servicenode="sn1", until="1h", comment="firmware")
    inc = r.state("sn1")
    assert racer.replies[0]["ok"], racer.replies
    assert inc["state"] == "suppressed" and "maintenance" in inc["reason"], inc
    assert inc["committed"] is None and nothing_fenced_or_moved(s, r, inc["id"])


@pytest.mark.parametrize("strategy", ["snmove", "parallel", "fast"])
def test_a_node_whose_servicenode_order_alone_was_changed_by_hand_is_still_moved(sim, run, strategy):
    """``chdef cn servicenode=sn2,sn1`` leaves xcatmaster (and the node) on the failed SN: not moved yet."""
    s = sim()
    s.fail("sn1")
    r = run(s, config={"approval": {"above_nodes": 2}, "takeover": {"strategy": strategy}})
    r.send(event("sn1"))
    inc = r.state("sn1", ("awaiting-approval",))
    node, other = s.nodes_first("sn1")[:2]
    old = s.attr(node, "xcatmaster")
    assert s.servicenode(node) == "sn1,sn2" and old
    assert s.run("chdef", node, "servicenode=sn2,sn1").returncode == 0
    assert control(r, action="approve", incident=inc["id"])["ok"]
    inc = r.state("sn1")
    assert inc["state"] == "done", inc
    assert s.attr(node, "xcatmaster") == s.attr(other, "xcatmaster") != old  # the database move happened
    assert s.attr(node, "xcatmaster") in s.run("xdsh", node, "cat /etc/xcatinfo").stdout  # and the node's side
    assert any(node in reason and "xcatmaster" in reason for reason in r.timeline(inc["id"]))


def test_an_incident_that_ends_before_its_planned_nodes_moved_names_them_all_as_not_moved(sim, run):
    from sntakeover.records import incident_line

    s = sim()
    s.fail("sn1")
    r = run(s)
    assert control(r, action="pause")["ok"]
    r.send(event("sn1"))
    inc = r.state("sn1", ("held",))
    assert control(r, action="maintenance", servicenode="sn1", until="1h")["ok"]
    inc = r.state("sn1")
    assert inc["state"] == "suppressed", inc
    left = s.nodes_first("sn1")  # the planned nodes and those without a backup: all still on sn1
    line = incident_line(r.store, r.store.incident(inc["id"]))
    assert line.startswith(f"nothing moved (suppressed), {len(left)} not moved: "), line


def test_an_engine_whose_strategy_no_plugin_implements_fails_the_incident_before_fencing(sim, run):
    s = sim()
    s.fail("sn1")
    r = run(s, config={"fence": {"policy": "best-effort"}, "takeover": {"strategy": "fsat"}})
    r.send(event("sn1"))
    inc = r.state("sn1")
    assert inc["state"] == "failed" and "takeover.strategy = 'fsat': no loaded plugin implements it" in inc["reason"]
    assert inc["committed"] is None and nothing_fenced_or_moved(s, r, inc["id"])


def test_a_report_for_a_name_xcat_does_not_know_fails_at_once_saying_so(sim, run):
    """Not five minutes of probes that cannot tell, then a page saying 'could not tell'."""
    s = sim()
    r = run(s, config={"confirm": {"timeout": 300}})
    r.send(event("sn9", id="down-sn9"))
    inc = r.state("sn9")
    assert inc["state"] == "failed", inc
    assert "sn9 is not a node in the xCAT database" in inc["reason"] and "Invalid nodes" in inc["reason"], inc["reason"]
    assert "adapters" in inc["reason"]  # where an admin maps the monitoring's names


def test_a_name_check_that_cannot_run_never_ends_the_incident(sim, run, tmp_path):
    s = sim()
    s.fail("sn1")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for cmd in s.bin.iterdir():  # the simulator's commands, but nodels answers nothing useful
        (bindir / cmd.name).symlink_to(cmd)
    (bindir / "nodels").unlink()
    (bindir / "nodels").write_text("#!/bin/sh\necho 'Error: xcatd is not running' >&2\nexit 1\n")
    (bindir / "nodels").chmod(0o755)
    r = run(s, path=bindir)
    r.send(event("sn1"))
    inc = r.state("sn1", ("confirming", "confirmed", "moving", "verifying", "done", "partial", "failed", "held"))
    assert "is not a node in the xCAT database" not in inc["reason"]


def test_the_engines_round_writes_nothing_when_no_maintenance_window_expired(sim, run):
    """The sweep runs at every turn of the engine's loop: a write (an fsync) each time would hold up the intake."""
    s = sim()
    r = run(s)
    assert control(r, action="maintenance", servicenode="sn2", until="2h")["ok"]
    writes = []
    r.store.db.set_trace_callback(lambda sql: writes.append(sql) if sql.startswith("BEGIN") else None)
    try:
        assert r.engine.sweep() == []
    finally:
        r.store.db.set_trace_callback(None)
    assert writes == []
