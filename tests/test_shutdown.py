"""On SIGTERM, requests already in flight complete before the process exits."""

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from scripts.cli import GRACEFUL_SHUTDOWN_SECONDS

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_sigterm_lets_an_in_flight_request_finish():
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "tests.slow_app:build", "--factory", "--port", str(port),
         "--timeout-graceful-shutdown", str(GRACEFUL_SHUTDOWN_SECONDS), "--log-level", "warning"],
        cwd=ROOT,
    )
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        outcome = {}

        def call() -> None:
            outcome["response"] = httpx.get(f"http://127.0.0.1:{port}/slow", timeout=10)

        caller = threading.Thread(target=call)
        caller.start()
        time.sleep(0.5)  # the request is now in flight
        server.send_signal(signal.SIGTERM)
        caller.join(10)
        assert outcome["response"].status_code == 200
        assert outcome["response"].json() == {"status": "finished"}
        assert server.wait(10) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once done
    finally:
        if server.poll() is None:
            server.kill()
