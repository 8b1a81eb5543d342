"""What the event outbox costs a write, and how fast one drain hands events on (issue 23).

    python -m tools.measure_events [--events 1000] [--url mongodb://…]

Writes N `profile.followed`-sized events with `record` (as a change would, outside a
transaction), then lets one drain with a no-op consumer hand them all on, and prints the median
insert time and the drain's events per second, with the database operations per event (counted
by tests/oplog.py). The embedded engine by default; `--url` measures a MongoDB (or the wire
tier's server) instead.
"""

import argparse
import asyncio
import statistics
import time

from asgi_lifespan import LifespanManager

from models import Event
from service.engine import collection
from service.events import record
from service.events.drain import Drain
from service.main import create_app
from tests import oplog
from tests.conftest import make_settings


async def measure(events: int, url: str | None) -> str:
    """Record `events` events, then drain them; one line of results."""
    overrides = {"mongodb_url": url} if url else {}
    app = create_app(make_settings(**overrides))
    async with LifespanManager(app):
        if url:
            from scripts.dbtools import sync

            await sync(app.state.engine)
        payload = {"profile": {"username": "jake", "bio": None, "image": None,
                               "following": False}, "follower": {"username": "anna",
                                                                 "bio": None, "image": None,
                                                                 "following": False}}
        times = []
        for _ in range(events):
            started = time.perf_counter()
            await record("profile.followed", actor=None, data=payload, refs={}, session=None)
            times.append(time.perf_counter() - started)

        async def nothing(event: dict) -> None:
            return None

        drain = Drain({"noop": nothing})
        with oplog.recording() as log:
            started = time.perf_counter()
            handled = 0
            while (step := await drain.drain_once()):
                handled += step
            seconds = time.perf_counter() - started
        left = await collection(Event).count_documents({"pending": True})
        if url:
            await app.state.engine.client.drop_database(app.state.settings.database)
    return (f"record: median {1000 * statistics.median(times):.2f} ms per event; drain: "
            f"{handled} events in {seconds:.2f} s = {handled / seconds:,.0f} events/s, "
            f"{len(log) / max(handled, 1):.2f} operations per event, {left} left pending")


def main() -> None:
    """Parse the options and print the measurement."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--url", default=None)
    options = parser.parse_args()
    print(asyncio.run(measure(options.events, options.url)))


if __name__ == "__main__":
    main()
