"""The app `folio serve` runs: the service, plus demo data or an export loaded at start-up."""

import logging

from fastapi import FastAPI

from scripts.seed import DEMO_EMAIL, DEMO_PASSWORD, DEMO_PLAN, seed
from service.config import get_settings
from service.db import Engine
from service.main import StartupTask, create_app

log = logging.getLogger("folio.serve")


async def seed_demo(app: FastAPI, engine: Engine) -> None:
    """Fill the embedded engine with the demo dataset; one password hash serves every user."""
    if not engine.embedded:
        log.warning("--demo only seeds the embedded engine; use `folio seed` for MongoDB")
        return
    password_hash = await app.state.security.passwords.hash(DEMO_PASSWORD)
    stats = await seed(DEMO_PLAN, password_hash)
    summary = ", ".join(f"{stat.documents} {stat.collection}" for stat in stats)
    log.warning("Demo data loaded: %s. Sign in as %s / %s", summary, DEMO_EMAIL, DEMO_PASSWORD)


def build_app() -> FastAPI:
    """The app for `uvicorn --factory scripts.serve:build_app`, with the start-up tasks asked for."""
    settings = get_settings()
    tasks: list[StartupTask] = []
    if settings.demo:
        tasks.append(seed_demo)
    return create_app(settings, startup_tasks=tasks)
