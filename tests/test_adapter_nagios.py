"""Nagios and Icinga 2 event handler calls -> events (same semantics, different macros)."""

from __future__ import annotations

import pytest

from sntakeover.errors import EventRejected
from sntakeover.validation import load_validators



def nagios(state, stype, attempt, problem=17, **kw):
    # what 'sntakeover hook nagios' builds from $HOSTSTATE$ $HOSTSTATETYPE$ $HOSTATTEMPT$/$MAXHOSTATTEMPTS$ ...
    p = {"host": "sn1", "state": state, "state_type": stype, "attempt": attempt, "max_attempts": 3,
         "downtime": 0, "problem_id": problem, "last_problem_id": 0, "time": 1772619342,
         "output": "CRITICAL - Socket timeout after 10 seconds", "reporter": "mn1"}
    p.update(kw)
    return p


def test_soft_attempts_are_recorded_as_soft(adapt):
    evs = [adapt("nagios", nagios("DOWN", "SOFT", a))[0] for a in (1, 2)]
    assert [e["state_type"] for e in evs] == ["soft", "soft"]
    assert evs[0]["id"] != evs[1]["id"]
    assert evs[0]["kind"] == "sn.down"


def test_hard_down_acts(adapt):
    [ev] = adapt("nagios", nagios("DOWN", "HARD", 3))
    assert ev["kind"] == "sn.down" and ev["state_type"] == "hard"
    assert ev["id"] == "nagios:sn1:17:DOWN:HARD:3"
    assert ev["source"] == {"tool": "nagios", "host": "mn1", "ref": "17"}
    assert ev["in_downtime"] is False
    assert ev["time"] == "2026-03-04T10:15:42Z"
    assert "attempt 3/3" in ev["detail"] and "Socket timeout" in ev["detail"]


def test_same_call_twice_is_one_id(adapt):
    assert adapt("nagios", nagios("DOWN", "HARD", 3))[0]["id"] == adapt("nagios", nagios("DOWN", "HARD", 3, time=1772619999))[0]["id"]


def test_unreachable_is_never_a_takeover(adapt):
    assert adapt("nagios", nagios("UNREACHABLE", "HARD", 3)) == []
    assert adapt("nagios", nagios("UNREACHABLE", "SOFT", 1)) == []


def test_downtime_gives_in_downtime(adapt):
    [ev] = adapt("nagios", nagios("DOWN", "HARD", 3, downtime=1))
    assert ev["in_downtime"] is True


def test_recovery_uses_last_problem_id(adapt):
    [ev] = adapt("nagios", nagios("UP", "HARD", 1, problem=0, last_problem_id=17))
    assert ev["kind"] == "sn.up"
    assert ev["source"]["ref"] == "17"
    assert ev["id"] == "nagios:sn1:17:UP:HARD:1"


def test_service_check_critical_and_warning(adapt):
    [ev] = adapt("nagios", nagios("CRITICAL", "HARD", 3, service="xcatd"))
    assert ev["kind"] == "sn.down" and ev["id"].startswith("nagios:sn1:xcatd:17:")
    assert adapt("nagios", nagios("WARNING", "HARD", 3, service="xcatd")) == []
    assert adapt("nagios", nagios("OK", "HARD", 1, service="xcatd"))[0]["kind"] == "sn.up"


def test_host_name_mapping(adapt):
    p = nagios("DOWN", "HARD", 3, host="sn1.cluster.example")
    assert adapt("nagios", p, {"strip_domain": True})[0]["servicenode"] == "sn1"
    assert adapt("nagios", p, {"map": {"sn1.cluster.example": "xsn1"}})[0]["servicenode"] == "xsn1"
    with pytest.raises(EventRejected):
        adapt("nagios", nagios("DOWN", "HARD", 3, host="sn 1; rm -rf /"))


@pytest.mark.parametrize("bad, path", [({"state": "DEAD"}, "$.state"), ({"state_type": "hard"}, "$.state_type"),
                                       ({"attempt": "1"}, "$.attempt"), ({"extra": 1}, "$")])
def test_malformed_rejected(bad, path):
    p = nagios("DOWN", "HARD", 3)
    p.update(bad)
    with pytest.raises(EventRejected) as exc:
        load_validators().validate("nagios.v1", p)
    assert exc.value.path == path


def icinga(state, stype, attempt, **kw):
    p = {"host": "sn1", "state": state, "state_type": stype, "attempt": attempt, "max_attempts": 3,
         "downtime": 0, "last_state_change": 1772619300.123, "check_source": "master1", "time": 1772619342}
    p.update(kw)
    return p


def test_icinga2_hard_down_and_soft(adapt):
    [soft] = adapt("icinga2", icinga("DOWN", "SOFT", 1))
    [hard] = adapt("icinga2", icinga("DOWN", "HARD", 3))
    assert (soft["state_type"], hard["state_type"]) == ("soft", "hard")
    assert hard["id"] == "icinga2:sn1:1772619300:DOWN:HARD:3"
    assert hard["source"]["ref"] == "sn1!1772619300"


def test_icinga2_ha_zone_double_run_is_one_id(adapt):
    # both endpoints of an HA zone run the handler (Icinga/icinga2#3431)
    a = adapt("icinga2", icinga("DOWN", "HARD", 3, check_source="master1", time=1772619342))[0]
    b = adapt("icinga2", icinga("DOWN", "HARD", 3, check_source="master2", time=1772619343))[0]
    assert a["id"] == b["id"]


def test_icinga2_unreachable_downtime_recovery(adapt):
    assert adapt("icinga2", icinga("UNREACHABLE", "HARD", 3)) == []
    assert adapt("icinga2", icinga("DOWN", "HARD", 3, downtime=2))[0]["in_downtime"] is True
    assert adapt("icinga2", icinga("UP", "HARD", 1))[0]["kind"] == "sn.up"
