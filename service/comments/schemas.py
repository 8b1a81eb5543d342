"""Wire shapes of the comments domain."""

from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints

from service.profiles.schemas import Profile
from service.schemas import RequestModel, Timestamp, WireModel, not_blank


class NewComment(RequestModel):
    """A comment to add."""

    body: Annotated[str, StringConstraints(max_length=10_000), AfterValidator(not_blank)]


class NewCommentRequest(RequestModel):
    """The `comment` envelope of a create."""

    comment: NewComment


class CommentOut(WireModel):
    """A comment with its author's profile; `id` is an integer."""

    id: int
    created_at: Timestamp
    updated_at: Timestamp
    body: str
    author: Profile

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> "CommentOut":
        """Build from a pipeline result whose `_id` is the comment's integer id."""
        return cls.model_validate({**doc, "id": doc["_id"]})


class SingleCommentResponse(WireModel):
    """The `comment` envelope."""

    comment: CommentOut


class MultipleCommentsResponse(WireModel):
    """The `comments` envelope."""

    comments: list[CommentOut]
