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
