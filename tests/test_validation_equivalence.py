"""The fast validity check (jsonschema-rs) accepts and refuses exactly what jsonschema does.

Generated instances start from a valid example of each schema and get one or
more random changes: a value replaced by a tricky one (times near the edges of
RFC 3339, names with a trailing newline or a leading dash, control characters,
wrong types, huge numbers), a key removed or added. Both validators must give
the same verdict on every one.
"""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sntakeover.validation import load_validators

V = load_validators()

EXAMPLES = {
    "event.v1": {"id": "nagios:sn1:17", "kind": "sn.down", "servicenode": "sn1", "nodes": ["cn1", "cn2"],
                 "source": {"tool": "nagios", "host": "mon1", "ref": "17"}, "time": "2026-03-04T10:15:42Z",
                 "state_type": "hard", "severity": "critical", "in_downtime": False, "detail": "x"},
    "request.v1": {"v": 1, "op": "raw", "source": "nagios", "payload": {}},
    "alertmanager.v4": {"version": "4", "status": "firing", "groupLabels": {"a": "b"}, "truncatedAlerts": 0,
                        "alerts": [{"status": "firing", "labels": {"sn": "sn1"}, "annotations": {},
                                    "startsAt": "2026-03-04T10:15:42.123Z", "endsAt": "0001-01-01T00:00:00Z",
                                    "fingerprint": "9f1c2b7e4d3a5c60"}]},
    "nagios.v1": {"host": "sn1", "state": "DOWN", "state_type": "HARD", "attempt": 3, "problem_id": 4,
                  "last_state_change": 5, "time": 1772619342, "output": "o"},
    "icinga2.v1": {"host": "sn1", "state": "DOWN", "state_type": "SOFT", "last_state_change": 1.5, "time": 1},
    "zabbix.v1": {"host": "sn1", "event_id": "104528", "value": 1, "severity": "4", "time": 1},
    "monit.v1": {"service": "sn1", "direction": "down", "since": 1, "time": 2},
    "xcatmon.v1": {"statuses": [{"node": "sn1", "status": "noping", "since": 3}], "time": 1},
    "regnotif.v1": {"text": "u\nnoderes\n", "time": 1, "nonce": "ab12"},
    "config.v1": {"daemon": {"workers": 4, "endpoint": "tcp://127.0.0.1:5999"}, "xcat": {"runner": "ssh", "path": ["/opt/xcat/bin"]},
                  "ssh": {"host": "mn", "key_file": "/k", "known_hosts": "/kh"}, "metrics": {"listen": "[::1]:9464"},
                  "breaker": {"max_fraction": 0.5}, "backup": {"capacity_per_sn": {"sn2": 400}}, "adapters": {"nagios": {}}},
}

TRICKY_STRINGS = st.sampled_from([
    "", "sn1\n", "-sn1", "sn1 ", "a" * 63, "a" * 64, "é", "sn1\x00", "\u202e", "9f1c2b7e4d3a5c6", "9F1C",
    "2016-12-31T23:59:60Z", "0000-01-01T00:00:00Z", "2026-02-29T00:00:00Z", "2024-02-29T00:00:00Z",
    "2026-01-01T00:00:00+24:00", "2026-01-01t00:00:00z", "2026-01-01T00:00:00.123456789Z", "2026-01-01 00:00:00Z",
    "2026-01-01T00:00:00-00:00", "2026-01-01T24:00:00Z", "2026-01-01T00:00:00.Z", "2026-13-01T00:00:00Z",
    "sn.down", "hard", "HARD", "SOFT", "firing", "4", "CRITICAL", "down", "raw", "ping", "batch",
])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64), st.floats(allow_nan=False),
                    st.text(max_size=70), TRICKY_STRINGS)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=6)


def paths(obj, prefix=()):
    yield prefix
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from paths(v, prefix + (i,))


@st.composite
def mutated(draw, name):
    inst = copy.deepcopy(EXAMPLES[name])
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(list(paths(inst))))
        if not where:
            continue
        parent = inst
        for p in where[:-1]:
            parent = parent[p]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "replace":
            parent[where[-1]] = draw(VALUES)
        elif action == "delete":
            del parent[where[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=8))] = draw(VALUES)
    return inst


NAMES = sorted(n for n, e in EXAMPLES.items() if e is not None)


def test_every_schema_has_a_fast_validator_and_the_examples_are_valid():
    assert set(V.fast) == set(V.names())
    for name in NAMES:
        assert V.is_valid(name, EXAMPLES[name]) and V.reference_is_valid(name, EXAMPLES[name]), name


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(NAMES).flatmap(lambda n: st.tuples(st.just(n), mutated(n))))
def test_fast_and_reference_validators_agree(case):
    name, inst = case
    assert V.is_valid(name, inst) == V.reference_is_valid(name, inst), (name, inst)


@given(TRICKY_STRINGS)
def test_times_are_judged_by_the_same_checker(text):
    ev = dict(EXAMPLES["event.v1"], time=text)
    assert V.is_valid("event.v1", ev) == V.reference_is_valid("event.v1", ev)
