"""Evidently's HTML drift report, built with the verdict's own rule (``quality.drift``) as registered stat tests.

Why separate: the verdict (``drift.drift_verdict``) needs no Evidently; only the report does. Each column
of the report is tested by ``register_rule_tests``, which computes the column's statistics with
``drift.column_stats``, so the report shows the verdict's score, floor and verdict per column.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
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


def evidently_report(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    features: Features,
    result: DriftResult,
    *,
    drift_share: float = 0.5,
    prefix: str = "",
) -> Snapshot:
    """Evidently's ``DataDriftPreset`` on the data, each column tested by the registered rule at ``result``'s
    level and floors; logs a warning for any column whose score or verdict differs from ``result``."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    names = features.all
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
        cur_ds = Dataset.from_pandas(current[names].reset_index(drop=True), data_definition=definition)
        ref_ds = Dataset.from_pandas(reference[names].reset_index(drop=True), data_definition=definition)
        snapshot = Report([preset], include_tests=True).run(cur_ds, ref_ds)
        parsed = parse_value_drift(snapshot.dict())
    except Exception as exc:  # Evidently raises ValueError/TypeError/KeyError for unusable data
        raise DriftError(f"{prefix}Evidently could not compute drift: {_one_line(exc)}") from exc
    for column, ours in result.columns.items():
        _, _, score, drifted = parsed.get(column, ("", math.nan, math.nan, None))
        if drifted != ours.drifted or score != ours.score:
            log.warning(
                "%s%s: Evidently's report says %s drifted=%s, the verdict %s", prefix, column, score, drifted, ours
            )
    return snapshot


def report_html(snapshot: Snapshot | None) -> bytes:
    """Evidently's standalone HTML report of a snapshot, as UTF-8 bytes."""
    if snapshot is None:
        raise DriftError("no Evidently snapshot: compute_drift(..., with_report=True) makes one")
    fd, path = tempfile.mkstemp(suffix=".html", prefix="modelcare-drift-")
    os.close(fd)
    try:
        snapshot.save_html(path)
        with open(path, "rb") as handle:
            return handle.read()
    finally:
        os.unlink(path)
