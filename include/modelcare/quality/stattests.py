"""The drift statistics of one column and the drift rule of a batch, in plain numpy/scipy.

Why a module of its own: the verdict (``quality.drift.drift_verdict``), the combined stat tests registered
with Evidently for the HTML report, and the benchmark ``benchmarks/bench_drift_rule.py`` must compute the
*same* numbers with the *same* code, once per column. Everything here takes arrays (sorted samples for
numerical columns, aligned count vectors for categorical ones), so callers prepare each column once.

The statistics are Evidently 0.7.23's (``evidently.legacy.calculations.stattests``), computed the same way:

* numerical: the two-sample Kolmogorov-Smirnov p-value (``scipy.stats.ks_2samp``, ``method="auto"``:
  exact up to 10,000 rows per sample, asymptotic above) and the Wasserstein distance normed by the
  reference standard deviation (floored at 0.001). For a normal column, a mean shift of ``d`` standard
  deviations has normed Wasserstein distance ``d``;
* categorical (and numerical columns with at most 5 distinct values): the chi-square test of
  homogeneity of the 2 x k contingency table (``scipy.stats.chi2_contingency``, no continuity correction;
  not Evidently's ``chisquare``, which takes the reference counts as exact and flags about half of
  identical batches) and the Jensen-Shannon distance (natural log) of the two frequency vectors, with the
  plug-in estimate's small-sample bias removed (``jensenshannon_debiased``; ``jensenshannon`` is Evidently's).

The rule (``decide``): a column drifted when its p-value is at most the batch's corrected level
(``cutoff``: Bonferroni, Holm or Benjamini-Hochberg over the batch's features at ``alpha``) AND its effect
(normed Wasserstein / Jensen-Shannon) is at least the effect floor, the smallest shift worth acting on.
The p-value keeps false alarms at ``alpha`` per batch at every sample size; the floor keeps a shift too
small to matter from being flagged just because the sample is large.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike, NDArray

Correction = Literal["bonferroni", "holm", "bh", "none"]
CORRECTIONS: tuple[Correction, ...] = ("bonferroni", "holm", "bh", "none")

STD_FLOOR = 0.001
"""Evidently's floor on the reference standard deviation that norms the Wasserstein distance."""


KS_EXACT_MAX = 10_000
"""``scipy.stats.ks_2samp`` (``method="auto"``) computes the exact p-value up to this many rows per sample."""


def sorted_finite(values: ArrayLike) -> NDArray[np.float64]:
    """The finite values of a numerical sample as a sorted float array (nulls and infinities dropped).

    One float64 conversion (none for a float64 array) and one sorted copy: the sort puts -inf first and
    +inf and NaN last, so the finite values are a slice of it, not another copy."""
    import numpy as np

    ordered = np.sort(np.asarray(values, dtype=float))
    low = int(np.searchsorted(ordered, -np.inf, side="right"))
    high = int(np.searchsorted(ordered, np.inf, side="left"))
    return ordered[low:high]


def ecdf_grid(
    reference_sorted: NDArray[np.float64], current_sorted: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Both empirical CDFs at every distinct value of the pooled sample: (values, reference CDF, current CDF).

    Why: the KS statistic and the Wasserstein distance are both read off these two CDFs. One stable merge of
    the two sorted runs (linear: timsort merges runs) and a running count replace ``ks_2samp``'s two
    binary searches of 2n values and its re-sorts; at the last of each run of equal values the running
    count is exactly ``searchsorted(..., side="right")``, so the CDF values are the same floats.
    """
    import numpy as np

    n, m = len(reference_sorted), len(current_sorted)
    pooled = np.concatenate([reference_sorted, current_sorted])
    order = np.argsort(pooled, kind="stable")
    merged = pooled[order]
    del pooled
    ref_count = np.cumsum(order < n)
    del order
    last = np.empty(len(merged), dtype=bool)
    np.not_equal(merged[1:], merged[:-1], out=last[:-1])
    last[-1] = True
    ref_at = ref_count[last]
    cur_at = np.flatnonzero(last) + 1 - ref_at
    return merged[last], ref_at / n, cur_at / m


def ks_statistic(reference_cdf: NDArray[np.float64], current_cdf: NDArray[np.float64]) -> float:
    """The two-sided KS statistic of two CDFs on a common grid, as ``ks_2samp`` takes it."""
    import numpy as np

    diffs = reference_cdf - current_cdf
    below = float(np.clip(-diffs.min(), 0, 1))
    above = float(diffs.max())
    return below if below > above else above


def ks_asymptotic_pvalue(statistic: float, n: int, m: int) -> float:
    """``ks_2samp``'s two-sided p-value above ``KS_EXACT_MAX`` rows (``method="auto"``): Smirnov's
    distribution ``kstwo.sf(d, round(n m / (n + m)))``, clipped to [0, 1]."""
    import numpy as np
    from scipy.stats import kstwo

    big, small = sorted([float(n), float(m)], reverse=True)
    return float(np.clip(kstwo.sf(statistic, np.round(big * small / (big + small))), 0, 1))


def ks_pvalue(reference: NDArray[np.float64], current: NDArray[np.float64]) -> float:
    """Two-sided two-sample Kolmogorov-Smirnov p-value, as Evidently's ``ks`` (``ks_2samp``, method auto)."""
    from scipy.stats import ks_2samp

    return float(ks_2samp(reference, current).pvalue)


def _std_norm(reference_sorted: NDArray[np.float64]) -> float:
    import numpy as np

    return max(float(np.std(reference_sorted)), STD_FLOOR)


def _wasserstein_on_grid(
    values: NDArray[np.float64], reference_cdf: NDArray[np.float64], current_cdf: NDArray[np.float64]
) -> float:
    import numpy as np

    return float(np.sum(np.abs(reference_cdf[:-1] - current_cdf[:-1]) * np.diff(values)))


def wasserstein_normed(reference_sorted: NDArray[np.float64], current_sorted: NDArray[np.float64]) -> float:
    """Wasserstein-1 distance of two *sorted* samples divided by max(std(reference), 0.001), as Evidently's
    ``wasserstein``, in O(n) after the sort: the area between the two empirical CDFs (equal sizes: the mean
    absolute difference of the order statistics)."""
    import numpy as np

    norm = _std_norm(reference_sorted)
    if len(reference_sorted) == len(current_sorted):
        return float(np.mean(np.abs(reference_sorted - current_sorted))) / norm
    return _wasserstein_on_grid(*ecdf_grid(reference_sorted, current_sorted)) / norm


def chi2_pvalue(reference_counts: NDArray[np.float64], current_counts: NDArray[np.float64]) -> float:
    """p-value of the chi-square test of homogeneity of the 2 x k table of counts (no continuity correction).

    Both samples are random, so the expected counts come from the pooled sample. One value only, or an
    empty sample: 1.0 (nothing to compare).
    """
    import numpy as np
    from scipy.stats import chi2_contingency

    table = np.vstack([reference_counts, current_counts]).astype(float)
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or table[0].sum() == 0 or table[1].sum() == 0:
        return 1.0
    return float(chi2_contingency(table, correction=False).pvalue)


def jensenshannon(reference_counts: NDArray[np.float64], current_counts: NDArray[np.float64]) -> float:
    """Jensen-Shannon distance (natural log) of the two samples' frequencies, as Evidently's ``jensenshannon``."""
    import numpy as np
    from scipy.spatial import distance

    ref = np.asarray(reference_counts, dtype=float)
    cur = np.asarray(current_counts, dtype=float)
    return float(distance.jensenshannon(ref / ref.sum(), cur / cur.sum()))


def jensenshannon_debiased(reference_counts: NDArray[np.float64], current_counts: NDArray[np.float64]) -> float:
    """Jensen-Shannon distance with the plug-in estimate's small-sample bias removed:
    ``sqrt(max(JS**2 - (k - 1) (1/n_ref + 1/n_cur) / 8, 0))``, k the number of values seen.

    Why: the plug-in divergence of two samples overstates the true one by about ``(k - 1)(1/n + 1/m) / 8``
    (two samples of 200 rows from the same 10-value distribution: JS ~0.10, the default floor), so a true
    shift at the floor would be flagged more often at 1,000 rows than at 50,000. Corrected, the estimate is
    centred on the true distance at every n and detection at the floor rises towards 50% as n grows.
    """
    import numpy as np

    ref = np.asarray(reference_counts, dtype=float)
    cur = np.asarray(current_counts, dtype=float)
    seen = int(np.count_nonzero(ref + cur))
    bias = (seen - 1) * (1 / ref.sum() + 1 / cur.sum()) / 8
    return math.sqrt(max(jensenshannon(ref, cur) ** 2 - bias, 0.0))


def numerical_stats(reference_sorted: NDArray[np.float64], current_sorted: NDArray[np.float64]) -> tuple[float, float]:
    """(KS p-value, normed Wasserstein distance) of two sorted numerical samples.

    Up to ``KS_EXACT_MAX`` rows per sample the p-value is ``ks_2samp``'s exact one; above, both statistics
    come from one ``ecdf_grid`` (the same D and p-value as ``ks_2samp``, bit for bit, without its searches).
    """
    n, m = len(reference_sorted), len(current_sorted)
    if max(n, m) <= KS_EXACT_MAX:
        return ks_pvalue(reference_sorted, current_sorted), wasserstein_normed(reference_sorted, current_sorted)
    values, ref_cdf, cur_cdf = ecdf_grid(reference_sorted, current_sorted)
    p_value = ks_asymptotic_pvalue(ks_statistic(ref_cdf, cur_cdf), n, m)
    if n == m:  # the order statistics' mean difference: no grid needed
        return p_value, wasserstein_normed(reference_sorted, current_sorted)
    return p_value, _wasserstein_on_grid(values, ref_cdf, cur_cdf) / _std_norm(reference_sorted)


def categorical_stats(
    reference_counts: NDArray[np.float64], current_counts: NDArray[np.float64]
) -> tuple[float, float]:
    """(chi-square contingency p-value, bias-corrected Jensen-Shannon distance) of two aligned count vectors."""
    return chi2_pvalue(reference_counts, current_counts), jensenshannon_debiased(reference_counts, current_counts)


def cutoff(pvalues: Sequence[float] | NDArray[np.float64], alpha: float, method: Correction) -> float:
    """The batch's corrected p-value level: a column is significant when its p-value is <= this.

    ``m`` p-values (one per feature of the batch), sorted ascending ``p(1) <= ... <= p(m)``:

    * ``bonferroni``: ``alpha / m``;
    * ``holm`` (step-down): with ``r`` the number of leading ``p(k) <= alpha / (m - k + 1)``,
      ``alpha / (m - r)`` (``alpha`` when all are rejected): exactly the ``r`` rejected p-values are below it;
    * ``bh`` (Benjamini-Hochberg step-up): with ``k`` the largest index with ``p(k) <= k alpha / m``,
      ``k alpha / m`` (``alpha / m`` when there is none);
    * ``none``: ``alpha``.

    Bonferroni and Holm keep the chance of any false alarm in the batch at ``alpha``; BH keeps the expected
    share of false alarms among flagged features at ``alpha``, which is the same under the global null.
    NaN p-values count as 1.
    """
    import numpy as np

    p = np.sort(np.nan_to_num(np.asarray(pvalues, dtype=float), nan=1.0))
    m = len(p)
    if m == 0 or method == "none":
        return float(alpha)
    if method == "bonferroni":
        return alpha / m
    ranks = np.arange(1, m + 1)
    if method == "holm":
        passed = p <= alpha / (m - ranks + 1)
        r = m if passed.all() else int(np.argmin(passed))  # leading run of passes
        return float(alpha) if r == m else alpha / (m - r)
    if method == "bh":
        below = np.nonzero(p <= ranks * alpha / m)[0]
        k = int(below[-1]) + 1 if below.size else 1
        return k * alpha / m
    raise ValueError(f"unknown multiple-testing correction {method!r} (one of {', '.join(CORRECTIONS)})")


def decide(
    pvalues: Sequence[float] | NDArray[np.float64],
    effects: Sequence[float] | NDArray[np.float64],
    floors: Sequence[float] | NDArray[np.float64],
    alpha: float,
    method: Correction,
) -> tuple[list[bool], float]:
    """Per-column verdicts of one batch (p-value <= corrected level AND effect >= floor) and that level.

    NaN effects never count as drift.
    """
    level = cutoff(pvalues, alpha, method)
    verdicts = [
        (not math.isnan(p) and p <= level) and (not math.isnan(e) and e >= f)
        for p, e, f in zip(pvalues, effects, floors, strict=True)
    ]
    return verdicts, level


def decide_many(
    pvalues: NDArray[np.float64],
    effects: NDArray[np.float64],
    floors: NDArray[np.float64],
    alpha: float,
    method: Correction,
) -> NDArray[np.bool_]:
    """``decide`` for many batches at once: ``pvalues``/``effects`` of shape (batches, features), ``floors``
    of shape (features,); returns the (batches, features) verdicts. Same rule, vectorised for benchmarks and
    simulations that need thousands of verdicts."""
    import numpy as np

    p = np.nan_to_num(np.asarray(pvalues, dtype=float), nan=1.0)
    trials, m = p.shape
    if method == "none":
        level = np.full(trials, float(alpha))
    elif method == "bonferroni":
        level = np.full(trials, alpha / m)
    else:
        ordered = np.sort(p, axis=1)
        ranks = np.arange(1, m + 1)
        if method == "holm":
            passed = ordered <= alpha / (m - ranks + 1)
            r = np.where(passed.all(axis=1), m, np.argmin(passed, axis=1))
            level = np.where(r == m, float(alpha), alpha / np.maximum(m - r, 1))
        elif method == "bh":
            below = ordered <= ranks * alpha / m
            k = np.where(below.any(axis=1), m - np.argmax(below[:, ::-1], axis=1), 1)
            level = k * alpha / m
        else:
            raise ValueError(f"unknown multiple-testing correction {method!r} (one of {', '.join(CORRECTIONS)})")
    effect = np.asarray(effects, dtype=float)
    with np.errstate(invalid="ignore"):
        return (p <= level[:, None]) & (effect >= np.asarray(floors, dtype=float)[None, :])
