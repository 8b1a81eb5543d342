"""Moderators hide uploads of the media library and show them again, logged
(service/moderation/media.py). Expectations hold on every engine."""

import pytest
from bson import ObjectId

from models import Media, ModerationEntry
from service.config import Settings
from tests.conftest import make_settings
from tests.factories import register
from tests.media_docs import insert_media, user_id

ADMIN = "root"


@pytest.fixture
def settings() -> Settings:
    """FOLIO_ADMINS names the admin, who makes a moderator."""
    return make_settings(admins=[ADMIN])


async def moderator_and_author(client):
    admin = await register(client, ADMIN)
    moderator, author = await register(client), await register(client)
    promoted = await client.put(f"/api/moderation/users/{moderator.username}",
                                json={"user": {"role": "moderator"}}, headers=admin.headers)
    assert promoted.status_code == 200
    return admin, moderator, author


async def test_hiding_and_showing_an_upload_is_logged_once_each(client):
    admin, moderator, author = await moderator_and_author(client)
    media = await insert_media(await user_id(author.username))
    path = f"/api/moderation/media/{media['_id']}"
    hidden = await client.post(f"{path}/hide", json={"reason": "not allowed"},
                               headers=moderator.headers)
    assert hidden.status_code == 200, hidden.text
    assert hidden.json() == {"media": {"id": str(media["_id"]), "owner": author.username,
                                       "moderation": {"hidden": True, "reason": "not allowed"}}}
    stored = await Media.get_motor_collection().find_one({"_id": media["_id"]})
    assert stored["moderation"]["reason"] == "not allowed"
    assert stored["moderation"]["hidden"] is True
    # Hiding again changes nothing and logs nothing.
    again = await client.post(f"{path}/hide", json={"reason": "still"}, headers=moderator.headers)
    assert again.status_code == 200
    assert again.json()["media"]["moderation"]["reason"] == "not allowed"
    shown = await client.post(f"{path}/unhide", headers=moderator.headers)
    assert shown.status_code == 200 and shown.json() == {
        "media": {"id": str(media["_id"]), "owner": author.username}}
    assert (await Media.get_motor_collection().find_one({"_id": media["_id"]}))["moderation"] is None
    log = (await client.get("/api/moderation/log", headers=admin.headers)).json()["entries"]
    media_entries = [e for e in log if e["targetType"] == "media"]
    assert [e["action"] for e in media_entries] == ["unhide_media", "hide_media"]
    assert media_entries[1]["target"] == str(media["_id"])
    assert media_entries[1]["reason"] == "not allowed"
    assert media_entries[1]["details"] == {"owner": author.username}
    assert media_entries[1]["actor"] == moderator.username
    assert await ModerationEntry.get_motor_collection().count_documents(
        {"target_type": "media"}) == 2


@pytest.mark.parametrize("media_id", ["not-an-id", str(ObjectId())])
async def test_unknown_uploads_answer_404(client, media_id):
    _, moderator, _ = await moderator_and_author(client)
    response = await client.post(f"/api/moderation/media/{media_id}/hide",
                                 json={"reason": "x"}, headers=moderator.headers)
    assert response.status_code == 404
    assert response.json() == {"errors": {"media": ["not found"]}}


async def test_an_upload_being_deleted_cannot_be_moderated(client):
    _, moderator, author = await moderator_and_author(client)
    media = await insert_media(await user_id(author.username))
    await Media.get_motor_collection().update_one(
        {"_id": media["_id"]}, {"$set": {"deleting": media["created_at"]}})
    response = await client.post(f"/api/moderation/media/{media['_id']}/hide",
                                 json={"reason": "x"}, headers=moderator.headers)
    assert response.status_code == 404


async def test_authors_cannot_hide_uploads_and_a_reason_is_required(client):
    _, moderator, author = await moderator_and_author(client)
    media = await insert_media(await user_id(author.username))
    path = f"/api/moderation/media/{media['_id']}/hide"
    assert (await client.post(path, json={"reason": "x"}, headers=author.headers)).status_code == 403
    assert (await client.post(path, json={"reason": "x"})).status_code == 401
    missing = await client.post(path, json={}, headers=moderator.headers)
    assert missing.status_code == 422
