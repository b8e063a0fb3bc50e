"""User requests in the user's own voice, composed from their real state.

A request is an optional opener, two to four clauses chosen from the facts
that matter for its prompt type (recent lifts and whether they move,
adherence, session length, weight trend, sleep, conditions with severity,
medications, injuries, equipment and setting), the ask itself and an optional
closer. Each clause has several phrasings and carries the user's own numbers,
rounded the way people say them, so two users rarely write the same words and
one user's facts never contradict each other. All choices come from the
generator handed in (``stage_rng``), so the same seed gives the same texts.

Beside the words, :func:`compose` returns what they ask
(``contracts.rows.RequestAsks``): a yes/no question and what about, a
decision on pushing or backing off, the days the user says they have (two
different counts when both wishes were drawn), a stalled lift, the equipment
of a new setting. Each clause carries its part, so only the clauses that made
it into the text count; the post-checks judge any teacher's answer against it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fitsense_luigi.contracts.rows import ContextSummary, RequestAsks
from fitsense_luigi.reference.catalogue import EXERCISES_BY_NAME
from fitsense_luigi.reference.equipment import GYM_EQUIPMENT
from fitsense_luigi.reference.medications import MEDICATIONS_BY_NAME
from fitsense_luigi.reference.safety import excluded_by

Context = ContextSummary

OPENERS = (
    "Hi coach,",
    "Hey!",
    "Hello,",
    "Quick one:",
    "Okay, so",
    "Hi there.",
    "Morning!",
    "Question for you:",
    "Hey coach -",
    "Hi,",
)
CLOSERS = (
    "Thanks!",
    "Thanks in advance.",
    "Appreciate it.",
    "Keep it simple please.",
    "Be honest with me.",
    "Cheers.",
    "Thank you!",
)
GOAL_WORDS = {
    "weight_loss": (
        "lose some fat",
        "drop a few kilos",
        "get leaner",
        "lose weight without losing muscle",
        "slim down",
    ),
    "muscle_gain": ("build muscle", "put on some size", "add lean mass", "get bigger", "build a more muscular frame"),
    "strength": ("get stronger", "lift heavier", "push my main lifts up", "build real strength", "get strong"),
    "endurance": ("build stamina", "improve my endurance", "last longer in workouts", "get fitter for hiking"),
    "general_fitness": ("get fitter overall", "feel healthier", "move better", "build a regular habit", "get in shape"),
}
EXPERIENCE_WORDS = {
    "novice": ("I'm pretty new to lifting", "I've only been training for a few months", "I'm still a beginner"),
    "intermediate": (
        "I've been lifting on and off for a couple of years",
        "I know my way around a gym",
        "I've trained consistently for a while",
    ),
    "advanced": ("I've trained seriously for years", "I'm an experienced lifter", "I've been lifting for a long time"),
}
ACTIVITY_WORDS = {
    "sedentary": ("I sit at a desk most of the day", "my job is very sedentary"),
    "lightly_active": ("I walk a bit most days", "I'm lightly active outside the gym"),
    "moderately_active": ("I'm fairly active day to day", "I stay reasonably active outside training"),
    "very_active": ("my job keeps me on my feet all day", "I'm very active outside the gym"),
    "extra_active": ("I do physical work all day", "I'm on my feet and lifting things at work all day"),
}
CONDITION_WORDS = {
    "hypertension": ("high blood pressure", "hypertension", "raised blood pressure"),
    "type_2_diabetes": ("type 2 diabetes", "diabetes (type 2)"),
    "asthma": ("asthma",),
    "knee_osteoarthritis": ("knee osteoarthritis", "arthritis in my knee", "a bad knee (osteoarthritis)"),
    "lower_back_pain": ("lower back pain", "a sore lower back", "recurring lower back pain"),
}
MEDICATION_REASON = {
    "hypertension": "my blood pressure",
    "type_2_diabetes": "my diabetes",
    "asthma": "my asthma",
    "knee_osteoarthritis": "my knee",
    "lower_back_pain": "my back",
}
EQUIPMENT_WORDS = {
    "dumbbells": "dumbbells",
    "kettlebell": "a kettlebell",
    "resistance_band": "resistance bands",
    "pull_up_bar": "a pull-up bar",
    "exercise_mat": "a mat",
    "bench": "a bench",
    "barbell": "a barbell",
    "squat_rack": "a squat rack",
    "cable_machine": "a cable machine",
    "leg_press_machine": "a leg press",
    "lat_pulldown_machine": "a lat pulldown",
    "leg_curl_machine": "a leg curl machine",
    "stationary_bike": "a bike",
    "rowing_machine": "a rower",
    "plyo_box": "a plyo box",
}
HOME_FOR_A_WHILE = ("dumbbells", "resistance_band")  # "training at home for a while with only dumbbells and a band"


class Composer:
    """Draws phrasings for one request; every helper reads the same generator in a fixed order."""

    def __init__(self, rng: np.random.Generator, ctx: Context, constraints: Sequence[str] = ()) -> None:
        self.rng = rng
        self.ctx = ctx
        self.constraints = tuple(constraints)  # the user's safety rules (reference.safety ids)
        self.asked: dict[str, dict[str, Any]] = {}  # clause text -> what it asks (RequestAsks keys)

    def pick(self, options: Sequence[str]) -> str:
        return options[int(self.rng.integers(len(options)))]

    def asking(self, clause: str, **asks: Any) -> str:
        """``clause``, remembering what it asks should it make it into the request."""
        if clause:
            self.asked[clause] = asks
        return clause

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def some(self, clauses: list[str], low: int, high: int) -> list[str]:
        """Between ``low`` and ``high`` of the available clauses, in their given order."""
        clauses = [c for c in clauses if c]
        if not clauses:
            return []
        k = int(self.rng.integers(min(low, len(clauses)), min(high, len(clauses)) + 1))
        keep = np.sort(self.rng.choice(len(clauses), size=k, replace=False))
        return [clauses[i] for i in keep]


# ---------------------------------------------------------------- numbers as people say them


def kg(value: float, step: float = 0.5) -> str:
    return f"{round(value / step) * step:g} kg"


def hours(value: float) -> str:
    whole, frac = int(value), value - int(value)
    if frac < 0.2:
        return f"about {whole} hours"
    if frac < 0.4:
        return f"{whole} and a quarter hours"
    if frac < 0.65:
        return f"{whole} and a half hours"
    if frac < 0.85:
        return f"{value:.1f} hours"
    return f"almost {whole + 1} hours"


def join_words(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


_PROPER = frozenset({"Romanian", "Bulgarian", "Pallof", "Farmer's"})


def lift_name(name: str) -> str:
    """'Barbell Back Squat' -> 'barbell back squat', keeping proper names ('Romanian deadlift')."""
    return " ".join(w if w in _PROPER else w.lower() for w in name.split())


# ---------------------------------------------------------------- clauses shared by several types


def about_me(c: Composer) -> str:
    ctx = c.ctx
    who = "woman" if ctx["sex"] == "female" else "man"
    options = [f"I'm a {ctx['age']}-year-old {who}", f"I'm {ctx['age']} and {ctx['height_cm']:.0f} cm tall"]
    if ctx.get("weight_kg"):
        weight = kg(ctx["weight_kg"], 1)
        options += [
            f"I'm {ctx['age']}, {ctx['height_cm']:.0f} cm and {weight}",
            f"{ctx['age']}-year-old {who} here, about {weight}",
            f"I'm {ctx['age']} and weigh around {weight}",
        ]
    return c.pick(options)


def experience(c: Composer) -> str:
    return c.pick(EXPERIENCE_WORDS.get(c.ctx["experience"], EXPERIENCE_WORDS["novice"]))


def activity(c: Composer) -> str:
    return c.pick(ACTIVITY_WORDS.get(c.ctx["activity_level"], ACTIVITY_WORDS["moderately_active"]))


def goal(c: Composer) -> str:
    ctx = c.ctx
    text = "I want to " + c.pick(GOAL_WORDS[ctx["goal"]])
    second = ctx.get("secondary_goal")
    if second and second != ctx["goal"] and c.chance(0.5):
        text += " (and ideally " + c.pick(GOAL_WORDS[second]) + ")"
    return text


def schedule(c: Composer) -> str:
    days = int(c.ctx["days_per_week"] or 3)
    minutes = c.ctx.get("avg_session_min")
    options = [f"I can train {days} days a week", f"{days} sessions a week is realistic for me"]
    if minutes:
        options.append(f"I've got {days} days a week, about {int(round(minutes / 5) * 5)} minutes each")
    return c.asking(c.pick(options), days=days)


def equipment(c: Composer) -> str:
    """Where the user trains and with what: the equipment list of their facts, in words (a gym user names the
    kit they use, so the words never promise more than the list a teacher is held to)."""
    ctx = c.ctx
    gear = [EQUIPMENT_WORDS[e] for e in ctx["equipment"] if e in EQUIPMENT_WORDS and e != "exercise_mat"]
    if ctx["training_setting"] == "gym" and gear:
        return c.pick((f"I train at a gym with {join_words(gear)}", f"at my gym I use {join_words(gear)}"))
    if not gear:
        return c.pick(("I train at home with just my body weight", "I have no equipment at home"))
    return c.pick((f"I train at home with {join_words(gear)}", f"at home I only have {join_words(gear)}"))


def condition_phrase(c: Composer, name: str) -> str:
    words = c.pick(CONDITION_WORDS.get(name, (name.replace("_", " "),)))
    severity = c.ctx.get("condition_severity", {}).get(name)
    takes_severity = not words.startswith("a ") and " my " not in words
    if severity and takes_severity and c.chance(0.6):
        return f"{severity} {words}"
    return words


# Injury notes that only repeat a listed condition in other words.
_INJURY_CONDITION = {"knee": "knee_osteoarthritis", "back": "lower_back_pain"}


def injury_news(ctx: Context) -> str | None:
    """The user's injury note, unless a listed condition already says the same."""
    detail = ctx.get("injury_details")
    if not detail:
        return None
    for word, condition in _INJURY_CONDITION.items():
        if word in detail.lower() and condition in ctx["conditions"]:
            return None
    return detail.lower()


def conditions_in_passing(c: Composer) -> str:
    names = c.ctx["conditions"]
    if not names:
        return ""
    listed = join_words([condition_phrase(c, n) for n in names])
    return c.pick((f"I also have {listed}", f"heads up: I have {listed}", f"keep in mind I have {listed}"))


def _best_lift(ctx: Context) -> dict[str, Any] | None:
    return ctx["top_lifts"][0] if ctx["top_lifts"] else None


def _stalled_lift(ctx: Context) -> dict[str, Any] | None:
    stalled = [lift for lift in ctx["top_lifts"] if lift.get("change_kg") is not None and lift["change_kg"] <= 0.5]
    return stalled[0] if stalled else None


def _moving_lift(ctx: Context) -> dict[str, Any] | None:
    moving = [lift for lift in ctx["top_lifts"] if lift.get("change_kg") and lift["change_kg"] > 0.5]
    return max(moving, key=lambda lift: lift["change_kg"]) if moving else None


# ---------------------------------------------------------------- the four prompt types


def comeback(c: Composer) -> str:
    """A lapse the user came back from, or a stop they want to end: what the history says about them."""
    ctx = c.ctx
    back = ctx.get("returned_after_days")
    if back:
        weeks = max(round(back / 7), 3)
        return c.pick(
            (
                f"I'm coming back after {weeks} weeks off",
                f"I just got back into training after about {weeks} weeks away",
                f"I took {weeks} weeks off and only restarted recently",
            )
        )
    if not ctx.get("sessions_last_window"):
        weeks = ctx["window_days"] // 7
        return c.pick(
            (
                f"I stopped training and haven't worked out at all in the last {weeks} weeks",
                "I fell off the wagon a while ago and want to restart",
                f"it's been more than {weeks} weeks since my last workout",
            )
        )
    return ""


def plan_creation(c: Composer) -> list[str]:
    intro = c.some([about_me(c), experience(c), activity(c)], 1, 2)
    restart = comeback(c)
    if restart:
        intro = [*intro, restart]
    situation = c.some([schedule(c), equipment(c), conditions_in_passing(c)], 1, 3)
    ask = c.pick(
        (
            "Can you build me a weekly plan?",
            "What should my training week look like?",
            "Could you put together a program for me?",
            "Can you design a plan I'll actually stick to?",
            "Where do I start?",
            "Can you write me a routine?",
        )
    )
    return [*intro, goal(c), *situation, ask]


def plan_modification(c: Composer) -> list[str]:
    ctx = c.ctx
    days = int(ctx["days_per_week"] or 3)
    current = c.pick(
        (
            f"I'm on a {days}-day plan right now",
            f"my current plan has me training {days} days a week",
            f"I've been following my {days}-day program",
        )
        if ctx.get("sessions_last_window")
        else (f"I was on a {days}-day plan before I stopped", f"my plan had me training {days} days a week")
    )
    restart = comeback(c)
    reasons = c.some(_modification_reasons(c), 1, 2)
    return [current, *([restart] if restart else []), *reasons, c.pick(_MODIFY_ASKS)]


_MODIFY_ASKS = (
    "Can you adjust my plan?",
    "How would you change it?",
    "Could you rework it around that?",
    "Can you swap things around so it fits?",
    "What would you change?",
    "Can you tweak the plan for me?",
)


def _modification_reasons(c: Composer) -> list[str]:
    ctx = c.ctx
    reasons = []
    rir = ctx.get("avg_working_set_rir")
    if rir is not None and rir <= 1.5:
        reasons.append(c.pick(("it feels too hard - I'm grinding out most sets", "I'm close to failure on every set")))
    elif rir is not None and rir >= 3:
        reasons.append(c.pick(("it's started to feel too easy", "I finish most sets with plenty left in the tank")))
    minutes = ctx.get("avg_session_min")
    if minutes:
        rounded = int(round(minutes / 5) * 5)
        shorter = max(20, rounded - int(c.rng.choice([10, 15, 20])))
        reasons.append(
            c.pick(
                (
                    f"sessions take me about {rounded} minutes but I only have {shorter} now",
                    f"I need my workouts under {shorter} minutes (they're around {rounded} now)",
                )
            )
        )
    stalled = _stalled_lift(ctx)
    if stalled:
        reasons.append(
            c.asking(
                f"my {lift_name(stalled['exercise'])} has been stuck around {kg(stalled['estimated_1rm_kg'], 2.5)} "
                "(estimated max) for weeks",
                stalled_lift=stalled["exercise"],
            )
        )
    plan = ctx["plan_exercises"]
    if len(plan) >= 2:
        a, b = (plan[int(i)] for i in c.rng.choice(len(plan), size=2, replace=False))
        reasons.append(f"I'm bored of doing {lift_name(a)} and {lift_name(b)} every week")
    days = int(ctx["days_per_week"] or 3)
    if days > 2:
        reasons.append(c.asking(f"I can only make {days - 1} days a week from now on", days=days - 1))
    if days < 5:
        more = c.pick((f"I've freed up time for {days + 1} days a week", "I've got an extra day free now"))
        reasons.append(c.asking(more, days=days + 1))
    if ctx["training_setting"] == "home":
        reasons.append(c.asking(c.pick(("I just joined a gym", "I finally have gym access")), equipment=_GYM))
    else:
        reasons.append(
            c.asking("I'll be training at home for a while with only dumbbells and a band", equipment=_HOME_NOW)
        )
    adherence = ctx.get("adherence_rate")
    if adherence is not None and adherence < 0.75:
        reasons.append(
            f"I keep missing sessions - {ctx['sessions_last_window']} done in the last {ctx['window_days'] // 7} weeks"
        )
    injury = ctx.get("injury_details")
    if injury:
        reasons.append(f"my {injury.lower()} flares up on some exercises")
    return reasons


_GYM = sorted(GYM_EQUIPMENT)
_HOME_NOW = list(HOME_FOR_A_WHILE)


def safety_adjustment(c: Composer) -> list[str]:
    ctx = c.ctx
    clauses = []
    for name in ctx["conditions"]:
        clauses.append(
            c.pick(
                (
                    f"I have {condition_phrase(c, name)}",
                    f"I was diagnosed with {condition_phrase(c, name)}",
                    f"I'm dealing with {condition_phrase(c, name)}",
                )
            )
        )
    for detail, name in zip(ctx["medication_details"], ctx["medications"], strict=True):
        med = MEDICATIONS_BY_NAME.get(name)
        reason = MEDICATION_REASON.get(med.treats, "it") if med else "it"
        clauses.append(c.pick((f"I take {detail}", f"I'm on {name} for {reason}", f"my doctor has me on {detail}")))
    injury = injury_news(ctx)
    if injury and c.chance(0.5):
        clauses.append(f"I also have an {injury}" if injury.startswith("old") else f"I also get {injury}")
    clauses = c.some(clauses, min(2, len(clauses)), 4)
    if c.chance(0.35):
        clauses.insert(0, about_me(c))
    if c.chance(0.3):
        clauses.append("I still want to " + c.pick(GOAL_WORDS[ctx["goal"]]))
    risky = _plan_exercise_to_question(c)
    asks = [
        c.asking("How should I adapt my training?"),
        c.asking("What should I change to stay safe?"),
        c.asking("Is my current plan safe for me?", question="yes_no", wants_plan=False),
        c.asking("Is my current plan safe for me? If not, what would you change?", question="yes_no"),
        c.asking("Which exercises should I avoid, and what can I do instead?"),
        c.asking("What's safe for me to do?"),
    ]
    if risky:
        asks += [
            c.asking(f"Is {lift_name(risky)} still OK for me?", question="yes_no", about=risky, wants_plan=False),
            c.asking(f"Should I keep doing {lift_name(risky)}?", question="yes_no", about=risky, wants_plan=False),
        ]
    return [*clauses, c.pick(asks)]


def _plan_exercise_to_question(c: Composer) -> str | None:
    """The first exercise of the user's plan that one of their safety rules rules out."""
    for name in c.ctx["plan_exercises"]:
        exercise = EXERCISES_BY_NAME.get(name)
        if exercise and excluded_by(exercise, c.constraints):
            return name
    return None


def progress_adaptation(c: Composer) -> list[str]:
    ctx = c.ctx
    weeks = ctx["window_days"] // 7
    clauses = []
    if ctx.get("adherence_rate") is not None:
        share = round(ctx["adherence_rate"] * 100)
        clauses.append(
            c.pick(
                (
                    f"I've done {ctx['sessions_last_window']} sessions in the last {weeks} weeks",
                    f"I've hit about {share}% of my planned workouts",
                    f"I got through {ctx['sessions_last_window']} workouts over {weeks} weeks (~{share}% of the plan)",
                )
            )
        )
    moving, stalled, best = _moving_lift(ctx), _stalled_lift(ctx), _best_lift(ctx)
    if moving:
        start = moving["estimated_1rm_kg"] - moving["change_kg"]
        now = kg(moving["estimated_1rm_kg"], 2.5)
        clauses.append(f"my {lift_name(moving['exercise'])} went from about {kg(start, 2.5)} to {now}")
    if stalled and stalled is not moving:
        clauses.append(
            c.asking(
                f"my {lift_name(stalled['exercise'])} is stuck at {kg(stalled['estimated_1rm_kg'], 2.5)}",
                stalled_lift=stalled["exercise"],
            )
        )
    if best and not moving and not stalled:
        clauses.append(f"my best lift is {lift_name(best['exercise'])} at about {kg(best['estimated_1rm_kg'], 2.5)}")
    change = ctx.get("weight_change_kg")
    if change is not None:
        if change <= -0.5:
            clauses.append(c.pick((f"I'm down {kg(-change)} in {weeks} weeks", f"I've lost {kg(-change)} so far")))
        elif change >= 0.5:
            clauses.append(c.pick((f"I'm up {kg(change)} in {weeks} weeks", f"I've gained {kg(change)}")))
        elif ctx.get("weight_kg"):
            clauses.append(f"my weight hasn't really moved from {kg(ctx['weight_kg'])}")
        else:
            clauses.append("my weight hasn't really moved")
    sleep = ctx.get("avg_sleep_h")
    if sleep is not None:
        if sleep < 6.5:
            clauses.append(c.pick((f"I'm only sleeping {hours(sleep)} a night", f"sleep has been bad, {hours(sleep)}")))
        else:
            clauses.append(c.pick((f"I sleep {hours(sleep)} a night", f"sleep is fine, around {hours(sleep)}")))
    kcal = ctx.get("avg_logged_kcal")
    if kcal:
        clauses.append(f"I'm logging around {int(round(kcal / 50) * 50)} kcal a day")
    if ctx.get("days_since_last_session") and ctx["days_since_last_session"] >= 5:
        clauses.append(f"I haven't trained for {ctx['days_since_last_session']} days")
    restart = comeback(c)
    if restart:
        return [restart, *c.some(clauses, 1, 3), c.pick(_RESTART_ASKS)]
    ask = c.pick(_PROGRESS_ASKS)
    return [*c.some(clauses, 2, 4), c.asking(ask, question="push_or_back_off") if ask == PUSH_OR_BACK_OFF else ask]


PUSH_OR_BACK_OFF = "Should I push harder or back off?"
_PROGRESS_ASKS = (
    "What should I change for the next block?",
    "How should I progress from here?",
    PUSH_OR_BACK_OFF,
    "What's the next step?",
    "Am I on track, and what should I adjust?",
    "How do I keep this going?",
    "What would you do in my place?",
)
_RESTART_ASKS = (
    "How do I ease back in without overdoing it?",
    "Where should I restart my loads?",
    "What should my first weeks back look like?",
)


COMPOSERS: dict[str, Callable[[Composer], list[str]]] = {
    "plan_creation": plan_creation,
    "plan_modification": plan_modification,
    "safety_adjustment": safety_adjustment,
    "progress_adaptation": progress_adaptation,
}


@dataclass(frozen=True)
class Composed:
    text: str
    asks: RequestAsks


def compose(prompt_type: str, ctx: Context, constraints: Sequence[str], rng: np.random.Generator) -> Composed:
    """One request: [opener] clauses... ask [closer], punctuated like a chat message, and what it asks."""
    c = Composer(rng, ctx, constraints)
    parts = COMPOSERS[prompt_type](c)
    opener = c.pick(OPENERS) if c.chance(0.45) else ""
    closer = c.pick(CLOSERS) if c.chance(0.3) else ""
    *statements, ask = parts
    body = _sentences(c, statements)
    if opener and body and opener[-1] not in ".!":
        body = _lower_first(body)
    text = " ".join(p for p in (opener, body, ask, closer) if p)
    return Composed(" ".join(text.split()), _asks(c, parts))


def request_text(prompt_type: str, ctx: Context, rng: np.random.Generator, constraints: Sequence[str] = ()) -> str:
    return compose(prompt_type, ctx, constraints, rng).text


def _asks(c: Composer, parts: list[str]) -> RequestAsks:
    """What the clauses that made it into the request ask, together."""
    said: dict[str, Any] = {}
    days_said: list[int] = []
    for part in parts:
        asks = c.asked.get(part, {})
        if "days" in asks:
            days_said.append(asks["days"])
        said.update(asks)
    conflicting = sorted(set(days_said)) if len(set(days_said)) > 1 else []
    return {
        "question": said.get("question"),
        "about": said.get("about"),
        "wants_plan": said.get("wants_plan", True),
        "days": None if conflicting else said.get("days"),
        "conflicting_days": conflicting,
        "stalled_lift": said.get("stalled_lift"),
        "equipment": list(said.get("equipment", c.ctx["equipment"])),
    }


def _lower_first(text: str) -> str:
    """Continue an opener such as 'Okay, so' without a capital, except for 'I'."""
    first = text.split(" ", 1)[0]
    if first == "I" or first.startswith(("I'", "I,")):
        return text
    return text[0].lower() + text[1:]


def _sentences(c: Composer, statements: list[str]) -> str:
    """Join clauses into one or two sentences, the way people type."""
    if not statements:
        return ""
    if len(statements) >= 3 and c.chance(0.5):
        cut = int(c.rng.integers(1, len(statements)))
        return _sentence(statements[:cut]) + " " + _sentence(statements[cut:])
    return _sentence(statements)


def _sentence(clauses: list[str]) -> str:
    text = clauses[0] if len(clauses) == 1 else ", ".join(clauses[:-1]) + " and " + clauses[-1]
    return text[0].upper() + text[1:] + "."
