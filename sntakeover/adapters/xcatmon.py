"""xCAT node status (xcatmon / ``nodestat``) -> events.

xcatmon runs ``nodestat all -m -u -q`` from cron and writes
``nodelist.status``. ``sntakeover hook xcatmon`` takes the same view for the
service nodes, as ``node: status`` lines (``nodestat service``, or
``nodels service nodelist.status``), so it can run from the same cron. A
service node whose status is ``noping`` or ``unreachable`` gives ``sn.down``
(``state_type`` from the ``state_type`` option, default ``hard``: the daemon
still confirms with its own probes before acting); a reachable status
(``ping``, ``sshd``, ``alive``, ``booted``...) gives ``sn.up``; other states
(``installing``, ``unknown``...) give nothing.

Cron reports the same state again every minute; the hook remembers per node
when the current direction began (``since``, like ``hook monit``), so the id
``xcatmon:<sn>:<down|up>:<since>`` is the same for every report of one outage
and different for the next outage. A line without ``since`` uses its
``statustime``, else the report time rounded down to ``bucket`` seconds
(option; default 0 = the exact report time: every report its own event, two
outages never share an id). Options: ``servicenodes`` (only these names count;
default: every reported node), ``map``, ``strip_domain``, ``state_type``,
``bucket``. One line that cannot be read is reported alone; the others count.
"""

from __future__ import annotations

from typing import Any

from sntakeover import hookimpl

from ..errors import EventRejected
from ._common import SN_LIST, STATE_TYPE, clean_text, event, make_id, options_schema, sn_name, utc_from_epoch

SOURCE = "xcatmon"
DOWN = frozenset({"noping", "unreachable"})
UP = frozenset({"ping", "sshd", "alive", "booted", "postbooting", "configured", "standingby"})


def direction(status: str) -> str | None:
    s = status.strip().lower()
    if s.split("(", 1)[0] in DOWN:  # nodestat -p: noping(off)
        return "down"
    parts = {p.split("=", 1)[0] for p in s.split(",") if p}
    if s in UP or "sshd" in parts or "https" in parts:
        return "up"
    return None


@hookimpl
def sntakeover_options_schema() -> dict[str, dict[str, Any]]:
    return options_schema(
        SOURCE,
        servicenodes={**SN_LIST, "description": "only these nodes count"},
        state_type=STATE_TYPE,
        bucket={"description": "seconds; reports without 'since' within one bucket share an id", "type": "integer",
                "minimum": 0},
    )


@hookimpl
def sntakeover_adapt(source: str, payload: Any, options: dict[str, Any]) -> list[dict[str, Any] | EventRejected] | None:
    if source != SOURCE:
        return None
    only = set(options.get("servicenodes") or [])
    bucket = int(options.get("bucket") or 0)
    state_type = options.get("state_type", "hard")
    when = utc_from_epoch(payload["time"], "$.time")
    events = []
    for i, entry in enumerate(payload["statuses"]):
        if only and entry["node"] not in only:
            continue
        d = direction(entry["status"])
        if d is None:
            continue
        try:
            sn = sn_name(entry["node"], options, f"$.statuses[{i}].node")
        except EventRejected as exc:  # this line only
            events.append(exc)
            continue
        if entry.get("since") is not None:
            stamp = str(entry["since"])
        elif entry.get("statustime"):
            stamp = entry["statustime"]
        else:
            stamp = str(payload["time"] // bucket * bucket if bucket else payload["time"])
        events.append(
            event(
                id=make_id(SOURCE, sn, d, stamp),
                kind="sn.down" if d == "down" else "sn.up",
                servicenode=sn,
                tool=SOURCE,
                host=payload.get("reporter"),
                ref=f"{entry['node']}:{clean_text(entry['status'], 64)}",
                time=when,
                state_type=state_type if d == "down" else None,
                detail=f"xcatmon: {entry['node']}: {clean_text(entry['status'], 200)}",
            )
        )
    return events
