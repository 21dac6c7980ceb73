"""Properties over generated input: name safety and error attribution."""

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from sntakeover.validation import load_validators
from sntakeover.xcatout import attribute_errors, parse_lsdef, valid_name

V = load_validators()
NAME = st.from_regex(r"\A[a-z][a-z0-9]{0,6}\Z")


def event(sn: str) -> dict:
    return {"id": "x", "kind": "sn.down", "servicenode": sn, "source": {"tool": "t"}, "time": "2026-01-01T00:00:00Z"}


@given(st.text(alphabet=string.printable + "äß\u202e", max_size=70))
def test_schema_and_command_builder_agree_on_what_a_name_is(text):
    assert V.is_valid("event.v1", event(text)) == valid_name(text)
    if valid_name(text):
        assert not text.startswith("-") and not any(c in text for c in " ;|&$`'\"\\\n,*?()<>")


@given(st.sets(NAME, min_size=2, max_size=8), st.data())
@settings(max_examples=200)
def test_a_failure_is_charged_only_to_the_node_it_names(names, data):
    names = sorted(names)
    victim = data.draw(st.sampled_from(names))
    others = [n for n in names if n != victim]
    stderr = (f"Error: Could not run '/usr/bin/bootlist -m normal ent0' on node {victim}.\n"
              + "".join(f"Error: {n}: change net default: gateway 10.1.0.2\n" for n in others))
    per_node, general = attribute_errors("", stderr, names)
    assert set(per_node) == {victim}
    assert len(general) == len(others)


@given(st.dictionaries(NAME, st.dictionaries(st.sampled_from(["servicenode", "xcatmaster", "nfsserver"]),
                                             st.from_regex(r"\A[a-z0-9.,]{0,20}\Z"), min_size=1), max_size=5))
def test_lsdef_listing_round_trips(objs):
    text = "".join(f"Object name: {n}\n" + "".join(f"    {k}={v}\n" for k, v in sorted(a.items()))
                   for n, a in objs.items())
    assert parse_lsdef(text) == objs
