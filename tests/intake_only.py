"""The daemon's own intake loop on a real ZeroMQ ROUTER and a real store, without the engine.

:class:`IntakeOnlyDaemon` starts :class:`sntakeover.intakeloop.IntakeLoop` -- the
very loop ``sntakeover serve`` runs: group commit, limits, schemas, the adapter
plugins, the duplicate check -- on a temporary SQLite store. What the tests look
at is read back from that store: ``requests`` are the raw payloads it stored,
``events`` every event those payloads carried in order, with ``duplicate`` true
when an earlier payload had already brought that id.

:class:`FaultyDaemon` is the one deliberate fake: a ROUTER that answers
garbage or stays silent, for the clients' error paths.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import zmq

from sntakeover.config import build
from sntakeover.intake import Intake
from sntakeover.intakeloop import IntakeLoop
from sntakeover.plugins import Hooks, get_plugin_manager
from sntakeover.store import Store
from sntakeover.validation import load_validators


class IntakeOnlyDaemon:
    def __init__(self, endpoint: str = "tcp://127.0.0.1:*", *, options: dict[str, Any] | None = None,
                 config: dict[str, Any] | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="snt-intake-")
        self.path = Path(self._dir.name) / "store.db"
        self.store = Store(self.path)
        self.config = build({"adapters": options or {}, **(config or {})})
        hooks = Hooks(get_plugin_manager(load_entrypoints=False))
        self.intake = Intake(self.config, self.store, load_validators(), hooks)
        self.loop = IntakeLoop(self.intake, endpoint, offload_bytes=self.config.get("intake", "offload_bytes")).start()
        self.endpoint = self.loop.endpoint

    def _reader(self) -> Store:
        return Store(self.path, readonly=True)

    @property
    def requests(self) -> list[dict[str, Any]]:
        s = self._reader()
        try:
            rows = s.query("SELECT source, payload FROM raw ORDER BY seq")
        finally:
            s.close()
        return [{"v": 1, "op": "raw", "source": r["source"], "payload": json.loads(r["payload"])} for r in rows]

    @property
    def events(self) -> list[dict[str, Any]]:
        s = self._reader()
        try:
            bodies = {r["id"]: json.loads(r["body"]) for r in s.query("SELECT id, body FROM events")}
            raws = [json.loads(r["event_ids"]) for r in s.query("SELECT event_ids FROM raw ORDER BY seq")]
        finally:
            s.close()
        seen: set[str] = set()
        out = []
        for ids in raws:
            for i in ids:
                out.append(dict(bodies[i], duplicate=i in seen))
                seen.add(i)
        return out

    def wait_requests(self, n: int, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(reqs := self.requests) < n and time.monotonic() < deadline:
            time.sleep(0.02)
        return reqs

    def close(self) -> None:
        self.loop.stop()
        self.store.close()
        self._dir.cleanup()


class FaultyDaemon:
    """A ROUTER that answers every request with garbage, or never answers."""

    def __init__(self, mode: str) -> None:
        self.mode = mode  # garbage | silent
        self.received = 0
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.bind("tcp://127.0.0.1:*")
        self.endpoint = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            if not self._sock.poll(50):
                continue
            frames = self._sock.recv_multipart()
            self.received += 1
            if self.mode == "garbage":
                self._sock.send_multipart([*frames[:-1], b"not json"])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close(linger=0)
        self._ctx.term()
