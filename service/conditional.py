"""Conditional requests (RFC 9110 §13): entity tags, If-None-Match and If-Match. HTTP only."""

import hashlib


def digest(document: bytes) -> str:
    """A short digest of a representation, for an entity tag."""
    return hashlib.sha256(document).hexdigest()[:16]


def _tags(header: str) -> list[str]:
    return [tag.strip() for tag in header.split(",") if tag.strip()]


def none_match(if_none_match: str | None, etag: str) -> bool:
    """Whether If-None-Match names this tag (weak comparison, §13.1.2): answer 304 if so."""
    if if_none_match is None:
        return False
    wanted = etag.removeprefix("W/")
    return any(tag == "*" or tag.removeprefix("W/") == wanted for tag in _tags(if_none_match))


def match_tags(if_match: str) -> list[str] | None:
    """The opaque tags If-Match names, strong ones only (§13.1.1: a weak tag never matches);
    None for `*`, which any current representation satisfies."""
    tags = _tags(if_match)
    if "*" in tags:
        return None
    return [tag.strip('"') for tag in tags if not tag.startswith("W/") and tag.startswith('"')]
