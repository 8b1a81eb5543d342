"""A streaming ASGI client for Server-Sent Events: httpx's ASGITransport buffers a whole answer,
which a stream never finishes, so this one hands the app its messages as they come."""

import asyncio
import json
from typing import Any

from fastapi import FastAPI


class Stream:
    """One open request to an SSE endpoint of a running app; `async with` opens and ends it."""

    def __init__(self, app: FastAPI, path: str, headers: dict[str, str] | None = None,
                 query: str = "") -> None:
        self.app, self.path, self.query = app, path, query
        self.headers = {key.lower(): value for key, value in (headers or {}).items()}
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.disconnected = asyncio.Event()
        self.status = 0
        self.response_headers: dict[str, str] = {}
        self.buffer = ""
        self.body = b""
        self.ended = False
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> "Stream":
        sent_request = False

        async def receive() -> dict[str, Any]:
            nonlocal sent_request
            if not sent_request:
                sent_request = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await self.disconnected.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            await self.messages.put(message)

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": self.path, "raw_path": self.path.encode(),
            "query_string": self.query.encode(), "root_path": "",
            "headers": [(k.encode(), v.encode()) for k, v in self.headers.items()],
            "server": ("folio.test", 80), "client": ("127.0.0.1", 50000),
        }
        self.task = asyncio.create_task(self.app(scope, receive, send))
        start = await asyncio.wait_for(self.messages.get(), 5)
        self.status = start["status"]
        self.response_headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
        if self.status != 200:
            while not self.ended:
                await self._more(5)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.disconnected.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 5)

    async def _more(self, timeout: float) -> None:
        message = await asyncio.wait_for(self.messages.get(), timeout)
        if message["type"] == "http.response.body":
            chunk = message.get("body", b"")
            self.body += chunk
            self.buffer += chunk.decode().replace("\r\n", "\n")
            if not message.get("more_body", False):
                self.ended = True

    def json(self) -> Any:
        """The body of an answer that was not a stream (an error)."""
        return json.loads(self.body)

    async def next_block(self, timeout: float = 5) -> dict[str, Any]:
        """The next event or comment block: its fields, and `comments` for `:` lines."""
        loop = asyncio.get_running_loop()
        ends = loop.time() + timeout
        while "\n\n" not in self.buffer:
            if self.ended:
                raise AssertionError("the stream ended")
            await self._more(max(0.01, ends - loop.time()))
        block, self.buffer = self.buffer.split("\n\n", 1)
        fields: dict[str, Any] = {"comments": []}
        for line in block.split("\n"):
            if line.startswith(":"):
                fields["comments"].append(line[1:].strip())
            elif line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        return fields

    async def next_event(self, timeout: float = 5) -> dict[str, Any]:
        """The next event (heartbeats skipped), with `data` decoded."""
        loop = asyncio.get_running_loop()
        ends = loop.time() + timeout
        while True:
            block = await self.next_block(max(0.01, ends - loop.time()))
            if "data" in block:
                block["data"] = json.loads(block["data"])
                return block

    async def nothing_within(self, seconds: float) -> bool:
        """Whether no event arrives within `seconds`."""
        try:
            await self.next_event(seconds)
        except TimeoutError:
            return True
        return False
