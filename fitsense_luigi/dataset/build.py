"""Teacher responses -> filtered, deduplicated, chat-format records split by user.

The steps, in order: judge each answer on its own (:mod:`.filters`) and count
the tokens of the student's conversation (:mod:`.tokens`), drop exact and near
duplicates among the answers that passed (:mod:`.dedup`), build one record per
survivor and give it its user's split (:mod:`.records`, :mod:`.split`), type
and validate every record, pair the kept answers with the rejected ones the
teacher also gave (:mod:`.preference`), and describe the result
(:mod:`.card`). Every query ends up either as a record or as a row of
``rejected`` with the first reason that dropped it, so the counts add up.

The stage streams (:func:`write_dataset`): the queries are read twice (judge,
then assemble), each answer is looked up by its query id when needed, and the
records go to their files a chunk at a time, so memory holds a chunk of
records, not the dataset; what is kept for the whole run is small per query
(ids, token counts, why a query was dropped) plus the texts near-duplicate
detection compares. :func:`build_dataset` runs the same steps into memory.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from fitsense_luigi.config import Config
from fitsense_luigi.contracts import files
from fitsense_luigi.contracts.files import StageFile
from fitsense_luigi.contracts.progress import Progress
from fitsense_luigi.contracts.rows import (
    DistillationRecord,
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
# Records of one split turned into Arrow at a time: a Parquet row group, and what memory holds per split. A
# split smaller than this is one row group, as a whole-table write makes it.
CHUNK_RECORDS = 2000


class QueryRows(Protocol):
    """The queries, in order, as often as they are iterated (a list, or rows streamed from their file)."""

    def __iter__(self) -> Iterator[Query]: ...

    def __len__(self) -> int: ...


class RowSink(Protocol):
    def write(self, row: Any) -> None: ...


class TableSink(Protocol):
    def write(self, table: pa.Table) -> None: ...


class Sinks(Protocol):
    """Where the stage's files go, each written piece by piece (a ``StageWriter``, or :class:`MemorySinks`)."""

    def jsonl_stream(self, file: StageFile) -> AbstractContextManager[RowSink]: ...

    def parquet_stream(self, file: StageFile, schema: pa.Schema) -> AbstractContextManager[TableSink]: ...


class _ListSink:
    def __init__(self, items: list[Any]) -> None:
        self.write = items.append


class MemorySinks:
    """The stage's files as lists of rows and tables (tests, and :func:`build_dataset`)."""

    def __init__(self) -> None:
        self.rows: dict[str, list[Any]] = {}
        self.tables: dict[str, pa.Table] = {}

    @contextlib.contextmanager
    def jsonl_stream(self, file: StageFile) -> Iterator[RowSink]:
        yield _ListSink(self.rows.setdefault(file.name, []))

    @contextlib.contextmanager
    def parquet_stream(self, file: StageFile, schema: pa.Schema) -> Iterator[TableSink]:
        pieces: list[pa.Table] = []
        yield _ListSink(pieces)
        self.tables[file.name] = pa.concat_tables(pieces) if pieces else schema.empty_table()


def row_files() -> list[StageFile]:
    """Every JSONL file of rows the stage writes: per split its records, their forms and its pairs; rejected."""
    out = []
    for name in SPLITS:
        out += [files.records(name), *(files.form(form, name) for form in FORMS), files.form(PREFERENCE, name)]
    return [*out, files.REJECTED]


@dataclass
class DatasetResult:
    summary: dict[str, Any]
    split_report: dict[str, Any]
    length_report: dict[str, Any]
    schema: pa.Schema
    config: Config
    provenance: Provenance
    counted: dict[tuple[str, str], dict[str, int]]  # (config, split) -> rows and Arrow bytes, summed by chunk
    held: MemorySinks | None = None  # build_dataset's files, in memory
    records: list[DistillationRecord] = field(default_factory=list)  # build_dataset's records, in query order

    @property
    def splits(self) -> dict[str, list[DistillationRecord]]:
        return {name: self._held(files.records(name)) for name in SPLITS}

    @property
    def pairs(self) -> dict[str, list[PreferencePair]]:  # split -> DPO pairs
        return {name: self._held(files.form(PREFERENCE, name)) for name in SPLITS}

    @property
    def rejected(self) -> list[RejectedRow]:
        return self._held(files.REJECTED)

    def _held(self, file: StageFile) -> list[Any]:
        if self.held is None:
            raise RuntimeError("the dataset was streamed to its files: read them")
        return self.held.rows.get(file.name, [])

    def table(self, split_name: str) -> pa.Table:
        if self.held is None:
            raise RuntimeError("the dataset was streamed to its files: read them")
        return self.held.tables[files.records_table(split_name).name]

    def row_files(self) -> Iterator[tuple[StageFile, Iterable[Any]]]:
        """Every JSONL file of rows the stage writes, with its rows (build_dataset's, held in memory)."""
        for file in row_files():
            yield file, self._held(file)

    def sizes(self, file_bytes: Mapping[str, int]) -> dict[tuple[str, str], dict[str, int]]:
        """(config, split) -> rows, Arrow bytes (what ``datasets`` records as ``num_bytes``) and file bytes.

        ``file_bytes``: size of each written file by its name in the dataset directory. The Arrow bytes are
        summed over the chunks the rows were converted in (one chunk up to ``CHUNK_RECORDS`` records).
        """
        return {
            (config, name): {
                **self.counted[(config, name)],
                "file_bytes": int(file_bytes.get(card.data_file(config, name), 0)),
            }
            for config in card.CONFIGS
            for name in SPLITS
        }

    def card(self, sizes: card.SplitSizes) -> str:
        """The dataset card, once the split files are written (``sizes`` from :meth:`sizes`)."""
        return card.dataset_card(
            self.config, self.summary, self.split_report, self.length_report, self.provenance, self.schema, sizes
        )


def slim_response(row: Mapping[str, Any]) -> dict[str, Any]:
    """Keep what the dataset needs, so a response read back does not carry its raw provider body along."""
    return {k: row[k] for k in RESPONSE_FIELDS if k in row}


def build_dataset(
    config: Config,
    queries: list[Query],
    responses: Iterable[TeacherResponse],
    provenance: Provenance,
    progress: Progress | None = None,
) -> DatasetResult:
    """:func:`write_dataset` into memory: the records, splits, pairs and tables on the result."""
    by_query = _index_responses(queries, responses)
    held, kept = MemorySinks(), []
    result = write_dataset(config, queries, by_query, provenance, held, progress, kept)
    result.held, result.records = held, kept
    return result


def write_dataset(
    config: Config,
    queries: QueryRows,
    responses: Mapping[str, TeacherResponse],
    provenance: Provenance,
    sinks: Sinks,
    progress: Progress | None = None,
    kept: list[DistillationRecord] | None = None,
) -> DatasetResult:
    """The dataset stage's files, streamed into ``sinks``.

    ``queries``: read twice, in order (a list, or rows streamed from their file on each pass); ``responses``:
    the answers by query id (e.g. looked up in their file). ``kept``: when given, every record is appended to it.
    """
    report = progress or (lambda done, total, message: None)
    total = len(queries)
    report(0, total, "dataset: quality filters and token counts")
    judged = _judge(config, queries, responses)
    rejections = judged.rejections
    report(0, total - len(rejections), "dataset: duplicates")
    found = _find_duplicates(config.dataset.near_duplicate_jaccard, judged.passed, rejections, report)
    judged.passed = []
    report(0, total, "dataset: records")
    kept_users = (user for i, user in enumerate(judged.users) if i not in rejections)
    assigned = split.assign_users(kept_users, config.dataset.split.as_dict())
    summary_type = judged.summary_type.declared(lambda: (q["context_summary"] for q in queries))
    schema = records.arrow_schema(summary_type)
    writer = _Writer(config, schema, summary_type, sinks, kept)
    with writer:
        for i, query in enumerate(queries):
            response = responses.get(query["query_id"])
            if i in rejections:
                writer.reject(_rejected_row(query, response, rejections[i]))
                continue
            response = slim_response(response)  # type: ignore[arg-type]  # a kept query has its answer
            prompt = records.student_prompt(query, config.dataset.student.system_prompt)
            others = sum(
                quality_rejection(dict(a), writer.chars) is not None for a in response.get("alternatives") or []
            )
            checks = records.quality(response, config.teacher.samples_per_query, others)
            split_name = assigned[query["user_id"]]
            record = records.build_record(query, response, split_name, provenance, prompt, judged.tokens[i], checks)
            writer.add(record, response)
            if writer.written % 5000 == 0:
                report(writer.written, total, "dataset: records")
    report(total, total, "dataset: preference pairs and card")
    split_report = split.split_report(writer.strata, config.dataset.split.as_dict())
    counts = [tokens.TokenCount(**judged.tokens[i]) for i in sorted(judged.tokens) if i not in rejections]
    length_report = tokens.length_report(counts, judged.counter, config.dataset.tokens.max_total)
    summary = writer.tally.summary(total, judged.answered, split_report, found)
    summary["tokens"] = {k: length_report[k] for k in ("method", "exact", "max_length")}
    report(total, total, "dataset: done")
    return DatasetResult(summary, split_report, length_report, schema, config, provenance, writer.counted)


@dataclass
class _Judged:
    """Per query position: why it was dropped, or the token count of the student's conversation; and what the
    later steps need of every query (its user, the texts that passed for duplicate detection)."""

    counter: tokens.TokenCounter
    rejections: dict[int, Rejection] = field(default_factory=dict)
    tokens: dict[int, RecordTokens] = field(default_factory=dict)
    users: list[str] = field(default_factory=list)
    passed: list[tuple[int, str, str]] = field(default_factory=list)  # (position, query id, training text)
    answered: int = 0  # queries with a response
    summary_type: records.SummaryType = field(default_factory=records.SummaryType)


def _judge(config: Config, queries: Iterable[Query], responses: Mapping[str, TeacherResponse]) -> _Judged:
    """Each answer on its own: the first quality check it fails, else the tokens of the student's conversation."""
    judged = _Judged(tokens.token_counter(config.dataset.tokens.tokenizer))
    limit = config.dataset.tokens.max_total
    for i, query in enumerate(queries):
        records.check_row(query, records.QUERY_KEYS, files.QUERIES.name, i + 1)
        judged.users.append(query["user_id"])
        judged.summary_type.add(query["context_summary"])
        response = responses.get(query["query_id"])
        judged.answered += response is not None
        response = None if response is None else slim_response(response)
        rejection = quality_rejection(response, config.dataset.response_chars)
        if rejection is None and response is not None:
            prompt = records.student_prompt(query, config.dataset.student.system_prompt)
            text = records.training_text(response)
            messages = records.conversation(prompt, text)
            count = judged.counter.count(messages, records.without_system(messages))
            judged.tokens[i] = {"prompt": count.prompt, "completion": count.completion, "total": count.total}
            if limit is not None and count.total > limit:
                rejection = Rejection("too_many_tokens", f"{count.total} tokens > dataset.tokens.max_total {limit}")
            else:
                judged.passed.append((i, query["query_id"], text))
        if rejection:
            judged.rejections[i] = rejection
    return judged


class _Writer:
    """Records to their split's files a chunk at a time (JSON rows, their forms and pairs, a Parquet row
    group), rejections as they come, and the figures the summary and the card need, counted on the way."""

    def __init__(
        self,
        config: Config,
        schema: pa.Schema,
        summary_type: pa.DataType,
        sinks: Sinks,
        kept: list[DistillationRecord] | None,
    ) -> None:
        self.schema, self.summary_type, self.sinks, self.kept = schema, summary_type, sinks, kept
        self.chars = config.dataset.response_chars
        self.validator = records.RecordValidator()  # every field but the summary is typed by the JSON Schema
        self.pending: dict[str, list[tuple[DistillationRecord, dict[str, Any]]]] = {name: [] for name in SPLITS}
        self.counted = {(c, name): {"num_examples": 0, "num_bytes": 0} for c in card.CONFIGS for name in SPLITS}
        self.flushed: set[str] = set()
        self.tally = _Tally()
        self.strata: list[dict[str, Any]] = []  # what the split report reads of each record
        self.written = 0
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> _Writer:
        enter = self._stack.enter_context
        self.rows = {file.name: enter(self.sinks.jsonl_stream(file)) for file in row_files()}
        self.tables = {
            name: enter(self.sinks.parquet_stream(files.records_table(name), self.schema)) for name in SPLITS
        }
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        """The last chunks on a clean exit; the files are listed only then (an exception reaches every sink)."""
        if exc_type is None:
            try:
                for name in SPLITS:
                    if self.pending[name] or name not in self.flushed:  # an empty split: an empty table, as before
                        self._flush(name)
            except BaseException as error:
                self._stack.__exit__(type(error), error, error.__traceback__)
                raise
        self._stack.__exit__(exc_type, exc, tb)

    def reject(self, row: RejectedRow) -> None:
        self.rows[files.REJECTED.name].write(row)
        self.tally.rejected[row["reason"]] += 1

    def add(self, record: DistillationRecord, response: dict[str, Any]) -> None:
        self.pending[record["split"]].append((record, response))
        self.written += 1
        if self.kept is not None:
            self.kept.append(record)  # its summary is unified in place when its chunk is written
        if len(self.pending[record["split"]]) >= CHUNK_RECORDS:
            self._flush(record["split"])

    def _flush(self, name: str) -> None:
        batch, self.pending[name] = self.pending[name], []
        self.flushed.add(name)
        chunk = [record for record, _ in batch]
        records.unify_context_summaries(chunk, self.summary_type)
        pairs: list[PreferencePair] = []
        for record, response in batch:
            self.validator.check(record)
            record_pairs = pairs_for(record, response, self.chars)
            pairs += record_pairs
            self.tally.add(record, record_pairs)
            context = record["context"]
            self.strata.append(
                {
                    "split": record["split"],
                    "user_id": record["user_id"],
                    "context": {"prompt_type": context["prompt_type"], "slice_tags": context["slice_tags"]},
                }
            )
        table = records.to_table(chunk, self.schema)
        self.tables[name].write(table)
        by_config: dict[str, list[Any]] = {card.DEFAULT: chunk, PREFERENCE: pairs}
        by_config.update({form: list(formats.rows(form, chunk)) for form in FORMS})
        for config, rows in by_config.items():
            sink = self.rows[(files.records(name) if config == card.DEFAULT else files.form(config, name)).name]
            for row in rows:
                sink.write(row)
            size = (
                table if config == card.DEFAULT else pa.Table.from_pylist(rows, card.config_schema(config, self.schema))
            )
            self.counted[(config, name)]["num_examples"] += len(rows)
            self.counted[(config, name)]["num_bytes"] += size.nbytes


@dataclass
class _Tally:
    """The summary's counts of kept records, rejections and pairs, added up as they are written."""

    records: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    repaired: int = 0
    reasked: int = 0
    extracted: int = 0
    reasoning: int = 0
    models: set[str] = field(default_factory=set)
    templates: set[str] = field(default_factory=set)
    pairs: Counter[str] = field(default_factory=Counter)  # split -> pairs
    pairs_by: dict[str, Counter[str]] = field(default_factory=lambda: {"source": Counter(), "reason": Counter()})

    def add(self, record: DistillationRecord, pairs: list[PreferencePair]) -> None:
        meta = record["metadata"]
        quality = meta["quality"]
        self.records += 1
        self.repaired += bool(quality["repairs"])
        self.reasked += quality["reasks"] > 0
        self.extracted += quality["extracted"] in ("fenced", "object")
        self.reasoning += quality["reasoning"] is not None
        self.models.add(meta["model_name"])
        self.templates.add(meta["template_version"])
        self.pairs[record["split"]] += len(pairs)
        for pair in pairs:
            for key, counts in self.pairs_by.items():
                counts[pair[f"rejected_{key}"]] += 1

    def summary(
        self, queries: int, responses: int, split_report: dict[str, Any], found: dedup.DedupResult
    ) -> dict[str, Any]:
        """The headline numbers, for the manifest and the card."""
        overall = split_report["overall"]
        return {
            "input_queries": queries,
            "input_responses": responses,
            "records": self.records,
            "rejected": sum(self.rejected.values()),
            "rejected_by_reason": {reason: self.rejected.get(reason, 0) for reason in REASONS},
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
                "repaired": self.repaired,
                "reasked": self.reasked,
                "extracted_from_prose": self.extracted,
                "with_reasoning": self.reasoning,
            },
            "teacher_models": sorted(self.models),
            "template_versions": sorted(self.templates),
            "preference_pairs": {name: self.pairs[name] for name in SPLITS},
            "preference_by": {key: dict(sorted(counts.items())) for key, counts in self.pairs_by.items()},
        }


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


def check_response(row: Mapping[str, Any], line: int) -> None:
    """A response row has every key its producer declares (one line naming the file, row and key)."""
    records.check_row(row, records.RESPONSE_KEYS, files.RESPONSES.name, line)


def _index_responses(queries: list[dict[str, Any]], responses: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    wanted = {q["query_id"] for q in queries}
    by_query: dict[str, dict[str, Any]] = {}
    for line, row in enumerate(responses, start=1):
        check_response(row, line)
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
