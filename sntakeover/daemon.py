"""``sntakeover serve``: the long-running daemon.

The intake loop in the main thread owns the ROUTER socket (one owner per
socket), polls with a timeout so it notices a stop request, and replies only
after :class:`~sntakeover.intake.Intake` has committed the event. The engine
runs in its own threads. Signals, systemd notifications and reloading are
:mod:`sntakeover.service`'s; counters that survive restarts :mod:`sntakeover.tally`'s;
``/metrics`` :mod:`sntakeover.metrics`'s.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

import zmq

from . import __version__
from .config import Config, check_options
from .engine import Engine
from .errors import AlreadyRunning, SntakeoverError
from .plugins import Hooks, get_plugin_manager, plugin_names
from .runner import Runner, make_runner
from .service import STOP_GRACE, Service
from .store import Store
from .tally import CountingIntake, Tally, status_counters
from .validation import load_validators

log = logging.getLogger(__name__)

POLL_MS = 500
MAX_MESSAGE = 8 * 1024 * 1024


class Lock:
    """An exclusive ``flock`` on a file, held for the daemon's lifetime."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(self.fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(self.fd)
            raise AlreadyRunning(f"another sntakeover daemon (pid {other}) already holds {what} ({path})") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        os.close(self.fd)


def prepare_runtime_dir(path: Path) -> None:
    """Create the ipc directory so only the daemon's user and group can enter it (0750)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o750)
    st = path.stat()
    if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) & 0o027:
        os.chmod(path, stat.S_IMODE(st.st_mode) & ~0o027)


class Daemon:
    def __init__(self, config: Config, *, runner: Runner | None = None, pm=None) -> None:
        self.config = config
        self.validators = load_validators()
        self.pm = pm or get_plugin_manager(
            load_entrypoints=config.get("daemon", "load_entrypoints"), blocked=config.get("daemon", "plugins_blocked")
        )
        self.hooks = Hooks(self.pm)
        for warning in check_options(config, self.hooks.options_schemas()):
            log.warning("%s", warning)
        self.runner = runner or make_runner(config)
        self._stop = threading.Event()
        self.started = time.time()
        self.locks: list[Lock] = []
        self.store: Store | None = None
        self.engine: Engine | None = None
        self.tally: Tally | None = None
        self.metrics: Any = None
        self.metrics_error = ""
        self.service = Service(self)

    def status(self) -> dict[str, Any]:
        assert self.store is not None and self.engine is not None
        from . import controls
        from .records import explain

        open_rows = self.store.unfinished()
        pause = controls.get(self.store, controls.PAUSE)
        breaker = controls.get(self.store, controls.BREAKER)
        return {
            "version": __version__,
            "pid": os.getpid(),
            "uptime": round(time.time() - self.started, 1),
            "endpoint": self.config.endpoint,
            "store": str(self.config.store_path),
            "paused": {"by": pause.by, "since": pause.since, "reason": pause.reason} if pause else None,
            "breaker": {"since": breaker.since, "reason": breaker.reason} if breaker else None,
            "maintenance": [{"servicenode": m.servicenode, "until": m.until, "by": m.by, "reason": m.reason}
                            for m in controls.all_maintenance(self.store)],
            "open_incidents": [{"id": r["id"], "servicenode": r["servicenode"], "state": r["state"],
                                "why": explain(r)} for r in open_rows],
            "working_on": self.engine.busy(),
            "plugins": plugin_names(self.pm),
            "plugin_failures": dict(getattr(self.pm, "failures", {})),
            "recent": self._recent(),
            "counters": status_counters(self.store, self.tally) if self.tally else {},
            "metrics": (f"http://{self.metrics.address}/metrics" if self.metrics else self.metrics_error or "off"),
            **self.store.counts(),
        }

    def _recent(self) -> list[dict[str, Any]]:
        """Incidents closed in the last week (``sntakeover status --since`` picks from these)."""
        from .clock import after
        from .records import incident_line, recently_closed

        assert self.store is not None
        return [{"id": r["id"], "servicenode": r["servicenode"], "state": r["state"], "closed": r["closed"],
                 "summary": incident_line(self.store, r)} for r in recently_closed(self.store, after(-7 * 86400))[:100]]

    def request_stop(self, signum: int | None = None, frame: Any = None) -> None:
        """Stop taking requests; :meth:`serve` then stops the engine and closes the store."""
        self._stop.set()

    def apply_config(self, config: Config) -> None:
        """Use a reloaded configuration from now on (see :mod:`sntakeover.service`)."""
        self.config = config
        if self.engine is not None:
            self.engine.config = config
            self.engine.gates.config = config

    def _start_metrics(self) -> None:
        listen = self.config.get("metrics", "listen")
        if not listen:
            return
        from .metrics import MetricsServer

        try:
            self.metrics = MetricsServer(listen, Store(self.config.store_path, readonly=True), self.tally)
            log.info("metrics on http://%s/metrics", self.metrics.address)
        except OSError as exc:  # the takeover daemon runs on without its metrics
            self.metrics_error = f"not serving: cannot listen on {listen}: {exc}"
            log.error("metrics %s", self.metrics_error)

    def _acquire(self) -> None:
        state_dir = self.config.state_dir
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o750)
        self.locks.append(Lock(state_dir / "sntakeover.lock", "the state directory"))
        ep = self.config.endpoint
        if ep.startswith("ipc://"):
            sock = Path(ep[len("ipc://"):])
            prepare_runtime_dir(sock.parent)
            self.locks.append(Lock(sock.with_name(sock.name + ".lock"), f"the endpoint {ep}"))
            if sock.exists():  # we hold the lock, so this is a leftover of a dead daemon
                sock.unlink()

    def serve(self, *, install_signals: bool = True) -> int:
        self._acquire()
        try:
            self.store = Store(self.config.store_path)
            self.tally = Tally(self.store)
            self.hooks.observe = self.tally.observe_hook
            self.engine = Engine(self.config, self.store, self.hooks, self.runner)
            self.engine.heartbeat = self.service.heartbeat
            intake = CountingIntake(
                self.config, self.store, self.validators, self.hooks, on_stored=self.engine.wake, status=self.status,
                control=self.engine.control,
            )
            intake.tally = self.tally
            if install_signals:
                self.service.install_signals()
            pending = len(self.store.unfinished())
            self.tally.start()
            self._start_metrics()
            self.engine.start()
            log.info("sntakeover %s listening on %s (store %s, %d unfinished incident(s) to resume)",
                     __version__, self.config.endpoint, self.config.store_path, pending)
            self._intake_loop(intake)
            self.service.notify.stopping("stopping")
            self.engine.stop(timeout=STOP_GRACE)
            log.info("stopped")
            return 0
        finally:
            self.runner.close()
            if self.metrics is not None:
                self.metrics.close()
            if self.tally is not None:
                try:
                    self.tally.stop()
                except Exception:  # noqa: BLE001 - closing the store matters more than the last counts
                    log.exception("cannot write the last counts")
            if self.store is not None:
                self.store.close()
            for lock in self.locks:
                lock.release()

    def _intake_loop(self, intake: Intake) -> None:
        ctx = zmq.Context()
        sock = ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 1000)
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE)
        sock.setsockopt(zmq.SNDTIMEO, 1000)
        old_umask = os.umask(0o007)
        try:
            sock.bind(self.config.endpoint)
        except zmq.ZMQError as exc:
            sock.close(linger=0)
            ctx.term()
            raise SntakeoverError(f"cannot bind {self.config.endpoint}: {exc}") from exc
        finally:
            os.umask(old_umask)
        self.service.bound()
        try:
            while not self._stop.is_set():
                if not sock.poll(POLL_MS, zmq.POLLIN):
                    continue
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK)
                except zmq.Again:
                    continue
                if len(frames) < 2:
                    intake.count("malformed")
                    continue
                reply = intake.handle(frames[-1])
                try:
                    sock.send_multipart([*frames[:-1], _encode(reply)])
                except zmq.ZMQError as exc:  # the client went away; it will resend
                    intake.count("unroutable")
                    log.debug("reply not delivered: %s", exc)
        finally:
            sock.close(linger=1000)
            ctx.term()


def _encode(reply: dict[str, Any]) -> bytes:
    return json.dumps(reply, separators=(",", ":")).encode()
