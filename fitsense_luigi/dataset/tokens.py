"""How many tokens each record costs the student: counted with its tokenizer, or estimated and labelled so.

With ``dataset.tokens.tokenizer`` naming a local ``tokenizer.json`` the
counts come from the ``tokenizers`` library (offline, nothing is downloaded).
When a ``tokenizer_config.json`` with a ``chat_template`` lies beside it (as in
every Hugging Face model directory) the conversation is rendered with that
template first, so the counts are those of the sequence the trainer sees:
``prompt`` is the rendered prompt with the generation prompt (what TRL masks
out of the loss), ``total`` the whole rendered conversation. Without a
template the message texts are counted and :data:`TURN_ALLOWANCE` tokens per
turn plus :data:`PREAMBLE_ALLOWANCE` are added for the template's markers
(Llama 3.1 writes about 20 tokens of dates into every system turn).

Without a tokenizer the counts are an estimate: characters / :data:`CHARS_PER_TOKEN`.
This JSON-heavy text runs at about 3 characters a token with real Llama 3.1 and
Qwen2.5 vocabularies (issue 14 measured characters / 4 to be about 30 % low;
``bench/bench_tokens.py`` measures any local tokenizer.json: a 16k BPE vocabulary
trained on the records gives 3.1 to 3.5). The estimate divides by 2.5 to stay
above the real count, so that the card's ``max_length`` still keeps every record
whole, and says it is an estimate wherever it is shown.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from fitsense_luigi.dataset.chat_template import ChatTemplate, special_tokens
from fitsense_luigi.errors import ConfigError

CHARS_PER_TOKEN = 2.5
TURN_ALLOWANCE = 8  # tokens per message for a template's role markers, when no template is known
PREAMBLE_ALLOWANCE = 32  # tokens a template may add once (Llama 3.1's "Cutting Knowledge Date ... Today Date ...")
MAX_LENGTH_STEP = 64  # the card's max_length is rounded up to a multiple of this


@dataclass(frozen=True)
class TokenCount:
    prompt: int  # system + user turns, as rendered up to the start of the answer
    completion: int  # the answer and the end-of-turn marker(s) after it
    total: int


class _Encoder(Protocol):
    def __call__(self, text: str) -> int: ...


class TokenCounter:
    """Counts the tokens of a conversation (system, user, assistant) for the card and the token filter."""

    def __init__(self, encode: _Encoder, method: str, template: ChatTemplate | None = None, exact: bool = False):
        self._encode = encode
        self.method = method  # shown in the card and the length report
        self.template = template
        self.exact = exact  # counted with the student's tokenizer (not an estimate)

    def count(self, messages: list[dict[str, str]], no_system: list[dict[str, str]] | None = None) -> TokenCount:
        """Tokens of ``messages`` (prompt turns then the answer); ``no_system`` for templates without one."""
        if self.template is not None:
            turns = messages if self.template.takes_system_turn or no_system is None else no_system
            prompt = self._encode(self.template.render(turns[:-1], add_generation_prompt=True))
            total = self._encode(self.template.render(turns))
            return TokenCount(prompt, total - prompt, total)
        prompt = PREAMBLE_ALLOWANCE + sum(self._encode(m["content"]) + TURN_ALLOWANCE for m in messages[:-1])
        completion = self._encode(messages[-1]["content"]) + TURN_ALLOWANCE
        return TokenCount(prompt, completion, prompt + completion)

    def describe(self) -> dict[str, Any]:
        return {"method": self.method, "exact": self.exact, "chat_template": self.template is not None}


def estimate(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def token_counter(tokenizer: str | None) -> TokenCounter:
    """The counter for ``dataset.tokens.tokenizer`` (a path, or None for the labelled estimate)."""
    if tokenizer is None:
        method = (
            f"estimate: characters / {CHARS_PER_TOKEN:g}, plus {TURN_ALLOWANCE} tokens a turn and "
            f"{PREAMBLE_ALLOWANCE} for the chat template (no dataset.tokens.tokenizer configured)"
        )
        return TokenCounter(estimate, method)
    path = Path(tokenizer)
    if not path.is_file():
        raise ConfigError(f"dataset.tokens.tokenizer: {path} is not a file (expected a local tokenizer.json)")
    from tokenizers import Tokenizer

    try:
        loaded = Tokenizer.from_file(str(path))
    except Exception as exc:  # the library raises a bare Exception on a malformed file
        raise ConfigError(f"dataset.tokens.tokenizer: {path} is not a tokenizer.json the tokenizers library reads: "
                          f"{str(exc).splitlines()[0][:200]}") from None  # fmt: skip
    template = _template_beside(path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    method = f"tokenizer {path.name} (sha256 {digest})" + (
        ", conversation rendered with the chat template of tokenizer_config.json beside it"
        if template
        else f", message texts plus {TURN_ALLOWANCE} tokens a turn and {PREAMBLE_ALLOWANCE} for the chat template"
    )

    def encode(text: str) -> int:
        return len(loaded.encode(text, add_special_tokens=False).ids)

    return TokenCounter(encode, method, template, exact=True)


def _template_beside(path: Path) -> ChatTemplate | None:
    config_path = path.with_name("tokenizer_config.json")
    if not config_path.is_file():
        return None
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{config_path}: not readable JSON: {exc}") from None
    source = config.get("chat_template")
    if isinstance(source, list):  # several named templates: the default one
        source = next((t.get("template") for t in source if t.get("name") == "default"), None)
    return ChatTemplate(source, special_tokens(config)) if isinstance(source, str) else None


def max_length_for(totals: list[int]) -> int:
    """The ``SFTConfig.max_length`` that keeps every record whole: the longest, rounded up to a step."""
    longest = max(totals, default=0)
    return max(MAX_LENGTH_STEP, math.ceil(longest / MAX_LENGTH_STEP) * MAX_LENGTH_STEP)


def length_report(counts: list[TokenCount], counter: TokenCounter, limit: int | None) -> dict[str, Any]:
    """Token statistics of the kept records: what the card shows and the length report holds."""
    report: dict[str, Any] = {**counter.describe(), "records": len(counts), "limit": limit}
    for part in ("prompt", "completion", "total"):
        values = sorted(getattr(c, part) for c in counts)
        report[part] = _distribution(values)
    report["max_length"] = max_length_for([c.total for c in counts])
    report["fit"] = {
        str(n): sum(c.total <= n for c in counts) for n in (512, 1024, 2048, 4096) if counts
    }  # records that fit whole
    return report


def _distribution(values: list[int]) -> dict[str, int | float]:
    if not values:
        return {"min": 0, "median": 0, "p95": 0, "max": 0, "mean": 0.0}

    def pct(q: float) -> int:
        return values[min(len(values) - 1, math.ceil(q * len(values)) - 1)]

    return {
        "min": values[0],
        "median": pct(0.5),
        "p95": pct(0.95),
        "max": values[-1],
        "mean": round(sum(values) / len(values), 1),
    }
