"""The exit codes of every ``sntakeover`` command (``send``, ``hook``, the control verbs,
``show --follow``...): one table, documented in the README.

===  ==========================================================================
 0   success (a duplicate event is a success; a followed takeover ended ``done``)
 1   failed: a followed takeover ended otherwise (partial, failed, cancelled,
     suppressed), no such incident, a control verb the daemon would not apply,
     a bad configuration, no store
 2   usage: bad arguments
 3   no daemon answered (after ``--retries`` attempts of ``--timeout`` seconds):
     the event was NOT delivered
 4   rejected by the daemon as invalid: an event or a tool's payload (the
     message names the JSON path and says what is wrong)
 5   the daemon's reply was not understood
141  standard output was closed early (``sntakeover show 7 | head``): no traceback
===  ==========================================================================
"""

from __future__ import annotations

OK = 0
FAILED = 1
USAGE = 2
NO_DAEMON = 3
REFUSED = 4
BAD_REPLY = 5
BROKEN_PIPE = 128 + 13  # like a program killed by SIGPIPE
