"""Folio's own CPU per request in process, the engine's share taken out: what each step of issue 21
bought, measured where the machine's noise cannot hide it.

    python -m tools.cpu_in_process [--seconds 2] [--rounds 5] [--compare DIR]

On the wire tier (tools/cpu_per_request.py) every request also pays for waiting on the stand-in
server, and a figure moves by 15 to 30 % between runs, so a step worth 50 µs cannot be seen
there. This runs Folio in one process on the embedded engine, seeded as that harness seeds the
wire tier (10 users, 60 articles, follows and favorites; the signed-in viewer is the user who
follows the most authors), and calls the app directly over ASGI, in a loop, with no network and
no waiting. It reads the main thread's CPU time over the loop and subtracts the time spent inside
the engine (mongomock and the embedded adapter's own reads, whatever calls them), so what is
left is Folio's code and the framework's around it: middleware, routing, dependencies,
validation, the driver-facing query code, rendering, the access log (written to /dev/null).
The driver's own cost (Motor, BSON) is not in it: tools/cpu_driver.py measures that.

`--compare DIR` measures another checkout (`git worktree add --detach /tmp/before <rev>`) in a
child process between this checkout's rounds, with this same file, so both run the same code
of this tool against their own Folio.
"""

import argparse
import contextlib
import functools
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ENDPOINTS = {
    "healthz (no database)": ("/healthz", False),
    "list": ("/api/articles?limit=20", False),
    "tag list": ("/api/articles?tag={tag}&limit=20", False),
    "single article": ("/api/articles/{slug}", False),
    "feed (signed in)": ("/api/articles/feed?limit=20", True),
    "list (signed in)": ("/api/articles?limit=20", True),
    "single article (signed in)": ("/api/articles/{slug}", True),
}
ENGINE_CALLS = ("find", "find_one", "aggregate", "distinct", "count_documents", "insert_one",
                "update_one", "find_one_and_update", "delete_one", "delete_many", "insert_many",
                "estimated_document_count")


@contextlib.contextmanager
def time_engine(clock: Callable[[], float] = time.thread_time) -> Iterator[list[float]]:
    """While open, wrap the engine's entry points (mongomock's collection methods, and the
    embedded adapter's reads that go to its store directly) so that the time spent inside them,
    by `clock` (this thread's CPU by default), adds up in the one-element list yielded."""
    from mongomock.collection import Collection

    from service.engine.embedded import EmbeddedCollection, FindCursor

    spent, depth = [0.0], [0]
    points = [(Collection, name) for name in ENGINE_CALLS if hasattr(Collection, name)]
    points += [(EmbeddedCollection, "aggregate"), (FindCursor, "_run")]
    originals = [(owner, name, getattr(owner, name)) for owner, name in points]
    for owner, name, original in originals:

        @functools.wraps(original)
        def timed(self: Any, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            depth[0] += 1
            started = clock()
            try:
                return _original(self, *args, **kwargs)
            finally:
                depth[0] -= 1
                if depth[0] == 0:
                    spent[0] += clock() - started

        setattr(owner, name, timed)
    try:
        yield spent
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)


async def seed_and_sign_in(app: Any) -> tuple[str, str, str]:
    """Seed as the wire-tier harness does; the viewer's token, a tag and a slug on page one."""
    import httpx

    from models import Follow, User
    from scripts.seed import DEMO_PASSWORD, SeedPlan, seed
    from service.engine import collection
    from service.users.credentials import Passwords

    await seed(SeedPlan(users=10, articles=60, comments=60, follows=40, favorites=120),
               await Passwords(app.state.settings).hash(DEMO_PASSWORD))
    most = collection(Follow).aggregate([
        {"$group": {"_id": "$follower_id", "follows": {"$sum": 1}}},
        {"$sort": {"follows": -1, "_id": 1}}, {"$limit": 1}])
    viewer_id = [row["_id"] async for row in most][0]
    viewer = await collection(User).find_one({"_id": viewer_id})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://folio") as client:
        login = await client.post("/api/users/login", json={"user": {
            "email": viewer["email"], "password": DEMO_PASSWORD}})
        page = (await client.get("/api/articles?limit=20")).json()["articles"]
        tag = (await client.get("/api/tags")).json()["tags"][0]
    return login.json()["user"]["token"], tag, page[0]["slug"]


def caller(app: Any, scope: dict[str, Any], name: str) -> Any:
    """A coroutine function that makes the request of `scope` once and checks it answered 200."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def once() -> None:
        sent.clear()
        await app(dict(scope, state={}, extensions={}), receive, send)
        if sent[0]["status"] != 200:
            raise SystemExit(f"cpu_in_process: {name} answered {sent[0]['status']}")

    return once


async def measure(seconds: float) -> dict[str, float]:
    """Each endpoint's CPU per request outside the engine, in µs, over `seconds` of calls."""
    from service.config import Settings
    from service.main import create_app

    app = create_app(Settings(rate_limits_enabled=False))
    results: dict[str, float] = {}
    # The access log as configure_logging sets it up, one line per request, written to
    # /dev/null for the measurement; the logger's own handlers are left untouched.
    access = logging.getLogger("folio.access")
    handlers = access.handlers
    with open(os.devnull, "w") as devnull, time_engine() as engine:
        quiet = logging.StreamHandler(devnull)
        quiet.setFormatter(logging.Formatter("%(message)s"))
        access.handlers = [quiet]
        try:
            await measure_app(app, engine, seconds, results)
        finally:
            access.handlers = handlers
    return results


async def measure_app(app: Any, engine: list[float], seconds: float,
                      results: dict[str, float]) -> None:
    """Start the app, seed it, and time each endpoint into `results` (see `measure`)."""
    from asgi_lifespan import LifespanManager

    async with LifespanManager(app):
        token, tag, slug = await seed_and_sign_in(app)
        for name, (template, signed_in) in ENDPOINTS.items():
            path, _, query = template.format(tag=tag, slug=slug).partition("?")
            headers = [(b"host", b"folio")]
            if signed_in:
                headers.append((b"authorization", f"Token {token}".encode()))
            scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                     "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
                     "query_string": query.encode(), "root_path": "", "headers": headers,
                     "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
            once = caller(app, scope, name)
            for _ in range(100):
                await once()
            engine[0], calls = 0.0, 0
            started, deadline = time.thread_time(), time.monotonic() + seconds
            while time.monotonic() < deadline:
                await once()
                calls += 1
            results[name] = (time.thread_time() - started - engine[0]) / calls * 1e6


def child(seconds: float) -> None:
    """Measure once, in this process, and print the figures as JSON."""
    import uvloop

    # Folio's log lines go to this process's stderr, which the parent keeps apart from the
    # figures; the access log's handler writes to /dev/null (measure), at its production level.
    print(json.dumps(uvloop.run(measure(seconds))))


def run(checkout: Path, seconds: float) -> dict[str, float]:
    """One measurement of `checkout`'s Folio, in a fresh process with that checkout first on
    the path (this file is run by its path, so the tool is the same for both)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLIO_")}
    env["PYTHONPATH"] = str(checkout)
    out = subprocess.run([sys.executable, __file__, "--child", "--seconds", str(seconds)],
                         cwd=checkout, env=env, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"cpu_in_process: the run in {checkout} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Run the rounds (alternating with the compared checkout), print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2, help="per endpoint and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--compare", type=Path, default=None, help="another checkout of Folio")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.seconds)
        return
    here = Path(__file__).resolve().parent.parent
    checkouts = {"this checkout": here}
    if args.compare:
        checkouts = {"compared": args.compare.resolve(), **checkouts}
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in checkouts}
    for _ in range(args.rounds):
        for name, checkout in checkouts.items():
            rounds[name].append(run(checkout, args.seconds))
    # The least of the rounds: the work is the same each time, and the machine's noise (other
    # processes, frequency changes) only ever adds to it.
    least = {name: {endpoint: min(r[endpoint] for r in figures) for endpoint in ENDPOINTS}
             for name, figures in rounds.items()}
    print(f"Measured {time.strftime('%Y-%m-%d %H:%M')}: Folio's CPU per request outside the "
          f"engine, in process, the least of {args.rounds} rounds of {args.seconds:g} s each.\n")
    print("| endpoint | " + " | ".join(checkouts) + " |")
    print("|---|" + "---:|" * len(checkouts))
    for endpoint in ENDPOINTS:
        print(f"| {endpoint} | " + " | ".join(f"{least[name][endpoint]:,.0f} µs"
                                              for name in checkouts) + " |")


if __name__ == "__main__":
    main()
