"""SageMaker training entry point (scikit-learn framework container); also runs locally.

``training.build_source_tarball`` puts this file at the top of the source directory, next to
``include/``. The container runs ``python sagemaker_entry.py --modelcare_config ... --modelcare_params ...``
with these environment variables (defaults are the container's paths):

- ``SM_CHANNEL_TRAIN`` (``/opt/ml/input/data/train``): the training rows, parquet or CSV files
  (names starting with ``_`` or ``.`` are skipped);
- ``SM_HPS``: the hyperparameters as one JSON object (else they are read from argv):
  ``modelcare_config`` (``training.training_spec``) and ``modelcare_params`` (validated hyperparameters);
- ``SM_MODEL_DIR`` (``/opt/ml/model``): where ``model.skops`` and ``training.json`` are written.

It fits ``training.build_pipeline`` exactly as the local backend does and saves with skops.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger("modelcare.sagemaker_entry")

MODEL_FILE = "model.skops"
SUMMARY_FILE = "training.json"


def _ensure_importable() -> None:
    """Put the directory holding ``include/`` on sys.path (source dir in the container, repo root locally)."""
    here = Path(__file__).resolve().parent
    root = here if (here / "include").is_dir() else here.parents[2]
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))


def _decode(value: Any) -> Any:
    """A hyperparameter as the container hands it over: JSON-decoded when it is JSON text."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def read_hyperparameters(argv: list[str]) -> dict[str, Any]:
    """Hyperparameters from ``SM_HPS`` (JSON object), else from ``--name value`` pairs in argv."""
    raw = os.environ.get("SM_HPS")
    if raw:
        hps = json.loads(raw)
        if not isinstance(hps, dict):
            raise ValueError(f"SM_HPS must be a JSON object, got {type(hps).__name__}")
        return {str(k): _decode(v) for k, v in hps.items()}
    pairs: dict[str, Any] = {}
    args = list(argv)
    while args:
        key = args.pop(0)
        if not key.startswith("--") or not args:
            raise ValueError(f"expected '--name value' arguments, got {key!r}")
        pairs[key[2:]] = _decode(args.pop(0))
    return pairs


def read_training_frame(directory: Path, fmt: str) -> pd.DataFrame:
    """Every data file of the channel directory (sorted, recursive) as one frame."""
    import pandas as pd

    suffixes = (".parquet", ".pq") if fmt == "parquet" else (".csv",)
    files = sorted(
        p
        for p in directory.rglob("*")
        if p.is_file()
        and p.name.lower().endswith(suffixes)
        and not any(part.startswith(("_", ".")) for part in p.relative_to(directory).parts)
    )
    if not files:
        raise FileNotFoundError(f"{directory}: no {fmt} files")
    frames = [pd.read_parquet(p) if fmt == "parquet" else pd.read_csv(p) for p in files]
    log.info("read %d file(s) from %s", len(files), directory)
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    """Train and save; 0 on success, 1 with the reason logged (the container reports it as the failure)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _ensure_importable()
    from include.modelcare.config.schema import ModelConfig
    from include.modelcare.errors import ModelcareError
    from include.modelcare.ml import serialization, training

    try:
        hps = read_hyperparameters(sys.argv[1:] if argv is None else argv)
        if training.CONFIG_HYPERPARAMETER not in hps:
            raise ValueError(f"hyperparameter {training.CONFIG_HYPERPARAMETER} is missing (have: {sorted(hps)})")
        config = ModelConfig.model_validate(hps[training.CONFIG_HYPERPARAMETER])
        params = training.validate_params(config, hps.get(training.PARAMS_HYPERPARAMETER) or {})
        train_dir = Path(os.environ.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train"))
        model_dir = Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
        frame = read_training_frame(train_dir, config.data.format)
        pipeline, seconds = training.fit(config, params, frame)
        data = serialization.dump_model(pipeline)
    except (ModelcareError, ValueError, OSError) as exc:
        log.error("training failed: %s", exc)
        return 1

    import sklearn

    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / MODEL_FILE).write_bytes(data)
    summary = {
        "model": config.name,
        "estimator": config.training.estimator,
        "params": params,
        "rows": len(frame),
        "fit_seconds": round(seconds, 3),
        "model_bytes": len(data),
        "model_sha256": serialization.sha256_hex(data),
        "sklearn_version": sklearn.__version__,
    }
    (model_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2, sort_keys=True))
    log.info(
        "wrote %s (%d bytes) after a %.2f s fit on %d rows", model_dir / MODEL_FILE, len(data), seconds, len(frame)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
