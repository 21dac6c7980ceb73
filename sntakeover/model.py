"""Data types passed between the core and plugins.

They are plain frozen dataclasses so plugins can build them without importing
anything else, and so the store can serialise them as JSON.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable


class State(str, enum.Enum):
    """Incident states. Terminal ones are listed in :data:`TERMINAL`.

    Before ``fencing`` nothing has been changed on the cluster and the incident
    may still be cancelled (by the probes seeing the SN up again, by a human).
    From ``fencing`` on the takeover is *committed*: it completes, whatever
    events arrive.
    """

    DETECTED = "detected"  # an sn.down (or request) arrived
    CONFIRMING = "confirming"  # probes are running, round after round
    CONFIRMED = "confirmed"  # the probes agree the SN is down; plan and gates next
    AWAITING_APPROVAL = "awaiting-approval"  # a human must say approve or reject
    AWAITING_BACKUP = "awaiting-backup"  # the backup SN is not healthy or would be over capacity
    AWAITING_FENCE = "awaiting-fence"  # fencing is required and could not be confirmed
    HELD = "held"  # paused, circuit breaker, rate limit or hold-down: nothing moves for now
    FENCING = "fencing"  # making sure the old SN cannot come back half-alive
    MOVING = "moving"  # takeover strategy running
    VERIFYING = "verifying"  # checking every node
    RETRYING = "retrying"  # `sntakeover retry`: the node-side steps again for the nodes that failed
    DONE = "done"  # every planned node verified on its backup
    PARTIAL = "partial"  # some nodes verified, some not
    FAILED = "failed"  # nothing (more) can be done automatically
    CANCELLED = "cancelled"  # the SN is up after all, or a human cancelled before anything moved
    SUPPRESSED = "suppressed"  # downtime / maintenance: recorded, never acted on

    @property
    def terminal(self) -> bool:
        return self in TERMINAL

    @property
    def waiting(self) -> bool:
        """The incident waits for something outside the daemon (a human, the backup, time)."""
        return self in WAITING


TERMINAL = frozenset({State.DONE, State.PARTIAL, State.FAILED, State.CANCELLED, State.SUPPRESSED})
WAITING = frozenset({State.AWAITING_APPROVAL, State.AWAITING_BACKUP, State.AWAITING_FENCE, State.HELD})


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
        # written out rather than dataclasses.asdict (a deep copy): this runs for every stored event
        d = {"id": self.id, "kind": self.kind, "servicenode": self.servicenode, "source": dict(self.source),
             "time": self.time, "nodes": list(self.nodes), "state_type": self.state_type, "severity": self.severity,
             "in_downtime": self.in_downtime, "detail": self.detail}
        return {k: v for k, v in d.items() if v is not None and v != []}


@dataclass(frozen=True)
class NodeProgress:
    """Where an incident's nodes stand, from its per-node rows (what notifiers report).

    :ivar moved: verified on their backup.
    :ivar failed: verification failed (the node list says why).
    :ivar pending: planned and not verified yet (moving, or the takeover reported an error).
    :ivar skipped: left out by the plan (no backup, backup down too...).
    """

    moved: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()

    #: backup SN -> how many of the ``moved`` nodes it serves now
    moved_to: tuple[tuple[str, int], ...] = ()

    @classmethod
    def from_statuses(cls, statuses: dict[str, str], backups: dict[str, str] | None = None) -> NodeProgress:
        """From node -> status of the store's ``nodes`` rows (and node -> backup SN)."""
        def pick(*wanted: str) -> tuple[str, ...]:
            return tuple(n for n, s in statuses.items() if s in wanted)

        moved = pick("verified")
        counts: dict[str, int] = {}
        for n in moved:
            b = (backups or {}).get(n)
            if b:
                counts[b] = counts.get(b, 0) + 1
        return cls(moved, pick("failed"), pick("planned", "waiting", "ready", "moving", "moved", "node-error", "retry"),
                   pick("skipped"), tuple(sorted(counts.items())))


@dataclass(frozen=True)
class Incident:
    """A read-only view of an incident handed to plugins.

    ``progress`` is a :class:`NodeProgress` as of when the view was made.
    """

    id: int
    servicenode: str
    state: State
    opened: str
    reason: str = ""
    nodes: tuple[str, ...] = ()  # restriction from the event(s); empty = every node of the SN
    requested: bool = False  # opened by takeover.request (skips confirmation)
    committed: bool = False  # fencing or moving has begun: the takeover completes, sn.up only noted
    progress: NodeProgress = field(default_factory=NodeProgress)
    committed_at: str | None = None  # when fencing or moving began


@dataclass(frozen=True)
class ProbeResult:
    """What one probe saw of one service node.

    ``down`` is ``True`` (evidence that the SN is down), ``False`` (evidence that
    it is up) or ``None``: *cannot tell* -- the probe could not run (missing
    command, timeout, no permission, name does not resolve). "Cannot tell" is
    never counted as down.
    """

    probe: str
    down: bool | None
    detail: str = ""


#: the exit code recorded for an xCAT command a previous daemon started and never saw end
INTERRUPTED = -1


@dataclass(frozen=True)
class NodeMove:
    """One node to move: from ``source`` (its first servicenode) to ``backup``."""

    node: str
    source: str
    backup: str
    servicenode: str  # the full servicenode value seen when planning, e.g. "sn1,sn2"
    xcatmaster: str = ""
    solo: bool = False  # must be moved by its own snmove call (statelite row with $-variables)
    os: str = ""  # nodetype.os: snmove refuses AIX and Linux nodes in one call


@dataclass(frozen=True)
class Plan:
    """Nodes to move for one incident, and nodes left out with the reason."""

    moves: tuple[NodeMove, ...]
    skipped: dict[str, str] = field(default_factory=dict)  # node -> why it is not moved
    warnings: tuple[str, ...] = ()  # hazards the planner saw (e.g. statelite $-rows), said in plain words

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(m.node for m in self.moves)

    def by_backup(self) -> dict[str, list[str]]:
        groups: dict[str, list[str]] = {}
        for m in self.moves:
            groups.setdefault(m.backup, []).append(m.node)
        return groups

    def only(self, nodes: Iterable[str]) -> Plan:
        """The same plan restricted to ``nodes`` (the skipped list and warnings are kept)."""
        keep = set(nodes)
        return Plan(tuple(m for m in self.moves if m.node in keep), self.skipped, self.warnings)

    def to_dict(self) -> dict[str, Any]:
        return {"moves": [asdict(m) for m in self.moves], "skipped": dict(self.skipped),
                "warnings": list(self.warnings)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Plan:
        return cls(moves=tuple(NodeMove(**m) for m in d.get("moves", ())), skipped=dict(d.get("skipped", {})),
                   warnings=tuple(d.get("warnings", ())))


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
    """What one verifier says about one node.

    ``ok`` is True (the node passed this check), False (it failed) or None
    (this verifier should have been able to tell but could not, e.g. its command
    timed out). A verifier with nothing to say about a node returns no verdict
    for it. ``verifier`` names the check (``database``, ``node``...); the core
    fills in the plugin's name when it is empty.
    """

    node: str
    ok: bool | None
    servicenode: str = ""
    xcatmaster: str = ""
    detail: str = ""
    verifier: str = ""
