"""The words of an answer: the direct reply first, then summary, progression, safety notes and explanation.

The reply answers what was asked: a yes/no question gets "Yes" or "No" and
why (and a plan only if one was asked for); "push harder or back off?" gets a
decision with the reason in the user's own numbers; a stalled lift is named;
two different day counts are pointed out. Every sentence is built around the
user's situation (their conditions and how severe, their medication by name,
the lifts removed from their plan and what replaced them, the days chosen,
their sleep, attendance and weight trend) with a few phrasings for each part,
so answers differ the way users do instead of repeating a handful of templates.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fitsense_luigi.reference import frequency
from fitsense_luigi.reference.catalogue import EXERCISES_BY_NAME
from fitsense_luigi.reference.medications import DRUG_CLASS
from fitsense_luigi.reference.safety import RULES
from fitsense_luigi.teacher.coach.planning import Change, Coach
from fitsense_luigi.teacher.coach.prescribing import Scheme, prescribe, scheme
from fitsense_luigi.wording import counted

MAX_EXPLANATION_WORDS = 120
# planning.Change kinds that set fewer days than asked or planned (planning keeps the one that set the number)
DAY_LIMITS = frozenset({"level_days", "missing", "gradual_days", "capped_days"})
CHANGE_WORDS = {  # planning.Change.what in the user's terms
    "fewer_days": "fewer days",
    "more_days": "the extra day",
    "capped_days": "a week you can recover from",
    "gradual_days": "a week you can build on",
    "level_days": "a week that fits your experience",
    "shorter": "shorter sessions",
    "easier": "an easier effort",
    "harder": "a harder effort",
    "short_sleep": "your short sleep",
    "missing": "the sessions you have been missing",
    "swapped": "a swap",
    "bored": "fresh exercises",
    "setting": "your new setting",
    "flare_up": "the flare-up",
}
GOAL_WORDS = {
    "strength": "strength",
    "muscle_gain": "muscle-building",
    "weight_loss": "fat-loss",
    "endurance": "endurance",
    "general_fitness": "general fitness",
}
CONDITION_WORDS = {
    "hypertension": "high blood pressure",
    "type_2_diabetes": "type 2 diabetes",
    "asthma": "asthma",
    "knee_osteoarthritis": "knee osteoarthritis",
    "lower_back_pain": "lower back pain",
}
REASONS = {  # why an exercise is left out, by what the rule matched (reference.safety SafetyRule.reason_out)
    "tag high_impact": "it means jumping and hard landings",
    "tag deep_loaded_knee_flexion": "it loads the knee deep in a bend",
    "tag heavy_spinal_loading": "it puts a heavy load through the spine",
    "tag loaded_spinal_flexion": "it bends the spine under load",
    "tag maximal_valsalva": "it is a lift people strain and hold their breath on",
    "plyometric": "it is a plyometric jump drill",
    "level advanced": "it is an advanced lift",
}


def answer_of(coach: Coach) -> dict[str, Any]:
    """The whole plan_response for the coach's message."""
    rep_work = scheme(coach)
    lifts = {lift["exercise"]: lift for lift in coach.facts.get("top_lifts") or []}
    days = []
    for session in coach.sessions:
        items = [prescribe(coach, e, rep_work, lifts) for e in session.exercises]
        if session.finisher is not None:
            items.append(prescribe(coach, session.finisher, rep_work, lifts))
        days.append({"day": session.day, "focus": session.focus, "exercises": items})
    words = Words(coach, rep_work, days)
    return {
        "answer": words.answer(),
        "summary": words.summary(),
        "days_per_week": len(days),
        "days": days,
        "progression": words.progression(),
        "safety_notes": [{"constraint_id": c, "note": words.safety_note(c)} for c in coach.asked.constraints],
        "explanation": words.explanation(),
    }


def join(items: list[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1] if items else ""


def sentence(text: str) -> str:
    text = text.strip()
    return text[0].upper() + text[1:] + ("" if text.endswith((".", "!", "?")) else ".")


class Words:
    """Sentences for one answer, from the coach's decisions and the user's facts."""

    def __init__(self, coach: Coach, rep_work: Scheme, days: list[dict[str, Any]]) -> None:
        self.coach = coach
        self.facts = coach.facts
        self.asked = coach.asked
        self.scheme = rep_work
        self.days = days
        self.pick = coach.pick
        self.names = [i["name"] for d in days for i in d["exercises"]]

    # ---------------------------------------------------------------- facts in words
    def conditions(self) -> str:
        severity = self.facts.get("condition_severity") or {}
        said = []
        for name in self.facts.get("conditions") or []:
            words = CONDITION_WORDS.get(name, name.replace("_", " "))
            said.append(f"{severity[name]} {words}" if severity.get(name) else words)
        return join(said)

    def medication(self, *classes: str) -> str | None:
        """The user's medication of one of these classes, with its dose as their record gives it."""
        for name, detail in zip(
            self.facts.get("medications") or [], self.facts.get("medication_details") or [], strict=False
        ):
            if DRUG_CLASS.get(name) in classes:
                dose = re.match(rf"{re.escape(name)} (\d+(?:\.\d+)? (?:mg|mcg|units))", detail)
                return f"{name} {dose.group(1)}" if dose else name
        return None

    def removed(self, rule_id: str | None = None) -> list[str]:
        """Exercises of the user's current plan the coach leaves out (for one rule, or for any)."""
        if rule_id is None:
            return self.coach.unsafe_now
        return [
            n for n in self.coach.unsafe_now if any(r == rule_id for r, _ in self.coach.ruled_out(EXERCISES_BY_NAME[n]))
        ]

    def swaps(self, names: list[str]) -> str:
        """ "Walking Lunge for Step-Up and Barbell Back Squat for Goblet Squat" (what replaces what)."""
        pairs = []
        for name in names[:2]:
            new = self.coach.replacement_for(name)
            pairs.append(f"{name} for {new.name}" if new else f"{name} (nothing in its place)")
        return join(pairs)

    def reason(self, name: str) -> str:
        found = self.coach.ruled_out(EXERCISES_BY_NAME[name])
        return REASONS.get(found[0][1], "your safety rules rule it out") if found else ""

    def weekdays(self) -> str:
        return join([d["day"] for d in self.days])

    def risk(self, rule_id: str) -> str:
        """The user's risk factor behind a rule, in words ("your knee osteoarthritis", "at 71")."""
        f = self.facts
        return {
            "avoid_valsalva": "your blood pressure",
            "rpe_not_heart_rate": f"your {self.medication('beta-blocker') or 'beta-blocker'}",
            "low_impact_knee": f"your {self.injury('knee') or 'knee'}",
            "protect_lower_back": f"your {self.injury('back') or 'lower back'}",
            "nonconsecutive_resistance_days": "your diabetes",
            "hypoglycaemia_watch": f"your {self.medication('sulfonylurea', 'long-acting insulin') or 'medication'}",
            "asthma_warmup_inhaler": "your asthma",
            "low_impact_older_adult": f"being {f.get('age')}",
            "low_impact_high_bmi": f"a BMI of {f.get('bmi')}",
            "novice_foundations": "being new to lifting",
            "injured_ankle_no_impact": f"your {self.injury('ankle') or 'ankle'}",
        }.get(rule_id, "your health")

    def injury(self, word: str) -> str | None:
        for part in (self.facts.get("injury_details") or "").split(";"):
            if word in part.lower() or (word == "back" and re.search(r"l5-s1|disc|lumbar", part.lower())):
                return part.strip().lower()
        return None

    # ---------------------------------------------------------------- the direct reply
    def answer(self) -> str:
        parts = []
        if self.asked.question == "yes_no":
            parts.append(self.yes_no())
        elif self.asked.question == "push_or_back_off":
            parts.append(self.decision())
        if self.asked.conflicting_days:
            a, b = self.asked.conflicting_days[0], self.asked.conflicting_days[-1]
            parts.append(
                self.pick(
                    (
                        f"You said both {a} days and {b} days a week, so I planned {len(self.days)} days to fit the "
                        "tighter week; add one when the time is really there.",
                        f"You mention {a} days a week and also {b} days: I went with {len(self.days)} so the plan "
                        "survives a busy week.",
                    )
                )
            )
        if self.asked.stalled:
            parts.append(self.stalled())
        if not parts:
            parts.append(self.introduction())
        if (limit := self.day_limit()) is not None and limit.detail.get("asked"):
            parts.append(self.change_words(limit))
        return " ".join(sentence(p) for p in parts)[:800]

    def day_limit(self) -> Change | None:
        """The limit that set the number of days below what the request asked or the plan had (planning keeps one)."""
        return next((c for c in self.coach.changes if c.what in DAY_LIMITS), None) if self.days else None

    def yes_no(self) -> str:
        about = self.asked.about
        names = [about] if about else list(self.facts.get("plan_exercises") or [])
        unsafe = [n for n in names if n in EXERCISES_BY_NAME and self.coach.ruled_out(EXERCISES_BY_NAME[n])]
        if unsafe and about:
            new = self.coach.replacement_for(about)
            instead = f"; {new.name} trains the same muscles without that" if new else ""
            return self.pick(
                (
                    f"No - with {self.risk(self.rule_for(about))}, {about} is off the list because "
                    f"{self.reason(about)}{instead}",
                    f"No, I'd drop {about}: {self.reason(about)}, which {self.risk(self.rule_for(about))} "
                    f"rules out{instead}",
                )
            )
        if unsafe:
            listed = join(unsafe[:3]) + (f" and {len(unsafe) - 3} more" if len(unsafe) > 3 else "")
            verb = "is" if len(unsafe) == 1 else "are"
            return self.pick(
                (
                    f"No, not as it stands: {listed} {verb} ruled out for you ({self.reason(unsafe[0])}); swap "
                    f"{self.swaps(unsafe)}",
                    f"No - {listed} {verb} the problem: {self.reason(unsafe[0])}, and with "
                    f"{self.risk(self.rule_for(unsafe[0]))} that is out; I'd swap {self.swaps(unsafe)}",
                )
            )
        if about:
            return f"Yes - {about} fits your safety rules; keep {self.scheme.rir} reps in reserve and stop if it hurts"
        if not names:
            return (
                "Yes - your plan has no exercises yet, so there is nothing to take out; the notes say what to keep to"
            )
        rules = [RULES[r].text.split(":")[0].lower() for r in self.asked.constraints if r in RULES][:2]
        about_you = f" with {join(rules)}" if rules else ""
        return self.pick(
            (
                f"Yes - nothing in your current {len(names)}-exercise plan is ruled out{about_you}; keep "
                "to the notes below",
                f"Yes, it is: none of your {len(names)} exercises conflicts{about_you}, as long as you "
                "follow the notes",
            )
        )

    def rule_for(self, name: str) -> str:
        found = self.coach.ruled_out(EXERCISES_BY_NAME[name])
        return found[0][0] if found else ""

    def decision(self) -> str:
        f = self.facts
        adherence, sleep, rir = f.get("adherence_rate"), f.get("avg_sleep_h"), f.get("avg_working_set_rir")
        moving = max(
            (x for x in f.get("top_lifts") or [] if (x.get("change_kg") or 0) > 0.5),
            key=lambda x: x["change_kg"],
            default=None,
        )
        pct = round(100 * adherence) if adherence is not None else None
        if sleep is not None and sleep < 6.5:
            return (
                f"Back off a little: you are sleeping about {sleep:g} h a night, so drop a set per lift "
                "until that improves"
            )
        if rir is not None and rir <= 1:
            return (
                f"Back off a little: your working sets average {rir:g} reps in reserve, so keep 2-3 in "
                "the tank for two weeks"
            )
        if pct is not None and pct < 60:
            return (
                f"Back off the volume: you made about {pct}% of your sessions, so a shorter week you "
                "can keep comes first"
            )
        if pct is not None and pct >= 80 and (moving or (rir is not None and rir >= 3)):
            why = (
                f"your {moving['exercise']} is up {moving['change_kg']:g} kg"
                if moving
                else f"your sets end with {rir:g} reps to spare"
            )
            return self.pick(
                (
                    f"Push: you made {pct}% of your sessions and {why}, so add about 2.5% to the main lifts",
                    f"Push a little harder - {pct}% attendance and {why} say you are ready for about 2.5% more load",
                )
            )
        said = (
            f"you made {pct}% of your sessions"
            if pct is not None
            else f"{f.get('sessions_last_window', 0)} sessions are logged"
        )
        return f"Hold steady: {said}, so keep the loads and add a rep per set before adding weight"

    def attendance(self, adherence: float | None, always: bool = False) -> str:
        """The attendance behind a shorter week, unless the explanation already says it (about_you)."""
        if adherence is None or (not always and self.asked.task in ("progress_adaptation", "plan_modification")):
            return ""
        if adherence < 0.05:
            return " (no sessions logged lately)"
        return f" (about {round(100 * adherence)}% of sessions done)"

    def stalled(self) -> str:
        name = self.asked.stalled
        lift = next((x for x in self.facts.get("top_lifts") or [] if x["exercise"] == name), None)
        where = f" around {lift['estimated_1rm_kg']:g} kg" if lift else ""
        new = self.coach.replacement_for(name) if name in self.coach.swap_out else None
        if new is not None:
            return self.pick(
                (
                    f"Your {name} has stalled{where}, so it sits out this block and {new.name} takes its place",
                    f"{name} has been flat{where}: a change of stimulus helps, so swap to {new.name} for 4-6 weeks",
                )
            )
        return f"Your {name} has stalled{where}: drop the load about 10% and build back up over three weeks"

    def introduction(self) -> str:
        days, goal = len(self.days), GOAL_WORDS.get(self.coach.goal, "training")
        gear = (
            "with body weight and a mat"
            if len(self.coach.at_hand) <= 1
            else f"with the {counted(len(self.coach.at_hand) - 1, 'piece')} of kit you have"
        )
        task = self.asked.task
        if task == "safety_adjustment":
            left = self.removed()
            out = f", leaving out {join(left[:2])}" if left else ""
            return self.pick(
                (
                    f"You can keep training: here are {days} days built around "
                    f"{self.conditions() or 'your health'}{out}",
                    f"Training stays good for you - this {days}-day version respects "
                    f"{self.conditions() or 'your health'}{out}",
                )
            )
        if task == "progress_adaptation":
            pct = self.facts.get("adherence_rate")
            base = f"after {round(100 * pct)}% attendance" if pct is not None else "from where you are"
            return self.pick(
                (f"Here is your next {days}-day block, built {base}", f"Next block: {days} days, set {base}")
            )
        if task == "plan_modification":
            main = CHANGE_WORDS.get(self.coach.changes[0].what, "what you told me") if self.coach.changes else None
            return self.pick(
                (
                    f"Here is your {days}-day plan reworked around {main or 'what you told me'}",
                    f"I've adjusted your plan for {main or 'what you told me'}: {days} days a week",
                )
            )
        return self.pick(
            (
                f"Here is a {days}-day {goal} plan {gear}",
                f"{days} days of {goal} work a week, {gear}",
                f"Let's start with {days} {goal} sessions a week {gear}",
            )
        )

    # ---------------------------------------------------------------- plan words
    def summary(self) -> str:
        if not self.days:
            left = self.removed()
            return (
                f"No new plan: keep your current one, swapping {self.swaps(left)}."
                if left
                else "No new plan: your current plan stays as it is, with the safety notes below."
            )
        focuses = ", ".join(d["focus"].lower() for d in self.days)
        timed = sum(1 for d in self.days for i in d["exercises"] if i["seconds"] is not None)
        held = f", plus {timed} timed exercise{'s' if timed > 1 else ''}" if timed else ""
        return (
            f"{len(self.days)}-day {GOAL_WORDS.get(self.coach.goal, 'training')} plan ({focuses}): "
            f"{self.scheme.sets} sets "
            f"of {self.scheme.reps} with {self.scheme.rir} reps in reserve{held}."
        )

    def progression(self) -> str:
        s = self.scheme
        if not self.days:
            return self.pick(
                (
                    "Keep progressing your current plan as before: add a rep per set, then a small load step.",
                    "Carry on with your usual progression, one small step at a time.",
                )
            )
        base = self.pick(
            (
                f"When every set reaches {s.high} reps with {s.rir} in reserve, add 2.5-5% load and return to {s.low}.",
                f"Work from {s.low} up to {s.high} reps; once all {s.sets} sets get there, add the smallest load step.",
                f"Add a rep per set each week up to {s.high}, then add 2.5-5% and start again at {s.low} "
                "(ACSM: 2-10%).",
            )
        )
        extra = []
        if any(
            i["seconds"] is not None and EXERCISES_BY_NAME[i["name"]].work == "hold"
            for d in self.days
            for i in d["exercises"]
        ):
            extra.append(
                self.pick(
                    (
                        "Add 5 s to the holds each week, up to 60 s.",
                        "Lengthen the holds by 5 s a week until 60 s feels steady.",
                    )
                )
            )
        if self.coach.level == "novice":
            extra.append("Expect to add load most weeks at first.")
        if "avoid_valsalva" in self.asked.constraints:
            extra.append("Add reps before load, and keep breathing out on every effort.")
        extra.append(self.pick(("Every 5th week, halve the sets to recover.", "Plan an easier week every 4-6 weeks.")))
        return " ".join([base, *extra])

    # ---------------------------------------------------------------- safety notes
    def safety_note(self, rule_id: str) -> str:
        write = NOTES.get(rule_id)
        if write is None:
            rule = RULES.get(rule_id)
            return f"I kept to this throughout: {rule.text}" if rule else "I kept to this throughout the plan."
        note = write(self)
        left = self.removed(rule_id)
        if left and RULES[rule_id].rules_out:
            note += " " + self.pick(
                (
                    f"From your current plan, swap {self.swaps(left)}.",
                    f"That means swapping {self.swaps(left)} in your plan.",
                )
            )
        return note

    # ---------------------------------------------------------------- explanation
    def explanation(self) -> str:
        parts = [self.why()]
        limit = self.day_limit()
        if limit is not None and not limit.detail.get("asked"):  # asked-for days the answer itself explains
            parts.append(self.change_words(limit))  # before the rest: fewer days always come with their reason
        parts += [s for s in (self.about_you(), self.health()) if s]
        parts += [self.change_words(c) for c in self.coach.changes[:3] if c.what not in DAY_LIMITS]
        parts.append(
            self.pick(
                (
                    "Log your sets so we can adjust next time.",
                    "Tell me how the first two weeks feel and we'll fine-tune it.",
                    "If anything hurts beyond normal effort, stop that exercise and tell me.",
                    "Consistency beats intensity here: turn up and the numbers follow.",
                )
            )
        )
        kept: list[str] = []
        for part in parts:
            if part and len(" ".join([*kept, part]).split()) <= MAX_EXPLANATION_WORDS:
                kept.append(sentence(part))
        return " ".join(kept)

    def why(self) -> str:
        s = self.scheme
        if not self.days:
            return self.pick(
                (
                    "Your question was about safety, so the answer above is the point; no new plan is needed for it.",
                    "You asked whether it is safe, so I answered that rather than writing a new plan.",
                )
            )
        rest = f"{s.rest_s // 60} min" if s.rest_s >= 120 else f"{s.rest_s} s"
        bank = {
            "strength": (f"Sets of {s.reps} with {rest} rests build strength while every set stays crisp.",
                         f"Heavier work for {s.reps} reps and full {rest} recoveries drive strength (ACSM 2009)."),
            "muscle_gain": (f"{s.sets} sets of {s.reps} with about {rest} rest is the range that builds muscle.",
                            f"Moderate loads for {s.reps} reps, {s.sets} sets each, grow muscle best."),
            "weight_loss": (f"{s.sets} sets of {s.reps} keep your muscle while the calorie deficit takes the fat.",
                            f"Lifting for {s.reps} reps while eating a little less makes the weight you "
                            "lose mostly fat."),
            "endurance": (f"{s.reps} reps with short {rest} rests train your muscles to keep going.",
                          f"Lighter loads for {s.reps} reps and {rest} rests build muscular endurance."),
            "general_fitness": (f"{s.sets} sets of {s.reps} across squat, hinge, push, pull and core keep you fit "
                                "all round.",
                                f"A balanced week of {s.reps}-rep sets covers every major muscle group."),
        }  # fmt: skip
        return self.pick(bank.get(self.coach.goal, bank["general_fitness"]))

    def about_you(self) -> str:
        f, task = self.facts, self.asked.task
        said = []
        if f.get("returned_after_days"):
            said.append(
                f"After about {round(f['returned_after_days'] / 7)} weeks off, the first two weeks start lighter"
            )
        adherence = f.get("adherence_rate")
        if adherence is not None and adherence < 0.05 and task in ("progress_adaptation", "plan_modification"):
            said.append("No sessions are logged lately, so the first weeks restart gently")
        elif adherence is not None and task in ("progress_adaptation", "plan_modification"):
            pct = round(100 * adherence)
            said.append(
                self.pick((f"You've completed about {pct}% of your sessions", f"Your attendance is around {pct}%"))
            )
        change = f.get("weight_change_kg")
        if change is not None and task == "progress_adaptation" and abs(change) >= 0.5:
            weeks = (f.get("window_days") or 84) // 7
            said.append(f"You're {'down' if change < 0 else 'up'} {abs(change):g} kg over {weeks} weeks")
        return "; ".join(said)

    def health(self) -> str:
        left = self.removed()
        if not left or not self.days:
            return ""
        return self.pick(
            (
                f"I took out {join(left[:2])} because {self.reason(left[0])}",
                f"{join(left[:2])} {'is' if len(left[:2]) == 1 else 'are'} gone from your week: {self.reason(left[0])}",
            )
        )

    def change_words(self, change: Change) -> str:
        d = change.detail
        words: dict[str, Callable[[], str]] = {
            "fewer_days": lambda: f"{d['days']} days a week, as you asked",
            "more_days": lambda: f"{d['days']} days now that you have the time",
            "level_days": lambda: self.level_range(d),
            "capped_days": lambda: self.capped(d),
            "gradual_days": lambda: self.gradual(d),
            "missing": lambda: (
                f"you have {d['asked']} days, but I planned {d['days']}: a week you can keep comes first"
                + self.attendance(d.get("adherence"), always=True)
                + ", and we add a day back once you're turning up"
                if d.get("asked")
                else f"{d['days']} days rather than {d['start']} so the week fits your real schedule"
                + self.attendance(d.get("adherence"))
            ),
            "shorter": lambda: f"{d['count']} exercises a day to stay under {d['minutes']} minutes",
            "easier": lambda: "fewer sets and a rep more in reserve, since it felt too hard",
            "harder": lambda: "an extra set and closer to failure, since it felt too easy",
            "short_sleep": lambda: f"one set less while you sleep about {d['hours']:g} h",
            "swapped": lambda: f"{d['old']} sits out for {d['new'].name}" if d.get("new") else f"{d['old']} sits out",
            "setting": lambda: "only exercises your new setup allows",
            "rep_floor": lambda: f"sets of {d['floor']} reps or more instead of {d['was']} for your blood pressure",
        }
        return words[change.what]()

    def level_range(self, d: dict[str, Any]) -> str:
        """Fewer days than asked for a new plan: the range of the user's level (ACSM 2009 progression models)."""
        who, low = {"novice": ("a new lifter", 2), "intermediate": ("an intermediate lifter", 3)}.get(
            self.coach.level, ("an advanced lifter", 4)
        )
        why = f"{d['days']} days is the top of the {low}-{d['days']} a week where {who} progresses best (ACSM)"
        if d.get("asked"):
            return f"you can train {d['asked']} days, but I planned {d['days']}: {why}"
        return f"{d['days']} days rather than {d['start']}: {why}"

    def capped(self, d: dict[str, Any]) -> str:
        """Fewer days than asked or planned because a safety rule caps the week."""
        if self.coach.level == "novice" and self.coach.limits.max_days == d["days"]:
            why = "that is where a new lifter progresses best"
        elif self.coach.limits.nonconsecutive_days:
            why = "with your diabetes the days stay apart, never two in a row"
        else:
            why = "your safety rules cap it"
        if d.get("asked"):
            return f"you have time for {d['asked']} days, but I kept it to {d['days']}: {why}"
        return f"I kept it to {d['days']} days rather than {d['start']}: {why}"

    def gradual(self, d: dict[str, Any]) -> str:
        """Fewer days than asked or planned because the user trained less lately: build up a day at a time."""
        sessions, weeks = self.facts.get("sessions_last_window") or 0, (self.facts.get("window_days") or 84) // 7
        lately = (
            f"you've logged {counted(sessions, 'session')} in the last {weeks} weeks "
            f"(about {round(d['done'], 1):g} a week)"
            if sessions
            else f"no sessions are logged in the last {weeks} weeks"
        )
        step = (
            f"so we start at {d['days']} days, the guideline minimum for strength work"
            if d["days"] == frequency.MIN_DAYS
            else f"so we go up one day at a time, to {d['days']}"
        )
        then = "add a day once two weeks go to plan"
        if d.get("asked"):
            return f"you have time for {d['asked']} days, but I planned {d['days']} for now: {lately}, {step}; {then}"
        return f"{d['days']} days rather than {d['start']}: {lately}, {step}; {then}"


def _valsalva(w: Words) -> str:
    severity = (w.facts.get("condition_severity") or {}).get("hypertension")
    who = w.pick(
        (f"With {severity} high blood pressure" if severity else "With high blood pressure", "For your blood pressure")
    )
    return w.pick(
        (
            f"{who}, every set stays at {w.scheme.low}+ reps and ends {w.scheme.rir} reps short of "
            "failure; breathe out on each effort and never hold your breath.",
            f"{who}: no maximal lifts and no breath-holding - exhale as you push, and stop sets of "
            f"{w.scheme.low}+ reps with {w.scheme.rir} in reserve.",
        )
    )


def _rpe(w: Words) -> str:
    med = w.medication("beta-blocker") or "your beta-blocker"
    intervals = [n for n in w.names if EXERCISES_BY_NAME[n].work == "interval"]
    extra = f" The {intervals[0].lower()} are set by feel too." if intervals else ""
    return w.pick(
        (
            f"{med} blunts your heart rate, so effort is judged by RPE (about 6-7 out of 10) and reps in "
            f"reserve, never heart-rate zones.{extra}",
            f"On {med} your pulse won't tell you how hard you're working: go by how it feels (RPE 6-7 of "
            f"10), not heart-rate zones.{extra}",
        )
    )


def _knee(w: Words) -> str:
    side = w.injury("knee")
    who = f"For your {side}" if side else "For your knee osteoarthritis"
    return w.pick(
        (
            f"{who}, there is no jumping and no deep loaded knee bend; squat to a comfortable depth.",
            f"{who}: low-impact only - no jumps, no deep loaded knee bends. Mild discomfort that settles "
            "by the next day is fine.",
        )
    )


def _back(w: Words) -> str:
    issue = w.injury("back")
    who = f"With your {issue}" if issue else "For your lower back"
    return w.pick(
        (
            f"{who}, nothing loads or bends the spine heavily and nothing jumps; add load in small steps "
            "with a neutral spine.",
            f"{who}: no heavy spinal loading, no loaded bending, no jumping - and progress the loads gradually.",
        )
    )


def _nonconsecutive(w: Words) -> str:
    if not w.days:
        return "Keep your resistance days apart: at most three a week and never two in a row; walk on the days between."
    return w.pick(
        (
            f"Your sessions fall on {w.weekdays()}, never two days in a row, which helps glucose control.",
            f"Training on {w.weekdays()} keeps a rest day between sessions (non-consecutive days for your diabetes).",
        )
    )


def _glucose(w: Words) -> str:
    med = w.medication("sulfonylurea", "long-acting insulin") or "your medication"
    return w.pick(
        (
            f"Because you take {med}, check your glucose before and after each session; under 90 mg/dL, "
            "eat 15-30 g of carbohydrate first.",
            f"With {med}, test your glucose around training and keep glucose tablets or juice in your bag.",
        )
    )


def _asthma(w: Words) -> str:
    med = w.medication("short-acting beta-agonist")
    inhaler = f"your {med}" if med else "your reliever inhaler"
    return w.pick(
        (
            f"Warm up gradually for 10-15 minutes and keep {inhaler} within reach.",
            f"Build into each session slowly (a 10-minute warm-up) and have {inhaler} with you.",
        )
    )


def _older(w: Words) -> str:
    age = w.facts.get("age")
    return w.pick(
        (
            f"At {age}, strength and balance matter most, so there is no jumping or hard landing in the plan.",
            f"At {age} the plan stays low-impact: no jump drills; the single-leg and carry work builds balance.",
        )
    )


def _high_bmi(w: Words) -> str:
    bmi = w.facts.get("bmi")
    return w.pick(
        (
            f"At a BMI of {bmi}, landings hit the joints hard, so conditioning stays low-impact with no jumping.",
            f"No jumping for now (BMI {bmi}): the same work comes from low-impact strength and cardio.",
        )
    )


def _novice(w: Words) -> str:
    days = len(w.days) or "two or three"
    return w.pick(
        (
            f"While you build a base, it is {days} days a week of basic lifts and machines, with no jump "
            "drills or advanced lifts yet.",
            f"As a new lifter you get {days} training days and movements you can learn safely; plyometrics "
            "and advanced lifts come later.",
        )
    )


def _ankle(w: Words) -> str:
    injury = w.injury("ankle") or "ankle injury"
    return w.pick(
        (
            f"Because of your {injury}, there is no jumping or hopping until it is fully rehabilitated.",
            f"Your {injury} rules out jumping for now; balance and strength work help it recover.",
        )
    )


NOTES: dict[str, Callable[[Words], str]] = {
    "avoid_valsalva": _valsalva,
    "rpe_not_heart_rate": _rpe,
    "low_impact_knee": _knee,
    "protect_lower_back": _back,
    "nonconsecutive_resistance_days": _nonconsecutive,
    "hypoglycaemia_watch": _glucose,
    "asthma_warmup_inhaler": _asthma,
    "low_impact_older_adult": _older,
    "low_impact_high_bmi": _high_bmi,
    "novice_foundations": _novice,
    "injured_ankle_no_impact": _ankle,
}
