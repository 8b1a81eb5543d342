"""Wire shapes of the tags domain."""

from service.contract.schemas import WireModel


class TagsResponse(WireModel):
    """The `tags` envelope."""

    tags: list[str]
