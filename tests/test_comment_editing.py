"""Editing a comment (PUT), reading one (GET) with its ETag, and If-Match / If-None-Match.

Expectations hold on every engine.
"""

import asyncio
from datetime import UTC, datetime

import pytest
from bson import ObjectId

from tests import oplog
from tests.factories import add_comment, create_article, follow, register

STALE = {"errors": {"comment": ["was changed by someone else"]}}
FORBIDDEN = {"errors": {"comment": ["forbidden"]}}
COMMENT_NOT_FOUND = {"errors": {"comment": ["not found"]}}
ARTICLE_NOT_FOUND = {"errors": {"article": ["not found"]}}


def comment_url(slug: str, comment_id: object) -> str:
    return f"/api/articles/{slug}/comments/{comment_id}"


def edit(client, url: str, body: object, headers=None):
    return client.put(url, json={"comment": {"body": body}}, headers=headers or {})


@pytest.fixture
async def commented(client):
    """jake's article, with a comment by anna: (jake, anna, slug, comment)."""
    jake, anna = await register(client), await register(client)
    article = await create_article(client, jake)
    comment = await add_comment(client, anna, article["slug"], "first words")
    return jake, anna, article["slug"], comment


async def stored(app, comment_id: int) -> dict:
    return await app.state.engine.database.comments.find_one({"_id": comment_id})


async def tagged(client, url: str, headers=None) -> str:
    response = await client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return response.headers["etag"]


# --- PUT --------------------------------------------------------------------------------------


async def test_author_edits_their_comment_and_gets_it_back_with_a_new_etag(app, client, commented):
    _, anna, slug, comment = commented
    url = comment_url(slug, comment["id"])
    before = await tagged(client, url)

    response = await edit(client, url, "better words", anna.headers)

    assert response.status_code == 200
    edited = response.json()["comment"]
    assert set(edited) == {"id", "createdAt", "updatedAt", "body", "author"}
    assert edited["id"] == comment["id"] and edited["body"] == "better words"
    assert edited["createdAt"] == comment["createdAt"]
    assert edited["updatedAt"] > comment["updatedAt"]
    assert edited["author"] == {"username": anna.username, "bio": None, "image": None,
                                "following": False}
    assert response.headers["etag"] not in (before, None)
    assert response.headers["etag"] == await tagged(client, url)
    assert (await stored(app, comment["id"]))["version"] == 2
    listed = (await client.get(f"/api/articles/{slug}/comments")).json()["comments"]
    assert listed == [edited]


async def test_every_edit_moves_updated_at_even_within_one_millisecond(client, commented):
    _, anna, slug, comment = commented
    url = comment_url(slug, comment["id"])
    seen = [comment["updatedAt"]]
    for text in ("one", "two", "three"):
        seen.append((await edit(client, url, text, anna.headers)).json()["comment"]["updatedAt"])
    assert seen == sorted(set(seen))


async def test_anonymous_visitor_can_not_edit_a_comment(app, client, commented):
    _, _, slug, comment = commented
    response = await edit(client, comment_url(slug, comment["id"]), "mine now")
    assert response.status_code == 401
    assert response.json() == {"errors": {"token": ["is missing"]}}
    assert (await stored(app, comment["id"]))["body"] == "first words"


async def test_user_can_not_edit_someone_elses_comment(app, client, commented):
    jake, _, slug, comment = commented  # jake wrote the article, not the comment
    response = await edit(client, comment_url(slug, comment["id"]), "mine now", jake.headers)
    assert response.status_code == 403
    assert response.json() == FORBIDDEN
    assert (await stored(app, comment["id"]))["body"] == "first words"


async def test_editing_an_unknown_comment_or_article_is_not_found(client, commented):
    jake, anna, slug, comment = commented
    unknown = await edit(client, comment_url(slug, 999_999), "x", anna.headers)
    assert unknown.status_code == 404 and unknown.json() == COMMENT_NOT_FOUND
    elsewhere = await create_article(client, jake)
    moved = await edit(client, comment_url(elsewhere["slug"], comment["id"]), "x", anna.headers)
    assert moved.status_code == 404 and moved.json() == COMMENT_NOT_FOUND
    gone = await edit(client, comment_url("no-such-article", comment["id"]), "x", anna.headers)
    assert gone.status_code == 404 and gone.json() == ARTICLE_NOT_FOUND


@pytest.mark.parametrize("body", ["", "  \n\t ", None], ids=["empty", "white-space", "null"])
async def test_a_blank_body_is_refused_and_nothing_is_written(app, client, commented, body):
    _, anna, slug, comment = commented
    response = await edit(client, comment_url(slug, comment["id"]), body, anna.headers)
    assert response.status_code == 422
    assert response.json() == {"errors": {"body": ["can't be blank"]}}
    assert (await stored(app, comment["id"]))["body"] == "first words"


async def test_an_edit_refuses_unknown_fields_but_drops_the_ones_a_comment_answer_carries(
    client, commented
):
    _, anna, slug, comment = commented
    url = comment_url(slug, comment["id"])
    unknown = await client.put(url, json={"comment": {"body": "x", "article": "y"}},
                               headers=anna.headers)
    assert unknown.status_code == 422
    echoed = await client.put(url, json={"comment": {**comment, "body": "echoed", "id": 1}},
                              headers=anna.headers)
    assert echoed.status_code == 200
    assert echoed.json()["comment"]["id"] == comment["id"]
    assert echoed.json()["comment"]["body"] == "echoed"


# --- If-Match ---------------------------------------------------------------------------------


async def test_a_stale_if_match_answers_412_and_writes_nothing(app, client, commented):
    _, anna, slug, comment = commented
    url = comment_url(slug, comment["id"])
    etag = await tagged(client, url)
    first = await edit(client, url, "second", {**anna.headers, "If-Match": etag})
    assert first.status_code == 200
    before = await stored(app, comment["id"])

    late = await edit(client, url, "third", {**anna.headers, "If-Match": etag})

    assert late.status_code == 412
    assert late.json() == STALE
    assert await stored(app, comment["id"]) == before


async def test_the_version_is_checked_by_the_write_itself(client, commented):
    # One find_one_and_update whose filter holds the version read: no read-then-write gap.
    _, anna, slug, comment = commented
    url = comment_url(slug, comment["id"])
    etag = await tagged(client, url)
    with oplog.recording() as log:
        response = await edit(client, url, "checked", {**anna.headers, "If-Match": etag})
    assert response.status_code == 200
    writes = [op for op in log.details if op.collection == "comments"
              and op.name in ("find_one_and_update", "findAndModify")]
    assert len(writes) == 1
    # The article's id rides along: it leads comments' planned shard key (docs/scaling.md).
    assert {k: v for k, v in writes[0].filter.items() if k != "article_id"} == {
        "_id": comment["id"], "version": 1}
    assert "article_id" in writes[0].filter
    assert not any(op.collection == "comments" and op.name in ("update_one", "update")
                   for op in log.details)


async def test_two_editors_with_one_tag_exactly_one_wins(app, client, commented):
    _, anna, slug, comment = commented
    url = comment_url(slug, comment["id"])
    etag = await tagged(client, url)
    answers = await asyncio.gather(*(
        edit(client, url, text, {**anna.headers, "If-Match": etag}) for text in ("mine", "theirs")
    ))
    assert sorted(answer.status_code for answer in answers) == [200, 412]
    winner = next(answer for answer in answers if answer.status_code == 200)
    assert (await stored(app, comment["id"]))["body"] == winner.json()["comment"]["body"]
    assert (await stored(app, comment["id"]))["version"] == 2


@pytest.mark.parametrize("header", ["*", None], ids=["star", "absent"])
async def test_without_a_tag_the_last_writer_wins(client, commented, header):
    _, anna, slug, comment = commented
    url = comment_url(slug, comment["id"])
    await edit(client, url, "someone's edit", anna.headers)
    headers = {**anna.headers, **({"If-Match": header} if header else {})}
    response = await edit(client, url, "last", headers)
    assert response.status_code == 200 and response.json()["comment"]["body"] == "last"


@pytest.mark.parametrize("header", ['W/"x"', "garbage", '"999999-1-abc"'],
                         ids=["weak", "malformed", "another-comment"])
async def test_an_if_match_naming_no_current_version_answers_412(client, commented, header):
    _, anna, slug, comment = commented
    response = await edit(client, comment_url(slug, comment["id"]), "x",
                          {**anna.headers, "If-Match": header})
    assert response.status_code == 412 and response.json() == STALE


async def test_auth_existence_and_ownership_come_before_the_precondition(client, commented):
    jake, anna, slug, comment = commented
    url = comment_url(slug, comment["id"])
    stale = {"If-Match": '"stale"'}
    assert (await edit(client, url, "x", stale)).status_code == 401
    assert (await edit(client, comment_url(slug, 999_999), "x",
                       {**anna.headers, **stale})).status_code == 404
    assert (await edit(client, url, "x", {**jake.headers, **stale})).status_code == 403


async def test_a_comment_from_before_versions_reads_as_version_1_and_stores_2(
    app, client, commented
):
    _, anna, slug, comment = commented
    comments = app.state.engine.database.comments
    await comments.update_one({"_id": comment["id"]}, {"$unset": {"version": ""}})
    url = comment_url(slug, comment["id"])
    etag = await tagged(client, url)
    assert etag.startswith(f'"{comment["id"]}-1-')
    edited = await edit(client, url, "versioned", {**anna.headers, "If-Match": etag})
    assert edited.status_code == 200
    assert (await stored(app, comment["id"]))["version"] == 2
    assert (await edit(client, url, "again", {**anna.headers, "If-Match": etag})).status_code == 412


# --- GET one ----------------------------------------------------------------------------------


async def test_anyone_reads_one_comment_with_a_strong_etag_and_if_none_match_answers_304(
    client, commented
):
    jake, anna, slug, comment = commented
    url = comment_url(slug, comment["id"])
    response = await client.get(url)
    assert response.status_code == 200
    assert response.json() == {"comment": comment}
    etag = response.headers["etag"]
    assert etag.startswith(f'"{comment["id"]}-1-') and not etag.startswith("W/")

    again = await client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    other = await client.get(url, headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200


async def test_an_edit_or_a_follow_changes_the_tag_so_a_304_never_hides_either(client, commented):
    jake, anna, slug, comment = commented
    url = comment_url(slug, comment["id"])
    before = await tagged(client, url, jake.headers)
    await follow(client, jake, anna.username)
    followed = await client.get(url, headers={**jake.headers, "If-None-Match": before})
    assert followed.status_code == 200
    assert followed.json()["comment"]["author"]["following"] is True
    current = followed.headers["etag"]
    await edit(client, url, "edited", anna.headers)
    edited = await client.get(url, headers={**jake.headers, "If-None-Match": current})
    assert edited.status_code == 200 and edited.json()["comment"]["body"] == "edited"


async def test_reading_an_unknown_comment_or_through_another_article_is_not_found(
    client, commented
):
    jake, _, slug, comment = commented
    assert (await client.get(comment_url(slug, 999_999))).json() == COMMENT_NOT_FOUND
    other = await create_article(client, jake)
    response = await client.get(comment_url(other["slug"], comment["id"]))
    assert response.status_code == 404 and response.json() == COMMENT_NOT_FOUND
    assert (await client.get(comment_url("nope", comment["id"]))).json() == ARTICLE_NOT_FOUND
    assert (await client.get(comment_url(slug, "abc"))).status_code == 422


# --- hidden comments: reading and writing one -------------------------------------------------


async def hide(app, comment_id: int, reason: str = "spam") -> None:
    """Hide a comment as a moderator would (the lead's moderation writes the same shape)."""
    await app.state.engine.database.comments.update_one(
        {"_id": comment_id},
        {"$set": {"moderation": {"hidden": True, "reason": reason, "by": ObjectId(),
                                 "at": datetime.now(UTC)}}},
    )


async def test_a_hidden_comment_is_read_only_by_its_author_with_the_reason(app, client, commented):
    jake, anna, slug, comment = commented
    await hide(app, comment["id"], "off topic")
    url = comment_url(slug, comment["id"])
    for headers in (None, jake.headers):
        response = await client.get(url, headers=headers)
        assert response.status_code == 404 and response.json() == COMMENT_NOT_FOUND
    own = await client.get(url, headers=anna.headers)
    assert own.status_code == 200
    assert own.json()["comment"]["moderation"] == {"hidden": True, "reason": "off topic"}


async def test_others_get_404_not_403_when_writing_to_a_hidden_comment(app, client, commented):
    jake, anna, slug, comment = commented
    await hide(app, comment["id"])
    url = comment_url(slug, comment["id"])
    assert (await edit(client, url, "x", jake.headers)).status_code == 404
    assert (await client.delete(url, headers=jake.headers)).status_code == 404
    mine = await edit(client, url, "reworded", anna.headers)  # the author still may
    assert mine.status_code == 200
    assert mine.json()["comment"]["moderation"] == {"hidden": True, "reason": "spam"}
    assert (await stored(app, comment["id"]))["moderation"]["reason"] == "spam"


async def test_a_signed_out_token_no_longer_shows_its_authors_hidden_comment(
    app, client, commented
):
    _, anna, slug, comment = commented
    await hide(app, comment["id"])
    assert (await client.post("/api/user/logout", headers=anna.headers)).status_code == 204
    response = await client.get(comment_url(slug, comment["id"]), headers=anna.headers)
    assert response.status_code == 404
    listed = await client.get(f"/api/articles/{slug}/comments", headers=anna.headers)
    assert listed.json()["comments"] == [] and listed.json()["commentsCount"] == 0
