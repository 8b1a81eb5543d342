"""Real server processes for tests that need one: a free port, start, wait until healthy, stop."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_healthy(port: int, process: subprocess.Popen, seconds: float = 30) -> None:
    """Poll /healthz until the server answers; fail early if the process dies."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode} before answering")
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"no answer on port {port} within {seconds} s")


@contextmanager
def running(command: Sequence[str], port: int, env: dict[str, str] | None = None,
            **popen: object) -> Iterator[subprocess.Popen]:
    """Run a server command until the block ends; it is killed if it is still running then."""
    process = subprocess.Popen(list(command), cwd=ROOT, env={**os.environ, **(env or {})},
                               **popen)  # type: ignore[call-overload]
    try:
        wait_until_healthy(port, process)
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def uvicorn_command(app: str, port: int, *extra: str) -> list[str]:
    """`python -m uvicorn APP --port PORT`, quiet."""
    return [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--log-level", "warning",
            *extra]
