"""End to end: an event to a real daemon process, takeover on the simulated cluster, verified."""

from __future__ import annotations

import json

from sntakeover.poll import wait_until
from support import event, partial_with_one_down_node

# tests of what the 'snmove' strategy itself runs and prints (the default is 'fast')
SNMOVE = '[takeover]\nstrategy = "snmove"\n'


def snmove_nodes(sim) -> list[str]:
    """Every node named in a top-level snmove call (the noderange argument)."""
    out: list[str] = []
    for argv in sim.calls("snmove"):
        out.extend(argv[0].split(","))
    return out


def test_sn_down_moves_every_node_once_and_verifies(sim, daemon):
    s = sim()
    mine = s.nodes_first("sn1")
    before = {n: s.attr(n, "nfsserver") for n in mine}
    s.fail("sn1")
    d = daemon(s, extra=SNMOVE)
    assert d.send(event("sn1", state_type="hard"))["ok"]
    inc = d.wait_closed("sn1")
    assert inc["state"] == "done", d.summary(inc["id"])["timeline"]
    # explicit -d, one call for the single backup
    calls = s.calls("snmove")
    assert len(calls) == 1 and calls[0][1:] == ["-d", "sn2"]
    assert sorted(snmove_nodes(s)) == sorted(mine)
    for n in mine:
        assert s.servicenode(n) == "sn2,sn1"
        assert s.attr(n, "xcatmaster") == "10.1.0.2"
        assert s.attr(n, "nfsserver") == before[n] == "extnfs01"  # the external NFS server stays
    nodes = d.summary(inc["id"])["nodes"]
    assert {r["node"] for r in nodes} == set(mine)
    assert all(r["status"] == "verified" for r in nodes)


def test_sn1_failing_leaves_sn10_nodes_alone(sim, daemon):
    sns = tuple(f"sn{i}" for i in range(1, 11))
    s = sim(nodes=40, sns=sns)
    sn10 = s.nodes_first("sn10")
    assert sn10, "the cluster must have nodes whose first SN is sn10"
    before = {n: s.servicenode(n) for n in sn10}
    s.fail("sn1")
    d = daemon(s)
    d.send(event("sn1"))
    inc = d.wait_closed("sn1")
    assert inc["state"] == "done"
    assert not set(snmove_nodes(s)) & set(sn10)
    assert {n: s.servicenode(n) for n in sn10} == before


def test_second_takeover_event_for_a_moved_sn_changes_nothing(sim, daemon):
    s = sim()
    s.fail("sn1")
    d = daemon(s)
    d.send(event("sn1", id="first"))
    first = d.wait_closed("sn1")
    assert first["state"] == "done"
    state_after_first = json.dumps(s.state()["tables"], sort_keys=True)
    d.send(event("sn1", id="second"))
    # one outage, one incident: the repeat attaches to the closed incident
    outcome = d.wait_outcome("second")
    assert outcome.startswith(f"attached to incident {first['id']} (done")
    assert d.incident_for("sn1")["id"] == first["id"]
    assert len(s.calls("snmove")) == 1
    assert json.dumps(s.state()["tables"], sort_keys=True) == state_after_first
    # and a replay of the first event id is a plain duplicate
    assert d.send(event("sn1", id="first"))["duplicate"] is True


def test_after_the_reopen_window_a_new_incident_finds_nothing_to_move(sim, daemon):
    s = sim()
    s.fail("sn1")
    d = daemon(s, extra="[events]\nreopen_window = 0\n")
    d.send(event("sn1", id="first"))
    first = d.wait_closed("sn1")
    assert first["state"] == "done"
    d.send(event("sn1", id="second"))
    second = d.wait_closed("sn1", after=first["id"])
    assert second["state"] == "done" and "nothing to move" in second["reason"]
    assert len(s.calls("snmove")) == 1


def test_node_down_at_takeover_time_ends_partial_with_the_error_text(sim, daemon):
    s = sim()
    d, inc, victim = partial_with_one_down_node(s, daemon, extra=SNMOVE)
    rows = {r["node"]: r for r in d.summary(inc["id"])["nodes"]}
    assert rows[victim]["status"] == "failed"
    # what the simulator printed for the down node is kept in its verdict
    assert "Command failed: xdsh" in rows[victim]["detail"] or "Could not run" in rows[victim]["detail"]
    assert victim in rows[victim]["detail"]
    assert all(r["status"] == "verified" for n, r in rows.items() if n != victim)
    # the database change was still made for the down node (snmove has no rollback)
    assert s.servicenode(victim) == "sn2,sn1"


def test_killed_between_ack_and_takeover_resumes_and_moves_each_node_once(sim, daemon):
    s = sim()
    mine = s.nodes_first("sn1")
    s.fail("sn1")
    s.x.set_latency(s.dir, 1.0)  # every xCAT round trip takes a second: the probes are still running
    d = daemon(s)
    assert d.send(event("sn1", id="crash-me"))["ok"]
    d.kill()  # SIGKILL right after the ack
    inc = d.incident_for("sn1")
    assert inc is None or not inc["closed"]
    s.x.set_latency(s.dir, 0.0)
    d.start()
    inc = d.wait_closed("sn1")
    assert inc["state"] == "done"
    assert sorted(snmove_nodes(s)) == sorted(mine)  # each node exactly once
    assert all(s.servicenode(n) == "sn2,sn1" for n in mine)


def test_killed_during_snmove_waits_for_it_and_never_moves_a_node_twice(sim, daemon):
    s = sim()
    mine = s.nodes_first("sn1")
    s.fail("sn1")
    d = daemon(s, extra=SNMOVE)
    s.x.set_latency(s.dir, 0.05)  # snmove takes a few seconds (4 round trips per node)
    d.send(event("sn1", id="crash-during-move"))
    d.wait_state("sn1", {"moving"})

    wait_until(lambda: d.snmove_rows(running=True), timeout=30, interval=0.02, what="snmove running")
    d.kill()
    d.start()
    inc = d.wait_closed("sn1", timeout=120)
    assert inc["state"] == "done", d.summary(inc["id"])["timeline"]
    assert sorted(snmove_nodes(s)) == sorted(mine)
    assert len(s.calls("snmove")) == 1
    assert all(s.servicenode(n) == "sn2,sn1" for n in mine)
    notes = [t["reason"] for t in d.summary(inc["id"])["timeline"]]
    assert any("from before the restart" in n for n in notes)


def test_sn_that_answers_is_not_taken_over(sim, daemon):
    s = sim()
    d = daemon(s)
    d.send(event("sn1"))
    inc = d.wait_closed("sn1")
    assert inc["state"] == "cancelled" and "sn1 answers" in inc["reason"], inc["reason"]
    assert "nothing was changed" in inc["reason"]
    assert s.calls("snmove") == []


def test_takeover_request_skips_confirmation(sim, daemon):
    s = sim()
    d = daemon(s)  # sn1 is up: a human asked for the move anyway (maintenance)
    d.send(event("sn1", kind="takeover.request", source={"tool": "cli", "host": "mn"}))
    inc = d.wait_closed("sn1")
    assert inc["state"] == "done"
    assert "confirmation skipped" in json.dumps(d.summary(inc["id"])["timeline"])
    # sn1 itself was never probed; nodestat only checked the backup's health (and the moved nodes)
    assert ["sn2"] in s.calls("nodestat")
    assert all("sn1" not in c[0].split(",") for c in s.calls("nodestat"))


def test_soft_state_is_recorded_never_acted_on(sim, daemon):
    s = sim()
    s.fail("sn1")
    d = daemon(s)
    assert d.send(event("sn1", state_type="soft", id="soft-1"))["ok"]
    outcome = d.wait_outcome("soft-1")  # applied: only now can "no incident" mean something
    assert d.incident_for("sn1") is None
    assert outcome.startswith("recorded: soft")
    assert s.calls("snmove") == []


def test_downtime_gives_a_suppressed_incident(sim, daemon):
    s = sim()
    s.fail("sn1")
    d = daemon(s)
    d.send(event("sn1", in_downtime=True))
    inc = d.wait_closed("sn1")
    assert inc["state"] == "suppressed"
    assert s.calls("snmove") == []


def test_sn_up_from_a_healed_sn_cancels_before_moving_and_nothing_fails_back(sim, daemon):
    s = sim()
    s.fail("sn1")
    d = daemon(s, extra="[confirm]\nrounds = 6\ninterval = 0.3\n")  # confirmation takes a few seconds
    d.send(event("sn1", id="down-1"))
    d.wait_state("sn1", {"confirming"})
    s.heal("sn1")  # it really came back
    d.send(event("sn1", kind="sn.up", id="up-1"))
    inc = d.wait_closed("sn1")
    assert inc["state"] == "cancelled", inc["reason"]
    assert "reported it up" in inc["reason"] or "is up again" in inc["reason"], inc["reason"]
    assert s.calls("snmove") == []
    # later the nodes are moved; then the SN comes back: nothing moves back
    s.fail("sn1")
    d.send(event("sn1", id="down-2"))
    done = d.wait_state("sn1", {"done"}, timeout=90)
    assert done["id"] == inc["id"], "one outage, one incident: the cancelled incident is reopened"
    s.heal("sn1")
    d.send(event("sn1", kind="sn.up", id="up-2"))
    assert d.wait_outcome("up-2").startswith("recorded on the closed incident (no automatic failback)")
    assert len(s.calls("snmove")) == 1


def test_dry_run_records_the_exact_commands_and_changes_nothing(sim, daemon):
    s = sim()
    s.fail("sn1")
    d = daemon(s, extra="[takeover]\ndry_run = true\n")
    d.send(event("sn1"))
    inc = d.wait_closed("sn1")
    assert inc["state"] == "cancelled"
    assert "would run: snmove cn" in inc["reason"] and "-d sn2" in inc["reason"]
    assert s.calls("snmove") == []


def test_fencing_with_rpower_powers_the_sn_off_first(sim, daemon):
    s = sim()
    s.fail("sn1")
    d = daemon(s, extra='[fence]\nmethod = "rpower"\npolicy = "require"\n')
    d.send(event("sn1"))
    inc = d.wait_closed("sn1")
    assert inc["state"] == "done"
    assert ["sn1", "off"] in s.calls("rpower")
    assert s.state()["machines"]["sn1"]["power"] == "off"
    log = [e["argv"][0].rsplit("/", 1)[-1] for e in s.log() if not e.get("via")]
    assert log.index("rpower") < log.index("snmove")


def test_parallel_strategy_moves_each_node_once_in_disjoint_batches(sim, daemon):
    s = sim(nodes=32)
    mine = s.nodes_first("sn1")
    s.fail("sn1")
    d = daemon(s, extra='[takeover]\nstrategy = "parallel"\nparallel = 3\n')
    d.send(event("sn1"))
    inc = d.wait_closed("sn1")
    assert inc["state"] == "done"
    calls = s.calls("snmove")
    assert len(calls) == 3 and all(c[1:] == ["-d", "sn2"] for c in calls)
    moved = snmove_nodes(s)
    assert sorted(moved) == sorted(mine) and len(moved) == len(set(moved))
    assert all(s.servicenode(n) == "sn2,sn1" for n in mine)
