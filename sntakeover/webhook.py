"""HTTP bridge: Alertmanager webhook POSTs -> the daemon over ZeroMQ (aiohttp).

``sntakeover webhook --listen 127.0.0.1:9095 --token-file F`` receives what
Alertmanager's ``webhook_configs`` sends. POSTs that arrive while the daemon is
busy are forwarded together as one ``op: batch`` request, so they share the
daemon's group commit; each POST still gets its own answer. The status code
tells Alertmanager what to do:

* 200 -- the daemon stored the alerts (``rejected`` lists alerts it refused;
  the others are stored, and sending the group again would not help);
* 400/411/413/415 -- the request itself is unusable (not JSON, no length, too big);
* 422 -- the daemon rejected the payload (``ok: false``): Alertmanager does not
  retry a 4xx, which is right since the same payload would fail again;
* 401 -- missing or wrong credentials (compared in constant time);
* 503 -- no daemon answered, the daemon asked for a retry (a store or internal
  error), or too many connections: Alertmanager retries 5xx;
* 502 -- the daemon answered something unreadable.

Without ``--token-file`` or ``--basic-auth-file`` the bridge refuses to start:
anyone who can reach it could otherwise make the daemon move nodes. ``--no-auth``
starts it anyway, with a warning at every start. Connections are bounded
(``--max-connections``; one more is answered 503 and closed), bodies are read
with a timeout, and asyncio sets TCP_NODELAY on every connection.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hmac
import json
import logging
import signal
import ssl
import sys
import threading
from pathlib import Path
from typing import Any

import zmq
import zmq.asyncio
from aiohttp import web

from .client import BadReply, NoDaemon

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 4 * 1024 * 1024
DEFAULT_MAX_CONNECTIONS = 256
PATHS = ("/", "/alertmanager", "/api/alertmanager")
#: POSTs forwarded in one batch at most, and batches in flight at once
MAX_BATCH = 100
IN_FLIGHT = 2
BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 47\r\n"
        b"Retry-After: 1\r\nConnection: close\r\n\r\n"
        b'{"ok": false, "error": "too many connections"}\n')


class Settings:
    def __init__(
        self,
        endpoint: str,
        timeout: float = 2.5,
        retries: int = 2,
        token: bytes | None = None,
        basic: bytes | None = None,
        max_body: int = DEFAULT_MAX_BODY,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        read_timeout: float = 30.0,
        no_auth: bool = False,
        keys: Any = None,
    ) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.retries = retries
        self.token = token
        self.basic = basic  # b"user:password"
        self.max_body = max_body
        self.max_connections = max_connections
        self.read_timeout = read_timeout
        self.no_auth = no_auth
        self.keys = keys  # CURVE keys (sntakeover.auth.ClientKeys) for a tcp:// endpoint

    def check(self) -> None:
        """Refuse to run open to anyone unless that was asked for explicitly."""
        if self.token is None and self.basic is None and not self.no_auth:
            raise ValueError("refusing to start without credentials: give --token-file or --basic-auth-file "
                             "(or --no-auth to accept unauthenticated POSTs)")
        if self.basic is not None and b":" not in self.basic:
            raise ValueError("--basic-auth-file must hold user:password")


class Forwarder:
    """Send waiting payloads to the daemon as one batch request (Lazy Pirate, zmq.asyncio)."""

    def __init__(self, settings: Settings) -> None:
        self.s = settings
        self.ctx = zmq.asyncio.Context()
        self.queue: asyncio.Queue[tuple[Any, asyncio.Future[dict[str, Any]]]] = asyncio.Queue()
        self.slots = asyncio.Semaphore(IN_FLIGHT)
        self.tasks: set[asyncio.Task[None]] = set()
        self.idle: list[zmq.asyncio.Socket] = []

    def _socket(self) -> zmq.asyncio.Socket:
        sock = self.ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        if self.s.keys is not None:
            self.s.keys.apply(sock)
        sock.connect(self.s.endpoint)
        return sock

    async def submit(self, body: bytes) -> dict[str, Any]:
        """Forward one POST body (a JSON object, already checked) and return the daemon's reply for it."""
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        await self.queue.put((body, fut))
        return await fut

    async def run(self) -> None:
        while True:
            batch = [await self.queue.get()]
            await self.slots.acquire()
            while len(batch) < MAX_BATCH and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            task = asyncio.create_task(self._send(batch))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _send(self, batch: list[tuple[Any, asyncio.Future[dict[str, Any]]]]) -> None:
        try:
            # the bodies are spliced in as they came (each was checked to be a JSON object)
            req = (b'{"v":1,"op":"batch","requests":['
                   + b",".join(b'{"v":1,"op":"raw","source":"alertmanager","payload":' + body + b"}" for body, _ in batch)
                   + b"]}")
            reply = await self.request(req)
            replies = reply.get("replies")
            if not reply.get("ok") or not isinstance(replies, list) or len(replies) != len(batch):
                replies = [reply] * len(batch)  # the batch as a whole was answered
            for (_, fut), r in zip(batch, replies):
                if not fut.done():
                    fut.set_result(r if isinstance(r, dict) else {"ok": False, "error": f"unreadable reply {r!r}"})
        except Exception as exc:  # noqa: BLE001 - every waiting POST learns what happened
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
        finally:
            self.slots.release()

    async def request(self, body: bytes) -> dict[str, Any]:
        """Lazy Pirate over a small pool of REQ sockets: a socket that timed out is closed, never reused."""
        for attempt in range(1, max(1, self.s.retries) + 1):
            sock = self.idle.pop() if self.idle else self._socket()
            try:
                await sock.send(body)
                raw = await asyncio.wait_for(sock.recv(), self.s.timeout)
            except asyncio.TimeoutError:
                log.debug("no reply from %s on attempt %d", self.s.endpoint, attempt)
                sock.close(linger=0)
                continue
            except BaseException:
                sock.close(linger=0)
                raise
            self.idle.append(sock)
            try:
                reply = json.loads(raw)
            except ValueError as exc:
                raise BadReply(f"reply is not JSON: {raw[:200]!r}") from exc
            if not isinstance(reply, dict):
                raise BadReply(f"reply is not a JSON object: {raw[:200]!r}")
            return reply
        raise NoDaemon(f"no sntakeover daemon answered on {self.s.endpoint} "
                       f"({self.s.retries} attempt(s), {self.s.timeout:g}s each)")

    async def close(self) -> None:
        for t in list(self.tasks):
            t.cancel()
        for sock in self.idle:
            sock.close(linger=0)
        self.ctx.destroy(linger=0)


def _reply(code: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    resp = web.json_response(body, status=code, headers=headers, dumps=lambda o: json.dumps(o) + "\n")
    if code >= 400:
        resp.force_close()
    return resp


class Bridge:
    """The aiohttp application and its forwarder."""

    def __init__(self, settings: Settings) -> None:
        settings.check()
        self.s = settings
        self.forwarder: Forwarder | None = None
        self._forwarding: asyncio.Task[None] | None = None
        self.app = web.Application(client_max_size=settings.max_body, middlewares=[self._errors])
        self.app.router.add_get("/healthz", self.healthz)
        for path in PATHS:
            self.app.router.add_post(path, self.post)
        self.app.router.add_route("*", "/{tail:.*}", self.elsewhere)

    @web.middleware
    async def _errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status == 413:
                return _reply(413, {"ok": False, "error": f"body larger than {self.s.max_body} bytes"})
            raise
        except Exception as exc:  # noqa: BLE001 - the bridge must survive any request
            log.exception("request failed")
            return _reply(500, {"ok": False, "error": f"internal error: {type(exc).__name__}"})

    async def healthz(self, request: web.Request) -> web.Response:
        return _reply(200, {"ok": True})

    async def elsewhere(self, request: web.Request) -> web.Response:
        return _reply(404, {"ok": False, "error": f"unknown path; POST Alertmanager webhooks to {PATHS[1]}"})

    def _authorised(self, request: web.Request) -> bool:
        s = self.s
        if s.token is None and s.basic is None:
            return s.no_auth
        given = (request.headers.get("Authorization") or "").strip().encode("latin-1", errors="replace")
        scheme, _, cred = given.partition(b" ")
        ok = False
        if s.token is not None:
            ok |= hmac.compare_digest(scheme.lower() + b" " + cred.strip(), b"bearer " + s.token)
        if s.basic is not None:
            try:
                decoded = base64.b64decode(cred.strip(), validate=True)
            except (ValueError, TypeError):
                decoded = b""
            ok |= hmac.compare_digest(scheme.lower() + b" " + decoded, b"basic " + s.basic)
        return ok

    async def post(self, request: web.Request) -> web.Response:
        s = self.s
        if not self._authorised(request):
            realm = 'Bearer realm="sntakeover"' if s.token else 'Basic realm="sntakeover"'
            return _reply(401, {"ok": False, "error": "missing or wrong credentials"}, {"WWW-Authenticate": realm})
        if "chunked" in (request.headers.get("Transfer-Encoding") or "").lower():
            return _reply(411, {"ok": False, "error": "chunked bodies are not accepted; send Content-Length"})
        if request.content_length is None:
            return _reply(411, {"ok": False, "error": "Content-Length required"})
        if request.content_length > s.max_body:
            return _reply(413, {"ok": False, "error": f"body larger than {s.max_body} bytes"})
        ctype = (request.headers.get("Content-Type") or "application/json").split(";", 1)[0].strip().lower()
        if ctype not in ("application/json", "text/json", ""):
            return _reply(415, {"ok": False, "error": "Content-Type must be application/json"})
        try:
            body = await asyncio.wait_for(request.read(), s.read_timeout)
        except asyncio.TimeoutError:
            return _reply(408, {"ok": False, "error": f"body not received within {s.read_timeout:g}s"})
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return _reply(400, {"ok": False, "error": f"body is not JSON: {exc}"})
        except RecursionError:  # a 4xx: the same body would fail again, Alertmanager must not retry it
            return _reply(400, {"ok": False, "error": "body is JSON nested too deeply to be an Alertmanager payload"})
        if not isinstance(payload, dict):
            return _reply(400, {"ok": False, "error": "body is not a JSON object"})
        try:
            body.decode("utf-8")  # spliced into the batch as it came; anything else is re-encoded
        except UnicodeDecodeError:
            body = json.dumps(payload).encode()
        assert self.forwarder is not None
        try:
            reply = await self.forwarder.submit(body)
        except NoDaemon as exc:
            log.warning("%s", exc)
            return _reply(503, {"ok": False, "error": str(exc)})
        except BadReply as exc:
            return _reply(502, {"ok": False, "error": str(exc)})
        if reply.get("ok"):
            out: dict[str, Any] = {"ok": True, "events": reply.get("events", [])}
            if reply.get("rejected"):
                out["rejected"] = reply["rejected"]
                log.warning("alerts rejected by the daemon (the others are stored): %s", reply["rejected"])
            return _reply(200, out)
        if reply.get("retry") or reply.get("temporary"):
            return _reply(503, {"ok": False, "error": reply.get("error", "temporary failure")})
        return _reply(422, {k: v for k, v in reply.items() if k in ("ok", "error", "rejected", "limit")})

    # -- running -----------------------------------------------------------------------

    async def start(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> tuple[web.AppRunner, int]:
        self.forwarder = Forwarder(self.s)
        self._forwarding = asyncio.create_task(self.forwarder.run())
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False, keepalive_timeout=75.0)
        await runner.setup()
        site = BoundedSite(runner, host, port, limit=self.s.max_connections, ssl_context=tls)
        await site.start()
        return runner, site.bound_port

    async def stop(self, runner: web.AppRunner) -> None:
        await runner.cleanup()
        if self._forwarding is not None:
            self._forwarding.cancel()
        if self.forwarder is not None:
            await self.forwarder.close()


class _Busy(asyncio.Protocol):
    """One connection too many: answer 503 and close."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(BUSY)
        transport.close()


class BoundedSite(web.BaseSite):
    """A TCP site that refuses connections beyond ``limit`` (503, then close)."""

    __slots__ = ("_host", "_port", "_limit", "bound_port")

    def __init__(self, runner: web.AppRunner, host: str, port: int, *, limit: int,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=min(1024, max(128, limit)))
        self._host, self._port, self._limit = host, port, limit
        self.bound_port = port

    @property
    def name(self) -> str:
        return f"{'https' if self._ssl_context else 'http'}://{self._host}:{self.bound_port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        limit = self._limit

        def factory() -> asyncio.Protocol:
            if len(server.connections) >= limit:
                return _Busy()
            return server()

        self._server = await asyncio.get_running_loop().create_server(
            factory, self._host, self._port, ssl=self._ssl_context, backlog=self._backlog, reuse_address=True)
        self.bound_port = self._server.sockets[0].getsockname()[1]


class ThreadedBridge:
    """The bridge on its own event loop in a thread (tests, the benchmark)."""

    def __init__(self, settings: Settings, listen: str = "127.0.0.1:0", tls: ssl.SSLContext | None = None) -> None:
        self.bridge = Bridge(settings)
        self.host, self.port = parse_listen(listen)
        self.tls = tls
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._run, name="webhook", daemon=True)

    def start(self) -> int:
        self._thread.start()
        self._ready.wait(10)
        return self.port

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._runner, self.port = self.loop.run_until_complete(self.bridge.start(self.host, self.port, self.tls))
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.bridge.stop(self._runner))
        self.loop.close()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--listen must be HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def tls_context(cert: str, key: str | None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert, key)
    return ctx


def _secret(path: str) -> bytes:
    data = Path(path).read_bytes().strip()
    if not data:
        raise ValueError(f"{path} is empty")
    return data


def run(args: argparse.Namespace) -> int:
    from .auth import client_keys
    from .client import default_endpoint
    from .errors import SntakeoverError

    from .clicommon import setup_logging

    setup_logging("info")  # one line per record, free text escaped
    try:
        if bool(args.tls_cert) != bool(args.tls_key):
            raise ValueError("--tls-cert and --tls-key go together")
        endpoint = args.endpoint or default_endpoint()
        settings = Settings(
            endpoint=endpoint,
            timeout=args.timeout,
            retries=args.retries,
            token=_secret(args.token_file) if args.token_file else None,
            basic=_secret(args.basic_auth_file) if args.basic_auth_file else None,
            max_body=args.max_body,
            max_connections=args.max_connections,
            no_auth=args.no_auth,
            keys=client_keys(endpoint, args.client_key, args.server_key),
        )
        bridge = Bridge(settings)
        host, port = parse_listen(args.listen)
        tls = tls_context(args.tls_cert, args.tls_key) if args.tls_cert else None
    except (OSError, ValueError, ssl.SSLError, SntakeoverError) as exc:
        print(f"sntakeover webhook: {exc}", file=sys.stderr)
        return 2
    if settings.no_auth:
        log.warning("running WITHOUT authentication (--no-auth): anyone who can reach %s can report a service node "
                    "down", args.listen)
    return asyncio.run(_serve(bridge, host, port, tls, settings))


async def _serve(bridge: Bridge, host: str, port: int, tls: ssl.SSLContext | None, settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        runner, bound = await bridge.start(host, port, tls)
    except OSError as exc:
        print(f"sntakeover webhook: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 2
    log.info("listening on %s:%d (%s), forwarding to %s", host, bound, "https" if tls else "http", settings.endpoint)
    try:
        await stop.wait()
    finally:
        await bridge.stop(runner)
    return 0
