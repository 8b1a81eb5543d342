"""The `migrations` collection: which schema migrations have been applied, and when."""

from datetime import datetime

from beanie import Document


class AppliedMigration(Document):
    """A migration `folio migrate up` applied; `_id` is the migration's ID."""

    id: str  # type: ignore[assignment]  # the migration ID, e.g. 0001_article_computed_fields
    description: str
    applied_at: datetime

    class Settings:
        name = "migrations"
