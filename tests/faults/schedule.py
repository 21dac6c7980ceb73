"""Random fault schedules: one seed, one schedule, one run (reproducible).

A schedule is the cluster and daemon settings of a run plus a list of steps,
each at a time (seconds after the daemon started) or waiting for a condition
(``when``: an snmove running, an incident verifying). Kinds of step:

* ``fail`` / ``heal`` / ``partition`` / ``join`` an SN, ``node_down`` a compute node;
* ``events``: monitoring events about an SN from several tools, with duplicates,
  late (stale) copies, out-of-order ``sn.up`` and lost ``sn.up`` (resolved never sent);
* ``backup_death``: once nodes are moving, the SN they move to dies;
* ``kill``: the daemon is SIGKILLed (during an event burst = intake / between store and
  ack, mid-snmove, mid-verification, or at a random time) and restarted.

Slow and hanging xCAT commands are part of the settings (``slow``, ``hang``).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

SNS = ("sn1", "sn2", "sn3", "sn4")
NODES = 8
TOOLS = ("nagios", "zabbix", "alertmanager", "monit", "icinga2")
KILL_POINTS = ("intake", "mid-snmove", "mid-verify", "random")


@dataclass
class Step:
    at: float
    kind: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class Schedule:
    seed: int
    strategy: str
    fence: str
    latency: float
    slow: dict[str, float]
    hang: dict[str, int]
    steps: list[Step]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        lines = [f"seed {self.seed}: strategy={self.strategy} fence={self.fence} latency={self.latency:g} "
                 f"slow={self.slow} hang={self.hang}"]
        for s in self.steps:
            lines.append(f"  t={s.at:5.2f} {s.kind} {s.args}")
        return "\n".join(lines)


def events_for(rng: random.Random, sn: str, kind: str = "sn.down") -> dict[str, Any]:
    """How monitoring reports one change: which tools, duplicates, late copies, lost or early ups."""
    tools = rng.sample(TOOLS, rng.randint(1, 3))
    return {"sn": sn, "kind": kind, "tools": tools, "duplicates": rng.random() < 0.4,
            "stale": rng.random() < 0.2, "soft": rng.random() < 0.15, "delay": round(rng.uniform(0, 1.0), 2)}


def make(seed: int) -> Schedule:
    rng = random.Random(seed)
    steps: list[Step] = []
    slow: dict[str, float] = {}
    hang: dict[str, int] = {}
    if rng.random() < 0.3:
        slow[rng.choice(("nodestat", "xdsh", "lsdef"))] = round(rng.uniform(0.1, 0.6), 2)
    if rng.random() < 0.35:
        slow["snmove"] = round(rng.uniform(0.3, 1.5), 2)
    if rng.random() < 0.2:
        hang[rng.choice(("nodestat", "xdsh", "lsdef", "rpower"))] = rng.randint(1, 2)
    t = 0.2
    victims = list(SNS)
    rng.shuffle(victims)
    for sn in victims[:rng.choice((1, 1, 1, 2))]:
        scenario = rng.choices(("death", "flap", "partition", "flap_then_death"), weights=(5, 2, 2, 1))[0]
        if scenario == "death":
            steps.append(Step(t, "fail", {"sn": sn}))
            steps.append(Step(t + 0.05, "events", events_for(rng, sn)))
        elif scenario == "partition":
            steps.append(Step(t, "partition", {"sn": sn}))
            steps.append(Step(t + 0.05, "events", events_for(rng, sn)))
            if rng.random() < 0.3:
                steps.append(Step(t + rng.uniform(0.5, 3.0), "join", {"sn": sn}))
        else:
            steps.append(Step(t, "fail", {"sn": sn}))
            steps.append(Step(t + 0.05, "events", events_for(rng, sn)))
            back = t + rng.uniform(0.2, 2.0)
            steps.append(Step(back, "heal", {"sn": sn}))
            up = events_for(rng, sn, "sn.up")
            up["lost"] = rng.random() < 0.3  # the resolved notification never comes
            up["early"] = rng.random() < 0.2  # it overtakes the down (out of order)
            steps.append(Step(back + 0.05 if not up["early"] else t, "events", up))
            if scenario == "flap_then_death":
                again = back + rng.uniform(0.3, 2.0)
                steps.append(Step(again, "fail", {"sn": sn}))
                steps.append(Step(again + 0.05, "events", events_for(rng, sn)))
        t += rng.uniform(0.0, 2.0)
    if rng.random() < 0.35:
        cn = f"cn{rng.randint(1, NODES)}"
        steps.append(Step(rng.uniform(0, 2.0), "node_down", {"node": cn}))
    if rng.random() < 0.25:
        steps.append(Step(0.0, "backup_death", {"when": "moving"}))
    if rng.random() < 0.25:  # an up from a monitor about an SN that never failed
        steps.append(Step(rng.uniform(0, 2.0), "events", events_for(rng, rng.choice(SNS), "sn.up")))
    for _ in range(rng.choices((0, 1, 2), weights=(3, 5, 2))[0]):
        point = rng.choice(KILL_POINTS)
        steps.append(Step(rng.uniform(0.1, 3.0) if point in ("intake", "random") else 0.0, "kill",
                          {"point": point, "restart_after": round(rng.uniform(0.0, 0.5), 2)}))
    steps.sort(key=lambda s: s.at)
    return Schedule(seed=seed, strategy=rng.choice(("fast", "snmove")),
                    fence=rng.choice(("off", "best-effort", "require")), latency=rng.choice((0.0, 0.0, 0.005, 0.02)),
                    slow=slow, hang=hang, steps=steps)
