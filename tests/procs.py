"""Run `harness` commands (and other servers) as subprocesses that tests stop by pid."""

import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HARNESS = [sys.executable, "-m", "harness"]


def free_port() -> int:
    """A loopback port free now (for servers that cannot be told to pick one)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def children(pid: int) -> list[int]:
    """Pids of the live processes whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Proc:
    """A subprocess whose first `lines` stdout lines say it is ready; its stderr goes to a file."""

    def __init__(self, args, lines: int = 1, timeout: float = 30, env=None, cwd=None):
        self.args, self.lines, self.timeout = list(args), lines, timeout
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.proc = None
        self.output: list[str] = []
        self._lines: queue.Queue = queue.Queue()
        self._stderr = tempfile.NamedTemporaryFile(prefix="proc-", suffix=".log", delete=False)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def start(self) -> list[str]:
        """Start it and return its first `lines` lines of stdout."""
        return self.launch().ready()

    def launch(self) -> "Proc":
        """Start it without waiting (start several, then wait for each with `ready()`)."""
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
                                     stdin=subprocess.DEVNULL, env=self.env, cwd=self.cwd)
        # Drain stdout for good: worker processes may inherit it, and a full pipe would block them.
        threading.Thread(target=self._read, daemon=True).start()
        return self

    def ready(self) -> list[str]:
        """Wait for its first `lines` lines of stdout and return them."""
        deadline = time.monotonic() + self.timeout
        for _ in range(self.lines):
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                self.stop()
                raise RuntimeError(f"{' '.join(self.args)} was not ready in {self.timeout} s; "
                                   f"its stderr:\n{self.stderr()}")
            self.output.append(line)
        return self.output

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def values(self) -> dict[str, str]:
        """The NAME=value lines it printed, as a dict."""
        return dict(line.split("=", 1) for line in self.output if "=" in line)

    def stderr(self) -> str:
        with open(self._stderr.name, errors="replace") as err:
            return err.read()[-5000:]

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after `grace` seconds; return the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def close(self) -> None:
        self.stop()
        self._stderr.close()
        os.unlink(self._stderr.name)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()


def close_all(procs) -> None:
    """Stop several at once (each takes a moment to stop), then clean up."""
    for proc in procs:
        if proc.proc is not None and proc.proc.poll() is None:
            proc.proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.close()


def emulate(*extra, checked: bool = False) -> Proc:
    """`harness emulate` on free ports; `.values()` has HARNESS_ENDPOINT_URL, HARNESS_REDIS_URL and its credentials.

    Unless `checked`, it accepts any credentials, so that other processes may use the defaults (`test`).
    """
    return Proc([*HARNESS, "emulate", "--port", "0", "--redis-port", "0",
                 *(() if checked else ("--no-credential-check",)), *extra], lines=5)


def serve(endpoint_url: str, redis_url: str | None, prefix: str, *extra) -> Proc:
    """`harness serve --target localstack` on a free port; its first line is the API's URL (or its roles).

    Without a Redis URL it uses a fakeredis of its own.
    """
    redis = ["--redis-url", redis_url] if redis_url else []
    return Proc([*HARNESS, "serve", "--target", "localstack", "--endpoint-url", endpoint_url, *redis,
                 "--prefix", prefix, "--port", "0", *extra])
