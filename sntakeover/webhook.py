"""HTTP bridge: Alertmanager webhook POSTs -> the daemon over ZeroMQ.

``sntakeover webhook --listen 127.0.0.1:9095`` receives what Alertmanager's
``webhook_configs`` sends and forwards the JSON body as ``op: raw, source:
alertmanager``. The status code tells Alertmanager what to do:

* 200 -- the daemon acknowledged (stored) the payload;
* 400/411/413/415 -- the request itself is unusable (not JSON, no length, too big);
* 422 -- the daemon rejected the payload (``ok: false``): Alertmanager does not
  retry a 4xx, which is right since the same payload would fail again;
* 401 -- missing or wrong credentials (compared in constant time);
* 503 -- no daemon answered: Alertmanager retries 5xx;
* 502 -- the daemon answered something unreadable.

Every request is handled in its own thread with a socket timeout; any
exception is turned into a 500 and logged, never a crash of the server.
"""

from __future__ import annotations

import argparse
import base64
import hmac
import json
import logging
import signal
import socket
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import zmq

from .client import BadReply, NoDaemon, send_raw

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 4 * 1024 * 1024
PATHS = ("/", "/alertmanager", "/api/alertmanager")


class Settings:
    def __init__(
        self,
        endpoint: str,
        timeout: float = 2.5,
        retries: int = 2,
        token: bytes | None = None,
        basic: bytes | None = None,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.retries = retries
        self.token = token
        self.basic = basic  # b"user:password"
        self.max_body = max_body
        self.zmq = zmq.Context()


class Handler(BaseHTTPRequestHandler):
    server_version = "sntakeover-webhook"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = 30  # seconds per socket operation: a slow client cannot hold a thread for ever
    settings: Settings  # set on the subclass made by make_server

    def setup(self) -> None:
        super().setup()  # applies the timeout
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.info("%s %s", self.address_string(), format % args)

    def _reply(self, code: int, body: dict[str, Any]) -> None:
        data = (json.dumps(body) + "\n").encode()
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if code == 401:
                self.send_header("WWW-Authenticate", 'Bearer realm="sntakeover"' if self.settings.token else 'Basic realm="sntakeover"')
            if code >= 400:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def _authorised(self) -> bool:
        s = self.settings
        if s.token is None and s.basic is None:
            return True
        given = (self.headers.get("Authorization") or "").strip().encode("latin-1", errors="replace")
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

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        if self.path.split("?", 1)[0] == "/healthz":
            self._reply(200, {"ok": True})
        else:
            self._reply(404, {"ok": False, "error": "POST Alertmanager webhooks to /alertmanager"})

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        try:
            self._post()
        except Exception as exc:  # noqa: BLE001 - the bridge must survive any request
            log.exception("request failed")
            self._reply(500, {"ok": False, "error": f"internal error: {type(exc).__name__}"})

    def _post(self) -> None:
        s = self.settings
        if self.path.split("?", 1)[0] not in PATHS:
            self._reply(404, {"ok": False, "error": f"unknown path; use {PATHS[1]}"})
            return
        if not self._authorised():
            self._reply(401, {"ok": False, "error": "missing or wrong credentials"})
            return
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self._reply(411, {"ok": False, "error": "chunked bodies are not accepted; send Content-Length"})
            return
        length_hdr = self.headers.get("Content-Length")
        if length_hdr is None:
            self._reply(411, {"ok": False, "error": "Content-Length required"})
            return
        try:
            length = int(length_hdr)
            if length < 0:
                raise ValueError
        except ValueError:
            self._reply(400, {"ok": False, "error": "bad Content-Length"})
            return
        if length > s.max_body:
            self._reply(413, {"ok": False, "error": f"body larger than {s.max_body} bytes"})
            return
        ctype = (self.headers.get("Content-Type") or "application/json").split(";", 1)[0].strip().lower()
        if ctype not in ("application/json", "text/json", ""):
            self._reply(415, {"ok": False, "error": "Content-Type must be application/json"})
            return
        body = self.rfile.read(length)
        if len(body) != length:
            self._reply(400, {"ok": False, "error": "body shorter than Content-Length"})
            return
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            self._reply(400, {"ok": False, "error": f"body is not JSON: {exc}"})
            return
        if not isinstance(payload, dict):
            self._reply(400, {"ok": False, "error": "body is not a JSON object"})
            return
        try:
            reply = send_raw("alertmanager", payload, endpoint=s.endpoint, timeout=s.timeout,
                             retries=s.retries, context=s.zmq)
        except NoDaemon as exc:
            log.warning("%s", exc)
            self._reply(503, {"ok": False, "error": str(exc)})
            return
        except BadReply as exc:
            self._reply(502, {"ok": False, "error": str(exc)})
            return
        if reply.get("ok"):
            self._reply(200, {"ok": True, "events": reply.get("events", [])})
        elif reply.get("retry") or reply.get("temporary"):
            self._reply(503, {"ok": False, "error": reply.get("error", "temporary failure")})
        else:
            self._reply(422, {"ok": False, "error": reply.get("error", "rejected")})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    tls: ssl.SSLContext | None = None

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        if self.tls is not None:
            # the handshake happens in the request's thread, under its timeout
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.warning("connection from %s failed: %s", client_address, sys.exc_info()[1])


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"--listen must be HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def make_server(listen: str, settings: Settings, tls_cert: str | None = None, tls_key: str | None = None) -> Server:
    host, port = parse_listen(listen)
    handler = type("BoundHandler", (Handler,), {"settings": settings})
    cls = type("Server6", (Server,), {"address_family": socket.AF_INET6}) if ":" in host else Server
    server = cls((host, port), handler)
    if tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(tls_cert, tls_key)
        server.tls = ctx
    return server


def _secret(path: str) -> bytes:
    data = Path(path).read_bytes().strip()
    if not data:
        raise ValueError(f"{path} is empty")
    return data


def run(args: argparse.Namespace) -> int:
    from .hookcli import default_endpoint

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        if bool(args.tls_cert) != bool(args.tls_key):
            raise ValueError("--tls-cert and --tls-key go together")
        settings = Settings(
            endpoint=args.endpoint or default_endpoint(),
            timeout=args.timeout,
            retries=args.retries,
            token=_secret(args.token_file) if args.token_file else None,
            basic=_secret(args.basic_auth_file) if args.basic_auth_file else None,
            max_body=args.max_body,
        )
        if settings.basic is not None and b":" not in settings.basic:
            raise ValueError("--basic-auth-file must hold user:password")
        server = make_server(args.listen, settings, args.tls_cert, args.tls_key)
    except (OSError, ValueError, ssl.SSLError) as exc:
        print(f"sntakeover webhook: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        if not stop.is_set():
            stop.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    old = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    log.info("listening on %s (%s), forwarding to %s", args.listen, "https" if server.tls else "http", settings.endpoint)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
        settings.zmq.term()
        for sig, h in old.items():
            signal.signal(sig, h)
    return 0


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser("webhook", parents=[common], help="HTTP bridge for Alertmanager webhooks",
                              description="Receive Alertmanager webhook POSTs and forward them to the daemon.")
    p.add_argument("--listen", required=True, metavar="HOST:PORT")
    auth = p.add_mutually_exclusive_group()
    auth.add_argument("--token-file", help="file holding the bearer token Alertmanager sends")
    auth.add_argument("--basic-auth-file", help="file holding user:password for basic auth")
    p.add_argument("--tls-cert", help="PEM certificate (chain) for HTTPS")
    p.add_argument("--tls-key", help="PEM private key for HTTPS")
    p.add_argument("--max-body", type=int, default=DEFAULT_MAX_BODY, metavar="BYTES",
                   help="largest accepted body (default %(default)s)")
    p.set_defaults(func=run, retries=2)
