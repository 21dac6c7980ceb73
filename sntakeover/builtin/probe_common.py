"""What the probe plugins share: how a command that could not run is told apart
from a command that saw the SN down.

A probe that cannot run (the command is missing, it timed out, permission was
refused) says *cannot tell* (``down=None``), never *down*: only what a probe
actually observed of the SN counts as a vote.
"""

from __future__ import annotations

from sntakeover.model import ProbeResult
from sntakeover.runner import CommandResult

#: runner exit codes that mean "the program did not run" (LocalRunner uses 127 for exec failures)
NOT_RUN = (126, 127)

#: words in an ssh/xdsh error that say the remote host did not answer (evidence of "down")
UNREACHABLE = ("No route to host", "Connection refused", "Connection timed out", "Host is down",
               "Network is unreachable", "not responding", "remote shell had error code: 255",
               "Unable to dispatch hierarchical sub-command", "Failed to dispatch command")

#: words that say the probe itself is not allowed or not set up (cannot tell)
CANNOT_RUN = ("Permission denied", "not found", "No such file or directory", "Host key verification failed",
              "command not found", "Unknown option")


def last_line(res: CommandResult) -> str:
    text = (res.stderr.strip() or res.stdout.strip())
    return (text.splitlines() or [f"rc={res.rc}"])[-1][:200]


def could_not_run(name: str, res: CommandResult) -> ProbeResult | None:
    """A 'cannot tell' result if ``res`` shows the command did not really run, else None."""
    if res.timed_out:
        return ProbeResult(name, None, f"cannot tell: {res.argv[0]} timed out after {res.duration:.0f} s")
    if res.rc in NOT_RUN:
        return ProbeResult(name, None, f"cannot tell: {res.argv[0]} could not run ({last_line(res)})")
    return None
