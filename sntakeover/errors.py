"""The one place that says what an exception means.

Plugins signal outcomes by raising one of the :class:`PluginError` subclasses:

* :class:`Retry` -- a transient failure (a probe timed out, SSH dropped). The
  engine records the reason and tries the same step again later, up to the
  configured limit; past it the incident becomes ``failed``.
* :class:`Skip` -- this plugin cannot say anything here (a probe whose tool is
  not installed). The engine records it and carries on as if the plugin had
  returned ``None``.
* :class:`Abort` -- stop the incident now. It becomes ``failed`` with the
  reason; nothing more is done to any node.

Any other exception from a *decision* hook (plan, fence, takeover) is a bug in
the plugin: the incident is marked ``failed`` with the traceback logged, and the
daemon goes on with the other incidents. In a *collecting* hook (probe, verify)
it makes that plugin's answer "cannot tell". Exceptions from *notification*
hooks are logged per plugin and never stop the other notifiers or the incident.
"""

from __future__ import annotations


class SntakeoverError(Exception):
    """Base class of every error sntakeover raises on purpose."""


class ConfigError(SntakeoverError):
    """The configuration is invalid; the message names the key."""


class EventRejected(SntakeoverError):
    """An event failed validation. ``path`` is a JSON path such as ``$.servicenode``."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class StoreError(SntakeoverError):
    """The durable store could not be opened or written."""


class StaleLeader(StoreError):
    """The store refused an xCAT command: another daemon has taken the lead (a newer fencing token)."""


class AlreadyRunning(SntakeoverError):
    """Another daemon already owns the lock for this endpoint/state directory."""


class PluginError(SntakeoverError):
    """Base of the plugin exception contract (see module docstring)."""


class Retry(PluginError):
    """Transient failure: try the step again later."""


class Skip(PluginError):
    """This plugin has nothing to say for this incident."""


class Abort(PluginError):
    """Stop the incident: it becomes ``failed`` with this reason."""
