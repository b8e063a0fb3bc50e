"""The dataset card: README.md in the Hugging Face style, generated from the numbers of this build.

The YAML front matter declares one ``configs`` entry per form (``default``:
full records with ``messages``; ``prompt_completion``; ``no_system``;
``preference``) with its split files, and ``dataset_info`` per config with
the column types and, per split, ``num_examples`` and ``num_bytes`` (the
Arrow size ``datasets`` records), so ``datasets.load_dataset(<dir>, name=...)``
loads every form with one schema. Everything is derived from the run (no
dates, no wall-clock), so the same run always writes the same card. Two
sections depend on what happens after the dataset stage (the quality gate,
the release); they sit between markers and :func:`with_release` rewrites them
when the dataset is published.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import yaml

from fitsense_luigi.config import Config
from fitsense_luigi.contracts import files, stages
from fitsense_luigi.contracts.splits import FORMS, NO_SYSTEM, PREFERENCE, PROMPT_COMPLETION, SPLITS
from fitsense_luigi.dataset.dedup import NUM_PERM, SHINGLE_WORDS
from fitsense_luigi.dataset.filters import REASON_DESCRIPTIONS, REASONS
from fitsense_luigi.dataset.records import Provenance
from fitsense_luigi.queries.prompts import TASK_LINE_PREFIX, TASK_LINES
from fitsense_luigi.queries.student import CONSTRAINTS_PREFIX, CONTEXT_PREFIX, LEFT_OUT

DEFAULT = "default"
CONFIGS = (DEFAULT, *FORMS, PREFERENCE)
LICENSE_NAME = "fitsense-synthetic-data"
# (config, split) -> {"num_examples", "num_bytes" (Arrow, as datasets records it), "file_bytes" (the JSONL file)}
SplitSizes = Mapping[tuple[str, str], Mapping[str, int]]

FIELDS = (
    ("record_id", "string", "Stable UUID (v5 of the query id): the same query gives the same id in every run."),
    ("user_id", "string", "Synthetic user; every record of a user is in one split."),
    ("request", "string", "The user's request in their own words."),
    ("instruction", "string", "The student's user turn (`messages[1]`): the request, the task line, the user's "
     "facts as compact JSON, the ids of the safety constraints (see Inference contract)."),
    ("context.prompt_type", "string", "plan_creation, plan_modification, safety_adjustment or progress_adaptation."),
    ("context.slice_tags", "struct", "age_band, sex, goal_type, activity_level, condition_flag (for bias slicing)."),
    ("context.expected_safety_constraints", "list[string]", "Constraint ids the answer had to address."),
    ("context.context_summary", "struct", "Every fact the app holds about the user (the teacher saw all of them)."),
    ("response", "string", "The teacher's answer: a JSON plan matching `plan_response.schema.json` (v3), "
     "extracted and normalised (the training target)."),
    ("messages", "list[{role, content}]", "system (the student's short prompt), user, assistant."),
    ("split", "string", "train, validation or test (the split the record is in)."),
    ("metadata", "struct", "provider, model_name, latency_ms, attempt_count, usage (the teacher's tokens), "
     "cache_hit, query_id, scenario_id, source_run_id, source_run_ids, template_version, quality, tokens."),
    ("metadata.quality", "struct", "What the checks found in the answer and what it took to get it (see Quality)."),
    ("metadata.tokens", "struct", "prompt, completion, total: the record's cost in the student's tokens (see "
     "Tokens)."),
)  # fmt: skip

QUALITY_FIELDS = (
    ("response_format", "what the teacher endpoint was asked for: `json_schema`, `json_object` or `none`"),
    ("extracted", "where the JSON was in the teacher's text: `as_is`, `fenced` (a ```json block) or `object` "
     "(the outermost `{...}` among prose)"),
    ("reasoning", "`inline_think` or `reasoning_content` when the teacher reasoned before answering (removed)"),
    ("repairs", "safe repairs made to the teacher's JSON, `kind:path` (numbers as strings, trailing commas ...)"),
    ("reasks", "times the teacher was asked again with the errors of its answer"),
    ("reask_errors", "the first error of each answer that was asked again"),
    ("constraints_addressed", "the expected safety constraints the answer addresses (all of them, in a record)"),
    ("unknown_exercises", "exercise names not in the catalogue (allowed, and listed)"),
    ("samples", "answers the teacher gave to the query (`teacher.samples_per_query`)"),
    ("sample", "the one kept: the best by the checks"),
    ("rejected_answers", "the query's other answers that fail a check; each is a preference pair"),
)  # fmt: skip

RELEASE_START, RELEASE_END = "<!-- release -->", "<!-- /release -->"
GATE_START, GATE_END = "<!-- gate -->", "<!-- /gate -->"


def dataset_card(
    config: Config,
    summary: dict[str, Any],
    split_report: dict[str, Any],
    length_report: dict[str, Any],
    provenance: Provenance,
    schema: pa.Schema,
    sizes: SplitSizes,
) -> str:
    return "\n".join(
        [
            "---",
            yaml.safe_dump(front_matter(summary, schema, sizes), sort_keys=False, width=120).rstrip(),
            "---",
            "",
            f"# FitSense distillation dataset (run `{provenance.run_id}`)",
            "",
            "Single-turn coaching conversations for fine-tuning a small student model (e.g. Gemma) on a larger "
            "teacher's answers: a user asks for a training plan (or a change to one), the teacher answers with a JSON "
            "plan that respects the user's health conditions.",
            "",
            "> **Synthetic data.** Every user, profile, workout and request here was generated by the FitSense "
            "pipeline from a random seed; no real person's data was used. The answers come from the teacher named "
            "below and are not medical advice.",
            "",
            *_usage_section(summary, length_report),
            *_contract_section(config),
            *_size_section(summary, split_report, sizes),
            *_tokens_section(length_report),
            *_fields_section(),
            *_quality_section(summary),
            *_preference_section(summary),
            *_provenance_section(config, summary, provenance),
            *_filters_section(config, summary),
            *_split_section(split_report),
            *_risks_section(config, summary, provenance),
            "## Intended use",
            "",
            "Supervised fine-tuning or distillation of a coaching model that answers with structured weekly plans, "
            "preference tuning (DPO) on the `preference` config, and evaluation of such a model on the `test` split "
            "(users it has never seen; `EvaluateStudent` scores a student endpoint on it). Out of scope: medical "
            f"decisions, claims about real populations, and training on `{files.REJECTED.name}` as if it were good "
            "data.",
            "",
            RELEASE_START,
            *release_section(None),
            RELEASE_END,
            "",
            *_files_section(),
        ]
    )


# ---------------------------------------------------------------- front matter


def front_matter(summary: dict[str, Any], schema: pa.Schema, sizes: SplitSizes) -> dict[str, Any]:
    configs, infos = [], []
    for name in CONFIGS:
        present = [s for s in SPLITS if sizes.get((name, s), {}).get("num_examples")]
        if not present:
            continue  # `datasets` refuses a declared split without rows: a config with no rows is left out
        configs.append({"config_name": name, "data_files": [{"split": s, "path": data_file(name, s)} for s in present]})
        split_infos = [
            {"name": s, "num_bytes": sizes[(name, s)]["num_bytes"], "num_examples": sizes[(name, s)]["num_examples"]}
            for s in present
        ]
        infos.append(
            {
                "config_name": name,
                "features": [hf_feature(f.name, f.type) for f in config_schema(name, schema)],
                "splits": split_infos,
                "download_size": sum(sizes[(name, s)]["file_bytes"] for s in present),
                "dataset_size": sum(i["num_bytes"] for i in split_infos),
            }
        )
    return {
        "pretty_name": "FitSense coaching distillation (synthetic)",
        "language": ["en"],
        "license": "other",
        "license_name": LICENSE_NAME,
        "license_link": files.DATASET_LICENSE.name,
        "task_categories": ["text-generation"],
        "tags": ["synthetic", "fitness", "distillation", "conversational", "sft", "dpo"],
        "size_categories": [_size_category(summary["records"])],
        "configs": configs,
        "dataset_info": infos,
    }


def data_file(config: str, split: str) -> str:
    """The file of one split of one config, relative to the dataset directory."""
    return files.records(split).name if config == DEFAULT else files.form(config, split).name


def config_schema(config: str, records: pa.Schema) -> pa.Schema:
    """The Arrow schema of a config's rows (the records' own for ``default``)."""
    text, messages = pa.string(), records.field("messages").type
    if config == DEFAULT:
        return records
    if config in FORMS:
        return pa.schema([("record_id", text), ("prompt", messages), ("completion", messages)])
    return pa.schema(
        [
            ("pair_id", text),
            ("record_id", text),
            ("prompt", messages),
            ("chosen", messages),
            ("rejected", messages),
            ("split", text),
            ("rejected_source", text),
            ("rejected_reason", text),
            ("rejected_detail", text),
        ]
    )


def hf_feature(name: str, kind: pa.DataType) -> dict[str, Any]:
    """One entry of ``dataset_info.features`` as the Hub writes it (``datasets.Features._to_yaml_list``)."""
    return {"name": name, **_hf_type(kind)}


def _hf_type(kind: pa.DataType) -> dict[str, Any]:
    if pa.types.is_struct(kind):
        return {"struct": [hf_feature(kind.field(i).name, kind.field(i).type) for i in range(kind.num_fields)]}
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        inner = _hf_type(kind.value_type)
        return {"list": inner["dtype"] if "dtype" in inner else inner.get("struct", inner)}
    if pa.types.is_floating(kind):
        return {"dtype": f"float{kind.bit_width}"}
    if pa.types.is_boolean(kind):
        return {"dtype": "bool"}
    if pa.types.is_null(kind):
        return {"dtype": "null"}
    return {"dtype": str(kind)}  # string, large_string, int64, ...


def _size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return label
    return "1M<n<10M"


# ---------------------------------------------------------------- sections


def _usage_section(summary: dict[str, Any], length_report: dict[str, Any]) -> list[str]:
    max_length = length_report["max_length"]
    pairs = sum(summary["preference_pairs"].values())
    dpo = (
        [
            "",
            "# preference tuning on the pairs (prompt, chosen, rejected)",
            "from trl import DPOConfig, DPOTrainer",
            'pairs = load_dataset("path/to/this/directory", name="preference")',
            f'args = DPOConfig(output_dir="student-dpo", max_length={max_length})',
            'trainer = DPOTrainer(model="<student after SFT>", args=args, train_dataset=pairs["train"])',
        ]
        if pairs
        else []
    )
    return [
        "## Use",
        "",
        "```python",
        "from datasets import load_dataset",
        "from trl import SFTConfig, SFTTrainer",
        "",
        f'ds = load_dataset("path/to/this/directory", name="{PROMPT_COMPLETION}")  # train / validation / test',
        "",
        f"# max_length {max_length} keeps every record whole (see Tokens); TRL's default of 1024 truncates from the",
        "# end. prompt/completion rows train on the completion only (completion_only_loss defaults to on for them).",
        f'args = SFTConfig(output_dir="student-sft", max_length={max_length})',
        'trainer = SFTTrainer(model="<student model>", args=args, train_dataset=ds["train"], '
        'eval_dataset=ds["validation"])',
        "trainer.train()",
        *dpo,
        "```",
        "",
        f'- **Gemma 2** (its chat template raises "System role not supported"): load `name="{NO_SYSTEM}"`, the '
        "same rows with the system text opening the user turn (as Gemma 3's template does it itself).",
        "- **Full records** (`default`): `messages` with system, user and assistant turns plus every field below. "
        "Training on `messages` computes the loss on the whole sequence unless `assistant_only_loss=True` (TRL then "
        "swaps in a training template with generation markers for the families it knows).",
        "- **All records** in one table: `concatenate_datasets` of the three splits of any config.",
        "",
    ]


def _contract_section(config: Config) -> list[str]:
    system = config.dataset.student.system_prompt
    example_task = TASK_LINES["plan_modification"]
    return [
        "## Inference contract (what the app sends the student)",
        "",
        "The student is trained on exactly what the app will send it, so at inference the app must send the same:",
        "",
        "1. A system turn with this text (`dataset.student.system_prompt`; for templates without a system role, "
        "this text, a blank line, then the user turn, as one user turn):",
        "",
        *[f"   > {line}" for line in system.splitlines()],
        "",
        "2. One user turn, lines joined by `\\n`:",
        "   - the user's request, as typed, then an empty line;",
        f"   - `{TASK_LINE_PREFIX}` and the task of the screen the request was made from "
        f"(e.g. `{TASK_LINE_PREFIX}{example_task}`);",
        f"   - `{CONTEXT_PREFIX}` and the user's facts from the app as compact JSON (keys sorted, no spaces, null and "
        f"empty values left out, as are {', '.join(f'`{k}`' for k in sorted(LEFT_OUT))}; `condition_severity` "
        "only for the user's own conditions): see `context.context_summary` for every key;",
        f"   - when the FitSense rule base names safety constraints for the user: `{CONSTRAINTS_PREFIX}` and their "
        "ids, comma-separated.",
        "3. The answer is one JSON object matching `plan_response.schema.json` (v3); parse it as such.",
        "",
        "The teacher saw more (the whole exercise catalogue, the answer format spelled out, the text of each "
        "constraint): that knowledge is in its answers, which the student learns.",
        "",
    ]


def _size_section(summary: dict[str, Any], split_report: dict[str, Any], sizes: SplitSizes) -> list[str]:
    overall = split_report["overall"]
    rows = []
    for s in SPLITS:
        size = sizes.get((DEFAULT, s), {})
        rows.append(
            f"| {s} | `{files.records(s).name}` | {overall['records'][s]} | {overall['users'][s]} | "
            f"{overall['ratios'][s]:.3f} | {split_report['target'][s]:.2f} | {size.get('file_bytes', 0):,} |"
        )
    pairs = summary["preference_pairs"]
    return [
        "## Size",
        "",
        "| split | file | records | users | share | target | bytes |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"{summary['records']} records kept out of {summary['input_queries']} queries "
        f"({summary['rejected']} rejected, see Filters); "
        f"{sum(pairs.values())} preference pairs ({', '.join(f'{s} {pairs[s]}' for s in SPLITS)}).",
        "",
    ]


def _tokens_section(report: dict[str, Any]) -> list[str]:
    rows = [
        f"| {part} | {report[part]['min']} | {report[part]['median']} | {report[part]['p95']} | {report[part]['max']} |"
        for part in ("prompt", "completion", "total")
    ]
    fit = ", ".join(f"{n}: {k}/{report['records']}" for n, k in report["fit"].items())
    label = "Counted with the student's tokenizer" if report["exact"] else "**Estimated** (no tokenizer configured)"
    limit = report["limit"]
    return [
        "## Tokens",
        "",
        f"{label}: {report['method']}.",
        "",
        "| part | min | median | p95 | max |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"`max_length` that keeps every record whole: **{report['max_length']}** (the longest record, rounded up to "
        f"a multiple of 64). Records that fit whole within {fit}. "
        + (f"Records above {limit} tokens were dropped (`too_many_tokens`)." if limit else "No token limit was set.")
        + f" Per record: `metadata.tokens`; all figures: `{files.LENGTH_REPORT.name}`.",
        "",
    ]


def _fields_section() -> list[str]:
    rows = [f"| `{name}` | {kind} | {text} |" for name, kind, text in FIELDS]
    forms = (
        f"`{PROMPT_COMPLETION}` and `{NO_SYSTEM}` rows: `record_id`, `prompt` (list of turns), `completion` "
        f"(the assistant turn). `{PREFERENCE}` rows: `pair_id`, `record_id`, `prompt`, `chosen`, `rejected`, "
        "`split`, `rejected_source`, `rejected_reason`, `rejected_detail`."
    )
    return ["## Fields", "", "| field | type | meaning |", "|---|---|---|", *rows, "", forms, ""]


def _quality_section(summary: dict[str, Any]) -> list[str]:
    quality = summary["quality"]
    rows = [f"| `{name}` | {text} |" for name, text in QUALITY_FIELDS]
    return [
        "## Quality (per record: `metadata.quality`)",
        "",
        "Every teacher answer went through the same post-checks before it could become a record: the JSON is "
        "found in what the teacher wrote, safe repairs are made, the plan must match the schema and its rules, name "
        "no exercise the user's conditions or medications rule out and address every expected safety constraint. "
        "A kept record passed all of them; `metadata.quality` says how it got there:",
        "",
        "| field | meaning |",
        "|---|---|",
        *rows,
        "",
        f"In this build: {quality['repaired']} of {summary['records']} kept answers needed a repair, "
        f"{quality['reasked']} a re-ask, {quality['extracted_from_prose']} were found inside prose or a fence, "
        f"{quality['with_reasoning']} carried reasoning.",
        "",
    ]


def _preference_section(summary: dict[str, Any]) -> list[str]:
    pairs = summary["preference_pairs"]
    by = summary["preference_by"]
    total = sum(pairs.values())
    lines = [
        "## Preference pairs (`preference`)",
        "",
        "A pair is a record's prompt (the student form), its kept answer as `chosen` and another answer the teacher "
        "gave to the same query that a filter rejects as `rejected` (normalised JSON where it parsed, else the raw "
        "text). Other answers come from `teacher.samples_per_query` > 1 (the best sample by the checks is kept) and "
        "from re-asks (the invalid first attempt). Pairs keep their record's split.",
        "",
    ]
    if not total:
        lines += [
            "This build has no pairs: every query had one answer and none was re-asked. Set "
            "`teacher.samples_per_query` to 2 or more (and, with the mock teacher, `teacher.mock.flaw_rate` above 0) "
            "to get them.",
            "",
        ]
        return lines
    sources = ", ".join(f"{k}: {v}" for k, v in by["source"].items())
    reasons = ", ".join(f"`{k}`: {v}" for k, v in by["reason"].items())
    return [*lines, f"{total} pairs; by source: {sources}; by the rejected answer's reason: {reasons}.", ""]


def _provenance_section(config: Config, summary: dict[str, Any], provenance: Provenance) -> list[str]:
    teacher = config.teacher
    sources = ", ".join(f"{stage} `{run}`" for stage, run in provenance.stage_run_ids().items())
    models = ", ".join(f"`{m}`" for m in summary["teacher_models"]) or "(none kept)"
    return [
        "## Provenance",
        "",
        f"- Built by fitsense-luigi {provenance.package_version} in run `{provenance.run_id}` "
        f"(config fingerprint `{provenance.config_fingerprint[:16]}`, seed {config.reproducibility.seed}).",
        f"- Input stages: {sources}.",
        f"- Teacher: provider `{teacher.provider}`, model `{teacher.model}`, temperature {teacher.temperature}, "
        f"top_p {teacher.top_p}, max_tokens {teacher.max_tokens}, response format `{teacher.response_format}`, "
        f"{teacher.samples_per_query} sample(s) per query, up to {teacher.reask.max_attempts} re-asks. "
        f"Models seen in kept records: {models}.",
        f"- Prompt template version(s): {', '.join(f'`{v}`' for v in summary['template_versions']) or '(none)'}.",
        f"- Synthetic world: {config.world.users} users, {config.world.lookback_days}-day history.",
        "",
    ]


def _filters_section(config: Config, summary: dict[str, Any]) -> list[str]:
    counts = summary["rejected_by_reason"]
    rows = [f"| {k} | `{r}` | {REASON_DESCRIPTIONS[r]} | {counts[r]} |" for k, r in enumerate(REASONS, start=1)]
    near = summary["near_duplicates"]
    chars = config.dataset.response_chars
    return [
        "## Filters",
        "",
        "Checked in this order; an example is dropped for the first reason that applies, so the counts add up "
        f"to the {summary['rejected']} rows of `{files.REJECTED.name}`.",
        "",
        "| # | reason | dropped when | dropped |",
        "|---|---|---|---|",
        *rows,
        "",
        f"Length limits: {chars.min} to {chars.max} characters; token limit: {config.dataset.tokens.max_total}. "
        "Deduplication runs only over examples that passed every other check, before the split (so no duplicate "
        "pair can straddle two splits); of each group of duplicates the example with the lowest `query_id` is kept, "
        f"whatever the input order. Near duplicates: word {SHINGLE_WORDS}-gram shingles after NFKC and "
        f"lower-casing, MinHash with {NUM_PERM} permutations in an LSH index of {near['bands']} bands x "
        f"{near['rows_per_band']} rows (`datasketch`), every candidate confirmed on the exact shingle sets "
        f"(Jaccard >= {config.dataset.near_duplicate_jaccard}).",
        "",
    ]


def _split_section(split_report: dict[str, Any]) -> list[str]:
    target = split_report["target"]
    rows = [
        f"| `{_cell(row['stratum'])}` | {sum(row['users'].values())} | "
        + " | ".join(f"{row['records'][s]} ({row['ratios'][s]:.2f})" for s in SPLITS)
        + f" | {row['z']:.1f} |"
        for row in split_report["strata"]
    ]
    missing = split_report["strata_missing_a_split"]
    note = (
        f" {len(missing)} of {len(rows)} strata have no record in some split; the largest of them has "
        f"{split_report['largest_stratum_missing_a_split']} users."
        if missing
        else " Every stratum has records in every split."
    )
    ratios = " / ".join(f"{target[s]:g}" for s in SPLITS)
    return [
        "## Split",
        "",
        "By user: a user's split is a function of the user id alone (sha256 of the id mapped to [0, 1) and cut at "
        f"the ratios {ratios} for {' / '.join(SPLITS)}). No user is in two splits, and adding users never moves an "
        "existing one. Every `prompt_type|goal_type` stratum is cut by the same hash, so it gets the target ratios "
        "in expectation; exact per-stratum ratios would require ranking users against each other, which would move "
        "existing users when new ones arrive. Achieved ratios (records), and `z`, the largest deviation of the "
        "stratum's user shares in binomial standard deviations:",
        "",
        f"| stratum | users | {' | '.join(SPLITS)} | z |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"Largest per-stratum deviation from the target: {split_report['max_stratum_deviation']:.3f} "
        f"(z = {split_report['max_stratum_z']:.1f}).{note}",
        "",
    ]


def _cell(text: str) -> str:
    """A pipe inside a Markdown table cell must be escaped, even inside backticks."""
    return text.replace("|", "\\|")


def _risks_section(config: Config, summary: dict[str, Any], provenance: Provenance) -> list[str]:
    report = f"{stages.REPORTS_DIR.format(run_id=provenance.run_id)}/{files.REPORT_HTML.name}"
    lines = [
        "## Risks, bias and limitations",
        "",
        GATE_START,
        *gate_section(None, report),
        GATE_END,
        "",
        "- Synthetic users: distributions follow published rates (see the pipeline's realism report), not a real "
        "app's population; rare combinations of conditions are rarer still.",
        "- Bias: the run's bias report compares rejection, safety-flag and refusal rates, answer length and "
        "training volume across age band, sex, goal, activity level and condition (four-fifths rule, "
        "Benjamini-Hochberg corrected tests); a slice served worse fails the gate. A student trained here inherits "
        "the teacher's behaviour per slice: evaluate it per slice too.",
        "- Safety checks are rule-based: an answer passes if it avoids exercises whose contraindication tags match "
        "the user's conditions and medications and addresses every expected constraint (by id or keyword). That is "
        "necessary, not sufficient, for a safe plan; the student must be checked by the same rules at inference "
        "(`EvaluateStudent` does it on the test split).",
        "- Near-duplicate detection is approximate at the threshold: the LSH bands are chosen to propose 99 % of "
        "the pairs exactly at it (more above), so a pair right at the threshold can slip through. Duplicates are "
        "judged on the answer only; similar requests with different answers are kept.",
        "- Split ratios hold in expectation per stratum; small strata deviate (see Split).",
    ]
    if config.teacher.provider == "mock":
        lines.append(
            "- Teacher is the offline rule-based mock coach: answers are templated and deterministic, useful for "
            "testing the pipeline and for format learning, not as a source of coaching knowledge."
        )
    return [*lines, ""]


def gate_section(verdict: Mapping[str, Any] | None, report: str) -> list[str]:
    """The quality gate's verdict, or where to find it while the run has not reached the gate yet."""
    if verdict is None:
        return [
            f"Quality gate: decided after this card was written; its verdict is in `{files.QUALITY_GATE.name}` and "
            f"the run's report is `{report}` (the released card states both)."
        ]
    word = "**passed**" if verdict.get("passed") else "**failed**"
    reasons, notes = verdict.get("reasons") or [], verdict.get("notes") or []
    detail = f" Why: {'; '.join(map(str, reasons))}." if reasons else ""
    detail += f" Notes: {'; '.join(map(str, notes))}." if notes else ""
    return [f"Quality gate of this run: {word}.{detail} The run's report: [report.html]({report})."]


def release_section(release: Mapping[str, Any] | None) -> list[str]:
    if release is None:
        return [
            "## Release",
            "",
            "Not released yet: `make publish RUN_ID=<run>` adds this directory to the DVC data registry and records "
            "its version here.",
        ]
    return [
        "## Release",
        "",
        f"- Version `{release['version']}` of `{release['name']}` in the data registry (git tag `{release['tag']}`, "
        f"DVC {release['dvc_version']}).",
        f"- Fetch it: `dvc get {release['registry']} {release['name']} --rev {release['tag']}` (or `dvc import` to "
        "track it), or in the registry `git checkout <tag> && dvc pull`.",
        f"- Data files (sha256): {json.dumps(release['files'], sort_keys=True)}",
    ]


def with_release(card: str, verdict: Mapping[str, Any], report: str, release: Mapping[str, Any]) -> str:
    """The card of a published dataset: the gate's verdict and the release filled in."""
    card = _replace_between(card, GATE_START, GATE_END, gate_section(verdict, report))
    return _replace_between(card, RELEASE_START, RELEASE_END, release_section(release))


def _replace_between(text: str, start: str, end: str, lines: list[str]) -> str:
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"the dataset card has no {start} section")
    return pattern.sub(lambda _: "\n".join([start, *lines, end]), text, count=1)


def _files_section() -> list[str]:
    def names(split_file: Any) -> str:
        return ", ".join(f"`{split_file(split).name}`" for split in SPLITS)

    return [
        "## Files",
        "",
        "| file | content |",
        "|---|---|",
        f"| {names(files.records)} | the records (config `default`) |",
        f"| {names(files.records_table)} | the same rows, typed and compressed |",
        *(f"| {names(lambda s, n=name: files.form(n, s))} | config `{name}` |" for name in (*FORMS, PREFERENCE)),
        f"| `{files.REJECTED.name}` | every dropped example with `reason`, `detail` and, for duplicates, the kept "
        "copy |",
        f"| `{files.SPLIT_REPORT.name}` | achieved split ratios per `prompt_type\\|goal_type` stratum |",
        f"| `{files.LENGTH_REPORT.name}` | token statistics of the records |",
        f"| `{files.DATASET_LICENSE.name}` | the terms (`{LICENSE_NAME}`) |",
        "| `manifest.json` | files, row counts, checksums, config fingerprint and the summary counts |",
        "",
    ]


LICENSE_TEXT = """# FitSense synthetic data terms (`fitsense-synthetic-data`)

The users, profiles, workouts and requests in this dataset are synthetic: the FitSense pipeline generated them
from a random seed, and they describe no real person. You may copy, modify and use them for any purpose.

The answers (`response`, the assistant turns, `chosen` and `rejected`) were written by the teacher model named in
the card. Their use is also subject to that model's terms (many providers restrict training competing models on
their outputs): check them before you train on or share this dataset.

Nothing here is medical advice. The dataset is provided as is, without warranty of any kind.
"""
