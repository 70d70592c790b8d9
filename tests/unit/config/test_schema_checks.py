"""Config mistakes that used to pass ``check-config``: each is refused naming the field and the value."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from include.modelcare.config.schema import ModelConfig
from include.modelcare.ml.estimators import METRIC_SPECS, METRICS
from tests.unit.configs import SAMPLE

pytestmark = pytest.mark.unit


def make_config(**sections: dict[str, Any]) -> ModelConfig:
    """The sample config with some keys of some sections replaced."""
    raw = yaml.safe_load(SAMPLE.read_text())
    for section, values in sections.items():
        raw[section] = {**(raw.get(section) or {}), **values}
    return ModelConfig.model_validate(raw)


def _refused(match: str, **overrides: Any) -> None:
    with pytest.raises(ValueError, match=match):
        make_config(**overrides)


@pytest.mark.parametrize("cron", ["every tuesday", "61 * * * *", "0 6 * *", "@fortnightly"])
def test_an_invalid_schedule_is_refused(cron: str) -> None:
    _refused(r"schedules\.monitoring[\s\S]*is not a cron expression", schedules={"monitoring": cron})


@pytest.mark.parametrize("cron", ["0 6 * * 1", "@daily", "@weekly", "@once", "*/15 * * * *", None])
def test_valid_schedules_pass(cron: str | None) -> None:
    assert make_config(schedules={"retraining": cron}).schedules.retraining == cron


def test_a_gate_floor_outside_the_metric_range_is_refused() -> None:
    _refused(r"training\.gate\.floor: 7 is outside roc_auc's range \[0, 1\]", training={"gate": {"floor": 7.0}})


def test_a_performance_floor_is_checked_against_its_own_metric() -> None:
    _refused(
        r"performance\.floor: -0\.5 is outside log_loss's range \[0, inf\]",
        performance={"metric": "log_loss", "floor": -0.5},
    )
    assert make_config(performance={"metric": "log_loss", "floor": 0.7}).performance.floor == 0.7


@pytest.mark.parametrize("prefix", ["../../other", "a/../b", "a//b", "sp ace", "a/./b", "x\\y"])
def test_an_unsafe_prefix_is_refused(prefix: str) -> None:
    _refused("is not a safe key prefix", data={"prefix": prefix})
    _refused("is not a safe key prefix", registry={"prefix": prefix})


@pytest.mark.parametrize("prefix", ["modelcare", "team-a/models", "ml/v2.1", "/leading/and/trailing/", "dt=x"])
def test_plain_prefixes_pass(prefix: str) -> None:
    assert make_config(data={"prefix": prefix}).data.prefix == prefix.strip("/")


def test_every_metric_has_one_spec_and_a_direction() -> None:
    for task, names in METRICS.items():
        for name in names:
            spec = METRIC_SPECS[name]
            assert spec.task == task and spec.low < spec.high
