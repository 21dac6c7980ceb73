"""``sntakeover serve``: the long-running daemon.

The intake loop (:mod:`sntakeover.intakeloop`) runs in the main thread and owns
the ROUTER socket (one owner per socket); it replies only after the group
commit. The engine, the notifier (:mod:`sntakeover.outbox`) and the intake each
have their own store connection. Signals, systemd notifications and reloading
are :mod:`sntakeover.service`'s; counters that survive restarts
:mod:`sntakeover.tally`'s; ``/metrics`` :mod:`sntakeover.metrics`'s.
"""

from __future__ import annotations

import fcntl
import gc
import logging
import os
import stat
import sys
import threading
import time
from pathlib import Path
from typing import Any

from . import __version__
from .auth import server_setup
from .config import Config, check_options
from .engine import Engine
from .errors import AlreadyRunning, ConfigError
from .intakeloop import IntakeLoop
from .leader import SoleLeadership, make_leadership
from .outbox import Notifier
from .plugins import Hooks, get_plugin_manager, plugin_names
from .poison import quarantined
from .preflight import missing_commands, unknown_strategy
from .retention import prune_config
from .runner import Runner, make_runner
from .service import STOP_GRACE, Service
from .store import Store, tighten
from .tally import CountingIntake, Tally, status_counters
from .validation import load_validators

log = logging.getLogger(__name__)


#: seconds the engine waits after a commit before applying, so a storm is applied in batches
APPLY_DELAY = 0.05
#: seconds a thread may hold the GIL while another waits (Python's default is 5 ms): the
#: intake thread gets it back soon after each fsync even while the engine is busy
SWITCH_INTERVAL = 0.0005
#: seconds between WAL checkpoints (PASSIVE: writers never wait for them)
CHECKPOINT_INTERVAL = 1.0


def settle_heap() -> None:
    """Collect the start-up garbage, then leave what start-up built out of later collections.

    Plugins, schemas, validators and modules are tens of thousands of objects
    that live as long as the daemon. A full collection walked them all: a pause
    of 20 to 40 ms about every 20,000 events, during which no ack goes out.
    Frozen (:func:`gc.freeze`), they are never walked again.
    """
    gc.collect()
    gc.freeze()


class Coalesce:
    """Call ``fn`` once, ``delay`` seconds after the first of any number of calls.

    The intake wakes the engine after every group commit; letting the wake-ups
    of the next ``delay`` seconds join one keeps the engine's apply transactions
    (each an fsync) from alternating one for one with the intake's commits.
    """

    def __init__(self, fn: Any, delay: float) -> None:
        self.fn = fn
        self.delay = delay
        self._armed = False
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            if self._armed:
                return
            self._armed = True
        t = threading.Timer(self.delay, self._fire)
        t.daemon = True
        t.start()

    def _fire(self) -> None:
        with self._lock:
            self._armed = False
        self.fn()


class Lock:
    """An exclusive ``flock`` on a file, held for the daemon's lifetime."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
        tighten(path, 0o640)
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
        for missing in missing_commands(config, self.hooks):
            log.warning("%s", missing)
        strategy = unknown_strategy(config, self.hooks)
        if strategy:  # found only after fencing otherwise
            raise ConfigError(strategy)
        self.runner = runner or make_runner(config)
        self._stop = threading.Event()
        self.started = time.time()
        self.locks: list[Lock] = []
        self.store: Store | None = None
        self.intake_store: Store | None = None
        self.engine: Engine | None = None
        self.notifier: Notifier | None = None
        self.intake_loop: IntakeLoop | None = None
        self._pruner: threading.Thread | None = None
        self.tally: Tally | None = None
        self.leadership: Any = SoleLeadership()
        self.metrics: Any = None
        self.metrics_error = ""
        self.service = Service(self)

    def status(self) -> dict[str, Any]:
        assert self.intake_store is not None and self.engine is not None
        from . import controls
        from .records import explain

        st = self.intake_store
        open_rows = st.unfinished()
        pause = controls.get(st, controls.PAUSE)
        breaker = controls.get(st, controls.BREAKER)
        return {
            "version": __version__,
            "pid": os.getpid(),
            "uptime": round(time.time() - self.started, 1),
            "endpoint": self.config.endpoint,
            "store": str(st),
            "leadership": {**self.leadership.describe(), "leader": st.leader()},
            "paused": {"by": pause.by, "since": pause.since, "reason": pause.reason} if pause else None,
            "breaker": {"since": breaker.since, "reason": breaker.reason} if breaker else None,
            "maintenance": [{"servicenode": m.servicenode, "until": m.until, "by": m.by, "reason": m.reason}
                            for m in controls.all_maintenance(st)],
            "open_incidents": [{"id": r["id"], "servicenode": r["servicenode"], "state": r["state"],
                                "why": explain(r)} for r in open_rows],
            "working_on": self.engine.busy(),
            "plugins": plugin_names(self.pm),
            "plugin_failures": dict(getattr(self.pm, "failures", {})),
            "recent": self._recent(st),
            "counters": status_counters(st, self.tally) if self.tally else {},
            "quarantined": quarantined(st, 10),
            "metrics": (f"http://{self.metrics.address}/metrics" if self.metrics else self.metrics_error or "off"),
            **st.counts(),
        }

    def _recent(self, store: Store) -> list[dict[str, Any]]:
        """Incidents closed in the last week (``sntakeover status --since`` picks from these)."""
        from .clock import after
        from .records import incident_line, recently_closed

        return [{"id": r["id"], "servicenode": r["servicenode"], "state": r["state"], "closed": r["closed"],
                 "summary": incident_line(store, r)} for r in recently_closed(store, after(-7 * 86400))[:100]]

    def request_stop(self, signum: int | None = None, frame: Any = None) -> None:
        """Stop taking requests; :meth:`serve` then stops the engine and closes the store."""
        self._stop.set()
        if self.intake_loop is not None:
            self.intake_loop.request_stop()

    def apply_config(self, config: Config) -> None:
        """Use a reloaded configuration from now on (see :mod:`sntakeover.service`)."""
        self.config = config
        if self.engine is not None:
            self.engine.config = config
            self.engine.gates.config = config
        if self.notifier is not None:
            self.notifier.config = config
        if self.intake_loop is not None:  # auth.admins, adapter options
            self.intake_loop.intake.config = config

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
        tighten(state_dir, 0o750)
        self.locks.append(Lock(state_dir / "sntakeover.lock", "the state directory"))
        ep = self.config.endpoint
        if ep.startswith("ipc://"):
            sock = Path(ep[len("ipc://"):])
            prepare_runtime_dir(sock.parent)
            self.locks.append(Lock(sock.with_name(sock.name + ".lock"), f"the endpoint {ep}"))
            if sock.exists():  # we hold the lock, so this is a leftover of a dead daemon
                sock.unlink()

    def serve(self, *, install_signals: bool = True) -> int:
        auth = server_setup(self.config)  # refuses a tcp:// endpoint without usable keys
        self._acquire()
        sys.setswitchinterval(SWITCH_INTERVAL)
        stores: list[Store] = []
        try:
            path = self.config.store_path
            # one connection each; WAL checkpoints run in a thread of their own, never inside a commit
            self.store = Store(path, checkpoint=False)  # the engine's
            self.intake_store = Store(path, checkpoint=False)  # the intake's
            notifier_store = Store(path, checkpoint=False)
            stores += [self.store, self.intake_store, notifier_store]
            self.tally = Tally(self.intake_store)
            self.hooks.observe = self.tally.observe_hook
            self.engine = Engine(self.config, self.store, self.hooks, self.runner)
            self.engine.heartbeat = self.service.heartbeat
            # PostgreSQL: every daemon takes intake, the lock holder alone drives incidents
            self.leadership = make_leadership(path, self.store, self.config.get("ha", "takeover_within"),
                                              on_change=lambda leading: self.engine.wake())
            if self.store.dialect == "postgresql":  # SQLite: the state directory's lock makes one daemon
                self.store.fencing = self.leadership.token
            self.engine.leading = self.leadership.leading
            self.notifier = Notifier(self.config, notifier_store, self.hooks, self.runner)
            self.notifier.leading = self.leadership.leading
            intake = CountingIntake(self.config, self.intake_store, self.validators, self.hooks,
                                    on_stored=Coalesce(self.engine.wake, APPLY_DELAY), status=self.status,
                                    control=self.engine.control, apply=self.engine.apply_stored)
            intake.tally = self.tally
            intake.keyring = auth.keyring if auth else None
            self.intake_loop = IntakeLoop(intake, self.config.endpoint, auth=auth,
                                          offload_bytes=self.config.get("intake", "offload_bytes"))
            self.intake_loop.bind()
            self.service.bound()
            if install_signals:
                self.service.install_signals()
            pending = len(self.store.unfinished())
            self.tally.start()
            self._start_metrics()
            self.notifier.start()
            self.leadership.start()
            self.engine.start()
            self._start_pruner(notifier_store)
            log.info("sntakeover %s listening on %s (store %s, %d unfinished incident(s) to resume)",
                     __version__, self.config.endpoint, self.store, pending)
            if not self._stop.is_set():
                settle_heap()
                self.intake_loop.run()
            self.service.notify.stopping("stopping")
            self.engine.stop(timeout=STOP_GRACE)
            self.leadership.stop()
            self.notifier.stop(timeout=5.0)
            log.info("stopped")
            return 0
        finally:
            left = self._still_running()
            if left:
                # an abandoned worker writes its step's result when its command returns: closing the
                # connections under it would lose that write; the process ends with them open (as after
                # a kill, the next start resumes from the last commit and waits for the command's process)
                log.warning("stopping while %s still run(s): the store stays open until the process exits; "
                            "the next start resumes them", ", ".join(left))
                stores = []
            elif self.engine is not None:
                self.engine.close()
            self.runner.close()
            if self.metrics is not None:
                self.metrics.close()
            if self.tally is not None:
                try:
                    self.tally.stop()
                except Exception:  # noqa: BLE001 - closing the store matters more than the last counts
                    log.exception("cannot write the last counts")
            for s in stores:
                s.close()
            for lock in self.locks:
                lock.release()

    def _still_running(self) -> list[str]:
        """Threads that still use the store after the stop (a worker mid-step, a slow notifier)."""
        left = self.engine.still_running() if self.engine is not None else []
        if self.notifier is not None:
            left += [f"notifier lane {t.name}" for t in getattr(self.notifier, "_lanes", ()) if t.is_alive()]
        if self._pruner is not None:
            self._pruner.join(5.0)
            if self._pruner.is_alive():
                left.append("store housekeeping")
        return left

    def _start_pruner(self, store: Store) -> None:
        """Housekeeping: a PASSIVE WAL checkpoint every second, pruning every retention.prune_interval."""
        interval = self.config.get("retention", "prune_interval")
        checkpoint_store = Store(store.path, checkpoint=False)

        def loop() -> None:
            next_prune = time.monotonic() + interval if interval else None
            try:
                while not self._stop.wait(CHECKPOINT_INTERVAL):
                    try:
                        checkpoint_store.checkpoint()
                        if next_prune is not None and time.monotonic() >= next_prune:
                            next_prune = time.monotonic() + interval
                            prune_config(store, self.config)
                    except Exception:  # noqa: BLE001 - housekeeping; the next round retries
                        log.exception("store housekeeping failed")
                checkpoint_store.checkpoint()
            finally:
                checkpoint_store.close()

        self._pruner = threading.Thread(target=loop, name="housekeeping", daemon=True)
        self._pruner.start()
