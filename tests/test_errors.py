"""Every error answers the RealWorld envelope, never a stack trace."""

import httpx

from service.contract.errors import validation_envelope
from service.main import create_app


async def test_unknown_route_answers_404_in_the_envelope(client):
    response = await client.get("/api/nowhere")
    assert response.status_code == 404
    assert response.json() == {"errors": {"path": ["Not Found"]}}


async def test_wrong_method_answers_405_in_the_envelope(client):
    response = await client.patch("/api/tags")
    assert response.status_code == 405
    assert response.json() == {"errors": {"method": ["Method Not Allowed"]}}


async def test_malformed_json_answers_422(client):
    response = await client.post(
        "/api/users/login", content=b'{"user": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json() == {"errors": {"body": ["is not valid JSON"]}}


async def test_unexpected_errors_answer_500_without_internals(settings):
    app = create_app(settings)

    @app.get("/api/boom")
    async def boom() -> None:
        raise RuntimeError("secret database detail")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://folio.test") as client:
        response = await client.get("/api/boom")
    assert response.status_code == 500
    request_id = response.headers["x-request-id"]
    assert response.json() == {"errors": {"server": [f"internal error (request id {request_id})"]}}
    assert "secret" not in response.text and "Traceback" not in response.text


async def test_an_unexpected_error_is_logged_once_with_one_traceback(settings, caplog):
    # Starlette raises the error again after its handler, and uvicorn then logged a second
    # traceback; a transport that raises what the app raises would have raised it here.
    app = create_app(settings)

    @app.get("/api/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    transport = httpx.ASGITransport(app=app)  # raises whatever escapes the app
    with caplog.at_level("ERROR"):
        async with httpx.AsyncClient(transport=transport, base_url="http://folio.test") as client:
            response = await client.get("/api/boom")
    assert response.status_code == 500
    with_traceback = [record for record in caplog.records if record.exc_info]
    assert len(with_traceback) == 1 and with_traceback[0].name == "folio.errors"
    assert response.headers["x-request-id"] in with_traceback[0].getMessage()


def test_validation_errors_are_grouped_by_field():
    envelope = validation_envelope([
        {"loc": ("body", "user", "email"), "type": "missing", "msg": "Field required"},
        {"loc": ("body", "user", "email"), "type": "missing", "msg": "Field required"},
        {"loc": ("query", "limit"), "type": "less_than_equal", "msg": "too big"},
        {"loc": ("body", "article", "tagList", 3), "type": "string_type", "msg": "bad"},
    ])
    assert envelope == {"errors": {
        "email": ["can't be blank"], "limit": ["too big"], "tagList": ["bad"],
    }}


async def test_interactive_docs_and_openapi_are_served(client):
    assert (await client.get("/docs")).status_code == 200
    spec = (await client.get("/openapi.json")).json()
    for path in ("/api/users", "/api/users/login", "/api/user", "/api/profiles/{username}",
                 "/api/articles", "/api/articles/feed", "/api/articles/{slug}/favorite",
                 "/api/articles/{slug}/comments/{id}", "/api/tags"):
        assert path in spec["paths"], path


async def test_a_body_that_is_not_utf8_answers_422(client):
    response = await client.post(
        "/api/users", content=b"\x11v\xff", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json() == {"errors": {"body": ["is not valid JSON"]}}


def test_timestamps_keep_four_digit_years():
    from datetime import UTC, datetime

    from service.contract.schemas import format_timestamp

    assert format_timestamp(datetime(2, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)) == "0002-01-02T03:04:05.678Z"
    assert format_timestamp(datetime(2026, 1, 2, 3, 4, 5, 678999)) == "2026-01-02T03:04:05.678Z"
