"""The runner wrapper that stores every command an incident runs, with its tag, pid and result.

The intent (and the tag the process will carry) is on disk before the process
exists, so a restarted daemon knows which commands may still be running.
"""

from __future__ import annotations

from typing import Sequence

from .runner import CommandResult, Runner
from .store import Store


class RecordingRunner:
    """Wraps a runner so every command of an incident is stored with its pid and result."""

    def __init__(self, inner: Runner, store: Store, incident_id: int | None) -> None:
        self.inner = inner
        self.store = store
        self.incident_id = incident_id

    def run(self, argv: Sequence[str], *, timeout: float | None = None, stdin: str | None = None, on_start=None,
            tag: str | None = None) -> CommandResult:
        # the intent (and the tag the process will carry) is on disk before the process exists
        seq, tag = self.store.command_started(self.incident_id, list(argv))

        def started(pid: int) -> None:
            if pid:
                self.store.command_pid(seq, pid)
            if on_start is not None:
                on_start(pid)

        res = self.inner.run(argv, timeout=timeout, stdin=stdin, on_start=started, tag=tag)
        self.store.command_finished(seq, res.rc, res.timed_out, res.duration, res.stdout, res.stderr)
        return res

    def running(self, tag: str) -> list[int] | None:
        return self.inner.running(tag)

    def close(self) -> None:
        pass
