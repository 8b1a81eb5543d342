"""Folio with one test consumer registered, for the multi-process event tests (run by uvicorn
in a subprocess on the database named by FOLIO_DATABASE): it records each event it is handed
in `test_deliveries`, one document per event, counting the calls and naming the processes."""

import os

from fastapi import FastAPI

from service.api import EVENT_CONSUMERS
from service.engine import current_engine
from service.main import create_app
from tests.conftest import make_settings

DELIVERIES = "test_deliveries"


async def consume(event: dict) -> None:
    """Record the call: `calls` counts every hand-over of this event, in any process."""
    await current_engine().database[DELIVERIES].update_one(
        {"_id": event["_id"]},
        {"$inc": {"calls": 1}, "$addToSet": {"pids": os.getpid()}},
        upsert=True,
    )


def build() -> FastAPI:
    """Folio draining events (as in production) into the test consumer."""
    EVENT_CONSUMERS["test"] = consume
    return create_app(make_settings(database=os.environ["FOLIO_DATABASE"],
                                    event_drain_in_api=True, event_poll_seconds=0.2))
