"""Versioned migrations, applied in order of their ID by `folio migrate`.

Each module named `m<NNNN>_<name>.py` defines `ID`, `DESCRIPTION`, and `async def up(db, session)`
/ `async def down(db, session)`. Both must be idempotent: a run interrupted without a transaction
is completed by running it again. They work on raw collections, not on the current models, so
that later model changes cannot change what an old migration does.
"""
