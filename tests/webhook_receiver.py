"""A webhook receiver for tests: a tiny HTTP/1.1 server on 127.0.0.1 that records every request
and fails the first `fail_first` attempts of each `webhook-id`."""

import asyncio
import collections
from typing import Any

import httpx


class Receiver:
    """Records (headers, body) per request; answers `failure` for the first attempts per id."""

    def __init__(
        self, fail_first: int = 0, failure: int = 500, extra: str = "", hang: bool = False
    ) -> None:
        self.hang = hang  # never answer: the sender's time limit must end the attempt
        self.fail_first = fail_first
        self.failure = failure
        self.extra = extra  # extra response header lines, e.g. a Location
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.per_id: collections.Counter[str] = collections.Counter()
        self.port = 0
        self.handlers: set[asyncio.Task] = set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            lines = head.split("\r\n")[1:]
            headers = {k.strip().lower(): v.strip() for k, v in
                       (line.split(":", 1) for line in lines if ":" in line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append((headers, body))
            message = headers.get("webhook-id", "")
            self.per_id[message] += 1
            if self.hang:
                await asyncio.sleep(30)
            code = self.failure if self.per_id[message] <= self.fail_first else 200
            writer.write(f"HTTP/1.1 {code} X\r\n{self.extra}content-length: 2\r\n"
                         "connection: close\r\n\r\nok".encode())
            await writer.drain()
        finally:
            self.handlers.discard(task)
            writer.close()

    async def __aenter__(self) -> "Receiver":
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.server.close()
        for handler in list(self.handlers):  # a hanging answer, say: wait_closed awaits it
            handler.cancel()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        """Where to point a webhook."""
        return f"http://127.0.0.1:{self.port}/hook"


async def eventually(check: Any, seconds: float = 15.0) -> Any:
    """Call `check` (async) until it answers something truthy, or fail after `seconds`."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {seconds} s; last: {value!r}")
        await asyncio.sleep(0.05)


async def deliveries(client: httpx.AsyncClient, headers: dict, webhook_id: str) -> list[dict]:
    """The webhook's delivery log, first page."""
    response = await client.get(f"/api/webhooks/{webhook_id}/deliveries", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["deliveries"]
