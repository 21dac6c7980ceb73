"""What a request becomes on its way through the intake, and how its items are named.

:class:`Work` is one request between :meth:`sntakeover.intake.Intake.prepare`
and its reply; :class:`Limits` are the ``[intake]`` limits, and :class:`OverLimit`
the rejection that names the one exceeded. The functions give a rejected item
of a raw payload its path as sent (``$.payload.alerts[1].labels``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .config import Config
from .errors import EventRejected
from .model import Event

#: characters of a rejection message kept in a reply or a log line
CLIP = 500


def clip(text: str, limit: int = CLIP) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


class OverLimit(EventRejected):
    """A configured intake limit was exceeded; ``limit`` names the key."""

    def __init__(self, path: str, message: str, limit: str) -> None:
        super().__init__(path, message)
        self.limit = limit


@dataclass(frozen=True)
class Limits:
    max_message: int = 8 * 1024 * 1024
    max_nodes: int = 100000
    max_depth: int = 32
    max_detail: int = 4096
    max_batch: int = 1000

    @classmethod
    def from_config(cls, config: Config) -> Limits:
        section = config.data.get("intake", {})
        return cls(**{k: section[k] for k in cls.__dataclass_fields__ if k in section})


@dataclass
class Work:
    """One request on its way: answered at once (``reply``) or waiting for the commit."""

    op: str = ""
    reply: dict[str, Any] | None = None
    events: list[Event] = field(default_factory=list)
    raw: tuple[str, Any] | None = None
    rejected: list[EventRejected] = field(default_factory=list)
    children: list[Work] = field(default_factory=list)
    results: list[bool] = field(default_factory=list)  # duplicate flag per event, after the commit
    peer: str | None = None  # the name of the client's CURVE key

    @property
    def needs_commit(self) -> bool:
        return self.reply is None and (self.op != "batch" or any(c.needs_commit for c in self.children))

    def writes(self) -> list[Work]:
        if self.op == "batch":
            return [w for c in self.children for w in c.writes()]
        return [self] if self.reply is None else []


def under_payload(exc: EventRejected) -> EventRejected:
    if exc.path.startswith(("$.source", "$.events")):
        return exc
    return EventRejected(exc.path.replace("$", "$.payload", 1), exc.message)


def renumber(exc: EventRejected, key: str | None, keep: list[int] | None) -> EventRejected:
    """Give an item's path its index in the payload as sent (bad items were taken out)."""
    if not key or keep is None:
        return exc
    prefix = f"$.{key}["
    if not exc.path.startswith(prefix):
        return exc
    idx, sep, rest = exc.path[len(prefix):].partition("]")
    if not sep or not idx.isdigit() or int(idx) >= len(keep):
        return exc
    return EventRejected(f"{prefix}{keep[int(idx)]}]{rest}", exc.message)


def item(exc: EventRejected) -> dict[str, str]:
    return {"path": exc.path, "error": clip(exc.message)}
