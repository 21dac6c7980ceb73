"""Request handling: decode, validate, store, and only then build the ack.

:class:`Intake` has no socket; the daemon's intake loop owns the ROUTER socket
and calls :meth:`Intake.handle` with each request body. ``handle`` never raises:
any input gives a reply, and a rejection names the JSON path and message.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections import Counter
from typing import Any, Callable

from . import __version__
from .config import Config
from .errors import EventRejected, StoreError
from .model import Event
from .plugins import Hooks
from .store import Store
from .validation import Validators

log = logging.getLogger(__name__)

MAX_EVENTS_PER_REQUEST = 10000


class Intake:
    def __init__(
        self,
        config: Config,
        store: Store,
        validators: Validators,
        hooks: Hooks,
        *,
        on_stored: Callable[[], None] = lambda: None,
        status: Callable[[], dict[str, Any]] = dict,
        control: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.validators = validators
        self.hooks = hooks
        self.on_stored = on_stored
        self.status = status
        self.control = control
        self.counters: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counters[key] += n

    def handle(self, body: bytes) -> dict[str, Any]:
        self.count("requests")
        try:
            return self._handle(body)
        except EventRejected as exc:
            self.count("rejected")
            log.warning("rejected request: %s", exc)
            return {"ok": False, "error": str(exc)}
        except (StoreError, sqlite3.Error) as exc:  # nothing was stored: the sender must try again
            self.count("store_errors")
            log.error("store error, request not acknowledged: %s", exc)
            return {"ok": False, "error": f"store error: {exc}", "retry": True}
        except Exception as exc:  # noqa: BLE001 - the daemon never crashes on input
            self.count("errors")
            log.exception("error while handling a request")
            return {"ok": False, "error": f"internal error: {type(exc).__name__}: {exc}"}

    def _handle(self, body: bytes) -> dict[str, Any]:
        try:
            req = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EventRejected("$", f"request is not valid JSON: {exc}") from None
        self.validators.validate("request.v1", req)
        op = req["op"]
        if op == "ping":
            return {"ok": True, "pong": True, "version": __version__}
        if op == "status":
            return {"ok": True, "status": self.status(), "counters": dict(self.counters)}
        if op == "control":
            if self.control is None:
                return {"ok": False, "error": "this daemon takes no control requests"}
            self.count("control")
            return self.control(req)
        if op == "event":
            return self._event(req["event"])
        return self._raw(req["source"], req["payload"])

    def _event(self, data: dict[str, Any]) -> dict[str, Any]:
        self.validators.validate("event.v1", data)
        event = Event.from_dict(data)
        duplicate, _ = self.store.add_event(event)
        self.count("duplicates" if duplicate else "accepted")
        if not duplicate:
            self.on_stored()
            self.hooks.event_recorded(event, None)
        log.info("event %s (%s %s) %s", event.id, event.kind, event.servicenode, "duplicate" if duplicate else "stored")
        return {"ok": True, "id": event.id, "duplicate": duplicate}

    def raw_schema(self, source: str) -> str | None:
        names = sorted(n for n in self.validators.names() if n.startswith(f"{source}.v"))
        return names[-1] if names else None

    def adapt(self, source: str, payload: Any, options: dict[str, Any] | None = None) -> list[Event]:
        """Validate a raw payload, run the source's adapter, validate what it produced.

        Rejection paths are relative to the payload (``$.alerts[0].labels``);
        produced events are reported as ``$.events[i]...``.
        """
        schema = self.raw_schema(source)
        if schema:
            self.validators.validate(schema, payload)
        opts = self.config.adapter_options(source) if options is None else options
        produced = self.hooks.adapt(source, payload, opts)
        if produced is None:
            raise EventRejected("$.source", f"no adapter for source {source!r}")
        if len(produced) > MAX_EVENTS_PER_REQUEST:
            raise EventRejected("$", f"{len(produced)} events in one request (limit {MAX_EVENTS_PER_REQUEST})")
        events = []
        for i, data in enumerate(produced):
            try:
                self.validators.validate("event.v1", data)
            except EventRejected as exc:
                raise EventRejected(f"$.events[{i}]" + exc.path[1:], f"adapter {source} produced: {exc.message}") from None
            events.append(Event.from_dict(data))
        return events

    def _raw(self, source: str, payload: Any) -> dict[str, Any]:
        try:
            events = self.adapt(source, payload)
        except EventRejected as exc:
            if exc.path.startswith(("$.source", "$.events")):
                raise
            raise EventRejected(exc.path.replace("$", "$.payload", 1), exc.message) from None
        results = self.store.add_events(events, raw=(source, payload))
        new = [e for e, (dup, _) in zip(events, results) if not dup]
        self.count("accepted", len(new))
        self.count("duplicates", len(events) - len(new))
        self.count("raw")
        if new:
            self.on_stored()
            for e in new:
                self.hooks.event_recorded(e, None)
        log.info("raw %s payload: %d event(s), %d new", source, len(events), len(new))
        return {"ok": True, "events": [{"id": e.id, "duplicate": dup} for e, (dup, _) in zip(events, results)]}
