"""The rules for `meta`, the free-form part of an article, and for `?meta.<key>=` filters."""

import json
import math
import re
from typing import Any

from service.contract.errors import Invalid
from service.contract.schemas import FORBIDDEN_MESSAGE, forbidden_character

MAX_KEYS = 32
MAX_DEPTH = 3
MAX_ENCODED_BYTES = 8 * 1024
MAX_FILTERS = 5
KEY_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
INT64 = (-(2**63), 2**63 - 1)


KEY_RULE = "keys start with a letter and hold only letters, digits and _ (64 at most)"


def _check_object(obj: dict[Any, Any], path: str, depth: int, keys: list[int]) -> None:
    """Check an object's keys and then each of its values."""
    for key, item in obj.items():
        if not isinstance(key, str) or not KEY_PATTERN.match(key):
            raise Invalid(f"{path}.{key}", KEY_RULE)
        keys[0] += 1
        if keys[0] > MAX_KEYS:
            raise Invalid(f"{path}.{key}", f"meta may hold at most {MAX_KEYS} keys")
        _check_value(item, f"{path}.{key}", depth + 1, keys)


def _check_value(value: Any, path: str, depth: int, keys: list[int]) -> None:
    """Check one value, raising Invalid at the first path that breaks a rule."""
    if isinstance(value, str):
        character = forbidden_character(value)
        if character is not None:  # the text policy of every other field (service/contract/schemas.py)
            raise Invalid(path, FORBIDDEN_MESSAGE.format(character=character))
        return
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        if not INT64[0] <= value <= INT64[1]:
            raise Invalid(path, "integers must fit in 64 bits")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise Invalid(path, "numbers must be finite")
        return
    if not isinstance(value, (dict, list)):
        kind = "null" if value is None else type(value).__name__
        raise Invalid(path, f"values must be strings, numbers, booleans, lists or objects, not {kind}")
    if depth > MAX_DEPTH:
        raise Invalid(path, f"meta may nest at most {MAX_DEPTH} levels")
    if isinstance(value, dict):
        _check_object(value, path, depth, keys)
    else:
        for index, item in enumerate(value):
            _check_value(item, f"{path}.{index}", depth + 1, keys)


def validate_meta(meta: Any) -> dict[str, Any]:
    """Check meta against every rule; raises Invalid naming the offending path (e.g. meta.a.b)."""
    if not isinstance(meta, dict):
        raise Invalid("meta", "must be an object")
    _check_object(meta, "meta", 1, [0])
    if len(json.dumps(meta, separators=(",", ":"), ensure_ascii=False).encode()) > MAX_ENCODED_BYTES:
        raise Invalid("meta", f"meta may be at most {MAX_ENCODED_BYTES} bytes encoded")
    return meta


INTEGER = re.compile(r"-?[0-9]+")
DECIMAL = re.compile(r"-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")


def parse_filter_value(raw: str) -> list[Any]:
    """The values a `?meta.key=raw` filter matches: what raw parses as, and raw as text."""
    if raw in ("true", "false"):
        return [raw == "true", raw]
    if INTEGER.fullmatch(raw):
        number = int(raw)
        return [number, raw] if INT64[0] <= number <= INT64[1] else [raw]
    if DECIMAL.fullmatch(raw) and math.isfinite(decimal := float(raw)):
        return [decimal, raw]
    return [raw]


def meta_filters(params: list[tuple[str, str]]) -> dict[str, Any]:
    """The `$match` conditions for `meta.<path>=<value>` query parameters."""
    conditions: dict[str, Any] = {}
    for name, raw in params:
        if not name.startswith("meta."):
            continue
        segments = name.split(".")[1:]
        if not 1 <= len(segments) <= MAX_DEPTH or not all(KEY_PATTERN.match(s) for s in segments):
            raise Invalid(name, "filter on meta.<key> with keys of letters, digits and _")
        conditions[name] = {"$in": parse_filter_value(raw)}
    if len(conditions) > MAX_FILTERS:
        raise Invalid("meta", f"at most {MAX_FILTERS} meta filters at once")
    return conditions
