"""The client every hook uses: ZeroMQ REQ with the Lazy Pirate pattern.

A request is sent, the socket is polled for the reply with a timeout; with no
reply the socket is closed with LINGER 0 and reopened, and the same request is
sent again, up to ``retries`` times. A reply with ``retry: true`` (a store or
internal error: nothing was stored) is sent again the same way. Resending is
safe because the daemon de-duplicates on the event id.

``keys`` (:class:`sntakeover.auth.ClientKeys`) makes each socket a CURVE
client, for a ``tcp://`` endpoint that requires it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Any

import zmq

from .errors import SntakeoverError

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "ipc:///run/sntakeover/intake.sock"
DEFAULT_TIMEOUT = 2.5  # seconds per attempt
DEFAULT_RETRIES = 3


def default_endpoint() -> str:
    """The daemon's endpoint for hooks and the bridge: ``$SNTAKEOVER_ENDPOINT``, else the packaged default."""
    return os.environ.get("SNTAKEOVER_ENDPOINT") or DEFAULT_ENDPOINT


class NoDaemon(SntakeoverError):
    """No daemon answered on the endpoint within the retries."""


class BadReply(SntakeoverError):
    """The daemon answered with something that is not a JSON object."""


def request(
    req: dict[str, Any],
    *,
    endpoint: str,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
    context: zmq.Context | None = None,
    keys: Any = None,
) -> dict[str, Any]:
    """Send one request and return the decoded reply.

    :param timeout: seconds to wait for a reply per attempt.
    :param retries: attempts in total (at least 1).
    :param keys: CURVE keys (:class:`sntakeover.auth.ClientKeys`) or None.
    :raises NoDaemon: no reply after all attempts.
    :raises BadReply: the reply is not a JSON object.
    """
    body = json.dumps(req, separators=(",", ":")).encode()
    ctx = context or zmq.Context()
    try:
        for attempt in range(1, max(1, retries) + 1):
            sock = ctx.socket(zmq.REQ)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDTIMEO, int(timeout * 1000))
            if keys is not None:
                keys.apply(sock)
            try:
                sock.connect(endpoint)
                try:
                    sock.send(body)
                except zmq.Again:
                    log.debug("send attempt %d to %s timed out", attempt, endpoint)
                    continue
                deadline = time.monotonic() + timeout
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    if sock.poll(int(left * 1000) + 1, zmq.POLLIN):
                        raw = sock.recv()
                        try:
                            reply = json.loads(raw)
                        except ValueError as exc:
                            raise BadReply(f"reply is not JSON: {raw[:200]!r}") from exc
                        if not isinstance(reply, dict):
                            raise BadReply(f"reply is not a JSON object: {raw[:200]!r}")
                        if reply.get("retry") and attempt < retries:  # nothing was stored: send it again
                            log.debug("daemon asked for a retry: %s", reply.get("error"))
                            time.sleep(min(timeout, 0.2 * attempt))
                            break
                        return reply
                log.debug("no reply from %s on attempt %d/%d", endpoint, attempt, retries)
            finally:
                sock.close(linger=0)
        from .auth import no_keys_hint

        raise NoDaemon(f"no sntakeover daemon answered on {endpoint} ({retries} attempt(s), {timeout:g}s each)"
                       + no_keys_hint(endpoint, keys))
    finally:
        if context is None:
            ctx.term()


def send_event(event: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """Send one normalised event (``op: event``)."""
    return request({"v": 1, "op": "event", "event": event}, **kw)


def send_raw(source: str, payload: Any, **kw: Any) -> dict[str, Any]:
    """Send a monitoring tool's own payload for the daemon's adapter (``op: raw``)."""
    return request({"v": 1, "op": "raw", "source": source, "payload": payload}, **kw)


def wait_for_daemon(endpoint: str, timeout: float = 20.0, *, alive=lambda: True, keys: Any = None) -> None:
    """Ping until the daemon answers; ``alive()`` returning False (the process died) stops early.

    :raises NoDaemon: no answer within ``timeout`` seconds, or the daemon is not alive.
    """
    from .poll import PollTimeout, wait_until

    def answers() -> bool:
        try:
            request({"v": 1, "op": "ping"}, endpoint=endpoint, timeout=0.3, retries=1, keys=keys)
            return True
        except NoDaemon:
            return False

    try:
        wait_until(answers, timeout=timeout, interval=0.0, alive=alive, what=f"a daemon on {endpoint}")
    except PollTimeout:
        raise NoDaemon(f"no sntakeover daemon answered on {endpoint} within {timeout:g}s") from None
