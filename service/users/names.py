"""Usernames: Unicode normalisation, and the key that makes look-alikes collide."""

import unicodedata


def normalise_username(value: object) -> object:
    """NFKC (full-width and other compatibility forms become plain letters), trimmed."""
    return unicodedata.normalize("NFKC", value).strip() if isinstance(value, str) else value


def _script(character: str) -> str | None:
    """The script a letter belongs to (LATIN, CYRILLIC, GREEK, ...); None for non-letters."""
    if not character.isalpha():
        return None
    name = unicodedata.name(character, "")
    return name.split(" ", 1)[0] if name else None


def single_script(username: str) -> str:
    """Refuse letters mixed from several scripts, the usual trick behind look-alike names."""
    scripts = {script for character in username if (script := _script(character))}
    if len(scripts) > 1:
        raise ValueError("must use letters from one script only")
    return username


def username_key(username: str) -> str:
    """What two usernames share when they only differ by case or compatibility form."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", username).casefold())
