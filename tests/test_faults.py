"""The fault harness (tests/faults): a short seeded sweep, and the audit itself can see every violation."""

from __future__ import annotations

import json
import os

from support import event

from sntakeover.model import Event, State
from sntakeover.store import Store
from tests.faults import audit
from tests.faults.run import sweep
from tests.faults.schedule import make

#: seeds whose schedules together hold every kind of fault: kills mid-snmove, mid-verification,
#: during intake and at random; the backup dying mid-move; flapping with early and lost ups;
#: a partition (and its end); duplicates, stale copies and soft states from several tools; a node
#: down; slow and hanging commands; and a plain SN death (28), which must end done
SWEEP = (82, 154, 24, 5, 28)


def kinds(seed: int) -> set[str]:
    s = make(seed)
    found = {"hang"} if s.hang else set()
    found |= {"slow"} if s.slow else set()
    for step in s.steps:
        found.add(step.args.get("point", step.kind) if step.kind == "kill" else step.kind)
        if step.kind == "events":
            found |= {f for f in ("lost", "early", "stale", "duplicates", "soft") if step.args.get(f)}
    return found


def test_the_sweep_covers_every_kind_of_fault():
    covered = set().union(*(kinds(seed) for seed in SWEEP))
    assert covered == {"fail", "heal", "partition", "join", "events", "node_down", "backup_death", "mid-snmove",
                       "mid-verify", "random", "intake", "lost", "early", "stale", "duplicates", "soft", "hang",
                       "slow"}, covered


def test_a_short_seeded_sweep_passes_the_audit(tmp_path, capsys):
    results, figures = sweep(list(SWEEP), jobs=2, base=str(tmp_path))
    out = capsys.readouterr().out
    assert figures["runs"] == len(SWEEP)
    assert figures["failed_runs"] == 0, out + json.dumps(figures, indent=2)
    assert figures["faults"].get("restart", 0) >= 3  # the daemon was killed and restarted
    assert sum(figures["audit_failures"].values()) == 0
    # the takeovers really happened (a harness whose snmove always fails would pass the rest)
    assert figures["incidents_and_snmoves"].get("done", 0) >= 1, figures
    assert figures["incidents_and_snmoves"].get("snmove rc=0", 0) >= 1, figures


def test_the_same_seed_gives_the_same_schedule():
    assert make(42).describe() == make(42).describe()
    assert make(42).describe() != make(43).describe()


def test_the_audit_sees_each_violation(tmp_path, sim):
    s = sim(nodes=8)
    original = audit.servicenodes(s.state())
    store_path = tmp_path / "store.db"
    st = Store(store_path)
    try:
        clean = audit.audit(store_path, s.dir, acked=set(), original=original)
        assert clean == {}, clean
        # an acked event that is not stored; an event never applied
        st.add_event(Event.from_dict(event("sn2", id="stored-not-applied")))
        # sn1 dies and no incident says why
        s.fail("sn1")
        # a node's list is no longer a permutation of its original
        s.run("chdef", "-t", "node", "-o", "cn1", "servicenode=sn3,sn1")
        # an incident open and not waiting for anything; one command without a result
        with st.tx() as db:
            iid = st.create_incident(db, "sn4", State.CONFIRMING, "test", requested=False, nodes=[])
        seq, tag = st.command_started(iid, ["snmove", "cn5", "-d", "sn3"])
        # that incident moved a node twice (two database writes of snmove under its tag)
        for sl in ("sn3,sn4", "sn4,sn3"):
            with open(os.path.join(s.dir, "moved.log"), "a") as f:
                f.write(json.dumps({"nodes": {"cn5": sl}, "t": 0, "pid": 1, "tag": tag}) + "\n")
        # an snmove the daemon never recorded
        with open(os.path.join(s.dir, "started.log"), "a") as f:
            f.write(json.dumps({"argv": ["snmove", "cn6", "-d", "sn3"], "t": 0, "pid": 2, "tag": None}) + "\n")
        found = audit.audit(store_path, s.dir, acked={"acked-but-lost"}, original=original,
                            log_text="x\nTraceback (most recent call last):\n  boom")
    finally:
        st.close()
    assert set(found) == set(audit.CHECKS), found
    assert found["acked-stored"] == ["acknowledged event acked-but-lost is not in the store"]
    assert found["applied"] == ["event stored-not-applied never applied"]
    assert any(x.startswith("cn1: servicenode 'sn3,sn1' is not a permutation") for x in found["permutation"])
    assert any(x.startswith("cn2 has sn1 first (up=False") for x in found["dead-sn-explained"]), found
    assert found["final-or-waiting"][0].startswith(f"incident {iid} (sn4) open in confirming")
    assert f"incident {iid} moved cn5 2 times (sn3,sn4 then sn4,sn3)" in found["moved-once"]
    assert any("ran without a tag" in x for x in found["moved-once"])
    assert found["commands-accounted"] == [f"command ['snmove', 'cn5', '-d', 'sn3'] of incident {iid} has no result"]
    assert "traceback in the daemon log" in found["no-internal-error"][0]
