"""The HTML drift report (include.modelcare.quality.drift_report): on a small batch Evidently's run of the
registered rule gives the verdict's own numbers; above ``REPORT_SAMPLE_ROWS`` it is built from a seeded sample
and says so on its face beside the verdict's full-data scores."""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from include.modelcare.config.catalog import load_model_config
from include.modelcare.config.schema import Features, ModelConfig
from include.modelcare.quality import drift_report
from include.modelcare.quality.drift import CATEGORICAL_TEST, NUMERICAL_TEST, compute_drift, drift_verdict, report_html
from include.modelcare.quality.drift_report import DriftReport, parse_value_drift

if TYPE_CHECKING:
    import pandas as pd

pytestmark = [
    pytest.mark.unit,
    # Evidently's own column summary (Dataset.from_pandas) subtracts infinities of the "gaps" column
    pytest.mark.filterwarnings("ignore:invalid value encountered in subtract:RuntimeWarning"),
]

CHURN_YAML = Path(__file__).resolve().parents[3] / "include" / "models" / "customer_churn.yaml"
FEATURES = Features(
    numerical=["level", "spread", "gaps", "count", "small_int"], categorical=["text", "coded", "sparse"]
)


def mixed_frame(n: int, seed: int, *, shift: float = 0.0) -> pd.DataFrame:
    """Every kind of column the verdict handles: floats with nulls and infinities, integers, a low-cardinality
    integer, text as object and as pandas category, a category with unused levels."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    gaps = rng.gamma(2.0, 3.0, n)
    gaps[rng.random(n) < 0.05] = np.nan
    gaps[rng.random(n) < 0.01] = np.inf
    levels = ["a", "b", "c", "d"]
    return pd.DataFrame(
        {
            "level": rng.normal(shift, 1.0, n),
            "spread": rng.lognormal(0, 0.5 + shift, n),
            "gaps": gaps,
            "count": rng.integers(0, 60, n),
            "small_int": rng.poisson(0.8 + shift, n).clip(0, 4),
            "text": rng.choice(levels, n, p=[0.4, 0.3, 0.2, 0.1] if not shift else [0.1, 0.2, 0.3, 0.4]),
            "coded": pd.Categorical(rng.choice(levels, n), categories=levels),
            "sparse": pd.Categorical(rng.choice(["x", "y"], n), categories=["x", "y", "never"]),
            "ignored": np.arange(n),
        }
    )


@pytest.fixture(scope="module")
def config() -> ModelConfig:
    return load_model_config(CHURN_YAML)


@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_small_batch_report_has_the_verdicts_scores_exactly(shift: float, config: ModelConfig) -> None:
    """No sampling below ``REPORT_SAMPLE_ROWS``: the full Evidently run of the registered tests gives the
    verdict's methods, thresholds, scores and verdicts, bit for bit, and no banner is added."""
    current, reference = mixed_frame(700, 2, shift=shift), mixed_frame(900, 1)
    result, report = compute_drift(current, reference, FEATURES, config.drift)
    assert isinstance(report, DriftReport) and not report.sampled
    assert (report.reference_rows, report.current_rows) == (900, 700)
    assert result.columns["small_int"].method == CATEGORICAL_TEST  # <= 5 values: discrete
    assert result.columns["count"].method == NUMERICAL_TEST
    parsed = parse_value_drift(report.dict())
    assert set(parsed) == set(FEATURES.all)
    for name, (method, threshold, score, drifted) in parsed.items():
        column = result.columns[name]
        assert method == f"{column.method}(p<={column.p_threshold!r})", name
        assert (threshold, score, drifted) == (column.threshold, column.score, column.drifted), name
    assert result.drift_detected is bool(shift)
    assert b"modelcare-sample-banner" not in report_html(report)


def test_category_and_text_columns_give_the_same_scores(config: ModelConfig) -> None:
    """Text as object or as pandas category: the same counts, so the same statistics."""
    current, reference = mixed_frame(800, 4, shift=0.5), mixed_frame(800, 3)
    as_text = drift_verdict(current, reference, FEATURES, config.drift)
    recoded = [frame.astype({"text": "category", "coded": str, "sparse": str}) for frame in (current, reference)]
    as_category = drift_verdict(recoded[0], recoded[1], FEATURES, config.drift)
    assert as_category.to_dict() == as_text.to_dict()


def test_large_batch_report_is_a_sample_with_the_full_data_scores(
    config: ModelConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above the limit the report is built from a seeded sample; its face says "sample of N rows", shows
    every column's full-data score, threshold and verdict, and escapes the text it shows."""
    monkeypatch.setattr(drift_report, "REPORT_SAMPLE_ROWS", 300)
    current, reference = mixed_frame(1200, 6, shift=0.5), mixed_frame(1000, 5)
    result, report = compute_drift(current, reference, FEATURES, config.drift, name="m<script>")
    assert isinstance(report, DriftReport) and report.sampled
    assert (report.reference_rows, report.current_rows) == (300, 300)
    assert (result.reference_rows, result.current_rows) == (1000, 1200)
    assert result.to_dict() == drift_verdict(current, reference, FEATURES, config.drift).to_dict()  # full data
    page = report_html(report).decode()
    body = page.index("<body")
    banner = page[page.index("<div id='modelcare-sample-banner'") :]
    banner = banner[: banner.index("</div>") + len("</div>")]
    assert body < page.index(banner) < page.index("<script", body)
    assert "seeded sample of 300 rows" in banner
    assert "a sample of 300 rows of the reference (of 1000)" in banner
    assert "a sample of 300 rows of the current batch (of 1200)" in banner
    assert html.escape(result.reason) in banner
    for column in result.columns.values():
        cells = [column.name, column.method, f"{column.score:.6g}", f"{column.threshold:g}"]
        cells.append("yes" if column.drifted else "no")
        row = banner[banner.index(f"<td style='padding:2px 8px'>{column.name}</td>") :]
        row = row[: row.index("</tr>")]
        for cell in cells:
            assert f">{html.escape(cell)}</td>" in row, (column.name, cell)
    # the same sample every time, so a re-run writes the same report
    again = drift_report.evidently_report(current, reference, FEATURES, result, sample_rows=300)
    assert parse_value_drift(again.dict()) == parse_value_drift(report.dict())


def test_only_the_larger_frame_is_sampled(config: ModelConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drift_report, "REPORT_SAMPLE_ROWS", 400)
    _, report = compute_drift(mixed_frame(250, 8), mixed_frame(900, 7), FEATURES, config.drift)
    assert report is not None and report.sampled and (report.reference_rows, report.current_rows) == (400, 250)
    page = report_html(report).decode()
    assert "all 250 rows of the current batch" in page and "a sample of 400 rows of the reference (of 900)" in page


def test_banner_text_is_escaped() -> None:
    """A column name is config text, a reason may quote data: both are shown as text, never as markup."""
    from include.modelcare.quality.drift import ColumnDrift, DriftResult

    column = ColumnDrift("</td><script>x()</script>", "numerical", NUMERICAL_TEST, 0.5, 0.1, True, False, 0.0, 0.01)
    result = DriftResult(True, 1.0, 1, 1, {column.name: column}, [], "drift: <b>", 10, 20)
    snapshot: Any = None
    banner = drift_report.sample_banner(DriftReport(snapshot, result, reference_rows=5, current_rows=5))
    assert "<script>" not in banner and "&lt;script&gt;x()&lt;/script&gt;" in banner
    assert "drift: &lt;b&gt;" in banner
    assert drift_report.with_banner("<html><body class='x'><p>r</p></body>", "<i>b</i>") == (
        "<html><body class='x'><i>b</i><p>r</p></body>"
    )


def test_sample_frame_is_seeded_and_keeps_order() -> None:
    frame = mixed_frame(1000, 9)
    first, second = drift_report.sample_frame(frame, 100), drift_report.sample_frame(frame, 100)
    assert first.index.tolist() == second.index.tolist() == sorted(first.index)
    assert len(first) == 100 and drift_report.sample_frame(frame, 5000) is frame
