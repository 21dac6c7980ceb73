"""Plugin manager factory and the typed facade the core uses.

There is no module-global plugin manager: :func:`get_plugin_manager` builds a
fresh one each time (tests build their own with ``load_entrypoints=False``).
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any, Callable, Iterable

import pluggy

from .errors import Skip
from .pluginload import PluginManager, load_plugins

if TYPE_CHECKING:
    from .context import Context
    from .model import Event, FenceResult, Incident, NodeVerdict, Plan, ProbeResult, TakeoverResult

log = logging.getLogger(__name__)

#: Built-in plugins, in registration order. This tuple is the architecture.
BUILTIN_PLUGINS: tuple[str, ...] = (
    # probes, each an independent look at an SN (sntakeover_probe)
    "sntakeover.builtin.probe_xcatd",
    "sntakeover.builtin.probe_nodestat",
    "sntakeover.builtin.probe_xdsh",
    "sntakeover.builtin.probe_rpower",
    "sntakeover.builtin.probe_nodepath",
    "sntakeover.builtin.plan",
    "sntakeover.builtin.fence",
    "sntakeover.builtin.snmove",
    "sntakeover.builtin.parallel",
    "sntakeover.builtin.fast",
    "sntakeover.builtin.verify",
    "sntakeover.builtin.verify_node",
    "sntakeover.builtin.verify_reach",
    "sntakeover.builtin.verify_report",
    "sntakeover.builtin.notify_log",
    "sntakeover.builtin.notify_syslog",
    "sntakeover.builtin.notify_email",
    "sntakeover.builtin.notify_webhook",
    "sntakeover.builtin.notify_exec",
    # adapters, one per monitoring source (sntakeover_adapt)
    "sntakeover.adapters.alertmanager",
    "sntakeover.adapters.nagios",
    "sntakeover.adapters.icinga2",
    "sntakeover.adapters.zabbix",
    "sntakeover.adapters.monit",
    "sntakeover.adapters.regnotif",
    "sntakeover.adapters.xcatmon",
)


def get_plugin_manager(
    *, load_entrypoints: bool = True, blocked: Iterable[str] = (), builtins: Iterable[str] | None = None
) -> PluginManager:
    """Build a plugin manager with the specs, the built-ins and (optionally) entry points.

    Each plugin is loaded on its own (:mod:`sntakeover.pluginload`): one that
    fails to import or to register is left out and listed in ``pm.failures``.

    :param load_entrypoints: also load third-party plugins from the ``sntakeover``
        entry-point group.
    :param blocked: plugin names (module names or entry-point names) not to register.
    :param builtins: module names instead of :data:`BUILTIN_PLUGINS` (tests).
    :raises PluginLoadError: a required built-in plugin failed to load.
    """
    pm = load_plugins(BUILTIN_PLUGINS if builtins is None else builtins, load_entrypoints=load_entrypoints,
                      blocked=blocked)
    pm.check_pending()
    if os.environ.get("SNTAKEOVER_TRACE_PLUGINS"):
        pm.trace.root.setwriter(lambda msg: log.debug("plugin trace: %s", msg.rstrip()))
        pm.enable_tracing()
    return pm


def _contract(function: Any, plugin: str, hook: str) -> Any:
    """Wrap one hookimpl of a decision hook: Skip -> None, other exceptions carry the plugin's name."""

    def call(*args: Any) -> Any:
        try:
            return function(*args)
        except Skip as exc:
            log.info("plugin %s skipped %s: %s", plugin, hook, exc)
            return None
        except Exception as exc:
            if getattr(exc, "plugin", None) is None:
                try:
                    exc.plugin = plugin  # type: ignore[attr-defined]
                except AttributeError:
                    pass
            raise

    call._sntakeover_contract = True  # type: ignore[attr-defined]
    call.__wrapped__ = function  # type: ignore[attr-defined]
    return call


def plugin_names(pm: pluggy.PluginManager) -> list[str]:
    """Names of the registered plugins (blocked names excluded)."""
    return sorted(name for name, plugin in pm.list_name_plugin() if plugin is not None)


class Hooks:
    """Typed calls into the plugin manager; core code never touches ``pm.hook``."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        #: told about every probe result and notifier failure (the daemon counts them: metrics)
        self.observe: Callable[..., None] = lambda kind, **labels: None

    # decision hooks: the first plugin that answers decides; Skip asks the next one;
    # Retry and Abort (and bugs) propagate to the engine, which applies errors.py
    def adapt(self, source: str, payload: Any, options: dict[str, Any]) -> list[dict[str, Any]] | None:
        return self.pm.hook.sntakeover_adapt(source=source, payload=payload, options=options)

    def plan(self, incident: Incident, ctx: Context) -> Plan | None:
        return self._first(self.pm.hook.sntakeover_plan, incident=incident, ctx=ctx)

    def fence(self, incident: Incident, plan: Plan, ctx: Context) -> FenceResult | None:
        return self._first(self.pm.hook.sntakeover_fence, incident=incident, plan=plan, ctx=ctx)

    def takeover(
        self, strategy: str, incident: Incident, plan: Plan, ctx: Context, *, dry_run: bool = False
    ) -> TakeoverResult | None:
        return self._first(self.pm.hook.sntakeover_takeover, strategy=strategy, incident=incident, plan=plan,
                           ctx=ctx, dry_run=dry_run)

    def node_steps(self, strategy: str, incident: Incident, plan: Plan, ctx: Context) -> TakeoverResult | None:
        return self._first(self.pm.hook.sntakeover_node_steps, strategy=strategy, incident=incident, plan=plan, ctx=ctx)

    # collecting hook: every verifier, each isolated
    def verify(self, incident: Incident, plan: Plan, ctx: Context, takeover_errors: dict[str, str]) -> list[NodeVerdict]:
        """Every verifier's verdicts, each named (``NodeVerdict.verifier``).

        A verifier that raises :class:`~sntakeover.errors.Retry` or crashes gives
        ``ok=None`` ("could not tell") for every planned node, so those nodes are
        not verified this round; :class:`~sntakeover.errors.Skip` gives nothing;
        :class:`~sntakeover.errors.Abort` propagates (the incident fails).
        """
        from dataclasses import replace

        from .errors import Abort, Retry
        from .model import NodeVerdict

        args = {"incident": incident, "plan": plan, "ctx": ctx, "takeover_errors": dict(takeover_errors)}
        out: list[NodeVerdict] = []
        for impl in reversed(self.pm.hook.sntakeover_verify.get_hookimpls()):
            name = getattr(impl.plugin, "VERIFIER", None) or impl.plugin_name
            try:
                res = impl.function(**{k: v for k, v in args.items() if k in impl.argnames})
            except Abort as exc:
                if getattr(exc, "plugin", None) is None:
                    exc.plugin = impl.plugin_name  # type: ignore[attr-defined]
                raise
            except Skip:
                continue
            except Retry as exc:
                res = [NodeVerdict(n, None, detail=f"transient: {exc}") for n in plan.nodes]
            except Exception as exc:  # noqa: BLE001 - a crashing verifier is "could not tell"
                log.exception("verifier %s failed", impl.plugin_name)
                res = [NodeVerdict(n, None, detail=f"error: {type(exc).__name__}: {exc}") for n in plan.nodes]
            for v in res or ():
                out.append(v if v.verifier else replace(v, verifier=name))
        return out

    @staticmethod
    def _first(caller: pluggy.HookCaller, **kwargs: Any) -> Any:
        """firstresult through pluggy (so ``wrapper=True`` hookimpls run), with the exception contract:
        a plugin raising Skip is passed over as if it had returned ``None``; any other
        exception propagates with the plugin's name in ``exc.plugin``, so the incident's
        timeline can say who stopped it."""
        for impl in caller.get_hookimpls():
            if not (impl.wrapper or impl.hookwrapper or getattr(impl.function, "_sntakeover_contract", False)):
                impl.function = _contract(impl.function, impl.plugin_name, caller.name)
        return caller(**kwargs)

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
    def probe(self, servicenode: str, role: str, incident: Incident, ctx: Context) -> list[ProbeResult]:
        """One look by every probe plugin; a probe that raises says "cannot tell", never "down"."""
        from .errors import Retry
        from .model import ProbeResult

        kwargs = {"servicenode": servicenode, "role": role, "incident": incident, "ctx": ctx}
        results: list[ProbeResult] = []
        for impl in reversed(self.pm.hook.sntakeover_probe.get_hookimpls()):
            try:
                res = impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
            except Skip:
                continue
            except Retry as exc:
                res = ProbeResult(impl.plugin_name, None, f"cannot tell: transient: {exc}")
            except Exception as exc:  # noqa: BLE001 - a crashing probe is "cannot tell"
                log.exception("probe plugin %s failed", impl.plugin_name)
                res = ProbeResult(impl.plugin_name, None, f"cannot tell: probe error {type(exc).__name__}: {exc}")
            for one in (res if isinstance(res, list) else [res] if res is not None else []):
                if not isinstance(one, ProbeResult):
                    log.error("probe plugin %s returned %r, not a ProbeResult", impl.plugin_name, one)
                    one = ProbeResult(impl.plugin_name, None, "cannot tell: the probe returned something unusable")
                results.append(one)
        for one in results:
            self.observe("probe", probe=one.probe, down=one.down, servicenode=servicenode)
        return results

    # notification hooks: every plugin, each isolated. The notifier thread
    # (sntakeover.outbox) calls them one plugin at a time, with a timeout.
    def notify(
        self, incident: Incident, transition: dict[str, Any], ctx: Context, *,
        plugin: str | None = None, errors: dict[str, BaseException] | None = None,
    ) -> list[str]:
        failed = self._isolated(self.pm.hook.sntakeover_notify, plugin, errors,
                                incident=incident, transition=transition, ctx=ctx)
        for name in failed:
            self.observe("notifier_failure", notifier=name)
        return failed

    def event_recorded(
        self, event: Event, incident_id: int | None, *,
        plugin: str | None = None, errors: dict[str, BaseException] | None = None,
    ) -> list[str]:
        return self._isolated(self.pm.hook.sntakeover_event_recorded, plugin, errors,
                              event=event, incident_id=incident_id)

    def notification_plugins(self) -> dict[str, set[str]]:
        """Plugin name -> the notification hooks it implements (``notify``, ``event_recorded``)."""
        out: dict[str, set[str]] = {}
        for hook, caller in (("notify", self.pm.hook.sntakeover_notify),
                             ("event_recorded", self.pm.hook.sntakeover_event_recorded)):
            for impl in caller.get_hookimpls():
                out.setdefault(impl.plugin_name, set()).add(hook)
        return out

    # collecting hook: the programs plugins run
    def takeover_strategies(self) -> tuple[set[str], list[str]]:
        """The strategy names the plugins declare, and the plugins that implement
        ``sntakeover_takeover`` without declaring theirs (then any name may be theirs)."""
        from .errors import ConfigError

        names: set[str] = set()
        declaring = set()
        for impl in self.pm.hook.sntakeover_takeover_strategies.get_hookimpls():
            got = impl.function()
            if got is not None and (isinstance(got, str) or not all(isinstance(n, str) and n for n in got)):
                raise ConfigError(f"plugin {impl.plugin_name}: sntakeover_takeover_strategies must return names")
            names.update(got or ())
            declaring.add(impl.plugin_name)
        silent = sorted(i.plugin_name for i in self.pm.hook.sntakeover_takeover.get_hookimpls()
                        if i.plugin_name not in declaring)
        return names, silent

    def required_commands(self, config: Any) -> dict[str, list[str]]:
        """Command name -> the plugins that need it, for this configuration."""
        from .errors import ConfigError

        out: dict[str, list[str]] = {}
        for impl in reversed(self.pm.hook.sntakeover_required_commands.get_hookimpls()):
            kwargs = {"config": config} if "config" in impl.argnames else {}
            names = impl.function(**kwargs)
            if names is None:
                continue
            if isinstance(names, str) or not all(isinstance(n, str) and n and "/" not in n for n in names):
                raise ConfigError(f"plugin {impl.plugin_name}: sntakeover_required_commands must return command names")
            for name in names:
                out.setdefault(name, []).append(impl.plugin_name)
        return out

    @staticmethod
    def _isolated(
        caller: pluggy.HookCaller, only: str | None = None, errors: dict[str, BaseException] | None = None, **kwargs: Any
    ) -> list[str]:
        """Call each implementation (or only ``only``) on its own; return the names of those that failed."""
        failed: list[str] = []
        for impl in reversed(caller.get_hookimpls()):
            if only is not None and impl.plugin_name != only:
                continue
            try:
                impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
            except Exception as exc:  # noqa: BLE001 - one notifier must never stop the others
                log.exception("plugin %s failed in %s", impl.plugin_name, caller.name)
                failed.append(impl.plugin_name)
                if errors is not None:
                    errors[impl.plugin_name] = exc
        return failed
