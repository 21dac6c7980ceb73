"""Hook specifications: what a plugin can implement.

Every hook is called with keyword arguments; an implementation may accept any
subset of them. The calling convention is written in each docstring:

* *decision* hooks are ``firstresult``: the first plugin that returns something
  other than ``None`` decides, later ones are not called. A plugin that does not
  handle the case returns ``None``. Exceptions follow :mod:`sntakeover.errors`.
* *collecting* hooks (``sntakeover_probe``) call every plugin; each plugin is
  isolated, so one crashing probe is recorded as "cannot tell".
* *notification* hooks (``sntakeover_notify``) call every plugin, each isolated:
  one failing notifier never stops the others or the incident.

``ctx`` is a :class:`sntakeover.context.Context`: the configuration, the runner
for xCAT commands on the MN, and ``ctx.note(text)`` to add a line to the
incident's timeline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

from . import PROJECT

if TYPE_CHECKING:
    from .context import Context
    from .model import Event, FenceResult, Incident, NodeVerdict, Plan, ProbeResult, TakeoverResult

hookspec = pluggy.HookspecMarker(PROJECT)


# -- configuration ------------------------------------------------------------


@hookspec
def sntakeover_options_schema() -> dict[str, dict[str, Any]] | None:
    """Collecting hook: JSON Schemas of the configuration tables a plugin reads.

    Every plugin is called. A plugin returns a dict that maps the dotted path
    of each table it owns (``"adapters.xcatmon"``, ``"plugins.smtp"``) to a
    JSON Schema (draft 2020-12) for that table, or ``None``. The daemon and
    ``sntakeover check-config`` validate each table of the configuration file
    against its schema before anything starts, so a wrong option is refused
    with its path (``adapters.xcatmon.bucket: 'fifteen' is not of type
    'integer'``) instead of failing every request later. Two plugins claiming
    the same table is a configuration error.
    """


# -- intake -------------------------------------------------------------------


@hookspec(firstresult=True)
def sntakeover_adapt(source: str, payload: Any, options: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Turn a monitoring tool's own payload into normalised events.

    Called for ``op: raw`` requests (the Alertmanager bridge, the Nagios, Icinga 2,
    Zabbix and monit hooks, ``regnotif``). The adapter for ``source`` returns a
    list of event dicts (possibly empty, for a payload that is recorded but means
    nothing, such as a reminder); adapters for other sources return ``None``.
    Each returned dict is validated against ``event.v1`` afterwards.

    :param source: the source name, e.g. ``"alertmanager"``.
    :param payload: the decoded payload, already validated against the source's
        own schema in ``schemas/`` when there is one.
    :param options: the ``[adapters.<source>]`` configuration table.
    :raises sntakeover.errors.EventRejected: the payload is malformed.
    """


@hookspec
def sntakeover_event_recorded(event: Event, incident_id: int | None) -> None:
    """Notification: an event was stored (after the acknowledgement was sent).

    Every plugin is called, isolated from the others.
    """


# -- incident pipeline --------------------------------------------------------


@hookspec
def sntakeover_probe(incident: Incident, ctx: Context) -> ProbeResult | None:
    """Confirm that the service node is really down.

    Every probe plugin is called; the core counts the ``down=True`` answers
    against ``confirm.quorum``. Return ``None`` (or ``down=None``) when the probe
    cannot tell; raise :class:`~sntakeover.errors.Retry` for a transient problem.
    """


@hookspec(firstresult=True)
def sntakeover_plan(incident: Incident, ctx: Context) -> Plan | None:
    """Decide which nodes move where.

    Only nodes whose *first* servicenode entry is the failed SN may be planned,
    each with an explicit backup (normally the 2nd entry). Called again after a
    restart, so it must read the live xCAT database, never a cached list: a
    node already moved is then no longer selected.
    """


@hookspec(firstresult=True)
def sntakeover_fence(incident: Incident, plan: Plan, ctx: Context) -> FenceResult | None:
    """Make sure the failed SN cannot come back half-alive while its nodes move.

    Return a :class:`~sntakeover.model.FenceResult`. With ``fence.required`` a
    result of ``fenced=False`` (or no fencing plugin) stops the incident.
    """


@hookspec(firstresult=True)
def sntakeover_takeover(
    strategy: str, incident: Incident, plan: Plan, ctx: Context, dry_run: bool
) -> TakeoverResult | None:
    """Move the planned nodes to their backups with the named strategy.

    Implementations return ``None`` for a ``strategy`` that is not theirs. With
    ``dry_run`` they change nothing and return the exact commands they would run
    in ``TakeoverResult.commands``.
    Success is not decided here: :func:`sntakeover_verify` reads the database
    afterwards.
    """


@hookspec
def sntakeover_verify(
    incident: Incident, plan: Plan, ctx: Context, takeover_errors: dict[str, str]
) -> list[NodeVerdict] | None:
    """Check every planned node and return one verdict per node."""


@hookspec
def sntakeover_notify(incident: Incident, transition: dict[str, Any], ctx: Context) -> None:
    """Notification: the incident changed state.

    ``transition`` has ``from``, ``to``, ``reason`` and ``time``. Every plugin is
    called, isolated from the others; the return value is ignored.
    """
