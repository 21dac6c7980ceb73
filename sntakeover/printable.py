"""Free text from outside, made safe to print: the one escaping function.

Events carry text their senders chose (``detail``, a tool's output, host names,
references, xCAT's output, a command's stderr). It is stored as given, but
wherever it is shown -- ``show``, ``incidents``, ``status``, ``watch``, the
daemon's log, every notifier's message -- it goes through :func:`printable`:
control characters (C0 including newline, CR and ESC, DEL, C1), Unicode line and
paragraph separators, bidirectional overrides, invisible format characters and
lone surrogates are written as escapes (``\\n``, ``\\x1b``, ``\\u2028``). A
record therefore stays on one line and cannot forge another, and no escape
sequence reaches a terminal.

:class:`OneLineFormatter` does the same for every log record (a traceback, too,
becomes one line).
"""

from __future__ import annotations

import logging
import re
from typing import Any

_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb"
                     "\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(m: re.Match[str]) -> str:
    c = m.group()
    if c in _NAMED:
        return _NAMED[c]
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


def printable(value: Any) -> str:
    """``value`` as text with every character that could change what a terminal or a log shows escaped."""
    text = value if isinstance(value, str) else str(value)
    return _UNSAFE.sub(_escape, text) if _UNSAFE.search(text) else text


def is_printable(text: str) -> bool:
    """True when :func:`printable` would leave ``text`` as it is."""
    return _UNSAFE.search(text) is None


class OneLineFormatter(logging.Formatter):
    """A log formatter whose every record is one line of printable text."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))
