"""The rows that cross a stage, as typed shapes.

Each JSONL file a stage writes holds rows of one shape declared here; the
producer builds them and every consumer reads them as declared. The key order
of a shape is the order its producer writes (the files are byte-for-byte
deterministic). ``tests/pipeline/test_row_shapes.py`` checks every row of a
real run against these annotations (keys and value types).

    queries.jsonl                       Query (with its ContextSummary)
    responses.jsonl (shards, merged)    TeacherResponse
    train / validation / test           DistillationRecord (JSONL and Parquet)
    prompt_completion/, no_system/      PromptCompletionRow (the same records in TRL's prompt/completion form)
    preference/                         PreferencePair (DPO)
    rejected.jsonl                      RejectedRow
"""

from __future__ import annotations

from typing import Any, TypedDict


class Message(TypedDict):
    role: str  # system, user or assistant
    content: str


class SliceTags(TypedDict):
    """The groups a user belongs to, for bias slicing and stratified splits."""

    age_band: str
    sex: str
    goal_type: str
    activity_level: str
    condition_flag: str  # with_condition or no_condition


class Lift(TypedDict):
    exercise: str
    estimated_1rm_kg: float
    change_kg: float | None  # over the window; None with too few sessions to tell


class ContextSummary(TypedDict):
    """What the coach (real or mock) knows about the asking user; numbers rounded the way the app shows them.

    Built by ``queries.state.context_summary``; read by the phrasing of the
    request, the coach, the post-checks and the dataset. ``None`` means the app
    holds no such data for the user (no weight logged, no plan ...).
    """

    age: int
    sex: str
    height_cm: float
    weight_kg: float | None
    bmi: float | None
    goal: str
    secondary_goal: str | None
    activity_level: str
    experience: str
    training_setting: str  # home or gym
    equipment: list[str]
    conditions: list[str]
    # condition -> severity; in the dataset's records every condition of the dataset is a key (Arrow unifies the
    # struct across records), None where the user does not have it
    condition_severity: dict[str, str | None]
    medications: list[str]
    medication_details: list[str]
    injury_details: str | None
    allergies: list[str]
    days_per_week: float | None
    plan_exercises: list[str]
    sessions_last_window: int
    sessions_last_14_days: int
    adherence_rate: float | None
    adherence_last_14_days: float | None
    days_since_last_session: int | None
    returned_after_days: int | None  # days off before the latest sessions when that pause was a lapse (>= 21)
    avg_session_min: float | None
    avg_working_set_rir: float | None
    weight_change_kg: float | None
    weekly_weight_change_pct: float | None
    avg_sleep_h: float | None
    sleep_target_h: float | None
    short_sleep_share: float | None
    avg_logged_kcal: float | None
    maintenance_kcal: float | None
    top_lifts: list[Lift]
    window_days: int


class RequestAsks(TypedDict):
    """What a request asks, as ``queries.phrasing`` wrote it: what any teacher's answer is judged against.

    The teacher reads only the words; the post-checks read this (``teacher.coaching_checks``).
    """

    question: str | None  # yes_no | push_or_back_off | None (a request for a plan or for changes)
    about: str | None  # catalogue name a yes/no question asks about; None: the user's current plan
    wants_plan: bool  # a plan is asked for (False: a yes/no question alone, answered without days)
    days: int | None  # training days a week the request says the user has
    conflicting_days: list[int]  # two different day counts said in one request (to be pointed out)
    stalled_lift: str | None  # catalogue name of a lift the request says is stuck
    equipment: list[str]  # what the user trains with for this request (their list, or a new setting's)


class Query(TypedDict):
    """One user request (queries.jsonl), with the exact messages the teacher receives."""

    query_id: str
    user_id: str
    scenario_id: str  # <prompt_type>-<k>
    prompt_type: str
    slice_tags: SliceTags
    expected_safety_constraints: list[str]  # ids of reference.safety rules that apply to the user
    context_summary: ContextSummary
    user_request: str
    asks: RequestAsks
    messages: list[Message]
    template_version: str


class Usage(TypedDict):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class PostValidation(TypedDict):
    """What the post-checks found in one answer (``teacher.checks.post_check``)."""

    parsed: bool
    schema_valid: bool
    schema_errors: list[str]
    unknown_exercises: list[str]
    constraints_addressed: list[str]
    constraints_missing: list[str]
    valid: bool
    extracted: str | None  # as_is | fenced | object: where the JSON was found (teacher.extract)
    reasoning: str | None  # inline_think | reasoning_content: reasoning the answer carried (never trained on)
    repairs: list[str]  # safe repairs made, kind:path (teacher.repair)
    refusal: str | None  # message | finish_reason | prose: how a refusal was recognised
    reasks: int  # times the answer was asked again with its errors
    reask_errors: list[str]  # the first error of each re-asked answer


class Alternative(TypedDict):
    """An answer to the query other than the row's own: another sample, or an attempt that was re-asked."""

    source: str  # sample (teacher.samples_per_query > 1) or reask (an invalid answer asked again)
    sample: int  # which sample (0-based) it was, or belongs to
    status: str
    response_text: str
    normalized_text: str
    safety_flags: list[str]
    post_validation: PostValidation


class TeacherResponse(TypedDict):
    """One teacher outcome per query (responses.jsonl), whatever the provider and however it ended."""

    query_id: str
    scenario_id: str
    prompt_type: str
    provider: str
    model_name: str
    attempt_count: int
    latency_ms: int
    status: str  # one of teacher.types.STATUSES (ok, refused, length, content_filter, invalid, http_error, timeout)
    finish_reason: str | None
    response_text: str  # the raw answer (a refusal's text when message.refusal came with content null)
    normalized_text: str  # the training target: the extracted, repaired plan as canonical JSON ("" if unusable)
    raw_response: dict[str, Any] | None  # the provider's whole body; the dataset leaves it behind
    error: str | None
    usage: Usage
    safety_flags: list[str]  # kind:detail
    post_validation: PostValidation
    response_format: str | None  # json_schema | json_object | none as negotiated (None: judged outside a stage)
    cache_hit: bool  # paid for by another run
    sample: int  # which of the teacher.samples_per_query answers this row holds (the best by the checks)
    alternatives: list[Alternative]  # the query's other answers: other samples and re-asked attempts


class RecordContext(TypedDict):
    prompt_type: str
    slice_tags: SliceTags
    expected_safety_constraints: list[str]
    context_summary: ContextSummary


class SourceRunIds(TypedDict):
    """Run id recorded in the manifest of each input stage of the dataset."""

    queries: str
    teacher: str


class RecordQuality(TypedDict):
    """What the post-checks found in the kept answer and what it took to get it (from its response row)."""

    response_format: str | None
    extracted: str | None  # as_is | fenced | object: where the JSON was found in the teacher's text
    reasoning: str | None  # inline_think | reasoning_content: reasoning the teacher added (removed from the target)
    repairs: list[str]  # safe repairs made to the teacher's JSON, kind:path
    reasks: int  # times the teacher was asked again with the errors of its answer
    reask_errors: list[str]
    constraints_addressed: list[str]
    unknown_exercises: list[str]
    samples: int  # answers the teacher gave to the query (teacher.samples_per_query)
    sample: int  # the one kept (best by the checks)
    rejected_answers: int  # the query's answers that failed a check (other samples, re-asked attempts)


class RecordTokens(TypedDict):
    """The record's cost in the student's tokens (see the card for how they were counted)."""

    prompt: int
    completion: int
    total: int


class RecordMetadata(TypedDict):
    provider: str
    model_name: str
    latency_ms: int
    attempt_count: int
    usage: Usage
    cache_hit: bool
    query_id: str
    scenario_id: str
    source_run_id: str
    source_run_ids: SourceRunIds
    template_version: str
    quality: RecordQuality
    tokens: RecordTokens


class DistillationRecord(TypedDict):
    """One training example (config/schemas/distillation_record.schema.json says the same for trainers)."""

    record_id: str
    user_id: str
    request: str  # the user's request in their own words
    instruction: str  # the student's user turn: the request, the task line, compact facts, constraint ids
    context: RecordContext
    response: str
    messages: list[Message]  # system (the student's), user, assistant: ready for a chat template
    split: str  # one of contracts.splits.SPLITS
    metadata: RecordMetadata


class PromptCompletionRow(TypedDict):
    """A record in TRL's conversational prompt/completion form (the loss covers the completion only)."""

    record_id: str
    prompt: list[Message]  # system and user (no_system: one user turn that starts with the system text)
    completion: list[Message]  # the assistant's answer


class PreferencePair(TypedDict):
    """A prompt with a kept answer and one the checks rejected (TRL's DPO format, conversational)."""

    pair_id: str
    record_id: str  # the record whose answer is ``chosen``
    prompt: list[Message]
    chosen: list[Message]
    rejected: list[Message]
    split: str  # the record's split: pairs never cross the user split
    rejected_source: str  # sample or reask
    rejected_reason: str  # the dataset filter reason that rejects it (dataset.filters.REASONS)
    rejected_detail: str


class RejectedRow(TypedDict):
    """A query that became no record, with the first reason that dropped it (rejected.jsonl)."""

    record_id: str
    query_id: str
    user_id: str
    scenario_id: str
    prompt_type: str
    slice_tags: SliceTags
    reason: str  # one of dataset.filters.REASONS
    detail: str
    duplicate_of: str | None
    similarity: float | None
    status: str  # the response's status, or "missing"
    response_chars: int
    response_text: str


# Keys other modules iterate over, taken from the shapes above.
SLICE_KEYS: tuple[str, ...] = tuple(SliceTags.__annotations__)
USAGE_KEYS: tuple[str, ...] = tuple(Usage.__annotations__)
SOURCE_STAGES: tuple[str, ...] = tuple(SourceRunIds.__annotations__)

Rows = list[dict[str, Any]]  # rows of any shape, for code that only counts or groups them
