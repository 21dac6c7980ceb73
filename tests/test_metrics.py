"""/metrics of a real daemon during a real takeover on the simulator, and after a restart;
the shipped alert rules checked by promtool (or for their structure when promtool is absent)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from support import REPO, event

RULES = REPO / "hooks" / "prometheus" / "sntakeover-self-rules.yml"


def families(url: str) -> set[str]:
    """The metric names exported (also those without a sample just now)."""
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    return {fam.name for fam in text_string_to_metric_families(text)}


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(m, name, **labels) -> float | None:
    return m.get((name, tuple(sorted(labels.items()))))


def metrics_url(d) -> str:
    url = d.request({"v": 1, "op": "status"})["status"]["metrics"]
    assert url.startswith("http://127.0.0.1:"), url
    return url


def test_metrics_during_and_after_a_takeover_and_across_a_restart(sim, daemon):
    s = sim()
    mine = s.nodes_first("sn1")
    s.fail("sn1")
    d = daemon(s, extra='[metrics]\nlisten = "127.0.0.1:0"\n')
    url = metrics_url(d)
    before = scrape(url)
    assert value(before, "sntakeover_incidents_open") == 0
    assert value(before, "sntakeover_paused") == 0 and value(before, "sntakeover_breaker_tripped") == 0

    s.x.set_latency(s.dir, 0.05)  # snmove takes a few seconds: time to look during the move
    assert d.send(event("sn1", id="down-1", state_type="hard"))["ok"]
    assert d.send(event("sn1", id="down-1", state_type="hard"))["duplicate"] is True
    assert d.send(event("sn1;reboot", id="bad-1"))["ok"] is False  # rejected: counted for source nagios
    d.wait_state("sn1", {"moving"})
    during = scrape(url)
    assert value(during, "sntakeover_incidents", state="moving") == 1
    assert value(during, "sntakeover_incidents_open") == 1
    assert value(during, "sntakeover_probe_last_answer_timestamp_seconds", servicenode="sn1") > 0

    inc = d.wait_closed("sn1", timeout=120)
    assert inc["state"] == "done"
    after = scrape(url)
    assert value(after, "sntakeover_incidents", state="done") == 1
    assert value(after, "sntakeover_incidents_open") == 0
    assert value(after, "sntakeover_events_accepted_total", source="nagios") == 1
    assert value(after, "sntakeover_events_duplicate_total", source="nagios") == 1
    assert value(after, "sntakeover_events_rejected_total", source="nagios") == 1
    assert value(after, "sntakeover_events_received_total", source="nagios") == 3
    assert value(after, "sntakeover_nodes_moved_total") == len(mine)
    assert value(after, "sntakeover_nodes_failed_total") == 0
    assert value(after, "sntakeover_takeover_duration_seconds_count") == 1
    assert value(after, "sntakeover_takeover_duration_seconds_sum") > 0
    assert value(after, "sntakeover_verification_duration_seconds_count") == 1
    # the failed SN: two confirming rounds in which xdsh could not reach it
    assert value(after, "sntakeover_probe_results_total", probe="xdsh", verdict="down") >= 2
    assert value(after, "sntakeover_probe_results_total", probe="xdsh", verdict="up") >= 1  # the backup's check

    # every metric the shipped alert rules use is one the daemon exports
    names = families(url)
    for used in set(re.findall(r"\bsntakeover_[a-z_]+", RULES.read_text())):
        assert used.removesuffix("_total") in names, used

    # an admin's control verb the daemon will not apply is no rejected event
    assert d.request({"v": 1, "op": "control", "action": "approve", "incident": 999, "by": "t"})["ok"] is False
    assert d.request({"v": 1, "op": "control", "action": "resume", "by": "t"})["ok"] is True

    # counters come from the store: a restarted daemon says the same
    d.stop()
    d.start()
    again = scrape(metrics_url(d))
    for key in [k for k in after if k[0].startswith(("sntakeover_events", "sntakeover_nodes", "sntakeover_probe_results",
                                                        "sntakeover_takeover", "sntakeover_incidents"))]:
        assert again.get(key) == after[key], key
    status = d.request({"v": 1, "op": "status"})["status"]
    assert status["counters"]["events_duplicate"] == 1 and status["counters"]["requests_rejected"] == 1
    assert [r["id"] for r in status["recent"]] == [inc["id"]]
    text = subprocess.run([sys.executable, "-m", "sntakeover", "status", "--config", str(d.config)],
                          capture_output=True, text=True, timeout=120, cwd=REPO).stdout
    assert re.search(rf"^  incident {inc['id']}: sn1 done at \S+: {len(mine)} moved to sn2 in \d+ s$", text, re.M), text
    assert "events_duplicate=1" in text and "requests_rejected=1" in text


def test_a_busy_metrics_port_does_not_stop_the_daemon(sim, daemon, tmp_path):
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        d = daemon(extra=f'[metrics]\nlisten = "127.0.0.1:{port}"\n')
        status = d.request({"v": 1, "op": "status"})["status"]
        assert status["metrics"].startswith(f"not serving: cannot listen on 127.0.0.1:{port}")
    finally:
        taken.close()


def need_promtool() -> str:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("SNTAKEOVER_REQUIRE_REAL_TOOLS"):
            pytest.fail("promtool is not installed (apt-get install prometheus)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return promtool


def test_the_alert_rules_pass_promtool():
    promtool = need_promtool()
    r = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS: 6 rules found" in r.stdout


def test_the_alerts_fire_when_they_should(tmp_path):
    """promtool's rule unit tests: each alert fires on the series that mean trouble, not before."""
    promtool = need_promtool()
    shutil.copy(RULES, tmp_path / "rules.yml")
    (tmp_path / "test.yml").write_text("""
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'up{job="sntakeover", instance="mn1:9464"}'
        values: '1 1 0 0 0 0 0'
      - series: 'sntakeover_events_rejected_total{source="nagios"}'
        values: '0 0 0 1 1 1 1'
      - series: 'sntakeover_incident_waiting_seconds{incident="7", servicenode="sn1", state="awaiting-approval"}'
        values: '600 1200 1800 2400 3000 3600 4200'
      - series: 'sntakeover_breaker_tripped'
        values: '0 0 0 0 1 1 1'
    alert_rule_test:
      - eval_time: 1m
        alertname: SntakeoverDown
        exp_alerts: []
      - eval_time: 5m
        alertname: SntakeoverDown
        exp_alerts:
          - exp_labels: {severity: critical, job: sntakeover, instance: "mn1:9464"}
            exp_annotations:
              summary: "sntakeover on mn1:9464 is not answering: service-node failures are not handled"
              description: "systemctl status sntakeover; journalctl -u sntakeover"
      - eval_time: 2m
        alertname: SntakeoverIntakeRejecting
        exp_alerts: []
      - eval_time: 4m
        alertname: SntakeoverIntakeRejecting
        exp_alerts:
          - exp_labels: {severity: warning, source: nagios}
            exp_annotations:
              summary: "sntakeover refused requests from nagios in the last 15 minutes"
              description: "The daemon log names the JSON path of each refusal (journalctl -u sntakeover | grep rejected)."
      - eval_time: 2m
        alertname: SntakeoverIncidentWaiting
        exp_alerts: []
      - eval_time: 4m
        alertname: SntakeoverIncidentWaiting
        exp_alerts:
          - exp_labels: {severity: critical, incident: "7", servicenode: sn1, state: awaiting-approval}
            exp_annotations:
              summary: "incident 7 (sn1) has been awaiting-approval for 50m 0s"
              description: "sntakeover status; sntakeover show 7"
      - eval_time: 5m
        alertname: SntakeoverBreakerTripped
        exp_alerts:
          - exp_labels: {severity: critical}
            exp_annotations:
              summary: "sntakeover's circuit breaker is tripped: nothing moves until `sntakeover breaker reset`"
              description: "Too many service nodes looked down at once (network, switch or MN?). sntakeover breaker status"
""")
    r = subprocess.run([promtool, "test", "rules", "test.yml"], capture_output=True, text=True, timeout=60,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
