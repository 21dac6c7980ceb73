"""The safety policy through a real daemon process, its intake socket and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import threading

from support import REPO, event

from sntakeover.client import request


def cli(d, *args, timeout=60):
    return subprocess.run([sys.executable, "-m", "sntakeover", *args, "--config", str(d.config)],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)


def storm(d, events, clients=4):
    """Send ``events`` from several REQ clients at once; every one must be acknowledged."""
    chunks = [events[i::clients] for i in range(clients)]
    failures = []

    def send(chunk):
        for ev in chunk:
            reply = request({"v": 1, "op": "event", "event": ev}, endpoint=d.endpoint, timeout=10, retries=3)
            if not reply.get("ok"):
                failures.append(reply)

    threads = [threading.Thread(target=send, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:3]


def incidents(d):
    s = d.store()
    try:
        return [dict(r) for r in s.query("SELECT id, state, reason FROM incidents ORDER BY id")]
    finally:
        s.close()


def wait_all_applied(d, timeout=120.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = d.store()
        try:
            left = s.query("SELECT COUNT(*) FROM events WHERE processed = 0")[0][0]
        finally:
            s.close()
        if not left:
            return
        time.sleep(0.1)
    raise AssertionError("events still pending")


def _storm_case(sim, daemon, downs, ups):
    s = sim()
    mine = s.nodes_first("sn1")
    s.fail("sn1")  # and it stays down the whole time
    d = daemon(s)
    tools = ["nagios", "alertmanager", "zabbix", "monit", "icinga2"]
    evs = []
    for i in range(downs):
        evs.append(event("sn1", id=f"down-{i}", state_type="hard",
                         source={"tool": tools[i % 5], "host": f"mon{i % 7}", "ref": str(i)}))
        if ups and i % max(1, downs // ups) == 0 and len([e for e in evs if e["kind"] == "sn.up"]) < ups:
            evs.append(event("sn1", kind="sn.up", id=f"up-{i}", source={"tool": tools[(i + 1) % 5], "host": "mon9"}))
    while len([e for e in evs if e["kind"] == "sn.up"]) < ups:
        n = len(evs)
        evs.append(event("sn1", kind="sn.up", id=f"up-extra-{n}", source={"tool": "nagios", "host": "mon9"}))
    storm(d, evs)
    wait_all_applied(d)
    inc = d.wait_closed("sn1", timeout=120)
    all_incidents = incidents(d)
    assert len(all_incidents) == 1, all_incidents
    assert inc["state"] == "done", inc["reason"]
    moved = [n for argv in s.calls("snmove") for n in argv[0].split(",")]
    assert sorted(moved) == sorted(mine)  # exactly one takeover, each node once
    timeline = d.summary(inc["id"])["timeline"]
    assert len(timeline) < 150, f"{len(timeline)} timeline entries for {len(evs)} events"


def test_storm_of_2000_downs_and_200_ups_while_the_sn_stays_down_is_one_takeover(sim, daemon):
    _storm_case(sim, daemon, 2000, 200)


def test_storm_with_500_ups_mixed_in_is_still_one_takeover(sim, daemon):
    _storm_case(sim, daemon, 1000, 500)


def test_pause_status_and_resume_through_the_cli(sim, daemon):
    s = sim()
    s.fail("sn1")
    d = daemon(s)
    r = cli(d, "pause", "-m", "switch maintenance")
    assert r.returncode == 0 and "paused by" in r.stdout, r.stderr
    d.send(event("sn1"))
    inc = d.wait_state("sn1", {"held"})
    st = cli(d, "status")
    assert "PAUSED by" in st.stdout and "switch maintenance" in st.stdout
    assert f"incident {inc['id']}: sn1 held: waiting for sntakeover is paused" in st.stdout, st.stdout
    assert s.calls("snmove") == []
    assert cli(d, "resume").returncode == 0
    assert d.wait_closed("sn1")["state"] == "done"
    assert "PAUSED" not in cli(d, "status").stdout


def test_approval_through_the_cli_and_show_explains_the_wait(sim, daemon):
    s = sim()
    s.fail("sn1")
    d = daemon(s, extra="[approval]\nabove_nodes = 2\n")
    d.send(event("sn1"))
    inc = d.wait_state("sn1", {"awaiting-approval"})
    shown = cli(d, "show", str(inc["id"])).stdout
    assert "why: waiting for 4 nodes would move, more than approval.above_nodes = 2" in shown, shown
    assert cli(d, "approve", "999").returncode == 1
    wrong = cli(d, "reject", "999")
    assert "no incident 999" in wrong.stderr
    r = cli(d, "approve", str(inc["id"]), "-m", "checked with the site lead")
    assert r.returncode == 0, r.stderr
    assert d.wait_closed("sn1")["state"] == "done"
    shown = cli(d, "show", str(inc["id"])).stdout
    assert "approved (approval) by" in shown and "checked with the site lead" in shown


def test_maintenance_and_breaker_through_the_cli(sim, daemon):
    s = sim()
    d = daemon(s)
    r = cli(d, "maintenance", "sn1", "--until", "2h", "-m", "firmware")
    assert r.returncode == 0 and "sn1 is in maintenance until" in r.stdout
    assert "maintenance: sn1 until" in cli(d, "status").stdout
    bad = cli(d, "maintenance", "sn1", "--until", "yesterday-ish")
    assert bad.returncode == 1 and "neither a time" in bad.stderr
    assert cli(d, "maintenance", "sn1", "--end").returncode == 0
    assert "the circuit breaker is not tripped" in cli(d, "breaker", "reset").stdout


def test_plan_prints_nodes_backups_and_the_exact_commands_and_changes_nothing(sim, daemon, tmp_path):
    s = sim()
    d = daemon(s, start=False)
    before = json.dumps(s.state()["tables"], sort_keys=True)
    r = cli(d, "plan", "sn1")
    assert r.returncode == 0, r.stderr
    mine = s.nodes_first("sn1")
    for n in mine:
        assert f"  {n} " in r.stdout
    assert "backup sn2: 4 node(s); passes the probes" in r.stdout, r.stdout
    assert "snmove " in r.stdout and " -d sn2" in r.stdout
    j = json.loads(cli(d, "plan", "sn1", "--json").stdout)
    assert [m["node"] for m in j["moves"]] == mine and all(m["backup"] == "sn2" for m in j["moves"])
    assert j["commands"] and all(c[0] == "snmove" for c in j["commands"])
    assert json.dumps(s.state()["tables"], sort_keys=True) == before
    assert not [c for c in s.calls("snmove")]
    assert cli(d, "plan", "-bad").returncode == 2
