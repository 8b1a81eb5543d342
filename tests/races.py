"""A collection that lets another request's write land right after it reads the truth.

For recounts (`folio db recount`, migration 0004): the favorite or comment lands between the
count of an article's documents and the write that sets its counter, the window in which a
counter read before counting used to be skipped. It works on every engine: the wrapper is the
caller's collection object, and the write goes through the API's own code, outside the
recount's session.
"""

from collections.abc import Awaitable, Callable
from typing import Any


class WriteAfterCounting:
    """`inner`, except that after a count or grouped count it runs `write` (`times` times)."""

    def __init__(self, inner: Any, write: Callable[[], Awaitable[Any]], times: int = 1) -> None:
        self._inner, self._write, self._left = inner, write, times
        self.landed = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def _land(self) -> None:
        if self._left:
            self._left -= 1
            self.landed += 1
            await self._write()

    async def count_documents(self, *args: Any, **kwargs: Any) -> int:
        """The count, then the write lands."""
        total = await self._inner.count_documents(*args, **kwargs)
        await self._land()
        return total

    def aggregate(self, *args: Any, **kwargs: Any) -> Any:
        """The grouped count, read in full, then the write lands, then its rows."""
        cursor, outer = self._inner.aggregate(*args, **kwargs), self

        class Cursor:
            def __aiter__(self) -> Any:
                async def rows() -> Any:
                    found = [row async for row in cursor]
                    await outer._land()
                    for row in found:
                        yield row

                return rows()

            async def to_list(self, length: int | None = None) -> list[Any]:
                found = await cursor.to_list(length)
                await outer._land()
                return found

        return Cursor()
