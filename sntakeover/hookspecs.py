"""Hook specifications: what a plugin can implement.

Every hook is called with keyword arguments; an implementation may accept any
subset of them. The calling convention is written in each docstring:

* *decision* hooks are ``firstresult``: the first plugin that returns something
  other than ``None`` decides, later ones are not called. A plugin that does not
  handle the case returns ``None``. Exceptions follow :mod:`sntakeover.errors`.
* *collecting* hooks (``sntakeover_probe``) call every plugin; each plugin is
  isolated, so one crashing probe is recorded as "cannot tell".
* *notification* hooks (``sntakeover_notify``, ``sntakeover_event_recorded``)
  are never called on the intake or engine threads: the engine writes them to
  a durable outbox and the notifier thread (:mod:`sntakeover.outbox`) calls
  each plugin on its own, with a timeout, retries and backoff. One failing or
  hanging notifier never stops the others or the incident.
* *collecting* configuration hooks (``sntakeover_options_schema``,
  ``sntakeover_required_commands``) let ``sntakeover check-config`` check a
  plugin's options and the programs it runs before anything starts.

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
    Each returned dict is validated against ``event.v1`` afterwards. For a
    payload of several items (Alertmanager's alerts), an item the adapter
    cannot read is returned in the list as an
    :class:`~sntakeover.errors.EventRejected` with its path
    (``$.alerts[1].labels``): it is reported, and the other items are stored.
    A source schema may name its item list (``"x-sntakeover-items": "alerts"``)
    so that items failing the schema are set aside the same way.

    :param source: the source name, e.g. ``"alertmanager"``.
    :param payload: the decoded payload, already validated against the source's
        own schema in ``schemas/`` when there is one.
    :param options: the ``[adapters.<source>]`` configuration table.
    :raises sntakeover.errors.EventRejected: the payload is malformed.
    """


@hookspec
def sntakeover_event_recorded(event: Event, incident_id: int | None) -> None:
    """Notification: a new event was stored, acknowledged and applied.

    Delivered by the notifier thread from the durable outbox, never on the
    intake or engine threads: after the commit and the acknowledgement, once
    the engine has applied the event. Duplicates are not delivered again.
    Every plugin is called on its own, with ``notify.timeout``; a failure is
    retried (``notify.retries``, with backoff) and logged with the plugin's
    name. Delivery is at least once: after a crash an event may come again.

    :param event: the event as stored.
    :param incident_id: the incident the event was applied to (opened,
        attached to, cancelled...), or ``None`` when it touched none.
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


@hookspec(firstresult=True)
def sntakeover_verify(incident: Incident, plan: Plan, ctx: Context) -> list[NodeVerdict] | None:
    """Check every planned node and return one verdict per node."""


@hookspec
def sntakeover_notify(incident: Incident, transition: dict[str, Any], ctx: Context) -> None:
    """Notification: the incident changed state.

    Delivered by the notifier thread from the durable outbox (after the
    transition was committed), one plugin at a time with ``notify.timeout``:
    a plugin that hangs never holds up another plugin or the engine. A
    failure is retried (``notify.retries``, with backoff) and logged with the
    plugin's name; when it gives up, a note on the incident's timeline says so.

    :param incident: the incident as it was at the transition.
    :param transition: ``from``, ``to``, ``reason`` and ``time``.
    :param ctx: the incident's context; ``ctx.note(text)`` adds to its timeline.
    """


@hookspec
def sntakeover_required_commands(config: Any) -> list[str] | None:
    """Collecting hook: the programs (xCAT commands) a plugin will run.

    Every plugin is called. Return the command names (``["nodestat",
    "xdsh"]``) the plugin runs through ``ctx.xcat`` with this configuration,
    or ``None``. ``sntakeover check-config`` looks each one up on
    ``xcat.path`` followed by ``PATH`` and fails, naming the command and the
    plugins that need it, when one is missing; the daemon logs a warning.

    :param config: the :class:`sntakeover.config.Config` in force (a plugin
        that runs ``rpower`` only with ``fence.method = "rpower"`` says so).
    """
