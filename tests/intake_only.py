"""The daemon's real intake on a real ZeroMQ ROUTER, without the incident engine.

Requests go through the same :class:`sntakeover.intake.Intake` the daemon uses:
request and payload schemas, the adapter plugins, event.v1 validation, a real
SQLite store and the duplicate check. Only the engine is left out, so hook and
bridge tests see exactly the daemon's replies without running takeovers. For
failure injection it can also answer garbage, reject everything, or stay silent.
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
from sntakeover.plugins import Hooks, get_plugin_manager
from sntakeover.store import Store
from sntakeover.validation import load_validators


class IntakeOnlyDaemon:
    def __init__(self, endpoint: str = "tcp://127.0.0.1:*", *, mode: str = "normal",
                 options: dict[str, Any] | None = None) -> None:
        self.mode = mode  # normal | reject | garbage | silent
        self.requests: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []  # every accepted event, duplicates included
        self._dir = tempfile.TemporaryDirectory(prefix="snt-intake-")
        self.store = Store(Path(self._dir.name) / "store.db")
        config = build({"adapters": options or {}})
        hooks = Hooks(get_plugin_manager(load_entrypoints=False))
        self.intake = Intake(config, self.store, load_validators(), hooks)
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.bind(endpoint)
        self.endpoint = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _handle(self, body: bytes) -> dict[str, Any]:
        reply = self.intake.handle(body)
        if reply.get("ok"):
            acks = reply.get("events") or ([{"id": reply["id"], "duplicate": reply["duplicate"]}] if "id" in reply else [])
            for ack in acks:
                row = self.store.query("SELECT body FROM events WHERE id = ?", (ack["id"],))
                self.events.append(dict(json.loads(row[0]["body"]), duplicate=ack["duplicate"]))
        return reply

    def _loop(self) -> None:
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        while not self._stop.is_set():
            if not poller.poll(100):
                continue
            frames = self._sock.recv_multipart()
            ident, body = frames[0], frames[-1]
            try:
                req = json.loads(body)
            except ValueError:
                req = {}
            with self._cond:
                self.requests.append(req)
                if self.mode == "silent":
                    self._cond.notify_all()
                    continue
                if self.mode == "garbage":
                    reply = b"not json"
                elif self.mode == "reject":
                    reply = json.dumps({"ok": False, "error": "$.alerts[0].labels: no sn"}).encode()
                else:
                    reply = json.dumps(self._handle(body)).encode()
                self._cond.notify_all()
            self._sock.send_multipart([ident, b"", reply])

    def wait_events(self, n: int, timeout: float) -> list[dict[str, Any]]:
        """Wait until at least ``n`` events (duplicates included) arrived."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.events) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return list(self.events)

    def wait_requests(self, n: int, timeout: float) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return list(self.requests)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close(linger=0)
        self._ctx.term()
        self.store.close()
        self._dir.cleanup()
