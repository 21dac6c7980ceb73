"""Example third-party sntakeover plugin: a ticket spool.

Installed next to sntakeover, it is found through the ``sntakeover`` entry-point
group (see pyproject.toml) and configured in the daemon's configuration::

    [plugins.spool]
    directory = "/var/spool/tickets"      # must exist
    states = ["done", "partial", "failed"] # optional

It shows the three things a plugin usually does:

* ``sntakeover_options_schema`` declares the JSON Schema of its table, so a
  wrong option is refused by ``sntakeover check-config`` and at start;
* ``sntakeover_notify`` writes each incident change as one JSON file (written
  to a temporary name, then renamed, so a ticket system never reads half a
  file), using the same message as the built-in notifiers;
* ``sntakeover_plan`` as a ``wrapper=True`` hook: it sees the plan the planner
  made (here: it files it too) without changing the decision.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from sntakeover import hookimpl
from sntakeover.notifytext import COMMON_SCHEMA, message, options, wanted

NAME = "spool"


@hookimpl
def sntakeover_options_schema():
    return {f"plugins.{NAME}": {
        "type": "object", "additionalProperties": False, "required": ["directory"],
        "properties": {"directory": {"type": "string", "pattern": "^/", "x-expected": "an absolute path (starting with /)"},
                       "states": COMMON_SCHEMA["states"]},
    }}


def _file(directory: str, stem: str, doc: dict) -> Path:
    final = Path(directory) / f"{stem}-{time.time_ns()}.json"
    tmp = final.with_name("." + final.name)
    tmp.write_text(json.dumps(doc, sort_keys=True))
    os.replace(tmp, final)
    return final


@hookimpl
def sntakeover_notify(incident, transition, ctx):
    opts = options(ctx, NAME)
    if opts is None or not wanted(opts, transition):
        return
    _file(opts["directory"], f"incident-{incident.id}-{transition['to']}", message(incident, transition))


@hookimpl(wrapper=True)
def sntakeover_plan(incident, ctx):
    plan = yield  # the planner's decision, unchanged
    opts = options(ctx, NAME)
    if opts is not None and plan is not None:
        _file(opts["directory"], f"plan-{incident.id}", {"incident": incident.id, "servicenode": incident.servicenode,
                                                         "moves": len(plan.moves), "skipped": sorted(plan.skipped)})
    return plan
