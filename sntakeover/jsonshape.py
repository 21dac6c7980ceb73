"""Checks of a decoded JSON request that its schema cannot express: how deep it nests, and
whether a string holds a lone UTF-16 surrogate (JSON can spell ``"\\ud800"``, which is no
character: Python decodes it, but it cannot be written as UTF-8 text -- to SQLite, a log, a
terminal -- so such a request is refused at the door instead of failing later)."""

from __future__ import annotations

import json
import re
from typing import Any

#: a JSON escape of a UTF-16 surrogate: only then can the decoded text hold a lone one
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def may_hold_surrogates(body: bytes) -> bool:
    """False when the raw body has no surrogate escape (the cheap test before :func:`lone_surrogate`)."""
    return _SURROGATE_ESCAPE.search(body) is not None


def depth_exceeds(body: bytes, obj: Any, limit: int) -> bool:
    """True when ``obj`` (decoded from ``body``) nests deeper than ``limit``."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False  # cannot be deeper than the number of openings
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, (dict, list)))
    return False


def lone_surrogate(obj: Any, path: str = "$") -> str | None:
    """The JSON path of the first string (value or key) holding a lone surrogate, else None."""
    stack: list[tuple[Any, str]] = [(obj, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            try:
                node.encode("utf-8")
            except UnicodeEncodeError:
                return where
        elif isinstance(node, dict):
            for k, v in node.items():
                here = f"{where}.{k}" if isinstance(k, str) and k.isidentifier() else f"{where}[{json.dumps(k)}]"
                try:
                    k.encode("utf-8")
                except UnicodeEncodeError:
                    return where
                stack.append((v, here))
        elif isinstance(node, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(node))
    return None
