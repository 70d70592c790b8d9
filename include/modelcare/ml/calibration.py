"""Probability calibration of a binary classifier, fitted on the version's holdout at registration.

Why: confidence-based performance estimation (``performance.estimate``, CBPE as in NannyML) reads a
model's scores as probabilities: a batch where the model says 0.8 for 100 rows should have about 80
positives. Gradient boosting, forests and regularised logistic regression are not calibrated that way, and
on an imbalanced target they are far off. So every binary classification version is calibrated once, on
its holdout (rows it never trained on), and served, gated and estimated through the calibrated scores.

Method: scikit-learn's ``IsotonicRegression`` (the method NannyML's CBPE uses by default), made strictly
increasing (below). It is kept as its knots (``x`` raw score -> ``y`` probability),
applied by linear interpolation clipped at both ends (``numpy.interp``): exactly what
``IsotonicRegression(out_of_bounds="clip").predict`` computes, without shipping a fitted scikit-learn object
to serving (no new type in the skops allowlist, a few hundred numbers in JSON).

Strictly increasing, not merely monotone: ``c(s) = isotonic(s) + TIEBREAK * (s - 0.5)`` with ``TIEBREAK``
1e-6. Isotonic regression is flat across each block of misordered neighbours; served as is, those flat steps
turn distinct scores into ties, and ties *raise* roc_auc on the very rows the map was fitted on (the
holdout the gate judges the candidate on) while the champion, calibrated elsewhere, loses a little to ties
on the same rows. Measured by the policy suite: +0.0076 roc_auc for the candidate on average over 20
versions (+0.0053 to +0.0117), more than ``min_improvement``, so the gate promoted almost every weekly
retrain. The tiny slope (at most 5e-7, far below any probability that matters) keeps the raw ranking
exactly: the calibrated scores' roc_auc is the raw model's on any rows.

The decision threshold stays the one ``TunedThresholdClassifierCV`` chose on the raw scores of the training
part, carried to the calibrated scale: ``calibrated = c(raw)``. Because ``c`` is strictly increasing,
``c(score) >= c(threshold)`` decides exactly as ``score >= threshold``. Gate, serving and estimate all use
it: the predictor that is scored is the one that is served.

Size: at most ``MAX_KNOTS`` knots, each number rounded to ``DIGITS`` significant digits, at fit time, so the
registry, the gate, SageMaker's ``serving.json`` and the Lambda environment (4 KB for all its variables) hold
the same calibrator: nothing is thinned for one target only, and the gate scores what every target serves.
Fitted ``y`` stays inside ``[EPS, 1 - EPS]``: a calibrated threshold is then always a usable cut-off
(``0 < t < 1``) that keeps every raw-positive row positive, even in the flat step of rows without positives.

Why ``serving/`` imports this module (``serving.package.SERVABLE`` lists it) rather than a copy of the
interpolation in ``serving/``: one implementation of reading, checking and applying the knots for the
gate, the estimate and both targets. It imports nothing of modelcare but ``errors``, and scikit-learn only
inside ``fit_calibrator`` (never called when serving); the serving-package build refuses it the day that
changes.

Versions registered before calibration existed have none (``stored_calibrator`` returns None): no estimate
for them until the next registration. Multi-class and regression versions are not calibrated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from include.modelcare.errors import TrainingError

METHOD = "isotonic"
MIN_ROWS = 50
"""Fewest holdout rows (and at least ``MIN_CLASS_ROWS`` of each class) to fit a calibrator on."""
MIN_CLASS_ROWS = 5
MAX_KNOTS = 100
"""Knots kept: more are thinned (evenly by rank). Measured on the churn simulator: isotonic fits 36 knots on
1,000 holdout rows, 78 on 5,000, 150 on 50,000; 150 knots at full float precision are 5.8 KB of JSON, over
Lambda's 4 KB for all environment variables together. 100 knots at ``DIGITS`` digits are ~2.1 KB: the whole
Lambda environment of the sample model is then 2.6 KB (``deploy.requests.lambda_environment`` refuses one
over the limit; tests/unit/deploy/test_calibration_served.py measures it). Thinning moves the Brier score
in the 4th decimal."""
DIGITS = 6
"""Significant digits kept of every knot (rounding is monotone, so the map stays monotone)."""
EPS = 1e-6
"""Fitted probabilities are kept inside ``[EPS, 1 - EPS]`` (see the module docstring)."""
TIEBREAK = 1e-6
"""Slope added to the isotonic map so that it is strictly increasing: at most +/-5e-7, inside ``EPS``."""


@dataclass(frozen=True)
class Calibrator:
    """A fitted monotone map from a raw positive-class score to a probability: knots ``x`` -> ``y``."""

    x: tuple[float, ...]
    y: tuple[float, ...]
    method: str = METHOD
    rows: int = 0
    brier_raw: float | None = None
    """Brier score of the raw scores on the rows it was fitted on (lower is better)."""
    brier_calibrated: float | None = None

    def __post_init__(self) -> None:
        if len(self.x) != len(self.y) or not self.x:
            raise ValueError("calibrator: x and y must be non-empty and of the same length")
        if not all(math.isfinite(v) for v in self.x):
            raise ValueError("calibrator: x must be finite numbers")
        if any(b < a for a, b in zip(self.x, self.x[1:], strict=False)):
            raise ValueError("calibrator: x must be non-decreasing")
        if any(b < a for a, b in zip(self.y, self.y[1:], strict=False)):
            raise ValueError("calibrator: y must be non-decreasing (a monotone map)")
        if any(not 0.0 <= v <= 1.0 for v in self.y):
            raise ValueError("calibrator: y must lie in [0, 1]")

    def apply(self, scores: Any) -> Any:
        """Calibrated probabilities of raw positive-class ``scores`` (numpy array in, numpy array out):
        the isotonic map plus ``TIEBREAK`` x (score - 0.5), strictly increasing (module docstring)."""
        import numpy as np

        raw = np.clip(np.asarray(scores, dtype="float64"), 0.0, 1.0)
        return np.interp(raw, self.x, self.y) + TIEBREAK * (raw - 0.5)

    def threshold(self, raw: float | None) -> float | None:
        """The decision threshold on the calibrated scale (``raw`` None: 0.5 of the raw ``predict``)."""
        value = float(self.apply([0.5 if raw is None else raw])[0])
        # A threshold of exactly 0 or 1 is no usable cut-off (``stored_threshold`` refuses it): keep it inside.
        return min(max(value, 1e-9), 1.0 - 1e-9)

    def knots(self) -> dict[str, Any]:
        """What serving needs (method and knots): the ``calibration`` of ``serving.json``, of the Lambda
        environment and of a deployment plan; the fit's statistics stay in the registry (``to_dict``)."""
        return {"method": self.method, "x": list(self.x), "y": list(self.y)}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (registry metadata ``calibration``, the run's ``calibration.json``)."""
        out = asdict(self)
        out["x"], out["y"] = list(self.x), list(self.y)
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Calibrator:
        """Read one back; ``ValueError`` naming what is wrong when it is not a calibrator."""
        if not isinstance(raw, Mapping):
            raise ValueError(f"calibrator: expected an object with x and y, got {type(raw).__name__}")
        if raw.get("method", METHOD) != METHOD:
            raise ValueError(f"calibrator: unknown method {raw.get('method')!r} (known: {METHOD})")
        x, y = raw.get("x"), raw.get("y")
        if not isinstance(x, list) or not isinstance(y, list):
            raise ValueError("calibrator: x and y must be lists of numbers")
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in [*x, *y]):
            raise ValueError("calibrator: x and y must be lists of numbers")
        rows = raw.get("rows") or 0
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
            raise ValueError(f"calibrator: rows must be a non-negative integer, got {rows!r}")
        return cls(
            x=tuple(float(v) for v in x),
            y=tuple(float(v) for v in y),
            rows=rows,
            brier_raw=_float_or_none(raw.get("brier_raw"), "brier_raw"),
            brier_calibrated=_float_or_none(raw.get("brier_calibrated"), "brier_calibrated"),
        )


def _float_or_none(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"calibrator: {name} must be a number, got {value!r}")
    return float(value)


def _rounded(values: Any) -> tuple[float, ...]:
    return tuple(float(f"{float(v):.{DIGITS}g}") for v in values)


def fit_calibrator(scores: Sequence[float] | Any, positive: Sequence[bool] | Any) -> Calibrator:
    """Fit the isotonic calibrator of raw positive-class ``scores`` against the truth (``positive``: bool).

    ``TrainingError`` when there are too few rows or too few of a class to calibrate on.
    """
    import numpy as np
    from sklearn.isotonic import IsotonicRegression

    s = np.asarray(scores, dtype="float64")
    t = np.asarray(positive, dtype=bool)
    if s.shape != t.shape or s.ndim != 1:
        raise TrainingError(f"calibration: {s.shape} scores for {t.shape} labels")
    n_pos = int(t.sum())
    if len(s) < MIN_ROWS or min(n_pos, len(s) - n_pos) < MIN_CLASS_ROWS:
        raise TrainingError(
            f"calibration needs {MIN_ROWS}+ holdout rows with {MIN_CLASS_ROWS}+ of each class; "
            f"got {len(s)} rows, {n_pos} positive"
        )
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(s, t.astype(float))
    x, y = np.asarray(iso.X_thresholds_), np.asarray(iso.y_thresholds_)
    if len(x) > MAX_KNOTS:
        keep = np.unique(np.linspace(0, len(x) - 1, MAX_KNOTS).round().astype(int))
        x, y = x[keep], y[keep]
    fitted = Calibrator(x=_rounded(x), y=tuple(np.clip(_rounded(y), EPS, 1.0 - EPS).tolist()), rows=len(s))
    truth = t.astype(float)
    return Calibrator(
        x=fitted.x,
        y=fitted.y,
        rows=len(s),
        brier_raw=float(np.mean((np.clip(s, 0.0, 1.0) - truth) ** 2)),
        brier_calibrated=float(np.mean((fitted.apply(s) - truth) ** 2)),
    )


def stored_calibrator(metadata: Mapping[str, Any] | None) -> Calibrator | None:
    """A version's calibrator from its registry metadata (``calibration``), or None (registered before
    calibration existed, multi-class, regression, or not calibratable)."""
    raw = (metadata or {}).get("calibration")
    if not isinstance(raw, Mapping) or "x" not in raw:
        return None
    return Calibrator.from_dict(raw)
