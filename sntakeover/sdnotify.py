"""Talking to systemd (``Type=notify``): ``READY=1``, ``RELOADING=1``, ``STOPPING=1``,
``WATCHDOG=1`` and ``STATUS=`` text, as datagrams on ``$NOTIFY_SOCKET``.

Pure Python, no libsystemd. The variables are taken out of the environment
when the notifier is made, so the xCAT commands and notifier programs the
daemon starts do not inherit them (a child must never answer for the daemon).
Without ``$NOTIFY_SOCKET`` (run by hand, in a test) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading

log = logging.getLogger(__name__)


class SdNotify:
    def __init__(self, address: str | None = None, *, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        if address is None:
            address = env.pop("NOTIFY_SOCKET", None)
        usec = env.pop("WATCHDOG_USEC", None)
        pid = env.pop("WATCHDOG_PID", None)
        #: seconds within which systemd expects WATCHDOG=1 (None: no watchdog for this process)
        self.watchdog: float | None = None
        if usec and usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog = int(usec) / 1e6
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        if address and address[0] in "@/" and len(address) > 1:
            target = "\0" + address[1:] if address[0] == "@" else address
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            try:
                sock.connect(target)
                self._sock = sock
            except OSError as exc:
                log.warning("cannot reach systemd's notification socket %s: %s", address, exc)
                sock.close()

    @property
    def active(self) -> bool:
        return self._sock is not None

    def send(self, *fields: str) -> None:
        """Send ``KEY=value`` fields in one datagram; a failure is logged, never raised."""
        if self._sock is None:
            return
        data = "\n".join(f.replace("\n", " ") for f in fields).encode("utf-8", "replace")
        try:
            with self._lock:
                self._sock.send(data)
        except OSError as exc:
            log.debug("sd_notify %r not delivered: %s", fields, exc)

    def ready(self, status: str = "") -> None:
        self.send("READY=1", *((f"STATUS={status}",) if status else ()))

    def reloading(self) -> None:
        self.send("RELOADING=1")

    def stopping(self, status: str = "") -> None:
        self.send("STOPPING=1", *((f"STATUS={status}",) if status else ()))

    def status(self, text: str) -> None:
        self.send(f"STATUS={text}")

    def watchdog_ping(self) -> None:
        self.send("WATCHDOG=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
