"""Split a request's time between the embedded engine and everything else (ours and the framework).

    python -m tools.profile_request [--path /api/articles?limit=20] [--requests 50]

Runs the benchmark app (tools.bench) in process, times every outermost call into the engine
(mongomock, and the adapter's planner in service/engine/embedded.py), and profiles the rest with
cProfile, printing the functions of ours that cost the most.
"""

import argparse
import asyncio
import cProfile
import io
import logging
import os
import pstats
import time

import httpx
from asgi_lifespan import LifespanManager

from tools.cpu_in_process import time_engine


async def profile(path: str, requests: int) -> None:
    """Print the engine/ours split and our top functions for one request path."""
    from tools.bench import build_app

    app = build_app()
    with time_engine(time.perf_counter) as engine:
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
