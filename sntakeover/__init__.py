"""sntakeover: event-driven xCAT service-node takeover.

Third-party plugins import :data:`hookimpl` from here::

    from sntakeover import hookimpl

    @hookimpl
    def sntakeover_notify(incident, transition, ctx):
        ...
"""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

PROJECT = "sntakeover"

#: Marker for plugin implementations (``@hookimpl``).
hookimpl = pluggy.HookimplMarker(PROJECT)

__all__ = ["PROJECT", "__version__", "hookimpl"]
