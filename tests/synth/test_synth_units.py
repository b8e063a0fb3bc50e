"""The models underneath the tables: physics of weight, prevalence shapes, plan names, names and e-mails."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from fitsense_luigi.reference.medications import MEDICATIONS_BY_NAME
from fitsense_luigi.synth import columns as col
from fitsense_luigi.synth import daily, names, plan_names, plans, population
from fitsense_luigi.synth.population import CONDITION_NAMES, MEDICATION_NAMES

AS_OF = dt.date(2026, 2, 17)


@pytest.fixture(scope="module")
def people() -> population.People:
    return population.draw_people(20260217, 0, 20_000, AS_OF)


def test_weight_follows_the_energy_balance_at_7700_kcal_per_kg(people):
    window = daily.Window.ending(col.day(AS_OF), 84)
    body = daily.simulate(np.random.default_rng(1), people, window)
    balance = (body.intake_kcal - body.expenditure_kcal)[:, :-1].sum(axis=1)
    change = body.weight_kg[:, -1] - body.weight_kg[:, 0]
    assert np.allclose(change, balance / 7700)
    # expenditure is Mifflin-St Jeor x activity at each day's weight: a dieter spends less as they lose
    assert np.allclose(body.expenditure_kcal[:, 0], people.maintenance_kcal())
    weekly = change / 12 / people.weight_kg * 100
    assert np.percentile(weekly, 1) > -1.2 and np.percentile(weekly, 99) < 0.7
    goal = population.GOAL_NAMES[people.goal]
    kept_at_it = body.engaged.all(axis=1)  # in a training spell the whole window: the diet or bulk is on
    assert np.median(weekly[kept_at_it & (goal == "weight_loss")]) < -0.1
    assert np.median(weekly[kept_at_it & (goal == "muscle_gain")]) > 0.05
    lost = weekly[goal == "weight_loss"] < 0
    # responders and non-responders, lapses and regain (Wadden 2011); this window spans the holiday season
    assert 0.4 < lost.mean() < 0.9


def test_conditions_rise_with_age_and_bmi_and_medications_follow_them(people):
    for name in ("hypertension", "type_2_diabetes", "knee_osteoarthritis"):
        has = people.has(name)
        young, old = has[people.age < 30].mean(), has[people.age >= 55].mean()
        lean, heavy = has[people.bmi < 25].mean(), has[people.bmi >= 35].mean()
        assert old > 1.5 * young and heavy > 1.3 * lean, name
    for k, name in enumerate(MEDICATION_NAMES):
        med = people.medications[:, k]
        treats = MEDICATIONS_BY_NAME[name].treats
        assert not (med & ~people.has(treats)).any(), name
    insulin = people.takes("insulin glargine")
    severity = people.severity[:, CONDITION_NAMES.index("type_2_diabetes")]
    assert (severity[insulin] >= 1).mean() > 0.9
    assert (people.severity[~people.conditions] == -1).all()


def test_plan_names_round_trip():
    name = "Weight loss - full body, 3 days/week, novice, home: dumbbells (max 24 kg), resistance band, exercise mat"
    label = plan_names.parse(name)
    assert label == plan_names.PlanLabel(
        "weight_loss", "full body", 3, "novice", "home", ("dumbbells", "resistance_band", "exercise_mat"), 24.0
    )
    gym = plan_names.parse("Muscle gain - upper/lower, 4 days/week, intermediate, gym")
    assert gym.setting == "gym" and gym.equipment == () and gym.dumbbell_max_kg is None
    assert plan_names.parse("Strength - full body, 2 days/week, advanced, home: bodyweight only").equipment == ()
    with pytest.raises(ValueError, match="documented form"):
        plan_names.parse("My plan")


def test_generated_plan_names_parse(people):
    block = population.draw_people(20260217, 0, 1000, AS_OF)
    plan = plans.design(np.random.default_rng(3), block, col.window_start(AS_OF, 84))
    for k in range(len(block)):
        label = plan_names.parse(str(plan.name[k]))
        assert label.days_per_week == plan.days[k]
        assert label.experience == population.EXPERIENCE[block.experience[k]]
        assert label.setting == population.SETTINGS[block.setting[k]]
        if label.setting == "home":
            owned = set(population.EQUIPMENT_NAMES[block.equipment[k]])
            assert set(label.equipment) == owned


def test_email_numbers_are_unique_and_addresses_reserved():
    index = np.arange(0, 3_000_000, 7)
    numbers = names.email_numbers(index)
    assert np.unique(numbers.astype(str)).size == index.size
    rng = np.random.default_rng(0)
    _, first, last = names.draw_names(rng, rng.integers(0, 2, 5000))
    emails = names.draw_emails(rng, np.arange(5000), first, last)
    assert np.unique(emails).size == 5000
    assert all(str(e).rsplit("@", 1)[1] in {"example.com", "example.org", "example.net"} for e in emails[:200])


def test_names_follow_us_frequencies():
    rng = np.random.default_rng(0)
    display, _, last = names.draw_names(rng, np.ones(50_000, dtype=np.int8))
    share_smith = (last == "smith").mean()
    assert 0.015 < share_smith < 0.03  # Smith ~2.2% in Faker's (census) weights
    assert np.unique(display).size > 10_000


def test_ahead_keeps_order_raises_producer_errors_and_stops_early():
    from fitsense_luigi.synth.ahead import ahead

    assert list(ahead(range(1000), depth=3)) == list(range(1000))

    def broken():
        yield 1
        raise RuntimeError("block 2 failed")

    seen = []
    with pytest.raises(RuntimeError, match="block 2 failed"):
        for item in ahead(broken()):
            seen.append(item)
    assert seen == [1]

    produced = []

    def endless():
        k = 0
        while True:
            produced.append(k)
            yield k
            k += 1

    stream = ahead(endless(), depth=2)
    assert [next(stream) for _ in range(5)] == [0, 1, 2, 3, 4]
    stream.close()  # the consumer stops: the producer thread must end, not run forever
    assert len(produced) < 20


def test_local_times_become_true_utc_with_us_daylight_saving():
    """Against the IANA database (zoneinfo), not against our own rule: every zone, every day of three years."""
    from zoneinfo import ZoneInfo

    from fitsense_luigi.synth import calendar

    days = np.arange(np.datetime64("2025-01-01"), np.datetime64("2028-01-01"))
    for zone, (name, *_rest) in enumerate(calendar.ZONES):
        utc = calendar.to_utc(np.full(days.size, zone), days, np.full(days.size, 12 * 3600))
        expected = [
            dt.datetime.fromisoformat(f"{day}T12:00").replace(tzinfo=ZoneInfo(name)).astimezone(dt.UTC)
            for day in days.astype(str)
        ]
        assert (utc == np.array([e.replace(tzinfo=None) for e in expected], dtype="datetime64[s]")).all(), name
    holidays = calendar.holiday_dates(np.array([2025, 2026]))
    assert list(holidays["thanksgiving"].astype(str)) == ["2025-11-27", "2026-11-26"]
    assert list(holidays["memorial_day"].astype(str)) == ["2025-05-26", "2026-05-25"]


def test_ages_heights_and_bmi_have_no_steps_or_spikes(people):
    from fitsense_luigi.synth import demography

    age = np.floor(people.age).astype(int)
    counts = np.bincount(age)[20:70].astype(float)
    jumps = np.abs(np.diff(counts)) / np.sqrt(counts[1:] + counts[:-1])
    assert jumps.max() < 4.5  # year-to-year changes are sampling noise: no steps at five-year edges
    assert 0.06 < (people.age >= 65).mean() < 0.12 and 35 < people.age.mean() < 40  # IHRSA: members average 37
    low, high = demography.HEIGHT_LIMITS_CM
    assert people.height_cm.min() > low and people.height_cm.max() < high
    counts = np.bincount(np.round(people.height_cm * 10).astype(int) - int(low * 10))
    near = np.maximum(np.r_[0, counts[:-1]], np.r_[counts[1:], 0])
    assert (counts <= 2 * near + 10).all()  # no 0.1 cm value piles up (the old clip put 95 women at 145.0)
    assert (people.bmi >= demography.BMI_LIMITS[0]).all() and (people.bmi < 18.5).mean() < 0.03


def test_goals_fit_the_person_and_energy_targets_keep_the_floors(people):
    goal = population.GOAL_NAMES[people.goal]
    assert not (goal == "weight_loss")[people.bmi < population.WEIGHT_LOSS_MIN_BMI].any()
    assert not (people.goal_rank[:, population.WEIGHT_LOSS] >= 0)[people.bmi < population.WEIGHT_LOSS_MIN_BMI].any()
    target, maintenance = people.target_kcal(), people.maintenance_kcal()
    dieting = goal == "weight_loss"
    floor = np.where(people.sex == 1, 1500.0, 1200.0)  # AHA/ACC/TOS 2013
    assert (target[dieting] >= np.minimum(floor, maintenance)[dieting] - 1e-9).all()
    deficit = (maintenance - target)[dieting]
    assert (deficit <= 750 + 1e-9).all() and np.median(deficit) >= 400  # a 500-750 kcal/day deficit


def test_dropout_hazard_is_highest_early_and_half_stop_within_six_months(people):
    from fitsense_luigi.synth import engagement

    career = engagement.draw_career(np.random.default_rng(5), np.full(50_000, 400))
    first = career.end[:, 0] - career.start[:, 0]
    assert np.mean(first < 182) == pytest.approx(0.5, abs=0.01)  # Dishman 1988 / ACSM
    hazard = [np.mean((first >= a) & (first < a + 30)) / np.mean(first >= a) for a in (0, 90, 180, 360)]
    assert hazard == sorted(hazard, reverse=True)  # stopping is likeliest in the first weeks
    back = career.start[:, 1] < np.iinfo(np.int32).max
    assert 0.5 < back.mean() < 0.7  # lapsed exercisers often come back
    gaps = (career.start[:, 1] - career.end[:, 0])[back]
    assert gaps.min() >= engagement.MIN_BREAK_DAYS and 30 < np.median(gaps) < 70
