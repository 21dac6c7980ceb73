"""A stand-in for the daemon's intake: a real ZeroMQ ROUTER that replies like the daemon.

It does what the daemon does with an ``op: raw`` request -- validate the payload
against the source's schema, call the adapter, validate each event against
event.v1, remember ids to flag duplicates -- and nothing more (no store, no
incidents). Used to test the hooks, the HTTP bridge and the real monitoring
tools' delivery until the end-to-end tests run against the real daemon.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import zmq

from sntakeover.errors import EventRejected
from sntakeover.plugins import Hooks, get_plugin_manager
from sntakeover.validation import load_validators

ADAPTERS = [f"sntakeover.adapters.{m}" for m in ("alertmanager", "nagios", "icinga2", "zabbix", "monit", "regnotif", "xcatmon")]


class FakeDaemon:
    def __init__(self, endpoint: str = "tcp://127.0.0.1:*", *, mode: str = "normal", options: dict[str, Any] | None = None) -> None:
        self.mode = mode  # normal | reject | garbage | silent
        self.options = options or {}
        self.requests: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []  # every accepted event, duplicates included
        self.seen: set[str] = set()
        self._hooks = Hooks(get_plugin_manager(load_entrypoints=False, builtins=ADAPTERS))
        self._validators = load_validators()
        self._ctx = zmq.Context()
        self._sock = self._ctx.socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.bind(endpoint)
        self.endpoint = self._sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _handle(self, req: dict[str, Any]) -> dict[str, Any]:
        source, payload = req.get("source"), req.get("payload")
        name = "alertmanager.v4" if source == "alertmanager" else f"{source}.v1"
        try:
            if name in self._validators.by_name:
                self._validators.validate(name, payload)
            events = self._hooks.adapt(source, payload, self.options.get(source, {}))
            if events is None:
                raise EventRejected("$.source", f"no adapter for {source!r}")
            for ev in events:
                self._validators.validate("event.v1", ev)
        except EventRejected as exc:
            return {"ok": False, "error": str(exc)}
        out = []
        for ev in events:
            dup = ev["id"] in self.seen
            self.seen.add(ev["id"])
            self.events.append(dict(ev, duplicate=dup))
            out.append({"id": ev["id"], "duplicate": dup})
        return {"ok": True, "events": out}

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
                    reply = json.dumps(self._handle(req)).encode()
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
