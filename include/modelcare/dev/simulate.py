"""Seeded simulator of the sample ``customer_churn`` model's data, with drift and data-quality faults.

``generate_batch`` draws a realistic churn frame from a fixed generative story (contract drives
tenure, plan drives charges and data usage, churn is a logistic function of the features);
a ``Scenario`` shifts it (covariate, categorical, concept drift) or breaks it (nulls,
out-of-range values, duplicate ids, missing columns, unknown categories). The same seed gives
the same customers whatever the scenario: a drifted batch is the clean batch, shifted, and a
faulty batch is the clean batch with exactly ``round(fraction * n_rows)`` cells broken per column.

``seed_model`` writes a baseline reference, weekly batches and their labels to a model's S3 layout.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from include.modelcare.storage.tables import guess_format, write_table

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.storage.objects import ObjectStore

log = logging.getLogger(__name__)

ID_COLUMN = "customer_id"
TARGET = "churned"
NUMERICAL = ("tenure_months", "monthly_charges", "total_charges", "support_calls", "data_usage_gb", "age")
CATEGORIES: dict[str, tuple[str, ...]] = {
    "plan": ("basic", "standard", "premium"),
    "contract": ("month_to_month", "one_year", "two_year"),
    "payment_method": ("electronic_check", "mailed_check", "bank_transfer", "credit_card"),
    "region": ("north", "south", "east", "west"),
}
CATEGORICAL = tuple(CATEGORIES)
COLUMNS = (ID_COLUMN, *NUMERICAL, *CATEGORICAL, TARGET)
"""Columns of a clean batch, in order."""

INTEGER_COLUMNS = ("tenure_months", "support_calls", "age", TARGET)

BASE_PROBS: dict[str, tuple[float, ...]] = {
    "plan": (0.45, 0.35, 0.20),
    "contract": (0.50, 0.30, 0.20),
    "payment_method": (0.35, 0.20, 0.225, 0.225),
    "region": (0.30, 0.25, 0.25, 0.20),
}
# ``categorical_shift`` mixes these columns toward these distributions (more month-to-month, more e-checks).
SHIFTED_PROBS: dict[str, tuple[float, ...]] = {
    "contract": (0.90, 0.07, 0.03),
    "payment_method": (0.70, 0.10, 0.10, 0.10),
}
# Where shifted numeric values are clipped, so that drift alone never produces out-of-range values.
DOMAIN: dict[str, tuple[float, float | None]] = {
    "tenure_months": (0, 120),
    "monthly_charges": (0, None),
    "total_charges": (0, None),
    "support_calls": (0, 50),
    "data_usage_gb": (0, None),
    "age": (18, 100),
}
# Values that ``unknown_category_fraction`` writes: plausible, but outside the known value sets.
UNKNOWN_VALUES = {"plan": "enterprise", "contract": "three_year", "payment_method": "crypto", "region": "central"}

_TENURE_SCALE = {"month_to_month": 14.0, "one_year": 32.0, "two_year": 50.0}
_CHARGE_BASE = {"basic": 30.0, "standard": 65.0, "premium": 105.0}
_USAGE_MEDIAN = {"basic": 4.0, "standard": 12.0, "premium": 30.0}
# Logistic churn models: the production relation and the one concept drift blends toward
# (tenure no longer protective but a risk, the sign of charges flipped, contract type irrelevant, support
# calls matter more). The new relation is as learnable as the old one (a model trained on it reaches
# roc_auc ~0.77 from 3 weeks of mixed data, the old model ~0.37 on it), so retraining genuinely helps.
_INTERCEPT, _INTERCEPT_DRIFTED = -1.45, -1.6
_CONTRACT_EFFECT = {"month_to_month": 0.8, "one_year": -0.4, "two_year": -1.2}
_DRIFTED = {"tenure": 1.2, "charges": -0.55, "calls": 0.8}


@dataclass(frozen=True)
class Scenario:
    """How a batch departs from the clean data; every knob at 0 is the clean data.

    Drift: ``covariate_shift`` moves ``shift_features`` by that many (clean) standard deviations;
    ``categorical_shift`` (0..1) mixes ``contract`` and ``payment_method`` toward mostly
    month-to-month / electronic check; ``concept_drift`` (0..1) blends the label's relation toward
    one where tenure is not protective and higher charges mean less churn.

    Faults (each fraction breaks exactly ``round(fraction * n_rows)`` rows per listed column):
    ``null_fraction`` in ``null_columns``; ``out_of_range_fraction`` in ``out_of_range_columns``
    (negative tenure/charges/usage, age 150, 99 support calls); ``duplicate_id_fraction`` rows reuse
    another row's id; ``unknown_category_fraction`` in ``unknown_category_columns`` (e.g. contract
    ``three_year``); ``drop_columns`` are removed.
    """

    covariate_shift: float = 0.0
    shift_features: tuple[str, ...] = ("monthly_charges", "data_usage_gb")
    categorical_shift: float = 0.0
    concept_drift: float = 0.0
    null_fraction: float = 0.0
    null_columns: tuple[str, ...] = ("monthly_charges",)
    out_of_range_fraction: float = 0.0
    out_of_range_columns: tuple[str, ...] = ("tenure_months", "age")
    duplicate_id_fraction: float = 0.0
    drop_columns: tuple[str, ...] = ()
    unknown_category_fraction: float = 0.0
    unknown_category_columns: tuple[str, ...] = ("contract",)

    def __post_init__(self) -> None:
        for name in (
            "shift_features",
            "null_columns",
            "out_of_range_columns",
            "drop_columns",
            "unknown_category_columns",
        ):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not math.isfinite(self.covariate_shift):
            raise ValueError(f"covariate_shift must be finite, got {self.covariate_shift}")
        for name in (
            "categorical_shift",
            "concept_drift",
            "null_fraction",
            "out_of_range_fraction",
            "unknown_category_fraction",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if not 0.0 <= self.duplicate_id_fraction <= 0.5:
            raise ValueError(f"duplicate_id_fraction must be between 0 and 0.5, got {self.duplicate_id_fraction}")
        for name, allowed in (
            ("shift_features", NUMERICAL),
            ("null_columns", COLUMNS),
            ("out_of_range_columns", NUMERICAL),
            ("unknown_category_columns", CATEGORICAL),
            ("drop_columns", COLUMNS),
        ):
            unknown = sorted(set(getattr(self, name)) - set(allowed))
            if unknown:
                raise ValueError(f"{name}: unknown column(s) {', '.join(unknown)} (known: {', '.join(allowed)})")

    @classmethod
    def clean(cls) -> Scenario:
        """No drift, no faults."""
        return cls()

    @classmethod
    def drifted(cls) -> Scenario:
        """Covariate shift of 1 std on charges and usage plus a 0.5 contract/payment mix: Evidently flags both."""
        return cls(covariate_shift=1.0, categorical_shift=0.5)

    @classmethod
    def concept_drifted(cls) -> Scenario:
        """Same features, different label relation (only labels reveal it)."""
        return cls(concept_drift=1.0)

    @classmethod
    def faulty(cls) -> Scenario:
        """20% null charges, 5% negative tenure and 5% age 150, 2% duplicate ids."""
        return cls(null_fraction=0.2, out_of_range_fraction=0.05, duplicate_id_fraction=0.02)

    @property
    def is_clean(self) -> bool:
        return self == Scenario()


def customer_ids(n_rows: int, id_offset: int = 0) -> list[str]:
    """``C0000001``-style ids ``id_offset + 1 .. id_offset + n_rows``."""
    return [f"C{i:07d}" for i in range(id_offset + 1, id_offset + n_rows + 1)]


def _categorical(rng: np.random.Generator, n: int, column: str, shift: float) -> np.ndarray:
    """Draw a category by inverse CDF, so a shifted mix moves only the customers it has to."""
    import numpy as np

    probs = np.asarray(BASE_PROBS[column])
    if column in SHIFTED_PROBS and shift:
        probs = (1 - shift) * probs + shift * np.asarray(SHIFTED_PROBS[column])
    cumulative = np.cumsum(probs)
    idx = np.minimum(np.searchsorted(cumulative / cumulative[-1], rng.random(n), side="right"), len(probs) - 1)
    return np.asarray(CATEGORIES[column], dtype=object)[idx]


def _shift(values: np.ndarray, column: str, scenario: Scenario) -> np.ndarray:
    """Add ``covariate_shift`` x std to a feature it applies to, then clip to the column's domain."""
    import numpy as np

    if column not in scenario.shift_features or not scenario.covariate_shift:
        return values
    std = float(np.std(values)) or 1.0
    low, high = DOMAIN[column]
    return np.clip(values + scenario.covariate_shift * std, low, high)


def _poisson_quantile(uniform: np.ndarray, lam: np.ndarray, cap: int = 50) -> np.ndarray:
    """Poisson draws by inverse CDF (one draw per row whatever ``lam``), capped at ``cap``."""
    import numpy as np

    out = np.zeros(len(uniform))
    k = np.arange(cap + 1)
    log_factorial = np.cumsum(np.log(np.maximum(k, 1)))
    for value in np.unique(lam):
        cdf = np.cumsum(np.exp(k * np.log(value) - value - log_factorial))
        mask = lam == value
        out[mask] = np.minimum(np.searchsorted(cdf, uniform[mask], side="right"), cap)
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.asarray(1.0 / (1.0 + np.exp(-x)))


class _RowPicker:
    """Disjoint random rows per column, so faults on one column never overwrite each other."""

    def __init__(self, rng: np.random.Generator, n_rows: int) -> None:
        self._rng = rng
        self._n = n_rows
        self._perm: dict[str, np.ndarray] = {}
        self._used: dict[str, int] = {}

    def take(self, column: str, count: int) -> np.ndarray:
        if column not in self._perm:
            self._perm[column] = self._rng.permutation(self._n)
            self._used[column] = 0
        start = self._used[column]
        stop = min(start + count, self._n)
        self._used[column] = stop
        return self._perm[column][start:stop]


def _out_of_range_values(column: str, rng: np.random.Generator, count: int, current: np.ndarray) -> np.ndarray:
    import numpy as np

    if column == "age":
        return np.full(count, 150)
    if column == "support_calls":
        return np.full(count, 99)
    if column == "tenure_months":
        return -rng.integers(1, 25, size=count)
    # charges, usage: negative amounts
    return -np.round(np.abs(current) + 1.0, 2)


def _clean_frame(n_rows: int, seed: int, scenario: Scenario, id_offset: int) -> pd.DataFrame:
    """The batch with drift applied but no faults."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n = n_rows
    cat_shift = scenario.categorical_shift
    plan = _categorical(rng, n, "plan", cat_shift)
    contract = _categorical(rng, n, "contract", cat_shift)
    payment = _categorical(rng, n, "payment_method", cat_shift)
    region = _categorical(rng, n, "region", cat_shift)

    # Every random draw happens whatever the scenario, in the same order: same seed, same customers.
    tenure_draw = rng.gamma(2.0, 0.5, n)
    charge_noise = rng.normal(0.0, 9.0, n)
    total_noise = rng.uniform(0.93, 1.07, n)
    calls_uniform = rng.random(n)
    usage_noise = rng.normal(0.0, 0.45, n)
    age_draw = rng.normal(44.0, 14.0, n)
    label_uniform = rng.random(n)

    scale = np.array([_TENURE_SCALE[c] for c in contract])
    tenure = np.clip(np.round(tenure_draw * scale), 0, 72)
    tenure = np.round(_shift(tenure, "tenure_months", scenario))

    charges = np.clip(np.array([_CHARGE_BASE[p] for p in plan]) + charge_noise, 18.0, 150.0)
    charges = np.round(_shift(charges, "monthly_charges", scenario), 2)

    total = np.round(_shift(tenure * charges * total_noise, "total_charges", scenario), 2)

    lam = 1.0 + 0.6 * (plan == "basic") + 0.8 * (contract == "month_to_month")
    calls = np.round(_shift(_poisson_quantile(calls_uniform, lam), "support_calls", scenario))

    usage = np.array([_USAGE_MEDIAN[p] for p in plan]) * np.exp(usage_noise)
    usage = np.round(_shift(usage, "data_usage_gb", scenario), 3)

    age = np.clip(np.round(age_draw), 18, 90)
    age = np.round(_shift(age, "age", scenario))

    z_tenure = (tenure - 24.0) / 20.0
    z_charges = (charges - 70.0) / 30.0
    z_calls = (calls - 1.8) / 1.4
    e_check = 0.35 * (payment == "electronic_check")
    logit_now = (
        _INTERCEPT
        - 0.8 * z_tenure
        + 0.55 * z_charges
        + 0.45 * z_calls
        + np.array([_CONTRACT_EFFECT[c] for c in contract])
        + e_check
        - 0.15 * (age - 44.0) / 14.0
    )
    logit_drifted = (
        _INTERCEPT_DRIFTED
        + _DRIFTED["tenure"] * z_tenure
        + _DRIFTED["charges"] * z_charges
        + _DRIFTED["calls"] * z_calls
        + e_check
    )
    c = scenario.concept_drift
    churned = (label_uniform < _sigmoid((1 - c) * logit_now + c * logit_drifted)).astype("int64")

    return pd.DataFrame(
        {
            ID_COLUMN: np.asarray(customer_ids(n, id_offset), dtype=object),
            "tenure_months": tenure.astype("int64"),
            "monthly_charges": charges.astype("float64"),
            "total_charges": total.astype("float64"),
            "support_calls": calls.astype("int64"),
            "data_usage_gb": usage.astype("float64"),
            "age": age.astype("int64"),
            "plan": plan,
            "contract": contract,
            "payment_method": payment,
            "region": region,
            TARGET: churned,
        }
    )


def _inject_faults(frame: pd.DataFrame, seed: int, scenario: Scenario) -> pd.DataFrame:
    """Apply the data-quality faults (not ``drop_columns``) with their own random stream."""
    import numpy as np

    n = len(frame)
    rng = np.random.default_rng([seed, 0xFA17])
    rows = _RowPicker(rng, n)
    frame = frame.copy()

    dups = round(scenario.duplicate_id_fraction * n)
    if dups:
        picked = rows.take(ID_COLUMN, 2 * dups)
        targets, sources = picked[:dups], picked[dups:]
        ids = frame[ID_COLUMN].to_numpy(copy=True)
        ids[targets] = ids[sources]
        frame[ID_COLUMN] = ids

    bad = round(scenario.out_of_range_fraction * n)
    for column in scenario.out_of_range_columns if bad else ():
        idx = rows.take(column, bad)
        values = frame[column].to_numpy(copy=True)
        values[idx] = _out_of_range_values(column, rng, len(idx), values[idx])
        frame[column] = values

    unknown = round(scenario.unknown_category_fraction * n)
    for column in scenario.unknown_category_columns if unknown else ():
        idx = rows.take(column, unknown)
        values = frame[column].to_numpy(copy=True)
        values[idx] = UNKNOWN_VALUES[column]
        frame[column] = values

    nulls = round(scenario.null_fraction * n)
    for column in scenario.null_columns if nulls else ():
        idx = rows.take(column, nulls)
        if frame[column].dtype == object:
            values = frame[column].to_numpy(copy=True)
            values[idx] = None
        else:  # integers become floats to hold NaN, as when pandas reads such a file
            values = frame[column].to_numpy(dtype="float64", copy=True)
            values[idx] = np.nan
        frame[column] = values
    return frame


def _full_batch(n_rows: int, seed: int, scenario: Scenario, id_offset: int) -> pd.DataFrame:
    if n_rows < 1:
        raise ValueError(f"n_rows must be at least 1, got {n_rows}")
    return _inject_faults(_clean_frame(n_rows, seed, scenario, id_offset), seed, scenario)


def generate_batch(n_rows: int, seed: int, scenario: Scenario | None = None, id_offset: int = 0) -> pd.DataFrame:
    """A churn frame of ``n_rows`` rows (columns ``COLUMNS`` minus ``scenario.drop_columns``), label included.

    Deterministic for a given seed and scenario; ids run ``C{id_offset + 1:07d}`` upward.
    """
    scenario = scenario or Scenario()
    frame = _full_batch(n_rows, seed, scenario, id_offset)
    return frame.drop(columns=list(scenario.drop_columns)) if scenario.drop_columns else frame


def _describe(scenario: Scenario) -> str:
    """The knobs that differ from the clean scenario, e.g. ``covariate_shift=1.0``."""
    clean = Scenario()
    changed = [f"{k}={v}" for k, v in vars(scenario).items() if v != getattr(clean, k)]
    return ", ".join(changed) or "clean"


def week_seed(seed: int, week: dt.date) -> int:
    """Seed of one week's batch: depends on the date, not on which other weeks are seeded."""
    return seed * 1_000_003 + week.toordinal()


def labels_uri(config: ModelConfig, day: dt.date) -> str:
    """Where ``seed_model`` puts a batch's labels (id column + target)."""
    return f"{config.paths.labels(day)}part-000.{config.data.format}"


@dataclass(frozen=True)
class SeededModel:
    """URIs that ``seed_model`` wrote."""

    reference: str
    batches: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"reference": self.reference, "batches": dict(self.batches), "labels": dict(self.labels)}


def _to_model_columns(frame: pd.DataFrame, config: ModelConfig) -> pd.DataFrame:
    """Rename the simulator's id and target columns to the model's (and check it has the model's features)."""
    missing = sorted(set(config.data.features.all) - set(COLUMNS))
    if missing:
        raise ValueError(
            f"{config.name}: the simulator has no column(s) {', '.join(missing)} (it knows {', '.join(COLUMNS)})"
        )
    renames = {ID_COLUMN: config.data.id_column, TARGET: config.data.target}
    return frame.rename(columns={k: v for k, v in renames.items() if k != v})


def seed_model(
    store: ObjectStore,
    config: ModelConfig,
    weeks: list[dt.date],
    scenarios: dict[dt.date, Scenario] | None = None,
    *,
    rows_per_batch: int = 2000,
    reference_rows: int = 5000,
    seed: int = 7,
) -> dict[str, Any]:
    """Write a clean labelled reference, one batch per week and each week's labels; return the URIs.

    - reference (with the target): ``config.paths.baseline_reference()``
    - batch: ``config.paths.incoming(week) + "part-000.<format>"`` (target only if ``data.batch_has_target``)
    - labels: ``config.paths.labels(week) + "part-000.<format>"`` (id column + target)

    Same arguments, same bytes: rerunning overwrites every object with identical content.
    The bucket must exist (``devstack.bootstrap`` creates it).
    """
    fmt = config.data.format
    scenarios = scenarios or {}

    reference_uri = config.paths.baseline_reference()
    reference = _to_model_columns(generate_batch(reference_rows, seed, Scenario.clean()), config)
    write_table(reference, reference_uri, guess_format(reference_uri, fmt), store)
    result = SeededModel(reference=reference_uri)

    for index, week in enumerate(sorted(set(weeks))):
        scenario = scenarios.get(week, Scenario())
        full = _full_batch(rows_per_batch, week_seed(seed, week), scenario, reference_rows + index * rows_per_batch)
        dropped = set(scenario.drop_columns) | (set() if config.data.batch_has_target else {TARGET})
        batch = _to_model_columns(full.drop(columns=[c for c in full.columns if c in dropped]), config)
        labels = _to_model_columns(full[[ID_COLUMN, TARGET]], config)
        batch_uri = config.paths.incoming(week) + f"part-000.{fmt}"
        label_uri = labels_uri(config, week)
        write_table(batch, batch_uri, fmt, store)
        write_table(labels, label_uri, fmt, store)
        result.batches[week.isoformat()] = batch_uri
        result.labels[week.isoformat()] = label_uri
        log.info("%s: wrote %d rows for %s (%s) to %s", config.name, len(batch), week, _describe(scenario), batch_uri)
    return result.as_dict()


def register_simulated_version(
    registry: Any, config: ModelConfig, *, seed: int, status: str = "Approved", rows: int = 1200
) -> Any:
    """Fit the configured pipeline on a simulated batch, score it on another, register it (tests, benchmarks)."""
    from include.modelcare.ml.evaluation import evaluate
    from include.modelcare.ml.serialization import dump_model
    from include.modelcare.ml.training import fit

    frame = generate_batch(rows, seed=seed)
    pipeline, _ = fit(config, config.training.params, frame)
    metrics = evaluate(pipeline, generate_batch(rows, seed=seed + 10_000), config)
    features = config.data.features
    columns = [config.data.id_column, *features.all, config.data.target]
    return registry.register(
        model_bytes=dump_model(pipeline),
        reference=frame[columns],  # the training sample, as a registered version keeps it
        metadata={
            "features": {"numerical": features.numerical, "categorical": features.categorical},
            "metrics": {"candidate": metrics, "champion": None},
            "primary_metric": config.primary_metric,
        },
        status=status,
        reasons=[f"simulated (seed {seed})"],
        run_key=f"simulated/seed-{seed}",
        actor="modelcare.simulate",
    )
