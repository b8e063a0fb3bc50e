"""The plan-name form has one parser: whole columns (Arrow, pandas, lists) parse like single names do."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa

from fitsense_luigi.synth import columns as col
from fitsense_luigi.synth import plan_names, plans, population

AS_OF = dt.date(2026, 11, 29)


def test_a_column_of_generated_names_parses_like_each_name():
    block = population.draw_people(7, 0, 400, AS_OF)
    names = [str(n) for n in plans.design(np.random.default_rng(5), block, col.window_start(AS_OF, 84)).name]
    labels = [plan_names.parse(n) for n in names]
    chunked = pa.chunked_array([names[:150], names[150:]])
    for column in (names, pd.Series(names), pa.array(names), chunked):
        assert plan_names.days_per_week(column).tolist() == [float(label.days_per_week) for label in labels]
        levels = plan_names.experience_levels(column)
        assert [plan_names.EXPERIENCE_LEVELS[k] for k in levels] == [label.experience for label in labels]
        assert plan_names.fields(column)["setting"].to_pylist() == [label.setting for label in labels]


def test_names_outside_the_form_give_missing_fields_not_errors():
    column = pd.Series(["Strength - full body, 2 days/week, advanced, gym", "My 3 days/week plan", None])
    days = plan_names.days_per_week(column)
    assert days[0] == 2.0 and np.isnan(days[1:]).all()
    assert plan_names.experience_levels(column).tolist() == [2, -1, -1]
    assert plan_names.days_per_week(pd.Series([], dtype=object)).size == 0
