"""Request handling without a socket: prepare, then commit, then reply.

:meth:`Intake.prepare` decodes one request, checks the limits (message size,
nesting depth, nodes per event, detail length), validates it against the
schemas and runs the adapter of a raw payload; it never raises and never
touches the store. :meth:`Intake.commit` stores the events of many prepared
requests in **one** transaction (group commit), applies them in it when the
engine lets it (:meth:`sntakeover.engine.Engine.apply_stored`), and only then
fills in each reply. The socket side lives in :mod:`sntakeover.intakeloop`.

Replies: ``{"ok": true, ...}`` after the commit; ``{"ok": false, "error":
"<JSON path>: <message>"}`` for a rejection (``"limit": "intake.<key>"`` when
a configured limit was exceeded); ``"retry": true`` for a store or internal
error, so the sender tries again (nothing was stored).

On a ``tcp://`` endpoint with CURVE every request comes with the name of the
client's key (``peer``): it is recorded on each event (``events.sender``), a key
removed from ``auth.keys_dir`` is refused, and only the keys in ``auth.admins``
may ask for ``status`` or send ``control`` requests (whose ``by`` is then the
key's name, not what the sender says). Without a peer (``ipc://``, whose
directory permissions decide who connects) every request is allowed.

A raw payload whose schema names an item list (``"x-sntakeover-items":
"alerts"``) is judged per item: the good items are stored, each bad one is
reported in ``rejected`` with its path (``$.payload.alerts[1].labels``).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections import Counter
from typing import Any, Callable

from jsonschema.exceptions import best_match

from . import __version__
from .config import Config
from .errors import EventRejected, StoreError
from .intakework import Limits, OverLimit, Work, clip, item, renumber, under_payload
from .jsonshape import depth_exceeds, lone_surrogate, may_hold_surrogates
from .model import Event
from .plugins import Hooks
from .clock import now
from .store import Store
from .validation import Validators, error_message

log = logging.getLogger(__name__)

MAX_EVENTS_PER_REQUEST = 10000
ITEMS_KEYWORD = "x-sntakeover-items"


class Intake:
    def __init__(
        self,
        config: Config,
        store: Store | None,
        validators: Validators,
        hooks: Hooks,
        *,
        on_stored: Callable[[], None] = lambda: None,
        status: Callable[[], dict[str, Any]] = dict,
        control: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        apply: Callable[[Store, Any, list[tuple[int, Event]], str], Callable[[], None] | None] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.validators = validators
        self.hooks = hooks
        self.on_stored = on_stored
        self.status = status
        self.control = control
        #: applies the new events inside the commit's transaction (the engine's
        #: :meth:`~sntakeover.engine.Engine.apply_stored`); returns what to run after the commit
        self.apply = apply
        self.limits = Limits.from_config(config)
        #: the allowed keys (:class:`sntakeover.auth.KeyRing`) when the endpoint uses CURVE
        self.keyring: Any = None
        self.counters: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counters[key] += n

    def _count_ack(self, accepted: int, duplicates: int, raw: int) -> None:
        with self._lock:
            self.counters["accepted"] += accepted
            self.counters["duplicates"] += duplicates
            if raw:
                self.counters["raw"] += raw

    # -- one request, start to finish (tests, tools) --------------------------------

    def handle(self, body: bytes, peer: str | None = None) -> dict[str, Any]:
        work = self.prepare(body, peer=peer)
        if work.needs_commit:
            self.commit([work])
        return self.finish(work)

    # -- prepare: decode, limits, schemas, adapters (no store) ----------------------

    def prepare(self, body: bytes, peer: str | None = None) -> Work:
        """Turn one request body (from the key named ``peer``) into a :class:`Work`; never raises."""
        self.count("requests")
        try:
            if self.keyring is not None and (peer is None or not self.keyring.allows(peer)):
                self.count("auth_refused")
                raise EventRejected("$", f"key {peer!r} is not (or no longer) in auth.keys_dir: request refused")
            req = self._decode(body)
            return self._prepare_request(req, top=True, peer=peer)
        except EventRejected as exc:
            return Work(reply=self._rejection(exc))
        except Exception as exc:  # noqa: BLE001 - the daemon never crashes on input
            return Work(reply=self._internal(exc))

    def _rejection(self, exc: EventRejected) -> dict[str, Any]:
        self.count("rejected")
        text = clip(str(exc))
        reply: dict[str, Any] = {"ok": False, "error": text}
        if isinstance(exc, OverLimit):
            self.count("over_limit")
            reply["limit"] = exc.limit
        log.warning("rejected request: %s", text)
        return reply

    def _internal(self, exc: Exception) -> dict[str, Any]:
        self.count("errors")
        log.error("error while handling a request: %s", clip(f"{type(exc).__name__}: {exc}"), exc_info=exc)
        return {"ok": False, "error": clip(f"internal error: {type(exc).__name__}: {exc}"), "retry": True}

    def _decode(self, body: bytes) -> Any:
        lim = self.limits
        if len(body) > lim.max_message:
            raise OverLimit("$", f"request of {len(body)} bytes is larger than intake.max_message ({lim.max_message} bytes)",
                            "intake.max_message")
        try:
            req = json.loads(body)
        except RecursionError:
            raise OverLimit("$", f"request nested deeper than intake.max_depth ({lim.max_depth})", "intake.max_depth") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise EventRejected("$", f"request is not valid JSON: {exc}") from None
        if depth_exceeds(body, req, lim.max_depth):
            raise OverLimit("$", f"request nested deeper than intake.max_depth ({lim.max_depth})", "intake.max_depth")
        if may_hold_surrogates(body):
            where = lone_surrogate(req)
            if where is not None:  # not a character: it could be stored, but never written as text again
                raise EventRejected(where, "text holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not a "
                                           "character; send the text as UTF-8")
        return req

    def _authorise(self, op: str, peer: str | None) -> None:
        """``status`` and ``control`` only for the keys in ``auth.admins`` (any local ipc client)."""
        if peer is None or peer in self.config.get("auth", "admins"):
            return
        self.count("auth_refused")
        raise EventRejected("$.op", f"key {peer!r} may send events but not {op} requests (it is not in auth.admins)")

    def _prepare_request(self, req: Any, *, top: bool, peer: str | None = None) -> Work:
        self.validators.validate("request.v1", _envelope(req))
        op = req["op"]
        if op in ("status", "control"):
            self._authorise(op, peer)
        if op == "ping":
            return Work(op, reply={"ok": True, "pong": True, "version": __version__})
        if op == "status":
            return Work(op, reply={"ok": True, "status": self.status(), "counters": dict(self.counters)})
        if op == "control":
            if not top:
                raise EventRejected("$.op", "a control request cannot be part of a batch")
            if self.control is None:
                return Work(op, reply={"ok": False, "error": "this daemon takes no control requests"})
            self.count("control")
            if peer is not None:  # who did it is the key, not what the sender says
                req = {**req, "by": peer}
            return Work(op, reply=self.control(req))
        if op == "event":
            work = self._prepare_event(req["event"])
        elif op == "raw":
            work = self._prepare_raw(req["source"], req["payload"])
        else:
            return self._prepare_batch(req, top=top, peer=peer)
        work.peer = peer
        return work

    def _prepare_batch(self, req: dict[str, Any], *, top: bool, peer: str | None) -> Work:
        # batch: each request answered on its own, in order
        if not top:
            raise EventRejected("$.op", "a batch cannot hold another batch")
        reqs = req["requests"]
        if len(reqs) > self.limits.max_batch:
            raise OverLimit("$.requests", f"{len(reqs)} requests in one batch, more than intake.max_batch "
                            f"({self.limits.max_batch})", "intake.max_batch")
        self.count("batches")
        children = []
        for sub in reqs:
            try:
                children.append(self._prepare_request(sub, top=False, peer=peer))
            except EventRejected as exc:
                children.append(Work(reply=self._rejection(exc)))
            except Exception as exc:  # noqa: BLE001 - one bad request never fails its neighbours
                children.append(Work(reply=self._internal(exc)))
        return Work("batch", children=children)

    def check_limits(self, data: Any, path: str) -> None:
        """The configured per-event limits, checked before the schema (cheap, clear)."""
        if not isinstance(data, dict):
            return
        lim = self.limits
        nodes = data.get("nodes")
        if isinstance(nodes, list) and len(nodes) > lim.max_nodes:
            raise OverLimit(f"{path}.nodes", f"{len(nodes)} nodes, more than intake.max_nodes ({lim.max_nodes})",
                            "intake.max_nodes")
        detail = data.get("detail")
        if isinstance(detail, str) and len(detail) > lim.max_detail:
            raise OverLimit(f"{path}.detail", f"{len(detail)} characters, more than intake.max_detail ({lim.max_detail})",
                            "intake.max_detail")

    def _prepare_event(self, data: dict[str, Any]) -> Work:
        """An ``op: event`` request; rejection paths are relative to the event."""
        self.check_limits(data, "$")
        self.validators.validate("event.v1", data)
        return Work("event", events=[Event.from_dict(data)])

    def raw_schema(self, source: str) -> str | None:
        names = sorted(n for n in self.validators.names() if n.startswith(f"{source}.v"))
        return names[-1] if names else None

    def adapt(self, source: str, payload: Any, options: dict[str, Any] | None = None) -> list[Event]:
        """Strict form of :meth:`adapt_items`: the first rejected item rejects the payload."""
        events, rejected = self.adapt_items(source, payload, options)
        if rejected:
            raise rejected[0]
        return events

    def adapt_items(
        self, source: str, payload: Any, options: dict[str, Any] | None = None
    ) -> tuple[list[Event], list[EventRejected]]:
        """Validate a raw payload, run the source's adapter, validate what it produced.

        Returns the good events and one :class:`EventRejected` per bad item.
        Paths are relative to the payload (``$.alerts[0].labels``); produced
        events are reported as ``$.events[i]...``.

        :raises EventRejected: the payload as a whole is unusable.
        """
        rejected: list[EventRejected] = []
        schema = self.raw_schema(source)
        keep: list[int] | None = None
        key = None
        if schema and not self.validators.is_valid(schema, payload):
            key = self.validators.by_name[schema].schema.get(ITEMS_KEYWORD)
            self._check_item_count(schema, payload, key)
            payload, keep = self._drop_bad_items(schema, payload, key, rejected)
        opts = self.config.adapter_options(source) if options is None else options
        produced = self.hooks.adapt(source, payload, opts)
        if produced is None:
            raise EventRejected("$.source", f"no adapter for source {source!r}")
        if len(produced) > MAX_EVENTS_PER_REQUEST:
            raise EventRejected("$", f"{len(produced)} events in one request (limit {MAX_EVENTS_PER_REQUEST})")
        events = []
        for i, data in enumerate(produced):
            if isinstance(data, EventRejected):
                rejected.append(renumber(data, key, keep))
                continue
            try:
                self.check_limits(data, "$")
                self.validators.validate("event.v1", data)
            except EventRejected as exc:
                rejected.append(EventRejected(f"$.events[{i}]" + exc.path[1:], f"adapter {source} produced: {exc.message}"))
                continue
            events.append(Event.from_dict(data))
        return events, rejected

    def _check_item_count(self, schema: str, payload: Any, key: str | None) -> None:
        """Too many items rejects the payload at once: a schema error would print them all, slowly."""
        if not key or not isinstance(payload, dict) or not isinstance(payload.get(key), list):
            return
        limit = self.validators.by_name[schema].schema.get("properties", {}).get(key, {}).get("maxItems")
        if limit is not None and len(payload[key]) > limit:
            raise EventRejected(f"$.{key}", f"{len(payload[key])} items, more than the {limit} allowed here")

    def _drop_bad_items(
        self, schema: str, payload: Any, key: str | None, rejected: list[EventRejected]
    ) -> tuple[Any, list[int] | None]:
        """Reject the items that fail the schema; anything else wrong rejects the payload."""
        errors = self.validators.errors(schema, payload)
        if not errors:
            return payload, None
        bad: dict[int, list[Any]] = {}
        envelope = []
        for err in errors:
            p = list(err.absolute_path)
            if key and len(p) >= 2 and p[0] == key and isinstance(p[1], int):
                bad.setdefault(p[1], []).append(err)
            else:
                envelope.append(err)
        if envelope or not bad:
            err = best_match(envelope or errors)
            raise EventRejected(err.json_path, error_message(err))
        for i in sorted(bad):
            err = best_match(bad[i])
            rejected.append(EventRejected(err.json_path, error_message(err)))
        keep = [i for i in range(len(payload[key])) if i not in bad]
        return {**payload, key: [payload[key][i] for i in keep]}, keep

    def _prepare_raw(self, source: str, payload: Any) -> Work:
        try:
            events, rejected = self.adapt_items(source, payload)
        except EventRejected as exc:
            raise under_payload(exc) from None
        rejected = [under_payload(r) for r in rejected]
        for r in rejected:
            log.warning("raw %s payload: item rejected: %s", source, clip(str(r)))
        if rejected and not events:
            self.count("rejected")
            return Work("raw", reply={"ok": False, "error": clip(str(rejected[0])),
                                      "rejected": [item(r) for r in rejected]})
        return Work("raw", events=events, raw=(source, payload), rejected=rejected)

    # -- commit: one transaction for every waiting request ---------------------------

    def commit(self, works: list[Work]) -> None:
        """Store every write of ``works`` in one transaction, then set their replies.

        With an ``apply`` callback the new events are applied in the same
        transaction (what cannot be is left pending for the engine).
        """
        writes = [w for work in works for w in work.writes()]
        if not writes:
            return
        assert self.store is not None
        received = now()
        after: Callable[[], None] | None = None
        try:
            with self.store.tx() as db:
                stored: list[tuple[int, Event]] = []
                for w in writes:
                    w.results = [self._insert(db, e, received, w.peer, stored) for e in w.events]
                    if w.raw is not None:
                        db.execute(
                            "INSERT INTO raw (source, received, payload, event_ids, sender) VALUES (?,?,?,?,?)",
                            (w.raw[0], received, json.dumps(w.raw[1], sort_keys=True), json.dumps([e.id for e in w.events]),
                             w.peer),
                        )
                if self.apply is not None and stored:
                    after = self._apply(db, stored, received)
        except (StoreError, sqlite3.Error) as exc:  # nothing was stored: the senders must try again
            self.count("store_errors", len(writes))
            log.error("store error, %d request(s) not acknowledged: %s", len(writes), exc)
            for w in writes:
                w.reply = {"ok": False, "error": f"store error: {exc}", "retry": True}
            return
        except Exception as exc:  # noqa: BLE001 - a bug answers "try again", never silence
            for w in writes:
                w.reply = self._internal(exc)
            return
        new = dups = raws = 0
        for w in writes:
            w.reply = self._ack(w)
            d = sum(w.results)
            dups += d
            new += len(w.results) - d
            raws += w.raw is not None
        self._count_ack(new, dups, raws)
        if new:
            self.on_stored()
        if after is not None:
            try:
                after()
            except Exception:  # noqa: BLE001 - the events are stored and applied; the ack stands
                log.exception("after applying events with their commit")

    def _apply(self, db: Any, stored: list[tuple[int, Event]], received: str) -> Callable[[], None] | None:
        """Apply the new events in the commit's transaction; on any failure leave them all to the engine."""
        assert self.apply is not None and self.store is not None
        db.execute("SAVEPOINT apply_with_commit")
        try:
            after = self.apply(self.store, db, stored, received)
        except Exception as exc:  # noqa: BLE001 - storing the events matters more; the engine applies them
            db.execute("ROLLBACK TO apply_with_commit")
            db.execute("RELEASE apply_with_commit")
            log.warning("%d event(s) not applied with their commit (%s); the engine applies them",
                        len(stored), clip(str(exc)))
            return None
        db.execute("RELEASE apply_with_commit")
        return after

    @staticmethod
    def _insert(db: sqlite3.Connection, event: Event, received: str, sender: str | None,
                stored: list[tuple[int, Event]]) -> bool:
        """Insert one event; a new one joins ``stored`` as (seq, event). Returns whether it was a duplicate."""
        cur = db.execute(
            "INSERT OR IGNORE INTO events (id, kind, servicenode, received, body, sender) VALUES (?,?,?,?,?,?)",
            (event.id, event.kind, event.servicenode, received, json.dumps(event.to_dict(), sort_keys=True), sender),
        )
        if cur.rowcount == 0:
            return True
        stored.append((cur.lastrowid, event))
        return False

    def _ack(self, w: Work) -> dict[str, Any]:
        if w.op == "event":
            e = w.events[0]
            if log.isEnabledFor(logging.INFO):
                log.info("event %s (%s %s) %s%s", e.id, e.kind, e.servicenode, "duplicate" if w.results[0] else "stored",
                         f" from key {w.peer}" if w.peer else "")
            return {"ok": True, "id": e.id, "duplicate": w.results[0]}
        dups = sum(w.results)
        assert w.raw is not None
        log.info("raw %s payload%s: %d event(s), %d new, %d rejected", w.raw[0],
                 f" from key {w.peer}" if w.peer else "", len(w.events), len(w.events) - dups, len(w.rejected))
        reply: dict[str, Any] = {"ok": True, "events": [{"id": e.id, "duplicate": d} for e, d in zip(w.events, w.results)]}
        if w.rejected:
            reply["rejected"] = [item(r) for r in w.rejected]
        return reply

    def finish(self, work: Work) -> dict[str, Any]:
        """The reply of a prepared (and, if needed, committed) request."""
        if work.op == "batch" and work.reply is None:
            return {"ok": True, "replies": [self.finish(c) for c in work.children]}
        assert work.reply is not None
        return work.reply


#: what request.v1 checks of the inner objects (their own schemas check the rest)
_INNER = {"event": {}, "payload": None, "requests": []}


def _envelope(req: Any) -> Any:
    """The request with its inner objects replaced by stand-ins of the same kind.

    request.v1 only asks that ``event`` is an object, ``requests`` an array of
    objects (checked one by one when each is prepared) and ``payload`` present:
    validating the stand-ins gives the same verdict without converting a large
    payload twice.
    """
    if not isinstance(req, dict):
        return req
    out = dict(req)
    for key, stand_in in _INNER.items():
        value = out.get(key)
        if key == "event" and isinstance(value, dict):
            out[key] = stand_in
        elif key == "payload" and key in out:
            out[key] = stand_in
        elif key == "requests" and isinstance(value, list) and all(isinstance(r, dict) for r in value):
            out[key] = stand_in
    return out
