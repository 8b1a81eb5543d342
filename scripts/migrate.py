"""The thinnest migration runner that works on both engines.

Beanie's own runner is not used: it always opens a client session (the embedded engine cannot)
and builds its own Motor client from a URL (so it cannot reach the embedded engine at all).
What has been applied, and when, is recorded in the `migrations` collection.
"""

import importlib
import pkgutil
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Any

import scripts.migrations as package
from models import AppliedMigration
from models.common import utc_now
from service.db import Engine, collection, transaction

BASE = "base"  # `down --to base` reverts every migration


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
    """--to names no migration."""


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


def _check_target(target: str | None) -> None:
    if target not in {None, BASE, *(m.id for m in discover())}:
        raise UnknownMigration(f"no migration {target!r}; see `folio migrate status`")


async def _apply(engine: Engine, migration: Migration, direction: str) -> int:
    """Run one step and record it, in one transaction where the server offers one."""
    purpose = f"migration {migration.id} {direction}"
    async with transaction(engine, purpose) as session:
        changed: int = await getattr(migration.module, direction)(engine.database, session)
        ledger = collection(AppliedMigration)
        if direction == "up":
            entry: dict[str, Any] = {"applied_at": utc_now(), "description": migration.description}
            await ledger.update_one({"_id": migration.id}, {"$set": entry}, upsert=True,
                                    session=session)
        else:
            await ledger.delete_one({"_id": migration.id}, session=session)
    return changed


async def up(engine: Engine, target: str | None = None) -> list[tuple[str, int]]:
    """Apply pending migrations in order, up to and including `target`."""
    _check_target(target)
    done = []
    for state in await status(engine):
        if state.applied_at is None:
            done.append((state.migration.id, await _apply(engine, state.migration, "up")))
        if state.migration.id == target:
            break
    return done


async def down(engine: Engine, target: str | None = None) -> list[tuple[str, int]]:
    """Revert applied migrations, newest first: the last one, or all of those after `target`."""
    _check_target(target)
    done = []
    for state in reversed(await status(engine)):
        if state.migration.id == target:
            break
        if state.applied_at is not None:
            done.append((state.migration.id, await _apply(engine, state.migration, "down")))
            if target is None:
                break
    return done
