"""Workout plans: split, weekly schedule, exercise choice and set prescriptions, for a block of users at once.

Days per week follow experience (ACSM 2009: novices 2-3, intermediate 3-4,
advanced 4-5; diabetes keeps resistance days at 3 and non-consecutive, ADA
2016). Each plan day is a template of movement slots filled with the
best-scoring exercise the person may do: the equipment is at hand, the level
fits, and no tag is ruled out by a condition or a medication. Reps, rest and
reps in reserve follow goal and experience as in ACSM; target loads come from
an estimate of the person's 1RM (Epley) rounded to real plate steps.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from fitsense_luigi.synth import calendar, plan_names, strength
from fitsense_luigi.synth import columns as col
from fitsense_luigi.synth import exercises as ex
from fitsense_luigi.synth import published as pub
from fitsense_luigi.synth.population import EQUIPMENT_NAMES, EXPERIENCE, GOAL_NAMES, SETTINGS, People

DAY_TEMPLATES: dict[str, tuple[tuple[str, ...], ...]] = {
    "Full body A": (("squat", "lunge"), ("push_h",), ("pull_v", "pull_h"), ("hinge",), ("core",)),
    "Full body B": (("hinge",), ("push_v", "push_h"), ("pull_h", "pull_v"), ("lunge", "squat"), ("core", "carry")),
    "Full body C": (("squat", "lunge"), ("pull_v", "pull_h"), ("push_h", "push_v"), ("leg_iso", "hinge"), ("arms",)),
    "Upper A": (("push_h",), ("pull_v",), ("push_v",), ("pull_h",), ("arms",)),
    "Upper B": (("push_v", "push_h"), ("pull_h",), ("push_h",), ("pull_v", "pull_h"), ("shoulder_iso", "arms")),
    "Lower A": (("squat",), ("hinge",), ("lunge",), ("leg_iso",), ("core",)),
    "Lower B": (("hinge",), ("squat", "lunge"), ("leg_iso",), ("core",), ("carry", "core")),
    "Push": (("push_h",), ("push_v",), ("push_h", "chest_iso"), ("shoulder_iso",), ("arms",)),
    "Pull": (("pull_v",), ("pull_h",), ("pull_h", "pull_v"), ("shoulder_iso",), ("arms",)),
    "Legs": (("squat",), ("hinge",), ("lunge",), ("leg_iso",), ("core",)),
}
SPLIT_DAYS = {
    2: ("Full body A", "Full body B"),
    3: ("Full body A", "Full body B", "Full body C"),
    4: ("Upper A", "Lower A", "Upper B", "Lower B"),
    5: ("Push", "Pull", "Legs", "Upper A", "Lower A"),
}
SPLIT_NAME = {2: "full body", 3: "full body", 4: "upper/lower", 5: "push/pull/legs + upper/lower"}
# Training weekdays (0 = Monday); two and three days are never consecutive.
WEEKDAYS = {2: (0, 3), 3: (0, 2, 4), 4: (0, 1, 3, 4), 5: (0, 1, 2, 4, 5)}
WEEKDAY_NAMES = np.array(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])
MAX_DAYS = 5
MAX_SLOTS = 6  # five template slots plus a conditioning finisher
_FINISHER_GOALS = np.isin(GOAL_NAMES, ["weight_loss", "endurance"])

# Per goal (rows: GOAL_NAMES order) and experience (columns): target reps on compound lifts (ACSM 2009).
_REPS = {
    "weight_loss": (12, 12, 10),
    "muscle_gain": (12, 10, 8),
    "strength": (8, 6, 5),
    "endurance": (15, 15, 20),
    "general_fitness": (12, 10, 10),
}
_REST = {  # seconds between sets on compound lifts
    "weight_loss": (60, 60, 75),
    "muscle_gain": (90, 90, 120),
    "strength": (120, 180, 210),
    "endurance": (45, 45, 45),
    "general_fitness": (75, 75, 90),
}
REPS = np.array([_REPS[g] for g in GOAL_NAMES])
REP_LOW = np.array([[lo for lo, _ in pub.REP_RANGES[g]] for g in GOAL_NAMES])
REP_HIGH = np.array([[hi for _, hi in pub.REP_RANGES[g]] for g in GOAL_NAMES])
REST = np.array([_REST[g] for g in GOAL_NAMES])
RIR = np.array([3, 2, 1])
HOLD_SECONDS = np.array([30, 45, 60])


@dataclass
class Plan:
    """One plan per person passed to :func:`design` (``user`` numbers the plans) plus its exercises (rows), in
    user, day, slot order; :func:`combine` joins a second set, e.g. restart plans, as further users."""

    days: np.ndarray  # (n,) training days per week
    day_of_weekday: np.ndarray  # (n, 7) plan day trained on each weekday, -1 = rest day
    created: np.ndarray  # (n,) datetime64[s]
    name: np.ndarray  # (n,) text
    user: np.ndarray  # rows: local person index
    day: np.ndarray  # plan day (0-based)
    slot: np.ndarray  # position within the day (0-based)
    position: np.ndarray  # position within the plan (0-based, user-wide)
    exercise: np.ndarray  # catalogue index
    alternative: np.ndarray  # next-best exercise for the slot with the same load kind, -1 if none (for swaps)
    sets: np.ndarray
    reps: np.ndarray  # target reps, or seconds for timed work
    rir: np.ndarray  # target reps in reserve; NaN where not prescribed (timed and conditioning work)
    rest: np.ndarray  # seconds
    load: np.ndarray  # target kg (per hand for dumbbells); NaN without external load
    one_rm: np.ndarray  # true 1RM at the window start (NaN when unloaded)
    capacity: np.ndarray  # true reps/seconds to failure at body weight (NaN when loaded)
    notes: np.ndarray  # text


def design(
    rng: np.random.Generator,
    people: People,
    window_start: np.datetime64,
    start_day: np.ndarray | None = None,
    abilities: tuple[np.ndarray, np.ndarray] | None = None,
) -> Plan:
    """Plans for ``people``, made on ``start_day`` (days from the window start; by default when the current
    training spell began) for lifters of the given ``abilities`` (true 1RM, capacity; drawn when not given)."""
    n = len(people)
    days = people.days_per_week
    day_of_weekday = _schedule(rng, days)
    one_rm, capacity = strength.abilities(rng, people) if abilities is None else abilities
    allowed = _allowed(people) & _feasible(one_rm, capacity)
    preference = _preference(people)
    template_slots = np.where(people.experience == 0, 4, 5)
    finisher = _FINISHER_GOALS[people.goal]

    parts: list[tuple[np.ndarray, ...]] = []
    for count, day_names in SPLIT_DAYS.items():
        group = np.nonzero(days == count)[0]
        if group.size:
            parts.append(
                _fill(rng, group, day_names, allowed[group], preference[group], template_slots[group], finisher[group])
            )
    user, day, slot, exercise, alternative = (np.concatenate([p[k] for p in parts]) for k in range(5))
    order = np.lexsort((slot, day, user))
    user, day, slot, exercise, alternative = user[order], day[order], slot[order], exercise[order], alternative[order]
    first_of_user = np.searchsorted(user, np.arange(n))
    position = np.arange(user.size) - first_of_user[user]

    if start_day is None:
        start_day = people.career.spell_start_before(0)
    created = _created(rng, people, window_start, start_day)
    rows = _prescribe(rng, people, user, exercise, one_rm[user, exercise], capacity[user, exercise])
    return Plan(
        days=days,
        day_of_weekday=day_of_weekday,
        created=created,
        name=_names(people, days),
        user=user,
        day=day,
        slot=slot,
        position=position,
        exercise=exercise,
        alternative=alternative,
        notes=_notes(people, user, day, slot, exercise, day_of_weekday, days),
        **rows,
    )


def _schedule(rng: np.random.Generator, days: np.ndarray) -> np.ndarray:
    """(n, 7) plan day per weekday; the weekly pattern may start a day later or earlier."""
    shift = rng.choice([0, 1, -1], days.size, p=[0.55, 0.25, 0.2])
    out = np.full((days.size, 7), -1, dtype=np.int8)
    for count, weekdays in WEEKDAYS.items():
        who = np.nonzero(days == count)[0]
        for plan_day, weekday in enumerate(weekdays):
            out[who, (weekday + shift[who]) % 7] = plan_day
    return out


def _allowed(people: People) -> np.ndarray:
    """(n, exercises): equipment at hand, level not above advanced-only, no tag ruled out."""
    missing = (~people.equipment).astype(np.int32) @ ex.NEEDS.T.astype(np.int32)
    banned = ex.banned_tags(people.conditions, people.medications).astype(np.int32) @ ex.TAG_MATRIX.T.astype(np.int32)
    level_ok = ex.LEVEL[None, :] <= np.maximum(people.experience, 1)[:, None]
    return (missing == 0) & (banned == 0) & level_ok


def _feasible(one_rm: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Loaded work whose lightest load still allows 8 reps with 2 in reserve; at least 6 reps or 20 s unloaded."""
    lightest_ok = strength.load_for(one_rm, 8, 2) >= ex.MINIMUM[None, :]
    enough = capacity >= np.where(ex.TIMED, 20.0, 6.0)[None, :]
    return np.where(ex.LOADED[None, :], lightest_ok, enough)


def _preference(people: People) -> np.ndarray:
    """Score bonus by exercise: in a gym, free weights and machines over body weight, barbells for
    experienced lifters (most of all those after strength or size), machines for novices."""
    goal = GOAL_NAMES[people.goal]
    gym = (people.setting == 1)[:, None]
    seasoned = (people.experience >= 1)[:, None]
    lifter = (np.isin(goal, ["strength", "muscle_gain"]) & (people.experience >= 1))[:, None]
    barbell = (ex.LOAD_KIND == "barbell")[None, :]
    machine = np.isin(ex.LOAD_KIND, ["machine", "cable"])[None, :]
    bodyweight = ((ex.LOAD_KIND == "bodyweight") & (ex.MUSCLE != "core"))[None, :]
    above_level = ex.LEVEL[None, :] > people.experience[:, None]
    return (
        0.35 * (gym & ex.LOADED[None, :])
        - 0.25 * (gym & bodyweight)
        + 0.4 * (gym & seasoned & barbell)
        + 0.5 * (lifter & barbell)
        + 0.3 * ((people.experience == 0)[:, None] & machine)
        + 0.2 * (np.isin(goal, ["endurance", "general_fitness"])[:, None] & bodyweight)
        - 0.6 * above_level
    )


def _fill(
    rng: np.random.Generator,
    group: np.ndarray,
    day_names: tuple[str, ...],
    allowed: np.ndarray,
    preference: np.ndarray,
    template_slots: np.ndarray,
    finisher: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Choose exercises slot by slot for one split; loops run over slots (<= 30), never over users."""
    m = group.size
    base = rng.random((m, ex.COUNT)) + preference
    used_in_plan = np.zeros((m, ex.COUNT), dtype=bool)
    strength_work = allowed & ~ex.CONDITIONING[None, :]
    out_user, out_day, out_slot, out_ex, out_alt = [], [], [], [], []
    for d, day_name in enumerate(day_names):
        used_today = np.zeros((m, ex.COUNT), dtype=bool)
        kinds = [*DAY_TEMPLATES[day_name], ("conditioning",)]
        score = base + 0.25 * rng.random((m, ex.COUNT)) - 1.5 * used_in_plan
        for s, kind in enumerate(kinds):
            last = s == len(kinds) - 1
            active = finisher if last else template_slots > s
            fits = allowed & ex.kind_mask(*kind)[None, :] & ~used_today
            choice, ok = _best(score, fits)
            alike = (ex.LOAD_KIND[None, :] == ex.LOAD_KIND[choice][:, None]) & (
                ex.TIMED[None, :] == ex.TIMED[choice][:, None]
            )
            alternative, has_alternative = _best(
                score, fits & alike & (np.arange(ex.COUNT)[None, :] != choice[:, None])
            )
            alternative = np.where(has_alternative & ex.LOADED[choice], alternative, -1)
            if not last:  # an empty strength slot takes any other strength exercise; a finisher is optional
                spare, spare_ok = _best(score, strength_work & ~used_today)
                alternative = np.where(ok, alternative, -1)
                choice, ok = np.where(ok, choice, spare), ok | spare_ok
            ok &= active
            rows = np.nonzero(ok)[0]
            used_today[rows, choice[rows]] = True
            used_in_plan[rows, choice[rows]] = True
            out_user.append(group[rows])
            out_day.append(np.full(rows.size, d))
            out_slot.append(np.full(rows.size, s))
            out_ex.append(choice[rows])
            out_alt.append(alternative[rows])
    return tuple(np.concatenate(parts) for parts in (out_user, out_day, out_slot, out_ex, out_alt))


def _best(score: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    masked = np.where(candidates, score, -np.inf)
    choice = np.argmax(masked, axis=1)
    return choice, np.isfinite(masked[np.arange(score.shape[0]), choice])


def _created(rng: np.random.Generator, people: People, window_start: np.datetime64, start_day: np.ndarray):
    """The plan was made when a training spell began, at a waking hour of the local day; stored as UTC. Spells
    begin throughout a user's history, not in the weeks before the window."""
    day = window_start + start_day.astype("timedelta64[D]")
    seconds = rng.integers(7 * 3600, 22 * 3600, len(people))
    return calendar.to_utc(people.zone, day, seconds)


def _prescribe(
    rng: np.random.Generator,
    people: People,
    user: np.ndarray,
    exercise: np.ndarray,
    one_rm: np.ndarray,
    capacity: np.ndarray,
) -> dict:
    m = user.size
    goal, level = people.goal[user], people.experience[user]
    compound, timed, conditioning = ex.COMPOUND[exercise], ex.TIMED[exercise], ex.CONDITIONING[exercise]
    hypertension = people.has("hypertension")[user]

    sets = np.where(compound, np.array([2, 3, 3])[level] + rng.integers(0, 2, m), 2 + rng.integers(0, 2, m))
    sets = np.where(compound & (GOAL_NAMES[goal] == "strength"), np.minimum(sets + 1, 5), sets)
    sets = np.where(conditioning & timed, 4 + rng.integers(0, 3, m), np.where(conditioning, 3, sets))

    reps = REPS[goal, level] + rng.choice([-2, 0, 2], m, p=[0.2, 0.6, 0.2])
    reps = np.where(compound, np.clip(reps, REP_LOW[goal, level], REP_HIGH[goal, level]), reps + 2)
    reps = np.where(hypertension, np.maximum(reps, 8), reps)  # AHA: no near-maximal low-rep efforts
    rir = np.where(compound, RIR[level], np.maximum(RIR[level] - 1, 1)).astype(np.float64)
    rir = np.where(hypertension, np.maximum(rir, 2), rir)
    rest = np.where(compound, REST[goal, level], np.round(REST[goal, level] * 0.67 / 15) * 15)

    # bodyweight work: no more reps than the person can do with reserve; timed work: hold or interval length
    reps = np.where(np.isnan(capacity), reps, np.clip(np.minimum(reps, capacity - rir), 5, None))
    hold = np.minimum(HOLD_SECONDS[level], np.floor(np.nan_to_num(capacity, nan=999.0) * 0.7 / 5) * 5)
    reps = np.where(timed, np.maximum(hold, 15), reps).astype(np.int64)
    rir = np.where(timed | conditioning, np.nan, rir)
    rest = np.where(timed, np.where(conditioning, 75, 45), np.where(conditioning, 60, rest))

    estimate = one_rm * np.exp(rng.normal(-0.03, 0.08, m))  # the plan's 1RM estimate is a little cautious
    load = strength.load_for(estimate, reps, np.nan_to_num(rir, nan=2.0))
    load = strength.round_load(load, exercise, people.dumbbell_max_kg[user])
    load = np.where(ex.LOADED[exercise], load, np.nan)
    return {
        "sets": sets.astype(np.int64),
        "reps": reps,
        "rir": rir,
        "rest": rest.astype(np.int64),
        "load": load,
        "one_rm": one_rm,
        "capacity": capacity,
    }


def _names(people: People, days: np.ndarray) -> np.ndarray:
    titles = np.array([plan_names.goal_title(g) for g in GOAL_NAMES], dtype=col.TEXT)
    split = np.array([SPLIT_NAME.get(d, "") for d in range(MAX_DAYS + 1)], dtype=col.TEXT)
    return plan_names.format_names(
        titles[people.goal],
        split[days],
        days,
        EXPERIENCE[people.experience].astype(col.TEXT),
        SETTINGS[people.setting],
        people.equipment,
        list(EQUIPMENT_NAMES),
        people.dumbbell_max_kg,
    )


_CUES = (
    "exhale on effort, no breath-holding",  # hypertension, compound lifts (AHA 2007)
    "warm up gradually, reliever inhaler at hand",  # asthma, first exercise of the day
    "judge effort by RPE, not heart rate",  # beta-blocker, conditioning
    "neutral spine",  # lower back pain, hinges
)
_DAY_LABELS = [name for d in range(MAX_DAYS + 1) for name in SPLIT_DAYS.get(d, ())]
_DAY_OFFSETS = np.cumsum([0] + [len(SPLIT_DAYS.get(d, ())) for d in range(MAX_DAYS + 1)])
# Every possible note, built once: (day label, weekday, cue combination) -> text; rows just index it.
_NOTE_TABLE = np.array(
    [
        "; ".join([f"{WEEKDAY_NAMES[weekday]} - {label}", *(c for bit, c in enumerate(_CUES) if cues >> bit & 1)])
        for label in _DAY_LABELS
        for weekday in range(7)
        for cues in range(2 ** len(_CUES))
    ],
    dtype=col.TEXT,
)


def _notes(
    people: People,
    user: np.ndarray,
    day: np.ndarray,
    slot: np.ndarray,
    exercise: np.ndarray,
    day_of_weekday: np.ndarray,
    days: np.ndarray,
) -> np.ndarray:
    """ "Mon - Upper A" plus the safety cues a coach would print beside the exercise."""
    weekday = np.argmax(day_of_weekday[user] == day[:, None], axis=1)
    label = _DAY_OFFSETS[days[user]] + day
    cues = (
        (people.has("hypertension")[user] & ex.COMPOUND[exercise]).astype(np.int64)
        | (people.has("asthma")[user] & (slot == 0)) << 1
        | (people.takes("metoprolol succinate")[user] & ex.CONDITIONING[exercise]) << 2
        | (people.has("lower_back_pain")[user] & (ex.PATTERN[exercise] == "hinge")) << 3
    )
    return _NOTE_TABLE[(label * 7 + weekday) * 2 ** len(_CUES) + cues]


def combine(first: Plan, second: Plan) -> Plan:
    """Two sets of plans as one: the second's plans are numbered after the first's (``user`` is the plan)."""
    plans_before = first.days.size
    merged = {}
    for field in fields(Plan):
        a, b = getattr(first, field.name), getattr(second, field.name)
        merged[field.name] = np.concatenate([a, b + plans_before if field.name == "user" else b])
    return Plan(**merged)
