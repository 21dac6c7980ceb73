"""prometheus-alertmanager with the shipped receiver config -> HTTP bridge -> daemon -> takeover."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from realtools_support import HOOKS, events, free_port, need, rows, wait_for

from sntakeover import webhook

pytestmark = [pytest.mark.realtool, pytest.mark.slow]


def post_alerts(port, alerts):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v2/alerts", json.dumps(alerts).encode(),
                                 {"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


@pytest.fixture
def bridge(stack, tmp_path):
    token = tmp_path / "webhook.token"
    token.write_text("am-secret\n")
    settings = webhook.Settings(endpoint=stack.endpoint, timeout=2.0, retries=2, token=b"am-secret")
    b = webhook.ThreadedBridge(settings)
    port = b.start()
    yield port, token
    b.stop()


def test_alertmanager_firing_takes_over_dedups_and_resolved_never_fails_back(tmp_path, stack, bridge, start):
    am = need("prometheus-alertmanager")
    d, sim = stack.daemon, stack.sim
    cfg = (HOOKS / "alertmanager" / "alertmanager.yml").read_text()
    assert "http://127.0.0.1:9095/alertmanager" in cfg
    # the shipped file, with the test's bridge port and short timers
    bridge, token = bridge
    cfg = (cfg.replace("127.0.0.1:9095", f"127.0.0.1:{bridge}")
              .replace("/etc/sntakeover/webhook.token", str(token))
              .replace("group_wait: 30s", "group_wait: 1s")
              .replace("group_interval: 1m", "group_interval: 1s")
              .replace("repeat_interval: 4h", "repeat_interval: 2s"))
    (tmp_path / "am.yml").write_text(cfg)
    port = free_port()
    proc = start([am, f"--config.file={tmp_path / 'am.yml'}", f"--storage.path={tmp_path / 'data'}",
                  f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="], tmp_path, tmp_path / "am.log")
    ready = wait_for(lambda: _ready(port), 30)
    assert ready, proc.output()

    labels = {"alertname": "XcatSnDown", "instance": "sn1:3001", "job": "xcatd-probe", "sn": "sn1", "severity": "critical"}
    post_alerts(port, [{"labels": labels, "annotations": {"summary": "xcatd on sn1 not answering on 3001"}}])
    inc = d.wait_closed("sn1", timeout=60)
    assert inc["state"] == "done", proc.output()
    [down] = events(d)
    assert (down["kind"], down["servicenode"], down["state_type"]) == ("sn.down", "sn1", "hard")
    assert down["source"]["tool"] == "alertmanager" and down["incident_id"] == inc["id"]
    moved = sim.nodes_first("sn2")

    # the same alert posted again (Prometheus re-sends every evaluation) and the
    # repeat_interval reminders: same fingerprint+startsAt -> acknowledged duplicates only
    post_alerts(port, [{"labels": labels}])
    assert wait_for(lambda: len(rows(d, "SELECT seq FROM raw")) >= 3, 20), proc.output()
    assert [e["kind"] for e in events(d)] == ["sn.down"]
    assert d.request({"v": 1, "op": "status"})["counters"]["duplicates"] >= 2
    assert len(sim.calls("snmove")) == 1

    # the SN is repaired; Alertmanager sends resolved: recorded as sn.up, nothing moves back
    sim.heal("sn1")
    past = (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat()
    post_alerts(port, [{"labels": labels, "endsAt": past}])
    up = wait_for(lambda: [e for e in events(d) if e["kind"] == "sn.up" and e["outcome"]], 20)
    assert up, proc.output()
    assert up[0]["servicenode"] == "sn1" and up[0]["source"]["ref"] == down["source"]["ref"]
    assert "no automatic failback" in up[0]["outcome"]  # applied: only now can "nothing moved" mean something
    assert len(sim.calls("snmove")) == 1
    assert sim.nodes_first("sn2") == moved and sim.nodes_first("sn1") == []
    # the raw payloads are stored as Alertmanager 0.25 sent them
    raw = rows(d, "SELECT source, payload FROM raw ORDER BY seq")[0]
    assert raw["source"] == "alertmanager" and json.loads(raw["payload"])["version"] == "4"


def _ready(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False
