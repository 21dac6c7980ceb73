"""Alertmanager webhook v4 -> events, with payloads as Alertmanager sends them."""

from __future__ import annotations

import copy

import pytest

from sntakeover.errors import EventRejected
from sntakeover.validation import load_validators



# as Alertmanager 0.34 sends it (peers.md 8.1)
FIRING = {
    "version": "4",
    "groupKey": '{}/{team="hpc"}:{alertname="XcatSnDown", sn="sn1"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "sn-takeover",
    "groupLabels": {"alertname": "XcatSnDown", "sn": "sn1"},
    "commonLabels": {"alertname": "XcatSnDown", "sn": "sn1", "severity": "critical", "team": "hpc"},
    "commonAnnotations": {"summary": "xcatd on sn1 not answering on 3001"},
    "routeLabels": {},
    "externalURL": "http://am.example:9093",
    "notification_reason": "first notification",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "XcatSnDown", "instance": "sn1:3001", "job": "xcatd-probe",
                       "severity": "critical", "sn": "sn1", "team": "hpc"},
            "annotations": {"summary": "xcatd on sn1 not answering on 3001"},
            "startsAt": "2026-03-04T10:15:42.123Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prom.example:9090/graph?g0.expr=...",
            "fingerprint": "9f1c2b7e4d3a5c60",
        }
    ],
}


def resolved(payload):
    p = copy.deepcopy(payload)
    p["status"] = "resolved"
    p["notification_reason"] = "all alerts resolved"
    for a in p["alerts"]:
        a["status"] = "resolved"
        a["endsAt"] = "2026-03-04T10:25:00.5Z"
    return p


def test_firing_is_hard_sn_down(adapt):
    [ev] = adapt("alertmanager", FIRING)
    assert ev["kind"] == "sn.down"
    assert ev["servicenode"] == "sn1"
    assert ev["state_type"] == "hard"
    assert ev["severity"] == "critical"
    assert ev["source"] == {"tool": "alertmanager", "host": "am.example", "ref": "9f1c2b7e4d3a5c60"}
    assert ev["id"] == "am:9f1c2b7e4d3a5c60:2026-03-04T10:15:42.123Z:firing"
    assert "first notification" in ev["detail"]


def test_resolved_is_sn_up_at_endsat(adapt):
    [ev] = adapt("alertmanager", resolved(FIRING))
    assert ev["kind"] == "sn.up"
    assert ev["time"] == "2026-03-04T10:25:00.5Z"
    assert "state_type" not in ev
    # same occurrence, different status: a distinct id
    assert ev["id"] == "am:9f1c2b7e4d3a5c60:2026-03-04T10:15:42.123Z:resolved"


def test_reminder_and_second_delivery_share_the_id(adapt):
    [first] = adapt("alertmanager", FIRING)
    reminder = copy.deepcopy(FIRING)
    reminder["notification_reason"] = "repeat interval elapsed"
    [again] = adapt("alertmanager", reminder)
    [dup] = adapt("alertmanager", copy.deepcopy(FIRING))  # an HA peer's copy
    assert first["id"] == again["id"] == dup["id"]
    assert "repeat interval elapsed" in again["detail"]


def test_new_occurrence_after_resolve_has_new_id(adapt):
    later = copy.deepcopy(FIRING)
    later["alerts"][0]["startsAt"] = "2026-03-05T08:00:00Z"
    assert adapt("alertmanager", later)[0]["id"] != adapt("alertmanager", FIRING)[0]["id"]


def test_alertmanager_025_payload_without_new_fields(adapt):
    # 0.25 (Debian 12): no notification_reason, no routeLabels, empty generatorURL
    p = copy.deepcopy(FIRING)
    del p["notification_reason"], p["routeLabels"]
    p["alerts"][0]["generatorURL"] = ""
    assert adapt("alertmanager", p)[0]["kind"] == "sn.down"


def test_unknown_fields_accepted(adapt):
    p = copy.deepcopy(FIRING)
    p["someFutureField"] = {"x": 1}
    p["alerts"][0]["someFutureAlertField"] = [1, 2]
    assert len(adapt("alertmanager", p)) == 1


def test_one_event_per_alert_and_instance_fallback(adapt):
    p = copy.deepcopy(FIRING)
    second = copy.deepcopy(p["alerts"][0])
    second["labels"] = {"alertname": "XcatSnDown", "instance": "sn2.cluster:3001"}
    second["fingerprint"] = "0123456789abcdef"
    p["alerts"].append(second)
    evs = adapt("alertmanager", p)
    assert [e["servicenode"] for e in evs] == ["sn1", "sn2.cluster"]
    assert adapt("alertmanager", p, {"strip_domain": True})[1]["servicenode"] == "sn2"


def test_configurable_label_and_map(adapt):
    p = copy.deepcopy(FIRING)
    p["alerts"][0]["labels"]["xcat_sn"] = "snA"
    assert adapt("alertmanager", p, {"sn_label": "xcat_sn"})[0]["servicenode"] == "snA"
    assert adapt("alertmanager", p, {"map": {"sn1": "service01"}})[0]["servicenode"] == "service01"


def test_instance_without_port_and_ipv6(adapt):
    p = copy.deepcopy(FIRING)
    p["alerts"][0]["labels"] = {"alertname": "X", "instance": "sn7"}
    assert adapt("alertmanager", p)[0]["servicenode"] == "sn7"
    p["alerts"][0]["labels"] = {"alertname": "X", "instance": "[fe80::1]:3001"}
    with pytest.raises(EventRejected) as exc:
        adapt("alertmanager", p)
    assert exc.value.path == "$.alerts[0].labels.instance"


def test_no_sn_label_is_rejected_with_path(adapt):
    p = copy.deepcopy(FIRING)
    p["alerts"][0]["labels"] = {"alertname": "XcatSnDown"}
    with pytest.raises(EventRejected) as exc:
        adapt("alertmanager", p)
    assert exc.value.path == "$.alerts[0].labels"


def test_hostile_label_never_becomes_a_node_name(adapt):
    p = copy.deepcopy(FIRING)
    p["alerts"][0]["labels"]["sn"] = "-d sn9"
    with pytest.raises(EventRejected):
        adapt("alertmanager", p)


def test_alertnames_filter_records_others_only(adapt):
    p = copy.deepcopy(FIRING)
    assert adapt("alertmanager", p, {"alertnames": ["Other"]}) == []


def test_empty_alert_list(adapt):
    p = copy.deepcopy(FIRING)
    p["alerts"] = []
    assert adapt("alertmanager", p) == []


@pytest.mark.parametrize(
    "mutate, path",
    [
        (lambda p: p.pop("alerts"), "$"),
        (lambda p: p.update(version="3"), "$.version"),
        (lambda p: p["alerts"][0].update(status="pending"), "$.alerts[0].status"),
        (lambda p: p["alerts"][0].update(startsAt="yesterday"), "$.alerts[0].startsAt"),
        (lambda p: p["alerts"][0].update(fingerprint="ZZ"), "$.alerts[0].fingerprint"),
        (lambda p: p["alerts"][0]["labels"].update(sn=1), "$.alerts[0].labels.sn"),
    ],
)
def test_malformed_payload_rejected_by_schema(mutate, path):
    p = copy.deepcopy(FIRING)
    mutate(p)
    with pytest.raises(EventRejected) as exc:
        load_validators().validate("alertmanager.v4", p)
    assert exc.value.path == path


def test_a_firing_alert_is_observed_when_it_is_delivered_not_when_it_began(adapt):
    """A silence that expires, a bridge that was down: an outage older than events.max_age is still firing now."""
    from sntakeover.clock import age

    [ev] = adapt("alertmanager", FIRING)  # startsAt 2026-03-04: long before this delivery
    assert age(ev["time"]) < 60, ev["time"]
    assert ev["id"] == "am:9f1c2b7e4d3a5c60:2026-03-04T10:15:42.123Z:firing"  # the occurrence is still startsAt
