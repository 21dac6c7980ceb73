"""What a plugin gets to work with for one incident."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .config import Config
    from .runner import Runner


@dataclass
class Context:
    """Per-incident context passed to pipeline hooks as ``ctx``.

    :ivar config: the daemon configuration.
    :ivar runner: runs xCAT commands on the MN (argv lists only).
    :ivar note: ``note(text)`` appends a line to the incident's timeline.
    :ivar scratch: a dict for plugins to share facts within one step.
    """

    config: Config
    runner: Runner
    note: Callable[[str], None] = lambda text: None
    scratch: dict[str, Any] = field(default_factory=dict)

    def xcat(self, *argv: str, timeout: float | None = None):
        """Run an xCAT command given as separate arguments (never a shell string)."""
        return self.runner.run(list(argv), timeout=timeout)
