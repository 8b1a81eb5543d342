"""Comments on an article: create, list, delete, and what deleting the article does to them."""

import re

from models import Comment
from service.engine.client import collection
from tests.factories import add_comment, create_article, follow, register

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
NO_TOKEN = {"errors": {"token": ["is missing"]}}
BAD_TOKEN = {"errors": {"token": ["is invalid"]}}
ARTICLE_NOT_FOUND = {"errors": {"article": ["not found"]}}
COMMENT_NOT_FOUND = {"errors": {"comment": ["not found"]}}
BLANK_BODY = {"errors": {"body": ["can't be blank"]}}


def comments_url(slug: str) -> str:
    return f"/api/articles/{slug}/comments"


def comment_url(slug: str, comment_id: object) -> str:
    return f"/api/articles/{slug}/comments/{comment_id}"


async def post_comment(client, slug, payload, headers=None):
    return await client.post(comments_url(slug), json=payload, headers=headers or {})


async def list_comments(client, slug, headers=None) -> list[dict]:
    response = await client.get(comments_url(slug), headers=headers or {})
    assert response.status_code == 200, response.text
    # RealWorld's `comments`, then Folio's additive keys (tests/test_comment_paging.py).
    assert list(response.json()) == ["comments", "commentsCount", "nextCursor"]
    assert response.json()["commentsCount"] == len(response.json()["comments"])
    return response.json()["comments"]


async def comment_ids(client, slug) -> list[int]:
    return [comment["id"] for comment in await list_comments(client, slug)]


def author_of(account, *, following: bool = False) -> dict:
    return {"username": account.username, "bio": None, "image": None, "following": following}


# --- create -----------------------------------------------------------------------------------


async def test_user_can_comment_on_an_article_and_gets_the_comment_back(client):
    jake = await register(client)
    jane = await register(client)
    article = await create_article(client, jake)

    response = await post_comment(
        client, article["slug"], {"comment": {"body": "Thank you so much!"}}, jane.headers
    )

    assert response.status_code == 201
    body = response.json()
    assert list(body) == ["comment"]
    comment = body["comment"]
    assert set(comment) == {"id", "createdAt", "updatedAt", "body", "author"}
    assert type(comment["id"]) is int
    assert comment["body"] == "Thank you so much!"
    assert TIMESTAMP.match(comment["createdAt"])
    assert TIMESTAMP.match(comment["updatedAt"])
    assert comment["updatedAt"] == comment["createdAt"]
    assert comment["author"] == author_of(jane, following=False)


async def test_new_comment_author_is_not_followed_even_when_the_commenter_follows_others(client):
    jake = await register(client)
    jane = await register(client)
    await follow(client, jane, jake.username)
    article = await create_article(client, jake)

    comment = await add_comment(client, jane, article["slug"])

    assert comment["author"] == author_of(jane, following=False)


async def test_comment_ids_increase_by_one_across_comments_and_articles(client):
    jake = await register(client)
    jane = await register(client)
    first_article = await create_article(client, jake)
    second_article = await create_article(client, jane)

    first = await add_comment(client, jane, first_article["slug"], "one")
    second = await add_comment(client, jake, second_article["slug"], "two")
    third = await add_comment(client, jane, first_article["slug"], "three")

    assert [type(c["id"]) for c in (first, second, third)] == [int, int, int]
    assert second["id"] == first["id"] + 1
    assert third["id"] == second["id"] + 1


async def test_comment_body_keeps_its_surrounding_white_space(client):
    jake = await register(client)
    article = await create_article(client, jake)

    comment = await add_comment(client, jake, article["slug"], "  indented\n")

    assert comment["body"] == "  indented\n"
    assert (await list_comments(client, article["slug"]))[0]["body"] == "  indented\n"


# --- create validation ------------------------------------------------------------------------


async def test_user_can_not_post_a_blank_comment(client):
    jake = await register(client)
    article = await create_article(client, jake)

    response = await post_comment(client, article["slug"], {"comment": {"body": ""}}, jake.headers)

    assert response.status_code == 422
    assert response.json() == BLANK_BODY
    assert await list_comments(client, article["slug"]) == []


async def test_user_can_not_post_a_whitespace_only_comment(client):
    jake = await register(client)
    article = await create_article(client, jake)

    response = await post_comment(
        client, article["slug"], {"comment": {"body": " \n\t "}}, jake.headers
    )

    assert response.status_code == 422
    assert response.json() == BLANK_BODY
    assert await list_comments(client, article["slug"]) == []


async def test_user_can_not_post_a_comment_without_a_body(client):
    jake = await register(client)
    article = await create_article(client, jake)

    response = await post_comment(client, article["slug"], {"comment": {}}, jake.headers)

    assert response.status_code == 422
    assert response.json() == BLANK_BODY


async def test_user_can_not_post_a_comment_without_the_comment_envelope(client):
    jake = await register(client)
    article = await create_article(client, jake)

    response = await post_comment(client, article["slug"], {"body": "Hi"}, jake.headers)

    assert response.status_code == 422
    assert response.json() == {
        "errors": {"comment": ["can't be blank"], "body": ["is not a known field"]}
    }
    assert await list_comments(client, article["slug"]) == []


async def test_user_can_not_post_a_comment_whose_body_is_not_a_string(client):
    jake = await register(client)
    article = await create_article(client, jake)

    response = await post_comment(client, article["slug"], {"comment": {"body": 42}}, jake.headers)

    assert response.status_code == 422
    assert response.json() == {"errors": {"body": ["Input should be a valid string"]}}
    assert await list_comments(client, article["slug"]) == []


async def test_anonymous_visitor_can_not_comment(client):
    jake = await register(client)
    article = await create_article(client, jake)

    response = await post_comment(client, article["slug"], {"comment": {"body": "Hi"}})

    assert response.status_code == 401
    assert response.json() == NO_TOKEN
    assert response.headers["WWW-Authenticate"] == "Token"
    assert await list_comments(client, article["slug"]) == []


async def test_user_with_an_invalid_token_can_not_comment(client):
    jake = await register(client)
    article = await create_article(client, jake)

    response = await post_comment(
        client,
        article["slug"],
        {"comment": {"body": "Hi"}},
        {"Authorization": "Token not-a-real-jwt"},
    )

    assert response.status_code == 401
    assert response.json() == BAD_TOKEN
    assert await list_comments(client, article["slug"]) == []


async def test_user_can_not_comment_on_an_unknown_article(client):
    jake = await register(client)

    response = await post_comment(
        client, "no-such-article", {"comment": {"body": "Hi"}}, jake.headers
    )

    assert response.status_code == 404
    assert response.json() == ARTICLE_NOT_FOUND


# --- list -------------------------------------------------------------------------------------


async def test_article_without_comments_lists_an_empty_array(client):
    jake = await register(client)
    article = await create_article(client, jake)

    response = await client.get(comments_url(article["slug"]))

    assert response.status_code == 200
    assert response.json() == {"comments": [], "commentsCount": 0, "nextCursor": None}


async def test_comments_are_listed_newest_first_for_an_anonymous_visitor(client):
    jake = await register(client)
    jane = await register(client)
    article = await create_article(client, jake)
    first = await add_comment(client, jane, article["slug"], "first")
    second = await add_comment(client, jake, article["slug"], "second")
    third = await add_comment(client, jane, article["slug"], "third")

    comments = await list_comments(client, article["slug"])

    assert comments == [third, second, first]
    assert [c["body"] for c in comments] == ["third", "second", "first"]
    for comment in comments:
        assert type(comment["id"]) is int
        assert TIMESTAMP.match(comment["createdAt"])
        assert TIMESTAMP.match(comment["updatedAt"])
        assert comment["author"]["following"] is False


async def test_authenticated_viewer_sees_following_true_only_for_commenters_they_follow(client):
    jake = await register(client)
    jane = await register(client)
    viewer = await register(client)
    article = await create_article(client, jake)
    by_jane = await add_comment(client, jane, article["slug"], "by jane")
    by_jake = await add_comment(client, jake, article["slug"], "by jake")
    by_viewer = await add_comment(client, viewer, article["slug"], "by viewer")
    await follow(client, viewer, jane.username)

    comments = await list_comments(client, article["slug"], viewer.headers)

    assert [c["id"] for c in comments] == [by_viewer["id"], by_jake["id"], by_jane["id"]]
    assert [c["author"] for c in comments] == [
        author_of(viewer, following=False),
        author_of(jake, following=False),
        author_of(jane, following=True),
    ]


async def test_following_flag_in_comments_depends_on_who_is_looking(client):
    jake = await register(client)
    jane = await register(client)
    viewer = await register(client)
    article = await create_article(client, jake)
    await add_comment(client, jane, article["slug"])
    await follow(client, viewer, jane.username)

    as_follower = await list_comments(client, article["slug"], viewer.headers)
    as_author = await list_comments(client, article["slug"], jake.headers)
    anonymous = await list_comments(client, article["slug"])

    assert as_follower[0]["author"] == author_of(jane, following=True)
    assert as_author[0]["author"] == author_of(jane, following=False)
    assert anonymous[0]["author"] == author_of(jane, following=False)


async def test_comments_of_other_articles_are_not_listed(client):
    jake = await register(client)
    article = await create_article(client, jake)
    other = await create_article(client, jake)
    mine = await add_comment(client, jake, article["slug"], "on this one")
    await add_comment(client, jake, other["slug"], "on the other one")

    assert await comment_ids(client, article["slug"]) == [mine["id"]]


async def test_listing_comments_of_an_unknown_article_is_not_found(client):
    response = await client.get(comments_url("no-such-article"))

    assert response.status_code == 404
    assert response.json() == ARTICLE_NOT_FOUND


# --- delete -----------------------------------------------------------------------------------


async def test_user_can_delete_their_own_comment(client):
    jake = await register(client)
    jane = await register(client)
    article = await create_article(client, jake)
    kept = await add_comment(client, jake, article["slug"], "kept")
    doomed = await add_comment(client, jane, article["slug"], "doomed")

    response = await client.delete(comment_url(article["slug"], doomed["id"]), headers=jane.headers)

    assert response.status_code == 204
    assert response.content == b""
    assert await comment_ids(client, article["slug"]) == [kept["id"]]


async def test_deleting_a_comment_twice_is_not_found_the_second_time(client):
    jake = await register(client)
    article = await create_article(client, jake)
    comment = await add_comment(client, jake, article["slug"])
    url = comment_url(article["slug"], comment["id"])
    assert (await client.delete(url, headers=jake.headers)).status_code == 204

    response = await client.delete(url, headers=jake.headers)

    assert response.status_code == 404
    assert response.json() == COMMENT_NOT_FOUND


async def test_user_can_not_delete_someone_elses_comment(client):
    jake = await register(client)
    jane = await register(client)
    article = await create_article(client, jake)
    comment = await add_comment(client, jane, article["slug"])

    # Not even the article's author may delete a comment someone else wrote.
    response = await client.delete(
        comment_url(article["slug"], comment["id"]), headers=jake.headers
    )

    assert response.status_code == 403
    assert response.json() == {"errors": {"comment": ["forbidden"]}}
    assert await comment_ids(client, article["slug"]) == [comment["id"]]


async def test_deleting_an_unknown_comment_id_is_not_found(client):
    jake = await register(client)
    article = await create_article(client, jake)
    comment = await add_comment(client, jake, article["slug"])

    response = await client.delete(
        comment_url(article["slug"], comment["id"] + 1000), headers=jake.headers
    )

    assert response.status_code == 404
    assert response.json() == COMMENT_NOT_FOUND
    assert await comment_ids(client, article["slug"]) == [comment["id"]]


async def test_user_can_not_delete_a_comment_through_another_article(client):
    jake = await register(client)
    article = await create_article(client, jake)
    other = await create_article(client, jake)
    comment = await add_comment(client, jake, article["slug"])

    response = await client.delete(comment_url(other["slug"], comment["id"]), headers=jake.headers)

    assert response.status_code == 404
    assert response.json() == COMMENT_NOT_FOUND
    assert await comment_ids(client, article["slug"]) == [comment["id"]]
    assert await comment_ids(client, other["slug"]) == []


async def test_deleting_a_comment_with_a_non_integer_id_is_a_validation_error(client):
    jake = await register(client)
    article = await create_article(client, jake)
    comment = await add_comment(client, jake, article["slug"])

    response = await client.delete(comment_url(article["slug"], "abc"), headers=jake.headers)

    assert response.status_code == 422
    assert response.json() == {
        "errors": {"id": ["must be an integer"]}
    }
    assert await comment_ids(client, article["slug"]) == [comment["id"]]


async def test_deleting_a_comment_with_id_zero_is_a_validation_error(client):
    jake = await register(client)
    article = await create_article(client, jake)

    response = await client.delete(comment_url(article["slug"], 0), headers=jake.headers)

    assert response.status_code == 422
    assert response.json() == {"errors": {"id": ["must be greater than or equal to 1"]}}


async def test_anonymous_visitor_can_not_delete_a_comment(client):
    jake = await register(client)
    article = await create_article(client, jake)
    comment = await add_comment(client, jake, article["slug"])

    response = await client.delete(comment_url(article["slug"], comment["id"]))

    assert response.status_code == 401
    assert response.json() == NO_TOKEN
    assert await comment_ids(client, article["slug"]) == [comment["id"]]


async def test_user_with_an_invalid_token_can_not_delete_a_comment(client):
    jake = await register(client)
    article = await create_article(client, jake)
    comment = await add_comment(client, jake, article["slug"])

    response = await client.delete(
        comment_url(article["slug"], comment["id"]), headers={"Authorization": "Token garbage"}
    )

    assert response.status_code == 401
    assert response.json() == BAD_TOKEN
    assert await comment_ids(client, article["slug"]) == [comment["id"]]


async def test_deleting_a_comment_of_an_unknown_article_is_not_found(client):
    jake = await register(client)
    article = await create_article(client, jake)
    comment = await add_comment(client, jake, article["slug"])

    response = await client.delete(
        comment_url("no-such-article", comment["id"]), headers=jake.headers
    )

    assert response.status_code == 404
    assert response.json() == ARTICLE_NOT_FOUND
    assert await comment_ids(client, article["slug"]) == [comment["id"]]


async def test_deleting_a_comment_without_a_token_on_an_unknown_article_is_unauthorized_first(
    client,
):
    response = await client.delete(comment_url("no-such-article", 1))

    assert response.status_code == 401
    assert response.json() == NO_TOKEN


async def test_stranger_deleting_an_unknown_comment_is_not_found_before_forbidden(client):
    jake = await register(client)
    jane = await register(client)
    article = await create_article(client, jake)
    comment = await add_comment(client, jake, article["slug"])

    response = await client.delete(
        comment_url(article["slug"], comment["id"] + 1), headers=jane.headers
    )

    assert response.status_code == 404
    assert response.json() == COMMENT_NOT_FOUND


# --- deleting the article ---------------------------------------------------------------------


async def test_deleting_an_article_removes_its_comments(client):
    jake = await register(client)
    jane = await register(client)
    article = await create_article(client, jake, title="A Title To Reuse")
    one = await add_comment(client, jake, article["slug"], "one")
    two = await add_comment(client, jane, article["slug"], "two")
    comments = collection(Comment)  # bound to this test's database by the lifespan
    assert await comments.count_documents({"_id": {"$in": [one["id"], two["id"]]}}) == 2

    response = await client.delete(f"/api/articles/{article['slug']}", headers=jake.headers)
    assert response.status_code == 204
    assert response.content == b""
    gone = await client.get(comments_url(article["slug"]))
    assert gone.status_code == 404
    assert gone.json() == ARTICLE_NOT_FOUND

    again = await create_article(client, jake, title="A Title To Reuse")

    assert again["slug"] == article["slug"]
    assert await list_comments(client, again["slug"]) == []
    # The recreated article has a new id, so orphans would not show in its list: look directly.
    assert await comments.count_documents({"_id": {"$in": [one["id"], two["id"]]}}) == 0


async def test_deleting_an_article_leaves_other_articles_comments_alone(client):
    jake = await register(client)
    article = await create_article(client, jake)
    other = await create_article(client, jake)
    await add_comment(client, jake, article["slug"])
    kept = await add_comment(client, jake, other["slug"])

    response = await client.delete(f"/api/articles/{article['slug']}", headers=jake.headers)

    assert response.status_code == 204
    assert await comment_ids(client, other["slug"]) == [kept["id"]]


async def test_each_article_counts_its_comments_by_inc(app, client):
    # The counter behind author analytics: +1 per comment, -1 per delete, never below the truth.
    jake = await register(client)
    article = await create_article(client, jake)
    first = await add_comment(client, jake, article["slug"])
    await add_comment(client, jake, article["slug"])
    articles = app.state.engine.database.articles

    async def counted() -> int:
        return (await articles.find_one({"slug": article["slug"]}))["comments_count"]

    assert await counted() == 2
    url = f"/api/articles/{article['slug']}/comments/{first['id']}"
    assert (await client.delete(url, headers=jake.headers)).status_code == 204
    assert (await client.delete(url, headers=jake.headers)).status_code == 404
    assert await counted() == 1
