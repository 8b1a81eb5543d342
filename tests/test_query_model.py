"""QueryModel (service/web/query.py) validates a query string in one call: it must take, refuse and
document exactly what FastAPI's own `Annotated[Model, Query()]` does (any engine: no database)."""

from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Query
from pydantic import BaseModel

from service.articles.schemas import ListParams
from service.contract.errors import install_error_handlers
from service.contract.schemas import PageParams
from service.web.query import QueryModel

QUERIES = [
    "",
    "limit=5&offset=10",
    "limit=0",
    "limit=101",
    "limit=abc",
    "limit=",
    "offset=-1",
    "offset=1.5",
    "limit=5&limit=7",  # a repeated parameter: the last one counts
    "cursor=abc&offset=3",  # the model's own rule: one way of paging
    "cursor=" + "x" * 600,
    "tag=dragons&author=jake&favorited=ann",
    "tag=" + "t" * 65,
    "tag=",
    "status=draft",
    "status=deleted",
    "meta.lang=en&meta.year=2024&unknown=1",  # parameters the model does not name are ignored
    "limit=5&status=nope&offset=x",  # several errors at once
]


def probe(model: type[BaseModel]) -> FastAPI:
    """Two routes on one app with Folio's error handlers: FastAPI's query model and QueryModel,
    each answering the validated model."""
    app = FastAPI()
    install_error_handlers(app)
    fast = QueryModel(model)

    @app.get("/fastapi")
    async def with_fastapi(params: Annotated[model, Query()]) -> dict:  # type: ignore[valid-type]
        return params.model_dump()

    @app.get("/folio", openapi_extra=fast.openapi)
    async def with_folio(params: Annotated[model, Depends(fast)]) -> dict:  # type: ignore[valid-type]
        return params.model_dump()

    return app


@pytest.mark.parametrize("model", [ListParams, PageParams])
async def test_every_query_string_gets_the_answer_fastapi_gives(model):
    transport = httpx.ASGITransport(app=probe(model))
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        for query in QUERIES:
            theirs = await client.get(f"/fastapi?{query}")
            ours = await client.get(f"/folio?{query}")
            assert (ours.status_code, ours.json()) == (theirs.status_code, theirs.json()), query
    # The cases above include both outcomes, so neither path can pass by always refusing.
    statuses = set()
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        for query in QUERIES:
            statuses.add((await client.get(f"/folio?{query}")).status_code)
    assert statuses == {200, 422}


@pytest.mark.parametrize("model", [ListParams, PageParams])
def test_the_parameters_are_documented_as_fastapi_documents_them(model):
    document = probe(model).openapi()
    theirs = document["paths"]["/fastapi"]["get"]["parameters"]
    ours = document["paths"]["/folio"]["get"]["parameters"]
    assert ours == theirs
    assert [parameter["name"] for parameter in ours] == list(model.model_fields)


async def test_the_article_list_and_the_feed_document_their_parameters(client):
    document = (await client.get("/openapi.json")).json()
    listed = document["paths"]["/api/articles"]["get"]["parameters"]
    assert [parameter["name"] for parameter in listed] == [
        "limit", "offset", "cursor", "tag", "author", "favorited", "status"]
    assert all(parameter["in"] == "query" for parameter in listed)
    feed = document["paths"]["/api/articles/feed"]["get"]["parameters"]
    assert [parameter["name"] for parameter in feed] == ["limit", "offset", "cursor"]


def test_a_model_with_a_list_parameter_is_refused():
    class Tags(BaseModel):
        tag: list[str] = []

    with pytest.raises(TypeError, match="Tags.tag is a sequence"):
        QueryModel(Tags)
