"""The event schema: strict names, checked time format, rejection with a JSON path."""

import json

import pytest

from sntakeover.errors import EventRejected
from sntakeover.validation import load_validators, schema_texts


@pytest.fixture(scope="module")
def v():
    return load_validators()


def ev(**kw):
    base = {"id": "am:1", "kind": "sn.down", "servicenode": "sn1", "source": {"tool": "nagios", "ref": "42"},
            "time": "2026-03-04T10:15:42Z"}
    base.update(kw)
    return base


def reason(v, data):
    with pytest.raises(EventRejected) as exc:
        v.validate("event.v1", data)
    return str(exc.value)


def test_every_schema_file_is_valid_2020_12_with_a_urn_id():
    for name, text in schema_texts().items():
        s = json.loads(text)
        assert s["$schema"] == "https://json-schema.org/draft/2020-12/schema", name
        assert s["$id"].startswith("urn:sntakeover:"), name


def test_a_good_event_passes(v):
    v.validate("event.v1", ev(nodes=["cn1", "cn2"], state_type="hard", severity="critical", in_downtime=False))


@pytest.mark.parametrize("name", ["-d", "sn1;reboot", "sn 1", "$(id)", "", "sn1,sn2", "a" * 64, "/sn1", "sn1\n", "sn1\nrm"])
def test_servicenode_names_that_could_reach_a_shell_or_an_option_are_rejected(v, name):
    assert reason(v, ev(servicenode=name)).startswith("$.servicenode: ")


def test_node_name_rejection_names_the_item(v):
    assert reason(v, ev(nodes=["cn1", "-rf"])).startswith("$.nodes[1]: ")


def test_time_format_is_really_checked(v):
    assert reason(v, ev(time="2026-13-45T99:00:00Z")) == "$.time: '2026-13-45T99:00:00Z' is not a 'date-time'"
    assert "is not a 'date-time'" in reason(v, ev(time="yesterday"))


def test_unknown_kind_and_missing_fields(v):
    assert reason(v, ev(kind="sn.exploded")).startswith("$.kind: ")
    data = ev()
    del data["source"]
    assert reason(v, data) == "$: 'source' is a required property"


def test_extra_top_level_field_is_rejected(v):
    assert reason(v, ev(colour="red")) == "$: Additional properties are not allowed ('colour' was unexpected)"


def test_source_tool_is_required_and_strict(v):
    assert reason(v, ev(source={"ref": "x"})) == "$.source: 'tool' is a required property"
    assert reason(v, ev(source={"tool": "Nagios Core"})).startswith("$.source.tool: ")


@pytest.mark.parametrize("field,value", [("id", "x\n"), ("source", {"tool": "nagios\n"}), ("severity", "high\n"),
                                         ("source", {"tool": "t", "host": "mon1\n"})])
def test_no_pattern_lets_a_trailing_newline_through(v, field, value):
    assert reason(v, ev(**{field: value})).startswith(f"$.{field}")


def test_a_value_or_a_list_that_is_too_long_is_described_by_its_size_not_printed(v):
    from sntakeover.errors import EventRejected

    payload = {"host": "sn1", "state": "DOWN", "state_type": "HARD", "time": 1772619342, "output": "x" * 9043}
    with pytest.raises(EventRejected) as exc:
        v.validate("nagios.v1", payload)
    assert exc.value.path == "$.output"
    assert exc.value.message.startswith("9043 characters, more than the 8192 allowed here: 'xxxx"), exc.value.message
    assert len(exc.value.message) < 200
    with pytest.raises(EventRejected) as exc:
        v.validate("xcatmon.v1", {"statuses": [{"node": "sn1", "status": "noping"}] * 10001, "time": 1})
    assert (exc.value.path, exc.value.message) == ("$.statuses", "10001 items, more than the 10000 allowed here")


def test_a_request_without_op_is_told_that_op_is_missing(v):
    from sntakeover.errors import EventRejected

    with pytest.raises(EventRejected) as exc:
        v.validate("request.v1", {"v": 1})
    assert (exc.value.path, exc.value.message) == ("$", "'op' is a required property")
