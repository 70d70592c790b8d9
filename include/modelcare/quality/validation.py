"""Data-quality validation of one incoming batch with Great Expectations (GX Core 1.x).

``validate_frame`` builds the model's rules (``rules.build_rules``), turns them into one GX
expectation suite and runs it on the batch in an ephemeral context; the outcome is a
``ValidationResult`` of one ``CheckResult`` per rule, in rule order.

Notes on GX 1.24.1 (verified against the installed source):

* Column names are resolved case-insensitively and the first match wins, so a batch with both
  ``Age`` and ``age`` would check the wrong one. Only the configured columns (exact names) are
  handed to GX.
* Which dtype each column is handed over in, and why, is in ``gx_columns``: no expectation calls
  Python per value on a batch that passes (before: GX's type check mapped a function over every value
  of the text columns).
* Every column map expectation first filters the batch with ``df[df[column].notnull()]``, which
  copies every column of the frame it is given (half the run at 1M rows x 26 columns, and it grows
  with rows x columns squared). So the suite runs as one batch per column (a one-column frame sharing
  the batch's buffers) plus one for the table-level rules; no column check reads another column, so
  the results are those of a single batch.
* GX fingerprints every pandas batch under 1 GB by hashing all of it, for metadata nobody reads;
  that is turned off while the suite runs (``_no_batch_fingerprint``).
* Results do not come back in suite order; each expectation carries its rule index in ``meta``.

Two checks are not run by GX. ``extra_columns`` (see ``rules``) compares the batch's own column
names with the allowed ones; under ``validation.extra_columns: warn`` it passes and carries a
``warning`` naming the extra columns, which the headline repeats. And the type check of a text
column whose dtype already shows every value is a ``str`` is settled by that dtype
(``gx_columns.text_as_category``), with the figures GX's per-value check reports for such a column.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from include.modelcare.errors import DataError
from include.modelcare.quality.gx_columns import columns_for_gx, is_numeric
from include.modelcare.quality.rules import Rule, build_rules, percent_text, plain_json, rows_text

if TYPE_CHECKING:
    import pandas as pd

    from include.modelcare.config.schema import ModelConfig

log = logging.getLogger(__name__)


# Type names ExpectColumnValuesToBeInTypeList accepts for pandas in 1.24.1: numpy dtype names match
# numpy columns, "<X>Dtype" the pandas nullable dtypes, and "int"/"float"/"str" the Python values
# of an object column (checked value by value). "bool" is deliberately not numeric.
NUMERIC_TYPES: tuple[str, ...] = (
    *(f"{kind}{bits}" for kind in ("int", "uint") for bits in (8, 16, 32, 64)),
    "float16",
    "float32",
    "float64",
    *(f"{kind}{bits}Dtype" for kind in ("Int", "UInt") for bits in (8, 16, 32, 64)),
    "Float32Dtype",
    "Float64Dtype",
    "int",
    "float",
)
STRING_TYPES: tuple[str, ...] = ("str", "StringDtype")

MAX_LISTED = 10  # failures spelled out in the headline
SAMPLE_SIZE = 5  # distinct unexpected values kept per check
SAMPLED_KINDS = frozenset({"type", "between", "in_set", "unique"})
_SUITE_META_KEY = "modelcare_rule"


@dataclass
class CheckResult:
    """Outcome of one rule on one batch."""

    name: str  # GX expectation type, e.g. "expect_column_values_to_be_between"
    kind: str
    column: str | None
    success: bool
    description: str
    source: str
    unexpected_count: int | None = None
    unexpected_percent: float | None = None  # share of the rows considered (non-null rows for value checks)
    observed: Any = None
    sample: list[Any] = field(default_factory=list)  # a few unexpected values
    skipped: bool = False  # not run (e.g. its column is missing); success is then False
    reason: str | None = None  # why it was skipped, or the error GX raised
    warning: str | None = None  # passed, but worth telling (e.g. extra columns under "warn")
    params: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        """Description with the figures, e.g. ``age between 18 and 100 (12 rows, 1.2%)``."""
        if self.skipped:
            return f"{self.description} (not run: {self.reason})"
        if self.success:
            return self.description
        if self.reason:
            return f"{self.description} (error: {self.reason})"
        if self.kind == "columns":
            missing = (self.observed or {}).get("missing", [])
            return f"{self.description} (missing: {', '.join(missing)})"
        if self.kind == "extra_columns":
            return f"{self.description} (extra: {listed((self.observed or {}).get('extra', []))})"
        if self.kind == "row_count":
            return f"{self.description} (observed {self.observed:,})"
        if self.kind == "type" and self.unexpected_count is None:
            return f"{self.description} (dtype {self.observed})"
        if self.kind == "unique":
            count = self.unexpected_count or 0
            return f"{self.description} ({rows_text(count)} share{'s' if count == 1 else ''} a value)"
        figures = rows_text(self.unexpected_count or 0)
        if self.unexpected_percent is not None:
            figures += f", {percent_text(self.unexpected_percent)}"
        if self.sample:
            figures += ": " + ", ".join(repr(v) for v in self.sample[:3])
        return f"{self.description} ({figures})"


@dataclass
class ValidationResult:
    """Outcome of every check on one batch."""

    success: bool
    rows: int
    checks: list[CheckResult]

    @property
    def failed(self) -> list[CheckResult]:
        """Checks that ran and failed."""
        return [c for c in self.checks if not c.success and not c.skipped]

    @property
    def skipped(self) -> list[CheckResult]:
        """Checks that could not run (their column is missing or unusable)."""
        return [c for c in self.checks if c.skipped]

    @property
    def warnings(self) -> list[str]:
        """What passed checks want said (e.g. extra columns under ``validation.extra_columns: warn``)."""
        return [c.warning for c in self.checks if c.warning]

    def headline(self) -> str:
        """One line with the numbers, for logs, alerts and exception messages."""
        total, rows = len(self.checks), rows_text(self.rows)
        warned = "".join(f"; warning: {w}" for w in self.warnings)
        if self.success:
            return f"all {total} checks passed on {rows}{warned}"
        failed, skipped = self.failed, self.skipped
        text = f"{len(failed)} of {total} checks failed on {rows}"
        if skipped:
            text += f", {len(skipped)} not run"
        parts = [c.summary() for c in failed[:MAX_LISTED]]
        if len(failed) > MAX_LISTED:
            parts.append(f"and {len(failed) - MAX_LISTED} more")
        if skipped:
            columns = sorted({c.column for c in skipped if c.column})
            parts.append(f"not run: {len(skipped)} check(s) on {listed(columns)}")
        return text + ": " + "; ".join(parts) + warned

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (plain ints, floats, strings, lists, dicts)."""
        return {
            "success": self.success,
            "rows": self.rows,
            "checks_total": len(self.checks),
            "checks_failed": len(self.failed),
            "checks_skipped": len(self.skipped),
            "headline": self.headline(),
            "warnings": self.warnings,
            "checks": [plain_json(asdict(c)) for c in self.checks],
        }


# -- running --------------------------------------------------------------------------------------
def validate_frame(frame: pd.DataFrame, config: ModelConfig, reference: pd.DataFrame | None = None) -> ValidationResult:
    """Validate one batch against the model's rules with Great Expectations."""
    import time

    started = time.monotonic()
    duplicated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    if duplicated:
        raise DataError(f"{config.name}: batch has duplicate column names: {', '.join(duplicated)}")
    rules = build_rules(config, reference)
    present = set(frame.columns)
    columns, text_by_dtype = columns_for_gx(frame, config)

    results: dict[int, CheckResult] = {}
    runnable: list[tuple[int, Rule]] = []
    for index, rule in enumerate(rules):
        if rule.kind == "extra_columns":  # on the batch's own column names, not through GX
            results[index] = _extra_columns_check(rule, list(frame.columns))
        elif reason := _skip_reason(rule, present, columns):
            results[index] = _check(rule, success=False, skipped=True, reason=reason)
        elif rule.kind == "type" and rule.column in text_by_dtype:
            results[index] = _text_type_check(rule, frame[rule.column], columns[rule.column])
        else:
            runnable.append((index, rule))

    results.update(_run_gx(columns, frame.index, runnable, frame, config.name))
    checks = [results[i] for i in range(len(rules))]
    result = ValidationResult(success=all(c.success for c in checks), rows=len(frame), checks=checks)
    log.info("%s: %s (%.2f s)", config.name, result.headline(), time.monotonic() - started)
    return result


def _skip_reason(rule: Rule, present: set[Any], columns: Mapping[str, pd.Series]) -> str | None:
    if rule.column is None:
        return None
    if rule.column not in present:
        return f"column {rule.column} missing"
    if rule.kind == "between" and not is_numeric(columns[rule.column].dtype):
        return f"column {rule.column} is not numeric (dtype {columns[rule.column].dtype})"
    return None


def _text_type_check(rule: Rule, original: pd.Series, text: pd.Series) -> CheckResult:
    """The type check of a text column its dtype settles: passed, with the figures GX's per-value check
    gives a column of ``str`` (none unexpected; no share when every value is null)."""
    percent = 0.0 if bool(text.notna().any()) else None
    return _check(rule, success=True, unexpected_count=0, unexpected_percent=percent, observed=str(original.dtype))


def _extra_columns_check(rule: Rule, columns: list[Any]) -> CheckResult:
    """Columns beyond the allowed ones (exact names): a failure under "refuse", a warning under "warn"."""
    allowed = set(rule.params["allowed"])
    extra = sorted(str(c) for c in columns if c not in allowed)
    if not extra:
        return _check(rule, success=True, observed={"extra": []})
    if rule.params["on_extra"] == "warn":
        text = f"extra columns not in the contract (ignored): {listed(extra)}"
        return _check(rule, success=True, observed={"extra": extra}, warning=text)
    return _check(rule, success=False, observed={"extra": extra})


def listed(names: list[str]) -> str:
    """``a, b, c`` (the first ``MAX_LISTED``, then ``and N more``)."""
    more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
    return ", ".join(names[:MAX_LISTED]) + more


def _quiet_gx_logging() -> None:
    """Keep GX at WARNING unless configured: it logs ~150 INFO lines on import and more per context."""
    gx_logger = logging.getLogger("great_expectations")
    if gx_logger.level == logging.NOTSET:
        gx_logger.setLevel(logging.WARNING)
    # This module sets its own logger to INFO on import ("Created temporary directory ... for
    # ephemeral docs site" on every context); a level anyone else chose is left alone.
    import great_expectations.data_context.types.base as gx_base

    if gx_base.logger.level == logging.INFO:
        gx_base.logger.setLevel(logging.NOTSET)


@contextmanager
def _no_batch_fingerprint() -> Iterator[None]:
    """GX fingerprints every pandas batch under 1 GB (``hash_pandas_object`` of every row and the index,
    then md5) into metadata nobody reads: 30% of a run with one batch per column. Off while we run."""
    from great_expectations.execution_engine import pandas_execution_engine as engine

    threshold = getattr(engine, "HASH_THRESHOLD", None)
    if threshold is None:  # a GX without it: nothing to turn off
        yield
        return
    engine.HASH_THRESHOLD = 0
    try:
        yield
    finally:
        engine.HASH_THRESHOLD = threshold


def _expectation(rule: Rule, index: int) -> Any:
    """The GX expectation for one rule, tagged with the rule's index."""
    import great_expectations.expectations as gxe

    p, meta = rule.params, {_SUITE_META_KEY: index}
    col = rule.column or ""
    if rule.kind == "columns":
        return gxe.ExpectTableColumnsToMatchSet(column_set=list(p["required"]), exact_match=False, meta=meta)
    if rule.kind == "row_count":
        return gxe.ExpectTableRowCountToBeBetween(min_value=p["min_value"], max_value=p.get("max_value"), meta=meta)
    if rule.kind == "type":
        types = NUMERIC_TYPES if p["expected"] == "numeric" else STRING_TYPES
        return gxe.ExpectColumnValuesToBeInTypeList(column=col, type_list=list(types), meta=meta)
    if rule.kind == "not_null":
        # GX passes when (rows - nulls) / rows >= mostly; in floating point 1 - 0.18 > 820 / 1000, so
        # without the epsilon a batch with exactly the tolerated share of nulls would fail.
        mostly = max(0.0, 1.0 - p["max_null_fraction"] - 1e-12) if p["max_null_fraction"] > 0 else 1.0
        return gxe.ExpectColumnValuesToNotBeNull(column=col, mostly=mostly, meta=meta)
    if rule.kind == "between":
        return gxe.ExpectColumnValuesToBeBetween(
            column=col, min_value=p.get("min_value"), max_value=p.get("max_value"), meta=meta
        )
    if rule.kind == "in_set":
        mostly = p.get("mostly", 1.0)
        return gxe.ExpectColumnValuesToBeInSet(column=col, value_set=list(p["value_set"]), mostly=mostly, meta=meta)
    if rule.kind == "unique":
        return gxe.ExpectColumnValuesToBeUnique(column=col, meta=meta)
    raise ValueError(f"unknown rule kind {rule.kind!r}")  # pragma: no cover


def _run_gx(
    columns: Mapping[str, pd.Series], index: pd.Index, runnable: list[tuple[int, Rule]], frame: pd.DataFrame, name: str
) -> dict[int, CheckResult]:
    """Run the runnable rules in an ephemeral context, one batch per column (see the module notes) and
    one for the table-level rules; results by rule index."""
    if not runnable:
        return {}
    _quiet_gx_logging()
    import great_expectations as gx
    import pandas as pd
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    # The legacy Validator behind ValidationDefinition.run reads this to decide on tqdm bars.
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch_definition = (
        context.data_sources.add_pandas(f"{name}_batch")
        .add_dataframe_asset(name)
        .add_batch_definition_whole_dataframe("whole_batch")
    )
    groups: dict[str | None, list[tuple[int, Rule]]] = {}
    for position, rule in runnable:
        groups.setdefault(rule.column, []).append((position, rule))
    rules = dict(runnable)
    results: dict[int, CheckResult] = {}
    with _no_batch_fingerprint():
        for number, (column, members) in enumerate(groups.items()):
            # copy=False: the frame shares the Series' buffers (the table batch only needs names and rows).
            data = pd.DataFrame(dict(columns) if column is None else {column: columns[column]}, index=index, copy=False)
            # Passing every expectation at construction stores the suite once; suite.add_expectation
            # would re-serialise the whole suite on each call (half the run time on 100k rows).
            expectations = [_expectation(rule, position) for position, rule in members]
            suite = context.suites.add(gx.ExpectationSuite(name=f"{name}_quality_{number}", expectations=expectations))
            definition = context.validation_definitions.add(
                gx.ValidationDefinition(name=f"{name}_validation_{number}", data=batch_definition, suite=suite)
            )
            run = definition.run(batch_parameters={"dataframe": data}, result_format="BASIC")
            for gx_result in run.results:
                meta = (gx_result.expectation_config.meta or {}) if gx_result.expectation_config else {}
                if _SUITE_META_KEY in meta:
                    position = int(meta[_SUITE_META_KEY])
                    results[position] = _from_gx(rules[position], gx_result, frame)
    for position, rule in runnable:
        if position not in results:  # GX drops (and only logs) an expectation it finds invalid
            results[position] = _check(rule, success=False, reason="no result from Great Expectations")
    return results


def _from_gx(rule: Rule, gx_result: Any, frame: pd.DataFrame) -> CheckResult:
    """A CheckResult from one GX ExpectationValidationResult."""
    raw: dict[str, Any] = dict(gx_result.result or {})
    error = _exception_message(gx_result.exception_info)
    observed: Any = raw.get("observed_value")
    if rule.kind == "columns":
        mismatched = (raw.get("details") or {}).get("mismatched") or {}
        observed = {"missing": sorted(mismatched.get("missing") or [])}
    elif rule.kind == "type":
        observed = str(frame[rule.column].dtype)  # the batch's dtype, not GX's internal type name
    count = raw.get("unexpected_count")
    percent = raw.get("unexpected_percent")
    sample: list[Any] = []
    if rule.kind in SAMPLED_KINDS:  # (a not-null check's unexpected values are all None)
        for value in plain_json(list(raw.get("partial_unexpected_list") or [])):
            if value not in sample and len(sample) < SAMPLE_SIZE:
                sample.append(value)
    return _check(
        rule,
        success=bool(gx_result.success) and error is None,
        reason=error,
        unexpected_count=None if count is None else int(count),
        unexpected_percent=None if percent is None else float(percent),
        observed=observed,
        sample=sample,
    )


def _check(
    rule: Rule, *, success: bool, skipped: bool = False, reason: str | None = None, **figures: Any
) -> CheckResult:
    return CheckResult(
        name=rule.expectation_type,
        kind=rule.kind,
        column=rule.column,
        success=success,
        description=rule.describe(),
        source=rule.source,
        skipped=skipped,
        reason=reason,
        params=plain_json(dict(rule.params)),
        **figures,
    )


def _exception_message(info: Any) -> str | None:
    """The error GX caught, from either shape of ``exception_info`` (flat, or keyed by metric)."""
    if not isinstance(info, Mapping):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "error")
    for value in info.values():
        if isinstance(value, Mapping) and value.get("raised_exception"):
            return str(value.get("exception_message") or "error")
    return None
