"""Where a media's bytes are served: the path of each rendition (what is stored), and the
absolute URL answers carry (on FOLIO_PUBLIC_URL, else the request's base URL)."""

from typing import Any

ROUTE = "/api/media"


def rendition_path(media_id: Any, name: str) -> str:
    """The path that serves one rendition: `/api/media/{mediaId}/{name}`; its bytes never change."""
    return f"{ROUTE}/{media_id}/{name}"


def absolute(base: str, path: str) -> str:
    """A path made absolute on a base URL (`https://api.example.com`, with or without a slash)."""
    return base.rstrip("/") + path


def public_base(public_url: str | None, request_base: str) -> str:
    """The base URL media links are built on: FOLIO_PUBLIC_URL when set, else the request's."""
    return (public_url or request_base).rstrip("/")
