"""Versioned migrations, applied in order of their ID by `folio migrate`.

Each module named `m<NNNN>_<name>.py` defines `ID`, `DESCRIPTION`, and `async def up(db, report)`
/ `async def down(db, report)`, which work through `scripts.migrate.in_batches` and call
`report(n)` after each batch of n documents. No transaction wraps them, so they run while the
API serves: every batch is idempotent (its filter skips what is done) and an interrupted run is
completed by running it again. They work on raw collections, not on the current models, so that
later model changes cannot change what an old migration does.
"""
