"""Alertmanager webhook (version 4) -> events, one per alert.

* ``firing`` -> ``sn.down`` (``state_type: hard``: Prometheus' ``for:`` and
  Alertmanager's ``group_wait`` already debounced it), ``resolved`` -> ``sn.up``.
* ``time``: when a firing alert is delivered (it is firing now, however long
  ago it began), ``endsAt`` for a resolved one.
* id = ``am:<fingerprint>:<startsAt>:<status>``. The fingerprint is the hash
  of the alert's label set and ``startsAt`` marks this occurrence, so a
  reminder (``notification_reason: repeat interval elapsed``), a group update
  that repeats an alert already sent, and the second copy from an HA peer all
  carry the same id and are acknowledged as duplicates. A new occurrence of
  the same alert after it resolved has a new ``startsAt``.
* The service node comes from the label named by the ``sn_label`` option
  (default ``sn``), else from ``instance`` without its port (``sn1:3001`` ->
  ``sn1``, ``[fe80::1]:3001`` is refused as not an xCAT name).
* Options (``[adapters.alertmanager]``): ``sn_label``, ``map``, ``strip_domain``,
  ``alertnames`` (a list: only these alert names make events; others are
  recorded only).
* One alert that cannot be read (no service node label, a name that is not an
  xCAT name) is reported on its own, with its path; the other alerts of the
  group are still stored.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sntakeover import hookimpl

from ..clock import now
from ..errors import EventRejected
from ._common import NAME_LIST, clean_severity, event, make_id, options_schema, sn_name

SOURCE = "alertmanager"
ZERO_TIME = "0001-01-01T00:00:00Z"


def _instance_host(instance: str) -> str:
    if instance.startswith("["):  # [v6]:port
        return instance[1:].split("]", 1)[0]
    host, sep, port = instance.rpartition(":")
    if sep and port.isdigit():
        return host
    return instance


def servicenode_of(labels: dict[str, str], options: dict[str, Any], path: str) -> str:
    label = str(options.get("sn_label") or "sn")
    if labels.get(label):
        return sn_name(labels[label], options, f"{path}.{label}")
    if labels.get("instance"):
        return sn_name(_instance_host(labels["instance"]), options, f"{path}.instance")
    raise EventRejected(path, f"alert has neither a '{label}' nor an 'instance' label")


@hookimpl
def sntakeover_options_schema() -> dict[str, dict[str, Any]]:
    return options_schema(
        SOURCE,
        sn_label={"description": "label naming the service node", "type": "string", "minLength": 1},
        alertnames={**NAME_LIST, "description": "only these alert names make events"},
    )


@hookimpl
def sntakeover_adapt(source: str, payload: Any, options: dict[str, Any]) -> list[dict[str, Any] | EventRejected] | None:
    if source != SOURCE:
        return None
    wanted = options.get("alertnames")
    host = urlsplit(payload.get("externalURL") or "").hostname
    reason = payload.get("notification_reason")
    events: list[dict[str, Any] | EventRejected] = []
    for i, alert in enumerate(payload.get("alerts", [])):
        labels = alert.get("labels", {})
        if wanted and labels.get("alertname") not in wanted:
            continue
        try:
            sn = servicenode_of(labels, options, f"$.alerts[{i}].labels")
        except EventRejected as exc:  # this alert only; its neighbours go on
            events.append(exc)
            continue
        status = alert["status"]
        firing = status == "firing"
        ends = alert.get("endsAt") or ZERO_TIME
        # a firing alert is firing now: observed when delivered (a silence that expired, a bridge that was
        # down, may bring an outage older than events.max_age); a resolved one ended at endsAt
        when = now() if firing or ends.startswith("0001-") else ends
        annotations = alert.get("annotations", {})
        detail = f"alertmanager: {labels.get('alertname', '?')} {status}"
        if reason:
            detail += f" ({reason})"
        summary = annotations.get("summary") or annotations.get("description")
        if summary:
            detail += f": {summary}"
        events.append(
            event(
                id=make_id("am", alert["fingerprint"], alert["startsAt"], status),
                kind="sn.down" if firing else "sn.up",
                servicenode=sn,
                tool=SOURCE,
                host=host,
                ref=alert["fingerprint"],
                time=when,
                state_type="hard" if firing else None,
                severity=clean_severity(labels.get("severity")),
                detail=detail,
            )
        )
    return events
