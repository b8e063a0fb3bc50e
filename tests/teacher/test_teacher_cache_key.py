"""The cache key stays what the README defines, whatever shortcut computes it: caches written before still hit.

The definition: sha256 of the canonical JSON (sorted keys, separators ``,`` and ``:``, UTF-8 as is) of
``{base_url (no trailing slash), body, schema_version, template_version}``.
"""

from __future__ import annotations

import copy
import hashlib
import json

import pytest

from fitsense_luigi.teacher import negotiate
from fitsense_luigi.teacher.cache import cache_key
from fitsense_luigi.teacher.types import TeacherRequest


def defined_key(base_url: str, body: dict, schema_version: str, template_version: str) -> str:
    payload = {
        "base_url": base_url.rstrip("/"),
        "body": body,
        "schema_version": schema_version,
        "template_version": template_version,
    }
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    ).hexdigest()


MESSAGES = [
    {"role": "system", "content": "You are a coach. Antworte auf Deutsch, bitte — «ça va» 💪"},
    {"role": "user", "content": 'Plan for {"goal": "strength"}\n\twith "quotes" and \\ backslashes'},
]


@pytest.mark.parametrize("kind", negotiate.FORMATS)
def test_the_key_is_the_defined_hash_for_every_response_format(kind):
    request = TeacherRequest(MESSAGES, "teacher-model", 0.7, 0.95, 1024, 42, negotiate.payload(kind))
    body = request.body()
    assert cache_key("http://h:1/v1/", body, "s1", "t2") == defined_key("http://h:1/v1/", body, "s1", "t2")


def test_a_format_that_is_not_the_shared_one_is_hashed_as_it_is_now():
    shared = negotiate.payload("json_schema")
    changed = copy.deepcopy(shared)
    changed["json_schema"]["strict"] = False
    body = TeacherRequest(MESSAGES, "m", 0.0, 1.0, 10, 1, changed).body()
    assert cache_key(None, body, "s", "t") == defined_key("", body, "s", "t")
    assert cache_key(None, body, "s", "t") != cache_key(None, dict(body, response_format=shared), "s", "t")


@pytest.mark.parametrize("kind", negotiate.FORMATS)
def test_the_wire_body_is_the_whole_body_as_canonical_json(kind):
    """What the endpoint receives is the body, whole (the key's text is reused as the request's bytes)."""
    request = TeacherRequest(MESSAGES, "teacher-model", 0.7, 0.95, 1024, 42, negotiate.payload(kind))
    assert json.loads(request.body_text) == request.body()
    assert request.body_text == json.dumps(request.body(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_repeated_system_prompts_are_hashed_as_defined_whatever_is_remembered():
    """Every query carries the same system prompt (parsed anew from its own line): its text is made once, and
    the key stays the defined one for it, for other prompts and past the prompts remembered."""
    fmt = negotiate.payload("json_schema")
    prompts = [f'You are coach number {n}. Sei freundlich — «ça va» 💪\n\t"quoted"' for n in range(40)]
    for n, prompt in enumerate(prompts * 2):
        messages = [{"role": "system", "content": str(prompt)}, {"role": "user", "content": f"plan {n}"}]
        body = TeacherRequest(copy.deepcopy(messages), "m", 0.7, 0.95, 64, 7, fmt).body()
        assert cache_key("http://h/v1", body, "s", "t") == defined_key("http://h/v1", body, "s", "t")
    odd = [{"role": "system", "content": prompts[0], "name": "coach"}, {"role": "user", "content": "x"}]
    body = TeacherRequest(odd, "m", 0.7, 0.95, 64, 7, fmt).body()
    assert cache_key("http://h/v1", body, "s", "t") == defined_key("http://h/v1", body, "s", "t")
