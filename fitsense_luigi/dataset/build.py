"""Teacher responses -> filtered, deduplicated, chat-format records split by user.

The steps, in order: judge each answer on its own (:mod:`.filters`) and count
the tokens of the student's conversation (:mod:`.tokens`), drop exact and near
duplicates among the answers that passed (:mod:`.dedup`), build one record per
survivor and give it its user's split (:mod:`.records`, :mod:`.split`), type
and validate every record, pair the kept answers with the rejected ones the
teacher also gave (:mod:`.preference`), and describe the result
(:mod:`.card`). Every query ends up either as a record or as a row of
``rejected`` with the first reason that dropped it, so the counts add up.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from fitsense_luigi.config import Config
from fitsense_luigi.contracts import files
from fitsense_luigi.contracts.files import StageFile
from fitsense_luigi.contracts.progress import Progress
from fitsense_luigi.contracts.rows import (
    DistillationRecord,
    Message,
    PreferencePair,
    Query,
    RecordTokens,
    RejectedRow,
    TeacherResponse,
)
from fitsense_luigi.contracts.splits import FORMS, PREFERENCE, SPLITS
from fitsense_luigi.dataset import card, dedup, formats, records, split, tokens
from fitsense_luigi.dataset.filters import REASONS, Rejection, quality_rejection
from fitsense_luigi.dataset.preference import pairs_for
from fitsense_luigi.dataset.records import Provenance

# The response fields the dataset keeps; ``raw_response`` (the provider's whole body) is left behind on reading.
RESPONSE_FIELDS = tuple(k for k in records.RESPONSE_KEYS if k != "raw_response")


@dataclass
class DatasetResult:
    records: list[DistillationRecord]
    splits: dict[str, list[DistillationRecord]]
    rejected: list[RejectedRow]
    pairs: dict[str, list[PreferencePair]]  # split -> DPO pairs
    summary: dict[str, Any]
    split_report: dict[str, Any]
    length_report: dict[str, Any]
    schema: pa.Schema
    config: Config
    provenance: Provenance

    def table(self, split_name: str) -> pa.Table:
        return records.to_table(self.splits[split_name], self.schema)

    def row_files(self) -> Iterator[tuple[StageFile, Iterable[Any]]]:
        """Every JSONL file of rows the stage writes, with its rows (lazily built where they are derived)."""
        for name in SPLITS:
            yield files.records(name), self.splits[name]
            for form in FORMS:
                yield files.form(form, name), formats.rows(form, self.splits[name])
            yield files.form(PREFERENCE, name), self.pairs[name]
        yield files.REJECTED, self.rejected

    def sizes(self, file_bytes: Mapping[str, int]) -> dict[tuple[str, str], dict[str, int]]:
        """(config, split) -> rows, Arrow bytes (what ``datasets`` records as ``num_bytes``) and file bytes.

        ``file_bytes``: size of each written file by its name in the dataset directory.
        """
        out = {}
        for config in card.CONFIGS:
            schema = card.config_schema(config, self.schema)
            for name in SPLITS:
                rows = self._config_rows(config, name)
                table = pa.Table.from_pylist(rows, schema=schema)
                out[(config, name)] = {
                    "num_examples": table.num_rows,
                    "num_bytes": table.nbytes,
                    "file_bytes": int(file_bytes.get(card.data_file(config, name), 0)),
                }
        return out

    def _config_rows(self, config: str, split_name: str) -> list[Any]:
        if config == card.DEFAULT:
            return self.splits[split_name]
        if config == PREFERENCE:
            return self.pairs[split_name]
        return list(formats.rows(config, self.splits[split_name]))

    def card(self, sizes: card.SplitSizes) -> str:
        """The dataset card, once the split files are written (``sizes`` from :meth:`sizes`)."""
        return card.dataset_card(
            self.config, self.summary, self.split_report, self.length_report, self.provenance, self.schema, sizes
        )


@dataclass
class _Judged:
    """Per query position: why it was dropped, or the student's prompt and its token count."""

    rejections: dict[int, Rejection]
    prompts: dict[int, list[Message]]
    tokens: dict[int, RecordTokens]


def slim_response(row: dict[str, Any]) -> dict[str, Any]:
    """Keep what the dataset needs, so 100k responses do not hold 100k raw provider bodies in memory."""
    return {k: row[k] for k in RESPONSE_FIELDS if k in row}


def build_dataset(
    config: Config,
    queries: list[Query],
    responses: Iterable[TeacherResponse],
    provenance: Provenance,
    progress: Progress | None = None,
) -> DatasetResult:
    report = progress or (lambda done, total, message: None)
    by_query = _index_responses(queries, responses)
    report(0, len(queries), "dataset: quality filters and token counts")
    counter = tokens.token_counter(config.dataset.tokens.tokenizer)
    judged = _judge(config, queries, by_query, counter)
    rejections = judged.rejections
    report(0, len(queries) - len(rejections), "dataset: duplicates")
    ids = [q["query_id"] for q in queries]
    passed = [(i, ids[i], records.training_text(by_query[ids[i]])) for i in range(len(ids)) if i not in rejections]
    found = _find_duplicates(config.dataset.near_duplicate_jaccard, passed, rejections, report)
    report(0, len(queries), "dataset: records")
    kept, rejected = _assemble(config, queries, by_query, judged, provenance)
    report(0, len(kept), "dataset: schema check")
    # the one free-form field, typed by Arrow from every query (not only the survivors)
    schema = records.arrow_schema(records.unify_context_summaries(kept, [q["context_summary"] for q in queries]))
    validator = records.RecordValidator()  # every other field is typed by the JSON Schema
    for record in kept:
        validator.check(record)
    report(len(queries), len(queries), "dataset: preference pairs and card")
    splits = {name: [r for r in kept if r["split"] == name] for name in SPLITS}
    chars = config.dataset.response_chars
    pairs = {
        name: [p for r in splits[name] for p in pairs_for(r, by_query[r["metadata"]["query_id"]], chars)]
        for name in SPLITS
    }
    split_report = split.split_report(kept, config.dataset.split.as_dict())
    counts = [tokens.TokenCount(**r["metadata"]["tokens"]) for r in kept]
    length_report = tokens.length_report(counts, counter, config.dataset.tokens.max_total)
    summary = summarise(queries, by_query, kept, rejected, split_report, found)
    summary["preference_pairs"] = {name: len(pairs[name]) for name in SPLITS}
    every_pair = [p for name in SPLITS for p in pairs[name]]
    summary["preference_by"] = {
        key: dict(sorted(Counter(p[f"rejected_{key}"] for p in every_pair).items())) for key in ("source", "reason")
    }
    summary["tokens"] = {k: length_report[k] for k in ("method", "exact", "max_length")}
    report(len(queries), len(queries), "dataset: done")
    return DatasetResult(
        kept, splits, rejected, pairs, summary, split_report, length_report, schema, config, provenance
    )


def _judge(
    config: Config, queries: list[dict[str, Any]], by_query: dict[str, dict[str, Any]], counter: tokens.TokenCounter
) -> _Judged:
    """Each answer on its own: the first quality check it fails, else the tokens of the student's conversation."""
    judged = _Judged({}, {}, {})
    limit = config.dataset.tokens.max_total
    for i, query in enumerate(queries):
        records.check_row(query, records.QUERY_KEYS, files.QUERIES.name, i + 1)
        response = by_query.get(query["query_id"])
        rejection = quality_rejection(response, config.dataset.response_chars)
        if rejection is None and response is not None:
            prompt = records.student_prompt(query, config.dataset.student.system_prompt)
            messages = records.conversation(prompt, records.training_text(response))
            count = counter.count(messages, records.without_system(messages))
            judged.prompts[i] = prompt
            judged.tokens[i] = {"prompt": count.prompt, "completion": count.completion, "total": count.total}
            if limit is not None and count.total > limit:
                rejection = Rejection("too_many_tokens", f"{count.total} tokens > dataset.tokens.max_total {limit}")
        if rejection:
            judged.rejections[i] = rejection
    return judged


def _find_duplicates(
    threshold: float, passed: list[tuple[int, str, str]], rejections: dict[int, Rejection], report: Progress
) -> dedup.DedupResult:
    """Add exact and near duplicates among ``passed`` (position, query id, text) to ``rejections``."""
    keys = [key for _, key, _ in passed]
    found = dedup.deduplicate(
        keys,
        [text for _, _, text in passed],
        threshold,
        lambda done, total: report(done, total, f"dataset: duplicates {done}/{total}"),
    )
    for k, kept in found.exact.items():
        rejections[passed[k][0]] = Rejection("exact_duplicate", f"same text as query {keys[kept]}", keys[kept], 1.0)
    for k, (kept, similarity) in found.near.items():
        detail = f"Jaccard {similarity:.4f} with query {keys[kept]}"
        rejections[passed[k][0]] = Rejection("near_duplicate", detail, keys[kept], similarity)
    return found


def _assemble(
    config: Config,
    queries: list[dict[str, Any]],
    by_query: dict[str, dict[str, Any]],
    judged: _Judged,
    provenance: Provenance,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(records, rejected rows), both in query order."""
    rejections = judged.rejections
    kept_users = (q["user_id"] for i, q in enumerate(queries) if i not in rejections)
    assigned = split.assign_users(kept_users, config.dataset.split.as_dict())
    kept: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    chars, samples = config.dataset.response_chars, config.teacher.samples_per_query
    for i, query in enumerate(queries):
        if i in rejections:
            rejected.append(_rejected_row(query, by_query.get(query["query_id"]), rejections[i]))
        else:
            response = by_query[query["query_id"]]
            others = sum(quality_rejection(dict(a), chars) is not None for a in response.get("alternatives") or [])
            checks = records.quality(response, samples, others)
            split_name = assigned[query["user_id"]]
            kept.append(
                records.build_record(
                    query, response, split_name, provenance, judged.prompts[i], judged.tokens[i], checks
                )
            )
    return kept, rejected


def _index_responses(queries: list[dict[str, Any]], responses: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    wanted = {q["query_id"] for q in queries}
    by_query: dict[str, dict[str, Any]] = {}
    for line, row in enumerate(responses, start=1):
        records.check_row(row, records.RESPONSE_KEYS, files.RESPONSES.name, line)
        if row["query_id"] in wanted:
            by_query[row["query_id"]] = slim_response(row)
    return by_query


def _rejected_row(query: Query, response: dict[str, Any] | None, rejection: Rejection) -> RejectedRow:
    """Enough to trace a dropped example back to its query, user and answer; same keys on every row."""
    text = (response or {}).get("response_text") or ""
    return {
        "record_id": records.record_id(query["query_id"]),
        "query_id": query["query_id"],
        "user_id": query["user_id"],
        "scenario_id": query["scenario_id"],
        "prompt_type": query["prompt_type"],
        "slice_tags": {k: str(query["slice_tags"][k]) for k in records.SLICE_KEYS},
        "reason": rejection.reason,
        "detail": rejection.detail,
        "duplicate_of": rejection.duplicate_of,
        "similarity": rejection.similarity,
        "status": (response or {}).get("status") or "missing",
        "response_chars": len(text),
        "response_text": text,
    }


def summarise(
    queries: list[dict[str, Any]],
    by_query: dict[str, dict[str, Any]],
    kept: list[dict[str, Any]],
    rejected: list[dict[str, Any]],
    split_report: dict[str, Any],
    found: dedup.DedupResult,
) -> dict[str, Any]:
    """The headline numbers, for the manifest and the card."""
    reasons = Counter(r["reason"] for r in rejected)
    overall = split_report["overall"]
    return {
        "input_queries": len(queries),
        "input_responses": len(by_query),
        "records": len(kept),
        "rejected": len(rejected),
        "rejected_by_reason": {reason: reasons.get(reason, 0) for reason in REASONS},
        "split_sizes": overall["records"],
        "split_users": overall["users"],
        "split_ratios": overall["ratios"],
        "strata": len(split_report["strata"]),
        "max_stratum_deviation": split_report["max_stratum_deviation"],
        "max_stratum_z": split_report["max_stratum_z"],
        "near_duplicates": {
            "num_perm": dedup.NUM_PERM,
            "shingle_words": dedup.SHINGLE_WORDS,
            "bands": found.bands,
            "rows_per_band": found.rows_per_band,
            "candidate_pairs": found.candidate_pairs,
        },
        "quality": {
            "repaired": sum(bool(r["metadata"]["quality"]["repairs"]) for r in kept),
            "reasked": sum(r["metadata"]["quality"]["reasks"] > 0 for r in kept),
            "extracted_from_prose": sum(r["metadata"]["quality"]["extracted"] in ("fenced", "object") for r in kept),
            "with_reasoning": sum(r["metadata"]["quality"]["reasoning"] is not None for r in kept),
        },
        "teacher_models": sorted({r["metadata"]["model_name"] for r in kept}),
        "template_versions": sorted({r["metadata"]["template_version"] for r in kept}),
    }
