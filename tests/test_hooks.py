"""Each hook as a third-party plugin meets it: calling convention, isolation, wrappers."""

from __future__ import annotations


import pluggy
import pytest

from sntakeover import hookimpl
from sntakeover.config import build
from sntakeover.context import Context
from sntakeover.errors import ConfigError
from sntakeover.intake import Intake
from sntakeover.model import FenceResult, Incident, NodeMove, Plan, ProbeResult, State, TakeoverResult
from sntakeover.pluginload import PluginLoadError
from sntakeover.plugins import Hooks, get_plugin_manager
from sntakeover.runner import LocalRunner
from sntakeover.store import Store
from sntakeover.validation import load_validators

INC = Incident(1, "sn1", State.CONFIRMED, "2026-01-01T00:00:00Z")
PLAN = Plan((NodeMove("cn1", "sn1", "sn2", "sn1,sn2"), NodeMove("cn2", "sn1", "sn2", "sn1,sn2")))


def manager(*plugins, builtins=()):
    pm = get_plugin_manager(load_entrypoints=False, builtins=builtins)
    for i, p in enumerate(plugins):
        pm.register(p, name=f"p{i}")
    return pm


def ctx(raw=None):
    return Context(build(raw or {}), LocalRunner())


EVENT = {"id": "mytool:1", "kind": "sn.down", "servicenode": "sn1", "source": {"tool": "mytool"},
         "time": "2026-03-04T10:15:42Z", "state_type": "hard"}


def test_hook_sntakeover_adapt_a_plugin_adds_a_source_and_a_wrapper_sees_its_result(tmp_path):
    class MyTool:
        @hookimpl
        def sntakeover_adapt(self, source, payload):
            return [dict(EVENT, id=f"mytool:{payload['n']}")] if source == "mytool" else None

    class Tag:
        @hookimpl(wrapper=True)
        def sntakeover_adapt(self, source):
            events = yield
            return [dict(e, detail=f"via {source}") for e in events] if events is not None else None

    pm = get_plugin_manager(load_entrypoints=False)
    pm.register(MyTool(), name="mytool")
    pm.register(Tag(), name="tag")
    intake = Intake(build({}), Store(tmp_path / "s.db"), load_validators(), Hooks(pm))
    [ev] = intake.adapt("mytool", {"n": 7})
    assert ev.id == "mytool:7" and ev.detail == "via mytool"
    # the built-in adapters still answer their own sources, through the same wrapper
    assert intake.adapt("xcatmon", {"statuses": [{"node": "sn1", "status": "noping"}], "time": 1772619342})[0].detail \
        == "via xcatmon"


def test_hook_sntakeover_probe_takes_one_result_or_a_list():
    class One:
        @hookimpl
        def sntakeover_probe(self, servicenode):
            return ProbeResult("ipmi", True, f"{servicenode} power off")

    class Many:
        @hookimpl
        def sntakeover_probe(self, incident, ctx):
            return [ProbeResult("ping", True, "no reply"), ProbeResult("snmp", None, "no agent")]

    class Silent:
        @hookimpl
        def sntakeover_probe(self):
            return None

    res = Hooks(manager(One(), Many(), Silent())).probe("sn1", "failed", INC, ctx())
    assert sorted((r.probe, r.down) for r in res) == [("ipmi", True), ("ping", True), ("snmp", None)]


def test_hook_sntakeover_plan_first_answer_wins_and_errors_fail_loudly():
    mine = Plan((NodeMove("cn9", "sn1", "sn3", "sn1,sn3"),))

    class Mine:
        @hookimpl(tryfirst=True)
        def sntakeover_plan(self, incident):
            return mine if incident.servicenode == "sn1" else None

    class Never:
        @hookimpl
        def sntakeover_plan(self):
            raise AssertionError("asked after a plugin already decided")

    assert Hooks(manager(Never(), Mine())).plan(INC, ctx()) is mine

    class Bad:
        @hookimpl
        def sntakeover_plan(self, incident, ctx):
            raise KeyError("boom")

    with pytest.raises(KeyError):
        Hooks(manager(Bad())).plan(INC, ctx())


def test_hook_sntakeover_fence_a_plugin_fences_and_the_builtin_stays_out_unless_configured():
    class Pdu:
        @hookimpl
        def sntakeover_fence(self, incident, plan, ctx):
            return FenceResult("pdu", True, f"outlet of {incident.servicenode} off") \
                if ctx.config.get("fence", "method") == "pdu" else None

    builtin = ("sntakeover.builtin.fence",)
    # fence.method names a method no plugin has: nobody answers (the engine then applies fence.policy)
    assert Hooks(manager(builtins=builtin)).fence(INC, PLAN, ctx({"fence": {"method": "pdu"}})) is None
    res = Hooks(manager(Pdu(), builtins=builtin)).fence(INC, PLAN, ctx({"fence": {"method": "pdu"}}))
    assert res == FenceResult("pdu", True, "outlet of sn1 off")  # the built-in rpower plugin stays out


def test_hook_sntakeover_takeover_dispatches_on_the_strategy_and_passes_dry_run():
    calls = []

    class Custom:
        @hookimpl
        def sntakeover_takeover(self, strategy, plan, dry_run):
            if strategy != "custom":
                return None
            calls.append(dry_run)
            return TakeoverResult("custom", tuple(("mover", n) for n in plan.nodes))

    hooks = Hooks(manager(Custom(), builtins=("sntakeover.builtin.snmove",)))
    res = hooks.takeover("custom", INC, PLAN, ctx(), dry_run=True)
    assert res.commands == (("mover", "cn1"), ("mover", "cn2")) and calls == [True]
    snmove = hooks.takeover("snmove", INC, PLAN, ctx(), dry_run=True)
    assert snmove.strategy == "snmove" and snmove.commands == (("snmove", "cn1,cn2", "-d", "sn2"),)
    assert hooks.takeover("nobody", INC, PLAN, ctx(), dry_run=True) is None


def test_hook_sntakeover_options_schema_each_table_has_one_owner():
    class A:
        @hookimpl
        def sntakeover_options_schema(self):
            return {"plugins.pager": {"type": "object"}}

    class B:
        @hookimpl
        def sntakeover_options_schema(self):
            return {"plugins.pager": {"type": "object"}}

    class Wrong:
        @hookimpl
        def sntakeover_options_schema(self):
            return ["not", "a", "dict"]

    assert Hooks(manager(A())).options_schemas() == {"plugins.pager": ("p0", {"type": "object"})}
    with pytest.raises(ConfigError, match=r"\[plugins.pager\] is claimed by both p[01] and p[01]"):
        Hooks(manager(A(), B())).options_schemas()
    with pytest.raises(ConfigError, match="p0: sntakeover_options_schema must return a dict of schemas"):
        Hooks(manager(Wrong())).options_schemas()


def test_a_wrapper_on_an_isolated_hook_is_refused_at_registration_with_a_clear_error():
    class Wrapping:
        @hookimpl(wrapper=True)
        def sntakeover_notify(self, incident):
            return (yield)

    class OldStyle:
        @hookimpl(hookwrapper=True)
        def sntakeover_verify(self, plan):
            yield

    pm = get_plugin_manager(load_entrypoints=False, builtins=())
    for plugin, hook in ((Wrapping(), "sntakeover_notify"), (OldStyle(), "sntakeover_verify")):
        with pytest.raises(pluggy.PluginValidationError, match=f"{hook} is called for each plugin on its own"):
            pm.register(plugin, name="w")
        assert pm.get_plugin("w") is None  # nothing half-registered


def test_an_implementation_of_a_name_that_is_not_a_hook_is_refused():
    class Typo:
        @hookimpl
        def sntakeover_notfy(self, incident):
            pass

    pm = get_plugin_manager(load_entrypoints=False, builtins=())
    with pytest.raises(pluggy.PluginValidationError, match="sntakeover_notfy is not an sntakeover hook"):
        pm.register(Typo(), name="typo")


def test_a_broken_optional_builtin_is_left_out_but_a_required_one_stops_the_daemon(monkeypatch, tmp_path):
    (tmp_path / "snt_missing_dep.py").write_text("import smtplib_that_does_not_exist\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    pm = get_plugin_manager(load_entrypoints=False, builtins=("sntakeover.builtin.notify_log", "snt_missing_dep"))
    assert "snt_missing_dep" in pm.failures and pm.get_plugin("sntakeover.builtin.notify_log") is not None
    monkeypatch.setattr("sntakeover.pluginload.REQUIRED_PLUGINS", frozenset({"snt_missing_dep"}))
    with pytest.raises(PluginLoadError, match="required built-in plugin snt_missing_dep cannot be loaded"):
        get_plugin_manager(load_entrypoints=False, builtins=("snt_missing_dep",))
