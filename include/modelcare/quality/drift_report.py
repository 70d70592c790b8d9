"""Evidently's HTML drift report, built with the verdict's own rule (``quality.drift``) as registered stat tests.

Why separate: the verdict (``drift.drift_verdict``) needs no Evidently; only the report does. Each column
of the report is tested by ``register_rule_tests``, which computes the column's statistics with
``drift.column_stats``, so the report shows the verdict's score, floor and verdict per column.

Why a sample: Evidently's ``Report.run`` computes every column three times and builds plot data, so its
cost grows with the batch (over 100 s CPU and 2.3 GB at 1M + 1M rows x 25). The report is therefore built from a
seeded sample of at most ``REPORT_SAMPLE_ROWS`` rows of each frame (a few seconds at any size); the verdict
stays the full-data one. A sampled report says "sample of N rows" on its face and shows the verdict's
full-data scores above Evidently's (``report_html``); an unsampled one shows the verdict's numbers exactly.
"""

from __future__ import annotations

import html
import logging
import math
import os
import re
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from include.modelcare.errors import DriftError
from include.modelcare.quality.drift import (
    CATEGORICAL_TEST,
    CHI2_CONTINGENCY,
    NUMERICAL_TEST,
    aligned_counts,
    column_stats,
)

if TYPE_CHECKING:
    import pandas as pd
    from evidently.core.report import Snapshot
    from evidently.legacy.calculations.stattests.registry import StatTest

    from include.modelcare.config.schema import Features
    from include.modelcare.quality.drift import DriftResult

log = logging.getLogger(__name__)

REPORT_SAMPLE_ROWS = 20_000
"""At most this many rows of the reference and of the current batch go into Evidently's report (seeded
sample): about 2-4 s CPU here at any batch size (``benchmarks/bench_drift.py``)."""
SAMPLE_SEED = 13
"""Seed of the report's row sample, so a re-run of the same day writes the same report."""


def chi2_contingency_test(
    reference_data: pd.Series, current_data: pd.Series, feature_type: Any, threshold: float
) -> tuple[float, bool]:
    """Chi-square test of homogeneity of two samples of a discrete column: (p-value, p < threshold)."""
    from include.modelcare.quality.stattests import chi2_pvalue

    p_value = chi2_pvalue(*aligned_counts(reference_data, current_data))
    return p_value, p_value < threshold


_REGISTERED: dict[str, StatTest] = {}


def _register(name: str, display_name: str, func: Any, default_threshold: float) -> str:
    if name not in _REGISTERED:
        from evidently.legacy.calculations.stattests.registry import StatTest, register_stattest
        from evidently.legacy.core import ColumnType

        stat_test = StatTest(
            name=name,
            display_name=display_name,
            allowed_feature_types=[ColumnType.Categorical, ColumnType.Numerical],
            default_threshold=default_threshold,
        )
        register_stattest(stat_test, func)
        _REGISTERED[name] = stat_test
    return name


def register_chi2_contingency() -> StatTest:
    """Register ``chi2_contingency_test`` with Evidently as ``"chi2_contingency"`` (idempotent) and return it."""
    _register(CHI2_CONTINGENCY, "chi-square contingency p_value", chi2_contingency_test, 0.05)
    return _REGISTERED[CHI2_CONTINGENCY]


def register_rule_tests(level: float) -> dict[bool, str]:
    """Register the rule at the p-value ``level`` as two Evidently stat tests; their names by ``discrete``.

    Each test computes the column's statistics with ``column_stats`` (the verdict's own code) and returns
    (effect, p-value <= level and effect >= threshold); the threshold Evidently passes is the effect floor.
    The level is in the name (``ks_wasserstein(p<=0.002)``) because Evidently passes one threshold only;
    registrations are idempotent, one per distinct level.
    """

    def make(discrete: bool) -> Any:
        def test(reference: pd.Series, current: pd.Series, feature_type: Any, threshold: float) -> tuple[float, bool]:
            p_value, effect = column_stats(reference, current, discrete)
            return effect, bool(p_value <= level and effect >= threshold)

        return test

    names: dict[bool, str] = {}
    for discrete, base, words in (
        (False, NUMERICAL_TEST, "Wasserstein (normed), if KS p"),
        (True, CATEGORICAL_TEST, "Jensen-Shannon, if chi-square p"),
    ):
        name = f"{base}(p<={level!r})"
        names[discrete] = _register(name, f"{words} <= {level:.3g}", make(discrete), 0.1)
    return names


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _as_float(value: Any) -> float:
    """The numeric value of a metric result (a number in 0.7.23; tolerate a ``{"value": x}`` mapping)."""
    if isinstance(value, dict):
        value = value.get("value")
    return math.nan if value is None else float(value)


def parse_value_drift(snapshot_dict: dict[str, Any]) -> dict[str, tuple[str, float, float, bool | None]]:
    """Per-column (method, threshold, score, drifted) from ``Snapshot.dict()`` of a ``DataDriftPreset`` run.

    In Evidently 0.7.23 each column is a ``ValueDrift`` metric: ``config`` holds ``column``, ``method`` and
    ``threshold`` and ``value`` is the score. With ``include_tests=True`` each also has a test (``id``
    ``"drift"``) whose ``metric_config.params`` is that config and whose ``status`` (a ``TestStatus`` enum,
    not a string) is ``FAIL`` when the stat test itself reported drift; ``drifted`` is None without it.
    """
    parsed: dict[str, tuple[str, float, float, bool | None]] = {}
    for metric in snapshot_dict.get("metrics", []):
        cfg = metric.get("config") or {}
        if str(cfg.get("type", "")).endswith(":ValueDrift"):
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


@dataclass(frozen=True)
class DriftReport:
    """Evidently's snapshot of a ``compute_drift`` run, the full-data verdict it illustrates, and the rows the
    report was built from (fewer than the data's when sampled)."""

    snapshot: Snapshot
    result: DriftResult
    reference_rows: int
    """Reference rows in the report (``result.reference_rows`` in the data)."""
    current_rows: int
    """Current rows in the report (``result.current_rows`` in the data)."""

    @property
    def sampled(self) -> bool:
        return (self.reference_rows, self.current_rows) != (self.result.reference_rows, self.result.current_rows)

    def dict(self) -> dict[str, Any]:
        """``Snapshot.dict()`` of the report (its metrics and tests)."""
        return self.snapshot.dict()


def sample_frame(frame: pd.DataFrame, rows: int, seed: int = SAMPLE_SEED) -> pd.DataFrame:
    """A seeded sample of at most ``rows`` rows of ``frame``, in the frame's order (the frame itself if smaller)."""
    import numpy as np

    if len(frame) <= rows:
        return frame
    positions = np.sort(np.random.default_rng(seed).choice(len(frame), size=rows, replace=False))
    return frame.iloc[positions]


def evidently_report(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    features: Features,
    result: DriftResult,
    *,
    drift_share: float = 0.5,
    prefix: str = "",
    sample_rows: int | None = None,
) -> DriftReport:
    """Evidently's ``DataDriftPreset`` on (a seeded sample of at most ``sample_rows``, default
    ``REPORT_SAMPLE_ROWS``, rows of) the data, each column tested by the registered rule at ``result``'s level
    and floors. Unsampled, logs a warning for any column whose score or verdict differs from ``result``."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    names = features.all
    limit = REPORT_SAMPLE_ROWS if sample_rows is None else sample_rows
    current = sample_frame(current, limit, SAMPLE_SEED)[names]  # rows first: the full frame is never copied
    reference = sample_frame(reference, limit, SAMPLE_SEED + 1)[names]
    sampled = (len(reference), len(current)) != (result.reference_rows, result.current_rows)
    if sampled:
        log.info(
            "%sEvidently report on a sample: %d of %d reference, %d of %d current rows",
            prefix,
            len(reference),
            result.reference_rows,
            len(current),
            result.current_rows,
        )
    level = next(iter(result.columns.values())).p_threshold
    tests = register_rule_tests(level)
    preset = DataDriftPreset(
        columns=names,
        drift_share=drift_share,
        per_column_method={c: tests[result.columns[c].method == CATEGORICAL_TEST] for c in names},
        per_column_threshold={c: result.columns[c].threshold for c in names},
    )
    definition = DataDefinition(
        numerical_columns=list(features.numerical), categorical_columns=list(features.categorical)
    )
    try:
        cur_ds = Dataset.from_pandas(current.reset_index(drop=True), data_definition=definition)
        ref_ds = Dataset.from_pandas(reference.reset_index(drop=True), data_definition=definition)
        snapshot = Report([preset], include_tests=True).run(cur_ds, ref_ds)
        parsed = parse_value_drift(snapshot.dict())
    except Exception as exc:  # Evidently raises ValueError/TypeError/KeyError for unusable data
        raise DriftError(f"{prefix}Evidently could not compute drift: {_one_line(exc)}") from exc
    for column, ours in result.columns.items():
        _, _, score, drifted = parsed.get(column, ("", math.nan, math.nan, None))
        if not sampled and (drifted != ours.drifted or score != ours.score):
            log.warning(
                "%s%s: Evidently's report says %s drifted=%s, the verdict %s", prefix, column, score, drifted, ours
            )
    return DriftReport(snapshot, result, reference_rows=len(reference), current_rows=len(current))


def _rows(part: int, whole: int, what: str) -> str:
    return f"all {whole} rows of the {what}" if part == whole else f"a sample of {part} rows of the {what} (of {whole})"


def sample_banner(report: DriftReport) -> str:
    """The HTML put above a sampled report: that it is a sample of N rows, and the verdict's full-data
    scores per column. Every data- or config-derived text is escaped."""
    result = report.result
    largest = max(report.reference_rows, report.current_rows)
    head = (
        f"Evidently report built from a seeded sample of {largest} rows: "
        f"{_rows(report.reference_rows, result.reference_rows, 'reference')} and "
        f"{_rows(report.current_rows, result.current_rows, 'current batch')}. Its scores and plots are the "
        f"sample's; the verdict is on the full data: {result.reason}"
    )
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td style='padding:2px 8px'>{html.escape(text)}</td>"
            for text in (
                c.name,
                c.method,
                f"{c.score:.6g}",
                f"{c.threshold:g}",
                f"{c.p_value:.3g}",
                f"{c.p_threshold:.3g}",
                "yes" if c.drifted else "no",
            )
        )
        + "</tr>"
        for c in result.columns.values()
    )
    header = "".join(
        f"<th style='padding:2px 8px;text-align:left'>{html.escape(t)}</th>"
        for t in ("column", "test", "full-data score", "threshold", "p-value", "p level", "drifted")
    )
    return (
        "<div id='modelcare-sample-banner' style='font-family:sans-serif;background:#fff4ce;"
        "border:1px solid #c9a400;padding:12px;margin:8px'>"
        f"<p style='margin:0 0 8px 0'><strong>{html.escape(head)}</strong></p>"
        f"<table style='border-collapse:collapse'><thead><tr>{header}</tr></thead><tbody>{rows}</tbody></table>"
        "</div>"
    )


def with_banner(page: str, banner: str) -> str:
    """``page`` with ``banner`` right after its opening ``<body>`` tag (at the top when it has none)."""
    body = re.search(r"<body[^>]*>", page, flags=re.IGNORECASE)
    cut = body.end() if body else 0
    return page[:cut] + banner + page[cut:]


def report_html(report: DriftReport | Snapshot | None) -> bytes:
    """Evidently's standalone HTML report, as UTF-8 bytes; a sampled ``DriftReport`` gets ``sample_banner``."""
    if report is None:
        raise DriftError("no Evidently snapshot: compute_drift(..., with_report=True) makes one")
    snapshot = report.snapshot if isinstance(report, DriftReport) else report
    fd, path = tempfile.mkstemp(suffix=".html", prefix="modelcare-drift-")
    os.close(fd)
    try:
        snapshot.save_html(path)
        with open(path, encoding="utf-8") as handle:
            page = handle.read()
    finally:
        os.unlink(path)
    if isinstance(report, DriftReport) and report.sampled:
        page = with_banner(page, sample_banner(report))
    return page.encode("utf-8")
