"""Prometheus metrics for sntakeover itself, on ``[metrics] listen`` (``/metrics``).

One collector reads the store at scrape time, so the counters survive restarts
and can never disagree with ``sntakeover show``: events by source and outcome,
incidents by state, takeover and verification durations (histograms over the
closed incidents), nodes moved and failed, probe results by probe and verdict,
notifier failures, the breaker, the kill switch, the last probe answer per
service node, and how long each waiting incident has waited. The rule file
``hooks/prometheus/sntakeover-self-rules.yml`` alerts on them.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from . import __version__, controls
from .clock import age, parse
from .model import State
from .store import Store
from .tally import Tally

log = logging.getLogger(__name__)

TAKEOVER_BUCKETS = (5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)
VERIFY_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
TAKEOVER_STATES = ("fencing", "moving")


def durations(timeline: list[Any]) -> tuple[float, float]:
    """(seconds fencing + moving, seconds verifying) from one closed incident's transitions."""
    changes = [t for t in timeline if t["to_state"]]
    took = verified = 0.0
    for cur, nxt in zip(changes, changes[1:]):
        spent = max(0.0, age(cur["time"], nxt["time"]))
        if cur["to_state"] in TAKEOVER_STATES:
            took += spent
        elif cur["to_state"] == "verifying":
            verified += spent
    return took, verified


def _histogram(name: str, doc: str, values: list[float], buckets: tuple[float, ...]) -> HistogramMetricFamily:
    counts = [(str(b), sum(1 for v in values if v <= b)) for b in buckets] + [("+Inf", len(values))]
    return HistogramMetricFamily(name, doc, buckets=counts, sum_value=sum(values))


class StoreCollector(Collector):
    def __init__(self, store: Store, tally: Tally) -> None:
        self.store = store
        self.tally = tally
        self._durations: dict[int, tuple[float, float]] = {}  # closed incidents never change
        self._lock = threading.Lock()

    def collect(self) -> Iterator[Any]:
        try:
            yield from self._collect()
        except Exception:  # noqa: BLE001 - a scrape must not take the daemon down
            log.exception("metrics: cannot read the store")

    def _collect(self) -> Iterator[Any]:
        q = self.store.query
        t = self.tally
        info = GaugeMetricFamily("sntakeover_build_info", "sntakeover version", labels=["version"])
        info.add_metric([__version__], 1)
        yield info

        accepted = {r[0] or "unknown": r[1] for r in q(
            "SELECT json_extract(body, '$.source.tool'), COUNT(*) FROM events GROUP BY 1")}
        dup, rej = t.totals("events_duplicate"), t.totals("requests_rejected")
        fams = {
            "received": ("sntakeover_events_received_total", "Events received (accepted, duplicate or rejected) by source."),
            "accepted": ("sntakeover_events_accepted_total", "Events stored and acknowledged, by source."),
            "duplicate": ("sntakeover_events_duplicate_total", "Events acknowledged as duplicates of a stored one, by source."),
            "rejected": ("sntakeover_events_rejected_total", "Requests refused as invalid (each may have carried several events), by source."),
        }
        made = {k: CounterMetricFamily(n.removesuffix("_total"), d, labels=["source"]) for k, (n, d) in fams.items()}
        for src in sorted(set(accepted) | set(dup) | set(rej)):
            a, d, r = accepted.get(src, 0), dup.get(src, 0), rej.get(src, 0)
            made["accepted"].add_metric([src], a)
            made["duplicate"].add_metric([src], d)
            made["rejected"].add_metric([src], r)
            made["received"].add_metric([src], a + d + r)
        yield from made.values()

        c = CounterMetricFamily("sntakeover_events_quarantined",
                                "Events quarantined after engine.apply_attempts failed applies.")
        c.add_metric([], q("SELECT COUNT(*) FROM events WHERE outcome LIKE 'quarantined: %'")[0][0])
        yield c

        by_state = {r[0]: r[1] for r in q("SELECT state, COUNT(*) FROM incidents GROUP BY state")}
        g = GaugeMetricFamily("sntakeover_incidents", "Incidents in each state (open and closed).", labels=["state"])
        for st in State:
            g.add_metric([st.value], by_state.get(st.value, 0))
        yield g
        g = GaugeMetricFamily("sntakeover_incidents_open", "Incidents not closed yet.")
        g.add_metric([], q("SELECT COUNT(*) FROM incidents WHERE closed IS NULL")[0][0])
        yield g

        waiting = GaugeMetricFamily("sntakeover_incident_waiting_seconds",
                                    "Seconds an open incident has been in its waiting state (awaiting-*, held).",
                                    labels=["incident", "servicenode", "state"])
        for r in q("SELECT id, servicenode, state, updated FROM incidents WHERE closed IS NULL"):
            if State(r["state"]).waiting:
                waiting.add_metric([str(r["id"]), r["servicenode"], r["state"]], max(0.0, age(r["updated"])))
        yield waiting

        takeover, verify = self._closed_durations()
        yield _histogram("sntakeover_takeover_duration_seconds",
                         "Seconds closed incidents spent fencing and moving nodes.", takeover, TAKEOVER_BUCKETS)
        yield _histogram("sntakeover_verification_duration_seconds",
                         "Seconds closed incidents spent verifying moved nodes.", verify, VERIFY_BUCKETS)

        moved = q("SELECT COUNT(*) FROM nodes WHERE moved IS NOT NULL")[0][0]
        failed = q("SELECT COUNT(*) FROM nodes WHERE status IN ('failed', 'node-error')")[0][0]
        c = CounterMetricFamily("sntakeover_nodes_moved", "Nodes the takeover ran for (snmove, or found already moved).")
        c.add_metric([], moved)
        yield c
        c = CounterMetricFamily("sntakeover_nodes_failed", "Nodes whose move or verification failed.")
        c.add_metric([], failed)
        yield c

        c = CounterMetricFamily("sntakeover_probe_results", "Probe results by probe and verdict (down, up, cannot-tell).",
                                labels=["probe", "verdict"])
        for label, v in sorted(t.totals("probe_results").items()):
            probe, _, verdict = label.rpartition("|")
            c.add_metric([probe, verdict], v)
        yield c
        g = GaugeMetricFamily("sntakeover_probe_last_answer_timestamp_seconds",
                              "When a probe last got an answer (down or up) about each service node.",
                              labels=["servicenode"])
        for sn, v in sorted(t.totals("probe_last_answer").items()):
            g.add_metric([sn], v)
        yield g
        c = CounterMetricFamily("sntakeover_notifier_failures", "Notifications a notifier failed to deliver.",
                                labels=["notifier"])
        for name, v in sorted(t.totals("notifier_failures").items()):
            c.add_metric([name], v)
        yield c

        for key, name, doc in ((controls.BREAKER, "sntakeover_breaker_tripped", "1 while the circuit breaker is tripped."),
                               (controls.PAUSE, "sntakeover_paused", "1 while sntakeover is paused (kill switch).")):
            ctl = controls.get(self.store, key)
            g = GaugeMetricFamily(name, doc)
            g.add_metric([], 1 if ctl else 0)
            yield g
            g = GaugeMetricFamily(f"{name}_since_timestamp_seconds", "When it became 1 (absent while 0).")
            if ctl:
                g.add_metric([], parse(ctl.since).timestamp())
            yield g

    def _closed_durations(self) -> tuple[list[float], list[float]]:
        with self._lock:
            for r in self.store.query("SELECT id FROM incidents WHERE closed IS NOT NULL AND committed IS NOT NULL"):
                if r["id"] not in self._durations:
                    self._durations[r["id"]] = durations(self.store.timeline(r["id"]))
            values = list(self._durations.values())
        return [a for a, _ in values], [b for _, b in values if b > 0]


class MetricsServer:
    """``/metrics`` over HTTP on ``listen`` (``HOST:PORT``), in its own threads."""

    def __init__(self, listen: str, store: Store, tally: Tally) -> None:
        from prometheus_client import start_http_server
        from prometheus_client.process_collector import ProcessCollector

        host, _, port = listen.rpartition(":")
        host = host.strip("[]")
        self.store = store
        self.registry = CollectorRegistry()
        self.registry.register(StoreCollector(store, tally))
        ProcessCollector(registry=self.registry)
        self.server, self.thread = start_http_server(int(port), addr=host, registry=self.registry)
        bound = self.server.server_address
        self.address = f"[{bound[0]}]:{bound[1]}" if ":" in bound[0] else f"{bound[0]}:{bound[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.store.close()
