"""The plugin exception contract (sntakeover/errors.py), through the real engine, for every decision hook.

Skip asks the next plugin; Retry backs off (engine.retry_limit times, engine.retry_delay doubling) and
then fails with the reason; Abort fails the incident with the plugin's reason; any other exception fails
it naming the plugin. Probes and notifiers are isolated.
"""

from __future__ import annotations

import pytest
from support import EngineRun, event

from sntakeover import hookimpl
from sntakeover.errors import Abort, Retry, Skip
from sntakeover.model import NodeVerdict, TakeoverResult


@pytest.fixture
def run(tmp_path, sim):
    made = []

    def make(plugins=(), config=None):
        s = sim()
        s.fail("sn1")
        d = tmp_path / f"e{len(made)}"
        d.mkdir()
        r = EngineRun(d, s, plugins=plugins, config=config)
        r.sim = s
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def go(r):
    r.send(event("sn1"))
    return r.state("sn1")


class Raises:
    """A plugin whose hook raises ``exc`` the first ``times`` calls (0 = always), then answers None."""

    def __init__(self, hook, exc, times=0):
        self.calls = 0

        def impl(*args, **kw):
            self.calls += 1
            if not times or self.calls <= times:
                raise exc
            return None

        impl.__name__ = hook
        setattr(self, hook, hookimpl(tryfirst=True)(impl))


@pytest.mark.parametrize("hook", ["sntakeover_plan", "sntakeover_fence", "sntakeover_takeover"])
def test_skip_asks_the_next_plugin(run, hook):
    p = Raises(hook, Skip("not my kind of cluster"))
    r = run(plugins=(p,), config={"fence": {"policy": "require"}})
    inc = go(r)
    assert inc["state"] == "done", inc["reason"]
    assert p.calls >= 1  # it was asked, said skip, and the built-in answered


def test_skip_from_a_verifier_says_nothing_about_the_nodes(run):
    class Quiet:
        @hookimpl
        def sntakeover_verify(self, plan):
            raise Skip("no report postscript here")

    r = run(plugins=(Quiet(),))
    assert go(r)["state"] == "done"


@pytest.mark.parametrize("hook,step", [("sntakeover_plan", "confirmed"), ("sntakeover_fence", "fencing"),
                                       ("sntakeover_takeover", "moving")])
def test_retry_backs_off_then_goes_on(run, hook, step):
    p = Raises(hook, Retry("database busy"), times=2)
    r = run(plugins=(p,), config={"fence": {"policy": "require"}, "engine": {"retry_limit": 3}})
    inc = go(r)
    assert inc["state"] == "done", inc["reason"]
    notes = r.timeline(inc["id"])
    assert any(f"transient failure 1/3 in {step} from test-plugin-0: database busy" in n for n in notes), notes
    assert any(f"transient failure 2/3 in {step}" in n for n in notes)


def test_retry_past_the_configured_limit_fails_with_the_reason(run):
    p = Raises("sntakeover_plan", Retry("lsdef cannot reach the database"))
    r = run(plugins=(p,), config={"engine": {"retry_limit": 1, "retry_delay": 0.01}})
    inc = go(r)
    assert inc["state"] == "failed"
    assert "gave up in confirmed after 2 transient failures (engine.retry_limit = 1)" in inc["reason"]
    assert "test-plugin-0: lsdef cannot reach the database" in inc["reason"]
    assert p.calls == 2
    assert r.sim.calls("snmove") == []


def test_retry_from_a_verifier_means_could_not_tell(run):
    p = Raises("sntakeover_verify", Retry("xdsh timed out"))
    r = run(plugins=(p,), config={"verify": {"retries": 0}})
    inc = go(r)
    assert inc["state"] == "failed" and "none of" in inc["reason"]


@pytest.mark.parametrize("hook,step", [("sntakeover_plan", "confirmed"), ("sntakeover_fence", "fencing"),
                                       ("sntakeover_takeover", "moving"), ("sntakeover_verify", "verifying")])
def test_abort_fails_with_the_plugins_reason(run, hook, step):
    p = Raises(hook, Abort("a human locked this SN"))
    r = run(plugins=(p,), config={"fence": {"policy": "require"}})
    inc = go(r)
    assert inc["state"] == "failed"
    assert inc["reason"] == f"stopped by test-plugin-0 in {step}: a human locked this SN"
    if step in ("confirmed", "fencing"):
        assert r.sim.calls("snmove") == []


def test_a_plugin_bug_fails_the_incident_naming_the_plugin(run):
    p = Raises("sntakeover_fence", KeyError("oops"))
    r = run(plugins=(p,), config={"fence": {"policy": "require"}})
    inc = go(r)
    assert inc["state"] == "failed"
    assert inc["reason"] == "internal error in plugin test-plugin-0: KeyError: 'oops'"
    assert r.sim.calls("snmove") == []


def test_a_failing_notifier_never_stops_the_takeover(run):
    p = Raises("sntakeover_notify", RuntimeError("smtp down"))
    r = run(plugins=(p,))
    inc = go(r)
    assert inc["state"] == "done"
    r.until(lambda: any("notifier test-plugin-0 failed" in n for n in r.timeline(inc["id"])))


def test_a_custom_strategy_and_verifier_answer_in_their_turn(run):
    seen = []

    class Mine:
        @hookimpl
        def sntakeover_takeover(self, strategy, plan, dry_run):
            if strategy != "mine":
                return None
            seen.append(plan.nodes)
            return TakeoverResult("mine", (("true",),))

        @hookimpl
        def sntakeover_verify(self, plan):
            return [NodeVerdict(n, True, verifier="mine") for n in plan.nodes]

    r = run(plugins=(Mine(),), config={"takeover": {"strategy": "mine"}})
    inc = go(r)
    # the custom strategy moved nothing, so the database verifier fails every node: the verdicts combine
    assert seen and inc["state"] == "failed"
    assert r.sim.calls("snmove") == []
