"""Wire shapes of the tags domain."""

from service.schemas import WireModel


class TagsResponse(WireModel):
    """The `tags` envelope."""

    tags: list[str]
