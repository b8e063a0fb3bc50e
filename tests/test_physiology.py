"""Strength formulas against published figures: Epley's %1RM against the NSCA table, Cooper norms, ageing."""

from __future__ import annotations

import numpy as np
import pytest

from fitsense_luigi import physiology


@pytest.mark.parametrize(
    ("reps", "nsca_percent"),
    # NSCA Essentials of Strength Training and Conditioning, "%1RM - repetitions allowed" table
    [(2, 95), (4, 90), (6, 85), (8, 80), (10, 75)],
)
def test_epley_load_for_reps_follows_the_nsca_percentage_table(reps: int, nsca_percent: int):
    percent = 100 * physiology.epley_load(1.0, reps)
    assert abs(percent - nsca_percent) <= 2.0, (reps, percent)  # the table rounds; Epley runs a little low


def test_the_three_epley_forms_invert_each_other():
    load = np.array([20.0, 62.5, 140.0])
    reps = np.array([1.0, 8.0, 15.0])
    one_rm = physiology.epley_1rm(load, reps)
    np.testing.assert_allclose(physiology.epley_load(one_rm, reps), load)
    np.testing.assert_allclose(physiology.epley_reps(one_rm, load), reps)
    assert physiology.epley_1rm(100.0, 10) == pytest.approx(133.33, abs=0.01)  # realism.md: w * (1 + reps / 30)


def test_the_womens_norm_lies_between_the_cooper_institute_bands():
    # bench press / body weight, age 20-29, "fair": men 0.99-1.13, women 0.59-0.69
    assert 0.59 / 1.13 <= physiology.WOMEN_RELATIVE_STRENGTH <= 0.69 / 0.99


def test_strength_holds_until_35_then_declines_slowly_to_a_floor():
    factor = physiology.age_strength_factor(np.array([20, 35, 45, 65, 95]))
    assert factor[0] == factor[1] == 1.0
    assert 0.88 <= factor[2] <= 0.93  # about 1% a year after the mid-thirties
    assert factor[3] < factor[2] and factor[4] == physiology.LOWEST_AGE_FACTOR
