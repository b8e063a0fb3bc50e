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
    assert np.median(weekly[goal == "weight_loss"]) < -0.2 < 0.1 < np.median(weekly[goal == "muscle_gain"])


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
