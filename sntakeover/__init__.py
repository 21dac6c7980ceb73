"""sntakeover: event-driven xCAT service-node takeover.

Third-party plugins import :data:`hookimpl` from here::

    from sntakeover import hookimpl

    @hookimpl
    def sntakeover_notify(incident, transition, ctx):
        ...

``hookimpl`` is made on first use: programs that never load plugins (the xCAT
simulator's commands, started once per simulated command) do not import pluggy.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

PROJECT = "sntakeover"

__all__ = ["PROJECT", "__version__", "hookimpl"]


def __getattr__(name: str) -> Any:
    """``hookimpl``, the marker for plugin implementations (``@hookimpl``), made on first use."""
    if name == "hookimpl":
        import pluggy

        marker = pluggy.HookimplMarker(PROJECT)
        globals()["hookimpl"] = marker
        return marker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
