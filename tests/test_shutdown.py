"""On SIGTERM, requests already in flight complete before the process exits."""

import signal
import threading
import time

import httpx

from scripts.cli import GRACEFUL_SHUTDOWN_SECONDS
from tests.servers import free_port, running, uvicorn_command


def test_sigterm_lets_an_in_flight_request_finish():
    port = free_port()
    command = uvicorn_command("tests.slow_app:build", port, "--factory",
                              "--timeout-graceful-shutdown", str(GRACEFUL_SHUTDOWN_SECONDS))
    with running(command, port) as server:
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
