"""The rolling performance window and the estimate warning (include.modelcare.policy), at their edges."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from include.modelcare.policy import ScorePoint, estimate_warning, rolling_window, window_decay

pytestmark = pytest.mark.unit

END = dt.date(2026, 10, 26)


def _week(n: int) -> dt.date:
    return END - dt.timedelta(weeks=n)


def test_window_is_the_rows_weighted_mean_of_the_batches_inside_it() -> None:
    points = [ScorePoint(_week(0), 0.60, 100, 1), ScorePoint(_week(1), 0.80, 300, 1), ScorePoint(_week(4), 0.1, 9, 1)]
    window = rolling_window(points, END, 4, version=1)
    assert window is not None
    assert window.value == pytest.approx((0.60 * 100 + 0.80 * 300) / 400)
    assert window.batches == (_week(1), _week(0)) and window.rows == 400  # week 4 is outside 4 weeks
    assert window.start == END - dt.timedelta(days=27)
    assert window.describe() == "4 weeks 2026-09-29..2026-10-26 (2 labelled batches, 400 rows)"


def test_window_counts_only_the_version_asked_for_and_skips_nan() -> None:
    points = [
        ScorePoint(_week(0), 0.5, 100, 2),
        ScorePoint(_week(1), 0.9, 100, 1),
        ScorePoint(_week(2), math.nan, 50, 2),
    ]
    window = rolling_window(points, END, 4, version=2)
    assert window is not None and window.value == 0.5 and window.batches == (_week(0),)
    assert rolling_window(points, END, 4, version=3) is None
    assert rolling_window([], END, 4) is None


def test_one_bad_batch_inside_a_good_window_is_not_decay() -> None:
    points = [ScorePoint(_week(i), v, 1000, 1) for i, v in enumerate([0.66, 0.80, 0.79, 0.81])]
    window = rolling_window(points, END, 4, version=1)
    assert window is not None
    verdict = window_decay("roc_auc", window, 0.70, lower_better=False)
    assert verdict.decayed is False and "over 4 weeks 2026-09-29..2026-10-26" in verdict.reason
    worse = rolling_window([ScorePoint(_week(i), 0.6, 1000, 1) for i in range(2)], END, 4, version=1)
    assert worse is not None and window_decay("roc_auc", worse, 0.70, lower_better=False).decayed is True


def test_estimate_warns_once_when_it_crosses_the_floor() -> None:
    first = estimate_warning("roc_auc", 0.64, 0.75, 0.70, lower_better=False, labels_expected="2026-11-23")
    assert first.warn and first.below
    assert first.reason == "estimated roc_auc 0.640 below floor 0.7, labels expected by 2026-11-23"
    again = estimate_warning("roc_auc", 0.62, 0.64, 0.70, lower_better=False)
    assert again.below and not again.warn and "no new alert" in again.reason
    assert not estimate_warning("roc_auc", 0.75, 0.64, 0.70, lower_better=False).below
    assert not estimate_warning("roc_auc", None, None, 0.70, lower_better=False).warn
    assert not estimate_warning("roc_auc", 0.1, None, None, lower_better=False).warn
    assert estimate_warning("roc_auc", 0.64, None, 0.70, lower_better=False).warn  # no earlier estimate
    assert estimate_warning("roc_auc", 0.64, math.nan, 0.70, lower_better=False).warn
