"""Split a request's time between the embedded engine and everything else (ours and the framework).

    python -m tools.profile_request [--path /api/articles?limit=20] [--requests 50]

Runs the benchmark app (tools.bench) in process, times every outermost call into the engine
(mongomock, and the adapter's planner in service/engine/embedded.py), and profiles the rest with
cProfile, printing the functions of ours that cost the most.
"""

import argparse
import asyncio
import cProfile
import functools
import io
import logging
import os
import pstats
import time

import httpx
from asgi_lifespan import LifespanManager
from mongomock.collection import Collection

ENGINE_CALLS = ("find", "find_one", "aggregate", "distinct", "count_documents", "insert_one",
                "update_one", "find_one_and_update", "delete_one", "delete_many", "insert_many")


def _engine_entry_points() -> list[tuple[type, str]]:
    """mongomock's collection methods, and the adapter's planner that reads the store itself."""
    from service.engine.embedded import EmbeddedCollection, FindCursor

    return [(Collection, name) for name in ENGINE_CALLS] + [
        (EmbeddedCollection, "aggregate"), (FindCursor, "_run"),
    ]


def _time_engine() -> list[float]:
    spent = [0.0]
    depth = [0]
    for owner, name in _engine_entry_points():
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(self, *args, _original=original, **kwargs):  # type: ignore[no-untyped-def]
            depth[0] += 1
            started = time.perf_counter()
            try:
                return _original(self, *args, **kwargs)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    spent[0] += time.perf_counter() - started

        setattr(owner, name, timed)
    return spent


async def profile(path: str, requests: int) -> None:
    """Print the engine/ours split and our top functions for one request path."""
    from tools.bench import build_app

    engine = _time_engine()
    app = build_app()
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            for _ in range(5):
                await client.get(path)
            engine[0] = 0.0
            profiler = cProfile.Profile()
            started = time.perf_counter()
            profiler.enable()
            for _ in range(requests):
                await client.get(path)
            profiler.disable()
            total = time.perf_counter() - started
    print(f"{path}: {1000 * total / requests:.1f} ms per request (under the profiler), "
          f"engine {100 * engine[0] / total:.1f} %, everything else {100 - 100 * engine[0] / total:.1f} %")
    stats = pstats.Stats(profiler, stream=(out := io.StringIO()))
    stats.sort_stats("cumulative").print_stats(r"/(service|models)/", 8)
    print("\n".join(line for line in out.getvalue().splitlines() if "/work/" in line or "ncalls" in line))


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", default="/api/articles?limit=20")
    parser.add_argument("--requests", type=int, default=50)
    args = parser.parse_args()
    os.environ["FOLIO_RATE_LIMITS_ENABLED"] = "false"
    logging.disable(logging.CRITICAL)
    asyncio.run(profile(args.path, args.requests))


if __name__ == "__main__":
    main()
