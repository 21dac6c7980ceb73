"""Two real daemons sharing one real PostgreSQL: one leads, the other takes over.

Every daemon acknowledges events; only the holder of the leader lock drives
incidents; every xCAT command carries the leader's generation (fencing token).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading

import pytest

from sntakeover.poll import wait_until
from support import DaemonProc, event

pytestmark = [pytest.mark.slow]

SNMOVE = '[takeover]\nstrategy = "snmove"\n[ha]\ntakeover_within = 2.0\n'
LEADER_LOCK = "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = {key} AND granted"


@pytest.fixture
def pair(tmp_path, pg_server):
    """Start daemons on one database: ``pair(sim)`` -> (first, second), the first leading."""
    made: list[DaemonProc] = []

    def make(sim, extra: str = SNMOVE) -> tuple[DaemonProc, DaemonProc]:
        url = pg_server.database()
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            d = DaemonProc(tmp_path / name, sim, extra, store=url)
            made.append(d)
            d.start()
            if name == "a":
                wait_until(lambda: role(d) == "leader", timeout=30, what="the first daemon leading")
        return made[0], made[1]

    yield make
    for d in made:
        d.cleanup()


def role(d: DaemonProc) -> str:
    return d.request({"v": 1, "op": "status"})["status"]["leadership"]["role"]


def generation(d: DaemonProc) -> int:
    return d.request({"v": 1, "op": "status"})["status"]["leadership"]["generation"]


def commands(d: DaemonProc) -> list[dict]:
    st = d.store()
    try:
        return [dict(r) for r in st.query("SELECT * FROM commands ORDER BY seq")]
    finally:
        st.close()


def moved_nodes(sim) -> list[str]:
    return [n for argv in sim.calls("snmove") for n in argv[0].split(",")]


def snmove_running(d: DaemonProc) -> bool:
    return any(json.loads(c["argv"])[0] == "snmove" and c["rc"] is None and c["pid"] for c in commands(d))


def test_standby_acks_and_the_leader_alone_drives(sim, pair):
    s = sim()
    s.fail("sn1")
    a, b = pair(s)
    assert role(b) == "standby"
    assert b.send(event("sn1", id="to-the-standby"))["ok"]  # any daemon acknowledges durably
    inc = a.wait_closed("sn1")
    assert inc["state"] == "done"
    gen = generation(a)
    assert commands(a) and {c["generation"] for c in commands(a)} == {gen}
    assert role(b) == "standby"
    assert "leading from now on" not in b.logfile.read_text()
    # notifications are delivered by the leader alone (the log notifier writes each transition)
    wait_until(lambda: "incident 1 (sn1): verifying -> done" in a.logfile.read_text(), timeout=30,
               what="the leader's notification of done")  # the notifier runs after the commit
    assert "sntakeover.incident" not in b.logfile.read_text()


def status_text(d: DaemonProc) -> str:
    p = subprocess.run([sys.executable, "-m", "sntakeover", "status", "--config", str(d.config)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_status_says_which_daemon_leads(sim, pair):
    a, b = pair(sim())
    gen = generation(a)
    assert f"HA: this daemon leads (generation {gen})" in status_text(a)
    text = status_text(b)
    assert "HA: standby" in text, text
    holder = a.request({"v": 1, "op": "status"})["status"]["leadership"]["holder"]
    assert f"the leader is {holder} (generation {gen}" in text, text


def test_leader_killed_mid_snmove_the_standby_finishes_and_no_node_moves_twice(sim, pair):
    s = sim()
    mine = s.nodes_first("sn1")
    s.fail("sn1")
    a, b = pair(s)
    gen_a = generation(a)
    s.x.set_latency(s.dir, 0.05)  # snmove takes a few seconds
    assert b.send(event("sn1", id="kill-the-leader"))["ok"]
    a.wait_state("sn1", {"moving"})
    wait_until(lambda: snmove_running(a), timeout=30, interval=0.02, what="snmove running")
    a.kill()
    wait_until(lambda: role(b) == "leader", timeout=30, what="the standby leading")
    assert generation(b) > gen_a
    inc = b.wait_closed("sn1", timeout=120)
    assert inc["state"] == "done", b.summary(inc["id"])["timeline"]
    assert sorted(moved_nodes(s)) == sorted(mine)  # each node exactly once
    assert len(s.calls("snmove")) == 1
    assert all(s.servicenode(n) == "sn2,sn1" for n in mine)
    notes = [t["reason"] for t in b.summary(inc["id"])["timeline"]]
    assert any("from before the restart" in n for n in notes)  # the new leader waited for the old one's snmove
    gens = [c["generation"] for c in commands(b)]
    assert gens == sorted(gens) and gens[-1] == generation(b)  # after the takeover, only the new token


def test_leader_whose_connection_is_cut_stops_acting(sim, pair, pg_server):
    from sntakeover.leader import LEADER_LOCK_KEY

    s = sim()
    mine = s.nodes_first("sn1")
    s.fail("sn1")
    a, b = pair(s)
    gen_a = generation(a)
    s.x.set_latency(s.dir, 0.05)
    assert a.send(event("sn1", id="cut-the-leader"))["ok"]
    a.wait_state("sn1", {"moving"})
    wait_until(lambda: snmove_running(a), timeout=30, interval=0.02, what="snmove running")
    url = a.store_location
    db = url.rsplit("/", 1)[1]
    pids = pg_server.sql(LEADER_LOCK.format(key=LEADER_LOCK_KEY), db)
    assert len(pids) == 1
    pg_server.sql(f"SELECT pg_terminate_backend({pids[0][0]})", db)  # the leader's lock session dies
    wait_until(lambda: role(b) == "leader", timeout=30, what="the standby leading")
    inc = b.wait_closed("sn1", timeout=120)
    assert inc["state"] == "done", b.summary(inc["id"])["timeline"]
    assert "no longer leading" in a.logfile.read_text()
    assert role(a) == "standby"  # alive, taking intake, not deciding
    assert sorted(moved_nodes(s)) == sorted(mine) and len(s.calls("snmove")) == 1
    gen_b = generation(b)
    assert gen_b > gen_a
    # the old leader ran nothing once the new one led: every later command carries the new token
    cmds = commands(b)
    first_new = next(i for i, c in enumerate(cmds) if c["generation"] == gen_b)
    assert all(c["generation"] == gen_b for c in cmds[first_new:])
    assert a.proc.poll() is None


def test_both_daemons_ack_during_the_switch_and_none_is_lost(sim, pair, pg_server):
    from sntakeover.leader import LEADER_LOCK_KEY

    s = sim()
    a, b = pair(s, extra="[ha]\ntakeover_within = 2.0\n")
    acked: list[str] = []
    stop = threading.Event()
    errors: list[str] = []

    def send(d: DaemonProc, name: str) -> None:
        i = 0
        while not stop.is_set():
            eid = f"{name}-{i}"
            reply = d.send(event("sn3", kind="sn.up", id=eid))
            if reply.get("ok"):
                acked.append(eid)
            else:
                errors.append(f"{eid}: {reply}")
            i += 1

    senders = [threading.Thread(target=send, args=(d, n)) for d, n in ((a, "via-a"), (b, "via-b"))]
    for t in senders:
        t.start()
    wait_until(lambda: len(acked) >= 20, timeout=30, what="events acked by both")
    db = str(a.store_location).rsplit("/", 1)[1]
    pid = pg_server.sql(LEADER_LOCK.format(key=LEADER_LOCK_KEY), db)[0][0]
    pg_server.sql(f"SELECT pg_terminate_backend({pid})", db)  # the lead switches to b
    wait_until(lambda: role(b) == "leader", timeout=30, what="the standby leading")
    n = len(acked)
    wait_until(lambda: len(acked) >= n + 20, timeout=30, what="events acked after the switch")
    stop.set()
    for t in senders:
        t.join()
    assert not errors
    assert {x.split("-")[1] for x in acked} == {"a", "b"}
    st = b.store()
    try:
        wait_until(lambda: st.query("SELECT COUNT(*) FROM events WHERE processed = 0")[0][0] == 0, timeout=60,
                   what="every event applied by the new leader")
        stored = {r[0] for r in st.query("SELECT id FROM events WHERE processed = 1")}
    finally:
        st.close()
    assert set(acked) <= stored


def control(d: DaemonProc, **req) -> dict:
    return d.request({"v": 1, "op": "control", "by": "ops@mn", **req})


def awaiting_approval(sim, pair):
    """sn1 down, more nodes than approval.above_nodes: (sim, leader, standby, the incident waiting)."""
    s = sim()
    s.fail("sn1")
    a, b = pair(s, SNMOVE + "[approval]\nabove_nodes = 2\n")
    assert a.send(event("sn1"))["ok"]
    inc = a.wait_state("sn1", {"awaiting-approval"})
    assert s.calls("snmove") == []
    return s, a, b, inc


def test_a_standby_takes_an_approval_and_the_leader_acts_on_it(sim, pair):
    s, a, b, inc = awaiting_approval(sim, pair)
    reply = control(b, action="approve", incident=inc["id"], comment="go")  # to the standby
    assert reply["ok"], reply
    done = a.wait_closed("sn1")
    assert done["state"] == "done"
    gen = generation(a)
    assert {c["generation"] for c in commands(a)} == {gen}  # the leader alone ran xCAT
    assert role(b) == "standby"
    st = a.store()
    try:
        notes = [r["reason"] for r in st.timeline(done["id"])]
    finally:
        st.close()
    assert any(n.startswith("approved (") and "by ops@mn: go" in n for n in notes), notes


def test_a_standby_takes_a_reject_and_nothing_moves(sim, pair):
    s, a, b, inc = awaiting_approval(sim, pair)
    reply = control(b, action="reject", incident=inc["id"], comment="not tonight")
    assert reply["ok"], reply
    closed = a.wait_closed("sn1")
    assert closed["state"] == "cancelled" and "rejected by ops@mn: not tonight" in closed["reason"]
    assert s.calls("snmove") == []
    assert not any(json.loads(c["argv"])[0] == "snmove" for c in commands(a))
