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
def sntakeover_probe(servicenode: str, role: str, incident: Incident, ctx: Context) -> ProbeResult | None:
    """Collecting hook: one independent look at one service node.

    Every probe plugin is called for every probe round, each isolated: a probe
    that raises is recorded as "cannot tell", never as "down". The core counts
    the answers against ``confirm.quorum`` over ``confirm.rounds`` rounds.

    :param servicenode: the SN to look at, as known by the MN.
    :param role: ``"failed"`` -- the SN the incident is about (is it really
        down?); ``"backup"`` -- an SN nodes would move to (is it healthy?).
    :param incident: the incident the look is for.
    :param ctx: configuration, runner and timeline notes.
    :returns: one :class:`~sntakeover.model.ProbeResult` with ``down`` True
        (evidence of down), False (evidence of up) or None (cannot tell: the
        probe could not run, timed out, was refused); or ``None`` when the probe
        does not apply (disabled, or not meant for this ``role``).
    :raises sntakeover.errors.Skip: same as returning ``None``.
    :raises sntakeover.errors.Retry: a transient problem; recorded as "cannot tell".
    """


@hookspec(firstresult=True)
def sntakeover_plan(incident: Incident, ctx: Context) -> Plan | None:
    """Decision hook: which nodes move where.

    Called once per incident, when it is confirmed; the plan is stored and never
    recomputed (after a restart only nodes the live database shows as already
    moved are dropped from it). Only nodes whose *first* servicenode entry is the
    failed SN may be planned, each with an explicit backup (normally the 2nd
    entry); nodes that cannot move go to ``Plan.skipped`` with the reason, and
    hazards go to ``Plan.warnings`` in plain words.

    :param incident: the confirmed incident (``incident.nodes`` may restrict it).
    :param ctx: configuration, runner and timeline notes.
    :returns: a :class:`~sntakeover.model.Plan`, or ``None`` to let the next planner decide.
    :raises sntakeover.errors.Skip: let the next planner decide.
    :raises sntakeover.errors.Retry: the database could not be read; try again later.
    :raises sntakeover.errors.Abort: the incident fails with this reason.
    """


@hookspec(firstresult=True)
def sntakeover_fence(incident: Incident, plan: Plan, ctx: Context) -> FenceResult | None:
    """Decision hook: make sure the failed SN cannot come back half-alive while its nodes move.

    Called once per incident, only when ``fence.policy`` is not ``off``; the
    plugin for ``fence.method`` answers, others return ``None``. With
    ``fence.policy = "require"`` a result of ``fenced=False`` (or no answer)
    makes the incident wait for a human (``awaiting-fence``).

    :param incident: the incident; from this call on it is committed.
    :param plan: the stored plan.
    :param ctx: configuration, runner and timeline notes.
    :returns: a :class:`~sntakeover.model.FenceResult`, or ``None`` (not my method).
    :raises sntakeover.errors.Skip: let the next fencing plugin answer.
    :raises sntakeover.errors.Retry: try again later (bounded by ``engine.retry_limit``).
    :raises sntakeover.errors.Abort: the incident fails with this reason.
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

    ``transition`` has ``from``, ``to``, ``reason`` and ``time``. Every plugin is
    called, isolated from the others; the return value is ignored.
    """
