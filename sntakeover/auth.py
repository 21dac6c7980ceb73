"""Who may talk to the daemon on a ``tcp://`` endpoint: ZeroMQ CURVE keys and a ZAP handler.

Server side:

* :class:`KeyRing` -- the client public keys allowed in (``[auth] keys_dir``,
  one ``NAME.key`` file per client, as ``sntakeover keys create`` and
  ``zmq.auth.create_certificates`` write them). It is read again at every
  handshake and whenever the directory changes, so a key removed while the
  daemon runs is refused from the next connection (and from the next request
  on a connection already open).
* :class:`ZapHandler` -- the ZAP handler (RFC 27) of the intake's context: one
  thread owns its REP socket; it must be running *before* the ROUTER binds
  (libzmq lets every CURVE client in when no handler answers). It replies with
  the key's NAME as the ZMQ ``User-Id``, which the intake records on every event.
* :func:`server_setup` -- the start-up checks: the keys directory readable and
  holding at least one key, the server's secret key readable; a ``tcp://``
  endpoint without CURVE only with ``[auth] insecure_tcp = true`` (warned
  about at every start).

Client side: :class:`ClientKeys` (the client's pair and the server's public
key, applied to a socket) and :func:`client_keys` (from options, environment,
configuration). ``ipc://`` needs no keys: the socket's directory permissions
decide who can connect.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zmq

from .errors import ConfigError

log = logging.getLogger(__name__)

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_DOMAIN = "sntakeover"
POLL_MS = 200
ENV_CLIENT_KEY = "SNTAKEOVER_CLIENT_KEY"
ENV_SERVER_KEY = "SNTAKEOVER_SERVER_KEY"


def is_tcp(endpoint: str) -> bool:
    return endpoint.startswith("tcp://")


def read_key_file(path: str | os.PathLike[str]) -> tuple[bytes, bytes | None]:
    """``(public, secret)`` from a key file (``secret`` None for a public-key file).

    :raises ConfigError: unreadable, or no valid 40-character Z85 public key in it.
    """
    from zmq.auth import load_certificate

    try:
        public, secret = load_certificate(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the CURVE key file {path}: {exc}") from None
    for what, key in (("public", public), ("secret", secret)):
        if key is not None and len(key) != 40:
            raise ConfigError(f"{path}: the {what} key is not a 40-character Z85 CURVE key")
    return public, secret


class KeyRing:
    """The allowed client keys: Z85 public key -> NAME (the file name without ``.key``)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._by_key: dict[bytes, str] = {}
        self._stamp: tuple[int, int] | None = None

    def load(self) -> dict[bytes, str]:
        """Read the directory now; returns the keys.

        :raises ConfigError: the directory cannot be read.
        """
        try:
            st = self.directory.stat()
            entries = sorted(p for p in self.directory.iterdir() if p.name.endswith(".key") and p.is_file())
        except OSError as exc:
            raise ConfigError(f"auth.keys_dir {self.directory}: cannot read it: {exc.strerror or exc}") from None
        by_key: dict[bytes, str] = {}
        for path in entries:
            try:
                public, _ = read_key_file(path)
            except ConfigError as exc:
                log.warning("ignoring key file: %s", exc)
                continue
            by_key[public] = path.name[: -len(".key")]
        with self._lock:
            self._by_key = by_key
            self._stamp = (st.st_mtime_ns, st.st_ino)
        return by_key

    def name_of(self, z85_key: bytes) -> str | None:
        """The NAME of an allowed public key, read afresh (each handshake), else None."""
        try:
            return self.load().get(z85_key)
        except ConfigError as exc:
            log.error("refusing every client: %s", exc)
            return None

    def allows(self, name: str) -> bool:
        """True while ``name``'s key is still in the directory (re-read when the directory changed)."""
        try:
            st = self.directory.stat()
            stamp = (st.st_mtime_ns, st.st_ino)
        except OSError:
            return False
        with self._lock:
            fresh = stamp == self._stamp
            names = set(self._by_key.values())
        if not fresh:
            try:
                names = set(self.load().values())
            except ConfigError:
                return False
        return name in names


class ZapHandler:
    """Answer ZAP requests on the intake's context from one thread of its own."""

    def __init__(self, ctx: zmq.Context, keyring: KeyRing, on_refused: Any = None) -> None:
        self.ctx = ctx
        self.keyring = keyring
        self.on_refused = on_refused or (lambda: None)
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> ZapHandler:
        """Bind the ZAP endpoint (in the handler's thread) and return once it answers."""
        self._thread = threading.Thread(target=self._run, name="zap", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None:
            raise ConfigError(f"cannot start the ZAP handler: {self._error}")
        if not self._ready.is_set():
            raise ConfigError("the ZAP handler did not start")
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            sock = self.ctx.socket(zmq.REP)
            sock.setsockopt(zmq.LINGER, 0)
            sock.bind(ZAP_ENDPOINT)
        except zmq.ZMQError as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            while not self._stop.is_set():
                if not sock.poll(POLL_MS, zmq.POLLIN):
                    continue
                frames = sock.recv_multipart()
                try:
                    reply = self.decide(frames)
                except Exception:  # noqa: BLE001 - a bad request is refused, the handler lives on
                    log.exception("ZAP request not understood; refused")
                    reply = [b"1.0", frames[1] if len(frames) > 1 else b"", b"500", b"internal error", b"", b""]
                sock.send_multipart(reply)
        finally:
            sock.close(linger=0)

    def decide(self, frames: list[bytes]) -> list[bytes]:
        """One ZAP reply: 200 with the key's NAME as User-Id, or 400 with the reason (logged)."""
        if len(frames) < 6:
            return [b"1.0", frames[1] if len(frames) > 1 else b"", b"400", b"malformed ZAP request", b"", b""]
        version, request_id, _domain, address, _identity, mechanism = frames[:6]
        credentials = frames[6:]
        peer = address.decode("ascii", "replace")
        if version != b"1.0":
            return [b"1.0", request_id, b"400", b"bad ZAP version", b"", b""]
        if mechanism != b"CURVE" or len(credentials) != 1 or len(credentials[0]) != 32:
            self.on_refused()
            log.warning("refused a connection from %s: mechanism %s, only CURVE keys are accepted", peer,
                        mechanism.decode("ascii", "replace"))
            return [b"1.0", request_id, b"400", b"CURVE only", b"", b""]
        key = zmq.utils.z85.encode(credentials[0])
        name = self.keyring.name_of(key)
        if name is None:
            self.on_refused()
            log.warning("refused a connection from %s: unknown client key %s (not in %s)", peer,
                        key.decode("ascii"), self.keyring.directory)
            return [b"1.0", request_id, b"400", b"unknown key", b"", b""]
        log.debug("connection from %s with key %s", peer, name)
        return [b"1.0", request_id, b"200", b"OK", name.encode(), b""]


@dataclass(frozen=True)
class ServerAuth:
    """What the intake needs to serve CURVE: the server's key pair and the allowed keys."""

    public: bytes
    secret: bytes
    keyring: KeyRing

    def apply(self, sock: zmq.Socket) -> None:
        """Make ``sock`` a CURVE server (before it binds)."""
        sock.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN.encode())
        sock.setsockopt(zmq.CURVE_SERVER, 1)
        sock.setsockopt(zmq.CURVE_SECRETKEY, self.secret)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, self.public)


def server_setup(config: Any) -> ServerAuth | None:
    """The start-up checks for the daemon's endpoint; None when no CURVE is to be used.

    :raises ConfigError: a ``tcp://`` endpoint without usable keys (and without
        ``insecure_tcp``), an unreadable or empty keys directory, a bad server key.
    """
    endpoint = config.endpoint
    if not is_tcp(endpoint):
        return None
    auth = config["auth"]
    if auth["insecure_tcp"]:
        log.warning("SECURITY: %s is served WITHOUT authentication (auth.insecure_tcp = true): anyone who can "
                    "reach it can read the status and make the daemon move nodes", endpoint)
        return None
    if not auth["keys_dir"] or not auth["server_secret"]:
        raise ConfigError(f"{config.source}: a tcp:// endpoint needs auth.keys_dir and auth.server_secret "
                          "(or auth.insecure_tcp = true to serve it without authentication)")
    keyring = KeyRing(auth["keys_dir"])
    keys = keyring.load()
    if not keys:
        raise ConfigError(f"auth.keys_dir {auth['keys_dir']}: no client key (NAME.key) in it: no client could "
                          "connect (sntakeover keys create NAME)")
    public, secret = read_key_file(auth["server_secret"])
    if secret is None:
        raise ConfigError(f"auth.server_secret {auth['server_secret']}: holds no secret key (give the "
                          "NAME.key_secret file)")
    unknown = sorted(set(auth["admins"]) - set(keys.values()))
    if unknown:
        log.warning("auth.admins names key(s) not in %s: %s", auth["keys_dir"], ", ".join(unknown))
    log.info("CURVE on %s: %d client key(s) in %s; admins: %s", endpoint, len(keys), auth["keys_dir"],
             ", ".join(auth["admins"]) or "none")
    return ServerAuth(public, secret, keyring)


@dataclass(frozen=True)
class ClientKeys:
    """A client's CURVE key pair and the server's public key."""

    public: bytes
    secret: bytes
    server: bytes

    def apply(self, sock: zmq.Socket) -> None:
        """Make ``sock`` a CURVE client (before it connects)."""
        sock.setsockopt(zmq.CURVE_SERVERKEY, self.server)
        sock.setsockopt(zmq.CURVE_PUBLICKEY, self.public)
        sock.setsockopt(zmq.CURVE_SECRETKEY, self.secret)

    @classmethod
    def from_files(cls, client_key: str, server_key: str) -> ClientKeys:
        public, secret = read_key_file(client_key)
        if secret is None:
            raise ConfigError(f"--client-key {client_key}: holds no secret key (give the NAME.key_secret file)")
        server, _ = read_key_file(server_key)
        return cls(public, secret, server)


def client_keys(endpoint: str, client_key: str | None = None, server_key: str | None = None,
                config: Any = None) -> ClientKeys | None:
    """The keys for ``endpoint``: from the options, else ``$SNTAKEOVER_CLIENT_KEY`` /
    ``$SNTAKEOVER_SERVER_KEY``, else ``[auth] client_key`` / ``server_public`` of ``config``.

    None for an ``ipc://`` endpoint, or a ``tcp://`` one with no key given anywhere.

    :raises ConfigError: only one of the two keys given, or a key file unusable.
    """
    if not is_tcp(endpoint):
        return None
    auth = config["auth"] if config is not None else {}
    ck = client_key or os.environ.get(ENV_CLIENT_KEY) or auth.get("client_key") or ""
    sk = server_key or os.environ.get(ENV_SERVER_KEY) or auth.get("server_public") or ""
    if not ck and not sk:
        return None
    if not ck or not sk:
        missing = "--client-key (or $SNTAKEOVER_CLIENT_KEY)" if not ck else "--server-key (or $SNTAKEOVER_SERVER_KEY)"
        raise ConfigError(f"{endpoint}: CURVE needs both keys; {missing} is missing")
    return ClientKeys.from_files(ck, sk)


def no_keys_hint(endpoint: str, keys: ClientKeys | None) -> str:
    """What to add to "no daemon answered" when a tcp:// endpoint was tried without keys."""
    if keys is None and is_tcp(endpoint):
        return (" (a tcp:// endpoint needs --client-key and --server-key, or $SNTAKEOVER_CLIENT_KEY and "
                "$SNTAKEOVER_SERVER_KEY, unless the daemon runs with auth.insecure_tcp)")
    return ""
