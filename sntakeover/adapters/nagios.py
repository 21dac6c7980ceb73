"""Nagios Core event handler -> events.

Payload (``schemas/nagios.v1.json``) built by ``sntakeover hook nagios`` from
the macros on the command line: ``$HOSTNAME$``, ``$HOSTSTATE$``,
``$HOSTSTATETYPE$``, ``$HOSTATTEMPT$``, ``$MAXHOSTATTEMPTS$``,
``$HOSTDOWNTIME$``, ``$HOSTPROBLEMID$``, ``$LASTHOSTPROBLEMID$``, ``$TIMET$``.

The idempotency reference is ``$HOSTPROBLEMID$`` (``$SERVICEPROBLEMID$`` for a
service check): Nagios gives every problem (from the first non-OK state until
recovery) a new number; on the recovery call it is 0 and
``$LASTHOSTPROBLEMID$`` holds the problem that ended. The id is
``nagios:<sn>:[<service>:]<problem>:<state>:<type>:<attempt>``, so each SOFT
attempt, the HARD transition and the recovery are distinct events, while the
same call delivered twice is one. Without a problem id (0 or missing) the
outage is named by ``last_state_change`` (``$LASTHOSTSTATECHANGE$``), else by
the handler's ``$TIMET$``: never by a constant, so a later outage can never
be taken for a repeat of the first. Options (``[adapters.nagios]``): ``map``
(Nagios host name -> xCAT name), ``strip_domain``, ``severity``.
"""

from __future__ import annotations

from typing import Any

from sntakeover import hookimpl

from . import _nagioslike

SOURCE = "nagios"


@hookimpl
def sntakeover_options_schema() -> dict[str, dict[str, Any]]:
    return _nagioslike.options(SOURCE)


def outage(payload: dict[str, Any]) -> tuple[str, str]:
    """``(ref, id part)`` naming the outage this call belongs to."""
    problem = payload.get("problem_id") or 0
    if not problem and payload["state"] in _nagioslike.UP_STATES:
        problem = payload.get("last_problem_id") or 0
    if problem:
        return str(problem), str(problem)
    if payload.get("last_state_change"):
        return "", f"changed{payload['last_state_change']}"
    return "", f"at{payload['time']}"


@hookimpl
def sntakeover_adapt(source: str, payload: Any, options: dict[str, Any]) -> list[dict[str, Any]] | None:
    if source != SOURCE:
        return None
    ref, part = outage(payload)
    parts: list[Any] = [part, payload["state"], payload["state_type"], payload.get("attempt", "")]
    if payload.get("service"):
        parts.insert(0, payload["service"])
    return _nagioslike.build(SOURCE, payload, options, ref, parts)
