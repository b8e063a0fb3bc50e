"""The records as a trainer sees them: rendered by real chat templates, counted by a real tokenizer, within max_length.

The templates in ``chat_templates/`` are the models' own, as TRL ships them (trl 1.16.0,
``trl/chat_templates/``; see the README there): Gemma 2's (``gemma.jinja``, which raises "System role not
supported"), Gemma 3's, Llama 3.1's and Qwen2.5's. The student tokenizer is a real ``tokenizer.json``: a small
byte-level BPE vocabulary trained here with the ``tokenizers`` library on the pipeline's own text, with the
templates' special tokens added, as a model's tokenizer has them. The expected behaviour comes from outside the
code under test: ``transformers.apply_chat_template`` renders and tokenizes, and the prompt/completion split and
the truncation are TRL's (``SFTTrainer`` tokenizes ``prompt`` with the generation prompt, then ``prompt +
completion``, takes the completion from where they diverge, and keeps the first ``max_length`` tokens).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from fitsense_luigi.contracts import files, splits, stages
from fitsense_luigi.dataset import tokens
from fitsense_luigi.dataset.chat_template import NO_SYSTEM_ROLE, ChatTemplate, ChatTemplateError
from tests.support.harness import build_run
from tests.support.layout import read_jsonl
from tests.support.params import REPO

TEMPLATES_DIR = Path(__file__).with_name("chat_templates")
# template -> the config a trainer loads for it (Gemma 2 refuses a system turn: the no-system form)
TEMPLATES = {
    "gemma": splits.NO_SYSTEM,
    "gemma3": splits.PROMPT_COMPLETION,
    "llama3_1": splits.PROMPT_COMPLETION,
    "qwen2_5": splits.PROMPT_COMPLETION,
}
SPECIAL_TOKENS = {  # what each family's tokenizer_config.json names
    "gemma": {"bos_token": "<bos>", "eos_token": "<eos>"},
    "gemma3": {"bos_token": "<bos>", "eos_token": "<eos>"},
    "llama3_1": {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"},
    "qwen2_5": {"bos_token": None, "eos_token": "<|im_end|>"},
}
MARKERS = ["<start_of_turn>", "<end_of_turn>", "<|start_header_id|>", "<|end_header_id|>", "<|im_start|>"]
COUNTED_WITH = "llama3_1"  # the template beside the tokenizer.json the run counts with (the longest preamble)


def template_source(name: str) -> str:
    return (TEMPLATES_DIR / f"{name}.jinja").read_text()


def train_tokenizer(directory: Path) -> Path:
    """A byte-level BPE tokenizer.json trained on the pipeline's own text (README, configs, reference data)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    corpus = [p.read_text() for p in sorted(REPO.glob("*.md"))]
    corpus += [p.read_text() for p in sorted((REPO / "config").rglob("*.*")) if p.suffix in {".yaml", ".json"}]
    corpus += [p.read_text() for p in sorted((REPO / "fitsense_luigi").rglob("*.py"))]
    special = sorted({t for family in SPECIAL_TOKENS.values() for t in family.values() if t} | set(MARKERS))
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=4000, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(corpus, trainer)
    path = directory / "tokenizer.json"
    tokenizer.save(str(path))
    return path


def hf_tokenizer(tokenizer_json: Path, template: str):
    """``transformers``' fast tokenizer over the tokenizer.json with one family's template and special tokens."""
    from transformers import PreTrainedTokenizerFast

    named = {k: v for k, v in SPECIAL_TOKENS[template].items() if v}
    return PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_json), chat_template=template_source(template), **named)


@pytest.fixture(scope="module")
def student(tmp_path_factory) -> Path:
    """The student's model directory: tokenizer.json and a tokenizer_config.json with Llama 3.1's template."""
    directory = tmp_path_factory.mktemp("student")
    path = train_tokenizer(directory)
    config = {"chat_template": template_source(COUNTED_WITH), **SPECIAL_TOKENS[COUNTED_WITH]}
    (directory / "tokenizer_config.json").write_text(json.dumps(config))
    return path


@pytest.fixture(scope="module")
def counted_run(tmp_path_factory, student):
    """A small run whose dataset counts tokens with the student's tokenizer and template."""
    return build_run(
        tmp_path_factory.mktemp("counted"),
        {"dataset": {"tokens": {"tokenizer": str(student)}}},
        task="BuildDistillationDataset",
    )


@pytest.fixture(scope="module")
def dataset_dir(counted_run) -> Path:
    return counted_run.files.directory(stages.DATASET)


def card_max_length(dataset_dir: Path) -> int:
    """The max_length of the card's SFTConfig snippet: what a user copies into their trainer."""
    card = (dataset_dir / files.DATASET_CARD.name).read_text()
    found = re.findall(r"SFTConfig\([^)]*max_length=(\d+)", card)
    assert len(found) == 1, "the card shows one SFTConfig with a max_length"
    return int(found[0])


def config_rows(dataset_dir: Path, config: str) -> list[dict]:
    return [row for split in splits.SPLITS for row in read_jsonl(dataset_dir / files.form(config, split).name)]


def ids(encoded) -> list[int]:
    return list(encoded["input_ids"] if not isinstance(encoded, list) else encoded)


def common_prefix_length(a: list[int], b: list[int]) -> int:
    """TRL's ``common_prefix_length``: a BPE merge across the prompt's end (``\\n\\n{``) moves the boundary back."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def test_the_renderer_matches_transformers_on_every_template(dataset_dir, student):
    records = read_jsonl(dataset_dir / files.records("train").name)[:10]
    for name, form in TEMPLATES.items():
        ours = ChatTemplate(template_source(name), {k: v for k, v in SPECIAL_TOKENS[name].items() if v})
        theirs = hf_tokenizer(student, name)
        by_id = {r["record_id"]: r for r in config_rows(dataset_dir, form)}
        for record in records:
            row = by_id[record["record_id"]]
            for conversation, generation in ((row["prompt"], True), (row["prompt"] + row["completion"], False)):
                expected = theirs.apply_chat_template(conversation, tokenize=False, add_generation_prompt=generation)
                assert ours.render(conversation, add_generation_prompt=generation) == expected, name


def test_gemma2_refuses_the_system_turn_and_renders_the_no_system_form_as_gemma3_renders_the_system_turn(
    dataset_dir, student
):
    gemma2, gemma3 = hf_tokenizer(student, "gemma"), hf_tokenizer(student, "gemma3")
    no_system = {r["record_id"]: r for r in config_rows(dataset_dir, splits.NO_SYSTEM)}
    records = [r for s in splits.SPLITS for r in read_jsonl(dataset_dir / files.records(s).name)]
    assert records
    assert not ChatTemplate(template_source("gemma")).takes_system_turn
    for record in records:
        with pytest.raises(Exception, match=NO_SYSTEM_ROLE):
            gemma2.apply_chat_template(record["messages"], tokenize=False)
        with pytest.raises(ChatTemplateError, match=NO_SYSTEM_ROLE):
            ChatTemplate(template_source("gemma")).render(record["messages"])
        row = no_system[record["record_id"]]
        assert [m["role"] for m in row["prompt"] + row["completion"]] == ["user", "assistant"]
        folded = gemma2.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
        assert folded == gemma3.apply_chat_template(record["messages"], tokenize=False)


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_every_record_fits_the_cards_max_length_with_its_answer_intact(dataset_dir, student, offline_hf, template):
    """TRL's tokenization of each prompt/completion row, cut at the card's max_length, keeps the whole answer."""
    datasets, cache = offline_hf
    max_length = card_max_length(dataset_dir)
    tokenizer = hf_tokenizer(student, template)
    loaded = datasets.load_dataset(str(dataset_dir), name=TEMPLATES[template], cache_dir=str(cache))
    rendered = 0
    for split in loaded:
        for row in loaded[split]:
            prompt_ids = ids(tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=True))
            full = ids(tokenizer.apply_chat_template(row["prompt"] + row["completion"], tokenize=True))
            start = common_prefix_length(prompt_ids, full)  # TRL: the completion starts where they diverge
            assert len(full) <= max_length, f"{template}: {row['record_id']} needs {len(full)} > {max_length}"
            kept = tokenizer.decode(full[:max_length][start:])
            assert row["completion"][0]["content"].strip() in kept
            assert json.loads(row["completion"][0]["content"])["days"], "the answer is a plan"
            rendered += 1
    assert rendered == len(config_rows(dataset_dir, TEMPLATES[template])) > 0


def test_token_counts_are_those_of_the_tokenizer_and_template_beside_it(dataset_dir, student):
    """metadata.tokens equals transformers' count of the rendered conversation, prompt and whole."""
    tokenizer = hf_tokenizer(student, COUNTED_WITH)
    records = [r for s in splits.SPLITS for r in read_jsonl(dataset_dir / files.records(s).name)]
    for record in records:
        counted = record["metadata"]["tokens"]
        prompt = ids(tokenizer.apply_chat_template(record["messages"][:-1], add_generation_prompt=True, tokenize=True))
        whole = ids(tokenizer.apply_chat_template(record["messages"], tokenize=True))
        assert (counted["prompt"], counted["total"]) == (len(prompt), len(whole))
        assert counted["completion"] == len(whole) - len(prompt)
    report = json.loads((dataset_dir / files.LENGTH_REPORT.name).read_text())
    assert report["exact"] and report["chat_template"] and report["records"] == len(records)
    assert report["total"]["max"] == max(r["metadata"]["tokens"]["total"] for r in records)
    assert report["max_length"] == card_max_length(dataset_dir) >= report["total"]["max"]


def test_the_student_system_prompt_is_a_few_sentences_and_no_catalogue(dataset_dir):
    record = read_jsonl(dataset_dir / files.records("train").name)[0]
    system = record["messages"][0]["content"]
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", system.strip()) if s]
    assert 1 <= len(sentences) <= 6 and len(system) < 800
    assert "Barbell Back Squat" not in system and "contraindication" not in system.lower()


def test_a_token_limit_drops_the_longest_records_with_their_reason(tmp_path, student, counted_run):
    """dataset.tokens.max_total below the longest record: those records move to rejected.jsonl as too_many_tokens."""
    done = counted_run.files.directory(stages.DATASET)
    totals = sorted(r["metadata"]["tokens"]["total"] for r in counted_run.files.records())
    limit = totals[len(totals) // 2]
    run = build_run(
        tmp_path,
        {"dataset": {"tokens": {"tokenizer": str(student), "max_total": limit}}},
        task="BuildDistillationDataset",
    )
    out = run.files.directory(stages.DATASET)
    kept = run.files.records()
    dropped = [r for r in read_jsonl(out / files.REJECTED.name) if r["reason"] == "too_many_tokens"]
    assert kept and all(r["metadata"]["tokens"]["total"] <= limit for r in kept)
    assert len(dropped) >= sum(t > limit for t in totals)  # and duplicates of theirs as long as they were
    card = yaml.safe_load((out / files.DATASET_CARD.name).read_text().split("---\n")[1])
    assert card["dataset_info"][0]["splits"]
    assert card_max_length(out) >= max(r["metadata"]["tokens"]["total"] for r in kept)
    assert tokens.max_length_for([limit]) >= card_max_length(out)
    assert len(kept) + len(read_jsonl(out / files.REJECTED.name)) == len(totals) + len(
        read_jsonl(done / files.REJECTED.name)
    )  # every query is a record or a rejection, as before


@pytest.mark.parametrize("template", ["gemma3_training", "qwen2_5_training"])
def test_messages_with_assistant_only_loss_keep_the_answer_in_the_loss(dataset_dir, student, template):
    """The `default` config's `messages` with TRL's training templates ({% generation %} markers): the assistant
    mask TRL trains on covers the whole answer, within the card's max_length (TRL raises on a record without one)."""
    family = template.removesuffix("_training")
    tokenizer = hf_tokenizer(student, family)
    tokenizer.chat_template = template_source(template)
    max_length = card_max_length(dataset_dir)
    records = [r for s in splits.SPLITS for r in read_jsonl(dataset_dir / files.records(s).name)]
    for record in records:
        out = tokenizer.apply_chat_template(
            record["messages"], tokenize=True, return_dict=True, return_assistant_tokens_mask=True
        )
        input_ids, mask = out["input_ids"][:max_length], out["assistant_masks"][:max_length]
        assert len(out["input_ids"]) <= max_length and 1 in mask
        trained = tokenizer.decode([t for t, m in zip(input_ids, mask, strict=True) if m])
        assert record["messages"][-1]["content"].strip() in trained
        assert record["messages"][0]["content"] not in trained, "the system prompt is not trained on"
