"""What the simulated commands leave for an audit besides ``commands.log`` (see :mod:`db`).

* ``started.log``: every top-level command as it starts, with the ``SNTAKEOVER_COMMAND`` tag of
  its environment (a command killed half-way never reaches ``commands.log``);
* ``moved.log``: each database write of ``snmove`` (node -> new servicenode value), with the tag.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any


def _append(directory: str | os.PathLike[str], name: str, rec: dict[str, Any]) -> None:
    fd = os.open(os.path.join(os.fspath(directory), name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(rec) + "\n").encode())  # one write: lines of concurrent commands never mix
    finally:
        os.close(fd)


def _read(directory: str | os.PathLike[str], name: str) -> list[dict[str, Any]]:
    p = Path(directory) / name
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]


STARTED_FILE = "started.log"
MOVED_FILE = "moved.log"


def append_started(directory: str | os.PathLike[str], argv: list[str]) -> None:
    _append(directory, STARTED_FILE, {"argv": list(argv), "t": time.time(), "pid": os.getpid(),
                                      "tag": os.environ.get("SNTAKEOVER_COMMAND")})


def started_log(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    return _read(directory, STARTED_FILE)


def append_moved(directory: str | os.PathLike[str], nodes: dict[str, str]) -> None:
    """Called inside snmove's write transaction: a line may name a write a kill undid, never miss
    one that happened."""
    _append(directory, MOVED_FILE, {"nodes": nodes, "t": time.time(), "pid": os.getpid(),
                                    "tag": os.environ.get("SNTAKEOVER_COMMAND")})


def moved_log(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    return _read(directory, MOVED_FILE)
