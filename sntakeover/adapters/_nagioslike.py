"""Semantics shared by the Nagios and Icinga 2 adapters.

Both cores run an event handler on every SOFT problem attempt, on the first
HARD problem state and on the first recovery. The rules:

* host ``DOWN`` (or service ``CRITICAL``) -> ``sn.down`` with ``state_type``
  ``soft``/``hard``; the daemon records SOFT and acts only on HARD;
* host ``UNREACHABLE`` means a parent (switch, router) is down: the payload is
  recorded and no event comes out -- never a takeover;
* ``UP``/``OK`` -> ``sn.up`` (the daemon records it; there is no failback);
* service ``WARNING``/``UNKNOWN`` -> nothing;
* a downtime depth above 0 -> ``in_downtime: true`` (the handler runs in
  downtime too, the core does not check it), which gives a suppressed incident.
"""

from __future__ import annotations

from typing import Any

from ._common import clean_severity, event, make_id, options_schema, sn_name, utc_from_epoch

DOWN_STATES = {"DOWN", "CRITICAL"}
UP_STATES = {"UP", "OK"}


def options(source: str) -> dict[str, dict[str, Any]]:
    return options_schema(source, severity={"description": "severity given to the events", "type": "string",
                                            "pattern": "^[A-Za-z0-9_.-]{1,32}$",
                                            "x-expected": "a severity word of 1 to 32 letters, digits, '.', '_' or '-'"})


def kind_of(payload: dict[str, Any]) -> str | None:
    state = payload["state"]
    if state in DOWN_STATES:
        return "sn.down"
    if state in UP_STATES:
        return "sn.up"
    return None  # UNREACHABLE, WARNING, UNKNOWN


def build(tool: str, payload: dict[str, Any], options: dict[str, Any], ref: str, idparts: list[Any]) -> list[dict[str, Any]]:
    kind = kind_of(payload)
    if kind is None:
        return []
    sn = sn_name(payload["host"], options, "$.host")
    state_type = payload["state_type"].lower()
    attempt = payload.get("attempt")
    maxa = payload.get("max_attempts")
    what = f"{payload['service']} {payload['state']}" if payload.get("service") else payload["state"]
    detail = f"{tool}: {payload['host']} {what} {payload['state_type']}"
    if attempt is not None:
        detail += f" attempt {attempt}" + (f"/{maxa}" if maxa is not None else "")
    if payload.get("output"):
        detail += f": {payload['output']}"
    severity = "critical" if kind == "sn.down" else "ok"
    return [
        event(
            id=make_id(tool, sn, *idparts),
            kind=kind,
            servicenode=sn,
            tool=tool,
            host=payload.get("reporter"),
            ref=ref,
            time=utc_from_epoch(payload["time"], "$.time"),
            state_type=state_type,
            severity=clean_severity(options.get("severity", severity)),
            in_downtime=int(payload.get("downtime") or 0) > 0,
            detail=detail,
        )
    ]
