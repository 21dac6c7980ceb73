"""xCAT's own hooks end to end: the simulator's regnotif runs the shipped wrapper, the daemon records it."""

from __future__ import annotations

import json
import stat
import sys

from sntakeover.clock import now
from sntakeover.poll import PollTimeout, wait_until

from support import REPO


def wrapper(tmp_path, endpoint):
    """The shipped hooks/xcat/sntakeover-regnotif, pointed at this test's sntakeover and daemon."""
    prog = tmp_path / "sntakeover"
    prog.write_text(f"#!/bin/sh\nPYTHONPATH={REPO}\nexport PYTHONPATH\n"
                    f'exec {sys.executable} -m sntakeover.hookcli "$@" --endpoint {endpoint}\n')
    prog.chmod(0o755)
    hook = tmp_path / "sntakeover-regnotif"
    hook.write_text((REPO / "hooks" / "xcat" / "sntakeover-regnotif").read_text()
                    .replace("${SNTAKEOVER:-/usr/local/bin/sntakeover}", str(prog)))
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    return hook


def stored(d, kind):
    st = d.store()
    try:
        return [dict(json.loads(r["body"]), outcome=r["outcome"]) for r in
                st.query("SELECT body, outcome FROM events WHERE kind = ? AND processed = 1", (kind,))]
    finally:
        st.close()


def wait(pred, timeout=30.0):
    try:
        return wait_until(pred, timeout=timeout, interval=0.1)
    except PollTimeout:
        return pred()


def test_someone_elses_snmove_is_recorded_on_the_open_incident(sim, daemon, tmp_path):
    s = sim()
    d = daemon(s, extra="[confirm]\nrounds = 50\ninterval = 0.5\n")  # sn1 looks up: the incident stays open
    hook = wrapper(tmp_path, d.endpoint)
    r = s.run("regnotif", str(hook), "noderes,nodelist", "-o", "a,u,d")
    assert r.returncode == 0, r.stderr
    d.send({"id": "n1", "kind": "sn.down", "servicenode": "sn1", "source": {"tool": "nagios"},
            "time": now()})
    d.wait_state("sn1", {"confirming"})
    node = s.nodes_first("sn1")[0]
    # an admin moves one node by hand while the incident is open
    r = s.run("snmove", node, "-d", "sn2", "-i", "-D", "10.1.0.2")
    assert r.returncode == 0, r.stdout + r.stderr
    changes = wait(lambda: stored(d, "xcat.change"))
    assert changes, d.logfile.read_text()[-3000:]
    assert changes[0]["servicenode"] == "sn1" and changes[0]["source"]["tool"] == "regnotif"
    assert changes[0]["outcome"] == "noted on open incident"
    inc = d.incident_for("sn1")
    notes = [t["reason"] for t in d.summary(inc["id"])["timeline"]]
    assert any("xCAT database change seen" in n and node in n for n in notes), notes
    assert s.calls("snmove") == [[node, "-d", "sn2", "-i", "-D", "10.1.0.2"]]  # the daemon moved nothing


def test_nodestat_marking_a_service_node_noping_opens_an_incident(sim, daemon, tmp_path):
    s = sim()
    s.fail("sn1")
    d = daemon(s)
    hook = wrapper(tmp_path, d.endpoint)
    assert s.run("regnotif", str(hook), "nodelist").returncode == 0
    s.run("nodestat", "sn1", "-u")  # what xcatmon's cron job does; writes nodelist.status=noping
    inc = d.wait_closed("sn1", timeout=60)
    down = stored(d, "sn.down")
    assert down and down[0]["source"]["tool"] == "regnotif"
    assert inc["state"] == "done"
