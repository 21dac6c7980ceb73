"""Hook specifications: what a plugin can implement.

Every hook is called with keyword arguments; an implementation may accept any
subset of them (so a hook can gain arguments without breaking plugins). Each
docstring starts with the hook's calling convention:

* **Decision hook** (``firstresult``): plugins are asked in turn (``tryfirst``
  ones first, built-ins are ``trylast`` where a plugin may override them) and
  the first one that returns something other than ``None`` decides; later ones
  are not called. A plugin that does not handle the case returns ``None``.
  Exceptions follow :mod:`sntakeover.errors` (``Retry``, ``Skip``, ``Abort``;
  anything else fails the incident). ``wrapper=True`` implementations work.
* **Collecting hook**: every plugin is called, each on its own; the core
  gathers the results. One that raises does not stop the others (what its
  failure means is said per hook). ``wrapper=True`` is refused at registration.
* **Notification hook**: every plugin is called, each on its own; the return
  value is ignored and an exception is logged and noted on the incident, never
  stopping the other plugins or the incident. ``wrapper=True`` is refused.

``ctx`` is a :class:`sntakeover.context.Context`: the configuration
(``ctx.config``), the runner for xCAT commands on the MN (``ctx.xcat(*argv)``,
``ctx.runner``), ``ctx.note(text)`` to add a line to the incident's timeline and
``ctx.scratch`` for facts shared within one step.
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

    Called when the daemon starts and by ``sntakeover check-config``, before
    anything else runs. The daemon and ``check-config`` validate each
    ``[adapters.X]`` / ``[plugins.X]`` table of the configuration file against
    its schema, so a wrong option is refused with its path
    (``adapters.xcatmon.bucket: 'fifteen' is not of type 'integer'``) instead
    of failing every request later. Two plugins claiming the same table, or a
    result that is not a dict of schemas, is a configuration error.

    :returns: a dict that maps the dotted path of each table the plugin owns
        (``"adapters.xcatmon"``, ``"plugins.email"``) to a JSON Schema (draft
        2020-12) for that table, or ``None`` for no table.
    """


# -- intake -------------------------------------------------------------------


@hookspec(firstresult=True)
def sntakeover_adapt(source: str, payload: Any, options: dict[str, Any]) -> list[dict[str, Any]] | None:
    """Decision hook: turn a monitoring tool's own payload into normalised events.

    Called for ``op: raw`` requests (the Alertmanager bridge, the Nagios, Icinga 2,
    Zabbix and monit hooks, ``regnotif``), in the intake thread, before the
    reply: keep it fast and free of I/O.

    :param source: the source name, e.g. ``"alertmanager"``.
    :param payload: the decoded payload, already validated against the source's
        own schema in ``schemas/`` when there is one.
    :param options: the ``[adapters.<source>]`` configuration table.
    :returns: for the adapter of ``source``, a list of event dicts (possibly
        empty, for a payload that is recorded but means nothing, such as a
        reminder), each validated against ``event.v1`` afterwards; ``None`` from
        adapters of other sources.
    :raises sntakeover.errors.EventRejected: the payload is malformed (the
        request is refused with that JSON path).
    """


@hookspec
def sntakeover_event_recorded(event: Event, incident_id: int | None) -> None:
    """Notification hook: an event was stored (after the acknowledgement was sent).

    Called in the intake thread for every accepted, non-duplicate event.

    :param event: the stored :class:`~sntakeover.model.Event`.
    :param incident_id: the incident it was applied to, or ``None`` when it is
        not applied yet (the engine applies stored events right after).
    """


# -- incident pipeline --------------------------------------------------------


@hookspec
def sntakeover_probe(incident: Incident, ctx: Context) -> ProbeResult | list[ProbeResult] | None:
    """Collecting hook: is the service node really down?

    Called once per confirmation round (``confirm.rounds``); the core counts the
    ``down=True`` answers of all probes against ``confirm.quorum``. Raising
    :class:`~sntakeover.errors.Retry` (transient), :class:`~sntakeover.errors.Skip`
    (this probe cannot work here) or any other exception makes this plugin's
    answer "cannot tell" (``down=None``) for the round.

    :param incident: the incident, in state ``confirming``.
    :param ctx: the incident's context (runner, configuration, notes).
    :returns: one :class:`~sntakeover.model.ProbeResult`, a list of them (a
        plugin with several independent probes), or ``None`` when it has
        nothing to say. ``down`` is True, False or None ("cannot tell").
    """


@hookspec(firstresult=True)
def sntakeover_plan(incident: Incident, ctx: Context) -> Plan | None:
    """Decision hook: which nodes move where.

    Only nodes whose *first* servicenode entry is the failed SN may be planned,
    each with an explicit backup (normally the 2nd entry). Called when the
    incident is confirmed and again before moving (also after a restart), so it
    must read the live xCAT database, never a cached list: a node already moved
    is then no longer selected.

    :param incident: the incident (``incident.nodes`` restricts it when not empty).
    :param ctx: the incident's context.
    :returns: a :class:`~sntakeover.model.Plan` (moves and skipped nodes with
        the reason), or ``None`` to leave the decision to the next planner.
    """


@hookspec(firstresult=True)
def sntakeover_fence(incident: Incident, plan: Plan, ctx: Context) -> FenceResult | None:
    """Decision hook: make sure the failed SN cannot come back half-alive while its nodes move.

    Called in state ``fencing`` (when ``fence.method`` is not ``none``). With
    ``fence.required`` a result of ``fenced=False`` (or no result) stops the
    incident.

    :param incident: the incident.
    :param plan: the stored plan.
    :param ctx: the incident's context.
    :returns: a :class:`~sntakeover.model.FenceResult`, or ``None`` for a
        ``fence.method`` that is not this plugin's.
    """


@hookspec(firstresult=True)
def sntakeover_takeover(
    strategy: str, incident: Incident, plan: Plan, ctx: Context, dry_run: bool
) -> TakeoverResult | None:
    """Decision hook: move the planned nodes to their backups with the named strategy.

    Success is not decided here: :func:`sntakeover_verify` reads the database
    and the nodes afterwards.

    :param strategy: ``takeover.strategy`` (``snmove``, ``parallel``, or a plugin's own).
    :param incident: the incident.
    :param plan: the nodes still to move (already moved ones are left out).
    :param ctx: the incident's context.
    :param dry_run: change nothing; return the exact commands that would run
        in ``TakeoverResult.commands``.
    :returns: a :class:`~sntakeover.model.TakeoverResult` (commands, exit code,
        per-node errors), or ``None`` for a ``strategy`` that is not this plugin's.
    """


@hookspec
def sntakeover_verify(
    incident: Incident, plan: Plan, ctx: Context, takeover_errors: dict[str, str]
) -> list[NodeVerdict] | None:
    """Collecting hook: did each planned node really move?

    Every verifier is called, each on its own, once per verification round
    (``verify.retries`` more rounds while a node is not verified). The core
    stores every verdict per node and verifier, and a node is verified when at
    least one verifier passed it and none failed it or could not tell.
    :class:`~sntakeover.errors.Retry` or any other exception gives ``ok=None``
    ("could not tell") for every planned node from this verifier;
    :class:`~sntakeover.errors.Skip` gives nothing; :class:`~sntakeover.errors.Abort`
    fails the incident.

    :param incident: the incident, in state ``verifying``.
    :param plan: the stored plan: every node that was to move.
    :param ctx: the incident's context; ``ctx.scratch`` is emptied before each round.
    :param takeover_errors: node -> the error text the takeover (snmove)
        printed for it; a node that is not in it had no error reported.
    :returns: a list of :class:`~sntakeover.model.NodeVerdict` (``ok`` True,
        False or None; ``verifier`` names the check, the plugin's ``VERIFIER``
        attribute or name when empty) for the nodes this verifier can judge, or
        ``None`` when it is turned off.
    """


@hookspec
def sntakeover_notify(incident: Incident, transition: dict[str, Any], ctx: Context) -> None:
    """Notification hook: the incident changed state.

    Called after the change is committed, for every change (a notifier filters
    what it sends itself). Build what you send from the arguments only (see
    :func:`sntakeover.notifytext.message`), never by opening the store, and
    bound your own time (a timeout per notifier).

    :param incident: the incident after the change; ``incident.progress``
        (:class:`~sntakeover.model.NodeProgress`) lists the nodes moved (verified),
        failed, still pending and skipped.
    :param transition: ``from`` (the previous state, ``None`` for an incident
        that was created in its final state), ``to``, ``reason`` and ``time``
        (RFC 3339).
    :param ctx: the incident's context (``ctx.config["plugins"]`` holds the
        notifiers' tables).
    """
