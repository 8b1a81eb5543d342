"""Real server processes for tests that need one: a free port, start, wait until healthy, stop."""

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

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


REDIS_SERVER = shutil.which("redis-server")


def installed_or_skip(path: str | None, package: str) -> str:
    """A Debian program's path; CI installs it (.ci/run), so there a missing one fails the
    test, and elsewhere it skips."""
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must install Debian's {package} (see .ci/run)")
        pytest.skip(f"needs Debian's {package} (apt-get install {package})")
    return path


def redis_server_or_skip() -> str:
    """redis-server's path (see `installed_or_skip`)."""
    return installed_or_skip(REDIS_SERVER, "redis-server")


def redis_answers(port: int) -> bool:
    """Whether a Redis on 127.0.0.1:PORT answers PING (raw RESP, no client library)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def redis_server(port: int | None = None) -> Iterator[tuple[subprocess.Popen, str]]:
    """A throwaway redis-server on a free local port (no persistence); stopped by its pid."""
    port = port or free_port()
    process = subprocess.Popen(
        [redis_server_or_skip(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not redis_answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"redis-server did not start on port {port}")
            time.sleep(0.05)
        yield process, f"redis://127.0.0.1:{port}/0"
    finally:
        stop(process)


def stop(process: subprocess.Popen) -> None:
    """Stop a server process by its pid: SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
