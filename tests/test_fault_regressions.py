"""Bugs the fault harness (tests/faults) found, each pinned by a test of its own."""

from __future__ import annotations

from support import DaemonProc, event, shadow_bin

from sntakeover.poll import wait_until


def rows(d, sql, args=()):
    s = d.store()
    try:
        return [dict(r) for r in s.query(sql, args)]
    finally:
        s.close()


def test_a_verification_read_cut_short_by_a_kill_gets_an_outcome_after_the_restart(tmp_path, sim):
    """A daemon killed while verification read the nodes (after the move) left that command
    'running' for ever: only ``moving`` looked for leftovers. The restarted daemon now records
    the outcome of any leftover read as unknown."""
    s = sim(nodes=8)
    s.fail("sn1")
    bindir = shadow_bin(tmp_path / "slowbin", s, slow={"nodestat": 1.5})
    d = DaemonProc(tmp_path, None, xcat=f'path = ["{bindir}"]\n')
    try:
        d.start()
        assert d.send(event("sn1"))["ok"]
        probe = wait_until(lambda: rows(d, "SELECT c.* FROM commands c JOIN incidents i ON i.id = c.incident_id"
                                           " WHERE c.argv LIKE '[\"nodestat\"%' AND c.rc IS NULL"
                                           " AND i.state = 'verifying'"),
                           timeout=90, interval=0.02, what="nodestat running in verification")[0]
        d.kill()
        d.start()
        assert d.wait_closed("sn1", timeout=120)["state"] == "done"
        row = rows(d, "SELECT rc, stderr FROM commands WHERE seq = ?", (probe["seq"],))[0]
        assert row == {"rc": -1, "stderr": "(outcome unknown: daemon restarted)"}
        assert rows(d, "SELECT seq, argv FROM commands WHERE rc IS NULL") == []
    finally:
        d.cleanup()


def test_an_sn_given_nodes_after_its_outage_that_fails_again_is_a_new_outage(tmp_path, sim):
    """sn1 failed (its nodes moved to sn2) and came back without an sn.up (a lost 'resolved');
    sn2 failed and moved its nodes to sn1; sn1 failed again. The new sn.down attached to sn1's
    first incident ('its nodes already moved') and the nodes sn1 had been given sat on a dead SN
    with no incident for them. Another incident moving nodes onto an SN (its backup check saw it
    up) ends that SN's earlier outage."""
    from support import EngineRun

    s = sim(nodes=8)
    run = EngineRun(tmp_path, s, config={"breaker": {"max_fraction": 0.5}})
    try:
        s.fail("sn1")
        run.send(event("sn1"))
        first = run.state("sn1")
        assert first["state"] == "done"
        s.heal("sn1")  # no sn.up ever arrives
        s.fail("sn2")
        run.send(event("sn2"))
        second = run.state("sn2", ("held", "done"))
        given = [r["node"] for r in run.store.query(
            "SELECT node FROM nodes WHERE incident_id = ? AND backup = 'sn1' AND status = 'verified'", (second["id"],))]
        assert given, run.timeline(second["id"])
        s.fail("sn1")
        run.send(event("sn1", id="sn1-again"))
        outcome = run.store.query("SELECT outcome, incident_id FROM events WHERE id = 'sn1-again'")[0]
        assert outcome["outcome"] == "opened incident", outcome["outcome"]
        third = run.state("sn1", ("held", "awaiting-backup", "failed", "partial"))
        assert third["id"] not in (first["id"], second["id"])
        # the nodes sn1 had been given are in the new incident, which says why they cannot move
        rows = {r["node"]: r for r in run.store.node_rows(third["id"])}
        assert set(given) <= set(rows) and all(rows[n]["detail"] for n in given), [dict(r) for r in rows.values()]
    finally:
        run.close()
