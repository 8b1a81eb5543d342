"""The driver's own CPU per operation on the wire tier: the part of a request Folio cannot cut.

    python -m tools.cpu_driver [--operations 2000]

Starts the wire tier's server in its own process (as tools/cpu_per_request.py does), seeds the
same data through Folio's code, then, in a fresh process for each case, runs one operation
`--operations` times on a uvloop loop and reads that process's CPU (`getrusage`, every thread):
a 20-document `find` of live articles, the same page as an aggregation
(`article_page_pipeline` without the viewer's joins), the signed-in page (with them: one point
lookup per row and flag) and a `find_one`, each through Motor and through PyMongo's async client. Compare the figures with tools/cpu_per_request.py's floor.

It also prints what one wake-up costs a process that waited (`asyncio.sleep` of 1, 5 and 30 ms,
no database): on this kind of machine a wake-up after a longer wait costs more CPU, so an
operation the stand-in answers slowly (its `$lookup`s take tens of milliseconds) is charged
CPU a real MongoDB, answering in well under a millisecond, would not cause.
"""

import argparse
import asyncio
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools.cpu_per_request import (
    ROOT,
    WIRE_PYTHON,
    Processes,
    free_port,
    seed_data,
    wait_until,
)

CASES = ("find", "page", "page_signed_in", "find_one")
WAITS_MS = (1, 5, 30)
CLIENTS = ("motor", "pymongo")


def cpu_now() -> float:
    """This process's CPU seconds so far, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def measure(url: str, client_name: str, case: str, operations: int) -> tuple[float, float]:
    """CPU µs and wall µs per operation of one case through one client."""
    from datetime import UTC, datetime

    from service.articles.reads import article_page_pipeline

    if client_name == "wait":
        seconds = int(case) / 1000
        for _ in range(20):
            await asyncio.sleep(seconds)
        before, started = cpu_now(), time.monotonic()
        for _ in range(operations):
            await asyncio.sleep(seconds)
        return ((cpu_now() - before) / operations * 1e6,
                (time.monotonic() - started) / operations * 1e6)
    if client_name == "motor":
        from motor.motor_asyncio import AsyncIOMotorClient
        client = AsyncIOMotorClient(url)
    else:
        from pymongo import AsyncMongoClient
        client = AsyncMongoClient(url)
    articles = client["folio_cpu"]["articles"]
    live = {"status": "published", "published_at": {"$lte": datetime.now(UTC)}}
    pipeline = article_page_pipeline(live, offset=0, limit=20)
    viewer = await client["folio_cpu"]["users"].find_one({}, {"_id": 1})
    signed_in = article_page_pipeline(live, offset=0, limit=20, viewer_id=viewer["_id"])

    async def once() -> None:
        if case == "find":
            await articles.find(live).sort("published_at", -1).limit(20).to_list(None)
        elif case == "find_one":
            await articles.find_one(live)
        else:
            cursor = articles.aggregate(signed_in if case == "page_signed_in" else pipeline)
            if not hasattr(cursor, "to_list"):  # PyMongo's async aggregate is a coroutine
                cursor = await cursor
            await cursor.to_list(None)

    for _ in range(200):
        await once()
    before, started = cpu_now(), time.monotonic()
    for _ in range(operations):
        await once()
    return ((cpu_now() - before) / operations * 1e6,
            (time.monotonic() - started) / operations * 1e6)


def main() -> None:
    """Start the server, seed, measure each case in its own process, print a table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--operations", type=int, default=2000)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)  # url client case
    args = parser.parse_args()
    if args.child:
        import uvloop
        url, client_name, case = args.child
        print(*uvloop.run(measure(url, client_name, case, args.operations)))
        return
    if not WIRE_PYTHON.exists():
        sys.exit("cpu_driver: no .wire-venv; run `bash .ci/wire-tier` once to install it")
    from service.config import Settings

    processes = Processes()
    try:
        port, log = free_port(), Path(tempfile.mkdtemp(prefix="folio-driver-")) / "wire.log"
        wire = processes.start([str(WIRE_PYTHON), ".ci/wire_server.py", str(port)], log)
        wait_until(lambda: "listening" in log.read_text(), wire, log, "the wire server")
        url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
        asyncio.run(seed_data(Settings(mongodb_url=url, database="folio_cpu",
                                       jwt_secret=secrets.token_hex(32))))
        print(f"Measured {time.strftime('%Y-%m-%d')}: {args.operations} operations each, "
              "CPU of the client's process per operation (wall time per operation).\n")
        print("| operation | " + " | ".join(CLIENTS) + " |")
        print("|---|" + "---:|" * len(CLIENTS))
        for case in CASES:
            figures = []
            for client_name in CLIENTS:
                out = subprocess.run(
                    [sys.executable, "-m", "tools.cpu_driver", "--operations",
                     str(args.operations), "--child", url, client_name, case],
                    cwd=ROOT, capture_output=True, text=True, check=True)
                cpu, wall = map(float, out.stdout.strip().splitlines()[-1].split())
                figures.append(f"{cpu:,.0f} µs ({wall / 1000:,.1f} ms)")
            print(f"| {case} | " + " | ".join(figures) + " |")
        print("\n| wait, then wake up (no database) | CPU per wake-up |\n|---|---:|")
        for wait in WAITS_MS:
            out = subprocess.run(
                [sys.executable, "-m", "tools.cpu_driver", "--operations",
                 str(max(20, min(args.operations, 3000 // wait))), "--child", "-", "wait",
                 str(wait)], cwd=ROOT, capture_output=True, text=True, check=True)
            cpu = float(out.stdout.strip().splitlines()[-1].split()[0])
            print(f"| {wait} ms | {cpu:,.0f} µs |")
    finally:
        processes.stop_all()


if __name__ == "__main__":
    main()
