"""Built-in notifier ``exec``: run a program per incident change (``[plugins.exec]``).

Off unless the table exists. Options: ``command`` (an argv list, required; no
shell), ``timeout`` (seconds, default 30: then the program's process group is
killed and the notifier counts as failed), ``states``. The program gets the
incident as JSON on stdin (:func:`sntakeover.notifytext.message`) and in the
environment:

``SNTAKEOVER_INCIDENT``, ``SNTAKEOVER_SERVICENODE``, ``SNTAKEOVER_STATE``,
``SNTAKEOVER_FROM``, ``SNTAKEOVER_REASON``, ``SNTAKEOVER_MOVED`` /
``SNTAKEOVER_FAILED`` (counts), ``SNTAKEOVER_MOVED_NODES`` /
``SNTAKEOVER_FAILED_NODES`` (comma lists), ``SNTAKEOVER_WAITING_FOR``,
``SNTAKEOVER_SHOW`` (the ``sntakeover show ID`` command) and ``SNTAKEOVER_TEXT``
(the message as prose). A non-zero exit is a failure.
"""

from __future__ import annotations

import json
import logging

from sntakeover import hookimpl
from sntakeover.notifytext import COMMON_SCHEMA, message, options, wanted
from sntakeover.runner import LocalRunner

log = logging.getLogger(__name__)

NAME = "exec"


@hookimpl
def sntakeover_options_schema():
    return {f"plugins.{NAME}": {
        "type": "object", "additionalProperties": False, "required": ["command"],
        "properties": {**COMMON_SCHEMA,
                       "command": {"type": "array", "items": {"type": "string", "minLength": 1}, "minItems": 1}},
    }}


def environment(msg: dict) -> dict[str, str]:
    return {
        "SNTAKEOVER_INCIDENT": str(msg["incident"]),
        "SNTAKEOVER_SERVICENODE": msg["servicenode"],
        "SNTAKEOVER_STATE": msg["state"],
        "SNTAKEOVER_FROM": msg["from"] or "",
        "SNTAKEOVER_REASON": msg["reason"],
        "SNTAKEOVER_MOVED": str(msg["moved"]["count"]),
        "SNTAKEOVER_MOVED_NODES": ",".join(msg["moved"]["nodes"]),
        "SNTAKEOVER_FAILED": str(msg["failed"]["count"]),
        "SNTAKEOVER_FAILED_NODES": ",".join(msg["failed"]["nodes"]),
        "SNTAKEOVER_WAITING_FOR": msg["waiting_for"],
        "SNTAKEOVER_SHOW": msg["show"],
        "SNTAKEOVER_TEXT": msg["text"],
    }


@hookimpl
def sntakeover_notify(incident, transition, ctx):
    opts = options(ctx, NAME)
    if opts is None or not wanted(opts, transition):
        return
    msg = message(incident, transition)
    timeout = float(opts.get("timeout", 30.0))
    res = LocalRunner(timeout=timeout, output_cap=65536, env=environment(msg)).run(
        opts["command"], stdin=json.dumps(msg, sort_keys=True) + "\n")
    if res.timed_out:
        raise TimeoutError(f"{opts['command'][0]} did not finish within {timeout:g}s; killed")
    if res.rc != 0:
        raise RuntimeError(f"{opts['command'][0]} exited {res.rc}: {res.stderr.strip()[-300:]}")
