"""What an xCAT command is to sntakeover, whoever runs it: an argv that is checked
(:func:`check_argv`), a :class:`Runner` that runs it, a :class:`CommandResult`.

:mod:`sntakeover.runner` (on this host) and :mod:`sntakeover.sshrunner` (on
the MN over SSH) both build on this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

DEFAULT_TIMEOUT = 600.0
DEFAULT_OUTPUT_CAP = 16 * 1024 * 1024


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str
    timed_out: bool = False
    duration: float = 0.0
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out

    def describe(self) -> str:
        what = "timed out" if self.timed_out else f"rc={self.rc}"
        return f"{' '.join(self.argv[:1])} {what} after {self.duration:.1f}s"


class Runner(Protocol):
    """Anything that can run an argv on the MN."""

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        stdin: str | None = None,
        on_start: Callable[[int], None] | None = None,
    ) -> CommandResult:
        """Run ``argv``; ``on_start(pid)`` is called once the process exists (0 if remote)."""
        ...

    def close(self) -> None: ...


def check_argv(argv: Sequence[str]) -> tuple[str, ...]:
    """Refuse anything that is not a non-empty sequence of NUL-free strings."""
    if isinstance(argv, (str, bytes)) or not argv:
        raise TypeError("argv must be a non-empty list of strings, not a shell string")
    out = tuple(argv)
    for a in out:
        if not isinstance(a, str) or "\0" in a:
            raise ValueError(f"invalid argument {a!r}")
    return out
