"""Roles, reports, hiding, suspension and the moderation log.

Expectations hold on every engine unless marked; list visibility of hidden articles relies on
`published_at: null`, which mongoeco matches in date ranges (WIRE_NULL_DATES).
"""

import asyncio
from datetime import UTC, datetime, timedelta

import feedparser
import pytest

from models import Article, ModerationEntry, Report, ReportSweep, User
from service.config import Settings
from service.engine.client import collection
from service.moderation.queries import store_role, users_with_role
from service.users.roles import bootstrap_admins
from tests import oplog
from tests.conftest import WIRE_NULL_DATES, make_settings
from tests.factories import PASSWORD, Account, add_comment, create_article, favorite, register
from tests.media_docs import insert_media, user_id

ADMIN = "root"


@pytest.fixture
def settings() -> Settings:
    """FOLIO_ADMINS names `root`."""
    return make_settings(admins=[ADMIN])


async def cast(client) -> dict[str, Account]:
    """An admin (by FOLIO_ADMINS), a moderator (made by the admin), two authors and a reader."""
    admin = await register(client, ADMIN)
    accounts = {"admin": admin}
    for name in ("moderator", "author", "other", "reader"):
        accounts[name] = await register(client)
    promoted = await client.put(
        f"/api/moderation/users/{accounts['moderator'].username}",
        json={"user": {"role": "moderator"}},
        headers=admin.headers,
    )
    assert promoted.status_code == 200, promoted.text
    return accounts


async def hide(client, moderator: Account, slug: str, reason: str = "spam"):
    """Hide an article as `moderator`."""
    return await client.post(
        f"/api/moderation/articles/{slug}/hide", json={"reason": reason}, headers=moderator.headers
    )


async def log_actions(client, admin: Account) -> list[str]:
    """The actions in the moderation log, newest first."""
    response = await client.get("/api/moderation/log", headers=admin.headers)
    assert response.status_code == 200, response.text
    return [entry["action"] for entry in response.json()["entries"]]


# --- roles ------------------------------------------------------------------------------------


async def test_folio_admins_makes_an_admin_at_registration_and_only_get_user_shows_roles(client):
    admin = await register(client, ADMIN)
    author = await register(client)
    assert (await client.get("/api/user", headers=admin.headers)).json()["user"]["role"] == "admin"
    assert (await client.get("/api/user", headers=author.headers)).json()["user"]["role"] == "author"
    profile = await client.get(f"/api/profiles/{ADMIN}")
    assert "role" not in profile.json()["profile"]
    login = await client.post("/api/users/login",
                              json={"user": {"email": admin.email, "password": PASSWORD}})
    assert "role" not in login.json().get("user", {})


async def test_folio_admins_promotes_existing_accounts_at_start_up(client):
    # What the lifespan runs: an account registered before its name was listed becomes admin.
    early = await register(client, "early")
    assert await bootstrap_admins(["early"]) == 1
    assert await bootstrap_admins(["early"]) == 0  # already stored: nothing changes
    assert (await client.get("/api/user", headers=early.headers)).json()["user"]["role"] == "admin"


async def test_an_admin_changes_roles_and_the_log_records_it(client):
    people = await cast(client)
    me = await client.get("/api/user", headers=people["moderator"].headers)
    assert me.json()["user"]["role"] == "moderator"
    back = await client.put(f"/api/moderation/users/{people['moderator'].username}",
                            json={"user": {"role": "author"}}, headers=people["admin"].headers)
    assert back.json() == {"user": {"username": people["moderator"].username, "role": "author",
                                    "suspension": None}}
    entries = (await client.get("/api/moderation/log", headers=people["admin"].headers)).json()
    assert [(e["action"], e["details"]) for e in entries["entries"]] == [
        ("set_role", {"previous": "moderator", "role": "author"}),
        ("set_role", {"previous": "author", "role": "moderator"}),
    ]


async def test_role_changes_refuse_bad_roles_self_changes_unknown_users_and_folio_admins(client):
    people = await cast(client)
    admin = people["admin"]
    bad = await client.put(f"/api/moderation/users/{people['author'].username}",
                           json={"user": {"role": "owner"}}, headers=admin.headers)
    assert bad.status_code == 422 and "role" in bad.json()["errors"]
    own = await client.put(f"/api/moderation/users/{ADMIN}", json={"user": {"role": "author"}},
                           headers=admin.headers)
    assert own.status_code == 403
    assert own.json() == {"errors": {"user": ["cannot change your own role"]}}
    missing = await client.put("/api/moderation/users/nobody", json={"user": {"role": "author"}},
                               headers=admin.headers)
    assert missing.status_code == 404
    # A second admin cannot demote the one FOLIO_ADMINS names: the setting would undo it.
    await client.put(f"/api/moderation/users/{people['other'].username}",
                     json={"user": {"role": "admin"}}, headers=admin.headers)
    demote = await client.put(f"/api/moderation/users/{ADMIN}", json={"user": {"role": "author"}},
                              headers=people["other"].headers)
    assert demote.status_code == 409
    assert demote.json()["errors"]["role"] == [
        "is admin by FOLIO_ADMINS; remove the name there first"
    ]


async def test_the_operator_command_sets_roles_lists_them_and_is_logged(client):
    # What `folio users role` and `folio users list --role` run (the CLI tests check their
    # one-line failures; the commands need a MongoDB, which the embedded engine is not).
    people = await cast(client)
    target = await User.find_one(User.username == people["author"].username)
    updated = await store_role(target, "moderator", None)
    assert updated["role"] == "moderator"
    listed = [account["username"] for account in await users_with_role("moderator")]
    assert listed == sorted([people["moderator"].username, people["author"].username])
    entries = (await client.get("/api/moderation/log", headers=people["admin"].headers)).json()
    assert entries["entries"][0]["actor"] == "operator (folio CLI)"


# --- reports ----------------------------------------------------------------------------------


async def test_reporting_twice_answers_the_open_report_and_a_unique_index_enforces_it(client):
    people = await cast(client)
    article = await create_article(client, people["author"])
    url = f"/api/articles/{article['slug']}/reports"
    first = await client.post(url, json={"report": {"reason": "spam", "note": "ads"}},
                              headers=people["reader"].headers)
    assert first.status_code == 201, first.text
    report = first.json()["report"]
    assert report["status"] == "open" and report["reason"] == "spam" and report["note"] == "ads"
    assert report["target"] == {"type": "article", "slug": article["slug"], "commentId": None}
    again = await client.post(url, json={"report": {"reason": "abuse"}},
                              headers=people["reader"].headers)
    assert again.status_code == 200 and again.json()["report"]["id"] == report["id"]
    # Concurrent repeats leave one open report: the index decides, not a read.
    racing = await asyncio.gather(*(
        client.post(url, json={"report": {"reason": "other"}}, headers=people["other"].headers)
        for _ in range(5)
    ))
    assert sorted(r.status_code for r in racing) == [200, 200, 200, 200, 201]
    assert await collection(Report).count_documents({}) == 2
    names = {i["name"]: i for i in await collection(Report).list_indexes().to_list(None)}
    assert names["open_report_unique"]["unique"] is True


async def test_a_report_needs_a_visible_target_a_known_reason_and_a_token(client):
    people = await cast(client)
    article = await create_article(client, people["author"])
    draft = await create_article(client, people["author"], status="draft")
    comment = await add_comment(client, people["other"], article["slug"])
    body = {"report": {"reason": "spam"}}
    reader = people["reader"].headers
    assert (await client.post(f"/api/articles/{article['slug']}/reports", json=body)
            ).status_code == 401
    assert (await client.post(f"/api/articles/{draft['slug']}/reports", json=body,
                              headers=reader)).status_code == 404
    assert (await client.post("/api/articles/nope/reports", json=body, headers=reader)
            ).status_code == 404
    assert (await client.post(f"/api/articles/{article['slug']}/comments/999/reports", json=body,
                              headers=reader)).status_code == 404
    wrong = await client.post(f"/api/articles/{article['slug']}/reports",
                              json={"report": {"reason": "boring"}}, headers=reader)
    assert wrong.status_code == 422 and "reason" in wrong.json()["errors"]
    ok = await client.post(f"/api/articles/{article['slug']}/comments/{comment['id']}/reports",
                           json=body, headers=reader)
    assert ok.status_code == 201
    assert ok.json()["report"]["target"] == {
        "type": "comment", "slug": article["slug"], "commentId": comment["id"]
    }


async def test_the_queue_runs_oldest_first_with_targets_reporters_counts_and_a_cursor(client):
    people = await cast(client)
    first = await create_article(client, people["author"], title="First")
    second = await create_article(client, people["author"], title="Second")
    comment = await add_comment(client, people["other"], second["slug"], body="rude words")
    for who in ("reader", "other"):
        await client.post(f"/api/articles/{first['slug']}/reports",
                          json={"report": {"reason": "spam"}}, headers=people[who].headers)
    await client.post(f"/api/articles/{second['slug']}/comments/{comment['id']}/reports",
                      json={"report": {"reason": "abuse"}}, headers=people["reader"].headers)
    mod = people["moderator"].headers
    page = (await client.get("/api/moderation/reports", params={"limit": 2}, headers=mod)).json()
    assert page["reportsCount"] == 3
    assert [r["reporter"] for r in page["reports"]] == [people["reader"].username,
                                                        people["other"].username]
    assert page["reports"][0]["target"] == {
        "type": "article", "slug": first["slug"], "commentId": None, "title": "First",
        "body": None, "author": people["author"].username, "hidden": False, "exists": True,
    }
    assert page["reports"][0]["counts"] == {"open": 2, "total": 2}
    rest = (await client.get("/api/moderation/reports",
                             params={"limit": 2, "cursor": page["nextCursor"]}, headers=mod)).json()
    assert [r["target"]["body"] for r in rest["reports"]] == ["rude words"]
    assert rest["reports"][0]["counts"] == {"open": 1, "total": 1} and rest["nextCursor"] is None
    resolved = await client.get("/api/moderation/reports", params={"status": "resolved"},
                                headers=mod)
    assert resolved.json()["reports"] == [] and resolved.json()["reportsCount"] == 0
    bad = await client.get("/api/moderation/reports", params={"cursor": "junk"}, headers=mod)
    assert bad.status_code == 422


async def test_dismissing_resolves_the_targets_open_reports_and_allows_a_new_one(client):
    people = await cast(client)
    article = await create_article(client, people["author"])
    url = f"/api/articles/{article['slug']}/reports"
    report = (await client.post(url, json={"report": {"reason": "spam"}},
                                headers=people["reader"].headers)).json()["report"]
    await client.post(url, json={"report": {"reason": "spam"}}, headers=people["other"].headers)
    dismissed = await client.post(f"/api/moderation/reports/{report['id']}/dismiss",
                                  json={"reason": "not spam"}, headers=people["moderator"].headers)
    assert dismissed.status_code == 200, dismissed.text
    assert dismissed.json()["report"]["status"] == "resolved"
    assert dismissed.json()["report"]["resolution"] == "dismissed"
    assert await collection(Report).count_documents({"status": "open"}) == 0
    again = await client.post(url, json={"report": {"reason": "spam"}},
                              headers=people["reader"].headers)
    assert again.status_code == 201  # the old one is resolved: a new open report
    assert (await client.post("/api/moderation/reports/nope/dismiss",
                              headers=people["moderator"].headers)).status_code == 404
    assert await log_actions(client, people["admin"]) == ["dismiss_reports", "set_role"]


# --- hiding -----------------------------------------------------------------------------------


async def visible_everywhere(client, slug: str, tag: str, viewer: Account) -> dict[str, bool]:
    """Where an article shows for a viewer: by slug, lists, feed, tags, search, analytics, Atom."""
    headers = viewer.headers
    by_slug = await client.get(f"/api/articles/{slug}", headers=headers)
    listed = await client.get("/api/articles", headers=headers)
    by_tag = await client.get("/api/articles", params={"tag": tag}, headers=headers)
    feed = await client.get("/api/articles/feed", headers=headers)
    tags = await client.get("/api/tags")
    search = await client.get("/api/search", params={"q": "Zanzibar"})
    trends = await client.get("/api/analytics/tags", params={"days": 30})
    atom = feedparser.parse((await client.get("/feeds/articles.atom")).text)
    return {
        "by slug": by_slug.status_code == 200,
        "list": slug in [a["slug"] for a in listed.json()["articles"]],
        "list by tag": by_tag.json()["articlesCount"] > 0,
        "feed": slug in [a["slug"] for a in feed.json()["articles"]],
        "tags": tag in tags.json()["tags"],
        "search": slug in [a["slug"] for a in search.json()["articles"]],
        "analytics": tag in str(trends.json()),
        "atom": any(slug in entry.link for entry in atom.entries),
    }


@WIRE_NULL_DATES
async def test_a_hidden_article_is_a_draft_to_everyone_but_its_author_and_moderators(client):
    people = await cast(client)
    article = await create_article(client, people["author"], title="Zanzibar nights",
                                   tagList=["zanzibar"])
    slug = article["slug"]
    reader = people["reader"]
    await client.post(f"/api/profiles/{people['author'].username}/follow", headers=reader.headers)
    await favorite(client, reader, slug)
    assert set((await visible_everywhere(client, slug, "zanzibar", reader)).values()) == {True}
    await client.post(f"/api/articles/{slug}/reports", json={"report": {"reason": "spam"}},
                      headers=reader.headers)

    hidden = await hide(client, people["moderator"], slug, "selling pills")
    assert hidden.status_code == 200, hidden.text
    assert hidden.json()["article"]["moderation"]["reason"] == "selling pills"
    assert await visible_everywhere(client, slug, "zanzibar", reader) == dict.fromkeys(
        ["by slug", "list", "list by tag", "feed", "tags", "search", "analytics", "atom"], False)
    assert (await client.get(f"/api/articles/{slug}")).status_code == 404
    favorites = await client.get("/api/articles", params={"favorited": reader.username})
    assert favorites.json()["articles"] == []
    # Its author and moderators still read it, with the moderation block.
    for who in ("author", "moderator", "admin"):
        seen = await client.get(f"/api/articles/{slug}", headers=people[who].headers)
        assert seen.status_code == 200, who
        moderation = seen.json()["article"]["moderation"]
        assert moderation["hidden"] is True and moderation["reason"] == "selling pills"
    # Hiding resolved the open report.
    assert await collection(Report).count_documents({"status": "open"}) == 0
    stored = await collection(Report).find_one({})
    assert stored["resolution"] == "hidden"

    shown = await client.post(f"/api/moderation/articles/{slug}/unhide",
                              headers=people["moderator"].headers)
    assert shown.status_code == 200 and "moderation" not in shown.json()["article"]
    assert shown.json()["article"]["publishedAt"] == article["publishedAt"]
    assert set((await visible_everywhere(client, slug, "zanzibar", reader)).values()) == {True}
    assert await log_actions(client, people["admin"]) == [
        "unhide_article", "hide_article", "set_role"
    ]


async def test_visible_articles_carry_no_moderation_key(client):
    people = await cast(client)
    article = await create_article(client, people["author"])
    assert "moderation" not in article
    got = await client.get(f"/api/articles/{article['slug']}", headers=people["moderator"].headers)
    assert "moderation" not in got.json()["article"]


@WIRE_NULL_DATES
async def test_an_authors_edit_never_makes_a_hidden_article_public(client):
    people = await cast(client)
    article = await create_article(client, people["author"])
    slug = article["slug"]
    etag = (await client.get(f"/api/articles/{slug}", headers=people["author"].headers)
            ).headers["etag"]
    await hide(client, people["moderator"], slug)
    # Hiding moved the version: a tag from before it is stale.
    stale = await client.put(f"/api/articles/{slug}", json={"article": {"body": "new"}},
                             headers={**people["author"].headers, "If-Match": etag})
    assert stale.status_code == 412
    for change in ({"status": "draft"}, {"status": "published"}, {"body": "edited"}):
        edited = await client.put(f"/api/articles/{slug}", json={"article": change},
                                  headers=people["author"].headers)
        assert edited.status_code == 200, edited.text
        assert edited.json()["article"]["moderation"]["hidden"] is True
        assert (await client.get(f"/api/articles/{slug}")).status_code == 404
    shown = await client.post(f"/api/moderation/articles/{slug}/unhide",
                              headers=people["moderator"].headers)
    assert shown.json()["article"]["publishedAt"] is not None
    assert (await client.get(f"/api/articles/{slug}")).status_code == 200


async def test_hiding_twice_changes_nothing_and_logs_once(client):
    people = await cast(client)
    article = await create_article(client, people["author"])
    await hide(client, people["moderator"], article["slug"])
    again = await hide(client, people["moderator"], article["slug"], "another reason")
    assert again.status_code == 200
    assert again.json()["article"]["moderation"]["reason"] == "spam"
    unhide = f"/api/moderation/articles/{article['slug']}/unhide"
    await client.post(unhide, headers=people["moderator"].headers)
    await client.post(unhide, headers=people["moderator"].headers)
    assert await log_actions(client, people["admin"]) == [
        "unhide_article", "hide_article", "set_role"
    ]


async def test_hiding_needs_a_reason_and_a_visible_article(client):
    people = await cast(client)
    article = await create_article(client, people["author"])
    mod = people["moderator"].headers
    blank = await client.post(f"/api/moderation/articles/{article['slug']}/hide",
                              json={"reason": "  "}, headers=mod)
    assert blank.status_code == 422
    missing = await client.post(f"/api/moderation/articles/{article['slug']}/hide", headers=mod)
    assert missing.status_code == 422
    assert (await hide(client, people["moderator"], "nope")).status_code == 404
    draft = await create_article(client, people["author"], status="draft")
    assert (await hide(client, people["moderator"], draft["slug"])).status_code == 404


async def test_a_hidden_comment_shows_only_to_its_author_and_its_reports_resolve(client):
    people = await cast(client)
    article = await create_article(client, people["author"])
    slug = article["slug"]
    comment = await add_comment(client, people["other"], slug, body="buy pills")
    await client.post(f"/api/articles/{slug}/comments/{comment['id']}/reports",
                      json={"report": {"reason": "spam"}}, headers=people["reader"].headers)
    hidden = await client.post(f"/api/moderation/comments/{comment['id']}/hide",
                               json={"reason": "spam"}, headers=people["moderator"].headers)
    assert hidden.status_code == 200, hidden.text
    assert hidden.json()["comment"] == {"id": comment["id"], "body": "buy pills",
                                        "author": people["other"].username,
                                        "moderation": {"hidden": True, "reason": "spam"}}

    async def listed(who: Account | None) -> list[dict]:
        headers = who.headers if who else {}
        return (await client.get(f"/api/articles/{slug}/comments", headers=headers)
                ).json()["comments"]

    assert await listed(None) == [] and await listed(people["reader"]) == []
    own = await listed(people["other"])
    assert own[0]["moderation"] == {"hidden": True, "reason": "spam"}
    assert await collection(Report).count_documents({"status": "open"}) == 0
    shown = await client.post(f"/api/moderation/comments/{comment['id']}/unhide",
                              headers=people["moderator"].headers)
    assert shown.status_code == 200 and "moderation" not in shown.json()["comment"]
    assert [c["id"] for c in await listed(None)] == [comment["id"]]
    assert (await client.post("/api/moderation/comments/999/hide", json={"reason": "x"},
                              headers=people["moderator"].headers)).status_code == 404
    assert await log_actions(client, people["admin"]) == [
        "unhide_comment", "hide_comment", "set_role"
    ]


# --- suspension -------------------------------------------------------------------------------


async def test_a_suspended_account_cannot_write_and_its_sessions_end(client):
    people = await cast(client)
    author = people["author"]
    article = await create_article(client, people["other"])
    until = (datetime.now(UTC) + timedelta(days=7)).replace(microsecond=0)
    suspended = await client.post(
        f"/api/moderation/users/{author.username}/suspend",
        json={"reason": "spamming", "until": until.isoformat()},
        headers=people["moderator"].headers,
    )
    assert suspended.status_code == 200, suspended.text
    assert suspended.json()["user"]["suspension"]["reason"] == "spamming"
    # Every session ended: the old token is refused.
    assert (await client.get("/api/user", headers=author.headers)).status_code == 401
    login = await client.post("/api/users/login",
                              json={"user": {"email": author.email, "password": PASSWORD}})
    assert login.status_code == 200  # signing in (and reading) still works
    again = Account(author.username, author.email, login.json()["user"]["token"])
    me = (await client.get("/api/user", headers=again.headers)).json()["user"]
    assert me["suspension"]["reason"] == "spamming" and me["suspension"]["until"].startswith(
        until.strftime("%Y-%m-%dT%H:%M:%S"))
    writes = [
        client.post("/api/articles", json={"article": {"title": "t", "description": "d",
                                                       "body": "b"}}, headers=again.headers),
        client.post(f"/api/articles/{article['slug']}/comments",
                    json={"comment": {"body": "hi"}}, headers=again.headers),
        client.post(f"/api/articles/{article['slug']}/favorite", headers=again.headers),
        client.post(f"/api/profiles/{people['other'].username}/follow", headers=again.headers),
        client.put("/api/user", json={"user": {"bio": "hi"}}, headers=again.headers),
        client.post(f"/api/articles/{article['slug']}/reports",
                    json={"report": {"reason": "spam"}}, headers=again.headers),
    ]
    for response in await asyncio.gather(*writes):
        assert response.status_code == 403, response.text
        [message] = response.json()["errors"]["user"]
        assert message.startswith("is suspended until ") and message.endswith(": spamming")
    assert (await client.get(f"/api/articles/{article['slug']}", headers=again.headers)
            ).status_code == 200
    lifted = await client.post(f"/api/moderation/users/{author.username}/unsuspend",
                               headers=people["moderator"].headers)
    assert lifted.json()["user"]["suspension"] is None
    assert (await client.post(f"/api/articles/{article['slug']}/favorite",
                              headers=again.headers)).status_code == 200
    assert await log_actions(client, people["admin"]) == [
        "unsuspend_user", "suspend_user", "set_role"
    ]


async def test_a_suspension_ends_by_itself_at_until(client):
    people = await cast(client)
    author = people["author"]
    await client.post(f"/api/moderation/users/{author.username}/suspend",
                      json={"reason": "cool off"}, headers=people["moderator"].headers)
    login = await client.post("/api/users/login",
                              json={"user": {"email": author.email, "password": PASSWORD}})
    headers = {"Authorization": f"Token {login.json()['user']['token']}"}
    blocked = await client.post("/api/articles", json={"article": {
        "title": "t", "description": "d", "body": "b"}}, headers=headers)
    assert blocked.json() == {"errors": {"user": ["is suspended: cool off"]}}
    await collection(User).update_one(
        {"username": author.username},
        {"$set": {"suspension.until": datetime.now(UTC) - timedelta(seconds=1)}},
    )
    allowed = await client.post("/api/articles", json={"article": {
        "title": "t", "description": "d", "body": "b"}}, headers=headers)
    assert allowed.status_code == 201
    assert "suspension" not in (await client.get("/api/user", headers=headers)).json()["user"]


async def test_moderators_suspend_authors_only_and_admins_anyone_but_themselves(client):
    people = await cast(client)
    mod, admin = people["moderator"].headers, people["admin"].headers
    body = {"reason": "r"}
    second = await register(client)
    await client.put(f"/api/moderation/users/{second.username}",
                     json={"user": {"role": "moderator"}}, headers=admin)
    on_moderator = await client.post(f"/api/moderation/users/{second.username}/suspend",
                                     json=body, headers=mod)
    assert on_moderator.status_code == 403
    assert on_moderator.json() == {"errors": {"user": [
        "is a moderator; only an admin can do that"]}}
    assert (await client.post(f"/api/moderation/users/{ADMIN}/suspend", json=body, headers=mod)
            ).status_code == 403
    assert (await client.post(f"/api/moderation/users/{people['moderator'].username}/suspend",
                              json=body, headers=mod)).json() == {
        "errors": {"user": ["cannot be yourself"]}}
    assert (await client.post(f"/api/moderation/users/{second.username}/suspend", json=body,
                              headers=admin)).status_code == 200
    assert (await client.post(f"/api/moderation/users/{ADMIN}/suspend", json=body,
                              headers=admin)).status_code == 403
    past = await client.post(f"/api/moderation/users/{people['author'].username}/suspend",
                             json={"reason": "r", "until": "2000-01-01T00:00:00Z"}, headers=mod)
    assert past.status_code == 422 and past.json()["errors"]["until"] == ["must be in the future"]
    naive = await client.post(f"/api/moderation/users/{people['author'].username}/suspend",
                              json={"reason": "r", "until": "2099-01-01T00:00:00"}, headers=mod)
    assert naive.status_code == 422
    assert (await client.post("/api/moderation/users/nobody/suspend", json=body, headers=mod)
            ).status_code == 404


async def test_a_suspended_moderator_cannot_moderate(client):
    people = await cast(client)
    await client.post(f"/api/moderation/users/{people['moderator'].username}/suspend",
                      json={"reason": "r"}, headers=people["admin"].headers)
    login = await client.post("/api/users/login", json={"user": {
        "email": people["moderator"].email, "password": PASSWORD}})
    headers = {"Authorization": f"Token {login.json()['user']['token']}"}
    article = await create_article(client, people["author"])
    refused = await client.post(f"/api/moderation/articles/{article['slug']}/hide",
                                json={"reason": "x"}, headers=headers)
    assert refused.status_code == 403


# --- the log and who may do what --------------------------------------------------------------


async def test_the_log_pages_newest_first_and_keeps_names_as_they_were(client):
    people = await cast(client)
    for n in range(3):
        article = await create_article(client, people["author"], title=f"Log {n}")
        await hide(client, people["moderator"], article["slug"], f"reason {n}")
    admin = people["admin"].headers
    first = (await client.get("/api/moderation/log", params={"limit": 2}, headers=admin)).json()
    assert [e["reason"] for e in first["entries"]] == ["reason 2", "reason 1"]
    entry = first["entries"][0]
    assert entry["actor"] == people["moderator"].username and entry["targetType"] == "article"
    assert entry["target"] == "log-2" and entry["details"] == {"reports_resolved": 0}
    rest = (await client.get("/api/moderation/log", params={"limit": 2,
                                                            "cursor": first["nextCursor"]},
                             headers=admin)).json()
    assert [e["action"] for e in rest["entries"]] == ["hide_article", "set_role"]
    assert await collection(ModerationEntry).count_documents({}) == 4


ANYONE, SIGNED_IN, MODERATORS, ADMINS = "anyone", "signed in", "moderators", "admins"


def endpoints(slug: str, comment_id: int, report_id: str, target: str,
              media_id: str = "{id}") -> list[tuple]:
    """Every moderation endpoint: (method, path, body, who may call it)."""
    return [
        ("POST", f"/api/articles/{slug}/reports", {"report": {"reason": "spam"}}, SIGNED_IN),
        ("POST", f"/api/articles/{slug}/comments/{comment_id}/reports",
         {"report": {"reason": "spam"}}, SIGNED_IN),
        ("GET", "/api/moderation/reports", None, MODERATORS),
        ("POST", f"/api/moderation/reports/{report_id}/dismiss", None, MODERATORS),
        ("POST", f"/api/moderation/articles/{slug}/hide", {"reason": "x"}, MODERATORS),
        ("POST", f"/api/moderation/articles/{slug}/unhide", None, MODERATORS),
        ("POST", f"/api/moderation/comments/{comment_id}/hide", {"reason": "x"}, MODERATORS),
        ("POST", f"/api/moderation/comments/{comment_id}/unhide", None, MODERATORS),
        ("POST", f"/api/moderation/media/{media_id}/hide", {"reason": "x"}, MODERATORS),
        ("POST", f"/api/moderation/media/{media_id}/unhide", None, MODERATORS),
        ("POST", f"/api/moderation/users/{target}/suspend", {"reason": "x"}, MODERATORS),
        ("POST", f"/api/moderation/users/{target}/unsuspend", None, MODERATORS),
        ("PUT", f"/api/moderation/users/{target}", {"user": {"role": "author"}}, ADMINS),
        ("GET", "/api/moderation/log", None, ADMINS),
    ]


ALLOWED = {
    SIGNED_IN: {"author", "moderator", "admin"},
    MODERATORS: {"moderator", "admin"},
    ADMINS: {"admin"},
}


async def test_every_moderation_endpoint_answers_401_then_403_by_role(client):
    people = await cast(client)
    article = await create_article(client, people["other"])
    comment = await add_comment(client, people["other"], article["slug"])
    report = (await client.post(f"/api/articles/{article['slug']}/reports",
                                json={"report": {"reason": "spam"}},
                                headers=people["reader"].headers)).json()["report"]
    media = await insert_media(await user_id(people["other"].username))
    table = endpoints(article["slug"], comment["id"], report["id"], people["reader"].username,
                      str(media["_id"]))
    callers = {"anonymous": None, "author": people["author"], "moderator": people["moderator"],
               "admin": people["admin"]}
    seen = []
    for method, path, body, who in table:
        for role, account in callers.items():
            headers = account.headers if account else {}
            response = await client.request(method, path, json=body, headers=headers)
            if account is None:
                expected = {401}
            elif role in ALLOWED[who]:
                expected = {200, 201}
            else:
                expected = {403}
            assert response.status_code in expected, (method, path, role, response.text)
            seen.append(response.status_code)
    # Authors are refused the 10 moderator endpoints, authors and moderators the 2 admin ones.
    assert seen.count(401) == len(table) and seen.count(403) == 10 + 2 * 2


async def test_the_openapi_document_describes_every_moderation_endpoint_with_its_errors(client):
    spec = (await client.get("/openapi.json")).json()
    table = endpoints("{slug}", 0, "{id}", "{username}")
    for method, path, _, who in table:
        path = path.replace("/0/", "/{id}/").replace("/0", "/{id}")
        operation = spec["paths"][path][method.lower()]
        documented = set(operation["responses"])
        expected = {"401", "404", "422"} | ({"403"} if who != SIGNED_IN else set())
        assert expected <= documented, (method, path, documented)
        assert operation["responses"]["401"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorEnvelope"
        }


async def test_a_report_whose_target_is_deleted_while_it_is_filed_is_taken_back(client, monkeypatch):
    # The article goes (with its reports) between the by-slug read and the report's insert.
    people = await cast(client)
    article = await create_article(client, people["author"])
    from service.moderation import reports as report_queries

    class ArticleGoesFirst:
        """The reports collection, but the article is deleted just before each insert."""

        def __init__(self, reports):
            self.reports = reports

        def __getattr__(self, name):
            return getattr(self.reports, name)

        async def insert_one(self, document, *args, **kwargs):
            await collection(Article).delete_one({"slug": article["slug"]})
            return await self.reports.insert_one(document, *args, **kwargs)

    def patched(model):
        found = collection(model)
        return ArticleGoesFirst(found) if model is Report else found

    monkeypatch.setattr(report_queries, "collection", patched)
    response = await client.post(f"/api/articles/{article['slug']}/reports",
                                 json={"report": {"reason": "spam"}},
                                 headers=people["reader"].headers)
    assert response.status_code == 404
    assert await collection(Report).count_documents({}) == 0


@pytest.mark.parametrize("comment_id", ["0", "-1", str(2**63)])
async def test_comment_ids_outside_bson_int64_answer_422_not_500(client, comment_id):
    # Past int64 PyMongo could not even encode the filter (a 500 on MongoDB).
    people = await cast(client)
    response = await client.post(f"/api/moderation/comments/{comment_id}/hide",
                                 json={"reason": "x"}, headers=people["moderator"].headers)
    assert response.status_code == 422 and "id" in response.json()["errors"]


async def test_the_queue_costs_a_bounded_number_of_round_trips_and_two_when_empty(client):
    people = await cast(client)
    mod = people["moderator"].headers

    async def trips(params: dict) -> int:
        with oplog.recording() as log:
            assert (await client.get("/api/moderation/reports", params=params,
                                     headers=mod)).status_code == 200
        return len(log)

    # The caller's account, then the page and its total.
    assert await trips({"status": "resolved"}) == 3
    for n in range(3):
        article = await create_article(client, people["author"], title=f"Queued {n}")
        await client.post(f"/api/articles/{article['slug']}/reports",
                          json={"report": {"reason": "spam"}}, headers=people["reader"].headers)
    # The open queue reads the pending report sweeps first; then the page's articles,
    # comments and counts, then one `$in` for every name.
    assert await trips({"limit": 1}) == await trips({"limit": 3}) == 8


async def test_hiding_showing_and_deleting_comments_keep_the_hidden_count_and_totals(client):
    """Issue 18, point 7: the hidden count moves with hide, unhide and delete, and every
    comment total (anonymous, a reader, the hidden comment's author on a later page) is read
    from the article's counters."""
    people = await cast(client)
    slug = (await create_article(client, people["author"]))["slug"]
    mine = [await add_comment(client, people["other"], slug, body=f"o{n}") for n in range(3)]
    await add_comment(client, people["author"], slug, body="a")
    mod = people["moderator"].headers

    async def counters() -> tuple[int, int]:
        found = await collection(Article).find_one({"slug": slug})
        return found["comments_count"], found.get("hidden_comments_count", 0)

    async def total(who: Account | None, params: dict | None = None) -> int:
        answer = await client.get(f"/api/articles/{slug}/comments", params=params or {"limit": 1},
                                  headers=who.headers if who else {})
        return answer.json()["commentsCount"]

    for comment in mine[:2]:
        hidden = await client.post(f"/api/moderation/comments/{comment['id']}/hide",
                                   json={"reason": "spam"}, headers=mod)
        assert hidden.status_code == 200
    again = await client.post(f"/api/moderation/comments/{mine[0]['id']}/hide",
                              json={"reason": "spam"}, headers=mod)
    assert again.status_code == 200  # already hidden: nothing moves
    assert await counters() == (4, 2)
    assert await total(None) == 2 and await total(people["reader"]) == 2
    assert await total(people["other"]) == 4  # their own hidden ones count for them
    assert await total(people["other"], {"limit": 1, "offset": 1}) == 4
    shown = await client.post(f"/api/moderation/comments/{mine[1]['id']}/unhide", headers=mod)
    assert shown.status_code == 200
    assert await counters() == (4, 1)
    deleted = await client.delete(f"/api/articles/{slug}/comments/{mine[0]['id']}",
                                  headers=people["other"].headers)
    assert deleted.status_code == 204
    assert await counters() == (3, 0)
    assert await total(None) == 3


# --- resolving reports after the action (issue 18, point 10) -----------------------------------


async def report_many(client, slug: str, count: int) -> list[Account]:
    """`count` readers each report the article."""
    readers = [await register(client) for _ in range(count)]
    for reader in readers:
        filed = await client.post(f"/api/articles/{slug}/reports",
                                  json={"report": {"reason": "spam"}}, headers=reader.headers)
        assert filed.status_code == 201, filed.text
    return readers


async def test_hiding_resolves_reports_in_bounded_batches_outside_its_transaction(
    client, monkeypatch
):
    """The action's writes are the article, its log entry and one sweep; the reports are
    marked afterwards in batches of SWEEP_BATCH, none of them in the action's transaction."""
    from service.moderation import sweeps

    monkeypatch.setattr(sweeps, "SWEEP_BATCH", 2)
    monkeypatch.setattr(sweeps, "INLINE_BATCHES", 10)
    people = await cast(client)
    slug = (await create_article(client, people["author"]))["slug"]
    await report_many(client, slug, 5)
    with oplog.recording() as log:
        assert (await hide(client, people["moderator"], slug)).status_code == 200
    marks = [op for op in log.details if op.collection == "reports"
             and op.name in ("update_many", "update")]  # the embedded engine / the wire
    assert len(marks) == 3  # 2 + 2 + 1
    assert all(len(op.filter["_id"]["$in"]) <= 2 for op in marks)
    assert await collection(Report).count_documents({"status": "open"}) == 0
    assert await collection(Report).count_documents({"resolution": "hidden"}) == 5
    assert await collection(ReportSweep).count_documents({}) == 0  # deleted last
    entry = (await client.get("/api/moderation/log", headers=people["admin"].headers)
             ).json()["entries"][0]
    assert entry["details"] == {"reports_resolved": 5}


async def test_a_sweep_a_stopped_process_left_is_hidden_from_the_queue_and_finished_later(
    client, monkeypatch
):
    """A process dies after a dismissal commits, before the reports are marked: the queue
    already leaves them out (page and total), a new report by one of those readers is taken,
    and the periodic pass finishes the rest."""
    from service.moderation import sweeps

    async def dies(sweep, max_batches=None):
        return False  # nothing marked, the sweep stays

    people = await cast(client)
    slug = (await create_article(client, people["author"]))["slug"]
    other = (await create_article(client, people["author"]))["slug"]
    readers = await report_many(client, slug, 3)
    await report_many(client, other, 1)
    mod = people["moderator"].headers
    queue = (await client.get("/api/moderation/reports", headers=mod)).json()
    assert queue["reportsCount"] == 4
    named, named_by = next((r["id"], r["reporter"]) for r in queue["reports"]
                           if r["target"]["slug"] == slug)
    monkeypatch.setattr(sweeps, "run_sweep", dies)  # the process stops right after commit
    monkeypatch.setattr(sweeps, "_finish_in_background", dies)
    dismissed = await client.post(f"/api/moderation/reports/{named}/dismiss", headers=mod)
    monkeypatch.undo()
    assert dismissed.json()["report"]["status"] == "resolved"  # the named one, at once
    assert await collection(Report).count_documents({"status": "open"}) == 3  # 2 not marked yet
    queue = (await client.get("/api/moderation/reports", headers=mod)).json()
    assert queue["reportsCount"] == 1
    assert [r["target"]["slug"] for r in queue["reports"]] == [other]
    # A reader reporting again files a new open report (their old one is resolved first, as
    # the sweep would), and the queue shows it: it came after the decision.
    unmarked = next(r for r in readers if r.username != named_by)
    again = await client.post(f"/api/articles/{slug}/reports",
                              json={"report": {"reason": "abuse"}}, headers=unmarked.headers)
    assert again.status_code == 201, again.text
    queue = (await client.get("/api/moderation/reports", headers=mod)).json()
    assert queue["reportsCount"] == 2
    assert await sweeps.finish_sweeps() == 1
    assert await collection(ReportSweep).count_documents({}) == 0
    assert await collection(Report).count_documents({"resolution": "dismissed"}) == 3
    assert await collection(Report).count_documents({"status": "open"}) == 2


async def test_the_queue_total_is_counted_up_to_a_cap_and_says_when_there_are_more(
    client, monkeypatch
):
    # Resolved reports are never deleted: an exact total would read an ever-growing index
    # range on every page. The count stops one past the cap, and the answer says "more".
    from service.moderation import reports as report_queries

    monkeypatch.setattr(report_queries, "QUEUE_COUNT_CAP", 2)
    people = await cast(client)
    mod = people["moderator"].headers
    for n in range(3):
        article = await create_article(client, people["author"], title=f"Capped {n}")
        await client.post(f"/api/articles/{article['slug']}/reports",
                          json={"report": {"reason": "spam"}}, headers=people["reader"].headers)
    original, limits = report_queries.collection, []

    class Counting:
        """The reports collection, noting each count's limit."""

        def __init__(self, model):
            self._inner = original(model)

        def __getattr__(self, name):
            return getattr(self._inner, name)

        async def count_documents(self, condition, **options):
            limits.append(options.get("limit"))
            return await self._inner.count_documents(condition, **options)

    monkeypatch.setattr(report_queries, "collection",
                        lambda model: Counting(model) if model is Report else original(model))
    page = (await client.get("/api/moderation/reports", params={"limit": 1}, headers=mod)).json()
    assert (page["reportsCount"], page["reportsCountCapped"]) == (2, True)
    assert limits == [3]  # the database stops counting one past the cap
    resolved = (await client.get("/api/moderation/reports", params={"status": "resolved"},
                                 headers=mod)).json()
    assert (resolved["reportsCount"], resolved["reportsCountCapped"]) == (0, False)
    monkeypatch.setattr(report_queries, "QUEUE_COUNT_CAP", 3)
    page = (await client.get("/api/moderation/reports", headers=mod)).json()
    assert (page["reportsCount"], page["reportsCountCapped"]) == (3, False)  # exact to the cap


async def test_comment_moderation_answers_404_for_comments_on_drafts_the_moderator_cannot_see(
    client,
):
    people = await cast(client)
    draft = await create_article(client, people["author"], status="draft")
    comment = await add_comment(client, people["author"], draft["slug"], "private note")
    for action, body in (("hide", {"reason": "spam"}), ("unhide", None)):
        answer = await client.post(f"/api/moderation/comments/{comment['id']}/{action}",
                                   json=body, headers=people["moderator"].headers)
        assert answer.status_code == 404, answer.text
        assert answer.json() == {"errors": {"comment": ["not found"]}}
        assert "private note" not in answer.text
    assert await log_actions(client, people["admin"]) == ["set_role"]
    # Once the author publishes it, its comments are the moderators' to act on.
    await client.put(f"/api/articles/{draft['slug']}", headers=people["author"].headers,
                     json={"article": {"status": "published"}})
    hidden = await client.post(f"/api/moderation/comments/{comment['id']}/hide",
                               json={"reason": "spam"}, headers=people["moderator"].headers)
    assert hidden.status_code == 200, hidden.text
    shown = await client.post(f"/api/moderation/comments/{comment['id']}/unhide",
                              json={"reason": "appeal"}, headers=people["moderator"].headers)
    assert shown.status_code == 200, shown.text
    assert await log_actions(client, people["admin"]) == ["unhide_comment", "hide_comment",
                                                          "set_role"]
