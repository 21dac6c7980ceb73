"""Plugin manager factory and the typed facade the core uses.

There is no module-global plugin manager: :func:`get_plugin_manager` builds a
fresh one each time (tests build their own with ``load_entrypoints=False``).
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import TYPE_CHECKING, Any, Iterable

import pluggy

from . import PROJECT, hookspecs
from .errors import Skip

if TYPE_CHECKING:
    from .context import Context
    from .model import Event, FenceResult, Incident, NodeVerdict, Plan, ProbeResult, TakeoverResult

log = logging.getLogger(__name__)

#: Built-in plugins, in registration order. This tuple is the architecture.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "sntakeover.builtin.probes",
    "sntakeover.builtin.plan",
    "sntakeover.builtin.fence",
    "sntakeover.builtin.snmove",
    "sntakeover.builtin.parallel",
    "sntakeover.builtin.fast",
    "sntakeover.builtin.verify",
    "sntakeover.builtin.notify_log",
    # adapters, one per monitoring source (sntakeover_adapt)
    "sntakeover.adapters.alertmanager",
    "sntakeover.adapters.nagios",
    "sntakeover.adapters.icinga2",
    "sntakeover.adapters.zabbix",
    "sntakeover.adapters.monit",
    "sntakeover.adapters.regnotif",
    "sntakeover.adapters.xcatmon",
)

ENTRYPOINT_GROUP = PROJECT


def get_plugin_manager(
    *, load_entrypoints: bool = True, blocked: Iterable[str] = (), builtins: Iterable[str] | None = None
) -> pluggy.PluginManager:
    """Build a plugin manager with the specs, the built-ins and (optionally) entry points.

    :param load_entrypoints: also load third-party plugins from the ``sntakeover``
        entry-point group.
    :param blocked: plugin names (module names or entry-point names) not to register.
    """
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in blocked:
        pm.set_blocked(name)
    for modname in BUILTIN_PLUGINS if builtins is None else builtins:
        if pm.is_blocked(modname):
            continue
        pm.register(importlib.import_module(modname), name=modname)
    if load_entrypoints:
        pm.load_setuptools_entrypoints(ENTRYPOINT_GROUP)
    pm.check_pending()
    if os.environ.get("SNTAKEOVER_TRACE_PLUGINS"):
        pm.trace.root.setwriter(lambda msg: log.debug("plugin trace: %s", msg.rstrip()))
        pm.enable_tracing()
    return pm


def plugin_names(pm: pluggy.PluginManager) -> list[str]:
    """Names of the registered plugins (blocked names excluded)."""
    return sorted(name for name, plugin in pm.list_name_plugin() if plugin is not None)


class Hooks:
    """Typed calls into the plugin manager; core code never touches ``pm.hook``."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm

    # decision hooks: first result wins, exceptions propagate to the engine
    def adapt(self, source: str, payload: Any, options: dict[str, Any]) -> list[dict[str, Any]] | None:
        return self.pm.hook.sntakeover_adapt(source=source, payload=payload, options=options)

    def plan(self, incident: Incident, ctx: Context) -> Plan | None:
        return self.pm.hook.sntakeover_plan(incident=incident, ctx=ctx)

    def fence(self, incident: Incident, plan: Plan, ctx: Context) -> FenceResult | None:
        return self.pm.hook.sntakeover_fence(incident=incident, plan=plan, ctx=ctx)

    def takeover(
        self, strategy: str, incident: Incident, plan: Plan, ctx: Context, *, dry_run: bool = False
    ) -> TakeoverResult | None:
        return self.pm.hook.sntakeover_takeover(strategy=strategy, incident=incident, plan=plan, ctx=ctx, dry_run=dry_run)

    def verify(self, incident: Incident, plan: Plan, ctx: Context) -> list[NodeVerdict] | None:
        return self.pm.hook.sntakeover_verify(incident=incident, plan=plan, ctx=ctx)

    # collecting hook: configuration schemas
    def options_schemas(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """Table path -> (plugin name, JSON Schema) for every table a plugin declares.

        :raises ConfigError: two plugins claim the same table, or a plugin returned
            something that is not a table of schemas.
        """
        from .errors import ConfigError

        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for impl in reversed(self.pm.hook.sntakeover_options_schema.get_hookimpls()):
            declared = impl.function()
            if declared is None:
                continue
            if not isinstance(declared, dict) or not all(isinstance(v, dict) for v in declared.values()):
                raise ConfigError(f"plugin {impl.plugin_name}: sntakeover_options_schema must return a dict of schemas")
            for table, schema in declared.items():
                if table in out:
                    raise ConfigError(f"[{table}] is claimed by both {out[table][0]} and {impl.plugin_name}")
                out[table] = (impl.plugin_name, schema)
        return out

    # collecting hook: every probe, each isolated
    def probe(self, incident: Incident, ctx: Context) -> list[ProbeResult]:
        from .errors import Retry
        from .model import ProbeResult

        results: list[ProbeResult] = []
        for impl in reversed(self.pm.hook.sntakeover_probe.get_hookimpls()):
            kwargs = {k: v for k, v in {"incident": incident, "ctx": ctx}.items() if k in impl.argnames}
            try:
                res = impl.function(**kwargs)
            except Skip as exc:
                res = ProbeResult(impl.plugin_name, None, f"skipped: {exc}")
            except Retry as exc:
                res = ProbeResult(impl.plugin_name, None, f"transient: {exc}")
            except Exception as exc:  # noqa: BLE001 - a crashing probe is "cannot tell"
                log.exception("probe plugin %s failed", impl.plugin_name)
                res = ProbeResult(impl.plugin_name, None, f"error: {type(exc).__name__}: {exc}")
            if res is None:
                continue
            results.extend(res if isinstance(res, list) else [res])
        return results

    # notification hooks: every plugin, each isolated
    def notify(self, incident: Incident, transition: dict[str, Any], ctx: Context) -> list[str]:
        return self._isolated(self.pm.hook.sntakeover_notify, incident=incident, transition=transition, ctx=ctx)

    def event_recorded(self, event: Event, incident_id: int | None) -> list[str]:
        return self._isolated(self.pm.hook.sntakeover_event_recorded, event=event, incident_id=incident_id)

    @staticmethod
    def _isolated(caller: pluggy.HookCaller, **kwargs: Any) -> list[str]:
        """Call each implementation on its own; return the names of those that failed."""
        failed: list[str] = []
        for impl in reversed(caller.get_hookimpls()):
            try:
                impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
            except Exception:  # noqa: BLE001 - one notifier must never stop the others
                log.exception("plugin %s failed in %s", impl.plugin_name, caller.name)
                failed.append(impl.plugin_name)
        return failed
