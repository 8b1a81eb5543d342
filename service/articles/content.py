"""What Folio computes from an article's text on write: safe HTML and a reading time."""

import math
import re

import nh3
from markdown_it import MarkdownIt

from service.contract.schemas import printable

WORDS_PER_MINUTE = 230

# Raw HTML in Markdown is escaped, not passed through; the sanitiser is a second, independent wall.
_markdown = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])

ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s", "code", "pre",
    "blockquote", "ul", "ol", "li", "a", "img", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}
# Relative URLs pass too, so a body may embed Folio's own media by path (`/api/media/{id}/w960`)
# or by absolute URL; the media they name count as used (service/media/covers.py).
ALLOWED_URL_SCHEMES = {"http", "https", "mailto"}


def render_markdown(body: str) -> str:
    """Markdown rendered to HTML, then sanitised: no scripts, handlers, styles or unsafe URLs,
    and no character XML forbids (replaced by U+FFFD), so the HTML always fits in a feed."""
    return nh3.clean(
        _markdown.render(printable(body)),
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


def reading_time_minutes(body: str) -> int:
    """Minutes to read the body at about 230 words a minute, never less than one."""
    words = len(re.findall(r"\S+", body))
    return max(1, math.ceil(words / WORDS_PER_MINUTE))
