"""Zabbix action operation -> events.

Zabbix passes no environment: the macros are expanded into the command line
(``{HOST.HOST}``, ``{EVENT.ID}``, ``{EVENT.VALUE}``, ``{EVENT.NSEVERITY}``...),
see ``hooks/zabbix/``. ``{EVENT.VALUE}`` 1 (problem) -> ``sn.down`` (hard: the
trigger already applied its own conditions), 0 (recovery) -> ``sn.up``. In a
recovery operation ``{EVENT.ID}`` is still the problem's id, so the id
``zabbix:<event id>:<value>`` tells the two apart while an escalation step that
runs the same operation again is a duplicate. Unresolved macros arrive as
``*UNKNOWN*`` and are refused. Options: ``map``, ``strip_domain``.
"""

from __future__ import annotations

from typing import Any

from sntakeover import hookimpl

from ..errors import EventRejected
from ._common import clean_severity, event, make_id, options_schema, sn_name, utc_from_epoch

SOURCE = "zabbix"
#: {EVENT.NSEVERITY} -> {EVENT.SEVERITY} names (Zabbix defaults)
SEVERITIES = {"0": "not_classified", "1": "information", "2": "warning", "3": "average", "4": "high", "5": "disaster"}


@hookimpl
def sntakeover_options_schema() -> dict[str, dict[str, Any]]:
    return options_schema(SOURCE)


@hookimpl
def sntakeover_adapt(source: str, payload: Any, options: dict[str, Any]) -> list[dict[str, Any]] | None:
    if source != SOURCE:
        return None
    if "*UNKNOWN*" in payload["host"]:
        raise EventRejected("$.host", "the {HOST.HOST} macro was not expanded (*UNKNOWN*)")
    sn = sn_name(payload["host"], options, "$.host")
    problem = payload["value"] == 1
    sev = payload.get("severity")
    sev = SEVERITIES.get(str(sev).strip(), sev) if sev is not None else None
    detail = f"zabbix: {payload.get('status') or ('PROBLEM' if problem else 'RESOLVED')} event {payload['event_id']}"
    if payload.get("trigger"):
        detail += f": {payload['trigger']}"
    if payload.get("recovery_id") and not problem:
        detail += f" (recovery event {payload['recovery_id']})"
    return [
        event(
            id=make_id(SOURCE, payload["event_id"], payload["value"]),
            kind="sn.down" if problem else "sn.up",
            servicenode=sn,
            tool=SOURCE,
            host=payload.get("reporter"),
            ref=payload["event_id"],
            time=utc_from_epoch(payload["time"], "$.time"),
            state_type="hard" if problem else None,
            severity=clean_severity(sev),
            detail=detail,
        )
    ]
