"""Command-line arguments shared by every ``modelcare`` sub-command that works on one model."""

from __future__ import annotations

import argparse

from include.modelcare.config.catalog import get_model_config, load_model_config
from include.modelcare.config.schema import ModelConfig


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """``--config PATH`` or ``--model NAME`` (one is required), and ``--json``."""
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--config", help="path of a model config YAML")
    group.add_argument("--model", help="model name in the catalog ($MODELCARE_MODELS_DIR or include/models)")
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")


def model_config(args: argparse.Namespace) -> ModelConfig:
    """The config the arguments name."""
    return load_model_config(args.config) if args.config else get_model_config(args.model)
