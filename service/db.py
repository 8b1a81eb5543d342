"""The engine adapter: the only module that builds a database client or knows which engine runs.

Folio runs on a real MongoDB (through Motor) or, with no configuration, on the in-process
mongomock-motor engine. Everything that must differ between the two lives here.
"""

import logging
from dataclasses import dataclass
from typing import Any

from beanie import Document, init_beanie
from mongomock_motor import AsyncMongoMockClient
from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorCollection, AsyncIOMotorDatabase

from models import DOCUMENT_MODELS
from service.config import Settings

log = logging.getLogger("folio.db")

EMBEDDED_WARNING = (
    "Folio is running on the EMBEDDED in-memory engine: all data is lost when the process stops. "
    "Set FOLIO_MONGODB_URL (and FOLIO_JWT_SECRET) to use MongoDB for persistence."
)


@dataclass
class Engine:
    """An open database: the client, the database handle and which engine serves it."""

    client: Any
    database: AsyncIOMotorDatabase
    embedded: bool

    def close(self) -> None:
        """Release the client's connections."""
        self.client.close()


def build_client(settings: Settings, **client_options: Any) -> Any:
    """Build the Motor client for a real MongoDB, or the embedded engine when no URL is set."""
    if settings.embedded:
        return AsyncMongoMockClient()
    return AsyncIOMotorClient(
        settings.mongodb_url,
        appname="folio",
        uuidRepresentation="standard",
        serverSelectionTimeoutMS=settings.server_selection_timeout_ms,
        **client_options,
    )


async def open_engine(settings: Settings, **client_options: Any) -> Engine:
    """Connect, bind every Beanie model and create the declared indexes."""
    client = build_client(settings, **client_options)
    database = client[settings.database]
    await init_beanie(database=database, document_models=DOCUMENT_MODELS)
    if settings.embedded:
        log.warning(EMBEDDED_WARNING)
    else:
        log.info("Folio is using MongoDB database %r", settings.database)
    return Engine(client=client, database=database, embedded=settings.embedded)


def collection(model: type[Document]) -> AsyncIOMotorCollection:
    """The raw collection behind a model, for pipelines and atomic updates."""
    return model.get_motor_collection()
