"""Paired differences carry a 95 % Student-t interval, overall and per cell (issue 17: verdicts need n and an interval)."""

import pytest

from infoprompt.report.compare import format_difference, t_interval


def test_t_interval_matches_the_textbook_value():
    low, high = t_interval([0.01, 0.02, 0.03])  # mean 0.02, std 0.01, n 3: t(0.975, 2) = 4.3027
    assert low == pytest.approx(0.02 - 4.302653 * 0.01 / 3**0.5, abs=1e-6)
    assert high == pytest.approx(0.02 + 4.302653 * 0.01 / 3**0.5, abs=1e-6)
    assert t_interval([0.5]) is None


def test_the_formatted_difference_gives_each_cells_interval_and_n():
    result = {"a": "infoprompt", "b": "prompt", "mean": -0.02, "std": 0.01, "ci95": t_interval([-0.03, -0.02, -0.01]),
              "seeds": 3, "cells": 1, "per_cell": {"sst2 shots=64 np=4": -0.02},
              "per_cell_stats": {"sst2 shots=64 np=4": {"mean": -0.02, "std": 0.01, "n": 3,
                                                        "ci95": t_interval([-0.03, -0.02, -0.01])}}}
    text = format_difference(result)
    assert "-2.00 ± 1.00 points, 95 % CI [-4.48, +0.48]" in text
    assert "sst2 shots=64 np=4: -2.00 ± 1.00, 95 % CI [-4.48, +0.48], n=3" in text
