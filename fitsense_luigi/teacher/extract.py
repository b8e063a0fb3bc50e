"""Find the JSON answer inside what a model actually wrote, before anything judges it.

Real endpoints rarely return the bare object the system prompt asks for (see
``shared/reference/teacher_api.md``): reasoning models put ``<think>...</think>``
inline unless the server runs a reasoning parser, many models wrap the object
in a ```` ```json ```` fence, add "Here is your plan:" before it and comments
after it. The steps, as instructor does them: strip reasoning, take the first
fenced block that holds an object, else the outermost ``{...}`` of the text.
What was done is recorded (``extracted``: ``as_is``, ``fenced`` or
``object``; ``reasoning``: ``inline_think`` when a think block was removed) so
that a dataset can say how much of it needed extracting.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

# <think> ... </think> (also <thinking>, <reasoning>); an unclosed block at the start runs to the first "{"
_THINK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.DOTALL | re.IGNORECASE)
_UNCLOSED_THINK = re.compile(r"^\s*<(?:think|thinking|reasoning)>.*?(?=\{)", re.DOTALL | re.IGNORECASE)
_STRAY_CLOSE = re.compile(r"^.*?</(?:think|thinking|reasoning)>", re.DOTALL | re.IGNORECASE)
_FENCE = re.compile(r"```[ \t]*(?:json5?|JSON|javascript|js)?[ \t]*\r?\n?(.*?)```", re.DOTALL)


@dataclass(frozen=True)
class Extraction:
    text: str | None  # the JSON candidate; None when the answer holds no object at all
    extracted: str | None  # as_is | fenced | object | None
    reasoning: str | None  # inline_think when a reasoning block was stripped
    prose: str  # the text with reasoning stripped (what a refusal check reads)


def strip_reasoning(content: str) -> tuple[str, bool]:
    """The answer without inline reasoning blocks; True when one was there."""
    text = _THINK.sub("", content)
    if text == content:
        # an unclosed <think> before the answer, or a stray </think> (the server ate the opening tag)
        text = _UNCLOSED_THINK.sub("", content, count=1)
        if text == content and "</" in content[:20000]:
            text = _STRAY_CLOSE.sub("", content, count=1)
    return text.strip(), text != content


def extract(content: str) -> Extraction:
    text, stripped = strip_reasoning(content)
    reasoning = "inline_think" if stripped else None
    if text.startswith("{") and text.endswith("}"):
        return Extraction(text, "as_is", reasoning, text)
    for block in _FENCE.findall(text):
        candidate = outermost_object(block)
        if candidate is not None:
            return Extraction(candidate, "fenced", reasoning, text)
    candidate = outermost_object(text)
    if candidate is not None:
        return Extraction(candidate, "object", reasoning, text)
    return Extraction(None, None, reasoning, text)


def scan_json(text: str, start: int = 0) -> Iterator[tuple[int, str, bool]]:
    """(index, character, inside a JSON string?) from ``start``; escapes respected, a closing quote counts as inside."""
    in_string = escaped = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            yield i, ch, True
        else:
            in_string = ch == '"'
            yield i, ch, False


def outermost_object(text: str) -> str | None:
    """From the first ``{`` to the ``}`` that closes it (strings and escapes respected), else to the last ``}``.

    The balanced scan keeps commentary after the object out even when the
    commentary itself contains a brace; the last-brace fallback is instructor's
    rule, for objects whose own braces do not balance (then the parser decides).
    """
    start = text.find("{")
    if start < 0:
        return None
    depth = 0
    for i, ch, quoted in scan_json(text, start):
        if quoted:
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    end = text.rfind("}")
    return text[start : end + 1] if end > start else None
