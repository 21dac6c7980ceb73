"""Built-in notifier: one log line per incident transition (to stderr / the journal).

This is the only place a transition is logged: the engine itself does not log
it again. The line ends with the incident's one-line summary.
"""

from __future__ import annotations

import logging

from sntakeover import hookimpl
from sntakeover.notifytext import summary

log = logging.getLogger("sntakeover.incident")

LOUD = {"failed", "partial"}


@hookimpl
def sntakeover_notify(incident, transition):
    level = logging.WARNING if transition["to"] in LOUD else logging.INFO
    log.log(
        level,
        "incident %d (%s): %s -> %s: %s [%s]",
        incident.id,
        incident.servicenode,
        transition["from"] or "-",
        transition["to"],
        transition["reason"],
        summary(incident, transition),
    )
