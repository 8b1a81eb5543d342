"""An independent end-to-end check of issue 12: a publication run by five people over HTTP.

    python -m tools.e2e_publication [--base-url http://127.0.0.1:8000 --admin NAME]

Without `--base-url` it starts its own `uvicorn service.main:app` on a free port (the embedded
engine, `FOLIO_ADMINS` naming its admin, rate limits off, cheap argon2) and stops it at the end.
With `--base-url` it plays against that server, whose `FOLIO_ADMINS` must hold `--admin`.

An admin, a moderator (promoted by the admin), two authors and a reporter go through roles,
ETags (304 and 412), revisions and restore, comment editing and paging, reports, hiding articles
and comments (checked in every list, the feed, tags, search, analytics and Atom), suspension, the
audit log and account deletion, which must leave every counter consistent. Every check prints
one line, PASS or FAIL; the exit status is 1 if any failed. Names carry a random suffix, so a run
never meets the data of another.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import httpx

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "e2e-password-123"
STALE = {"errors": {"article": ["was changed by someone else"]}}
STALE_COMMENT = {"errors": {"comment": ["was changed by someone else"]}}


# --- checks ---------------------------------------------------------------------------------


class Checks:
    """Counts and prints checks: one line each, PASS or FAIL."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed: list[str] = []
        self.section = ""

    def ok(self, condition: bool, what: str, detail: Any = None) -> bool:
        """Record one check; print its line (with the detail when it fails)."""
        label = f"[{self.section}] {what}" if self.section else what
        if condition:
            self.passed += 1
            print(f"PASS {label}", flush=True)
        else:
            self.failed.append(label)
            suffix = f" -- {detail}" if detail is not None else ""
            print(f"FAIL {label}{suffix}", flush=True)
        return condition

    def eq(self, actual: Any, expected: Any, what: str) -> bool:
        """Check equality, showing both values when they differ."""
        return self.ok(actual == expected, what, f"expected {expected!r}, got {actual!r}")

    def status(self, response: httpx.Response, code: int, what: str) -> bool:
        """Check a response's status code, showing the body when it differs."""
        return self.ok(
            response.status_code == code,
            f"{what} -> {code}",
            f"{response.request.method} {response.request.url.path}"
            f"{'?' + response.request.url.query.decode() if response.request.url.query else ''}"
            f" answered {response.status_code}: {response.text[:300]}",
        )

    def body(self, response: httpx.Response, expected: Any, what: str) -> bool:
        """Check a JSON body exactly."""
        try:
            actual = response.json()
        except ValueError:
            actual = response.text
        return self.eq(actual, expected, what)

    @contextmanager
    def flow(self, name: str) -> Iterator[None]:
        """Run one flow; an exception inside it counts as one failed check and the run goes on."""
        self.section = name
        print(f"\n== {name}", flush=True)
        try:
            yield
        except Exception as error:  # a crash is a failure to report, not a reason to stop
            traceback.print_exc()
            self.ok(False, f"flow ran to its end ({type(error).__name__}: {error})")
        finally:
            self.section = ""


# --- the server -----------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`uvicorn service.main:app` on the embedded engine, as a child process."""

    def __init__(self, admin: str, port: int) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.log = tempfile.NamedTemporaryFile(prefix="folio-e2e-", suffix=".log", delete=False)
        env = dict(os.environ)
        env.pop("FOLIO_MONGODB_URL", None)  # the embedded engine
        env.update({
            "FOLIO_ADMINS": admin,
            "FOLIO_RATE_LIMITS_ENABLED": "false",
            "FOLIO_ARGON2_TIME_COST": "1",
            "FOLIO_ARGON2_MEMORY_COST_KIB": "8",
            "FOLIO_ARGON2_PARALLELISM": "1",
        })
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "service.main:app",
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )

    def wait_until_up(self, seconds: float = 30) -> None:
        """Poll /healthz until it answers 200; raise with the server's log if it never does."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server did not answer within {seconds} s:\n{self.tail()}")

    def tail(self) -> str:
        """The end of the server's output."""
        return Path(self.log.name).read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        """SIGTERM the server by its PID, SIGKILL it if it lingers, and remove its log."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


# --- people -----------------------------------------------------------------------------------


class Person:
    """One account and its HTTP client; `token` None means anonymous."""

    def __init__(self, base_url: str, username: str | None) -> None:
        self.username = username or "anonymous"
        self.email = f"{username}@e2e.folio.test" if username else None
        self.token: str | None = None
        self.http = httpx.Client(base_url=base_url, timeout=30)

    def request(self, method: str, path: str, *, token: str | None = None,
                headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        """Send a request as this person (or with another token)."""
        sent = dict(headers or {})
        token = token or self.token
        if token:
            sent["Authorization"] = f"Token {token}"
        return self.http.request(method, path, headers=sent, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET as this person."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        """POST JSON as this person."""
        return self.request("POST", path, json=json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        """PUT JSON as this person."""
        return self.request("PUT", path, json=json, **kwargs)

    def delete(self, path: str, json: Any = None, **kwargs: Any) -> httpx.Response:
        """DELETE (with an optional JSON body) as this person."""
        return self.request("DELETE", path, json=json, **kwargs)

    def register(self) -> httpx.Response:
        """Sign up; keeps the token."""
        response = self.post("/api/users", {"user": {
            "username": self.username, "email": self.email, "password": PASSWORD}})
        if response.status_code == 201:
            self.token = response.json()["user"]["token"]
        return response

    def login(self, password: str = PASSWORD) -> httpx.Response:
        """Sign in; keeps the new token."""
        response = self.http.post("/api/users/login", json={
            "user": {"email": self.email, "password": password}})
        if response.status_code == 200:
            self.token = response.json()["user"]["token"]
        return response

    def article(self, slug: str) -> httpx.Response:
        """GET one article."""
        return self.get(f"/api/articles/{slug}")

    def slugs(self, path: str = "/api/articles", **params: Any) -> tuple[list[str], int]:
        """The slugs of one list page (limit 100) and its articlesCount."""
        response = self.get(path, params={"limit": 100, **params})
        response.raise_for_status()
        data = response.json()
        return [a["slug"] for a in data["articles"]], data["articlesCount"]

    def comments(self, slug: str, **params: Any) -> httpx.Response:
        """GET an article's comments."""
        return self.get(f"/api/articles/{slug}/comments", params=params)

    def close(self) -> None:
        """Close the HTTP client."""
        self.http.close()


def at_once(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Send requests concurrently, each from its own thread, released together."""
    barrier = threading.Barrier(len(calls))

    def go(call: Callable[[], httpx.Response]) -> httpx.Response:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(go, calls))


def etag_version(etag: str) -> int:
    """The version inside an article ETag `"<id>-<version>-<digest>"`."""
    return int(etag.strip('"').split("-")[1])


def timestamp(text: str) -> datetime:
    """Parse the API's `2026-01-02T03:04:05.678Z`."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def atom(person: Person, **params: Any) -> tuple[int, Any]:
    """GET an Atom feed; its status and, when 200, the parsed feed."""
    response = person.get("/feeds/articles.atom", params=params)
    return response.status_code, (feedparser.parse(response.content)
                                  if response.status_code == 200 else None)


def in_feed(feed: Any, title: str) -> bool:
    """Whether a parsed feed has an entry with that title."""
    return any(entry.get("title") == title for entry in feed.entries)


# --- the play -------------------------------------------------------------------------------


class Play:
    """The five people, the articles and comments they write, and the checks on them."""

    def __init__(self, base_url: str, admin: str, checks: Checks, own_server: bool) -> None:
        self.c = checks
        self.own_server = own_server  # then the play's data is all the data
        self.sfx = secrets.token_hex(3)
        sfx = self.sfx
        self.admin = Person(base_url, admin)
        self.mod = Person(base_url, f"mod_{sfx}")
        self.alice = Person(base_url, f"alice_{sfx}")
        self.bob = Person(base_url, f"bob_{sfx}")
        self.reader = Person(base_url, f"reader_{sfx}")
        self.anon = Person(base_url, None)
        self.people = [self.admin, self.mod, self.alice, self.bob, self.reader]
        self.common, self.only_a1 = f"e2e{sfx}-common", f"e2e{sfx}-alice"
        self.bobtag, self.extra = f"e2e{sfx}-bob", f"e2e{sfx}-extra"
        self.word = f"quokka{sfx}"
        self.articles: dict[str, dict[str, Any]] = {}  # key -> {slug, title, author}
        self.comment_ids: dict[str, int] = {}
        self.expected_log: list[tuple[str, str]] = []  # (action, target), in order performed
        self.until = (datetime.now(UTC) + timedelta(days=30)).replace(microsecond=0)

    def slug(self, key: str) -> str:
        """The slug of one of the play's articles."""
        return self.articles[key]["slug"]

    def run(self) -> None:
        """Play every flow in order."""
        for name, flow in [
            ("accounts and roles", self.roles),
            ("articles, follows, favorites, comments", self.content),
            ("ETags", self.etags),
            ("revisions", self.revisions),
            ("comment editing and paging", self.comment_editing),
            ("reports", self.reports),
            ("hiding an article", self.hide_article),
            ("hiding a comment", self.hide_comment),
            ("suspension", self.suspension),
            ("moderation log", self.moderation_log),
            ("account deletion", self.account_deletion),
        ]:
            with self.c.flow(name):
                flow()

    # --- roles ---

    def roles(self) -> None:
        """Sign-ups, the FOLIO_ADMINS admin, promotion, and who may change roles."""
        c = self.c
        for person in self.people:
            response = person.register()
            if person is self.admin and response.status_code == 409:  # --base-url, run before
                c.status(person.login(), 200, f"{person.username} signs in (already registered)")
                continue
            c.status(response, 201, f"{person.username} registers")
            c.ok("role" not in response.json().get("user", {}),
                 f"{person.username}: the registration answer is the RealWorld user (no role)")
        me = self.admin.get("/api/user")
        c.eq(me.json()["user"].get("role"), "admin", "the FOLIO_ADMINS user is admin in GET /api/user")
        c.eq(self.alice.get("/api/user").json()["user"].get("role"), "author",
             "a new account is an author")
        promote = {"user": {"role": "moderator"}}
        path = f"/api/moderation/users/{self.mod.username}"
        c.status(self.anon.put(path, promote), 401, "anonymous changes a role")
        c.status(self.mod.put(path, promote), 403, "an author promotes themself")
        c.status(self.reader.put(path, promote), 403, "an author promotes someone")
        response = self.admin.put(path, promote)
        c.status(response, 200, "the admin makes an account moderator")
        c.eq(response.json().get("user", {}).get("role"), "moderator", "the answer shows the new role")
        self.expected_log.append(("set_role", self.mod.username))
        c.eq(self.mod.get("/api/user").json()["user"].get("role"), "moderator",
             "the moderator sees the role in GET /api/user")
        c.status(self.mod.put(f"/api/moderation/users/{self.reader.username}", promote), 403,
                 "a moderator changes a role")
        own = self.admin.put(f"/api/moderation/users/{self.admin.username}",
                             {"user": {"role": "author"}})
        c.status(own, 403, "the admin changes their own role")
        c.body(own, {"errors": {"user": ["cannot change your own role"]}}, "its envelope")
        c.status(self.admin.put(path, {"user": {"role": "admin"}}), 200,
                 "the admin makes the moderator an admin for a moment")
        self.expected_log.append(("set_role", self.mod.username))
        demote = self.mod.put(f"/api/moderation/users/{self.admin.username}",
                              {"user": {"role": "author"}})
        c.status(demote, 409, "a second admin demotes the FOLIO_ADMINS admin")
        c.ok("role" in demote.json().get("errors", {}), "its envelope names the role",
             demote.json())
        c.eq(self.admin.get("/api/user").json()["user"].get("role"), "admin",
             "the FOLIO_ADMINS admin is still admin")
        c.status(self.admin.put(path, promote), 200, "the admin makes them moderator again")
        self.expected_log.append(("set_role", self.mod.username))
        c.eq(self.mod.get("/api/user").json()["user"].get("role"), "moderator",
             "the moderator is a moderator again (token still good)")
        c.status(self.admin.put("/api/moderation/users/nobody-" + self.sfx, promote), 404,
                 "the admin changes the role of an unknown user")
        for person in (self.admin, self.mod):
            for viewer in (self.anon, self.reader):
                profile = viewer.get(f"/api/profiles/{person.username}")
                c.status(profile, 200, f"{viewer.username} reads {person.username}'s profile")
                c.ok("role" not in profile.json()["profile"],
                     f"{person.username}'s profile shows no role to {viewer.username}",
                     profile.json())
        for who, expected in ((self.anon, 401), (self.reader, 403), (self.mod, 403)):
            c.status(who.get("/api/moderation/log"), expected, f"{who.username} reads the log")
        for who, expected in ((self.anon, 401), (self.reader, 403)):
            c.status(who.get("/api/moderation/reports"), expected,
                     f"{who.username} reads the report queue")
            c.status(who.post(f"/api/moderation/users/{self.bob.username}/suspend",
                              {"reason": "x"}), expected, f"{who.username} suspends an author")
        c.status(self.mod.get("/api/moderation/reports"), 200, "the moderator reads the queue")
        c.status(self.admin.get("/api/moderation/reports"), 200, "the admin reads the queue")

    # --- content ---

    def write(self, person: Person, key: str, title: str, body: str, tags: list[str]) -> None:
        """Publish one article and remember it."""
        response = person.post("/api/articles", {"article": {
            "title": title, "description": f"about {title}", "body": body, "tagList": tags}})
        self.c.status(response, 201, f"{person.username} publishes {key}")
        article = response.json()["article"]
        self.articles[key] = {"slug": article["slug"], "title": title, "author": person}

    def comment(self, person: Person, key: str, name: str, body: str) -> int:
        """Comment on one of the play's articles; remember the comment's id."""
        response = person.post(f"/api/articles/{self.slug(key)}/comments",
                               {"comment": {"body": body}})
        self.c.status(response, 201, f"{person.username} comments on {key} ({name})")
        self.comment_ids[name] = response.json()["comment"]["id"]
        return self.comment_ids[name]

    def content(self) -> None:
        """Two authors publish; the reporter follows and favorites; everyone comments."""
        c, sfx = self.c, self.sfx
        self.a1_v1 = {
            "title": f"Alice's field notes {sfx}",
            "description": f"about Alice's field notes {sfx}",
            "body": f"The {self.word} is a small marsupial. Version one.",
            "tagList": sorted([self.common, self.only_a1]),
        }
        self.write(self.alice, "a1", self.a1_v1["title"], self.a1_v1["body"], self.a1_v1["tagList"])
        self.write(self.alice, "a2", f"Alice's second post {sfx}", "Plain text.", [self.common])
        self.write(self.bob, "b1", f"Bob's essay {sfx}", "An essay.", [self.common, self.bobtag])
        self.write(self.bob, "b2", f"Bob's notes {sfx}", "Some notes.", [self.bobtag])
        for follower, followed in ((self.reader, self.alice), (self.reader, self.bob),
                                   (self.alice, self.bob), (self.bob, self.alice)):
            response = follower.post(f"/api/profiles/{followed.username}/follow")
            c.status(response, 200, f"{follower.username} follows {followed.username}")
            c.eq(response.json()["profile"]["following"], True, "the profile says following")
        for person, keys in ((self.reader, ["a1", "b1"]), (self.mod, ["a1", "b1"]),
                             (self.admin, ["a1"]), (self.bob, ["a1", "a2"]),
                             (self.alice, ["b1", "b2"])):
            for key in keys:
                response = person.post(f"/api/articles/{self.slug(key)}/favorite")
                c.status(response, 200, f"{person.username} favorites {key}")
        c.eq(self.anon.article(self.slug("a1")).json()["article"]["favoritesCount"], 4,
             "a1 counts its four favorites")
        feed, _ = self.reader.slugs("/api/articles/feed")
        c.ok({self.slug(k) for k in ("a1", "a2", "b1", "b2")} <= set(feed),
             "the reporter's feed holds both followed authors' articles", feed)
        self.comment(self.reader, "a1", "c1", "First! Nice post.")
        self.comment(self.bob, "a1", "c2", "Buy cheap watches at example.com")
        self.comment(self.alice, "b1", "alice_on_b1", "Thanks Bob.")
        self.comment(self.reader, "b1", "reader_on_b1", "Agreed.")
        self.comment(self.mod, "b2", "mod_on_b2", "Welcome.")

    # --- ETags ---

    def etags(self) -> None:
        """304 for a current tag; 412 and nothing written for a stale one; new tags on writes."""
        c, slug = self.c, self.slug("a1")
        path = f"/api/articles/{slug}"
        first = self.alice.get(path)
        c.status(first, 200, "the author reads a1")
        tag1 = first.headers.get("etag")
        c.ok(bool(tag1) and tag1.startswith('"'), "GET answers a strong ETag", tag1)
        c.eq(etag_version(tag1), 1, "a new article is at version 1")
        again = self.alice.get(path, headers={"If-None-Match": tag1})
        c.status(again, 304, "If-None-Match with the current tag")
        c.eq(again.content, b"", "a 304 has no body")
        anon_tag = self.anon.get(path).headers.get("etag")
        c.status(self.anon.get(path, headers={"If-None-Match": anon_tag}), 304,
                 "anonymous If-None-Match with its own tag")
        c.status(self.alice.get(path, headers={"If-None-Match": '"nope-1-x"'}), 200,
                 "If-None-Match with another tag")
        b2 = f"/api/articles/{self.slug('b2')}"
        b2_tag = self.anon.get(b2).headers.get("etag")
        c.status(self.admin.post(f"{b2}/favorite"), 200, "the admin favorites b2")
        after = self.anon.get(b2, headers={"If-None-Match": b2_tag})
        c.status(after, 200, "If-None-Match with the tag from before a favorite")
        c.eq(after.json()["article"]["favoritesCount"], 2, "and the answer counts it")
        self.a1_v2 = {**self.a1_v1, "body": f"The {self.word} smiles. Version two.",
                      "tagList": sorted([self.common, self.only_a1, self.extra])}
        put = self.alice.put(path, {"article": {"body": self.a1_v2["body"],
                                                "tagList": self.a1_v2["tagList"]}},
                             headers={"If-Match": tag1})
        c.status(put, 200, "PUT with the fresh If-Match")
        tag2 = put.headers.get("etag")
        c.ok(bool(tag2) and tag2 != tag1, "the PUT answers a new ETag", tag2)
        c.eq(etag_version(tag2), 2, "the version moved to 2")
        stale = self.alice.put(path, {"article": {"body": "overwritten by a stale editor"}},
                               headers={"If-Match": tag1})
        c.status(stale, 412, "PUT with a stale If-Match")
        c.body(stale, STALE, "the 412 carries the envelope")
        now = self.alice.get(path)
        c.eq(now.json()["article"]["body"], self.a1_v2["body"], "the stale PUT wrote nothing")
        c.eq(now.headers.get("etag"), tag2, "the stale PUT left the ETag as it was")
        stale_delete = self.alice.delete(path, headers={"If-Match": tag1})
        c.status(stale_delete, 412, "DELETE with a stale If-Match")
        c.body(stale_delete, STALE, "the DELETE's 412 carries the envelope")
        c.status(self.anon.get(path), 200, "the article survived the stale DELETE")
        c.status(self.bob.put(path, {"article": {"body": "mine now"}}, headers={"If-Match": tag2}),
                 403, "another author's PUT, even with the current tag")
        self.a1_v3 = {**self.a1_v1, "description": "Field notes, revised",
                      "body": f"The {self.word} is the happiest animal. Version three."}
        put = self.alice.put(path, {"article": {k: self.a1_v3[k] for k in
                                                ("description", "body", "tagList")}})
        c.status(put, 200, "PUT without If-Match (last writer wins)")
        c.eq(etag_version(put.headers.get("etag", '"x-0-x"')), 3, "the version moved to 3")
        self.a1_tag = put.headers.get("etag")
        weak = self.alice.put(path, {"article": {"body": "weak"}},
                              headers={"If-Match": f"W/{self.a1_tag}"})
        c.status(weak, 412, "PUT with a weak If-Match (never matches)")
        c.eq(self.anon.get(path).headers.get("etag"), self.a1_tag, "the weak PUT wrote nothing")
        response = self.bob.post("/api/articles", {"article": {
            "title": f"Throwaway {self.sfx}", "description": "d", "body": "b"}})
        c.status(response, 201, "bob publishes a throwaway article")
        throwaway = f"/api/articles/{response.json()['article']['slug']}"
        star = self.bob.put(throwaway, {"article": {"body": "edited"}}, headers={"If-Match": "*"})
        c.status(star, 200, "PUT with If-Match: *")
        c.status(self.bob.delete(throwaway, headers={"If-Match": star.headers.get("etag", "")}),
                 204, "DELETE with the fresh If-Match")
        c.status(self.anon.get(throwaway), 404, "the deleted article is gone")
        c.status(self.bob.get(f"{throwaway}/revisions"), 404, "and so are its revisions")
        b2 = f"/api/articles/{self.slug('b2')}"
        tag = self.bob.get(b2).headers.get("etag", "")
        editors = [Person(str(self.bob.http.base_url), self.bob.username) for _ in range(5)]
        for editor in editors:
            editor.token = self.bob.token
        answers = at_once([
            (lambda e=editor, n=n: e.put(b2, {"article": {"body": f"editor {n} wins"}},
                                         headers={"If-Match": tag}))
            for n, editor in enumerate(editors)])
        for editor in editors:
            editor.close()
        codes = sorted(a.status_code for a in answers)
        c.eq(codes, [200, 412, 412, 412, 412], "five editors with one tag: exactly one wins")
        winner = next((a.json()["article"]["body"] for a in answers if a.status_code == 200), None)
        c.eq(self.anon.get(b2).json()["article"]["body"], winner, "the winner's body is stored")
        revisions = self.bob.get(f"{b2}/revisions").json()
        c.eq([r["version"] for r in revisions["revisions"]], [1],
             "one revision, of the version they all replaced")
        tags = self.anon.get("/api/tags").json()["tags"]
        c.ok(self.extra not in tags, "a tag edited away is gone from /api/tags", tags)

    # --- revisions ---

    def revision_list(self, person: Person) -> httpx.Response:
        """GET a1's revisions as someone."""
        return person.get(f"/api/articles/{self.slug('a1')}/revisions")

    def revisions(self) -> None:
        """The history of a1, who may read it, and restoring its first version."""
        c, slug = self.c, self.slug("a1")
        for who, expected in ((self.alice, 200), (self.mod, 200), (self.admin, 200),
                              (self.bob, 403), (self.reader, 403), (self.anon, 401)):
            c.status(self.revision_list(who), expected, f"{who.username} lists a1's revisions")
        c.status(self.alice.get("/api/articles/no-such-" + self.sfx + "/revisions"), 404,
                 "revisions of an unknown article")
        data = self.revision_list(self.alice).json()
        versions = [r["version"] for r in data["revisions"]]
        c.eq(versions, [2, 1], "revisions are the replaced versions, newest first")
        c.eq(data["revisionsCount"], 2, "revisionsCount")
        by_version = {r["version"]: r for r in data["revisions"]}
        for version, content in ((1, self.a1_v1), (2, self.a1_v2)):
            stored = by_version.get(version, {})
            c.eq({k: stored.get(k) for k in content}, content,
                 f"revision {version} holds exactly the content it replaced")
            c.eq((stored.get("editor") or {}).get("username"), self.alice.username,
                 f"revision {version} names its editor")
            c.eq((stored.get("replacedBy") or {}).get("username"), self.alice.username,
                 f"revision {version} names who replaced it")
        paged = self.alice.get(f"/api/articles/{slug}/revisions", params={"limit": 1}).json()
        c.eq([r["version"] for r in paged["revisions"]], [2], "limit=1 gives the newest")
        if paged.get("nextCursor"):
            rest = self.alice.get(f"/api/articles/{slug}/revisions",
                                  params={"limit": 1, "cursor": paged["nextCursor"]}).json()
            c.eq([r["version"] for r in rest["revisions"]], [1], "the cursor gives the next")
        else:
            c.ok(False, "a first page of 1 of 2 revisions has a nextCursor", paged)
        restore = f"/api/articles/{slug}/revisions/1/restore"
        c.status(self.bob.post(restore), 403, "the other author restores")
        c.status(self.anon.post(restore), 401, "anonymous restores")
        unknown = self.alice.post(f"/api/articles/{slug}/revisions/99/restore")
        c.status(unknown, 404, "restoring a version not kept")
        c.body(unknown, {"errors": {"revision": ["not found"]}}, "its envelope")
        stale = self.alice.post(restore, headers={"If-Match": '"' + "0" * 24 + '-1-x"'})
        c.status(stale, 412, "restore with a stale If-Match")
        c.body(stale, STALE, "the restore's 412 carries the envelope")
        c.eq(self.alice.get(f"/api/articles/{slug}").headers.get("etag"), self.a1_tag,
             "the stale restore wrote nothing")
        restored = self.alice.post(restore, headers={"If-Match": self.a1_tag})
        c.status(restored, 200, "the author restores version 1 with the fresh If-Match")
        article = restored.json().get("article", {})
        c.eq({k: article.get(k) for k in self.a1_v1}, self.a1_v1,
             "the article's content is revision 1's")
        new_tag = restored.headers.get("etag")
        c.ok(bool(new_tag) and new_tag != self.a1_tag, "the restore answers a new ETag", new_tag)
        c.eq(etag_version(new_tag or '"x-0-x"'), 4, "the restore is a new version (4)")
        read = self.anon.article(slug).json()["article"]
        c.eq({k: read.get(k) for k in self.a1_v1}, self.a1_v1, "a reader sees revision 1's content")
        data = self.revision_list(self.mod).json()
        c.eq([r["version"] for r in data["revisions"]], [3, 2, 1],
             "the replaced version 3 became a revision")
        top = data["revisions"][0] if data["revisions"] else {}
        c.eq({k: top.get(k) for k in self.a1_v3}, self.a1_v3,
             "revision 3 holds the content the restore replaced")
        self.a1_tag = new_tag

    # --- comments ---

    def comment_editing(self) -> None:
        """Editing by the author only, If-Match on comments, paging with a cursor."""
        c, slug = self.c, self.slug("a1")
        cid = self.comment_ids["c1"]
        path = f"/api/articles/{slug}/comments/{cid}"
        before = self.reader.get(path)
        c.status(before, 200, "read one comment")
        tag1 = before.headers.get("etag")
        c.ok(bool(tag1), "a comment answers an ETag", tag1)
        c.status(self.reader.get(path, headers={"If-None-Match": tag1}), 304,
                 "If-None-Match on a comment")
        old = before.json()["comment"]
        time.sleep(0.01)
        edit = self.reader.put(path, {"comment": {"body": "First! Great post, edited."}},
                               headers={"If-Match": tag1})
        c.status(edit, 200, "its author edits the comment with the fresh If-Match")
        new = edit.json().get("comment", {})
        c.eq(new.get("body"), "First! Great post, edited.", "the body changed")
        c.ok(timestamp(new["updatedAt"]) > timestamp(old["updatedAt"]), "updatedAt moved",
             (old["updatedAt"], new.get("updatedAt")))
        c.eq(new.get("createdAt"), old["createdAt"], "createdAt did not move")
        tag2 = edit.headers.get("etag")
        c.ok(bool(tag2) and tag2 != tag1, "the edit answers a new ETag", tag2)
        stale = self.reader.put(path, {"comment": {"body": "stale"}}, headers={"If-Match": tag1})
        c.status(stale, 412, "a comment edit with a stale If-Match")
        c.body(stale, STALE_COMMENT, "its envelope")
        c.eq(self.anon.get(path).json()["comment"]["body"], "First! Great post, edited.",
             "the stale edit wrote nothing")
        for who in (self.alice, self.mod, self.bob):
            response = who.put(path, {"comment": {"body": "hijacked"}})
            c.status(response, 403, f"{who.username} edits someone else's comment")
            c.body(response, {"errors": {"comment": ["forbidden"]}}, "its envelope")
        c.status(self.anon.put(path, {"comment": {"body": "x"}}), 401, "anonymous edits a comment")
        c.status(self.reader.put(f"/api/articles/{slug}/comments/987654321",
                                 {"comment": {"body": "x"}}), 404, "editing an unknown comment")
        c.eq(self.anon.get(path).json()["comment"]["body"], "First! Great post, edited.",
             "the refused edits wrote nothing")
        for n in range(5):
            self.comment([self.admin, self.mod, self.reader][n % 3], "a1", f"extra{n}",
                         f"Comment number {n}")
        full = self.anon.comments(slug).json()
        ids = [x["id"] for x in full["comments"]]
        c.eq(len(ids), 7, "a1 lists 7 comments")
        c.eq(full["commentsCount"], 7, "commentsCount is 7")
        c.eq(full.get("nextCursor"), None, "no nextCursor when every comment is listed")
        c.ok(ids == sorted(ids, key=lambda i: ids.index(i)) and
             [x["createdAt"] for x in full["comments"]] ==
             sorted([x["createdAt"] for x in full["comments"]], reverse=True),
             "comments are newest first")
        seen: list[int] = []
        cursor, pages = None, 0
        while pages < 10:
            params: dict[str, Any] = {"limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = self.anon.comments(slug, **params).json()
            pages += 1
            c.eq(page["commentsCount"], 7, f"page {pages}: commentsCount")
            seen += [x["id"] for x in page["comments"]]
            cursor = page.get("nextCursor")
            if not cursor:
                break
        c.eq(pages, 4, "7 comments in pages of 2 take 4 pages")
        c.eq(seen, ids, "the cursor pages give each comment once, in order")
        offset = self.anon.comments(slug, limit=2, offset=2).json()
        c.eq([x["id"] for x in offset["comments"]], ids[2:4], "offset paging")
        c.status(self.anon.comments(slug, limit=2, offset=2, cursor=cursor or "x"), 422,
                 "cursor and offset together")

    # --- reports ---

    def report(self, person: Person, key: str, comment: str | None = None,
               reason: str = "spam") -> httpx.Response:
        """File a report on an article or one of its comments."""
        path = f"/api/articles/{self.slug(key)}"
        if comment:
            path += f"/comments/{self.comment_ids[comment]}"
        return person.post(f"{path}/reports", {"report": {"reason": reason, "note": "see this"}})

    def queue(self, status: str = "open") -> dict[str, dict[str, Any]]:
        """The moderator's queue in one status, by report id (every page)."""
        rows: dict[str, dict[str, Any]] = {}
        cursor = None
        for _ in range(50):
            params: dict[str, Any] = {"status": status, "limit": 100}
            if cursor:
                params["cursor"] = cursor
            data = self.mod.get("/api/moderation/reports", params=params).json()
            rows.update({r["id"]: r for r in data["reports"]})
            cursor = data.get("nextCursor")
            if not cursor:
                break
        return rows

    def reports(self) -> None:
        """201 then 200 on repeat, comment reports, the queue with counts, dismissing."""
        c = self.c
        first = self.report(self.reader, "a1")
        c.status(first, 201, "the reporter reports a1")
        report = first.json().get("report", {})
        c.eq((report.get("status"), report.get("target", {}).get("slug")),
             ("open", self.slug("a1")), "an open report of a1")
        repeat = self.report(self.reader, "a1", reason="abuse")
        c.status(repeat, 200, "the same report again")
        c.eq(repeat.json().get("report", {}).get("id"), report.get("id"), "the same report id")
        second = self.report(self.bob, "a1", reason="off-topic")
        c.status(second, 201, "another user reports a1")
        on_comment = self.report(self.reader, "a1", "c2")
        c.status(on_comment, 201, "the reporter reports comment c2")
        c.eq(on_comment.json().get("report", {}).get("target", {}).get("commentId"),
             self.comment_ids["c2"], "the report names the comment")
        c.status(self.report(self.reader, "a1", "c2"), 200, "the same comment report again")
        racing = at_once([lambda: self.report(self.mod, "b1")] * 5)
        codes = sorted(r.status_code for r in racing)
        c.eq(codes, [200, 200, 200, 200, 201], "five identical reports at once: one 201, four 200")
        c.eq(len({r.json().get("report", {}).get("id") for r in racing}), 1,
             "and all name the same report")
        to_dismiss = self.report(self.reader, "b2", reason="other")
        c.status(to_dismiss, 201, "the reporter reports b2")
        c.status(self.anon.post(f"/api/articles/{self.slug('a1')}/reports",
                                {"report": {"reason": "spam"}}), 401, "anonymous reports")
        c.status(self.report(self.reader, "a1", reason="bogus"), 422, "an unknown reason")
        self.a1_reports = [report.get("id"), second.json().get("report", {}).get("id")]
        self.c2_report = on_comment.json().get("report", {}).get("id")
        queue = self.queue("open")
        for rid, what, counts in ((self.a1_reports[0], "a1 (reporter)", (2, 2)),
                                  (self.a1_reports[1], "a1 (bob)", (2, 2)),
                                  (self.c2_report, "comment c2", (1, 1))):
            row = queue.get(rid)
            if c.ok(row is not None, f"the queue shows the report of {what}"):
                c.eq((row["counts"]["open"], row["counts"]["total"]), counts,
                     "its counts (open, total)")
        row = queue.get(self.c2_report) or {}
        c.eq((row.get("target", {}).get("type"), row.get("target", {}).get("author")),
             ("comment", self.bob.username), "the comment report's target and its author")
        mine = [queue[r]["createdAt"] for r in (*self.a1_reports, self.c2_report) if r in queue]
        c.eq(mine, sorted(mine), "the queue is oldest first")
        for who, expected in ((self.reader, 403), (self.anon, 401)):
            c.status(who.post(f"/api/moderation/reports/{to_dismiss.json()['report']['id']}/dismiss"),
                     expected, f"{who.username} dismisses a report")
        dismissed = self.mod.post(
            f"/api/moderation/reports/{to_dismiss.json()['report']['id']}/dismiss",
            json={"reason": "fine as it is"})
        c.status(dismissed, 200, "the moderator dismisses b2's report")
        c.eq((dismissed.json()["report"]["status"], dismissed.json()["report"].get("resolution")),
             ("resolved", "dismissed"), "resolved as dismissed")
        self.expected_log.append(("dismiss_reports", self.slug("b2")))
        c.status(self.anon.article(self.slug("b2")), 200, "dismissing hides nothing")

    # --- hiding an article ---

    def visibility(self, shown: bool, state: str) -> None:
        """Check a1 is (or is not) visible everywhere to the reporter and to anonymous."""
        c, a1, title = self.c, self.slug("a1"), self.articles["a1"]["title"]
        word = "present" if shown else "absent"
        for who in (self.reader, self.anon):
            name = who.username
            c.status(who.article(a1), 200 if shown else 404, f"{state}: {name} GETs a1 by slug")
            c.status(who.comments(a1), 200 if shown else 404, f"{state}: {name} GETs a1's comments")
            for label, params in (("/api/articles", {}), ("?tag=common", {"tag": self.common}),
                                  (f"?author={self.alice.username}", {"author": self.alice.username}),
                                  ("?favorited=reader", {"favorited": self.reader.username})):
                slugs, _ = who.slugs(**params)
                c.eq(a1 in slugs, shown, f"{state}: a1 {word} in {label} for {name}")
            slugs, count = who.slugs(tag=self.only_a1)
            c.eq((a1 in slugs, count), (shown, int(shown)),
                 f"{state}: ?tag=<a1's own tag> lists it and counts it for {name}")
            data = who.get("/api/search", params={"q": self.word}).json()
            c.eq(([a["slug"] for a in data["articles"]], data["articlesCount"]),
                 ([a1] if shown else [], int(shown)), f"{state}: search for a1's word, {name}")
        slugs, _ = self.reader.slugs("/api/articles/feed")
        c.eq(a1 in slugs, shown, f"{state}: a1 {word} in the reporter's feed")
        tags = self.anon.get("/api/tags").json()["tags"]
        c.eq(self.only_a1 in tags, shown, f"{state}: a1's own tag {word} in /api/tags")
        c.ok(self.common in tags, f"{state}: the shared tag stays in /api/tags", tags)
        trends = [t["tag"] for t in self.anon.get("/api/analytics/tags",
                                                  params={"days": 30}).json()["tags"]]
        c.eq(self.only_a1 in trends, shown, f"{state}: a1's own tag {word} in /api/analytics/tags")
        for label, params in (("", {}), ("?tag=common", {"tag": self.common}),
                              ("?author=alice", {"author": self.alice.username})):
            status, feed = atom(self.anon, **params)
            if c.eq(status, 200, f"{state}: Atom{label} answers 200"):
                c.eq(feed.bozo, 0, f"{state}: Atom{label} is well-formed")
                c.eq(in_feed(feed, title), shown, f"{state}: a1 {word} in Atom{label}")
        status, feed = atom(self.anon, tag=self.only_a1)
        c.eq(status, 200 if shown else 404, f"{state}: Atom?tag=<a1's own tag>")
        if feed is not None:
            c.ok(in_feed(feed, title), f"{state}: a1 in Atom?tag=<a1's own tag>")
        stats = self.anon.get(f"/api/analytics/authors/{self.alice.username}").json()["author"]
        top = [t["slug"] for t in stats["top_articles" if "top_articles" in stats
                                        else "topArticles"]]
        c.eq((stats["articles"], a1 in top), (2 if shown else 1, shown),
             f"{state}: alice's analytics count a1 and list it in her top articles")
        totals = self.anon.get("/api/analytics/overview", params={"days": 7}).json()["totals"]
        if shown:
            self.totals_shown = totals
        elif hasattr(self, "totals_shown"):
            favorites = self.alice.article(a1).json()["article"]["favoritesCount"]
            comments = self.alice.comments(a1).json()["commentsCount"]
            expected = {**self.totals_shown,
                        "articles": self.totals_shown["articles"] - 1,
                        "favorites": self.totals_shown["favorites"] - favorites,
                        "comments": self.totals_shown["comments"] - comments}
            c.eq(totals, expected, f"{state}: /api/analytics/overview totals leave a1 out")
        if shown and hasattr(self, "totals_hidden_from"):
            c.eq(totals, self.totals_hidden_from, f"{state}: overview totals are back")

    def atom_tag(self) -> str | None:
        """The ETag of the Atom feed of the shared tag."""
        return self.anon.get("/feeds/articles.atom", params={"tag": self.common}).headers.get("etag")

    def hide_article(self) -> None:
        """A hidden article is a draft for everyone but its author and moderators."""
        c, a1 = self.c, self.slug("a1")
        self.visibility(True, "before hiding")
        self.totals_hidden_from = self.totals_shown
        feed_tag = self.atom_tag()
        c.ok(bool(feed_tag), "the Atom feed answers an ETag", feed_tag)
        c.status(self.anon.get("/feeds/articles.atom", params={"tag": self.common},
                               headers={"If-None-Match": feed_tag}), 304,
                 "Atom If-None-Match with the current tag")
        published_at = self.anon.article(a1).json()["article"]["publishedAt"]
        author_tag = self.alice.article(a1).headers.get("etag")
        path = f"/api/moderation/articles/{a1}/hide"
        for who, expected in ((self.anon, 401), (self.reader, 403), (self.alice, 403)):
            c.status(who.post(path, {"reason": "x"}), expected, f"{who.username} hides a1")
        c.status(self.mod.post(path, {}), 422, "hiding without a reason")
        hidden = self.mod.post(path, {"reason": "spam links"})
        c.status(hidden, 200, "the moderator hides a1")
        self.expected_log.append(("hide_article", a1))
        moderation = hidden.json().get("article", {}).get("moderation") or {}
        c.eq((moderation.get("hidden"), moderation.get("reason")), (True, "spam links"),
             "the answer carries the moderation block")
        self.visibility(False, "hidden")
        for who in (self.alice, self.mod, self.admin):
            response = who.article(a1)
            c.status(response, 200, f"{who.username} still GETs hidden a1")
            block = response.json().get("article", {}).get("moderation") or {}
            c.eq((block.get("hidden"), block.get("reason")), (True, "spam links"),
                 f"{who.username} sees the moderation block")
        response = self.alice.get(f"/api/articles/{a1}", headers={"If-None-Match": author_tag})
        c.status(response, 200, "the author's If-None-Match from before hiding")
        c.ok("moderation" in response.json().get("article", {}), "and she sees why")
        c.status(self.bob.post(f"/api/articles/{a1}/favorite"), 404,
                 "another user favorites hidden a1")
        c.status(self.report(self.bob, "a1"), 404, "another user reports hidden a1")
        c.status(self.bob.post(f"/api/articles/{a1}/comments", {"comment": {"body": "hm"}}), 404,
                 "another user comments on hidden a1")
        c.status(self.anon.get("/feeds/articles.atom", params={"tag": self.common},
                               headers={"If-None-Match": feed_tag}), 200,
                 "Atom If-None-Match with the tag from before hiding")
        edit = self.alice.put(f"/api/articles/{a1}",
                              {"article": {"status": "published", "publishAt": None}})
        c.status(edit, 200, "the author edits hidden a1 (status published, publishAt null)")
        c.status(self.anon.article(a1), 404, "the author's edit does not make a1 public")
        c.ok(a1 not in self.anon.slugs()[0], "nor list it")
        resolved = self.queue("resolved")
        for rid in self.a1_reports:
            row = resolved.get(rid) or {}
            c.eq((row.get("status"), row.get("resolution")), ("resolved", "hidden"),
                 "a1's open report became resolved (hidden)")
        open_now = self.queue("open")
        c.ok(not any(r in open_now for r in self.a1_reports), "no report of a1 left open")
        c.ok(self.c2_report in open_now, "the report of a comment on a1 stays open")
        c.eq(self.mod.post(path, {"reason": "again"}).status_code, 200,
             "hiding a hidden article again answers 200")
        unhidden = self.mod.post(f"/api/moderation/articles/{a1}/unhide")
        c.status(unhidden, 200, "the moderator unhides a1")
        self.expected_log.append(("unhide_article", a1))
        c.ok("moderation" not in unhidden.json().get("article", {}),
             "the unhidden article carries no moderation key", unhidden.json())
        self.visibility(True, "unhidden")
        c.eq(self.anon.article(a1).json()["article"]["publishedAt"], published_at,
             "unhiding puts back the original publishedAt")
        c.ok("moderation" not in self.alice.article(a1).json()["article"],
             "the author sees no moderation key once unhidden")

    # --- hiding a comment ---

    def hide_comment(self) -> None:
        """A hidden comment is gone for others and shows its moderation to its author."""
        c, a1, cid = self.c, self.slug("a1"), self.comment_ids["c2"]
        path = f"/api/articles/{a1}/comments/{cid}"
        before = self.anon.comments(a1).json()["commentsCount"]
        c.status(self.reader.post(f"/api/moderation/comments/{cid}/hide", {"reason": "x"}), 403,
                 "the reporter hides a comment")
        hidden = self.mod.post(f"/api/moderation/comments/{cid}/hide", {"reason": "spam link"})
        c.status(hidden, 200, "the moderator hides comment c2")
        self.expected_log.append(("hide_comment", f"{a1}#comment-{cid}"))
        for who in (self.anon, self.reader, self.alice):
            data = who.comments(a1).json()
            ids = [x["id"] for x in data["comments"]]
            c.ok(cid not in ids, f"{who.username} no longer sees c2 in the list")
            c.eq((data["commentsCount"], len(ids)), (before - 1, before - 1),
                 f"{who.username}'s commentsCount leaves it out")
            c.status(who.get(path), 404, f"{who.username} GETs hidden c2")
        seen, cursor = [], None
        for _ in range(10):
            page = self.reader.comments(a1, limit=2, **({"cursor": cursor} if cursor else {}))
            seen += [x["id"] for x in page.json()["comments"]]
            cursor = page.json().get("nextCursor")
            if not cursor:
                break
        c.eq(seen, [x["id"] for x in self.reader.comments(a1).json()["comments"]],
             "cursor paging skips hidden c2 and gives every other comment once")
        c.status(self.report(self.reader, "a1", "c2"), 404, "the reporter reports hidden c2")
        c.status(self.reader.put(path, {"comment": {"body": "x"}}), 404,
                 "someone else edits hidden c2")
        data = self.bob.comments(a1).json()
        mine = [x for x in data["comments"] if x["id"] == cid]
        c.eq(len(mine), 1, "its author still sees c2")
        block = (mine[0] if mine else {}).get("moderation") or {}
        c.eq((block.get("hidden"), block.get("reason")), (True, "spam link"),
             "with its moderation block")
        c.eq(data["commentsCount"], before, "its author's commentsCount includes it")
        single = self.bob.get(path)
        c.status(single, 200, "its author GETs hidden c2")
        c.ok("moderation" in single.json().get("comment", {}), "with moderation", single.json())
        c.ok(all("moderation" not in x for x in data["comments"] if x["id"] != cid),
             "visible comments carry no moderation key")
        row = self.queue("resolved").get(self.c2_report) or {}
        c.eq(row.get("resolution"), "hidden", "the report of c2 was resolved by hiding it")
        shown = self.mod.post(f"/api/moderation/comments/{cid}/unhide")
        c.status(shown, 200, "the moderator unhides c2")
        self.expected_log.append(("unhide_comment", f"{a1}#comment-{cid}"))
        data = self.reader.comments(a1).json()
        c.ok(cid in [x["id"] for x in data["comments"]], "the reporter sees c2 again")
        c.eq(data["commentsCount"], before, "commentsCount counts it again")

    # --- suspension ---

    def suspension(self) -> None:
        """A suspended author is signed out, may sign in and read, but not write."""
        c, bob = self.c, self.bob
        old_token = bob.token
        until = self.until.strftime("%Y-%m-%dT%H:%M:%SZ")
        path = f"/api/moderation/users/{bob.username}/suspend"
        c.status(self.mod.post(f"/api/moderation/users/{self.admin.username}/suspend",
                               {"reason": "coup"}), 403, "a moderator suspends the admin")
        c.status(self.alice.post(path, {"reason": "x"}), 403, "an author suspends another")
        role = f"/api/moderation/users/{self.reader.username}"
        c.status(self.admin.put(role, {"user": {"role": "moderator"}}), 200,
                 "the admin makes the reporter a moderator for a moment")
        self.expected_log.append(("set_role", self.reader.username))
        c.status(self.mod.post(f"{role}/suspend", {"reason": "rival"}), 403,
                 "a moderator suspends another moderator")
        c.status(self.admin.put(role, {"user": {"role": "author"}}), 200,
                 "the admin makes the reporter an author again")
        self.expected_log.append(("set_role", self.reader.username))
        response = self.mod.post(path, {"reason": "spamming", "until": until})
        c.status(response, 200, "the moderator suspends bob")
        self.expected_log.append(("suspend_user", bob.username))
        suspension = response.json().get("user", {}).get("suspension") or {}
        c.eq(suspension.get("reason"), "spamming", "the answer shows the suspension")
        revoked = bob.get("/api/user", token=old_token)
        c.status(revoked, 401, "bob's old token")
        c.status(bob.post(f"/api/articles/{self.slug('b2')}/favorite", token=old_token), 401,
                 "bob's old token favorites (same process: no grace)")
        c.status(bob.post(f"/api/profiles/{self.mod.username}/follow", token=old_token), 401,
                 "bob's old token follows")
        c.status(bob.login(), 200, "bob signs in again")
        c.status(bob.get("/api/user"), 200, "bob reads his account")
        c.status(bob.get("/api/articles", params={"author": bob.username}), 200,
                 "bob reads the articles list")
        c.status(bob.article(self.slug("b1")), 200, "bob reads his article")
        message = {"errors": {"user": [
            f"is suspended until {self.until.strftime('%Y-%m-%dT%H:%M:%S')}.000Z: spamming"]}}
        writes = [
            ("publishes", "POST", "/api/articles",
             {"article": {"title": "t", "description": "d", "body": "b"}}),
            ("comments", "POST", f"/api/articles/{self.slug('b1')}/comments",
             {"comment": {"body": "hi"}}),
            ("edits his article", "PUT", f"/api/articles/{self.slug('b1')}",
             {"article": {"body": "new"}}),
            ("favorites", "POST", f"/api/articles/{self.slug('b2')}/favorite", None),
            ("follows", "POST", f"/api/profiles/{self.reader.username}/follow", None),
            ("updates his profile", "PUT", "/api/user", {"user": {"bio": "hello"}}),
            ("reports", "POST", f"/api/articles/{self.slug('a2')}/reports",
             {"report": {"reason": "spam"}}),
        ]
        for what, method, target, body in writes:
            response = bob.request(method, target, json=body)
            c.status(response, 403, f"suspended bob {what}")
            c.body(response, message, f"suspended bob {what}: the suspension message")
        c.eq(self.anon.get(f"/api/profiles/{bob.username}").json()["profile"].get("bio"), None,
             "the refused profile change wrote nothing")
        response = self.mod.post(f"/api/moderation/users/{bob.username}/unsuspend")
        c.status(response, 200, "the moderator lifts the suspension")
        self.expected_log.append(("unsuspend_user", bob.username))
        c.eq(response.json().get("user", {}).get("suspension"), None, "no suspension any more")
        c.status(bob.get("/api/user"), 200, "bob's new token still works")
        c.status(bob.get("/api/user", token=old_token), 401,
                 "bob's token from before the suspension stays revoked")
        response = bob.post(f"/api/articles/{self.slug('b1')}/comments",
                            {"comment": {"body": "Back again."}})
        c.status(response, 201, "bob comments once unsuspended")
        self.comment_ids["bob_back"] = response.json().get("comment", {}).get("id")

    # --- the log ---

    def moderation_log(self) -> None:
        """The admin sees every action, newest first."""
        c = self.c
        response = self.admin.get("/api/moderation/log", params={"limit": 100})
        c.status(response, 200, "the admin reads the log")
        entries = response.json().get("entries", [])
        ours = [e for e in entries if e["actor"] in (self.admin.username, self.mod.username)
                and self.sfx in e["target"]]  # the admin may have acted in earlier runs
        c.eq([(e["action"], e["target"]) for e in ours], list(reversed(self.expected_log)),
             "every action performed, newest first, once each")
        stamps = [e["at"] for e in entries]
        c.eq(stamps, sorted(stamps, reverse=True), "entries are newest first by time")
        by_action = {e["action"]: e for e in ours}
        c.eq(by_action.get("set_role", {}).get("actor"), self.admin.username,
             "the role change names the admin")
        c.eq(by_action.get("hide_article", {}).get("reason"), "spam links",
             "the hide names its reason")
        c.eq(by_action.get("suspend_user", {}).get("actor"), self.mod.username,
             "the suspension names the moderator")
        if len(ours) > 2:
            first = self.admin.get("/api/moderation/log", params={"limit": 2}).json()
            cursor = first.get("nextCursor")
            c.ok(bool(cursor), "a page of 2 has a nextCursor", first)
            if cursor:
                second = self.admin.get("/api/moderation/log",
                                        params={"limit": 2, "cursor": cursor}).json()
                c.eq([e["id"] for e in first["entries"] + second["entries"]],
                     [e["id"] for e in entries[:4]], "the log's cursor continues in order")

    # --- account deletion ---

    def consistent_counters(self, keys: list[str], users: list[Person], state: str) -> None:
        """favoritesCount = users listing it in ?favorited=; commentsCount = comments listed."""
        c = self.c
        favorited = {u.username: set(self.anon.slugs(favorited=u.username)[0]) for u in users}
        for key in keys:
            slug = self.slug(key)
            article = self.anon.article(slug).json()["article"]
            fans = sorted(u for u, slugs in favorited.items() if slug in slugs)
            c.eq(article["favoritesCount"], len(fans),
                 f"{state}: {key}'s favoritesCount equals its favoriters {fans}")
            for person in users:
                flag = person.article(slug).json()["article"]["favorited"]
                c.eq(flag, person.username in fans,
                     f"{state}: {key}'s favorited flag for {person.username}")
            comments = self.anon.comments(slug).json()
            c.eq(comments["commentsCount"], len(comments["comments"]),
                 f"{state}: {key}'s commentsCount equals the comments listed")

    def account_deletion(self) -> None:
        """Alice deletes her account: everything she wrote goes and the counters stay exact."""
        c, alice = self.c, self.alice
        everyone = [self.admin, self.mod, self.alice, self.bob, self.reader]
        self.consistent_counters(["a1", "a2", "b1", "b2"], everyone, "before deletion")
        c.status(self.report(alice, "b2", reason="other"), 201, "alice reports b2 (to be removed)")
        alice_report = self.queue("open")
        b1_before = self.anon.article(self.slug("b1")).json()["article"]["favoritesCount"]
        c.status(self.anon.delete("/api/user", {"user": {"password": PASSWORD}}), 401,
                 "anonymous deletes an account")
        c.status(alice.delete("/api/user", {"user": {}}), 422, "deletion without a password")
        wrong = alice.delete("/api/user", {"user": {"password": "not-her-password"}})
        c.status(wrong, 403, "deletion with a wrong password")
        c.body(wrong, {"errors": {"password": ["is incorrect"]}}, "its envelope")
        c.status(alice.get("/api/user"), 200, "the wrong password changed nothing")
        stop = threading.Event()
        racers = [self.admin, self.mod, self.reader]

        def race(person: Person) -> set[int]:
            # favorite and unfavorite her a2 while her deletion runs; a counter must not drift
            seen, path = set(), f"/api/articles/{self.slug('a2')}/favorite"
            while not stop.is_set():
                for method in ("POST", "DELETE"):
                    seen.add(person.request(method, path).status_code)
            seen.add(person.post(path).status_code)
            return seen

        with ThreadPoolExecutor(len(racers)) as pool:
            futures = [pool.submit(race, person) for person in racers]
            time.sleep(0.05)
            deleted = alice.delete("/api/user", {"user": {"password": PASSWORD}})
            time.sleep(0.3)
            stop.set()
            statuses = set().union(*(f.result() for f in futures))
        c.ok(statuses <= {200, 404}, "favorites racing the deletion answer 200 or 404", statuses)
        c.status(deleted, 204, "alice deletes her account with her password (favorites racing)")
        c.status(alice.get("/api/user"), 401, "alice's token")
        c.status(alice.post(f"/api/articles/{self.slug('b1')}/favorite"), 401,
                 "alice's token favorites after deletion")
        c.status(alice.login(), 401, "alice signs in")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.anon.get(f"/api/profiles/{alice.username}").status_code == 404:
                break
            time.sleep(0.05)
        c.status(self.anon.get(f"/api/profiles/{alice.username}"), 404,
                 "alice's profile, once the deletion finished")
        for key in ("a1", "a2"):
            for who in (self.anon, self.mod):
                c.status(who.article(self.slug(key)), 404, f"{who.username} GETs her {key}")
        b1_comments = self.anon.comments(self.slug("b1")).json()
        c.ok(all(x["author"]["username"] != alice.username for x in b1_comments["comments"]),
             "her comments are gone from bob's article")
        c.status(self.anon.get(f"/api/articles/{self.slug('b1')}/comments/"
                               f"{self.comment_ids['alice_on_b1']}"), 404,
                 "her comment by id")
        c.eq(self.anon.article(self.slug("b1")).json()["article"]["favoritesCount"],
             b1_before - 1, "b1 lost exactly her favorite")
        remaining = [self.admin, self.mod, self.bob, self.reader]
        self.consistent_counters(["b1", "b2"], remaining, "after deletion")
        for person in remaining:
            slugs, count = person.slugs(favorited=person.username)
            c.ok(not ({self.slug("a1"), self.slug("a2")} & set(slugs)),
                 f"{person.username}'s favorites hold none of her articles", slugs)
            c.eq(count, len(slugs), f"{person.username}'s favorites count equals the list")
        listed = {a["slug"]: a["favoritesCount"] for a in self.anon.get(
            "/api/articles", params={"author": self.bob.username}).json()["articles"]}
        for key in ("b1", "b2"):
            c.eq(listed.get(self.slug(key)),
                 self.anon.article(self.slug(key)).json()["article"]["favoritesCount"],
                 f"{key}'s favoritesCount is the same in the list and by slug")
        feed, _ = self.bob.slugs("/api/articles/feed")
        c.eq(feed, [], "bob followed only her: his feed is empty")
        feed, count = self.reader.slugs("/api/articles/feed")
        c.ok(not ({self.slug("a1"), self.slug("a2")} & set(feed)),
             "the reporter's feed holds none of her articles", feed)
        c.eq(count, len(feed), "the feed's articlesCount equals the list")
        stats = self.anon.get(f"/api/analytics/authors/{self.bob.username}").json()
        followers = (stats.get("author") or stats.get("stats") or stats).get("followers")
        c.eq(followers, 1, "bob's followers: only the reporter is left")
        c.eq(self.anon.get(f"/api/profiles/{self.bob.username}",
                           ).status_code, 200, "bob's profile stays")
        tags = self.anon.get("/api/tags").json()["tags"]
        c.ok(self.only_a1 not in tags, "her only tag left /api/tags", tags)
        trends = [t["tag"] for t in self.anon.get("/api/analytics/tags",
                                                  params={"days": 30}).json()["tags"]]
        c.ok(self.only_a1 not in trends, "her only tag left /api/analytics/tags", trends)
        if self.own_server:  # on another server the totals hold other data too
            totals = self.anon.get("/api/analytics/overview", params={"days": 7}).json()["totals"]
            left = [self.anon.article(self.slug(k)).json()["article"] for k in ("b1", "b2")]
            c.eq({k: totals.get(k) for k in ("articles", "favorites", "comments")},
                 {"articles": 2, "favorites": sum(a["favoritesCount"] for a in left),
                  "comments": sum(self.anon.comments(self.slug(k)).json()["commentsCount"]
                                  for k in ("b1", "b2"))},
                 "overview totals count only what is left")
        data = self.anon.get("/api/search", params={"q": self.word}).json()
        c.eq(data["articlesCount"], 0, "search finds nothing of hers")
        status, _ = atom(self.anon, author=alice.username)
        c.eq(status, 404, "Atom?author=<her> answers 404 (unknown author)")
        status, feed = atom(self.anon, tag=self.common)
        c.ok(status == 200 and not any(in_feed(feed, self.articles[k]["title"])
                                       for k in ("a1", "a2")),
             "Atom?tag=common holds none of her articles")
        open_now, resolved = self.queue("open"), self.queue("resolved")
        c.ok(not any(r in resolved or r in open_now for r in (*self.a1_reports, self.c2_report)),
             "reports of her articles and their comments are gone")
        filed = [r for r in alice_report.values() if r.get("reporter") == alice.username]
        c.ok(filed and not any(r["id"] in open_now for r in filed),
             "the report she filed is gone", filed)
        log = self.admin.get("/api/moderation/log", params={"limit": 100}).json()["entries"]
        c.ok(any(e["action"] == "hide_article" and e["target"] == self.slug("a1") for e in log),
             "the moderation log keeps its entries")
        again = Person(alice.http.base_url, alice.username)
        response = again.register()
        c.status(response, 201, "her username can be registered again")
        c.eq(again.get("/api/user").json()["user"].get("role"), "author",
             "the new account is a plain author")
        _, count = self.anon.slugs(author=alice.username)
        c.eq(count, 0, "the new account has no articles")
        c.eq(self.reader.get(f"/api/profiles/{alice.username}").json()["profile"]["following"],
             False, "nobody follows the new account")
        again.close()

    def close(self) -> None:
        """Close every client."""
        for person in [*self.people, self.anon]:
            person.close()


def main(argv: list[str] | None = None) -> int:
    """Run the play against --base-url or a server of its own; 0 when every check passed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", help="a running Folio (default: start one on a free port)")
    parser.add_argument("--admin", help="the admin's username (must be in the server's "
                        "FOLIO_ADMINS with --base-url; default: generated)")
    args = parser.parse_args(argv)
    admin = args.admin or f"admin_{secrets.token_hex(3)}"
    started = time.monotonic()
    server = None
    checks = Checks()
    try:
        if args.base_url:
            base_url = args.base_url.rstrip("/")
        else:
            server = Server(admin, free_port())
            server.wait_until_up()
            base_url = server.base_url
            print(f"started uvicorn service.main:app at {base_url} (PID {server.process.pid})")
        play = Play(base_url, admin, checks, own_server=server is not None)
        try:
            play.run()
        finally:
            play.close()
    except Exception as error:  # the server did not start: one failure, then the summary
        checks.ok(False, f"the run could start ({error})")
    finally:
        if server is not None:
            if checks.failed:
                print(f"\n-- server output (tail) --\n{server.tail()}")
            server.stop()
    total = checks.passed + len(checks.failed)
    print(f"\n{checks.passed}/{total} checks passed, {len(checks.failed)} failed "
          f"in {time.monotonic() - started:.1f} s")
    for label in checks.failed:
        print(f"  FAILED: {label}")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
