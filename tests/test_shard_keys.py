"""Single-document writes carry their collection's planned shard key (docs/scaling.md, section
3), so that on a sharded cluster each goes to one shard: checked on the filters each request
sends (tests/oplog.py; the same on every engine)."""

import pytest

from service.config import Settings
from tests import oplog
from tests.conftest import make_settings
from tests.factories import add_comment, create_article, follow, register

ADMIN = "root"
# The planned shard keys whose every field a single-document write can name at no cost.
SHARD_KEYS = {
    "comments": ("article_id",),
    "favorites": ("user_id", "article_id"),
    "follows": ("follower_id", "followee_id"),
}
SINGLE_WRITES = {"update_one", "delete_one", "find_one_and_update", "find_one_and_delete",
                 "findAndModify", "update", "delete"}


@pytest.fixture
def settings() -> Settings:
    """FOLIO_ADMINS names `root`, who makes a moderator."""
    return make_settings(admins=[ADMIN])


def single_writes(log: oplog.OperationLog, collection: str) -> list[dict]:
    """The filters of the single-document writes a request sent to one collection."""
    return [op.filter or {} for op in log.details
            if op.collection == collection and op.name in SINGLE_WRITES]


async def test_comment_edits_deletes_and_moderation_name_the_article(client):
    admin, jake, mod = await register(client, ADMIN), await register(client), await register(client)
    promoted = await client.put(f"/api/moderation/users/{mod.username}",
                                json={"user": {"role": "moderator"}}, headers=admin.headers)
    assert promoted.status_code == 200, promoted.text
    article = await create_article(client, jake)
    comment = await add_comment(client, jake, article["slug"])
    url = f"/api/articles/{article['slug']}/comments/{comment['id']}"
    requests = [
        ("PUT", url, {"comment": {"body": "edited"}}, jake),
        ("POST", f"/api/moderation/comments/{comment['id']}/hide", {"reason": "spam"}, mod),
        ("POST", f"/api/moderation/comments/{comment['id']}/unhide", {"reason": "fine"}, mod),
        ("DELETE", url, None, jake),
    ]
    for method, path, body, who in requests:
        with oplog.recording() as log:
            response = await client.request(method, path, json=body, headers=who.headers)
        assert response.is_success, (path, response.text)
        filters = single_writes(log, "comments")
        assert filters, (method, path)
        for selector in filters:
            assert all(key in selector for key in SHARD_KEYS["comments"]), (path, selector)


async def test_edge_writes_name_their_whole_shard_key(client):
    reader, jake = await register(client), await register(client)
    article = await create_article(client, jake)
    await follow(client, reader, jake.username)
    for method, path, collection in (
        ("POST", f"/api/articles/{article['slug']}/favorite", "favorites"),
        ("DELETE", f"/api/articles/{article['slug']}/favorite", "favorites"),
        ("DELETE", f"/api/profiles/{jake.username}/follow", "follows"),
    ):
        with oplog.recording() as log:
            response = await client.request(method, path, headers=reader.headers)
        assert response.is_success, (path, response.text)
        for selector in single_writes(log, collection):
            assert all(key in selector for key in SHARD_KEYS[collection]), (path, selector)
