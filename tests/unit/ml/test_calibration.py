"""The calibrator of a binary classifier (ml.calibration): fitted on a holdout, monotone, read back strictly,
and a threshold carried to the calibrated scale that keeps every raw-positive row positive."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from include.modelcare.errors import TrainingError
from include.modelcare.ml.calibration import (
    EPS,
    MAX_KNOTS,
    Calibrator,
    fit_calibrator,
    stored_calibrator,
)

pytestmark = pytest.mark.unit


def miscalibrated(n: int, seed: int) -> tuple[Any, Any]:
    """Scores that rank well but overstate the risk: the truth is Bernoulli(p), the score is sqrt(p)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    p = rng.beta(1.0, 4.0, n)  # ~20% positive, most rows at low risk
    return np.sqrt(p), rng.random(n) < p


def brier(scores: Any, truth: Any) -> float:
    import numpy as np

    return float(np.mean((np.asarray(scores) - np.asarray(truth, dtype=float)) ** 2))


@pytest.fixture(scope="module")
def fitted() -> Calibrator:
    scores, truth = miscalibrated(4000, seed=1)
    return fit_calibrator(scores, truth)


def test_fitting_on_miscalibrated_scores_improves_the_brier_score(fitted: Calibrator) -> None:
    assert fitted.method == "isotonic" and fitted.rows == 4000
    assert fitted.brier_raw is not None and fitted.brier_calibrated is not None
    assert fitted.brier_calibrated < fitted.brier_raw - 0.01  # in-sample, as recorded
    scores, truth = miscalibrated(4000, seed=2)  # and on rows it never saw
    assert brier(fitted.apply(scores), truth) < brier(scores, truth) - 0.01
    # calibrated: about as many positives as the probabilities promise, where sqrt(p) promised far more
    assert abs(float(fitted.apply(scores).mean()) - float(truth.mean())) < 0.02 < float(scores.mean() - truth.mean())


def test_the_map_is_monotone_bounded_and_agrees_with_isotonic_regression(fitted: Calibrator) -> None:
    import numpy as np
    from sklearn.isotonic import IsotonicRegression

    grid = np.linspace(-0.5, 1.5, 2001)  # beyond the knots too: clipped at both ends
    out = fitted.apply(grid)
    assert np.all(np.diff(out) >= 0) and out.min() > 0 and out.max() < 1
    inside_01 = fitted.apply(np.linspace(0, 1, 2001))
    assert np.all(np.diff(inside_01) > 0)  # strictly: no flat isotonic step turns scores into ties
    scores, truth = miscalibrated(4000, seed=1)
    iso = IsotonicRegression(out_of_bounds="clip").fit(scores, truth.astype(float))
    inside = np.linspace(0.05, 0.95, 500)
    # the same map but for the knots rounded to 6 digits (steep steps between close knots move a little)
    assert np.allclose(fitted.apply(inside), np.clip(iso.predict(inside), EPS, 1 - EPS), atol=1e-4)


def test_calibrated_scores_rank_exactly_as_the_raw_ones_even_on_the_rows_they_were_fitted_on() -> None:
    """Isotonic steps made ties that raised roc_auc on the fitting rows (the gate's holdout) by ~0.008."""
    import numpy as np
    from sklearn.metrics import roc_auc_score

    scores, truth = miscalibrated(1000, seed=5)
    calibrator = fit_calibrator(scores, truth)
    calibrated = calibrator.apply(scores)
    assert roc_auc_score(truth, calibrated) == pytest.approx(roc_auc_score(truth, scores), abs=1e-12)
    threshold = calibrator.threshold(0.3)
    assert threshold is not None
    assert np.array_equal(calibrated >= threshold, scores >= 0.3)  # the same decisions as the raw threshold


def test_many_knots_are_thinned_to_a_size_every_target_can_carry() -> None:
    import numpy as np

    scores, truth = miscalibrated(60_000, seed=3)
    calibrator = fit_calibrator(scores, truth)
    assert len(calibrator.x) <= MAX_KNOTS
    assert np.all(np.diff(calibrator.apply(np.linspace(0, 1, 1001))) >= 0)
    assert calibrator.brier_calibrated is not None and calibrator.brier_raw is not None
    assert calibrator.brier_calibrated < calibrator.brier_raw
    served = json.dumps(calibrator.knots(), sort_keys=True)  # as the Lambda environment carries it
    assert len(served) < 2500, len(served)


def test_the_threshold_keeps_every_raw_positive_row_positive(fitted: Calibrator) -> None:
    import numpy as np

    scores, _ = miscalibrated(4000, seed=4)
    # Raw thresholds everywhere, including inside the flat lowest step (no positives: probability ~0) and
    # beyond the last knot.
    for raw in [0.0001, float(fitted.x[1]), 0.1, 0.3, 0.42, 0.5, 0.77, 0.999, 1.2]:
        calibrated = fitted.threshold(raw)
        assert calibrated is not None and 0 < calibrated < 1
        raw_positive = scores >= raw
        calibrated_positive = fitted.apply(scores) >= calibrated
        assert np.all(calibrated_positive[raw_positive]), raw
    assert fitted.threshold(None) == pytest.approx(float(fitted.apply([0.5])[0]))  # predict's 0.5


def test_round_trips_through_a_dict_and_the_served_knots(fitted: Calibrator) -> None:
    raw = json.loads(json.dumps(fitted.to_dict()))
    assert Calibrator.from_dict(raw) == fitted
    knots = json.loads(json.dumps(fitted.knots()))
    assert set(knots) == {"method", "x", "y"}
    again = Calibrator.from_dict(knots)
    assert (again.x, again.y) == (fitted.x, fitted.y) and again.rows == 0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([0.1, 0.2], "expected an object with x and y, got list"),
        ({"method": "platt", "x": [0, 1], "y": [0, 1]}, "unknown method 'platt'"),
        ({"x": [0, 1]}, "x and y must be lists of numbers"),
        ({"x": "0,1", "y": [0, 1]}, "x and y must be lists of numbers"),
        ({"x": [0, "1"], "y": [0, 1]}, "x and y must be lists of numbers"),
        ({"x": [0, True], "y": [0, 1]}, "x and y must be lists of numbers"),
        ({"x": [], "y": []}, "non-empty and of the same length"),
        ({"x": [0, 1, 2], "y": [0, 1]}, "non-empty and of the same length"),
        ({"x": [0.5, 0.2], "y": [0, 1]}, "x must be non-decreasing"),
        ({"x": [0.2, math.nan], "y": [0, 1]}, "x must be finite"),
        ({"x": [0.2, math.inf], "y": [0, 1]}, "x must be finite"),
        ({"x": [0.2, 0.5], "y": [0.9, 0.1]}, "y must be non-decreasing"),
        ({"x": [0.2, 0.5], "y": [0.1, 1.5]}, r"y must lie in \[0, 1\]"),
        ({"x": [0.2, 0.5], "y": [0.1, math.nan]}, r"y must lie in \[0, 1\]"),
        ({"x": [0.2, 0.5], "y": [0.1, 0.2], "rows": -3}, "rows must be a non-negative integer"),
        ({"x": [0.2, 0.5], "y": [0.1, 0.2], "rows": "many"}, "rows must be a non-negative integer"),
        ({"x": [0.2, 0.5], "y": [0.1, 0.2], "brier_raw": "low"}, "brier_raw must be a number"),
    ],
)
def test_from_dict_refuses_what_is_not_a_calibrator(raw: Any, message: str) -> None:
    with pytest.raises(ValueError, match=f"^calibrator: .*{message}"):
        Calibrator.from_dict(raw)


@pytest.mark.parametrize(
    ("n", "positives", "message"),
    [(30, 10, "got 30 rows, 10 positive"), (400, 3, "got 400 rows, 3 positive"), (400, 398, "398 positive")],
)
def test_too_few_rows_or_of_a_class_to_calibrate_on(n: int, positives: int, message: str) -> None:
    import numpy as np

    truth = np.zeros(n, dtype=bool)
    truth[:positives] = True
    with pytest.raises(TrainingError, match=f"calibration needs 50\\+ holdout rows .*{message}"):
        fit_calibrator(np.linspace(0, 1, n), truth)
    with pytest.raises(TrainingError, match="scores for"):
        fit_calibrator(np.linspace(0, 1, n), truth[:-1])


def test_stored_calibrator_is_none_for_versions_without_one(fitted: Calibrator) -> None:
    for metadata in (None, {}, {"threshold": 0.3}, {"calibration": None}, {"calibration": "isotonic"}):
        assert stored_calibrator(metadata) is None
    assert stored_calibrator({"calibration": fitted.to_dict()}) == fitted
    with pytest.raises(ValueError, match="y must be non-decreasing"):
        stored_calibrator({"calibration": {"x": [0, 1], "y": [1, 0]}})
