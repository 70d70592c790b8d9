"""The suite's weekly worlds, built on ``dev.simulate`` (its ``Scenario`` knobs and ``generate_batch``).

A ``WorldSpec`` says, for every week of a run, which ``simulate.Scenario`` the batch is drawn from, which
weeks the "retrain at the change" oracle retrains on, where each change starts and whether features or
only labels reveal it. Batches of the same seed and week are the same customers whatever the scenario
(``simulate.week_seed``), so scenarios differ only by what they change.

Late labels (issue 12): ``label_delay`` says how many weeks after its batch a week's labels land; the
``*_late2`` / ``*_late4`` scenarios have labels 2 and 4 weeks late and run the policy twice, without and with
the label-free estimate (``estimate``). Their covariate change is a *sub-population* shift (``NARROW``):
the batch's customers are drawn from the clean population by a rule on their features only, so P(churn | x)
is unchanged (what the estimate assumes) while the model's roc_auc on them falls below the floor -- the
simulator's additive shifts move the metric too little for that.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from include.modelcare.dev.simulate import Scenario, generate_batch, week_seed

if TYPE_CHECKING:
    import pandas as pd

START = dt.date(2026, 1, 5)
"""Date of week 0 (a Monday, the sample model's schedule start)."""

Evidence = Literal["features", "labels"]


@dataclass(frozen=True)
class WorldSpec:
    """One scenario of the suite over ``weeks`` weeks."""

    name: str
    description: str
    weeks: int
    at: Callable[[int], Scenario]
    """The simulator scenario of week ``w`` (negative weeks: the history the first model trained on)."""
    changes: tuple[int, ...] = ()
    """Weeks a change starts (each must be caught within one batch of its evidence)."""
    evidence: Evidence = "features"
    oracle_weeks: tuple[int, ...] = ()
    """Weeks the "retrain at the change" oracle retrains on."""
    faulty_weeks: tuple[int, ...] = ()
    label_delay: int = 0
    """Weeks between a batch and its labels (0: labels with the batch)."""
    estimate: bool = False
    """Whether the replay also runs the policy with the label-free estimate (``replay.ESTIMATE``)."""
    narrow: Callable[[int], bool] | None = None
    """Weeks whose customers come from the ``NARROW`` sub-population (a pure covariate shift)."""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def day(self, week: int) -> dt.date:
        return START + dt.timedelta(weeks=week)

    def batch(self, week: int, seed: int, rows: int) -> pd.DataFrame:
        """The labelled batch of ``week``; ids do not overlap between weeks."""
        seed_ = week_seed(seed, self.day(week))
        if self.narrow is not None and self.narrow(week):
            return narrow_batch(rows, seed_, self.at(week), id_offset=(week + 1000) * rows * DRAW)
        return generate_batch(rows, seed_, self.at(week), id_offset=(week + 1000) * rows)


DRAW = 8
"""Clean rows drawn per row kept by a sub-population batch (``NARROW`` keeps about a third)."""


def narrow_rule(frame: pd.DataFrame) -> pd.Series:
    """``NARROW``: month-to-month customers with under two years' tenure (a campaign's new customers)."""
    return (frame["contract"] == "month_to_month") & (frame["tenure_months"] < 24)


def narrow_batch(rows: int, seed: int, scenario: Scenario, *, id_offset: int = 0) -> pd.DataFrame:
    """``rows`` customers of the ``NARROW`` sub-population: a clean (or ``scenario``) draw of ``DRAW * rows``
    customers, the first ``rows`` the rule keeps. A selection on features only: each kept customer's label is
    the one the simulator drew for them, so P(churn | x) is the clean world's."""
    big = generate_batch(rows * DRAW, seed, scenario, id_offset=id_offset)
    kept = big[narrow_rule(big)].head(rows)
    if len(kept) < rows:
        raise ValueError(f"narrow_batch: only {len(kept)} of {rows * DRAW} drawn customers in the sub-population")
    return kept.reset_index(drop=True)


CLEAN = Scenario()
SHIFT = Scenario(covariate_shift=1.0, categorical_shift=0.5)
"""The abrupt shift: charges and usage move by 1 sd, contract/payment mix halfway to month-to-month/e-check."""
SEASON = Scenario(covariate_shift=0.6, shift_features=("data_usage_gb", "support_calls"), categorical_shift=0.4)
CONCEPT = Scenario(concept_drift=1.0)
FAULTS = (Scenario.faulty(), Scenario(unknown_category_fraction=0.05))


def _stable(weeks: int) -> WorldSpec:
    return WorldSpec("stable", "no change at all", weeks, lambda w: CLEAN)


def _abrupt(weeks: int) -> WorldSpec:
    c = max(3, weeks // 3)
    return WorldSpec(
        "abrupt_shift",
        f"from week {c}: charges and usage +1 sd, contract/payment mix 50% toward month-to-month/e-check",
        weeks,
        lambda w: SHIFT if w >= c else CLEAN,
        changes=(c,),
        oracle_weeks=(c,),
    )


def _gradual(weeks: int) -> WorldSpec:
    start = max(3, weeks // 4)
    end = min(weeks - 2, start + 12)

    def at(w: int) -> Scenario:
        frac = min(1.0, max(0.0, (w - start + 1) / (end - start)))
        return Scenario(covariate_shift=1.2 * frac, categorical_shift=0.5 * frac) if frac else CLEAN

    return WorldSpec(
        "gradual_drift",
        f"weeks {start}-{end}: charges/usage drift linearly to +1.2 sd, contract/payment mix to 50%",
        weeks,
        at,
        changes=(start,),
        oracle_weeks=tuple(range(start, end + 1, 4)),
    )


def _concept(weeks: int) -> WorldSpec:
    c = max(3, weeks // 3)
    return WorldSpec(
        "concept_change",
        f"from week {c}: the label relation changes (tenure a risk, charges protective); features do not move",
        weeks,
        lambda w: CONCEPT if w >= c else CLEAN,
        changes=(c,),
        evidence="labels",
        oracle_weeks=(c,),
    )


def _seasonal(weeks: int) -> WorldSpec:
    period, on, length = 13, 7, 4
    onsets = tuple(w for w in range(weeks) if w % period == on)
    returns = tuple(w + length for w in onsets if w + length < weeks)

    def at(w: int) -> Scenario:
        return SEASON if w >= 0 and on <= w % period < on + length else CLEAN

    return WorldSpec(
        "seasonal",
        f"every {period} weeks, {length} weeks of usage +0.6 sd, more support calls, contract/payment mix 40%",
        weeks,
        at,
        changes=onsets,
        oracle_weeks=tuple(sorted(onsets + returns)),
    )


def _faulty(weeks: int) -> WorldSpec:
    bad = tuple(w for w in range(weeks) if w % 7 == 5)

    def at(w: int) -> Scenario:
        return FAULTS[(w // 7) % 2] if w in bad else CLEAN

    return WorldSpec(
        "faulty_batches",
        f"stable world; weeks {', '.join(map(str, bad))} fail validation (nulls, out-of-range, duplicate ids; "
        "unknown contract values)",
        weeks,
        at,
        faulty_weeks=bad,
    )


def _concept_late(delay: int) -> Callable[[int], WorldSpec]:
    def build(weeks: int) -> WorldSpec:
        c = max(3, weeks // 3)
        return WorldSpec(
            f"concept_late{delay}",
            f"concept change from week {c} (features do not move), labels {delay} weeks late",
            weeks,
            lambda w: CONCEPT if w >= c else CLEAN,
            changes=(c,),
            evidence="labels",
            oracle_weeks=(c + delay,),  # the earliest week a retrain can see labels of the new relation
            label_delay=delay,
            estimate=True,
        )

    return build


def _narrow_late(delay: int) -> Callable[[int], WorldSpec]:
    def build(weeks: int) -> WorldSpec:
        c = max(3, weeks // 3)
        return WorldSpec(
            f"narrow_late{delay}",
            f"from week {c}: only month-to-month customers under 2 years' tenure (P(churn|x) unchanged), "
            f"labels {delay} weeks late",
            weeks,
            lambda w: CLEAN,
            changes=(c,),
            oracle_weeks=(c + delay,),
            label_delay=delay,
            estimate=True,
            narrow=lambda w: w >= c,
        )

    return build


BUILDERS: dict[str, Callable[[int], WorldSpec]] = {
    "stable": _stable,
    "abrupt_shift": _abrupt,
    "gradual_drift": _gradual,
    "concept_change": _concept,
    "seasonal": _seasonal,
    "faulty_batches": _faulty,
    "concept_late2": _concept_late(2),
    "concept_late4": _concept_late(4),
    "narrow_late2": _narrow_late(2),
    "narrow_late4": _narrow_late(4),
}
"""Every scenario of the suite, by name (the CLI's ``--scenarios``)."""


def world(name: str, weeks: int) -> WorldSpec:
    if name not in BUILDERS:
        raise ValueError(f"unknown scenario {name!r} (one of: {', '.join(BUILDERS)})")
    return BUILDERS[name](weeks)
