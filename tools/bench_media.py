"""The media benchmark (issue 22): uploading a 4 MB JPEG, and serving a variant whole and by Range.

    python -m tools.bench_media [--url mongodb://127.0.0.1:PORT] [--seconds 5] [--uploads 5]

Without --url it runs on the embedded engine; with one, on that server (the wire tier's mongoeco
server, or a MongoDB). The app runs in process and is driven through httpx's ASGI transport at
concurrency 8, so the figures are the server's own cost (routing, the database reads, the
streamed body) without a network or a socket: compare engines with them, not deployments.
It prints one JSON object: the upload's median milliseconds (and, apart, the image processing's
share), and requests and megabytes per second for each way of serving.
"""

import argparse
import asyncio
import io
import json
import os
import statistics
import time
import uuid
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from PIL import Image

from scripts.dbtools import sync
from service.config import Settings
from service.main import create_app
from service.media import images

CONCURRENCY = 8


def photo_jpeg(target: int = 4_000_000) -> bytes:
    """A JPEG of about `target` bytes: noise over a gradient, the worst case for the encoder."""
    side = 1600
    while True:
        noise = Image.frombytes("RGB", (side, side * 3 // 4), os.urandom(side * side * 9 // 4))
        out = io.BytesIO()
        noise.save(out, "JPEG", quality=92)
        if out.tell() >= target * 0.95:
            return out.getvalue()
        side += 200


async def _drive(client: httpx.AsyncClient, path: str, headers: dict[str, str],
                 seconds: float, expected: int) -> dict[str, float]:
    """Requests per second and MB per second at CONCURRENCY for `seconds`."""
    count = received = 0
    stop = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal count, received
        while time.perf_counter() < stop:
            response = await client.get(path, headers=headers)
            assert response.status_code == expected, response.status_code
            count += 1
            received += len(response.content)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    elapsed = time.perf_counter() - started
    return {"requests_per_second": round(count / elapsed, 1),
            "megabytes_per_second": round(received / elapsed / 1e6, 1)}


async def run(url: str | None, seconds: float, uploads: int) -> dict[str, Any]:
    """Upload a 4 MB JPEG `uploads` times, then serve a variant for `seconds` each way."""
    settings = Settings(
        mongodb_url=url, database=f"bench_media_{uuid.uuid4().hex[:8]}",
        jwt_secret="bench-" + "x" * 40, argon2_time_cost=1, argon2_memory_cost_kib=8,
        argon2_parallelism=1, rate_limits_enabled=False, operation_timeout_ms=0,
    )
    data = photo_jpeg()
    started = time.perf_counter()
    images.process(io.BytesIO(data), max_pixels=settings.media_max_pixels)
    processing_ms = (time.perf_counter() - started) * 1000
    app = create_app(settings)
    async with LifespanManager(app):
        if not settings.embedded:
            await sync(app.state.engine)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            user = (await client.post("/api/users", json={"user": {
                "username": "bench", "email": "bench@example.com", "password": "bench-password"}})
            ).json()["user"]
            auth = {"Authorization": f"Token {user['token']}"}
            times, media = [], None
            for _ in range(uploads):
                started = time.perf_counter()
                response = await client.post("/api/media", headers=auth,
                                             files={"file": ("photo.jpg", data, "image/jpeg")})
                times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 201, response.text
                media = response.json()["media"]
            assert media is not None
            variant = media["variants"]["w960"]["url"].removeprefix("http://bench")
            original = media["url"].removeprefix("http://bench")
            result = {
                "engine": "embedded" if settings.embedded else url,
                "upload": {"bytes": len(data), "median_ms": round(statistics.median(times), 1),
                           "image_processing_ms": round(processing_ms, 1)},
                "w960_bytes": (await client.get(variant)).headers["content-length"],
                "serve_w960_whole": await _drive(client, variant, {}, seconds, 200),
                "serve_w960_range_4k": await _drive(
                    client, variant, {"Range": "bytes=0-4095"}, seconds, 206),
                "serve_original_range_64k_mid": await _drive(
                    client, original, {"Range": "bytes=1000000-1065535"}, seconds, 206),
            }
        if not settings.embedded:
            await app.state.engine.client.drop_database(settings.database)
    return result


def main() -> None:
    """Parse the options, run, print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None, help="a MongoDB URL (default: embedded engine)")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--uploads", type=int, default=5)
    options = parser.parse_args()
    print(json.dumps(asyncio.run(run(options.url, options.seconds, options.uploads)), indent=2))


if __name__ == "__main__":
    main()
