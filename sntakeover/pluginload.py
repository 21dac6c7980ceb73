"""Loading plugins so that one broken plugin cannot stop failover.

:class:`PluginManager` is pluggy's manager plus two checks at registration and
a record of what happened:

* an implementation of a name that is not a hook (a typo such as
  ``sntakeover_notfy``) is refused, naming the plugin and the hook;
* a ``wrapper=True`` or ``hookwrapper=True`` implementation of a hook that the
  core calls once per plugin, each isolated (:data:`ISOLATED_HOOKS`), is
  refused: it could never wrap anything there. Wrappers of the decision hooks
  (``firstresult``: adapt, plan, fence, takeover) run as pluggy runs them.

:func:`load_plugins` imports and registers each plugin on its own. A plugin
that fails to import or to register is logged, kept in
:attr:`PluginManager.failures` (``sntakeover plugins`` and ``status`` show
them) and left out, and the daemon starts without it, unless it is one of
:data:`REQUIRED_PLUGINS`: without those no takeover can run, so that is a
:class:`PluginLoadError`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from typing import Any, Callable, Iterable

import pluggy

from . import PROJECT, hookspecs
from .errors import SntakeoverError

log = logging.getLogger(__name__)

ENTRYPOINT_GROUP = PROJECT

#: built-ins without which no incident can be driven: failing to load one stops the daemon
REQUIRED_PLUGINS = frozenset({
    "sntakeover.builtin.plan",
    "sntakeover.builtin.fence",
    "sntakeover.builtin.snmove",
    "sntakeover.builtin.parallel",
    "sntakeover.builtin.verify",
})

#: hooks the typed facade (:class:`sntakeover.plugins.Hooks`) calls one implementation at a time
ISOLATED_HOOKS = frozenset({
    "sntakeover_options_schema",
    "sntakeover_event_recorded",
    "sntakeover_probe",
    "sntakeover_verify",
    "sntakeover_notify",
    "sntakeover_required_commands",
    "sntakeover_takeover_strategies",
})


class PluginLoadError(SntakeoverError):
    """A required built-in plugin could not be loaded."""


class PluginManager(pluggy.PluginManager):
    """pluggy's manager with the registration checks above.

    :ivar failures: plugin name -> why it was not loaded.
    :ivar sources: plugin name -> ``built-in`` or ``<distribution> <version>``.
    """

    def __init__(self) -> None:
        super().__init__(PROJECT)
        self.failures: dict[str, str] = {}
        self.sources: dict[str, str] = {}

    def register(self, plugin: Any, name: str | None = None) -> str | None:
        name = super().register(plugin, name)
        if name is None:  # blocked
            return None
        try:
            self._check(plugin, name)
        except pluggy.PluginValidationError:
            self.unregister(plugin)
            raise
        return name

    def _check(self, plugin: Any, name: str) -> None:
        for caller in self.get_hookcallers(plugin) or []:
            impls = [i for i in caller.get_hookimpls() if i.plugin is plugin]
            if not caller.has_spec():
                if any(not i.optionalhook for i in impls):
                    known = ", ".join(sorted(n for n in dir(hookspecs) if n.startswith("sntakeover_")))
                    raise pluggy.PluginValidationError(
                        plugin, f"plugin {name}: {caller.name} is not an sntakeover hook (known hooks: {known})")
            elif caller.name in ISOLATED_HOOKS and any(i.wrapper or i.hookwrapper for i in impls):
                raise pluggy.PluginValidationError(
                    plugin, f"plugin {name}: {caller.name} is called for each plugin on its own (isolated), so a "
                            "wrapper=True or hookwrapper=True implementation of it would never run; "
                            "implement it as a plain hook")

    def hooks_of(self, name: str) -> list[str]:
        """The hooks the plugin registered under ``name`` implements."""
        plugin = self.get_plugin(name)
        return sorted(c.name for c in self.get_hookcallers(plugin) or []) if plugin is not None else []


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _load(pm: PluginManager, name: str, make: Callable[[], Any], *, required: bool, source: str) -> None:
    try:
        plugin = make()
        pm.register(plugin, name=name)
    except Exception as exc:  # noqa: BLE001 - a third-party plugin can raise anything on import
        if required:
            raise PluginLoadError(f"required built-in plugin {name} cannot be loaded: {_why(exc)}") from exc
        pm.failures[name] = f"{source}: {_why(exc)}"
        log.error("plugin %s (%s) not loaded: %s", name, source, _why(exc))
        return
    pm.sources[name] = source


def load_plugins(builtins: Iterable[str], *, load_entrypoints: bool, blocked: Iterable[str] = ()) -> PluginManager:
    """A manager with the specs, the ``builtins`` (module names) and, optionally, the entry points.

    :raises PluginLoadError: a plugin of :data:`REQUIRED_PLUGINS` failed.
    """
    pm = PluginManager()
    pm.add_hookspecs(hookspecs)
    for name in blocked:
        pm.set_blocked(name)
    for modname in builtins:
        if not pm.is_blocked(modname):
            _load(pm, modname, lambda m=modname: importlib.import_module(m),
                  required=modname in REQUIRED_PLUGINS, source="built-in")
    if load_entrypoints:
        for ep in importlib.metadata.entry_points(group=ENTRYPOINT_GROUP):
            if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name) or ep.name in pm.failures:
                continue
            dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist is not None else "unknown distribution"
            _load(pm, ep.name, ep.load, required=False, source=f"{dist}, entry point {ep.value}")
    return pm
