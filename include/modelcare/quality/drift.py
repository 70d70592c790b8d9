"""Data drift of a batch against reference data, with Evidently's ``DataDriftPreset``.

Only the configured features are compared (``data.features.numerical`` / ``.categorical``), declared
to Evidently through a ``DataDefinition`` so that no column type is guessed; the id column, the target
and any other column are ignored. The test of each column is chosen here and passed to Evidently
explicitly (``per_column_method`` / ``per_column_threshold``), by this rule:

* Reference with more than ``drift.small_sample_rows`` rows (default 1000): Evidently's large-sample
  defaults, which are distances. Numerical columns with more than 5 distinct values use the normed
  Wasserstein distance (threshold ``drift.num_threshold``); categorical and low-cardinality numerical
  columns use the Jensen-Shannon distance (threshold ``drift.cat_threshold``). A column drifted when
  its distance is >= the threshold.
* Reference with ``drift.small_sample_rows`` rows or fewer: p-value tests whose false-alarm rate is
  calibrated. Numerical columns with more than 5 distinct values use the two-sample Kolmogorov-Smirnov
  test; categorical and low-cardinality numerical columns use a chi-square test of homogeneity on the
  2 x k contingency table of reference and current counts (``scipy.stats.chi2_contingency``, no
  continuity correction), registered with Evidently as the stat test ``"chi2_contingency"``.
  Evidently's own ``chisquare`` and ``g_test`` treat the (scaled) reference counts as exact expected
  counts and flag about half of identical-distribution batches at alpha 0.05, so they are not used.
  The per-column p-value threshold is ``drift.alpha / n_features`` when ``drift.multiple_testing`` is
  ``"bonferroni"`` (family-wise false-alarm rate <= alpha), else ``drift.alpha``. A column drifted when
  its p-value is below the threshold.

"Distinct values" are counted over reference and current together, nulls and infinities excluded, as
Evidently does. The batch has drifted when the measured share of drifted features (``share_drifted``)
is >= the configured threshold ``drift.drift_share``, or any of ``drift.critical_features`` drifted.

``compute_drift`` takes only what it needs: the feature columns by kind and the drift rule (the
model's ``DriftConfig``), so that prediction drift tests one ``prediction`` column with the model's rule.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from include.modelcare.errors import DriftError

if TYPE_CHECKING:
    import pandas as pd
    from evidently.core.report import Snapshot
    from evidently.legacy.calculations.stattests.registry import StatTest

    from include.modelcare.config.schema import DriftConfig, Features

log = logging.getLogger(__name__)

CHI2_CONTINGENCY = "chi2_contingency"
LOW_CARDINALITY = 5
"""Numerical columns with at most this many distinct values are tested like categorical ones."""

PVALUE_METHODS = frozenset(
    {
        CHI2_CONTINGENCY,
        "ks",
        "chisquare",
        "z",
        "g_test",
        "fisher_exact",
        "anderson",
        "cramer_von_mises",
        "es",
        "mannw",
        "empirical_mmd",
        "t_test",
        "TVD",
    }
)
"""Evidently methods whose score is a p-value (smaller = more drifted); every other method is a distance."""

_INCLUSIVE_PVALUE = frozenset({"ks", "cramer_von_mises"})  # Evidently 0.7.23 flags these at p <= threshold
_EXCLUSIVE_DISTANCE = frozenset({"ed"})  # and energy distance at distance > threshold

Kind = Literal["numerical", "categorical"]

LEGACY_SHARE_KEY = "drift_share"
"""Former key of the measured share in drift summaries (now ``share_drifted``); still written for old readers."""


def share_drifted_of(summary: Mapping[str, Any]) -> float | None:
    """The measured share of drifted features of a summary, old or new: ``share_drifted``, else ``drift_share``."""
    value = summary.get("share_drifted")
    if value is None:
        value = summary.get(LEGACY_SHARE_KEY)
    return None if value is None else float(value)


def is_pvalue_method(method: str) -> bool:
    """Whether a method's score is a p-value (drift when below the threshold) rather than a distance."""
    return method in PVALUE_METHODS or "p_value" in method  # names, or display names ("K-S p_value")


@dataclass(frozen=True)
class ColumnDrift:
    """Drift of one feature: the method Evidently ran, its score and threshold, and the verdict."""

    name: str
    kind: Kind
    method: str
    score: float
    threshold: float
    drifted: bool
    critical: bool

    @property
    def severity(self) -> float:
        """How far past the threshold: score/threshold for distances, threshold/score for p-values (>= 1: drifted)."""
        if math.isnan(self.score):
            return 0.0
        if is_pvalue_method(self.method):
            return math.inf if self.score <= 0 else self.threshold / self.score
        return self.score / self.threshold


@dataclass
class DriftResult:
    """Dataset-level drift verdict and the per-feature results behind it."""

    drift_detected: bool
    share_drifted: float
    """Measured share of features that drifted (the threshold it is compared with is ``drift.drift_share``)."""
    n_drifted: int
    n_features: int
    columns: dict[str, ColumnDrift]
    critical_drifted: list[str]
    reason: str
    reference_rows: int
    current_rows: int
    top_n: int = 5
    """How many features ``to_dict()['top_features']`` lists at most (``drift.top_features``)."""
    small_sample: bool = field(default=False)
    """Whether the small-sample p-value tests were used."""

    def top_features(self, n: int) -> list[ColumnDrift]:
        """The ``n`` most drifted features: drifted ones first, then by ``ColumnDrift.severity``.

        Severity is how far past its threshold a column is: score/threshold for distances and
        threshold/score for p-values (a smaller p-value is more drifted), so methods compare.
        """
        ranked = sorted(self.columns.values(), key=lambda c: (not c.drifted, -c.severity, c.name))
        return ranked[:n]

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON summary; ``top_features`` names the drifted features among the ``top_n`` most drifted.

        The measured share is ``share_drifted``; it is also written under its former key ``drift_share``
        (``LEGACY_SHARE_KEY``) for readers of older reports and CLI output. Read it with ``share_drifted_of``.
        """
        return {
            "drift_detected": bool(self.drift_detected),
            "share_drifted": float(self.share_drifted),
            LEGACY_SHARE_KEY: float(self.share_drifted),
            "columns": {
                name: {
                    "score": float(c.score),
                    "method": str(c.method),
                    "threshold": float(c.threshold),
                    "drifted": bool(c.drifted),
                }
                for name, c in self.columns.items()
            },
            "n_drifted": int(self.n_drifted),
            "n_features": int(self.n_features),
            "critical_drifted": [str(c) for c in self.critical_drifted],
            "reason": str(self.reason),
            "reference_rows": int(self.reference_rows),
            "current_rows": int(self.current_rows),
            "top_features": [c.name for c in self.top_features(self.top_n) if c.drifted],
        }


def chi2_contingency_test(
    reference_data: pd.Series, current_data: pd.Series, feature_type: Any, threshold: float
) -> tuple[float, bool]:
    """Chi-square test of homogeneity of two samples of a discrete column: (p-value, p < threshold).

    Builds the 2 x k table of counts of every value seen in either sample and runs
    ``scipy.stats.chi2_contingency`` without continuity correction. Both samples are random, so the
    expected counts come from the pooled sample (unlike Evidently's ``chisquare``).
    """
    import numpy as np
    from scipy.stats import chi2_contingency

    ref_counts = reference_data.value_counts(dropna=True)
    cur_counts = current_data.value_counts(dropna=True)
    values = ref_counts.index.union(cur_counts.index)
    if len(values) < 2 or ref_counts.sum() == 0 or cur_counts.sum() == 0:
        return 1.0, False  # one value only (or an empty sample): nothing to compare
    table = np.vstack(
        [
            ref_counts.reindex(values, fill_value=0).to_numpy(dtype=float),
            cur_counts.reindex(values, fill_value=0).to_numpy(dtype=float),
        ]
    )
    p_value = float(chi2_contingency(table, correction=False).pvalue)
    return p_value, p_value < threshold


_STATTEST: StatTest | None = None


def register_chi2_contingency() -> StatTest:
    """Register ``chi2_contingency_test`` with Evidently as ``"chi2_contingency"`` (idempotent) and return it."""
    global _STATTEST  # noqa: PLW0603 - one registration per process, done lazily (no evidently at import)
    if _STATTEST is None:
        from evidently.legacy.calculations.stattests.registry import StatTest, register_stattest
        from evidently.legacy.core import ColumnType

        stat_test = StatTest(
            name=CHI2_CONTINGENCY,
            display_name="chi-square contingency p_value",
            allowed_feature_types=[ColumnType.Categorical, ColumnType.Numerical],
            default_threshold=0.05,
        )
        register_stattest(stat_test, chi2_contingency_test)
        _STATTEST = stat_test
    return _STATTEST


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_inputs(current: pd.DataFrame, reference: pd.DataFrame, features: Features, prefix: str) -> None:
    """Raise ``DriftError`` for empty frames, missing features, non-numeric numerical or all-null features."""
    import pandas as pd

    for what, frame in (("current", current), ("reference", reference)):
        if len(frame) == 0:
            raise DriftError(f"{prefix}{what} data has no rows; cannot compute drift")
    for what, frame in (("current", current), ("reference", reference)):
        missing = [c for c in features.all if c not in frame.columns]
        if missing:
            raise DriftError(f"{prefix}{what} data is missing feature column(s) {', '.join(missing)}")
    for what, frame in (("current", current), ("reference", reference)):
        not_numeric = [
            f"{c} ({frame[c].dtype})" for c in features.numerical if not pd.api.types.is_numeric_dtype(frame[c])
        ]
        if not_numeric:
            raise DriftError(f"{prefix}{what} data has non-numeric numerical feature(s) {', '.join(not_numeric)}")
        all_null = [c for c in features.all if _clean(frame[c]).empty]
        if all_null:
            raise DriftError(f"{prefix}{what} data has no non-null values in feature(s) {', '.join(all_null)}")


def _clean(series: pd.Series) -> pd.Series:
    """The series without nulls and infinities (what Evidently's stat tests receive)."""
    import numpy as np

    if series.dtype.kind in "fc":
        series = series.replace([np.inf, -np.inf], np.nan)
    return series.dropna()


def choose_methods(
    current: pd.DataFrame, reference: pd.DataFrame, features: Features, rule: DriftConfig
) -> tuple[dict[str, str], dict[str, float]]:
    """Per-feature Evidently method names and thresholds, by the rule in the module docstring."""
    import pandas as pd

    drift = rule
    small = len(reference) <= drift.small_sample_rows
    p_threshold = drift.alpha / len(features.all) if drift.multiple_testing == "bonferroni" else drift.alpha
    methods: dict[str, str] = {}
    thresholds: dict[str, float] = {}
    for name in features.all:
        discrete = name in features.categorical
        if not discrete:
            distinct = pd.concat([_clean(reference[name]), _clean(current[name])], ignore_index=True).nunique()
            discrete = distinct <= LOW_CARDINALITY
        if small:
            methods[name] = CHI2_CONTINGENCY if discrete else "ks"
            thresholds[name] = p_threshold
        elif discrete:
            methods[name], thresholds[name] = "jensenshannon", drift.cat_threshold
        else:
            methods[name], thresholds[name] = "wasserstein", drift.num_threshold
    return methods, thresholds


def _as_float(value: Any) -> float:
    """The numeric value of a metric result (a number in 0.7.23; tolerate a ``{"value": x}`` mapping)."""
    if isinstance(value, dict):
        value = value.get("value")
    if value is None:
        return math.nan
    return float(value)


def parse_value_drift(snapshot_dict: dict[str, Any]) -> dict[str, tuple[str, float, float, bool | None]]:
    """Per-column (method, threshold, score, drifted) from ``Snapshot.dict()`` of a ``DataDriftPreset`` run.

    In Evidently 0.7.23 each column is a ``ValueDrift`` metric: ``config`` holds ``column``, ``method`` and
    ``threshold`` and ``value`` is the score. With ``include_tests=True`` each also has a test (``id``
    ``"drift"``) whose ``metric_config.params`` is that config and whose ``status`` (a ``TestStatus`` enum,
    not a string) is ``FAIL`` when the stat test itself reported drift; ``drifted`` is None when there is
    no such test. ``method`` is the name passed in, or the display name (e.g. ``"K-S p_value"``) when
    Evidently chose the method itself.
    """
    parsed: dict[str, tuple[str, float, float, bool | None]] = {}
    for metric in snapshot_dict.get("metrics", []):
        cfg = metric.get("config") or {}
        if not str(cfg.get("type", "")).endswith(":ValueDrift"):
            continue
        parsed[cfg["column"]] = (
            str(cfg.get("method")),
            _as_float(cfg.get("threshold")),
            _as_float(metric.get("value")),
            None,
        )
    for test in snapshot_dict.get("tests", []):
        params = (test.get("metric_config") or {}).get("params") or {}
        column = params.get("column")
        if not str(params.get("type", "")).endswith(":ValueDrift") or column not in parsed:
            continue
        status = str(getattr(test.get("status"), "value", test.get("status"))).upper()  # a TestStatus enum
        if status in {"FAIL", "SUCCESS"}:
            method, threshold, score, _ = parsed[column]
            parsed[column] = (method, threshold, score, status == "FAIL")
    return parsed


def drifted_by_rule(method: str, score: float, threshold: float) -> bool:
    """Evidently 0.7.23's verdict for a method: p-value below the threshold (``ks``: at or below), else
    distance at or above it (``ed``: above). NaN scores never count as drift."""
    if math.isnan(score):
        return False
    if is_pvalue_method(method):
        return score <= threshold if method in _INCLUSIVE_PVALUE else score < threshold
    return score > threshold if method in _EXCLUSIVE_DISTANCE else score >= threshold


def compute_drift(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    features: Features,
    rule: DriftConfig,
    *,
    name: str = "",
) -> tuple[DriftResult, Snapshot]:
    """Compare the ``features`` of ``current`` with ``reference`` by ``rule``; return the verdict and the snapshot.

    ``name`` (the model's) prefixes log lines and error messages. Raises ``DriftError`` when a frame is
    empty, a feature is missing or unusable, or Evidently fails.
    """
    prefix = f"{name}: " if name else ""
    _check_inputs(current, reference, features, prefix)
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    register_chi2_contingency()
    drift = rule
    names = features.all
    small = len(reference) <= drift.small_sample_rows
    methods, thresholds = choose_methods(current, reference, features, rule)
    log.info(
        "%sdrift of %d features, %d current vs %d reference rows (%s)",
        prefix,
        len(names),
        len(current),
        len(reference),
        "small-sample p-value tests" if small else "distance tests",
    )

    definition = DataDefinition(
        numerical_columns=list(features.numerical), categorical_columns=list(features.categorical)
    )
    preset = DataDriftPreset(
        columns=names,
        drift_share=drift.drift_share,
        per_column_method=dict(methods),
        per_column_threshold=dict(thresholds),
    )
    try:
        cur_ds = Dataset.from_pandas(current[names].reset_index(drop=True), data_definition=definition)
        ref_ds = Dataset.from_pandas(reference[names].reset_index(drop=True), data_definition=definition)
        snapshot = Report([preset], include_tests=True).run(cur_ds, ref_ds)
        parsed = parse_value_drift(snapshot.dict())
    except DriftError:
        raise
    except Exception as exc:  # Evidently raises ValueError/TypeError/KeyError for unusable data
        raise DriftError(f"{prefix}Evidently could not compute drift: {_one_line(exc)}") from exc

    missing = [n for n in names if n not in parsed]
    if missing:
        raise DriftError(f"{prefix}Evidently returned no drift result for {', '.join(missing)}")

    critical = set(drift.critical_features)
    columns: dict[str, ColumnDrift] = {}
    for column in names:
        method, threshold, score, drifted = parsed[column]
        by_rule = drifted_by_rule(method, score, threshold)
        if drifted is None:
            drifted = by_rule
        elif drifted != by_rule:
            log.warning(
                "%s%s %s=%.6g vs %.6g: Evidently says drifted=%s",
                prefix,
                column,
                method,
                score,
                threshold,
                drifted,
            )
        columns[column] = ColumnDrift(
            name=column,
            kind="categorical" if column in features.categorical else "numerical",
            method=method,
            score=score,
            threshold=threshold,
            drifted=bool(drifted),
            critical=column in critical,
        )

    n_features = len(columns)
    n_drifted = sum(c.drifted for c in columns.values())
    share = n_drifted / n_features
    critical_drifted = [c.name for c in columns.values() if c.drifted and c.critical]
    detected = share >= drift.drift_share or bool(critical_drifted)
    mode = (
        f"KS/chi2-contingency p < {thresholds[names[0]]:.4g}"
        if small
        else f"Wasserstein >= {drift.num_threshold:g}, Jensen-Shannon >= {drift.cat_threshold:g}"
    )
    comparison = ">=" if share >= drift.drift_share else "<"
    critical_text = (
        f"critical feature(s) drifted: {', '.join(critical_drifted)}"
        if critical_drifted
        else "no critical feature drifted"
    )
    reason = (
        f"{'drift' if detected else 'no drift'}: {n_drifted}/{n_features} features drifted "
        f"(share {share:.2f} {comparison} {drift.drift_share:g}); {critical_text} "
        f"[{mode}; {len(reference)} reference vs {len(current)} current rows]"
    )
    result = DriftResult(
        drift_detected=detected,
        share_drifted=share,
        n_drifted=n_drifted,
        n_features=n_features,
        columns=columns,
        critical_drifted=critical_drifted,
        reason=reason,
        reference_rows=len(reference),
        current_rows=len(current),
        top_n=drift.top_features,
        small_sample=small,
    )
    log.info("%s%s", prefix, reason)
    return result, snapshot


def report_html(snapshot: Snapshot) -> bytes:
    """Evidently's standalone HTML report of a snapshot, as UTF-8 bytes."""
    fd, path = tempfile.mkstemp(suffix=".html", prefix="modelcare-drift-")
    os.close(fd)
    try:
        snapshot.save_html(path)
        with open(path, "rb") as handle:
            return handle.read()
    finally:
        os.unlink(path)
