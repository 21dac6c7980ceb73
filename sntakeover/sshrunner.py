"""Running xCAT commands on a remote management node over SSH (paramiko).

Selected with ``xcat.runner = "ssh"`` and configured in ``[ssh]``. The same
argv as the local runner is sent as one command line built with
:func:`shlex.join`, so every argument reaches the remote program as exactly one
word (the remote login shell must be a POSIX shell: sh, ksh or bash).

* Host keys: only the dedicated ``ssh.known_hosts`` file is read, with
  :class:`paramiko.RejectPolicy`; an unknown or changed host key is refused
  with an error naming the host and the key's SHA256 fingerprint. No agent, no
  key search: only ``ssh.key_file`` is offered.
* One transport is reused for every command (keepalive on) and reconnected
  when it died; at most ``ssh.max_sessions`` (≤ 8) channels are open at once,
  below OpenSSH's ``MaxSessions`` default of 10.
* stdout and stderr are drained together under the command's deadline and
  the output cap, and only then is the exit status read (paramiko #448, #1778,
  #1815: ``recv_exit_status`` alone can hang forever).
* A command that runs past its deadline is reported as ``timed_out``; its
  channel is closed and its remote process group is killed (the remote shell
  prints its pid, which sshd made a process-group leader, before it execs).
* ``xcat.path`` is put in front of the remote ``PATH``, each directory quoted.

A connection that cannot be made returns ``rc=255`` (like ``ssh``) with the
reason on stderr, so callers see a failed command, never an exception.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import select
import shlex
import socket
import threading
import time
from typing import Callable, Sequence

import paramiko

from .errors import SntakeoverError
from .runner import DEFAULT_OUTPUT_CAP, DEFAULT_TIMEOUT, CommandResult, check_argv

log = logging.getLogger(__name__)

MAX_SESSIONS = 8
CHUNK = 32768
PID_MARK = "sntakeover-remote-pid:"
_PID_LINE = re.compile(rb"sntakeover-remote-pid:(\d+)\n")
SSH_FAILED = 255


class SSHError(SntakeoverError):
    """The SSH connection could not be made (the message says why)."""


class HostKeyRejected(SSHError):
    """The server's host key is not the one in the known_hosts file."""


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's SHA256 fingerprint of a key, e.g. ``SHA256:qbOl...``."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    """How known_hosts names a host: ``host`` on port 22, ``[host]:port`` otherwise."""
    return host if port == 22 else f"[{host}]:{port}"


class _Reject(paramiko.RejectPolicy):
    def __init__(self, known_hosts: str) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise HostKeyRejected(
            f"host key of {hostname} is not in {self.known_hosts} ({key.get_name()} {fingerprint(key)}); "
            f"refusing to connect. Check the key, then add it: ssh-keyscan -p PORT HOST >> {self.known_hosts}"
        )


def remote_command(argv: Sequence[str], path_prefix: Sequence[str] = ()) -> str:
    """The command line the remote shell runs for ``argv``.

    It prints the shell's pid (the process group, see the module docstring) on
    stderr, puts ``path_prefix`` in front of ``PATH`` and ``exec``\\ s the
    program, every argument quoted with :func:`shlex.join`.
    """
    parts = [f"echo {PID_MARK}$$ >&2"]
    if path_prefix:
        parts.append("PATH=" + ":".join(shlex.quote(p) for p in path_prefix) + ':"$PATH"; export PATH')
    parts.append("exec " + shlex.join(argv))
    return "; ".join(parts)


class SSHRunner:
    """Runs argv lists on a remote MN over one reused SSH transport.

    :param host: the MN's address; ``port``, ``user`` as for ssh.
    :param key_file: the private key offered (no agent, no other key).
    :param known_hosts: the only file host keys are checked against.
    :param path_prefix: remote directories put in front of ``PATH``.
    :param connect_timeout: TCP connect; ``banner_timeout``, ``auth_timeout``,
        ``channel_timeout`` for the SSH banner, the authentication and opening
        a channel. Each is also bounded by the command's own deadline.
    :param keepalive: seconds between keepalive packets on an idle transport.
    """

    def __init__(
        self,
        *,
        host: str,
        user: str,
        key_file: str,
        known_hosts: str,
        port: int = 22,
        timeout: float = DEFAULT_TIMEOUT,
        output_cap: int = DEFAULT_OUTPUT_CAP,
        path_prefix: Sequence[str] = (),
        connect_timeout: float = 10.0,
        banner_timeout: float = 10.0,
        auth_timeout: float = 10.0,
        channel_timeout: float = 10.0,
        keepalive: float = 30.0,
        max_sessions: int = MAX_SESSIONS,
    ) -> None:
        if not 1 <= max_sessions <= MAX_SESSIONS:
            raise ValueError(f"max_sessions must be 1..{MAX_SESSIONS}")
        self.host, self.port, self.user = host, port, user
        self.key_file, self.known_hosts = key_file, known_hosts
        self.timeout = timeout
        self.output_cap = output_cap
        self.path_prefix = tuple(path_prefix)
        self.connect_timeout, self.banner_timeout = connect_timeout, banner_timeout
        self.auth_timeout, self.channel_timeout = auth_timeout, channel_timeout
        self.keepalive = keepalive
        self._slots = threading.BoundedSemaphore(max_sessions)
        self._lock = threading.Lock()
        self._client: paramiko.SSHClient | None = None

    # -- connection ------------------------------------------------------------------

    def transport(self, budget: float | None = None) -> paramiko.Transport:
        """The live transport, connecting (again) when there is none.

        :raises SSHError: the connection or the authentication failed.
        :raises HostKeyRejected: the host key is unknown or changed.
        """
        with self._lock:
            if self._client is not None:
                t = self._client.get_transport()
                if t is not None and t.is_active():
                    return t
                log.info("ssh transport to %s is gone; reconnecting", self._where())
                self._client.close()
                self._client = None
            self._client = self._connect(budget)
            t = self._client.get_transport()
            assert t is not None
            t.set_keepalive(max(1, int(self.keepalive)))
            return t

    def _where(self) -> str:
        return f"{self.user}@{known_hosts_name(self.host, self.port)}"

    def _connect(self, budget: float | None) -> paramiko.SSHClient:
        def cap(t: float) -> float:
            return max(0.1, min(t, budget)) if budget is not None else t

        client = paramiko.SSHClient()
        try:
            client.load_host_keys(self.known_hosts)
        except OSError as exc:
            raise SSHError(f"cannot read known_hosts file {self.known_hosts}: {exc.strerror or exc}") from None
        client.set_missing_host_key_policy(_Reject(self.known_hosts))
        try:
            client.connect(
                self.host, port=self.port, username=self.user, key_filename=self.key_file,
                timeout=cap(self.connect_timeout), banner_timeout=cap(self.banner_timeout),
                auth_timeout=cap(self.auth_timeout), channel_timeout=cap(self.channel_timeout),
                allow_agent=False, look_for_keys=False,
            )
        except HostKeyRejected:
            client.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            raise HostKeyRejected(
                f"host key of {known_hosts_name(self.host, self.port)} CHANGED: the server offers "
                f"{exc.key.get_name()} {fingerprint(exc.key)}, {self.known_hosts} has "
                f"{exc.expected_key.get_name()} {fingerprint(exc.expected_key)}; refusing to connect"
            ) from None
        except paramiko.AuthenticationException as exc:
            client.close()
            raise SSHError(f"{self._where()}: authentication with {self.key_file} failed: {exc}") from None
        except (paramiko.SSHException, OSError, EOFError) as exc:
            client.close()
            raise SSHError(f"{self._where()}: {type(exc).__name__}: {exc}") from None
        return client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    # -- commands --------------------------------------------------------------------

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
        deadline = start + limit

        def failed(msg: str, timed_out: bool = False) -> CommandResult:
            log.error("ssh: %s: %s", args[0], msg)
            return CommandResult(args, SSH_FAILED, "", f"ssh: {msg}\n", timed_out, time.monotonic() - start)

        if not self._slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
            return failed(f"no free SSH channel within {limit:.0f}s", timed_out=True)
        try:
            try:
                chan = self._open(deadline)
            except SSHError as exc:
                return failed(str(exc))
            if on_start is not None:
                on_start(0)  # the process is remote: there is no local pid to wait for
            log.debug("ssh run %s", args)
            return self._exchange(chan, args, stdin, start, deadline)
        finally:
            self._slots.release()

    def _open(self, deadline: float) -> paramiko.Channel:
        """A new session channel; one reconnect if the reused transport died."""
        for attempt in (1, 2):
            left = deadline - time.monotonic()
            if left <= 0:
                raise SSHError("deadline passed before a channel could be opened")
            t = self.transport(budget=left)
            try:
                return t.open_session(timeout=min(self.channel_timeout, left))
            except (paramiko.SSHException, EOFError, OSError) as exc:
                if attempt == 2:
                    raise SSHError(f"cannot open a channel to {self._where()}: {exc}") from None
                log.info("ssh channel to %s failed (%s); reconnecting", self._where(), exc)
                t.close()
        raise AssertionError("unreachable")

    def _exchange(self, chan: paramiko.Channel, args: tuple[str, ...], stdin: str | None,
                  start: float, deadline: float) -> CommandResult:
        bufs = {"out": bytearray(), "err": bytearray()}
        truncated = False
        pid: int | None = None
        pid_scan = bytearray()
        timed_out = False
        rc = SSH_FAILED
        try:
            chan.settimeout(max(0.1, deadline - time.monotonic()))
            chan.exec_command(remote_command(args, self.path_prefix))
            if stdin is not None:
                chan.sendall(stdin.encode())
            chan.shutdown_write()
            chan.settimeout(0.0)
            fd = chan.fileno()
            while True:
                got = False
                for name, ready, recv in (("out", chan.recv_ready, chan.recv), ("err", chan.recv_stderr_ready, chan.recv_stderr)):
                    while ready():
                        chunk = recv(CHUNK)
                        if not chunk:
                            break
                        got = True
                        if name == "err" and pid is None:
                            pid_scan += chunk
                            m = _PID_LINE.search(pid_scan)
                            if m is None and len(pid_scan) < 4096:
                                continue
                            if m is not None:
                                pid = int(m.group(1))
                                chunk = bytes(pid_scan[:m.start()] + pid_scan[m.end():])
                            else:
                                pid, chunk = 0, bytes(pid_scan)
                            pid_scan.clear()
                        buf = bufs[name]
                        room = self.output_cap - len(buf)
                        if room > 0:
                            buf += chunk[:room]
                        if len(chunk) > room:
                            truncated = True
                if got:
                    continue
                if chan.eof_received or chan.closed:
                    if not chan.recv_ready() and not chan.recv_stderr_ready():
                        break
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    timed_out = True
                    break
                select.select([fd], [], [], min(left, 1.0))
            if not timed_out:
                # the output is drained: the exit status cannot be stuck behind a full window
                left = deadline - time.monotonic()
                if chan.status_event.wait(max(0.0, left)):
                    rc = chan.recv_exit_status()
                else:
                    timed_out = True
        except socket.timeout:
            timed_out = True
        except (paramiko.SSHException, EOFError, OSError) as exc:
            bufs["err"] += f"ssh: connection lost: {exc}\n".encode()
        finally:
            chan.close()
        if pid_scan:
            bufs["err"] = pid_scan + bufs["err"]
        if timed_out:
            self._kill_remote(pid, args[0])
            rc = -9
        return CommandResult(args, rc, bufs["out"].decode("utf-8", "replace"), bufs["err"].decode("utf-8", "replace"),
                             timed_out, time.monotonic() - start, truncated)

    def _kill_remote(self, pid: int | None, what: str) -> None:
        """Kill the remote process group of a command that ran past its deadline."""
        if not pid:
            log.warning("ssh: %s timed out before it reported its pid; channel closed", what)
            return
        try:
            chan = self._open(time.monotonic() + self.channel_timeout)
            chan.settimeout(self.channel_timeout)
            chan.exec_command(f"kill -s KILL -- -{int(pid)}")
            chan.status_event.wait(self.channel_timeout)
            chan.close()
            log.info("ssh: %s timed out; killed remote process group %d", what, pid)
        except (SSHError, paramiko.SSHException, EOFError, OSError) as exc:
            log.warning("ssh: %s timed out; could not kill remote process group %d: %s", what, pid, exc)
