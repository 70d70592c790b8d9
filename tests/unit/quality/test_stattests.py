"""The drift statistics and the multiple-testing corrections of include.modelcare.quality.stattests."""

from __future__ import annotations

import math
from typing import Any

import pytest

from include.modelcare.quality import stattests

pytestmark = pytest.mark.unit


def _rng(seed: int) -> Any:
    import numpy as np

    return np.random.default_rng(seed)


def _evidently(name: str, reference: Any, current: Any, categorical: bool = False) -> float:
    """The score of one of Evidently's own registered stat tests on two samples."""
    import pandas as pd
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType

    kind = ColumnType.Categorical if categorical else ColumnType.Numerical
    test = get_registered_stattest(name, kind)
    return float(test(pd.Series(reference), pd.Series(current), kind, None).drift_score)


@pytest.mark.parametrize(("n_ref", "n_cur"), [(300, 300), (400, 250), (12_000, 11_000)])
def test_numerical_statistics_are_evidentlys(n_ref: int, n_cur: int) -> None:
    rng = _rng(n_ref)
    reference, current = rng.normal(10, 3, n_ref), rng.normal(10.4, 3, n_cur)
    p_value, effect = stattests.numerical_stats(stattests.sorted_finite(reference), stattests.sorted_finite(current))
    assert p_value == _evidently("ks", reference, current)
    assert effect == pytest.approx(_evidently("wasserstein", reference, current), rel=1e-12)


def test_sorted_finite_drops_nulls_and_infinities() -> None:
    assert stattests.sorted_finite([3.0, math.nan, -math.inf, 1.0, math.inf, 2.0]).tolist() == [1.0, 2.0, 3.0]


def test_wasserstein_of_a_constant_reference_uses_evidentlys_std_floor() -> None:
    import numpy as np

    reference, current = np.zeros(50), np.full(50, 0.01)
    assert stattests.wasserstein_normed(reference, current) == pytest.approx(0.01 / stattests.STD_FLOOR)


def test_categorical_statistics() -> None:
    import numpy as np
    from scipy.stats import chi2_contingency

    rng = _rng(5)
    values = np.array(list("abcdefghij"))
    reference = rng.choice(values, 600, p=np.linspace(1, 3, 10) / 20)
    current = rng.choice(values[:9], 500)  # "j" never seen in current
    ref_counts = np.array([(reference == v).sum() for v in values], dtype=float)
    cur_counts = np.array([(current == v).sum() for v in values], dtype=float)
    p_value, effect = stattests.categorical_stats(ref_counts, cur_counts)
    assert p_value == pytest.approx(chi2_contingency(np.vstack([ref_counts, cur_counts]), correction=False).pvalue)
    plug_in = stattests.jensenshannon(ref_counts, cur_counts)
    assert plug_in == pytest.approx(_evidently("jensenshannon", reference, current, categorical=True), rel=1e-12)
    bias = 9 * (1 / 600 + 1 / 500) / 8
    assert effect == pytest.approx(math.sqrt(plug_in**2 - bias))


def test_chi2_of_one_value_or_an_empty_sample_is_no_evidence() -> None:
    import numpy as np

    assert stattests.chi2_pvalue(np.array([10.0, 0.0]), np.array([7.0, 0.0])) == 1.0
    assert stattests.chi2_pvalue(np.array([10.0, 3.0]), np.array([0.0, 0.0])) == 1.0


def test_debiased_jensenshannon_is_centred_on_the_truth() -> None:
    """Same distribution: the plug-in JS of 200-row samples is ~0.1 (the floor); the corrected one is near 0,
    and for a true distance of 0.2 it is centred on 0.2 while the plug-in is not."""
    import numpy as np
    from scipy.spatial import distance

    rng = _rng(11)
    p = np.linspace(1, 3, 10) / 20
    q = 0.8 * p + 0.2 * np.eye(10)[0]
    truth = float(distance.jensenshannon(p, q))
    plug, fixed, plug_shift, fixed_shift = [], [], [], []
    for _ in range(300):
        a, b, c = (rng.multinomial(200, x).astype(float) for x in (p, p, q))
        plug.append(stattests.jensenshannon(a, b))
        fixed.append(stattests.jensenshannon_debiased(a, b))
        plug_shift.append(stattests.jensenshannon(a, c))
        fixed_shift.append(stattests.jensenshannon_debiased(a, c))
    assert np.mean(plug) > 0.09 and np.mean(fixed) < 0.04
    assert abs(np.mean(fixed_shift) - truth) < abs(np.mean(plug_shift) - truth)
    assert abs(np.mean(fixed_shift) - truth) < 0.1 * truth


def test_cutoffs_by_hand() -> None:
    p = [0.001, 0.004, 0.019, 0.03, 0.6]  # m = 5, alpha 0.05
    assert stattests.cutoff(p, 0.05, "none") == 0.05
    assert stattests.cutoff(p, 0.05, "bonferroni") == pytest.approx(0.01)
    # Holm: 0.001 <= 0.01, 0.004 <= 0.0125, 0.019 > 0.05/3: two rejected, level 0.05/3
    assert stattests.cutoff(p, 0.05, "holm") == pytest.approx(0.05 / 3)
    # BH: largest k with p(k) <= 0.01 k: k = 4 (0.03 <= 0.04): level 0.04
    assert stattests.cutoff(p, 0.05, "bh") == pytest.approx(0.04)
    assert stattests.cutoff([0.5, 0.9], 0.05, "bh") == pytest.approx(0.025)  # none: alpha / m
    assert stattests.cutoff([0.001, 0.002], 0.05, "holm") == 0.05  # all rejected
    assert stattests.cutoff([math.nan, 0.001], 0.05, "holm") == pytest.approx(0.05)  # NaN counts as 1
    with pytest.raises(ValueError, match="unknown multiple-testing correction"):
        stattests.cutoff(p, 0.05, "sidak")  # type: ignore[arg-type]


@pytest.mark.parametrize("method", ["bonferroni", "holm", "bh"])
def test_cutoffs_reject_what_statsmodels_rejects(method: str) -> None:
    import numpy as np

    multitest = pytest.importorskip("statsmodels.stats.multitest")
    name = {"bonferroni": "bonferroni", "holm": "holm", "bh": "fdr_bh"}[method]
    rng = _rng(3)
    for _ in range(40):  # statsmodels' holm takes ~20 ms a call
        p = np.concatenate([rng.uniform(size=20), rng.uniform(0, 0.01, size=rng.integers(0, 6))])
        level = stattests.cutoff(p, 0.05, method)  # type: ignore[arg-type]
        assert ((p <= level) == multitest.multipletests(p, alpha=0.05, method=name)[0]).all()


@pytest.mark.parametrize("method", ["none", "bonferroni", "holm", "bh"])
def test_decide_many_is_decide_row_by_row(method: str) -> None:
    import numpy as np

    rng = _rng(8)
    pvalues = rng.uniform(0, 0.02, size=(300, 25)) ** rng.uniform(0.5, 2, size=(300, 1))
    effects = rng.uniform(0, 0.3, size=(300, 25))
    effects[0, 0] = math.nan
    floors = np.array([0.1] * 20 + [0.05] * 5)
    many = stattests.decide_many(pvalues, effects, floors, 0.05, method)  # type: ignore[arg-type]
    for row in range(300):
        one, _ = stattests.decide(pvalues[row], effects[row], floors, 0.05, method)  # type: ignore[arg-type]
        assert many[row].tolist() == one
    assert not many[0, 0]


def test_decide_needs_significance_and_effect() -> None:
    verdicts, level = stattests.decide([1e-9, 1e-9, 0.5, math.nan], [0.3, 0.05, 0.3, 0.3], [0.1] * 4, 0.05, "holm")
    assert verdicts == [True, False, False, False]
    assert level == pytest.approx(0.05 / 2)


@pytest.mark.parametrize(
    ("n_ref", "n_cur", "ties"),
    [(10_000, 10_001, False), (20_000, 20_000, False), (30_000, 12_345, True), (15_000, 40_000, True)],
)
def test_large_sample_statistics_are_ks_2samp_bit_for_bit(n_ref: int, n_cur: int, ties: bool) -> None:
    """Above ``KS_EXACT_MAX`` rows both statistics come from one merge (``ecdf_grid``): the KS p-value is
    ``ks_2samp``'s exactly, ties included, and the Wasserstein distance scipy's to rounding."""
    import numpy as np
    from scipy.stats import ks_2samp, wasserstein_distance

    rng = _rng(n_ref + n_cur)
    reference, current = rng.normal(0, 1, n_ref), rng.normal(0.02, 1.1, n_cur)
    if ties:
        reference, current = np.round(reference, 1), np.round(current, 1)
    ref_sorted, cur_sorted = stattests.sorted_finite(reference), stattests.sorted_finite(current)
    p_value, effect = stattests.numerical_stats(ref_sorted, cur_sorted)
    assert p_value == float(ks_2samp(reference, current).pvalue)
    values, ref_cdf, cur_cdf = stattests.ecdf_grid(ref_sorted, cur_sorted)
    assert stattests.ks_statistic(ref_cdf, cur_cdf) == float(ks_2samp(reference, current).statistic)
    assert len(values) == len(np.unique(np.concatenate([reference, current])))
    expected = wasserstein_distance(reference, current) / max(float(np.std(reference)), stattests.STD_FLOOR)
    assert effect == pytest.approx(expected, rel=1e-12)


def test_sorted_finite_keeps_an_all_finite_array_whole() -> None:
    import numpy as np

    values = np.array([3.0, 1.0, 2.0])
    assert stattests.sorted_finite(values).tolist() == [1.0, 2.0, 3.0] and values.tolist() == [3.0, 1.0, 2.0]
