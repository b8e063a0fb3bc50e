"""Executed training: which planned sessions happen, what the lifter does in them, and when.

Attendance: each scheduled session happens with the person's adherence
(~87% at the plan's start, fading a little every week), only inside a training
spell (``engagement``: dropout, lapses and returns), less on holidays and in
summer, more in January (``calendar``); nothing happens during a short break
(illness, travel), and some missed sessions are made up the next day when that
keeps a rest day before the next one.

Performance: a lifter's true strength grows with every session of an exercise
(fast for novices); reps to failure at the working load follow Epley; the
lifter stops with about the prescribed reps in reserve, does up to two extra
reps when the weight feels light, and fatigue costs reps set by set. When every
working set beats the target by a rep or more the next session's load rises
2.5-5% (at least one plate step, ACSM), two bad sessions in a row bring a 10%
deload. A lifter who cannot reach the target stops short of failure rather than
grinding into it. Reported RIR carries a misjudgement that shrinks with
experience and grows with the reps actually left (Zourdos 2016: experienced
lifters within ~1 rep, novices worse; Hackett 2017: reps left are
under-predicted further from failure); the app's RIR picker runs 0-5, so sets
felt further from failure go unrated.

Sessions are not copies of the plan: a set is skipped or added now and then,
an exercise is swapped for the plan's alternative for the same slot when the
equipment is taken (the workout exercise keeps its ``plan_exercise_id``: it
fills that slot of the plan), and now and then an exercise from another plan
day is added at the end (no ``plan_exercise_id``: it is not part of that day).

Timing: sets take reps x tempo, rests follow the prescription (most people rest
a little longer), the first exercises get warm-up sets, and a session ends
after its last set and a cool-down, always on the day it started.

The progression loop runs over "the k-th time this plan exercise is trained"
(about one per week), vectorised over every plan exercise of the block.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fitsense_luigi.synth import exercises as ex
from fitsense_luigi.synth import strength
from fitsense_luigi.synth.daily import Window
from fitsense_luigi.synth.plans import MAX_DAYS, Plan
from fitsense_luigi.synth.population import People

MAX_SETS = 8
FADE_WEEKS = 12  # adherence fades over a plan's first three months; after that, stopping is dropout (engagement)
# Misjudged reps in reserve: sd by experience (novice, intermediate, advanced), widening with the reps left;
# reps left are under-called further from failure (Zourdos 2016; Hackett 2017). The app's picker runs 0-5.
RIR_ERROR_SD = np.array([1.2, 0.9, 0.6])
RIR_UNDERCALL = 0.12
RIR_PICKER_MAX = 5
_PROGRESS_STEP = np.array([0.05, 0.035, 0.025])  # relative load increase after a beaten session, by experience
# Working loads from which a lifter bothers with warm-up sets (lighter work is its own warm-up).
WARM_UP_FROM_KG = np.array(
    [
        {"barbell": 40.0, "machine": 30.0, "cable": 20.0, "dumbbell": 12.0, "kettlebell": 16.0}.get(k, np.inf)
        for k in ex.LOAD_KIND
    ]
)


@dataclass
class Sessions:
    """One row per workout, in (user, day) order."""

    user: np.ndarray
    t: np.ndarray  # day index in the window
    plan_day: np.ndarray
    makeup: np.ndarray  # done the day after a missed session
    form: np.ndarray  # day-to-day strength factor (sleep, mood)
    tired: np.ndarray  # slept at least 1.5 h less than usual


def attend(
    rng: np.random.Generator, people: People, plan: Plan, window: Window, sleep_h: np.ndarray, engaged: np.ndarray
) -> Sessions:
    n, days = len(people), len(window)
    scheduled_day = plan.day_of_weekday[:, window.weekday]  # (n, days) plan day or -1
    scheduled = (scheduled_day >= 0) & engaged
    base = rng.beta(12.2, 1.8, n)
    fade = rng.gamma(2.0, 0.006, n)  # relative decline per week over the plan's first FADE_WEEKS, then steady
    plan_day0 = plan.created.astype("datetime64[D]")
    weeks = np.minimum((window.dates[None, :] - plan_day0[:, None]).astype(np.int64) / 7, FADE_WEEKS)
    chance = np.minimum(base[:, None] * np.exp(-fade[:, None] * weeks) * window.effects.attendance[None, :], 1.0)
    has_break = rng.random(n) < 0.3
    break_start = rng.integers(0, days, n)
    break_len = rng.integers(4, 13, n)
    t = np.arange(days)[None, :]
    away = has_break[:, None] & (t >= break_start[:, None]) & (t < (break_start + break_len)[:, None])
    done = scheduled & ~away & (rng.random((n, days)) < chance)

    # make-ups: the next day, only if it and the day after are rest days (keeps a rest day before the next session)
    planned = scheduled_day >= 0
    free = np.concatenate([~planned[:, 1:], np.zeros((n, 1), bool)], axis=1)
    free2 = np.concatenate([~planned[:, 2:], np.ones((n, 2), bool)], axis=1)
    later = np.concatenate([engaged[:, 1:], np.zeros((n, 1), bool)], axis=1)
    missed = scheduled & ~done & ~away & free & free2 & later & (t < days - 1) & (rng.random((n, days)) < 0.3)
    mu, mt = np.nonzero(missed)
    du, dt_ = np.nonzero(done)
    user = np.concatenate([du, mu])
    day = np.concatenate([dt_, mt + 1])
    plan_day = np.concatenate([scheduled_day[du, dt_], scheduled_day[mu, mt]])
    makeup = np.concatenate([np.zeros(du.size, bool), np.ones(mu.size, bool)])
    order = np.lexsort((day, user))
    user, day, plan_day, makeup = user[order], day[order], plan_day[order], makeup[order]

    short_night = np.maximum(people.sleep_mean_h[user] - sleep_h[user, day] - 1.0, 0.0)
    form = np.exp(rng.normal(0, 0.04, user.size)) * (1 - 0.04 * np.minimum(short_night, 2.0))
    return Sessions(user, day, plan_day.astype(np.int64), makeup, form, short_night >= 0.5)


@dataclass
class Performed:
    """Exercises done in the sessions (rows) and their sets (flat)."""

    session: np.ndarray  # rows: session index
    plan_row: np.ndarray  # rows: index into the plan's exercise rows
    exercise: np.ndarray  # rows: catalogue index of what was done (the plan's, or its alternative when swapped)
    extra: np.ndarray  # rows: added from another day of the plan, not part of the session's plan day
    position: np.ndarray  # rows: 1-based order in the workout
    short: np.ndarray  # per session: the last exercise was dropped
    set_row: np.ndarray  # sets: row index
    set_number: np.ndarray  # sets: 1-based, warm-ups first
    reps: np.ndarray
    weight: np.ndarray  # NaN without external load
    rir: np.ndarray  # NaN when not reported
    warmup: np.ndarray
    completed_s: np.ndarray  # sets: seconds after the session start
    duration_s: np.ndarray  # per session


@dataclass
class _Rows:
    """The exercises done in the sessions, with the context every step of :func:`perform` reads."""

    people: People
    plan: Plan
    sessions: Sessions
    session: np.ndarray  # session index per row
    plan_row: np.ndarray  # plan exercise per row
    position: np.ndarray  # 1-based order in the workout
    sets_done: np.ndarray  # working sets done (4% stop one set early, 5% add one on a good day)
    extra: np.ndarray  # added from another plan day


SWAP_CHANCE = 0.04  # an exercise done as the plan's alternative (equipment taken; assumption)


def perform(rng: np.random.Generator, people: People, plan: Plan, sessions: Sessions) -> Performed:
    session, plan_row, position, short, extra = _expand(rng, plan, sessions)
    planned = plan.sets[plan_row]
    fewer = (planned >= 3) & (rng.random(plan_row.size) < 0.04)
    more = ~fewer & (sessions.form[session] > 1.0) & (planned < MAX_SETS) & (rng.random(plan_row.size) < 0.10)
    sets_done = planned - fewer + more
    rows = _Rows(people, plan, sessions, session, plan_row, position, sets_done, extra)
    load, reps, rir = _progress(rng, rows)
    exercise, load = _swaps(rng, plan, plan_row, load, extra)
    sets = _sets(rng, rows, exercise, load, reps, rir)
    completed, duration = _timeline(rng, rows, sets)
    return Performed(session, plan_row, exercise, extra, position, short, *sets, completed, duration)


def _swaps(rng: np.random.Generator, plan: Plan, plan_row: np.ndarray, load: np.ndarray, extra: np.ndarray):
    """Planned rows done as the slot's alternative: same load kind, the load scaled by the catalogue strength
    ratios (an extra is chosen freely, so it is never a swap)."""
    planned = plan.exercise[plan_row]
    alternative = plan.alternative[plan_row]
    swap = (alternative >= 0) & ~extra & (rng.random(plan_row.size) < SWAP_CHANCE)
    other = np.where(swap, alternative, planned)
    scaled = load * ex.RATIO[other] / np.where(ex.RATIO[planned] > 0, ex.RATIO[planned], 1.0)
    swapped_load = strength.round_load(np.nan_to_num(scaled, nan=0.0), other)
    return other, np.where(swap & np.isfinite(load), swapped_load, load)


EXTRA_CHANCE = 0.05  # sessions that end with an exercise from another day of the plan (assumption)


def _expand(rng: np.random.Generator, plan: Plan, sessions: Sessions):
    """The plan day's exercises for every session; 6% of sessions drop the last exercise (short on time) and
    5% add one from another day of the plan at the end (an extra, not part of today's plan)."""
    key_plan = plan.user.astype(np.int64) * MAX_DAYS + plan.day
    key = sessions.user.astype(np.int64) * MAX_DAYS + sessions.plan_day
    first = np.searchsorted(key_plan, key, side="left")
    count = np.searchsorted(key_plan, key, side="right") - first
    short = (count >= 4) & (rng.random(key.size) < 0.06)
    count = count - short
    session = np.repeat(np.arange(key.size), count)
    within = np.arange(session.size) - np.repeat(np.cumsum(count) - count, count)
    plan_row, position = first[session] + within, within + 1

    user_first = np.searchsorted(plan.user, sessions.user, side="left")
    user_rows = np.searchsorted(plan.user, sessions.user, side="right") - user_first
    pick = user_first + np.floor(rng.random(key.size) * np.maximum(user_rows, 1)).astype(np.int64)
    pick = np.minimum(pick, plan.user.size - 1)
    extra = ~short & (count > 0) & (rng.random(key.size) < EXTRA_CHANCE) & (plan.day[pick] != sessions.plan_day)
    added = np.flatnonzero(extra)
    session = np.concatenate([session, added])
    plan_row = np.concatenate([plan_row, pick[added]])
    position = np.concatenate([position, count[added] + 1])
    is_extra = np.concatenate([np.zeros(within.size, bool), np.ones(added.size, bool)])
    order = np.lexsort((position, session))
    return session[order], plan_row[order], position[order], short, is_extra[order]


def _occurrence(plan_row: np.ndarray) -> np.ndarray:
    """How many times each row's plan exercise was trained before (rows are in time order)."""
    order = np.argsort(plan_row, kind="stable")
    sorted_rows = plan_row[order]
    starts = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
    rank = np.arange(order.size) - np.repeat(starts, np.diff(np.r_[starts, order.size]))
    out = np.empty_like(rank)
    out[order] = rank
    return out


def _reps_done(rtf: np.ndarray, goal: np.ndarray, reserve: np.ndarray, noise: np.ndarray, timed: np.ndarray):
    """Reps (or seconds) done per set: stop with about ``reserve`` left, up to two extra when it feels light,
    and when the target is out of reach stop a rep or two short of failure (one less in reserve than planned);
    timed work is held in 5 s steps."""
    aimed = rtf - reserve + noise
    short = np.floor(rtf - np.maximum(reserve - 1, 0) + noise)
    done = np.where(aimed >= goal, np.minimum(np.floor(aimed), goal + 2), np.minimum(goal, short))
    held = np.floor(np.minimum(goal + 10, rtf * 0.85) / 5) * 5
    return np.where(timed, np.maximum(held, 5), np.maximum(done, 1))


def _progress(rng: np.random.Generator, rows: _Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Working load per row and (rows, sets) reps and felt RIR, with double progression of the load.

    Only loaded exercises carry state from one session to the next (the load), so only they go
    through the loop over occurrences; reps and RIR of every row are then computed in one pass.
    """
    people, plan, sessions, session, plan_row = rows.people, rows.plan, rows.sessions, rows.session, rows.plan_row
    sets_done = rows.sets_done
    m = plan_row.size
    width = int(min(MAX_SETS, plan.sets.max(initial=1) + 1))
    e = plan.exercise
    level = people.experience[plan.user]
    loaded, timed = ex.LOADED[e], ex.TIMED[e]
    target = plan.reps.astype(np.float64)
    reserve = np.nan_to_num(plan.rir, nan=2.0)
    step = _PROGRESS_STEP[level]
    ceiling = np.where(ex.LOAD_KIND[e] == "dumbbell", people.dumbbell_max_kg[plan.user], np.inf)
    bias = rng.normal(0, 0.4, len(people))[plan.user]
    noise = rng.standard_normal((m, width), dtype=np.float32) * np.float32(0.7) + np.float32(0.3)
    misjudge = rng.standard_normal((m, width), dtype=np.float32)
    set_index = np.arange(width)[None, :]

    occurrence = _occurrence(plan_row)
    grow = (1 + strength.GAIN_PER_SESSION[level][plan_row] * occurrence) * sessions.form[session]
    load = np.full(m, np.nan)
    rtf1 = plan.capacity[plan_row] * grow  # unloaded: reps or seconds to failure today; loaded rows below

    state = plan.load.copy()
    struggles = np.zeros(plan.load.size, dtype=np.int64)
    heavy_rows = np.flatnonzero(loaded[plan_row])
    by_occurrence = heavy_rows[np.argsort(occurrence[heavy_rows], kind="stable")]
    sorted_occurrence = occurrence[by_occurrence]
    bounds = np.searchsorted(sorted_occurrence, np.arange(sorted_occurrence.max(initial=-1) + 2))
    for k in range(bounds.size - 1):
        idx = by_occurrence[bounds[k] : bounds[k + 1]]
        pe = plan_row[idx]
        now = state[pe]
        load[idx] = now
        rtf1[idx] = strength.reps_to_failure(plan.one_rm[pe] * grow[idx], now)
        rtf = rtf1[idx][:, None] - _fatigue(plan, pe, rtf1[idx])[:, None] * set_index
        goal = target[pe][:, None]
        done = _reps_done(rtf, goal, reserve[pe][:, None], noise[idx], timed[pe][:, None])
        working = set_index < sets_done[idx][:, None]
        beaten = np.all(~working | (done >= goal + 1), axis=1)
        mean_done = (done * working).sum(axis=1) / working.sum(axis=1)
        counts = ~rows.extra[idx]  # an extra from another day is done at today's load but does not move it
        struggles[pe] = np.where(counts, np.where(mean_done <= target[pe] - 3, struggles[pe] + 1, 0), struggles[pe])
        deload = struggles[pe] >= 2
        heavier = np.maximum(
            strength.round_load(now * (1 + step[pe]), e[pe], ceiling[pe]),
            np.minimum(now + ex.INCREMENT[e[pe]], ceiling[pe]),
        )
        lighter = strength.round_load(now * 0.9, e[pe])
        state[pe] = np.where(counts, np.where(beaten, heavier, np.where(deload, lighter, now)), now)
        struggles[pe] = np.where(deload & counts, 0, struggles[pe])

    rtf1 = rtf1.astype(np.float32)  # one pass over every set of every row: single precision is plenty
    rtf = rtf1[:, None] - _fatigue(plan, plan_row, rtf1).astype(np.float32)[:, None] * set_index
    goal = target[plan_row].astype(np.float32)[:, None]
    reps = _reps_done(rtf, goal, reserve[plan_row].astype(np.float32)[:, None], noise, timed[plan_row][:, None])
    left = np.maximum(rtf - reps, 0)
    spread = RIR_ERROR_SD[level[plan_row]][:, None] * (1 + 0.1 * left)
    felt = np.maximum(np.round(left * (1 - RIR_UNDERCALL) + bias[plan_row][:, None] + misjudge * spread), 0)
    no_rir = (timed | ex.CONDITIONING[e])[plan_row][:, None] | (felt > RIR_PICKER_MAX)
    return load, reps, np.where(no_rir, np.nan, felt)


def _fatigue(plan: Plan, pe: np.ndarray, rtf1: np.ndarray) -> np.ndarray:
    """Reps (or seconds) lost per set: more with short rests; timed work loses ~8% per set."""
    timed = ex.TIMED[plan.exercise[pe]]
    return np.where(timed, 0.08 * rtf1, np.where(plan.rest[pe] <= 90, 1.0, 0.6))


def _sets(
    rng: np.random.Generator, rows: _Rows, e: np.ndarray, load: np.ndarray, reps: np.ndarray, rir: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Flat sets: warm-ups (ramping to ~70% of the working load) before the working sets."""
    people, plan, sessions, session, plan_row = rows.people, rows.plan, rows.sessions, rows.session, rows.plan_row
    position, sets = rows.position, rows.sets_done
    user = sessions.user[session]
    asthma = people.has("asthma")[user]
    heavy = ex.LOADED[e] & ex.COMPOUND[e] & (load >= WARM_UP_FROM_KG[e])
    warmups = np.where(heavy & (position == 1), np.where(people.experience[user] >= 1, 2, 1), 0)
    warmups = np.where(heavy & (position == 2), 1, warmups)
    warmups = np.where(asthma & (position == 1), np.maximum(warmups + heavy, 1), warmups)
    total = warmups + sets
    set_row = np.repeat(np.arange(plan_row.size), total)
    j = np.arange(set_row.size) - np.repeat(np.cumsum(total) - total, total)
    w = warmups[set_row]
    warm = j < w
    work = np.clip(j - w, 0, reps.shape[1] - 1)

    weight = load[set_row]
    done = reps[set_row, work]
    logs_rir = rng.random(len(people)) < 0.8
    felt = np.where(logs_rir[user[set_row]], rir[set_row, work], np.nan)
    ramp = np.nonzero(warm)[0]  # warm-ups: ~40-70% of the working load, fewer reps as the load rises
    fraction = 0.7 - 0.15 * (w[ramp] - 1 - j[ramp])
    base = load[set_row[ramp]]
    lighter = strength.round_load(base * fraction, e[set_row[ramp]])
    weight[ramp] = np.where(lighter < base, lighter, np.nan)  # no lighter plate or bell: warm up unloaded
    bodyweight_reps = np.maximum(plan.reps[plan_row][set_row[ramp]] // 2, 3)
    done[ramp] = np.where(np.isnan(base), bodyweight_reps, np.round(np.clip(12 * (1 - fraction), 3, 10)))
    felt[ramp] = np.nan
    return set_row, (j + 1).astype(np.int64), done.astype(np.int64), weight, felt, warm


def _timeline(rng: np.random.Generator, rows: _Rows, sets: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Seconds from the session start to each set's end, and each session's length."""
    people, plan, sessions, session, plan_row = rows.people, rows.plan, rows.sessions, rows.session, rows.plan_row
    set_row, set_number, reps, _, _, warm = sets
    s = set_row.size
    e = plan.exercise[plan_row][set_row]
    user = sessions.user[session][set_row]
    tempo = rng.uniform(3.0, 4.0, len(people))[user]
    work = np.where(ex.TIMED[e], reps + 10, reps * tempo + 8)
    rest_multiplier = np.exp(rng.normal(0.1, 0.15, len(people)))[user]
    jitter = rng.uniform(0.82, 1.18, s)
    rest = np.where(warm, 45 + 45 * jitter, plan.rest[plan_row][set_row] * rest_multiplier * jitter)
    first_set = set_number == 1
    setup = rng.uniform(60, 150, s)  # walking over, loading the bar, adjusting the bench
    gap = np.where(first_set, setup, np.r_[0.0, rest[:-1]])
    step = np.round(gap + work).astype(np.int64)
    set_session = session[set_row]
    cumulative = np.cumsum(step)
    start_of_session = np.searchsorted(set_session, np.arange(sessions.user.size))
    before = np.r_[0, cumulative][start_of_session]
    asthma = people.has("asthma")[sessions.user]
    general = np.round(rng.uniform(300, 600, sessions.user.size) + asthma * 300).astype(np.int64)
    completed = cumulative - before[set_session] + general[set_session]
    last = np.r_[start_of_session[1:], s] - 1
    has_sets = np.r_[start_of_session[1:], s] > start_of_session
    cooldown = np.round(rng.uniform(180, 480, sessions.user.size)).astype(np.int64)
    duration = np.where(has_sets, completed[np.clip(last, 0, max(s - 1, 0))], general) + cooldown
    return completed, duration
