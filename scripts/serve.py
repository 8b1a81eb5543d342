"""The app `folio serve` runs: the service, plus demo data or an export loaded at start-up."""

import logging

from fastapi import FastAPI

from scripts.seed import DEMO_EMAIL, DEMO_PASSWORD, DEMO_PLAN, seed
from service.config import get_settings
from service.engine import Engine
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
    log.info("Demo data loaded: %s. Sign in as %s / %s", summary, DEMO_EMAIL, DEMO_PASSWORD)


async def record_schema(app: FastAPI, engine: Engine) -> None:
    """Record every migration as applied in the embedded engine's (empty) ledger.

    What this process writes is at the current schema, so a `--save` file says so, and
    `folio import` puts it into a database that `folio migrate up` prepared (compose's).
    Not with --load: the loaded export brings its own ledger.
    """
    from scripts import migrate

    if engine.embedded:
        await migrate.up(engine)


async def load_export(app: FastAPI, engine: Engine) -> None:
    """Start the embedded engine from a `folio export` file."""
    from pathlib import Path

    from scripts.dump import import_dump

    path = Path(app.state.settings.load)
    if not engine.embedded:
        log.warning("--load only fills the embedded engine; use `folio import` for MongoDB")
        return
    counts = await import_dump(engine, path)
    log.info("Loaded %d documents from %s", sum(counts.values()), path)


async def save_export(app: FastAPI, engine: Engine) -> None:
    """On shutdown, write what the embedded engine holds to the --save file."""
    from pathlib import Path

    from scripts.dump import export

    path = Path(app.state.settings.save)
    try:
        counts = await export(engine, path)
    except OSError as error:  # e.g. the disk filled up while serving; the old file is kept
        log.error("Could not save the data to %s: %s", path, error.strerror or error)
        return
    log.info("Saved %d documents to %s", sum(counts.values()), path)


def build_app() -> FastAPI:
    """The app for `uvicorn --factory scripts.serve:build_app`, with the start-up tasks asked for."""
    settings = get_settings()
    tasks: list[StartupTask] = [load_export] if settings.load else [record_schema]
    if settings.demo and not settings.load:
        tasks.append(seed_demo)
    on_shutdown = [save_export] if settings.save else []
    return create_app(settings, startup_tasks=tasks, shutdown_tasks=on_shutdown)
