"""Data types passed between the core and plugins.

They are plain frozen dataclasses so plugins can build them without importing
anything else, and so the store can serialise them as JSON.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class State(str, enum.Enum):
    """Incident states. Terminal ones are listed in :data:`TERMINAL`."""

    DETECTED = "detected"  # an sn.down (or request) arrived
    CONFIRMING = "confirming"  # probes are running
    CONFIRMED = "confirmed"  # quorum of probes says the SN is down
    FENCING = "fencing"  # making sure the old SN cannot come back half-alive
    MOVING = "moving"  # takeover strategy running
    VERIFYING = "verifying"  # checking every node
    DONE = "done"  # every planned node verified on its backup
    PARTIAL = "partial"  # some nodes verified, some not
    FAILED = "failed"  # nothing (more) can be done automatically
    CANCELLED = "cancelled"  # takeover.cancel, or the SN came back before moving
    SUPPRESSED = "suppressed"  # downtime / maintenance / not a HARD state

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({State.DONE, State.PARTIAL, State.FAILED, State.CANCELLED, State.SUPPRESSED})


@dataclass(frozen=True)
class Event:
    """A validated event (see ``schemas/event.v1.json``)."""

    id: str
    kind: str
    servicenode: str
    source: dict[str, Any]
    time: str
    nodes: tuple[str, ...] = ()
    state_type: str | None = None
    severity: str | None = None
    in_downtime: bool = False
    detail: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        return cls(
            id=d["id"],
            kind=d["kind"],
            servicenode=d["servicenode"],
            source=dict(d["source"]),
            time=d["time"],
            nodes=tuple(d.get("nodes") or ()),
            state_type=d.get("state_type"),
            severity=d.get("severity"),
            in_downtime=bool(d.get("in_downtime", False)),
            detail=d.get("detail"),
        )

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["nodes"] = list(self.nodes)
        return {k: v for k, v in d.items() if v is not None and v != []}


@dataclass(frozen=True)
class Incident:
    """A read-only view of an incident handed to plugins."""

    id: int
    servicenode: str
    state: State
    opened: str
    reason: str = ""
    nodes: tuple[str, ...] = ()  # restriction from the event(s); empty = every node of the SN
    requested: bool = False  # opened by takeover.request (skips confirmation)


@dataclass(frozen=True)
class ProbeResult:
    """What one confirmation probe saw. ``down`` is True/False, or None for "cannot tell"."""

    probe: str
    down: bool | None
    detail: str = ""


@dataclass(frozen=True)
class NodeMove:
    """One node to move: from ``source`` (its first servicenode) to ``backup``."""

    node: str
    source: str
    backup: str
    servicenode: str  # the full servicenode value seen when planning, e.g. "sn1,sn2"
    xcatmaster: str = ""
    solo: bool = False  # must be moved by its own snmove call (statelite row with $-variables)


@dataclass(frozen=True)
class Plan:
    """Nodes to move for one incident, and nodes left out with the reason."""

    moves: tuple[NodeMove, ...]
    skipped: dict[str, str] = field(default_factory=dict)  # node -> why it is not moved

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(m.node for m in self.moves)

    def by_backup(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for m in self.moves:
            groups.setdefault(m.backup, []).append(m.node)
        return groups

    def to_dict(self) -> dict[str, Any]:
        return {"moves": [asdict(m) for m in self.moves], "skipped": dict(self.skipped)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        return cls(moves=tuple(NodeMove(**m) for m in d.get("moves", ())), skipped=dict(d.get("skipped", {})))


@dataclass(frozen=True)
class FenceResult:
    """Outcome of fencing the failed SN. ``fenced`` False with ``required`` stops the incident."""

    method: str
    fenced: bool
    detail: str = ""


@dataclass(frozen=True)
class TakeoverResult:
    """What a takeover strategy did. ``node_errors`` maps a node to the error text xCAT printed."""

    strategy: str
    commands: tuple[tuple[str, ...], ...] = ()
    rc: int = 0
    node_errors: dict[str, str] = field(default_factory=dict)
    errors: tuple[str, ...] = ()  # error lines not tied to one node
    output: str = ""


@dataclass(frozen=True)
class NodeVerdict:
    """Verification result for one node."""

    node: str
    ok: bool
    servicenode: str = ""
    xcatmaster: str = ""
    detail: str = ""
