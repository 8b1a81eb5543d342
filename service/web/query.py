"""A query-string model validated in one pydantic call, documented as FastAPI documents one.

FastAPI 0.16x reads a query model (`Annotated[Model, Query()]`) field by field on every request,
inspecting each field's annotation, aliases and config again each time: for `GET /api/articles`'s
seven parameters that was about 75 µs of CPU per request, ten times the validation itself
(issue 21; `python -m tools.cpu_in_process`). `QueryModel` takes the query string as FastAPI
would hand it to the model (the last value of a repeated parameter, unknown parameters passed
along for the model to ignore) and validates it with the model in one call. A failure raises
FastAPI's own `RequestValidationError` with the errors FastAPI would report (`loc` starting at
`query`), so the 422 answer is the same.

The parameters are documented by FastAPI itself, from the same model: `openapi` is the
`parameters` list FastAPI generates for `Annotated[Model, Query()]`, for the route's
`openapi_extra`. tests/test_query_model.py holds both to what FastAPI does.
"""

from typing import Annotated, Any, Generic, TypeVar, get_origin

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)
SEQUENCES = (list, set, frozenset, tuple)


def documented_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The OpenAPI `parameters` FastAPI writes for `Annotated[model, Query()]` (a probe app's)."""
    probe = FastAPI()

    async def probe_route(params: Annotated[model, Query()]) -> None:  # type: ignore[valid-type]
        """Only read for its documentation."""

    probe.get("/")(probe_route)
    return probe.openapi()["paths"]["/"]["get"]["parameters"]


class QueryModel(Generic[Model]):
    """A dependency: the request's query string as `model`; `openapi` for the route's
    `openapi_extra`, so that the parameters are documented as before."""

    def __init__(self, model: type[Model]) -> None:
        listed = [name for name, field in model.model_fields.items()
                  if (get_origin(field.annotation) or field.annotation) in SEQUENCES]
        if listed:  # FastAPI reads those with getlist(); a dict of the query string cannot
            raise TypeError(f"QueryModel: {model.__name__}.{listed[0]} is a sequence; "
                            "use Annotated[Model, Query()]")
        self.model = model
        self.openapi = {"parameters": documented_parameters(model)}

    async def __call__(self, request: Request) -> Model:
        """Validate the query string in one call; 422 (FastAPI's error) when it does not fit."""
        try:
            return self.model.model_validate(dict(request.query_params))
        except ValidationError as error:
            raise RequestValidationError([
                {**detail, "loc": ("query", *detail["loc"])}
                for detail in error.errors(include_url=False)
            ]) from None
