"""Fuzzing the intake with hypothesis against a real daemon on its real socket.

Random frames (sizes, multipart shapes, empty and over-limit frames, invalid UTF-8), JSON of every
shape, requests and events shaped around request.v1 / event.v1, and payloads shaped around every
adapter's raw schema. After each request: a reply came back, it is a JSON object, a rejection is
``ok: false`` with a clear error (never an internal error); at the end of each test the daemon still
answers a ping and every stored event validates against event.v1.

The number of examples per test is ``$SNTAKEOVER_FUZZ_EXAMPLES`` (default 40, what CI runs); a long
run: ``SNTAKEOVER_FUZZ_EXAMPLES=5000 python -m pytest tests/test_fuzz_intake.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sntakeover.intakeloop import zmq_ceiling  # noqa: F401 - the ceiling the limit sits under
from sntakeover.validation import load_validators

EXAMPLES = int(os.environ.get("SNTAKEOVER_FUZZ_EXAMPLES", "40"))
MAX_MESSAGE = 65536
SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("SNTAKEOVER_FUZZ_RANDOM"),
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
CONFIG = f"""[intake]
max_message = {MAX_MESSAGE}
offload_bytes = 4096
"""

# -- strategies ------------------------------------------------------------------------------------

json_scalar = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=40)
any_json = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12),
                                                                                                   inner, max_size=5),
                        max_leaves=25)
#: strings that matter here: names, numbers, states, control characters and escape codes, long ones
words = st.sampled_from(["sn1", "sn2", "cn1", "", " ", "-rf", "sn1;reboot", "0", "1", "42", "HARD", "SOFT", "DOWN",
                         "UP", "noping", "sshd", "firing", "resolved", "hard", "soft", "sn.down", "sn.up",
                         "takeover.request", "2026-11-30T06:00:00Z", "\x1b]0;x\x07", "a\nb", "\ud800", "x" * 300])
texts = words | st.text(max_size=60)


def shaped(schema: dict[str, Any], root: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    """Values shaped around a JSON schema: mostly of the right form, sometimes anything at all."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return shaped(root.get("$defs", {}).get(name, {}), root, depth)
    if depth > 4:
        return json_scalar
    options: list[st.SearchStrategy[Any]] = []
    if "enum" in schema:
        options.append(st.sampled_from(schema["enum"]))
    if "const" in schema:
        options.append(st.just(schema["const"]))
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds or []
    for kind in kinds:
        if kind == "string":
            options.append(texts)
        elif kind == "integer":
            options.append(st.integers(-5, 2**40) | st.sampled_from([0, 1, 2, 1764486000, 2**63]))
        elif kind == "number":
            options.append(st.floats(-1e12, 1e12, allow_nan=False))
        elif kind == "boolean":
            options.append(st.booleans())
        elif kind == "null":
            options.append(st.none())
        elif kind == "array":
            item = schema.get("items", {})
            options.append(st.lists(shaped(item, root, depth + 1), max_size=4))
        elif kind == "object" or "properties" in schema:
            props = schema.get("properties", {})
            required = schema.get("required", [])
            options.append(st.fixed_dictionaries(
                {k: shaped(v, root, depth + 1) for k, v in props.items() if k in required},
                optional={**{k: shaped(v, root, depth + 1) for k, v in props.items() if k not in required},
                          "unexpected": json_scalar}))
    for sub in schema.get("anyOf", []) + schema.get("oneOf", []):
        options.append(shaped(sub, root, depth + 1))
    if not options:
        return any_json if depth < 2 else json_scalar
    return st.one_of(*options) | (json_scalar if depth else st.nothing())


def schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / name).read_text())


EVENT = schema("event.v1.json")
RAW_SCHEMAS = {p.name.split(".")[0]: json.loads(p.read_text()) for p in SCHEMAS.glob("*.json")
               if p.name not in ("event.v1.json", "request.v1.json")}
#: valid events whose free text is anything: they are stored, and the engine must get through them
valid_events = st.fixed_dictionaries(
    {"id": st.uuids().map(str), "kind": st.sampled_from(["sn.down", "sn.up", "node.unreachable", "takeover.cancel"]),
     "servicenode": st.sampled_from(["sn1", "sn2", "sn3"]), "source": st.fixed_dictionaries(
         {"tool": st.sampled_from(["nagios", "fuzz"])}, optional={"host": texts, "ref": texts}),
     "time": st.just("2026-11-30T06:00:00Z")},
    optional={"detail": texts, "state_type": st.sampled_from(["hard", "soft"]), "severity": texts,
              "nodes": st.lists(st.sampled_from(["cn1", "cn2", "cn3"]), max_size=3)})
events = shaped(EVENT, EVENT) | valid_events
requests = st.one_of(
    st.fixed_dictionaries({"v": st.just(1), "op": st.just("event"), "event": events}),
    st.fixed_dictionaries({"v": st.sampled_from([1, 2, "1"]), "op": st.sampled_from(["event", "raw", "batch", "ping",
                                                                                    "status", "nope", ""])},
                          optional={"event": any_json, "source": texts, "payload": any_json,
                                    "requests": st.lists(any_json, max_size=4)}),
    st.fixed_dictionaries({"v": st.just(1), "op": st.just("batch"),
                           "requests": st.lists(st.fixed_dictionaries({"v": st.just(1), "op": st.just("event"),
                                                                       "event": events}), max_size=4)}),
    any_json,
)
bodies = st.one_of(
    requests.map(lambda r: json.dumps(r).encode()),
    any_json.map(lambda r: json.dumps(r).encode()),
    st.binary(max_size=300),  # invalid UTF-8, random bytes
    st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.integers(MAX_MESSAGE - 4, MAX_MESSAGE + 4).map(lambda n: b'"' + b"x" * (n - 2) + b'"'),  # around the limit
    st.integers(1, 200).map(lambda n: b"[" * n + b"]" * n),  # nesting
    st.just(b""),
)
#: frames before the body: none (a DEALER's single frame), a REQ's empty delimiter, or several of any size
envelopes = st.one_of(st.just([]), st.just([b""]), st.lists(st.binary(max_size=64), min_size=1, max_size=3))

# -- the daemon ----------------------------------------------------------------------------------------


class Probe:
    """A DEALER on the daemon's socket: send any frames, get the reply's last frame."""

    def __init__(self, endpoint: str) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)

    def ask(self, frames: list[bytes], timeout: float = 20.0) -> dict[str, Any]:
        self.sock.send_multipart(frames)
        assert self.sock.poll(int(timeout * 1000)), f"no reply to {[f[:60] for f in frames]}"
        reply = self.sock.recv_multipart()
        assert reply[:-1] == frames[:-1], "the envelope came back changed"
        doc = json.loads(reply[-1])
        assert isinstance(doc, dict)
        return doc

    def close(self) -> None:
        self.sock.close()
        self.ctx.term()


def judge(reply: dict[str, Any]) -> None:
    """A reply is an acknowledgement, or a rejection that says what is wrong; never an internal error."""
    assert reply.get("ok") in (True, False), reply
    for sub in reply.get("replies", []):
        judge(sub)
    if reply["ok"]:
        return
    error = reply.get("error")
    assert isinstance(error, str) and error.strip(), reply
    assert not reply.get("retry") and "internal error" not in error, reply


def audit(d) -> int:
    """The daemon answers a ping, every stored event is a valid event.v1 and the engine got through
    each of them (none stays pending); returns how many are stored."""
    from sntakeover.poll import wait_until

    assert d.request({"v": 1, "op": "ping"})["ok"]

    def all_applied() -> bool:
        s = d.store()
        try:
            return s.query("SELECT COUNT(*) FROM events WHERE processed = 0")[0][0] == 0
        finally:
            s.close()

    wait_until(all_applied, timeout=120, what="every stored event applied")
    validators = load_validators()
    s = d.store()
    try:
        rows = s.query("SELECT id, body FROM events")
    finally:
        s.close()
    for r in rows:
        validators.validate("event.v1", json.loads(r["body"]))
    return len(rows)


@pytest.fixture
def fuzzed(daemon):
    d = daemon(extra=CONFIG)
    probe = Probe(d.endpoint)
    yield d, probe
    probe.close()
    assert d.proc.poll() is None, "the daemon died:\n" + d.logfile.read_text()[-3000:]
    audit(d)


def test_random_frames_and_bodies(fuzzed):
    d, probe = fuzzed

    @FUZZ
    @given(envelope=envelopes, body=bodies)
    def one(envelope, body):
        judge(probe.ask([*envelope, body]))

    one()
    assert audit(d) >= 0


def test_requests_and_events_shaped_around_the_schemas(fuzzed):
    d, probe = fuzzed
    seen = {"ok": 0, "refused": 0}

    @FUZZ
    @given(req=requests)
    def one(req):
        reply = probe.ask([b"", json.dumps(req).encode()])
        judge(reply)
        seen["ok" if reply["ok"] else "refused"] += 1

    one()
    assert seen["refused"], seen  # the strategies reach both answers
    audit(d)


@pytest.mark.parametrize("source", sorted(RAW_SCHEMAS))
def test_every_adapter_with_payloads_shaped_around_its_schema(fuzzed, source):
    d, probe = fuzzed
    raw = RAW_SCHEMAS[source]

    @FUZZ
    @given(payload=shaped(raw, raw) | any_json)
    def one(payload):
        judge(probe.ask([b"", json.dumps({"v": 1, "op": "raw", "source": source, "payload": payload}).encode()]))

    one()
    audit(d)


def test_over_limit_and_empty_frames_get_clear_answers(fuzzed):
    d, probe = fuzzed
    big = probe.ask([b"", b"x" * (MAX_MESSAGE + 1)])
    assert big["ok"] is False and big["limit"] == "intake.max_message"
    assert "intake.max_message" in big["error"]
    assert "not valid JSON" in probe.ask([b""])["error"]
    assert "not valid JSON" in probe.ask([b"", b"\xff\xfe"])["error"]
    assert probe.ask([b"", b"x" * 10, b"", b'{"v":1,"op":"ping"}'])["pong"]
    assert audit(d) == 0


def test_a_lone_surrogate_is_refused_at_the_door_not_stored_to_fail_later(fuzzed):
    """JSON may spell "\\ud800", which is no character: stored, it made every later write of the text fail."""
    d, probe = fuzzed
    ev = {"id": "sur", "kind": "sn.down", "servicenode": "sn1", "source": {"tool": "t"}, "time": "2026-11-30T06:00:00Z",
          "detail": "bad \ud800 here"}
    reply = probe.ask([b"", json.dumps({"v": 1, "op": "event", "event": ev}).encode()])
    assert reply["ok"] is False and reply["error"].startswith("$.event.detail: ") and "surrogate" in reply["error"]
    pair = dict(ev, id="pair", detail="emoji \U0001f600 fine")  # a surrogate pair is one character
    assert probe.ask([b"", json.dumps({"v": 1, "op": "event", "event": pair}).encode()])["ok"]
    assert d.wait_outcome("pair")
    assert audit(d) == 1
