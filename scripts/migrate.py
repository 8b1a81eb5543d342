"""The thinnest migration runner that works on every engine, and is safe while the API serves.

Each migration backfills in bounded batches (BATCH_SIZE documents, in `_id` order), with no
transaction around it: a MongoDB transaction lives at most 60 s, aborts on the first write
conflict with a concurrent API write, and after a duplicate key it cannot go on at all. Instead
every batch is idempotent (a guard in the filter skips what is done), so an interrupted run is
completed by running it again, and the ledger entry in `migrations` is written last.

Beanie's own runner is not used: it always opens a client session (the embedded engine cannot)
and builds its own Motor client from a URL (so it cannot reach the embedded engine at all).
"""

import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Any

import scripts.migrations as package
from models import AppliedMigration
from models.common import utc_now
from service.engine import Engine, collection

BASE = "base"  # `down --to base` reverts every migration
BATCH_SIZE = 500

# Called after each batch with the migration's id and how many documents the batch held.
Progress = Callable[[str, int], None]


def _silent(migration_id: str, done: int) -> None:
    """No progress display."""


@dataclass(frozen=True)
class Migration:
    """One migration module."""

    id: str
    description: str
    module: ModuleType


@dataclass(frozen=True)
class MigrationState:
    """A migration and when it was applied (None when pending)."""

    migration: Migration
    applied_at: datetime | None


class UnknownMigration(Exception):
    """--to names no migration (or `base` for `up`)."""


class MigrationIncomplete(Exception):
    """A migration could not finish its work this time (its message says why); it is not
    recorded as applied, and running it again resumes it."""


async def in_batches(
    documents: Any,
    query: dict[str, Any],
    projection: dict[str, Any],
    work: Callable[[list[dict[str, Any]]], Awaitable[int]],
    report: Callable[[int], None],
) -> int:
    """Run `work` on the documents matching `query`, BATCH_SIZE at a time in `_id` order.

    Each batch is one bounded read on the `_id` index; `work` returns how many documents it
    changed. `query` must exclude what is already done, which makes every batch idempotent.
    """
    changed, last_id = 0, None
    while True:
        selector = query if last_id is None else {"$and": [query, {"_id": {"$gt": last_id}}]}
        cursor = documents.find(selector, projection).sort("_id", 1).limit(BATCH_SIZE)
        batch = await cursor.to_list(None)
        if not batch:
            return changed
        changed += await work(batch)
        last_id = batch[-1]["_id"]
        report(len(batch))


def discover() -> list[Migration]:
    """Every migration module, in ID order."""
    found = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("m"):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            found.append(Migration(module.ID, module.DESCRIPTION, module))
    return sorted(found, key=lambda migration: migration.id)


async def status(engine: Engine) -> list[MigrationState]:
    """Every migration with the time it was applied, if it was."""
    applied = {
        entry["_id"]: entry["applied_at"]
        async for entry in collection(AppliedMigration).find({}, {"applied_at": 1})
    }
    return [MigrationState(m, applied.get(m.id)) for m in discover()]


def check_target(target: str | None, direction: str) -> None:
    """Refuse a --to that names no migration, and `up --to base` (which names none to stop at)."""
    if target == BASE and direction == "up":
        raise UnknownMigration("`up --to base` would apply nothing (base is before every "
                               "migration); give a migration ID, or leave --to out to apply all")
    if target not in {None, BASE, *(m.id for m in discover())}:
        raise UnknownMigration(f"no migration {target!r}; see `folio migrate status`")


async def _apply(engine: Engine, migration: Migration, direction: str, progress: Progress) -> int:
    """Run one step in batches, then record it: the ledger changes only once all is done."""
    step = getattr(migration.module, direction)
    changed: int = await step(engine.database, lambda done: progress(migration.id, done))
    ledger = collection(AppliedMigration)
    if direction == "up":
        entry: dict[str, Any] = {"applied_at": utc_now(), "description": migration.description}
        await ledger.update_one({"_id": migration.id}, {"$set": entry}, upsert=True)
    else:
        await ledger.delete_one({"_id": migration.id})
    return changed


async def up(
    engine: Engine, target: str | None = None, progress: Progress = _silent
) -> list[tuple[str, int]]:
    """Apply pending migrations in order, up to and including `target`."""
    check_target(target, "up")
    done = []
    for state in await status(engine):
        if state.applied_at is None:
            done.append((state.migration.id, await _apply(engine, state.migration, "up", progress)))
        if state.migration.id == target:
            break
    return done


async def down(
    engine: Engine, target: str | None = None, progress: Progress = _silent
) -> list[tuple[str, int]]:
    """Revert applied migrations, newest first: the last one, or all of those after `target`."""
    check_target(target, "down")
    done = []
    for state in reversed(await status(engine)):
        if state.migration.id == target:
            break
        if state.applied_at is not None:
            reverted = await _apply(engine, state.migration, "down", progress)
            done.append((state.migration.id, reverted))
            if target is None:
                break
    return done
