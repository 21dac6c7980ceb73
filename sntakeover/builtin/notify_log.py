"""Built-in notifier: one log line per incident transition (to stderr / the journal)."""

from __future__ import annotations

import logging

from sntakeover import hookimpl

log = logging.getLogger("sntakeover.incident")

LOUD = {"failed", "partial"}


@hookimpl
def sntakeover_notify(incident, transition):
    level = logging.WARNING if transition["to"] in LOUD else logging.INFO
    log.log(
        level,
        "incident %d (%s): %s -> %s: %s",
        incident.id,
        incident.servicenode,
        transition["from"] or "-",
        transition["to"],
        transition["reason"],
    )
