"""A model's chat template, rendered the way Hugging Face ``transformers`` renders it (no transformers needed).

A chat template is Jinja code shipped in a model's ``tokenizer_config.json``
(``chat_template``). ``transformers`` compiles it in a sandbox with
``trim_blocks``, ``lstrip_blocks`` and the loop controls, gives it
``raise_exception``, ``strftime_now`` and a ``tojson`` that does not escape
HTML, and passes ``messages``, ``add_generation_prompt`` and the special
tokens (``bos_token``, ``eos_token``, ...). This module does the same, so the
dataset can count the tokens of a conversation exactly as the trainer will
see it; ``tests/dataset/test_dataset_templates.py`` checks it against
``transformers.apply_chat_template`` on real templates. ``{% generation %}``
markers (TRL's training templates) render their body unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

SPECIAL_TOKEN_KEYS = ("bos_token", "eos_token", "unk_token", "pad_token")
NO_SYSTEM_ROLE = "System role not supported"  # what Gemma 2's template raises on a system turn


class ChatTemplateError(ValueError):
    """The template refused the conversation (``raise_exception`` in the template)."""


class _Generation(jinja2.ext.Extension):
    """``{% generation %}...{% endgeneration %}``: rendered as its body (transformers tracks the span)."""

    tags = frozenset({"generation"})

    def parse(self, parser: Any) -> Any:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

    def _body(self, caller: Any) -> str:
        return caller()


def _raise(message: str) -> None:
    raise ChatTemplateError(message)


def _tojson(x: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None, sort_keys: bool = False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _strftime_now(fmt: str) -> str:
    return datetime.now().strftime(fmt)


def compile_template(source: str) -> jinja2.Template:
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[_Generation, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = _strftime_now
    return env.from_string(source)


@dataclass
class ChatTemplate:
    """One model's template and the special tokens it is rendered with."""

    source: str
    special_tokens: Mapping[str, str] = field(default_factory=dict)
    _compiled: jinja2.Template | None = None

    def render(self, messages: list[Mapping[str, str]], add_generation_prompt: bool = False) -> str:
        if self._compiled is None:
            self._compiled = compile_template(self.source)
        return self._compiled.render(
            messages=[dict(m) for m in messages], add_generation_prompt=add_generation_prompt, **self.special_tokens
        )

    @property
    def takes_system_turn(self) -> bool:
        """False for templates that refuse a system message (Gemma 2): records then use the no-system form."""
        try:
            self.render([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}])
        except ChatTemplateError as exc:
            if NO_SYSTEM_ROLE in str(exc):
                return False
            raise
        return True


def special_tokens(tokenizer_config: Mapping[str, Any]) -> dict[str, str]:
    """``bos_token`` and friends from a ``tokenizer_config.json`` (a string, or an AddedToken dict)."""
    out = {}
    for key in SPECIAL_TOKEN_KEYS:
        value = tokenizer_config.get(key)
        if isinstance(value, Mapping):
            value = value.get("content")
        if isinstance(value, str):
            out[key] = value
    return out
