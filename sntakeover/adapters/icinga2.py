"""Icinga 2 EventCommand -> events.

Payload (``schemas/icinga2.v1.json``) built by ``sntakeover hook icinga2`` from
arguments and/or the ``env`` dictionary of the EventCommand (``SN_HOST``,
``SN_STATE``, ``SN_STATE_TYPE``, ``SN_ATTEMPT``, ``SN_MAX_ATTEMPTS``,
``SN_DOWNTIME``, ``SN_LAST_STATE_CHANGE``, ``SN_CHECK_SOURCE``, ``SN_OUTPUT``).
Same semantics as Nagios. Icinga 2 has no problem id; ``host.last_state_change``
is the reference instead: it is set when the state changes (SOFT 1) and stays
the same through the later SOFT attempts and the HARD transition. In an HA
zone the handler may run on both endpoints (Icinga/icinga2#3431): both send
the same id, and the second is a duplicate.
"""

from __future__ import annotations

from typing import Any

from sntakeover import hookimpl

from . import _nagioslike

SOURCE = "icinga2"


@hookimpl
def sntakeover_options_schema() -> dict[str, dict[str, Any]]:
    return _nagioslike.options(SOURCE)


@hookimpl
def sntakeover_adapt(source: str, payload: Any, options: dict[str, Any]) -> list[dict[str, Any]] | None:
    if source != SOURCE:
        return None
    lsc = payload.get("last_state_change")
    ref = f"{payload['host']}!{lsc:.0f}" if lsc is not None else ""
    parts: list[Any] = [f"{lsc:.0f}" if lsc is not None else payload["time"], payload["state"], payload["state_type"], payload.get("attempt", "")]
    if payload.get("service"):
        parts.insert(0, payload["service"])
    return _nagioslike.build(SOURCE, payload, options, ref, parts)
