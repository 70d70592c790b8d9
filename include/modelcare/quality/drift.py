"""Data drift of a batch against reference data: one rule at every sample size, each statistic computed once.

Only the configured features are compared (``data.features.numerical`` / ``.categorical``); the id column,
the target and any other column are ignored. Each feature's statistics are computed once, with numpy/scipy
(``quality.stattests``), and give the verdict without Evidently:

* numerical columns with more than 5 distinct values: the Kolmogorov-Smirnov p-value and the Wasserstein
  distance normed by the reference standard deviation (a mean shift of d sd is about d);
* categorical and low-cardinality numerical columns: the p-value of the chi-square test of homogeneity of
  the 2 x k contingency table (not Evidently's ``chisquare``, which flags about half of identical batches)
  and the Jensen-Shannon distance, corrected for its small-sample bias (``stattests.jensenshannon_debiased``).

**The rule.** A column drifted when its shift is significant at the batch's corrected level AND at least
the effect floor, the smallest shift worth acting on: p-value <= the level of ``drift.multiple_testing``
(``bonferroni``, ``holm`` or ``bh`` over the batch's features at ``drift.alpha``) and normed Wasserstein
>= ``drift.num_threshold`` / Jensen-Shannon >= ``drift.cat_threshold``. The p-value keeps false alarms at
``alpha`` per batch at any size; the floor keeps a negligible shift from counting just because the batch is
large. ``drift.small_sample_rows`` no longer switches anything (kept so existing configs load). The batch
drifted when the share of drifted features (``share_drifted``) is >= ``drift.drift_share`` or any of
``drift.critical_features`` drifted. ``benchmarks/bench_drift_rule.py`` measures the rule.

``drift_verdict`` returns the verdict alone (thousands of verdicts, no Evidently); ``compute_drift`` also
runs Evidently's ``DataDriftPreset`` for the HTML report, with the same rule registered as Evidently stat
tests (``quality.drift_report``), so the report shows the same score, threshold and verdict per column. The
report is built from a seeded sample of at most ``drift_report.REPORT_SAMPLE_ROWS`` rows, which it says on
its face beside the verdict's full-data scores; the verdict is always on the full data.

**Cost.** Each column is cleaned once into one float64 array per sample (no pandas copies), sorted once,
and both of its statistics are read off one merge of the two sorted samples (``stattests.ecdf_grid``);
categorical columns are counted as they are (category codes or text); whether a numerical column has more
than 5 distinct values is settled on its first values. ``benchmarks/bench_drift.py`` measures it at
1M x 25 against a plain scipy/numpy computation of the same statistics.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from include.modelcare.errors import DriftError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from numpy.typing import ArrayLike, NDArray

    from include.modelcare.config.schema import DriftConfig, Features
    from include.modelcare.quality.drift_report import DriftReport

log = logging.getLogger(__name__)

NUMERICAL_TEST = "ks_wasserstein"
"""Method name of numerical columns: KS p-value at the corrected level and normed Wasserstein >= the floor."""
CATEGORICAL_TEST = "chi2_jensenshannon"
"""Method name of discrete columns: chi-square contingency p-value at the level and Jensen-Shannon >= the floor."""
CHI2_CONTINGENCY = "chi2_contingency"
"""The plain chi-square contingency test, also registered with Evidently (p-value < threshold)."""
LOW_CARDINALITY = 5
"""Numerical columns with at most this many distinct values are tested like categorical ones."""

Kind = Literal["numerical", "categorical"]

LEGACY_SHARE_KEY = "drift_share"
"""Former key of the measured share in drift summaries (now ``share_drifted``); still written for old readers."""


def share_drifted_of(summary: Mapping[str, Any]) -> float | None:
    """The measured share of drifted features of a summary, old or new: ``share_drifted``, else ``drift_share``."""
    value = summary.get("share_drifted")
    if value is None:
        value = summary.get(LEGACY_SHARE_KEY)
    return None if value is None else float(value)


@dataclass(frozen=True)
class ColumnDrift:
    """Drift of one feature: its effect (``score``) against the floor (``threshold``), its p-value against the
    batch's corrected level (``p_threshold``), and the verdict (both met)."""

    name: str
    kind: Kind
    method: str
    score: float
    threshold: float
    drifted: bool
    critical: bool
    p_value: float = math.nan
    p_threshold: float = math.nan

    @property
    def severity(self) -> float:
        """How large the effect is against the floor (score / threshold; >= 1 for a drifted column)."""
        if math.isnan(self.score):
            return 0.0
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
    """Deprecated: the rule no longer depends on the sample size; always False."""

    def top_features(self, n: int) -> list[ColumnDrift]:
        """The ``n`` most drifted features: drifted ones first, then by effect against the floor (severity)."""
        ranked = sorted(self.columns.values(), key=lambda c: (not c.drifted, -c.severity, c.name))
        return ranked[:n]

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON summary; ``top_features`` names the drifted features among the ``top_n`` most drifted.

        The measured share is ``share_drifted``; it is also written under its former key ``drift_share``
        (``LEGACY_SHARE_KEY``) for readers of older reports and CLI output. Read it with ``share_drifted_of``.
        Per column, ``score``/``threshold`` are the effect and its floor; the p-values and the batch's
        corrected level they were compared with are ``p_values`` and ``p_threshold``.
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
            "p_values": {name: float(c.p_value) for name, c in self.columns.items()},
            "p_threshold": float(next(iter(self.columns.values())).p_threshold) if self.columns else math.nan,
            "n_drifted": int(self.n_drifted),
            "n_features": int(self.n_features),
            "critical_drifted": [str(c) for c in self.critical_drifted],
            "reason": str(self.reason),
            "reference_rows": int(self.reference_rows),
            "current_rows": int(self.current_rows),
            "top_features": [c.name for c in self.top_features(self.top_n) if c.drifted],
        }


# -- the statistics of one column ----------------------------------------------------------------------
def _has_values(series: pd.Series) -> bool:
    """Whether the series holds any non-null, finite value (checked without copying it)."""
    import numpy as np

    if series.dtype.kind in "fc":
        return bool(np.isfinite(series.to_numpy()).any())
    return bool(series.notna().any())


def float_values(series: pd.Series) -> NDArray[np.float64]:
    """A numeric column as float64, nulls as NaN: no copy for a float64 column, one conversion otherwise."""
    import numpy as np
    import pandas as pd

    if isinstance(series.dtype, pd.api.extensions.ExtensionDtype):
        return series.to_numpy(dtype=float, na_value=np.nan)
    return series.to_numpy(dtype=float, copy=False)


def _counts(values: pd.Series) -> pd.Series:
    """Counts of the values that occur (a categorical's unused categories dropped), by plain value."""
    counts = values.value_counts(dropna=True)
    counts = counts[counts > 0]
    if counts.index.dtype == "category":
        counts.index = counts.index.astype(counts.index.categories.dtype)
    return counts


def aligned_counts(reference: ArrayLike, current: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Counts of every value seen in either (cleaned) sample, aligned in sorted order of the values:
    (reference counts, current counts). The same vectors for object, category or numeric input."""
    import pandas as pd

    ref_counts = _counts(reference if isinstance(reference, pd.Series) else pd.Series(reference))
    cur_counts = _counts(current if isinstance(current, pd.Series) else pd.Series(current))
    values = ref_counts.index.union(cur_counts.index)
    return (
        ref_counts.reindex(values, fill_value=0).to_numpy(dtype=float),
        cur_counts.reindex(values, fill_value=0).to_numpy(dtype=float),
    )


def is_discrete(reference: NDArray[np.float64], current: NDArray[np.float64]) -> bool:
    """At most ``LOW_CARDINALITY`` distinct values over both cleaned samples. About 1,000 values spread over
    each sample (every k-th: on sorted samples, quantiles) settle it when they already hold more, so a large
    continuous column is never counted in full; the two samples are never concatenated."""
    import numpy as np
    import pandas as pd

    spread = [values[:: max(1, len(values) // 1000)] for values in (reference, current)]
    if len(np.union1d(*spread)) > LOW_CARDINALITY:
        return False
    distinct = pd.unique(reference)
    if len(distinct) > LOW_CARDINALITY:
        return False
    return len(np.union1d(distinct, pd.unique(current))) <= LOW_CARDINALITY


def column_stats(reference: ArrayLike, current: ArrayLike, discrete: bool) -> tuple[float, float]:
    """(p-value, effect) of one cleaned column: chi-square contingency and Jensen-Shannon when ``discrete``,
    else KS and normed Wasserstein (``stattests``). The registered Evidently tests call it; the verdict calls
    it through ``feature_stats``, which hands a continuous column's sorted samples to ``numerical_stats``
    directly rather than sorting them twice."""
    from include.modelcare.quality import stattests

    if discrete:
        return stattests.categorical_stats(*aligned_counts(reference, current))
    return stattests.numerical_stats(stattests.sorted_finite(reference), stattests.sorted_finite(current))


def feature_stats(reference: pd.Series, current: pd.Series, categorical: bool) -> tuple[bool, float, float]:
    """(discrete, p-value, effect) of one feature of the two frames, each sample cleaned once into one sorted
    float64 array (``stattests.sorted_finite``; the frame is never copied): categorical columns are counted
    as they are (category codes, text), numerical ones tested as discrete when they hold at most
    ``LOW_CARDINALITY`` values. The same numbers as ``column_stats`` on the cleaned columns."""
    import pandas as pd

    from include.modelcare.quality import stattests

    if categorical:
        if reference.dtype.kind in "fc" or current.dtype.kind in "fc":  # a float category: drop infinities too
            reference = pd.Series(stattests.sorted_finite(float_values(reference)))
            current = pd.Series(stattests.sorted_finite(float_values(current)))
        return (True, *column_stats(reference, current, discrete=True))
    ref = stattests.sorted_finite(float_values(reference))
    cur = stattests.sorted_finite(float_values(current))
    if is_discrete(ref, cur):
        return (True, *column_stats(ref, cur, discrete=True))
    return (False, *stattests.numerical_stats(ref, cur))


# -- the verdict -------------------------------------------------------------------------------------
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
        all_null = [c for c in features.all if not _has_values(frame[c])]
        if all_null:
            raise DriftError(f"{prefix}{what} data has no non-null values in feature(s) {', '.join(all_null)}")


def rule_text(rule: DriftConfig, level: float) -> str:
    """The rule in words, for reasons and the report: the p-value level and the effect floors."""
    return (
        f"KS/chi-square p <= {level:.3g} ({rule.multiple_testing}, alpha {rule.alpha:g}) and "
        f"Wasserstein >= {rule.num_threshold:g} / Jensen-Shannon >= {rule.cat_threshold:g}"
    )


def drift_verdict(
    current: pd.DataFrame, reference: pd.DataFrame, features: Features, rule: DriftConfig, *, name: str = ""
) -> DriftResult:
    """The verdict of ``rule`` on the ``features`` of ``current`` against ``reference``, without Evidently.

    ``name`` (the model's) prefixes log lines and error messages. Raises ``DriftError`` when a frame is
    empty, a feature is missing or unusable.
    """
    from include.modelcare.quality.stattests import decide

    prefix = f"{name}: " if name else ""
    _check_inputs(current, reference, features, prefix)
    names = features.all
    categorical = set(features.categorical)
    kinds: dict[str, bool] = {}
    stats: list[tuple[float, float]] = []
    for column in names:
        kinds[column], p_value, effect = feature_stats(reference[column], current[column], column in categorical)
        stats.append((p_value, effect))
    floors = [rule.cat_threshold if kinds[c] else rule.num_threshold for c in names]
    verdicts, level = decide([s[0] for s in stats], [s[1] for s in stats], floors, rule.alpha, rule.multiple_testing)

    critical = set(rule.critical_features)
    columns = {
        column: ColumnDrift(
            name=column,
            kind="categorical" if column in features.categorical else "numerical",
            method=CATEGORICAL_TEST if kinds[column] else NUMERICAL_TEST,
            score=effect,
            threshold=floor,
            drifted=drifted,
            critical=column in critical,
            p_value=p_value,
            p_threshold=level,
        )
        for column, (p_value, effect), floor, drifted in zip(names, stats, floors, verdicts, strict=True)
    }
    n_features = len(columns)
    n_drifted = sum(verdicts)
    share = n_drifted / n_features
    critical_drifted = [c.name for c in columns.values() if c.drifted and c.critical]
    detected = share >= rule.drift_share or bool(critical_drifted)
    comparison = ">=" if share >= rule.drift_share else "<"
    critical_text = (
        f"critical feature(s) drifted: {', '.join(critical_drifted)}"
        if critical_drifted
        else "no critical feature drifted"
    )
    reason = (
        f"{'drift' if detected else 'no drift'}: {n_drifted}/{n_features} features drifted "
        f"(share {share:.2f} {comparison} {rule.drift_share:g}); {critical_text} "
        f"[{rule_text(rule, level)}; {len(reference)} reference vs {len(current)} current rows]"
    )
    log.info("%s%s", prefix, reason)
    return DriftResult(
        drift_detected=detected,
        share_drifted=share,
        n_drifted=n_drifted,
        n_features=n_features,
        columns=columns,
        critical_drifted=critical_drifted,
        reason=reason,
        reference_rows=len(reference),
        current_rows=len(current),
        top_n=rule.top_features,
    )


def compute_drift(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    features: Features,
    rule: DriftConfig,
    *,
    name: str = "",
    with_report: bool = True,
) -> tuple[DriftResult, DriftReport | None]:
    """``drift_verdict`` on the full data plus, when ``with_report``, Evidently's report for ``report_html``
    (else None), built from a seeded sample of at most ``drift_report.REPORT_SAMPLE_ROWS`` rows of each frame so
    its cost does not grow with the batch. The full-data verdict decides; a sampled report says so on its face
    and shows the verdict's full-data scores.

    Raises ``DriftError`` when a frame is empty, a feature is missing or unusable, or Evidently fails.
    """
    from include.modelcare.quality.drift_report import evidently_report

    result = drift_verdict(current, reference, features, rule, name=name)
    if not with_report:
        return result, None
    prefix = f"{name}: " if name else ""
    return result, evidently_report(current, reference, features, result, drift_share=rule.drift_share, prefix=prefix)


def report_html(report: DriftReport | None) -> bytes:
    """Evidently's standalone HTML report of a ``compute_drift`` run, as UTF-8 bytes (``drift_report.report_html``)."""
    from include.modelcare.quality.drift_report import report_html as render

    return render(report)
