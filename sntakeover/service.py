"""The daemon as a system service: signals, systemd notifications, reloading.

* ``SIGTERM``/``SIGINT``: stop gracefully -- stop taking requests, give running
  steps ``STOP_GRACE`` seconds to reach a checkpoint. A second one stops
  waiting for them (they resume on the next start); a step still running keeps
  the store open until the process exits (see :meth:`Daemon.serve`).
* ``SIGHUP``: reload what can change safely while incidents run (see
  :data:`RELOADABLE`: the log level, the notifiers' ``[plugins.*]`` tables and
  the timings of re-checks); every other change is logged as needing a
  restart. A configuration that does not load is refused and the running one
  kept. Incidents go on untouched.
* systemd (``Type=notify``): ``READY=1`` once the endpoint is bound and the
  engine has made its first round (unfinished incidents resumed),
  ``WATCHDOG=1`` from the engine loop only (a stuck loop stops the pings and
  systemd restarts the daemon), ``STATUS=`` with the open incidents and
  paused/breaker, ``RELOADING=1`` around a reload, ``STOPPING=1``.
"""

from __future__ import annotations

import copy
import logging
import signal
import threading
import time
from typing import TYPE_CHECKING, Any, Protocol

from .config import FREEFORM, Config, check_options, load
from .errors import SntakeoverError
from .sdnotify import SdNotify

if TYPE_CHECKING:
    from .engine import Engine
    from .plugins import Hooks
    from .store import Store


class Served(Protocol):
    """What the service needs of the daemon it serves (:class:`sntakeover.daemon.Daemon`)."""

    config: Config
    hooks: Hooks
    store: Store | None
    engine: Engine | None

    def apply_config(self, config: Config) -> None: ...

    def request_stop(self) -> None: ...

log = logging.getLogger(__name__)

#: keys a SIGHUP changes in the running daemon: they only say how to log, whom to tell, and how long
#: to wait before looking again -- never what an incident in flight decides
RELOADABLE = frozenset({
    "daemon.log_level", "auth.admins",
    "confirm.interval", "confirm.timeout", "backup.recheck", "approval.timeout",
    "engine.escalate_every", "engine.retry_delay", "verify.interval",
})
#: whole tables reloaded (the notifiers read them at every notification)
RELOADABLE_TABLES = frozenset({"plugins"})

STOP_GRACE = 10.0
STATUS_EVERY = 2.0


class Service:
    def __init__(self, daemon: Served, notify: SdNotify | None = None) -> None:
        self.daemon = daemon
        self.notify = notify or SdNotify()
        self.signals = 0
        self._lock = threading.Lock()
        self._bound = False
        self._resumed = False
        self._ready = False
        self._last_ping = 0.0
        self._last_status = ""
        self._status_at = 0.0
        self._hup = threading.Event()
        self._reloader: threading.Thread | None = None

    # -- signals ------------------------------------------------------------------------

    def install_signals(self) -> None:
        signal.signal(signal.SIGTERM, self.on_stop_signal)
        signal.signal(signal.SIGINT, self.on_stop_signal)
        signal.signal(signal.SIGHUP, self.on_hup)
        self._reloader = threading.Thread(target=self._reload_loop, name="reload", daemon=True)
        self._reloader.start()

    def on_stop_signal(self, signum: int, frame: Any = None) -> None:
        self.signals += 1
        if self.signals == 1:
            log.info("stopping (signal %s): no new requests; running steps get %g s to reach a checkpoint",
                     signum, STOP_GRACE)
            self.notify.stopping("stopping")
            self.daemon.request_stop()
        else:
            log.warning("signal %s again: not waiting for running steps (they resume on the next start); "
                        "stopping", signum)
            if self.daemon.engine is not None:
                self.daemon.engine.hurry()

    def on_hup(self, signum: int, frame: Any = None) -> None:
        self._hup.set()  # the reload runs in its own thread, not in the signal handler

    def _reload_loop(self) -> None:
        while True:
            self._hup.wait()
            self._hup.clear()
            try:
                self.reload()
            except Exception:  # noqa: BLE001 - a failed reload must never stop the daemon
                log.exception("reload failed; the running configuration is kept")
                self.notify.ready(self.status_text())

    # -- reload -------------------------------------------------------------------------

    def reload(self) -> tuple[list[str], list[str]]:
        """Read the configuration file again; apply what is safe. Returns (applied, needing a restart)."""
        self.notify.reloading()
        old: Config = self.daemon.config
        source = None if old.source.startswith("<") else old.source
        try:
            new = load(source)
            check_options(new, self.daemon.hooks.options_schemas())
        except SntakeoverError as exc:
            log.error("reload refused, the running configuration is kept: %s", exc)
            self.notify.ready(self.status_text())
            return [], []
        data = copy.deepcopy(old.data)
        applied: list[str] = []
        restart: list[str] = []
        for section, table in new.data.items():
            if section in FREEFORM:
                if table != old.data.get(section):
                    if section in RELOADABLE_TABLES:
                        data[section] = copy.deepcopy(table)
                        applied.append(f"[{section}.*]")
                    else:
                        restart.append(f"[{section}.*]")
                continue
            for key, value in table.items():
                if value == old.data[section].get(key):
                    continue
                if f"{section}.{key}" in RELOADABLE:
                    data[section][key] = value
                    applied.append(f"{section}.{key}")
                else:
                    restart.append(f"{section}.{key}")
        cfg = Config(data, old.source)
        self.daemon.apply_config(cfg)
        if "daemon.log_level" in applied:
            logging.getLogger().setLevel(getattr(logging, cfg.get("daemon", "log_level").upper()))
        log.info("reloaded %s: %s", old.source, ", ".join(applied) if applied else "nothing that can change at run time changed")
        for key in restart:
            log.warning("reload: %s changed in %s; it takes effect after a restart (systemctl restart sntakeover)",
                        key, old.source)
        self.notify.ready(self.status_text())
        return applied, restart

    # -- readiness, watchdog, status ------------------------------------------------------

    def bound(self) -> None:
        """The endpoint is bound (from the intake loop)."""
        with self._lock:
            self._bound = True
        self._maybe_ready()

    def heartbeat(self) -> None:
        """One round of the engine loop finished (from the engine thread)."""
        with self._lock:
            self._resumed = True
        self._maybe_ready()
        t = time.monotonic()
        if self.notify.watchdog and t - self._last_ping >= self.notify.watchdog / 3:
            self._last_ping = t
            self.notify.watchdog_ping()
        if self._ready and t - self._status_at >= STATUS_EVERY:
            self._status_at = t
            text = self.status_text()
            if text != self._last_status:
                self._last_status = text
                self.notify.status(text)

    def _maybe_ready(self) -> None:
        with self._lock:
            if self._ready or not (self._bound and self._resumed):
                return
            self._ready = True
        text = self.status_text()
        self._last_status = text
        self.notify.ready(text)
        log.info("ready: %s", text)

    def status_text(self) -> str:
        """``2 open incident(s): 7 sn1 moving, 8 sn3 held; PAUSED`` -- what ``systemctl status`` shows."""
        from . import controls

        store = self.daemon.store
        if store is None:
            return "starting"
        try:
            rows = store.query("SELECT id, servicenode, state FROM incidents WHERE closed IS NULL ORDER BY id")
            extra = []
            if controls.get(store, controls.PAUSE):
                extra.append("PAUSED (sntakeover resume)")
            if controls.get(store, controls.BREAKER):
                extra.append("BREAKER TRIPPED (sntakeover breaker reset)")
        except Exception as exc:  # noqa: BLE001 - the status line must not break the loop
            return f"store not readable: {exc}"
        text = (f"{len(rows)} open incident(s): " + ", ".join(f"{r['id']} {r['servicenode']} {r['state']}"
                                                            for r in rows[:5])
                + (" ..." if len(rows) > 5 else "")) if rows else "no open incident"
        return "; ".join([text, *extra])

