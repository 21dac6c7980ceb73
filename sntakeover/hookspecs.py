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
  The configuration hooks (``sntakeover_options_schema``,
  ``sntakeover_required_commands``) let ``sntakeover check-config`` check a
  plugin's options and the programs it runs before anything starts.
* **Notification hook** (``sntakeover_notify``, ``sntakeover_event_recorded``):
  never called on the intake or engine threads: the engine writes them to a
  durable outbox and the notifier thread (:mod:`sntakeover.outbox`) calls each
  plugin on its own, with a timeout, retries and backoff. One failing or
  hanging notifier never stops the others or the incident; the return value is
  ignored. ``wrapper=True`` is refused.

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
    Zabbix and monit hooks, ``regnotif``), in the intake path, before the
    reply: keep it fast and free of I/O. The adapter for ``source`` returns a
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
    :returns: for the adapter of ``source``, a list of event dicts (possibly
        empty, for a payload that is recorded but means nothing, such as a
        reminder), each validated against ``event.v1`` afterwards; ``None`` from
        adapters of other sources.
    :raises sntakeover.errors.EventRejected: the payload is malformed (the
        request is refused with that JSON path).
    """


@hookspec
def sntakeover_event_recorded(event: Event, incident_id: int | None) -> None:
    """Notification hook: a new event was stored, acknowledged and applied.

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
def sntakeover_probe(
    servicenode: str, role: str, incident: Incident, ctx: Context
) -> ProbeResult | list[ProbeResult] | None:
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
        probe could not run, timed out, was refused); a list of them for a
        plugin that makes several independent looks; or ``None`` when the probe
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
def sntakeover_takeover_strategies() -> list[str] | None:
    """Collecting hook: the ``takeover.strategy`` names a plugin's :func:`sntakeover_takeover` implements.

    ``sntakeover check-config`` and the daemon refuse a strategy that no plugin
    names (a typo would otherwise be found only after the SN was fenced) --
    unless a plugin implements ``sntakeover_takeover`` without this hook; then
    the name cannot be checked and is let through.

    :returns: the names, e.g. ``["mystrategy"]``, or ``None``.
    """


@hookspec(firstresult=True)
def sntakeover_node_steps(strategy: str, incident: Incident, plan: Plan, ctx: Context) -> TakeoverResult | None:
    """Decision hook: run the node-side steps of the takeover again, never the database move.

    ``sntakeover retry ID`` calls it for the nodes that failed verification, and a
    restarted daemon for the nodes an interrupted takeover moved in the database
    only (e.g. killed between ``snmove -i`` and the node-side steps): the database
    already names their backup, and their nodes need ``/etc/xcatinfo``, the default
    route, the bootlist and the postscripts as the strategy sets them.

    :param strategy: ``takeover.strategy``.
    :param incident: the incident (``retrying`` or ``moving``).
    :param plan: the nodes to retry, as planned (``NodeMove.xcatmaster`` is each
        node's xcatmaster from before the move).
    :param ctx: the incident's context.
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

    Delivered by the notifier thread from the durable outbox (after the
    change was committed), one plugin at a time with ``notify.timeout``: a
    plugin that hangs never holds up another plugin or the engine. A failure is
    retried (``notify.retries``, with backoff) and logged with the plugin's
    name; when it gives up, a note on the incident's timeline says so. Called
    for every change (a notifier filters what it sends itself). Build what you
    send from the arguments only (see :func:`sntakeover.notifytext.message`),
    never by opening the store.

    :param incident: the incident after the change; ``incident.progress``
        (:class:`~sntakeover.model.NodeProgress`) lists the nodes moved (verified),
        failed, still pending and skipped.
    :param transition: ``from`` (the previous state, ``None`` for an incident
        that was created in its final state), ``to``, ``reason``, ``time``
        (RFC 3339) and ``kind``: ``"transition"`` for a state change,
        ``"reminder"`` while an incident keeps waiting (``from`` equals ``to``),
        ``"attention"`` for something to know without a state change (the SN
        came back while its nodes move).
    :param ctx: the incident's context (``ctx.config["plugins"]`` holds the
        notifiers' tables).
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
    :returns: the command names, or ``None`` (none).
    """
