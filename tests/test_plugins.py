"""Plugin manager: fresh per call, built-ins from one tuple, isolation of notifiers."""

import pytest

from sntakeover import hookimpl
from sntakeover.config import build
from sntakeover.context import Context
from sntakeover.errors import Retry, Skip
from sntakeover.model import Incident, ProbeResult, State
from sntakeover.plugins import BUILTIN_PLUGINS, Hooks, get_plugin_manager, plugin_names
from sntakeover.runner import LocalRunner

INC = Incident(1, "sn1", State.CONFIRMING, "2026-01-01T00:00:00Z")


def test_each_call_builds_a_fresh_manager():
    a = get_plugin_manager(load_entrypoints=False)
    b = get_plugin_manager(load_entrypoints=False)
    assert a is not b
    assert set(plugin_names(a)) == set(BUILTIN_PLUGINS)


def test_blocked_builtin_is_not_registered():
    pm = get_plugin_manager(load_entrypoints=False, blocked=["sntakeover.builtin.probe_xdsh"])
    assert "sntakeover.builtin.probe_xdsh" not in set(plugin_names(pm))


def test_one_failing_notifier_does_not_stop_the_others():
    seen = []

    class Broken:
        @hookimpl
        def sntakeover_notify(self, incident, transition):
            raise RuntimeError("smtp down")

    class Good:
        @hookimpl
        def sntakeover_notify(self, incident, transition, ctx):
            seen.append((incident.id, transition["to"]))

    pm = get_plugin_manager(load_entrypoints=False, builtins=())
    pm.register(Good(), name="good")
    pm.register(Broken(), name="broken")
    ctx = Context(build({}), LocalRunner())
    failed = Hooks(pm).notify(INC, {"from": "detected", "to": "confirming", "reason": "x", "time": "t"}, ctx)
    assert failed == ["broken"]
    assert seen == [(1, "confirming")]


def test_probes_are_isolated_and_errors_become_cannot_tell():
    class Down:
        @hookimpl
        def sntakeover_probe(self, incident):
            return ProbeResult("down", True, "noping")

    class Crash:
        @hookimpl
        def sntakeover_probe(self):
            raise ValueError("bug")

    class Flaky:
        @hookimpl
        def sntakeover_probe(self):
            raise Retry("ssh dropped")

    class NotHere:
        @hookimpl
        def sntakeover_probe(self):
            raise Skip("no ipmitool")

    pm = get_plugin_manager(load_entrypoints=False, builtins=())
    for p in (Down(), Crash(), Flaky(), NotHere()):
        pm.register(p)
    res = Hooks(pm).probe("sn1", "failed", INC, Context(build({}), LocalRunner()))
    assert [r.down for r in res].count(True) == 1
    assert sorted((r.down is True, r.detail.split(" (")[0]) for r in res) == [
        (False, "cannot tell: probe error ValueError: bug"),
        (False, "cannot tell: transient: ssh dropped"),
        (True, "noping"),
    ]  # Skip says nothing at all


def test_decision_hooks_fail_loudly():
    class Bad:
        @hookimpl
        def sntakeover_plan(self, incident, ctx):
            raise KeyError("boom")

    pm = get_plugin_manager(load_entrypoints=False, builtins=())
    pm.register(Bad())
    with pytest.raises(KeyError):
        Hooks(pm).plan(INC, Context(build({}), LocalRunner()))


def test_entrypoint_plugins_are_loaded(tmp_path, monkeypatch):
    dist = tmp_path / "sntk_extra-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sntk-extra\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[sntakeover]\nextra = sntk_extra_plugin\n")
    (tmp_path / "sntk_extra_plugin.py").write_text(
        "from sntakeover import hookimpl\n@hookimpl\ndef sntakeover_notify(incident, transition):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    pm = get_plugin_manager(load_entrypoints=True)
    assert "extra" in set(plugin_names(pm))
    pm2 = get_plugin_manager(load_entrypoints=True, blocked=["extra"])
    assert "extra" not in set(plugin_names(pm2))
