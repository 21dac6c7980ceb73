"""The daemon's real intake loop on real sockets: limits with clear replies, big events off the
socket thread, per-alert results, retryable errors, batches, group commit."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest
import zmq
from intake_only import IntakeOnlyDaemon

from sntakeover import hookimpl
from sntakeover.client import request

from support import event


@pytest.fixture
def intake():
    made = []

    def make(**kw):
        d = IntakeOnlyDaemon(**kw)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


def send_bytes(endpoint: str, body: bytes, timeout: float = 10.0) -> dict:
    ctx = zmq.Context()
    try:
        s = ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(endpoint)
        s.send(body)
        assert s.poll(int(timeout * 1000)), "no reply"
        reply = json.loads(s.recv())
        s.close()
        return reply
    finally:
        ctx.term()


def ev_request(ev: dict) -> bytes:
    return json.dumps({"v": 1, "op": "event", "event": ev}).encode()


def test_message_over_the_old_zeromq_limit_gets_a_reply_naming_the_limit(intake, caplog):
    d = intake()
    body = ev_request(event(detail="x" * (9 * 1024 * 1024)))  # 9 MiB: ZeroMQ's old limit dropped it silently
    with caplog.at_level(logging.WARNING):
        reply = send_bytes(d.endpoint, body)
    assert reply["ok"] is False and reply["limit"] == "intake.max_message"
    assert reply["error"].startswith(f"$: request of {len(body)} bytes is larger than intake.max_message (8388608 bytes)")
    assert all(len(r.getMessage()) < 1000 for r in caplog.records)
    # and the intake goes on
    assert request({"v": 1, "op": "ping"}, endpoint=d.endpoint)["pong"] is True


def test_deep_nesting_is_refused_naming_the_limit(intake):
    d = intake()
    deep = b'{"v":1,"op":"raw","source":"alertmanager","payload":' + b"[" * 100000 + b"]" * 100000 + b"}"
    reply = send_bytes(d.endpoint, deep)
    assert reply == {"ok": False, "error": "$: request nested deeper than intake.max_depth (32)",
                     "limit": "intake.max_depth"}
    shallow_but_over = json.dumps({"v": 1, "op": "raw", "source": "alertmanager", "payload": {"a": [[[[[[1]]]]]]}})
    d2 = intake(config={"intake": {"max_depth": 4}})
    assert send_bytes(d2.endpoint, shallow_but_over.encode())["limit"] == "intake.max_depth"


def test_too_many_nodes_and_too_long_detail_name_their_limits(intake, caplog):
    d = intake(config={"intake": {"max_nodes": 10, "max_detail": 100}})
    reply = send_bytes(d.endpoint, ev_request(event(nodes=[f"cn{i}" for i in range(11)])))
    assert reply == {"ok": False, "error": "$.nodes: 11 nodes, more than intake.max_nodes (10)", "limit": "intake.max_nodes"}
    with caplog.at_level(logging.WARNING):
        reply = send_bytes(d.endpoint, ev_request(event(detail="y" * 7_000_000)))
    assert reply["limit"] == "intake.max_detail"
    assert reply["error"] == "$.detail: 7000000 characters, more than intake.max_detail (100)"
    rejected = [r.getMessage() for r in caplog.records if "rejected request" in r.getMessage()]
    assert rejected and all(len(m) < 1000 for m in rejected)
    assert d.intake.counters["over_limit"] == 2
    assert send_bytes(d.endpoint, ev_request(event(nodes=["cn1"], detail="short")))["ok"] is True


def test_schema_messages_about_huge_values_are_cut_in_the_reply_and_the_log(intake, caplog):
    d = intake()
    payload = {"host": "sn1", "state": "DOWN", "state_type": "HARD", "time": 1, "output": "z" * 3_000_000}
    with caplog.at_level(logging.WARNING):
        reply = request({"v": 1, "op": "raw", "source": "nagios", "payload": payload}, endpoint=d.endpoint)
    assert reply["ok"] is False
    assert reply["error"].startswith("$.payload.output: 3000000 characters, more than the 8192 allowed here: 'zzz")
    assert len(reply["error"]) < 700
    assert all(len(r.getMessage()) < 1000 for r in caplog.records)


def test_a_1mb_event_does_not_hold_up_a_small_one(intake):
    """A valid 100,000-node event (1 MB) is prepared off the socket thread: a small event
    sent right after it is acknowledged first, within 100 ms."""
    d = intake()
    big = ev_request(event(sn="sn1", nodes=[f"cn{i}" for i in range(100000)]))
    assert len(big) > 1_000_000
    ctx = zmq.Context()
    try:
        best = None
        for attempt in range(3):  # the least delay of three tries, so a busy machine does not decide
            a, b = ctx.socket(zmq.REQ), ctx.socket(zmq.REQ)
            for s in (a, b):
                s.setsockopt(zmq.LINGER, 0)
                s.connect(d.endpoint)
            a.send(big)
            time.sleep(0.005)  # the big one is on its way first
            t0 = time.monotonic()
            b.send(ev_request(event(sn="sn2", kind="sn.up")))
            assert b.poll(10000)
            small_took = time.monotonic() - t0
            assert json.loads(b.recv())["ok"] is True
            assert a.poll(20000), "the big event got no reply"
            big_reply = json.loads(a.recv())
            assert big_reply["ok"] is True
            a.close()
            b.close()
            best = small_took if best is None else min(best, small_took)
    finally:
        ctx.term()
    assert best < 0.1, f"the small event waited {best * 1000:.0f} ms behind the big one"
    s = d._reader()
    try:
        [row] = s.query("SELECT body FROM events WHERE servicenode = 'sn1'")[:1]
    finally:
        s.close()
    assert len(json.loads(row["body"])["nodes"]) == 100000


ALERT = {"status": "firing", "labels": {"alertname": "XcatSnDown", "sn": "sn1"}, "annotations": {},
         "startsAt": "2026-03-04T10:15:42.123Z", "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "",
         "fingerprint": "9f1c2b7e4d3a5c60"}


def group(*alerts):
    return {"version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing", "receiver": "sntakeover",
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am:9093",
            "alerts": list(alerts)}


def test_one_bad_alert_in_a_group_of_three_leaves_two_stored(intake):
    d = intake()
    good1 = dict(ALERT, labels={"alertname": "XcatSnDown", "sn": "sn1"}, fingerprint="aa01")
    no_sn = dict(ALERT, labels={"alertname": "XcatSnDown"}, fingerprint="aa02")  # the adapter cannot place it
    good2 = dict(ALERT, labels={"alertname": "XcatSnDown", "sn": "sn3"}, fingerprint="aa03")
    reply = request({"v": 1, "op": "raw", "source": "alertmanager", "payload": group(good1, no_sn, good2)},
                    endpoint=d.endpoint)
    assert reply["ok"] is True
    assert [e["id"].split(":")[1] for e in reply["events"]] == ["aa01", "aa03"]
    assert reply["rejected"] == [{"path": "$.payload.alerts[1].labels",
                                  "error": "alert has neither a 'sn' nor an 'instance' label"}]
    assert [e["servicenode"] for e in d.events] == ["sn1", "sn3"]
    # a schema error in one alert (no fingerprint) is reported with that alert's index too
    bad_schema = {k: v for k, v in ALERT.items() if k != "fingerprint"}
    g = group(dict(good1, fingerprint="bb01"), bad_schema, dict(good2, fingerprint="bb03"))
    reply = request({"v": 1, "op": "raw", "source": "alertmanager", "payload": g}, endpoint=d.endpoint)
    assert reply["ok"] is True and len(reply["events"]) == 2
    assert reply["rejected"][0]["path"] == "$.payload.alerts[1]"
    assert "fingerprint" in reply["rejected"][0]["error"]
    # and an adapter error after a dropped item still names the alert as sent
    g = group(bad_schema, dict(good1, fingerprint="cc01"), dict(no_sn, fingerprint="cc02"))
    reply = request({"v": 1, "op": "raw", "source": "alertmanager", "payload": g}, endpoint=d.endpoint)
    assert [r["path"] for r in reply["rejected"]] == ["$.payload.alerts[0]", "$.payload.alerts[2].labels"]


def test_all_alerts_bad_is_a_rejection_and_nothing_is_stored(intake):
    d = intake()
    reply = request({"v": 1, "op": "raw", "source": "alertmanager",
                     "payload": group(dict(ALERT, labels={"alertname": "X"}))}, endpoint=d.endpoint)
    assert reply["ok"] is False and reply["error"].startswith("$.payload.alerts[0].labels")
    assert d.requests == [] and d.events == []


class Crashing:
    @hookimpl(tryfirst=True)
    def sntakeover_adapt(self, source, payload, options):
        raise RuntimeError("adapter bug")


def test_internal_error_asks_for_a_retry(intake):
    d = intake()
    d.intake.hooks.pm.register(Crashing(), name="crashing")
    reply = request({"v": 1, "op": "raw", "source": "alertmanager", "payload": group(ALERT)}, endpoint=d.endpoint)
    assert reply["ok"] is False and reply["retry"] is True
    assert reply["error"] == "internal error: RuntimeError: adapter bug"
    assert d.events == []


def test_batch_answers_each_request_on_its_own(intake):
    d = intake()
    good = {"v": 1, "op": "event", "event": event(kind="sn.up", id="batch:1")}
    bad = {"v": 1, "op": "event", "event": event(servicenode="-x")}
    reply = request({"v": 1, "op": "batch", "requests": [good, bad, {"v": 1, "op": "ping"}, good]}, endpoint=d.endpoint)
    assert reply["ok"] is True
    r = reply["replies"]
    assert r[0] == {"ok": True, "id": "batch:1", "duplicate": False}
    assert r[1]["ok"] is False and r[1]["error"].startswith("$.servicenode")
    assert r[2]["pong"] is True
    assert r[3] == {"ok": True, "id": "batch:1", "duplicate": True}  # the same commit sees the first one
    nested = request({"v": 1, "op": "batch", "requests": [{"v": 1, "op": "batch", "requests": []}]}, endpoint=d.endpoint)
    assert nested["replies"][0]["error"] == "$.op: a batch cannot hold another batch"
    d2 = intake(config={"intake": {"max_batch": 2}})
    over = request({"v": 1, "op": "batch", "requests": [good] * 3}, endpoint=d2.endpoint)
    assert over["ok"] is False and over["limit"] == "intake.max_batch"


def test_concurrent_requests_share_commits(intake):
    """Group commit: 16 clients at once need far fewer transactions than requests."""
    d = intake()
    commits = []
    real_tx = d.store.tx

    def counting_tx():
        commits.append(1)
        return real_tx()

    d.store.tx = counting_tx
    errors = []

    def client(c):
        ctx = zmq.Context()
        s = ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.connect(d.endpoint)
        for i in range(50):
            s.send(ev_request(event(kind="sn.up", id=f"g:{c}:{i}")))
            if not s.poll(10000):
                errors.append("timeout")
                break
            if not json.loads(s.recv())["ok"]:
                errors.append("refused")
        s.close()
        ctx.term()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    s = d._reader()
    try:
        assert s.query("SELECT COUNT(*) FROM events")[0][0] == 800
    finally:
        s.close()
    assert len(commits) < 800 / 2, f"{len(commits)} transactions for 800 events"


def test_hook_resends_on_retry_and_says_not_delivered_when_it_never_gets_stored(intake, capsys):
    from sntakeover import hookcli

    d = intake()
    crashing = Crashing()
    d.intake.hooks.pm.register(crashing, name="crashing")
    rc = hookcli.main(["hook", "zabbix", "--endpoint", d.endpoint, "--timeout", "2", "--retries", "3",
                       "--host", "sn1", "--event", "77", "--value", "1"])
    assert rc == 3
    assert "could not store it (internal error: RuntimeError: adapter bug)" in capsys.readouterr().err
    assert d.intake.counters["errors"] == 3  # sent three times
    d.intake.hooks.pm.unregister(crashing)
    assert hookcli.main(["hook", "zabbix", "--endpoint", d.endpoint, "--host", "sn1", "--event", "77", "--value", "1"]) == 0
    assert [e["id"] for e in d.events] == ["zabbix:77:1"]


def test_a_payload_with_more_items_than_its_schema_allows_is_refused_by_count(tmp_path):
    from sntakeover.config import build
    from sntakeover.intake import Intake
    from sntakeover.plugins import Hooks, get_plugin_manager
    from sntakeover.validation import load_validators

    intake = Intake(build({}), None, load_validators(), Hooks(get_plugin_manager(load_entrypoints=False)))
    alert = {"status": "firing", "labels": {"alertname": "X", "sn": "sn1"}, "annotations": {},
             "startsAt": "2026-11-30T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "",
             "fingerprint": "0123456789abcdef"}
    payload = {"version": "4", "groupKey": "g", "truncatedAlerts": 0, "status": "firing", "receiver": "r",
               "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "", "alerts": [alert] * 10001}
    reply = intake.handle(json.dumps({"v": 1, "op": "raw", "source": "alertmanager", "payload": payload}).encode())
    assert reply == {"ok": False, "error": "$.payload.alerts: 10001 items, more than the 10000 allowed here"}, reply
