"""prometheus-alertmanager with the shipped receiver config -> HTTP bridge -> ROUTER."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
from realtools_support import HOOKS, free_port, need, wait_for

from sntakeover import webhook

pytestmark = [pytest.mark.realtool, pytest.mark.slow]


def post_alerts(port, alerts):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v2/alerts", json.dumps(alerts).encode(),
                                 {"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 200


@pytest.fixture
def bridge(fake_daemon):
    settings = webhook.Settings(endpoint=fake_daemon.endpoint, timeout=1.0, retries=2)
    srv = webhook.make_server("127.0.0.1:0", settings)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()
    t.join(5)
    settings.zmq.term()


def test_alertmanager_delivers_firing_dedup_and_resolved(tmp_path, fake_daemon, bridge, start):
    am = need("prometheus-alertmanager")
    cfg = (HOOKS / "alertmanager" / "alertmanager.yml").read_text()
    assert "http://127.0.0.1:9095/alertmanager" in cfg
    # the shipped file, with the test's bridge port and short timers
    cfg = (cfg.replace("127.0.0.1:9095", f"127.0.0.1:{bridge}")
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
    events = fake_daemon.wait_events(1, 20)
    assert events, proc.output()
    first = events[0]
    assert (first["kind"], first["servicenode"], first["state_type"]) == ("sn.down", "sn1", "hard")
    assert first["duplicate"] is False

    # the same alert posted again (Prometheus re-sends every evaluation) and the
    # repeat_interval reminders: same fingerprint+startsAt -> duplicates only
    post_alerts(port, [{"labels": labels}])
    events = fake_daemon.wait_events(3, 20)
    assert len(events) >= 3, proc.output()
    assert all(e["id"] == first["id"] and e["duplicate"] for e in events[1:])

    # resolved: endsAt in the past
    past = (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat()
    post_alerts(port, [{"labels": labels, "endsAt": past}])
    up = wait_for(lambda: [e for e in fake_daemon.events if e["kind"] == "sn.up"], 20)
    assert up, proc.output()
    assert up[0]["servicenode"] == "sn1" and up[0]["source"]["ref"] == first["source"]["ref"]
    # the raw payloads arrived as Alertmanager 0.25 sends them
    raw = fake_daemon.requests[0]
    assert raw["source"] == "alertmanager" and raw["payload"]["version"] == "4"


def _ready(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False
