"""Running xCAT commands on the management node.

Every command is an argv list -- never a shell string. A runner enforces a
timeout and an output cap and returns a :class:`CommandResult`; a command that
cannot even be started is a result with a non-zero ``rc`` (127 local, 255 over
SSH), never an exception. Two runners implement :class:`Runner`:

* :class:`LocalRunner` (``xcat.runner = "local"``): :mod:`subprocess` on this
  host, in its own process group, killed as a group on timeout.
* :class:`sntakeover.sshrunner.SSHRunner` (``xcat.runner = "ssh"``): the same
  argv on a remote MN over one reused paramiko transport, quoted with
  :func:`shlex.join`; see that module.

:func:`make_runner` builds the one the configuration asks for.
"""

from __future__ import annotations

import logging
import os
import selectors
import subprocess
import time
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

log = logging.getLogger(__name__)

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


def make_runner(config) -> "Runner":
    """The runner selected by ``xcat.runner`` (``[ssh]`` configures the remote one)."""
    x = config["xcat"]
    if x["runner"] == "ssh":
        from .sshrunner import SSHRunner

        s = config["ssh"]
        return SSHRunner(
            host=s["host"], port=s["port"], user=s["user"], key_file=s["key_file"], known_hosts=s["known_hosts"],
            timeout=x["command_timeout"], output_cap=x["output_cap"], path_prefix=x["path"],
            connect_timeout=s["connect_timeout"], banner_timeout=s["banner_timeout"], auth_timeout=s["auth_timeout"],
            channel_timeout=s["channel_timeout"], keepalive=s["keepalive"], max_sessions=s["max_sessions"],
        )
    return LocalRunner(timeout=x["command_timeout"], output_cap=x["output_cap"], path_prefix=x["path"])


def check_argv(argv: Sequence[str]) -> tuple[str, ...]:
    """Refuse anything that is not a non-empty sequence of NUL-free strings."""
    if isinstance(argv, (str, bytes)) or not argv:
        raise TypeError("argv must be a non-empty list of strings, not a shell string")
    out = tuple(argv)
    for a in out:
        if not isinstance(a, str) or "\0" in a:
            raise ValueError(f"invalid argument {a!r}")
    return out


class LocalRunner:
    """Runs commands with :mod:`subprocess` on this host.

    :param path_prefix: directories put in front of ``PATH`` (the simulator's bin dir).
    :param env: extra environment variables.
    """

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        output_cap: int = DEFAULT_OUTPUT_CAP,
        path_prefix: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.timeout = timeout
        self.output_cap = output_cap
        self.env = dict(os.environ)
        if env:
            self.env.update(env)
        if path_prefix:
            self.env["PATH"] = os.pathsep.join([*path_prefix, self.env.get("PATH", "")])

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        stdin: str | None = None,
        on_start: Callable[[int], None] | None = None,
    ) -> CommandResult:
        args = check_argv(argv)
        limit = self.timeout if timeout is None else timeout
        start = time.monotonic()
        log.debug("run %s", args)
        try:
            proc = subprocess.Popen(
                args,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self.env,
                start_new_session=True,
            )
        except OSError as exc:
            return CommandResult(args, 127, "", f"{args[0]}: {exc.strerror or exc}\n", False, time.monotonic() - start)
        if on_start is not None:
            on_start(proc.pid)
        out, err, timed_out, truncated = _drain(proc, stdin, start + limit, self.output_cap)
        return CommandResult(
            args,
            proc.returncode if proc.returncode is not None else -9,
            out.decode("utf-8", "replace"),
            err.decode("utf-8", "replace"),
            timed_out,
            time.monotonic() - start,
            truncated,
        )

    def close(self) -> None:
        pass


def _drain(proc: subprocess.Popen, stdin: str | None, deadline: float, cap: int) -> tuple[bytes, bytes, bool, bool]:
    """Read stdout and stderr together until EOF or the deadline; kill on deadline."""
    bufs = {"out": bytearray(), "err": bytearray()}
    truncated = False
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None and proc.stderr is not None
    sel.register(proc.stdout, selectors.EVENT_READ, "out")
    sel.register(proc.stderr, selectors.EVENT_READ, "err")
    if stdin is not None and proc.stdin is not None:
        try:
            proc.stdin.write(stdin.encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass
    timed_out = False
    while sel.get_map():
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        for key, _ in sel.select(timeout=min(left, 1.0)):
            chunk = os.read(key.fileobj.fileno(), 65536)  # type: ignore[union-attr]
            if not chunk:
                sel.unregister(key.fileobj)
                continue
            buf = bufs[key.data]
            room = cap - len(buf)
            if room > 0:
                buf += chunk[:room]
            if len(chunk) > room:
                truncated = True
    sel.close()
    if timed_out:
        _kill(proc)
    else:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill(proc)
    for f in (proc.stdout, proc.stderr):
        f.close()
    return bytes(bufs["out"]), bytes(bufs["err"]), timed_out, truncated


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, 9)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()
