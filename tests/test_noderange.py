"""Node lists as xCAT noderanges: compress() must expand back, through the simulator's xCAT
noderange parser, to exactly the same nodes -- no node lost, none added."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sntakeover.noderange import compress, natural_key, natural_sorted, shorten
from sntakeover.xcatsim.noderange import expand


def cluster(nodes) -> dict:
    return {"tables": {"nodelist": {n: {"groups": "all"} for n in nodes}}}


@st.composite
def node_name(draw) -> str:
    if draw(st.integers(0, 9)) == 0:  # now and then a name that cannot join a range
        return draw(st.sampled_from(["mgmt-a", "login", "io-x.b", "b:c"]))
    prefix = draw(st.sampled_from(["cn", "node", "r1n", "c.", "x_", "f1-n", "gpu"]))
    number = draw(st.integers(0, 130))
    width = draw(st.sampled_from([0, 0, 2, 3, 4]))
    suffix = draw(st.sampled_from(["", "", ".ib", "-ib", "b"]))
    return f"{prefix}{str(number).zfill(width)}{suffix}"


@settings(max_examples=300, deadline=None)
@given(wanted=st.sets(node_name(), max_size=60), others=st.sets(node_name(), max_size=40))
def test_compress_round_trips_through_xcat_noderange_expansion(wanted, others):
    text = compress(wanted)
    found, missing = expand(cluster(wanted | others), text)
    assert missing == []
    assert len(found) == len(wanted) and set(found) == wanted


def test_ranges_look_like_xcat_ones():
    assert compress([f"cn{i}" for i in range(64, 0, -1)]) == "cn1-cn64"
    assert compress(["cn231", "cn17", "cn230"]) == "cn17,cn230-cn231"
    assert compress([f"node{i:03d}" for i in range(1, 201)]) == "node001-node200"
    assert compress(["cn9", "cn10", "cn11"]) == "cn9-cn11"
    assert compress(["cn09", "cn10"]) == "cn09-cn10"
    assert compress(["cn9", "cn09", "cn10"]) == "cn09-cn10,cn9"
    assert compress([]) == ""


def test_natural_order():
    assert sorted(["cn10", "cn2", "cn1", "cn1a"], key=natural_key) == ["cn1", "cn1a", "cn2", "cn10"]


def test_shorten_says_how_many_are_not_shown():
    text = shorten([f"cn{i}" for i in range(1, 400, 2)], limit=40)
    shown = [t for t in text.split(",") if not t.startswith("...")]
    assert text.endswith(f"({200 - len(shown)} more)")
    assert shorten([]) == "none"
