"""Confirmation: is the service node really down?

Evidence comes in *rounds*. In each round every probe plugin looks at the SN
once (:meth:`sntakeover.plugins.Hooks.probe`), and every monitoring source
(tool and host) whose latest report for this incident is a hard "down" adds a
vote. A probe that cannot run says "cannot tell" and never counts. A round's
verdict:

* **down** -- at least ``confirm.quorum`` down votes, at least one of them from
  the daemon's own probes, and more down votes than up votes;
* **up** -- at least ``confirm.quorum`` up votes and more up than down;
* **unclear** -- anything else.

``confirm.rounds`` consecutive *down* rounds confirm the incident; as many
consecutive *up* rounds cancel it (the SN answers after all); neither within
``confirm.timeout`` leaves the decision to a human. The rounds are kept on the
incident (``evidence``), so a restarted daemon continues counting.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from .clock import age, now
from .model import ProbeResult

log = logging.getLogger(__name__)

DOWN_KINDS = ("sn.down", "node.unreachable")


@dataclass
class Round:
    """One round of votes about one SN."""

    time: str
    down: list[str] = field(default_factory=list)
    up: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    probe_down: int = 0
    verdict: str = "unclear"

    def describe(self) -> str:
        parts = []
        for label, votes in (("down", self.down), ("up", self.up), ("cannot tell", self.unknown)):
            if votes:
                parts.append(f"{label}: " + "; ".join(votes))
        return " | ".join(parts) or "no probe answered"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Round:
        return cls(**{k: d[k] for k in ("time", "down", "up", "unknown", "probe_down", "verdict") if k in d})


def tally(results: Iterable[ProbeResult], monitor_votes: Iterable[str], quorum: int) -> Round:
    """Count one round of probe results plus the monitoring sources' standing votes."""
    r = Round(now())
    for res in results:
        text = f"{res.probe} ({res.detail})" if res.detail else res.probe
        if res.down is True:
            r.down.append(text)
            r.probe_down += 1
        elif res.down is False:
            r.up.append(text)
        else:
            r.unknown.append(text)
    r.down.extend(f"monitoring {src}" for src in monitor_votes)
    d, u = len(r.down), len(r.up)
    if d >= quorum and r.probe_down >= 1 and d > u:
        r.verdict = "down"
    elif u >= quorum and u > d:
        r.verdict = "up"
    return r


def streak(rounds: list[Round], need: int) -> str | None:
    """``"down"``/``"up"`` when the last ``need`` rounds all had that verdict, else None."""
    last = rounds[-need:]
    if len(last) < need:
        return None
    verdicts = {r.verdict for r in last}
    if verdicts == {"down"}:
        return "down"
    if verdicts == {"up"}:
        return "up"
    return None


def monitor_votes(events: Iterable[dict[str, Any]], max_age: float) -> list[str]:
    """Monitoring sources whose latest report (of ``events``, oldest first) is a fresh hard down.

    ``events`` are event bodies (``event.v1`` dicts) with their ``outcome``;
    soft states never vote, stale events never vote, and a later ``sn.up`` from
    the same source withdraws its vote.
    """
    latest: dict[str, dict[str, Any]] = {}
    for ev in events:
        if ev.get("kind") not in (*DOWN_KINDS, "sn.up"):
            continue
        src = ev.get("source", {})
        key = f"{src.get('tool', '?')}@{src.get('host', '?')}"
        latest[key] = ev
    votes = []
    for key, ev in sorted(latest.items()):
        if ev["kind"] not in DOWN_KINDS or ev.get("state_type") == "soft":
            continue
        if str(ev.get("outcome", "")).startswith("stale") or age(ev["time"]) > max_age:
            continue
        votes.append(key)
    return votes


def load_rounds(evidence: dict[str, Any]) -> list[Round]:
    return [Round.from_dict(d) for d in evidence.get("rounds", [])]


def evidence_json(evidence: dict[str, Any]) -> str:
    return json.dumps(evidence, sort_keys=True)
