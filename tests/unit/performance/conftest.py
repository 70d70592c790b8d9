"""A sample-model config whose S3 layout lives in a fresh emulator bucket."""

from __future__ import annotations

from typing import Any

import pytest

from include.modelcare.config.schema import ModelConfig
from tests.unit.configs import make_config


def config_in(bucket: str, **performance: Any) -> ModelConfig:
    config = make_config()
    data = config.data.model_copy(update={"bucket": bucket})
    perf = config.performance.model_copy(update={"metric": "roc_auc", "floor": 0.7, **performance})
    return config.model_copy(update={"data": data, "performance": perf})


@pytest.fixture
def config(fresh_bucket: str) -> ModelConfig:
    return config_in(fresh_bucket)
