"""monit ``exec`` -> events.

monit runs ``sntakeover hook monit down`` / ``... up`` with ``MONIT_SERVICE``
set to the service (the checked SN in a ``check host sn1`` block;
``MONIT_HOST`` is monit's *own* host name). The direction is an explicit
argument rather than parsed out of ``MONIT_EVENT`` text.

What monit re-sends: ``exec`` runs once per state change, and again every N
cycles while the failure lasts when ``repeat every N cycles`` is set. Those
repeats are the same failure. The hook keeps, per service, the time the current
direction began (``since``) in a small state file, so every repeat carries the
same ``since`` and the id ``monit:<sn>:<direction>:<since>`` collapses them;
the next down after an up starts a new ``since``. The event's ``time`` is when
the hook ran (``time``): a repeat long after the failure began is still news.
"""

from __future__ import annotations

from typing import Any

from sntakeover import hookimpl

from ._common import event, make_id, options_schema, sn_name, utc_from_epoch

SOURCE = "monit"


@hookimpl
def sntakeover_options_schema() -> dict[str, dict[str, Any]]:
    return options_schema(SOURCE)


@hookimpl
def sntakeover_adapt(source: str, payload: Any, options: dict[str, Any]) -> list[dict[str, Any]] | None:
    if source != SOURCE:
        return None
    sn = sn_name(payload["service"], options, "$.service")
    down = payload["direction"] == "down"
    detail = f"monit: {payload['service']} {payload['direction']}"
    if payload.get("event"):
        detail += f" ({payload['event']})"
    if payload.get("description"):
        detail += f": {payload['description']}"
    return [
        event(
            id=make_id(SOURCE, sn, payload["direction"], payload["since"]),
            kind="sn.down" if down else "sn.up",
            servicenode=sn,
            tool=SOURCE,
            host=payload.get("monit_host"),
            ref=f"{payload['service']}@{payload['since']}",
            # when the hook ran: a repeat says the failure is still there now
            time=utc_from_epoch(payload.get("time", payload["since"]), "$.time" if "time" in payload else "$.since"),
            state_type="hard" if down else None,
            detail=detail,
        )
    ]
