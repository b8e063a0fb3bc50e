"""Safe repairs of an answer that is almost a plan: syntax first, then values the schema can read one way only.

Only repairs that cannot change what the teacher meant are made, and each is
recorded (``post_validation.repairs``) so that a dataset says how much of it
was mended:

- ``trailing_comma`` (text): a comma before ``}`` or ``]``, outside strings;
- ``number_from_string:<path>``: ``"5"`` where the schema wants an integer (or
  ``"62.5"`` where it wants a number; ``"30 s"`` for seconds, ``"60 kg"`` for a load);
  ``integer_from_float:<path>``: ``10.0`` where it wants an integer;
- ``range:<path>``: a rep range written ``"8 - 12"``, ``"8–12"`` or ``"8 to 12"``
  becomes ``"8-12"``; ``"5-5"`` becomes ``5``;
- ``dropped_key:<path>``: a key the schema does not allow (the training target
  must match the schema; the raw answer keeps it in ``responses.jsonl``).

Anything else (a missing field, a value out of range, a reversed range) is
left for the re-ask, which tells the teacher what was wrong.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fitsense_luigi.teacher.extract import scan_json

_NUMBER = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:s|sec|secs|seconds|kg|kgs)?\s*$", re.IGNORECASE)
_RANGE = re.compile(r"^\s*(\d{1,2})\s*(?:-|–|—|to)\s*(\d{1,2})\s*(?:reps)?\s*$", re.IGNORECASE)


def parse_with_repairs(text: str) -> tuple[Any, list[str]]:
    """(parsed JSON, text repairs); raises ``json.JSONDecodeError`` when even the repaired text does not parse."""
    try:
        return json.loads(text), []
    except json.JSONDecodeError:
        pass
    fixed = remove_trailing_commas(text)
    if fixed == text:
        raise json.JSONDecodeError("not JSON", text, 0) from None
    return json.loads(fixed), ["trailing_comma"]


def remove_trailing_commas(text: str) -> str:
    """Drop every comma that only whitespace separates from a closing ``}`` or ``]`` (never inside a string)."""
    out: list[str] = []
    pending: list[str] = []  # a comma and the whitespace after it, held until we know what follows
    for _, ch, quoted in scan_json(text):
        if quoted:
            out.append(ch)
            continue
        if pending:
            if ch.isspace():
                pending.append(ch)
                continue
            out.extend(pending[1:] if ch in "}]" else pending)  # before a closing bracket the comma goes
            pending = []
        if ch == ",":
            pending = [ch]
        else:
            out.append(ch)
    out.extend(pending)
    return "".join(out)


def normalise(value: Any, schema: dict[str, Any], path: str = "") -> tuple[Any, list[str]]:
    """``value`` with the schema-guided value repairs applied, and what they were."""
    repairs: list[str] = []
    return _walk(value, schema, path, repairs), repairs


def _walk(value: Any, schema: dict[str, Any], path: str, repairs: list[str]) -> Any:
    if isinstance(value, dict) and schema.get("type") == "object":
        props = schema.get("properties", {})
        out = {}
        for key, item in value.items():
            where = f"{path}/{key}" if path else key
            if key not in props and schema.get("additionalProperties") is False:
                repairs.append(f"dropped_key:{where}")
                continue
            out[key] = _walk(item, props.get(key, {}), where, repairs) if key in props else item
        return out
    if isinstance(value, list) and schema.get("type") == "array":
        items = schema.get("items", {})
        return [_walk(item, items, f"{path}/{i}", repairs) for i, item in enumerate(value)]
    if isinstance(value, str | float) and not isinstance(value, bool):
        fixed = _scalar(value, _branches(schema))
        if fixed is not _SAME:
            kind = (
                "range"
                if _is_range(value)
                else "number_from_string"
                if isinstance(value, str)
                else "integer_from_float"
            )
            repairs.append(f"{kind}:{path}")
            return fixed
    return value


_SAME = object()


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """One branch per type a value may take (``anyOf`` branches, or each type of a ``type`` list)."""
    if "anyOf" in schema:
        return schema["anyOf"]
    kinds = schema.get("type")
    if isinstance(kinds, list):
        return [dict(schema, type=kind) for kind in kinds]
    return [schema]


def _is_range(value: Any) -> bool:
    return isinstance(value, str) and _RANGE.match(value) is not None


def _scalar(value: str | float, branches: list[dict[str, Any]]) -> Any:
    """The one reading of ``value`` the schema allows, or ``_SAME`` when it is fine as it is (or beyond repair)."""
    types = {b.get("type") for b in branches}
    ranges = [b["pattern"] for b in branches if b.get("type") == "string" and "pattern" in b]
    if isinstance(value, float):  # 10.0 where an integer is wanted
        return int(value) if "integer" in types and "number" not in types and value.is_integer() else _SAME
    if "string" in types and not ranges:
        return _SAME  # free text: a string is what it should be
    if ranges and (m := _RANGE.match(value)):
        lo, hi = int(m.group(1)), int(m.group(2))
        if lo == hi and "integer" in types:
            return lo
        candidate = f"{lo}-{hi}"
        if candidate != value and all(re.fullmatch(p, candidate) for p in ranges):
            return candidate
        return _SAME
    m = _NUMBER.match(value)
    if not m:
        return _SAME
    number = float(m.group(1))
    if "integer" in types and number.is_integer():
        return int(number)
    if "number" in types:
        return int(number) if number.is_integer() and "." not in m.group(1) else number
    return _SAME
