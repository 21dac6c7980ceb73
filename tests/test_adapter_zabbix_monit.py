"""Zabbix and monit hook calls -> events."""

from __future__ import annotations

import pytest

from sntakeover.errors import EventRejected
from sntakeover.validation import load_validators



def zabbix(value, **kw):
    # {HOST.HOST} {EVENT.ID} {EVENT.VALUE} {EVENT.NSEVERITY} {EVENT.STATUS} {TRIGGER.NAME}
    p = {"host": "sn1", "event_id": "104528", "value": value, "severity": "5",
         "status": "PROBLEM" if value else "RESOLVED", "trigger": "xcatd port 3001 on sn1 is down",
         "time": 1772619342}
    p.update(kw)
    return p


def test_zabbix_problem_and_recovery(adapt):
    [down] = adapt("zabbix", zabbix(1))
    [up] = adapt("zabbix", zabbix(0, recovery_id="104533"))
    assert (down["kind"], down["state_type"], down["severity"]) == ("sn.down", "hard", "disaster")
    assert down["id"] == "zabbix:104528:1" and up["id"] == "zabbix:104528:0"
    assert up["kind"] == "sn.up" and "104533" in up["detail"]
    assert down["source"]["ref"] == "104528"


def test_zabbix_escalation_repeat_is_duplicate_id(adapt):
    assert adapt("zabbix", zabbix(1))[0]["id"] == adapt("zabbix", zabbix(1, time=1772619402))[0]["id"]


def test_zabbix_severity_name_kept(adapt):
    assert adapt("zabbix", zabbix(1, severity="High"))[0]["severity"] == "High"


def test_zabbix_unexpanded_macro_rejected(adapt):
    with pytest.raises(EventRejected) as exc:
        adapt("zabbix", zabbix(1, host="*UNKNOWN*"))
    assert exc.value.path == "$.host"
    with pytest.raises(EventRejected):
        load_validators().validate("zabbix.v1", zabbix(1, event_id="{EVENT.ID}"))


def monit(direction, since=1772619300, **kw):
    p = {"service": "sn1", "direction": direction, "since": since, "time": since + 30,
         "event": "Connection failed", "description": "failed protocol test [DEFAULT] at [sn1]:3001 [TCP/IP]",
         "monit_host": "mn1", "monit_date": "Wed, 04 Mar 2026 10:15:00"}
    p.update(kw)
    return p


def test_monit_down_up(adapt):
    [down] = adapt("monit", monit("down"))
    assert (down["kind"], down["state_type"], down["servicenode"]) == ("sn.down", "hard", "sn1")
    assert down["source"]["host"] == "mn1"  # monit's own host, the SN is MONIT_SERVICE
    assert down["id"] == "monit:sn1:down:1772619300"
    assert down["time"] == "2026-03-04T10:15:30Z"  # when the hook ran (time), not when the failure began (since)
    assert adapt("monit", monit("up", since=1772619900))[0]["kind"] == "sn.up"


def test_monit_repeat_every_n_cycles_collapses(adapt):
    # 'repeat every 10 cycles' re-execs the hook; the hook keeps 'since'
    ids = {adapt("monit", monit("down", time=t))[0]["id"] for t in (1772619330, 1772619340, 1772619350)}
    assert len(ids) == 1
    # a new failure after an 'up' starts a new 'since'
    assert adapt("monit", monit("down", since=1772620000))[0]["id"] not in ids


def test_monit_schema():
    with pytest.raises(EventRejected) as exc:
        load_validators().validate("monit.v1", monit("sideways"))
    assert exc.value.path == "$.direction"
