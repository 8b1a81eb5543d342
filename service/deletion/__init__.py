"""Deletions that span domains: an account and everything it owns, a deleted article's
dependents, and the sweeper that finishes both. No HTTP; above the domains it calls."""

from typing import Any

from beanie import PydanticObjectId

from models import User
from service.deletion import accounts, articles
from service.users.credentials import Passwords
from service.users.queries import Viewer


class Deletions:
    """The deletions that routers below this room start, reached as `request.app.state.deletions`.

    Each method looks its function up when called, so a test that patches the module's function
    patches what the routes run.
    """

    async def delete_article(self, article: dict[str, Any], *, if_version: bool = False) -> None:
        """Mark the article and sweep what fits inline (service/deletion/articles.py)."""
        await articles.delete_article(article, if_version=if_version)

    async def request_account_deletion(
        self, passwords: Passwords, user: User, viewer: Viewer, password: str
    ) -> None:
        """Check the password and mark the account (service/deletion/accounts.py)."""
        await accounts.request_deletion(passwords, user, viewer, password)

    async def finish_account(self, user_id: PydanticObjectId) -> bool:
        """Remove what the account owns, then the account, logged (run after the answer)."""
        return await accounts.finish_logged(user_id)
