"""Nagios Core event handler -> events.

Payload (``schemas/nagios.v1.json``) built by ``sntakeover hook nagios`` from
the macros on the command line: ``$HOSTNAME$``, ``$HOSTSTATE$``,
``$HOSTSTATETYPE$``, ``$HOSTATTEMPT$``, ``$MAXHOSTATTEMPTS$``,
``$HOSTDOWNTIME$``, ``$HOSTPROBLEMID$``, ``$LASTHOSTPROBLEMID$``, ``$TIMET$``.

The idempotency reference is ``$HOSTPROBLEMID$``: Nagios gives every problem
(from the first non-UP state until recovery) a new number; on the recovery
call it is 0 and ``$LASTHOSTPROBLEMID$`` holds the problem that ended. The id
is ``nagios:<sn>:<problem>:<state>:<type>:<attempt>``, so each SOFT attempt,
the HARD transition and the recovery are distinct events, while the same call
delivered twice is one. Options (``[adapters.nagios]``): ``map`` (Nagios host
name -> xCAT name), ``strip_domain``.
"""

from __future__ import annotations

from typing import Any

from sntakeover import hookimpl

from . import _nagioslike

SOURCE = "nagios"


@hookimpl
def sntakeover_adapt(source: str, payload: Any, options: dict[str, Any]) -> list[dict[str, Any]] | None:
    if source != SOURCE:
        return None
    problem = payload.get("problem_id") or 0
    if not problem and payload["state"] in _nagioslike.UP_STATES:
        problem = payload.get("last_problem_id") or 0
    ref = str(problem) if problem else None
    parts: list[Any] = [problem, payload["state"], payload["state_type"], payload.get("attempt", "")]
    if payload.get("service"):
        parts.insert(0, payload["service"])
    return _nagioslike.build(SOURCE, payload, options, ref or "", parts)
