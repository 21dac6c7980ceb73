"""The daemon's intake loop: a ZeroMQ ROUTER, group commit, replies after the commit.

Two threads, each owning its own sockets (one owner per socket):

* the **socket thread** owns the ROUTER. Each time it wakes it takes every
  request that is waiting, prepares each (decode, limits, schemas, adapters:
  :meth:`Intake.prepare`), answers at once whatever needs no write (ping,
  status, rejections, over-limit requests), commits all the others in **one**
  transaction (:meth:`Intake.commit`: one fsync for the group) and only then
  sends their replies. While it commits, new requests queue up in ZeroMQ and
  form the next group: the busier the intake, the larger the groups.
* the **heavy** thread prepares requests larger than ``intake.offload_bytes``
  (a 1 MB event listing 100,000 nodes), so they never hold up small ones; it
  hands the prepared request back (a queue plus a wake-up on an ``inproc``
  socket) to be committed with the next group.

On a ``tcp://`` endpoint with CURVE (:mod:`sntakeover.auth`) the ZAP handler
runs before the ROUTER binds, each request carries the name of the client's key
(the frame's ``User-Id``) to :meth:`Intake.prepare`, and failed handshakes (no
key, a wrong server key) are logged from the socket's monitor.

ZeroMQ's own MAXMSGSIZE is set well above ``intake.max_message``: a request
over the configured limit still gets an answer (``ok: false`` naming the
limit) instead of a dropped connection.

:class:`IntakeLoop` needs no engine: tests start it on a store of their own.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import queue
import threading
import time
from typing import Any

import zmq

from .auth import ServerAuth, ZapHandler
from .errors import SntakeoverError
from .intake import Intake, Work

log = logging.getLogger(__name__)

POLL_MS = 200
#: seconds during which a repeated refused-handshake message is counted instead of logged again
#: (a client with a wrong key reconnects every 100 ms)
REFUSED_LOG_EVERY = 10.0
#: requests taken from the ROUTER in one round before replies are forwarded again
DRAIN = 1000
_STOP = object()
_SNDMORE = int(zmq.SNDMORE)
_HANDSHAKE_FAILED = zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL | zmq.EVENT_HANDSHAKE_FAILED_AUTH
_PROTOCOL_ERRORS = {
    zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH: "the client offered no CURVE key (mechanism mismatch)",
    zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC: "the client's keys do not match (a wrong server key?)",
    zmq.PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE: "the CURVE key exchange failed",
}


def zmq_ceiling(max_message: int) -> int:
    """ZeroMQ's MAXMSGSIZE: far above our own limit, so an oversized request is still answered."""
    return max(64 * 1024 * 1024, 8 * max_message)


def encode(reply: dict[str, Any]) -> bytes:
    return json.dumps(reply, separators=(",", ":")).encode()


class IntakeLoop:
    """Serve requests on ``endpoint`` through ``intake`` until stopped.

    :param offload_bytes: requests larger than this are prepared by the heavy thread.
    """

    def __init__(self, intake: Intake, endpoint: str, *, offload_bytes: int = 65536,
                 context: zmq.Context | None = None, auth: ServerAuth | None = None) -> None:
        self.intake = intake
        self.auth = auth
        self._zap: ZapHandler | None = None
        self._monitor: zmq.Socket | None = None
        self._refusals: dict[str, tuple[float, int]] = {}  # message -> (last logged, refusals since)
        self.requested_endpoint = endpoint
        self.endpoint = endpoint
        self.offload_bytes = offload_bytes
        self.ctx = context or zmq.Context()
        self._own_ctx = context is None
        self._stop = threading.Event()
        self._heavy: queue.Queue[Any] = queue.Queue()
        self._done: collections.deque[tuple[list[bytes], Work]] = collections.deque()
        self._wake_ep = f"inproc://sntakeover-intake-wake-{id(self)}"
        self._sock: zmq.Socket | None = None
        self._pull: zmq.Socket | None = None
        self._threads: list[threading.Thread] = []
        self._runner: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------

    def bind(self) -> str:
        """Bind the ROUTER (ipc sockets get mode 0770 through the umask); returns the endpoint."""
        sock = self.ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 1000)
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        sock.setsockopt(zmq.MAXMSGSIZE, zmq_ceiling(self.intake.limits.max_message))
        sock.setsockopt(zmq.SNDTIMEO, 1000)
        if self.auth is not None:
            # the ZAP handler answers before anything can connect: without it libzmq lets every key in
            self._zap = ZapHandler(self.ctx, self.auth.keyring, on_refused=lambda: self.intake.count("auth_refused"))
            try:
                self._zap.start()
            except SntakeoverError:
                sock.close(linger=0)
                raise
            self.auth.apply(sock)
            self._monitor = sock.get_monitor_socket(_HANDSHAKE_FAILED)
        old_umask = os.umask(0o007)
        try:
            sock.bind(self.requested_endpoint)
        except zmq.ZMQError as exc:
            self._close_auth()
            sock.close(linger=0)
            raise SntakeoverError(f"cannot bind {self.requested_endpoint}: {exc}") from exc
        finally:
            os.umask(old_umask)
        self.endpoint = sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self._pull = self.ctx.socket(zmq.PULL)
        self._pull.setsockopt(zmq.LINGER, 0)
        self._pull.bind(self._wake_ep)
        self._sock = sock
        return self.endpoint

    def start(self) -> IntakeLoop:
        """Bind (if needed) and serve in a background thread (tests, embedding)."""
        if self._sock is None:
            self.bind()
        self._runner = threading.Thread(target=self.run, name="intake", daemon=True)
        self._runner.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._runner is not None:
            self._runner.join(timeout)

    def request_stop(self) -> None:
        self._stop.set()

    # -- the socket thread -------------------------------------------------------------

    def run(self) -> None:
        """Serve until :meth:`stop`; call from the thread that owns the sockets."""
        if self._sock is None:
            self.bind()
        sock, pull = self._sock, self._pull
        assert sock is not None and pull is not None
        heavy = threading.Thread(target=self._heavy_worker, name="intake-heavy", daemon=True)
        self._threads = [heavy]
        heavy.start()
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        poller.register(pull, zmq.POLLIN)
        if self._monitor is not None:
            poller.register(self._monitor, zmq.POLLIN)
        try:
            while not self._stop.is_set():
                ready = dict(poller.poll(POLL_MS))
                group: list[tuple[list[bytes], Work]] = []
                if pull in ready:
                    self._collect(sock, pull, group)
                if sock in ready:
                    self._take(sock, group)
                if group:
                    self._commit(sock, group)
                if self._monitor is not None and self._monitor in ready:
                    self._handshakes()
            # finish what was accepted: the heavy thread's last request is committed too
            self._heavy.put(_STOP)
            while heavy.is_alive() or self._done:
                group = []
                if pull.poll(50):
                    self._collect(sock, pull, group)
                self._collect_done(group)
                if group:
                    self._commit(sock, group)
                heavy.join(0)
                if not heavy.is_alive() and not self._done:
                    break
        finally:
            pull.close(linger=0)
            self._close_auth(sock)
            sock.close(linger=1000)
            self._sock = self._pull = None
            if self._own_ctx and not heavy.is_alive():
                self.ctx.term()

    def _close_auth(self, sock: zmq.Socket | None = None) -> None:
        if self._monitor is not None:
            if sock is not None:
                sock.disable_monitor()
            self._monitor.close(linger=0)
            self._monitor = None
        if self._zap is not None:
            self._zap.stop()
            self._zap = None

    def _handshakes(self) -> None:
        """Log each refused handshake the socket's monitor reports (nothing of it reaches the intake)."""
        from zmq.utils.monitor import recv_monitor_message

        assert self._monitor is not None
        while self._monitor.poll(0, zmq.POLLIN):
            msg = recv_monitor_message(self._monitor)
            if msg["event"] == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
                continue  # the ZAP handler refused it and logged why
            self.intake.count("auth_refused")
            if msg["event"] == zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL:  # the value is an errno
                why = (f"the handshake failed ({os.strerror(msg['value'])}): a client without CURVE keys, or one "
                       "that gave up")
            else:
                why = _PROTOCOL_ERRORS.get(msg["value"], f"protocol error {msg['value']:#x}")
            last, since = self._refusals.get(why, (0.0, 0))
            t = time.monotonic()
            if t - last < REFUSED_LOG_EVERY:
                self._refusals[why] = (last, since + 1)
                continue
            self._refusals[why] = (t, 0)
            more = f" ({since} more since the last such message)" if since else ""
            log.warning("refused a connection on %s: %s%s", self.endpoint, why, more)

    def _take(self, sock: zmq.Socket, group: list[tuple[list[bytes], Work]]) -> None:
        """Take every waiting request; answer at once what needs no write, group the rest."""
        for _ in range(DRAIN):
            if not sock.poll(0, zmq.POLLIN):
                break
            peer = None
            if self.auth is None:
                frames = sock.recv_multipart()
            else:  # the last frame carries the name of the key the ZAP handler let in
                parts = sock.recv_multipart(copy=False)
                peer = parts[-1].get("User-Id")
                frames = [p.bytes for p in parts]
            if len(frames) < 2:
                self.intake.count("malformed")
                continue
            envelope, body = frames[:-1], frames[-1]
            if len(body) > self.offload_bytes:
                self._heavy.put((envelope, body, peer))
                continue
            work = self.intake.prepare(body, peer=peer)
            if work.needs_commit:
                group.append((envelope, work))
            else:
                self._send(sock, envelope, self.intake.finish(work))

    def _commit(self, sock: zmq.Socket, group: list[tuple[list[bytes], Work]]) -> None:
        self.intake.commit([w for _, w in group])
        for envelope, work in group:
            self._send(sock, envelope, self.intake.finish(work))

    def _collect(self, sock: zmq.Socket, pull: zmq.Socket, group: list[tuple[list[bytes], Work]]) -> None:
        """Wake-ups from the heavy thread: its prepared requests join the group."""
        while pull.poll(0, zmq.POLLIN):
            pull.recv()
        self._collect_done(group)

    def _collect_done(self, group: list[tuple[list[bytes], Work]]) -> None:
        while self._done:
            envelope, work = self._done.popleft()
            group.append((envelope, work))

    def _send(self, sock: zmq.Socket, envelope: list[bytes], reply: dict[str, Any]) -> None:
        try:
            for frame in envelope:  # plain int flags: send_multipart's enum arithmetic shows in profiles
                sock.send(frame, _SNDMORE)
            sock.send(encode(reply))
        except zmq.ZMQError as exc:  # the client went away; it will resend
            self.intake.count("unroutable")
            log.debug("reply not delivered: %s", exc)

    # -- the heavy thread --------------------------------------------------------------

    def _heavy_worker(self) -> None:
        wake = self.ctx.socket(zmq.PUSH)
        wake.setsockopt(zmq.LINGER, 1000)
        wake.connect(self._wake_ep)
        try:
            while True:
                item = self._heavy.get()
                if item is _STOP:
                    return
                envelope, body, peer = item
                self._done.append((envelope, self.intake.prepare(body, peer=peer)))
                wake.send(b"")
        finally:
            wake.close()
