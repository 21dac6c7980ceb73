"""The one way sntakeover waits for something: call a check until it says yes.

Every "poll until" in the code base goes through :func:`wait_until`: waiting
for the daemon to answer, following an incident in the store, the engine
waiting for its workers, the tests waiting for an incident to close. A check
returns a true value when the wait is over; that value is returned.
"""

from __future__ import annotations

import threading
import time
from typing import Callable, TypeVar

T = TypeVar("T")

#: seconds between two checks unless the caller says otherwise
INTERVAL = 0.05


class PollTimeout(TimeoutError):
    """The condition did not hold within the time given."""


def wait_until(check: Callable[[], T], *, timeout: float | None, interval: float = INTERVAL,
               stop: threading.Event | None = None, alive: Callable[[], bool] | None = None,
               what: str = "the condition") -> T:
    """Call ``check()`` until it returns a true value, and return that value.

    :param timeout: seconds to keep trying (``None``: no limit).
    :param interval: seconds between two calls (the check's own time is not added).
    :param stop: an event that ends the wait early (raises :class:`PollTimeout`).
    :param alive: called before every check; returning False ends the wait early
        (a child process that died will not start answering).
    :param what: words for the error message.
    :raises PollTimeout: the time ran out, ``stop`` was set or ``alive()`` said False.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if alive is not None and not alive():
            raise PollTimeout(f"gave up waiting for {what}: the process it depends on is gone")
        value = check()
        if value:
            return value
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise PollTimeout(f"{what} did not happen within {timeout:g} s")
        pause = interval if left is None else min(interval, left)
        if stop is not None:
            if stop.wait(pause):
                raise PollTimeout(f"stopped while waiting for {what}")
        elif pause > 0:
            time.sleep(pause)
