"""Callback inputs are checked before and inside callbacks: a bad value is a 400 that names it.

Two layers. :func:`check_dispatch` runs in the request guard on every ``/_dash-update-component``
call: the body must have Dash's shape, name a registered callback, and carry for each declared
input and state a value of the type its property has (``n_clicks`` a count, ``value`` a short
text, a number or a list of them, dates ISO dates, ...) within size limits. It reads the rule
from the callback's declaration, never from the request. Then callbacks check what only they
know (a number's range, an index into their own store) with :func:`text`, :func:`number`,
:func:`index` and :func:`records`, which raise :class:`InvalidInput`.
"""
from __future__ import annotations

import json
import math
from datetime import date

from werkzeug.exceptions import BadRequest

#: Longest text a user may type into a callback input (search box, filter, free-text reason).
MAX_TEXT_CHARS = 500
#: Longest URL part (``pathname``, ``search``, ``href``).
MAX_URL_CHARS = 2048
#: Most items in a list value (multi-select dropdown, pattern-matching inputs).
MAX_LIST_ITEMS = 500
#: Largest JSON value of a store, a grid request or a click event, serialized.
MAX_JSON_CHARS = 64_000


class InvalidInput(BadRequest):
    """A callback input breaks a rule; answered 400 with ``{"error": "<input>: <rule>"}``."""

    def __init__(self, field: str, rule: str):
        super().__init__(description=f"{field}: {rule}")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _count(field: str, value) -> None:
    if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31):
        raise InvalidInput(field, "expected a click count (a whole number ≥ 0)")


def _scalar(field: str, value) -> None:
    if isinstance(value, str):
        if len(value) > MAX_TEXT_CHARS:
            raise InvalidInput(field, f"text longer than {MAX_TEXT_CHARS:,} characters ({len(value):,})")
    elif not (value is None or isinstance(value, bool) or _is_number(value)):
        raise InvalidInput(field, f"expected a text or a number, got {type(value).__name__}")


def _value(field: str, value) -> None:
    """A form control's ``value``: text, number, bool, None, or a list of texts and numbers."""
    if isinstance(value, list):
        if len(value) > MAX_LIST_ITEMS:
            raise InvalidInput(field, f"more than {MAX_LIST_ITEMS} items")
        for item in value:
            if item is None or isinstance(item, bool):
                raise InvalidInput(field, "expected a list of texts or numbers")
            _scalar(field, item)
        return
    _scalar(field, value)


def _flag(field: str, value) -> None:
    if value is not None and not isinstance(value, bool):
        raise InvalidInput(field, "expected true or false")


def _iso_date(field: str, value) -> None:
    if value is None:
        return
    if not isinstance(value, str) or len(value) > 32:
        raise InvalidInput(field, "expected a date such as 2024-05-31")
    try:
        date.fromisoformat(value[:10])
    except ValueError:
        raise InvalidInput(field, f"{value[:40]!r} is not a date such as 2024-05-31") from None


def _pathname(field: str, value) -> None:
    if not (isinstance(value, str) and value.startswith("/") and len(value) <= MAX_URL_CHARS):
        raise InvalidInput(field, f"expected a path starting with / of at most {MAX_URL_CHARS} characters")


def _url_part(field: str, value) -> None:
    if value is not None and not (isinstance(value, str) and len(value) <= MAX_URL_CHARS):
        raise InvalidInput(field, f"expected a URL part of at most {MAX_URL_CHARS} characters")


def _json(field: str, value) -> None:
    """Any JSON value of bounded size (a store's data); its owner callback checks the structure."""
    try:
        size = len(json.dumps(value, allow_nan=False))
    except ValueError:  # NaN or Infinity: JSON has no such numbers
        raise InvalidInput(field, "numbers must be finite") from None
    if size > MAX_JSON_CHARS:
        raise InvalidInput(field, f"larger than {MAX_JSON_CHARS:,} characters of JSON")


def _json_object(field: str, value) -> None:
    if value is not None and not isinstance(value, dict):
        raise InvalidInput(field, f"expected an object, got {type(value).__name__}")
    _json(field, value)


def _component_id(field: str, value) -> None:
    if isinstance(value, str) and len(value) <= 200:
        return
    if isinstance(value, dict) and all(isinstance(k, str) and (isinstance(v, str) or _is_number(v))
                                       for k, v in value.items()):
        return
    raise InvalidInput(field, "expected a component id")


#: The rule of each property a callback may declare as an input or state. A callback declaring a
#: property not listed here is refused (tests/integration/test_security_web.py lists them all).
PROPERTY_RULES = {
    "n_clicks": _count, "submit_n_clicks": _count, "cancel_n_clicks": _count,
    "value": _value,
    "start_date": _iso_date, "end_date": _iso_date, "date": _iso_date,
    "pathname": _pathname, "search": _url_part, "hash": _url_part, "href": _url_part,
    "data": _json,
    "is_open": _flag,
    "getRowsRequest": _json_object, "cellClicked": _json_object, "clickData": _json_object,
    "id": _component_id,
}


def _declared_id(spec_id: str):
    """A declared id as Dash stores it: plain string, or the JSON of a pattern-matching id."""
    return json.loads(spec_id) if spec_id.startswith("{") else spec_id


def _matches(declared, sent) -> bool:
    """Whether the id the request sent fits the declared one (wildcards match any value)."""
    if isinstance(declared, str):
        return sent == declared
    if not isinstance(sent, dict) or set(sent) != set(declared):
        return False
    return all((isinstance(sent[key], str) or _is_number(sent[key])) if isinstance(want, list) else sent[key] == want
               for key, want in declared.items())


def _check_item(item, spec: dict) -> None:
    """One ``{"id", "property", "value"}`` of the body against the declared ``spec``."""
    if not isinstance(item, dict) or "id" not in item or item.get("property") != spec["property"]:
        raise InvalidInput(f"{spec['id']}.{spec['property']}", "does not match the callback's declaration")
    declared = _declared_id(spec["id"])
    if not _matches(declared, item["id"]):
        raise InvalidInput(f"{spec['id']}.{spec['property']}", "does not match the callback's declaration")
    rule = PROPERTY_RULES.get(spec["property"])
    if rule is None:
        raise InvalidInput(f"{spec['id']}.{spec['property']}", "this property is not accepted as a callback input")
    rule(f"{spec['id']}.{spec['property']}", item.get("value"))
    if spec["property"] == "id" and item.get("value") != item["id"]:  # a component's id is its id
        raise InvalidInput(f"{spec['id']}.id", "differs from the component's id")


def _check_group(items, specs: list[dict], what: str) -> None:
    if not isinstance(items, list) or len(items) != len(specs):
        raise InvalidInput(what, f"expected {len(specs)} entries as the callback declares")
    for item, spec in zip(items, specs):
        if spec["id"].startswith("{") and any(isinstance(v, list) for v in _declared_id(spec["id"]).values()):
            # pattern-matching ALL / ALLSMALLER: a list of matching components
            if not isinstance(item, list) or len(item) > MAX_LIST_ITEMS:
                raise InvalidInput(f"{spec['id']}.{spec['property']}", "expected a list of matching components")
            for member in item:
                _check_item(member, spec)
        else:
            _check_item(item, spec)


def check_dispatch(body, callback_map: dict) -> None:
    """Validate a Dash callback request against the registered callback (see module docstring).

    Raises
    ------
    InvalidInput
        The body is malformed, names no registered callback, or carries a value its declared
        property does not allow.
    """
    if not isinstance(body, dict) or not isinstance(body.get("output"), str):
        raise InvalidInput("request", "expected a Dash callback request with an output")
    callback = callback_map.get(body["output"])
    if callback is None:
        raise InvalidInput("output", f"no callback writes {body['output'][:200]!r}")
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) and len(c) <= MAX_URL_CHARS for c in changed):
        raise InvalidInput("changedPropIds", "expected a list of property ids")
    outputs = body.get("outputs")
    if outputs is not None and not isinstance(outputs, (dict, list)):
        raise InvalidInput("outputs", "expected an output spec or a list of them")
    _check_group(body.get("inputs", []), callback["inputs"], "inputs")
    _check_group(body.get("state", []), callback.get("state", []), "state")


def text(value, field: str, max_chars: int = MAX_TEXT_CHARS) -> str:
    """``value`` as a stripped text ('' for None); longer than ``max_chars`` is refused."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(field, f"expected a text, got {type(value).__name__}")
    if len(value) > max_chars:
        raise InvalidInput(field, f"text longer than {max_chars:,} characters ({len(value):,})")
    return value.strip()


def optional_text(value, field: str, max_chars: int = MAX_TEXT_CHARS) -> str | None:
    """Like :func:`text`, with blank as None (an unset filter)."""
    return text(value, field, max_chars) or None


def texts(value, field: str, max_chars: int = MAX_TEXT_CHARS) -> list[str]:
    """A multi-select's ``value`` as a list of texts (a single text becomes a list of one)."""
    items = value if isinstance(value, list) else [] if value is None else [value]
    return [t for t in (text(item, field, max_chars) for item in items) if t]


def number(value, field: str, low: float, high: float, default: float) -> float:
    """``value`` as a float in [low, high] (``default`` for None)."""
    if value is None:
        return default
    if not _is_number(value) or not low <= value <= high:
        raise InvalidInput(field, f"expected a number from {low:g} to {high:g}")
    return float(value)


def index(value, size: int, field: str) -> int:
    """``value`` as a position in a list of ``size`` items."""
    if not (isinstance(value, int) and not isinstance(value, bool) and 0 <= value < size):
        raise InvalidInput(field, f"expected a position from 0 to {size - 1}")
    return value


def whole_numbers(value, field: str) -> list[int]:
    """``value`` as a list of whole numbers ([] for None)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in value):
        raise InvalidInput(field, "expected a list of whole numbers")
    return value


def records(value, field: str, keys: tuple[str, ...]) -> list[dict]:
    """``value`` as a list of objects that each have ``keys`` (a store the server filled)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(r, dict) and all(k in r for k in keys) for r in value):
        raise InvalidInput(field, f"expected a list of objects with {', '.join(keys)}")
    return value
